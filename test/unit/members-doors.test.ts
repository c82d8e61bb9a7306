import { describe, expect, it } from '@jest/globals';
import { parseKnockdConf } from '../../src/core/knockd-conf.js';
import { lastOpenings, parseDoorOpenings, possiblyOpen } from '../../src/core/knockd-log.js';
import { memberStanza, withStanza, withoutStanza } from '../../src/core/member-doors.js';
import { withoutKey } from '../../src/members/revoke.js';
import { memberRows } from '../../src/members/list.js';

const TEMPLATE = '\n[{{name}}]\n  one_time_sequences = {{sequences_file}}\n  seq_timeout        = {{seq_timeout}}\n  tcpflags           = syn\n  start_command      = {{start_command}}\n  cmd_timeout        = {{cmd_timeout}}\n';
const CONF = `[options]\n  logfile = /var/log/knockd.log\n\n[ssh]\n  one_time_sequences = /etc/knockd/ssh\n  seq_timeout        = 15\n  tcpflags           = syn\n  start_command      = nft add element inet knockstick doors4 { %IP% timeout 10s }\n  cmd_timeout        = 10\n\n[panic]\n  # the panic knock\n  sequence    = 40001,40002,40003\n  tcpflags    = syn\n  command     = kill x\n`;

describe('a member\'s stanza in knockd.conf', () => {
  const model = parseKnockdConf(CONF, 'k').conf.doors[0]!;
  const added = withStanza(CONF, memberStanza(TEMPLATE, model, 'stick-alice', '/etc/knockd/stick-alice'));

  it('copies the model door\'s command and timeouts, goes before [panic], and parses', () => {
    const { conf, problems } = parseKnockdConf(added, 'k');
    expect(problems).toEqual([]);
    expect(conf.doors.map((d) => d.name)).toEqual(['ssh', 'stick-alice', 'panic']);
    const alice = conf.doors[1]!;
    expect(alice.oneTimeFile).toBe('/etc/knockd/stick-alice');
    expect(alice.settings.get('start_command')?.value).toBe(model.settings.get('start_command')?.value);
    expect(alice.settings.get('cmd_timeout')?.value).toBe('10');
  });
  it('removing it gives back the file byte for byte, other stanzas and comments kept', () => {
    expect(withoutStanza(added, 'stick-alice')).toBe(CONF);
    expect(withoutStanza(CONF, 'nobody')).toBe(CONF);
  });
  it('a stanza value that would break a line is refused by the renderer', () => {
    expect(() => memberStanza(TEMPLATE, model, 'stick-x', '/k/x\n[evil]')).toThrow();
  });
});

describe('knockd\'s log', () => {
  const log = [
    '[2026-12-01 16:50] starting up, listening on eth0',
    '[2026-12-01 16:51] 198.18.0.2: stick-alice: Stage 1',
    '[2026-12-01 16:51] 198.18.0.2: stick-alice: OPEN SESAME',
    '[2026-12-01 16:51] stick-alice: running command: nft add element inet knockstick doors4 { 198.18.0.2 timeout 10s }',
    '[2026-12-01 16:53] 198.18.0.6: stick-alice: OPEN SESAME',
    '[2026-12-01 16:54] 2001:db8::1: ssh: OPEN SESAME',
    '',
  ].join('\n');
  it('gives each door\'s openings, with the address and the minute', () => {
    const last = lastOpenings(parseDoorOpenings(log));
    expect(last.get('stick-alice')).toEqual({ door: 'stick-alice', address: '198.18.0.6', at: new Date(2026, 11, 1, 16, 53).getTime() });
    expect(last.get('ssh')?.address).toBe('2001:db8::1');
  });
  it('the addresses that may still be open: within cmd_timeout plus the minute the log cannot tell', () => {
    const now = new Date(2026, 11, 1, 16, 53, 30).getTime();
    expect(possiblyOpen(parseDoorOpenings(log), 'stick-alice', now, 10)).toEqual(['198.18.0.6']);
    expect(possiblyOpen(parseDoorOpenings(log), 'stick-alice', now, 300)).toEqual(['198.18.0.2', '198.18.0.6']);
  });
});

describe('revoke --authorized-keys', () => {
  it('removes exactly the lines carrying the key, options and comments or not', () => {
    const text = '# mine\nssh-ed25519 AAAAkeep me\nfrom="10.0.0.1" ssh-ed25519 AAAAgone stick\nssh-ed25519 AAAAgone\nssh-ed25519 AAAAgoneX other\n';
    expect(withoutKey(text, 'ssh-ed25519 AAAAgone')).toEqual({ text: '# mine\nssh-ed25519 AAAAkeep me\nssh-ed25519 AAAAgoneX other\n', removed: 2 });
  });
});

describe('stick list rows', () => {
  it('unused count from the server file, last opening from the log, states', () => {
    const members = [
      { name: 'ssh', method: 'knock' as const, door: 'ssh', oneTimeFile: '/k/ssh', pool: { kind: 'rest' as const }, created: 'C' },
      { name: 'alice', method: 'knock' as const, door: 'stick-alice', oneTimeFile: '/k/stick-alice', created: 'C', revoked: 'R' },
      { name: 'bob', method: 'knock' as const, door: 'stick-bob', oneTimeFile: '/k/stick-bob', created: 'C' },
    ];
    const rows = memberRows(members, new Set(['ssh', 'panic']), new Map([['/k/ssh', '#1,2,3\n 4,5,6\n 7,8,9\n']]), new Map([['ssh', { door: 'ssh', address: '1.2.3.4', at: Date.UTC(2026, 11, 1) }]]));
    expect(rows.map((r) => [r.name, r.state, r.unused, r.lastOpened?.address ?? null])).toEqual([
      ['ssh', 'active', 2, '1.2.3.4'],
      ['alice', 'revoked', null, null],
      ['bob', 'no door', null, null],
    ]);
  });
});
