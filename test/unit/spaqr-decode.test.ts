// `spa qr` end to end in-process: keys from the stick, an rc file or access.conf, the printed code
// (and the PNG) decoded by zbarimg, the decoded text read the way Fwknop2 reads it, and compared
// with the keys in the file. Refusals name the file and line and print nothing on stdout.
// --png is tested through the built CLI (test/cli/spaqr-cli.test.ts): pngjs under jest's VM takes
// some 10 s for one image that plain node makes in a quarter of a second.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidFileError, KnockstickError } from '../../src/core/errors.js';
import { spaQr, type QrOptions } from '../../src/spa/qr.js';
import { parseLikeFwknop2 } from '../../src/spa/qr-text.js';
import { QUIET_ZONE_MODULES } from '../../src/spa/qr-render.js';
import { makeStick, tempDir } from '../helpers/cli.js';
import { asciiToModules, blocksToModules, decodeTerminal, quietZone } from '../helpers/spaqr-decode.js';

const K = Buffer.from('0123456789abcdef0123456789ABCDEF').toString('base64');
const H = Buffer.alloc(64, 0xa5).toString('base64');

let dir: { path: string; cleanup: () => Promise<void> };
let stick: string;
beforeAll(async () => {
  dir = await tempDir('knockstick-spaqr-');
  stick = await makeStick(join(dir.path, 'stick'));
  await secret(join(stick, '.ssh', 'fwknoprc'), `[default]\nSPA_SERVER_PORT 62201\n\n[home]\nSPA_SERVER home.example.org\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n\n[office]\nSPA_SERVER o.example\nKEY plain-Pass.1\nHMAC_KEY other~Pass%2\n`);
});
afterAll(async () => dir.cleanup());

async function secret(path: string, text: string): Promise<string> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

async function run(options: Partial<QrOptions>, tty = true): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await spaQr(
    { ascii: false, force: false, ...options },
    { stdout: { write: (t) => void (stdout += t) }, stderr: { write: (t) => void (stderr += t) }, stdoutIsTTY: tty, env: {}, cwd: dir.path },
  );
  return { code, stdout, stderr };
}

async function refusal(options: Partial<QrOptions>): Promise<KnockstickError> {
  let stdout = '';
  try {
    await spaQr({ ascii: false, force: false, ...options }, { stdout: { write: (t) => void (stdout += t) }, stderr: { write: () => undefined }, stdoutIsTTY: true, env: {}, cwd: dir.path });
  } catch (error) {
    expect(stdout).toBe('');
    return error as KnockstickError;
  }
  throw new Error('not refused');
}

