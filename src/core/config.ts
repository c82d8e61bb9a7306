// The two small settings files that let commands share facts instead of repeating flags:
//
//   server: /etc/knockstick/server.conf        (seqgen, panic and doctor on the server)
//   stick:  STICK/.ssh/knockstick.conf          (seqgen, callhome and panic on the client)
//
// Same format for both, in the spirit of knockd.conf: "key = value" lines, "#" comments, and on the
// stick optional "[ALIAS]" sections for one server among several (keys before any section apply to
// every alias). Example:
//
//   # ports no sequence may use (besides the panic ports and ssh_port)
//   exclude = 8080,8443
//   [home]
//   panic_sequence = 47113,52981,60210,33307,41999
//   panic_host = home.example.org
//
// Unknown keys, duplicates and bad values are errors naming the file and line: a typo must never
// silently drop a panic port from the exclusions.

import { unusableCharacterProblems } from './characters.js';
import { InvalidFileError, type FileProblem } from './errors.js';
import { readTextIfExists } from './files.js';
import { parseSequenceFile, type Sequence } from './sequences.js';

export const SERVER_CONFIG_PATH = '/etc/knockstick/server.conf';
export const STICK_CONFIG_NAME = 'knockstick.conf';

export type ConfigKind = 'server' | 'stick';

const KEYS: Record<ConfigKind, readonly string[]> = {
  // method, spa_port, fwknopd_conf, access_conf: an SPA server (server init --method spa).
  server: ['ssh_port', 'exclude', 'panic_sequence', 'knockd_conf', 'pidfile', 'firewall', 'door_policy', 'method', 'spa_port', 'fwknopd_conf', 'access_conf'],
  // server_file, ports: a member stick's own door (knockstick stick add).
  stick: ['ssh_port', 'exclude', 'panic_sequence', 'panic_host', 'method', 'door_policy', 'server_file', 'ports'],
};

export interface Settings {
  readonly sshPort?: number;
  readonly exclude?: readonly number[];
  readonly panicSequence?: Sequence;
  readonly panicHost?: string;
  readonly knockdConf?: string;
  readonly pidfile?: string;
  /** ufw: only an SPA server's (its doors are fwknopd's CMD_CYCLE commands running ufw). */
  readonly firewall?: 'iptables' | 'nftables' | 'ufw';
  /** An SPA server: fwknopd's UDP port and its two config files. */
  readonly spaPort?: number;
  readonly fwknopdConf?: string;
  readonly accessConf?: string;
  /** How callhome opens the door for this host: knock sequences, or an fwknop SPA packet (keys in STICK/.ssh/fwknoprc). */
  readonly method?: 'knock' | 'spa';
  /**
   * What the server's door admits: `single-use` (the first new connection from the knocking address,
   * then it closes) or `window` (every connection from that address for cmd_timeout). On the stick
   * it tells callhome/connect whether a door opened a moment ago may be reused; missing = window.
   */
  readonly doorPolicy?: DoorPolicy;
  /**
   * Stick only: this stick's one-time file on the server (its door's, `knockstick stick add`
   * writes it), so seqgen refills the right file without --server-file.
   */
  readonly serverFile?: string;
  /**
   * Stick only: the ports this alias's sequences come from (LOW-HIGH): its door's pool on the
   * server (`knockstick stick add` writes it), seqgen's default --ports, also over --remote.
   */
  readonly ports?: { readonly low: number; readonly high: number };
}

import type { DoorPolicy } from './firewall.js';
export type { DoorPolicy };
export { DOOR_POLICIES } from './firewall.js';

export interface ConfigFile {
  readonly path: string;
  readonly exists: boolean;
  /** Keys before any section. */
  readonly global: Settings;
  /** Per alias ([ALIAS] sections, stick only). */
  readonly sections: ReadonlyMap<string, Settings>;
}

interface Raw {
  line: number;
  value: string;
}

