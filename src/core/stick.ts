// Where the stick is and what lives on it.
//
// STICK/
//   callhome              POSIX sh launcher (usbsetup writes it)
//   .ssh/config           the Host entry callhome connects with
//   .ssh/id_ed25519       the key, with its own passphrase
//   .ssh/known_hosts      the server's host key
//   .ssh/sequences        the stick's copy of the one-time sequences

import { lstat, readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KnockstickError } from './errors.js';
import { STICK_CONFIG_NAME } from './config.js';
import { describeKind, symlinkRefusal } from './files.js';

export const STICK_ENV = 'KNOCKSTICK_STICK';
/** Set by the stick's `callhome` launcher to its own directory: the stick, wherever it is mounted. */
export const LAUNCHER_ENV = 'KNOCKSTICK_LAUNCHER_DIR';
/** The ssh config alias callhome and seqgen use when none is given. */
export const DEFAULT_HOST = 'home';

/** The stick's fwknop rc file (SPA keys, one stanza per alias), in STICK/.ssh. */
export const SPA_RC_NAME = 'fwknoprc';
/** The stick's knockstick settings (method, door_policy, panic ports...), in STICK/.ssh (config.ts). */
export { STICK_CONFIG_NAME } from './config.js';

export interface StickLayout {
  readonly root: string;
  readonly sshDir: string;
  readonly sequences: string;
  readonly sshConfig: string;
  readonly knownHosts: string;
  /** STICK/.ssh/fwknoprc */
  readonly spaRc: string;
  /** STICK/.ssh/knockstick.conf */
  readonly settings: string;
}

export function stickLayout(root: string): StickLayout {
  const sshDir = join(root, '.ssh');
  return {
    root,
    sshDir,
    sequences: join(sshDir, 'sequences'),
    sshConfig: join(sshDir, 'config'),
    knownHosts: join(sshDir, 'known_hosts'),
    spaRc: join(sshDir, SPA_RC_NAME),
    settings: join(sshDir, STICK_CONFIG_NAME),
  };
}

