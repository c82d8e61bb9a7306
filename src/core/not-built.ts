// Commands that are planned but not built yet in this version. They exist so that the names in
// package.json's "bin" answer honestly instead of being missing.

import type { Command } from './command.js';
import { ExitCode, KnockstickError } from './errors.js';

export function notBuiltCommand(name: string, summary: string, plan: string, example: string): Command {
  const help = (cmd: string): string => `Usage:
  ${cmd} ...

${summary}.

Not built yet in this version of knockstick: ${plan}

Examples (once built):
  ${cmd} ${example}

Exit codes:
  69  not built yet
`;
  return {
    name,
    help,
    async run(context) {
      if (context.args.includes('--help') || context.args.includes('-h')) {
        context.stdout.write(help(context.invokedAs));
        return ExitCode.OK;
      }
      throw new KnockstickError('NOT_IMPLEMENTED', `${context.invokedAs} is not built yet in this version of knockstick`, {
        hint: 'see README.md for what works today',
      });
    },
  };
}
