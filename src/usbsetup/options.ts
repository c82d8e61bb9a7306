// usbsetup's flags. Every wizard answer is also a flag; `--yes` means "no questions: every required
// answer is a flag". Passphrases are never flags, only files (or stdin) holding them.

import { resolve } from 'node:path';
import { parseCommandLine, parseInteger } from '../core/args.js';
import { usageError } from '../core/errors.js';
import { DEFAULT_MAPPER_NAME, DEFAULT_MOUNTPOINT, HOST_CONFIG_PATH, isValidMapperName, validateHostValue } from '../core/host-config.js';
import { checkHostName, checkUserName } from '../core/names.js';
import { DEFAULT_HOST, isValidHostAlias } from '../core/stick.js';
import { DOOR_POLICIES, SERVER_CONFIG_PATH, type DoorPolicy } from '../core/config.js';
import { memberNameProblem } from '../core/members.js';
import { stickRootProblem } from '../core/stick-ssh-config.js';
import type { StickFilesystem } from '../core/volume.js';

/** The filesystems usbsetup makes are exactly those secureon mounts. */
export type Filesystem = StickFilesystem;
export const FILESYSTEMS: readonly Filesystem[] = ['vfat', 'exfat', 'ext4'];
export const DEFAULT_SEQUENCES = 50;

export const FLAGS = {
  device: { type: 'string' },
  'confirm-device': { type: 'string' },
  'partition-mib': { type: 'string' },
  filesystem: { type: 'string' },
  'luks-passphrase-file': { type: 'string' },
  'key-passphrase-file': { type: 'string' },
  host: { type: 'string' },
  hostname: { type: 'string' },
  user: { type: 'string' },
  port: { type: 'string' },
  'dynamic-forward': { type: 'string' },
  'server-host-key': { type: 'string' },
  sequences: { type: 'string' },
  'server-file': { type: 'string' },
  method: { type: 'string' },
  'gpg-server-key': { type: 'string' },
  'door-policy': { type: 'string' },
  owner: { type: 'string' },
  name: { type: 'string' },
  mountpoint: { type: 'string' },
  'host-config': { type: 'string' },
  'no-remember': { type: 'boolean' },
  into: { type: 'string' },
  executable: { type: 'boolean' },
  'follow-symlink': { type: 'boolean' },
  member: { type: 'string' },
  'server-config': { type: 'string' },
  'weak-pbkdf-for-tests': { type: 'boolean' },
  'no-device-mapper-check-for-tests': { type: 'boolean' },
  'show-secrets': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' },
} as const;

import type { DoorMethod } from '../core/door/options.js';

export type { DoorMethod };

/** What goes onto the stick (also all that `--into DIR` needs). */
export interface ContentAnswers {
  readonly alias: string;
  /** knock: one-time knockd sequences; spa: fwknop SPA keys (.ssh/fwknoprc), no sequences. */
  readonly method: DoorMethod;
  /** What the server's door admits (STICK/.ssh/knockstick.conf door_policy); default single-use. */
  readonly doorPolicy?: DoorPolicy;
  readonly hostName: string;
  readonly user: string;
  readonly port: number;
  readonly dynamicForward: number | undefined;
  readonly serverHostKey: string | undefined;
  readonly sequences: number;
  /** --sequences given (or asked): with a server file that has sequences, add this many new ones too. */
  readonly sequencesGiven?: boolean;
  /**
   * The server's sequence file, on this machine (with seqgen): a file with unused sequences is
   * copied onto the stick; a missing or used-up one gets `sequences` new ones on both sides.
   * undefined: the server's copy goes into a 0600 file here.
   */
  readonly serverFile: string | undefined;
  readonly keyPassphraseFile: string | undefined;
  /** Also copy the self-contained executable (runs where no node is installed, ~100 MB). */
  readonly executable?: boolean;
  /** --follow-symlink: --server-file may be a symlink (knockd follows it too); default: refused. */
  readonly followSymlink?: boolean;
  /** --method spa --gpg-server-key FILE: GnuPG SPA to this fwknopd public key (usbsetup/spa-gpg.ts). */
  readonly gpgServerKey?: string | undefined;
  /**
   * --member NAME: the stick becomes a new member of the server on this machine (stick add: a door
   * of its own, knock or SPA), never a copy of another stick's door. serverConfig: its server.conf.
   */
  readonly member?: { readonly name: string; readonly serverConfig: string } | undefined;
}

