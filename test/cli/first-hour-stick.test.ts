// The first hour of a real user (issue 13): a stick is a directory holding the stick's .ssh/config,
// never a home directory; low-sequence messages name the refill that still works; --host is an ssh
// alias everywhere (panic's address is --hostname, resolved when the script is written); and no
// command prints a sequence or key unless told to with --show-secrets.
// Every run gets HOME set to a temp dir, so "nothing written into ~/.ssh" is checked, not hoped.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { DIST_BIN, makeStick, runBin, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
let home: string;
let empty: string;
const env = (): Record<string, string> => ({ HOME: home });

beforeEach(async () => {
  dir = await tempDir('knockstick-first-hour-');
  home = join(dir.path, 'home');
  empty = join(dir.path, 'empty');
  await mkdir(home);
  await mkdir(empty);
});
afterEach(async () => dir.cleanup());

/** Every entry under `root` (links not followed), with file contents, for "nothing changed" checks. */
async function tree(root: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const info = await lstat(join(d, name));
      if (info.isDirectory()) {
        entries[`${prefix}${name}/`] = '';
        await walk(join(d, name), `${prefix}${name}/`);
      } else entries[`${prefix}${name}`] = info.isSymbolicLink() ? '-> link' : await readFile(join(d, name), 'latin1');
    }
  };
  await walk(root, '');
  return entries;
}

/** A user's own ~/.ssh with a config: exactly what a careless `--stick ~` would take for a stick. */
async function userSsh(): Promise<void> {
  await mkdir(join(home, '.ssh'), { mode: 0o700 });
  await writeFile(join(home, '.ssh', 'config'), 'Host work\n  HostName 192.0.2.1\n', { mode: 0o600 });
  await writeFile(join(home, '.ssh', 'known_hosts'), '', { mode: 0o600 });
}

const seqLines = (count: number, base = 20000): string =>
  Array.from({ length: count }, (_, i) => ` ${[0, 1, 2, 3, 4].map((k) => base + i * 5 + k).join(',')}\n`).join('');

