// callhome's retry and resync policy. Pure: which sequences are candidates, in which order to try
// them, and what to record after an outcome.
//
// Why a window of candidates and not just "the next line":
// - lost knocks: the server still expects the stick's next sequence; knock it again;
// - stick behind: knockd consumed a sequence the stick never marked (callhome died between the door
//   opening and the marking); the server expects one of the stick's next few lines;
// - stick ahead: the stick marked a sequence knockd never consumed (a door already open made a
//   knock look successful); the server expects one of the stick's last used, unconfirmed lines.
// Knocking a sequence knockd is not currently expecting is harmless: knockd only watches the ports
// of its current sequence, so such packets are invisible to it. The one thing never to knock is the
// LAST unused sequence: knockd 0.8 crashes when it consumes the last line of its file.

import { createHash } from 'node:crypto';
import { sequenceKey, unusedLines, type Sequence, type SequenceFile } from './sequences.js';

/**
 * How far candidates reach either side of the stick's next sequence. This one constant is the drift
 * rule: lockstep.ts calls a shift "healed by callhome" only when planCandidates (below, with this
 * window) offers the sequence knockd expects, so what `seqgen status` promises is what callhome does.
 * Every candidate beyond the next one is a future (or spent) sequence sent over the network when the
 * door does not open at once, hence a small window; `seqgen repair` heals any larger shift.
 */
export const WINDOW = 2;

/**
 * The order of offsets tried: the next sequence, one ahead, one back, the next again (for lost
 * packets), two ahead, two back, and so on up to WINDOW. Its length is the number of attempts that
 * tries every candidate once (callhome's default --attempts is at least that, checked by a test).
 */
export const ATTEMPT_PATTERN: readonly number[] = Array.from({ length: WINDOW }, (_, i) => [0, i + 1, -(i + 1)]).flat();

export type CandidateKind = 'next' | 'ahead' | 'behind';

export interface Candidate {
  readonly lineNo: number;
  readonly sequence: Sequence;
  /** 0 for the stick's next unused line, +1/+2 for the lines after it, -1/-2 for the last used ones. */
  readonly offset: number;
}

/** What the stick remembers between runs, next to its sequence file. */
export interface CallhomeState {
  /** The last line whose knock is known to have been consumed by knockd (the door opened after it). */
  readonly confirmedLine: number | null;
  /** Fingerprint of that line's sequence, so an edited file invalidates the record. */
  readonly confirmedFingerprint: string | null;
  /** When this stick last saw the door open (ms since the epoch). */
  readonly lastOpenedAt: number | null;
}

export const EMPTY_STATE: CallhomeState = { confirmedLine: null, confirmedFingerprint: null, lastOpenedAt: null };

/** A fingerprint of a sequence that does not reveal it. */
export function fingerprint(sequence: Sequence): string {
  return createHash('sha256').update(sequenceKey(sequence)).digest('hex').slice(0, 16);
}

export function describeOffset(offset: number): string {
  if (offset === 0) return 'the next sequence';
  if (offset > 0) return `${offset} ahead`;
  return `${-offset} back, unconfirmed`;
}

export interface CandidatePlan {
  readonly candidates: readonly Candidate[];
  /** Unused sequences on the stick. */
  readonly unused: number;
}

/** The confirmed line, or null when the record does not match the file any more. */
function confirmedLine(file: SequenceFile, state: CallhomeState): number | null {
  if (state.confirmedLine === null) return null;
  const line = file.lines.find((l) => l.lineNo === state.confirmedLine);
  if (line?.sequence == null || line.state !== 'used' || fingerprint(line.sequence) !== state.confirmedFingerprint) return null;
  return state.confirmedLine;
}

/**
 * The candidates: the next unused line and up to WINDOW after it (never the last unused line),
 * and up to WINDOW used lines not confirmed as consumed (most recent first).
 */
export function planCandidates(file: SequenceFile, state: CallhomeState): CandidatePlan {
  const unused = unusedLines(file);
  // The last unused line is off limits: knocking it would make knockd consume its last sequence.
  const knockable = unused.slice(0, Math.max(0, unused.length - 1)).slice(0, WINDOW + 1);
  const confirmed = confirmedLine(file, state);
  const firstUnusedLine = unused[0]?.lineNo ?? Number.POSITIVE_INFINITY;
  const behind = file.lines
    .filter((l) => l.state === 'used' && l.sequence !== null && l.lineNo < firstUnusedLine && (confirmed === null || l.lineNo > confirmed))
    .slice(-WINDOW)
    .reverse();
  return {
    unused: unused.length,
    candidates: [
      ...knockable.map((l, i) => ({ lineNo: l.lineNo, sequence: l.sequence, offset: i })),
      ...behind.map((l, i) => ({ lineNo: l.lineNo, sequence: l.sequence as Sequence, offset: -(i + 1) })),
    ],
  };
}

