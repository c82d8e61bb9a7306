// knockd.conf as knockd 0.8 reads it: knockd-reader.ts is the model of knockd's parser (line
// limit, C-locale trimming, sections, every directive); this file turns its reading into what our
// commands use, and adds the problems knockd would not stop at but that make a config wrong (a line
// knockd splits, a door that shares a one-time file, a sequence knockd reads differently from what
// was meant). knockd has no check mode and dies on a config error at SIGHUP, so we check a config
// ourselves before anyone reloads it (and knockd-probe.ts asks the real knockd where it can). Pure.

import { usageError, type FileProblem, type KnockstickError } from './errors.js';
import { KNOCKD_READ_MAX, cString, cTrim, fromBytes, overlongLines, overlongMessage, readKnockdConf, type KnockdDirective, type KnockdReading } from './knockd-reader.js';
import { parseSequenceFile, type Sequence } from './sequences.js';

export interface KnockdDoor {
  readonly name: string;
  readonly line: number;
  /** Lower-case key → value (and the line it is on). */
  readonly settings: ReadonlyMap<string, { value: string; line: number }>;
  readonly sequence: Sequence | null;
  readonly oneTimeFile: string | null;
}

export interface KnockdConf {
  readonly options: ReadonlyMap<string, { value: string; line: number }>;
  readonly doors: readonly KnockdDoor[];
}

/** Why knockd stopped, said for a person: what is on the line, then knockd's own words. */
function explain(reading: KnockdReading): string {
  const error = fromBytes(reading.error ?? '');
  const read = reading.errorRead;
  if (read === null) return `knockd stops with "${error}"`;
  const text = cTrim(cString(read.raw));
  let what = '';
  if (text.startsWith('\xef\xbb\xbf')) what = 'starts with a UTF-8 byte-order mark, which knockd does not skip (it trims only ASCII blanks)';
  else if (text.startsWith('\xc2\xa0')) what = 'starts with a no-break space (U+00A0), which knockd does not skip (it trims only ASCII blanks)';
  else if (/^[\x80-\xff]/.test(text)) what = 'starts with a non-ASCII byte, which knockd does not skip (it trims only ASCII blanks)';
  else if (/syntax error$/.test(error)) {
    const eq = text.indexOf('=');
    const key = cTrim(eq === -1 ? text : text.slice(0, eq));
    const lower = fromBytes(key).toLowerCase();
    if (lower === 'usesyslog') what = 'usesyslog takes no value: write the bare word "usesyslog" on its own line';
    else if (eq === -1) what = `"${fromBytes(text).slice(0, 40)}" is neither a [section] nor "key = value"`;
    else if (sectionBefore(reading) === 'options') what = `unknown option "${lower}" (knockd knows logfile, pidfile, interface, usesyslog)`;
    else what = `unknown directive "${lower}" in [${fromBytes(sectionBefore(reading))}]`;
  }
  const counted = read.knockdLine !== read.fileLine ? ` (knockd counts it as line ${read.knockdLine}: a longer line before it took two reads)` : '';
  return `${what === '' ? '' : `${what}; `}knockd stops with "${error}"${counted}`;
}

/** The section the failing directive is in: the last header knockd printed. */
function sectionBefore(reading: KnockdReading): string {
  const headers = reading.transcript.filter((l) => l.startsWith("config: new section: '"));
  const last = headers[headers.length - 1];
  return last === undefined ? '' : last.slice("config: new section: '".length, -1);
}

const settingOf = (d: KnockdDirective): { value: string; line: number } => ({ value: fromBytes(d.value ?? ''), line: d.read.fileLine });

