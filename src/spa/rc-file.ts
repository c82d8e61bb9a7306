// fwknop's client rc file (~/.fwknoprc), read the way fwknop 2.6 reads it (client/config_init.c):
//
//   # comment             a line starting with "#" or ";" (first character only) is skipped
//   [default]             stanza names are case-insensitive; [default] applies first, then -n NAME
//   [home]
//   SPA_SERVER   home.example.org
//   KEY_BASE64:  ...      the variable is the first word (a trailing ":" is dropped, so the lines
//                         `fwknop --key-gen` prints paste in as they are); the value is the next word,
//                         up to a space, tab, ";" or "#"
//
// Unlike fwknop we are strict where it is lenient, because a silently ignored line here means a
// packet with the wrong keys or ports: an unknown variable, a duplicate, "USE_HMAC yes" (fwknop
// reads anything but "Y" as no), or a setting we do not implement (spoofed source, HTTP
// address resolution) is an error naming the file and line. Only the stanzas in effect are
// checked, as fwknop does, so stanzas for other tools may hold anything.

import { isIPv4 } from 'node:net';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { InvalidFileError, KnockstickError, ioError, type FileProblem } from '../core/errors.js';
import { describeKind } from '../core/files.js';
import { keyFromBase64, keysProblem, type SpaKeys } from './keys.js';
import { GPG_VARIABLES, resolveGpgSettings } from './gpg-rc.js';
import type { GpgSettings } from './gpg.js';
import { DEFAULT_SPA_PORT, USE_SOURCE_ADDRESS, isValidUsername, parseAccess, type NatAccess, type PortSpec } from './packet.js';

export const DEFAULT_STANZA = 'default';

export interface RcEntry {
  readonly line: number;
  readonly value: string;
}

export interface RcStanza {
  readonly name: string;
  readonly line: number;
  /** Variable → value, in file order. */
  readonly entries: ReadonlyMap<string, RcEntry>;
  /** Problems found while reading this stanza's lines (reported only if the stanza is used). */
  readonly problems: readonly FileProblem[];
}

/** What `spa send` needs from a stanza. */
export interface SpaClientConfig {
  readonly stanza: string;
  readonly server: string;
  readonly port: number;
  readonly access: readonly PortSpec[];
  /** An IPv4 address, or USE_SOURCE_ADDRESS ("source"). */
  readonly allowIp: string;
  readonly keys: SpaKeys;
  readonly clientTimeout?: number | undefined;
  readonly natAccess?: NatAccess | undefined;
  /** SPOOF_USER; otherwise the caller uses the login name. */
  readonly username?: string | undefined;
  /** TIME_OFFSET in seconds (may be negative). */
  readonly timeOffset: number;
  /**
   * USE_GPG Y: GnuPG mode (gpg.ts). `keys` is then unused and empty (a Rijndael packet built from it
   * would be refused: keysProblem), and the HMAC key, if any, is `gpg.hmac`.
   */
  readonly gpg?: GpgSettings | undefined;
}

/** Variables we read. */
const SUPPORTED = new Set([
  'SPA_SERVER', 'SPA_SERVER_PORT', 'SPA_SERVER_PROTO', 'ACCESS', 'ALLOW_IP', 'KEY', 'KEY_BASE64', 'HMAC_KEY', 'HMAC_KEY_BASE64',
  'USE_HMAC', 'HMAC_DIGEST_TYPE', 'DIGEST_TYPE', 'ENCRYPTION_MODE', 'FW_TIMEOUT', 'NAT_ACCESS', 'SPOOF_USER', 'TIME_OFFSET',
  ...GPG_VARIABLES,
]);
/** fwknop variables that change nothing for us (client output, how fwknop saves its arguments). */
const HARMLESS = new Set(['VERBOSE', 'NO_SAVE_ARGS', 'USE_WGET_USER_AGENT', 'HTTP_USER_AGENT', 'WGET_CMD', 'RESOLVE_URL', 'SERVER_RESOLVE_IPV4', 'RESOLVE_HTTP_ONLY']);
/** fwknop variables for features we do not implement: an error only when they would take effect. */
const UNSUPPORTED: Record<string, string> = {
  SPOOF_SOURCE_IP: 'spoofed source addresses', RAND_PORT: 'random destination ports', NAT_LOCAL: 'local NAT', NAT_RAND_PORT: 'random NAT ports',
  NAT_PORT: 'NAT_PORT', KEY_FILE: 'key files (put KEY_BASE64 in the rc file)', HMAC_KEY_FILE: 'key files (put HMAC_KEY_BASE64 in the rc file)',
  RESOLVE_IP_HTTP: 'asking a web service for our address', RESOLVE_IP_HTTPS: 'asking a web service for our address', SPA_SOURCE_PORT: 'a fixed source port',
};
/** For yes/no variables, "N" is as good as absent. */
const YES_NO = new Set(['USE_GPG', 'USE_GPG_AGENT', 'GPG_NO_SIGNING_PW', 'RAND_PORT', 'NAT_LOCAL', 'NAT_RAND_PORT', 'RESOLVE_IP_HTTP', 'RESOLVE_IP_HTTPS', 'USE_HMAC']);

