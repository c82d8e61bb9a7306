// The ports a new one-time sequence may never use: --exclude, plus what the shared settings say
// (panic ports, the SSH port, exclusions) in the server config and the stick config, plus the Port
// of the host in the stick's ssh config. Panic ports above all: a one-time sequence that contained
// the out-of-phase panic port could trip the panic stanza.

import { readConfig, reservedPorts, settingsFor, STICK_CONFIG_NAME } from '../core/config.js';
import { InvalidFileError } from '../core/errors.js';
import { readTextIfExists } from '../core/files.js';
import { hostConfigFrom } from '../core/ssh-config.js';
import { join } from 'node:path';
import type { StickLayout } from '../core/stick.js';

export interface Reserved {
  readonly ports: ReadonlySet<number>;
  /** Where they came from, for the report. */
  readonly sources: readonly string[];
}

export async function reservedForSeqgen(
  flagPorts: ReadonlySet<number>,
  layout: StickLayout,
  host: string,
  serverConfigPath: string | undefined,
): Promise<Reserved> {
  const ports = new Set(flagPorts);
  const sources: string[] = flagPorts.size > 0 ? ['--exclude'] : [];
  const add = (list: readonly number[], source: string): void => {
    if (list.length === 0) return;
    for (const p of list) ports.add(p);
    sources.push(source);
  };
  if (serverConfigPath !== undefined) {
    const server = await readConfig(serverConfigPath, 'server');
    add(reservedPorts(server.global), serverConfigPath);
  }
  const stick = await readConfig(join(layout.sshDir, STICK_CONFIG_NAME), 'stick');
  add(reservedPorts(settingsFor(stick, host)), stick.path);
  const sshConfig = await readTextIfExists(layout.sshConfig);
  if (sshConfig !== null) {
    try {
      add([hostConfigFrom(sshConfig, layout.sshConfig, host).port], `${layout.sshConfig} (Port)`);
    } catch (error) {
      // No entry for this alias: nothing to reserve from it (callhome reports such configs). But a
      // value ssh cannot use is refused here too, with its line: the Port might be the bad value.
      if (error instanceof InvalidFileError) throw error;
    }
  }
  return { ports, sources };
}
