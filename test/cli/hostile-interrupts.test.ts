// Ctrl-C and SIGTERM sent to the built CLI at different steps, as a hostile tester (or an impatient
// owner) would: one line, exit 130/143, no stack trace, nothing left behind (no loop device, no
// cryptsetup, no askpass directory, no half-written stick) and no passphrase in any file it was not
// given in. Also the runner's "not installed" through the CLI.
//
// The CLI runs with its own TMPDIR, so "no knockstick-askpass-* left" looks only at what this run
// made, whatever other tests on the machine do meanwhile. Steps are found by wrappers on PATH that
// note their start in a marks file and then exec the real program (same pid: what the CLI kills
// is the real ssh-keygen or cryptsetup).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_BIN, tempDir } from '../helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const asRoot = isRoot ? describe : describe.skip;

let dir: { path: string; cleanup: () => Promise<void> };
const file = (name: string) => join(dir.path, name);
// Random per run: a match anywhere on disk can only come from this run.
const KEY_PASS = `key-${randomBytes(9).toString('hex')}`;
const LUKS_PASS = `luks-${randomBytes(9).toString('hex')}`;
let counter = 0;

beforeAll(async () => {
  dir = await tempDir('knockstick-interrupts-');
  await writeFile(file('key.pass'), `${KEY_PASS}\n`, { mode: 0o600 });
  await writeFile(file('luks.pass'), `${LUKS_PASS}\n`, { mode: 0o600 });
  await mkdir(file('bins'));
  for (const [name, real] of [['ssh-keygen', '/usr/bin/ssh-keygen'], ['cryptsetup', '/usr/sbin/cryptsetup']] as const) {
    await writeFile(file(`bins/${name}`), `#!/bin/sh\necho "${name} $1 askpass=$SSH_ASKPASS" >> "$KS_MARKS"\nexec ${real} "$@"\n`);
    await chmod(file(`bins/${name}`), 0o755);
  }
});
afterAll(async () => {
  await dir.cleanup();
});

interface Run {
  readonly child: ResultPromise;
  readonly marks: string;
  readonly tmp: string;
}

/** Starts a command of the built CLI in the background, with its own TMPDIR and the wrappers on PATH. */
async function start(bin: string, args: readonly string[]): Promise<Run> {
  counter += 1;
  const marks = file(`marks-${counter}`);
  const tmp = file(`tmp-${counter}`);
  await mkdir(tmp);
  await writeFile(marks, '');
  const child = execa(process.execPath, [join(DIST_BIN, `${bin}.js`), ...args], {
    env: { PATH: `${file('bins')}:${process.env.PATH ?? '/usr/bin:/bin'}`, KS_MARKS: marks, TMPDIR: tmp },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
    cwd: dir.path, // never the repository: usbsetup saves its server copy in the working directory
  });
  return { child, marks, tmp };
}

async function waitForMark(run: Run, text: string): Promise<void> {
  for (let i = 0; i < 1000 && !(await readFile(run.marks, 'utf8')).includes(text); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await readFile(run.marks, 'utf8')).toContain(text);
}

/** Every file under these directories that contains `secret` (FIFOs and devices skipped, never read). */
async function filesContaining(secret: string, dirs: readonly string[]): Promise<string[]> {
  const result = await execa('grep', ['-rlsF', '-D', 'skip', '--', secret, ...dirs], { reject: false });
  return [...new Set(String(result.stdout).split('\n').filter((l) => l !== ''))];
}

/** No passphrase in any file but the one it was given in: temp dirs, RAM disks, the test's own dir. */
async function expectNoSecretOnDisk(): Promise<void> {
  const places = [...new Set([dir.path, tmpdir(), '/tmp', '/dev/shm', '/run'])];
  expect(await filesContaining(KEY_PASS, places)).toEqual([file('key.pass')]);
  expect(await filesContaining(LUKS_PASS, places)).toEqual([file('luks.pass')]);
}

