// The refill advice (core/refill.ts), the stick check (core/stick.ts) and panic's reachability
// warning, as pure or near-pure functions.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REMOTE_REFILL_MIN, refillAdvice } from '../../src/core/refill.js';
import { verifyStick } from '../../src/core/stick.js';
import { unreachableFromAfar } from '../../src/panic/index.js';

describe('refillAdvice', () => {
  it.each([2, 3, 9])('with %i left, names `seqgen 50 --remote` and the stick, pasteable', (n) => {
    const text = refillAdvice(n, 'home', '/mnt/secure');
    expect(text).toContain('`seqgen 50 --remote --stick /mnt/secure`');
    expect(text).toContain(`works while at least ${REMOTE_REFILL_MIN} are left`);
  });

  it.each([0, 1])('with %i left, says a refill from afar is no longer possible and what works instead', (n) => {
    const text = refillAdvice(n, 'home', '/mnt/secure');
    expect(text).not.toMatch(/while you can/);
    expect(text).toMatch(/no longer possible .* refill at the server, with the stick mounted: `seqgen 50 --stick DIR`/);
  });

  it('another alias gets its own host and a server file to name; an odd path is quoted', () => {
    expect(refillAdvice(5, 'office', "/mnt/it's")).toContain("`seqgen 50 --remote office --server-file FILE --stick '/mnt/it'\\''s'`");
    expect(refillAdvice(1, 'office', '/mnt/s')).toContain('`seqgen 50 --host office --server-file FILE --stick DIR`');
  });
});

describe('verifyStick', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'knockstick-verify-'));
  });
  afterEach(async () => rm(base, { recursive: true, force: true }));

  it('takes a directory holding .ssh/config, refuses one without, and lets usbsetup (making) start from empty', async () => {
    const stick = join(base, 'stick');
    await mkdir(join(stick, '.ssh'), { recursive: true });
    await expect(verifyStick(stick, { HOME: join(base, 'home') })).rejects.toThrow(`no stick at ${stick}: ${join(stick, '.ssh', 'config')} does not exist`);
    await expect(verifyStick(stick, { HOME: join(base, 'home') }, { making: true })).resolves.toMatchObject({ root: stick });
    await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 192.0.2.1\n');
    await expect(verifyStick(stick, { HOME: join(base, 'home') })).resolves.toMatchObject({ sshConfig: join(stick, '.ssh', 'config') });
  });

  it('refuses a home directory even when it looks like a stick, and even when making, by inode', async () => {
    const home = join(base, 'home');
    await mkdir(join(home, '.ssh'), { recursive: true });
    await writeFile(join(home, '.ssh', 'config'), 'Host home\n  HostName 192.0.2.1\n');
    await symlink(home, join(base, 'link'));
    for (const root of [home, join(base, 'link'), join(home, '.ssh', '..')]) {
      await expect(verifyStick(root, { HOME: home })).rejects.toThrow(/is a home directory/);
      await expect(verifyStick(root, { HOME: home }, { making: true })).rejects.toThrow(/is a home directory/);
    }
  });

  it('refuses a .ssh or config that is not what a stick has (a file, a FIFO-like non-regular config)', async () => {
    const stick = join(base, 'stick');
    await mkdir(join(stick, '.ssh', 'config'), { recursive: true });
    await expect(verifyStick(stick, {})).rejects.toThrow(/config is a directory, not a regular file/);
    await writeFile(join(base, 'file'), '');
    await expect(verifyStick(join(base, 'file'), {})).rejects.toThrow(/it is a regular file, not a directory/);
  });
});

describe('unreachableFromAfar', () => {
  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['10.1.2.3', 'a private address'],
    ['172.20.0.1', 'a private address'],
    ['192.168.1.10', 'a private address'],
    ['169.254.1.1', 'a link-local address'],
    ['100.64.0.1', 'a carrier-grade NAT address'],
    ['198.51.100.7', undefined],
    ['172.32.0.1', undefined],
  ])('%s: %s', (address, why) => {
    expect(unreachableFromAfar(address)).toBe(why);
  });
});
