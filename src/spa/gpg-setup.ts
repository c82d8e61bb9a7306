// The two keyrings of GnuPG SPA, made with the real gpg: the server's (its key, decrypting; the
// client's public key, certified so fwknopd takes its signatures) and the client's (its key,
// signing; the server's public key). Used by `server init --method spa --gpg` and the lab tests.
//
// fwknopd 2.6 drives gpg through gpgme without a loopback pinentry, so with gpg 2.2 a passphrase in
// GPG_DECRYPT_PW fails ("Inappropriate ioctl for device") unless the server keyring's gpg.conf says
// `pinentry-mode loopback`: then gpg asks gpgme, which answers with GPG_DECRYPT_PW (measured with
// fwknopd 2.6.10 and gpg 2.2.40). That line is written here.

import { join } from 'node:path';
import { KnockstickError } from '../core/errors.js';
import { readTextIfExists, writeAtomically } from '../core/files.js';
import { run } from '../core/run.js';
import { ensureGpgHome, exportPublicKey, generateKey, importKey, listKeys, lsignCommand, stopAgent, type GpgKeyType } from './gpg.js';

export interface GpgPairOptions {
  readonly serverHome: string;
  readonly clientHome: string;
  readonly type: GpgKeyType;
  readonly serverUserId: string;
  readonly clientUserId: string;
  /** The server key's passphrase (GPG_DECRYPT_PW); undefined: none (GPG_ALLOW_NO_PW Y). */
  readonly serverPassphrase?: Buffer | undefined;
  /** The client key's passphrase (GPG_SIGNING_PW); undefined: none (GPG_NO_SIGNING_PW Y). */
  readonly clientPassphrase?: Buffer | undefined;
  /** Use this existing key in serverHome instead of making one. */
  readonly serverKey?: string | undefined;
  /** RSA key size (default 3072; tests use 2048 to stay quick). */
  readonly rsaBits?: 2048 | 3072 | 4096 | undefined;
}

export interface GpgPair {
  readonly serverFingerprint: string;
  readonly clientFingerprint: string;
}

const LOOPBACK_LINE = 'pinentry-mode loopback';

/** Adds `pinentry-mode loopback` to the keyring's gpg.conf (kept if there). */
export async function allowLoopbackPinentry(home: string): Promise<void> {
  const path = join(home, 'gpg.conf');
  const text = (await readTextIfExists(path)) ?? '';
  if (text.split('\n').some((l) => l.trim() === LOOPBACK_LINE)) return;
  await writeAtomically(path, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}# fwknopd's gpgme answers the passphrase prompt with GPG_DECRYPT_PW (knockstick)\n${LOOPBACK_LINE}\n`);
}

/** The existing key the server should use: one secret key that can encrypt. */
async function existingServerKey(home: string, id: string): Promise<string> {
  const keys = (await listKeys(home, true, id)).filter((k) => k.canEncrypt);
  if (keys.length !== 1) {
    throw new KnockstickError('USAGE', `${home} has ${keys.length === 0 ? 'no' : 'more than one'} secret key "${id}" that can encrypt`, {
      hint: `list them with gpg --homedir ${home} --list-secret-keys; name one by its fingerprint`,
    });
  }
  return (keys[0] as { fingerprint: string }).fingerprint;
}

/** Makes (or takes) the server key, makes the client key, and crosses the public keys over. */
export async function makeGpgPair(o: GpgPairOptions): Promise<GpgPair> {
  await ensureGpgHome(o.serverHome);
  let serverFingerprint: string;
  try {
    serverFingerprint = o.serverKey === undefined ? await generateKey(o.serverHome, o.serverUserId, o.type, o.serverPassphrase, o.rsaBits) : await existingServerKey(o.serverHome, o.serverKey);
    if (o.serverPassphrase !== undefined) await allowLoopbackPinentry(o.serverHome);
  } finally {
    await stopAgent(o.serverHome);
  }
  const clientFingerprint = await addGpgClient({ ...o, serverFingerprint });
  return { serverFingerprint, clientFingerprint };
}

/**
 * One more client for a server key: a new key in clientHome, the server's public key beside it, and
 * the client's public key in the server keyring, certified by the server key. Returns its fingerprint.
 */
export async function addGpgClient(o: Omit<GpgPairOptions, 'serverUserId' | 'serverKey'> & { serverFingerprint: string }): Promise<string> {
  await ensureGpgHome(o.clientHome);
  try {
    const clientFingerprint = await generateKey(o.clientHome, o.clientUserId, o.type, o.clientPassphrase, o.rsaBits);
    await importKey(o.clientHome, await exportPublicKey(o.serverHome, o.serverFingerprint));
    await importKey(o.serverHome, await exportPublicKey(o.clientHome, clientFingerprint));
    // fwknopd wants the signer's key valid (marginal or better) in its keyring: a local certification.
    await run(lsignCommand(o.serverHome, o.serverFingerprint, clientFingerprint, o.serverPassphrase));
    return clientFingerprint;
  } finally {
    await stopAgent(o.serverHome);
    await stopAgent(o.clientHome);
  }
}

/** access.conf lines for a GnuPG stanza. fwknopd matches GPG_REMOTE_ID against the last 8 hex digits, GPG_FINGERPRINT_ID against the whole. */
export function gpgAccessLines(o: { home: string; serverFingerprint: string; clientFingerprint: string; serverPassphrase?: string | undefined }): string[] {
  return [
    `GPG_HOME_DIR            ${o.home}`,
    `GPG_DECRYPT_ID          ${o.serverFingerprint}`,
    o.serverPassphrase === undefined ? 'GPG_ALLOW_NO_PW         Y' : `GPG_DECRYPT_PW          ${o.serverPassphrase}`,
    'GPG_REQUIRE_SIG         Y',
    `GPG_REMOTE_ID           ${/^[0-9A-F]{40}$/i.test(o.clientFingerprint) ? o.clientFingerprint.slice(-8) : '(its-last-8-digits)'}`,
    `GPG_FINGERPRINT_ID      ${o.clientFingerprint}`,
  ];
}
