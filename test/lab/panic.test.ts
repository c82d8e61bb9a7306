// panic against the real knockd (run as a daemon with a pidfile, as on a server), sshd and both
// firewalls: `sh panic`, under dash and busybox sh and with each way of sending (with iptables; one
// way with nftables), stops knockd and closes a door opened just before; callhome then fails
// naming panic lockdown; a partial or wrong panic sequence changes nothing.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import {
  SERVER_ADDR,
  createLab,
  isProcessAlive,
  killInNamespace,
  knockdConfig,
  runIn,
  setupFirewall,
  startKnockdDaemon,
  startSshd,
  waitFor,
  type Firewall,
  type FirewallKind,
  type Lab,
  type RunResult,
} from '../../src/lab/lab.js';
import { askpassEnv, makeLabStick, type LabStick } from '../../src/lab/stick.js';
import { flushDoorsCommand } from '../../src/core/firewall.js';

jest.setTimeout(180_000);

interface World {
  lab: Lab;
  firewall: Firewall;
  stick: LabStick;
  serverFile: string;
  knockdConf: string;
  pidfile: string;
  logFile: string;
  panicScript: string;
  panicSequence: string;
  env: Record<string, string>;
}

async function setUp(kind: FirewallKind): Promise<World> {
  const lab = await createLab();
  try {
    const sshd = await startSshd(lab);
    const firewall = await setupFirewall(lab, kind);
    const stick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: 'panic lab' });
    await mkdir(join(lab.dir, 'home'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home'), ...(await askpassEnv(lab.dir, 'panic lab')) };
    const serverFile = join(lab.dir, 'server-ssh');
    expect((await knockstick(['seqgen', '30', '--server-file', serverFile, '--stick', stick.root])).exitCode).toBe(0);
    const knockdConf = join(lab.dir, 'knockd.conf');
    const logFile = join(lab.dir, 'knockd.log');
    await writeFile(knockdConf, knockdConfig(lab, { sequencesFile: serverFile, firewall, cmdTimeout: 10 }));
    const pidfile = join(lab.dir, 'knockd.pid');
    const panicScript = join(lab.dir, 'panic');
    // The real setup step: rotate adds the [panic] stanza and writes the settings and the script.
    const rotate = await knockstick([
      'panic', 'rotate', '--knockd-conf', knockdConf, '--server-config', join(lab.dir, 'server.conf'), '--pidfile', pidfile,
      '--firewall', kind, '--stick', stick.root, '--hostname', SERVER_ADDR, '--out', panicScript,
    ]);
    expect(rotate).toMatchObject({ exitCode: 0 });
    expect(rotate.stdout).toMatch(/knockd is not running/);
    const panicSequence = /panic_sequence = ([\d,]+)/.exec(await readFile(join(lab.dir, 'server.conf'), 'utf8'))?.[1] ?? '';
    return { lab, firewall, stick, serverFile, knockdConf, pidfile, logFile, panicScript, panicSequence, env };
  } catch (error) {
    await lab.teardown();
    throw error;
  }
}

