// doctor's checks of an SPA server (fwknopd 2.6): its two files as fwknopd reads them
// (core/fwknopd-conf.ts), the real fwknopd's reading of them (core/fwknopd-probe.ts), their modes,
// the keys, command execution, OPEN_PORTS against sshd's port, the SPA port against the firewall,
// FWKNOP_INPUT, and the daemon's pidfile. Pure: index.ts gathers the facts; every finding has a
// unit test (test/unit/spadoctor-*.test.ts).

import type { Finding } from './checks.js';
import { isPlaceholder, isYes, keyBytes, openTcpPorts, readAccessConf, readFwknopdConf, spaPort, type AccessStanza, type FwknopProblem } from '../core/fwknopd-conf.js';
import type { FwknopdProbeResult } from '../core/fwknopd-probe.js';
import { parseRcText } from '../spa/rc-file.js';

export interface FwknopFileFact {
  readonly path: string;
  /** The bytes as read, one char per byte (latin1); null: the file does not exist. */
  readonly text: string | null;
  readonly mode?: number | undefined;
  readonly uid?: number | undefined;
}

export interface FwknopdFacts {
  readonly conf: FwknopFileFact;
  readonly access: FwknopFileFact;
  /** The real fwknopd's reading (-D on copies); undefined when not asked. */
  readonly probe?: FwknopdProbeResult;
  /** The pidfile and whether its pid is alive; undefined when not checked (--offline). */
  readonly daemon?: { readonly pidfile: string; readonly pid: number | null; readonly alive: boolean };
  /** `nft list ruleset` and `iptables-save` (null when missing); undefined when not checked. */
  readonly firewall?: { readonly nft: string | null; readonly iptables: string | null };
  /** The ports sshd listens on (sshd -T, else server settings); empty: unknown. */
  readonly sshPorts: readonly number[];
  /** --stick: the stick's .ssh/fwknoprc (text null: missing) and the stanza it sends with (the --host alias). */
  readonly stickRc?: { readonly path: string; readonly text: string | null; readonly stanza: string } | undefined;
  /** The file fwknopd.conf's SUDO_EXE names (knockstick's command filter, when --allow-command made it); undefined: no SUDO_EXE. */
  readonly commandFilter?: FwknopFileFact | undefined;
}

/** The file name server init --method spa --allow-command gives the command filter. */
export const COMMAND_FILTER_NAME = 'spa-command-filter';

/**
 * The regex knockstick's command filter (templates/spa-command-filter.sh) enforces: its ALLOW line,
 * single-quoted for sh. undefined: not such a filter (another SUDO_EXE, or edited beyond recognition).
 */
export function commandFilterRegex(text: string): string | undefined {
  if (!text.includes('grep -Ezqx -e "$ALLOW"')) return undefined;
  const m = /^ALLOW='((?:[^']|'\\'')*)'$/m.exec(text);
  return m === null ? undefined : (m[1] as string).replace(/'\\''/g, "'");
}

/**
 * How a stanza's command messages are limited: by knockstick's command filter (fwknopd.conf SUDO_EXE
 * naming it and the stanza's ENABLE_CMD_SUDO_EXEC Y: fwknopd runs "FILTER COMMAND"), or not at all.
 * fwknopd 2.6 ignores CMD_REGEX, so the filter is what makes the regex mean something.
 */
type FilterState =
  | { readonly kind: 'none' }
  | { readonly kind: 'enforced'; readonly regex: string; readonly path: string }
  | { readonly kind: 'broken'; readonly finding: Finding };

