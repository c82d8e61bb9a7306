// The stick's ssh config, read with the ssh-config package: what callhome needs to knock and to
// run ssh against the same address.

import SSHConfig from 'ssh-config';
import { KnockstickError } from './errors.js';
import { nameProblem } from './names.js';
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
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Computes the settings for `alias` from config text. Pure. */
export function hostConfigFrom(text: string, path: string, alias: string): HostConfig {
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
  const hostProblem = nameProblem(hostName);
  if (hostProblem !== undefined) {
    // ssh, knock and nc would take "-oProxyCommand=..." as an option: refused before any sequence is spent.
    throw new KnockstickError('INVALID_FILE', `${path}: HostName for "${alias}" ${hostProblem}`, { hint: 'write the server\'s name or address there' });
  }
  const userName = single(computed.user);
  const userProblem = userName === undefined ? undefined : nameProblem(userName);
  if (userProblem !== undefined) throw new KnockstickError('INVALID_FILE', `${path}: User for "${alias}" ${userProblem}`, { hint: 'write the remote user name there' });
  if (hostName.includes('%')) {
    throw new KnockstickError('INVALID_FILE', `${path}: HostName "${hostName}" for "${alias}" uses % tokens, which callhome cannot knock at`);
  }
  const portText = single(computed.port) ?? '22';
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new KnockstickError('INVALID_FILE', `${path}: Port "${portText}" for "${alias}" is not a port number`);
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
  };
}

export async function readHostConfig(path: string, alias: string): Promise<HostConfig> {
  const text = await readTextIfExists(path);
  if (text === null) {
    throw new KnockstickError('IO', `no ssh config at ${path}`, { hint: 'is the stick mounted? pass --stick DIR (usbsetup writes .ssh/config)' });
  }
  return hostConfigFrom(text, path, alias);
}
