// The file primitives every writer uses: no write through a symlink it did not ask for, no read
// that waits on a FIFO, the stick's own directories checked component by component.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendDurably,
  assertNotSymlink,
  assertPlainFileOrMissing,
  assertRealDirectories,
  createExclusively,
  ensureDirectory,
  readTextIfExists,
  writeAtomically,
} from '../../src/core/files.js';

let base: string;
let n = 0;
async function fresh(): Promise<string> {
  const d = join(base, String(++n));
  await mkdir(d);
  return d;
}
async function victim(d: string): Promise<string> {
  const p = join(d, 'victim');
  await writeFile(p, 'victim\n');
  await chmod(p, 0o644);
  return p;
}
async function expectVictimUnchanged(p: string): Promise<void> {
  expect(await readFile(p, 'utf8')).toBe('victim\n');
  expect((await stat(p)).mode & 0o777).toBe(0o644);
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'knockstick-files-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('appendDurably', () => {
  it('refuses a symlink, naming it and its target, and appends nothing', async () => {
    const d = await fresh();
    const v = await victim(d);
    await symlink(v, join(d, 'link'));
    await expect(appendDurably(join(d, 'link'), ' 1,2,3\n')).rejects.toMatchObject({ code: 'IO', message: `${join(d, 'link')} is a symbolic link (to ${v}): refusing to write through it; nothing was written` });
    await expectVictimUnchanged(v);
  });

  it('refuses a dangling symlink: nothing is created at its target', async () => {
    const d = await fresh();
    await symlink(join(d, 'target'), join(d, 'link'));
    await expect(appendDurably(join(d, 'link'), ' 1,2,3\n', { symlinkHint: 'pass --follow-symlink' })).rejects.toMatchObject({ hint: 'pass --follow-symlink' });
    expect(await readdir(d)).toEqual(['link']);
  });

  it('follows the link when asked (knockd follows it too)', async () => {
    const d = await fresh();
    await writeFile(join(d, 'real'), ' 1,2,3', { mode: 0o600 });
    await symlink(join(d, 'real'), join(d, 'link'));
    const result = await appendDurably(join(d, 'link'), ' 4,5,6\n', { followSymlink: true });
    expect(result).toEqual({ created: false, addedNewline: true, mode: 0o600 });
    expect(await readFile(join(d, 'real'), 'utf8')).toBe(' 1,2,3\n 4,5,6\n');
    expect((await lstat(join(d, 'link'))).isSymbolicLink()).toBe(true);
  });

  it('refuses a FIFO without blocking, even when following links', async () => {
    const d = await fresh();
    await execa('mkfifo', [join(d, 'fifo')]);
    await symlink(join(d, 'fifo'), join(d, 'link'));
    await expect(appendDurably(join(d, 'fifo'), 'x\n')).rejects.toThrow(`${join(d, 'fifo')} is a FIFO (named pipe), not a regular file`);
    await expect(appendDurably(join(d, 'link'), 'x\n', { followSymlink: true })).rejects.toThrow('is a FIFO (named pipe), not a regular file');
  });

  it('with `within`, refuses a symlinked directory below the root', async () => {
    const d = await fresh();
    await mkdir(join(d, 'elsewhere'));
    await symlink(join(d, 'elsewhere'), join(d, '.ssh'));
    await expect(appendDurably(join(d, '.ssh', 'f'), 'x\n', { within: d })).rejects.toThrow(`${join(d, '.ssh')} is a symbolic link`);
    expect(await readdir(join(d, 'elsewhere'))).toEqual([]);
  });
});

describe('writeAtomically', () => {
  it('refuses to replace a symlink (the rename would swap the link for a file) and leaves no temp file', async () => {
    const d = await fresh();
    const v = await victim(d);
    await symlink(v, join(d, 'link'));
    await expect(writeAtomically(join(d, 'link'), 'new\n')).rejects.toThrow(`${join(d, 'link')} is a symbolic link (to ${v})`);
    await expectVictimUnchanged(v);
    expect((await readdir(d)).sort()).toEqual(['link', 'victim']);
  });

  it('refuses a directory or a FIFO where a file goes', async () => {
    const d = await fresh();
    await mkdir(join(d, 'dir'));
    await execa('mkfifo', [join(d, 'fifo')]);
    await expect(writeAtomically(join(d, 'dir'), 'x')).rejects.toThrow('is a directory, not a regular file');
    await expect(writeAtomically(join(d, 'fifo'), 'x')).rejects.toThrow('is a FIFO (named pipe), not a regular file');
  });

  it('with `within`, refuses a symlinked component (STICK/.ssh -> ~/.ssh) and writes nothing there', async () => {
    const d = await fresh();
    await mkdir(join(d, 'home-ssh'));
    await mkdir(join(d, 'stick'));
    await symlink(join(d, 'home-ssh'), join(d, 'stick', '.ssh'));
    await expect(writeAtomically(join(d, 'stick', '.ssh', 'sequences'), 'x', { within: join(d, 'stick') })).rejects.toThrow(
      `${join(d, 'stick', '.ssh')} is a symbolic link (to ${join(d, 'home-ssh')})`,
    );
    expect(await readdir(join(d, 'home-ssh'))).toEqual([]);
  });

  it('sets the mode asked for (by fchmod) and copies a file given as copyFrom', async () => {
    const d = await fresh();
    await writeFile(join(d, 'src'), Buffer.alloc(3 << 20, 7));
    await writeAtomically(join(d, 'copy'), { copyFrom: join(d, 'src') }, { mode: 0o700 });
    expect((await stat(join(d, 'copy'))).mode & 0o777).toBe(0o700);
    expect((await readFile(join(d, 'copy'))).equals(await readFile(join(d, 'src')))).toBe(true);
  });
});

