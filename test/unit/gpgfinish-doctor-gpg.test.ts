// doctor's GnuPG checks (src/doctor/gpg-checks.ts) and the colon-listing judgements they share with
// server init --gpg-server-key (src/spa/gpg-colons.ts): one broken fact per finding, no gpg run.

import { describe, expect, it } from '@jest/globals';
import { canEncrypt, findKeys, keyProblem, parseColonListing } from '../../src/spa/gpg-colons.js';
import { checkAccessGpgStanza, checkKeyringDir, checkStickGpgStanza, parseAccessGpg, type DirFact, type KeyringFacts, type StickGpgStanza } from '../../src/doctor/gpg-checks.js';
import { diagnose, type Facts, type Finding } from '../../src/doctor/checks.js';
import { accessConfPassphraseProblem, unlockCommand } from '../../src/server/spa-gpg-existing.js';

const NOW = 1_800_000_000;
const SRV = '3A262AAED1F0F295326E7185BBFF8882452906C2';
const SRV_SUB = '43CA36C532F021D1C089048CAC52A656CA1281E1';
const CLI = 'ABEAC9558C077BF3277E8667641A9F392E41A045';

/** A listing as gpg 2.2 prints it; `sec` for secret listings ("+": the secret part is there). */
function key(o: { fpr: string; secret?: boolean; validity?: string; expires?: number; subValidity?: string; subExpires?: number; subCaps?: string; stub?: boolean; uid?: string; sub?: boolean }): string {
  const [p, s] = o.secret === true ? ['sec', 'ssb'] : ['pub', 'sub'];
  const flag = o.secret === true ? (o.stub === true ? '#' : '+') : '';
  const lines = [
    `${p}:${o.validity ?? 'u'}:255:22:${o.fpr.slice(-16)}:1700000000:${o.expires ?? ''}::u:::scESC:::${flag}::ed25519:::0:`,
    `fpr:::::::::${o.fpr}:`,
    `uid:${o.validity ?? 'u'}::::1700000000::HASH::${o.uid ?? 'fwknopd (knockstick)'}::::::::::0:`,
  ];
  if (o.sub !== false) lines.push(`${s}:${o.subValidity ?? 'u'}:255:18:${SRV_SUB.slice(-16)}:1700000000:${o.subExpires ?? ''}:::::${o.subCaps ?? 'e'}:::${flag}::cv25519::`, `fpr:::::::::${SRV_SUB}:`);
  return `${lines.join('\n')}\n`;
}

describe('parseColonListing and the key judgements', () => {
  it('reads primary keys, subkeys, user IDs, validity, expiry and secret parts', () => {
    const [k] = parseColonListing(key({ fpr: SRV, secret: true, subExpires: NOW + 10 }));
    expect(k).toMatchObject({ fingerprint: SRV, validity: 'u', secret: true, userIds: ['fwknopd (knockstick)'], subkeys: [{ fingerprint: SRV_SUB, capabilities: 'e', expires: NOW + 10, secret: true }] });
    expect(parseColonListing(key({ fpr: SRV, secret: true, stub: true }))[0]?.secret).toBe(false);
  });
  it('finds a key by fingerprint, long or short ID (of a subkey too), 0x, or a piece of its user ID', () => {
    const keys = parseColonListing(key({ fpr: SRV }) + key({ fpr: CLI, uid: 'knockstick stick', sub: false }));
    for (const id of [SRV, SRV.slice(-16), `0x${SRV.slice(-8)}`, SRV_SUB.slice(-8).toLowerCase(), 'FWKNOPD']) expect(findKeys(keys, id).map((k) => k.fingerprint)).toEqual([SRV]);
  });
  it.each([
    ['an unknown id', key({ fpr: SRV, secret: true }), 'DEADBEEF', {}, /no key "DEADBEEF"/],
    ['an ambiguous id', key({ fpr: SRV }) + key({ fpr: CLI }), 'knockstick', {}, /2 keys match "knockstick".*name one by its fingerprint/],
    ['a revoked key', key({ fpr: SRV, validity: 'r' }), SRV, {}, new RegExp(`${SRV} is revoked`)],
    ['an expired key (by date)', key({ fpr: SRV, expires: NOW - 1 }), SRV, {}, /is expired on 2027-/],
    ['an expired key (by gpg)', key({ fpr: SRV, validity: 'e' }), SRV, {}, /is expired/],
    ['no encryption subkey', key({ fpr: SRV, sub: false }), SRV, { encrypt: true }, /has no usable encryption subkey/],
    ['an expired encryption subkey', key({ fpr: SRV, subExpires: NOW - 5 }), SRV, { encrypt: true }, /has no usable encryption subkey/],
    ['a revoked encryption subkey', key({ fpr: SRV, subValidity: 'r' }), SRV, { encrypt: true }, /has no usable encryption subkey/],
    ['a secret stub', key({ fpr: SRV, secret: true, stub: true }), SRV, { secret: true }, /only a stub of the secret key/],
    ['an uncertified signer', key({ fpr: CLI, validity: '-' }), CLI, { certified: true }, /not certified in this keyring \(validity "-"\): fwknopd refuses/],
  ])('keyProblem: %s', (_what, listing, id, want, message) => {
    expect(keyProblem(parseColonListing(listing), id, NOW, want)).toMatch(message);
  });
  it('a good key has no problem; canEncrypt with the secret part', () => {
    const keys = parseColonListing(key({ fpr: SRV, secret: true }));
    expect(keyProblem(keys, SRV, NOW, { encrypt: true, secret: true, certified: true })).toBeUndefined();
    expect(canEncrypt(keys[0]!, NOW, true)).toBe(true);
  });
});

