// The wire form of an fwknop SPA packet in GnuPG mode. Pure: gpg itself runs in gpg.ts.
//
//   plain = encoded ":" b64(SHA256(encoded))          the same string as in Rijndael mode
//   msg   = gpg --encrypt --sign (binary, no armor) of plain, to the server's key, by the client's
//   B     = b64(msg) without "="                      (fwknop: lib/fko_encryption.c gpg_encrypt)
//   wire  = B without its first 2 chars ("hQ"), then b64(HMAC-SHA256(hmac key, B)) if HMAC is used
//
// fwknop strips the first two characters whatever they are (lib/fko_funcs.c fko_get_spa_data) and
// fwknopd puts "hQ" back (add_gpg_prefix), because an RSA-2048..4096 key's session-key packet
// (PKESK, tag 1) has an old-format header with a two-byte length: 0x85 0x01..0x0f, in base64 "hQ".
// An ECDH (Cv25519) PKESK is short, and gpg writes it with a one-byte length (0x84 0x5e: "hF"), so
// fwknop's own ECC packets lose "hF" and get "hQ" back: fwknopd refuses them (measured with fwknop
// 2.6.10: HMAC compare fails). Writing that first header as 0x85 + a two-byte length instead (valid
// OpenPGP, only not the shortest form) makes the packet begin "hQ" for every key type, and
// fwknopd accepts it (measured for RSA and Curve25519). This goes beyond fwknop.
//
// fwknopd tells the modes apart by length alone: a packet of MIN_GNUPG_MSG_SIZE (400) characters or
// more is GnuPG, shorter is Rijndael (lib/fko_encryption.c fko_encryption_type).

import { HASH_TYPES, base64NoPad, decodeBase64, digestB64, hmacB64, macEquals, type HashType } from './cipher.js';
import { encodeFields, MAX_WIRE_LENGTH, SpaDecodeError, type SpaFields } from './packet.js';

export const B64_GPG_PREFIX = 'hQ';
/** fwknop's MIN_GNUPG_MSG_SIZE: fwknopd takes a packet this long or longer for a GnuPG one. */
export const MIN_GNUPG_MSG_SIZE = 400;
/** OpenPGP packet tag of a public-key encrypted session key. */
const PKESK_TAG = 1;
/** Old-format header, tag 1, two-byte length. */
const OLD_PKESK_TWO_BYTE = 0x85;
/** The largest length whose two-byte header still encodes to "hQ" (the top four bits must be 0). */
const MAX_HQ_LENGTH = 0x0fff;

/** The string gpg encrypts: the encoded fields and their digest (as in Rijndael mode; SHA-256 by default). */
export function gpgPlaintext(fields: SpaFields, digest: HashType = 'sha256'): string {
  const encoded = encodeFields(fields);
  return `${encoded}:${digestB64(encoded, digest)}`;
}

interface PacketHeader {
  readonly tag: number;
  /** Bytes of header before the body. */
  readonly headerLength: number;
  readonly bodyLength: number;
}

/** Reads the first OpenPGP packet header (RFC 4880 4.2); undefined for anything it cannot read. */
export function readPacketHeader(data: Buffer): PacketHeader | undefined {
  const first = data[0];
  if (first === undefined || (first & 0x80) === 0) return undefined;
  if ((first & 0x40) === 0) {
    // Old format: tag in bits 5-2, length type in bits 1-0.
    const tag = (first >> 2) & 0x0f;
    const lengthType = first & 0x03;
    if (lengthType === 0 && data.length >= 2) return { tag, headerLength: 2, bodyLength: data[1] as number };
    if (lengthType === 1 && data.length >= 3) return { tag, headerLength: 3, bodyLength: data.readUInt16BE(1) };
    if (lengthType === 2 && data.length >= 5) return { tag, headerLength: 5, bodyLength: data.readUInt32BE(1) };
    return undefined;
  }
  // New format: tag in bits 5-0.
  const tag = first & 0x3f;
  const l1 = data[1];
  if (l1 === undefined) return undefined;
  if (l1 < 192) return { tag, headerLength: 2, bodyLength: l1 };
  if (l1 < 224 && data.length >= 3) return { tag, headerLength: 3, bodyLength: ((l1 - 192) << 8) + (data[2] as number) + 192 };
  if (l1 === 255 && data.length >= 6) return { tag, headerLength: 6, bodyLength: data.readUInt32BE(2) };
  return undefined; // partial lengths: never used for a PKESK
}

/**
 * The same OpenPGP message with its first packet's header written as 0x85 + a two-byte length, so
 * that its base64 begins "hQ" as fwknopd assumes. Throws when the first packet is not a session-key
 * packet (not gpg --encrypt output) or is too long to begin "hQ".
 */
export function withOldFormatFirstHeader(message: Buffer): Buffer {
  const header = readPacketHeader(message);
  if (header === undefined || header.tag !== PKESK_TAG) throw new Error('the gpg output does not begin with a public-key encrypted session key packet');
  if (header.bodyLength > MAX_HQ_LENGTH || header.headerLength + header.bodyLength > message.length) {
    throw new Error(`the session key packet is ${header.bodyLength} bytes: too long for fwknop's "hQ" prefix (a key over 16384 bits?)`);
  }
  const rewritten = Buffer.alloc(3);
  rewritten[0] = OLD_PKESK_TWO_BYTE;
  rewritten.writeUInt16BE(header.bodyLength, 1);
  return Buffer.concat([rewritten, message.subarray(header.headerLength)]);
}

