// Any ssh client through the stick: the ssh config usbsetup writes (sshConfigText: ProxyCommand
// `'STICK/knockstick' connect %n %h %p`, absolute IdentityFile/UserKnownHostsFile) used as it is by
// ssh, scp, rsync, git and sftp from `/`, against the real knockd, sshd and firewall. Each knocks
// for itself and spends exactly one sequence; a ControlMaster session is reused without a new
// knock; Ctrl-C during connect's knock leaves the stick consistent; a 30% lossy link still gets in;
// a stick moved to another directory works once relocated. The stick lives in a directory whose
// name needs quoting ("stick 'q' 100%"), so the escaping is tested end to end.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { appendFile, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, runBin } from '../helpers/cli.js';
import { closeDoorNow, explain as explainRun, freshDoor as freshDoorOf, lockstepStatus, setUpDoorLab, shutDoor, startDoorKeeper as startDoorKeeperOf, tearDownDoorLab, type DoorLab } from '../helpers/door-lab.js';
import { SERVER_ADDR, SSH_PORT, runIn, waitFor, type RunResult } from '../../src/lab/lab.js';
import { askpassEnv } from '../../src/lab/stick.js';
import { shellQuote } from '../../src/core/shell.js';
import { readCallhomeState } from '../../src/core/callhome-state.js';
import { parseSequenceFile } from '../../src/core/sequences.js';
import { stickLayout } from '../../src/core/stick.js';
import { relocateStickConfig } from '../../src/core/stick-relocate.js';
import { sshConfigText } from '../../src/usbsetup/content.js';

jest.setTimeout(300_000);

let door: DoorLab;

/** The stick's config as usbsetup writes it, for a stick at `root`, with the lab's address. */
const usbsetupConfig = (root: string): string =>
  sshConfigText({ alias: 'home', hostName: SERVER_ADDR, user: 'root', port: SSH_PORT, dynamicForward: undefined }, root).replace('StrictHostKeyChecking ask', 'StrictHostKeyChecking yes');

beforeAll(async () => {
  // An empty /root for sshd's logins: the host's dotfiles must not reach scp/sftp/rsync/git. The
  // stick's launchers, bundle, key and known_hosts as the connect lab makes them (proxyCommand),
  // then usbsetup's own ssh config over the hand-written one.
  door = await setUpDoorLab({ firewall: 'iptables', hideHostHome: true, stickName: "stick 'q' 100%", passphrase: '', proxyCommand: true, env: { SHELL: '/bin/sh' } });
  await writeFile(door.stick.config, usbsetupConfig(door.stick.root), { mode: 0o600 });
});

afterAll(async () => {
  await tearDownDoorLab(door);
});

/** New sequence files on both sides (COUNT lines) and a knockd freshly started on them. */
const freshDoor = (count: number, cmdTimeout = 3): Promise<void> => freshDoorOf(door, count, cmdTimeout);

const startDoorKeeper = (cmdTimeout = 3, sequencesFile = door.serverFile): Promise<void> => startDoorKeeperOf(door, cmdTimeout, sequencesFile);

/** A shell command line in the client namespace, from `/`; "$CFG" is the stick's ssh config. */
function client(script: string, extraEnv: Record<string, string> = {}, timeoutMs = 120_000): Promise<RunResult> {
  return runIn(door.lab.clientNs, 'sh', ['-c', `cd / && ${script}`], { env: { ...door.env, CFG: door.stick.config, ...extraEnv }, timeoutMs });
}

const status = () => lockstepStatus(door);

const explain = (result: RunResult) => explainRun(door, result);

/**
 * Shuts the door now, so that the next client must knock: knockd's door keepers killed and the doors
 * flushed (knockd keeps running), rather than waiting out cmd_timeout; what the door's own timeout
 * does is checked in test/lab/doors-single-use.test.ts.
 */
const doorClosed = () => closeDoorNow(door);

