// The fwknop SPA packet (protocol 3.0.0, Rijndael + HMAC): fields → wire string, and back.
// Pure: randomness and the clock come in through the request and a RandomSource.
//
//   encoded = rand16 ":" b64(user) ":" ts ":" "3.0.0" ":" msgtype ":" b64(msg)
//             [":" b64(nat "host,port")] [":" client_timeout]                    (lib/fko_encode.c)
//   plain   = encoded ":" b64(SHA256(encoded))
//   B       = b64(encryptSalted(plain))            (begins "U2FsdGVkX1")
//   wire    = B without its first 10 chars, then b64(HMAC-SHA256(hmac key, B))
// Every base64 is standard with "=" stripped. The digest, the HMAC and the cipher mode can be any
// of fwknop's (SpaModes); without an HMAC the wire ends after B (an unsafe mode: anyone can alter
// the ciphertext undetected, so the caller sends it only when the user asked for it).

import { randomBytes, randomInt } from 'node:crypto';
import { isIPv4 } from 'node:net';
import {
  B64_SALTED_PREFIX,
  ENCRYPTION_MODES,
  HASH_TYPES,
  SALT_LENGTH,
  base64NoPad,
  decodeBase64,
  decryptSalted,
  digestB64,
  encryptSalted,
  hmacB64,
  macEquals,
  type EncryptionMode,
  type HashType,
} from './cipher.js';
import { keysProblem, type SpaKeys } from './keys.js';

export const FKO_PROTOCOL_VERSION = '3.0.0';
export const DEFAULT_SPA_PORT = 62201;
export const RANDOM_DIGITS = 16;
/** fwknop's limits (lib/fko_limits.h). */
export const MAX_USERNAME_LENGTH = 64;
export const MAX_MESSAGE_LENGTH = 256;
/** fwknop's MAX_SPA_CMD_LEN: a command message may be longer than an access message. */
export const MAX_COMMAND_MESSAGE_LENGTH = 1400;
/** fwknop's MAX_HOSTNAME_LEN for the NAT host. */
export const MAX_NAT_HOST_LENGTH = 70;
export const MAX_NAT_LENGTH = 128;
export const MAX_WIRE_LENGTH = 1500;
/** "source": fwknopd opens the door for the packet's source address. */
export const USE_SOURCE_ADDRESS = '0.0.0.0';
/**
 * ALLOW_IP local (knockstick's, not fwknop's): the address this machine sends from towards the
 * server, found when the packet is sent. For a server with REQUIRE_SOURCE_ADDRESS that is the
 * address to name when no NAT is in between.
 */
export const ALLOW_IP_LOCAL = 'local';

export const MessageType = {
  COMMAND: 0,
  ACCESS: 1,
  NAT_ACCESS: 2,
  CLIENT_TIMEOUT_ACCESS: 3,
  CLIENT_TIMEOUT_NAT_ACCESS: 4,
  LOCAL_NAT_ACCESS: 5,
  CLIENT_TIMEOUT_LOCAL_NAT_ACCESS: 6,
} as const;

export interface PortSpec {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
}

export interface NatAccess {
  /** Internal host (address or name) fwknopd forwards to; for local NAT, the SPA server as given. */
  readonly host: string;
  readonly port: number;
  /** NAT_LOCAL: fwknopd forwards to a port on itself (message type 5/6). */
  readonly local?: boolean | undefined;
}

/** How the packet is sealed: fwknop's DIGEST_TYPE, HMAC_DIGEST_TYPE (or none) and ENCRYPTION_MODE. */
export interface SpaModes {
  readonly digest: HashType;
  readonly hmac: HashType | 'none';
  readonly encryption: EncryptionMode;
}

/** fwknop's defaults, and the only safe combination family: HMAC on, CBC. */
export const DEFAULT_MODES: SpaModes = { digest: 'sha256', hmac: 'sha256', encryption: 'cbc' };

