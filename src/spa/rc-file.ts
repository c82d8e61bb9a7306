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
// reads anything but "Y" as no), a setting we do not implement (HTTP address resolution)
// or an unsafe mode not asked for on the command line (no HMAC key, ENCRYPTION_MODE legacy) is an
// error naming the file and line. Only the stanzas in effect are checked, as fwknop does, so
// stanzas for other tools may hold anything. `spa decode` needs only the keys (resolveStanzaKeys).

import { isIPv4 } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { InvalidFileError, KnockstickError, ioError, type FileProblem } from '../core/errors.js';
import { describeKind } from '../core/files.js';
import { ENCRYPTION_MODES, HASH_TYPES, isHashType, type EncryptionMode, type HashType } from './cipher.js';
import { keyFromBase64, keysProblem, type SpaKeys } from './keys.js';
import { GPG_VARIABLES, resolveGpgSettings } from './gpg-rc.js';
import type { GpgSettings } from './gpg.js';
import { DEFAULT_SPA_PORT, USE_SOURCE_ADDRESS, isValidNatHost, isValidUsername, parseAccess, type NatAccess, type PortSpec, type SpaModes } from './packet.js';

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

/** What decoding needs from a stanza: the keys and the modes. */
export interface SpaKeyConfig {
  readonly stanza: string;
  readonly keys: SpaKeys;
  readonly modes: SpaModes;
  /**
   * USE_GPG Y: GnuPG mode (gpg.ts). `keys` is then unused and empty (a Rijndael packet built from it
   * would be refused: keysProblem), and the HMAC key, if any, is `gpg.hmac`.
   */
  readonly gpg?: GpgSettings | undefined;
}

/** How the packet travels: udp and tcp are sent; the raw ones (a forged source) only built. */
export type SpaProto = 'udp' | 'tcp' | 'udpraw' | 'tcpraw' | 'icmp';

/** What `spa send` needs from a stanza. */
export interface SpaClientConfig extends SpaKeyConfig {
  readonly server: string;
  readonly port: number;
  readonly proto: SpaProto;
  readonly access: readonly PortSpec[];
  /** An IPv4 address, or USE_SOURCE_ADDRESS ("source"). */
  readonly allowIp: string;
  readonly clientTimeout?: number | undefined;
  readonly natAccess?: NatAccess | undefined;
  /** NAT_RAND_PORT: the access port is replaced by a random one when the packet is built. */
  readonly natRandPort?: boolean | undefined;
  /** RAND_PORT: the packet goes to a random port 10000-65534 (fwknopd sniffing with pcap sees it). */
  readonly randPort?: boolean | undefined;
  /** SPOOF_SOURCE_IP (raw protos only; knockstick builds such a packet but does not send it). */
  readonly spoofSource?: string | undefined;
  /** SPOOF_USER; otherwise the caller uses the login name. */
  readonly username?: string | undefined;
  /** TIME_OFFSET in seconds (may be negative). */
  readonly timeOffset: number;
}

/** What the command line sets over the rc file (fwknop's -D, -A, -a) and the unsafe modes it allows. */
export interface RcOptions {
  readonly server?: string | undefined;
  readonly access?: string | undefined;
  readonly allowIp?: string | undefined;
  /** --unsafe-no-hmac: a stanza without HMAC key may send. */
  readonly unsafeNoHmac?: boolean | undefined;
  /** --unsafe-legacy-iv: ENCRYPTION_MODE legacy may send. */
  readonly unsafeLegacyIv?: boolean | undefined;
  /** KEY_FILE path -> its text (read by readRcFile; the resolver itself does no I/O). */
  readonly keyFiles?: ReadonlyMap<string, string> | undefined;
  /** rc variables set by flags (spa send --gpg-recip ...), over the stanzas, as in fwknop; line 0. */
  readonly commandLine?: readonly (readonly [string, string])[] | undefined;
}

/** Why each unsafe mode is unsafe: said in the refusal and in --help. */
export const NO_HMAC_RISK = 'without an HMAC nothing authenticates the packet: anyone on the path can alter the encrypted data (flip bits in the allow address or ports) and fwknopd cannot tell';
export const LEGACY_IV_RISK = 'the legacy IV mode pads a key shorter than 16 bytes with "0" characters, the old Perl client\'s weak key derivation';

