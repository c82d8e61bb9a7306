// Random one-time sequences. Pure: the random source is injected (node:crypto in production,
// a seeded or scripted source in tests).

import { randomInt } from 'node:crypto';
import { KnockstickError, usageError } from './errors.js';
import { MAX_SEQUENCE_LENGTH, sequenceKey, type Sequence } from './sequences.js';

/** Uniform integers in [0, maxExclusive). */
export interface RandomSource {
  int(maxExclusive: number): number;
}

/** The CSPRNG. crypto.randomInt rejects modulo bias itself, so every value is equally likely. */
export const cryptoRandom: RandomSource = {
  int: (maxExclusive) => randomInt(maxExclusive),
};

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

export interface GenerateOptions {
  readonly count: number;
  /** Ports per sequence. */
  readonly length: number;
  readonly range: PortRange;
  /** Ports never used: the SSH port, panic ports, ports of real services. */
  readonly exclude: ReadonlySet<number>;
  /** Sequences that must not be produced again (every line the files ever held). */
  readonly avoid: ReadonlySet<string>;
}

export const DEFAULT_RANGE: PortRange = { low: 1024, high: 65535 };
export const DEFAULT_LENGTH = 5;

/** The ports a sequence may use, ascending. */
export function allowedPorts(range: PortRange, exclude: ReadonlySet<number>): number[] {
  const ports: number[] = [];
  for (let p = range.low; p <= range.high; p++) if (!exclude.has(p)) ports.push(p);
  return ports;
}

/** Number of distinct ordered sequences of `length` distinct ports out of `n`, capped at 2^53. */
export function distinctSequences(n: number, length: number): number {
  let total = 1;
  for (let i = 0; i < length; i++) {
    total *= n - i;
    if (total <= 0) return 0;
    if (total > Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  }
  return total;
}

function validateOptions(options: GenerateOptions, poolSize: number): void {
  const { count, length, range } = options;
  if (!Number.isInteger(count) || count < 1) throw usageError(`COUNT must be a whole number of at least 1 (got ${count})`);
  if (!Number.isInteger(length) || length < 1 || length > MAX_SEQUENCE_LENGTH) {
    throw usageError(`--length must be 1-${MAX_SEQUENCE_LENGTH} (got ${length}); knockd accepts at most ${MAX_SEQUENCE_LENGTH} ports`);
  }
  if (range.low < 1 || range.high > 65535 || range.low > range.high) {
    throw usageError(`--ports must be LOW-HIGH within 1-65535 with LOW <= HIGH (got ${range.low}-${range.high})`);
  }
  if (poolSize < length) {
    throw usageError(
      `only ${poolSize} usable port(s) in ${range.low}-${range.high} after exclusions, ` +
        `but each sequence needs ${length} different ports`,
      'widen --ports or shorten --exclude',
    );
  }
  const room = distinctSequences(poolSize, length) - options.avoid.size;
  if (room < count) {
    throw usageError(
      `only ${Math.max(0, room)} new distinct sequence(s) of ${length} ports remain in ${range.low}-${range.high}; ${count} requested`,
      'widen --ports or use a greater --length',
    );
  }
}

/** One sequence: `length` distinct ports drawn uniformly from `pool` (a partial Fisher-Yates). */
function drawSequence(rng: RandomSource, pool: number[], length: number): Sequence {
  const knocks = [];
  for (let i = 0; i < length; i++) {
    const j = i + rng.int(pool.length - i);
    const picked = pool[j] as number;
    pool[j] = pool[i] as number;
    pool[i] = picked;
    knocks.push({ port: picked, protocol: 'tcp' as const });
  }
  return knocks;
}

/**
 * `count` new TCP sequences: each of `length` distinct allowed ports, every ordered choice equally
 * likely, none equal to another or to anything in `avoid`.
 */
export function generateSequences(rng: RandomSource, options: GenerateOptions): Sequence[] {
  const pool = allowedPorts(options.range, options.exclude);
  validateOptions(options, pool.length);
  const taken = new Set(options.avoid);
  const result: Sequence[] = [];
  // Rejection of repeats keeps the distribution uniform over the sequences not yet taken. The
  // bound only matters for nearly exhausted spaces, which validateOptions already refused unless
  // there is room; it turns a pathological random source into an error instead of a hang.
  const maxAttempts = options.count * 1000 + 10_000;
  let attempts = 0;
  while (result.length < options.count) {
    if (++attempts > maxAttempts) {
      throw new KnockstickError('INTERNAL', `could not draw ${options.count} distinct sequences in ${maxAttempts} attempts`);
    }
    const sequence = drawSequence(rng, pool, options.length);
    const key = sequenceKey(sequence);
    if (taken.has(key)) continue;
    taken.add(key);
    result.push(sequence);
  }
  return result;
}
