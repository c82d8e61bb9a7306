// `knockstick spa decode` needs only keys and names a packet's mode; `spa send` in the new modes.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

const K = Buffer.alloc(32, 1).toString('base64');
const H = Buffer.alloc(64, 2).toString('base64');

async function rc(text: string): Promise<string> {
  const path = join(dir.path, `rc-${Math.random().toString(36).slice(2)}`);
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/** Builds a packet with `spa send --dry-run --save-packet` and returns its path. */
async function packet(stanza: string, args: readonly string[] = []): Promise<string> {
  const saved = join(dir.path, `pkt-${Math.random().toString(36).slice(2)}`);
  const result = await knockstick(['spa', 'send', '--rc-file', await rc(stanza), '-n', 'x', '--dry-run', '--save-packet', saved, ...args]);
  expect({ exitCode: result.exitCode, stderr: result.exitCode === 0 ? '' : result.stderr }).toEqual({ exitCode: 0, stderr: '' });
  return saved;
}

const SEND = `[x]\nSPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nSPOOF_USER tester\nKEY_BASE64 ${K}\n`;

describe('spa decode', () => {
  it('needs only the keys (no SPA_SERVER, ACCESS, ALLOW_IP) and shows the modes', async () => {
    const saved = await packet(`${SEND}HMAC_KEY_BASE64 ${H}\nHMAC_DIGEST_TYPE sha512\nDIGEST_TYPE sha3_512\n`);
    const result = await knockstick(['spa', 'decode', '--rc-file', await rc(`[x]\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nHMAC_DIGEST_TYPE sha512\n`), '-n', 'x', saved]);
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    expect(result.stdout).toMatch(/valid SPA packet for the keys of \[x\] \(HMAC sha512, digest sha3_512, CBC\)/);
    expect(result.stdout).toMatch(/Message +198\.18\.0\.2,tcp\/22/);
  });

  it('names another HMAC type instead of "wrong HMAC key"; the hint says nothing about sending', async () => {
    const saved = await packet(`${SEND}HMAC_KEY_BASE64 ${H}\nHMAC_DIGEST_TYPE sha1\n`);
    const result = await knockstick(['spa', 'decode', '--rc-file', await rc(`[x]\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`), '-n', 'x', saved]);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/the packet's HMAC is sha1, not sha256 \(HMAC_DIGEST_TYPE sha1 in the rc file opens it\)/);
    expect(result.stderr).not.toMatch(/nothing was sent|wrong HMAC key/);
  });

  it('opens a packet without HMAC, with a warning', async () => {
    const saved = await packet(SEND, ['--unsafe-no-hmac']);
    const result = await knockstick(['spa', 'decode', '--rc-file', await rc(`[x]\nKEY_BASE64 ${K}\n`), '-n', 'x', saved]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/warning: this packet has no HMAC/);
    expect(result.stdout).toMatch(/HMAC none/);
  });

  it('an rc problem while decoding does not say "nothing was sent"', async () => {
    const result = await knockstick(['spa', 'decode', '--rc-file', await rc('[x]\nHMAC_DIGEST_TYPE sha999\n'), '-n', 'x', join(dir.path, 'none')]);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/:2: HMAC_DIGEST_TYPE sha999 is not one of fwknop's/);
    expect(result.stderr).toMatch(/to decode with its keys/);
    expect(result.stderr).not.toMatch(/nothing was sent/);
  });
});

describe('spa send in other modes', () => {
  it('--server-cmd makes a command message; --server/--access/--allow-ip fill a keys-only stanza', async () => {
    const saved = await packet(`[x]\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`, ['--server', '127.0.0.1', '--access', 'tcp/22', '--allow-ip', '198.18.0.2', '--server-cmd', 'uptime']);
    const result = await knockstick(['spa', 'decode', '--rc-file', await rc(`[x]\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`), '-n', 'x', saved]);
    expect(result.stdout).toMatch(/Message type +0\n +Message +198\.18\.0\.2,uptime/);
  });

  it('--server-cmd must be one printable line', async () => {
    const result = await knockstick(['spa', 'send', '--rc-file', await rc(SEND), '-n', 'x', '--dry-run', '--server-cmd', 'a\nb']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--server-cmd must be one line of printable ASCII, at most 1300 characters/);
  });

  it('a raw protocol with a spoofed source is built with --dry-run but never sent', async () => {
    const stanza = `${SEND}HMAC_KEY_BASE64 ${H}\nSPA_SERVER_PROTO udpraw\nSPOOF_SOURCE_IP 3.3.3.3\n`;
    expect((await readFile(await packet(stanza), 'utf8')).length).toBeGreaterThan(100);
    const sent = await knockstick(['spa', 'send', '--rc-file', await rc(stanza), '-n', 'x']);
    expect(sent.exitCode).toBe(2);
    expect(sent.stderr).toMatch(/SPA_SERVER_PROTO udpraw with SPOOF_SOURCE_IP 3\.3\.3\.3 needs raw sockets .* knockstick builds such a packet \(--dry-run, --save-packet\) but does not send it/);
  });

  it('a KEY_FILE readable by others is refused', async () => {
    const keyFile = join(dir.path, 'keys');
    await writeFile(keyFile, '127.0.0.1: secretpass\n', { mode: 0o644 });
    const result = await knockstick(['spa', 'send', '--rc-file', await rc(`${SEND.replace(`KEY_BASE64 ${K}\n`, '')}KEY_FILE ${keyFile}\nHMAC_KEY_BASE64 ${H}\n`), '-n', 'x', '--dry-run']);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/keys holds SPA keys \(KEY_FILE\) but its mode is 0644/);
  });
});
