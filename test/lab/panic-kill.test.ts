// The panic stanza's command against a knockd whose SIGTERM handler hangs (knockd 0.8 calls stdio
// and localtime in it; a SIGTERM that lands while knockd is logging can leave it stuck in a lock).
// A process that ignores SIGTERM stands in for the hung knockd: the command must still end it.
// Runs the command in a network namespace of its own (unshare -n), so its door flush touches
// only that namespace's empty firewall, never the host's.

import { afterEach, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { panicCommand } from '../../src/core/firewall.js';
import { isProcessAlive } from '../../src/core/process.js';

const started: number[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the panic command ends knockd even when SIGTERM does not', () => {
  it.each(['iptables', 'nftables'] as const)('%s: a knockd stand-in that ignores SIGTERM is SIGKILLed about 2 s later', async (kind) => {
    dir = await mkdtemp(join(tmpdir(), 'knockstick-panic-kill-'));
    // `exec sleep` keeps the ignored SIGTERM disposition (ignored signals survive exec).
    const stuck = execa('sh', ['-c', "trap '' TERM; exec sleep 60"], { reject: false });
    const pid = stuck.pid as number;
    started.push(pid);
    const pidfile = join(dir, 'knockd.pid');
    await writeFile(pidfile, `${pid}\n`);
    const run = await execa('unshare', ['-n', 'sh', '-c', panicCommand(kind, pidfile)], { reject: false, timeout: 20_000 });
    expect(run.exitCode).toBe(0);
    const ended = await stuck;
    expect(ended.signal).toBe('SIGKILL');
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('a knockd that stops on SIGTERM is not signalled again (the pidfile then names nobody)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'knockstick-panic-kill-'));
    const polite = execa('sleep', ['60'], { reject: false });
    const pid = polite.pid as number;
    started.push(pid);
    const pidfile = join(dir, 'knockd.pid');
    await writeFile(pidfile, `${pid}\n`);
    const run = await execa('unshare', ['-n', 'sh', '-c', panicCommand('iptables', pidfile)], { reject: false, timeout: 20_000 });
    expect(run.exitCode).toBe(0);
    expect((await polite).signal).toBe('SIGTERM');
  });
});
