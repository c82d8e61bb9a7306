// Watching for the door. A firewall that drops gives no answer, and one connect() left waiting
// would only see the door at the kernel's SYN retransmission, a second later. So the prober starts a
// fresh connect every few milliseconds and abandons each after a short while (well before its own
// retransmission): the first one sent after the door rule lands completes the handshake.

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
      const finish = (openedBy: number | null): void => {
        if (done) return;
        done = true;
        clearInterval(ticker);
        clearTimeout(deadline);
        for (const s of sockets) s.destroy();
        resolve({ open: openedBy !== null, openedBy, elapsedMs: Date.now() - started, refused });
      };
      const attempt = (): void => {
        const n = index++;
        options.onAttempt?.(n, Date.now() - started);
        const socket = new Socket();
        sockets.add(socket);
        const forget = (): void => {
          sockets.delete(socket);
          socket.destroy();
        };
        socket.setTimeout(attemptTimeout, forget);
        socket.once('connect', () => {
          forget();
          finish(n);
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
