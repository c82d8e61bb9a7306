// seqgen's actions (generate, status, repair), and the typed calls server init and usbsetup make.
// Flow of a refill: read and validate both files → lockstep check (pure) → generate (pure, CSPRNG) →
// rewrite the stick atomically → append to the server → report. All under the lock.

import { rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { SERVER_CONFIG_PATH } from '../core/config.js';
import type { CommandContext } from '../core/command.js';
import { ExitCode, InvalidFileError, KnockstickError, ioError, usageError } from '../core/errors.js';
import {
  appendDurably,
  appendToTornLine,
  assertNotSymlink,
  assertPlainFileOrMissing,
  describeRemovedTemps,
  ensureDirectory,
  findStaleTempFiles,
  removeFiles,
  writeAtomically,
} from '../core/files.js';
import { cryptoRandom, DEFAULT_RANGE, generateSequences, type RandomSource } from '../core/generate.js';
import { withDirectoryLocks } from '../core/lock.js';
import { describeLockstep, healingOf, isHealthy, stickFix } from '../core/lockstep.js';
import { readCallhomeState } from '../core/callhome-state.js';
import { markUsed, unmarkUsed } from '../core/policy.js';
import { isLoose, loadPair, type LoadedPair } from '../core/sequence-store.js';
import { allSequenceKeys, formatLine, unusedLines, type Sequence } from '../core/sequences.js';
import { DEFAULT_HOST, sequencesFileFor, stateFileFor, stickLayout, verifyStick } from '../core/stick.js';
import { describeTorn } from './status.js';
import { drawForServerFile } from '../core/members-io.js';
import { reservedForSeqgen } from './reserved.js';
import { chooseLength, refuseUnlessWritable, serverSymlinkHint, withFinalNewline } from './rules.js';
import { DEFAULT_LOCK_WAIT_SECONDS, DEFAULT_WARN_BELOW, type SeqgenOptions } from './options.js';
import { buildStatus, formatStatus } from './status.js';

interface Paths {
  server: string;
  stick: string;
  /** The stick's root: the directories below it (.ssh) must be real ones, never symlinks. */
  stickRoot: string;
  /** --follow-symlink: the server file may be a symlink (knockd follows it too). */
  followSymlink: boolean;
  /** Directories this run created, deepest first: removed again if the run is refused. */
  created: string[];
}

/** The directories `dir` still lacks, itself first (what a recursive mkdir of it creates). */
async function missingDirectories(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let d = dir; dirname(d) !== d; d = dirname(d)) {
    try {
      await stat(d);
      return missing;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return missing;
      missing.push(d);
    }
  }
  return missing;
}

/**
 * A refused run leaves the disk as it found it, directories included. Only empty ones go (rmdir):
 * a file left in one (a failed rollback) keeps it and its parents.
 */
async function removeCreated(paths: Paths): Promise<void> {
  for (const dir of paths.created) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
  }
}

/** Runs `fn`; when it throws, the directories preparePaths created are removed again. */
async function undoDirectoriesOnFailure<T>(paths: Paths, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    await removeCreated(paths);
    throw error;
  }
}


/** Whether usbsetup runs us on the stick it is making (CommandContext.stickBeingMade). */
function isStickBeingMade(context: Pick<CommandContext, 'stickBeingMade'>, stickRoot: string): boolean {
  return context.stickBeingMade !== undefined && resolve(context.stickBeingMade) === resolve(stickRoot);
}

/** Checks the stick is there, makes the directories the files go in, and refuses one file for both. */
async function preparePaths(options: SeqgenOptions, create: boolean, context: Pick<CommandContext, 'env' | 'stickBeingMade'>): Promise<Paths> {
  // A stick is a directory holding the stick's .ssh/config, never a home directory (stick.ts):
  // without this, `seqgen 10` in any directory would make a .ssh/sequences there.
  const layout = await verifyStick(options.stickRoot, context.env, { making: isStickBeingMade(context, options.stickRoot) });
  const stickFile = sequencesFileFor(layout, options.host);
  if (stickFile === options.serverFile) {
    throw usageError(`--server-file and the stick's sequence file are the same file (${options.serverFile})`);
  }
  let created: string[] = [];
  if (create) {
    // Everything that could redirect a write is refused before the first directory is made.
    if (!options.followSymlink) await assertNotSymlink(options.serverFile, serverSymlinkHint());
    await assertPlainFileOrMissing(stickFile);
    created = [...new Set([...(await missingDirectories(layout.sshDir)), ...(await missingDirectories(dirname(options.serverFile)))])];
    created.sort((a, b) => b.length - a.length);
    const paths = { server: options.serverFile, stick: stickFile, stickRoot: layout.root, followSymlink: options.followSymlink, created };
    await undoDirectoriesOnFailure(paths, async () => {
      await ensureDirectory(layout.sshDir, { within: layout.root });
      await ensureDirectory(dirname(options.serverFile));
    });
  }
  return { server: options.serverFile, stick: stickFile, stickRoot: layout.root, followSymlink: options.followSymlink, created };
}

