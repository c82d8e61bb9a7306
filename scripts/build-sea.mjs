// Builds dist/stick/knockstick-linux-x64: the whole CLI as a Node single executable application
// (this machine's node binary with the CLI injected), for sticks that must work where no node is
// installed (`usbsetup --executable`). About 100 MB; not part of the default build.
//
// Node 20's SEA runs one CommonJS script: esbuild bundles the CLI as CJS from a small entry (no
// top-level await), `import.meta.url` becomes the executable's own file URL, then
// `node --experimental-sea-config` makes the blob and postject injects it into a copy of node.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`build-sea: builds knockstick-linux-x64 only, this is ${process.platform}-${process.arch}`);
  process.exit(1);
}
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
mkdirSync('dist/sea', { recursive: true });
mkdirSync('dist/stick', { recursive: true });
await build({
  stdin: {
    contents: "import { main } from './src/cli.ts';\nmain().catch((e) => { console.error(e); process.exitCode = 1; });\n",
    resolveDir: '.',
    loader: 'ts',
    sourcefile: 'sea-entry.ts',
  },
  outfile: 'dist/sea/knockstick.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
  define: { __KNOCKSTICK_VERSION__: JSON.stringify(version), 'import.meta.url': '__ksFileUrl' },
  banner: { js: "const __ksFileUrl = require('node:url').pathToFileURL(__filename).href;" },
});
writeFileSync(
  'dist/sea/sea-config.json',
  JSON.stringify({ main: 'dist/sea/knockstick.cjs', output: 'dist/sea/knockstick.blob', disableExperimentalSEAWarning: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', 'dist/sea/sea-config.json'], { stdio: ['ignore', 'ignore', 'inherit'] });
const out = 'dist/stick/knockstick-linux-x64';
rmSync(out, { force: true });
copyFileSync(process.execPath, out);
chmodSync(out, 0o755);
const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
// postject warns about ELF note sections of node's binary ("Can't find string offset"); harmless,
// so its output is shown only when it fails.
try {
  execFileSync(process.execPath, [postject, out, 'NODE_SEA_BLOB', 'dist/sea/knockstick.blob', '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'pipe' });
} catch (error) {
  console.error(String(error.stderr ?? error.message));
  process.exit(1);
}
console.log(`build-sea: ${out}`);
