// Router mode (seed Appendix C) with the real tools: knockd on the router forwards SSH to two inner
// hosts, each behind its own door and sequence file, both on port 22 of the router's address;
// callhome reaches each by its alias; panic closes every forwarding door.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import {
  INNER_ADDRS,
  SERVER_ADDR,
  addInnerNetwork,
  createLab,
  isProcessAlive,
  runIn,
  startKnockdDaemon,
  startSshd,
  waitFor,
  type FirewallKind,
  type Lab,
} from '../../src/lab/lab.js';
import { askpassEnv, makeLabStick, type LabStick } from '../../src/lab/stick.js';
import { flushDnatCommand } from '../../src/core/firewall.js';

jest.setTimeout(120_000);

describe.each<FirewallKind>(['nftables', 'iptables'])('server init --inner (router mode) with %s', (firewall) => {
  let lab: Lab;
  let stick: LabStick;
  let out: string;
  let env: Record<string, string>;
  let pid: number;

  beforeAll(async () => {
    lab = await createLab();
    const inner = await addInnerNetwork(lab);
    const web = await startSshd(lab, { ns: inner, listen: INNER_ADDRS[0], name: 'sshd-web' });
    const db = await startSshd(lab, { ns: inner, listen: INNER_ADDRS[1], name: 'sshd-db' });
    stick = await makeLabStick(join(lab.dir, 'stick'), web, { passphrase: 'router lab' });
    await appendFile(db.authorizedKeys, await readFile(join(stick.root, '.ssh', 'id_ed25519.pub'), 'utf8'));
    // Both inner hosts answer at the router's address, port 22: each alias has its own HostKeyAlias.
    const host = (name: string) => [`Host ${name}`, `  HostName ${SERVER_ADDR}`, '  User root', `  HostKeyAlias ${name}`, '  IdentityFile .ssh/id_ed25519', '  IdentitiesOnly yes', '  UserKnownHostsFile .ssh/known_hosts', ''];
    await writeFile(stick.config, [...host('web'), ...host('db')].join('\n'));
    await writeFile(join(stick.root, '.ssh', 'known_hosts'), `web ${web.publicKey}\ndb ${db.publicKey}\n`);
    out = join(lab.dir, 'router');
    const init = await knockstick([
      'server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--stick', stick.root, '--firewall', firewall,
      '--inner', `web=${INNER_ADDRS[0]}`, '--inner', `db=${INNER_ADDRS[1]}`, '--cmd-timeout', '3', '--count', '6',
      // Window doors: this file checks the router flows with doors that stay for the timeout (and
      // `--knock-only`, whose check would spend a single-use door); doors-router.test.ts checks
      // single-use router doors.
      '--door-policy', 'window',
    ]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const routerFile = join(out, firewall === 'nftables' ? 'router.nft' : 'router-iptables.sh');
    const load = await runIn(lab.serverNs, 'sh', ['-c', firewall === 'nftables' ? 'nft -c -f "$1" && nft -f "$1"' : 'sh "$1" && sh "$1"', 'sh', routerFile]);
    expect(load).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    pid = await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    await mkdir(join(lab.dir, 'home'));
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home'), ...(await askpassEnv(lab.dir, 'router lab')) };
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  /**
   * Shuts the forwarding doors now (each inner host's nft set or xt_recent list flushed, as panic
   * does; knockd.conf has no stop_command to race), rather than waiting out cmd_timeout: 4 s each
   * time with iptables, whose xt_recent entry stays listed. Nothing here checks the timeout itself
   * (doors-router.test.ts does).
   */
  const forwardingDoorsClosed = async (): Promise<void> => {
    const inner = INNER_ADDRS.map((address, i) => ({ name: i === 0 ? 'web' : 'db', address }));
    await lab.run(lab.serverNs, 'sh', ['-c', flushDnatCommand(firewall, inner)]);
  };

  const callhome = (alias: string, ...args: string[]) =>
    runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), alias, '--stick', stick.root, '--door-window', '0', ...args], { env });

  it('each inner host has its own door and sequence file, and callhome reaches each through the router', async () => {
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toMatch(/\[web\][\s\S]*one_time_sequences = .*\/web\n[\s\S]*\[db\][\s\S]*\/db\n/);
    for (const [alias, address] of [['web', INNER_ADDRS[0]], ['db', INNER_ADDRS[1]]] as const) {
      const result = await callhome(alias, '--', 'echo $SSH_CONNECTION');
      expect({ alias, exitCode: result.exitCode, stderr: result.exitCode === 0 ? '' : result.stderr }).toEqual({ alias, exitCode: 0, stderr: '' });
      // $SSH_CONNECTION: client address, client port, server address, server port, as the inner host saw them.
      expect(result.stdout.trim()).toMatch(new RegExp(` ${address.replace(/\./g, '\\.')} 22$`));
      const status = await knockstick(['seqgen', 'status', '--json', '--host', alias, '--server-file', join(out, alias), '--stick', stick.root]);
      expect(JSON.parse(status.stdout)).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 } });
      // Known limit of router mode with window doors: while web's door is open for this address, port
      // 22 of the router leads to web, and a probe cannot tell inner hosts apart (ssh's strict host
      // key check then refuses to talk to the wrong one). So the next alias waits for the door to
      // close. (Single-use doors are gone with their first connection: doors-router.test.ts.)
      await forwardingDoorsClosed();
    }
  });

  it('panic stops knockd and closes the forwarding doors too', async () => {
    expect((await callhome('web', '--knock-only')).exitCode).toBe(0);
    const doors = async (): Promise<string> =>
      firewall === 'nftables'
        ? (await lab.run(lab.serverNs, 'nft', ['list', 'table', 'ip', 'knockstick_nat'])).replace(/[\s\S]*?(set door_web[\s\S]*?})[\s\S]*/, '$1')
        : lab.run(lab.serverNs, 'cat', ['/proc/net/xt_recent/knockstick_web']);
    expect(await doors()).toContain('198.18.0.2');
    const sequence = /panic_sequence = ([\d,]+)/.exec(await readFile(join(out, 'server.conf'), 'utf8'))?.[1] ?? '';
    const send = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'panic', 'send', '--hostname', SERVER_ADDR, '--sequence', sequence], { env });
    expect(send.exitCode).toBe(0);
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 50)).toBe(true);
    expect(await doors()).not.toContain('198.18.0.2');
  });
});
