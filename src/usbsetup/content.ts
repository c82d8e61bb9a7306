// What goes onto the stick, written into a directory (the freshly made, mounted volume, or any
// directory with --into):
//
//   callhome                 POSIX sh launcher: runs the bundle below with this machine's node
//   knockstick               the same launcher for every command (seqgen status, doctor, ...)
//   .knockstick/knockstick.mjs   the whole CLI in one file
//   .knockstick/connect.mjs      the CLI with `connect` alone, for ssh's ProxyCommand
//   .ssh/id_ed25519(.pub)    made by ssh-keygen, with its own passphrase
//   .ssh/config              the Host entry, with the ProxyCommand that knocks (any ssh client)
//   .ssh/known_hosts         the server's host key, when given
//   .ssh/sequences           the first one-time sequences
//   .ssh/knockstick.conf     method (spa) and door_policy
//
// The ssh config names the stick's files by absolute path, for where the stick will be mounted
// (secureon's mount point, or the --into directory): ssh, scp, sftp, rsync and git then work from
// any directory. Mounted elsewhere, relocation rewrites those lines (core/stick-relocate.ts).

import { lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandContext } from '../core/command.js';
import { STICK_CONFIG_NAME, readConfig, reservedPorts, setConfigValue, settingsFor, type DoorPolicy } from '../core/config.js';
import { stickPathLines } from '../core/stick-ssh-config.js';
import { KnockstickError, ioError } from '../core/errors.js';
import { assertNotSymlink, assertPlainFileOrMissing, createExclusively, ensureDirectory, readTextIfExists, writeAtomically } from '../core/files.js';
import { cleanup } from '../core/interrupt.js';
import { run, runAllowingFailure, type ExternalCommand } from '../core/run.js';
import { serverSymlinkHint } from '../seqgen/rules.js';
import { DEFAULT_LENGTH, DEFAULT_RANGE, cryptoRandom, generateSequences } from '../core/generate.js';
import { formatLine, unusedLines } from '../core/sequences.js';
import { loadPair } from '../core/sequence-store.js';
import { describeTorn } from '../seqgen/status.js';
import { shellQuote } from '../core/shell.js';
import { sequencesFileFor, stickLayout } from '../core/stick.js';
import { loadTemplate, render } from '../core/templates.js';
import { addSequences, repairSequences, type LockstepRequest } from '../seqgen/actions.js';
import { joinAsMember } from './member.js';
import { SPA_RC_NAME } from '../core/stick.js';
import { clientStanza } from '../server/spa.js';
import { generateKeys } from '../spa/keys.js';
import type { ContentAnswers } from './options.js';
import { writeGpgStick } from './spa-gpg.js';
import { DOOR_DEFAULTS } from '../core/door/options.js';
import { proxiedConnectTimeout } from '../core/door/proxied.js';

export const BUNDLE_PATH = '.knockstick/knockstick.mjs';
/** The CLI with `connect` alone (dist/stick/connect.mjs): ssh's ProxyCommand starts it, less to compile per connection. */
export const CONNECT_BUNDLE_PATH = '.knockstick/connect.mjs';
export const KEY_NAME = 'id_ed25519';
/** The launchers run this instead of the bundle when it is there and the machine is Linux x86_64. */
export const EXECUTABLE_NAME = 'knockstick-linux-x64';

/** How ssh-keygen gets the key's passphrase: typed by the user, or these bytes through SSH_ASKPASS. */
export type KeyPassphrase = { readonly kind: 'terminal' } | { readonly kind: 'bytes'; readonly bytes: Buffer };

