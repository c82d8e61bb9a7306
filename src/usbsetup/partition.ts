// A partition of N MiB at the end of the stick, so the rest stays an ordinary drive: a DOS partition table (readable by every OS), partition 1 = the rest as
// FAT32, partition 2 = the last N MiB for LUKS.

import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { KnockstickError } from '../core/errors.js';
import { run, runAllowingFailure, type ExternalCommand } from '../core/run.js';

const MIB = 2 ** 20;
/** Partitions start on a 1 MiB boundary (sfdisk's default alignment). */
const ALIGN_MIB = 1;
/** Smallest sensible ordinary partition in front of the secure one. */
const MIN_REST_MIB = 8;

export interface PartitionPlan {
  readonly restMib: number;
  readonly secureMib: number;
  /** sfdisk's input. */
  readonly script: string;
}

/** Pure: the table for a disk of `sizeBytes` with a secure partition of `secureMib` MiB at the end. */
export function planPartitions(sizeBytes: number, secureMib: number): PartitionPlan {
  const totalMib = Math.floor(sizeBytes / MIB);
  const restMib = totalMib - ALIGN_MIB - secureMib;
  if (restMib < MIN_REST_MIB) {
    throw new KnockstickError('USAGE', `--partition-mib ${secureMib} leaves ${Math.max(restMib, 0)} MiB of this ${totalMib} MiB disk for the ordinary part (need ${MIN_REST_MIB})`, {
      hint: 'choose a smaller partition, or leave out --partition-mib to encrypt the whole disk',
    });
  }
  // "c" = W95 FAT32 (LBA), "83" = Linux: what fdisk users expect to see for each half.
  return { restMib, secureMib, script: `label: dos\n,${restMib}MiB,c\n,+,83\n` };
}

/** /dev/sdb → /dev/sdb2; /dev/nvme0n1, /dev/mmcblk0, /dev/loop0 → …p2 (names ending in a digit). */
export function partitionPath(disk: string, number: number): string {
  return /\d$/.test(disk) ? `${disk}p${number}` : `${disk}${number}`;
}

/** Erases every filesystem, RAID and partition-table signature on `disk`. Pure. */
export function wipeCommand(disk: string): ExternalCommand {
  return { file: 'wipefs', args: ['--all', '--quiet', disk], purpose: `wipe the old signatures on ${disk}` };
}

/** The command lines that partition `disk` (sfdisk reads the table on stdin). Pure. */
export function partitionCommands(disk: string, plan: PartitionPlan): { wipe: ExternalCommand; sfdisk: ExternalCommand; partx: ExternalCommand } {
  return {
    wipe: wipeCommand(disk),
    sfdisk: { file: 'sfdisk', args: ['--quiet', '--wipe', 'always', disk], stdin: plan.script, purpose: `partition ${disk}` },
    partx: { file: 'partx', args: ['--update', disk], purpose: `tell the kernel about the partitions of ${disk}` },
  };
}

/** Writes the table, tells the kernel, and waits (bounded) for the partition devices. */
export async function partitionDisk(disk: string, plan: PartitionPlan): Promise<{ rest: string; secure: string }> {
  const commands = partitionCommands(disk, plan);
  await run(commands.wipe);
  await run(commands.sfdisk);
  // Loop devices and some kernels need telling; a kernel that knows them already may say the
  // partitions exist (exit 1): the wait below is what decides.
  await runAllowingFailure(commands.partx);
  const rest = partitionPath(disk, 1);
  const secure = partitionPath(disk, 2);
  for (let i = 0; i < 100 && !(existsSync(rest) && existsSync(secure)); i++) await sleep(50);
  if (!existsSync(secure)) throw new KnockstickError('IO', `partitioned ${disk}, but ${secure} did not appear within 5 s`, { hint: 'unplug and replug the stick, then run usbsetup again' });
  return { rest, secure };
}
