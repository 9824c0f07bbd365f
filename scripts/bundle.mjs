// Bundle the CLI with esbuild: one entry file plus a chunk per lazily loaded command, so a
// start-up reads a handful of files instead of hundreds and loads a command's code (execa, the
// XML parser, zod...) only when that command runs. Type checking stays with tsc (npm run build).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * zod exports every locale's messages (`z.locales`, ~360 kB of the bundle) from a namespace no
 * bundler can prune; vmkeep's messages are English only, and zod's own default (English) is
 * imported apart from that namespace. Every run parsed the other 60-odd locales for nothing.
 */
const englishOnlyZod = {
  name: 'english-only-zod',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core|mini)$/.test(args.resolveDir) ? { path: 'zod-locales-en', namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, () => ({
      contents: "export { default as en } from 'zod/v4/locales/en.js';",
      resolveDir: fileURLToPath(new URL('..', import.meta.url)),
    }));
  },
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { vmkeep: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  // fs-ext is a native addon: it is loaded from node_modules at run time, never bundled.
  external: ['fs-ext'],
  // CommonJS dependencies bundled into ES modules still call require() for Node's built-ins.
  banner: { js: "import { createRequire as vmkeepCreateRequire } from 'node:module'; const require = vmkeepCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  // Node decodes and pre-parses every byte of each file a run loads: without the whitespace and
  // with shorter syntax that is about a quarter less. Names stay as written (no identifier
  // minifying), so stack traces and class names read the same; the source maps map lines back.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [englishOnlyZod],
});
