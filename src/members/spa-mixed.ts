// stick add NAME --method spa on a knockd server (made by `server init`, no fwknopd yet): what the
// server lacks is set up, so knock sticks and SPA sticks live side by side.
//
// Decided here (nftables only; an iptables knockd server is refused with what to do instead):
// - fwknopd.conf from templates/fwknopd.conf (UDP server on 62201, replay cache kept), on knockd's
//   interface; access.conf new, holding only the SPA members' stanzas (mode 0600).
// - The SPA doors go into knockd's own door set, doors4 (CMD_CYCLE_OPEN, tagged with the member's
//   door name): the door rule already there admits them with the server's door policy, and
//   panic's flush of doors4 closes them too. No second door rule, no second set.
// - The firewall needs one more rule, udp dport 62201 accept: added to the running table now
//   (nft add rule) and to firewall.nft beside server.conf (so a reload keeps it).
// - panic must stop fwknopd as well as knockd: the [panic] command gets a first part that stops
//   fwknopd by its pidfile (marked ": knockstick stops fwknopd too"), checked as every new
//   knockd.conf is, and knockd is reloaded (same pid). `panic rotate` renders the stanza anew and
//   puts that part back (keepFwknopdStop).
// - fwknopd is not started: the report says how (systemctl enable --now fwknop-server).

import { dirname, join } from 'node:path';
import { KnockstickError, usageError } from '../core/errors.js';
import { readTextIfExists, writeAtomically } from '../core/files.js';
import { lineLimitError } from '../core/knockd-conf.js';
import { cString, cTrim } from '../core/knockd-reader.js';
import { describeReload, reloadKnockd, verifyNewKnockdConf } from '../core/knockd-reload.js';
import { runAllowingFailure } from '../core/run.js';
import { shellQuote } from '../core/shell.js';
import { PANIC_FWKNOPD_MARK } from '../core/firewall.js';
import { DEFAULT_FWKNOPD_PIDFILE, type SpaDoor } from '../core/spa-member.js';
import { loadTemplate, render } from '../core/templates.js';
import { fwknopValue } from '../server/spa.js';
import { loadServer, modelDoor } from './server.js';

/** The first part of the panic command that stops fwknopd (knockd runs it through sh -c). */
// (core/firewall.ts: panic rotate/stanza render the same part where they see fwknopd.)
export { PANIC_FWKNOPD_MARK };
export const SPA_PORT_RULE = 'udp dport 62201 accept';

/** knockd.conf with the [panic] command stopping fwknopd first. Unchanged when it does already. Pure. */
export function panicStopsFwknopd(text: string, fwknopdPidfile: string): string | undefined {
  const lines = text.split('\n');
  const header = (l: string): string | undefined => {
    const t = cTrim(cString(l));
    return t.length >= 2 && t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1).trim() : undefined;
  };
  const start = lines.findIndex((l) => header(l) === 'panic');
  if (start === -1) return undefined;
  for (let i = start + 1; i < lines.length && header(lines[i] as string) === undefined; i++) {
    const m = /^([ \t]*command[ \t]*=[ \t]*)(.*)$/i.exec(lines[i] as string);
    if (m === null) continue;
    if ((m[2] as string).includes(PANIC_FWKNOPD_MARK)) return text;
    lines[i] = `${m[1]}${PANIC_FWKNOPD_MARK} kill -TERM "$(cat ${shellQuote(fwknopdPidfile)})" 2>/dev/null; ${m[2]}`;
    return lines.join('\n');
  }
  return undefined;
}

/**
 * For `panic rotate`, which renders [panic] anew: `rotated` with the fwknopd part that `before`'s
 * [panic] command had (same pidfile), so that a rotation never quietly stops stopping fwknopd. Pure.
 */
