// stick add NAME --method spa / stick revoke NAME for an SPA member: its own access.conf stanza
// (core/spa-member.ts), its keys on the stick (.ssh/fwknoprc [ALIAS], "method = spa"), its record
// in sticks.conf. Flow (under the members lock): read → check the name and the stick → new keys
// (CSPRNG) → access.conf with the new stanza, read by the real fwknopd first → the stick's files →
// the registry → SIGHUP fwknopd, checked alive. A failure puts back every file written.
// Revoke: the stanza out (checked the same way) → the registry says revoked → SIGHUP fwknopd →
// the spa4 doors that stick opened are closed. Its keys then match no stanza: its next packet, and
// any replay, is refused (a replay also by fwknopd's digest cache).

import { stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { SERVER_CONFIG_PATH, STICK_CONFIG_NAME, setConfigValue } from '../core/config.js';
import { KnockstickError, usageError } from '../core/errors.js';
import { assertNotSymlink, ensureDirectory, readTextIfExists, writeAtomically } from '../core/files.js';
import { checkMemberName, doorNameFor, findMember, isActive, withMember, withRevoked, type Member } from '../core/members.js';
import { readRegistry, registryPathFor, withRegistryLock, writeRegistry } from '../core/members-io.js';
import { parseAccessConf } from '../core/access-conf.js';
import { addSpaStanza, closeSpaDoors, fwknopdPidfileOf, reloadFwknopd, removeSpaStanza, stopFwknopd } from '../core/spa-member.js';
import { SPA_RC_NAME, stickLayout, verifyStick } from '../core/stick.js';
import { generateKeys } from '../spa/keys.js';
import { parseRcText, stanzaNames } from '../spa/rc-file.js';
import { clientStanza } from '../server/spa.js';
import { withoutKey } from './revoke.js';
import { finishMixedSetup, startMixedSetup } from './spa-mixed.js';

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
  /**
   * The stick that gets the keys. Undefined: `stick add --keys-stdin` run over ssh by a remote
   * `stick add` (members/remote.ts), which made the keys and writes the stick on its side.
   */
  readonly stickRoot: string;
  /** The stick's ssh alias for this server (its fwknoprc stanza and knockstick.conf section). */
  readonly host: string;
  /** SPA_SERVER for the stick: the name or address its packets go to. */
  readonly spaServer: string;
  /** "TYPE BASE64", recorded for revoke --authorized-keys. */
  readonly sshKey?: string | undefined;
}

/** Reloads (or restarts) the fwknopd that runs with these files. */
/**
 * The SPA paths from the command line. Defaults: Debian's fwknop-server files for the system's
 * server.conf; beside server.conf for any other (a staging copy made by server init --out, which
 * writes access.conf and fwknopd.conf into the same directory).
 */
export function spaServerOptions(values: { 'access-conf'?: string | undefined; 'fwknopd-conf'?: string | undefined; 'fwknopd-pidfile'?: string | undefined }, cwd: string, serverConfig: string): SpaServerOptions {
  const system = serverConfig === SERVER_CONFIG_PATH;
  const at = (v: string | undefined, name: keyof typeof SPA_DEFAULTS, file: string): string => resolve(cwd, v ?? (system ? SPA_DEFAULTS[name] : join(dirname(serverConfig), file)));
  return {
    serverConfig,
    accessConf: at(values['access-conf'], 'accessConf', 'access.conf'),
    fwknopdConf: at(values['fwknopd-conf'], 'fwknopdConf', 'fwknopd.conf'),
    fwknopdPidfile: values['fwknopd-pidfile'] === undefined ? undefined : resolve(cwd, values['fwknopd-pidfile']),
  };
}

/** Whether sticks.conf (beside server.conf) names `name` as an SPA member. */
export async function isSpaMember(serverConfig: string, name: string): Promise<boolean> {
  const { registry } = await readRegistry(registryPathFor(serverConfig));
  return findMember(registry, name)?.method === 'spa';
}

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
      // A knockd server without fwknopd yet: set up what it lacks (spa-mixed.ts).
      const mixed = accessBefore === null || parseAccessConf(accessBefore, o.accessConf).stanzas.length === 0 ? await startMixedSetup({ ...o, accessExists: accessBefore !== null }) : undefined;
      if (mixed !== undefined) undo.push(...mixed.undo.splice(0));
      const { spaDoor, checked } = await addSpaStanza({ ...o, door, keys, spaDoor: mixed?.spaDoor });
      if (accessBefore !== null) undo.push(restore(o.accessConf, accessBefore));
      if (mixed !== undefined) {
        const conf = (await readTextIfExists(o.fwknopdConf)) ?? '';
        await finishMixedSetup({ serverConfig: o.serverConfig, fwknopdPidfile: o.fwknopdPidfile ?? fwknopdPidfileOf(conf) }, mixed);
        undo.push(...mixed.undo);
      }
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
          `  ${reloaded}.\n` +
          (mixed === undefined ? '' : `${mixed.report.map((l) => `  ${l}\n`).join('')}  Start fwknopd: systemctl enable --now fwknop-server   (or: fwknopd -c ${o.fwknopdConf} -a ${o.accessConf})\n`),
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
  // On a knockd server, the last SPA stick may go (the knock sticks keep the server reachable);
  // on an SPA-only server, that would lock everyone out: panic's job, refused here.
  const knockServer = (await readTextIfExists(o.serverConfig)) !== null;
  const { checked, empty } = await removeSpaStanza({ ...o, name: member.name, allowEmpty: knockServer });
  const conf = (await readTextIfExists(o.fwknopdConf)) ?? '';
  const reloaded = empty ? await stopFwknopd(o.fwknopdPidfile ?? fwknopdPidfileOf(conf)) : await reload(o);
  const closed = await closeSpaDoors(member.door);
  return [
    `removed its stanza from ${o.accessConf} (${checked}): its keys open nothing now`,
    reloaded,
    closed === 0 ? 'it had no open door' : `closed its ${closed} open door${closed === 1 ? '' : 's'} (spa4)`,
  ];
}

