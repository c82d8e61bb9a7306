// usbsetup: turn a blank stick (or a disk image) into a knockstick.
// Flow: answers (flags, then the wizard) → refuse unsafe disks → the user confirms by typing the
// device name → [partition] → LUKS2 → open → mkfs → mount in a private temp dir → write the
// content → unmount → close → remember the LUKS UUID → print the server-side steps.
// Every step that changes the machine registers its undo on the process's cleanup stack
// (core/interrupt.ts), run in reverse on the way out: on success, on an error, and on Ctrl-C or
// SIGTERM (then cli.ts runs it after killing the running child, e.g. a cryptsetup luksFormat).

import { lstat, mkdtemp, rmdir, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, CommandContext } from '../core/command.js';
import { candidateDisks, describeDisk, listBlockDevices, refusalReason } from '../core/disks.js';
import { ExitCode, InterruptedError, KnockstickError, usageError } from '../core/errors.js';
import { createExclusively, SECRET_FILE_MODE } from '../core/files.js';
import { cleanup, interruptedBy, isInterrupted } from '../core/interrupt.js';
import { displayWord, run, type ExternalCommand } from '../core/run.js';
import { writeHostConfig } from '../core/host-config.js';
import { luksClose, luksFormat, luksOpen, luksUuid } from '../core/luks.js';
import { terminalPrompts, type Prompts } from '../core/prompts.js';
import { readPassphraseFile } from '../core/secrets.js';
import { attachImage, detachLoop, isImageFile, mountVolume, ownerFor, syncAll, unmountVolume } from '../core/volume.js';
import { verifyStick } from '../core/stick.js';
import { writeStickContent, type KeyPassphrase, type WrittenContent } from './content.js';
import { usbsetupHelp } from './help.js';
import { FLAGS, parseUsbsetupArgs, type ContentAnswers, type Filesystem, type UsbsetupOptions } from './options.js';
import { partitionDisk, planPartitions, wipeCommand } from './partition.js';
import { partialStickUndo } from './partial.js';
import { verifyDeviceMachine } from './preconditions.js';
import { SERVER_CONFIG_PATH } from '../core/config.js';
import { localServers, takenNames } from './member.js';
import { askContent, askDevice, askLayout, askLuksPassphrase, confirmErase, type LocalServers } from './wizard.js';

export const usbsetupCommand: Command = {
  name: 'usbsetup',
  help: usbsetupHelp,
  flags: FLAGS,
  run: (context) => usbsetup(context, terminalPrompts),
};

