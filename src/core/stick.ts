// Where the stick is and what lives on it.
//
// STICK/
//   callhome              POSIX sh launcher (usbsetup writes it)
//   .ssh/config           the Host entry callhome connects with
//   .ssh/id_ed25519       the key, with its own passphrase
//   .ssh/known_hosts      the server's host key
//   .ssh/sequences        the stick's copy of the one-time sequences

import { join, resolve } from 'node:path';

export const STICK_ENV = 'KNOCKSTICK_STICK';
/** Set by the stick's `callhome` launcher to its own directory: the stick, wherever it is mounted. */
export const LAUNCHER_ENV = 'KNOCKSTICK_LAUNCHER_DIR';
/** The ssh config alias callhome and seqgen use when none is given. */
export const DEFAULT_HOST = 'home';

export interface StickLayout {
  readonly root: string;
  readonly sshDir: string;
  readonly sequences: string;
  readonly sshConfig: string;
  readonly knownHosts: string;
}

export function stickLayout(root: string): StickLayout {
  const sshDir = join(root, '.ssh');
  return {
    root,
    sshDir,
    sequences: join(sshDir, 'sequences'),
    sshConfig: join(sshDir, 'config'),
    knownHosts: join(sshDir, 'known_hosts'),
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
