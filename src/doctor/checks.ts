// knockstick doctor's judgement: from facts gathered on the machine (facts.ts) to findings. Pure,
// so every finding has a test on a deliberately broken set of facts.

import { refillAdvice } from '../core/refill.js';
import { describeLockstep, healingCommand, healingOf, isHealthy, lockstepOf } from '../core/lockstep.js';
import type { CallhomeState } from '../core/policy.js';
import { parseKnockdConf, type KnockdDoor } from '../core/knockd-conf.js';
import { formatProblem } from '../core/errors.js';
import type { ProbeResult } from '../core/knockd-probe.js';
import { parseSequenceFile, unusedLines } from '../core/sequences.js';
import { checkFwknopd, type FwknopdFacts } from './fwknopd-checks.js';
import { checkAccessGpgStanza, checkKeyringDir, checkStickGpgStanza, type AccessGpgStanza, type DirFact, type KeyringFacts, type StickGpgStanza } from './gpg-checks.js';

import { checkMembers, type MembersFacts } from './members-checks.js';
import { checkSpaMembers } from './spa-members-checks.js';
export type Severity = 'error' | 'warning' | 'ok';

export interface Finding {
  readonly id: string;
  readonly severity: Severity;
  /** One line: what was found. */
  readonly message: string;
  /** What to do about it (empty for ok). */
  readonly fix: string;
}

export interface FileFact {
  readonly text: string | null;
  readonly mode: number | undefined;
}

export interface Facts {
  readonly knockdConf: { readonly path: string } & FileFact;
  /** An SPA server (fwknopd.conf and access.conf, fwknopd-checks.ts): no knockd checks. */
  readonly spa?: FwknopdFacts;
  /** An fwknopd server (--access-conf without --knockd-conf): no knockd checks. */
  readonly fwknopdOnly?: boolean;
  /** --access-conf: its GnuPG stanzas and their keyrings by GPG_HOME_DIR (gpg-checks.ts). */
  readonly gpgServer?: {
    readonly path: string;
    readonly exists: boolean;
    readonly stanzas: readonly AccessGpgStanza[];
    readonly rings: ReadonlyMap<string, KeyringFacts>;
    /** Who may own a keyring: root (fwknopd) and the user running doctor. */
    readonly owners: readonly number[];
  };
  /** The stick's GnuPG side: .gnupg and the USE_GPG stanzas of .ssh/fwknoprc. */
  readonly gpgStick?: {
    readonly gnupg: { readonly path: string; readonly dir: DirFact | undefined };
    readonly stanzas: readonly StickGpgStanza[];
    readonly rings: ReadonlyMap<string, KeyringFacts>;
    readonly owners: readonly number[];
  };
  /** Unix seconds, for key expiry (the clock at gathering). */
  readonly now?: number;
  /** one_time_sequences files named by knockd.conf, by path. */
  readonly oneTimeFiles: ReadonlyMap<string, FileFact>;
  /** knockd's pidfile and whether its pid is alive; undefined when not checked (--offline). */
  readonly knockd?: { readonly pidfile: string; readonly pid: number | null; readonly alive: boolean };
  /** The interface knockd listens on and its IPv4 addresses (null: no such interface). */
  readonly iface?: { readonly name: string; readonly ipv4: readonly string[] | null };
  /** `nft list ruleset` and `iptables-save` output (null when the tool is missing). */
  readonly firewall?: { readonly nft: string | null; readonly iptables: string | null; readonly sshPort: number };
  /** `sshd -T` output, or null when sshd could not be asked. */
  readonly sshdT?: string | null;
  readonly stick?: {
    readonly root: string;
    readonly alias: string;
    readonly sshConfigError: string | null;
    readonly identityFiles: ReadonlyArray<{ readonly path: string; readonly mode: number | undefined }>;
    readonly sequences: { readonly path: string } & FileFact;
    /** The server file to check lockstep against (--server-file, else the first one-time file). */
    readonly serverFile: string | undefined;
    /** callhome's record next to the sequence file: it decides which used lines callhome retries. */
    readonly callhomeState?: CallhomeState;
    /**
     * knockstick-written path lines of the ssh config that name another place than `root` (the
     * stick was prepared or last mounted elsewhere): ssh -F would look for the launcher, key and
     * known_hosts there. One line each (stick-relocate.ts describeRelocation); undefined: not checked.
     */
    readonly stalePaths?: readonly string[];
    /** An SPA stick (fwknopd server): no sequence file to check. */
    readonly spa?: boolean;
  };
  readonly warnBelow: number;
  /** What the real knockd made of knockd.conf (knockd-probe.ts); undefined when not asked. */
  readonly knockdProbe?: ProbeResult;
  /** The member registry and the files beside the doors' (members-checks.ts); undefined: not checked. */
  readonly members?: MembersFacts;
}

