// The fwknop SPA packet (protocol 3.0.0, Rijndael + HMAC-SHA256): fields → wire string, and back.
// Pure: randomness and the clock come in through the request and a RandomSource.
//
//   encoded = rand16 ":" b64(user) ":" ts ":" "3.0.0" ":" msgtype ":" b64(msg)
//             [":" b64(nat "host,port")] [":" client_timeout]                    (lib/fko_encode.c)
//   plain   = encoded ":" b64(SHA256(encoded))
//   B       = b64(encryptSalted(plain))            (begins "U2FsdGVkX1")
//   wire    = B without its first 10 chars, then b64(HMAC-SHA256(hmac key, B))
// Every base64 is standard with "=" stripped.

import { randomBytes, randomInt } from 'node:crypto';
import { isIPv4 } from 'node:net';
import {
  B64_SALTED_PREFIX,
  HMAC_B64_LENGTH,
  SALT_LENGTH,
  base64NoPad,
  decodeBase64,
  decryptSalted,
  encryptSalted,
  hmacB64,
  macEquals,
  sha256B64,
} from './cipher.js';
import { keysProblem, type SpaKeys } from './keys.js';

export const FKO_PROTOCOL_VERSION = '3.0.0';
export const DEFAULT_SPA_PORT = 62201;
export const RANDOM_DIGITS = 16;
/** fwknop's limits (lib/fko_limits.h). */
export const MAX_USERNAME_LENGTH = 64;
export const MAX_MESSAGE_LENGTH = 256;
export const MAX_NAT_LENGTH = 128;
export const MAX_WIRE_LENGTH = 1500;
/** "source": fwknopd opens the door for the packet's source address. */
export const USE_SOURCE_ADDRESS = '0.0.0.0';

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
  /** Internal host (address or name) fwknopd forwards to. */
  readonly host: string;
  readonly port: number;
}

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

/** What is wrong with a request, or undefined. */
export function requestProblem(request: SpaRequest): string | undefined {
  if (!isValidUsername(request.username)) return `username ${JSON.stringify(request.username)} is not valid for fwknop (1-64 printable characters, none of "/\\[]:;|=,+*?<>)`;
  if (!Number.isInteger(request.timestamp) || request.timestamp < 0) return `timestamp must be whole seconds, got ${request.timestamp}`;
  if (!isIPv4(request.allowIp)) return `the allow IP must be an IPv4 address (fwknop 2.6 has no IPv6 SPA), got ${JSON.stringify(request.allowIp)}`;
  if (request.access.length === 0) return 'the access request names no port';
  for (const a of request.access) {
    if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535 || (a.protocol !== 'tcp' && a.protocol !== 'udp')) return `bad access entry ${JSON.stringify(a)}`;
  }
  if (`${request.allowIp},${formatAccess(request.access)}`.length >= MAX_MESSAGE_LENGTH) return `the access message is longer than fwknop's ${MAX_MESSAGE_LENGTH} characters`;
  if (request.natAccess !== undefined) {
    const { host, port } = request.natAccess;
    if (!/^[A-Za-z0-9.-]{1,64}$/.test(host)) return `NAT host must be an address or host name, got ${JSON.stringify(host)}`;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `NAT port must be 1-65535, got ${port}`;
  }
  const t = request.clientTimeout;
  if (t !== undefined && (!Number.isInteger(t) || t < 0 || t > 65536)) return `client timeout must be 0-65536 seconds, got ${t}`;
  return undefined;
}

/** msgtype for the request: access or NAT, with or without a client timeout. */
export function messageTypeOf(request: Pick<SpaRequest, 'natAccess' | 'clientTimeout'>): number {
  const timeout = (request.clientTimeout ?? 0) > 0;
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
  const timeout = request.clientTimeout ?? 0;
  return {
    random: randomDigits(random),
    username: request.username,
    timestamp: request.timestamp,
    version: FKO_PROTOCOL_VERSION,
    messageType: messageTypeOf(request),
    message: `${request.allowIp},${formatAccess(request.access)}`,
    ...(request.natAccess === undefined ? {} : { natAccess: `${request.natAccess.host},${request.natAccess.port}` }),
    ...(timeout > 0 ? { clientTimeout: timeout } : {}),
  };
}

/** Encrypts and MACs fields into the wire string. */
export function sealFields(fields: SpaFields, keys: SpaKeys, salt: Buffer): string {
  const problem = keysProblem(keys);
  if (problem !== undefined) throw new Error(problem);
  const encoded = encodeFields(fields);
  const plain = `${encoded}:${sha256B64(encoded)}`;
  const b64 = base64NoPad(encryptSalted(Buffer.from(plain, 'latin1'), keys.encryption, salt));
  const wire = `${b64.slice(B64_SALTED_PREFIX.length)}${hmacB64(keys.hmac, b64)}`;
  if (wire.length > MAX_WIRE_LENGTH) throw new Error(`the SPA packet would be ${wire.length} bytes, over fwknop's ${MAX_WIRE_LENGTH}`);
  return wire;
}

/** The whole client side: request → wire string. */
export function buildSpaPacket(request: SpaRequest, keys: SpaKeys, random: RandomSource = cryptoRandomSource): string {
  const fields = requestFields(request, random);
  return sealFields(fields, keys, random.bytes(SALT_LENGTH));
}

export type DecodeFailure = 'malformed' | 'bad-hmac' | 'bad-decrypt' | 'bad-digest' | 'bad-fields';

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

/** Parses the decrypted plaintext (fields and digest); checks the digest. */
export function parsePlaintext(plain: string): SpaFields {
  const at = plain.lastIndexOf(':');
  if (at < 0) throw new SpaDecodeError('bad-fields', 'no digest field');
  const encoded = plain.slice(0, at);
  if (!macEquals(sha256B64(encoded), plain.slice(at + 1))) throw new SpaDecodeError('bad-digest', 'the SHA-256 digest does not match the fields');
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
  return {
    random,
    username: decodeB64Field('username', user),
    timestamp: Number(ts),
    version,
    messageType,
    message: decodeB64Field('message', message),
    ...(natAccess === undefined ? {} : { natAccess }),
    ...(serverAuth === undefined ? {} : { serverAuth }),
    ...(clientTimeout === undefined ? {} : { clientTimeout }),
  };
}

/**
 * The server side, for tests and `spa decode`: checks the HMAC first (constant time), then
 * decrypts, then checks the digest and parses the fields. Throws SpaDecodeError saying which step failed.
 */
export function decodeSpaPacket(wire: string, keys: SpaKeys): SpaFields {
  const data = wire.trim();
  if (data.length <= HMAC_B64_LENGTH + 16 || !/^[A-Za-z0-9+/]+$/.test(data)) throw new SpaDecodeError('malformed', 'not an fwknop SPA packet (too short, or not base64)');
  if (data.startsWith(B64_SALTED_PREFIX)) throw new SpaDecodeError('malformed', `the packet still starts with ${B64_SALTED_PREFIX}; fwknop strips that prefix from the wire`);
  const b64 = B64_SALTED_PREFIX + data.slice(0, -HMAC_B64_LENGTH);
  if (!macEquals(hmacB64(keys.hmac, b64), data.slice(-HMAC_B64_LENGTH))) throw new SpaDecodeError('bad-hmac', 'the HMAC does not match: wrong HMAC key, or the packet was altered');
  const ct = decodeBase64(b64);
  const plain = ct === undefined ? undefined : decryptSalted(ct, keys.encryption);
  if (plain === undefined) throw new SpaDecodeError('bad-decrypt', 'the packet does not decrypt with this key');
  return parsePlaintext(plain.toString('latin1'));
}