/** Variables we read. */
const SUPPORTED = new Set([
  'SPA_SERVER', 'SPA_SERVER_PORT', 'SPA_SERVER_PROTO', 'ACCESS', 'ALLOW_IP', 'KEY', 'KEY_BASE64', 'HMAC_KEY', 'HMAC_KEY_BASE64',
  'USE_HMAC', 'HMAC_DIGEST_TYPE', 'DIGEST_TYPE', 'ENCRYPTION_MODE', 'FW_TIMEOUT', 'NAT_ACCESS', 'SPOOF_USER', 'TIME_OFFSET',
  'NAT_LOCAL', 'NAT_RAND_PORT', 'NAT_PORT', 'RAND_PORT', 'KEY_FILE', 'SPOOF_SOURCE_IP', 'RESOLVE_IP_HTTP', 'RESOLVE_IP_HTTPS',
  ...GPG_VARIABLES,
]);
/** fwknop variables that change nothing for us (client output, how fwknop saves its arguments, how it would resolve). */
const HARMLESS = new Set(['VERBOSE', 'NO_SAVE_ARGS', 'USE_WGET_USER_AGENT', 'HTTP_USER_AGENT', 'WGET_CMD', 'RESOLVE_URL', 'SERVER_RESOLVE_IPV4', 'RESOLVE_HTTP_ONLY']);
/** fwknop variables for features we do not implement: an error only when they would take effect. */
const UNSUPPORTED: Record<string, string> = {
  HMAC_KEY_FILE: 'an HMAC key file (fwknop 2.6.10 reads HMAC_KEY_FILE in an rc file as KEY_FILE, so its meaning is unclear: put HMAC_KEY_BASE64 in the rc file)',
  SPA_SOURCE_PORT: 'a fixed source port',
};
/** For yes/no variables, "N" is as good as absent. */
const YES_NO = new Set(['USE_GPG', 'USE_GPG_AGENT', 'GPG_NO_SIGNING_PW', 'RAND_PORT', 'NAT_LOCAL', 'NAT_RAND_PORT', 'RESOLVE_IP_HTTP', 'RESOLVE_IP_HTTPS', 'USE_HMAC']);
const PROTOS: readonly SpaProto[] = ['udp', 'tcp', 'udpraw', 'tcpraw', 'icmp'];

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

/**
 * fwknop's TIME_OFFSET (client/config_init.c parse_time_offset): an optional sign, digits, an
 * optional unit s, m (minutes), h or d, case-insensitive ("+1H", "-1M", "-1s", "90").
 */
export function parseOffset(text: string): number | undefined {
  const m = /^([+-]?)(\d{1,6})([smhd]?)$/i.exec(text);
  if (m === null || Number(m[2]) > 65536) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[(m[3] as string).toLowerCase()] as number;
  return (m[1] === '-' ? -1 : 1) * Number(m[2]) * unit;
}

/**
 * The key for SERVER in an fwknop key file (`--get-key`, KEY_FILE; client/getpasswd.c): lines
 * "SERVER: key", the last one for this server wins; "#" and ";" lines are comments.
 */
export function keyFromKeyFile(text: string, server: string): string | undefined {
  let key: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[ \t=]+/, '');
    if (line === '' || line === '\r' || line[0] === '#' || line[0] === ';') continue;
    if (!line.startsWith(`${server}:`)) continue;
    const value = line.slice(server.length + 1).replace(/^[ \t=]+/, '');
    if (value !== '') key = value;
  }
  return key;
}

