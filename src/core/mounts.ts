// What is mounted where (/proc/self/mountinfo) and which processes still use a mount (/proc/PID's
// cwd, root, open files and mapped files), without fuser or lsof: the stick is also unplugged on
// machines that have neither.

import { readFile, readdir, readlink } from 'node:fs/promises';

export interface Mount {
  /** "major:minor" of the mounted device. */
  readonly device: string;
  readonly mountpoint: string;
  readonly fstype: string;
  readonly source: string;
  readonly options: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountinfo(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const before = line.slice(0, dash).split(' ');
    const after = line.slice(dash + 3).split(' ');
    if (before.length < 6 || after.length < 2) continue;
    mounts.push({
      device: before[2] as string,
      mountpoint: unescapeMountinfo(before[4] as string),
      options: before[5] as string,
      fstype: after[0] as string,
      source: unescapeMountinfo(after[1] as string),
    });
  }
  return mounts;
}

export async function readMounts(): Promise<Mount[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

export function mountAt(mounts: readonly Mount[], mountpoint: string): Mount | undefined {
  return [...mounts].reverse().find((m) => m.mountpoint === mountpoint);
}

export interface ProcessUse {
  readonly pid: number;
  readonly command: string;
  /** How it uses the mount: "working directory", "open file PATH", ... */
  readonly how: string;
}

const inside = (path: string, mountpoint: string): boolean => path === mountpoint || path.startsWith(mountpoint.endsWith('/') ? mountpoint : `${mountpoint}/`);

/** Processes with their working directory, root, an open file or a mapped file under `mountpoint`. */
export async function processesUsing(mountpoint: string, exceptPid = process.pid): Promise<ProcessUse[]> {
  const uses: ProcessUse[] = [];
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  for (const pid of pids) {
    if (pid === exceptPid) continue;
    const base = `/proc/${pid}`;
    const how = await firstUse(base, mountpoint).catch(() => undefined);
    if (how === undefined) continue;
    const command = (await readFile(`${base}/comm`, 'utf8').catch(() => '?')).trim();
    uses.push({ pid, command, how });
  }
  return uses;
}

async function firstUse(base: string, mountpoint: string): Promise<string | undefined> {
  const link = (name: string): Promise<string | undefined> => readlink(`${base}/${name}`).catch(() => undefined);
  const cwd = await link('cwd');
  if (cwd !== undefined && inside(cwd, mountpoint)) return `working directory ${cwd}`;
  const root = await link('root');
  if (root !== undefined && root !== '/' && inside(root, mountpoint)) return `root directory ${root}`;
  const fds = await readdir(`${base}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await link(`fd/${fd}`);
    if (target !== undefined && inside(target.replace(/ \(deleted\)$/, ''), mountpoint)) return `open file ${target}`;
  }
  const maps = await readFile(`${base}/maps`, 'utf8').catch(() => '');
  for (const line of maps.split('\n')) {
    const path = line.split(/\s+/).slice(5).join(' ');
    if (path.startsWith('/') && inside(path, mountpoint)) return `mapped file ${path}`;
  }
  return undefined;
}
