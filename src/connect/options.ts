// connect's command line (and callhome's hand-over in the environment) → options. Pure.
// Precedence: flags, then $KNOCKSTICK_CONNECT (callhome's own flags), then the defaults.

import { resolve } from 'node:path';
import { parseCommandLine, parseInteger } from '../core/args.js';
import { usageError } from '../core/errors.js';
import { DOOR_DEFAULTS, type DoorOptions } from '../core/door/options.js';
import { CONNECT_OPTIONS_ENV, CONNECT_STATUS_ENV, decodeHandover } from '../core/door/handover.js';
import { isValidHostAlias, LAUNCHER_ENV, STICK_ENV } from '../core/stick.js';

export interface ConnectOptions extends DoorOptions {
  readonly help: boolean;
  /** Where ssh resolved the alias to (%h %p): wins over the stick config's HostName and Port. */
  readonly connectTo: { readonly hostName: string; readonly port: number } | undefined;
  /** The name to prefix messages with: "callhome" when callhome started ssh, else ours. */
  readonly name: string;
  /** Print the outcome lines even when stderr is not a terminal (callhome always did). */
  readonly report: boolean;
  /** callhome's private directory for our exit code ($KNOCKSTICK_CONNECT_STATUS), if any. */
  readonly statusDir: string | undefined;
}

export const FLAGS = {
  stick: { type: 'string' },
  method: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  'show-secrets': { type: 'boolean' },
  ipv6: { type: 'boolean', short: '6' },
  attempts: { type: 'string' },
  'door-timeout': { type: 'string' },
  gap: { type: 'string' },
  'probe-interval': { type: 'string' },
  'door-window': { type: 'string' },
  wait: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/** A host as ssh hands it (%h): a name or an address, never an option. */
const HOST = /^[A-Za-z0-9._:[\]-]+$/;

export function parseConnectArgs(args: readonly string[], context: { env: NodeJS.ProcessEnv; cwd: string; invokedAs: string }): ConnectOptions {
  const { values, positionals } = parseCommandLine(args, FLAGS, context.invokedAs);
  const handover = decodeHandover(context.env[CONNECT_OPTIONS_ENV]);
  const help = values.help === true;
  if (!help && (positionals.length !== 1 && positionals.length !== 3)) {
    throw usageError(
      positionals.length === 0 ? 'connect needs the ssh alias: connect ALIAS [HOST PORT]' : `expected ALIAS or ALIAS HOST PORT, got ${positionals.length} arguments`,
      "it is ssh's ProxyCommand: ProxyCommand '/path/to/stick/knockstick' connect %n %h %p",
    );
  }
  const [alias = 'home', hostName, portText] = positionals;
  if (!isValidHostAlias(alias)) throw usageError(`ALIAS must be an alias from the stick's ssh config (letters, digits, . _ -), got ${JSON.stringify(alias)}`);
  if (hostName !== undefined && (!HOST.test(hostName) || hostName.startsWith('-'))) throw usageError(`HOST must be a host name or address, got ${JSON.stringify(hostName)}`);
  const port = portText === undefined ? undefined : parseInteger('PORT', portText, 1, 65535);
  if (values['show-secrets'] === true && values.verbose !== true) throw usageError('--show-secrets goes with --verbose (it makes it print the knock ports)');
  const method = values.method ?? handover.method;
  if (method !== undefined && method !== 'knock' && method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(method)}`);
  const int = (flag: keyof typeof values, fallback: number, min: number, max: number): number => {
    const text = values[flag];
    return typeof text === 'string' ? parseInteger(`--${flag}`, text, min, max) : fallback;
  };
  // The stick: --stick, else the one callhome named, else the launcher's own (ssh started us
  // through the stick's `knockstick`), else $KNOCKSTICK_STICK, else the current directory.
  const stick = values.stick ?? nonEmpty(handover.stickRoot) ?? nonEmpty(context.env[LAUNCHER_ENV]) ?? nonEmpty(context.env[STICK_ENV]) ?? '.';
  return {
    help,
    host: alias,
    connectTo: hostName === undefined || port === undefined ? undefined : { hostName: hostName.replace(/^\[(.*)\]$/, '$1'), port },
    stickRoot: resolve(context.cwd, stick),
    verbose: values.verbose === true || handover.verbose === true,
    showSecrets: values['show-secrets'] === true || handover.showSecrets === true,
    ipv6: values.ipv6 === true || handover.ipv6 === true,
    attempts: int('attempts', handover.attempts ?? DOOR_DEFAULTS.attempts, 1, 50),
    doorTimeoutMs: int('door-timeout', handover.doorTimeoutMs ?? DOOR_DEFAULTS.doorTimeoutMs, 50, 60_000),
    gapMs: int('gap', handover.gapMs ?? DOOR_DEFAULTS.gapMs, 0, 2000),
    probeIntervalMs: int('probe-interval', handover.probeIntervalMs ?? DOOR_DEFAULTS.probeIntervalMs, 1, 1000),
    doorWindowMs: typeof values['door-window'] === 'string' ? parseInteger('--door-window', values['door-window'], 0, 3600) * 1000 : handover.doorWindowMs ?? DOOR_DEFAULTS.doorWindowSeconds * 1000,
    precheckMs: DOOR_DEFAULTS.precheckMs,
    warnBelow: handover.warnBelow ?? DOOR_DEFAULTS.warnBelow,
    lockWaitSeconds: int('wait', handover.lockWaitSeconds ?? DOOR_DEFAULTS.lockWaitSeconds, 0, 3600),
    method,
    doorPolicy: handover.doorPolicy,
    env: context.env,
    name: nonEmpty(handover.name) ?? context.invokedAs,
    report: handover.report === true,
    statusDir: nonEmpty(context.env[CONNECT_STATUS_ENV]),
  };
}
