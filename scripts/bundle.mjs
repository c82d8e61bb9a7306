// Replaces the tsc output of dist/bin/<command>.js with esbuild bundles: a few files to parse
// instead of an ESM graph of some hundred modules (execa alone costs about 100 ms to import), which
// is most of callhome's start-up.
//
// - dist/bin/*.js: one entry per command, code shared between them in dist/bin/chunk-*.js, and each
//   command's module in a chunk loaded only when that command runs (callhome never parses the
//   wizards). Same directory depth as the tsc output, so paths computed from import.meta.url
//   (templates/, package.json) stay the same.
// - dist/stick/knockstick.mjs: the whole CLI in one self-contained file, which usbsetup copies onto
//   the stick (.knockstick/knockstick.mjs) so it runs where knockstick is not installed. It targets
//   Node 18.19, what Debian 12 and Ubuntu 24.04 install (`apt install nodejs`): the stick's whole
//   point is a borrowed machine. execa 9 needs 18.19; @inquirer's util.styleText (Node 20.12) is
//   the only newer API the bundle imports, and is shimmed below. test/lab/node18.test.ts runs it.
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

/**
 * @inquirer (the usbsetup and server init wizards) imports `styleText` from node:util, which Node 18
 * lacks: as a static ESM import that fails the whole file at link time, even for callhome, which
 * never asks a question. Give @inquirer a node:util whose styleText falls back to the same ANSI
 * codes through util.inspect.colors (present in every Node).
 */
const styleTextForNode18 = {
  name: 'styletext-for-node18',
  setup(b) {
    b.onResolve({ filter: /^node:util$/ }, (args) =>
      args.importer.includes('/node_modules/@inquirer/') ? { path: 'node-util-node18', namespace: 'knockstick-node18' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'knockstick-node18' }, () => ({
      loader: 'js',
      contents: `import * as util from 'node:util';
export const stripVTControlCharacters = util.stripVTControlCharacters;
export const styleText = util.styleText ?? ((format, text) =>
  (Array.isArray(format) ? format : [format]).reduceRight((t, name) => {
    const codes = util.inspect.colors[name];
    return codes === undefined ? t : '\x1b[' + codes[0] + 'm' + t + '\x1b[' + codes[1] + 'm';
  }, text));
`,
    }));
  },
};

/**
 * dist/stick/connect.mjs: the CLI with `connect` alone, for ssh's ProxyCommand (the launcher uses it
 * when the stick has it). node compiles the whole of a module before running it: the full stick
 * bundle costs every connection ~20-40 ms of compiling commands the proxy never runs.
 */
const connectOnly = {
  name: 'connect-only',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\.js$/ }, (args) => (args.importer.endsWith('/src/cli.ts') ? { path: 'commands', namespace: 'knockstick-connect-only' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'knockstick-connect-only' }, () => ({
      loader: 'js',
      resolveDir: 'src',
      contents: `export const COMMANDS = [{ name: 'connect', summary: "ssh's ProxyCommand", load: async () => (await import('./connect/index.ts')).connectCommand }];\n`,
    }));
  },
};

const bins = readdirSync('src/bin').filter((f) => f.endsWith('.ts'));
await Promise.all([
  build({ ...common, entryPoints: bins.map((f) => `src/bin/${f}`), outdir: 'dist/bin', splitting: true, chunkNames: 'chunk-[hash]' }),
  build({ ...common, target: 'node18.19', plugins: [styleTextForNode18], entryPoints: ['src/bin/knockstick.ts'], outfile: 'dist/stick/knockstick.mjs' }),
  build({ ...common, target: 'node18.19', plugins: [connectOnly], entryPoints: ['src/bin/knockstick.ts'], outfile: 'dist/stick/connect.mjs' }),
]);
