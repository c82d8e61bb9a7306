// Everything usbsetup needs from this machine, checked before the first question: a wizard that
// takes the answers, the erase confirmation and two passphrases and only then finds no
// device-mapper wastes the user's time and leaves a half-made stick.

import { access, constants, readFile, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { KnockstickError } from '../core/errors.js';
import { runAllowingFailure } from '../core/run.js';

/** What the device-mapper check looked at. */
export interface DeviceMapperFacts {
  /** /proc/misc's text (null: unreadable). */
  readonly procMisc: string | null;
  /** Whether /sys/module/dm_mod exists (device-mapper built in or loaded). */
  readonly dmModule: boolean;
}

/** Whether the kernel has device-mapper, as far as /proc/misc and /sys/module say. Pure. */
export function hasDeviceMapper(facts: DeviceMapperFacts): boolean {
  // /dev/mapper/control alone proves nothing: the node can exist (a container, a static /dev)
  // while the kernel has no driver behind it.
  return facts.dmModule || /^\s*\d+\s+device-mapper\s*$/m.test(facts.procMisc ?? '');
}

/** The first executable `name` on PATH (where the run would find it later), or undefined. */
export async function findProgram(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((d) => d !== '')];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if ((await stat(candidate).catch(() => null))?.isFile() !== true) continue;
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

async function deviceMapperFacts(): Promise<DeviceMapperFacts> {
  return {
    procMisc: await readFile('/proc/misc', 'utf8').catch(() => null),
    dmModule: (await stat('/sys/module/dm_mod').catch(() => null)) !== null,
  };
}

/**
 * Refuses (exit 6) unless root, cryptsetup and the kernel's device-mapper are all there. Nothing
 * is asked or written before this. A dm_mod module not loaded yet is loaded by opening
 * /dev/mapper/control (`dmsetup version` does that), so that is tried before refusing.
 */
export async function verifyDeviceMachine(env: NodeJS.ProcessEnv, invokedAs: string, check = { deviceMapper: true }): Promise<void> {
  if (process.geteuid?.() !== 0) throw new KnockstickError('USAGE', 'usbsetup needs root to partition, encrypt and format the stick', { hint: `run it with sudo: sudo ${invokedAs} ...` });
  if ((await findProgram('cryptsetup', env)) === undefined) {
    throw new KnockstickError('IO', 'cryptsetup is not installed: usbsetup needs it to encrypt the stick; nothing was asked or written', { hint: 'apt install cryptsetup (or your system\'s package of it)' });
  }
  if (!check.deviceMapper || hasDeviceMapper(await deviceMapperFacts())) return;
  const dmsetup = await findProgram('dmsetup', env);
  if (dmsetup !== undefined && (await runAllowingFailure({ file: dmsetup, args: ['version'], purpose: 'ask the kernel for device-mapper' })).exitCode === 0) return;
  throw new KnockstickError('IO', "this kernel has no device-mapper (not in /proc/misc, no /sys/module/dm_mod), which cryptsetup needs to open the encrypted stick; nothing was asked or written", {
    hint: 'modprobe dm_mod (or boot a kernel with CONFIG_BLK_DEV_DM); in a container, run usbsetup on the host. `usbsetup --into DIR` writes the files into a directory without it',
  });
}
