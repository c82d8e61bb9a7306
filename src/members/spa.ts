// stick add NAME --method spa / stick revoke NAME for an SPA member: its own access.conf stanza
// (core/spa-member.ts), its keys on the stick (.ssh/fwknoprc [ALIAS], "method = spa"), its record
// in sticks.conf. Flow (under the members lock): read → check the name and the stick → new keys
// (CSPRNG) → access.conf with the new stanza, read by the real fwknopd first → the stick's files →
// the registry → SIGHUP fwknopd, checked alive. A failure puts back every file written.
// Revoke: the stanza out (checked the same way) → the registry says revoked → SIGHUP fwknopd →
// the spa4 doors that stick opened are closed. Its keys then match no stanza: its next packet, and
// any replay, is refused (a replay also by fwknopd's digest cache).

import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { STICK_CONFIG_NAME, setConfigValue } from '../core/config.js';
import { KnockstickError, usageError } from '../core/errors.js';
import { assertNotSymlink, ensureDirectory, readTextIfExists, writeAtomically } from '../core/files.js';
import { checkMemberName, doorNameFor, findMember, isActive, withMember, withRevoked, type Member } from '../core/members.js';
import { readRegistry, registryPathFor, withRegistryLock, writeRegistry } from '../core/members-io.js';
import { addSpaStanza, closeSpaDoors, fwknopdPidfileOf, reloadFwknopd, removeSpaStanza } from '../core/spa-member.js';
import { SPA_RC_NAME, stickLayout, verifyStick } from '../core/stick.js';
import { generateKeys } from '../spa/keys.js';
import { parseRcText, stanzaNames } from '../spa/rc-file.js';
import { clientStanza } from '../server/spa.js';

export const SPA_DEFAULTS = { accessConf: '/etc/fwknop/access.conf', fwknopdConf: '/etc/fwknop/fwknopd.conf' } as const;

export interface SpaServerOptions {
  /** server.conf's path: sticks.conf lives beside it (whether or not server.conf exists). */
  readonly serverConfig: string;
  readonly accessConf: string;
  readonly fwknopdConf: string;
  /** Undefined: FWKNOP_PID_FILE / FWKNOP_RUN_DIR of fwknopd.conf, else Debian's. */
  readonly fwknopdPidfile?: string | undefined;
}

export interface SpaAddOptions extends SpaServerOptions {
  readonly name: string;
  readonly stickRoot: string;
  /** The stick's ssh alias for this server (its fwknoprc stanza and knockstick.conf section). */
  readonly host: string;
  /** SPA_SERVER for the stick: the name or address its packets go to. */
  readonly spaServer: string;
  /** "TYPE BASE64", recorded for revoke --authorized-keys. */
  readonly sshKey?: string | undefined;
}

/** Reloads (or restarts) the fwknopd that runs with these files. */
async function reload(o: SpaServerOptions): Promise<string> {
  const conf = (await readTextIfExists(o.fwknopdConf)) ?? '';
  return reloadFwknopd(o.fwknopdPidfile ?? fwknopdPidfileOf(conf), conf);
}

