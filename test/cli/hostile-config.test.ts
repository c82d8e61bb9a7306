// Hostile contents for every file callhome, seqgen, doctor, panic and secureon read: the stick's ssh
// config, knockstick.conf, sequence file and callhome record; the server settings, sequence file and
// knockd.conf; the computer's stick.conf; the SPA rc file. Whatever a file holds, the answer is a
// refusal with a code (naming the file), or the work done; never a stack trace, and a refusal
// changes nothing. For callhome that means: nothing knocked, nothing marked.
//
// The built CLI runs in-process (see ../helpers/hostile.ts), each case in a fresh copy of a sandbox
// where a stick and a server are in lockstep. Packets go only to 127.0.0.1; callhome runs with
// --knock-only, one attempt and a short door timeout.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/cli.js';
import { INTERNAL, knockCounter, loadCli, makeSandbox, run, snapshot, type Sandbox } from '../helpers/hostile.js';

loadCli();

let dir: Awaited<ReturnType<typeof tempDir>>;
/** The sandbox every case starts from (copied, never used directly). */
let template: Sandbox;
let cases = 0;

beforeAll(async () => {
  dir = await tempDir('knockstick-hostile-config-');
  template = await makeSandbox(join(dir.path, 'template'));
  await writeFile(join(template.stick, '.ssh', 'sequences.state'), `${JSON.stringify({ version: 1, confirmedLine: null, confirmedFingerprint: null, lastOpenedAt: null })}\n`);
  await writeFile(template.hostConfig, 'name = knockstick\nmountpoint = /mnt/knockstick-test\nowner = root\n');
  await cp(template.rcFile, join(template.stick, '.ssh', 'fwknoprc'));
});
afterAll(async () => dir?.cleanup());

/** A fresh copy of the template: the same layout under another root. */
async function freshSandbox(): Promise<Sandbox> {
  const root = join(dir.path, `case-${++cases}`);
  await cp(template.path, root, { recursive: true });
  const moved = (p: string): string => join(root, p.slice(template.path.length));
  const s = Object.fromEntries(Object.entries(template).map(([k, v]) => [k, moved(v as string)])) as unknown as Sandbox;
  // Paths inside files name the template: point them at the copy.
  await writeFile(s.knockdConf, (await readFile(s.knockdConf, 'utf8')).replaceAll(template.path, root));
  return s;
}