function callhome(w: World, args: readonly string[]): Promise<RunResult> {
  return runIn(w.lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', w.stick.root, ...args], { env: w.env });
}

/** knockd freshly started, and a door open for the client (a callhome a moment ago). */
async function doorOpenWithKnockd(w: World): Promise<number> {
  // Door keepers of an earlier knockd would close our new door when their cmd_timeout ends.
  await killInNamespace(w.lab.serverNs, 'knockd');
  await w.lab.run(w.lab.serverNs, 'sh', ['-c', flushDoorsCommand(w.firewall.kind)]);
  const pid = await startKnockdDaemon(w.lab, w.knockdConf, w.pidfile, w.logFile);
  await rm(`${w.stick.sequences}.state`, { force: true });
  const opened = await callhome(w, ['--knock-only']);
  expect({ exitCode: opened.exitCode, stderr: opened.exitCode === 0 ? '' : opened.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(await w.firewall.doorOpen()).toBe(true);
  return pid;
}

describe.each<FirewallKind>(['iptables', 'nftables'])('panic with the real knockd and %s', (kind) => {
  let w: World;
  beforeAll(async () => {
    w = await setUp(kind);
  });
  afterAll(async () => {
    await w?.lab.teardown();
  });

  it('the generated script passes sh -n and shellcheck', async () => {
    const text = await readFile(w.panicScript, 'utf8');
    expect(text).toContain(`HOST='${SERVER_ADDR}'`);
    for (const [file, args] of [['sh', ['-n', w.panicScript]], ['shellcheck', ['--shell=sh', w.panicScript]]] as const) {
      const result = await runIn(w.lab.clientNs, file, args);
      expect({ file, ...result }).toEqual({ file, exitCode: 0, stdout: '', stderr: '' });
    }
  });

  it('a partial or wrong panic sequence changes nothing', async () => {
    const pid = await doorOpenWithKnockd(w);
    const ports = w.panicSequence.split(',');
    // All but the last port, then (a second later) the right ports in a wrong order. (Not the
    // reversed sequence: its first port would complete the partial attempt.)
    await w.lab.run(w.lab.clientNs, 'knock', [SERVER_ADDR, ...ports.slice(0, ports.length - 1)]);
    await new Promise((r) => setTimeout(r, 1000));
    await w.lab.run(w.lab.clientNs, 'knock', [SERVER_ADDR, ports[1] as string, ports[0] as string, ...ports.slice(2)]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(isProcessAlive(pid)).toBe(true);
    expect(await w.firewall.doorOpen()).toBe(true);
    // Clean up for the next test without waiting for knockd's door keeper (cmd_timeout).
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => !isProcessAlive(pid), 5000, 50);
    await w.lab.run(w.lab.serverNs, 'sh', ['-c', flushDoorsCommand(kind)]);
  });

  // Every shell and way of sending with iptables; one with nftables. knockd hears the knock by
  // libpcap whatever the firewall, and what the firewall changes (the panic stanza's flush) is the
  // same for each way of sending: with nftables, the first of them, `panic send`, rotate and
  // callhome after a panic check it (the full cross product cost ~30 s of CI for no other check).
  it.each(
    [
      ['dash', 'python3'],
      ['dash', 'perl'],
      ['dash', 'bash'],
      ['dash', 'nc'],
      ['busybox sh', ''],
      ['bash', ''],
    ].slice(0, kind === 'iptables' ? undefined : 1),
  )('`%s panic` (method %s) stops knockd and closes the door opened just before', async (shell, method) => {
    const pid = await doorOpenWithKnockd(w);
    const [file, ...pre] = shell.split(' ');
    const env: Record<string, string> = { PATH: w.env.PATH as string, ...(method === '' ? {} : { PANIC_METHOD: method }) };
    // timeoutMs bounds a hanging sender (the run then fails); no wall-clock assertion.
    const result = await runIn(w.lab.clientNs, file as string, [...pre, w.panicScript], { env, timeoutMs: 30_000 });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 0,
      stderr: expect.stringMatching(new RegExp(`sent the panic knock \\(5 ports\\) to ${SERVER_ADDR.replace(/\./g, '\\.')} with ${method || '\\w+'}`)),
    });
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 50)).toBe(true);
    expect(await w.firewall.doorOpen()).toBe(false);
    expect(await readFile(w.logFile, 'utf8')).toMatch(/panic: OPEN SESAME/);
  });

  it('`knockstick panic send` from the client stops knockd too', async () => {
    const pid = await doorOpenWithKnockd(w);
    const result = await runIn(w.lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'panic', 'send', '--stick', w.stick.root], {
      env: w.env,
    });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(result.stdout).toMatch(/Sent the panic knock \(5 ports\) to 198\.18\.0\.1/);
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 50)).toBe(true);
    expect(await w.firewall.doorOpen()).toBe(false);
  });

  it('rotate reloads a running knockd: the old panic script no longer works, the new one does', async () => {
    const pid = await doorOpenWithKnockd(w);
    const oldScript = join(w.lab.dir, 'panic.old');
    await writeFile(oldScript, await readFile(w.panicScript, 'utf8'));
    const rotate = await knockstick([
      'panic', 'rotate', '--knockd-conf', w.knockdConf, '--server-config', join(w.lab.dir, 'server.conf'), '--pidfile', w.pidfile,
      '--firewall', kind, '--stick', w.stick.root, '--hostname', SERVER_ADDR, '--out', w.panicScript,
    ]);
    expect(rotate).toMatchObject({ exitCode: 0 });
    expect(rotate.stdout).toMatch(new RegExp(`Reloaded knockd \\(pid ${pid}\\)`));
    w.panicSequence = /panic_sequence = ([\d,]+)/.exec(await readFile(join(w.lab.dir, 'server.conf'), 'utf8'))?.[1] ?? '';
    expect((await runIn(w.lab.clientNs, 'dash', [oldScript], { env: { PATH: w.env.PATH as string } })).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(isProcessAlive(pid)).toBe(true);
    expect((await runIn(w.lab.clientNs, 'dash', [w.panicScript], { env: { PATH: w.env.PATH as string } })).exitCode).toBe(0);
    expect(await waitFor(async () => !isProcessAlive(pid), 5000, 50)).toBe(true);
  });

  it('after a panic, callhome with a valid next sequence fails and names panic lockdown', async () => {
    await doorOpenWithKnockd(w);
    expect((await runIn(w.lab.clientNs, 'dash', [w.panicScript], { env: { PATH: w.env.PATH as string } })).exitCode).toBe(0);
    expect(await waitFor(async () => !(await w.firewall.doorOpen()), 5000, 50)).toBe(true);
    const result = await callhome(w, ['--attempts', '2', '--door-timeout', '500', '--door-window', '0', '--', 'true']);
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toMatch(/panic lockdown/);
    expect((await knockstick(['seqgen', 'status', '--json', '--server-file', w.serverFile, '--stick', w.stick.root])).exitCode).toBe(0);
  });
});