export async function usbsetup(context: CommandContext, prompts: Prompts): Promise<number> {
  const options = parseUsbsetupArgs(context.args, context);
  if (options.help) {
    context.stdout.write(usbsetupHelp(context.invokedAs));
    return ExitCode.OK;
  }
  const interactive = !options.yes;
  if (interactive && process.stdin.isTTY !== true) {
    throw usageError('usbsetup asks its questions on a terminal, and this is not one', 'pass --yes and every answer as a flag (see --help)');
  }
  const say = (text: string): void => context.stderr.write(text);
  // On a knockstick server the wizard offers to make the stick a new member of it (wizard.ts).
  const servers = async (): Promise<LocalServers> => (options.content.member === undefined ? localServers([options.serverConfig ?? SERVER_CONFIG_PATH]) : { found: [], takenNames });
  const ask = async (): Promise<ContentAnswers> => (interactive ? askContent(prompts, options.content, options.sequenceFlags, await servers()) : requireContent(options.content));

  if (options.into !== undefined) {
    // Checked before the first question: answers for a directory that is not there are wasted.
    if ((await stat(options.into).catch(() => null))?.isDirectory() !== true) throw new KnockstickError('IO', `--into ${options.into} is not a directory; nothing was asked or written`, { hint: 'mount the stick (or make the directory) first' });
    // Never a home directory, nor one whose .ssh is a user's ~/.ssh (stick.ts).
    await verifyStick(options.into, context.env, { making: true });
    const content = await ask();
    const keyPassphrase = await keyPassphraseFor(content, interactive, say);
    // Stopped half-way, the files written so far go again (partial.ts says why).
    const forget = cleanup.push(`removed the half-written stick files in ${options.into}`, await partialStickUndo(options.into, content.alias));
    try {
      const written = await writeStickContent(options.into, content, keyPassphrase, context, options.into);
      // A signal during the last (in-process) steps: all or nothing, unless seqgen has already put
      // the sequences on the server too; then the stick is complete and in lockstep with it.
      if (isInterrupted() && content.serverFile === undefined) throw new InterruptedError('interrupted', interruptedBy());
      const saved = await saveServerCopy(content, written, options, context.cwd);
      const forgetSaved = saved === undefined ? () => undefined : cleanup.push(`removed ${saved}`, () => unlink(saved));
      if (isInterrupted() && content.serverFile === undefined) throw new InterruptedError('interrupted', interruptedBy());
      // No await from here to the report: a signal is handled between event-loop turns, so it
      // lands either before (everything undone) or after the user has the server steps.
      forget();
      forgetSaved();
      context.stdout.write(serverSteps(content, written, undefined, saved));
    } finally {
      await cleanup.runAll();
    }
    return ExitCode.OK;
  }

  // The command line first (it is the user's to fix), then root, cryptsetup and device-mapper:
  // all before the first question (preconditions.ts says why).
  if (!interactive) {
    requireContent(options.content);
    if (options.device === undefined) throw usageError('missing --device DEVICE (the stick, e.g. /dev/sdb, or a disk image file)', '`lsblk -o NAME,SIZE,MODEL,TRAN,RM` lists the disks');
    if (options.luksPassphraseFile === undefined) throw usageError('--yes needs --luks-passphrase-file FILE (or - for stdin): passphrases are never flags');
    if (options.content.keyPassphraseFile === undefined) throw usageError('--yes needs --key-passphrase-file FILE (or - for stdin) for the SSH key: passphrases are never flags');
  }
  await verifyDeviceMachine(context.env, context.invokedAs, { deviceMapper: !options.noDeviceMapperCheckForTests });
  if (options.device !== undefined) await isImageFile(options.device); // a device that is not there: before any question
  const content = await ask();
  const device = options.device ?? (interactive ? await askDevice(prompts, candidateDisks(await listBlockDevices()), say) : undefined);
  if (device === undefined) throw usageError('missing --device DEVICE (the stick, e.g. /dev/sdb, or a disk image file)', '`lsblk -o NAME,SIZE,MODEL,TRAN,RM` lists the disks');

  try {
    let disk = device;
    if (await isImageFile(device)) {
      disk = await attachImage(device);
      cleanup.push(`detached ${disk}`, () => detachLoop(disk));
      say(`==> ${device} attached as ${disk}\n`);
    }
    const [info] = await listBlockDevices(disk);
    if (info === undefined) throw new KnockstickError('IO', `lsblk knows no disk ${disk}`);
    if (info.type !== 'disk' && info.type !== 'loop') throw usageError(`${disk} is a ${info.type}, not a whole disk`, 'give the disk (e.g. /dev/sdb), not a partition: usbsetup makes its own partitions');
    const refusal = refusalReason(info);
    if (refusal !== undefined) throw new KnockstickError('USAGE', `refusing to erase ${refusal}`);
    const description = describeDisk(info);
    if (!interactive && options.confirmDevice !== device) {
      throw usageError(`--yes erases ${description}: confirm with --confirm-device ${device}`, 'the same device name twice, so a typo cannot erase the wrong disk');
    }
    const layout = interactive ? await askLayout(prompts, options, false) : { partitionMib: options.partitionMib, filesystem: options.filesystem ?? 'vfat' };
    const luksPassphrase = options.luksPassphraseFile !== undefined ? await readPassphraseFile(options.luksPassphraseFile, 'LUKS passphrase') : interactive ? await askLuksPassphrase(prompts, say) : undefined;
    if (luksPassphrase === undefined) throw usageError('--yes needs --luks-passphrase-file FILE (or - for stdin): passphrases are never flags');
    const keyPassphrase = await keyPassphraseFor(content, interactive, say);
    if (keyPassphrase.kind === 'bytes' && keyPassphrase.bytes.equals(luksPassphrase)) {
      throw usageError('the key passphrase is the same as the LUKS passphrase', 'use two different ones: whoever cracks the stick must still face the key');
    }
    const owner = await ownerFor(options.owner, context.env);
    // Every answer is in: say all that will happen, then the one confirmation, then the work.
    // (With --yes the flags are the summary, and --confirm-device the confirmation.)
    if (interactive) {
      say(setupSummary(description, layout, content, options, info.size));
      if (!(await confirmErase(prompts, device, description))) {
        context.stdout.write('Stopped: nothing was changed.\n');
        return ExitCode.OK;
      }
    }
    let target = disk;
    if (layout.partitionMib !== undefined) {
      const plan = planPartitions(info.size, layout.partitionMib);
      say(`==> partitioning ${disk}: ${plan.restMib} MiB ordinary FAT32, then ${plan.secureMib} MiB encrypted\n`);
      const parts = await partitionDisk(disk, plan);
      await mkfs('vfat', parts.rest, 'STICK');
      target = parts.secure;
    } else {
      await run(wipeCommand(disk));
    }
    say(`==> LUKS2 on ${target}${options.weakPbkdfForTests ? ' (weak pbkdf2 for tests)' : ' (argon2id: this takes a few seconds)'}\n`);
    await luksFormat(target, luksPassphrase, { weakPbkdfForTests: options.weakPbkdfForTests, label: 'knockstick' });
    const uuid = await luksUuid(target);
    const mapping = `knockstick-setup-${process.pid}`;
    await luksOpen(target, mapping, { kind: 'bytes', bytes: luksPassphrase });
    cleanup.push(`closed ${mapping}`, () => luksClose(mapping));
    const volume = `/dev/mapper/${mapping}`;
    say(`==> ${layout.filesystem} inside it\n`);
    await mkfs(layout.filesystem, volume, 'KNOCKSTICK');
    const mountpoint = await mkdtemp(join(tmpdir(), 'knockstick-setup-'));
    // rmdir, never rm -r: if the unmount failed, the stick is still mounted there.
    cleanup.push(`removed ${mountpoint}`, () => rmdir(mountpoint));
    await mountVolume(volume, mountpoint, layout.filesystem, owner);
    cleanup.push(`unmounted ${mountpoint}`, () => unmountVolume(mountpoint));
    say('==> the key (ssh-keygen), ssh config, sequences and callhome\n');
    const written = await writeStickContent(mountpoint, content, keyPassphrase, context, options.mountpoint);
    if (layout.filesystem === 'ext4') await run({ file: 'chown', args: ['-R', `${owner.uid}:${owner.gid}`, mountpoint], purpose: `give the stick's files to ${owner.name}` });
    await syncAll();
    // Undo in reverse: unmount, close, remove the temp dir, detach the image. Here a failure is
    // the command's failure: a stick still mounted is not "ready".
    const report = await cleanup.runAll();
    if (report.failed[0] !== undefined) throw report.failed[0].error;
    if (options.remember) {
      await writeHostConfig(options.hostConfig, { luksUuid: uuid, name: options.name, mountpoint: options.mountpoint, owner: owner.name });
      say(`==> remembered in ${options.hostConfig}: LUKS UUID ${uuid}, mounted at ${options.mountpoint} for ${owner.name}\n`);
    }
    const saved = await saveServerCopy(content, written, options, context.cwd);
    context.stdout.write(`Stick ready: ${target}, LUKS2 UUID ${uuid}, ${layout.filesystem}.\n\n${serverSteps(content, written, options, saved)}`);
    return ExitCode.OK;
  } finally {
    const report = await cleanup.runAll();
    // Interrupted: cli.ts says what was and was not undone, in one line.
    if (interruptedBy() === undefined) for (const failed of report.failed) say(`warning: cleanup: ${(failed.error as Error).message}\n`);
  }
}

