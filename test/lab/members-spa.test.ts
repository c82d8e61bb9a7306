// Several SPA sticks on one server, each with its own access.conf stanza, against the real fwknopd
// 2.6.10, sshd and nftables in network namespaces: server init --method spa makes stick "home"'s
// stanza, stick add gives two more sticks their own; each gets in on its own keys, one after the
// other and at the same moment; revoking one (while another holds a session) refuses its next
// packet and a replay of an old one, closes the door it opened, and leaves the others working.
// fwknopd runs as a daemon, as on a server: with ENABLE_UDP_SERVER, fwknopd 2.6.10 stops on SIGHUP
// (its UDP loop ends on any signal), so each change restarts it with its own command line; the
// test checks the new pid runs and the replay cache outlives the restart.
//
// Doors are windows here: the three sticks share the lab's one client address, and a single-use
// door (one element per address in spa4) would be spent by whichever ssh connects first.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { CLIENT_ADDR, SERVER_ADDR, createLab, isProcessAlive, runIn, startKnockdDaemon, startSshd, waitFor, type Lab } from '../../src/lab/lab.js';
import { makeLabStick, type LabStick } from '../../src/lab/stick.js';

jest.setTimeout(120_000);

describe('SPA members: three sticks, three stanzas, one fwknopd', () => {
  let lab: Lab;
  let out: string;
  let run: string;
  const sticks: Record<string, LabStick> = {};
  const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') });

  /** `knockstick stick ...` as the server runs it: inside the server namespace, as root. */
  const stickCommand = (args: string[]) =>
    runIn(lab.serverNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'stick', ...args, '--server-config', join(out, 'server.conf'), '--access-conf', join(out, 'access.conf'), '--fwknopd-conf', join(out, 'fwknopd.conf'), '--fwknopd-pidfile', join(run, 'fwknopd.pid')], { env: env() });
  const callhome = (name: string, command: string[] = ['echo', `in-${name}`]) =>
    runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', (sticks[name] as LabStick).root, '--', ...command], { env: env() });
  const spa4 = async (): Promise<string> => lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'spa4']);
  const fwknopdPid = async (): Promise<number> => Number((await readFile(join(run, 'fwknopd.pid'), 'utf8')).trim());
  const flushDoors = async (): Promise<void> => void (await lab.run(lab.serverNs, 'nft', ['flush', 'set', 'inet', 'knockstick', 'spa4']));
  /** Which doors are open for the client, by the stanza that opened them (the element's comment). */
  const openedBy = async (): Promise<string[]> => {
    const json = JSON.parse(await lab.run(lab.serverNs, 'nft', ['-j', 'list', 'set', 'inet', 'knockstick', 'spa4'])) as { nftables: { set?: { elem?: ({ elem: { val: string; comment?: string } } | string)[] } }[] };
    const elems = json.nftables.flatMap((i) => i.set?.elem ?? []);
    return elems.flatMap((e) => (typeof e === 'string' ? (e === CLIENT_ADDR ? ['home'] : []) : e.elem.val === CLIENT_ADDR ? [e.elem.comment ?? 'home'] : []));
  };
  /** One new SPA packet from a stick's fwknoprc [home], sent from the client namespace (and saved). */
  const spaSend = async (name: string, save: string) => {
    const r = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'spa', 'send', '--rc-file', join((sticks[name] as LabStick).root, '.ssh', 'fwknoprc'), '-n', 'home', '--save-packet', save], { env: env() });
    expect({ exitCode: r.exitCode, stderr: r.exitCode === 0 ? '' : r.stderr }).toEqual({ exitCode: 0, stderr: '' });
  };
  /** The bytes of a saved packet, sent again as they are (a replay). */
  const replay = async (saved: string): Promise<void> => {
    const wire = (await readFile(saved, 'utf8')).trim();
    await runIn(lab.clientNs, process.execPath, ['-e', `const s=require('node:dgram').createSocket('udp4');s.send(process.argv[1],62201,${JSON.stringify(SERVER_ADDR)},()=>s.close())`, wire], { env: env() });
  };

  beforeAll(async () => {
    lab = await createLab();
    try {
      const sshd = await startSshd(lab);
      for (const name of ['home', 'bob', 'carol', 'erin']) sticks[name] = await makeLabStick(join(lab.dir, `stick-${name}`), sshd);
      out = join(lab.dir, 'server');
      await mkdir(join(lab.dir, 'home'));
      const init = await knockstick([
        'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf,
        '--out', out, '--firewall', 'nftables', '--door-policy', 'window', '--stick', (sticks.home as LabStick).root, '--cmd-timeout', '40',
      ]);
      expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
      await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
      // As a daemon (it forks; the pid is in its pidfile), like the service on a real server.
      run = join(lab.dir, 'fwknopd-run');
      await mkdir(run, { mode: 0o700 });
      await lab.run(lab.serverNs, '/usr/sbin/fwknopd', ['-c', join(out, 'fwknopd.conf'), '-a', join(out, 'access.conf'), '-d', join(run, 'digest.cache'), '-p', join(run, 'fwknopd.pid'), '-r', run]);
      expect(await waitFor(async () => (await lab.run(lab.serverNs, 'ss', ['-Hlun', 'sport = :62201'])).includes('62201'), 10_000)).toBe(true);
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  });
  afterAll(async () => {
    await lab?.teardown(); // kills every process in its namespaces, fwknopd's daemon too
  });

  it('stick add gives two more sticks their own stanza and keys; fwknopd is restarted on them and runs', async () => {
    for (const name of ['bob', 'carol']) {
      const pid = await fwknopdPid();
      const added = await stickCommand(['add', name, '--method', 'spa', '--spa-server', SERVER_ADDR, '--stick', (sticks[name] as LabStick).root]);
      expect({ exitCode: added.exitCode, stderr: added.stderr }).toEqual({ exitCode: 0, stderr: '' });
      expect(added.stdout).toMatch(/read by fwknopd --exit-parse-config first/);
      expect(added.stdout).toMatch(new RegExp(`restarted fwknopd .*pid ${pid} -> \\d+, running`));
      expect(isProcessAlive(pid)).toBe(false);
      expect(isProcessAlive(await fwknopdPid())).toBe(true);
    }
    const access = await readFile(join(out, 'access.conf'), 'utf8');
    expect(access.match(/^SOURCE /gm)).toHaveLength(3);
    const keys = await Promise.all(['home', 'bob', 'carol'].map(async (n) => /KEY_BASE64\s+(\S+)/.exec(await readFile(join((sticks[n] as LabStick).root, '.ssh', 'fwknoprc'), 'utf8'))?.[1]));
    expect(new Set(keys).size).toBe(3);
    for (const k of keys) expect(access).toContain(k);
    expect(await readFile(join(out, 'sticks.conf'), 'utf8')).toMatch(/\[bob\]\nmethod = spa\ndoor = stick-bob/);
    const listed = await knockstick(['stick', 'list', '--json', '--server-config', join(out, 'server.conf')]);
    const list = JSON.parse(listed.stdout) as { members: { name: string; method: string; state: string }[] };
    expect(list.members.map((m) => `${m.name}:${m.method}:${m.state}`)).toEqual(['bob:spa:active', 'carol:spa:active']);
  });

  it('stick add --remote: a spare stick is added from afar, over the connection of a stick that gets in', async () => {
    // The server's knockstick, as installed there (here: this build, run by node).
    const wrapper = join(lab.dir, 'knockstick-on-server');
    await writeFile(wrapper, `#!/bin/sh\nexec ${process.execPath} ${join(DIST_BIN, 'knockstick.js')} "$@"\n`, { mode: 0o755 });
    await flushDoors();
    const r = await runIn(lab.clientNs, process.execPath, [
      join(DIST_BIN, 'knockstick.js'), 'stick', 'add', 'erin', '--method', 'spa', '--spa-server', SERVER_ADDR, '--stick', (sticks.erin as LabStick).root,
      '--remote', '--via', (sticks.home as LabStick).root, '--remote-knockstick', wrapper,
      '--server-config', join(out, 'server.conf'), '--access-conf', join(out, 'access.conf'), '--fwknopd-conf', join(out, 'fwknopd.conf'), '--fwknopd-pidfile', join(run, 'fwknopd.pid'),
    ], { env: env() });
    expect({ exitCode: r.exitCode, stderr: r.exitCode === 0 ? '' : r.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(/Added stick erin \(SPA\) on home over ssh/);
    expect(await readFile(join(out, 'sticks.conf'), 'utf8')).toMatch(/\[erin\]\nmethod = spa/);
    expect(await waitFor(async () => isProcessAlive(await fwknopdPid()), 10_000)).toBe(true);
    await flushDoors();
    const erin = await callhome('erin');
    expect(erin.exitCode === 0 ? erin.stdout.trim() : erin.stderr).toBe('in-erin');
    expect(await openedBy()).toEqual(['stick-erin']);
  });

  it('each stick gets in on its own keys, one after the other and all at the same moment', async () => {
    for (const name of ['carol', 'home', 'bob']) {
      await flushDoors();
      const r = await callhome(name);
      expect(r.exitCode === 0 ? r.stdout.trim() : { exitCode: r.exitCode, stderr: r.stderr }).toBe(`in-${name}`);
      // The door was opened by this stick's own stanza.
      expect(await openedBy()).toEqual([name === 'home' ? 'home' : `stick-${name}`]);
    }
    await flushDoors();
    const all = await Promise.all(['home', 'bob', 'carol'].map((n) => callhome(n)));
    expect(all.map((r) => r.exitCode === 0 ? r.stdout.trim() : r.stderr)).toEqual(['in-home', 'in-bob', 'in-carol']);
  });

  it('stick revoke carol: her packets (new, and a replay) open nothing, her door closes, bob\'s session and the others go on', async () => {
    const pid = await fwknopdPid();
    // A packet of carol's, accepted before the revoke (it will be replayed after).
    await flushDoors();
    const saved = join(lab.dir, 'carol.packet');
    await spaSend('carol', saved);
    expect(await waitFor(async () => (await openedBy()).includes('stick-carol'), 10_000)).toBe(true);
    // bob is in a session while carol is revoked.
    const session = callhome('bob', ['sh', '-c', 'sleep 5; echo bob-still-here']);
    await new Promise((r) => setTimeout(r, 2500));
    const revoked = await stickCommand(['revoke', 'carol']);
    expect({ exitCode: revoked.exitCode, stderr: revoked.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(revoked.stdout).toMatch(/closed its 1 open door/);
    expect(revoked.stdout).toMatch(new RegExp(`restarted fwknopd .*pid ${pid} -> \\d+, running`));
    expect(await spa4()).not.toContain('stick-carol');
    expect(isProcessAlive(await fwknopdPid())).toBe(true);
    expect((await session).stdout.trim()).toBe('bob-still-here');

    // Her replayed packet and a fresh one: fwknopd opens nothing.
    await flushDoors();
    await replay(saved);
    await spaSend('carol', join(lab.dir, 'carol-after.packet'));
    const refusedCallhome = await callhome('carol');
    expect({ exitCode: refusedCallhome.exitCode, doors: await openedBy() }).toEqual({ exitCode: 7, doors: [] });
    // The others still get in.
    for (const name of ['home', 'bob']) {
      await flushDoors();
      expect((await callhome(name)).stdout.trim()).toBe(`in-${name}`);
    }
    expect(await readFile(join(out, 'access.conf'), 'utf8')).not.toMatch(/stick carol/);
  });
});

// The lab: a knockd server made by server init (stick "home", door [ssh]), a second knock
// stick added with stick add, and an SPA stick added to the same server, which sets up fwknopd's
// side (fwknopd.conf, access.conf, udp/62201 in the firewall, panic stopping fwknopd too).
describe('a knockd server with two knock sticks and one SPA stick', () => {
  let lab: Lab;
  let out: string;
  let run: string;
  let knockdPid: number;
  const sticks: Record<string, LabStick> = {};
  const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') });
  const stick = (args: string[]) =>
    runIn(lab.serverNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'stick', ...args, '--server-config', join(out, 'server.conf')], { env: env() });
  const spaPaths = () => ['--access-conf', join(out, 'access.conf'), '--fwknopd-conf', join(out, 'fwknopd.conf'), '--fwknopd-pidfile', join(run, 'fwknopd.pid')];
  const callhome = (name: string, command: string[] = ['echo', `in-${name}`]) =>
    runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', (sticks[name] as LabStick).root, '--', ...command], { env: env(), timeoutMs: 60_000 });
  const flushDoors = async (): Promise<void> => void (await lab.run(lab.serverNs, 'nft', ['flush', 'set', 'inet', 'knockstick', 'doors4']));
  const doors = async (): Promise<string[]> => {
    const json = JSON.parse(await lab.run(lab.serverNs, 'nft', ['-j', 'list', 'set', 'inet', 'knockstick', 'doors4'])) as { nftables: { set?: { elem?: ({ elem: { val: string; comment?: string } } | string)[] } }[] };
    return json.nftables.flatMap((i) => i.set?.elem ?? []).map((e) => (typeof e === 'string' ? 'knockd' : (e.elem.comment ?? 'knockd')));
  };
  const fwknopdPid = async (): Promise<number> => Number((await readFile(join(run, 'fwknopd.pid'), 'utf8')).trim());
  const spaSend = (name: string, save: string) =>
    runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'spa', 'send', '--rc-file', join((sticks[name] as LabStick).root, '.ssh', 'fwknoprc'), '-n', 'home', '--save-packet', save], { env: env() });
  const replay = async (saved: string): Promise<void> => {
    const wire = (await readFile(saved, 'utf8')).trim();
    await runIn(lab.clientNs, process.execPath, ['-e', `const s=require('node:dgram').createSocket('udp4');s.send(process.argv[1],62201,${JSON.stringify(SERVER_ADDR)},()=>s.close())`, wire], { env: env() });
  };
  const startFwknopdDaemon = async (): Promise<void> => {
    await lab.run(lab.serverNs, '/usr/sbin/fwknopd', ['-c', join(out, 'fwknopd.conf'), '-a', join(out, 'access.conf'), '-d', join(run, 'digest.cache'), '-p', join(run, 'fwknopd.pid'), '-r', run]);
    expect(await waitFor(async () => (await lab.run(lab.serverNs, 'ss', ['-Hlun', 'sport = :62201'])).includes('62201'), 10_000)).toBe(true);
  };

  beforeAll(async () => {
    lab = await createLab();
    try {
      const sshd = await startSshd(lab);
      for (const name of ['home', 'bob', 'carol', 'dave', 'erin']) sticks[name] = await makeLabStick(join(lab.dir, `stick-${name}`), sshd);
      out = join(lab.dir, 'server');
      run = join(lab.dir, 'fwknopd-run');
      await mkdir(run, { mode: 0o700 });
      await mkdir(join(lab.dir, 'home'));
      // Window doors: the three sticks share the lab's one client address (see the first describe).
      const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--stick', (sticks.home as LabStick).root, '--firewall', 'nftables', '--door-policy', 'window', '--cmd-timeout', '40', '--count', '8']);
      expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
      await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall.nft')]);
      knockdPid = await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('stick add (knock) and stick add --method spa on the knockd server: fwknopd\'s side is set up, knockd keeps its pid', async () => {
    const bob = await stick(['add', 'bob', '--stick', (sticks.bob as LabStick).root, '--count', '8']);
    expect({ exitCode: bob.exitCode, stderr: bob.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const carol = await stick(['add', 'carol', '--method', 'spa', '--spa-server', SERVER_ADDR, '--stick', (sticks.carol as LabStick).root, ...spaPaths()]);
    expect({ exitCode: carol.exitCode, stderr: carol.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(carol.stdout).toContain(`Reloaded knockd (pid ${knockdPid}, unchanged)`);
    expect(carol.stdout).toContain('the running firewall lets SPA packets in now');
    expect(carol.stdout).toMatch(/fwknopd is not running/);
    expect(await readFile(join(out, 'firewall.nft'), 'utf8')).toContain('udp dport 62201 accept');
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toMatch(/command\s*=\s*: knockstick stops fwknopd too; kill -TERM "\$\(cat '[^']+fwknopd\.pid'\)"/);
    expect(isProcessAlive(knockdPid)).toBe(true);
    // A spare SPA stick, so that fwknopd keeps a stanza when carol's goes.
    const dave = await stick(['add', 'dave', '--method', 'spa', '--spa-server', SERVER_ADDR, '--stick', (sticks.dave as LabStick).root, ...spaPaths()]);
    expect({ exitCode: dave.exitCode, stderr: dave.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const list = JSON.parse((await stick(['list', '--json'])).stdout) as { members: { name: string; method: string }[] };
    expect(list.members.map((m) => `${m.name}:${m.method}`)).toEqual(['ssh:knock', 'bob:knock', 'carol:spa', 'dave:spa']);
    await startFwknopdDaemon();
  });

  it('all three get in, one after the other, and a knock stick and an SPA stick at the same moment', async () => {
    for (const name of ['carol', 'home', 'bob']) {
      await flushDoors();
      const r = await callhome(name);
      expect(r.exitCode === 0 ? r.stdout.trim() : { exitCode: r.exitCode, stderr: r.stderr }).toBe(`in-${name}`);
      expect(await doors()).toEqual([name === 'carol' ? 'stick-carol' : 'knockd']);
    }
    await flushDoors();
    const both = await Promise.all(['home', 'carol'].map((n) => callhome(n)));
    expect(both.map((r) => (r.exitCode === 0 ? r.stdout.trim() : r.stderr))).toEqual(['in-home', 'in-carol']);
  });

  it('stick revoke carol (SPA) while bob (knock) has a session: her packets open nothing, knockd keeps its pid, bob and home go on', async () => {
    await flushDoors();
    const saved = join(lab.dir, 'carol.packet');
    expect((await spaSend('carol', saved)).exitCode).toBe(0);
    expect(await waitFor(async () => (await doors()).includes('stick-carol'), 10_000)).toBe(true);
    const session = callhome('bob', ['sh', '-c', 'sleep 5; echo bob-still-here']);
    await new Promise((r) => setTimeout(r, 2500));
    const revoked = await stick(['revoke', 'carol', ...spaPaths()]);
    expect({ exitCode: revoked.exitCode, stderr: revoked.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(revoked.stdout).toMatch(/closed its 1 open door/);
    expect(revoked.stdout).toMatch(/restarted fwknopd .*running/);
    expect(await doors()).not.toContain('stick-carol');
    expect((await session).stdout.trim()).toBe('bob-still-here');
    expect(isProcessAlive(knockdPid)).toBe(true);
    await flushDoors();
    await replay(saved);
    expect((await spaSend('carol', join(lab.dir, 'carol-after.packet'))).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await doors()).toEqual([]);
    for (const name of ['home', 'bob']) {
      await flushDoors();
      expect((await callhome(name)).stdout.trim()).toBe(`in-${name}`);
    }
  });

  it('stick add --remote through a knock stick: one of its sequences is spent, the spare SPA stick gets in', async () => {
    const wrapper = join(lab.dir, 'knockstick-on-server');
    await writeFile(wrapper, `#!/bin/sh\nexec ${process.execPath} ${join(DIST_BIN, 'knockstick.js')} "$@"\n`, { mode: 0o755 });
    const usedLines = async (): Promise<number> => (await readFile(join(out, 'ssh'), 'utf8')).split('\n').filter((l) => l.startsWith('#')).length;
    const before = await usedLines();
    await flushDoors();
    const r = await runIn(lab.clientNs, process.execPath, [
      join(DIST_BIN, 'knockstick.js'), 'stick', 'add', 'erin', '--method', 'spa', '--spa-server', SERVER_ADDR, '--stick', (sticks.erin as LabStick).root,
      '--remote', '--via', (sticks.home as LabStick).root, '--remote-knockstick', wrapper, '--server-config', join(out, 'server.conf'), ...spaPaths(),
    ], { env: env() });
    expect({ exitCode: r.exitCode, stderr: r.exitCode === 0 ? '' : r.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(await usedLines()).toBe(before + 1);
    expect(await waitFor(async () => isProcessAlive(await fwknopdPid()), 10_000)).toBe(true);
    await flushDoors();
    const erin = await callhome('erin');
    expect(erin.exitCode === 0 ? erin.stdout.trim() : erin.stderr).toBe('in-erin');
    expect(await doors()).toEqual(['stick-erin']);
  });

  it('panic still stops everything: knockd and fwknopd exit, every door closes, no packet opens one', async () => {
    await flushDoors();
    const daveSend = (save: string) => spaSend('dave', save);
    expect((await daveSend(join(lab.dir, 'dave1.packet'))).exitCode).toBe(0);
    expect(await waitFor(async () => (await doors()).includes('stick-dave'), 10_000)).toBe(true);
    const fwPid = await fwknopdPid();
    const panic = /panic_sequence = (\S+)/.exec(await readFile(join(out, 'server.conf'), 'utf8'))?.[1]?.split(',') ?? [];
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...panic]);
    expect(await waitFor(async () => !isProcessAlive(knockdPid), 10_000)).toBe(true);
    expect(await waitFor(async () => !isProcessAlive(fwPid), 10_000)).toBe(true);
    expect(await doors()).toEqual([]);
    expect((await daveSend(join(lab.dir, 'dave2.packet'))).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await doors()).toEqual([]);
  });

  it('revoking the last SPA stick of a knockd server stops fwknopd; stick add --method spa sets it up again', async () => {
    const first = await stick(['revoke', 'erin', ...spaPaths()]);
    expect({ exitCode: first.exitCode, stderr: first.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const revoked = await stick(['revoke', 'dave', ...spaPaths()]);
    expect({ exitCode: revoked.exitCode, stderr: revoked.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(revoked.stdout).toMatch(/fwknopd is not running/); // panic stopped it already
    expect((await readFile(join(out, 'access.conf'), 'utf8')).match(/^SOURCE/gm)).toBeNull();
    const again = await stick(['add', 'fay', '--method', 'spa', '--spa-server', SERVER_ADDR, '--stick', (sticks.carol as LabStick).root, '--host', 'spare', ...spaPaths()]);
    expect({ exitCode: again.exitCode, stderr: again.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect((await readFile(join(out, 'access.conf'), 'utf8')).match(/^SOURCE/gm)).toHaveLength(1);
  });
});