describe('createExclusively', () => {
  it('never replaces a file nor writes through a link, dangling or not', async () => {
    const d = await fresh();
    const v = await victim(d);
    await symlink(v, join(d, 'link'));
    await symlink(join(d, 'nowhere'), join(d, 'dangling'));
    await expect(createExclusively(join(d, 'link'), 'key', 0o600)).rejects.toThrow(`${join(d, 'link')} is a symbolic link (to ${v})`);
    await expect(createExclusively(join(d, 'dangling'), 'key', 0o600)).rejects.toThrow('is a symbolic link');
    await expect(createExclusively(v, 'key', 0o600)).rejects.toThrow(`${v} exists: not replacing it`);
    await expectVictimUnchanged(v);
    expect((await readdir(d)).sort()).toEqual(['dangling', 'link', 'victim']);
    await createExclusively(join(d, 'new'), 'key', 0o600);
    expect(await readFile(join(d, 'new'), 'utf8')).toBe('key');
  });
});

describe('ensureDirectory', () => {
  it('with `within`, makes each missing component 0700 and refuses a symlinked one', async () => {
    const d = await fresh();
    expect(await ensureDirectory(join(d, 'a', 'b'), { within: d })).toBe(true);
    expect((await stat(join(d, 'a', 'b'))).mode & 0o777).toBe(0o700);
    expect(await ensureDirectory(join(d, 'a', 'b'), { within: d })).toBe(false);
    await mkdir(join(d, 'elsewhere'));
    await symlink(join(d, 'elsewhere'), join(d, 'l'));
    await expect(ensureDirectory(join(d, 'l', 'x'), { within: d })).rejects.toThrow(`${join(d, 'l')} is a symbolic link (to ${join(d, 'elsewhere')})`);
    expect(await readdir(join(d, 'elsewhere'))).toEqual([]);
  });

  it('without `within`, takes the user\'s own path as it is (a symlinked parent is fine)', async () => {
    const d = await fresh();
    await mkdir(join(d, 'real'));
    await symlink(join(d, 'real'), join(d, 'run'));
    expect(await ensureDirectory(join(d, 'run', 'knockd'))).toBe(true);
    expect((await stat(join(d, 'real', 'knockd'))).isDirectory()).toBe(true);
  });
});

describe('reading a file expected to be regular', () => {
  it('refuses a FIFO at once (no writer needed), naming its type', async () => {
    const d = await fresh();
    await execa('mkfifo', [join(d, 'fifo')]);
    await expect(readTextIfExists(join(d, 'fifo'))).rejects.toMatchObject({ code: 'IO', message: `${join(d, 'fifo')} is a FIFO (named pipe), not a regular file` });
  });

  it('refuses a directory, a character device and a socket; reads through a symlink; null when missing', async () => {
    const d = await fresh();
    await expect(readTextIfExists(d)).rejects.toThrow(`${d} is a directory, not a regular file`);
    await expect(readTextIfExists('/dev/null')).rejects.toThrow('/dev/null is a character device, not a regular file');
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(join(d, 'sock'), resolve));
    try {
      await expect(readTextIfExists(join(d, 'sock'))).rejects.toThrow(`${join(d, 'sock')} is a socket, not a regular file`);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await writeFile(join(d, 'real'), 'text');
    await symlink(join(d, 'real'), join(d, 'link'));
    expect(await readTextIfExists(join(d, 'link'))).toBe('text');
    expect(await readTextIfExists(join(d, 'missing'))).toBeNull();
  });

  it('assertNotSymlink and assertPlainFileOrMissing accept what is missing or plain', async () => {
    const d = await fresh();
    await writeFile(join(d, 'f'), '');
    await expect(assertNotSymlink(join(d, 'missing'))).resolves.toBeUndefined();
    await expect(assertPlainFileOrMissing(join(d, 'f'))).resolves.toBeUndefined();
    await expect(assertRealDirectories(d, d)).resolves.toBeUndefined();
    await expect(assertRealDirectories(d, join(d, 'missing'))).rejects.toThrow('no such file or directory');
  });
});
