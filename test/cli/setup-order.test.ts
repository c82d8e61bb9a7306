// Setup in either order (issue 13 item 2): server init then usbsetup, or usbsetup then server init,
// leave one set of sequences on both sides, in step, with no hand edits. And usbsetup checks the
// machine before its first question (item 7): no answers, confirmation or passphrases wasted on a
// run that cannot finish, and nothing written.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DIST_BIN, knockstick, runBin, tempDir } from '../helpers/cli.js';
import { hasDeviceMapper } from '../../src/usbsetup/preconditions.js';
import { setupSummary } from '../../src/usbsetup/index.js';

const isRoot = process.getuid?.() === 0;
let dir: { path: string; cleanup: () => Promise<void> };
const file = (name: string) => join(dir.path, name);
const unused = (text: string) => text.split('\n').filter((l) => /^ \d+(,\d+)+$/.test(l));

beforeAll(async () => {
  dir = await tempDir('knockstick-order-');
  await writeFile(file('key.pass'), 'key passphrase two\n', { mode: 0o600 });
  await writeFile(file('luks.pass'), 'volume passphrase one\n', { mode: 0o600 });
});
afterAll(async () => dir.cleanup());

const serverInit = (out: string, ...extra: string[]) => knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, ...extra]);
const usbsetupInto = (stick: string, ...extra: string[]) =>
  runBin('usbsetup', ['--yes', '--into', stick, '--hostname', 'home.example.org', '--user', 'alice', '--key-passphrase-file', file('key.pass'), ...extra], { cwd: dir.path });
const status = (server: string, stick: string) => knockstick(['seqgen', 'status', '--server-file', server, '--stick', stick]);
async function newStick(name: string): Promise<string> {
  const stick = file(name);
  await mkdir(stick);
  return stick;
}

describe('setup in either order', () => {
  it('server init, then usbsetup --server-file: the stick gets a copy of exactly the server\'s unused lines, in step', async () => {
    const out = file('a-out');
    expect((await serverInit(out)).exitCode).toBe(0);
    const server = join(out, 'ssh');
    const before = await readFile(server, 'utf8');
    expect(unused(before)).toHaveLength(50);
    const stick = await newStick('a-stick');
    const setup = await usbsetupInto(stick, '--server-file', server);
    expect(setup.exitCode).toBe(0);
    expect(await readFile(server, 'utf8')).toBe(before); // the server file is not touched
    expect(unused(await readFile(join(stick, '.ssh/sequences'), 'utf8'))).toEqual(unused(before));
    expect(setup.stdout).toContain(`The stick has a copy of the 50 unused sequences of ${server}: in lockstep.`);
    expect(existsSync(file('knockd-sequences.home'))).toBe(false); // no second set to append
    const st = await status(server, stick);
    expect(st.exitCode).toBe(0);
    expect(st.stdout).toContain('in step: 50 unused sequence(s) on each side');
  });

  it('the adopted server file with used lines: the stick copies only the unused ones, and is in step', async () => {
    const out = file('u-out');
    expect((await serverInit(out, '--count', '6')).exitCode).toBe(0);
    const server = join(out, 'ssh');
    // knockd marks a used line by overwriting its first byte with '#'.
    const lines = (await readFile(server, 'utf8')).split('\n');
    const marked = lines.map((l, i) => (i < 2 && l.startsWith(' ') ? `#${l.slice(1)}` : l)).join('\n');
    await writeFile(server, marked);
    const stick = await newStick('u-stick');
    const setup = await usbsetupInto(stick, '--server-file', server);
    expect(setup.exitCode).toBe(0);
    expect(setup.stdout).toContain('copy of the 4 unused sequences');
    expect(unused(await readFile(join(stick, '.ssh/sequences'), 'utf8'))).toEqual(unused(marked));
    expect((await status(server, stick)).exitCode).toBe(0);
  });

  it('with --sequences N as well, N new ones are added to both after the copied ones, in lockstep', async () => {
    const out = file('n-out');
    expect((await serverInit(out, '--count', '5')).exitCode).toBe(0);
    const server = join(out, 'ssh');
    const stick = await newStick('n-stick');
    const setup = await usbsetupInto(stick, '--server-file', server, '--sequences', '3');
    expect(setup.exitCode).toBe(0);
    expect(setup.stdout).toContain('copy of the 5 unused sequences');
    expect(setup.stdout).toContain('and 3 new ones were added to both');
    const serverLines = unused(await readFile(server, 'utf8'));
    expect(serverLines).toHaveLength(8);
    expect(unused(await readFile(join(stick, '.ssh/sequences'), 'utf8'))).toEqual(serverLines);
    expect((await status(server, stick)).exitCode).toBe(0);
  });

  for (const count of [[], ['--count', '0']]) {
    it(`usbsetup --server-file first, then server init ${count.join(' ') || '(default --count)'}: server init keeps the file, in step`, async () => {
      const tag = count.length === 0 ? 'b' : 'c';
      const out = file(`${tag}-out`);
      const server = join(out, 'ssh');
      const stick = await newStick(`${tag}-stick`);
      const setup = await usbsetupInto(stick, '--server-file', server, '--sequences', '12');
      expect(setup.exitCode).toBe(0);
      expect(setup.stdout).toContain(`The 12 sequences are in ${server} and on the stick, in lockstep.`);
      const made = await readFile(server, 'utf8');
      const init = await serverInit(out, ...count);
      expect(init.exitCode).toBe(0);
      expect(init.stdout).toContain(`kept ${server}: 12 unused of 12`);
      expect(await readFile(server, 'utf8')).toBe(made);
      const st = await status(server, stick);
      expect(st.exitCode).toBe(0);
      expect(st.stdout).toContain('in step: 12 unused sequence(s) on each side');
    });
  }

  it('the server elsewhere (--sequences 0): the stick gets none, and the output says the repair to run there', async () => {
    const stick = await newStick('e-stick');
    const setup = await usbsetupInto(stick, '--sequences', '0');
    expect(setup.exitCode).toBe(0);
    expect(existsSync(join(stick, '.ssh/sequences'))).toBe(false);
    expect(setup.stdout).toContain('knockstick seqgen repair --server-file /etc/knockd/ssh --stick STICK');
    // What it says, done: server init made the server's; repair copies them; in step.
    const out = file('e-out');
    expect((await serverInit(out, '--count', '4')).exitCode).toBe(0);
    const repair = await knockstick(['seqgen', 'repair', '--server-file', join(out, 'ssh'), '--stick', stick]);
    expect(repair.exitCode).toBe(0);
    expect((await status(join(out, 'ssh'), stick)).exitCode).toBe(0);
  });

  it('--sequences 0 with a --server-file that has no unused lines is refused before the key is made', async () => {
    const stick = await newStick('z-stick');
    const result = await usbsetupInto(stick, '--server-file', file('z-missing'), '--sequences', '0');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('has no unused sequences to copy, and --sequences 0 makes none');
    expect(await readdir(stick)).toEqual([]);
  });

  it('an invalid server file is refused before the key is made, and left as it was', async () => {
    const server = file('bad-server');
    await writeFile(server, ' 1,2,x\n', { mode: 0o600 });
    const stick = await newStick('bad-stick');
    const result = await usbsetupInto(stick, '--server-file', server);
    expect(result.exitCode).toBe(3);
    expect(await readdir(stick)).toEqual([]);
    expect(await readFile(server, 'utf8')).toBe(' 1,2,x\n');
  });
});

