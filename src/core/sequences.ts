// knockd's one_time_sequences format: parse, validate, format. Pure: no I/O here.
//
// What knockd 0.8 does with such a file (../shared/docs/knockd-facts.md) decides every rule below:
// - one sequence per line, ports separated by commas, optional ":udp"/":tcp" per port;
// - lines are trimmed; blank lines and lines starting with "#" are skipped;
// - the current sequence is the first valid line; when it is used knockd overwrites the FIRST BYTE
//   of that line with "#", so every unused line of a server file must start with a space;
// - spaces are not separators: " 7241 7242" silently loads as the single port 7241;
// - non-numeric text becomes port 0; an invalid line before a valid one makes knockd mark the wrong
//   line, so a "one-time" sequence works twice;
// - sequences of different lengths in one file confuse knockd's per-address state.
// - knockd reads a line with fgets into a 4096-byte buffer: a line of 4095 bytes or more (newline
//   included) is read in pieces, each taken as a line (knockd-reader.ts, the one model of knockd's
//   reader, says exactly how); its trimming knows only ASCII blanks (a no-break space is text).
// We therefore refuse anything knockd would read differently from what the user meant.

import { parse as parseCsv } from 'csv-parse/sync';
import type { FileProblem } from './errors.js';
import { KNOCKD_READ_MAX, cTrim, overlongLines, overlongMessage } from './knockd-reader.js';

export type Protocol = 'tcp' | 'udp';

export interface Knock {
  readonly port: number;
  readonly protocol: Protocol;
}

/** The ports to hit, in order. */
export type Sequence = readonly Knock[];

/**
 * Appended by `seqgen repair` to a torn server line that matches nothing (see torn.ts): port 99999
 * makes knockd refuse the whole line, and a blank line must follow it so that knockd's "#" never
 * lands on it. We read such a line as spent.
 */
export const NEUTRALISED_MARK = ',99999 torn line neutralised by seqgen repair';

/** knockd limit (SEQ_MAX in knockd.c). */
export const MAX_SEQUENCE_LENGTH = 32;

/**
 * Which copy a file is. The server copy is the one knockd marks in place, so it must keep the
 * leading space on every unused line; the stick copy is only ever rewritten whole by us.
 */
export type FileRole = 'server' | 'stick';

export type LineState = 'blank' | 'used' | 'unused';

export interface SequenceLine {
  /** 1-based line number in the file. */
  readonly lineNo: number;
  readonly state: LineState;
  /**
   * The sequence on this line. For used lines it is recovered from the text after the "#" when
   * that parses (it is used to refuse re-issuing a spent sequence), else null. Null for blank lines
   * and for unused lines that failed validation.
   */
  readonly sequence: Sequence | null;
}

export interface SequenceFile {
  readonly path: string;
  readonly role: FileRole;
  readonly lines: readonly SequenceLine[];
  /** Whether the last byte is "\n" (true for an empty file). Appending must add one first if not. */
  readonly endsWithNewline: boolean;
}

export interface ParseResult {
  readonly file: SequenceFile;
  /** Every problem found, in line order. Empty means knockd reads the file exactly as we do. */
  readonly problems: readonly FileProblem[];
}

/** The canonical text of a sequence: "7001,7002:udp,7003" (tcp is knockd's default, left implicit). */
export function formatSequence(sequence: Sequence): string {
  return sequence.map((k) => (k.protocol === 'udp' ? `${k.port}:udp` : String(k.port))).join(',');
}

/** One line of a one-time file, as knockd needs it: leading space, commas, newline. */
export function formatLine(sequence: Sequence): string {
  const line = ` ${formatSequence(sequence)}\n`;
  // At most 32 ports of at most 9 bytes each: far below knockd's read size. Checked anyway, so that
  // no writer can ever produce a line knockd splits.
  if (Buffer.byteLength(line) > KNOCKD_READ_MAX) throw new Error(`a sequence line of ${Buffer.byteLength(line)} bytes: knockd reads at most ${KNOCKD_READ_MAX}`);
  return line;
}

/** A key that is equal for two sequences exactly when knockd treats them as the same knock. */
export function sequenceKey(sequence: Sequence): string {
  return formatSequence(sequence);
}

const PORT_TOKEN = /^(\d+)(?::([A-Za-z]+))?$/;

