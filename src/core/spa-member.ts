// An SPA stick as a member of a server: its own access.conf stanza (SOURCE ANY, its own
// KEY_BASE64 / HMAC_KEY_BASE64), so fwknopd admits each stick on its own keys (access-conf.ts says
// how fwknopd walks the stanzas), and removing one stanza takes exactly that stick's keys away.
//
// Doors: the member's stanza opens the same door as the server's other SPA stanzas (same port,
// same time), read from the stanza already there. With nftables, CMD_CYCLE_OPEN tags the spa4
// element with the member's door name (an nft element comment), so `stick revoke` can close the
// doors that stick opened and none other. With iptables the doors are fwknopd's own FWKNOP_INPUT
// rules, which name no stanza: they close by themselves after FW_ACCESS_TIMEOUT.
//
// Reload: see reloadFwknopd (SIGHUP, or a restart in UDP server mode). fwknopd exits if access.conf
// has an error when it reads it, so the new text is first read by the real fwknopd with
// --exit-parse-config (a copy beside the file; nothing else touched), and only then put in place.
// The replay cache (ENABLE_DIGEST_PERSISTENCE, server init sets it) survives the reload: a packet
// seen before stays refused.

import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { addMemberStanza, parseAccessConf, removeMemberStanza, type AccessStanza, type ParsedAccess } from './access-conf.js';
import { InvalidFileError, KnockstickError } from './errors.js';
import { assertNotSymlink, readTextIfExists, writeAtomically } from './files.js';
import { isProcessAlive } from './process.js';
import { run, runAllowingFailure } from './run.js';
import type { FirewallKind } from './firewall.js';

/** The nft set of the SPA doors (table inet knockstick), as server init --method spa makes it. */
export const SPA_SET = 'spa4';
/** fwknopd's pidfile when fwknopd.conf names none (Debian's fwknop-server: FWKNOP_RUN_DIR /var/run/fwknop). */
export const DEFAULT_FWKNOPD_PIDFILE = '/var/run/fwknop/fwknopd.pid';

export interface SpaDoor {
  readonly sshPort: number;
  /** nftables: CMD_CYCLE_OPEN adds to spa4; iptables: fwknopd's own rules (FW_ACCESS_TIMEOUT). */
  readonly firewall: Extract<FirewallKind, 'nftables' | 'iptables'>;
  readonly doorSeconds: number;
  /**
   * nftables: the set CMD_CYCLE_OPEN fills: spa4 on an SPA server (server init --method spa), doors4
   * on a knockd server with SPA members too (knockd's own door set: its door rule and panic's flush
   * then cover SPA doors as well).
   */
  readonly set?: string | undefined;
}

/** The door the server's SPA stanzas open, read from the first one that says. Pure. */
export function spaDoorOf(parsed: ParsedAccess): SpaDoor | undefined {
  for (const s of parsed.stanzas) {
    const get = (v: string): string | undefined => s.entries.find((e) => e.variable === v)?.value;
    const port = /^tcp\/(\d{1,5})$/.exec(get('OPEN_PORTS') ?? '')?.[1];
    if (port === undefined) continue;
    const cycle = get('CMD_CYCLE_OPEN');
    const timer = Number(get('CMD_CYCLE_TIMER') ?? get('FW_ACCESS_TIMEOUT'));
    if (!Number.isInteger(timer) || timer <= 0) continue;
    const set = / add element inet knockstick (spa4|doors4) \{ /.exec(cycle ?? '')?.[1];
    if (set !== undefined) return { sshPort: Number(port), firewall: 'nftables', doorSeconds: timer, set };
    if (cycle === undefined && get('FW_ACCESS_TIMEOUT') !== undefined) return { sshPort: Number(port), firewall: 'iptables', doorSeconds: timer };
  }
  return undefined;
}

/** The access.conf entries of member `door` (its door name, e.g. stick-alice). Pure. */
export function memberAccessEntries(door: string, spaDoor: SpaDoor, keys: { encryption: Buffer; hmac: Buffer }): [string, string][] {
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(door)) throw new Error(`door name ${JSON.stringify(door)}`);
  const entries: [string, string][] = [
    ['SOURCE', 'ANY'],
    ['OPEN_PORTS', `tcp/${spaDoor.sshPort}`],
    ['KEY_BASE64', keys.encryption.toString('base64')],
    ['HMAC_KEY_BASE64', keys.hmac.toString('base64')],
  ];
  if (spaDoor.firewall === 'iptables') return [...entries, ['FW_ACCESS_TIMEOUT', String(spaDoor.doorSeconds)]];
  // fwknopd splits the command on blanks and runs it without a shell; the comment is one word.
  return [
    ...entries,
    ['CMD_CYCLE_OPEN', `/usr/sbin/nft add element inet knockstick ${spaDoor.set ?? SPA_SET} { $SRC timeout ${spaDoor.doorSeconds}s comment ${door} }`],
    ['CMD_CYCLE_CLOSE', 'NONE'],
    ['CMD_CYCLE_TIMER', String(spaDoor.doorSeconds)],
  ];
}

