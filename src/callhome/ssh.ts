// Running ssh with this terminal. Spawned with node's child_process directly (not the runner's
// execa, whose loading and spawning cost callhome 30-60 ms on every connection), with an explicit
// environment: callhome's hand-over to its ProxyCommand added, NODE_EXTRA_CA_CERTS removed (the
// proxy is node too, makes no TLS connection, and would spend ~45 ms parsing that file).

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { KnockstickError } from '../core/errors.js';
import { interruptSignal, trackChild, withTerminalHandedOver } from '../core/interrupt.js';
import { missingProgram } from '../core/run.js';
import { timing } from '../core/timing.js';
import type { SshInvocation } from '../core/door/ssh-command.js';

export { checkSshRunnable, sshInvocation, type SshInvocation } from '../core/door/ssh-command.js';

/** ssh's environment: ours, without NODE_EXTRA_CA_CERTS, with the invocation's additions. */
export function sshEnvironment(base: NodeJS.ProcessEnv, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** After SIGTERM on an interrupt, how long ssh gets before SIGKILL (as the runner's children). */
const KILL_GRACE_MS = 3000;

export interface SshExit {
  /** ssh's exit status, or 128+n when a signal ended it, as shells report it. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
}

/**
 * Runs ssh with this terminal and returns how it ended. Ctrl-C belongs to ssh while it runs (it
 * forwards it or ends the session itself); we only wait. SIGTERM still goes through cli.ts's signal
 * path, which ends ssh too.
 */
export async function runSshProcess(invocation: SshInvocation): Promise<SshExit> {
  return withTerminalHandedOver(async () => {
    timing('starting ssh');
    const child = spawn(invocation.file, [...invocation.args], { cwd: invocation.cwd, stdio: 'inherit', env: sshEnvironment(process.env, invocation.env) });
    const ended = new Promise<SshExit>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'ENOENT' ? missingProgram(invocation.file, 'connect with ssh', error) : new KnockstickError('IO', `cannot run ${invocation.file}: ${error.message}`, { cause: error }));
      });
      child.once('exit', (code, signal) => {
        timing('ssh ended');
        resolve({ code: code ?? 128 + (signal === null ? 0 : signalNumber(signal)), signal });
      });
    });
    // SIGTERM (cli.ts's signal path aborts interruptSignal): ssh ends too, SIGKILL if it lingers.
    const onAbort = (): void => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    };
    if (interruptSignal.aborted) onAbort();
    else interruptSignal.addEventListener('abort', onAbort, { once: true });
    void ended.finally(() => interruptSignal.removeEventListener('abort', onAbort)).catch(() => undefined);
    trackChild(Object.assign(ended, { kill: (signal?: NodeJS.Signals) => child.kill(signal) }));
    return ended;
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 127;
}

/** ssh's exit status (128+n when killed by signal n). */
export async function runSsh(invocation: SshInvocation): Promise<number> {
  return (await runSshProcess(invocation)).code;
}
