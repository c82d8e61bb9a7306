// The knockstick_server Ansible role with Debian's real ansible-playbook, against three lab servers
// (ks1 knock + nftables, ks2 knock + iptables, ks3 SPA + nftables; sshd in each namespace, nothing
// else until the role installs it) from a controller namespace that reaches them only through
// their doors once the role is done: check mode before anything exists, a first converge, a second
// one through the doors that changes nothing and spends one sequence per host, a shell on each
// through its door, a second stick (member) of one host through its own door, a refill of every
// host in one play, check mode, a firewall whose confirmation never comes and goes back by itself,
// and ansible-lint. One lab for the file: each step builds on the one before.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick } from '../helpers/cli.js';
import { waitFor, type RunResult } from '../../src/lab/lab.js';
import { ANSIBLE_DIR, createAnsibleLab, type AnsibleLab, type AnsibleLabHost } from '../../src/lab/ansible-lab.js';

jest.setTimeout(600_000);

let alab: AnsibleLab;

beforeAll(async () => {
  alab = await createAnsibleLab();
});

afterAll(async () => {
  await alab?.teardown();
});

interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

/** PLAY RECAP lines → host → counters. */
function recap(stdout: string): Record<string, Recap> {
  const out: Record<string, Recap> = {};
  for (const m of stdout.matchAll(/^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    out[m[1] as string] = { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) };
  }
  return out;
}

const explain = (r: RunResult) => (r.exitCode === 0 ? { exitCode: 0 } : { exitCode: r.exitCode, stdout: r.stdout.slice(-6000), stderr: r.stderr.slice(-3000) });

const knockHosts = (): AnsibleLabHost[] => alab.hosts.filter((h) => h.method === 'knock');

/** Sequences used so far on the stick and in the server's file, and whether they are in step. */
async function used(h: AnsibleLabHost): Promise<{ server: number; stick: number; state: string }> {
  const status = await seqStatus(h);
  return { server: status.server.used, stick: status.stick.used, state: status.lockstep.state };
}

interface SeqStatus {
  lockstep: { state: string };
  server: { used: number; unused: number };
  stick: { used: number; unused: number };
}

async function seqStatus(h: AnsibleLabHost): Promise<SeqStatus> {
  const r = await knockstick(['seqgen', 'status', '--json', '--server-file', alab.serverFile(h), '--stick', h.stick, '--host', h.alias]);
  return JSON.parse(r.stdout) as SeqStatus;
}

const ruleset = (h: AnsibleLabHost): Promise<string> => alab.lab.run(h.ns, 'nft', ['list', 'ruleset']);

/** ssh from the controller with the host's stick config; extra options before the alias. */
const ssh = (h: AnsibleLabHost, options: readonly string[], command: string): Promise<RunResult> =>
  alab.controller('ssh', ['-F', join(h.stick, '.ssh', 'config'), ...options, h.alias, command], 60_000);

