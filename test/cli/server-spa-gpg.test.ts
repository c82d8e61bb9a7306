// server init --method spa --gpg from the command line: flag checks and --dry-run (no keys are
// made here; the real keyrings and fwknopd are in test/lab/spa-gpg.test.ts). Also spa's --gpg-*
// flags where they do not belong.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

const BASE = ['server', 'init', '--yes', '--method', 'spa', '--interface', 'eth0', '--spa-server', 'home.example.org'];

describe('knockstick server init --method spa --gpg', () => {
  it('--dry-run shows the GnuPG stanza (no KEY_BASE64, no passphrase) and the GnuPG client stanza, and makes nothing', async () => {
    const out = join(dir.path, 'out');
    const result = await knockstick([...BASE, '--out', out, '--gpg', '--gpg-home-dir', join(dir.path, 'gnupg'), '--dry-run']);
    expect({ code: result.exitCode, err: result.stderr }).toEqual({ code: 0, err: '' });
    expect(result.stdout).toMatch(new RegExp(`GPG_HOME_DIR +${join(dir.path, 'gnupg')}\\nGPG_DECRYPT_ID +\\(new-server-key-fingerprint\\)\\nGPG_DECRYPT_PW +\\(new passphrase, not shown\\)\\nGPG_REQUIRE_SIG +Y\\nGPG_REMOTE_ID +\\(its-last-8-digits\\)\\nGPG_FINGERPRINT_ID +\\(new-client-key-fingerprint\\)\\nHMAC_KEY_BASE64 +\\(new key, not shown\\)`));
    expect(result.stdout).not.toMatch(/^KEY_BASE64/m);
    expect(result.stdout).toMatch(/USE_GPG +Y\nGPG_RECIPIENT +\(new-server-key-fingerprint\)\nGPG_SIGNER +\(new-client-key-fingerprint\)\nGPG_HOMEDIR +\.\.\/\.gnupg\nGPG_NO_SIGNING_PW +Y/);
    expect(result.stdout).toMatch(/gnupg \(mode 0700\): new rsa key for fwknopd/);
    await expect(readdir(out)).rejects.toThrow();
    await expect(readdir(join(dir.path, 'gnupg'))).rejects.toThrow();
  });

  it('with --out and no --gpg-home-dir the keyring goes into OUT/gnupg, like every other file', async () => {
    const out = join(dir.path, 'out');
    const result = await knockstick([...BASE, '--out', out, '--gpg', '--gpg-key-type', 'ed25519', '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`GPG_HOME_DIR +${join(out, 'gnupg')}\n`));
    expect(result.stdout).toMatch(/gnupg \(mode 0700\): new ed25519 key for fwknopd/);
  });

  it.each([
    [['--gpg', '--gpg-key-type', 'dsa'], /--gpg-key-type must be rsa .* or ed25519/],
    [['--gpg-home-dir', '/tmp/x'], /--gpg-home-dir goes with --gpg/],
    [['--gpg', '--gpg-home-dir', '/tmp/x y'], /--gpg-home-dir/],
  ])('refuses %j', async (flags, message) => {
    const result = await knockstick([...BASE, '--out', join(dir.path, 'out'), ...flags, '--dry-run']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('--gpg goes with --method spa only', async () => {
    const result = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', join(dir.path, 'out'), '--gpg', '--dry-run']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--gpg goes with --method spa/);
  });
});

describe('knockstick spa --gpg-* flags', () => {
  it('are for send (and --gpg-home-dir for decode)', async () => {
    const keygen = await knockstick(['spa', 'keygen', '--gpg-recip', 'ABCD']);
    expect(keygen.exitCode).toBe(2);
    expect(keygen.stderr).toMatch(/--gpg-recip is only for `spa send`/);
    const decode = await knockstick(['spa', 'decode', '--gpg-sign', 'ABCD', '/nonexistent']);
    expect(decode.exitCode).toBe(2);
    expect(decode.stderr).toMatch(/--gpg-sign is only for `spa send or keygen`/);
  });
});
