// callhome: knock, confirm the door opened, mark the sequence, connect.
// Flow: stick → ssh config → address → lock → read sequences and state → reuse a door still open,
// or knock candidates in the policy's order until the door opens → mark used (atomic) → unlock →
// ssh with the terminal → ssh's exit status.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import type { Command, CommandContext, Output } from '../core/command.js';
import { ExitCode, KnockstickError } from '../core/errors.js';
import { formatCallhomeState, parseCallhomeState } from '../core/callhome-state.js';
import {
  assertPlainFileOrMissing,
  assertRealDirectories,
  describeRemovedTemps,
  findStaleTempFiles,
  readTextIfExists,
  removeFiles,
  writeAtomically,
} from '../core/files.js';
import { attemptPackets, netKnocker, type Knocker, type Target } from '../core/knock.js';
import { lockDirectories, type Lock, type LockOptions } from '../core/lock.js';
import { refillAdvice } from '../core/refill.js';
import { displayWord } from '../core/run.js';
import { timing } from '../core/timing.js';
import {
  describeOffset,
  doorMayBeOpen,
  markUsed,
  planCandidates,
  recordSuccess,
  scheduleAttempts,
  unmarkUsed,
  WINDOW,
  type Candidate,
} from '../core/policy.js';
import { netProber, type Prober } from '../core/probe.js';
import { parseLoadedFile } from '../core/sequence-store.js';
import { formatSequence, type Sequence } from '../core/sequences.js';
import { readHostConfig, type HostConfig } from '../core/ssh-config.js';
import { sequencesFileFor, stateFileFor, verifyStick, type StickLayout } from '../core/stick.js';
import { callhomeHelp } from './help.js';
import { FLAGS, parseCallhomeArgs, type CallhomeOptions } from './options.js';
import { Progress } from './progress.js';
import { checkSshRunnable, preloadSshRunner, runSsh, sshInvocation, type SshInvocation } from './ssh.js';
import { resolveMethod } from './method.js';
import type { SpaCallDeps } from './spa.js';

