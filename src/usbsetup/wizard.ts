// usbsetup's questions, for whatever the flags did not answer. Prompts are injected (tests script
// the answers); each answer is validated like the matching flag.

import { describeDisk, refusalReason, type BlockDevice } from '../core/disks.js';
import { SERVER_CONFIG_PATH } from '../core/config.js';
import { memberNameProblem } from '../core/members.js';
import type { Prompts } from '../core/prompts.js';
import type { ContentAnswers, DoorMethod, Filesystem } from './options.js';

// No leading "-": ssh, knock and nc would read such a name as an option.
const HOST = /^(?!-)[A-Za-z0-9.:_-]{1,253}$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/i;

/**
 * The knockstick servers on this machine, for the "new member of this server?" question. found:
 * their server.conf paths (empty: no server here, and the old questions are asked). takenNames:
 * the names a new member may not take there (every name in sticks.conf, revoked ones too: a name
 * is never reused), with the reason shown when one is typed.
 */
export interface LocalServers {
  readonly found: readonly string[];
  takenNames(serverConfig: string): Promise<ReadonlyMap<string, string>>;
}

type Member = NonNullable<ContentAnswers['member']>;

/**
 * usbsetup's wizard on a server: offers to make the stick a new member (stick add's door of its
 * own) instead of copying another stick's sequences. Which server.conf is asked only when the
 * choice is not obvious (several found, or the one found is not at the default path).
 */
export async function askMembership(prompts: Prompts, servers: LocalServers): Promise<Member | undefined> {
  const [only] = servers.found;
  if (only === undefined) return undefined;
  const obvious = servers.found.length === 1 && only === SERVER_CONFIG_PATH;
  const where = obvious ? ` (${only})` : '';
  if (!(await prompts.confirm(`This machine is a knockstick server${where}. Make this stick a new member of it, with a door of its own (never another stick's)?`, true))) return undefined;
  let serverConfig = only;
  if (!obvious) {
    const OTHER = '__other__';
    const choice = await prompts.select(
      'Which server does the stick join?',
      [...servers.found.map((path) => ({ value: path, name: path })), { value: OTHER, name: 'another server.conf', description: 'type its path' }],
      only,
    );
    serverConfig = choice !== OTHER ? choice : await prompts.input('Path of that server.conf:', { validate: (v) => (v.startsWith('/') ? true : 'an absolute path') });
  }
  // Read before the question: a prompt's validation cannot wait for a file.
  const taken = await servers.takenNames(serverConfig);
  const name = await prompts.input('Name of the new member (lower-case letters, digits, -; e.g. kim or spare):', {
    validate: (v) => memberNameProblem(v) ?? (taken.has(v) ? `${v} ${taken.get(v) ?? 'is taken'}; choose another name` : true),
  });
  return { name, serverConfig };
}

export async function askContent(
  prompts: Prompts,
  known: Partial<ContentAnswers> & { alias: string; port: number; sequences: number },
  sequenceFlags = false,
  servers: LocalServers = { found: [], takenNames: async () => new Map() },
): Promise<ContentAnswers> {
  const hostName = known.hostName ?? (await prompts.input('Your server\'s address (host name or IP, as seen from outside):', { validate: (v) => (HOST.test(v) ? true : 'a host name or address') }));
  const user = known.user ?? (await prompts.input('Your user name on the server:', { validate: (v) => (USER.test(v) ? true : 'a user name') }));
  const dynamicForward =
    known.dynamicForward ??
    ((await prompts.confirm('Also start a SOCKS proxy through the server when connected (ssh DynamicForward)?', false))
      ? Number(await prompts.input('Local SOCKS port:', { default: '1080', validate: (v) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? true : 'a port 1-65535') }))
      : undefined);
  const method =
    known.method ??
    (sequenceFlags
      ? 'knock'
      : await prompts.select<DoorMethod>(
          'How does the stick open the door?',
          [
            { value: 'knock', name: 'one-time knock sequences (knockd)', description: 'each sequence opens SSH once; refill with seqgen' },
            { value: 'spa', name: 'single packet authorization (fwknop)', description: 'one encrypted, authenticated UDP packet; keys on the stick, nothing to refill' },
          ],
          'knock',
        ));
  let serverFile = known.serverFile;
  let sequences = known.sequences;
  // --member NAME: the server here gives the stick a door of its own (usbsetup/member.ts); no copy.
  // Without it, on a server, the wizard offers that (never with --server-file: that asks a copy;
  // nor GnuPG SPA or --sequences 0, which a member cannot be).
  const member =
    known.member ??
    (serverFile === undefined && known.gpgServerKey === undefined && !(method === 'knock' && known.sequencesGiven === true && sequences === 0)
      ? await askMembership(prompts, servers)
      : undefined);
  if (member === undefined && serverFile === undefined && method === 'knock' && known.sequencesGiven !== true) {
    // Setup in either order: server init may have made the server's sequences already. Then the
    // stick gets a copy of those, never a second, different set.
    if (await prompts.confirm('Does the server already have sequences (server init made them)?', false)) {
      const answer = await prompts.input("Is this machine the server? Then the path of knockd's sequence file (e.g. /etc/knockd/ssh), whose unused lines the stick copies; empty: the server is another machine:", {
        validate: (v) => (v === '' || v.startsWith('/') ? true : 'an absolute path, or nothing'),
      });
      if (answer === '') sequences = 0;
      else serverFile = answer;
    }
  }
  if (member === undefined && serverFile === undefined && method === 'knock' && sequences > 0) {
    const answer = await prompts.input("Write the server's copy of the sequences to (knockd's one_time_sequences file, if this is the server; empty: a 0600 file here, with the command to append it):", {
      validate: (v) => (v === '' || v.startsWith('/') ? true : 'an absolute path, or nothing'),
    });
    serverFile = answer === '' ? undefined : answer;
  }
  return {
    alias: known.alias,
    method,
    ...(known.doorPolicy === undefined ? {} : { doorPolicy: known.doorPolicy }),
    hostName,
    user,
    port: known.port,
    dynamicForward,
    serverHostKey: known.serverHostKey,
    sequences,
    ...(known.sequencesGiven === undefined ? {} : { sequencesGiven: known.sequencesGiven }),
    serverFile,
    keyPassphraseFile: known.keyPassphraseFile,
    ...(known.executable === undefined ? {} : { executable: known.executable }),
    ...(known.followSymlink === undefined ? {} : { followSymlink: known.followSymlink }),
    ...(known.gpgServerKey === undefined ? {} : { gpgServerKey: known.gpgServerKey }),
    ...(member === undefined ? {} : { member }),
  };
}