/** The stanza of member `name`, if access.conf has one. */
export function memberStanza(parsed: ParsedAccess, name: string): AccessStanza | undefined {
  return parsed.stanzas.find((s) => s.member === name);
}

async function readAccess(path: string): Promise<string> {
  await assertNotSymlink(path);
  const text = await readTextIfExists(path);
  if (text === null) throw new KnockstickError('IO', `${path} does not exist`, { hint: 'set up fwknopd first (knockstick server init --method spa), or name the file with --access-conf' });
  return text;
}

/**
 * Has the real fwknopd read `text` as access.conf (with `fwknopdConf`), without starting: a copy
 * written 0600 beside the file, fwknopd --exit-parse-config, the copy removed. Returns what it
 * said on failure, or undefined when fwknopd is not installed (our own reader then is the check).
 */
export async function fwknopdRefuses(fwknopdConf: string, accessPath: string, text: string): Promise<string | false | undefined> {
  const copy = join(dirname(accessPath), `.${accessPath.slice(accessPath.lastIndexOf('/') + 1)}.check.${process.pid}.${randomBytes(4).toString('hex')}`);
  const run = await mkdtemp(join(tmpdir(), 'knockstick-fwknopd-check-'));
  try {
    await writeAtomically(copy, text, { mode: 0o600 });
    // -r/-p/-d: a throwaway run directory, so the check touches nothing the running fwknopd uses.
    const result = await runAllowingFailure({
      file: 'fwknopd',
      args: ['--exit-parse-config', '-c', fwknopdConf, '-a', copy, '-r', run, '-p', join(run, 'pid'), '-d', join(run, 'digest')],
      purpose: 'let fwknopd read the new access.conf',
    }).catch((error: unknown) => {
      if (error instanceof KnockstickError && /not installed/.test(error.message)) return undefined;
      throw error;
    });
    if (result === undefined) return undefined;
    return result.exitCode === 0 ? false : `${result.stdout}\n${result.stderr}`.split('\n').filter((l) => /\[\*\]|rror/.test(l)).join('\n').trim() || `exit status ${result.exitCode}`;
  } finally {
    await rm(copy, { force: true });
    await rm(run, { recursive: true, force: true });
  }
}

export interface AccessChange {
  readonly accessConf: string;
  readonly fwknopdConf: string;
}

/** Puts `text` in place of access.conf once fwknopd has read it. Returns a note on how it was checked. */
async function replaceChecked(o: AccessChange, text: string): Promise<string> {
  const refused = await fwknopdRefuses(o.fwknopdConf, o.accessConf, text);
  if (typeof refused === 'string') {
    throw new KnockstickError('INVALID_FILE', `fwknopd refuses the new ${o.accessConf}; nothing was written:\n${refused}`, { hint: `check ${o.accessConf} and ${o.fwknopdConf} (fwknopd --exit-parse-config -c ${o.fwknopdConf} -a ${o.accessConf})` });
  }
  await writeAtomically(o.accessConf, text, { mode: 0o600 });
  return refused === undefined ? 'fwknopd is not installed here: checked by knockstick\'s reader only' : 'read by fwknopd --exit-parse-config first';
}

/** Adds member `name`'s stanza (door `door`) with new keys. The keys are the caller's (the stick gets the same). */
export async function addSpaStanza(o: AccessChange & { name: string; door: string; keys: { encryption: Buffer; hmac: Buffer }; spaDoor?: SpaDoor | undefined }): Promise<{ spaDoor: SpaDoor; checked: string }> {
  const text = await readAccess(o.accessConf);
  const parsed = parseAccessConf(text, o.accessConf);
  if (parsed.problems.length > 0) throw new InvalidFileError(parsed.problems, `fix ${o.accessConf}; nothing was written`);
  const spaDoor = o.spaDoor ?? spaDoorOf(parsed);
  if (spaDoor === undefined) {
    throw new KnockstickError('INVALID_FILE', `${o.accessConf} has no stanza to copy the door from (OPEN_PORTS tcp/PORT with CMD_CYCLE_OPEN into ${SPA_SET}, or FW_ACCESS_TIMEOUT)`, { hint: 'make it with knockstick server init --method spa' });
  }
  const edited = addMemberStanza(text, o.accessConf, o.name, memberAccessEntries(o.door, spaDoor, o.keys));
  if ('problems' in edited) throw new InvalidFileError(edited.problems, 'nothing was written');
  return { spaDoor, checked: await replaceChecked(o, edited.text) };
}

