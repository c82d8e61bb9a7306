// The stick's ssh config, read with the ssh-config package: what callhome needs to knock and to
// run ssh against the same address.

import SSHConfig from 'ssh-config';
import { unusableCharacterProblems } from './characters.js';
import { InvalidFileError, KnockstickError, type FileProblem } from './errors.js';
import { readTextIfExists } from './files.js';

export interface HostConfig {
  readonly alias: string;
  readonly hostName: string;
  readonly port: number;
  /** The remote user, when the config names one. */
  readonly user: string | undefined;
  /** The name ssh checks the host key under; kept when callhome pins HostName to an address. */
  readonly hostKeyAlias: string;
  readonly addressFamily: 'any' | 'inet' | 'inet6';
  /** ProxyJump/ProxyCommand: ssh would not connect from this machine's address. */
  readonly proxied: boolean;
  /** The ProxyCommand, when there is one (the stick's own `knockstick connect` is no proxy to warn about). */
  readonly proxyCommand?: string | undefined;
}

/** ssh-config splits an unquoted ProxyCommand into words; joined back, it reads as ssh would run it. */
function proxyCommandOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(' ') : value;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The first line that sets `keyword` to `value` (what compute() took), or 0 when none is found. */
function lineOf(text: string, keyword: string, value: string): number {
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    const m = /^\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*?)\s*$/.exec(line.replace(/\r$/, ''));
    if (m !== null && (m[1] as string).toLowerCase() === keyword && (m[2] as string).replace(/^"(.*)"$/, '$1') === value) return index + 1;
  }
  return 0;
}

/** A host name, an address, or "[name]:port" as a HostKeyAlias. */
const NAME = /^[A-Za-z0-9._:[\]-]+$/;
/** A user name, "user@domain" and "DOMAIN\\user" included. */
const USER = /^[A-Za-z0-9._@+\\-]+$/;

/**
 * Values callhome passes on (HostName to the resolver and the knock, HostKeyAlias as `-o`) or ssh
 * reads for this alias: one that starts with "-" could be read as an option by some tool on the
 * way, and characters beyond these have no business in a name. Returns the problem, or undefined.
 */
function valueProblem(keyword: string, value: string): string | undefined {
  if (value.startsWith('-')) return `${keyword} ${JSON.stringify(value)} starts with "-", which ssh and the tools it runs could read as an option`;
  switch (keyword) {
    case 'HostName':
    case 'HostKeyAlias':
      return NAME.test(value) ? undefined : `${keyword} ${JSON.stringify(value)} is not a host name or address (letters, digits, . _ : - [ ] only)`;
    case 'User':
      return USER.test(value) ? undefined : `User ${JSON.stringify(value)} is not a user name (letters, digits, . _ @ + - only)`;
    case 'ProxyJump':
      return value.split(',').some((hop) => hop.trim().startsWith('-') || /\s/.test(hop.trim()))
        ? `ProxyJump ${JSON.stringify(value)} has a hop that starts with "-" or holds a space`
        : undefined;
    default:
      return undefined;
  }
}

/** Computes the settings for `alias` from config text. Pure. */
export function hostConfigFrom(text: string, path: string, alias: string): HostConfig {
  // Checked before anything is computed, so that callhome refuses before it knocks: a value ssh
  // cannot use would make it fail after the door opened, with a sequence spent for nothing.
  const unusable = unusableCharacterProblems(text, path, 'ssh');
  if (unusable.length > 0) {
    throw new InvalidFileError(unusable, `edit ${path} with a plain-text editor and retype those lines; nothing was knocked or marked`);
  }
  let computed: Record<string, string | string[]>;
  try {
    // matchExec: false — never run a "Match exec" command from the stick while reading it.
    computed = SSHConfig.parse(text).compute(alias, { ignoreCase: true, matchExec: false });
  } catch (error) {
    throw new KnockstickError('INVALID_FILE', `${path}: cannot parse: ${(error as Error).message}`, { cause: error });
  }
  const hostName = single(computed.hostname);
  if (hostName === undefined || hostName === '') {
    throw new KnockstickError('INVALID_FILE', `${path}: no HostName for "${alias}"`, {
      hint: `add a "Host ${alias}" entry with a HostName (usbsetup writes one), or name another alias: callhome ALIAS`,
    });
  }
  const problems: FileProblem[] = [];
  if (hostName.includes('%')) {
    problems.push({ file: path, line: lineOf(text, 'hostname', hostName), message: `HostName "${hostName}" for "${alias}" uses % tokens, which callhome cannot knock at` });
  }
  const portText = single(computed.port) ?? '22';
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) problems.push({ file: path, line: lineOf(text, 'port', portText), message: `Port "${portText}" for "${alias}" is not a port number` });
  for (const [keyword, value] of [
    ['HostName', hostName],
    ['User', single(computed.user)],
    ['HostKeyAlias', single(computed.hostkeyalias)],
    ['ProxyJump', single(computed.proxyjump)],
  ] as const) {
    const message = value === undefined || (keyword === 'HostName' && value.includes('%')) ? undefined : valueProblem(keyword, value);
    if (message !== undefined) problems.push({ file: path, line: lineOf(text, keyword.toLowerCase(), value as string), message: `${message} (Host ${alias})` });
  }
  if (problems.length > 0) throw new InvalidFileError(problems.sort((a, b) => a.line - b.line), `fix ${path}; nothing was knocked or marked`);
  const family = (single(computed.addressfamily) ?? 'any').toLowerCase();
  return {
    alias,
    hostName,
    port,
    user: single(computed.user),
    // ssh looks a host key up under "name" for port 22 and "[name]:port" otherwise, but under a
    // HostKeyAlias exactly as given. callhome pins HostName to an address and sets HostKeyAlias,
    // so the alias must be the name ssh would have used: the same known_hosts lines keep working.
    hostKeyAlias: single(computed.hostkeyalias) ?? (port === 22 ? hostName : `[${hostName}]:${port}`).toLowerCase(),
    addressFamily: family === 'inet' || family === 'inet6' ? family : 'any',
    proxied: computed.proxyjump !== undefined || computed.proxycommand !== undefined,
    proxyCommand: proxyCommandOf(computed.proxycommand),
  };
}

export async function readHostConfig(path: string, alias: string): Promise<HostConfig> {
  const text = await readTextIfExists(path);
  if (text === null) {
    throw new KnockstickError('IO', `no ssh config at ${path}`, { hint: 'is the stick mounted? pass --stick DIR (usbsetup writes .ssh/config)' });
  }
  return hostConfigFrom(text, path, alias);
}
