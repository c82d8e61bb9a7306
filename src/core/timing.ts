// Where callhome's time goes, for the benchmark and for anyone curious: with KNOCKSTICK_TIMING=1,
// each phase prints "timing: PHASE +N ms" to stderr, N counted from the start of the node process.

import { performance } from 'node:perf_hooks';

const enabled = process.env.KNOCKSTICK_TIMING === '1';

export function timing(phase: string): void {
  if (enabled) process.stderr.write(`timing: ${phase} +${performance.now().toFixed(1)} ms\n`);
}
