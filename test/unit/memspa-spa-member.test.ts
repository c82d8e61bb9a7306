import { describe, expect, it } from '@jest/globals';
import { parseAccessConf } from '../../src/core/access-conf.js';
import { fwknopdPidfileOf, memberAccessEntries, serviceOf, spaDoorOf, spaDoorsTagged, usesUdpServer } from '../../src/core/spa-member.js';
import { firewallWithSpaPort, keepFwknopdStop, panicStopsFwknopd } from '../../src/members/spa-mixed.js';

const keys = { encryption: Buffer.alloc(32, 1), hmac: Buffer.alloc(64, 2) };

describe('SPA member doors', () => {
  it('copies the door of the stanza server init wrote (nftables spa4, iptables FW_ACCESS_TIMEOUT)', () => {
    const nft = 'SOURCE ANY\nOPEN_PORTS tcp/2222\nKEY_BASE64 a\nHMAC_KEY_BASE64 b\nCMD_CYCLE_OPEN /usr/sbin/nft add element inet knockstick spa4 { $SRC timeout 30s }\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 30\n';
    expect(spaDoorOf(parseAccessConf(nft, 'a'))).toEqual({ sshPort: 2222, firewall: 'nftables', doorSeconds: 30, set: 'spa4' });
    expect(spaDoorOf(parseAccessConf('SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 a\nFW_ACCESS_TIMEOUT 15\n', 'a'))).toEqual({ sshPort: 22, firewall: 'iptables', doorSeconds: 15 });
    expect(spaDoorOf(parseAccessConf('# nothing\n', 'a'))).toBeUndefined();
  });

  it("tags the member's door element with its door name (one word for fwknopd's blank-split command)", () => {
    const entries = memberAccessEntries('stick-carol', { sshPort: 22, firewall: 'nftables', doorSeconds: 10, set: 'doors4' }, keys);
    expect(entries).toEqual([
      ['SOURCE', 'ANY'],
      ['OPEN_PORTS', 'tcp/22'],
      ['KEY_BASE64', keys.encryption.toString('base64')],
      ['HMAC_KEY_BASE64', keys.hmac.toString('base64')],
      ['CMD_CYCLE_OPEN', '/usr/sbin/nft add element inet knockstick doors4 { $SRC timeout 10s comment stick-carol }'],
      ['CMD_CYCLE_CLOSE', 'NONE'],
      ['CMD_CYCLE_TIMER', '10'],
    ]);
    expect(() => memberAccessEntries('stick-a b', { sshPort: 22, firewall: 'nftables', doorSeconds: 10 }, keys)).toThrow();
  });

  it('finds the doors a member opened in nft -j output, and only those', () => {
    const json = JSON.stringify({ nftables: [{ metainfo: {} }, { set: { name: 'spa4', elem: [{ elem: { val: '10.0.0.1', comment: 'stick-carol' } }, { elem: { val: '10.0.0.2', comment: 'stick-bob' } }, '10.0.0.3'] } }] });
    expect(spaDoorsTagged(json, 'stick-carol')).toEqual(['10.0.0.1']);
    expect(spaDoorsTagged('not json', 'stick-carol')).toEqual([]);
  });

  it("reads fwknopd.conf's pidfile and UDP server mode, and a process's systemd unit", () => {
    expect(fwknopdPidfileOf('FWKNOP_RUN_DIR /run/x;\n')).toBe('/run/x/fwknopd.pid');
    expect(fwknopdPidfileOf('FWKNOP_PID_FILE /p/f.pid;\nFWKNOP_RUN_DIR /run/x;\n')).toBe('/p/f.pid');
    expect(fwknopdPidfileOf('')).toBe('/var/run/fwknop/fwknopd.pid');
    expect(usesUdpServer('ENABLE_UDP_SERVER           Y;\n')).toBe(true);
    expect(usesUdpServer('#ENABLE_UDP_SERVER Y;\n')).toBe(false);
    expect(serviceOf('0::/system.slice/fwknop-server.service\n')).toBe('fwknop-server.service');
    expect(serviceOf('0::/user.slice/user-0.slice/session-3.scope\n')).toBeUndefined();
  });
});

