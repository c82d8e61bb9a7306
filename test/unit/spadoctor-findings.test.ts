// doctor on an SPA server (src/doctor/fwknopd-checks.ts): a clean bill for the files server init
// --method spa writes (and for the settings issue 17 adds), then one broken fact per finding.

import { describe, expect, it } from '@jest/globals';
import { checkFwknopd, type FwknopdFacts } from '../../src/doctor/fwknopd-checks.js';
import { diagnose, type Facts, type Finding } from '../../src/doctor/checks.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const HMAC = Buffer.alloc(64, 9).toString('base64');
const CONF = '# knockstick\nPCAP_INTF                   eth0;\nENABLE_UDP_SERVER           Y;\nMAX_SPA_PACKET_AGE          120;\nENABLE_DIGEST_PERSISTENCE   Y;\n';
const ACCESS = `# keys\nSOURCE                  ANY\nOPEN_PORTS              tcp/22\nKEY_BASE64              ${KEY}\nHMAC_KEY_BASE64         ${HMAC}\nFW_ACCESS_TIMEOUT       10\n`;
const NFT = `table inet knockstick {
  set spa4 { type ipv4_addr; flags timeout; }
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    udp dport 62201 accept
    ct state new ip saddr @spa4 tcp dport 22 delete @spa4 { ip saddr } accept
  }
}`;
const IPT = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FWKNOP_INPUT - [0:0]
-A INPUT -j FWKNOP_INPUT
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p udp -m udp --dport 62201 -j ACCEPT
-A FWKNOP_INPUT -s 192.0.2.9/32 -p tcp -m tcp --dport 22 -m comment --comment "_exp_1800000000" -j ACCEPT
COMMIT
`;

function healthy(over: Partial<FwknopdFacts> = {}): FwknopdFacts {
  return {
    conf: { path: '/etc/fwknop/fwknopd.conf', text: CONF, mode: 0o600, uid: 0 },
    access: { path: '/etc/fwknop/access.conf', text: ACCESS, mode: 0o600, uid: 0 },
    probe: { kind: 'agrees', accepted: true, stanzas: 1, says: '' },
    daemon: { pidfile: '/var/run/fwknop/fwknopd.pid', pid: 42, alive: true },
    firewall: { nft: null, iptables: IPT },
    sshPorts: [22],
    ...over,
  };
}
const withAccess = (text: string, over: Partial<FwknopdFacts> = {}): FwknopdFacts => healthy({ access: { ...healthy().access, text }, ...over });
const withConf = (text: string): FwknopdFacts => healthy({ conf: { ...healthy().conf, text } });
const problems = (fs: readonly Finding[]): string[] => fs.filter((f) => f.severity !== 'ok').map((f) => `${f.severity} ${f.id}: ${f.message}`);
const one = (fs: readonly Finding[], id: string): Finding => {
  const found = fs.filter((f) => f.id === id && f.severity !== 'ok');
  expect(found.map((f) => f.id)).toEqual([id]);
  return found[0] as Finding;
};

describe('a clean bill', () => {
  it('for the files server init --method spa writes (iptables backend, fwknopd running)', () => {
    const fs = checkFwknopd(healthy());
    expect(problems(fs)).toEqual([]);
    expect(fs.map((f) => f.id)).toEqual(expect.arrayContaining(['fwknopd.conf', 'access.conf', 'fwknopd:probe', 'access:key', 'access:hmac', 'access:open-ports', 'fwknopd:port', 'fwknopd', 'fwknopd:firewall', 'fwknopd:chain']));
  });
  it('for nftables doors (CMD_CYCLE_OPEN: no FWKNOP_INPUT needed)', () => {
    const access = ACCESS.replace(/FW_ACCESS_TIMEOUT.*\n/, 'CMD_CYCLE_OPEN /usr/sbin/nft add element inet knockstick spa4 { $SRC timeout 10s }\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 10\n');
    const fs = checkFwknopd(withAccess(access, { firewall: { nft: NFT, iptables: null } }));
    expect(problems(fs)).toEqual([]);
    expect(fs.some((f) => f.id === 'fwknopd:chain')).toBe(false);
  });
  it("for issue 17's settings: custom port with PCAP_FILTER, ufw CMD_CYCLE, REQUIRE_USERNAME, REQUIRE_SOURCE_ADDRESS, sshd on 2222", () => {
    const conf = `${CONF}UDPSERV_PORT 40001;\nPCAP_FILTER udp port 40001;\nFWKNOP_PID_FILE /run/fwknop/fwknopd.pid;\n`;
    const access = ACCESS.replace('tcp/22', 'tcp/2222').replace(/FW_ACCESS_TIMEOUT.*\n/, 'REQUIRE_USERNAME alice\nREQUIRE_SOURCE_ADDRESS Y\nCMD_CYCLE_OPEN /usr/sbin/ufw allow from $SRC to any port $PORT proto $PROTO\nCMD_CYCLE_CLOSE /usr/sbin/ufw delete allow from $SRC to any port $PORT proto $PROTO\nCMD_CYCLE_TIMER 30\n');
    const ufw = '*filter\n:INPUT DROP [0:0]\n:ufw-before-input - [0:0]\n:ufw-user-input - [0:0]\n-A INPUT -j ufw-before-input\n-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A ufw-user-input -p udp -m udp --dport 40001 -j ACCEPT\nCOMMIT\n';
    const fs = checkFwknopd({ ...healthy({ conf: { ...healthy().conf, text: conf }, firewall: { nft: null, iptables: ufw }, sshPorts: [2222] }), access: { ...healthy().access, text: access } });
    expect(problems(fs)).toEqual([]);
  });
});

describe('one finding per fault', () => {
  it('fwknopd.conf: missing', () => expect(one(checkFwknopd(healthy({ conf: { path: '/x/fwknopd.conf', text: null } })), 'fwknopd.conf').message).toMatch(/\/x\/fwknopd.conf does not exist/));
  it('access.conf: missing', () => expect(one(checkFwknopd(healthy({ access: { path: '/x/access.conf', text: null } })), 'access.conf').severity).toBe('error'));
  it('fwknopd.conf:bom', () => expect(one(checkFwknopd(withConf(`\xEF\xBB\xBF${CONF}`)), 'fwknopd.conf:bom').message).toMatch(/fwknopd.conf:1 starts with a byte-order mark/));
  it('access.conf:bom (the first SOURCE is lost)', () => {
    const f = one(checkFwknopd(withAccess(`\xEF\xBB\xBF${ACCESS.replace('# keys\n', '')}`)), 'access.conf:bom');
    expect(f.severity).toBe('error');
  });
  it('fwknopd.conf:long-line', () => expect(one(checkFwknopd(withConf(`${CONF}PCAP_FILTER udp port 62201 ${'and not host 10.0.0.1 '.repeat(60)};\n`)), 'fwknopd.conf:long-line').message).toMatch(/:6 is longer than 1022 characters/));
  it('access.conf:long-line', () => expect(one(checkFwknopd(withAccess(`${ACCESS}REQUIRE_USERNAME ${'a'.repeat(1100)}\n`)), 'access.conf:long-line').severity).toBe('error'));
  it('fwknopd.conf:invalid (a name without a value is skipped)', () => expect(one(checkFwknopd(withConf(`${CONF}MAX_SNIFF_BYTES ;\n`)), 'fwknopd.conf:invalid').severity).toBe('warning'));
  it('access.conf:invalid (fwknopd refuses the whole file)', () => expect(one(checkFwknopd(withAccess(`${ACCESS}DESTINATION\n`)), 'access.conf:invalid').message).toMatch(/access.conf:7 has a name without a value.*refuses the whole file/));
  it('fwknopd.conf:unknown (names are case-sensitive)', () => expect(one(checkFwknopd(withConf(`${CONF}max_spa_packet_age 60;\n`)), 'fwknopd.conf:unknown').message).toMatch(/"max_spa_packet_age", which fwknopd 2.6 does not know/));
  it('access.conf:unknown', () => expect(one(checkFwknopd(withAccess(`${ACCESS}OPEN_PORT tcp/22\n`)), 'access.conf:unknown').severity).toBe('warning'));
  it('fwknopd.conf:duplicate', () => expect(one(checkFwknopd(withConf(`${CONF}MAX_SPA_PACKET_AGE 600;\n`)), 'fwknopd.conf:duplicate').message).toMatch(/:6 sets MAX_SPA_PACKET_AGE again \(first on line 4\)/));
  it('access.conf:duplicate', () => expect(one(checkFwknopd(withAccess(`${ACCESS}OPEN_PORTS tcp/22\n`)), 'access.conf:duplicate').message).toMatch(/OPEN_PORTS again in the stanza of line 2 \(first on line 3\)/));
  it('access.conf:before-source', () => expect(one(checkFwknopd(withAccess(`REQUIRE_SOURCE_ADDRESS Y\n${ACCESS}`)), 'access.conf:before-source').message).toMatch(/:1 sets "REQUIRE_SOURCE_ADDRESS" before any SOURCE/));
  it('access.conf:include', () => expect(one(checkFwknopd(withAccess(`${ACCESS}%include_keys /etc/fwknop/keys.conf\n`)), 'access.conf:include').severity).toBe('warning'));
  it('access.conf (fatal: a key that is not base64)', () => expect(one(checkFwknopd(withAccess(ACCESS.replace(KEY, `${KEY} x`))), 'access.conf').message).toMatch(/KEY_BASE64 is not base64/));
  it.each<[string, string, RegExp]>([
    ['CMD_CYCLE_OPEN without CMD_CYCLE_CLOSE', 'CMD_CYCLE_OPEN /bin/true\n', /CMD_CYCLE_OPEN without CMD_CYCLE_CLOSE/],
    ['CMD_CYCLE_CLOSE without CMD_CYCLE_TIMER', 'CMD_CYCLE_OPEN /bin/true\nCMD_CYCLE_CLOSE /bin/true\n', /no CMD_CYCLE_TIMER/],
  ])('access.conf (a stanza fwknopd refuses: %s, as the real fwknopd 2.6.10 does)', (_what, extra, message) => {
    expect(one(checkFwknopd(withAccess(`${ACCESS}${extra}`)), 'access.conf').message).toMatch(message);
  });
  it('access.conf (a GnuPG stanza without GPG_REMOTE_ID or GPG_FINGERPRINT_ID)', () => {
    const gpg = 'SOURCE ANY\nOPEN_PORTS tcp/22\nGPG_HOME_DIR /etc/fwknop/gnupg\nGPG_DECRYPT_ID ABCD\nGPG_ALLOW_NO_PW Y\nHMAC_KEY_BASE64 ' + HMAC + '\n';
    expect(one(checkFwknopd(withAccess(gpg)), 'access.conf').message).toMatch(/GnuPG without GPG_REMOTE_ID or GPG_FINGERPRINT_ID/);
  });
  it('fwknopd:probe differs / skipped', () => {
    expect(one(checkFwknopd(healthy({ probe: { kind: 'differs', differences: ['fwknopd reads 2 stanza(s), we read 1'] } })), 'fwknopd:probe').severity).toBe('error');
    expect(one(checkFwknopd(healthy({ probe: { kind: 'skipped', reason: 'not root' } })), 'fwknopd:probe').severity).toBe('warning');
  });
  it('access.conf:mode 0644 is an error (the keys), fwknopd.conf:mode 0644 a warning', () => {
    expect(one(checkFwknopd(healthy({ access: { ...healthy().access, mode: 0o644 } })), 'access.conf:mode')).toMatchObject({ severity: 'error', fix: 'chmod 600 /etc/fwknop/access.conf' });
    expect(one(checkFwknopd(healthy({ conf: { ...healthy().conf, mode: 0o644 } })), 'fwknopd.conf:mode').severity).toBe('warning');
    expect(one(checkFwknopd(healthy({ access: { ...healthy().access, mode: 0o400 } })), 'access.conf:mode').severity).toBe('warning');
  });
  it('access.conf:owner', () => expect(one(checkFwknopd(healthy({ access: { ...healthy().access, uid: 1000 } })), 'access.conf:owner').message).toMatch(/uid 1000, not root/));
  it('access:key missing, short', () => {
    expect(one(checkFwknopd(withAccess(ACCESS.replace(/KEY_BASE64 .*\n/, ''))), 'access:key').severity).toBe('error');
    expect(one(checkFwknopd(withAccess(ACCESS.replace(/^KEY_BASE64 .*$/m, 'KEY hunter2'))), 'access:key').message).toMatch(/access.conf:4 the encryption key is 7 bytes/);
  });
  it('access:hmac missing (error; a GnuPG stanza: warning), equal to the key, short', () => {
    expect(one(checkFwknopd(withAccess(ACCESS.replace(/HMAC_KEY_BASE64 .*\n/, ''))), 'access:hmac').severity).toBe('error');
    const gpg = ACCESS.replace(/^KEY_BASE64 .*\n/m, 'GPG_HOME_DIR /etc/fwknop/gnupg\nGPG_DECRYPT_ID ABCD\nGPG_ALLOW_NO_PW Y\nGPG_FINGERPRINT_ID EF01\n').replace(/HMAC_KEY_BASE64 .*\n/, '');
    expect(one(checkFwknopd(withAccess(gpg)), 'access:hmac').severity).toBe('warning');
    expect(one(checkFwknopd(withAccess(ACCESS.replace(HMAC, KEY))), 'access:hmac').message).toMatch(/the HMAC key is the encryption key/);
    expect(one(checkFwknopd(withAccess(ACCESS.replace(HMAC, Buffer.alloc(20, 1).toString('base64')))), 'access:hmac').severity).toBe('warning');
  });
  it('access:shared-key', () => {
    const second = `${ACCESS}SOURCE 10.0.0.0/8\nOPEN_PORTS tcp/22\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${Buffer.alloc(64, 3).toString('base64')}\n`;
    expect(one(checkFwknopd(withAccess(second)), 'access:shared-key').message).toMatch(/access.conf:7 the stanza has the same encryption key as the one of line 2/);
  });
  it('access:cmd-exec: a warning showing CMD_REGEX; an error without one', () => {
    const withRegex = checkFwknopd(withAccess(`${ACCESS}ENABLE_CMD_EXEC Y\nCMD_REGEX ^/usr/local/bin/wake [a-z]+$\n`));
    expect(one(withRegex, 'access:cmd-exec')).toMatchObject({ severity: 'warning', message: expect.stringMatching(/CMD_REGEX \(line 8\) is "\^\/usr\/local\/bin\/wake \[a-z\]\+\$"/) });
    // fwknopd 2.6 (C) does not read CMD_REGEX: said as it is.
    expect(one(withRegex, 'access.conf:unknown').message).toMatch(/CMD_REGEX, which fwknopd 2.6 \(C\) does not read/);
    expect(one(checkFwknopd(withAccess(`${ACCESS}ENABLE_CMD_EXEC Y\n`)), 'access:cmd-exec').severity).toBe('error');
  });
  it('access:open-ports: wrong port, or none at all', () => {
    expect(one(checkFwknopd(withAccess(ACCESS.replace('tcp/22', 'tcp/2222'))), 'access:open-ports').message).toMatch(/OPEN_PORTS tcp\/2222 does not include sshd's port 22/);
    expect(one(checkFwknopd(withAccess(ACCESS.replace(/OPEN_PORTS .*\n/, ''))), 'access:open-ports').message).toMatch(/no OPEN_PORTS: a valid packet may open any port/);
  });
  it('fwknopd:port: PCAP_FILTER and UDPSERV_PORT disagree', () => expect(one(checkFwknopd(withConf(`${CONF}UDPSERV_PORT 40001;\nPCAP_FILTER udp port 62201;\n`)), 'fwknopd:port').message).toMatch(/PCAP_FILTER names port 62201, but the UDP server listens on 40001/));
  it('fwknopd: not running', () => expect(one(checkFwknopd(healthy({ daemon: { pidfile: '/p', pid: 99, alive: false } })), 'fwknopd').message).toMatch(/pid 99 from \/p is gone/));
  it('fwknopd:firewall: SSH from anyone, no drop, SPA port dropped', () => {
    const fw = (iptables: string): Finding => one(checkFwknopd(healthy({ firewall: { nft: null, iptables } })), 'fwknopd:firewall');
    expect(fw(IPT.replace('COMMIT', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT')).message).toMatch(/accepts SSH \(port 22\) from anyone/);
    expect(fw(IPT.replace(':INPUT DROP', ':INPUT ACCEPT')).message).toMatch(/does not drop new connections/);
    expect(fw(IPT.replace(/.*--dport 62201.*\n/, '')).message).toMatch(/drops udp\/62201/);
    expect(fw(IPT.replace(/.*--ctstate RELATED,ESTABLISHED.*\n/, '')).message).toMatch(/does not accept established connections/);
    // libpcap (no UDP server) reads packets before the firewall: the port may stay dropped.
    const pcap = checkFwknopd({ ...withConf(CONF.replace('ENABLE_UDP_SERVER           Y;\n', 'PCAP_FILTER udp port 40001;\n')), firewall: { nft: null, iptables: IPT.replace(/.*--dport 62201.*\n/, '') } });
    expect(pcap.find((f) => f.id === 'fwknopd:firewall')).toMatchObject({ severity: 'ok', message: expect.stringMatching(/udp\/40001 with libpcap, before the firewall/) });
  });
  it('fwknopd:chain: no chain, or no jump from INPUT', () => {
    expect(one(checkFwknopd(healthy({ firewall: { nft: null, iptables: IPT.replace(/.*FWKNOP_INPUT.*\n/g, '') } })), 'fwknopd:chain').message).toMatch(/no FWKNOP_INPUT chain/);
    expect(one(checkFwknopd(healthy({ firewall: { nft: null, iptables: IPT.replace('-A INPUT -j FWKNOP_INPUT\n', '') } })), 'fwknopd:chain').message).toMatch(/INPUT does not jump to FWKNOP_INPUT/);
  });
});

describe('diagnose on an SPA server', () => {
  it('runs the fwknopd checks and sshd, not the knockd ones', () => {
    const facts: Facts = { knockdConf: { path: '(none: fwknopd)', text: null, mode: undefined }, oneTimeFiles: new Map(), warnBelow: 10, spa: healthy(), sshdT: 'passwordauthentication yes\n' };
    const fs = diagnose(facts);
    expect(problems(fs)).toEqual(['error sshd: sshd accepts passwords']);
    expect(fs.some((f) => f.id.startsWith('knockd'))).toBe(false);
  });
});
