// Which disks usbsetup may erase. `lsblk --json` is read once; the decisions are pure functions of
// it, so the rules ("never the disk holding /", "never a disk with anything mounted") are unit
// tested without a single real disk.

import { run } from './run.js';

export interface BlockDevice {
  readonly name: string;
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly model: string | null;
  readonly tran: string | null;
  readonly rm: boolean;
  readonly ro: boolean;
  readonly mountpoints: readonly (string | null)[];
  readonly fstype: string | null;
  readonly children?: readonly BlockDevice[];
}

export const LSBLK_COLUMNS = 'NAME,PATH,TYPE,SIZE,MODEL,TRAN,RM,RO,MOUNTPOINTS,FSTYPE';

/** lsblk's JSON (util-linux 2.37+, `-J -b -o LSBLK_COLUMNS`); older ones print "0"/"1" for booleans. */
export function parseLsblk(json: string): BlockDevice[] {
  const data = JSON.parse(json) as { blockdevices?: unknown[] };
  const normalise = (raw: Record<string, unknown>): BlockDevice => ({
    name: String(raw.name),
    path: String(raw.path ?? `/dev/${String(raw.name)}`),
    type: String(raw.type),
    size: Number(raw.size ?? 0),
    model: typeof raw.model === 'string' ? raw.model.trim() : null,
    tran: typeof raw.tran === 'string' ? raw.tran : null,
    rm: raw.rm === true || raw.rm === '1' || raw.rm === 1,
    ro: raw.ro === true || raw.ro === '1' || raw.ro === 1,
    mountpoints: Array.isArray(raw.mountpoints) ? (raw.mountpoints as (string | null)[]) : raw.mountpoint == null ? [] : [String(raw.mountpoint)],
    fstype: typeof raw.fstype === 'string' ? raw.fstype : null,
    ...(Array.isArray(raw.children) ? { children: (raw.children as Record<string, unknown>[]).map(normalise) } : {}),
  });
  return (data.blockdevices ?? []).map((d) => normalise(d as Record<string, unknown>));
}

function descendants(device: BlockDevice): BlockDevice[] {
  return [device, ...(device.children ?? []).flatMap(descendants)];
}

/** Everything mounted from this disk or anything on it (partitions, open LUKS volumes, swap). */
export function mountsOn(device: BlockDevice): string[] {
  return descendants(device).flatMap((d) => d.mountpoints.filter((m): m is string => m !== null && m !== ''));
}

/** Why this disk must not be erased, or undefined when it may be. */
export function refusalReason(device: BlockDevice): string | undefined {
  const mounts = mountsOn(device);
  if (mounts.includes('/')) return `${device.path} holds the running system (/)`;
  if (mounts.length > 0) return `${device.path} has mounted filesystems (${mounts.join(', ')}): unmount them first`;
  const open = descendants(device).filter((d) => d !== device && d.type === 'crypt');
  if (open.length > 0) return `${device.path} has an open encrypted volume (${open.map((d) => d.name).join(', ')}): close it first (secureoff)`;
  if (device.ro) return `${device.path} is read-only`;
  if (device.size === 0) return `${device.path} has no medium (size 0)`;
  return undefined;
}

/** The disks the wizard offers: removable or USB, whole disks only. */
export function candidateDisks(devices: readonly BlockDevice[]): BlockDevice[] {
  return devices.filter((d) => d.type === 'disk' && (d.rm || d.tran === 'usb'));
}

export function describeDisk(device: BlockDevice): string {
  const gib = device.size / 2 ** 30;
  const size = gib >= 1 ? `${gib.toFixed(1)} GiB` : `${Math.round(device.size / 2 ** 20)} MiB`;
  return [device.path, size, device.model ?? 'unknown model', device.tran ?? (device.rm ? 'removable' : '')].filter((s) => s !== '').join(', ');
}

export async function listBlockDevices(path?: string): Promise<BlockDevice[]> {
  const { stdout } = await run({ file: 'lsblk', args: ['-J', '-b', '-o', LSBLK_COLUMNS, ...(path === undefined ? [] : [path])], purpose: `list ${path ?? 'the disks'}` });
  return parseLsblk(stdout);
}
