// panic: the kill switch for a lost stick.
//   panic script   write the standalone `sh panic` file for a shell account
//   panic send     send the panic knock from a machine with the toolkit
//   panic rotate   make a new panic sequence; update knockd.conf, the settings and the script
//   panic stanza   print the knockd.conf [panic] stanza

import { isIP } from 'node:net';
import { kill } from 'node:process';
import { isProcessAlive } from '../core/process.js';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { resolveAddress } from '../core/door/address.js';
import { parseCommandLine, parseInteger } from '../core/args.js';
import type { Command, CommandContext } from '../core/command.js';
import { SERVER_CONFIG_PATH, STICK_CONFIG_NAME, readConfig, setConfigValue, settingsFor, type Settings } from '../core/config.js';
import { ExitCode, InvalidFileError, KnockstickError, ioError, usageError } from '../core/errors.js';
import { readTextIfExists, refuseLinksAmong, writeAtomically } from '../core/files.js';
import { DNAT_CHAIN, NFT_NAT_TABLE, type FwknopdPanic, RECENT_DIR, RECENT_LIST, flushDnatCommand, flushRecentCommand, isFirewallKind, type FirewallKind } from '../core/firewall.js';
import { DEFAULT_RANGE, cryptoRandom, generateSequences } from '../core/generate.js';
import { attemptPackets, netKnocker } from '../core/knock.js';
import { checkKnockdConfModel } from '../core/knockd-reload.js';
import { probeKnockd } from '../core/knockd-probe.js';
import { readFwknopdConf } from '../core/fwknopd-conf.js';
import { lineLimitError, parseKnockdConf, withPanicStanza, type KnockdDoor } from '../core/knockd-conf.js';
import { formatSequence, parseSequenceFile, unusedLines, type Sequence } from '../core/sequences.js';
import { checkHostName, describeChar } from '../core/names.js';
import { hostConfigFrom } from '../core/ssh-config.js';
import { DEFAULT_HOST, LAUNCHER_ENV, STICK_ENV, isValidHostAlias, resolveStickRoot, stickLayout, stickRefusal, verifyStick } from '../core/stick.js';
import { loadTemplate } from '../core/templates.js';
import { panicHelp } from './help.js';
import { renderPanicScript, renderPanicStanza } from './render.js';
import { keepFwknopdStop } from '../members/spa-mixed.js';

export const DEFAULT_KNOCKD_CONF = '/etc/knockd.conf';
export const DEFAULT_PIDFILE = '/run/knockd.pid';
export const DEFAULT_PANIC_LENGTH = 5;

