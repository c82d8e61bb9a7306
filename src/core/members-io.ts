// The member registry on disk (members.ts has the model): where it is, reading it strictly,
// writing it atomically (0600), and the lock every command that changes members holds.

import { dirname, join } from 'node:path';
import { InvalidFileError } from './errors.js';
import type { PortRange } from './generate.js';
import { ensureDirectory, readTextIfExists, writeAtomically } from './files.js';
import { withDirectoryLocks } from './lock.js';
import { REGISTRY_NAME, activeMembers, formatRegistry, memberDraw, parseRegistry, type Member, type Registry } from './members.js';

/** sticks.conf lives next to server.conf (/etc/knockstick, or a server init --out staging dir). */
export function registryPathFor(serverConfigPath: string): string {
  return join(dirname(serverConfigPath), REGISTRY_NAME);
}

export interface LoadedRegistry {
  readonly path: string;
  readonly exists: boolean;
  readonly registry: Registry;
}

/** Reads sticks.conf; a missing one is empty. Any problem is an InvalidFileError naming file and line. */
export async function readRegistry(path: string): Promise<LoadedRegistry> {
  const text = await readTextIfExists(path);
  if (text === null) return { path, exists: false, registry: { members: [] } };
  const { registry, problems } = parseRegistry(text, path);
  if (problems.length > 0) throw new InvalidFileError(problems, `fix ${path}; nothing was written`);
  return { path, exists: true, registry };
}

export async function writeRegistry(path: string, registry: Registry): Promise<void> {
  await writeAtomically(path, formatRegistry(registry), { mode: 0o600 });
}

/**
 * Runs `fn` holding the members lock: a directory of its own (.sticks.lock next to sticks.conf),
 * not the directory sticks.conf is in, because `stick add` also runs seqgen, which locks the
 * one-time file's directory, and in a staging copy (server init --out) those are the same.
 */
export async function withRegistryLock<T>(registryPath: string, fn: () => Promise<T>): Promise<T> {
  const lockDir = join(dirname(registryPath), '.sticks.lock');
  await ensureDirectory(lockDir, { mode: 0o700 });
  return withDirectoryLocks([lockDir], { waitSeconds: 30 }, fn);
}

/** Every number in a one-time file, used lines included (the ports that line ever had). */
export async function portsInFile(path: string): Promise<Set<number>> {
  const ports = new Set<number>();
  const text = (await readTextIfExists(path)) ?? '';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('#') && !/^#\d/.test(t)) continue; // a comment, not a used line
    for (const m of t.matchAll(/\d+/g)) ports.add(Number(m[0]));
  }
  return ports;
}

/** Every port in the one-time files of the active members other than `member`. */
export async function otherDoorsPorts(registry: Registry, member: Pick<Member, 'name'>): Promise<Set<number>> {
  const ports = new Set<number>();
  for (const m of activeMembers(registry)) {
    if (m.name === member.name || m.oneTimeFile === undefined) continue;
    for (const p of await portsInFile(m.oneTimeFile)) ports.add(p);
  }
  return ports;
}

/**
 * For seqgen: where a refill of `serverFile` draws its ports from when the file is a member's door
 * (its pool, less the other doors' ports). Undefined when no registry names that file.
 */
export async function drawForServerFile(serverFile: string, serverConfigPath: string): Promise<{ member: string; range: PortRange; exclude: Set<number> } | undefined> {
  const { registry } = await readRegistry(registryPathFor(serverConfigPath));
  const member = activeMembers(registry).find((m) => m.oneTimeFile === serverFile);
  if (member === undefined) return undefined;
  return { member: member.name, ...memberDraw(registry, member, await otherDoorsPorts(registry, member)) };
}
