// The real knockd 0.8 confirms our model of its reader (src/core/knockd-reader.ts) through the
// probe (src/core/knockd-probe.ts: knockd -D on a private copy, in a throwaway network namespace
// with only lo): the configs we write (server init, panic rotate) are read as we read them, every
// odd input reads the same to both (accepted or refused, with the same "config:" lines), the
// reproducers of issue 12 are flagged by our checks, and the probe touches no real file.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, tempDir } from '../helpers/cli.js';
import { probeKnockd, type ProbeResult } from '../../src/core/knockd-probe.js';
import { KNOCKD_READ_MAX, readKnockdConf } from '../../src/core/knockd-reader.js';
import { parseKnockdConf } from '../../src/core/knockd-conf.js';

jest.setTimeout(120_000);

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('knockstick-reader-lab-');
});
afterAll(async () => {
  // The probe deletes its namespace in every case; none of this process may be left.
  const left = await execa('ip', ['netns', 'list']);
  expect(String(left.stdout)).not.toMatch(new RegExp(`ksprobe-${process.pid}-`));
  await dir.cleanup();
});

const agreesAccepted = (r: ProbeResult): void => expect(r).toMatchObject({ kind: 'agrees', accepted: true });

describe('configs we write are read by the real knockd as we read them', () => {
  it.each([
    ['iptables', []],
    ['nftables', []],
    ['ufw', []],
    ['nftables', ['--inner', 'nas=192.168.1.5', '--inner', 'pi=192.168.1.6']],
    ['iptables', ['--inner', 'nas=192.168.1.5']],
  ])('server init --firewall %s %j, then panic rotate', async (firewall, extra) => {
    const out = join(dir.path, `init-${firewall}-${extra.length}`);
    const init = await knockstick(['server', 'init', '--yes', '--out', out, '--interface', 'lo', '--firewall', firewall, '--count', '5', ...extra]);
    expect(init.exitCode).toBe(0);
    const conf = join(out, 'knockd.conf');
    expect(parseKnockdConf(await readFile(conf, 'utf8'), conf).problems).toEqual([]);
    agreesAccepted(await probeKnockd(await readFile(conf)));

    const rotated = await knockstick(['panic', 'rotate', '--knockd-conf', conf, '--server-config', join(out, 'server.conf'), '--pidfile', "/run/it's $HOME #x.pid", '--no-reload']);
    expect(rotated.exitCode).toBe(0);
    agreesAccepted(await probeKnockd(await readFile(conf)));
    // doctor asks knockd too, and says so.
    const doctor = await knockstick(['doctor', '--knockd-conf', conf, '--server-config', join(out, 'server.conf'), '--offline']);
    expect(doctor.stdout).toMatch(/ok {7}the real knockd reads \S+knockd\.conf as we do \(\d door\(s\)\)/);
  });
});

