// server init --method spa, checked by running what it wrote: its firewall loaded in the server
// namespace, the real fwknopd 2.6.10 on its fwknopd.conf and access.conf, and callhome from the
// stick it prepared (fwknoprc [home] + "method = spa") getting a shell through the real sshd.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { startSpaStickLab, stopFwknopdLab } from '../helpers/fwknopd-lab.js';
import { CLIENT_ADDR, SERVER_ADDR, runIn, waitFor, type FirewallKind, type Lab } from '../../src/lab/lab.js';
import { startFwknopd, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import type { LabStick } from '../../src/lab/stick.js';

jest.setTimeout(180_000);

describe.each<FirewallKind>(['iptables', 'nftables'])('server init --method spa --firewall %s, run for real', (kind) => {
  let lab: Lab;
  let stick: LabStick;
  let fwknopd: FwknopdHandle | undefined;
  let out: string;

  beforeAll(async () => {
    ({ lab, stick } = await startSpaStickLab());
    out = join(lab.dir, 'server');
  });
  afterAll(async () => {
    await stopFwknopdLab({ lab, fwknopd });
  });

  const doorOpen = async (): Promise<boolean> =>
    kind === 'iptables'
      ? (await lab.run(lab.serverNs, 'iptables', ['-S', 'FWKNOP_INPUT']).catch(() => '')).includes(CLIENT_ADDR)
      : (await lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'spa4'])).includes(CLIENT_ADDR);

  it('writes 0600 configs and the stick side; fwknopd takes them; callhome gets a shell; the door closes again', async () => {
    const init = await knockstick([
      'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf,
      '--out', out, '--firewall', kind, '--stick', stick.root, '--cmd-timeout', '3',
      // fwknopd's own iptables rules admit every connection for the timeout: single-use doors are
      // nftables-only for SPA (test/lab/doors-spa.test.ts checks the single-use spa4 door).
      ...(kind === 'iptables' ? ['--door-policy', 'window'] : []),
    ]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    for (const f of ['fwknopd.conf', 'access.conf']) expect((await stat(join(out, f))).mode & 0o777).toBe(0o600);
    expect((await stat(join(stick.root, '.ssh', 'fwknoprc'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(stick.root, '.ssh', 'knockstick.conf'), 'utf8')).toMatch(/\[home\]\nmethod = spa/);
    // The keys are on both sides, and nowhere in what init printed.
    const key = /KEY_BASE64\s+(\S+)/.exec(await readFile(join(out, 'access.conf'), 'utf8'))?.[1] as string;
    expect(await readFile(join(stick.root, '.ssh', 'fwknoprc'), 'utf8')).toContain(key);
    expect(init.stdout).not.toContain(key);

    if (kind === 'nftables') await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
    else await lab.run(lab.serverNs, 'sh', ['-c', 'iptables-restore < "$1"', 'sh', join(out, 'iptables-spa.rules')]);
    fwknopd = await startFwknopd(lab, { files: { conf: join(out, 'fwknopd.conf'), access: join(out, 'access.conf') }, name: 'fwknopd-run' });
    expect(await doorOpen()).toBe(false);

    const result = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', stick.root, '--', 'echo', 'init-spa-ok'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') },
    });
    expect(result.exitCode === 0 ? { exitCode: 0 } : { exitCode: result.exitCode, stderr: result.stderr, fwknopd: fwknopd.output() }).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('init-spa-ok');
    expect(result.stderr).toMatch(/door open after \d+ ms \(SPA packet\)/);
    // nftables: the single-use spa4 door was spent by the connection ssh used; iptables: fwknopd's
    // own rule stays for the timeout.
    expect(await doorOpen()).toBe(kind === 'iptables');
    expect(await waitFor(async () => !(await doorOpen()), 15_000, 250)).toBe(true);
  });
});
