// The README's first Quick start command runs this demo: keep it working and leaving nothing behind.

import { describe, expect, it, jest } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/cli.js';
import { LAB_PREFIX } from '../../src/lab/lab.js';

jest.setTimeout(120_000);

async function labNamespaces(): Promise<string[]> {
  const list = await execa('ip', ['netns', 'list'], { reject: false });
  return String(list.stdout).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${LAB_PREFIX}`));
}

describe('the demo', () => {
  it('tells the whole story, exits 0 and leaves no namespace behind', async () => {
    const before = await labNamespaces();
    const result = await execa(process.execPath, [join(ROOT, 'dist', 'lab', 'demo.js')], { reject: false, timeout: 100_000 });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(result.stdout).toMatch(/hello from .*, logged in as root/);
    // The first probe leaves before the door can open: a fresh door is never taken for an old one.
    expect(result.stdout).toMatch(/door open after \d+ ms \(line 1, the next sequence\)\n/);
    expect(result.stdout).toMatch(/no door: knockd no longer even watches those ports/);
    expect(result.stdout).toMatch(/in step: 19 unused/);
    expect(result.stdout).toMatch(/dropped: the door admitted exactly one connection, the one ssh used/);
    expect(result.stdout).toMatch(/knockd: stopped; door sets: empty/);
    expect(result.stdout).toMatch(/panic lockdown[\s\S]*exit 7\./);
    expect(await labNamespaces()).toEqual(before);
  });

  it('tears the lab down when interrupted with Ctrl-C, and undoes the knockstick command it was running', async () => {
    const before = await labNamespaces();
    const askpassDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('knockstick-askpass-'));
    const askpassBefore = await askpassDirs();
    const child = execa(process.execPath, [join(ROOT, 'dist', 'lab', 'demo.js')], { reject: false });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (!output.includes('2. The stick: usbsetup') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(await labNamespaces()).toEqual(before);
    // usbsetup's askpass directory (made while ssh-keygen runs) went with the undo.
    expect(await askpassDirs()).toEqual(askpassBefore);
  });
});
