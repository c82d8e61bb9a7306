// seqgen COUNT --remote: refill from afar. Gets in as callhome does, then over that one ssh
// connection reads the server's knockd file, checks it against the stick, appends the new lines,
// reads it back to verify, and only then appends them to the stick. The server goes first so the
// stick is never left ahead with sequences the server lacks; at worst the server has a tail the
// stick lacks, which the message explains.
//
// One ssh master connection carries every step (ControlMaster, socket in a private temp dir), and
// it is started with callhome's ProxyCommand (knockstick connect): the proxy knocks and hands ssh
// the very connection that found the door open, so a single-use door (which admits exactly one
// connection) lets it in as a window door does; an established connection survives the door
// closing. The proxy takes and releases the stick's lock itself while it knocks, so this run takes
// the lock only once the master is up, and reads both files afresh under it (another callhome may
// have spent a sequence in between).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { doorDeps, prepare, quietDoorOptions, resolveDoorSettings, type DoorDeps, type DoorOptions, type Prepared } from '../core/door/index.js';
import { handoverOf, type Handover } from '../core/door/handover.js';
import { makeStatusDir, proxiedConnectTimeout, proxiedSsh, thisProgram, withProxyHandover } from '../core/door/proxied.js';
import type { SshInvocation } from '../core/door/ssh-command.js';
import type { CommandContext } from '../core/command.js';
import { ExitCode, InvalidFileError, KnockstickError } from '../core/errors.js';
import { cleanup } from '../core/interrupt.js';
import { runAllowingFailure } from '../core/run.js';
import { writeAtomically } from '../core/files.js';
import { generateSequences, type RandomSource } from '../core/generate.js';
import { withDirectoryLocks } from '../core/lock.js';
import { lockstepOf } from '../core/lockstep.js';
import { activeMembers, parseRegistry } from '../core/members.js';
import { loadSequenceFile } from '../core/sequence-store.js';
import { allSequenceKeys, formatLine, parseSequenceFile, unusedLines } from '../core/sequences.js';
import { shellCommand } from '../core/shell.js';
import type { SeqgenOptions } from './options.js';
import { reservedForSeqgen } from './reserved.js';
import { chooseLength, refuseUnlessWritable, serverSymlinkHint, withFinalNewline } from './rules.js';
import { describeTorn } from './status.js';
import { planTornRepair, splitTornLine } from '../core/torn.js';

/** What --remote does to the outside world beyond the door engine's, replaceable in tests. */
export interface RemoteDeps extends DoorDeps {
  /** The words that start this knockstick (node and its bundle), for the ProxyCommand. */
  readonly program: () => readonly string[];
  /** A private (0700) directory for the proxy's exit code; removed once the master is up. */
  readonly statusDir: () => Promise<string>;
}

export const remoteDeps: RemoteDeps = { ...doorDeps, program: thisProgram, statusDir: makeStatusDir };

function doorOptions(options: SeqgenOptions, env: NodeJS.ProcessEnv): DoorOptions & { ssh: string; sshArgs: readonly string[] } {
  return quietDoorOptions({ env, host: options.host, stickRoot: options.stickRoot, lockWaitSeconds: options.waitSeconds });
}

export interface Remote {
  /** Runs a command (words, quoted for the remote shell) over the master connection. */
  run(words: readonly string[], input?: string): Promise<string>;
}

/**
 * Starts the master connection through the ProxyCommand. Returns the proxy's own exit code when it
 * failed before relaying (its message, callhome's, is already out: door closed 7, exhausted 8...).
 */
