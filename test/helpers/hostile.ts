// Shared by the hostile-input suites (hostile-flags, hostile-config): the built CLI run in-process
// in a sandbox, and a snapshot of the sandbox to prove that a refusal changed nothing.

import { beforeAll, expect } from '@jest/globals';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './cli.js';

type RunCli = typeof import('../../src/cli.js').runCli;
const CLI_MODULE = join(ROOT, 'dist', 'cli.js');
let runCli: RunCli | undefined;

/** Call once at the top of each suite file: loads dist/cli.js before its tests. */
export function loadCli(): void {
  beforeAll(async () => {
    ({ runCli } = (await import(CLI_MODULE)) as { runCli: RunCli });
  });
}

/** Exit code 1: the CLI's "unexpected error: ... Please report this". */
export const INTERNAL = 1;

export interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function run(args: readonly string[], sandbox: string): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  if (runCli === undefined) throw new Error('call loadCli() in the suite first');
  const exitCode = await runCli(args, {
    cwd: join(sandbox, 'cwd', 'sub'),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(sandbox, 'home') },
    stdout: { write: (t) => void (stdout += t) },
    stderr: { write: (t) => void (stderr += t) },
    stderrIsTTY: false,
  });
  return { exitCode, stdout, stderr };
}

/**
 * Every entry under `root` with what a write changes: inode (an atomic write renames a new one in),
 * size and modification time in nanoseconds (an append, a rewrite in place), mode, owner. Contents
 * are not read: that is as exact, faster, and a FIFO's content cannot be read without blocking.
 */
export async function snapshot(root: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const info = await lstat(path, { bigint: true });
      const kind = `${(info.mode & 0o177777n).toString(8)} ino ${info.ino} uid ${info.uid}`;
      // A directory's mtime moves when an entry is made and removed again (a refused seqgen's lock
      // directory): its listing is what counts, and the walk records that.
      entries.set(path, info.isDirectory() ? kind : `${kind} size ${info.size} mtime ${info.mtimeNs}`);
      if (info.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return entries;
}

export interface Sandbox {
  readonly path: string;
  readonly stick: string;
  readonly serverFile: string;
  readonly knockdConf: string;
  readonly serverConfig: string;
  readonly hostConfig: string;
  readonly rcFile: string;
  readonly packet: string;
  readonly keyPass: string;
  readonly into: string;
}

/** A stick and a server in lockstep, their settings, an SPA rc file and packet, a FIFO and a directory. */
export async function makeSandbox(path: string): Promise<Sandbox> {
  const s: Sandbox = {
    path,
    stick: join(path, 'stick'),
    serverFile: join(path, 'server', 'ssh'),
    knockdConf: join(path, 'server', 'knockd.conf'),
    serverConfig: join(path, 'server', 'server.conf'),
    hostConfig: join(path, 'host', 'stick.conf'),
    rcFile: join(path, 'spa', 'fwknoprc'),
    packet: join(path, 'spa', 'packet'),
    keyPass: join(path, 'key.pass'),
    into: join(path, 'into'),
  };
  for (const dir of ['cwd/sub', 'home', 'dir', 'stick/.ssh', 'server', 'host', 'spa', 'into']) await mkdir(join(path, dir), { recursive: true });
    await writeFile(join(s.stick, '.ssh', 'config'), 'Host home\n  HostName 127.0.0.1\n  Port 40022\n  User alice\n');
  await writeFile(join(s.stick, '.ssh', 'knockstick.conf'), '[home]\npanic_sequence = 47113,52981,60210\npanic_host = 127.0.0.1\n');
  await writeFile(s.serverConfig, 'ssh_port = 40022\n');
  await writeFile(s.keyPass, 'correct horse battery\n', { mode: 0o600 });
  const seqgen = await run(['seqgen', '6', '--server-file', s.serverFile, '--stick', s.stick, '--server-config', s.serverConfig], path);
  expect(seqgen.exitCode).toBe(0);
  await writeFile(
    s.knockdConf,
    `[options]\n  UseSyslog\n\n[ssh]\n  one_time_sequences = ${s.serverFile}\n  seq_timeout = 15\n  tcpflags = syn\n` +
      '  start_command = /bin/true %IP%\n  cmd_timeout = 10\n  stop_command = /bin/true %IP%\n',
  );
  const keygen = await run(['spa', 'keygen', '--rc-file', s.rcFile, '-n', 'default', '--server', '127.0.0.1'], path);
  expect(keygen.exitCode).toBe(0);
  const send = await run(['spa', 'send', '--dry-run', '--rc-file', s.rcFile, '--save-packet', s.packet], path);
  expect(send.exitCode).toBe(0);
  return s;
}

/** Listeners on 127.0.0.1 at every port of the stick's sequences: they count knocks. */
export async function knockCounter(sequencesText: string): Promise<{ knocks: () => number; close: () => Promise<void> }> {
  const ports = [...new Set(sequencesText.split('\n').flatMap((l) => l.replace(/^[ #]/, '').split(',').filter((p) => p !== '').map(Number)))];
  let count = 0;
  const servers: Server[] = [];
  for (const port of ports) {
    const server = createServer((socket) => {
      count++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    servers.push(server);
  }
  return { knocks: () => count, close: async () => void (await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))) };
}

/**
 * Whether some open of the FIFO for reading is pending or done and not closed: a non-blocking open
 * for writing then succeeds (ENXIO when there is no reader). A run must leave none behind, even
 * one it no longer waits for. Closing our end gives such a reader end-of-file, which releases it.
 */
export function fifoHasReader(fifo: string): boolean {
  try {
    closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw error;
  }
}