/** The directories to lock; missing ones (status on a missing side) are skipped. */
async function lockTargets(paths: Paths): Promise<string[]> {
  const dirs: string[] = [];
  for (const file of [paths.server, paths.stick]) {
    const dir = dirname(file);
    try {
      if ((await stat(dir)).isDirectory()) dirs.push(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('use directory', dir, error);
    }
  }
  return dirs;
}

/** The stale temp files of killed runs in the locked directories (call under the lock). */
async function staleTemps(dirs: readonly string[]): Promise<string[]> {
  return (await Promise.all(dirs.map((dir) => findStaleTempFiles(dir)))).flat();
}

/** Removes the stale temp files of killed runs (under the lock) and says so in one line. */
async function removeStaleTemps(dirs: readonly string[], context: CommandContext): Promise<void> {
  const line = describeRemovedTemps(await removeFiles(await staleTemps(dirs)));
  if (line !== undefined) context.stderr.write(`${line}\n`);
}

/** A torn server line stops every write but repair's: an append after it would seal it into knockd's file. */
function refuseIfTorn(pair: LoadedPair): void {
  if (pair.server.torn === undefined) return;
  throw new KnockstickError('OUT_OF_STEP', describeTorn(pair.server.torn, pair.server.file.path, pair.stick.file.path), {
    hint: pair.server.torn.repair.kind === 'by-hand' ? 'nothing was written' : 'run `seqgen repair`; nothing was written',
  });
}

/**
 * Writes `lines` to both sides: the stick first (atomic), then the server (append). If the server
 * append fails the stick is put back as it was, so a failure leaves both files unchanged.
 * The stick goes first because it is the side most likely to fail (yanked, full, read-only), and
 * its failure then has touched nothing.
 */
async function writeBoth(pair: LoadedPair, paths: Paths, stickLines: string, serverLines: string) {
  const stickOptions = { within: paths.stickRoot };
  if (stickLines !== '') await writeAtomically(paths.stick, withFinalNewline(pair.stick.text) + stickLines, stickOptions);
  try {
    return serverLines === '' ? undefined : await appendDurably(paths.server, serverLines, { followSymlink: paths.followSymlink, symlinkHint: serverSymlinkHint() });
  } catch (error) {
    if (stickLines !== '') {
      try {
        if (pair.stick.exists) await writeAtomically(paths.stick, pair.stick.text, stickOptions);
        else await unlink(paths.stick);
      } catch (rollbackError) {
        throw new KnockstickError(
          'IO',
          `${(error as Error).message}; and putting the stick file back failed too: ${(rollbackError as Error).message}`,
          { hint: `${paths.stick} has lines the server lacks; \`seqgen repair\` adds them once the server file is writable`, cause: error },
        );
      }
    }
    throw error;
  }
}

export async function generate(options: SeqgenOptions, count: number, context: CommandContext, rng: RandomSource): Promise<number> {
  // The stick, then the settings: a broken settings file must stop us before we create any directory.
  await verifyStick(options.stickRoot, context.env, { making: isStickBeingMade(context, options.stickRoot) });
  const reserved = await reservedForSeqgen(options.exclude, stickLayout(options.stickRoot), options.host, options.serverConfig);
  const paths = await preparePaths(options, !options.dryRun, context);
  const dirs = await lockTargets(paths);
  return undoDirectoriesOnFailure(paths, async () => withDirectoryLocks(dirs, { waitSeconds: options.waitSeconds }, async () => {
    if (!options.dryRun) await removeStaleTemps(dirs, context);
    const pair = await loadPair(paths.server, paths.stick);
    refuseIfTorn(pair);
    refuseUnlessWritable(pair.lockstep, pair.server.file, pair.stick.file);
    const length = chooseLength(options.length, pair.server.file, pair.stick.file);
    const avoid = new Set([...allSequenceKeys(pair.server.file), ...allSequenceKeys(pair.stick.file)]);
    // A member's door draws from its own pool, clear of every other door's ports (core/members.ts):
    // from the request (stick add, before the registry has it), else from the registry.
    const draw = options.draw ?? (await drawForServerFile(paths.server, options.serverConfig));
    const range = draw === undefined ? options.range : { low: Math.max(options.range.low, draw.range.low), high: Math.min(options.range.high, draw.range.high) };
    const exclude = draw === undefined ? reserved.ports : new Set([...reserved.ports, ...draw.exclude]);
    const sequences: Sequence[] = generateSequences(rng, { count, length, range, exclude, avoid });
    const text = sequences.map(formatLine).join('');
    const before = { server: unusedLines(pair.server.file).length, stick: unusedLines(pair.stick.file).length };

    let appended;
    if (!options.dryRun) appended = await writeBoth(pair, paths, text, text);

    const excluded = [...reserved.ports].filter((p) => p >= range.low && p <= range.high).length;
    const verb = options.dryRun ? 'Would add' : 'Added';
    context.stdout.write(
      `${verb} ${count} sequence(s) of ${length} ports (from ${range.low}-${range.high}${draw === undefined ? '' : ", this door's pool less the other doors' ports"}` +
        `${excluded > 0 ? `, ${excluded} port(s) excluded by ${reserved.sources.join(', ')}` : ''}) to both copies.\n` +
        `  server ${paths.server}: ${before.server} -> ${before.server + count} unused` +
        `${appended?.created ? ' (created, mode 0600)' : ''}${appended?.addedNewline ? ' (added the missing final newline first)' : ''}\n` +
        `  stick  ${paths.stick}: ${before.stick} -> ${before.stick + count} unused\n`,
    );
    if (pair.lockstep.state === 'drift') {
      const { state } = await readCallhomeState(stateFileFor(paths.stick));
      const healing = healingOf(pair.lockstep, pair.server.file, pair.stick.file, state);
      context.stderr.write(`${isHealthy(healing) ? 'note' : 'warning'}: ${describeLockstep(pair.lockstep, pair.server.file, pair.stick.file, healing)}\n`);
    }
    if (isLoose(pair.server.mode)) {
      context.stderr.write(
        `warning: ${paths.server} is readable or writable by others (mode 0${(pair.server.mode ?? 0).toString(8)}): ` +
          'anyone who can read it can open your door. Run chmod 600 on it.\n',
      );
    }
    return ExitCode.OK;
  }));
}

export async function status(options: SeqgenOptions, context: CommandContext): Promise<number> {
  try {
    const paths = await preparePaths(options, false, context);
    const dirs = await lockTargets(paths);
    return await withDirectoryLocks(dirs, { waitSeconds: options.waitSeconds }, async () => {
      const pair = await loadPair(paths.server, paths.stick);
      const { state } = await readCallhomeState(stateFileFor(paths.stick));
      // status only reports the temp files; it changes nothing.
      const report = buildStatus(pair, options.warnBelow, context.invokedAs.replace(/ status$/, ''), state, await staleTemps(dirs));
      context.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
      if (report.ok) return ExitCode.OK;
      return report.server.exists && report.stick.exists ? ExitCode.OUT_OF_STEP : ExitCode.IO;
    });
  } catch (error) {
    if (!options.json || !(error instanceof KnockstickError)) throw error;
    // With --json a script reads stdout: give it the failure there too, then fail the same way.
    const problems = error instanceof InvalidFileError ? error.problems : undefined;
    context.stdout.write(`${JSON.stringify({ ok: false, error: { code: error.code, message: error.message, problems } }, null, 2)}\n`);
    return error.exitCode;
  }
}

export async function repair(options: SeqgenOptions, context: CommandContext): Promise<number> {
  // Repair writes into the stick's .ssh (a stick getting its first copy of a server file too).
  const paths = await preparePaths(options, true, context);
  const dirs = await lockTargets(paths);
  return undoDirectoriesOnFailure(paths, async () => withDirectoryLocks(dirs, { waitSeconds: options.waitSeconds }, async () => {
    await removeStaleTemps(dirs, context);
    let pair = await loadPair(paths.server, paths.stick);
    const done: string[] = [];
    // 1. A torn last server line, healed by appending only (torn.ts); then everything is read again.
    const torn = pair.server.torn;
    if (torn !== undefined) {
      if (torn.repair.kind === 'by-hand') refuseIfTorn(pair);
      else {
        await appendToTornLine(paths.server, Buffer.byteLength(pair.server.text), torn.line.text, torn.repair.append, { followSymlink: paths.followSymlink, symlinkHint: serverSymlinkHint() });
        done.push(
          torn.repair.kind === 'complete'
            ? `completed the torn ${paths.server} line ${torn.line.lineNo} from ${paths.stick} line ${torn.repair.stickLine} (appended ${Buffer.byteLength(torn.repair.append)} byte(s))`
            : `neutralised the torn ${paths.server} line ${torn.line.lineNo}, which matches no stick line: appended a port knockd refuses and a blank line, so knockd skips it`,
        );
        pair = await loadPair(paths.server, paths.stick);
      }
    }
    // 2. The lockstep. Drift of any size is undone on the stick only, never in knockd's file.
    const lockstep = pair.lockstep;
    if (lockstep.state === 'drift') {
      const fix = stickFix(lockstep.stickAhead, pair.server.file, pair.stick.file);
      if (fix === undefined) {
        throw new KnockstickError('OUT_OF_STEP', describeLockstep(lockstep, pair.server.file, pair.stick.file), {
          hint: `compare the two files; ${done.length > 0 ? done.join('; ') : 'nothing was written'}`,
        });
      }
      const text = fix.action === 'mark' ? markUsed(pair.stick.text, fix.lines) : unmarkUsed(pair.stick.text, fix.lines);
      await writeAtomically(paths.stick, text);
      const d = Math.abs(lockstep.stickAhead);
      done.push(
        fix.action === 'mark'
          ? `marked ${d} line(s) used on ${paths.stick} that knockd had already used`
          : `marked ${d} line(s) unused again on ${paths.stick} that knockd never consumed (it still accepts them)`,
      );
    } else if (lockstep.state === 'tail-missing') {
      const source = lockstep.side === 'server' ? pair.stick.file : pair.server.file;
      const tail = unusedLines(source).slice(-lockstep.missing);
      const text = tail.map((l) => formatLine(l.sequence)).join('');
      if (lockstep.side === 'server') await writeBoth(pair, paths, '', text);
      else await writeBoth(pair, paths, text, '');
      done.push(`copied ${tail.length} sequence(s) from ${source.path} to ${lockstep.side === 'server' ? paths.server : paths.stick}`);
    } else if (lockstep.state === 'mismatch') {
      throw new KnockstickError('OUT_OF_STEP', describeLockstep(lockstep, pair.server.file, pair.stick.file), {
        hint: `compare the two files; ${done.length > 0 ? `done so far: ${done.join('; ')}` : 'nothing was written'}`,
      });
    }
    if (done.length === 0) {
      context.stdout.write(`Nothing to repair: ${describeLockstep(lockstep, pair.server.file, pair.stick.file)}\n`);
      return ExitCode.OK;
    }
    const after = await loadPair(paths.server, paths.stick);
    context.stdout.write(`Repaired: ${done.join('; ')}.\nNow ${describeLockstep(after.lockstep, after.server.file, after.stick.file)}\n`);
    return after.lockstep.state === 'in-step' ? ExitCode.OK : ExitCode.OUT_OF_STEP;
  }));
}

/**
 * A refill (or repair) of both sides as server init and usbsetup ask for it: typed, and a failure
 * is a thrown KnockstickError, never an exit code to drop.
 */
export interface LockstepRequest {
  readonly serverFile: string;
  readonly stickRoot: string;
  /** The ssh alias whose stick file it is (default "home": .ssh/sequences). */
  readonly host?: string;
  /** The server's settings (panic ports to exclude); default /etc/knockstick/server.conf. */
  readonly serverConfig?: string;
  readonly followSymlink?: boolean;
  /** Check only: refuses exactly as the real run would, writes nothing. */
  readonly dryRun?: boolean;
  /** A member's door (stick add): the range and ports its sequences draw from (core/members.ts memberDraw). */
  readonly draw?: SeqgenOptions['draw'];
}

function requestOptions(request: LockstepRequest, action: SeqgenOptions['action'], cwd: string): SeqgenOptions {
  return {
    action,
    host: request.host ?? DEFAULT_HOST,
    serverFile: resolve(cwd, request.serverFile),
    remote: false,
    remoteServerFile: request.serverFile,
    sudo: false,
    stickRoot: resolve(cwd, request.stickRoot),
    length: undefined,
    range: DEFAULT_RANGE,
    exclude: new Set(),
    serverConfig: resolve(cwd, request.serverConfig ?? SERVER_CONFIG_PATH),
    waitSeconds: DEFAULT_LOCK_WAIT_SECONDS,
    dryRun: request.dryRun === true,
    warnBelow: DEFAULT_WARN_BELOW,
    json: false,
    followSymlink: request.followSymlink === true,
    ...(request.draw === undefined ? {} : { draw: request.draw }),
  };
}

/** Adds `count` new sequences to both sides in lockstep (seqgen COUNT). */
export async function addSequences(count: number, request: LockstepRequest, context: CommandContext): Promise<void> {
  await generate(requestOptions(request, { kind: 'generate', count }, context.cwd), count, context, cryptoRandom);
}

/** Brings both sides into step (seqgen repair); anything short of in step is an OUT_OF_STEP error. */
export async function repairSequences(request: LockstepRequest, context: CommandContext): Promise<void> {
  const code = await repair(requestOptions(request, { kind: 'repair' }, context.cwd), context);
  if (code !== ExitCode.OK) {
    throw new KnockstickError('OUT_OF_STEP', `seqgen repair left ${request.stickRoot} and ${request.serverFile} out of step`, { hint: 'run `seqgen status` on both to see where' });
  }
}