/** Commands that read the files, safe to run here (see the header). */
const COMMANDS = {
  callhomeDryRun: (s: Sandbox) => ['callhome', '--dry-run', `--stick=${s.stick}`],
  callhome: (s: Sandbox) => ['callhome', '--knock-only', '--attempts=1', '--door-timeout=50', '--door-window=0', '--wait=0', `--stick=${s.stick}`],
  callhomeSpa: (s: Sandbox) => ['callhome', '--dry-run', '--method=spa', `--stick=${s.stick}`],
  seqgen: (s: Sandbox) => ['seqgen', '2', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`, '--wait=0'],
  seqgenStatus: (s: Sandbox) => ['seqgen', 'status', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`, '--wait=0'],
  seqgenRepair: (s: Sandbox) => ['seqgen', 'repair', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`, '--wait=0'],
  doctor: (s: Sandbox) => ['doctor', '--offline', `--knockd-conf=${s.knockdConf}`, `--server-config=${s.serverConfig}`, `--stick=${s.stick}`, `--server-file=${s.serverFile}`],
  panicScript: (s: Sandbox) => ['panic', 'script', `--stick=${s.stick}`, `--server-config=${s.serverConfig}`, `--out=${join(s.path, 'panic')}`],
  panicStanza: (s: Sandbox) => ['panic', 'stanza', `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
  panicRotate: (s: Sandbox) => [
    'panic', 'rotate', '--no-reload', `--knockd-conf=${s.knockdConf}`, `--server-config=${s.serverConfig}`, `--pidfile=${join(s.path, 'knockd.pid')}`,
    `--out=${join(s.path, 'panic')}`, `--stick=${s.stick}`,
  ],
  secureonSetup: (s: Sandbox) => ['secureon', '--print-host-setup', `--host-config=${s.hostConfig}`],
  // No DEVICE: stops at "no DEVICE given" (or "needs root") before opening anything.
  secureon: (s: Sandbox) => ['secureon', `--host-config=${s.hostConfig}`],
  // Closes only /dev/mapper/NAME and what is mounted from it; no such mapping exists here.
  secureoff: (s: Sandbox) => ['secureoff', `--host-config=${s.hostConfig}`],
  spaSend: (s: Sandbox) => ['spa', 'send', '--dry-run', `--rc-file=${join(s.stick, '.ssh', 'fwknoprc')}`],
} as const;
type CommandName = keyof typeof COMMANDS;

interface HostileFile {
  readonly name: string;
  /**
   * Readers that refuse a line holding a control character or an invisible space, naming FILE:LINE
   * (the settings files we parse ourselves, and the ssh config callhome passes on). Others may not
   * read the file at all in this setup (panic script takes panic_host before the ssh config).
   */
  readonly refusesUnusableLines?: readonly CommandName[];
  readonly path: (s: Sandbox) => string;
  readonly readers: readonly CommandName[];
  /** Contents beyond the generic mutations of the valid file. */
  readonly extra: ReadonlyArray<[string, string]>;
}

const FILES: readonly HostileFile[] = [
  {
    name: "the stick's ssh config",
    refusesUnusableLines: ['callhomeDryRun', 'callhome', 'seqgen', 'doctor'],
    path: (s) => join(s.stick, '.ssh', 'config'),
    readers: ['callhomeDryRun', 'callhome', 'seqgen', 'doctor', 'panicScript'],
    extra: [
      ['HostName that is an option', 'Host home\n  HostName -oProxyCommand=touch_x\n'],
      ['HostName with a space', 'Host home\n  HostName "a b"\n'],
      ['HostName with a % token', 'Host home\n  HostName %h.example.org\n'],
      ['User that is an option', 'Host home\n  HostName 127.0.0.1\n  User -oProxyCommand=x\n'],
      ['User with a $', 'Host home\n  HostName 127.0.0.1\n  User a$b\n'],
      ['ProxyJump that is an option', 'Host home\n  HostName 127.0.0.1\n  ProxyJump -oProxyCommand=x\n'],
      ['HostKeyAlias with a space', 'Host home\n  HostName 127.0.0.1\n  HostKeyAlias "a b"\n'],
      ['Port 0', 'Host home\n  HostName 127.0.0.1\n  Port 0\n'],
      ['Port 65536', 'Host home\n  HostName 127.0.0.1\n  Port 65536\n'],
      ['Port -1', 'Host home\n  HostName 127.0.0.1\n  Port -1\n'],
      ['Port 0x10', 'Host home\n  HostName 127.0.0.1\n  Port 0x10\n'],
      ['Port 1e309', 'Host home\n  HostName 127.0.0.1\n  Port 1e309\n'],
      ['no HostName', 'Host home\n  Port 40022\n'],
      ['an empty HostName', 'Host home\n  HostName\n'],
      ['an unterminated quote', 'Host home\n  HostName "127.0.0.1\n'],
      ['Match exec', 'Match exec "touch x"\n  HostName 127.0.0.1\n'],
      ['Include of a missing file', 'Include /nonexistent/knockstick/x\nHost home\n  HostName 127.0.0.1\n'],
    ],
  },
  {
    name: "the stick's knockstick.conf",
    refusesUnusableLines: ['callhomeDryRun', 'callhome', 'seqgen', 'panicScript', 'panicStanza'],
    path: (s) => join(s.stick, '.ssh', 'knockstick.conf'),
    readers: ['callhomeDryRun', 'callhome', 'seqgen', 'panicScript', 'panicStanza'],
    extra: [
      ['ssh_port 1e309', 'ssh_port = 1e309\n'],
      ['ssh_port -1', 'ssh_port = -1\n'],
      ['every port excluded', 'exclude = 1-65535\n'],
      ['exclude 0x10', 'exclude = 0x10\n'],
      ['an empty exclude item', 'exclude = 22,,23\n'],
      ['a panic sequence of one port three times', '[home]\npanic_sequence = 7001,7001,7001\n'],
      ['a panic sequence of 33 ports', `[home]\npanic_sequence = ${Array.from({ length: 33 }, (_, i) => 7001 + i).join(',')}\n`],
      ['panic_host that is an option', '[home]\npanic_host = -x\n'],
      ['method in capitals', '[home]\nmethod = SPA\n'],
      ['a section twice', '[home]\n[home]\n'],
      ['a section name with a space', '[ho me]\n'],
      ['a key without a value', 'ssh_port =\n'],
    ],
  },
  {
    name: "the stick's sequence file",
    path: (s) => join(s.stick, '.ssh', 'sequences'),
    readers: ['callhomeDryRun', 'callhome', 'seqgenStatus', 'seqgen', 'seqgenRepair', 'doctor'],
    extra: [
      ['port 0', ' 0,7002,7003\n 7004,7005,7006\n'],
      ['port 65536', ' 65536,7002,7003\n 7004,7005,7006\n'],
      ['words for ports', ' a,b,c\n 7004,7005,7006\n'],
      ['spaces for commas', ' 7001 7002 7003\n 7004 7005 7006\n'],
      ['33 ports', `${` ${Array.from({ length: 33 }, (_, i) => 7001 + i).join(',')}\n`.repeat(3)}`],
      ['lines of two lengths', ' 7001,7002,7003\n 7004,7005\n'],
      ['only used lines', '#7001,7002,7003\n#7004,7005,7006\n'],
      ['one unused line', ' 7001,7002,7003\n'],
      ['a 5000-byte line', ` 7001,7002,7003${' '.repeat(5000)},7004\n 7005,7006,7007,7008\n`],
      ['udp in capitals', ' 7001:UDP,7002,7003\n 7004,7005,7006\n'],
      ['a negative port', ' -7001,7002,7003\n 7004,7005,7006\n'],
    ],
  },
  {
    name: "callhome's record on the stick",
    path: (s) => join(s.stick, '.ssh', 'sequences.state'),
    readers: ['callhomeDryRun', 'callhome'],
    extra: [
      ['null', 'null\n'],
      ['an array', '[]\n'],
      ['a string', '"x"\n'],
      ['a negative line', '{"version":1,"confirmedLine":-5,"confirmedFingerprint":"x","lastOpenedAt":null}\n'],
      ['a line of 1e308', '{"version":1,"confirmedLine":1e308,"confirmedFingerprint":null,"lastOpenedAt":null}\n'],
      ['a line that is a string', '{"version":1,"confirmedLine":"1","confirmedFingerprint":1,"lastOpenedAt":"now"}\n'],
      ['an opening far in the future', `{"version":1,"confirmedLine":null,"confirmedFingerprint":null,"lastOpenedAt":${Date.now() + 1e12}}\n`],
      ['an opening just now', `{"version":1,"confirmedLine":null,"confirmedFingerprint":null,"lastOpenedAt":${Date.now()}}\n`],
      ['version 2', '{"version":2}\n'],
      ['a truncated object', '{"version":1,"confirmedLine":'],
      ['__proto__', '{"version":1,"__proto__":{"confirmedLine":1}}\n'],
    ],
  },
  {
    name: 'the server settings',
    refusesUnusableLines: ['seqgen', 'doctor', 'panicStanza', 'panicRotate'],
    path: (s) => s.serverConfig,
    readers: ['seqgen', 'seqgenStatus', 'doctor', 'panicStanza', 'panicRotate'],
    extra: [
      ['every port excluded', 'exclude = 1024-65535\n'],
      ['a relative knockd_conf', 'knockd_conf = etc/knockd.conf\n'],
      ['a pidfile with a space', 'pidfile = /run/knockd pid\n'],
      ['firewall ufw', 'firewall = ufw\n'],
      ['ssh_port 65536', 'ssh_port = 65536\n'],
      ['a section', '[home]\nssh_port = 22\n'],
      ['an unknown key', 'sshport = 22\n'],
      ['a key twice', 'ssh_port = 22\nssh_port = 23\n'],
    ],
  },
  {
    name: 'the server sequence file',
    path: (s) => s.serverFile,
    readers: ['seqgenStatus', 'seqgen', 'seqgenRepair', 'doctor', 'panicRotate'],
    extra: [
      ['a line without the leading space', '7001,7002,7003\n 7004,7005,7006\n'],
      ['an invalid line before a valid one', ' 7001,x,7003\n 7004,7005,7006\n'],
      ['a torn last line', ' 7001,7002,7003\n 7004,70'],
      ['only used lines', '#7001,7002,7003\n#7004,7005,7006\n'],
      ['a 5000-byte line', ` 7001,7002,7003${' '.repeat(5000)},7004\n 7005,7006,7007,7008\n`],
    ],
  },
  {
    // What knockd makes of a knockd.conf is the knockd reader helper's part of issue 12; here only:
    // no crash, and a refusal changes nothing.
    name: 'knockd.conf',
    path: (s) => s.knockdConf,
    readers: ['doctor', 'panicRotate'],
    extra: [
      ['a directive before any section', 'pidfile = /run/knockd.pid\n[ssh]\n'],
      ['an empty section name', '[]\n'],
      ['an unclosed section', '[ssh\n'],
      ['a key without a value', '[ssh]\n  one_time_sequences =\n'],
      ['one_time_sequences naming a directory', '[ssh]\n  one_time_sequences = /\n  start_command = /bin/true\n'],
      ['a sequence of words', '[ssh]\n  sequence = a,b,c\n  command = /bin/true\n'],
    ],
  },
  {
    name: "the computer's stick.conf",
    refusesUnusableLines: ['secureonSetup', 'secureon', 'secureoff'],
    path: (s) => s.hostConfig,
    readers: ['secureonSetup', 'secureon', 'secureoff'],
    extra: [
      ['an owner uid beyond 2^32', 'owner = 99999999999999999999\n'],
      ['a relative mountpoint', 'mountpoint = mnt\n'],
      ['a mountpoint with ..', 'mountpoint = /mnt/../etc\n'],
      ['a mapper name with a slash', 'name = a/b\n'],
      ['a LUKS UUID that is not one', 'luks_uuid = x\n'],
      ['an unknown key', 'device = /dev/sda\n'],
    ],
  },
  {
    name: "the stick's SPA rc file",
    path: (s) => join(s.stick, '.ssh', 'fwknoprc'),
    readers: ['callhomeSpa', 'spaSend'],
    extra: [
      ['a key that is not base64', '[default]\nSPA_SERVER 127.0.0.1\nKEY_BASE64 !!!\nHMAC_KEY_BASE64 !!!\n'],
      ['no keys', '[default]\nSPA_SERVER 127.0.0.1\n'],
      ['a port of 1e309', '[default]\nSPA_SERVER 127.0.0.1\nSPA_SERVER_PORT 1e309\n'],
      ['a stanza without a name', '[]\n'],
    ],
  },
];

/** Whole-file mutations of a valid text. */
function fileMutations(valid: string): Array<[string, string]> {
  return [
    ['an empty file', ''],
    ['a lone line break', '\n'],
    ['a BOM before the first line', `\uFEFF${valid}`],
    ['bytes that are not UTF-8', '\u00ff\u00fe\u0000\u0001garbage\u00c3\u0028\n'],
    ['CRLF line ends', valid.replaceAll('\n', '\r\n')],
    ['10000 blank lines first', `${'\n'.repeat(10_000)}${valid}`],
  ];
}

/** What each line in turn gets; the first four are characters a settings file must refuse. */
const LINE_MUTATIONS: ReadonlyArray<[string, (line: string) => string]> = [
  ['a NUL byte', (l) => `${l.slice(0, Math.max(1, l.length - 1))}\u0000${l.slice(Math.max(1, l.length - 1))}`],
  ['a carriage return inside', (l) => `${l.slice(0, Math.max(1, l.length - 1))}\r${l.slice(Math.max(1, l.length - 1))}`],
  ['an escape sequence', (l) => `${l}\u001b[2J`],
  ['a non-breaking space', (l) => (l.includes(' ') ? l.replace(/ /, '\u00a0') : `\u00a0${l}`)],
  ['5000 bytes more', (l) => `${l}${'x'.repeat(5000)}`],
];
const UNUSABLE_MUTATIONS = new Set(LINE_MUTATIONS.slice(0, 4).map(([name]) => name));

/** `valid` with each non-blank line in turn mutated: [line number, text]. */
function lineMutations(valid: string, mutate: (line: string) => string): Array<[number, string]> {
  const lines = valid.split('\n');
  return lines.flatMap((line, i): Array<[number, string]> =>
    line.trim() === '' ? [] : [[i + 1, lines.map((l, j) => (j === i ? mutate(l) : l)).join('\n')]],
  );
}

const STACK_LINE = /^ {4}at /m;

for (const file of FILES) {
  describe(`${file.name}: hostile contents end in a refusal or in work done, never in a crash`, () => {
    let valid: string;
    beforeAll(async () => {
      valid = await readFile(file.path(template), 'utf8').catch(() => '');
    });
    // A sandbox is reused while runs leave it as they found it (the file under test put back after
    // each), and copied afresh from the template after a run that changed something.
    let current: Sandbox | undefined;
    const sandbox = async (): Promise<Sandbox> => (current ??= await freshSandbox());
    const settle = async (s: Sandbox, changed: boolean): Promise<void> => {
      if (changed) {
        current = undefined;
        await rm(s.path, { recursive: true, force: true });
        return;
      }
      await rm(file.path(s), { recursive: true, force: true });
      await writeFile(file.path(s), valid.replaceAll(template.path, s.path));
    };
    afterAll(async () => {
      if (current !== undefined) await rm(current.path, { recursive: true, force: true });
    });
    // One test per content and reader, each in fresh sandboxes: a case stays far from jest's timeout.
    const cases: Array<{ label: string; texts: () => Array<{ what: string; line?: number; text: string | null }> }> = [
      ...fileMutations('').map(([label]) => ({ label, texts: () => [{ what: label, text: (fileMutations(valid).find(([l]) => l === label) as [string, string])[1] }] })),
      ...LINE_MUTATIONS.map(([name, mutate]) => ({
        label: `each line in turn with ${name}`,
        texts: () => lineMutations(valid, mutate).map(([line, text]) => ({ what: `line ${line} with ${name}`, line, text })),
      })),
      { label: 'a directory in its place', texts: () => [{ what: 'a directory in its place', text: null }] },
      ...file.extra.map(([label, text]) => ({ label, texts: () => [{ what: label, text }] })),
    ];
    for (const { label, texts } of cases) {
      for (const reader of file.readers) {
        it(`${label}: ${reader}`, async () => {
          for (const { what, line, text } of texts()) {
            const s = await sandbox();
            const path = file.path(s);
            if (text === null) {
              await rm(path, { force: true });
              await mkdir(path);
            } else await writeFile(path, text.replaceAll(template.path, s.path)); // paths inside (knockd.conf) name this copy
            const before = await snapshot(s.path);
            const result = await run(COMMANDS[reader](s), s.path);
            const report = `${what}, ${reader}: exit ${result.exitCode}\n${result.stderr}`;
            expect({ report, internal: result.exitCode === INTERNAL }).toEqual({ report, internal: false });
            expect(result.stderr).not.toMatch(/unexpected error/);
            expect(result.stderr).not.toMatch(STACK_LINE);
            // `seqgen repair` heals a torn server line by appending (issue 12's drift rule) even when
            // the sides then stay out of step: that append is work done, and it says so.
            const partialRepair = reader === 'seqgenRepair' && what === 'a torn last line' && /done so far: neutralised the torn/.test(result.stderr);
            if (result.exitCode !== 0 && !partialRepair) {
              expect({ report, files: await snapshot(s.path) }).toEqual({ report, files: before });
              expect(`${result.stderr}${result.stdout}`.trim()).not.toBe('');
            }
            // An invalid file is named in the refusal.
            if (result.exitCode === 3) expect(`${report}${result.stdout}`).toContain(path);
            const kind = what.replace(/^line \d+ with /, '');
            if (line !== undefined && UNUSABLE_MUTATIONS.has(kind) && file.refusesUnusableLines?.includes(reader) === true) {
              expect({ report, refused: result.exitCode !== 0 }).toEqual({ report, refused: true });
              expect(`${report}${result.stdout}`).toContain(`${path}:${line}: holds`);
            }
            const after = await snapshot(s.path);
            await settle(s, [...after].some(([entry, state]) => before.get(entry) !== state) || after.size !== before.size);
          }
        });
      }
    }
  });
}

describe('a stick config that ssh cannot use is refused before the first knock', () => {
  it.each([
    ['a NUL byte in HostName', 'Host home\n  HostName 127.0.0.1\u0000x\n  Port 40022\n', /config:2: holds a NUL byte U\+0000/],
    ['a HostName that is an option', 'Host home\n  HostName -oProxyCommand=x\n  Port 40022\n', /config:2: HostName "-oProxyCommand=x" starts with "-"/],
    ['a User with a line break inside (a lone CR)', 'Host home\n  HostName 127.0.0.1\n  User a\rb\n  Port 40022\n', /config:3: holds a carriage return U\+000D/],
  ])('%s: exit 3 with file:line, no knock sent, nothing marked', async (_what, config, message) => {
    const s = await freshSandbox();
    const sequences = await readFile(join(s.stick, '.ssh', 'sequences'), 'utf8');
    const counter = await knockCounter(sequences);
    try {
      // The valid config knocks (so the counter does see knocks): the control.
      const control = await run(COMMANDS.callhome(s), s.path);
      expect(control.exitCode).toBe(7);
      expect(counter.knocks()).toBeGreaterThan(0);
      const knocksBefore = counter.knocks();

      await writeFile(join(s.stick, '.ssh', 'config'), config);
      const before = await snapshot(s.path);
      const result = await run(COMMANDS.callhome(s), s.path);
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/nothing was knocked or marked/);
      expect(counter.knocks()).toBe(knocksBefore);
      expect(await snapshot(s.path)).toEqual(before);
    } finally {
      await counter.close();
      await rm(s.path, { recursive: true, force: true });
    }
  });
});