/**
 * Removes member `name`'s stanza. `allowEmpty`: the last stanza may go (a knockd server's last SPA
 * stick): fwknopd will not start on that file, so it is not asked, and `empty` tells the caller to
 * stop it.
 */
export async function removeSpaStanza(o: AccessChange & { name: string; allowEmpty?: boolean }): Promise<{ checked: string; empty: boolean }> {
  const text = await readAccess(o.accessConf);
  const edited = removeMemberStanza(text, o.accessConf, o.name, { allowEmpty: o.allowEmpty === true });
  if ('problems' in edited) throw new InvalidFileError(edited.problems, 'nothing was written');
  if (parseAccessConf(edited.text, o.accessConf).stanzas.length === 0) {
    await writeAtomically(o.accessConf, edited.text, { mode: 0o600 });
    return { checked: 'no stanza left', empty: true };
  }
  return { checked: await replaceChecked(o, edited.text), empty: false };
}

/** Stops fwknopd (its systemd unit, else SIGTERM by the pidfile): no SPA stick is left. */
export async function stopFwknopd(pidfile: string): Promise<string> {
  const pid = await livePid(pidfile);
  if (pid === undefined) return 'fwknopd is not running';
  const service = serviceOf(await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''));
  if (service !== undefined) await run({ file: 'systemctl', args: ['stop', service], purpose: 'stop fwknopd: no SPA stick is left' });
  else process.kill(pid, 'SIGTERM');
  const gone = await waitFor(() => !isProcessAlive(pid), 10_000);
  return gone ? `stopped fwknopd (pid ${pid}): no SPA stick is left${service === undefined ? '' : ` (systemctl disable ${service} to keep it stopped)`}` : `fwknopd (pid ${pid}) did not stop within 10 s: stop it (kill ${pid})`;
}

/** FWKNOP_PID_FILE, or FWKNOP_RUN_DIR/fwknopd.pid, from fwknopd.conf; else Debian's default. */
export function fwknopdPidfileOf(fwknopdConfText: string): string {
  const get = (name: string): string | undefined => new RegExp(`^${name}\\s+([^;\\s]+)`, 'm').exec(fwknopdConfText)?.[1];
  return get('FWKNOP_PID_FILE') ?? (get('FWKNOP_RUN_DIR') === undefined ? DEFAULT_FWKNOPD_PIDFILE : join(get('FWKNOP_RUN_DIR') as string, 'fwknopd.pid'));
}

/** Whether fwknopd.conf turns on the UDP server (which, in 2.6.10, stops on SIGHUP instead of re-reading). */
export function usesUdpServer(fwknopdConfText: string): boolean {
  return /^ENABLE_UDP_SERVER\s+Y/im.test(fwknopdConfText);
}

/** The systemd service a process runs in, from /proc/PID/cgroup ("0::/system.slice/fwknop-server.service"). Pure. */
export function serviceOf(cgroup: string): string | undefined {
  return /\/([A-Za-z0-9@._-]+\.service)$/m.exec(cgroup.trim())?.[1];
}

async function livePid(pidfile: string): Promise<number | undefined> {
  const text = await readTextIfExists(pidfile);
  const pid = text === null ? NaN : Number(text.trim());
  return Number.isInteger(pid) && pid > 1 && isProcessAlive(pid) ? pid : undefined;
}

