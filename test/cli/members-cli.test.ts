// `knockstick stick` on a staging server (server init --out): the registry server init writes, the
// migration of a server made before members, and every refusal leaving every file byte-identical.

import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { execa } from 'execa';
import { readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, makeStick, tempDir } from '../helpers/cli.js';

jest.setTimeout(120_000);

let dir: { path: string; cleanup: () => Promise<void> };
let out: string;
const at = (name: string) => join(dir.path, name);

async function newStick(name: string): Promise<string> {
  const root = await makeStick(at(name));
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(root, '.ssh', 'id_ed25519')]);
  return root;
}
/** Every file of the staging dir and the sticks, by path: the "nothing changed" check. */
async function snapshot(): Promise<Record<string, string>> {
  const all: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) all[p] = await readFile(p, 'utf8');
    }
  };
  await walk(dir.path);
  return all;
}
const stick = (...args: string[]) => knockstick(['stick', ...args, '--server-config', join(out, 'server.conf')]);

beforeEach(async () => {
  dir = await tempDir();
  out = at('server');
  const first = await newStick('first');
  const init = await knockstick(['server', 'init', '--yes', '--interface', 'lo', '--out', out, '--stick', first, '--count', '6']);
  expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
});
afterEach(async () => {
  await dir.cleanup();
});

