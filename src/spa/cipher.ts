// The two cryptographic layers of an fwknop SPA packet in Rijndael (+ HMAC) mode, on node:crypto
// only (spa-facts.md, checked against mrash/fwknop lib/cipher_funcs.c and lib/fko_hmac.c):
//
//   ct  = "Salted__" || salt(8) || AES-256-CBC(PKCS#7(plain)), key and IV from OpenSSL's
//         EVP_BytesToKey(MD5, 1 round) over the key bytes and the salt: exactly what
//         `openssl enc -aes-256-cbc -md md5 -pass ...` makes, so openssl can check it.
//   mac = HMAC-SHA256(hmac key, base64(ct) without "=" padding), or another HMAC_DIGEST_TYPE
//
// Pure: the salt comes from the caller.

import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SALTED_MAGIC = Buffer.from('Salted__', 'latin1');
/** base64 of "Salted__" and the first bits of the salt: every Rijndael packet starts with it, so fwknop strips it from the wire. */
export const B64_SALTED_PREFIX = 'U2FsdGVkX1';
export const SALT_LENGTH = 8;
/** fwknop's RIJNDAEL_MAX_KEYSIZE: longer keys are refused, shorter ones are used as they are (no padding). */
export const MAX_ENCRYPTION_KEY_LENGTH = 32;
/** fwknop's MAX_KEY_LEN for the HMAC key (a longer base64 key does not fit its buffers). */
export const MAX_HMAC_KEY_LENGTH = 128;
/** Length of an unpadded base64 HMAC-SHA256 (fwknop's SHA256_B64_LEN). */
export const HMAC_B64_LENGTH = 43;

/** Standard base64 with the "=" padding removed, as fwknop writes every field. */
export function base64NoPad(data: Buffer | string): string {
  return Buffer.from(data).toString('base64').replace(/=+$/, '');
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes standard base64 with or without padding; undefined when it is not base64 at all. */
export function decodeBase64(text: string): Buffer | undefined {
  const bare = text.replace(/=+$/, '');
  if (!BASE64_RE.test(text) || bare.length % 4 === 1) return undefined;
  return Buffer.from(bare, 'base64');
}

/**
 * OpenSSL's EVP_BytesToKey with MD5 and one round: D1 = MD5(pw || salt), Di = MD5(Di-1 || pw || salt),
 * concatenated until there are 32 key bytes and 16 IV bytes. fwknop's rij_salt_and_iv does the
 * same over the raw key bytes (a KEY_BASE64 key is used decoded, a KEY passphrase as its bytes).
 */
export function evpBytesToKey(password: Buffer, salt: Buffer): { key: Buffer; iv: Buffer } {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  while (blocks.length * 16 < 48) {
    previous = createHash('md5').update(previous).update(password).update(salt).digest();
    blocks.push(previous);
  }
  const all = Buffer.concat(blocks);
  return { key: all.subarray(0, 32), iv: all.subarray(32, 48) };
}

/**
 * fwknop's cipher modes for Rijndael (ENCRYPTION_MODE): "cbc" (the default); "ecb", "cfb" (128-bit
 * feedback), "ofb" and "ctr", all over the PKCS#7-padded plaintext with the same key and IV
 * derivation (checked against packets of the real fwknop 2.6.10 client; its "pcbc" builds
 * nothing); and "legacy", CBC with the key padded with "0" characters to 16 bytes first (the old
 * Perl client's way; it shrinks the key space of a short key to almost nothing, so knockstick
 * sends it only when asked to: --unsafe-legacy-iv).
 */
export type EncryptionMode = 'cbc' | 'ecb' | 'cfb' | 'ofb' | 'ctr' | 'legacy';
export const ENCRYPTION_MODES: readonly EncryptionMode[] = ['cbc', 'ecb', 'cfb', 'ofb', 'ctr', 'legacy'];
/** fwknop's RIJNDAEL_MIN_KEYSIZE: legacy mode pads shorter keys to it. */
const LEGACY_MIN_KEY_LENGTH = 16;
const BLOCK = 16;

function passwordFor(password: Buffer, mode: EncryptionMode): Buffer {
  if (mode !== 'legacy' || password.length >= LEGACY_MIN_KEY_LENGTH) return password;
  return Buffer.concat([password, Buffer.alloc(LEGACY_MIN_KEY_LENGTH - password.length, '0')]);
}

function cipherName(mode: EncryptionMode): string {
  return `aes-256-${mode === 'legacy' ? 'cbc' : mode}`;
}

/** "Salted__" || salt || AES-256-MODE(PKCS#7(plain)). */
export function encryptSalted(plain: Buffer, password: Buffer, salt: Buffer, mode: EncryptionMode = 'cbc'): Buffer {
  if (salt.length !== SALT_LENGTH) throw new Error(`the salt must be ${SALT_LENGTH} bytes`);
  const { key, iv } = evpBytesToKey(passwordFor(password, mode), salt);
  // Padding by hand: fwknop pads in every mode, node pads only the block modes.
  const pad = BLOCK - (plain.length % BLOCK);
  const cipher = createCipheriv(cipherName(mode), key, mode === 'ecb' ? null : iv).setAutoPadding(false);
  return Buffer.concat([SALTED_MAGIC, salt, cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])), cipher.final()]);
}

