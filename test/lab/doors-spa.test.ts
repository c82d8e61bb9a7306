// SPA's single-use door as `server init --method spa --firewall nftables` writes it, with the real
// fwknopd 2.6.10: CMD_CYCLE_OPEN puts the sender into spa4 with a timeout, the first connection
// from it gets in and removes it, the next one is dropped; the door closes by itself even when
// fwknopd is SIGKILLed right after the packet (CMD_CYCLE_CLOSE is NONE); window admits two.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { connectOnce, inDoor, waitForDoor, type DoorPlace } from '../helpers/doors-lab.js';
import { SERVER_ADDR, createLab, runIn, waitFor, type Lab } from '../../src/lab/lab.js';
import { startFwknopd, type FwknopdHandle } from '../../src/lab/fwknopd.js';

jest.setTimeout(120_000);

const CMD_TIMEOUT = 3;
const spa4: DoorPlace = { kind: 'nft', family: 'inet', table: 'knockstick', set: 'spa4' };
/** Stands in for sshd: answers "ssh" on port 22. */
const LISTENER = `require('node:net').createServer((s) => s.end('ssh\\n')).listen(22, '0.0.0.0');`;

describe('SPA with nftables: the spa4 door is single-use', () => {
  let lab: Lab;
  let fwknopd: FwknopdHandle | undefined;

  /** server init --method spa into `dir`, its firewall loaded, fwknopd started on its files. */
  const setUp = async (dir: string, ...extra: string[]) => {
    const init = await knockstick([
      'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf, '--out', dir,
      '--firewall', 'nftables', '--cmd-timeout', String(CMD_TIMEOUT), ...extra,
    ]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    await lab.run(lab.serverNs, 'nft', ['-f', join(dir, 'firewall-spa.nft')]);
    await fwknopd?.stop();
    fwknopd = await startFwknopd(lab, { files: { conf: join(dir, 'fwknopd.conf'), access: join(dir, 'access.conf') }, name: `fwknopd-${dir.slice(-6)}` });
  };
  const send = async (dir: string) => {
    const result = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'spa', 'send', '--rc-file', join(dir, 'fwknoprc.client'), '-n', 'home'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: lab.dir },
    });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
    await waitForDoor(lab, spa4);
  };

  beforeAll(async () => {
    lab = await createLab();
    lab.spawn(lab.serverNs, process.execPath, ['-e', LISTENER]);
    expect(await waitFor(async () => /:22\b/.test(await lab.run(lab.serverNs, 'ss', ['-Htln'])), 5000, 50)).toBe(true);
  });
  afterAll(async () => {
    await fwknopd?.stop();
    await lab?.teardown();
  });

  it('one packet, one connection: the second connection right after is dropped', async () => {
    const dir = join(lab.dir, 'single');
    await setUp(dir);
    expect(await connectOnce(lab)).toBe('dropped');
    await send(dir);
    expect(await connectOnce(lab)).toBe('open:ssh');
    expect(await inDoor(lab, spa4)).toBe(false);
    expect(await connectOnce(lab)).toBe('dropped');
  });

  it('the door closes by itself, with fwknopd SIGKILLed right after the packet', async () => {
    const dir = join(lab.dir, 'single');
    await send(dir);
    fwknopd?.process.kill('SIGKILL');
    await fwknopd?.process;
    fwknopd = undefined;
    expect(await waitFor(async () => !(await inDoor(lab, spa4)), (CMD_TIMEOUT + 5) * 1000, 100)).toBe(true);
    expect(await connectOnce(lab)).toBe('dropped');
  });

  it('--door-policy window admits every connection until the timeout', async () => {
    const dir = join(lab.dir, 'window');
    await setUp(dir, '--door-policy', 'window');
    await send(dir);
    expect(await connectOnce(lab)).toBe('open:ssh');
    expect(await connectOnce(lab)).toBe('open:ssh');
    expect(await waitFor(async () => !(await inDoor(lab, spa4)), (CMD_TIMEOUT + 5) * 1000, 100)).toBe(true);
    expect(await connectOnce(lab)).toBe('dropped');
  });
});
