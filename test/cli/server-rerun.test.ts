// server init run again: same flags change nothing, other flags show a diff, Debian's sample
// knockd.conf is adopted, someone's edit needs --force and leaves a backup, sequence files are
// never rewritten; --count 0; --allow; next steps that match where the files went.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { chmod, lstat, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, makeStick, tempDir } from '../helpers/cli.js';
import { backUp, nextSteps } from '../../src/server/index.js';
import { SYSTEM_PATHS } from '../../src/server/plan.js';
import { backupPath, conffileMd5, isDebianSample, unifiedDiff } from '../../src/server/rerun.js';

let dir: { path: string; cleanup: () => Promise<void> };
let out: string;
beforeEach(async () => {
  dir = await tempDir();
  out = join(dir.path, 'out');
});
afterEach(async () => dir.cleanup());

/** /etc/knockd.conf as Debian's knockd 0.8-2 installs it (the package's sample). */
const DEBIAN_SAMPLE =
  '[options]\n\tUseSyslog\n\n[openSSH]\n\tsequence    = 7000,8000,9000\n\tseq_timeout = 5\n\tcommand     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n\ttcpflags    = syn\n\n' +
  '[closeSSH]\n\tsequence    = 9000,8000,7000\n\tseq_timeout = 5\n\tcommand     = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n\ttcpflags    = syn\n\n' +
  '[openHTTPS]\n\tsequence    = 12345,54321,24680,13579\n\tseq_timeout = 5\n\tcommand     = /usr/local/sbin/knock_add -i -c INPUT -p tcp -d 443 -f %IP%\n\ttcpflags    = syn\n\n';

const init = (...extra: string[]) => knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, ...extra]);

/** Every file in `out`: name → content, mode and inode (a rewrite makes a new inode). */
async function snapshot(): Promise<Record<string, { text: string; mode: string; ino: number }>> {
  const result: Record<string, { text: string; mode: string; ino: number }> = {};
  for (const name of (await readdir(out)).sort()) {
    const s = await stat(join(out, name));
    result[name] = { text: await readFile(join(out, name), 'utf8'), mode: (s.mode & 0o777).toString(8), ino: s.ino };
  }
  return result;
}

const backups = async (): Promise<string[]> => (await readdir(out)).filter((n) => n.includes('.knockstick-bak.'));

