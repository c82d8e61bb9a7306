// `knockstick spa qr` as a user runs it (the built CLI and the stick's single-file bundle): a pipe
// gets no keys without --force, --png writes a new 0600 image that zbarimg decodes, and what it
// decodes to is read the way Fwknop2 reads it.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { chmod, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, knockstick, makeStick, tempDir } from '../helpers/cli.js';
import { decodeTerminal, zbarDecode } from '../helpers/spaqr-decode.js';
import { parseLikeFwknop2 } from '../../src/spa/qr-text.js';

jest.setTimeout(60_000);

const K = Buffer.alloc(32, 0x3c).toString('base64');
const H = Buffer.alloc(64, 0x7e).toString('base64');
const TEXT = `KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`;

let dir: { path: string; cleanup: () => Promise<void> };
let stick: string;
beforeAll(async () => {
  dir = await tempDir('knockstick-spaqr-cli-');
  stick = await makeStick(join(dir.path, 'stick'));
  const rc = join(stick, '.ssh', 'fwknoprc');
  await writeFile(rc, `[home]\nSPA_SERVER home.example.org\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`, { mode: 0o600 });
  await chmod(rc, 0o600);
});
afterAll(async () => dir.cleanup());

describe('knockstick spa qr', () => {
  it('into a pipe: refused (exit 2, no key read or shown); with --force the printed code decodes', async () => {
    const refused = await knockstick(['spa', 'qr', '--stick', stick]);
    expect(refused).toMatchObject({ exitCode: 2, stdout: '' });
    expect(refused.stderr).toMatch(/standard output is not a terminal: the QR code holds the SPA keys/);
    const forced = await knockstick(['spa', 'qr', '--stick', stick, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(forced.stderr).toMatch(/warning: the QR code below holds the SPA keys of \[home\]/);
    expect(await decodeTerminal(forced.stdout, dir.path)).toBe(TEXT);
  });

  it('--png: a new 0600 file that zbarimg decodes to the keys Fwknop2 stores; never replaced, never through a link', async () => {
    const png = join(dir.path, 'phone.png');
    const result = await knockstick(['spa', 'qr', 'home', '--png', png], { cwd: stick });
    expect(result).toMatchObject({ exitCode: 0, stdout: '' });
    expect(result.stderr).toMatch(/wrote .*phone\.png \(mode 0600\).*\nwarning: that image is the keys/);
    expect((await stat(png)).mode & 0o777).toBe(0o600);
    const text = await zbarDecode(png);
    expect(text).toBe(TEXT);
    expect(parseLikeFwknop2(text)).toEqual({ key: K, keyBase64: true, hmac: H, hmacBase64: true });

    const before = await readFile(png);
    const again = await knockstick(['spa', 'qr', '--stick', stick, '--png', png]);
    expect(again.exitCode).toBe(6);
    expect(again.stderr).toMatch(/phone\.png exists: not replacing it/);
    expect(await readFile(png)).toEqual(before);
    await symlink(join(dir.path, 'target.png'), join(dir.path, 'link.png'));
    const link = await knockstick(['spa', 'qr', '--stick', stick, '--png', join(dir.path, 'link.png')]);
    expect(link.exitCode).toBe(6);
    expect(link.stderr).toMatch(/link\.png is a symbolic link/);
  });

  it("the stick's single-file bundle (dist/stick/knockstick.mjs) carries the QR library", async () => {
    const png = join(dir.path, 'bundle.png');
    const result = await execa(process.execPath, [join(ROOT, 'dist', 'stick', 'knockstick.mjs'), 'spa', 'qr', '--png', png], { cwd: dir.path, env: { KNOCKSTICK_STICK: stick }, reject: false });
    expect(result.exitCode).toBe(0);
    expect(await zbarDecode(png)).toBe(TEXT);
  });
});
