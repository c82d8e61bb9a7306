// The SPA method: an fwknop Single Packet Authorization packet per attempt instead of a knock
// sequence. No sequence file is read or consumed, so there is nothing to mark on the stick and no
// lock to take; a lost packet is simply followed by a fresh one (new random digits and timestamp:
// never a replay). Keys live on the stick in STICK/.ssh/fwknoprc (fwknop's rc format, stanza named
// like the ssh alias, mode 0600: readRcFile refuses anything looser).

import type { CommandContext } from '../command.js';
import { KnockstickError } from '../errors.js';
import { SPA_RC_NAME } from '../stick.js';
import { defaultUsername, describeRequest, sendSpa, type SpaSendDeps } from '../../spa/client.js';
import { readRcFile, type SpaClientConfig } from '../../spa/rc-file.js';
import { resolveSpaServer, udpSpaSender, type SpaSender } from '../../spa/send.js';
import type { DoorStrategy } from './engine.js';
import type { DoorOptions } from './options.js';
import type { DoorDeps, Prepared } from './prepare.js';

/** What the SPA method needs beyond the engine's own deps. */
export interface SpaCallDeps {
  readonly sender: SpaSender;
  readonly resolveServer: (host: string) => Promise<string>;
  readonly username: () => string;
}

export const spaCallDeps: SpaCallDeps = {
  sender: udpSpaSender,
  resolveServer: resolveSpaServer,
  username: () => defaultUsername(process.env),
};

export async function readStickSpaConfig(spaRc: string, alias: string): Promise<SpaClientConfig> {
  try {
    return await readRcFile(spaRc, alias);
  } catch (error) {
    if (error instanceof KnockstickError && error.code === 'IO') {
      throw new KnockstickError('IO', error.message, {
        hint: `SPA keys go in ${spaRc} (mode 0600), stanza [${alias}]: \`knockstick spa keygen --rc-file ${spaRc} -n ${alias} --server HOST\``,
        cause: error,
      });
    }
    throw error;
  }
}

function spaDoorClosedError(prepared: Prepared, config: SpaClientConfig, spaAddress: string, attempts: number, refused: number): KnockstickError {
  const { host, target } = prepared;
  const causes = [
    `the server is down or unreachable from here${config.server === spaAddress ? '' : ` (${config.server} resolved to ${spaAddress})`}`,
    'fwknopd is not running on the server, or its firewall drops udp/' + `${config.port} before fwknopd's UDP server sees it`,
    `the keys in [${config.stanza}] differ from the server's access.conf (fwknopd logs an HMAC failure and stays silent to us)`,
    'this clock is more than 120 s off the server\'s (fwknopd refuses old packets): fix the clock, or TIME_OFFSET in the rc file',
    ...(config.allowIp === '0.0.0.0' ? [] : [`ALLOW_IP ${config.allowIp} is not the address the server sees us coming from: try ALLOW_IP source`]),
    ...(config.access.some((a) => a.protocol === 'tcp' && a.port === host.port) ? [] : [`[${config.stanza}] ACCESS does not include tcp/${host.port}, the ssh port`]),
    ...(refused > 0 ? [`port ${host.port} answered with a refusal ${refused} time(s): the host is up, but sshd is down or a REJECT rule answers`] : []),
  ];
  return new KnockstickError(
    'DOOR_CLOSED',
    `the door at ${host.alias} (${target.address} port ${host.port}) did not open after ${attempts} SPA packet(s) to ${spaAddress} udp/${config.port}\n` +
      `Check:\n${causes.map((c) => `  - ${c}`).join('\n')}`,
  );
}

/** Reads the stick's SPA keys for this alias and returns the SPA strategy. */
export async function spaStrategy(
  prepared: Prepared,
  options: Pick<DoorOptions, 'attempts' | 'verbose'>,
  deps: Pick<DoorDeps, 'now'>,
  spa: SpaCallDeps,
  context: Pick<CommandContext, 'stderr'>,
): Promise<DoorStrategy> {
  const { host } = prepared;
  const err = context.stderr;
  const config = await readStickSpaConfig(prepared.layout.spaRc, host.alias);
  if (!config.access.some((a) => a.protocol === 'tcp' && a.port === host.port)) {
    err.write(`warning: [${config.stanza}] in ${SPA_RC_NAME} asks for ${config.access.map((a) => `${a.protocol}/${a.port}`).join(',')}, not tcp/${host.port} (the ssh port of ${host.alias})\n`);
  }
  const sendDeps: SpaSendDeps = { sender: spa.sender, now: deps.now, resolveServer: spa.resolveServer, username: spa.username };
  let spaAddress = config.server;
  return {
    recentOpeningMs: () => undefined,
    remainingWhenReused: () => Number.POSITIVE_INFINITY,
    plan: () => options.attempts,
    describeAttempt: (i, total) => `sending an SPA packet to ${host.alias}, attempt ${i + 1}/${total}`,
    async send(i, total) {
      const sent = await sendSpa(config, {}, sendDeps, err);
      spaAddress = sent.target.address;
      if (options.verbose) err.write(`attempt ${i + 1}/${total}: sent ${describeRequest(config, sent.target)}\n`);
    },
    observe: () => undefined,
    succeeded: (i, result) => ({
      message: `door open after ${result.elapsedMs} ms (SPA packet${i > 0 ? `, attempt ${i + 1}` : ''})` + (result.openedBy === 0 ? '; it answered at once, so it may have been open already' : ''),
      remaining: Number.POSITIVE_INFINITY,
      record: async () => undefined,
    }),
    failure: (refused, attempts) => spaDoorClosedError(prepared, config, spaAddress, attempts, refused),
  };
}
