// The benchmark's arithmetic, apart from its I/O so a unit test can check it: medians and spread,
// ratios to the floor, callhome's phases from its KNOCKSTICK_TIMING lines, and the issue 14 targets
// with how far each is met or missed.

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100); NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export function fmtMs(ms: number): string {
  return Number.isNaN(ms) ? 'n/a' : `${Math.round(ms)} ms`;
}

/** "1.23x" of `ms` over `base`; n/a when either is missing. */
export function fmtRatio(ms: number, base: number): string {
  return Number.isNaN(ms) || Number.isNaN(base) || base <= 0 ? 'n/a' : `${(ms / base).toFixed(2)}x`;
}

/**
 * callhome's phases from its stderr with KNOCKSTICK_TIMING=1: lines "timing: PHASE +N ms", N counted
 * from the start of the node process that printed them. Other lines are ignored. A phase printed
 * twice in one run (a retried knock) keeps its first time.
 */
export function parseTimingLines(stderr: string): Map<string, number> {
  const phases = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    const m = /^timing: (.+) \+(\d+(?:\.\d+)?) ms$/.exec(line.trim());
    if (m !== null && !phases.has(m[1] as string)) phases.set(m[1] as string, Number(m[2]));
  }
  return phases;
}

/** Median of each phase over runs, in the order phases first appeared, with how many runs printed it. */
export function phaseMedians(runs: readonly Map<string, number>[]): { phase: string; median: number; runs: number }[] {
  const order: string[] = [];
  const values = new Map<string, number[]>();
  for (const run of runs) {
    for (const [phase, ms] of run) {
      if (!values.has(phase)) {
        values.set(phase, []);
        order.push(phase);
      }
      values.get(phase)?.push(ms);
    }
  }
  // Phases in time order of their medians (runs that skip a phase would otherwise reorder them).
  return order.map((phase) => ({ phase, median: median(values.get(phase) ?? []), runs: values.get(phase)?.length ?? 0 })).sort((a, b) => a.median - b.median);
}

export interface TargetInputs {
  /** Medians in ms, all from one run of the bench. */
  readonly floor0: number;
  readonly callhome0: number;
  readonly knockPoll0: number;
  readonly floor40: number;
  readonly callhome40: number;
  readonly nodeBare: number;
  readonly doorLatency: number;
  /** The ratio allowed at 40 ms RTT (1.2). */
  readonly maxRatio40: number;
  /** The slack allowed over node's start and knockd's door latency (40 ms). */
  readonly slackMs: number;
}

export interface TargetResult {
  readonly target: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

/** The three targets of issue 14 item 8, each with the numbers it was judged on. */
export function evaluateTargets(t: TargetInputs): TargetResult[] {
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
  const known = (...xs: number[]) => xs.every((x) => !Number.isNaN(x));
  const results: TargetResult[] = [];

  if (known(t.callhome0, t.knockPoll0)) {
    const ahead = t.knockPoll0 - t.callhome0;
    results.push({
      target: 'callhome ahead of knock + poll + ssh at 0 ms RTT',
      met: ahead > 0,
      detail: `${verdict(ahead > 0)}: callhome ${fmtMs(t.callhome0)}, knock + poll + ssh ${fmtMs(t.knockPoll0)} (${ahead > 0 ? `${fmtMs(ahead)} ahead` : `${fmtMs(-ahead)} behind`})`,
    });
  } else results.push({ target: 'callhome ahead of knock + poll + ssh at 0 ms RTT', met: undefined, detail: 'not measured' });

  const budget = t.nodeBare + t.doorLatency + t.slackMs;
  if (known(t.callhome0, t.floor0, t.nodeBare, t.doorLatency)) {
    const overhead = t.callhome0 - t.floor0;
    results.push({
      target: `callhome's overhead over the floor at most node -e 0 + knockd's door latency + ${t.slackMs} ms`,
      met: overhead <= budget,
      detail: `${verdict(overhead <= budget)}: overhead ${fmtMs(overhead)} (callhome ${fmtMs(t.callhome0)} - floor ${fmtMs(t.floor0)}), budget ${fmtMs(budget)} (${fmtMs(t.nodeBare)} + ${fmtMs(t.doorLatency)} + ${t.slackMs} ms): ${overhead <= budget ? `${fmtMs(budget - overhead)} to spare` : `${fmtMs(overhead - budget)} over`}`,
    });
  } else results.push({ target: `callhome's overhead over the floor at most node -e 0 + knockd's door latency + ${t.slackMs} ms`, met: undefined, detail: 'not measured' });

  if (known(t.callhome40, t.floor40)) {
    const ratio = t.callhome40 / t.floor40;
    const allowed = t.floor40 * t.maxRatio40;
    results.push({
      target: `callhome at most ${t.maxRatio40}x the floor at 40 ms RTT`,
      met: ratio <= t.maxRatio40,
      detail: `${verdict(ratio <= t.maxRatio40)}: ${ratio.toFixed(2)}x (callhome ${fmtMs(t.callhome40)}, floor ${fmtMs(t.floor40)}, ${t.maxRatio40}x = ${fmtMs(allowed)}: ${ratio <= t.maxRatio40 ? `${fmtMs(allowed - t.callhome40)} to spare` : `${fmtMs(t.callhome40 - allowed)} over`})`,
    });
  } else results.push({ target: `callhome at most ${t.maxRatio40}x the floor at 40 ms RTT`, met: undefined, detail: 'not measured' });
  return results;
}

/** An event the server-side watch saw (bench/door-watch.py), epoch ms. */
export interface WireEvent {
  readonly kind: 'knock' | 'spa' | 'syn22' | 'door';
  readonly at: number;
}

export interface RunTimeline {
  /** ms from the start of the command: first knock or SPA packet on the server's wire. */
  readonly firstKnock?: number;
  /** The last knock/SPA packet before the door. */
  readonly lastKnock?: number;
  /** The door in the firewall (nft monitor). */
  readonly door?: number;
  /** The first SYN to port 22 after the door: the connection that gets in (no door: the first). */
  readonly sshSyn?: number;
}

/** One run's events, as offsets from its start; events outside [start, end] belong to other runs. */
export function runTimeline(events: readonly WireEvent[], start: number, end: number): RunTimeline {
  const mine = events.filter((e) => e.at >= start && e.at <= end).sort((a, b) => a.at - b.at);
  const knocks = mine.filter((e) => e.kind === 'knock' || e.kind === 'spa');
  const door = mine.find((e) => e.kind === 'door');
  const before = door === undefined ? knocks : knocks.filter((e) => e.at <= door.at);
  // No door seen (the floor; a door the watch cannot see): the first SYN to port 22 of the run.
  const syn = mine.find((e) => e.kind === 'syn22' && (door === undefined || e.at >= door.at));
  const off = (e: WireEvent | undefined) => (e === undefined ? undefined : e.at - start);
  return { firstKnock: off(knocks[0]), lastKnock: off(before[before.length - 1]), door: off(door), sshSyn: off(syn) };
}
