// Sending knocks. knockd watches for packets, not connections, and its matching is strict
// (knockd-facts.md): each port must be hit exactly once, in order, and a retransmitted SYN on the
// same port resets the attempt. So a TCP knock is a non-blocking connect() that is abandoned as soon
// as the kernel has sent its SYN: the socket is closed before the kernel's first retransmission
// (about 1 s later) could happen. A UDP knock is one empty datagram.

import { createSocket } from 'node:dgram';
import { Socket } from 'node:net';
import type { Knock } from './sequences.js';

export interface Target {
  /** A numeric address (resolved once, so every packet and ssh go to the same one). */
  readonly address: string;
  readonly family: 4 | 6;
}

export interface Knocker {
  /** Sends one packet to `knock.port`; resolves once it has left this process. */
  send(target: Target, knock: Knock): Promise<void>;
}

/**
 * Node's net.Socket#connect starts the connect(2) on a later tick; closing the socket before then
 * would send nothing. setImmediate runs after that tick, when the SYN has been handed to the kernel
 * (connect(2) transmits it before returning), and long before any retransmission.
 */
function sendSyn(target: Target, port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.on('error', () => undefined); // a refused or unreachable port is a normal knock
    socket.connect({ host: target.address, port, family: target.family });
    setImmediate(() => {
      socket.destroy();
      resolve();
    });
  });
}

function sendDatagram(target: Target, port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = createSocket(target.family === 6 ? 'udp6' : 'udp4');
    socket.on('error', () => undefined);
    socket.send(Buffer.alloc(0), port, target.address, () => {
      socket.close();
      resolve();
    });
  });
}

export const netKnocker: Knocker = {
  send: (target, knock) => (knock.protocol === 'udp' ? sendDatagram(target, knock.port) : sendSyn(target, knock.port)),
};

/**
 * Packets that clear a half-finished attempt in knockd before the sequence is sent again.
 * knockd keeps per-address state: after a partial knock (a lost packet) the next packet of the
 * sequence resets the attempt and the one after only removes it, so a plain resend fails
 * (knockd-facts.md). Hitting the sequence's LAST port a few times first brings knockd back to "no
 * attempt" from any state: it is not the first port, so it never starts an attempt; from a partial
 * attempt the first hit resets it and the next removes it; and if the attempt was one port short,
 * the first hit completes it, which opens the door anyway. Several hits, because they can be lost
 * too. Checked against the real knockd in the lab.
 */
export const CLEARING_HITS = 4;

export interface AttemptPackets {
  /** Sent back to back first: the clearing hits. */
  readonly clearing: readonly Knock[];
  /** Then the sequence itself, one packet per port, in order, with the configured gap. */
  readonly sequence: readonly Knock[];
}

export function attemptPackets(sequence: readonly Knock[]): AttemptPackets {
  const last = sequence[sequence.length - 1];
  return { clearing: last === undefined ? [] : Array<Knock>(CLEARING_HITS).fill(last), sequence };
}
