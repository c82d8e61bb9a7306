// seqgen: refill the one-time sequences on the server and on the stick, in lockstep. The actions
// live in actions.ts (server init and usbsetup call them as typed functions), --remote in remote.ts.

import type { Command } from '../core/command.js';
import { ExitCode } from '../core/errors.js';
import { cryptoRandom } from '../core/generate.js';
import { generate, repair, status } from './actions.js';
import { seqgenHelp } from './help.js';
import { FLAGS, parseSeqgenArgs } from './options.js';
import { remoteDeps, remoteGenerate } from './remote.js';
import { readConfig, settingsFor, STICK_CONFIG_NAME } from '../core/config.js';
import { stickLayout } from '../core/stick.js';
import { join } from 'node:path';
import type { SeqgenOptions } from './options.js';

/**
 * What the stick's settings say for this alias when the flags do not: its server file (a member's
 * own door, written by `knockstick stick add`), else the default; and its ports (that door's pool).
 * A missing or unreadable stick is left to the action, which says so properly.
 */
async function withStickServerFile(options: SeqgenOptions): Promise<SeqgenOptions> {
  if (options.action.kind === 'help') return options;
  const config = await readConfig(join(stickLayout(options.stickRoot).sshDir, STICK_CONFIG_NAME), 'stick').catch(() => undefined);
  const settings = config === undefined ? {} : settingsFor(config, options.host);
  const file = options.serverFileGiven === true ? undefined : settings.serverFile;
  return {
    ...options,
    ...(file === undefined ? {} : { serverFile: file, remoteServerFile: file }),
    ...(options.portsGiven === true || settings.ports === undefined ? {} : { range: settings.ports }),
  };
}

export const seqgenCommand: Command = {
  name: 'seqgen',
  help: seqgenHelp,
  flags: FLAGS,
  async run(context) {
    const options = await withStickServerFile(parseSeqgenArgs(context.args, context));
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
