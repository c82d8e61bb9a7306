import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { candidateDisks, parseLsblk, refusalReason } from '../../src/core/disks.js';
import { formatHostConfig, parseHostConfig } from '../../src/core/host-config.js';
import { mountAt, parseMountinfo } from '../../src/core/mounts.js';
import { readPassphraseFile } from '../../src/core/secrets.js';
import { lookupOwner, mountOptions } from '../../src/core/volume.js';
import { knownHostsLine, sshConfigText } from '../../src/usbsetup/content.js';
import { serverSteps } from '../../src/usbsetup/index.js';
import { partitionPath, planPartitions } from '../../src/usbsetup/partition.js';

const disk = (over: Record<string, unknown>) => ({ name: 'sdb', path: '/dev/sdb', type: 'disk', size: 8 * 2 ** 30, model: 'Cruzer', tran: 'usb', rm: true, ro: false, mountpoints: [null], fstype: null, ...over });

describe('which disks usbsetup may erase', () => {
  const lsblk = JSON.stringify({
    blockdevices: [
      disk({ name: 'vda', path: '/dev/vda', rm: false, tran: null, mountpoints: [null], children: [disk({ name: 'vda1', path: '/dev/vda1', type: 'part', mountpoints: ['/', '/run/netns'] })] }),
      disk({ name: 'sdb' }),
      disk({ name: 'sdc', path: '/dev/sdc', children: [disk({ name: 'sdc1', path: '/dev/sdc1', type: 'part', mountpoints: ['/media/photos'] })] }),
      disk({ name: 'sdd', path: '/dev/sdd', children: [disk({ name: 'sdd2', path: '/dev/sdd2', type: 'part', children: [disk({ name: 'knockstick', path: '/dev/mapper/knockstick', type: 'crypt', mountpoints: [null] })] })] }),
      disk({ name: 'sde', path: '/dev/sde', rm: '1', ro: '1' }),
      disk({ name: 'sdf', path: '/dev/sdf', size: 0 }),
    ],
  });
  const devices = parseLsblk(lsblk);

  it('never the disk holding /, even through a partition', () => {
    expect(refusalReason(devices[0]!)).toMatch(/holds the running system/);
  });
  it('never a disk with something mounted, naming the mountpoints', () => {
    expect(refusalReason(devices[2]!)).toBe('/dev/sdc has mounted filesystems (/media/photos): unmount them first');
  });
  it('never a disk with an open LUKS volume, a read-only disk or an empty card reader', () => {
    expect(refusalReason(devices[3]!)).toMatch(/open encrypted volume \(knockstick\)/);
    expect(refusalReason(devices[4]!)).toMatch(/read-only/);
    expect(refusalReason(devices[5]!)).toMatch(/no medium/);
  });
  it('a blank USB stick is fine; the wizard offers removable or USB disks only', () => {
    expect(refusalReason(devices[1]!)).toBeUndefined();
    expect(candidateDisks(devices).map((d) => d.name)).toEqual(['sdb', 'sdc', 'sdd', 'sde', 'sdf']);
  });
});

describe('the partition at the end', () => {
  it('leaves the rest as FAT32 in front of N MiB for LUKS', () => {
    expect(planPartitions(64 * 2 ** 20, 32)).toEqual({ restMib: 31, secureMib: 32, script: 'label: dos\n,31MiB,c\n,+,83\n' });
  });
  it('refuses a partition that leaves (almost) nothing in front', () => {
    expect(() => planPartitions(64 * 2 ** 20, 60)).toThrow(/leaves 3 MiB of this 64 MiB disk/);
  });
  it('names partitions the way the kernel does', () => {
    expect(partitionPath('/dev/sdb', 2)).toBe('/dev/sdb2');
    expect(partitionPath('/dev/nvme0n1', 2)).toBe('/dev/nvme0n1p2');
    expect(partitionPath('/dev/mmcblk0', 2)).toBe('/dev/mmcblk0p2');
    expect(partitionPath('/dev/loop7', 1)).toBe('/dev/loop7p1');
  });
});

describe('mounts', () => {
  it('reads mountinfo, escapes included, and finds the last mount on a path', () => {
    const mounts = parseMountinfo(
      '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n' +
        '90 22 253:0 / /mnt/my\\040stick rw,nosuid,nodev - vfat /dev/mapper/knockstick rw,uid=1000\n' +
        '91 22 0:50 / /mnt/secure rw - tmpfs other rw\n' +
        '92 22 253:1 / /mnt/secure rw - vfat /dev/mapper/x rw\n',
    );
    expect(mounts[1]).toEqual({ device: '253:0', mountpoint: '/mnt/my stick', options: 'rw,nosuid,nodev', fstype: 'vfat', source: '/dev/mapper/knockstick' });
    expect(mountAt(mounts, '/mnt/secure')?.source).toBe('/dev/mapper/x');
  });
  it('mounts vfat and exfat for the owner with umask=077, ext4 with its own modes; never suid or devices', () => {
    const owner = { uid: 1000, gid: 100, name: 'alice' };
    expect(mountOptions('vfat', owner)).toBe('nosuid,nodev,uid=1000,gid=100,umask=077');
    expect(mountOptions('exfat', owner)).toBe('nosuid,nodev,uid=1000,gid=100,umask=077');
    expect(mountOptions('ext4', owner)).toBe('nosuid,nodev');
  });
  it('looks owners up in /etc/passwd by name or uid', async () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n';
    expect(await lookupOwner('alice', passwd)).toEqual({ name: 'alice', uid: 1000, gid: 100 });
    expect(await lookupOwner(1000, passwd)).toEqual({ name: 'alice', uid: 1000, gid: 100 });
    expect(await lookupOwner('4242', passwd)).toEqual({ name: '4242', uid: 4242, gid: 4242 });
    await expect(lookupOwner('mallory', passwd)).rejects.toThrow(/no user "mallory"/);
  });
});