/**
 * The order of attempts: the next sequence first, then alternately one ahead and one back, then the
 * next one again (for lost packets), then two ahead and two back, and round again, up to `attempts`.
 * With no network loss the first attempt succeeds; the others are for the three failure cases.
 */
export function scheduleAttempts(candidates: readonly Candidate[], attempts: number): Candidate[] {
  const byOffset = new Map(candidates.map((c) => [c.offset, c]));
  const pattern = ATTEMPT_PATTERN;
  const order: Candidate[] = [];
  if (candidates.length === 0) return order;
  for (let i = 0; order.length < attempts; i++) {
    const candidate = byOffset.get(pattern[i % pattern.length] as number);
    if (candidate !== undefined) order.push(candidate);
  }
  return order;
}

export interface SuccessRecord {
  /** Unused lines to mark used on the stick ("#"), in order. */
  readonly markLines: readonly number[];
  /**
   * Used lines to mark unused again on the stick: after a confirmed win `j` back, the lines after
   * the winner are ones knockd still expects (it takes its lines in order and just consumed the
   * winner), so the stick lists them again and the two sides end in step.
   */
  readonly unmarkLines: readonly number[];
  readonly state: CallhomeState;
}

/**
 * What to record when the door opened after knocking `winner`.
 * `doorWasOpenBefore`: the very first probe connected, before the knock could have taken effect, so
 * the door was already open and the knock may or may not have been consumed.
 * Every unused line up to the winner is spent (knockd takes its lines in order). The winner is
 * confirmed only if the door opened because of it; otherwise it stays a candidate for next time.
 */
export function recordSuccess(file: SequenceFile, state: CallhomeState, winner: Candidate, doorWasOpenBefore: boolean, now: number): SuccessRecord {
  const markLines = winner.offset >= 0 ? unusedLines(file).filter((l) => l.lineNo <= winner.lineNo).map((l) => l.lineNo) : [];
  const confirm = !doorWasOpenBefore;
  // Only a confirmed win says where knockd is now; after a door that was already open, the winner
  // may or may not have been consumed, so the lines after it stay as they are (still candidates).
  const firstUnused = unusedLines(file)[0]?.lineNo ?? Number.POSITIVE_INFINITY;
  const unmarkLines =
    winner.offset < 0 && confirm
      ? file.lines.filter((l) => l.state === 'used' && l.sequence !== null && l.lineNo > winner.lineNo && l.lineNo < firstUnused).map((l) => l.lineNo)
      : [];
  return {
    markLines,
    unmarkLines,
    state: {
      confirmedLine: confirm ? winner.lineNo : state.confirmedLine,
      confirmedFingerprint: confirm ? fingerprint(winner.sequence) : state.confirmedFingerprint,
      lastOpenedAt: now,
    },
  };
}

/** The door may still be open from this stick's last callhome: check it before spending a sequence. */
export function doorMayBeOpen(state: CallhomeState, now: number, doorWindowMs: number): boolean {
  return state.lastOpenedAt !== null && now - state.lastOpenedAt >= 0 && now - state.lastOpenedAt < doorWindowMs;
}

/**
 * The stick file's text with `lines` marked used the way knockd marks them: the leading space
 * becomes "#". A stick line without a leading space gets "#" in front, so its sequence stays readable.
 */
export function markUsed(text: string, lines: readonly number[]): string {
  if (lines.length === 0) return text;
  const wanted = new Set(lines);
  return text
    .split('\n')
    .map((line, i) => (!wanted.has(i + 1) ? line : /^[ \t]/.test(line) ? `#${line.slice(1)}` : `#${line}`))
    .join('\n');
}

/**
 * The stick file's text with `lines` (used, "#" first) made unused again: the "#" becomes the
 * leading space knockd's format wants. Lines not starting with "#" are left alone.
 */
export function unmarkUsed(text: string, lines: readonly number[]): string {
  if (lines.length === 0) return text;
  const wanted = new Set(lines);
  return text
    .split('\n')
    .map((line, i) => (wanted.has(i + 1) && line.startsWith('#') ? ` ${line.slice(1)}` : line))
    .join('\n');
}
