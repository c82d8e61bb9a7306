// The ssh command line callhome runs, built as data (tests and --dry-run read it), and its runner.

import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { KnockstickError } from '../core/errors.js';
import { describeKind } from '../core/files.js';
import { withTerminalHandedOver } from '../core/interrupt.js';
import { preloadRunner, runAllowingFailure } from '../core/run.js';
import { timing } from '../core/timing.js';
import type { HostConfig } from '../core/ssh-config.js';
import type { Target } from '../core/knock.js';

export interface SshInvocation {
  readonly file: string;
  readonly args: readonly string[];
  /**
   * ssh runs in the stick's root: OpenSSH resolves relative IdentityFile and UserKnownHostsFile
   * against its working directory (never against the config file), so ".ssh/id_ed25519" in the
   * stick's config means the stick's key wherever the stick is mounted.
   */
  readonly cwd: string;
}

/**
 * `ssh -F STICK/.ssh/config -o HostName=ADDR -o HostKeyAlias=NAME -4 ALIAS ARGS...`
 * HostName is pinned to the address we knocked at, so ssh cannot pick another A record (or an
 * AAAA record) than the one the door was opened for; HostKeyAlias keeps the host key checked under
 * the configured name.
 */
export function sshInvocation(ssh: string, configPath: string, stickRoot: string, host: HostConfig, target: Target, userArgs: readonly string[]): SshInvocation {
  return {
    file: ssh,
    args: [
      '-F', configPath,
      '-o', `HostName=${target.address}`,
      '-o', `HostKeyAlias=${host.hostKeyAlias}`,
      target.family === 6 ? '-6' : '-4',
      host.alias,
      ...userArgs,
    ],
    cwd: stickRoot,
  };
}

/**
 * Refuses an ssh that cannot be started, before the knock: found only after the door opened, it
 * would cost a sequence for nothing. Looked up as execa will: a name with "/" from ssh's working
 * directory (the stick), a bare name in `pathEnv`.
 */
export async function checkSshRunnable(invocation: SshInvocation, pathEnv: string | undefined): Promise<void> {
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

/**
 * The runner's execa loads on demand: its module graph (and the node built-ins it pulls in) is a
 * good part of callhome's start-up, and nothing before ssh needs it. callhome calls this once the
 * knocks are out, so the loading fills the wait for knockd instead of delaying the first knock.
 */
export const preloadSshRunner = preloadRunner;

/**
 * Runs ssh with this terminal and returns its exit status (128+n when killed by signal n).
 * Ctrl-C belongs to ssh while it runs (it forwards it or ends the session itself); we only wait.
 * SIGTERM still goes through cli.ts's signal path, which ends ssh too.
 */
export async function runSsh(invocation: SshInvocation): Promise<number> {
  return withTerminalHandedOver(async () => {
    timing('starting ssh');
    const result = await runAllowingFailure({
      file: invocation.file,
      args: invocation.args,
      purpose: 'connect with ssh',
      cwd: invocation.cwd,
      stdin: 'terminal',
      stdout: 'terminal',
      stderr: 'terminal',
    });
    timing('ssh ended');
    return result.exitCode;
  });
}
