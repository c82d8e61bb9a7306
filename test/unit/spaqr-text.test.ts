import { describe, expect, it } from '@jest/globals';
import { InvalidFileError } from '../../src/core/errors.js';
import { accessStanzaKeys, parseAccessConf, selectAccessStanza } from '../../src/spa/access-conf-keys.js';
import { qrSymbol } from '../../src/spa/qr-render.js';
import { parseLikeFwknop2, qrKeyProblem, qrKeyText, type QrKeySource } from '../../src/spa/qr-text.js';

const K = Buffer.alloc(32, 1).toString('base64');
const H = Buffer.alloc(64, 2).toString('base64');
const key = (name: QrKeySource['name'], value: string, line = 3): QrKeySource => ({ name, value, file: 'rc', line });

describe('the QR text (fwknop-gui qr_export, read back as Fwknop2 reads it)', () => {
  it('is KEY_BASE64:<key> HMAC_KEY_BASE64:<hmac>, one space between', () => {
    expect(qrKeyText(key('KEY_BASE64', K), key('HMAC_KEY_BASE64', H))).toBe(`KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`);
  });

  it('plain keys go as KEY: and HMAC_KEY:, and Fwknop2 reads them as not base64', () => {
    const text = qrKeyText(key('KEY', 'pass-one!'), key('HMAC_KEY', 'pass-two?'));
    expect(text).toBe('KEY:pass-one! HMAC_KEY:pass-two?');
    expect(parseLikeFwknop2(text)).toEqual({ key: 'pass-one!', keyBase64: false, hmac: 'pass-two?', hmacBase64: false });
  });

  it('Fwknop2 reads names case-insensitively, takes the text between the first two colons, ignores other names', () => {
    expect(parseLikeFwknop2(`key_base64:${K} OTHER:x hmac_key_base64:${H}:junk`)).toEqual({ key: K, keyBase64: true, hmac: H, hmacBase64: true });
  });

  it.each([
    ['a base64 key whose length is not a multiple of 4', key('KEY_BASE64', K.replace(/=$/, '')), /KEY_BASE64 is 43 characters long, not a multiple of 4: Fwknop2 and fwknop-gui refuse .*adding "=" at its end keeps the same key/],
    ['base64 with URL-safe characters', key('HMAC_KEY_BASE64', `${H.slice(0, -4)}ab_-`), /characters other than A-Z a-z 0-9/],
    ['a plain key with a space', key('KEY', 'two words'), /contains a space, where Fwknop2 cuts the scanned text/],
    ['a plain key with a colon', key('HMAC_KEY', 'a:b'), /contains a colon/],
    ['a plain key with non-ASCII characters', key('KEY', 'schlüssel'), /outside printable ASCII/],
    ['an empty key', key('KEY', ''), /KEY is empty/],
  ])('refuses %s (the key never shown)', (_what, bad, message) => {
    const problem = qrKeyProblem(bad);
    expect(problem).toMatch(message);
    expect(problem).not.toContain(bad.value === '' ? '\0' : bad.value);
  });

  it('a refusal names the file and line of each bad key', () => {
    expect(() => qrKeyText(key('KEY_BASE64', 'abc', 7), key('HMAC_KEY', 'x y', 9))).toThrow(InvalidFileError);
    try {
      qrKeyText(key('KEY_BASE64', 'abc', 7), key('HMAC_KEY', 'x y', 9));
    } catch (error) {
      expect((error as InvalidFileError).problems.map((p) => `${p.file}:${p.line}`)).toEqual(['rc:7', 'rc:9']);
    }
  });

  it('the symbol: error correction level Q, one byte-mode segment', () => {
    const symbol = qrSymbol(`KEY_BASE64:${K} HMAC_KEY_BASE64:${H}`);
    expect(symbol.errorCorrectionLevel.bit).toBe(3); // Q (L 1, M 0, Q 3, H 2 in the format bits)
    expect(symbol.segments.map((s) => s.mode.id)).toEqual(['Byte']);
    // Digits alone would make the library pick numeric mode without the explicit segment.
    expect(qrSymbol('KEY:12345678901234567890 HMAC_KEY:98765432109876543210').segments.map((s) => s.mode.id)).toEqual(['Byte']);
  });
});