/** The askpass directory of a run, from the SSH_ASKPASS the ssh-keygen wrapper saw. */
const askpassDir = (marks: string) => /knockstick-askpass-\w+/.exec(marks)?.[0] ?? 'no askpass dir seen';
const exitFor = (signal: 'SIGINT' | 'SIGTERM') => (signal === 'SIGINT' ? 130 : 143);
const oneLine = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('==> '));

describe('usbsetup --into --yes, interrupted', () => {
  const contentFlags = () => ['--yes', '--hostname', 'home.example.org', '--user', 'alice', '--sequences', '3', '--key-passphrase-file', file('key.pass')];

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while ssh-keygen runs: exit ${exitFor(signal)}, one line, the key's half undone, no askpass dir, no passphrase on disk`, async () => {
      const stick = file(`stick-keygen-${signal}`);
      await mkdir(stick);
      const run = await start('usbsetup', ['--into', stick, ...contentFlags()]);
      await waitForMark(run, 'ssh-keygen -q');
      run.child.kill(signal);
      const result = await run.child;
      expect(result.exitCode).toBe(exitFor(signal));
      // ssh-keygen's own `finally` removed the askpass dir (it held no secret: that was in the pipe).
      expect(askpassDir(await readFile(run.marks, 'utf8'))).toMatch(/^knockstick-askpass-/);
      // (On a very busy machine the signal path may undo before ssh-keygen's own `finally` does:
      // the askpass dir is then in the line too.)
      expect(oneLine(String(result.stderr))).toEqual([
        expect.stringMatching(new RegExp(`^usbsetup: interrupted by ${signal}; undone: (removed \\S+/knockstick-askpass-\\w+, )?removed the half-written stick files in ${stick}$`)),
      ]);
      expect(String(result.stdout)).toBe('');
      expect(await readdir(stick)).toEqual([]);
      expect(await readdir(run.tmp)).toEqual([]);
      await expectNoSecretOnDisk();
      // ssh-keygen was killed and awaited: nothing of it still runs.
      expect((await execa('pgrep', ['-f', `ssh-keygen -q -t ed25519 -a 100 -C knockstick home -f ${stick}`], { reject: false })).stdout).toBe('');
    }, 30_000);

    // The other steps (reading the passphrase, the config, the bundle, the launchers, the sequences)
    // take milliseconds: signals at a spread of moments land in them or between them. Whatever the
    // moment, the outcome is all or nothing.
    it(`${signal} at a spread of moments: either a whole stick (exit 0) or nothing at all, never a secret left`, async () => {
      for (const delayMs of [150, 300, 450, 600, 800, 1100, 1500]) {
        const stick = file(`stick-${signal}-${delayMs}`);
        await mkdir(stick);
        const run = await start('usbsetup', ['--into', stick, ...contentFlags()]);
        await new Promise((r) => setTimeout(r, delayMs));
        run.child.kill(signal);
        const result = await run.child;
        const stderr = String(result.stderr);
        expect(stderr).not.toMatch(/unexpected error|Please report|\n\s+at /);
        if (result.exitCode === 0) {
          expect((await readdir(join(stick, '.ssh'))).sort()).toEqual(['config', 'id_ed25519', 'id_ed25519.pub', 'knockstick.conf', 'sequences']);
        } else if (result.exitCode === undefined) {
          // Before the CLI had its handlers (node still loading): the default action, nothing started.
          expect(result.signal).toBe(signal);
          expect(await readdir(stick)).toEqual([]);
        } else {
          expect(result.exitCode).toBe(exitFor(signal));
          expect(oneLine(stderr)).toHaveLength(1);
          expect(stderr).toMatch(new RegExp(`^usbsetup: interrupted by ${signal}; (nothing to undo|undone: (removed \\S+/knockstick-askpass-\\w+, )?removed the half-written stick files in \\S+)$`));
          expect(await readdir(stick)).toEqual([]);
        }
        expect(await readdir(run.tmp)).toEqual([]);
      }
      await expectNoSecretOnDisk();
      // Seven whole usbsetup runs (bcrypt key derivation each): a budget a loaded 2-core machine
      // cannot reach; the test checks outcomes, never time.
    }, 180_000);
  }

  it('an ssh-keygen whose askpass cannot read the pipe (so it would write the key unencrypted) is refused, and no key is left', async () => {
    const bins = file('bins-closing-fd3');
    await mkdir(bins);
    await writeFile(join(bins, 'ssh-keygen'), '#!/bin/sh\nexec 3<&-\nexec /usr/bin/ssh-keygen "$@"\n');
    await chmod(join(bins, 'ssh-keygen'), 0o755);
    const stick = file('stick-closing-fd3');
    await mkdir(stick);
    const result = await execa(process.execPath, [join(DIST_BIN, 'usbsetup.js'), '--into', stick, ...contentFlags()], { env: { PATH: `${bins}:${process.env.PATH ?? '/usr/bin:/bin'}` }, extendEnv: false, reject: false, stdin: 'ignore', cwd: dir.path });
    expect(result.exitCode).toBe(6);
    expect(String(result.stderr)).toMatch(/^usbsetup: ssh-keygen wrote \S+\/\.ssh\/id_ed25519 without a passphrase \(its askpass did not get it\); the key was removed\nhint: /);
    expect(await readdir(stick)).toEqual([]);
  });

  it('a missing ssh-keygen is "not installed" with its package, exit 6, and no half stick', async () => {
    const stick = file('stick-no-keygen');
    await mkdir(stick);
    const result = await execa(process.execPath, [join(DIST_BIN, 'usbsetup.js'), '--into', stick, ...contentFlags()], { env: { PATH: '/nonexistent' }, extendEnv: false, reject: false, stdin: 'ignore', cwd: dir.path });
    expect(result.exitCode).toBe(6);
    expect(String(result.stderr)).toBe(
      `usbsetup: ssh-keygen is not installed (needed to make the SSH key ${stick}/.ssh/id_ed25519)\nhint: install it (Debian/Ubuntu: apt install openssh-client) and run this again`,
    );
    expect(await readdir(stick)).toEqual([]);
  });
});