describe('odd inputs read the same to knockd and to our model', () => {
  const door = (body: string): string => `[ssh]\n  sequence = 1,2,3\n${body}`;
  const command = (bytes: number): string => `  command = ${'a'.repeat(bytes - '  command = '.length - 1)}Z\n`;
  const pidHead = `  command = kill -TERM "$(cat '/run/`;
  const padded = `[panic]\n  sequence = 1,2,3\n${pidHead}${'a'.repeat(KNOCKD_READ_MAX - pidHead.length)}command = touch /tmp/x #')" 2>/dev/null || pkill -TERM -x knockd\n`;
  const cases: Array<[string, string, boolean]> = [
    ['a 4094-byte line', door(command(4094)), true],
    ['a 4095-byte line (its newline is a read of its own)', `${door(command(4095))}  bogus = 1\n`, false],
    ['a 4096-byte line (one byte is a line of its own)', door(command(4096)), false],
    ['the padded-pidfile reproducer (a second command)', padded, true],
    ['a BOM before [options]', '\ufeff[options]\n  logfile = /x\n', false],
    ['a BOM before a door', '\ufeff[ssh]\n  sequence = 1\n', false],
    ['a no-break space before [ssh]', '[options]\n  pidfile = /x\n\u00a0[ssh]\n  sequence = 1\n', false],
    ['a no-break space before a value', door('  command = \u00a0x\n'), true],
    ['usesyslog = yes', '[options]\n  usesyslog = yes\n', false],
    ['usesyslog, bare, any case', '[options]\n  UseSysLog\n[ssh]\n  sequence = 1\n', true],
    ['usesyslog in a door', door('  usesyslog\n'), true],
    ['tabs, vertical tabs, form feeds, CRLF', '\t[ssh]\t\r\n\v SEQUENCE\t=\t1,2,3 \r\n\f command\t= echo  hi\t\r\n', true],
    ['[Options] is a door', '[Options]\n  logfile = /x\n', false],
    ['[OPTIONS] as a door with a sequence', '[OPTIONS]\n  sequence = 1\n', true],
    ['an unknown option', '[options]\n  foo = 1\n', false],
    ['an unknown door key', door('  bogus = 1\n'), false],
    ['a line without "="', door('  sequence 1\n'), false],
    ['a directive before any section', '  logfile = /x\n', false],
    ['[]', '[]\n', false],
    ['[ ssh ] keeps its blanks', '[ ssh ]\n  sequence = 1\n', true],
    ['a door without a sequence', '[ssh]\n  command = x\n', false],
    ['tcpflags "syn, ack"', door('  tcpflags = syn, ack\n'), false],
    ['tcpflags "!ack,SYN,fin"', door('  tcpflags = !ack,SYN,fin\n'), true],
    ['ports "1 2 3"', '[ssh]\n  sequence = 1 2 3\n', true],
    ['ports "x,-1,1,,2"', '[ssh]\n  sequence = x,-1,1,,2\n', true],
    ['ports "1: udp ,2:TCP,3:udp:x"', '[ssh]\n  sequence = 1: udp ,2:TCP,3:udp:x\n', true],
    ['port 65536', '[ssh]\n  sequence = 1,65536\n', false],
    ['33 ports', `[ssh]\n  sequence = ${Array.from({ length: 33 }, (_, i) => i + 1).join(',')}\n`, false],
    ['32 ports', `[ssh]\n  sequence = ${Array.from({ length: 32 }, (_, i) => i + 1).join(',')}\n`, true],
    ['protocol icmp', '[ssh]\n  sequence = 1:icmp\n', false],
    ['a NUL byte in a command', door('  command = a\0; touch /tmp/x\n'), true],
    ['"#" inside a value, and comments', door('  # c\n#c\n  command = x # y\n'), true],
    ['every key in odd case', '[d]\n  Sequence = 1\n  Seq_Timeout = 7x\n  TIMEOUT = 8\n  Start_Command = a\n  COMMAND_6 = b\n  start_command_6 = c\n  Cmd_Timeout = -3\n  STOP_command = d\n  stop_command_6 = e\n  Target = 1.2.3.4\n', true],
    ['a section seen twice', '[a]\n  sequence = 1\n[a]\n  sequence = 2\n', true],
    ['a short logfile and pidfile', '[options]\n  logfile = /l\n  pidfile = /p\n[ssh]\n  sequence = 1\n', true],
  ];

  it.each(cases)('%s', async (_name, conf, accepted) => {
    const ours = readKnockdConf(conf, { interfaceFromCommandLine: true });
    expect(ours.error === null).toBe(accepted);
    const real = await probeKnockd(conf);
    expect(real).toMatchObject({ kind: 'agrees', accepted });
    // knockd's own words, from its stderr, are the model's.
    if (!accepted && real.kind === 'agrees') expect(real.knockdSays.split('; ')).toContain(ours.error);
  });

  it('our checks flag every reproducer, even those knockd accepts', () => {
    expect(parseKnockdConf(padded, 'k').problems.map((p) => p.message)).toEqual([expect.stringMatching(/at most 4095 bytes/), 'command is set twice in [panic] (knockd keeps the last one)']);
    expect(readKnockdConf(padded).doors[0]?.startCommand).toMatch(/^touch \/tmp\/x #/);
  });

  describe('one-time files', () => {
    const oneTime = async (name: string, content: string | null): Promise<string> => {
      const path = join(dir.path, name);
      if (content !== null) await writeFile(path, content, { mode: 0o600 });
      return `[ssh]\n  one_time_sequences = ${path}\n  command = x\n`;
    };

    it.each([
      ['a line over 4095 bytes: knockd loads its first piece (4 of 5 ports)', ` 1111,2222,3333,4444${' '.repeat(4100)},5555\n 6,7,8,9,10\n`, true],
      ['failing lines before a valid one', '#1,2\n\n 9,99999\n 5:udp,6\n', true],
      ['a no-break-space line (port 0 to knockd)', ' \u00a0\n 5,6\n', true],
      ['only used lines', '#1,2,3\n#4,5,6\n', false],
      ['no file at all', null, false],
    ])('%s', async (name, content, accepted) => {
      const conf = await oneTime(`ots-${name.length}`, content);
      expect(await probeKnockd(conf)).toMatchObject({ kind: 'agrees', accepted });
    });
  });
});

describe('the probe touches nothing real', () => {
  it('leaves the logfile, the one-time file and the pidfile as they were, and no namespace behind', async () => {
    const real = join(dir.path, 'real');
    await mkdir(real);
    const log = join(real, 'knockd.log');
    const ots = join(real, 'ssh');
    const pid = join(real, 'knockd.pid');
    await writeFile(log, 'old log line\n');
    await writeFile(ots, ' 1,2,3\n 4,5,6\n', { mode: 0o600 });
    const before = { log: await stat(log), ots: await stat(ots) };
    const conf = `[options]\n  logfile = ${log}\n  pidfile = ${pid}\n  usesyslog\n[ssh]\n  one_time_sequences = ${ots}\n  command = touch ${join(real, 'RAN')}\n`;
    expect(await probeKnockd(conf)).toMatchObject({ kind: 'agrees', accepted: true });
    expect(await readFile(log, 'utf8')).toBe('old log line\n');
    expect((await stat(log)).mtimeMs).toBe(before.log.mtimeMs);
    expect(await readFile(ots, 'utf8')).toBe(' 1,2,3\n 4,5,6\n');
    expect((await stat(ots)).mtimeMs).toBe(before.ots.mtimeMs);
    expect(existsSync(pid)).toBe(false);
    expect(existsSync(join(real, 'RAN'))).toBe(false);
    expect(String((await execa('ip', ['netns', 'list'])).stdout)).not.toMatch(new RegExp(`ksprobe-${process.pid}-`));
  });
});
