// Exclusive locks between concurrent seqgen / callhome runs.
//
// Node has no flock(), so flock(1) takes the kernel lock for us on a descriptor it inherits: we open
// the directory, hand the descriptor to `flock FD` as its fd 3, and flock locks it and exits. A
// flock(2) lock belongs to the open file description, which our descriptor still refers to: we
// hold the lock until we close it, or until this process dies for any reason (even SIGKILL) and
// the kernel closes it for us. No stale lock files, no PID guessing, no helper process left running.
//
// We lock directories, not the files: the stick file is replaced by rename, and a lock on the old
// inode would not exclude a run that opened the new one. Locking a directory also creates nothing.

import { open, realpath } from 'node:fs/promises';
import { constants } from 'node:fs';
import { spawn } from 'node:child_process';
import { KnockstickError, ioError } from './errors.js';

/** flock(1)'s exit status when -w runs out (set with -E so it differs from other failures). */
const FLOCK_TIMEOUT_STATUS = 75;
/** The descriptor number flock(1) gets the directory as (stdin, stdout, stderr, then this). */
const LOCK_FD = 3;

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** How long to wait for another run to finish, in seconds. */
  readonly waitSeconds: number;
}

async function lockOne(dir: string, waitSeconds: number): Promise<Lock> {
  let handle;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (error) {
    throw ioError('lock', dir, error);
  }
  const result = await runFlock(['--exclusive', '--wait', String(waitSeconds), '--conflict-exit-code', String(FLOCK_TIMEOUT_STATUS), String(LOCK_FD)], handle.fd);
  if (result.exitCode === 0) {
    return {
      async release() {
        await handle.close();
      },
    };
  }
  await handle.close();
  if (result.exitCode === FLOCK_TIMEOUT_STATUS) {
    throw new KnockstickError(
      'BUSY',
      `${dir} is locked by another seqgen or callhome (waited ${waitSeconds} s)`,
      { hint: 'wait for the other run to finish, then try again' },
    );
  }
  const reason = result.missing ? 'flock(1) is not installed (util-linux)' : result.stderr.trim() || `flock exit ${result.exitCode}`;
  throw ioError('lock', dir, new Error(reason));
}

/**
 * flock(1) with `fd` as its descriptor 3. node:child_process directly (an argument array, no
 * shell), because execa passes only streams and files beyond stdin/stdout/stderr, not a descriptor.
 */
function runFlock(args: readonly string[], fd: number): Promise<{ exitCode: number | null; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('flock', [...args], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ exitCode: null, stderr: error.message, missing: error.code === 'ENOENT' }));
    child.on('close', (exitCode) => resolve({ exitCode, stderr, missing: false }));
  });
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
