// connect: ssh's ProxyCommand. Opens the door as callhome does, then relays ssh's bytes through the
// connection that found it open. Flow: options (flags, callhome's hand-over) → stick, host, address
// → method and door policy → lock → knock or SPA, probe keeping the winning connection → relay
// starts (ssh's handshake overlaps the stick's fsyncs) → mark used, unlock → relay to its end.

import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Command, CommandContext } from '../core/command.js';
import { ExitCode, KnockstickError } from '../core/errors.js';
import { speakAs, takeSignals } from '../core/interrupt.js';
import { timing } from '../core/timing.js';
import { doorDeps, openDoor, prepare, resolveDoorSettings, warnIfLow, type DoorDeps, type Opened, type Prepared } from '../core/door/index.js';
import { writeStatus } from '../core/door/handover.js';
import type { SpaCallDeps } from '../core/door/spa-method.js';
import { connectHelp } from './help.js';
import { FLAGS, parseConnectArgs, type ConnectOptions } from './options.js';
import { relay, standardEndpoints } from './relay.js';

export interface ConnectDeps extends DoorDeps {
  /** Relays ssh's stdin/stdout through `connection` (undefined: the prober kept none, so dial again). */
  readonly relay: (connection: Socket | undefined, prepared: Prepared) => Promise<void>;
}

export const connectDeps: ConnectDeps = {
  ...doorDeps,
  relay: async (connection, prepared) => {
    const socket = connection ?? (await dial(prepared));
    // ssh is done with us (SIGHUP when it exits, SIGINT with the terminal's Ctrl-C): end quietly.
    const release = takeSignals(['SIGHUP', 'SIGINT', 'SIGPIPE'], () => socket.destroy());
    try {
      await relay(socket, standardEndpoints());
    } finally {
      release();
    }
  },
};

/** A fresh connection, for a test double's prober that kept none. */
function dial(prepared: Prepared): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket({ allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
    socket.connect({ host: prepared.target.address, port: prepared.host.port, family: prepared.target.family });
  });
}

export const connectCommand: Command = {
  name: 'connect',
  help: connectHelp,
  flags: FLAGS,
  async run(context) {
    const options = parseConnectArgs(context.args, context);
    if (options.help) {
      context.stdout.write(connectHelp(context.invokedAs));
      return ExitCode.OK;
    }
    if (options.statusDir === undefined) return connect(options, connectDeps, context);
    speakAs(options.name);
    try {
      return await connect(options, connectDeps, context);
    } catch (error) {
      return handOverFailure(error, options, context);
    }
  },
};

/**
 * callhome started ssh, and waits for its exit: say what failed as callhome would, leave the code
 * where callhome reads it, then end ssh quietly (SIGINT: no "Connection closed" lines, and shells
 * print nothing for it), so that the one message on the terminal is ours.
 */
async function handOverFailure(error: unknown, options: ConnectOptions, context: Pick<CommandContext, 'stderr'>): Promise<number> {
  let code: number = ExitCode.INTERNAL;
  if (error instanceof KnockstickError) {
    code = error.exitCode;
    context.stderr.write(`${options.name}: ${error.message}\n`);
    const hint = error.hint ?? (error.code === 'USAGE' ? `see \`${options.name} --help\`` : undefined);
    if (hint !== undefined) context.stderr.write(`hint: ${hint}\n`);
  } else {
    context.stderr.write(`${options.name}: unexpected error: ${(error as Error)?.stack ?? String(error)}\nPlease report this.\n`);
  }
  try {
    await writeStatus(options.statusDir as string, code);
    if (parentIsSsh()) process.kill(process.ppid, 'SIGINT');
  } catch {
    // No status for callhome: it reports ssh's 255, after our message.
  }
  return code;
}

/** Whether our parent is ssh (Linux: /proc; elsewhere we do not know, and leave it alone). */
function parentIsSsh(): boolean {
  try {
    return readFileSync(`/proc/${process.ppid}/comm`, 'utf8').trim() === 'ssh';
  } catch {
    return false;
  }
}

export async function connect(
  options: ConnectOptions,
  deps: ConnectDeps,
  context: Pick<CommandContext, 'stderr' | 'stderrIsTTY'>,
  spa?: SpaCallDeps,
): Promise<number> {
  timing('connect started');
  const prepared = await prepare({ ...options, ssh: 'ssh', sshArgs: [] }, deps, context.stderr);
  const settings = await resolveDoorSettings(options, prepared.layout.root);
  timing('prepared');
  let relaying: Promise<void> | undefined;
  const onOpen = (opened: Opened): void => {
    warnIfLow(opened, prepared.host, options.warnBelow, context.stderr, prepared.layout.root);
    timing('door open, relaying');
    relaying = deps.relay(opened.connection, prepared);
    // Awaited below, once the stick is written; until then its failure is no unhandled rejection.
    relaying.catch(() => undefined);
  };
  await openDoor(prepared, options, deps, context, { ...settings, keep: true, report: options.report || context.stderrIsTTY, onOpen, spa });
  timing('marked on the stick, lock released');
  try {
    await relaying;
  } catch (error) {
    throw new KnockstickError('IO', `the door at ${prepared.host.alias} opened, but the connection to ${prepared.target.address} port ${prepared.host.port} failed: ${(error as Error).message}`, { cause: error });
  }
  return ExitCode.OK;
}
