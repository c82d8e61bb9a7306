// One drift rule: what `seqgen status` calls healed by callhome is exactly what callhome heals.
// Checked against the model of knockd (test/helpers/fake-knockd.ts) for every position of the two
// sides in small files, every callhome record that matters, both directions; plus the pieces of
// `seqgen repair` (the stick fix, torn lines, stale temp files). The real knockd: test/lab/drift.test.ts.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callhomeViaProxy as callhome } from '../helpers/proxied-callhome.js';
import { DEFAULTS, type CallhomeOptions } from '../../src/callhome/options.js';
import { formatCallhomeState, parseCallhomeState } from '../../src/core/callhome-state.js';
import { findStaleTempFiles, isStaleTemp, STALE_TEMP_AGE_MS } from '../../src/core/files.js';
import { describeLockstep, healingOf, lockstepOf, stickFix, type Healing } from '../../src/core/lockstep.js';
import { EMPTY_STATE, WINDOW, fingerprint, markUsed, planCandidates, recordSuccess, unmarkUsed, type CallhomeState } from '../../src/core/policy.js';
import { NEUTRALISED_MARK, formatLine, parseSequenceFile, type Sequence, type SequenceFile } from '../../src/core/sequences.js';
import { planTornRepair, splitTornLine } from '../../src/core/torn.js';
import { FakeClock, FakeKnockd, FakeProber, LossyKnocker } from '../helpers/fake-knockd.js';
import { MemoryFiles, MemoryLock } from '../helpers/memory-stick.js';
import { tempDir } from '../helpers/cli.js';

const seq = (base: number): Sequence => [0, 1, 2].map((i) => ({ port: base + i, protocol: 'tcp' as const }));
const ALL = Array.from({ length: 12 }, (_, i) => seq(30000 + i * 10));

/** A file of the first `n` sequences with the first `used` marked "#". */
function text(n: number, used: number): string {
  return ALL.slice(0, n)
    .map((s, i) => (i < used ? `#${formatLine(s).slice(1)}` : formatLine(s)))
    .join('');
}
const parse = (t: string, role: 'server' | 'stick'): SequenceFile => parseSequenceFile(t, role, role).file;

let dir: { path: string; cleanup: () => Promise<void> };
let stick: string;
beforeEach(async () => {
  dir = await tempDir();
  stick = join(dir.path, 'stick');
  await mkdir(join(stick, '.ssh'), { recursive: true });
  await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 198.18.0.1\n');
});
afterEach(async () => dir.cleanup());

const options: CallhomeOptions = {
  help: false,
  host: 'home',
  sshArgs: ['true'],
  stickRoot: '',
  dryRun: false,
  verbose: false,
  knockOnly: true,
  ipv6: false,
  attempts: DEFAULTS.attempts,
  doorTimeoutMs: 500,
  gapMs: 1,
  probeIntervalMs: 10,
  doorWindowMs: 0,
  precheckMs: 300,
  warnBelow: 0,
  lockWaitSeconds: 5,
  ssh: 'ssh',
  method: 'knock',
};
const silent = { stdout: { write: () => undefined }, stderr: { write: () => undefined }, stderrIsTTY: false };

interface Outcome {
  /** callhome's exit code, or its error code. */
  readonly result: number | string;
  readonly crashed: boolean;
  /** How the sides relate afterwards. */
  readonly after: string;
}

/**
 * One callhome (defaults, no packet loss) against the model of knockd: `n` lines, knockd has
 * consumed `s`, the stick has marked `k`, the stick's record is `state`.
 */
async function callhomeOnce(n: number, s: number, k: number, state: CallhomeState): Promise<Outcome> {
  const files = new MemoryFiles();
  const sequencesFile = join(stick, '.ssh', 'sequences');
  files.texts.set(sequencesFile, text(n, k));
  files.texts.set(`${sequencesFile}.state`, formatCallhomeState(state));
  const clock = new FakeClock();
  const server = new FakeKnockd(ALL.slice(0, n), clock);
  server.current = s;
  const prober = new FakeProber(server, clock);
  const deps = {
    knocker: new LossyKnocker(server),
    prober,
    now: clock.now,
    sleep: clock.sleep,
    resolveAddress: async () => ({ address: '198.18.0.1', family: 4 as const }),
    runSsh: async () => 0,
    lock: new MemoryLock().lock,
    files,
  };
  const result = await callhome({ ...options, stickRoot: stick }, deps, silent).catch((e: { code: string }) => e.code);
  const after = lockstepOf(parse(text(n, server.current), 'server'), parse(files.texts.get(sequencesFile) ?? '', 'stick'));
  return { result, crashed: server.crashed, after: after.state === 'drift' ? `drift ${after.stickAhead}` : after.state };
}

