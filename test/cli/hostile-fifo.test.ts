// FIFOs where a regular file is expected, beyond the flag sweep (hostile-flags.test.ts): files named
// inside other files, and paths handed to another program. Each case runs the built CLI as its own
// process with a kill timer far above what it needs, and checks that it ended by itself: a blocked
// open of a FIFO would hold node past its own exit (process.exit waits for libuv's threadpool), so
// without the fix these runs end only by the timer, and even SIGTERM does not end them.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, tempDir } from '../helpers/cli.js';
import { fifoHasReader } from '../helpers/hostile.js';

let dir: { path: string; cleanup: () => Promise<void> };
let n = 0;
/** A fresh subdirectory per test with a FIFO in it (mode 0600, as a careful attacker would make it). */
async function fresh(name: string): Promise<{ base: string; fifo: string }> {
  const base = join(dir.path, `${++n}-${name}`);
  await mkdir(base);
  const fifo = join(base, 'fifo');
  await execa('mkfifo', ['-m', '600', fifo]);
  return { base, fifo };
}

async function runWithKillTimer(args: readonly string[]): Promise<{ exitCode: number; stderr: string; stdout: string; killed: boolean }> {
  const result = await execa(process.execPath, [join(DIST_BIN, 'knockstick.js'), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 20_000,
    killSignal: 'SIGKILL',
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), killed: result.timedOut };
}

/** What every case checks: ended by itself, the usual I/O exit, no stack trace, the FIFO left alone. */
async function expectRefusedAtOnce(result: Awaited<ReturnType<typeof runWithKillTimer>>, fifo: string, message: string): Promise<void> {
  expect(result.killed).toBe(false);
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 6, stderr: expect.stringContaining(message) });
  expect(result.stderr).not.toMatch(/unexpected error|^ {4}at /m);
  expect((await lstat(fifo)).isFIFO()).toBe(true);
  expect(fifoHasReader(fifo)).toBe(false);
}

beforeAll(async () => {
  dir = await tempDir('knockstick-hostile-fifo-');
});
afterAll(async () => {
  await dir.cleanup();
});

describe('a FIFO named inside a knockd.conf', () => {
  it('doctor: a one_time_sequences past a config error (read only by the real-knockd probe) is refused, naming the directive', async () => {
    // Our model stops at the unknown directive, so the door is not one of doctor's one-time files;
    // the probe still reads every one_time_sequences it finds, for its private copy.
    const { base, fifo } = await fresh('doctor-probe');
    const conf = join(base, 'knockd.conf');
    await writeFile(conf, `[options]\n  UseSyslog\n\n[ssh]\n  bogus = 1\n  one_time_sequences = ${fifo}\n`, { mode: 0o600 });
    const result = await runWithKillTimer(['doctor', '--offline', '--knockd-conf', conf, '--server-config', join(base, 'none.conf')]);
    await expectRefusedAtOnce(result, fifo, `one_time_sequences in the knockd.conf names ${fifo}, which is a FIFO (named pipe), not a regular file`);
  }, 30_000);

  it('panic rotate: a door whose one_time_sequences is a FIFO is refused before anything is written', async () => {
    const { base, fifo } = await fresh('panic-rotate');
    const conf = join(base, 'knockd.conf');
    const text = `[options]\n  UseSyslog\n\n[ssh]\n  one_time_sequences = ${fifo}\n  seq_timeout = 15\n  tcpflags = syn\n  start_command = /bin/true %IP%\n`;
    await writeFile(conf, text, { mode: 0o600 });
    const result = await runWithKillTimer([
      'panic', 'rotate', '--no-reload', '--knockd-conf', conf, '--server-config', join(base, 'server.conf'), '--pidfile', join(base, 'knockd.pid'), '--out', join(base, 'panic'),
    ]);
    await expectRefusedAtOnce(result, fifo, `${fifo} is a FIFO (named pipe), not a regular file`);
    expect((await lstat(join(base, 'panic')).catch(() => null))).toBeNull();
    expect((await lstat(join(base, 'server.conf')).catch(() => null))).toBeNull();
  }, 30_000);
});

describe('a FIFO given where another program would open it', () => {
  it('doctor --sshd-config FIFO: refused before `sshd -T -f` would wait on it', async () => {
    const { base, fifo } = await fresh('sshd-config');
    const conf = join(base, 'knockd.conf');
    await writeFile(conf, '[options]\n  UseSyslog\n', { mode: 0o600 });
    const result = await runWithKillTimer(['doctor', '--knockd-conf', conf, '--server-config', join(base, 'none.conf'), '--pidfile', join(base, 'knockd.pid'), '--sshd-config', fifo]);
    await expectRefusedAtOnce(result, fifo, `${fifo} is a FIFO (named pipe), not a regular file`);
  }, 30_000);
});

describe('a FIFO as a file the command reads and then appends to', () => {
  it('spa keygen --rc-file FIFO: refused as a FIFO (not for its mode), no keys made', async () => {
    const { fifo } = await fresh('spa-rc');
    const result = await runWithKillTimer(['spa', 'keygen', '--rc-file', fifo, '-n', 'home', '--server', '127.0.0.1']);
    await expectRefusedAtOnce(result, fifo, `${fifo} is a FIFO (named pipe), not a regular file`);
    expect(result.stderr).not.toMatch(/mode 0/);
  }, 30_000);
});