export const FLAGS = {
  stick: { type: 'string' },
  // --host is an alias of the stick's ssh config, as in every command; the address is --hostname
  // (the ssh config's HostName, as in usbsetup).
  host: { type: 'string' },
  hostname: { type: 'string' },
  'no-resolve': { type: 'boolean' },
  sequence: { type: 'string' },
  out: { type: 'string' },
  'server-config': { type: 'string' },
  'knockd-conf': { type: 'string' },
  pidfile: { type: 'string' },
  firewall: { type: 'string' },
  length: { type: 'string' },
  'no-reload': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseCommandLine<typeof FLAGS>>['values'];

interface Context {
  readonly values: Values;
  readonly alias: string;
  readonly command: CommandContext;
}

export const panicCommand: Command = {
  name: 'panic',
  help: panicHelp,
  flags: FLAGS,
  async run(context) {
    const { values, positionals } = parseCommandLine(context.args, FLAGS, context.invokedAs);
    if (values.help === true) {
      context.stdout.write(panicHelp(context.invokedAs));
      return ExitCode.OK;
    }
    const [sub, positionalAlias, extra] = positionals;
    if (extra !== undefined) throw usageError(`unexpected argument ${JSON.stringify(extra)}`, `see \`${context.invokedAs} --help\``);
    if (positionalAlias !== undefined && values.host !== undefined && positionalAlias !== values.host) {
      throw usageError(`two aliases given: ${JSON.stringify(positionalAlias)} and --host ${JSON.stringify(values.host)}`, 'the address to knock is --hostname ADDR');
    }
    const alias = values.host ?? positionalAlias ?? DEFAULT_HOST;
    if (!isValidHostAlias(alias)) {
      throw usageError(
        `${values.host === undefined ? 'ALIAS' : '--host'} must be an alias of the stick's ssh config (letters, digits, . _ -), got ${JSON.stringify(alias)}`,
        'the address to knock is --hostname ADDR',
      );
    }
    const ctx: Context = { values, alias, command: context };
    switch (sub) {
      case 'script':
        return script(ctx);
      case 'send':
        return send(ctx);
      case 'rotate':
        return rotate(ctx);
      case 'stanza':
        return stanza(ctx);
      default:
        throw usageError(
          sub === undefined ? 'missing subcommand: script, send, rotate or stanza' : `unknown subcommand ${JSON.stringify(sub)}`,
          `see \`${context.invokedAs} --help\``,
        );
    }
  },
};

function parseSequenceFlag(text: string): Sequence {
  const parsed = parseSequenceFile(` ${text}\n`, '--sequence', 'server');
  if (parsed.problems.length > 0) throw usageError(`--sequence: ${parsed.problems.map((p) => p.message).join('; ')}`);
  const seq = parsed.file.lines[0]?.sequence;
  if (seq == null) throw usageError('--sequence is empty');
  return seq;
}

function checkHost(host: string, source: string): string {
  checkHostName(host, source);
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw usageError(`${source} must be a host name or an address, got ${JSON.stringify(host)}`);
  return host;
}

/**
 * The stick's root, when there is one: a stick named by --stick, $KNOCKSTICK_STICK or the launcher
 * must be one (verifyStick refuses anything else, "is the stick mounted?"); the current directory
 * is used only when it is a stick, since panic script and stanza also work from the server settings.
 */
async function findStick(ctx: Context): Promise<string | undefined> {
  const { env, cwd } = ctx.command;
  const root = resolveStickRoot({ flag: ctx.values.stick, env, cwd });
  const named = ctx.values.stick !== undefined || (env[STICK_ENV] ?? '') !== '' || (env[LAUNCHER_ENV] ?? '') !== '';
  if (named) {
    await verifyStick(root, env);
    return root;
  }
  return (await stickRefusal(root, env)) === undefined ? root : undefined;
}

async function stickSettings(ctx: Context): Promise<{ settings: Settings; root: string | undefined }> {
  const root = await findStick(ctx);
  if (root === undefined) return { settings: {}, root };
  const config = await readConfig(join(stickLayout(root).sshDir, STICK_CONFIG_NAME), 'stick');
  return { settings: settingsFor(config, ctx.alias), root };
}

async function serverSettings(ctx: Context): Promise<Settings> {
  return (await readConfig(resolve(ctx.command.cwd, ctx.values['server-config'] ?? SERVER_CONFIG_PATH), 'server')).global;
}

/** --sequence, else the stick's settings for the alias, else the server's settings. */
async function panicSequence(ctx: Context): Promise<Sequence> {
  if (ctx.values.sequence !== undefined) return parseSequenceFlag(ctx.values.sequence);
  const fromStick = (await stickSettings(ctx)).settings.panicSequence;
  if (fromStick !== undefined) return fromStick;
  const fromServer = (await serverSettings(ctx)).panicSequence;
  if (fromServer !== undefined) return fromServer;
  throw usageError('no panic sequence known: pass --sequence P1,P2,... or make one with `knockstick panic rotate`');
}

/** --hostname, else panic_host of the stick's settings, else the HostName of the alias in the stick's ssh config. */
async function panicHost(ctx: Context): Promise<string> {
  if (ctx.values.hostname !== undefined) return checkHost(ctx.values.hostname, '--hostname');
  const { settings, root } = await stickSettings(ctx);
  if (settings.panicHost !== undefined) return settings.panicHost;
  if (root === undefined) {
    throw usageError(
      `no address for the panic knock: pass --hostname ADDR, or --stick DIR (the stick's ssh config names ${ctx.alias}'s HostName)`,
      ctx.values.host === undefined ? undefined : '--host names an alias of the stick\'s ssh config, as in every command; the address is --hostname',
    );
  }
  const sshConfig = stickLayout(root).sshConfig;
  const text = await readTextIfExists(sshConfig);
  if (text === null) throw ioError('read', sshConfig, Object.assign(new Error('missing'), { code: 'ENOENT' }));
  try {
    return checkHost(hostConfigFrom(text, sshConfig, ctx.alias).hostName, `HostName of "${ctx.alias}" in ${sshConfig}`);
  } catch (error) {
    if (error instanceof KnockstickError && ctx.values.host !== undefined && error.code === 'INVALID_FILE') {
      throw new KnockstickError(error.code, error.message, {
        hint: `--host names an alias of the stick's ssh config, as in every command; to give the address itself, use --hostname ${ctx.values.host}`,
      });
    }
    throw error;
  }
}

/**
 * The script is written for the day it is needed, from a shell account far away: a name that does
 * not resolve now (a typo, or an ssh alias such as "home" given as an address) would fail then,
 * with "Name or service not known". So it is resolved when written. --no-resolve writes it anyway
 * (offline), with a warning. The name, not the address, goes into the script: a dynamic DNS name
 * keeps working when the address changes.
 */
async function checkResolves(host: string, ctx: Context): Promise<void> {
  if (ctx.values['no-resolve'] === true) {
    if (isIP(host) === 0) ctx.command.stderr.write(`warning: --no-resolve: ${host} was not looked up; check that it resolves from the shell account\n`);
    return;
  }
  const { address } = await resolveAddress(host, 4).catch((error: unknown) => {
    throw new KnockstickError('IO', `cannot write the panic script: ${(error as Error).message}`, {
      hint: `the script knocks ${host} over IPv4 from your shell account: give a name or address that resolves there with --hostname ADDR, or pass --no-resolve to write it anyway (offline)`,
      cause: error,
    });
  });
  const why = unreachableFromAfar(address);
  if (why !== undefined) {
    ctx.command.stderr.write(`warning: ${host} is ${address} here, ${why}: a shell account elsewhere cannot knock it. Give the server's public name or address with --hostname ADDR\n`);
  }
}

/** Why an IPv4 address is not reachable from the internet (loopback, private, link-local), or undefined. */
export function unreachableFromAfar(address: string): string | undefined {
  const [a = 0, b = 0] = address.split('.').map(Number);
  if (a === 127) return 'a loopback address';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'a private address';
  if (a === 169 && b === 254) return 'a link-local address';
  if (a === 100 && b >= 64 && b <= 127) return 'a carrier-grade NAT address';
  return undefined;
}

/**
 * Refuses, before anything is written, a file that cannot be replaced: its directory missing, or
 * itself something else than a regular file (a directory; a device such as /dev/stdout, which the
 * rename of an atomic write would replace by a regular file).
 */
async function refuseUnwritable(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const dir = await stat(dirname(path)).catch(() => null);
    if (dir === null || !dir.isDirectory()) {
      throw new KnockstickError('IO', `cannot write ${path}: ${dirname(path)} is not a directory`, { hint: 'check the path; nothing was written' });
    }
    let target: Awaited<ReturnType<typeof stat>> | null = null;
    try {
      target = await stat(path);
    } catch (error) {
      // Missing is what a new file is; anything else (a name too long, a loop of links) fails the write.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new KnockstickError('IO', `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { hint: 'nothing was written' });
    }
    if (target !== null && !target.isFile()) {
      throw new KnockstickError('IO', `cannot write ${path}: it exists and is not a regular file`, { hint: 'name a file (or a new name) instead; nothing was written' });
    }
  }
}

