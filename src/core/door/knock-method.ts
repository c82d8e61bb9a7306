// The knock method: one-time sequences from the stick, knocked in the policy's order (retries,
// resync ahead and back), the one that opened the door marked used on the stick. The caller holds
// the stick's lock for the whole of it.

import type { CommandContext } from '../command.js';
import { formatCallhomeState, parseCallhomeState } from '../callhome-state.js';
import { KnockstickError } from '../errors.js';
import { describeRemovedTemps } from '../files.js';
import { attemptPackets, type Target } from '../knock.js';
import {
  describeOffset,
  doorMayBeOpen,
  markUsed,
  planCandidates,
  recordSuccess,
  scheduleAttempts,
  unmarkUsed,
  WINDOW,
  type Candidate,
} from '../policy.js';
import type { ProbeResult } from '../probe.js';
import { refillAdvice } from '../refill.js';
import { parseLoadedFile } from '../sequence-store.js';
import { formatSequence, type Sequence } from '../sequences.js';
import type { HostConfig } from '../ssh-config.js';
import { timing } from '../timing.js';
import type { DoorStrategy, Success } from './engine.js';
import type { DoorOptions } from './options.js';
import type { DoorDeps, Prepared } from './prepare.js';

interface Tried {
  readonly candidate: Candidate;
  times: number;
}

/**
 * The pause between knocks for attempt `index` (0-based). The first attempt knocks almost back to
 * back, as knockd's own client does: fastest, and knockd's latency is what it is. Routers that
 * spread flows over several paths (ECMP, hashed on ports) can reorder packets sent microseconds
 * apart, and every knock goes to another port, so a retry is spaced out: if reordering broke the
 * first attempt, it cannot break the next ones.
 */
export const RETRY_GAP_MS = 20;
export function gapForAttempt(index: number, gapMs: number): number {
  return index === 0 ? gapMs : Math.max(gapMs, RETRY_GAP_MS);
}

/**
 * How a sequence is shown: by its line, length and protocols, never its ports, which are the
 * secret (anyone who reads an unused sequence off a screen or a log can open the door with it).
 * `showSecrets` (--show-secrets) adds the ports.
 */
export function describeKnocks(lineNo: number, sequence: Sequence, showSecrets: boolean): string {
  const protocols = [...new Set(sequence.map((k) => k.protocol))].join('+');
  return `sequence line ${lineNo} (${sequence.length} ports, ${protocols})${showSecrets ? `: ${formatSequence(sequence)}` : ''}`;
}

/** Sends one attempt: the clearing hits together, then the sequence with the gap. */
async function knockOnce(deps: Pick<DoorDeps, 'knocker' | 'sleep'>, target: Target, candidate: Candidate, gapMs: number, log: (line: string) => void, showSecrets: boolean): Promise<void> {
  const { clearing, sequence } = attemptPackets(candidate.sequence);
  timing('knocking');
  // The clearing hits are the same packet several times: no order to keep, so all at once.
  await Promise.all(clearing.map((knock) => deps.knocker.send(target, knock)));
  log(`  cleared knockd's partial attempt with ${clearing.length} hits${showSecrets ? ` on ${formatSequence(clearing.slice(0, 1))}` : ''}`);
  for (const [i, knock] of sequence.entries()) {
    if (gapMs > 0) await deps.sleep(gapMs);
    await deps.knocker.send(target, knock);
    log(`  knock ${i + 1}/${sequence.length}: ${knock.protocol}${showSecrets ? ` ${knock.port}` : ''}`);
  }
}

function doorClosedError(host: HostConfig, target: Target, tried: readonly Tried[], refused: number, attempts: number): KnockstickError {
  const lines = tried.map((t) => `  line ${t.candidate.lineNo} (${describeOffset(t.candidate.offset)}): ${t.times} time(s)`);
  const causes = [
    `the server is down or unreachable from here${host.hostName === target.address ? '' : ` (${host.hostName} resolved to ${target.address}: is that still its address?)`}`,
    'knockd is not running on the server, for example after a panic lockdown (panic stops knockd until you restart it on the server)',
    ...(refused > 0 ? [`port ${host.port} answered with a refusal ${refused} time(s): the host is up, but sshd is down or a REJECT rule answers`] : []),
    `the stick is more than ${WINDOW} sequences out of step with the server (or the server is on its last one): run \`seqgen status\` where both files are reachable; \`seqgen repair\` heals any such shift`,
    `a very lossy network: try again, or with --attempts ${Math.min(50, attempts * 2)}`,
  ];
  return new KnockstickError(
    'DOOR_CLOSED',
    `the door at ${host.alias} (${target.address} port ${host.port}) did not open after ${attempts} attempt(s):\n` +
      `${lines.join('\n')}\n` +
      '("ahead": in case the server used sequences the stick never marked; "back": marked used on the stick, never confirmed)\n' +
      `Check:\n${causes.map((c) => `  - ${c}`).join('\n')}\nNothing was marked on the stick.`,
  );
}

/**
 * Reads the stick's sequences and record (under the caller's lock) and returns the knock strategy.
 * Throws EXHAUSTED when there is no sequence file.
 */