/** Splits the text into stanzas (lines before any header are ignored, as fwknop does). Pure. */
export function parseRcText(text: string, path: string): RcStanza[] {
  const stanzas: { name: string; line: number; entries: Map<string, RcEntry>; problems: FileProblem[] }[] = [];
  let current: (typeof stanzas)[number] | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const full = raw.replace(/\r$/, '');
    const first = full[0];
    if (first === undefined || first === '#' || first === ';' || full.trim() === '') return;
    const header = /^\s*\[([^\]]*)\]/.exec(full);
    if (header !== null) {
      current = { name: (header[1] as string).trim(), line, entries: new Map(), problems: [] };
      stanzas.push(current);
      return;
    }
    if (current === undefined) return;
    const problem = (message: string): void => void current?.problems.push({ file: path, line, message });
    const m = /^\s*(\S+)[ \t]+([^ \t;#]+)/.exec(full);
    if (m === null) {
      problem('expected "VARIABLE VALUE"');
      return;
    }
    const name = (m[1] as string).replace(/:$/, '');
    if (!SUPPORTED.has(name) && !HARMLESS.has(name) && !(name in UNSUPPORTED)) {
      problem(`unknown variable ${JSON.stringify(name)}`);
      return;
    }
    const earlier = current.entries.get(name);
    if (earlier !== undefined) problem(`${name} is set twice in [${current.name}] (first on line ${earlier.line})`);
    current.entries.set(name, { line, value: m[2] as string });
  });
  return stanzas;
}

/** The stanza names in a file, as `fwknop --stanza-list` shows them. */
export function stanzaNames(stanzas: readonly RcStanza[]): string[] {
  return [...new Set(stanzas.map((s) => s.name))];
}

function parseOffset(text: string): number | undefined {
  const m = /^(-?)(\d{1,6})([smhd]?)$/i.exec(text);
  if (m === null) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[(m[3] as string).toLowerCase()] as number;
  return (m[1] === '-' ? -1 : 1) * Number(m[2]) * unit;
}

/**
 * The settings of [default] overlaid by [NAME] (fwknop's order), checked. Pure.
 * `name` undefined: [default] alone.
 */
