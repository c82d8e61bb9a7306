// Interop with the real fwknopd 2.6.10, in the lab's namespaces: our packets are accepted, and
// fwknopd's protections (replay cache, HMAC, packet age) hold against them. Then the iptables
// backend: a packet opens port 22 for the client, and ssh gets through.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN } from '../helpers/cli.js';
import { startFwknopdLab, stopFwknopdLab } from '../helpers/fwknopd-lab.js';
import { CLIENT_ADDR, SERVER_ADDR, runIn, startSshd, waitFor, type Lab, type RunResult, type SshdHandle } from '../../src/lab/lab.js';
import { labAccessStanza, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import { makeLabStick, type LabStick } from '../../src/lab/stick.js';
import { generateKeys, type SpaKeys } from '../../src/spa/keys.js';
import { formatStanza } from '../../src/spa/rc-file.js';

jest.setTimeout(120_000);

/** An rc file (0600) with a [lab] stanza pointing at the lab server. */
async function writeRc(path: string, keys: SpaKeys, extra: readonly (readonly [string, string])[] = []): Promise<string> {
  await writeFile(
    path,
    formatStanza('lab', [
      ['SPA_SERVER', SERVER_ADDR],
      ['ACCESS', 'tcp/22'],
      ['ALLOW_IP', 'source'],
      ['KEY_BASE64', keys.encryption.toString('base64')],
      ['HMAC_KEY_BASE64', keys.hmac.toString('base64')],
      ['USE_HMAC', 'Y'],
      ['SPOOF_USER', 'labuser'],
      ...extra,
    ]),
    { mode: 0o600 },
  );
  return path;
}

/** `knockstick spa send` (the built CLI) from the client namespace. */
function spaSend(lab: Lab, rc: string, args: readonly string[] = []): Promise<RunResult> {
  return runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'spa', 'send', '--rc-file', rc, '-n', 'lab', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: lab.dir },
  });
}

/** Sends the bytes of a saved packet again, as a sniffer replaying it would. */
async function resend(lab: Lab, packetFile: string): Promise<void> {
  const script = `const d = require('dgram').createSocket('udp4'); const w = require('fs').readFileSync(process.argv[1], 'latin1').trim();
d.send(Buffer.from(w, 'latin1'), 62201, ${JSON.stringify(SERVER_ADDR)}, (e) => { d.close(); process.exit(e ? 1 : 0); });`;
  const result = await runIn(lab.clientNs, process.execPath, ['-e', script, packetFile]);
  expect(result.exitCode).toBe(0);
}

/** Waits (bounded) until fwknopd's output satisfies `predicate`. */
async function settle(fwknopd: FwknopdHandle, predicate: (text: string) => boolean, ms = 5000): Promise<boolean> {
  return waitFor(async () => predicate(fwknopd.output()), ms, 20);
}

describe('our SPA packets against the real fwknopd (CMD_CYCLE_OPEN rig, no firewall)', () => {
  let lab: Lab;
  let fwknopd: FwknopdHandle;
  const keys = generateKeys();
  const marker = (): string => join(lab.dir, `open.${CLIENT_ADDR}`);

  beforeAll(async () => {
    ({ lab, fwknopd } = await startFwknopdLab({
      fwknopd: (lab) => ({
        accessConf: labAccessStanza(keys, [
          'OPEN_PORTS tcp/22,udp/53',
          `CMD_CYCLE_OPEN /usr/bin/touch ${join(lab.dir, 'open.$SRC')}`,
          `CMD_CYCLE_CLOSE /bin/rm -f ${join(lab.dir, 'open.$SRC')}`,
          'CMD_CYCLE_TIMER 2',
        ]),
      }),
    }));
  });
  afterAll(async () => {
    await stopFwknopdLab({ lab, fwknopd });
  });

  it('accepts our packet (the marker appears), then refuses the same packet sent again as a replay', async () => {
    const rc = await writeRc(join(lab.dir, 'rc-good'), keys);
    const saved = join(lab.dir, 'packet');
    const sent = await spaSend(lab, rc, ['--save-packet', saved]);
    expect(sent).toMatchObject({ exitCode: 0 });
    expect(await waitFor(async () => (await readFile(marker()).then(() => true, () => false)), 5000)).toBe(true);
    expect(fwknopd.output()).toMatch(/Username: labuser[\s\S]*Message String: 0\.0\.0\.0,tcp\/22/);
    expect(fwknopd.accepted()).toBe(1);

    await resend(lab, saved);
    expect(await settle(fwknopd, (t) => /Replay detected/i.test(t))).toBe(true);
    expect(fwknopd.accepted()).toBe(1);
  });

  it('refuses a packet made with the wrong HMAC key', async () => {
    const before = fwknopd.output().length;
    const rc = await writeRc(join(lab.dir, 'rc-wrong-hmac'), { encryption: keys.encryption, hmac: generateKeys().hmac });
    expect((await spaSend(lab, rc)).exitCode).toBe(0);
    expect(await settle(fwknopd, (t) => /HMAC/i.test(t.slice(before)) && /Got UDP datagram/.test(t.slice(before)))).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(fwknopd.output().slice(before)).not.toMatch(/Running CMD_CYCLE_OPEN/);
    expect(fwknopd.accepted()).toBe(1);
  });

  it('refuses a packet whose timestamp is 130 s old, and accepts one 60 s old', async () => {
    const rc = await writeRc(join(lab.dir, 'rc-old'), keys);
    const before = fwknopd.output().length;
    expect((await spaSend(lab, rc, ['--time-offset=-130'])).exitCode).toBe(0);
    expect(await settle(fwknopd, (t) => /time difference is too great/i.test(t.slice(before)))).toBe(true);
    expect(fwknopd.accepted()).toBe(1);
    expect((await spaSend(lab, rc, ['--time-offset=-60'])).exitCode).toBe(0);
    expect(await settle(fwknopd, () => fwknopd.accepted() === 2)).toBe(true);
  });

  it('accepts several ports and a client timeout in one packet (message type 3)', async () => {
    const rc = await writeRc(join(lab.dir, 'rc-timeout'), keys, [['FW_TIMEOUT', '5']]);
    await writeFile(rc, (await readFile(rc, 'utf8')).replace('tcp/22', 'tcp/22,udp/53'));
    expect((await spaSend(lab, rc)).exitCode).toBe(0);
    expect(await settle(fwknopd, () => fwknopd.accepted() === 3)).toBe(true);
    expect(fwknopd.output()).toMatch(/Message Type: 3 \(Client timeout access msg\)\n *Message String: 0\.0\.0\.0,tcp\/22,udp\/53[\s\S]*Client Timeout: 5/);
  });
});

