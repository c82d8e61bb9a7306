// Build step after tsc and the bundles: man pages and shell completion, generated from the one
// source the commands already have (their --help text and their declared flags), never written by
// hand.
//
// - dist/man/*.1: Debian's help2man (made for exactly this: runs PROGRAM --help and --version and
//   turns the GNU-style sections into roff). One page for `knockstick`, one per command
//   (knockstick-seqgen.1, ...), and one under each own name (seqgen.1, ...). help2man is a build
//   tool, not a dependency: `scripts/install-deps test` installs it; without it the build says so and
//   makes no man pages.
// - dist/completion/knockstick.bash and dist/completion/_knockstick (zsh): src/core/completion.ts.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { COMMANDS } = await import(join(root, 'dist', 'cli.js'));
const { bashCompletion, completionSpec, zshCompletion, OWN_BINS } = await import(join(root, 'dist', 'core', 'completion.js'));

const commands = [];
for (const entry of COMMANDS) {
  const command = await entry.load();
  commands.push({ name: entry.name, summary: entry.summary, flags: command.flags, help: command.help(`knockstick ${entry.name}`) });
}
const specs = commands.map(completionSpec);
mkdirSync(join(root, 'dist', 'completion'), { recursive: true });
writeFileSync(join(root, 'dist', 'completion', 'knockstick.bash'), bashCompletion(specs));
writeFileSync(join(root, 'dist', 'completion', '_knockstick'), zshCompletion(specs));

const help2man = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v help2man'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
})();
if (help2man === undefined) {
  process.stderr.write('docs: help2man is not installed, so no man pages (scripts/install-deps test installs it)\n');
} else {
  const sourceDate =
    process.env.SOURCE_DATE_EPOCH ??
    (() => {
      try {
        return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        return String(Math.floor(Date.now() / 1000)); // not a git checkout
      }
    })();
  const man = join(root, 'dist', 'man');
  rmSync(man, { recursive: true, force: true });
  mkdirSync(man, { recursive: true });
  // help2man names a page after the program it runs: small wrappers named like each page.
  const wrappers = mkdtempSync(join(tmpdir(), 'knockstick-docs-'));
  try {
    const page = (name, argv, summary) => {
      const wrapper = join(wrappers, name);
      const quoted = argv.map((a) => `'${a}'`).join(' ');
      writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' ${quoted} "$@"\n`);
      chmodSync(wrapper, 0o755);
      execFileSync(help2man, ['--no-info', '--no-discard-stderr', '--section=1', `--source=knockstick ${version}`, `--version-string=${version}`, `--name=${summary}`, `--output=${join(man, `${name}.1`)}`, wrapper], {
        stdio: ['ignore', 'inherit', 'inherit'],
        // The page's date: the last commit's, so the same source gives the same pages.
        env: { ...process.env, LC_ALL: 'C.UTF-8', SOURCE_DATE_EPOCH: sourceDate },
      });
    };
    const bin = (name) => join(root, 'dist', 'bin', `${name}.js`);
    page('knockstick', [bin('knockstick')], 'reach your own machine over SSH when its firewall shows the world nothing');
    for (const c of commands) page(`knockstick-${c.name}`, [bin('knockstick'), c.name], c.summary);
    for (const name of OWN_BINS) page(name, [bin(name)], commands.find((c) => c.name === name).summary);
  } finally {
    rmSync(wrappers, { recursive: true, force: true });
  }
}