/** The plaintext, or undefined when the data is not "Salted__" data or does not decrypt with this key (bad padding). */
export function decryptSalted(data: Buffer, password: Buffer, mode: EncryptionMode = 'cbc'): Buffer | undefined {
  if (data.length < 32 || (data.length - 16) % 16 !== 0 || !data.subarray(0, 8).equals(SALTED_MAGIC)) return undefined;
  const { key, iv } = evpBytesToKey(passwordFor(password, mode), data.subarray(8, 16));
  try {
    const decipher = createDecipheriv(cipherName(mode), key, mode === 'ecb' ? null : iv).setAutoPadding(false);
    const padded = Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]);
    const pad = padded[padded.length - 1] as number;
    if (pad < 1 || pad > BLOCK || !padded.subarray(padded.length - pad).every((b) => b === pad)) return undefined;
    return padded.subarray(0, padded.length - pad);
  } catch {
    return undefined;
  }
}

/**
 * The hash functions fwknop offers for HMAC_DIGEST_TYPE and DIGEST_TYPE (lib/fko_hmac.c,
 * lib/digest.c), with node's name and the length of the unpadded base64 (fwknop's *_B64_LEN).
 */
export type HashType = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sha3_256' | 'sha3_512';
export const HASH_TYPES: Readonly<Record<HashType, { readonly node: string; readonly b64Length: number }>> = {
  md5: { node: 'md5', b64Length: 22 },
  sha1: { node: 'sha1', b64Length: 27 },
  sha256: { node: 'sha256', b64Length: 43 },
  sha384: { node: 'sha384', b64Length: 64 },
  sha512: { node: 'sha512', b64Length: 86 },
  sha3_256: { node: 'sha3-256', b64Length: 43 },
  sha3_512: { node: 'sha3-512', b64Length: 86 },
};

export function isHashType(name: string): name is HashType {
  return Object.hasOwn(HASH_TYPES, name);
}

/** base64(HMAC(key, text)) without padding (43 characters for the default SHA-256). */
export function hmacB64(hmacKey: Buffer, text: string, type: HashType = 'sha256'): string {
  return base64NoPad(createHmac(HASH_TYPES[type].node, hmacKey).update(text, 'latin1').digest());
}

/** base64(HASH(text)) without padding: the digest fwknop appends to the encoded fields. */
export function digestB64(text: string, type: HashType): string {
  return base64NoPad(createHash(HASH_TYPES[type].node).update(text, 'latin1').digest());
}

/** Compares two MAC strings in time independent of where they differ. */
export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  // timingSafeEqual needs equal lengths; compare against itself so the time does not reveal the length check either.
  return timingSafeEqual(x, x.length === y.length ? y : x) && x.length === y.length;
}

/** base64(SHA-256(text)) without padding: the default digest. */
export function sha256B64(text: string): string {
  return digestB64(text, 'sha256');
}
