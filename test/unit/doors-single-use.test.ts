// The doors server init generates: exactly which rules and knockd commands, per firewall and door
// policy, and that what knockd runs through sh -c reaches the tools as the words we meant.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  dnatDoorRule,
  dnatStartCommand,
  doorStartCommand,
  flushDnatCommand,
  flushDoorsCommand,
  flushRecentCommand,
  iptablesDoorRule,
  nftDoorRule,
  panicCommand,
  recentListOf,
  recentOpenCommand,
  type DoorPolicy,
} from '../../src/core/firewall.js';
import { loadTemplate } from '../../src/core/templates.js';
import { TEMPLATE_NAMES, pathsIn, planServerFiles, type ServerFirewall, type Templates } from '../../src/server/plan.js';
import { SPA_TEMPLATE_NAMES, planSpaFiles, spaDoorLines, spaDoorRule, spaPathsIn } from '../../src/server/spa.js';

const web = { name: 'web', address: '192.168.1.10' };

describe('door commands and rules', () => {
  it('nftables: knockd adds the address with a timeout; the rule deletes it as it admits (single-use) or not (window)', () => {
    expect(doorStartCommand('nftables', 10)).toBe('nft add element inet knockstick doors4 { %IP% timeout 10s }');
    expect(nftDoorRule(4, 22, 'single-use')).toBe('ct state new ip saddr @doors4 tcp dport 22 delete @doors4 { ip saddr } accept');
    expect(nftDoorRule(6, 2222, 'single-use')).toBe('ct state new ip6 saddr @doors6 tcp dport 2222 delete @doors6 { ip6 saddr } accept');
    expect(nftDoorRule(4, 22, 'window')).toBe('ct state new ip saddr @doors4 tcp dport 22 accept');
  });

  it('iptables: knockd writes +%IP% to the xt_recent list; the rule checks its age and (single-use) removes it', () => {
    expect(doorStartCommand('iptables', 10)).toBe("echo +%IP% > '/proc/net/xt_recent/knockstick'");
    expect(iptablesDoorRule('INPUT', 22, 10, 'single-use')).toBe(
      '-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --name knockstick --rcheck --seconds 10 -m recent --name knockstick --remove -j ACCEPT',
    );
    expect(iptablesDoorRule('ufw-before-input', 22, 30, 'window')).toBe('-A ufw-before-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --name knockstick --rcheck --seconds 30 -j ACCEPT');
  });

  it('router: one door per inner host in the nat table, the same single-use and timeout', () => {
    expect(dnatStartCommand('nftables', web, 10)).toBe('nft add element ip knockstick_nat door_web { %IP% timeout 10s }');
    expect(dnatStartCommand('iptables', web, 10)).toBe("echo +%IP% > '/proc/net/xt_recent/knockstick_web'");
    const o = { interface: 'wan0', sshPort: 22, seconds: 10, policy: 'single-use' as DoorPolicy };
    expect(dnatDoorRule('nftables', web, o)).toBe('iifname "wan0" ip saddr @door_web tcp dport 22 delete @door_web { ip saddr } dnat to 192.168.1.10:22');
    expect(dnatDoorRule('nftables', web, { ...o, policy: 'window' })).toBe('iifname "wan0" ip saddr @door_web tcp dport 22 dnat to 192.168.1.10:22');
    expect(dnatDoorRule('iptables', web, o)).toBe(
      '-A KNOCKSTICK_ROUTER -p tcp --dport 22 -m recent --name knockstick_web --rcheck --seconds 10 -m recent --name knockstick_web --remove -j DNAT --to-destination 192.168.1.10:22',
    );
    // Names become plain words wherever they go (nft set names, xt_recent list names, file names).
    expect(recentListOf('my-nas')).toBe('knockstick_my_nas');
    expect(() => recentOpenCommand("x' ; reboot")).toThrow(/not an xt_recent list name/);
  });

  it('panic empties the xt_recent lists and the old per-rule chains as well as the nft sets', () => {
    expect(flushDoorsCommand('iptables')).toBe(
      "iptables -F KNOCKSTICK_DOORS; ip6tables -F KNOCKSTICK_DOORS 2>/dev/null || true; { echo / > '/proc/net/xt_recent/knockstick'; } 2>/dev/null || true",
    );
    expect(flushDoorsCommand('nftables')).toBe('nft flush set inet knockstick doors4; nft flush set inet knockstick doors6 2>/dev/null || true');
    expect(flushDnatCommand('iptables', [web])).toBe("iptables -t nat -F KNOCKSTICK_DNAT; { echo / > '/proc/net/xt_recent/knockstick_web'; } 2>/dev/null || true");
    expect(panicCommand('iptables', '/run/knockd.pid')).toContain("{ echo / > '/proc/net/xt_recent/knockstick'; } 2>/dev/null || true; sleep 2");
  });

  it('a timeout must be whole seconds', () => {
    expect(() => doorStartCommand('nftables', 0)).toThrow(/whole number of seconds/);
    expect(() => iptablesDoorRule('INPUT', 22, 1.5, 'single-use')).toThrow(/whole number of seconds/);
  });
});