async function writeScript(path: string, host: string, sequence: Sequence): Promise<void> {
  const text = renderPanicScript(await loadTemplate('panic.sh'), host, sequence);
  await writeAtomically(path, text);
}

async function script(ctx: Context): Promise<number> {
  const [host, sequence] = [await panicHost(ctx), await panicSequence(ctx)];
  await checkResolves(host, ctx);
  const out = resolve(ctx.command.cwd, ctx.values.out ?? 'panic');
  await refuseUnwritable([out]);
  await writeScript(out, host, sequence);
  ctx.command.stdout.write(
    `Wrote ${out} (mode 0600): the panic knock for ${host}, ${sequence.length} ports.\n` +
      'Copy it to a shell account you can reach from anywhere; run it there with `sh panic`.\n',
  );
  return ExitCode.OK;
}

async function send(ctx: Context): Promise<number> {
  const [host, sequence] = [await panicHost(ctx), await panicSequence(ctx)];
  const target = await resolveAddress(host, 4);
  const { clearing, sequence: knocks } = attemptPackets(sequence);
  for (const knock of clearing) await netKnocker.send(target, knock);
  for (const knock of knocks) {
    await new Promise((r) => setTimeout(r, 10));
    await netKnocker.send(target, knock);
  }
  ctx.command.stdout.write(
    `Sent the panic knock (${knocks.length} ports) to ${host} (${target.address}).\n` +
      'knockd (and fwknopd, where it runs) should now be stopped and every door closed; nothing opens until they are restarted on the server.\n',
  );
  return ExitCode.OK;
}

