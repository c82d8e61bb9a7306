// Changing knockd.conf under a running knockd: knockd has no check mode and dies on a config error
// at SIGHUP, so a new file is checked by our model (knockd-conf.ts), its one-time files are checked
// (a missing or spent one makes knockd exit at reload), and, as root, the real knockd reads it in a
// throwaway namespace (knockd-probe.ts), all before it is written. Then SIGHUP by the pidfile: the
// pid stays the same, and it is checked to be alive afterwards.

import { kill } from 'node:process';
import { InvalidFileError, KnockstickError } from './errors.js';
import { readTextIfExists } from './files.js';
import { parseKnockdConf } from './knockd-conf.js';
import { probeKnockd, type ProbeResult } from './knockd-probe.js';
import { isProcessAlive } from './process.js';
import { parseSequenceFile, unusedLines } from './sequences.js';

/**
 * Throws unless `text` is a knockd.conf knockd will load at SIGHUP as we read it. Returns the
 * probe's verdict: 'skipped' (not root, no knockd) means the file may be written but not reloaded.
 */
export async function verifyNewKnockdConf(text: string, path: string): Promise<ProbeResult> {
  await checkKnockdConfModel(text, path);
  const probe = await probeKnockd(text);
  if (probe.kind === 'differs' || (probe.kind === 'agrees' && !probe.accepted)) {
    const what = probe.kind === 'differs' ? probe.differences.join('; ') : `it refuses it: ${probe.knockdSays}`;
    throw new KnockstickError('INVALID_FILE', `the real knockd reads the new ${path} differently from us: ${what}`, { hint: 'nothing was written or reloaded; please report this (our model of knockd is wrong there)' });
  }
  return probe;
}

/** What knockd checks at SIGHUP (our model of it, and one unused line in each one-time file), and what it would not notice. Throws; writes nothing. */
export async function checkKnockdConfModel(text: string, path: string): Promise<void> {
  const { conf, problems } = parseKnockdConf(text, path);
  for (const door of conf.doors) {
    if (door.oneTimeFile === null) continue;
    const file = await readTextIfExists(door.oneTimeFile);
    const unused = file === null ? 0 : unusedLines(parseSequenceFile(file, door.oneTimeFile, 'server').file).length;
    if (unused === 0) {
      problems.push({ file: path, line: door.line, message: `[${door.name}]: ${door.oneTimeFile} ${file === null ? 'does not exist' : 'has no unused sequence'}; knockd exits at reload` });
    }
  }
  if (problems.length > 0) throw new InvalidFileError(problems, 'knockd dies on a config error at SIGHUP, so nothing was written or reloaded');
}

export type ReloadOutcome = { readonly kind: 'reloaded'; readonly pid: number } | { readonly kind: 'not-running' } | { readonly kind: 'not-probed'; readonly pid: number; readonly reason: string };

/** The live pid in `pidfile`, if any. */
export async function knockdPid(pidfile: string): Promise<number | undefined> {
  const text = await readTextIfExists(pidfile).catch(() => null);
  const pid = text === null ? NaN : Number(text.trim());
  return Number.isInteger(pid) && pid > 1 && isProcessAlive(pid) ? pid : undefined;
}

/** SIGHUP knockd by its pidfile (only when the real knockd read the file first), then check it lives. */
export async function reloadKnockd(pidfile: string, probe: ProbeResult): Promise<ReloadOutcome> {
  const pid = await knockdPid(pidfile);
  if (pid === undefined) return { kind: 'not-running' };
  if (probe.kind === 'skipped') return { kind: 'not-probed', pid, reason: probe.reason };
  kill(pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  if (!isProcessAlive(pid)) {
    throw new KnockstickError('INTERNAL', `knockd (pid ${pid}) died while reloading its config`, { hint: "check knockd's log; the config passed our checks, so please report this" });
  }
  return { kind: 'reloaded', pid };
}

/** One line for the report. */
export function describeReload(outcome: ReloadOutcome, what: string): string {
  switch (outcome.kind) {
    case 'reloaded':
      return `Reloaded knockd (pid ${outcome.pid}, unchanged): ${what}.`;
    case 'not-running':
      return `knockd is not running: ${what} when it starts.`;
    case 'not-probed':
      return `Not reloaded: the real knockd could not read the new file first (${outcome.reason}). Check it with \`knockstick doctor\` as root, then reload: kill -HUP ${outcome.pid} (until then: not ${what}).`;
  }
}