/** The wire string for gpg's binary output, with an HMAC when a key is given. */
export function sealGpgMessage(message: Buffer, hmacKey: Buffer | undefined, hmacType: HashType = 'sha256'): string {
  const b64 = base64NoPad(withOldFormatFirstHeader(message));
  if (!b64.startsWith(B64_GPG_PREFIX)) throw new Error('internal: the rewritten header does not encode to "hQ"');
  const wire = `${b64.slice(B64_GPG_PREFIX.length)}${hmacKey === undefined ? '' : hmacB64(hmacKey, b64, hmacType)}`;
  if (wire.length < MIN_GNUPG_MSG_SIZE) throw new Error(`the GnuPG packet is ${wire.length} characters; fwknopd would take anything under ${MIN_GNUPG_MSG_SIZE} for a Rijndael packet`);
  if (wire.length > MAX_WIRE_LENGTH) throw new Error(`the GnuPG SPA packet would be ${wire.length} bytes, over fwknop's ${MAX_WIRE_LENGTH} (a smaller key, or fewer ports)`);
  return wire;
}

/** What the wire string of a GnuPG packet holds, before any decryption. */
export interface GpgWire {
  /** The binary OpenPGP message ("hQ" put back). */
  readonly message: Buffer;
  /** Whether an HMAC was checked (a key was given, and it matched). */
  readonly hmacChecked: boolean;
  /** Whether the packet carries an HMAC (without a key: seen from where the OpenPGP message ends). */
  readonly hmacPresent: boolean;
  /** The key ID the session key packet names (16 hex digits; all zeros for a hidden recipient). */
  readonly recipientKeyId: string | undefined;
  /** The public-key algorithm number of that packet (1 RSA, 18 ECDH). */
  readonly algorithm: number | undefined;
  /** False for fwknop's own Curve25519 packets: fwknopd puts "hQ" back where "hF" was, and refuses them. */
  readonly fwknopdReadable: boolean;
}

/** The length of an MPI at `at` (two-byte bit count, then the bytes), or undefined past the end. */
function mpiLength(body: Buffer, at: number): number | undefined {
  if (at + 2 > body.length) return undefined;
  return 2 + Math.ceil(body.readUInt16BE(at) / 8);
}

/** The body length a version 3 PKESK's own fields add up to (RFC 4880 5.1, RFC 6637 for ECDH). */
function pkeskFieldsLength(body: Buffer): number | undefined {
  const algorithm = body[9];
  let at = 10;
  const mpis = algorithm === 1 || algorithm === 2 ? 1 : algorithm === 16 ? 2 : algorithm === 18 ? 1 : 0;
  if (mpis === 0) return undefined;
  for (let i = 0; i < mpis; i++) {
    const n = mpiLength(body, at);
    if (n === undefined) return undefined;
    at += n;
  }
  // ECDH: then a one-byte length and the wrapped session key.
  if (algorithm === 18) at += 1 + (body[at] ?? 0);
  return at;
}

/**
 * The key ID and algorithm of a version 3 PKESK at the start of the message, when the whole packet
 * is there and its fields add up to its header's length (so a wrong guess at a dropped prefix,
 * which changes only the length, is told apart).
 */
function sessionKeyInfo(message: Buffer): { keyId: string; algorithm: number } | undefined {
  const header = readPacketHeader(message);
  if (header === undefined || header.tag !== PKESK_TAG) return undefined;
  const body = message.subarray(header.headerLength, header.headerLength + header.bodyLength);
  if (body.length !== header.bodyLength || body.length < 12 || body[0] !== 3) return undefined;
  if (pkeskFieldsLength(body) !== header.bodyLength) return undefined;
  return { keyId: body.subarray(1, 9).toString('hex').toUpperCase(), algorithm: body[9] as number };
}

/**
 * The two characters fwknop dropped, as far as the text shows: "hQ" (what fwknopd puts back), or
 * for fwknop's own packets to a short session-key packet (Curve25519: 0x84 + a one-byte length),
 * "hA".."hP" (old format, one-byte length: 0x84, then the length's top four bits). Undefined: not a
 * GnuPG packet.
 */
export function gpgPrefixOf(wire: string): string | undefined {
  const data = wire.trim();
  if (data.length < MIN_GNUPG_MSG_SIZE || !/^[A-Za-z0-9+/]+$/.test(data)) return undefined;
  for (const prefix of [B64_GPG_PREFIX, ...'ABCDEFGHIJKLMNOP'.split('').map((c) => `h${c}`)]) {
    // The session key packet is at most a few hundred bytes: decode enough for all of it.
    const text = `${prefix}${data.slice(0, 718)}`;
    // Whole base64 quanta only: the HMAC may follow, and the text may end anywhere.
    const head = decodeBase64(text.slice(0, text.length - (text.length % 4)));
    if (head !== undefined && sessionKeyInfo(head) !== undefined) return prefix;
  }
  return undefined;
}

