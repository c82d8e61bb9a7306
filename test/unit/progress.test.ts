import { describe, expect, it } from '@jest/globals';
import { Progress } from '../../src/core/door/progress.js';

function capture() {
  const chunks: string[] = [];
  return { out: { write: (t: string) => void chunks.push(t) }, text: () => chunks.join('') };
}

describe('Progress', () => {
  it('on a terminal rewrites one status line in place, then leaves the outcome as a line', () => {
    const c = capture();
    const p = new Progress(c.out, true);
    p.show('knocking');
    p.show('waiting for the door');
    p.done('door open after 40 ms');
    expect(c.text()).toBe('\r\x1b[Kknocking...\r\x1b[Kwaiting for the door...\r\x1b[Kdoor open after 40 ms\n');
  });

  it('elsewhere prints only the outcome, as a plain line', () => {
    const c = capture();
    const p = new Progress(c.out, false);
    p.show('knocking');
    p.done('door open after 40 ms');
    expect(c.text()).toBe('door open after 40 ms\n');
  });
});