/** The merged [default] + [NAME] settings and a problem collector: the part send and decode share. */
function mergeStanza(stanzas: readonly RcStanza[], name: string | undefined, path: string, commandLine: readonly (readonly [string, string])[] = []) {
  const wanted = name?.toLowerCase();
  const inEffect = stanzas.filter((s) => s.name.toLowerCase() === DEFAULT_STANZA || (wanted !== undefined && s.name.toLowerCase() === wanted));
  const problems: FileProblem[] = inEffect.flatMap((s) => s.problems);
  const missing = wanted !== undefined && !stanzas.some((s) => s.name.toLowerCase() === wanted);
  if (missing) {
    const known = stanzaNames(stanzas).filter((n) => n.toLowerCase() !== DEFAULT_STANZA);
    problems.push({ file: path, line: 0, message: `no stanza [${name}] (stanzas: ${known.length === 0 ? 'none' : known.join(', ')})` });
  }
  // Later stanzas override earlier ones; [default] first (fwknop processes it before the named one).
  const ordered = [...inEffect.filter((s) => s.name.toLowerCase() === DEFAULT_STANZA), ...inEffect.filter((s) => s.name.toLowerCase() !== DEFAULT_STANZA)];
  const merged = new Map<string, RcEntry>();
  for (const s of ordered) for (const [k, v] of s.entries) merged.set(k, v);
  for (const [k, value] of commandLine) merged.set(k, { line: 0, value });
  const where = name === undefined ? `[${DEFAULT_STANZA}]` : `[${name}] (with [${DEFAULT_STANZA}])`;
  const problem = (entry: RcEntry | undefined, message: string): void => void problems.push({ file: path, line: entry?.line ?? 0, message });
  const get = (key: string): RcEntry | undefined => merged.get(key);
  const yesNo = (key: string): boolean | undefined => {
    const e = get(key);
    if (e === undefined) return undefined;
    if (/^y$/i.test(e.value)) return true;
    if (/^n$/i.test(e.value)) return false;
    problem(e, `${key} must be Y or N, got ${JSON.stringify(e.value)} (fwknop takes only "Y" as yes and anything else as no${key === 'USE_HMAC' ? '; an HMAC key turns HMAC on whatever USE_HMAC says' : ''})`);
    return undefined;
  };
  return { missing, problems, where, problem, get, yesNo };
}

type Merged = ReturnType<typeof mergeStanza>;