const ok = (id: string, message: string): Finding => ({ id, severity: 'ok', message, fix: '' });
const bad = (id: string, severity: 'error' | 'warning', message: string, fix: string): Finding => ({ id, severity, message, fix });
const loose = (mode: number | undefined): boolean => mode !== undefined && (mode & 0o077) !== 0;

function checkOneTimeFile(door: KnockdDoor, path: string, fact: FileFact | undefined, warnBelow: number): Finding[] {
  const id = `sequences:${door.name}`;
  if (fact?.text == null) return [bad(id, 'error', `[${door.name}] ${path} does not exist: knockd will not start`, `create it with seqgen`)];
  const parsed = parseSequenceFile(fact.text, path, 'server');
  const findings: Finding[] = [];
  if (parsed.problems.length > 0) {
    findings.push(
      bad(
        id,
        'error',
        `[${door.name}] ${path} has ${parsed.problems.length} invalid line(s); knockd then marks the wrong line and a one-time sequence works twice: ${parsed.problems
          .slice(0, 3)
          .map(formatProblem)
          .join('; ')}`,
        'fix or remove those lines (seqgen names each problem); never leave an invalid line in a server file',
      ),
    );
  }
  const unused = unusedLines(parsed.file).length;
  if (unused <= 1) {
    findings.push(
      bad(`${id}:left`, 'error', `[${door.name}] ${path} has ${unused} unused sequence(s): knockd 0.8 crashes when it consumes its last one`, 'run seqgen 50 now'),
    );
  } else if (unused < warnBelow) {
    findings.push(bad(`${id}:left`, 'warning', `[${door.name}] ${path} has only ${unused} unused sequences`, 'run seqgen 50 soon'));
  }
  if (!parsed.file.endsWithNewline) {
    findings.push(
      bad(
        `${id}:newline`,
        'warning',
        `[${door.name}] ${path} does not end with a newline: its last line may be torn (an append cut short), and a naive append would merge two lines`,
        'run `seqgen repair` with the stick mounted: it completes a torn line from the stick, or makes knockd skip it (seqgen refuses to append after a torn line)',
      ),
    );
  }
  if (loose(fact.mode)) {
    findings.push(bad(`${id}:mode`, 'warning', `[${door.name}] ${path} is readable by others (mode 0${(fact.mode ?? 0).toString(8)}): they can read your next sequences`, `chmod 600 ${path}`));
  }
  if (findings.length === 0) findings.push(ok(id, `[${door.name}] ${path}: valid, ${unused} unused`));
  return findings;
}

/** The rule a start command adds, as the stop command must name it to delete it. */
function undoes(start: string, stop: string): boolean {
  const ipt = /^(ip6?tables)\s+(.*?)(?:-A|-I)\s+(\S+)(?:\s+\d+)?\s+(.*)$/.exec(start.trim());
  if (ipt !== null) {
    const [, tool, table, chain, rule] = ipt;
    return stop.trim().replace(/\s+/g, ' ') === `${tool} ${table}-D ${chain} ${rule}`.replace(/\s+/g, ' ');
  }
  const nft = /^nft\s+add\s+element\s+(.*)$/.exec(start.trim());
  if (nft !== null) return stop.trim().replace(/\s+/g, ' ') === `nft delete element ${nft[1]}`.replace(/\s+/g, ' ');
  return false;
}

