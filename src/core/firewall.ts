// Where doors live in the firewall, and the knockd commands that open, close and flush them.
// Doors go into a place of their own (an iptables chain, an nftables set) so that panic closes
// every door with one flush, whatever knockd's children were doing.
//
//   iptables: INPUT ... -j KNOCKSTICK_DOORS; a door is "-A KNOCKSTICK_DOORS -s IP -p tcp --dport 22 -j ACCEPT"
//   nftables: table inet knockstick, sets doors4/doors6 consulted by the input chain's ssh rule

import { shellQuote } from './shell.js';

export type FirewallKind = 'iptables' | 'nftables';

export const DOORS_CHAIN = 'KNOCKSTICK_DOORS';
export const NFT_TABLE = 'knockstick';
export const NFT_DOORS4 = 'doors4';
export const NFT_DOORS6 = 'doors6';

export function isFirewallKind(value: string): value is FirewallKind {
  return value === 'iptables' || value === 'nftables';
}

/** knockd start_command / stop_command for an IPv4 door to `sshPort` (knockd fills in %IP%). */
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

/** Closes every door at once (both address families; a missing IPv6 part is not an error). */
export function flushDoorsCommand(kind: FirewallKind): string {
  return kind === 'iptables'
    ? `iptables -F ${DOORS_CHAIN}; ip6tables -F ${DOORS_CHAIN} 2>/dev/null || true`
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
export function panicCommand(kind: FirewallKind, pidfile: string, alsoFlush = ''): string {
  const pid = `"$(cat ${shellQuote(pidfile)})"`;
  return (
    `kill -TERM ${pid} 2>/dev/null || pkill -TERM -x knockd; ${alsoFlush === '' ? '' : `${alsoFlush}; `}${flushDoorsCommand(kind)}; ` +
    `sleep 2; kill -KILL ${pid} 2>/dev/null; true`
  );
}

/** Router mode: knockd on the router forwards SSH to inner hosts, each its own door. */
export const DNAT_CHAIN = 'KNOCKSTICK_DNAT';
export const NFT_NAT_TABLE = 'knockstick_nat';

export interface InnerHost {
  /** The door's name, the stick's ssh alias, and the name of its sequence file. */
  readonly name: string;
  /** Its address on the inside network (IPv4). */
  readonly address: string;
}

export const nftDoorSet = (name: string): string => `door_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;

/** knockd start/stop commands that forward `sshPort` from %IP% to an inner host, and back. */
export function dnatCommands(kind: FirewallKind, inner: InnerHost, sshPort: number): { start: string; stop: string } {
  if (kind === 'iptables') {
    const rule = `${DNAT_CHAIN} -s %IP% -p tcp --dport ${sshPort} -j DNAT --to-destination ${inner.address}:${sshPort}`;
    return { start: `iptables -t nat -A ${rule}`, stop: `iptables -t nat -D ${rule}` };
  }
  const set = nftDoorSet(inner.name);
  return { start: `nft add element ip ${NFT_NAT_TABLE} ${set} { %IP% }`, stop: `nft delete element ip ${NFT_NAT_TABLE} ${set} { %IP% }` };
}

/** Closes every forwarded door at once (for the panic command in router mode). */
export function flushDnatCommand(kind: FirewallKind, inner: readonly InnerHost[]): string {
  return kind === 'iptables'
    ? `iptables -t nat -F ${DNAT_CHAIN}`
    : inner.map((h) => `nft flush set ip ${NFT_NAT_TABLE} ${nftDoorSet(h.name)}`).join('; ');
}
