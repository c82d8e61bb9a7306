import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { B64_SALTED_PREFIX, decryptSalted, encryptSalted, evpBytesToKey, macEquals } from '../../src/spa/cipher.js';
import { formatKeyLines, generateKeys, keyFromBase64, keysProblem, type SpaKeys } from '../../src/spa/keys.js';
import {
  MessageType,
  SpaDecodeError,
  buildSpaPacket,
  decodeSpaPacket,
  encodeFields,
  parseAccess,
  randomDigits,
  requestFields,
  sealFields,
  type RandomSource,
  type SpaRequest,
} from '../../src/spa/packet.js';

/** A deterministic random source: bytes counting up from `seed`, ints cycling. */
function fixedRandom(seed = 1): RandomSource {
  let next = seed;
  return {
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => next++ & 0xff)),
    int: (max) => next++ % max,
  };
}

const KEYS: SpaKeys = {
  encryption: Buffer.from('0123456789abcdef0123456789abcdef', 'latin1'),
  hmac: Buffer.alloc(64, 7),
};

const REQUEST: SpaRequest = { username: 'alice', timestamp: 1_700_000_000, allowIp: '198.18.0.2', access: [{ protocol: 'tcp', port: 22 }] };

describe('EVP_BytesToKey (MD5, one round)', () => {
  it('is MD5(pw||salt), then MD5(prev||pw||salt), as OpenSSL derives key and IV', () => {
    const pw = Buffer.from('secret');
    const salt = Buffer.from('12345678');
    const d1 = createHash('md5').update(Buffer.concat([pw, salt])).digest();
    const d2 = createHash('md5').update(Buffer.concat([d1, pw, salt])).digest();
    const d3 = createHash('md5').update(Buffer.concat([d2, pw, salt])).digest();
    const { key, iv } = evpBytesToKey(pw, salt);
    expect(key).toEqual(Buffer.concat([d1, d2]));
    expect(iv).toEqual(d3);
  });

  it('encrypts to "Salted__" || salt || ciphertext and decrypts back; a wrong key does not', () => {
    const ct = encryptSalted(Buffer.from('hello'), Buffer.from('k1'), Buffer.from('saltsalt'));
    expect(ct.subarray(0, 16).toString('latin1')).toBe('Salted__saltsalt');
    expect(ct.toString('base64').startsWith(B64_SALTED_PREFIX)).toBe(true);
    expect(decryptSalted(ct, Buffer.from('k1'))?.toString()).toBe('hello');
    // A wrong key fails the padding check nearly always; it must never return the plaintext.
    expect(decryptSalted(ct, Buffer.from('k2'))?.toString()).not.toBe('hello');
  });
});

describe('SPA fields', () => {
  it('encode as fwknop prints them (field values from a real `fwknop -T -v` run)', () => {
    // fwknop 2.6.10 printed: Encoded Data: 9688105392140565:YWxpY2U:1795355970:3.0.0:3:MTAuMS4yLjMsdGNwLzIyLHVkcC81Mw:30
    const encoded = encodeFields({
      random: '9688105392140565',
      username: 'alice',
      timestamp: 1795355970,
      version: '3.0.0',
      messageType: 3,
      message: '10.1.2.3,tcp/22,udp/53',
      clientTimeout: 30,
    });
    expect(encoded).toBe('9688105392140565:YWxpY2U:1795355970:3.0.0:3:MTAuMS4yLjMsdGNwLzIyLHVkcC81Mw:30');
  });

  it('random values are 16 digits, never starting with 0', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => /^[1-9]\d{15}$/.test(randomDigits(fixedRandom(seed)))));
  });

  it.each([
    [{}, MessageType.ACCESS],
    [{ clientTimeout: 30 }, MessageType.CLIENT_TIMEOUT_ACCESS],
    [{ natAccess: { host: '192.168.1.2', port: 22 } }, MessageType.NAT_ACCESS],
    [{ natAccess: { host: '192.168.1.2', port: 22 }, clientTimeout: 5 }, MessageType.CLIENT_TIMEOUT_NAT_ACCESS],
    [{ clientTimeout: 0 }, MessageType.ACCESS],
  ] as const)('request %j has message type %i', (extra, type) => {
    const fields = requestFields({ ...REQUEST, ...extra }, fixedRandom());
    expect(fields.messageType).toBe(type);
    const encoded = encodeFields(fields).split(':');
    // fields: rand user ts version type msg [nat] [timeout]
    expect(encoded.length).toBe(6 + ('natAccess' in extra ? 1 : 0) + ((extra as { clientTimeout?: number }).clientTimeout ? 1 : 0));
  });

  it('several ports and "use source" go into one message', () => {
    const fields = requestFields({ ...REQUEST, allowIp: '0.0.0.0', access: [{ protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 53 }] }, fixedRandom());
    expect(fields.message).toBe('0.0.0.0,tcp/22,udp/53');
  });

  it.each([
    [{ username: 'a:b' }, /username/],
    [{ username: '' }, /username/],
    [{ allowIp: '::1' }, /IPv4/],
    [{ access: [] }, /no port/],
    [{ access: [{ protocol: 'tcp', port: 0 }] }, /bad access/],
    [{ clientTimeout: -1 }, /client timeout/],
    [{ natAccess: { host: 'a b', port: 22 } }, /NAT host/],
  ] as const)('refuses a bad request %j', (bad, message) => {
    expect(() => requestFields({ ...REQUEST, ...(bad as Partial<SpaRequest>) }, fixedRandom())).toThrow(message);
  });

  it('parses ACCESS strings', () => {
    expect(parseAccess('tcp/22,udp/53')).toEqual([{ protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 53 }]);
    expect(parseAccess('tcp/22x')).toMatch(/not PROTO\/PORT/);
    expect(parseAccess('icmp/0')).toMatch(/not PROTO\/PORT/);
  });
});