describe('knockstick stick', () => {
  it('server init registers its stick as member "ssh" with its key', async () => {
    const text = await readFile(join(out, 'sticks.conf'), 'utf8');
    const key = (await readFile(at('first/.ssh/id_ed25519.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    expect(text).toContain(`[ssh]\nmethod = knock\ndoor = ssh\none_time_file = ${join(out, 'ssh')}\npool = rest\n`);
    expect(text).toContain(`ssh_key = ${key}\n`);
  });

  it('migration: a server without sticks.conf adopts its door [ssh]; the first stick\'s files stay as they are', async () => {
    await rm(join(out, 'sticks.conf'));
    const before = await snapshot();
    const alice = await newStick('alice');
    const added = await stick('add', 'alice', '--stick', alice, '--count', '4');
    expect({ exitCode: added.exitCode, stderr: added.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(added.stdout).toContain('Registered the existing door [ssh] as member "ssh"');
    const after = await snapshot();
    for (const path of [join(out, 'ssh'), at('first/.ssh/sequences'), at('first/.ssh/config')]) expect(after[path]).toBe(before[path]);
    expect(after[join(out, 'knockd.conf')]).toContain(before[join(out, 'knockd.conf')]?.split('[panic]')[0]?.trimEnd());
    const list = JSON.parse((await stick('list', '--json')).stdout) as { members: { name: string; unused: number }[] };
    expect(list.members.map((m) => [m.name, m.unused])).toEqual([['ssh', 6], ['alice', 4]]);
    // The stick knows its door: a plain seqgen refills its own file, from its own pool.
    const pool = /ports = (\d+)-(\d+)/.exec(await readFile(at('alice/.ssh/knockstick.conf'), 'utf8'));
    expect(await readFile(at('alice/.ssh/knockstick.conf'), 'utf8')).toBe(`[home]\nserver_file = ${join(out, 'stick-alice')}\nports = ${pool?.[1]}-${pool?.[2]}\n`);
    expect(Number(pool?.[2]) - Number(pool?.[1])).toBe(4031);
    const refill = await knockstick(['seqgen', '2', '--stick', alice, '--server-config', join(out, 'server.conf')]);
    expect({ exitCode: refill.exitCode, stdout: refill.stdout }).toEqual({ exitCode: 0, stdout: expect.stringContaining(`server ${join(out, 'stick-alice')}: 4 -> 6 unused`) });
    expect(refill.stdout).toContain(`from ${pool?.[1]}-${pool?.[2]}, this door's pool`);
    for (const port of (await readFile(join(out, 'stick-alice'), 'utf8')).match(/\d+/g) ?? []) expect(Number(port) >= Number(pool?.[1]) && Number(port) <= Number(pool?.[2])).toBe(true);
    // doctor sees both members and no orphan.
    const doctor = JSON.parse((await knockstick(['doctor', '--offline', '--json', '--knockd-conf', join(out, 'knockd.conf'), '--server-config', join(out, 'server.conf'), '--warn-below', '1'])).stdout) as { findings: { id: string; severity: string; message: string }[] };
    expect(doctor.findings.find((f) => f.id === 'members')?.message).toBe(`members: ssh (knock, door ssh), alice (knock, door stick-alice)`);
    expect(doctor.findings.filter((f) => f.id.startsWith('members:'))).toEqual([]);
    // With the stick, doctor compares it with its own door's file (server_file), not [ssh]'s.
    const withStick = JSON.parse((await knockstick(['doctor', '--offline', '--json', '--knockd-conf', join(out, 'knockd.conf'), '--server-config', join(out, 'server.conf'), '--warn-below', '1', '--stick', alice])).stdout) as { findings: { id: string; severity: string; message: string }[] };
    expect(withStick.findings.find((f) => f.id === 'lockstep')).toMatchObject({ severity: 'ok' });
  });

  it('refuses, changing nothing: a bad name, a taken name, a stick with sequences already, unknown and last members', async () => {
    const alice = await newStick('alice');
    expect((await stick('add', 'alice', '--stick', alice, '--count', '4')).exitCode).toBe(0);
    const bob = await newStick('bob');
    const before = await snapshot();
    const cases: Array<[string[], RegExp]> = [
      [['add', 'Bob!', '--stick', bob], /not a stick name/],
      [['add', 'panic', '--stick', bob], /reserved/],
      [['add', 'alice', '--stick', bob], /already registered/],
      [['add', 'carol', '--stick', alice], /already has sequences for alias home/],
      [['add', 'carol'], /needs --stick/],
      [['add', 'carol', '--stick', bob, '--count', '1'], /--count/],
      [['revoke', 'carol'], /no stick named "carol".*members: ssh, alice/],
      [['revoke', 'alice', '--authorized-keys', at('missing')], /no such file/],
      [['list', 'extra'], /unexpected argument/],
      [['frobnicate'], /unknown subcommand/],
      [['list', '--stick', bob], /--stick does not apply/],
    ];
    for (const [args, message] of cases) {
      const result = await stick(...args);
      expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toEqual({ args, exitCode: 2, stderr: expect.stringMatching(message) });
    }
    expect(await snapshot()).toEqual(before);
    expect((await stick('revoke', 'alice')).exitCode).toBe(0);
    const afterRevoke = await snapshot();
    const last = await stick('revoke', 'ssh');
    expect({ exitCode: last.exitCode, stderr: last.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/last stick with a door.*panic/s) });
    expect(await snapshot()).toEqual(afterRevoke);
    const again = await stick('add', 'alice', '--stick', bob);
    expect(again.stderr).toMatch(/never reused/);
    // A second door on a stick, under an alias its ssh config does not have yet: done, with a note.
    const spare = await stick('add', 'spare', '--stick', bob, '--host', 'spare', '--count', '3');
    expect({ exitCode: spare.exitCode, stdout: spare.stdout }).toEqual({ exitCode: 0, stdout: expect.stringContaining('has no usable Host spare entry yet') });
    expect(await readFile(at('bob/.ssh/sequences.spare'), 'utf8')).toMatch(/^( \d+(,\d+){4}\n){3}$/);
  });

  it('an invalid sticks.conf is refused naming file and line, nothing written', async () => {
    await writeFile(join(out, 'sticks.conf'), `${await readFile(join(out, 'sticks.conf'), 'utf8')}colour = red\n`);
    const bob = await newStick('bob');
    const before = await snapshot();
    const result = await stick('add', 'bob', '--stick', bob);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 3, stderr: expect.stringMatching(/sticks\.conf:\d+: unknown key "colour"/) });
    expect(await snapshot()).toEqual(before);
  });

  it('server init run again keeps the added sticks\' doors (knockd.conf unchanged)', async () => {
    const alice = await newStick('alice');
    expect((await stick('add', 'alice', '--stick', alice, '--count', '4')).exitCode).toBe(0);
    const conf = await readFile(join(out, 'knockd.conf'), 'utf8');
    const again = await knockstick(['server', 'init', '--yes', '--interface', 'lo', '--out', out, '--stick', at('first'), '--count', '6']);
    expect({ exitCode: again.exitCode, stderr: again.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(again.stdout).toContain(`unchanged ${join(out, 'knockd.conf')}`);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toBe(conf);
  });

  it('a write that fails half-way is undone: every file as it was (add and revoke)', async () => {
    const alice = await newStick('alice');
    expect((await stick('add', 'alice', '--stick', alice, '--count', '4')).exitCode).toBe(0);
    await writeFile(at('authorized_keys'), await readFile(at('alice/.ssh/id_ed25519.pub'), 'utf8'), { mode: 0o600 });
    // sticks.conf behind a symlink: read through it, never replaced through it (the write fails
    // after the sequences, the stick's settings and knockd.conf were dealt with).
    await rename(join(out, 'sticks.conf'), at('sticks.real'));
    await symlink(at('sticks.real'), join(out, 'sticks.conf'));
    const bob = await newStick('bob');
    const before = await snapshot();
    const added = await stick('add', 'bob', '--stick', bob, '--count', '4');
    expect({ exitCode: added.exitCode, stderr: added.stderr }).toEqual({ exitCode: 6, stderr: expect.stringMatching(/symbolic link/) });
    expect(await snapshot()).toEqual(before);
    const revoked = await stick('revoke', 'alice', '--authorized-keys', at('authorized_keys'));
    expect({ exitCode: revoked.exitCode, stderr: revoked.stderr }).toEqual({ exitCode: 6, stderr: expect.stringMatching(/symbolic link/) });
    expect(await snapshot()).toEqual(before);
  });

  it('router mode (server init --inner) is refused with a clear error', async () => {
    const router = at('router');
    expect((await knockstick(['server', 'init', '--yes', '--interface', 'lo', '--out', router, '--inner', 'nas=10.0.0.2', '--count', '3'])).exitCode).toBe(0);
    const bob = await newStick('bob');
    const before = await snapshot();
    const result = await knockstick(['stick', 'add', 'bob', '--stick', bob, '--server-config', join(router, 'server.conf')]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/router's \(server init --inner: doors nas forward SSH/) });
    expect(await snapshot()).toEqual(before);
  });

  it('--help lists the subcommands and says panic stays the big hammer', async () => {
    const help = (await knockstick(['stick', '--help'])).stdout;
    expect(help).toMatch(/knockstick stick add NAME/);
    expect(help).toMatch(/use panic/);
  });
});