/** What an access request asks for. */
export interface SpaRequest {
  readonly username: string;
  /** Unix seconds (injectable: tests send old packets). */
  readonly timestamp: number;
  /** The address the door opens for; USE_SOURCE_ADDRESS for "the packet's source". */
  readonly allowIp: string;
  readonly access: readonly PortSpec[];
  readonly natAccess?: NatAccess | undefined;
  /** Seconds the server keeps the door open (msgtype 3/4); 0 or undefined: the server's own. */
  readonly clientTimeout?: number | undefined;
  /** A command for fwknopd to run (message type 0, fwknop --server-cmd); access is then unused. */
  readonly command?: string | undefined;
}

/** Every field of a decoded packet. */
export interface SpaFields {
  readonly random: string;
  readonly username: string;
  readonly timestamp: number;
  readonly version: string;
  readonly messageType: number;
  readonly message: string;
  readonly natAccess?: string;
  readonly serverAuth?: string;
  readonly clientTimeout?: number;
}

export interface RandomSource {
  bytes(n: number): Buffer;
  /** An integer in [0, max). */
  int(max: number): number;
}

export const cryptoRandomSource: RandomSource = { bytes: randomBytes, int: (max) => randomInt(max) };

/** The access part of the message: "tcp/22,udp/53". */
export function formatAccess(access: readonly PortSpec[]): string {
  return access.map((a) => `${a.protocol}/${a.port}`).join(',');
}

/** Parses "tcp/22,udp/53" (fwknop's ACCESS / -A); undefined entries are reported by the caller. */
export function parseAccess(text: string): PortSpec[] | string {
  const specs: PortSpec[] = [];
  for (const item of text.split(',')) {
    const m = /^(tcp|udp)\/(\d{1,5})$/.exec(item.trim());
    const port = Number(m?.[2]);
    if (m === null || !(port >= 1 && port <= 65535)) {
      return `${JSON.stringify(item)} is not PROTO/PORT with PROTO tcp or udp and PORT 1-65535 (e.g. tcp/22,udp/53)`;
    }
    specs.push({ protocol: m[1] as 'tcp' | 'udp', port });
  }
  return specs;
}

/** fwknop's username rule (lib/fko_user.c): printable ASCII, none of "/\[]:;|=,+*?<>, 1-64 chars. */
export function isValidUsername(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_USERNAME_LENGTH && /^[\x20-\x7e]+$/.test(name) && !/["/\\[\]:;|=,+*?<>]/.test(name);
}

/** fwknop's host name rule for NAT hosts (common/fko_util.c is_valid_hostname), or an IPv4 address. */
export function isValidNatHost(host: string): boolean {
  if (isIPv4(host)) return true;
  if (host.length < 1 || host.length > MAX_NAT_HOST_LENGTH) return false;
  const bare = host.endsWith('.') ? host.slice(0, -1) : host;
  return bare.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})$/.test(label) && !label.endsWith('-'));
}

/** What is wrong with a request, or undefined. */
export function requestProblem(request: SpaRequest): string | undefined {
  if (!isValidUsername(request.username)) return `username ${JSON.stringify(request.username)} is not valid for fwknop (1-64 printable characters, none of "/\\[]:;|=,+*?<>)`;
  if (!Number.isInteger(request.timestamp) || request.timestamp < 0) return `timestamp must be whole seconds, got ${request.timestamp}`;
  if (!isIPv4(request.allowIp)) return `the allow IP must be an IPv4 address (fwknop 2.6 has no IPv6 SPA), got ${JSON.stringify(request.allowIp)}`;
  if (request.command !== undefined) {
    if (!/^[\x20-\x7e]+$/.test(request.command)) return 'the server command must be one line of printable ASCII';
    if (request.natAccess !== undefined) return 'a command message cannot carry a NAT request (fwknop sends one or the other)';
    if (`${request.allowIp},${request.command}`.length >= MAX_COMMAND_MESSAGE_LENGTH) return `the command message is longer than fwknop's ${MAX_COMMAND_MESSAGE_LENGTH} characters`;
    return undefined;
  }
  if (request.access.length === 0) return 'the access request names no port';
  for (const a of request.access) {
    if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535 || (a.protocol !== 'tcp' && a.protocol !== 'udp')) return `bad access entry ${JSON.stringify(a)}`;
  }
  if (`${request.allowIp},${formatAccess(request.access)}`.length >= MAX_MESSAGE_LENGTH) return `the access message is longer than fwknop's ${MAX_MESSAGE_LENGTH} characters`;
  if (request.natAccess !== undefined) {
    const { host, port } = request.natAccess;
    if (!isValidNatHost(host)) return `NAT host must be an IPv4 address or host name, got ${JSON.stringify(host)}`;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `NAT port must be 1-65535, got ${port}`;
  }
  const t = request.clientTimeout;
  if (t !== undefined && (!Number.isInteger(t) || t < 0 || t > 65536)) return `client timeout must be 0-65536 seconds, got ${t}`;
  return undefined;
}