describe('what knockd runs through sh -c', () => {
  let bin: string;
  beforeAll(async () => {
    // Stand-ins for nft/iptables that print the words they were given, one per line.
    bin = await mkdtemp(join(tmpdir(), 'knockstick-doors-'));
    for (const tool of ['nft', 'iptables', 'ip6tables']) {
      await writeFile(join(bin, tool), `#!/bin/sh\nfor w in "$@"; do printf '%s|' "$w"; done; echo\n`);
      await chmod(join(bin, tool), 0o700);
    }
  });
  // (jest ignores a function returned by beforeAll: the stand-ins go here.)
  afterAll(async () => rm(bin, { recursive: true, force: true }));
  const run = async (command: string) => (await execa('sh', ['-c', command.replaceAll('%IP%', '198.18.0.2')], { env: { PATH: `${bin}:/usr/bin:/bin` } })).stdout;

  it('the nft door reaches nft as separate words, braces included', async () => {
    expect(await run(doorStartCommand('nftables', 7))).toBe('add|element|inet|knockstick|doors4|{|198.18.0.2|timeout|7s|}|');
    expect(await run(dnatStartCommand('nftables', { name: 'my-nas', address: '10.0.0.2' }, 3))).toBe('add|element|ip|knockstick_nat|door_my_nas|{|198.18.0.2|timeout|3s|}|');
  });

  it('every command parses in sh (sh -n), and a panic flush of missing lists is quiet and succeeds', async () => {
    for (const c of [doorStartCommand('iptables', 5), dnatStartCommand('iptables', web, 5), flushDoorsCommand('iptables'), panicCommand('iptables', "/run/it's.pid", flushDnatCommand('iptables', [web]))]) {
      expect((await execa('sh', ['-n', '-c', c], { reject: false })).exitCode).toBe(0);
    }
    // The real lists may not exist here (no rule names them): the flush says nothing and succeeds.
    const quiet = await execa('sh', ['-c', flushRecentCommand(['knockstick_no_such_list_here'])], { reject: false });
    expect({ exitCode: quiet.exitCode, stderr: quiet.stderr }).toEqual({ exitCode: 0, stderr: '' });
  });
});

