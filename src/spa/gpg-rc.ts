// The GnuPG part of an fwknop rc stanza (client/config_init.c names), checked. Pure. Kept out of
// rc-file.ts so that file only hands over its lookups.
//
//   USE_GPG Y                  GnuPG mode
//   GPG_RECIPIENT  ID          the server's key        GPG_SIGNER  ID    the client's key
//   GPG_HOMEDIR    DIR         the keyring (default: gpg's own). Relative: from the rc file's
//                              directory (fwknop: from the current one), so a stick's
//                              .ssh/fwknoprc can say ../.gnupg wherever the stick is mounted
//   GPG_EXE        PATH        gpg binary (default gpg)
//   USE_GPG_AGENT Y            the agent holds the passphrase (or asks: pinentry)
//   GPG_SIGNING_PW(_BASE64)    the passphrase, piped to gpg on fd 3
//   GPG_NO_SIGNING_PW Y        the key has none
//   HMAC_KEY(_BASE64)          optional in GnuPG mode: with it the packet carries an HMAC
//                              (fwknopd then runs gpg only on authenticated packets)

import { dirname, isAbsolute, resolve } from 'node:path';
import { HASH_TYPES, decodeBase64, isHashType, type HashType } from './cipher.js';
import type { GpgSettings } from './gpg.js';
import type { RcEntry } from './rc-file.js';

export const GPG_VARIABLES = ['USE_GPG', 'USE_GPG_AGENT', 'GPG_RECIPIENT', 'GPG_SIGNER', 'GPG_HOMEDIR', 'GPG_EXE', 'GPG_SIGNING_PW', 'GPG_SIGNING_PW_BASE64', 'GPG_NO_SIGNING_PW'] as const;

/** A key named by fingerprint, key ID or user ID (an e-mail address): one word gpg takes as a key name, never an option. */
export function isKeyName(value: string): boolean {
  return /^[A-Za-z0-9@._+<>=-]{1,128}$/.test(value) && !value.startsWith('-');
}

export function resolveGpgSettings(
  get: (key: string) => RcEntry | undefined,
  yesNo: (key: string) => boolean | undefined,
  problem: (entry: RcEntry | undefined, message: string) => void,
  where: string,
  path: string,
): GpgSettings | undefined {
  let ok = true;
  const fail = (entry: RcEntry | undefined, message: string): void => {
    ok = false;
    problem(entry, message);
  };
  const keyName = (name: 'GPG_RECIPIENT' | 'GPG_SIGNER', what: string): string => {
    const e = get(name);
    if (e === undefined) fail(get('USE_GPG'), `${where} has USE_GPG Y but no ${name} (${what}: a fingerprint is best)`);
    else if (!isKeyName(e.value)) fail(e, `${name} must be a key fingerprint, key ID or e-mail address, got ${JSON.stringify(e.value)}`);
    return e?.value ?? '';
  };
  const recipient = keyName('GPG_RECIPIENT', "the server's key the packet is encrypted to");
  // fwknop can send unsigned GnuPG packets; fwknopd refuses them by default (GPG_REQUIRE_SIG Y), and
  // without a signature anyone with the server's public key could open the door.
  const signer = keyName('GPG_SIGNER', "the client's key that signs the packet");

  const homeEntry = get('GPG_HOMEDIR');
  const homedir = homeEntry === undefined ? undefined : isAbsolute(homeEntry.value) ? homeEntry.value : resolve(dirname(path), homeEntry.value);
  const exe = get('GPG_EXE');
  if (exe !== undefined && !isAbsolute(exe.value)) fail(exe, `GPG_EXE must be an absolute path, got ${JSON.stringify(exe.value)}`);

  const agent = yesNo('USE_GPG_AGENT') === true;
  const noPw = yesNo('GPG_NO_SIGNING_PW') === true;
  const pw = get('GPG_SIGNING_PW');
  const pw64 = get('GPG_SIGNING_PW_BASE64');
  let signingPassphrase: Buffer | undefined;
  if (pw !== undefined && pw64 !== undefined) fail(pw.line > pw64.line ? pw : pw64, 'both GPG_SIGNING_PW and GPG_SIGNING_PW_BASE64 are set; keep one');
  else if (pw64 !== undefined) {
    signingPassphrase = decodeBase64(pw64.value);
    if (signingPassphrase === undefined || signingPassphrase.length === 0) fail(pw64, 'GPG_SIGNING_PW_BASE64 is not base64 (the value is not shown)');
  } else if (pw !== undefined) signingPassphrase = Buffer.from(pw.value, 'utf8');
  const pwEntry = pw ?? pw64;
  if (pwEntry !== undefined && (agent || noPw)) fail(pwEntry, `${pwEntry === pw ? 'GPG_SIGNING_PW' : 'GPG_SIGNING_PW_BASE64'} with ${agent ? 'USE_GPG_AGENT Y' : 'GPG_NO_SIGNING_PW Y'}: say one way to unlock the signing key`);
  if (signingPassphrase !== undefined && signingPassphrase.includes(0x0a)) fail(pwEntry, 'the signing passphrase holds a newline, which gpg --passphrase-fd cannot take');

  // The HMAC key: optional here, but a USE_HMAC Y without a key is a mistake.
  const useHmac = yesNo('USE_HMAC');
  const h = get('HMAC_KEY');
  const h64 = get('HMAC_KEY_BASE64');
  let hmac: Buffer | undefined;
  if (h !== undefined && h64 !== undefined) fail(h.line > h64.line ? h : h64, 'both HMAC_KEY and HMAC_KEY_BASE64 are set; keep one');
  else if (h64 !== undefined) {
    hmac = decodeBase64(h64.value);
    if (hmac === undefined || hmac.length === 0 || hmac.length > 128) fail(h64, 'HMAC_KEY_BASE64 is not a base64 key of 1-128 bytes (the value is not shown)');
  } else if (h !== undefined) hmac = Buffer.from(h.value, 'utf8');
  if (useHmac === true && hmac === undefined) fail(get('USE_HMAC'), 'USE_HMAC Y but no HMAC_KEY_BASE64 (or HMAC_KEY) in GnuPG mode');
  if (useHmac === false) hmac = undefined;

  const hashOf = (key: 'DIGEST_TYPE' | 'HMAC_DIGEST_TYPE'): HashType | undefined => {
    const e = get(key);
    if (e === undefined) return undefined;
    const value = e.value.toLowerCase();
    if (isHashType(value)) return value;
    fail(e, `${key} ${e.value} is not one of fwknop's: ${Object.keys(HASH_TYPES).join(', ')}`);
    return undefined;
  };
  const digest = hashOf('DIGEST_TYPE');
  const hmacType = hashOf('HMAC_DIGEST_TYPE');

  if (!ok) return undefined;
  return {
    ...(digest === undefined ? {} : { digest }),
    ...(hmac === undefined || hmacType === undefined ? {} : { hmacType }),
    recipient,
    signer,
    ...(homedir === undefined ? {} : { homedir }),
    ...(exe === undefined ? {} : { exe: exe.value }),
    ...(agent ? { agent } : {}),
    ...(noPw ? { noSigningPassphrase: noPw } : {}),
    ...(signingPassphrase === undefined ? {} : { signingPassphrase }),
    ...(hmac === undefined ? {} : { hmac }),
  };
}