function filterState(path: string, s: AccessStanza, line: number, filter: FwknopFileFact | undefined): FilterState {
  if (filter === undefined || !isYes(s.values.get('ENABLE_CMD_SUDO_EXEC')?.value)) return { kind: 'none' };
  const ours = filter.path.endsWith(`/${COMMAND_FILTER_NAME}`);
  if (filter.text === null) {
    return ours
      ? { kind: 'broken', finding: bad('access:cmd-exec', 'error', `${path}:${line} command messages go through fwknopd's SUDO_EXE ${filter.path}, which does not exist: every command fails`, 'run server init --method spa --allow-command REGEX again (it writes the filter), or ENABLE_CMD_EXEC N') }
      : { kind: 'none' };
  }
  const regex = commandFilterRegex(filter.text);
  if (regex === undefined) return { kind: 'none' };
  if (filter.mode !== undefined && (filter.mode & 0o100) === 0) {
    return { kind: 'broken', finding: bad('access:cmd-exec', 'error', `${path}:${line} command messages go through the command filter ${filter.path}, which is not executable (mode ${octal(filter.mode)}): every command fails`, `chmod 700 ${filter.path}`) };
  }
  if (filter.mode !== undefined && (filter.mode & 0o022) !== 0) {
    return { kind: 'broken', finding: bad('access:cmd-exec', 'error', `${path}:${line} the command filter ${filter.path} is writable by others (mode ${octal(filter.mode)}): anyone who edits it runs commands as root`, `chmod 700 ${filter.path}`) };
  }
  return { kind: 'enforced', regex, path: filter.path };
}

const ok = (id: string, message: string): Finding => ({ id, severity: 'ok', message, fix: '' });
const bad = (id: string, severity: 'error' | 'warning', message: string, fix: string): Finding => ({ id, severity, message, fix });
const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/** Shortest keys we call long enough: fwknop --key-gen makes 32 (Rijndael) and 64 (HMAC) bytes. */
export const MIN_KEY_BYTES = 16;
export const MIN_HMAC_KEY_BYTES = 32;

const PROBLEM_SEVERITY: Record<FwknopProblem['kind'], 'error' | 'warning'> = {
  bom: 'error',
  'long-line': 'error',
  invalid: 'warning',
  unknown: 'warning',
  duplicate: 'warning',
  'before-source': 'warning',
  include: 'warning',
  fatal: 'error',
};

const PROBLEM_FIX: Record<FwknopProblem['kind'], string> = {
  bom: 'save the file without a byte-order mark (plain ASCII/UTF-8 without BOM)',
  'long-line': 'shorten the line (fwknopd reads at most 1022 characters of it at once)',
  invalid: 'give the name a value, or remove the line',
  unknown: 'remove the line or correct the name (names are case-sensitive)',
  duplicate: 'keep one line per name',
  'before-source': 'start the file with a SOURCE line; settings belong to the SOURCE stanza above them',
  include: 'nothing to do if the included file is yours; doctor checks only this file',
  fatal: 'fix the line: fwknopd will not start with this file',
};

function problemFindings(file: 'fwknopd.conf' | 'access.conf', path: string, problems: readonly FwknopProblem[]): Finding[] {
  // Key refusals: the key checks (access:key, access:hmac) say them with the stanza's line.
  return problems.filter((p) => p.topic !== 'key').map((p) => {
    // invalid lines are fatal in access.conf only (fwknopd refuses the whole file there).
    const severity = p.fatal ? 'error' : PROBLEM_SEVERITY[p.kind];
    return bad(p.kind === 'fatal' ? file : `${file}:${p.kind}`, severity, `${path}${p.line > 0 ? `:${p.line}` : ''} ${p.message}`, PROBLEM_FIX[p.kind]);
  });
}

/** 0600 and root's: fwknopd warns about anything else, and access.conf holds the keys. */
function modeFindings(file: 'fwknopd.conf' | 'access.conf', f: FwknopFileFact): Finding[] {
  const out: Finding[] = [];
  if (f.mode !== undefined) {
    const m = f.mode & 0o777;
    if (m !== 0o600) {
      const readable = (m & 0o077) !== 0;
      out.push(
        bad(
          `${file}:mode`,
          readable && file === 'access.conf' ? 'error' : 'warning',
          `${f.path} has mode ${octal(m)}${readable && file === 'access.conf' ? ': others can read the SPA keys' : ''} (fwknopd warns about anything but 0600)`,
          `chmod 600 ${f.path}`,
        ),
      );
    } else out.push(ok(`${file}:mode`, `${f.path}: mode 0600`));
  }
  if (f.uid !== undefined && f.uid !== 0) out.push(bad(`${file}:owner`, 'warning', `${f.path} is owned by uid ${f.uid}, not root (fwknopd runs as root and warns)`, `chown root: ${f.path}`));
  return out;
}