describe('parseAccessGpg', () => {
  it('takes the GnuPG stanzas with their lines, comma lists and ";" ends', () => {
    const text = `# c\nSOURCE ANY\nKEY_BASE64 x\n\nSOURCE 10.0.0.0/8\nGPG_HOME_DIR /etc/fwknop/gnupg\nGPG_DECRYPT_ID ${SRV}\nGPG_DECRYPT_PW pw x;comment\nGPG_REMOTE_ID 2E41A045, 11111111\nGPG_FINGERPRINT_ID ${CLI}\n`;
    expect(parseAccessGpg(text, '/a.conf')).toEqual([
      {
        file: '/a.conf', line: 5, home: '/etc/fwknop/gnupg', decryptId: { value: SRV, line: 7 }, decryptPw: true, allowNoPw: false,
        signers: [
          { variable: 'GPG_REMOTE_ID', value: '2E41A045', line: 9 },
          { variable: 'GPG_REMOTE_ID', value: '11111111', line: 9 },
          { variable: 'GPG_FINGERPRINT_ID', value: CLI, line: 10 },
        ],
      },
    ]);
  });
});

const GOOD_DIR: DirFact = { isLink: false, isDirectory: true, mode: 0o40700, uid: 0 };
const ids = (fs: readonly Finding[]): string[] => fs.map((f) => `${f.severity} ${f.id}: ${f.message}`);

describe('checkKeyringDir', () => {
  it.each<[string, DirFact | undefined, RegExp]>([
    ['missing', undefined, /does not exist/],
    ['a link', { ...GOOD_DIR, isLink: true }, /is a symbolic link/],
    ['a file', { ...GOOD_DIR, isDirectory: false }, /is not a directory/],
    ['mode 0755', { ...GOOD_DIR, mode: 0o40755 }, /has mode 0755/],
    ['owned by someone else', { ...GOOD_DIR, uid: 1234 }, /owned by uid 1234, not by uid 0 or uid 1000/],
  ])('%s is an error', (_what, dir, message) => {
    const f = checkKeyringDir('gpg:server:home', '/k', dir, [0, 1000]);
    expect(f.severity).toBe('error');
    expect(f.message).toMatch(message);
    expect(f.fix).not.toBe('');
  });
  it('a 0700 directory of the running user is fine', () => {
    expect(checkKeyringDir('x', '/k', { ...GOOD_DIR, uid: 1000 }, [0, 1000]).severity).toBe('ok');
  });
});

const HOME = '/etc/fwknop/gnupg';
const stanza = parseAccessGpg(`SOURCE ANY\nGPG_HOME_DIR ${HOME}\nGPG_DECRYPT_ID ${SRV}\nGPG_DECRYPT_PW secret\nGPG_REMOTE_ID ${CLI.slice(-8)}\nGPG_FINGERPRINT_ID ${CLI}\n`, '/etc/fwknop/access.conf')[0]!;
function ring(o: Partial<KeyringFacts> = {}): KeyringFacts {
  return {
    dir: GOOD_DIR,
    secretKeys: parseColonListing(key({ fpr: SRV, secret: true })),
    publicKeys: parseColonListing(key({ fpr: SRV }) + key({ fpr: CLI, validity: 'f', sub: false })),
    gpgConf: 'pinentry-mode loopback\n',
    ...o,
  };
}

