// What the parsers of our settings files and of the stick's ssh config refuse, and where they say
// it is: characters a reader downstream would not read as written, and values ssh or a tool on the
// way would take for an option.

import { describe, expect, it } from '@jest/globals';
import { unusableCharacterProblems } from '../../src/core/characters.js';
import { parseConfig } from '../../src/core/config.js';
import { InvalidFileError } from '../../src/core/errors.js';
import { parseHostConfig } from '../../src/core/host-config.js';
import { hostConfigFrom } from '../../src/core/ssh-config.js';

function problemsOf(fn: () => unknown): Array<{ line: number; message: string }> {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidFileError) return error.problems.map(({ line, message }) => ({ line, message }));
    throw error;
  }
  return [];
}

describe('unusable characters', () => {
  it.each([
    ['a NUL byte', 'a\u0000b', 'a NUL byte U+0000'],
    ['a carriage return inside a line', 'a\rb', 'a carriage return U+000D'],
    ['an escape character', 'a\u001b[2Jb', 'an escape character U+001B'],
    ['a BOM', '\uFEFFa', 'a byte-order mark (BOM) U+FEFF'],
    ['a non-breaking space', 'a\u00a0b', 'a non-breaking space U+00A0'],
    ['a line separator', 'a\u2028b', 'the character U+2028'],
  ])('%s is named with its line', (_what, bad, name) => {
    expect(unusableCharacterProblems(`ok\n${bad}\nok\n`, 'f', 'ssh')).toEqual([{ file: 'f', line: 2, message: `holds ${name}, which ssh cannot read as written` }]);
  });

  it('allows tabs, CRLF line ends, and any space in a comment', () => {
    expect(unusableCharacterProblems('a\tb\r\n# note\u00a0with\u2009spaces\r\n', 'f', 'ssh')).toEqual([]);
  });

  it('still refuses a control character in a comment', () => {
    expect(unusableCharacterProblems('# a\u0000b\n', 'f', 'ssh')).toHaveLength(1);
  });
});

describe("the stick's ssh config refuses what ssh could not use, before callhome knocks", () => {
  it('a NUL byte in HostName: the line, the character, and a hint that nothing was spent', () => {
    try {
      hostConfigFrom('Host home\n  HostName 198.51.100.1\u0000x\n', '/stick/.ssh/config', 'home');
      throw new Error('not refused');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidFileError);
      expect((error as InvalidFileError).message).toBe('/stick/.ssh/config:2: holds a NUL byte U+0000, which ssh cannot read as written');
      expect((error as InvalidFileError).hint).toMatch(/nothing was knocked or marked/);
      expect((error as InvalidFileError).exitCode).toBe(3);
    }
  });

  it.each([
    ['HostName', 'Host home\n  HostName -oProxyCommand=x\n', 2, /HostName "-oProxyCommand=x" starts with "-"/],
    ['HostName with a space', 'Host home\n  HostName "a b"\n', 2, /HostName "a b" is not a host name/],
    ['User', 'Host home\n  HostName h\n  User -l\n', 3, /User "-l" starts with "-"/],
    ['User with a $', 'Host home\n  HostName h\n  User=a$b\n', 3, /User "a\$b" is not a user name/],
    ['HostKeyAlias', 'Host home\n  HostName h\n  Port 2222\n  HostKeyAlias -x\n', 4, /HostKeyAlias "-x" starts with "-"/],
    ['ProxyJump', 'Host home\n  HostName h\n  ProxyJump jump,-x\n', 3, /ProxyJump "jump,-x" has a hop that starts with "-"/],
    ['Port', 'Host home\n  HostName h\n  Port 0x10\n', 3, /Port "0x10" for "home" is not a port number/],
  ])('%s: refused with its line', (_what, text, line, message) => {
    const problems = problemsOf(() => hostConfigFrom(text, 'cfg', 'home'));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.line).toBe(line);
    expect(problems[0]?.message).toMatch(message);
  });

  it('reports every bad value at once', () => {
    expect(problemsOf(() => hostConfigFrom('Host home\n  HostName -x\n  User -y\n  Port 0\n', 'cfg', 'home')).map((p) => p.line)).toEqual([2, 3, 4]);
  });

  it('takes what usbsetup writes, user@domain users, IPv6 and CRLF files', () => {
    expect(hostConfigFrom('Host home\r\n  HostName 2001:db8::1\r\n  User alice@example.org\r\n  Port 2222\r\n', 'cfg', 'home')).toMatchObject({ hostName: '2001:db8::1', user: 'alice@example.org', port: 2222 });
  });

  it('judges only the alias asked for: another host with a proxy command is its own business', () => {
    expect(hostConfigFrom('Host other\n  ProxyCommand ssh -W %h:%p jump\nHost home\n  HostName h\n', 'cfg', 'home').hostName).toBe('h');
  });
});

describe('settings files refuse unusable characters line by line', () => {
  it('knockstick.conf: a NUL in panic_host, a BOM on line 1', () => {
    const { problems } = parseConfig('\uFEFFssh_port = 22\n[home]\npanic_host = a\u0000b\n', 'k.conf', 'stick');
    expect(problems.map((p) => [p.line, p.message])).toEqual([
      [1, 'holds a byte-order mark (BOM) U+FEFF, which knockstick cannot read as written'],
      [3, 'holds a NUL byte U+0000, which knockstick cannot read as written'],
    ]);
  });

  it('server.conf: a pidfile with an escape sequence', () => {
    expect(parseConfig('pidfile = /run/knockd.pid\u001b[2J\n', 's.conf', 'server').problems.map((p) => p.line)).toEqual([1]);
  });

  it('panic_host may not start with "-"', () => {
    expect(parseConfig('[home]\npanic_host = -pi\n', 'k.conf', 'stick').problems[0]?.message).toMatch(/not starting with "-"/);
  });

  it("the computer's stick.conf: a NUL in the mountpoint", () => {
    expect(parseHostConfig('mountpoint = /mnt/a\u0000b\n', 'stick.conf').problems.map((p) => p.line)).toEqual([1]);
  });
});
