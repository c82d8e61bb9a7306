// callhome: ssh through the door, with `knockstick connect` as ssh's ProxyCommand.
// Flow: stick → ssh config → address → ssh -o ProxyCommand='NODE BUNDLE connect %n %h %p' at once
// (its start-up overlaps the proxy's knock), the door options and a private status directory handed
// to the proxy in the environment (handover.ts) → the proxy knocks, marks the sequence, and relays
// the very connection that found the door open → ssh's exit status, or the proxy's own code when
// it failed before relaying (7 door closed, 8 exhausted, ...).
// --knock-only opens the door here, in this process, and runs no ssh (for window doors).

import type { Command, CommandContext, Output } from '../core/command.js';
import { ExitCode, KnockstickError } from '../core/errors.js';
import { attemptPackets } from '../core/knock.js';
import { doorMayBeOpen, describeOffset, planCandidates, scheduleAttempts } from '../core/policy.js';
import { refillAdvice } from '../core/refill.js';
import { parseLoadedFile } from '../core/sequence-store.js';
import { parseCallhomeState } from '../core/callhome-state.js';
import { formatSequence } from '../core/sequences.js';
import { displayWord } from '../core/run.js';
import { timing } from '../core/timing.js';
import { doorDeps, openDoor, prepare, resolveDoorSettings, warnIfLow, type DoorDeps, type DoorSettings, type Prepared } from '../core/door/index.js';
import { handoverOf } from '../core/door/handover.js';
import { describeKnocks, gapForAttempt } from '../core/door/knock-method.js';
import { makeStatusDir, proxiedConnectTimeout, proxiedSsh as proxiedSshFor, thisProgram, withProxyHandover } from '../core/door/proxied.js';
import type { SshInvocation } from '../core/door/ssh-command.js';
import type { SpaCallDeps } from '../core/door/spa-method.js';
import { describeRelocation, relocateStickConfig } from '../core/stick-relocate.js';
import type { StickLayout } from '../core/stick.js';
import { callhomeHelp } from './help.js';
import { FLAGS, parseCallhomeArgs, type CallhomeOptions } from './options.js';
import { runSshProcess, type SshExit } from './ssh.js';

export { describeKnocks, gapForAttempt, RETRY_GAP_MS } from '../core/door/knock-method.js';

/** Everything callhome does to the outside world, replaceable in tests. */
export interface CallhomeDeps extends DoorDeps {
  /** Runs ssh (with its ProxyCommand) on this terminal. */
  readonly runSsh: (invocation: SshInvocation) => Promise<SshExit>;
  /** The words that start this knockstick (node and its bundle), for the ProxyCommand. */
  readonly program: () => readonly string[];
  /** A private (0700) directory for the proxy's exit code; removed after ssh. */
  readonly statusDir: () => Promise<string>;
}

export const callhomeDeps: CallhomeDeps = {
  ...doorDeps,
  runSsh: runSshProcess,
  program: thisProgram,
  statusDir: makeStatusDir,
};

export const callhomeCommand: Command = {
  name: 'callhome',
  help: callhomeHelp,
  flags: FLAGS,
  async run(context) {
    const options = parseCallhomeArgs(context.args, context);
    if (options.help) {
      context.stdout.write(callhomeHelp(context.invokedAs));
      return ExitCode.OK;
    }
    return callhome(options, callhomeDeps, context);
  },
};

/** ssh with callhome's ProxyCommand: what runs, and what --dry-run shows. */
export function proxiedSsh(options: CallhomeOptions, prepared: Prepared, program: readonly string[]): SshInvocation {
  // ConnectTimeout: through the proxy it bounds the wait for the banner, knocking included.
  return proxiedSshFor(options.ssh, options.sshArgs, prepared, program, proxiedConnectTimeout(options));
}

export async function callhome(
  options: CallhomeOptions,
  deps: CallhomeDeps,
  context: Pick<CommandContext, 'stdout' | 'stderr' | 'stderrIsTTY' | 'invokedAs'>,
  spa?: SpaCallDeps,
): Promise<number> {
  timing('callhome started');
  const prepared = await prepare(options, deps, context.stderr);
  await relocate(prepared.layout, options.dryRun, context.stderr);
  const settings = await resolveDoorSettings(options, prepared.layout.root);
  timing('prepared');
  const ssh = proxiedSsh(options, prepared, deps.program());
  if (options.dryRun) return dryRun(options, prepared, settings, ssh, context.stdout, deps);
  if (options.knockOnly) {
    if (settings.policy === 'single-use') {
      throw new KnockstickError('USAGE', `--knock-only cannot work with ${prepared.host.alias}'s single-use door (door_policy single-use in ${prepared.layout.settings}): the connection that confirms the door would spend it`, {
        hint: `connect with any ssh client instead, it knocks by itself: ssh -F ${prepared.layout.sshConfig} ${prepared.host.alias} (scp, sftp, rsync -e and git's GIT_SSH_COMMAND the same); nothing was knocked`,
      });
    }
    const opened = await openDoor(prepared, options, deps, context, { ...settings, keep: false, spa });
    warnIfLow(opened, prepared.host, options.warnBelow, context.stderr, prepared.layout.root);
    context.stderr.write(`door open for ${prepared.host.alias}; run ssh -F ${prepared.layout.sshConfig} ${prepared.host.alias} within the server's cmd_timeout\n`);
    return ExitCode.OK;
  }
  await deps.checkSsh?.(ssh);
  const handover = { ...handoverOf(options, context.invokedAs), method: settings.method, doorPolicy: settings.policy };
  const { result: exit, proxyCode } = await withProxyHandover(handover, deps.statusDir, (env) => deps.runSsh({ ...ssh, env }));
  // The proxy failed before relaying: its message is out, its code is callhome's.
  return proxyCode ?? exit.code;
}

