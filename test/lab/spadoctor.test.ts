// doctor on a real SPA server: the files `server init --method spa` writes, its firewall (iptables:
// fwknopd's own FWKNOP_INPUT doors; nftables: spa4 doors by CMD_CYCLE_OPEN) loaded in the lab's server namespace, the real fwknopd 2.6.10 running on them and the lab sshd's
// config. doctor (run in that namespace) gives a clean bill; then the server is broken five ways at
// once (access.conf mode 0644, no HMAC key, OPEN_PORTS on the wrong port, a firewall rule letting
// SSH in for everyone, fwknopd killed) and doctor names each fault (nftables: the SSH rule only).

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { SERVER_ADDR, createLab, runIn, startSshd, type FirewallKind, type Lab } from '../../src/lab/lab.js';
import { startFwknopd, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import type { Finding } from '../../src/doctor/checks.js';

jest.setTimeout(60_000);

interface DoctorJson {
  readonly ok: boolean;
  readonly errors: number;
  readonly findings: readonly Finding[];
}

describe.each<FirewallKind>(['iptables', 'nftables'])('doctor on an SPA server with the real fwknopd (%s)', (kind) => {
  let lab: Lab;
  let fwknopd: FwknopdHandle | undefined;
  let out: string;
  let sshdConfig: string;

  beforeAll(async () => {
    lab = await createLab();
    try {
      await startSshd(lab);
      sshdConfig = join(lab.dir, 'sshd', 'sshd_config');
      out = join(lab.dir, 'server');
      await mkdir(out);
      const init = await knockstick([
        'server', 'init', '--yes', '--method', 'spa', '--spa-server', SERVER_ADDR, '--interface', lab.serverIf,
        '--out', out, '--firewall', kind, '--cmd-timeout', '3', ...(kind === 'iptables' ? ['--door-policy', 'window'] : []),
      ]);
      expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
      if (kind === 'nftables') await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
      else await lab.run(lab.serverNs, 'sh', ['-c', 'iptables-restore < "$1"', 'sh', join(out, 'iptables-spa.rules')]);
      fwknopd = await startFwknopd(lab, { files: { conf: join(out, 'fwknopd.conf'), access: join(out, 'access.conf') }, name: 'fwknopd-doctor' });
    } catch (error) {
      await fwknopd?.stop();
      await lab.teardown();
      throw error;
    }
  });
  afterAll(async () => {
    await fwknopd?.stop();
    await lab?.teardown();
  });

  /**
   * doctor --json in the server namespace. sshd -T wants /run/sshd: a tmpfs on /run inside `ip netns
   * exec`'s private mount namespace gives it one without touching the host (as the lab sshd has).
   */
  async function doctor(access: string): Promise<DoctorJson & { exitCode: number; stderr: string }> {
    const args = [join(DIST_BIN, 'knockstick.js'), 'doctor', '--json', '--fwknopd-conf', join(out, 'fwknopd.conf'), '--access-conf', access,
      '--pidfile', join(fwknopd?.dir ?? '', 'fwknopd.pid'), '--sshd-config', sshdConfig, '--server-config', join(lab.dir, 'no-server.conf')];
    const result = await runIn(lab.serverNs, 'sh', ['-c', 'mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec "$@"', 'sh', process.execPath, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: lab.dir },
    });
    return { ...(JSON.parse(result.stdout) as DoctorJson), exitCode: result.exitCode, stderr: result.stderr };
  }
  const problems = (r: DoctorJson): string[] => r.findings.filter((f) => f.severity !== 'ok').map((f) => `${f.severity} ${f.id}: ${f.message}`);

  it('gives a clean bill for the server as server init made it', async () => {
    const clean = await doctor(join(out, 'access.conf'));
    expect({ exitCode: clean.exitCode, problems: problems(clean) }).toEqual({ exitCode: 0, problems: [] });
    const ids = clean.findings.map((f) => f.id);
    // Each check ran (with root here, the real fwknopd confirmed our reading); FWKNOP_INPUT only with fwknopd's iptables doors.
    for (const id of ['fwknopd.conf', 'access.conf', 'fwknopd:probe', 'access.conf:mode', 'access:key', 'access:hmac', 'access:open-ports', 'fwknopd:port', 'fwknopd', 'fwknopd:firewall', 'sshd']) expect(ids).toContain(id);
    expect(ids.includes('fwknopd:chain')).toBe(kind === 'iptables');
    expect(clean.findings.find((f) => f.id === 'fwknopd:probe')?.message).toMatch(/the real fwknopd reads .* as we do \(1 stanza\(s\)\)/);
    expect(JSON.stringify(clean)).not.toContain(/KEY_BASE64\s+(\S+)/.exec(await readFile(join(out, 'access.conf'), 'utf8'))?.[1]);
  });

  if (kind === 'nftables') it('names an nft rule letting SSH in for everyone', async () => {
    await lab.run(lab.serverNs, 'nft', ['insert', 'rule', 'inet', 'knockstick', 'input', 'tcp', 'dport', '22', 'accept']);
    const sick = await doctor(join(out, 'access.conf'));
    expect({ exitCode: sick.exitCode, problems: problems(sick) }).toEqual({ exitCode: 9, problems: [expect.stringMatching(/^error fwknopd:firewall: the firewall accepts SSH \(port 22\) from anyone/)] });
  });

  if (kind === 'iptables') it('names each of five faults', async () => {
    // A broken copy of access.conf (the running fwknopd keeps its own): mode 0644, no HMAC key, OPEN_PORTS on 2222.
    const broken = join(lab.dir, 'broken-access.conf');
    await copyFile(join(out, 'access.conf'), broken);
    await writeFile(broken, (await readFile(broken, 'utf8')).replace(/^HMAC_KEY_BASE64 .*\n/m, '').replace('tcp/22', 'tcp/2222'));
    await chmod(broken, 0o644);
    await lab.run(lab.serverNs, 'iptables', ['-I', 'INPUT', '2', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
    await fwknopd?.stop();

    const sick = await doctor(broken);
    expect(sick.exitCode).toBe(9);
    const errors = sick.findings.filter((f) => f.severity === 'error');
    const named = (id: string, text: RegExp): void => expect(errors.filter((f) => f.id === id).map((f) => f.message)).toEqual([expect.stringMatching(text)]);
    named('access.conf:mode', /broken-access\.conf has mode 0644: others can read the SPA keys/);
    named('access:hmac', /broken-access\.conf:\d+ \(SOURCE ANY\) has no HMAC key/);
    named('access:open-ports', /OPEN_PORTS tcp\/2222 does not include sshd's port 22/);
    named('fwknopd:firewall', /accepts SSH \(port 22\) from anyone/);
    named('fwknopd', /fwknopd is not running \(pid \d+ from .*fwknopd\.pid is gone\)|no pid in/);
  });
});
