// The model of knockd 0.8's reader (src/core/knockd-reader.ts): exact line pieces at the 4095-byte
// boundary, C-locale trimming (BOM and U+00A0 are text), sections, every directive, usesyslog forms,
// unknown keys, case, atoi. The lab test (test/lab/knockd-reader.test.ts) asks the real knockd the
// same questions; the golden transcript below is what knockd 0.8 printed for this config.

import { describe, expect, it } from '@jest/globals';
import {
  KNOCKD_READ_MAX,
  cAtoi,
  cTrim,
  firstOneTimeSequence,
  knockdReads,
  overlongLines,
  parseKnockdSequence,
  readKnockdConf,
  type KnockdReading,
} from '../../src/core/knockd-reader.js';
import { lineLimitError, parseKnockdConf } from '../../src/core/knockd-conf.js';
import { compareWithKnockd, probeCopy, type ProbeResult } from '../../src/core/knockd-probe.js';
import { diagnose, type Facts } from '../../src/doctor/checks.js';
import { parseSequenceFile } from '../../src/core/sequences.js';
import { nameProblem } from '../../src/core/names.js';

const text = (r: KnockdReading): { error: string | null; transcript: string[] } => ({ error: r.error, transcript: r.transcript });
const door = (body: string): string => `[ssh]\n  sequence = 1,2,3\n${body}`;
/** A `command =` line of exactly `bytes` bytes before its newline. */
const commandLine = (bytes: number, last = 'Z'): string => {
  const head = '  command = ';
  return `${head}${'a'.repeat(bytes - head.length - last.length)}${last}`;
};

describe('knockd reads a line in pieces of at most 4095 bytes, the newline included', () => {
  it.each([
    [4093, 1],
    [4094, 1],
    [4095, 2],
    [4096, 2],
    [8189, 2],
    [8190, 3],
  ])('a line of %i bytes before its newline takes %i read(s)', (bytes, reads) => {
    const line = `${'x'.repeat(bytes)}\n`;
    const got = knockdReads(`${line}next\n`);
    expect(got.filter((r) => r.fileLine === 1)).toHaveLength(reads);
    expect(got.filter((r) => r.fileLine === 1).map((r) => r.raw).join('')).toBe(line);
    expect(got.every((r) => r.raw.length <= KNOCKD_READ_MAX)).toBe(true);
    expect(got[got.length - 1]).toMatchObject({ raw: 'next\n', fileLine: 2, knockdLine: reads + 1 });
  });

  it('a last line without a newline is read in one go up to 4095 bytes', () => {
    expect(knockdReads('x'.repeat(4095))).toHaveLength(1);
    expect(knockdReads('x'.repeat(4096))).toHaveLength(2);
  });

  it('4095 bytes before the newline: the second read is the bare newline, skipped, but knockd counts it as a line', () => {
    const conf = `${door(`${commandLine(4095)}\n`)}  bogus = 1\n`;
    expect(overlongLines(conf)).toEqual([{ fileLine: 3, bytes: 4096, reads: 2 }]);
    const r = readKnockdConf(conf);
    expect(r.doors[0]?.startCommand?.endsWith('aZ')).toBe(true);
    expect(r.error).toBe('config: line 5: syntax error');
    expect(r.errorRead?.fileLine).toBe(4);
  });

  it('4094 bytes before the newline: one read, nothing flagged', () => {
    const conf = door(`${commandLine(4094)}\n  seq_timeout = 5\n`);
    expect(overlongLines(conf)).toEqual([]);
    expect(readKnockdConf(conf).error).toBeNull();
  });

  it('4096 bytes before the newline: the last byte is a line of its own ("syntax error")', () => {
    const r = readKnockdConf(door(`${commandLine(4096)}\n`));
    expect(r.doors[0]?.startCommand?.endsWith('aaa')).toBe(true);
    expect(r.error).toBe('config: line 4: syntax error');
  });

  it('the panic reproducer: a pidfile padded to byte 4095 gives the panic door a second command', () => {
    const head = `  command     = kill -TERM "$(cat '/run/`;
    const pad = 'a'.repeat(KNOCKD_READ_MAX - head.length);
    const line = `${head}${pad}command = touch /tmp/x #')" 2>/dev/null || pkill -TERM -x knockd; iptables -F KNOCKSTICK_DOORS\n`;
    const conf = `[panic]\n  sequence = 1,2,3\n${line}`;
    const r = readKnockdConf(conf);
    expect(r.error).toBeNull();
    expect(r.doors[0]?.startCommand).toBe(`touch /tmp/x #')" 2>/dev/null || pkill -TERM -x knockd; iptables -F KNOCKSTICK_DOORS`);
    expect(r.transcript.filter((l) => l.startsWith('config: panic: start_command: '))).toHaveLength(2);
    const { problems } = parseKnockdConf(conf, 'k.conf');
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^is 4\d{3} bytes long with its newline; knockd reads at most 4095 bytes of a line at once/),
      'command is set twice in [panic] (knockd keeps the last one)',
    ]);
    expect(lineLimitError(conf, 'k.conf', '--pidfile')?.message).toMatch(/^--pidfile makes line 3 of k\.conf 4\d{3} bytes long/);
  });

  it('a one-time line over the limit loads as its first piece (4 of 5 ports) and is refused with file:line', () => {
    const line = ` 1111,2222,3333,4444${' '.repeat(4100)},5555\n`;
    expect(firstOneTimeSequence(line, 'ssh')?.sequence.map((k) => k.port)).toEqual([1111, 2222, 3333, 4444]);
    const { problems } = parseSequenceFile(` 1,2,3,4,5\n${line} 6,7,8,9,10\n`, '/etc/knockd/ssh', 'server');
    expect(problems).toEqual([{ file: '/etc/knockd/ssh', line: 2, message: expect.stringMatching(/is 4126 bytes long .* at most 4095 bytes/) }]);
  });
});

