// Where doors live in the firewall, and the knockd commands that open and flush them.
//
// A door is an address in a place of its own that a fixed firewall rule consults, never a rule
// knockd adds: so the door closes by itself (the element's or entry's own timeout, even if knockd
// dies right after the knock) and panic closes every door with one flush.
//
//   nftables: table inet knockstick, sets doors4/doors6 (flags timeout); knockd adds
//             "{ %IP% timeout Ns }"; the input rule matches the set.
//   iptables: an xt_recent list ("knockstick"); knockd writes +%IP% to /proc/net/xt_recent/knockstick;
//             the INPUT rule matches "-m recent --rcheck --seconds N" (N = cmd_timeout).
//   router:   the same per inner host, in the nat table (set door_NAME / list knockstick_NAME),
//             the rule DNATs to that host.
//
// Door policy (server init --door-policy, server.conf door_policy):
//   single-use  the rule also removes the address when it admits a new connection ("delete @set
//               { ip saddr }" / "-m recent --remove"), in the same packet: exactly one new
//               connection from the knocking address gets in; its later packets are established.
//   window      the address stays in until the timeout: every new connection from it (anyone
//               behind the same NAT) gets in for cmd_timeout seconds, as doors were before single-use ones.
//
// Why xt_recent for iptables and not an ipset: xt_recent is in every kernel iptables runs on and in
// the iptables package, its rule lives in the iptables-restore file itself (an ipset must exist
// before that file loads: one more package and one more boot step), and one rule both checks and
// removes the address. Its limits: the list exists only while a rule names it (knockd's write fails,
// the door stays shut, when the firewall is not loaded); /proc/net/xt_recent/* is world-readable
// (mode 0644: local users can see which addresses knocked); an entry that timed out unused stays
// listed (harmless: --seconds no longer matches it) until the address knocks again or panic; a
// list keeps the last 100 addresses (ip_list_tot).
//
// No stop_command: the timeout closes the door at the moment knockd's stop_command would, so a
// stop_command could only do harm: delete the door of a newer knock from the same address (a knock
// again within cmd_timeout), or fail on a door a connection already used. What remains: a knock
// while the same address's door is still open and unused does not extend it with nftables (adding
// an element that is there keeps its timeout); xt_recent restarts the clock.

import { shellQuote } from './shell.js';

export type FirewallKind = 'iptables' | 'nftables';

export const DOORS_CHAIN = 'KNOCKSTICK_DOORS';
export const NFT_TABLE = 'knockstick';
export const NFT_DOORS4 = 'doors4';
export const NFT_DOORS6 = 'doors6';

export type DoorPolicy = 'single-use' | 'window';
export const DOOR_POLICIES: readonly DoorPolicy[] = ['single-use', 'window'];
export const DEFAULT_DOOR_POLICY: DoorPolicy = 'single-use';

export function isDoorPolicy(value: string): value is DoorPolicy {
  return value === 'single-use' || value === 'window';
}

/** One line for the comments of the generated firewall files. */
export function doorPolicyWords(policy: DoorPolicy): string {
  return policy === 'single-use'
    ? 'the first new connection from the address removes it again: one knock, one connection.'
    : 'every new connection from the address gets in until the timeout (anyone behind the same NAT too).';
}

/** Where the kernel shows xt_recent lists (per network namespace); writing "+IP" adds, "/" clears. */
export const RECENT_DIR = '/proc/net/xt_recent';
/** The xt_recent list of this machine's SSH door (iptables, ufw). */
export const RECENT_LIST = 'knockstick';

export function isFirewallKind(value: string): value is FirewallKind {
  return value === 'iptables' || value === 'nftables';
}

/** knockd's start_command for an nft door: the element carries its own timeout. */
export function nftOpenCommand(family: 'inet' | 'ip', table: string, set: string, seconds: number): string {
  return `nft add element ${family} ${table} ${set} { %IP% timeout ${positive(seconds)}s }`;
}

/** knockd's start_command for an xt_recent door: the rule's --seconds ends it. Runs through sh -c. */
export function recentOpenCommand(list: string): string {
  return `echo +%IP% > ${shellQuote(`${RECENT_DIR}/${recentName(list)}`)}`;
}

