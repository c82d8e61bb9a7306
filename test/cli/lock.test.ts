import { describe, expect, it } from '@jest/globals';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, tempDir } from '../helpers/cli.js';

const LOCK_MODULE = join(ROOT, 'dist', 'core', 'lock.js');

/** A node process that takes the lock on `dir`, prints "held", then waits to be killed. */
function holdLock(dir: string) {
  const script = `const { lockDirectories } = await import(${JSON.stringify(LOCK_MODULE)});
await lockDirectories([${JSON.stringify(dir)}], { waitSeconds: 5 });
process.stdout.write('held');
setInterval(() => {}, 1000);`;
  return execa(process.execPath, ['--input-type=module', '-e', script], { reject: false });
}

async function lockTakesSeconds(dir: string, waitSeconds: number): Promise<'acquired' | 'busy'> {
  const { lockDirectories } = (await import(LOCK_MODULE)) as typeof import('../../src/core/lock.js');
  try {
    const lock = await lockDirectories([dir], { waitSeconds });
    await lock.release();
    return 'acquired';
  } catch (error) {
    if ((error as { code?: string }).code === 'BUSY') return 'busy';
    throw error;
  }
}

describe('directory locks', () => {
  it('a holder that is SIGKILLed releases its lock: no stale lock survives a crash', async () => {
    const dir = await tempDir();
    try {
      const target = join(dir.path, 'stick');
      await mkdir(target);
      const holder = holdLock(target);
      await new Promise<void>((resolve) => holder.stdout?.once('data', () => resolve()));
      expect(await lockTakesSeconds(target, 0)).toBe('busy');
      holder.kill('SIGKILL');
      await holder;
      expect(await lockTakesSeconds(target, 5)).toBe('acquired');
    } finally {
      await dir.cleanup();
    }
  });
});
