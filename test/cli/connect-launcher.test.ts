// The stick's callhome launcher (templates/stick-launcher.sh) run by sh with a stand-in ssh: a
// plain `callhome [ALIAS] [-- ARGS]` runs ssh at once with the ProxyCommand (node starts only as
// the proxy), maps the proxy's recorded exit code, and drops NODE_EXTRA_CA_CERTS; anything else
// goes the slow way through node's callhome.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { launcherText, ownBundle, BUNDLE_PATH } from '../../src/usbsetup/content.js';

let dir: string;
let stick: string;
let bin: string;
let tmp: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "knockstick-launcher it's 100%-"));
  stick = join(dir, 'stick');
  bin = join(dir, 'bin');
  tmp = join(dir, 'tmp');
  await mkdir(join(stick, '.ssh'), { recursive: true });
  await mkdir(join(stick, '.knockstick'));
  await mkdir(bin);
  await mkdir(tmp);
  await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 127.0.0.1\n');
  await copyFile(ownBundle(), join(stick, BUNDLE_PATH));
  await writeFile(join(stick, 'callhome'), await launcherText('callhome'), { mode: 0o700 });
  await writeFile(join(stick, 'knockstick'), await launcherText(undefined), { mode: 0o700 });
  // The stand-in ssh: prints what it got, then behaves as $FAKE_SSH says.
  await writeFile(
    join(bin, 'ssh'),
    [
      '#!/bin/sh',
      'printf "cwd=%s\\n" "$PWD"',
      'for a in "$@"; do printf "arg=%s\\n" "$a"; done',
      'printf "extra_ca=%s\\n" "${NODE_EXTRA_CA_CERTS-unset}"',
      'printf "launcher_dir=%s\\n" "$KNOCKSTICK_LAUNCHER_DIR"',
      'printf "handover=%s\\n" "$KNOCKSTICK_CONNECT"',
      'printf "status=%s\\n" "$KNOCKSTICK_CONNECT_STATUS"',
      'ls -ld "$KNOCKSTICK_CONNECT_STATUS" | cut -c1-10 | sed "s/^/mode=/"',
      'case $FAKE_SSH in',
      '  proxy-failed) echo 7 > "$KNOCKSTICK_CONNECT_STATUS/exit"; kill -INT $$ ;;',
      '  *) exit "${FAKE_SSH:-0}" ;;',
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

function launch(args: readonly string[], env: Record<string, string> = {}) {
  return execa('sh', [join(stick, 'callhome'), ...args], {
    reject: false,
    cwd: '/',
    env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, TMPDIR: tmp, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', ...env },
    extendEnv: false,
  });
}

const field = (stdout: string, name: string): string[] => stdout.split('\n').filter((l) => l.startsWith(`${name}=`)).map((l) => l.slice(name.length + 1));

describe("the stick's callhome launcher", () => {
  it('runs ssh at once with the ProxyCommand, in the stick, with the hand-over and without NODE_EXTRA_CA_CERTS', async () => {
    const result = await launch(['office', '--', 'uptime', '-p']);
    expect(result.exitCode).toBe(0);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;
    expect(field(result.stdout, 'arg')).toEqual([
      '-F', join(stick, '.ssh', 'config'),
      '-o', `ProxyCommand=${q(process.execPath)} ${q(join(stick, BUNDLE_PATH))} connect %n %h %p`,
      // Where the stick's files are now, whatever its config says (it may name where it was made).
      '-o', `UserKnownHostsFile="${join(stick, '.ssh', 'known_hosts').replace(/%/g, '%%')}"`,
      '-o', `IdentityFile="${join(stick, '.ssh', 'id_ed25519').replace(/%/g, '%%')}"`,
      // Through the proxy, ssh's ConnectTimeout bounds the knocking too (the defaults' worth).
      '-o', 'ConnectTimeout=71',
      'office', 'uptime', '-p',
    ]);
    expect(field(result.stdout, 'cwd')).toEqual([stick]);
    expect(field(result.stdout, 'extra_ca')).toEqual(['unset']);
    expect(field(result.stdout, 'launcher_dir')).toEqual([stick]);
    expect(JSON.parse(field(result.stdout, 'handover')[0] as string)).toEqual({ name: 'callhome', report: true });
    expect(field(result.stdout, 'mode')).toEqual(['drwx------']);
    expect(await readdir(tmp)).toEqual([]); // the status directory is gone
  });

  it('the default alias, and ssh\'s own exit status when the proxy left none', async () => {
    const result = await launch([], { FAKE_SSH: '42' });
    expect(result.exitCode).toBe(42);
    expect(field(result.stdout, 'arg').slice(-1)).toEqual(['home']);
  });

  it("exits with the proxy's recorded code when it failed before relaying", async () => {
    const result = await launch(['--', 'true'], { FAKE_SSH: 'proxy-failed' });
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toBe('');
    expect(await readdir(tmp)).toEqual([]);
  });

  it('prefers the small proxy bundle (connect alone) when the stick has it, for callhome and for `knockstick connect`', async () => {
    await copyFile(join(dirname(ownBundle()), 'connect.mjs'), join(stick, '.knockstick', 'connect.mjs'));
    try {
      const result = await launch([]);
      expect(field(result.stdout, 'arg')).toContain(`ProxyCommand='${process.execPath}' '${join(stick, '.knockstick', 'connect.mjs').replace(/'/g, `'\\''`).replace(/%/g, '%%')}' connect %n %h %p`);
      const help = await execa('sh', [join(stick, 'knockstick'), 'connect', '--help'], { reject: false, env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` }, extendEnv: false });
      expect(help.exitCode).toBe(0);
      expect(help.stdout).toMatch(/^Usage:\n {2}knockstick connect \[options\] ALIAS \[HOST PORT\]/);
    } finally {
      await rm(join(stick, '.knockstick', 'connect.mjs'));
    }
  });

  it('anything else goes through node: callhome --dry-run shows its ssh command with the ProxyCommand', async () => {
    const result = await launch(['--dry-run', '--', 'true']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/would run \(in .*\): ssh -F .* -o 'ProxyCommand=.* connect %n %h %p' -o ConnectTimeout=\d+ home true/);
    expect(field(result.stdout, 'arg')).toEqual([]); // ssh never ran
    const bad = await launch(['home', 'extra']);
    expect(bad.exitCode).toBe(2);
  });
});
