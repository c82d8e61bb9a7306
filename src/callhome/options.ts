// callhome's command line → options. Pure.

import { parseCommandLine, parseInteger } from '../core/args.js';
import { usageError } from '../core/errors.js';
import { DEFAULT_HOST, isValidHostAlias, resolveStickRoot } from '../core/stick.js';
import { DOOR_DEFAULTS, type DoorOptions } from '../core/door/options.js';

export const DEFAULTS = DOOR_DEFAULTS;

export interface CallhomeOptions extends DoorOptions {
  readonly help: boolean;
  readonly sshArgs: readonly string[];
  readonly dryRun: boolean;
  readonly knockOnly: boolean;
  readonly ssh: string;
}

export const FLAGS = {
  stick: { type: 'string' },
  'dry-run': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'show-secrets': { type: 'boolean' },
  'knock-only': { type: 'boolean' },
  ipv6: { type: 'boolean', short: '6' },
  attempts: { type: 'string' },
  'door-timeout': { type: 'string' },
  gap: { type: 'string' },
  'probe-interval': { type: 'string' },
  'door-window': { type: 'string' },
  'warn-below': { type: 'string' },
  wait: { type: 'string' },
  ssh: { type: 'string' },
  method: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Splits at the first "--": what follows goes to ssh untouched. */
function splitSshArgs(args: readonly string[]): [readonly string[], readonly string[]] {
  const at = args.indexOf('--');
  return at === -1 ? [args, []] : [args.slice(0, at), args.slice(at + 1)];
}

export function parseCallhomeArgs(args: readonly string[], context: { env: NodeJS.ProcessEnv; cwd: string; invokedAs: string }): CallhomeOptions {
  const [own, sshArgs] = splitSshArgs(args);
  const { values, positionals } = parseCommandLine(own, FLAGS, context.invokedAs);
  if (values['show-secrets'] === true && values.verbose !== true && values['dry-run'] !== true) {
    throw usageError('--show-secrets goes with --verbose or --dry-run (it makes them print the knock ports)');
  }
  if (positionals.length > 1) {
    throw usageError(`unexpected argument ${JSON.stringify(positionals[1])}`, 'arguments for ssh go after "--", e.g. callhome home -- uptime');
  }
  const host = positionals[0] ?? DEFAULT_HOST;
  if (!isValidHostAlias(host)) throw usageError(`HOST must be an alias from the stick's ssh config (letters, digits, . _ -), got ${JSON.stringify(host)}`);
  const method = values.method;
  if (method !== undefined && method !== 'knock' && method !== 'spa') throw usageError(`--method must be knock or spa, got ${JSON.stringify(method)}`);
  // A program name: control characters there are a pasting accident, never a real ssh client.
  if (values.ssh !== undefined && (values.ssh === '' || /[\u0000-\u001f\u007f]/.test(values.ssh))) {
    throw usageError(`--ssh must name the ssh client program, got ${JSON.stringify(values.ssh)}`);
  }
  const int = (flag: keyof typeof values, fallback: number, min: number, max: number): number => {
    const text = values[flag];
    return typeof text === 'string' ? parseInteger(`--${flag}`, text, min, max) : fallback;
  };
  return {
    help: values.help === true,
    host,
    sshArgs,
    stickRoot: resolveStickRoot({ flag: values.stick, env: context.env, cwd: context.cwd }),
    dryRun: values['dry-run'] === true,
    verbose: values.verbose === true,
    showSecrets: values['show-secrets'] === true,
    knockOnly: values['knock-only'] === true,
    ipv6: values.ipv6 === true,
    attempts: int('attempts', DEFAULTS.attempts, 1, 50),
    doorTimeoutMs: int('door-timeout', DEFAULTS.doorTimeoutMs, 50, 60_000),
    gapMs: int('gap', DEFAULTS.gapMs, 0, 2000),
    probeIntervalMs: int('probe-interval', DEFAULTS.probeIntervalMs, 1, 1000),
    doorWindowMs: int('door-window', DEFAULTS.doorWindowSeconds, 0, 3600) * 1000,
    precheckMs: DEFAULTS.precheckMs,
    warnBelow: int('warn-below', DEFAULTS.warnBelow, 0, 100_000),
    lockWaitSeconds: int('wait', DEFAULTS.lockWaitSeconds, 0, 3600),
    ssh: values.ssh ?? 'ssh',
    method,
    env: context.env,
  };
}
