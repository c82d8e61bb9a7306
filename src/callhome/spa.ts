// callhome --method spa --dry-run: what would be sent and run. The SPA door itself is the engine's
// (core/door/spa-method.ts), run by the proxy like a knock.

import type { Output } from '../core/command.js';
import { describeRequest } from '../spa/client.js';
import { readStickSpaConfig } from '../core/door/spa-method.js';
import type { Prepared } from '../core/door/prepare.js';
import type { CallhomeOptions } from './options.js';

export { SPA_RC_NAME } from '../core/stick.js';
export { readStickSpaConfig, spaCallDeps, type SpaCallDeps } from '../core/door/spa-method.js';
export type { DoorMethod } from '../core/door/options.js';

/** Reads the rc file (so its errors show), sends nothing. `tail`: the policy and ssh lines. */
export async function dryRunSpa(prepared: Prepared, options: CallhomeOptions, out: Output, tail: readonly string[]): Promise<void> {
  const config = await readStickSpaConfig(prepared.layout.spaRc, prepared.host.alias);
  const target = { address: config.server, port: config.port };
  out.write(
    [
      'dry run: nothing is sent, nothing is changed',
      `host ${prepared.host.alias}: ${prepared.host.hostName} = ${prepared.target.address}, port ${prepared.host.port}`,
      `method spa: keys from ${prepared.layout.spaRc} [${config.stanza}]`,
      `would send up to ${options.attempts} ${describeRequest(config, target)}, each followed by probing port ${prepared.host.port} every ${options.probeIntervalMs} ms for up to ${options.doorTimeoutMs} ms`,
      ...tail,
      '',
    ].join('\n'),
  );
}
