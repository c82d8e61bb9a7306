// Are the server's and the stick's unused sequences the same list? Pure.
//
// The stick's unused lines must equal the server's. Two ways they part legitimately:
// - drift: a knock whose marking and knockd's consumption parted ways (the stick marked a sequence
//   knockd never saw, or knockd consumed one the stick did not mark). The lists are then equal
//   after dropping some lines at the head of one of them, any number of lines. Whether callhome
//   heals a given shift is not a constant here: healingOf asks callhome's own policy (policy.ts
//   planCandidates, the one WINDOW) whether it would knock the sequence knockd expects, so status
//   never promises what callhome would not do. Any other shift is healed by `seqgen repair`, which
//   changes only the stick (knockd's file is only ever appended to).
// - an interrupted seqgen: the new lines reached one file and not the other, so one list is the
//   other plus a tail. Reported separately because it is repaired by appending, not by knocking.
// Anything else means the two files no longer describe the same door.

import { EMPTY_STATE, WINDOW, planCandidates, type CallhomeState } from './policy.js';
import { sequenceKey, unusedLines, type SequenceFile } from './sequences.js';

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

/** The keys of the sequences each side has marked used ("#"), when the caller knows them. */
export interface Spent {
  readonly server: ReadonlySet<string>;
  readonly stick: ReadonlySet<string>;
}

/**
 * Compares the unused sequences of the server file and of the stick file (as keys, in file order).
 * Sequences never repeat, so at most one shift can match: the difference of the two lengths.
 * When one side has no unused line at all, "shifted by all of them" and "lacks the other's tail"
 * both fit; `spent` decides: the lines were used on the empty side (drift: knockd consumed them, or
 * the stick marked them) or are absent from it (a seqgen that never reached it). Without `spent`,
 * the tail reading wins.
 */
export function compareLockstep(server: readonly string[], stick: readonly string[], spent?: Spent): Lockstep {
  if (equalFrom(server, stick, 0, 0)) return { state: 'in-step' };
  const d = server.length - stick.length;
  const allSpentOn = (keys: readonly string[], used: ReadonlySet<string> | undefined) => used !== undefined && keys.every((k) => used.has(k));
  if (d > 0 && equalFrom(server, stick, d, 0) && (stick.length > 0 || allSpentOn(server, spent?.stick))) return { state: 'drift', stickAhead: d };
  if (d < 0 && equalFrom(server, stick, 0, -d) && (server.length > 0 || allSpentOn(stick, spent?.server))) return { state: 'drift', stickAhead: d };
  if (isPrefix(server, stick)) return { state: 'tail-missing', side: 'server', missing: stick.length - server.length };
  if (isPrefix(stick, server)) return { state: 'tail-missing', side: 'stick', missing: server.length - stick.length };
  let index = 0;
  while (index < server.length && index < stick.length && server[index] === stick[index]) index++;
  return { state: 'mismatch', index };
}

/** True when new lines may be appended to both files: in step, or any drift (appending keeps it as it is). */
export function isWritable(lockstep: Lockstep): boolean {
  return lockstep.state === 'in-step' || lockstep.state === 'drift';
}

/** The unused lines' keys of a file, in order, for compareLockstep. */
export function unusedKeys(file: SequenceFile): string[] {
  return unusedLines(file).map((l) => sequenceKey(l.sequence));
}

function usedKeys(file: SequenceFile): Set<string> {
  return new Set(file.lines.filter((l) => l.state === 'used' && l.sequence !== null).map((l) => sequenceKey(l.sequence ?? [])));
}

export function lockstepOf(server: SequenceFile, stick: SequenceFile): Lockstep {
  return compareLockstep(unusedKeys(server), unusedKeys(stick), { server: usedKeys(server), stick: usedKeys(stick) });
}

/**
 * What brings the two files back in step, and with which command.
 * - `callhome`: the next callhome knocks the sequence knockd expects (stick line `lineNo`, at
 *   `offset` in callhome's terms) and leaves both sides in step;
 * - `repair`: `seqgen repair` does it, changing only the stick (`mark` or `unmark` those stick
 *   lines) or appending the missing tail (`copy-tail`); `why` says why callhome would not;
 * - `by-hand`: nothing we can do safely.
 */
export type Healing =
  | { readonly by: 'nothing-to-do' }
  | { readonly by: 'callhome'; readonly offset: number; readonly lineNo: number }
  | { readonly by: 'repair'; readonly action: 'mark' | 'unmark'; readonly lines: readonly number[]; readonly why: string }
  | { readonly by: 'repair'; readonly action: 'copy-tail'; readonly lines: readonly number[] }
  | { readonly by: 'by-hand' };

/** The command a user types for a healing, for messages and `status --json`. */
export function healingCommand(healing: Healing): string | null {
  switch (healing.by) {
    case 'callhome':
      return 'callhome';
    case 'repair':
      return 'seqgen repair';
    default:
      return null;
  }
}

/** In step, or drift that the next callhome heals by itself: nothing for the user to do. */
export function isHealthy(healing: Healing): boolean {
  return healing.by === 'nothing-to-do' || healing.by === 'callhome';
}

/**
 * How `lockstep` heals. For drift this asks callhome's own candidate plan (with the stick's callhome
 * record `state`) whether it contains the sequence knockd expects now: the only thing callhome
 * needs to get in and to leave both sides in step (see policy.ts recordSuccess).
 */
