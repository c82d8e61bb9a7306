// doctor on a stick moved from where it was prepared: the stale paths are an error with the fix,
// and --fix-paths rewrites exactly those lines (the built CLI, as a user runs it).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, tempDir } from '../helpers/cli.js';
import { stickPathLines } from '../../src/core/stick-ssh-config.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('knockstick-stickconfig-doctor-');
});
afterAll(async () => {
  await dir.cleanup();
});

const config = (root: string, mine = '# my own notes\n'): string => {
  const p = stickPathLines(root);
  return `${mine}Host home\n  HostName 192.0.2.1\n  ProxyCommand ${p.ProxyCommand}\n  IdentityFile ${p.IdentityFile}\n  UserKnownHostsFile ${p.UserKnownHostsFile}\n\nHost other\n  HostName 192.0.2.2\n  IdentityFile ~/.ssh/other\n`;
};

describe('doctor --stick on a stick mounted elsewhere', () => {
  it('reports the stale paths with the fix, and --fix-paths rewrites only them', async () => {
    const stick = join(dir.path, 'media stick');
    await mkdir(join(stick, '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(stick, '.ssh', 'config'), config('/mnt/secure'), { mode: 0o600 });
    const conf = join(dir.path, 'knockd.conf'); // none: doctor still checks the stick
    const before = await knockstick(['doctor', '--offline', '--knockd-conf', conf, '--stick', stick, '--json']);
    const findings = JSON.parse(before.stdout).findings as Array<{ id: string; severity: string; message: string; fix: string }>;
    const paths = findings.find((f) => f.id === 'stick:paths');
    expect(paths?.severity).toBe('error');
    expect(paths?.message).toContain('named the stick at /mnt/secure');
    expect(paths?.fix).toBe(`knockstick doctor --offline --stick ${stick} --fix-paths rewrites exactly those lines (secureon does it when it mounts the stick)`);

    const fixed = await knockstick(['doctor', '--offline', '--knockd-conf', conf, '--stick', stick, '--fix-paths', '--json']);
    expect(fixed.stderr).toContain(`rewrote 3 stick path(s) in ${join(stick, '.ssh', 'config')}:`);
    expect(await readFile(join(stick, '.ssh', 'config'), 'utf8')).toBe(config(stick));
    expect((JSON.parse(fixed.stdout).findings as Array<{ id: string; severity: string }>).find((f) => f.id === 'stick:paths')?.severity).toBe('ok');

    const again = await knockstick(['doctor', '--offline', '--knockd-conf', conf, '--stick', stick, '--fix-paths']);
    expect(again.stderr).toContain('no stick path to rewrite');
  });
  it('--fix-paths without --stick is a usage error', async () => {
    const result = await knockstick(['doctor', '--offline', '--fix-paths']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--fix-paths goes with --stick DIR/);
  });
});
