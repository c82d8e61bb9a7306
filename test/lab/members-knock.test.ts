// Several sticks on one server, with the real knockd, sshd and nftables in the lab's namespaces:
// a server made by `server init` (its door [ssh] and stick untouched: the migration), two more
// sticks added with `stick add`, each with a door of its own. Each gets in spending only its own
// file, also when two addresses knock at the same moment, interleaved port by port; `stick revoke`
// of one while another has a session open refuses the revoked stick's next sequence and a replay,
// keeps the other stick working and its session up, and reloads knockd without a new pid; a stick
// added from afar (stick add --remote through bob's door) gets its sequences and gets in; panic
// still stops everything.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { CLIENT_ADDR, SERVER_ADDR, createLab, isProcessAlive, runIn, startKnockdDaemon, startSshd, waitFor, type Lab, type SshdHandle } from '../../src/lab/lab.js';
import { makeLabStick, type LabStick } from '../../src/lab/stick.js';

jest.setTimeout(120_000);

/** A second client address (the lab's veth is a /30: this one gets a host route on the server). */
const SECOND_ADDR = '198.18.0.6';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Knocks several sequences at once from the client namespace, one SYN per port, interleaved port
 * by port across the sequences, each from its own source address (node connects and drops the
 * socket before any retransmission, as the knock client does).
 */
const INTERLEAVED = `const net = require('node:net');
const [host, json] = process.argv.slice(1);
const plans = JSON.parse(json);
const syn = (port, localAddress) => { const s = net.connect({ host, port, localAddress }); s.on('error', () => {}); setTimeout(() => s.destroy(), 200); };
(async () => {
  const longest = Math.max(...plans.map((p) => p.ports.length));
  for (let i = 0; i < longest; i++) {
    for (const p of plans) {
      if (i < p.ports.length) syn(Number(p.ports[i]), p.from);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  setTimeout(() => process.exit(0), 300);
})();`;

/** Lines of a sequence file: the unused ones (start with a space) and the used ones (knockd's "#"). */
async function lines(file: string): Promise<{ unused: string[][]; used: string[][] }> {
  const all = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const ports = (l: string) => l.slice(1).trim().split(',');
  return { unused: all.filter((l) => l.startsWith(' ')).map(ports), used: all.filter((l) => l.startsWith('#')).map(ports) };
}

