// Replaces each dist/bin/<command>.js (tsc output) with a single-file esbuild bundle of the same
// entry: one file to parse instead of an ESM graph of some hundred modules (execa alone costs about
// 100 ms to import), which is most of callhome's start-up. Same place, so paths computed from
// import.meta.url (templates/, package.json) stay the same.
import { build } from 'esbuild';
import { readFileSync, readdirSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const bins = readdirSync('src/bin').filter((f) => f.endsWith('.ts'));
await Promise.all(
  bins.map((file) =>
    build({
      entryPoints: [`src/bin/${file}`],
      outfile: `dist/bin/${file.replace(/\.ts$/, '.js')}`,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      allowOverwrite: true,
      legalComments: 'none',
      // The bundle also travels alone (the stick's .knockstick/knockstick.mjs): it carries its version.
      define: { __KNOCKSTICK_VERSION__: JSON.stringify(version) },
      logLevel: 'warning',
      // Some dependencies are CommonJS and call require(); give the ESM bundle one.
      banner: { js: "import { createRequire as __ksCreateRequire } from 'node:module'; const require = __ksCreateRequire(import.meta.url);" },
    }),
  ),
);