/** Everything callhome does to the outside world, replaceable in tests. */
export interface CallhomeDeps {
  readonly knocker: Knocker;
  readonly prober: Prober;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly resolveAddress: (hostName: string, family: 4 | 6) => Promise<Target>;
  readonly runSsh: (invocation: SshInvocation) => Promise<number>;
  /** Locks the stick's directory against other seqgen/callhome runs (lock.ts). */
  readonly lock: (dirs: readonly string[], options: LockOptions) => Promise<Lock>;
  /** The stick's files: read, replace atomically, and clear the temp files killed runs left. */
  readonly files: StickFiles;
  /** Throws when runSsh could not start this ssh at all; checked before knocking. Absent: not checked. */
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

export async function resolveAddress(hostName: string, family: 4 | 6): Promise<Target> {
  const literal = isIP(hostName);
  if (literal !== 0) {
    if (literal !== family) {
      throw new KnockstickError('USAGE', `HostName ${hostName} is an IPv${literal} address but callhome is using IPv${family}`, {
        hint: literal === 6 ? 'pass -6 (or AddressFamily inet6 in the stick config)' : 'drop -6',
      });
    }
    return { address: hostName, family };
  }
  try {
    const { address } = await lookup(hostName, { family });
    return { address, family };
  } catch (error) {
    throw new KnockstickError('IO', `cannot resolve ${hostName} to an IPv${family} address: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: 'check the network and the HostName in the stick\'s .ssh/config',
      cause: error,
    });
  }
}

export const callhomeDeps: CallhomeDeps = {
  knocker: netKnocker,
  prober: netProber,
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  resolveAddress,
  runSsh,
  lock: lockDirectories,
  files: realStickFiles,
  checkSsh: (invocation) => checkSshRunnable(invocation, process.env.PATH),
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

interface Tried {
  readonly candidate: Candidate;
  times: number;
}

/**
 * The pause between knocks for attempt `index` (0-based). The first attempt knocks almost back to
 * back, as knockd's own client does: fastest, and knockd's latency is what it is. Routers that
 * spread flows over several paths (ECMP, hashed on ports) can reorder packets sent microseconds
 * apart, and every knock goes to another port, so a retry is spaced out: if reordering broke the
 * first attempt, it cannot break the next ones.
 */
export const RETRY_GAP_MS = 20;
export function gapForAttempt(index: number, gapMs: number): number {
  return index === 0 ? gapMs : Math.max(gapMs, RETRY_GAP_MS);
}

/**
 * How a sequence is shown: by its line, length and protocols, never its ports, which are the
 * secret (anyone who reads an unused sequence off a screen or a log can open the door with it).
 * `showSecrets` (--show-secrets) adds the ports.
 */
export function describeKnocks(lineNo: number, sequence: Sequence, showSecrets: boolean): string {
  const protocols = [...new Set(sequence.map((k) => k.protocol))].join('+');
  return `sequence line ${lineNo} (${sequence.length} ports, ${protocols})${showSecrets ? `: ${formatSequence(sequence)}` : ''}`;
}

/** Sends one attempt: the clearing hits together, then the sequence with the gap. */
async function knockOnce(deps: CallhomeDeps, target: Target, candidate: Candidate, gapMs: number, log: (line: string) => void, showSecrets: boolean): Promise<void> {
  const { clearing, sequence } = attemptPackets(candidate.sequence);
  timing('knocking');
  // The clearing hits are the same packet several times: no order to keep, so all at once.
  await Promise.all(clearing.map((knock) => deps.knocker.send(target, knock)));
  log(`  cleared knockd's partial attempt with ${clearing.length} hits${showSecrets ? ` on ${formatSequence(clearing.slice(0, 1))}` : ''}`);
  for (const [i, knock] of sequence.entries()) {
    if (gapMs > 0) await deps.sleep(gapMs);
    await deps.knocker.send(target, knock);
    log(`  knock ${i + 1}/${sequence.length}: ${knock.protocol}${showSecrets ? ` ${knock.port}` : ''}`);
  }
}

function doorClosedError(host: HostConfig, target: Target, tried: readonly Tried[], refused: number, attempts: number): KnockstickError {
  const lines = tried.map((t) => `  line ${t.candidate.lineNo} (${describeOffset(t.candidate.offset)}): ${t.times} time(s)`);
  const causes = [
    `the server is down or unreachable from here${host.hostName === target.address ? '' : ` (${host.hostName} resolved to ${target.address}: is that still its address?)`}`,
    'knockd is not running on the server, for example after a panic lockdown (panic stops knockd until you restart it on the server)',
    ...(refused > 0 ? [`port ${host.port} answered with a refusal ${refused} time(s): the host is up, but sshd is down or a REJECT rule answers`] : []),
    `the stick is more than ${WINDOW} sequences out of step with the server (or the server is on its last one): run \`seqgen status\` where both files are reachable; \`seqgen repair\` heals any such shift`,
    `a very lossy network: try again, or with --attempts ${Math.min(50, attempts * 2)}`,
  ];
  return new KnockstickError(
    'DOOR_CLOSED',
    `the door at ${host.alias} (${target.address} port ${host.port}) did not open after ${attempts} attempt(s):\n` +
      `${lines.join('\n')}\n` +
      '("ahead": in case the server used sequences the stick never marked; "back": marked used on the stick, never confirmed)\n' +
      `Check:\n${causes.map((c) => `  - ${c}`).join('\n')}\nNothing was marked on the stick.`,
  );
}

export interface Opened {
  /** The door was still open from an earlier callhome: no sequence was spent. */
  readonly reused: boolean;
  readonly remaining: number;
}

/** What callhome works from: the stick's files, the host's settings, the address, the ssh command. */
export interface Prepared {
  readonly layout: StickLayout;
  readonly host: HostConfig;
  readonly target: Target;
  readonly sequencesFile: string;
  readonly stateFile: string;
  readonly ssh: SshInvocation;
}

export async function prepare(options: CallhomeOptions, deps: CallhomeDeps, err: Output): Promise<Prepared> {
  // A stick is a directory holding .ssh/config, never a home directory (stick.ts).
  const layout = await verifyStick(options.stickRoot, options.env ?? {});
  const host = await readHostConfig(layout.sshConfig, options.host);
  const sequencesFile = sequencesFileFor(layout, options.host);
  const family = options.ipv6 || host.addressFamily === 'inet6' ? 6 : 4;
  const target = await deps.resolveAddress(host.hostName, family);
  if (host.proxied) {
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

/**
 * Opens the door (or finds it still open) and records it on the stick. The caller holds the
 * stick's lock: callhome for its own run, seqgen --remote for its whole refill.
 */
export async function openDoor(
  prepared: Prepared,
  options: CallhomeOptions,
  deps: CallhomeDeps,
  context: Pick<CommandContext, 'stderr' | 'stderrIsTTY'>,
  /**
   * Called the moment the door is known open, before the stick records it: callhome starts ssh
   * here, so ssh's start-up overlaps the stick's fsyncs (the lock is held until they are done).
   */
  onOpen: (opened: Opened) => void = () => undefined,
): Promise<Opened> {
  const { host, target, sequencesFile, stateFile } = prepared;
  const err = context.stderr;
  const log = (line: string): void => {
    if (options.verbose) err.write(`${line}\n`);
  };
  const progress = new Progress(err, context.stderrIsTTY && !options.verbose);
  const removed = describeRemovedTemps(await deps.files.removeStaleTemps(prepared.layout.sshDir));
  if (removed !== undefined) err.write(`${removed}\n`);
  const loaded = parseLoadedFile(await deps.files.read(sequencesFile), sequencesFile, 'stick');
  if (!loaded.exists) {
    throw new KnockstickError('EXHAUSTED', `no sequence file at ${sequencesFile}`, { hint: 'run seqgen to make sequences for this host (seqgen --host ALIAS for other aliases)' });
  }
  // The stick records the knock only after the door opened: a planted link (.ssh -> ~/.ssh, a
  // symlinked sequence or state file) found then would cost a sequence, so refuse it now.
  await deps.files.refuseLinks(prepared.layout.root, [sequencesFile, stateFile]);
  const { state, warning } = parseCallhomeState(await deps.files.read(stateFile), stateFile);
  if (warning !== undefined) err.write(`warning: ${warning}\n`);

  if (doorMayBeOpen(state, deps.now(), options.doorWindowMs)) {
    const ago = ((deps.now() - (state.lastOpenedAt ?? 0)) / 1000).toFixed(1);
    progress.show(`checking whether the door opened ${ago} s ago is still open`);
    const check = await deps.prober.probe(target, host.port, { deadlineMs: options.precheckMs, intervalMs: options.probeIntervalMs });
    if (check.open) {
      progress.done(`the door opened ${ago} s ago is still open: connecting without spending a sequence`);
      const opened = { reused: true, remaining: planCandidates(loaded.file, state).unused };
      onOpen(opened);
      return opened;
    }
    log(`  the door opened ${ago} s ago is closed now`);
  }

  const plan = planCandidates(loaded.file, state);
  if (plan.unused <= 1) {
    throw new KnockstickError(
      'EXHAUSTED',
      plan.unused === 0
        ? `no unused sequence left in ${sequencesFile}`
        : `only the last unused sequence is left in ${sequencesFile}; knocking it would make knockd consume its last sequence, and knockd 0.8 crashes when it does`,
      { hint: refillAdvice(plan.unused, host.alias, prepared.layout.root) },
    );
  }
  const schedule = scheduleAttempts(plan.candidates, options.attempts);
  const tried = new Map<number, Tried>();
  let refused = 0;
  for (const [i, candidate] of schedule.entries()) {
    progress.show(`knocking at ${host.alias} (${target.address}), attempt ${i + 1}/${schedule.length}: line ${candidate.lineNo}, ${describeOffset(candidate.offset)}`);
    log(`attempt ${i + 1}/${schedule.length}: line ${candidate.lineNo}, ${describeOffset(candidate.offset)}`);
    await knockOnce(deps, target, candidate, gapForAttempt(i, options.gapMs), log, options.showSecrets === true);
    timing('knocked');
    progress.show(`waiting for port ${host.port} at ${host.alias} (attempt ${i + 1}/${schedule.length})`);
    const probing = deps.prober.probe(target, host.port, {
      deadlineMs: options.doorTimeoutMs,
      intervalMs: options.probeIntervalMs,
      onAttempt: (n, ms) => {
        if (options.verbose && (n < 3 || n % 50 === 0)) err.write(`  probe #${n} at +${ms} ms\n`);
      },
    });
    // ssh's runner (execa) loads while knockd opens the door, which takes it off the critical
    // path. Not before the first probe's SYN has left (setImmediate runs after the connect(2) of
    // attempt 0): that probe must go out before the door can open, or "answered at once" would no
    // longer mean the door was open before the knock.
    setImmediate(preloadSshRunner);
    const result = await probing;
    refused += result.refused;
    const entry = tried.get(candidate.lineNo) ?? { candidate, times: 0 };
    entry.times++;
    tried.set(candidate.lineNo, entry);
    if (!result.open) {
      log(`  no answer on port ${host.port} within ${options.doorTimeoutMs} ms`);
      continue;
    }
    timing('door open');
    const wasOpen = result.openedBy === 0;
    const record = recordSuccess(loaded.file, state, candidate, wasOpen, deps.now());
    progress.done(
      `door open after ${result.elapsedMs} ms (line ${candidate.lineNo}, ${describeOffset(candidate.offset)}` +
        `${i > 0 ? `, attempt ${i + 1}` : ''})` +
        (wasOpen ? '; it answered at once, so it may have been open already: the sequence is kept as unconfirmed' : ''),
    );
    const opened = { reused: false, remaining: plan.unused - record.markLines.length + record.unmarkLines.length };
    onOpen(opened);
    if (record.unmarkLines.length > 0) {
      log(`  knockd consumed line ${candidate.lineNo}, so it still expects the ${record.unmarkLines.length} line(s) after it: marking them unused again on the stick`);
    }
    try {
      if (record.markLines.length > 0 || record.unmarkLines.length > 0) {
        await deps.files.write(sequencesFile, unmarkUsed(markUsed(loaded.text, record.markLines), record.unmarkLines), prepared.layout.root);
      }
      await deps.files.write(stateFile, formatCallhomeState(record.state), prepared.layout.root);
    } catch (error) {
      // The door is open and knockd has consumed the sequence whatever we do now: refusing to
      // connect would not undo that. Say loudly what the stick failed to record, and carry on.
      err.write(
        `warning: the door is open, but the stick could not record it (${(error as Error).message}). ` +
          `The stick is now ${record.markLines.length > 0 ? `${record.markLines.length} behind` : 'out of step with'} the server; ` +
          `callhome catches up while that stays at most ${WINDOW}, and \`seqgen repair\` (where both files are reachable) heals any shift. ` +
          'Make the stick writable before the next callhome.\n',
      );
    }
    return opened;
  }
  progress.clear();
  throw doorClosedError(host, target, [...tried.values()], refused, schedule.length);
}

/** Below --warn-below unused sequences: says so, with the refill that still works from here (refill.ts). */
export function warnIfLow(opened: Opened, host: HostConfig, warnBelow: number, err: Output, stickRoot: string): void {
  if (opened.remaining < warnBelow) {
    err.write(
      `warning: only ${opened.remaining} unused sequence(s) left on the stick for ${host.alias}` +
        `${opened.remaining <= 1 ? ' (callhome refuses the last one)' : ''}; ${refillAdvice(opened.remaining, host.alias, stickRoot)}\n`,
    );
  }
}

export async function callhome(
  options: CallhomeOptions,
  deps: CallhomeDeps,
  context: Pick<CommandContext, 'stdout' | 'stderr' | 'stderrIsTTY'>,
  spa?: SpaCallDeps,
): Promise<number> {
  timing('callhome started');
  const prepared = await prepare(options, deps, context.stderr);
  const method = await resolveMethod(options, prepared.layout.sshDir);
  timing('prepared');
  // The SPA code (packet, rc file, crypto) loads only for SPA hosts: knocking is the common path.
  const spaModule = method === 'spa' ? await import('./spa.js') : undefined;
  if (options.dryRun && spaModule !== undefined) {
    await spaModule.dryRunSpa(prepared, options, context.stdout, [prepared.ssh.file, ...prepared.ssh.args].map(displayWord).join(' '));
    return ExitCode.OK;
  }
  if (options.dryRun) return dryRun(options, prepared, context.stdout, deps);
  if (!options.knockOnly) await deps.checkSsh?.(prepared.ssh);
  // ssh starts the moment the door is open; for knocking that is before the stick's record is
  // fsynced (under the lock, meanwhile), which takes ssh's start-up off the critical path. The
  // record is a bookkeeping of what knockd already did: connecting never depends on it.
  let session: Promise<number> | undefined;
  const startSsh = (opened: Opened): void => {
    warnIfLow(opened, prepared.host, options.warnBelow, context.stderr, prepared.layout.root);
    if (options.knockOnly) return;
    timing('door open, starting ssh');
    session = deps.runSsh(prepared.ssh);
    // Handled below, once the stick is written; until then a failure to start ssh must not count
    // as an unhandled rejection.
    session.catch(() => undefined);
  };
  // SPA consumes no sequence: no sequence file to lock, nothing to mark on the stick.
  if (spaModule !== undefined) startSsh(await spaModule.openDoorWithSpa(prepared, options, deps, spa ?? spaModule.spaCallDeps, context));
  else {
    const lock = await deps.lock([prepared.layout.sshDir], { waitSeconds: options.lockWaitSeconds });
    try {
      await openDoor(prepared, options, deps, context, startSsh);
    } finally {
      await lock.release();
    }
  }
  timing('marked on the stick, lock released');
  if (session === undefined) {
    context.stderr.write(`door open for ${prepared.host.alias}; run ssh -F ${prepared.layout.sshConfig} ${prepared.host.alias} within the server's cmd_timeout\n`);
    return ExitCode.OK;
  }
  return session;
}

async function dryRun(options: CallhomeOptions, prepared: Prepared, out: Output, deps: CallhomeDeps): Promise<number> {
  const { host, target, sequencesFile, stateFile, ssh } = prepared;
  const now = deps.now();
  const loaded = parseLoadedFile(await deps.files.read(sequencesFile), sequencesFile, 'stick');
  const { state } = parseCallhomeState(await deps.files.read(stateFile), stateFile);
  const plan = planCandidates(loaded.file, state);
  const lines = [`dry run: nothing is sent, nothing is changed`, `host ${host.alias}: ${host.hostName} = ${target.address}, port ${host.port}`];
  lines.push(`sequences: ${sequencesFile} (${plan.unused} unused)`);
  if (doorMayBeOpen(state, now, options.doorWindowMs)) lines.push(`would first check whether the door this stick opened recently is still open`);
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
  lines.push(options.knockOnly ? 'would not run ssh (--knock-only)' : `would run (in ${ssh.cwd}): ${[ssh.file, ...ssh.args].map(displayWord).join(' ')}`);
  out.write(`${lines.join('\n')}\n`);
  return ExitCode.OK;
}

