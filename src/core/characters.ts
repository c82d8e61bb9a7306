// Characters no line of a settings file may hold, for the files we read and render into others
// (ssh config, knockstick.conf, server.conf, stick.conf). A NUL cannot be passed on as an argument
// (node refuses it) and C programs stop reading at it; other control characters rewrite a terminal
// or end a line early in knockd.conf or a shell script; a BOM or a non-breaking space looks like
// nothing, but ssh and knockd read it as part of a word. Refusing them where the file is read, with
// the line, beats any surprise where the value ends up. Pure.

import type { FileProblem } from './errors.js';

/** Control characters (tab aside: a separator everywhere) and whitespace that is not a space or tab. */
const UNUSABLE = /[\u0000-\u0008\u000a-\u001f\u007f\u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]/u;
/** In a comment only control characters matter: the reader skips everything else there. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const NAMES: Record<string, string> = {
  '0000': 'a NUL byte',
  '000D': 'a carriage return',
  '001B': 'an escape character',
  FEFF: 'a byte-order mark (BOM)',
  '00A0': 'a non-breaking space',
};

export function describeCharacter(char: string): string {
  const code = (char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `${NAMES[code] ?? 'the character'} U+${code}`;
}

/**
 * One problem per line holding such a character; a CR at the very end of a line is CRLF, which
 * every reader here tolerates. `reader` names who would misread it ("ssh", "knockstick").
 */
export function unusableCharacterProblems(text: string, path: string, reader: string): FileProblem[] {
  const problems: FileProblem[] = [];
  text.split('\n').forEach((full, index) => {
    const line = full.replace(/\r$/, '');
    const found = (/^[ \t]*#/.test(line) ? CONTROL : UNUSABLE).exec(line);
    if (found !== null) problems.push({ file: path, line: index + 1, message: `holds ${describeCharacter(found[0])}, which ${reader} cannot read as written` });
  });
  return problems;
}