/** Where a door's start_command puts the knocking address, and whether it leaves by itself. */
type DoorPlace =
  /** An nft set element; `timeout`: the element carries one (it leaves by itself). */
  | { readonly kind: 'nft'; readonly set: string; readonly timeout: boolean }
  /** An xt_recent list (the rule's --seconds ends the door). */
  | { readonly kind: 'recent'; readonly list: string }
  /** A firewall rule per door (iptables -A/-I): only the stop_command removes it. */
  | { readonly kind: 'rule' }
  | { readonly kind: 'other' };

function doorPlace(start: string): DoorPlace {
  const nft = /^nft\s+add\s+element\s+\S+\s+\S+\s+(\S+)\s+\{([^}]*)\}/.exec(start.trim());
  if (nft !== null) return { kind: 'nft', set: nft[1] as string, timeout: /\btimeout\s+\d+[smhd]?\b/.test(nft[2] as string) };
  const recent = /\+%IP%\s*>\s*'?\/proc\/net\/xt_recent\/([A-Za-z0-9_]+)'?/.exec(start);
  if (recent !== null) return { kind: 'recent', list: recent[1] as string };
  if (/^ip6?tables\s.*(?:-A|-I)\s/.test(start.trim())) return { kind: 'rule' };
  return { kind: 'other' };
}

/** A door that leaves by itself needs no stop_command (server init writes none: it could only close a newer door). */
function closesItself(place: DoorPlace): boolean {
  return (place.kind === 'nft' && place.timeout) || place.kind === 'recent';
}

function checkDoors(doors: readonly KnockdDoor[]): Finding[] {
  const findings: Finding[] = [];
  for (const door of doors) {
    const start = door.settings.get('start_command')?.value ?? door.settings.get('command')?.value;
    const stop = door.settings.get('stop_command')?.value;
    if (door.name === 'panic' || start === undefined) continue;
    const id = `door:${door.name}`;
    if (door.settings.get('tcpflags')?.value.toLowerCase().split(',').includes('syn') !== true) {
      findings.push(bad(`${id}:syn`, 'warning', `[${door.name}] has no "tcpflags = syn": traffic to a real service on a knock port breaks sequences`, 'add tcpflags = syn'));
    }
    if (stop === undefined && closesItself(doorPlace(start))) findings.push(ok(id, `[${door.name}] the door closes by itself (its timeout in the firewall)`));
    else if (stop === undefined) findings.push(bad(id, 'error', `[${door.name}] opens a door but has no stop_command: it never closes`, 'add a stop_command that deletes what start_command adds'));
    else if (!undoes(start, stop)) {
      findings.push(bad(id, 'error', `[${door.name}] stop_command does not undo start_command: the door may stay open`, 'make stop_command delete exactly the rule or element start_command adds (-A/-I ↔ -D, add ↔ delete)'));
    } else findings.push(ok(id, `[${door.name}] stop_command undoes start_command`));
  }
  return findings;
}

const SINGLE_USE_FIX = 'knockstick server init --door-policy single-use writes doors that admit one connection and close by themselves';

/**
 * Is each door single-use (the firewall rule removes the address as it admits a new connection)
 * and does it close by itself (a timeout, not knockd's stop_command)? Hand-made servers, servers
 * made before single-use doors, and --door-policy window get warnings: they work, but admit
 * everyone behind the knocking address's NAT for cmd_timeout.
 */
