// A model of knockd 0.8's one-time matching for fast tests of callhome's policy, with a lossy
// network in front of it. It follows knockd-facts.md (and the lab experiments behind CLEARING_HITS):
// - only packets to ports of the CURRENT sequence are seen (pcap filter); others are invisible;
// - the expected next port advances the attempt; any other visible packet resets it;
// - the packet that finds a reset attempt only removes it;
// - completing the sequence opens the door for cmdTimeoutMs and moves to the next line;
// - consuming the last line crashes knockd.
// The lab tests check the real knockd; this model lets the policy be tested in milliseconds.

import type { Knocker, Target } from '../../src/core/knock.js';
import type { Prober, ProbeResult } from '../../src/core/probe.js';
import { sequenceKey, type Knock, type Sequence } from '../../src/core/sequences.js';

export class FakeKnockd {
  current = 0;
  /** -1: reset; 0: none; n > 0: that many ports matched. */
  private stage = 0;
  doorOpenUntil = -1;
  /** Set when the door opens, cleared by the next probe: tells "opened by these knocks" from "was open". */
  openedSinceProbe = false;
  crashed = false;
  running = true;
  readonly seen: Knock[] = [];
  readonly consumed: string[] = [];

  constructor(
    readonly sequences: Sequence[],
    readonly clock: FakeClock,
    readonly cmdTimeoutMs = 10_000,
  ) {}

  private visible(knock: Knock): boolean {
    const seq = this.sequences[this.current];
    return seq !== undefined && seq.some((k) => k.port === knock.port && k.protocol === knock.protocol);
  }

  receive(knock: Knock): void {
    if (!this.running || this.crashed || !this.visible(knock)) return;
    this.seen.push(knock);
    const seq = this.sequences[this.current] as Sequence;
    const expected = seq[this.stage === -1 ? 0 : this.stage];
    if (this.stage === -1) {
      this.stage = 0; // the packet that finds a reset attempt only removes it
      return;
    }
    if (this.stage === 0 && !(knock.port === seq[0]?.port && knock.protocol === seq[0]?.protocol)) return;
    if (expected !== undefined && knock.port === expected.port && knock.protocol === expected.protocol) {
      this.stage++;
      if (this.stage === seq.length) this.open();
    } else {
      this.stage = -1;
    }
  }

  private open(): void {
    this.stage = 0;
    this.doorOpenUntil = this.clock.now() + this.cmdTimeoutMs;
    this.openedSinceProbe = true;
    this.consumed.push(sequenceKey(this.sequences[this.current] as Sequence));
    this.current++;
    if (this.current >= this.sequences.length) this.crashed = true;
  }

  doorOpen(): boolean {
    return this.clock.now() < this.doorOpenUntil;
  }
}

export class FakeClock {
  private t = 1_800_000_000_000;
  now = (): number => this.t;
  sleep = async (ms: number): Promise<void> => {
    this.t += ms;
  };
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Drops packets where `lose(n)` is true for the n-th packet sent (0-based). */
export class LossyKnocker implements Knocker {
  sent: Knock[] = [];
  constructor(
    private readonly server: FakeKnockd,
    private readonly lose: (n: number) => boolean = () => false,
  ) {}
  async send(_target: Target, knock: Knock): Promise<void> {
    const n = this.sent.length;
    this.sent.push(knock);
    if (!this.lose(n)) this.server.receive(knock);
  }
}

/** Sees the fake door. `openedBy` is 0 when the door was already open when probing began. */
export class FakeProber implements Prober {
  probes = 0;
  constructor(
    private readonly server: FakeKnockd,
    private readonly clock: FakeClock,
  ) {}
  async probe(_target: Target, _port: number, options: { deadlineMs: number }): Promise<ProbeResult> {
    this.probes++;
    const fresh = this.server.openedSinceProbe;
    this.server.openedSinceProbe = false;
    // A door opened by the knocks just sent lets the third probe in (about 50 ms later in reality);
    // one open before them lets the very first in.
    if (this.server.doorOpen()) return { open: true, openedBy: fresh ? 3 : 0, elapsedMs: fresh ? 50 : 1, refused: 0 };
    this.clock.advance(options.deadlineMs);
    return { open: false, openedBy: null, elapsedMs: options.deadlineMs, refused: 0 };
  }
}

/** Seeded PRNG (mulberry32) for reproducible loss patterns. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
