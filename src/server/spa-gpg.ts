// server init --method spa --gpg: GnuPG keys instead of a shared Rijndael key. The server keyring
// (default /etc/fwknop/gnupg, 0700) gets a new key with a random passphrase, which goes into
// access.conf as GPG_DECRYPT_PW (0600, as fwknopd needs it: the seeds' warning "the password must be
// stored in access.conf" is why this key is made for fwknopd alone); the client keyring (the stick's
// .gnupg, 0700) gets a new key without passphrase (the stick is the encrypted volume, as for the
// KEY_BASE64 it holds otherwise). Each side gets the other's public key; the server certifies the
// client's (fwknopd refuses signatures by keys it does not consider valid). The packets still carry
// an HMAC: fwknopd then runs gpg only on packets made with the stick's HMAC key.

import { clientAllowIp, clientExtras, type ClientStanzaOptions } from './spa-setups.js';
import { randomBytes } from 'node:crypto';
import { formatStanza } from '../spa/rc-file.js';
import { gpgAccessLines, makeGpgPair } from '../spa/gpg-setup.js';
import type { GpgKeyType } from '../spa/gpg.js';
import { readPassphraseFile } from '../core/secrets.js';
import { takeExistingServerKey } from './spa-gpg-existing.js';

export const GPG_SYSTEM_HOME = '/etc/fwknop/gnupg';
/** The client keyring's name beside the client rc file when there is no stick (copied to STICK/.gnupg). */
export const GPG_CLIENT_HOME_NAME = 'gnupg.client';
/** GPG_HOMEDIR in the stick's .ssh/fwknoprc: relative to that file, so wherever the stick is mounted. */
export const STICK_GPG_HOMEDIR = '../.gnupg';

export interface SpaGpgOptions {
  readonly serverHome: string;
  readonly clientHome: string;
  readonly keyType: GpgKeyType;
  /** --gpg-server-key / --gpg-import / --gpg-passphrase-file: fwknopd's existing key (spa-gpg-existing.ts). */
  readonly existing?: { readonly id?: string | undefined; readonly importFile?: string | undefined; readonly passphraseFile?: string | undefined } | undefined;
}

export interface SpaGpgKeys {
  readonly serverFingerprint: string;
  readonly clientFingerprint: string;
  /** GPG_DECRYPT_PW (new keys: base64 of 24 random bytes, no character access.conf would misread); undefined: an existing key without one (GPG_ALLOW_NO_PW). */
  readonly serverPassphrase?: string | undefined;
}

/** What --dry-run shows in place of keys that are not made. */
export const PLACEHOLDER_KEYS: SpaGpgKeys = { serverFingerprint: '(new-server-key-fingerprint)', clientFingerprint: '(new-client-key-fingerprint)', serverPassphrase: '(new passphrase, not shown)' };

/** The placeholders for --dry-run, naming the existing server key when there is one. */
export function placeholderKeys(o: Pick<SpaGpgOptions, 'existing'>): SpaGpgKeys {
  const e = o.existing;
  if (e === undefined) return PLACEHOLDER_KEYS;
  return {
    ...PLACEHOLDER_KEYS,
    serverFingerprint: e.id ?? `(the-key-in-${e.importFile ?? ''})`,
    serverPassphrase: e.passphraseFile === undefined ? undefined : '(the passphrase given, not shown)',
  };
}

/** Makes both keys and crosses them over (real gpg). */
export async function makeSpaGpgKeys(o: SpaGpgOptions, spaServer: string): Promise<SpaGpgKeys> {
  if (o.existing !== undefined) {
    const e = o.existing;
    const passphrase = e.passphraseFile === undefined ? undefined : await readPassphraseFile(e.passphraseFile, 'passphrase of the server key');
    const serverKey = await takeExistingServerKey({ serverHome: o.serverHome, id: e.id, importFile: e.importFile, passphrase });
    const pair = await makeGpgPair({
      serverHome: o.serverHome,
      clientHome: o.clientHome,
      type: o.keyType,
      serverUserId: '',
      clientUserId: `knockstick stick for ${spaServer}`,
      serverPassphrase: passphrase,
      serverKey,
    });
    return { ...pair, serverPassphrase: passphrase?.toString('utf8') };
  }
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
export function gpgClientStanza(o: { spaServer: string; sshPort: number; hmac: Buffer } & ClientStanzaOptions, keys: SpaGpgKeys, name = 'home'): string {
  return formatStanza(name, [
    ['SPA_SERVER', o.spaServer],
    ...clientExtras(o),
    ['ACCESS', `tcp/${o.sshPort}`],
    ['ALLOW_IP', clientAllowIp(o)],
    ['USE_GPG', 'Y'],
    ['GPG_RECIPIENT', keys.serverFingerprint],
    ['GPG_SIGNER', keys.clientFingerprint],
    ['GPG_HOMEDIR', STICK_GPG_HOMEDIR],
    ['GPG_NO_SIGNING_PW', 'Y'],
    ['HMAC_KEY_BASE64', o.hmac.toString('base64')],
    ['USE_HMAC', 'Y'],
  ]);
}