const where = (path: string, s: AccessStanza): string => `${path}:${s.line} (SOURCE ${s.source.trim()})`;
const isGpg = (s: AccessStanza): boolean => [...s.values.keys()].some((k) => k === 'GPG_DECRYPT_PW' || k === 'GPG_ALLOW_NO_PW' || k === 'GPG_DECRYPT_ID');

function keyFindings(path: string, s: AccessStanza): Finding[] {
  const out: Finding[] = [];
  // A placeholder key is already an error (fwknopd refuses the file): its length says nothing.
  if (['KEY', 'KEY_BASE64', 'HMAC_KEY', 'HMAC_KEY_BASE64'].some((n) => isPlaceholder(s.values.get(n)?.value ?? ''))) return out;
  const key = keyBytes(s, 'KEY');
  const hmac = keyBytes(s, 'HMAC_KEY');
  const at = where(path, s);
  const lineOf = (n: string): number => s.values.get(n)?.line ?? s.values.get(`${n}_BASE64`)?.line ?? s.line;
  if (key === undefined && !isGpg(s)) out.push(bad('access:key', 'error', `${at} has no KEY or KEY_BASE64: fwknopd refuses the file ("No keys found")`, 'add KEY_BASE64 (fwknop --key-gen makes one), or run server init --method spa'));
  else if (key !== undefined && key.length < MIN_KEY_BYTES) {
    out.push(bad('access:key', 'warning', `${path}:${lineOf('KEY')} the encryption key is ${key.length} bytes: short enough to guess offline from one captured packet`, `use a key of 32 random bytes (fwknop --key-gen), at least ${MIN_KEY_BYTES}`));
  } else if (key !== undefined) out.push(ok('access:key', `${path}:${lineOf('KEY')} encryption key of ${key.length} bytes`));
  if (hmac === undefined) {
    out.push(
      isGpg(s)
        ? bad('access:hmac', 'warning', `${at} uses GnuPG without an HMAC key: fwknopd decrypts (runs gpg on) every packet anyone sends`, 'add HMAC_KEY_BASE64 (the same in the client\'s fwknoprc, USE_HMAC Y)')
        : bad('access:hmac', 'error', `${at} has no HMAC key: packets are not authenticated before decryption`, 'add HMAC_KEY_BASE64 (fwknop --key-gen makes one) and USE_HMAC Y on the client'),
    );
  } else if (key !== undefined && key.equals(hmac)) {
    out.push(bad('access:hmac', 'error', `${path}:${lineOf('HMAC_KEY')} the HMAC key is the encryption key: fwknopd refuses the file`, 'make two different keys (fwknop --key-gen)'));
  } else if (hmac.length < MIN_HMAC_KEY_BYTES) {
    out.push(bad('access:hmac', 'warning', `${path}:${lineOf('HMAC_KEY')} the HMAC key is ${hmac.length} bytes`, `use 64 random bytes (fwknop --key-gen), at least ${MIN_HMAC_KEY_BYTES}`));
  } else out.push(ok('access:hmac', `${path}:${lineOf('HMAC_KEY')} HMAC key of ${hmac.length} bytes`));
  return out;
}

/** No key opens two stanzas: each stanza's key is its own (a shared one makes the SOURCE limits moot). */
function sharedKeyFindings(path: string, stanzas: readonly AccessStanza[]): Finding[] {
  const seen = new Map<string, AccessStanza>();
  const out: Finding[] = [];
  for (const s of stanzas) {
    const key = keyBytes(s, 'KEY');
    if (key === undefined || key.length === 0) continue;
    const first = seen.get(key.toString('hex'));
    if (first !== undefined) out.push(bad('access:shared-key', 'error', `${path}:${s.line} the stanza has the same encryption key as the one of line ${first.line}`, 'give each stanza its own key (fwknop --key-gen)'));
    else seen.set(key.toString('hex'), s);
  }
  if (out.length === 0 && stanzas.length > 1) out.push(ok('access:shared-key', `${path}: every stanza has its own key`));
  return out;
}

