// ssh started with `knockstick connect` as its ProxyCommand, shared by callhome and seqgen --remote:
// the ssh command line, the words that start this same knockstick for the proxy, and the private
// status directory through which the proxy's own exit code (7 door closed, 8 exhausted, ...) comes
// back when it failed before relaying (ssh itself can only say 255).

import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECT_OPTIONS_ENV, CONNECT_STATUS_ENV, encodeHandover, readStatus, type Handover } from './handover.js';
import { RETRY_GAP_MS } from './knock-method.js';
import type { DoorOptions } from './options.js';
import type { Prepared } from './prepare.js';
import { ownProgram, proxyCommandFor } from './proxy-command.js';
import { sshInvocation, type SshInvocation } from './ssh-command.js';

/** Whether this knockstick runs as a self-contained executable. */
export function isSea(): boolean {
  // node:sea exists from Node 20.12; in a plain node run it answers false.
  return (process as { isSea?: () => boolean }).isSea?.() === true || process.argv[1] === process.execPath;
}

/** The words that start this same knockstick (node and its bundle, or the executable), for the ProxyCommand. */
export function thisProgram(): string[] {
  return ownProgram(process.execPath, process.argv[1], isSea());
}

/**
 * `ssh ... -o ProxyCommand='NODE BUNDLE connect %n %h %p' ALIAS ARGS`: on the command line, so it
 * wins over the stick config's own ProxyCommand, and an older stick's config without one gets in
 * the same way.
 */
export function proxiedSsh(ssh: string, sshArgs: readonly string[], prepared: Prepared, program: readonly string[], connectTimeout?: number): SshInvocation {
  const timeout = connectTimeout === undefined ? [] : ['-o', `ConnectTimeout=${connectTimeout}`];
  return sshInvocation(ssh, prepared.layout.sshConfig, prepared.layout.root, prepared.host, prepared.target, sshArgs, ['-o', `ProxyCommand=${proxyCommandFor(program)}`, ...timeout]);
}

/** A private (0700) directory for the proxy's exit code. */
export function makeStatusDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'knockstick-connect-'));
}

/**
 * Runs `start` (which starts ssh with `env` added to its environment) and returns its result with
 * the code the proxy left, undefined when it left none (it relayed, or never ran). The status
 * directory is removed afterwards, and also when a signal ends us (SIGTERM: cli.ts exits from its
 * signal path), silently: an empty private directory is no undo step worth a line.
 */
export async function withProxyHandover<T>(
  handover: Handover,
  makeDir: () => Promise<string>,
  start: (env: Readonly<Record<string, string>>) => Promise<T>,
): Promise<{ readonly result: T; readonly proxyCode: number | undefined }> {
  const dir = await makeDir();
  const removeOnExit = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  try {
    const result = await start({ [CONNECT_OPTIONS_ENV]: encodeHandover(handover), [CONNECT_STATUS_ENV]: dir });
    return { result, proxyCode: await readStatus(dir) };
  } finally {
    process.off('exit', removeOnExit);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Seconds for ssh's ConnectTimeout when its ProxyCommand knocks: through a proxy, ssh applies it to
 * the wait for the server's banner, which now includes the proxy waiting for the stick's lock,
 * knocking and probing every attempt. A stick's config says 10 (usbsetup), shorter than a door
 * that needs several attempts: ssh would give up while the proxy still knocks, and the proxy's own
 * message and exit code would be lost.
 */
export function proxiedConnectTimeout(options: Pick<DoorOptions, 'lockWaitSeconds' | 'attempts' | 'doorTimeoutMs' | 'gapMs' | 'precheckMs'>): number {
  // Per attempt: the probe's deadline, the packets' gaps (a sequence has at most a few dozen ports,
  // and the clearing hits), and a second for everything else; then 10 s to spare for the banner.
  const perAttemptMs = options.doorTimeoutMs + 100 * Math.max(options.gapMs, RETRY_GAP_MS) + 1000;
  return options.lockWaitSeconds + Math.ceil((options.precheckMs + options.attempts * perAttemptMs) / 1000) + 10;
}