describe('server init run again', () => {
  it('with the same flags changes nothing and says so, file by file (with --force too)', async () => {
    expect((await init('--count', '5', '--allow', 'tcp/8443')).exitCode).toBe(0);
    const before = await snapshot();
    for (const force of [[], ['--force']]) {
      const again = await init('--count', '5', '--allow', 'tcp/8443', ...force);
      expect(again.exitCode).toBe(0);
      for (const name of ['knockd.conf', 'server.conf', 'firewall.nft', 'sshd-knockstick.conf', 'knockd.service.conf']) expect(again.stdout).toContain(`unchanged ${join(out, name)}\n`);
      expect(again.stdout).toContain(`kept ${join(out, 'ssh')}: 5 unused of 5`);
      expect(again.stdout).toContain('Nothing to change');
      expect(await snapshot()).toEqual(before);
    }
  });

  it('with other flags shows what would change and writes nothing; --force replaces, keeping a 0600 backup', async () => {
    expect((await init('--count', '5')).exitCode).toBe(0);
    const before = await snapshot();
    const other = await init('--count', '5', '--allow', 'tcp/443', '--seq-timeout', '20');
    expect(other.exitCode).toBe(6);
    expect(other.stdout).toContain(`--- ${join(out, 'firewall.nft')} (now)`);
    expect(other.stdout).toMatch(/^\+ {4}tcp dport 443 accept$/m);
    expect(other.stdout).toMatch(/^- {2}seq_timeout {8}= 15$/m);
    expect(other.stdout).toMatch(/^\+ {2}seq_timeout {8}= 20$/m);
    expect(other.stderr).toMatch(/knockd\.conf, .*firewall\.nft differ from what server init writes \(diff above\); nothing was written/);
    expect(other.stderr).toMatch(/--force/);
    expect(await snapshot()).toEqual(before);

    const forced = await init('--count', '5', '--allow', 'tcp/443', '--seq-timeout', '20', '--force');
    expect(forced.exitCode).toBe(0);
    expect(forced.stdout).toMatch(new RegExp(`replaced ${join(out, 'firewall.nft')}: .*\\(the old one is in ${join(out, 'firewall.nft')}\\.knockstick-bak\\.\\d{8}T\\d{6}Z\\)`));
    expect(forced.stdout).toContain(`unchanged ${join(out, 'server.conf')}`);
    const made = await backups();
    expect(made.map((n) => n.replace(/\.knockstick-bak\.\d{8}T\d{6}Z$/, '')).sort()).toEqual(['firewall.nft', 'knockd.conf']);
    for (const name of made) {
      const original = name.replace(/\.knockstick-bak\..*$/, '');
      expect(await readFile(join(out, name), 'utf8')).toBe(before[original]?.text);
      expect(((await stat(join(out, name))).mode & 0o777).toString(8)).toBe('600');
    }
    expect(await readFile(join(out, 'firewall.nft'), 'utf8')).toContain('tcp dport 443 accept');
    // The panic sequence and the sequence file are the ones from the first run.
    expect(await readFile(join(out, 'server.conf'), 'utf8')).toBe(before['server.conf']?.text);
    expect((await snapshot()).ssh).toEqual(before.ssh);
  });

  it('never rewrites a sequence file: used and unused lines are kept byte for byte, with any --count', async () => {
    expect((await init('--count', '4')).exitCode).toBe(0);
    const file = join(out, 'ssh');
    const text = await readFile(file, 'utf8');
    await writeFile(file, `#${text.slice(1)}`); // knockd marked the first line used
    const marked = await stat(file);
    for (const count of ['0', '4', '50']) {
      const again = await init('--count', count);
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toContain(`kept ${file}: 3 unused of 4`);
    }
    expect(await readFile(file, 'utf8')).toBe(`#${text.slice(1)}`);
    expect((await stat(file)).ino).toBe(marked.ino);
  });

  it('creates a missing sequence file (and nothing else changes); says so when one is exhausted', async () => {
    expect((await init('--count', '4')).exitCode).toBe(0);
    const before = await snapshot();
    await rm(join(out, 'ssh'));
    const again = await init('--count', '6');
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`wrote ${join(out, 'ssh')}: 6 one-time sequences`);
    expect((await readFile(join(out, 'ssh'), 'utf8')).trim().split('\n')).toHaveLength(6);
    const after = await snapshot();
    delete before.ssh;
    delete after.ssh;
    expect(after).toEqual(before);
    const used = (await readFile(join(out, 'ssh'), 'utf8')).replace(/^ /gm, '#');
    await writeFile(join(out, 'ssh'), used);
    expect((await init('--count', '6')).stdout).toMatch(/0 unused of 6; none left: knockd stops, refill it with seqgen/);
  });

  it('after panic rotate, a rerun keeps the rotated panic sequence: nothing changes', async () => {
    // A stick is a directory with its .ssh/config (usbsetup makes it): server init --stick needs one.
    const stick = await makeStick(join(dir.path, 'stick'));
    expect((await init('--count', '5', '--stick', stick)).exitCode).toBe(0);
    const rotate = await knockstick(['panic', 'rotate', '--server-config', join(out, 'server.conf'), '--stick', stick]);
    expect(rotate.exitCode).toBe(0);
    const rotated = await snapshot();
    const again = await init('--count', '5', '--stick', stick, '--force');
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('Nothing to change');
    expect(again.stdout).toContain(`seqgen status --server-file ${join(out, 'ssh')} --stick ${stick}`);
    expect(await snapshot()).toEqual(rotated);
  });

  it('--dry-run on a rerun tags each file and shows the diff of what would change, writing nothing', async () => {
    expect((await init('--count', '3')).exitCode).toBe(0);
    const before = await snapshot();
    const dry = await init('--count', '3', '--allow', 'tcp/443', '--dry-run');
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain(`==> ${join(out, 'ssh')}: kept as it is, 3 unused of 3`);
    expect(dry.stdout).toMatch(new RegExp(`==> ${join(out, 'knockd.conf')} .*\\[unchanged\\]`));
    expect(dry.stdout).toMatch(new RegExp(`==> ${join(out, 'firewall.nft')} .*\\[differs: would replace it with --force\\]`));
    expect(dry.stdout).toMatch(/^\+ {4}tcp dport 443 accept$/m);
    expect(await snapshot()).toEqual(before);
  });
});

