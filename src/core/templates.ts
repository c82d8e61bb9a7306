// The one renderer for files under templates/: "{{name}}" placeholders, each value passed through
// the escaper of the file's language (shell quoting for scripts, knockd-safe values for
// knockd.conf). A placeholder without a value, or a value without a placeholder, is a bug.

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usageError } from './errors.js';
import { cTrim } from './knockd-reader.js';
import { describeChar } from './names.js';

/** templates/ at the package root (next to dist/ and src/). */
export const TEMPLATES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates');

export async function loadTemplate(name: string): Promise<string> {
  return readFile(join(TEMPLATES_DIR, name), 'utf8');
}

export function render(template: string, values: Readonly<Record<string, string>>, escape: (value: string, name: string) => string): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([a-z_]+)\}\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    used.add(name);
    return escape(value, name);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`template has no placeholder for ${unused.join(', ')}`);
  return out;
}

/**
 * A value for knockd.conf. knockd reads "key = value" lines and trims the value, so a value with
 * a line break would smuggle in another directive, and surrounding blanks would be lost.
 */
export function knockdValue(value: string, name: string): string {
  // Commands check their flags first and name them; these are refusals (exit 2), never a crash,
  // for a value that slips through. "Blanks" are knockd's: ASCII only (a no-break space is text).
  const bad = /[\p{Cc}]/u.exec(value)?.[0];
  if (bad !== undefined) throw usageError(`${name}: a knockd.conf value cannot contain ${/[\r\n]/.test(bad) ? 'a line break, ' : ''}${describeChar(bad)}`);
  if (value !== cTrim(value) || value === '') throw usageError(`${name}: a knockd.conf value cannot be empty or start or end with blanks`);
  return value;
}
