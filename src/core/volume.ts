// Block-device chores shared by usbsetup and secureon/secureoff: disk images on loop devices,
// filesystem type, mount options that make ssh accept the key, mount and unmount.

import { readFile, stat } from 'node:fs/promises';
import { KnockstickError } from './errors.js';
import { run, runAllowingFailure, type ExternalCommand } from './run.js';

export type StickFilesystem = 'vfat' | 'exfat' | 'ext4';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

/** Whether `path` is a regular file (a disk image) rather than a block device; throws if it is neither. */
export async function isImageFile(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  if (info === null) throw new KnockstickError('IO', `${path} does not exist`, { hint: 'is the stick plugged in? `lsblk` lists the disks' });
  if (info.isFile()) return true;
  if (info.isBlockDevice()) return false;
  throw new KnockstickError('USAGE', `${path} is neither a block device nor a disk image file`);
}

/** Attaches a disk image to a free loop device (with its partitions) and returns /dev/loopN. */
export async function attachImage(file: string): Promise<string> {
  return (await run({ file: 'losetup', args: ['--find', '--show', '--partscan', file], purpose: `attach ${file} to a loop device`, finishOnInterrupt: true })).stdout.trim();
}

export async function detachLoop(device: string): Promise<void> {
  await run({ file: 'losetup', args: ['--detach', device], purpose: `detach ${device}` });
}

/** The loop device already serving `file`, if any. */
export async function loopOf(file: string): Promise<string | undefined> {
  const { stdout } = await run({ file: 'losetup', args: ['--noheadings', '--output', 'NAME', '--associated', file], purpose: `look up loop devices of ${file}` });
  return stdout.split('\n').map((l) => l.trim()).find((l) => l !== '');
}

/** The filesystem on a device, as blkid probes it (undefined: none it recognises). */
export async function filesystemType(device: string): Promise<string | undefined> {
  // blkid exits 2 when it finds nothing: not an error here.
  const result = await runAllowingFailure({ file: 'blkid', args: ['-p', '-o', 'value', '-s', 'TYPE', device], purpose: `probe the filesystem on ${device}` });
  const type = result.stdout.trim();
  return type === '' ? undefined : type;
}

/** The devices holding a filesystem (or LUKS header) with this UUID: blkid scans every disk, udev or not. */
export async function devicesWithUuid(uuid: string): Promise<string[]> {
  const result = await runAllowingFailure({ file: 'blkid', args: ['-o', 'device', '-t', `UUID=${uuid}`], purpose: `find the disk with UUID ${uuid}` });
  return result.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('/dev/mapper/'));
}

/**
 * Mount options. vfat and exfat have no owners or modes of their own: uid/gid give the files to the
 * owner, and umask=077 keeps everyone else out, which is also what ssh insists on for the key
 * (a `chmod 600` on vfat does nothing). ext4 keeps the real modes usbsetup wrote. No device files or
 * setuid programs from a stick, ever.
 */
export function mountOptions(fs: StickFilesystem, owner: Owner): string {
  const base = ['nosuid', 'nodev'];
  return (fs === 'ext4' ? base : [...base, `uid=${owner.uid}`, `gid=${owner.gid}`, 'umask=077']).join(',');
}

export function asStickFilesystem(type: string | undefined, device: string): StickFilesystem {
  if (type === 'vfat' || type === 'exfat' || type === 'ext4') return type;
  throw new KnockstickError('IO', `${device} holds ${type === undefined ? 'no filesystem blkid recognises' : `a ${type} filesystem`}; a knockstick volume holds vfat, exfat or ext4`, {
    hint: 'was it made with usbsetup? `blkid DEVICE` shows what is there',
  });
}

/** The mount command line. Pure. */
export function mountCommand(device: string, mountpoint: string, fs: StickFilesystem, owner: Owner): ExternalCommand {
  return { file: 'mount', args: ['-t', fs, '-o', mountOptions(fs, owner), device, mountpoint], purpose: `mount ${device} on ${mountpoint}`, finishOnInterrupt: true };
}

export async function mountVolume(device: string, mountpoint: string, fs: StickFilesystem, owner: Owner): Promise<void> {
  try {
    await run(mountCommand(device, mountpoint, fs, owner));
  } catch (error) {
    if (error instanceof KnockstickError && /unknown filesystem type/.test(error.message)) {
      throw new KnockstickError('IO', error.message, { hint: `this kernel lacks ${fs} support (modprobe ${fs})` });
    }
    throw error;
  }
}

export async function unmountVolume(mountpoint: string): Promise<void> {
  await run({ file: 'umount', args: [mountpoint], purpose: `unmount ${mountpoint}` });
}

export async function syncAll(): Promise<void> {
  await run({ file: 'sync', args: [], purpose: 'flush writes to disk' });
}

/** uid, gid and name of a user name or uid, from /etc/passwd (no NSS: the stick works in rescue systems too). */
export async function lookupOwner(who: string | number, passwdText?: string): Promise<Owner> {
  const text = passwdText ?? (await readFile('/etc/passwd', 'utf8'));
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if ((typeof who === 'number' && Number(uid) === who) || name === String(who) || (/^\d+$/.test(String(who)) && uid === String(who))) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  if (typeof who === 'number' || /^\d+$/.test(who)) {
    // 2^32-1 is "no uid" to the kernel; beyond it a number is no uid at all (and prints as 1e+23).
    if (!(Number(who) <= 4294967294)) throw new KnockstickError('USAGE', `${who} is not a uid (0-4294967294)`);
    return { name: String(who), uid: Number(who), gid: Number(who) };
  }
  throw new KnockstickError('USAGE', `no user ${JSON.stringify(who)} in /etc/passwd`);
}

/** The user a root command acts for: --owner, else the one who ran sudo, else root. */
export async function ownerFor(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<Owner> {
  if (flag !== undefined) return lookupOwner(flag);
  const sudoUid = env.SUDO_UID;
  if (sudoUid !== undefined && /^\d+$/.test(sudoUid)) {
    const owner = await lookupOwner(Number(sudoUid));
    return env.SUDO_GID !== undefined && /^\d+$/.test(env.SUDO_GID) ? { ...owner, gid: Number(env.SUDO_GID) } : owner;
  }
  return lookupOwner(process.getuid?.() ?? 0);
}
