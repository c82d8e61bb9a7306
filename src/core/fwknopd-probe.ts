// Asks the real fwknopd how it reads fwknopd.conf and access.conf, and compares that with our model
// (fwknopd-conf.ts). fwknopd 2.6.10 has a read-only mode: `-D` (--dump-config) parses both files,
// checks every access stanza (the same checks it makes before it starts), prints the values it
// ended up with and exits, before it writes a pidfile, binds a socket, sniffs or touches the
// firewall. Still, the probe runs it where it can do no harm:
// - on private copies (mode 0600, ours) in a private directory, with -r/-p/-d pointing there, so
//   the live daemon's run directory, pidfile and digest cache are never opened;
// - with -f, so it logs to stderr only (fwknopd uses syslog only when it becomes a daemon);
// - in a network namespace made for this one probe, with only `lo`: should a future fwknopd touch
//   iptables while reading its config (fw_config_init), it touches that namespace's empty tables;
// - never with -K/-R/-S (those signal the live daemon by its pidfile).
// Its output holds the keys (KEY is printed as raw bytes): it stays in memory, and only lengths
// and non-secret values are compared or shown.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { findProgram } from './knockd-probe.js';
import { SECRET_NAMES, isYes, keyBytes, readAccessConf, readFwknopdConf, type AccessConfModel, type FwknopdConfModel } from './fwknopd-conf.js';
import { isProcessAlive } from './process.js';

export type FwknopdProbeResult =
  | { readonly kind: 'skipped'; readonly reason: string }
  /** fwknopd read both files as we do; `accepted`: it would start (else both refuse, `says` why). */
  | { readonly kind: 'agrees'; readonly accepted: boolean; readonly stanzas: number; readonly says: string }
  | { readonly kind: 'differs'; readonly differences: readonly string[] };

/** Names the probe sets on the command line (so fwknopd's value is ours, not the file's). */
const OVERRIDDEN = new Set(['CONFIG_FILE', 'OVERRIDE_CONFIG', 'ACCESS_FILE', 'FWKNOP_RUN_DIR', 'FWKNOP_PID_FILE', 'DIGEST_FILE']);

/** What `fwknopd -D` printed, parsed: config values, and per stanza its printed fields. */
export function parseDump(stdout: string): { config: Map<string, string>; stanzas: Array<Map<string, string>> } {
  const config = new Map<string, string>();
  const stanzas: Array<Map<string, string>> = [];
  for (const line of stdout.split('\n')) {
    const c = /^\s*\d+\. (\S+)\s+= {2}'(.*)'$/.exec(line);
    if (c !== null) {
      config.set(c[1] as string, c[2] as string);
      continue;
    }
    const s = /^SOURCE \(\d+\): {2}(.*)$/.exec(line);
    if (s !== null) {
      stanzas.push(new Map([['SOURCE', s[1] as string]]));
      continue;
    }
    const f = /^\s+([A-Z_]+(?: \([a-z]+\))?): {2}(.*)$/.exec(line);
    if (f !== null && stanzas.length > 0 && !SECRET_NAMES.has(f[1] as string)) stanzas[stanzas.length - 1]?.set(f[1] as string, f[2] as string);
  }
  return { config, stanzas };
}

/** fwknopd's complaints, with every secret of the files blanked. */
export function redact(text: string, access: AccessConfModel): string {
  let out = text;
  for (const s of access.stanzas) for (const [name, e] of s.values) if (SECRET_NAMES.has(name) && e.value.trim() !== '') out = out.split(e.value.trim()).join('(secret)');
  return out.replace(/(KEY\S* argument )'[^']*'/g, "$1'(secret)'").replace(/(- '\s*(?:(?:HMAC_)?KEY\S*|GPG_DECRYPT_PW:?)[ \t]+)[^'\n]*/g, '$1(secret)');
}

const notSet = (v: string | undefined): string => v ?? '<not set>';
const show = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);

