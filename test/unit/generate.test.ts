import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  allowedPorts,
  cryptoRandom,
  distinctSequences,
  generateSequences,
  type GenerateOptions,
  type RandomSource,
} from '../../src/core/generate.js';
import { formatLine, parseSequenceFile, sequenceKey, unusedLines } from '../../src/core/sequences.js';
import { seeded } from '../helpers/seeded-random.js';


/** A deterministic random source from fast-check's generated integers (for reproducible properties). */
function scripted(values: readonly number[]): RandomSource {
  let i = 0;
  return { int: (max) => (values.length === 0 ? 0 : (values[i++ % values.length] ?? 0) % max) };
}

const base: GenerateOptions = {
  count: 10,
  length: 5,
  range: { low: 1024, high: 65535 },
  exclude: new Set(),
  avoid: new Set(),
};

describe('generateSequences', () => {
  it('every generated file parses cleanly, with ports in range, none excluded, all of one length, all distinct', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 1, max: 65535 - 64 }),
        fc.integer({ min: 64, max: 2000 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 30 }),
        fc.integer(),
        (count, length, low, width, excluded, seed) => {
          const high = Math.min(65535, low + width);
          const exclude = new Set(excluded);
          const sequences = generateSequences(seeded(seed), {
            count,
            length,
            range: { low, high },
            exclude,
            avoid: new Set(),
          });
          const text = sequences.map(formatLine).join('');
          const { file, problems } = parseSequenceFile(text, 'generated', 'server');
          expect(problems).toEqual([]);
          const lines = unusedLines(file);
          expect(lines).toHaveLength(count);
          for (const line of lines) {
            expect(line.sequence).toHaveLength(length);
            for (const knock of line.sequence) {
              expect(knock.port).toBeGreaterThanOrEqual(low);
              expect(knock.port).toBeLessThanOrEqual(high);
              expect(exclude.has(knock.port)).toBe(false);
            }
          }
          expect(new Set(lines.map((l) => sequenceKey(l.sequence))).size).toBe(count);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never produces a sequence in the avoid set', () => {
    // 3 ports, length 2: exactly 6 ordered sequences exist; avoid 4 of them, ask for the other 2.
    const range = { low: 5000, high: 5002 };
    const avoid = new Set(['5000,5001', '5001,5000', '5000,5002', '5002,5000']);
    const got = generateSequences(cryptoRandom, { ...base, count: 2, length: 2, range, avoid });
    expect(got.map(sequenceKey).sort()).toEqual(['5001,5002', '5002,5001']);
  });

  it('draws from the whole pool: with the CSPRNG every allowed port shows up', () => {
    const range = { low: 3000, high: 3009 };
    const got = generateSequences(cryptoRandom, { ...base, count: 200, length: 3, range, avoid: new Set(), exclude: new Set([3004]) });
    const seen = new Set(got.flatMap((s) => s.map((k) => k.port)));
    expect([...seen].sort()).toEqual(allowedPorts(range, new Set([3004])));
  });

  it('maps random values to ports by a partial Fisher-Yates over the allowed ports', () => {
    // Pool [10,11,12,13]: pick index 2 (12), swap; then 0 + int(3)=1 -> pool[1] = 11.
    const got = generateSequences(scripted([2, 0]), { ...base, count: 1, length: 2, range: { low: 10, high: 13 } });
    expect(got).toEqual([[{ port: 12, protocol: 'tcp' }, { port: 11, protocol: 'tcp' }]]);
  });

  it('refuses a pool smaller than the length, naming the flags to change', () => {
    expect(() => generateSequences(cryptoRandom, { ...base, length: 5, range: { low: 2000, high: 2003 } })).toThrow(
      /only 4 usable port\(s\) in 2000-2003.*needs 5 different ports/,
    );
  });

  it('refuses to promise more distinct sequences than exist', () => {
    expect(() => generateSequences(cryptoRandom, { ...base, count: 7, length: 2, range: { low: 2000, high: 2002 } })).toThrow(
      /only 6 new distinct sequence\(s\)/,
    );
  });

  it('turns a broken random source into an error instead of a hang', () => {
    expect(() => generateSequences(scripted([0]), { ...base, count: 2, length: 1, range: { low: 2000, high: 2001 } })).toThrow(
      /could not draw 2 distinct sequences/,
    );
  });

  it('counts ordered sequences of distinct ports', () => {
    expect(distinctSequences(3, 2)).toBe(6);
    expect(distinctSequences(2, 3)).toBe(0);
    expect(distinctSequences(64512, 32)).toBe(Number.MAX_SAFE_INTEGER);
  });
});