/** msgtype for the request: access or NAT, with or without a client timeout. */
export function messageTypeOf(request: Pick<SpaRequest, 'natAccess' | 'clientTimeout' | 'command'>): number {
  if (request.command !== undefined) return MessageType.COMMAND;
  const timeout = (request.clientTimeout ?? 0) > 0;
  if (request.natAccess?.local === true) return timeout ? MessageType.CLIENT_TIMEOUT_LOCAL_NAT_ACCESS : MessageType.LOCAL_NAT_ACCESS;
  if (request.natAccess !== undefined) return timeout ? MessageType.CLIENT_TIMEOUT_NAT_ACCESS : MessageType.NAT_ACCESS;
  return timeout ? MessageType.CLIENT_TIMEOUT_ACCESS : MessageType.ACCESS;
}

/** 16 decimal digits, the first not 0 (fwknop prints rand() with %u, which never starts with 0). */
export function randomDigits(random: RandomSource): string {
  let digits = String(1 + random.int(9));
  while (digits.length < RANDOM_DIGITS) digits += String(random.int(10));
  return digits;
}

/** The colon-separated field string before the digest (fko_encode.c). */
export function encodeFields(fields: SpaFields): string {
  const parts = [
    fields.random,
    base64NoPad(Buffer.from(fields.username, 'utf8')),
    String(fields.timestamp),
    fields.version,
    String(fields.messageType),
    base64NoPad(Buffer.from(fields.message, 'utf8')),
  ];
  if (fields.natAccess !== undefined) parts.push(base64NoPad(Buffer.from(fields.natAccess, 'utf8')));
  if (fields.serverAuth !== undefined) parts.push(base64NoPad(Buffer.from(fields.serverAuth, 'utf8')));
  if (fields.clientTimeout !== undefined && fields.clientTimeout > 0 && fields.messageType !== MessageType.COMMAND) parts.push(String(fields.clientTimeout));
  return parts.join(':');
}

/** The fields a request turns into (random digits drawn here). */
export function requestFields(request: SpaRequest, random: RandomSource): SpaFields {
  const problem = requestProblem(request);
  if (problem !== undefined) throw new Error(problem);
  const timeout = request.command === undefined ? request.clientTimeout ?? 0 : 0;
  return {
    random: randomDigits(random),
    username: request.username,
    timestamp: request.timestamp,
    version: FKO_PROTOCOL_VERSION,
    messageType: messageTypeOf(request),
    message: `${request.allowIp},${request.command ?? formatAccess(request.access)}`,
    ...(request.natAccess === undefined ? {} : { natAccess: `${request.natAccess.host},${request.natAccess.port}` }),
    ...(timeout > 0 ? { clientTimeout: timeout } : {}),
  };
}

/** Encrypts and MACs fields into the wire string. */
export function sealFields(fields: SpaFields, keys: SpaKeys, salt: Buffer, modes: SpaModes = DEFAULT_MODES): string {
  const problem = keysProblem(keys, modes.hmac !== 'none');
  if (problem !== undefined) throw new Error(problem);
  const encoded = encodeFields(fields);
  const plain = `${encoded}:${digestB64(encoded, modes.digest)}`;
  const b64 = base64NoPad(encryptSalted(Buffer.from(plain, 'latin1'), keys.encryption, salt, modes.encryption));
  const wire = `${b64.slice(B64_SALTED_PREFIX.length)}${modes.hmac === 'none' ? '' : hmacB64(keys.hmac, b64, modes.hmac)}`;
  if (wire.length > MAX_WIRE_LENGTH) throw new Error(`the SPA packet would be ${wire.length} bytes, over fwknop's ${MAX_WIRE_LENGTH}`);
  return wire;
}

