// The door loop, one for every method: reuse a door still open where the policy allows it, else
// attempt after attempt (the method sends: a knock sequence, an SPA packet), each followed by
// probing the SSH port, until the door answers or the attempts run out. What differs between the
// methods (what to send, what to record, how to explain a failure) is a DoorStrategy.
//
// With `keep`, the probe connection that finds the door open is handed on (Opened.connection): on
// a single-use door it is the only connection that gets in.

import type { Socket } from 'node:net';
import type { CommandContext } from '../command.js';
import type { KnockstickError } from '../errors.js';
import type { DoorPolicy } from '../config.js';
import type { ProbeResult } from '../probe.js';
import { timing } from '../timing.js';
import type { DoorOptions } from './options.js';
import type { DoorDeps, Prepared } from './prepare.js';
import { Progress } from './progress.js';

export interface Opened {
  /** The door was still open from an earlier opening: nothing was sent, no sequence spent. */
  readonly reused: boolean;
  /** Unused sequences left on the stick (Infinity for SPA, which spends none). */
  readonly remaining: number;
  /** With `keep`: the connection that found the door open, now the caller's. */
  readonly connection?: Socket | undefined;
}

/** One way of opening the door (knock.ts, spa.ts); the engine runs the loop around it. */
export interface DoorStrategy {
  /**
   * How long ago (ms) this stick opened the door, when it may still be open and worth checking
   * before sending anything; undefined: do not check.
   */
  recentOpeningMs(): number | undefined;
  /** The remaining count to report when a door still open is reused. */
  remainingWhenReused(): number;
  /** Plans the attempts; throws when none may be made (EXHAUSTED). Returns how many. */
  plan(): number;
  /** The status line while attempt `index` is sent. */
  describeAttempt(index: number, total: number): string;
  send(index: number, total: number): Promise<void>;
  /** Every probe result, open or not (for the failure's diagnosis). */
  observe(index: number, result: ProbeResult): void;
  /** Attempt `index` opened the door: what to say, what is left, and how to record it. */
  succeeded(index: number, result: ProbeResult): Success;
  /** The error once every attempt failed (DOOR_CLOSED, with what was tried and what to check). */
  failure(refused: number, attempts: number): KnockstickError;
}

export interface Success {
  /** The permanent line ("door open after ..."). */
  readonly message: string;
  readonly remaining: number;
  /** Records the opening, after the caller heard of it (its connection goes on meanwhile). */
  record(log: (line: string) => void): Promise<void>;
}

export interface DoorRun {
  readonly prepared: Prepared;
  readonly options: Pick<DoorOptions, 'verbose' | 'doorTimeoutMs' | 'probeIntervalMs' | 'precheckMs'>;
  readonly deps: Pick<DoorDeps, 'prober'>;
  readonly context: Pick<CommandContext, 'stderr' | 'stderrIsTTY'>;
  readonly policy: DoorPolicy;
  /** Hand the connection that found the door open on (connect); false: close it (--knock-only). */
  readonly keep: boolean;
  /** Print the outcome lines ("door open after ..."); false keeps a plain ssh's stderr quiet. */
  readonly report?: boolean;
  /**
   * Called the moment the door is known open, before the method records it: the connection (or
   * callhome's ssh) starts here, so it overlaps the stick's fsyncs (the caller holds the lock until
   * they are done).
   */
  readonly onOpen?: (opened: Opened) => void;
  /** Called once the first probe's SYN is out: the moment to load what the caller needs next. */
  readonly whileWaiting?: () => void;
}

export async function runDoorLoop(run: DoorRun, strategy: DoorStrategy): Promise<Opened> {
  const { prepared, options, deps, context } = run;
  const { host, target } = prepared;
  const err = context.stderr;
  const log = (line: string): void => {
    if (options.verbose) err.write(`${line}\n`);
  };
  const progress = new Progress(err, context.stderrIsTTY && !options.verbose, run.report ?? true);
  const onOpen = run.onOpen ?? (() => undefined);

  // A single-use door admits one connection and closes: one this stick opened a moment ago is gone
  // (its connection took it), and probing it would only spend the time.
  const agoMs = run.policy === 'single-use' ? undefined : strategy.recentOpeningMs();
  if (agoMs !== undefined) {
    const ago = (agoMs / 1000).toFixed(1);
    progress.show(`checking whether the door opened ${ago} s ago is still open`);
    const check = await deps.prober.probe(target, host.port, { deadlineMs: options.precheckMs, intervalMs: options.probeIntervalMs, keep: run.keep });
    if (check.open) {
      progress.done(`the door opened ${ago} s ago is still open: connecting without spending a sequence`);
      const opened = { reused: true, remaining: strategy.remainingWhenReused(), connection: check.socket };
      onOpen(opened);
      return opened;
    }
    log(`  the door opened ${ago} s ago is closed now`);
  }

  const total = strategy.plan();
  let refused = 0;
  for (let i = 0; i < total; i++) {
    progress.show(strategy.describeAttempt(i, total));
    await strategy.send(i, total);
    timing('sent');
    progress.show(`waiting for port ${host.port} at ${host.alias} (attempt ${i + 1}/${total})`);
    const probing = deps.prober.probe(target, host.port, {
      deadlineMs: options.doorTimeoutMs,
      intervalMs: options.probeIntervalMs,
      keep: run.keep,
      onAttempt: (n, ms) => {
        if (options.verbose && (n < 3 || n % 50 === 0)) err.write(`  probe #${n} at +${ms} ms\n`);
      },
    });
    // Not before the first probe's SYN has left (setImmediate runs after the connect(2) of attempt
    // 0): that probe must go out before the door can open, or "answered at once" would no longer
    // mean the door was open before the knock.
    if (run.whileWaiting !== undefined) setImmediate(run.whileWaiting);
    const result = await probing;
    refused += result.refused;
    strategy.observe(i, result);
    if (!result.open) {
      log(`  no answer on port ${host.port} within ${options.doorTimeoutMs} ms`);
      continue;
    }
    timing('door open');
    const success = strategy.succeeded(i, result);
    progress.done(success.message);
    const opened = { reused: false, remaining: success.remaining, connection: result.socket };
    onOpen(opened);
    await success.record(log);
    return opened;
  }
  progress.clear();
  throw strategy.failure(refused, total);
}