describe("access.conf stanzas (fwknopd's way of reading them)", () => {
  const CONF = `# fwknopd access.conf
SOURCE ANY
OPEN_PORTS tcp/22
KEY_BASE64: ${K}
HMAC_KEY_BASE64 ${H}   ; a comment
HMAC_DIGEST_TYPE sha512

SOURCE 10.0.0.0/8
KEY a passphrase with spaces
HMAC_KEY other

SOURCE 192.168.1.0/24
GPG_REMOTE_ID ABCD1234
GPG_DECRYPT_ID 1234ABCD
`;
  const { stanzas, problems } = parseAccessConf(CONF, 'access.conf');

  it('each SOURCE starts a stanza; a ":" after the name and a ";" comment are dropped; a value runs to the line end', () => {
    expect(problems).toEqual([]);
    expect(stanzas.map((s) => [s.index, s.source, s.line])).toEqual([[1, 'ANY', 2], [2, '10.0.0.0/8', 8], [3, '192.168.1.0/24', 12]]);
    expect(stanzas[0]?.entries.get('HMAC_KEY_BASE64')).toEqual([{ line: 5, value: H }]);
    expect(stanzas[1]?.entries.get('KEY')).toEqual([{ line: 9, value: 'a passphrase with spaces' }]);
  });

  it('a stanza is picked by number or SOURCE value; without one, the only stanza with a key', () => {
    expect(selectAccessStanza(stanzas, '2', 'access.conf')).toBe(stanzas[1]);
    expect(selectAccessStanza(stanzas, 'ANY', 'access.conf')).toBe(stanzas[0]);
    expect(selectAccessStanza(stanzas, undefined, 'access.conf')).toMatch(/has 2 stanzas with keys: name one, .*#1 \(SOURCE ANY, line 2\)/);
    expect(selectAccessStanza(stanzas, '4', 'access.conf')).toMatch(/no stanza #4 \(stanzas: #1/);
    expect(selectAccessStanza(stanzas, '10.9.9.9', 'access.conf')).toMatch(/no stanza with SOURCE 10\.9\.9\.9/);
  });

  it('keys come with their lines; a GnuPG stanza has none to give', () => {
    const first = accessStanzaKeys(stanzas[0] as (typeof stanzas)[number], 'access.conf');
    expect(first.encryption).toEqual({ name: 'KEY_BASE64', value: K, file: 'access.conf', line: 4 });
    expect(first.hmac?.line).toBe(5);
    expect(accessStanzaKeys(stanzas[2] as (typeof stanzas)[number], 'access.conf').problems[0]?.message).toMatch(/#3 \(SOURCE 192\.168\.1\.0\/24, line 12\) is a GnuPG stanza: it has no shared key/);
  });

  it('refuses %include, a key set twice, __CHANGEME__, a missing HMAC key', () => {
    expect(parseAccessConf('%include /etc/fwknop/more.conf\n', 'a').problems[0]?.message).toMatch(/does not follow includes/);
    const twice = parseAccessConf(`SOURCE ANY\nKEY_BASE64 ${K}\nKEY x\nHMAC_KEY_BASE64 ${H}\n`, 'a').stanzas[0];
    expect(accessStanzaKeys(twice as NonNullable<typeof twice>, 'a').problems).toEqual([{ file: 'a', line: 3, message: expect.stringMatching(/sets its encryption key 2 times/) }]);
    const change = parseAccessConf(`SOURCE ANY\nKEY_BASE64 __CHANGEME__\nHMAC_KEY_BASE64 ${H}\n`, 'a').stanzas[0];
    expect(accessStanzaKeys(change as NonNullable<typeof change>, 'a').problems[0]?.message).toMatch(/still __CHANGEME__/);
    const noHmac = parseAccessConf(`SOURCE ANY\nKEY_BASE64 ${K}\n`, 'a').stanzas[0];
    expect(accessStanzaKeys(noHmac as NonNullable<typeof noHmac>, 'a').problems[0]?.message).toMatch(/no HMAC_KEY_BASE64 or HMAC_KEY/);
  });
});
