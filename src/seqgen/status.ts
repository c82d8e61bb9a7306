// seqgen status: what is left on each side and whether the sides agree. Pure report building.

import { basename } from 'node:path';
import { describeLockstep, healingCommand, healingOf, isHealthy, type Healing, type Lockstep } from '../core/lockstep.js';
import type { CallhomeState } from '../core/policy.js';
import { isLoose, type LoadedPair, type LoadedSequenceFile } from '../core/sequence-store.js';
import { unusedLines } from '../core/sequences.js';
import type { TornRepair } from '../core/torn.js';

/**
 * knockd 0.8 aborts (double free) when it consumes the last sequence of its file and will not start
 * with none left. At or below this many, status stops being polite.
 */
export const SERVER_DANGER_AT = 3;

export interface SideStatus {
  readonly path: string;
  readonly exists: boolean;
  readonly unused: number;
  readonly used: number;
  /** Line number of the next sequence knockd (or callhome) will use. */
  readonly nextLine: number | null;
  /** Permission bits as an octal string, e.g. "0600". */
  readonly mode: string | null;
}

export interface StatusReport {
  readonly ok: boolean;
  readonly server: SideStatus;
  readonly stick: SideStatus;
  readonly lockstep: Lockstep;
  /** What heals the lockstep, and `command`: what to run (null: in step, or only by hand). */
  readonly heal: Healing & { readonly command: string | null };
  /** The server's last line when an append was cut short in it, and what `seqgen repair` appends. */
  readonly torn: { readonly line: number; readonly repair: TornRepair['kind']; readonly command: string | null } | null;
  /** Temp files of killed runs in the locked directories; the next seqgen, callhome or repair removes them. */
  readonly staleTempFiles: readonly string[];
  readonly description: string;
  readonly warnings: readonly string[];
}

function side(loaded: LoadedSequenceFile): SideStatus {
  const unused = unusedLines(loaded.file);
  return {
    path: loaded.file.path,
    exists: loaded.exists,
    unused: unused.length,
    used: loaded.file.lines.filter((l) => l.state === 'used').length,
    nextLine: unused[0]?.lineNo ?? null,
    mode: loaded.mode === undefined ? null : `0${loaded.mode.toString(8).padStart(3, '0')}`,
  };
}

/** The paragraph about a torn last server line (see torn.ts). */
export function describeTorn(torn: NonNullable<LoadedSequenceFile['torn']>, serverPath: string, stickPath: string): string {
  const what = `${serverPath} line ${torn.line.lineNo} is torn: its last line has no newline, as when an append was cut short.`;
  switch (torn.repair.kind) {
    case 'complete':
      return `${what} It is the start of ${stickPath} line ${torn.repair.stickLine}; \`seqgen repair\` appends the rest of that line.`;
    case 'neutralise':
      return (
        `${what} It matches no line of ${stickPath}; \`seqgen repair\` appends to it a port knockd refuses and a blank line, ` +
        'so that knockd skips it and its "#" marks keep landing on the right lines.'
      );
    case 'by-hand':
      return `${what} It is too long to neutralise by appending; stop knockd and remove it by hand.`;
  }
}

export function buildStatus(
  pair: LoadedPair,
  warnBelow: number,
  invokedAs: string,
  state: CallhomeState,
  staleTempFiles: readonly string[] = [],
): StatusReport {
  const server = side(pair.server);
  const stick = side(pair.stick);
  const warnings: string[] = [];
  for (const s of [server, stick]) {
    if (!s.exists) warnings.push(`${s.path} does not exist`);
  }
  if (server.exists && server.unused <= SERVER_DANGER_AT) {
    warnings.push(
      `DANGER: ${server.path} has ${server.unused === 0 ? 'no' : `only ${server.unused}`} unused sequence(s) left. ` +
        'knockd 0.8 crashes when it consumes the last sequence of its file and will not start with none left, ' +
        `which locks you out. Run \`${invokedAs} 50\` now.`,
    );
  } else if (server.unused < warnBelow || stick.unused < warnBelow) {
    const low = Math.min(server.unused, stick.unused);
    warnings.push(`only ${low} unused sequence(s) left (warning below ${warnBelow}); run \`${invokedAs} 50\` soon`);
  }
  for (const [s, loaded] of [[server, pair.server], [stick, pair.stick]] as const) {
    if (isLoose(loaded.mode)) warnings.push(`${s.path} is readable or writable by others (mode ${s.mode}); run chmod 600 on it`);
  }
  if (staleTempFiles.length > 0) {
    warnings.push(
      `${staleTempFiles.length} temp file(s) left by killed runs (${staleTempFiles.map((p) => basename(p)).join(', ')}), ` +
        'each a copy of what was being written; the next seqgen, callhome or `seqgen repair` removes them',
    );
  }
  const healing = healingOf(pair.lockstep, pair.server.file, pair.stick.file, state);
  const torn = pair.server.torn;
  const ok = server.exists && stick.exists && isHealthy(healing) && torn === undefined;
  const description = [
    ...(torn === undefined ? [] : [describeTorn(torn, server.path, stick.path)]),
    describeLockstep(pair.lockstep, pair.server.file, pair.stick.file, healing),
  ].join('\n');
  return {
    ok,
    server,
    stick,
    lockstep: pair.lockstep,
    heal: { ...healing, command: healingCommand(healing) },
    torn: torn === undefined ? null : { line: torn.line.lineNo, repair: torn.repair.kind, command: torn.repair.kind === 'by-hand' ? null : 'seqgen repair' },
    staleTempFiles,
    description,
    warnings,
  };
}

export function formatStatus(report: StatusReport): string {
  const row = (label: string, s: SideStatus): string =>
    `${label} ${s.path}\n` +
    (s.exists
      ? `        ${s.unused} unused, ${s.used} used${s.nextLine === null ? '' : `, next on line ${s.nextLine}`}, mode ${s.mode}\n`
      : '        missing\n');
  return (
    row('server', report.server) +
    row('stick ', report.stick) +
    `${report.description}\n` +
    report.warnings.map((w) => `warning: ${w}\n`).join('')
  );
}