export async function knockStrategy(
  prepared: Prepared,
  options: Pick<DoorOptions, 'attempts' | 'gapMs' | 'doorWindowMs' | 'showSecrets' | 'verbose'>,
  deps: Pick<DoorDeps, 'knocker' | 'sleep' | 'now' | 'files'>,
  context: Pick<CommandContext, 'stderr'>,
): Promise<DoorStrategy> {
  const { host, target, sequencesFile, stateFile } = prepared;
  const err = context.stderr;
  const log = (line: string): void => {
    if (options.verbose) err.write(`${line}\n`);
  };
  const removed = describeRemovedTemps(await deps.files.removeStaleTemps(prepared.layout.sshDir));
  if (removed !== undefined) err.write(`${removed}\n`);
  const loaded = parseLoadedFile(await deps.files.read(sequencesFile), sequencesFile, 'stick');
  if (!loaded.exists) {
    throw new KnockstickError('EXHAUSTED', `no sequence file at ${sequencesFile}`, { hint: 'run seqgen to make sequences for this host (seqgen --host ALIAS for other aliases)' });
  }
  // The stick records the knock only after the door opened: a planted link (.ssh -> ~/.ssh, a
  // symlinked sequence or state file) found then would cost a sequence, so refuse it now.
  await deps.files.refuseLinks(prepared.layout.root, [sequencesFile, stateFile]);
  const { state, warning } = parseCallhomeState(await deps.files.read(stateFile), stateFile);
  if (warning !== undefined) err.write(`warning: ${warning}\n`);
  const plan = planCandidates(loaded.file, state);
  let schedule: Candidate[] = [];
  const tried = new Map<number, Tried>();

  return {
    recentOpeningMs: () => (doorMayBeOpen(state, deps.now(), options.doorWindowMs) ? deps.now() - (state.lastOpenedAt ?? 0) : undefined),
    remainingWhenReused: () => plan.unused,
    plan() {
      if (plan.unused <= 1) {
        throw new KnockstickError(
          'EXHAUSTED',
          plan.unused === 0
            ? `no unused sequence left in ${sequencesFile}`
            : `only the last unused sequence is left in ${sequencesFile}; knocking it would make knockd consume its last sequence, and knockd 0.8 crashes when it does`,
          { hint: refillAdvice(plan.unused, host.alias, prepared.layout.root) },
        );
      }
      schedule = scheduleAttempts(plan.candidates, options.attempts);
      return schedule.length;
    },
    describeAttempt(i, total) {
      const candidate = schedule[i] as Candidate;
      log(`attempt ${i + 1}/${total}: line ${candidate.lineNo}, ${describeOffset(candidate.offset)}`);
      return `knocking at ${host.alias} (${target.address}), attempt ${i + 1}/${total}: line ${candidate.lineNo}, ${describeOffset(candidate.offset)}`;
    },
    send: (i) => knockOnce(deps, target, schedule[i] as Candidate, gapForAttempt(i, options.gapMs), log, options.showSecrets === true),
    observe(i) {
      const candidate = schedule[i] as Candidate;
      const entry = tried.get(candidate.lineNo) ?? { candidate, times: 0 };
      entry.times++;
      tried.set(candidate.lineNo, entry);
    },
    succeeded(i: number, result: ProbeResult): Success {
      const candidate = schedule[i] as Candidate;
      const wasOpen = result.openedBy === 0;
      const record = recordSuccess(loaded.file, state, candidate, wasOpen, deps.now());
      return {
        message:
          `door open after ${result.elapsedMs} ms (line ${candidate.lineNo}, ${describeOffset(candidate.offset)}` +
          `${i > 0 ? `, attempt ${i + 1}` : ''})` +
          (wasOpen ? '; it answered at once, so it may have been open already: the sequence is kept as unconfirmed' : ''),
        remaining: plan.unused - record.markLines.length + record.unmarkLines.length,
        async record(log) {
          if (record.unmarkLines.length > 0) {
            log(`  knockd consumed line ${candidate.lineNo}, so it still expects the ${record.unmarkLines.length} line(s) after it: marking them unused again on the stick`);
          }
          try {
            if (record.markLines.length > 0 || record.unmarkLines.length > 0) {
              await deps.files.write(sequencesFile, unmarkUsed(markUsed(loaded.text, record.markLines), record.unmarkLines), prepared.layout.root);
            }
            await deps.files.write(stateFile, formatCallhomeState(record.state), prepared.layout.root);
          } catch (error) {
            // The door is open and knockd has consumed the sequence whatever we do now: refusing to
            // connect would not undo that. Say loudly what the stick failed to record, and carry on.
            err.write(
              `warning: the door is open, but the stick could not record it (${(error as Error).message}). ` +
                `The stick is now ${record.markLines.length > 0 ? `${record.markLines.length} behind` : 'out of step with'} the server; ` +
                `callhome catches up while that stays at most ${WINDOW}, and \`seqgen repair\` (where both files are reachable) heals any shift. ` +
                'Make the stick writable before the next callhome.\n',
            );
          }
        },
      };
    },
    failure: (refused, attempts) => doorClosedError(host, target, [...tried.values()], refused, attempts),
  };
}