/** Empties xt_recent lists; quiet and successful when a list does not exist (its rule is not loaded). */
export function flushRecentCommand(lists: readonly string[]): string {
  return lists.map((l) => `{ echo / > ${shellQuote(`${RECENT_DIR}/${recentName(l)}`)}; } 2>/dev/null || true`).join('; ');
}

/** knockd's start_command that opens this machine's SSH door for %IP% for `seconds`. */
export function doorStartCommand(kind: FirewallKind, seconds: number): string {
  return kind === 'iptables' ? recentOpenCommand(RECENT_LIST) : nftOpenCommand('inet', NFT_TABLE, NFT_DOORS4, seconds);
}

/**
 * The nft rule of a door (input chain of inet knockstick): single-use deletes the address in the
 * packet it admits. Only new connections consult a door: established ones are accepted before.
 */
export function nftDoorRule(family: 4 | 6, sshPort: number, policy: DoorPolicy): string {
  const [saddr, set] = family === 4 ? ['ip saddr', NFT_DOORS4] : ['ip6 saddr', NFT_DOORS6];
  return policy === 'single-use'
    ? `ct state new ${saddr} @${set} tcp dport ${sshPort} delete @${set} { ${saddr} } accept`
    : `ct state new ${saddr} @${set} tcp dport ${sshPort} accept`;
}

/** The xt_recent matches of a door: fresh enough (cmd_timeout), and (single-use) removed when used. */
export function recentDoorMatch(list: string, seconds: number, policy: DoorPolicy): string {
  const name = recentName(list);
  const check = `-m recent --name ${name} --rcheck --seconds ${positive(seconds)}`;
  return policy === 'single-use' ? `${check} -m recent --name ${name} --remove` : check;
}

/** The iptables INPUT rule of this machine's SSH door (iptables-restore / before.rules syntax). */
export function iptablesDoorRule(chain: string, sshPort: number, seconds: number, policy: DoorPolicy): string {
  return `-A ${chain} -p tcp --dport ${sshPort} -m conntrack --ctstate NEW ${recentDoorMatch(RECENT_LIST, seconds, policy)} -j ACCEPT`;
}

/**
 * The door of hand-made servers and of knockstick before single-use doors: knockd adds a rule to
 * KNOCKSTICK_DOORS (or an element without timeout) and its stop_command deletes it cmd_timeout
 * later. It admits every connection from the address meanwhile and stays open if knockd dies
 * before its stop_command. Kept for the lab's window doors and for recognising old servers.
 */
export function doorCommands(kind: FirewallKind, sshPort: number): { start: string; stop: string } {
  if (kind === 'iptables') {
    const rule = `${DOORS_CHAIN} -s %IP% -p tcp --dport ${sshPort} -j ACCEPT`;
    return { start: `iptables -A ${rule}`, stop: `iptables -D ${rule}` };
  }
  return {
    start: `nft add element inet ${NFT_TABLE} ${NFT_DOORS4} { %IP% }`,
    stop: `nft delete element inet ${NFT_TABLE} ${NFT_DOORS4} { %IP% }`,
  };
}

/** The flush the panic command had before single-use doors (to recognise knockd.conf files of that time). */
export function flushDoorsCommandBeforeSingleUse(kind: FirewallKind): string {
  return kind === 'iptables'
    ? `iptables -F ${DOORS_CHAIN}; ip6tables -F ${DOORS_CHAIN} 2>/dev/null || true`
    : `nft flush set inet ${NFT_TABLE} ${NFT_DOORS4}; nft flush set inet ${NFT_TABLE} ${NFT_DOORS6} 2>/dev/null || true`;
}

/**
 * Closes every door at once (both address families; a missing IPv6 part or xt_recent list is not an
 * error). iptables: the xt_recent list of the doors, and KNOCKSTICK_DOORS for doors added as rules
 * (by hand, or by an older knockd.conf): the door rule itself is in INPUT, so a flush never removes
 * it and doors work again once knockd is restarted.
 */
export function flushDoorsCommand(kind: FirewallKind): string {
  return kind === 'iptables'
    ? `iptables -F ${DOORS_CHAIN}; ip6tables -F ${DOORS_CHAIN} 2>/dev/null || true; ${flushRecentCommand([RECENT_LIST])}`
    : `nft flush set inet ${NFT_TABLE} ${NFT_DOORS4}; nft flush set inet ${NFT_TABLE} ${NFT_DOORS6} 2>/dev/null || true`;
}

