// The real knockd, in a network namespace, on a sequence file written by seqgen: sequences that
// seqgen appends while knockd runs open the door once the older ones are used, and a used one
// never opens it again.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, makeStick } from '../helpers/cli.js';
import { SERVER_ADDR, createLab, shellQuote, startKnockd, waitFor, type KnockdHandle, type Lab } from '../../src/lab/lab.js';
import { formatSequence, parseSequenceFile, unusedLines } from '../../src/core/sequences.js';

jest.setTimeout(60_000);

let lab: Lab;
let knockd: KnockdHandle | undefined;
let serverFile: string;
let stickRoot: string;
let openedFile: string;

beforeAll(async () => {
  lab = await createLab();
  serverFile = join(lab.dir, 'ssh');
  stickRoot = join(lab.dir, 'stick');
  openedFile = join(lab.dir, 'opened');
  await makeStick(stickRoot); // a stick is a directory with its .ssh/config
  await writeFile(openedFile, '');
});

afterAll(async () => {
  await knockd?.stop();
  await lab?.teardown();
});

const files = () => ['--server-file', serverFile, '--stick', stickRoot];

async function openings(): Promise<string[]> {
  return (await readFile(openedFile, 'utf8')).split('\n').filter(Boolean);
}

/** The stick's sequences in file order (the test plays the client and reads them itself). */
async function stickSequences(): Promise<string[]> {
  const text = await readFile(join(stickRoot, '.ssh', 'sequences'), 'utf8');
  return parseSequenceFile(text, 'stick', 'stick').file.lines.filter((l) => l.sequence !== null).map((l) => formatSequence(l.sequence!));
}

/** Knocks with the real `knock` client from the client namespace: one SYN per port. */
async function knock(sequence: string): Promise<void> {
  await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...sequence.split(',')]);
}

async function serverLine(index: number): Promise<string> {
  return (await readFile(serverFile, 'utf8')).split('\n')[index] ?? '';
}

describe('seqgen with the real knockd', () => {
  it('sequences appended while knockd runs open the door after the old ones are used; a used one never again', async () => {
    expect((await knockstick(['seqgen', '2', ...files()])).exitCode).toBe(0);
    const config = join(lab.dir, 'knockd.conf');
    await writeFile(
      config,
      `[options]
  logfile = ${join(lab.dir, 'knockd.log')}
[door]
  one_time_sequences = ${serverFile}
  seq_timeout = 5
  tcpflags = syn
  start_command = echo %IP% >> ${shellQuote(openedFile)}
  cmd_timeout = 1
  stop_command = true
`,
    );
    knockd = await startKnockd(lab, config);

    // Appending while knockd holds the file open is the only safe way to refill it.
    expect((await knockstick(['seqgen', '3', ...files()])).exitCode).toBe(0);
    const sequences = await stickSequences();
    expect(sequences).toHaveLength(5);

    for (const [i, sequence] of sequences.slice(0, 3).entries()) {
      await knock(sequence);
      const opened = await waitFor(async () => (await openings()).length === i + 1 && (await serverLine(i)).startsWith('#'), 5000);
      expect({ knock: i + 1, opened, knockd: opened ? '' : knockd.output() }).toEqual({ knock: i + 1, opened: true, knockd: '' });
      expect(await openings()).toEqual(Array(i + 1).fill('198.18.0.2'));
      if (i === 0) {
        // Replaying a spent sequence opens nothing: its ports are no longer even watched.
        await knock(sequence);
        await new Promise((r) => setTimeout(r, 700));
        expect(await openings()).toHaveLength(1);
      }
    }

    // knockd consumed 3 that the stick (which only seqgen touched here) still lists: more than
    // callhome looks ahead, so status says so (exit 4) and names `seqgen repair`, which marks them on
    // the stick. The server keeps 2, never 0 (knockd crashes on its last).
    const status = await knockstick(['seqgen', 'status', '--json', ...files()]);
    expect(status.exitCode).toBe(4);
    const report = JSON.parse(status.stdout);
    expect(report.lockstep).toEqual({ state: 'drift', stickAhead: -3 });
    expect(report.heal).toMatchObject({ by: 'repair', action: 'mark', lines: [1, 2, 3], command: 'seqgen repair' });
    expect(report.server.unused).toBe(2);
    const serverText = await readFile(serverFile, 'utf8');
    expect(unusedLines(parseSequenceFile(serverText, serverFile, 'server').file)).toHaveLength(2);
    expect(serverText.split('\n').slice(0, 3).every((l) => l.startsWith('#'))).toBe(true);
    expect((await knockstick(['seqgen', 'repair', ...files()])).exitCode).toBe(0);
    expect(await readFile(serverFile, 'utf8')).toBe(serverText);
    expect(await readFile(join(stickRoot, '.ssh', 'sequences'), 'utf8')).toBe(serverText);
  });
});
