// panic stanza / rotate where fwknopd runs: which servers get the fwknopd part, and which pidfile
// and doors it names (server.conf, fwknopd.conf's FWKNOP_PID_FILE).

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, tempDir } from '../helpers/cli.js';

const SEQ = '41011,41012,41013';
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ path: dir, cleanup } = await tempDir('spafinish-'));
});
afterEach(async () => {
  await cleanup();
});

async function stanza(serverConf: string, extra: readonly string[] = []): Promise<string> {
  await writeFile(join(dir, 'server.conf'), serverConf);
  const result = await knockstick(['panic', 'stanza', '--server-config', join(dir, 'server.conf'), '--sequence', SEQ, ...extra]);
  expect(result.exitCode === 0 ? 0 : result.stderr).toBe(0);
  return result.stdout;
}

describe('panic stanza on a server with fwknopd', () => {
  it("an SPA server with ufw: fwknopd by FWKNOP_PID_FILE, the ufw door rules of ssh_port; knockd's pidfile is not server.conf's (fwknopd's)", async () => {
    await writeFile(join(dir, 'fwknopd.conf'), 'ENABLE_UDP_SERVER Y;\nFWKNOP_PID_FILE /run/fw/x.pid;\n');
    const text = await stanza(`method = spa\nssh_port = 2222\nfwknopd_conf = ${join(dir, 'fwknopd.conf')}\npidfile = /run/other.pid\nfirewall = ufw\n`);
    expect(text).toMatch(/command += : knockstick stops fwknopd too; kill -TERM "\$\(cat '\/run\/fw\/x\.pid'\)" 2>\/dev\/null; for a in \$\(ufw show added .* to any port 2222 proto tcp\$\|\\1\|p'\); do ufw delete allow proto tcp from "\$a" to any port 2222 /);
    expect(text).toContain(`kill -TERM "$(cat '/run/knockd.pid')"`);
    expect(text).not.toContain("cat '/run/other.pid'");
  });

  it("an SPA server whose fwknopd.conf names no pidfile: server.conf's pidfile; nftables: spa4", async () => {
    const text = await stanza(`method = spa\nfwknopd_conf = ${join(dir, 'missing.conf')}\npidfile = /run/fwknop/mine.pid\nfirewall = nftables\n`);
    expect(text).toContain(`: knockstick stops fwknopd too; kill -TERM "$(cat '/run/fwknop/mine.pid')" 2>/dev/null; nft flush set inet knockstick spa4`);
  });

  it("a knock server with SPA sticks (fwknopd_conf in its settings): fwknopd stopped too; server.conf's pidfile stays knockd's", async () => {
    const text = await stanza(`fwknopd_conf = ${join(dir, 'missing.conf')}\npidfile = /run/knockd-x.pid\nfirewall = iptables\n`);
    expect(text).toContain(`: knockstick stops fwknopd too; kill -TERM "$(cat '/run/fwknop/fwknopd.pid')" 2>/dev/null; iptables -F FWKNOP_INPUT`);
    expect(text).toContain(`kill -TERM "$(cat '/run/knockd-x.pid')"`);
  });

  it('a knock server without fwknopd: no fwknopd part', async () => {
    expect(await stanza('firewall = nftables\n')).not.toContain('fwknopd');
  });
});

describe('panic rotate on an SPA server', () => {
  it('makes a knockd.conf for the panic knock only (fwknopd stopped first), and keeps the panic sequence in server.conf', async () => {
    await writeFile(join(dir, 'server.conf'), `method = spa\nssh_port = 22\npidfile = ${join(dir, 'fwknopd.pid')}\nfirewall = nftables\n`);
    const knockdConf = join(dir, 'knockd.conf');
    const result = await knockstick(['panic', 'rotate', '--server-config', join(dir, 'server.conf'), '--knockd-conf', knockdConf, '--pidfile', join(dir, 'knockd.pid'), '--sequence', SEQ, '--no-reload']);
    expect(result.exitCode === 0 ? 0 : result.stderr).toBe(0);
    expect(result.stdout).toContain(`${knockdConf} is new: knockd there listens for the panic knock only`);
    const conf = await readFile(knockdConf, 'utf8');
    expect(conf).toMatch(/^\[options\]\n {2}UseSyslog\n\n\[panic\]\n/m);
    expect(conf).toMatch(/sequence += 41011,41012,41013\n/);
    expect(conf).toContain(`command     = : knockstick stops fwknopd too; kill -TERM "$(cat '${join(dir, 'fwknopd.pid')}')" 2>/dev/null; nft flush set inet knockstick spa4`);
    expect(await readFile(join(dir, 'server.conf'), 'utf8')).toMatch(/^method = spa\n[\s\S]*^panic_sequence = 41011,41012,41013$/m);
  });

  it('a knock server without knockd.conf is still refused (nothing to add the stanza to)', async () => {
    await writeFile(join(dir, 'server.conf'), 'firewall = nftables\n');
    const result = await knockstick(['panic', 'rotate', '--server-config', join(dir, 'server.conf'), '--knockd-conf', join(dir, 'knockd.conf'), '--sequence', SEQ, '--no-reload']);
    expect(result.exitCode).toBe(6);
  });
});
