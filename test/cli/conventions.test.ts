// What a new user meets before any knock: -v/--version, `help COMMAND`, help texts that list every
// flag and cite nothing the user cannot look up, the licence, what `npm pack` ships and what
// `npm install -g` of it puts on PATH, man pages and shell completion generated from the commands.

import { describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, knockstick, runBin, tempDir } from '../helpers/cli.js';
import { COMMANDS } from '../../src/cli.js';

jest.setTimeout(120_000);

const NAMES = COMMANDS.map((c) => c.name);
const OWN_BINS = ['seqgen', 'callhome', 'usbsetup', 'secureon', 'secureoff'];
const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; bin: Record<string, string>; man: string[] };

describe('-v, -V, --version', () => {
  it.each(['-v', '-V', '--version'])('knockstick %s prints the version', async (flag) => {
    const result = await knockstick([flag]);
    expect({ exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({ exitCode: 0, stdout: pkg.version, stderr: '' });
  });

  it.each(NAMES)('knockstick %s -V and --version print the version', async (name) => {
    for (const flag of ['-V', '--version']) expect((await knockstick([name, flag])).stdout).toBe(pkg.version);
  });

  it.each(OWN_BINS)('%s --version, under its own name', async (bin) => {
    expect((await runBin(bin, ['--version'])).stdout).toBe(pkg.version);
  });

  it('-v is the version where the command gives it no meaning, --verbose in callhome and spa (as in ssh)', async () => {
    expect((await knockstick(['seqgen', '-v'])).stdout).toBe(pkg.version);
    expect((await runBin('secureon', ['-v'])).stdout).toBe(pkg.version);
    const spa = await knockstick(['spa', '-v']);
    expect(spa.stdout).not.toBe(pkg.version);
    expect(spa.stderr).toMatch(/missing subcommand/);
  });

  it.each(NAMES)('knockstick %s --help lists --version', async (name) => {
    const help = (await knockstick([name, '--help'])).stdout;
    expect(help).toMatch(/^ {2}(-v, )?-V, --version +print knockstick's version$/m);
  });

  it('the top-level help lists -v, -V, --version and `help COMMAND`', async () => {
    const help = (await knockstick(['--help'])).stdout;
    expect(help).toMatch(/-v, -V, --version/);
    expect(help).toMatch(/knockstick help COMMAND/);
  });
});

describe('knockstick help COMMAND', () => {
  it.each(NAMES)('help %s is %s --help', async (name) => {
    const viaHelp = await knockstick(['help', name]);
    expect(viaHelp.exitCode).toBe(0);
    expect(viaHelp.stdout).toBe((await knockstick([name, '--help'])).stdout);
    expect(viaHelp.stdout).toMatch(new RegExp(`knockstick ${name}`));
  });

  it('help with an unknown command names it (exit 2)', async () => {
    const result = await knockstick(['help', 'sekgen']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/unknown command "sekgen"/);
  });
});

describe('help texts', () => {
  // One after another: jest's ESM loader fails on concurrent first imports of the same module.
  const helps = async () => {
    const all = [];
    for (const c of COMMANDS) {
      const command = await c.load();
      all.push({ name: c.name, command, help: command.help(`knockstick ${c.name}`) });
    }
    return all;
  };

  it('list exactly the flags each command accepts', async () => {
    for (const { name, command, help } of await helps()) {
      const declared = Object.entries(command.flags).flatMap(([long, f]) => [`--${long}`, ...(f.short === undefined ? [] : [`-${f.short}`])]);
      // Option lines: two spaces, then flags (and their placeholders) up to two spaces or the end.
      const listed = new Set<string>();
      for (const line of help.matchAll(/^ {2}(-[^\n]*?)(?: {2,}|$)/gm)) for (const flag of line[1]?.matchAll(/(?:^|[ ,])(--?[a-zA-Z0-9][\w-]*)/g) ?? []) listed.add(flag[1] ?? '');
      for (const flag of ['-V', '--version', '-v']) listed.delete(flag);
      const missing = declared.filter((f) => !listed.has(f) && f !== '-v');
      const unknown = [...listed].filter((f) => !declared.includes(f));
      expect({ name, missing, unknown }).toEqual({ name, missing: [], unknown: [] });
    }
  });

  it('secureoff refuses the flags only secureon uses, instead of ignoring them (exit 2)', async () => {
    const result = await runBin('secureoff', ['--remember']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--remember'/);
  });

  it('use one --wait default for the shared lock, 30 s, in callhome and seqgen', async () => {
    for (const name of ['callhome', 'seqgen']) {
      expect((await knockstick([name, '--help'])).stdout).toMatch(/--wait SECONDS +how long to wait for another (callhome or seqgen|seqgen or callhome) \(default 30\b/);
    }
  });

  it('cite nothing the user cannot look up: no "seed", "Appendix" or "Paranoid Security"', async () => {
    const texts = [...(await helps()).map((h) => ({ where: `${h.name} --help`, text: h.help })), { where: 'knockstick --help', text: (await knockstick(['--help'])).stdout }];
    for (const name of await readdir(join(ROOT, 'templates'))) texts.push({ where: `templates/${name}`, text: await readFile(join(ROOT, 'templates', name), 'utf8') });
    const cited = texts.filter((t) => /\bseed\b|Appendix|Paranoid Security/i.test(t.text)).map((t) => t.where);
    expect(cited).toEqual([]);
  });
});

describe('the package', () => {
  it('has an MIT LICENSE, as package.json says, from "the knockstick authors"', async () => {
    const license = await readFile(join(ROOT, 'LICENSE'), 'utf8');
    expect(pkg.license).toBe('MIT');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} the knockstick authors\n/);
    expect(license).toMatch(/THE SOFTWARE IS PROVIDED "AS IS"/);
  });

  it('npm pack ships what users run and no test code, lab or build scripts', async () => {
    const result = await execa('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = (JSON.parse(String(result.stdout)) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
    const shipped = files.filter((f) => /^(test|src|scripts|bench|\.ci)\/|^dist\/(lab|core|cli)|\.test\.|(^|\/)jest\.config|tsconfig|\.tsbuildinfo$|\.ts$/.test(f) && !f.endsWith('.d.ts'));
    expect(shipped).toEqual([]);
    for (const bin of Object.values(pkg.bin)) expect(files).toContain(bin);
    for (const needed of ['LICENSE', 'README.md', 'dist/stick/knockstick.mjs', 'templates/stick-launcher.sh', 'dist/completion/knockstick.bash', 'dist/completion/_knockstick', ...pkg.man.map((m) => m.replace(/^\.\//, ''))]) {
      expect(files).toContain(needed);
    }
  });

  it('npm install -g of the packed tarball works offline and puts the commands and man pages on PATH', async () => {
    const tmp = await tempDir();
    try {
      await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp.path], { cwd: ROOT });
      const prefix = join(tmp.path, 'prefix');
      await execa('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', prefix, join(tmp.path, `knockstick-${pkg.version}.tgz`)], { cwd: tmp.path });
      expect((await readdir(join(prefix, 'bin'))).sort()).toEqual(Object.keys(pkg.bin).sort());
      expect((await readdir(join(prefix, 'share', 'man', 'man1'))).sort()).toEqual(pkg.man.map((m) => m.replace(/^\.\/dist\/man\//, '')).sort());
      const env = { PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
      expect(String((await execa('knockstick', ['-v'], { env })).stdout)).toBe(pkg.version);
      // usbsetup from the installed package finds its templates and the stick's bundle.
      const stick = join(tmp.path, 'stick');
      await mkdir(stick);
      await writeFile(join(tmp.path, 'key.pass'), 'installed package test', { mode: 0o600 });
      const setup = await execa('usbsetup', ['--yes', '--into', stick, '--hostname', 'h.example', '--user', 'u', '--key-passphrase-file', join(tmp.path, 'key.pass'), '--sequences', '3', '--server-file', join(tmp.path, 'server-seq')], { env, reject: false });
      expect({ exitCode: setup.exitCode, stderr: String(setup.stderr) }).toEqual({ exitCode: 0, stderr: expect.any(String) });
      expect(String((await execa('sh', [join(stick, 'knockstick'), '--version'])).stdout)).toBe(pkg.version);
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('man pages, made by help2man from the help texts', () => {
  const page = (name: string) => readFile(join(ROOT, 'dist', 'man', `${name}.1`), 'utf8');
  const roff = (flag: string) => flag.replace(/-/g, '\\-');

  it.each(NAMES)('knockstick-%s.1 documents every flag of the command', async (name) => {
    const text = await page(`knockstick-${name}`);
    expect(text).toMatch(/generated by help2man/);
    expect(text).toMatch(new RegExp(`^\\.TH KNOCKSTICK-${name.toUpperCase()} "1"`, 'm'));
    const command = await COMMANDS.find((c) => c.name === name)!.load();
    for (const long of Object.keys(command.flags)) expect({ name, long, found: text.includes(roff(`--${long}`)) }).toEqual({ name, long, found: true });
    expect(text).toContain(roff('--version'));
  });

  it.each(['knockstick', ...OWN_BINS])('%s.1 exists (man %s)', async (name) => {
    expect(await page(name)).toMatch(new RegExp(`^\\.TH ${name.toUpperCase()} "1"`, 'm'));
  });
});

describe('shell completion, generated from the flags and help texts', () => {
  const completionDir = join(ROOT, 'dist', 'completion');

  /** What bash's completion function offers for the words (the last one being completed). */
  async function bash(words: string[], cwd = ROOT): Promise<string[]> {
    const script = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _knockstick; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = await execa('bash', ['--norc', '--noprofile', '-c', script, 'bash', join(completionDir, 'knockstick.bash'), ...words], { cwd });
    return String(result.stdout).split('\n').filter((l) => l !== '').sort();
  }

  /** What a real interactive zsh (compinit, in a pseudo-terminal) offers for the line. */
  async function zsh(line: string): Promise<string[]> {
    const result = await execa('zsh', ['-f', join(ROOT, 'test', 'helpers', 'zsh-complete.zsh'), line, completionDir], { timeout: 30_000 });
    return String(result.stdout).split('\n').filter((l) => l !== '').sort();
  }

  it('bash: commands, subcommands, flags, flag values, directories; nothing after "--"', async () => {
    expect(await bash(['knockstick', 'se'])).toEqual(['secureoff', 'secureon', 'seqgen', 'server']);
    expect(await bash(['knockstick', 'help', 'do'])).toEqual(['doctor']);
    expect(await bash(['knockstick', 'seqgen', ''])).toEqual(['repair', 'status']);
    expect(await bash(['seqgen', '--st'])).toEqual(['--stick']);
    expect(await bash(['knockstick', 'callhome', '--method', ''])).toEqual(['knock', 'spa']);
    expect(await bash(['callhome', '--', '--st'])).toEqual([]);
    expect(await bash(['knockstick', 'doctor', '--stick', 'tem'])).toEqual(['templates']);
    for (const name of NAMES) {
      const offered = await bash(['knockstick', name, '-']);
      const command = await COMMANDS.find((c) => c.name === name)!.load();
      for (const long of Object.keys(command.flags)) expect(offered).toContain(`--${long}`);
      expect(offered).toContain('--version');
    }
  });

  it('bash: the completion is registered for knockstick and every command installed under its own name', async () => {
    const result = await execa('bash', ['--norc', '--noprofile', '-c', 'source "$1"; complete -p', 'bash', join(completionDir, 'knockstick.bash')]);
    for (const bin of Object.keys(pkg.bin)) expect(String(result.stdout)).toMatch(new RegExp(`-F _knockstick .*\\b${bin}\\b`));
  });

  it.each([
    ['knockstick se', ['secureoff', 'secureon', 'seqgen', 'server']],
    ['seqgen ', ['repair', 'status']],
    ['knockstick seqgen --st', ['--stick']],
    ['callhome --method ', ['knock', 'spa']],
    ['knockstick help do', ['doctor']],
  ])('zsh: %j offers %j', async (line, expected) => {
    expect(await zsh(line)).toEqual(expected);
  });
});

it('the built completion and man pages exist (npm run build made them)', () => {
  expect(existsSync(join(ROOT, 'dist', 'completion', 'knockstick.bash'))).toBe(true);
  expect(existsSync(join(ROOT, 'dist', 'man', 'knockstick.1'))).toBe(true);
});