export function healingOf(lockstep: Lockstep, server: SequenceFile, stick: SequenceFile, state: CallhomeState = EMPTY_STATE): Healing {
  switch (lockstep.state) {
    case 'in-step':
      return { by: 'nothing-to-do' };
    case 'mismatch':
      return { by: 'by-hand' };
    case 'tail-missing': {
      const longer = unusedLines(lockstep.side === 'server' ? stick : server);
      return { by: 'repair', action: 'copy-tail', lines: longer.slice(longer.length - lockstep.missing).map((l) => l.lineNo) };
    }
    case 'drift':
      break;
  }
  const serverUnused = unusedLines(server);
  const expected = serverUnused[0];
  const plan = planCandidates(stick, state);
  // callhome refuses outright with one unused line left, and never knocks the server's last line
  // (planCandidates leaves out the stick's last, which in this drift is the server's last too).
  const reached =
    expected !== undefined && plan.unused > 1 && serverUnused.length > 1
      ? plan.candidates.find((c) => sequenceKey(c.sequence) === sequenceKey(expected.sequence))
      : undefined;
  if (reached !== undefined) return { by: 'callhome', offset: reached.offset, lineNo: reached.lineNo };
  const fix = stickFix(lockstep.stickAhead, server, stick);
  if (fix === undefined) return { by: 'by-hand' };
  const d = Math.abs(lockstep.stickAhead);
  const why =
    lockstep.stickAhead < 0
      ? d > WINDOW
        ? `callhome looks at most ${WINDOW} ahead`
        : serverUnused.length <= 1
          ? "the server is on its last sequence, which callhome never knocks (knockd 0.8 crashes when it consumes its file's last line)"
          : 'callhome does not try the line knockd expects'
      : d > WINDOW
        ? `callhome tries at most ${WINDOW} used line(s) back`
        : plan.unused <= 1
          ? 'callhome refuses to run with only the last unused sequence left on the stick'
          : `callhome does not try the used line knockd expects (stick line ${fix.lines[0] ?? '?'}): its record says a later line was confirmed`;
  return { by: 'repair', ...fix, why };
}

/**
 * What `seqgen repair` changes on the stick to undo a drift of `stickAhead` (any size), or
 * undefined when the files do not allow it. Stick behind: mark used the stick's first d unused
 * lines, as knockd did. Stick ahead: mark unused again the d used lines knockd still expects; only
 * if they are the used lines just before the stick's first unused one, in knockd's order, so the
 * stick's list becomes the server's exactly.
 */
export function stickFix(stickAhead: number, server: SequenceFile, stick: SequenceFile): { readonly action: 'mark' | 'unmark'; readonly lines: readonly number[] } | undefined {
  const d = Math.abs(stickAhead);
  const stickUnused = unusedLines(stick);
  if (stickAhead < 0) return d <= stickUnused.length ? { action: 'mark', lines: stickUnused.slice(0, d).map((l) => l.lineNo) } : undefined;
  const expectedKeys = unusedLines(server).slice(0, d).map((l) => sequenceKey(l.sequence));
  const firstUnused = stickUnused[0]?.lineNo ?? Number.POSITIVE_INFINITY;
  const usedBefore = stick.lines.filter((l) => l.state === 'used' && l.sequence !== null && l.lineNo < firstUnused).slice(-d);
  if (usedBefore.length !== d || usedBefore.some((l, i) => sequenceKey(l.sequence ?? []) !== expectedKeys[i])) return undefined;
  return { action: 'unmark', lines: usedBefore.map((l) => l.lineNo) };
}

function lineList(numbers: readonly number[]): string {
  if (numbers.length === 0) return 'none';
  const first = numbers[0] as number;
  const last = numbers[numbers.length - 1] as number;
  return numbers.length === 1 ? `line ${first}` : last - first === numbers.length - 1 ? `lines ${first}-${last}` : `lines ${numbers.join(', ')}`;
}

/**
 * One paragraph saying how the two files relate and what heals them, naming line numbers but never
 * sequence values (those are secrets and must not reach terminals' scrollback or logs).
 */
export function describeLockstep(lockstep: Lockstep, server: SequenceFile, stick: SequenceFile, healing: Healing = healingOf(lockstep, server, stick)): string {
  const serverUnused = unusedLines(server);
  const stickUnused = unusedLines(stick);
  switch (lockstep.state) {
    case 'in-step':
      return `in step: ${serverUnused.length} unused sequence(s) on each side`;
    case 'drift': {
      const d = Math.abs(lockstep.stickAhead);
      const what =
        lockstep.stickAhead > 0
          ? `the stick is ${d} ahead of the server. It marked ${d} sequence(s) used that knockd still expects ` +
            `(${server.path} ${lineList(serverUnused.slice(0, d).map((l) => l.lineNo))})`
          : `the server is ${d} ahead of the stick. knockd consumed ${d} sequence(s) the stick still lists as unused ` +
            `(${stick.path} ${lineList(stickUnused.slice(0, d).map((l) => l.lineNo))})`;
      if (healing.by === 'callhome') {
        const how = healing.offset < 0 ? `${-healing.offset} back` : `${healing.offset} ahead`;
        return `drift: ${what}; the next callhome knocks stick line ${healing.lineNo} (${how}) and catches up. Not an error.`;
      }
      if (healing.by === 'repair' && healing.action !== 'copy-tail') {
        const fix =
          healing.action === 'mark'
            ? `marks ${stick.path} ${lineList(healing.lines)} used, as knockd did`
            : `marks ${stick.path} ${lineList(healing.lines)} unused again (knockd still accepts them; the next callhome uses them)`;
        return `out of step: ${what}. The next callhome would not get in: ${healing.why}. \`seqgen repair\` ${fix}; knockd's file is not touched.`;
      }
      return `out of step: ${what}.`;
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
