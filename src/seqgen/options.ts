// seqgen's command line → a plain options object. Pure.

import { resolve } from 'node:path';
import { parseCommandLine, parseInteger, parsePortList, parsePortRange } from '../core/args.js';
import { usageError } from '../core/errors.js';
import { SERVER_CONFIG_PATH } from '../core/config.js';
import { DEFAULT_RANGE, type PortRange } from '../core/generate.js';
import { MAX_SEQUENCE_LENGTH } from '../core/sequences.js';
import { DEFAULT_HOST, isValidHostAlias, resolveStickRoot } from '../core/stick.js';

export const DEFAULT_SERVER_FILE = '/etc/knockd/ssh';
export const DEFAULT_WARN_BELOW = 10;
/**
 * The same as callhome's: each waits for the other, and a callhome holds the lock while it knocks and
 * waits for the door (up to 6 attempts of 2 s by default), longer than the 10 s this once was.
 */
export const DEFAULT_LOCK_WAIT_SECONDS = 30;
/** The largest COUNT accepted in one run; a typo of a few extra digits should not fill a disk. */
export const MAX_COUNT = 100_000;

export type SeqgenAction =
  | { readonly kind: 'generate'; readonly count: number }
  | { readonly kind: 'status' }
  | { readonly kind: 'repair' }
  | { readonly kind: 'help' };

export interface SeqgenOptions {
  readonly action: SeqgenAction;
  readonly serverFile: string;
  /**
   * Whether --server-file was given. Without it, the stick's knockstick.conf `server_file` for the
   * alias (written by `knockstick stick add`) names the file, else /etc/knockd/ssh.
   */
  readonly serverFileGiven?: boolean;
  /** Whether --ports was given; without it the stick's knockstick.conf `ports` for the alias applies. */
  readonly portsGiven?: boolean;
  /** --remote: refill the server over ssh (in through callhome's ProxyCommand). */
  readonly remote: boolean;
  /** The server file as given (a path on the server), for --remote. */
  readonly remoteServerFile: string;
  /** --remote: prefix server commands with `sudo -n` unless the ssh user is root (--no-sudo: never). */
  readonly sudo: boolean;
  readonly stickRoot: string;
  /** The ssh config alias whose stick file to use: "home" → .ssh/sequences, X → .ssh/sequences.X. */
  readonly host: string;
  /** Undefined: the length already used by the files, else the default. */
  readonly length: number | undefined;
  readonly range: PortRange;
  readonly exclude: ReadonlySet<number>;
  /** The server's knockstick settings (panic ports etc.), read if present. */
  readonly serverConfig: string;
  readonly waitSeconds: number;
  readonly dryRun: boolean;
  readonly warnBelow: number;
  readonly json: boolean;
  /**
   * --follow-symlink: append to the server file even when it is a symlink (knockd follows it too).
   * Without it a symlinked server file is refused: a planted link must not redirect our append.
   */
  readonly followSymlink: boolean;
  /** Set by stick add for a new member's door: where its ports come from (core/members.ts memberDraw). */
  readonly draw?: { readonly range: PortRange; readonly exclude: ReadonlySet<number> } | undefined;
}