describe('checkAccessGpgStanza', () => {
  it('a keyring made by server init gets a clean bill', () => {
    expect(ids(checkAccessGpgStanza(stanza, ring(), NOW, [0]))).toEqual([
      `ok gpg:server:home: ${HOME}: a directory, mode 0700`,
      `ok gpg:server:decrypt: /etc/fwknop/access.conf:3: GPG_DECRYPT_ID ${SRV} decrypts in ${HOME}`,
      `ok gpg:server:signer: /etc/fwknop/access.conf:5: GPG_REMOTE_ID ${CLI.slice(-8)} is there, certified`,
      `ok gpg:server:signer: /etc/fwknop/access.conf:6: GPG_FINGERPRINT_ID ${CLI} is there, certified`,
      `ok gpg:server:loopback: ${HOME}/gpg.conf says pinentry-mode loopback (GPG_DECRYPT_PW reaches gpg)`,
    ]);
  });
  const errorsOf = (fs: readonly Finding[]): string[] => ids(fs.filter((f) => f.severity !== 'ok'));
  it.each<[string, () => Finding[], RegExp]>([
    ['no GPG_HOME_DIR', () => checkAccessGpgStanza({ ...stanza, home: undefined }, undefined, NOW, [0]), /error gpg:server:home: \/etc\/fwknop\/access.conf:1: the GnuPG stanza has no GPG_HOME_DIR/],
    ['the keyring 0755', () => checkAccessGpgStanza(stanza, ring({ dir: { ...GOOD_DIR, mode: 0o40755 } }), NOW, [0]), /error gpg:server:home: .*mode 0755/],
    ['no secret key for GPG_DECRYPT_ID', () => checkAccessGpgStanza(stanza, ring({ secretKeys: [] }), NOW, [0]), new RegExp(`error gpg:server:decrypt: /etc/fwknop/access.conf:3: GPG_DECRYPT_ID ${SRV}: no secret key`)],
    ['GPG_DECRYPT_ID expired', () => checkAccessGpgStanza(stanza, ring({ secretKeys: parseColonListing(key({ fpr: SRV, secret: true, expires: NOW - 1 })) }), NOW, [0]), /error gpg:server:decrypt: .*is expired/],
    ['GPG_DECRYPT_ID revoked', () => checkAccessGpgStanza(stanza, ring({ secretKeys: parseColonListing(key({ fpr: SRV, secret: true, validity: 'r' })) }), NOW, [0]), /error gpg:server:decrypt: .*is revoked/],
    ['GPG_DECRYPT_ID cannot encrypt', () => checkAccessGpgStanza(stanza, ring({ secretKeys: parseColonListing(key({ fpr: SRV, secret: true, sub: false })) }), NOW, [0]), /error gpg:server:decrypt: .*no usable encryption subkey/],
    ['the remote key removed', () => checkAccessGpgStanza(stanza, ring({ publicKeys: parseColonListing(key({ fpr: SRV })) }), NOW, [0]), /error gpg:server:signer: \/etc\/fwknop\/access.conf:5: GPG_REMOTE_ID .*no key/],
    ['the remote key not certified', () => checkAccessGpgStanza(stanza, ring({ publicKeys: parseColonListing(key({ fpr: CLI, validity: '-', sub: false })) }), NOW, [0]), /error gpg:server:signer: .*not certified/],
    ['the remote key expired', () => checkAccessGpgStanza(stanza, ring({ publicKeys: parseColonListing(key({ fpr: CLI, validity: 'f', expires: NOW - 1, sub: false })) }), NOW, [0]), /error gpg:server:signer: .*expired/],
    ['no pinentry-mode loopback with GPG_DECRYPT_PW', () => checkAccessGpgStanza(stanza, ring({ gpgConf: null }), NOW, [0]), /error gpg:server:loopback: .*lacks "pinentry-mode loopback"/],
    ['no signer named', () => checkAccessGpgStanza({ ...stanza, signers: [] }, ring(), NOW, [0]), /warning gpg:server:signer: .*any key in/],
  ])('%s', (_what, run, message) => {
    expect(errorsOf(run()).join('\n')).toMatch(message);
  });
  it('no loopback finding without GPG_DECRYPT_PW', () => {
    expect(ids(checkAccessGpgStanza({ ...stanza, decryptPw: false }, ring({ gpgConf: null }), NOW, [0])).join('\n')).not.toMatch(/loopback/);
  });
});

