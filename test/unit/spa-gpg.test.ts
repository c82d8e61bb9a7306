// GnuPG mode, the pure parts: the PKESK header rewrite that makes Curve25519 packets begin "hQ",
// the wire form (HMAC over "hQ" + the rest, as fwknop computes it), the rc keys, the gpg command
// lines (no passphrase in argv) and the refusal messages.

import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { base64NoPad, decodeBase64, hmacB64 } from '../../src/spa/cipher.js';
import { dearmor, encryptSignCommand, decryptCommand, parseKeyList, parseStatus, lsignCommand, generateKeyCommands } from '../../src/spa/gpg.js';
import { B64_GPG_PREFIX, MIN_GNUPG_MSG_SIZE, gpgPlaintext, looksLikeGpgWire, openGpgWire, packetEnding, readPacketHeader, sealGpgMessage, withOldFormatFirstHeader } from '../../src/spa/gpg-packet.js';
import { isKeyName } from '../../src/spa/gpg-rc.js';
import { parsePlaintext, SpaDecodeError } from '../../src/spa/packet.js';
import { parseRcText, resolveStanza, type SpaClientConfig } from '../../src/spa/rc-file.js';

/** A PKESK v3 body as gpg writes it: RSA (one MPI) or ECDH (one MPI, then a length-prefixed wrapped key), `total` bytes. */
function pkeskBody(keyId: string, algorithm: 1 | 18, total: number): Buffer {
  const body = Buffer.alloc(total, 0xaa);
  body[0] = 3;
  Buffer.from(keyId, 'hex').copy(body, 1);
  body[9] = algorithm;
  // ECDH: a 263-bit point (35 bytes with its count), then the wrapped key fills the rest.
  const mpiBytes = algorithm === 18 ? 33 : total - 12;
  body.writeUInt16BE(algorithm === 18 ? 263 : mpiBytes * 8, 10);
  if (algorithm === 18) body[12 + mpiBytes] = total - (13 + mpiBytes);
  return body;
}

/** An encrypted-data packet (tag 18, new format, two-octet length) of `n` (192..8383) body bytes. */
function seipd(n: number): Buffer {
  return Buffer.concat([Buffer.from([0xd2, 192 + ((n - 192) >> 8), (n - 192) & 0xff]), Buffer.alloc(n, 0x55)]);
}

/** A fake gpg message: the PKESK with the given header, then an encrypted-data packet. */
function message(header: number[], keyId: string, algorithm: 1 | 18, bodyLength: number, rest = 500): Buffer {
  return Buffer.concat([Buffer.from(header), pkeskBody(keyId, algorithm, bodyLength), seipd(rest)]);
}

const ECDH_ID = '5E49AA9407F57338';
const RSA_ID = 'AC02ED80A3C5AD93';
const HMAC = Buffer.alloc(64, 7);