/** Everything the device run will do, shown before the one erase confirmation. Pure. */
export function setupSummary(
  description: string,
  layout: { partitionMib: number | undefined; filesystem: Filesystem },
  content: ContentAnswers,
  options: Pick<UsbsetupOptions, 'weakPbkdfForTests' | 'remember' | 'hostConfig' | 'mountpoint'>,
  size: number,
): string {
  const plan = layout.partitionMib === undefined ? undefined : planPartitions(size, layout.partitionMib);
  const sequences =
    content.method === 'spa'
      ? 'SPA keys for fwknop (.ssh/fwknoprc); the server\'s stanza into a 0600 file here'
      : content.serverFile !== undefined
        ? `a copy of the unused sequences of ${content.serverFile}${content.sequencesGiven === true && content.sequences > 0 ? ` plus ${content.sequences} new ones on both` : ''} (if it has none: ${content.sequences} new ones into it and the stick)`
        : content.sequences === 0
          ? 'no sequences (copy the server\'s later with `seqgen repair`)'
          : `${content.sequences} new sequences; the server's copy into a 0600 file here`;
  return [
    '',
    'usbsetup will now:',
    `  - ERASE ${description}`,
    plan === undefined ? '  - encrypt the whole disk' : `  - partition it: ${plan.restMib} MiB ordinary FAT32, then ${plan.secureMib} MiB encrypted`,
    `  - LUKS2 (${options.weakPbkdfForTests ? 'weak pbkdf2 for tests' : 'argon2id'}) with ${layout.filesystem} inside`,
    `  - an ed25519 SSH key with its own passphrase, and .ssh/config: ${content.alias} = ${content.user}@${content.hostName} port ${content.port}`,
    `  - ${sequences}`,
    ...(options.remember ? [`  - remember the stick in ${options.hostConfig} (secureon mounts it at ${options.mountpoint})`] : []),
    '',
  ].join('\n');
}