async function waitFor(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Makes the running fwknopd read the new access.conf. fwknopd re-reads its files on SIGHUP (what
 * `fwknopd -R` sends, by the pidfile) in pcap mode; with ENABLE_UDP_SERVER (what server init
 * writes) fwknopd 2.6.10's UDP loop ends on any signal and the daemon shuts down ("udp_server:
 * terminating signal received, will stop"), so there it is restarted instead: by systemd when it
 * runs as a service, else with the command line it was started with (/proc/PID/cmdline). The
 * replay cache is a file (ENABLE_DIGEST_PERSISTENCE), so a restart forgets no packet.
 */
export async function reloadFwknopd(pidfile: string, fwknopdConfText: string, settleMs = 2000): Promise<string> {
  const pid = await livePid(pidfile);
  if (pid === undefined) return `fwknopd is not running (no live pid in ${pidfile}): it reads the new access.conf when it starts`;
  if (!usesUdpServer(fwknopdConfText)) {
    process.kill(pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, settleMs)); // it waits 1 s after the signal, then re-reads
    if (!isProcessAlive(pid)) {
      throw new KnockstickError('INTERNAL', `fwknopd (pid ${pid}) died while re-reading its files`, { hint: 'check its log (journalctl -u fwknop-server); fwknopd --exit-parse-config had accepted them, so please report this' });
    }
    return `reloaded fwknopd (SIGHUP; pid ${pid}, still running)`;
  }
  const [cmdline, exe, cgroup] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`).catch(() => undefined),
    readlink(`/proc/${pid}/exe`).catch(() => undefined),
    readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''),
  ]);
  const args = cmdline === undefined ? [] : cmdline.toString('utf8').split('\0').slice(1, -1);
  const service = serviceOf(cgroup);
  if (service !== undefined) {
    await run({ file: 'systemctl', args: ['restart', service], purpose: `restart fwknopd (${service}) so that it reads the new access.conf` });
  } else {
    if (exe === undefined || args.some((a) => a === '-f' || a === '--foreground')) {
      return `fwknopd (pid ${pid}) was NOT restarted: it runs in the foreground of something else; restart it yourself (with ENABLE_UDP_SERVER it only reads access.conf when it starts)`;
    }
    process.kill(pid, 'SIGTERM');
    if (!(await waitFor(() => !isProcessAlive(pid), 10_000))) throw new KnockstickError('INTERNAL', `fwknopd (pid ${pid}) did not stop within 10 s of SIGTERM`, { hint: `stop it (kill ${pid}) and start it again` });
    // fwknopd daemonizes itself: the command returns once the daemon is started.
    await run({ file: exe, args, purpose: 'start fwknopd again with the command line it had' });
  }
  let fresh: number | undefined;
  const up = await waitFor(async () => (fresh = await livePid(pidfile)) !== undefined && fresh !== pid, 10_000);
  if (!up || fresh === undefined) throw new KnockstickError('INTERNAL', `fwknopd did not come back after the restart (no new live pid in ${pidfile})`, { hint: 'start it (systemctl start fwknop-server) and check its log' });
  await new Promise((r) => setTimeout(r, 300));
  if (!isProcessAlive(fresh)) throw new KnockstickError('INTERNAL', `fwknopd (pid ${fresh}) exited right after the restart`, { hint: 'check its log (journalctl -u fwknop-server)' });
  return `restarted fwknopd (UDP server mode does not survive SIGHUP; pid ${pid} -> ${fresh}, running)`;
}

/**
 * Closes the doors member `door` opened: the spa4 (or doors4) elements tagged with its name.
 * Returns how many; none when there is no such set (an iptables server, or no firewall loaded).
 */
export async function closeSpaDoors(door: string): Promise<number> {
  let closed = 0;
  for (const set of [SPA_SET, 'doors4']) {
    const listed = await runAllowingFailure({ file: 'nft', args: ['-j', 'list', 'set', 'inet', 'knockstick', set], purpose: 'list the SPA doors' }).catch(() => undefined);
    if (listed === undefined || listed.exitCode !== 0) continue;
    const addresses = spaDoorsTagged(listed.stdout, door);
    for (const address of addresses) {
      // Already gone (its timeout, or the connection used it): no matter.
      await runAllowingFailure({ file: 'nft', args: ['delete', 'element', 'inet', 'knockstick', set, '{', address, '}'], purpose: `close ${door}'s door for ${address}` });
    }
    closed += addresses.length;
  }
  return closed;
}

/** The addresses in `nft -j list set` output whose element comment is `door`. Pure. */
export function spaDoorsTagged(json: string, door: string): string[] {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const item of (data as { nftables?: unknown[] }).nftables ?? []) {
    const elems = (item as { set?: { elem?: unknown[] } }).set?.elem ?? [];
    for (const e of elems) {
      const elem = (e as { elem?: { val?: unknown; comment?: unknown } }).elem;
      if (elem?.comment === door && typeof elem.val === 'string' && /^[0-9.]+$/.test(elem.val)) out.push(elem.val);
    }
  }
  return out;
}