/** Keys and modes, checked: what both send and decode need. `send` adds the refusals of unsafe modes. */
function resolveKeys(m: Merged, server: string | undefined, options: RcOptions, send: boolean): { keys?: SpaKeys; modes: SpaModes } {
  const { problem, get, yesNo, where } = m;
  const hashOf = (key: string): HashType => {
    const e = get(key);
    if (e === undefined) return 'sha256';
    const value = e.value.toLowerCase();
    if (isHashType(value)) return value;
    problem(e, `${key} ${e.value} is not one of fwknop's: ${Object.keys(HASH_TYPES).join(', ')}`);
    return 'sha256';
  };
  const digest = hashOf('DIGEST_TYPE');
  let hmacType = hashOf('HMAC_DIGEST_TYPE');

  let encryption: EncryptionMode = 'cbc';
  const modeEntry = get('ENCRYPTION_MODE');
  if (modeEntry !== undefined) {
    const value = modeEntry.value.toLowerCase();
    if ((ENCRYPTION_MODES as readonly string[]).includes(value)) encryption = value as EncryptionMode;
    else problem(modeEntry, `ENCRYPTION_MODE ${modeEntry.value} is not supported: knockstick implements fwknop's cbc (the default), ecb, cfb, ofb, ctr and legacy (decode, or send with --unsafe-legacy-iv)`);
    if (encryption === 'legacy' && send && options.unsafeLegacyIv !== true) {
      problem(modeEntry, `ENCRYPTION_MODE legacy is unsafe: ${LEGACY_IV_RISK}. Use cbc on both sides, or send with --unsafe-legacy-iv if the server cannot change yet`);
    }
  }

  const keyOf = (plainKey: string, b64Key: string): { bytes?: Buffer; entry?: RcEntry } => {
    const plain = get(plainKey);
    const b64 = get(b64Key);
    if (plain !== undefined && b64 !== undefined) {
      problem(plain.line > b64.line ? plain : b64, `both ${plainKey} and ${b64Key} are set; keep one`);
      return {};
    }
    if (b64 !== undefined) {
      const bytes = keyFromBase64(b64.value);
      if (bytes === undefined) problem(b64, `${b64Key} is not base64 (the value is not shown)`);
      return bytes === undefined ? {} : { bytes, entry: b64 };
    }
    if (plain !== undefined) return { bytes: Buffer.from(plain.value, 'utf8'), entry: plain };
    return {};
  };
  const enc = keyOf('KEY', 'KEY_BASE64');
  const keyFile = get('KEY_FILE');
  // fwknop 2.6.10 outside GnuPG mode takes GPG_SIGNING_PW(_BASE64) as the Rijndael key when no
  // other key is set (measured: its packet decrypts with that key); so do we, for the same packet.
  if (enc.entry === undefined && keyFile === undefined && get('KEY') === undefined && get('KEY_BASE64') === undefined) {
    const pw = keyOf('GPG_SIGNING_PW', 'GPG_SIGNING_PW_BASE64');
    if (pw.bytes !== undefined) Object.assign(enc, pw);
  }
  if (keyFile !== undefined) {
    if (enc.entry !== undefined) problem(keyFile, `both KEY_FILE and ${enc.entry === get('KEY') ? 'KEY' : 'KEY_BASE64'} are set; keep one`);
    else if (server === undefined) problem(keyFile, 'KEY_FILE holds keys per server ("SERVER: key" lines), but no SPA_SERVER is set');
    else {
      const text = options.keyFiles?.get(keyFile.value);
      const key = text === undefined ? undefined : keyFromKeyFile(text, server);
      if (text === undefined) problem(keyFile, `KEY_FILE ${keyFile.value} could not be read`);
      else if (key === undefined) problem(keyFile, `KEY_FILE ${keyFile.value} has no "${server}: KEY" line`);
      else {
        enc.bytes = Buffer.from(key, 'utf8');
        enc.entry = keyFile;
      }
    }
  }
  if (enc.bytes === undefined && enc.entry === undefined && keyFile === undefined && get('KEY') === undefined && get('KEY_BASE64') === undefined) {
    problem(undefined, `${where} sets no encryption key (KEY_BASE64, KEY or KEY_FILE; \`knockstick spa keygen\` makes keys)`);
  }

  const mac = keyOf('HMAC_KEY', 'HMAC_KEY_BASE64');
  const useHmac = yesNo('USE_HMAC');
  let hmac: HashType | 'none' = hmacType;
  if (mac.bytes === undefined && get('HMAC_KEY') === undefined && get('HMAC_KEY_BASE64') === undefined) {
    // fwknop: without an HMAC key there is no HMAC (it would prompt for one with USE_HMAC Y).
    if (useHmac === true) problem(get('USE_HMAC'), `USE_HMAC Y but ${where} sets no HMAC key (HMAC_KEY_BASE64 or HMAC_KEY)`);
    else if (send && options.unsafeNoHmac !== true) {
      problem(enc.entry, `${where} sets no HMAC key, so the packet would have no HMAC: ${NO_HMAC_RISK}. Add HMAC_KEY_BASE64 (\`knockstick spa keygen\`) on both sides, or send with --unsafe-no-hmac if the server has no HMAC key yet`);
    }
    hmac = 'none';
    hmacType = 'sha256';
  }
  if (enc.bytes === undefined) return { modes: { digest, hmac, encryption } };
  const keys: SpaKeys = { encryption: enc.bytes, hmac: mac.bytes ?? Buffer.alloc(0) };
  const bad = keysProblem(keys, hmac !== 'none');
  if (bad !== undefined) {
    problem(bad.includes('HMAC key must') ? get('HMAC_KEY_BASE64') ?? get('HMAC_KEY') : enc.entry, bad);
    return { modes: { digest, hmac, encryption } };
  }
  return { keys, modes: { digest, hmac, encryption } };
}

/** GnuPG mode: empty Rijndael keys (never used), the digest and HMAC types gpg-rc.ts read. */
function gpgKeysAndModes(gpg: GpgSettings | undefined): { keys?: SpaKeys; modes: SpaModes } {
  const modes: SpaModes = { digest: gpg?.digest ?? 'sha256', hmac: gpg?.hmac === undefined ? 'none' : (gpg.hmacType ?? 'sha256'), encryption: 'cbc' };
  return gpg === undefined ? { modes } : { keys: { encryption: Buffer.alloc(0), hmac: Buffer.alloc(0) }, modes };
}

/**
 * The keys and modes of [default] overlaid by [NAME], for `spa decode`: nothing else is required,
 * and unsafe modes are allowed (decoding one is how a user finds out what a server receives). Pure.
 */
