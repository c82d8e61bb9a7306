// A one-line status on a terminal (rewritten in place), or nothing when stderr is not a TTY,
// where only the final outcome line is printed.

import type { Output } from '../command.js';

export class Progress {
  private shown = false;

  constructor(
    private readonly out: Output,
    private readonly live: boolean,
    /** Print the outcome lines (false: connect started by plain ssh with stderr not a terminal stays silent, as ssh does). */
    private readonly outcome = true,
  ) {}

  /** Replaces the status line (TTY only). */
  show(text: string): void {
    if (!this.live) return;
    this.out.write(`\r\x1b[K${text}...`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }

  /** The outcome, as a permanent line. */
  done(text: string): void {
    this.clear();
    if (this.outcome) this.out.write(`${text}\n`);
  }
}