export function resolveStanza(
  stanzas: readonly RcStanza[],
  name: string | undefined,
  path: string,
  commandLine: readonly (readonly [string, string])[] = [],
): { config?: SpaClientConfig; problems: FileProblem[] } {
  const wanted = name?.toLowerCase();
  const inEffect = stanzas.filter((s) => s.name.toLowerCase() === DEFAULT_STANZA || (wanted !== undefined && s.name.toLowerCase() === wanted));
  const problems: FileProblem[] = inEffect.flatMap((s) => s.problems);
  if (wanted !== undefined && !stanzas.some((s) => s.name.toLowerCase() === wanted)) {
    const known = stanzaNames(stanzas).filter((n) => n.toLowerCase() !== DEFAULT_STANZA);
    problems.push({ file: path, line: 0, message: `no stanza [${name}] (stanzas: ${known.length === 0 ? 'none' : known.join(', ')})` });
    return { problems };
  }
  // Later stanzas override earlier ones; [default] first (fwknop processes it before the named one).
  const ordered = [...inEffect.filter((s) => s.name.toLowerCase() === DEFAULT_STANZA), ...inEffect.filter((s) => s.name.toLowerCase() !== DEFAULT_STANZA)];
  const merged = new Map<string, RcEntry>();
  for (const s of ordered) for (const [k, v] of s.entries) merged.set(k, v);
  // Flags that stand for rc variables (spa send --gpg-recip ...) come last, as in fwknop; line 0.
  for (const [k, value] of commandLine) merged.set(k, { line: 0, value });
  const where = name === undefined ? `[${DEFAULT_STANZA}]` : `[${name}] (with [${DEFAULT_STANZA}])`;
  const problem = (entry: RcEntry | undefined, message: string): void => void problems.push({ file: path, line: entry?.line ?? 0, message });
  const get = (key: string): RcEntry | undefined => merged.get(key);
  const yesNo = (key: string): boolean | undefined => {
    const e = get(key);
    if (e === undefined) return undefined;
    if (/^y$/i.test(e.value)) return true;
    if (/^n$/i.test(e.value)) return false;
    problem(e, `${key} must be Y or N, got ${JSON.stringify(e.value)} (fwknop would silently read it as N)`);
    return undefined;
  };

  for (const [key, feature] of Object.entries(UNSUPPORTED)) {
    const e = get(key);
    if (e === undefined) continue;
    if (YES_NO.has(key) && yesNo(key) !== true) continue;
    problem(e, `${key}: ${feature} is not supported by knockstick's SPA client`);
  }
  // GnuPG mode: its own keys and settings (gpg-rc.ts); no Rijndael key, HMAC optional.
  const useGpg = yesNo('USE_GPG') === true;
  const gpg = useGpg ? resolveGpgSettings(get, yesNo, problem, where, path) : undefined;
  if (!useGpg && yesNo('USE_HMAC') === false) problem(get('USE_HMAC'), 'USE_HMAC N: knockstick only sends HMAC-authenticated packets; set USE_HMAC Y and an HMAC key');

  const server = get('SPA_SERVER');
  if (server === undefined) problem(undefined, `${where} sets no SPA_SERVER`);
  else if (!/^[A-Za-z0-9.:-]{1,253}$/.test(server.value)) problem(server, `SPA_SERVER must be a host name or address, got ${JSON.stringify(server.value)}`);

  let port = DEFAULT_SPA_PORT;
  const portEntry = get('SPA_SERVER_PORT');
  if (portEntry !== undefined) {
    port = /^\d{1,5}$/.test(portEntry.value) ? Number(portEntry.value) : NaN;
    if (!(port >= 1 && port <= 65535)) problem(portEntry, `SPA_SERVER_PORT must be 1-65535, got ${JSON.stringify(portEntry.value)}`);
  }
  const proto = get('SPA_SERVER_PROTO');
  if (proto !== undefined && proto.value.toLowerCase() !== 'udp') {
    problem(proto, `SPA_SERVER_PROTO ${proto.value}: knockstick sends SPA over udp only (fwknopd's default)`);
  }
  for (const [key, only] of [['HMAC_DIGEST_TYPE', 'sha256'], ['DIGEST_TYPE', 'sha256'], ['ENCRYPTION_MODE', 'cbc']] as const) {
    const e = get(key);
    if (e !== undefined && e.value.toLowerCase() !== only) problem(e, `${key} ${e.value} is not supported: knockstick implements ${only} only (fwknop's default)`);
  }

  let access: PortSpec[] = [];
  const accessEntry = get('ACCESS');
  if (accessEntry === undefined) problem(undefined, `${where} sets no ACCESS (e.g. ACCESS tcp/22)`);
  else {
    const parsed = parseAccess(accessEntry.value);
    if (typeof parsed === 'string') problem(accessEntry, `ACCESS: ${parsed}`);
    else access = parsed;
  }

  let allowIp = '';
  const allow = get('ALLOW_IP');
  if (allow === undefined) problem(undefined, `${where} sets no ALLOW_IP (an IPv4 address, or "source")`);
  else if (allow.value.toLowerCase() === 'source') allowIp = USE_SOURCE_ADDRESS;
  else if (allow.value.toLowerCase() === 'resolve') problem(allow, 'ALLOW_IP resolve asks a web service for our address; knockstick does not: use ALLOW_IP source, or an address');
  else if (!isIPv4(allow.value)) problem(allow, `ALLOW_IP must be an IPv4 address or "source", got ${JSON.stringify(allow.value)}`);
  else allowIp = allow.value;

  const keyOf = (plainKey: string, b64Key: string, label: string): Buffer | undefined => {
    const plain = get(plainKey);
    const b64 = get(b64Key);
    if (plain !== undefined && b64 !== undefined) {
      problem(plain.line > b64.line ? plain : b64, `both ${plainKey} and ${b64Key} are set; keep one`);
      return undefined;
    }
    if (b64 !== undefined) {
      const bytes = keyFromBase64(b64.value);
      if (bytes === undefined) problem(b64, `${b64Key} is not base64 (the value is not shown)`);
      return bytes;
    }
    if (plain !== undefined) return Buffer.from(plain.value, 'utf8');
    problem(undefined, `${where} sets no ${label} (${b64Key} or ${plainKey}; \`knockstick spa keygen\` makes both keys)`);
    return undefined;
  };
  const encryption = useGpg ? undefined : keyOf('KEY', 'KEY_BASE64', 'encryption key');
  const hmac = useGpg ? undefined : keyOf('HMAC_KEY', 'HMAC_KEY_BASE64', 'HMAC key');
  let keys: SpaKeys | undefined = gpg === undefined ? undefined : { encryption: Buffer.alloc(0), hmac: Buffer.alloc(0) };
  if (encryption !== undefined && hmac !== undefined) {
    keys = { encryption, hmac };
    const bad = keysProblem(keys);
    if (bad !== undefined) problem(get('KEY_BASE64') ?? get('KEY'), bad);
  }

  let clientTimeout: number | undefined;
  const timeout = get('FW_TIMEOUT');
  if (timeout !== undefined) {
    clientTimeout = /^\d{1,5}$/.test(timeout.value) ? Number(timeout.value) : NaN;
    if (!(clientTimeout >= 0 && clientTimeout <= 65536)) problem(timeout, `FW_TIMEOUT must be 0-65536 seconds, got ${JSON.stringify(timeout.value)}`);
  }

  let natAccess: NatAccess | undefined;
  const nat = get('NAT_ACCESS');
  if (nat !== undefined) {
    const m = /^([A-Za-z0-9.-]{1,64})[:,](\d{1,5})$/.exec(nat.value);
    const natPort = Number(m?.[2]);
    if (m === null || !(natPort >= 1 && natPort <= 65535)) problem(nat, `NAT_ACCESS must be HOST:PORT (e.g. 192.168.1.2:22), got ${JSON.stringify(nat.value)}`);
    else natAccess = { host: m[1] as string, port: natPort };
  }

  const spoof = get('SPOOF_USER');
  if (spoof !== undefined && !isValidUsername(spoof.value)) problem(spoof, `SPOOF_USER ${JSON.stringify(spoof.value)} is not a valid fwknop user name`);

  let timeOffset = 0;
  const offset = get('TIME_OFFSET');
  if (offset !== undefined) {
    const parsed = parseOffset(offset.value);
    if (parsed === undefined) problem(offset, `TIME_OFFSET must be like 60, 5m, -1h, got ${JSON.stringify(offset.value)}`);
    else timeOffset = parsed;
  }

  problems.sort((a, b) => a.line - b.line);
  if (problems.length > 0 || keys === undefined || server === undefined) return { problems };
  return {
    config: { stanza: name ?? DEFAULT_STANZA, server: server.value, port, access, allowIp, keys, clientTimeout, natAccess, username: spoof?.value, timeOffset, ...(gpg === undefined ? {} : { gpg }) },
    problems,
  };
}

