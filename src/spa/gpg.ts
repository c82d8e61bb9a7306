// The real gpg binary for SPA in GnuPG mode: encrypt+sign a packet, decrypt+verify one, and the
// key chores of `server init --gpg`. Command lines are data (pure builders, tested with toEqual) and
// run through the one runner (core/run.ts): argument arrays, no shell. Passphrases go to gpg on a
// pipe (fd 3, `--pinentry-mode loopback --passphrase-fd 3`) or stay with the user's gpg-agent;
// never argv, never a file.
//
// gpg's binary output would not survive the runner's text capture, so packets are made with
// --armor and the armor is taken off here (the same bytes: armor is only an encoding).

import { chmod, mkdir, lstat } from 'node:fs/promises';
import { KnockstickError } from '../core/errors.js';
import { run, runAllowingFailure, type ExternalCommand } from '../core/run.js';
import { gpgPlaintext, sealGpgMessage } from './gpg-packet.js';
import type { HashType } from './cipher.js';
import { cryptoRandomSource, requestFields, type RandomSource, type SpaFields, type SpaRequest } from './packet.js';

export const DEFAULT_GPG_EXE = 'gpg';

/** How to reach gpg and the keys, from the rc file or the command line. */
export interface GpgSettings {
  /** GPG_RECIPIENT: the server's key (fingerprint, key ID or user ID). */
  readonly recipient: string;
  /** GPG_SIGNER: the client's key. */
  readonly signer: string;
  /** GPG_HOMEDIR; undefined: gpg's own default (~/.gnupg, or $GNUPGHOME). */
  readonly homedir?: string | undefined;
  /** GPG_EXE; default "gpg" from PATH. */
  readonly exe?: string | undefined;
  /** USE_GPG_AGENT Y: the agent holds the passphrase (or asks for it with pinentry). */
  readonly agent?: boolean | undefined;
  /** GPG_NO_SIGNING_PW Y: the signing key has no passphrase. */
  readonly noSigningPassphrase?: boolean | undefined;
  /** GPG_SIGNING_PW(_BASE64): fed to gpg on fd 3. */
  readonly signingPassphrase?: Buffer | undefined;
  /** HMAC key (HMAC_KEY_BASE64 / HMAC_KEY); undefined: the packet carries no HMAC. */
  readonly hmac?: Buffer | undefined;
  /** HMAC_DIGEST_TYPE (default sha256). */
  readonly hmacType?: HashType | undefined;
  /** DIGEST_TYPE of the fields (default sha256). */
  readonly digest?: HashType | undefined;
}

function homeArgs(homedir: string | undefined): string[] {
  return homedir === undefined ? [] : ['--homedir', homedir];
}

/** The loopback-pinentry arguments and fd-3 bytes for a passphrase, or nothing (agent / no passphrase). */
function passphraseParts(passphrase: Buffer | undefined): { args: string[]; fd3?: Buffer } {
  if (passphrase === undefined) return { args: [] };
  return { args: ['--pinentry-mode', 'loopback', '--passphrase-fd', '3'], fd3: Buffer.concat([passphrase, Buffer.from('\n')]) };
}

/**
 * gpg --encrypt --sign of the SPA plaintext, as fwknop does it with gpgme. `--trust-model always`:
 * the recipient is the key named in the rc file (fwknop encrypts to it whatever its validity too).
 */
export function encryptSignCommand(plaintext: string, s: GpgSettings): ExternalCommand {
  const pass = passphraseParts(s.agent === true || s.noSigningPassphrase === true ? undefined : s.signingPassphrase);
  return {
    file: s.exe ?? DEFAULT_GPG_EXE,
    args: [
      ...homeArgs(s.homedir), '--batch', '--no-tty', '--quiet', '--trust-model', 'always', ...pass.args,
      '--armor', '--encrypt', '--sign', '--recipient', s.recipient, '--local-user', s.signer, '--output', '-',
    ],
    purpose: `encrypt the SPA packet to ${s.recipient} and sign it with ${s.signer} (gpg)`,
    stdin: Buffer.from(plaintext, 'latin1'),
    ...(pass.fd3 === undefined ? {} : { fd3: pass.fd3 }),
  };
}

/** The binary OpenPGP message inside ASCII armor (the CRC line is gpg's own check, not needed here). */
export function dearmor(text: string): Buffer {
  const lines = text.split(/\r?\n/);
  const begin = lines.findIndex((l) => l.startsWith('-----BEGIN PGP MESSAGE-----'));
  const end = lines.findIndex((l, i) => i > begin && l.startsWith('-----END PGP MESSAGE-----'));
  if (begin < 0 || end < 0) throw new Error('gpg printed no PGP MESSAGE block');
  let i = begin + 1;
  // Armor headers ("Version: ...", "Comment: ...") run until the first empty line.
  if (lines.slice(i, end).some((l) => l.trim() === '')) while (i < end && (lines[i] as string).trim() !== '') i++;
  const body = lines.slice(i, end).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('='));
  const joined = body.join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(joined)) throw new Error('the PGP MESSAGE block is not base64');
  return Buffer.from(joined, 'base64');
}

