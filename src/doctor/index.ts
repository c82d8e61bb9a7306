// knockstick doctor: gathers facts about the server (and the stick) and prints the findings of
// checks.ts, each with a severity, a one-line explanation and the fix.

import { lstat, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseCommandLine, parseInteger } from '../core/args.js';
import type { Command, CommandContext } from '../core/command.js';
import { SERVER_CONFIG_PATH, STICK_CONFIG_NAME, readConfig, settingsFor } from '../core/config.js';
import { ExitCode, InterruptedError, usageError } from '../core/errors.js';
import { runAllowingFailure } from '../core/run.js';
import { assertRegularOrMissing, fileMode, readBytesIfExists, readTextIfExists } from '../core/files.js';
import { parseKnockdConf } from '../core/knockd-conf.js';
import { probeKnockd } from '../core/knockd-probe.js';
import { readFwknopdConf } from '../core/fwknopd-conf.js';
import { probeFwknopd } from '../core/fwknopd-probe.js';
import type { FwknopFileFact, FwknopdFacts } from './fwknopd-checks.js';
import { isProcessAlive } from '../core/process.js';
import { hostConfigFrom } from '../core/ssh-config.js';
import { DEFAULT_HOST, SPA_RC_NAME, isValidHostAlias, sequencesFileFor, stateFileFor, verifyStick } from '../core/stick.js';
import { parseColonListing } from '../spa/gpg-colons.js';
import { stopAgent } from '../spa/gpg.js';
import { parseRcText } from '../spa/rc-file.js';
import { parseAccessGpg, type DirFact, type KeyringFacts, type StickGpgStanza } from './gpg-checks.js';
import { readCallhomeState } from '../core/callhome-state.js';
import { describeRelocation, relocateStickConfig } from '../core/stick-relocate.js';
import { configPathToFile } from '../core/stick-ssh-config.js';
import SSHConfig from 'ssh-config';
import { diagnose, type Facts, type FileFact, type Finding } from './checks.js';
import type { MembersFacts } from './members-checks.js';
import { registryPathFor } from '../core/members-io.js';
import { spaServerOptions } from '../members/spa.js';
import { doctorHelp } from './help.js';