/** Shortens user text quoted in an error so a garbage line cannot flood the terminal. */
function quote(text: string): string {
  const shown = text.length > 24 ? `${text.slice(0, 24)}...` : text;
  return JSON.stringify(shown);
}

interface LineParse {
  sequence: Sequence | null;
  problems: string[];
}

/** Parses the fields of one line (already split on commas by csv-parse). */
function parseFields(fields: readonly string[]): LineParse {
  const problems: string[] = [];
  const knocks: Knock[] = [];
  const seen = new Map<number, number>();
  fields.forEach((field, index) => {
    // knockd's trim: ASCII blanks only, so a no-break space stays part of the token (and fails).
    const token = cTrim(field);
    const position = `port ${index + 1}`;
    if (token === '') {
      problems.push(`${position} is empty (two commas in a row, or a comma at the start or end)`);
      return;
    }
    if (/^\d+(:[A-Za-z]+)?\s+\d/.test(token)) {
      problems.push(
        `ports separated by spaces (${quote(token)}): knockd reads that as the single port ` +
          `${parseInt(token, 10)}; separate ports with commas`,
      );
      return;
    }
    const match = PORT_TOKEN.exec(token);
    if (match === null) {
      problems.push(`${position} is not a port number: ${quote(token)} (knockd would read it as port 0)`);
      return;
    }
    const digits = match[1] ?? '';
    const protocolText = match[2];
    const port = digits.length > 5 ? Number.POSITIVE_INFINITY : Number(digits);
    if (port < 1 || port > 65535) {
      problems.push(`${position} is out of range: ${quote(digits)} (ports are 1-65535)`);
      return;
    }
    let protocol: Protocol = 'tcp';
    if (protocolText !== undefined) {
      if (protocolText === 'tcp' || protocolText === 'udp') {
        protocol = protocolText;
      } else if (protocolText.toLowerCase() === 'tcp' || protocolText.toLowerCase() === 'udp') {
        problems.push(
          `${position}: write the protocol in lowercase (${quote(token)}); the knock client only accepts ":tcp" and ":udp"`,
        );
        return;
      } else {
        problems.push(`${position}: unknown protocol ${quote(protocolText)} (only ":tcp" and ":udp")`);
        return;
      }
    }
    const earlier = seen.get(port);
    if (earlier !== undefined) {
      problems.push(
        `port ${port} appears twice (ports ${earlier} and ${index + 1}): a repeated port resets knockd's sequence`,
      );
      return;
    }
    seen.set(port, index + 1);
    knocks.push({ port, protocol });
  });
  if (fields.length > MAX_SEQUENCE_LENGTH) {
    problems.push(`${fields.length} ports; knockd accepts at most ${MAX_SEQUENCE_LENGTH}`);
  }
  return { sequence: problems.length === 0 ? knocks : null, problems };
}

/** Splits text into records with csv-parse: one record per "\n"-terminated line, no quoting. */
function splitRecords(text: string): string[][] {
  if (text === '') return [];
  // Only "\n" ends a record, exactly as knockd's fgets() sees lines; a "\r" before it is removed
  // below (CRLF is tolerated), and a "\r" anywhere else stays in the field and fails validation.
  return parseCsv(text, {
    delimiter: ',',
    record_delimiter: '\n',
    quote: false,
    relax_column_count: true,
    skip_empty_lines: false,
    trim: false,
  }) as string[][];
}

function stripCarriageReturn(fields: string[]): string[] {
  const last = fields.length - 1;
  const lastField = fields[last];
  if (lastField !== undefined && lastField.endsWith('\r')) {
    return [...fields.slice(0, last), lastField.slice(0, -1)];
  }
  return fields;
}

/**
 * Parses a one-time sequence file and reports every problem with its line number.
 * The result's problems are empty exactly when knockd would read every unused line as we do,
 * all unused lines have one length, and no sequence is repeated.
 */
