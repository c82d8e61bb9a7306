import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

const BASE = ['server', 'init', '--yes', '--method', 'spa', '--interface', 'eth0'];

describe('knockstick server init --method spa', () => {
  it('--dry-run prints the fwknopd files with the keys hidden, and writes nothing', async () => {
    const out = join(dir.path, 'out');
    const result = await knockstick([...BASE, '--spa-server', 'home.example.org', '--out', out, '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/==> .*\/fwknopd\.conf \(mode 0600\)[\s\S]*ENABLE_UDP_SERVER +Y;/);
    expect(result.stdout).toMatch(/KEY_BASE64 +\(new key, not shown\)/);
    expect(result.stdout).not.toMatch(/KEY_BASE64 +[A-Za-z0-9+/]{20,}/);
    expect(result.stdout).toMatch(/CMD_CYCLE_OPEN +\/usr\/sbin\/nft add element inet knockstick spa4 \{ \$SRC timeout 10s \}/);
    // The element's timeout closes the door; a close command could only delete a newer door.
    expect(result.stdout).toMatch(/^CMD_CYCLE_CLOSE +NONE$/m);
    expect(result.stdout).toContain('    ct state new ip saddr @spa4 tcp dport 22 delete @spa4 { ip saddr } accept\n');
    await expect(readdir(out)).rejects.toThrow();
  });

  it('without a stick writes fwknoprc.client (0600) holding the same keys as access.conf', async () => {
    const out = join(dir.path, 'out');
    const result = await knockstick([...BASE, '--spa-server', '203.0.113.7', '--out', out, '--firewall', 'iptables']);
    expect(result.exitCode).toBe(0);
    const access = await readFile(join(out, 'access.conf'), 'utf8');
    expect(access).toMatch(/^FW_ACCESS_TIMEOUT +10$/m);
    const client = await readFile(join(out, 'fwknoprc.client'), 'utf8');
    for (const name of ['KEY_BASE64', 'HMAC_KEY_BASE64']) {
      const value = new RegExp(`^${name}\\s+(\\S+)$`, 'm').exec(access)?.[1];
      expect(value).toBeDefined();
      expect(client).toContain(value as string);
    }
    expect((await stat(join(out, 'fwknoprc.client'))).mode & 0o777).toBe(0o600);
    expect(result.stdout).toMatch(/Copy .*fwknoprc\.client onto the stick/);
  });

  it.each([
    [['--out', '/tmp/x'], /needs --spa-server HOST/],
    [['--spa-server', 'h', '--count', '5'], /--count is for knockd/],
    [['--spa-server', 'h', '--firewall', 'ufw', '--door-policy', 'single-use'], /with ufw the doors are ufw rules/],
    [['--spa-server', 'h', '--firewall', 'pf'], /--firewall must be nftables, iptables or ufw/],
    [['--spa-server', 'h', '--spa-port', '0'], /--spa-port must be a port number/],
    [['--spa-server', 'h', '--require-username', 'a:b'], /--require-username/],
    [['--spa-server', 'h', '--allow-command', '.*'], /allows every command/],
    [['--spa-server', 'h', '--behind-router', 'router.lan'], /--behind-router must be this server's IPv4 address/],
    [['--spa-server', 'h', '--inner', 'a=1.2.3.4'], /--behind-router ADDR/],
    [['--spa-server', 'h;reboot'], /needs --spa-server HOST/],
  ])('%j is a usage error', async (extra, message) => {
    const result = await knockstick([...BASE, ...extra]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('without --yes the wizard needs a terminal: told so, after the flags were checked', async () => {
    const result = await knockstick(['server', 'init', '--method', 'spa', '--interface', 'eth0']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/no terminal to ask questions on: pass --yes/);
    const typo = await knockstick(['server', 'init', '--method', 'spa', '--spa-port', 'x']);
    expect(typo.stderr).toMatch(/no terminal|--spa-port must be a port number/);
  });

  it('the SPA-only flags are refused with --method knock', async () => {
    const result = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--require-source']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--require-source goes with --method spa/);
  });

  it('--method must be knock or spa', async () => {
    const result = await knockstick(['server', 'init', '--yes', '--method', 'fwknop', '--interface', 'eth0']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--method must be knock or spa/);
  });
});
