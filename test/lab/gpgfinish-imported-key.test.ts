// server init --method spa --gpg --gpg-import with fwknopd's existing key (it has a passphrase, given
// with --gpg-passphrase-file), run for real: doctor gives both keyrings a clean bill, the real
// fwknopd 2.6 takes the files and decrypts with the imported key, and it accepts the stick's
// signature (the imported key's certification counts: it gets ultimate ownertrust), so callhome
// gets a shell. Every gpg-agent started for these keyrings is stopped in afterAll.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { startSpaStickLab, stopFwknopdLab } from '../helpers/fwknopd-lab.js';
import { SERVER_ADDR, runIn, type Lab } from '../../src/lab/lab.js';
import type { LabStick } from '../../src/lab/stick.js';
import { startFwknopd, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import { ensureGpgHome, generateKey, stopAgent } from '../../src/spa/gpg.js';
import { run } from '../../src/core/run.js';

jest.setTimeout(180_000);

const PASS = 'existing fwknopd key #7';

describe('server init --gpg --gpg-import (a key with a passphrase), doctor, fwknopd and callhome for real', () => {
  let lab: Lab;
  let stick: LabStick;
  let fwknopd: FwknopdHandle | undefined;
  const homes: string[] = [];

  beforeAll(async () => {
    ({ lab, stick } = await startSpaStickLab());
    homes.push(join(lab.dir, 'origin'), join(lab.dir, 'gnupg-server'), join(stick.root, '.gnupg'));
  });
  afterAll(async () => {
    await stopFwknopdLab({ lab, fwknopd }, async () => {
      for (const h of homes) await stopAgent(h);
    });
  });

  it('imports the key, doctor finds nothing wrong, fwknopd opens the door for callhome', async () => {
    const origin = homes[0] as string;
    await ensureGpgHome(origin);
    const fpr = await generateKey(origin, 'fwknopd from before <old@lab>', 'ed25519', Buffer.from(PASS));
    const exported = await run({ file: 'gpg', args: ['--homedir', origin, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase-fd', '3', '--armor', '--export-secret-keys', fpr], purpose: 'export', fd3: Buffer.from(`${PASS}\n`) });
    await writeFile(join(lab.dir, 'key.asc'), exported.stdout, { mode: 0o600 });
    await writeFile(join(lab.dir, 'pass'), `${PASS}\n`, { mode: 0o600 });

    const out = join(lab.dir, 'server');
    const init = await knockstick([
      'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf, '--out', out, '--firewall', 'nftables',
      '--stick', stick.root, '--cmd-timeout', '3', '--gpg', '--gpg-home-dir', homes[1] as string, '--gpg-key-type', 'ed25519',
      '--gpg-import', join(lab.dir, 'key.asc'), '--gpg-passphrase-file', join(lab.dir, 'pass'),
    ]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(init.stdout).not.toContain(PASS);
    const access = await readFile(join(out, 'access.conf'), 'utf8');
    expect(access).toContain(`GPG_DECRYPT_ID          ${fpr}\nGPG_DECRYPT_PW          ${PASS}\n`);
    const clientFpr = /GPG_FINGERPRINT_ID\s+([0-9A-F]{40})/.exec(access)?.[1] as string;

    const doctor = await knockstick(['doctor', '--access-conf', join(out, 'access.conf'), '--stick', stick.root]);
    expect({ code: doctor.exitCode, tail: doctor.stdout.trim().split('\n').pop() }).toEqual({ code: 0, tail: '0 error(s), 0 warning(s)' });

    await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
    fwknopd = await startFwknopd(lab, { files: { conf: join(out, 'fwknopd.conf'), access: join(out, 'access.conf') }, name: 'fwknopd-imported' });
    const result = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', stick.root, '--', 'echo', 'imported-key-ok'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home') },
    });
    expect(result.exitCode === 0 ? { exitCode: 0 } : { exitCode: result.exitCode, stderr: result.stderr, fwknopd: fwknopd.output() }).toEqual({ exitCode: 0 });
    expect(result.stdout.trim()).toBe('imported-key-ok');
    expect(fwknopd.output()).toContain(`signed by '${clientFpr.slice(-8)}'`);
  });
});
