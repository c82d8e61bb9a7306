// The one runner for external programs. A command line is data (`ExternalCommand`): built by a
// pure function, asserted by tests with toEqual, printed by --dry-run (`formatCommand`), and run
// here with execa: argument arrays, never a shell. Every caller reports the same way:
//   - a missing program: "X is not installed", with the Debian package that has it;
//   - a failure: what we were doing, the command line, its exit status and the last lines of its
//     stderr, with any secret we fed it cut out;
//   - Ctrl-C/SIGTERM: the child is killed and awaited (interrupt.ts), and InterruptedError thrown.
//
// execa is loaded on first use, not at import: its module graph is a good part of callhome's
// start-up, and callhome imports this file (preloadRunner lets it load while knockd opens the door).

import { constants } from 'node:os';
import type { Result } from 'execa';
import { InterruptedError, KnockstickError } from './errors.js';
import { cleanup, interruptSignal, interruptedBy, trackChild } from './interrupt.js';

export interface ExternalCommand {
  readonly file: string;
  /** Never a secret (argv is visible to every user in /proc and ps). */
  readonly args: readonly string[];
  /** What running it does, for messages and --dry-run: "format /dev/loop3 as LUKS2". */
  readonly purpose: string;
  /**
   * Standard input: these bytes (may be a secret: never printed, cut out of messages), the user's
   * terminal, or nothing (the default).
   */
  readonly stdin?: Buffer | string | 'terminal';
  /** Bytes on file descriptor 3, a pipe the child inherits (ssh-keygen's askpass reads it). Secret. */
  readonly fd3?: Buffer;
  /** captured (default), the user's terminal, or discarded (a daemon that keeps it open). */
  readonly stdout?: 'capture' | 'terminal' | 'ignore';
  /** captured (default: the last lines go into the failure message) or the user's terminal. */
  readonly stderr?: 'capture' | 'terminal';
  readonly cwd?: string;
  /** Added to our environment. Values are not secrets either. */
  readonly env?: Readonly<Record<string, string>>;
  /** Its own session, without a controlling terminal (ssh-keygen then asks SSH_ASKPASS). */
  readonly detached?: boolean;
  /** Keep stdout byte for byte (the final newline of a file matters). */
  readonly keepFinalNewline?: boolean;
  /**
   * Brief, and must finish once started (losetup --find --show, cryptsetup open, mount): killed
   * half-way, it may have attached, opened or mounted something without telling us what, and then
   * nobody undoes it. An interrupt lets it finish and hands back its result; the caller registers
   * the undo, and its next command stops.
   */
  readonly finishOnInterrupt?: boolean;
}

export interface RunResult {
  /** 128 + the signal's number when a signal ended it, as shells report it. */
  readonly exitCode: number;
  /** The signal that ended it (not ours: an interrupt throws InterruptedError instead). */
  readonly signal?: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/** The Debian package that ships each program we run, for "X is not installed". */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  cryptsetup: 'cryptsetup-bin',
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  lsblk: 'util-linux',
  blkid: 'util-linux',
  wipefs: 'util-linux',
  partx: 'util-linux',
  sfdisk: 'fdisk',
  'mkfs.vfat': 'dosfstools',
  'mkfs.exfat': 'exfatprogs',
  'mkfs.ext4': 'e2fsprogs',
  'ssh-keygen': 'openssh-client',
  ssh: 'openssh-client',
  ip: 'iproute2',
  chown: 'coreutils',
  sync: 'coreutils',
  knockd: 'knockd',
  fwknop: 'fwknop-client',
  fwknopd: 'fwknop-server',
  iptables: 'iptables',
  nft: 'nftables',
};

/** How many lines of a failed command's stderr a message carries. */
const STDERR_LINES = 3;
/** After SIGTERM on an interrupt, how long a child gets before SIGKILL. */
const KILL_GRACE_MS = 3000;

let execaModule: Promise<typeof import('execa')> | undefined;
/** Starts loading execa now, so that the first run does not wait for it. */
export function preloadRunner(): void {
  execaModule ??= import('execa');
  execaModule.catch(() => undefined); // reported by the run that needs it
}

/** For display only: a word the way a user would type it in sh. */
export function displayWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line as a user would type it, secrets replaced by what they are. For --dry-run. */
export function formatCommand(command: ExternalCommand): string {
  const env = Object.entries(command.env ?? {}).map(([k, v]) => `${k}=${displayWord(v)}`);
  const words = [...env, command.file, ...command.args].map((w, i) => (i < env.length ? w : displayWord(w)));
  if (Buffer.isBuffer(command.stdin) || (typeof command.stdin === 'string' && command.stdin !== 'terminal')) {
    words.push(`< (${Buffer.byteLength(command.stdin)} bytes on stdin, not shown)`);
  }
  if (command.fd3 !== undefined) words.push(`3< (${command.fd3.length} bytes on fd 3, not shown)`);
  return `${words.join(' ')}${command.cwd === undefined ? '' : `   (in ${command.cwd})`}`;
}

