// Router mode's single-use doors with the real knockd and both firewalls: the router forwards port
// 22 to two inner hosts (lab listeners that answer with their name), each behind its own door.
//
// What this measures, for the README: with window doors a connection meant for the second inner
// host, made while the first host's door is still open (cmd_timeout after its knock), reaches the
// first host. With single-use doors the first host's door is gone with its first connection, so
// the second host's knock and connection reach the second host at once; the overlap shrinks to
// the moment between a knock and its connection (two doors open and unused at the same time: the
// next connection goes to the host whose rule comes first).

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { knockstick } from '../helpers/cli.js';
import { connectOnce, emptyDoor, knockNext, waitForDoor, type DoorPlace } from '../helpers/doors-lab.js';
import { INNER_ADDRS, addInnerNetwork, createLab, isProcessAlive, killInNamespace, runIn, startKnockdDaemon, waitFor, type FirewallKind, type Lab } from '../../src/lab/lab.js';

jest.setTimeout(120_000);

const CMD_TIMEOUT = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A listener on ADDR:22 per inner host that answers with the host's name (stands in for its sshd). */
const LISTENERS = `const net = require('node:net');
for (const pair of process.argv.slice(1)) {
  const [name, addr] = pair.split('=');
  net.createServer((s) => s.end(name + '\\n')).listen(22, addr);
}`;

describe.each<FirewallKind>(['nftables', 'iptables'])('router mode single-use doors with %s', (firewall) => {
  let lab: Lab;
  let pid: number;
  const doorOf = (host: 'web' | 'db'): DoorPlace =>
    firewall === 'nftables' ? { kind: 'nft', family: 'ip', table: 'knockstick_nat', set: `door_${host}` } : { kind: 'recent', list: `knockstick_${host}` };
  const setUp = async (dir: string, policy: 'single-use' | 'window') => {
    const init = await knockstick([
      'server', 'init', '--yes', '--interface', lab.serverIf, '--out', dir, '--firewall', firewall, '--door-policy', policy,
      '--inner', `web=${INNER_ADDRS[0]}`, '--inner', `db=${INNER_ADDRS[1]}`, '--cmd-timeout', String(CMD_TIMEOUT), '--count', '10',
    ]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const file = join(dir, firewall === 'nftables' ? 'router.nft' : 'router-iptables.sh');
    const load = await runIn(lab.serverNs, 'sh', ['-c', firewall === 'nftables' ? 'nft -c -f "$1" && nft -f "$1"' : 'sh "$1" && sh "$1"', 'sh', file]);
    expect(load).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    await killInNamespace(lab.serverNs, 'knockd');
    pid = await startKnockdDaemon(lab, join(dir, 'knockd.conf'), join(dir, 'knockd.pid'), join(dir, 'knockd.log'));
    for (const host of ['web', 'db'] as const) await emptyDoor(lab, doorOf(host));
  };
  const open = async (dir: string, host: 'web' | 'db') => {
    await knockNext(lab, join(dir, host));
    await waitForDoor(lab, doorOf(host));
  };

  beforeAll(async () => {
    lab = await createLab();
    const inner = await addInnerNetwork(lab);
    lab.spawn(inner, process.execPath, ['-e', LISTENERS, `web=${INNER_ADDRS[0]}`, `db=${INNER_ADDRS[1]}`]);
    expect(await waitFor(async () => (await lab.run(inner, 'ss', ['-Htln'])).split('\n').filter((l) => /:22\b/.test(l)).length === 2, 5000, 50)).toBe(true);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('single-use: a connection to db right after web\'s reaches db, without waiting for web\'s door to time out', async () => {
    const dir = join(lab.dir, 'single-use');
    await setUp(dir, 'single-use');
    // No door: the router itself answers port 22 (nothing listens there).
    expect(await connectOnce(lab)).toBe('refused');
    await open(dir, 'web');
    expect(await connectOnce(lab)).toBe('open:web');
    expect(await connectOnce(lab)).toBe('refused');
    await open(dir, 'db');
    expect(await connectOnce(lab)).toBe('open:db');
    expect(await connectOnce(lab)).toBe('refused');
  });

  it('single-use: the overlap left is between a knock and its connection (both doors open and unused: first come, first rule)', async () => {
    const dir = join(lab.dir, 'single-use');
    await open(dir, 'db');
    await open(dir, 'web');
    // web's rule comes first: while web's door is open and unused, a connection meant for db reaches web.
    expect(await connectOnce(lab)).toBe('open:web');
    expect(await connectOnce(lab)).toBe('open:db');
    expect(await connectOnce(lab)).toBe('refused');
  });

  it('single-use: a forwarding door closes by itself, with knockd SIGKILLed right after the knock', async () => {
    const dir = join(lab.dir, 'single-use');
    await open(dir, 'web');
    process.kill(pid, 'SIGKILL');
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 25)).toBe(true);
    await sleep((CMD_TIMEOUT + 1) * 1000);
    expect(await connectOnce(lab)).toBe('refused');
  });

  it('window (the old doors, measured for comparison): within cmd_timeout a connection meant for db still reaches web', async () => {
    const dir = join(lab.dir, 'window');
    await setUp(dir, 'window');
    await open(dir, 'web');
    expect(await connectOnce(lab)).toBe('open:web');
    expect(await connectOnce(lab)).toBe('open:web');
    await open(dir, 'db');
    expect(await connectOnce(lab)).toBe('open:web');
    // Once web's door is gone (emptied here rather than waiting for its timeout), db is reached.
    await emptyDoor(lab, doorOf('web'));
    expect(await connectOnce(lab)).toBe('open:db');
  });
});