asRoot('usbsetup on a disk image, interrupted during LUKS formatting', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while cryptsetup luksFormat runs: exit ${exitFor(signal)}, cryptsetup killed and awaited, the loop device detached`, async () => {
      const image = file(`luks-${signal}.img`);
      await execa('truncate', ['-s', '64M', image]);
      // The real argon2id: luksFormat takes seconds, so the signal lands inside it.
      const run = await start('usbsetup', ['--yes', '--device', image, '--confirm-device', image, '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass'), '--no-device-mapper-check-for-tests', '--host-config', file(`host-${signal}.conf`)]);
      try {
        await waitForMark(run, 'cryptsetup luksFormat');
        run.child.kill(signal);
        const result = await run.child;
        expect(result.exitCode).toBe(exitFor(signal));
        expect(oneLine(String(result.stderr))).toEqual([expect.stringMatching(new RegExp(`^usbsetup: interrupted by ${signal}; undone: detached /dev/loop\\d+$`))]);
        expect(String((await execa('losetup', ['--associated', image])).stdout)).toBe('');
        const cryptsetups = String((await execa('pgrep', ['-a', 'cryptsetup'], { reject: false })).stdout).split('\n').filter((l) => l.includes('/dev/loop') && l.includes('luksFormat'));
        const ours = await Promise.all(cryptsetups.map(async (l) => (await readFile(`/proc/${l.split(' ')[0]}/environ`, 'utf8').catch(() => '')).includes(run.marks)));
        expect(ours.filter(Boolean)).toEqual([]);
        expect(await readdir(run.tmp)).toEqual([]);
        await expectNoSecretOnDisk();
      } finally {
        run.child.kill('SIGKILL');
        await run.child;
        const loop = String((await execa('losetup', ['--associated', image, '--noheadings', '--output', 'NAME'], { reject: false })).stdout).trim();
        if (loop !== '') await execa('losetup', ['--detach', loop], { reject: false });
      }
    }, 60_000);
  }
});

asRoot('usbsetup on a disk image, Ctrl-C twice during LUKS formatting', () => {
  it('the second one SIGKILLs cryptsetup (it ignores SIGTERM while deriving the key), and the undo still runs to its end', async () => {
    const image = file('luks-twice.img');
    await execa('truncate', ['-s', '64M', image]);
    const run = await start('usbsetup', ['--yes', '--device', image, '--confirm-device', image, '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass'), '--no-device-mapper-check-for-tests', '--host-config', file('host-twice.conf')]);
    try {
      await waitForMark(run, 'cryptsetup luksFormat');
      run.child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 200));
      run.child.kill('SIGINT');
      const result = await run.child;
      expect(result.exitCode).toBe(130);
      expect(oneLine(String(result.stderr))).toEqual([expect.stringMatching(/^usbsetup: interrupted by SIGINT; undone: detached \/dev\/loop\d+$/)]);
      expect(String((await execa('losetup', ['--associated', image])).stdout)).toBe('');
      expect(String((await execa('pgrep', ['-af', image], { reject: false })).stdout)).toBe('');
    } finally {
      run.child.kill('SIGKILL');
      await run.child;
      const loop = String((await execa('losetup', ['--associated', image, '--noheadings', '--output', 'NAME'], { reject: false })).stdout).trim();
      if (loop !== '') await execa('losetup', ['--detach', loop], { reject: false });
    }
  }, 60_000);
});

asRoot('usbsetup on a partitioned disk image, interrupted at a spread of moments', () => {
  // attach, lsblk, wipefs, sfdisk, partx, mkfs.vfat, luksFormat (weak), luksUUID, then `cryptsetup
  // open` fails here (no device-mapper on this host: exit 6). A signal anywhere in between: the
  // loop device goes, nothing keeps running, no passphrase on disk.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: exit ${exitFor(signal)} (or 6 when it got to cryptsetup open first), the loop device detached, nothing left`, async () => {
      const outcomes: string[] = [];
      for (const delayMs of [150, 250, 350, 450, 550, 700]) {
        const image = file(`spread-${signal}-${delayMs}.img`);
        await execa('truncate', ['-s', '64M', image]);
        const run = await start('usbsetup', ['--yes', '--device', image, '--confirm-device', image, '--partition-mib', '32', '--weak-pbkdf-for-tests', '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass'), '--no-device-mapper-check-for-tests', '--host-config', file('spread.conf')]);
        try {
          await new Promise((r) => setTimeout(r, delayMs));
          run.child.kill(signal);
          const result = await run.child;
          const stderr = String(result.stderr);
          expect(stderr).not.toMatch(/unexpected error|Please report|\n\s+at /);
          if (result.exitCode === exitFor(signal)) {
            expect({ delayMs, lines: oneLine(stderr) }).toEqual({ delayMs, lines: [expect.stringMatching(new RegExp(`^usbsetup: interrupted by ${signal}; (nothing to undo|undone: .*detached /dev/loop\\d+)$`))] });
          } else if (result.exitCode === undefined) {
            expect(result.signal).toBe(signal); // before the CLI had its handlers: nothing started
          } else {
            expect(result.exitCode).toBe(6);
            expect(stderr).toMatch(/this kernel has no device-mapper/);
          }
          outcomes.push(String(result.exitCode ?? result.signal));
          expect(String((await execa('losetup', ['--associated', image])).stdout)).toBe('');
          const procs = String((await execa('pgrep', ['-af', image], { reject: false })).stdout);
          expect(procs).toBe('');
          expect(await readdir(run.tmp)).toEqual([]);
        } finally {
          run.child.kill('SIGKILL');
          await run.child;
          const loop = String((await execa('losetup', ['--associated', image, '--noheadings', '--output', 'NAME'], { reject: false })).stdout).trim();
          if (loop !== '') await execa('losetup', ['--detach', loop], { reject: false });
        }
      }
      await expectNoSecretOnDisk();
      // Which step each moment hit depends on the machine; at least one signal landed mid-run.
      expect(outcomes).toContain(String(exitFor(signal)));
    }, 90_000);
  }
});

