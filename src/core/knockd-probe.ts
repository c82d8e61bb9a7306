// Asks the real knockd how it reads a knockd.conf, and compares that with our model
// (knockd-reader.ts). knockd has no parse-only mode: `-D` prints what it parses ("config: ..."
// lines) and then runs the daemon. So the probe runs it briefly where it can do no harm, and stops
// it (SIGKILL) as soon as it says it is listening (or after 10 seconds at most).
//
// What could the throwaway knockd touch, and what stops it:
// - the network: it runs in a network namespace made for this one probe (unique name with our pid),
//   with only `lo`, up (knockd refuses a down interface) and `-i lo` (the config's interface is
//   ignored with -i). Nothing else is in that namespace, so no knock can arrive: no command runs,
//   no door opens, no one-time line is marked. The namespace is deleted in every case.
// - the pidfile: knockd writes it only with -d, and removes it at exit only with -d. No -d here, so
//   the pidfile line is left exactly as it is (it is the very line a padded --pidfile makes long).
// - the logfile: knockd appends "starting up" to it (and the -g flag cannot help: the config's
//   logfile overrides it). The probe's copy of the config names a file in a private directory.
// - the one-time files: knockd opens them read-write ("r+") and would mark a used line in place.
//   The copy names private copies of them (same bytes).
// - syslog: with `usesyslog` knockd would log "starting up" to the host's syslog, which a netns
//   does not separate. The copy turns that line into a comment of the same length ("#sesyslog").
//   Our model alone judges usesyslog (the bare word; `usesyslog = yes` is left as it is, and the
//   real knockd is asked about it like any other line).
// Rather than a private mount namespace (more moving parts as root), the probe rewrites those
// values in a copy of the config, keeping every line knockd reads exactly where it was: a value
// replaced inside a piece of a long line is replaced by a path of the same length (padded with
// "/", which a path may repeat); a value on a line of its own may change length. knockd then reads
// the copy in the same pieces as the original, and we compare its reading of the copy with our
// model's reading of the same copy.

import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { KnockstickError } from './errors.js';
import { NotRegularFileError, readBytesIfExists } from './files.js';
import { isProcessAlive } from './process.js';
import { directiveOf, fromBytes, knockdReads, readKnockdConf, toBytes, type KnockdDirective, type KnockdReading } from './knockd-reader.js';

export type ProbeResult =
  | { readonly kind: 'skipped'; readonly reason: string }
  /** knockd read it as we do; `accepted`: both accept it (else both refuse it, for the same reason). */
  | { readonly kind: 'agrees'; readonly accepted: boolean; readonly doors: number; readonly knockdSays: string }
  | { readonly kind: 'differs'; readonly differences: readonly string[] };

