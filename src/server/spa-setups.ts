// The fwknopd set-ups the fwknop documents describe, as server init --method spa writes them: a
// custom SPA port, ufw doors (CMD_CYCLE), REQUIRE_USERNAME, REQUIRE_SOURCE_ADDRESS, command messages
// limited by a regex, sshd on another port, and the router in front of the server. Pure: values in,
// text out; server/spa.ts puts the text into files.

import { shellQuote } from '../core/shell.js';
import { ALLOW_IP_LOCAL, isValidUsername } from '../spa/packet.js';
import { ufwAllowCommands, type AllowedService } from './allow.js';

/** fwknopd's own default port (fwknop's clients send there unless told otherwise). */
export const DEFAULT_SPA_PORT = 62201;

/** The firewalls an SPA server can use: ufw doors are fwknopd's CMD_CYCLE commands running ufw. */
export type SpaFirewall = 'nftables' | 'iptables' | 'ufw';
export const SPA_FIREWALLS: readonly SpaFirewall[] = ['nftables', 'iptables', 'ufw'];

/** What the stanza demands of a packet, and what it may ask for, beyond opening SSH. */
export interface SpaStanzaOptions {
  /** REQUIRE_USERNAME: the packet's user name field must be this (the stick sends it: SPOOF_USER). */
  readonly requireUsername?: string | undefined;
  /** REQUIRE_SOURCE_ADDRESS Y: the packet must name the address to open (not 0.0.0.0, "source"). */
  readonly requireSource?: boolean | undefined;
  /** Command messages: off unless this POSIX extended regex is given (the whole command must match). */
  readonly allowCommand?: string | undefined;
}

/** ufw's doors, run by fwknopd without a shell ($SRC is its substitution; $PROTO would be a number). */
export function ufwDoorLines(sshPort: number, doorSeconds: number): string {
  // fwknopd's $PROTO is the protocol number ("6"), which ufw does not take: the door is tcp/sshPort.
  const rule = `proto tcp from $SRC to any port ${sshPort}`;
  return [`CMD_CYCLE_OPEN          /usr/sbin/ufw allow ${rule}`, `CMD_CYCLE_CLOSE         /usr/sbin/ufw delete allow ${rule}`, `CMD_CYCLE_TIMER         ${doorSeconds}`].join('\n');
}

/** The rc stanza (on the stick) and access.conf stanza for command messages: keys of their own. */
export const commandStanzaName = (name: string): string => `${name}-command`;

/**
 * The access.conf lines for the stanza options, and the command stanza when --allow-command asks for
 * one. Command messages get a stanza (and keys) of their own: the door's key opens no command, and
 * fwknopd hands every packet of a stanza with CMD_CYCLE_OPEN to that command, command messages too.
 */
export function spaStanzaLines(o: SpaStanzaOptions, command: { readonly spaPort: number; readonly keyLines: string }): string {
  const demands: string[] = [];
  if (o.requireUsername !== undefined) demands.push(`REQUIRE_USERNAME        ${checkedUsername(o.requireUsername)}`);
  if (o.requireSource === true) demands.push('REQUIRE_SOURCE_ADDRESS  Y');
  const off = '# Command messages (fwknop --server-cmd) are refused: ENABLE_CMD_EXEC is off.';
  if (o.allowCommand === undefined) return [...demands, off].join('\n');
  return [
    ...demands,
    off,
    '',
    '# Command messages (--allow-command), with keys of their own (the stick\'s stanza [NAME-command]).',
    '# fwknopd puts SUDO_EXE (fwknopd.conf: knockstick\'s command filter) in front of each command; the',
    '# filter runs it only if the whole command matches the regex. fwknopd 2.6 ignores CMD_REGEX (it logs',
    '# "Ignoring unknown access parameter"): it is here to say which regex the filter enforces.',
    '# OPEN_PORTS is the SPA port, open to all anyway: an access request with these keys opens nothing new.',
    'SOURCE                  ANY',
    `OPEN_PORTS              udp/${command.spaPort}`,
    command.keyLines,
    'FW_ACCESS_TIMEOUT       1',
    ...demands,
    'ENABLE_CMD_EXEC         Y',
    'ENABLE_CMD_SUDO_EXEC    Y',
    `CMD_REGEX               ${o.allowCommand}`,
  ].join('\n');
}

