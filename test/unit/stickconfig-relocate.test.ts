// relocateStickConfig on real files: one atomic rewrite keeping mode and bytes, nothing written when
// nothing is stale, links/FIFOs and undecodable bytes refused with the file left as it was. And
// doctor's finding for a stale path, with its fix.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describeRelocation, relocateStickConfig } from '../../src/core/stick-relocate.js';
import { stickPathLines } from '../../src/core/stick-ssh-config.js';
import { stickLayout } from '../../src/core/stick.js';
import { diagnose, type Facts } from '../../src/doctor/checks.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'knockstick-stickconfig-relocate-'));
  await mkdir(join(root, '.ssh'), { mode: 0o700 });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const entry = (at: string): string => {
  const p = stickPathLines(at);
  return `# mine\r\nHost home\r\n  HostName 192.0.2.1\r\n  ProxyCommand ${p.ProxyCommand}\r\n  IdentityFile ${p.IdentityFile}\r\n  UserKnownHostsFile ${p.UserKnownHostsFile}\r\n`;
};

describe('relocateStickConfig', () => {
  it('rewrites the stale lines in one atomic replace, keeping the mode and leaving no temp file', async () => {
    const layout = stickLayout(root);
    await writeFile(layout.sshConfig, entry('/tmp/knockstick-setup-abc'));
    await chmod(layout.sshConfig, 0o640);
    const result = await relocateStickConfig(layout);
    expect(result.written).toBe(true);
    expect(result.changes).toHaveLength(3);
    expect(await readFile(layout.sshConfig, 'utf8')).toBe(entry(root));
    expect((await stat(layout.sshConfig)).mode & 0o777).toBe(0o640);
    expect((await readdir(layout.sshDir)).sort()).toEqual(['config']);
    expect(describeRelocation(result.changes)[0]).toBe(`Host home (line 4): ProxyCommand named the stick at /tmp/knockstick-setup-abc, now ${stickPathLines(root).ProxyCommand}`);
  });
  it('writes nothing (same inode) when the config names this place already', async () => {
    const layout = stickLayout(root);
    await writeFile(layout.sshConfig, entry(root), { mode: 0o600 });
    const before = await stat(layout.sshConfig);
    expect(await relocateStickConfig(layout)).toEqual({ changes: [], written: false });
    expect((await stat(layout.sshConfig)).ino).toBe(before.ino);
  });
  it('only plans with write: false', async () => {
    const layout = stickLayout(root);
    await writeFile(layout.sshConfig, entry('/old'), { mode: 0o600 });
    const result = await relocateStickConfig(layout, { write: false });
    expect(result).toMatchObject({ written: false });
    expect(result.changes).toHaveLength(3);
    expect(await readFile(layout.sshConfig, 'utf8')).toBe(entry('/old'));
  });
  it('plans nothing for a stick without an ssh config', async () => {
    expect(await relocateStickConfig(stickLayout(root))).toEqual({ changes: [], written: false });
  });
  it('refuses a symlinked config, leaving it and its target as they were', async () => {
    const layout = stickLayout(root);
    await writeFile(join(root, 'elsewhere'), entry('/old'));
    await symlink(join(root, 'elsewhere'), layout.sshConfig);
    await expect(relocateStickConfig(layout)).rejects.toThrow(/symbolic link/);
    expect(await readFile(join(root, 'elsewhere'), 'utf8')).toBe(entry('/old'));
  });
  it('refuses a FIFO without waiting on it', async () => {
    const layout = stickLayout(root);
    await execa('mkfifo', [layout.sshConfig]);
    await expect(relocateStickConfig(layout)).rejects.toThrow(/FIFO|not a regular file/);
  });
  it('refuses to rewrite a config that is not valid UTF-8, leaving its bytes', async () => {
    const layout = stickLayout(root);
    const bytes = Buffer.concat([Buffer.from('# caf\xe9 in latin-1\n', 'latin1'), Buffer.from(entry('/old'))]);
    await writeFile(layout.sshConfig, bytes);
    await expect(relocateStickConfig(layout)).rejects.toThrow(/not valid UTF-8/);
    expect(await readFile(layout.sshConfig)).toEqual(bytes);
  });
});

describe("doctor on a stick whose config names another place", () => {
  const facts = (stalePaths: readonly string[] | undefined): Facts => ({
    knockdConf: { path: '/etc/knockd.conf', text: null, mode: undefined },
    oneTimeFiles: new Map(),
    warnBelow: 10,
    stick: {
      root: '/media/alice/STICK',
      alias: 'home',
      sshConfigError: null,
      identityFiles: [],
      sequences: { path: '/media/alice/STICK/.ssh/sequences', text: null, mode: undefined },
      serverFile: undefined,
      ...(stalePaths === undefined ? {} : { stalePaths }),
    },
  });
  it('is an error naming the stale lines, with the command that fixes them', () => {
    const finding = diagnose(facts(['Host home (line 4): ProxyCommand named the stick at /mnt/secure, now ...'])).find((f) => f.id === 'stick:paths');
    expect(finding).toMatchObject({ severity: 'error' });
    expect(finding?.message).toMatch(/names the stick at another place.*line 4.*\/mnt\/secure/);
    expect(finding?.fix).toBe('knockstick doctor --offline --stick /media/alice/STICK --fix-paths rewrites exactly those lines (secureon does it when it mounts the stick)');
  });
  it('is ok when nothing is stale', () => {
    expect(diagnose(facts([])).find((f) => f.id === 'stick:paths')).toMatchObject({ severity: 'ok' });
  });
});
