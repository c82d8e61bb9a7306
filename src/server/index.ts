// knockstick server init: the server side from templates/ — knockd.conf (SSH door + panic stanza),
// the firewall baseline, sshd keys-only drop-in, systemd drop-in, settings, first sequences.
// It writes files and prints how to apply them (with an automatic rollback for the firewall); it
// never applies a firewall itself, so it cannot lock out the session it runs in.

import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { execa } from 'execa';
import { parseCommandLine, parseInteger } from '../core/args.js';
import type { Command, CommandContext } from '../core/command.js';
import { ExitCode, KnockstickError, usageError } from '../core/errors.js';
import { appendDurably, assertNotSymlink, readTextIfExists, refuseLinksAmong, writeAtomically } from '../core/files.js';
import { sequencesFileFor, stickLayout, verifyStick } from '../core/stick.js';
import { readConfig, reservedPorts } from '../core/config.js';
import { formatLine } from '../core/sequences.js';
import { checkHostName } from '../core/names.js';
import { lineLimitError } from '../core/knockd-conf.js';
import { DEFAULT_LENGTH, DEFAULT_RANGE, cryptoRandom, generateSequences } from '../core/generate.js';
import type { Sequence } from '../core/sequences.js';
import { loadTemplate } from '../core/templates.js';
import { seqgenCommand } from '../seqgen/index.js';
import { terminalPrompts, type Prompts } from '../core/prompts.js';
import { serverHelp } from './help.js';
import { WORD, askServerAnswers, type ServerAnswers } from './wizard.js';
import type { InnerHost } from '../core/firewall.js';
import { SPA_SYSTEM_PATHS, initSpa, spaInitProblem, spaPathsIn } from './spa.js';
import { TEMPLATE_NAMES, SYSTEM_PATHS, doorNames, pathsIn, planServerFiles, sequencesFileOf, type PlannedFile, type ServerFirewall } from './plan.js';

const FLAGS = {
  yes: { type: 'boolean', short: 'y' },
  interface: { type: 'string' },
  out: { type: 'string' },
  'dry-run': { type: 'boolean' },
  firewall: { type: 'string' },
  'ssh-port': { type: 'string' },
  'seq-timeout': { type: 'string' },
  'cmd-timeout': { type: 'string' },
  count: { type: 'string' },
  stick: { type: 'string' },
  force: { type: 'boolean' },
  inner: { type: 'string', multiple: true },
  'ddns-protocol': { type: 'string' },
  'ddns-server': { type: 'string' },
  'ddns-login': { type: 'string' },
  'ddns-hostname': { type: 'string' },
  method: { type: 'string' },
  'spa-server': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;

export const serverCommand: Command = {
  name: 'server',
  help: serverHelp,
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
  const route = await execa('ip', ['-o', 'route', 'show', 'default'], { reject: false });
  return /\bdev (\S+)/.exec(String(route.stdout))?.[1];
}

function checked(value: string | undefined, flag: string, pattern: RegExp): string | undefined {
  // Names and words all: none may start with "-" (every program would read it as an option).
  if (value !== undefined && flag !== '--out') checkHostName(value, flag);
  if (value !== undefined && !pattern.test(value)) throw usageError(`${flag}: ${JSON.stringify(value)} has characters that do not belong there`);
  return value;
}

/** Interfaces of this machine but loopback, for the wizard. */
async function interfaces(): Promise<string[]> {
  const links = await execa('ip', ['-o', 'link', 'show'], { reject: false });
  return [...String(links.stdout).matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1] as string).filter((n) => n !== 'lo');
}

