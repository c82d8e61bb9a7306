// Single-use doors as `server init` writes them, with the real knockd, sshd and firewall (nftables,
// iptables, ufw) in the lab's namespaces: after a knock the first TCP connection from the knocking
// address gets in and the next one is dropped; the door closes by itself even when knockd is
// SIGKILLed right after the knock; the connection that got in keeps working after the door closed;
// panic empties the doors; --door-policy window admits every connection until the timeout.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execa } from 'execa';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { connectOnce, emptyDoor, inDoor, knockNext, waitForDoor, type DoorPlace } from '../helpers/doors-lab.js';
import { SERVER_ADDR, createLab, isProcessAlive, killInNamespace, runIn, startKnockdDaemon, startSshd, waitFor, type Lab } from '../../src/lab/lab.js';
import { makeLabStick, type LabStick } from '../../src/lab/stick.js';

jest.setTimeout(120_000);

/** Seconds a door lives here (--cmd-timeout): short, most of this file's time is waiting for it. */
const CMD_TIMEOUT = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Firewall = 'nftables' | 'iptables' | 'ufw';

/** Loads the firewall `server init --out dir` wrote into the server namespace. */
async function loadFirewall(lab: Lab, firewall: Firewall, out: string): Promise<void> {
  if (firewall === 'nftables') {
    await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall.nft')]);
    return;
  }
  if (firewall === 'iptables') {
    await lab.run(lab.serverNs, 'sh', ['-c', 'iptables-restore < "$1"', 'sh', join(out, 'iptables.rules')]);
    return;
  }
  // ufw: a copy of /etc/ufw with the snippet added before before.rules' final COMMIT, as the file
  // says, bind-mounted over /etc/ufw inside `ip netns exec`'s private mount namespace (the host's
  // ufw is never touched); ufw loads it into the namespace's tables.
  const etc = join(lab.dir, `etc-ufw-${out.replace(/\W/g, '')}`);
  await cp('/etc/ufw', etc, { recursive: true });
  const snippet = (await readFile(join(out, 'ufw-before.rules'), 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const before = await readFile(join(etc, 'before.rules'), 'utf8');
  const at = before.lastIndexOf('COMMIT');
  await writeFile(join(etc, 'before.rules'), `${before.slice(0, at)}${snippet.join('\n')}\n${before.slice(at)}`);
  const result = await runIn(lab.serverNs, 'sh', ['-c', 'mount --bind "$1" /etc/ufw && ufw --force enable >/dev/null && ufw reload >/dev/null', 'sh', etc]);
  expect(result).toMatchObject({ exitCode: 0 });
}

describe.each<Firewall>(['nftables', 'iptables', 'ufw'])('single-use doors from server init --firewall %s, with the real knockd', (firewall) => {
  let lab: Lab;
  let stick: LabStick;
  let out: string;
  let pid: number;
  const door: DoorPlace = firewall === 'nftables' ? { kind: 'nft', family: 'inet', table: 'knockstick', set: 'doors4' } : { kind: 'recent', list: 'knockstick' };
  const init = async (dir: string, ...extra: string[]) => {
    const result = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', dir, '--firewall', firewall, '--cmd-timeout', String(CMD_TIMEOUT), '--count', '12', ...extra]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
  };
  const startKnockd = async (dir: string) => {
    await killInNamespace(lab.serverNs, 'knockd');
    pid = await startKnockdDaemon(lab, join(dir, 'knockd.conf'), join(dir, 'knockd.pid'), join(dir, 'knockd.log'));
  };

  beforeAll(async () => {
    lab = await createLab();
    const sshd = await startSshd(lab);
    stick = await makeLabStick(join(lab.dir, 'stick'), sshd);
    out = join(lab.dir, 'server');
    await init(out);
    expect(await readFile(join(out, 'server.conf'), 'utf8')).toMatch(/^door_policy = single-use$/m);
    await loadFirewall(lab, firewall, out);
    await startKnockd(out);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('after a knock the first connection gets in, and a second one right after is dropped', async () => {
    await emptyDoor(lab, door);
    expect(await connectOnce(lab)).toBe('dropped');
    await knockNext(lab, join(out, 'ssh'));
    await waitForDoor(lab, door);
    expect(await connectOnce(lab)).toMatch(/^open:SSH-2\.0-/);
    // The packet that got in took the address out of the door.
    expect(await inDoor(lab, door)).toBe(false);
    expect(await connectOnce(lab)).toBe('dropped');
    expect(await connectOnce(lab)).toBe('dropped');
  });

  it('doctor, reading the loaded firewall, finds the door single-use and closing by itself', async () => {
    const doctor = await runIn(lab.serverNs, process.execPath, [
      join(DIST_BIN, 'knockstick.js'), 'doctor', '--json', '--knockd-conf', join(out, 'knockd.conf'), '--server-config', join(out, 'server.conf'),
    ]);
    const findings = (JSON.parse(doctor.stdout) as { findings: Array<{ id: string; severity: string; message: string }> }).findings;
    expect(findings.find((f) => f.id === 'door:ssh:single-use')).toMatchObject({ severity: 'ok' });
    expect(findings.find((f) => f.id === 'door:ssh')).toMatchObject({ severity: 'ok', message: expect.stringMatching(/closes by itself/) });
    expect(findings.filter((f) => f.id.startsWith('door:'))).toHaveLength(2);
  });

  it('the connection that got in keeps working after the door has closed (established traffic)', async () => {
    await emptyDoor(lab, door);
    await knockNext(lab, join(out, 'ssh'));
    await waitForDoor(lab, door);
    const session = execa('ip', ['netns', 'exec', lab.clientNs, 'ssh', '-F', stick.config, '-o', 'BatchMode=yes', 'home', 'echo ready; read line; echo "got $line"'], {
      cwd: stick.root,
      reject: false,
      timeout: 60_000,
    });
    let stdout = '';
    session.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await waitFor(async () => stdout.includes('ready'), 10_000, 25)).toBe(true);
    // Past the door's own timeout too: only conntrack's established state carries the session now.
    await sleep((CMD_TIMEOUT + 1) * 1000);
    expect(await connectOnce(lab)).toBe('dropped');
    session.stdin?.write('after-the-door\n');
    session.stdin?.end();
    const result = await session;
    expect({ exitCode: result.exitCode, stdout: String(result.stdout).trim() }).toEqual({ exitCode: 0, stdout: 'ready\ngot after-the-door' });
  });

  it('the door closes by itself after cmd_timeout, with knockd SIGKILLed right after the knock', async () => {
    await emptyDoor(lab, door);
    await knockNext(lab, join(out, 'ssh'));
    await waitForDoor(lab, door);
    process.kill(pid, 'SIGKILL');
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 25)).toBe(true);
    await killInNamespace(lab.serverNs, 'knockd');
    if (door.kind === 'nft') {
      // The kernel removes the element when its timeout ends.
      expect(await waitFor(async () => !(await inDoor(lab, door)), (CMD_TIMEOUT + 5) * 1000, 100)).toBe(true);
    } else {
      // xt_recent keeps the entry listed; the rule's --seconds no longer matches it.
      await sleep((CMD_TIMEOUT + 1) * 1000);
      expect(await inDoor(lab, door)).toBe(true);
    }
    expect(await connectOnce(lab)).toBe('dropped');
    await startKnockd(out);
  });

  it('panic stops knockd and empties the door, however the door was opened', async () => {
    await emptyDoor(lab, door);
    await knockNext(lab, join(out, 'ssh'));
    await waitForDoor(lab, door);
    const panic = /panic_sequence = ([\d,]+)/.exec(await readFile(join(out, 'server.conf'), 'utf8'))?.[1] ?? '';
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...panic.split(',')]);
    expect(await waitFor(async () => !isProcessAlive(pid), 8000, 50)).toBe(true);
    expect(await waitFor(async () => !(await inDoor(lab, door)), 5000, 50)).toBe(true);
    expect(await connectOnce(lab)).toBe('dropped');
  });

  it('--door-policy window still admits every connection from the address until the timeout', async () => {
    const windowOut = join(lab.dir, 'window');
    await init(windowOut, '--door-policy', 'window');
    expect(await readFile(join(windowOut, 'server.conf'), 'utf8')).toMatch(/^door_policy = window$/m);
    await loadFirewall(lab, firewall, windowOut);
    await startKnockd(windowOut);
    await emptyDoor(lab, door);
    await knockNext(lab, join(windowOut, 'ssh'));
    await waitForDoor(lab, door);
    expect(await connectOnce(lab)).toMatch(/^open:SSH-2\.0-/);
    expect(await connectOnce(lab)).toMatch(/^open:SSH-2\.0-/);
    expect(await inDoor(lab, door)).toBe(true);
    // ...and closes by itself all the same.
    await sleep((CMD_TIMEOUT + 1) * 1000);
    expect(await connectOnce(lab)).toBe('dropped');
  });
});
