// What `server init` writes, as data: every file's path, mode and text, rendered from templates/.
// Pure (templates are passed in), so tests and --dry-run see exactly what would be written.

import { SERVER_CONFIG_PATH } from '../core/config.js';
import { dnatDoorRule, dnatStartCommand, doorPolicyWords, doorStartCommand, flushDnatCommand, iptablesDoorRule, nftDoorRule, nftDoorSet, type DoorPolicy, type FirewallKind, type InnerHost } from '../core/firewall.js';
import { shellQuote } from '../core/shell.js';
import { formatSequence, type Sequence } from '../core/sequences.js';
import { knockdValue, render } from '../core/templates.js';
import { renderPanicStanza } from '../panic/render.js';
import { iptablesAllowLines, nftAllowLines, ufwAllowCommands, type AllowedService } from './allow.js';

export type ServerFirewall = FirewallKind | 'ufw';

export interface ServerPlanOptions {
  readonly interface: string;
  readonly firewall: ServerFirewall;
  readonly sshPort: number;
  readonly seqTimeout: number;
  readonly cmdTimeout: number;
  /** single-use: a door admits one new connection; window: every one for cmd_timeout (firewall.ts). */
  readonly doorPolicy: DoorPolicy;
  readonly panicSequence: Sequence;
  readonly ddns?: { protocol: string; server: string; login: string; hostname: string } | undefined;
  /**
   * Router mode: knockd here forwards SSH to these inner hosts, each with its own
   * door and sequence file; empty for a server that lets SSH in itself.
   */
  readonly inner: readonly InnerHost[];
  /** Other inbound services the firewall keeps reachable (--allow); none in router mode. */
  readonly allow: readonly AllowedService[];
  /** Where the files go: system paths, or all inside one directory (--out), referring to each other there. */
  readonly paths: ServerPaths;
  /**
   * The doors of the members added with `knockstick stick add` (sticks.conf), after [ssh]: a rerun
   * keeps them, each with its own one-time file, opening the same way as [ssh].
   */
  readonly memberDoors?: readonly { readonly name: string; readonly sequencesFile: string }[];
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
  /**
   * A file the user is told to edit (ddclient's password): a rerun keeps an existing one as it is
   * instead of offering to replace it.
   */
  readonly userEdits?: boolean;
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
  'router.nft',
  'router-iptables.sh',
] as const;

/** The sequence file of a door: "ssh" for a plain server, the inner host's name in router mode. */
export function sequencesFileOf(paths: ServerPaths, door: string): string {
  return door === 'ssh' ? paths.sequences : `${paths.sequences.slice(0, paths.sequences.lastIndexOf('/'))}/${door}`;
}

/** The doors knockd.conf gets: one for the SSH of this machine, or one per inner host. */
export function doorNames(o: Pick<ServerPlanOptions, 'inner'>): string[] {
  return o.inner.length === 0 ? ['ssh'] : o.inner.map((h) => h.name);
}

function template(templates: Templates, name: string): string {
  const text = templates[name];
  if (text === undefined) throw new Error(`template ${name} not loaded`);
  return text;
}

