// Bytes between ssh (our stdin/stdout, two pipes) and the connection that found the door open.
// Back-pressure both ways (pipe), half-close both ways (ssh's EOF becomes our FIN; the server's FIN
// closes our stdout), and done when both directions are, or at once when either side breaks (a
// reset, or ssh gone: EPIPE). Never throws: a broken relay is ssh's to report.

import { closeSync, fstatSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';

export interface Endpoints {
  readonly input: Readable;
  readonly output: Writable;
  /**
   * Makes ssh see EOF once `output` has flushed. libuv never closes fds 0-2 when their stream is
   * destroyed, so the real one closes fd 1 itself (and parks /dev/null there, so that nothing
   * opened later lands on fd 1).
   */
  readonly closeOutput?: () => void;
}

/**
 * Our stdin/stdout as streams we may end and destroy: net.Sockets on the pipes ssh gives a
 * ProxyCommand (ending one closes it: EOF for ssh), else node's own streams (a terminal, a file).
 */
export function standardEndpoints(): Endpoints {
  const isPipe = (fd: number): boolean => {
    try {
      const info = fstatSync(fd);
      return info.isFIFO() || info.isSocket();
    } catch {
      return false;
    }
  };
  const pipeOut = isPipe(1);
  return {
    input: isPipe(0) ? new Socket({ fd: 0, readable: true, writable: false }) : process.stdin,
    output: pipeOut ? new Socket({ fd: 1, readable: false, writable: true }) : process.stdout,
    closeOutput: pipeOut
      ? () => {
          try {
            closeSync(1);
            openSync('/dev/null', 'w');
          } catch {
            // already closed
          }
        }
      : undefined,
  };
}

export function relay(connection: Duplex, { input, output, closeOutput }: Endpoints): Promise<void> {
  return new Promise((resolve) => {
    let upDone = false;
    let downDone = false;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      input.unpipe(connection);
      connection.unpipe(output);
      connection.destroy();
      input.destroy();
      // Whatever is still queued for ssh goes first; then the pipe closes.
      if (output.writableEnded) output.once('finish', () => output.destroy());
      else output.destroy();
      resolve();
    };
    const check = (): void => {
      if (upDone && downDone) finish();
    };
    // ssh → server. ssh's EOF is a half-close: the server may still be sending.
    input.pipe(connection, { end: false });
    input.once('end', () => {
      connection.end();
      upDone = true;
      check();
    });
    input.once('error', () => {
      connection.end();
      upDone = true;
      check();
    });
    // server → ssh. The server's FIN closes our stdout once everything before it was written.
    connection.pipe(output, { end: false });
    connection.once('end', () => {
      output.end(() => {
        closeOutput?.();
        downDone = true;
        check();
      });
    });
    // ssh went away (EPIPE) or the connection broke: nothing more can be delivered either way.
    output.once('error', finish);
    connection.once('error', finish);
    connection.once('close', () => {
      if (!downDone) {
        // Closed without a clean end: let what was read reach ssh, then stop.
        output.end(() => {
          downDone = true;
          upDone = true;
          finish();
        });
      }
    });
  });
}
