// Replaces the tsc output of dist/bin/<command>.js with esbuild bundles: a few files to parse
// instead of an ESM graph of some hundred modules (execa alone costs about 100 ms to import), which
// is most of callhome's start-up.
//
// - dist/bin/*.js: one entry per command, code shared between them in dist/bin/chunk-*.js, and each
//   command's module in a chunk loaded only when that command runs (callhome never parses the
//   wizards). Same directory depth as the tsc output, so paths computed from import.meta.url
//   (templates/, package.json) stay the same.
// - dist/stick/knockstick.mjs: the whole CLI in one self-contained file, which usbsetup copies onto
//   the stick (.knockstick/knockstick.mjs) so it runs where knockstick is not installed.
import { build } from 'esbuild';
import { readFileSync, readdirSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  allowOverwrite: true,
  legalComments: 'none',
  // The stick's copy travels alone: the bundles carry their version.
  define: { __KNOCKSTICK_VERSION__: JSON.stringify(version) },
  logLevel: 'warning',
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __ksCreateRequire } from 'node:module'; const require = __ksCreateRequire(import.meta.url);" },
};

const bins = readdirSync('src/bin').filter((f) => f.endsWith('.ts'));
await Promise.all([
  build({ ...common, entryPoints: bins.map((f) => `src/bin/${f}`), outdir: 'dist/bin', splitting: true, chunkNames: 'chunk-[hash]' }),
  build({ ...common, entryPoints: ['src/bin/knockstick.ts'], outfile: 'dist/stick/knockstick.mjs' }),
]);
