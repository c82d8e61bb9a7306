// Durable writes for the two kinds of sequence file, and the rules every file write follows.
//
// - knockd's file is held open by knockd, which writes "#" into it in place. A rename gives it a new
//   inode that knockd ignores until SIGHUP, and a rewrite races knockd's own writes, so the only safe
//   change is an append (O_APPEND), after making sure the file ends with "\n".
// - the stick's file can be yanked mid-write, so it is replaced whole: temp file in the same
//   directory, fsync, rename over, fsync the directory. A reader sees the old or the new file, never
//   a torn one.
//
// Planted links and odd files. A stick, an --into or --out directory may come from someone else: a
// symlink planted there (.ssh -> ~/.ssh, callhome -> ~/.bashrc) must never turn one of our writes
// into a write elsewhere. So:
// - no write follows a symlink in its final component: appends open with O_NOFOLLOW (knockd's file
//   only with an explicit followSymlink), new files are created O_EXCL|O_NOFOLLOW, and a file
//   replaced by rename must not be a symlink (rename would silently replace the link);
// - directories the toolkit owns (a stick's .ssh and .knockstick, the directories under --out) are
//   checked with lstat, component by component below a root the user gave (`within`), and created
//   one at a time; the user's own path up to that root is taken as given (/var/run is a symlink on
//   Debian, and that is fine).
// Node has no openat(), so these are checks, then opens: they stop a planted link, not a process
// racing us on the same directory (which could rewrite the files directly anyway).
// - every read of a file we expect to be regular opens with O_NONBLOCK and refuses, by fstat, a
//   FIFO, socket, device or directory: opening a FIFO for reading would otherwise wait forever for
//   a writer. Reads follow symlinks (knockd does, and reading through a link writes nothing).
//   Passphrase files are the exception (src/core/secrets.ts): a FIFO or <(...) is a fine way to
//   pass a secret there.

