// @ts-check
/**
 * Layout of the code (`npm run format` rewrites it, `npm run lint` checks it).
 *
 * Prettier rather than Biome: the type-aware lint is typescript-eslint's (eslint.config.js),
 * which Biome's linter cannot replace, so Biome would only have been the formatter; Prettier
 * is the formatter it imitates, is plain JavaScript (no per-platform binary in node_modules),
 * and is what editors pick up without setup.
 *
 * The options follow the code as it was written before there was a formatter: single quotes,
 * semicolons, trailing commas, and wide lines. 160 columns is about the 99th percentile of the
 * line lengths then (half of the lines were under 40, a few tables and messages over 200), and
 * it changed the fewest lines of the widths tried (100 to 200).
 * Only code is formatted: docs, fixtures and data files keep their own layout.
 *
 * @type {import('prettier').Config}
 */
export default {
  printWidth: 160,
  singleQuote: true,
  trailingComma: 'all',
};
