// server init --method spa --gpg with fwknopd's existing key (--gpg-server-key, --gpg-import,
// --gpg-passphrase-file), and doctor --access-conf on the keyrings it makes: a clean bill, then a
// broken copy with every fault named. Real gpg, temporary keyrings (Ed25519: quick); every
// gpg-agent started here is stopped in afterAll.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, makeStick, tempDir } from '../helpers/cli.js';

jest.setTimeout(120_000);

let dir: { path: string; cleanup: () => Promise<void> };
const homes = new Set<string>();
const BASE = ['server', 'init', '--yes', '--method', 'spa', '--interface', 'eth0', '--spa-server', 'home.example.org', '--gpg', '--gpg-key-type', 'ed25519'];

async function gpg(home: string, args: string[], input?: string): Promise<string> {
  homes.add(home);
  const r = await execa('gpg', ['--homedir', home, '--batch', '--no-tty', ...args], { input: input ?? '', reject: false });
  if (r.exitCode !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
  return String(r.stdout);
}

/** A key in `home` (made there, mode 0700): Ed25519 primary, optionally a Cv25519 encryption subkey. */
async function makeKey(home: string, uid: string, o: { passphrase?: string; encrypt?: boolean; fakedTime?: string; expire?: string } = {}): Promise<string> {
  await execa('mkdir', ['-p', '-m', '0700', home]);
  const pass = ['--pinentry-mode', 'loopback', '--passphrase', o.passphrase ?? ''];
  const time = o.fakedTime === undefined ? [] : ['--faked-system-time', o.fakedTime];
  await gpg(home, [...pass, ...time, '--quick-generate-key', uid, 'ed25519', 'sign,cert', o.expire ?? 'never']);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(await gpg(home, ['--with-colons', '--list-secret-keys', uid]))?.[1] as string;
  if (o.encrypt !== false) await gpg(home, [...pass, ...time, '--quick-add-key', fpr, 'cv25519', 'encr', o.expire ?? 'never']);
  return fpr;
}

const listing = (home: string): Promise<string> => gpg(home, ['--with-colons', '--fixed-list-mode', '--list-secret-keys']);

beforeAll(async () => {
  dir = await tempDir('knockstick-gpgfinish-');
});
afterAll(async () => {
  for (const h of homes) await execa('gpgconf', ['--homedir', h, '--kill', 'all'], { reject: false });
  await dir.cleanup();
});

describe('server init --gpg with an existing fwknopd key', () => {
  it('--gpg-server-key reuses a key without passphrase: GPG_ALLOW_NO_PW, the client certified by it', async () => {
    const home = join(dir.path, 'reuse', 'gnupg');
    const fpr = await makeKey(home, 'old fwknopd <a@x>');
    const out = join(dir.path, 'reuse', 'out');
    const result = await knockstick([...BASE, '--out', out, '--gpg-home-dir', home, '--gpg-server-key', fpr]);
    homes.add(join(out, 'gnupg.client'));
    expect({ code: result.exitCode, err: result.stderr }).toEqual({ code: 0, err: '' });
    const access = await readFile(join(out, 'access.conf'), 'utf8');
    expect(access).toMatch(new RegExp(`GPG_DECRYPT_ID +${fpr}\\nGPG_ALLOW_NO_PW +Y\\n`));
    expect(access).not.toMatch(/GPG_DECRYPT_PW/);
    // The client's key is valid (f) in fwknopd's keyring: fwknopd takes its signatures.
    expect(await gpg(home, ['--with-colons', '--list-keys'])).toMatch(/^pub:f:/m);
    const doctor = await knockstick(['doctor', '--access-conf', join(out, 'access.conf')]);
    expect({ code: doctor.exitCode, out: doctor.stdout }).toMatchObject({ code: 0, out: expect.stringMatching(/0 error\(s\), 0 warning\(s\)/) });
  });

  describe('--gpg-import with a passphrase, then doctor', () => {
    const root = (): string => join(dir.path, 'import');
    let serverFpr: string;
    const pass = 'import pass #1';
    beforeAll(async () => {
      serverFpr = await makeKey(join(root(), 'origin'), 'fwknopd elsewhere <b@x>', { passphrase: pass });
      await writeFile(join(root(), 'key.asc'), await gpg(join(root(), 'origin'), ['--pinentry-mode', 'loopback', '--passphrase', pass, '--armor', '--export-secret-keys', serverFpr]));
      await writeFile(join(root(), 'pass'), `${pass}\n`, { mode: 0o600 });
      await makeStick(join(root(), 'stick'));
      // makeStick's ssh config names this key; doctor checks it is there and private.
      await writeFile(join(root(), 'stick', '.ssh', 'id_ed25519'), 'not a real key\n', { mode: 0o600 });
    });

    it('imports the key, writes its passphrase to access.conf only, and trusts its certification', async () => {
      const out = join(root(), 'out');
      const result = await knockstick([...BASE, '--out', out, '--stick', join(root(), 'stick'), '--gpg-import', join(root(), 'key.asc'), '--gpg-passphrase-file', join(root(), 'pass')]);
      homes.add(join(out, 'gnupg')).add(join(root(), 'stick', '.gnupg'));
      expect({ code: result.exitCode, err: result.stderr }).toEqual({ code: 0, err: '' });
      expect(result.stdout).not.toContain(pass);
      const access = await readFile(join(out, 'access.conf'), 'utf8');
      expect(access).toContain(`GPG_DECRYPT_ID          ${serverFpr}\nGPG_DECRYPT_PW          ${pass}\n`);
      expect(await readFile(join(out, 'gnupg', 'gpg.conf'), 'utf8')).toMatch(/^pinentry-mode loopback$/m);
      expect(await gpg(join(out, 'gnupg'), ['--with-colons', '--list-keys'])).toMatch(/^pub:f:/m);
    });

    it('doctor gives the keyrings a clean bill', async () => {
      const result = await knockstick(['doctor', '--access-conf', join(root(), 'out', 'access.conf'), '--stick', join(root(), 'stick'), '--json']);
      const report = JSON.parse(result.stdout) as { errors: number; warnings: number; findings: Array<{ id: string; severity: string }> };
      expect({ code: result.exitCode, errors: report.errors, warnings: report.warnings }).toEqual({ code: 0, errors: 0, warnings: 0 });
      expect(report.findings.map((f) => f.id)).toEqual(expect.arrayContaining(['gpg:server:home', 'gpg:server:decrypt', 'gpg:server:signer', 'gpg:server:loopback', 'gpg:stick:home', 'gpg:stick:signer', 'gpg:stick:recipient']));
    });

    it('doctor names each fault of a broken copy', async () => {
      const out = join(root(), 'out');
      const stick = join(root(), 'stick');
      const access = await readFile(join(out, 'access.conf'), 'utf8');
      const client = /GPG_FINGERPRINT_ID +([0-9A-F]{40})/.exec(access)?.[1] as string;
      await gpg(join(out, 'gnupg'), ['--yes', '--delete-keys', client]);
      await chmod(join(out, 'gnupg'), 0o755);
      await writeFile(join(out, 'gnupg', 'gpg.conf'), '');
      await chmod(join(stick, '.gnupg'), 0o755);
      await gpg(join(stick, '.gnupg'), ['--yes', '--delete-keys', serverFpr]);
      const result = await knockstick(['doctor', '--access-conf', join(out, 'access.conf'), '--stick', stick]);
      expect(result.exitCode).toBe(9);
      const errors = result.stdout.split('\n').filter((l) => l.includes('ERROR'));
      expect(errors).toEqual([
        expect.stringMatching(new RegExp(`${join(out, 'gnupg')} \\(GnuPG home\\) has mode 0755`)),
        expect.stringMatching(new RegExp(`access.conf:\\d+: GPG_REMOTE_ID ${client.slice(-8)}: no key`)),
        expect.stringMatching(new RegExp(`access.conf:\\d+: GPG_FINGERPRINT_ID ${client}: no key`)),
        expect.stringMatching(/GPG_DECRYPT_PW is set but .*gpg.conf lacks "pinentry-mode loopback"/),
        expect.stringMatching(new RegExp(`${join(stick, '.gnupg')} \\(GnuPG home\\) has mode 0755`)),
        expect.stringMatching(new RegExp(`fwknoprc:\\d+: GPG_RECIPIENT ${serverFpr}: no key`)),
      ]);
      expect(result.stdout).toMatch(/6 error\(s\)/);
    });
  });

  it('doctor gives the keyrings of a plain server init --gpg --out (new keys) a clean bill', async () => {
    const out = join(dir.path, 'plain', 'out');
    const stick = await makeStick(join(dir.path, 'plain', 'stick'));
    await writeFile(join(stick, '.ssh', 'id_ed25519'), 'not a real key\n', { mode: 0o600 });
    const init = await knockstick([...BASE, '--out', out, '--stick', stick]);
    homes.add(join(out, 'gnupg')).add(join(stick, '.gnupg'));
    expect({ code: init.exitCode, err: init.stderr }).toEqual({ code: 0, err: '' });
    const doctor = await knockstick(['doctor', '--access-conf', join(out, 'access.conf'), '--stick', stick]);
    expect({ code: doctor.exitCode, tail: doctor.stdout.trim().split('\n').pop() }).toEqual({ code: 0, tail: '0 error(s), 0 warning(s)' });
    expect(doctor.stdout.match(/^ {2}ok {7}/gm)?.length).toBeGreaterThanOrEqual(7);
  });

  it('--dry-run names the existing key and hides its passphrase', async () => {
    const out = join(dir.path, 'dry');
    const result = await knockstick([...BASE, '--out', out, '--gpg-server-key', 'ABCDEF0123456789', '--gpg-passphrase-file', '/nonexistent', '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/GPG_DECRYPT_ID +ABCDEF0123456789\nGPG_DECRYPT_PW +\(the passphrase given, not shown\)\n/);
    expect(result.stdout).toMatch(/GPG_RECIPIENT +ABCDEF0123456789\n/);
    expect(result.stdout).toMatch(/its key ABCDEF0123456789 for fwknopd/);
    await expect(readFile(join(out, 'access.conf'))).rejects.toThrow();
  });

  it('--gpg-server-key without a keyring there names the directory and creates none', async () => {
    const out = join(dir.path, 'nokeyring');
    const result = await knockstick([...BASE, '--out', out, '--gpg-server-key', 'ABCDEF0123456789']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`${join(out, 'gnupg')} does not exist: no keyring to take the key "ABCDEF0123456789" from`);
    await expect(readFile(join(out, 'gnupg'))).rejects.toThrow(/ENOENT/);
  });

  describe('refusals (exit 2, nothing written, the keyring as it was)', () => {
    const root = (): string => join(dir.path, 'refuse');
    const home = (): string => join(root(), 'gnupg');
    const keys: Record<string, string> = {};
    beforeAll(async () => {
      keys.locked = await makeKey(home(), 'locked <l@x>', { passphrase: 'right one' });
      keys.signOnly = await makeKey(home(), 'sign only <s@x>', { encrypt: false });
      keys.expired = await makeKey(home(), 'expired <e@x>', { fakedTime: '20200101T000000', expire: '1y' });
      keys.revoked = await makeKey(home(), 'revoked <r@x>');
      const rev = await readFile(join(home(), 'openpgp-revocs.d', `${keys.revoked}.rev`), 'utf8');
      await gpg(home(), ['--import'], rev.replace(/^:-----BEGIN/m, '-----BEGIN'));
      await writeFile(join(root(), 'wrong'), 'wrong one\n', { mode: 0o600 });
      await writeFile(join(root(), 'expired.asc'), await gpg(home(), ['--pinentry-mode', 'loopback', '--passphrase', '', '--armor', '--export-secret-keys', keys.expired as string]));
      await writeFile(join(root(), 'public.asc'), await gpg(home(), ['--armor', '--export', keys.signOnly as string]));
    });

    it.each([
      ['an unknown id', () => ['--gpg-server-key', '0123456789ABCDEF'], /no secret key "0123456789ABCDEF"/],
      ['an expired key', () => ['--gpg-server-key', keys.expired as string], new RegExp(`the key ${keys.expired ?? ''}.* is expired on 202[01]-`)],
      ['a revoked key', () => ['--gpg-server-key', keys.revoked as string], /is revoked/],
      ['a key without an encryption subkey', () => ['--gpg-server-key', keys.signOnly as string], /has no usable encryption subkey/],
      ['a key with a passphrase not given', () => ['--gpg-server-key', keys.locked as string], /has a passphrase[\s\S]*--gpg-passphrase-file/],
      ['a wrong passphrase', () => ['--gpg-server-key', keys.locked as string, '--gpg-passphrase-file', join(root(), 'wrong')], /the passphrase given does not open the key/],
      ['an expired key to import (refused before the import)', () => ['--gpg-import', join(root(), 'expired.asc')], /expired.asc: the key .* is expired/],
      ['a public key to import', () => ['--gpg-import', join(root(), 'public.asc')], /public.asc:1: not an armored secret key/],
      ['a passphrase without a key', () => ['--gpg-passphrase-file', join(root(), 'wrong')], /--gpg-passphrase-file .* goes with --gpg-server-key or --gpg-import/],
    ])('%s', async (_what, flags, message) => {
      const before = await listing(home());
      const out = join(root(), 'out');
      const result = await knockstick([...BASE, '--out', out, '--gpg-home-dir', home(), ...flags()]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/right one|wrong one/);
      expect(await listing(home())).toBe(before);
      await expect(readFile(join(out, 'access.conf'))).rejects.toThrow();
      await rm(join(out, 'gnupg.client'), { recursive: true, force: true });
    });
  });
});

