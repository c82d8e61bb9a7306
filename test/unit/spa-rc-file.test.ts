import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidFileError, KnockstickError } from '../../src/core/errors.js';
import { formatStanza, parseRcText, readRcFile, resolveStanza, type SpaClientConfig } from '../../src/spa/rc-file.js';

const K = Buffer.alloc(32, 1).toString('base64');
const H = Buffer.alloc(64, 2).toString('base64');

function resolve(text: string, name?: string): { config?: SpaClientConfig; problems: string[] } {
  const { config, problems } = resolveStanza(parseRcText(text, 'rc'), name, 'rc');
  return { ...(config === undefined ? {} : { config }), problems: problems.map((p) => `${p.line}: ${p.message}`) };
}

const HOME = `[default]
# a comment
; also a comment
SPA_SERVER_PORT 62201

[home]
SPA_SERVER      home.example.org
ACCESS          tcp/22
ALLOW_IP        source
KEY_BASE64:     ${K}
HMAC_KEY_BASE64: ${H}   # trailing comment
USE_HMAC        Y
FW_TIMEOUT      30
`;

describe('.fwknoprc stanzas', () => {
  it('reads a stanza over [default], with fwknop --key-gen style "VAR:" lines and trailing comments', () => {
    const { config, problems } = resolve(HOME, 'home');
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      stanza: 'home',
      server: 'home.example.org',
      port: 62201,
      access: [{ protocol: 'tcp', port: 22 }],
      allowIp: '0.0.0.0',
      clientTimeout: 30,
      timeOffset: 0,
    });
    expect(config?.keys.encryption).toEqual(Buffer.alloc(32, 1));
    expect(config?.keys.hmac).toEqual(Buffer.alloc(64, 2));
  });

  it('stanza names are case-insensitive; the named stanza overrides [default]', () => {
    const { config } = resolve(`[default]\nSPA_SERVER_PORT 1000\nALLOW_IP 10.0.0.1\n${HOME.replace('[default]', '[x]')}\n[Office]\nSPA_SERVER o.example\nACCESS tcp/2222,udp/53\nALLOW_IP 10.9.9.9\nKEY pass-one\nHMAC_KEY pass-two\nNAT_ACCESS 192.168.1.5:22\nSPOOF_USER root\nTIME_OFFSET -2m\n`, 'office');
    expect(config).toMatchObject({ server: 'o.example', port: 1000, allowIp: '10.9.9.9', natAccess: { host: '192.168.1.5', port: 22 }, username: 'root', timeOffset: -120 });
    expect(config?.keys.encryption.toString()).toBe('pass-one');
  });

  it('a missing stanza lists the ones there are', () => {
    expect(resolve(HOME, 'office').problems).toEqual(['0: no stanza [office] (stanzas: home)']);
  });

  it.each([
    ['SPA_SERVER_PROTO http', /SPA_SERVER_PROTO http: knockstick sends SPA over udp or tcp .*SPA over HTTP is not supported/],
    ['SPA_SERVER_PROTO sctp', /SPA_SERVER_PROTO sctp: .*fwknop knows no such protocol/],
    ['HMAC_DIGEST_TYPE sha999', /HMAC_DIGEST_TYPE sha999 is not one of fwknop's: md5, sha1, sha256, sha384, sha512, sha3_256, sha3_512/],
    ['DIGEST_TYPE crc32', /DIGEST_TYPE crc32 is not one of fwknop's/],
    ['ENCRYPTION_MODE legacy', /ENCRYPTION_MODE legacy is unsafe: the legacy IV mode pads a key .* send with --unsafe-legacy-iv/],
    ['ENCRYPTION_MODE pcbc', /ENCRYPTION_MODE pcbc is not supported: knockstick implements fwknop's cbc \(the default\), ecb, cfb, ofb, ctr and legacy/],
    ['USE_GPG Y', /\[home\] \(with \[default\]\) has USE_GPG Y but no GPG_RECIPIENT/],
    ['USE_HMAC yes', /USE_HMAC must be Y or N, got "yes" \(fwknop takes only "Y" as yes and anything else as no; an HMAC key turns HMAC on whatever USE_HMAC says\)/],
    ['NAT_ACCESS bad%host:22', /NAT_ACCESS must be HOST or HOST:PORT/],
    ['NAT_ACCESS 10.0.0.1:70000', /NAT_ACCESS must be HOST or HOST:PORT/],
    ['NAT_PORT 0', /NAT_PORT must be 1-65535/],
    ['TIME_OFFSET 1w', /TIME_OFFSET must be like 60, \+1H, 5m, -1D/],
    ['SPOOF_SOURCE_IP 3.3.3.3', /SPOOF_SOURCE_IP needs SPA_SERVER_PROTO udpraw, tcpraw or icmp/],
    ['HMAC_KEY_FILE /x', /HMAC_KEY_FILE: an HMAC key file \(fwknop 2.6.10 reads HMAC_KEY_FILE in an rc file as KEY_FILE/],
    ['RESOLVE_IP_HTTPS Y', /RESOLVE_IP_HTTPS Y asks a web service for our address/],
    ['KEY_FILE /x', /both KEY_FILE and KEY_BASE64 are set; keep one/],
    ['ACCESS tcp/22x', /ACCESS: "tcp\/22x" is not PROTO\/PORT/],
    ['SPA_SERVER_PORT 70000', /SPA_SERVER_PORT must be 1-65535/],
    ['FW_TIMEOUT soon', /FW_TIMEOUT must be 0-65536/],
    ['SPOOF_USER a:b', /SPOOF_USER "a:b" is not a valid/],
    ['CLIENT_TIMEOUT 30', /unknown variable "CLIENT_TIMEOUT"/],
    ['KEY also-a-key', /both KEY and KEY_BASE64 are set; keep one/],
    ['SPA_SERVER', /expected "VARIABLE VALUE"/],
  ])('"%s" is an error naming its line', (line, message) => {
    const { config, problems } = resolve(`${HOME}${line}\n`, 'home');
    expect(config).toBeUndefined();
    expect(problems.join('\n')).toMatch(new RegExp(`^${HOME.split('\n').length}: ${message.source}`, 'm'));
  });

  it('ALLOW_IP resolve is refused with a way out', () => {
    expect(resolve(HOME.replace('ALLOW_IP        source', 'ALLOW_IP resolve'), 'home').problems.join()).toMatch(/ALLOW_IP resolve asks a web service.*use ALLOW_IP source/);
  });

  it('a duplicate variable in one stanza is an error; across [default] and the stanza it is an override', () => {
    expect(resolve(`${HOME}ACCESS tcp/23\n`, 'home').problems.join()).toMatch(/ACCESS is set twice in \[home\] \(first on line 8\)/);
    expect(resolve(`[default]\nACCESS tcp/23\n${HOME.replace('[default]', '')}`, 'home').config?.access).toEqual([{ protocol: 'tcp', port: 22 }]);
  });

  it('missing keys, server or access are named; bad base64 is reported without the value', () => {
    const problems = resolve('[home]\nKEY_BASE64 %%%secret%%%\n', 'home').problems.join('\n');
    expect(problems).toMatch(/sets no SPA_SERVER/);
    expect(problems).toMatch(/sets no ACCESS/);
    expect(problems).toMatch(/sets no ALLOW_IP/);
    expect(problems).toMatch(/KEY_BASE64 is not base64 \(the value is not shown\)/);
    expect(problems).toMatch(/sets no HMAC key/);
    expect(problems).not.toMatch(/secret/);
  });

  it('the same key for encryption and HMAC is refused, as fwknop does', () => {
    expect(resolve(HOME.replace(H, K), 'home').problems.join()).toMatch(/the same; fwknop refuses that/);
  });

  it('stanzas not in effect may hold anything', () => {
    expect(resolve(`${HOME}\n[gpg]\nUSE_GPG Y\nWHATEVER 1\n`, 'home').problems).toEqual([]);
  });

  it('formats a stanza that reads back', () => {
    const text = formatStanza('lab', [['SPA_SERVER', '198.18.0.1'], ['ACCESS', 'tcp/22'], ['ALLOW_IP', 'source'], ['KEY_BASE64', K], ['HMAC_KEY_BASE64', H], ['USE_HMAC', 'Y']]);
    expect(resolve(text, 'lab').config).toMatchObject({ server: '198.18.0.1' });
    expect(() => formatStanza('lab', [['ACCESS', 'tcp/22 #x']])).toThrow();
    expect(() => formatStanza('a]b', [])).toThrow();
  });
});

describe('reading an rc file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'knockstick-rc-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a file that group or others can read (fwknop only warns)', async () => {
    const file = join(dir, 'open');
    await writeFile(file, HOME);
    await chmod(file, 0o640);
    await expect(readRcFile(file, 'home')).rejects.toThrow(/mode is 0640: group or others may read it/);
    await chmod(file, 0o600);
    await expect(readRcFile(file, 'home')).resolves.toMatchObject({ server: 'home.example.org' });
  });

  it('an invalid file names file:line; a missing one is an I/O error', async () => {
    const file = join(dir, 'bad');
    await writeFile(file, `${HOME}BOGUS 1\n`, { mode: 0o600 });
    const error = await readRcFile(file, 'home').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidFileError);
    expect((error as Error).message).toBe(`${file}:14: unknown variable "BOGUS"`);
    const missing = await readRcFile(join(dir, 'none'), 'home').catch((e: unknown) => e);
    expect((missing as KnockstickError).code).toBe('IO');
  });
});
