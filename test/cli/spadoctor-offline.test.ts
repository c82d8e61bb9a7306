// doctor --offline on the staging copy `server init --method spa --out DIR` writes (the built CLI):
// a clean bill in --json, sshd's port taken from --sshd-config's Port lines, the files untouched.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
let out: string;
beforeAll(async () => {
  dir = await tempDir('knockstick-spadoctor-');
  out = join(dir.path, 'server');
  const init = await knockstick(['server', 'init', '--yes', '--method', 'spa', '--spa-server', '192.0.2.1', '--interface', 'eth0', '--out', out, '--firewall', 'nftables']);
  expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
});
afterAll(async () => {
  await dir.cleanup();
});

interface Json {
  readonly ok: boolean;
  readonly errors: number;
  readonly findings: ReadonlyArray<{ id: string; severity: string; message: string; fix: string }>;
}

const doctor = async (sshd: string): Promise<{ exitCode: number; json: Json }> => {
  const r = await knockstick(['doctor', '--offline', '--json', '--fwknopd-conf', join(out, 'fwknopd.conf'), '--access-conf', join(out, 'access.conf'), '--sshd-config', sshd, '--server-config', join(dir.path, 'none.conf')]);
  return { exitCode: r.exitCode, json: JSON.parse(r.stdout) as Json };
};

describe('doctor --offline --fwknopd-conf on a staging copy', () => {
  it('gives a clean bill in --json, then names OPEN_PORTS against a drop-in with another Port; the files stay as they were', async () => {
    const before = await readFile(join(out, 'access.conf'));
    const clean = await doctor(join(out, 'sshd-knockstick.conf'));
    expect(clean.exitCode).toBe(0);
    expect(clean.json).toMatchObject({ ok: true, errors: 0 });
    // Not root: the real fwknopd is not asked (a warning); root: it agrees.
    expect(clean.json.findings.filter((f) => f.severity !== 'ok' && f.id !== 'fwknopd:probe')).toEqual([]);
    expect(clean.json.findings.map((f) => f.id)).toEqual(expect.arrayContaining(['fwknopd.conf', 'access.conf', 'access:key', 'access:hmac', 'access:open-ports', 'fwknopd:port']));

    const dropIn = join(dir.path, 'sshd-2222.conf');
    await writeFile(dropIn, 'PasswordAuthentication no\nPort 2222\n');
    const moved = await doctor(dropIn);
    expect(moved.exitCode).toBe(9);
    expect(moved.json.findings.filter((f) => f.severity === 'error')).toEqual([
      expect.objectContaining({ id: 'access:open-ports', message: expect.stringMatching(/OPEN_PORTS tcp\/22 does not include sshd's port 2222/), fix: expect.stringMatching(/tcp\/2222/) }),
    ]);
    expect(await readFile(join(out, 'access.conf'))).toEqual(before);
  });
});
