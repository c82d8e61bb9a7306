// One test per doctor finding, each on a deliberately broken set of facts, and a clean bill.

import { describe, expect, it } from '@jest/globals';
import { diagnose, type Facts } from '../../src/doctor/checks.js';

const SEQS = Array.from({ length: 12 }, (_, i) => ` ${[1, 2, 3].map((j) => 20000 + i * 10 + j).join(',')}\n`).join('');
// A door as server init writes it: an element with a timeout, no stop_command, a single-use rule.
const CONF = `[options]
  interface = eth0
[ssh]
  one_time_sequences = /etc/knockd/ssh
  tcpflags = syn
  start_command = nft add element inet knockstick doors4 { %IP% timeout 10s }
  cmd_timeout = 10
[panic]
  sequence = 41001,41002,41003
  tcpflags = syn
  command = kill -TERM "$(cat '/run/knockd.pid')"; iptables -F KNOCKSTICK_DOORS
`;
const NFT = `table inet knockstick {
  set doors4 {
    type ipv4_addr
    size 65535
    flags dynamic,timeout
    elements = { 192.0.2.9 timeout 10s expires 9s }
  }
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state new ip saddr @doors4 tcp dport 22 delete @doors4 { ip saddr } accept
  }
}`;
/** A hand-made door (and knockstick's before single-use doors): a rule per door, removed by stop_command. */
const RULE_DOOR = CONF.replace(
  /  start_command = .*\n/,
  '  start_command = iptables -A KNOCKSTICK_DOORS -s %IP% -p tcp --dport 22 -j ACCEPT\n  stop_command = iptables -D KNOCKSTICK_DOORS -s %IP% -p tcp --dport 22 -j ACCEPT\n',
);
const RECENT_DOOR = CONF.replace(/  start_command = .*\n/, "  start_command = echo +%IP% > '/proc/net/xt_recent/knockstick'\n");
const IPT_SINGLE_USE =
  '*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n' +
  '-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --rcheck --seconds 10 --name knockstick --mask 255.255.255.255 --rsource -m recent --remove --name knockstick --mask 255.255.255.255 --rsource -j ACCEPT\nCOMMIT\n';
const withConf = (f: Facts, text: string): Facts => ({ ...f, knockdConf: { ...f.knockdConf, text } });

function healthy(): Facts {
  return {
    knockdConf: { path: '/etc/knockd.conf', text: CONF, mode: 0o600 },
    oneTimeFiles: new Map([['/etc/knockd/ssh', { text: SEQS, mode: 0o600 }]]),
    knockd: { pidfile: '/run/knockd.pid', pid: 42, alive: true },
    iface: { name: 'eth0', ipv4: ['192.0.2.1/24'] },
    firewall: { nft: NFT, iptables: null, sshPort: 22 },
    sshdT: 'passwordauthentication no\nkbdinteractiveauthentication no\n',
    stick: {
      root: '/stick',
      alias: 'home',
      sshConfigError: null,
      identityFiles: [{ path: '/stick/.ssh/id_ed25519', mode: 0o600 }],
      sequences: { path: '/stick/.ssh/sequences', text: SEQS, mode: 0o600 },
      serverFile: undefined,
    },
    warnBelow: 10,
  };
}

function errorsAndWarnings(facts: Facts): string[] {
  return diagnose(facts)
    .filter((f) => f.severity !== 'ok')
    .map((f) => `${f.severity} ${f.id}: ${f.message}`);
}

