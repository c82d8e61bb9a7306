// How knockd 0.8 reads its files, byte for byte: the one model behind knockd-conf.ts (knockd.conf)
// and sequences.ts (one_time_sequences files). Written from knockd.c at tag v0.8 (parseconfig,
// trim, parse_port_sequence, get_next_one_time_sequence, dprint_sequence); not a copy of it. Pure.
//
// What knockd does, and therefore what this module does:
// - Lines come from `fgets(line, PATH_MAX, fp)` with PATH_MAX = 4096: one read stores at most 4095
//   bytes, the newline included. A line of 4095 bytes or more before its newline is read in pieces,
//   and every piece is parsed as a line of its own (and counted: knockd's "config: line N" counts
//   reads, not lines). A 4095-byte line thus needs a second read that returns only its newline: that
//   piece trims to nothing and is skipped, so only knockd's line numbers move. One byte more and
//   the piece holds text, which knockd parses as a directive of its own.
// - Each read is a C string: a NUL byte ends it there.
// - trim() strips C `isspace` bytes at both ends. knockd never calls setlocale, so that is the C
//   locale: space, \t, \n, \v, \f, \r and nothing else. A UTF-8 BOM (EF BB BF) or a no-break space
//   (C2 A0) is text to knockd: "\uFEFF[options]" is no section header but a directive before any
//   section ("all directives must belong to a section"), "\u00A0[ssh]" after one is a directive with
//   no "=" ("syntax error").
// - An empty line or one whose first byte (after trimming) is "#" is skipped. "#" anywhere else is
//   text: `command = x # y` runs "x # y".
// - "[...]" (first byte "[", last "]") opens a section. The name is what lies between, case and
//   blanks kept, cut at 254 bytes; "options" (exactly) is the options section, any other name opens
//   a new door (named by its first 127 bytes), even a name seen before. "[]" is "bad section name".
// - Any other line is a directive: the key is what precedes the first "=", trimmed and upper-cased
//   (ASCII only); the value what follows it, trimmed. A line without "=" is accepted only when its
//   key is USESYSLOG (in any section); `usesyslog = yes` has a "=", so it is an options directive
//   that knockd does not know: "syntax error". Any unknown key is "syntax error". knockd stops at
//   the first error.
// - [options]: LOGFILE, PIDFILE (both cut at 4095 bytes), INTERFACE (cut at 31, ignored when -i was
//   given). Doors: TARGET, SEQUENCE, ONE_TIME_SEQUENCES, SEQ_TIMEOUT/TIMEOUT, START_COMMAND/COMMAND,
//   START_COMMAND_6/COMMAND_6, CMD_TIMEOUT, STOP_COMMAND, STOP_COMMAND_6, TCPFLAGS. A directive set
//   twice keeps its last value.
// - Numbers are read with atoi (glibc: strtol, clamped to a long, cut to an int): " 12x" is 12,
//   "x" is 0. Ports: each comma-separated item is "port[:protocol]"; a port above 65535 is an
//   error, a negative one wraps to 16 bits; the protocol is trimmed and upper-cased, TCP or UDP; at
//   most 32 ports. TCPFLAGS: the value upper-cased, split on "," and NOT trimmed ("syn, ack" fails
//   on " ACK").
// - ONE_TIME_SEQUENCES is opened ("r+") and read while the config is parsed: its first line that
//   parses as a port sequence becomes the door's sequence; a line that fails is skipped (with a
//   message); none at all is fatal.
// - After the file: every door needs a sequence ("has an empty knock sequence").
//
// `readKnockdConf` returns knockd's reading, its first fatal error, and the exact `config:` lines
// that `knockd -D` prints for it, so that the real knockd can be asked (knockd-probe.ts) and any
// difference between its reading and ours is visible.

/** PATH_MAX, the size knockd gives fgets. */
export const KNOCKD_PATH_MAX = 4096;
/** The most bytes one read of knockd takes from a line, the newline included. */
export const KNOCKD_READ_MAX = KNOCKD_PATH_MAX - 1;
/** SEQ_MAX in knockd.c. */
export const KNOCKD_SEQ_MAX = 32;

