// The members of a server: one record per stick that may open a door here. Pure (the files are
// read and written in members-io.ts).
//
// Why a registry: with knockd a one-time sequence belongs to a door (a stanza and its file), so two
// sticks sharing a door would consume each other's lines. Each stick gets a door of its own, and
// the registry says which door is whose, which ports its sequences may use, and which key it
// carries (for `stick revoke --authorized-keys`).
//
// The file (/etc/knockstick/sticks.conf, next to server.conf; mode 0600), knockd.conf's style:
//
//   # knockstick members (stick add / list / revoke)
//   [alice]
//   method        = knock
//   door          = stick-alice                  knockd stanza (knock) or fwknopd stanza id (spa)
//   one_time_file = /etc/knockd/stick-alice      knock only
//   pool          = 17152-21183                  knock only: LOW-HIGH[,LOW-HIGH...] or "rest"
//   created       = 2026-12-01T16:50:00.000Z
//   ssh_key       = ssh-ed25519 AAAAC3...        optional: the stick's public key (type and blob)
//   revoked       = 2026-12-02T09:00:00.000Z     only once revoked (the record stays, the door is gone)
//
// Ports: knockd watches every door's current sequence at once, and its state is per (address,
// door), so two doors only interfere when one address knocks both at once (a shared NAT). Still,
// each door's sequences come from a pool of ports no other door's pool holds, and never from the
// panic sequence: a door's knock can then never be a step of another door's sequence or of panic.
// Pools are blocks of POOL_BLOCK_SIZE ports; "rest" (a door adopted from a server made before
// members, whose file already spans the whole range) is every port no other pool holds. On top of
// the pools, a door's new sequences also avoid every port in the other doors' files (a file made
// before pools existed may hold ports anywhere).

import { usageError, type FileProblem } from './errors.js';
import type { PortRange, RandomSource } from './generate.js';
import { DEFAULT_RANGE } from './generate.js';

export type MemberMethod = 'knock' | 'spa';

/** Ports a door's sequences come from: explicit ranges, or everything the other pools leave. */
export type PortPool = { readonly kind: 'ranges'; readonly ranges: readonly PortRange[] } | { readonly kind: 'rest' };

export interface Member {
  readonly name: string;
  readonly method: MemberMethod;
  /** knockd stanza name (knock), or the SPA stanza's identifier (spa; memspa defines it). */
  readonly door: string;
  /** knock: the door's one_time_sequences file. */
  readonly oneTimeFile?: string | undefined;
  /** knock: where its sequences' ports come from. */
  readonly pool?: PortPool | undefined;
  /** ISO 8601. */
  readonly created: string;
  /** The stick's ssh public key, "TYPE BASE64" (no comment), if known. */
  readonly sshKey?: string | undefined;
  /** ISO 8601, once revoked: the record stays (list shows it, the name is never reused). */
  readonly revoked?: string | undefined;
}

export interface Registry {
  readonly members: readonly Member[];
}

export const REGISTRY_NAME = 'sticks.conf';
/** The door a server made by `server init` before members has; adopted as the member of this name. */
export const LEGACY_DOOR = 'ssh';
export const STICK_DOOR_PREFIX = 'stick-';
/**
 * Member names go into a knockd section header, a file name, a shell-quoted command line and the
 * registry: lower-case letters, digits and "-", starting with a letter, at most 32 characters.
 */
export const MEMBER_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const RESERVED_NAMES = new Set(['options', 'panic']);

export const POOL_BLOCK_SIZE = 4032;
/** 1024-65535 in 16 blocks of POOL_BLOCK_SIZE: at most 16 knock members with their own block. */
export const POOL_BLOCKS = Math.floor((DEFAULT_RANGE.high - DEFAULT_RANGE.low + 1) / POOL_BLOCK_SIZE);

const KEYS = ['method', 'door', 'one_time_file', 'pool', 'created', 'ssh_key', 'revoked'] as const;

export function memberNameProblem(name: string): string | undefined {
  if (!MEMBER_NAME.test(name)) return `${JSON.stringify(name)} is not a stick name: use a lower-case letter, then letters, digits or "-" (at most 32)`;
  if (RESERVED_NAMES.has(name)) return `${name} is reserved (a knockd section of its own)`;
  return undefined;
}

