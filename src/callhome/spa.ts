// callhome --method spa: the door opened by an fwknop SPA packet instead of a knock sequence.
// Same flow, messages and exit codes as knocking: send, probe the SSH port, then ssh. No sequence
// file is read or consumed, so there is nothing to mark on the stick and no lock to take; a lost
// packet is simply followed by a fresh one (new random digits and timestamp: never a replay).
//
// Keys live on the stick in STICK/.ssh/fwknoprc (fwknop's rc format, stanza named like the ssh
// alias, mode 0600: readRcFile refuses anything looser).

import { join } from 'node:path';
import type { CommandContext, Output } from '../core/command.js';
import { KnockstickError } from '../core/errors.js';
import { defaultUsername, describeRequest, sendSpa, type SpaSendDeps } from '../spa/client.js';
import { readRcFile, type SpaClientConfig } from '../spa/rc-file.js';
import { resolveSpaServer, udpSpaSender, type SpaSender } from '../spa/send.js';
import type { CallhomeDeps, Opened, Prepared } from './index.js';
import type { CallhomeOptions } from './options.js';
import { Progress } from './progress.js';
import { preloadSshRunner } from './ssh.js';

/** The stick's fwknop rc file. */
export const SPA_RC_NAME = 'fwknoprc';

export type { DoorMethod } from './method.js';

/** What the SPA path needs beyond callhome's own deps. */
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


export async function readStickSpaConfig(sshDir: string, alias: string): Promise<SpaClientConfig> {
  const path = join(sshDir, SPA_RC_NAME);
  try {
    return await readRcFile(path, alias);
  } catch (error) {
    if (error instanceof KnockstickError && error.code === 'IO') {
      throw new KnockstickError('IO', error.message, {
        hint: `SPA keys go in ${path} (mode 0600), stanza [${alias}]: \`knockstick spa keygen --rc-file ${path} -n ${alias} --server HOST\``,
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

/**
 * Sends SPA packets (a fresh one per attempt) until the SSH port answers or the attempts run out.
 * The caller runs ssh afterwards, exactly as after a knock.
 */
export async function openDoorWithSpa(
  prepared: Prepared,
  options: CallhomeOptions,
  deps: CallhomeDeps,
  spa: SpaCallDeps,
  context: Pick<CommandContext, 'stderr' | 'stderrIsTTY'>,
): Promise<Opened> {
  const { host, target } = prepared;
  const err: Output = context.stderr;
  const log = (line: string): void => {
    if (options.verbose) err.write(`${line}\n`);
  };
  const progress = new Progress(err, context.stderrIsTTY && !options.verbose);
  const config = await readStickSpaConfig(prepared.layout.sshDir, host.alias);
  if (!config.access.some((a) => a.protocol === 'tcp' && a.port === host.port)) {
    err.write(`warning: [${config.stanza}] in ${SPA_RC_NAME} asks for ${config.access.map((a) => `${a.protocol}/${a.port}`).join(',')}, not tcp/${host.port} (the ssh port of ${host.alias})\n`);
  }
  const sendDeps: SpaSendDeps = { sender: spa.sender, now: deps.now, resolveServer: spa.resolveServer, username: spa.username };
  let refused = 0;
  let spaAddress = config.server;
  for (let i = 0; i < options.attempts; i++) {
    progress.show(`sending an SPA packet to ${host.alias}, attempt ${i + 1}/${options.attempts}`);
    const sent = await sendSpa(config, {}, sendDeps, err);
    spaAddress = sent.target.address;
    log(`attempt ${i + 1}/${options.attempts}: sent ${describeRequest(config, sent.target)}`);
    progress.show(`waiting for port ${host.port} at ${host.alias} (attempt ${i + 1}/${options.attempts})`);
    const probing = deps.prober.probe(target, host.port, {
      deadlineMs: options.doorTimeoutMs,
      intervalMs: options.probeIntervalMs,
      onAttempt: (n, ms) => {
        if (options.verbose && (n < 3 || n % 50 === 0)) err.write(`  probe #${n} at +${ms} ms\n`);
      },
    });
    setImmediate(preloadSshRunner); // as for knocking: ssh's runner loads while the door opens
    const result = await probing;
    refused += result.refused;
    if (!result.open) {
      log(`  no answer on port ${host.port} within ${options.doorTimeoutMs} ms`);
      continue;
    }
    progress.done(`door open after ${result.elapsedMs} ms (SPA packet${i > 0 ? `, attempt ${i + 1}` : ''})` + (result.openedBy === 0 ? '; it answered at once, so it may have been open already' : ''));
    return { reused: false, remaining: Number.POSITIVE_INFINITY };
  }
  progress.clear();
  throw spaDoorClosedError(prepared, config, spaAddress, options.attempts, refused);
}

/** --dry-run for SPA: what would be sent and run; reads the rc file (so its errors show), sends nothing. */
export async function dryRunSpa(prepared: Prepared, options: CallhomeOptions, out: Output, sshLine: string): Promise<void> {
  const config = await readStickSpaConfig(prepared.layout.sshDir, prepared.host.alias);
  const target = { address: config.server, port: config.port };
  out.write(
    [
      'dry run: nothing is sent, nothing is changed',
      `host ${prepared.host.alias}: ${prepared.host.hostName} = ${prepared.target.address}, port ${prepared.host.port}`,
      `method spa: keys from ${join(prepared.layout.sshDir, SPA_RC_NAME)} [${config.stanza}]`,
      `would send up to ${options.attempts} ${describeRequest(config, target)}, each followed by probing port ${prepared.host.port} every ${options.probeIntervalMs} ms for up to ${options.doorTimeoutMs} ms`,
      options.knockOnly ? 'would not run ssh (--knock-only)' : `would run (in ${prepared.ssh.cwd}): ${sshLine}`,
      '',
    ].join('\n'),
  );
}