interface ServerSide {
  readonly knockdConf: string;
  readonly pidfile: string;
  readonly firewall: FirewallKind;
  readonly serverConfigPath: string;
  /** fwknopd, when it runs on this server too: panic stops it and closes its doors. */
  readonly fwknopd: FwknopdPanic | undefined;
  /** An SPA server (server.conf method = spa): knockd there is for the panic knock only. */
  readonly spa: boolean;
}

/**
 * The pidfile goes into the panic command of knockd.conf (shell-quoted, so "$" or a quote is fine),
 * and knockd.conf is read line by line: a control character (a line break above all) would start a
 * directive of its own. Refused here, naming where the value came from, before anything is written.
 */
function checkPidfile(pidfile: string, source: string): string {
  const bad = /[\p{Cc}]/u.exec(pidfile)?.[0];
  if (bad !== undefined) throw usageError(`${source} contains ${describeChar(bad)}: the pidfile goes into knockd.conf's panic command, one line that knockd reads`, 'give a plain path');
  if (!pidfile.startsWith('/')) throw usageError(`${source} must be an absolute path, got ${JSON.stringify(pidfile)}`);
  return pidfile;
}

async function serverSide(ctx: Context): Promise<ServerSide> {
  const settings = await serverSettings(ctx);
  if (ctx.values.pidfile !== undefined) checkPidfile(ctx.values.pidfile, '--pidfile');
  else if (settings.pidfile !== undefined) checkPidfile(settings.pidfile, `pidfile in ${resolve(ctx.command.cwd, ctx.values['server-config'] ?? SERVER_CONFIG_PATH)}`);
  // ufw's doors are iptables' (the xt_recent list in ufw's own chain).
  const firewall = ctx.values.firewall ?? (settings.firewall === 'ufw' ? 'iptables' : settings.firewall) ?? 'iptables';
  if (!isFirewallKind(firewall)) throw usageError(`--firewall must be iptables or nftables, got ${JSON.stringify(firewall)}`);
  // On an SPA server, server.conf's pidfile is fwknopd's; knockd (there only for the panic knock) has its own.
  const spa = settings.method === 'spa';
  return {
    knockdConf: resolve(ctx.command.cwd, ctx.values['knockd-conf'] ?? settings.knockdConf ?? DEFAULT_KNOCKD_CONF),
    pidfile: resolve(ctx.command.cwd, ctx.values.pidfile ?? (spa ? undefined : settings.pidfile) ?? DEFAULT_PIDFILE),
    firewall,
    serverConfigPath: resolve(ctx.command.cwd, ctx.values['server-config'] ?? SERVER_CONFIG_PATH),
    fwknopd: await fwknopdSide(ctx, settings),
    spa,
  };
}

/** knockd.conf of an SPA server, before rotate adds the [panic] stanza: knockd listens for the panic knock only. */
export const SPA_PANIC_KNOCKD_CONF = '# knockd on an SPA server (knockstick panic rotate): it listens for the panic knock only; fwknopd opens the doors.\n[options]\n  UseSyslog\n';

/** Where fwknopd-conf and fwknopd's pidfile are when the server settings do not say (fwknop-server's own). */
export const DEFAULT_FWKNOPD_CONF = '/etc/fwknop/fwknopd.conf';
export const DEFAULT_FWKNOPD_PIDFILE = '/run/fwknop/fwknopd.pid';