describe('spa qr: what zbarimg reads is what Fwknop2 needs', () => {
  it("the stick's [home] stanza by default: the printed half blocks decode to its base64 keys, with a 4-module quiet zone", async () => {
    const { code, stdout, stderr } = await run({ stick });
    expect(code).toBe(0);
    expect(quietZone(blocksToModules(stdout))).toBeGreaterThanOrEqual(QUIET_ZONE_MODULES);
    const text = await decodeTerminal(stdout, dir.path);
    expect(text).toBe(`KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`);
    const phone = parseLikeFwknop2(text);
    expect(phone).toEqual({ key: K, keyBase64: true, hmac: H, hmacBase64: true });
    expect(Buffer.from(phone.key as string, 'base64').toString()).toBe('0123456789abcdef0123456789ABCDEF');
    expect(stderr).toMatch(/warning: the QR code below holds the SPA keys of \[home\] of .*fwknoprc: anyone who sees or photographs this screen can open the door/);
    expect(stderr).not.toContain(K);
  });

  it('--ascii (coloured spaces) decodes too, also with a 4-module quiet zone', async () => {
    const { stdout } = await run({ stick, ascii: true });
    expect(quietZone(asciiToModules(stdout))).toBeGreaterThanOrEqual(QUIET_ZONE_MODULES);
    expect(await decodeTerminal(stdout, dir.path, 'ascii')).toBe(`KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`);
  });

  it('plain keys (KEY, HMAC_KEY) go as KEY: and HMAC_KEY:', async () => {
    const text = await decodeTerminal((await run({ stick, stanza: 'office' })).stdout, dir.path);
    expect(text).toBe('KEY:plain-Pass.1 HMAC_KEY:other~Pass%2');
    expect(parseLikeFwknop2(text)).toEqual({ key: 'plain-Pass.1', keyBase64: false, hmac: 'other~Pass%2', hmacBase64: false });
  });

  it("the server's access.conf stanza, by SOURCE value; a setting the code cannot carry is named", async () => {
    const conf = await secret(join(dir.path, 'access.conf'), `SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nHMAC_DIGEST_TYPE sha512\n\nSOURCE 10.0.0.0/8\nGPG_REMOTE_ID ABCD1234\nGPG_DECRYPT_ID 1234ABCD\n`);
    const { stdout, stderr } = await run({ accessConf: conf, stanza: 'ANY' });
    expect(await decodeTerminal(stdout, dir.path)).toBe(`KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`);
    expect(stderr).toMatch(/stanza #1 \(SOURCE ANY, line 1\) of .*access\.conf/);
    expect(stderr).toMatch(/set HMAC sha512 on the phone by hand/);
  });
});

describe('spa qr refuses, naming the file and line, and shows nothing', () => {
  it('a base64 key whose length is not a multiple of 4', async () => {
    const rc = await secret(join(dir.path, 'unpadded.rc'), `[home]\nSPA_SERVER h\nKEY_BASE64 ${K.replace(/=+$/, '')}\nHMAC_KEY_BASE64 ${H}\n`);
    expect(K.replace(/=+$/, '').length % 4).not.toBe(0);
    const error = await refusal({ rcFile: rc, stanza: 'home' });
    expect(error).toBeInstanceOf(InvalidFileError);
    expect(error.message).toMatch(/unpadded\.rc:3: KEY_BASE64 is 43 characters long, not a multiple of 4/);
  });

  it('a GnuPG stanza, in an rc file and in access.conf', async () => {
    const rc = await secret(join(dir.path, 'gpg.rc'), `[home]\nSPA_SERVER h\nUSE_GPG Y\nGPG_RECIPIENT ABCD1234\nGPG_SIGNER cli@lab\nGPG_NO_SIGNING_PW Y\nHMAC_KEY_BASE64 ${H}\n`);
    expect((await refusal({ rcFile: rc, stanza: 'home' })).message).toMatch(/gpg\.rc:3: \[home\] is a GnuPG stanza \(USE_GPG Y\): it has no shared key/);
    expect((await refusal({ accessConf: join(dir.path, 'access.conf'), stanza: '2' })).message).toMatch(/access\.conf:7: stanza #2 \(SOURCE 10\.0\.0\.0\/8, line 7\) is a GnuPG stanza/);
  });

  it('a missing stanza, by name', async () => {
    expect((await refusal({ stick, stanza: 'cottage' })).message).toMatch(/fwknoprc: no stanza \[cottage\] \(stanzas: home, office\)/);
    expect((await refusal({ accessConf: join(dir.path, 'access.conf'), stanza: '10.1.1.1' })).message).toMatch(/has no stanza with SOURCE 10\.1\.1\.1 \(stanzas: #1 \(SOURCE ANY, line 1\), #2/);
  });

  it('a stanza without HMAC key, a plain key Fwknop2 would cut at a colon', async () => {
    const rc = await secret(join(dir.path, 'weak.rc'), `[nohmac]\nSPA_SERVER h\nKEY_BASE64 ${K}\n\n[colon]\nSPA_SERVER h\nKEY pass:word\nHMAC_KEY_BASE64 ${H}\n`);
    expect((await refusal({ rcFile: rc, stanza: 'nohmac' })).message).toMatch(/\[nohmac\] has no HMAC_KEY_BASE64 or HMAC_KEY/);
    expect((await refusal({ rcFile: rc, stanza: 'colon' })).message).toMatch(/weak\.rc:7: KEY contains a colon/);
  });

  it('a stdout that is not a terminal, unless --force (before reading any key)', async () => {
    const error = await refusal({ stick: join(dir.path, 'no-such-stick') }).catch((e: unknown) => e as KnockstickError);
    expect(error.code).toBe('IO'); // on a terminal: the stick is looked for
    await expect(run({ stick: join(dir.path, 'no-such-stick') }, false)).rejects.toThrow(/standard output is not a terminal/);
    const forced = await run({ stick, force: true }, false);
    expect(await decodeTerminal(forced.stdout, dir.path)).toBe(`KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`);
  });

  it('an rc file others may read', async () => {
    const rc = join(dir.path, 'open.rc');
    await writeFile(rc, `[home]\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`);
    await chmod(rc, 0o644);
    expect((await refusal({ rcFile: rc, stanza: 'home' })).message).toMatch(/open\.rc holds SPA keys but its mode is 0644/);
  });

  it('two places to read keys from', async () => {
    await mkdir(join(dir.path, 'x'), { recursive: true });
    expect((await refusal({ stick, rcFile: 'x' })).message).toMatch(/--rc-file and --stick: give one place/);
  });
});
