// panic on a server where fwknopd runs: the [panic] command stops fwknopd by its pidfile and closes
// its doors (nft set spa4, FWKNOP_INPUT, or the ufw rules CMD_CYCLE_OPEN added), and what sh -c
// makes of it reaches the tools as the words we meant (fake nft/iptables/ufw/kill on PATH).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PANIC_FWKNOPD_MARK, fwknopdPanicCommand, panicCommand } from '../../src/core/firewall.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spafinish-panic-'));
  // Each fake tool logs its words, one per line, then a blank line; ufw also lists two door rules and another rule.
  const logger = (name: string, extra = ''): string => `#!/bin/sh\n${extra}printf '%s\\n' ${name} "$@" '' >> "${dir}/log"\n`;
  await writeFile(join(dir, 'nft'), logger('nft'));
  await writeFile(join(dir, 'iptables'), logger('iptables'));
  await writeFile(
    join(dir, 'ufw'),
    logger('ufw', `if [ "$1 $2" = "show added" ]; then printf '%s\\n' "Added user rules (see 'ufw status' for running firewall):" 'ufw allow 62201/udp' 'ufw allow from 198.18.0.2 to any port 2222 proto tcp' 'ufw allow from 2001:db8::7 to any port 2222 proto tcp' 'ufw allow from 198.18.0.9 to any port 80 proto tcp'; exit 0; fi\n`),
  );
  for (const t of ['nft', 'iptables', 'ufw']) await chmod(join(dir, t), 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runLogged(command: string): Promise<string[][]> {
  await writeFile(join(dir, 'log'), '');
  const result = await execa('sh', ['-c', command], { env: { PATH: `${dir}:/usr/bin:/bin` }, reject: false });
  expect(result.exitCode).toBe(0);
  return (await readFile(join(dir, 'log'), 'utf8')).split('\n\n').filter((c) => c !== '').map((c) => c.split('\n'));
}

describe("panic's fwknopd part", () => {
  it('nftables: flushes the SPA door set spa4', async () => {
    const command = fwknopdPanicCommand({ pidfile: `${dir}/no such.pid`, firewall: 'nftables', sshPort: 22 });
    expect(command.startsWith(PANIC_FWKNOPD_MARK)).toBe(true);
    expect(await runLogged(command)).toEqual([['nft', 'flush', 'set', 'inet', 'knockstick', 'spa4']]);
  });

  it("iptables: flushes fwknopd's FWKNOP_INPUT chain", async () => {
    expect(await runLogged(fwknopdPanicCommand({ pidfile: '/run/fwknop/fwknopd.pid', firewall: 'iptables', sshPort: 22 }))).toEqual([['iptables', '-F', 'FWKNOP_INPUT']]);
  });

  it('ufw: deletes each rule CMD_CYCLE_OPEN added for the SSH port, and no other rule', async () => {
    expect(await runLogged(fwknopdPanicCommand({ pidfile: '/run/fwknop/fwknopd.pid', firewall: 'ufw', sshPort: 2222 }))).toEqual([
      ['ufw', 'delete', 'allow', 'proto', 'tcp', 'from', '198.18.0.2', 'to', 'any', 'port', '2222'],
      ['ufw', 'delete', 'allow', 'proto', 'tcp', 'from', '2001:db8::7', 'to', 'any', 'port', '2222'],
    ]);
  });

  it('the pidfile is quoted: a path with a quote or $(...) stays a path', () => {
    const command = fwknopdPanicCommand({ pidfile: "/run/it's $(reboot).pid", firewall: 'nftables', sshPort: 22 });
    expect(command).toContain(`kill -TERM "$(cat '/run/it'\\''s $(reboot).pid')" 2>/dev/null;`);
  });

  it('the [panic] command stops fwknopd first (it opens nothing more), then knockd, and SIGKILLs both two seconds later', () => {
    const command = panicCommand('nftables', '/run/knockd.pid', '', undefined, { pidfile: '/run/fwknop/fwknopd.pid', firewall: 'nftables', sshPort: 22 });
    expect(command.indexOf("cat '/run/fwknop/fwknopd.pid'")).toBeLessThan(command.indexOf("cat '/run/knockd.pid'"));
    expect(command).toMatch(/^: knockstick stops fwknopd too; kill -TERM "\$\(cat '\/run\/fwknop\/fwknopd\.pid'\)" 2>\/dev\/null; nft flush set inet knockstick spa4/);
    expect(command).toMatch(/sleep 2; kill -KILL "\$\(cat '\/run\/knockd\.pid'\)" 2>\/dev\/null; kill -KILL "\$\(cat '\/run\/fwknop\/fwknopd\.pid'\)" 2>\/dev\/null; true$/);
    // Without fwknopd, the command is what it was.
    expect(panicCommand('nftables', '/run/knockd.pid')).not.toContain('fwknopd');
  });
});
