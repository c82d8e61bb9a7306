// What the door engine needs to know, whoever runs it: callhome (its flags), connect (the
// environment callhome hands it, or the defaults when plain ssh starts it), seqgen --remote.

import type { DoorPolicy } from '../config.js';

export const DOOR_DEFAULTS = {
  attempts: 6,
  doorTimeoutMs: 2000,
  gapMs: 1,
  probeIntervalMs: 5,
  doorWindowSeconds: 10,
  precheckMs: 1000,
  warnBelow: 10,
  lockWaitSeconds: 30,
} as const;

export type DoorMethod = 'knock' | 'spa';

export interface DoorOptions {
  /** The ssh config alias. */
  readonly host: string;
  readonly stickRoot: string;
  readonly verbose: boolean;
  /** --show-secrets: --verbose and --dry-run print the knock ports (otherwise never printed). */
  readonly showSecrets?: boolean | undefined;
  readonly ipv6: boolean;
  readonly attempts: number;
  readonly doorTimeoutMs: number;
  readonly gapMs: number;
  readonly probeIntervalMs: number;
  readonly doorWindowMs: number;
  readonly precheckMs: number;
  readonly warnBelow: number;
  readonly lockWaitSeconds: number;
  /** How to open the door; undefined = the stick's knockstick.conf `method`, else knock. */
  readonly method?: DoorMethod | undefined;
  /** What the door admits; undefined = the stick's knockstick.conf `door_policy`, else window. */
  readonly doorPolicy?: DoorPolicy | undefined;
  /** The environment, for the stick check ($HOME, SUDO_USER: a home directory is never a stick). */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/**
 * The door as a command that only needs a connection opens it (seqgen --remote, stick add
 * --remote): the defaults, quiet, no low-sequence warning (those commands say it themselves).
 */
export function quietDoorOptions(o: { env: NodeJS.ProcessEnv; host: string; stickRoot: string; lockWaitSeconds: number }): DoorOptions & { ssh: string; sshArgs: readonly string[] } {
  return {
    env: o.env,
    host: o.host,
    sshArgs: [],
    stickRoot: o.stickRoot,
    verbose: false,
    ipv6: false,
    attempts: DOOR_DEFAULTS.attempts,
    doorTimeoutMs: DOOR_DEFAULTS.doorTimeoutMs,
    gapMs: DOOR_DEFAULTS.gapMs,
    probeIntervalMs: DOOR_DEFAULTS.probeIntervalMs,
    doorWindowMs: DOOR_DEFAULTS.doorWindowSeconds * 1000,
    precheckMs: DOOR_DEFAULTS.precheckMs,
    warnBelow: 0,
    lockWaitSeconds: o.lockWaitSeconds,
    ssh: 'ssh',
  };
}