/**
 * Does fwknopd run here, and where are its pidfile and doors? Yes on an SPA server (server.conf
 * "method = spa"), on a server whose settings name an fwknopd_conf (a knock server with SPA sticks
 * too), and, with the system's server.conf, where fwknopd's default pidfile exists (fwknopd runs, or
 * ran, on this machine). The pidfile: fwknopd.conf's FWKNOP_PID_FILE (what the drop-in's PIDFile
 * is), else server.conf's pidfile on an SPA server, else fwknop's default. Its doors: the SPA
 * server's firewall; on a knock server, knockd's (its SPA doors are in knockd's own door set, flushed anyway).
 */
async function fwknopdSide(ctx: Context, settings: Settings): Promise<FwknopdPanic | undefined> {
  const systemSettings = ctx.values['server-config'] === undefined;
  const spa = settings.method === 'spa';
  const seen = spa || settings.fwknopdConf !== undefined || (systemSettings && (await stat(DEFAULT_FWKNOPD_PIDFILE).catch(() => null)) !== null);
  if (!seen) return undefined;
  const confPath = settings.fwknopdConf === undefined ? DEFAULT_FWKNOPD_CONF : resolve(ctx.command.cwd, settings.fwknopdConf);
  const confText = await readTextIfExists(confPath).catch(() => null);
  const fromConf = confText === null ? undefined : readFwknopdConf(confText).values.get('FWKNOP_PID_FILE')?.value.trim();
  const pidfile = checkPidfile(fromConf || (spa ? settings.pidfile : undefined) || DEFAULT_FWKNOPD_PIDFILE, `fwknopd's pidfile (FWKNOP_PID_FILE in ${confPath}, or server.conf)`);
  const firewall = settings.firewall ?? 'iptables';
  return { pidfile, firewall: spa ? firewall : firewall === 'ufw' ? 'iptables' : firewall, sshPort: settings.sshPort ?? 22 };
}

/** What the pidfile came from, for a message: the flag, else the settings, else the default. */
function pidfileSource(ctx: Context): string {
  return ctx.values.pidfile !== undefined ? '--pidfile' : 'the pidfile (from the server settings, or the default)';
}

async function stanza(ctx: Context): Promise<number> {
  const side = await serverSide(ctx);
  const sequence = await panicSequence(ctx);
  const text = renderPanicStanza(await loadTemplate('knockd-panic.conf'), sequence, side.firewall, side.pidfile, '', undefined, side.fwknopd);
  const tooLong = lineLimitError(text, 'the stanza', pidfileSource(ctx));
  if (tooLong !== undefined) throw tooLong;
  ctx.command.stdout.write(text);
  return ExitCode.OK;
}

/** Every port used by any one-time file of the config (used lines too): the panic ports avoid them all. */
async function portsInOneTimeFiles(files: readonly string[]): Promise<Set<number>> {
  const ports = new Set<number>();
  for (const file of files) {
    const text = await readTextIfExists(file);
    if (text === null) continue;
    for (const line of parseSequenceFile(text, file, 'server').file.lines) for (const k of line.sequence ?? []) ports.add(k.port);
  }
  return ports;
}

/**
 * Router mode's forwarding doors, found in the doors' start commands, so that a rotated panic stanza
 * still closes them: each inner host's xt_recent list, the old KNOCKSTICK_DNAT chain, or each door
 * set of the knockstick_nat table.
 */
export function forwardingFlush(doors: readonly KnockdDoor[]): string {
  const starts = doors.map((d) => d.settings.get('start_command')?.value ?? '');
  const flush: string[] = [];
  if (starts.some((c) => c.includes(DNAT_CHAIN))) flush.push(flushDnatCommand('iptables', []));
  // The SSH door's own list is flushed by every panic command already (flushDoorsCommand).
  const lists = starts.flatMap((c) => {
    const m = new RegExp(`${RECENT_DIR}/(${RECENT_LIST}_[A-Za-z0-9_]+)`).exec(c);
    return m === null ? [] : [m[1] as string];
  });
  if (lists.length > 0) flush.push(flushRecentCommand(lists));
  const sets = starts.flatMap((c) => {
    const m = new RegExp(`nft add element ip ${NFT_NAT_TABLE} (\\S+) `).exec(c);
    return m === null ? [] : [{ name: (m[1] as string).replace(/^door_/, ''), address: '' }];
  });
  if (sets.length > 0) flush.push(flushDnatCommand('nftables', sets));
  return flush.join('; ');
}