describe('usbsetup checks the machine before the first question', () => {
  it('--into a directory that is not there: exit 6 before anything else', async () => {
    const result = await usbsetupInto(file('no-such-dir'));
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`--into ${file('no-such-dir')} is not a directory; nothing was asked or written`);
  });

  it('device-mapper is judged from /proc/misc or /sys/module/dm_mod, never from /dev/mapper/control alone', () => {
    expect(hasDeviceMapper({ procMisc: '237 loop-control\n229 fuse\n', dmModule: false })).toBe(false);
    expect(hasDeviceMapper({ procMisc: null, dmModule: false })).toBe(false);
    expect(hasDeviceMapper({ procMisc: '237 loop-control\n236 device-mapper\n', dmModule: false })).toBe(true);
    expect(hasDeviceMapper({ procMisc: null, dmModule: true })).toBe(true);
  });

  it('the summary before the one erase confirmation says everything that will happen', () => {
    const text = setupSummary(
      'loop0 (64 MiB)',
      { partitionMib: undefined, filesystem: 'vfat' },
      { alias: 'home', method: 'knock', hostName: 'h.example', user: 'u', port: 2222, dynamicForward: undefined, serverHostKey: undefined, sequences: 50, serverFile: '/etc/knockd/ssh', keyPassphraseFile: undefined },
      { weakPbkdfForTests: false, remember: true, hostConfig: '/etc/knockstick/stick.conf', mountpoint: '/mnt/knockstick' },
      64 * 1024 * 1024,
    );
    expect(text).toContain('ERASE loop0 (64 MiB)');
    expect(text).toContain('LUKS2 (argon2id) with vfat inside');
    expect(text).toContain('home = u@h.example port 2222');
    expect(text).toContain('a copy of the unused sequences of /etc/knockd/ssh');
    expect(text).toContain('remember the stick in /etc/knockstick/stick.conf');
  });

  (isRoot ? describe : describe.skip)('on a disk image, as root', () => {
    const noDm = async () => !hasDeviceMapper({ procMisc: await readFile('/proc/misc', 'utf8').catch(() => null), dmModule: existsSync('/sys/module/dm_mod') });
    const zeroes = async (path: string) => (await readFile(path)).every((b) => b === 0);
    const attached = async (path: string) => String((await execa('losetup', ['--associated', path])).stdout).trim();

    it('without device-mapper: exit 6 at once, the image unchanged, no loop device', async () => {
      if (!(await noDm()) || (await execa('dmsetup', ['version'], { reject: false })).exitCode === 0) return; // this kernel has it: test/vm covers the run
      const img = file('nodm.img');
      await execa('truncate', ['-s', '64M', img]);
      const result = await runBin('usbsetup', ['--yes', '--device', img, '--confirm-device', img, '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass'), '--host-config', file('nodm.conf')], { cwd: dir.path });
      expect(result.exitCode).toBe(6);
      expect(result.stderr).toContain('this kernel has no device-mapper');
      expect(result.stderr).toContain('nothing was asked or written');
      expect(await zeroes(img)).toBe(true);
      expect(await attached(img)).toBe('');
      expect(existsSync(file('nodm.conf'))).toBe(false);
    });

    it('without cryptsetup: exit 6 at once, naming the package', async () => {
      const bins = file('bins-no-cryptsetup');
      await mkdir(bins);
      for (const t of ['losetup', 'lsblk']) await symlink((await execa('sh', ['-c', `command -v ${t}`])).stdout, join(bins, t));
      const img = file('nocrypt.img');
      await execa('truncate', ['-s', '16M', img]);
      const result = await runBin('usbsetup', ['--yes', '--device', img, '--confirm-device', img, '--hostname', 'h', '--user', 'u', '--luks-passphrase-file', file('luks.pass'), '--key-passphrase-file', file('key.pass')], { cwd: dir.path, env: { PATH: bins } });
      expect(result.exitCode).toBe(6);
      expect(result.stderr).toContain('cryptsetup is not installed');
      expect(await zeroes(img)).toBe(true);
      expect(await attached(img)).toBe('');
    });
  });
});