describe("any ssh client through the stick's ssh config, from /", () => {
  beforeAll(async () => {
    await freshDoor(20);
  });

  it('ssh -F STICK/.ssh/config home true gets in with exactly one sequence spent', async () => {
    const result = await client('exec ssh -F "$CFG" home true');
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 }, stick: { used: 1 } });
    await doorClosed();
  });

  it('scp -F copies a file there and back, one sequence each', async () => {
    const local = join(door.lab.dir, 'scp-src');
    await writeFile(local, 'scp through the stick\n');
    const there = join(door.lab.dir, 'scp-there');
    expect(explain(await client(`exec scp -F "$CFG" ${shellQuote(local)} home:${shellQuote(there)}`))).toEqual({ exitCode: 0 });
    expect(await readFile(there, 'utf8')).toBe('scp through the stick\n');
    await doorClosed();
    const back = join(door.lab.dir, 'scp-back');
    expect(explain(await client(`exec scp -F "$CFG" home:${shellQuote(there)} ${shellQuote(back)}`))).toEqual({ exitCode: 0 });
    expect(await readFile(back, 'utf8')).toBe('scp through the stick\n');
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 3 }, stick: { used: 3 } });
    await doorClosed();
  });

  it("rsync -e 'ssh -F STICK/.ssh/config' syncs a directory, one sequence", async () => {
    const src = join(door.lab.dir, 'rsync-src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a\n');
    await writeFile(join(src, 'sub', 'b.txt'), 'b\n');
    const dest = join(door.lab.dir, 'rsync-dest');
    // rsync splits -e itself (quotes group words, no shell): the config path goes in double quotes.
    const result = await client(`exec rsync -a -e "ssh -F \\"$CFG\\"" ${shellQuote(`${src}/`)} home:${shellQuote(`${dest}/`)}`);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(await readFile(join(dest, 'sub', 'b.txt'), 'utf8')).toBe('b\n');
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 4 }, stick: { used: 4 } });
    await doorClosed();
  });

  it('git clone over GIT_SSH_COMMAND="ssh -F STICK/.ssh/config" clones a bare repository on the server, one sequence', async () => {
    const work = join(door.lab.dir, 'git-work');
    const bare = join(door.lab.dir, 'repo.git');
    const git = (args: string[], cwd: string) => execa('git', args, { cwd, env: { HOME: door.env.HOME as string, GIT_CONFIG_NOSYSTEM: '1' }, extendEnv: true });
    await mkdir(work);
    await git(['init', '-q', '-b', 'main'], work);
    await writeFile(join(work, 'README'), 'cloned through the stick\n');
    await git(['add', 'README'], work);
    await git(['-c', 'user.name=lab', '-c', 'user.email=lab@example.invalid', 'commit', '-q', '-m', 'first'], work);
    await git(['clone', '-q', '--bare', work, bare], door.lab.dir);
    const dest = join(door.lab.dir, 'git-clone');
    const result = await client(`GIT_SSH_COMMAND="ssh -F $(printf '%s' "$CFG" | sed "s/'/'\\\\\\\\''/g; s/^/'/; s/$/'/")" exec git clone -q home:${shellQuote(bare)} ${shellQuote(dest)}`, { GIT_CONFIG_NOSYSTEM: '1' });
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(await readFile(join(dest, 'README'), 'utf8')).toBe('cloned through the stick\n');
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 5 }, stick: { used: 5 } });
    await doorClosed();
  });

  it('sftp -F in batch mode puts and lists a file, one sequence', async () => {
    const local = join(door.lab.dir, 'sftp-src');
    await writeFile(local, 'sftp through the stick\n');
    const remote = join(door.lab.dir, 'sftp-there');
    const batch = join(door.lab.dir, 'sftp-batch');
    await writeFile(batch, `put "${local}" "${remote}"\nls -1 "${door.lab.dir}"\n`);
    const result = await client(`exec sftp -F "$CFG" -b ${shellQuote(batch)} home`);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(await readFile(remote, 'utf8')).toBe('sftp through the stick\n');
    expect(result.stdout).toContain('sftp-there');
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 6 }, stick: { used: 6 } });
    await doorClosed();
  });

  it('ControlMaster: the second session (and a third, after the door closed) reuses the master, no new knock', async () => {
    const controlDir = join(door.lab.dir, 'control');
    await mkdir(controlDir, { mode: 0o700 });
    const master = `-o ControlMaster=auto -o ${shellQuote(`ControlPath=${controlDir}/%C`)} -o ControlPersist=60`;
    const before = (await status()).server.used;
    // The master stays in the background (ControlPersist); its ProxyCommand keeps the stderr it was
    // given, so that goes to a file (a pipe would stay open until the master exits).
    const log = join(door.lab.dir, 'master.log');
    const first = await client(`exec ssh -F "$CFG" ${master} home echo first 2>${shellQuote(log)}`);
    expect(explain(first)).toEqual({ exitCode: 0 });
    expect(first.stdout.trim()).toBe('first');
    expect(explain(await client(`exec ssh -F "$CFG" ${master} -O check home`))).toEqual({ exitCode: 0 });
    const second = await client(`exec ssh -F "$CFG" ${master} home echo second`);
    expect(explain(second)).toEqual({ exitCode: 0 });
    expect(second.stdout.trim()).toBe('second');
    await doorClosed();
    // The door is shut, the master's connection is not: scp and sftp ride it too.
    const third = await client(`exec ssh -F "$CFG" ${master} home echo third`);
    expect(third.stdout.trim()).toBe('third');
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: before + 1 }, stick: { used: before + 1 } });
    expect(explain(await client(`exec ssh -F "$CFG" ${master} -O exit home`))).toEqual({ exitCode: 0 });
    await doorClosed();
  });
});