/** The whole client side: request → wire string. */
export function buildSpaPacket(request: SpaRequest, keys: SpaKeys, random: RandomSource = cryptoRandomSource, modes: SpaModes = DEFAULT_MODES): string {
  const fields = requestFields(request, random);
  return sealFields(fields, keys, random.bytes(SALT_LENGTH), modes);
}

/** 'other-mode': the packet is sound but made in another mode than the one asked for (named in the message). */
export type DecodeFailure = 'malformed' | 'bad-hmac' | 'bad-decrypt' | 'bad-digest' | 'bad-fields' | 'other-mode';

export class SpaDecodeError extends Error {
  constructor(
    readonly reason: DecodeFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SpaDecodeError';
  }
}

const NAT_TYPES: ReadonlySet<number> = new Set([2, 4, 5, 6]);
const TIMEOUT_TYPES: ReadonlySet<number> = new Set([3, 4, 6]);

function decodeB64Field(name: string, text: string): string {
  const bytes = decodeBase64(text);
  if (bytes === undefined || text.length === 0) throw new SpaDecodeError('bad-fields', `the ${name} field is not base64`);
  return bytes.toString('utf8');
}

/** The digests a digest of this length can be, as fwknopd tells them apart (by length, then by trying). */
function digestCandidates(length: number): HashType[] {
  return (Object.keys(HASH_TYPES) as HashType[]).filter((t) => HASH_TYPES[t].b64Length === length);
}

/** fwknopd's access message rule (lib/fko_message.c): "IP,proto/port[,proto/port...]". */
function accessMessageProblem(message: string, command: boolean): string | undefined {
  const comma = message.indexOf(',');
  const ip = comma < 0 ? message : message.slice(0, comma);
  if (!isIPv4(ip)) return `the message does not start with an IPv4 allow address: ${JSON.stringify(message)}`;
  const rest = message.slice(comma + 1);
  if (comma < 0 || rest === '') return `the message has nothing after the allow address: ${JSON.stringify(message)}`;
  if (command) return message.length >= MAX_COMMAND_MESSAGE_LENGTH ? 'the command message is too long' : undefined;
  if (message.length >= MAX_MESSAGE_LENGTH) return 'the access message is too long';
  for (const spec of rest.split(',')) {
    const m = /^(?:tcp|udp|icmp|none)\/(\d{1,5})$/.exec(spec);
    if (m === null || Number(m[1]) < 1 || Number(m[1]) > 65535) return `bad proto/port ${JSON.stringify(spec)} in the message`;
  }
  return undefined;
}

/** fwknopd's NAT field rule: exactly "HOST,PORT", HOST an IPv4 address or valid host name (its iptables code resolves it). */
function natProblem(nat: string): string | undefined {
  const m = /^([^,]*),(\d{1,5})$/.exec(nat);
  if (m === null || !isValidNatHost(m[1] as string) || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    return `the NAT access field ${JSON.stringify(nat)} is not HOST,PORT with an IPv4 address or host name and a port 1-65535 (fwknopd refuses it)`;
  }
  return undefined;
}

