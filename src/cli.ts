// argv → command. The only place that prints errors and decides the exit code.

import { createRequire } from 'node:module';
import type { CommandContext, Output } from './core/command.js';
import { COMMANDS } from './commands.js';
import { ExitCode, InterruptedError, KnockstickError } from './core/errors.js';
import { cleanup, exitCodeFor, interrupt, interruptedBy, killChildrenNow, signalBelongsToChild, spokenName, type CleanupReport } from './core/interrupt.js';

export { COMMANDS, type CommandEntry } from './commands.js';

/**
 * The version in the package.json above this file: dist/cli.js (tsc output) and dist/bin/*.js (the
 * single-file bundles) sit at different depths, so look upwards for our package.json.
 */
declare const __KNOCKSTICK_VERSION__: string | undefined;

export function version(): string {
  if (typeof __KNOCKSTICK_VERSION__ === 'string') return __KNOCKSTICK_VERSION__;
  const require = createRequire(import.meta.url);
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(up) as { name?: string; version: string };
      if (pkg.name === 'knockstick') return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `knockstick ${version()}: reach your own machine over SSH when its firewall shows the world nothing.

Usage:
  knockstick COMMAND [options]
  knockstick help COMMAND       the command's help (the same as knockstick COMMAND --help)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Each command is also installed under its own name (seqgen, callhome, usbsetup, secureon, secureoff).

Options:
  -h, --help            this help
  -v, -V, --version     print knockstick's version (also after a command: \`knockstick seqgen -V\`)

Examples:
  knockstick seqgen 50 --server-file /etc/knockd/ssh --stick /mnt/secure
  knockstick seqgen status --stick /mnt/secure

Exit codes: 0 done, 1 unexpected error, 2 bad command line, 130 interrupted by Ctrl-C (143 by
SIGTERM: what the command had started is undone, one line says what); each command's --help lists
its own.
`;
}

export interface RunOptions {
  /** The command when invoked under its own name (bin "seqgen"); undefined for "knockstick". */
  readonly command?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly stdout?: Output;
  readonly stderr?: Output;
  readonly stderrIsTTY?: boolean;
  readonly stdoutIsTTY?: boolean;
}

/** Runs the CLI and returns the exit code. Never exits the process itself. */
export async function runCli(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const stdout = options.stdout ?? { write: (t: string) => void process.stdout.write(t) };
  const stderr = options.stderr ?? { write: (t: string) => void process.stderr.write(t) };
  let args = [...argv];
  let name = options.command;
  let invokedAs = name ?? 'knockstick';
  if (name === undefined) {
    const first = args[0];
    if (first === 'help' && args.length > 1) {
      // `knockstick help seqgen` is `knockstick seqgen --help`.
      args = [args[1] ?? '', '--help', ...args.slice(2)];
    } else if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      stdout.write(topHelp());
      return first === undefined ? ExitCode.USAGE : ExitCode.OK;
    }
    if (first === '--version' || first === '-V' || first === '-v') {
      stdout.write(`${version()}\n`);
      return ExitCode.OK;
    }
    name = args[0];
    args = args.slice(1);
    invokedAs = `knockstick ${name}`;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    stderr.write(`knockstick: unknown command ${JSON.stringify(name)}\nhint: \`knockstick --help\` lists the commands\n`);
    return ExitCode.USAGE;
  }
  // `callhome --version` and `knockstick callhome --version` too (the stick's launcher is the latter);
  // `-v` only where the command gives it no meaning of its own (callhome and spa: --verbose, as in ssh).
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V' || args[0] === '-v')) {
    const takesV = args[0] === '-v' && Object.values((await entry.load()).flags).some((f) => f.short === 'v');
    if (!takesV) {
      stdout.write(`${version()}\n`);
      return ExitCode.OK;
    }
  }
  const context: CommandContext = {
    args,
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
    stdout,
    stderr,
    stderrIsTTY: options.stderrIsTTY ?? (options.stderr === undefined && process.stderr.isTTY === true),
    stdoutIsTTY: options.stdoutIsTTY ?? (options.stdout === undefined && process.stdout.isTTY === true),
    invokedAs,
  };
  currentName = invokedAs;
  try {
    return await (await entry.load()).run(context);
  } catch (error) {
    // A signal: the signal path (main) kills, undoes, prints the one line and exits. Whatever the
    // command failed with meanwhile (often the signal's doing) stays out of that one line.
    if (interruptedBy() !== undefined) return exitCodeFor(interruptedBy() as NodeJS.Signals);
    if (error instanceof InterruptedError) {
      // Ctrl-C at a wizard's prompt: the command's own cleanup has run; whatever is left runs now.
      await cleanup.runAll();
      stderr.write(`${invokedAs}: ${error.message}; ${undoneText(cleanup.undone, cleanup.failed, 'nothing was written')}\n`);
      return error.exitCode;
    }
    if (error instanceof KnockstickError) {
      stderr.write(`${invokedAs}: ${error.message}\n`);
      // A bad command line always has somewhere to look.
      const hint = error.hint ?? (error.code === 'USAGE' ? `see \`${invokedAs} --help\`` : undefined);
      if (hint !== undefined) stderr.write(`hint: ${hint}\n`);
      return error.exitCode;
    }
    stderr.write(`${invokedAs}: unexpected error: ${(error as Error)?.stack ?? String(error)}\nPlease report this.\n`);
    return ExitCode.INTERNAL;
  }
}

