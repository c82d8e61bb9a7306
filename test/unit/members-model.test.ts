import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { generateSequences, DEFAULT_RANGE } from '../../src/core/generate.js';
import {
  POOL_BLOCKS,
  adoptLegacyDoor,
  allocatePool,
  checkMemberName,
  formatRegistry,
  memberDraw,
  parseKeyBlob,
  parseRegistry,
  poolHolds,
  withMember,
  withRevoked,
  type Member,
  type Registry,
} from '../../src/core/members.js';
import { seeded } from '../helpers/seeded-random.js';


const knock = (name: string, extra: Partial<Member> = {}): Member => ({
  name,
  method: 'knock',
  door: `stick-${name}`,
  oneTimeFile: `/etc/knockd/stick-${name}`,
  pool: { kind: 'ranges', ranges: [{ low: 1024, high: 5055 }] },
  created: '2026-12-01T16:00:00.000Z',
  ...extra,
});

describe('member names', () => {
  it('accepts lower-case names safe for a knockd header, a file name and a shell', () => {
    for (const name of ['alice', 'spare-2', 'b']) expect(() => checkMemberName(name)).not.toThrow();
  });
  it('refuses names that could break a stanza, a path or a command line', () => {
    for (const name of ['', 'Alice', '-x', '1abc', 'a b', 'a/b', 'a;rm', 'a]b', 'x'.repeat(33), 'panic', 'options', '../x']) {
      expect(() => checkMemberName(name)).toThrow();
    }
  });
});

describe('the registry file', () => {
  it('round-trips through format and parse', () => {
    const r: Registry = { members: [knock('alice', { sshKey: 'ssh-ed25519 AAAAC3Nza' }), knock('bob', { pool: { kind: 'ranges', ranges: [{ low: 5056, high: 9087 }] }, revoked: '2026-12-02T00:00:00.000Z' }), { ...knock('ssh'), door: 'ssh', pool: { kind: 'rest' } }] };
    const { registry, problems } = parseRegistry(formatRegistry(r), 'sticks.conf');
    expect(problems).toEqual([]);
    expect(registry).toEqual(r);
  });
  it('names file and line for unknown keys, duplicates, missing fields and overlapping pools', () => {
    const text = ['[alice]', 'method = knock', 'door = stick-alice', 'one_time_file = /etc/knockd/stick-alice', 'pool = 1024-2000', 'created = 2026-12-01', 'colour = red', '[alice]', 'method = knock', '[bob]', 'method = knock', 'door = stick-bob', 'one_time_file = /etc/knockd/stick-bob', 'pool = 1500-1600', 'created = yesterday', 'method = spa', '[Bad Name]', ''].join('\n');
    const { problems } = parseRegistry(text, 'S');
    const messages = problems.map((p) => `${p.line}: ${p.message}`);
    expect(messages.some((m) => m.startsWith('7: unknown key "colour"'))).toBe(true);
    expect(messages.some((m) => m.startsWith('8: [alice] appears twice'))).toBe(true);
    expect(messages.some((m) => m.startsWith('15:') && m.includes('created'))).toBe(true);
    expect(messages.some((m) => m.startsWith('16: method is set twice'))).toBe(true);
    expect(messages.some((m) => m.startsWith('17:') && m.includes('not a stick name'))).toBe(true);
    expect(messages.some((m) => m.includes('pools of [alice] and [bob] overlap'))).toBe(true);
  });
  it('refuses a key before any section and a door two members claim', () => {
    const text = 'method = knock\n[a]\nmethod = spa\ndoor = d\ncreated = 2026-12-01\n[b]\nmethod = spa\ndoor = d\ncreated = 2026-12-01\n';
    const messages = parseRegistry(text, 'S').problems.map((p) => p.message);
    expect(messages[0]).toContain('section');
    expect(messages.some((m) => m.includes('door d is also [a]'))).toBe(true);
  });
  it('never reuses a name, revoked or not', () => {
    const r = withRevoked({ members: [knock('alice')] }, 'alice', '2026-12-02T00:00:00.000Z');
    expect(() => withMember(r, knock('alice'))).toThrow(/never reused/);
  });
  it('reads the key blob of authorized_keys and .pub lines', () => {
    expect(parseKeyBlob('ssh-ed25519 AAAAC3abc+/= user@host')).toBe('ssh-ed25519 AAAAC3abc+/=');
    expect(parseKeyBlob('from="1.2.3.4",no-pty ssh-rsa AAAAB3xyz stick')).toBe('ssh-rsa AAAAB3xyz');
    expect(parseKeyBlob('# comment')).toBeUndefined();
  });
});