/** The callhome records worth trying for a stick with `k` used lines: none, and each of the last two confirmed. */
function statesFor(k: number): CallhomeState[] {
  const states: CallhomeState[] = [EMPTY_STATE];
  for (const line of [k, k - 1]) {
    if (line >= 1) states.push({ confirmedLine: line, confirmedFingerprint: fingerprint(ALL[line - 1] as Sequence), lastOpenedAt: null });
  }
  return states;
}

describe('the drift rule: status promises exactly what callhome does', () => {
  it(`every shift status calls drift healed by callhome (at most ${WINDOW} either way) is healed by the next callhome, and no other`, async () => {
    const disagreements: unknown[] = [];
    const healedOffsets = new Set<number>();
    for (let n = 2; n <= 8; n++) {
      // knockd never consumes its last line (it would crash), so s < n.
      for (let s = 0; s < n; s++) {
        for (let k = 0; k <= n; k++) {
          for (const state of statesFor(k)) {
            const server = parse(text(n, s), 'server');
            const stickFile = parse(text(n, k), 'stick');
            const lockstep = lockstepOf(server, stickFile);
            if (lockstep.state !== 'drift') continue;
            const healing = healingOf(lockstep, server, stickFile, state);
            const outcome = await callhomeOnce(n, s, k, state);
            const gotIn = outcome.result === 0;
            const promised = healing.by === 'callhome';
            if (promised) healedOffsets.add(lockstep.stickAhead);
            // Promised: gets in and ends in step. Not promised: does not get in. Never a crash.
            const ok = outcome.crashed === false && (promised ? gotIn && outcome.after === 'in-step' : !gotIn);
            if (!ok) disagreements.push({ n, s, k, confirmed: state.confirmedLine, lockstep, healing: healing.by, outcome });
          }
        }
      }
    }
    expect(disagreements).toEqual([]);
    expect([...healedOffsets].sort((a, b) => a - b)).toEqual([-2, -1, 1, 2].filter((d) => Math.abs(d) <= WINDOW));
  }, 120_000);

  it('every drift status sends to `seqgen repair` is undone on the stick alone, to in step', () => {
    for (let n = 2; n <= 9; n++) {
      for (let s = 0; s < n; s++) {
        for (let k = 0; k <= n; k++) {
          const server = parse(text(n, s), 'server');
          const stickText = text(n, k);
          const lockstep = lockstepOf(server, parse(stickText, 'stick'));
          if (lockstep.state !== 'drift') continue;
          const fix = stickFix(lockstep.stickAhead, server, parse(stickText, 'stick'));
          expect({ n, s, k, fix: fix?.action }).toEqual({ n, s, k, fix: s > k ? 'mark' : 'unmark' });
          const fixed = fix!.action === 'mark' ? markUsed(stickText, fix!.lines) : unmarkUsed(stickText, fix!.lines);
          expect(fixed).toBe(text(n, s));
        }
      }
    }
  });

  it('a stick 3 behind (three callhomes killed after the door opened) is not called healable: repair marks it', () => {
    const server = parse(text(8, 3), 'server');
    const stickFile = parse(text(8, 0), '/stick/.ssh/sequences' as 'stick');
    const lockstep = lockstepOf(server, stickFile);
    expect(lockstep).toEqual({ state: 'drift', stickAhead: -3 });
    const healing = healingOf(lockstep, server, stickFile);
    expect(healing).toEqual({ by: 'repair', action: 'mark', lines: [1, 2, 3], why: `callhome looks at most ${WINDOW} ahead` });
    const description = describeLockstep(lockstep, server, stickFile, healing);
    expect(description).toMatch(/^out of step: the server is 3 ahead of the stick\..*would not get in: callhome looks at most 2 ahead\. `seqgen repair` marks .* lines 1-3 used/);
    expect(description).not.toMatch(/Not an error/);
  });

  it('near exhaustion the reachable window shrinks: a stick 1 behind a server on its last line is not healed by callhome', () => {
    // The server's one unused line is its last: callhome never knocks it (knockd 0.8 would crash).
    const server = parse(text(4, 3), 'server');
    const stickFile = parse(text(4, 2), 'stick');
    const healing = healingOf(lockstepOf(server, stickFile), server, stickFile);
    expect(healing).toMatchObject({ by: 'repair', action: 'mark', why: expect.stringMatching(/last sequence/) });
  });

  it('a stick ahead whose lines its own record says were confirmed is not called healable', () => {
    const server = parse(text(6, 0), 'server');
    const stickFile = parse(text(6, 1), 'stick');
    const state = { confirmedLine: 1, confirmedFingerprint: fingerprint(ALL[0] as Sequence), lastOpenedAt: null };
    expect(healingOf(lockstepOf(server, stickFile), server, stickFile, state)).toMatchObject({ by: 'repair', action: 'unmark', lines: [1] });
    expect(healingOf(lockstepOf(server, stickFile), server, stickFile, EMPTY_STATE)).toEqual({ by: 'callhome', offset: -1, lineNo: 1 });
  });

  it('describes drift callhome heals with the line it will knock, and says it is not an error', () => {
    const server = parse(text(8, 2), '/srv/ssh' as 'server');
    const stickFile = parse(text(8, 0), 'stick');
    const healing: Healing = healingOf(lockstepOf(server, stickFile), server, stickFile);
    expect(healing).toEqual({ by: 'callhome', offset: 2, lineNo: 3 });
    expect(describeLockstep(lockstepOf(server, stickFile), server, stickFile, healing)).toMatch(/drift: the server is 2 ahead.*knocks stick line 3 \(2 ahead\).*Not an error/);
  });
});

