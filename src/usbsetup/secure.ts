// secureon / secureoff: open and mount the stick, unmount and close it.
//
// secureon: find the volume by its LUKS UUID (from /etc/knockstick/stick.conf; sda today, sdb
// tomorrow) or take DEVICE → cryptsetup open (the passphrase typed into cryptsetup, or from a file)
// → mount with uid/gid/umask=077 for vfat/exfat, so ssh accepts the key → done.
// secureoff: refuse while a process uses the stick (and name it) → sync → unmount → close →
// detach the loop device of an image.

import { mkdir } from 'node:fs/promises';
import type { Command, CommandContext } from '../core/command.js';
import { parseCommandLine } from '../core/args.js';
import { ExitCode, KnockstickError, usageError } from '../core/errors.js';
import { describeChar } from '../core/names.js';
import { cleanup, interruptedBy } from '../core/interrupt.js';
import { HOST_CONFIG_PATH, SAFE_PATH_CHARS, readHostConfig, validateHostValue, writeHostConfig, isValidMapperName, type HostConfig } from '../core/host-config.js';
import { isLuks, luksClose, luksOpen, luksUuid, mappingDevice, type PassphraseSource } from '../core/luks.js';
import { mountAt, processesUsing, readMounts } from '../core/mounts.js';
import { readPassphraseFile } from '../core/secrets.js';
import { asStickFilesystem, attachImage, detachLoop, devicesWithUuid, filesystemType, isImageFile, loopOf, mountVolume, ownerFor, syncAll, unmountVolume } from '../core/volume.js';
import { shellQuote } from '../core/shell.js';
import { loadTemplate, render } from '../core/templates.js';
import { secureoffHelp, secureonHelp } from './secure-help.js';
import { describeRelocation, relocateStickConfig } from '../core/stick-relocate.js';
import { stickLayout } from '../core/stick.js';