async function init(values: Values, context: CommandContext, prompts: Prompts): Promise<number> {
  if (values.method !== undefined && values.method !== 'knock' && values.method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(values.method)}`);
  if (values.method === 'spa') return initSpaFromFlags(values, context);
  if (values['spa-server'] !== undefined) throw usageError('--spa-server goes with --method spa');
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
  const known: ServerAnswers = {
    interface: checked(values.interface, '--interface', /^[A-Za-z0-9_.:-]{1,15}$/),
    firewall: firewallFlag as ServerFirewall | undefined,
    stick: values.stick === undefined ? undefined : resolve(context.cwd, values.stick),
    count: values.count === undefined ? undefined : parseInteger('--count', values.count, 2, 100_000),
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
  // Every flag is checked before the first question: a typo should not cost a whole wizard.
  const inner = (values.inner ?? []).map(parseInner);
  if (new Set(inner.map((h) => h.name)).size !== inner.length) throw usageError('--inner: each inner host needs its own NAME');
  const sshPort = values['ssh-port'] === undefined ? 22 : parseInteger('--ssh-port', values['ssh-port'], 1, 65535);
  const seqTimeout = values['seq-timeout'] === undefined ? 15 : parseInteger('--seq-timeout', values['seq-timeout'], 1, 600);
  const cmdTimeout = values['cmd-timeout'] === undefined ? 10 : parseInteger('--cmd-timeout', values['cmd-timeout'], 1, 3600);
  const answers = interactive
    ? await askServerAnswers(prompts, known, {
        interfaces: await interfaces(),
        defaultInterface: await defaultInterface(),
        isDirectory: async (p) => (await stat(p).catch(() => null))?.isDirectory() === true,
      })
    : { ...known, interface: known.interface ?? (await defaultInterface()), firewall: known.firewall ?? 'nftables', count: known.count ?? 50 };
  const iface = answers.interface;
  if (iface === undefined) throw usageError('no --interface given and no default route to guess it from');
  const firewall = answers.firewall ?? 'nftables';
  const ddns = answers.ddns;
  const stick = answers.stick;
  const count = answers.count ?? 50;
  const panicSequence = generateSequences(cryptoRandom, { count: 1, length: 5, range: DEFAULT_RANGE, exclude: new Set(), avoid: new Set() })[0] as Sequence;

  const templates = Object.fromEntries(await Promise.all(TEMPLATE_NAMES.map(async (n) => [n, await loadTemplate(n)] as const)));
  const files = planServerFiles(
    {
      interface: iface,
      firewall,
      sshPort,
      seqTimeout,
      cmdTimeout,
      panicSequence,
      ddns,
      inner,
      paths,
    },
    templates,
  );

  const conf = files.find((f) => f.path === paths.knockdConf);
  const tooLong = conf === undefined ? undefined : lineLimitError(conf.text, conf.path, out === undefined ? 'a value' : '--out');
  if (tooLong !== undefined) throw tooLong;

  const stdout = context.stdout;
  if (values['dry-run'] === true) {
    for (const f of files) stdout.write(`==> ${f.path} (mode 0${f.mode.toString(8)}): ${f.what}\n${f.text}${f.text.endsWith('\n') ? '' : '\n'}\n`);
    for (const door of doorNames({ inner })) {
      stdout.write(`==> ${sequencesFileOf(paths, door)}: ${count} one-time sequences${stick == null ? ' (the stick gets them later with seqgen repair)' : `, the same on the stick at ${stick}`}\n`);
    }
    return ExitCode.OK;
  }

  // A stick is a directory holding .ssh/config, never a home directory (stick.ts); nothing written yet.
  if (stick != null) await verifyStick(stick, context.env);
  const sequenceFiles = doorNames({ inner }).map((door) => sequencesFileOf(paths, door));
  // A link planted among the files (in --out, or on the stick) is refused before the first write,
  // even with --force: --force replaces files, it never writes through a link.
  await refuseLinksAmong([...files.map((f) => f.path), ...sequenceFiles]);
  if (stick != null) {
    const layout = stickLayout(stick);
    await assertNotSymlink(layout.sshDir);
    await refuseLinksAmong(doorNames({ inner }).map((door) => sequencesFileFor(layout, door === 'ssh' ? 'home' : door)));
  }
  await refuseToOverwrite(files.map((f) => f.path), sequenceFiles, values.force === true);
  if (interactive) {
    stdout.write(`${files.map((f) => `  ${f.path}: ${f.what}`).join('\n')}\n  ${paths.sequences} and the stick: ${count} one-time sequences\n`);
    if (!(await prompts.confirm(`Write these ${files.length + 1} files? (nothing is applied or restarted)`, true))) {
      stdout.write('Nothing written.\n');
      return ExitCode.OK;
    }
  }
  for (const f of files) {
    await mkdir(dirname(f.path), { recursive: true, mode: 0o755 });
    await writeAtomically(f.path, f.text, f.mode === 0o600 ? {} : { mode: f.mode });
    stdout.write(`wrote ${f.path}: ${f.what}\n`);
  }
  // seqgen reads the new server settings, so the panic ports are excluded from every sequence.
  // In router mode each inner host gets its own file, and the stick its own copy (.ssh/sequences.NAME).
  for (const door of doorNames({ inner })) {
    if (stick == null) {
      await serverOnlySequences(sequencesFileOf(paths, door), count, paths.serverConfig);
      stdout.write(
        `wrote ${sequencesFileOf(paths, door)}: ${count} one-time sequences (server side only). Give the stick the same lines with\n` +
          `  seqgen repair --server-file ${sequencesFileOf(paths, door)} --stick STICK${door === 'ssh' ? '' : ` --host ${door}`}\n`,
      );
      continue;
    }
    await seqgenCommand.run({
      ...context,
      args: [String(count), '--server-file', sequencesFileOf(paths, door), '--stick', stick, '--server-config', paths.serverConfig, ...(door === 'ssh' ? [] : ['--host', door])],
      invokedAs: 'seqgen',
    });
  }
  stdout.write(nextSteps(firewall, files, paths.knockdConf));
  return ExitCode.OK;
}

/** server init --method spa: fwknopd instead of knockd (flags only; src/server/spa.ts). */
async function initSpaFromFlags(values: Values, context: CommandContext): Promise<number> {
  if (values.yes !== true) throw usageError('--method spa asks no questions yet: pass --yes and the answers as flags (see --help)');
  const problem = spaInitProblem(values);
  if (problem !== undefined) throw usageError(problem);
  const out = values.out === undefined ? undefined : checked(resolve(context.cwd, values.out), '--out', SAFE_PATH);
  const iface = checked(values.interface, '--interface', /^[A-Za-z0-9_.:-]{1,15}$/) ?? (await defaultInterface());
  if (iface === undefined) throw usageError('no --interface given and no default route to guess it from');
  return initSpa(
    {
      interface: iface,
      firewall: values.firewall === 'iptables' ? 'iptables' : 'nftables',
      sshPort: values['ssh-port'] === undefined ? 22 : parseInteger('--ssh-port', values['ssh-port'], 1, 65535),
      doorSeconds: values['cmd-timeout'] === undefined ? 10 : parseInteger('--cmd-timeout', values['cmd-timeout'], 1, 3600),
      spaServer: values['spa-server'] as string,
      paths: out === undefined ? SPA_SYSTEM_PATHS : spaPathsIn(out),
      stick: values.stick === undefined ? undefined : resolve(context.cwd, values.stick),
      dryRun: values['dry-run'] === true,
      force: values.force === true,
    },
    context,
  );
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

/** Never overwrite someone's knockd.conf or firewall silently, nor ever a sequence file. */
async function refuseToOverwrite(paths: readonly string[], sequenceFiles: readonly string[], force: boolean): Promise<void> {
  const existing: string[] = [];
  for (const p of paths) if ((await stat(p).catch(() => null)) !== null) existing.push(p);
  if (existing.length > 0 && !force) {
    throw new KnockstickError('IO', `these files exist already: ${existing.join(', ')}`, {
      hint: 'move them away, or write elsewhere with --out DIR and compare; --force overwrites them (the sequence file is never overwritten)',
    });
  }
  for (const sequences of sequenceFiles) {
    if ((await readTextIfExists(sequences)) !== null) {
      throw new KnockstickError('IO', `${sequences} exists: server init never replaces a sequence file`, { hint: 'use seqgen to refill it' });
    }
  }
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

function nextSteps(firewall: ServerFirewall, files: readonly PlannedFile[], knockdConf: string): string {
  const fwFile = files.find((f) => /firewall\.nft|\/iptables\.rules|ufw-before/.test(f.path))?.path ?? '';
  const router = files.find((f) => /router(\.nft|-iptables\.sh)$/.test(f.path));
  const apply =
    firewall === 'nftables'
      ? `nft -c -f ${fwFile} && nft -f ${fwFile}`
      : firewall === 'iptables'
        ? `iptables-restore --test < ${fwFile} && iptables-restore < ${fwFile}`
        : `(edit /etc/ufw/before.rules as ${fwFile} says) && ufw reload`;
  const undo = firewall === 'nftables' ? 'nft delete table inet knockstick' : firewall === 'iptables' ? 'iptables -P INPUT ACCEPT; iptables -F INPUT' : 'ufw disable';
  return `
Next, on the server as root (nothing above was applied):
  1. sshd keys only:   sshd -t && systemctl reload ssh      (log in with your key from another terminal first!)
  2. knockd:           systemctl daemon-reload && systemctl enable --now knockd
${
  router === undefined
    ? `  3. firewall, with an automatic rollback in case it cuts you off:
       ${apply}
       (sleep 120; [ -e /run/knockstick-keep ] || { ${undo}; }) &
     then, from a NEW connection made with callhome, confirm it within 2 minutes:  touch /run/knockstick-keep`
    : `  3. router: forward SSH only through the doors:  ${router.path.endsWith('.nft') ? `nft -c -f ${router.path} && nft -f ${router.path}` : `sh ${router.path}`}
     (your own firewall keeps the router's SSH closed and lets forwarded (DNAT) connections through)
     on the stick, one alias per inner host: Host NAME, HostName = this router's address, its own HostKeyAlias`
}
  4. check everything:  knockstick doctor --knockd-conf ${knockdConf}
`;
}