import { constants as fsConstants, promises as fs, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { KnockstickError, ioError } from './errors.js';
import { isProcessAlive } from './process.js';

/** Mode for every file holding sequences or keys: owner read/write only. */
export const SECRET_FILE_MODE = 0o600;
export const SECRET_DIR_MODE = 0o700;

/** What a directory entry is, in words for messages. */
export function describeKind(stat: Stats): string {
  return stat.isFile() ? 'a regular file'
    : stat.isDirectory() ? 'a directory'
    : stat.isSymbolicLink() ? 'a symbolic link'
    : stat.isFIFO() ? 'a FIFO (named pipe)'
    : stat.isSocket() ? 'a socket'
    : stat.isCharacterDevice() ? 'a character device'
    : stat.isBlockDevice() ? 'a block device'
    : 'not a regular file';
}

/** lstat, or null when nothing is there. */
async function lstatIfExists(path: string): Promise<Stats | null> {
  try {
    return await fs.lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError('stat', path, error);
  }
}

/** The refusal for a symlink where we write: names the link and where it points. */
export async function symlinkRefusal(path: string, hint?: string): Promise<KnockstickError> {
  const target = await fs.readlink(path).catch(() => '?');
  return new KnockstickError('IO', `${path} is a symbolic link (to ${target}): refusing to write through it; nothing was written`, {
    hint: hint ?? `remove the link (rm ${path}) if you did not put it there, or point the command at the real file`,
  });
}

/** A FIFO, socket, device or directory where a regular file was expected. */
export class NotRegularFileError extends KnockstickError {
  constructor(
    readonly path: string,
    /** In words: "a FIFO (named pipe)", "a directory"... */
    readonly kind: string,
  ) {
    super('IO', `${path} is ${kind}, not a regular file`, {
      hint: 'point the command at a regular file; nothing was read from or written to this one',
    });
  }
}

function notRegular(path: string, stat: Stats): KnockstickError {
  return new NotRegularFileError(path, describeKind(stat));
}

/** Throws a clear error when `path` is a symlink; nothing there, or anything else, is fine. */
export async function assertNotSymlink(path: string, hint?: string): Promise<void> {
  if ((await lstatIfExists(path))?.isSymbolicLink() === true) throw await symlinkRefusal(path, hint);
}

/**
 * Throws unless `path` is missing or a regular file that is not a symlink: the check for a file we
 * are about to create or replace.
 */
export async function assertPlainFileOrMissing(path: string, hint?: string): Promise<void> {
  const stat = await lstatIfExists(path);
  if (stat === null || stat.isFile()) return;
  if (stat.isSymbolicLink()) throw await symlinkRefusal(path, hint);
  throw notRegular(path, stat);
}

/**
 * The check a command runs before its first write when it writes several files: each must be
 * missing or a plain regular file, so a planted link stops the run before anything changed.
 */
export async function refuseLinksAmong(paths: readonly string[]): Promise<void> {
  for (const path of paths) await assertPlainFileOrMissing(path);
}

/**
 * Throws unless every directory from `root` (exclusive, the user's own path) down to `dir`
 * (inclusive) is a real directory, not a symlink. Missing components are an error here too:
 * a writer creates them with ensureDirectory first.
 */
export async function assertRealDirectories(root: string, dir: string): Promise<void> {
  for (const component of componentsBelow(root, dir)) {
    const stat = await lstatIfExists(component);
    if (stat === null) throw new KnockstickError('IO', `cannot use directory ${component}: no such file or directory`);
    if (stat.isSymbolicLink()) throw await symlinkRefusal(component);
    if (!stat.isDirectory()) throw new KnockstickError('IO', `${component} exists but is ${describeKind(stat)}, not a directory`);
  }
}

/** root/a, root/a/b, ... down to dir. Throws when dir is not inside root (a bug in the caller). */
function componentsBelow(root: string, dir: string): string[] {
  const rel = relative(root, dir);
  if (rel === '') return [];
  if (rel.startsWith('..') || isAbsolute(rel)) throw new KnockstickError('INTERNAL', `${dir} is not inside ${root}`);
  const parts = rel.split(sep);
  return parts.map((_, i) => join(root, ...parts.slice(0, i + 1)));
}

/**
 * Opens a file we expect to be regular for reading, without ever blocking: O_NONBLOCK makes the
 * open of a FIFO return at once, and fstat then refuses it (and sockets, devices, directories).
 * Follows symlinks. Null when it does not exist.
 */
export async function openRegularForReading(path: string): Promise<fs.FileHandle | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENXIO') throw new NotRegularFileError(path, 'a socket'); // open() of a unix socket
    throw ioError('read', path, error);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(path, stat);
    return handle;
  } catch (error) {
    await handle.close();
    if (error instanceof KnockstickError) throw error;
    throw ioError('read', path, error);
  }
}

/** The file's bytes, or null when it does not exist. Refuses a non-regular file without blocking. */
export async function readBytesIfExists(path: string): Promise<Buffer | null> {
  const handle = await openRegularForReading(path);
  if (handle === null) return null;
  try {
    return await handle.readFile();
  } catch (error) {
    throw ioError('read', path, error);
  } finally {
    await handle.close();
  }
}

/** The file's text, or null when it does not exist. Refuses a non-regular file without blocking. */
export async function readTextIfExists(path: string): Promise<string | null> {
  return (await readBytesIfExists(path))?.toString('utf8') ?? null;
}

/**
 * Throws unless `path` is missing or (through any symlink) a regular file: the check before a path
 * is handed to another program that opens it (`sshd -T -f PATH`), which would wait forever on a
 * FIFO. stat never opens the file, so it cannot block. Missing is left to that program to report.
 * A check, then the child's open: it stops a FIFO given or planted by mistake, not a process racing
 * us to swap the file (which could feed the program anything anyway).
 */