describe('callhome after a confirmed win some lines back', () => {
  it('marks unused again the lines after the winner: knockd expects them next', () => {
    const file = parse(text(8, 3), 'stick');
    const winner = planCandidates(file, EMPTY_STATE).candidates.find((c) => c.offset === -2)!;
    expect(winner.lineNo).toBe(2);
    expect(recordSuccess(file, EMPTY_STATE, winner, false, 1).unmarkLines).toEqual([3]);
    // A door that was already open says nothing about where knockd is: nothing is un-marked.
    expect(recordSuccess(file, EMPTY_STATE, winner, true, 1).unmarkLines).toEqual([]);
  });

  it('unmarkUsed turns the "#" back into the leading space and leaves other lines alone', () => {
    expect(unmarkUsed('#1,2\n#3,4\n 5,6\n', [2, 3])).toBe('#1,2\n 3,4\n 5,6\n');
  });
});

describe('a server line torn by an interrupted append', () => {
  const stickText = text(5, 0);
  const stickFile = parse(stickText, 'stick');

  it('is the last line without "\\n"; blanks alone are not torn', () => {
    expect(splitTornLine(' 1,2\n 3,')).toEqual({ complete: ' 1,2\n', torn: { lineNo: 2, text: ' 3,' } });
    expect(splitTornLine(' 1,2\n').torn).toBeNull();
    expect(splitTornLine(' 1,2\n ').torn).toBeNull();
    expect(splitTornLine(' 1,2\n#3,4').torn).toBeNull(); // a used last line: knockd skips it whatever follows
  });

  it('that starts the stick\'s line at that place is completed by appending the rest of it', () => {
    const full = text(5, 0);
    const cut = full.indexOf('\n', full.indexOf('\n') + 1) + 6; // two whole lines, then 5 bytes of the third
    const { complete, torn } = splitTornLine(full.slice(0, cut));
    const repair = planTornRepair(torn!, parse(complete, 'server'), stickFile);
    expect(repair).toEqual({ kind: 'complete', append: full.slice(cut, full.indexOf('\n', cut) + 1), stickLine: 3 });
    expect(full.slice(0, cut) + (repair.kind === 'complete' ? repair.append : '')).toBe(full.slice(0, full.indexOf('\n', cut) + 1));
  });

  it('that is the whole line, only its "\\n" missing, needs just the "\\n"', () => {
    const full = text(2, 0);
    const { complete, torn } = splitTornLine(full.slice(0, -1));
    expect(planTornRepair(torn!, parse(complete, 'server'), stickFile)).toMatchObject({ kind: 'complete', append: '\n' });
  });

  it('that matches nothing is made a line knockd refuses, followed by a blank line that keeps knockd\'s "#" off it', () => {
    const server = `${text(2, 0)} 99,9`;
    const { complete, torn } = splitTornLine(server);
    const repair = planTornRepair(torn!, parse(complete, 'server'), stickFile);
    expect(repair).toEqual({ kind: 'neutralise', append: `${NEUTRALISED_MARK}\n\n` });
    const healed = parseSequenceFile(server + (repair.kind === 'neutralise' ? repair.append : ''), 'server', 'server');
    expect(healed.problems).toEqual([]);
    expect(healed.file.lines[2]).toEqual({ lineNo: 3, state: 'used', sequence: null });
    // Appending after it is fine; taking the blank line away is refused.
    expect(parseSequenceFile(`${server}${NEUTRALISED_MARK}\n\n${formatLine(ALL[9] as Sequence)}`, 's', 'server').problems).toEqual([]);
    expect(parseSequenceFile(`${server}${NEUTRALISED_MARK}\n${formatLine(ALL[9] as Sequence)}`, 's', 'server').problems[0]?.message).toMatch(/must be followed by a blank line/);
  });

  it('past the stick\'s last line matches nothing (a --remote refill the stick never got)', () => {
    const { complete, torn } = splitTornLine(`${stickText} 3`);
    expect(planTornRepair(torn!, parse(complete, 'server'), stickFile).kind).toBe('neutralise');
  });
});

