// fwknopd's access.conf, one stanza per SPA stick. Pure: text in, text out (I/O in spa-member.ts).
//
// How fwknopd 2.6 reads the file (server/access.c parse_access_file), which this parser follows:
// - fgets with a 1024-byte buffer: a line of 1023 bytes or more is read as two lines, the second
//   half as an entry of its own. We refuse such lines rather than guess what fwknopd makes of them.
// - A line is skipped when its FIRST byte is "#", ";", "\n", "\r" or NUL (nothing else: a line of
//   blanks, or blanks then "#", is an entry, and an entry needs a word and a value, so fwknopd
//   refuses it and does not start).
// - An entry is `VAR VALUE`: the first word (a trailing ":" dropped), then the value up to ";",
//   CR or LF. "SOURCE" starts a new stanza; every entry up to the next SOURCE belongs to it, and
//   entries before the first SOURCE are ignored.
// - On a packet, fwknopd walks the stanzas in file order and tries each whose SOURCE matches: a
//   stanza whose keys do not authenticate the packet (HMAC) is passed over and the next is tried
//   (server/incoming_spa.c incoming_spa). So several "SOURCE ANY" stanzas, each with its own keys,
//   admit each stick independently, and removing one stanza leaves the others as they were.
//
// A member's stanza is framed by two comment lines that fwknopd skips and we find again:
//
//   # knockstick stick alice: stick revoke alice removes this stanza
//   SOURCE                  ANY
//   ...
//   # knockstick end of stick alice
//
// Nothing but comments may follow the end line before the next SOURCE (or the end of the file):
// fwknopd would read such an entry as part of our stanza, and removing the stanza would hand it to
// the one before. Every other byte of the file is kept as it was.

import type { FileProblem } from './errors.js';

/** fwknopd's MAX_LINE_LEN: fgets keeps at most 1023 bytes of a line, newline included. */
export const ACCESS_MAX_LINE = 1022;

const BEGIN_RE = /^# knockstick stick ([a-z][a-z0-9-]{0,31}): /;
const END_RE = /^# knockstick end of stick ([a-z][a-z0-9-]{0,31})$/;

export interface AccessEntry {
  /** 1-based. */
  readonly line: number;
  readonly variable: string;
  readonly value: string;
}

export interface AccessStanza {
  /** The SOURCE line. */
  readonly line: number;
  readonly source: string;
  readonly entries: readonly AccessEntry[];
  /** The member whose frame holds this stanza, if any. */
  readonly member?: string | undefined;
}

export interface MemberFrame {
  readonly name: string;
  /** 0-based indexes of the begin and end comment lines. */
  readonly begin: number;
  readonly end: number;
}

export interface ParsedAccess {
  readonly stanzas: readonly AccessStanza[];
  readonly frames: readonly MemberFrame[];
  readonly problems: readonly FileProblem[];
}

/** Splits into lines as fgets does (each keeps its "\n"; the last may lack one). */
function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const isSkipped = (line: string): boolean => line === '' || '#;\n\r\0'.includes(line[0] as string);

/** Reads access.conf the way fwknopd does, and finds our member frames. */
export function parseAccessConf(text: string, path: string): ParsedAccess {
  const problems: FileProblem[] = [];
  const problem = (line: number, message: string): void => void problems.push({ file: path, line, message });
  const stanzas: { line: number; source: string; entries: AccessEntry[]; member?: string }[] = [];
  const frames: MemberFrame[] = [];
  if (text.startsWith('\uFEFF')) {
    problem(1, 'the file begins with a byte-order mark: fwknopd would read the first word with it as an unknown variable; save the file without the BOM');
    return { stanzas, frames, problems };
  }
  let open: { name: string; begin: number; sources: number } | undefined;
  let afterEnd: string | undefined; // a frame just ended: only comments until the next SOURCE
  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    const body = raw.replace(/\n$/, '');
    if (Buffer.byteLength(body) > ACCESS_MAX_LINE) return problem(line, `line is ${Buffer.byteLength(body)} bytes long: fwknopd reads at most ${ACCESS_MAX_LINE} bytes of a line and takes the rest as another line`);
    if (body.includes('\0')) return problem(line, 'line holds a NUL byte');
    const begin = BEGIN_RE.exec(body);
    const end = END_RE.exec(body);
    if (begin !== null) {
      const name = begin[1] as string;
      if (open !== undefined) problem(line, `stick ${name}'s stanza begins inside stick ${open.name}'s (line ${open.begin + 1})`);
      if (frames.some((f) => f.name === name)) problem(line, `stick ${name} has a second stanza here`);
      open = { name, begin: index, sources: 0 };
      afterEnd = undefined;
      return;
    }
    if (end !== null) {
      const name = end[1] as string;
      if (open === undefined || open.name !== name) return problem(line, `end of stick ${name}'s stanza without its beginning`);
      if (open.sources !== 1) problem(line, `stick ${name}'s frame (line ${open.begin + 1}) holds ${open.sources} SOURCE lines, not one`);
      frames.push({ name, begin: open.begin, end: index });
      afterEnd = name;
      open = undefined;
      return;
    }
    if (isSkipped(raw)) return;
    const m = /^[ \t\v\f\r]*(\S+)[ \t\v\f\r]+([^;\n\r]+)/.exec(body);
    if (m === null) return problem(line, `fwknopd refuses this line (it needs "VARIABLE VALUE"; a line of blanks counts as one): ${JSON.stringify(body.slice(0, 60))}`);
    const variable = (m[1] as string).replace(/:$/, '');
    const value = (m[2] as string).trim();
    if (variable === 'SOURCE') {
      afterEnd = undefined;
      if (open !== undefined) open.sources += 1;
      stanzas.push({ line, source: value, entries: [], ...(open === undefined ? {} : { member: open.name }) });
      return;
    }
    if (afterEnd !== undefined) return problem(line, `${variable} follows the end of stick ${afterEnd}'s stanza: fwknopd reads it as part of that stanza; move it into a stanza of its own (after a SOURCE line)`);
    if (open !== undefined && open.sources === 0) problem(line, `${variable} before the SOURCE line of stick ${open.name}'s stanza`);
    if (variable.startsWith('%include')) problem(line, `${variable}: stanzas in other files are not managed here; keep the members in ${path}`);
    stanzas[stanzas.length - 1]?.entries.push({ line, variable, value });
  });
  if (open !== undefined) problem(open.begin + 1, `stick ${open.name}'s stanza has no end line ("# knockstick end of stick ${open.name}")`);
  return { stanzas, frames, problems };
}

