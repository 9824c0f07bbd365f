/** `backup --name NAME`: a restore point name, unique per domain (timewarp's named checkpoints). Pure. */
import type { ChainView } from '../repository/chains.js';
import { usageError } from '../errors.js';

/** A name is a word that cannot be mistaken for a point id: no `/`, not `latest`. */
export function checkPointName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/.test(name) || name === 'latest') {
    throw usageError(`bad restore point name ${JSON.stringify(name)}: use letters, digits and . _ : @ + - (no '/'), not "latest"`);
  }
  return name;
}

/** Why `name` cannot be given to a new point of this domain (undefined: it can). */
export function nameTakenBy(chains: readonly ChainView[], name: string): string | undefined {
  for (const c of chains) for (const p of c.points) if (p.name === name) return `${c.folder}/${p.checkpoint}`;
  return undefined;
}
