// SPA modes beyond fwknop's defaults: every HMAC and digest type, no HMAC, legacy IV, command and
// NAT messages; decode naming the mode of a packet it cannot open; the rc refusals (file:line).
// Golden: packets from the real fwknop 2.6.10 client in each mode decode with ours.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { HASH_TYPES, type HashType } from '../../src/spa/cipher.js';
import { DEFAULT_MODES, MessageType, SpaDecodeError, buildSpaPacket, decodeSpaPacket, sealFields, type RandomSource, type SpaModes, type SpaRequest } from '../../src/spa/packet.js';
import { keyFromKeyFile, parseOffset, parseRcText, resolveStanza, resolveStanzaKeys } from '../../src/spa/rc-file.js';
import { requestFromConfig } from '../../src/spa/client.js';

const KEYS = { encryption: Buffer.from('0123456789abcdef0123456789abcdef'), hmac: Buffer.alloc(64, 0x5a) };
const REQUEST: SpaRequest = { username: 'bob', timestamp: 1_750_000_000, allowIp: '198.18.0.2', access: [{ protocol: 'tcp', port: 22 }] };
const HASHES = Object.keys(HASH_TYPES) as HashType[];

function decodeError(fn: () => unknown): SpaDecodeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SpaDecodeError) return error;
    throw error;
  }
  throw new Error('decoded');
}

describe('round trips in every mode', () => {
  it.each(HASHES.flatMap((hmac) => HASHES.map((digest) => [hmac, digest] as const)))('HMAC %s, digest %s', (hmac, digest) => {
    const modes: SpaModes = { hmac, digest, encryption: 'cbc' };
    const wire = buildSpaPacket(REQUEST, KEYS, undefined, modes);
    expect(wire.length).toBeGreaterThan(HASH_TYPES[hmac].b64Length);
    const decoded = decodeSpaPacket(wire, KEYS, modes);
    expect(decoded).toMatchObject({ message: '198.18.0.2,tcp/22' });
    // sha256/sha3_256 and sha512/sha3_512 have equal lengths: fwknopd tells them apart by trying, so do we.
    expect(decoded.modes).toEqual(modes);
  });

  it.each(['cbc', 'ecb', 'cfb', 'ofb', 'ctr', 'legacy'] as const)('ENCRYPTION_MODE %s round-trips and ciphertexts are block-sized', (encryption) => {
    const modes: SpaModes = { ...DEFAULT_MODES, encryption };
    const wire = buildSpaPacket(REQUEST, KEYS, undefined, modes);
    expect(decodeSpaPacket(wire, KEYS, modes).modes.encryption).toBe(encryption);
  });

  it('no HMAC and legacy IV round-trip; the legacy key derivation differs from CBC for a short key', () => {
    const short = { encryption: Buffer.from('short'), hmac: Buffer.alloc(0) };
    const none: SpaModes = { ...DEFAULT_MODES, hmac: 'none' };
    const legacy: SpaModes = { ...none, encryption: 'legacy' };
    const random: RandomSource = { bytes: (n) => Buffer.alloc(n, 1), int: () => 3 };
    expect(decodeSpaPacket(buildSpaPacket(REQUEST, short, random, none), short, none).modes).toEqual(none);
    expect(decodeSpaPacket(buildSpaPacket(REQUEST, short, random, legacy), short, legacy).modes).toEqual(legacy);
    expect(buildSpaPacket(REQUEST, short, random, legacy)).not.toBe(buildSpaPacket(REQUEST, short, random, none));
  });

  it('command, local NAT and NAT messages get fwknop\'s message types', () => {
    const cmd = decodeSpaPacket(buildSpaPacket({ ...REQUEST, command: 'uptime', clientTimeout: 30 }, KEYS), KEYS);
    expect(cmd).toMatchObject({ messageType: MessageType.COMMAND, message: '198.18.0.2,uptime' });
    expect(cmd.clientTimeout).toBeUndefined();
    const local = decodeSpaPacket(buildSpaPacket({ ...REQUEST, natAccess: { host: 'fw.example', port: 22, local: true }, clientTimeout: 9 }, KEYS), KEYS);
    expect(local).toMatchObject({ messageType: MessageType.CLIENT_TIMEOUT_LOCAL_NAT_ACCESS, natAccess: 'fw.example,22', clientTimeout: 9 });
  });
});