describe('SPA packets', () => {
  it('round-trip: what we build, we decode with the same keys', () => {
    const wire = buildSpaPacket({ ...REQUEST, clientTimeout: 45, natAccess: { host: '10.0.0.5', port: 2222 } }, KEYS);
    expect(wire.startsWith(B64_SALTED_PREFIX)).toBe(false);
    expect(wire).toMatch(/^[A-Za-z0-9+/]+$/);
    expect(decodeSpaPacket(wire, KEYS)).toMatchObject({
      username: 'alice',
      timestamp: 1_700_000_000,
      version: '3.0.0',
      messageType: MessageType.CLIENT_TIMEOUT_NAT_ACCESS,
      message: '198.18.0.2,tcp/22',
      natAccess: '10.0.0.5,2222',
      clientTimeout: 45,
    });
  });

  it('is deterministic for a given random source, and differs with fresh randomness', () => {
    expect(buildSpaPacket(REQUEST, KEYS, fixedRandom(3))).toBe(buildSpaPacket(REQUEST, KEYS, fixedRandom(3)));
    expect(buildSpaPacket(REQUEST, KEYS)).not.toBe(buildSpaPacket(REQUEST, KEYS));
  });

  it('a wrong HMAC key is caught before decryption; a wrong encryption key at decryption', () => {
    const wire = buildSpaPacket(REQUEST, KEYS);
    const reason = (keys: SpaKeys): string | undefined => {
      try {
        decodeSpaPacket(wire, keys);
        return undefined;
      } catch (error) {
        return (error as SpaDecodeError).reason;
      }
    };
    expect(reason({ ...KEYS, hmac: Buffer.alloc(64, 8) })).toBe('bad-hmac');
    expect(['bad-decrypt', 'bad-digest', 'bad-fields']).toContain(reason({ ...KEYS, encryption: Buffer.from('another key') }));
  });

  it('any single altered character is rejected', () => {
    const wire = buildSpaPacket(REQUEST, KEYS, fixedRandom(9));
    fc.assert(
      fc.property(fc.nat(wire.length - 1), fc.constantFrom(...'ABCxyz019+/'), (at, ch) => {
        fc.pre(wire[at] !== ch);
        const altered = wire.slice(0, at) + ch + wire.slice(at + 1);
        expect(() => decodeSpaPacket(altered, KEYS)).toThrow(SpaDecodeError);
      }),
      { numRuns: 200 },
    );
  });

  it('property: every valid request round-trips with any valid keys', () => {
    const spec = fc.record({ protocol: fc.constantFrom('tcp' as const, 'udp' as const), port: fc.integer({ min: 1, max: 65535 }) });
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9._@-]{1,64}$/),
        fc.integer({ min: 0, max: 2 ** 33 }),
        fc.ipV4(),
        fc.array(spec, { minLength: 1, maxLength: 8 }),
        fc.option(fc.record({ host: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }) }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 65536 }), { nil: undefined }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 128 }),
        (username, timestamp, allowIp, access, natAccess, clientTimeout, enc, mac) => {
          const keys = { encryption: Buffer.from(enc), hmac: Buffer.from(mac) };
          fc.pre(keysProblem(keys) === undefined);
          const request: SpaRequest = { username, timestamp, allowIp, access, natAccess, clientTimeout };
          const decoded = decodeSpaPacket(buildSpaPacket(request, keys), keys);
          expect(decoded).toMatchObject({ username, timestamp, message: `${allowIp},${access.map((a) => `${a.protocol}/${a.port}`).join(',')}` });
          expect(decoded.natAccess).toBe(natAccess === undefined ? undefined : `${natAccess.host},${natAccess.port}`);
          expect(decoded.clientTimeout).toBe(clientTimeout);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses keys fwknop refuses', () => {
    expect(keysProblem({ encryption: Buffer.alloc(33, 1), hmac: Buffer.alloc(64, 2) })).toMatch(/1-32 bytes/);
    expect(keysProblem({ encryption: Buffer.alloc(32, 1), hmac: Buffer.alloc(32, 1) })).toMatch(/same/);
    expect(keysProblem({ encryption: Buffer.alloc(0), hmac: Buffer.alloc(64, 2) })).toMatch(/1-32 bytes/);
    expect(() => sealFields(requestFields(REQUEST, fixedRandom()), { encryption: Buffer.alloc(40, 1), hmac: Buffer.alloc(8, 2) }, Buffer.alloc(8))).toThrow(/1-32/);
  });
});

describe('keys', () => {
  it('keygen makes 32 + 64 random bytes, printed as padded base64 lines that read back', () => {
    const keys = generateKeys();
    expect([keys.encryption.length, keys.hmac.length]).toEqual([32, 64]);
    const text = formatKeyLines(keys);
    const [k, h] = text.trim().split('\n').map((l) => l.split(' ')[1] as string);
    expect(text).toMatch(/^KEY_BASE64 [A-Za-z0-9+/]{43}=\nHMAC_KEY_BASE64 [A-Za-z0-9+/]{86}==\n$/);
    expect(keyFromBase64(k as string)).toEqual(keys.encryption);
    expect(keyFromBase64(h as string)).toEqual(keys.hmac);
    expect(keyFromBase64('not base64!')).toBeUndefined();
  });

  it('compares MACs of different lengths as unequal', () => {
    expect(macEquals('abc', 'abc')).toBe(true);
    expect(macEquals('abc', 'abd')).toBe(false);
    expect(macEquals('abc', 'abcd')).toBe(false);
  });
});
