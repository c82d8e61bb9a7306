// seqgen COUNT --remote against single-use doors as `server init` writes them now (nftables), with
// the real knockd and sshd: its ssh master is started through callhome's ProxyCommand, so the one
// connection the door admits is the master's; the refill spends exactly one sequence and leaves both
// files in step, for a stick as usbsetup makes it now and for an older one (no ProxyCommand in its
// ssh config, no door_policy in its settings); it runs beside a callhome without deadlock; and when
// the door never opens it exits 7 with callhome's message and writes nothing.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execa } from 'execa';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { createLab, killInNamespace, runIn, startKnockdDaemon, startSshd, type Lab, type RunResult } from '../../src/lab/lab.js';
import { askpassEnv, makeLabStick, type LabStick } from '../../src/lab/stick.js';

jest.setTimeout(180_000);

const PASSPHRASE = 'lab passphrase, not a real one';

let lab: Lab;
let stick: LabStick;
let out: string;
let env: Record<string, string>;

const serverFile = () => join(out, 'ssh');
const files = () => ['--server-file', serverFile(), '--stick', stick.root];

beforeAll(async () => {
  lab = await createLab();
  const sshd = await startSshd(lab);
  stick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: PASSPHRASE, proxyCommand: true });
  const home = join(lab.dir, 'home');
  await mkdir(home);
  env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...(await askpassEnv(lab.dir, PASSPHRASE)) };
  out = join(lab.dir, 'server');
  const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--firewall', 'nftables', '--cmd-timeout', '3', '--count', '12']);
  expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(await readFile(join(out, 'server.conf'), 'utf8')).toMatch(/^door_policy = single-use$/m);
  await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall.nft')]);
  await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
  // The server's sequences onto the stick, as usbsetup's next steps say.
  expect((await knockstick(['seqgen', 'repair', ...files(), '--server-config', join(out, 'server.conf')])).exitCode).toBe(0);
  expect(await readFile(stick.sequences, 'utf8')).toBe(await readFile(serverFile(), 'utf8'));
});

afterAll(async () => {
  if (lab !== undefined) await killInNamespace(lab.serverNs, 'knockd');
  await lab?.teardown();
});

/** The built seqgen in the client namespace, from `/` (not the stick). */
function remote(count: number): Promise<RunResult> {
  return runIn(lab.clientNs, 'sh', ['-c', 'cd / && exec "$@"', 'sh', process.execPath, join(DIST_BIN, 'seqgen.js'), String(count), '--remote', ...files()], { env });
}

function callhome(args: readonly string[]): Promise<RunResult> {
  return runIn(lab.clientNs, 'sh', ['-c', 'cd / && exec "$@"', 'sh', process.execPath, join(DIST_BIN, 'callhome.js'), '--stick', stick.root, ...args], { env });
}

async function status(): Promise<{ lockstep: unknown; server: { used: number; unused: number }; stick: { used: number; unused: number } }> {
  return JSON.parse((await knockstick(['seqgen', 'status', '--json', ...files(), '--server-config', join(out, 'server.conf')])).stdout);
}

/** ssh masters of this stick still running in the client namespace (seqgen must close its own). */
async function mastersLeft(): Promise<string[]> {
  const pids = String((await execa('ip', ['netns', 'pids', lab.clientNs], { reject: false })).stdout).split(/\s+/).filter(Boolean);
  const left: string[] = [];
  for (const pid of pids) {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args.includes('ControlMaster=yes') && args.includes(stick.config)) left.push(args.join(' '));
  }
  return left;
}

const explain = (result: RunResult) => (result.exitCode === 0 ? { exitCode: 0 } : { exitCode: result.exitCode, stderr: result.stderr });

describe('seqgen --remote through single-use doors', () => {
  it('a stick as usbsetup makes it now (ProxyCommand, door_policy single-use): one sequence spent, both files in step', async () => {
    await writeFile(join(stick.root, '.ssh', 'knockstick.conf'), '[home]\ndoor_policy = single-use\n', { mode: 0o600 });
    const result = await remote(5);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stderr).toMatch(/door open after \d+ ms \(line 1, the next sequence\)/);
    expect(result.stdout).toMatch(/Added 5 sequence\(s\) of 5 ports to home:.* \(over ssh, verified\).*16 unused on each side/);
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1, unused: 16 }, stick: { used: 1, unused: 16 } });
    expect(await readFile(stick.sequences, 'utf8')).toBe(await readFile(serverFile(), 'utf8'));
    expect(await mastersLeft()).toEqual([]);
  });

  it('an older stick (no ProxyCommand in its ssh config, no door_policy) gets in the same way', async () => {
    await rm(join(stick.root, '.ssh', 'knockstick.conf'), { force: true });
    const config = await readFile(stick.config, 'utf8');
    await writeFile(stick.config, config.replace(/^\s*ProxyCommand .*\n/m, ''), { mode: 0o600 });
    try {
      const result = await remote(5);
      expect(explain(result)).toEqual({ exitCode: 0 });
      expect(result.stdout).toMatch(/Added 5 sequence\(s\).*20 unused on each side/);
      expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 2, unused: 20 }, stick: { used: 2, unused: 20 } });
      expect(await readFile(stick.sequences, 'utf8')).toBe(await readFile(serverFile(), 'utf8'));
    } finally {
      await writeFile(stick.config, config, { mode: 0o600 });
    }
  });

  it('beside a callhome at the same moment: neither waits on the other for ever, both files stay in step', async () => {
    await writeFile(join(stick.root, '.ssh', 'knockstick.conf'), '[home]\ndoor_policy = single-use\n', { mode: 0o600 });
    const [refill, shell] = await Promise.all([remote(3), callhome(['--', 'echo', 'shell-ok'])]);
    expect([explain(refill), explain(shell)]).toEqual([{ exitCode: 0 }, { exitCode: 0 }]);
    expect(shell.stdout.trim()).toBe('shell-ok');
    // Two doors, two sequences; the refill read both files under the lock, after the callhome's mark or before its knock.
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 4, unused: 21 }, stick: { used: 4, unused: 21 } });
    expect(await readFile(stick.sequences, 'utf8')).toBe(await readFile(serverFile(), 'utf8'));
  });

  it('a door that never opens (knockd stopped): exit 7 with callhome\'s message, nothing written', async () => {
    await killInNamespace(lab.serverNs, 'knockd');
    const server = await readFile(serverFile(), 'utf8');
    const sequences = await readFile(stick.sequences, 'utf8');
    const result = await remote(5);
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toMatch(/^seqgen: the door at home \(.*\) did not open after 6 attempt\(s\)/m);
    expect(result.stderr).not.toMatch(/Connection closed|kex_exchange|ssh to home failed/);
    expect(result.stdout).toBe('');
    expect(await readFile(serverFile(), 'utf8')).toBe(server);
    expect(await readFile(stick.sequences, 'utf8')).toBe(sequences);
    expect(await mastersLeft()).toEqual([]);
  });
});
