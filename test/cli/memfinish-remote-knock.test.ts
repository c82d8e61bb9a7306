// stick add --remote for a knock member, and its server half (--sequences-stdout): the flags that
// do not go together are refused before anything connects or is written.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, makeStick, tempDir } from '../helpers/cli.js';

describe('stick add --remote (knock) and --sequences-stdout refusals', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let stick = '';
  beforeAll(async () => {
    dir = await tempDir('memfinish-remote-');
    stick = join(dir.path, 'stick');
    await makeStick(stick);
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it.each([
    [['--sequences-stdout', '--stick', 'X'], /--sequences-stdout is for knock members/],
    [['--sequences-stdout', '--method', 'spa'], /--sequences-stdout is for knock members/],
    [['--sequences-stdout', '--remote'], /--sequences-stdout is for knock members/],
    [['--remote'], /needs --stick DIR/],
    [['--remote', '--stick', 'X', '--spa-server', 'h'], /--spa-server is for --method spa/],
    [['--remote', '--stick', 'X', '--access-conf', '/a'], /--access-conf is for --method spa/],
    [['--remote', '--stick', 'X', '--count', '1'], /--count/],
  ])('refuses stick add kim %j', async (args, message) => {
    const r = await knockstick(['stick', 'add', 'kim', ...args.map((a) => (a === 'X' ? stick : a))]);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(message) });
  });

  it('refuses a new stick that already has sequences for the alias before it connects anywhere', async () => {
    await writeFile(join(stick, '.ssh', 'sequences'), ' 1001,1002,1003\n', { mode: 0o600 });
    const before = await readdir(join(stick, '.ssh'));
    const r = await knockstick(['stick', 'add', 'kim', '--stick', stick, '--remote', '--via', stick]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/already has sequences for alias home; nothing was done/);
    expect(await readdir(join(stick, '.ssh'))).toEqual(before);
  });
});
