// Hostile files (issue 12): no write follows a link it did not expect, no read waits on a FIFO.
// Each planted link points at a victim outside the directory being written: after the refusal the
// victim has the same bytes and mode, the command exited with a clear message naming the link, and
// nothing was written where the command was pointed. FIFO cases run the CLI with a kill timer and
// check it ended by itself: without the fix they hang until the timer fires.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { chmod, lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DIST_BIN, knockstick, makeStick, runBin, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
let n = 0;
/** A fresh subdirectory per test, so no test sees another's plants. */
async function fresh(name: string): Promise<string> {
  const path = join(dir.path, `${++n}-${name}`);
  await mkdir(path);
  return path;
}

const VICTIM_TEXT = 'precious, not to be touched\n';
/** A victim file outside the target directory, mode 0644, and a snapshot to compare with later. */
async function victimFile(base: string, name = 'victim'): Promise<{ path: string; unchanged: () => Promise<void> }> {
  const path = join(base, name);
  await writeFile(path, VICTIM_TEXT, { mode: 0o644 });
  return {
    path,
    async unchanged() {
      expect(await readFile(path, 'utf8')).toBe(VICTIM_TEXT);
      expect((await stat(path)).mode & 0o777).toBe(0o644);
    },
  };
}

/** A victim directory (like ~/.ssh) holding one file; it must keep exactly that. */
async function victimDir(base: string): Promise<{ path: string; unchanged: () => Promise<void> }> {
  const path = join(base, 'victim-dir');
  await mkdir(path, { mode: 0o755 });
  await writeFile(join(path, 'authorized_keys'), VICTIM_TEXT, { mode: 0o644 });
  return {
    path,
    async unchanged() {
      expect(await readdir(path)).toEqual(['authorized_keys']);
      expect(await readFile(join(path, 'authorized_keys'), 'utf8')).toBe(VICTIM_TEXT);
      expect((await stat(path)).mode & 0o777).toBe(0o755);
    },
  };
}

/** Every entry under `root` (links not followed), for "nothing was written" checks. */
async function tree(root: string): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const info = await lstat(join(d, name));
      entries.push(`${prefix}${name}${info.isSymbolicLink() ? ` -> ${await readlink(join(d, name))}` : info.isDirectory() ? '/' : ''}`);
      if (info.isDirectory() && !info.isSymbolicLink()) await walk(join(d, name), `${prefix}${name}/`);
    }
  };
  await walk(root, '');
  return entries;
}

/**
 * Runs a bin with a kill timer far above what the command needs. `killed` is true only if the
 * timer had to end it: the hang the FIFO fixes are about.
 */
async function runWithKillTimer(bin: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ exitCode: number; stderr: string; stdout: string; killed: boolean }> {
  const result = await execa(process.execPath, [join(DIST_BIN, `${bin}.js`), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 20_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), killed: result.timedOut };
}

beforeAll(async () => {
  dir = await tempDir('knockstick-hostile-files-');
});
afterAll(async () => {
  await dir.cleanup();
});