export function checkedUsername(name: string): string {
  if (!isValidUsername(name) || name.startsWith('-') || !/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`user name ${JSON.stringify(name)}: letters, digits, . _ - only, not starting with -`);
  return name;
}

/**
 * Why a regex cannot be a command filter, or undefined. It goes into a shell script single-quoted,
 * so any character is safe there; but grep -E must accept it, and a line break would let it span
 * records.
 */
export function allowCommandProblem(regex: string): string | undefined {
  if (regex === '') return 'an empty regex would allow no command at all: leave --allow-command out instead';
  if (!/^[\x20-\x7e]+$/.test(regex)) return 'use printable ASCII only (no line breaks or tabs)';
  if (regex.length > 500) return 'at most 500 characters';
  if (/^\.\*$|^\.\+$/.test(regex)) return `${regex} allows every command, as root: name the commands (e.g. "systemctl restart (nginx|ssh)")`;
  return undefined;
}

/** The command filter script (fwknopd's SUDO_EXE): the regex single-quoted for sh. */
export function renderCommandFilter(template: string, regex: string): string {
  return template.replace('{{regex}}', () => shellQuote(regex));
}

/** The lines the ufw script adds for --allow (ufw keeps them as its own rules). */
export function ufwSpaAllowLines(allow: readonly AllowedService[]): string {
  return allow.length === 0 ? '# --allow: none' : ['# --allow: other services kept reachable from anywhere', ...ufwAllowCommands(allow)].join('\n');
}

/** The sshd drop-in: keys only, plus sshd's port when it is not 22. */
export function sshdDropInText(template: string, sshPort: number): string {
  if (sshPort === 22) return template;
  return `${template}# sshd listens on ${sshPort} (--ssh-port). A "Port" line in sshd_config adds a port rather than replacing\n# this one: remove it there, or sshd keeps listening on that port too.\nPort ${sshPort}\n`;
}

/** What a home router (one you cannot load nft rules into) must be told: its port forwarding. */
export function routerForwardWords(inner: string, spaPort: number, sshPort: number): string {
  return `forward udp/${spaPort} (SPA) and tcp/${sshPort} (SSH) to ${inner}, nothing else`;
}

/** server.conf for an SPA server: what doctor and the other commands on this server read. */
export function spaServerConfig(o: {
  readonly sshPort: number;
  readonly spaPort: number;
  readonly firewall: SpaFirewall;
  readonly doorPolicy: string;
  readonly fwknopdConf: string;
  readonly accessConf: string;
  readonly pidfile: string;
}): string {
  return [
    '# knockstick server settings (an SPA server: fwknopd, no knockd), read by doctor and the other',
    '# commands on this server (see the README).',
    'method = spa',
    `ssh_port = ${o.sshPort}`,
    `spa_port = ${o.spaPort}`,
    `fwknopd_conf = ${o.fwknopdConf}`,
    `access_conf = ${o.accessConf}`,
    `pidfile = ${o.pidfile}`,
    `firewall = ${o.firewall}`,
    `door_policy = ${o.doorPolicy}`,
    '',
  ].join('\n');
}

/** What the stick's stanza must say for the server's options: its port, the user name it requires. */
export interface ClientStanzaOptions {
  readonly spaPort?: number | undefined;
  readonly requireUsername?: string | undefined;
  readonly requireSource?: boolean | undefined;
}

export function clientExtras(o: ClientStanzaOptions): [string, string][] {
  return [
    ...(o.spaPort === undefined || o.spaPort === DEFAULT_SPA_PORT ? [] : [['SPA_SERVER_PORT', String(o.spaPort)] as [string, string]]),
    ...(o.requireUsername === undefined ? [] : [['SPOOF_USER', o.requireUsername] as [string, string]]),
  ];
}

/**
 * ALLOW_IP: "source" (0.0.0.0: open for the packet's sender) unless the server requires the address
 * in the packet (REQUIRE_SOURCE_ADDRESS), when knockstick puts in the address it sends from
 * ("local"; through NAT that is not the address the server sees: use --allow-ip ADDR there).
 */
export function clientAllowIp(o: ClientStanzaOptions): string {
  return o.requireSource === true ? ALLOW_IP_LOCAL : 'source';
}
