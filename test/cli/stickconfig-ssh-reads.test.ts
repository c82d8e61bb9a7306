// The real OpenSSH client reads the stick's path lines back as the exact paths, whatever the stick's
// directory is called: its ProxyCommand runs the launcher at that path (through sh, bash and dash as
// $SHELL), it loads the key from there and `ssh -G` shows the known_hosts there. No network: the fake launcher records
// its arguments and fails, so ssh stops there.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stickPathLines } from '../../src/core/stick-ssh-config.js';

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'knockstick-stickconfig-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** ssh's log writes bytes beyond ASCII as \ooo. */
const asLogged = (text: string): string => [...Buffer.from(text)].map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\${b.toString(8)}`)).join('');

const names = ['plain', 'with space', "bob's stick", '100% sure', '$HOME and $(id)', '#hash ;semi &amp |pipe', '`tick` *star ?q [b]', 'ünïcødé', "two '' quotes"];
const shells = ['/bin/sh', '/bin/bash', '/bin/dash'].filter((s) => existsSync(s));

describe('ssh reads the stick paths back exactly', () => {
  it.each(names)('a stick in %j', async (name) => {
    const root = join(base, name);
    await mkdir(join(root, '.ssh'), { recursive: true });
    const record = join(base, `${names.indexOf(name)}.args`);
    // The fake launcher: writes where it was started from and its arguments, one per line.
    await writeFile(join(root, 'knockstick'), `#!/bin/sh\nprintf '%s\\n' "$0" "$@" > '${record}'\nexit 1\n`, { mode: 0o700 });
    const p = stickPathLines(root);
    const config = join(root, '.ssh', 'config');
    await writeFile(config, `Host home\n  HostName 192.0.2.1\n  Port 2222\n  ProxyCommand ${p.ProxyCommand}\n  IdentityFile ${p.IdentityFile}\n  UserKnownHostsFile ${p.UserKnownHostsFile}\n  BatchMode yes\n`, { mode: 0o600 });

    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, '.ssh', 'id_ed25519')]);
    // -G expands UserKnownHostsFile; IdentityFile is expanded when ssh loads it (-v: "type 3" = read).
    const g = await execa('ssh', ['-G', '-F', config, 'home'], { cwd: '/' });
    expect(g.stdout.split('\n')).toContain(`userknownhostsfile ${join(root, '.ssh/known_hosts')}`);
    const verbose = await execa('ssh', ['-v', '-F', config, 'home', 'true'], { cwd: '/', reject: false, env: { SHELL: '/bin/sh' } });
    expect(verbose.stderr.split('\n').map((l) => l.trimEnd())).toContain(`debug1: identity file ${asLogged(join(root, '.ssh/id_ed25519'))} type 3`);

    for (const shell of shells) {
      await rm(record, { force: true });
      const run = await execa('ssh', ['-F', config, 'home', 'true'], { cwd: '/', reject: false, env: { SHELL: shell } });
      expect(run.exitCode).toBe(255);
      expect({ shell, args: (await readFile(record, 'utf8')).split('\n') }).toEqual({ shell, args: [join(root, 'knockstick'), 'connect', 'home', '192.0.2.1', '2222', ''] });
    }
  });
});
