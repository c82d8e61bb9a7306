// The non-blocking checks for files handed on as bytes (the knockd probe's copy) or to another
// program by name (`sshd -T -f PATH`): a FIFO is refused at once, with its path and kind, and the
// error says which path it was, so a caller can name the directive that pointed there.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotRegularFileError, assertRegularOrMissing, readBytesIfExists } from '../../src/core/files.js';

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'knockstick-files-fifo-'));
  await execa('mkfifo', [join(base, 'fifo')]);
  await symlink(join(base, 'fifo'), join(base, 'link-to-fifo'));
  await writeFile(join(base, 'latin1'), Buffer.from([0x61, 0xe9, 0x0a]));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('readBytesIfExists', () => {
  it('returns the bytes as they are (no decoding), null when missing', async () => {
    expect(await readBytesIfExists(join(base, 'latin1'))).toEqual(Buffer.from([0x61, 0xe9, 0x0a]));
    expect(await readBytesIfExists(join(base, 'missing'))).toBeNull();
  });

  it('refuses a FIFO, also through a symlink, with its path and kind and no writer needed', async () => {
    await expect(readBytesIfExists(join(base, 'fifo'))).rejects.toMatchObject({ code: 'IO', path: join(base, 'fifo'), kind: 'a FIFO (named pipe)' });
    await expect(readBytesIfExists(join(base, 'link-to-fifo'))).rejects.toBeInstanceOf(NotRegularFileError);
  });
});

describe('assertRegularOrMissing (before a path goes to another program)', () => {
  it('accepts a regular file and a missing path (the program reports that itself)', async () => {
    await expect(assertRegularOrMissing(join(base, 'latin1'))).resolves.toBeUndefined();
    await expect(assertRegularOrMissing(join(base, 'missing'))).resolves.toBeUndefined();
  });

  it('refuses a FIFO (also through a symlink), a directory and a device, naming each', async () => {
    await expect(assertRegularOrMissing(join(base, 'fifo'))).rejects.toThrow(`${join(base, 'fifo')} is a FIFO (named pipe), not a regular file`);
    await expect(assertRegularOrMissing(join(base, 'link-to-fifo'))).rejects.toThrow(`${join(base, 'link-to-fifo')} is a FIFO (named pipe), not a regular file`);
    await expect(assertRegularOrMissing(base)).rejects.toThrow(`${base} is a directory, not a regular file`);
    await expect(assertRegularOrMissing('/dev/null')).rejects.toThrow('/dev/null is a character device, not a regular file');
  });
});