describe('doctor', () => {
  it('gives a healthy setup a clean bill', () => {
    expect(errorsAndWarnings(healthy())).toEqual([]);
  });

  const cases: Array<[string, (f: Facts) => Facts, RegExp]> = [
    ['knockd.conf missing', (f) => ({ ...f, knockdConf: { ...f.knockdConf, text: null } }), /error knockd.conf: .* does not exist/],
    ['knockd.conf error', (f) => ({ ...f, knockdConf: { ...f.knockdConf, text: `${CONF}  bogus = 1\n` } }), /error knockd.conf: .*unknown directive "bogus"/],
    ['knockd.conf readable by others', (f) => ({ ...f, knockdConf: { ...f.knockdConf, mode: 0o644 } }), /warning knockd.conf:mode/],
    ['an invalid line in a one-time file', (f) => ({ ...f, oneTimeFiles: new Map([['/etc/knockd/ssh', { text: `${SEQS} 1,x,3\n`, mode: 0o600 }]]) }), /error sequences:ssh: .*1 invalid line.*:13: port 2 is not a port number/],
    ['unequal line lengths', (f) => ({ ...f, oneTimeFiles: new Map([['/etc/knockd/ssh', { text: `${SEQS} 1,2\n`, mode: 0o600 }]]) }), /error sequences:ssh: .*has 2 ports but line 1 has 3/],
    ['a missing final newline', (f) => ({ ...f, oneTimeFiles: new Map([['/etc/knockd/ssh', { text: SEQS.trimEnd(), mode: 0o600 }]]) }), /warning sequences:ssh:newline/],
    ['only one unused line', (f) => ({ ...f, oneTimeFiles: new Map([['/etc/knockd/ssh', { text: ' 5,6,7\n', mode: 0o600 }]]) }), /error sequences:ssh:left: .*1 unused.*crashes/],
    ['few unused lines', (f) => ({ ...f, oneTimeFiles: new Map([['/etc/knockd/ssh', { text: ' 5,6,7\n 8,9,10\n', mode: 0o600 }]]) }), /warning sequences:ssh:left/],
    ['a one-time file readable by others', (f) => ({ ...f, oneTimeFiles: new Map([['/etc/knockd/ssh', { text: SEQS, mode: 0o640 }]]) }), /warning sequences:ssh:mode/],
    ['a missing one-time file', (f) => ({ ...f, oneTimeFiles: new Map() }), /error sequences:ssh: .*does not exist/],
    ['a stop command that does not undo the start command', (f) => withConf(f, RULE_DOOR.replace('-D KNOCKSTICK_DOORS -s %IP% -p tcp --dport 22', '-D KNOCKSTICK_DOORS -s %IP% -p tcp --dport 2222')), /error door:ssh: \[ssh\] stop_command does not undo/],
    ['a door without a timeout and without a stop command', (f) => withConf(f, CONF.replace(' timeout 10s', '')), /error door:ssh: .*no stop_command: it never closes/],
    ['a door that is a rule per address (hand-made, or made before single-use doors)', (f) => withConf(f, RULE_DOOR), /warning door:ssh:single-use: \[ssh\] adds a firewall rule per door: every new connection/],
    ['a door rule that only knockd removes', (f) => withConf(f, RULE_DOOR), /warning door:ssh:expiry: .*stays open if knockd dies/],
    ['an nft door rule that leaves the address in (window policy)', (f) => ({ ...f, firewall: { ...f.firewall!, nft: NFT.replace(' delete @doors4 { ip saddr }', '') } }), /warning door:ssh:single-use: \[ssh\] is a window/],
    [
      'an nft door element without a timeout',
      (f) => withConf(f, CONF.replace(' timeout 10s', '').replace('  cmd_timeout', '  stop_command = nft delete element inet knockstick doors4 { %IP% }\n  cmd_timeout')),
      /warning door:ssh:expiry: .*doors4 elements without a timeout/,
    ],
    ['an xt_recent door rule without --remove (window policy)', (f) => ({ ...withConf(f, RECENT_DOOR), firewall: { nft: null, iptables: IPT_SINGLE_USE.replace(' -m recent --remove --name knockstick --mask 255.255.255.255 --rsource', ''), sshPort: 22 } }), /warning door:ssh:single-use: \[ssh\] is a window/],
    ['an xt_recent door rule without --seconds', (f) => ({ ...withConf(f, RECENT_DOOR), firewall: { nft: null, iptables: IPT_SINGLE_USE.replace(' --seconds 10', ''), sshPort: 22 } }), /warning door:ssh:expiry: .*has no --seconds: a door never closes/],
    ['a door without tcpflags = syn', (f) => ({ ...f, knockdConf: { ...f.knockdConf, text: CONF.replace('  tcpflags = syn\n  start', '  start') } }), /warning door:ssh:syn/],
    ['no panic stanza', (f) => ({ ...f, knockdConf: { ...f.knockdConf, text: CONF.slice(0, CONF.indexOf('[panic]')) } }), /warning panic: no \[panic\] stanza/],
    ['panic ports all inside the sequences', (f) => ({ ...f, knockdConf: { ...f.knockdConf, text: CONF.replace('41001,41002,41003', '20001,20002,20003') } }), /error panic: every panic port/],
    ['knockd not running', (f) => ({ ...f, knockd: { pidfile: '/run/knockd.pid', pid: 42, alive: false } }), /error knockd: .*pid 42 .* is gone/],
    ['no such interface', (f) => ({ ...f, iface: { name: 'eth9', ipv4: null } }), /error interface: interface eth9 does not exist/],
    ['an interface without IPv4', (f) => ({ ...f, iface: { name: 'eth0', ipv4: [] } }), /error interface: .*no IPv4 address/],
    ['a firewall that accepts everything', (f) => ({ ...f, firewall: { nft: '', iptables: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', sshPort: 22 } }), /error firewall: .*does not drop new connections/],
    ['a firewall without established', (f) => ({ ...f, firewall: { nft: NFT.replace('ct state established,related accept', ''), iptables: null, sshPort: 22 } }), /error firewall: .*established/],
    ['a firewall that opens SSH to everyone', (f) => ({ ...f, firewall: { nft: null, iptables: ':INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n', sshPort: 22 } }), /error firewall: port 22 is accepted for everyone/],
    ['sshd with passwords', (f) => ({ ...f, sshdT: 'passwordauthentication yes\n' }), /error sshd: sshd accepts passwords/],
    ['the stick without its ssh config', (f) => ({ ...f, stick: { ...f.stick!, sshConfigError: '/stick/.ssh/config does not exist' } }), /error stick:config/],
    ['a stick key readable by others', (f) => ({ ...f, stick: { ...f.stick!, identityFiles: [{ path: '/stick/.ssh/id_ed25519', mode: 0o644 }] } }), /error stick:key: .*ssh refuses such a key/],
    ['a missing stick key', (f) => ({ ...f, stick: { ...f.stick!, identityFiles: [{ path: '/stick/.ssh/id_ed25519', mode: undefined }] } }), /error stick:key: .*does not exist/],
    ['a stick with one sequence left', (f) => ({ ...f, stick: { ...f.stick!, sequences: { path: '/stick/.ssh/sequences', text: ' 5,6,7\n', mode: 0o600 } } }), /error stick:sequences: .*callhome refuses the last one/],
    ['a stick out of step', (f) => ({ ...f, stick: { ...f.stick!, sequences: { path: '/s', text: SEQS.replace('20001', '29999'), mode: 0o600 } } }), /error lockstep: out of step/],
  ];

  it.each(cases)('flags %s', (_name, breakIt, expected) => {
    const found = errorsAndWarnings(breakIt(healthy()));
    expect(found.join('\n')).toMatch(expected);
    expect(found.length).toBeGreaterThan(0);
  });

  it('an iptables server with single-use xt_recent doors gets a clean bill, and the door is named single-use', () => {
    const facts = { ...withConf(healthy(), RECENT_DOOR), firewall: { nft: null, iptables: IPT_SINGLE_USE, sshPort: 22 } };
    expect(errorsAndWarnings(facts)).toEqual([]);
    expect(diagnose(facts).find((f) => f.id === 'door:ssh:single-use')).toMatchObject({ severity: 'ok' });
    expect(diagnose(facts).find((f) => f.id === 'door:ssh')?.message).toMatch(/closes by itself/);
  });

  it('offline (no firewall facts) judges the door by its start command alone', () => {
    const { firewall: _ignored, ...offline } = healthy();
    expect(errorsAndWarnings(offline)).toEqual([]);
    expect(errorsAndWarnings(withConf(offline, RULE_DOOR)).join('\n')).toMatch(/warning door:ssh:single-use/);
  });

  it('in router mode checks the forwarding doors instead of an INPUT drop policy', () => {
    const router = CONF.replace(/start_command = .*\n/, 'start_command = nft add element ip knockstick_nat door_web { %IP% timeout 10s }\n');
    const facts = { ...healthy(), knockdConf: { path: '/etc/knockd.conf', text: router, mode: 0o600 } };
    const table = 'table ip knockstick_nat {\n  chain prerouting {\n    iifname "eth0" ip saddr @door_web tcp dport 22 delete @door_web { ip saddr } dnat to 10.0.0.2:22\n  }\n}';
    expect(errorsAndWarnings({ ...facts, firewall: { nft: table, iptables: null, sshPort: 22 } })).toEqual([]);
    expect(errorsAndWarnings({ ...facts, firewall: { nft: table.replace(' delete @door_web { ip saddr }', ''), iptables: null, sshPort: 22 } }).join('\n')).toMatch(/warning door:ssh:single-use: \[ssh\] is a window/);
    expect(errorsAndWarnings({ ...facts, firewall: { nft: '', iptables: null, sshPort: 22 } }).join('\n')).toMatch(/error firewall: router mode, but neither/);
    const recent = CONF.replace(/start_command = .*\n/, "start_command = echo +%IP% > '/proc/net/xt_recent/knockstick_web'\n");
    const ipt = '*nat\n:KNOCKSTICK_ROUTER - [0:0]\n-A KNOCKSTICK_ROUTER -p tcp -m tcp --dport 22 -m recent --rcheck --seconds 10 --name knockstick_web --mask 255.255.255.255 --rsource -m recent --remove --name knockstick_web --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.0.0.2:22\nCOMMIT\n';
    expect(errorsAndWarnings({ ...withConf(healthy(), recent), firewall: { nft: null, iptables: ipt, sshPort: 22 } })).toEqual([]);
  });

  it('gives every finding a fix', () => {
    for (const [, breakIt] of cases) for (const f of diagnose(breakIt(healthy()))) if (f.severity !== 'ok') expect(f.fix).not.toBe('');
  });
});