/** Throws a usage error naming what is wrong with a stick name. */
export function checkMemberName(name: string): void {
  const problem = memberNameProblem(name);
  if (problem !== undefined) throw usageError(problem, 'choose another NAME');
}

/** The knockd stanza of a member's door. */
export function doorNameFor(name: string): string {
  return `${STICK_DOOR_PREFIX}${name}`;
}

export function isActive(m: Member): boolean {
  return m.revoked === undefined;
}

export function activeMembers(r: Registry): Member[] {
  return r.members.filter(isActive);
}

export function findMember(r: Registry, name: string): Member | undefined {
  return r.members.find((m) => m.name === name);
}

export function formatPool(pool: PortPool): string {
  return pool.kind === 'rest' ? 'rest' : pool.ranges.map((r) => (r.low === r.high ? `${r.low}` : `${r.low}-${r.high}`)).join(',');
}

export function parsePool(value: string): PortPool | string {
  if (value === 'rest') return { kind: 'rest' };
  const ranges: PortRange[] = [];
  for (const item of value.split(',')) {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(item);
    const low = Number(m?.[1]);
    const high = m?.[2] === undefined ? low : Number(m[2]);
    if (m === null || !(low >= 1 && high <= 65535 && low <= high)) return `pool: ${JSON.stringify(item.trim())} is not a port or LOW-HIGH range within 1-65535 (or write "rest")`;
    ranges.push({ low, high });
  }
  return { kind: 'ranges', ranges };
}

const inRanges = (ranges: readonly PortRange[], port: number): boolean => ranges.some((r) => port >= r.low && port <= r.high);

/** Parses sticks.conf. Pure; every problem with its line (unknown keys, duplicates, missing fields). */
export function parseRegistry(text: string, path: string): { registry: Registry; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const problem = (line: number, message: string): void => void problems.push({ file: path, line, message });
  const sections: { name: string; line: number; values: Map<string, { value: string; line: number }> }[] = [];
  text.split('\n').forEach((full, index) => {
    const line = index + 1;
    const trimmed = full.replace(/\r$/, '').trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const header = /^\[(.*)\]$/.exec(trimmed);
    if (header !== null) {
      const name = header[1] as string;
      const bad = name === LEGACY_DOOR ? undefined : memberNameProblem(name);
      if (bad !== undefined) problem(line, bad);
      const earlier = sections.find((s) => s.name === name);
      if (earlier !== undefined) problem(line, `[${name}] appears twice (also line ${earlier.line})`);
      sections.push({ name, line, values: new Map() });
      return;
    }
    const section = sections[sections.length - 1];
    const eq = trimmed.indexOf('=');
    if (section === undefined) return problem(line, 'expected a [NAME] section before any "key = value"');
    if (eq <= 0) return problem(line, 'expected "key = value"');
    const key = trimmed.slice(0, eq).trim().toLowerCase();
    const value = trimmed.slice(eq + 1).trim();
    if (!(KEYS as readonly string[]).includes(key)) return problem(line, `unknown key ${JSON.stringify(key)} (known: ${KEYS.join(', ')})`);
    const earlier = section.values.get(key);
    if (earlier !== undefined) return problem(line, `${key} is set twice in [${section.name}] (first on line ${earlier.line})`);
    section.values.set(key, { value, line });
  });
  const members: Member[] = [];
  const doors = new Map<string, string>();
  for (const s of sections) {
    const get = (key: string): string | undefined => s.values.get(key)?.value;
    const at = (key: string): number => s.values.get(key)?.line ?? s.line;
    const method = get('method');
    if (method !== 'knock' && method !== 'spa') problem(at('method'), `[${s.name}]: method must be knock or spa, got ${JSON.stringify(method ?? '')}`);
    const door = get('door');
    if (door === undefined || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(door)) problem(at('door'), `[${s.name}]: door must name a stanza (letters, digits, . _ -)`);
    else if (doors.has(door)) problem(at('door'), `[${s.name}]: door ${door} is also [${doors.get(door)}]'s`);
    else doors.set(door, s.name);
    const oneTimeFile = get('one_time_file');
    if (oneTimeFile !== undefined && !/^\/[A-Za-z0-9._/-]+$/.test(oneTimeFile)) problem(at('one_time_file'), `[${s.name}]: one_time_file must be an absolute path (letters, digits, . _ - /)`);
    const poolText = get('pool');
    const pool = poolText === undefined ? undefined : parsePool(poolText);
    if (typeof pool === 'string') problem(at('pool'), `[${s.name}]: ${pool}`);
    if (method === 'knock' && (oneTimeFile === undefined || poolText === undefined)) problem(s.line, `[${s.name}]: a knock member needs one_time_file and pool`);
    const created = get('created');
    if (created === undefined || Number.isNaN(Date.parse(created))) problem(at('created'), `[${s.name}]: created must be a date (ISO 8601)`);
    const revoked = get('revoked');
    if (revoked !== undefined && Number.isNaN(Date.parse(revoked))) problem(at('revoked'), `[${s.name}]: revoked must be a date (ISO 8601)`);
    const sshKey = get('ssh_key');
    if (sshKey !== undefined && parseKeyBlob(sshKey) === undefined) problem(at('ssh_key'), `[${s.name}]: ssh_key must be "TYPE BASE64" (a public key without its comment)`);
    members.push({
      name: s.name,
      method: method === 'spa' ? 'spa' : 'knock',
      door: door ?? '',
      oneTimeFile,
      pool: typeof pool === 'string' ? undefined : pool,
      created: created ?? '',
      sshKey,
      revoked,
    });
  }
  // Two explicit pools that overlap would let two doors share ports.
  const explicit = members.filter((m) => isActive(m) && m.pool?.kind === 'ranges');
  for (let i = 0; i < explicit.length; i++) {
    for (let j = i + 1; j < explicit.length; j++) {
      const a = explicit[i] as Member;
      const b = explicit[j] as Member;
      if (poolsOverlap(a.pool as PortPool, b.pool as PortPool)) problem(0, `the pools of [${a.name}] and [${b.name}] overlap: their doors could share ports`);
    }
  }
  if (members.filter((m) => isActive(m) && m.pool?.kind === 'rest').length > 1) problem(0, 'only one member may have pool = rest');
  return { registry: { members }, problems: problems.sort((a, b) => a.line - b.line) };
}