describe('the knockstick_server role converges three lab servers through their doors', () => {
  it('check mode before any converge writes nothing: no stage, no host files, the stick untouched', async () => {
    const stickFiles = async () => (await Promise.all(alab.hosts.map((h) => readdir(join(h.stick, '.ssh'))))).map((l) => l.sort());
    const sticksBefore = await stickFiles();
    const result = await alab.playbook('playbooks/converge.yml', ['--check']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    for (const h of alab.hosts) expect(recap(result.stdout)[h.name]).toMatchObject({ failed: 0, unreachable: 0 });
    expect({ stage: existsSync(alab.stage), roots: alab.hosts.map((h) => existsSync(h.root)) }).toEqual({ stage: false, roots: [false, false, false] });
    expect(await stickFiles()).toEqual(sticksBefore);
  });

  it('a first converge installs all three and confirms each firewall with a new connection through its door', async () => {
    const result = await alab.playbook('playbooks/converge.yml');
    expect(explain(result)).toEqual({ exitCode: 0 });
    const counts = recap(result.stdout);
    for (const h of alab.hosts) {
      expect(counts[h.name]).toMatchObject({ failed: 0, unreachable: 0 });
      expect(existsSync(join(alab.stage, h.name, 'door-confirmed'))).toBe(true);
      expect(await ruleset(h)).toContain(h.firewall === 'nftables' ? 'table inet knockstick' : 'KNOCKSTICK_DOORS');
    }
    // The first converge reached the hosts directly (no door yet), then once through the door.
    for (const h of knockHosts()) expect(await used(h)).toEqual({ server: 1, stick: 1, state: 'in-step' });
    // Each "host" got its own tree (knockstick_root): nothing was written to the machine's /etc.
    expect(await readFile(join(alab.hosts[0]?.root ?? '', 'etc/knockstick/knockd.conf'), 'utf8')).toContain(`one_time_sequences = ${alab.serverFile(alab.hosts[0] as AnsibleLabHost)}`);
  });

  it('a direct connection is dropped on every server: only the door lets ssh in', async () => {
    const direct = await Promise.all(alab.hosts.map((h) => ssh(h, ['-o', 'ProxyCommand=none', '-o', 'ConnectTimeout=2', '-o', 'BatchMode=yes'], 'true')));
    expect(direct.map((r) => r.exitCode)).toEqual([255, 255, 255]);
  });

  it('a second converge, entirely through the doors, changes nothing and spends one sequence per host', async () => {
    const before = await Promise.all(knockHosts().map(used));
    const result = await alab.playbook('playbooks/converge.yml');
    expect(explain(result)).toEqual({ exitCode: 0 });
    const counts = recap(result.stdout);
    for (const h of alab.hosts) expect(counts[h.name]).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    const after = await Promise.all(knockHosts().map(used));
    // One connection (ControlMaster) carried every task: one door, one sequence, per host.
    after.forEach((a, i) => expect(a).toEqual({ server: (before[i]?.server ?? 0) + 1, stick: (before[i]?.stick ?? 0) + 1, state: 'in-step' }));
  });

  it('a shell on each server through its door with the stick', async () => {
    for (const h of alab.hosts) {
      const before = h.method === 'knock' ? await used(h) : undefined;
      const shell = await ssh(h, ['-o', 'BatchMode=yes'], 'echo "$((6 * 7)) from $(hostname -I 2>/dev/null || ip -4 -o addr show ks-srv)"');
      expect(explain(shell)).toEqual({ exitCode: 0 });
      expect(shell.stdout).toContain('42 from');
      expect(shell.stdout).toContain(h.address);
      if (before !== undefined) expect((await used(h)).stick).toBe(before.stick + 1);
    }
  });

  it("a second stick of ks1 (knockstick_sticks) gets in through its own door, spending its own file's sequence", async () => {
    const m = alab.member;
    const status = async () => {
      const r = await knockstick(['seqgen', 'status', '--json', '--server-file', join(m.host.root, 'etc/knockstick', `stick-${m.name}`), '--stick', m.stick, '--host', m.host.alias]);
      return JSON.parse(r.stdout) as SeqStatus;
    };
    const before = await status();
    const firstStick = await used(m.host);
    const shell = await alab.controller('ssh', ['-F', join(m.stick, '.ssh', 'config'), '-o', 'BatchMode=yes', m.host.alias, 'echo member in'], 60_000);
    expect(explain(shell)).toEqual({ exitCode: 0 });
    const after = await status();
    expect({ state: after.lockstep.state, server: after.server.used, stick: after.stick.used }).toEqual({ state: 'in-step', server: before.server.used + 1, stick: before.stick.used + 1 });
    expect(await used(m.host)).toEqual(firstStick);
    // The stick refills the host's file, not the controller's stage.
    expect(await readFile(join(m.stick, '.ssh', 'knockstick.conf'), 'utf8')).toContain(`server_file = ${join(m.host.root, 'etc/knockstick', `stick-${m.name}`)}`);
  });

  it('one play refills every knock host through its door (seqgen --remote per host), appending on both sides', async () => {
    const before = await Promise.all(knockHosts().map(seqStatus));
    const result = await alab.playbook('playbooks/refill.yml', ['-e', 'knockstick_refill=5']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    const after = await Promise.all(knockHosts().map(seqStatus));
    after.forEach((a, i) => {
      const b = before[i] as SeqStatus;
      // One sequence spent to get in, five appended.
      expect({ state: a.lockstep.state, server: a.server.unused, stick: a.stick.unused }).toEqual({ state: 'in-step', server: b.server.unused + 4, stick: b.stick.unused + 4 });
    });
  });

  it('check mode reports what would change and changes nothing', async () => {
    const h = alab.hosts[0] as AnsibleLabHost;
    const files = [join(alab.stage, h.name, 'knockd.conf'), join(h.root, 'etc/knockstick/knockd.conf'), join(h.root, 'etc/knockstick/firewall.nft')];
    const before = await Promise.all(files.map((f) => readFile(f, 'utf8')));
    const rulesBefore = await ruleset(h);
    const result = await alab.playbook('playbooks/converge.yml', ['--check', '--limit', h.name, '-e', 'knockstick_cmd_timeout=7']);
    expect(explain(result)).toEqual({ exitCode: 0 });
    expect(recap(result.stdout)[h.name]?.changed).toBeGreaterThan(0);
    expect(await Promise.all(files.map((f) => readFile(f, 'utf8')))).toEqual(before);
    // The door set's elements come and go; the rules themselves are the same.
    const rules = (text: string) => text.replace(/elements = \{[^}]*\}/g, '');
    expect(rules(await ruleset(h))).toBe(rules(rulesBefore));
  });

  it('a firewall whose confirmation never comes goes back by itself', async () => {
    const h = alab.hosts[2] as AnsibleLabHost; // SPA: a blocked door spends no sequences
    // The firewall "before": no knockstick table, a table of its own; the controller forgets the
    // door (so the play starts directly) and the door is cut (SPA packets never arrive).
    await alab.lab.run(h.ns, 'nft', ['delete', 'table', 'inet', 'knockstick']);
    await alab.lab.run(h.ns, 'nft', ['add', 'table', 'inet', 'labold']);
    await rm(join(alab.stage, h.name, 'door-confirmed'));
    await alab.lab.run(alab.controllerNs, 'nft', ['add', 'table', 'inet', 'labblock']);
    await alab.lab.run(alab.controllerNs, 'nft', ['add', 'chain', 'inet', 'labblock', 'out', '{ type filter hook output priority 0; }']);
    await alab.lab.run(alab.controllerNs, 'nft', ['add', 'rule', 'inet', 'labblock', 'out', 'ip', 'daddr', h.address, 'udp', 'dport', '62201', 'drop']);
    const result = await alab.playbook('playbooks/converge.yml', ['--limit', h.name, '--tags', 'firewall', '-e', 'knockstick_confirm_seconds=6', '-e', 'knockstick_confirm_timeout=3']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toMatch(/TASK \[knockstick_server : Apply the firewall\][^\n]*\n(changed|ok)[^\n]*\n?/);
    const counts = recap(result.stdout)[h.name];
    expect((counts?.failed ?? 0) + (counts?.unreachable ?? 0)).toBe(1);
    // Bounded: the rollback fires 6 s after it started.
    const back = await waitFor(async () => {
      const text = await ruleset(h);
      return text.includes('table inet labold') && !text.includes('table inet knockstick');
    }, 40_000, 500);
    expect({ back, ruleset: back ? '' : await ruleset(h) }).toEqual({ back: true, ruleset: '' });
  });

  it('ansible-lint finds nothing in the role and the playbook', async () => {
    const home = await mkdtemp(join(tmpdir(), 'knockstick-ansible-lint-'));
    try {
      const lint = await execa('ansible-lint', ['--offline', '--nocolor', '-p', 'playbooks/converge.yml', 'roles/knockstick_server'], {
        cwd: ANSIBLE_DIR,
        reject: false,
        env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' },
        extendEnv: false,
      });
      expect({ exitCode: lint.exitCode, out: lint.exitCode === 0 ? '' : `${lint.stdout}\n${lint.stderr}` }).toEqual({ exitCode: 0, out: '' });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
