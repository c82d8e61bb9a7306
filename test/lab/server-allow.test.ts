// `server init --allow tcp/8443` against the real firewall and knockd: from the client namespace
// 8443 answers at once while 22 stays dropped until the knock opens the door. And a rerun (and the
// adoption of Debian's sample knockd.conf) gives a knockd.conf the real knockd reads as we do.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick } from '../helpers/cli.js';
import { SERVER_ADDR, createLab, startKnockdDaemon, waitFor, type Lab } from '../../src/lab/lab.js';
import { probeKnockd } from '../../src/core/knockd-probe.js';

jest.setTimeout(120_000);

/** A listener on each port, answering "hi" (stands in for sshd on 22 and a web server on 8443). */
const LISTENER = `const net = require('node:net');
for (const port of process.argv.slice(1).map(Number)) net.createServer((s) => s.end('hi ' + port + '\\n')).listen(port, '0.0.0.0');`;

/** From the client: "open" when a connection to PORT is answered within 700 ms, else "closed". */
const CONNECT = `const s = require('node:net').connect(Number(process.argv[2]), process.argv[1]);
const t = setTimeout(() => { console.log('closed'); process.exit(0); }, 700);
s.on('data', () => { clearTimeout(t); console.log('open'); s.destroy(); process.exit(0); });
s.on('error', () => { clearTimeout(t); console.log('closed'); process.exit(0); });`;

describe.each(['nftables', 'iptables'] as const)('server init --firewall %s --allow tcp/8443 behind the real firewall', (firewall) => {
  let lab: Lab;
  let out: string;
  const reach = async (port: number): Promise<string> => (await lab.run(lab.clientNs, process.execPath, ['-e', CONNECT, SERVER_ADDR, String(port)])).trim();

  beforeAll(async () => {
    lab = await createLab();
    out = join(lab.dir, 'server');
    const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--firewall', firewall, '--allow', 'tcp/8443', '--cmd-timeout', '30', '--count', '5']);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const load = firewall === 'nftables' ? 'nft -f "$1"' : 'iptables-restore < "$1"';
    const file = join(out, firewall === 'nftables' ? 'firewall.nft' : 'iptables.rules');
    await lab.run(lab.serverNs, 'sh', ['-c', load, 'sh', file]);
    const listening = lab.spawn(lab.serverNs, process.execPath, ['-e', LISTENER, '22', '8443']);
    void listening;
    const ss = async () => lab.run(lab.serverNs, 'ss', ['-Htln']);
    expect(await waitFor(async () => /:8443\b/.test(await ss()) && /:22\b/.test(await ss()), 5000, 50)).toBe(true);
    await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('8443 answers from the client namespace; 22 stays dropped until the knock, then opens', async () => {
    expect(await reach(8443)).toBe('open');
    expect(await reach(22)).toBe('closed');
    // An allowed port is no door: 8443 being open did not open 22 either.
    expect(await reach(22)).toBe('closed');
    const first = (await readFile(join(out, 'ssh'), 'utf8')).split('\n').find((l) => l.startsWith(' '))?.trim() ?? '';
    expect(first).toMatch(/^\d+(,\d+)+$/);
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...first.split(',')]);
    expect(await waitFor(async () => (await reach(22)) === 'open', 5000, 100)).toBe(true);
    expect(await reach(8443)).toBe('open');
  });

  it('a rerun with the same flags changes nothing, and the real knockd reads the knockd.conf as we do', async () => {
    const conf = join(out, 'knockd.conf');
    const before = await readFile(conf);
    const first = await probeKnockd(before);
    expect(first).toMatchObject({ kind: 'agrees', accepted: true, doors: 2 });
    const again = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--firewall', firewall, '--allow', 'tcp/8443', '--cmd-timeout', '30', '--count', '5']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`unchanged ${conf}`);
    const after = await readFile(conf);
    expect(after.equals(before)).toBe(true);
    expect(await probeKnockd(after)).toEqual(first);
  });

  it('without --allow the same firewall drops 8443 (the control)', async () => {
    const plain = join(lab.dir, 'plain');
    const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', plain, '--firewall', firewall, '--count', '0']);
    expect(init.exitCode).toBe(0);
    const load = firewall === 'nftables' ? 'nft -f "$1"' : 'iptables-restore < "$1"';
    await lab.run(lab.serverNs, 'sh', ['-c', load, 'sh', join(plain, firewall === 'nftables' ? 'firewall.nft' : 'iptables.rules')]);
    expect(await reach(8443)).toBe('closed');
  });
});

