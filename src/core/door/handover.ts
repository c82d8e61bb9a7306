// How callhome (or the stick's launcher) hands a run over to `knockstick connect`, which ssh starts
// as its ProxyCommand. ssh passes its environment on to the ProxyCommand but closes every file
// descriptor above 2, so two environment variables carry what the proxy needs:
//
//   KNOCKSTICK_CONNECT         JSON: callhome's door options (attempts, verbose, gap, -6, ...), the
//                              stick, and the name to prefix messages with ("callhome")
//   KNOCKSTICK_CONNECT_STATUS  a private directory (0700, made by callhome or the launcher) where the
//                              proxy leaves its exit code in "exit" when it fails before relaying:
//                              ssh itself can only say 255, callhome then exits with the proxy's
//                              code (7 door closed, 8 exhausted, ...) as it always did.
//
// Nothing here is a secret (the knock ports never leave the stick's files), and none of it goes
// through a shell: the ProxyCommand line holds only quoted paths and ssh's %n %h %p.

import { lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KnockstickError } from '../errors.js';
import type { DoorMethod, DoorOptions } from './options.js';
import type { DoorPolicy } from '../config.js';

export const CONNECT_OPTIONS_ENV = 'KNOCKSTICK_CONNECT';
export const CONNECT_STATUS_ENV = 'KNOCKSTICK_CONNECT_STATUS';
const STATUS_FILE = 'exit';

/** What callhome tells connect: every field optional, absent = connect's own default. */
export interface Handover {
  readonly name?: string;
  readonly stickRoot?: string;
  readonly verbose?: boolean;
  readonly showSecrets?: boolean;
  readonly ipv6?: boolean;
  readonly attempts?: number;
  readonly doorTimeoutMs?: number;
  readonly gapMs?: number;
  readonly probeIntervalMs?: number;
  readonly doorWindowMs?: number;
  readonly warnBelow?: number;
  readonly lockWaitSeconds?: number;
  readonly method?: DoorMethod;
  readonly doorPolicy?: DoorPolicy;
  /** Print the outcome lines even when stderr is no terminal (callhome always did). */
  readonly report?: boolean;
}

export function encodeHandover(handover: Handover): string {
  return JSON.stringify(handover);
}

const NUMBERS = ['attempts', 'doorTimeoutMs', 'gapMs', 'probeIntervalMs', 'doorWindowMs', 'warnBelow', 'lockWaitSeconds'] as const;
const BOOLEANS = ['verbose', 'showSecrets', 'ipv6', 'report'] as const;

/** Reads $KNOCKSTICK_CONNECT; a value that is not what callhome writes is a usage error, never ignored. */
export function decodeHandover(text: string | undefined): Handover {
  if (text === undefined || text === '') return {};
  const bad = (why: string): KnockstickError => new KnockstickError('USAGE', `$${CONNECT_OPTIONS_ENV} is not what callhome hands over: ${why}`, { hint: `unset ${CONNECT_OPTIONS_ENV}` });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw bad((error as Error).message);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad('not a JSON object');
  const record = data as Record<string, unknown>;
  for (const key of NUMBERS) if (record[key] !== undefined && !(Number.isSafeInteger(record[key]) && (record[key] as number) >= 0)) throw bad(`${key} must be a whole number`);
  for (const key of BOOLEANS) if (record[key] !== undefined && typeof record[key] !== 'boolean') throw bad(`${key} must be true or false`);
  for (const key of ['name', 'stickRoot'] as const) if (record[key] !== undefined && typeof record[key] !== 'string') throw bad(`${key} must be a string`);
  if (record.method !== undefined && record.method !== 'knock' && record.method !== 'spa') throw bad('method must be knock or spa');
  if (record.doorPolicy !== undefined && record.doorPolicy !== 'single-use' && record.doorPolicy !== 'window') throw bad('doorPolicy must be single-use or window');
  return record as Handover;
}

/** The door options callhome passes on (the rest is callhome's own business). */
export function handoverOf(options: DoorOptions, name: string): Handover {
  return {
    name,
    stickRoot: options.stickRoot,
    verbose: options.verbose,
    showSecrets: options.showSecrets === true,
    ipv6: options.ipv6,
    attempts: options.attempts,
    doorTimeoutMs: options.doorTimeoutMs,
    gapMs: options.gapMs,
    probeIntervalMs: options.probeIntervalMs,
    doorWindowMs: options.doorWindowMs,
    warnBelow: options.warnBelow,
    lockWaitSeconds: options.lockWaitSeconds,
    ...(options.method === undefined ? {} : { method: options.method }),
    ...(options.doorPolicy === undefined ? {} : { doorPolicy: options.doorPolicy }),
    report: true,
  };
}

/**
 * Leaves the proxy's exit code for callhome. The directory must be a real one of ours (callhome
 * made it 0700); the file is created exclusively, so nothing planted there is followed.
 */
export async function writeStatus(dir: string, code: number): Promise<void> {
  const info = await lstat(dir);
  if (!info.isDirectory() || (typeof process.getuid === 'function' && info.uid !== process.getuid()) || (info.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a private directory of this user`);
  }
  await writeFile(join(dir, STATUS_FILE), `${code}\n`, { flag: 'wx', mode: 0o600 });
}

/** The code the proxy left, or undefined when it left none (it relayed, or never ran). */
export async function readStatus(dir: string): Promise<number | undefined> {
  try {
    const text = (await readFile(join(dir, STATUS_FILE), 'utf8')).trim();
    return /^\d{1,3}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