describe('a stick is a directory holding the stick\'s .ssh/config', () => {
  it('`seqgen 10` in an empty directory refuses (exit 6, "is the stick mounted?", the path) and writes nothing anywhere', async () => {
    const server = join(dir.path, 'server', 'ssh');
    const result = await runBin('seqgen', ['10', '--server-file', server], { cwd: empty, env: env() });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`no stick at ${empty}: ${join(empty, '.ssh', 'config')} does not exist`);
    expect(result.stderr).toMatch(/hint: is the stick mounted\?/);
    expect(await readdir(empty)).toEqual([]);
    expect(existsSync(join(dir.path, 'server'))).toBe(false);
    expect(existsSync(join(home, '.ssh'))).toBe(false);
  });

  it('`seqgen 10` with no flag at all refuses before touching the default server file /etc/knockd/ssh', async () => {
    const before = await lstat('/etc/knockd/ssh').then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => 'missing');
    const result = await runBin('seqgen', ['10'], { cwd: empty, env: env() });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/is the stick mounted\?/);
    expect(await lstat('/etc/knockd/ssh').then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => 'missing')).toBe(before);
    expect(await readdir(empty)).toEqual([]);
  });

  it.each([['status'], ['repair']])('`seqgen %s` in an empty directory refuses the same way; the server file is unchanged', async (action) => {
    const server = join(dir.path, 'ssh');
    await writeFile(server, seqLines(5), { mode: 0o600 });
    const result = await runBin('seqgen', [action as string, '--server-file', server], { cwd: empty, env: env() });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`no stick at ${empty}`);
    expect(result.stderr).toMatch(/is the stick mounted\?/);
    expect(await readFile(server, 'utf8')).toBe(seqLines(5));
    expect(await readdir(empty)).toEqual([]);
    expect(existsSync(join(home, '.ssh'))).toBe(false);
  });

  it('`seqgen status --json` gives a script the refusal on stdout too', async () => {
    const result = await runBin('seqgen', ['status', '--json', '--server-file', join(dir.path, 'ssh')], { cwd: empty, env: env() });
    expect(result.exitCode).toBe(6);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { code: 'IO', message: expect.stringContaining(`no stick at ${empty}`) } });
  });

  it('`seqgen repair` run from ~ (whose .ssh/config looks like a stick\'s) never copies the server\'s sequences into ~/.ssh', async () => {
    await userSsh();
    const server = join(dir.path, 'ssh');
    await writeFile(server, seqLines(5), { mode: 0o600 });
    const before = await tree(home);
    const result = await runBin('seqgen', ['repair', '--server-file', server], { cwd: home, env: env() });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${home} is a home directory (${home}), not a stick`);
    expect(result.stderr).toMatch(/is the stick mounted\?/);
    expect(await tree(home)).toEqual(before);
  });

  it('`--stick ~` and a link to ~ are refused by inode, for seqgen, callhome, doctor and panic; ~ is unchanged', async () => {
    await userSsh();
    const link = join(dir.path, 'looks-like-a-stick');
    await symlink(home, link);
    const server = join(dir.path, 'ssh');
    await writeFile(server, seqLines(5), { mode: 0o600 });
    const before = await tree(home);
    for (const stick of [home, link, `${home}/.ssh/..`]) {
      for (const [bin, args] of [
        ['seqgen', ['5', '--server-file', server, '--stick', stick]],
        ['seqgen', ['repair', '--server-file', server, '--stick', stick]],
        ['callhome', ['--stick', stick, '--dry-run']],
        ['knockstick', ['doctor', '--offline', '--knockd-conf', join(dir.path, 'none.conf'), '--server-config', join(dir.path, 'none'), '--stick', stick]],
        ['knockstick', ['panic', 'rotate', '--knockd-conf', join(dir.path, 'none.conf'), '--server-config', join(dir.path, 'none'), '--stick', stick]],
      ] as const) {
        const result = await runBin(bin, args, { cwd: empty, env: env() });
        expect([bin, args, result.exitCode]).toEqual([bin, args, 6]);
        expect(result.stderr).toMatch(/is a home directory .*, not a stick/);
      }
    }
    expect(await tree(home)).toEqual(before);
    expect(await readFile(server, 'utf8')).toBe(seqLines(5));
  });

  it('a stick whose .ssh is the user\'s ~/.ssh (a bind-like second path to the same directory) is refused', async () => {
    await userSsh();
    const stick = join(dir.path, 'stick');
    await mkdir(stick);
    // A hard "second name" for ~/.ssh without a symlink at .ssh itself: .ssh -> a link chain is
    // refused as a link; here the stick's parent is reached through a link, so only the inode tells.
    await symlink(join(home, '.ssh'), join(dir.path, 'ssh-alias'));
    await symlink(join(dir.path, 'ssh-alias'), join(stick, '.ssh'));
    const result = await runBin('seqgen', ['5', '--server-file', join(dir.path, 'ssh'), '--stick', stick], { cwd: empty, env: env() });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/a user's own ~\/\.ssh|is a symbolic link/);
    expect(existsSync(join(home, '.ssh', 'sequences'))).toBe(false);
    expect(existsSync(join(dir.path, 'ssh'))).toBe(false);
  });

  it('callhome, doctor, panic (stick parts) and server init --stick refuse a directory without .ssh/config, naming it', async () => {
    const out = join(dir.path, 'out');
    for (const [bin, args] of [
      ['callhome', ['--stick', empty, '--', 'true']],
      ['knockstick', ['doctor', '--offline', '--knockd-conf', join(dir.path, 'none.conf'), '--server-config', join(dir.path, 'none'), '--stick', empty]],
      ['knockstick', ['panic', 'script', '--stick', empty, '--out', join(dir.path, 'panic')]],
      ['knockstick', ['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--stick', empty]],
    ] as const) {
      const result = await runBin(bin, args, { cwd: dir.path, env: env() });
      expect([bin, result.exitCode]).toEqual([bin, 6]);
      expect(result.stderr).toContain(`no stick at ${empty}: ${join(empty, '.ssh', 'config')} does not exist`);
      expect(result.stderr).toMatch(/hint: is the stick mounted\?/);
    }
    expect(await readdir(empty)).toEqual([]);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(dir.path, 'panic'))).toBe(false);
  });

  it('$KNOCKSTICK_STICK naming a non-stick is refused too; panic needs no stick when flags give everything', async () => {
    const named = await runBin('seqgen', ['status', '--server-file', join(dir.path, 'ssh')], { cwd: dir.path, env: { ...env(), KNOCKSTICK_STICK: empty } });
    expect(named.exitCode).toBe(6);
    expect(named.stderr).toContain(`no stick at ${empty}`);
    const panic = await runBin('knockstick', ['panic', 'script', '--hostname', '198.51.100.7', '--sequence', '41001,41002,41003', '--out', join(dir.path, 'panic')], { cwd: empty, env: env() });
    expect(panic.exitCode).toBe(0);
    expect(await readdir(empty)).toEqual([]);
  });

  it('usbsetup --into ~ and spa keygen --rc-file ~/.ssh/... never write into ~/.ssh', async () => {
    await userSsh();
    await writeFile(join(dir.path, 'key.pass'), 'key passphrase\n', { mode: 0o600 });
    const before = await tree(home);
    const usb = await runBin('usbsetup', ['--yes', '--into', home, '--hostname', '198.51.100.7', '--user', 'me', '--key-passphrase-file', join(dir.path, 'key.pass'), '--sequences', '3'], { cwd: dir.path, env: env() });
    expect(usb.exitCode).toBe(6);
    expect(usb.stderr).toMatch(/is a home directory .*, not a stick/);
    const spa = await runBin('knockstick', ['spa', 'keygen', '--rc-file', join(home, '.ssh', 'fwknoprc'), '-n', 'home', '--server', '198.51.100.7'], { cwd: dir.path, env: env() });
    expect(spa.exitCode).toBe(6);
    expect(spa.stderr).toMatch(/a user's own ~\/\.ssh: knockstick never writes there/);
    expect(await tree(home)).toEqual(before);
  });

  it('a real stick still works from its own directory (the current directory is the default)', async () => {
    const stick = await makeStick(join(dir.path, 'stick'));
    const server = join(dir.path, 'ssh');
    const result = await runBin('seqgen', ['3', '--server-file', server], { cwd: stick, env: env() });
    expect(result.exitCode).toBe(0);
    expect(await readFile(join(stick, '.ssh', 'sequences'), 'utf8')).toBe(await readFile(server, 'utf8'));
    expect(existsSync(join(home, '.ssh'))).toBe(false);
  });
});

describe('low sequences: the refill that still works from where you are', () => {
  it('with one left, callhome exits 8 and says a refill from afar is no longer possible, and what to do instead', async () => {
    const stick = await makeStick(join(dir.path, 'stick'));
    await writeFile(join(stick, '.ssh', 'sequences'), `#20000,20001,20002,20003,20004\n${seqLines(1, 30000)}`, { mode: 0o600 });
    const before = await tree(stick);
    const result = await runBin('callhome', ['--stick', stick, '--', 'true'], { cwd: dir.path, env: env() });
    expect(result.exitCode).toBe(8);
    expect(result.stderr).toMatch(/only the last unused sequence is left/);
    expect(result.stderr).toMatch(/a refill from afar is no longer possible \(`seqgen 50 --remote` spends one sequence to get in, and callhome never knocks the last one\)/);
    expect(result.stderr).toMatch(/refill at the server, with the stick mounted: `seqgen 50 --stick DIR`/);
    expect(await tree(stick)).toEqual(before);
  });

  it('while a few remain, doctor\'s fix for the stick is `seqgen 50 --remote` with the stick named, pasteable', async () => {
    const stick = await makeStick(join(dir.path, 'my stick'));
    await writeFile(join(stick, '.ssh', 'sequences'), seqLines(3), { mode: 0o600 });
    const server = join(dir.path, 'ssh');
    await writeFile(server, seqLines(3), { mode: 0o600 });
    const conf = join(dir.path, 'knockd.conf');
    await writeFile(conf, `[options]\n  logfile = /dev/null\n[ssh]\n  one_time_sequences = ${server}\n  tcpflags = syn\n  start_command = true\n`);
    const result = await runBin('knockstick', ['doctor', '--offline', '--json', '--knockd-conf', conf, '--server-config', join(dir.path, 'none'), '--stick', stick], { cwd: dir.path, env: env() });
    const finding = (JSON.parse(result.stdout) as { findings: Array<{ id: string; fix: string }> }).findings.find((f) => f.id === 'stick:sequences');
    expect(finding?.fix).toContain(`refill from here while you can: \`seqgen 50 --remote --stick '${stick}'\``);
    expect(finding?.fix).toContain('works while at least 2 are left');
  });

  it('callhome --help says when it warns and what it names', async () => {
    const result = await runBin('callhome', ['--help'], { env: env() });
    expect(result.stdout).toMatch(/When fewer than --warn-below \(default 10\) remain, it warns and names\nthe refill that still works from where you are: `seqgen 50 --remote` while at least 2 are left/);
  });
});

