// usbsetup and secureon on this host, with the real cryptsetup, ssh-keygen and ssh: everything that
// works without device-mapper (which this host kernel lacks; test/vm covers the rest in a VM).
// Disks are only ever image files made here, on loop devices the tests detach.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa, execaSync } from 'execa';
import { chmod, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { DIST_BIN, ROOT, runBin, tempDir } from '../helpers/cli.js';
import { hasDeviceMapper } from '../../src/usbsetup/preconditions.js';

const isRoot = process.getuid?.() === 0;
// Loop devices, cryptsetup on them and mounts need root; CI runs as root, so these are skipped only
// on a developer's unprivileged run.
const asRoot = isRoot ? describe : describe.skip;
// usbsetup refuses a device run up front on a kernel without device-mapper (as this host's is);
// the checks behind that one are then only reached where it has one (test/vm runs them all).
const dm =
  hasDeviceMapper({ procMisc: (() => { try { return readFileSync('/proc/misc', 'utf8'); } catch { return null; } })(), dmModule: existsSync('/sys/module/dm_mod') }) ||
  execaSync('dmsetup', ['version'], { reject: false }).exitCode === 0;
/** Without device-mapper every image run stops at once: exit 6, nothing asked or written. */
function refusedForNoDm(result: { exitCode: number; stderr: string }): boolean {
  if (dm) return false;
  expect(result.exitCode).toBe(6);
  expect(result.stderr).toMatch(/this kernel has no device-mapper.*nothing was asked or written/);
  return true;
}

let dir: { path: string; cleanup: () => Promise<void> };
const file = (name: string) => join(dir.path, name);

beforeAll(async () => {
  dir = await tempDir('knockstick-usbsetup-');
  await writeFile(file('luks.pass'), 'volume passphrase one\n', { mode: 0o600 });
  await writeFile(file('key.pass'), 'key passphrase two\n', { mode: 0o600 });
  await writeFile(file('host_key.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJeRNmtFOx3hYNDRpDKdwQ2ReR5EjWUL3LfYwExwCmmN root@server\n');
});
afterAll(async () => {
  await dir.cleanup();
});

const contentFlags = ['--hostname', 'home.example.org', '--user', 'alice', '--port', '2222', '--sequences', '7', '--server-host-key'];

describe('usbsetup --into DIR: the files on a stick', () => {
  let stick: string;
  let out: { exitCode: number; stdout: string; stderr: string };

  beforeAll(async () => {
    stick = file('stick');
    await mkdir(stick);
    out = await runBin('usbsetup', ['--yes', '--into', stick, ...contentFlags, file('host_key.pub'), '--key-passphrase-file', file('key.pass'), '--dynamic-forward', '1080'], { cwd: dir.path });
  }, 60_000);

  it('succeeds and prints the server-side steps with the authorized_keys line; the sequences go into a 0600 file, never onto the screen', async () => {
    expect(out.exitCode).toBe(0);
    const pub = (await readFile(join(stick, '.ssh/id_ed25519.pub'), 'utf8')).trim();
    expect(out.stdout).toContain(`append this line to ~alice/.ssh/authorized_keys\n       ${pub}\n`);
    const sequences = await readFile(join(stick, '.ssh/sequences'), 'utf8');
    expect(sequences.split('\n').filter((l) => /^ \d+(,\d+){4}$/.test(l))).toHaveLength(7);
    const saved = file('knockd-sequences.home');
    expect(await readFile(saved, 'utf8')).toBe(sequences);
    expect((await stat(saved)).mode & 0o777).toBe(0o600);
    expect(out.stdout).not.toContain('8<');
    for (const line of sequences.trim().split('\n')) expect(out.stdout + out.stderr).not.toContain(line.trim());
    expect(out.stdout).toContain(`is in ${saved} (mode 0600`);
    expect(out.stdout).toContain(`(umask 077 && { [ ! -s /etc/knockd/ssh ] || [ -z "$(tail -c 1 /etc/knockd/ssh)" ] || echo; cat ${saved}; } >> /etc/knockd/ssh) && rm ${saved}`);
  });

  it('writes secrets with tight modes', async () => {
    const mode = async (p: string) => ((await stat(join(stick, p))).mode & 0o777).toString(8);
    expect(await mode('.ssh')).toBe('700');
    expect(await mode('.ssh/id_ed25519')).toBe('600');
    expect(await mode('.ssh/config')).toBe('600');
    expect(await mode('.ssh/sequences')).toBe('600');
    expect(await mode('.knockstick/knockstick.mjs')).toBe('600');
    expect(await mode('callhome')).toBe('700');
  });

  it('makes an ed25519 key that opens with its passphrase (without the newline of the file) and not without it', async () => {
    const key = join(stick, '.ssh/id_ed25519');
    const ok = await execa('ssh-keygen', ['-y', '-P', 'key passphrase two', '-f', key], { reject: false });
    expect(ok.exitCode).toBe(0);
    expect(String(ok.stdout)).toMatch(/^ssh-ed25519 /);
    expect((await execa('ssh-keygen', ['-y', '-P', '', '-f', key], { reject: false })).exitCode).not.toBe(0);
    expect((await execa('ssh-keygen', ['-y', '-P', 'key passphrase two\n', '-f', key], { reject: false })).exitCode).not.toBe(0);
  });

  it('writes an ssh config that ssh itself reads as intended, from any directory', async () => {
    const { stdout } = await execa('ssh', ['-G', '-F', join(stick, '.ssh/config'), 'home'], { cwd: '/' });
    expect(stdout).toMatch(/^hostname home\.example\.org$/m);
    expect(stdout).toMatch(/^user alice$/m);
    expect(stdout).toMatch(/^port 2222$/m);
    // Absolute paths to the --into directory, and the ProxyCommand that knocks (stick-ssh-config.ts).
    expect(stdout.split('\n')).toContain(`identityfile ${join(stick, '.ssh/id_ed25519')}`);
    expect(stdout).toMatch(/^identitiesonly yes$/m);
    expect(stdout.split('\n')).toContain(`userknownhostsfile ${join(stick, '.ssh/known_hosts')}`);
    expect(stdout.split('\n')).toContain(`proxycommand '${join(stick, 'knockstick')}' connect %n %h %p`);
    expect(await readFile(join(stick, '.ssh/knockstick.conf'), 'utf8')).toBe('[home]\ndoor_policy = single-use\n');
    expect(stdout).toMatch(/^dynamicforward \[127\.0\.0\.1\]:1080$/m);
    expect(await readFile(join(stick, '.ssh/known_hosts'), 'utf8')).toBe('[home.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJeRNmtFOx3hYNDRpDKdwQ2ReR5EjWUL3LfYwExwCmmN\n');
  });

  it("carries a launcher that runs the stick's own bundle, wherever it is started from", async () => {
    const result = await execa('sh', [join(stick, 'callhome'), '--help'], { cwd: '/', reject: false });
    expect(result.exitCode).toBe(0);
    expect(String(result.stdout)).toMatch(/callhome/);
    const version = await execa('sh', [join(stick, 'knockstick'), '--version'], { cwd: '/' });
    expect(String(version.stdout)).toMatch(/^\d+\.\d+\.\d+$/);
    await writeFile(file('server-copy'), await readFile(join(stick, '.ssh/sequences')), { mode: 0o600 });
    const status = await execa('sh', ['knockstick', 'seqgen', 'status', '--json', '--server-file', file('server-copy')], { cwd: stick, reject: false });
    expect(status.exitCode).toBe(0);
    expect(String(status.stdout)).toMatch(/"unused": ?7/);
  });

  it('says clearly what is missing when node or ssh is absent (exit 127)', async () => {
    const bins = file('bins-no-node');
    await mkdir(bins);
    for (const t of ['dirname', 'uname', 'ssh']) await symlink((await execa('sh', ['-c', `command -v ${t}`])).stdout, join(bins, t));
    const noNode = await execa('/bin/sh', [join(stick, 'callhome')], { env: { PATH: bins }, extendEnv: false, reject: false });
    expect(noNode.exitCode).toBe(127);
    expect(String(noNode.stderr)).toMatch(/node is not installed on this machine \(knockstick needs Node\.js 18\.19 or newer\)/);
    const noSsh = await execa('/bin/sh', [join(stick, 'callhome')], { env: { PATH: '/nonexistent' }, extendEnv: false, reject: false });
    expect(noSsh.exitCode).toBe(127);
    expect(String(noSsh.stderr)).toMatch(/ssh \(the OpenSSH client\) is not installed/);
  });

  it('never replaces a key: a second run into the same directory changes nothing', async () => {
    const before = await readFile(join(stick, '.ssh/id_ed25519'));
    const again = await runBin('usbsetup', ['--yes', '--into', stick, ...contentFlags, file('host_key.pub'), '--key-passphrase-file', file('key.pass')], { cwd: dir.path });
    expect(again.exitCode).toBe(6);
    expect(again.stderr).toMatch(/usbsetup never replaces a key, config or sequence file/);
    expect(await readFile(join(stick, '.ssh/id_ed25519'))).toEqual(before);
  });

  it('writes the server copy with seqgen when given --server-file: both sides in lockstep', async () => {
    const other = file('stick2');
    await mkdir(other);
    const result = await runBin('usbsetup', ['--yes', '--into', other, '--hostname', 'h', '--user', 'u', '--key-passphrase-file', file('key.pass'), '--sequences', '4', '--server-file', file('server-seq')], { cwd: dir.path });
    expect(result.exitCode).toBe(0);
    expect(await readFile(file('server-seq'), 'utf8')).toBe(await readFile(join(other, '.ssh/sequences'), 'utf8'));
    expect(result.stdout).toContain(`The 4 sequences are in ${file('server-seq')} and on the stick, in lockstep.`);
  });
});

asRoot('usbsetup on a disk image (real cryptsetup, loop devices)', () => {
  const image = () => file('stick.img');
  const zeroes = async (path: string) => (await readFile(path)).every((b) => b === 0);
  const attached = async (path: string) => String((await execa('losetup', ['--associated', path])).stdout).trim();
  const setup = (extra: string[]) =>
    runBin('usbsetup', ['--yes', '--device', image(), '--hostname', '127.0.0.1', '--user', 'root', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass'), '--weak-pbkdf-for-tests', '--host-config', file('stick.conf'), ...extra], { cwd: dir.path });

  beforeAll(async () => {
    await execa('truncate', ['-s', '64M', image()]);
  });

  it('refuses without --confirm-device naming the same device, and touches nothing', async () => {
    const result = await setup(['--confirm-device', '/dev/sdz']);
    if (!refusedForNoDm(result)) {
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/--yes erases .*: confirm with --confirm-device .*stick\.img/);
    }
    expect(await zeroes(image())).toBe(true);
    expect(await attached(image())).toBe('');
  });

  it('refuses the same passphrase for the volume and the key', async () => {
    const result = await runBin('usbsetup', ['--yes', '--device', image(), '--confirm-device', image(), '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('luks.pass')], { cwd: dir.path });
    if (!refusedForNoDm(result)) {
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/the key passphrase is the same as the LUKS passphrase/);
    }
    expect(await zeroes(image())).toBe(true);
  });

  it('refuses a disk with a mounted filesystem', async () => {
    const busy = file('busy.img');
    await execa('truncate', ['-s', '16M', busy]);
    await execa('mkfs.ext4', ['-q', busy]);
    const loop = String((await execa('losetup', ['--find', '--show', busy])).stdout).trim();
    const mnt = file('busy-mnt');
    await mkdir(mnt);
    try {
      await execa('mount', [loop, mnt]);
      const result = await runBin('usbsetup', ['--yes', '--device', loop, '--confirm-device', loop, '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass')], { cwd: dir.path });
      if (!refusedForNoDm(result)) {
        expect(result.exitCode).toBe(2);
        expect(result.stderr).toContain(`refusing to erase ${loop} has mounted filesystems (${mnt})`);
      }
    } finally {
      await execa('umount', [mnt], { reject: false });
      await execa('losetup', ['--detach', loop], { reject: false });
    }
  });

  it('without device-mapper refuses before anything is asked or written (the image stays zeroes)', async () => {
    if (dm) return; // test/vm runs the whole setup on a kernel that has it
    const result = await setup(['--confirm-device', image()]);
    expect(refusedForNoDm(result)).toBe(true);
    expect(await zeroes(image())).toBe(true);
    expect(await attached(image())).toBe('');
  });

  (dm ? it : it.skip)('writes a LUKS2 header that opens with the passphrase exactly as typed, leaving no loop device', async () => {
    const result = await setup(['--confirm-device', image()]);
    expect(result.exitCode).toBe(0);
    expect(await attached(image())).toBe('');
    expect((await execa('cryptsetup', ['isLuks', '--type', 'luks2', image()], { reject: false })).exitCode).toBe(0);
    const dump = String((await execa('cryptsetup', ['luksDump', image()])).stdout);
    expect(dump).toMatch(/^Label:\s+knockstick$/m);
    expect(dump).toMatch(/PBKDF:\s+pbkdf2/); // the weak test KDF; a real stick keeps argon2id
    const test = (input: string) => execa('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', image()], { input, reject: false });
    expect((await test('volume passphrase one')).exitCode).toBe(0);
    expect((await test('volume passphrase one\n')).exitCode).toBe(2);
    expect((await test('key passphrase two')).exitCode).toBe(2);
  }, 60_000);
});

asRoot('secureon on this host', () => {
  it('without a device or a remembered stick says what to pass', async () => {
    const result = await runBin('secureon', ['--host-config', file('none.conf')]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/no DEVICE given and .*none\.conf names no stick/);
  });

  it('refuses a host config that others could have written (it runs as root)', async () => {
    const conf = file('loose.conf');
    await writeFile(conf, 'luks_uuid = 1b4e28ba-2fa1-11d2-883f-0016d3cca427\n');
    await chmod(conf, 0o666);
    const result = await runBin('secureon', ['--host-config', conf]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/loose\.conf is writable by group or others: root will not trust it/);
  });

  it('says when cryptsetup is not installed, and leaves no loop device behind', async () => {
    const bins = file('bins-no-cryptsetup');
    await mkdir(bins);
    for (const t of ['losetup']) await symlink((await execa('sh', ['-c', `command -v ${t}`])).stdout, join(bins, t));
    const img = file('nocrypt.img');
    await execa('truncate', ['-s', '16M', img]);
    const result = await runBin('secureon', [img, '--host-config', file('none.conf'), '--passphrase-file', file('luks.pass')], { env: { PATH: bins } });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/cryptsetup is not installed/);
    expect(result.stderr).toMatch(/apt install cryptsetup-bin/);
    expect(String((await execa('losetup', ['--associated', img])).stdout)).toBe('');
  });

  it('names a device that is not there (exit 6)', async () => {
    const result = await runBin('secureon', ['/dev/nonexistent-stick', '--host-config', file('none.conf'), '--passphrase-file', file('luks.pass')]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/\/dev\/nonexistent-stick does not exist/);
  });

  it('prints host files that pass visudo, sh -n and shellcheck, with fixed arguments only', async () => {
    const conf = file('host.conf');
    await writeFile(conf, 'luks_uuid = 1b4e28ba-2fa1-11d2-883f-0016d3cca427\nowner = root\nmountpoint = /mnt/ks\n', { mode: 0o600 });
    const result = await runBin('secureon', ['--print-host-setup', '--host-config', conf]);
    expect(result.exitCode).toBe(0);
    const sections = new Map(result.stdout.split(/^==> /m).filter((s) => s !== '').map((s) => [s.slice(0, s.indexOf('\n')), s.slice(s.indexOf('\n') + 1)] as const));
    const get = (prefix: string) => [...sections].find(([k]) => k.startsWith(prefix))?.[1] ?? '';
    const sudoers = file('sudoers');
    await writeFile(sudoers, get('/etc/sudoers.d/knockstick'), { mode: 0o440 });
    expect((await execa('visudo', ['-cf', sudoers], { reject: false })).exitCode).toBe(0);
    expect(get('/etc/sudoers.d/knockstick')).toMatch(/^root ALL=\(root\) NOPASSWD: \/usr\/local\/sbin\/knockstick-secure on, \/usr\/local\/sbin\/knockstick-secure off$/m);
    for (const script of ['/usr/local/sbin/knockstick-secure', '/usr/local/bin/secureon', '/usr/local/bin/secureoff']) {
      const path = file(script.replaceAll('/', '_'));
      await writeFile(path, get(script));
      expect((await execa('sh', ['-n', path], { reject: false })).exitCode).toBe(0);
      expect((await execa('shellcheck', ['-S', 'warning', path], { reject: false })).exitCode).toBe(0);
    }
    const wrapper = file('_usr_local_sbin_knockstick-secure');
    for (const args of [[], ['on', '--mountpoint', '/etc'], ['mount'], ['off', 'x']]) {
      const r = await execa('sh', [wrapper, ...args], { reject: false });
      expect(r.exitCode).toBe(2);
      expect(String(r.stderr)).toMatch(/usage: sudo .* on\|off/);
    }
    expect(get('a line for /etc/fstab')).toMatch(/^\/dev\/mapper\/knockstick \/mnt\/ks auto noauto,nosuid,nodev,uid=0,gid=0,umask=077 0 0$/m);
    expect(get('/etc/udev/rules.d/99-knockstick.rules')).toMatch(/ENV\{ID_FS_UUID\}=="1b4e28ba-2fa1-11d2-883f-0016d3cca427", SYMLINK\+="knockstick"/);
  });
});

describe('the usbsetup wizard on a real terminal (tmux)', () => {
  const session = `ks-usbwiz-${process.pid}`;
  const tmux = (...args: string[]) => execa('tmux', args, { reject: false });
  const screen = async () => String((await tmux('capture-pane', '-p', '-S', '-60', '-t', session)).stdout);
  const waitScreen = async (text: string) => {
    for (let i = 0; i < 200 && !(await screen()).includes(text); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await screen()).toContain(text);
  };
  const type = (...keys: string[]) => tmux('send-keys', '-t', session, ...keys);
  const start = (args: string) => tmux('new-session', '-d', '-s', session, '-c', dir.path, '-x', '160', '-y', '50', `${process.execPath} ${join(DIST_BIN, 'usbsetup.js')} ${args}; echo WIZARD-EXIT=$?; sleep 60`);

  it('--into: asks for the server, then the key passphrase is typed into ssh-keygen itself', async () => {
    const stick = file('wizard-stick');
    await mkdir(stick);
    await start(`--into ${stick} --sequences 3`);
    try {
      await waitScreen("Your server's address");
      await type('home.example.org', 'Enter');
      await waitScreen('Your user name on the server');
      await type('alice', 'Enter');
      await waitScreen('SOCKS proxy');
      await type('Enter'); // no
      await waitScreen("server's copy of the sequences");
      await type('Enter'); // into a 0600 file here
      await waitScreen('Enter passphrase'); // ssh-keygen's own prompt
      await type('typed key phrase', 'Enter');
      await waitScreen('Enter same passphrase again');
      await type('typed key phrase', 'Enter');
      await waitScreen('WIZARD-EXIT=0');
      expect(await screen()).toContain('knockd-sequences.home');
      expect(await screen()).not.toContain('-------- 8< --------');
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect((await execa('ssh-keygen', ['-y', '-P', 'typed key phrase', '-f', join(stick, '.ssh/id_ed25519')], { reject: false })).exitCode).toBe(0);
  }, 60_000);

  (isRoot ? it : it.skip)('a disk image: questions, the LUKS passphrase twice with echo off, a summary, then the device name typed to confirm', async () => {
    const img = file('wizard.img');
    await execa('truncate', ['-s', '64M', img]);
    await start(`--device ${img} --hostname h --user u --server-file ${file('wizard-server-seq')} --key-passphrase-file ${file('key.pass')} --weak-pbkdf-for-tests --host-config ${file('wizard.conf')}`);
    try {
      if (!dm) {
        // No device-mapper here: refused before the first question, nothing written.
        await waitScreen('WIZARD-EXIT=6');
        expect(await screen()).toContain('this kernel has no device-mapper');
        expect(await screen()).not.toContain('SOCKS proxy');
        expect((await readFile(img)).every((b) => b === 0)).toBe(true);
        return;
      }
      await waitScreen('SOCKS proxy');
      await type('Enter'); // no
      await waitScreen('Encrypt the whole disk');
      await type('Enter'); // whole
      await waitScreen('Filesystem inside');
      await type('Down', 'Enter'); // exfat
      await waitScreen('Passphrase for the encrypted volume');
      await type('wizard volume phrase', 'Enter');
      await waitScreen('The same passphrase again');
      await type('wizard volume phrase', 'Enter');
      await waitScreen('usbsetup will now:');
      await waitScreen('Type the device name');
      expect(await screen()).toContain('with exfat inside');
      await type(img, 'Enter');
      await waitScreen('WIZARD-EXIT=0');
      expect(await screen()).not.toContain('wizard volume phrase'); // echo off
    } finally {
      await tmux('kill-session', '-t', session);
    }
    const test = (input: string) => execa('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', img], { input, reject: false });
    expect((await test('wizard volume phrase')).exitCode).toBe(0);
    expect((await execa('losetup', ['--associated', img])).stdout).toBe('');
  }, 60_000);
});

describe('usbsetup --method spa: a stick that opens the door with fwknop SPA', () => {
  it('writes fwknoprc (0600) and method = spa, no sequences, and prints the access.conf stanza with the same keys the real fwknop client uses', async () => {
    const { decodeSpaPacket } = await import('../../src/spa/packet.js');
    const stick = file('spa-stick');
    await mkdir(stick);
    const result = await runBin('usbsetup', ['--yes', '--into', stick, '--method', 'spa', '--hostname', '198.18.0.1', '--user', 'alice', '--key-passphrase-file', file('key.pass')], { cwd: dir.path });
    expect(result.exitCode).toBe(0);
    expect((await stat(join(stick, '.ssh/fwknoprc'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(stick, '.ssh/knockstick.conf'), 'utf8')).toBe('[home]\ndoor_policy = single-use\nmethod = spa\n');
    await expect(stat(join(stick, '.ssh/sequences'))).rejects.toThrow();
    // The keys are secret: in a 0600 file, never on the screen.
    expect(result.stdout).not.toContain('KEY_BASE64 ');
    const saved = file('fwknop-access.home.conf');
    expect((await stat(saved)).mode & 0o777).toBe(0o600);
    expect(result.stdout).toContain(`cat ${saved}; } >> /etc/fwknop/access.conf) && rm ${saved}`);
    const stanza = await readFile(saved, 'utf8');
    expect(stanza).toMatch(/^SOURCE +ANY\nOPEN_PORTS +tcp\/22\nKEY_BASE64 +\S+\nHMAC_KEY_BASE64 +\S+\n$/);
    const key = (name: string) => Buffer.from(new RegExp(`^${name} +(\\S+)$`, 'm').exec(stanza)?.[1] ?? '', 'base64');

    const home = file('spa-home');
    await mkdir(home);
    const out = file('spa-packet');
    const fwknop = await execa('fwknop', ['--rc-file', join(stick, '.ssh/fwknoprc'), '-n', 'home', '-T', '--save-packet', out, '--no-save-args'], { env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' }, extendEnv: false, reject: false, stdin: 'ignore' });
    expect({ exitCode: fwknop.exitCode, stderr: fwknop.exitCode === 0 ? '' : String(fwknop.stderr) }).toEqual({ exitCode: 0, stderr: '' });
    const fields = decodeSpaPacket((await readFile(out, 'utf8')).trim(), { encryption: key('KEY_BASE64'), hmac: key('HMAC_KEY_BASE64') });
    expect(fields.message).toBe('0.0.0.0,tcp/22');
  });

  it('refuses --sequences with --method spa', async () => {
    const result = await runBin('usbsetup', ['--yes', '--into', file('x'), '--method', 'spa', '--sequences', '5', '--hostname', 'h', '--user', 'u'], { cwd: dir.path });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/an SPA stick carries keys, not sequences/);
  });
});

describe('usbsetup --executable: a stick that calls home where no node is installed', () => {
  it('carries the self-contained build, which the launcher runs when node is missing', async () => {
    const stick = file('sea-stick');
    await mkdir(stick);
    const result = await runBin('usbsetup', ['--yes', '--into', stick, '--executable', '--hostname', '127.0.0.1', '--user', 'root', '--key-passphrase-file', file('key.pass'), '--sequences', '5'], { cwd: dir.path });
    expect(result.exitCode).toBe(0);
    expect((await stat(join(stick, '.knockstick', 'knockstick-linux-x64'))).mode & 0o777).toBe(0o700);
    // A PATH with ssh and the few tools the launcher uses, and no node anywhere.
    const bins = file('bins-sea');
    await mkdir(bins);
    for (const t of ['dirname', 'uname', 'ssh']) await symlink((await execa('sh', ['-c', `command -v ${t}`])).stdout, join(bins, t));
    const run = (args: string[]) => execa('/bin/sh', [join(stick, 'callhome'), ...args], { cwd: '/', env: { PATH: bins }, extendEnv: false, reject: false });
    const version = await run(['--version']);
    expect({ exitCode: version.exitCode, stdout: String(version.stdout) }).toEqual({ exitCode: 0, stdout: JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version });
    const dry = await run(['--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(String(dry.stdout)).toMatch(/^dry run: nothing is sent/);
    expect(String(dry.stdout)).toMatch(/sequences: .*sea-stick\/\.ssh\/sequences \(5 unused\)/);
  }, 60_000);
});