export async function assertRegularOrMissing(path: string): Promise<void> {
  let stat: Stats;
  try {
    stat = await fs.stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError('stat', path, error);
  }
  if (!stat.isFile()) throw notRegular(path, stat);
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

export interface AppendOptions {
  /**
   * Append through a symlink in the final component (knockd's one-time file, with
   * --follow-symlink: knockd itself follows it). Default: refuse the link.
   */
  readonly followSymlink?: boolean;
  /** What to tell the user when a symlink is refused (e.g. how to allow it). */
  readonly symlinkHint?: string;
  /** The directories below this root down to the file's must be real directories (lstat). */
  readonly within?: string;
}

/**
 * Appends `text` to `path` (created with mode 0600 if missing) and fsyncs it. If the file does not
 * end with "\n", one is written first so that the first appended line does not merge with the
 * last existing one. The check reads the file's last byte through the same descriptor, just before
 * writing, so it sees any change made since the caller read the file.
 * On a failed write the file is truncated back to its original size: knockd only ever writes "#"
 * at the start of existing lines, so cutting off what we appended cannot touch its writes.
 * A symlink is refused (O_NOFOLLOW) unless options.followSymlink; anything but a regular file
 * (FIFO, device...) is refused before a byte is written.
 */
export async function appendDurably(path: string, text: string, options: AppendOptions = {}): Promise<AppendResult> {
  if (options.within !== undefined) await assertRealDirectories(options.within, dirname(path));
  // O_NONBLOCK: an O_RDWR open never blocks on a FIFO, but a device might; fstat refuses both below.
  const noFollow = options.followSymlink === true ? 0 : fsConstants.O_NOFOLLOW;
  const flags = fsConstants.O_RDWR | fsConstants.O_APPEND | fsConstants.O_NONBLOCK | noFollow;
  let handle: fs.FileHandle;
  let created = false;
  try {
    // O_EXCL also fails on a symlink, dangling or not: a new file is never made through one.
    handle = await fs.open(path, flags | fsConstants.O_CREAT | fsConstants.O_EXCL, SECRET_FILE_MODE);
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('create', path, error);
    try {
      handle = await fs.open(path, flags);
    } catch (openError) {
      if ((openError as NodeJS.ErrnoException).code === 'ELOOP') throw await symlinkRefusal(path, options.symlinkHint);
      throw ioError('open for appending', path, openError);
    }
  }
  let originalSize = 0;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(path, stat);
    originalSize = stat.size;
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (error instanceof KnockstickError) throw error;
    throw ioError('append to', path, error);
  }
  try {
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
    const mode = created ? SECRET_FILE_MODE : (await handle.stat()).mode & 0o777;
    return { created, addedNewline, mode };
  } catch (error) {
    await handle.truncate(originalSize).catch(() => undefined);
    await handle.sync().catch(() => undefined);
    throw ioError('append to', path, error);
  } finally {
    await handle.close();
  }
}

export interface ReplaceOptions {
  /** Permission bits of the new file (default 0600), set with fchmod so umask cannot narrow them. */
  readonly mode?: number;
  /** The directories below this root down to the file's must be real directories (lstat). */
  readonly within?: string;
  /** What to tell the user when the target is a symlink. */
  readonly symlinkHint?: string;
  /** Owner of the new file, set with fchown before the rename (root rewriting a user's file on ext4). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/** What a replaced file holds: text, bytes, or a copy of another file (streamed, for large ones). */
export type FileContent = string | Buffer | { readonly copyFrom: string };

/**
 * Replaces `path` with `content` atomically and durably, with mode 0600 (or options.mode). On any
 * failure the original file is untouched and the temp file is removed. Refuses when `path` is a
 * symlink (the rename would replace the link, not what it points to, which is never what its
 * owner meant) or anything but a regular file.
 */
export async function writeAtomically(path: string, content: FileContent, options: ReplaceOptions = {}): Promise<void> {
  const dir = dirname(path);
  if (options.within !== undefined) await assertRealDirectories(options.within, dir);
  await assertPlainFileOrMissing(path, options.symlinkHint);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, options.mode ?? SECRET_FILE_MODE);
    if (typeof content === 'string' || Buffer.isBuffer(content)) await handle.writeFile(content);
    else await copyInto(content.copyFrom, handle);
    // Only when asked: fchmod is refused on some vfat mounts, and 0600 is what open gave already.
    if (options.mode !== undefined) await handle.chmod(options.mode);
    if (options.owner !== undefined) {
      // Only when it differs: vfat/exfat give every file the mount's owner, and refuse a change.
      const made = await handle.stat();
      if (made.uid !== options.owner.uid || made.gid !== options.owner.gid) await handle.chown(options.owner.uid, options.owner.gid);
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    if (error instanceof KnockstickError) throw error;
    throw ioError('write', path, error);
  }
  await syncDirectory(dir);
}

