// Hostile values against knockd's reader (issue 12, items 1-4, 6 and 8): every value that would
// make knockd read a line differently from us, or that a template cannot render, is refused with
// exit 2 (or 3/9 for a file that is already wrong), the message names the flag and the limit or the
// character, and every file stays byte for byte as it was.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { knockstick, runBin, tempDir } from '../helpers/cli.js';

let dir: { path: string; cleanup: () => Promise<void> };
let out: string;
beforeEach(async () => {
  dir = await tempDir();
  out = join(dir.path, 's');
  const init = await knockstick(['server', 'init', '--yes', '--out', out, '--interface', 'lo', '--firewall', 'iptables', '--count', '5']);
  expect(init.exitCode).toBe(0);
});
afterEach(async () => dir.cleanup());

/** Every file under the temp dir, path → bytes (latin1), to compare before and after. */
async function snapshot(root = dir.path): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path] = await readFile(path, 'latin1');
  }
  return files;
}

const conf = (): string => join(out, 'knockd.conf');
const rotate = (...extra: string[]) =>
  knockstick(['panic', 'rotate', '--knockd-conf', conf(), '--server-config', join(out, 'server.conf'), '--out', join(dir.path, 'panic'), '--host', '192.0.2.1', '--no-reload', ...extra]);
const doctor = () => knockstick(['doctor', '--knockd-conf', conf(), '--server-config', join(out, 'server.conf'), '--offline']);

/** A pidfile that ends exactly at byte 4095 of the panic command line, followed by a command of its own. */
async function paddedPidfile(): Promise<string> {
  const text = await readFile(conf(), 'utf8');
  const line = text.split('\n').find((l) => /^\s*command\s*=/.test(l) && l.includes('kill -TERM')) as string;
  const head = line.slice(0, line.indexOf("$(cat '") + "$(cat '".length);
  const pad = 4095 - Buffer.byteLength(head) - '/run/'.length;
  return `/run/${'a'.repeat(pad)}command = touch /tmp/x #`;
}

describe('knockd reads at most 4095 bytes of a line at once', () => {
  it('panic rotate refuses a --pidfile that would push the panic command past byte 4095, and writes nothing', async () => {
    const before = await snapshot();
    const result = await rotate('--pidfile', await paddedPidfile());
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--pidfile makes line \d+ of .*knockd\.conf \d{4} bytes long \(newline included\), but knockd reads at most 4095 bytes of a line at once/);
    expect(await snapshot()).toEqual(before);
  });

  it('panic stanza refuses it too', async () => {
    const result = await knockstick(['panic', 'stanza', '--sequence', '41001,41002,41003', '--pidfile', await paddedPidfile()]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--pidfile makes line \d+ of the stanza .* at most 4095 bytes/);
    expect(result.stdout).toBe('');
  });

  it('doctor calls the hand-written reproducer an error (the split line, and the second command)', async () => {
    const text = await readFile(conf(), 'utf8');
    const padded = await paddedPidfile();
    await writeFile(conf(), text.replace(/kill -TERM "\$\(cat '[^']*'\)"/, `kill -TERM "$(cat '${padded}')"`));
    const result = await doctor();
    expect(result.exitCode).toBe(9);
    expect(result.stdout).toMatch(/ERROR .*knockd\.conf:\d+: is 4\d{3} bytes long with its newline; knockd reads at most 4095 bytes of a line at once/);
    expect(result.stdout).toMatch(/command is set twice in \[panic\]/);
  });

  it('server init refuses a 4000-character --out path and creates nothing', async () => {
    const before = await snapshot();
    const long = join(dir.path, 'b'.repeat(4000 - dir.path.length));
    const result = await knockstick(['server', 'init', '--yes', '--out', long, '--interface', 'lo', '--firewall', 'iptables']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--out makes line \d+ of .*knockd\.conf \d{4} bytes long .* at most 4095 bytes/);
    expect(await snapshot()).toEqual(before);
  });

  describe('a one-time line of more than 4095 bytes', () => {
    const longLine = ` 1111,2222,3333,4444${' '.repeat(4100)},5555\n`;

    it('doctor names the file and line', async () => {
      const seq = join(out, 'ssh');
      await writeFile(seq, (await readFile(seq, 'utf8')) + longLine);
      const result = await doctor();
      expect(result.exitCode).toBe(9);
      expect(result.stdout).toMatch(new RegExp(`${seq}:6: is 4126 bytes long with its newline; knockd reads at most 4095 bytes`));
    });

    it('seqgen refuses to append to it (exit 3, file:line) and changes nothing', async () => {
      const server = join(dir.path, 'server-ssh');
      const stick = join(dir.path, 'stick');
      await mkdir(join(stick, '.ssh'), { recursive: true });
      await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 127.0.0.1\n', { mode: 0o600 });
      await writeFile(server, ` 1,2,3,4,5\n${longLine}`, { mode: 0o600 });
      await writeFile(join(stick, '.ssh', 'sequences'), ` 1,2,3,4,5\n${longLine}`, { mode: 0o600 });
      const before = await snapshot();
      const result = await knockstick(['seqgen', '3', '--server-file', server, '--stick', stick, '--server-config', join(out, 'server.conf')]);
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toMatch(new RegExp(`${server}:2: is 4126 bytes long`));
      expect(await snapshot()).toEqual(before);
    });

    it('callhome refuses the stick file before knocking (exit 3, file:line)', async () => {
      const stick = join(dir.path, 'stick');
      await mkdir(join(stick, '.ssh'), { recursive: true });
      await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 127.0.0.1\n  User me\n', { mode: 0o600 });
      await writeFile(join(stick, '.ssh', 'sequences'), ` 1,2,3,4,5\n${longLine} 6,7,8,9,10\n`, { mode: 0o600 });
      const before = await snapshot();
      const result = await runBin('callhome', ['--stick', stick, '--dry-run']);
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toMatch(/sequences:2: is 4126 bytes long/);
      expect(await snapshot()).toEqual(before);
    });
  });
});