/** Whether a mode lets anyone but the owner read or write the file. */
export function isTooOpen(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/**
 * Reads an rc file holding SPA keys and resolves a stanza. Refuses a file that group or others may
 * read or write (fwknop only warns): the keys are the door.
 */
export async function readRcFile(path: string, stanza: string | undefined, commandLine: readonly (readonly [string, string])[] = []): Promise<SpaClientConfig> {
  let text: string;
  try {
    // O_NONBLOCK: a FIFO here must be refused (below), not waited on.
    const handle = await fs.open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new KnockstickError('IO', `${path} is ${describeKind(stat)}, not a regular file`);
      if (isTooOpen(stat.mode)) {
        throw new KnockstickError('INVALID_FILE', `${path} holds SPA keys but its mode is ${(stat.mode & 0o777).toString(8).padStart(4, '0')}: group or others may read it`, {
          hint: `chmod 600 ${path} (and consider new keys with \`knockstick spa keygen\` if others could have read them)`,
        });
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof KnockstickError) throw error;
    throw ioError('read', path, error);
  }
  const { config, problems } = resolveStanza(parseRcText(text, path), stanza, path, commandLine);
  if (config === undefined || problems.length > 0) throw new InvalidFileError(problems, `fix ${path}; nothing was sent`);
  return config;
}

/** A new stanza with keys, for `spa keygen --rc-file`. Values are checked so no line can break the file. */
export function formatStanza(name: string, settings: readonly (readonly [string, string])[]): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`stanza name ${JSON.stringify(name)}: use letters, digits, . _ -`);
  for (const [k, v] of settings) if (!/^[A-Z0-9_]+$/.test(k) || !/^[^\s;#]+$/.test(v)) throw new Error(`cannot write ${k} with this value into an rc file`);
  return `[${name}]\n${settings.map(([k, v]) => `${k.padEnd(16)} ${v}`).join('\n')}\n`;
}
