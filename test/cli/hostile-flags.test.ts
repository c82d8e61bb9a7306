// Hostile flag values for every command and subcommand: whatever a flag is given, the answer is a
// refusal with a code (or the work done), never a stack trace, and a refusal changes no file.
//
// The built CLI runs in-process through runCli (dist/cli.js), with its own cwd, env and streams:
// thousands of runs in a few seconds, where spawning node for each would take minutes. Everything
// a run can touch lives in one sandbox per command: paths in the values point into it, the cwd is
// two levels down in it (so ".." stays inside), and the flags that name system files (server
// settings, knockd.conf, the host config, the pidfile) always point into it too.
//
// Safety, since these tests run as root on a developer machine: usbsetup only ever gets --into (a
// sandbox directory), never a device; secureon never gets a DEVICE; server init always gets --out
// or --dry-run; panic rotate always gets --no-reload; callhome always --dry-run; packets go only to
// 127.0.0.1 (panic send's --host is not swept: a name would go to the DNS resolver); seqgen
// --remote is not swept (it knocks and runs ssh).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { appendFileSync, closeSync, constants as fsConstants, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { DIST_BIN, tempDir } from '../helpers/cli.js';
import { INTERNAL, fifoHasReader, knockCounter, loadCli, makeSandbox, run, snapshot, type Sandbox } from '../helpers/hostile.js';

loadCli();

/** The hostile values, named for the test titles. Paths point into the sandbox. */
function hostileValues(sandbox: string): Array<[string, string]> {
  return [
    ['empty', ''],
    ['4096 bytes', 'a'.repeat(4096)],
    ['a line break', 'a\nb'],
    ['a carriage return', 'a\rb'],
    ['a tab', 'a\tb'],
    ['a BOM', '\uFEFFa'],
    ['a non-breaking space', 'a\u00a0b'],
    ['$(touch x)', '$(touch x)'],
    ['a backtick', 'a`touch x`'],
    ['a single quote', "a'b"],
    ['a double quote', 'a"b'],
    ['#', 'a#b'],
    [';', 'a;b'],
    ['%', 'a%b'],
    ['a leading -', '-x'],
    ['..', '..'],
    ['an absolute path in a missing dir', join(sandbox, 'missing', 'dir', 'f')],
    ['a relative path in a missing dir', 'missing/dir/f'],
    ['an absolute path with $', join(sandbox, 'a$b')],
    ['an absolute path with #', join(sandbox, 'a#b')],
    ['an absolute path with a backtick', join(sandbox, 'a`b')],
    ['an absolute path with a space', join(sandbox, 'a b')],
    ['an absolute path with a line break', join(sandbox, 'a\nb')],
    ['a FIFO', join(sandbox, 'fifo')],
    ['a directory', join(sandbox, 'dir')],
    ['-1', '-1'],
    ['a huge number', '99999999999999999999999'],
    ['NaN', 'NaN'],
    ['1e309', '1e309'],
    ['0x10', '0x10'],
    ['0', '0'],
    ['a padded number', ' 5 '],
  ];
}

/** Cases the sweep leaves out on purpose, each with the reason in its title (it.todo keeps them listed). */
interface Skip {
  readonly why: string;
  readonly applies: (variant: string, flag: string, label: string) => boolean;
}
const NOT_SWEPT: readonly Skip[] = [
  {
    // A passphrase file may be a FIFO or a process substitution, `<(pass show stick)` (secrets.ts):
    // that keeps the secret off every disk, so it is read to its end, waiting for the writer by
    // design. Here no writer ever comes, and in-process that wait would hold one of libuv's
    // threadpool threads for the rest of the run.
    why: 'a passphrase file may be a FIFO: it waits for its writer by design',
    applies: (_v, flag, label) => label === 'a FIFO' && (flag === 'key-passphrase-file' || flag === 'passphrase-file'),
  },
];

/** Flags that name a file or directory the command reads or writes. */
const PATH_FLAGS = new Set([
  'stick', 'server-file', 'server-config', 'knockd-conf', 'pidfile', 'out', 'sshd-config', 'rc-file', 'save-packet',
  'key-passphrase-file', 'server-host-key', 'into', 'host-config', 'passphrase-file', 'ssh',
]);

