// Exclusive locks between concurrent seqgen / callhome runs.
//
// Node has no flock(), so a flock(1) child holds the kernel lock for us: it locks the directory
// that holds a sequence file, then waits on a pipe from this process. When we release the lock, or
// when this process dies for any reason (even SIGKILL), the pipe closes, the child exits and the
// kernel drops the lock. No stale lock files, no PID guessing.
//
// We lock directories, not the files: the stick file is replaced by rename, and a lock on the old
// inode would not exclude a run that opened the new one. Locking a directory also creates nothing.

import { realpath } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { KnockstickError, ioError } from './errors.js';

/** flock(1)'s exit status when -w runs out (set with -E so it differs from other failures). */
const FLOCK_TIMEOUT_STATUS = 75;
/** Printed by the child once it holds the lock. A constant script: no user input reaches the shell. */
const HOLD_SCRIPT = 'printf locked; exec cat >/dev/null';

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** How long to wait for another run to finish, in seconds. */
  readonly waitSeconds: number;
}

async function lockOne(dir: string, waitSeconds: number): Promise<Lock> {
  const child: ResultPromise = execa(
    'flock',
    ['--exclusive', '--wait', String(waitSeconds), '--conflict-exit-code', String(FLOCK_TIMEOUT_STATUS), dir, 'sh', '-c', HOLD_SCRIPT],
    { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, cleanup: true },
  );
  const held = await new Promise<boolean>((resolve) => {
    child.stdout?.once('data', () => resolve(true));
    void child.then(() => resolve(false));
  });
  if (!held) {
    const result = await child;
    if (result.exitCode === FLOCK_TIMEOUT_STATUS) {
      throw new KnockstickError(
        'BUSY',
        `${dir} is locked by another seqgen or callhome (waited ${waitSeconds} s)`,
        { hint: 'wait for the other run to finish, then try again' },
      );
    }
    const reason = (result as { code?: string }).code === 'ENOENT' ? 'flock(1) is not installed (util-linux)' : String(result.stderr || result.message);
    throw ioError('lock', dir, new Error(reason));
  }
  return {
    async release() {
      child.stdin?.end();
      await child;
    },
  };
}

/**
 * Locks every directory in `dirs` (deduplicated by real path, taken in sorted order so two runs
 * locking the same pair cannot deadlock) and returns one handle that releases them all.
 */
export async function lockDirectories(dirs: readonly string[], options: LockOptions): Promise<Lock> {
  const real = await Promise.all(
    dirs.map(async (d) => {
      try {
        return await realpath(d);
      } catch (error) {
        throw ioError('lock', d, error);
      }
    }),
  );
  const unique = [...new Set(real)].sort();
  const held: Lock[] = [];
  try {
    for (const dir of unique) held.push(await lockOne(dir, options.waitSeconds));
  } catch (error) {
    await releaseAll(held);
    throw error;
  }
  return { release: () => releaseAll(held) };
}

async function releaseAll(locks: readonly Lock[]): Promise<void> {
  for (const lock of [...locks].reverse()) await lock.release();
}

/** Runs `fn` while holding the locks, releasing them whatever happens. */
export async function withDirectoryLocks<T>(dirs: readonly string[], options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await lockDirectories(dirs, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