export interface WrittenContent {
  readonly publicKey: string;
  /** The sequences for the server when they were not written to a server file: print them. */
  readonly serverCopy: string | undefined;
  /** --method spa: the access.conf stanza (keys included) for the server's fwknopd. */
  readonly spaAccess?: string | undefined;
  /** --member: the member (door) the stick was made for on this machine's server. */
  readonly member?: string | undefined;
  /** --gpg-server-key: the client's public key and fingerprint, for the server's keyring. */
  readonly gpgClient?: { readonly publicKey: string; readonly fingerprint: string } | undefined;
  /** The server file's unused sequences that were copied onto the stick (it had some already). */
  readonly adopted?: number;
  /** The new sequences added to both sides (after any adopted ones). */
  readonly added?: number;
}

/** The door policy a new stick gets when none is asked for: the safe one (see config.ts). */
export const DEFAULT_DOOR_POLICY: DoorPolicy = 'single-use';

/**
 * The ssh config's Host entry for a stick mounted at `stickRoot`. Written by hand, not with the
 * ssh-config package: its stringify would re-quote the ProxyCommand, whose rest of line ssh takes
 * verbatim. Every value is validated (alias, host, user: options.ts; paths: stick-ssh-config.ts).
 * Pure.
 */
export function sshConfigText(answers: Pick<ContentAnswers, 'alias' | 'hostName' | 'user' | 'port' | 'dynamicForward'>, stickRoot: string): string {
  const paths = stickPathLines(stickRoot);
  const entry: Array<[string, string]> = [
    ['HostName', answers.hostName],
    ['User', answers.user],
    ['Port', String(answers.port)],
    ['ProxyCommand', paths.ProxyCommand],
    ['IdentityFile', paths.IdentityFile],
    ['IdentitiesOnly', 'yes'],
    ['UserKnownHostsFile', paths.UserKnownHostsFile],
    ['StrictHostKeyChecking', 'ask'],
    // Through the ProxyCommand, ssh's ConnectTimeout bounds the wait for the banner, which includes
    // connect waiting for the stick's lock and knocking every attempt: 10 s would cut a slow door short.
    ['ConnectTimeout', String(proxiedConnectTimeout(DOOR_DEFAULTS))],
    ...(answers.dynamicForward === undefined ? [] : [['DynamicForward', `127.0.0.1:${answers.dynamicForward}`] as [string, string]]),
  ];
  return [
    '# Written by knockstick usbsetup. Any ssh client can use this file: ssh -F THIS_FILE ALIAS (also scp -F,',
    '# sftp -F, rsync -e "ssh -F THIS_FILE", GIT_SSH_COMMAND="ssh -F THIS_FILE"); the ProxyCommand knocks first.',
    '# The stick paths below are rewritten when the stick is mounted elsewhere (secureon, callhome).',
    `Host ${answers.alias}`,
    ...entry.map(([keyword, value]) => `  ${keyword} ${value}`),
    '',
  ].join('\n');
}

/**
 * The known_hosts line for the server's public host key (the text of ssh_host_*_key.pub), under the
 * name ssh looks up: the HostName, or [HostName]:port off port 22. Pure.
 */
export function knownHostsLine(publicKeyText: string, hostName: string, port: number, source: string): string {
  const fields = publicKeyText.trim().split(/\s+/);
  const [type, key] = fields;
  if (fields.length < 2 || type === undefined || key === undefined || !/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(key)) {
    throw new KnockstickError('USAGE', `${source} is not an ssh public key ("TYPE BASE64 [comment]", e.g. /etc/ssh/ssh_host_ed25519_key.pub)`);
  }
  const name = port === 22 ? hostName.toLowerCase() : `[${hostName.toLowerCase()}]:${port}`;
  return `${name} ${type} ${key}\n`;
}

/** The launcher script for one command (undefined: every command, as `knockstick COMMAND`). */
export async function launcherText(command: string | undefined): Promise<string> {
  const template = await loadTemplate('stick-launcher.sh');
  // `command` lands in `exec ... .mjs{{command}} "$@"` already quoted; `name` only in messages.
  return render(template, { command: command === undefined ? '' : ` ${shellQuote(command)}`, name: command ?? 'knockstick', connect_timeout: String(proxiedConnectTimeout(DOOR_DEFAULTS)) }, (value, name) => {
    if (name === 'name' && !/^[a-z]+$/.test(value)) throw new Error(`launcher name ${JSON.stringify(value)}`);
    return value;
  });
}

