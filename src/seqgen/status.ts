// seqgen status: what is left on each side and whether the sides agree. Pure report building.

import { describeLockstep, isWritable, type Lockstep } from '../core/lockstep.js';
import { isLoose, type LoadedPair, type LoadedSequenceFile } from '../core/sequence-store.js';
import { unusedLines } from '../core/sequences.js';

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

export function buildStatus(pair: LoadedPair, warnBelow: number, invokedAs: string): StatusReport {
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
  const ok = server.exists && stick.exists && isWritable(pair.lockstep);
  return {
    ok,
    server,
    stick,
    lockstep: pair.lockstep,
    description: describeLockstep(pair.lockstep, pair.server.file, pair.stick.file),
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