export function planServerFiles(o: ServerPlanOptions, templates: Templates): PlannedFile[] {
  const p = o.paths;
  const panicKind: FirewallKind = o.firewall === 'nftables' ? 'nftables' : 'iptables';
  // ufw's doors are plain iptables' (the same xt_recent list, in ufw's own chain).
  const renderDoor = (name: string, startCommand: string, sequencesFile = sequencesFileOf(p, name)): string =>
    render(
      template(templates, 'knockd-door.conf'),
      {
        name,
        sequences_file: sequencesFile,
        seq_timeout: String(o.seqTimeout),
        start_command: startCommand,
        cmd_timeout: String(o.cmdTimeout),
      },
      knockdValue,
    );
  const doors =
    o.inner.length === 0
      ? renderDoor('ssh', doorStartCommand(panicKind, o.cmdTimeout)) + (o.memberDoors ?? []).map((m) => renderDoor(m.name, doorStartCommand(panicKind, o.cmdTimeout), m.sequencesFile)).join('')
      : o.inner.map((h) => renderDoor(h.name, dnatStartCommand(panicKind, h, o.cmdTimeout))).join('');
  const alsoFlush = o.inner.length === 0 ? '' : flushDnatCommand(panicKind, o.inner);
  const knockdConf =
    render(template(templates, 'knockd-options.conf'), { logfile: p.logfile, pidfile: p.pidfile, interface: o.interface }, knockdValue) +
    doors +
    `\n${renderPanicStanza(template(templates, 'knockd-panic.conf'), o.panicSequence, panicKind, p.pidfile, alsoFlush)}`;

  const serverConfig = [
    '# knockstick server settings, shared by seqgen, panic and doctor (see the README).',
    `panic_sequence = ${formatSequence(o.panicSequence)}`,
    `ssh_port = ${o.sshPort}`,
    `knockd_conf = ${p.knockdConf}`,
    `pidfile = ${p.pidfile}`,
    `firewall = ${panicKind}`,
    `door_policy = ${o.doorPolicy}`,
    '',
  ].join('\n');

  const files: PlannedFile[] = [
    { path: p.knockdConf, mode: 0o600, text: knockdConf, what: 'knockd: the SSH door (one-time sequences) and the panic stanza' },
    { path: p.serverConfig, mode: 0o600, text: serverConfig, what: 'settings shared by seqgen, panic and doctor' },
  ];
  const policy = { door_policy: o.doorPolicy, door_policy_words: doorPolicyWords(o.doorPolicy) };
  const fw = (name: string, what: string, values: Record<string, string> = {}): PlannedFile => ({
    path: `${p.firewallDir}/${name}`,
    mode: 0o600,
    text: render(template(templates, name), values, (v) => v),
    what,
  });
  const iptablesDoor = (chain: string): string => iptablesDoorRule(chain, o.sshPort, o.cmdTimeout, o.doorPolicy);
  // A router has its own input and forward policies (DHCP, DNS, NAT for the LAN): router mode
  // only adds the forwarding doors and leaves the rest of its firewall alone.
  if (o.inner.length === 0) {
    if (o.firewall === 'nftables') {
      files.push(
        fw('firewall.nft', `firewall: drop new connections, ${o.doorPolicy} doors in inet knockstick doors4/doors6`, {
          ...policy,
          door_ipv_four: nftDoorRule(4, o.sshPort, o.doorPolicy),
          door_ipv_six: nftDoorRule(6, o.sshPort, o.doorPolicy),
          allow: nftAllowLines(o.allow),
        }),
      );
    }
    if (o.firewall === 'iptables') {
      files.push(fw('iptables.rules', `firewall (IPv4): INPUT drops new connections, ${o.doorPolicy} doors in the xt_recent list knockstick`, { ...policy, door: iptablesDoor('INPUT'), allow: iptablesAllowLines(o.allow) }));
      files.push(fw('ip6tables.rules', 'firewall (IPv6): the same for ip6tables', { allow: iptablesAllowLines(o.allow) }));
    }
    if (o.firewall === 'ufw') {
      const allow = ufwAllowNote(o.allow);
      files.push(fw('ufw-before.rules', `ufw: the ${o.doorPolicy} door rule and the KNOCKSTICK_DOORS chain for /etc/ufw/before.rules`, { ...policy, door: iptablesDoor('ufw-before-input'), allow }));
    }
  }
  files.push({ path: p.sshdDropIn, mode: 0o644, text: template(templates, 'sshd-knockstick.conf'), what: 'sshd: keys only' });
  files.push({
    path: p.systemdDropIn,
    mode: 0o644,
    text: render(template(templates, 'knockd.service.conf'), { pidfile: p.pidfile, knockd_conf: p.knockdConf, interface: o.interface }, knockdValue),
    what: 'systemd: knockd as a daemon with a pidfile, restarted on crashes but not after a panic',
  });
  if (o.inner.length > 0) files.push(routerFile(o, templates, p));
  if (o.ddns !== undefined) {
    files.push({
      path: p.ddclient,
      mode: 0o600,
      text: render(template(templates, 'ddclient.conf'), o.ddns, knockdValue),
      what: 'ddclient: dynamic DNS for your home address (fill in the password there)',
      userEdits: true,
    });
  }
  return files;
}

/** Router mode's forwarding: an nft table of door sets, or an idempotent iptables script. */
function routerFile(o: ServerPlanOptions, templates: Templates, p: ServerPaths): PlannedFile {
  const policy = { door_policy: o.doorPolicy, door_policy_words: doorPolicyWords(o.doorPolicy) };
  const rule = (kind: FirewallKind, h: InnerHost): string => dnatDoorRule(kind, h, { interface: o.interface, sshPort: o.sshPort, seconds: o.cmdTimeout, policy: o.doorPolicy });
  if (o.firewall === 'nftables') {
    const sets = o.inner.map((h) => `  set ${nftDoorSet(h.name)} { type ipv4_addr; flags timeout; }`).join('\n');
    const rules = o.inner.map((h) => `    ${rule('nftables', h)}`).join('\n');
    return {
      path: `${p.firewallDir}/router.nft`,
      mode: 0o600,
      text: render(template(templates, 'router.nft'), { ssh_port: String(o.sshPort), ...policy, sets, rules }, (v) => v),
      what: `router: SSH forwarded to ${o.inner.map((h) => `${h.name} (${h.address})`).join(', ')} through per-host ${o.doorPolicy} door sets`,
    };
  }
  const doors = o.inner.map((h) => `iptables -t nat ${rule('iptables', h)}`).join('\n');
  const forward = routerForwardLines(o);
  return {
    path: `${p.firewallDir}/router-iptables.sh`,
    mode: 0o700,
    text: render(template(templates, 'router-iptables.sh'), { ssh_port: String(o.sshPort), interface: o.interface, ...policy, doors, forward }, (v, name) =>
      name === 'interface' ? shellQuote(v) : v,
    ),
    what: `router: SSH forwarded to ${o.inner.map((h) => `${h.name} (${h.address})`).join(', ')} through per-host ${o.doorPolicy} doors (xt_recent lists)`,
  };
}

/** The comment ufw-before.rules carries about --allow (ufw keeps its own allow rules). */
export function ufwAllowNote(allow: readonly AllowedService[]): string {
  return allow.length === 0 ? '--allow: none (ufw keeps its own allow rules; remove those you no longer want)' : `--allow: keep these reachable with ufw's own rules: ${ufwAllowCommands(allow).join('; ')}`;
}

/** router-iptables.sh: let the forwarded (DNAT) connections through FORWARD, idempotently. */
export function routerForwardLines(o: Pick<ServerPlanOptions, 'inner' | 'sshPort'>): string {
  return o.inner
    .map((h) => {
      const rule = `FORWARD -d ${h.address} -p tcp --dport ${o.sshPort} -m conntrack --ctstate DNAT -j ACCEPT`;
      return `iptables -C ${rule} 2>/dev/null || iptables -I ${rule}`;
    })
    .join('\n');
}