describe('the usbsetup wizard asks whether the server has sequences (tmux)', () => {
  const session = `ks-order-${process.pid}`;
  const tmux = (...args: string[]) => execa('tmux', args, { reject: false });
  const screen = async () => String((await tmux('capture-pane', '-p', '-S', '-80', '-t', session)).stdout);
  const waitScreen = async (text: string) => {
    for (let i = 0; i < 200 && !(await screen()).includes(text); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await screen()).toContain(text);
  };
  const type = (...keys: string[]) => tmux('send-keys', '-t', session, ...keys);
  const start = (args: string) => tmux('new-session', '-d', '-s', session, '-c', dir.path, '-x', '200', '-y', '50', `${process.execPath} ${join(DIST_BIN, 'usbsetup.js')} ${args}; echo WIZARD-EXIT=$?; sleep 60`);

  it('yes, on this machine: the stick copies the server file\'s unused lines, in step', async () => {
    const out = file('w-out');
    expect((await serverInit(out, '--count', '9')).exitCode).toBe(0);
    const server = join(out, 'ssh');
    const stick = await newStick('w-stick');
    await start(`--into ${stick} --hostname h --user u --key-passphrase-file ${file('key.pass')} --method knock`);
    try {
      await waitScreen('SOCKS proxy');
      await type('Enter'); // no
      await waitScreen('Does the server already have sequences (server init made them)?');
      await type('y', 'Enter');
      await waitScreen('Is this machine the server?');
      await type(server, 'Enter');
      await waitScreen('WIZARD-EXIT=0');
      expect(await screen()).toContain('copy of the 9 unused sequences');
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect((await status(server, stick)).exitCode).toBe(0);
  }, 60_000);

  it('yes, on another machine: the stick gets none, and the output names the repair to run on the server', async () => {
    const stick = await newStick('w2-stick');
    await start(`--into ${stick} --hostname h --user u --key-passphrase-file ${file('key.pass')} --method knock`);
    try {
      await waitScreen('SOCKS proxy');
      await type('Enter'); // no
      await waitScreen('Does the server already have sequences (server init made them)?');
      await type('y', 'Enter');
      await waitScreen('Is this machine the server?');
      await type('Enter'); // another machine
      await waitScreen('WIZARD-EXIT=0');
      expect((await screen()).replace(/\s+/g, ' ')).toContain('knockstick seqgen repair --server-file /etc/knockd/ssh --stick STICK');
      expect(await screen()).not.toContain("server's copy of the sequences");
    } finally {
      await tmux('kill-session', '-t', session);
    }
    expect(existsSync(join(stick, '.ssh/sequences'))).toBe(false);
    expect(existsSync(file('knockd-sequences.home'))).toBe(false);
  }, 60_000);

  it('--into a missing directory: refused before the first question', async () => {
    await start(`--into ${file('w-missing')}`);
    try {
      await waitScreen('WIZARD-EXIT=6');
      expect(await screen()).toContain('is not a directory');
      expect(await screen()).not.toContain("server's address");
    } finally {
      await tmux('kill-session', '-t', session);
    }
  }, 60_000);
});
