// knockd.conf as knockd 0.8 reads it (knockd.c parseconfig): lines are trimmed; blank lines and
// lines starting with "#" are skipped; "[name]" opens a section ("options" or a door);
// "key = value" belongs to the current section, keys case-insensitive, the value trimmed.
// knockd has no check mode and dies on a config error at SIGHUP, so we check a config ourselves
// before anyone reloads it. Pure.

import type { FileProblem } from './errors.js';
import { parseSequenceFile, type Sequence } from './sequences.js';

const OPTION_KEYS = new Set(['logfile', 'pidfile', 'interface', 'usesyslog']);
const DOOR_KEYS = new Set([
  'target',
  'sequence',
  'one_time_sequences',
  'seq_timeout',
  'timeout',
  'start_command',
  'command',
  'cmd_timeout',
  'stop_command',
  'tcpflags',
]);
const TCP_FLAGS = new Set(['fin', 'syn', 'rst', 'psh', 'ack', 'urg']);

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

export function parseKnockdConf(text: string, path: string): { conf: KnockdConf; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const problem = (line: number, message: string): void => void problems.push({ file: path, line, message });
  const options = new Map<string, { value: string; line: number }>();
  const doors: Array<{ name: string; line: number; settings: Map<string, { value: string; line: number }> }> = [];
  let section: string | null = null;

  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
      section = trimmed.slice(1, -1);
      if (section === '') problem(line, 'bad section name');
      else if (section !== 'options') {
        if (doors.some((d) => d.name === section)) problem(line, `section [${section}] appears twice`);
        doors.push({ name: section, line, settings: new Map() });
      }
      return;
    }
    if (section === null) {
      problem(line, 'every directive must belong to a section');
      return;
    }
    const eq = trimmed.indexOf('=');
    const key = (eq === -1 ? trimmed : trimmed.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? '' : trimmed.slice(eq + 1).trim();
    if (eq === -1 && key !== 'usesyslog') {
      problem(line, `syntax error: expected "key = value"`);
      return;
    }
    if (section === 'options') {
      if (!OPTION_KEYS.has(key)) problem(line, `unknown option "${key}" (knockd refuses to start)`);
      options.set(key, { value, line });
      return;
    }
    if (!DOOR_KEYS.has(key)) {
      problem(line, `unknown directive "${key}" in [${section}] (knockd refuses to start)`);
      return;
    }
    const door = doors[doors.length - 1];
    if (door === undefined) return;
    if (door.settings.has(key)) problem(line, `${key} is set twice in [${door.name}] (knockd keeps the last one)`);
    door.settings.set(key, { value, line });
  });

  const parsedDoors: KnockdDoor[] = doors.map((door) => {
    let sequence: Sequence | null = null;
    const seq = door.settings.get('sequence');
    const oneTime = door.settings.get('one_time_sequences');
    if (seq !== undefined) {
      const parsed = parseSequenceFile(` ${seq.value}\n`, path, 'server');
      for (const p of parsed.problems) problem(seq.line, `[${door.name}] sequence: ${p.message}`);
      sequence = parsed.file.lines[0]?.sequence ?? null;
    }
    if (seq === undefined && oneTime === undefined) problem(door.line, `[${door.name}] has neither sequence nor one_time_sequences (knockd refuses to start)`);
    if (seq !== undefined && oneTime !== undefined) problem(door.line, `[${door.name}] has both sequence and one_time_sequences; use one`);
    for (const key of ['seq_timeout', 'timeout', 'cmd_timeout']) {
      const v = door.settings.get(key);
      if (v !== undefined && !/^\d+$/.test(v.value)) problem(v.line, `${key} must be a whole number of seconds (knockd would read ${JSON.stringify(v.value)} as 0)`);
    }
    const flags = door.settings.get('tcpflags');
    if (flags !== undefined) {
      for (const flag of flags.value.split(',')) {
        if (!TCP_FLAGS.has(flag.trim().toLowerCase().replace(/^!/, ''))) problem(flags.line, `unknown tcp flag "${flag.trim()}" (knockd refuses to start)`);
      }
    }
    return { name: door.name, line: door.line, settings: door.settings, sequence, oneTimeFile: oneTime?.value ?? null };
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
 * `text` with its [panic] section replaced by `stanza` (or `stanza` appended when there is none).
 * Everything else stays byte for byte.
 */
export function withPanicStanza(text: string, stanza: string): string {
  const lines = text.split('\n');
  const isHeader = (l: string): boolean => /^\s*\[.+\]\s*$/.test(l);
  const start = lines.findIndex((l) => l.trim() === '[panic]');
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
