// doctor's findings about SPA members (members/spa.ts): every active SPA member has its stanza in
// access.conf, every framed stanza there has an active member, and fwknopd would read the file. Pure.

import { parseAccessConf } from '../core/access-conf.js';
import { formatProblem } from '../core/errors.js';
import { activeMembers, parseRegistry } from '../core/members.js';
import type { Finding } from './checks.js';

const bad = (id: string, severity: 'error' | 'warning', message: string, fix: string): Finding => ({ id, severity, message, fix });

export function checkSpaMembers(registryPath: string, registryText: string | null, access: { path: string; text: string | null }): Finding[] {
  const members = registryText === null ? [] : activeMembers(parseRegistry(registryText, registryPath).registry).filter((m) => m.method === 'spa');
  if (access.text === null) {
    return members.map((m) => bad(`members:spa-no-stanza:${m.name}`, 'error', `SPA member ${m.name} has no stanza: ${access.path} does not exist`, `knockstick stick revoke ${m.name}, then add it again`));
  }
  const parsed = parseAccessConf(access.text, access.path);
  if (parsed.problems.length > 0) return [bad('members:access.conf', 'error', `${access.path}: ${parsed.problems.slice(0, 3).map(formatProblem).join('; ')}`, 'fix it: fwknopd refuses to start on it, and stick add/revoke refuse to change it')];
  const framed = new Set(parsed.frames.map((f) => f.name));
  const findings: Finding[] = [];
  for (const m of members) if (!framed.has(m.name)) findings.push(bad(`members:spa-no-stanza:${m.name}`, 'error', `SPA member ${m.name} has no stanza in ${access.path}: its stick opens nothing`, `knockstick stick revoke ${m.name}, then add it again under a new name`));
  const recorded = new Set(members.map((m) => m.name));
  for (const name of framed) if (!recorded.has(name)) findings.push(bad(`members:spa-orphan:${name}`, 'warning', `${access.path} has a stanza for stick ${name}, which is not an active member: its keys still open the door`, `remove the lines from "# knockstick stick ${name}:" to "# knockstick end of stick ${name}" (or record it), then restart fwknopd`));
  if (findings.length === 0 && members.length > 0) findings.push({ id: 'members:spa', severity: 'ok', message: `SPA members with their stanza in ${access.path}: ${members.map((m) => m.name).join(', ')}`, fix: '' });
  return findings;
}