/** Whether the text has fwknopd's GnuPG length and, with its prefix put back, begins with a session-key packet. */
export function looksLikeGpgWire(wire: string): boolean {
  return gpgPrefixOf(wire) !== undefined;
}

/**
 * Splits the wire string: checks the HMAC (constant time) when a key is given, puts the dropped
 * prefix back and base64-decodes. Throws SpaDecodeError naming what failed.
 */
export function openGpgWire(wire: string, hmacKey: Buffer | undefined, hmacType: HashType = 'sha256'): GpgWire {
  const macLength = HASH_TYPES[hmacType].b64Length;
  const data = wire.trim();
  const prefix = gpgPrefixOf(data);
  if (prefix === undefined) throw new SpaDecodeError('malformed', 'not an fwknop GnuPG SPA packet');
  let body = data;
  let hmacPresent = hmacKey !== undefined;
  if (hmacKey !== undefined) {
    body = data.slice(0, -macLength);
    if (!macEquals(hmacB64(hmacKey, `${prefix}${body}`, hmacType), data.slice(-macLength))) {
      throw new SpaDecodeError('bad-hmac', 'the HMAC of this GnuPG packet does not match: wrong HMAC key, a packet sent without HMAC, or the packet was altered');
    }
  } else {
    // No key: whether HMAC characters follow (and how many) shows in where the OpenPGP packets end.
    // A cut that lands exactly on the end of the last packet is asked first: the HMAC's own bytes
    // can happen to read as a short packet after the message (so the whole text "ends" too; seen
    // once in the lab), while cutting an HMAC's length off a message without one lands inside its
    // long encrypted packet. An open-ended last packet (indeterminate length) ends anywhere, so it
    // counts only when no exact reading exists, and then the whole text is the message.
    const lengths = [...new Set(Object.values(HASH_TYPES).map((h) => h.b64Length))];
    const ending = (text: string): 'exact' | 'open' | 'no' => {
      const bytes = decodeBase64(`${prefix}${text}`);
      return bytes === undefined ? 'no' : packetEnding(bytes);
    };
    const exactCut = lengths.find((length) => ending(data.slice(0, -length)) === 'exact');
    if (exactCut !== undefined) {
      body = data.slice(0, -exactCut);
      hmacPresent = true;
    } else if (ending(data) === 'no') {
      const openCut = lengths.find((length) => ending(data.slice(0, -length)) === 'open');
      if (openCut !== undefined) {
        body = data.slice(0, -openCut);
        hmacPresent = true;
      }
    }
  }
  const message = decodeBase64(`${prefix}${body}`);
  if (message === undefined || !packetsEndAtEnd(message)) throw new SpaDecodeError('malformed', 'the GnuPG packet is not a whole OpenPGP message (cut short, or altered)');
  const info = sessionKeyInfo(message);
  return { message, hmacChecked: hmacKey !== undefined, hmacPresent, recipientKeyId: info?.keyId, algorithm: info?.algorithm, fwknopdReadable: prefix === B64_GPG_PREFIX };
}

/** Whether the OpenPGP packets in `data` (definite, partial or indeterminate lengths) end exactly at its end. */
export function packetsEndAtEnd(data: Buffer): boolean {
  return packetEnding(data) !== 'no';
}

/**
 * How the OpenPGP packets in `data` end: 'exact' (the last length lands on the last byte), 'open'
 * (an old-format packet of indeterminate length runs to the end, whatever follows), or 'no'.
 */
export function packetEnding(data: Buffer): 'exact' | 'open' | 'no' {
  let at = 0;
  while (at < data.length) {
    const first = data[at] as number;
    if ((first & 0x80) === 0) return 'no';
    if ((first & 0x40) === 0) {
      const lengthType = first & 0x03;
      if (lengthType === 3) return 'open';
      const size = [1, 2, 4][lengthType] as number;
      if (at + 1 + size > data.length) return 'no';
      at += 1 + size + data.readUIntBE(at + 1, size);
      continue;
    }
    at += 1;
    for (;;) {
      const l1 = data[at];
      if (l1 === undefined) return 'no';
      if (l1 < 192) {
        at += 1 + l1;
        break;
      }
      if (l1 < 224) {
        if (at + 2 > data.length) return 'no';
        at += 2 + ((l1 - 192) << 8) + (data[at + 1] as number) + 192;
        break;
      }
      if (l1 === 255) {
        if (at + 5 > data.length) return 'no';
        at += 5 + data.readUInt32BE(at + 1);
        break;
      }
      at += 1 + (1 << (l1 & 0x1f)); // a partial body chunk; another length follows
    }
  }
  return at === data.length ? 'exact' : 'no';
}

/** A public-key algorithm number as people know it. */
export function algorithmName(id: number | undefined): string {
  return id === 1 || id === 2 ? 'RSA' : id === 18 ? 'ECDH (e.g. Cv25519)' : id === 16 ? 'Elgamal' : `algorithm ${id ?? '?'}`;
}