function checkDoorPolicy(doors: readonly KnockdDoor[], fw: Facts['firewall']): Finding[] {
  const findings: Finding[] = [];
  for (const door of doors) {
    const start = door.settings.get('start_command')?.value ?? door.settings.get('command')?.value;
    if (door.name === 'panic' || start === undefined) continue;
    const id = `door:${door.name}:single-use`;
    const place = doorPlace(start);
    const window = (how: string): Finding =>
      bad(id, 'warning', `[${door.name}] ${how}: every new connection from the knocking address gets in for cmd_timeout, anyone behind the same NAT too`, SINGLE_USE_FIX);
    if (place.kind === 'rule') {
      findings.push(window('adds a firewall rule per door'));
      findings.push(bad(`door:${door.name}:expiry`, 'warning', `[${door.name}] the door is a rule only knockd's stop_command removes: it stays open if knockd dies first`, SINGLE_USE_FIX));
      continue;
    }
    if (place.kind === 'other') continue;
    // The firewall as loaded decides; without it (--offline, not root) only the start command speaks.
    const rules = place.kind === 'nft' ? ruleLines(fw?.nft, `@${place.set} `) : ruleLines(fw?.iptables, `--name ${place.list} `);
    if (place.kind === 'nft' && !place.timeout && !new RegExp(`set ${place.set} \\{[^}]*\\n\\s*timeout \\d`).test(fw?.nft ?? '')) {
      findings.push(bad(`door:${door.name}:expiry`, 'warning', `[${door.name}] adds ${place.set} elements without a timeout: the door stays open if knockd dies before its stop_command`, SINGLE_USE_FIX));
    }
    if (place.kind === 'recent' && rules.length > 0 && !rules.some((r) => /--seconds \d+/.test(r))) {
      findings.push(bad(`door:${door.name}:expiry`, 'warning', `[${door.name}] the rule reading the xt_recent list ${place.list} has no --seconds: a door never closes`, SINGLE_USE_FIX));
    }
    if (fw === undefined || rules.length === 0) continue;
    const singleUse = place.kind === 'nft' ? rules.some((r) => r.includes(`delete @${place.set} `)) : rules.some((r) => /--remove\b/.test(r));
    findings.push(singleUse ? ok(id, `[${door.name}] the door is single-use: the rule removes the address as it admits one connection`) : window('is a window (the rule leaves the address in)'));
  }
  return findings;
}

/** The rule lines of a ruleset dump that mention `needle` (not set declarations or elements). */
function ruleLines(dump: string | null | undefined, needle: string): string[] {
  return (dump ?? '').split('\n').filter((l) => l.includes(needle) && !/^\s*(set |elements|type |flags )/.test(l));
}

function checkPanic(doors: readonly KnockdDoor[], oneTimeFiles: ReadonlyMap<string, FileFact>): Finding[] {
  const panic = doors.find((d) => d.name === 'panic');
  if (panic === undefined) return [bad('panic', 'warning', 'no [panic] stanza: a lost stick cannot be answered with `sh panic`', 'knockstick panic rotate')];
  const used = new Set<number>();
  for (const [path, fact] of oneTimeFiles) {
    for (const line of parseSequenceFile(fact.text ?? '', path, 'server').file.lines) for (const k of line.sequence ?? []) used.add(k.port);
  }
  const ports = (panic.sequence ?? []).map((k) => k.port);
  const shared = ports.filter((p) => used.has(p));
  if (ports.length > 0 && shared.length === ports.length) {
    return [bad('panic', 'error', 'every panic port also appears in a one-time sequence: a normal knock could trip the panic', 'knockstick panic rotate (it picks ports no sequence uses)')];
  }
  if (shared.length > 0) return [bad('panic', 'warning', `${shared.length} panic port(s) also appear in one-time sequences`, 'knockstick panic rotate')];
  return [ok('panic', 'the panic sequence is out of phase with every one-time sequence')];
}

/** Router mode (server init --inner): doors forward SSH to inner hosts instead of opening INPUT. */
function isRouter(doors: readonly KnockdDoor[]): boolean {
  return doors.some((d) => /KNOCKSTICK_DNAT|knockstick_nat|xt_recent\/knockstick_/.test(d.settings.get('start_command')?.value ?? ''));
}

