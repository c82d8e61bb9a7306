// SPA keys the way fwknop holds them (client/fwknop.c get_keys, lib/fko_funcs.c fko_key_gen):
//
// - KEY_BASE64 / HMAC_KEY_BASE64 are base64-decoded and the raw bytes are the key. The decoded
//   Rijndael key bytes are the *password* of EVP_BytesToKey (not the AES key itself), so any length
//   from 1 to 32 bytes works; `--key-gen` makes 32 random bytes.
// - KEY / HMAC_KEY (plain passphrases) are used as their bytes; the same 32-byte limit applies to KEY.
// - `--key-gen` makes a 64-byte HMAC key for SHA-256 (its block size).
// - fwknop refuses the same bytes as both keys.

import { randomBytes } from 'node:crypto';
import { MAX_ENCRYPTION_KEY_LENGTH, MAX_HMAC_KEY_LENGTH, decodeBase64 } from './cipher.js';

export const KEYGEN_ENCRYPTION_BYTES = 32;
export const KEYGEN_HMAC_BYTES = 64;

export interface SpaKeys {
  /** Rijndael key bytes (1-32), the EVP_BytesToKey password. */
  readonly encryption: Buffer;
  /** HMAC key bytes (1-128); empty only for a packet without HMAC (an unsafe mode). */
  readonly hmac: Buffer;
}

/** What is wrong with this pair of keys, or undefined when fwknop would accept it. */
export function keysProblem(keys: SpaKeys, needHmac = true): string | undefined {
  if (keys.encryption.length < 1 || keys.encryption.length > MAX_ENCRYPTION_KEY_LENGTH) {
    return `the encryption key must be 1-${MAX_ENCRYPTION_KEY_LENGTH} bytes, got ${keys.encryption.length} (fwknop's limit for Rijndael keys)`;
  }
  if (!needHmac && keys.hmac.length === 0) return undefined;
  if (keys.hmac.length < 1 || keys.hmac.length > MAX_HMAC_KEY_LENGTH) {
    return `the HMAC key must be 1-${MAX_HMAC_KEY_LENGTH} bytes, got ${keys.hmac.length}`;
  }
  if (keys.encryption.equals(keys.hmac)) return 'the encryption key and the HMAC key are the same; fwknop refuses that';
  return undefined;
}

/** Decodes a KEY_BASE64-style value; undefined when it is not base64 or decodes to nothing. */
export function keyFromBase64(text: string): Buffer | undefined {
  const bytes = decodeBase64(text);
  return bytes === undefined || bytes.length === 0 ? undefined : bytes;
}

/** New keys from the CSPRNG, the sizes `fwknop --key-gen` uses. */
export function generateKeys(random: (n: number) => Buffer = randomBytes): SpaKeys {
  return { encryption: random(KEYGEN_ENCRYPTION_BYTES), hmac: random(KEYGEN_HMAC_BYTES) };
}

/** The two lines `fwknop --key-gen` prints (padded base64, as fwknop writes them). */
export function formatKeyLines(keys: SpaKeys): string {
  return `KEY_BASE64 ${keys.encryption.toString('base64')}\nHMAC_KEY_BASE64 ${keys.hmac.toString('base64')}\n`;
}