function parseValue(key: string, raw: Raw, problem: (line: number, message: string) => void): Partial<Record<keyof Settings, unknown>> {
  const { value, line } = raw;
  switch (key) {
    case 'ssh_port':
    case 'spa_port': {
      const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
      if (!(port >= 1 && port <= 65535)) problem(line, `${key} must be a port number 1-65535, got ${JSON.stringify(value)}`);
      return key === 'ssh_port' ? { sshPort: port } : { spaPort: port };
    }
    case 'exclude': {
      const ports: number[] = [];
      for (const item of value.split(',')) {
        const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(item);
        const low = Number(m?.[1]);
        const high = m?.[2] === undefined ? low : Number(m[2]);
        if (m === null || !(low >= 1 && high <= 65535 && low <= high)) {
          problem(line, `exclude: ${JSON.stringify(item.trim())} is not a port or LOW-HIGH range within 1-65535`);
          continue;
        }
        for (let p = low; p <= high; p++) ports.push(p);
      }
      return { exclude: ports };
    }
    case 'panic_sequence': {
      const parsed = parseSequenceFile(` ${value}\n`, 'panic_sequence', 'server');
      for (const p of parsed.problems) problem(line, `panic_sequence: ${p.message}`);
      const seq = parsed.file.lines[0]?.sequence ?? undefined;
      if (seq !== undefined && seq.length < 3) problem(line, 'panic_sequence: use at least 3 ports, so a port scan cannot lock you out');
      return { panicSequence: seq };
    }
    case 'panic_host':
      // A leading "-" would be read as an option by nc and the other senders of the panic script.
      if (!/^[A-Za-z0-9.:][A-Za-z0-9.:-]*$/.test(value)) problem(line, `panic_host must be a host name or address (not starting with "-"), got ${JSON.stringify(value)}`);
      return { panicHost: value };
    case 'ports': {
      const m = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(value);
      const low = Number(m?.[1]);
      const high = Number(m?.[2]);
      if (m === null || !(low >= 1 && high <= 65535 && low <= high)) problem(line, `ports must be LOW-HIGH within 1-65535, got ${JSON.stringify(value)}`);
      return { ports: { low, high } };
    }
    case 'server_file':
      if (!/^\/[A-Za-z0-9._/-]+$/.test(value)) problem(line, `server_file must be an absolute path (letters, digits, . _ - /), got ${JSON.stringify(value)}`);
      return { serverFile: value };
    case 'knockd_conf':
    case 'pidfile':
    case 'fwknopd_conf':
    case 'access_conf':
      if (!value.startsWith('/')) problem(line, `${key} must be an absolute path`);
      return { [{ knockd_conf: 'knockdConf', pidfile: 'pidfile', fwknopd_conf: 'fwknopdConf', access_conf: 'accessConf' }[key]]: value };
    case 'firewall':
      if (value !== 'iptables' && value !== 'nftables' && value !== 'ufw') problem(line, `firewall must be iptables, nftables or ufw, got ${JSON.stringify(value)}`);
      return { firewall: value };
    case 'door_policy':
      if (value !== 'single-use' && value !== 'window') problem(line, `door_policy must be single-use or window, got ${JSON.stringify(value)}`);
      return { doorPolicy: value };
    case 'method':
      if (value !== 'knock' && value !== 'spa') problem(line, `method must be knock or spa, got ${JSON.stringify(value)}`);
      return { method: value };
    default:
      return {};
  }
}