/** Runs gpg to encrypt and sign; the binary message. */
export async function gpgEncryptSign(plaintext: string, s: GpgSettings): Promise<Buffer> {
  const command = encryptSignCommand(plaintext, s);
  const result = await runAllowingFailure(command);
  if (result.exitCode !== 0) throw gpgFailure(command, result.stderr, result.exitCode);
  try {
    return dearmor(result.stdout);
  } catch (error) {
    throw new KnockstickError('IO', `cannot ${command.purpose}: ${(error as Error).message}`);
  }
}

/** gpg's failure, with a hint for the usual causes (missing key, passphrase, agent). */
export function gpgFailure(command: ExternalCommand, stderr: string, exitCode: number): KnockstickError {
  const home = command.args[0] === '--homedir' ? command.args[1] : undefined;
  const inKeyring = home === undefined ? 'in your keyring (gpg --list-keys)' : `in ${home} (gpg --homedir ${home} --list-keys)`;
  let hint = 'run the gpg command above by hand to see what it needs';
  if (/No public key|unusable public key|skipped: No public key/i.test(stderr)) hint = `the recipient's public key must be ${inKeyring}: import the server's key (gpg --import)`;
  else if (/No secret key|secret key not available|unusable secret key/i.test(stderr)) hint = `the signing key's secret part must be ${inKeyring}`;
  else if (/Bad passphrase|bad passphrase|No passphrase|Inappropriate ioctl|No pinentry|Operation cancelled/i.test(stderr)) {
    hint = 'the signing key needs its passphrase: GPG_SIGNING_PW_BASE64 in the rc file (it is piped to gpg, never on the command line), or USE_GPG_AGENT Y with a running gpg-agent that has it';
  }
  const lines = stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('[GNUPG:]')).slice(-3).join('\n  ');
  return new KnockstickError('IO', `cannot ${command.purpose}: gpg exited with status ${exitCode}${lines === '' ? '' : `:\n  ${lines}`}`, { hint });
}

/** gpg --decrypt of a packet's message, with machine-readable status lines on stderr. */
export function decryptCommand(message: Buffer, o: { homedir?: string | undefined; exe?: string | undefined; passphrase?: Buffer | undefined }): ExternalCommand {
  const pass = passphraseParts(o.passphrase);
  return {
    file: o.exe ?? DEFAULT_GPG_EXE,
    args: [...homeArgs(o.homedir), '--batch', '--no-tty', '--status-fd', '2', ...pass.args, '--decrypt'],
    purpose: 'decrypt the GnuPG SPA packet (gpg)',
    stdin: message,
    ...(pass.fd3 === undefined ? {} : { fd3: pass.fd3 }),
  };
}

export interface GpgDecryption {
  readonly plaintext: string;
  /** The signing key's fingerprint when gpg found a good signature (VALIDSIG). */
  readonly signerFingerprint?: string | undefined;
  /** The signing key's primary fingerprint (VALIDSIG's last field): what fwknopd matches. */
  readonly signerPrimaryFingerprint?: string | undefined;
  /** Whether a signature was there but did not check out (BADSIG / ERRSIG). */
  readonly badSignature: boolean;
  /** The key's validity in the keyring: fwknopd wants marginal or better (TRUST_MARGINAL/FULLY/ULTIMATE). */
  readonly trusted: boolean;
  /** The signer's key ID when its key is not in the keyring (NO_PUBKEY). */
  readonly unknownSigner?: string | undefined;
}

/** What gpg's status lines say about the signature. Pure. */
export function parseStatus(stderr: string): Omit<GpgDecryption, 'plaintext'> {
  let signerFingerprint: string | undefined;
  let signerPrimaryFingerprint: string | undefined;
  let badSignature = false;
  let trusted = false;
  let unknownSigner: string | undefined;
  for (const line of stderr.split('\n')) {
    const m = /^\[GNUPG:\] (\S+)(?: (.*))?$/.exec(line.trim());
    if (m === null) continue;
    const words = (m[2] ?? '').split(' ');
    if (m[1] === 'VALIDSIG') {
      signerFingerprint = words[0];
      signerPrimaryFingerprint = words[9] ?? words[0];
    } else if (m[1] === 'BADSIG' || m[1] === 'ERRSIG') badSignature = true;
    else if (m[1] === 'TRUST_MARGINAL' || m[1] === 'TRUST_FULLY' || m[1] === 'TRUST_ULTIMATE') trusted = true;
    else if (m[1] === 'NO_PUBKEY') unknownSigner = words[0];
  }
  return { signerFingerprint, signerPrimaryFingerprint, badSignature, trusted, ...(unknownSigner === undefined ? {} : { unknownSigner }) };
}

