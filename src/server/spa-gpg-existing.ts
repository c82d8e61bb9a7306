// server init --gpg --gpg-server-key ID / --gpg-import FILE: fwknopd's key is one that exists
// already (in the server keyring, or an armored secret key imported into it) instead of a new one.
// Everything is checked before the keyring changes: the key is there once, neither revoked nor
// expired, has an encryption subkey with its secret part, and the passphrase given (on a pipe or in
// a file, never argv) opens it. fwknopd needs that passphrase in access.conf (GPG_DECRYPT_PW), so it
// must survive access.conf's reading: fwknopd takes a value up to the first ";" or line end.

import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnockstickError } from '../core/errors.js';
import { readTextIfExists } from '../core/files.js';
import { run, runAllowingFailure, type ExternalCommand } from '../core/run.js';
import { DEFAULT_GPG_EXE, ensureGpgHome, importKey, stopAgent } from '../spa/gpg.js';
import { findKeys, keyProblem, parseColonListing, type ColonKey } from '../spa/gpg-colons.js';

export interface ExistingKeyOptions {
  readonly serverHome: string;
  /** --gpg-server-key: the key's fingerprint, key ID or user ID. */
  readonly id?: string | undefined;
  /** --gpg-import: an armored secret key to import first. */
  readonly importFile?: string | undefined;
  /** --gpg-passphrase-file's bytes; undefined: the key has none. */
  readonly passphrase?: Buffer | undefined;
}

const listArgs = (home: string): string[] => ['--homedir', home, '--batch', '--with-colons', '--fixed-list-mode'];

/** Why a passphrase cannot stand in access.conf as GPG_DECRYPT_PW, or undefined. Pure. */
export function accessConfPassphraseProblem(p: Buffer): string | undefined {
  const s = p.toString('latin1');
  if (/[\x00-\x1f\x7f]/.test(s)) return 'it holds a control character';
  if (s.includes(';')) return 'it holds ";", where fwknopd ends an access.conf value';
  if (/^\s|\s$/.test(s)) return 'it starts or ends with a space, which fwknopd drops from access.conf';
  if (p.toString('utf8').includes('\ufffd')) return 'it is not UTF-8 text';
  return undefined;
}

/** Test-signs with the primary key ("FPR!"): the same secret part certifies the client's key. */
export function unlockCommand(home: string, fingerprint: string, passphrase: Buffer | undefined): ExternalCommand {
  return {
    file: DEFAULT_GPG_EXE,
    args: ['--homedir', home, '--batch', '--no-tty', '--quiet', '--pinentry-mode', 'loopback', ...(passphrase === undefined ? ['--passphrase', ''] : ['--passphrase-fd', '3']), '--local-user', `${fingerprint}!`, '--sign', '--output', '-'],
    purpose: `check that the key ${fingerprint} opens with the passphrase given`,
    stdin: 'knockstick',
    ...(passphrase === undefined ? {} : { fd3: Buffer.concat([passphrase, Buffer.from('\n')]) }),
  };
}

function refuse(message: string, hint: string): KnockstickError {
  return new KnockstickError('USAGE', message, { hint });
}