/** stick revoke NAME for an SPA member (on an SPA server, or a knockd server with SPA members too). */
export async function revokeSpaMember(o: SpaServerOptions & { name: string; authorizedKeys?: string | undefined }, context: CommandContext): Promise<number> {
  const registryPath = registryPathFor(o.serverConfig);
  return withRegistryLock(registryPath, async () => {
    const { registry } = await readRegistry(registryPath);
    const member = findMember(registry, o.name);
    if (member === undefined || !isActive(member)) throw usageError(`no active stick named ${o.name} in ${registryPath}`, 'see knockstick stick list; nothing was changed');
    if (member.method !== 'spa') throw usageError(`stick ${o.name} is a knock member`, 'nothing was changed');
    // The key file is read (and its line found) before anything changes.
    let keys: { path: string; before: string; after: string; removed: number; mode: number; uid: number; gid: number } | undefined;
    if (o.authorizedKeys !== undefined) {
      if (member.sshKey === undefined) throw usageError(`the record of ${o.name} has no ssh key (ssh_key in ${registryPath}), so its line in ${o.authorizedKeys} is not known`, 'remove it by hand, or revoke without --authorized-keys; nothing was changed');
      const before = await readTextIfExists(o.authorizedKeys);
      if (before === null) throw usageError(`--authorized-keys ${o.authorizedKeys}: no such file`, 'nothing was changed');
      const st = await stat(o.authorizedKeys);
      const { text, removed } = withoutKey(before, member.sshKey);
      keys = { path: o.authorizedKeys, before, after: text, removed, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    }
    const lines = await revokeSpaDoor(o, member);
    await writeRegistry(registryPath, withRevoked(registry, o.name, new Date().toISOString()));
    if (keys !== undefined && keys.removed > 0) await writeAtomically(keys.path, keys.after, { mode: keys.mode, owner: { uid: keys.uid, gid: keys.gid } });
    if (keys !== undefined) lines.push(keys.removed > 0 ? `removed its key from ${keys.path} (${keys.removed} line(s))` : `its key was not in ${keys.path}: nothing to remove`);
    context.stdout.write(`Revoked stick ${o.name} (SPA), record marked revoked in ${registryPath}:\n${lines.map((l) => `  ${l}\n`).join('')}`);
    return 0;
  });
}

/**
 * The server's half of a remote `stick add NAME --method spa` (members/remote.ts): the keys come
 * on stdin (two lines, KEY_BASE64 and HMAC_KEY_BASE64 values: never in argv), the stanza is added
 * and fwknopd reloaded as by addSpaMember, and what the stick needs (port) goes to stdout as JSON.
 */
export async function addSpaMemberFromStdin(o: SpaServerOptions & { name: string; stdin: string; sshKey?: string | undefined }, context: CommandContext): Promise<number> {
  checkMemberName(o.name);
  const [encryption, hmac] = o.stdin.split('\n').map((l) => Buffer.from(l.trim(), 'base64'));
  if (encryption === undefined || hmac === undefined || encryption.length !== 32 || hmac.length !== 64) throw usageError('--keys-stdin: expected two lines on stdin, a 32-byte and a 64-byte key in base64');
  const keys = { encryption, hmac };
  const registryPath = registryPathFor(o.serverConfig);
  return withRegistryLock(registryPath, async () => {
    const loaded = await readRegistry(registryPath);
    const door = doorNameFor(o.name);
    const registry = withMember(loaded.registry, { name: o.name, method: 'spa', door, created: new Date().toISOString(), sshKey: o.sshKey });
    const accessBefore = await readTextIfExists(o.accessConf);
    if (accessBefore === null) throw usageError(`${o.accessConf} does not exist: set up SPA on the server first (stick add --method spa there), then add from afar`);
    const { spaDoor, checked } = await addSpaStanza({ ...o, door, keys });
    try {
      await writeRegistry(registryPath, registry);
    } catch (error) {
      await writeAtomically(o.accessConf, accessBefore, { mode: 0o600 });
      throw error;
    }
    const reloaded = await reload(o);
    context.stdout.write(`${JSON.stringify({ name: o.name, door, sshPort: spaDoor.sshPort, doorSeconds: spaDoor.doorSeconds, checked, reloaded })}\n`);
    return 0;
  });
}
