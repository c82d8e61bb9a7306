// The ProxyCommand plumbing callhome and seqgen --remote share (core/door/proxied.ts): the ssh line,
// the proxy's exit code coming back through the private status directory, and a ConnectTimeout
// long enough for the proxy to knock every attempt.

import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECT_OPTIONS_ENV, CONNECT_STATUS_ENV, decodeHandover, writeStatus } from '../../src/core/door/handover.js';
import { DOOR_DEFAULTS, type Prepared } from '../../src/core/door/index.js';
import { proxiedConnectTimeout, proxiedSsh, withProxyHandover } from '../../src/core/door/proxied.js';

const prepared = {
  layout: { sshConfig: '/stick/.ssh/config', root: '/stick' },
  host: { alias: 'home', hostKeyAlias: 'home.example.org' },
  target: { address: '198.18.0.1', family: 4 },
} as unknown as Prepared;

const privateDir = () => mkdtemp(join(tmpdir(), 'knockstick-proxied-test-'));

describe('proxied ssh', () => {
  it('puts the ProxyCommand on the command line, before the alias (it wins over the config, and an old config has none)', () => {
    const ssh = proxiedSsh('ssh', ['-N'], prepared, ['/usr/bin/node', '/stick/.knockstick/knockstick.mjs']);
    expect(ssh.args).toEqual([
      '-F', '/stick/.ssh/config', '-o', 'HostName=198.18.0.1', '-o', 'HostKeyAlias=home.example.org', '-4',
      '-o', "ProxyCommand='/usr/bin/node' '/stick/.knockstick/knockstick.mjs' connect %n %h %p",
      'home', '-N',
    ]);
    expect(ssh.cwd).toBe('/stick');
  });

  it('hands the proxy its options and a private directory, returns the code it left, and removes the directory', async () => {
    let seen: Readonly<Record<string, string>> = {};
    const { result, proxyCode } = await withProxyHandover({ name: 'seqgen', attempts: 6, doorPolicy: 'single-use' }, privateDir, async (env) => {
      seen = env;
      await writeStatus(env[CONNECT_STATUS_ENV] as string, 7);
      return 255;
    });
    expect({ result, proxyCode }).toEqual({ result: 255, proxyCode: 7 });
    expect(decodeHandover(seen[CONNECT_OPTIONS_ENV])).toEqual({ name: 'seqgen', attempts: 6, doorPolicy: 'single-use' });
    expect(existsSync(seen[CONNECT_STATUS_ENV] as string)).toBe(false);
  });

  it('no code when the proxy relayed; the directory is removed when the start throws too', async () => {
    expect((await withProxyHandover({}, privateDir, async () => 0)).proxyCode).toBeUndefined();
    let dir = '';
    await expect(withProxyHandover({}, privateDir, async (env) => {
      dir = env[CONNECT_STATUS_ENV] as string;
      throw new Error('ssh missing');
    })).rejects.toThrow('ssh missing');
    expect(existsSync(dir)).toBe(false);
  });

  it('ConnectTimeout covers the lock wait and every attempt (a stick config says 10 s)', () => {
    const defaults = { lockWaitSeconds: 30, attempts: DOOR_DEFAULTS.attempts, doorTimeoutMs: DOOR_DEFAULTS.doorTimeoutMs, gapMs: DOOR_DEFAULTS.gapMs, precheckMs: DOOR_DEFAULTS.precheckMs };
    const seconds = proxiedConnectTimeout(defaults);
    expect(seconds).toBeGreaterThan(30 + (6 * 2000 + 1000) / 1000);
    expect(proxiedConnectTimeout({ ...defaults, attempts: 12 })).toBeGreaterThan(seconds);
    expect(Number.isSafeInteger(seconds)).toBe(true);
  });
});