describe('temp files of killed runs', () => {
  const owner = (alive: number[]) => ({ isAlive: (pid: number) => alive.includes(pid), now: () => 10 * STALE_TEMP_AGE_MS, selfPid: 1000 });

  it('are stale when their PID is gone, or alive but old, or their file is only written under the lock we hold; never ours', () => {
    const fresh = 10 * STALE_TEMP_AGE_MS - 1000;
    const old = 8 * STALE_TEMP_AGE_MS;
    expect(isStaleTemp(42, fresh, false, owner([]))).toBe(true);
    expect(isStaleTemp(42, fresh, false, owner([42]))).toBe(false);
    expect(isStaleTemp(42, old, false, owner([42]))).toBe(true);
    expect(isStaleTemp(42, fresh, true, owner([42]))).toBe(true);
    expect(isStaleTemp(1000, old, true, owner([]))).toBe(false);
  });

  it('are found by writeAtomically\'s name pattern, regular files only', async () => {
    const d = join(dir.path, 'temps');
    await mkdir(d);
    for (const name of ['.sequences.42.0123456789ab.tmp', '.config.43.0123456789ab.tmp', '.config.44.0123456789ab.tmp', 'sequences', '.sequences.x.0123456789ab.tmp']) {
      await writeFile(join(d, name), 'x');
    }
    await utimes(join(d, '.config.44.0123456789ab.tmp'), new Date(), new Date()); // fresh, PID 44 alive: a live usbsetup
    await symlink('/etc/passwd', join(d, '.sequences.45.0123456789ab.tmp'));
    await mkdir(join(d, '.sequences.46.0123456789ab.tmp'));
    const found = await findStaleTempFiles(d, undefined, { isAlive: (pid) => pid === 43 || pid === 44, now: () => Date.now(), selfPid: 1000 });
    expect(found.map((p) => p.slice(d.length + 1))).toEqual(['.sequences.42.0123456789ab.tmp']);
  });
});

describe('the callhome record', () => {
  it('reads back what it wrote', () => {
    const state = { confirmedLine: 3, confirmedFingerprint: 'abc', lastOpenedAt: 5 };
    expect(parseCallhomeState(formatCallhomeState(state), 'x')).toEqual({ state });
  });
});