describe('wizards on a real terminal (tmux): Ctrl-C', () => {
  const session = `ks-int-${process.pid}`;
  const tmux = (...args: string[]) => execa('tmux', args, { reject: false });
  const screen = async () => String((await tmux('capture-pane', '-p', '-S', '-60', '-t', session)).stdout);
  const waitScreen = async (text: string) => {
    for (let i = 0; i < 300 && !(await screen()).includes(text); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await screen()).toContain(text);
  };
  const startWizard = (bin: string, args: string) =>
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', `PATH=${file('bins')}:$PATH KS_MARKS=${file('wizard-marks')} ${process.execPath} ${join(DIST_BIN, `${bin}.js`)} ${args}; echo WIZARD-EXIT=$?; sleep 60`);
  const expectClean = (text: string) => {
    expect(text).not.toMatch(/unexpected error|ExitPromptError|Please report|\n\s+at /);
  };

  beforeAll(async () => {
    await writeFile(file('wizard-marks'), '');
  });

  it('usbsetup --into: Ctrl-C at the first question is "cancelled", exit 130, nothing written', async () => {
    const stick = file('wizard-cancel');
    await mkdir(stick);
    await startWizard('usbsetup', `--into ${stick}`);
    try {
      await waitScreen("Your server's address");
      await tmux('send-keys', '-t', session, 'C-c');
      await waitScreen('WIZARD-EXIT=130');
      const text = await screen();
      expect(text).toContain('usbsetup: cancelled (Ctrl-C at a prompt); nothing was written');
      expectClean(text);
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect(await readdir(stick)).toEqual([]);
  }, 30_000);

  it("usbsetup --into: Ctrl-C at ssh-keygen's own passphrase prompt ends both, exit 130, the half stick undone", async () => {
    const stick = file('wizard-keygen');
    await mkdir(stick);
    await startWizard('usbsetup', `--into ${stick} --hostname h --user u --sequences 3`);
    try {
      await waitScreen('SOCKS proxy');
      await tmux('send-keys', '-t', session, 'Enter');
      await waitScreen("server's copy of the sequences");
      await tmux('send-keys', '-t', session, 'Enter');
      await waitScreen('Enter passphrase'); // ssh-keygen's own prompt, on this terminal
      await tmux('send-keys', '-t', session, 'C-c');
      await waitScreen('WIZARD-EXIT=130');
      const text = await screen();
      expect(text).toContain(`usbsetup: interrupted by SIGINT; undone: removed the half-written stick files in ${stick}`);
      expectClean(text);
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect(await readdir(stick)).toEqual([]);
  }, 30_000);

  (isRoot ? it : it.skip)("secureon: Ctrl-C at cryptsetup's own passphrase prompt, exit 130, the image's loop device detached", async () => {
    const image = file('secureon-tty.img');
    await execa('truncate', ['-s', '32M', image]);
    await execa('cryptsetup', ['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', '-', image], { input: LUKS_PASS });
    await startWizard('secureon', `${image} --host-config ${file('secureon-none.conf')}`);
    try {
      await waitScreen('Enter passphrase'); // cryptsetup's own prompt, on this terminal
      await tmux('send-keys', '-t', session, 'C-c');
      await waitScreen('WIZARD-EXIT=130');
      const text = await screen();
      expect(text).toMatch(/secureon: interrupted by SIGINT; undone: detached \/dev\/loop\d+/);
      expectClean(text);
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect(String((await execa('losetup', ['--associated', image])).stdout)).toBe('');
    expect(String((await execa('pgrep', ['-af', image], { reject: false })).stdout)).toBe('');
  }, 30_000);

  it('server init: Ctrl-C at the first question is "cancelled", exit 130, no --out directory made', async () => {
    const out = file('server-out');
    await startWizard('knockstick', `server init --out ${out}`);
    try {
      await waitScreen('Interface knockd listens on');
      await tmux('send-keys', '-t', session, 'C-c');
      await waitScreen('WIZARD-EXIT=130');
      const text = await screen();
      expect(text).toContain('knockstick server: cancelled (Ctrl-C at a prompt); nothing was written');
      expectClean(text);
    } finally {
      await tmux('kill-session', '-t', session);
    }
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  }, 30_000);
});

// callhome hands the terminal to ssh: Ctrl-C is then ssh's (it forwards it or ends the session), and
// callhome only waits; SIGTERM still ends both. No lab needed: the stick's door is "still open"
// (a listener here, and a recent opening in the stick's record), so callhome spends no sequence
// and runs --ssh at once, a fake ssh that notes what it gets.
describe('callhome while ssh has the terminal', () => {
  let server: Server;
  let stick: string;
  const fakeSsh = () => file('fake-ssh');

  beforeAll(async () => {
    server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    stick = file('callhome-stick');
    await mkdir(stick);
    const made = await execa(process.execPath, [join(DIST_BIN, 'usbsetup.js'), '--yes', '--into', stick, '--hostname', '127.0.0.1', '--user', 'u', '--port', String(port), '--sequences', '5', '--key-passphrase-file', file('key.pass')], { reject: false, stdin: 'ignore', cwd: dir.path });
    expect(made.exitCode).toBe(0);
    await writeFile(fakeSsh(), `#!/bin/sh\ntrap 'echo "fake ssh: got SIGINT" >> "$KS_MARKS"; exit 7' INT\necho "fake ssh running" >> "$KS_MARKS"\nwhile :; do sleep 0.1; done\n`);
    await chmod(fakeSsh(), 0o755);
  }, 30_000);
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const doorJustOpened = () => writeFile(join(stick, '.ssh/sequences.state'), JSON.stringify({ version: 1, confirmedLine: null, confirmedFingerprint: null, lastOpenedAt: Date.now() }));

  it('Ctrl-C on the terminal goes to ssh, and callhome exits with what ssh exits with, no "interrupted" line', async () => {
    const session = `ks-ch-${process.pid}`;
    const tmux = (...args: string[]) => execa('tmux', args, { reject: false });
    const screen = async () => String((await tmux('capture-pane', '-p', '-S', '-60', '-t', session)).stdout);
    const marks = file('callhome-tty-marks');
    await writeFile(marks, '');
    await doorJustOpened();
    const before = await readFile(join(stick, '.ssh/sequences'), 'utf8');
    await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', `KS_MARKS=${marks} ${process.execPath} ${join(DIST_BIN, 'callhome.js')} --stick ${stick} --ssh ${fakeSsh()}; echo CALLHOME-EXIT=$?; sleep 60`);
    try {
      for (let i = 0; i < 300 && !(await readFile(marks, 'utf8')).includes('fake ssh running'); i++) await new Promise((r) => setTimeout(r, 20));
      await tmux('send-keys', '-t', session, 'C-c');
      for (let i = 0; i < 300 && !(await screen()).includes('CALLHOME-EXIT='); i++) await new Promise((r) => setTimeout(r, 20));
      const text = await screen();
      expect(text).toContain('CALLHOME-EXIT=7');
      expect(text).not.toMatch(/interrupted|unexpected error|\n\s+at /);
      expect(await readFile(marks, 'utf8')).toContain('fake ssh: got SIGINT');
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect(await readFile(join(stick, '.ssh/sequences'), 'utf8')).toBe(before);
  }, 30_000);

  it('SIGTERM ends ssh too: exit 143, one line', async () => {
    await doorJustOpened();
    const marks = file('callhome-term-marks');
    await writeFile(marks, '');
    const child = execa(process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', stick, '--ssh', fakeSsh()], { env: { KS_MARKS: marks }, reject: false, stdin: 'ignore', timeout: 30_000 });
    for (let i = 0; i < 300 && !(await readFile(marks, 'utf8')).includes('fake ssh running'); i++) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(143);
    expect(String(result.stderr).split('\n').filter((l) => l.startsWith('callhome: '))).toEqual(['callhome: interrupted by SIGTERM; nothing to undo']);
    expect(String(result.stderr)).not.toMatch(/unexpected error|\n\s+at /);
    expect(await readFile(marks, 'utf8')).not.toContain('got SIGINT');
  }, 30_000);
});
