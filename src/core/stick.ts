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

/** The stick's root: --stick, else $KNOCKSTICK_STICK, else the current directory. */
export function resolveStickRoot({ flag, env, cwd }: StickLookup): string {
  const chosen = flag ?? (env[STICK_ENV] !== undefined && env[STICK_ENV] !== '' ? env[STICK_ENV] : undefined) ?? '.';
  return resolve(cwd, chosen);
}
