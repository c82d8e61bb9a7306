// A server file whose last line has no "\n": an append cut short. A SIGKILL during write() can leave
// part of it on disk on this kernel (knockd-facts.md, lab-facts.md), so a seqgen killed mid-append
// leaves knockd's file ending in the first bytes of a line. Pure: what the torn line is, and which
// bytes to APPEND to make it harmless. knockd holds that file open and writes "#" into it in place,
// so the only change we ever make to it is an append.
//
// Two outcomes:
// - the torn bytes are the start of the line the stick has at that place: append the rest of the
//   line and "\n", and the file reads as if the append had never been interrupted;
// - they match nothing (say, the stick never got that line): they cannot be removed or commented
//   out by appending, so the line is made one that knockd refuses to load, and a blank line is
//   appended after it. Why both: knockd 0.8 (get_next_one_time_sequence) remembers the position of
//   the last blank or "#" line it skipped, not of the invalid line it skipped, so when an invalid
//   line is directly followed by a valid one, the "#" for the valid one lands on the invalid line
//   and the "one-time" sequence works twice. A blank line between them moves that position past
//   the invalid line, and the "#" lands where it should. The line is made invalid by appending a
//   port above 65535 (knockd rejects any port > 65535 whatever came before on the line); ending it
//   with NEUTRALISED_MARK lets our own parser recognise it as deliberately dead, and check that the
//   blank line is still there.

import { NEUTRALISED_MARK, formatSequence, type SequenceFile } from './sequences.js';

export { NEUTRALISED_MARK };

/** knockd reads lines with fgets(PATH_MAX): longer ones split in two. A neutralised line stays well below. */
const MAX_TORN_LENGTH = 3000;

export interface TornLine {
  /** 1-based line number of the torn line. */
  readonly lineNo: number;
  /** Its bytes (as text), without any "\n". */
  readonly text: string;
}

/**
 * Splits a server file's text into its complete lines and the torn last line. A last line that is
 * only blanks, or starts with "#" (used by knockd, or a comment), is not torn: knockd skips it
 * whatever follows, and appending adds the "\n" it lacks.
 */
export function splitTornLine(text: string): { readonly complete: string; readonly torn: TornLine | null } {
  const cut = text.lastIndexOf('\n') + 1;
  const last = text.slice(cut);
  if (last.trim() === '' || last.trimStart().startsWith('#')) return { complete: text, torn: null };
  return { complete: text.slice(0, cut), torn: { lineNo: text.slice(0, cut).split('\n').length, text: last } };
}

export type TornRepair =
  /** `append` (the missing bytes and "\n") completes the torn line into stick line `stickLine`. */
  | { readonly kind: 'complete'; readonly append: string; readonly stickLine: number }
  /** `append` makes the torn line one knockd refuses, followed by a blank line. */
  | { readonly kind: 'neutralise'; readonly append: string }
  /** Too long to neutralise without knockd splitting it; to be fixed by hand with knockd stopped. */
  | { readonly kind: 'by-hand' };

/**
 * The stick line the torn line was meant to be: the one after the line holding the server's last
 * complete sequence (found by its sequence, since the two files may number their lines differently),
 * or the stick's first line when the server had no complete line yet.
 */
function correspondingStickLine(complete: SequenceFile, stick: SequenceFile) {
  const stickLines = stick.lines.filter((l) => l.sequence !== null);
  const lastServer = [...complete.lines].reverse().find((l) => l.sequence !== null);
  if (lastServer?.sequence == null) return stickLines[0];
  const key = formatSequence(lastServer.sequence);
  const at = stickLines.findIndex((l) => l.sequence !== null && formatSequence(l.sequence) === key);
  return at < 0 ? undefined : stickLines[at + 1];
}

/** What to append to heal `torn`, given the server's complete lines and the stick file. */
export function planTornRepair(torn: TornLine, complete: SequenceFile, stick: SequenceFile): TornRepair {
  const line = correspondingStickLine(complete, stick);
  // seqgen writes every server line as formatLine (leading space, canonical ports): the torn bytes
  // are a prefix of exactly that text.
  const intended = line?.sequence == null ? undefined : ` ${formatSequence(line.sequence)}`;
  if (line !== undefined && intended !== undefined && intended.startsWith(torn.text)) {
    return { kind: 'complete', append: `${intended.slice(torn.text.length)}\n`, stickLine: line.lineNo };
  }
  if (torn.text.length > MAX_TORN_LENGTH) return { kind: 'by-hand' };
  return { kind: 'neutralise', append: `${NEUTRALISED_MARK}\n\n` };
}
