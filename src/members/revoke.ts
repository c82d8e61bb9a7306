// stick revoke NAME: that stick's door goes, every other door stays. Flow (under the members lock):
// read → compute knockd.conf without its stanza, the registry with it marked revoked and (with
// --authorized-keys) that file without its key (pure) → check the new knockd.conf (model, files,
// real knockd) → write them (each put back if a later write fails) → SIGHUP knockd (same pid) →
// close the doors that stick opened lately → remove its one-time file.
//
// Closing its open doors: a door is the knocking address in the firewall's door set/list, shared
// by all doors (firewall.ts), and only knockd's log says which door an address came through:
// every address whose "stick-NAME: OPEN SESAME" is younger than cmd_timeout (plus a minute: the log
// has minutes only) is taken out of the door set. Connections already made are not cut (sshd's
// sessions are established ones); another stick knocking from the same address in that minute
// loses its open door too and knocks again.

import { stat, unlink, writeFile } from 'node:fs/promises';
import type { CommandContext } from '../core/command.js';
import { KnockstickError, usageError } from '../core/errors.js';
import { readTextIfExists, writeAtomically } from '../core/files.js';
import { NFT_DOORS4, NFT_DOORS6, NFT_TABLE, RECENT_DIR, RECENT_LIST } from '../core/firewall.js';
import { parseDoorOpenings, possiblyOpen } from '../core/knockd-log.js';
import { describeReload, reloadKnockd, verifyNewKnockdConf } from '../core/knockd-reload.js';
import { withoutStanza } from '../core/member-doors.js';
import { activeMembers, findMember, parseKeyBlob, withRevoked } from '../core/members.js';
import { withRegistryLock, writeRegistry } from '../core/members-io.js';
import { runAllowingFailure } from '../core/run.js';
import { loadServer, refuseRouter } from './server.js';

export interface RevokeOptions {
  readonly name: string;
  readonly serverConfig: string;
  readonly authorizedKeys: string | undefined;
}

/** `text` without the lines carrying `key` ("TYPE BASE64"), and how many went. Pure. */
export function withoutKey(text: string, key: string): { text: string; removed: number } {
  const lines = text.split('\n');
  const kept = lines.filter((l) => l.trim().startsWith('#') || parseKeyBlob(l) !== key);
  return { text: kept.join('\n'), removed: lines.length - kept.length };
}

/** Takes `address` out of the door place knockd's start_command fills; false when it is not one we know. */
async function closeDoor(startCommand: string, address: string): Promise<boolean> {
  if (startCommand.includes(`nft add element inet ${NFT_TABLE} ${NFT_DOORS4}`)) {
    const set = address.includes(':') ? NFT_DOORS6 : NFT_DOORS4;
    // Failing is fine: the element may have timed out or been used (single-use) already.
    await runAllowingFailure({ file: 'nft', args: ['delete', 'element', 'inet', NFT_TABLE, set, `{ ${address} }`], purpose: `close the door of ${address}` });
    return true;
  }
  if (startCommand.includes(`${RECENT_DIR}/${RECENT_LIST}`)) {
    await writeFile(`${RECENT_DIR}/${RECENT_LIST}`, `-${address}\n`).catch(() => undefined);
    return true;
  }
  return false;
}