function cmdExecFindings(path: string, s: AccessStanza, filter?: FwknopFileFact): Finding[] {
  const exec = s.values.get('ENABLE_CMD_EXEC');
  if (!isYes(exec?.value) && !isYes(s.values.get('ENABLE_CMD_SUDO_EXEC')?.value)) return [];
  const line = exec?.line ?? s.values.get('ENABLE_CMD_SUDO_EXEC')?.line ?? s.line;
  // fwknopd 2.6 itself ignores CMD_REGEX (access.conf:unknown says so); shown for what it means to you.
  const regex = s.ignored.get('CMD_REGEX');
  const user = s.values.get('CMD_EXEC_USER')?.value.trim() ?? 'root';
  const state = filterState(path, s, line, filter);
  if (state.kind === 'broken') return [state.finding];
  if (state.kind === 'enforced') {
    if (regex !== undefined && regex.value.trim() !== state.regex) {
      return [bad('access:cmd-exec', 'warning', `${path}:${regex.line} CMD_REGEX says ${JSON.stringify(regex.value.trim())}, but the command filter ${state.path} enforces ${JSON.stringify(state.regex)}`, `make CMD_REGEX say what the filter enforces (or run server init --method spa --allow-command again)`)];
    }
    return [ok('access:cmd-exec', `${path}:${line} command messages run only if the whole command matches ${JSON.stringify(state.regex)}${regex === undefined ? '' : ` (CMD_REGEX, line ${regex.line})`}: enforced by the command filter ${state.path} (fwknopd's SUDO_EXE), as root`)];
  }
  if (regex === undefined) {
    return [bad('access:cmd-exec', 'error', `${path}:${line} ENABLE_CMD_EXEC is on without a CMD_REGEX: a valid packet runs any command, as ${user}`, 'knockstick server init --method spa --allow-command REGEX, or ENABLE_CMD_EXEC N')];
  }
  return [bad('access:cmd-exec', 'warning', `${path}:${line} ENABLE_CMD_EXEC is on: a valid packet runs a command as ${user}; CMD_REGEX (line ${regex.line}) is ${JSON.stringify(regex.value.trim())}`, 'keep it only if you send commands (spa send --server-cmd); ENABLE_CMD_EXEC N otherwise')];
}

function openPortsFindings(path: string, s: AccessStanza, sshPorts: readonly number[], spaUdpPort?: number): Finding[] {
  const open = s.values.get('OPEN_PORTS');
  // Also with CMD_CYCLE_OPEN: its $PORT is then whatever the packet asks for.
  if (open === undefined) return [bad('access:open-ports', 'error', `${where(path, s)} has no OPEN_PORTS: a valid packet may open any port it asks for`, 'add OPEN_PORTS tcp/SSHPORT')];
  // A command stanza (server init --allow-command) opens only the SPA port, which is open to all anyway.
  const words = open.value.split(/[\s,]+/).filter((w) => w !== '');
  if (isYes(s.values.get('ENABLE_CMD_EXEC')?.value) && spaUdpPort !== undefined && words.length > 0 && words.every((w) => w.toLowerCase() === `udp/${spaUdpPort}`)) {
    return [ok('access:open-ports', `${path}:${open.line} OPEN_PORTS ${open.value.trim()}: a command stanza; it opens only the SPA port, open to all anyway`)];
  }
  if (sshPorts.length === 0) return [ok('access:open-ports', `${path}:${open.line} OPEN_PORTS ${open.value.trim()} (sshd's port unknown: not compared)`)];
  const tcp = openTcpPorts(open.value);
  return tcp.some((p) => sshPorts.includes(p))
    ? [ok('access:open-ports', `${path}:${open.line} OPEN_PORTS ${open.value.trim()} includes sshd's port`)]
    : [bad('access:open-ports', 'error', `${path}:${open.line} OPEN_PORTS ${open.value.trim()} does not include sshd's port ${sshPorts.join(', ')}: a valid packet opens nothing you can log in through`, `OPEN_PORTS tcp/${sshPorts[0]} (and the client's ACCESS tcp/${sshPorts[0]})`)];
}

