// `server init --allow tcp/8443` against the real firewall and knockd: from the client namespace
// 8443 answers at once while 22 stays dropped until the knock opens the door. And a rerun (and the
// adoption of Debian's sample knockd.conf) gives a knockd.conf the real knockd reads as we do.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
