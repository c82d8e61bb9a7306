// The ssh command line the door engine's users run, built as data (tests and --dry-run read it),
// and the check that it can be started at all, made before anything is knocked.

import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { KnockstickError } from '../errors.js';
import { describeKind } from '../files.js';
import type { HostConfig } from '../ssh-config.js';
import type { Target } from '../knock.js';

export interface SshInvocation {
  readonly file: string;
  readonly args: readonly string[];
  /**
   * ssh runs in the stick's root: OpenSSH resolves relative IdentityFile and UserKnownHostsFile
   * against its working directory (never against the config file), so ".ssh/id_ed25519" in the
   * stick's config means the stick's key wherever the stick is mounted.
   */
  readonly cwd: string;
  /** Added to ssh's environment (callhome's hand-over to its ProxyCommand). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * `ssh -F STICK/.ssh/config -o HostName=ADDR -o HostKeyAlias=NAME -4 ALIAS ARGS...`
 * HostName is pinned to the address we knocked at, so ssh cannot pick another A record (or an
 * AAAA record) than the one the door was opened for; HostKeyAlias keeps the host key checked under
 * the configured name. `extra` goes before the alias (callhome's -o ProxyCommand=...).
 */
export function sshInvocation(ssh: string, configPath: string, stickRoot: string, host: HostConfig, target: Target, userArgs: readonly string[], extra: readonly string[] = []): SshInvocation {
  return {
    file: ssh,
    args: [
      '-F', configPath,
      '-o', `HostName=${target.address}`,
      '-o', `HostKeyAlias=${host.hostKeyAlias}`,
      target.family === 6 ? '-6' : '-4',
      ...extra,
      host.alias,
      ...userArgs,
    ],
    cwd: stickRoot,
  };
}

/**
 * Refuses an ssh that cannot be started, before the knock: found only after the door opened, it
 * would cost a sequence for nothing. Looked up as the runner will: a name with "/" from ssh's
 * working directory (the stick), a bare name in `pathEnv`.
 */
export async function checkSshRunnable(invocation: Pick<SshInvocation, 'file' | 'cwd'>, pathEnv: string | undefined): Promise<void> {
  const { file } = invocation;
  const candidates = file === '' ? [] : file.includes('/') ? [resolve(invocation.cwd, file)] : (pathEnv ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, file));
  // stat and access never open the file: a FIFO (or a device) named here is refused, not waited on.
  let odd: string | undefined;
  for (const candidate of candidates) {
    try {
      const info = await stat(candidate);
      if (!info.isFile()) {
        odd ??= `${candidate} is ${describeKind(info)}, not an executable file`;
        continue;
      }
      await access(candidate, fsConstants.X_OK);
      return;
    } catch {
      // not this one
    }
  }
  throw new KnockstickError('IO', `cannot run ${JSON.stringify(file)}: ${odd ?? (file.includes('/') ? 'no such executable file' : 'not found in PATH')}`, {
    hint: 'install the OpenSSH client (ssh), or pass --ssh PATH; nothing was knocked or marked',
  });
}
