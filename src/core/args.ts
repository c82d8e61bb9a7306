// Command-line parsing on node:util's parseArgs, with errors that say what to type instead.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandLine<T extends Options>(args: readonly string[], options: T, invokedAs: string) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError((error as Error).message.replace(/\. To specify a positional.*$/s, ''), `see \`${invokedAs} --help\``);
  }
}

/** A whole number in [min, max], or a usage error naming the flag. */
export function parseInteger(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw usageError(`${flag} must be a whole number, got ${JSON.stringify(text)}`);
  const value = Number(text.trim());
  if (value < min || value > max) throw usageError(`${flag} must be ${min}-${max}, got ${value}`);
  return value;
}

/** "LOW-HIGH" or a single port. */
export function parsePortRange(flag: string, text: string): { low: number; high: number } {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (match === null) throw usageError(`${flag} must look like LOW-HIGH (e.g. 1024-65535), got ${JSON.stringify(text)}`);
  const low = parseInteger(flag, match[1] ?? '', 1, 65535);
  const high = match[2] === undefined ? low : parseInteger(flag, match[2], 1, 65535);
  if (low > high) throw usageError(`${flag}: LOW must not exceed HIGH, got ${low}-${high}`);
  return { low, high };
}

/** "22,2222,60000-60010": ports and ranges, comma-separated. Empty items are refused. */
export function parsePortList(flag: string, text: string): number[] {
  const ports: number[] = [];
  for (const item of text.split(',')) {
    if (item.trim() === '') throw usageError(`${flag}: empty item in ${JSON.stringify(text)}`);
    const { low, high } = parsePortRange(flag, item);
    for (let p = low; p <= high; p++) ports.push(p);
  }
  return ports;
}