export async function gpgDecrypt(message: Buffer, o: { homedir?: string | undefined; exe?: string | undefined; passphrase?: Buffer | undefined }): Promise<GpgDecryption> {
  const command = decryptCommand(message, o);
  const result = await runAllowingFailure(command);
  if (result.exitCode !== 0 && !/\[GNUPG:\] DECRYPTION_OKAY/.test(result.stderr)) {
    const failure = gpgFailure(command, result.stderr, result.exitCode);
    const noKey = /NO_SECKEY|No secret key/.test(result.stderr);
    throw new KnockstickError('INVALID_FILE', failure.message, {
      hint: noKey ? `the keyring ${o.homedir ?? '(default)'} has no secret key for this packet's recipient: give the server's keyring (--gpg-home-dir)` : (failure.hint ?? ''),
    });
  }
  return { plaintext: result.stdout, ...parseStatus(result.stderr) };
}

/** Stops the gpg-agent (and any other gpg daemon) of a keyring: a stick cannot be unmounted while they run there. */
export async function stopAgent(homedir: string): Promise<void> {
  await runAllowingFailure({ file: 'gpgconf', args: ['--homedir', homedir, '--kill', 'all'], purpose: `stop the gpg daemons of ${homedir}` }).catch(() => undefined);
}

/** A GnuPG home directory that gpg will accept: a real directory (not a link), mode 0700. */
export async function ensureGpgHome(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => null);
  if (st === null) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    return;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) throw new KnockstickError('IO', `${dir} is not a directory (a link or a file is there); not using it as a GnuPG home`);
  if ((st.mode & 0o077) !== 0) throw new KnockstickError('INVALID_FILE', `${dir} is a GnuPG home readable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`, { hint: `chmod 700 ${dir}` });
}

/** A key in a keyring: its primary fingerprint and whether it can encrypt / sign. */
export interface KeyInfo {
  readonly fingerprint: string;
  readonly canEncrypt: boolean;
  readonly canSign: boolean;
  readonly secret: boolean;
  /** Unix seconds, or undefined for "never". */
  readonly expires?: number | undefined;
}

/** Parses `gpg --with-colons --list-(secret-)keys` (pub/sec lines, then their fpr). Pure. */
export function parseKeyList(text: string): KeyInfo[] {
  const keys: KeyInfo[] = [];
  let pending: { caps: string; secret: boolean; expires?: number } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub' || f[0] === 'sec') {
      pending = { caps: f[11] ?? '', secret: f[0] === 'sec', ...(f[6] ? { expires: Number(f[6]) } : {}) };
    } else if (f[0] === 'fpr' && pending !== undefined) {
      keys.push({ fingerprint: f[9] ?? '', canEncrypt: /E/.test(pending.caps), canSign: /S/.test(pending.caps), secret: pending.secret, expires: pending.expires });
      pending = undefined;
    }
  }
  return keys;
}

export async function listKeys(homedir: string, secret: boolean, id?: string): Promise<KeyInfo[]> {
  const result = await runAllowingFailure({
    file: DEFAULT_GPG_EXE,
    args: ['--homedir', homedir, '--batch', '--with-colons', '--fixed-list-mode', secret ? '--list-secret-keys' : '--list-keys', ...(id === undefined ? [] : [id])],
    purpose: `list the keys in ${homedir}`,
  });
  return result.exitCode === 0 ? parseKeyList(result.stdout) : [];
}

/** Key types `server init --gpg` can make: RSA (fwknop's own client can use it too) or Curve25519 (knockstick only). */
export type GpgKeyType = 'rsa' | 'ed25519';

/** New key with a sign/certify primary and an encryption subkey; passphrase on fd 3, or none. */
export function generateKeyCommands(
  homedir: string,
  userId: string,
  type: GpgKeyType,
  passphrase: Buffer | undefined,
  rsaBits: 2048 | 3072 | 4096 = 3072,
): { create: ExternalCommand; subkey: (fpr: string) => ExternalCommand } {
  const pass = passphrase === undefined ? { args: ['--pinentry-mode', 'loopback', '--passphrase', ''], fd3: undefined } : passphraseParts(passphrase);
  const [primary, sub] = type === 'rsa' ? [`rsa${rsaBits}`, `rsa${rsaBits}`] : ['ed25519', 'cv25519'];
  const base = (args: string[], purpose: string): ExternalCommand => ({
    file: DEFAULT_GPG_EXE,
    args: ['--homedir', homedir, '--batch', '--no-tty', ...pass.args, ...args],
    purpose,
    ...(pass.fd3 === undefined ? {} : { fd3: pass.fd3 }),
  });
  return {
    create: base(['--quick-generate-key', userId, primary, 'sign,cert', 'never'], `make the GnuPG key ${userId} in ${homedir}`),
    subkey: (fpr) => base(['--quick-add-key', fpr, sub, 'encr', 'never'], `add an encryption subkey to ${fpr}`),
  };
}

