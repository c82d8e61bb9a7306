// The lines of the stick's ssh config that name files on the stick, rendered so that any ssh client
// (ssh, scp, sftp, rsync -e ssh, git over GIT_SSH_COMMAND) knocks for itself from any directory:
//
//   ProxyCommand '/mnt/secure/knockstick' connect %n %h %p
//   IdentityFile "/mnt/secure/.ssh/id_ed25519"
//   UserKnownHostsFile "/mnt/secure/.ssh/known_hosts"
//
// Absolute paths, because ssh resolves relative ones against its working directory (never against
// the config file): a relative IdentityFile only works when the caller runs ssh in the stick's root,
// as callhome did. The stick moves (usbsetup's mount point, secureon's, a desktop's /media/...), so
// relocation (below) rewrites these lines, and only these, to where the stick is now.
//
// How OpenSSH reads them (readconf.c, misc.c; OpenSSH 8.7 and newer):
//  - every line is first split like a shell word list to check its quotes (argv_split): single and
//    double quotes group, a backslash escapes ' " \ and a space; an unbalanced line is refused whole;
//  - ProxyCommand takes the rest of the line verbatim, expands %-tokens (a literal % is %%), then
//    runs `exec VALUE` with $SHELL -c (sh, bash, zsh, fish, tcsh...), so the path is shell-quoted;
//  - IdentityFile/UserKnownHostsFile take one (double-quoted) word, expand %-tokens, ${VAR}
//    (no escape exists for it) and a leading ~.
// What these rules cannot carry the same way everywhere is refused with a clear error: line breaks
// and other control characters (the config is line-based), a double quote or a backslash (escaped
// differently by OpenSSH before 8.7, and a backslash inside fish's single quotes is an escape), and
// "${" (ssh would expand it as an environment variable). Spaces, single quotes, %, $, # and any
// other printable character are written so that ssh and the shell read back the exact path. Pure.

import { isAbsolute, join, normalize } from 'node:path';
import { describeCharacter } from './characters.js';
import { KnockstickError } from './errors.js';
import { shellQuote } from './shell.js';

/** The launcher usbsetup writes at the stick's root (templates/stick-launcher.sh). */
export const LAUNCHER_NAME = 'knockstick';
/** The stick's key and known_hosts, relative to its root. */
export const KEY_PATH = '.ssh/id_ed25519';
export const KNOWN_HOSTS_PATH = '.ssh/known_hosts';
/** What follows the launcher's path in the ProxyCommand: the alias, then the address and port ssh computed. */
export const CONNECT_ARGS = 'connect %n %h %p';

export type StickPathKeyword = 'ProxyCommand' | 'IdentityFile' | 'UserKnownHostsFile';

/** The three lines' values, keyword → text after "Keyword ". */
export type StickPathLines = Readonly<Record<StickPathKeyword, string>>;

/** Line breaks, other control characters, and spaces that are not a space: see unusableCharacterProblems. */
const UNUSABLE = /[\u0000-\u001f\u007f\u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]/u;

/** Why `root` cannot be written into the stick's ssh config, or undefined when it can. */
export function stickRootProblem(root: string): string | undefined {
  if (!isAbsolute(root)) return `${JSON.stringify(root)} is not an absolute path`;
  const unusable = UNUSABLE.exec(root);
  if (unusable !== null) return `${JSON.stringify(root)} holds ${describeCharacter(unusable[0])}: the ssh config is read line by line and cannot carry it`;
  if (root.includes('"')) return `${JSON.stringify(root)} holds a double quote ("), which ssh's config reads differently from one OpenSSH version to the next`;
  if (root.includes('\\')) return `${JSON.stringify(root)} holds a backslash (\\), which ssh's config and some shells (fish) read as an escape`;
  if (root.includes('${')) return `${JSON.stringify(root)} holds "\${", which ssh expands as an environment variable in IdentityFile (no escape exists)`;
  return undefined;
}

/** Throws the problem of stickRootProblem as a KnockstickError naming the stick. */
export function assertWritableStickRoot(root: string): void {
  const problem = stickRootProblem(root);
  if (problem !== undefined) {
    throw new KnockstickError('USAGE', `cannot write the stick's ssh config for a stick at ${problem}`, {
      hint: 'mount the stick (or choose --mountpoint / --into) at a path without such characters, e.g. /mnt/secure',
    });
  }
}

/** ssh expands %-tokens in these values: a literal % is written %%. */
const percentEscaped = (text: string): string => text.replace(/%/g, '%%');

/** The stick's root without a trailing slash (so that "/mnt/secure/" and "/mnt/secure" render alike). */
const cleanRoot = (root: string): string => normalize(root).replace(/(.)\/+$/, '$1');

/** The three values for a stick mounted at `root`. Throws for a root that cannot be written (see above). */
export function stickPathLines(root: string): StickPathLines {
  assertWritableStickRoot(root);
  const at = cleanRoot(root);
  return {
    // shellQuote never produces "%", so the two escapes do not interfere.
    ProxyCommand: `${percentEscaped(shellQuote(join(at, LAUNCHER_NAME)))} ${CONNECT_ARGS}`,
    IdentityFile: `"${percentEscaped(join(at, KEY_PATH))}"`,
    UserKnownHostsFile: `"${percentEscaped(join(at, KNOWN_HOSTS_PATH))}"`,
  };
}

/** Where each value's path points, relative to the root. */
const SUFFIX: Readonly<Record<StickPathKeyword, string>> = { ProxyCommand: `/${LAUNCHER_NAME}`, IdentityFile: `/${KEY_PATH}`, UserKnownHostsFile: `/${KNOWN_HOSTS_PATH}` };