function checkFirewall(fw: NonNullable<Facts['firewall']>, router: boolean): Finding {
  const nft = fw.nft ?? '';
  const ipt = fw.iptables ?? '';
  if (router) {
    // A router's own input and forward policies are its owner's (DHCP, DNS, NAT); what matters
    // here is that the forwarding doors exist for knockd to fill.
    return /table ip knockstick_nat/.test(nft) || /^:KNOCKSTICK_(DNAT|ROUTER) /m.test(ipt)
      ? ok('firewall', 'router mode: the forwarding doors are in place (the router\'s own policies are not checked)')
      : bad('firewall', 'error', 'router mode, but neither the knockstick_nat table nor the KNOCKSTICK_DNAT chain is loaded: no door can open', 'load router.nft or run router-iptables.sh from `knockstick server init`');
  }
  const nftDrops = /hook input[^\n]*policy drop/.test(nft);
  const iptDrops = /^:INPUT DROP/m.test(ipt) || /^-A INPUT .*-j (DROP|REJECT)\s*$/m.test(ipt);
  const established = /ct state (established,related|\{ established, related \})[^\n]*accept/.test(nft) || /--ctstate (RELATED,)?ESTABLISHED(,RELATED)? -j ACCEPT/.test(ipt);
  const openSsh = new RegExp(`^-A INPUT -p tcp -m tcp --dport ${fw.sshPort} -j ACCEPT$`, 'm').test(ipt) || new RegExp(`^\\s*tcp dport ${fw.sshPort} accept$`, 'm').test(nft);
  if (openSsh) return bad('firewall', 'error', `port ${fw.sshPort} is accepted for everyone: the knock protects nothing`, `remove that rule; doors open port ${fw.sshPort} per address`);
  if (!nftDrops && !iptDrops) return bad('firewall', 'error', 'the firewall does not drop new connections on INPUT: SSH is visible to the world', 'load the firewall from `knockstick server init`');
  if (!established) return bad('firewall', 'error', 'the firewall does not accept established connections: sessions die when the door closes', 'accept ct state established,related first');
  return ok('firewall', 'new connections are dropped, established ones accepted');
}

export function checkSshd(sshdT: string | null): Finding {
  if (sshdT === null) return bad('sshd', 'warning', 'could not ask sshd for its effective settings (sshd -T)', 'run doctor as root on the server');
  const value = (key: string): string | undefined => new RegExp(`^${key} (\\S+)$`, 'm').exec(sshdT)?.[1];
  if (value('passwordauthentication') !== 'no' || value('kbdinteractiveauthentication') === 'yes') {
    return bad('sshd', 'error', 'sshd accepts passwords', 'install the keys-only drop-in from `knockstick server init`, then sshd -t && systemctl reload ssh');
  }
  return ok('sshd', 'sshd accepts keys only');
}

/** GnuPG SPA: fwknopd's keyrings (access.conf) and the stick's. */
function checkGpg(facts: Facts): Finding[] {
  const now = facts.now ?? Math.floor(Date.now() / 1000);
  const findings: Finding[] = [];
  const server = facts.gpgServer;
  if (server !== undefined) {
    if (!server.exists) findings.push(bad('gpg:server:access', 'error', `${server.path} does not exist`, 'give fwknopd\'s access.conf with --access-conf'));
    else if (server.stanzas.length === 0) findings.push(ok('gpg:server:access', `${server.path} has no GnuPG stanza`));
    for (const s of server.stanzas) findings.push(...checkAccessGpgStanza(s, s.home === undefined ? undefined : server.rings.get(s.home), now, server.owners));
  }
  const stick = facts.gpgStick;
  if (stick !== undefined && (stick.stanzas.length > 0 || stick.gnupg.dir !== undefined)) {
    findings.push(checkKeyringDir('gpg:stick:home', stick.gnupg.path, stick.gnupg.dir, stick.owners));
    for (const s of stick.stanzas) {
      const ring = stick.rings.get(s.home);
      if (ring !== undefined) findings.push(...checkStickGpgStanza(s, ring, now));
    }
  }
  return findings;
}

