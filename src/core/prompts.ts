// The one place that talks to @inquirer/prompts. Commands ask through this small interface, so a
// wizard's logic is tested with scripted answers and never needs a terminal.

import { confirm, input, password, select } from '@inquirer/prompts';
import { InterruptedError } from './errors.js';
import { interruptSignal, interruptedBy } from './interrupt.js';

export interface Choice<T extends string> {
  readonly value: T;
  readonly name: string;
  readonly description?: string;
}

export interface Prompts {
  select<T extends string>(message: string, choices: readonly Choice<T>[], defaultValue?: T): Promise<T>;
  input(message: string, options?: { default?: string; validate?: (value: string) => true | string }): Promise<string>;
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
  /** A secret typed with echo off (shown as *). */
  password(message: string, options?: { validate?: (value: string) => true | string }): Promise<string>;
}

/**
 * Ctrl-C at a prompt: the terminal is in raw mode, so no SIGINT comes; @inquirer/prompts throws
 * ExitPromptError instead. It becomes "cancelled" (exit 130), never an "unexpected error".
 */
async function cancellable<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask();
  } catch (error) {
    if ((error as Error | undefined)?.name === 'ExitPromptError') throw new InterruptedError('cancelled (Ctrl-C at a prompt)');
    // SIGTERM (or a SIGINT sent with kill) while a question is on screen: the prompt is aborted.
    if ((error as Error | undefined)?.name === 'AbortPromptError') throw new InterruptedError(`interrupted by ${interruptedBy() ?? 'a signal'}`, interruptedBy());
    throw error;
  }
}

export const terminalPrompts: Prompts = {
  select: (message, choices, defaultValue) =>
    cancellable(() => select({ message, choices: choices.map((c) => ({ ...c })), ...(defaultValue === undefined ? {} : { default: defaultValue }) }, { signal: interruptSignal })),
  input: (message, options = {}) =>
    cancellable(() => input({ message, ...(options.default === undefined ? {} : { default: options.default }), ...(options.validate === undefined ? {} : { validate: options.validate }) }, { signal: interruptSignal })),
  confirm: (message, defaultValue) => cancellable(() => confirm({ message, ...(defaultValue === undefined ? {} : { default: defaultValue }) }, { signal: interruptSignal })),
  password: (message, options = {}) => cancellable(() => password({ message, mask: '*', ...(options.validate === undefined ? {} : { validate: options.validate }) }, { signal: interruptSignal })),
};
