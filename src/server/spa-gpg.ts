// server init --method spa --gpg: GnuPG keys instead of a shared Rijndael key. The server keyring
// (default /etc/fwknop/gnupg, 0700) gets a new key with a random passphrase, which goes into
// access.conf as GPG_DECRYPT_PW (0600, as fwknopd needs it: the seeds' warning "the password must be
// stored in access.conf" is why this key is made for fwknopd alone); the client keyring (the stick's
// .gnupg, 0700) gets a new key without passphrase (the stick is the encrypted volume, as for the
// KEY_BASE64 it holds otherwise). Each side gets the other's public key; the server certifies the
// client's (fwknopd refuses signatures by keys it does not consider valid). The packets still carry
// an HMAC: fwknopd then runs gpg only on packets made with the stick's HMAC key.

import { randomBytes } from 'node:crypto';
import { formatStanza } from '../spa/rc-file.js';
import { gpgAccessLines, makeGpgPair } from '../spa/gpg-setup.js';
import type { GpgKeyType } from '../spa/gpg.js';

export const GPG_SYSTEM_HOME = '/etc/fwknop/gnupg';
/** The client keyring's name beside the client rc file when there is no stick (copied to STICK/.gnupg). */
export const GPG_CLIENT_HOME_NAME = 'gnupg.client';
/** GPG_HOMEDIR in the stick's .ssh/fwknoprc: relative to that file, so wherever the stick is mounted. */
export const STICK_GPG_HOMEDIR = '../.gnupg';

export interface SpaGpgOptions {
  readonly serverHome: string;
  readonly clientHome: string;
  readonly keyType: GpgKeyType;
}

export interface SpaGpgKeys {
  readonly serverFingerprint: string;
  readonly clientFingerprint: string;
  /** GPG_DECRYPT_PW (base64 of 24 random bytes: no character access.conf would misread). */
  readonly serverPassphrase: string;
}

/** What --dry-run shows in place of keys that are not made. */
export const PLACEHOLDER_KEYS: SpaGpgKeys = { serverFingerprint: '(new-server-key-fingerprint)', clientFingerprint: '(new-client-key-fingerprint)', serverPassphrase: '(new passphrase, not shown)' };

/** Makes both keys and crosses them over (real gpg). */
export async function makeSpaGpgKeys(o: SpaGpgOptions, spaServer: string): Promise<SpaGpgKeys> {
  const serverPassphrase = randomBytes(24).toString('base64');
  const pair = await makeGpgPair({
    serverHome: o.serverHome,
    clientHome: o.clientHome,
    type: o.keyType,
    serverUserId: `fwknopd ${spaServer} (knockstick)`,
    clientUserId: `knockstick stick for ${spaServer}`,
    serverPassphrase: Buffer.from(serverPassphrase),
  });
  return { ...pair, serverPassphrase };
}

/** The access.conf lines that replace KEY_BASE64 in GnuPG mode. */
export function gpgEncryptionLines(home: string, keys: SpaGpgKeys): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(home)) throw new Error(`the GnuPG home ${JSON.stringify(home)} cannot go into access.conf`);
  return gpgAccessLines({ home, ...keys }).join('\n');
}

/** The client's GnuPG stanza for STICK/.ssh/fwknoprc. */
export function gpgClientStanza(o: { spaServer: string; sshPort: number; hmac: Buffer }, keys: SpaGpgKeys, name = 'home'): string {
  return formatStanza(name, [
    ['SPA_SERVER', o.spaServer],
    ['ACCESS', `tcp/${o.sshPort}`],
    ['ALLOW_IP', 'source'],
    ['USE_GPG', 'Y'],
    ['GPG_RECIPIENT', keys.serverFingerprint],
    ['GPG_SIGNER', keys.clientFingerprint],
    ['GPG_HOMEDIR', STICK_GPG_HOMEDIR],
    ['GPG_NO_SIGNING_PW', 'Y'],
    ['HMAC_KEY_BASE64', o.hmac.toString('base64')],
    ['USE_HMAC', 'Y'],
  ]);
}