export function resolveStanzaKeys(stanzas: readonly RcStanza[], name: string | undefined, path: string, options: RcOptions = {}): { config?: SpaKeyConfig; problems: FileProblem[] } {
  const m = mergeStanza(stanzas, name, path, options.commandLine);
  if (m.missing) return { problems: m.problems };
  if (m.yesNo('USE_GPG') === true) {
    const gpg = resolveGpgSettings(m.get, m.yesNo, m.problem, m.where, path);
    const resolved = gpgKeysAndModes(gpg);
    m.problems.sort((a, b) => a.line - b.line);
    if (m.problems.length > 0 || resolved.keys === undefined || gpg === undefined) return { problems: m.problems };
    return { config: { stanza: name ?? DEFAULT_STANZA, keys: resolved.keys, modes: resolved.modes, gpg }, problems: m.problems };
  }
  const { keys, modes } = resolveKeys(m, m.get('SPA_SERVER')?.value, options, false);
  m.problems.sort((a, b) => a.line - b.line);
  if (m.problems.length > 0 || keys === undefined) return { problems: m.problems };
  return { config: { stanza: name ?? DEFAULT_STANZA, keys, modes }, problems: m.problems };
}

/**
 * The settings of [default] overlaid by [NAME] (fwknop's order) and the command line, checked. Pure.
 * `name` undefined: [default] alone.
 */