describe('server init --count 0', () => {
  it('writes every file but no sequences, and says knockd needs some before it starts', async () => {
    const result = await init('--count', '0');
    expect(result.exitCode).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['firewall.nft', 'knockd.conf', 'knockd.service.conf', 'server.conf', 'sshd-knockstick.conf']);
    expect(result.stdout).toContain(`no ${join(out, 'ssh')}: none (--count 0)`);
    expect(result.stdout).toContain(`knockd does not start without it: seqgen 50 --server-file ${join(out, 'ssh')}`);
    expect(result.stdout).not.toContain(`install -D -m 0600 ${join(out, 'ssh')}`);
  });

  it('still refuses a negative or huge count', async () => {
    for (const count of ['-1', '100001', 'x']) expect((await init('--count', count, '--dry-run')).exitCode).toBe(2);
  });
});

describe("Debian's sample /etc/knockd.conf", () => {
  it('is adopted after its diff is shown, without --force, and kept as a backup; its sequences are not printed', async () => {
    await execa('mkdir', ['-p', out]);
    await writeFile(join(out, 'knockd.conf'), DEBIAN_SAMPLE, { mode: 0o644 });
    const result = await init('--count', '3');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("is the knockd package's unmodified sample");
    expect(result.stdout).toMatch(/^-\[openSSH\]$/m);
    expect(result.stdout).toMatch(/^-\tsequence {4}= \(3 ports, not shown\)$/m);
    expect(result.stdout).toMatch(/^\+ {2}sequence {4}= \(5 ports, not shown\)$/m);
    for (const port of ['7000,8000,9000', '12345,54321']) expect(result.stdout).not.toContain(port);
    expect(result.stdout).toMatch(/replaced .*knockd\.conf: .*the old one is in .*knockd\.conf\.knockstick-bak\.\d{8}T\d{6}Z/);
    const [backup] = await backups();
    expect(await readFile(join(out, backup as string), 'utf8')).toBe(DEBIAN_SAMPLE);
    expect(((await stat(join(out, backup as string))).mode & 0o777).toString(8)).toBe('600');
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toContain('[ssh]');
    // Adopted once: the next run finds its own file.
    expect((await init('--count', '3')).stdout).toContain(`unchanged ${join(out, 'knockd.conf')}`);
  });

  it('is recognised as the installed knockd package wrote it (dpkg\'s own md5 of its conffile)', async () => {
    const conffiles = await execa('dpkg-query', ['-W', '-f=${Conffiles}', 'knockd'], { reject: false });
    const md5 = /\/etc\/knockd\.conf ([0-9a-f]{32})/.exec(String(conffiles.stdout))?.[1];
    const installed = await readFile('/etc/knockd.conf').catch(() => null);
    if (md5 === undefined || installed === null || createHash('md5').update(installed).digest('hex') !== md5) {
      console.warn('skipped: no unmodified /etc/knockd.conf of an installed knockd package here');
      return;
    }
    expect(installed.toString('utf8')).toBe(DEBIAN_SAMPLE);
    await execa('mkdir', ['-p', out]);
    await writeFile(join(out, 'knockd.conf'), installed);
    const result = await init('--count', '3');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("is the knockd package's unmodified sample");
  });

  it('edited by its user is refused with the diff, unless --force (which keeps a backup)', async () => {
    await execa('mkdir', ['-p', out]);
    const edited = DEBIAN_SAMPLE.replace('seq_timeout = 5', 'seq_timeout = 6');
    await writeFile(join(out, 'knockd.conf'), edited);
    const refused = await init('--count', '3');
    expect(refused.exitCode).toBe(6);
    expect(refused.stdout).toContain(`${join(out, 'knockd.conf')} differs from what server init writes:`);
    expect(refused.stdout).toMatch(/^-\tseq_timeout = 6$/m);
    expect(refused.stderr).toMatch(/knockd\.conf differs from what server init writes \(diff above\); nothing was written/);
    expect((await readdir(out)).sort()).toEqual(['knockd.conf']);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toBe(edited);

    const forced = await init('--count', '3', '--force');
    expect(forced.exitCode).toBe(0);
    const [backup] = await backups();
    expect(await readFile(join(out, backup as string), 'utf8')).toBe(edited);
  });

  it('a file with the right text but a loose mode is rewritten with its mode, no --force needed', async () => {
    expect((await init('--count', '3')).exitCode).toBe(0);
    await chmod(join(out, 'knockd.conf'), 0o644);
    const again = await init('--count', '3');
    expect(again.exitCode).toBe(0);
    expect(((await stat(join(out, 'knockd.conf'))).mode & 0o777).toString(8)).toBe('600');
  });
});

