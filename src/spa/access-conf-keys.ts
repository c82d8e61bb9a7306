// The keys of one stanza of fwknopd's access.conf, for `spa qr --access-conf` (the server's side of
// the keys a phone needs). Only what that needs: read the way fwknopd 2.6 reads the file
// (server/access.c parse_access_file), checked strictly.
//
//   # comment              "#" or ";" as the first character, and empty lines, are skipped
//   SOURCE ANY             each SOURCE line begins a stanza; lines before the first are ignored
//   KEY_BASE64: ...        the name is the first word (case-sensitive; a ":" after it is dropped);
//   HMAC_KEY_BASE64 ...    the value is the rest of the line up to ";" or the line's end, trailing
//                          blanks removed (so a plain KEY may hold spaces)
//
// %include and %include_folder (more stanzas from other files) are refused rather than followed:
// stanza numbers would then depend on files not named here. Pass the included file instead.

import type { FileProblem } from '../core/errors.js';
import type { QrKeyName, QrKeySource } from './qr-text.js';

export interface AccessStanza {
  /** 1-based, in file order. */
  readonly index: number;
  readonly source: string;
  readonly line: number;
  /** Variable -> every setting of it in this stanza (fwknopd uses the last). */
  readonly entries: ReadonlyMap<string, readonly { readonly line: number; readonly value: string }[]>;
}

export function parseAccessConf(text: string, path: string): { stanzas: AccessStanza[]; problems: FileProblem[] } {
  const stanzas: { index: number; source: string; line: number; entries: Map<string, { line: number; value: string }[]> }[] = [];
  const problems: FileProblem[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const first = raw[0];
    if (first === undefined || first === '#' || first === ';' || first === '\r') return;
    const m = /^\s*(\S+)\s+([^;\r\n]*)/.exec(raw);
    if (m === null) {
      if (raw.trim() !== '') problems.push({ file: path, line, message: 'expected "VARIABLE VALUE" (fwknopd refuses this line)' });
      return;
    }
    const colon = (m[1] as string).lastIndexOf(':');
    const name = colon < 0 ? (m[1] as string) : (m[1] as string).slice(0, colon);
    const value = (m[2] as string).replace(/[ \t]+$/, '');
    if (name === '%include' || name === '%include_folder') {
      problems.push({ file: path, line, message: `${name} ${value}: spa qr does not follow includes; pass the file that holds the stanza with --access-conf` });
      return;
    }
    if (name === 'SOURCE') {
      stanzas.push({ index: stanzas.length + 1, source: value, line, entries: new Map() });
      return;
    }
    const current = stanzas.at(-1);
    if (current === undefined) return;
    const list = current.entries.get(name) ?? [];
    list.push({ line, value });
    current.entries.set(name, list);
  });
  return { stanzas, problems };
}

/** How a stanza is named in messages: "#2 (SOURCE ANY, line 7)". */
export function describeAccessStanza(s: AccessStanza): string {
  return `#${s.index} (SOURCE ${s.source}, line ${s.line})`;
}

/**
 * The stanza a selector names: a number (its place in the file, from 1) or a SOURCE value. No
 * selector: the only stanza with a shared key. A string is a problem message.
 */
export function selectAccessStanza(stanzas: readonly AccessStanza[], selector: string | undefined, path: string): AccessStanza | string {
  const list = stanzas.length === 0 ? 'none' : stanzas.map(describeAccessStanza).join(', ');
  if (selector === undefined) {
    const keyed = stanzas.filter((s) => s.entries.has('KEY') || s.entries.has('KEY_BASE64'));
    if (keyed.length === 1) return keyed[0] as AccessStanza;
    return `${path} has ${keyed.length === 0 ? 'no stanza with a KEY or KEY_BASE64' : `${keyed.length} stanzas with keys`}: name one, by number or SOURCE value (stanzas: ${list})`;
  }
  const found = /^\d{1,4}$/.test(selector) ? stanzas.find((s) => s.index === Number(selector)) : stanzas.filter((s) => s.source === selector);
  if (Array.isArray(found)) {
    if (found.length === 1) return found[0] as AccessStanza;
    if (found.length > 1) return `${path} has ${found.length} stanzas with SOURCE ${selector}: name one by number (stanzas: ${list})`;
    return `${path} has no stanza with SOURCE ${selector} (stanzas: ${list})`;
  }
  return found ?? `${path} has no stanza #${selector} (stanzas: ${list})`;
}

const GPG_NAMES = ['GPG_REMOTE_ID', 'GPG_FINGERPRINT_ID', 'GPG_DECRYPT_ID', 'GPG_DECRYPT_PW', 'GPG_HOME_DIR', 'GPG_ALLOW_NO_PW'];

/** The encryption and HMAC keys of a stanza as written, or the problems that keep them from a QR code. */
export function accessStanzaKeys(stanza: AccessStanza, path: string): { encryption?: QrKeySource; hmac?: QrKeySource; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const where = describeAccessStanza(stanza);
  const pick = (plain: QrKeyName, b64: QrKeyName): QrKeySource | undefined => {
    const settings = [...(stanza.entries.get(plain) ?? []).map((e) => ({ ...e, name: plain })), ...(stanza.entries.get(b64) ?? []).map((e) => ({ ...e, name: b64 }))];
    settings.sort((a, b) => a.line - b.line);
    if (settings.length > 1) {
      problems.push({ file: path, line: (settings[1] as { line: number }).line, message: `stanza ${where} sets its ${plain === 'KEY' ? 'encryption' : 'HMAC'} key ${settings.length} times (fwknopd takes the last): keep one` });
      return undefined;
    }
    const only = settings[0];
    if (only?.value.toUpperCase() === '__CHANGEME__') {
      problems.push({ file: path, line: only.line, message: `${only.name} is still __CHANGEME__ (fwknopd refuses it)` });
      return undefined;
    }
    return only === undefined ? undefined : { name: only.name, value: only.value, file: path, line: only.line };
  };
  if (stanza.entries.has('%include_keys')) {
    problems.push({ file: path, line: stanza.entries.get('%include_keys')?.[0]?.line ?? stanza.line, message: `stanza ${where} takes its keys from %include_keys, which spa qr does not follow` });
    return { problems };
  }
  const encryption = pick('KEY', 'KEY_BASE64');
  const hmac = pick('HMAC_KEY', 'HMAC_KEY_BASE64');
  if (problems.length > 0) return { problems };
  if (encryption === undefined) {
    const gpg = GPG_NAMES.some((n) => stanza.entries.has(n));
    problems.push({
      file: path,
      line: stanza.line,
      message: gpg
        ? `stanza ${where} is a GnuPG stanza: it has no shared key to put in a QR code (a phone uses its own GnuPG key pair, e.g. through OpenKeychain with Fwknop2)`
        : `stanza ${where} has no KEY or KEY_BASE64`,
    });
    return { problems };
  }
  if (hmac === undefined) {
    problems.push({ file: path, line: stanza.line, message: `stanza ${where} has no HMAC_KEY_BASE64 or HMAC_KEY: without HMAC nothing authenticates the packets; add one (\`knockstick spa keygen\`) on both sides first` });
    return { problems };
  }
  return { encryption, hmac, problems };
}