export async function findProgram(name: string, extra: readonly string[]): Promise<string | undefined> {
  const dirs = [...extra, ...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')];
  for (const dir of dirs) {
    const path = join(dir, name);
    if (await access(path, constants.X_OK).then(() => true, () => false)) return path;
  }
  return undefined;
}

interface Replacement {
  readonly offset: number;
  readonly length: number;
  readonly text: string;
}

/** A same-length (or, on a whole line, any-length) private path for a value. */
function privateValue(dir: string, name: string, original: string, wholeLine: boolean): string | undefined {
  const plain = `${dir}/${name}`;
  if (plain.length === original.length || (wholeLine && plain.length > original.length)) return plain;
  if (plain.length > original.length) return undefined;
  return `${dir}${'/'.repeat(original.length - plain.length + 1)}${name}`;
}

/**
 * The copy of `bytes` that the throwaway knockd reads, and the private files it needs. Pure but for
 * the one-time files' contents, passed in. Returns a reason instead when no safe copy can be made.
 */
export function probeCopy(
  bytes: string,
  dir: string,
  oneTime: ReadonlyMap<string, string | null>,
): { copy: string; files: Map<string, string>; names: Map<string, string> } | { reason: string } {
  // Every read that looks like one of these directives, in any section and past any error: should
  // our model stop too early, the real knockd still finds only private paths.
  const directives = knockdReads(Buffer.from(bytes, 'latin1')).flatMap((r) => directiveOf(r) ?? []);
  const replacements: Replacement[] = [];
  const files = new Map<string, string>();
  const names = new Map<string, string>();
  const wholeLine = (d: { read: { raw: string; offset: number } }): boolean =>
    d.read.raw.endsWith('\n') || d.read.offset + d.read.raw.length === bytes.length;
  /** The private path written in place of the value (padded or not), or undefined when none fits. */
  const replaceValue = (d: KnockdDirective, name: string): string | undefined => {
    const value = d.value ?? '';
    const text = privateValue(dir, name, value, wholeLine(d));
    if (text === undefined) return undefined;
    replacements.push({ offset: d.valueOffset, length: value.length, text });
    names.set(text, value);
    return text;
  };
  const tooShort = (line: number): { reason: string } => ({ reason: `line ${line} is too short to point at a private copy` });
  for (const [index, d] of directives.entries()) {
    if (d.key === 'USESYSLOG' && d.value === null) replacements.push({ offset: d.valueOffset, length: 1, text: '#' });
    if (d.key === 'LOGFILE' && d.value !== null && replaceValue(d, `l${index}`) === undefined) return tooShort(d.read.fileLine);
    if (d.key !== 'ONE_TIME_SEQUENCES' || d.value === null) continue;
    const path = replaceValue(d, `o${index}`);
    if (path === undefined) return tooShort(d.read.fileLine);
    const content = oneTime.get(fromBytes(d.value));
    // An unreadable original stays missing in the copy: knockd fails on it the same way.
    if (content != null) files.set(path, content);
  }
  let copy = bytes;
  for (const r of [...replacements].sort((a, b) => b.offset - a.offset)) copy = copy.slice(0, r.offset) + r.text + copy.slice(r.offset + r.length);
  return { copy, files, names };
}

/** The one_time_sequences paths the config names (as written, anywhere), for reading them first. */
export function oneTimePaths(bytes: string): string[] {
  return knockdReads(Buffer.from(bytes, 'latin1')).flatMap((r) => {
    const d = directiveOf(r);
    return d?.key === 'ONE_TIME_SEQUENCES' && d.value !== null ? [fromBytes(d.value)] : [];
  });
}

/**
 * A one-time file the config names, for the probe's private copy: null when it cannot be read (the
 * copy then names a missing file, and knockd fails on it as on the original). A FIFO, socket or
 * device is refused without blocking: knockd itself would wait on a FIFO forever, and so would we.
 */
async function readOneTimeFile(path: string): Promise<string | null> {
  try {
    return (await readBytesIfExists(path))?.toString('latin1') ?? null;
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      throw new KnockstickError('IO', `one_time_sequences in the knockd.conf names ${error.path}, which is ${error.kind}, not a regular file`, {
        hint: 'point one_time_sequences at a regular file: knockd would wait on a FIFO forever',
      });
    }
    return null;
  }
}

/** Shows a transcript line with the private paths put back to the user's. */
function shown(line: string, names: ReadonlyMap<string, string>): string {
  let out = line;
  for (const [priv, orig] of names) out = out.split(priv).join(orig);
  const text = fromBytes(out);
  return JSON.stringify(text.length > 160 ? `${text.slice(0, 150)}...` : text);
}

/** Compares knockd's output with the model's reading of the same copy. Pure. */
export function compareWithKnockd(
  model: KnockdReading,
  knockd: { stdout: string; stderr: string },
  names: ReadonlyMap<string, string>,
): ProbeResult {
  const lines = knockd.stdout.split('\n');
  const printed = lines.filter((l) => l.startsWith('config: ') || l.startsWith('new sequence for door '));
  const accepted = lines.includes('listening on lo...');
  const errors = knockd.stderr
    .split('\n')
    .filter((l) => l !== '' && !/^(usage: knockd|options:|  -)/.test(l));
  const knockdSays = errors.join('; ');
  if (!accepted && /^could not open lo|unsupported link-layer|could not get IP address/.test(knockdSays)) {
    return { kind: 'skipped', reason: `knockd could not listen on lo in the probe's namespace (${fromBytes(knockdSays)})` };
  }
  const differences: string[] = [];
  const length = Math.max(printed.length, model.transcript.length);
  for (let i = 0; i < length && differences.length < 3; i++) {
    const real = printed[i];
    const ours = model.transcript[i];
    if (real === ours) continue;
    differences.push(
      real === undefined
        ? `we read ${shown(ours ?? '', names)} where knockd read nothing more`
        : ours === undefined
          ? `knockd read ${shown(real, names)} where we read nothing more`
          : `knockd read ${shown(real, names)} where we read ${shown(ours, names)}`,
    );
  }
  if (accepted && model.error !== null) differences.push(`knockd accepts the file, but we read it as knockd stopping with ${shown(model.error, names)}`);
  if (!accepted && model.error === null) differences.push(`knockd refuses the file (${shown(knockdSays, names)}), but we read it as accepted`);
  if (!accepted && model.error !== null && !errors.some((l) => l === model.error || (model.error?.endsWith(': ') === true && l.startsWith(model.error)))) {
    differences.push(`knockd stops with ${shown(knockdSays, names)}, we expected ${shown(model.error, names)}`);
  }
  if (differences.length > 0) return { kind: 'differs', differences };
  return { kind: 'agrees', accepted, doors: model.doors.length, knockdSays: fromBytes(knockdSays) };
}

