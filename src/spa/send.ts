// Putting an SPA packet on the wire the way fwknop's client sends it: one UDP datagram, or (TCP
// mode, SPA_SERVER_PROTO tcp) the packet's bytes over one TCP connection that is then closed;
// fwknopd's ENABLE_TCP_SERVER only completes the handshake, its sniffer reads the data. Behind a
// small interface so callhome's flow can be tested without a network.

import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { KnockstickError } from '../core/errors.js';

export interface SpaTarget {
  /** A numeric IPv4 address, resolved once. */
  readonly address: string;
  readonly port: number;
  /** Default udp. */
  readonly proto?: 'udp' | 'tcp' | undefined;
}

export interface SpaSender {
  /** Sends the wire string as one datagram; resolves once it left this process. */
  send(target: SpaTarget, wire: string): Promise<void>;
}

/** The TCP mode: connect, write the packet, close (bounded: a server that never answers is an error, not a hang). */
function sendOverTcp(target: SpaTarget, wire: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.address, port: target.port });
    const fail = (error: Error): void => {
      socket.destroy();
      reject(new KnockstickError('IO', `cannot send the SPA packet to ${target.address} tcp/${target.port}: ${error.message}`, { cause: error }));
    };
    socket.setTimeout(10_000, () => fail(new Error('no TCP connection within 10 s')));
    socket.once('error', fail);
    socket.once('connect', () => socket.end(Buffer.from(wire, 'latin1')));
    socket.once('close', (hadError) => {
      if (!hadError) resolve();
    });
  });
}

/** Sends over udp (one datagram) or tcp, as the target says. */
export const udpSpaSender: SpaSender = {
  send: (target, wire) =>
    target.proto === 'tcp' ? sendOverTcp(target, wire) : new Promise((resolve, reject) => {
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

/**
 * The address this machine sends from towards the target (ALLOW_IP local): a UDP socket connected
 * to it (which sends nothing) is bound to the source address the routing table picks.
 */
export function localAddressFor(target: SpaTarget): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const fail = (error: Error): void => {
      socket.close();
      reject(new KnockstickError('IO', `cannot find this machine's address towards ${target.address} (ALLOW_IP local): ${error.message}`, { cause: error, hint: 'check the route to the server, or name the address: ALLOW_IP ADDR or --allow-ip ADDR' }));
    };
    socket.once('error', fail);
    socket.connect(target.port, target.address, () => {
      const { address } = socket.address();
      socket.close();
      resolve(address);
    });
  });
}

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
