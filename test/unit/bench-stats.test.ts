import { describe, expect, it } from '@jest/globals';
import { evaluateTargets, fmtMs, fmtRatio, median, parseTimingLines, percentile, phaseMedians, runTimeline } from '../../src/lab/bench-stats.js';

describe('bench arithmetic', () => {
  it('median of odd and even counts, NaN for none, input left unsorted', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('percentile is nearest-rank', () => {
    const xs = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(xs, 10)).toBe(10);
    expect(percentile(xs, 90)).toBe(90);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 10)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('formats milliseconds and ratios, n/a for what was not measured', () => {
    expect(fmtMs(363.6)).toBe('364 ms');
    expect(fmtMs(NaN)).toBe('n/a');
    expect(fmtRatio(450, 375)).toBe('1.20x');
    expect(fmtRatio(NaN, 375)).toBe('n/a');
    expect(fmtRatio(450, 0)).toBe('n/a');
  });
});

describe("callhome's timing lines", () => {
  it('reads "timing: PHASE +N ms" lines and ignores the rest; a repeated phase keeps its first time', () => {
    const stderr = [
      'timing: callhome started +101.5 ms',
      'knocking...',
      'timing: knocking +170.0 ms',
      'timing: door open +233 ms',
      'timing: knocking +400.0 ms',
      'door open after 40 ms',
      '',
    ].join('\n');
    expect([...parseTimingLines(stderr)]).toEqual([
      ['callhome started', 101.5],
      ['knocking', 170],
      ['door open', 233],
    ]);
  });

  it('phase medians come in time order with how many runs printed each', () => {
    const runs = [
      new Map([['a', 10], ['b', 30]]),
      new Map([['a', 20], ['c', 25], ['b', 50]]),
      new Map([['a', 30], ['b', 40]]),
    ];
    expect(phaseMedians(runs)).toEqual([
      { phase: 'a', median: 20, runs: 3 },
      { phase: 'c', median: 25, runs: 1 },
      { phase: 'b', median: 40, runs: 3 },
    ]);
  });
});

describe("issue 14's targets", () => {
  const base = { floor0: 370, callhome0: 480, knockPoll0: 500, floor40: 600, callhome40: 700, nodeBare: 30, doorLatency: 40, maxRatio40: 1.2, slackMs: 40 };

  it('all met, with the margins', () => {
    const [ahead, overhead, ratio] = evaluateTargets(base);
    expect(ahead).toMatchObject({ met: true });
    expect(ahead?.detail).toContain('20 ms ahead');
    // 480 - 370 = 110 <= 30 + 40 + 40 = 110: exactly on the budget is met.
    expect(overhead).toMatchObject({ met: true });
    expect(overhead?.detail).toContain('budget 110 ms');
    expect(ratio).toMatchObject({ met: true });
    expect(ratio?.detail).toContain('1.17x');
  });

  it('missed ones say by how much', () => {
    const [ahead, overhead, ratio] = evaluateTargets({ ...base, callhome0: 700, callhome40: 800 });
    expect(ahead?.met).toBe(false);
    expect(ahead?.detail).toContain('200 ms behind');
    expect(overhead?.met).toBe(false);
    expect(overhead?.detail).toContain('220 ms over');
    expect(ratio?.met).toBe(false);
    expect(ratio?.detail).toMatch(/1\.33x .* 80 ms over/);
  });

  it('a number not measured leaves its target undecided, not met', () => {
    const results = evaluateTargets({ ...base, doorLatency: NaN, floor40: NaN });
    expect(results.map((r) => r.met)).toEqual([true, undefined, undefined]);
    expect(results[1]?.detail).toBe('not measured');
  });
});

describe('a run on the wire', () => {
  it("places the knocks, the door and the SYN that got in on the run's timeline, ignoring other runs' events", () => {
    const events = [
      { kind: 'knock', at: 900 },
      { kind: 'syn22', at: 1005 },
      { kind: 'knock', at: 1100 },
      { kind: 'knock', at: 1102 },
      { kind: 'door', at: 1150 },
      { kind: 'syn22', at: 1160 },
      { kind: 'syn22', at: 1200 },
      { kind: 'knock', at: 2500 },
    ] as const;
    expect(runTimeline(events, 1000, 1400)).toEqual({ firstKnock: 100, lastKnock: 102, door: 150, sshSyn: 160 });
  });

  it('no door: the knocks and the first SYN to port 22', () => {
    expect(runTimeline([{ kind: 'spa', at: 10 }], 0, 100)).toEqual({ firstKnock: 10, lastKnock: 10, door: undefined, sshSyn: undefined });
    expect(runTimeline([{ kind: 'syn22', at: 40 }, { kind: 'syn22', at: 60 }], 0, 100)).toEqual({ firstKnock: undefined, lastKnock: undefined, door: undefined, sshSyn: 40 });
  });
});
