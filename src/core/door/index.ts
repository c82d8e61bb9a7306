// The door engine, shared by callhome, connect and seqgen --remote: prepare (stick, host, address),
// pick the method, take the stick's lock where sequences are spent, run the one door loop.

import type { CommandContext, Output } from '../command.js';
import type { DoorPolicy } from '../config.js';
import { refillAdvice } from '../refill.js';
import type { HostConfig } from '../ssh-config.js';
import { runDoorLoop, type DoorRun, type Opened } from './engine.js';
import { knockStrategy } from './knock-method.js';
import type { DoorMethod, DoorOptions } from './options.js';
import type { DoorDeps, Prepared } from './prepare.js';
import type { SpaCallDeps } from './spa-method.js';

export { DOOR_DEFAULTS, quietDoorOptions, type DoorMethod, type DoorOptions } from './options.js';
export { doorDeps, prepare, realStickFiles, type DoorDeps, type Prepared, type StickFiles } from './prepare.js';
export { resolveAddress } from './address.js';
export { resolveDoorSettings, type DoorSettings } from './settings.js';
export type { Opened } from './engine.js';

export interface OpenRequest extends Pick<DoorRun, 'keep' | 'report' | 'onOpen' | 'whileWaiting'> {
  readonly method: DoorMethod;
  readonly policy: DoorPolicy;
  /** The SPA sender and friends (tests); default: the real ones. */
  readonly spa?: SpaCallDeps | undefined;
}

type Context = Pick<CommandContext, 'stderr' | 'stderrIsTTY'>;

/**
 * Opens the door for `prepared` by its method, and records it on the stick. Knocking takes the
 * stick's lock for the whole of it (sequences are spent); SPA spends none and takes none.
 */
export async function openDoor(prepared: Prepared, options: DoorOptions, deps: DoorDeps, context: Context, request: OpenRequest): Promise<Opened> {
  if (request.method === 'spa') {
    // The SPA code (packet, rc file, crypto) loads only for SPA hosts: knocking is the common path.
    const spa = await import('./spa-method.js');
    const strategy = await spa.spaStrategy(prepared, options, deps, request.spa ?? spa.spaCallDeps, context);
    return runDoorLoop({ prepared, options, deps, context, ...request }, strategy);
  }
  const lock = await deps.lock([prepared.layout.sshDir], { waitSeconds: options.lockWaitSeconds });
  try {
    return await openDoorLocked(prepared, options, deps, context, request);
  } finally {
    await lock.release();
  }
}

/** Knocks with the stick's lock already held by the caller (seqgen --remote holds it for its refill). */
export async function openDoorLocked(prepared: Prepared, options: DoorOptions, deps: DoorDeps, context: Context, request: Omit<OpenRequest, 'method' | 'spa'>): Promise<Opened> {
  const strategy = await knockStrategy(prepared, options, deps, context);
  return runDoorLoop({ prepared, options, deps, context, ...request }, strategy);
}

/** Below `warnBelow` unused sequences: says so, with the refill that still works from here (refill.ts). */
export function warnIfLow(opened: Pick<Opened, 'remaining'>, host: HostConfig, warnBelow: number, err: Output, stickRoot: string): void {
  if (opened.remaining < warnBelow) {
    err.write(
      `warning: only ${opened.remaining} unused sequence(s) left on the stick for ${host.alias}` +
        `${opened.remaining <= 1 ? ' (callhome refuses the last one)' : ''}; ${refillAdvice(opened.remaining, host.alias, stickRoot)}\n`,
    );
  }
}
