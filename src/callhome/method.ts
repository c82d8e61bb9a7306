// How a host's door opens: --method, else `method` in the stick's knockstick.conf for this alias,
// else knocking. Its own module so that callhome loads the SPA code only for SPA hosts.

import { join } from 'node:path';
import { STICK_CONFIG_NAME, readConfig, settingsFor } from '../core/config.js';
import type { CallhomeOptions } from './options.js';

export type DoorMethod = 'knock' | 'spa';

export async function resolveMethod(options: Pick<CallhomeOptions, 'method' | 'host'>, sshDir: string): Promise<DoorMethod> {
  if (options.method !== undefined) return options.method;
  const config = await readConfig(join(sshDir, STICK_CONFIG_NAME), 'stick');
  return settingsFor(config, options.host).method ?? 'knock';
}
