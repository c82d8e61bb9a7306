// doctor's findings about the members of a server (core/members.ts): who they are, and what does
// not fit together: a door without a record, a record without a door, a one-time file no door
// names, two doors whose sequences share a port, a panic port inside a door's sequences. Pure.

import { basename } from 'node:path';
import { formatProblem } from '../core/errors.js';
import type { KnockdDoor } from '../core/knockd-conf.js';
import { activeMembers, adoptLegacyDoor, parseRegistry } from '../core/members.js';
import { parseSequenceFile, unusedLines } from '../core/sequences.js';
import type { FileFact, Finding } from './checks.js';

export interface MembersFacts {
  /** sticks.conf (next to the server settings). */
  readonly registryPath: string;
  readonly registryText: string | null;
  /** Every file in the directories of the doors' one-time files (absolute paths). */
  readonly filesInDoorDirs: readonly string[];
  /** fwknopd's access.conf (SPA members, spa-members-checks.ts); undefined: not checked. */
  readonly spaAccess?: { readonly path: string; readonly text: string | null } | undefined;
}

const ok = (id: string, message: string): Finding => ({ id, severity: 'ok', message, fix: '' });
const bad = (id: string, severity: 'error' | 'warning', message: string, fix: string): Finding => ({ id, severity, message, fix });

/** The ports of a door's unused sequences (what knockd will still watch for). */
function unusedPorts(fact: FileFact | undefined, path: string): Set<number> {
  if (fact?.text == null) return new Set();
  return new Set(unusedLines(parseSequenceFile(fact.text, path, 'server').file).flatMap((l) => l.sequence.map((k) => k.port)));
}

export function checkMembers(doors: readonly KnockdDoor[], facts: MembersFacts, oneTimeFiles: ReadonlyMap<string, FileFact>): Finding[] {
  const findings: Finding[] = [];
  let registry = { members: [] as ReturnType<typeof parseRegistry>['registry']['members'] };
  if (facts.registryText !== null) {
    const parsed = parseRegistry(facts.registryText, facts.registryPath);
    if (parsed.problems.length > 0) {
      return [bad('members', 'error', `${facts.registryPath} has errors: ${parsed.problems.slice(0, 3).map(formatProblem).join('; ')}`, 'fix it; every stick command refuses to work until then')];
    }
    registry = { members: [...parsed.registry.members] };
  }
  const adoption = adoptLegacyDoor(registry, doors, '');
  const members = activeMembers(adoption.registry);
  const revoked = adoption.registry.members.filter((m) => m.revoked !== undefined).map((m) => m.name);
  const knockDoors = doors.filter((d) => d.oneTimeFile !== null);
  findings.push(
    ok(
      'members',
      `members: ${members.map((m) => `${m.name} (${m.method}, door ${m.door})`).join(', ') || 'none'}` +
        `${revoked.length > 0 ? `; revoked: ${revoked.join(', ')}` : ''}${adoption.adopted ? ` (door [ssh] is the member "ssh" of a server made before members; ${facts.registryPath} is written at the first stick add)` : ''}`,
    ),
  );
  // A door with no record: nobody knows whose it is, and revoke cannot remove it.
  const recorded = new Set(members.map((m) => m.door));
  for (const d of knockDoors) {
    if (!recorded.has(d.name)) findings.push(bad(`members:orphan-door:${d.name}`, 'warning', `door [${d.name}] has no member record in ${facts.registryPath}: whose stick opens it?`, `remove the stanza from knockd.conf (and its file) if no stick needs it, or record it in ${basename(facts.registryPath)}`));
  }
  // A record without a door: its stick opens nothing.
  const names = new Set(doors.map((d) => d.name));
  for (const m of members) {
    if (m.method === 'knock' && !names.has(m.door)) findings.push(bad(`members:no-door:${m.name}`, 'error', `member ${m.name} has no door [${m.door}] in knockd.conf: its stick opens nothing`, `knockstick stick revoke ${m.name}, then stick add it again under a new name`));
  }
  // A one-time file no door names: a revoked stick's sequences left behind, or a copy by hand.
  const named = new Set(knockDoors.map((d) => d.oneTimeFile as string));
  const candidates = new Set([...facts.filesInDoorDirs.filter((f) => /^stick-[a-z][a-z0-9-]*$/.test(basename(f))), ...adoption.registry.members.flatMap((m) => (m.oneTimeFile !== undefined && facts.filesInDoorDirs.includes(m.oneTimeFile) ? [m.oneTimeFile] : []))]);
  for (const f of candidates) {
    if (!named.has(f)) findings.push(bad(`members:orphan-file:${f}`, 'warning', `${f} is a one-time file no door names`, `remove it (rm ${f}) unless a door should use it`));
  }
  // Ports: no two doors share one (a knock for one would be a step of the other), no panic port.
  const ports = knockDoors.map((d) => ({ name: d.name, ports: unusedPorts(oneTimeFiles.get(d.oneTimeFile as string), d.oneTimeFile as string) }));
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const a = ports[i] as { name: string; ports: Set<number> };
      const b = ports[j] as { name: string; ports: Set<number> };
      const shared = [...a.ports].filter((p) => b.ports.has(p)).length;
      if (shared > 0) findings.push(bad(`members:shared-ports:${a.name}:${b.name}`, 'error', `doors [${a.name}] and [${b.name}] share ${shared} port(s) in their unused sequences`, `refill one from its own pool: the shared lines are spent by using them; or stick revoke one and add it again`));
    }
  }
  const panic = doors.find((d) => d.name === 'panic')?.sequence ?? [];
  for (const p of ports) {
    const inside = panic.filter((k) => p.ports.has(k.port)).length;
    if (inside > 0) findings.push(bad(`members:panic:${p.name}`, 'error', `${inside} panic port(s) appear in door [${p.name}]'s unused sequences: its knock could be a step of the panic knock`, 'knockstick panic rotate (it picks ports no sequence uses)'));
  }
  return findings;
}
