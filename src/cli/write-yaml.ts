/** `--yaml` output, in a module of its own so that the YAML library loads only for --yaml (start-up time). */
import { stringify } from 'yaml';

/**
 * A plain JSON value as YAML. These options print what js-yaml printed before (fixtures/status/
 * *.yaml): single quotes, 120 columns, no anchors; a string that a YAML 1.1 reader (PyYAML) would
 * take for a bool, a date or a number is quoted.
 */
export function writeYaml(plain: unknown): string {
  return stringify(plain, { lineWidth: 120, singleQuote: true, schema: 'core', compat: 'yaml-1.1', aliasDuplicateObjects: false });
}