export interface UsbsetupOptions {
  readonly help: boolean;
  readonly yes: boolean;
  readonly device: string | undefined;
  readonly confirmDevice: string | undefined;
  /** undefined: the whole device; N: a LUKS partition of N MiB at the end. */
  readonly partitionMib: number | undefined;
  readonly filesystem: Filesystem | undefined;
  readonly luksPassphraseFile: string | undefined;
  readonly owner: string | undefined;
  readonly name: string;
  readonly mountpoint: string;
  readonly hostConfig: string;
  readonly remember: boolean;
  /** Only write the stick's files into this (already open and mounted) directory. */
  readonly into: string | undefined;
  readonly weakPbkdfForTests: boolean;
  /** Skip the up-front device-mapper check, so a kernel without it still reaches `cryptsetup open` (interrupt tests). */
  readonly noDeviceMapperCheckForTests: boolean;
  /**
   * --show-secrets: print the server's copy (sequences, or SPA keys) between scissors. Without it
   * they go into a 0600 file and only its path and the command to append it are printed.
   */
  readonly showSecrets: boolean;
  readonly content: Partial<ContentAnswers> & { readonly alias: string; readonly port: number; readonly sequences: number };
  /** Whether --sequences or --server-file was given (they make no sense with --method spa). */
  readonly sequenceFlags: boolean;
  /** --server-config without --member: the server the wizard offers to join (default: server.conf's default path). */
  readonly serverConfig?: string | undefined;
}