/** The probe's namespace: unique per process and call, recognisable as ours. */
const NAMESPACE_PREFIX = 'ksprobe-';
const namespaceName = (): string => `${NAMESPACE_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Probe namespaces left by a run that was killed (its pid is gone): removed, and only those. */
async function removeStaleNamespaces(ip: string): Promise<void> {
  const list = await execa(ip, ['netns', 'list'], { reject: false });
  for (const m of String(list.stdout).matchAll(new RegExp(`^(${NAMESPACE_PREFIX}(\\d+)-[a-z0-9]+)\\b`, 'gm'))) {
    const pid = Number(m[2]);
    if (pid !== process.pid && !isProcessAlive(pid)) await execa(ip, ['netns', 'del', m[1] as string], { reject: false });
  }
}

/**
 * Runs the real knockd on a private copy of `text` in a throwaway namespace and compares its
 * reading with ours. Never throws for a missing tool or privilege: that is a 'skipped' result.
 */
export async function probeKnockd(text: string | Uint8Array): Promise<ProbeResult> {
  if (process.geteuid?.() !== 0) return { kind: 'skipped', reason: 'not root: a network namespace for the throwaway knockd needs root' };
  const knockd = await findProgram('knockd', ['/usr/sbin', '/usr/local/sbin', '/sbin']);
  if (knockd === undefined) return { kind: 'skipped', reason: 'knockd is not installed here' };
  const ip = await findProgram('ip', ['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  if (ip === undefined) return { kind: 'skipped', reason: '`ip` (iproute2) is not installed here' };

  const bytes = toBytes(text);
  const oneTime = new Map<string, string | null>();
  for (const path of oneTimePaths(bytes)) oneTime.set(path, await readOneTimeFile(path));

  await removeStaleNamespaces(ip);
  const dir = await mkdtemp(join(tmpdir(), 'kp-'));
  const ns = namespaceName();
  let nsMade = false;
  try {
    const prepared = probeCopy(bytes, dir, oneTime);
    if ('reason' in prepared) return { kind: 'skipped', reason: prepared.reason };
    const confPath = join(dir, 'knockd.conf');
    await writeFile(confPath, Buffer.from(prepared.copy, 'latin1'), { mode: 0o600 });
    for (const [path, content] of prepared.files) await writeFile(path, Buffer.from(content, 'latin1'), { mode: 0o600 });
    const model = readKnockdConf(Buffer.from(prepared.copy, 'latin1'), {
      interfaceFromCommandLine: true,
      oneTimeFile: (path) => {
        const content = prepared.files.get(path);
        return content === undefined ? null : Buffer.from(content, 'latin1');
      },
    });

    const made = await execa(ip, ['netns', 'add', ns], { reject: false });
    if (made.exitCode !== 0) return { kind: 'skipped', reason: `could not make a network namespace (${String(made.stderr).trim()})` };
    nsMade = true;
    await execa(ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
    // `ip netns exec` execs knockd itself, so the child is knockd and SIGKILL reaches it. Not
    // SIGTERM: knockd's SIGTERM handler calls stdio and localtime, and a TERM that lands while the
    // main loop holds one of their locks deadlocks it (seen here: a throwaway knockd stuck in a
    // futex for minutes). Nothing needs knockd's cleanup: no -d, so no pidfile to remove.
    const child = execa(ip, ['netns', 'exec', ns, knockd, '-D', '-v', '-c', confPath, '-i', 'lo'], {
      cwd: dir,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      encoding: 'latin1',
      buffer: true,
      // A bound on the whole probe whatever knockd does: it normally says "listening" within
      // milliseconds, or exits on a config error.
      timeout: 10_000,
      killSignal: 'SIGKILL',
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer | string) => {
      out += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      if (out.includes('\nlistening on lo...\n') || out.startsWith('listening on lo...\n')) child.kill('SIGKILL');
    });
    const result = await child;
    return compareWithKnockd(model, { stdout: String(result.stdout), stderr: String(result.stderr) }, prepared.names);
  } finally {
    if (nsMade) await execa(ip, ['netns', 'del', ns], { reject: false });
    await rm(dir, { recursive: true, force: true });
  }
}
