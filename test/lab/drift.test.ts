// The drift rule against the real knockd, sshd and firewall: for the largest shift `seqgen status`
// calls healed by callhome, in each direction, the next callhome gets a shell and leaves both sides
// in step; a stick 7 behind is refused by status, healed by `seqgen repair`, then gets a shell.
// And a torn server line neutralised by repair is skipped by knockd without its "#" landing on it.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick, makeStick } from '../helpers/cli.js';
import { closeDoorNow, explain as explainRun, lockstepStatus, setUpDoorLab, shutDoor, startDoorKeeper, tearDownDoorLab, type DoorLab } from '../helpers/door-lab.js';
import { SERVER_ADDR, runIn, shellQuote, startKnockd, waitFor, type RunResult } from '../../src/lab/lab.js';
import { WINDOW } from '../../src/core/policy.js';
import { formatSequence, parseSequenceFile } from '../../src/core/sequences.js';

jest.setTimeout(120_000);

let door: DoorLab;

beforeAll(async () => {
  door = await setUpDoorLab({ firewall: 'iptables' });
});

afterAll(async () => {
  await tearDownDoorLab(door);
});

const files = () => ['--server-file', door.serverFile, '--stick', door.stick.root];

/** Marks the first `n` unused lines of `text` used, the way knockd does. */
function spend(text: string, n: number): string {
  let left = n;
  return text
    .split('\n')
    .map((line) => (left > 0 && line.startsWith(' ') ? (left--, `#${line.slice(1)}`) : line))
    .join('\n');
}

/**
 * Fresh files with COUNT lines on both sides; knockd has consumed `serverUsed` of them and the stick
 * has marked `stickUsed` (as after callhomes killed at the wrong moment); knockd started on them.
 */
async function driftedDoor(count: number, serverUsed: number, stickUsed: number): Promise<void> {
  await shutDoor(door);
  for (const f of [door.serverFile, door.stick.sequences, `${door.stick.sequences}.state`]) await rm(f, { force: true });
  expect((await knockstick(['seqgen', String(count), ...files()])).exitCode).toBe(0);
  const text = await readFile(door.serverFile, 'utf8');
  await writeFile(door.serverFile, spend(text, serverUsed));
  await writeFile(door.stick.sequences, spend(text, stickUsed));
  await startDoorKeeper(door, 2);
}

