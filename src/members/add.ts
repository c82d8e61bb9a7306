// stick add NAME: a door of its own for one more stick. Flow (under the members lock): read the
// server (settings, knockd.conf, registry) → check the name, router mode, the stick → compute the
// pool, the stanza and the new knockd.conf (pure) → make the one-time file and the stick's copy
// (seqgen, drawing from the pool) → check the new knockd.conf (model, files, real knockd) → write
// knockd.conf, the registry, the stick's settings → SIGHUP knockd. A failure after the sequences
// were made removes them again and puts back every file written, so nothing changes.

import { lstat, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { readConfig, setConfigValue, settingsFor, STICK_CONFIG_NAME } from '../core/config.js';
import { KnockstickError, usageError } from '../core/errors.js';
import { readTextIfExists, writeAtomically } from '../core/files.js';
import { cleanup } from '../core/interrupt.js';
import { cryptoRandom } from '../core/generate.js';
import { lineLimitError } from '../core/knockd-conf.js';
import { describeReload, reloadKnockd, verifyNewKnockdConf } from '../core/knockd-reload.js';
import { memberStanza, withStanza } from '../core/member-doors.js';
import { allocatePool, checkMemberName, doorNameFor, formatPool, memberDraw, parseKeyBlob, withMember, type Member } from '../core/members.js';
import { otherDoorsPorts, withRegistryLock, writeRegistry } from '../core/members-io.js';
import { hostConfigFrom } from '../core/ssh-config.js';
import { sequencesFileFor, stickLayout, verifyStick } from '../core/stick.js';
import { loadTemplate } from '../core/templates.js';
import { addSequences } from '../seqgen/actions.js';
import { doorDirectory, loadServer, modelDoor, oneTimeFileIn, refuseRouter } from './server.js';

export interface AddOptions {
  readonly name: string;
  readonly serverConfig: string;
  readonly stickRoot: string;
  readonly host: string;
  readonly count: number;
  /** The stick's ssh public key file, recorded for `revoke --authorized-keys`. */
  readonly keyFile: string | undefined;
}

/** The stick's public key: --key, else the first id_*.pub on the stick. */
export async function stickKey(root: string, keyFile: string | undefined): Promise<string | undefined> {
  const candidates = keyFile !== undefined ? [keyFile] : ['id_ed25519.pub', 'id_ecdsa.pub', 'id_rsa.pub'].map((n) => join(stickLayout(root).sshDir, n));
  for (const path of candidates) {
    const text = await readTextIfExists(path);
    if (text === null) {
      if (keyFile !== undefined) throw usageError(`--key ${keyFile}: no such file`);
      continue;
    }
    const blob = parseKeyBlob(text);
    if (blob === undefined) throw usageError(`${path} is not an ssh public key`, 'give the stick\'s .pub file with --key');
    return blob;
  }
  return undefined;
}

export async function addMember(o: AddOptions, context: CommandContext): Promise<number> {
  checkMemberName(o.name);
  if (o.count < 2) throw usageError('--count must be at least 2: knockd crashes when a door\'s last sequence is used');
  const layout = await verifyStick(o.stickRoot, context.env);
  const stickFile = sequencesFileFor(layout, o.host);
  if ((await lstat(stickFile).catch(() => null)) !== null) {
    throw usageError(`${stickFile} exists: this stick already has sequences for alias ${o.host} (another door's)`, 'give the new door its own alias with --host ALIAS (a Host entry of the stick\'s ssh config)');
  }
  const sshKey = await stickKey(layout.root, o.keyFile);
  // callhome ALIAS needs a Host entry for it; its absence is no reason to refuse (it can be added later).
  const sshConfigText = await readTextIfExists(layout.sshConfig);
  let aliasNote = '';
  try {
    if (sshConfigText !== null) hostConfigFrom(sshConfigText, layout.sshConfig, o.host);
  } catch {
    aliasNote = `  ${layout.sshConfig} has no usable Host ${o.host} entry yet: add one (HostName, User, IdentityFile) before callhome ${o.host}.\n`;
  }
  const now = new Date().toISOString();
  const out = context.stdout;
  // The registry path is only known after reading the settings; the lock is taken on it, then
  // everything is read again under the lock.
  const first = await loadServer(o.serverConfig, now);
  return withRegistryLock(first.registryPath, async () => {
    const state = await loadServer(o.serverConfig, now);
    refuseRouter(state);
    const door = doorNameFor(o.name);
    withMember(state.registry, { name: o.name, method: 'knock', door, created: now }); // a taken name is refused first
    if (state.knockdConf.doors.some((d) => d.name === door)) throw usageError(`${state.knockdConfPath} has a door [${door}] already, which no member owns`, 'see knockstick doctor (an orphan door)');
    const oneTimeFile = oneTimeFileIn(doorDirectory(state), door);
    if ((await lstat(oneTimeFile).catch(() => null)) !== null) throw usageError(`${oneTimeFile} exists already, though no door names it`, 'see knockstick doctor (an orphan file); remove it if it is not needed');
    const member: Member = { name: o.name, method: 'knock', door, oneTimeFile, pool: allocatePool(state.registry, cryptoRandom), created: now, sshKey };
    const registry = withMember(state.registry, member);
    const newConf = withStanza(state.knockdConfText, memberStanza(await loadTemplate('knockd-door.conf'), modelDoor(state), door, oneTimeFile));
    const tooLong = lineLimitError(newConf, state.knockdConfPath, 'the one-time file\'s path');
    if (tooLong !== undefined) throw tooLong;
    const stickSettingsPath = join(layout.sshDir, STICK_CONFIG_NAME);
    const stickSettingsBefore = await readTextIfExists(stickSettingsPath);
    const pool = member.pool?.kind === 'ranges' ? member.pool.ranges[0] : undefined;
    const stickSettings = setConfigValue(setConfigValue(stickSettingsBefore ?? '', o.host, 'server_file', oneTimeFile), o.host, 'ports', pool === undefined ? '1024-65535' : `${pool.low}-${pool.high}`);

    // 1. The sequences, on both sides, from the member's pool.
    await addSequences(o.count, { serverFile: oneTimeFile, stickRoot: layout.root, host: o.host, serverConfig: o.serverConfig, draw: memberDraw(registry, member, await otherDoorsPorts(registry, member)) }, context);
    const undo: Array<() => Promise<void>> = [async () => unlink(oneTimeFile), async () => unlink(stickFile)];
    try {
      // 2. The new knockd.conf as knockd will read it (its new file exists now).
      const probe = await verifyNewKnockdConf(newConf, state.knockdConfPath);
      // 3. The writes, each undone if a later one fails.
      await writeAtomically(stickSettingsPath, stickSettings, { within: layout.root });
      undo.push(async () => (stickSettingsBefore === null ? unlink(stickSettingsPath) : writeAtomically(stickSettingsPath, stickSettingsBefore, { within: layout.root })));
      const registryBefore = await readTextIfExists(state.registryPath);
      await writeRegistry(state.registryPath, registry);
      undo.push(async () => (registryBefore === null ? unlink(state.registryPath) : writeAtomically(state.registryPath, registryBefore)));
      await writeAtomically(state.knockdConfPath, newConf);
      undo.push(async () => writeAtomically(state.knockdConfPath, state.knockdConfText));
      const reload = await reloadKnockd(state.pidfile, probe);
      out.write(
        `${state.adopted ? `Registered the existing door [ssh] as member "ssh" (its stick keeps working as it is).\n` : ''}` +
          `Added stick ${o.name}: door [${door}] in ${state.knockdConfPath}, one-time file ${oneTimeFile}, ports ${formatPool(member.pool ?? { kind: 'rest' })}.\n` +
          `  The stick knows its door: ${stickSettingsPath} [${o.host}] server_file = ${oneTimeFile}, ports = its pool (seqgen refills it, --remote too).\n` +
          `${sshKey === undefined ? '  No ssh public key found on the stick: revoke --authorized-keys will not know its key.\n' : ''}` +
          aliasNote +
          `${describeReload(reload, `the new door opens`)}\n`,
      );
      return 0;
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      if (error instanceof KnockstickError) throw error;
      throw new KnockstickError('INTERNAL', `stick add failed and was undone: ${(error as Error).message}`, { cause: error });
    }
  });
}

/** What `stick add NAME --sequences-stdout` prints (one JSON line): the new stick's side of its door. */
export interface RemoteKnockReply {
  readonly door: string;
  /** Its one-time file on the server and its pool: the stick's knockstick.conf server_file / ports. */
  readonly serverFile: string;
  readonly ports: string;
  /** The stick's sequence file, byte for byte (the secret: it travels only on ssh's stdout). */
  readonly sequences: string;
  /** addMember's report, for the user on the other side. */
  readonly report: string;
}

/**
 * The server's half of `stick add NAME --remote` for a knock member (remote.ts): addMember with a
 * stand-in stick, a private (0700) temp directory here, so the door, its one-time file and the
 * stick's copy are made exactly as on the server; then that copy goes to stdout (never argv, never
 * a log) and the stand-in is removed. stdin: the new stick's ssh public key line, or nothing.
 */
export async function addMemberToStdout(o: { name: string; serverConfig: string; host: string; count: number; stdin: string }, context: CommandContext): Promise<number> {
  checkMemberName(o.name);
  const mark = cleanup.mark();
  const dir = await mkdtemp(join(tmpdir(), 'knockstick-member-'));
  cleanup.push(`removed ${dir}`, () => rm(dir, { recursive: true, force: true }));
  try {
    const layout = stickLayout(dir);
    await mkdir(layout.sshDir, { mode: 0o700 });
    await writeFile(layout.sshConfig, '', { mode: 0o600 });
    const key = parseKeyBlob(o.stdin);
    if (key !== undefined) await writeFile(join(layout.sshDir, 'id_ed25519.pub'), `${key}\n`, { mode: 0o600 });
    let report = '';
    const collect = { write: (text: string): void => void (report += text) };
    await addMember({ name: o.name, serverConfig: o.serverConfig, stickRoot: dir, host: o.host, count: o.count, keyFile: undefined }, { ...context, stdout: collect });
    const settingsPath = join(layout.sshDir, STICK_CONFIG_NAME);
    const section = settingsFor(await readConfig(settingsPath, 'stick'), o.host);
    const sequences = (await readTextIfExists(sequencesFileFor(layout, o.host))) ?? '';
    const ports = section.ports;
    const reply: RemoteKnockReply = {
      door: doorNameFor(o.name),
      serverFile: section.serverFile ?? '',
      ports: ports === undefined ? '' : `${ports.low}-${ports.high}`,
      sequences,
      // Lines naming the stand-in directory mean nothing on the other side.
      report: report.split('\n').filter((l) => !l.includes(dir) && l !== '').join('\n'),
    };
    context.stdout.write(`${JSON.stringify(reply)}\n`);
    return 0;
  } finally {
    await cleanup.runAll(mark);
  }
}
