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
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { CLIENT_ADDR, SERVER_ADDR, createLab, isProcessAlive, runIn, startSshd, waitFor, type Lab } from '../../src/lab/lab.js';
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
      for (const name of ['home', 'bob', 'carol']) sticks[name] = await makeLabStick(join(lab.dir, `stick-${name}`), sshd);
      out = join(lab.dir, 'server');
      await mkdir(join(lab.dir, 'home'));
      const init = await knockstick([
        'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf,
        '--out', out, '--firewall', 'nftables', '--door-policy', 'window', '--stick', (sticks.home as LabStick).root, '--cmd-timeout', '20',
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