/**
 * The panic stanza's command: stop knockd by its pidfile (falling back to its name when the pidfile
 * is missing), then flush every door. Not `killall knockd` alone: that also kills the children
 * waiting to run stop_command, so a door opened just before would stay open; the flush closes it
 * whatever happened to them. The pidfile path is shell-quoted: knockd runs this through sh -c.
 * Two seconds later, a knockd still alive gets SIGKILL: knockd 0.8's SIGTERM handler calls stdio
 * and localtime, and a SIGTERM that lands while knockd is logging can hang it in a lock (seen in the
 * lab). A hung knockd opens no door, but it must not linger as the thing the panic stopped. The
 * systemd drop-in keeps a SIGKILLed knockd down as it does one that exited on SIGTERM.
 */
export function panicCommand(kind: FirewallKind, pidfile: string, alsoFlush = '', doorsFlush = flushDoorsCommand(kind), fwknopd?: FwknopdPanic): string {
  const pid = `"$(cat ${shellQuote(pidfile)})"`;
  const spa = fwknopd === undefined ? '' : `${fwknopdPanicCommand(fwknopd)}; `;
  const spaKill = fwknopd === undefined ? '' : `kill -KILL "$(cat ${shellQuote(fwknopd.pidfile)})" 2>/dev/null; `;
  return (
    `${spa}kill -TERM ${pid} 2>/dev/null || pkill -TERM -x knockd; ${alsoFlush === '' ? '' : `${alsoFlush}; `}${doorsFlush}; ` +
    `sleep 2; kill -KILL ${pid} 2>/dev/null; ${spaKill}true`
  );
}

/** fwknopd on the server (an SPA server, or a knock server with SPA sticks too): what panic stops. */
export interface FwknopdPanic {
  /** fwknopd's pidfile (fwknopd.conf FWKNOP_PID_FILE = the systemd drop-in's PIDFile). */
  readonly pidfile: string;
  /** Where its doors are: the nft set spa4 (CMD_CYCLE_OPEN), FWKNOP_INPUT (its iptables backend), or ufw rules (CMD_CYCLE_OPEN). */
  readonly firewall: 'nftables' | 'iptables' | 'ufw';
  /** The door's port (ufw's rules name it). */
  readonly sshPort: number;
}

/** The start of the panic command's fwknopd part (stick add --method spa looks for it, too). */
export const PANIC_FWKNOPD_MARK = ': knockstick stops fwknopd too;';
/** fwknopd's own iptables chain (its iptables backend puts every door there). */
export const FWKNOP_INPUT_CHAIN = 'FWKNOP_INPUT';
/** The nft set an SPA server's CMD_CYCLE_OPEN fills (table inet knockstick). */
export const NFT_SPA_SET = 'spa4';

/**
 * The panic command's fwknopd part: stop fwknopd by its pidfile first (SIGTERM: it exits 0, which
 * the systemd drop-in's Restart=on-failure does not restart; a SIGKILL two seconds later, which
 * RestartPreventExitStatus keeps down, as knockd's), so it opens nothing more; then close its
 * doors: a killed fwknopd runs no CMD_CYCLE_CLOSE and (SIGKILL) no cleanup of FWKNOP_INPUT. Each
 * step is quiet and harmless when there is nothing to stop or close. With ufw the doors are the
 * rules CMD_CYCLE_OPEN added ("ufw allow proto tcp from SRC to any port SSH", listed by ufw as
 * "ufw allow from SRC to any port SSH proto tcp"): each is deleted; rules of another shape stay.
 */
