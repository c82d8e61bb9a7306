// knockstick server init: the server side from templates/ — knockd.conf (SSH door + panic stanza),
// the firewall baseline, sshd keys-only drop-in, systemd drop-in, settings, first sequences.
// It writes files and prints how to apply them (with an automatic rollback for the firewall); it
// never applies a firewall itself, so it cannot lock out the session it runs in.

import { lstat, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { LEGACY_DOOR, activeMembers, adoptLegacyDoor, parseKeyBlob } from '../core/members.js';
import { readRegistry, registryPathFor, writeRegistry } from '../core/members-io.js';
import { parseCommandLine, parseInteger } from '../core/args.js';
import type { Command, CommandContext } from '../core/command.js';
import { ExitCode, InterruptedError, KnockstickError, usageError } from '../core/errors.js';
import { runAllowingFailure } from '../core/run.js';
import { appendDurably, assertNotSymlink, createExclusively, fileMode, openRegularForReading, readTextIfExists, refuseLinksAmong, writeAtomically } from '../core/files.js';
import { sequencesFileFor, stickLayout, verifyStick } from '../core/stick.js';
import { readConfig, reservedPorts } from '../core/config.js';
import { formatLine, parseSequenceFile, unusedLines } from '../core/sequences.js';
import { shellQuote } from '../core/shell.js';
import { checkHostName } from '../core/names.js';
import { lineLimitError } from '../core/knockd-conf.js';
import { DEFAULT_LENGTH, DEFAULT_RANGE, cryptoRandom, generateSequences } from '../core/generate.js';
import type { Sequence } from '../core/sequences.js';
import { loadTemplate } from '../core/templates.js';
import { addSequences } from '../seqgen/actions.js';
import { terminalPrompts, type Prompts } from '../core/prompts.js';
import { serverHelp } from './help.js';
import { WORD, askServerAnswers, type ServerAnswers } from './wizard.js';
import { DEFAULT_DOOR_POLICY, isDoorPolicy, type DoorPolicy, type InnerHost } from '../core/firewall.js';
import { SPA_SYSTEM_PATHS, initSpa, spaInitProblem, spaPathsIn } from './spa.js';
import { DEFAULT_SPA_PORT, type SpaFirewall } from './spa-setups.js';
import { askSpaAnswers, spaChecks, type SpaAnswers } from './spa-wizard.js';
import { GPG_SYSTEM_HOME, type SpaGpgOptions } from './spa-gpg.js';
import { OLDER_TEMPLATE_NAMES, planBeforeSingleUse } from './older-doors.js';
import { TEMPLATE_NAMES, SYSTEM_PATHS, doorNames, pathsIn, planServerFiles, sequencesFileOf, type PlannedFile, type ServerFirewall, type ServerPaths } from './plan.js';
import { formatAllow, parseAllows, ufwAllowCommands, type AllowedService } from './allow.js';
import { backupPath, conffileMd5, decideFile, isDebianSample, unifiedDiff, type FileDecision } from './rerun.js';

export const FLAGS = {
  yes: { type: 'boolean', short: 'y' },
  interface: { type: 'string' },
  out: { type: 'string' },
  'dry-run': { type: 'boolean' },
  firewall: { type: 'string' },
  'ssh-port': { type: 'string' },
  'seq-timeout': { type: 'string' },
  'cmd-timeout': { type: 'string' },
  'door-policy': { type: 'string' },
  count: { type: 'string' },
  stick: { type: 'string' },
  force: { type: 'boolean' },
  inner: { type: 'string', multiple: true },
  allow: { type: 'string', multiple: true },
  'ddns-protocol': { type: 'string' },
  'ddns-server': { type: 'string' },
  'ddns-login': { type: 'string' },
  'ddns-hostname': { type: 'string' },
  method: { type: 'string' },
  'spa-server': { type: 'string' },
  gpg: { type: 'boolean' },
  'gpg-home-dir': { type: 'string' },
  'gpg-key-type': { type: 'string' },
  'gpg-server-key': { type: 'string' },
  'gpg-import': { type: 'string' },
  'gpg-passphrase-file': { type: 'string' },
  'spa-port': { type: 'string' },
  'require-username': { type: 'string' },
  'require-source': { type: 'boolean' },
  'allow-command': { type: 'string' },
  'behind-router': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
/** An interface name as the kernel allows it (15 bytes), not starting with "-": ip(8) and knockd's -i would read that as an option. */
const INTERFACE = /^[A-Za-z0-9_.:][A-Za-z0-9_.:-]{0,14}$/;

export const serverCommand: Command = {
  name: 'server',
  help: serverHelp,
  flags: FLAGS,
  async run(context) {
    const { values, positionals } = parseCommandLine(context.args, FLAGS, context.invokedAs);
    if (values.help === true) {
      context.stdout.write(serverHelp(context.invokedAs));
      return ExitCode.OK;
    }
    if (positionals[0] !== 'init' || positionals.length > 1) {
      throw usageError(positionals[0] === undefined ? 'missing subcommand: init' : `unknown subcommand ${JSON.stringify(positionals.join(' '))}`, `see \`${context.invokedAs} --help\``);
    }
    return init(values, context, terminalPrompts);
  },
};

type Values = ReturnType<typeof parseCommandLine<typeof FLAGS>>['values'];

/** The interface of the default route, the usual answer to "which interface faces the Internet". */
async function defaultInterface(): Promise<string | undefined> {
  return /\bdev (\S+)/.exec(await ipOutput(['-o', 'route', 'show', 'default'], 'find the default route'))?.[1];
}

/** What `ip ARGS` prints, or '' when ip is missing or fails: the answers are only suggestions. */
async function ipOutput(args: readonly string[], purpose: string): Promise<string> {
  try {
    const result = await runAllowingFailure({ file: 'ip', args, purpose });
    return result.exitCode === 0 ? result.stdout : '';
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    return '';
  }
}

function checked(value: string | undefined, flag: string, pattern: RegExp): string | undefined {
  // Names and words all: none may start with "-" (every program would read it as an option).
  if (value !== undefined && flag !== '--out') checkHostName(value, flag);
  if (value !== undefined && !pattern.test(value)) throw usageError(`${flag}: ${JSON.stringify(value)} has characters that do not belong there`);
  return value;
}

/** Interfaces of this machine but loopback, for the wizard. */
async function interfaces(): Promise<string[]> {
  return [...(await ipOutput(['-o', 'link', 'show'], 'list the network interfaces')).matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1] as string).filter((n) => n !== 'lo');
}

async function init(values: Values, context: CommandContext, prompts: Prompts): Promise<number> {
  if (values.method !== undefined && values.method !== 'knock' && values.method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(values.method)}`);
  if (values.method === 'spa') return initSpaFromFlags(values, context, prompts);
  if (values['spa-server'] !== undefined) throw usageError('--spa-server goes with --method spa');
  for (const flag of ['gpg', 'gpg-home-dir', 'gpg-key-type', 'gpg-server-key', 'gpg-import', 'gpg-passphrase-file', 'spa-port', 'require-username', 'require-source', 'allow-command', 'behind-router'] as const) {
    if (values[flag] !== undefined) throw usageError(`--${flag} goes with --method spa`);
  }
  const interactive = values.yes !== true;
  if (interactive && !context.stderrIsTTY) {
    throw usageError('no terminal to ask questions on: pass --yes and give the answers as flags (see --help)');
  }
  const firewallFlag = values.firewall;
  if (firewallFlag !== undefined && !['nftables', 'iptables', 'ufw'].includes(firewallFlag)) {
    throw usageError(`--firewall must be nftables, iptables or ufw, got ${JSON.stringify(firewallFlag)}`);
  }
  const out = values.out === undefined ? undefined : resolve(context.cwd, values.out);
  if (out !== undefined) checked(out, '--out', SAFE_PATH);
  const paths = out === undefined ? SYSTEM_PATHS : pathsIn(out);
  const ddnsValues = [values['ddns-protocol'], values['ddns-server'], values['ddns-login'], values['ddns-hostname']];
  if (ddnsValues.some((v) => v !== undefined) && ddnsValues.some((v) => v === undefined)) {
    throw usageError('dynamic DNS needs all of --ddns-protocol, --ddns-server, --ddns-login and --ddns-hostname');
  }
  // Every flag is checked before the first question: a typo should not cost a whole wizard.
  const inner = (values.inner ?? []).map(parseInner);
  if (new Set(inner.map((h) => h.name)).size !== inner.length) throw usageError('--inner: each inner host needs its own NAME');
  const sshPort = values['ssh-port'] === undefined ? 22 : parseInteger('--ssh-port', values['ssh-port'], 1, 65535);
  const seqTimeout = values['seq-timeout'] === undefined ? 15 : parseInteger('--seq-timeout', values['seq-timeout'], 1, 600);
  const cmdTimeout = values['cmd-timeout'] === undefined ? 10 : parseInteger('--cmd-timeout', values['cmd-timeout'], 1, 3600);
  const doorPolicyFlag = parseDoorPolicy(values['door-policy']);
  const allowFlag = values.allow === undefined ? undefined : parseAllows(values.allow, sshPort);
  if (allowFlag !== undefined && allowFlag.length > 0 && inner.length > 0) throw usageError(ROUTER_ALLOW);
  const known: ServerAnswers = {
    interface: checked(values.interface, '--interface', INTERFACE),
    firewall: firewallFlag as ServerFirewall | undefined,
    doorPolicy: doorPolicyFlag,
    stick: values.stick === undefined ? undefined : resolve(context.cwd, values.stick),
    // 0: no new sequences (a rerun, or sequences installed from a staging copy).
    count: values.count === undefined ? undefined : parseInteger('--count', values.count, 0, 100_000),
    // Router mode writes no input firewall: nothing to ask.
    allow: allowFlag ?? (inner.length > 0 ? [] : undefined),
    ddns:
      ddnsValues[0] === undefined
        ? undefined
        : {
            protocol: checked(values['ddns-protocol'], '--ddns-protocol', WORD) as string,
            server: checked(values['ddns-server'], '--ddns-server', WORD) as string,
            login: checked(values['ddns-login'], '--ddns-login', WORD) as string,
            hostname: checked(values['ddns-hostname'], '--ddns-hostname', WORD) as string,
          },
  };
  // A rerun keeps the door policy server.conf names, unless --door-policy says otherwise; a server
  // made before door policies existed gets single-use doors (the report says what changes).
  const previousPolicy = (await readConfig(paths.serverConfig, 'server').catch(() => undefined))?.global.doorPolicy;
  const answers = interactive
    ? await askServerAnswers(prompts, known, {
        ...(previousPolicy === undefined ? {} : { doorPolicy: previousPolicy }),
        interfaces: await interfaces(),
        defaultInterface: await defaultInterface(),
        isDirectory: async (p) => (await stat(p).catch(() => null))?.isDirectory() === true,
        sshPort,
        sequencesExist: (await Promise.all(doorNames({ inner }).map(async (door) => (await lstat(sequencesFileOf(paths, door)).catch(() => null)) !== null))).every(Boolean),
      })
    : {
        ...known,
        interface: known.interface ?? (await defaultInterface()),
        firewall: known.firewall ?? 'nftables',
        doorPolicy: known.doorPolicy ?? previousPolicy ?? DEFAULT_DOOR_POLICY,
        count: known.count ?? 50,
        allow: known.allow ?? [],
      };
  const iface = answers.interface;
  if (iface === undefined) throw usageError('no --interface given and no default route to guess it from');
  const firewall = answers.firewall ?? 'nftables';
  const doorPolicy = answers.doorPolicy ?? DEFAULT_DOOR_POLICY;
  const ddns = answers.ddns;
  const stick = answers.stick;
  const count = answers.count ?? 50;
  const allow = answers.allow ?? [];
  const doors = doorNames({ inner });
  const sequenceFiles = doors.map((door) => sequencesFileOf(paths, door));

  const templates = Object.fromEntries(await Promise.all([...TEMPLATE_NAMES, ...OLDER_TEMPLATE_NAMES].map(async (n) => [n, await loadTemplate(n)] as const)));
  let memberDoors: { name: string; sequencesFile: string }[] = [];
  const planOptions = (panicSequence: Sequence) => ({ interface: iface, firewall, sshPort, seqTimeout, cmdTimeout, doorPolicy, panicSequence, ddns, inner, allow, paths, memberDoors });
  const plan = (panicSequence: Sequence): PlannedFile[] => planServerFiles(planOptions(panicSequence), templates);
  // A line knockd would read in pieces (a long --out) is a usage error before any file is read
  // (the stick registry included: its path is as long). The panic sequence is the longest a new
  // one can be, so its line is never shorter than the real one.
  const longest: Sequence = Array.from({ length: 5 }, () => ({ port: 65535, protocol: 'tcp' as const }));
  for (const f of plan(longest)) {
    const tooLong = f.path === paths.knockdConf ? lineLimitError(f.text, f.path, out === undefined ? 'a value' : '--out') : undefined;
    if (tooLong !== undefined) throw tooLong;
  }
  // A rerun keeps the doors of the sticks added since (knockstick stick add): knockd.conf holds them too.
  const registry = inner.length > 0 ? undefined : await readRegistry(registryPathFor(paths.serverConfig)).catch((error: unknown) => (values['dry-run'] === true ? undefined : Promise.reject(error)));
  memberDoors = (registry === undefined ? [] : activeMembers(registry.registry)).flatMap((m) => (m.method === 'knock' && m.door !== LEGACY_DOOR && m.oneTimeFile !== undefined ? [{ name: m.door, sequencesFile: m.oneTimeFile }] : []));

  // A link planted among the files (in --out, or on the stick) is refused before anything is read
  // or written, even with --force: --force replaces files, it never writes through a link.
  const plannedPaths = [paths.knockdConf, paths.serverConfig, ...sequenceFiles];
  await refuseLinksAmong(plannedPaths);
  // A rerun keeps the panic sequence the settings already have (the stick's panic script knows it);
  // a new one avoids every port of the sequence files that are there already.
  const existingSequences = new Map<string, string | null>();
  // --dry-run only shows: a file it may not read (not root) is shown as if it were not there.
  const dryRun = values['dry-run'] === true;
  const unlessDry = async <T>(read: Promise<T>, fallback: T): Promise<T> => (dryRun ? read.catch(() => fallback) : read);
  for (const f of sequenceFiles) existingSequences.set(f, await unlessDry(readTextIfExists(f), null));
  const settings = await unlessDry(readConfig(paths.serverConfig, 'server'), undefined);
  const panicSequence = settings?.global.panicSequence ?? newPanicSequence([...existingSequences.values()]);

  const files = plan(panicSequence);
  // What server init wrote for the same answers before single-use doors: such files are upgraded.
  const older = planBeforeSingleUse(planOptions(panicSequence), templates);
  const conf = files.find((f) => f.path === paths.knockdConf);
  const tooLong = conf === undefined ? undefined : lineLimitError(conf.text, conf.path, out === undefined ? 'a value' : '--out');
  if (tooLong !== undefined) throw tooLong;

  const stdout = context.stdout;
  const sequencesFate = (file: string): string => {
    const text = existingSequences.get(file) ?? null;
    if (text !== null) return describeSequenceFile(text, file);
    if (count === 0) return 'none (--count 0)';
    return `${count} one-time sequences${stick == null ? ' (the stick gets them later with seqgen repair)' : `, the same on the stick at ${stick}`}`;
  };
  await refuseLinksAmong(files.map((f) => f.path));
  // What is there now, file by file; nothing is written before every file has been looked at.
  const packageMd5 = await knockdSampleMd5();
  const decisions: FileDecision[] = [];
  for (const f of files) {
    const current = await unlessDry(readBytesIfExists(f.path), null);
    const isSample = f.path === paths.knockdConf && current !== null && isDebianSample(current, packageMd5);
    const decision = decideFile(f, current?.toString('utf8') ?? null, isSample, older.get(f.path));
    const mode = decision.fate === 'unchanged' ? await unlessDry(fileMode(f.path), undefined) : undefined;
    // Same text, wrong mode (a copy made by hand): rewritten with the right mode, nothing to confirm.
    decisions.push(mode !== undefined && mode !== f.mode ? { ...decision, fate: 'new' } : decision);
  }
  const FATE_TAG: Record<FileDecision['fate'], string> = {
    new: '',
    unchanged: ' [unchanged]',
    kept: ' [kept as it is: yours to edit]',
    sample: " [would replace the knockd package's sample]",
    older: ' [written by server init before single-use doors: would be upgraded]',
    changed: ' [differs: would replace it with --force]',
  };
  if (dryRun) {
    for (const d of decisions) {
      const f = d.file;
      stdout.write(`==> ${f.path} (mode 0${f.mode.toString(8)}): ${f.what}${FATE_TAG[d.fate]}\n${f.text}${f.text.endsWith('\n') ? '' : '\n'}\n`);
      if (d.fate === 'changed' || d.fate === 'sample' || d.fate === 'older') stdout.write(`${unifiedDiff(d.current ?? '', f.text, `${f.path} (now)`, `${f.path} (server init)`)}\n`);
    }
    for (const file of sequenceFiles) stdout.write(`==> ${file}: ${existingSequences.get(file) === null ? '' : 'kept as it is, '}${sequencesFate(file)}\n`);
    return ExitCode.OK;
  }

  // A stick is a directory holding .ssh/config, never a home directory (stick.ts); nothing written yet.
  if (stick != null) await verifyStick(stick, context.env);
  // A link planted at a sequence file is refused before the first write, even with --force:
  // --force replaces files, it never writes through a link.
  await refuseLinksAmong(sequenceFiles);
  if (stick != null) {
    const layout = stickLayout(stick);
    await assertNotSymlink(layout.sshDir);
    await refuseLinksAmong(doors.map((door) => sequencesFileFor(layout, door === 'ssh' ? 'home' : door)));
  }

  const force = values.force === true;
  const changed = decisions.filter((d) => d.fate === 'changed');
  const sample = decisions.find((d) => d.fate === 'sample');
  const upgraded = decisions.filter((d) => d.fate === 'older');
  if (upgraded.length > 0) stdout.write(olderDoorsNote(upgraded.map((d) => d.file.path), doorPolicy, cmdTimeout));
  for (const d of [...(sample === undefined ? [] : [sample]), ...upgraded, ...changed]) {
    const why =
      d.fate === 'sample'
        ? `${d.file.path} is the knockd package's unmodified sample (its doors append behind a DROP and never match); server init replaces it:`
        : d.fate === 'older'
          ? `${d.file.path} is what server init wrote before single-use doors; it is upgraded:`
          : `${d.file.path} differs from what server init writes:`;
    stdout.write(`${why}\n${unifiedDiff(d.current ?? '', d.file.text, `${d.file.path} (now)`, `${d.file.path} (server init)`)}\n`);
  }
  if (changed.length > 0 && !force) {
    throw new KnockstickError('IO', `${changed.map((d) => d.file.path).join(', ')} ${changed.length === 1 ? 'differs' : 'differ'} from what server init writes (diff above); nothing was written`, {
      hint: 'keep your edits by writing elsewhere with --out DIR and comparing, or pass --force to replace them (a backup FILE.knockstick-bak.TIME of each is kept)',
    });
  }
  const toWrite = decisions.filter((d) => d.fate === 'new' || d.fate === 'sample' || d.fate === 'older' || d.fate === 'changed');
  const newSequenceFiles = count === 0 ? [] : sequenceFiles.filter((f) => existingSequences.get(f) === null);
  /** A sequence file this run leaves alone: kept as it is, or (--count 0) still missing. */
  const reportUntouched = (door: string): void => {
    const file = sequencesFileOf(paths, door);
    const host = door === 'ssh' ? '' : ` --host ${door}`;
    stdout.write(`${existingSequences.get(file) === null ? 'no' : 'kept'} ${file}: ${sequencesFate(file)}\n`);
    if (existingSequences.get(file) === null) stdout.write(`  knockd does not start without it: seqgen 50 --server-file ${file}${stick == null ? '' : ` --stick ${stick}`}${host}\n`);
    else if (stick != null) stdout.write(`  the stick's copy is left as it is; seqgen status --server-file ${file} --stick ${stick}${host} says whether it is in step\n`);
  };
  if (toWrite.length === 0 && newSequenceFiles.length === 0) {
    for (const d of decisions) stdout.write(`${d.fate === 'kept' ? 'kept' : 'unchanged'} ${d.file.path}\n`);
    for (const door of doors) reportUntouched(door);
    stdout.write('Nothing to change: every file already holds what server init writes.\n');
    stdout.write(nextSteps({ firewall, files, paths, out, iface, allow, sequenceFiles: sequenceFiles.filter((f) => existingSequences.get(f) !== null || newSequenceFiles.includes(f)), install: installFlags({ iface, firewall, sshPort, seqTimeout, cmdTimeout, doorPolicy, allow, inner, ddns }) }));
    return ExitCode.OK;
  }
  if (interactive) {
    const list = [
      ...toWrite.map((d) => `  ${d.file.path}: ${d.file.what}${d.fate === 'new' ? '' : ' (replaces the file there; a backup is kept)'}`),
      ...newSequenceFiles.map((f) => `  ${f}${stick == null ? '' : ' and the stick'}: ${count} one-time sequences`),
    ];
    stdout.write(`${list.join('\n')}\n`);
    const question = sample !== undefined ? `Replace the sample ${sample.file.path} and write these files? (nothing is applied or restarted)` : `Write these ${list.length} files? (nothing is applied or restarted)`;
    if (!(await prompts.confirm(question, true))) {
      stdout.write('Nothing written.\n');
      return ExitCode.OK;
    }
  }
  // Every backup before the first write: a backup that cannot be made stops the run with nothing replaced.
  const now = new Date();
  const backups = new Map<string, string>();
  for (const d of toWrite) if (d.current !== null) backups.set(d.file.path, await backUp(d.file.path, backupPath(d.file.path, now)));
  for (const d of decisions) {
    const f = d.file;
    if (d.fate === 'unchanged' || d.fate === 'kept') {
      stdout.write(`${d.fate} ${f.path}${d.fate === 'kept' ? ' (yours to edit: remove it for a fresh copy)' : ''}\n`);
      continue;
    }
    const backup = backups.get(f.path) ?? '';
    await mkdir(dirname(f.path), { recursive: true, mode: 0o755 });
    await writeAtomically(f.path, f.text, f.mode === 0o600 ? {} : { mode: f.mode });
    stdout.write(`${backup === '' ? 'wrote' : 'replaced'} ${f.path}: ${f.what}${backup === '' ? '' : ` (the old one is in ${backup})`}\n`);
  }
  // seqgen reads the new server settings, so the panic ports are excluded from every sequence.
  // In router mode each inner host gets its own file, and the stick its own copy (.ssh/sequences.NAME).
  for (const door of doors) {
    const file = sequencesFileOf(paths, door);
    if (!newSequenceFiles.includes(file)) {
      reportUntouched(door);
      continue;
    }
    // On a fresh server /etc/knockd does not exist yet; it holds only the secret sequence files.
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    if (stick == null) {
      await serverOnlySequences(file, count, paths.serverConfig);
      stdout.write(
        `wrote ${file}: ${count} one-time sequences (server side only). Give the stick the same lines with\n` +
          `  seqgen repair --server-file ${file} --stick STICK${door === 'ssh' ? '' : ` --host ${door}`}\n`,
      );
      continue;
    }
    await addSequences(count, { serverFile: file, stickRoot: stick, serverConfig: paths.serverConfig, ...(door === 'ssh' ? {} : { host: door }) }, { ...context, invokedAs: 'seqgen' });
  }
  // The first stick is the server's first member (core/members.ts): door [ssh], every port no
  // later member's pool takes. Router mode has no members (stick add refuses it).
  if (inner.length === 0 && newSequenceFiles.includes(paths.sequences)) await registerFirstMember(paths, stick ?? undefined, stdout);
  stdout.write(nextSteps({ firewall, files, paths, out, iface, allow, sequenceFiles: sequenceFiles.filter((f) => existingSequences.get(f) !== null || newSequenceFiles.includes(f)), install: installFlags({ iface, firewall, sshPort, seqTimeout, cmdTimeout, doorPolicy, allow, inner, ddns }) }));
  return ExitCode.OK;
}