export function parseKnockdConf(text: string, path: string): { conf: KnockdConf; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const problem = (line: number, message: string): void => void problems.push({ file: path, line, message });
  for (const line of overlongLines(text)) problem(line.fileLine, overlongMessage(line));
  text.split('\n').forEach((l, i) => {
    if (l.includes('\0')) problem(i + 1, 'has a NUL byte: knockd ignores the rest of the line after it');
  });
  const reading = readKnockdConf(text, { interfaceFromCommandLine: false });
  if (reading.error !== null) problem(reading.errorRead?.fileLine ?? 0, explain(reading));

  const options = new Map<string, { value: string; line: number }>();
  for (const d of reading.optionDirectives) options.set(fromBytes(d.written).toLowerCase(), settingOf(d));

  const seenNames = new Map<string, number>();
  const parsedDoors: KnockdDoor[] = reading.doors.map((door) => {
    const name = fromBytes(door.name);
    const line = door.read.fileLine;
    const earlierName = seenNames.get(name);
    if (earlierName !== undefined) problem(line, `section [${name}] appears twice (also line ${earlierName}): knockd makes two doors`);
    seenNames.set(name, line);
    const settings = new Map<string, { value: string; line: number }>();
    for (const d of door.directives) {
      const key = fromBytes(d.written).toLowerCase();
      if (settings.has(key)) problem(d.read.fileLine, `${key} is set twice in [${name}] (knockd keeps the last one)`);
      settings.set(key, settingOf(d));
    }
    let sequence: Sequence | null = null;
    const seq = settings.get('sequence');
    const oneTime = settings.get('one_time_sequences');
    if (seq !== undefined) {
      const parsed = parseSequenceFile(` ${seq.value}\n`, path, 'server');
      for (const p of parsed.problems) problem(seq.line, `[${name}] sequence: ${p.message}`);
      sequence = parsed.file.lines[0]?.sequence ?? null;
    }
    if (seq === undefined && oneTime === undefined && reading.error === null) problem(line, `[${name}] has neither sequence nor one_time_sequences (knockd refuses to start)`);
    if (seq !== undefined && oneTime !== undefined) problem(line, `[${name}] has both sequence and one_time_sequences; use one`);
    for (const key of ['seq_timeout', 'timeout', 'cmd_timeout']) {
      const v = settings.get(key);
      if (v !== undefined && !/^\d+$/.test(v.value)) problem(v.line, `${key} must be a whole number of seconds (knockd would read ${JSON.stringify(v.value)} as ${cAtoiText(v.value)})`);
    }
    return { name, line, settings, sequence, oneTimeFile: oneTime?.value ?? null };
  });

  const byFile = new Map<string, KnockdDoor>();
  for (const door of parsedDoors) {
    if (door.oneTimeFile === null) continue;
    const earlier = byFile.get(door.oneTimeFile);
    if (earlier !== undefined) {
      problem(door.line, `[${door.name}] shares its one_time_sequences file with [${earlier.name}]: both would advance together`);
    }
    byFile.set(door.oneTimeFile, door);
  }
  return { conf: { options, doors: parsedDoors }, problems: problems.sort((a, b) => a.line - b.line) };
}

/**
 * A usage error when `text` (a knockd.conf we are about to write) has a line knockd would read in
 * pieces; `blame` names what made it long (a flag, a setting), so the user knows what to shorten.
 * The pieces would be directives of their own: a pidfile padded to byte 4095 followed by
 * "command = ..." is a second command for the panic door.
 */
export function lineLimitError(text: string, path: string, blame: string): KnockstickError | undefined {
  const line = overlongLines(text)[0];
  if (line === undefined) return undefined;
  return usageError(
    `${blame} makes line ${line.fileLine} of ${path.length > 100 ? `${path.slice(0, 40)}...${path.slice(-40)}` : path} ${line.bytes} bytes long (newline included), but knockd reads at most ` +
      `${KNOCKD_READ_MAX} bytes of a line at once and would parse the rest as a line of its own; nothing was written`,
    'use a shorter value (a path, here)',
  );
}

function cAtoiText(value: string): string {
  const m = /^[ \t]*([+-]?\d+)/.exec(value);
  return m === null ? '0' : String(Number(m[1]));
}

/**
 * `text` with its [panic] section replaced by `stanza` (or `stanza` appended when there is none).
 * Everything else stays byte for byte.
 */
export function withPanicStanza(text: string, stanza: string): string {
  const lines = text.split('\n');
  // A header as knockd sees one: "[" and "]" after its trim (ASCII blanks only), NUL ending the line.
  const isHeader = (l: string): boolean => {
    const t = cTrim(cString(l));
    return t.length >= 2 && t.startsWith('[') && t.endsWith(']');
  };
  const start = lines.findIndex((l) => cTrim(l) === '[panic]');
  const block = stanza.replace(/\n$/, '').split('\n');
  if (start === -1) {
    const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
    return `${base}${base === '' ? '' : '\n'}${block.join('\n')}\n`;
  }
  let end = lines.findIndex((l, i) => i > start && isHeader(l));
  if (end === -1) end = lines.length;
  // Keep the blank lines that separated the old stanza from what follows.
  while (end - 1 > start && (lines[end - 1] as string).trim() === '') end--;
  return [...lines.slice(0, start), ...block, ...lines.slice(end)].join('\n');
}