describe('the next steps', () => {
  it('with --out say how to install the staging copy, not to start knockd as if it were in place', async () => {
    const result = await init('--count', '3', '--allow', 'udp/51820', '--seq-timeout', '12');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toMatch(/systemctl (enable|restart)/);
    expect(result.stdout).toContain(`${out} is a staging copy`);
    expect(result.stdout).toContain(`[ -e /etc/knockd/ssh ] || install -D -m 0600 ${join(out, 'ssh')} /etc/knockd/ssh`);
    expect(result.stdout).toContain('knockstick server init --yes --interface eth0 --firewall nftables --seq-timeout 12 --cmd-timeout 10 --door-policy single-use --allow udp/51820 --count 0\n');
  });

  it('with --out in router mode copy each inner host\'s sequence file', async () => {
    const result = await init('--count', '3', '--inner', 'web=192.168.1.10', '--inner', 'nas=192.168.1.20');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`install -D -m 0600 ${join(out, 'web')} /etc/knockd/web`);
    expect(result.stdout).toContain(`install -D -m 0600 ${join(out, 'nas')} /etc/knockd/nas`);
    expect(result.stdout).toContain('--inner web=192.168.1.10 --inner nas=192.168.1.20 --count 0');
  });

  it('with --method spa --out say how to install each file (keeping what is there), then apply from /etc', async () => {
    const result = await init('--method', 'spa', '--spa-server', 'home.example.org', '--firewall', 'iptables');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`install --backup=numbered -D -m 0600 ${join(out, 'access.conf')} /etc/fwknop/access.conf`);
    expect(result.stdout).toContain(`install --backup=numbered -D -m 0644 ${join(out, 'sshd-knockstick.conf')} /etc/ssh/sshd_config.d/knockstick.conf`);
    expect(result.stdout).toContain('iptables-restore --test < /etc/knockstick/iptables-spa.rules && iptables-restore < /etc/knockstick/iptables-spa.rules');
    expect(result.stdout).not.toContain(`fwknopd -c ${join(out, 'fwknopd.conf')}`);
  });

  it('in place say to enable and (re)start knockd and load the firewall from /etc', () => {
    const text = nextSteps({
      firewall: 'ufw',
      files: [{ path: '/etc/knockstick/ufw-before.rules', mode: 0o600, text: '', what: '' }],
      paths: SYSTEM_PATHS,
      out: undefined,
      iface: 'eth0',
      allow: [{ protocol: 'tcp', port: 443 }],
      sequenceFiles: ['/etc/knockd/ssh'],
      install: [],
    });
    expect(text).toContain('systemctl daemon-reload && systemctl enable knockd && systemctl restart knockd');
    expect(text).toContain('ufw allow 443/tcp && (edit /etc/ufw/before.rules as /etc/knockstick/ufw-before.rules says) && ufw reload');
    expect(text).toContain('knockstick doctor --knockd-conf /etc/knockd.conf');
    expect(text).not.toContain('staging');
  });
});