export function diagnose(facts: Facts): Finding[] {
  const gpg = checkGpg(facts);
  const conf = facts.knockdConf;
  if (facts.spa !== undefined) {
    return [...checkFwknopd(facts.spa), ...(facts.sshdT === undefined ? [] : [checkSshd(facts.sshdT)]), ...gpg, ...(facts.stick === undefined ? [] : checkStick(facts.stick, facts))];
  }
  if (facts.fwknopdOnly === true) return [...gpg, ...(facts.stick === undefined ? [] : checkStick(facts.stick, facts))];
  const findings: Finding[] = [];
  // The stick is still checked on a machine without knockd (the client, where it is mounted).
  if (conf.text === null) return [bad('knockd.conf', 'error', `${conf.path} does not exist`, 'knockstick server init'), ...gpg, ...(facts.stick === undefined ? [] : checkStick(facts.stick, facts))];
  const { conf: parsed, problems } = parseKnockdConf(conf.text, conf.path);
  findings.push(
    problems.length > 0
      ? bad('knockd.conf', 'error', `${conf.path} has errors knockd stops at: ${problems.slice(0, 3).map(formatProblem).join('; ')}`, 'fix them before knockd (re)reads it')
      : ok('knockd.conf', `${conf.path} parses`),
  );
  if (facts.knockdProbe !== undefined) findings.push(checkProbe(facts.knockdProbe, conf.path));
  if (loose(conf.mode)) findings.push(bad('knockd.conf:mode', 'warning', `${conf.path} is readable by others: it holds the panic sequence`, `chmod 600 ${conf.path}`));
  for (const door of parsed.doors) {
    if (door.oneTimeFile !== null) findings.push(...checkOneTimeFile(door, door.oneTimeFile, facts.oneTimeFiles.get(door.oneTimeFile), facts.warnBelow));
  }
  findings.push(...checkDoors(parsed.doors), ...checkDoorPolicy(parsed.doors, facts.firewall), ...checkPanic(parsed.doors, facts.oneTimeFiles));
  if (facts.members !== undefined && !isRouter(parsed.doors)) findings.push(...checkMembers(parsed.doors, facts.members, facts.oneTimeFiles));
  if (facts.members?.spaAccess !== undefined) findings.push(...checkSpaMembers(facts.members.registryPath, facts.members.registryText, facts.members.spaAccess));
  if (facts.knockd !== undefined) {
    const k = facts.knockd;
    findings.push(
      k.alive
        ? ok('knockd', `knockd is running (pid ${k.pid})`)
        : bad('knockd', 'error', k.pid === null ? `knockd is not running (no pid in ${k.pidfile})` : `knockd is not running (pid ${k.pid} from ${k.pidfile} is gone)`, 'systemctl start knockd (after a panic: rotate the panic sequence first)'),
    );
  }
  if (facts.iface !== undefined) {
    const { name, ipv4 } = facts.iface;
    findings.push(
      ipv4 === null
        ? bad('interface', 'error', `interface ${name} does not exist: knockd cannot listen`, 'set the interface in knockd.conf [options] and the systemd drop-in')
        : ipv4.length === 0
          ? bad('interface', 'error', `interface ${name} has no IPv4 address: knockd 0.8 filters on it`, 'give it its address before knockd starts')
          : ok('interface', `interface ${name} has ${ipv4.join(', ')}`),
    );
  }
  if (facts.firewall !== undefined) findings.push(checkFirewall(facts.firewall, isRouter(parsed.doors)));
  if (facts.sshdT !== undefined) findings.push(checkSshd(facts.sshdT));
  findings.push(...gpg);
  if (facts.stick !== undefined) findings.push(...checkStick(facts.stick, facts));
  return findings;
}

/** The real knockd's reading against ours: any difference is an error (our checks would be blind there). */
function checkProbe(probe: ProbeResult, path: string): Finding {
  const id = 'knockd.conf:knockd';
  switch (probe.kind) {
    case 'skipped':
      return bad(id, 'warning', `the real knockd was not asked to read ${path}: ${probe.reason}`, 'run doctor as root where knockd and ip are installed to have knockd confirm our reading');
    case 'differs':
      return bad(id, 'error', `the real knockd reads ${path} differently from us: ${probe.differences.join('; ')}`, 'do not reload knockd with this file; please report the difference (our model of knockd is wrong there)');
    case 'agrees':
      return ok(id, probe.accepted ? `the real knockd reads ${path} as we do (${probe.doors} door(s))` : `the real knockd refuses ${path} too: ${probe.knockdSays}`);
  }
}

