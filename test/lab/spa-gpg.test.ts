// GnuPG SPA against the real fwknopd 2.6.10 and the real fwknop client, keys made by the real gpg
// in temporary keyrings (one set per file: RSA 2048 and Ed25519/Cv25519). fwknopd runs with two
// stanzas from the lab client, each with its own server keyring so a packet can only open its own:
//   #1 RSA server key (no passphrase: GPG_ALLOW_NO_PW), signer must be the RSA client, REQUIRE_SOURCE_ADDRESS
//   #2 Cv25519 server key (passphrase: GPG_DECRYPT_PW), signer must be the Ed25519 client (whose
//      passphrase knockstick pipes to gpg)
// A third key, certified on the RSA server but not named in stanza #1, is the wrong signer.
// Both stanzas hold an HMAC key: packets carry an HMAC over "hQ" + the rest, as fwknop makes it.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN } from '../helpers/cli.js';
import { startFwknopdLab, startSpaStickLab, stopFwknopdLab } from '../helpers/fwknopd-lab.js';
import { CLIENT_ADDR, SERVER_ADDR, runIn, waitFor, type Lab, type RunResult } from '../../src/lab/lab.js';
import type { LabStick } from '../../src/lab/stick.js';
import { knockstick as knockstickCli } from '../helpers/cli.js';
import { startFwknopd, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import { generateKeys } from '../../src/spa/keys.js';
import { formatStanza } from '../../src/spa/rc-file.js';
import { addGpgClient, allowLoopbackPinentry, gpgAccessLines, makeGpgPair, type GpgPair } from '../../src/spa/gpg-setup.js';
import { stopAgent } from '../../src/spa/gpg.js';

jest.setTimeout(180_000);

const HMAC = generateKeys().hmac;
const SERVER_PW = 'srv-Pass.word-1';
const CLIENT_ECC_PW = 'client-ecc-passphrase';

describe('GnuPG SPA with the real fwknopd, gpg and fwknop', () => {
  let lab: Lab;
  let fwknopd: FwknopdHandle;
  let rsa: GpgPair;
  let ecc: GpgPair;
  let intruder: string;
  const homes: string[] = [];
  const home = (name: string): string => join(lab.dir, name);
  const opened = (kind: string): Promise<boolean> => readFile(join(lab.dir, `open-${kind}.${CLIENT_ADDR}`)).then(() => true, () => false);
  /** access.conf lines of the door for client keyring `kind`: a marker file while it is open. */
  const door = (kind: string): string[] => [
    'OPEN_PORTS tcp/22',
    `HMAC_KEY_BASE64 ${HMAC.toString('base64')}`,
    `CMD_CYCLE_OPEN /usr/bin/touch ${join(lab.dir, `open-${kind}.$SRC`)}`,
    `CMD_CYCLE_CLOSE /bin/rm -f ${join(lab.dir, `open-${kind}.$SRC`)}`,
    'CMD_CYCLE_TIMER 2',
  ];
  // gpg-agents started for these keyrings (by us, fwknopd's gpgme or fwknop): none may outlive the test.
  const stopAgents = async (): Promise<void> => {
    for (const h of homes) await stopAgent(h);
  };

  beforeAll(async () => {
    ({ lab, fwknopd } = await startFwknopdLab({
      prepare: async (made) => {
        lab = made;
        homes.push(home('srv-rsa'), home('cli-rsa'), home('srv-ecc'), home('cli-ecc'), home('cli-other'));
        rsa = await makeGpgPair({ serverHome: home('srv-rsa'), clientHome: home('cli-rsa'), type: 'rsa', serverUserId: 'lab server rsa <srv@lab>', clientUserId: 'lab client rsa <cli@lab>', rsaBits: 2048 });
        ecc = await makeGpgPair({
          serverHome: home('srv-ecc'), clientHome: home('cli-ecc'), type: 'ed25519', serverUserId: 'lab server ecc <srv@lab>', clientUserId: 'lab client ecc <cli@lab>',
          serverPassphrase: Buffer.from(SERVER_PW), clientPassphrase: Buffer.from(CLIENT_ECC_PW),
        });
        intruder = await addGpgClient({ serverHome: home('srv-rsa'), serverFingerprint: rsa.serverFingerprint, clientHome: home('cli-other'), clientUserId: 'intruder <x@lab>', type: 'ed25519' });
      },
      fwknopd: () => ({
        accessConf: [
          `SOURCE ${CLIENT_ADDR}`, ...door('rsa'), 'REQUIRE_SOURCE_ADDRESS Y',
          ...gpgAccessLines({ home: home('srv-rsa'), ...rsa }),
          '',
          `SOURCE ${CLIENT_ADDR}`, ...door('ecc'),
          ...gpgAccessLines({ home: home('srv-ecc'), ...ecc, serverPassphrase: SERVER_PW }),
          '',
        ].join('\n'),
      }),
      onFailure: stopAgents,
    }));
  });
  afterAll(async () => {
    await stopFwknopdLab({ lab, fwknopd }, stopAgents);
  });

  /** A GnuPG rc stanza [lab] for the client keyring `kind`. */
  async function rc(name: string, kind: 'rsa' | 'ecc' | 'other', allowIp = 'source'): Promise<string> {
    const pair = kind === 'rsa' ? rsa : kind === 'ecc' ? ecc : { serverFingerprint: rsa.serverFingerprint, clientFingerprint: intruder };
    const path = join(lab.dir, name);
    const unlock: [string, string][] = kind === 'ecc' ? [['GPG_SIGNING_PW_BASE64', Buffer.from(CLIENT_ECC_PW).toString('base64')]] : [['GPG_NO_SIGNING_PW', 'Y']];
    await writeFile(
      path,
      formatStanza('lab', [
        ['SPA_SERVER', SERVER_ADDR],
        ['ACCESS', 'tcp/22'],
        ['ALLOW_IP', allowIp],
        ['SPOOF_USER', 'labuser'],
        ['USE_GPG', 'Y'],
        ['GPG_RECIPIENT', pair.serverFingerprint],
        ['GPG_SIGNER', pair.clientFingerprint],
        // Relative: from the rc file's directory (lab.dir).
        ['GPG_HOMEDIR', `cli-${kind}`],
        ...unlock,
        ['HMAC_KEY_BASE64', HMAC.toString('base64')],
      ]),
      { mode: 0o600 },
    );
    return path;
  }

  function knockstick(args: readonly string[]): Promise<RunResult> {
    return runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'spa', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: lab.dir } });
  }

  async function resend(packetFile: string): Promise<void> {
    const script = `const d = require('dgram').createSocket('udp4'); const w = require('fs').readFileSync(process.argv[1], 'latin1').trim();
d.send(Buffer.from(w, 'latin1'), 62201, ${JSON.stringify(SERVER_ADDR)}, (e) => { d.close(); process.exit(e ? 1 : 0); });`;
    expect((await runIn(lab.clientNs, process.execPath, ['-e', script, packetFile])).exitCode).toBe(0);
  }

  const settle = (predicate: (text: string) => boolean, ms = 8000): Promise<boolean> => waitFor(async () => predicate(fwknopd.output()), ms, 25);

  it('RSA: our packet (explicit allow IP) opens stanza #1; the same packet again is a replay', async () => {
    const saved = join(lab.dir, 'pkt-rsa');
    const sent = await knockstick(['send', '--rc-file', await rc('rc-rsa', 'rsa', CLIENT_ADDR), '-n', 'lab', '--save-packet', saved]);
    expect({ code: sent.exitCode, err: sent.exitCode === 0 ? '' : sent.stderr }).toEqual({ code: 0, err: '' });
    expect(await waitFor(() => opened('rsa'), 10_000)).toBe(true);
    expect(fwknopd.output()).toContain(`signed by '${rsa.clientFingerprint.slice(-8)}'`);
    expect(fwknopd.accepted()).toBe(1);
    const wire = (await readFile(saved, 'utf8')).trim();
    expect(wire.length).toBeGreaterThanOrEqual(400);

    await resend(saved);
    expect(await settle((t) => /Replay detected/i.test(t))).toBe(true);
    expect(fwknopd.accepted()).toBe(1);
  });

  it('Ed25519/Cv25519: our packet (allow IP "source", signing passphrase piped to gpg) opens stanza #2', async () => {
    const saved = join(lab.dir, 'pkt-ecc');
    const sent = await knockstick(['send', '--rc-file', await rc('rc-ecc', 'ecc'), '-n', 'lab', '--save-packet', saved]);
    expect({ code: sent.exitCode, err: sent.exitCode === 0 ? '' : sent.stderr }).toEqual({ code: 0, err: '' });
    expect(await waitFor(() => opened('ecc'), 10_000)).toBe(true);
    expect(fwknopd.output()).toContain(`signed by '${ecc.clientFingerprint.slice(-8)}'`);
    expect(fwknopd.accepted()).toBe(2);
    // The session-key packet's header was rewritten: the full base64 begins "hQB" (0x85 0x00 len).
    expect(`hQ${(await readFile(saved, 'utf8')).trim()}`.slice(0, 3)).toBe('hQB');
  });

  it('REQUIRE_SOURCE_ADDRESS: an RSA packet asking for "source" is refused', async () => {
    const before = fwknopd.output().length;
    expect((await knockstick(['send', '--rc-file', await rc('rc-rsa-src', 'rsa'), '-n', 'lab'])).exitCode).toBe(0);
    expect(await settle((t) => /Got 0\.0\.0\.0 when valid source IP was required/.test(t.slice(before)))).toBe(true);
    expect(fwknopd.accepted()).toBe(2);
  });

  it('a wrong signer (a key the RSA server knows and certified, but not the one stanza #1 names) is refused', async () => {
    const before = fwknopd.output().length;
    const sent = await knockstick(['send', '--rc-file', await rc('rc-wrong-signer', 'other', CLIENT_ADDR), '-n', 'lab']);
    expect(sent.exitCode).toBe(0);
    expect(await settle((t) => /not in the GPG_(REMOTE|FINGERPRINT)_ID list/i.test(t.slice(before)))).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(fwknopd.accepted()).toBe(2);
  });

  it('the real fwknop client: its RSA packet is accepted by fwknopd and decoded by knockstick (signer and fields)', async () => {
    const out = join(lab.dir, 'fwknop-rsa');
    const before = fwknopd.output().length;
    // Sent for real (-T would also try to decrypt it, which needs the server's secret key).
    const made = await runIn(lab.clientNs, '/usr/bin/fwknop', [
      '-A', 'tcp/22', '-a', CLIENT_ADDR, '-D', SERVER_ADDR, '--gpg-recipient-key', rsa.serverFingerprint, '--gpg-signer-key', rsa.clientFingerprint,
      '--gpg-home-dir', home('cli-rsa'), '--gpg-no-signing-pw', '--use-hmac', '--key-base64-hmac', HMAC.toString('base64'), '--no-save-args', '-B', out,
    ], { env: { HOME: lab.dir } });
    expect({ code: made.exitCode, err: made.exitCode === 0 ? '' : made.stderr }).toEqual({ code: 0, err: '' });
    expect(await settle(() => fwknopd.accepted() === 3)).toBe(true);
    expect(fwknopd.output().slice(before)).toContain(`signed by '${rsa.clientFingerprint.slice(-8)}'`);

    const decoded = await knockstick(['decode', '--rc-file', await rc('rc-decode', 'rsa'), '-n', 'lab', '--gpg-home-dir', home('srv-rsa'), out]);
    expect({ code: decoded.exitCode, err: decoded.stderr }).toMatchObject({ code: 0, err: '' });
    expect(decoded.stdout).toMatch(/^valid a GnuPG SPA packet \(fwknop --gpg-recip\), encrypted to key ID [0-9A-F]{16} \(RSA\); HMAC checked: good/);
    expect(decoded.stdout).toContain(`signed by ${rsa.clientFingerprint} (fwknopd's GPG_REMOTE_ID: ${rsa.clientFingerprint.slice(-8)})`);
    expect(decoded.stdout).toMatch(new RegExp(`Message +${CLIENT_ADDR.replace(/\./g, '\\.')},tcp/22`));

    // Without a keyring, decode names the mode and the recipient instead of "wrong HMAC key".
    const unnamed = await knockstick(['decode', out]);
    expect(unnamed.exitCode).toBe(3);
    expect(unnamed.stderr).toMatch(/a GnuPG SPA packet \(fwknop --gpg-recip\), encrypted to key ID [0-9A-F]{16} \(RSA\); HMAC present, not checked/);
    expect(unnamed.stderr).toContain('--gpg-home-dir');
  });
  it("the real fwknop client's Cv25519 packet: knockstick decode names it, fwknopd refuses it (what knockstick's header rewrite fixes)", async () => {
    // fwknop takes the signing passphrase from its rc file (HOME=lab.dir), not from argv; its gpgme,
    // like fwknopd's, needs "pinentry-mode loopback" in gpg.conf to hand it to gpg 2.2.
    await allowLoopbackPinentry(home('cli-ecc'));
    await writeFile(join(lab.dir, '.fwknoprc'), `[ecc]\nGPG_SIGNING_PW ${CLIENT_ECC_PW}\n`, { mode: 0o600 });
    const out = join(lab.dir, 'fwknop-ecc');
    const before = fwknopd.output().length;
    const made = await runIn(lab.clientNs, '/usr/bin/fwknop', [
      '-n', 'ecc', '-A', 'tcp/22', '-a', CLIENT_ADDR, '-D', SERVER_ADDR, '--gpg-recipient-key', ecc.serverFingerprint, '--gpg-signer-key', ecc.clientFingerprint,
      '--gpg-home-dir', home('cli-ecc'), '--use-hmac', '--key-base64-hmac', HMAC.toString('base64'), '--no-save-args', '-B', out,
    ], { env: { HOME: lab.dir } });
    expect({ code: made.exitCode, err: made.exitCode === 0 ? '' : made.stderr }).toEqual({ code: 0, err: '' });
    expect(await settle((t) => /HMAC_COMPAREFAIL/.test(t.slice(before)))).toBe(true);
    expect(fwknopd.accepted()).toBe(3);

    const named = await knockstick(['decode', '--rc-file', await rc('rc-decode-ecc', 'ecc'), '-n', 'lab', out]);
    expect(named.exitCode).toBe(3);
    expect(named.stderr).toMatch(/\(ECDH \(e\.g\. Cv25519\)\); HMAC checked: good; made by fwknop itself for a Curve25519 key: fwknopd 2\.6 cannot read it \(it puts back "hQ" where fwknop dropped "hF"\)/);
  });
});