/** A value's path (tokens unescaped) and, for ProxyCommand, what follows the launcher's word. */
function parsePathValue(keyword: StickPathKeyword, value: string): { path: string; rest: string } | undefined {
  if (keyword === 'ProxyCommand') {
    // shellQuote's shape: '...' then any number of \''...', then " connect" and its arguments.
    const m = /^('[^']*'(?:\\''[^']*')*)( connect(?: .*)?)$/.exec(value);
    if (m === null) return undefined;
    return { path: (m[1] as string).slice(1, -1).replace(/'\\''/g, "'").replace(/%%/g, '%'), rest: m[2] as string };
  }
  const m = /^"([^"]*)"$/.exec(value);
  return m === null ? undefined : { path: (m[1] as string).replace(/%%/g, '%'), rest: '' };
}

/** The value for `keyword` naming the stick at `root`; ProxyCommand with `rest` after the launcher's word. */
function renderPathValue(keyword: StickPathKeyword, root: string, rest: string): string {
  const lines = stickPathLines(root);
  return keyword === 'ProxyCommand' ? `${lines.ProxyCommand.slice(0, -CONNECT_ARGS.length - 1)}${rest}` : lines[keyword];
}

/**
 * The stick root a knockstick-written value names, or undefined when the value is not one we wrote
 * (hand-edited, another file, a relative path of an older stick). A value is ours when rendering
 * the root read from it gives back exactly that value (for ProxyCommand: its first word followed by
 * `connect`, so that arguments a user added to connect are kept). Pure.
 */
export function stickRootOf(keyword: StickPathKeyword, value: string): string | undefined {
  const parsed = parsePathValue(keyword, value);
  if (parsed === undefined || !parsed.path.endsWith(SUFFIX[keyword])) return undefined;
  const root = parsed.path.slice(0, -SUFFIX[keyword].length) || '/';
  if (stickRootProblem(root) !== undefined || cleanRoot(root) !== root) return undefined;
  return renderPathValue(keyword, root, parsed.rest) === value ? root : undefined;
}

/** One line relocation rewrites: 1-based line number, keyword, and the old and new values. */
export interface PathChange {
  readonly line: number;
  readonly host: string;
  readonly keyword: StickPathKeyword;
  readonly from: string;
  readonly to: string;
  /** The root the old value named. */
  readonly oldRoot: string;
}

export interface RelocationPlan {
  /** The text to write (byte for byte the input where nothing changes). */
  readonly text: string;
  readonly changes: readonly PathChange[];
}

const KEYWORDS: ReadonlyMap<string, StickPathKeyword> = new Map([
  ['proxycommand', 'ProxyCommand'],
  ['identityfile', 'IdentityFile'],
  ['userknownhostsfile', 'UserKnownHostsFile'],
]);

/**
 * The stick's ssh config with every knockstick-written path line of a Host entry that names another
 * root than `root` rewritten to `root`. Everything else stays byte for byte: comments, other lines,
 * other hosts, Include and Match blocks (never rewritten: their lines are the user's), line endings
 * (CRLF kept), a BOM, indentation and the separator after the keyword. Lines before the first Host
 * (global options) are the user's too. Pure.
 */
export function planRelocation(text: string, root: string): RelocationPlan {
  stickPathLines(root); // refuses a root that cannot be written, before anything is read
  const at = cleanRoot(root);
  const changes: PathChange[] = [];
  let host: string | undefined;
  const lines = text.split('\n').map((full, index) => {
    const cr = full.endsWith('\r') ? '\r' : '';
    const body = cr === '' ? full : full.slice(0, -1);
    const bom = index === 0 && body.startsWith('\ufeff') ? '\ufeff' : '';
    const m = /^([ \t]*)([A-Za-z]+)([ \t]*=[ \t]*|[ \t]+)(.*?)([ \t]*)$/.exec(body.slice(bom.length));
    if (m === null) return full;
    const [, indent, word, separator, value, trailing] = m as unknown as [string, string, string, string, string, string];
    const lower = word.toLowerCase();
    if (lower === 'host') {
      host = value;
      return full;
    }
    if (lower === 'match') {
      host = undefined; // a Match block is the user's: never rewritten
      return full;
    }
    const keyword = KEYWORDS.get(lower);
    if (host === undefined || keyword === undefined) return full;
    const oldRoot = stickRootOf(keyword, value);
    if (oldRoot === undefined || oldRoot === at) return full;
    // ProxyCommand: only the launcher's word; what follows it (connect's arguments) is kept.
    const to = renderPathValue(keyword, at, parsePathValue(keyword, value)?.rest ?? '');
    changes.push({ line: index + 1, host, keyword, from: value, to, oldRoot });
    return `${bom}${indent}${word}${separator}${to}${trailing}${cr}`;
  });
  return { text: changes.length === 0 ? text : lines.join('\n'), changes };
}

/**
 * The file a path value in the config names, as ssh would open it, or undefined when it uses
 * %-tokens or ${VAR} that only ssh can expand. `root`: what a relative path is relative to (ssh's
 * working directory; callhome runs ssh at the stick's root). Pure.
 */
export function configPathToFile(value: string, root: string, home: string): string | undefined {
  const unquoted = /^"(.*)"$/.exec(value)?.[1] ?? value;
  if (unquoted.replace(/%%/g, '').includes('%') || unquoted.includes('${')) return undefined;
  const path = unquoted.replace(/%%/g, '%');
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return isAbsolute(path) ? path : join(root, path);
}