describe('trimming is C isspace in the C locale', () => {
  it('strips space, tab, newline, vertical tab, form feed and carriage return, nothing else', () => {
    expect(cTrim(' \t\n\v\f\rx \t\n\v\f\r')).toBe('x');
    expect(cTrim('\u00a0x\ufeff')).toBe('\u00a0x\ufeff');
  });

  it('a UTF-8 BOM before [options] is no section header: "all directives must belong to a section"', () => {
    const r = readKnockdConf('\ufeff[options]\n  logfile = /x\n');
    expect(text(r)).toEqual({ error: 'config: line 1: all directives must belong to a section', transcript: [] });
    expect(parseKnockdConf('\ufeff[options]\n', 'k')).toMatchObject({ problems: [{ line: 1, message: expect.stringMatching(/^starts with a UTF-8 byte-order mark, which knockd does not skip/) }] });
  });

  it('a no-break space before [ssh] after [options] is a directive without "=": "syntax error"', () => {
    const r = readKnockdConf('[options]\n  logfile = /x\n\u00a0[ssh]\n  sequence = 1\n');
    expect(r.error).toBe('config: line 3: syntax error');
    expect(parseKnockdConf('[options]\n\u00a0[ssh]\n', 'k').problems[0]?.message).toMatch(/^starts with a no-break space \(U\+00A0\)/);
  });

  it('tabs, form feeds and CRLF around headers, keys and values are trimmed', () => {
    const r = readKnockdConf('\t[ssh]\t\r\n\tSEQUENCE\t=\t1,2,3\r\n\f command\v=\vecho  hi \r\n');
    expect(r.error).toBeNull();
    expect(r.doors[0]).toMatchObject({ name: 'ssh', startCommand: 'echo  hi', sequence: [{ port: 1 }, { port: 2 }, { port: 3 }] });
  });

  it('a NUL byte ends what knockd sees of the line', () => {
    expect(readKnockdConf(door('  command = a\0; rm -rf /\n')).doors[0]?.startCommand).toBe('a');
    expect(parseKnockdConf(door('  command = a\0b\n'), 'k').problems.map((p) => p.message)).toContain('has a NUL byte: knockd ignores the rest of the line after it');
  });
});

