import { describe, expect, it } from '@jest/globals';
import { compareLockstep, describeLockstep, lockstepOf } from '../../src/core/lockstep.js';
import { parseSequenceFile } from '../../src/core/sequences.js';

const list = (...xs: string[]) => xs;

describe('compareLockstep', () => {
  it('equal lists are in step, empty ones included', () => {
    expect(compareLockstep(list('a', 'b'), list('a', 'b'))).toEqual({ state: 'in-step' });
    expect(compareLockstep([], [])).toEqual({ state: 'in-step' });
  });

  it.each([1, 2, 3])('the stick %i ahead of the server is drift', (d) => {
    const server = ['a', 'b', 'c', 'd', 'e', 'f'];
    expect(compareLockstep(server, server.slice(d))).toEqual({ state: 'drift', stickAhead: d });
  });

  it.each([1, 2, 3])('the server %i ahead of the stick is drift', (d) => {
    const stick = ['a', 'b', 'c', 'd', 'e', 'f'];
    expect(compareLockstep(stick.slice(d), stick)).toEqual({ state: 'drift', stickAhead: -d });
  });

  it('a shift of any size is drift, with its size (what heals it is healingOf\'s business)', () => {
    const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    expect(compareLockstep(all, all.slice(7))).toEqual({ state: 'drift', stickAhead: 7 });
    expect(compareLockstep(all.slice(7), all)).toEqual({ state: 'drift', stickAhead: -7 });
  });

  it('a side with no unused line left: drift when it used them, a missing tail when it never had them', () => {
    const spent = (server: string[], stick: string[]) => ({ server: new Set(server), stick: new Set(stick) });
    expect(compareLockstep([], ['a', 'b'], spent(['a', 'b'], []))).toEqual({ state: 'drift', stickAhead: -2 });
    expect(compareLockstep([], ['a', 'b'], spent([], []))).toEqual({ state: 'tail-missing', side: 'server', missing: 2 });
    expect(compareLockstep(['a', 'b'], [], spent([], ['a', 'b']))).toEqual({ state: 'drift', stickAhead: 2 });
    expect(compareLockstep(['a', 'b'], [])).toEqual({ state: 'tail-missing', side: 'stick', missing: 2 });
  });

  it('one side holding the other plus a tail is an interrupted seqgen', () => {
    expect(compareLockstep(list('a', 'b'), list('a', 'b', 'c', 'd', 'e', 'f'))).toEqual({ state: 'tail-missing', side: 'server', missing: 4 });
    expect(compareLockstep(list('a', 'b', 'c', 'd', 'e', 'f'), list('a', 'b'))).toEqual({ state: 'tail-missing', side: 'stick', missing: 4 });
  });

  it('a different line in the middle is a mismatch at that index', () => {
    expect(compareLockstep(list('a', 'b', 'c', 'x', 'e'), list('a', 'b', 'c', 'd', 'e'))).toEqual({ state: 'mismatch', index: 3 });
  });
});

describe('describeLockstep', () => {
  const server = parseSequenceFile('#41001,41002\n 41003,41004\n 41005,41006\n', '/srv/ssh', 'server').file;

  it('explains drift with the server lines involved, without printing sequences', () => {
    const stick = parseSequenceFile('#41001,41002\n#41003,41004\n 41005,41006\n', '/stick/.ssh/sequences', 'stick').file;
    const lockstep = lockstepOf(server, stick);
    expect(lockstep).toEqual({ state: 'drift', stickAhead: 1 });
    const text = describeLockstep(lockstep, server, stick);
    expect(text).toMatch(/stick is 1 ahead.*\/srv\/ssh line 2/);
    expect(text).not.toMatch(/4100\d/);
  });

  it('says where the stick\'s next sequence is on the server when they disagree', () => {
    const stick = parseSequenceFile(' 41007,41008\n 41003,41004\n', '/stick/.ssh/sequences', 'stick').file;
    const text = describeLockstep(lockstepOf(server, stick), server, stick);
    expect(text).toMatch(/unused sequence #1 differs \(\/srv\/ssh line 2, \/stick\/.ssh\/sequences line 1\)/);
    expect(text).toMatch(/nowhere in the server file/);
  });

  it('names the missing tail and the repair command', () => {
    const stick = parseSequenceFile(' 41003,41004\n 41005,41006\n 41007,41008\n', '/stick/.ssh/sequences', 'stick').file;
    expect(describeLockstep(lockstepOf(server, stick), server, stick)).toMatch(/\/srv\/ssh lacks the last 1 .*line 3.*seqgen repair/);
  });
});
