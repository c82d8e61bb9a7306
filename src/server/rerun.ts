// What a rerun of `server init` does with the files already there, decided purely: a file that
// holds what we would write is left alone ("unchanged"), a missing one is written, Debian's stock
// sample /etc/knockd.conf is adopted (it is the knockd package's example, with doors that append
// behind a DROP and never match), and anything else that differs is someone's edit: shown as a
// diff and replaced only with --force, after a backup. Sequence files are never part of this: they
// are only ever created or left as they are (knockd keeps its file open and marks lines in place).

import { createHash } from 'node:crypto';
import type { PlannedFile } from './plan.js';

/**
 * SHA-256 of /etc/knockd.conf as Debian's knockd package ships it (0.8-2, bookworm; the same text
 * as upstream knock 0.8's knockd.conf: [options] UseSyslog, [openSSH], [closeSSH], [openHTTPS]).
 * Other package versions are recognised through dpkg's own record of the conffile's md5.
 */
export const DEBIAN_SAMPLE_SHA256 = new Set(['b49e1c1843b9eb879d3e09b829233ab9068cf131213a008c9a59c6277cd539ee']);

/**
 * Is `text` the knockd package's unmodified sample? `packageMd5` is the md5 dpkg recorded for
 * /etc/knockd.conf when it installed the package (`dpkg-query -W -f='${Conffiles}' knockd`), if any.
 * Byte-identical only: one changed character makes it the user's file.
 */
export function isDebianSample(text: string | Buffer, packageMd5: string | undefined): boolean {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  if (DEBIAN_SAMPLE_SHA256.has(createHash('sha256').update(bytes).digest('hex'))) return true;
  return packageMd5 !== undefined && /^[0-9a-f]{32}$/.test(packageMd5) && createHash('md5').update(bytes).digest('hex') === packageMd5;
}

/** dpkg-query's Conffiles field: the md5 recorded for `path`, if listed (and not obsolete). */
export function conffileMd5(conffiles: string, path: string): string | undefined {
  for (const line of conffiles.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === path && words[1] !== undefined && /^[0-9a-f]{32}$/.test(words[1]) && words[2] !== 'obsolete') return words[1];
  }
  return undefined;
}

export type FileFate =
  /** Not there: written. */
  | 'new'
  /** Holds exactly what we would write: not touched. */
  | 'unchanged'
  /** A file the user edits by design (ddclient's password): kept as it is. */
  | 'kept'
  /** Debian's stock sample knockd.conf: replaced (with --yes) or offered (in the wizard), after a backup. */
  | 'sample'
  /**
   * Exactly what an older server init wrote for the same answers, with doors from before single-use
   * doors (older-doors.ts): upgraded like the sample, its diff shown, after a backup.
   */
  | 'older'
  /** Someone else's text: replaced only with --force, after a backup. */
  | 'changed';

export interface FileDecision {
  readonly file: PlannedFile;
  readonly fate: FileFate;
  /** What is there now (null: nothing). */
  readonly current: string | null;
}

/** `older`: the text an older server init wrote at this path for the same answers, if it differs from today's. */
export function decideFile(file: PlannedFile, current: string | null, isSample: boolean, older?: string): FileDecision {
  if (current === null) return { file, fate: 'new', current };
  if (current === file.text) return { file, fate: 'unchanged', current };
  if (file.userEdits === true) return { file, fate: 'kept', current };
  if (older !== undefined && current === older) return { file, fate: 'older', current };
  return { file, fate: isSample ? 'sample' : 'changed', current };
}

/** `FILE.knockstick-bak.20261201T112233Z`: sorts by time, and says who made it. */
export function backupPath(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  return `${path}.knockstick-bak.${stamp}`;
}

/** A line of a diff with any sequence on it hidden: sequences are never printed. */
export function hideSecrets(line: string): string {
  return line.replace(/^(\s*(?:panic_)?sequence\s*=\s*)(\S.*)$/i, (_m, key: string, value: string) => `${key}(${value.split(',').length} ports, not shown)`);
}

/**
 * A unified diff (3 lines of context) from `before` to `after`, with sequences hidden. Line-based
 * longest common subsequence: the files here are a few hundred lines at most.
 */
export function unifiedDiff(before: string, after: string, beforeName: string, afterName: string): string {
  const a = splitLines(before);
  const b = splitLines(after);
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  type Op = { kind: ' ' | '-' | '+'; text: string; ai: number; bi: number };
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: ' ', text: a[i++]!, ai: i, bi: ++j });
    // Removals before additions, as diff -u shows them.
    else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', text: a[i++]!, ai: i, bi: j });
    else ops.push({ kind: '+', text: b[j++]!, ai: i, bi: j });
  }
  const changed = ops.map((o, k) => (o.kind === ' ' ? -1 : k)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  const out = [`--- ${beforeName}`, `+++ ${afterName}`];
  let k = 0;
  while (k < changed.length) {
    let start = Math.max(0, changed[k]! - 3);
    let end = Math.min(ops.length, changed[k]! + 4);
    while (k + 1 < changed.length && changed[k + 1]! - 3 <= end) end = Math.min(ops.length, changed[++k]! + 4);
    k++;
    const hunk = ops.slice(start, end);
    const aStart = hunk.find((o) => o.kind !== '+');
    const bStart = hunk.find((o) => o.kind !== '-');
    const aCount = hunk.filter((o) => o.kind !== '+').length;
    const bCount = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aStart === undefined ? 0 : aStart.ai},${aCount} +${bStart === undefined ? 0 : bStart.bi},${bCount} @@`);
    for (const o of hunk) out.push(`${o.kind}${hideSecrets(o.text)}`);
    start = end;
  }
  return `${out.join('\n')}\n`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else lines[lines.length - 1] += ' (no newline at end of file)';
  return lines;
}