/**
 * A file's bytes as a "binary" string: one char per byte (latin1), so offsets are byte offsets.
 * Every function here that takes `string | Uint8Array` reads a string as TEXT (encoded to UTF-8,
 * as our files are written) and a Uint8Array as the bytes themselves; binary strings go back to
 * bytes with Buffer.from(s, 'latin1') before they are passed in again.
 */
export function toBytes(input: string | Uint8Array): string {
  return typeof input === 'string' ? Buffer.from(input, 'utf8').toString('latin1') : Buffer.from(input).toString('latin1');
}

/** Back from bytes to text for messages and values (UTF-8, as the files are written). */
export function fromBytes(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** One fgets() call of knockd. */
export interface KnockdRead {
  /** knockd's own count ("config: line N"): one per read. */
  readonly knockdLine: number;
  /** The physical line (1-based) this read comes from. */
  readonly fileLine: number;
  /** Byte offset of the read in the file. */
  readonly offset: number;
  /** The bytes read, newline included when it was reached (binary string). */
  readonly raw: string;
}

/** Splits bytes exactly as repeated `fgets(buf, PATH_MAX, fp)` does. */
export function knockdReads(input: string | Uint8Array): KnockdRead[] {
  const bytes = toBytes(input);
  const reads: KnockdRead[] = [];
  let offset = 0;
  let fileLine = 1;
  while (offset < bytes.length) {
    const newline = bytes.indexOf('\n', offset);
    const lineEnd = newline === -1 ? bytes.length : newline + 1;
    const end = Math.min(lineEnd, offset + KNOCKD_READ_MAX);
    const raw = bytes.slice(offset, end);
    reads.push({ knockdLine: reads.length + 1, fileLine, offset, raw });
    offset = end;
    if (raw.endsWith('\n')) fileLine++;
  }
  return reads;
}

/** A physical line that knockd does not read in one go. */
export interface OverlongLine {
  readonly fileLine: number;
  /** Its length in bytes, newline included (when it has one). */
  readonly bytes: number;
  /** How many reads knockd needs for it. */
  readonly reads: number;
}

/** Every line that knockd reads in more than one fgets() call. */
export function overlongLines(input: string | Uint8Array): OverlongLine[] {
  const byLine = new Map<number, { bytes: number; reads: number }>();
  for (const read of knockdReads(input)) {
    const entry = byLine.get(read.fileLine) ?? { bytes: 0, reads: 0 };
    byLine.set(read.fileLine, { bytes: entry.bytes + read.raw.length, reads: entry.reads + 1 });
  }
  return [...byLine].filter(([, v]) => v.reads > 1).map(([fileLine, v]) => ({ fileLine, ...v }));
}

/** The message for an overlong line, naming the limit. */
export function overlongMessage(line: OverlongLine): string {
  return (
    `is ${line.bytes} bytes long with its newline; knockd reads at most ${KNOCKD_READ_MAX} bytes of a line at once ` +
    `(fgets into a ${KNOCKD_PATH_MAX}-byte buffer) and parses the rest as ${line.reads - 1} more line(s) of its own`
  );
}

/** C `isspace` in the C locale. */
export function isCSpace(ch: string): boolean {
  return ch === ' ' || (ch >= '\t' && ch <= '\r');
}

/** knockd's trim(): C-locale whitespace off both ends, nothing else (no BOM, no U+00A0). */
export function cTrim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isCSpace(s[start] as string)) start++;
  while (end > start && isCSpace(s[end - 1] as string)) end--;
  return s.slice(start, end);
}

function leadingCSpaces(s: string): number {
  let i = 0;
  while (i < s.length && isCSpace(s[i] as string)) i++;
  return i;
}

/** The C string of a read: up to its first NUL. */
export function cString(raw: string): string {
  const nul = raw.indexOf('\0');
  return nul === -1 ? raw : raw.slice(0, nul);
}

/** What knockd's parser sees of a read: the C string, trimmed. */
export function knockdText(raw: string): string {
  return cTrim(cString(raw));
}