export function fwknopdPanicCommand(o: FwknopdPanic): string {
  const port = o.sshPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a port: ${port}`);
  const close =
    o.firewall === 'nftables'
      ? `nft flush set inet ${NFT_TABLE} ${NFT_SPA_SET} 2>/dev/null`
      : o.firewall === 'iptables'
        ? `iptables -F ${FWKNOP_INPUT_CHAIN} 2>/dev/null`
        : `for a in $(ufw show added 2>/dev/null | sed -n 's|^ufw allow from \\([0-9A-Fa-f.:/]*\\) to any port ${port} proto tcp$|\\1|p'); do ufw delete allow proto tcp from "$a" to any port ${port} >/dev/null 2>&1; done`;
  return `${PANIC_FWKNOPD_MARK} kill -TERM "$(cat ${shellQuote(o.pidfile)})" 2>/dev/null; ${close}; true`;
}

/** Router mode: knockd on the router forwards SSH to inner hosts, each its own door. */
export const DNAT_CHAIN = 'KNOCKSTICK_DNAT';
/** Router mode with iptables: the fixed DNAT rules, one per inner host (router-iptables.sh fills it). */
export const ROUTER_CHAIN = 'KNOCKSTICK_ROUTER';
export const NFT_NAT_TABLE = 'knockstick_nat';

export interface InnerHost {
  /** The door's name, the stick's ssh alias, and the name of its sequence file. */
  readonly name: string;
  /** Its address on the inside network (IPv4). */
  readonly address: string;
}

export const nftDoorSet = (name: string): string => `door_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
/** The xt_recent list of an inner host's door. */
export const recentListOf = (name: string): string => `${RECENT_LIST}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;

/** knockd's start_command that forwards `sshPort` from %IP% to an inner host for `seconds`. */
export function dnatStartCommand(kind: FirewallKind, inner: InnerHost, seconds: number): string {
  return kind === 'iptables' ? recentOpenCommand(recentListOf(inner.name)) : nftOpenCommand('ip', NFT_NAT_TABLE, nftDoorSet(inner.name), seconds);
}

/** The nat rule forwarding an inner host's door: nft (prerouting chain) or iptables (ROUTER_CHAIN). */
export function dnatDoorRule(kind: FirewallKind, inner: InnerHost, o: { interface: string; sshPort: number; seconds: number; policy: DoorPolicy }): string {
  const to = `${inner.address}:${o.sshPort}`;
  if (kind === 'iptables') {
    // The nat table sees only the first packet of a connection: no conntrack match needed.
    return `-A ${ROUTER_CHAIN} -p tcp --dport ${o.sshPort} ${recentDoorMatch(recentListOf(inner.name), o.seconds, o.policy)} -j DNAT --to-destination ${to}`;
  }
  const set = nftDoorSet(inner.name);
  const use = o.policy === 'single-use' ? ` delete @${set} { ip saddr }` : '';
  return `iifname "${o.interface}" ip saddr @${set} tcp dport ${o.sshPort}${use} dnat to ${to}`;
}

/** The old router doors (a DNAT rule per door in KNOCKSTICK_DNAT, or an element without timeout). */
export function dnatCommands(kind: FirewallKind, inner: InnerHost, sshPort: number): { start: string; stop: string } {
  if (kind === 'iptables') {
    const rule = `${DNAT_CHAIN} -s %IP% -p tcp --dport ${sshPort} -j DNAT --to-destination ${inner.address}:${sshPort}`;
    return { start: `iptables -t nat -A ${rule}`, stop: `iptables -t nat -D ${rule}` };
  }
  const set = nftDoorSet(inner.name);
  return { start: `nft add element ip ${NFT_NAT_TABLE} ${set} { %IP% }`, stop: `nft delete element ip ${NFT_NAT_TABLE} ${set} { %IP% }` };
}

/**
 * Closes every forwarded door at once (for the panic command in router mode): each inner host's
 * xt_recent list and the old per-door chain, or each nft door set.
 */
export function flushDnatCommand(kind: FirewallKind, inner: readonly InnerHost[]): string {
  return kind === 'iptables'
    ? [`iptables -t nat -F ${DNAT_CHAIN}`, ...(inner.length === 0 ? [] : [flushRecentCommand(inner.map((h) => recentListOf(h.name)))])].join('; ')
    : inner.map((h) => `nft flush set ip ${NFT_NAT_TABLE} ${nftDoorSet(h.name)}`).join('; ');
}

/** An xt_recent list name as the kernel takes it (no "/", at most 200 bytes); ours are plain words. */
function recentName(list: string): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(list)) throw new Error(`not an xt_recent list name: ${JSON.stringify(list)}`);
  return list;
}

function positive(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`a door timeout must be a whole number of seconds, got ${seconds}`);
  return seconds;
}