function poolsOverlap(a: PortPool, b: PortPool): boolean {
  if (a.kind === 'rest' || b.kind === 'rest') return true;
  return a.ranges.some((x) => b.ranges.some((y) => x.low <= y.high && y.low <= x.high));
}

export function formatRegistry(r: Registry): string {
  const out = ['# knockstick members: one [NAME] per stick (knockstick stick add / list / revoke; see its --help).', '# Written by knockstick; a revoked member stays listed so its name is never reused.'];
  for (const m of r.members) {
    out.push('', `[${m.name}]`, `method = ${m.method}`, `door = ${m.door}`);
    if (m.oneTimeFile !== undefined) out.push(`one_time_file = ${m.oneTimeFile}`);
    if (m.pool !== undefined) out.push(`pool = ${formatPool(m.pool)}`);
    out.push(`created = ${m.created}`);
    if (m.sshKey !== undefined) out.push(`ssh_key = ${m.sshKey}`);
    if (m.revoked !== undefined) out.push(`revoked = ${m.revoked}`);
  }
  return `${out.join('\n')}\n`;
}

/** "TYPE BASE64" of an authorized_keys or .pub line (options and comment dropped), if it has one. */
export function parseKeyBlob(line: string): string | undefined {
  const m = /(?:^|\s)((?:ssh|ecdsa|sk-ssh|sk-ecdsa)-[A-Za-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)/.exec(line);
  return m === null ? undefined : `${m[1]} ${m[2]}`;
}

/** The explicit pools members hold; revoked members' pools are free again. */
function takenBlocks(r: Registry): Set<number> {
  const taken = new Set<number>();
  for (const m of activeMembers(r)) {
    if (m.pool?.kind !== 'ranges') continue;
    for (let b = 0; b < POOL_BLOCKS; b++) {
      const block = blockRange(b);
      if (poolsOverlap(m.pool, { kind: 'ranges', ranges: [block] })) taken.add(b);
    }
  }
  return taken;
}

export function blockRange(b: number): PortRange {
  const low = DEFAULT_RANGE.low + b * POOL_BLOCK_SIZE;
  return { low, high: low + POOL_BLOCK_SIZE - 1 };
}

/**
 * A new member's pool: a free block, chosen at random (CSPRNG in production) so that a door's
 * ports say nothing about when it was added. Throws when every block is taken.
 */
export function allocatePool(r: Registry, rng: RandomSource): PortPool {
  const taken = takenBlocks(r);
  const free = Array.from({ length: POOL_BLOCKS }, (_, b) => b).filter((b) => !taken.has(b));
  if (free.length === 0) throw usageError(`every one of the ${POOL_BLOCKS} port pools is taken: this server has as many knock doors as it can keep apart`, 'revoke a stick you no longer use');
  return { kind: 'ranges', ranges: [blockRange(free[rng.int(free.length)] as number)] };
}

/** Whether `port` is in `member`'s pool ("rest": in no other active member's explicit pool). */
export function poolHolds(r: Registry, member: Member, port: number): boolean {
  const pool = member.pool;
  if (pool === undefined) return false;
  if (pool.kind === 'ranges') return inRanges(pool.ranges, port);
  return !activeMembers(r).some((o) => o.name !== member.name && o.pool?.kind === 'ranges' && inRanges(o.pool.ranges, port));
}

/**
 * Where `member`'s new sequences come from, as generateSequences takes it: a range (the hull of its
 * pool, so a block of 4032 ports costs a set of at most that many) and the ports in it they must
 * not use: those outside its pool, and `otherDoorsPorts` (every port in the other doors' files,
 * used lines included). Panic and the SSH port come on top from the settings (config.ts).
 */
export function memberDraw(r: Registry, member: Member, otherDoorsPorts: ReadonlySet<number>): { range: PortRange; exclude: Set<number> } {
  const pool = member.pool;
  const range = pool?.kind === 'ranges' ? { low: Math.min(...pool.ranges.map((x) => x.low)), high: Math.max(...pool.ranges.map((x) => x.high)) } : DEFAULT_RANGE;
  const exclude = new Set<number>();
  for (const p of otherDoorsPorts) if (p >= range.low && p <= range.high) exclude.add(p);
  if (pool === undefined) {
    for (let p = range.low; p <= range.high; p++) exclude.add(p);
  } else if (pool.kind === 'ranges') {
    for (let p = range.low; p <= range.high; p++) if (!inRanges(pool.ranges, p)) exclude.add(p);
  } else {
    for (const o of activeMembers(r)) if (o.name !== member.name && o.pool?.kind === 'ranges') for (const x of o.pool.ranges) for (let p = x.low; p <= x.high; p++) exclude.add(p);
  }
  return { range, exclude };
}

/** `r` with `member` added (its name unused so far, revoked members included). */
export function withMember(r: Registry, member: Member): Registry {
  if (findMember(r, member.name) !== undefined) throw usageError(`a stick named ${member.name} is already registered${findMember(r, member.name)?.revoked === undefined ? '' : ' (revoked; names are never reused)'}`, 'choose another NAME');
  return { members: [...r.members, member] };
}

export function withRevoked(r: Registry, name: string, when: string): Registry {
  return { members: r.members.map((m) => (m.name === name ? { ...m, revoked: when } : m)) };
}

/**
 * Migration: the registry as it should be for the doors knockd.conf has. A server made by
 * `server init` before members has door [ssh] and no registry: that door becomes member "ssh",
 * pool "rest" (its file spans the whole range already), so its stick keeps working untouched.
 * Only the legacy door is adopted; other doors without a record are doctor's orphans.
 */
export function adoptLegacyDoor(r: Registry, doors: readonly { name: string; oneTimeFile: string | null }[], now: string): { registry: Registry; adopted: boolean } {
  const legacy = doors.find((d) => d.name === LEGACY_DOOR && d.oneTimeFile !== null);
  if (legacy === undefined || r.members.some((m) => m.door === LEGACY_DOOR || m.name === LEGACY_DOOR)) return { registry: r, adopted: false };
  const member: Member = { name: LEGACY_DOOR, method: 'knock', door: LEGACY_DOOR, oneTimeFile: legacy.oneTimeFile as string, pool: { kind: 'rest' }, created: now };
  return { registry: { members: [member, ...r.members] }, adopted: true };
}
