import { describe, expect, it } from '@jest/globals';
import { configPathToFile, planRelocation, stickPathLines, stickRootOf, stickRootProblem } from '../../src/core/stick-ssh-config.js';

describe("the stick's path lines", () => {
  it('name the launcher, key and known_hosts by absolute path, the ProxyCommand shell-quoted', () => {
    expect(stickPathLines('/mnt/secure')).toEqual({
      ProxyCommand: "'/mnt/secure/knockstick' connect %n %h %p",
      IdentityFile: '"/mnt/secure/.ssh/id_ed25519"',
      UserKnownHostsFile: '"/mnt/secure/.ssh/known_hosts"',
    });
  });
  it('a trailing slash or a doubled one makes no difference', () => {
    expect(stickPathLines('/mnt/secure/')).toEqual(stickPathLines('/mnt/secure'));
    expect(stickPathLines('/mnt//secure')).toEqual(stickPathLines('/mnt/secure'));
  });
  it('a stick at / still names /knockstick', () => {
    expect(stickPathLines('/').ProxyCommand).toBe("'/knockstick' connect %n %h %p");
  });
  it('spaces stay inside the quotes', () => {
    expect(stickPathLines('/media/alice/My Stick')).toEqual({
      ProxyCommand: "'/media/alice/My Stick/knockstick' connect %n %h %p",
      IdentityFile: '"/media/alice/My Stick/.ssh/id_ed25519"',
      UserKnownHostsFile: '"/media/alice/My Stick/.ssh/known_hosts"',
    });
  });
  it('a single quote is closed, escaped and reopened for the shell; inside double quotes it is plain', () => {
    const lines = stickPathLines("/media/bob's stick");
    expect(lines.ProxyCommand).toBe("'/media/bob'\\''s stick/knockstick' connect %n %h %p");
    expect(lines.IdentityFile).toBe('"/media/bob\'s stick/.ssh/id_ed25519"');
  });
  it('a % is doubled everywhere (ssh expands %-tokens in all three)', () => {
    const lines = stickPathLines('/mnt/100%');
    expect(lines.ProxyCommand).toBe("'/mnt/100%%/knockstick' connect %n %h %p");
    expect(lines.IdentityFile).toBe('"/mnt/100%%/.ssh/id_ed25519"');
    expect(lines.UserKnownHostsFile).toBe('"/mnt/100%%/.ssh/known_hosts"');
  });
  it('a $ (not followed by {) is written as it is: single quotes keep it from the shell', () => {
    const lines = stickPathLines('/mnt/$HOME x');
    expect(lines.ProxyCommand).toBe("'/mnt/$HOME x/knockstick' connect %n %h %p");
    expect(lines.IdentityFile).toBe('"/mnt/$HOME x/.ssh/id_ed25519"');
  });
  it.each([
    ['/mnt/a\nb', /a line break|U\+000A/],
    ['/mnt/a\rb', /carriage return/],
    ['/mnt/a\tb', /U\+0009/],
    ['/mnt/a\u00a0b', /non-breaking space/],
    ['/mnt/a\ufeffb', /byte-order mark/],
    ['/mnt/a"b', /double quote/],
    ['/mnt/a\\b', /backslash/],
    ['/mnt/a\\', /backslash/],
    ['/mnt/${HOME}', /environment variable/],
    ['relative/stick', /not an absolute path/],
  ])('refuses a stick at %j, saying why', (root, why) => {
    expect(stickRootProblem(root)).toMatch(why);
    expect(() => stickPathLines(root)).toThrow(/cannot write the stick's ssh config/);
  });
});

describe('reading back which stick a line names', () => {
  const roots = ['/mnt/secure', '/', '/media/alice/My Stick', "/media/bob's 'quoted' stick", '/mnt/100% sure', '/mnt/$x', '/mnt/#hash', "/mnt/'", "/mnt/''"];
  it.each(roots)('round-trips %j for all three keywords', (root) => {
    const lines = stickPathLines(root);
    for (const keyword of ['ProxyCommand', 'IdentityFile', 'UserKnownHostsFile'] as const) expect(stickRootOf(keyword, lines[keyword])).toBe(root);
  });
  it.each([
    ['ProxyCommand', 'nc %h %p'],
    ['ProxyCommand', "'/mnt/secure/knockstick' knock %h"],
    ['ProxyCommand', '/mnt/secure/knockstick connect %n %h %p'],
    ['ProxyCommand', "'/mnt/secure/other' connect %n %h %p"],
    ['ProxyCommand', "'/mnt/100%/knockstick' connect %n %h %p"],
    ['IdentityFile', '.ssh/id_ed25519'],
    ['IdentityFile', '~/.ssh/id_ed25519'],
    ['IdentityFile', '/mnt/secure/.ssh/id_ed25519'],
    ['IdentityFile', '"/mnt/secure/.ssh/other_key"'],
    ['IdentityFile', '"/mnt/100%/.ssh/id_ed25519"'],
    ['UserKnownHostsFile', '"/mnt/secure/.ssh/known_hosts" "/etc/ssh/ssh_known_hosts"'],
  ] as const)('%s %s is not a line knockstick wrote', (keyword, value) => {
    expect(stickRootOf(keyword, value)).toBeUndefined();
  });
  it("keeps arguments a user added to connect (only the launcher's word names the stick)", () => {
    expect(stickRootOf('ProxyCommand', "'/old/knockstick' connect %n %h %p --verbose")).toBe('/old');
  });
});

const written = (root: string, alias = 'home', eol = '\n'): string => {
  const p = stickPathLines(root);
  return [`Host ${alias}`, '  HostName 192.0.2.1', `  ProxyCommand ${p.ProxyCommand}`, `  IdentityFile ${p.IdentityFile}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${p.UserKnownHostsFile}`, ''].join(eol);
};

describe('relocation of the stick config', () => {
  it('rewrites the three lines of a stick prepared elsewhere, nothing else', () => {
    const plan = planRelocation(written('/tmp/knockstick-setup-x1'), '/mnt/secure');
    expect(plan.text).toBe(written('/mnt/secure'));
    expect(plan.changes.map((c) => [c.line, c.host, c.keyword, c.oldRoot])).toEqual([
      [3, 'home', 'ProxyCommand', '/tmp/knockstick-setup-x1'],
      [4, 'home', 'IdentityFile', '/tmp/knockstick-setup-x1'],
      [6, 'home', 'UserKnownHostsFile', '/tmp/knockstick-setup-x1'],
    ]);
  });
  it('changes nothing (same string) when the stick is where its config says', () => {
    const text = written('/mnt/secure');
    const plan = planRelocation(text, '/mnt/secure/');
    expect(plan.changes).toEqual([]);
    expect(plan.text).toBe(text);
  });
  it('relocates to an awkward new root and back, losslessly', () => {
    const there = planRelocation(written('/mnt/secure'), "/media/bob's 100% $tick").text;
    expect(there).toBe(written("/media/bob's 100% $tick"));
    expect(planRelocation(there, '/mnt/secure').text).toBe(written('/mnt/secure'));
  });
  it('keeps a user-edited entry: lines no longer in our form are theirs', () => {
    const text = [
      'Host home',
      '  HostName 192.0.2.1',
      '  ProxyCommand /usr/local/bin/my-knocker %h %p # my own',
      '  IdentityFile ~/.ssh/my_key',
      `  UserKnownHostsFile ${stickPathLines('/old').UserKnownHostsFile}`,
      '',
    ].join('\n');
    const plan = planRelocation(text, '/mnt/secure');
    expect(plan.changes.map((c) => c.keyword)).toEqual(['UserKnownHostsFile']);
    expect(plan.text).toBe(text.replace('"/old/.ssh/known_hosts"', '"/mnt/secure/.ssh/known_hosts"'));
  });
  it('never adds a ProxyCommand to a host that has none (the user wants plain ssh there), and keeps relative paths of older sticks', () => {
    const text = 'Host plain\n  HostName 192.0.2.9\n  IdentityFile .ssh/id_ed25519\n  UserKnownHostsFile .ssh/known_hosts\n';
    const plan = planRelocation(text, '/mnt/secure');
    expect(plan).toEqual({ text, changes: [] });
  });
  it('rewrites the paths of a host without ProxyCommand that still names the old stick, adding nothing', () => {
    const p = stickPathLines('/old');
    const text = `Host plain\n  HostName 192.0.2.9\n  IdentityFile ${p.IdentityFile}\n`;
    expect(planRelocation(text, '/new').text).toBe('Host plain\n  HostName 192.0.2.9\n  IdentityFile "/new/.ssh/id_ed25519"\n');
  });
  it('keeps comments, other hosts, global options, Include and Match blocks byte for byte', () => {
    const p = stickPathLines('/old');
    const text = [
      '# my notes: do not lose them   ',
      `IdentityFile ${p.IdentityFile}`, // global: the user's
      'Include ~/.ssh/extra.conf',
      '',
      written('/old', 'home').trimEnd(),
      '',
      '# second server',
      written('/old', 'work').trimEnd(),
      'Match host *.lan',
      `  IdentityFile ${p.IdentityFile}`,
      'Host other',
      '\tHostName 198.51.100.7',
      '',
    ].join('\n');
    const plan = planRelocation(text, '/new');
    expect(plan.changes.map((c) => `${c.host}:${c.keyword}`)).toEqual(['home:ProxyCommand', 'home:IdentityFile', 'home:UserKnownHostsFile', 'work:ProxyCommand', 'work:IdentityFile', 'work:UserKnownHostsFile']);
    const expected = text.replace(written('/old', 'home').trimEnd(), written('/new', 'home').trimEnd()).replace(written('/old', 'work').trimEnd(), written('/new', 'work').trimEnd());
    expect(plan.text).toBe(expected);
    expect(plan.text.split('\n').slice(0, 4)).toEqual(text.split('\n').slice(0, 4));
    expect(plan.text).toContain(`Match host *.lan\n  IdentityFile ${p.IdentityFile}\n`);
  });
  it('keeps CRLF line endings', () => {
    const plan = planRelocation(written('/old', 'home', '\r\n'), '/new');
    expect(plan.text).toBe(written('/new', 'home', '\r\n'));
    expect(plan.changes).toHaveLength(3);
  });
  it('keeps a byte-order mark, also when the first line is rewritten', () => {
    const p = stickPathLines('/old');
    const text = `\ufeff# written by hand\n${written('/old')}`;
    expect(planRelocation(text, '/new').text).toBe(`\ufeff# written by hand\n${written('/new')}`);
    // A BOM before "Host" on the first line: the line is still read (and kept).
    expect(planRelocation(`\ufeff${written('/old')}`, '/new').text).toBe(`\ufeff${written('/new')}`);
    expect(p.IdentityFile).toContain('/old/');
  });
  it('keeps indentation, the "=" separator and trailing blanks of a rewritten line', () => {
    const text = `Host home\n\tIdentityFile = "/old/.ssh/id_ed25519"  \n`;
    expect(planRelocation(text, '/new').text).toBe(`Host home\n\tIdentityFile = "/new/.ssh/id_ed25519"  \n`);
  });
  it('keeps what a user appended to the ProxyCommand after connect', () => {
    const text = `Host home\n  ProxyCommand '/old/knockstick' connect %n %h %p --verbose\n`;
    expect(planRelocation(text, '/new').text).toBe(`Host home\n  ProxyCommand '/new/knockstick' connect %n %h %p --verbose\n`);
  });
  it('refuses to relocate to a root it cannot write, before planning anything', () => {
    expect(() => planRelocation(written('/old'), '/mnt/a"b')).toThrow(/double quote/);
  });
  it('a config without a stick line, or empty, is returned as it is', () => {
    expect(planRelocation('', '/x')).toEqual({ text: '', changes: [] });
    expect(planRelocation('Host a\n  HostName b', '/x')).toEqual({ text: 'Host a\n  HostName b', changes: [] });
  });
});

describe('the file a config path names', () => {
  it('unquotes, unescapes %%, expands ~/ and resolves relative paths against the stick', () => {
    expect(configPathToFile('"/mnt/100%%/.ssh/id_ed25519"', '/s', '/home/a')).toBe('/mnt/100%/.ssh/id_ed25519');
    expect(configPathToFile('~/.ssh/k', '/s', '/home/a')).toBe('/home/a/.ssh/k');
    expect(configPathToFile('.ssh/id_ed25519', '/s', '/home/a')).toBe('/s/.ssh/id_ed25519');
  });
  it('gives up on tokens and ${VAR} only ssh can expand', () => {
    expect(configPathToFile('"/keys/%h"', '/s', '/h')).toBeUndefined();
    expect(configPathToFile('${HOME}/k', '/s', '/h')).toBeUndefined();
  });
});
