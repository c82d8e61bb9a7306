import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, makeStick, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

describe('knockstick server init', () => {
  it('--dry-run prints every file and writes nothing', async () => {
    const out = join(dir.path, 'out');
    const result = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--dry-run']);
    expect(result.exitCode).toBe(0);
    for (const name of ['knockd.conf', 'server.conf', 'firewall.nft', 'sshd-knockstick.conf', 'knockd.service.conf']) {
      expect(result.stdout).toContain(`==> ${join(out, name)}`);
    }
    expect(result.stdout).toMatch(/\[panic\][\s\S]*command += kill -TERM/);
    await expect(readdir(out)).rejects.toThrow();
  });

  it('writes a ddclient snippet from the --ddns flags, with the password left to fill in', async () => {
    const out = join(dir.path, 'out');
    const stick = await makeStick(join(dir.path, 'stick'));
    const result = await knockstick([
      'server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--stick', stick,
      '--ddns-protocol', 'dyndns2', '--ddns-server', 'members.example.net', '--ddns-login', 'me', '--ddns-hostname', 'home.example.net',
    ]);
    expect(result.exitCode).toBe(0);
    const ddclient = await readFile(join(out, 'ddclient.conf'), 'utf8');
    expect(ddclient).toMatch(/protocol=dyndns2\nserver=members.example.net\nlogin=me\npassword='FILL-IN-HERE'\nhome.example.net\n/);
  });

  it.each([
    [['server'], /missing subcommand: init/],
    [['server', 'init', '--interface', 'eth0'], /pass --yes/],
    [['server', 'init', '--yes', '--interface', 'eth0;reboot'], /--interface: .* has characters/],
    [['server', 'init', '--yes', '--interface', 'eth0', '--firewall', 'pf'], /--firewall must be nftables, iptables or ufw/],
    [['server', 'init', '--yes', '--interface', 'eth0', '--ddns-login', 'me'], /needs all of --ddns-protocol/],
    [['server', 'init', '--yes', '--interface', 'eth0', '--stick', 'relative/nowhere', '--inner', 'ssh=10.0.0.1'], /ssh is reserved/],
  ])('%j is a usage error', async (args, message) => {
    const result = await knockstick(args, { cwd: dir.path });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('server init without a stick', () => {
  it('writes the server file alone and says how the stick gets the same lines; seqgen repair then puts them in step', async () => {
    const out = join(dir.path, 'out');
    const result = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--count', '7']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/7 one-time sequences \(server side only\)[\s\S]*seqgen repair --server-file .*\/ssh --stick STICK/);
    const stick = await makeStick(join(dir.path, 'stick'));
    const repair = await knockstick(['seqgen', 'repair', '--server-file', join(out, 'ssh'), '--stick', stick, '--server-config', join(out, 'server.conf')]);
    expect(repair.exitCode).toBe(0);
    const status = await knockstick(['seqgen', 'status', '--json', '--server-file', join(out, 'ssh'), '--stick', stick, '--server-config', join(out, 'server.conf')]);
    expect(JSON.parse(status.stdout)).toMatchObject({ lockstep: { state: 'in-step' }, server: { unused: 7 }, stick: { unused: 7 } });
    const panic = /panic_sequence = ([\d,]+)/.exec(await readFile(join(out, 'server.conf'), 'utf8'))?.[1]?.split(',') ?? [];
    const used = new Set((await readFile(join(out, 'ssh'), 'utf8')).match(/\d+/g));
    expect(panic.filter((p) => used.has(p))).toEqual([]);
  });
});

describe('the generated systemd drop-in', () => {
  it('is accepted by systemd-analyze verify without a single complaint about it', async () => {
    const out = join(dir.path, 'out');
    const stick = await makeStick(join(dir.path, 'stick'));
    expect((await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--stick', stick])).exitCode).toBe(0);
    const units = join(dir.path, 'units');
    await mkdir(join(units, 'knockd.service.d'), { recursive: true });
    await writeFile(join(units, 'knockd.service'), '[Unit]\nDescription=knockd as Debian ships it\n[Service]\nExecStart=/usr/sbin/knockd\n');
    await writeFile(join(units, 'knockd.service.d', 'knockstick.conf'), await readFile(join(out, 'knockd.service.conf'), 'utf8'));
    const { execa } = await import('execa');
    const verify = await execa('systemd-analyze', ['verify', join(units, 'knockd.service')], { env: { SYSTEMD_UNIT_PATH: `${units}:` }, reject: false });
    expect({ exitCode: verify.exitCode, complaints: String(verify.stderr).split('\n').filter((l) => l.includes('knockstick.conf')) }).toEqual({ exitCode: 0, complaints: [] });
  });
});

describe('the server init wizard on a real terminal (tmux)', () => {
  it('asks its questions, shows the files, and writes them after the confirmation', async () => {
    const out = join(dir.path, 'out');
    const stick = await makeStick(join(dir.path, 'stick'));
    const session = `ks-wizard-${process.pid}`;
    const { execa } = await import('execa');
    const { DIST_BIN } = await import('../helpers/cli.js');
    const tmux = (...args: string[]) => execa('tmux', args, { reject: false });
    const screen = async () => String((await tmux('capture-pane', '-p', '-t', session)).stdout);
    const waitScreen = async (text: string) => {
      for (let i = 0; i < 100 && !(await screen()).includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await screen()).toContain(text);
    };
    await tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', `${process.execPath} ${join(DIST_BIN, 'knockstick.js')} server init --out ${out} --interface eth0 --count 12; echo WIZARD-EXIT=$?; sleep 60`);
    try {
      await waitScreen('Firewall:');
      await tmux('send-keys', '-t', session, 'Down', 'Enter'); // iptables
      await waitScreen('What may a door let in?');
      await tmux('send-keys', '-t', session, 'Enter'); // single-use
      await waitScreen('Where is the stick mounted?');
      await tmux('send-keys', '-t', session, stick, 'Enter');
      await waitScreen('Other services to keep reachable');
      await tmux('send-keys', '-t', session, 'Enter'); // none
      await waitScreen('dynamic DNS');
      await tmux('send-keys', '-t', session, 'Enter'); // no
      await waitScreen('Write these');
      expect(await screen()).toContain(`${out}/iptables.rules`);
      await tmux('send-keys', '-t', session, 'Enter');
      await waitScreen('WIZARD-EXIT=0');
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect((await readdir(out)).sort()).toEqual(['ip6tables.rules', 'iptables.rules', 'knockd.conf', 'knockd.service.conf', 'server.conf', 'ssh', 'sshd-knockstick.conf', 'sticks.conf']);
    expect((await readFile(join(out, 'ssh'), 'utf8')).trim().split('\n')).toHaveLength(12);
  });
});