describe('server init files', () => {
  let templates: Templates;
  beforeAll(async () => {
    templates = Object.fromEntries(await Promise.all(TEMPLATE_NAMES.map(async (n) => [n, await loadTemplate(n)] as const)));
  });
  const plan = (firewall: ServerFirewall, doorPolicy: DoorPolicy, inner: Array<{ name: string; address: string }> = []) =>
    planServerFiles(
      {
        interface: 'eth0',
        firewall,
        sshPort: 22,
        seqTimeout: 15,
        cmdTimeout: 10,
        doorPolicy,
        panicSequence: [41001, 41002, 41003].map((port) => ({ port, protocol: 'tcp' as const })),
        inner,
        allow: [],
        paths: pathsIn('/srv/ks'),
      },
      templates,
    );
  const file = (files: ReturnType<typeof plan>, name: string): string => files.find((f) => f.path === `/srv/ks/${name}`)?.text ?? '';

  it.each<[ServerFirewall, string, string]>([
    ['nftables', 'firewall.nft', '    ct state new ip saddr @doors4 tcp dport 22 delete @doors4 { ip saddr } accept\n'],
    ['iptables', 'iptables.rules', '-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --name knockstick --rcheck --seconds 10 -m recent --name knockstick --remove -j ACCEPT\n-A INPUT -j KNOCKSTICK_DOORS\n'],
    ['ufw', 'ufw-before.rules', '-A ufw-before-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --name knockstick --rcheck --seconds 10 -m recent --name knockstick --remove -j ACCEPT\n'],
  ])('%s: the door rule is in %s, knockd.conf has a start command and no stop command, server.conf names the policy', (firewall, name, rule) => {
    const files = plan(firewall, 'single-use');
    expect(file(files, name)).toContain(rule);
    const conf = file(files, 'knockd.conf');
    expect(conf).toMatch(/^ {2}start_command {6}= (nft add element inet knockstick doors4 \{ %IP% timeout 10s \}|echo \+%IP% > '\/proc\/net\/xt_recent\/knockstick')$/m);
    expect(conf).not.toMatch(/^\s*stop_command/m);
    expect(file(files, 'server.conf')).toMatch(/^door_policy = single-use$/m);
    expect(file(plan(firewall, 'window'), 'server.conf')).toMatch(/^door_policy = window$/m);
  });

  it('window: the same doors and commands, only the rule leaves the address in', () => {
    expect(file(plan('nftables', 'window'), 'firewall.nft')).toContain('    ct state new ip saddr @doors4 tcp dport 22 accept\n');
    expect(file(plan('iptables', 'window'), 'iptables.rules')).toContain('-m recent --name knockstick --rcheck --seconds 10 -j ACCEPT\n');
    expect(file(plan('nftables', 'window'), 'knockd.conf')).toBe(file(plan('nftables', 'single-use'), 'knockd.conf'));
  });

  it('router mode: timeout sets and single-use DNAT rules (nft), a flushed chain of xt_recent DNAT rules (iptables)', () => {
    const inner = [web, { name: 'db', address: '192.168.1.11' }];
    const nft = file(plan('nftables', 'single-use', inner), 'router.nft');
    expect(nft).toContain('  set door_web { type ipv4_addr; flags timeout; }\n');
    expect(nft).toContain('    iifname "eth0" ip saddr @door_db tcp dport 22 delete @door_db { ip saddr } dnat to 192.168.1.11:22\n');
    const sh = file(plan('iptables', 'single-use', inner), 'router-iptables.sh');
    expect(sh).toContain(
      'iptables -t nat -F KNOCKSTICK_ROUTER\n' +
        'iptables -t nat -A KNOCKSTICK_ROUTER -p tcp --dport 22 -m recent --name knockstick_web --rcheck --seconds 10 -m recent --name knockstick_web --remove -j DNAT --to-destination 192.168.1.10:22\n',
    );
    expect(sh).toContain("iptables -t nat -C PREROUTING -i 'eth0' -j KNOCKSTICK_ROUTER 2>/dev/null || iptables -t nat -A PREROUTING -i 'eth0' -j KNOCKSTICK_ROUTER\n");
    const conf = file(plan('iptables', 'single-use', inner), 'knockd.conf');
    expect(conf).toContain("start_command      = echo +%IP% > '/proc/net/xt_recent/knockstick_db'\n");
    expect(conf).toContain("{ echo / > '/proc/net/xt_recent/knockstick_web'; } 2>/dev/null || true; { echo / > '/proc/net/xt_recent/knockstick_db'; } 2>/dev/null || true");
  });

  it('SPA with nftables: spa4 elements with the door timeout, no close command, a single-use rule', () => {
    expect(spaDoorLines('nftables', 10)).toBe(
      'CMD_CYCLE_OPEN          /usr/sbin/nft add element inet knockstick spa4 { $SRC timeout 10s }\nCMD_CYCLE_CLOSE         NONE\nCMD_CYCLE_TIMER         10',
    );
    expect(spaDoorRule(22, 'single-use')).toBe('ct state new ip saddr @spa4 tcp dport 22 delete @spa4 { ip saddr } accept');
    expect(spaDoorRule(22, 'window')).toBe('ct state new ip saddr @spa4 tcp dport 22 accept');
  });

  it('SPA files render for both policies', async () => {
    const spaTemplates = Object.fromEntries(
      await Promise.all(SPA_TEMPLATE_NAMES.map(async (n) => [n, await loadTemplate(n)] as const)),
    );
    const keys = { encryption: Buffer.alloc(32, 1), hmac: Buffer.alloc(64, 2) };
    for (const doorPolicy of ['single-use', 'window'] as const) {
      const files = planSpaFiles({ interface: 'eth0', firewall: 'nftables', sshPort: 22, doorSeconds: 10, doorPolicy, spaServer: 'h', keys, paths: spaPathsIn('/srv/spa'), allow: [] }, spaTemplates);
      expect(files.find((f) => f.path.endsWith('firewall-spa.nft'))?.text).toContain(`    ${spaDoorRule(22, doorPolicy)}\n`);
    }
  });
});
