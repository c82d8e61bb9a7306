// The files server init wrote before single-use doors, rendered from the templates of that time
// (templates/before-single-use.*, byte for byte as they were), for the same answers. A rerun compares
// what is on disk with them: a file that is exactly our older output is upgraded without --force
// (its diff shown, a backup kept), while a file that matches neither is someone's edit and needs
// --force as before. Pure, like plan.ts.
//
// Those doors: knockd added a rule per knock (iptables -A KNOCKSTICK_DOORS ..., iptables -t nat -A
// KNOCKSTICK_DNAT ... in router mode) or an nft element without a timeout, and its stop_command
// removed it cmd_timeout later; every new connection from the address got in meanwhile, and a door
// stayed open if knockd died before its stop_command.

import { dnatCommands, doorCommands, flushDnatCommand, flushDoorsCommandBeforeSingleUse, nftDoorSet, type FirewallKind } from '../core/firewall.js';
import { formatSequence } from '../core/sequences.js';
import { shellQuote } from '../core/shell.js';
import { knockdValue, render } from '../core/templates.js';
import { renderPanicStanza } from '../panic/render.js';
import { iptablesAllowLines, nftAllowLines } from './allow.js';
import { routerForwardLines, sequencesFileOf, ufwAllowNote, type ServerPlanOptions, type Templates } from './plan.js';

const OLD = 'before-single-use.';
export const OLDER_TEMPLATE_NAMES = ['knockd-door.conf', 'firewall.nft', 'iptables.rules', 'ufw-before.rules', 'router.nft', 'router-iptables.sh'].map((n) => `${OLD}${n}`);

/** Path → text of every file whose older version differs from today's (the rest never changed). */
export function planBeforeSingleUse(o: ServerPlanOptions, templates: Templates): Map<string, string> {
  const t = (name: string): string => {
    const text = templates[name];
    if (text === undefined) throw new Error(`template ${name} not loaded`);
    return text;
  };
  const p = o.paths;
  const kind: FirewallKind = o.firewall === 'nftables' ? 'nftables' : 'iptables';
  const door = (name: string, commands: { start: string; stop: string }): string =>
    render(
      t(`${OLD}knockd-door.conf`),
      { name, sequences_file: sequencesFileOf(p, name), seq_timeout: String(o.seqTimeout), start_command: commands.start, cmd_timeout: String(o.cmdTimeout), stop_command: commands.stop },
      knockdValue,
    );
  const doors = o.inner.length === 0 ? door('ssh', doorCommands(kind, o.sshPort)) : o.inner.map((h) => door(h.name, dnatCommands(kind, h, o.sshPort))).join('');
  const alsoFlush = o.inner.length === 0 ? '' : flushDnatCommand(kind, kind === 'iptables' ? [] : o.inner);
  const files = new Map<string, string>();
  files.set(
    p.knockdConf,
    render(t('knockd-options.conf'), { logfile: p.logfile, pidfile: p.pidfile, interface: o.interface }, knockdValue) +
      doors +
      `\n${renderPanicStanza(t('knockd-panic.conf'), o.panicSequence, kind, p.pidfile, alsoFlush, flushDoorsCommandBeforeSingleUse(kind))}`,
  );
  files.set(
    p.serverConfig,
    [
      '# knockstick server settings, shared by seqgen, panic and doctor (see the README).',
      `panic_sequence = ${formatSequence(o.panicSequence)}`,
      `ssh_port = ${o.sshPort}`,
      `knockd_conf = ${p.knockdConf}`,
      `pidfile = ${p.pidfile}`,
      `firewall = ${kind}`,
      '',
    ].join('\n'),
  );
  const fw = (name: string, values: Record<string, string>): void => void files.set(`${p.firewallDir}/${name}`, render(t(`${OLD}${name}`), values, (v) => v));
  if (o.inner.length === 0) {
    if (o.firewall === 'nftables') fw('firewall.nft', { ssh_port: String(o.sshPort), allow: nftAllowLines(o.allow) });
    if (o.firewall === 'iptables') fw('iptables.rules', { allow: iptablesAllowLines(o.allow) });
    if (o.firewall === 'ufw') fw('ufw-before.rules', { allow: ufwAllowNote(o.allow) });
  } else if (o.firewall === 'nftables') {
    fw('router.nft', {
      ssh_port: String(o.sshPort),
      sets: o.inner.map((h) => `  set ${nftDoorSet(h.name)} { type ipv4_addr; }`).join('\n'),
      rules: o.inner.map((h) => `    iifname "${o.interface}" ip saddr @${nftDoorSet(h.name)} tcp dport ${o.sshPort} dnat to ${h.address}:${o.sshPort}`).join('\n'),
    });
  } else {
    files.set(
      `${p.firewallDir}/router-iptables.sh`,
      render(t(`${OLD}router-iptables.sh`), { ssh_port: String(o.sshPort), interface: o.interface, forward: routerForwardLines(o) }, (v, name) => (name === 'interface' ? shellQuote(v) : v)),
    );
  }
  return files;
}
