// argv → command. The only place that prints errors and decides the exit code.

import { createRequire } from 'node:module';
import type { Command, CommandContext, Output } from './core/command.js';
import { ExitCode, KnockstickError } from './core/errors.js';

/**
 * The commands, each loaded only when it runs: callhome is run every time the user wants in, and
 * loading the wizard, doctor and panic modules it never uses cost it about a tenth of a second.
 */
export interface CommandEntry {
  readonly name: string;
  /** One line for `knockstick --help`. */
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'callhome', summary: "knock the next sequence, check that SSH opened, connect with the stick's ssh config", load: async () => (await import('./callhome/index.js')).callhomeCommand },
  { name: 'doctor', summary: 'check the server (knockd, sequence files, firewall, sshd) and the stick, and say how to fix each problem', load: async () => (await import('./doctor/index.js')).doctorCommand },
  { name: 'seqgen', summary: 'add one-time knock sequences to the server file and the stick, in lockstep', load: async () => (await import('./seqgen/index.js')).seqgenCommand },
  { name: 'panic', summary: 'write, send or rotate the panic knock that stops knockd and closes every door', load: async () => (await import('./panic/index.js')).panicCommand },
  { name: 'server', summary: 'server init: knockd, firewall, sshd and systemd configs from templates, and the first sequences', load: async () => (await import('./server/index.js')).serverCommand },
  { name: 'spa', summary: 'fwknop-compatible single packet authorization: send a packet, make keys, check a packet', load: async () => (await import('./spa/index.js')).spaCommand },
  { name: 'usbsetup', summary: 'prepare an encrypted (LUKS) stick with a key, an ssh config, sequences and the callhome launcher', load: async () => (await import('./usbsetup/index.js')).usbsetupCommand },
  { name: 'secureon', summary: "open and mount the stick's encrypted volume", load: async () => (await import('./usbsetup/secure.js')).secureonCommand },
  { name: 'secureoff', summary: "unmount and close the stick's encrypted volume", load: async () => (await import('./usbsetup/secure.js')).secureoffCommand },
];

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

Exit codes: 0 done, 1 unexpected error, 2 bad command line; each command's --help lists its own.
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
    stderr.write(`knockstick: unknown command ${JSON.stringify(name)}\nRun \`knockstick --help\` for the list.\n`);
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
    invokedAs,
  };
  try {
    return await (await entry.load()).run(context);
  } catch (error) {
    if (error instanceof KnockstickError) {
      stderr.write(`${invokedAs}: ${error.message}\n`);
      if (error.hint !== undefined) stderr.write(`hint: ${error.hint}\n`);
      return error.exitCode;
    }
    stderr.write(`${invokedAs}: unexpected error: ${(error as Error)?.stack ?? String(error)}\nPlease report this.\n`);
    return ExitCode.INTERNAL;
  }
}

/** Entry for the bin scripts: the only process.exit in the project. */
export async function main(command?: string): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), { command });
}
