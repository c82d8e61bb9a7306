// What the door engine works from: the stick's files, the host's settings, the address, and the
// outside world (knocker, prober, clock, lock, files) behind small interfaces for tests.

import { isIP } from 'node:net';
import { dirname } from 'node:path';
import type { Output } from '../command.js';
import {
  assertPlainFileOrMissing,
  assertRealDirectories,
  findStaleTempFiles,
  readTextIfExists,
  removeFiles,
  writeAtomically,
} from '../files.js';
import { netKnocker, type Knocker, type Target } from '../knock.js';
import { lockDirectories, type Lock, type LockOptions } from '../lock.js';
import { netProber, type Prober } from '../probe.js';
import { readHostConfig, type HostConfig } from '../ssh-config.js';
import { sequencesFileFor, stateFileFor, verifyStick, type StickLayout } from '../stick.js';
import { resolveAddress } from './address.js';
import type { DoorOptions } from './options.js';
import { checkSshRunnable, sshInvocation, type SshInvocation } from './ssh-command.js';

/** Everything opening a door does to the outside world, replaceable in tests. */
export interface DoorDeps {
  readonly knocker: Knocker;
  readonly prober: Prober;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly resolveAddress: (hostName: string, family: 4 | 6) => Promise<Target>;
  /** Locks the stick's directory against other seqgen/callhome runs (lock.ts). */
  readonly lock: (dirs: readonly string[], options: LockOptions) => Promise<Lock>;
  /** The stick's files: read, replace atomically, and clear the temp files killed runs left. */
  readonly files: StickFiles;
  /** Throws when ssh could not be started at all; checked before knocking. Absent: not checked. */
  readonly checkSsh?: (invocation: SshInvocation) => Promise<void>;
}

export interface StickFiles {
  /** The file's text, or null when it does not exist. */
  read(path: string): Promise<string | null>;
  /**
   * Replaces the file atomically and durably, mode 0600 (files.ts writeAtomically); `root` is the
   * stick's root, below which every directory must be a real one, not a planted link.
   */
  write(path: string, text: string, root: string): Promise<void>;
  /** Refuses a symlinked directory between `root` and the files, or a file that is a link or not regular. */
  refuseLinks(root: string, files: readonly string[]): Promise<void>;
  /** Removes the temp files killed runs left in `dir` (call under its lock); returns their paths. */
  removeStaleTemps(dir: string): Promise<string[]>;
}

export const realStickFiles: StickFiles = {
  read: readTextIfExists,
  write: (path, text, root) => writeAtomically(path, text, { within: root }),
  async refuseLinks(root, files) {
    for (const file of files) {
      await assertRealDirectories(root, dirname(file));
      await assertPlainFileOrMissing(file);
    }
  },
  removeStaleTemps: async (dir) => removeFiles(await findStaleTempFiles(dir)),
};

export const doorDeps: DoorDeps = {
  knocker: netKnocker,
  prober: netProber,
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  resolveAddress,
  lock: lockDirectories,
  files: realStickFiles,
  checkSsh: (invocation) => checkSshRunnable(invocation, process.env.PATH),
};

/** What the engine works from: the stick's files, the host's settings, the address, the ssh command. */
export interface Prepared {
  readonly layout: StickLayout;
  readonly host: HostConfig;
  readonly target: Target;
  readonly sequencesFile: string;
  readonly stateFile: string;
  readonly ssh: SshInvocation;
}

export interface PrepareOptions extends Pick<DoorOptions, 'stickRoot' | 'env' | 'host' | 'ipv6'> {
  readonly ssh: string;
  readonly sshArgs: readonly string[];
  /**
   * Where ssh said to connect (connect's %h %p): they win over the stick config's HostName and
   * Port, as they do for ssh itself.
   */
  readonly connectTo?: { readonly hostName: string; readonly port: number } | undefined;
}

/** True for the ProxyCommand knockstick itself writes: it knocks from this machine, so no warning. */
export function isOwnProxyCommand(command: string | undefined): boolean {
  return command !== undefined && /\bconnect\b.*%h/.test(command) && /knockstick/.test(command);
}

export async function prepare(options: PrepareOptions, deps: Pick<DoorDeps, 'resolveAddress'>, err: Output): Promise<Prepared> {
  // A stick is a directory holding .ssh/config, never a home directory (stick.ts).
  const layout = await verifyStick(options.stickRoot, options.env ?? {});
  const configured = await readHostConfig(layout.sshConfig, options.host);
  const host = options.connectTo === undefined ? configured : { ...configured, hostName: options.connectTo.hostName, port: options.connectTo.port };
  const sequencesFile = sequencesFileFor(layout, options.host);
  // An address ssh hands connect (%h) decides the family by itself.
  const literal = options.connectTo === undefined ? 0 : isIP(host.hostName);
  const family = literal === 4 || literal === 6 ? literal : options.ipv6 || host.addressFamily === 'inet6' ? 6 : 4;
  const target = await deps.resolveAddress(host.hostName, family);
  if (host.proxied && !isOwnProxyCommand(host.proxyCommand)) {
    err.write(`warning: ${host.alias} uses ProxyJump/ProxyCommand: the door opens for this machine's address, not the proxy's\n`);
  }
  return {
    layout,
    host,
    target,
    sequencesFile,
    stateFile: stateFileFor(sequencesFile),
    ssh: sshInvocation(options.ssh, layout.sshConfig, layout.root, host, target, options.sshArgs),
  };
}
