// cryptsetup, the only way we touch LUKS. Passphrases go to cryptsetup on stdin (`--key-file -`,
// which reads to EOF: exactly the bytes given, no newline added) or, on a terminal, are typed into
// cryptsetup itself. Never in argv, never in a message.

import { KnockstickError } from './errors.js';
import { failureError, runAllowingFailure, type ExternalCommand, type RunResult } from './run.js';

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

/** A cryptsetup command line as data; the passphrase, if any, goes on stdin. Pure. */
export function cryptsetupCommand(args: readonly string[], purpose: string, source: PassphraseSource | undefined): ExternalCommand {
  return {
    file: 'cryptsetup',
    args,
    purpose,
    ...(source?.kind === 'bytes' ? { stdin: source.bytes } : source?.kind === 'terminal' ? { stdin: 'terminal' as const, stderr: 'terminal' as const } : {}),
  };
}

function failure(action: string, device: string, command: ExternalCommand, result: RunResult): KnockstickError {
  const detail = result.stderr.trim();
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
  return failureError(command, result);
}

/** Runs cryptsetup; a non-zero exit becomes the error for `action` on `device`. */
async function cryptsetup(args: readonly string[], action: string, device: string, source?: PassphraseSource): Promise<RunResult> {
  const command = cryptsetupCommand(args, `${action} ${device}`, source);
  const result = await runAllowingFailure(command);
  if (result.exitCode !== 0) throw failure(action, device, command, result);
  return result;
}

/** luksFormat's command line. Pure. */
export function luksFormatCommand(device: string, passphrase: Buffer, options: FormatOptions = {}): ExternalCommand {
  const args = ['luksFormat', '--batch-mode', '--type', 'luks2'];
  if (options.weakPbkdfForTests === true) args.push('--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000');
  if (options.label !== undefined) args.push('--label', options.label);
  return cryptsetupCommand([...args, '--key-file', '-', device], `format ${device} as LUKS2`, { kind: 'bytes', bytes: passphrase });
}

/** Writes a new LUKS2 header on `device` (destroys what was there). */
export async function luksFormat(device: string, passphrase: Buffer, options: FormatOptions = {}): Promise<void> {
  const command = luksFormatCommand(device, passphrase, options);
  const result = await runAllowingFailure(command);
  if (result.exitCode !== 0) throw failure('format', device, command, result);
}

/** Opens `device` as /dev/mapper/NAME. */
export async function luksOpen(device: string, name: string, source: PassphraseSource): Promise<void> {
  const args = ['open', '--type', 'luks', ...keyArgs(source)];
  if (source.kind === 'terminal') args.push('--tries', '3');
  // Let it finish on an interrupt (finishOnInterrupt): the caller then registers the close.
  const command = { ...cryptsetupCommand([...args, device, name], `open ${device}`, source), finishOnInterrupt: source.kind === 'bytes' };
  const result = await runAllowingFailure(command);
  if (result.exitCode !== 0) throw failure('open', device, command, result);
}

export async function luksClose(name: string): Promise<void> {
  await cryptsetup(['close', name], 'close', `/dev/mapper/${name}`);
}

export async function isLuks(device: string): Promise<boolean> {
  const result = await runAllowingFailure(cryptsetupCommand(['isLuks', device], `check whether ${device} is LUKS`, undefined));
  return result.exitCode === 0;
}

export async function luksUuid(device: string): Promise<string> {
  return (await cryptsetup(['luksUUID', device], 'read the LUKS header of', device)).stdout.trim();
}

/** The device behind an open mapping (`cryptsetup status NAME`), or undefined when NAME is not open. */
export async function mappingDevice(name: string): Promise<string | undefined> {
  const result = await runAllowingFailure(cryptsetupCommand(['status', name], `look up the mapping ${name}`, undefined));
  if (result.exitCode !== 0) return undefined;
  return /^\s*device:\s*(\S+)/m.exec(result.stdout)?.[1];
}