/** The rules of a ruleset dump that accept `proto` to `port` from anyone (no source address). */
function acceptsFromAnyone(fw: NonNullable<FwknopdFacts['firewall']>, proto: 'tcp' | 'udp', port: number): boolean {
  const ipt = (fw.iptables ?? '').split('\n').some((l) => l.startsWith('-A ') && new RegExp(`-p ${proto}\\b.*--dport ${port}\\b`).test(l) && / -j ACCEPT\s*$/.test(l) && !/ -s \S+/.test(l) && !/--ctstate (RELATED,)?ESTABLISHED/.test(l));
  const nft = (fw.nft ?? '').split('\n').some((l) => new RegExp(`\\b${proto} dport ${port}\\b`).test(l) && /\baccept\s*$/.test(l.trim()) && !/saddr/.test(l));
  return ipt || nft;
}

function firewallFindings(fw: NonNullable<FwknopdFacts['firewall']>, port: number | undefined, udpServer: boolean, sshPorts: readonly number[]): Finding[] {
  const nft = fw.nft ?? '';
  const ipt = fw.iptables ?? '';
  const drops = /hook input[^\n]*policy drop/.test(nft) || /^:INPUT DROP/m.test(ipt) || /^-A INPUT .*-j (DROP|REJECT)\s*$/m.test(ipt);
  const open = sshPorts.filter((p) => acceptsFromAnyone(fw, 'tcp', p));
  if (open.length > 0) return [bad('fwknopd:firewall', 'error', `the firewall accepts SSH (port ${open.join(', ')}) from anyone: SPA protects nothing`, 'remove that rule; fwknopd opens the port per address')];
  if (!drops) return [bad('fwknopd:firewall', 'error', 'the firewall does not drop new connections on INPUT: SSH is visible to the world', 'load the firewall from `knockstick server init --method spa`')];
  const established = /ct state (established,related|related,established|\{ established, related \})[^\n]*accept/.test(nft) || /--ctstate (RELATED,)?ESTABLISHED(,RELATED)? -j ACCEPT/.test(ipt);
  if (!established) return [bad('fwknopd:firewall', 'error', 'the firewall does not accept established connections: a session dies when its door closes', 'accept ct state established,related first (the firewall from server init --method spa does)')];
  // libpcap sees a packet before the firewall does: the SPA port may (and had better) stay dropped.
  if (!udpServer) return [ok('fwknopd:firewall', `every new connection is dropped; fwknopd sniffs SPA packets${port === undefined ? '' : ` on udp/${port}`} with libpcap, before the firewall`)];
  if (port === undefined) return [bad('fwknopd:firewall', 'warning', 'the SPA port is unknown (no port in PCAP_FILTER): not checked in the firewall', 'set PCAP_FILTER "udp port N"')];
  if (!acceptsFromAnyone(fw, 'udp', port)) return [bad('fwknopd:firewall', 'error', `the firewall drops udp/${port}: no SPA packet reaches fwknopd`, `accept udp dport ${port} (the firewall from server init --method spa does)`)];
  return [ok('fwknopd:firewall', `udp/${port} reaches fwknopd; every other new connection is dropped`)];
}

/** fwknopd's iptables backend puts each door in FWKNOP_INPUT, which INPUT must jump to. */
function chainFinding(iptables: string): Finding {
  if (!/^:FWKNOP_INPUT /m.test(iptables)) return bad('fwknopd:chain', 'error', 'there is no FWKNOP_INPUT chain: fwknopd (iptables backend) is not running or could not make it', 'start fwknopd after loading the firewall (it makes the chain and the jump)');
  if (!/^-A INPUT (.* )?-j FWKNOP_INPUT\s*$/m.test(iptables)) return bad('fwknopd:chain', 'error', 'INPUT does not jump to FWKNOP_INPUT: the doors fwknopd opens are never consulted (was the firewall reloaded after fwknopd started?)', 'restart fwknopd (systemctl restart fwknop-server): it adds the jump again');
  return ok('fwknopd:chain', 'INPUT jumps to FWKNOP_INPUT');
}