/** The self-contained single-file CLI (dist/stick/knockstick.mjs, made by the build), to copy onto the stick. */
export function ownBundle(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // dist/bin (bundled), dist/usbsetup (tsc) or src/usbsetup (tests)
  const candidates = [join(here, '..', 'stick', 'knockstick.mjs'), join(here, '..', '..', 'dist', 'stick', 'knockstick.mjs')];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new KnockstickError('INTERNAL', `cannot find the knockstick bundle to copy onto the stick (looked at ${candidates.join(', ')})`, { hint: 'run `npm run build` first' });
  return found;
}

/** The self-contained executable made by `npm run build:sea` (dist/stick/knockstick-linux-x64). */
export function ownExecutable(): string {
  const found = join(dirname(ownBundle()), EXECUTABLE_NAME);
  if (!existsSync(found)) {
    throw new KnockstickError('USAGE', `--executable: ${found} has not been built`, { hint: 'build it first with `npm run build:sea` (Linux x86_64, about 100 MB)' });
  }
  return found;
}

/**
 * The askpass program ssh-keygen runs (twice: the new passphrase, then the same again). It reads
 * one line per call from descriptor 3, a pipe we fill and ssh-keygen passes down to it (OpenSSH
 * closes no inherited descriptor before running askpass): the passphrase only ever exists in
 * memory and in that pipe. `read -r` keeps backslashes; printf is a shell builtin, not in argv.
 */
export const ASKPASS_SCRIPT = '#!/bin/sh\nIFS= read -r line <&3 || exit 1\nprintf \'%s\\n\' "$line"\n';

/**
 * ssh-keygen's command line; with a passphrase, fed through `askpass` from fd 3. `shownAs`: the
 * key's name in messages (ssh-keygen writes into a private directory first, see keygenInPrivateDir).
 * Pure.
 */
export function keygenCommand(key: string, comment: string, passphrase: KeyPassphrase, askpass: string, shownAs = key): ExternalCommand {
  const args = ['-q', '-t', 'ed25519', '-a', '100', '-C', comment, '-f', key];
  const purpose = `make the SSH key ${shownAs}`;
  if (passphrase.kind === 'terminal') return { file: 'ssh-keygen', args, purpose, stdin: 'terminal', stdout: 'terminal', stderr: 'terminal' };
  const line = Buffer.concat([passphrase.bytes, Buffer.from('\n')]);
  return {
    file: 'ssh-keygen',
    args,
    purpose,
    fd3: Buffer.concat([line, line]),
    detached: true, // no controlling terminal: ssh-keygen must use the askpass program
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: process.env.DISPLAY ?? 'knockstick:0' },
  };
}

