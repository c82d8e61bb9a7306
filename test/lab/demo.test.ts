// The README's first Quick start command runs this demo: keep it working and leaving nothing behind.

import { describe, expect, it, jest } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.js';
import { LAB_PREFIX } from '../../src/lab/lab.js';

jest.setTimeout(120_000);

/** The lab namespaces the demo process `pid` made (lab.ts names them ksl<pid>x<n><role>), so labs of other runs on the machine do not count. */
async function labNamespaces(pid: number | undefined): Promise<string[]> {
  const list = await execa('ip', ['netns', 'list'], { reject: false });
  return String(list.stdout).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${LAB_PREFIX}${pid ?? 'none'}x`));
}

describe('the demo', () => {
  it('tells the whole story, exits 0 and leaves no namespace behind', async () => {
    const demo = execa(process.execPath, [join(ROOT, 'dist', 'lab', 'demo.js')], { reject: false, timeout: 100_000 });
    const result = await demo;
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(result.stdout).toMatch(/hello from .*, logged in as root/);
    // The first probe leaves before the door can open: a fresh door is never taken for an old one.
    expect(result.stdout).toMatch(/door open after \d+ ms \(line 1, the next sequence\)\n/);
    expect(result.stdout).toMatch(/no door: knockd no longer even watches those ports/);
    expect(result.stdout).toMatch(/in step: 19 unused/);
    expect(result.stdout).toMatch(/dropped: the door admitted exactly one connection, the one ssh used/);
    expect(result.stdout).toMatch(/knockd: stopped; door sets: empty/);
    expect(result.stdout).toMatch(/panic lockdown[\s\S]*exit 7\./);
    expect(await labNamespaces(demo.pid)).toEqual([]);
  });

  it('tears the lab down when interrupted with Ctrl-C, and undoes the knockstick command it was running', async () => {
    const askpassDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('knockstick-askpass-'));
    const askpassBefore = await askpassDirs();
    const child = execa(process.execPath, [join(ROOT, 'dist', 'lab', 'demo.js')], { reject: false });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (!output.includes('2. The stick: usbsetup') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await labNamespaces(child.pid)).not.toEqual([]); // its lab is up when Ctrl-C comes
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(await labNamespaces(child.pid)).toEqual([]);
    // usbsetup's askpass directory (made while ssh-keygen runs) went with the undo.
    expect(await askpassDirs()).toEqual(askpassBefore);
  });
});
