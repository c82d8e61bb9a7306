// stick list: every member with its method, door, unused sequences (the server's file), last door
// opening (knockd's log) and dates. Reads only.

import type { CommandContext } from '../core/command.js';
import { readTextIfExists } from '../core/files.js';
import { lastOpenings, parseDoorOpenings, type DoorOpening } from '../core/knockd-log.js';
import { formatPool, isActive, type Member } from '../core/members.js';
import { parseSequenceFile, unusedLines } from '../core/sequences.js';
import { loadServer } from './server.js';
import { readRegistry, registryPathFor } from '../core/members-io.js';

export interface MemberRow {
  readonly name: string;
  readonly method: Member['method'];
  readonly door: string;
  readonly state: 'active' | 'revoked' | 'no door';
  readonly oneTimeFile: string | null;
  readonly pool: string | null;
  /** Unused sequences in the server's file; null when there is none (spa, revoked, missing). */
  readonly unused: number | null;
  readonly lastOpened: { readonly at: string; readonly address: string } | null;
  readonly created: string;
  readonly revoked: string | null;
}

export function memberRows(members: readonly Member[], doors: ReadonlySet<string>, files: ReadonlyMap<string, string | null>, openings: ReadonlyMap<string, DoorOpening>): MemberRow[] {
  return members.map((m) => {
    const text = m.oneTimeFile === undefined ? null : (files.get(m.oneTimeFile) ?? null);
    const opened = openings.get(m.door);
    return {
      name: m.name,
      method: m.method,
      door: m.door,
      state: !isActive(m) ? 'revoked' : m.method === 'knock' && !doors.has(m.door) ? 'no door' : 'active',
      oneTimeFile: m.oneTimeFile ?? null,
      pool: m.pool === undefined ? null : formatPool(m.pool),
      unused: text === null || !isActive(m) ? null : unusedLines(parseSequenceFile(text, m.oneTimeFile as string, 'server').file).length,
      lastOpened: opened === undefined ? null : { at: new Date(opened.at).toISOString(), address: opened.address },
      created: m.created,
      revoked: m.revoked ?? null,
    };
  });
}

export function formatRows(rows: readonly MemberRow[], logNote: string): string {
  const when = (iso: string): string => iso.replace('T', ' ').replace(/:\d\d\.\d+Z$|:\d\dZ$/, 'Z').replace(/\.\d+Z$/, 'Z');
  const table = [['NAME', 'METHOD', 'DOOR', 'STATE', 'UNUSED', 'LAST OPENED', 'CREATED']];
  for (const r of rows) {
    table.push([r.name, r.method, r.door, r.state === 'revoked' ? `revoked ${when(r.revoked ?? '')}` : r.state, r.unused === null ? '-' : String(r.unused), r.lastOpened === null ? '-' : `${when(r.lastOpened.at)} from ${r.lastOpened.address}`, when(r.created)]);
  }
  const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)));
  const lines = table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  '));
  return `${lines.join('\n')}\n${logNote === '' ? '' : `${logNote}\n`}`;
}

export async function listMembers(o: { serverConfig: string; json: boolean }, context: CommandContext): Promise<number> {
  if ((await readTextIfExists(o.serverConfig)) === null) {
    // An SPA-only server (server init --method spa writes no server.conf): the registry alone.
    const { path, registry } = await readRegistry(registryPathFor(o.serverConfig));
    const rows = memberRows(registry.members, new Set(), new Map(), new Map());
    context.stdout.write(o.json ? `${JSON.stringify({ registry: path, adoptedLegacyDoor: false, log: null, members: rows }, null, 2)}\n` : formatRows(rows, 'no knockd here (SPA only): last openings are in fwknopd\'s log (syslog), not read.'));
    return 0;
  }
  const state = await loadServer(o.serverConfig, new Date().toISOString());
  const files = new Map<string, string | null>();
  for (const m of state.registry.members) if (m.oneTimeFile !== undefined && isActive(m)) files.set(m.oneTimeFile, await readTextIfExists(m.oneTimeFile).catch(() => null));
  const logfile = state.knockdConf.options.get('logfile')?.value;
  const logText = logfile === undefined ? null : await readTextIfExists(logfile).catch(() => null);
  const logNote = logfile === undefined ? 'knockd logs to syslog here (no logfile in [options]): last openings unknown.' : logText === null ? `${logfile} cannot be read: last openings unknown.` : '';
  const rows = memberRows(state.registry.members, new Set(state.knockdConf.doors.map((d) => d.name)), files, lastOpenings(parseDoorOpenings(logText ?? '')));
  context.stdout.write(o.json ? `${JSON.stringify({ registry: state.registryPath, adoptedLegacyDoor: state.adopted, log: logfile ?? null, members: rows }, null, 2)}\n` : formatRows(rows, logNote));
  return 0;
}
