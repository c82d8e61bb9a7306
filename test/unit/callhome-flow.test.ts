// callhome's retry and resync policy against a model of knockd behind a lossy network, with a fake
// clock: every case of the issue (lost knocks, stick behind, stick ahead, door already open, the
// last sequence) in milliseconds. The real knockd is exercised by test/lab/callhome.test.ts.
// Nothing here depends on the machine's speed: the clock, the knocks, the probes, the stick's files
// and its lock are all in memory (only the stick's ssh config is read from a temp directory).

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callhomeViaProxy as callhome, type TestDeps as CallhomeDeps } from '../helpers/proxied-callhome.js';
import { DEFAULTS, type CallhomeOptions } from '../../src/callhome/options.js';
import type { SshInvocation } from '../../src/core/door/ssh-command.js';
import { parseCallhomeState } from '../../src/core/callhome-state.js';
import { KnockstickError } from '../../src/core/errors.js';
import { healingOf, lockstepOf } from '../../src/core/lockstep.js';
import { ATTEMPT_PATTERN } from '../../src/core/policy.js';
import { formatLine, parseSequenceFile, sequenceKey, type Sequence } from '../../src/core/sequences.js';
import { FakeClock, FakeKnockd, FakeProber, LossyKnocker, seededRandom } from '../helpers/fake-knockd.js';
import { MemoryFiles, MemoryLock } from '../helpers/memory-stick.js';
import { tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
let stick: string;
let sequencesFile: string;
let files: MemoryFiles;

const seq = (base: number): Sequence => [0, 1, 2, 3, 4].map((i) => ({ port: base + i, protocol: 'tcp' as const }));
const SEQUENCES = Array.from({ length: 12 }, (_, i) => seq(20000 + i * 10));

beforeEach(async () => {
  dir = await tempDir();
  stick = join(dir.path, 'stick');
  sequencesFile = join(stick, '.ssh', 'sequences');
  files = new MemoryFiles();
  await mkdir(join(stick, '.ssh'), { recursive: true });
  await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 198.18.0.1\n  Port 22\n');
});
afterEach(async () => dir.cleanup());

function options(overrides: Partial<CallhomeOptions> = {}): CallhomeOptions {
  return {
    help: false,
    host: 'home',
    sshArgs: ['true'],
    stickRoot: stick,
    dryRun: false,
    verbose: false,
    knockOnly: false,
    ipv6: false,
    attempts: DEFAULTS.attempts,
    doorTimeoutMs: 500,
    gapMs: 10,
    probeIntervalMs: 10,
    doorWindowMs: 10_000,
    precheckMs: 300,
    warnBelow: 0,
    lockWaitSeconds: 5,
    ssh: 'ssh',
    method: 'knock', // so that no settings file is read
    ...overrides,
  };
}

interface World {
  clock: FakeClock;
  server: FakeKnockd;
  knocker: LossyKnocker;
  prober: FakeProber;
  lock: MemoryLock;
  ssh: SshInvocation[];
  deps: CallhomeDeps;
}

function world(lose: (n: number) => boolean = () => false, serverStart = 0): World {
  const clock = new FakeClock();
  const server = new FakeKnockd(SEQUENCES, clock);
  server.current = serverStart;
  const knocker = new LossyKnocker(server, lose);
  const prober = new FakeProber(server, clock);
  const lock = new MemoryLock();
  const ssh: SshInvocation[] = [];
  return {
    clock,
    server,
    knocker,
    prober,
    lock,
    ssh,
    deps: {
      knocker,
      prober,
      now: clock.now,
      sleep: clock.sleep,
      resolveAddress: async () => ({ address: '198.18.0.1', family: 4 }),
      runSsh: async (invocation) => {
        expect(lock.held).toBe(true); // ssh starts the moment the door opens, while the stick is still being written
        ssh.push(invocation);
        return 0;
      },
      lock: lock.lock,
      files,
    },
  };
}

/** The stick file: all SEQUENCES, the first `used` marked with "#". */
function writeStick(used: number): void {
  files.texts.set(sequencesFile, SEQUENCES.map((s, i) => (i < used ? `#${formatLine(s).slice(1)}` : formatLine(s))).join(''));
}

const stickText = (): string => files.texts.get(sequencesFile) ?? '';

const silent = { stdout: { write: () => undefined }, stderr: { write: () => undefined }, stderrIsTTY: false };

async function run(w: World, overrides: Partial<CallhomeOptions> = {}): Promise<number> {
  const code = await callhome(options(overrides), w.deps, silent);
  expect(w.lock.held).toBe(false);
  return code;
}

/** The server's file as the fake knockd has marked it. */
function serverFile(w: World) {
  const serverText = SEQUENCES.map((s, i) => (i < w.server.current ? `#${formatLine(s).slice(1)}` : formatLine(s))).join('');
  return parseSequenceFile(serverText, 'server', 'server').file;
}

/** How the stick relates to the fake server now. */
function lockstep(w: World) {
  return lockstepOf(serverFile(w), parseSequenceFile(stickText(), sequencesFile, 'stick').file);
}

describe('callhome against a model of knockd', () => {
  it('its default number of attempts tries every candidate at least once', () => {
    expect(DEFAULTS.attempts).toBeGreaterThanOrEqual(ATTEMPT_PATTERN.length);
  });

  it('a fresh stick: one attempt, one sequence used on each side, then ssh', async () => {
    writeStick(0);
    const w = world();
    expect(await run(w)).toBe(0);
    expect(w.server.consumed).toEqual([sequenceKey(SEQUENCES[0] as Sequence)]);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
    expect(w.ssh).toHaveLength(1);
    expect(w.ssh[0]?.args).toEqual(['-F', join(stick, '.ssh', 'config'), '-o', 'HostName=198.18.0.1', '-o', 'HostKeyAlias=198.18.0.1', '-4', 'home', 'true']);
    expect(w.ssh[0]?.cwd).toBe(stick);
  });

  it('sends exactly one packet per port of the sequence, after the clearing hits', async () => {
    writeStick(0);
    const w = world();
    await run(w);
    const ports = w.knocker.sent.map((k) => k.port);
    expect(ports).toEqual([20004, 20004, 20004, 20004, 20000, 20001, 20002, 20003, 20004]);
  });

  it('a sequence whose knock was lost is knocked again after clearing knockd\'s partial attempt', async () => {
    writeStick(0);
    const w = world((n) => n === 6); // the second port of the first attempt is lost
    expect(await run(w)).toBe(0);
    expect(w.server.consumed).toHaveLength(1);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
  });

  it.each([1, 2])('a stick %i behind the server (knockd used sequences the stick never marked) catches up', async (d) => {
    writeStick(0);
    const w = world(() => false, d);
    expect(await run(w)).toBe(0);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
  });

  it.each([1, 2])('a stick %i ahead of the server (marked, never consumed) catches up', async (d) => {
    writeStick(d);
    const w = world(() => false, 0);
    expect(await run(w)).toBe(0);
    expect(w.server.current).toBe(1);
    // knockd consumed the line d back, so it expects the d-1 after it: the stick lists them again.
    expect(lockstep(w)).toEqual({ state: 'in-step' });
    w.clock.advance(11_000); // past the door's cmd_timeout, so the next run knocks
    expect(await run(w)).toBe(0);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
    expect(w.server.consumed).toHaveLength(2);
  });

  it('a door this stick opened a moment ago is reused without spending a sequence', async () => {
    writeStick(0);
    const w = world();
    expect(await run(w)).toBe(0);
    const sent = w.knocker.sent.length;
    w.clock.advance(2000);
    expect(await run(w)).toBe(0);
    expect(w.knocker.sent.length).toBe(sent);
    expect(w.server.consumed).toHaveLength(1);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
    expect(w.ssh).toHaveLength(2);
  });

  it('after the door window it knocks again', async () => {
    writeStick(0);
    const w = world();
    await run(w);
    w.clock.advance(11_000);
    expect(await run(w)).toBe(0);
    expect(w.server.consumed).toHaveLength(2);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
  });

  it('a door found open before the knock could open it keeps the sequence unconfirmed, and heals next time', async () => {
    writeStick(0);
    const w = world((n) => n >= 4 && n < 9); // the whole first sequence is lost...
    w.server.doorOpenUntil = w.clock.now() + 3000; // ...while a door is open anyway (another knock from this address)
    expect(await run(w, { doorWindowMs: 0 })).toBe(0);
    expect(w.server.consumed).toHaveLength(0); // the stick marked line 1, knockd never consumed it
    expect(lockstep(w)).toEqual({ state: 'drift', stickAhead: 1 });
    w.clock.advance(5000);
    expect(await run(w)).toBe(0);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
  });

  it('never knocks the last unused sequence, and refuses when only it is left', async () => {
    writeStick(SEQUENCES.length - 1);
    const w = world(() => false, SEQUENCES.length - 1);
    await expect(run(w)).rejects.toMatchObject({ code: 'EXHAUSTED', message: expect.stringMatching(/only the last unused sequence/) });
    expect(w.knocker.sent).toEqual([]);
    expect(w.server.crashed).toBe(false);
  });

  it('with two left and the server on the last one, it fails rather than crash knockd', async () => {
    writeStick(SEQUENCES.length - 2);
    const w = world(() => false, SEQUENCES.length - 1);
    await expect(run(w)).rejects.toMatchObject({ code: 'DOOR_CLOSED' });
    const last = SEQUENCES[SEQUENCES.length - 1] as Sequence;
    expect(w.knocker.sent.some((k) => k.port === last[0]?.port)).toBe(false);
    expect(w.server.crashed).toBe(false);
  });

  it('when the door never opens it says what it tried and what to check, and changes nothing', async () => {
    writeStick(1);
    const before = stickText();
    const w = world();
    w.server.running = false;
    const error = (await run(w).catch((e: unknown) => e)) as KnockstickError;
    expect(error.code).toBe('DOOR_CLOSED');
    expect(error.message).toMatch(/did not open after 6 attempt/);
    expect(error.message).toMatch(/line 2 \(the next sequence\): 3 time/);
    expect(error.message).toMatch(/line 3 \(1 ahead/);
    expect(error.message).toMatch(/line 1 \(1 back/);
    expect(error.message).toMatch(/panic lockdown/);
    expect(error.message).toMatch(/seqgen status/);
    expect(stickText()).toBe(before);
    expect(w.ssh).toEqual([]);
  });

  it('marks the sequence before ssh runs, so a failing ssh leaves both sides in step', async () => {
    writeStick(0);
    const w = world();
    const deps = { ...w.deps, runSsh: async () => 255 };
    expect(await callhome(options(), deps, silent)).toBe(255);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
  });

  it('another host alias knocks from its own sequence file and leaves the default one alone', async () => {
    await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 198.18.0.1\nHost office\n  HostName 198.18.0.1\n  Port 2222\n');
    writeStick(0);
    const homeBefore = stickText();
    files.texts.set(`${sequencesFile}.office`, stickText());
    const w = world();
    expect(await run(w, { host: 'office' })).toBe(0);
    expect(stickText()).toBe(homeBefore);
    expect(files.texts.get(`${sequencesFile}.office`)?.startsWith('#')).toBe(true);
    expect(w.ssh[0]?.args).toContain('office');
  });

  it('a stick that cannot record the knock still connects, says so, and the next run catches up', async () => {
    writeStick(0);
    const w = world();
    const err: string[] = [];
    files.failWrites = true; // a stick that went read-only
    const code = await callhome(options(), w.deps, { ...silent, stderr: { write: (t: string) => void err.push(t) } });
    expect(code).toBe(0);
    files.failWrites = false;
    expect(w.ssh).toHaveLength(1);
    expect(err.join('')).toMatch(/warning: the door is open, but the stick could not record it.*now 1 behind/);
    expect(lockstep(w)).toEqual({ state: 'drift', stickAhead: -1 });
    w.clock.advance(60_000);
    expect(await run(w)).toBe(0);
    expect(lockstep(w)).toEqual({ state: 'in-step' });
  });

  it('removes the temp files killed runs left next to the stick file, under the lock, and says so in one line', async () => {
    writeStick(0);
    const w = world();
    const sshDir = join(stick, '.ssh');
    files.staleTemps.set(sshDir, [join(sshDir, '.sequences.4242.0123456789ab.tmp')]);
    const err: string[] = [];
    expect(await callhome(options(), w.deps, { ...silent, stderr: { write: (t: string) => void err.push(t) } })).toBe(0);
    expect(files.staleTemps.size).toBe(0);
    expect(err.join('').split('\n').filter((l) => /temp file/.test(l))).toEqual([`removed 1 temp file(s) left by killed runs (.sequences.4242.0123456789ab.tmp) in ${sshDir}`]);
  });

  it('--knock-only opens the door and does not run ssh', async () => {
    writeStick(0);
    const w = world();
    expect(await run(w, { knockOnly: true })).toBe(0);
    expect(w.ssh).toEqual([]);
    expect(w.server.consumed).toHaveLength(1);
  });

  it('--knock-only is refused before any knock when the stick says the door is single-use (its check would spend the door)', async () => {
    writeStick(0);
    const before = stickText();
    const w = world();
    const failure = await callhome(options({ knockOnly: true, doorPolicy: 'single-use' }), w.deps, silent).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'USAGE', message: expect.stringMatching(/--knock-only cannot work with home's single-use door/) });
    expect(w.knocker.sent).toEqual([]);
    expect(w.ssh).toEqual([]);
    expect(stickText()).toBe(before);
  });

  it('--dry-run sends nothing and changes nothing', async () => {
    writeStick(0);
    const before = stickText();
    const w = world();
    const out: string[] = [];
    expect(await callhome(options({ dryRun: true }), w.deps, { ...silent, stdout: { write: (t: string) => void out.push(t) } })).toBe(0);
    expect(w.knocker.sent).toEqual([]);
    expect(w.prober.probes).toBe(0);
    expect(stickText()).toBe(before);
    expect(out.join('')).toMatch(/attempt 1: the next sequence: 4 clearing hits on its first port, then sequence line 1 \(5 ports, tcp\)/);
    expect(out.join('')).not.toMatch(/2000\d/);
    expect(out.join('')).toMatch(/would run \(in .*stick\): ssh -F .*config -o HostName=198.18.0.1/);
  });

  it('--dry-run --show-secrets shows the knock ports too', async () => {
    writeStick(0);
    const w = world();
    const out: string[] = [];
    expect(await callhome(options({ dryRun: true, showSecrets: true }), w.deps, { ...silent, stdout: { write: (t: string) => void out.push(t) } })).toBe(0);
    expect(out.join('')).toMatch(/then sequence line 1 \(5 ports, tcp\): 20000,20001,20002,20003,20004/);
  });

  it('under 30% packet loss, every run either gets in or changes nothing, and the sides never part beyond healing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: -2, max: 2 }), async (seed, drift) => {
        writeStick(Math.max(0, drift));
        const random = seededRandom(seed);
        const w = world(() => random() < 0.3, Math.max(0, -drift));
        for (let runNo = 0; runNo < 4; runNo++) {
          const before = stickText();
          const code = await run(w, { attempts: 12 }).catch((e: KnockstickError) => e.code);
          const step = lockstep(w);
          if (code === 0) {
            // Never beyond what the next callhome heals by itself (the drift rule status uses).
            const stickFile = parseSequenceFile(stickText(), sequencesFile, 'stick').file;
            const { state } = parseCallhomeState(files.texts.get(`${sequencesFile}.state`) ?? null, 'state');
            expect(healingOf(step, serverFile(w), stickFile, state).by).toMatch(/^(nothing-to-do|callhome)$/);
          } else {
            expect(code).toBe('DOOR_CLOSED');
            expect(stickText()).toBe(before);
          }
          expect(w.server.crashed).toBe(false);
          w.clock.advance(60_000);
        }
      }),
      { numRuns: 60 },
    );
    // About a second of CPU on an idle machine, all of it in memory: a budget a loaded machine cannot
    // exhaust, so the test fails only on a wrong outcome, never on a slow one.
  }, 120_000);
});
