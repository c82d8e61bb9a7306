// Reproducible random sources for the unit tests of code that draws ports.

import type { RandomSource } from '../../src/core/generate.js';

/** A seeded PRNG (mulberry32): reproducible, and unlike a short script it never cycles early. */
export function seeded(seed: number): RandomSource {
  let a = seed >>> 0;
  return {
    int(max) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * max);
    },
  };
}
