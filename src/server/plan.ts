// What `server init` writes, as data: every file's path, mode and text, rendered from templates/.
// Pure (templates are passed in), so tests and --dry-run see exactly what would be written.

import { SERVER_CONFIG_PATH } from '../core/config.js';
import { doorCommands, type FirewallKind } from '../core/firewall.js';
import { formatSequence, type Sequence } from '../core/sequences.js';
import { knockdValue, render } from '../core/templates.js';
import { renderPanicStanza } from '../panic/render.js';

export type ServerFirewall = FirewallKind | 'ufw';

export interface ServerPlanOptions {
  readonly interface: string;
  readonly firewall: ServerFirewall;
  readonly sshPort: number;
  readonly seqTimeout: number;
  readonly cmdTimeout: number;
  readonly panicSequence: Sequence;
  readonly ddns?: { protocol: string; server: string; login: string; hostname: string } | undefined;
  /** Where the files go: system paths, or all inside one directory (--out), referring to each other there. */
  readonly paths: ServerPaths;
}

export interface ServerPaths {
  readonly knockdConf: string;
  readonly serverConfig: string;
  readonly sequences: string;
  readonly pidfile: string;
  readonly logfile: string;
  readonly firewallDir: string;
  readonly sshdDropIn: string;
  readonly systemdDropIn: string;
  readonly ddclient: string;
}

export const SYSTEM_PATHS: ServerPaths = {
  knockdConf: '/etc/knockd.conf',
  serverConfig: SERVER_CONFIG_PATH,
  sequences: '/etc/knockd/ssh',
  pidfile: '/run/knockd.pid',
  logfile: '/var/log/knockd.log',
  firewallDir: '/etc/knockstick',
  sshdDropIn: '/etc/ssh/sshd_config.d/knockstick.conf',
  systemdDropIn: '/etc/systemd/system/knockd.service.d/knockstick.conf',
  ddclient: '/etc/knockstick/ddclient.conf',
};

/** Every file inside `dir`, pointing at each other there: a staging copy knockd can run from. */
export function pathsIn(dir: string): ServerPaths {
  const at = (name: string): string => `${dir.replace(/\/$/, '')}/${name}`;
  return {
    knockdConf: at('knockd.conf'),
    serverConfig: at('server.conf'),
    sequences: at('ssh'),
    pidfile: at('knockd.pid'),
    logfile: at('knockd.log'),
    firewallDir: dir.replace(/\/$/, ''),
    sshdDropIn: at('sshd-knockstick.conf'),
    systemdDropIn: at('knockd.service.conf'),
    ddclient: at('ddclient.conf'),
  };
}

export interface PlannedFile {
  readonly path: string;
  readonly mode: number;
  readonly text: string;
  /** One line for the report. */
  readonly what: string;
}

export type Templates = Readonly<Record<string, string>>;

export const TEMPLATE_NAMES = [
  'knockd-options.conf',
  'knockd-door.conf',
  'knockd-panic.conf',
  'firewall.nft',
  'iptables.rules',
  'ip6tables.rules',
  'ufw-before.rules',
  'sshd-knockstick.conf',
  'knockd.service.conf',
  'ddclient.conf',
] as const;

function template(templates: Templates, name: string): string {
  const text = templates[name];
  if (text === undefined) throw new Error(`template ${name} not loaded`);
  return text;
}

/** The door's knockd commands for this firewall; ufw's chain is the same as plain iptables'. */
function door(firewall: ServerFirewall, sshPort: number): { start: string; stop: string } {
  return doorCommands(firewall === 'nftables' ? 'nftables' : 'iptables', sshPort);
}

export function planServerFiles(o: ServerPlanOptions, templates: Templates): PlannedFile[] {
  const p = o.paths;
  const panicKind: FirewallKind = o.firewall === 'nftables' ? 'nftables' : 'iptables';
  const { start, stop } = door(o.firewall, o.sshPort);
  const knockdConf =
    render(template(templates, 'knockd-options.conf'), { logfile: p.logfile, pidfile: p.pidfile, interface: o.interface }, knockdValue) +
    render(
      template(templates, 'knockd-door.conf'),
      {
        name: 'ssh',
        sequences_file: p.sequences,
        seq_timeout: String(o.seqTimeout),
        start_command: start,
        cmd_timeout: String(o.cmdTimeout),
        stop_command: stop,
      },
      knockdValue,
    ) +
    `\n${renderPanicStanza(template(templates, 'knockd-panic.conf'), o.panicSequence, panicKind, p.pidfile)}`;

  const serverConfig = [
    '# knockstick server settings, shared by seqgen, panic and doctor (see the README).',
    `panic_sequence = ${formatSequence(o.panicSequence)}`,
    `ssh_port = ${o.sshPort}`,
    `knockd_conf = ${p.knockdConf}`,
    `pidfile = ${p.pidfile}`,
    `firewall = ${panicKind}`,
    '',
  ].join('\n');

  const files: PlannedFile[] = [
    { path: p.knockdConf, mode: 0o600, text: knockdConf, what: 'knockd: the SSH door (one-time sequences) and the panic stanza' },
    { path: p.serverConfig, mode: 0o600, text: serverConfig, what: 'settings shared by seqgen, panic and doctor' },
  ];
  const fw = (name: string, what: string, values: Record<string, string> = {}): PlannedFile => ({
    path: `${p.firewallDir}/${name}`,
    mode: 0o600,
    text: render(template(templates, name), values, (v) => v),
    what,
  });
  if (o.firewall === 'nftables') files.push(fw('firewall.nft', 'firewall: drop new connections, doors in inet knockstick doors4/doors6', { ssh_port: String(o.sshPort) }));
  if (o.firewall === 'iptables') {
    files.push(fw('iptables.rules', 'firewall (IPv4): INPUT drops new connections, doors in KNOCKSTICK_DOORS'));
    files.push(fw('ip6tables.rules', 'firewall (IPv6): the same for ip6tables'));
  }
  if (o.firewall === 'ufw') files.push(fw('ufw-before.rules', 'ufw: the KNOCKSTICK_DOORS chain for /etc/ufw/before.rules'));
  files.push({ path: p.sshdDropIn, mode: 0o644, text: template(templates, 'sshd-knockstick.conf'), what: 'sshd: keys only' });
  files.push({
    path: p.systemdDropIn,
    mode: 0o644,
    text: render(template(templates, 'knockd.service.conf'), { pidfile: p.pidfile, knockd_conf: p.knockdConf, interface: o.interface }, knockdValue),
    what: 'systemd: knockd as a daemon with a pidfile, restarted on crashes but not after a panic',
  });
  if (o.ddns !== undefined) {
    files.push({
      path: p.ddclient,
      mode: 0o600,
      text: render(template(templates, 'ddclient.conf'), o.ddns, knockdValue),
      what: 'ddclient: dynamic DNS for your home address (fill in the password there)',
    });
  }
  return files;
}