describe('the iptables backend of the real fwknopd opens SSH for our packet', () => {
  let lab: Lab;
  let fwknopd: FwknopdHandle | undefined;
  let sshd: SshdHandle;
  let stick: LabStick;
  const keys = generateKeys();

  beforeAll(async () => {
    // The lab firewall with the SPA port let through: fwknopd's UDP server reads from a socket,
    // behind netfilter (pcap would see packets before it).
    ({ lab, fwknopd } = await startFwknopdLab({
      firewall: 'iptables',
      prepare: async (lab) => {
        sshd = await startSshd(lab);
        stick = await makeLabStick(join(lab.dir, 'stick'), sshd);
        await mkdir(join(lab.dir, 'home'));
      },
      fwknopd: () => ({ accessConf: labAccessStanza(keys, ['OPEN_PORTS tcp/22', 'FW_ACCESS_TIMEOUT 4']) }),
    }));
  });
  afterAll(async () => {
    await stopFwknopdLab({ lab, fwknopd });
  });

  it('port 22 is closed before, opens for the client after our packet, and ssh gets a shell', async () => {
    const rules = (): Promise<string> => lab.run(lab.serverNs, 'iptables', ['-S', 'FWKNOP_INPUT']).catch(() => '');
    expect(await rules()).not.toMatch(CLIENT_ADDR);
    // ssh runs in the stick directory so its relative IdentityFile resolves.
    const closed = await runIn(lab.clientNs, 'sh', ['-c', 'cd "$1" && exec ssh -F .ssh/config -o BatchMode=yes -o ConnectTimeout=2 home true', 'sh', stick.root], { timeoutMs: 20_000 });
    expect(closed.exitCode).toBe(255);

    const rc = await writeRc(join(lab.dir, 'rc'), keys);
    expect((await spaSend(lab, rc)).exitCode).toBe(0);
    const opened = await waitFor(async () => (await rules()).includes(`${CLIENT_ADDR}/32`), 5000);
    expect({ opened, fwknopd: opened ? '' : fwknopd?.output() }).toEqual({ opened: true, fwknopd: '' });
    expect(await rules()).toMatch(new RegExp(`-s ${CLIENT_ADDR.replace(/\./g, '\\.')}/32 -p tcp -m tcp --dport 22 .*-j ACCEPT`));

    const open = await runIn(lab.clientNs, 'sh', ['-c', 'cd "$1" && exec ssh -F .ssh/config -o BatchMode=yes home echo spa-shell-ok', 'sh', stick.root], { timeoutMs: 30_000 });
    expect({ exitCode: open.exitCode, stdout: open.stdout.trim(), stderr: open.exitCode === 0 ? '' : open.stderr }).toEqual({ exitCode: 0, stdout: 'spa-shell-ok', stderr: '' });

    // FW_ACCESS_TIMEOUT 4: fwknopd removes the rule by itself.
    expect(await waitFor(async () => !(await rules()).includes(CLIENT_ADDR), 15_000, 250)).toBe(true);
  });
});
