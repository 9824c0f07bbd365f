/**
 * src/report/chart-pool.ts bundled as the CLI ships it, for tests that start its worker threads
 * (the tests themselves run the TypeScript source, which a worker thread cannot load).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll } from 'vitest';

/** Bundle the chart pool into a temporary folder; `remove` deletes it. */
export async function bundleChartPool(): Promise<{ worker: URL; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'vmkeep-chart-pool-'));
  const file = join(dir, 'chart-pool.mjs');
  await build({
    entryPoints: ['src/report/chart-pool.ts'],
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
  return { worker: pathToFileURL(file), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Bundle the chart pool before the file's tests and remove it after; the getter gives its URL. */
export function useBundledChartPool(): () => URL {
  let bundled: { worker: URL; remove: () => void } | undefined;
  beforeAll(async () => {
    bundled = await bundleChartPool();
  }, 60_000);
  afterAll(() => bundled?.remove());
  return () => {
    if (!bundled) throw new Error('the chart pool was not bundled');
    return bundled.worker;
  };
}
