// The stick on a real dm-crypt kernel: boots a throwaway VM once (scripts/vm, QEMU/TCG, about a
// minute with the rootfs build), runs test/vm/guest-stick.sh in it against a blank 64 MiB virtual
// stick, and turns each "CHECK name ok|fail detail" line it prints into a test here. Then checks
// the stick image from the host side: partition table, LUKS header, passphrase.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { join } from 'node:path';
import { ROOT, tempDir } from '../helpers/cli.js';

const VM_SCRIPT = join(ROOT, 'scripts', 'vm');
const LUKS_PASSPHRASE = 'correct horse luks'; // what guest-stick.sh puts in its passphrase file

interface Check {
  ok: boolean;
  detail: string;
}

let dir: { path: string; cleanup: () => Promise<void> } | undefined;
let output = '';
let exitCode: number | undefined;
const checks = new Map<string, Check>();

beforeAll(async () => {
  dir = await tempDir('knockstick-vm-');
  const rootfs = join(dir.path, 'rootfs.img');
  const stick = join(dir.path, 'stick.img');
  await execa(VM_SCRIPT, ['kernel'], { cwd: ROOT });
  await execa(VM_SCRIPT, ['rootfs', rootfs], { cwd: ROOT });
  const sticks = [stick, join(dir.path, 'exfat.img'), join(dir.path, 'ext4.img')];
  for (const s of sticks) await execa('truncate', ['-s', '64M', s]);
  const run = await execa(VM_SCRIPT, ['run', rootfs, 'sh test/vm/guest-stick.sh', ...sticks], { cwd: ROOT, reject: false, timeout: 900_000, env: { KNOCKSTICK_VM_TIMEOUT: '600' } });
  output = String(run.stdout);
  exitCode = run.exitCode;
  for (const line of output.split('\n')) {
    const m = /CHECK (\S+) (ok|fail) ?(.*)$/.exec(line); // the first line may follow the console reset codes
    if (m !== null) checks.set(m[1] as string, { ok: m[2] === 'ok', detail: m[3] ?? '' });
  }
}, 1_000_000);

afterAll(async () => {
  await dir?.cleanup();
});

/** One guest check; a missing line means the guest script died before it. */
function guest(name: string): void {
  const check = checks.get(name);
  if (check === undefined) throw new Error(`the guest never reported ${name}; VM exit ${exitCode}; last output:\n${output.split('\n').slice(-30).join('\n')}`);
  if (!check.ok) throw new Error(`${name}: ${check.detail}`);
}

describe('the stick in a dm-crypt VM', () => {
  it('boots, runs the whole guest script and powers off with its status', () => {
    guest('guest-done');
    expect(exitCode).toBe(0);
  });

  describe('usbsetup --yes on a blank stick', () => {
    it.each(['usbsetup', 'usbsetup-partition', 'ordinary-part-vfat', 'usbsetup-left-nothing-open', 'host-config-remembered'])('%s', (name) => guest(name));
  });

  describe('secureon / secureoff', () => {
    it.each(['secureoff-when-closed', 'secureon', 'mounted-vfat-for-owner', 'secureon-already-mounted', 'secureoff-while-busy', 'secureoff-names-process', 'still-mounted-after-refusal', 'secureoff', 'closed-and-unmounted', 'secureon-remember', 'remembered-uuid-and-mounted', 'secureon-relocated-paths', 'secureoff-other-config', 'secureon-already-open-mounts-it', 'resume-message', 'secureoff-after-resume'])(
      '%s',
      (name) => guest(name),
    );
  });

  describe('the files on the stick', () => {
    it.each(['stick-files', 'key-owner-and-mode', 'sequences-in-lockstep', 'ssh-config'])('%s', (name) => guest(name));
  });

  describe('using it', () => {
    it.each(['sshd-started', 'ssh-with-stick-config', 'ssh-reached-the-server', 'callhome-dry-run-via-launcher', 'launcher-without-node', 'launcher-names-node'])('%s', (name) => guest(name));
  });

  describe('exfat and ext4, whole disk', () => {
    it.each(['exfat-usbsetup', 'exfat-secureon', 'exfat-mounted-for-owner', 'exfat-key-mode', 'ext4-usbsetup', 'ext4-secureon', 'ext4-real-owner-and-modes', 'ext4-ssh-accepts-key', 'second-sticks-closed', 'ext4-secureon-elsewhere', 'ext4-relocated-keeps-owner', 'ext4-moved-closed'])('%s', (name) => guest(name));
  });

  describe('interrupted with the volume open and mounted', () => {
    it.each(['interrupted-INT-undone', 'interrupted-TERM-undone'])('%s', (name) => guest(name));
  });

  describe('clear failures', () => {
    it.each(['secureon-wrong-passphrase', 'wrong-passphrase-message', 'secureon-device-gone', 'secureon-mountpoint-busy', 'nothing-left-open'])('%s', (name) => guest(name));
  });

  it('left a stick the host reads the same way: two partitions, LUKS2 on the second, the passphrase without its newline', async () => {
    const stick = join(dir?.path ?? '', 'stick.img');
    const table = JSON.parse(String((await execa('sfdisk', ['--json', stick])).stdout)) as { partitiontable: { label: string; partitions: Array<{ size: number; type: string }> } };
    expect(table.partitiontable.label).toBe('dos');
    expect(table.partitiontable.partitions.map((p) => p.type)).toEqual(['c', '83']);
    expect(table.partitiontable.partitions[1]?.size).toBe(32 * 2048); // 32 MiB in 512-byte sectors
    const loop = String((await execa('losetup', ['--find', '--show', '--partscan', stick])).stdout).trim();
    try {
      await execa('partx', ['--update', loop], { reject: false });
      const part = `${loop}p2`;
      expect((await execa('cryptsetup', ['isLuks', '--type', 'luks2', part], { reject: false })).exitCode).toBe(0);
      expect((await execa('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', part], { input: LUKS_PASSPHRASE, reject: false })).exitCode).toBe(0);
      expect((await execa('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', part], { input: `${LUKS_PASSPHRASE}\n`, reject: false })).exitCode).toBe(2);
    } finally {
      await execa('partx', ['--delete', loop], { reject: false });
      await execa('losetup', ['--detach', loop], { reject: false });
    }
  });
});