async function dryRun(options: CallhomeOptions, prepared: Prepared, settings: DoorSettings, ssh: SshInvocation, out: Output, deps: DoorDeps): Promise<number> {
  const sshLine = options.knockOnly ? 'would not run ssh (--knock-only)' : `would run (in ${ssh.cwd}): ${[ssh.file, ...ssh.args].map(displayWord).join(' ')}`;
  const policy = `door policy ${settings.policy}${settings.policy === 'single-use' ? ': only the connection that finds the door open gets in' : ''}`;
  if (settings.method === 'spa') {
    const { dryRunSpa } = await import('./spa.js');
    await dryRunSpa(prepared, options, out, [policy, sshLine]);
    return ExitCode.OK;
  }
  const { host, target, sequencesFile, stateFile } = prepared;
  const now = deps.now();
  const loaded = parseLoadedFile(await deps.files.read(sequencesFile), sequencesFile, 'stick');
  const { state } = parseCallhomeState(await deps.files.read(stateFile), stateFile);
  const plan = planCandidates(loaded.file, state);
  const lines = [`dry run: nothing is sent, nothing is changed`, `host ${host.alias}: ${host.hostName} = ${target.address}, port ${host.port}`];
  lines.push(`sequences: ${sequencesFile} (${plan.unused} unused)`);
  lines.push(policy);
  if (settings.policy !== 'single-use' && doorMayBeOpen(state, now, options.doorWindowMs)) lines.push(`would first check whether the door this stick opened recently is still open`);
  if (plan.unused <= 1) {
    lines.push(`would refuse: ${plan.unused === 0 ? 'no unused sequence' : 'only the last unused sequence'} left; ${refillAdvice(plan.unused, host.alias, prepared.layout.root)}`);
  } else {
    for (const [i, c] of scheduleAttempts(plan.candidates, options.attempts).entries()) {
      const { clearing } = attemptPackets(c.sequence);
      const show = options.showSecrets === true;
      lines.push(
        `attempt ${i + 1}: ${describeOffset(c.offset)}: ${clearing.length} clearing hits${show ? ` on ${formatSequence(clearing.slice(0, 1))}` : ' on its first port'}, ` +
          `then ${describeKnocks(c.lineNo, c.sequence, show)}, ${gapForAttempt(i, options.gapMs)} ms apart; then probe port ${host.port} every ${options.probeIntervalMs} ms for up to ${options.doorTimeoutMs} ms`,
      );
    }
    lines.push('(an attempt stops the list as soon as the door opens; the lines up to it are then marked used on the stick)');
    if (options.showSecrets !== true) lines.push('(the knock ports are secret and not shown; --show-secrets shows them)');
  }
  if (!options.knockOnly) lines.push('(ssh starts at once; its ProxyCommand, knockstick connect, knocks and hands ssh the connection that found the door open)');
  lines.push(sshLine);
  out.write(`${lines.join('\n')}\n`);
  return ExitCode.OK;
}

/**
 * The stick's ssh config names the stick's files by absolute path, for where it was mounted when
 * it was made (secureon rewrites them when it mounts). Mounted somewhere else (a desktop's
 * automount), callhome points them here before ssh reads them, so that plain \`ssh -F\`, scp and
 * the rest work from then on too. A failure is a warning: callhome passes the right ProxyCommand
 * itself, and the user can still run \`doctor --fix-paths\`.
 */
async function relocate(layout: StickLayout, dryRun: boolean, err: Output): Promise<void> {
  try {
    const { changes } = await relocateStickConfig(layout, { write: !dryRun });
    if (changes.length === 0) return;
    const lines = describeRelocation(changes).map((l) => `  ${l}\n`).join('');
    err.write(dryRun ? `would point ${changes.length} path(s) of ${layout.sshConfig} at ${layout.root}:\n${lines}` : `pointed ${changes.length} path(s) of ${layout.sshConfig} at ${layout.root}, where the stick is mounted now:\n${lines}`);
  } catch (error) {
    if (error instanceof KnockstickError && error.code === 'INTERRUPTED') throw error;
    err.write(`warning: the stick's ssh config names another place than ${layout.root}, and could not be rewritten: ${(error as Error).message} (\`knockstick doctor --stick ${layout.root} --fix-paths\` says more)\n`);
  }
}