export const FLAGS = {
  'knockd-conf': { type: 'string' },
  'fwknopd-conf': { type: 'string' },
  'access-conf': { type: 'string' },
  'server-config': { type: 'string' },
  pidfile: { type: 'string' },
  interface: { type: 'string' },
  stick: { type: 'string' },
  host: { type: 'string' },
  'server-file': { type: 'string' },
  offline: { type: 'boolean' },
  'sshd-config': { type: 'string' },
  json: { type: 'boolean' },
  'warn-below': { type: 'string' },
  'fix-paths': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const doctorCommand: Command = {
  name: 'doctor',
  help: doctorHelp,
  flags: FLAGS,
  async run(context) {
    const { values, positionals } = parseCommandLine(context.args, FLAGS, context.invokedAs);
    if (values.help === true) {
      context.stdout.write(doctorHelp(context.invokedAs));
      return ExitCode.OK;
    }
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (values['fix-paths'] === true) {
      if (values.stick === undefined) throw usageError('--fix-paths goes with --stick DIR (the stick whose ssh config to fix)');
      // Before the checks, so that they see the fixed file; says what it rewrote.
      const layout = await verifyStick(resolve(context.cwd, values.stick), context.env);
      const { changes } = await relocateStickConfig(layout);
      context.stderr.write(changes.length === 0 ? `${layout.sshConfig}: no stick path to rewrite\n` : `rewrote ${changes.length} stick path(s) in ${layout.sshConfig}:\n${describeRelocation(changes).map((l) => `  ${l}\n`).join('')}`);
    }
    const findings = diagnose(await gather(values, context));
    const errors = findings.filter((f) => f.severity === 'error').length;
    const warnings = findings.filter((f) => f.severity === 'warning').length;
    context.stdout.write(values.json === true ? `${JSON.stringify({ ok: errors === 0, errors, warnings, findings }, null, 2)}\n` : format(findings, errors, warnings));
    return errors === 0 ? ExitCode.OK : ExitCode.FINDINGS;
  },
};

type Values = ReturnType<typeof parseCommandLine<typeof FLAGS>>['values'];

async function fileFact(path: string): Promise<FileFact> {
  const text = await readTextIfExists(path);
  return { text, mode: text === null ? undefined : await fileMode(path) };
}

/** fileFact with the bytes as read (knockd reads bytes, and so must the probe's copy): one read. */
async function fileFactWithBytes(path: string): Promise<FileFact & { bytes: Buffer | null }> {
  const bytes = await readBytesIfExists(path);
  return { text: bytes?.toString('utf8') ?? null, bytes, mode: bytes === null ? undefined : await fileMode(path) };
}

/** A program's view of the system, or null when it is missing or fails: doctor reports the gap. */
async function run(file: string, args: readonly string[]): Promise<string | null> {
  try {
    const result = await runAllowingFailure({ file, args, purpose: `ask ${file} for doctor` });
    return result.exitCode === 0 ? result.stdout : null;
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    return null;
  }
}

async function dirFact(path: string): Promise<DirFact | undefined> {
  const st = await lstat(path).catch(() => null);
  return st === null ? undefined : { isLink: st.isSymbolicLink(), isDirectory: st.isDirectory(), mode: st.mode, uid: st.uid };
}

/** A keyring as the real gpg lists it (--with-colons); the gpg-agent that listing starts is stopped again. */
async function keyringFacts(home: string): Promise<KeyringFacts> {
  const dir = await dirFact(home);
  if (dir === undefined || dir.isLink || !dir.isDirectory) return { dir, publicKeys: [], secretKeys: [], gpgConf: null };
  const list = async (which: string): Promise<string> => (await run('gpg', ['--homedir', home, '--batch', '--no-tty', '--no-permission-warning', '--with-colons', '--fixed-list-mode', which])) ?? '';
  try {
    return { dir, publicKeys: parseColonListing(await list('--list-keys')), secretKeys: parseColonListing(await list('--list-secret-keys')), gpgConf: await readTextIfExists(join(home, 'gpg.conf')) };
  } finally {
    await stopAgent(home);
  }
}

const keyringOwners = (): number[] => [...new Set([0, process.getuid?.() ?? 0])];

/** --access-conf: fwknopd's GnuPG stanzas and each keyring they name. */
async function gatherGpgServer(path: string): Promise<NonNullable<Facts['gpgServer']>> {
  const text = await readTextIfExists(path);
  const stanzas = text === null ? [] : parseAccessGpg(text, path);
  const rings = new Map<string, KeyringFacts>();
  for (const s of stanzas) if (s.home !== undefined && !rings.has(s.home)) rings.set(s.home, await keyringFacts(s.home));
  return { path, exists: text !== null, stanzas, rings, owners: keyringOwners() };
}

/** The stick's .gnupg and the USE_GPG stanzas of its .ssh/fwknoprc (GPG_HOMEDIR relative to that file). */
async function gatherGpgStick(root: string, sshDir: string): Promise<NonNullable<Facts['gpgStick']>> {
  const rcPath = join(sshDir, SPA_RC_NAME);
  const text = await readTextIfExists(rcPath);
  const gnupg = join(root, '.gnupg');
  const stanzas: StickGpgStanza[] = [];
  for (const st of text === null ? [] : parseRcText(text, rcPath)) {
    if (!/^y/i.test(st.entries.get('USE_GPG')?.value ?? '')) continue;
    const homedir = st.entries.get('GPG_HOMEDIR')?.value;
    stanzas.push({ file: rcPath, name: st.name, line: st.line, home: homedir === undefined ? gnupg : resolve(dirname(rcPath), homedir), signer: st.entries.get('GPG_SIGNER'), recipient: st.entries.get('GPG_RECIPIENT') });
  }
  const rings = new Map<string, KeyringFacts>();
  for (const s of stanzas) if (!rings.has(s.home)) rings.set(s.home, await keyringFacts(s.home));
  return { gnupg: { path: gnupg, dir: await dirFact(gnupg) }, stanzas, rings, owners: keyringOwners() };
}

/** Where fwknop-server keeps its files, and where fwknopd writes its pid by default. */
export const FWKNOPD_CONF_PATH = '/etc/fwknop/fwknopd.conf';
export const FWKNOP_ACCESS_PATH = '/etc/fwknop/access.conf';
export const FWKNOPD_PID_PATH = '/var/run/fwknop/fwknopd.pid';

/** One of fwknopd's files as read (bytes as latin1, as fwknopd reads bytes), its mode and owner. */
async function fwknopFileFact(path: string): Promise<FwknopFileFact> {
  const bytes = await readBytesIfExists(path);
  if (bytes === null) return { path, text: null };
  const st = await stat(path);
  return { path, text: bytes.toString('latin1'), mode: st.mode & 0o777, uid: st.uid };
}

const exists = async (path: string): Promise<boolean> => (await lstat(path).catch(() => null)) !== null;

/**
 * Is this an SPA server? --fwknopd-conf says so; else server.conf's "method = spa"; else a machine
 * with fwknop-server's fwknopd.conf and no knockd.conf. (--access-conf alone keeps its older meaning:
 * the GnuPG checks of that file only.)
 */
async function isSpaServer(values: Values, settings: { readonly method?: string; readonly knockdConf?: string }): Promise<boolean> {
  if (values['fwknopd-conf'] !== undefined) return true;
  if (values['knockd-conf'] !== undefined) return false;
  if (settings.method === 'spa') return true;
  return settings.knockdConf === undefined && !(await exists('/etc/knockd.conf')) && (await exists(FWKNOPD_CONF_PATH));
}

/** fwknopd's side of an SPA server: its files, the real fwknopd's reading, and (unless --offline) the live system. */
async function gatherSpa(values: Values, settings: { readonly sshPort?: number }, at: (p: string) => string): Promise<Pick<Facts, 'spa' | 'sshdT' | 'gpgServer'>> {
  const conf = await fwknopFileFact(at(values['fwknopd-conf'] ?? FWKNOPD_CONF_PATH));
  const model = conf.text === null ? undefined : readFwknopdConf(conf.text);
  const access = await fwknopFileFact(at(values['access-conf'] ?? model?.values.get('ACCESS_FILE')?.value.trim() ?? FWKNOP_ACCESS_PATH));
  const probe = conf.text === null || access.text === null ? undefined : await probeFwknopd(conf.text, access.text, { conf: conf.path, access: access.path });
  // SUDO_EXE: knockstick's command filter (--allow-command), which enforces the command stanza's regex.
  const sudoExe = model?.values.get('SUDO_EXE')?.value.trim();
  const commandFilter = sudoExe === undefined || sudoExe === '' ? undefined : await fwknopFileFact(at(sudoExe));
  let live: Partial<FwknopdFacts> = {};
  let sshdT: string | null | undefined;
  if (values.offline !== true) {
    const runDir = model?.values.get('FWKNOP_RUN_DIR')?.value.trim();
    const pidfile = at(values.pidfile ?? model?.values.get('FWKNOP_PID_FILE')?.value.trim() ?? (runDir === undefined ? FWKNOPD_PID_PATH : join(runDir, 'fwknopd.pid')));
    const pidText = await readTextIfExists(pidfile);
    const pid = pidText === null || !/^\d+\s*$/.test(pidText) ? null : Number(pidText);
    if (values['sshd-config'] !== undefined) await assertRegularOrMissing(at(values['sshd-config']));
    sshdT = await run('/usr/sbin/sshd', ['-T', ...(values['sshd-config'] === undefined ? [] : ['-f', at(values['sshd-config'])])]);
    live = { daemon: { pidfile, pid, alive: pid !== null && isProcessAlive(pid) }, firewall: { nft: await run('nft', ['list', 'ruleset']), iptables: await run('iptables-save', []) } };
  }
  // sshd -T's effective ports; --offline: the Port lines of --sshd-config (e.g. server init's drop-in).
  const offlineSshd = values.offline === true && values['sshd-config'] !== undefined ? await readTextIfExists(at(values['sshd-config'])) : null;
  const fromSshd = sshdT != null ? [...sshdT.matchAll(/^port (\d+)$/gm)].map((m) => Number(m[1])) : [...(offlineSshd ?? '').matchAll(/^[ \t]*Port[ \t]+(\d+)[ \t]*$/gim)].map((m) => Number(m[1]));
  const sshPorts = fromSshd.length > 0 ? fromSshd : settings.sshPort === undefined ? [] : [settings.sshPort];
  return {
    spa: { conf, access, sshPorts, ...live, ...(probe === undefined ? {} : { probe }), ...(commandFilter === undefined ? {} : { commandFilter }) },
    ...(sshdT === undefined ? {} : { sshdT }),
    ...(access.text === null ? {} : { gpgServer: await gatherGpgServer(access.path) }),
  };
}

async function gather(values: Values, context: CommandContext): Promise<Facts> {
  const at = (p: string): string => resolve(context.cwd, p);
  if (values['fwknopd-conf'] !== undefined || values['access-conf'] === undefined || values['knockd-conf'] !== undefined) {
    const settings = (await readConfig(at(values['server-config'] ?? SERVER_CONFIG_PATH), 'server')).global;
    if (await isSpaServer(values, settings)) {
      const stick = values.stick === undefined ? undefined : await gatherStick(at(values.stick), context.env, values.host ?? DEFAULT_HOST, undefined, true);
      const gathered = await gatherSpa(values, settings, at);
      // --stick: its fwknoprc stanza is compared with the access.conf stanza holding its key.
      const rcPath = stick === undefined ? undefined : join(stick.root, '.ssh', SPA_RC_NAME);
      const spaFacts = stick === undefined || rcPath === undefined || gathered.spa === undefined ? gathered : { ...gathered, spa: { ...gathered.spa, stickRc: { path: rcPath, text: await readTextIfExists(rcPath), stanza: stick.alias } } };
      return {
        knockdConf: { path: '(none: fwknopd)', text: null, mode: undefined }, oneTimeFiles: new Map(), warnBelow: 10, now: Math.floor(Date.now() / 1000),
        ...spaFacts,
        ...(stick === undefined ? {} : { stick, gpgStick: await gatherGpgStick(stick.root, join(stick.root, '.ssh')) }),
      };
    }
  }
  // --access-conf alone: an fwknopd server, which has no knockd to check.
  const fwknopdOnly = values['access-conf'] !== undefined && values['knockd-conf'] === undefined;
  const gpg = {
    now: Math.floor(Date.now() / 1000),
    ...(values['access-conf'] === undefined ? {} : { gpgServer: await gatherGpgServer(at(values['access-conf'])) }),
    ...(fwknopdOnly ? { fwknopdOnly } : {}),
  };
  if (fwknopdOnly) {
    const stick = values.stick === undefined ? undefined : await gatherStick(at(values.stick), context.env, values.host ?? DEFAULT_HOST, undefined, true);
    return { knockdConf: { path: '(none: fwknopd)', text: null, mode: undefined }, oneTimeFiles: new Map(), warnBelow: 10, ...gpg, ...(stick === undefined ? {} : { stick, gpgStick: await gatherGpgStick(stick.root, join(stick.root, '.ssh')) }) };
  }
  const settings = (await readConfig(at(values['server-config'] ?? SERVER_CONFIG_PATH), 'server')).global;
  const confPath = at(values['knockd-conf'] ?? settings.knockdConf ?? '/etc/knockd.conf');
  const { bytes: confBytes, ...confFact } = await fileFactWithBytes(confPath);
  const knockdConf = { path: confPath, ...confFact };
  const parsed = knockdConf.text === null ? undefined : parseKnockdConf(knockdConf.text, confPath).conf;
  const oneTimeFiles = new Map<string, FileFact>();
  for (const door of parsed?.doors ?? []) if (door.oneTimeFile !== null) oneTimeFiles.set(door.oneTimeFile, await fileFact(door.oneTimeFile));
  // Without --server-file, a member stick names its own door's file (stick add writes server_file).
  const stickServerFile = values.stick === undefined || values['server-file'] !== undefined ? undefined : await readConfig(join(at(values.stick), '.ssh', STICK_CONFIG_NAME), 'stick').then((c) => settingsFor(c, values.host ?? DEFAULT_HOST).serverFile, () => undefined);
  const serverFile = values['server-file'] === undefined ? stickServerFile : at(values['server-file']);
  if (serverFile !== undefined && !oneTimeFiles.has(serverFile)) oneTimeFiles.set(serverFile, await fileFact(serverFile));
  const warnBelow = values['warn-below'] === undefined ? 10 : parseInteger('--warn-below', values['warn-below'], 0, 100_000);

  let live: Partial<Facts> = {};
  if (values.offline !== true) {
    const pidfile = at(values.pidfile ?? settings.pidfile ?? parsed?.options.get('pidfile')?.value ?? '/run/knockd.pid');
    const pidText = await readTextIfExists(pidfile);
    const pid = pidText === null || !/^\d+\s*$/.test(pidText) ? null : Number(pidText);
    const alive = pid !== null && isProcessAlive(pid);
    const ifaceName = values.interface ?? parsed?.options.get('interface')?.value;
    // sshd opens the file itself: a FIFO there would keep it (and doctor) waiting forever.
    if (values['sshd-config'] !== undefined) await assertRegularOrMissing(at(values['sshd-config']));
    const addr = ifaceName === undefined ? undefined : await run('ip', ['-o', '-4', 'addr', 'show', 'dev', ifaceName]);
    live = {
      knockd: { pidfile, pid, alive },
      ...(ifaceName === undefined ? {} : { iface: { name: ifaceName, ipv4: addr === null || addr === undefined ? null : [...addr.matchAll(/inet (\S+)/g)].map((m) => m[1] as string) } }),
      firewall: { nft: await run('nft', ['list', 'ruleset']), iptables: await run('iptables-save', []), sshPort: settings.sshPort ?? 22 },
      sshdT: await run('/usr/sbin/sshd', ['-T', ...(values['sshd-config'] === undefined ? [] : ['-f', at(values['sshd-config'])])]),
    };
  }
  const knockdProbe = confBytes === null ? undefined : await probeKnockd(confBytes);
  const members = parsed === undefined ? undefined : await gatherMembers(at(values['server-config'] ?? SERVER_CONFIG_PATH), parsed.doors, values['access-conf'] === undefined ? undefined : at(values['access-conf']));
  const stick = values.stick === undefined ? undefined : await gatherStick(at(values.stick), context.env, values.host ?? DEFAULT_HOST, serverFile);
  return {
    knockdConf, oneTimeFiles, warnBelow, ...live, ...gpg,
    ...(knockdProbe === undefined ? {} : { knockdProbe }),
    ...(members === undefined ? {} : { members }),
    ...(stick === undefined ? {} : { stick, gpgStick: await gatherGpgStick(stick.root, join(stick.root, '.ssh')) }),
  };
}

/** sticks.conf next to the settings, and the files beside the doors' one-time files (members-checks.ts). */
async function gatherMembers(serverConfigPath: string, doors: readonly { oneTimeFile: string | null }[], accessConf?: string): Promise<MembersFacts> {
  const registryPath = registryPathFor(serverConfigPath);
  const dirs = [...new Set(doors.flatMap((d) => (d.oneTimeFile === null ? [] : [dirname(d.oneTimeFile)])))];
  const files: string[] = [];
  for (const dir of dirs) for (const name of await readdir(dir).catch(() => [] as string[])) files.push(join(dir, name));
  const registryText = await readTextIfExists(registryPath).catch(() => null);
  // SPA members' stanzas: in access.conf where stick add looks for it (members/spa.ts), checked
  // only when the registry has SPA members or that file exists.
  const spa = spaServerOptions({ 'access-conf': accessConf }, dirname(serverConfigPath), serverConfigPath);
  const accessText = await readTextIfExists(spa.accessConf).catch(() => null);
  const spaAccess = accessText !== null || /^method = spa$/m.test(registryText ?? '') ? { path: spa.accessConf, text: accessText } : undefined;
  return { registryPath, registryText, filesInDoorDirs: files, spaAccess };
}

/** The stick's facts; a directory that is not a stick (no .ssh/config, or a home) is refused (verifyStick). */
async function gatherStick(root: string, env: NodeJS.ProcessEnv, alias: string, serverFile: string | undefined, spa = false): Promise<NonNullable<Facts['stick']>> {
  if (!isValidHostAlias(alias)) throw usageError(`--host must be an alias of the stick's ssh config, got ${JSON.stringify(alias)}`);
  const layout = await verifyStick(root, env);
  const configText = await readTextIfExists(layout.sshConfig);
  let sshConfigError: string | null = null;
  const identityFiles: Array<{ path: string; mode: number | undefined }> = [];
  if (configText === null) sshConfigError = `${layout.sshConfig} does not exist`;
  else {
    try {
      hostConfigFrom(configText, layout.sshConfig, alias);
      const computed = SSHConfig.parse(configText).compute(alias, { ignoreCase: true, matchExec: false });
      const files = ([] as string[]).concat(computed.identityfile ?? []);
      for (const file of files) {
        // Relative paths (older sticks) are relative to the stick: callhome ran ssh there.
        const path = configPathToFile(file, root, homedir());
        if (path !== undefined) identityFiles.push({ path, mode: await fileMode(path) });
      }
    } catch (error) {
      sshConfigError = (error as Error).message;
    }
  }
  const sequences = sequencesFileFor(layout, alias);
  const { state: callhomeState } = await readCallhomeState(stateFileFor(sequences));
  const { changes } = await relocateStickConfig(layout, { write: false });
  return { root, alias, sshConfigError, identityFiles, sequences: { path: sequences, ...(await fileFact(sequences)) }, serverFile, callhomeState, stalePaths: describeRelocation(changes), ...(spa ? { spa } : {}) };
}

function format(findings: readonly Finding[], errors: number, warnings: number): string {
  const label = { error: 'ERROR  ', warning: 'warning', ok: 'ok     ' } as const;
  return (
    findings.map((f) => `  ${label[f.severity]}  ${f.message}${f.fix === '' ? '' : `\n             fix: ${f.fix}`}`).join('\n') +
    `\n${errors} error(s), ${warnings} warning(s)\n`
  );
}