function requireContent(known: UsbsetupOptions['content']): ContentAnswers {
  if (known.hostName === undefined) throw usageError("--yes needs --hostname HOST (the server's address as seen from outside)");
  if (known.user === undefined) throw usageError('--yes needs --user USER (your user name on the server)');
  return { ...known, method: known.method ?? 'knock', hostName: known.hostName, user: known.user, dynamicForward: known.dynamicForward, serverHostKey: known.serverHostKey, serverFile: known.serverFile, keyPassphraseFile: known.keyPassphraseFile };
}

async function keyPassphraseFor(content: ContentAnswers, interactive: boolean, say: (text: string) => void): Promise<KeyPassphrase> {
  if (content.keyPassphraseFile !== undefined) return { kind: 'bytes', bytes: await readPassphraseFile(content.keyPassphraseFile, 'key passphrase') };
  if (!interactive) throw usageError('--yes needs --key-passphrase-file FILE (or - for stdin) for the SSH key: passphrases are never flags');
  say('ssh-keygen now asks for the SSH key\'s passphrase: a different one from the volume\'s.\n');
  return { kind: 'terminal' };
}

/** The mkfs command line for each filesystem. Pure. */
export function mkfsCommand(fs: Filesystem, device: string, label: string): ExternalCommand {
  const [file, args] =
    fs === 'vfat' ? ['mkfs.vfat', ['-n', label, device]] : fs === 'exfat' ? ['mkfs.exfat', ['-L', label, device]] : ['mkfs.ext4', ['-q', '-L', label.toLowerCase(), device]];
  return { file, args, purpose: `make ${fs === 'vfat' ? 'a' : 'an'} ${fs} filesystem on ${device}` };
}