describe('sections and directives', () => {
  it('prints exactly what knockd 0.8 printed for this config (golden, from knockd -D)', () => {
    const conf = [
      '[options]',
      '  logfile = /tmp/kr/log',
      '  pidfile = /tmp/kr/pid',
      '  usesyslog',
      '[ssh]',
      '  one_time_sequences = /tmp/kr/ots',
      '  seq_timeout = 15',
      '  tcpflags = syn,ack',
      '  start_command = echo %IP%',
      '  cmd_timeout = 7',
      '  stop_command = echo stop',
      '[panic]',
      '  sequence = 1:udp,2, 3 :tcp',
      '  command = kill',
      '  target = 1.2.3.4',
      '',
    ].join('\n');
    const r = readKnockdConf(conf, { interfaceFromCommandLine: true, oneTimeFile: () => ' 1111,2222,3333\n 4444,5555,6666\n' });
    expect(r.error).toBeNull();
    expect(r.transcript).toEqual([
      "config: new section: 'options'",
      'config: log file: /tmp/kr/log',
      'config: pid file: /tmp/kr/pid',
      'config: usesyslog',
      "config: new section: 'ssh'",
      'config: ssh: one time sequences file: /tmp/kr/ots',
      'new sequence for door ssh: 1111:tcp,2222:tcp,3333:tcp',
      'config: ssh: sequence: 1111:tcp,2222:tcp,3333:tcp',
      'config: ssh: seq_timeout: 15',
      'config: tcp flag: SYN',
      'config: tcp flag: ACK',
      'config: ssh: start_command: echo %IP%',
      'config: ssh: cmd_timeout: 7',
      'config: ssh: stop_command: echo stop',
      "config: new section: 'panic'",
      'config: panic: sequence: 1:udp,2:tcp,3:tcp',
      'config: panic: start_command: kill',
      'config: panic: target: 1.2.3.4',
    ]);
  });

  it.each([
    ['usesyslog', null],
    ['USESYSLOG', null],
    ['  UseSysLog  ', null],
    ['usesyslog = yes', 'config: line 2: syntax error'],
    ['usesyslog =', 'config: line 2: syntax error'],
    ['usesyslog yes', 'config: line 2: syntax error'],
  ])('[options] %j: %s', (line, error) => {
    const r = readKnockdConf(`[options]\n${line}\n`);
    expect(r.error).toBe(error);
    expect(r.usesyslog).toBe(error === null);
  });

  it('says why "usesyslog = yes" fails', () => {
    expect(parseKnockdConf('[options]\n  usesyslog = yes\n', 'k').problems[0]?.message).toMatch(/^usesyslog takes no value: write the bare word "usesyslog"/);
  });

  it('usesyslog is accepted in a door section too (it is global)', () => {
    expect(readKnockdConf(door('  usesyslog\n'))).toMatchObject({ error: null, usesyslog: true });
  });

  it.each([
    ['[options]\n  foo = 1\n', 'config: line 2: syntax error', /unknown option "foo"/],
    ['[ssh]\n  sequence = 1\n  bogus = 1\n', 'config: line 3: syntax error', /unknown directive "bogus" in \[ssh\]/],
    ['[Options]\n  logfile = /x\n', 'config: line 2: syntax error', /unknown directive "logfile" in \[Options\]/],
    ['[ssh]\n  sequence 1,2\n', 'config: line 2: syntax error', /is neither a \[section\] nor "key = value"/],
    ['  logfile = /x\n', 'config: line 1: all directives must belong to a section', /all directives must belong/],
    ['[]\n', 'config: line 1: bad section name', /bad section name/],
    ['[ssh]\n  command = x\n', "error: section 'ssh' has an empty knock sequence", /empty knock sequence/],
    ['[ssh]\n  sequence = 1\n  tcpflags = syn, ack\n', 'config: line 3: unrecognized flag " ACK"', /unrecognized flag/],
    ['[ssh]\n  sequence = 1,65536\n', 'config: section ssh: port 65536 is invalid', /is invalid/],
    ['[ssh]\n  sequence = 1:icmp\n', 'config: section ssh: unknown protocol in knock sequence', /unknown protocol/],
  ])('%j: knockd stops with %j', (conf, error, message) => {
    expect(readKnockdConf(conf).error).toBe(error);
    expect(parseKnockdConf(conf, 'k').problems.map((p) => p.message).join('\n')).toMatch(message);
  });

  it('keys are case-insensitive, section names and values are not; "[OPTIONS]" is a door', () => {
    const r = readKnockdConf('[OPTIONS]\n  Sequence = 1:UDP,2:Tcp\n  START_command = Echo\n  Command_6 = X\n  stop_COMMAND_6 = Y\n  TIMEOUT = 9\n');
    expect(r.error).toBeNull();
    expect(r.doors[0]).toMatchObject({ name: 'OPTIONS', startCommand: 'Echo', startCommand6: 'X', stopCommand6: 'Y', seqTimeout: 9, sequence: [{ port: 1, protocol: 'udp' }, { port: 2, protocol: 'tcp' }] });
  });

  it('"#" starts a comment only as the first byte after trimming; a value keeps it', () => {
    const r = readKnockdConf(door('   # a comment\n  command = x # not a comment\n'));
    expect(r.doors[0]?.startCommand).toBe('x # not a comment');
  });

  it('a directive set twice keeps its last value; a section seen twice makes two doors', () => {
    const r = readKnockdConf('[a]\n sequence = 1\n sequence = 2\n[a]\n sequence = 3\n');
    expect(r.doors.map((d) => [d.name, d.sequence?.[0]?.port])).toEqual([['a', 2], ['a', 3]]);
  });

  it('the interface of the config is ignored (and not printed) when knockd got -i', () => {
    expect(readKnockdConf('[options]\n interface = eth9\n', { interfaceFromCommandLine: true })).toMatchObject({ interface: '', transcript: ["config: new section: 'options'"] });
    expect(readKnockdConf('[options]\n interface = eth9\n').interface).toBe('eth9');
  });
});