async function runKeygen(key: string, comment: string, passphrase: KeyPassphrase, shownAs = key): Promise<void> {
  if (passphrase.kind === 'terminal') {
    const result = await runAllowingFailure(keygenCommand(key, comment, passphrase, '', shownAs));
    if (result.exitCode !== 0) throw new KnockstickError('IO', `ssh-keygen failed (exit ${result.exitCode}); no key was written`, { hint: 'the passphrases typed must match' });
    return;
  }
  // SSH_ASKPASS must name a program: a private 0700 dir holds the (secret-free) script, removed on
  // every way out, Ctrl-C and SIGTERM included (the cleanup stack).
  const dir = await mkdtemp(join(tmpdir(), 'knockstick-askpass-'));
  const forget = cleanup.push(`removed ${dir}`, () => rm(dir, { recursive: true, force: true }));
  try {
    const askpass = join(dir, 'askpass');
    await writeFile(askpass, ASKPASS_SCRIPT, { mode: 0o700 });
    await run(keygenCommand(key, comment, passphrase, askpass, shownAs));
    // A failing askpass makes ssh-keygen read an empty passphrase, and it then writes the key
    // unencrypted without a word: a key that opens without one is refused (and removed).
    const open = await runAllowingFailure({ file: 'ssh-keygen', args: ['-y', '-P', '', '-f', key], purpose: `check that ${shownAs} is encrypted` });
    if (open.exitCode === 0) {
      await rm(key, { force: true });
      await rm(`${key}.pub`, { force: true });
      throw new KnockstickError('IO', `ssh-keygen wrote ${shownAs} without a passphrase (its askpass did not get it); the key was removed`, {
        hint: 'this ssh-keygen does not pass descriptor 3 on to SSH_ASKPASS: run usbsetup on a terminal and type the key passphrase into ssh-keygen',
      });
    }
  } finally {
    forget();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A file the user named, which must exist (and be a regular file: a FIFO is refused, not waited on). */
async function readExisting(path: string): Promise<string> {
  const text = await readTextIfExists(path);
  if (text === null) throw new KnockstickError('IO', `cannot read ${path}: no such file or directory`);
  return text;
}

/**
 * ssh-keygen writes where -f points and follows any link planted at KEY or KEY.pub. So it writes
 * into a fresh 0700 directory of ours next to the key (same file system, never /tmp), and the two
 * files are then created at their places with O_CREAT|O_EXCL|O_NOFOLLOW: never through a link, never
 * over an existing file. Returns the public key's text.
 */
async function keygenInPrivateDir(root: string, sshDir: string, key: string, comment: string, passphrase: KeyPassphrase): Promise<string> {
  const dir = await mkdtemp(join(sshDir, '.keygen-'));
  // A Ctrl-C during ssh-keygen must not leave a half-made key behind in the stick's .ssh.
  const forget = cleanup.push(`removed ${dir}`, () => rm(dir, { recursive: true, force: true }));
  try {
    const made = join(dir, KEY_NAME);
    await runKeygen(made, comment, passphrase, key);
    const publicKey = await readFile(`${made}.pub`);
    await createExclusively(key, await readFile(made), 0o600, { within: root });
    await createExclusively(`${key}.pub`, publicKey, ((await stat(`${made}.pub`)).mode & 0o777) | 0o600, { within: root });
    return publicKey.toString('utf8').trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
    forget();
  }
}

/**
 * Writes everything onto the stick at `root`. Refuses to replace an existing key or sequence file.
 * `mountedAt`: where the stick will be used (secureon's mount point when `root` is usbsetup's
 * temporary mount), the root its ssh config names.
 */
export async function writeStickContent(
  root: string,
  answers: ContentAnswers,
  passphrase: KeyPassphrase,
  context: CommandContext,
  mountedAt: string = root,
): Promise<WrittenContent> {
  const layout = stickLayout(root);
  const key = join(layout.sshDir, KEY_NAME);
  const sequences = sequencesFileFor(layout, answers.alias);
  const knockstickDir = join(root, '.knockstick');
  // A directory given with --into may hold links planted to redirect our writes (.ssh -> ~/.ssh,
  // callhome -> ~/.bashrc): every path we write is checked before the first byte is written.
  for (const dir of [layout.sshDir, knockstickDir]) await assertNotSymlink(dir);
  for (const existing of [key, `${key}.pub`, sequences, layout.sshConfig, join(layout.sshDir, SPA_RC_NAME)]) {
    await assertNotSymlink(existing);
    if ((await lstat(existing).catch(() => null)) !== null) {
      throw new KnockstickError('IO', `${existing} exists: usbsetup never replaces a key, config or sequence file`, { hint: 'use a blank stick, or another --into directory' });
    }
  }
  for (const file of [layout.knownHosts, join(layout.sshDir, STICK_CONFIG_NAME), join(root, BUNDLE_PATH), join(root, CONNECT_BUNDLE_PATH), join(knockstickDir, EXECUTABLE_NAME), join(root, 'callhome'), join(root, 'knockstick')]) {
    await assertPlainFileOrMissing(file);
  }
  if (answers.serverFile !== undefined) {
    if (answers.followSymlink !== true) await assertNotSymlink(answers.serverFile, serverSymlinkHint());
    await readTextIfExists(answers.serverFile); // refuses a FIFO or device now, not after the key is made
  }
  const configText = sshConfigText(answers, mountedAt); // refuses a path it cannot name, before any write
  const knownHosts = answers.serverHostKey === undefined ? undefined : knownHostsLine(await readExisting(answers.serverHostKey), answers.hostName, answers.port, answers.serverHostKey);

  const sides: LockstepRequest = { serverFile: answers.serverFile ?? '', stickRoot: root, host: answers.alias, followSymlink: answers.followSymlink === true };
  // seqgen on the stick being made (whose .ssh/config may not be written yet: it counts as a stick).
  const onNewStick: CommandContext = { ...context, invokedAs: 'seqgen', stickBeingMade: root };
  // The server has sequences already (server init made them, or another stick's run): this stick
  // gets a copy of exactly its unused lines, as `seqgen repair` copies a missing tail, never a
  // second set. New ones (--sequences N given) are then added to both in lockstep.
  const adopt = answers.method !== 'spa' && answers.serverFile !== undefined ? await unusedOnServer(answers.serverFile, sequences) : 0;
  const added = adopt > 0 && answers.sequencesGiven !== true ? 0 : answers.sequences;
  if (answers.method !== 'spa' && answers.serverFile !== undefined && adopt === 0 && added === 0) {
    throw new KnockstickError('USAGE', `${answers.serverFile} has no unused sequences to copy, and --sequences 0 makes none`, { hint: 'give --sequences N (new ones for both sides), or leave out --server-file' });
  }
  if (answers.method !== 'spa' && added > 0 && answers.serverFile !== undefined && adopt === 0) {
    // seqgen refuses a server file that is invalid or out of step with this new stick: ask it
    // first (--dry-run writes nothing), so that the refusal comes before a key or file is written.
    await addSequences(added, { ...sides, dryRun: true }, { ...onNewStick, stdout: { write: () => undefined } });
  }

  const within = { within: root };
  await ensureDirectory(layout.sshDir, within);
  const publicKey = await keygenInPrivateDir(root, layout.sshDir, key, `knockstick ${answers.alias}`, passphrase);
  await writeAtomically(layout.sshConfig, configText, within);
  if (knownHosts !== undefined) await writeAtomically(layout.knownHosts, knownHosts, within);
  // connect reads it to know whether a door still open may be reused (only with `window`).
  const confPath = join(layout.sshDir, STICK_CONFIG_NAME);
  await writeAtomically(confPath, setConfigValue((await readTextIfExists(confPath)) ?? '', answers.alias, 'door_policy', answers.doorPolicy ?? DEFAULT_DOOR_POLICY), within);

  await ensureDirectory(knockstickDir, within);
  await writeAtomically(join(root, BUNDLE_PATH), { copyFrom: ownBundle() }, { ...within, mode: 0o600 });
  // The launcher prefers it for `knockstick connect` and falls back to the whole CLI without it.
  const connectBundle = join(dirname(ownBundle()), 'connect.mjs');
  if (existsSync(connectBundle)) await writeAtomically(join(root, CONNECT_BUNDLE_PATH), { copyFrom: connectBundle }, { ...within, mode: 0o600 });
  if (answers.executable === true) {
    const target = join(knockstickDir, EXECUTABLE_NAME);
    await writeAtomically(target, { copyFrom: ownExecutable() }, { ...within, mode: 0o700 }).catch((error: unknown) => {
      throw ioError('copy the self-contained executable (about 100 MB) to', target, error);
    });
  }
  for (const [name, command] of [['callhome', 'callhome'], ['knockstick', undefined]] as const) {
    await writeAtomically(join(root, name), await launcherText(command), { ...within, mode: 0o700 });
  }

  if (answers.member !== undefined) {
    // A new member of the server here: its own door and the stick's side, as `stick add` makes them.
    await joinAsMember(root, answers, publicKey, `${key}.pub`, context);
    return { publicKey, serverCopy: undefined, member: answers.member.name };
  }
  if (answers.method === 'spa') {
    // Keys the way `fwknop --key-gen` makes them; the stick's rc file and the server's access.conf
    // share them. callhome reads the stanza named like the alias, and `method = spa` tells it to.
    const keys = generateKeys();
    if (answers.gpgServerKey !== undefined) {
      const gpg = await writeGpgStick({ root, alias: answers.alias, hostName: answers.hostName, port: answers.port, serverKeyFile: answers.gpgServerKey, keys });
      await writeAtomically(join(layout.sshDir, SPA_RC_NAME), gpg.rcStanza, within);
      const confPath = join(layout.sshDir, STICK_CONFIG_NAME);
      await writeAtomically(confPath, setConfigValue((await readTextIfExists(confPath)) ?? '', answers.alias, 'method', 'spa'), within);
      return { publicKey, serverCopy: undefined, spaAccess: gpg.spaAccess, gpgClient: { publicKey: gpg.clientPublicKey, fingerprint: gpg.clientFingerprint } };
    }
    await writeAtomically(join(layout.sshDir, SPA_RC_NAME), clientStanza({ spaServer: answers.hostName, sshPort: answers.port, keys }, answers.alias), within);
    await writeAtomically(confPath, setConfigValue((await readTextIfExists(confPath)) ?? '', answers.alias, 'method', 'spa'), within);
    const spaAccess = [
      'SOURCE                  ANY',
      `OPEN_PORTS              tcp/${answers.port}`,
      `KEY_BASE64              ${keys.encryption.toString('base64')}`,
      `HMAC_KEY_BASE64         ${keys.hmac.toString('base64')}`,
      '',
    ].join('\n');
    return { publicKey, serverCopy: undefined, spaAccess };
  }

  let serverCopy: string | undefined;
  if (adopt > 0) {
    await repairSequences(sides, onNewStick);
    if (added > 0) await addSequences(added, sides, onNewStick);
    return { publicKey, serverCopy, adopted: adopt, added };
  }
  if (answers.sequences === 0) {
    // The server has its sequences already, elsewhere: `seqgen repair` copies them across there.
  } else if (answers.serverFile !== undefined) {
    await addSequences(answers.sequences, sides, onNewStick);
  } else {
    const settings = settingsFor(await readConfig(join(layout.sshDir, STICK_CONFIG_NAME), 'stick'), answers.alias);
    const exclude = new Set([...reservedPorts(settings), answers.port]);
    const lines = generateSequences(cryptoRandom, { count: answers.sequences, length: DEFAULT_LENGTH, range: DEFAULT_RANGE, exclude, avoid: new Set() }).map(formatLine).join('');
    await writeAtomically(sequences, lines, within);
    serverCopy = lines;
  }
  return { publicKey, serverCopy };
}

/**
 * How many unused sequences the existing server file has (0: missing or all used). An invalid or
 * torn file is refused here, before the key is made.
 */
async function unusedOnServer(serverFile: string, stickFile: string): Promise<number> {
  const pair = await loadPair(serverFile, stickFile);
  if (pair.server.torn !== undefined) {
    throw new KnockstickError('OUT_OF_STEP', describeTorn(pair.server.torn, serverFile, stickFile), { hint: 'its last line is torn: fix it by hand (knockd keeps reading it); nothing was written' });
  }
  return unusedLines(pair.server.file).length;
}