describe('SPA on a knockd server', () => {
  const conf = '[options]\n  logfile = /var/log/knockd.log\n\n[panic]\n  sequence = 1,2,3\n  command = kill -TERM "$(cat \'/run/knockd.pid\')" 2>/dev/null; nft flush set inet knockstick doors4\n';
  it("makes panic's command stop fwknopd first, once, the rest of knockd.conf unchanged", () => {
    const once = panicStopsFwknopd(conf, "/run/fwknop/it's.pid") as string;
    expect(once).toBe(conf.replace('command = kill', `command = : knockstick stops fwknopd too; kill -TERM "$(cat '/run/fwknop/it'\\''s.pid')" 2>/dev/null; kill`));
    expect(panicStopsFwknopd(once, '/other')).toBe(once);
    expect(panicStopsFwknopd('[options]\n', '/p')).toBeUndefined();
  });

  it('panic rotate keeps the fwknopd part (same pidfile, quotes and all) in the [panic] it renders anew', () => {
    const before = panicStopsFwknopd(conf, "/run/fwknop/it's.pid") as string;
    const rotated = conf.replace('1,2,3', '4,5,6');
    expect(keepFwknopdStop(before, rotated)).toBe(panicStopsFwknopd(rotated, "/run/fwknop/it's.pid"));
    expect(keepFwknopdStop(conf, rotated)).toBe(rotated);
  });

  it('lets udp/62201 into firewall.nft after "ct state invalid drop", once', () => {
    const fw = 'table inet knockstick {\n  chain input {\n    ct state invalid drop\n    iif lo accept\n  }\n}\n';
    const next = firewallWithSpaPort(fw) as string;
    expect(next).toBe('table inet knockstick {\n  chain input {\n    ct state invalid drop\n    # SPA packets for fwknopd (stick add --method spa)\n    udp dport 62201 accept\n    iif lo accept\n  }\n}\n');
    expect(firewallWithSpaPort(next)).toBe(next);
    expect(firewallWithSpaPort('table inet x {}\n')).toBeUndefined();
  });
});

describe('doctor: SPA members', () => {
  it('finds a member without its stanza and a stanza without its member', async () => {
    const { checkSpaMembers } = await import('../../src/doctor/spa-members-checks.js');
    const { addMemberStanza } = await import('../../src/core/access-conf.js');
    const registry = '[carol]\nmethod = spa\ndoor = stick-carol\ncreated = 2026-12-01T00:00:00Z\n\n[dave]\nmethod = spa\ndoor = stick-dave\ncreated = 2026-12-01T00:00:00Z\n';
    const r = addMemberStanza('', 'a', 'carol', [['SOURCE', 'ANY'], ['KEY_BASE64', 'QQ']]);
    const withCarol = 'text' in r ? r.text : '';
    const r2 = addMemberStanza(withCarol, 'a', 'erin', [['SOURCE', 'ANY'], ['KEY_BASE64', 'Qg']]);
    const access = 'text' in r2 ? r2.text : '';
    expect(checkSpaMembers('sticks.conf', registry, { path: 'a', text: access }).map((f) => `${f.severity} ${f.id}`)).toEqual(['error members:spa-no-stanza:dave', 'warning members:spa-orphan:erin']);
    expect(checkSpaMembers('sticks.conf', registry, { path: 'a', text: withCarol.replace(/\n$/, '') + '\n' }).map((f) => f.id)).toEqual(['members:spa-no-stanza:dave']);
  });
});

describe('usbsetup wizard with --member', () => {
  it('keeps the member and asks nothing about copying the server file (the member gets its own door)', async () => {
    const { askContent } = await import('../../src/usbsetup/wizard.js');
    const asked: string[] = [];
    const prompts = {
      select: async <T extends string>(m: string, _c: readonly unknown[], d?: T): Promise<T> => (asked.push(m), d as T),
      input: async (m: string) => (asked.push(m), m.startsWith('Your server') ? '198.18.0.1' : 'alice'),
      confirm: async (m: string) => (asked.push(m), false),
      password: async () => '',
    };
    const answers = await askContent(prompts, { alias: 'home', port: 22, sequences: 50, member: { name: 'kim', serverConfig: '/etc/knockstick/server.conf' } });
    expect(answers.member).toEqual({ name: 'kim', serverConfig: '/etc/knockstick/server.conf' });
    expect(asked.some((m) => /sequences|sequence file/.test(m))).toBe(false);
  });
});