export const FLAGS = {
  'server-file': { type: 'string' },
  remote: { type: 'boolean' },
  'no-sudo': { type: 'boolean' },
  stick: { type: 'string' },
  host: { type: 'string' },
  length: { type: 'string' },
  ports: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  'server-config': { type: 'string' },
  wait: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'warn-below': { type: 'string' },
  json: { type: 'boolean' },
  'follow-symlink': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseSeqgenArgs(
  args: readonly string[],
  context: { env: NodeJS.ProcessEnv; cwd: string; invokedAs: string },
): SeqgenOptions {
  const { values, positionals } = parseCommandLine(args, FLAGS, context.invokedAs);
  const remote = values.remote === true;
  // `seqgen 50 --remote office`: with --remote, a second word names the host alias.
  const remoteHost = remote && positionals.length === 2 ? positionals[1] : undefined;
  const action = parseAction(values.help === true, remoteHost === undefined ? positionals : positionals.slice(0, 1), context.invokedAs);
  const only = (flags: ReadonlyArray<keyof typeof values>, kinds: ReadonlyArray<SeqgenAction['kind']>): void => {
    for (const flag of flags) {
      if (values[flag] !== undefined && !kinds.includes(action.kind)) {
        throw usageError(`--${flag} does not apply to \`${context.invokedAs} ${action.kind === 'generate' ? 'COUNT' : action.kind}\``);
      }
    }
  };
  only(['length', 'ports', 'exclude', 'dry-run'], ['generate', 'help']);
  only(['warn-below', 'json'], ['status', 'help']);
  only(['remote', 'no-sudo'], ['generate', 'help']);
  only(['follow-symlink'], ['generate', 'repair', 'help']);
  if (values['no-sudo'] === true && !remote) throw usageError('--no-sudo only applies with --remote');
  if (remote && values['dry-run'] === true) throw usageError('--dry-run cannot be combined with --remote (getting in spends a sequence)');
  if (remoteHost !== undefined && values.host !== undefined && values.host !== remoteHost) {
    throw usageError(`two hosts given: ${JSON.stringify(remoteHost)} and --host ${JSON.stringify(values.host)}`);
  }

  const exclude = new Set<number>();
  for (const list of values.exclude ?? []) for (const port of parsePortList('--exclude', list)) exclude.add(port);

  const host = remoteHost ?? values.host ?? DEFAULT_HOST;
  if (!isValidHostAlias(host)) throw usageError(`--host must be an alias of the stick's ssh config (letters, digits, . _ -), got ${JSON.stringify(host)}`);
  return {
    action,
    host,
    serverFile: resolve(context.cwd, values['server-file'] ?? DEFAULT_SERVER_FILE),
    serverFileGiven: values['server-file'] !== undefined,
    portsGiven: values.ports !== undefined,
    remote,
    remoteServerFile: values['server-file'] ?? DEFAULT_SERVER_FILE,
    sudo: values['no-sudo'] !== true,
    stickRoot: resolveStickRoot({ flag: values.stick, env: context.env, cwd: context.cwd }),
    length: values.length === undefined ? undefined : parseInteger('--length', values.length, 1, MAX_SEQUENCE_LENGTH),
    range: values.ports === undefined ? DEFAULT_RANGE : parsePortRange('--ports', values.ports),
    exclude,
    serverConfig: resolve(context.cwd, values['server-config'] ?? SERVER_CONFIG_PATH),
    waitSeconds: values.wait === undefined ? DEFAULT_LOCK_WAIT_SECONDS : parseInteger('--wait', values.wait, 0, 3600),
    dryRun: values['dry-run'] === true,
    warnBelow: values['warn-below'] === undefined ? DEFAULT_WARN_BELOW : parseInteger('--warn-below', values['warn-below'], 0, MAX_COUNT),
    json: values.json === true,
    followSymlink: values['follow-symlink'] === true,
  };
}

function parseAction(help: boolean, positionals: readonly string[], invokedAs: string): SeqgenAction {
  if (help) return { kind: 'help' };
  if (positionals.length === 0) {
    throw usageError('missing COUNT (how many sequences to add) or `status`', `e.g. \`${invokedAs} 50\`; see \`${invokedAs} --help\``);
  }
  if (positionals.length > 1) throw usageError(`unexpected argument ${JSON.stringify(positionals[1])}`, `see \`${invokedAs} --help\``);
  const word = positionals[0] as string;
  if (word === 'status') return { kind: 'status' };
  if (word === 'repair') return { kind: 'repair' };
  if (!/^\d+$/.test(word)) {
    throw usageError(`expected COUNT, \`status\` or \`repair\`, got ${JSON.stringify(word)}`, `see \`${invokedAs} --help\``);
  }
  return { kind: 'generate', count: parseInteger('COUNT', word, 1, MAX_COUNT) };
}
