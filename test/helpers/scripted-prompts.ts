// A fake of src/core/prompts.ts for the wizards' unit tests.

import type { Prompts } from '../../src/core/prompts.js';

/** Prompts answered from a script, recording each question; validation runs as it would live. */
export function scripted(answers: Array<string | boolean>) {
  const asked: string[] = [];
  const next = () => {
    if (answers.length === 0) throw new Error(`no scripted answer left (asked: ${asked.join(' | ')})`);
    return answers.shift() as string | boolean;
  };
  const prompts: Prompts = {
    async select(message, choices, defaultValue) {
      asked.push(message);
      const answer = next();
      const value = answer === '' ? defaultValue : answer;
      if (!choices.some((c) => c.value === value)) throw new Error(`not a choice: ${String(value)}`);
      return value as never;
    },
    async input(message, options = {}) {
      asked.push(message);
      let answer = next() as string;
      if (answer === '' && options.default !== undefined) answer = options.default;
      const ok = options.validate?.(answer) ?? true;
      if (ok !== true) throw new Error(`rejected ${JSON.stringify(answer)}: ${ok}`);
      return answer;
    },
    async confirm(message) {
      asked.push(message);
      return next() as boolean;
    },
    async password(message) {
      asked.push(message);
      return next() as string;
    },
  };
  return { prompts, asked };
}
