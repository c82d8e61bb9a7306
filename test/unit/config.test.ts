import { describe, expect, it } from '@jest/globals';
import { parseConfig, reservedPorts, setConfigValue, settingsFor } from '../../src/core/config.js';

describe('settings files', () => {
  it('reads global keys and per-alias sections on the stick', () => {
    const { config, problems } = parseConfig(
      '# shared\nexclude = 8080, 9000-9002\n[home]\npanic_sequence = 47113,52981,60210\npanic_host = home.example.org\nssh_port = 2222\n',
      'k.conf',
      'stick',
    );
    expect(problems).toEqual([]);
    const home = settingsFor(config, 'home');
    expect(home.panicHost).toBe('home.example.org');
    expect(reservedPorts(home).sort()).toEqual([2222, 47113, 52981, 60210, 8080, 9000, 9001, 9002].sort());
    expect(reservedPorts(settingsFor(config, 'office')).sort()).toEqual([8080, 9000, 9001, 9002]);
  });

  it.each([
    ['an unknown key (a typo must not drop a panic port)', 'panic_sequense = 1,2,3\n', /1: unknown key "panic_sequense"/],
    ['a key set twice', 'exclude = 1\nexclude = 2\n', /2: exclude is set twice.*first on line 1/],
    ['a bad port list', 'exclude = 80,http\n', /1: exclude: "http" is not a port/],
    ['a bad panic sequence', 'panic_sequence = 4000 4001 4002\n', /1: panic_sequence: ports separated by spaces/],
    ['a too short panic sequence', 'panic_sequence = 4000,4001\n', /at least 3 ports/],
    ['a line without =', 'exclude\n', /1: expected "key = value"/],
    ['a hostile panic host', 'panic_host = $(reboot)\n', /panic_host must be a host name/],
  ])('refuses %s, naming the line', (_name, text, message) => {
    const { problems } = parseConfig(text, 'k.conf', 'stick');
    expect(problems.map((p) => `${p.line}: ${p.message}`).join('\n')).toMatch(message);
  });

  it('refuses sections in the server file', () => {
    expect(parseConfig('[home]\n', 's.conf', 'server').problems[0]?.message).toMatch(/only for the stick/);
  });

  it('sets a value in place, keeping comments, or adds it to its section', () => {
    const text = '# mine\nexclude = 1\n\n[home]\n# panic\npanic_sequence = 1,2,3\n\n[office]\nssh_port = 22\n';
    expect(setConfigValue(text, 'home', 'panic_sequence', '4,5,6')).toBe(text.replace('1,2,3', '4,5,6'));
    expect(setConfigValue(text, 'office', 'panic_sequence', '7,8,9')).toBe(`${text}panic_sequence = 7,8,9\n`);
    expect(setConfigValue(text, '', 'ssh_port', '2222')).toBe(text.replace('exclude = 1\n', 'exclude = 1\nssh_port = 2222\n'));
    expect(setConfigValue(text, 'lab', 'panic_host', 'x')).toBe(`${text}\n[lab]\npanic_host = x\n`);
    expect(setConfigValue('', '', 'exclude', '1')).toBe('exclude = 1\n');
    expect(() => setConfigValue('', '', 'exclude', '1\nevil = 2')).toThrow(/line break/);
  });
});
