// The ProxyCommand callhome hands ssh: `'NODE' 'BUNDLE' connect %n %h %p`. ssh expands %-tokens
// in it, then runs it with /bin/sh -c, so every word we put in is shell-quoted and its "%" doubled:
// a stick mounted at "/media/it's 100%" must stay one path.

import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { shellQuote } from '../shell.js';

/** One word for a ProxyCommand line: quoted for sh, "%" escaped for ssh. */
export function proxyWord(word: string): string {
  return shellQuote(word).replace(/%/g, '%%');
}

/** The ProxyCommand that runs `connect` with `program` (the words that start knockstick). */
export function proxyCommandFor(program: readonly string[]): string {
  return `${program.map(proxyWord).join(' ')} connect %n %h %p`;
}

/**
 * The words that start this same knockstick as `knockstick ...`: node and the bundle it runs (the
 * stick's .knockstick/knockstick.mjs, or dist/bin/knockstick.js beside an installed callhome), or
 * the self-contained executable alone.
 */
export function ownProgram(execPath: string, script: string | undefined, isSea: boolean, hasConnectBundle: (path: string) => boolean = existsSync): string[] {
  if (isSea || script === undefined) return [execPath];
  // The per-command bins (dist/bin/callhome.js) run one command; knockstick.js beside them runs any.
  if (/^(callhome|seqgen|usbsetup|secureon|secureoff)\.js$/.test(basename(script))) return [execPath, join(dirname(script), 'knockstick.js')];
  // The stick's full bundle has the proxy's small one beside it (connect alone: less to compile).
  if (basename(script) === 'knockstick.mjs' && hasConnectBundle(join(dirname(script), 'connect.mjs'))) return [execPath, join(dirname(script), 'connect.mjs')];
  return [execPath, script];
}