/**
 * The process's stdout or stderr as an Output that never throws and never crashes the process when
 * the reader goes away. `callhome --dry-run | head` closes the pipe after one line: the next write
 * fails with EPIPE, which node reports as an 'error' event that, unhandled, kills the process with
 * a stack trace. A reader that stopped reading is not our failure: the rest of the output is
 * dropped and the command finishes with its own exit code (it may be in the middle of a change to
 * files, which must not be cut short by a closed pipe). Any other write error (EIO, ENOSPC on a
 * redirected file) is a failure to deliver the output: `onFailure` hears of it, once.
 */
export function processOutput(stream: NodeJS.WriteStream, onFailure: (error: NodeJS.ErrnoException) => void): Output {
  let closed = false;
  const fail = (error: NodeJS.ErrnoException): void => {
    if (closed) return;
    closed = true;
    if (error.code !== 'EPIPE') onFailure(error);
  };
  stream.on('error', fail);
  return {
    write: (text: string) => {
      if (closed) return;
      try {
        stream.write(text);
      } catch (error) {
        fail(error as NodeJS.ErrnoException);
      }
    },
  };
}

/** The running command's name, for the line the signal path prints. */
let currentName = 'knockstick';

/** "undid A, B" (and what could not be undone), or `nothing` when there was nothing to undo. */
function undoneText(undone: readonly string[], failed: CleanupReport['failed'], nothing: string): string {
  const parts = undone.length === 0 ? [nothing] : [`undone: ${undone.join(', ')}`];
  if (failed.length > 0) {
    parts.push(`could not undo ${failed.map((f) => `${f.label} (${((f.error as Error)?.message ?? String(f.error)).replace(/\s+/g, ' ')})`).join(', ')}`);
  }
  return parts.join('; ');
}

/**
 * Ctrl-C and SIGTERM, for every command: the children are killed and awaited, what the command
 * started is undone (interrupt.ts), one line says what, and we exit 130 (SIGINT) or 143 (SIGTERM).
 * While callhome's ssh has the terminal, Ctrl-C is ssh's (signalBelongsToChild).
 */
let running: Promise<number> = Promise.resolve(0);
let handling = false;
async function onSignal(signal: NodeJS.Signals): Promise<void> {
  // A second signal hurries the children (SIGKILL), but the undo still runs to its end: cut
  // short, it would leave a loop device or a mount behind.
  if (handling) {
    killChildrenNow();
    return;
  }
  handling = true;
  await interrupt(signal, running);
  process.stderr.write(`${spokenName(currentName)}: interrupted by ${signal}; ${undoneText(cleanup.undone, cleanup.failed, 'nothing to undo')}\n`);
  process.exit(exitCodeFor(signal));
}

/** Entry for the bin scripts: the only process.exit in the project. */
export async function main(command?: string): Promise<void> {
  let lostOutput: NodeJS.ErrnoException | undefined;
  const stderr = processOutput(process.stderr, () => undefined);
  const stdout = processOutput(process.stdout, (error) => {
    lostOutput ??= error;
  });
  let finished = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // Once the command has returned, its outcome stands: the process is only exiting.
      if (!finished && !signalBelongsToChild(signal)) void onSignal(signal);
    });
  }
  running = runCli(process.argv.slice(2), { command, stdout, stderr, stderrIsTTY: process.stderr.isTTY === true, stdoutIsTTY: process.stdout.isTTY === true });
  const code = await running;
  // Interrupted: onSignal is still killing and undoing, and exits when it is done.
  if (interruptedBy() !== undefined) return;
  finished = true;
  // A failed write is reported on a later tick: let it arrive before deciding the exit code.
  await new Promise((resolve) => setImmediate(resolve));
  // Output that never arrived (a full disk behind `> file`) must not look like success.
  if (lostOutput !== undefined && code === ExitCode.OK) {
    stderr.write(`${command ?? 'knockstick'}: cannot write to standard output: ${lostOutput.code ?? lostOutput.message}\n`);
    process.exitCode = ExitCode.IO;
    return;
  }
  process.exitCode = code;
}
