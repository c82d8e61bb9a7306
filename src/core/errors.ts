// Typed failures. Commands throw these; only src/cli.ts turns them into a message and an exit code,
// so every command documents the same codes in its --help.

export const ExitCode = {
  /** Everything done. */
  OK: 0,
  /** A bug or an unexpected system error: the message says what, please report it. */
  INTERNAL: 1,
  /** The command line is wrong (unknown flag, bad number). Nothing was touched. */
  USAGE: 2,
  /** A sequence file (or config) is invalid. The message names the file and line. Nothing was written. */
  INVALID_FILE: 3,
  /** The server file and the stick file disagree beyond healable drift. Nothing was written. */
  OUT_OF_STEP: 4,
  /** Another seqgen or callhome holds the lock on the same files. Nothing was written. */
  BUSY: 5,
  /** A file could not be read or written (missing directory, permissions, disk full). */
  IO: 6,
  /** callhome: the door never opened after every planned attempt. */
  DOOR_CLOSED: 7,
  /** callhome: no sequence may be knocked (none left, or only the last, which would crash knockd). */
  EXHAUSTED: 8,
  /** doctor: at least one finding is an error. */
  FINDINGS: 9,
  /** usbsetup/secureon: the passphrase did not open the encrypted volume. Nothing changed. */
  WRONG_PASSPHRASE: 10,
  /** Ctrl-C (or a wizard cancelled): what the command had started was undone. 143 for SIGTERM. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'USAGE'
  | 'INVALID_FILE'
  | 'OUT_OF_STEP'
  | 'BUSY'
  | 'IO'
  | 'DOOR_CLOSED'
  | 'EXHAUSTED'
  | 'FINDINGS'
  | 'WRONG_PASSPHRASE'
  | 'INTERRUPTED'
  | 'INTERNAL';

/** An error the user can act on: `message` says what happened, `hint` what to do next. */
export class KnockstickError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KnockstickError';
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return ExitCode[this.code];
  }
}

/**
 * The command stopped because the user asked it to: Ctrl-C at a prompt (`signal` undefined), or
 * SIGINT/SIGTERM while it ran. Exit 130, or 143 for SIGTERM, as a shell reports a killed process.
 */
export class InterruptedError extends KnockstickError {
  readonly signal: NodeJS.Signals | undefined;

  constructor(message: string, signal?: NodeJS.Signals) {
    super('INTERRUPTED', message);
    this.signal = signal;
  }

  override get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : ExitCode.INTERRUPTED;
  }
}

export function usageError(message: string, hint?: string): KnockstickError {
  return new KnockstickError('USAGE', message, hint === undefined ? {} : { hint });
}

/** One problem found in a file, with its 1-based line number (0 when it concerns the whole file). */
export interface FileProblem {
  file: string;
  line: number;
  message: string;
}

export function formatProblem(p: FileProblem): string {
  return p.line > 0 ? `${p.file}:${p.line}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** Thrown when a file fails validation; carries every problem found, not just the first. */
export class InvalidFileError extends KnockstickError {
  readonly problems: readonly FileProblem[];

  constructor(problems: readonly FileProblem[], hint?: string) {
    const shown = problems.slice(0, 20).map(formatProblem);
    if (problems.length > shown.length) shown.push(`... and ${problems.length - shown.length} more`);
    super('INVALID_FILE', shown.join('\n'), hint === undefined ? {} : { hint });
    this.problems = problems;
  }
}

/** Wraps a Node fs error with the path and the action that failed, keeping the cause. */
export function ioError(action: string, path: string, cause: unknown): KnockstickError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOENT' ? 'no such file or directory'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOSPC' ? 'no space left on device'
    : code === 'EROFS' ? 'read-only file system'
    // Node's own messages for these repeat the path (4096 bytes of it, for a hostile one).
    : code === 'EISDIR' ? 'it is a directory'
    : code === 'ENOTDIR' ? 'a part of the path is not a directory'
    : code === 'ENAMETOOLONG' ? 'the name is too long'
    : code === 'ELOOP' ? 'too many levels of symbolic links'
    : (cause as Error | undefined)?.message ?? String(cause);
  return new KnockstickError('IO', `cannot ${action} ${path}: ${reason}`, { cause });
}