export async function connect(prepared: Prepared, proxied: SshInvocation, handover: Handover, connectTimeout: number, controlDir: string, deps: RemoteDeps): Promise<Remote | number> {
  const socket = join(controlDir, 'master');
  const { file, cwd } = proxied;
  const alias = prepared.host.alias;
  const control = ['-o', `ControlPath=${socket}`];
  // The ssh invocation callhome would run, without its remote command (its last word is the alias).
  const masterBase = proxied.args.slice(0, -1);
  // Every later ssh goes through the master's socket only. Should that fail, ssh would connect by
  // itself: ProxyCommand=false makes that fail at once instead of knocking (spending a sequence)
  // or waiting on a door that drops it.
  const base = [...prepared.ssh.args.slice(0, -1), '-o', 'ProxyCommand=false'];
  // -f: ssh authenticates (the key's passphrase prompt is on this terminal), then goes to the
  // background. No ControlPersist: with it ssh sends its ProxyCommand's stderr to /dev/null, and
  // the proxy's messages (door open, or why not) must reach this terminal. The cleanup stack ends
  // the master on every way out (a SIGKILLed seqgen leaves it until the connection drops).
  // ConnectTimeout: through the proxy it bounds the wait for the banner, knocking included.
  // stdout ignored: the backgrounded master would hold a captured one open.
  const { result: master, proxyCode } = await withProxyHandover(handover, deps.statusDir, (env) =>
    runAllowingFailure({
      file,
      args: [...masterBase, ...control, '-o', 'ControlMaster=yes', '-o', `ConnectTimeout=${connectTimeout}`, '-N', '-f', alias],
      purpose: `connect to ${alias}`,
      cwd,
      env,
      stdin: 'terminal',
      stdout: 'ignore',
      stderr: 'terminal',
    }),
  );
  if (master.exitCode !== 0) {
    // The proxy failed before relaying: its message is out, its code is ours (as callhome's).
    if (proxyCode !== undefined) return proxyCode;
    throw new KnockstickError('IO', `ssh to ${alias} failed (exit ${master.exitCode}); the door was open, nothing was written`);
  }
  // Closed by the cleanup stack, whatever the way out: the master must not linger.
  cleanup.push(`closed the ssh connection to ${alias}`, async () => {
    await runAllowingFailure({ file, args: [...base, ...control, '-O', 'exit', alias], purpose: `close the connection to ${alias}`, cwd, stdout: 'ignore' });
  });
  return {
    async run(words, input) {
      const result = await runAllowingFailure({
        file,
        args: [...base, ...control, '-o', 'ControlMaster=no', alias, shellCommand(words)],
        purpose: `run \`${words.join(' ')}\` on ${alias}`,
        cwd,
        stdin: input ?? '',
        // The file's bytes exactly: a final newline matters (appending after a line without one merges them).
        keepFinalNewline: true,
      });
      if (result.exitCode !== 0) {
        const stderr = result.stderr.trim();
        const sudo = /sudo:.*(password|terminal) is required/.test(stderr);
        throw new KnockstickError('IO', `on ${alias}, \`${words.join(' ')}\` failed: ${stderr || `exit ${result.exitCode}`}`, {
          hint: sudo
            ? 'sudo on the server asks for a password, and seqgen only uses `sudo -n` (it never types your password over this connection). ' +
              'Allow exactly these commands without a password in sudoers, e.g. ' +
              '`you ALL=(root) NOPASSWD: /usr/bin/stat -c %F -- /etc/knockd/ssh, /usr/bin/cat -- /etc/knockd/ssh, /usr/bin/tee -a -- /etc/knockd/ssh`, or log in as root'
            : undefined,
        });
      }
      return result.stdout;
    },
  };
}

export async function remoteGenerate(options: SeqgenOptions, count: number, context: CommandContext, rng: RandomSource, deps: RemoteDeps): Promise<number> {
  const remotePath = options.remoteServerFile;
  if (!remotePath.startsWith('/')) throw new KnockstickError('USAGE', `with --remote, --server-file must be an absolute path on the server, got ${JSON.stringify(remotePath)}`);
  const chOptions = doorOptions(options, context.env);
  const prepared = await prepare(chOptions, deps, context.stderr);
  const settings = await resolveDoorSettings(chOptions, prepared.layout.root);
  const sudo = options.sudo && prepared.host.user !== 'root' ? ['sudo', '-n'] : [];
  const where = `${prepared.host.alias}:${remotePath}`;

  // Refuse a broken stick (its sequences, its settings) or a missing ssh before the proxy spends a
  // sequence. Read without the lock: the files are replaced atomically, and everything the refill
  // decides on is read again under the lock below.
  await loadSequenceFile(prepared.sequencesFile, 'stick');
  // The server's own settings file is on the server; the stick's carries the same panic ports.
  const reserved = await reservedForSeqgen(options.exclude, prepared.layout, options.host, undefined);
  const proxied = proxiedSsh('ssh', [], prepared, deps.program());
  await deps.checkSsh?.(proxied);
  // The proxy opens the door by the stick's method and policy, as callhome's would; no low-sequence
  // warning (warnBelow 0): this run is the refill it would name.
  const handover = { ...handoverOf(chOptions, context.invokedAs), method: settings.method, doorPolicy: settings.policy };

  const mark = cleanup.mark();
  try {
    const controlDir = await mkdtemp(join(tmpdir(), 'knockstick-ssh-'));
    cleanup.push(`removed ${controlDir}`, () => rm(controlDir, { recursive: true, force: true }));
    const remote = await connect(prepared, proxied, handover, proxiedConnectTimeout(chOptions), controlDir, deps);
    if (typeof remote === 'number') return remote;
    // Not held while the proxy knocked (it took the lock itself: holding it across would deadlock).
    return await withDirectoryLocks([prepared.layout.sshDir], { waitSeconds: options.waitSeconds }, () =>
      refill(remote, { options, count, context, rng, prepared, sudo, where, reservedPorts: reserved.ports }),
    );
  } finally {
    // Closes the master connection, then removes its socket's directory (on Ctrl-C too).
    await cleanup.runAll(mark);
  }
}

interface RefillRun {
  readonly options: SeqgenOptions;
  readonly count: number;
  readonly context: CommandContext;
  readonly rng: RandomSource;
  readonly prepared: Prepared;
  readonly sudo: readonly string[];
  readonly where: string;
  readonly reservedPorts: ReadonlySet<number>;
}