/** Parses the decrypted plaintext (fields and digest); checks the digest and the fields as fwknopd does. */
export function parsePlaintext(plain: string): SpaFields & { readonly digestType: HashType } {
  const at = plain.lastIndexOf(':');
  if (at < 0) throw new SpaDecodeError('bad-digest', 'no digest field');
  const encoded = plain.slice(0, at);
  const candidates = digestCandidates(plain.length - at - 1);
  if (candidates.length === 0) throw new SpaDecodeError('bad-digest', `the digest field has ${plain.length - at - 1} characters, the length of none of fwknop's digests`);
  const digestType = candidates.find((t) => macEquals(digestB64(encoded, t), plain.slice(at + 1)));
  if (digestType === undefined) throw new SpaDecodeError('bad-digest', `the ${candidates.join(' / ')} digest does not match the fields`);
  const parts = encoded.split(':');
  if (parts.length < 6 || parts.length > 9) throw new SpaDecodeError('bad-fields', `expected 6-9 fields before the digest, got ${parts.length}`);
  const [random, user, ts, version, type, message, ...rest] = parts as [string, string, string, string, string, string, ...string[]];
  if (!/^\d{16}$/.test(random)) throw new SpaDecodeError('bad-fields', 'the random field is not 16 digits');
  if (!/^\d{1,12}$/.test(ts)) throw new SpaDecodeError('bad-fields', 'the timestamp is not a number');
  if (!/^\d$/.test(type) || Number(type) > 6) throw new SpaDecodeError('bad-fields', `unknown message type ${JSON.stringify(type)}`);
  const messageType = Number(type);
  let natAccess: string | undefined;
  let clientTimeout: number | undefined;
  if (NAT_TYPES.has(messageType)) {
    const nat = rest.shift();
    if (nat === undefined) throw new SpaDecodeError('bad-fields', `message type ${messageType} needs a NAT access field`);
    natAccess = decodeB64Field('NAT access', nat);
  }
  if (TIMEOUT_TYPES.has(messageType)) {
    const timeout = rest.pop();
    if (timeout === undefined || !/^\d{1,6}$/.test(timeout)) throw new SpaDecodeError('bad-fields', `message type ${messageType} needs a client timeout field`);
    clientTimeout = Number(timeout);
  }
  if (rest.length > 1) throw new SpaDecodeError('bad-fields', 'too many fields');
  const serverAuth = rest[0] === undefined ? undefined : decodeB64Field('server auth', rest[0]);
  const username = decodeB64Field('username', user);
  if (!isValidUsername(username)) throw new SpaDecodeError('bad-fields', `the username ${JSON.stringify(username)} is not valid for fwknop`);
  const text = decodeB64Field('message', message);
  const bad = accessMessageProblem(text, messageType === MessageType.COMMAND) ?? (natAccess === undefined ? undefined : natProblem(natAccess));
  if (bad !== undefined) throw new SpaDecodeError('bad-fields', bad);
  return {
    digestType,
    random,
    username,
    timestamp: Number(ts),
    version,
    messageType,
    message: text,
    ...(natAccess === undefined ? {} : { natAccess }),
    ...(serverAuth === undefined ? {} : { serverAuth }),
    ...(clientTimeout === undefined ? {} : { clientTimeout }),
  };
}

/** What `decodeSpaPacket` found: the fields and the modes the packet was made in. */
export type DecodedSpaPacket = SpaFields & { readonly modes: SpaModes };

const ALL_HASHES = Object.keys(HASH_TYPES) as HashType[];

function tryDecrypt(b64: string, key: Buffer, mode: EncryptionMode): Buffer | undefined {
  const ct = decodeBase64(b64);
  return ct === undefined ? undefined : decryptSalted(ct, key, mode);
}

/** Decrypts and parses; undefined when the key does not open it in this mode. */
function openPayload(b64: string, keys: SpaKeys, mode: EncryptionMode, trial = false): (SpaFields & { digestType: HashType }) | undefined {
  const plain = tryDecrypt(b64, keys.encryption, mode);
  if (plain === undefined) return undefined;
  try {
    return parsePlaintext(plain.toString('latin1'));
  } catch (error) {
    // A wrong key decrypts to padding-valid garbage once in 256 tries: that is not "this mode".
    if (error instanceof SpaDecodeError && (trial || error.reason === 'bad-digest')) return undefined;
    throw error;
  }
}

