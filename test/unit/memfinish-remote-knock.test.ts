// stick add --remote for a knock member, the stick's side (members/remote.ts): with the connection
// replaced by a fake server, what is sent, what is written on the new stick and when, and what the
// user is told to run on the server when writing the stick fails.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from '../../src/core/command.js';
import type { Remote } from '../../src/seqgen/remote.js';
import { remoteAddKnockMember, type overVia } from '../../src/members/remote.js';

const SEQUENCES = ' 31001,31002,31003,31004,31005\n 31006,31007,31008,31009,31010\n';
const REPLY = { door: 'stick-kim', serverFile: '/etc/knockd/stick-kim', ports: '31000-35031', sequences: SEQUENCES, report: 'Added stick kim: door [stick-kim]' };

describe('stick add --remote (knock), the new stick\'s side', () => {
  let dir = '';
  let stick = '';
  let out = '';
  const calls: { words: readonly string[]; input: string | undefined }[] = [];
  const context = (): CommandContext => ({ args: [], env: {}, cwd: dir, stdout: { write: (t) => void (out += t) }, stderr: { write: () => undefined }, stderrIsTTY: false, invokedAs: 'knockstick stick' });
  const fakeVia = (answer: string): typeof overVia => async (_o, _dir, _context, fn) => {
    const remote: Remote = { run: async (words, input) => (calls.push({ words, input }), answer) };
    return fn(remote, [], 'home');
  };
  const options = () => ({ name: 'kim', viaRoot: '/unused', viaHost: 'home', stickRoot: stick, host: 'home', count: 6, keyFile: undefined, remoteKnockstick: 'knockstick', sudo: true, serverArgs: ['--server-config', '/srv/server.conf'], waitSeconds: 1 });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memfinish-remote-'));
    stick = join(dir, 'stick');
    await mkdir(join(stick, '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 198.18.0.1\n', { mode: 0o600 });
    await writeFile(join(stick, '.ssh', 'id_ed25519.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest kim@stick\n');
    calls.length = 0;
    out = '';
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('asks the server for the door (key on stdin, no secret in argv), then writes the sequences (0600) and server_file/ports', async () => {
    expect(await remoteAddKnockMember(options(), context(), fakeVia(`${JSON.stringify(REPLY)}\n`))).toBe(0);
    expect(calls).toEqual([{ words: ['knockstick', 'stick', 'add', 'kim', '--sequences-stdout', '--count', '6', '--host', 'home', '--server-config', '/srv/server.conf'], input: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest\n' }]);
    const file = join(stick, '.ssh', 'sequences');
    expect(await readFile(file, 'utf8')).toBe(SEQUENCES);
    expect((await lstat(file)).mode & 0o777).toBe(0o600);
    const conf = await readFile(join(stick, '.ssh', 'knockstick.conf'), 'utf8');
    expect(conf).toContain('server_file = /etc/knockd/stick-kim');
    expect(conf).toContain('ports = 31000-35031');
    expect(out).toContain('its 2 sequences');
    expect(out).not.toContain('31001');
  });

  it('an answer that is not the expected JSON: nothing written, the output not echoed, the revoke named', async () => {
    const before = await readdir(join(stick, '.ssh'));
    await expect(remoteAddKnockMember(options(), context(), fakeVia(' 31001,31002,31003\nsomething else\n'))).rejects.toMatchObject({
      message: expect.not.stringContaining('31001'),
      hint: expect.stringContaining('knockstick stick revoke kim'),
    });
    expect(await readdir(join(stick, '.ssh'))).toEqual(before);
  });

  it('writing the stick fails after the server added the door: the sequences are taken off the stick again and the message says to run stick revoke there', async () => {
    await mkdir(join(stick, '.ssh', 'knockstick.conf')); // a directory: the settings cannot be written
    await expect(remoteAddKnockMember(options(), context(), fakeVia(`${JSON.stringify(REPLY)}\n`))).rejects.toMatchObject({
      message: expect.stringContaining("the server has stick kim's door now, but writing the new stick failed"),
      hint: expect.stringContaining('`knockstick stick revoke kim`'),
    });
    expect(await lstat(join(stick, '.ssh', 'sequences')).catch(() => null)).toBeNull();
  });

  it('a stick that already has sequences for the alias is refused before connecting', async () => {
    await writeFile(join(stick, '.ssh', 'sequences'), SEQUENCES, { mode: 0o600 });
    await expect(remoteAddKnockMember(options(), context(), fakeVia('{}'))).rejects.toMatchObject({ message: expect.stringContaining('already has sequences for alias home') });
    expect(calls).toEqual([]);
  });
});
