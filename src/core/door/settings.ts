// How a host's door opens and what it admits: the flags, else the stick's knockstick.conf for this
// alias, else knocking through a window door (what every server before single-use doors has).

import type { DoorPolicy } from '../config.js';
import { readConfig, settingsFor } from '../config.js';
import { stickLayout } from '../stick.js';
import type { DoorMethod, DoorOptions } from './options.js';

export interface DoorSettings {
  readonly method: DoorMethod;
  readonly policy: DoorPolicy;
}

export async function resolveDoorSettings(options: Pick<DoorOptions, 'method' | 'doorPolicy' | 'host'>, stickRoot: string): Promise<DoorSettings> {
  if (options.method !== undefined && options.doorPolicy !== undefined) return { method: options.method, policy: options.doorPolicy };
  const settings = settingsFor(await readConfig(stickLayout(stickRoot).settings, 'stick'), options.host);
  return { method: options.method ?? settings.method ?? 'knock', policy: options.doorPolicy ?? settings.doorPolicy ?? 'window' };
}