describe('decode names the mode of a packet it cannot open', () => {
  it.each([
    ['sha512' as const, /the packet's HMAC is sha512, not sha256 \(HMAC_DIGEST_TYPE sha512 in the rc file opens it\)/],
    ['md5' as const, /the packet's HMAC is md5, not sha256/],
  ])('another HMAC type (%s)', (type, message) => {
    const error = decodeError(() => decodeSpaPacket(buildSpaPacket(REQUEST, KEYS, undefined, { ...DEFAULT_MODES, hmac: type }), KEYS));
    expect(error.reason).toBe('other-mode');
    expect(error.message).toMatch(message);
  });

  it('no HMAC at all', () => {
    const wire = buildSpaPacket(REQUEST, KEYS, undefined, { ...DEFAULT_MODES, hmac: 'none' });
    expect(decodeError(() => decodeSpaPacket(wire, KEYS)).message).toMatch(/the packet has no HMAC at all \(fwknop without HMAC keys\): anyone could have altered it/);
  });

  it('legacy IV mode', () => {
    const short = { encryption: Buffer.from('short'), hmac: KEYS.hmac };
    const wire = buildSpaPacket(REQUEST, short, undefined, { ...DEFAULT_MODES, encryption: 'legacy' });
    expect(decodeError(() => decodeSpaPacket(wire, short)).message).toMatch(/the packet is in the legacy IV mode \(ENCRYPTION_MODE legacy\)/);
  });

  it('a GnuPG packet (long, starting hQ)', () => {
    const gpgLike = `hQ${'A'.repeat(600)}`;
    expect(decodeError(() => decodeSpaPacket(gpgLike, KEYS)).message).toMatch(/looks GnuPG-encrypted \(it starts with "hQ"/);
  });

  it('keys without an HMAC key, a packet with an HMAC', () => {
    const wire = buildSpaPacket(REQUEST, KEYS, undefined, { ...DEFAULT_MODES, hmac: 'sha384' });
    const error = decodeError(() => decodeSpaPacket(wire, { ...KEYS, hmac: Buffer.alloc(0) }, { ...DEFAULT_MODES, hmac: 'none' }));
    expect(error.message).toMatch(/the packet ends in a 64-character HMAC \(sha384\), and these settings have no HMAC key to check it/);
  });

  it('a wrong HMAC key is still just that', () => {
    const wire = buildSpaPacket(REQUEST, KEYS);
    expect(decodeError(() => decodeSpaPacket(wire, { ...KEYS, hmac: Buffer.alloc(64, 1) })).message).toMatch(/wrong HMAC key, or the packet was altered/);
  });

  it('an invalid NAT host is refused as fwknopd refuses it (bad%host)', () => {
    // Built by hand past requestProblem, as a hostile or broken client could.
    const fields = { random: '1234567890123456', username: 'bob', timestamp: 1, version: '3.0.0', messageType: MessageType.NAT_ACCESS, message: '198.18.0.2,tcp/22', natAccess: 'bad%host,22' };
    return import('../../src/spa/packet.js').then(({ sealFields }) => {
      const wire = sealFields(fields, KEYS, Buffer.alloc(8, 2));
      expect(decodeError(() => decodeSpaPacket(wire, KEYS)).message).toMatch(/the NAT access field "bad%host,22" is not HOST,PORT .*fwknopd refuses it/);
    });
  });
});

describe('rc file: the new settings and their refusals (file:line)', () => {
  const K = Buffer.alloc(32, 1).toString('base64');
  const H = Buffer.alloc(64, 2).toString('base64');
  const BASE = `[x]\nSPA_SERVER fw.example\nACCESS tcp/22\nALLOW_IP source\nKEY_BASE64 ${K}\n`;
  const resolve = (text: string, options = {}) => {
    const r = resolveStanza(parseRcText(text, 'rc'), 'x', 'rc', options);
    return { config: r.config, problems: r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`) };
  };

  it('no HMAC key: refused at the KEY line, saying why, unless --unsafe-no-hmac', () => {
    expect(resolve(BASE).problems).toEqual([
      expect.stringMatching(/^rc:5: \[x\] \(with \[default\]\) sets no HMAC key, so the packet would have no HMAC: without an HMAC nothing authenticates the packet: anyone on the path can alter .* or send with --unsafe-no-hmac/),
    ]);
    expect(resolve(BASE, { unsafeNoHmac: true }).config?.modes).toEqual({ digest: 'sha256', hmac: 'none', encryption: 'cbc' });
  });

  it('ENCRYPTION_MODE legacy: refused at its line unless --unsafe-legacy-iv', () => {
    const text = `${BASE}HMAC_KEY_BASE64 ${H}\nENCRYPTION_MODE legacy\n`;
    expect(resolve(text).problems).toEqual([expect.stringMatching(/^rc:7: ENCRYPTION_MODE legacy is unsafe: the legacy IV mode pads a key shorter than 16 bytes/)]);
    expect(resolve(text, { unsafeLegacyIv: true }).config?.modes.encryption).toBe('legacy');
  });

  it('USE_HMAC Y without an HMAC key is an error; USE_HMAC N with a key still uses HMAC (as fwknop does)', () => {
    expect(resolve(`${BASE}USE_HMAC Y\n`).problems).toEqual([expect.stringMatching(/^rc:6: USE_HMAC Y but \[x\] \(with \[default\]\) sets no HMAC key/)]);
    expect(resolve(`${BASE}HMAC_KEY_BASE64 ${H}\nUSE_HMAC N\n`).config?.modes.hmac).toBe('sha256');
  });

  it('NAT_ACCESS without port, NAT_LOCAL, NAT_PORT, NAT_RAND_PORT, RAND_PORT, TIME_OFFSET +1H, tcp', () => {
    const withKeys = `${BASE}HMAC_KEY_BASE64 ${H}\nHMAC_DIGEST_TYPE SHA512\nDIGEST_TYPE sha3_256\n`;
    expect(resolve(`${withKeys}NAT_ACCESS 10.0.0.5\n`).config?.natAccess).toEqual({ host: '10.0.0.5', port: 22 });
    expect(resolve(`${withKeys}NAT_LOCAL Y\n`).config?.natAccess).toEqual({ host: 'fw.example', port: 22, local: true });
    expect(resolve(`${withKeys}NAT_ACCESS 10.0.0.5:2222\nNAT_PORT 40000\n`).config).toMatchObject({ access: [{ protocol: 'tcp', port: 40000 }], natAccess: { host: '10.0.0.5', port: 2222 } });
    const rand = resolve(`${withKeys}NAT_RAND_PORT Y\nRAND_PORT Y\nTIME_OFFSET +1H\nSPA_SERVER_PROTO tcp\n`).config;
    expect(rand).toMatchObject({ natRandPort: true, randPort: true, timeOffset: 3600, proto: 'tcp', modes: { hmac: 'sha512', digest: 'sha3_256' } });
    const request = requestFromConfig(rand as NonNullable<typeof rand>, 0, 'u', undefined, { random: { bytes: (n) => Buffer.alloc(n), int: () => 5 } });
    expect(request.access).toEqual([{ protocol: 'tcp', port: 10_005 }]);
    expect(resolve(`${BASE}HMAC_KEY_BASE64 ${H}\nACCESS tcp/22,tcp/80\nNAT_RAND_PORT Y\n`.replace('ACCESS tcp/22\n', '')).problems).toEqual([
      expect.stringMatching(/^rc:7: NAT_RAND_PORT \/ NAT_PORT replace the one access port/),
    ]);
  });

  it('--server, --access, --allow-ip stand in for missing rc lines (fwknop -D, -A, -a); an explicit address wins over RESOLVE_IP_HTTPS', () => {
    const text = `[x]\nKEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\nALLOW_IP resolve\nRESOLVE_IP_HTTPS Y\n`;
    expect(resolve(text, { server: '127.0.0.1', access: 'udp/53', allowIp: '127.0.0.2' }).config).toMatchObject({ server: '127.0.0.1', access: [{ protocol: 'udp', port: 53 }], allowIp: '127.0.0.2' });
    expect(resolve(text).problems.join('\n')).toMatch(/sets no SPA_SERVER \(or give --server\)[\s\S]*rc:4: ALLOW_IP resolve[\s\S]*rc:5: RESOLVE_IP_HTTPS Y asks a web service/);
  });

  it('KEY_FILE: "SERVER: key" lines, the last match wins; a missing line names the file and line', () => {
    const keyFiles = new Map([['keys', '# comment\nother.example: nope\nfw.example: first\nfw.example:  second key\n']]);
    const text = `[x]\nSPA_SERVER fw.example\nACCESS tcp/22\nALLOW_IP source\nKEY_FILE keys\nHMAC_KEY_BASE64 ${H}\n`;
    expect(resolve(text, { keyFiles }).config?.keys.encryption.toString()).toBe('second key');
    expect(resolve(text.replace('fw.example', 'gw.example'), { keyFiles }).problems).toEqual(['rc:5: KEY_FILE keys has no "gw.example: KEY" line']);
    expect(keyFromKeyFile('=  fw: k\n', 'fw')).toBe('k');
  });

  it.each([
    ['SPOOF_SOURCE_IP not an address', `${BASE}HMAC_KEY_BASE64 ${H}\nSPA_SERVER_PROTO udpraw\nSPOOF_SOURCE_IP me\n`, {}, /^rc:8: SPOOF_SOURCE_IP must be an IPv4 address, got "me"$/],
    ['KEY_FILE without SPA_SERVER', `[x]\nACCESS tcp/22\nALLOW_IP source\nKEY_FILE k\nHMAC_KEY_BASE64 ${H}\n`, {}, /^rc:4: KEY_FILE holds keys per server \("SERVER: key" lines\), but no SPA_SERVER is set$/],
    ['a bad --access', `${BASE}HMAC_KEY_BASE64 ${H}\n`, { access: 'tcp/x' }, /^rc:0: --access: "tcp\/x" is not PROTO\/PORT/],
    ['a bad --allow-ip', `${BASE}HMAC_KEY_BASE64 ${H}\n`, { allowIp: '1.2.3' }, /^rc:0: ALLOW_IP must be an IPv4 address, "source" or "local", got "1.2.3"$/],
    ['NAT_LOCAL Y yes', `${BASE}HMAC_KEY_BASE64 ${H}\nNAT_LOCAL yes\n`, {}, /^rc:7: NAT_LOCAL must be Y or N, got "yes" \(fwknop takes only "Y" as yes and anything else as no\)$/],
  ])('%s is refused, naming the line', (_name, text, options, message) => {
    const r = resolve(text, options);
    expect(r.config).toBeUndefined();
    expect(r.problems).toContainEqual(expect.stringMatching(message));
  });

  it('TIME_OFFSET units as fwknop reads them', () => {
    expect(['+1H', '-1M', '-1s', '90', '-1D', '2h'].map(parseOffset)).toEqual([3600, -60, -1, 90, -86400, 7200]);
    expect(parseOffset('1w')).toBeUndefined();
  });

  it('decode needs only keys: no SPA_SERVER, ACCESS or ALLOW_IP, and a stanza without HMAC key decodes no-HMAC packets', () => {
    const r = resolveStanzaKeys(parseRcText(`[x]\nKEY_BASE64 ${K}\n`, 'rc'), 'x', 'rc');
    expect(r.problems).toEqual([]);
    expect(r.config?.modes.hmac).toBe('none');
  });
});

describe('packets from the real fwknop client in each mode decode with ours', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'knockstick-spa-modes-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fwknopPacket(lines: string, args: readonly string[] = []): Promise<string> {
    const rc = join(dir, 'rc');
    await writeFile(rc, `[default]\n\n[lab]\nSPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.2\nSPOOF_USER carol\n${lines}`, { mode: 0o600 });
    const out = join(dir, 'packet');
    await rm(out, { force: true });
    const result = await execa('fwknop', ['--rc-file', rc, '-n', 'lab', '-T', '--save-packet', out, '--no-save-args', ...args], {
      env: { HOME: dir, PATH: process.env.PATH ?? '/usr/bin:/bin' }, extendEnv: false, reject: false, stdin: 'ignore',
    });
    expect({ exitCode: result.exitCode, out: result.exitCode === 0 ? '' : `${result.stdout}\n${result.stderr}` }).toEqual({ exitCode: 0, out: '' });
    return (await readFile(out, 'utf8')).trim();
  }
  const K = Buffer.from('0123456789abcdef0123456789abcdef');
  const H = Buffer.alloc(64, 0x21);
  const keyLines = `KEY_BASE64 ${K.toString('base64')}\nHMAC_KEY_BASE64 ${H.toString('base64')}\n`;

  /**
   * Byte-for-byte golden: fwknop's packet, decoded, sealed again by us with its salt (the only
   * random piece left), must be fwknop's packet exactly.
   */
  function resealed(wire: string, keys: { encryption: Buffer; hmac: Buffer }, modes: SpaModes): string {
    const { modes: _found, ...fields } = decodeSpaPacket(wire, keys, modes);
    const macLength = modes.hmac === 'none' ? 0 : HASH_TYPES[modes.hmac].b64Length;
    const salt = Buffer.from(`U2FsdGVkX1${macLength === 0 ? wire : wire.slice(0, -macLength)}`, 'base64').subarray(8, 16);
    return sealFields(fields, keys, salt, modes);
  }

  it.each(HASHES.map((h, i) => [h, HASHES[(i + 3) % HASHES.length] as HashType] as const))('HMAC_DIGEST_TYPE %s with DIGEST_TYPE %s (byte for byte)', async (hmac, digest) => {
    const wire = await fwknopPacket(`${keyLines}HMAC_DIGEST_TYPE ${hmac}\nDIGEST_TYPE ${digest}\n`);
    const modes: SpaModes = { hmac, digest, encryption: 'cbc' };
    expect(decodeSpaPacket(wire, { encryption: K, hmac: H }, modes)).toMatchObject({ message: '198.18.0.2,tcp/22', modes: { hmac, digest } });
    expect(resealed(wire, { encryption: K, hmac: H }, modes)).toBe(wire);
  });

  it.each([
    ['ENCRYPTION_MODE ecb', 'ENCRYPTION_MODE ecb\n', [], { encryption: 'ecb' }],
    ['ENCRYPTION_MODE cfb', 'ENCRYPTION_MODE cfb\n', [], { encryption: 'cfb' }],
    ['ENCRYPTION_MODE ofb', 'ENCRYPTION_MODE ofb\n', [], { encryption: 'ofb' }],
    ['ENCRYPTION_MODE ctr', 'ENCRYPTION_MODE ctr\n', [], { encryption: 'ctr' }],
    ['--server-cmd', '', ['--server-cmd', 'uptime'], {}],
    ['NAT_LOCAL + FW_TIMEOUT', 'NAT_LOCAL Y\nFW_TIMEOUT 30\n', [], {}],
    ['NAT_ACCESS + NAT_PORT', 'NAT_ACCESS 10.0.0.5:2222\nNAT_PORT 40000\n', [], {}],
    ['TIME_OFFSET +1H', 'TIME_OFFSET +1H\n', [], {}],
  ] as const)('%s (byte for byte)', async (_name, lines, args, mode) => {
    const wire = await fwknopPacket(`${keyLines}${lines}`, args);
    expect(resealed(wire, { encryption: K, hmac: H }, { ...DEFAULT_MODES, ...mode })).toBe(wire);
  });

  it('no HMAC, and legacy IV, with a short key (byte for byte)', async () => {
    const keys = { encryption: Buffer.from('shortkey'), hmac: Buffer.alloc(0) };
    const none = await fwknopPacket('KEY shortkey\n');
    expect(resealed(none, keys, { ...DEFAULT_MODES, hmac: 'none' })).toBe(none);
    const legacy = await fwknopPacket('KEY shortkey\nENCRYPTION_MODE legacy\n');
    expect(resealed(legacy, keys, { ...DEFAULT_MODES, hmac: 'none', encryption: 'legacy' })).toBe(legacy);
  });

  it.each(['ecb', 'cfb', 'ofb', 'ctr'] as const)('ENCRYPTION_MODE %s', async (encryption) => {
    const wire = await fwknopPacket(`${keyLines}ENCRYPTION_MODE ${encryption}\n`);
    expect(decodeSpaPacket(wire, { encryption: K, hmac: H }, { ...DEFAULT_MODES, encryption })).toMatchObject({ message: '198.18.0.2,tcp/22', modes: { encryption } });
    expect(decodeError(() => decodeSpaPacket(wire, { encryption: K, hmac: H })).message).toMatch(new RegExp(`the packet is in ${encryption.toUpperCase()} mode, not CBC \\(ENCRYPTION_MODE ${encryption} opens it\\)`));
  });

  it('no HMAC and the legacy IV mode with a short key', async () => {
    const none = await fwknopPacket('KEY shortkey\n');
    expect(decodeSpaPacket(none, { encryption: Buffer.from('shortkey'), hmac: Buffer.alloc(0) }, { ...DEFAULT_MODES, hmac: 'none' })).toMatchObject({ username: 'carol' });
    const legacy = await fwknopPacket('KEY shortkey\nENCRYPTION_MODE legacy\n');
    expect(decodeSpaPacket(legacy, { encryption: Buffer.from('shortkey'), hmac: Buffer.alloc(0) }, { ...DEFAULT_MODES, hmac: 'none', encryption: 'legacy' })).toMatchObject({ username: 'carol' });
  });

  it('KEY_FILE ("SERVER: key" lines) reads the same key in both', async () => {
    const keyFile = join(dir, 'keys');
    await writeFile(keyFile, '# keys\n10.0.0.1: not-this-one\n127.0.0.1: file-key-1\n', { mode: 0o600 });
    const wire = await fwknopPacket(`KEY_FILE ${keyFile}\nHMAC_KEY_BASE64 ${H.toString('base64')}\n`);
    const text = await readFile(keyFile, 'utf8');
    const ours = resolveStanza(parseRcText(`[x]\nSPA_SERVER 127.0.0.1\nACCESS tcp/22\nALLOW_IP source\nKEY_FILE ${keyFile}\nHMAC_KEY_BASE64 ${H.toString('base64')}\n`, 'rc'), 'x', 'rc', { keyFiles: new Map([[keyFile, text]]) });
    expect(ours.config?.keys.encryption.toString()).toBe('file-key-1');
    expect(decodeSpaPacket(wire, ours.config?.keys as { encryption: Buffer; hmac: Buffer })).toMatchObject({ username: 'carol' });
  });

  it('--server-cmd, NAT_LOCAL, NAT_ACCESS without port, NAT_PORT', async () => {
    expect(decodeSpaPacket(await fwknopPacket(keyLines, ['--server-cmd', 'uptime']), { encryption: K, hmac: H })).toMatchObject({ messageType: 0, message: '198.18.0.2,uptime' });
    expect(decodeSpaPacket(await fwknopPacket(`${keyLines}NAT_LOCAL Y\n`), { encryption: K, hmac: H })).toMatchObject({ messageType: 5, natAccess: '127.0.0.1,22' });
    expect(decodeSpaPacket(await fwknopPacket(`${keyLines}NAT_ACCESS 10.0.0.5\n`), { encryption: K, hmac: H })).toMatchObject({ messageType: 2, natAccess: '10.0.0.5,22' });
    expect(decodeSpaPacket(await fwknopPacket(`${keyLines}NAT_ACCESS 10.0.0.5:2222\nNAT_PORT 40000\n`), { encryption: K, hmac: H })).toMatchObject({ message: '198.18.0.2,tcp/40000', natAccess: '10.0.0.5,2222' });
  });
});
