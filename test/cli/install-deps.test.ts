// scripts/install-deps: the demo installs only what it runs and says what before installing; the
// tests get everything. Run with stand-ins for dpkg-query, apt-get and id on PATH, so the host's
// packages are never touched.

import { describe, expect, it } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, tempDir } from '../helpers/cli.js';

const SCRIPT = join(ROOT, 'scripts', 'install-deps');

/** The package names of one set, as the script declares them. */
async function declared(set: 'DEMO' | 'TEST' | 'BENCH'): Promise<string[]> {
  const text = await readFile(SCRIPT, 'utf8');
  const body = new RegExp(`^${set}=\\(\\n([\\s\\S]*?)^\\)`, 'm').exec(text)?.[1] ?? '';
  return body.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
}

/** Runs the script with fake tools: `installed` are the packages dpkg-query reports present. */
async function run(args: string[], options: { installed: string[]; uid: number }) {
  const tmp = await tempDir();
  try {
    const bin = join(tmp.path, 'bin');
    await mkdir(bin);
    const log = join(tmp.path, 'log');
    const tool = (name: string, body: string) => writeFile(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    await tool('dpkg-query', `case " ${options.installed.join(' ')} " in *" $3 "*) echo 'install ok installed' ;; *) exit 1 ;; esac`);
    await tool('id', `echo ${options.uid}`);
    // -s (simulate) lists what would be installed: the packages asked for plus one dependency.
    await tool('apt-get', `echo "apt-get $*" >>"${log}"; case " $* " in *" -s "*) for p in "$@"; do case $p in -*|install) ;; *) echo "Inst $p (1.0 Debian)" ;; esac; done; echo 'Inst libdep1 (1.0 Debian)' ;; esac`);
    const result = await execa(SCRIPT, args, {
      env: { PATH: `${bin}:/usr/bin:/bin`, KNOCKSTICK_POLICY_RC_D: join(tmp.path, 'policy-rc.d') },
      extendEnv: false,
      reject: false,
    });
    const calls = await readFile(log, 'utf8').catch(() => '');
    return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr), calls: calls.split('\n').filter((l) => l !== '') };
  } finally {
    await tmp.cleanup();
  }
}

describe('scripts/install-deps', () => {
  it('the demo set is what the demo runs; the test set has it all, and qemu, fwknop, ufw only there', async () => {
    const demo = await declared('DEMO');
    const test = await declared('TEST');
    expect(demo).toEqual(['knockd', 'openssh-server', 'openssh-client', 'iptables', 'iproute2', 'util-linux', 'nftables', 'netcat-openbsd']);
    expect(test.slice(0, 1)).toEqual(['"${DEMO[@]}"']);
    for (const p of ['qemu-system-x86', 'fwknop-server', 'fwknop-client', 'ufw', 'cryptsetup-bin', 'help2man', 'zsh', 'zbar-tools']) {
      expect(test).toContain(p);
      expect(demo).not.toContain(p);
    }
  });

  it('refuses to guess which set (exit 2)', async () => {
    const result = await run([], { installed: [], uid: 0 });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/usage: scripts\/install-deps demo\|test/);
    expect(result.calls).toEqual([]);
  });

  it('does nothing and says nothing when all is there', async () => {
    const result = await run(['demo'], { installed: await declared('DEMO'), uid: 0 });
    expect(result).toEqual({ exitCode: 0, stdout: '', stderr: '', calls: [] });
  });

  it('says which packages are missing and what apt will install (with dependencies) before installing only those', async () => {
    const installed = (await declared('DEMO')).filter((p) => p !== 'knockd' && p !== 'iptables');
    const result = await run(['demo'], { installed, uid: 0 });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      'install-deps: the demo needs these Debian packages, missing here: knockd iptables',
      'install-deps: apt-get update',
      'install-deps: installing 3 packages (with dependencies): knockd iptables libdep1',
      'install-deps: done',
    ]);
    expect(result.calls).toEqual(['apt-get update -qq', 'apt-get install -s --no-install-recommends knockd iptables', 'apt-get install -y -qq --no-install-recommends knockd iptables']);
  });

  it('without root names the missing packages and installs nothing (exit 1)', async () => {
    const result = await run(['test'], { installed: [], uid: 1000 });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/the test needs these Debian packages, missing here: knockd openssh-server .* zsh rsync gnupg git zbar-tools ansible-core ansible-lint; run as root/);
    expect(result.calls).toEqual([]);
  });

  it('scripts/demo installs the demo set, scripts/test the test set, the benchmark the test set and python3', async () => {
    expect(await readFile(join(ROOT, 'scripts', 'demo'), 'utf8')).toMatch(/^scripts\/install-deps demo$/m);
    expect(await readFile(join(ROOT, 'scripts', 'test'), 'utf8')).toMatch(/^scripts\/install-deps test$/m);
    expect(await readFile(join(ROOT, 'bench', 'run'), 'utf8')).toMatch(/^scripts\/install-deps bench$/m);
    expect(await declared('BENCH')).toEqual(['"${TEST[@]}"', 'python3-minimal']);
  });
});
