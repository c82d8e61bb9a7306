// Golden checks against independent implementations on this machine: OpenSSL decrypts our
// ciphertext, and packets made by the real fwknop 2.6.10 client decode with ours. Secrets reach
// openssl and fwknop only through 0600 files in a temp dir, never through argv.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { B64_SALTED_PREFIX, HMAC_B64_LENGTH } from '../../src/spa/cipher.js';
import { generateKeys, type SpaKeys } from '../../src/spa/keys.js';
import { MessageType, buildSpaPacket, decodeSpaPacket } from '../../src/spa/packet.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'knockstick-spa-golden-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openssl as an oracle', () => {
  it('`openssl enc -d -aes-256-cbc -md md5` decrypts our packet (prefix re-added, HMAC cut off)', async () => {
    // A printable passphrase: `-pass file:` reads one line, so random key bytes could hold a "\n".
    const keys: SpaKeys = { encryption: Buffer.from('golden passphrase for openssl 32'), hmac: Buffer.alloc(64, 5) };
    const wire = buildSpaPacket({ username: 'bob', timestamp: 1_750_000_000, allowIp: '198.18.0.2', access: [{ protocol: 'tcp', port: 22 }], clientTimeout: 30 }, keys);
    const passFile = join(dir, 'openssl.pass');
    await writeFile(passFile, keys.encryption, { mode: 0o600 });
    const b64 = B64_SALTED_PREFIX + wire.slice(0, -HMAC_B64_LENGTH);
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const result = await execa('openssl', ['enc', '-d', '-aes-256-cbc', '-md', 'md5', '-a', '-A', '-pass', `file:${passFile}`], { input: padded, reject: false });
    expect({ exitCode: result.exitCode, stderr: result.exitCode === 0 ? '' : result.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const fields = result.stdout.split(':');
    expect(fields.slice(1, 7)).toEqual([Buffer.from('bob').toString('base64').replace(/=+$/, ''), '1750000000', '3.0.0', '3', Buffer.from('198.18.0.2,tcp/22').toString('base64').replace(/=+$/, ''), '30']);
    expect(fields[7]).toMatch(/^[A-Za-z0-9+/]{43}$/);
  });
});

describe('packets from the real fwknop client', () => {
  /** Runs `fwknop -T` (build, do not send) on a stanza and returns the saved packet. */
  async function fwknopPacket(stanza: string): Promise<string> {
    const home = join(dir, 'home');
    await execa('mkdir', ['-p', home]);
    const rc = join(dir, 'fwknoprc');
    await writeFile(rc, `[default]\n\n[lab]\n${stanza}`, { mode: 0o600 });
    const out = join(dir, 'packet');
    await rm(out, { force: true });
    const result = await execa('fwknop', ['--rc-file', rc, '-n', 'lab', '-T', '--save-packet', out, '--no-save-args'], {
      env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    expect({ exitCode: result.exitCode, stderr: result.exitCode === 0 ? '' : `${result.stdout}\n${result.stderr}` }).toEqual({ exitCode: 0, stderr: '' });
    return (await readFile(out, 'utf8')).trim();
  }

  const keys = generateKeys();
  const keyLines = `KEY_BASE64 ${keys.encryption.toString('base64')}\nHMAC_KEY_BASE64 ${keys.hmac.toString('base64')}\nUSE_HMAC Y\n`;

  it('a plain access request (KEY_BASE64 keys, random 32 + 64 bytes) decodes', async () => {
    const wire = await fwknopPacket(`SPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nSPOOF_USER carol\n${keyLines}`);
    const before = Math.floor(Date.now() / 1000);
    const fields = decodeSpaPacket(wire, keys);
    expect(fields).toMatchObject({ username: 'carol', version: '3.0.0', messageType: MessageType.ACCESS, message: '198.18.0.2,tcp/22' });
    expect(Math.abs(fields.timestamp - before)).toBeLessThan(30);
    expect(fields.random).toMatch(/^\d{16}$/);
  });

  it('several ports, FW_TIMEOUT (message type 3) and "source" decode', async () => {
    const wire = await fwknopPacket(`SPA_SERVER 127.0.0.1\nACCESS tcp/22,udp/53\nALLOW_IP source\nFW_TIMEOUT 45\nSPOOF_USER carol\n${keyLines}`);
    expect(decodeSpaPacket(wire, keys)).toMatchObject({ messageType: MessageType.CLIENT_TIMEOUT_ACCESS, message: '0.0.0.0,tcp/22,udp/53', clientTimeout: 45 });
  });

  it('NAT access (message type 2, and 4 with a timeout) decodes', async () => {
    const nat = await fwknopPacket(`SPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nNAT_ACCESS 192.168.1.2:2222\nSPOOF_USER carol\n${keyLines}`);
    expect(decodeSpaPacket(nat, keys)).toMatchObject({ messageType: MessageType.NAT_ACCESS, natAccess: '192.168.1.2,2222' });
    const natTimeout = await fwknopPacket(`SPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nNAT_ACCESS 192.168.1.2:2222\nFW_TIMEOUT 9\nSPOOF_USER carol\n${keyLines}`);
    expect(decodeSpaPacket(natTimeout, keys)).toMatchObject({ messageType: MessageType.CLIENT_TIMEOUT_NAT_ACCESS, natAccess: '192.168.1.2,2222', clientTimeout: 9 });
  });

  it('plain KEY / HMAC_KEY passphrases are used as their bytes', async () => {
    const wire = await fwknopPacket('SPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nSPOOF_USER carol\nKEY shortpass\nHMAC_KEY another-hmac-passphrase\n');
    expect(decodeSpaPacket(wire, { encryption: Buffer.from('shortpass'), hmac: Buffer.from('another-hmac-passphrase') })).toMatchObject({ message: '198.18.0.2,tcp/22' });
  });

  it('short KEY_BASE64 keys (fewer than 16 bytes) are not padded in CBC mode', async () => {
    const short: SpaKeys = { encryption: Buffer.from([0, 1, 2, 3, 4]), hmac: Buffer.from([9, 8, 7]) };
    const wire = await fwknopPacket(`SPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nSPOOF_USER carol\nKEY_BASE64 ${short.encryption.toString('base64')}\nHMAC_KEY_BASE64 ${short.hmac.toString('base64')}\n`);
    expect(decodeSpaPacket(wire, short)).toMatchObject({ message: '198.18.0.2,tcp/22' });
  });
});