/** Names the mode of a packet that does not check out in the expected one, or undefined when it is just wrong. */
function otherModeOf(data: string, keys: SpaKeys, modes: SpaModes): string | undefined {
  if (keys.hmac.length > 0) {
    for (const type of ALL_HASHES) {
      const length = HASH_TYPES[type].b64Length;
      if (type === modes.hmac || data.length <= length) continue;
      if (macEquals(hmacB64(keys.hmac, B64_SALTED_PREFIX + data.slice(0, -length), type), data.slice(-length))) {
        return `the packet's HMAC is ${type}, not ${modes.hmac} (HMAC_DIGEST_TYPE ${type} in the rc file opens it)`;
      }
    }
  }
  if (modes.hmac !== 'none') {
    for (const mode of ['cbc', 'legacy'] as const) {
      if (openPayload(B64_SALTED_PREFIX + data, keys, mode, true) !== undefined) {
        return `the packet has no HMAC at all (fwknop without HMAC keys): anyone could have altered it${mode === 'legacy' ? ', and it uses the legacy IV mode' : ''}`;
      }
    }
  }
  if (data.startsWith('hQ') && data.length > 400) return 'the packet looks GnuPG-encrypted (it starts with "hQ", an OpenPGP header); it needs the GPG keys, not these';
  return undefined;
}

/**
 * The server side, for tests and `spa decode`: checks the HMAC first (constant time), then
 * decrypts, then checks the digest and parses the fields. Throws SpaDecodeError saying which step
 * failed; a packet made in another mode (HMAC type, no HMAC, legacy IV, GnuPG) is named as such.
 */
export function decodeSpaPacket(wire: string, keys: SpaKeys, modes: SpaModes = DEFAULT_MODES): DecodedSpaPacket {
  const data = wire.trim();
  if (data.length <= 32 || !/^[A-Za-z0-9+/]+$/.test(data)) throw new SpaDecodeError('malformed', 'not an fwknop SPA packet (too short, or not base64)');
  if (data.startsWith(B64_SALTED_PREFIX)) throw new SpaDecodeError('malformed', `the packet still starts with ${B64_SALTED_PREFIX}; fwknop strips that prefix from the wire`);
  const macLength = modes.hmac === 'none' ? 0 : HASH_TYPES[modes.hmac].b64Length;
  const b64 = B64_SALTED_PREFIX + (macLength === 0 ? data : data.slice(0, -macLength));
  if (modes.hmac !== 'none' && !macEquals(hmacB64(keys.hmac, b64, modes.hmac), data.slice(-macLength))) {
    const other = otherModeOf(data, keys, modes);
    if (other !== undefined) throw new SpaDecodeError('other-mode', other);
    throw new SpaDecodeError('bad-hmac', 'the HMAC does not match: wrong HMAC key, or the packet was altered');
  }
  const fields = openPayload(b64, keys, modes.encryption);
  if (fields === undefined) {
    for (const otherMode of ENCRYPTION_MODES) {
      if (otherMode === modes.encryption || openPayload(b64, keys, otherMode, true) === undefined) continue;
      throw new SpaDecodeError('other-mode', otherMode === 'legacy' ? 'the packet is in the legacy IV mode (ENCRYPTION_MODE legacy)' : `the packet is in ${otherMode.toUpperCase()} mode, not ${modes.encryption === 'legacy' ? 'the legacy IV mode' : modes.encryption.toUpperCase()} (ENCRYPTION_MODE ${otherMode} opens it)`);
    }
    if (modes.hmac === 'none') {
      const other = otherModeOf(data, keys, modes);
      if (other !== undefined) throw new SpaDecodeError('other-mode', other);
      // Keys without an HMAC key: the packet may end in an HMAC we cannot check (it would not decrypt with it attached).
      for (const type of ALL_HASHES) {
        const length = HASH_TYPES[type].b64Length;
        if (data.length > length + 32 && openPayload(B64_SALTED_PREFIX + data.slice(0, -length), keys, modes.encryption, true) !== undefined) {
          throw new SpaDecodeError('other-mode', `the packet ends in a ${length}-character HMAC (${type}${length === 43 ? ' or sha3_256' : length === 86 ? ' or sha3_512' : ''}), and these settings have no HMAC key to check it`);
        }
      }
      if (data.startsWith('hQ')) throw new SpaDecodeError('other-mode', 'the packet looks GnuPG-encrypted (it starts with "hQ"); it needs the GPG keys');
    }
    throw new SpaDecodeError('bad-decrypt', 'the packet does not decrypt with this key');
  }
  const { digestType, ...rest } = fields;
  return { ...rest, modes: { digest: digestType, hmac: modes.hmac, encryption: modes.encryption } };
}