describe('Ctrl-C during connect leaves the stick consistent', () => {
  /** The stick's files after a run: sequences parse, the state parses, no temp file is left. */
  async function checkConsistent(): Promise<{ used: number }> {
    const layout = stickLayout(door.stick.root);
    const text = await readFile(door.stick.sequences, 'utf8');
    const parsed = parseSequenceFile(text, door.stick.sequences, 'stick');
    expect(parsed.problems).toEqual([]);
    expect((await readCallhomeState(`${door.stick.sequences}.state`)).warning).toBeUndefined();
    expect((await readdir(layout.sshDir)).filter((n) => n.endsWith('.tmp') || n.startsWith('.'))).toEqual([]);
    expect((await readdir(layout.root)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    return { used: parsed.file.lines.filter((l) => l.state === 'used').length };
  }

  /** The pid of `knockstick connect` in process group `pgid`, once it runs (bounded wait). */
  async function connectIn(pgid: number): Promise<number | undefined> {
    let found: number | undefined;
    await waitFor(async () => {
      for (const name of await readdir('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
        // Fields after the command's ") ": state, ppid, pgrp.
        const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
        if (pgrp !== pgid) continue;
        const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
        // node running the stick's connect.mjs (the proxy's own bundle) or knockstick.mjs connect
        if (argv.some((a) => a.endsWith('/connect.mjs')) || (argv.some((a) => a.endsWith('knockstick.mjs')) && argv.includes('connect'))) found = Number(name);
      }
      return found !== undefined;
    }, 10_000, 10);
    return found;
  }

  it.each([0, 150, 600])('SIGINT to the process group %i ms after connect started, its knock unanswered: at most the knocked line marked, and the next ssh gets in', async (delayMs) => {
    await freshDoor(8);
    // No knockd: the knock is never answered, connect keeps knocking and waiting for the door.
    await door.knockd?.stop();
    door.knockd = undefined;
    const child = execa('ip', ['netns', 'exec', door.lab.clientNs, 'sh', '-c', 'cd / && exec ssh -F "$CFG" -o ConnectTimeout=60 home true'], {
      env: { ...door.env, CFG: door.stick.config },
      extendEnv: false,
      detached: true, // its own process group, as a shell's foreground job on a terminal
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    });
    // The moments: node just started (lock, files), knocking, waiting for the door.
    expect(await connectIn(child.pid as number)).toEqual(expect.any(Number));
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    process.kill(-(child.pid as number), 'SIGINT'); // what Ctrl-C sends: the whole foreground group
    const result = await child;
    expect(result.exitCode === 0).toBe(false);
    const { used } = await checkConsistent();
    expect(used).toBeLessThanOrEqual(1);
    // The lock is free again and the pair heals: the next plain ssh gets in.
    await startDoorKeeper();
    const next = await client('exec ssh -F "$CFG" home true');
    expect(explain(next)).toEqual({ exitCode: 0 });
    await checkConsistent();
    await doorClosed();
  });
});

describe('connect over a link that drops 30% of the client\'s packets', () => {
  it('plain ssh -F through the ProxyCommand gets in, and both sides stay healable', async () => {
    const RUNS = 10;
    await freshDoor(RUNS * 4 + 5, 3);
    // The loss the callhome lab uses (lab-facts.md: no netem here): random drops on the client's way out.
    const drop = ['OUTPUT', '-o', door.lab.clientIf, '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP'];
    // connect's own flags, appended to the ProxyCommand by hand as a user would (relocation keeps
    // them): more, shorter attempts, the settings the callhome loss test uses.
    const plain = await readFile(door.stick.config, 'utf8');
    await writeFile(door.stick.config, plain.replace(' connect %n %h %p\n', ' connect %n %h %p --attempts 12 --door-timeout 600 --door-window 0\n'), { mode: 0o600 });
    await door.lab.run(door.lab.clientNs, 'iptables', ['-A', ...drop]);
    const outcomes: number[] = [];
    const failures: string[] = [];
    try {
      for (let i = 0; i < RUNS; i++) {
        const result = await client('exec ssh -F "$CFG" -o ConnectTimeout=30 home true');
        outcomes.push(result.exitCode);
        if (result.exitCode !== 0) failures.push(result.stderr.trim().split('\n').slice(-4).join(' | '));
        const step = (await status()).lockstep as { state: string; stickAhead?: number };
        expect({ run: i, step: step.state === 'in-step' || (step.state === 'drift' && Math.abs(step.stickAhead ?? 9) <= 2) }).toEqual({ run: i, step: true });
        await doorClosed();
      }
    } finally {
      await door.lab.run(door.lab.clientNs, 'iptables', ['-D', ...drop]);
      await writeFile(door.stick.config, plain, { mode: 0o600 });
    }
    const succeeded = outcomes.filter((c) => c === 0).length;
    process.stderr.write(`[30% loss, connect] plain ssh got in ${succeeded}/${RUNS} runs; exit codes: ${outcomes.join(' ')}\n${failures.map((f) => `  ${f}\n`).join('')}`);
    // Measured 4/10 to 6/10 here (12 attempts; the failures: every attempt lost a knock or the
    // probe). A bound that chance does not break (p 0.4: 0 of 10 in 0.6% of runs): some get in.
    expect(succeeded).toBeGreaterThanOrEqual(1);
    expect(explain(await client('exec ssh -F "$CFG" home true'))).toEqual({ exitCode: 0 });
    expect((await status()).lockstep).toEqual({ state: 'in-step' });
    await doorClosed();
  });
});

describe('a stick made by usbsetup --into, as it is', () => {
  it('its launchers, connect bundle and ssh config get plain ssh in from /, one sequence', async () => {
    await shutDoor(door);
    const root = join(door.lab.dir, 'usbsetup stick');
    await mkdir(root);
    const serverFile = join(door.lab.dir, 'server-usbsetup');
    const pass = join(door.lab.dir, 'usbsetup-key.pass');
    await writeFile(pass, 'usbsetup key phrase\n', { mode: 0o600 });
    const hostKey = join(door.lab.dir, 'host_key.pub');
    await writeFile(hostKey, `${door.sshd.publicKey}\n`);
    const made = await runBin('usbsetup', ['--yes', '--into', root, '--hostname', SERVER_ADDR, '--user', 'root', '--port', String(SSH_PORT), '--server-host-key', hostKey, '--server-file', serverFile, '--sequences', '5', '--key-passphrase-file', pass], { cwd: door.lab.dir });
    expect({ exitCode: made.exitCode, stderr: made.exitCode === 0 ? '' : made.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect((await readdir(join(root, '.knockstick'))).sort()).toEqual(['connect.mjs', 'knockstick.mjs']);
    await appendFile(door.sshd.authorizedKeys, await readFile(join(root, '.ssh', 'id_ed25519.pub'), 'utf8'));
    await startDoorKeeper(3, serverFile);
    const askpassDir = join(door.lab.dir, 'askpass');
    await mkdir(askpassDir, { recursive: true, mode: 0o700 });
    const result = await runIn(door.lab.clientNs, 'sh', ['-c', 'cd / && exec ssh -F "$CFG" home echo usbsetup-stick-ok'], {
      env: { ...door.env, CFG: join(root, '.ssh', 'config'), ...(await askpassEnv(askpassDir, 'usbsetup key phrase')) },
    });
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('usbsetup-stick-ok');
    const after = JSON.parse((await knockstick(['seqgen', 'status', '--json', '--server-file', serverFile, '--stick', root])).stdout);
    expect(after).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 }, stick: { used: 1 } });
    await doorClosed();
  });

  it('moved elsewhere: its callhome gets in at once (fast way), node\'s callhome points the config here, then plain ssh gets in too', async () => {
    const oldRoot = join(door.lab.dir, 'usbsetup stick');
    const root = join(door.lab.dir, 'usbsetup stick, mounted elsewhere');
    await rename(oldRoot, root);
    const serverFile = join(door.lab.dir, 'server-usbsetup');
    const askpassDir = join(door.lab.dir, 'askpass');
    const env = { ...door.env, STICK: root, ...(await askpassEnv(askpassDir, 'usbsetup key phrase')) };
    const run = (script: string) => runIn(door.lab.clientNs, 'sh', ['-c', `cd / && ${script}`], { env });
    const used = async (): Promise<number> => JSON.parse((await knockstick(['seqgen', 'status', '--json', '--server-file', serverFile, '--stick', root])).stdout).server.used;
    // The launcher's fast way (no flags): ssh is told where the stick's files are now.
    const fast = await run('exec sh "$STICK/callhome" -- echo fast-ok');
    expect(explain(fast)).toEqual({ exitCode: 0 });
    expect(fast.stdout.trim()).toBe('fast-ok');
    expect(await readFile(join(root, '.ssh', 'config'), 'utf8')).toContain(oldRoot);
    await doorClosed();
    // A flag sends it through node's callhome, which points the config here before ssh reads it.
    const slow = await run('exec sh "$STICK/callhome" --attempts 6 -- echo slow-ok');
    expect(explain(slow)).toEqual({ exitCode: 0 });
    expect(slow.stderr).toMatch(/pointed 3 path\(s\) of .* where the stick is mounted now/);
    expect(await readFile(join(root, '.ssh', 'config'), 'utf8')).not.toContain(`${oldRoot}/`);
    await doorClosed();
    const plain = await run('exec ssh -F "$STICK/.ssh/config" home echo plain-ok');
    expect(explain(plain)).toEqual({ exitCode: 0 });
    expect(await used()).toBe(4);
    await doorClosed();
  });
});

describe('a stick mounted somewhere else', () => {
  it('fails before relocation (the config names the old place), gets in after it', async () => {
    await freshDoor(6);
    const oldRoot = door.stick.root;
    const newRoot = join(door.lab.dir, 'moved stick');
    await rename(oldRoot, newRoot);
    door.stick = { root: newRoot, config: join(newRoot, '.ssh', 'config'), sequences: join(newRoot, '.ssh', 'sequences') };
    const stale = await client('exec ssh -F "$CFG" -o ConnectTimeout=5 home true');
    expect(stale.exitCode).toBe(255);
    expect((await status()).server.used).toBe(0);
    const { changes } = await relocateStickConfig(stickLayout(newRoot));
    expect(changes.map((c) => c.keyword)).toEqual(['ProxyCommand', 'IdentityFile', 'UserKnownHostsFile']);
    expect(await readFile(door.stick.config, 'utf8')).toBe(usbsetupConfig(newRoot));
    expect(explain(await client('exec ssh -F "$CFG" home true'))).toEqual({ exitCode: 0 });
    expect(await status()).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1 }, stick: { used: 1 } });
  });
});
