// usbsetup --method spa --gpg-server-key: a GnuPG SPA stick for an existing fwknopd key, checked
// with the real gpg: the stick's packet decrypts with the server keyring, and after the printed
// server-side import and certification its signer is one fwknopd takes (interop with the real
// fwknopd itself: test/lab/spa-gpg.test.ts).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBin, tempDir } from '../helpers/cli.js';
import { exportPublicKey, generateKey, stopAgent } from '../../src/spa/gpg.js';

let dir: { path: string; cleanup: () => Promise<void> };
const file = (name: string): string => join(dir.path, name);

beforeAll(async () => {
  dir = await tempDir('knockstick-usbsetup-gpg-');
  await writeFile(file('key.pass'), 'key passphrase two\n', { mode: 0o600 });
});
afterAll(async () => {
  for (const h of [file('server-gnupg'), file('stick/.gnupg')]) await stopAgent(h);
  await dir.cleanup();
});

describe('usbsetup --method spa --gpg-server-key', () => {
  it('makes the stick key, a USE_GPG stanza, and prints the import that makes its packets acceptable', async () => {
    const serverHome = file('server-gnupg');
    await mkdir(serverHome, { mode: 0o700 });
    const serverFpr = await generateKey(serverHome, 'fwknopd test <srv@test>', 'ed25519', undefined);
    await writeFile(file('fwknopd.asc'), await exportPublicKey(serverHome, serverFpr));
    const stick = file('stick');
    await mkdir(stick);

    const result = await runBin('usbsetup', ['--yes', '--into', stick, '--method', 'spa', '--gpg-server-key', file('fwknopd.asc'), '--hostname', '198.18.0.1', '--user', 'alice', '--key-passphrase-file', file('key.pass')], { cwd: dir.path });
    expect({ code: result.exitCode, err: result.stderr }).toEqual({ code: 0, err: '' });
    expect((await stat(join(stick, '.gnupg'))).mode & 0o777).toBe(0o700);
    const rc = await readFile(join(stick, '.ssh/fwknoprc'), 'utf8');
    const clientFpr = /GPG_SIGNER +([0-9A-F]{40})/.exec(rc)?.[1] as string;
    expect(rc).toMatch(new RegExp(`^USE_GPG +Y\\nGPG_RECIPIENT +${serverFpr}\\nGPG_SIGNER +[0-9A-F]{40}\\nGPG_HOMEDIR +\\.\\./\\.gnupg$`, 'm'));
    const access = await readFile(file('fwknop-access.home.conf'), 'utf8');
    expect(access).toMatch(new RegExp(`GPG_DECRYPT_ID +${serverFpr}\\n[\\s\\S]*GPG_FINGERPRINT_ID +${clientFpr}\\nHMAC_KEY_BASE64 +\\S+`));
    expect(result.stdout).toContain(`--quick-lsign-key ${clientFpr}`);
    const publicKey = /-------- 8< --------\n(-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----)\n-------- 8< --------/.exec(result.stdout)?.[1] as string;
    expect(publicKey).toBeDefined();

    // The stick's packet (GnuPG mode from its rc stanza), decrypted with the server keyring.
    const packet = file('packet');
    const sent = await runBin('knockstick', ['spa', 'send', '--rc-file', join(stick, '.ssh/fwknoprc'), '-n', 'home', '--dry-run', '--save-packet', packet], { cwd: dir.path });
    expect({ code: sent.exitCode, err: sent.exitCode === 0 ? '' : sent.stderr }).toMatchObject({ code: 0, err: '' });
    const decode = (): Promise<{ exitCode: number; stdout: string; stderr: string }> => runBin('knockstick', ['spa', 'decode', '--gpg-home-dir', serverHome, packet], { cwd: dir.path });
    expect((await decode()).stdout).toMatch(/Signature +signed by key ID [0-9A-F]{16}, which is not in .*: fwknopd refuses it until that public key is imported and certified/);

    // The printed server-side steps, then fwknopd would take its signature.
    await writeFile(file('stick.asc'), `${publicKey}\n`);
    await execa('gpg', ['--homedir', serverHome, '--batch', '--import', file('stick.asc')]);
    expect((await decode()).stdout).toContain(`signed by ${clientFpr} (fwknopd's GPG_REMOTE_ID: ${clientFpr.slice(-8)}); that key is not certified`);
    await execa('gpg', ['--homedir', serverHome, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-lsign-key', clientFpr]);
    const after = await decode();
    expect({ code: after.exitCode, err: after.stderr }).toEqual({ code: 0, err: '' });
    expect(after.stdout).toContain(`signed by ${clientFpr} (fwknopd's GPG_REMOTE_ID: ${clientFpr.slice(-8)})\n`);
  });

  it('goes with --method spa only, and wants an armored public key', async () => {
    const knock = await runBin('usbsetup', ['--yes', '--into', file('x'), '--gpg-server-key', file('fwknopd.asc'), '--hostname', 'h', '--user', 'u'], { cwd: dir.path });
    expect(knock.exitCode).toBe(2);
    expect(knock.stderr).toMatch(/--gpg-server-key goes with --method spa/);
    await writeFile(file('not-a-key'), 'hello\n');
    await mkdir(file('stick2'));
    const bad = await runBin('usbsetup', ['--yes', '--into', file('stick2'), '--method', 'spa', '--gpg-server-key', file('not-a-key'), '--hostname', 'h', '--user', 'u', '--key-passphrase-file', file('key.pass')], { cwd: dir.path });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/not-a-key is not an armored public key/);
  });
});
