// What every command gets and gives. Commands never call process.exit and never touch
// process.stdout directly: src/cli.ts owns both, and tests pass their own streams.

export interface Output {
  write(text: string): void;
}

export interface CommandContext {
  /** Arguments after the command name. */
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stdout: Output;
  readonly stderr: Output;
  /** Whether stderr is a terminal (live status lines) or a pipe/file (plain lines). */
  readonly stderrIsTTY: boolean;
  /** Whether stdout is a terminal: `spa qr` shows keys only there (never into a pipe or a log). */
  readonly stdoutIsTTY?: boolean;
  /** The name the user typed, for messages ("seqgen" or "knockstick seqgen"). */
  readonly invokedAs: string;
  /**
   * Set only by usbsetup when it runs seqgen on the stick it is making (whose .ssh/config may not
   * be written yet): that directory counts as a stick. Never reachable from argv or the environment.
   */
  readonly stickBeingMade?: string;
}

/** A command's options as node:util parseArgs takes them: also the source of shell completion. */
export type CommandFlags = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string; readonly multiple?: boolean }>>;

export interface Command {
  readonly name: string;
  /** Full --help text, examples and exit codes included. */
  help(invokedAs: string): string;
  /** Every option the command accepts (its help lists each; test/unit/conventions.test.ts checks). */
  readonly flags: CommandFlags;
  /** Returns the exit code; throws KnockstickError for failures. */
  run(context: CommandContext): Promise<number>;
}
