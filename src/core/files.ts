// Durable writes for the two kinds of sequence file.
//
// - knockd's file is held open by knockd, which writes "#" into it in place. A rename gives it a new
//   inode that knockd ignores until SIGHUP, and a rewrite races knockd's own writes, so the only safe
//   change is an append (O_APPEND), after making sure the file ends with "\n".
// - the stick's file can be yanked mid-write, so it is replaced whole: temp file in the same
//   directory, fsync, rename over, fsync the directory. A reader sees the old or the new file, never
//   a torn one.

import { constants as fsConstants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { KnockstickError, ioError } from './errors.js';
import { isProcessAlive } from './process.js';

/** Mode for every file holding sequences or keys: owner read/write only. */
export const SECRET_FILE_MODE = 0o600;
export const SECRET_DIR_MODE = 0o700;

/** The file's text, or null when it does not exist. Any other failure throws with the path. */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError('read', path, error);
  }
}

/**
 * fsyncs a directory so that a rename or a new entry in it survives a power cut. Some file
 * systems (vfat through FUSE, for one) refuse fsync on a directory; the rename itself is then as
 * durable as that file system can make it, so that refusal is not an error.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EBADF') {
      throw ioError('sync directory', dir, error);
    }
  } finally {
    await handle?.close();
  }
}

export interface AppendResult {
  /** The file did not exist and was created with SECRET_FILE_MODE. */
  readonly created: boolean;
  /** A "\n" was written first because the file did not end with one. */
  readonly addedNewline: boolean;
  /** Permission bits of the file (after creation, or as found). */
  readonly mode: number;
}

/**
 * Appends `text` to `path` (created with mode 0600 if missing) and fsyncs it. If the file does not
 * end with "\n", one is written first so that the first appended line does not merge with the
 * last existing one. The check reads the file's last byte through the same descriptor, just before
 * writing, so it sees any change made since the caller read the file.
 * On a failed write the file is truncated back to its original size: knockd only ever writes "#"
 * at the start of existing lines, so cutting off what we appended cannot touch its writes.
 */
export async function appendDurably(path: string, text: string): Promise<AppendResult> {
  let handle: fs.FileHandle;
  let created = false;
  try {
    handle = await fs.open(path, fsConstants.O_RDWR | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_EXCL, SECRET_FILE_MODE);
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('create', path, error);
    try {
      handle = await fs.open(path, fsConstants.O_RDWR | fsConstants.O_APPEND);
    } catch (openError) {
      throw ioError('open for appending', path, openError);
    }
  }
  let originalSize = 0;
  try {
    const stat = await handle.stat();
    originalSize = stat.size;
    let addedNewline = false;
    if (originalSize > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, originalSize - 1);
      addedNewline = last[0] !== 0x0a;
    }
    const data = Buffer.from((addedNewline ? '\n' : '') + text, 'utf8');
    // One write call: with O_APPEND the kernel places it at the end as a unit.
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await handle.write(data, written, data.length - written);
      written += bytesWritten;
    }
    await handle.sync();
    if (created) await syncDirectory(dirname(path));
    return { created, addedNewline, mode: stat.mode & 0o777 };
  } catch (error) {
    await handle.truncate(originalSize).catch(() => undefined);
    await handle.sync().catch(() => undefined);
    throw ioError('append to', path, error);
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `text` atomically and durably, with mode 0600. On any failure the original
 * file is untouched and the temp file is removed.
 */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, SECRET_FILE_MODE);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw ioError('write', path, error);
  }
  await syncDirectory(dir);
}

/** Creates `dir` (and parents) with mode 0700 if missing; returns whether it had to. */
export async function ensureDirectory(dir: string): Promise<boolean> {
  let isDirectory: boolean;
  try {
    isDirectory = (await fs.stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('use directory', dir, error);
    try {
      await fs.mkdir(dir, { recursive: true, mode: SECRET_DIR_MODE });
      return true;
    } catch (mkdirError) {
      throw ioError('create directory', dir, mkdirError);
    }
  }
  if (!isDirectory) throw new KnockstickError('IO', `${dir} exists but is not a directory`);
  return false;
}

/** Permission bits of `path`, or undefined if it does not exist. */
export async function fileMode(path: string): Promise<number | undefined> {
  try {
    return (await fs.stat(path)).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('stat', path, error);
  }
}

/**
 * Appends `text` to a file whose last line is torn (no "\n"), completing that line: unlike
 * appendDurably, no "\n" is written first. Just before writing it checks, through the same
 * descriptor, that the file still has the size the caller read and still ends with `tornLine`
 * (its first byte aside: knockd may have put its "#" there meanwhile); otherwise nothing is written.
 * knockd's file is only ever appended to (see the top of this file).
 */
export async function appendToTornLine(path: string, expectedSize: number, tornLine: string, text: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, fsConstants.O_RDWR | fsConstants.O_APPEND);
  } catch (error) {
    throw ioError('open for appending', path, error);
  }
  let size = -1;
  try {
    size = (await handle.stat()).size;
    const tail = Buffer.alloc(Buffer.byteLength(tornLine));
    if (size === expectedSize && tail.length <= size) await handle.read(tail, 0, tail.length, size - tail.length);
    if (size !== expectedSize || tail.subarray(1).toString('utf8') !== Buffer.from(tornLine).subarray(1).toString('utf8')) {
      throw new KnockstickError('IO', `${path} changed while seqgen repair was reading it; nothing was appended`, { hint: 'run `seqgen repair` again' });
    }
    const data = Buffer.from(text, 'utf8');
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await handle.write(data, written, data.length - written);
      written += bytesWritten;
    }
    await handle.sync();
  } catch (error) {
    if (error instanceof KnockstickError) throw error;
    if (size >= 0) {
      await handle.truncate(size).catch(() => undefined);
      await handle.sync().catch(() => undefined);
    }
    throw ioError('append to', path, error);
  } finally {
    await handle.close();
  }
}