describe('checkStickGpgStanza', () => {
  const s: StickGpgStanza = { file: '/s/.ssh/fwknoprc', name: 'home', line: 1, home: '/s/.gnupg', signer: { value: CLI, line: 7 }, recipient: { value: SRV, line: 6 } };
  const stickRing = (o: Partial<KeyringFacts> = {}): KeyringFacts => ring({ secretKeys: parseColonListing(key({ fpr: CLI, secret: true, sub: false })), publicKeys: parseColonListing(key({ fpr: SRV, validity: '-' })), ...o });
  it('a stick made by server init gets a clean bill (the recipient need not be certified)', () => {
    expect(checkStickGpgStanza(s, stickRing(), NOW).map((f) => f.severity)).toEqual(['ok', 'ok']);
  });
  it.each<[string, StickGpgStanza, KeyringFacts, RegExp]>([
    ['the signer secret key missing', s, stickRing({ secretKeys: [] }), /gpg:stick:signer: \/s\/.ssh\/fwknoprc:7: GPG_SIGNER .*: no secret key/],
    ['the recipient missing', s, stickRing({ publicKeys: [] }), /gpg:stick:recipient: \/s\/.ssh\/fwknoprc:6: GPG_RECIPIENT .*: no key/],
    ['the recipient expired', s, stickRing({ publicKeys: parseColonListing(key({ fpr: SRV, expires: NOW - 100 })) }), /gpg:stick:recipient: .*is expired/],
    ['no GPG_SIGNER', { ...s, signer: undefined }, stickRing(), /gpg:stick:signer: .*no GPG_SIGNER/],
    ['no GPG_RECIPIENT', { ...s, recipient: undefined }, stickRing(), /gpg:stick:recipient: .*no GPG_RECIPIENT/],
  ])('%s is an error', (_what, st, r, message) => {
    const bad = checkStickGpgStanza(st, r, NOW).filter((f) => f.severity === 'error');
    expect(bad.map((f) => `${f.id}: ${f.message}`).join('\n')).toMatch(message);
  });
});

describe('diagnose with GnuPG facts', () => {
  const facts: Facts = {
    knockdConf: { path: '(none: fwknopd)', text: null, mode: undefined },
    oneTimeFiles: new Map(),
    warnBelow: 10,
    fwknopdOnly: true,
    now: NOW,
    gpgServer: { path: '/etc/fwknop/access.conf', exists: true, stanzas: [stanza], rings: new Map([[HOME, ring()]]), owners: [0] },
    gpgStick: { gnupg: { path: '/s/.gnupg', dir: { ...GOOD_DIR, mode: 0o40755 } }, stanzas: [], rings: new Map(), owners: [0] },
  };
  it('an fwknopd server is not asked for knockd.conf, and the stick keyring is checked', () => {
    const out = diagnose(facts);
    expect(out.map((f) => f.id)).not.toContain('knockd.conf');
    expect(out.filter((f) => f.severity === 'error').map((f) => `${f.id}: ${f.message}`)).toEqual(['gpg:stick:home: /s/.gnupg (GnuPG home) has mode 0755: gpg warns about it and others can read the secret keys']);
  });
  it('a missing access.conf is an error', () => {
    expect(diagnose({ ...facts, gpgStick: undefined, gpgServer: { ...facts.gpgServer!, exists: false, stanzas: [] } }).map((f) => `${f.severity} ${f.id}`)).toEqual(['error gpg:server:access']);
  });
});

describe('server init --gpg-server-key helpers', () => {
  it.each([
    ['a;b', /";"/],
    [' lead', /starts or ends with a space/],
    ['tab\there', /control character/],
  ])('refuses the passphrase %j for access.conf', (p, message) => {
    expect(accessConfPassphraseProblem(Buffer.from(p))).toMatch(message);
  });
  it('accepts an ordinary passphrase', () => {
    expect(accessConfPassphraseProblem(Buffer.from('correct horse #1'))).toBeUndefined();
  });
  it('tries the passphrase on a pipe (fd 3), never in argv', () => {
    const c = unlockCommand('/k', SRV, Buffer.from('s3cret'));
    expect(c.args).toEqual(['--homedir', '/k', '--batch', '--no-tty', '--quiet', '--pinentry-mode', 'loopback', '--passphrase-fd', '3', '--local-user', `${SRV}!`, '--sign', '--output', '-']);
    expect(c.fd3?.toString()).toBe('s3cret\n');
    expect(unlockCommand('/k', SRV, undefined).args).toContain('');
  });
});