async function mkfs(fs: Filesystem, device: string, label: string): Promise<void> {
  await run(mkfsCommand(fs, device, label));
}

/** Where the server's copy of the secrets went (saveServerCopy); undefined: printed (--show-secrets) or none. */
export type SavedCopy = string | undefined;

/**
 * The server's copy of the secrets (its sequences, or the SPA access.conf stanza with the keys)
 * goes into a new 0600 file in the current directory, never onto the screen (a terminal's
 * scrollback, a screen recording or a shoulder would keep them), unless --show-secrets.
 * Created exclusively and without following links; a free name is taken when one exists.
 */
async function saveServerCopy(content: ContentAnswers, written: WrittenContent, options: Pick<UsbsetupOptions, 'showSecrets'>, cwd: string): Promise<SavedCopy> {
  const text = written.spaAccess ?? written.serverCopy;
  if (text === undefined || options.showSecrets) return undefined;
  const base = join(cwd, written.spaAccess !== undefined ? `fwknop-access.${content.alias}.conf` : `knockd-sequences.${content.alias}`);
  for (let n = 0; n < 100; n++) {
    const path = n === 0 ? base : `${base}.${n}`;
    if ((await lstat(path).catch(() => null)) !== null) continue;
    await createExclusively(path, text, SECRET_FILE_MODE);
    return path;
  }
  throw new KnockstickError('IO', `${base} and 99 more names next to it exist already`, { hint: 'remove the old copies (they hold secrets), or pass --show-secrets' });
}

/**
 * The one shell command that appends `file` to knockd's one-time file as knockd needs it: a
 * missing final newline added first (or the first new line would merge with the last), a new
 * file created 0600 (umask), append only (knockd keeps the file open), then the copy removed.
 */
export function appendCommand(file: string, serverFile: string): string {
  const f = displayWord(serverFile);
  return `(umask 077 && { [ ! -s ${f} ] || [ -z "$(tail -c 1 ${f})" ] || echo; cat ${displayWord(file)}; } >> ${f}) && rm ${displayWord(file)}`;
}