/**
 * The ports of the other sticks' pools on the server (sticks.conf next to the server file, or in
 * /etc/knockstick), kept out of this refill. A member stick's own `ports` already keep it in its
 * pool; the first stick (member `ssh`, whose pool is every port no other pool has) knows no pools,
 * and would otherwise draw ports of another stick's door. Best effort: a registry that cannot be
 * read (a narrow sudo rule, none there) excludes nothing, as before members.
 */
async function otherPoolsOnServer(remote: Remote, sudo: readonly string[], remotePath: string): Promise<Set<number>> {
  const slash = remotePath.lastIndexOf('/');
  const nextTo = `${slash <= 0 ? '' : remotePath.slice(0, slash)}/sticks.conf`;
  for (const path of new Set([nextTo, '/etc/knockstick/sticks.conf'])) {
    let text: string;
    try {
      // stat first: cat would wait forever on a FIFO.
      if ((await remote.run([...sudo, 'stat', '-c', '%F', '--', path])).trim() !== 'regular file') continue;
      text = await remote.run([...sudo, 'cat', '--', path]);
    } catch {
      continue;
    }
    const { registry, problems } = parseRegistry(text, path);
    if (problems.length > 0) continue;
    const ports = new Set<number>();
    for (const m of activeMembers(registry)) {
      if (m.oneTimeFile === remotePath || m.pool?.kind !== 'ranges') continue;
      for (const r of m.pool.ranges) for (let p = r.low; p <= r.high; p++) ports.add(p);
    }
    return ports;
  }
  return new Set();
}

/** The refill itself, under the stick's lock, from fresh reads of both files. */
async function refill(remote: Remote, run: RefillRun): Promise<number> {
  const { options, count, context, rng, prepared, sudo, where } = run;
  const remotePath = options.remoteServerFile;
  // What is at the path, before cat (which would wait forever on a FIFO) and tee -a (which
  // would follow a planted symlink). stat -c %F does not follow links; with -L it does.
  const kind = (await remote.run([...sudo, 'stat', ...(options.followSymlink ? ['-L'] : []), '-c', '%F', '--', remotePath])).trim();
  if (kind === 'symbolic link') {
    throw new KnockstickError('IO', `${where} is a symbolic link: refusing to append through it; nothing was written`, { hint: serverSymlinkHint() });
  }
  if (kind !== 'regular file' && kind !== 'regular empty file') {
    throw new KnockstickError('IO', `${where} is a ${kind}, not a regular file; nothing was written`, { hint: 'point --server-file at knockd\'s one_time_sequences file' });
  }
  const serverText = await remote.run([...sudo, 'cat', '--', remotePath]);
  const server = parseSequenceFile(serverText, where, 'server');
  const stick = await loadSequenceFile(prepared.sequencesFile, 'stick');
  // A torn last line (an append cut short) must not be sealed into knockd's file by our append;
  // only a whole line missing its "\n" is fine (tee gets the "\n" first, below).
  const split = splitTornLine(serverText);
  if (split.torn !== null) {
    const repair = planTornRepair(split.torn, parseSequenceFile(split.complete, where, 'server').file, stick.file);
    if (!(repair.kind === 'complete' && repair.append === '\n')) {
      throw new KnockstickError('OUT_OF_STEP', describeTorn({ line: split.torn, repair }, where, prepared.sequencesFile), {
        hint: 'run `seqgen repair` on the server with the stick mounted (repair is not done over ssh); nothing was written',
      });
    }
  }
  if (server.problems.length > 0) throw new InvalidFileError(server.problems, 'fix the server file first; nothing was written');
  refuseUnlessWritable(lockstepOf(server.file, stick.file), server.file, stick.file);
  const length = chooseLength(options.length, server.file, stick.file);
  const avoid = new Set([...allSequenceKeys(server.file), ...allSequenceKeys(stick.file)]);
  const exclude = new Set([...run.reservedPorts, ...(await otherPoolsOnServer(remote, sudo, remotePath))]);
  const lines = generateSequences(rng, { count, length, range: options.range, exclude, avoid }).map(formatLine).join('');

  // Server first: append with tee -a (a narrow sudo rule can allow exactly that), then sync.
  const newline = serverText !== '' && !serverText.endsWith('\n') ? '\n' : '';
  await remote.run([...sudo, 'tee', '-a', '--', remotePath], newline + lines).then(() => remote.run(['sync']));
  const after = await remote.run([...sudo, 'cat', '--', remotePath]);
  if (after !== serverText + newline + lines) {
    throw new KnockstickError(
      'IO',
      `${where} does not read back as expected after the append; the stick was NOT changed`,
      { hint: `check ${remotePath} on the server (it may now have lines the stick lacks: compare with \`seqgen status\` there)` },
    );
  }
  await writeAtomically(prepared.sequencesFile, withFinalNewline(stick.text) + lines, { within: prepared.layout.root });
  const unused = unusedLines(parseSequenceFile(after, where, 'server').file).length;
  context.stdout.write(
    `Added ${count} sequence(s) of ${length} ports to ${where} (over ssh, verified) and to ${prepared.sequencesFile}; ` +
      `${unused} unused on each side.\n`,
  );
  return ExitCode.OK;
}