/** Picks the disk among the removable ones; refused ones are listed with the reason, not offered. */
export async function askDevice(prompts: Prompts, candidates: readonly BlockDevice[], write: (text: string) => void): Promise<string> {
  const usable = candidates.filter((d) => refusalReason(d) === undefined);
  for (const d of candidates) {
    const reason = refusalReason(d);
    if (reason !== undefined) write(`  not offered: ${describeDisk(d)}: ${reason}\n`);
  }
  const IMAGE = '__image__';
  const choice = await prompts.select(
    'Which disk becomes the stick? Everything on it will be erased.',
    [
      ...usable.map((d) => ({ value: d.path, name: describeDisk(d) })),
      { value: IMAGE, name: 'a disk image file (to try it out)', description: 'attached to a loop device' },
    ],
    usable[0]?.path ?? IMAGE,
  );
  if (choice !== IMAGE) return choice;
  return prompts.input('Path of the image file (make one with `truncate -s 64M stick.img`):', { validate: (v) => (v.startsWith('/') ? true : 'an absolute path') });
}

export async function confirmErase(prompts: Prompts, device: string, description: string): Promise<boolean> {
  const typed = await prompts.input(`This erases ${description}. Type the device name (${device}) to go on, anything else to stop:`);
  return typed.trim() === device;
}

export async function askLayout(prompts: Prompts, known: { partitionMib: number | undefined; filesystem: Filesystem | undefined }, wholeKnown: boolean): Promise<{ partitionMib: number | undefined; filesystem: Filesystem }> {
  let partitionMib = known.partitionMib;
  if (partitionMib === undefined && !wholeKnown) {
    const layout = await prompts.select(
      'Encrypt the whole disk, or only a small partition at its end?',
      [
        { value: 'whole', name: 'the whole disk', description: 'nothing else is stored on it' },
        { value: 'part', name: 'a partition at the end', description: 'the rest stays an ordinary drive' },
      ],
      'whole',
    );
    if (layout === 'part') {
      partitionMib = Number(await prompts.input('Size of the encrypted partition in MiB:', { default: '64', validate: (v) => (/^\d+$/.test(v) && Number(v) >= 8 ? true : 'a number of MiB, at least 8') }));
    }
  }
  const filesystem =
    known.filesystem ??
    (await prompts.select<Filesystem>(
      'Filesystem inside the encrypted volume:',
      [
        { value: 'vfat', name: 'vfat', description: 'readable everywhere; secureon mounts it so only you can read it' },
        { value: 'exfat', name: 'exfat', description: 'like vfat, no 4 GiB file limit' },
        { value: 'ext4', name: 'ext4', description: 'real owners and modes: the same uid is needed on every machine' },
      ],
      'vfat',
    ));
  return { partitionMib, filesystem };
}

/** The LUKS passphrase, typed twice with echo off. */
export async function askLuksPassphrase(prompts: Prompts, write: (text: string) => void): Promise<Buffer> {
  write(
    'The stick gets two passphrases: one for the encrypted volume (now) and one for the SSH key (next, typed into ssh-keygen).\n' +
      'Make them different: a thief who guesses one still faces the other, which is the time you need to run `panic`.\n',
  );
  for (let attempt = 0; attempt < 3; attempt++) {
    const first = await prompts.password('Passphrase for the encrypted volume (LUKS):', { validate: (v) => (v.length >= 8 ? true : 'at least 8 characters') });
    const second = await prompts.password('The same passphrase again:');
    if (first === second) return Buffer.from(first, 'utf8');
    write('The two passphrases differ; again.\n');
  }
  throw new Error('the passphrases differed three times');
}
