// usbsetup --member NAME: the stick being made becomes a new member of the server on this machine,
// through the same steps as `knockstick stick add` (members/add.ts, members/spa.ts): a door of its
// own (knockd stanza and one-time file drawn from its own pool, or an fwknopd access.conf stanza
// with new keys), the stick's side written by them, the record in sticks.conf. So a second stick
// never shares (and spends) another stick's one-time file, which copying --server-file would do.

import type { CommandContext } from '../core/command.js';
import { parseKeyBlob } from '../core/members.js';
import { addMember } from '../members/add.js';
import { addSpaMember, spaServerOptions } from '../members/spa.js';
import type { ContentAnswers } from './options.js';

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