/** writeAtomically's temp file names: `.NAME.PID.HEX.tmp`, next to NAME. */
const TEMP_NAME = /^\.(.+)\.([1-9]\d{0,9})\.([0-9a-f]{12})\.tmp$/;

/**
 * A temp file whose PID is alive (and not ours) is left alone unless it is older than this: no
 * writeAtomically of ours takes minutes (a few KB and two fsyncs), so an older one belongs to a run
 * that died and whose PID a new process has since taken.
 */
export const STALE_TEMP_AGE_MS = 10 * 60 * 1000;

export interface TempFileOwner {
  /** Whether a process with this PID exists (in our PID namespace). */
  readonly isAlive: (pid: number) => boolean;
  readonly now: () => number;
  /** This process: its temp files may be in flight right now, so they are never stale. */
  readonly selfPid: number;
}

export const realTempOwner: TempFileOwner = { isAlive: isProcessAlive, now: () => Date.now(), selfPid: process.pid };

/**
 * Whether a temp file of writeAtomically was left by a run that is gone. Pure. `locked`: the file it
 * was replacing is only ever written under the directory lock we hold (see findStaleTempFiles).
 */
export function isStaleTemp(pid: number, mtimeMs: number, locked: boolean, owner: TempFileOwner): boolean {
  if (pid === owner.selfPid) return false;
  if (locked || !owner.isAlive(pid)) return true;
  return owner.now() - mtimeMs > STALE_TEMP_AGE_MS;
}

/** The stick's files written only under its directory lock: sequence files and callhome's records. */
export function isLockedStickFile(name: string): boolean {
  return name === 'sequences' || name.startsWith('sequences.');
}

/**
 * The temp files in `dir` left by killed writeAtomically runs (each a full 0600 copy of what was
 * being written: sequences, say). Call it only while holding the lock on `dir` (lock.ts). Every run
 * that writes a file `locked(NAME)` says is lock-protected (the stick's sequences and callhome
 * records) takes that lock first, so while we hold it none of them can be mid-write: a temp file of
 * such a run is stale even when its PID looks alive (a reused PID, or a run in another PID namespace:
 * flock works across namespaces, PIDs do not). Other files in the directory (the ssh config usbsetup
 * writes, say) are written without that lock: for those only a dead PID, or a live one with a temp
 * file older than STALE_TEMP_AGE_MS, says the run is gone, which keeps us off a live write of theirs.
 * Our own PID's files are never touched (a write of this very process may be in flight).
 */
export async function findStaleTempFiles(dir: string, locked: (name: string) => boolean = isLockedStickFile, owner: TempFileOwner = realTempOwner): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError('list', dir, error);
  }
  const stale: string[] = [];
  for (const name of names.sort()) {
    const match = TEMP_NAME.exec(name);
    if (match === null) continue;
    const path = join(dir, name);
    let stat;
    try {
      stat = await fs.lstat(path);
    } catch {
      continue; // gone meanwhile
    }
    // Only regular files: writeAtomically makes nothing else, and a planted link or directory is
    // not ours to delete.
    if (!stat.isFile()) continue;
    if (isStaleTemp(Number(match[2]), stat.mtimeMs, locked(match[1] ?? ''), owner)) stale.push(path);
  }
  return stale;
}

/** Removes the given files (stale temp files); one already gone is fine. Returns those removed. */
export async function removeFiles(paths: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const path of paths) {
    try {
      await fs.unlink(path);
      removed.push(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('remove', path, error);
    }
  }
  return removed;
}

/** One line for the user about removed temp files, or undefined when there were none. */
export function describeRemovedTemps(removed: readonly string[]): string | undefined {
  if (removed.length === 0) return undefined;
  const dirs = [...new Set(removed.map((p) => dirname(p)))];
  return `removed ${removed.length} temp file(s) left by killed runs (${removed.map((p) => basename(p)).join(', ')}) in ${dirs.join(', ')}`;
}
