// The one path for Ctrl-C and SIGTERM. Commands push an undo step for everything they start that
// must not outlive them (loop devices, open LUKS mappings, mounts, temp dirs); the runner (run.ts)
// registers every child process. On a signal, src/cli.ts calls `interrupt`: the children are
// killed and awaited (a cryptsetup left running would keep the loop device busy), then the undo
// steps run in reverse, and cli.ts prints one line and exits 130 or 143.
//
// No imports beyond what the signal path needs: cli.ts loads this for every command, callhome's
// start-up included.

/** One undo step, named for the "interrupted: undid ..." line (e.g. "detached /dev/loop3"). */
export interface CleanupStep {
  readonly label: string;
  readonly undo: () => Promise<void>;
}

export interface CleanupReport {
  readonly undone: readonly string[];
  readonly failed: readonly { readonly label: string; readonly error: unknown }[];
}

/**
 * Undo steps, run last-in first-out. Runs are queued one after the other: the command's own
 * `finally` and the signal path may both ask, and every step runs exactly once, in order.
 */
export class CleanupStack {
  private readonly steps: CleanupStep[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private active = 0;
  private readonly undoneLabels: string[] = [];
  private readonly failures: { label: string; error: unknown }[] = [];

  /** Registers an undo step; the returned function drops it again (the thing was undone by hand). */
  push(label: string, undo: () => Promise<void>): () => void {
    const step = { label, undo };
    this.steps.push(step);
    return () => {
      const i = this.steps.indexOf(step);
      if (i >= 0) this.steps.splice(i, 1);
    };
  }

  /** The current height: `runAll(mark)` later undoes only what was pushed after it (a nested step's own). */
  mark(): number {
    return this.steps.length;
  }

  /** True while steps run: their own commands (umount, losetup -d) must run, interrupt or not. */
  get isRunning(): boolean {
    return this.active > 0;
  }

  get size(): number {
    return this.steps.length;
  }

  /** Everything undone so far, in the order it was undone. */
  get undone(): readonly string[] {
    return this.undoneLabels;
  }

  /** Every step that failed so far. */
  get failed(): readonly { readonly label: string; readonly error: unknown }[] {
    return this.failures;
  }

  /**
   * Runs the registered steps above `from` (default: all), newest first, once the runs asked for
   * before it are done. A failing step does not stop the others: a mount that will not go away
   * must not keep the loop device attached too. The report covers the steps this run ran.
   */
  runAll(from = 0): Promise<CleanupReport> {
    // Counted from the call on: the first step's command is spawned before any await.
    this.active += 1;
    const run = this.queue.then(async (): Promise<CleanupReport> => {
      const undone: string[] = [];
      const failed: { label: string; error: unknown }[] = [];
      while (this.steps.length > from) {
        const step = this.steps.pop() as CleanupStep;
        try {
          await step.undo();
          undone.push(step.label);
          this.undoneLabels.push(step.label);
        } catch (error) {
          failed.push({ label: step.label, error });
          this.failures.push({ label: step.label, error });
        }
      }
      return { undone, failed };
    });
    const done = run.finally(() => {
      this.active -= 1;
    });
    this.queue = done;
    return done;
  }
}

/** The process's stack: what the running command has to undo. */
export const cleanup = new CleanupStack();

const controller = new AbortController();
/** Aborted on SIGINT/SIGTERM: the runner starts no new child and kills the running ones. */
export const interruptSignal: AbortSignal = controller.signal;
let received: NodeJS.Signals | undefined;

/**
 * The name the signal path's one line starts with, when not the command's own: connect run by
 * callhome's ssh speaks as "callhome", so Ctrl-C while it knocks says "callhome: interrupted".
 */
let speakingAs: string | undefined;
export function speakAs(name: string): void {
  speakingAs = name;
}
export function spokenName(fallback: string): string {
  return speakingAs ?? fallback;
}

/** The signal that interrupted this run, if one did. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return received;
}

/** A running child: the runner's promise, with execa's kill. */
type Child = Promise<unknown> & { kill(signal?: NodeJS.Signals): boolean };
const children = new Set<Child>();
/** The children that must finish once started (finishOnInterrupt in run.ts): never SIGKILLed. */
const mustFinish = new WeakSet<Child>();

/** Called by the runner for each child it starts; settled children drop out by themselves. */
export function trackChild(child: Child, options: { mustFinish?: boolean } = {}): void {
  children.add(child);
  if (options.mustFinish === true) mustFinish.add(child);
  const forget = (): void => void children.delete(child);
  child.then(forget, forget);
}

/**
 * A second Ctrl-C while the first is being handled: the user will not wait out the grace period
 * (cryptsetup ignores SIGTERM while it derives the key), so the children get SIGKILL now.
 */
export function killChildrenNow(): void {
  for (const child of children) if (!mustFinish.has(child)) child.kill('SIGKILL');
}

let handedOver = 0;

/**
 * While `fn` runs, Ctrl-C belongs to a child that owns the terminal (callhome's ssh, which forwards
 * it to the remote side or ends the session itself): SIGINT, SIGQUIT and SIGTSTP are left to it.
 * SIGTERM still ends everything.
 */
export async function withTerminalHandedOver<T>(fn: () => Promise<T>): Promise<T> {
  handedOver += 1;
  const ignore = (): void => undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGTSTP'];
  // Without a listener, these would end or stop us under ssh's feet (cli.ts's own SIGINT listener
  // asks signalBelongsToChild and leaves it alone).
  for (const s of signals) process.on(s, ignore);
  try {
    return await fn();
  } finally {
    handedOver -= 1;
    for (const s of signals) process.off(s, ignore);
  }
}

const taken = new Map<NodeJS.Signals, () => void>();

/**
 * While the returned release is not called, `signals` are the command's own business: `onSignal`
 * runs instead of the signal path (no "interrupted" line, no exit). connect takes SIGHUP and SIGINT
 * once it relays: ssh sends SIGHUP to its ProxyCommand when the session ends, which is no failure.
 */
export function takeSignals(signals: readonly NodeJS.Signals[], onSignal: () => void): () => void {
  for (const s of signals) {
    taken.set(s, onSignal);
    process.on(s, onSignal);
  }
  return () => {
    for (const s of signals) {
      if (taken.get(s) === onSignal) taken.delete(s);
      process.off(s, onSignal);
    }
  };
}

/** Whether a signal should be left to the child that has the terminal (or to the command: takeSignals). */
export function signalBelongsToChild(signal: NodeJS.Signals): boolean {
  return (handedOver > 0 && signal !== 'SIGTERM') || taken.has(signal);
}

/**
 * How long the signal path waits for the command itself to stop (at its next external command,
 * which then throws, or at a checkpoint) before undoing under its feet. Undoing while the command
 * still writes could remove a file it is about to write again.
 */
const SETTLE_MS = 2000;

/**
 * The signal path: stop starting children, kill the running ones and wait for them, give the
 * command a moment to reach its own `finally`, then undo what is left.
 * Idempotent: a second signal during the cleanup gets the same promise (the cleanup must finish,
 * or a loop device stays attached).
 */
let interrupting: Promise<CleanupReport> | undefined;
export function interrupt(signal: NodeJS.Signals, commandSettled: Promise<unknown> = Promise.resolve()): Promise<CleanupReport> {
  if (interrupting !== undefined) return interrupting;
  received = signal;
  controller.abort(new Error(`interrupted by ${signal}`));
  interrupting = (async () => {
    // The runner kills each child on abort (SIGTERM, then SIGKILL after a grace period).
    const hadChildren = children.size > 0;
    while (children.size > 0) await Promise.allSettled([...children]);
    // No child, nothing to undo (callhome knocking, seqgen waiting for its lock): no reason to
    // wait. After a child, the command may be about to register its undo (a loop device attached).
    if (hadChildren || cleanup.size > 0 || cleanup.isRunning) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([commandSettled.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, SETTLE_MS)))]);
      clearTimeout(timer);
    }
    return cleanup.runAll();
  })();
  return interrupting;
}

/** A checkpoint between steps that run no external command: stop here if a signal came. */
export function isInterrupted(): boolean {
  return received !== undefined;
}

/** The exit status of a process ended by this signal, as shells report it (128 + number). */
export function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : signal === 'SIGHUP' ? 129 : 130;
}
