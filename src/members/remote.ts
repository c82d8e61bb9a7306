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
// Knock members from afar are not done: their sequences come from the server's pools and would
// have to travel back over the connection (see the report).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { STICK_CONFIG_NAME, setConfigValue } from '../core/config.js';
import { DOOR_DEFAULTS, doorDeps, prepare, resolveDoorSettings, type DoorOptions } from '../core/door/index.js';
import { handoverOf } from '../core/door/handover.js';
import { makeStatusDir, proxiedConnectTimeout, proxiedSsh, thisProgram } from '../core/door/proxied.js';
import { KnockstickError, usageError } from '../core/errors.js';
import { assertNotSymlink, ensureDirectory, readTextIfExists, writeAtomically } from '../core/files.js';
import { cleanup } from '../core/interrupt.js';
import { withDirectoryLocks } from '../core/lock.js';
import { checkMemberName } from '../core/members.js';
import { SPA_RC_NAME, verifyStick } from '../core/stick.js';
import { generateKeys } from '../spa/keys.js';
import { parseRcText, stanzaNames } from '../spa/rc-file.js';
import { clientStanza } from '../server/spa.js';
import { connect } from '../seqgen/remote.js';

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

  const door: DoorOptions & { ssh: string; sshArgs: readonly string[] } = {
    env: context.env,
    host: o.viaHost,
    sshArgs: [],
    stickRoot: o.viaRoot,
    verbose: false,
    ipv6: false,
    attempts: DOOR_DEFAULTS.attempts,
    doorTimeoutMs: DOOR_DEFAULTS.doorTimeoutMs,
    gapMs: DOOR_DEFAULTS.gapMs,
    probeIntervalMs: DOOR_DEFAULTS.probeIntervalMs,
    doorWindowMs: DOOR_DEFAULTS.doorWindowSeconds * 1000,
    precheckMs: DOOR_DEFAULTS.precheckMs,
    warnBelow: 0,
    lockWaitSeconds: o.waitSeconds,
    ssh: 'ssh',
  };
  const deps = { ...doorDeps, program: thisProgram, statusDir: makeStatusDir };
  const prepared = await prepare(door, deps, context.stderr);
  const settings = await resolveDoorSettings(door, prepared.layout.root);
  const proxied = proxiedSsh('ssh', [], prepared, deps.program());
  const handover = { ...handoverOf(door, context.invokedAs), method: settings.method, doorPolicy: settings.policy };
  const sudo = o.sudo && prepared.host.user !== 'root' ? ['sudo', '-n'] : [];
  const keys = generateKeys();

  const mark = cleanup.mark();
  try {
    const controlDir = await mkdtemp(join(tmpdir(), 'knockstick-ssh-'));
    cleanup.push(`removed ${controlDir}`, () => rm(controlDir, { recursive: true, force: true }));
    const remote = await connect(prepared, proxied, handover, proxiedConnectTimeout(door), controlDir, deps);
    if (typeof remote === 'number') return remote;
    // The via stick's lock once the master is up (the proxy took it itself while it knocked), and
    // the new stick's, for fresh reads of what is written there.
    return await withDirectoryLocks([prepared.layout.sshDir, ...(layout.sshDir === prepared.layout.sshDir ? [] : [layout.sshDir])], { waitSeconds: o.waitSeconds }, async () => {
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
        `Added stick ${o.name} (SPA) on ${prepared.host.alias} over ssh: its own stanza there (${reply.checked ?? 'checked'}; ${reply.reloaded ?? ''}).\n` +
          `  The new stick has the same keys: ${rcPath} [${o.host}] (mode 0600), "method = spa" in its knockstick.conf.\n`,
      );
      return 0;
    });
  } finally {
    await cleanup.runAll(mark);
  }
}