function checkStick(stick: NonNullable<Facts['stick']>, facts: Facts): Finding[] {
  const findings: Finding[] = [];
  findings.push(stick.sshConfigError === null ? ok('stick:config', `${stick.root}/.ssh/config has "${stick.alias}"`) : bad('stick:config', 'error', stick.sshConfigError, 'usbsetup writes a working .ssh/config'));
  if (stick.stalePaths !== undefined) {
    findings.push(
      stick.stalePaths.length === 0
        ? ok('stick:paths', `${stick.root}/.ssh/config names the stick where it is`)
        : bad(
            'stick:paths',
            'error',
            `${stick.root}/.ssh/config names the stick at another place, so \`ssh -F\` (and scp, sftp, rsync, git) cannot find its launcher, key or known_hosts: ${stick.stalePaths.join('; ')}`,
            `knockstick doctor --offline --stick ${stick.root} --fix-paths rewrites exactly those lines (secureon does it when it mounts the stick)`,
          ),
    );
  }
  for (const key of stick.identityFiles) {
    if (key.mode === undefined) findings.push(bad('stick:key', 'error', `${key.path} (IdentityFile) does not exist`, 'put the key there or fix IdentityFile'));
    else if (loose(key.mode)) findings.push(bad('stick:key', 'error', `${key.path} is readable by others (mode 0${key.mode.toString(8)}): ssh refuses such a key`, 'chmod 600 it (on vfat/exfat: mount with umask=077)'));
    else findings.push(ok('stick:key', `${key.path}: mode 0${key.mode.toString(8)}`));
  }
  if (stick.spa === true) return findings;
  const seq = stick.sequences;
  if (seq.text === null) return [...findings, bad('stick:sequences', 'error', `${seq.path} does not exist`, 'seqgen')];
  const parsed = parseSequenceFile(seq.text, seq.path, 'stick');
  const unused = unusedLines(parsed.file).length;
  findings.push(
    parsed.problems.length > 0
      ? bad('stick:sequences', 'error', `${seq.path}: ${parsed.problems.slice(0, 3).map(formatProblem).join('; ')}`, 'fix those lines')
      : unused <= 1
        ? bad('stick:sequences', 'error', `${seq.path} has ${unused} unused sequence(s): callhome refuses the last one`, refillAdvice(unused, stick.alias, stick.root))
        : unused < facts.warnBelow
          ? bad('stick:sequences', 'warning', `${seq.path} has only ${unused} unused sequences`, refillAdvice(unused, stick.alias, stick.root))
          : ok('stick:sequences', `${seq.path}: ${unused} unused`),
  );
  // Lockstep with the server file of the door that uses the same alias' file (the first one-time door).
  const serverPath = stick.serverFile ?? [...facts.oneTimeFiles.keys()][0];
  const serverFact = serverPath === undefined ? undefined : facts.oneTimeFiles.get(serverPath);
  if (serverPath !== undefined && serverFact?.text != null && parsed.problems.length === 0) {
    const server = parseSequenceFile(serverFact.text, serverPath, 'server');
    if (server.problems.length === 0) {
      // The same drift rule as seqgen status: fine only if the next callhome heals it by itself.
      const lockstep = lockstepOf(server.file, parsed.file);
      const healing = healingOf(lockstep, server.file, parsed.file, stick.callhomeState);
      const text = describeLockstep(lockstep, server.file, parsed.file, healing);
      findings.push(
        isHealthy(healing) ? ok('lockstep', text) : bad('lockstep', 'error', text, healingCommand(healing) ?? 'compare the two files; see seqgen status'),
      );
    }
  }
  return findings;
}