describe('numbers are read with atoi', () => {
  it.each([
    [' 12x', 12],
    ['x', 0],
    ['+7', 7],
    ['-1', -1],
    ['4294967297', 1],
    ['99999999999999999999', -1],
    ['\u00a012', 0],
  ])('atoi(%j) = %i', (input, value) => expect(cAtoi(input)).toBe(value));

  it.each([
    ['1, 2 ,3', [1, 2, 3]],
    ['1 2 3', [1]],
    ['x', [0]],
    ['-1', [65535]],
    ['1,,2', [1, 0, 2]],
    ['1:udp:ignored', [1]],
    ['1: udp ', [1]],
  ])('sequence %j reads as ports %j', (value, ports) => {
    const parsed = parseKnockdSequence(value, 'd');
    expect('sequence' in parsed && parsed.sequence.map((k) => k.port)).toEqual(ports);
  });

  it('at most 32 ports', () => {
    const ports = (n: number): string => Array.from({ length: n }, (_, i) => String(i + 1)).join(',');
    expect('sequence' in parseKnockdSequence(ports(32), 'd')).toBe(true);
    expect(parseKnockdSequence(ports(33), 'd')).toEqual({ error: 'config: section d: too many ports in knock sequence' });
  });
});

describe('one-time files', () => {
  it('the first line that parses is the sequence; comments, blanks and failing lines are skipped', () => {
    const file = '#1,2\n\n \u00a0\n 9,99999\n 5:udp,6\n 7,8\n';
    // " \u00a0" trims to the no-break space: atoi reads port 0, a valid one-port sequence to knockd.
    expect(firstOneTimeSequence(file, 'd')?.sequence).toEqual([{ port: 0, protocol: 'tcp' }]);
    expect(parseSequenceFile(file, 'f', 'server').problems.map((p) => p.line)).toContain(3);
  });

  it('no valid line: knockd stops loading the config', () => {
    const r = readKnockdConf('[ssh]\n one_time_sequences = /f\n', { oneTimeFile: () => '#1,2,3\n' });
    expect(r.error).toBe('no more sequences left in the one time sequences file for door ssh --> disabling the door');
    expect(readKnockdConf('[ssh]\n one_time_sequences = /f\n', { oneTimeFile: () => null }).error).toBe('/f: ');
  });
});