describe('the first packet header', () => {
  it('reads old- and new-format headers', () => {
    expect(readPacketHeader(Buffer.from([0x84, 0x5e]))).toEqual({ tag: 1, headerLength: 2, bodyLength: 0x5e });
    expect(readPacketHeader(Buffer.from([0x85, 0x01, 0x0c]))).toEqual({ tag: 1, headerLength: 3, bodyLength: 268 });
    expect(readPacketHeader(Buffer.from([0xc1, 0x5e]))).toEqual({ tag: 1, headerLength: 2, bodyLength: 0x5e });
    expect(readPacketHeader(Buffer.from([0xc1, 0xc0, 0x4c]))).toEqual({ tag: 1, headerLength: 3, bodyLength: 268 });
    expect(readPacketHeader(Buffer.from([0x41]))).toBeUndefined();
  });

  it('rewrites an ECDH session-key packet (gpg: 0x84 0x5e, base64 "hF") to 0x85 + two-byte length ("hQ"), body unchanged', () => {
    const original = message([0x84, 0x5e], ECDH_ID, 18, 0x5e);
    expect(base64NoPad(original).slice(0, 2)).toBe('hF');
    const rewritten = withOldFormatFirstHeader(original);
    expect(rewritten.subarray(0, 3)).toEqual(Buffer.from([0x85, 0x00, 0x5e]));
    expect(rewritten.subarray(3)).toEqual(original.subarray(2));
    expect(base64NoPad(rewritten).slice(0, 2)).toBe('hQ');
  });

  it('keeps an RSA header that is already 0x85 and rewrites new-format ones', () => {
    const rsa = message([0x85, 0x01, 0x0c], RSA_ID, 1, 268);
    expect(withOldFormatFirstHeader(rsa)).toEqual(rsa);
    expect(withOldFormatFirstHeader(message([0xc1, 0xc0, 0x4c], RSA_ID, 1, 268))).toEqual(rsa);
  });

  it('refuses output that does not begin with a session-key packet, or one too long for "hQ"', () => {
    expect(() => withOldFormatFirstHeader(Buffer.from([0x90, 0x0d, 1, 2, 3]))).toThrow(/does not begin with a public-key encrypted session key/);
    expect(() => withOldFormatFirstHeader(message([0x85, 0x10, 0x00], RSA_ID, 1, 0x1000))).toThrow(/too long for fwknop's "hQ" prefix/);
  });
});

describe('the GnuPG wire string', () => {
  const ecc = message([0x84, 0x5e], ECDH_ID, 18, 0x5e);

  it('drops "hQ" and appends the HMAC of "hQ" + the rest (fwknop: fko_set_spa_hmac over the whole base64)', () => {
    const wire = sealGpgMessage(ecc, HMAC);
    const b64 = base64NoPad(withOldFormatFirstHeader(ecc));
    expect(wire).toBe(`${b64.slice(2)}${hmacB64(HMAC, b64)}`);
    expect(wire).not.toMatch(/=/);
    expect(sealGpgMessage(ecc, undefined)).toBe(b64.slice(2));
  });

  it('opens it again: HMAC checked, "hQ" put back, recipient key ID and algorithm named', () => {
    const opened = openGpgWire(sealGpgMessage(ecc, HMAC), HMAC);
    expect(opened).toMatchObject({ hmacChecked: true, recipientKeyId: ECDH_ID, algorithm: 18 });
    expect(opened.message).toEqual(withOldFormatFirstHeader(ecc));
    expect(openGpgWire(sealGpgMessage(ecc, undefined), undefined)).toMatchObject({ hmacChecked: false, hmacPresent: false, recipientKeyId: ECDH_ID });
    // Without a key, an HMAC shows in where the OpenPGP packets end.
    expect(openGpgWire(sealGpgMessage(ecc, HMAC), undefined)).toMatchObject({ hmacChecked: false, hmacPresent: true, message: withOldFormatFirstHeader(ecc) });
  });

  it('without a key, an HMAC whose bytes happen to read as one more packet is still seen as an HMAC (a lab flake)', () => {
    // The HMAC of key #98 (sha512 of "98") over this message decodes to bytes that form a
    // complete OpenPGP packet after the message, so the whole text "ends" too (about 1 key in 600).
    const rsa = message([0x85, 0x01, 0x0c], RSA_ID, 1, 268);
    const key = createHash('sha512').update('98').digest();
    const wire = sealGpgMessage(rsa, key);
    expect(packetEnding(decodeBase64(`${B64_GPG_PREFIX}${wire}`) as Buffer)).toBe('exact');
    expect(openGpgWire(wire, undefined)).toMatchObject({ hmacPresent: true, message: rsa });
    expect(openGpgWire(sealGpgMessage(rsa, undefined), undefined)).toMatchObject({ hmacPresent: false, message: rsa });
  });

  it('a wrong HMAC key, or a packet without HMAC checked with a key, fails as bad-hmac and names both causes', () => {
    const wire = sealGpgMessage(ecc, HMAC);
    const attempt = (): unknown => openGpgWire(wire, Buffer.alloc(64, 8));
    expect(attempt).toThrow(SpaDecodeError);
    expect(attempt).toThrow(/wrong HMAC key, a packet sent without HMAC, or the packet was altered/);
  });

  it("finds the prefix fwknop dropped from its own Curve25519 packets (\"hF\"), for decode to name it", () => {
    const b64 = base64NoPad(ecc);
    const wire = `${b64.slice(2)}${hmacB64(HMAC, b64)}`;
    expect(b64.slice(0, 2)).toBe('hF');
    expect(openGpgWire(wire, HMAC)).toMatchObject({ fwknopdReadable: false, recipientKeyId: ECDH_ID, algorithm: 18, message: ecc });
    expect(openGpgWire(sealGpgMessage(ecc, HMAC), HMAC).fwknopdReadable).toBe(true);
  });

  it('tells GnuPG packets from Rijndael ones as fwknopd does (400 characters or more) and by their first packet', () => {
    const wire = sealGpgMessage(ecc, HMAC);
    expect(wire.length).toBeGreaterThanOrEqual(MIN_GNUPG_MSG_SIZE);
    expect(looksLikeGpgWire(wire)).toBe(true);
    expect(looksLikeGpgWire('A'.repeat(500))).toBe(false);
    expect(looksLikeGpgWire(wire.slice(0, 300))).toBe(false);
    // Whatever the length modulo 4 (fwknop's packets end anywhere).
    for (const rest of [500, 501, 502, 503]) expect(looksLikeGpgWire(sealGpgMessage(message([0x84, 0x5e], ECDH_ID, 18, 0x5e, rest), undefined))).toBe(true);
  });

  it('refuses a message too short for fwknopd to take it for GnuPG', () => {
    expect(() => sealGpgMessage(message([0x84, 0x5e], ECDH_ID, 18, 0x5e, 192), undefined)).toThrow(/fwknopd would take anything under 400/);
  });

  it('the plaintext is the Rijndael one: fields and their SHA-256 digest', () => {
    const fields = { random: '1234567890123456', username: 'u', timestamp: 1700000000, version: '3.0.0', messageType: 1, message: '0.0.0.0,tcp/22' };
    const plain = gpgPlaintext(fields);
    expect(plain.startsWith('1234567890123456:dQ:1700000000:3.0.0:1:')).toBe(true);
    expect(parsePlaintext(plain)).toEqual({ ...fields, digestType: 'sha256' });
    expect(parsePlaintext(gpgPlaintext(fields, 'sha512'))).toEqual({ ...fields, digestType: 'sha512' });
  });
});

describe('gpg command lines', () => {
  const settings = { recipient: 'A218E5E532A576A8', signer: '92082FD09DE8F121', homedir: '/stick/.gnupg' };

  it('encrypt+sign: armored output, the named keys, trust model always, no passphrase anywhere in argv', () => {
    const secret = Buffer.from('correct horse');
    const command = encryptSignCommand('plain', { ...settings, signingPassphrase: secret });
    expect(command.file).toBe('gpg');
    expect(command.args).toEqual([
      '--homedir', '/stick/.gnupg', '--batch', '--no-tty', '--quiet', '--trust-model', 'always', '--pinentry-mode', 'loopback', '--passphrase-fd', '3',
      '--armor', '--encrypt', '--sign', '--recipient', 'A218E5E532A576A8', '--local-user', '92082FD09DE8F121', '--output', '-',
    ]);
    expect(command.fd3?.toString()).toBe('correct horse\n');
    expect(command.args.join(' ')).not.toMatch(/horse/);
  });

  it('with the agent, or a key without passphrase, no passphrase is piped', () => {
    for (const extra of [{ agent: true, signingPassphrase: Buffer.from('pw') }, { noSigningPassphrase: true, signingPassphrase: Buffer.from('pw') }, {}]) {
      const command = encryptSignCommand('plain', { ...settings, ...extra });
      expect(command.fd3).toBeUndefined();
      expect(command.args).not.toContain('--passphrase-fd');
    }
  });

  it('decrypt, key generation and certification pipe their passphrases too', () => {
    const pw = Buffer.from('server-pw');
    expect(decryptCommand(Buffer.alloc(1), { homedir: '/h', passphrase: pw })).toMatchObject({ args: ['--homedir', '/h', '--batch', '--no-tty', '--status-fd', '2', '--pinentry-mode', 'loopback', '--passphrase-fd', '3', '--decrypt'] });
    const gen = generateKeyCommands('/h', 'knockstick fwknopd <srv>', 'ed25519', pw);
    expect(gen.create.args).toEqual(['--homedir', '/h', '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase-fd', '3', '--quick-generate-key', 'knockstick fwknopd <srv>', 'ed25519', 'sign,cert', 'never']);
    expect(gen.subkey('F'.repeat(40)).args.slice(-5)).toEqual(['--quick-add-key', 'F'.repeat(40), 'cv25519', 'encr', 'never']);
    expect(lsignCommand('/h', 'S', 'C', pw).fd3?.toString()).toBe('server-pw\n');
    for (const c of [gen.create, lsignCommand('/h', 'S', 'C', pw)]) expect(c.args.join(' ')).not.toMatch(/server-pw/);
  });

  it('takes the armor off', () => {
    const bin = Buffer.from([0x85, 0x01, 0x0c, 1, 2, 3, 4, 5]);
    const armored = `-----BEGIN PGP MESSAGE-----\nComment: x\n\n${bin.toString('base64')}\n=abcd\n-----END PGP MESSAGE-----\n`;
    expect(dearmor(armored)).toEqual(bin);
    expect(dearmor(`-----BEGIN PGP MESSAGE-----\n\n${bin.toString('base64')}\n-----END PGP MESSAGE-----`)).toEqual(bin);
    expect(() => dearmor('nothing')).toThrow(/no PGP MESSAGE/);
  });

  it('reads the signature status and key lists', () => {
    const status = '[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 92082FD09DE8F121 client\n[GNUPG:] VALIDSIG AAAA 2026-12-01 1 0 4 0 1 10 00 83CC9435F5D1CF791AB91AD892082FD09DE8F121\n[GNUPG:] TRUST_FULLY 0 pgp\n';
    expect(parseStatus(status)).toEqual({ signerFingerprint: 'AAAA', signerPrimaryFingerprint: '83CC9435F5D1CF791AB91AD892082FD09DE8F121', badSignature: false, trusted: true });
    expect(parseStatus('[GNUPG:] BADSIG 1 x\n')).toMatchObject({ badSignature: true, trusted: false });
    const list = 'sec:u:255:22:D2E3D0270ACC214B:1796132385:::u:::scESC:::+:::23::0:\nfpr:::::::::6CCADC0C556584C03D8417E2D2E3D0270ACC214B:\nssb:u:255:18:5E49AA9407F57338:1796132385::::::e:::+:::23:\nfpr:::::::::447A15C5FA437CAFEDD1C7245E49AA9407F57338:\n';
    expect(parseKeyList(list)).toEqual([{ fingerprint: '6CCADC0C556584C03D8417E2D2E3D0270ACC214B', canEncrypt: true, canSign: true, secret: true, expires: undefined }]);
  });
});

describe('GnuPG keys in the rc file', () => {
  const H = Buffer.alloc(64, 2).toString('base64');
  const BASE = 'SPA_SERVER 198.18.0.1\nACCESS tcp/22\nALLOW_IP source\n';
  function resolve(text: string, commandLine: [string, string][] = []): { config?: SpaClientConfig; problems: string[] } {
    const { config, problems } = resolveStanza(parseRcText(text, '/stick/.ssh/fwknoprc'), 'home', '/stick/.ssh/fwknoprc', { commandLine });
    return { ...(config === undefined ? {} : { config }), problems: problems.map((p) => `${p.line}: ${p.message}`) };
  }

  it('reads a GnuPG stanza: no Rijndael key needed, HMAC optional, a relative GPG_HOMEDIR from the rc file directory', () => {
    const { config, problems } = resolve(`[home]\n${BASE}USE_GPG Y\nGPG_RECIPIENT 6CCADC0C556584C03D8417E2D2E3D0270ACC214B\nGPG_SIGNER cli@lab\nGPG_HOMEDIR ../.gnupg\nGPG_NO_SIGNING_PW Y\nHMAC_KEY_BASE64 ${H}\n`);
    expect(problems).toEqual([]);
    expect(config?.gpg).toEqual({ recipient: '6CCADC0C556584C03D8417E2D2E3D0270ACC214B', signer: 'cli@lab', homedir: '/stick/.gnupg', noSigningPassphrase: true, hmac: Buffer.from(H, 'base64') });
    expect(resolve(`[home]\n${BASE}USE_GPG Y\nGPG_RECIPIENT R\nGPG_SIGNER S\n`).config?.gpg).toEqual({ recipient: 'R', signer: 'S' });
  });

  it('a signing passphrase is decoded, never shown in problems', () => {
    const pw = Buffer.from('my secret pw').toString('base64');
    expect(resolve(`[home]\n${BASE}USE_GPG Y\nGPG_RECIPIENT R\nGPG_SIGNER S\nGPG_SIGNING_PW_BASE64 ${pw}\n`).config?.gpg?.signingPassphrase?.toString()).toBe('my secret pw');
    const bad = resolve(`[home]\n${BASE}USE_GPG Y\nGPG_RECIPIENT R\nGPG_SIGNER S\nGPG_SIGNING_PW_BASE64 %%secret%%\n`).problems.join();
    expect(bad).toMatch(/GPG_SIGNING_PW_BASE64 is not base64 \(the value is not shown\)/);
    expect(bad).not.toMatch(/secret%/);
  });

  it.each([
    ['GPG_SIGNER S\n', /has USE_GPG Y but no GPG_RECIPIENT/],
    ['GPG_RECIPIENT R\n', /has USE_GPG Y but no GPG_SIGNER \(the client's key that signs the packet/],
    ['GPG_RECIPIENT --homedir\nGPG_SIGNER S\n', /GPG_RECIPIENT must be a key fingerprint, key ID or e-mail address/],
    ['GPG_RECIPIENT R\nGPG_SIGNER S\nGPG_EXE gpg\n', /GPG_EXE must be an absolute path/],
    ['GPG_RECIPIENT R\nGPG_SIGNER S\nUSE_GPG_AGENT Y\nGPG_SIGNING_PW pw\n', /GPG_SIGNING_PW with USE_GPG_AGENT Y: say one way/],
    ['GPG_RECIPIENT R\nGPG_SIGNER S\nGPG_SIGNING_PW a\nGPG_SIGNING_PW_BASE64 YQ\n', /both GPG_SIGNING_PW and GPG_SIGNING_PW_BASE64 are set/],
    ['GPG_RECIPIENT R\nGPG_SIGNER S\nUSE_HMAC Y\n', /USE_HMAC Y but no HMAC_KEY_BASE64/],
    ['GPG_RECIPIENT R\nGPG_SIGNER S\nUSE_GPG_AGENT yes\n', /USE_GPG_AGENT must be Y or N/],
  ])('refuses %j with a message naming the problem', (lines, pattern) => {
    const { config, problems } = resolve(`[home]\n${BASE}USE_GPG Y\n${lines}`);
    expect(config).toBeUndefined();
    expect(problems.join('\n')).toMatch(pattern);
  });

  it('USE_HMAC N is fine in GnuPG mode (the signature authenticates; fwknop sends such packets too)', () => {
    expect(resolve(`[home]\n${BASE}USE_GPG Y\nGPG_RECIPIENT R\nGPG_SIGNER S\nUSE_HMAC N\nHMAC_KEY_BASE64 ${H}\n`).config?.gpg?.hmac).toBeUndefined();
  });

  it('the --gpg-* flags stand for the rc variables and switch a Rijndael stanza to GnuPG mode', () => {
    const K = Buffer.alloc(32, 1).toString('base64');
    const { config, problems } = resolve(`[home]\n${BASE}KEY_BASE64 ${K}\nHMAC_KEY_BASE64 ${H}\n`, [['GPG_RECIPIENT', 'R'], ['GPG_SIGNER', 'S'], ['USE_GPG', 'Y']]);
    expect(problems).toEqual([]);
    expect(config?.gpg).toMatchObject({ recipient: 'R', signer: 'S', hmac: Buffer.from(H, 'base64') });
  });

  it('key names are one word and never an option', () => {
    expect(isKeyName('6CCADC0C556584C03D8417E2D2E3D0270ACC214B')).toBe(true);
    expect(isKeyName('0x92082FD09DE8F121')).toBe(true);
    expect(isKeyName('<cli@lab>')).toBe(true);
    expect(isKeyName('-r')).toBe(false);
    expect(isKeyName('a b')).toBe(false);
  });

  it(`B64_GPG_PREFIX is fwknop's`, () => {
    expect(B64_GPG_PREFIX).toBe('hQ');
  });
});
