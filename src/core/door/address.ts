// A host name to the one numeric address every knock, probe and connection goes to.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { KnockstickError } from '../errors.js';
import type { Target } from '../knock.js';

export async function resolveAddress(hostName: string, family: 4 | 6): Promise<Target> {
  const literal = isIP(hostName);
  if (literal !== 0) {
    if (literal !== family) {
      throw new KnockstickError('USAGE', `HostName ${hostName} is an IPv${literal} address but callhome is using IPv${family}`, {
        hint: literal === 6 ? 'pass -6 (or AddressFamily inet6 in the stick config)' : 'drop -6',
      });
    }
    return { address: hostName, family };
  }
  try {
    const { address } = await lookup(hostName, { family });
    return { address, family };
  } catch (error) {
    throw new KnockstickError('IO', `cannot resolve ${hostName} to an IPv${family} address: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: 'check the network and the HostName in the stick\'s .ssh/config',
      cause: error,
    });
  }
}