export function resolveStanza(stanzas: readonly RcStanza[], name: string | undefined, path: string, options: RcOptions = {}): { config?: SpaClientConfig; problems: FileProblem[] } {
  const m = mergeStanza(stanzas, name, path, options.commandLine);
  if (m.missing) return { problems: m.problems };
  const { problem, get, yesNo, where, problems } = m;

  for (const [key, feature] of Object.entries(UNSUPPORTED)) {
    const e = get(key);
    if (e === undefined) continue;
    if (YES_NO.has(key) && yesNo(key) !== true) continue;
    problem(e, `${key}: ${feature} is not supported by knockstick's SPA client`);
  }

  const serverEntry = get('SPA_SERVER');
  const server = options.server ?? serverEntry?.value;
  if (server === undefined) problem(undefined, `${where} sets no SPA_SERVER (or give --server)`);
  else if (!/^[A-Za-z0-9.:-]{1,253}$/.test(server)) problem(options.server === undefined ? serverEntry : undefined, `SPA_SERVER must be a host name or address, got ${JSON.stringify(server)}`);

  let port = DEFAULT_SPA_PORT;
  const portEntry = get('SPA_SERVER_PORT');
  if (portEntry !== undefined) {
    port = /^\d{1,5}$/.test(portEntry.value) ? Number(portEntry.value) : NaN;
    if (!(port >= 1 && port <= 65535)) problem(portEntry, `SPA_SERVER_PORT must be 1-65535, got ${JSON.stringify(portEntry.value)}`);
  }
  let proto: SpaProto = 'udp';
  const protoEntry = get('SPA_SERVER_PROTO');
  if (protoEntry !== undefined) {
    const value = protoEntry.value.toLowerCase();
    if ((PROTOS as readonly string[]).includes(value)) proto = value as SpaProto;
    else problem(protoEntry, `SPA_SERVER_PROTO ${protoEntry.value}: knockstick sends SPA over udp or tcp (and builds udpraw, tcpraw and icmp packets without sending them); ${value === 'http' ? 'SPA over HTTP is not supported' : 'fwknop knows no such protocol'}`);
  }
  const spoof = get('SPOOF_SOURCE_IP');
  if (spoof !== undefined && !isIPv4(spoof.value)) problem(spoof, `SPOOF_SOURCE_IP must be an IPv4 address, got ${JSON.stringify(spoof.value)}`);
  if (spoof !== undefined && !proto.endsWith('raw') && proto !== 'icmp') problem(spoof, `SPOOF_SOURCE_IP needs SPA_SERVER_PROTO udpraw, tcpraw or icmp (as in fwknop)`);

  let access: PortSpec[] = [];
  const accessEntry = get('ACCESS');
  const accessText = options.access ?? accessEntry?.value;
  if (accessText === undefined) problem(undefined, `${where} sets no ACCESS (e.g. ACCESS tcp/22, or give --access)`);
  else {
    const parsed = parseAccess(accessText);
    if (typeof parsed === 'string') problem(options.access === undefined ? accessEntry : undefined, `${options.access === undefined ? 'ACCESS' : '--access'}: ${parsed}`);
    else access = parsed;
  }

  let allowIp = '';
  const allow = get('ALLOW_IP');
  const allowText = options.allowIp ?? allow?.value;
  const allowWhere = options.allowIp === undefined ? allow : undefined;
  if (allowText === undefined) problem(undefined, `${where} sets no ALLOW_IP (an IPv4 address, or "source"; or give --allow-ip)`);
  else if (allowText.toLowerCase() === 'source') allowIp = USE_SOURCE_ADDRESS;
  else if (allowText.toLowerCase() === 'resolve') problem(allowWhere, 'ALLOW_IP resolve asks a web service for our address; knockstick does not: use ALLOW_IP source, or an address');
  else if (!isIPv4(allowText)) problem(allowWhere, `ALLOW_IP must be an IPv4 address or "source", got ${JSON.stringify(allowText)}`);
  else allowIp = allowText;
  // fwknop: an explicit allow address (-a) wins over asking a web service for ours.
  for (const key of ['RESOLVE_IP_HTTP', 'RESOLVE_IP_HTTPS']) {
    if (yesNo(key) === true && options.allowIp === undefined) problem(get(key), `${key} Y asks a web service for our address; knockstick does not: use ALLOW_IP source, or an address`);
  }

  // GnuPG mode (gpg-rc.ts): keys in a keyring, no Rijndael key, HMAC optional.
  const useGpg = yesNo('USE_GPG') === true;
  const gpg = useGpg ? resolveGpgSettings(get, yesNo, problem, where, path) : undefined;
  const { keys, modes } = useGpg ? gpgKeysAndModes(gpg) : resolveKeys(m, server, options, true);

  let clientTimeout: number | undefined;
  const timeout = get('FW_TIMEOUT');
  if (timeout !== undefined) {
    clientTimeout = /^\d{1,5}$/.test(timeout.value) ? Number(timeout.value) : NaN;
    if (!(clientTimeout >= 0 && clientTimeout <= 65536)) problem(timeout, `FW_TIMEOUT must be 0-65536 seconds, got ${JSON.stringify(timeout.value)}`);
  }

  // NAT (client/fwknop.c set_access_buf, set_nat_access): NAT_ACCESS HOST[:PORT] (no port: the
  // access port), NAT_LOCAL (the SPA server itself), NAT_PORT / NAT_RAND_PORT (the port in the
  // access message is replaced: fwknopd forwards that port to the NAT target).
  let natAccess: NatAccess | undefined;
  const accessPort = access[0]?.port;
  const nat = get('NAT_ACCESS');
  const natLocal = yesNo('NAT_LOCAL') === true;
  if (nat !== undefined) {
    const nm = /^([^:,]*)(?:[:,](\d{1,5}))?$/.exec(nat.value);
    const natPort = nm?.[2] === undefined ? accessPort : Number(nm[2]);
    if (nm === null || !isValidNatHost(nm[1] as string) || natPort === undefined || !(natPort >= 1 && natPort <= 65535)) {
      problem(nat, `NAT_ACCESS must be HOST or HOST:PORT (e.g. 192.168.1.2:22; without a port the ACCESS port), got ${JSON.stringify(nat.value)}`);
    } else natAccess = { host: nm[1] as string, port: natPort, ...(natLocal ? { local: true } : {}) };
  } else if (natLocal && server !== undefined && accessPort !== undefined) {
    natAccess = { host: server, port: accessPort, local: true };
  }
  const natRandPort = yesNo('NAT_RAND_PORT') === true;
  const natPortEntry = get('NAT_PORT');
  let natPort: number | undefined;
  if (natPortEntry !== undefined) {
    natPort = /^\d{1,5}$/.test(natPortEntry.value) ? Number(natPortEntry.value) : NaN;
    if (!(natPort >= 1 && natPort <= 65535)) problem(natPortEntry, `NAT_PORT must be 1-65535, got ${JSON.stringify(natPortEntry.value)}`);
  }
  if ((natRandPort || natPort !== undefined) && access.length > 1) {
    problem(get('NAT_RAND_PORT') ?? natPortEntry, 'NAT_RAND_PORT / NAT_PORT replace the one access port; fwknop refuses them with several ports in ACCESS');
  }
  if (natPort !== undefined && !natRandPort && access.length === 1 && natPort >= 1 && natPort <= 65535) {
    access = [{ protocol: (access[0] as PortSpec).protocol, port: natPort }];
  }

  const spoofUser = get('SPOOF_USER');
  if (spoofUser !== undefined && !isValidUsername(spoofUser.value)) problem(spoofUser, `SPOOF_USER ${JSON.stringify(spoofUser.value)} is not a valid fwknop user name`);

  let timeOffset = 0;
  const offset = get('TIME_OFFSET');
  if (offset !== undefined) {
    const parsed = parseOffset(offset.value);
    if (parsed === undefined) problem(offset, `TIME_OFFSET must be like 60, +1H, 5m, -1D (at most 65536 units), got ${JSON.stringify(offset.value)}`);
    else timeOffset = parsed;
  }

  problems.sort((a, b) => a.line - b.line);
  if (problems.length > 0 || keys === undefined || server === undefined) return { problems };
  return {
    config: {
      stanza: name ?? DEFAULT_STANZA, server, port, proto, access, allowIp, keys, modes, clientTimeout, natAccess,
      ...(natRandPort ? { natRandPort } : {}),
      ...(yesNo('RAND_PORT') === true ? { randPort: true } : {}),
      ...(spoof === undefined ? {} : { spoofSource: spoof.value }),
      username: spoofUser?.value, timeOffset,
      ...(gpg === undefined ? {} : { gpg }),
    },
    problems,
  };
}