/** Streams a regular file into `target`, 1 MiB at a time (the stick's executable is ~100 MB). */
async function copyInto(source: string, target: fs.FileHandle): Promise<void> {
  const from = await openRegularForReading(source);
  if (from === null) throw new KnockstickError('IO', `cannot read ${source}: no such file or directory`);
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await from.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      let written = 0;
      while (written < bytesRead) written += (await target.write(buffer, written, bytesRead - written)).bytesWritten;
    }
  } finally {
    await from.close();
  }
}

/**
 * Creates a new file with `content`, never replacing anything that is there (a file, or a link
 * even dangling): O_CREAT|O_EXCL|O_NOFOLLOW. For files that must never be overwritten, like keys.
 */
export async function createExclusively(path: string, content: Buffer | string, mode: number, options: { within?: string } = {}): Promise<void> {
  if (options.within !== undefined) await assertRealDirectories(options.within, dirname(path));
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      if ((await lstatIfExists(path))?.isSymbolicLink() === true) throw await symlinkRefusal(path);
      throw new KnockstickError('IO', `${path} exists: not replacing it`);
    }
    throw ioError('create', path, error);
  }
  try {
    await handle.writeFile(content);
    await handle.chmod(mode).catch(() => undefined); // best effort: vfat may refuse, and its mount decides
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.unlink(path).catch(() => undefined);
    throw ioError('write', path, error);
  }
  await handle.close();
  await syncDirectory(dirname(path));
}

/**
 * Creates `dir` with mode 0700 if missing; returns whether it had to.
 * With `within` (a root the user gave, e.g. the stick): every component below it is ours, so each
 * is checked with lstat (a symlink is refused, naming it) and made one at a time. Without: the
 * user's own path, created with its parents like mkdir -p, and an existing one taken as it is.
 */
export async function ensureDirectory(dir: string, options: { within?: string; mode?: number } = {}): Promise<boolean> {
  const mode = options.mode ?? SECRET_DIR_MODE;
  if (options.within !== undefined) {
    let made = false;
    for (const component of componentsBelow(options.within, dir)) {
      const stat = await lstatIfExists(component);
      if (stat === null) {
        try {
          await fs.mkdir(component, { mode });
          made = true;
        } catch (error) {
          throw ioError('create directory', component, error);
        }
      } else if (stat.isSymbolicLink()) {
        throw await symlinkRefusal(component);
      } else if (!stat.isDirectory()) {
        throw new KnockstickError('IO', `${component} exists but is ${describeKind(stat)}, not a directory`);
      }
    }
    // A component made by a racing process between lstat and mkdir fails mkdir (EEXIST) above.
    return made;
  }
  let isDirectory: boolean;
  try {
    isDirectory = (await fs.stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('use directory', dir, error);
    try {
      await fs.mkdir(dir, { recursive: true, mode });
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
export async function appendToTornLine(
  path: string,
  expectedSize: number,
  tornLine: string,
  text: string,
  options: Pick<AppendOptions, 'followSymlink' | 'symlinkHint'> = {},
): Promise<void> {
  // The same refusals as appendDurably: no planted link unless asked, nothing but a regular file.
  const noFollow = options.followSymlink === true ? 0 : fsConstants.O_NOFOLLOW;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, fsConstants.O_RDWR | fsConstants.O_APPEND | fsConstants.O_NONBLOCK | noFollow);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw await symlinkRefusal(path, options.symlinkHint);
    throw ioError('open for appending', path, error);
  }
  let size = -1;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(path, stat);
    size = stat.size;
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
