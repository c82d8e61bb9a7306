// A member's knockd door as text: the stanza `stick add` writes, and knockd.conf with one stanza
// added or removed, everything else byte for byte. Pure.

import { usageError } from './errors.js';
import { cString, cTrim } from './knockd-reader.js';
import type { KnockdDoor } from './knockd-conf.js';
import { knockdValue, render } from './templates.js';

/** knockd's own check of a section header: "[" and "]" after its trim (ASCII blanks, NUL ends a line). */
function headerName(line: string): string | undefined {
  const t = cTrim(cString(line));
  return t.length >= 2 && t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1).trim() : undefined;
}

/** Router mode (server init --inner): its doors forward SSH to inner hosts (the same test as doctor's). */
export function isRouterDoor(door: KnockdDoor): boolean {
  return /KNOCKSTICK_DNAT|knockstick_nat|xt_recent\/knockstick_/.test(door.settings.get('start_command')?.value ?? '');
}

/**
 * A new member's stanza, from templates/knockd-door.conf: the firewall door, timeouts and
 * command are those of `model` (an existing member's door), so every member's door opens the
 * same way; only the name and the one-time file are its own.
 */
export function memberStanza(template: string, model: KnockdDoor, door: string, oneTimeFile: string): string {
  const get = (key: string): string => {
    const v = model.settings.get(key)?.value;
    if (v === undefined) throw usageError(`knockd.conf: [${model.name}] has no ${key}, so there is no door to copy for a new stick`, 'run knockstick doctor');
    return v;
  };
  return render(
    template,
    { name: door, sequences_file: oneTimeFile, seq_timeout: model.settings.get('seq_timeout')?.value ?? '25', start_command: get('start_command'), cmd_timeout: model.settings.get('cmd_timeout')?.value ?? '10' },
    knockdValue,
  );
}

/** `text` with `stanza` inserted before the [panic] section (at the end when there is none). */
export function withStanza(text: string, stanza: string): string {
  const lines = text.split('\n');
  const panic = lines.findIndex((l) => headerName(l) === 'panic');
  const block = stanza.replace(/^\n+/, '').replace(/\n+$/, '').split('\n');
  if (panic === -1) {
    const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
    return `${base}\n${block.join('\n')}\n`;
  }
  return [...lines.slice(0, panic), ...block, '', ...lines.slice(panic)].join('\n');
}

/** `text` without section [name] (its header down to the next header, and the blank lines before that). */
export function withoutStanza(text: string, name: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => headerName(l) === name);
  if (start === -1) return text;
  let end = lines.findIndex((l, i) => i > start && headerName(l) !== undefined);
  if (end === -1) end = lines.length;
  // The comment lines right above the next header belong to it (the panic stanza's, say): keep them.
  while (end - 1 > start && /^\s*#/.test(lines[end - 1] as string)) end--;
  let from = start;
  while (from > 0 && (lines[from - 1] as string).trim() === '') from--;
  const tail = end < lines.length ? ['', ...lines.slice(end)] : text.endsWith('\n') ? [''] : [];
  return [...lines.slice(0, from), ...(from === 0 ? tail.slice(1) : tail)].join('\n');
}