/** Parses settings text. Pure; returns every problem with its line. */
export function parseConfig(text: string, path: string, kind: ConfigKind): { config: ConfigFile; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const problem = (line: number, message: string): void => void problems.push({ file: path, line, message });
  const raw = new Map<string, Map<string, Raw>>([['', new Map()]]);
  let section = '';
  // Values end up in knockd.conf, the panic script and ssh's command line: a line holding a control
  // character or an invisible space is refused whole, before its value goes anywhere.
  const unusable = new Set<number>();
  for (const p of unusableCharacterProblems(text, path, 'knockstick')) {
    problems.push(p);
    unusable.add(p.line);
  }
  text.split('\n').forEach((full, index) => {
    const line = index + 1;
    const trimmed = full.replace(/\r$/, '').trim();
    if (trimmed === '' || trimmed.startsWith('#') || unusable.has(line)) return;
    const header = /^\[([A-Za-z0-9][A-Za-z0-9._-]{0,63})\]$/.exec(trimmed);
    if (header !== null) {
      if (kind === 'server') problem(line, 'sections are only for the stick config (one per ssh alias)');
      section = header[1] as string;
      if (raw.has(section)) problem(line, `section [${section}] appears twice`);
      raw.set(section, new Map());
      return;
    }
    const eq = trimmed.indexOf('=');
    if (eq <= 0) {
      problem(line, 'expected "key = value"');
      return;
    }
    const key = trimmed.slice(0, eq).trim().toLowerCase();
    const value = trimmed.slice(eq + 1).trim();
    if (!KEYS[kind].includes(key)) {
      problem(line, `unknown key ${JSON.stringify(key)} (known: ${KEYS[kind].join(', ')})`);
      return;
    }
    const entries = raw.get(section) as Map<string, Raw>;
    if (entries.has(key)) problem(line, `${key} is set twice in this section (first on line ${entries.get(key)?.line})`);
    entries.set(key, { line, value });
  });
  const settingsOf = (entries: Map<string, Raw>): Settings => {
    let settings: Record<string, unknown> = {};
    for (const [key, value] of entries) settings = { ...settings, ...parseValue(key, value, problem) };
    return settings as Settings;
  };
  const sections = new Map<string, Settings>();
  for (const [name, entries] of raw) if (name !== '') sections.set(name, settingsOf(entries));
  return {
    config: { path, exists: true, global: settingsOf(raw.get('') as Map<string, Raw>), sections },
    problems: problems.sort((a, b) => a.line - b.line),
  };
}

/** Reads a settings file; a missing one is empty. Throws InvalidFileError on any problem. */
export async function readConfig(path: string, kind: ConfigKind): Promise<ConfigFile> {
  const text = await readTextIfExists(path);
  if (text === null) return { path, exists: false, global: {}, sections: new Map() };
  const { config, problems } = parseConfig(text, path, kind);
  if (problems.length > 0) throw new InvalidFileError(problems, `fix ${path}; nothing was written`);
  return config;
}

/** The settings for one alias: its section over the global keys. */
export function settingsFor(config: ConfigFile, alias: string): Settings {
  return { ...config.global, ...(config.sections.get(alias) ?? {}) };
}

/** Every port a one-time sequence must never use, by these settings: exclusions, panic ports, SSH port. */
export function reservedPorts(settings: Settings): number[] {
  return [...(settings.exclude ?? []), ...(settings.panicSequence ?? []).map((k) => k.port), ...(settings.sshPort === undefined ? [] : [settings.sshPort])];
}

/**
 * `text` with `key = value` set in `section` ('' for the global part): the existing line replaced
 * in place (comments and order kept), or a new line added at the end of the section.
 */
export function setConfigValue(text: string, section: string, key: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`a config value cannot contain a line break (${key})`);
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const headerName = (line: string): string | undefined => /^\s*\[(.+)\]\s*$/.exec(line)?.[1];
  const headers = lines.flatMap((l, i) => (headerName(l) === undefined ? [] : [i]));
  let start = 0;
  let end = headers[0] ?? lines.length;
  if (section !== '') {
    const at = headers.find((i) => headerName(lines[i] as string) === section);
    if (at === undefined) return `${[...lines, ...(lines.length > 0 ? [''] : []), `[${section}]`, `${key} = ${value}`].join('\n')}\n`;
    start = at + 1;
    end = headers.find((i) => i > at) ?? lines.length;
  }
  for (let i = start; i < end; i++) {
    const trimmed = (lines[i] as string).trim();
    const eq = trimmed.indexOf('=');
    if (!trimmed.startsWith('#') && eq > 0 && trimmed.slice(0, eq).trim().toLowerCase() === key) {
      lines[i] = `${key} = ${value}`;
      return `${lines.join('\n')}\n`;
    }
  }
  let insertAt = end;
  while (insertAt > start && (lines[insertAt - 1] as string).trim() === '') insertAt--;
  lines.splice(insertAt, 0, `${key} = ${value}`);
  return `${lines.join('\n')}\n`;
}
