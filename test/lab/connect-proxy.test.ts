// `knockstick connect` as ssh's ProxyCommand against the real knockd, sshd and firewall: plain ssh
// with the stick's config knocks for itself from any directory and spends exactly one sequence;
// callhome runs ssh through the same ProxyCommand; failures keep callhome's messages and exit codes.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN } from '../helpers/cli.js';
import { explain as explainRun, freshDoor as freshDoorOf, lockstepStatus, setUpDoorLab, tearDownDoorLab, type DoorLab } from '../helpers/door-lab.js';
import { runIn, type RunResult } from '../../src/lab/lab.js';

jest.setTimeout(240_000);

let door: DoorLab;

beforeAll(async () => {
  door = await setUpDoorLab({ firewall: 'iptables', proxyCommand: true });
});

afterAll(async () => {
  await tearDownDoorLab(door);
});

/** New sequence files on both sides (COUNT lines) and a knockd freshly started on them. */
const freshDoor = (count: number, cmdTimeout = 2): Promise<void> => freshDoorOf(door, count, cmdTimeout);

async function stickSettings(text: string): Promise<void> {
  await writeFile(join(door.stick.root, '.ssh', 'knockstick.conf'), text, { mode: 0o600 });
}

/** Plain ssh with the stick's config, from `/`: the ProxyCommand does the knocking. */
function plainSsh(args: readonly string[]): Promise<RunResult> {
  return runIn(door.lab.clientNs, 'sh', ['-c', 'cd / && exec ssh -F "$0" home "$@"', join(door.stick.root, '.ssh', 'config'), ...args], { env: door.env });
}

/** The built callhome, from `/`. */
function callhome(args: readonly string[]): Promise<RunResult> {
  return runIn(door.lab.clientNs, 'sh', ['-c', 'cd / && exec "$@"', 'sh', process.execPath, join(DIST_BIN, 'callhome.js'), '--stick', door.stick.root, ...args], { env: door.env });
}

/** The stick's own launcher, as a user runs it. */
function launcher(args: readonly string[]): Promise<RunResult> {
  return runIn(door.lab.clientNs, 'sh', ['-c', 'cd / && exec "$@"', 'sh', join(door.stick.root, 'callhome'), ...args], { env: door.env });
}

const used = () => lockstepStatus(door);

const explain = (result: RunResult) => explainRun(door, result);

describe('knockstick connect as the ProxyCommand of the stick\'s ssh config', () => {
  it('`cd / && ssh -F STICK/.ssh/config home` gets in with exactly one sequence spent', async () => {
    await freshDoor(8);
    await stickSettings('');
    const result = await plainSsh(['echo', 'proxy-ok']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('proxy-ok');
    // stderr is no terminal and callhome did not start it: plain ssh stays quiet.
    expect(result.stderr).not.toMatch(/door open/);
    expect(await used()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 }, stick: { used: 1 } });
  });

  it('a window door opened a moment ago is reused through the precheck\'s own connection', async () => {
    await freshDoor(8, 4);
    await stickSettings('door_policy = window\n');
    expect(explain(await plainSsh(['true']))).toEqual({ exitCode: 0 });
    expect(explain(await plainSsh(['true']))).toEqual({ exitCode: 0 });
    expect(await used()).toMatchObject({ server: { used: 1 }, stick: { used: 1 } });
  });

  it('with door_policy single-use it never tries to reuse a door: each connection knocks', async () => {
    await freshDoor(8, 4);
    await stickSettings('[home]\ndoor_policy = single-use\n');
    expect(explain(await plainSsh(['true']))).toEqual({ exitCode: 0 });
    expect(explain(await plainSsh(['true']))).toEqual({ exitCode: 0 });
    expect(await used()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 2 }, stick: { used: 2 } });
    await stickSettings('');
  });

  it('callhome runs ssh through the ProxyCommand: same messages, one sequence', async () => {
    await freshDoor(8);
    const result = await callhome(['--', 'echo', 'callhome-ok']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('callhome-ok');
    expect(result.stderr).toMatch(/door open after \d+ ms \(line 1, the next sequence\)/);
    expect(await used()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 }, stick: { used: 1 } });
  });

  it('the stick\'s callhome launcher gets in with one sequence', async () => {
    await freshDoor(8);
    const result = await launcher(['--', 'echo', 'launcher-ok']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('launcher-ok');
    expect(await used()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 }, stick: { used: 1 } });
  });

  it('a door that never opens: callhome and its launcher exit 7 with callhome\'s message alone; plain ssh 255', async () => {
    await freshDoor(8);
    await door.knockd?.stop();
    door.knockd = undefined;
    const fast = ['--attempts', '2', '--door-timeout', '200'];
    const viaCallhome = await callhome([...fast, '--', 'true']);
    expect(viaCallhome.exitCode).toBe(7);
    expect(viaCallhome.stderr).toMatch(/^callhome: the door at home \(.*\) did not open after 2 attempt\(s\)/m);
    expect(viaCallhome.stderr).not.toMatch(/Connection closed|kex_exchange/);
    const viaLauncher = await launcher([...fast, '--', 'true']);
    expect(viaLauncher.exitCode).toBe(7);
    expect(viaLauncher.stderr).not.toMatch(/Connection closed|kex_exchange/);
    const viaSsh = await plainSsh(['-o', 'ConnectTimeout=30', 'true']);
    expect(viaSsh.exitCode).toBe(255);
    expect(viaSsh.stderr).toMatch(/^knockstick connect: the door at home .* did not open after 6 attempt\(s\)/m);
    expect(await used()).toMatchObject({ server: { used: 0 }, stick: { used: 0 } });
  });

  it('with only the last sequence left: exit 8 through callhome, nothing sent', async () => {
    await freshDoor(1);
    const before = await readFile(door.serverFile, 'utf8');
    const result = await callhome(['--', 'true']);
    expect(result.exitCode).toBe(8);
    expect(result.stderr).toMatch(/^callhome: only the last unused sequence is left/m);
    expect(await readFile(door.serverFile, 'utf8')).toBe(before);
  });
});
