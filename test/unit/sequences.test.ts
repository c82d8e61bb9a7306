import { describe, expect, it } from '@jest/globals';
import {
  formatLine,
  formatSequence,
  parseSequenceFile,
  unusedLength,
  unusedLines,
  type FileRole,
} from '../../src/core/sequences.js';

const FILE = '/etc/knockd/ssh';

function parse(text: string, role: FileRole = 'server') {
  return parseSequenceFile(text, FILE, role);
}

/** The problems as "line: message" strings, for compact assertions. */
function problems(text: string, role: FileRole = 'server'): string[] {
  return parse(text, role).problems.map((p) => `${p.line}: ${p.message}`);
}

describe('parsing a valid one-time file', () => {
  it('reads unused, used and blank lines with their line numbers', () => {
    const { file, problems: found } = parse(' 7001,7002,7003\n#7004,7005,7006\n\n 7007,7008,7009\n');
    expect(found).toEqual([]);
    expect(file.lines.map((l) => [l.lineNo, l.state])).toEqual([
      [1, 'unused'],
      [2, 'used'],
      [3, 'blank'],
      [4, 'unused'],
    ]);
    expect(unusedLines(file).map((l) => formatSequence(l.sequence))).toEqual(['7001,7002,7003', '7007,7008,7009']);
    expect(unusedLength(file)).toBe(3);
  });

  it('reads :udp and :tcp suffixes', () => {
    const { file, problems: found } = parse(' 7001:udp,7002:tcp,7003\n');
    expect(found).toEqual([]);
    expect(unusedLines(file)[0]?.sequence).toEqual([
      { port: 7001, protocol: 'udp' },
      { port: 7002, protocol: 'tcp' },
      { port: 7003, protocol: 'tcp' },
    ]);
  });

  it('tolerates CRLF line ends and a missing final newline', () => {
    const { file, problems: found } = parse(' 7001,7002\r\n 7003,7004');
    expect(found).toEqual([]);
    expect(unusedLines(file)).toHaveLength(2);
    expect(file.endsWithNewline).toBe(false);
    expect(parse(' 7001,7002\n').file.endsWithNewline).toBe(true);
    expect(parse('').file.endsWithNewline).toBe(true);
  });

  it('treats an empty file as having no sequences', () => {
    const { file, problems: found } = parse('');
    expect(found).toEqual([]);
    expect(file.lines).toEqual([]);
    expect(unusedLength(file)).toBeUndefined();
  });

  it('recovers the sequence of a used line so it is never issued again', () => {
    const { file } = parse('#7001,7002\n 7003,7004\n');
    expect(file.lines[0]?.sequence).toEqual([
      { port: 7001, protocol: 'tcp' },
      { port: 7002, protocol: 'tcp' },
    ]);
  });

  it('accepts comment lines that are not sequences', () => {
    expect(problems('# made by hand on 2026-01-01\n 7001,7002\n')).toEqual([]);
  });

  it('accepts a stick file without the leading space (we rewrite it whole, knockd never marks it)', () => {
    expect(problems('7001,7002\n', 'stick')).toEqual([]);
  });

  it('formats the way knockd needs: leading space, commas, tcp implicit, newline', () => {
    expect(formatLine([{ port: 7001, protocol: 'tcp' }, { port: 7002, protocol: 'udp' }])).toBe(' 7001,7002:udp\n');
  });
});

describe('rejecting what knockd would read differently', () => {
  it.each([
    ['non-numeric port', ' 7001,abc,7003\n', /port 2 is not a port number: "abc"/],
    ['port 0', ' 7001,0,7003\n', /port 2 is out of range/],
    ['port above 65535', ' 7001,65536,7003\n', /port 2 is out of range/],
    ['a huge number', ' 7001,99999999999999999999,7003\n', /out of range/],
    ['a repeated port', ' 7001,7002,7001\n', /port 7001 appears twice/],
    ['space-separated ports', ' 7241 7242 7243\n', /ports separated by spaces.*single port 7241/],
    ['tab-separated ports', ' 7241\t7242\n', /ports separated by spaces/],
    ['an empty field', ' 7001,,7003\n', /port 2 is empty/],
    ['a trailing comma', ' 7001,7002,\n', /port 3 is empty/],
    ['an uppercase protocol', ' 7001:UDP,7002\n', /lowercase/],
    ['an unknown protocol', ' 7001:sctp,7002\n', /unknown protocol "sctp"/],
    ['a negative port', ' 7001,-5,7003\n', /not a port number/],
    ['a quoted port', ' 7001,"7002",7003\n', /not a port number/],
    ['a stray carriage return', ' 7001\r7002\n', /ports separated by spaces/],
  ])('%s', (_name, text, message) => {
    const found = parse(text).problems;
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: FILE, line: 1 });
    expect(found[0]?.message).toMatch(message);
  });

  it('more than 32 ports', () => {
    const ports = Array.from({ length: 33 }, (_, i) => 2000 + i).join(',');
    expect(problems(` ${ports}\n`)).toEqual([expect.stringMatching(/^1: 33 ports; knockd accepts at most 32/)]);
  });

  it('accepts exactly 32 ports', () => {
    const ports = Array.from({ length: 32 }, (_, i) => 2000 + i).join(',');
    expect(problems(` ${ports}\n`)).toEqual([]);
  });

  it('a missing leading space in a server file, with the line number', () => {
    expect(problems(' 7001,7002\n7003,7004\n')).toEqual([expect.stringMatching(/^2: missing leading space/)]);
  });

  it('lines of different lengths, naming both lines', () => {
    expect(problems(' 7001,7002,7003\n 7004,7005\n')).toEqual([expect.stringMatching(/^2: has 2 ports but line 1 has 3/)]);
  });

  it('ignores the length of used lines (an older --length is fine once spent)', () => {
    expect(problems('#7001,7002,7003\n 7004,7005\n 7006,7007\n')).toEqual([]);
  });

  it('a sequence repeated among unused lines', () => {
    expect(problems(' 7001,7002\n 7003,7004\n 7001,7002\n')).toEqual([expect.stringMatching(/^3: repeats the sequence of line 1/)]);
  });

  it('an unused line repeating a used one (a sniffed knock would work again)', () => {
    expect(problems('#7001,7002\n 7001,7002\n')).toEqual([expect.stringMatching(/^2: repeats the sequence already used on line 1/)]);
  });

  it('reports every problem of the file in line order, with the right line numbers after CRLF lines', () => {
    expect(problems(' 7001,7002\r\n 7003,x\r\n\r\n7005,7006\r\n 7007,7008\r\n')).toEqual([
      expect.stringMatching(/^2: port 2 is not a port number/),
      expect.stringMatching(/^4: missing leading space/),
    ]);
  });

  it('never echoes a whole valid sequence in a message', () => {
    const found = parse(' 41234,41235\n 41236,41237,41238\n').problems;
    expect(found.map((p) => p.message).join('\n')).not.toContain('41236');
  });
});
