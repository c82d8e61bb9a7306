import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createSocket } from 'node:dgram';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, tempDir } from '../helpers/cli.js';
import { decodeSpaPacket } from '../../src/spa/packet.js';
import { readRcFile } from '../../src/spa/rc-file.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

/** A fresh rc file with a [lab] stanza made by `spa keygen`, pointing at 127.0.0.1:PORT. */
async function labRc(port = 62201, extra = ''): Promise<string> {
  const rc = join(dir.path, 'fwknoprc');
  const result = await knockstick(['spa', 'keygen', '--rc-file', rc, '-n', 'lab', '--server', '127.0.0.1', '--allow-ip', '198.18.0.2']);
  expect(result.exitCode).toBe(0);
  const text = await readFile(rc, 'utf8');
  await writeFile(rc, `${text}SPA_SERVER_PORT ${port}\nSPOOF_USER tester\n${extra}`);
  return rc;
}

describe('knockstick spa', () => {
  it('--help has usage, examples and exit codes', async () => {
    const result = await knockstick(['spa', '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/knockstick spa send/);
    expect(result.stdout).toMatch(/Examples:/);
    expect(result.stdout).toMatch(/Exit codes:/);
  });

  it('keygen prints 32- and 64-byte keys as fwknop --key-gen does', async () => {
    const result = await knockstick(['spa', 'keygen']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^KEY_BASE64 [A-Za-z0-9+/]{43}=\nHMAC_KEY_BASE64 [A-Za-z0-9+/]{86}==$/);
    expect((await knockstick(['spa', 'keygen'])).stdout).not.toBe(result.stdout);
  });

  it('keygen --rc-file makes a 0600 stanza that the real fwknop client reads; a second one with that name is refused', async () => {
    const rc = await labRc();
    expect((await stat(rc)).mode & 0o777).toBe(0o600);
    const home = join(dir.path, 'home');
    await execa('mkdir', [home]);
    const saved = join(dir.path, 'fwknop.pkt');
    const real = await execa('fwknop', ['--rc-file', rc, '-n', 'lab', '-T', '--save-packet', saved, '--no-save-args'], {
      env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    expect(real.exitCode).toBe(0);
    const config = await readRcFile(rc, 'lab');
    expect(decodeSpaPacket((await readFile(saved, 'utf8')).trim(), config.keys)).toMatchObject({ username: 'tester', message: '198.18.0.2,tcp/22' });
    const again = await knockstick(['spa', 'keygen', '--rc-file', rc, '-n', 'LAB', '--server', 'x.example']);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/already has a stanza \[LAB\]/);
  });

  it('send delivers one datagram that decodes with the stanza keys; nothing secret is printed', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const received = new Promise<string>((r) => socket.once('message', (msg) => r(msg.toString('latin1'))));
    try {
      const rc = await labRc(socket.address().port, 'FW_TIMEOUT 30\n');
      const result = await knockstick(['spa', 'send', '--rc-file', rc, '-n', 'lab', '-v']);
      expect(result.exitCode).toBe(0);
      expect(result.stderr).toMatch(/sent SPA packet for \[lab\] to 127\.0\.0\.1 udp\/\d+: open tcp\/22 for 198\.18\.0\.2 for 30 s/);
      const config = await readRcFile(rc, 'lab');
      const wire = await received;
      expect(decodeSpaPacket(wire, config.keys)).toMatchObject({ username: 'tester', messageType: 3, clientTimeout: 30 });
      const rcText = await readFile(rc, 'utf8');
      for (const key of rcText.match(/(?<=KEY_BASE64 +)\S+/g) ?? []) {
        expect(result.stderr + result.stdout).not.toContain(key);
        expect(result.stderr + result.stdout).not.toContain(key.slice(0, 20));
      }
    } finally {
      socket.close();
    }
  });

  it('--dry-run --save-packet sends nothing and writes a 0600 packet that decode checks; other keys fail with 3', async () => {
    const rc = await labRc();
    const saved = join(dir.path, 'packet');
    const result = await knockstick(['spa', 'send', '--rc-file', rc, '-n', 'lab', '--dry-run', '--save-packet', saved, '--time-offset=-130']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/dry run: would send/);
    expect((await stat(saved)).mode & 0o777).toBe(0o600);
    const decoded = await knockstick(['spa', 'decode', '--rc-file', rc, '-n', 'lab', saved]);
    expect(decoded.exitCode).toBe(0);
    expect(decoded.stdout).toMatch(/Timestamp +\d+ \(13\d s ago\)/);
    const other = join(dir.path, 'other');
    expect((await knockstick(['spa', 'keygen', '--rc-file', other, '-n', 'lab', '--server', '127.0.0.1'])).exitCode).toBe(0);
    const wrong = await knockstick(['spa', 'decode', '--rc-file', other, '-n', 'lab', saved]);
    expect(wrong.exitCode).toBe(3);
    expect(wrong.stderr).toMatch(/does not check out with the keys of \[lab\]: the HMAC does not match/);
  });

  it('refuses an rc file others can read, and an invalid one, naming file:line (exit 3)', async () => {
    const rc = await labRc();
    await chmod(rc, 0o644);
    const open = await knockstick(['spa', 'send', '--rc-file', rc, '-n', 'lab', '--dry-run']);
    expect(open.exitCode).toBe(3);
    expect(open.stderr).toMatch(/mode is 0644: group or others may read it\nhint: chmod 600/);
    await chmod(rc, 0o600);
    await writeFile(rc, `${await readFile(rc, 'utf8')}HMAC_DIGEST_TYPE sha999\n`);
    const bad = await knockstick(['spa', 'send', '--rc-file', rc, '-n', 'lab', '--dry-run']);
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr).toMatch(new RegExp(`${rc}:\\d+: HMAC_DIGEST_TYPE sha999 is not one of fwknop's`));
  });

  it.each([
    [['spa'], /missing subcommand/],
    [['spa', 'launch'], /unknown subcommand "launch"/],
    [['spa', 'keygen', '--server-cmd', 'x'], /--server-cmd is only for `spa send`/],
    [['spa', 'decode', '--unsafe-no-hmac'], /--unsafe-no-hmac is only for `spa send or keygen`/],
    [['spa', 'keygen', '-n', 'x'], /-n and --server go with --rc-file/],
    [['spa', 'send', '--time-offset', 'soon'], /--time-offset must be whole seconds/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const result = await knockstick(args, { env: { HOME: dir.path } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
