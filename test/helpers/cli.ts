// Runs the built CLI (dist/) as a real process, the way a user does.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from '@jest/globals';
import { execa } from 'execa';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST_BIN = join(ROOT, 'dist', 'bin');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function binPath(bin: string): string {
  const path = join(DIST_BIN, `${bin}.js`);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` before the CLI tests`);
  return path;
}

/**
 * Where a command runs when a test names no directory: a scratch directory of this test process,
 * never the repository (commands write there by default: usbsetup its 0600 server copy, panic
 * script its ./panic; they once ended up committed).
 */
let scratch: string | undefined;
async function scratchDir(): Promise<string> {
  scratch ??= await mkdtemp(join(tmpdir(), 'knockstick-cwd-'));
  return scratch;
}
// Registered when a test file imports this module (a top-level hook of that file): the scratch
// directory goes with the file's tests, whatever they did (hundreds were left in /tmp before).
afterAll(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** Runs `bin` (knockstick, seqgen, ...) with `args`; never throws on a non-zero exit. */
export async function runBin(bin: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [binPath(bin), ...args], {
    cwd: options.cwd ?? (await scratchDir()),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export const knockstick = (args: readonly string[], options?: Parameters<typeof runBin>[2]) => runBin('knockstick', args, options);

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'knockstick-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Makes `root` a stick as the commands recognise one: a directory holding .ssh/config (a "home"
 * entry). Without it every stick command refuses the directory ("is the stick mounted?").
 */
export async function makeStick(root: string, hostName = '127.0.0.1'): Promise<string> {
  await mkdir(join(root, '.ssh'), { recursive: true, mode: 0o700 });
  await writeFile(join(root, '.ssh', 'config'), `Host home\n  HostName ${hostName}\n  User nobody\n  IdentityFile .ssh/id_ed25519\n`, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return root;
}