/** What the user does next, on the server and here. Pure. */
export function serverSteps(content: ContentAnswers, written: WrittenContent, options: Pick<UsbsetupOptions, 'mountpoint'> | undefined, saved?: SavedCopy): string {
  // The server's SSH port is behind the knock until this is done: the file goes there by hand.
  const copyThere = (file: string): string =>
    `     If this machine is not the server, carry ${file} there by a way you trust (it is as secret as the stick), run that there, and delete it here.`;
  const lines = [
    `On the server (${content.hostName}), as root:`,
    `  1. Let the stick's key in: append this line to ~${content.user}/.ssh/authorized_keys`,
    `       ${written.publicKey}`,
  ];
  if (written.member !== undefined) {
    lines.push(`  2. The stick is member ${written.member} of this server, with a door of its own (${content.method === 'spa' ? 'its access.conf stanza and keys' : 'its knockd stanza and one-time file'}): \`knockstick stick list\` shows it.`);
  } else if (written.spaAccess !== undefined && saved !== undefined) {
    lines.push(
      '  2. fwknopd (apt install fwknop-server; `knockstick server init --method spa` makes its firewall and configs):',
      `     the stanza for /etc/fwknop/access.conf (mode 0600) is in ${saved} (mode 0600; it holds the keys, which are`,
      '     secret, so it is not printed; --show-secrets prints it). Append it, add a door line for your firewall',
      '     (FW_ACCESS_TIMEOUT 30 with fwknopd\'s iptables backend; see `knockstick server init --help`), then delete the copy:',
      `       ${appendCommand(saved, '/etc/fwknop/access.conf')}`,
      copyThere(saved),
    );
  } else if (written.spaAccess !== undefined) {
    lines.push(
      '  2. fwknopd (apt install fwknop-server; `knockstick server init --method spa` makes its firewall and configs):',
      '     put this stanza into /etc/fwknop/access.conf (mode 0600), with a door line for your firewall',
      '     (FW_ACCESS_TIMEOUT 30 with fwknopd\'s iptables backend; see `knockstick server init --help`). The keys are',
      '     secrets: the stick\'s .ssh/fwknoprc holds the same ones.',
      '-------- 8< --------',
      ...written.spaAccess.trimEnd().split('\n'),
      '-------- 8< --------',
    );
  } else if (written.adopted !== undefined) {
    lines.push(
      `  2. The stick has a copy of the ${written.adopted} unused sequences of ${content.serverFile}${written.added ? `, and ${written.added} new ones were added to both` : ''}: in lockstep.`,
    );
  } else if (content.sequences === 0) {
    const stick = options === undefined ? 'STICK' : options.mountpoint;
    lines.push(
      `  2. No sequences on the stick yet. On the server, with the stick mounted there (at ${stick}), copy the`,
      '     server\'s unused ones (server init made them) onto it, as root:',
      `       knockstick seqgen repair --server-file /etc/knockd/ssh --stick ${stick}${content.alias === 'home' ? '' : ` --host ${content.alias}`}`,
      '     (or make new ones on both sides there with `knockstick seqgen 50`, same flags). Then `seqgen status` says in step.',
    );
  } else if (written.serverCopy === undefined) {
    lines.push(`  2. The ${content.sequences} sequences are in ${content.serverFile} and on the stick, in lockstep.`);
  } else if (saved !== undefined) {
    lines.push(
      `  2. The server's copy of the ${content.sequences} sequences is in ${saved} (mode 0600; they are secret, so they`,
      '     are not printed; --show-secrets prints them). Append it to knockd\'s one_time_sequences file (e.g.',
      '     /etc/knockd/ssh, which `knockstick server init` sets up) and delete the copy, with:',
      `       ${appendCommand(saved, '/etc/knockd/ssh')}`,
      copyThere(saved),
    );
  } else {
    lines.push(
      `  2. Append the ${content.sequences} lines between the scissors to knockd's one_time_sequences file (e.g. /etc/knockd/ssh, mode 0600),`,
      '     exactly as they are (each starts with a space, as knockd needs), e.g. paste them into `cat >> /etc/knockd/ssh`, then Ctrl-D:',
      '-------- 8< --------',
      ...written.serverCopy.trimEnd().split('\n'),
      '-------- 8< --------',
    );
  }
  if (written.gpgClient !== undefined) {
    // GnuPG SPA (usbsetup/spa-gpg.ts): fwknopd must hold the stick's public key, certified.
    lines.push(
      `  2b. fwknopd's keyring gets the stick's GnuPG key (public: it may be shown): save the block below as`,
      '      stick.asc on the server, then:',
      `        gpg --homedir /etc/fwknop/gnupg --import stick.asc && gpg --homedir /etc/fwknop/gnupg --quick-lsign-key ${written.gpgClient.fingerprint}`,
      '      (with the passphrase of fwknopd\'s key; the stanza above names it in GPG_DECRYPT_PW: fill that line in)',
      '-------- 8< --------',
      ...written.gpgClient.publicKey.trimEnd().split('\n'),
      '-------- 8< --------',
    );
  }
  lines.push(
    content.serverHostKey === undefined
      ? "  3. On the first callhome, ssh shows the server's host key fingerprint: compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server."
      : "  3. The server's host key is in .ssh/known_hosts already.",
    '',
    'Then, here:',
    ...(options === undefined
      ? ['  sh callhome          (from the stick directory)']
      : [`  secureon             (opens the stick and mounts it at ${options.mountpoint})`, `  sh ${options.mountpoint}/callhome`, '  secureoff            (unmounts and closes it; unplug after)']),
    '',
  );
  return lines.join('\n');
}