describe('what doctor passed and knockd refused', () => {
  it.each([
    ['a UTF-8 BOM before [options]', (t: string) => `\ufeff${t}`, /knockd\.conf:1: starts with a UTF-8 byte-order mark, which knockd does not skip .*"config: line 1: all directives must belong to a section"/],
    ['a no-break space before [ssh]', (t: string) => t.replace('[ssh]', '\u00a0[ssh]'), /starts with a no-break space \(U\+00A0\), which knockd does not skip .*syntax error/],
    ['usesyslog = yes', (t: string) => t.replace('[options]\n', '[options]\n  usesyslog = yes\n'), /usesyslog takes no value: write the bare word "usesyslog"/],
  ])('%s: doctor says error, and panic rotate refuses it without writing or reloading', async (_name, breakIt, message) => {
    await writeFile(conf(), breakIt(await readFile(conf(), 'utf8')));
    const result = await doctor();
    expect(result.exitCode).toBe(9);
    expect(result.stdout).toMatch(message);
    const before = await snapshot();
    const rotated = await rotate();
    expect(rotated.exitCode).toBe(3);
    expect(rotated.stderr).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });

  it('the bare word usesyslog is fine', async () => {
    await writeFile(conf(), (await readFile(conf(), 'utf8')).replace('[options]\n', '[options]\n  usesyslog\n'));
    const result = await doctor();
    expect(result.stdout).toMatch(/ok {7}\S*knockd\.conf parses/);
  });
});

describe('values a template cannot render are refused, not a crash', () => {
  it.each(['/mnt/a$b', '/mnt/a#b', '/mnt/a`b`', '/mnt/a b', "/mnt/a'b"])('secureon --print-host-setup --mountpoint %j', async (mountpoint) => {
    const result = await knockstick(['secureon', '--print-host-setup', '--mountpoint', mountpoint, '--host-config', join(dir.path, 'none.conf')]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--mountpoint must be an absolute path of letters, digits and _ \. \/ : , = - \(no "\.\."\), got .* \(it has /);
    expect(result.stderr).not.toMatch(/unexpected error|at .*\.js:\d+/);
  });

  it.each([
    ['/run/a\nb', /--pidfile contains U\+000A \(line feed\)/],
    ['/run/a\rb', /--pidfile contains U\+000D \(carriage return\)/],
    ['/run/a\u0001b', /--pidfile contains U\+0001 \(a control character\)/],
    ['run/knockd.pid', /--pidfile must be an absolute path/],
  ])('panic rotate --pidfile %j is refused and nothing is written', async (pidfile, message) => {
    const before = await snapshot();
    const result = await rotate('--pidfile', pidfile);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/unexpected error/);
    expect(await snapshot()).toEqual(before);
  });

  it('a pidfile with $, a quote or # is quoted in the panic command, and the real reading agrees', async () => {
    const result = await rotate('--pidfile', "/run/it's $HOME #x.pid");
    expect(result.exitCode).toBe(0);
    expect(await readFile(conf(), 'utf8')).toContain(`kill -TERM "$(cat '/run/it'\\''s $HOME #x.pid')"`);
    expect((await doctor()).stdout).toMatch(/ok {7}\S*knockd\.conf parses/);
  });
});