/** Writes sticks.conf with the door [ssh] as member "ssh", unless there is one already. */
async function registerFirstMember(paths: ServerPaths, stick: string | undefined, stdout: { write(text: string): void }): Promise<void> {
  const registryPath = registryPathFor(paths.serverConfig);
  if ((await readRegistry(registryPath)).exists) return;
  const { registry } = adoptLegacyDoor({ members: [] }, [{ name: LEGACY_DOOR, oneTimeFile: paths.sequences }], new Date().toISOString());
  const pub = stick === undefined ? null : await readTextIfExists(join(stickLayout(stick).sshDir, 'id_ed25519.pub')).catch(() => null);
  const sshKey = pub === null ? undefined : parseKeyBlob(pub);
  await writeRegistry(registryPath, { members: registry.members.map((m) => ({ ...m, ...(sshKey === undefined ? {} : { sshKey }) })) });
  stdout.write(`wrote ${registryPath}: the stick of door [ssh] is member "ssh" (more sticks: knockstick stick add NAME)\n`);
}

/** What an upgrade from the doors before single-use ones changes, said once before the diffs. */
export function olderDoorsNote(paths: readonly string[], policy: DoorPolicy, cmdTimeout: number): string {
  return `
These files hold the doors server init wrote before single-use doors (a firewall rule or set element
per knock, removed by knockd's stop_command; every new connection from the address got in meanwhile,
and a door stayed open if knockd died first). They are upgraded (a backup of each is kept):
${paths.map((p) => `  ${p}`).join('\n')}
Doors become ${policy === 'single-use' ? 'single-use: a knock lets exactly one new connection in (ssh through `knockstick connect`)' : 'windows as before (--door-policy window)'},
and close by themselves after ${cmdTimeout} s (a timeout in the firewall), so knockd.conf has no stop_command;
server.conf records door_policy = ${policy}. Load the new firewall and restart knockd together (steps below):
the new knockd's doors need the new firewall (with the old one they stay shut).

`;
}