async function rotate(ctx: Context): Promise<number> {
  // A --hostname given is checked now: later, an address that cannot be used only means "no script".
  if (ctx.values.hostname !== undefined) checkHost(ctx.values.hostname, '--hostname');
  const out = ctx.command.stdout;
  // A stick named for the update must be one, checked before knockd.conf is written (stick.ts).
  if (ctx.values.stick !== undefined || (ctx.command.env[STICK_ENV] ?? '') !== '') {
    await verifyStick(resolveStickRoot({ flag: ctx.values.stick, env: ctx.command.env, cwd: ctx.command.cwd }), ctx.command.env);
  }
  const side = await serverSide(ctx);
  // An SPA server has no knockd.conf of its own: the first rotate makes one for the panic knock only.
  const existingConf = await readTextIfExists(side.knockdConf);
  const confText = existingConf ?? (side.spa ? SPA_PANIC_KNOCKD_CONF : null);
  if (confText === null) throw ioError('read', side.knockdConf, Object.assign(new Error('missing'), { code: 'ENOENT' }));
  const current = parseKnockdConf(confText, side.knockdConf);
  if (current.problems.length > 0) throw new InvalidFileError(current.problems, 'fix knockd.conf first; nothing was written');

  // Every panic port out of phase: none appears in any one-time file, used lines included, nor in
  // any other door's fixed sequence.
  const avoidPorts = await portsInOneTimeFiles(current.conf.doors.flatMap((d) => (d.oneTimeFile === null ? [] : [d.oneTimeFile])));
  for (const door of current.conf.doors) if (door.name !== 'panic') for (const k of door.sequence ?? []) avoidPorts.add(k.port);
  const length = ctx.values.length === undefined ? DEFAULT_PANIC_LENGTH : parseInteger('--length', ctx.values.length, 3, 32);
  const sequence =
    ctx.values.sequence !== undefined
      ? parseSequenceFlag(ctx.values.sequence)
      : (generateSequences(cryptoRandom, { count: 1, length, range: DEFAULT_RANGE, exclude: avoidPorts, avoid: new Set() })[0] as Sequence);
  if (sequence.every((k) => avoidPorts.has(k.port))) {
    throw usageError('the panic sequence needs at least one port that no one-time sequence uses (out of phase)');
  }

  // A knockd server with SPA sticks: its [panic] also stops fwknopd (members/spa-mixed.ts); kept.
  const newConf = keepFwknopdStop(confText, withPanicStanza(
    confText,
    renderPanicStanza(await loadTemplate('knockd-panic.conf'), sequence, side.firewall, side.pidfile, forwardingFlush(current.conf.doors), undefined, side.fwknopd),
  ));
  const tooLong = lineLimitError(newConf, side.knockdConf, pidfileSource(ctx));
  if (tooLong !== undefined) throw tooLong;
  await checkKnockdConfModel(newConf, side.knockdConf);
  // The real knockd reads the new file too (knockd-probe.ts) before anything is written: a file it
  // reads differently from us is never written, and one it could not read is never reloaded.
  const probe = await probeKnockd(newConf);
  if (probe.kind === 'differs' || (probe.kind === 'agrees' && !probe.accepted)) {
    const what = probe.kind === 'differs' ? probe.differences.join('; ') : `it refuses it: ${probe.knockdSays}`;
    throw new KnockstickError('INVALID_FILE', `the real knockd reads the new ${side.knockdConf} differently from us: ${what}`, {
      hint: 'nothing was written or reloaded; please report this (our model of knockd is wrong there)',
    });
  }

  const value = formatSequence(sequence);
  // Everything is read and computed before the first write, and every place written to is checked:
  // a refusal half-way (a missing --stick, a bad --out, a planted link) would leave knockd.conf with
  // a panic sequence that the settings, the stick or the script do not know.
  const serverConfigText = (await readTextIfExists(side.serverConfigPath)) ?? '# knockstick server settings (see `knockstick panic --help`)\n';
  const newServerConfig = setConfigValue(serverConfigText, '', 'panic_sequence', value);
  let stickConfig: { path: string; text: string; root: string } | undefined;
  if (ctx.values.stick !== undefined || (ctx.command.env[STICK_ENV] ?? '') !== '') {
    const root = await verifyStick(resolveStickRoot({ flag: ctx.values.stick, env: ctx.command.env, cwd: ctx.command.cwd }), ctx.command.env).then((l) => l.root);
    const path = join(stickLayout(root).sshDir, STICK_CONFIG_NAME);
    stickConfig = { path, root, text: setConfigValue((await readTextIfExists(path)) ?? '', ctx.alias, 'panic_sequence', value) };
  }
  let host: string | undefined;
  let noScript = 'no --hostname and no stick';
  try {
    host = await panicHost(ctx);
    await checkResolves(host, ctx);
  } catch (error) {
    if (host !== undefined) noScript = (error as Error).message;
    host = undefined; // no usable address: no script, and rotate says why
  }
  const scriptPath = resolve(ctx.command.cwd, ctx.values.out ?? 'panic');
  const targets = [side.knockdConf, side.serverConfigPath, ...(stickConfig === undefined ? [] : [stickConfig.path]), ...(host === undefined ? [] : [scriptPath])];
  await refuseLinksAmong(targets);
  await refuseUnwritable(targets);

  await writeAtomically(side.knockdConf, newConf);
  await writeAtomically(side.serverConfigPath, newServerConfig).catch((error: unknown) => {
    throw new KnockstickError('IO', `updated ${side.knockdConf} but not ${side.serverConfigPath}: ${(error as Error).message}`, { cause: error });
  });
  out.write(`New panic sequence (${sequence.length} ports, all out of phase) in ${side.knockdConf} and ${side.serverConfigPath}.\n`);

  if (stickConfig !== undefined) {
    await writeAtomically(stickConfig.path, stickConfig.text, { within: stickConfig.root });
    out.write(`Updated ${stickConfig.path} [${ctx.alias}].\n`);
  }

  if (host !== undefined) {
    await writeScript(scriptPath, host, sequence);
    out.write(`Wrote the new panic script ${scriptPath} for ${host}: replace the old one on your shell account.\n`);
  } else {
    out.write(`No script written (${noScript}): run \`knockstick panic script --hostname ADDR\` for the new one.\n`);
  }

  if (existingConf === null) {
    out.write(
      `${side.knockdConf} is new: knockd there listens for the panic knock only (fwknopd opens the doors). Start it as root, e.g. ` +
        `knockd -d -c ${side.knockdConf} -i INTERFACE -p ${side.pidfile} (or under systemd with knockstick's knockd drop-in, templates/knockd.service.conf).\n`,
    );
  }
  if (ctx.values['no-reload'] === true) {
    out.write('Not reloaded (--no-reload): the new panic sequence is armed at knockd\'s next start or SIGHUP.\n');
    return ExitCode.OK;
  }
  return reload(side.pidfile, out, probe.kind === 'skipped' ? probe.reason : undefined);
}

/** SIGHUP knockd by its pidfile, then check that it survived the reload. */
async function reload(pidfile: string, out: { write(text: string): void }, notProbed: string | undefined): Promise<number> {
  const text = await readTextIfExists(pidfile);
  const pid = text === null ? NaN : Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1 || !isProcessAlive(pid)) {
    out.write(`knockd is not running (no live pid in ${pidfile}): the new panic sequence is armed when it starts.\n`);
    return ExitCode.OK;
  }
  if (notProbed !== undefined) {
    // A reload with a file the real knockd did not read is how a panic rotate could kill knockd.
    out.write(
      `Not reloaded: the real knockd could not read the new file first (${notProbed}). ` +
        `Check it with \`knockstick doctor\` as root, then reload: kill -HUP ${pid}\n`,
    );
    return ExitCode.OK;
  }
  kill(pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  if (!isProcessAlive(pid)) {
    throw new KnockstickError('INTERNAL', `knockd (pid ${pid}) died while reloading its config`, {
      hint: 'check knockd\'s log; the config passed our checks, so please report this',
    });
  }
  out.write(`Reloaded knockd (pid ${pid}); it is running with the new panic sequence.\n`);
  return ExitCode.OK;
}