describe('--allow', () => {
  it.each([
    [['--allow', 'tcp/22'], /--allow tcp\/22: that is SSH, which the door opens/],
    [['--ssh-port', '2222', '--allow', 'tcp/2222'], /--allow tcp\/2222: that is SSH/],
    [['--allow', 'tcp/0'], /port 0 is outside 1-65535/],
    [['--allow', 'udp/65536'], /port 65536 is outside 1-65535/],
    [['--allow', 'sctp/9'], /must be tcp\/PORT or udp\/PORT/],
    [['--allow', '443'], /must be tcp\/PORT or udp\/PORT/],
    [['--allow', 'tcp/443;reboot'], /must be tcp\/PORT or udp\/PORT/],
    [['--allow', 'TCP/443'], /must be tcp\/PORT or udp\/PORT/],
    [['--inner', 'web=192.168.1.10', '--allow', 'tcp/443'], /router mode \(--inner\) writes none for the router itself/],
    [['--method', 'spa', '--spa-server', 'home.example.org', '--allow', 'tcp/22'], /that is SSH/],
  ])('%j is a usage error that writes nothing', async (args, message) => {
    const result = await init(...args);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    await expect(readdir(out)).rejects.toThrow();
  });

  it.each([
    ['nftables', [], 'firewall.nft', ['    tcp dport 8443 accept', '    udp dport 51820 accept']],
    ['iptables', [], 'iptables.rules', ['-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT', '-A INPUT -p udp -m udp --dport 51820 -j ACCEPT']],
    ['iptables', [], 'ip6tables.rules', ['-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT']],
    ['ufw', [], 'ufw-before.rules', ['# --allow: keep these reachable with ufw\'s own rules: ufw allow 8443/tcp; ufw allow 51820/udp']],
    ['nftables', ['--method', 'spa', '--spa-server', 'home.example.org'], 'firewall-spa.nft', ['    tcp dport 8443 accept']],
    ['iptables', ['--method', 'spa', '--spa-server', 'home.example.org'], 'iptables-spa.rules', ['-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT']],
  ])('--firewall %s %j: %s keeps the allowed services reachable', async (firewall, extra, file, lines) => {
    const result = await init('--firewall', firewall, ...extra, '--allow', 'tcp/8443', '--allow', 'udp/51820', '--allow', 'tcp/8443', '--dry-run');
    expect(result.exitCode).toBe(0);
    const text = result.stdout.split('==> ').find((s) => s.startsWith(join(out, file))) ?? '';
    for (const line of lines) expect(text.split('\n')).toContain(line);
    expect(text.split('\n').filter((l) => l.includes('8443') && !l.startsWith('#'))).toHaveLength(lines.filter((l) => l.includes('8443') && !l.startsWith('#')).length);
  });

  it('tcp/22 is fine when SSH listens elsewhere; none at all says so in the file', async () => {
    const moved = await init('--ssh-port', '2222', '--allow', 'tcp/22', '--dry-run');
    expect(moved.exitCode).toBe(0);
    expect(moved.stdout).toContain('    tcp dport 22 accept');
    const none = await init('--dry-run');
    expect(none.stdout).toContain('# --allow: none; every other new inbound connection is dropped');
  });
});

describe('the diff', () => {
  it('is a unified diff (removals first) with any sequence hidden', () => {
    expect(unifiedDiff('a\nb\nsequence = 1,2,3\nc\n', 'a\nB\nsequence = 4,5\nc\n', 'x', 'y')).toBe(
      '--- x\n+++ y\n@@ -1,4 +1,4 @@\n a\n-b\n-sequence = (3 ports, not shown)\n+B\n+sequence = (2 ports, not shown)\n c\n',
    );
    expect(unifiedDiff('same\n', 'same\n', 'x', 'y')).toBe('');
  });
});