export function parseSequenceFile(text: string, path: string, role: FileRole): ParseResult {
  const problems: FileProblem[] = [];
  const lines: SequenceLine[] = [];
  const problem = (line: number, message: string): void => {
    problems.push({ file: path, line, message });
  };

  const neutralised: number[] = [];
  // A line knockd reads in two pieces is two lines to it: " 1111,2222,3333,4444" + 4100 blanks +
  // ",5555" loads as the 4-port sequence. Refused, whatever the pieces would say.
  const overlong = new Set<number>();
  for (const line of overlongLines(text)) {
    overlong.add(line.fileLine);
    problem(line.fileLine, overlongMessage(line));
  }

  splitRecords(text).forEach((rawFields, index) => {
    const lineNo = index + 1;
    const fields = stripCarriageReturn(rawFields);
    const joined = fields.join(',');
    const trimmed = cTrim(joined);
    if (overlong.has(lineNo)) {
      lines.push({ lineNo, state: trimmed.startsWith('#') ? 'used' : 'unused', sequence: null });
      return;
    }
    if (trimmed === '') {
      lines.push({ lineNo, state: 'blank', sequence: null });
      return;
    }
    if (trimmed.startsWith('#')) {
      // A spent line (knockd's "#") or a comment. knockd skips it; we only try to recover the
      // sequence so that it is never issued again.
      const rest = trimmed.slice(1);
      const recovered = rest === '' ? null : parseFields(rest.split(','));
      lines.push({ lineNo, state: 'used', sequence: recovered?.sequence ?? null });
      return;
    }
    if (trimmed.endsWith(NEUTRALISED_MARK)) {
      lines.push({ lineNo, state: 'used', sequence: null });
      neutralised.push(lineNo);
      return;
    }
    const parsed = parseFields(fields);
    if (role === 'server' && !/^[ \t]/.test(joined)) {
      problem(
        lineNo,
        'missing leading space: knockd marks a used line by overwriting its first character with "#", ' +
          'which would destroy the first digit; start the line with a space',
      );
    }
    for (const message of parsed.problems) problem(lineNo, message);
    lines.push({ lineNo, state: 'unused', sequence: parsed.sequence });
  });

  for (const lineNo of neutralised) {
    if (lines[lineNo]?.state !== 'blank') {
      problem(
        lineNo,
        'a torn line neutralised by seqgen repair must be followed by a blank line: without it knockd marks this line ' +
          'instead of the next one, and that one-time sequence works twice; put the blank line back',
      );
    }
  }
  checkAcrossLines(lines, problem);
  return {
    file: { path, role, lines, endsWithNewline: text === '' || text.endsWith('\n') },
    problems: problems.sort((a, b) => a.line - b.line),
  };
}

/** Rules that concern several lines: one length for all unused lines, no sequence twice. */
function checkAcrossLines(lines: readonly SequenceLine[], problem: (line: number, message: string) => void): void {
  let reference: SequenceLine | undefined;
  const firstSeen = new Map<string, SequenceLine>();
  for (const line of lines) {
    if (line.sequence === null) continue;
    const key = sequenceKey(line.sequence);
    const earlier = firstSeen.get(key);
    if (line.state === 'unused') {
      if (reference === undefined) {
        reference = line;
      } else if (reference.sequence !== null && line.sequence.length !== reference.sequence.length) {
        problem(
          line.lineNo,
          `has ${line.sequence.length} ports but line ${reference.lineNo} has ${reference.sequence.length}: ` +
            'knockd mixes up its per-address state when unused sequences differ in length',
        );
      }
      if (earlier !== undefined) {
        problem(
          line.lineNo,
          earlier.state === 'used'
            ? `repeats the sequence already used on line ${earlier.lineNo}: anyone who saw that knock could use it again`
            : `repeats the sequence of line ${earlier.lineNo}: a one-time sequence must appear once`,
        );
      }
    }
    if (earlier === undefined) firstSeen.set(key, line);
  }
}

/** The unused lines of a file, in order: what knockd will accept, first one first. */
export function unusedLines(file: SequenceFile): Array<SequenceLine & { sequence: Sequence }> {
  return file.lines.filter(
    (l): l is SequenceLine & { sequence: Sequence } => l.state === 'unused' && l.sequence !== null,
  );
}

/** Every sequence the file has ever held (used ones included, when recoverable). */
export function allSequenceKeys(file: SequenceFile): Set<string> {
  const keys = new Set<string>();
  for (const line of file.lines) if (line.sequence !== null) keys.add(sequenceKey(line.sequence));
  return keys;
}

/** The length shared by the unused lines, or undefined when there are none. */
export function unusedLength(file: SequenceFile): number | undefined {
  return unusedLines(file)[0]?.sequence.length;
}
