// knockstick connect, the built CLI: help, usage errors, and the hand-over of a failure to callhome.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { knockstick } from '../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'knockstick-connect-cli-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('knockstick connect', () => {
  it('--help shows the ProxyCommand line and the exit codes', async () => {
    const result = await knockstick(['connect', '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("ProxyCommand '/media/you/stick/knockstick' connect %n %h %p");
    expect(result.stdout).toMatch(/7 {2}the door did not open/);
  });

  it('bad command lines exit 2 with what to type', async () => {
    const none = await knockstick(['connect']);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/^knockstick connect: connect needs the ssh alias/m);
    expect(none.stderr).toMatch(/hint: .*connect %n %h %p/);
    expect((await knockstick(['connect', 'home', 'h.example', '99999'])).exitCode).toBe(2);
    expect((await knockstick(['connect', 'home', '-oProxyCommand=x', '22'])).exitCode).toBe(2);
    expect((await knockstick(['connect', 'home', 'h.example'])).exitCode).toBe(2);
    const handover = await knockstick(['connect', 'home'], { env: { KNOCKSTICK_CONNECT: '{"attempts":"many"}' } });
    expect(handover.exitCode).toBe(2);
    expect(handover.stderr).toMatch(/KNOCKSTICK_CONNECT is not what callhome hands over/);
  });

  it('no stick: exit 6 in ssh\'s style', async () => {
    const result = await knockstick(['connect', '--stick', join(dir, 'nowhere'), 'home', '198.18.0.1', '22']);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/^knockstick connect: no stick at /m);
  });

  it('started by callhome: the message carries callhome\'s name, and the code is left in its status directory', async () => {
    const status = await mkdtemp(join(tmpdir(), 'knockstick-connect-status-'));
    try {
      const result = await knockstick(['connect', 'home', '198.18.0.1', '22'], {
        env: { KNOCKSTICK_CONNECT: JSON.stringify({ name: 'callhome', stickRoot: join(dir, 'nowhere') }), KNOCKSTICK_CONNECT_STATUS: status },
      });
      expect(result.exitCode).toBe(6);
      expect(result.stderr).toMatch(/^callhome: no stick at /m);
      expect(await readFile(join(status, 'exit'), 'utf8')).toBe('6\n');
    } finally {
      await rm(status, { recursive: true, force: true });
    }
  });
});