describe('--host is an ssh alias everywhere; panic\'s address is --hostname', () => {
  let stick: string;
  beforeEach(async () => {
    stick = await makeStick(join(dir.path, 'stick'), '198.51.100.9');
  });

  it('`panic script --host home` writes the HostName of "home" from the stick\'s ssh config, not the word "home"', async () => {
    const out = join(dir.path, 'panic');
    const result = await runBin('knockstick', ['panic', 'script', '--host', 'home', '--stick', stick, '--sequence', '41001,41002,41003', '--out', out], { cwd: dir.path, env: env() });
    expect(result.exitCode).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text).toContain("HOST='198.51.100.9'");
    expect(text).not.toContain("HOST='home'");
  });

  it('an address given as --host (the old meaning) is refused with a pointer to --hostname; nothing written', async () => {
    const out = join(dir.path, 'panic');
    const result = await runBin('knockstick', ['panic', 'script', '--host', 'home.example.org', '--stick', stick, '--sequence', '41001,41002,41003', '--out', out], { cwd: dir.path, env: env() });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/no HostName for "home.example.org"/);
    expect(result.stderr).toMatch(/hint: --host names an alias of the stick's ssh config, as in every command; to give the address itself, use --hostname home.example.org/);
    expect(existsSync(out)).toBe(false);
  });

  it('ALIAS and --host naming two different aliases is a usage error', async () => {
    const result = await runBin('knockstick', ['panic', 'script', 'office', '--host', 'home', '--stick', stick], { cwd: dir.path, env: env() });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/two aliases given: "office" and --host "home"/);
  });

  /** Runs the CLI in a fresh network namespace with nothing but a down loopback: no name resolves, nothing leaves. */
  const offline = (args: readonly string[]) =>
    execa('unshare', ['--net', process.execPath, join(DIST_BIN, 'knockstick.js'), ...args], { cwd: dir.path, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env() }, extendEnv: false, reject: false, stdin: 'ignore' });
  const isRoot = process.getuid?.() === 0;

  (isRoot ? it : it.skip)('a --hostname that does not resolve is refused when the script is written (exit 6); --no-resolve writes it with a warning', async () => {
    const out = join(dir.path, 'panic');
    const refused = await offline(['panic', 'script', '--hostname', 'home.example.invalid', '--sequence', '41001,41002,41003', '--out', out]);
    expect(refused.exitCode).toBe(6);
    expect(String(refused.stderr)).toMatch(/cannot write the panic script: cannot resolve home.example.invalid to an IPv4 address/);
    expect(String(refused.stderr)).toMatch(/pass --no-resolve to write it anyway \(offline\)/);
    expect(existsSync(out)).toBe(false);
    const written = await offline(['panic', 'script', '--hostname', 'home.example.invalid', '--sequence', '41001,41002,41003', '--out', out, '--no-resolve']);
    expect(written.exitCode).toBe(0);
    expect(String(written.stderr)).toMatch(/warning: --no-resolve: home.example.invalid was not looked up/);
    expect(await readFile(out, 'utf8')).toContain("HOST='home.example.invalid'");
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('an address no shell account elsewhere can reach (loopback, private) is written with a warning', async () => {
    const out = join(dir.path, 'panic');
    const result = await runBin('knockstick', ['panic', 'script', '--hostname', '192.168.1.10', '--sequence', '41001,41002,41003', '--out', out], { cwd: dir.path, env: env() });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/warning: 192.168.1.10 is 192.168.1.10 here, a private address: a shell account elsewhere cannot knock it/);
  });

  it('panic --help documents --host ALIAS, --hostname ADDR and --no-resolve', async () => {
    const help = (await runBin('knockstick', ['panic', '--help'], { env: env() })).stdout;
    expect(help).toMatch(/--host ALIAS +the alias of the stick's ssh config/);
    expect(help).toMatch(/--hostname ADDR +where to send the panic knock/);
    expect(help).toMatch(/--no-resolve/);
  });
});