/** Makes a key; returns its primary fingerprint. */
export async function generateKey(homedir: string, userId: string, type: GpgKeyType, passphrase: Buffer | undefined, rsaBits?: 2048 | 3072 | 4096): Promise<string> {
  const before = new Set((await listKeys(homedir, true)).map((k) => k.fingerprint));
  const commands = generateKeyCommands(homedir, userId, type, passphrase, rsaBits);
  await run(commands.create);
  const made = (await listKeys(homedir, true)).find((k) => !before.has(k.fingerprint));
  if (made === undefined) throw new KnockstickError('IO', `gpg made no new key in ${homedir}`);
  await run(commands.subkey(made.fingerprint));
  return made.fingerprint;
}

/** The public key, armored (text: it goes through the runner and into the other keyring). */
export async function exportPublicKey(homedir: string, fingerprint: string): Promise<string> {
  const result = await run({ file: DEFAULT_GPG_EXE, args: ['--homedir', homedir, '--batch', '--armor', '--export', fingerprint], purpose: `export the public key ${fingerprint}` });
  if (!result.stdout.includes('BEGIN PGP PUBLIC KEY BLOCK')) throw new KnockstickError('IO', `${homedir} has no public key ${fingerprint}`);
  return `${result.stdout}\n`;
}

export async function importKey(homedir: string, armored: string): Promise<void> {
  await run({ file: DEFAULT_GPG_EXE, args: ['--homedir', homedir, '--batch', '--no-tty', '--import'], purpose: `import a public key into ${homedir}`, stdin: armored });
}

/**
 * Certifies `fingerprint` with a local signature by `signer`: fwknopd refuses a packet whose
 * signer's key is not at least marginally valid in its keyring (lib/gpgme_funcs.c: validity < 3).
 */
export function lsignCommand(homedir: string, signer: string, fingerprint: string, passphrase: Buffer | undefined): ExternalCommand {
  const pass = passphrase === undefined ? { args: ['--pinentry-mode', 'loopback', '--passphrase', ''], fd3: undefined } : passphraseParts(passphrase);
  return {
    file: DEFAULT_GPG_EXE,
    args: ['--homedir', homedir, '--batch', '--no-tty', ...pass.args, '--default-key', signer, '--quick-lsign-key', fingerprint],
    purpose: `certify ${fingerprint} with ${signer} in ${homedir}`,
    ...(pass.fd3 === undefined ? {} : { fd3: pass.fd3 }),
  };
}

/** Whether a gpg-agent already serves this keyring (then it is the user's, and stays). */
export async function agentRunning(homedir: string): Promise<boolean> {
  const result = await runAllowingFailure({ file: 'gpg-connect-agent', args: ['--homedir', homedir, '--no-autostart', '/bye'], purpose: `ask whether a gpg-agent serves ${homedir}` }).catch(() => undefined);
  return result?.exitCode === 0 && !/no gpg-agent running/i.test(result.stderr);
}

/**
 * The whole GnuPG client side: request → fields → gpg → wire string. An agent that gpg starts for
 * an explicit keyring (a stick's .gnupg) is stopped afterwards, so the stick can be unmounted; one
 * that was already running is left alone.
 */
export async function buildGpgSpaPacket(request: SpaRequest, s: GpgSettings, random: RandomSource = cryptoRandomSource): Promise<{ wire: string; fields: SpaFields }> {
  let fields: SpaFields;
  try {
    fields = requestFields(request, random);
  } catch (error) {
    throw new KnockstickError('INVALID_FILE', `cannot build the GnuPG SPA packet: ${(error as Error).message}`, { cause: error });
  }
  const stopAfter = s.homedir !== undefined && !(await agentRunning(s.homedir));
  try {
    const message = await gpgEncryptSign(gpgPlaintext(fields, s.digest), s);
    try {
      return { wire: sealGpgMessage(message, s.hmac, s.hmacType), fields };
    } catch (error) {
      throw new KnockstickError('INVALID_FILE', `cannot build the GnuPG SPA packet: ${(error as Error).message}`, { cause: error });
    }
  } finally {
    if (stopAfter && s.homedir !== undefined) await stopAgent(s.homedir);
  }
}