interface Variant {
  /** The title, e.g. "panic rotate". */
  readonly name: string;
  /** The valid command line the hostile value goes into (as --flag=VALUE, replacing a --flag=... there). */
  readonly base: (s: Sandbox) => string[];
  readonly flags: readonly string[];
  /**
   * Put a stand-in ssh-keygen first in PATH: the real one spends about a second of bcrypt on each
   * new key (-a 100), which on a loaded machine takes a case near jest's timeout. usbsetup's key
   * step is tested for real in usbsetup.test.ts; here only the flags matter.
   */
  readonly fakeKeygen?: boolean;
}

const FAKE_KEYGEN = `#!/bin/sh
# Stand-in for the hostile flag sweep: writes a key pair named by -f, instantly.
while [ $# -gt 0 ]; do case "$1" in -f) key=$2; shift ;; esac; shift; done
umask 077
printf 'not a real key\n' > "$key"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN0YW5kLWluIGtleSBmb3IgdGhlIGhvc3RpbGUgc3dlZXA knockstick\n' > "$key.pub"
`;

const VARIANTS: readonly Variant[] = [
  {
    name: 'callhome --dry-run',
    base: (s) => ['callhome', '--dry-run', `--stick=${s.stick}`],
    flags: ['stick', 'method', 'attempts', 'door-timeout', 'gap', 'probe-interval', 'door-window', 'warn-below', 'wait', 'ssh'],
  },
  {
    name: 'seqgen COUNT',
    base: (s) => ['seqgen', '2', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
    flags: ['server-file', 'stick', 'host', 'length', 'ports', 'exclude', 'server-config', 'wait'],
  },
  {
    name: 'seqgen COUNT --dry-run',
    base: (s) => ['seqgen', '2', '--dry-run', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
    flags: ['server-file', 'stick', 'host', 'length', 'ports', 'exclude', 'server-config', 'wait'],
  },
  {
    name: 'seqgen status',
    base: (s) => ['seqgen', 'status', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
    flags: ['server-file', 'stick', 'host', 'server-config', 'wait', 'warn-below'],
  },
  {
    name: 'seqgen repair',
    base: (s) => ['seqgen', 'repair', `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
    flags: ['server-file', 'stick', 'host', 'server-config', 'wait'],
  },
  {
    name: 'doctor --offline',
    base: (s) => ['doctor', '--offline', `--knockd-conf=${s.knockdConf}`, `--server-config=${s.serverConfig}`, `--stick=${s.stick}`, `--server-file=${s.serverFile}`],
    flags: ['knockd-conf', 'server-config', 'stick', 'host', 'server-file', 'warn-below'],
  },
  {
    // Reads only: the pidfile, `ip addr show dev IFACE`, the rulesets, `sshd -T`.
    name: 'doctor',
    base: (s) => ['doctor', `--knockd-conf=${s.knockdConf}`, `--server-config=${s.serverConfig}`, `--pidfile=${join(s.path, 'knockd.pid')}`, '--interface=lo'],
    flags: ['pidfile', 'interface', 'sshd-config'],
  },
  {
    name: 'panic script',
    base: (s) => ['panic', 'script', '--host=127.0.0.1', '--sequence=47113,52981,60210', `--out=${join(s.path, 'panic')}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
    flags: ['host', 'sequence', 'out', 'stick', 'server-config'],
  },
  {
    name: 'panic send (to 127.0.0.1)',
    base: (s) => ['panic', 'send', '--host=127.0.0.1', '--sequence=47113,52981,60210', `--stick=${s.stick}`, `--server-config=${s.serverConfig}`],
    flags: ['sequence', 'stick', 'server-config'],
  },
  {
    name: 'panic rotate --no-reload',
    base: (s) => [
      'panic', 'rotate', '--no-reload', `--knockd-conf=${s.knockdConf}`, `--server-config=${s.serverConfig}`, `--pidfile=${join(s.path, 'knockd.pid')}`,
      `--out=${join(s.path, 'panic')}`, '--host=127.0.0.1', `--stick=${s.stick}`,
    ],
    flags: ['knockd-conf', 'server-config', 'pidfile', 'firewall', 'length', 'sequence', 'out', 'host', 'stick'],
  },
  {
    name: 'panic stanza',
    base: (s) => ['panic', 'stanza', '--sequence=47113,52981,60210', `--server-config=${s.serverConfig}`],
    flags: ['sequence', 'firewall', 'pidfile', 'server-config'],
  },
  {
    name: 'server init --dry-run',
    base: (s) => [
      'server', 'init', '--yes', '--dry-run', '--interface=lo', `--stick=${s.stick}`,
      '--ddns-protocol=dyndns2', '--ddns-server=ddns.example.org', '--ddns-login=me', '--ddns-hostname=home.example.org',
    ],
    flags: ['interface', 'out', 'firewall', 'ssh-port', 'seq-timeout', 'cmd-timeout', 'count', 'stick', 'inner', 'ddns-protocol', 'ddns-server', 'ddns-login', 'ddns-hostname', 'method', 'spa-server'],
  },
  {
    name: 'server init --out',
    base: (s) => ['server', 'init', '--yes', '--force', '--interface=lo', `--out=${join(s.path, 'out')}`, '--count=3'],
    flags: ['interface', 'firewall', 'ssh-port', 'seq-timeout', 'cmd-timeout', 'count', 'stick', 'inner', 'ddns-protocol'],
  },
  {
    name: 'server init --method spa --dry-run',
    base: (s) => ['server', 'init', '--yes', '--dry-run', '--method=spa', '--spa-server=127.0.0.1', '--interface=lo', `--stick=${s.stick}`],
    flags: ['spa-server', 'interface', 'out', 'firewall', 'ssh-port', 'cmd-timeout', 'stick'],
  },
  {
    name: 'spa send --dry-run',
    base: (s) => ['spa', 'send', '--dry-run', `--rc-file=${s.rcFile}`],
    flags: ['rc-file', 'named-config', 'time-offset', 'save-packet'],
  },
  {
    name: 'spa keygen --rc-file',
    base: (s) => ['spa', 'keygen', `--rc-file=${join(s.path, 'spa', 'keyrc')}`, '--named-config=new', '--server=127.0.0.1'],
    flags: ['rc-file', 'named-config', 'server', 'access', 'allow-ip'],
  },
  {
    name: 'spa decode',
    base: (s) => ['spa', 'decode', `--rc-file=${s.rcFile}`, s.packet],
    flags: ['rc-file', 'named-config'],
  },
  {
    // --force: in-process stdout is no terminal. Not --png: pngjs under jest's VM takes seconds an image.
    name: 'spa qr --force',
    base: (s) => ['spa', 'qr', `--rc-file=${s.rcFile}`, '--force'],
    flags: ['rc-file', 'named-config', 'access-conf'],
  },
  {
    name: 'usbsetup --into',
    fakeKeygen: true,
    base: (s) => [
      'usbsetup', '--yes', `--into=${s.into}`, '--hostname=127.0.0.1', '--user=alice', `--key-passphrase-file=${s.keyPass}`, '--sequences=3',
      `--server-file=${join(s.path, 'usb-server-seq')}`, `--host-config=${join(s.path, 'host', 'usb.conf')}`,
    ],
    flags: [
      'device', 'confirm-device', 'partition-mib', 'filesystem', 'luks-passphrase-file', 'key-passphrase-file', 'host', 'hostname', 'user', 'port',
      'dynamic-forward', 'server-host-key', 'sequences', 'server-file', 'method', 'owner', 'name', 'mountpoint', 'host-config', 'into',
    ],
  },
  {
    name: 'secureon --print-host-setup',
    base: (s) => ['secureon', '--print-host-setup', `--host-config=${s.hostConfig}`],
    flags: ['host-config', 'name', 'mountpoint', 'owner', 'passphrase-file'],
  },
  {
    // No DEVICE: it stops at "no DEVICE given" (or "needs root") before opening anything.
    name: 'secureon',
    base: (s) => ['secureon', `--host-config=${s.hostConfig}`],
    flags: ['host-config', 'name', 'mountpoint', 'owner', 'passphrase-file'],
  },
  {
    // Closes only /dev/mapper/NAME and what is mounted from it; no such mapping exists here.
    name: 'secureoff',
    base: (s) => ['secureoff', `--host-config=${s.hostConfig}`],
    flags: ['host-config', 'name', 'mountpoint'],
  },
];

/** `base` with --flag=value in place of any --flag=... already there (the rest kept in order). */
function withFlag(base: readonly string[], flag: string, value: string): string[] {
  const kept = base.filter((a) => !a.startsWith(`--${flag}=`));
  return [...kept, `--${flag}=${value}`];
}

const STACK_LINE = /^ {4}at /m;

/**
 * Releases whatever still waits on the FIFO (a reader gets end-of-file, a writer a reader that
 * closes at once): a run that blocked then fails its own test instead of holding one of libuv's
 * threadpool threads, and with it every later in-process run.
 */
function releaseFifo(fifo: string): void {
  fifoHasReader(fifo);
  closeSync(openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK));
}

/**
 * KNOCKSTICK_HOSTILE_LOG=FILE: one line per case (variant, flag, value, exit code), to review which
 * hostile values are accepted (exit 0) rather than refused.
 */
function logOutcome(line: string): void {
  const log = process.env.KNOCKSTICK_HOSTILE_LOG;
  if (log !== undefined && log !== '') appendFileSync(log, `${line}\n`);
}

for (const variant of VARIANTS) {
  describe(`${variant.name}: hostile flag values end in a refusal or in work done, never in a crash`, () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let sandbox: Sandbox;
    let keygenDir: Awaited<ReturnType<typeof tempDir>> | undefined;
    const savedPath = process.env.PATH;
    beforeAll(async () => {
      dir = await tempDir('knockstick-hostile-');
      sandbox = await makeSandbox(dir.path);
      await execa('mkfifo', [join(dir.path, 'fifo')]);
      if (variant.fakeKeygen === true) {
        // Outside the sandbox, so that its snapshots do not see it.
        keygenDir = await tempDir('knockstick-hostile-bin-');
        await writeFile(join(keygenDir.path, 'ssh-keygen'), FAKE_KEYGEN, { mode: 0o755 });
        process.env.PATH = `${keygenDir.path}:${savedPath ?? ''}`;
      }
    });
    afterAll(async () => {
      process.env.PATH = savedPath;
      if (dir !== undefined) releaseFifo(join(dir.path, 'fifo'));
      await keygenDir?.cleanup();
      await dir?.cleanup();
    });

    // The values depend on the sandbox path only through the path-like ones: titles use labels.
    const labels = hostileValues('/SANDBOX').map(([label]) => label);
    for (const flag of variant.flags) {
      for (const [index, label] of labels.entries()) {
        // Paths with odd characters matter where a path is expected; elsewhere the plain values cover them.
        if (label.startsWith('an absolute path with') && !PATH_FLAGS.has(flag)) continue;
        const title = `--${flag} with ${label}`;
        const skip = NOT_SWEPT.find((s) => s.applies(variant.name, flag, label));
        if (skip !== undefined) {
          it.todo(`${title} (${skip.why})`);
          continue;
        }
        it(title, async () => {
          const value = (hostileValues(sandbox.path)[index] as [string, string])[1];
          const before = await snapshot(sandbox.path);
          const result = await run(withFlag(variant.base(sandbox), flag, value), sandbox.path);
          if (label === 'a FIFO') expect({ flag, fifoHasReader: fifoHasReader(value) }).toEqual({ flag, fifoHasReader: false });
          logOutcome(`${variant.name}\t--${flag}\t${label}\t${result.exitCode}\t${result.stderr.split("\n")[0]}\t${/^hint: /m.test(result.stderr)}`);
          const report = `exit ${result.exitCode}\n${result.stderr}`;
          expect({ report, internal: result.exitCode === INTERNAL }).toEqual({ report, internal: false });
          expect(result.stderr).not.toMatch(/unexpected error/);
          expect(result.stderr).not.toMatch(STACK_LINE);
          if (result.exitCode !== 0) {
            expect(await snapshot(sandbox.path)).toEqual(before);
            // A refusal says why (doctor's findings go to stdout); a bad command line also where to look.
            expect(`${result.stderr}${result.stdout}`.trim()).not.toBe('');
            if (result.exitCode === 2) expect(result.stderr).toMatch(/^hint: /m);
          }
        });
      }
    }
  });
}

/**
 * Positional words (aliases, counts, subcommands, the packet file). secureon's DEVICE is not swept:
 * a value naming a file would be attached as a loop device and handed to cryptsetup; nor is
 * `seqgen COUNT --remote HOST`, which knocks and runs ssh.
 */
const POSITIONALS: ReadonlyArray<{ name: string; args: (s: Sandbox, value: string) => string[] }> = [
  { name: 'knockstick COMMAND', args: (_s, v) => [v, '--help'] },
  { name: 'callhome HOST --dry-run', args: (s, v) => ['callhome', v, '--dry-run', `--stick=${s.stick}`] },
  { name: 'seqgen COUNT', args: (s, v) => ['seqgen', v, `--server-file=${s.serverFile}`, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`] },
  { name: 'panic SUBCOMMAND', args: (s, v) => ['panic', v, '--host=127.0.0.1', '--sequence=47113,52981,60210', `--server-config=${s.serverConfig}`] },
  { name: 'panic script ALIAS', args: (s, v) => ['panic', 'script', v, `--stick=${s.stick}`, `--server-config=${s.serverConfig}`, `--out=${join(s.path, 'panic')}`] },
  { name: 'server SUBCOMMAND', args: (_s, v) => ['server', v, '--yes', '--dry-run', '--interface=lo'] },
  { name: 'spa SUBCOMMAND', args: (s, v) => ['spa', v, '--dry-run', `--rc-file=${s.rcFile}`] },
  { name: 'spa decode PACKET', args: (s, v) => ['spa', 'decode', `--rc-file=${s.rcFile}`, v] },
  { name: 'spa qr STANZA', args: (s, v) => ['spa', 'qr', v, `--rc-file=${s.rcFile}`, '--force'] },
  { name: 'usbsetup WORD', args: (s, v) => ['usbsetup', v, '--yes', `--into=${s.into}`] },
  { name: 'secureoff WORD', args: (s, v) => ['secureoff', v, `--host-config=${s.hostConfig}`] },
];

describe('hostile positional words end in a refusal or in work done, never in a crash', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sandbox: Sandbox;
  beforeAll(async () => {
    dir = await tempDir('knockstick-hostile-');
    sandbox = await makeSandbox(dir.path);
    await execa('mkfifo', [join(dir.path, 'fifo')]);
  });
  afterAll(async () => {
    if (dir !== undefined) releaseFifo(join(dir.path, 'fifo'));
    await dir?.cleanup();
  });

  for (const positional of POSITIONALS) {
    for (const [index, label] of hostileValues('/SANDBOX').map(([l]) => l).entries()) {
      const title = `${positional.name} with ${label}`;
      it(title, async () => {
        const value = (hostileValues(sandbox.path)[index] as [string, string])[1];
        const before = await snapshot(sandbox.path);
        const result = await run(positional.args(sandbox, value), sandbox.path);
        if (label === 'a FIFO') expect(fifoHasReader(value)).toBe(false);
        const report = `exit ${result.exitCode}\n${result.stderr}`;
        expect({ report, internal: result.exitCode === INTERNAL }).toEqual({ report, internal: false });
        expect(result.stderr).not.toMatch(/unexpected error/);
        expect(result.stderr).not.toMatch(STACK_LINE);
        if (result.exitCode !== 0) expect(await snapshot(sandbox.path)).toEqual(before);
        if (result.exitCode === 2) expect(result.stderr).toMatch(/^hint: /m);
      });
    }
  }
});

describe('callhome spends no sequence on an ssh it cannot start', () => {
  it.each([
    ['a missing path', '/nonexistent/knockstick/ssh', 6],
    ['a name not in PATH', 'no-such-ssh-knockstick', 6],
    ['a directory', '/', 6],
    ['a FIFO', 'FIFO', 6],
    ['empty', '', 2],
    ['a line break', 'ssh\n', 2],
  ])(
    '--ssh naming %s: refused (exit %s) before the first knock, nothing marked',
    async (_what, ssh, code) => {
      const dir = await tempDir('knockstick-hostile-');
      const sandbox = await makeSandbox(dir.path);
      // mkfifo's FIFO is not executable; made so, exec would still refuse it: the check must too.
      if (ssh === 'FIFO') await execa('mkfifo', ['--mode=755', join(dir.path, 'fifo')]);
      const program = ssh === 'FIFO' ? join(dir.path, 'fifo') : ssh;
      const counter = await knockCounter(await readFile(join(sandbox.stick, '.ssh', 'sequences'), 'utf8'));
      try {
        const before = await snapshot(sandbox.path);
        const result = await run(['callhome', '--attempts=1', '--door-timeout=50', `--stick=${sandbox.stick}`, `--ssh=${program}`], sandbox.path);
        expect(result.exitCode).toBe(code);
        expect(result.stderr).toMatch(code === 6 ? /cannot run .*nothing was knocked or marked/s : /--ssh must name the ssh client program/);
        if (ssh === 'FIFO') expect(result.stderr).toMatch(/is a FIFO \(named pipe\), not an executable file/);
        expect(counter.knocks()).toBe(0);
        expect(await snapshot(sandbox.path)).toEqual(before);
      } finally {
        await counter.close();
        await dir.cleanup();
      }
    },
  );
});

describe('a reader that stops reading (`| head`) ends the command quietly', () => {
  /** Runs a built bin whose stdout (or stderr) pipe is closed before it writes: every write gets EPIPE. */
  async function withClosedPipe(bin: string, args: readonly string[], stream: 'stdout' | 'stderr') {
    const child = execa(process.execPath, [join(DIST_BIN, `${bin}.js`), ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      // The other stream is kept, so that a stack trace would be seen.
      ...(stream === 'stdout' ? { stderr: 'pipe' } : { stdout: 'pipe' }),
    });
    child[stream]?.destroy();
    const result = await child;
    return { exitCode: result.exitCode, other: String(stream === 'stdout' ? result.stderr : result.stdout) };
  }

  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sandbox: Sandbox;
  beforeAll(async () => {
    dir = await tempDir('knockstick-hostile-');
    sandbox = await makeSandbox(dir.path);
  });
  afterAll(async () => dir?.cleanup());

  it.each([
    ['callhome --dry-run', 'callhome', (s: Sandbox) => ['--dry-run', '--attempts', '50', '--stick', s.stick]],
    ['server init --dry-run', 'knockstick', () => ['server', 'init', '--yes', '--dry-run', '--interface', 'lo']],
    ['panic stanza', 'knockstick', () => ['panic', 'stanza', '--sequence', '47113,52981,60210']],
    ['seqgen status', 'seqgen', (s: Sandbox) => ['status', '--server-file', s.serverFile, '--stick', s.stick]],
    ['knockstick --help', 'knockstick', () => ['--help']],
  ])('%s | head: exit 0, no stack trace', async (_name, bin, args) => {
    const result = await withClosedPipe(bin, args(sandbox), 'stdout');
    expect(result.other).not.toMatch(/EPIPE|unexpected error|^ {4}at /m);
    expect(result.exitCode).toBe(0);
  });

  it('an error message to a closed stderr: the usual exit code, no stack trace', async () => {
    const result = await withClosedPipe('seqgen', [], 'stderr');
    expect(result.other).not.toMatch(/EPIPE|^ {4}at /m);
    expect(result.exitCode).toBe(2);
  });
});