describe('secrets stay off the screen unless --show-secrets', () => {
  it('callhome --dry-run shows each attempt by line, length and protocol, never a port; --show-secrets adds them', async () => {
    const stick = await makeStick(join(dir.path, 'stick'));
    await writeFile(join(stick, '.ssh', 'sequences'), seqLines(5), { mode: 0o600 });
    const before = await tree(stick);
    const dry = await runBin('callhome', ['--stick', stick, '--dry-run'], { cwd: dir.path, env: env() });
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toMatch(/attempt 1: the next sequence: \d+ clearing hits on its first port, then sequence line 1 \(5 ports, tcp\)/);
    expect(dry.stdout).toMatch(/the knock ports are secret and not shown; --show-secrets shows them/);
    expect(dry.stdout + dry.stderr).not.toMatch(/200\d\d/);
    const shown = await runBin('callhome', ['--stick', stick, '--dry-run', '--show-secrets'], { cwd: dir.path, env: env() });
    expect(shown.stdout).toContain('sequence line 1 (5 ports, tcp): 20000,20001,20002,20003,20004');
    expect(await tree(stick)).toEqual(before);
  });

  it('--show-secrets alone is a usage error: it only changes what --verbose and --dry-run print', async () => {
    const result = await runBin('callhome', ['--show-secrets'], { cwd: dir.path, env: env() });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--show-secrets goes with --verbose or --dry-run/);
  });

  it('usbsetup --into puts the server\'s copy into a new 0600 file, prints its path and the command; a second copy gets its own name', async () => {
    await writeFile(join(dir.path, 'key.pass'), 'key passphrase\n', { mode: 0o600 });
    const run = async (stick: string, extra: readonly string[] = []) => {
      await mkdir(stick);
      return runBin('usbsetup', ['--yes', '--into', stick, '--hostname', '198.51.100.7', '--user', 'me', '--key-passphrase-file', join(dir.path, 'key.pass'), '--sequences', '4', ...extra], { cwd: empty, env: env() });
    };
    const first = await run(join(dir.path, 's1'));
    expect(first.exitCode).toBe(0);
    const sequences = await readFile(join(dir.path, 's1', '.ssh', 'sequences'), 'utf8');
    const saved = join(empty, 'knockd-sequences.home');
    expect(await readFile(saved, 'utf8')).toBe(sequences);
    expect((await stat(saved)).mode & 0o777).toBe(0o600);
    for (const line of sequences.trim().split('\n')) expect(first.stdout + first.stderr).not.toContain(line.trim());
    expect(first.stdout).toContain(`(umask 077 && { [ ! -s /etc/knockd/ssh ] || [ -z "$(tail -c 1 /etc/knockd/ssh)" ] || echo; cat ${saved}; } >> /etc/knockd/ssh) && rm ${saved}`);

    const second = await run(join(dir.path, 's2'));
    expect(second.exitCode).toBe(0);
    expect(await readFile(saved, 'utf8')).toBe(sequences);
    expect(await readFile(`${saved}.1`, 'utf8')).toBe(await readFile(join(dir.path, 's2', '.ssh', 'sequences'), 'utf8'));

    const shown = await run(join(dir.path, 's3'), ['--show-secrets']);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain(`-------- 8< --------\n${await readFile(join(dir.path, 's3', '.ssh', 'sequences'), 'utf8')}-------- 8< --------`);
    expect(existsSync(`${saved}.2`)).toBe(false);
    expect(existsSync(join(home, '.ssh'))).toBe(false);
  }, 60_000);

  it('the appending command keeps knockd\'s file whole: adds a missing final newline first, creates it 0600, removes the copy', async () => {
    const saved = join(empty, 'copy');
    await writeFile(saved, ' 1,2,3\n 4,5,6\n', { mode: 0o600 });
    const { appendCommand } = await import('../../src/usbsetup/index.js');
    const server = join(dir.path, 'knockd', 'ssh');
    await mkdir(join(dir.path, 'knockd'));
    await execa('sh', ['-c', appendCommand(saved, server)]);
    expect(await readFile(server, 'utf8')).toBe(' 1,2,3\n 4,5,6\n');
    expect((await stat(server)).mode & 0o777).toBe(0o600);
    expect(existsSync(saved)).toBe(false);
    await writeFile(saved, ' 7,8,9\n', { mode: 0o600 });
    await writeFile(server, '#1,2,3\n 4,5,6', { mode: 0o600 }); // no final newline
    await execa('sh', ['-c', appendCommand(saved, server)]);
    expect(await readFile(server, 'utf8')).toBe('#1,2,3\n 4,5,6\n 7,8,9\n');
  });
});
