// --allow PROTO/PORT: other inbound services the generated firewall keeps reachable. The baseline
// drops every new connection; without this a web server or VPN on the same machine goes dark the
// moment the firewall is loaded. SSH itself is never "allowed": the door opens it per address.
// Pure.

import { usageError } from '../core/errors.js';

export interface AllowedService {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
}

/** Parses one --allow value; refuses the SSH port (the door handles it) and anything but tcp/udp. */
export function parseAllow(text: string, sshPort: number, flag = '--allow'): AllowedService {
  const m = /^(tcp|udp)\/(\d{1,5})$/.exec(text);
  if (m === null) throw usageError(`${flag} must be tcp/PORT or udp/PORT (e.g. tcp/443), got ${JSON.stringify(text)}`);
  const protocol = m[1] as 'tcp' | 'udp';
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw usageError(`${flag}: port ${m[2]} is outside 1-65535`);
  if (protocol === 'tcp' && port === sshPort) {
    throw usageError(`${flag} tcp/${port}: that is SSH, which the door opens for the knocking address only; allowing it would open SSH to everyone`);
  }
  return { protocol, port };
}

/** Parses every --allow value, in order, without duplicates. */
export function parseAllows(texts: readonly string[], sshPort: number, flag = '--allow'): AllowedService[] {
  const seen = new Set<string>();
  const out: AllowedService[] = [];
  for (const text of texts) {
    const service = parseAllow(text, sshPort, flag);
    const key = `${service.protocol}/${service.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(service);
  }
  return out;
}

export const formatAllow = (s: AllowedService): string => `${s.protocol}/${s.port}`;

/** The nftables lines (input chain, inet table: IPv4 and IPv6 alike). */
export function nftAllowLines(services: readonly AllowedService[]): string {
  if (services.length === 0) return '    # --allow: none; every other new inbound connection is dropped';
  return ['    # --allow: other services kept reachable from anywhere', ...services.map((s) => `    ${s.protocol} dport ${s.port} accept`)].join('\n');
}

/** The iptables-restore lines (INPUT, before the doors). */
export function iptablesAllowLines(services: readonly AllowedService[]): string {
  if (services.length === 0) return '# --allow: none; every other new inbound connection is dropped';
  return ['# --allow: other services kept reachable from anywhere', ...services.map((s) => `-A INPUT -p ${s.protocol} -m ${s.protocol} --dport ${s.port} -j ACCEPT`)].join('\n');
}

/** ufw keeps its own allow rules: the commands that add them. */
export function ufwAllowCommands(services: readonly AllowedService[]): string[] {
  return services.map((s) => `ufw allow ${s.port}/${s.protocol}`);
}
