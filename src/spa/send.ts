// Putting an SPA packet on the wire: one UDP datagram, the way fwknop's client sends it. Behind a
// small interface so callhome's flow can be tested without a network.

import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { KnockstickError } from '../core/errors.js';

export interface SpaTarget {
  /** A numeric IPv4 address, resolved once. */
  readonly address: string;
  readonly port: number;
}

export interface SpaSender {
  /** Sends the wire string as one datagram; resolves once it left this process. */
  send(target: SpaTarget, wire: string): Promise<void>;
}

export const udpSpaSender: SpaSender = {
  send: (target, wire) =>
    new Promise((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', (error) => {
        socket.close();
        reject(new KnockstickError('IO', `cannot send the SPA packet to ${target.address} port ${target.port}: ${error.message}`, { cause: error }));
      });
      socket.send(Buffer.from(wire, 'latin1'), target.port, target.address, (error) => {
        socket.close();
        if (error) reject(new KnockstickError('IO', `cannot send the SPA packet to ${target.address} port ${target.port}: ${error.message}`, { cause: error }));
        else resolve();
      });
    }),
};

/** SPA_SERVER → an IPv4 address (fwknop 2.6 SPA is IPv4 only). */
export async function resolveSpaServer(host: string): Promise<string> {
  const literal = isIP(host);
  if (literal === 4) return host;
  if (literal === 6) throw new KnockstickError('USAGE', `SPA_SERVER ${host} is an IPv6 address; fwknop 2.6 SPA is IPv4 only (fwknop issue #1)`);
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch (error) {
    throw new KnockstickError('IO', `cannot resolve ${host} to an IPv4 address: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: 'check the network and SPA_SERVER in the rc file',
      cause: error,
    });
  }
}
