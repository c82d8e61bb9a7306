// Are the server's and the stick's unused sequences the same list? Pure.
//
// The stick's unused lines must equal the server's. Two ways they part legitimately:
// - drift: a knock whose marking and knockd's consumption parted ways (the stick marked a sequence
//   knockd never saw, or knockd consumed one the stick did not mark). The lists are then equal
//   after dropping a few lines at the head of one of them; callhome heals that by knocking the
//   server's current sequence. We tolerate up to MAX_DRIFT such lines.
// - an interrupted seqgen: the new lines reached one file and not the other, so one list is the
//   other plus a tail. Reported separately because it is repaired by appending, not by knocking.
// Anything else means the two files no longer describe the same door.

import { sequenceKey, unusedLines, type SequenceFile } from './sequences.js';

export const MAX_DRIFT = 3;

export type Lockstep =
  | { readonly state: 'in-step' }
  /**
   * `stickAhead` > 0: the stick marked that many sequences the server still expects (the server's
   * first `stickAhead` unused lines are spent on the stick). < 0: the server consumed that many
   * sequences the stick still lists as unused.
   */
  | { readonly state: 'drift'; readonly stickAhead: number }
  /** One side has every line of the other plus `missing` more at the end. */
  | { readonly state: 'tail-missing'; readonly side: 'server' | 'stick'; readonly missing: number }
  /**
   * Anything else. `index` is the position (0-based, among unused lines) of the first difference;
   * a side's entry is undefined when that side has no line there.
   */
  | { readonly state: 'mismatch'; readonly index: number };

function equalFrom(a: readonly string[], b: readonly string[], aStart: number, bStart: number): boolean {
  if (a.length - aStart !== b.length - bStart) return false;
  for (let i = 0; i + aStart < a.length; i++) if (a[i + aStart] !== b[i + bStart]) return false;
  return true;
}

function isPrefix(short: readonly string[], long: readonly string[]): boolean {
  if (short.length > long.length) return false;
  return short.every((value, i) => long[i] === value);
}

/**
 * Compares the unused sequences of the server file and of the stick file (as keys, in file order).
 */
export function compareLockstep(server: readonly string[], stick: readonly string[]): Lockstep {
  if (equalFrom(server, stick, 0, 0)) return { state: 'in-step' };
  for (let d = 1; d <= MAX_DRIFT; d++) {
    if (d <= server.length && equalFrom(server, stick, d, 0)) return { state: 'drift', stickAhead: d };
    if (d <= stick.length && equalFrom(server, stick, 0, d)) return { state: 'drift', stickAhead: -d };
  }
  // Checked after drift on purpose: a short list that is also a shifted copy is drift.
  if (isPrefix(server, stick)) return { state: 'tail-missing', side: 'server', missing: stick.length - server.length };
  if (isPrefix(stick, server)) return { state: 'tail-missing', side: 'stick', missing: server.length - stick.length };
  let index = 0;
  while (index < server.length && index < stick.length && server[index] === stick[index]) index++;
  return { state: 'mismatch', index };
}

/** True when the files may be written to: in step, or drift that callhome heals. */
export function isWritable(lockstep: Lockstep): boolean {
  return lockstep.state === 'in-step' || lockstep.state === 'drift';
}

/** The unused lines' keys of a file, in order, for compareLockstep. */
export function unusedKeys(file: SequenceFile): string[] {
  return unusedLines(file).map((l) => sequenceKey(l.sequence));
}

export function lockstepOf(server: SequenceFile, stick: SequenceFile): Lockstep {
  return compareLockstep(unusedKeys(server), unusedKeys(stick));
}

function lineList(numbers: readonly number[]): string {
  if (numbers.length === 0) return 'none';
  const first = numbers[0] as number;
  const last = numbers[numbers.length - 1] as number;
  return numbers.length === 1 ? `line ${first}` : last - first === numbers.length - 1 ? `lines ${first}-${last}` : `lines ${numbers.join(', ')}`;
}

/**
 * One paragraph saying how the two files relate, naming line numbers but never sequence values
 * (those are secrets and must not reach terminals' scrollback or logs).
 */
export function describeLockstep(lockstep: Lockstep, server: SequenceFile, stick: SequenceFile): string {
  const serverUnused = unusedLines(server);
  const stickUnused = unusedLines(stick);
  switch (lockstep.state) {
    case 'in-step':
      return `in step: ${serverUnused.length} unused sequence(s) on each side`;
    case 'drift': {
      const d = Math.abs(lockstep.stickAhead);
      if (lockstep.stickAhead > 0) {
        const lines = serverUnused.slice(0, d).map((l) => l.lineNo);
        return (
          `drift: the stick is ${d} ahead of the server. It marked ${d} sequence(s) used that knockd still ` +
          `expects (${server.path} ${lineList(lines)}); the next callhome knocks the server's current ` +
          `sequence from the stick's used lines and catches up. Not an error.`
        );
      }
      const lines = stickUnused.slice(0, d).map((l) => l.lineNo);
      return (
        `drift: the server is ${d} ahead of the stick. knockd consumed ${d} sequence(s) the stick still lists ` +
        `as unused (${stick.path} ${lineList(lines)}); the next callhome skips them. Not an error.`
      );
    }
    case 'tail-missing': {
      const [longer, shorterPath] = lockstep.side === 'server' ? [stickUnused, server.path] : [serverUnused, stick.path];
      const lines = longer.slice(longer.length - lockstep.missing).map((l) => l.lineNo);
      const longerPath = lockstep.side === 'server' ? stick.path : server.path;
      return (
        `${shorterPath} lacks the last ${lockstep.missing} unused sequence(s) of ${longerPath} ` +
        `(${lineList(lines)}), as when a seqgen was interrupted between the two files. ` +
        '`seqgen repair` copies them across.'
      );
    }
    case 'mismatch': {
      const i = lockstep.index;
      const s = serverUnused[i];
      const k = stickUnused[i];
      const parts = [
        `out of step: unused sequence #${i + 1} differs ` +
          `(${server.path} ${s ? `line ${s.lineNo}` : 'has none'}, ${stick.path} ${k ? `line ${k.lineNo}` : 'has none'}).`,
      ];
      const next = stickUnused[0];
      if (next !== undefined) {
        const key = sequenceKey(next.sequence);
        const onServer = server.lines.find((l) => l.sequence !== null && sequenceKey(l.sequence) === key);
        parts.push(
          onServer === undefined
            ? `The stick's next sequence (line ${next.lineNo}) is nowhere in the server file: these two files may not belong to the same door.`
            : `The stick's next sequence (line ${next.lineNo}) is on server line ${onServer.lineNo}, which is ${onServer.state}.`,
        );
      }
      return parts.join(' ');
    }
  }
}
