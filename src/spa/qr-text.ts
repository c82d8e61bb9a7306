// The text of the QR code that carries SPA keys to a phone, in the form fwknop's own clients use.
//
// What they do (read in their sources, jp-bennett/Fwknop2 and jp-bennett/fwknop-gui):
// - fwknop-gui makes such a code (qr_export.cpp): "KEY_BASE64:" or "KEY:" then the key, then, if
//   there is an HMAC key, " HMAC_KEY_BASE64:" or " HMAC_KEY:" and that key; libqrencode with error
//   correction level Q, 8-bit (byte) mode, case-sensitive. fwknop-gui imports no QR code itself.
// - Fwknop2 (Android, "Capture qr", ConfigDetailFragment.onActivityResult) splits the scanned text
//   with Java's split(" ") (every single space), splits each piece with split(":") and takes the
//   part between the first and second colon as the value of a case-insensitive name: KEY_BASE64,
//   KEY, HMAC_KEY_BASE64 or HMAC_KEY (anything else is ignored). So a key holding a space or a colon
//   is cut short there, and an empty value crashes it (index 1 of a one-piece split).
// - Both check a base64 key only when the config is saved (Fwknop2 Config.validateConfig,
//   fwknop-gui Config::validateConfig): length a multiple of 4, and the characters
//   ^[A-Za-z0-9+/]+={0,2}$ (fwknop-gui allows ={0,3}; Fwknop2's stricter pattern is the one here).
//
// So we emit exactly fwknop-gui's text, and refuse every key those two steps would mangle or reject,
// naming the file and line it came from: a phone that stores a cut-short key fails silently at the
// door, far from here. The HMAC part is required here (knockstick never sends without HMAC).

import { InvalidFileError, type FileProblem } from '../core/errors.js';

export type QrKeyName = 'KEY' | 'KEY_BASE64' | 'HMAC_KEY' | 'HMAC_KEY_BASE64';

/** One key as written in a file: the variable it was set with, its text, where. */
export interface QrKeySource {
  readonly name: QrKeyName;
  /** The key as written (base64 text for the _BASE64 names, the passphrase itself otherwise). */
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

/** Fwknop2's pattern for a base64 key (Config.validateConfig). */
const FWKNOP2_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Why this key cannot travel in the QR code, or undefined. Never shows the key. */
export function qrKeyProblem(key: QrKeySource): string | undefined {
  const { name, value } = key;
  if (value === '') return `${name} is empty`;
  if (name.endsWith('_BASE64')) {
    if (!FWKNOP2_BASE64.test(value)) return `${name} holds characters other than A-Z a-z 0-9 + / and a final "=" or "==", which Fwknop2 refuses as base64 (the value is not shown)`;
    if (value.length % 4 !== 0) {
      const pad = value.length % 4 === 1 ? '' : ` (if it is unpadded base64, adding "${'='.repeat(4 - (value.length % 4))}" at its end keeps the same key)`;
      return `${name} is ${value.length} characters long, not a multiple of 4: Fwknop2 and fwknop-gui refuse such a base64 key${pad}`;
    }
    return undefined;
  }
  // Plain keys: Fwknop2 splits the scanned text at spaces and colons; non-ASCII bytes may be read
  // in another charset by the phone's scanner, and control characters cannot be typed to check.
  if (/[ :]/.test(value)) return `${name} contains a ${value.includes(' ') ? 'space' : 'colon'}, where Fwknop2 cuts the scanned text: the phone would store a shorter key (use a KEY_BASE64 key: \`knockstick spa keygen\`)`;
  if (!/^[\x21-\x7e]+$/.test(value)) return `${name} has characters outside printable ASCII, which a phone's scanner may read in another charset (use a KEY_BASE64 key: \`knockstick spa keygen\`)`;
  return undefined;
}

/** The QR text "KEY_BASE64:<key> HMAC_KEY_BASE64:<hmac>" (or KEY:/HMAC_KEY:), checked. */
export function qrKeyText(encryption: QrKeySource, hmac: QrKeySource): string {
  if (encryption.name.startsWith('HMAC') || !hmac.name.startsWith('HMAC')) throw new Error('qrKeyText: the encryption key first, then the HMAC key');
  const problems: FileProblem[] = [];
  for (const key of [encryption, hmac]) {
    const problem = qrKeyProblem(key);
    if (problem !== undefined) problems.push({ file: key.file, line: key.line, message: problem });
  }
  if (problems.length > 0) throw new InvalidFileError(problems, 'fix the key in the file on both sides (client and server), or type it into the phone by hand; no QR code was shown');
  const text = `${encryption.name}:${encryption.value} ${hmac.name}:${hmac.value}`;
  // What the phone will store must be what the files hold (the checks above make it so).
  const back = parseLikeFwknop2(text);
  if (back.key !== encryption.value || back.hmac !== hmac.value) throw new Error('qrKeyText: Fwknop2 would read other keys from this text');
  return text;
}

/**
 * The keys read back from a scanned text the way Fwknop2 does (see above): for tests, and to check
 * our own text before it is shown. Later names override earlier ones, as in Fwknop2's loop.
 */
export function parseLikeFwknop2(contents: string): { key?: string; keyBase64?: boolean; hmac?: string; hmacBase64?: boolean } {
  const out: { key?: string; keyBase64?: boolean; hmac?: string; hmacBase64?: boolean } = {};
  // Java's split drops trailing empty strings: "KEY:" has no value (Fwknop2 would throw on it).
  for (const piece of contents.split(' ')) {
    const parts = piece.split(':');
    const name = (parts[0] ?? '').toUpperCase();
    const value = parts[1];
    if (value === undefined || value === '') continue;
    if (name === 'KEY_BASE64' || name === 'KEY') Object.assign(out, { key: value, keyBase64: name === 'KEY_BASE64' });
    else if (name === 'HMAC_KEY_BASE64' || name === 'HMAC_KEY') Object.assign(out, { hmac: value, hmacBase64: name === 'HMAC_KEY_BASE64' });
  }
  return out;
}
