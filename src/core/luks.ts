// cryptsetup, the only way we touch LUKS. Passphrases go to cryptsetup on stdin (`--key-file -`,
// which reads to EOF: exactly the bytes given, no newline added) or, on a terminal, are typed into
// cryptsetup itself. Never in argv, never in a message.

import { execa, type Result } from 'execa';
import { KnockstickError } from './errors.js';

/** Where cryptsetup gets the passphrase: these bytes on stdin, or the user types it at cryptsetup's prompt. */
export type PassphraseSource = { readonly kind: 'bytes'; readonly bytes: Buffer } | { readonly kind: 'terminal' };

export interface FormatOptions {
  /**
   * For tests only: a weak, fast key derivation (pbkdf2, 1000 iterations) instead of cryptsetup's
   * default argon2id, which takes ~10 s on a laptop and ~17 s in the test VM.
   */
  readonly weakPbkdfForTests?: boolean;
  readonly label?: string;
}

// cryptsetup's exit codes (man cryptsetup, "RETURN CODES").
const WRONG_PASSPHRASE = 2;
const WRONG_DEVICE = 4;
const BUSY = 5;

function keyArgs(source: PassphraseSource): string[] {
  return source.kind === 'bytes' ? ['--key-file', '-'] : [];
}

async function cryptsetup(args: readonly string[], source: PassphraseSource | undefined): Promise<Result> {
  try {
    return await execa('cryptsetup', args, {
      reject: false,
      ...(source?.kind === 'bytes' ? { input: source.bytes } : source?.kind === 'terminal' ? { stdin: 'inherit', stderr: 'inherit' } : { stdin: 'ignore' }),
    });
  } catch (error) {
    throw missingCryptsetup(error);
  }
}

function missingCryptsetup(error: unknown): KnockstickError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new KnockstickError('IO', 'cryptsetup is not installed', { hint: 'install it (Debian/Ubuntu: apt install cryptsetup-bin; Fedora: dnf install cryptsetup)', cause: error });
  }
  return new KnockstickError('IO', `cannot run cryptsetup: ${(error as Error).message}`, { cause: error });
}

function stderrOf(result: Result): string {
  return typeof result.stderr === 'string' ? result.stderr.trim() : '';
}

function failure(action: string, device: string, result: Result): KnockstickError {
  if (result.failed && result.exitCode === undefined) return missingCryptsetup(result.cause ?? result);
  const detail = stderrOf(result);
  const said = detail === '' ? `exit ${result.exitCode}` : detail.split('\n').at(-1) ?? detail;
  if (/device-mapper|dm_mod|dm-crypt/i.test(detail) && /initiali[sz]e/i.test(detail)) {
    return new KnockstickError('IO', `cannot ${action} ${device}: this kernel has no device-mapper (cryptsetup: ${said})`, {
      hint: 'load it with `modprobe dm_crypt`; inside some containers and VMs it is not available at all',
    });
  }
  if (result.exitCode === WRONG_PASSPHRASE) {
    return new KnockstickError('WRONG_PASSPHRASE', `wrong passphrase for ${device}: no LUKS key slot opened with it`, { hint: 'try again; the stick is unchanged' });
  }
  if (result.exitCode === WRONG_DEVICE) {
    return new KnockstickError('IO', `cannot ${action} ${device}: no such device, or not a LUKS volume (cryptsetup: ${said})`, { hint: 'is the stick plugged in? `lsblk` lists the disks' });
  }
  if (result.exitCode === BUSY) {
    return new KnockstickError('BUSY', `cannot ${action} ${device}: it is in use or already open (cryptsetup: ${said})`, { hint: '`lsblk` shows what holds it; `secureoff` closes the stick' });
  }
  return new KnockstickError('IO', `cannot ${action} ${device}: cryptsetup: ${said}`);
}

/** Writes a new LUKS2 header on `device` (destroys what was there). */
export async function luksFormat(device: string, passphrase: Buffer, options: FormatOptions = {}): Promise<void> {
  const args = ['luksFormat', '--batch-mode', '--type', 'luks2'];
  if (options.weakPbkdfForTests === true) args.push('--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000');
  if (options.label !== undefined) args.push('--label', options.label);
  const result = await cryptsetup([...args, '--key-file', '-', device], { kind: 'bytes', bytes: passphrase });
  if (result.exitCode !== 0) throw failure('format', device, result);
}

/** Opens `device` as /dev/mapper/NAME. */
export async function luksOpen(device: string, name: string, source: PassphraseSource): Promise<void> {
  const args = ['open', '--type', 'luks', ...keyArgs(source)];
  if (source.kind === 'terminal') args.push('--tries', '3');
  const result = await cryptsetup([...args, device, name], source);
  if (result.exitCode !== 0) throw failure('open', device, result);
}

export async function luksClose(name: string): Promise<void> {
  const result = await cryptsetup(['close', name], undefined);
  if (result.exitCode !== 0) throw failure('close', `/dev/mapper/${name}`, result);
}

export async function isLuks(device: string): Promise<boolean> {
  const result = await cryptsetup(['isLuks', device], undefined);
  if (result.failed && result.exitCode === undefined) throw missingCryptsetup(result.cause ?? result);
  return result.exitCode === 0;
}

export async function luksUuid(device: string): Promise<string> {
  const result = await cryptsetup(['luksUUID', device], undefined);
  if (result.exitCode !== 0) throw failure('read the LUKS header of', device, result);
  return String(result.stdout).trim();
}

/** The device behind an open mapping (`cryptsetup status NAME`), or undefined when NAME is not open. */
export async function mappingDevice(name: string): Promise<string | undefined> {
  const result = await cryptsetup(['status', name], undefined);
  if (result.failed && result.exitCode === undefined) throw missingCryptsetup(result.cause ?? result);
  if (result.exitCode !== 0) return undefined;
  return /^\s*device:\s*(\S+)/m.exec(String(result.stdout))?.[1];
}