export function parseUsbsetupArgs(args: readonly string[], context: { cwd: string; invokedAs: string }): UsbsetupOptions {
  const { values, positionals } = parseCommandLine(args, FLAGS, context.invokedAs);
  if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`, `the device is a flag: --device ${positionals[0]}`);
  const path = (value: string | undefined): string | undefined => (value === undefined ? undefined : resolve(context.cwd, value));
  const alias = values.host ?? DEFAULT_HOST;
  if (!isValidHostAlias(alias)) throw usageError(`--host must be a short alias (letters, digits, . _ -), got ${JSON.stringify(alias)}`);
  if (values.hostname !== undefined) checkHostName(values.hostname, '--hostname');
  if (values.user !== undefined) checkUserName(values.user, '--user');
  if (values.hostname !== undefined && !/^[A-Za-z0-9.:_-]{1,253}$/.test(values.hostname)) {
    throw usageError(`--hostname must be a host name or address, got ${JSON.stringify(values.hostname)}`);
  }
  if (values.user !== undefined && !/^[a-z_][a-z0-9_.-]{0,31}$/i.test(values.user)) throw usageError(`--user must be a user name, got ${JSON.stringify(values.user)}`);
  const filesystem = values.filesystem;
  if (filesystem !== undefined && !FILESYSTEMS.includes(filesystem as Filesystem)) throw usageError(`--filesystem must be one of ${FILESYSTEMS.join(', ')}, got ${JSON.stringify(filesystem)}`);
  const name = values.name ?? DEFAULT_MAPPER_NAME;
  if (!isValidMapperName(name)) throw usageError(`--name must be a device-mapper name (letters, digits, _ . -), got ${JSON.stringify(name)}`);
  const mountpoint = values.mountpoint ?? DEFAULT_MOUNTPOINT;
  const mountProblem = validateHostValue('mountpoint', mountpoint);
  if (mountProblem !== undefined) throw usageError(`--${mountProblem}`);
  if (values.owner !== undefined && validateHostValue('owner', values.owner) !== undefined) throw usageError(`--owner must be a user name or uid, got ${JSON.stringify(values.owner)}`);
  if (values['luks-passphrase-file'] === '-' && values['key-passphrase-file'] === '-') {
    throw usageError('only one of --luks-passphrase-file and --key-passphrase-file can read stdin ("-")');
  }
  const method = values.method;
  if (method !== undefined && method !== 'knock' && method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(method)}`);
  if (method === 'spa' && (values.sequences !== undefined || values['server-file'] !== undefined)) {
    throw usageError('--sequences and --server-file are for --method knock: an SPA stick carries keys, not sequences');
  }
  if (values['gpg-server-key'] !== undefined && method !== 'spa') throw usageError('--gpg-server-key goes with --method spa');
  if (values.member !== undefined) {
    const problem = memberNameProblem(values.member);
    if (problem !== undefined) throw usageError(`--member: ${problem}`);
    if (values['server-file'] !== undefined) throw usageError('--member and --server-file do not go together: a member gets a door and a one-time file of its own (stick add), never another stick\'s file');
    if (values['gpg-server-key'] !== undefined) throw usageError('--member with --gpg-server-key is not supported: GnuPG SPA members are not done yet', 'make the stick without --member and add its key by hand');
    if (values.sequences === '0') throw usageError('--member with --sequences 0: a knock member needs sequences (at least 2)');
  } else if (values['server-config'] !== undefined && values.yes === true) {
    throw usageError('--server-config goes with --member NAME', 'or leave out --yes: then the wizard offers to make the stick a member of that server and asks the name');
  }
  const doorPolicy = values['door-policy'];
  if (doorPolicy !== undefined && !(DOOR_POLICIES as readonly string[]).includes(doorPolicy)) throw usageError(`--door-policy must be single-use or window, got ${JSON.stringify(doorPolicy)}`);
  if (values['follow-symlink'] === true && values['server-file'] === undefined) throw usageError('--follow-symlink goes with --server-file');
  if (values.into !== undefined) {
    for (const flag of ['device', 'confirm-device', 'partition-mib', 'filesystem', 'luks-passphrase-file'] as const) {
      if (values[flag] !== undefined) throw usageError(`--${flag} does not apply with --into (it writes into a directory that is already open)`);
    }
  }
  // The stick's ssh config names its files by absolute path (stick-ssh-config.ts): a place it
  // cannot name is refused now, before a question is asked or a byte written.
  const stickAt = path(values.into) ?? mountpoint;
  const stickProblem = stickRootProblem(stickAt);
  if (stickProblem !== undefined) throw usageError(`${values.into === undefined ? '--mountpoint' : '--into'}: the stick's ssh config cannot name a stick at ${stickProblem}`, 'choose a directory without such characters, e.g. /mnt/secure');
  return {
    help: values.help === true,
    yes: values.yes === true,
    device: values.device,
    confirmDevice: values['confirm-device'],
    partitionMib: values['partition-mib'] === undefined ? undefined : parseInteger('--partition-mib', values['partition-mib'], 8, 1024 * 1024),
    filesystem: filesystem as Filesystem | undefined,
    luksPassphraseFile: values['luks-passphrase-file'] === '-' ? '-' : path(values['luks-passphrase-file']),
    owner: values.owner,
    name,
    mountpoint,
    hostConfig: path(values['host-config']) ?? HOST_CONFIG_PATH,
    remember: values['no-remember'] !== true,
    into: path(values.into),
    weakPbkdfForTests: values['weak-pbkdf-for-tests'] === true,
    noDeviceMapperCheckForTests: values['no-device-mapper-check-for-tests'] === true,
    showSecrets: values['show-secrets'] === true,
    sequenceFlags: values.sequences !== undefined || values['server-file'] !== undefined,
    serverConfig: path(values['server-config']),
    content: {
      alias,
      ...(method === undefined ? {} : { method: method as DoorMethod }),
      ...(doorPolicy === undefined ? {} : { doorPolicy: doorPolicy as DoorPolicy }),
      hostName: values.hostname,
      user: values.user,
      port: values.port === undefined ? 22 : parseInteger('--port', values.port, 1, 65535),
      dynamicForward: values['dynamic-forward'] === undefined ? undefined : parseInteger('--dynamic-forward', values['dynamic-forward'], 1, 65535),
      serverHostKey: path(values['server-host-key']),
      sequences: values.sequences === undefined ? DEFAULT_SEQUENCES : parseInteger('--sequences', values.sequences, 0, 100_000),
      sequencesGiven: values.sequences !== undefined,
      serverFile: path(values['server-file']),
      keyPassphraseFile: values['key-passphrase-file'] === '-' ? '-' : path(values['key-passphrase-file']),
      executable: values.executable === true,
      followSymlink: values['follow-symlink'] === true,
      gpgServerKey: path(values['gpg-server-key']),
      member: values.member === undefined ? undefined : { name: values.member, serverConfig: path(values['server-config']) ?? SERVER_CONFIG_PATH },
    },
  };
}