describe("server init adopting Debian's sample knockd.conf", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('writes a knockd.conf the real knockd reads as we do, and a rerun keeps it byte for byte', async () => {
    const out = join(lab.dir, 'adopt');
    await mkdir(out);
    const sample = await readFile('/etc/knockd.conf').catch(() => null);
    if (sample === null || !sample.toString('utf8').includes('[openSSH]')) {
      console.warn('skipped: no Debian sample /etc/knockd.conf here');
      return;
    }
    await writeFile(join(out, 'knockd.conf'), sample);
    const args = ['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--count', '3'];
    const adopt = await knockstick(args);
    if (!adopt.stdout.includes("knockd package's unmodified sample")) {
      // The machine's /etc/knockd.conf was edited: server init rightly refuses it.
      expect(adopt.exitCode).toBe(6);
      return;
    }
    expect(adopt.exitCode).toBe(0);
    const written = await readFile(join(out, 'knockd.conf'));
    const reading = await probeKnockd(written);
    expect(reading).toMatchObject({ kind: 'agrees', accepted: true, doors: 2 });
    const again = await knockstick(args);
    expect(again.exitCode).toBe(0);
    expect((await readFile(join(out, 'knockd.conf'))).equals(written)).toBe(true);
    expect(await probeKnockd(await readFile(join(out, 'knockd.conf')))).toEqual(reading);
  });
});

describe('server init on this Debian machine, at the system paths (an overlay over /etc: the host is untouched)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it("adopts the package's /etc/knockd.conf (backup kept), says to enable and restart knockd, and a rerun changes nothing", async () => {
    const sample = await readFile('/etc/knockd.conf', 'utf8').catch(() => null);
    if (sample === null || !sample.includes('[openSSH]')) {
      console.warn("skipped: this machine has no knockd package sample at /etc/knockd.conf");
      return;
    }
    const upper = join(lab.dir, 'etc-upper');
    const work = join(lab.dir, 'etc-work');
    await mkdir(upper);
    await mkdir(work);
    const { DIST_BIN } = await import('../helpers/cli.js');
    const cli = join(DIST_BIN, 'knockstick.js');
    // Both runs in one private mount namespace whose /etc is an overlay: every write lands in `upper`.
    const script = [
      'set -u',
      'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 99',
      '"$3" "$4" server init --yes --interface eth0 --count 3 --allow tcp/443; echo "FIRST-EXIT=$?"',
      'echo ==== SECOND',
      '"$3" "$4" server init --yes --interface eth0 --count 3 --allow tcp/443; echo "SECOND-EXIT=$?"',
    ].join('\n');
    const { execa } = await import('execa');
    const run = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', upper, work, process.execPath, cli], { reject: false });
    const [first = '', second = ''] = String(run.stdout).split('==== SECOND');
    expect({ stderr: String(run.stderr), first: /FIRST-EXIT=(\d+)/.exec(first)?.[1], second: /SECOND-EXIT=(\d+)/.exec(second)?.[1] }).toEqual({ stderr: '', first: '0', second: '0' });
    expect(first).toContain("/etc/knockd.conf is the knockd package's unmodified sample");
    expect(first).toMatch(/replaced \/etc\/knockd\.conf: .*\(the old one is in \/etc\/knockd\.conf\.knockstick-bak\.\d{8}T\d{6}Z\)/);
    expect(first).toContain('wrote /etc/knockd/ssh: 3 one-time sequences');
    expect(first).toContain('systemctl daemon-reload && systemctl enable knockd && systemctl restart knockd');
    expect(first).toContain('nft -c -f /etc/knockstick/firewall.nft && nft -f /etc/knockstick/firewall.nft');
    expect(first).not.toContain('staging copy');
    expect(second).toContain('unchanged /etc/knockd.conf');
    expect(second).toContain('kept /etc/knockd/ssh: 3 unused of 3');
    expect(second).toContain('Nothing to change');
    const backup = (await readdir(upper)).find((n) => n.startsWith('knockd.conf.knockstick-bak.'));
    expect(await readFile(join(upper, backup ?? 'missing'), 'utf8')).toBe(sample);
    // The host's own /etc is as it was.
    expect(await readFile('/etc/knockd.conf', 'utf8')).toBe(sample);
    await expect(readFile('/etc/knockd/ssh')).rejects.toThrow();
    // Its one-time file exists only inside the overlay, so the real knockd (like our model) stops at
    // it here; that both read the file the same way is what this checks (accepted: the --out tests).
    expect(await probeKnockd(await readFile(join(upper, 'knockd.conf')))).toMatchObject({ kind: 'agrees' });
  });
});