export async function revokeMember(o: RevokeOptions, context: CommandContext): Promise<number> {
  const now = new Date();
  const first = await loadServer(o.serverConfig, now.toISOString());
  return withRegistryLock(first.registryPath, async () => {
    const state = await loadServer(o.serverConfig, now.toISOString());
    refuseRouter(state);
    const member = findMember(state.registry, o.name);
    const known = activeMembers(state.registry).map((m) => m.name);
    if (member === undefined) throw usageError(`no stick named ${JSON.stringify(o.name)} on this server (members: ${known.length === 0 ? 'none' : known.join(', ')})`, `see ${context.invokedAs.replace(/ revoke$/, '')} list; nothing was changed`);
    if (member.revoked !== undefined) throw usageError(`stick ${o.name} was revoked already (${member.revoked})`, 'nothing was changed');
    if (member.method !== 'knock') throw usageError(`stick ${o.name} opens an SPA door; revoking those is not done here yet`, 'nothing was changed');
    if (known.length === 1) {
      throw usageError(`${o.name} is the last stick with a door here: revoking it would lock everyone out`, 'that is what panic is for (knockstick panic send, then rotate at the server); nothing was changed');
    }
    const door = state.knockdConf.doors.find((d) => d.name === member.door);
    const newConf = door === undefined ? state.knockdConfText : withoutStanza(state.knockdConfText, member.door);
    let keys: { path: string; before: string; after: string; removed: number; mode: number; uid: number; gid: number } | undefined;
    if (o.authorizedKeys !== undefined) {
      if (member.sshKey === undefined) throw usageError(`the record of ${o.name} has no ssh key (ssh_key in ${state.registryPath}), so its line in ${o.authorizedKeys} is not known`, 'remove it by hand, or revoke without --authorized-keys; nothing was changed');
      const before = await readTextIfExists(o.authorizedKeys);
      if (before === null) throw usageError(`--authorized-keys ${o.authorizedKeys}: no such file`, 'nothing was changed');
      const st = await stat(o.authorizedKeys);
      const { text, removed } = withoutKey(before, member.sshKey);
      keys = { path: o.authorizedKeys, before, after: text, removed, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    }
    // Checked before anything is written: knockd dies on a config error at SIGHUP.
    const probe = await verifyNewKnockdConf(newConf, state.knockdConfPath);

    const undo: Array<() => Promise<void>> = [];
    const out = context.stdout;
    try {
      if (newConf !== state.knockdConfText) {
        await writeAtomically(state.knockdConfPath, newConf);
        undo.push(async () => writeAtomically(state.knockdConfPath, state.knockdConfText));
      }
      const registryBefore = await readTextIfExists(state.registryPath);
      await writeRegistry(state.registryPath, withRevoked(state.registry, o.name, now.toISOString()));
      undo.push(async () => (registryBefore === null ? unlink(state.registryPath) : writeAtomically(state.registryPath, registryBefore)));
      if (keys !== undefined && keys.removed > 0) {
        const k = keys;
        await writeAtomically(k.path, k.after, { mode: k.mode, owner: { uid: k.uid, gid: k.gid } });
        undo.push(async () => writeAtomically(k.path, k.before, { mode: k.mode, owner: { uid: k.uid, gid: k.gid } }));
      }
      const reload = await reloadKnockd(state.pidfile, probe);
      undo.length = 0; // knockd runs without the door now: nothing is put back past this point.
      out.write(`Revoked stick ${o.name}: door [${member.door}] removed from ${state.knockdConfPath}, record marked revoked in ${state.registryPath}.\n`);
      out.write(`${describeReload(reload, `${o.name}'s sequences open nothing`)}\n`);
      // Its doors opened lately: closed now, after the reload, so that none opens in between.
      const logfile = state.knockdConf.options.get('logfile')?.value;
      const log = logfile === undefined ? null : await readTextIfExists(logfile).catch(() => null);
      const seconds = Number(door?.settings.get('cmd_timeout')?.value ?? '10');
      const open = possiblyOpen(parseDoorOpenings(log ?? ''), member.door, now.getTime(), seconds);
      const start = door?.settings.get('start_command')?.value ?? '';
      const closed: string[] = [];
      for (const address of open) if (await closeDoor(start, address)) closed.push(address);
      out.write(
        log === null
          ? `Could not read knockd's log${logfile === undefined ? ' (it logs to syslog)' : ` ${logfile}`}: doors ${o.name} opened in the last ${seconds} s close by themselves by then.\n`
          : closed.length > 0
            ? `Closed the door ${o.name} opened lately for ${closed.join(', ')} (connections already made stay up).\n`
            : `${o.name} opened no door in the last ${seconds} s.\n`,
      );
      if (keys !== undefined) out.write(keys.removed > 0 ? `Removed its key from ${keys.path} (${keys.removed} line(s)).\n` : `Its key was not in ${keys.path}: nothing to remove.\n`);
      if (member.oneTimeFile !== undefined && door !== undefined && reload.kind !== 'not-probed') {
        await unlink(member.oneTimeFile).catch(() => undefined);
        out.write(`Removed ${member.oneTimeFile}.\n`);
      }
      return 0;
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      if (error instanceof KnockstickError) throw error;
      throw new KnockstickError('IO', `stick revoke failed, and what it had written was put back: ${(error as Error).message}`, { cause: error });
    }
  });
}
