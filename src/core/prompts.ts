// The one place that talks to @inquirer/prompts. Commands ask through this small interface, so a
// wizard's logic is tested with scripted answers and never needs a terminal.

import { confirm, input, password, select } from '@inquirer/prompts';

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

export const terminalPrompts: Prompts = {
  select: (message, choices, defaultValue) =>
    select({ message, choices: choices.map((c) => ({ ...c })), ...(defaultValue === undefined ? {} : { default: defaultValue }) }),
  input: (message, options = {}) =>
    input({ message, ...(options.default === undefined ? {} : { default: options.default }), ...(options.validate === undefined ? {} : { validate: options.validate }) }),
  confirm: (message, defaultValue) => confirm({ message, ...(defaultValue === undefined ? {} : { default: defaultValue }) }),
  password: (message, options = {}) => password({ message, mask: '*', ...(options.validate === undefined ? {} : { validate: options.validate }) }),
};