const ROUTER_ALLOW =
  '--allow goes with a firewall server init writes; router mode (--inner) writes none for the router itself (its own rules decide what reaches it), so there is nothing to keep open';

/** A new panic sequence, clear of every port the existing sequence files use. */
function newPanicSequence(existing: readonly (string | null)[]): Sequence {
  const used = new Set<number>();
  for (const text of existing) for (const m of (text ?? '').matchAll(/\d+/g)) used.add(Number(m[0]));
  return generateSequences(cryptoRandom, { count: 1, length: 5, range: DEFAULT_RANGE, exclude: used, avoid: new Set() })[0] as Sequence;
}

/** "12 unused of 50" for the report; never the sequences themselves. */
function describeSequenceFile(text: string, path: string): string {
  const parsed = parseSequenceFile(text, path, 'server');
  const unused = unusedLines(parsed.file).length;
  const note = parsed.problems.length > 0 ? '; it has problems, see knockstick doctor' : unused === 0 ? '; none left: knockd stops, refill it with seqgen' : '';
  return `${unused} unused of ${parsed.file.lines.filter((l) => l.state !== 'blank').length}${note}`;
}

/** The md5 dpkg recorded for the knockd package's /etc/knockd.conf, if the package is installed. */
async function knockdSampleMd5(): Promise<string | undefined> {
  // No dpkg (not Debian) or no knockd package: no recorded sample to recognise, which is no error.
  const query = await runAllowingFailure({ file: 'dpkg-query', args: ['-W', '-f=${Conffiles}', 'knockd'], purpose: 'read the md5 dpkg recorded for knockd\'s sample config' }).catch(() => undefined);
  return query === undefined || query.exitCode !== 0 ? undefined : conffileMd5(String(query.stdout), '/etc/knockd.conf');
}