describe('the host config', () => {
  it('round-trips', () => {
    const config = { luksUuid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', name: 'knockstick', mountpoint: '/mnt/secure', owner: 'alice' };
    expect(parseHostConfig(formatHostConfig(config), 'f')).toEqual({ config, problems: [] });
  });
  it('names the file and line of every problem', () => {
    const { problems } = parseHostConfig('luks_uuid = nope\nmountpoint = relative\nmountpoint = /a/../etc\ncolour = red\nowner\n', '/etc/knockstick/stick.conf');
    expect(problems.map((p) => `${p.line}: ${p.message}`)).toEqual([
      '1: luks_uuid must be a LUKS UUID (cryptsetup luksUUID DEVICE), got "nope"',
      '2: mountpoint must be an absolute path of letters, digits and _ . / : , = - (no ".."), got "relative"',
      '3: mountpoint must be an absolute path of letters, digits and _ . / : , = - (no ".."), got "/a/../etc"',
      '4: unknown key "colour" (known: luks_uuid, name, mountpoint, owner)',
      '5: expected "key = value"',
    ]);
  });
});

describe('passphrase files', () => {
  const stdin = (text: string) => Readable.from([Buffer.from(text)]);
  it('drops exactly one trailing newline and adds nothing', async () => {
    expect((await readPassphraseFile('-', 'p', stdin('pass word\n'))).toString()).toBe('pass word');
    expect((await readPassphraseFile('-', 'p', stdin('pass word'))).toString()).toBe('pass word');
    expect((await readPassphraseFile('-', 'p', stdin(' spaces kept \r\n'))).toString()).toBe(' spaces kept ');
  });
  it('refuses an empty or multi-line passphrase', async () => {
    await expect(readPassphraseFile('-', 'LUKS passphrase', stdin('\n'))).rejects.toThrow(/LUKS passphrase in stdin is empty/);
    await expect(readPassphraseFile('-', 'p', stdin('a\nb\n'))).rejects.toThrow(/spans several lines/);
  });
});

describe("the stick's ssh files", () => {
  const answers = { alias: 'home', hostName: 'home.example.org', user: 'alice', port: 2222, dynamicForward: 1080 };
  it('writes a Host entry whose ProxyCommand knocks, with absolute paths to the stick, and the SOCKS proxy on loopback', () => {
    expect(sshConfigText(answers, '/mnt/secure')).toBe(
      '# Written by knockstick usbsetup. Any ssh client can use this file: ssh -F THIS_FILE ALIAS (also scp -F,\n' +
        '# sftp -F, rsync -e "ssh -F THIS_FILE", GIT_SSH_COMMAND="ssh -F THIS_FILE"); the ProxyCommand knocks first.\n' +
        '# The stick paths below are rewritten when the stick is mounted elsewhere (secureon, callhome).\n' +
        "Host home\n  HostName home.example.org\n  User alice\n  Port 2222\n  ProxyCommand '/mnt/secure/knockstick' connect %n %h %p\n" +
        '  IdentityFile "/mnt/secure/.ssh/id_ed25519"\n  IdentitiesOnly yes\n' +
        '  UserKnownHostsFile "/mnt/secure/.ssh/known_hosts"\n  StrictHostKeyChecking ask\n  ConnectTimeout 71\n  DynamicForward 127.0.0.1:1080\n',
    );
  });
  it('refuses a stick place its ssh config cannot name', () => {
    expect(() => sshConfigText(answers, '/mnt/a"b')).toThrow(/double quote/);
  });
  it('files the host key under the name ssh looks up', () => {
    expect(knownHostsLine('ssh-ed25519 AAAAC3Nz root@server\n', 'Home.Example.org', 22, 'k.pub')).toBe('home.example.org ssh-ed25519 AAAAC3Nz\n');
    expect(knownHostsLine('ssh-ed25519 AAAAC3Nz', 'home.example.org', 2222, 'k.pub')).toBe('[home.example.org]:2222 ssh-ed25519 AAAAC3Nz\n');
    expect(() => knownHostsLine('-----BEGIN OPENSSH PRIVATE KEY-----', 'h', 22, 'k')).toThrow(/k is not an ssh public key/);
  });
  it('with --show-secrets (nothing saved), prints the server copy between scissors, leading spaces intact', () => {
    const text = serverSteps({ ...answers, method: 'knock', serverHostKey: undefined, sequences: 2, serverFile: undefined, keyPassphraseFile: undefined }, { publicKey: 'ssh-ed25519 AAAA knockstick home', serverCopy: ' 1,2,3\n 4,5,6\n' }, undefined);
    expect(text).toContain('-------- 8< --------\n 1,2,3\n 4,5,6\n-------- 8< --------\n');
    expect(text).toContain('       ssh-ed25519 AAAA knockstick home\n');
  });
  it('by default names the 0600 file holding the server copy and the command to append it; no sequence on screen', () => {
    const text = serverSteps({ ...answers, method: 'knock', serverHostKey: undefined, sequences: 2, serverFile: undefined, keyPassphraseFile: undefined }, { publicKey: 'ssh-ed25519 AAAA knockstick home', serverCopy: ' 1,2,3\n 4,5,6\n' }, undefined, "/root/it's here");
    expect(text).not.toContain('1,2,3');
    expect(text).not.toContain('8<');
    expect(text).toContain(`(umask 077 && { [ ! -s /etc/knockd/ssh ] || [ -z "$(tail -c 1 /etc/knockd/ssh)" ] || echo; cat '/root/it'\\''s here'; } >> /etc/knockd/ssh) && rm '/root/it'\\''s here'`);
  });
});