/** Compares fwknopd's -D reading with ours. Pure. */
export function compareWithFwknopd(conf: FwknopdConfModel, access: AccessConfModel, run: { exitCode: number; stdout: string; stderr: string }): FwknopdProbeResult {
  const complaints = redact(run.stderr, access)
    .split('\n')
    .filter((l) => /^\[\*\]|^\*Invalid|^Fatal|Ignoring unknown|must|Must|Cannot/.test(l.trim()))
    .map((l) => l.trim());
  const says = complaints.slice(0, 3).join('; ');
  const weRefuse = access.problems.some((p) => p.fatal);
  const differences: string[] = [];
  if (run.exitCode !== 0) {
    if (weRefuse) return { kind: 'agrees', accepted: false, stanzas: access.stanzas.length, says };
    return { kind: 'differs', differences: [`fwknopd refuses the files (${says === '' ? `exit ${run.exitCode}` : says}), but we read them as accepted`] };
  }
  if (weRefuse) differences.push(`fwknopd accepts the files, but we read access.conf as refused: ${access.problems.filter((p) => p.fatal).map((p) => p.message).join('; ')}`);
  const dump = parseDump(run.stdout);
  for (const [name, e] of conf.values) {
    if (OVERRIDDEN.has(name)) continue;
    const real = dump.config.get(name);
    if (real !== e.value) differences.push(`fwknopd.conf line ${e.line}: fwknopd has ${name} = ${show(notSet(real))}, we read ${show(e.value)}`);
  }
  // fwknopd 2.6.10 reads fwknopd.conf twice (-c also sets OVERRIDE_CONFIG): compare names, not counts.
  const ignoredByFwknopd = new Set([...run.stderr.matchAll(/Ignoring unknown configuration parameter: '([^']*)'/g)].map((m) => m[1] as string));
  const ignoredByUs = new Set(conf.problems.flatMap((p) => (p.kind === 'unknown' && p.name !== undefined ? [p.name] : [])));
  const onlyTheirs = [...ignoredByFwknopd].filter((n) => !ignoredByUs.has(n));
  const onlyOurs = [...ignoredByUs].filter((n) => !ignoredByFwknopd.has(n));
  if (onlyTheirs.length > 0) differences.push(`fwknopd ignores fwknopd.conf name(s) we read as known: ${onlyTheirs.map((n) => show(n)).join(', ')}`);
  if (onlyOurs.length > 0) differences.push(`we read fwknopd.conf name(s) as unknown that fwknopd takes: ${onlyOurs.map((n) => show(n)).join(', ')}`);
  if (dump.stanzas.length !== access.stanzas.length) differences.push(`fwknopd reads ${dump.stanzas.length} access.conf stanza(s), we read ${access.stanzas.length}`);
  access.stanzas.forEach((s, i) => {
    const real = dump.stanzas[i];
    if (real === undefined) return;
    const at = `access.conf stanza of line ${s.line}`;
    const same = (what: string, theirs: string | undefined, ours: string): void => {
      if (theirs !== ours) differences.push(`${at}: fwknopd has ${what} ${show(notSet(theirs))}, we read ${show(ours)}`);
    };
    same('SOURCE', real.get('SOURCE'), s.source);
    same('OPEN_PORTS', real.get('OPEN_PORTS'), s.values.get('OPEN_PORTS')?.value ?? '<not set>');
    same('REQUIRE_USERNAME', real.get('REQUIRE_USERNAME'), s.values.get('REQUIRE_USERNAME')?.value ?? '<not set>');
    same('ENABLE_CMD_EXEC', real.get('ENABLE_CMD_EXEC'), isYes(s.values.get('ENABLE_CMD_EXEC')?.value) ? 'Yes' : 'No');
    same('CMD_CYCLE_OPEN', real.get('CMD_CYCLE_OPEN'), s.values.get('CMD_CYCLE_OPEN')?.value ?? '<not set>');
    const rs = s.values.get('REQUIRE_SOURCE_ADDRESS') ?? s.values.get('REQUIRE_SOURCE');
    same('REQUIRE_SOURCE_ADDRESS', real.get('REQUIRE_SOURCE_ADDRESS'), isYes(rs?.value) ? 'Yes' : 'No');
    if (s.values.get('ENCRYPTION_MODE') === undefined) {
      const key = keyBytes(s, 'KEY');
      if (key !== undefined) same('a key of length', real.get('KEY_LEN'), String(key.length));
    }
    const hmac = keyBytes(s, 'HMAC_KEY');
    if (hmac !== undefined) same('an HMAC key of length', real.get('HMAC_KEY_LEN'), String(hmac.length));
  });
  if (differences.length > 0) return { kind: 'differs', differences: differences.slice(0, 5) };
  return { kind: 'agrees', accepted: true, stanzas: access.stanzas.length, says };
}

const NAMESPACE_PREFIX = 'ksfwprobe-';

async function removeStaleNamespaces(ip: string): Promise<void> {
  const list = await execa(ip, ['netns', 'list'], { reject: false });
  for (const m of String(list.stdout).matchAll(new RegExp(`^(${NAMESPACE_PREFIX}(\\d+)-[a-z0-9]+)\\b`, 'gm'))) {
    const pid = Number(m[2]);
    if (pid !== process.pid && !isProcessAlive(pid)) await execa(ip, ['netns', 'del', m[1] as string], { reject: false });
  }
}

/**
 * Runs the real fwknopd -D on private copies of the two files in a throwaway namespace and compares
 * its reading with ours. Never throws for a missing tool or privilege: that is a 'skipped' result.
 */
export async function probeFwknopd(confText: string, accessText: string, paths: { readonly conf: string; readonly access: string }): Promise<FwknopdProbeResult> {
  if (process.geteuid?.() !== 0) return { kind: 'skipped', reason: 'not root: the throwaway network namespace for fwknopd needs root' };
  const fwknopd = await findProgram('fwknopd', ['/usr/sbin', '/usr/local/sbin', '/sbin']);
  if (fwknopd === undefined) return { kind: 'skipped', reason: 'fwknopd is not installed here' };
  const ip = await findProgram('ip', ['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  if (ip === undefined) return { kind: 'skipped', reason: '`ip` (iproute2) is not installed here' };
  await removeStaleNamespaces(ip);
  const dir = await mkdtemp(join(tmpdir(), 'kfp-'));
  const ns = `${NAMESPACE_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let nsMade = false;
  try {
    const conf = join(dir, 'fwknopd.conf');
    const access = join(dir, 'access.conf');
    await writeFile(conf, Buffer.from(confText, 'latin1'), { mode: 0o600 });
    await writeFile(access, Buffer.from(accessText, 'latin1'), { mode: 0o600 });
    const made = await execa(ip, ['netns', 'add', ns], { reject: false });
    if (made.exitCode !== 0) return { kind: 'skipped', reason: `could not make a network namespace (${String(made.stderr).trim()})` };
    nsMade = true;
    const result = await execa(ip, ['netns', 'exec', ns, fwknopd, '-f', '-D', '-c', conf, '-a', access, '-r', dir, '-p', join(dir, 'fwknopd.pid'), '-d', join(dir, 'digest.cache')], {
      cwd: dir,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      encoding: 'latin1',
      timeout: 10_000,
      killSignal: 'SIGKILL',
    });
    if (result.timedOut) return { kind: 'skipped', reason: 'fwknopd -D did not finish within 10 s' };
    return compareWithFwknopd(readFwknopdConf(confText), readAccessConf(accessText), { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr).split(access).join(paths.access).split(conf).join(paths.conf) });
  } finally {
    if (nsMade) await execa(ip, ['netns', 'del', ns], { reject: false });
    await rm(dir, { recursive: true, force: true });
  }
}
