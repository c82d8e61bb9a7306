// Host names, addresses and user names that come from flags or config files. A value that starts
// with "-" is an option to every program it reaches (ssh, nc, knock, python's argv in the panic
// script): `--host=-pi` was accepted and `sh panic` then reported a knock "sent to -pi" that never
// left the machine. Blanks and control characters split words and lines in the files we write.
// Refused everywhere, with the flag and the character named. Pure.

import { usageError } from './errors.js';

/** "U+000A (line feed)" style name of a character, for messages. */
export function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  const names: Record<number, string> = { 0: 'NUL', 9: 'tab', 10: 'line feed', 13: 'carriage return', 32: 'space', 127: 'DEL', 0xa0: 'no-break space', 0xfeff: 'byte-order mark' };
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return names[code] === undefined ? (code < 32 ? `${hex} (a control character)` : `"${ch}"`) : `${hex} (${names[code]})`;
}

/** The first blank or control character of `value` (ASCII, Latin-1 and Unicode blanks), if any. */
export function firstBlankOrControl(value: string): string | undefined {
  return /[\s\p{Cc}\p{Cf}]/u.exec(value)?.[0];
}

/** Why `value` cannot be a host name, address or user name, or undefined when it can. */
export function nameProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (value.startsWith('-')) return 'starts with "-", so every program it is passed to would read it as an option';
  const bad = firstBlankOrControl(value);
  if (bad !== undefined) return `contains ${describeChar(bad)}`;
  return undefined;
}

/** `value` when it may be a host name or address; else a usage error naming `source` (a flag, a file:line). */
export function checkHostName(value: string, source: string): string {
  const problem = nameProblem(value);
  if (problem !== undefined) throw usageError(`${source} ${problem}: ${JSON.stringify(value)} is not a host name or address`);
  return value;
}

/** `value` when it may be a user name; else a usage error naming `source`. */
export function checkUserName(value: string, source: string): string {
  const problem = nameProblem(value);
  if (problem !== undefined) throw usageError(`${source} ${problem}: ${JSON.stringify(value)} is not a user name`);
  return value;
}
