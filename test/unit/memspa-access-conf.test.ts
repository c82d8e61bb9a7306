import { describe, expect, it } from '@jest/globals';
import { ACCESS_MAX_LINE, accessMembers, addMemberStanza, parseAccessConf, removeMemberStanza, type EditResult } from '../../src/core/access-conf.js';

const P = '/etc/fwknop/access.conf';
// What server init writes (one unframed stanza), with a CRLF line and odd spacing kept as they are.
const INIT = [
  '# knockstick: who may open what with an SPA packet (fwknopd access.conf; no semicolons here).',
  'SOURCE                  ANY',
  'OPEN_PORTS              tcp/22\r',
  'KEY_BASE64              a2V5',
  'HMAC_KEY_BASE64:        aG1hYw',
  'CMD_CYCLE_OPEN          /usr/sbin/nft add element inet knockstick spa4 { $SRC timeout 30s }',
  'CMD_CYCLE_CLOSE         NONE',
  'CMD_CYCLE_TIMER         30',
  '',
].join('\n');
const entries = (key: string): [string, string][] => [
  ['SOURCE', 'ANY'],
  ['OPEN_PORTS', 'tcp/22'],
  ['KEY_BASE64', key],
  ['HMAC_KEY_BASE64', `h${key}`],
];
const text = (r: EditResult): string => {
  if (!('text' in r)) throw new Error(JSON.stringify(r.problems));
  return r.text;
};
const problems = (r: EditResult): string[] => ('problems' in r ? r.problems.map((p) => `${p.line}: ${p.message}`) : []);

describe('access.conf member stanzas', () => {
  it('reads stanzas the way fwknopd does (SOURCE starts one; "VAR:" loses its colon; CR ends a value)', () => {
    const parsed = parseAccessConf(INIT, P);
    expect(parsed.problems).toEqual([]);
    expect(parsed.stanzas.map((s) => [s.source, s.entries.map((e) => `${e.variable}=${e.value}`)])).toEqual([
      ['ANY', ['OPEN_PORTS=tcp/22', 'KEY_BASE64=a2V5', 'HMAC_KEY_BASE64=aG1hYw', 'CMD_CYCLE_OPEN=/usr/sbin/nft add element inet knockstick spa4 { $SRC timeout 30s }', 'CMD_CYCLE_CLOSE=NONE', 'CMD_CYCLE_TIMER=30']],
    ]);
  });

  it('adds a framed stanza after the others and removes it again, every other byte kept', () => {
    const one = text(addMemberStanza(INIT, P, 'alice', entries('QQ')));
    const two = text(addMemberStanza(one, P, 'bob', entries('Qg')));
    expect(two.startsWith(INIT)).toBe(true);
    const parsed = parseAccessConf(two, P);
    expect(accessMembers(parsed)).toEqual(['alice', 'bob']);
    expect(parsed.stanzas.map((s) => s.member)).toEqual([undefined, 'alice', 'bob']);
    expect(parsed.stanzas[2]?.entries.find((e) => e.variable === 'KEY_BASE64')?.value).toBe('Qg');
    // Removing alice (in the middle) leaves INIT and bob's stanza exactly as they were.
    const withoutAlice = text(removeMemberStanza(two, P, 'alice'));
    expect(withoutAlice).toBe(text(addMemberStanza(INIT, P, 'bob', entries('Qg'))));
    expect(text(removeMemberStanza(withoutAlice, P, 'bob'))).toBe(INIT);
  });

  it('refuses a second stanza for the same stick, and removing one that is not there', () => {
    const one = text(addMemberStanza(INIT, P, 'alice', entries('QQ')));
    expect(problems(addMemberStanza(one, P, 'alice', entries('Qg')))).toEqual(['10: stick alice has a stanza here already']);
    expect(problems(removeMemberStanza(one, P, 'bob'))[0]).toMatch(/no stanza for stick bob/);
  });

  it('refuses a file that begins with a BOM, naming line 1, and changes nothing', () => {
    const r = addMemberStanza(`\uFEFF${INIT}`, P, 'alice', entries('QQ'));
    expect(problems(r)).toEqual([expect.stringMatching(/^1: .*byte-order mark/)]);
  });

  it('refuses a line fwknopd would cut in two (4096 bytes), naming its line', () => {
    const long = `${INIT}# ${'x'.repeat(4094)}\n`;
    expect(problems(addMemberStanza(long, P, 'alice', entries('QQ')))).toEqual([expect.stringMatching(/^9: line is 4096 bytes long/)]);
    // The limit is fwknopd's fgets buffer: 1022 bytes and the newline still fit.
    expect(problems(addMemberStanza(`${INIT}#${'x'.repeat(ACCESS_MAX_LINE - 1)}\n`, P, 'alice', entries('QQ')))).toEqual([]);
  });

  it('refuses a line of blanks (fwknopd does not start on it) and an entry after a stanza end', () => {
    expect(problems(addMemberStanza(`${INIT}   \n`, P, 'alice', entries('QQ')))).toEqual([expect.stringMatching(/^9: fwknopd refuses this line/)]);
    const one = text(addMemberStanza(INIT, P, 'alice', entries('QQ')));
    expect(problems(removeMemberStanza(`${one}FW_ACCESS_TIMEOUT 30\n`, P, 'alice'))).toEqual([expect.stringMatching(/FW_ACCESS_TIMEOUT follows the end of stick alice's stanza/)]);
  });

  it('refuses a frame with a missing end, or two SOURCE lines', () => {
    const one = text(addMemberStanza(INIT, P, 'alice', entries('QQ')));
    expect(problems(removeMemberStanza(one.replace(/# knockstick end of stick alice\n/, ''), P, 'alice'))).toEqual([expect.stringMatching(/no end line/)]);
    expect(problems(removeMemberStanza(one.replace(/(SOURCE +ANY\n)(?=OPEN_PORTS +tcp\/22\nKEY_BASE64 +QQ)/, '$1SOURCE ANY\n'), P, 'alice'))).toEqual([expect.stringMatching(/holds 2 SOURCE lines/)]);
  });

  it('never removes the last stanza (fwknopd needs one to start)', () => {
    const only = text(addMemberStanza('', P, 'alice', entries('QQ')));
    expect(problems(removeMemberStanza(only, P, 'alice'))).toEqual([expect.stringMatching(/last one/)]);
  });
});
