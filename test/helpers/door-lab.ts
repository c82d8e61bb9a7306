// The knock lab most callhome-side tests share ("a door"): the real sshd and a firewall in the lab's
// server namespace, a lab stick whose key sshd accepts, a HOME and askpass for the client side, and
// a knockd (restarted per test on fresh sequence files) that opens the door. One per file or per
// describe (beforeAll), torn down in afterAll whatever happened.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { knockstick } from './cli.js';
import {
  createLab,
  killInNamespace,
  knockdConfig,
  setupFirewall,
  startKnockd,
  startSshd,
  waitFor,
  type Firewall,
  type FirewallKind,
  type KnockdHandle,
  type Lab,
  type RunResult,
  type SshdHandle,
} from '../../src/lab/lab.js';
import { askpassEnv, makeLabStick, type LabStick } from '../../src/lab/stick.js';
import { flushDoorsCommand } from '../../src/core/firewall.js';

export const LAB_PASSPHRASE = 'lab passphrase, not a real one';

export interface DoorLab {
  readonly lab: Lab;
  readonly sshd: SshdHandle;
  readonly firewall: Firewall;
  /** Reassignable: a test that moves the stick says where it is now. */
  stick: LabStick;
  /** knockd's one-time sequence file (freshDoor writes it). */
  readonly serverFile: string;
  /** The client's environment: PATH, a HOME of its own, and SSH_ASKPASS when the key has a passphrase. */
  readonly env: Record<string, string>;
  knockd?: KnockdHandle;
}

export interface DoorLabOptions {
  readonly firewall?: FirewallKind;
  /** The stick key's passphrase ('' for none; default LAB_PASSPHRASE), typed by an askpass script. */
  readonly passphrase?: string;
  /** The stick as usbsetup makes it now (launchers, bundle, ProxyCommand): see makeLabStick. */
  readonly proxyCommand?: boolean;
  /** An empty /root for sshd's logins (see startSshd). */
  readonly hideHostHome?: boolean;
  /** The stick directory's name in the lab directory (default "stick"). */
  readonly stickName?: string;
  /** More client environment (e.g. SHELL). */
  readonly env?: Record<string, string>;
}

/** Creates the lab, sshd, firewall, stick and client environment; tears the lab down if any step fails. */
export async function setUpDoorLab(options: DoorLabOptions = {}): Promise<DoorLab> {
  const lab = await createLab();
  try {
    const passphrase = options.passphrase ?? LAB_PASSPHRASE;
    const sshd = await startSshd(lab, options.hideHostHome === true ? { hideHostHome: true } : {});
    const firewall = await setupFirewall(lab, options.firewall ?? 'iptables');
    // fastKdf: the passphrase is typed at every login; 1 bcrypt round keeps that ~1 ms.
    const stick = await makeLabStick(join(lab.dir, options.stickName ?? 'stick'), sshd, {
      passphrase,
      fastKdf: true,
      ...(options.proxyCommand === true ? { proxyCommand: true } : {}),
    });
    const home = join(lab.dir, 'home');
    await mkdir(home, { mode: 0o700 });
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      ...(passphrase === '' ? {} : await askpassEnv(lab.dir, passphrase)),
      ...options.env,
    };
    return { lab, sshd, firewall, stick, serverFile: join(lab.dir, 'server-ssh'), env };
  } catch (error) {
    await lab.teardown();
    throw error;
  }
}

export async function tearDownDoorLab(door: DoorLab | undefined): Promise<void> {
  await door?.knockd?.stop();
  await door?.lab.teardown();
}

/**
 * Stops knockd and closes every door at once, for the next test's clean start: SIGKILL to knockd and
 * to the door keepers it forked (whose stop_command would otherwise close a later test's door), then
 * the firewall's doors flushed. A graceful stop waits out cmd_timeout instead, for nothing a test
 * checks (tests that check a door closing by itself wait for it in the test).
 */
export async function shutDoor(door: DoorLab): Promise<void> {
  door.knockd?.process.kill('SIGKILL');
  await door.knockd?.process;
  door.knockd = undefined;
  await killInNamespace(door.lab.serverNs, 'knockd');
  await door.lab.run(door.lab.serverNs, 'sh', ['-c', flushDoorsCommand(door.firewall.kind)]);
  expect(await door.firewall.doorOpen()).toBe(false);
}

/**
 * Closes the door now, with knockd left running (its partial knocks and one-time file as they are):
 * SIGKILL to the door keepers knockd forked (children named knockd; their later stop_command could
 * close a door opened since), then the doors flushed. For loops that need the next run to find the
 * door shut, instead of waiting out cmd_timeout.
 */
export async function closeDoorNow(door: DoorLab): Promise<void> {
  const main = door.knockd?.process.pid;
  await killInNamespace(door.lab.serverNs, 'knockd', main === undefined ? [] : [main]);
  await door.lab.run(door.lab.serverNs, 'sh', ['-c', flushDoorsCommand(door.firewall.kind)]);
  expect(await door.firewall.doorOpen()).toBe(false);
}

/** knockd (re)started on `sequencesFile` with a one-time door of `cmdTimeout` seconds. */
export async function startDoorKeeper(door: DoorLab, cmdTimeout = 2, sequencesFile = door.serverFile): Promise<void> {
  const config = join(door.lab.dir, 'knockd.conf');
  await writeFile(config, knockdConfig(door.lab, { sequencesFile, firewall: door.firewall, cmdTimeout }));
  door.knockd = await startKnockd(door.lab, config);
}

/** New sequence files on both sides (COUNT lines) and a knockd freshly started on them, every door shut. */
export async function freshDoor(door: DoorLab, count: number, cmdTimeout = 2): Promise<void> {
  await shutDoor(door);
  for (const f of [door.serverFile, door.stick.sequences, `${door.stick.sequences}.state`]) await rm(f, { force: true });
  expect((await knockstick(['seqgen', String(count), '--server-file', door.serverFile, '--stick', door.stick.root])).exitCode).toBe(0);
  await startDoorKeeper(door, cmdTimeout);
}

/** Waits (bounded) until the door has closed by itself, so that the next client must knock. */
export function doorClosed(door: DoorLab, ms = 10_000): Promise<boolean> {
  return waitFor(async () => !(await door.firewall.doorOpen()), ms, 100);
}

export interface SeqgenStatus {
  readonly exitCode: number;
  readonly lockstep: { state: string; stickAhead?: number };
  readonly server: { used: number; unused: number };
  readonly stick: { used: number; unused: number };
  readonly heal?: { by: string; command: string | null };
}

/** `seqgen status --json` of the lab's server file and stick. */
export async function lockstepStatus(door: DoorLab): Promise<SeqgenStatus> {
  const result = await knockstick(['seqgen', 'status', '--json', '--server-file', door.serverFile, '--stick', door.stick.root]);
  return { exitCode: result.exitCode, ...JSON.parse(result.stdout) };
}

/** A run's outcome with what explains a failure; compared with `{ exitCode: 0 }` so a diff shows stderr and knockd's output. */
export function explain(door: DoorLab, result: RunResult): Record<string, unknown> {
  return result.exitCode === 0 ? { exitCode: 0 } : { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, knockd: door.knockd?.output() };
}
