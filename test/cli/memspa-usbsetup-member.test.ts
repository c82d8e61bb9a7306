// usbsetup --member NAME: a stick made for the server on this machine is a new member of it (its
// own door), never a copy of another stick's door. Runs the built CLI on staging copies of a
// knockd server and of an SPA server (server init --out), as root (fwknopd reads the new
// access.conf with --exit-parse-config; knockd reads the new knockd.conf in a throwaway namespace).

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, runBin, tempDir } from '../helpers/cli.js';

jest.setTimeout(120_000);

describe('usbsetup --member NAME', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  const at = (...p: string[]) => join(dir.path, ...p);
  const usbsetup = (stick: string, extra: string[]) =>
    runBin('usbsetup', ['--yes', '--into', stick, '--hostname', '198.18.0.1', '--user', 'alice', '--key-passphrase-file', at('key.pass'), ...extra], { cwd: dir.path });

  beforeAll(async () => {
    dir = await tempDir('knockstick-memspa-usbsetup-');
    await writeFile(at('key.pass'), 'a key passphrase\n', { mode: 0o600 });
    for (const s of ['first', 'k2', 'spa1', 'spa2']) await mkdir(at(s, '.ssh'), { recursive: true, mode: 0o700 });
    for (const s of ['first', 'spa1']) await writeFile(at(s, '.ssh', 'config'), 'Host home\n  HostName 198.18.0.1\n', { mode: 0o600 });
  });
  afterAll(async () => dir?.cleanup());

  it('on a knockd server: the stick gets a door [stick-NAME] and a one-time file of its own, in step', async () => {
    const init = await knockstick(['server', 'init', '--yes', '--interface', 'lo', '--out', at('knock'), '--stick', at('first'), '--firewall', 'nftables', '--count', '5']);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const made = await usbsetup(at('k2'), ['--member', 'kim', '--server-config', at('knock', 'server.conf'), '--sequences', '6']);
    expect({ exitCode: made.exitCode, stderr: made.exitCode === 0 ? '' : made.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(`${made.stdout}${made.stderr}`).toMatch(/member kim of this server/);
    expect(await readFile(at('knock', 'knockd.conf'), 'utf8')).toMatch(/\[stick-kim\]/);
    expect(await readFile(at('knock', 'sticks.conf'), 'utf8')).toMatch(/\[kim\]\nmethod = knock\ndoor = stick-kim/);
    const server = await readFile(at('knock', 'stick-kim'), 'utf8');
    expect(await readFile(at('k2', '.ssh', 'sequences'), 'utf8')).toBe(server);
    expect(server.trim().split('\n')).toHaveLength(6);
    // Nothing of the first stick's door was copied or spent.
    const first = await readFile(at('knock', 'ssh'), 'utf8');
    for (const line of server.trim().split('\n')) expect(first).not.toContain(line.trim());
  });

  it('on an SPA server: the stick gets its own access.conf stanza and keys; a second name is refused when taken', async () => {
    const init = await knockstick(['server', 'init', '--yes', '--method', 'spa', '--spa-server', '198.18.0.1', '--interface', 'lo', '--out', at('spa'), '--firewall', 'nftables', '--stick', at('spa1')]);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const flags = ['--method', 'spa', '--member', 'sam', '--server-config', at('spa', 'server.conf')];
    // access.conf and fwknopd.conf are taken next to --server-config (the staging copy's own).
    const made = await usbsetup(at('spa2'), flags);
    expect({ exitCode: made.exitCode, stderr: made.exitCode === 0 ? '' : made.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const access = await readFile(at('spa', 'access.conf'), 'utf8');
    expect(access.match(/^SOURCE/gm)).toHaveLength(2);
    const key = /KEY_BASE64\s+(\S+)/.exec(await readFile(at('spa2', '.ssh', 'fwknoprc'), 'utf8'))?.[1] as string;
    expect(access).toContain(key);
    expect(access).toMatch(/# knockstick stick sam: /);
    await mkdir(at('spa3', '.ssh'), { recursive: true, mode: 0o700 });
    const taken = await usbsetup(at('spa3'), flags);
    expect({ exitCode: taken.exitCode, stderr: taken.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/a stick named sam is already registered/) });
    expect(await readFile(at('spa', 'access.conf'), 'utf8')).toBe(access);
  });
});
