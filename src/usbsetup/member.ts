// usbsetup --member NAME: the stick being made becomes a new member of the server on this machine,
// through the same steps as `knockstick stick add` (members/add.ts, members/spa.ts): a door of its
// own (knockd stanza and one-time file drawn from its own pool, or an fwknopd access.conf stanza
// with new keys), the stick's side written by them, the record in sticks.conf. So a second stick
// never shares (and spends) another stick's one-time file, which copying --server-file would do.

import { lstat } from 'node:fs/promises';
import type { CommandContext } from '../core/command.js';
import { SERVER_CONFIG_PATH } from '../core/config.js';
import { LEGACY_DOOR, parseKeyBlob } from '../core/members.js';
import { readRegistry, registryPathFor } from '../core/members-io.js';
import { addMember } from '../members/add.js';
import { addSpaMember, spaServerOptions } from '../members/spa.js';
import type { ContentAnswers } from './options.js';
import type { LocalServers } from './wizard.js';

/**
 * The servers the wizard offers to join: server.conf at the default path (or at --server-config),
 * counted as a server when it, or the sticks.conf next to it, exists.
 */
export async function localServers(candidates: readonly string[] = [SERVER_CONFIG_PATH]): Promise<LocalServers> {
  const exists = async (path: string): Promise<boolean> => (await lstat(path).catch(() => null)) !== null;
  const found: string[] = [];
  for (const path of new Set(candidates)) {
    if ((await exists(path)) || (await exists(registryPathFor(path)))) found.push(path);
  }
  return { found, takenNames };
}

/** Every name in that server's sticks.conf, with why it cannot be taken again. */
export async function takenNames(serverConfig: string): Promise<ReadonlyMap<string, string>> {
  const { registry } = await readRegistry(registryPathFor(serverConfig));
  const taken = new Map<string, string>([[LEGACY_DOOR, "is the first stick's door (server init's [ssh]), adopted as a member when the server gets its next one"]]);
  for (const [name, reason] of registry.members.map((m) => [
      m.name,
      m.revoked === undefined
        ? `is already a member of this server (since ${m.created})`
        : `was a member, revoked ${m.revoked}: a name is never given again, so nothing of the lost stick can match a new door`,
  ] as const)) taken.set(name, reason);
  return taken;
}

export async function joinAsMember(root: string, answers: ContentAnswers, publicKey: string, publicKeyFile: string, context: CommandContext): Promise<void> {
  const member = answers.member;
  if (member === undefined) return;
  // stick add reports on stdout; usbsetup's own report goes to stderr, and so does this.
  const quiet: CommandContext = { ...context, stdout: context.stderr, stickBeingMade: root };
  if (answers.method === 'spa') {
    await addSpaMember(
      { ...spaServerOptions({}, context.cwd, member.serverConfig), name: member.name, stickRoot: root, host: answers.alias, spaServer: answers.hostName, sshKey: parseKeyBlob(publicKey) },
      quiet,
    );
    return;
  }
  await addMember({ name: member.name, serverConfig: member.serverConfig, stickRoot: root, host: answers.alias, count: answers.sequences, keyFile: publicKeyFile }, quiet);
}