/** The names of the members with a stanza here. */
export function accessMembers(parsed: ParsedAccess): string[] {
  return parsed.frames.map((f) => f.name);
}

/** A stanza's lines, framed for `name`. Values must be single words fwknopd reads back as they are. */
export function formatMemberStanza(name: string, entries: readonly (readonly [string, string])[]): string {
  const lines = [`# knockstick stick ${name}: stick revoke ${name} removes this stanza`];
  for (const [variable, value] of entries) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(variable)) throw new Error(`access.conf variable ${JSON.stringify(variable)}`);
    if (/[;\n\r\0#]/.test(value) || value.trim() !== value || value === '') throw new Error(`access.conf value for ${variable} cannot be written`);
    lines.push(`${variable.padEnd(23)} ${value}`);
  }
  lines.push(`# knockstick end of stick ${name}`);
  return `${lines.join('\n')}\n`;
}

export type EditResult = { readonly text: string } | { readonly problems: readonly FileProblem[] };

/** Appends `name`'s stanza; refuses a file fwknopd would misread, or a name that has one already. */
export function addMemberStanza(text: string, path: string, name: string, entries: readonly (readonly [string, string])[]): EditResult {
  const parsed = parseAccessConf(text, path);
  if (parsed.problems.length > 0) return { problems: parsed.problems };
  const frame = parsed.frames.find((f) => f.name === name);
  if (frame !== undefined) return { problems: [{ file: path, line: frame.begin + 1, message: `stick ${name} has a stanza here already` }] };
  const stanza = formatMemberStanza(name, entries);
  if (stanza.split('\n').some((l) => Buffer.byteLength(l) > ACCESS_MAX_LINE)) throw new Error('access.conf stanza line too long');
  const head = text === '' ? '' : text.endsWith('\n') ? `${text}\n` : `${text}\n\n`;
  return { text: `${head}${stanza}` };
}

/**
 * Removes `name`'s stanza (its frame, and the one blank line addMemberStanza put before it).
 * Every other byte stays; the stanzas left are the ones fwknopd had, in the same order. The last
 * stanza is only removed with allowEmpty (fwknopd is then stopped: a knockd server's last SPA stick).
 */
export function removeMemberStanza(text: string, path: string, name: string, options: { allowEmpty?: boolean } = {}): EditResult {
  const parsed = parseAccessConf(text, path);
  if (parsed.problems.length > 0) return { problems: parsed.problems };
  const frame = parsed.frames.find((f) => f.name === name);
  if (frame === undefined) return { problems: [{ file: path, line: 0, message: `no stanza for stick ${name} (no line "# knockstick stick ${name}: ...")` }] };
  const lines = splitLines(text);
  let from = frame.begin;
  if (from > 0 && lines[from - 1] === '\n') from -= 1;
  const kept = [...lines.slice(0, from), ...lines.slice(frame.end + 1)];
  const result = kept.join('');
  // A stanza left with no SOURCE at all would make fwknopd refuse to start ("could not find any
  // valid access.conf stanzas"): say so rather than write it.
  const after = parseAccessConf(result, path);
  if (after.stanzas.length === 0 && options.allowEmpty !== true) return { problems: [{ file: path, line: frame.begin + 1, message: `stick ${name}'s stanza is the last one: fwknopd does not start without a stanza` }] };
  return { text: result };
}
