// stick add NAME --method spa --remote: add a spare stick from afar, the way seqgen --remote
// refills (seqgen/remote.ts): one ssh master connection started through the callhome ProxyCommand
// of the stick you travel with (--via, its alias --via-host), so its door opens by its own method
// and policy (one sequence spent for a knock door); its lock is taken once the master is up.
// Over that connection the server's knockstick runs `stick add NAME --method spa --keys-stdin`:
// the keys are made here (CSPRNG), go over ssh on stdin (never in argv), and the server adds the
// stanza, checked by fwknopd and reloaded. Only once the server says it is done is the new stick
// written (its fwknoprc stanza and "method = spa"), read afresh under its lock. If that write
// fails, the message says how to revoke the stanza the server has now.
//
// Knock members (remoteAddKnockMember): the server draws the door's sequences from the member's
// pool and sends the stick's copy back on ssh's stdout; the stick is written only after that.

import { lstat, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { STICK_CONFIG_NAME, setConfigValue } from '../core/config.js';
import { doorDeps, prepare, quietDoorOptions, resolveDoorSettings } from '../core/door/index.js';
import { handoverOf } from '../core/door/handover.js';
import { makeStatusDir, proxiedConnectTimeout, proxiedSsh, thisProgram } from '../core/door/proxied.js';
import { KnockstickError, usageError } from '../core/errors.js';
import { assertNotSymlink, ensureDirectory, readTextIfExists, writeAtomically } from '../core/files.js';
import { cleanup } from '../core/interrupt.js';
import { withDirectoryLocks } from '../core/lock.js';
import { checkMemberName } from '../core/members.js';
import { SPA_RC_NAME, sequencesFileFor, verifyStick } from '../core/stick.js';
import { stickKey, type RemoteKnockReply } from './add.js';
import { generateKeys } from '../spa/keys.js';
import { parseRcText, stanzaNames } from '../spa/rc-file.js';
import { clientStanza } from '../server/spa.js';
import { connect, type Remote } from '../seqgen/remote.js';

export interface RemoteAddOptions {
  readonly name: string;
  /** The stick with the way in (its callhome alias), and the new stick with the alias it gets. */
  readonly viaRoot: string;
  readonly viaHost: string;
  readonly stickRoot: string;
  readonly host: string;
  readonly spaServer: string;
  /** The knockstick to run on the server (a path there), and `sudo -n` before it unless root. */
  readonly remoteKnockstick: string;
  readonly sudo: boolean;
  /** --server-config / --access-conf / --fwknopd-conf / --fwknopd-pidfile, passed on (paths on the server). */
  readonly serverArgs: readonly string[];
  readonly waitSeconds: number;
}

export async function remoteAddSpaMember(o: RemoteAddOptions, context: CommandContext): Promise<number> {
  checkMemberName(o.name);
  // The new stick first: a refusal here costs no sequence.
  const layout = await verifyStick(o.stickRoot, context.env);
  await assertNotSymlink(layout.sshDir);
  const rcPath = join(layout.sshDir, SPA_RC_NAME);
  const hasStanza = (text: string | null): boolean => text !== null && stanzaNames(parseRcText(text, rcPath)).some((n) => n.toLowerCase() === o.host.toLowerCase());
  if (hasStanza(await readTextIfExists(rcPath))) throw usageError(`${rcPath} already has a stanza [${o.host}]; nothing was done`, 'give the new stick another alias with --host ALIAS');

  const keys = generateKeys();
  return overVia(o, layout.sshDir, context, async (remote, sudo, via) => {
    const rcBefore = await readTextIfExists(rcPath);
    if (hasStanza(rcBefore)) throw usageError(`${rcPath} got a stanza [${o.host}] meanwhile; nothing was done`);
    const words = [...sudo, o.remoteKnockstick, 'stick', 'add', o.name, '--method', 'spa', '--keys-stdin', ...o.serverArgs];
    const out = await remote.run(words, `${keys.encryption.toString('base64')}\n${keys.hmac.toString('base64')}\n`);
    const reply = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { sshPort?: number; reloaded?: string; checked?: string };
    if (typeof reply.sshPort !== 'number') throw new KnockstickError('IO', `the server's knockstick answered something else than expected: ${out.slice(0, 200)}`, { hint: `check on the server with \`knockstick stick list\`; revoke ${o.name} there if it was added` });
    try {
      await ensureDirectory(layout.sshDir, { within: layout.root });
      const stanza = clientStanza({ spaServer: o.spaServer, sshPort: reply.sshPort, keys }, o.host);
      await writeAtomically(rcPath, `${rcBefore === null || rcBefore === '' ? '' : `${rcBefore.replace(/\n*$/, '')}\n\n`}${stanza}`, { within: layout.root });
      const confPath = join(layout.sshDir, STICK_CONFIG_NAME);
      await writeAtomically(confPath, setConfigValue((await readTextIfExists(confPath)) ?? '', o.host, 'method', 'spa'), { within: layout.root });
    } catch (error) {
      throw new KnockstickError('IO', `the server has stick ${o.name}'s stanza now, but writing the new stick failed: ${(error as Error).message}`, { hint: `revoke it there (knockstick stick revoke ${o.name}) and try again`, cause: error });
    }
    context.stdout.write(
      `Added stick ${o.name} (SPA) on ${via} over ssh: its own stanza there (${reply.checked ?? 'checked'}; ${reply.reloaded ?? ''}).\n` +
        `  The new stick has the same keys: ${rcPath} [${o.host}] (mode 0600), "method = spa" in its knockstick.conf.\n`,
    );
    return 0;
  });
}

export interface RemoteKnockAddOptions extends Omit<RemoteAddOptions, 'spaServer'> {
  readonly count: number;
  /** The new stick's ssh public key file (--key), else its first id_*.pub: recorded for revoke --authorized-keys. */
  readonly keyFile: string | undefined;
}

/**
 * stick add NAME --remote (knock): the server's `stick add NAME --sequences-stdout` makes the door,
 * its one-time file and the stick's copy from the member's pool there (add.ts addMemberToStdout),
 * and answers them on ssh's stdout. Only then is the new stick written: its sequence file (0600)
 * and its knockstick.conf server_file / ports, so seqgen --remote refills it later.
 */
export async function remoteAddKnockMember(o: RemoteKnockAddOptions, context: CommandContext, via: typeof overVia = overVia): Promise<number> {
  checkMemberName(o.name);
  if (o.count < 2) throw usageError('--count must be at least 2: knockd crashes when a door\'s last sequence is used');
  // The new stick first: a refusal here costs no sequence.
  const layout = await verifyStick(o.stickRoot, context.env);
  await assertNotSymlink(layout.sshDir);
  const stickFile = sequencesFileFor(layout, o.host);
  const taken = async (): Promise<boolean> => (await lstat(stickFile).catch(() => null)) !== null;
  const refusal = (when: string) => usageError(`${stickFile} exists${when}: this stick already has sequences for alias ${o.host}; nothing was done`, 'give the new door its own alias with --host ALIAS');
  if (await taken()) throw refusal('');
  const key = await stickKey(layout.root, o.keyFile);
  return via(o, layout.sshDir, context, async (remote, sudo, viaAlias) => {
    if (await taken()) throw refusal(' (made meanwhile)');
    const words = [...sudo, o.remoteKnockstick, 'stick', 'add', o.name, '--sequences-stdout', '--count', String(o.count), '--host', o.host, ...o.serverArgs];
    const out = await remote.run(words, key === undefined ? '' : `${key}\n`);
    let reply: Partial<RemoteKnockReply> = {};
    try {
      reply = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Partial<RemoteKnockReply>;
    } catch {
      // Not JSON: refused below, without echoing stdout (it could hold sequences).
    }
    const { serverFile, ports, sequences } = reply;
    if (typeof serverFile !== 'string' || !serverFile.startsWith('/') || typeof ports !== 'string' || !/^\d+-\d+$/.test(ports) || typeof sequences !== 'string' || sequences === '') {
      throw new KnockstickError('IO', `the server's knockstick answered something else than expected to \`stick add ${o.name} --sequences-stdout\``, {
        hint: `check on the server with \`knockstick stick list\`; if ${o.name} is there, run \`knockstick stick revoke ${o.name}\` there and try again`,
      });
    }
    const confPath = join(layout.sshDir, STICK_CONFIG_NAME);
    try {
      await ensureDirectory(layout.sshDir, { within: layout.root });
      const confBefore = (await readTextIfExists(confPath)) ?? '';
      await writeAtomically(stickFile, sequences, { within: layout.root, mode: 0o600 });
      await writeAtomically(confPath, setConfigValue(setConfigValue(confBefore, o.host, 'server_file', serverFile), o.host, 'ports', ports), { within: layout.root });
    } catch (error) {
      await unlink(stickFile).catch(() => undefined);
      throw new KnockstickError('IO', `the server has stick ${o.name}'s door now, but writing the new stick failed: ${(error as Error).message}`, {
        hint: `undo it on the server: \`knockstick stick revoke ${o.name}\` (over callhome ${o.viaHost}), then try again`,
        cause: error,
      });
    }
    const unused = sequences.split('\n').filter((l) => l.startsWith(' ')).length;
    context.stdout.write(
      `Added stick ${o.name} on ${viaAlias} over ssh: ${reply.report ?? ''}\n` +
        `  The new stick has its ${unused} sequences: ${stickFile} (mode 0600); ${confPath} [${o.host}] server_file = ${serverFile}, ports = its pool (seqgen --remote refills it).\n`,
    );
    return 0;
  });
}

/**
 * Connects through the via stick (its door opened by its own method and policy: one knock
 * sequence spent) and runs `fn` over that one master connection, holding the via stick's lock and
 * the new stick's (taken once the master is up: the proxy took the via lock itself while it
 * knocked), so everything `fn` reads there is fresh. Returns the proxy's exit code when it failed.
 */
export async function overVia(
  o: Pick<RemoteAddOptions, 'viaRoot' | 'viaHost' | 'sudo' | 'waitSeconds'>,
  newStickSshDir: string,
  context: CommandContext,
  fn: (remote: Remote, sudo: readonly string[], via: string) => Promise<number>,
): Promise<number> {
  const door = quietDoorOptions({ env: context.env, host: o.viaHost, stickRoot: o.viaRoot, lockWaitSeconds: o.waitSeconds });

  const deps = { ...doorDeps, program: thisProgram, statusDir: makeStatusDir };
  const prepared = await prepare(door, deps, context.stderr);
  const settings = await resolveDoorSettings(door, prepared.layout.root);
  const proxied = proxiedSsh('ssh', [], prepared, deps.program());
  const handover = { ...handoverOf(door, context.invokedAs), method: settings.method, doorPolicy: settings.policy };
  const sudo = o.sudo && prepared.host.user !== 'root' ? ['sudo', '-n'] : [];
  const mark = cleanup.mark();
  try {
    const controlDir = await mkdtemp(join(tmpdir(), 'knockstick-ssh-'));
    cleanup.push(`removed ${controlDir}`, () => rm(controlDir, { recursive: true, force: true }));
    const remote = await connect(prepared, proxied, handover, proxiedConnectTimeout(door), controlDir, deps);
    if (typeof remote === 'number') return remote;
    const dirs = [prepared.layout.sshDir, ...(newStickSshDir === prepared.layout.sshDir ? [] : [newStickSshDir])];
    return await withDirectoryLocks(dirs, { waitSeconds: o.waitSeconds }, () => fn(remote, sudo, prepared.host.alias));
  } finally {
    await cleanup.runAll(mark);
  }
}