describe('migration', () => {
  it('adopts the door [ssh] of a server made before members as member ssh with pool rest, once', () => {
    const doors = [{ name: 'ssh', oneTimeFile: '/etc/knockd/ssh' }, { name: 'panic', oneTimeFile: null }];
    const { registry, adopted } = adoptLegacyDoor({ members: [] }, doors, 'T');
    expect(adopted).toBe(true);
    expect(registry.members).toEqual([{ name: 'ssh', method: 'knock', door: 'ssh', oneTimeFile: '/etc/knockd/ssh', pool: { kind: 'rest' }, created: 'T' }]);
    expect(adoptLegacyDoor(registry, doors, 'T').adopted).toBe(false);
  });
});

describe('port pools (property: no two doors share a port, panic ports never used)', () => {
  it('allocates disjoint blocks until none is left', () => {
    let r: Registry = { members: [] };
    for (let i = 0; i < POOL_BLOCKS; i++) r = withMember(r, knock(`m${i}`, { pool: allocatePool(r, seeded(i)) }));
    expect(parseRegistry(formatRegistry(r), 'S').problems).toEqual([]);
    expect(() => allocatePool(r, seeded(99))).toThrow(/every one/);
    // A revoked member's block is free again.
    expect(() => allocatePool(withRevoked(r, 'm3', 'T'), seeded(1))).not.toThrow();
  });

  it('sequences generated per door share no port with any other door nor the panic sequence', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer(), fc.boolean(), fc.uniqueArray(fc.integer({ min: 1024, max: 65535 }), { minLength: 3, maxLength: 6 }), (n, seed, legacy, panic) => {
        const rng = seeded(seed);
        let r: Registry = { members: [] };
        const files = new Map<string, Set<number>>();
        // A legacy door (pool rest) whose file already has ports anywhere, as server init made them.
        if (legacy) {
          r = adoptLegacyDoor(r, [{ name: 'ssh', oneTimeFile: '/x/ssh' }], 'T').registry;
          const seqs = generateSequences(rng, { count: 20, length: 5, range: DEFAULT_RANGE, exclude: new Set(panic), avoid: new Set() });
          files.set('ssh', new Set(seqs.flat().map((k) => k.port)));
        }
        for (let i = 0; i < n; i++) r = withMember(r, knock(`m${i}`, { pool: allocatePool(r, rng) }));
        // Each door draws (twice: a later refill too) from its pool minus the others' file ports.
        for (let round = 0; round < 2; round++) {
          for (const m of r.members) {
            const others = new Set([...files.entries()].filter(([k]) => k !== m.name).flatMap(([, v]) => [...v]));
            const { range, exclude } = memberDraw(r, m, others);
            for (const p of panic) exclude.add(p);
            const seqs = generateSequences(rng, { count: 5, length: 5, range, exclude, avoid: new Set() });
            const mine = files.get(m.name) ?? new Set<number>();
            for (const k of seqs.flat()) {
              expect(poolHolds(r, m, k.port)).toBe(true);
              mine.add(k.port);
            }
            files.set(m.name, mine);
          }
        }
        const all = [...files.entries()];
        for (let i = 0; i < all.length; i++) {
          const [, a] = all[i] as [string, Set<number>];
          for (const p of panic) expect(a.has(p)).toBe(false);
          for (let j = i + 1; j < all.length; j++) for (const p of (all[j] as [string, Set<number>])[1]) expect(a.has(p)).toBe(false);
        }
      }),
      { numRuns: 8 },
    );
  });
});
