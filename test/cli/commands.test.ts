import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, knockstick, runBin } from '../helpers/cli.js';

const BINS = ['knockstick', 'seqgen', 'callhome', 'usbsetup', 'secureon', 'secureoff'];

describe('every command answers --help with examples and exit codes', () => {
  it('package.json declares exactly the documented bins', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(Object.keys(pkg.bin).sort()).toEqual([...BINS].sort());
  });

  it.each(BINS)('%s --help', async (bin) => {
    const result = await runBin(bin, ['--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Usage:/);
    expect(result.stdout).toMatch(/Examples/);
    expect(result.stdout).toMatch(/Exit codes/);
  });

  it.each(['seqgen', 'callhome', 'panic', 'server', 'spa', 'doctor', 'usbsetup', 'secureon', 'secureoff'])('knockstick %s --help', async (name) => {
    const result = await knockstick([name, '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`knockstick ${name}`));
    expect(result.stdout).toMatch(/Exit codes/);
  });
});

describe('callhome without a stick', () => {
  it('says where it looked and exits 6, sending nothing', async () => {
    const result = await runBin('callhome', ['--stick', '/nonexistent-stick', '--', 'true']);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/no stick at \/nonexistent-stick: no such directory/);
    expect(result.stderr).toMatch(/hint: is the stick mounted/);
  });

  it('rejects a stray argument before "--" with a hint about ssh arguments', async () => {
    const result = await runBin('callhome', ['home', 'uptime']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/arguments for ssh go after "--"/);
  });
});

describe('the knockstick entry', () => {
  it('prints its version from package.json', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await knockstick(['--version'])).stdout.trim()).toBe(pkg.version);
    expect((await runBin('seqgen', ['--version'])).stdout.trim()).toBe(pkg.version);
  });

  it('lists the commands when run bare, exiting 2', async () => {
    const result = await knockstick([]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toMatch(/seqgen +add one-time knock sequences/);
  });

  it('rejects an unknown command with exit 2', async () => {
    const result = await knockstick(['sekgen']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/unknown command "sekgen"/);
  });

  it('usbsetup --yes names the first missing answer (exit 2)', async () => {
    const result = await runBin('usbsetup', ['--yes', '--device', '/dev/null']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--yes needs --hostname HOST/);
  });
});