describe('usbsetup --into DIR with links planted in DIR', () => {
  let keyPass: string;
  beforeAll(async () => {
    keyPass = join(dir.path, 'key.pass');
    await writeFile(keyPass, 'key passphrase two\n', { mode: 0o600 });
  });
  const usbsetup = (stick: string, extra: readonly string[] = []) =>
    runBin('usbsetup', ['--yes', '--into', stick, '--hostname', '127.0.0.1', '--user', 'root', '--key-passphrase-file', keyPass, '--sequences', '3', ...extra], { cwd: dirname(stick) });

  const fileLinks: ReadonlyArray<[string, string]> = [
    ['.knockstick/knockstick.mjs', 'the bundle'],
    ['.ssh/id_ed25519.pub', "ssh-keygen's public key"],
    ['.ssh/id_ed25519', "ssh-keygen's private key"],
    ['callhome', 'the launcher'],
    ['.ssh/config', 'the ssh config'],
    ['.ssh/sequences', 'the sequence file'],
  ];
  it.each(fileLinks)('a symlinked %s (%s) is refused before anything is written; the victim is untouched', async (rel) => {
    const base = await fresh('usb-file');
    const stick = join(base, 'stick');
    await mkdir(join(stick, rel, '..'), { recursive: true });
    const victim = await victimFile(base);
    await symlink(victim.path, join(stick, rel));
    const before = await tree(stick);
    const result = await usbsetup(stick);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${join(stick, rel)} is a symbolic link (to ${victim.path})`);
    await victim.unchanged();
    expect(await tree(stick)).toEqual(before);
  }, 60_000);

  it.each(['.knockstick', '.ssh'])('a symlinked %s directory (to a dir like ~/.ssh) is refused; nothing lands in it', async (rel) => {
    const base = await fresh('usb-dir');
    const stick = join(base, 'stick');
    await mkdir(stick);
    const victim = await victimDir(base);
    await symlink(victim.path, join(stick, rel));
    const result = await usbsetup(stick);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${join(stick, rel)} is a symbolic link (to ${victim.path})`);
    await victim.unchanged();
    expect(await tree(stick)).toEqual([`${rel} -> ${victim.path}`]);
  }, 60_000);

  it('a symlinked --server-file is refused before the stick is written, and --follow-symlink appends through it', async () => {
    const base = await fresh('usb-server');
    const stick = join(base, 'stick');
    await mkdir(stick);
    const victim = await victimFile(base, 'knockd-ssh');
    const link = join(base, 'ssh');
    await symlink(victim.path, link);
    const refused = await usbsetup(stick, ['--server-file', link]);
    expect(refused.exitCode).toBe(6);
    expect(refused.stderr).toContain(`${link} is a symbolic link (to ${victim.path})`);
    expect(refused.stderr).toMatch(/knockd follows this link.*--follow-symlink/);
    await victim.unchanged();
    expect(await tree(stick)).toEqual([]);

    // The victim is not a valid sequence file: make it one knockd could own, then follow the link.
    await writeFile(victim.path, '');
    await chmod(victim.path, 0o600);
    const followed = await usbsetup(stick, ['--server-file', link, '--follow-symlink']);
    expect(followed.stderr).toBe('');
    expect(followed.exitCode).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(victim.path, 'utf8')).toBe(await readFile(join(stick, '.ssh/sequences'), 'utf8'));
  }, 60_000);

  it('a FIFO as --server-file is refused at once, before the stick is written', async () => {
    const base = await fresh('usb-server-fifo');
    const stick = join(base, 'stick');
    await mkdir(stick);
    const fifo = join(base, 'ssh');
    await execa('mkfifo', ['-m', '600', fifo]);
    const result = await runWithKillTimer('usbsetup', ['--yes', '--into', stick, '--hostname', '127.0.0.1', '--user', 'root', '--key-passphrase-file', keyPass, '--sequences', '3', '--server-file', fifo]);
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${fifo} is a FIFO (named pipe), not a regular file`);
    expect(await tree(stick)).toEqual([]);
  }, 30_000);

  it('--follow-symlink without --server-file is a usage error', async () => {
    const result = await usbsetup(await fresh('usb-follow-alone'), ['--follow-symlink']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--follow-symlink goes with --server-file/);
  });

  it('a key passphrase given through a FIFO still works (it never touches a disk)', async () => {
    const base = await fresh('usb-fifo-pass');
    const stick = join(base, 'stick');
    await mkdir(stick);
    const fifo = join(base, 'pass.fifo');
    await execa('mkfifo', ['-m', '600', fifo]);
    // The writer blocks until usbsetup opens the FIFO for reading, then closes it: EOF.
    const writer = execa('sh', ['-c', 'printf "%s\\n" "fifo passphrase" > "$1"', 'sh', fifo]);
    const result = await runBin('usbsetup', ['--yes', '--into', stick, '--hostname', '127.0.0.1', '--user', 'root', '--key-passphrase-file', fifo, '--sequences', '3'], { cwd: base });
    await writer;
    expect(result.exitCode).toBe(0);
    const ok = await execa('ssh-keygen', ['-y', '-P', 'fifo passphrase', '-f', join(stick, '.ssh/id_ed25519')], { reject: false });
    expect(ok.exitCode).toBe(0);
    // ssh-keygen wrote into a private directory on the stick, removed afterwards.
    expect((await readdir(join(stick, '.ssh'))).filter((e) => e.startsWith('.keygen-'))).toEqual([]);
  }, 60_000);
});

describe("seqgen and knockd's one-time file", () => {
  it('a symlinked --server-file is refused (exit 6, knockd follows it: say so) and nothing is written on either side', async () => {
    const base = await fresh('seqgen-link');
    const stick = join(base, 'stick');
    await makeStick(stick);
    const victim = await victimFile(base);
    const link = join(base, 'ssh');
    await symlink(victim.path, link);
    const result = await knockstick(['seqgen', '5', '--server-file', link, '--stick', stick]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${link} is a symbolic link (to ${victim.path}): refusing to write through it; nothing was written`);
    expect(result.stderr).toMatch(/hint: knockd follows this link when it reads its one-time file; if you made the link yourself, pass --follow-symlink/);
    await victim.unchanged();
    expect(await tree(stick)).toEqual(['.ssh/', '.ssh/config']);
  });

  it('a dangling symlink as --server-file is refused too: no file is created at its target', async () => {
    const base = await fresh('seqgen-dangling');
    const stick = join(base, 'stick');
    await makeStick(stick);
    const link = join(base, 'ssh');
    await symlink(join(base, 'would-be-created'), link);
    const result = await knockstick(['seqgen', '5', '--server-file', link, '--stick', stick]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${link} is a symbolic link`);
    expect(await readdir(base)).toEqual(['ssh', 'stick']);
  });

  it('--follow-symlink appends through a link the admin made; the link stays a link', async () => {
    const base = await fresh('seqgen-follow');
    const stick = join(base, 'stick');
    await makeStick(stick);
    const real = join(base, 'real-ssh');
    await writeFile(real, '', { mode: 0o600 });
    const link = join(base, 'ssh');
    await symlink(real, link);
    const result = await knockstick(['seqgen', '5', '--server-file', link, '--stick', stick, '--follow-symlink']);
    expect(result.exitCode).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    const text = await readFile(real, 'utf8');
    expect(text.split('\n').filter((l) => /^ \d/.test(l))).toHaveLength(5);
    expect(await readFile(join(stick, '.ssh/sequences'), 'utf8')).toBe(text);
    // repair takes the flag too; status has nothing to write and does not need it.
    expect((await knockstick(['seqgen', 'repair', '--server-file', link, '--stick', stick, '--follow-symlink'])).exitCode).toBe(0);
    expect((await knockstick(['seqgen', 'status', '--server-file', link, '--stick', stick])).exitCode).toBe(0);
    expect((await knockstick(['seqgen', 'status', '--server-file', link, '--stick', stick, '--follow-symlink'])).exitCode).toBe(2);
  });

  it("seqgen repair refuses a symlinked server file it would append to", async () => {
    const base = await fresh('repair-link');
    const stick = join(base, 'stick');
    await makeStick(stick);
    await writeFile(join(stick, '.ssh/sequences'), ' 1111,2222,3333\n 4444,5555,6666\n', { mode: 0o600 });
    const victim = await victimFile(base);
    await writeFile(victim.path, '', { mode: 0o644 });
    const link = join(base, 'ssh');
    await symlink(victim.path, link);
    const result = await knockstick(['seqgen', 'repair', '--server-file', link, '--stick', stick]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${link} is a symbolic link (to ${victim.path})`);
    expect(await readFile(victim.path, 'utf8')).toBe('');
  });

  it("a stick whose .ssh is a symlink (to a dir like ~/.ssh) is refused; nothing lands there", async () => {
    const base = await fresh('seqgen-sshdir');
    const stick = join(base, 'stick');
    await mkdir(stick);
    const victim = await victimDir(base);
    await symlink(victim.path, join(stick, '.ssh'));
    const server = join(base, 'ssh');
    const result = await knockstick(['seqgen', '5', '--server-file', server, '--stick', stick]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${join(stick, '.ssh')} is a symbolic link (to ${victim.path})`);
    await victim.unchanged();
    expect(await readdir(base)).not.toContain('ssh');
  });

  it("a stick whose sequence file is a symlink is refused, not replaced", async () => {
    const base = await fresh('seqgen-stickfile');
    const stick = join(base, 'stick');
    await makeStick(stick);
    const victim = await victimFile(base);
    await writeFile(victim.path, '', { mode: 0o644 });
    await symlink(victim.path, join(stick, '.ssh/sequences'));
    const result = await knockstick(['seqgen', '5', '--server-file', join(base, 'ssh'), '--stick', stick]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${join(stick, '.ssh/sequences')} is a symbolic link (to ${victim.path})`);
    expect((await lstat(join(stick, '.ssh/sequences'))).isSymbolicLink()).toBe(true);
    expect(await readdir(base)).not.toContain('ssh');
  });

  it.each([['5'], ['status'], ['repair']])('a FIFO as --server-file (seqgen %s) is refused at once, not waited on', async (action) => {
    const base = await fresh('seqgen-fifo');
    const stick = join(base, 'stick');
    await makeStick(stick);
    const fifo = join(base, 'ssh');
    await execa('mkfifo', ['-m', '600', fifo]);
    const result = await runWithKillTimer('knockstick', ['seqgen', action as string, '--server-file', fifo, '--stick', stick]);
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${fifo} is a FIFO (named pipe), not a regular file`);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  }, 30_000);
});

describe('doctor, server init, spa keygen', () => {
  it("doctor with knockd.conf's one_time_sequences naming a FIFO ends at once with a clear error", async () => {
    const base = await fresh('doctor-fifo');
    const fifo = join(base, 'ssh');
    await execa('mkfifo', ['-m', '600', fifo]);
    const conf = join(base, 'knockd.conf');
    await writeFile(conf, `[options]\n  logfile = /dev/null\n[ssh]\n  one_time_sequences = ${fifo}\n  tcpflags = syn\n  start_command = true\n`, { mode: 0o600 });
    const result = await runWithKillTimer('knockstick', ['doctor', '--offline', '--knockd-conf', conf, '--server-config', join(base, 'none.conf')]);
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${fifo} is a FIFO (named pipe), not a regular file`);
  }, 30_000);

  it('doctor with a FIFO as knockd.conf itself ends at once too', async () => {
    const base = await fresh('doctor-conf-fifo');
    const fifo = join(base, 'knockd.conf');
    await execa('mkfifo', ['-m', '600', fifo]);
    const result = await runWithKillTimer('knockstick', ['doctor', '--offline', '--knockd-conf', fifo, '--server-config', join(base, 'none.conf')]);
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${fifo} is a FIFO (named pipe), not a regular file`);
  }, 30_000);

  it.each([['knockd.conf'], ['ssh']])('server init --out DIR refuses a link planted at DIR/%s before writing any file, even with --force', async (name) => {
    const base = await fresh('server-out');
    const out = join(base, 'out');
    await mkdir(out);
    const victim = await victimFile(base);
    await symlink(victim.path, join(out, name));
    for (const force of [[], ['--force']]) {
      const result = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--count', '3', ...force]);
      expect(result.exitCode).toBe(6);
      expect(result.stderr).toContain(`${join(out, name)} is a symbolic link (to ${victim.path})`);
      await victim.unchanged();
      expect(await tree(out)).toEqual([`${name} -> ${victim.path}`]);
    }
  });

  it('server init --stick refuses a stick whose .ssh is a symlink before writing the server files', async () => {
    const base = await fresh('server-stick');
    const out = join(base, 'out');
    const stick = join(base, 'stick');
    await mkdir(stick);
    const victim = await victimDir(base);
    await symlink(victim.path, join(stick, '.ssh'));
    const result = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--count', '3', '--stick', stick]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${join(stick, '.ssh')} is a symbolic link (to ${victim.path})`);
    await victim.unchanged();
    expect(await readdir(base)).not.toContain('out');
  });

  it('spa keygen --rc-file refuses to append through a symlink', async () => {
    const base = await fresh('spa-rc');
    const victim = await victimFile(base);
    const rc = join(base, 'fwknoprc');
    await symlink(victim.path, rc);
    const result = await knockstick(['spa', 'keygen', '--rc-file', rc, '-n', 'lab', '--server', '127.0.0.1']);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${rc} is a symbolic link (to ${victim.path})`);
    await victim.unchanged();
  });

  it('spa keygen --rc-file refuses a FIFO rc file without waiting', async () => {
    const base = await fresh('spa-fifo');
    const fifo = join(base, 'fwknoprc');
    await execa('mkfifo', ['-m', '600', fifo]);
    const keygen = await runWithKillTimer('knockstick', ['spa', 'keygen', '--rc-file', fifo, '-n', 'lab', '--server', '127.0.0.1']);
    expect(keygen.killed).toBe(false);
    expect(keygen.exitCode).toBe(6);
    expect(keygen.stderr).toContain(`${fifo} is a FIFO (named pipe), not a regular file`);
  }, 30_000);

  it('spa send --save-packet refuses a symlink instead of removing it', async () => {
    const base = await fresh('spa-save');
    const rc = join(base, 'fwknoprc');
    expect((await knockstick(['spa', 'keygen', '--rc-file', rc, '-n', 'lab', '--server', '127.0.0.1'])).exitCode).toBe(0);
    const victim = await victimFile(base);
    const link = join(base, 'packet');
    await symlink(victim.path, link);
    const result = await knockstick(['spa', 'send', '--rc-file', rc, '-n', 'lab', '--dry-run', '--save-packet', link]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${link} is a symbolic link (to ${victim.path})`);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    await victim.unchanged();
  });
});