/** Whether a mode lets anyone but the owner read or write the file. */
export function isTooOpen(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/** Reads a file holding SPA keys, refusing one that group or others may read or write (fwknop only warns). */
export async function readKeyHoldingFile(path: string, what: string): Promise<string> {
  try {
    // O_NONBLOCK: a FIFO here must be refused (below), not waited on.
    const handle = await fs.open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new KnockstickError('IO', `${path} is ${describeKind(stat)}, not a regular file`);
      if (isTooOpen(stat.mode)) {
        throw new KnockstickError('INVALID_FILE', `${path} holds ${what} but its mode is ${(stat.mode & 0o777).toString(8).padStart(4, '0')}: group or others may read it`, {
          hint: `chmod 600 ${path} (and consider new keys with \`knockstick spa keygen\` if others could have read them)`,
        });
      }
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof KnockstickError) throw error;
    throw ioError('read', path, error);
  }
}

/** The rc file's stanzas and the KEY_FILE texts the stanza in effect names. */
async function loadRc(path: string, stanza: string | undefined): Promise<{ stanzas: RcStanza[]; keyFiles: Map<string, string> }> {
  const stanzas = parseRcText(await readKeyHoldingFile(path, 'SPA keys'), path);
  const keyFiles = new Map<string, string>();
  const wanted = stanza?.toLowerCase();
  for (const s of stanzas) {
    const name = s.name.toLowerCase();
    const file = s.entries.get('KEY_FILE')?.value;
    if (file === undefined || (name !== DEFAULT_STANZA && name !== wanted) || keyFiles.has(file)) continue;
    keyFiles.set(file, await readKeyHoldingFile(resolvePath(dirname(path), file), 'SPA keys (KEY_FILE)'));
  }
  return { stanzas, keyFiles };
}

/**
 * Reads an rc file holding SPA keys and resolves a stanza for sending. Refuses a file (or its
 * KEY_FILE) that group or others may read or write: the keys are the door.
 */
export async function readRcFile(path: string, stanza: string | undefined, options: Omit<RcOptions, 'keyFiles'> = {}): Promise<SpaClientConfig> {
  const { stanzas, keyFiles } = await loadRc(path, stanza);
  const { config, problems } = resolveStanza(stanzas, stanza, path, { ...options, keyFiles });
  if (config === undefined || problems.length > 0) throw new InvalidFileError(problems, `fix ${path}; nothing was sent`);
  return config;
}

/** Reads only the keys and modes of a stanza, for `spa decode`. */
export async function readRcKeys(path: string, stanza: string | undefined): Promise<SpaKeyConfig> {
  const { stanzas, keyFiles } = await loadRc(path, stanza);
  const { config, problems } = resolveStanzaKeys(stanzas, stanza, path, { keyFiles });
  if (config === undefined || problems.length > 0) throw new InvalidFileError(problems, `fix ${path} to decode with its keys`);
  return config;
}

/** A new stanza with keys, for `spa keygen --rc-file`. Values are checked so no line can break the file. */
export function formatStanza(name: string, settings: readonly (readonly [string, string])[]): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`stanza name ${JSON.stringify(name)}: use letters, digits, . _ -`);
  for (const [k, v] of settings) if (!/^[A-Z0-9_]+$/.test(k) || !/^[^\s;#]+$/.test(v)) throw new Error(`cannot write ${k} with this value into an rc file`);
  return `[${name}]\n${settings.map(([k, v]) => `${k.padEnd(16)} ${v}`).join('\n')}\n`;
}