function probeFinding(probe: FwknopdProbeResult, paths: string): Finding {
  const id = 'fwknopd:probe';
  switch (probe.kind) {
    case 'skipped':
      return bad(id, 'warning', `the real fwknopd was not asked to read ${paths}: ${probe.reason}`, 'run doctor as root where fwknopd and ip are installed to have fwknopd confirm our reading');
    case 'differs':
      return bad(id, 'error', `the real fwknopd reads ${paths} differently from us: ${probe.differences.join('; ')}`, 'do not restart fwknopd with these files until the difference is understood; please report it (our model of fwknopd is wrong there)');
    case 'agrees':
      return probe.accepted ? ok(id, `the real fwknopd reads ${paths} as we do (${probe.stanzas} stanza(s))`) : ok(id, `the real fwknopd refuses them too${probe.says === '' ? '' : `: ${probe.says}`}`);
  }
}

/**
 * --stick: what the stick's stanza sends against what the access.conf stanza holding its key demands:
 * the port, the user name (REQUIRE_USERNAME: fwknop sends the local login unless SPOOF_USER), and an
 * address in the packet (REQUIRE_SOURCE_ADDRESS: not ALLOW_IP source, 0.0.0.0).
 */
function stickRcFindings(rc: NonNullable<FwknopdFacts['stickRc']>, accessPath: string, stanzas: readonly AccessStanza[], port: number | undefined): Finding[] {
  const at = `the stick's [${rc.stanza}] (${rc.path})`;
  if (rc.text === null) return [bad('stick:spa', 'error', `${rc.path} does not exist: the stick sends no SPA packet`, 'knockstick server init --method spa --stick DIR writes it')];
  const stanza = parseRcText(rc.text, rc.path).find((x) => x.name === rc.stanza);
  if (stanza === undefined) return [bad('stick:spa', 'error', `${rc.path} has no stanza [${rc.stanza}]`, `--host names the stanza; or add [${rc.stanza}] (server init --method spa --stick DIR)`)];
  const get = (name: string): string | undefined => stanza.entries.get(name)?.value;
  const key = get('KEY_BASE64');
  // A GnuPG stanza (no KEY_BASE64) is the GnuPG checks' (gpg-checks.ts): not compared here.
  if (key === undefined) return [];
  const server = stanzas.find((x) => keyBytes(x, 'KEY')?.equals(Buffer.from(key, 'base64')) === true);
  if (server === undefined) return [bad('stick:spa', 'error', `${at}: no stanza of ${accessPath} has its KEY_BASE64: fwknopd refuses its packets`, 'copy the keys from the server (server init --method spa --stick DIR writes both)')];
  const out: Finding[] = [];
  const sends = Number(get('SPA_SERVER_PORT') ?? 62201);
  if (port !== undefined && sends !== port) out.push(bad('stick:spa', 'error', `${at} sends to udp/${sends}, but fwknopd reads udp/${port}`, `SPA_SERVER_PORT ${port} in the stick's [${rc.stanza}]`));
  const user = server.values.get('REQUIRE_USERNAME')?.value.trim();
  if (user !== undefined && get('SPOOF_USER') !== user) {
    out.push(bad('stick:spa', 'error', `${at} sends ${get('SPOOF_USER') === undefined ? 'no SPOOF_USER (fwknop then sends the local login name)' : `the user ${get('SPOOF_USER') as string}`}, but ${accessPath}:${server.values.get('REQUIRE_USERNAME')?.line ?? server.line} REQUIRE_USERNAME ${user} refuses anyone else`, `SPOOF_USER ${user} in the stick's [${rc.stanza}]`));
  }
  if (isYes(server.values.get('REQUIRE_SOURCE_ADDRESS')?.value) && (get('ALLOW_IP') ?? 'source') === 'source') {
    out.push(bad('stick:spa', 'error', `${at} asks for the address it comes from (ALLOW_IP source, 0.0.0.0), but ${accessPath} REQUIRE_SOURCE_ADDRESS refuses that`, `ALLOW_IP local (knockstick), or the address, in the stick's [${rc.stanza}]`));
  }
  return out.length > 0 ? out : [ok('stick:spa', `${at} matches ${accessPath}:${server.line}: its key, port${user === undefined ? '' : ', user'}`)];
}

