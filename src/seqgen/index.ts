// seqgen: refill the one-time sequences on the server and on the stick, in lockstep. The actions
// live in actions.ts (server init and usbsetup call them as typed functions), --remote in remote.ts.

import type { Command } from '../core/command.js';
import { ExitCode } from '../core/errors.js';
import { cryptoRandom } from '../core/generate.js';
import { generate, repair, status } from './actions.js';
import { seqgenHelp } from './help.js';
import { FLAGS, parseSeqgenArgs } from './options.js';
import { remoteDeps, remoteGenerate } from './remote.js';

export const seqgenCommand: Command = {
  name: 'seqgen',
  help: seqgenHelp,
  flags: FLAGS,
  async run(context) {
    const options = parseSeqgenArgs(context.args, context);
    switch (options.action.kind) {
      case 'help':
        context.stdout.write(seqgenHelp(context.invokedAs));
        return ExitCode.OK;
      case 'status':
        return status(options, context);
      case 'repair':
        return repair(options, context);
      case 'generate':
        return options.remote
          ? remoteGenerate(options, options.action.count, context, cryptoRandom, remoteDeps)
          : generate(options, options.action.count, context, cryptoRandom);
    }
  },
};
