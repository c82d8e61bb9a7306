import { describe, expect, it } from '@jest/globals';
import { parseKnockdConf } from '../../src/core/knockd-conf.js';
import { formatRegistry, type Member } from '../../src/core/members.js';
import { checkMembers } from '../../src/doctor/members-checks.js';
import type { FileFact } from '../../src/doctor/checks.js';

const door = (name: string, file: string) => `[${name}]\n  one_time_sequences = ${file}\n  seq_timeout = 15\n  tcpflags = syn\n  start_command = true\n  cmd_timeout = 10\n`;
const conf = (...stanzas: string[]) => parseKnockdConf(`[options]\n  logfile = /var/log/knockd.log\n${stanzas.join('')}[panic]\n  sequence = 40001,40002,40003\n  tcpflags = syn\n  command = true\n`, 'knockd.conf').conf.doors;
const member = (name: string, extra: Partial<Member> = {}): Member => ({ name, method: 'knock', door: `stick-${name}`, oneTimeFile: `/k/stick-${name}`, pool: { kind: 'ranges', ranges: [{ low: 1024, high: 5055 }] }, created: '2026-12-01T00:00:00.000Z', ...extra });
const files = (entries: Record<string, string>) => new Map<string, FileFact>(Object.entries(entries).map(([k, v]) => [k, { text: v, mode: 0o600 }]));
const ids = (findings: { id: string; severity: string }[]) => findings.filter((f) => f.severity !== 'ok').map((f) => f.id);
const registry = (...members: Member[]) => formatRegistry({ members });
const facts = (text: string | null, dirFiles: string[] = []) => ({ registryPath: '/e/sticks.conf', registryText: text, filesInDoorDirs: dirFiles });

describe('doctor: members', () => {
  const ssh = member('ssh', { door: 'ssh', oneTimeFile: '/k/ssh', pool: { kind: 'rest' } });
  const alice = member('alice', { pool: { kind: 'ranges', ranges: [{ low: 5056, high: 9087 }] } });
  const seq = { '/k/ssh': ' 2001,2002,2003\n', '/k/stick-alice': ' 6001,6002,6003\n' };

  it('lists the members, and a clean server has no finding', () => {
    const findings = checkMembers(conf(door('ssh', '/k/ssh'), door('stick-alice', '/k/stick-alice')), facts(registry(ssh, alice), ['/k/ssh', '/k/stick-alice']), files(seq));
    expect(ids(findings)).toEqual([]);
    expect(findings[0]?.message).toBe('members: ssh (knock, door ssh), alice (knock, door stick-alice)');
  });
  it('a server made before members: its door [ssh] is the member ssh, no finding', () => {
    const findings = checkMembers(conf(door('ssh', '/k/ssh')), facts(null, ['/k/ssh']), files(seq));
    expect(ids(findings)).toEqual([]);
    expect(findings[0]?.message).toMatch(/^members: ssh \(knock, door ssh\) \(door \[ssh\] is the member "ssh"/);
  });
  it('finds a door stanza without a registry record', () => {
    expect(ids(checkMembers(conf(door('ssh', '/k/ssh'), door('stick-alice', '/k/stick-alice')), facts(registry(ssh)), files(seq)))).toEqual(['members:orphan-door:stick-alice']);
  });
  it('finds a one-time file no door names', () => {
    expect(ids(checkMembers(conf(door('ssh', '/k/ssh')), facts(registry(ssh), ['/k/ssh', '/k/stick-bob', '/k/notes']), files(seq)))).toEqual(['members:orphan-file:/k/stick-bob']);
  });
  it('finds a record without a door', () => {
    expect(ids(checkMembers(conf(door('ssh', '/k/ssh')), facts(registry(ssh, alice)), files(seq)))).toEqual(['members:no-door:alice']);
  });
  it('finds two doors whose unused sequences share a port', () => {
    const shared = files({ '/k/ssh': ' 2001,2002,2003\n', '/k/stick-alice': '#2001,9,9\n 6001,2002,6003\n' });
    expect(ids(checkMembers(conf(door('ssh', '/k/ssh'), door('stick-alice', '/k/stick-alice')), facts(registry(ssh, alice)), shared))).toEqual(['members:shared-ports:ssh:stick-alice']);
  });
  it('finds panic ports inside a door\'s sequences', () => {
    const panicky = files({ ...seq, '/k/stick-alice': ' 6001,40002,6003\n' });
    expect(ids(checkMembers(conf(door('ssh', '/k/ssh'), door('stick-alice', '/k/stick-alice')), facts(registry(ssh, alice)), panicky))).toEqual(['members:panic:stick-alice']);
  });
  it('an invalid registry is one error naming file and line', () => {
    const findings = checkMembers(conf(door('ssh', '/k/ssh')), facts('[alice]\ncolour = red\n'), files(seq));
    expect(ids(findings)).toEqual(['members']);
    expect(findings[0]?.message).toMatch(/\/e\/sticks\.conf:1: \[alice\]: method must be knock or spa/);
  });
  it('a revoked member is listed as revoked, its file gone is no finding', () => {
    const findings = checkMembers(conf(door('ssh', '/k/ssh')), facts(registry(ssh, { ...alice, revoked: '2026-12-02T00:00:00.000Z' }), ['/k/ssh']), files(seq));
    expect(ids(findings)).toEqual([]);
    expect(findings[0]?.message).toBe('members: ssh (knock, door ssh); revoked: alice');
  });
});