export function checkFwknopd(facts: FwknopdFacts): Finding[] {
  const findings: Finding[] = [];
  const { conf, access } = facts;
  if (conf.text === null) findings.push(bad('fwknopd.conf', 'error', `${conf.path} does not exist`, 'knockstick server init --method spa, or --fwknopd-conf PATH'));
  if (access.text === null) findings.push(bad('access.conf', 'error', `${access.path} does not exist`, 'knockstick server init --method spa, or --access-conf PATH'));
  if (conf.text === null || access.text === null) return findings;
  const confModel = readFwknopdConf(conf.text);
  const accessModel = readAccessConf(access.text);
  // A CMD_REGEX that knockstick's command filter enforces is not the unknown line fwknopd ignores.
  const enforcedRegexLines = new Set(
    accessModel.stanzas.flatMap((s) => {
      const regex = s.ignored.get('CMD_REGEX');
      return regex !== undefined && filterState(access.path, s, s.line, facts.commandFilter).kind === 'enforced' ? [regex.line] : [];
    }),
  );
  const accessProblems = accessModel.problems.filter((p) => !(p.kind === 'unknown' && enforcedRegexLines.has(p.line)));
  findings.push(...problemFindings('fwknopd.conf', conf.path, confModel.problems), ...problemFindings('access.conf', access.path, accessProblems));
  if (!confModel.problems.some((p) => PROBLEM_SEVERITY[p.kind] === 'error')) findings.push(ok('fwknopd.conf', `${conf.path} parses`));
  if (!accessProblems.some((p) => p.fatal || PROBLEM_SEVERITY[p.kind] === 'error')) findings.push(ok('access.conf', `${access.path} parses: ${accessModel.stanzas.length} stanza(s)`));
  if (facts.probe !== undefined) findings.push(probeFinding(facts.probe, `${conf.path} and ${access.path}`));
  findings.push(...modeFindings('fwknopd.conf', conf), ...modeFindings('access.conf', access));

  const port = spaPort(confModel);
  for (const s of accessModel.stanzas) findings.push(...keyFindings(access.path, s), ...cmdExecFindings(access.path, s, facts.commandFilter), ...openPortsFindings(access.path, s, facts.sshPorts, port.udpServer ? port.port : undefined));
  findings.push(...sharedKeyFindings(access.path, accessModel.stanzas));
  if (facts.stickRc !== undefined) findings.push(...stickRcFindings(facts.stickRc, access.path, accessModel.stanzas, port.port));

  const filter = confModel.values.get('PCAP_FILTER');
  if (port.udpServer && filter !== undefined && port.filterPort !== undefined && port.filterPort !== port.port) {
    findings.push(bad('fwknopd:port', 'warning', `${conf.path}:${filter.line} PCAP_FILTER names port ${port.filterPort}, but the UDP server listens on ${port.port} (UDPSERV_PORT): one of them is stale`, `make both say the same port (UDPSERV_PORT ${port.filterPort}; or PCAP_FILTER udp port ${port.port})`));
  } else if (!port.udpServer && filter !== undefined && port.filterPort === undefined) {
    findings.push(bad('fwknopd:port', 'warning', `${conf.path}:${filter.line} PCAP_FILTER names no port: fwknopd sniffs more than SPA packets`, 'PCAP_FILTER udp port N'));
  } else findings.push(ok('fwknopd:port', `SPA packets on udp/${port.port ?? '?'} (${port.udpServer ? 'UDP server' : 'libpcap'})`));

  if (facts.daemon !== undefined) {
    const d = facts.daemon;
    findings.push(
      d.alive
        ? ok('fwknopd', `fwknopd is running (pid ${d.pid})`)
        : bad('fwknopd', 'error', d.pid === null ? `fwknopd is not running (no pid in ${d.pidfile})` : `fwknopd is not running (pid ${d.pid} from ${d.pidfile} is gone)`, 'systemctl restart fwknop-server (fwknopd -c FILE -a FILE); --pidfile names another pidfile'),
    );
  }
  if (facts.firewall !== undefined) {
    findings.push(...firewallFindings(facts.firewall, port.port, port.udpServer, facts.sshPorts));
    // The iptables backend is in use when a stanza opens doors without its own CMD_CYCLE_OPEN.
    const usesIptables = accessModel.stanzas.some((s) => s.values.get('CMD_CYCLE_OPEN') === undefined);
    if (usesIptables && facts.firewall.iptables !== null) findings.push(chainFinding(facts.firewall.iptables));
  }
  return findings;
}