async function readBytesIfExists(path: string): Promise<Buffer | null> {
  const handle = await openRegularForReading(path);
  if (handle === null) return null;
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * A copy of `path` at `backup` (or `backup.1`, `.2`... when a run in the same second made one): 0600,
 * created exclusively without following links, so it never replaces or writes through anything.
 */
export async function backUp(path: string, backup: string): Promise<string> {
  const bytes = await readBytesIfExists(path);
  if (bytes === null) throw new KnockstickError('IO', `${path} vanished while server init was looking at it; nothing was written`);
  for (let n = 0; n < 100; n++) {
    const candidate = n === 0 ? backup : `${backup}.${n}`;
    if ((await lstat(candidate).catch(() => null)) !== null) continue;
    await createExclusively(candidate, bytes, 0o600);
    return candidate;
  }
  throw new KnockstickError('IO', `cannot find a free name for a backup of ${path} (${backup} and 99 more exist); nothing was written`);
}

/** The flags that write the same files at the system paths (for installing a staging copy). */
function installFlags(o: {
  iface: string;
  firewall: ServerFirewall;
  sshPort: number;
  seqTimeout: number;
  cmdTimeout: number;
  doorPolicy: DoorPolicy;
  allow: readonly AllowedService[];
  inner: readonly InnerHost[];
  ddns: ServerAnswers['ddns'];
}): string[] {
  return [
    '--yes',
    '--interface', o.iface,
    '--firewall', o.firewall,
    ...(o.sshPort === 22 ? [] : ['--ssh-port', String(o.sshPort)]),
    '--seq-timeout', String(o.seqTimeout),
    '--cmd-timeout', String(o.cmdTimeout),
    '--door-policy', o.doorPolicy,
    ...o.allow.flatMap((a) => ['--allow', formatAllow(a)]),
    ...o.inner.flatMap((h) => ['--inner', `${h.name}=${h.address}`]),
    ...(o.ddns === undefined ? [] : ['--ddns-protocol', o.ddns.protocol, '--ddns-server', o.ddns.server, '--ddns-login', o.ddns.login, '--ddns-hostname', o.ddns.hostname]),
    '--count', '0',
  ];
}

/** server init --method spa: fwknopd instead of knockd (src/server/spa.ts); the wizard asks what the flags do not say. */
async function initSpaFromFlags(values: Values, context: CommandContext, prompts: Prompts): Promise<number> {
  const interactive = values.yes !== true;
  if (interactive && !context.stderrIsTTY) throw usageError('no terminal to ask questions on: pass --yes and give the answers as flags (see --help)');
  // Every flag is checked before the first question: a typo should not cost a whole wizard.
  const problem = spaInitProblem(values, interactive);
  if (problem !== undefined) throw usageError(problem);
  const out = values.out === undefined ? undefined : checked(resolve(context.cwd, values.out), '--out', SAFE_PATH);
  const port = (flag: 'ssh-port' | 'spa-port'): number | undefined => (values[flag] === undefined ? undefined : spaChecks.port(values[flag], `--${flag}`));
  const known: SpaAnswers = {
    interface: checked(values.interface, '--interface', INTERFACE),
    spaServer: values['spa-server'] === undefined ? undefined : spaChecks.spaServer(values['spa-server']),
    firewall: values.firewall as SpaFirewall | undefined,
    doorPolicy: parseDoorPolicy(values['door-policy']) ?? (values.firewall === 'iptables' || values.firewall === 'ufw' ? 'window' : undefined),
    spaPort: port('spa-port'),
    sshPort: port('ssh-port'),
    requireUsername: values['require-username'] === undefined ? undefined : spaChecks.username(values['require-username']),
    requireSource: values['require-source'],
    allowCommand: values['allow-command'] === undefined ? undefined : spaChecks.allowCommand(values['allow-command']),
    behindRouter: values['behind-router'] === undefined ? undefined : spaChecks.address(values['behind-router']),
    stick: values.stick === undefined ? undefined : resolve(context.cwd, values.stick),
  };
  const answers: SpaAnswers = interactive
    ? await askSpaAnswers(prompts, known, {
        interfaces: await interfaces(),
        defaultInterface: await defaultInterface(),
        isDirectory: async (p) => (await stat(p).catch(() => null))?.isDirectory() === true,
      })
    : { ...known, interface: known.interface ?? (await defaultInterface()) };
  if (answers.interface === undefined) throw usageError('no --interface given and no default route to guess it from');
  if (answers.spaServer === undefined) throw usageError('--method spa needs --spa-server HOST: the name or IPv4 address the stick sends its packets to');
  const firewall = answers.firewall ?? 'nftables';
  const sshPort = answers.sshPort ?? 22;
  return initSpa(
    {
      interface: answers.interface,
      firewall,
      spaPort: answers.spaPort ?? DEFAULT_SPA_PORT,
      sshPort,
      doorSeconds: values['cmd-timeout'] === undefined ? 10 : parseInteger('--cmd-timeout', values['cmd-timeout'], 1, 3600),
      // iptables and ufw: fwknopd's own doors, always windows (spaInitProblem refuses an explicit single-use).
      doorPolicy: firewall === 'nftables' ? (answers.doorPolicy ?? DEFAULT_DOOR_POLICY) : 'window',
      spaServer: answers.spaServer,
      requireUsername: answers.requireUsername ?? undefined,
      requireSource: answers.requireSource === true,
      allowCommand: answers.allowCommand ?? undefined,
      behindRouter: answers.behindRouter ?? undefined,
      paths: out === undefined ? SPA_SYSTEM_PATHS : spaPathsIn(out),
      stick: answers.stick ?? undefined,
      dryRun: values['dry-run'] === true,
      force: values.force === true,
      allow: parseAllows(values.allow ?? [], sshPort),
      gpg: spaGpgFromFlags(values, context.cwd, out),
    },
    context,
  );
}

/**
 * --gpg [--gpg-home-dir DIR] [--gpg-key-type rsa|ed25519] (src/server/spa-gpg.ts). With --out the
 * keyring goes there too (OUT/gnupg), like every other file, unless --gpg-home-dir says where.
 */
function spaGpgFromFlags(values: Values, cwd: string, out: string | undefined): Omit<SpaGpgOptions, 'clientHome'> | undefined {
  if (values.gpg !== true) {
    for (const flag of ['gpg-home-dir', 'gpg-key-type', 'gpg-server-key', 'gpg-import', 'gpg-passphrase-file'] as const) if (values[flag] !== undefined) throw usageError(`--${flag} goes with --gpg`);
    return undefined;
  }
  const type = values['gpg-key-type'] ?? 'rsa';
  if (type !== 'rsa' && type !== 'ed25519') throw usageError(`--gpg-key-type must be rsa (fwknop's own client can use it too) or ed25519 (knockstick only), got ${JSON.stringify(type)}`);
  const home = checked(values['gpg-home-dir'] === undefined ? undefined : resolve(cwd, values['gpg-home-dir']), '--gpg-home-dir', SAFE_PATH) ?? (out === undefined ? GPG_SYSTEM_HOME : `${out.replace(/\/$/, '')}/gnupg`);
  const id = values['gpg-server-key'];
  if (id !== undefined && !/^[\x21-\x7e][\x20-\x7e]*$/.test(id)) throw usageError(`--gpg-server-key must be a fingerprint, key ID or user ID, got ${JSON.stringify(id)}`);
  const importFile = values['gpg-import'] === undefined ? undefined : resolve(cwd, values['gpg-import']);
  const passFlag = values['gpg-passphrase-file'];
  if (passFlag !== undefined && id === undefined && importFile === undefined) {
    throw usageError('--gpg-passphrase-file is the passphrase of an existing key: it goes with --gpg-server-key or --gpg-import (a new key gets a random one)');
  }
  if (id === undefined && importFile === undefined) return { serverHome: home, keyType: type };
  const passphraseFile = passFlag === undefined ? undefined : passFlag === '-' ? '-' : resolve(cwd, passFlag);
  return { serverHome: home, keyType: type, existing: { id, importFile, passphraseFile } };
}

/**
 * The first sequences when no stick is at hand: the server file alone (append-only, 0600), with the
 * panic ports of the new settings left out. The stick's copy is then a missing tail that
 * `seqgen repair` copies across, checked like any seqgen.
 */
async function serverOnlySequences(path: string, count: number, serverConfig: string): Promise<void> {
  const settings = (await readConfig(serverConfig, 'server')).global;
  const sequences = generateSequences(cryptoRandom, { count, length: DEFAULT_LENGTH, range: DEFAULT_RANGE, exclude: new Set(reservedPorts(settings)), avoid: new Set() });
  await appendDurably(path, sequences.map(formatLine).join(''));
}

/** --door-policy single-use|window (undefined: not given). */
function parseDoorPolicy(value: string | undefined): DoorPolicy | undefined {
  if (value === undefined || isDoorPolicy(value)) return value;
  throw usageError(`--door-policy must be single-use or window, got ${JSON.stringify(value)}`);
}

/** --inner NAME=ADDR: an inner host SSH is forwarded to (router mode). */
function parseInner(text: string): InnerHost {
  const m = /^([A-Za-z0-9][A-Za-z0-9_-]{0,30})=((?:\d{1,3}\.){3}\d{1,3})$/.exec(text);
  const name = m?.[1];
  const address = m?.[2];
  if (name === undefined || address === undefined || address.split('.').some((o) => Number(o) > 255)) {
    throw usageError(`--inner must be NAME=IPV4 (NAME: letters, digits, _ -), got ${JSON.stringify(text)}`);
  }
  if (['ssh', 'panic', 'options'].includes(name)) throw usageError(`--inner: ${name} is reserved, choose another NAME`);
  return { name, address };
}

/** A word for a command line to copy: quoted only when the shell would read it otherwise. */
const shellWord = (word: string): string => (/^[A-Za-z0-9_./=:@,+-]+$/.test(word) ? word : shellQuote(word));

interface NextStepsInput {
  readonly firewall: ServerFirewall;
  readonly files: readonly PlannedFile[];
  readonly paths: ServerPaths;
  /** --out: the files are a staging copy there, not in place. */
  readonly out: string | undefined;
  readonly iface: string;
  readonly allow: readonly AllowedService[];
  /** The sequence files there are now (in --out: the ones to install). */
  readonly sequenceFiles: readonly string[];
  /** server init's flags that write the same files at the system paths. */
  readonly install: readonly string[];
}

/** What to run next, for where the files went: in place (apply them), or in --out (install them). */
export function nextSteps(o: NextStepsInput): string {
  if (o.out !== undefined) {
    const copies = o.sequenceFiles.map((file) => {
      const target = file === o.paths.sequences ? SYSTEM_PATHS.sequences : `${dirname(SYSTEM_PATHS.sequences)}/${basename(file)}`;
      return `       [ -e ${shellWord(target)} ] || install -D -m 0600 ${shellWord(file)} ${shellWord(target)}`;
    });
    return `
Nothing above is in place: ${o.out} is a staging copy whose files refer to each other there
(check it with: knockstick doctor --knockd-conf ${shellWord(o.paths.knockdConf)}). To install it on this server, as root:
${
  copies.length === 0
    ? '  1. the one-time sequences: none here; make them once the rest is installed, with seqgen (--server-file /etc/knockd/... --stick STICK)'
    : `  1. the one-time sequences (the stick has the same lines); never over an existing file, which knockd keeps open:\n${copies.join('\n')}`
}
  2. every other file, written again for its system path (existing sequence files are kept; a file
     you edited is shown as a diff and replaced only with --force, after a backup):
       ${['knockstick', 'server', 'init', ...o.install].map(shellWord).join(' ')}
  3. then the steps that run prints: sshd, knockd, and the firewall with its automatic rollback.
`;
  }
  const { firewall, files } = o;
  const fwFile = files.find((f) => /firewall\.nft|\/iptables\.rules|ufw-before/.test(f.path))?.path ?? '';
  const router = files.find((f) => /router(\.nft|-iptables\.sh)$/.test(f.path));
  const ufwAllow = ufwAllowCommands(o.allow);
  const apply =
    firewall === 'nftables'
      ? `nft -c -f ${fwFile} && nft -f ${fwFile}`
      : firewall === 'iptables'
        ? `iptables-restore --test < ${fwFile} && iptables-restore < ${fwFile}`
        : `${ufwAllow.map((c) => `${c} && `).join('')}(edit /etc/ufw/before.rules as ${fwFile} says) && ufw reload`;
  const undo = firewall === 'nftables' ? 'nft delete table inet knockstick' : firewall === 'iptables' ? 'iptables -P INPUT ACCEPT; iptables -F INPUT' : 'ufw disable';
  const kept = o.allow.length === 0 ? '' : `       (it keeps ${o.allow.map(formatAllow).join(', ')} reachable: --allow)\n`;
  return `
Next, on the server as root (nothing above was applied):
  1. sshd keys only:   sshd -t && systemctl reload ssh      (log in with your key from another terminal first!)
  2. knockd:           systemctl daemon-reload && systemctl enable knockd && systemctl restart knockd
${
  router === undefined
    ? `  3. firewall, with an automatic rollback in case it cuts you off:
       ${apply}
${kept}       (sleep 120; [ -e /run/knockstick-keep ] || { ${undo}; }) &
     then, from a NEW connection made with callhome, confirm it within 2 minutes:  touch /run/knockstick-keep`
    : `  3. router: forward SSH only through the doors:  ${router.path.endsWith('.nft') ? `nft -c -f ${router.path} && nft -f ${router.path}` : `sh ${router.path}`}
     (your own firewall keeps the router's SSH closed and lets forwarded (DNAT) connections through)
     on the stick, one alias per inner host: Host NAME, HostName = this router's address, its own HostKeyAlias`
}
  4. check everything:  knockstick doctor --knockd-conf ${o.paths.knockdConf}
`;
}