/** C toupper in the C locale: ASCII letters only. */
export function cUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** glibc atoi: (int) strtol(s, NULL, 10). */
export function cAtoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  if (m === null || m[2] === '') return 0;
  let v = BigInt(m[2] as string);
  if (m[1] === '-') v = -v;
  const LONG_MAX = (1n << 63n) - 1n;
  const LONG_MIN = -(1n << 63n);
  if (v > LONG_MAX) v = LONG_MAX;
  if (v < LONG_MIN) v = LONG_MIN;
  return Number(BigInt.asIntN(32, v));
}

export type KnockdProtocol = 'tcp' | 'udp';

export interface KnockdPort {
  readonly port: number;
  readonly protocol: KnockdProtocol;
}

/** dprint_sequence's text: "1:tcp,2:udp". */
export function knockdSequenceText(sequence: readonly KnockdPort[]): string {
  return sequence.map((k) => `${k.port}:${k.protocol}`).join(',');
}

/**
 * parse_port_sequence: the ports of a sequence value or one-time line, or knockd's error message.
 * `door` names the section in the message.
 */
export function parseKnockdSequence(value: string, door: string): { sequence: KnockdPort[] } | { error: string } {
  const sequence: KnockdPort[] = [];
  for (const item of value.split(',')) {
    if (sequence.length >= KNOCKD_SEQ_MAX) return { error: `config: section ${door}: too many ports in knock sequence` };
    const parts = item.split(':');
    const portText = parts[0] as string;
    const portnum = cAtoi(portText);
    if (portnum > 65535) return { error: `config: section ${door}: port ${portText} is invalid` };
    let protocol: KnockdProtocol = 'tcp';
    if (parts.length > 1) {
      const name = cUpper(cTrim(parts[1] as string));
      if (name === 'UDP') protocol = 'udp';
      else if (name !== 'TCP') return { error: `config: section ${door}: unknown protocol in knock sequence` };
    }
    sequence.push({ port: portnum & 0xffff, protocol });
  }
  return { sequence };
}

/** A one-time file as knockd loads it at config time: its first line that parses, if any. */
export function firstOneTimeSequence(input: string | Uint8Array, door: string): { sequence: KnockdPort[]; read: KnockdRead } | null {
  for (const read of knockdReads(input)) {
    const text = knockdText(read.raw);
    if (text === '' || text.startsWith('#')) continue;
    const parsed = parseKnockdSequence(text, door);
    if ('sequence' in parsed) return { sequence: parsed.sequence, read };
  }
  return null;
}

