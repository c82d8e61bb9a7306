// A partition of N MiB at the end of the stick, so the rest stays an ordinary drive: a DOS partition table (readable by every OS), partition 1 = the rest as
// FAT32, partition 2 = the last N MiB for LUKS.

import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { KnockstickError } from '../core/errors.js';

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

/** Writes the table, tells the kernel, and waits (bounded) for the partition devices. */
export async function partitionDisk(disk: string, plan: PartitionPlan): Promise<{ rest: string; secure: string }> {
  const wipe = await execa('wipefs', ['--all', '--quiet', disk], { reject: false, stdin: 'ignore' });
  if (wipe.exitCode !== 0) throw new KnockstickError('IO', `cannot wipe the old signatures on ${disk}: ${String(wipe.stderr).trim()}`);
  const result = await execa('sfdisk', ['--quiet', '--wipe', 'always', disk], { input: plan.script, reject: false });
  if (result.failed && result.exitCode === undefined) throw new KnockstickError('IO', 'sfdisk is not installed', { hint: 'apt install fdisk' });
  if (result.exitCode !== 0) throw new KnockstickError('IO', `cannot partition ${disk}: ${String(result.stderr).trim()}`);
  // Loop devices and some kernels need telling; harmless when the partitions are already known.
  await execa('partx', ['--update', disk], { reject: false, stdin: 'ignore' });
  const rest = partitionPath(disk, 1);
  const secure = partitionPath(disk, 2);
  for (let i = 0; i < 100 && !(existsSync(rest) && existsSync(secure)); i++) await sleep(50);
  if (!existsSync(secure)) throw new KnockstickError('IO', `partitioned ${disk}, but ${secure} did not appear within 5 s`, { hint: 'unplug and replug the stick, then run usbsetup again' });
  return { rest, secure };
}