describe('host and user names that start with "-" are refused everywhere', () => {
  it.each([
    [['panic', 'script', '--hostname=-pi', '--sequence', '41001,41002,41003'], /--hostname starts with "-"/],
    [['panic', 'send', '--hostname=-pi', '--sequence', '41001,41002,41003'], /--hostname starts with "-"/],
    [['panic', 'script', '--hostname=a b', '--sequence', '41001,41002,41003'], /--hostname contains U\+0020 \(space\)/],
    [['panic', 'script', '--host=-pi', '--sequence', '41001,41002,41003'], /--host must be an alias of the stick's ssh config/],
    [['usbsetup', '--hostname=--', '--into', '/nonexistent'], /--hostname starts with "-"/],
    [['usbsetup', '--hostname=-oProxyCommand=x', '--into', '/nonexistent'], /--hostname starts with "-"/],
    [['usbsetup', '--hostname', 'h', '--user=-x', '--into', '/nonexistent'], /--user starts with "-"/],
    [['server', 'init', '--yes', '--dry-run', '--interface=-x'], /--interface starts with "-"/],
    [['server', 'init', '--yes', '--dry-run', '--interface', 'lo', '--ddns-protocol', 'dyndns2', '--ddns-server=-s', '--ddns-login', 'l', '--ddns-hostname', 'h'], /--ddns-server starts with "-"/],
    [['server', 'init', '--yes', '--dry-run', '--interface', 'lo', '--ddns-protocol', 'dyndns2', '--ddns-server', 's', '--ddns-login', 'l', '--ddns-hostname=-h'], /--ddns-hostname starts with "-"/],
    [['server', 'init', '--yes', '--dry-run', '--method', 'spa', '--spa-server', '-x', '--interface', 'lo'], /--spa-server/],
    [['spa', 'keygen', '--rc-file', '/nonexistent/rc', '-n', 'home', '--server=-x'], /--server starts with "-"/],
    [['seqgen', '5', '--remote', '--host=-x'], /--host must be an alias of the stick's ssh config/],
    [['doctor', '--host=-x', '--stick', '/nonexistent'], /--host must be an alias/],
    [['panic', 'script', '-x'], /Unknown option '-x'/],
  ])('%j', async (args, message) => {
    const result = await knockstick(args);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/unexpected error/);
  });

  it.each([
    ['HostName', 'Host home\n  HostName -oProxyCommand=touch_x\n', /config:2: HostName "-oProxyCommand=touch_x" starts with "-"/],
    ['User', 'Host home\n  HostName 127.0.0.1\n  User -lroot\n', /config:3: User "-lroot" starts with "-"/],
  ])('a stick ssh config whose %s starts with "-" is refused before anything is knocked or written', async (_what, config, message) => {
    const stick = join(dir.path, 'stick');
    await mkdir(join(stick, '.ssh'), { recursive: true });
    await writeFile(join(stick, '.ssh', 'config'), config, { mode: 0o600 });
    await writeFile(join(stick, '.ssh', 'sequences'), ' 1,2,3,4,5\n 6,7,8,9,10\n 11,12,13,14,15\n', { mode: 0o600 });
    const before = await snapshot();
    const callhome = await runBin('callhome', ['--stick', stick, '--dry-run']);
    expect(callhome.exitCode).toBe(3);
    expect(callhome.stderr).toMatch(message);
    const panic = await knockstick(['panic', 'script', '--stick', stick, '--sequence', '41001,41002,41003', '--out', join(dir.path, 'panic')]);
    if (_what === 'HostName') {
      expect(panic.exitCode).toBe(3);
      expect(panic.stderr).toMatch(message);
    }
    expect(await snapshot()).toEqual(before);
  });
});