describe('several sticks on one knockd server (stick add / list / revoke)', () => {
  let lab: Lab;
  let sshd: SshdHandle;
  let out: string;
  let first: LabStick;
  let alice: LabStick;
  let bob: LabStick;
  let pid: number;
  let env: Record<string, string>;
  const serverConfig = () => join(out, 'server.conf');
  const stick = (...args: string[]) => knockstick(['stick', ...args, '--server-config', serverConfig()]);
  const callhome = (s: LabStick, ...command: string[]) => runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', s.root, '--', ...command], { env, timeoutMs: 60_000 });
  const used = async (file: string) => (await lines(file)).used.length;
  const inDoors = async (address: string) => (await lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'doors4'])).includes(address);
  const flushDoors = () => lab.run(lab.serverNs, 'nft', ['flush', 'set', 'inet', 'knockstick', 'doors4']);
  const log = () => readFile(join(out, 'knockd.log'), 'utf8');

  beforeAll(async () => {
    lab = await createLab();
    sshd = await startSshd(lab);
    first = await makeLabStick(join(lab.dir, 'first'), sshd);
    alice = await makeLabStick(join(lab.dir, 'alice'), sshd);
    bob = await makeLabStick(join(lab.dir, 'bob'), sshd);
    out = join(lab.dir, 'server');
    // Window doors: callhome probes the door, then ssh connects (test/lab/server-init.test.ts).
    const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--stick', first.root, '--firewall', 'nftables', '--door-policy', 'window', '--cmd-timeout', '3', '--count', '8']);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    // A server made before members: no sticks.conf (today's server init writes one).
    await rm(join(out, 'sticks.conf'));
    await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall.nft')]);
    pid = await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    await lab.run(lab.clientNs, 'ip', ['addr', 'add', `${SECOND_ADDR}/32`, 'dev', lab.clientIf]);
    await lab.run(lab.serverNs, 'ip', ['route', 'add', `${SECOND_ADDR}/32`, 'dev', lab.serverIf]);
    await mkdir(join(lab.dir, 'home'));
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') };
    for (const [name, s] of [['alice', alice], ['bob', bob]] as const) {
      const added = await stick('add', name, '--stick', s.root, '--count', '8');
      expect({ exitCode: added.exitCode, stderr: added.stderr }).toEqual({ exitCode: 0, stderr: '' });
      expect(added.stdout).toMatch(new RegExp(`Reloaded knockd \\(pid ${pid}, unchanged\\)`));
      if (name === 'alice') expect(added.stdout).toContain('Registered the existing door [ssh] as member "ssh"');
    }
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('server init\'s stick (door [ssh], untouched) and both added sticks get in, each spending only its own file', async () => {
    expect(isProcessAlive(pid)).toBe(true);
    const files = { first: join(out, 'ssh'), alice: join(out, 'stick-alice'), bob: join(out, 'stick-bob') };
    for (const [name, s] of [['first', first], ['alice', alice], ['bob', bob]] as const) {
      const before = { first: await used(files.first), alice: await used(files.alice), bob: await used(files.bob) };
      const result = await callhome(s, 'echo', `in:${name}`);
      expect({ name, exitCode: result.exitCode, stdout: result.stdout.trim() }).toEqual({ name, exitCode: 0, stdout: `in:${name}` });
      const after = { first: await used(files.first), alice: await used(files.alice), bob: await used(files.bob) };
      expect(after).toEqual({ ...before, [name]: before[name] + 1 });
    }
    // No two doors share a port, and none uses a panic port.
    const panic = /panic_sequence = (\S+)/.exec(await readFile(serverConfig(), 'utf8'))?.[1]?.split(',') ?? [];
    const ports = await Promise.all(Object.values(files).map(async (f) => new Set((await readFile(f, 'utf8')).match(/\d+/g))));
    for (let i = 0; i < ports.length; i++) {
      for (const p of panic) expect(ports[i]?.has(p)).toBe(false);
      for (let j = i + 1; j < ports.length; j++) expect([...(ports[i] ?? [])].filter((p) => ports[j]?.has(p))).toEqual([]);
    }
    const list = JSON.parse((await stick('list', '--json')).stdout) as { members: { name: string; state: string; lastOpened: { address: string } | null; unused: number }[] };
    expect(list.members.map((m) => [m.name, m.state, m.lastOpened?.address, m.unused])).toEqual([
      ['ssh', 'active', CLIENT_ADDR, 7],
      ['alice', 'active', CLIENT_ADDR, 7],
      ['bob', 'active', CLIENT_ADDR, 7],
    ]);
  });

  it('two addresses knocking two doors at the same moment, interleaved port by port, both get in (one maybe on a resend, as callhome does)', async () => {
    await flushDoors();
    const a = (await lines(join(out, 'stick-alice'))).unused[0] as string[];
    const b = (await lines(join(out, 'stick-bob'))).unused[0] as string[];
    const knockTogether = () => lab.run(lab.clientNs, process.execPath, ['-e', INTERLEAVED, SERVER_ADDR, JSON.stringify([{ from: CLIENT_ADDR, ports: a }, { from: SECOND_ADDR, ports: b }])]);
    await knockTogether();
    expect(await waitFor(() => inDoors(CLIENT_ADDR), 5000, 50)).toBe(true);
    // Every stage of both interleaved knocks counted: neither door's knock reset the other's.
    const stages = async (address: string, door: string) => ((await log()).match(new RegExp(`${address.replace(/\./g, '\\.')}: ${door}: Stage \\d`, 'g')) ?? []).length;
    expect(await stages(SECOND_ADDR, 'stick-bob')).toBeGreaterThanOrEqual(4);
    // knockd 0.8 drops every half-done knock when it removes the oldest finished one (alice's,
    // here: it sets its whole attempt list to NULL when the removed entry is the list's head),
    // so bob's last port may find nothing to continue. That happens with one door too; callhome
    // answers it by sending the sequence again, and so does this test.
    if (!(await waitFor(() => inDoors(SECOND_ADDR), 1000, 50))) {
      await lab.run(lab.clientNs, process.execPath, ['-e', INTERLEAVED, SERVER_ADDR, JSON.stringify([{ from: SECOND_ADDR, ports: b }])]);
    }
    expect(await waitFor(() => inDoors(SECOND_ADDR), 5000, 50)).toBe(true);
    const text = await log();
    expect(text).toMatch(new RegExp(`${CLIENT_ADDR.replace(/\./g, '\\.')}: stick-alice: OPEN SESAME`));
    expect(text).toMatch(new RegExp(`${SECOND_ADDR.replace(/\./g, '\\.')}: stick-bob: OPEN SESAME`));
    // The sticks did not knock these: their copies catch up (seqgen repair marks them used).
    for (const [name, s] of [['alice', alice], ['bob', bob]] as const) {
      const repaired = await knockstick(['seqgen', 'repair', '--stick', s.root, '--server-config', serverConfig()]);
      expect({ name, exitCode: repaired.exitCode }).toEqual({ name, exitCode: 0 });
    }
  });

  it('revoke alice while bob has a session open: alice is refused (next sequence and replay), bob stays in and gets in again, knockd keeps its pid', async () => {
    await sleep(3500); // the doors of the last test have timed out
    const session = callhome(bob, 'sh', '-c', 'sleep 6; echo still-here');
    expect(await waitFor(async () => (await runIn(lab.serverNs, 'ss', ['-Htn', 'state', 'established', '( sport = :22 )'])).stdout.trim() !== '', 15_000, 100)).toBe(true);
    const aliceKey = (await readFile(join(alice.root, '.ssh', 'id_ed25519.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    expect(await readFile(sshd.authorizedKeys, 'utf8')).toContain(aliceKey);
    // Alice opens a door from the second address just before she is revoked: revoke closes it.
    const justUsed = (await lines(join(out, 'stick-alice'))).unused[0] as string[];
    await lab.run(lab.clientNs, process.execPath, ['-e', INTERLEAVED, SERVER_ADDR, JSON.stringify([{ from: SECOND_ADDR, ports: justUsed }])]);
    expect(await waitFor(() => inDoors(SECOND_ADDR), 5000, 50)).toBe(true);
    // Run on the server (its namespace): revoke closes doors in the server's firewall.
    const revoked = await runIn(lab.serverNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'stick', 'revoke', 'alice', '--authorized-keys', sshd.authorizedKeys, '--server-config', serverConfig()]);
    expect({ exitCode: revoked.exitCode, stderr: revoked.stderr }).toEqual({ exitCode: 0, stderr: '' });
    // (Every address alice opened from in the last cmd_timeout + 1 minute: knockd logs minutes only.)
    expect(revoked.stdout).toMatch(new RegExp(`Closed the door alice opened lately for [0-9., ]*${SECOND_ADDR.replace(/\./g, '\\.')}`));
    expect(await inDoors(SECOND_ADDR)).toBe(false);
    expect(revoked.stdout).toMatch(new RegExp(`Reloaded knockd \\(pid ${pid}, unchanged\\)`));
    expect(isProcessAlive(pid)).toBe(true);
    expect(await readFile(sshd.authorizedKeys, 'utf8')).not.toContain(aliceKey);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).not.toContain('stick-alice');

    const opensBefore = ((await log()).match(/OPEN SESAME/g) ?? []).length;
    await flushDoors();
    const aliceLines = await lines(alice.sequences);
    // Her stick's next line (knockd took it just now: a replay), the one after, and an old one.
    for (const sequence of [aliceLines.unused[0] as string[], aliceLines.unused[1] as string[], aliceLines.used[0] as string[]]) {
      await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...sequence]);
    }
    await sleep(1000);
    expect(((await log()).match(/OPEN SESAME/g) ?? []).length).toBe(opensBefore);
    expect(await inDoors(CLIENT_ADDR)).toBe(false);

    const held = await session;
    expect({ exitCode: held.exitCode, stdout: held.stdout.trim() }).toEqual({ exitCode: 0, stdout: 'still-here' });
    const again = await callhome(bob, 'echo', 'bob-again');
    expect({ exitCode: again.exitCode, stdout: again.stdout.trim() }).toEqual({ exitCode: 0, stdout: 'bob-again' });
    const list = JSON.parse((await stick('list', '--json')).stdout) as { members: { name: string; state: string }[] };
    expect(list.members.map((m) => [m.name, m.state])).toEqual([['ssh', 'active'], ['alice', 'revoked'], ['bob', 'active']]);
    // Unknown names and a second revoke change nothing.
    const conf = await readFile(join(out, 'knockd.conf'), 'utf8');
    expect((await stick('revoke', 'carol')).exitCode).toBe(2);
    expect((await stick('revoke', 'alice')).exitCode).toBe(2);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toBe(conf);
  });

  it('stick add --remote through a knock stick: the server makes the door, the new stick gets its sequences and gets in; one via sequence spent', async () => {
    await sleep(3500); // the doors of the last test have timed out
    await flushDoors();
    const dana = await makeLabStick(join(lab.dir, 'dana'), sshd);
    const wrapper = join(lab.dir, 'knockstick-on-server');
    await writeFile(wrapper, `#!/bin/sh\nexec ${process.execPath} ${join(DIST_BIN, 'knockstick.js')} "$@"\n`, { mode: 0o755 });
    const viaUsed = await used(join(out, 'stick-bob'));
    const viaStickUsed = (await lines(bob.sequences)).unused.length;
    const r = await runIn(lab.clientNs, process.execPath, [
      join(DIST_BIN, 'knockstick.js'), 'stick', 'add', 'dana', '--stick', dana.root, '--count', '6',
      '--remote', '--via', bob.root, '--remote-knockstick', wrapper, '--server-config', serverConfig(),
    ], { env, timeoutMs: 60_000 });
    expect({ exitCode: r.exitCode, stderr: r.exitCode === 0 ? '' : r.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`Reloaded knockd \\(pid ${pid}, unchanged\\)`));
    // Exactly one of bob's sequences spent, on both sides.
    expect(await used(join(out, 'stick-bob'))).toBe(viaUsed + 1);
    expect((await lines(bob.sequences)).unused.length).toBe(viaStickUsed - 1);
    // The new stick: the server's door file and its copy match, 0600, its settings name its door.
    expect(await readFile(dana.sequences, 'utf8')).toBe(await readFile(join(out, 'stick-dana'), 'utf8'));
    expect((await stat(dana.sequences)).mode & 0o777).toBe(0o600);
    const settings = await readFile(join(dana.root, '.ssh', 'knockstick.conf'), 'utf8');
    expect(settings).toContain(`server_file = ${join(out, 'stick-dana')}`);
    expect(settings).toMatch(/ports = \d+-\d+/);
    // The sequences never went through argv or the output.
    const first = (await lines(dana.sequences)).unused[0] as string[];
    expect(r.stdout + r.stderr).not.toContain(first.join(','));
    const danaKey = (await readFile(join(dana.root, '.ssh', 'id_ed25519.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    expect(await readFile(join(out, 'sticks.conf'), 'utf8')).toContain(`ssh_key = ${danaKey}`);

    await sleep(3500);
    await flushDoors();
    const bobBefore = await used(join(out, 'stick-bob'));
    const inside = await callhome(dana, 'echo', 'in:dana');
    expect({ exitCode: inside.exitCode, stdout: inside.stdout.trim() }).toEqual({ exitCode: 0, stdout: 'in:dana' });
    expect(await used(join(out, 'stick-dana'))).toBe(1);
    expect(await used(join(out, 'stick-bob'))).toBe(bobBefore);
    // A second add of the same name is refused before any sequence is spent.
    const again = await runIn(lab.clientNs, process.execPath, [
      join(DIST_BIN, 'knockstick.js'), 'stick', 'add', 'dana', '--stick', dana.root, '--remote', '--via', bob.root, '--remote-knockstick', wrapper, '--server-config', serverConfig(),
    ], { env, timeoutMs: 60_000 });
    expect(again.exitCode).toBe(2);
    expect(await used(join(out, 'stick-bob'))).toBe(bobBefore);
  });

  it("the first stick's seqgen --remote keeps out of every other stick's pool (the stick knows no pools: the server's sticks.conf names them)", async () => {
    await sleep(3500);
    await flushDoors();
    const serverFile = join(out, 'ssh');
    const before = (await lines(serverFile)).unused.length;
    const refill = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'seqgen', '150', '--remote', '--stick', first.root, '--server-file', serverFile], { env, timeoutMs: 90_000 });
    expect({ exitCode: refill.exitCode, stderr: refill.stderr }).toMatchObject({ exitCode: 0 });
    // 150 x 5 ports drawn from all 64k would land ~100 times in the two other active pools.
    // The pools of the active members (alice's, revoked, is free again).
    const sections = (await readFile(join(out, 'sticks.conf'), 'utf8')).split(/^(?=\[)/m).filter((t) => !/^revoked = /m.test(t));
    const pools = sections.flatMap((t) => [...t.matchAll(/^pool = ([\d,-]+)$/gm)]).flatMap((m) =>
      (m[1] as string).split(',').map((r) => r.split('-').map(Number) as [number, number?]),
    );
    expect(pools.length).toBeGreaterThanOrEqual(2);
    const inAPool = (port: number) => pools.some(([low, high]) => port >= low && port <= (high ?? low));
    // (server init's first lines came before the pools: a pool only keeps its ports out of them
    // where they were still unused, so only the new lines are checked.)
    const { unused } = await lines(serverFile);
    expect(unused.length).toBe(before - 1 + 150); // its connection spent one
    expect(unused.slice(-150).flat().map((p) => Number(p.split(':')[0])).filter(inAPool)).toEqual([]);
    expect((await lines(first.sequences)).unused).toEqual(unused);
  });

  it('panic still stops everything: knockd exits and no stick opens a door', async () => {
    await sleep(3500);
    await flushDoors();
    const panic = /panic_sequence = (\S+)/.exec(await readFile(serverConfig(), 'utf8'))?.[1]?.split(',') ?? [];
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...panic]);
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 50)).toBe(true);
    for (const file of [join(out, 'ssh'), join(out, 'stick-bob')]) await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...((await lines(file)).unused[0] as string[])]);
    await sleep(500);
    expect(await inDoors(CLIENT_ADDR)).toBe(false);
  });
});