describe('server init --method spa --gpg (nftables), run for real: fwknopd on its files, callhome from its stick', () => {
  let lab: Lab;
  let stick: LabStick;
  let fwknopd: FwknopdHandle | undefined;
  let out: string;
  const homes: string[] = [];

  beforeAll(async () => {
    ({ lab, stick } = await startSpaStickLab());
    out = join(lab.dir, 'server');
    homes.push(join(lab.dir, 'gnupg-server'), join(stick.root, '.gnupg'));
  });
  afterAll(async () => {
    await stopFwknopdLab({ lab, fwknopd }, async () => {
      for (const h of homes) await stopAgent(h);
    });
  });

  const doorOpen = async (): Promise<boolean> => (await lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'spa4'])).includes(CLIENT_ADDR);

  it.each(['ed25519'] as const)('%s keys: keyrings 0700, no secret printed, fwknopd takes the files, callhome gets a shell', async (type) => {
    const init = await knockstickCli([
      'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf, '--out', out, '--firewall', 'nftables',
      '--stick', stick.root, '--cmd-timeout', '3', '--gpg', '--gpg-home-dir', homes[0] as string, '--gpg-key-type', type,
    ]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    for (const h of homes) expect((await stat(h)).mode & 0o777).toBe(0o700);
    const access = await readFile(join(out, 'access.conf'), 'utf8');
    const rcText = await readFile(join(stick.root, '.ssh', 'fwknoprc'), 'utf8');
    const serverFpr = /GPG_DECRYPT_ID\s+([0-9A-F]{40})/.exec(access)?.[1] as string;
    const clientFpr = /GPG_FINGERPRINT_ID\s+([0-9A-F]{40})/.exec(access)?.[1] as string;
    expect(access).toMatch(new RegExp(`GPG_REMOTE_ID +${clientFpr.slice(-8)}`));
    expect(access).not.toMatch(/^KEY_BASE64/m);
    expect(rcText).toMatch(new RegExp(`GPG_RECIPIENT +${serverFpr}\nGPG_SIGNER +${clientFpr}\nGPG_HOMEDIR +\\.\\./\\.gnupg`));
    const pw = /GPG_DECRYPT_PW\s+(\S+)/.exec(access)?.[1] as string;
    expect(init.stdout).not.toContain(pw);
    expect(await readFile(join(homes[0] as string, 'gpg.conf'), 'utf8')).toMatch(/^pinentry-mode loopback$/m);

    await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
    fwknopd = await startFwknopd(lab, { files: { conf: join(out, 'fwknopd.conf'), access: join(out, 'access.conf') }, name: 'fwknopd-run' });
    expect(await doorOpen()).toBe(false);

    const result = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', stick.root, '--', 'echo', 'gpg-spa-ok'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') },
    });
    expect(result.exitCode === 0 ? { exitCode: 0 } : { exitCode: result.exitCode, stderr: result.stderr, fwknopd: fwknopd.output() }).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('gpg-spa-ok');
    expect(fwknopd.output()).toContain(`signed by '${clientFpr.slice(-8)}'`);
  });
});