/** The one key of the file (or the one --gpg-server-key names there), judged before the import. */
async function judgeImportFile(file: string, id: string | undefined, now: number): Promise<string> {
  const text = await readTextIfExists(file);
  if (text === null) throw refuse(`${file} does not exist`, 'give an armored secret key: gpg --armor --export-secret-keys FPR > key.asc');
  const line = text.split('\n').findIndex((l) => l.startsWith('-----BEGIN PGP PRIVATE KEY BLOCK-----'));
  if (line < 0) throw refuse(`${file}:1: not an armored secret key (no "-----BEGIN PGP PRIVATE KEY BLOCK-----" line)`, 'export it with gpg --armor --export-secret-keys FPR');
  // --show-keys reads the file without importing; its own throwaway home keeps ~/.gnupg untouched.
  const scratch = await mkdtemp(join(tmpdir(), 'knockstick-gpg-'));
  try {
    const result = await runAllowingFailure({ file: DEFAULT_GPG_EXE, args: [...listArgs(scratch), '--show-keys'], purpose: `read the keys in ${file}`, stdin: text });
    const keys = parseColonListing(result.stdout);
    if (result.exitCode !== 0 || keys.length === 0) throw refuse(`${file}:${line + 1}: gpg finds no key in this block`, 'export it again with gpg --armor --export-secret-keys FPR');
    if (id === undefined && keys.length > 1) throw refuse(`${file} holds ${keys.length} keys (${keys.map((k) => k.fingerprint).join(', ')})`, 'name the one for fwknopd with --gpg-server-key FPR');
    const chosen = id ?? (keys[0] as ColonKey).fingerprint;
    const problem = keyProblem(keys, chosen, now, { encrypt: true });
    if (problem !== undefined) throw refuse(`${file}: ${problem}`, 'fwknopd needs a key that is neither revoked nor expired, with an encryption subkey');
    return (findKeys(keys, chosen)[0] as ColonKey).fingerprint;
  } finally {
    await stopAgent(scratch);
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Checks (and with importFile imports) the existing server key; returns its fingerprint. The
 * keyring is left as it was on every refusal before the import.
 */
export async function takeExistingServerKey(o: ExistingKeyOptions, now = Math.floor(Date.now() / 1000)): Promise<string> {
  if (o.passphrase !== undefined) {
    const why = accessConfPassphraseProblem(o.passphrase);
    if (why !== undefined) throw refuse(`the passphrase given with --gpg-passphrase-file cannot go into access.conf (GPG_DECRYPT_PW): ${why}`, 'give the key a passphrase without it (gpg --change-passphrase), or none');
  }
  let id = o.id;
  if (o.importFile !== undefined) id = await judgeImportFile(o.importFile, o.id, now);
  if (id === undefined) throw new Error('takeExistingServerKey needs an id or a file');
  if (o.importFile === undefined && (await lstat(o.serverHome).catch(() => null)) === null) {
    throw refuse(`${o.serverHome} does not exist: no keyring to take the key "${id}" from`, 'name fwknopd\'s keyring with --gpg-home-dir DIR (default /etc/fwknop/gnupg; with --out: OUT/gnupg), or import the key with --gpg-import FILE');
  }
  await ensureGpgHome(o.serverHome);
  try {
    if (o.importFile !== undefined) await importKey(o.serverHome, (await readTextIfExists(o.importFile)) ?? '');
    const listed = await runAllowingFailure({ file: DEFAULT_GPG_EXE, args: [...listArgs(o.serverHome), '--list-secret-keys'], purpose: `list the secret keys in ${o.serverHome}` });
    const keys = parseColonListing(listed.stdout);
    const problem = keyProblem(keys, id, now, { encrypt: true, secret: true });
    if (problem !== undefined) {
      throw refuse(`${o.serverHome}: ${problem}`, `list its keys with gpg --homedir ${o.serverHome} --list-secret-keys; fwknopd needs one that is neither revoked nor expired, with an encryption subkey and its secret part`);
    }
    const fingerprint = (findKeys(keys, id)[0] as ColonKey).fingerprint;
    const unlocked = await runAllowingFailure(unlockCommand(o.serverHome, fingerprint, o.passphrase));
    if (unlocked.exitCode !== 0) {
      throw refuse(
        o.passphrase === undefined ? `the key ${fingerprint} has a passphrase` : `the passphrase given does not open the key ${fingerprint}`,
        o.passphrase === undefined ? 'give it with --gpg-passphrase-file FILE (or - for stdin): it goes into access.conf as GPG_DECRYPT_PW, as fwknopd needs it' : 'check the file given with --gpg-passphrase-file (one line, the passphrase only)',
      );
    }
    // A key gpg made itself is trusted ultimately in its keyring; an imported one is not, and then its
    // certification of the client's key (gpg-setup.ts) leaves that key unknown: fwknopd would refuse it.
    await run({ file: DEFAULT_GPG_EXE, args: ['--homedir', o.serverHome, '--batch', '--no-tty', '--quiet', '--import-ownertrust'], purpose: `trust fwknopd's own key ${fingerprint} in ${o.serverHome}`, stdin: `${fingerprint}:6:\n` });
    return fingerprint;
  } finally {
    await stopAgent(o.serverHome);
  }
}