describe('the wizard on a real terminal (tmux), facing the Debian sample', () => {
  /** Runs the wizard in tmux, answering firewall, stick and DNS with their defaults, then `final`. */
  async function wizard(final: string): Promise<string> {
    const session = `ks-rerun-${process.pid}-${final}`;
    const { DIST_BIN } = await import('../helpers/cli.js');
    const tmux = (...args: string[]) => execa('tmux', args, { reject: false });
    const screen = async () => String((await tmux('capture-pane', '-p', '-S', '-200', '-t', session)).stdout);
    const waitScreen = async (text: string) => {
      for (let i = 0; i < 100 && !(await screen()).includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await screen()).toContain(text);
    };
    await tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '60', `${process.execPath} ${join(DIST_BIN, 'knockstick.js')} server init --out ${out} --interface eth0 --count 3 --allow tcp/443; echo WIZARD-EXIT=$?; sleep 60`);
    try {
      await waitScreen('Firewall:');
      await tmux('send-keys', '-t', session, 'Enter'); // nftables
      await waitScreen('What may a door let in?');
      await tmux('send-keys', '-t', session, 'Enter'); // single-use
      await waitScreen('Where is the stick mounted?');
      await tmux('send-keys', '-t', session, 'Enter'); // later
      await waitScreen('dynamic DNS');
      await tmux('send-keys', '-t', session, 'Enter'); // no
      await waitScreen('Replace the sample');
      await tmux('send-keys', '-t', session, final, 'Enter');
      await waitScreen('WIZARD-EXIT=');
      return await screen();
    } finally {
      await tmux('kill-session', '-t', session);
    }
  }

  it('shows the diff and asks before replacing it: "no" writes nothing, "yes" replaces it with a backup', async () => {
    await execa('mkdir', ['-p', out]);
    await writeFile(join(out, 'knockd.conf'), DEBIAN_SAMPLE);
    const declined = await wizard('n');
    expect(declined).toContain('WIZARD-EXIT=0');
    expect(declined).toContain('Nothing written.');
    expect(declined).toContain('-[openSSH]');
    expect(await readdir(out)).toEqual(['knockd.conf']);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toBe(DEBIAN_SAMPLE);
    const accepted = await wizard('y');
    expect(accepted).toContain('WIZARD-EXIT=0');
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toContain('[ssh]');
    const [backup] = await backups();
    expect(await readFile(join(out, backup as string), 'utf8')).toBe(DEBIAN_SAMPLE);
  }, 30_000);
});

describe('recognising the sample, naming and making backups', () => {
  it('the sample is recognised byte for byte only, or by the md5 dpkg recorded for it', () => {
    expect(isDebianSample(DEBIAN_SAMPLE, undefined)).toBe(true);
    expect(isDebianSample(DEBIAN_SAMPLE.replace('\t', '  '), undefined)).toBe(false);
    expect(isDebianSample(`${DEBIAN_SAMPLE}\n`, undefined)).toBe(false);
    const other = '[options]\n\tlogfile = /var/log/knockd.log\n';
    expect(isDebianSample(other, createHash('md5').update(other).digest('hex'))).toBe(true);
    expect(isDebianSample(other, 'not-an-md5')).toBe(false);
  });

  it("dpkg's Conffiles field gives the md5 of /etc/knockd.conf, not of an obsolete entry", () => {
    const field = ' /etc/default/knockd 3906d229acd3d23833fda0c7aacbb480\n /etc/knockd.conf 7c2c6c194d718e2b3f1d8dfdcc316c54\n';
    expect(conffileMd5(field, '/etc/knockd.conf')).toBe('7c2c6c194d718e2b3f1d8dfdcc316c54');
    expect(conffileMd5(' /etc/knockd.conf 7c2c6c194d718e2b3f1d8dfdcc316c54 obsolete\n', '/etc/knockd.conf')).toBeUndefined();
    expect(conffileMd5('', '/etc/knockd.conf')).toBeUndefined();
  });

  it('a backup is named FILE.knockstick-bak.UTC-TIME', () => {
    expect(backupPath('/etc/knockd.conf', new Date(Date.UTC(2026, 11, 1, 9, 5, 7, 123)))).toBe('/etc/knockd.conf.knockstick-bak.20261201T090507Z');
  });

  it('a backup never goes through a link planted at its name, nor over an earlier backup', async () => {
    const file = join(dir.path, 'knockd.conf');
    const target = join(dir.path, 'victim');
    await writeFile(file, 'mine\n', { mode: 0o644 });
    await writeFile(target, 'untouched\n');
    const name = `${file}.knockstick-bak.20261201T090507Z`;
    await symlink(target, name);
    await writeFile(`${name}.1`, 'an earlier backup\n');
    const made = await backUp(file, name);
    expect(made).toBe(`${name}.2`);
    expect(await readFile(made, 'utf8')).toBe('mine\n');
    expect(((await stat(made)).mode & 0o777).toString(8)).toBe('600');
    expect(await readFile(target, 'utf8')).toBe('untouched\n');
    expect((await lstat(name)).isSymbolicLink()).toBe(true);
    expect(await readlink(name)).toBe(target);
    expect(await readFile(`${name}.1`, 'utf8')).toBe('an earlier backup\n');
  });
});