export interface StickLookup {
  /** --stick, if given. */
  readonly flag?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/**
 * The stick's root: --stick, else $KNOCKSTICK_STICK, else the directory of the launcher that
 * started us ($KNOCKSTICK_LAUNCHER_DIR), else the current directory.
 */
export function resolveStickRoot({ flag, env, cwd }: StickLookup): string {
  return resolve(cwd, flag ?? nonEmpty(env[STICK_ENV]) ?? nonEmpty(env[LAUNCHER_ENV]) ?? '.');
}

/** Host aliases become file names: keep them to characters that need no quoting anywhere. */
export function isValidHostAlias(alias: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(alias);
}

/**
 * The stick's sequence file for a host alias: the default alias keeps `.ssh/sequences`, any other
 * gets `.ssh/sequences.ALIAS` (several servers on one stick, each with its own knockd file).
 */
export function sequencesFileFor(layout: StickLayout, alias: string): string {
  return alias === DEFAULT_HOST ? layout.sequences : join(layout.sshDir, `sequences.${alias}`);
}

/** What callhome remembers about a sequence file (last door opening, confirmed line). */
export function stateFileFor(sequencesFile: string): string {
  return `${sequencesFile}.state`;
}

/**
 * The user's home directories: $HOME, the account's own home (passwd), and under sudo the invoking
 * user's (SUDO_USER): `sudo seqgen --stick ~alice` must not reach alice's ~/.ssh either.
 */
export async function homeDirectories(env: NodeJS.ProcessEnv): Promise<string[]> {
  const homes = new Set<string>();
  const home = nonEmpty(env.HOME);
  if (home !== undefined) homes.add(home);
  try {
    homes.add(userInfo().homedir);
  } catch {
    // No passwd entry (a container's uid): $HOME is all there is.
  }
  const sudoUser = nonEmpty(env.SUDO_USER);
  if (sudoUser !== undefined) {
    const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
    const entry = passwd.split('\n').find((line) => line.startsWith(`${sudoUser}:`));
    const dir = entry?.split(':')[5];
    if (dir !== undefined && dir !== '') homes.add(dir);
  }
  return [...homes];
}

/** Whether two paths are the same file or directory (same device and inode, links followed). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}

const NOT_A_STICK_HINT =
  'is the stick mounted? pass --stick DIR, the directory that holds the stick\'s .ssh/config ' +
  '(usbsetup makes it; default: $KNOCKSTICK_STICK, else the launcher\'s directory, else the current directory)';

/**
 * Refuses a stick root that is a home directory, or whose .ssh is a user's own ~/.ssh (by inode,
 * so a symlink, a bind mount or `--stick ~/x/..` is caught too): every stick write goes into
 * ROOT/.ssh, and knockstick never writes into ~/.ssh.
 */
export async function refuseHomeAsStick(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (const home of await homeDirectories(env)) {
    if (await sameFile(root, home)) {
      throw new KnockstickError('IO', `${root} is a home directory (${home}), not a stick: its .ssh is your own ~/.ssh, which knockstick never reads as a stick nor writes`, {
        hint: NOT_A_STICK_HINT,
      });
    }
    if (await sameFile(join(root, '.ssh'), join(home, '.ssh'))) {
      throw new KnockstickError('IO', `${join(root, '.ssh')} is ${join(home, '.ssh')}, a user's own ~/.ssh: not a stick, and knockstick never writes there`, {
        hint: NOT_A_STICK_HINT,
      });
    }
  }
}

/**
 * Refuses a file to be written in a user's own ~/.ssh (by inode of its directory, links followed):
 * knockstick never writes there, whatever path names it.
 */
export async function refuseUserSshDir(file: string, env: NodeJS.ProcessEnv): Promise<void> {
  const dir = dirname(file);
  for (const home of await homeDirectories(env)) {
    if (await sameFile(dir, join(home, '.ssh'))) {
      throw new KnockstickError('IO', `${file} is in ${join(home, '.ssh')}, a user's own ~/.ssh: knockstick never writes there`, {
        hint: "the stick's files go into STICK/.ssh (pass a path on the stick)",
      });
    }
  }
}

/** The reason `root` is not a stick (see verifyStick), or undefined when it is one. */
export async function stickRefusal(root: string, env: NodeJS.ProcessEnv): Promise<KnockstickError | undefined> {
  try {
    await verifyStick(root, env);
    return undefined;
  } catch (error) {
    if (error instanceof KnockstickError) return error;
    throw error;
  }
}

/**
 * The one check every command runs before it reads or writes a stick: a stick is a directory that
 * holds the stick's .ssh/config (a regular file in a real .ssh directory), and is neither a home
 * directory nor a directory whose .ssh is a user's ~/.ssh. `making`: usbsetup and server init, which
 * write the first files of a new stick, need only the second half.
 * Without this, `seqgen 10` in any directory would make a .ssh/sequences there, and `seqgen repair`
 * run from ~ would copy the server's secret sequences into the user's own ~/.ssh.
 */
export async function verifyStick(root: string, env: NodeJS.ProcessEnv, options: { making?: boolean } = {}): Promise<StickLayout> {
  const layout = stickLayout(root);
  // Not `instanceof Error` on a caught value: an error from another realm (a vm context, as in
  // the in-process tests) is not one, and would be taken for the Stats.
  let rootStat: Stats;
  try {
    rootStat = await stat(root);
  } catch (caught) {
    const error = caught as NodeJS.ErrnoException;
    throw new KnockstickError('IO', `no stick at ${root}: ${error.code === 'ENOENT' ? 'no such directory' : error.message}`, { hint: NOT_A_STICK_HINT, cause: error });
  }
  if (!rootStat.isDirectory()) throw new KnockstickError('IO', `no stick at ${root}: it is ${describeKind(rootStat)}, not a directory`, { hint: NOT_A_STICK_HINT });
  await refuseHomeAsStick(root, env);
  if (options.making === true) return layout;
  const sshDir = await lstat(layout.sshDir).catch(() => null);
  if (sshDir !== null && sshDir.isSymbolicLink()) {
    // A stick's .ssh is a real directory: a link there (to ~/.ssh, say) would redirect every write.
    throw await symlinkRefusal(layout.sshDir, NOT_A_STICK_HINT);
  }
  const config = await lstat(layout.sshConfig).catch(() => null);
  if (config === null || sshDir === null || !sshDir.isDirectory()) {
    throw new KnockstickError('IO', `no stick at ${root}: ${layout.sshConfig} does not exist`, { hint: NOT_A_STICK_HINT });
  }
  if (!config.isFile()) {
    throw new KnockstickError('IO', `no stick at ${root}: ${layout.sshConfig} is ${describeKind(config)}, not a regular file`, { hint: NOT_A_STICK_HINT });
  }
  return layout;
}
