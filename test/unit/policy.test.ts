import { describe, expect, it } from '@jest/globals';
import { EMPTY_STATE, fingerprint, markUsed, planCandidates, recordSuccess, scheduleAttempts } from '../../src/core/policy.js';
import { parseSequenceFile, type Sequence } from '../../src/core/sequences.js';

const file = (text: string) => parseSequenceFile(text, 'stick', 'stick').file;
const TEXT = '#101,102\n#103,104\n#105,106\n 107,108\n 109,110\n 111,112\n 113,114\n';

describe('planCandidates', () => {
  it('offers the next line, two ahead (never the last unused) and the last two unconfirmed used lines', () => {
    const plan = planCandidates(file(TEXT), EMPTY_STATE);
    expect(plan.unused).toBe(4);
    expect(plan.candidates.map((c) => [c.lineNo, c.offset])).toEqual([[4, 0], [5, 1], [6, 2], [3, -1], [2, -2]]);
  });

  it('leaves out the last unused line even when it is within the window', () => {
    const plan = planCandidates(file('#101,102\n 103,104\n 105,106\n'), EMPTY_STATE);
    expect(plan.candidates.map((c) => c.lineNo)).toEqual([2, 1]);
  });

  it('does not look back past the confirmed line', () => {
    const f = file(TEXT);
    const line3 = f.lines[2]?.sequence as Sequence;
    const plan = planCandidates(f, { confirmedLine: 3, confirmedFingerprint: fingerprint(line3), lastOpenedAt: null });
    expect(plan.candidates.filter((c) => c.offset < 0)).toEqual([]);
  });

  it('ignores a confirmation record that no longer matches the file (edited by hand)', () => {
    const plan = planCandidates(file(TEXT), { confirmedLine: 3, confirmedFingerprint: 'not-this-one', lastOpenedAt: null });
    expect(plan.candidates.filter((c) => c.offset < 0).map((c) => c.lineNo)).toEqual([3, 2]);
  });
});

describe('scheduleAttempts', () => {
  it('tries next, ahead, back, next, two ahead, two back, and round again', () => {
    const plan = planCandidates(file(TEXT), EMPTY_STATE);
    expect(scheduleAttempts(plan.candidates, 8).map((c) => c.offset)).toEqual([0, 1, -1, 0, 2, -2, 0, 1]);
  });

  it('repeats the next sequence when it is the only candidate', () => {
    const plan = planCandidates(file(' 1,2\n 3,4\n'), EMPTY_STATE);
    expect(scheduleAttempts(plan.candidates, 3).map((c) => c.lineNo)).toEqual([1, 1, 1]);
  });
});

describe('recordSuccess and markUsed', () => {
  it('marks every unused line up to the winner and confirms it', () => {
    const f = file(TEXT);
    const winner = planCandidates(f, EMPTY_STATE).candidates.find((c) => c.offset === 1)!;
    const record = recordSuccess(f, EMPTY_STATE, winner, false, 42);
    expect(record.markLines).toEqual([4, 5]);
    expect(record.state).toEqual({ confirmedLine: 5, confirmedFingerprint: fingerprint(winner.sequence), lastOpenedAt: 42 });
  });

  it('keeps the winner unconfirmed when the door was already open', () => {
    const f = file(TEXT);
    const winner = planCandidates(f, EMPTY_STATE).candidates[0]!;
    expect(recordSuccess(f, EMPTY_STATE, winner, true, 42).state.confirmedLine).toBeNull();
  });

  it('marks like knockd: the leading space becomes "#", and a line without one keeps its digits', () => {
    expect(markUsed(' 1,2\n3,4\n 5,6\n', [1, 2])).toBe('#1,2\n#3,4\n 5,6\n');
    expect(markUsed(' 1,2\r\n 3,4', [2])).toBe(' 1,2\r\n#3,4');
  });
});

describe('the pause between knocks', () => {
  it('is the --gap on the first attempt and at least 20 ms on every retry (packets reordered by a router)', async () => {
    const { gapForAttempt, RETRY_GAP_MS } = await import('../../src/callhome/index.js');
    expect(RETRY_GAP_MS).toBe(20);
    expect([0, 1, 5].map((i) => gapForAttempt(i, 1))).toEqual([1, 20, 20]);
    expect([0, 1].map((i) => gapForAttempt(i, 50))).toEqual([50, 50]);
  });
});
