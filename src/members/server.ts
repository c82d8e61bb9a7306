// What every `stick` subcommand reads first on the server: the settings, knockd.conf, and the
// member registry (with the legacy door adopted, in memory, when the registry does not know it).

import { dirname, join } from 'node:path';
import { readConfig, type Settings } from '../core/config.js';
import { InvalidFileError, KnockstickError, usageError } from '../core/errors.js';
import { readTextIfExists } from '../core/files.js';
import { parseKnockdConf, type KnockdConf } from '../core/knockd-conf.js';
import { isRouterDoor } from '../core/member-doors.js';
import { LEGACY_DOOR, activeMembers, adoptLegacyDoor, type Registry } from '../core/members.js';
import { readRegistry, registryPathFor } from '../core/members-io.js';

export interface ServerState {
  readonly serverConfigPath: string;
  readonly settings: Settings;
  readonly knockdConfPath: string;
  readonly knockdConfText: string;
  readonly knockdConf: KnockdConf;
  readonly pidfile: string;
  readonly registryPath: string;
  readonly registryExists: boolean;
  /** With the legacy door adopted when the file did not list it (`adopted`). */
  readonly registry: Registry;
  readonly adopted: boolean;
}

export async function loadServer(serverConfigPath: string, now: string): Promise<ServerState> {
  const settings = (await readConfig(serverConfigPath, 'server')).global;
  const knockdConfPath = settings.knockdConf ?? '/etc/knockd.conf';
  const knockdConfText = await readTextIfExists(knockdConfPath);
  if (knockdConfText === null) {
    throw new KnockstickError('IO', `${knockdConfPath} does not exist`, { hint: `give the server settings with --server-config (knockd_conf = ...), or make the server with knockstick server init` });
  }
  const parsed = parseKnockdConf(knockdConfText, knockdConfPath);
  if (parsed.problems.length > 0) throw new InvalidFileError(parsed.problems, 'fix knockd.conf first (knockstick doctor); nothing was written');
  const registryPath = registryPathFor(serverConfigPath);
  const loaded = await readRegistry(registryPath);
  const { registry, adopted } = adoptLegacyDoor(loaded.registry, parsed.conf.doors, now);
  return {
    serverConfigPath,
    settings,
    knockdConfPath,
    knockdConfText,
    knockdConf: parsed.conf,
    pidfile: settings.pidfile ?? '/run/knockd.pid',
    registryPath,
    registryExists: loaded.exists,
    registry,
    adopted,
  };
}

/** Router mode has one door per inner host: members there would be members × hosts. Refused. */
export function refuseRouter(state: ServerState): void {
  const router = state.knockdConf.doors.filter(isRouterDoor).map((d) => d.name);
  if (router.length > 0) {
    throw usageError(
      `${state.knockdConfPath} is a router's (server init --inner: doors ${router.join(', ')} forward SSH to inner hosts); stick add/revoke do not manage router doors`,
      'give each person a stick made with usbsetup for one inner host, and use panic to close them all; see the README, "Several sticks"',
    );
  }
}

/** The door a new member's stanza copies: the legacy door, else the first active knock member's. */
export function modelDoor(state: ServerState) {
  const names = [LEGACY_DOOR, ...activeMembers(state.registry).filter((m) => m.method === 'knock').map((m) => m.door)];
  for (const name of names) {
    const door = state.knockdConf.doors.find((d) => d.name === name && d.oneTimeFile !== null);
    if (door !== undefined) return door;
  }
  throw usageError(`${state.knockdConfPath} has no knock door to copy for a new stick`, 'make the server with knockstick server init first');
}

/** Where new members' one-time files go: next to the model door's (/etc/knockd, or a staging dir). */
export function doorDirectory(state: ServerState): string {
  const file = modelDoor(state).oneTimeFile as string;
  return dirname(file);
}

export const oneTimeFileIn = (dir: string, door: string): string => join(dir, door);