/** "X is not installed", with the package that has it where we know it. */
export function missingProgram(file: string, purpose: string, cause?: unknown): KnockstickError {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const pkg = DEBIAN_PACKAGES[name];
  return new KnockstickError('IO', `${file} is not installed (needed to ${purpose})`, {
    hint: pkg === undefined ? `install ${name} and run this again` : `install it (Debian/Ubuntu: apt install ${pkg}) and run this again`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The bytes we fed the command that must never appear in a message. */
function secretsOf(command: ExternalCommand): string[] {
  const secrets: string[] = [];
  if (Buffer.isBuffer(command.stdin)) secrets.push(command.stdin.toString('utf8'));
  else if (typeof command.stdin === 'string' && command.stdin !== 'terminal') secrets.push(command.stdin);
  if (command.fd3 !== undefined) secrets.push(...command.fd3.toString('utf8').split('\n'));
  // Also each line of it alone: a program may echo one line of what it read.
  return [...new Set(secrets.flatMap((s) => [s, ...s.split('\n')]).map((s) => s.replace(/\r$/, '')).filter((s) => s.trim().length >= 3))].sort((a, b) => b.length - a.length);
}

/** The last lines of stderr, secrets cut out. Pure. */
export function stderrTail(stderr: string, command: ExternalCommand, lines = STDERR_LINES): string {
  let text = stderr;
  for (const secret of secretsOf(command)) text = text.split(secret).join('[secret]');
  return text.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '').slice(-lines).join('\n  ');
}

/** The error for a command that ran and did not succeed. Pure. */
export function failureError(command: ExternalCommand, result: { exitCode?: number | undefined; signal?: string | undefined; stderr: string }): KnockstickError {
  const line = [command.file, ...command.args].map(displayWord).join(' ');
  const how = result.exitCode === undefined ? `was killed by ${result.signal ?? 'a signal'}` : `exited with status ${result.exitCode}`;
  const tail = stderrTail(result.stderr, command);
  return new KnockstickError('IO', `cannot ${command.purpose}: \`${line}\` ${how}${tail === '' ? '' : `:\n  ${tail}`}`);
}

function interrupted(): InterruptedError {
  const signal = interruptedBy();
  return new InterruptedError(`interrupted by ${signal ?? 'a signal'}`, signal);
}

function isMissing(result: Result): boolean {
  const code = (result as { code?: unknown }).code ?? (result.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' && result.exitCode === undefined;
}

/**
 * Runs the command and returns whatever exit status it had (128 + n for a child ended by signal
 * n). Throws for a missing program, and when we are interrupted (the child is then killed and
 * awaited, unless it must finish: finishOnInterrupt).
 */
export async function runAllowingFailure(command: ExternalCommand): Promise<RunResult> {
  // An undo step's own commands (umount, cryptsetup close, losetup -d) run even after an
  // interrupt, and are not killed by one: an undo cut short is what leaves a loop device behind.
  const undoing = cleanup.isRunning;
  const stopped = (): boolean => interruptSignal.aborted && !undoing;
  const killable = !undoing && command.finishOnInterrupt !== true;
  if (stopped()) throw interrupted();
  preloadRunner();
  const { execa } = await (execaModule as Promise<typeof import('execa')>);
  if (stopped()) throw interrupted();
  const stdin = command.stdin === 'terminal' ? 'inherit' : command.stdin === undefined ? 'ignore' : 'pipe';
  const stdout = command.stdout === 'terminal' ? 'inherit' : command.stdout === 'ignore' ? 'ignore' : 'pipe';
  const stderr = command.stderr === 'terminal' ? 'inherit' : 'pipe';
  const input = command.stdin === 'terminal' || command.stdin === undefined ? undefined : command.stdin;
  const child = execa(command.file, [...command.args], {
    stdio: command.fd3 === undefined ? [stdin, stdout, stderr] : [stdin, stdout, stderr, new Uint8Array(command.fd3)],
    ...(input === undefined ? {} : { input }),
    ...(command.cwd === undefined ? {} : { cwd: command.cwd }),
    ...(command.env === undefined ? {} : { env: { ...command.env } }),
    detached: command.detached === true,
    stripFinalNewline: command.keepFinalNewline !== true,
    reject: false,
    ...(killable ? { cancelSignal: interruptSignal, forceKillAfterDelay: KILL_GRACE_MS } : {}),
  });
  if (!undoing) trackChild(child, { mustFinish: !killable });
  const result = await child;
  if (result.isCanceled || (killable && stopped())) throw interrupted();
  if (isMissing(result)) throw missingProgram(command.file, command.purpose, result.cause);
  const out = { stdout: typeof result.stdout === 'string' ? result.stdout : '', stderr: typeof result.stderr === 'string' ? result.stderr : '' };
  if (result.exitCode === undefined) {
    if (result.signal === undefined) {
      throw new KnockstickError('IO', `cannot run ${command.file} (to ${command.purpose}): ${(result.cause as Error | undefined)?.message ?? 'unknown error'}`, { cause: result.cause });
    }
    return { exitCode: 128 + (constants.signals[result.signal] ?? 127), signal: result.signal, ...out };
  }
  return { exitCode: result.exitCode, ...out };
}

/** Runs the command; anything but exit status 0 is a KnockstickError (see failureError). */
export async function run(command: ExternalCommand): Promise<RunResult> {
  const result = await runAllowingFailure(command);
  if (result.exitCode !== 0) throw failureError(command, result.signal === undefined ? result : { signal: result.signal, stderr: result.stderr });
  return result;
}