function callhome(args: readonly string[]): Promise<RunResult> {
  return runIn(door.lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', door.stick.root, ...args], { env: door.env });
}

const status = () => lockstepStatus(door);

const explain = (result: RunResult) => explainRun(door, result);

describe('the drift rule with the real knockd', () => {
  it(`a stick ${WINDOW} behind (the most status calls healed by callhome): the next callhome gets a shell, in step after`, async () => {
    await driftedDoor(8, WINDOW, 0);
    expect(await status()).toMatchObject({ exitCode: 0, lockstep: { state: 'drift', stickAhead: -WINDOW }, heal: { by: 'callhome', command: 'callhome' } });
    // A short wait per attempt: the door opens within ~50 ms of the last knock here.
    const result = await callhome(['--door-timeout', '800', '--', 'echo', 'shell-ok']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('shell-ok');
    expect(result.stderr).toMatch(new RegExp(`line ${WINDOW + 1}, ${WINDOW} ahead`));
    expect(await status()).toMatchObject({ exitCode: 0, lockstep: { state: 'in-step' } });
  });

  it(`a stick ${WINDOW} ahead: the next callhome gets a shell, and the stick lists again what knockd still expects`, async () => {
    await driftedDoor(8, 0, WINDOW);
    expect(await status()).toMatchObject({ exitCode: 0, lockstep: { state: 'drift', stickAhead: WINDOW }, heal: { by: 'callhome' } });
    const result = await callhome(['--door-timeout', '800', '--', 'echo', 'shell-ok']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stderr).toMatch(new RegExp(`line 1, ${WINDOW} back, unconfirmed`));
    expect(await status()).toMatchObject({ exitCode: 0, lockstep: { state: 'in-step' } });
    // And the next one takes the next line at once.
    // Shut at once (knockd keeps running), so that it must knock: an open door would answer its probe.
    await closeDoorNow(door);
    const next = await callhome(['--door-window', '0', '--', 'true']);
    expect(explain(next)).toEqual({ exitCode: 0 });
    expect(next.stderr).toMatch(/line 2, the next sequence\)/);
  });

  it('a stick 7 behind: status says `seqgen repair` (exit 4), callhome is indeed locked out, repair heals it, then a shell', async () => {
    await driftedDoor(12, 7, 0);
    expect(await status()).toMatchObject({ exitCode: 4, lockstep: { state: 'drift', stickAhead: -7 }, heal: { by: 'repair', action: 'mark', command: 'seqgen repair' } });
    const locked = await callhome(['--door-timeout', '300', '--', 'true']);
    expect(locked.exitCode).toBe(7);
    expect(locked.stderr).toMatch(/seqgen repair/);
    const repaired = await knockstick(['seqgen', 'repair', ...files()]);
    expect(repaired.exitCode).toBe(0);
    expect(repaired.stdout).toMatch(/marked 7 line\(s\) used/);
    const result = await callhome(['--', 'echo', 'shell-ok']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('shell-ok');
    expect(await status()).toMatchObject({ exitCode: 0, lockstep: { state: 'in-step' } });
  });
});

describe('seqgen --remote and a torn server line', () => {
  it('refuses to append after it (the append would seal a foreign line into knockd\'s file) and names repair', async () => {
    await driftedDoor(8, 0, 0);
    // Cut short in the 5th port: still five valid ports to a parser, but not the line the stick has.
    const torn = ' 41001,41002,41003,41004,4100';
    await writeFile(door.serverFile, `${await readFile(door.serverFile, 'utf8')}${torn}`);
    const result = await runIn(door.lab.clientNs, process.execPath, [join(DIST_BIN, 'seqgen.js'), '5', '--remote', ...files()], { env: door.env });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toMatch(/home:.*server-ssh line 9 is torn.*hint: run `seqgen repair` on the server/s);
    const after = await readFile(door.serverFile, 'utf8');
    expect(after.endsWith(`\n${torn}`)).toBe(true);
    expect(after.split('\n')).toHaveLength(9);
  });
});

describe('a torn server line neutralised by seqgen repair, read by the real knockd', () => {
  /**
   * A server file and stick of their own (NAME-ssh, NAME-stick), and a knockd on that file whose
   * door only records each opening (a line in NAME-opened): what the torn-line cases knock against.
   */
  const recordingDoor = async (name: string) => {
    await shutDoor(door);
    const serverFile = join(door.lab.dir, `${name}-ssh`);
    const stickRoot = join(door.lab.dir, `${name}-stick`);
    const opened = join(door.lab.dir, `${name}-opened`);
    await makeStick(stickRoot); // a stick is a directory with its .ssh/config
    await writeFile(opened, '');
    const startKnockdOnFile = async (): Promise<void> => {
      const config = join(door.lab.dir, `${name}-knockd.conf`);
      await writeFile(
        config,
        `[options]\n  logfile = ${join(door.lab.dir, `${name}-knockd.log`)}\n[door]\n  one_time_sequences = ${serverFile}\n  seq_timeout = 5\n  tcpflags = syn\n` +
          `  start_command = echo %IP% >> ${shellQuote(opened)}\n  cmd_timeout = 1\n  stop_command = true\n`,
      );
      door.knockd = await startKnockd(door.lab, config);
    };
    const knock = (sequence: string) => door.lab.run(door.lab.clientNs, 'knock', [SERVER_ADDR, ...sequence.split(',')]);
    const openings = async () => (await readFile(opened, 'utf8')).split('\n').filter(Boolean).length;
    return { serverFile, stickRoot, files: ['--server-file', serverFile, '--stick', stickRoot], startKnockdOnFile, knock, openings };
  };

  it('knockd skips it, and the next sequence opens the door once, not twice', async () => {
    const { serverFile, stickRoot, files: tornFiles, startKnockdOnFile, knock, openings } = await recordingDoor('torn');
    expect((await knockstick(['seqgen', '2', ...tornFiles])).exitCode).toBe(0);
    // An append of lines the stick never got (a --remote refill killed mid-write), torn after
    // " 9001,90": a valid two-port line to knockd, of a length it does not expect.
    await writeFile(serverFile, `${await readFile(serverFile, 'utf8')} 9001,90`);
    const repaired = await knockstick(['seqgen', 'repair', ...tornFiles]);
    expect(repaired.stdout).toMatch(/neutralised the torn/);
    expect((await knockstick(['seqgen', '2', ...tornFiles])).exitCode).toBe(0);
    await startKnockdOnFile();
    const stickLines = parseSequenceFile(await readFile(join(stickRoot, '.ssh', 'sequences'), 'utf8'), 's', 'stick').file.lines;
    const sequences = stickLines.filter((l) => l.sequence !== null).map((l) => formatSequence(l.sequence ?? []));
    // Every line in order, the two after the torn line included; each opens exactly once.
    for (const [i, sequence] of sequences.slice(0, 3).entries()) {
      await knock(sequence);
      expect({ i, opened: await waitFor(async () => (await openings()) === i + 1, 5000) }).toEqual({ i, opened: true });
      if (i === 2) {
        // The first line after the neutralised one, knocked again: had knockd's "#" landed on the
        // torn line, this "one-time" sequence would open the door a second time.
        await knock(sequence);
        await new Promise((r) => setTimeout(r, 800));
        expect(await openings()).toBe(3);
      }
    }
    const serverLines = (await readFile(serverFile, 'utf8')).split('\n');
    expect(serverLines[2]).toMatch(/^ 9001,90,99999 torn line neutralised/);
    expect(serverLines.filter((l) => l.startsWith('#'))).toHaveLength(3);
    expect(serverLines[4]?.startsWith('#')).toBe(true);
  });

  it('a torn line completed by repair while knockd runs is knocked in its turn, like any other', async () => {
    const { serverFile, files: cutFiles, startKnockdOnFile, knock, openings } = await recordingDoor('cut');
    expect((await knockstick(['seqgen', '4', ...cutFiles])).exitCode).toBe(0);
    // A seqgen killed mid-append: the server got two lines and 8 bytes of the third.
    const full = await readFile(serverFile, 'utf8');
    const cut = full.split('\n').slice(0, 2).join('\n').length + 1 + 8;
    await writeFile(serverFile, full.slice(0, cut));
    await startKnockdOnFile();
    // Repaired while knockd holds the file open: an append, which it reads at its next rescan.
    const repaired = await knockstick(['seqgen', 'repair', ...cutFiles]);
    expect(repaired.stdout).toMatch(/completed the torn .* line 3 .*; copied 1 sequence/);
    expect(await readFile(serverFile, 'utf8')).toBe(full);
    const sequences = full.split('\n').filter(Boolean).map((l) => l.trim());
    for (const [i, sequence] of sequences.slice(0, 3).entries()) {
      await knock(sequence);
      expect({ i, opened: await waitFor(async () => (await openings()) === i + 1, 5000), knockd: '' }).toEqual({ i, opened: true, knockd: '' });
    }
    expect((await readFile(serverFile, 'utf8')).split('\n').filter((l) => l.startsWith('#'))).toHaveLength(3);
  });
});