export type TcpFlag = 'FIN' | 'SYN' | 'RST' | 'PSH' | 'ACK' | 'URG';
const TCP_FLAG_NAMES = new Set(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG']);

/** One directive as knockd read it. Values are binary strings (use fromBytes to show them). */
export interface KnockdDirective {
  /** Upper-cased key, as knockd compares it. */
  readonly key: string;
  /** The key as written (trimmed), for messages. */
  readonly written: string;
  /** Trimmed value; null for the bare word (usesyslog). */
  readonly value: string | null;
  readonly read: KnockdRead;
  /** Byte offset (in the file) of the value's first byte, and its length; for rewriting a copy. */
  readonly valueOffset: number;
}

export interface KnockdDoorReading {
  readonly name: string;
  readonly read: KnockdRead;
  readonly directives: KnockdDirective[];
  sequence: KnockdPort[] | null;
  oneTimeFile: string | null;
  target: string | null;
  seqTimeout: number;
  cmdTimeout: number;
  startCommand: string | null;
  startCommand6: string | null;
  stopCommand: string | null;
  stopCommand6: string | null;
  readonly flags: Map<TcpFlag, 'set' | 'not set'>;
}

export interface KnockdReading {
  readonly logfile: string;
  readonly pidfile: string;
  /** Set by the config only when knockd got no -i. */
  readonly interface: string;
  readonly usesyslog: boolean;
  readonly doors: KnockdDoorReading[];
  /** Directives of [options], in order. */
  readonly optionDirectives: KnockdDirective[];
  /** The message knockd stops with (stderr), or null when it accepts the file. */
  readonly error: string | null;
  /** The read the error is on, when it is on one. */
  readonly errorRead: KnockdRead | null;
  /** What `knockd -D` prints to stdout while it parses: every "config: ..." and "new sequence ..." line. */
  readonly transcript: string[];
}

export interface ReadOptions {
  /** knockd was started with -i (the config's interface is then ignored and not printed). */
  readonly interfaceFromCommandLine?: boolean;
  /**
   * The bytes of a one_time_sequences file (binary string or buffer), null when knockd cannot open
   * it. Without this function the files are not loaded: the reading then has no sequence for those
   * doors and no transcript lines for their loading (enough for everything but a comparison with
   * the real knockd).
   */
  readonly oneTimeFile?: (path: string) => string | Uint8Array | null;
}

/**
 * A read as a directive, whatever section it is in and whatever came before: the upper-cased key,
 * the trimmed value (null without "=") and the value's byte offset. Null for blank lines, comments
 * and section headers.
 */
export function directiveOf(read: KnockdRead): KnockdDirective | null {
  const cstr = cString(read.raw);
  const line = cTrim(cstr);
  if (line === '' || line.startsWith('#') || (line.startsWith('[') && line.endsWith(']'))) return null;
  const lead = leadingCSpaces(cstr);
  const eq = line.indexOf('=');
  const written = cTrim(eq === -1 ? line : line.slice(0, eq));
  if (eq === -1) return { key: cUpper(written), written, value: null, read, valueOffset: read.offset + lead };
  const rawValue = line.slice(eq + 1);
  return { key: cUpper(written), written, value: cTrim(rawValue), read, valueOffset: read.offset + lead + eq + 1 + leadingCSpaces(rawValue) };
}

/** knockd's parseconfig() on `input`. */
export function readKnockdConf(input: string | Uint8Array, options: ReadOptions = {}): KnockdReading {
  const transcript: string[] = [];
  const doors: KnockdDoorReading[] = [];
  const optionDirectives: KnockdDirective[] = [];
  let logfile = '';
  let pidfile = '/var/run/knockd.pid';
  let iface = '';
  let usesyslog = false;
  let section = '';
  let door: KnockdDoorReading | null = null;
  let error: string | null = null;
  let errorRead: KnockdRead | null = null;
  const result = (): KnockdReading => ({ logfile, pidfile, interface: iface, usesyslog, doors, optionDirectives, error, errorRead, transcript });

  for (const read of knockdReads(input)) {
    const fail = (message: string): KnockdReading => {
      error = message;
      errorRead = read;
      return result();
    };
    const n = read.knockdLine;
    const cstr = cString(read.raw);
    const line = cTrim(cstr);
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      // strncpy into char[256], then the last byte (the "]", or the 255th when cut) dropped.
      section = line.slice(1).slice(0, 255).slice(0, -1);
      transcript.push(`config: new section: '${section}'`);
      if (section === '') return fail(`config: line ${n}: bad section name`);
      if (section !== 'options') {
        door = {
          name: section.slice(0, 127),
          read,
          directives: [],
          sequence: null,
          oneTimeFile: null,
          target: null,
          seqTimeout: 25,
          cmdTimeout: 10,
          startCommand: null,
          startCommand6: null,
          stopCommand: null,
          stopCommand6: null,
          flags: new Map(),
        };
        doors.push(door);
      }
      continue;
    }
    if (section === '') return fail(`config: line ${n}: all directives must belong to a section`);
    const eq = line.indexOf('=');
    const written = cTrim(eq === -1 ? line : line.slice(0, eq));
    const key = cUpper(written);
    const lead = leadingCSpaces(cstr);
    if (eq === -1) {
      if (key !== 'USESYSLOG') return fail(`config: line ${n}: syntax error`);
      usesyslog = true;
      transcript.push('config: usesyslog');
      const directive: KnockdDirective = { key, written, value: null, read, valueOffset: read.offset + lead };
      (section === 'options' || door === null ? optionDirectives : door.directives).push(directive);
      continue;
    }
    const rawValue = line.slice(eq + 1);
    const value = cTrim(rawValue);
    const valueOffset = read.offset + lead + eq + 1 + leadingCSpaces(rawValue);
    const directive: KnockdDirective = { key, written, value, read, valueOffset };
    if (section === 'options') {
      if (key === 'LOGFILE') {
        logfile = value.slice(0, KNOCKD_PATH_MAX - 1);
        transcript.push(`config: log file: ${logfile}`);
      } else if (key === 'PIDFILE') {
        pidfile = value.slice(0, KNOCKD_PATH_MAX - 1);
        transcript.push(`config: pid file: ${pidfile}`);
      } else if (key === 'INTERFACE') {
        if (options.interfaceFromCommandLine !== true && iface === '') {
          iface = value.slice(0, 31);
          transcript.push(`config: interface: ${iface}`);
        }
      } else return fail(`config: line ${n}: syntax error`);
      optionDirectives.push(directive);
      continue;
    }
    // A door section always has its door: every section but "options" opened one.
    const d = door as KnockdDoorReading;
    const name = d.name;
    switch (key) {
      case 'TARGET':
        d.target = value;
        transcript.push(`config: ${name}: target: ${value}`);
        break;
      case 'SEQUENCE': {
        const parsed = parseKnockdSequence(value, name);
        if ('error' in parsed) return fail(parsed.error);
        d.sequence = parsed.sequence;
        transcript.push(`config: ${name}: sequence: ${knockdSequenceText(parsed.sequence)}`);
        break;
      }
      case 'ONE_TIME_SEQUENCES': {
        d.oneTimeFile = value;
        if (options.oneTimeFile === undefined) {
          d.sequence = null;
          break;
        }
        const bytes = options.oneTimeFile(fromBytes(value));
        // perror(path): the errno text is the system's; the model says which file.
        if (bytes === null) return fail(`${value}: `);
        transcript.push(`config: ${name}: one time sequences file: ${value}`);
        const first = firstOneTimeSequence(bytes, name);
        if (first === null) {
          transcript.push(`config: no more sequences left in the one time sequences file ${value}`);
          return fail(`no more sequences left in the one time sequences file for door ${name} --> disabling the door`);
        }
        d.sequence = first.sequence;
        transcript.push(`new sequence for door ${name}: ${knockdSequenceText(first.sequence)}`);
        transcript.push(`config: ${name}: sequence: ${knockdSequenceText(first.sequence)}`);
        break;
      }
      case 'SEQ_TIMEOUT':
      case 'TIMEOUT':
        d.seqTimeout = cAtoi(value);
        transcript.push(`config: ${name}: seq_timeout: ${d.seqTimeout}`);
        break;
      case 'START_COMMAND':
      case 'COMMAND':
        d.startCommand = value;
        transcript.push(`config: ${name}: start_command: ${value}`);
        break;
      case 'START_COMMAND_6':
      case 'COMMAND_6':
        d.startCommand6 = value;
        transcript.push(`config: ${name}: start_command_6: ${value}`);
        break;
      case 'CMD_TIMEOUT':
        d.cmdTimeout = cAtoi(value);
        transcript.push(`config: ${name}: cmd_timeout: ${d.cmdTimeout}`);
        break;
      case 'STOP_COMMAND':
        d.stopCommand = value;
        transcript.push(`config: ${name}: stop_command: ${value}`);
        break;
      case 'STOP_COMMAND_6':
        d.stopCommand6 = value;
        transcript.push(`config: ${name}: stop_command_6: ${value}`);
        break;
      case 'TCPFLAGS':
        for (const flag of cUpper(value).split(',')) {
          const bare = flag.startsWith('!') ? flag.slice(1) : flag;
          if (!TCP_FLAG_NAMES.has(bare)) return fail(`config: line ${n}: unrecognized flag "${flag}"`);
          d.flags.set(bare as TcpFlag, flag.startsWith('!') ? 'not set' : 'set');
          transcript.push(`config: tcp flag: ${flag}`);
        }
        break;
      default:
        return fail(`config: line ${n}: syntax error`);
    }
    d.directives.push(directive);
  }
  // The sanity check after the file. Doors whose one-time file was not loaded (no oneTimeFile
  // function) are given the benefit of the doubt: the caller checks those files itself.
  for (const d of doors) {
    if (d.sequence === null && !(d.oneTimeFile !== null && options.oneTimeFile === undefined)) {
      error = `error: section '${d.name}' has an empty knock sequence`;
      return result();
    }
  }
  return result();
}