describe('panic rotate', () => {
  it.each([['knockd.conf'], ['server.conf']])('refuses a symlinked %s before writing either file', async (name) => {
    const base = await fresh('panic-link');
    const seqFile = join(base, 'ssh');
    await writeFile(seqFile, ' 40001,40002,40003\n 40004,40005,40006\n', { mode: 0o600 });
    const real = { 'knockd.conf': join(base, 'knockd.conf'), 'server.conf': join(base, 'server.conf') };
    const confText = `[options]\n  logfile = /dev/null\n[ssh]\n  one_time_sequences = ${seqFile}\n  tcpflags = syn\n`;
    await writeFile(real['knockd.conf'], confText, { mode: 0o600 });
    await writeFile(real['server.conf'], '# settings\n', { mode: 0o600 });
    // The link is what the command is pointed at; its target is the real file.
    const link = join(base, `link-${name}`);
    await symlink(real[name as keyof typeof real], link);
    const paths = { 'knockd.conf': real['knockd.conf'], 'server.conf': real['server.conf'], [name]: link };
    const result = await knockstick(['panic', 'rotate', '--knockd-conf', paths['knockd.conf'] as string, '--server-config', paths['server.conf'] as string, '--no-reload']);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${link} is a symbolic link (to ${real[name as keyof typeof real]})`);
    expect(await readFile(real['knockd.conf'], 'utf8')).toBe(confText);
    expect(await readFile(real['server.conf'], 'utf8')).toBe('# settings\n');
  });
});

describe('callhome', () => {
  it("refuses a stick whose sequence file is a symlink before knocking (marking it later would spend a sequence)", async () => {
    const base = await fresh('callhome-link');
    const stick = join(base, 'stick');
    await mkdir(join(stick, '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(stick, '.ssh/config'), 'Host home\n  HostName 127.0.0.1\n  User nobody\n  Port 22\n', { mode: 0o600 });
    const sequences = ' 40001,40002,40003\n 40004,40005,40006\n 40007,40008,40009\n';
    const victim = join(base, 'elsewhere');
    await writeFile(victim, sequences, { mode: 0o600 });
    await symlink(victim, join(stick, '.ssh/sequences'));
    const result = await runWithKillTimer('callhome', ['--stick', stick, '--knock-only']);
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`${join(stick, '.ssh/sequences')} is a symbolic link (to ${victim})`);
    expect(result.stderr).not.toMatch(/door open|no answer/);
    expect(await readFile(victim, 'utf8')).toBe(sequences);
    expect(await readdir(join(stick, '.ssh'))).toEqual(['config', 'sequences']);
  }, 30_000);
});