describe('the probe copy', () => {
  it('keeps every read of knockd where it was: padded private paths in pieces, and usesyslog commented out', () => {
    const pidLine = `  pidfile = /run/${'p'.repeat(4070)}`;
    const conf = `[options]\n  logfile = /var/log/knockd.log\n  usesyslog\n${pidLine}\n[ssh]\n  one_time_sequences = /etc/knockd/ssh\n  command = x\n`;
    const made = probeCopy(Buffer.from(conf).toString('latin1'), '/tmp/kp-abc', new Map([['/etc/knockd/ssh', ' 1,2,3\n']]));
    if ('reason' in made) throw new Error(made.reason);
    expect(made.copy).toContain('  logfile = /tmp/kp-abc//////l0\n');
    expect(made.copy).toContain('  #sesyslog\n');
    expect(made.copy).toContain(`${pidLine}\n`);
    expect(made.copy.length).toBe(conf.length);
    expect(knockdReads(Buffer.from(made.copy, 'latin1')).map((r) => r.raw.length)).toEqual(knockdReads(conf).map((r) => r.raw.length));
    expect([...made.files]).toEqual([['/tmp/kp-abc//o3', ' 1,2,3\n']]);
  });

  it('reports any difference between knockd and the model, with the user\'s paths', () => {
    const model = readKnockdConf('[options]\n logfile = /tmp/kp-x/log\n');
    const names = new Map([['/tmp/kp-x/log', '/var/log/knockd.log']]);
    expect(compareWithKnockd(model, { stdout: "config: new section: 'options'\nconfig: log file: /tmp/kp-x/log\nlistening on lo...\n", stderr: '' }, names)).toMatchObject({ kind: 'agrees', accepted: true });
    const differs = compareWithKnockd(model, { stdout: "config: new section: 'options'\n", stderr: 'config: line 2: syntax error\n' }, names);
    expect(differs).toEqual({
      kind: 'differs',
      differences: ['we read "config: log file: /var/log/knockd.log" where knockd read nothing more', 'knockd refuses the file ("config: line 2: syntax error"), but we read it as accepted'],
    });
  });
});

describe('host and user names', () => {
  it.each([
    ['-pi', /starts with "-"/],
    ['--', /starts with "-"/],
    ['a b', /contains U\+0020 \(space\)/],
    ['a\nb', /contains U\+000A \(line feed\)/],
    ['a\0b', /contains U\+0000 \(NUL\)/],
    ['a\u00a0b', /contains U\+00A0 \(no-break space\)/],
    ['', /is empty/],
  ])('%j is refused', (value, message) => expect(nameProblem(value)).toMatch(message));

  it.each(['pi', 'home.example.org', '192.0.2.1', '2001:db8::1', 'a-b'])('%j is a name', (value) => expect(nameProblem(value)).toBeUndefined());
});

describe("doctor's finding on the real knockd's reading", () => {
  const facts = (knockdProbe: ProbeResult): Facts => ({
    knockdConf: { path: '/etc/knockd.conf', text: '[ssh]\n  sequence = 1,2,3\n', mode: 0o600 },
    oneTimeFiles: new Map(),
    warnBelow: 10,
    knockdProbe,
  });
  const finding = (probe: ProbeResult) => diagnose(facts(probe)).find((f) => f.id === 'knockd.conf:knockd');

  it('cannot ask (not root, no knockd, no ip): a warning, not an error', () => {
    expect(finding({ kind: 'skipped', reason: 'knockd is not installed here' })).toMatchObject({ severity: 'warning', message: expect.stringMatching(/not asked .*: knockd is not installed here/) });
  });

  it('a difference is an error', () => {
    expect(finding({ kind: 'differs', differences: ['knockd read "x" where we read "y"'] })).toMatchObject({ severity: 'error', message: expect.stringMatching(/reads \/etc\/knockd\.conf differently from us: knockd read "x" where we read "y"/) });
  });

  it('agreement is ok', () => {
    expect(finding({ kind: 'agrees', accepted: true, doors: 1, knockdSays: '' })).toMatchObject({ severity: 'ok' });
  });
});