export const FLAGS = {
  'host-config': { type: 'string' },
  name: { type: 'string' },
  mountpoint: { type: 'string' },
  owner: { type: 'string' },
  'passphrase-file': { type: 'string' },
  remember: { type: 'boolean' },
  'print-host-setup': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** secureoff only closes: it refuses the flags that only make sense when opening. */
export const SECUREOFF_FLAGS = {
  'host-config': FLAGS['host-config'],
  name: FLAGS.name,
  mountpoint: FLAGS.mountpoint,
  help: FLAGS.help,
} as const;

interface SecureOptions {
  readonly help: boolean;
  readonly device: string | undefined;
  readonly hostConfigPath: string;
  readonly name: string | undefined;
  readonly mountpoint: string | undefined;
  readonly owner: string | undefined;
  readonly passphraseFile: string | undefined;
  readonly remember: boolean;
  readonly printHostSetup: boolean;
}

function parseSecureArgs(args: readonly string[], invokedAs: string, allowDevice: boolean): SecureOptions {
  // secureoff's flags are a subset: parsed with them, the others are refused as unknown.
  const { values, positionals } = parseCommandLine(args, allowDevice ? FLAGS : SECUREOFF_FLAGS, invokedAs) as ReturnType<typeof parseCommandLine<typeof FLAGS>>;
  if (positionals.length > (allowDevice ? 1 : 0)) throw usageError(`unexpected argument ${JSON.stringify(positionals[allowDevice ? 1 : 0])}`, `see \`${invokedAs} --help\``);
  if (values.name !== undefined && !isValidMapperName(values.name)) throw usageError(`--name must be a device-mapper name (letters, digits, _ . -), got ${JSON.stringify(values.name)}`);
  const mountProblem = values.mountpoint === undefined ? undefined : validateHostValue('mountpoint', values.mountpoint);
  if (mountProblem !== undefined) throw usageError(`--${mountProblem}`);
  if (values.remember === true && positionals[0] === undefined) throw usageError('--remember needs the DEVICE to remember', `e.g. \`${invokedAs} --remember /dev/sdb2\``);
  return {
    help: values.help === true,
    device: positionals[0],
    hostConfigPath: values['host-config'] ?? HOST_CONFIG_PATH,
    name: values.name,
    mountpoint: values.mountpoint,
    owner: values.owner,
    passphraseFile: values['passphrase-file'],
    remember: values.remember === true,
    printHostSetup: values['print-host-setup'] === true,
  };
}

function requireRoot(invokedAs: string): void {
  if (process.geteuid?.() !== 0) {
    throw new KnockstickError('USAGE', `${invokedAs} needs root to open and mount the stick`, {
      hint: 'run it with sudo, or install the narrow sudo rule: see `secureon --help` (HOST SETUP)',
    });
  }
}

async function settings(options: SecureOptions): Promise<HostConfig> {
  const config = await readHostConfig(options.hostConfigPath);
  return {
    ...config,
    name: options.name ?? config.name,
    mountpoint: options.mountpoint ?? config.mountpoint,
    ...(options.owner === undefined ? {} : { owner: options.owner }),
  };
}

/** The LUKS device to open: DEVICE (or an image file on a loop device), else the remembered UUID. */
async function findDevice(options: SecureOptions, config: HostConfig, say: (t: string) => void): Promise<{ device: string; attached: boolean }> {
  if (options.device !== undefined) {
    if (await isImageFile(options.device)) {
      const existing = await loopOf(options.device);
      if (existing !== undefined) return { device: existing, attached: false };
      const loop = await attachImage(options.device);
      say(`${options.device} attached as ${loop}\n`);
      return { device: loop, attached: true };
    }
    return { device: options.device, attached: false };
  }
  if (config.luksUuid === undefined) {
    throw usageError(`no DEVICE given and ${options.hostConfigPath} names no stick`, 'pass the DEVICE (e.g. /dev/sdb2), and --remember it for next time');
  }
  const found = await devicesWithUuid(config.luksUuid);
  if (found.length === 0) {
    throw new KnockstickError('IO', `the stick (LUKS UUID ${config.luksUuid}) is not plugged in, or not seen yet`, { hint: 'plug it in and try again; `lsblk -f` lists what the kernel sees' });
  }
  if (found.length > 1) throw new KnockstickError('IO', `several devices carry LUKS UUID ${config.luksUuid}: ${found.join(', ')} (a cloned stick?)`, { hint: 'pass the DEVICE to open' });
  return { device: found[0] as string, attached: false };
}

export async function secureon(context: CommandContext): Promise<number> {
  const options = parseSecureArgs(context.args, context.invokedAs, true);
  if (options.help) {
    context.stdout.write(secureonHelp(context.invokedAs));
    return ExitCode.OK;
  }
  if (options.printHostSetup) {
    context.stdout.write(await hostSetup(await settings(options), context.env));
    return ExitCode.OK;
  }
  requireRoot(context.invokedAs);
  const say = (text: string): void => context.stderr.write(text);
  const config = await settings(options);
  const volume = `/dev/mapper/${config.name}`;
  const mounts = await readMounts();
  const atMountpoint = mountAt(mounts, config.mountpoint);
  const openDevice = await mappingDevice(config.name);

  if (openDevice !== undefined && atMountpoint?.source === volume) {
    throw new KnockstickError('BUSY', `the stick is already open and mounted at ${config.mountpoint}`, { hint: `use it there; \`secureoff\` closes it` });
  }
  if (atMountpoint !== undefined) {
    throw new KnockstickError('BUSY', `${config.mountpoint} is busy: ${atMountpoint.source} (${atMountpoint.fstype}) is mounted there`, { hint: 'unmount it, or choose another --mountpoint' });
  }

  // Undone on any way out but success (an error, Ctrl-C, SIGTERM): nothing left open or attached.
  const undo: Array<() => void> = [];
  try {
    let device: string;
    if (openDevice !== undefined) {
      device = openDevice;
      say(`${volume} is already open (from ${openDevice}); mounting it\n`);
    } else {
      const found = await findDevice(options, config, say);
      device = found.device;
      if (found.attached) undo.push(cleanup.push(`detached ${device}`, () => detachLoop(device)));
      if (!(await isLuks(device))) throw new KnockstickError('IO', `${device} is not a LUKS volume`, { hint: 'is this the stick? `lsblk -f` shows what each device holds' });
      const source: PassphraseSource = options.passphraseFile !== undefined
        ? { kind: 'bytes', bytes: await readPassphraseFile(options.passphraseFile, 'passphrase') }
        : process.stdin.isTTY === true
          ? { kind: 'terminal' }
          : (() => { throw usageError('no terminal to type the passphrase on', 'pass --passphrase-file FILE (or - for stdin)'); })();
      await luksOpen(device, config.name, source);
      undo.push(cleanup.push(`closed ${volume}`, () => luksClose(config.name)));
    }
    if (options.remember) {
      const uuid = await luksUuid(device);
      await writeHostConfig(options.hostConfigPath, { ...config, luksUuid: uuid });
      say(`remembered in ${options.hostConfigPath}: LUKS UUID ${uuid}\n`);
    }
    const fs = asStickFilesystem(await filesystemType(volume), volume);
    const owner = await ownerFor(config.owner, context.env);
    await mkdir(config.mountpoint, { recursive: true, mode: 0o755 });
    await mountVolume(volume, config.mountpoint, fs, owner);
    for (const forget of undo) forget();
    await relocateAfterMount(config.mountpoint, say);
    context.stdout.write(`The stick is open at ${config.mountpoint} (${fs}, files owned by ${owner.name}). Run: sh ${config.mountpoint}/callhome\n`);
    return ExitCode.OK;
  } finally {
    const report = await cleanup.runAll();
    // Interrupted: cli.ts says what was and was not undone, in one line.
    if (interruptedBy() === undefined) for (const f of report.failed) say(`warning: could not undo (${f.label}): ${(f.error as Error).message}\n`);
  }
}

/**
 * The stick's ssh config names its files by absolute path, for where it was prepared: mounted here
 * (another --mountpoint, or prepared with --into elsewhere), those lines are rewritten to here, and
 * said. A failure there does not undo the mount: the stick is open, callhome can still relocate.
 */
async function relocateAfterMount(mountpoint: string, say: (t: string) => void): Promise<void> {
  try {
    const { changes } = await relocateStickConfig(stickLayout(mountpoint));
    if (changes.length > 0) say(`rewrote ${changes.length} stick path(s) in ${stickLayout(mountpoint).sshConfig} for ${mountpoint}:\n${describeRelocation(changes).map((l) => `  ${l}\n`).join('')}`);
  } catch (error) {
    if (interruptedBy() !== undefined) throw error;
    say(`warning: the stick's ssh config still names another place: ${(error as Error).message}\n`);
  }
}

export async function secureoff(context: CommandContext): Promise<number> {
  const options = parseSecureArgs(context.args, context.invokedAs, false);
  if (options.help) {
    context.stdout.write(secureoffHelp(context.invokedAs));
    return ExitCode.OK;
  }
  requireRoot(context.invokedAs);
  const config = await settings(options);
  const volume = `/dev/mapper/${config.name}`;
  const device = await mappingDevice(config.name);
  const mounted = (await readMounts()).filter((m) => m.source === volume);
  if (device === undefined && mounted.length === 0) {
    context.stdout.write(`The stick is not open (${volume}): nothing to do.\n`);
    return ExitCode.OK;
  }
  for (const m of mounted) {
    const users = await processesUsing(m.mountpoint);
    if (users.length > 0) {
      throw new KnockstickError('BUSY', `the stick at ${m.mountpoint} is in use:\n${users.map((u) => `  pid ${u.pid} (${u.command}): ${u.how}`).join('\n')}`, {
        hint: 'leave the directory or end those programs (an ssh session from callhome?), then secureoff again; nothing was unmounted',
      });
    }
  }
  await syncAll();
  for (const m of mounted.reverse()) await unmountVolume(m.mountpoint);
  if (device !== undefined) {
    await luksClose(config.name);
    // An image secureon attached: its loop device goes too.
    if (/^\/dev\/loop\d+$/.test(device)) await detachLoop(device).catch(() => undefined);
  }
  context.stdout.write(`The stick is closed${mounted.length > 0 ? ` (unmounted ${mounted.map((m) => m.mountpoint).join(', ')})` : ''}: you can unplug it.\n`);
  return ExitCode.OK;
}

/** The host files for a narrow sudo rule, filled in for this stick and owner. */
export async function hostSetup(config: HostConfig, env: NodeJS.ProcessEnv): Promise<string> {
  const owner = await ownerFor(config.owner, env);
  // Every value is validated (uuid, name, mountpoint, user name) or shell-quoted (paths in the wrapper).
  const plain = (value: string): string => {
    // Validated when read (host-config.ts); a refusal here, not a crash, if a value ever slips through.
    const bad = [...value].find((c) => !SAFE_PATH_CHARS.test(c));
    if (bad !== undefined) throw usageError(`${JSON.stringify(value)} has ${describeChar(bad)}, which the host files cannot carry unescaped`);
    return value;
  };
  const userScript = await loadTemplate('secureon.sh');
  const files: Array<[string, string]> = [
    ['/usr/local/sbin/knockstick-secure (root:root 0755)', render(await loadTemplate('knockstick-secure.sh'), { node: shellQuote(process.execPath), cli: shellQuote('/usr/local/lib/knockstick/knockstick.mjs') }, (v) => v)],
    ['/etc/sudoers.d/knockstick (root:root 0440)', render(await loadTemplate('knockstick.sudoers'), { user: owner.name }, plain)],
    ...(['on', 'off'] as const).map((action): [string, string] => [
      `/usr/local/bin/secure${action} (root:root 0755)`,
      render(userScript, { command: `secure${action}`, what: action === 'on' ? 'open and mount the knockstick' : 'unmount and close the knockstick', action }, (v) => v),
    ]),
    ['a line for /etc/fstab (optional)', render(await loadTemplate('knockstick.fstab'), { name: config.name, mountpoint: config.mountpoint, fstype: 'auto', ownership: `,uid=${owner.uid},gid=${owner.gid},umask=077` }, plain)],
    ...(config.luksUuid === undefined ? [] : [['/etc/udev/rules.d/99-knockstick.rules (optional)', render(await loadTemplate('knockstick-udev.rules'), { uuid: config.luksUuid }, plain)] as [string, string]]),
  ];
  return files.map(([where, text]) => `==> ${where}\n${text}`).join('\n');
}

export const secureonCommand: Command = { name: 'secureon', help: secureonHelp, flags: FLAGS, run: secureon };
export const secureoffCommand: Command = { name: 'secureoff', help: secureoffHelp, flags: SECUREOFF_FLAGS, run: secureoff };
