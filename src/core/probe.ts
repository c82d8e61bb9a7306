// Watching for the door. A firewall that drops gives no answer, and one connect() left waiting
// would only see the door at the kernel's SYN retransmission, a second later. So the prober starts a
// fresh connect every few milliseconds and abandons each after a short while (well before its own
// retransmission): the first one sent after the door rule lands completes the handshake.
// With `keep`, that connection is handed on instead of closed: on a single-use door it is the only
// one that gets in, and anywhere it saves ssh a second handshake. The others are destroyed.

import { Socket } from 'node:net';
import type { Target } from './knock.js';

export interface ProbeOptions {
  /** Give up after this long (ms). */
  readonly deadlineMs: number;
  /** Start a new connection attempt this often (ms). */
  readonly intervalMs: number;
  /** Abandon each attempt after this long (ms); below the ~1 s SYN retransmission. */
  readonly attemptTimeoutMs?: number;
  /** Called for each attempt started (for -v). */
  readonly onAttempt?: (index: number, elapsedMs: number) => void;
  /** Hand the connection that got through on (ProbeResult.socket) instead of closing it. */
  readonly keep?: boolean;
}

export interface ProbeResult {
  readonly open: boolean;
  /**
   * Index of the attempt that connected (0 = the one sent first). An attempt 0 that connects
   * right after a knock means the door was open before the knock could have opened it.
   */
  readonly openedBy: number | null;
  readonly elapsedMs: number;
  /** How many attempts were refused (RST): the host answers but nothing listens / REJECT. */
  readonly refused: number;
  /**
   * With `keep`: the connected socket, paused (whatever the server sent first waits in it), with no
   * timeout and only a no-op error listener; the caller owns it from here.
   */
  readonly socket?: Socket | undefined;
}

export interface Prober {
  probe(target: Target, port: number, options: ProbeOptions): Promise<ProbeResult>;
}

export const netProber: Prober = {
  probe(target, port, options) {
    const attemptTimeout = options.attemptTimeoutMs ?? 300;
    const started = Date.now();
    const sockets = new Set<Socket>();
    let refused = 0;
    return new Promise<ProbeResult>((resolve) => {
      let done = false;
      let index = 0;
      const finish = (openedBy: number | null, winner?: Socket): void => {
        if (done) {
          winner?.destroy();
          return;
        }
        done = true;
        clearInterval(ticker);
        clearTimeout(deadline);
        for (const s of sockets) if (s !== winner) s.destroy();
        const kept = winner !== undefined && options.keep === true ? winner : undefined;
        if (winner !== undefined && kept === undefined) winner.destroy();
        if (kept !== undefined) {
          kept.setTimeout(0);
          kept.removeAllListeners('timeout');
          kept.removeAllListeners('error');
          // An error before the new owner listens must not crash us; its 'close' still tells it.
          kept.on('error', () => undefined);
        }
        resolve({ open: openedBy !== null, openedBy, elapsedMs: Date.now() - started, refused, socket: kept });
      };
      const attempt = (): void => {
        const n = index++;
        options.onAttempt?.(n, Date.now() - started);
        const socket = new Socket({ allowHalfOpen: true });
        sockets.add(socket);
        const forget = (): void => {
          sockets.delete(socket);
          socket.destroy();
        };
        socket.setTimeout(attemptTimeout, forget);
        socket.once('connect', () => {
          sockets.delete(socket);
          finish(n, socket);
        });
        socket.once('error', (error: NodeJS.ErrnoException) => {
          if (error.code === 'ECONNREFUSED') refused++;
          forget();
        });
        socket.connect({ host: target.address, port, family: target.family });
      };
      const ticker = setInterval(attempt, options.intervalMs);
      const deadline = setTimeout(() => finish(null), options.deadlineMs);
      attempt();
    });
  },
};