export function keepFwknopdStop(before: string, rotated: string): string {
  const m = /: knockstick stops fwknopd too; kill -TERM "\$\(cat ((?:'[^']*'|\\')+)\)"/.exec(before);
  if (m === null) return rotated;
  const pidfile = (m[1] as string).replace(/'\\''/g, "'").replace(/^'|'$/g, '');
  return panicStopsFwknopd(rotated, pidfile) ?? rotated;
}

/** firewall.nft with the SPA port let in (after "ct state invalid drop" of the input chain). Pure. */
export function firewallWithSpaPort(text: string): string | undefined {
  if (text.includes(SPA_PORT_RULE)) return text;
  const m = /^([ \t]*)ct state invalid drop[ \t]*$/m.exec(text);
  if (m === null) return undefined;
  const at = (m.index as number) + m[0].length;
  return `${text.slice(0, at)}\n${m[1]}# SPA packets for fwknopd (stick add --method spa)\n${m[1]}${SPA_PORT_RULE}${text.slice(at)}`;
}

export interface MixedSetup {
  readonly spaDoor: SpaDoor;
  /** Undo steps of what was written, newest last. */
  readonly undo: Array<() => Promise<void>>;
  readonly report: string[];
}

/**
 * Sets up fwknopd's side on the knockd server of `serverConfig`: fwknopd.conf (if missing), an
 * access.conf with only a header (the caller adds the member's stanza). Firewall and panic come
 * after the stanza (finishMixedSetup), so that a refused stanza leaves them as they were.
 */
export async function startMixedSetup(o: { serverConfig: string; accessConf: string; fwknopdConf: string; fwknopdPidfile?: string | undefined; accessExists?: boolean }): Promise<MixedSetup> {
  if ((await readTextIfExists(o.serverConfig)) === null) {
    throw new KnockstickError('IO', `${o.accessConf} does not exist, and there is no knockd server (${o.serverConfig}) to add SPA to`, {
      hint: 'set up fwknopd first: knockstick server init --method spa (its stanza is the first stick\'s), or name the files with --access-conf / --fwknopd-conf / --server-config',
    });
  }
  const state = await loadServer(o.serverConfig, new Date().toISOString());
  const model = modelDoor(state);
  const start = model.settings.get('start_command')?.value ?? '';
  if (!start.includes('add element inet knockstick doors4')) {
    throw usageError(`this knockd server's doors are not in the nftables set doors4 (${state.knockdConfPath} [${model.name}]): SPA members on a knockd server need its nftables firewall`, 'with iptables, run fwknopd on its own (knockstick server init --method spa --out DIR shows every file), or move the server to --firewall nftables');
  }
  const spaDoor: SpaDoor = { sshPort: state.settings.sshPort ?? 22, firewall: 'nftables', doorSeconds: Number(model.settings.get('cmd_timeout')?.value ?? '10') || 10, set: 'doors4' };
  const undo: Array<() => Promise<void>> = [];
  const report: string[] = [];
  const { rm } = await import('node:fs/promises');
  if ((await readTextIfExists(o.fwknopdConf)) === null) {
    const iface = state.knockdConf.options.get('interface')?.value ?? 'eth0';
    // The template's other values as server init --method spa fills them (default port, no command filter).
    const values = { interface: iface, spa_port: '62201', pidfile: o.fwknopdPidfile ?? DEFAULT_FWKNOPD_PIDFILE, command_filter: '' };
    await writeAtomically(o.fwknopdConf, `${render(await loadTemplate('fwknopd.conf'), values, fwknopValue).replace(/\n+$/, '')}\n`, { mode: 0o600 });
    undo.push(async () => rm(o.fwknopdConf, { force: true }));
    report.push(`wrote ${o.fwknopdConf}: fwknopd's UDP server on 62201 (interface ${iface}), replay cache kept`);
  }
  // A file left without stanzas by the revoke of the last SPA stick is kept (the caller restores it).
  if (o.accessExists !== true) {
    await writeAtomically(o.accessConf, '# knockstick: fwknopd access.conf, one stanza per SPA stick (stick add --method spa). Keys: mode 0600, no semicolons.\n', { mode: 0o600 });
    undo.push(async () => rm(o.accessConf, { force: true }));
  }
  return { spaDoor, undo, report };
}

/** The firewall rule and the panic part (after the member's stanza is in place). */
export async function finishMixedSetup(o: { serverConfig: string; fwknopdPidfile: string }, setup: MixedSetup): Promise<void> {
  const state = await loadServer(o.serverConfig, new Date().toISOString());
  // panic: checked like every knockd.conf change, written, knockd reloaded.
  const newConf = panicStopsFwknopd(state.knockdConfText, o.fwknopdPidfile);
  if (newConf === undefined) {
    setup.report.push(`${state.knockdConfPath} has no [panic] command: panic does not stop fwknopd (stop it yourself: kill $(cat ${o.fwknopdPidfile}))`);
  } else if (newConf !== state.knockdConfText) {
    const tooLong = lineLimitError(newConf, state.knockdConfPath, "fwknopd's pidfile");
    if (tooLong !== undefined) throw tooLong;
    const probe = await verifyNewKnockdConf(newConf, state.knockdConfPath);
    await writeAtomically(state.knockdConfPath, newConf);
    setup.undo.push(async () => writeAtomically(state.knockdConfPath, state.knockdConfText));
    setup.report.push(`panic stops fwknopd too now ([panic] command in ${state.knockdConfPath}); ${describeReload(await reloadKnockd(state.pidfile, probe), 'panic stops both')}`);
  }
  // The firewall file beside server.conf, and the running table.
  const fwPath = join(dirname(o.serverConfig), 'firewall.nft');
  const fwText = await readTextIfExists(fwPath);
  if (fwText !== null) {
    const next = firewallWithSpaPort(fwText);
    if (next === undefined) setup.report.push(`${fwPath}: no "ct state invalid drop" line to put "${SPA_PORT_RULE}" after: add it to the input chain yourself`);
    else if (next !== fwText) {
      await writeAtomically(fwPath, next, { mode: 0o600 });
      setup.undo.push(async () => writeAtomically(fwPath, fwText, { mode: 0o600 }));
      setup.report.push(`${fwPath}: lets SPA packets in (${SPA_PORT_RULE})`);
    }
  }
  const chain = await runAllowingFailure({ file: 'nft', args: ['list', 'chain', 'inet', 'knockstick', 'input'], purpose: 'read the running firewall' }).catch(() => undefined);
  if (chain !== undefined && chain.exitCode === 0 && !chain.stdout.includes('udp dport 62201 accept')) {
    const added = await runAllowingFailure({ file: 'nft', args: ['add', 'rule', 'inet', 'knockstick', 'input', 'udp', 'dport', '62201', 'accept'], purpose: 'let SPA packets in' });
    setup.report.push(added.exitCode === 0 ? 'the running firewall lets SPA packets in now (udp/62201)' : `could not add "${SPA_PORT_RULE}" to the running firewall: ${added.stderr.trim()}`);
  } else if (chain === undefined || chain.exitCode !== 0) {
    setup.report.push('the knockstick firewall table is not loaded here: load firewall.nft (it has the SPA rule now)');
  }
}