export async function addSpaMember(o: SpaAddOptions, context: CommandContext): Promise<number> {
  checkMemberName(o.name);
  if (!/^[A-Za-z0-9.-]{1,253}$/.test(o.spaServer) || o.spaServer.startsWith('-')) throw usageError('--spa-server must be the name or IPv4 address the stick sends its packets to');
  const layout = await verifyStick(o.stickRoot, context.env);
  const rcPath = join(layout.sshDir, SPA_RC_NAME);
  const settingsPath = join(layout.sshDir, STICK_CONFIG_NAME);
  await assertNotSymlink(layout.sshDir);
  const out = context.stdout;
  const registryPath = registryPathFor(o.serverConfig);
  return withRegistryLock(registryPath, async () => {
    const rcBefore = await readTextIfExists(rcPath);
    if (rcBefore !== null && stanzaNames(parseRcText(rcBefore, rcPath)).some((n) => n.toLowerCase() === o.host.toLowerCase())) {
      throw usageError(`${rcPath} already has a stanza [${o.host}] (another server's keys); nothing was written`, 'give this server its own alias with --host ALIAS');
    }
    const loaded = await readRegistry(registryPath);
    const door = doorNameFor(o.name);
    const member: Member = { name: o.name, method: 'spa', door, created: new Date().toISOString(), sshKey: o.sshKey };
    const registry = withMember(loaded.registry, member);
    const keys = generateKeys();
    const accessBefore = await readTextIfExists(o.accessConf);
    const settingsBefore = await readTextIfExists(settingsPath);
    const undo: Array<() => Promise<void>> = [];
    const restore = (path: string, before: string | null, within?: string) => async () => (before === null ? unlink(path) : writeAtomically(path, before, within === undefined ? {} : { within }));
    try {
      const { spaDoor, checked } = await addSpaStanza({ ...o, door, keys });
      undo.push(restore(o.accessConf, accessBefore));
      await ensureDirectory(layout.sshDir, { within: layout.root });
      const stanza = clientStanza({ spaServer: o.spaServer, sshPort: spaDoor.sshPort, keys }, o.host);
      await writeAtomically(rcPath, `${rcBefore === null || rcBefore === '' ? '' : `${rcBefore.replace(/\n*$/, '')}\n\n`}${stanza}`, { within: layout.root });
      undo.push(restore(rcPath, rcBefore, layout.root));
      await writeAtomically(settingsPath, setConfigValue(settingsBefore ?? '', o.host, 'method', 'spa'), { within: layout.root });
      undo.push(restore(settingsPath, settingsBefore, layout.root));
      const registryBefore = await readTextIfExists(registryPath);
      await writeRegistry(registryPath, registry);
      undo.push(restore(registryPath, registryBefore));
      const reloaded = await reload(o);
      out.write(
        `Added stick ${o.name} (SPA): its own stanza in ${o.accessConf} (${checked}), new keys; a packet made with them opens tcp/${spaDoor.sshPort} for ${spaDoor.doorSeconds} s.\n` +
          `  The stick has the same keys: ${rcPath} [${o.host}] (mode 0600), and "method = spa" under [${o.host}] in ${settingsPath}.\n` +
          `  ${reloaded}.\n`,
      );
      return 0;
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      if (error instanceof KnockstickError) throw error;
      throw new KnockstickError('INTERNAL', `stick add failed and was undone: ${(error as Error).message}`, { cause: error });
    }
  });
}

/** The revoke steps for an SPA member, the registry lock held by the caller. Returns the report lines. */
export async function revokeSpaDoor(o: SpaServerOptions, member: Member): Promise<string[]> {
  const { checked } = await removeSpaStanza({ ...o, name: member.name });
  const reloaded = await reload(o);
  const closed = await closeSpaDoors(member.door);
  return [
    `removed its stanza from ${o.accessConf} (${checked}): its keys open nothing now`,
    reloaded,
    closed === 0 ? 'it had no open door' : `closed its ${closed} open door${closed === 1 ? '' : 's'} (spa4)`,
  ];
}

/** stick revoke NAME for an SPA member on a server without knockd. */
export async function revokeSpaMember(o: SpaServerOptions & { name: string }, context: CommandContext): Promise<number> {
  const registryPath = registryPathFor(o.serverConfig);
  return withRegistryLock(registryPath, async () => {
    const { registry } = await readRegistry(registryPath);
    const member = findMember(registry, o.name);
    if (member === undefined || !isActive(member)) throw usageError(`no active stick named ${o.name} in ${registryPath}`, 'see knockstick stick list');
    if (member.method !== 'spa') throw usageError(`stick ${o.name} is a knock member`, 'revoke it with knockstick stick revoke on the knockd server');
    const lines = await revokeSpaDoor(o, member);
    await writeRegistry(registryPath, withRevoked(registry, o.name, new Date().toISOString()));
    context.stdout.write(`Revoked stick ${o.name}:\n${lines.map((l) => `  ${l}\n`).join('')}`);
    return 0;
  });
}
