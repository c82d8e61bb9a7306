// callhome --method spa end to end: the built callhome in the client namespace, the real fwknopd
// 2.6.10, sshd and firewall in the server namespace. iptables: fwknopd's own backend (FWKNOP_INPUT
// chain). nftables: fwknopd's CMD_CYCLE_OPEN / CMD_CYCLE_CLOSE add and remove the client address
// in the nft set the input chain consults (fwknopd 2.6 has no nftables backend, fwknop#107).

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN } from '../helpers/cli.js';
import { NFT_DOORS4, NFT_TABLE } from '../../src/core/firewall.js';
import { startFwknopdLab, stopFwknopdLab } from '../helpers/fwknopd-lab.js';
import { CLIENT_ADDR, SERVER_ADDR, runIn, startSshd, waitFor, type Firewall, type FirewallKind, type Lab, type RunResult } from '../../src/lab/lab.js';
import { labAccessStanza, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import { makeLabStick, type LabStick } from '../../src/lab/stick.js';
import { generateKeys, type SpaKeys } from '../../src/spa/keys.js';
import { clientStanza } from '../../src/server/spa.js';

jest.setTimeout(180_000);

interface Rig {
  lab: Lab;
  firewall: Firewall;
  stick: LabStick;
  fwknopd?: FwknopdHandle;
  env: Record<string, string>;
}

function accessLines(kind: FirewallKind): string[] {
  if (kind === 'iptables') return ['OPEN_PORTS tcp/22', 'FW_ACCESS_TIMEOUT 3'];
  // fwknopd splits these on spaces and runs them without a shell; nft takes "{", "}" as words.
  return [
    'OPEN_PORTS tcp/22',
    `CMD_CYCLE_OPEN /usr/sbin/nft add element inet ${NFT_TABLE} ${NFT_DOORS4} { $SRC }`,
    `CMD_CYCLE_CLOSE /usr/sbin/nft delete element inet ${NFT_TABLE} ${NFT_DOORS4} { $SRC }`,
    'CMD_CYCLE_TIMER 3',
  ];
}

async function writeStickRc(stick: LabStick, keys: SpaKeys): Promise<void> {
  await writeFile(
    join(stick.root, '.ssh', 'fwknoprc'),
    clientStanza({ spaServer: SERVER_ADDR, sshPort: 22, keys }, 'home'),
    { mode: 0o600 },
  );
}

function callhome(rig: Rig, args: readonly string[]): Promise<RunResult> {
  return runIn(rig.lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', rig.stick.root, ...args], { env: rig.env });
}

/** Whether fwknopd's door for the client is open: its FWKNOP_INPUT rule, or the nft set CMD_CYCLE_OPEN fills. */
async function spaDoorOpen(rig: Rig, kind: FirewallKind): Promise<boolean> {
  if (kind === 'nftables') return rig.firewall.doorOpen();
  return (await rig.lab.run(rig.lab.serverNs, 'iptables', ['-S', 'FWKNOP_INPUT']).catch(() => '')).includes(CLIENT_ADDR);
}

const explain = (rig: Rig, r: RunResult) => (r.exitCode === 0 ? { exitCode: 0 } : { exitCode: r.exitCode, stderr: r.stderr, fwknopd: rig.fwknopd?.output() });

describe.each<FirewallKind>(['iptables', 'nftables'])('callhome --method spa with the real fwknopd, sshd and %s', (kind) => {
  let rig: Rig;
  const keys = generateKeys();

  beforeAll(async () => {
    let stick: LabStick | undefined;
    const { lab, firewall, fwknopd } = await startFwknopdLab({
      firewall: kind,
      prepare: async (lab) => {
        stick = await makeLabStick(join(lab.dir, 'stick'), await startSshd(lab));
        await writeStickRc(stick, keys);
        await mkdir(join(lab.dir, 'home'));
      },
      fwknopd: () => ({ accessConf: labAccessStanza(keys, accessLines(kind)) }),
    });
    rig = { lab, firewall: firewall as Firewall, stick: stick as LabStick, fwknopd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') } };
  });
  afterAll(async () => {
    await stopFwknopdLab(rig);
  });

  it('gets a shell, spending no sequence (there is no sequence file at all)', async () => {
    const result = await callhome(rig, ['--method', 'spa', '--', 'echo', 'spa-shell-ok']);
    expect(explain(rig, result)).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('spa-shell-ok');
    expect(result.stderr).toMatch(/door open after \d+ ms \(SPA packet\)/);
    expect(rig.fwknopd?.accepted()).toBe(1);
    expect(await spaDoorOpen(rig, kind)).toBe(true);
  });

  it('works again right away with a fresh packet (no replay), chosen by "method = spa" in knockstick.conf', async () => {
    await writeFile(join(rig.stick.root, '.ssh', 'knockstick.conf'), '[home]\nmethod = spa\n', { mode: 0o600 });
    const result = await callhome(rig, ['--', 'true']);
    expect(explain(rig, result)).toEqual({ exitCode: 0 });
    expect(rig.fwknopd?.output()).not.toMatch(/Replay detected/);
  });

  it('wrong keys: the door stays shut and callhome exits 7 saying what to check', async () => {
    // Wait for the earlier doors to close (FW_ACCESS_TIMEOUT / CMD_CYCLE_TIMER 3 s).
    expect(await waitFor(async () => !(await spaDoorOpen(rig, kind)), 15_000, 200)).toBe(true);
    await writeStickRc(rig.stick, generateKeys());
    try {
      const result = await callhome(rig, ['--method', 'spa', '--attempts', '2', '--door-timeout', '700', '--', 'true']);
      expect(result.exitCode).toBe(7);
      expect(result.stderr).toMatch(/did not open after 2 SPA packet\(s\) to 198\.18\.0\.1 udp\/62201/);
      expect(result.stderr).toMatch(/the keys in \[home\] differ from the server's access\.conf/);
    } finally {
      await writeStickRc(rig.stick, keys);
    }
  });
});
