// The shared runner (core/run.ts) and the cleanup stack and signal path (core/interrupt.ts), with
// real child processes (sh, sleep): a missing program, a failure, --dry-run's printing, secrets kept
// out of every message, and an interrupt that kills the child before undoing.

import { describe, expect, it } from '@jest/globals';
import { KnockstickError } from '../../src/core/errors.js';
import { CleanupStack, cleanup, interrupt, interruptedBy } from '../../src/core/interrupt.js';
import { failureError, formatCommand, run, runAllowingFailure, stderrTail, type ExternalCommand } from '../../src/core/run.js';
import { cryptsetupCommand, luksFormatCommand } from '../../src/core/luks.js';
import { keygenCommand } from '../../src/usbsetup/content.js';
import { mkfsCommand } from '../../src/usbsetup/index.js';
import { partitionCommands, planPartitions } from '../../src/usbsetup/partition.js';

const sh = (script: string, extra: Partial<ExternalCommand> = {}): ExternalCommand => ({ file: 'sh', args: ['-c', script], purpose: 'test something', ...extra });

async function rejection(promise: Promise<unknown>): Promise<KnockstickError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KnockstickError) return error;
    throw error;
  }
  throw new Error('expected a KnockstickError');
}

describe('commands as data, printed for --dry-run', () => {
  it('prints the words a user would type, quoting only where sh needs it', () => {
    expect(formatCommand({ file: 'mount', args: ['-t', 'vfat', '-o', 'nosuid,nodev,uid=1000', '/dev/mapper/ks', '/mnt/my stick'], purpose: 'mount' })).toBe(
      "mount -t vfat -o nosuid,nodev,uid=1000 /dev/mapper/ks '/mnt/my stick'",
    );
    expect(formatCommand({ file: 'echo', args: ["it's", '$HOME', ''], purpose: 'x' })).toBe(`echo 'it'\\''s' '$HOME' ''`);
  });

  it('shows the environment it adds and the directory it runs in', () => {
    expect(formatCommand({ file: 'ssh', args: ['home'], purpose: 'connect', env: { SSH_ASKPASS_REQUIRE: 'force' }, cwd: '/media/stick' })).toBe(
      'SSH_ASKPASS_REQUIRE=force ssh home   (in /media/stick)',
    );
  });

  it('never prints what goes to stdin or fd 3, only how many bytes', () => {
    const format = luksFormatCommand('/dev/sdb2', Buffer.from('correct horse battery'), { label: 'knockstick' });
    const printed = formatCommand(format);
    expect(printed).toBe('cryptsetup luksFormat --batch-mode --type luks2 --label knockstick --key-file - /dev/sdb2 < (21 bytes on stdin, not shown)');
    const keygen = keygenCommand('/s/.ssh/id_ed25519', 'knockstick home', { kind: 'bytes', bytes: Buffer.from('key phrase') }, '/tmp/knockstick-askpass-x/askpass');
    expect(formatCommand(keygen)).toContain('3< (22 bytes on fd 3, not shown)');
    expect(formatCommand(keygen)).not.toContain('key phrase');
  });

  it('keeps passphrases out of argv and the environment', () => {
    const format = luksFormatCommand('/dev/sdb2', Buffer.from('volume phrase'), { weakPbkdfForTests: true });
    expect(format.args).toEqual(['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', '-', '/dev/sdb2']);
    expect(format.stdin).toEqual(Buffer.from('volume phrase'));
    const keygen = keygenCommand('/s/k', 'c', { kind: 'bytes', bytes: Buffer.from('key phrase') }, '/tmp/a/askpass');
    expect(keygen.args).toEqual(['-q', '-t', 'ed25519', '-a', '100', '-C', 'c', '-f', '/s/k']);
    expect(JSON.stringify([keygen.args, keygen.env])).not.toContain('key phrase');
    // Once for "Enter passphrase", once for "Enter same passphrase again": one line each.
    expect(keygen.fd3?.toString()).toBe('key phrase\nkey phrase\n');
    expect(keygenCommand('/s/k', 'c', { kind: 'terminal' }, '')).toMatchObject({ stdin: 'terminal', stdout: 'terminal', stderr: 'terminal' });
    expect(cryptsetupCommand(['open', '/dev/sdb2', 'ks'], 'open', { kind: 'terminal' })).toMatchObject({ stdin: 'terminal', stderr: 'terminal' });
  });

  it('builds the disk commands usbsetup runs', () => {
    const cmds = partitionCommands('/dev/sdb', planPartitions(64 * 2 ** 20, 32));
    expect([cmds.wipe, cmds.sfdisk, cmds.partx].map((c) => [c.file, ...c.args].join(' '))).toEqual(['wipefs --all --quiet /dev/sdb', 'sfdisk --quiet --wipe always /dev/sdb', 'partx --update /dev/sdb']);
    expect(cmds.sfdisk.stdin).toBe('label: dos\n,31MiB,c\n,+,83\n');
    expect(mkfsCommand('ext4', '/dev/mapper/x', 'KNOCKSTICK')).toEqual({ file: 'mkfs.ext4', args: ['-q', '-L', 'knockstick', '/dev/mapper/x'], purpose: 'make an ext4 filesystem on /dev/mapper/x' });
  });
});

describe('running: one way to report a missing program and a failure', () => {
  it('returns stdout, stderr and the exit status; stdin gets exactly the bytes given', async () => {
    const result = await run(sh('cat; echo err >&2', { stdin: Buffer.from('a\nb\n'), keepFinalNewline: true }));
    expect(result).toEqual({ exitCode: 0, stdout: 'a\nb\n', stderr: 'err\n' });
    expect((await run(sh('printf "x\\n"'))).stdout).toBe('x');
  });

  it('a missing program is "X is not installed", with the Debian package that has it', async () => {
    const error = await rejection(run({ file: '/nonexistent/cryptsetup', args: ['isLuks', '/dev/sdb'], purpose: 'check /dev/sdb' }));
    expect(error.code).toBe('IO');
    expect(error.message).toBe('/nonexistent/cryptsetup is not installed (needed to check /dev/sdb)');
    expect(error.hint).toBe('install it (Debian/Ubuntu: apt install cryptsetup-bin) and run this again');
    const unknown = await rejection(runAllowingFailure({ file: 'knockstick-no-such-program', args: [], purpose: 'do x' }));
    expect(unknown.message).toBe('knockstick-no-such-program is not installed (needed to do x)');
    expect(unknown.hint).toBe('install knockstick-no-such-program and run this again');
  });

  it('a failure names what we were doing, the command line, its status and the last lines of its stderr', async () => {
    const error = await rejection(run(sh('for i in 1 2 3 4 5; do echo "line $i" >&2; done; exit 3', { purpose: 'format /dev/sdz' })));
    expect(error.code).toBe('IO');
    expect(error.exitCode).toBe(6);
    expect(error.message).toBe("cannot format /dev/sdz: `sh -c 'for i in 1 2 3 4 5; do echo \"line $i\" >&2; done; exit 3'` exited with status 3:\n  line 3\n  line 4\n  line 5");
  });

  it('a failure without stderr still says the status; runAllowingFailure hands it back instead', async () => {
    expect((await rejection(run(sh('exit 1')))).message).toBe("cannot test something: `sh -c 'exit 1'` exited with status 1");
    expect(await runAllowingFailure(sh('echo out; exit 4'))).toEqual({ exitCode: 4, stdout: 'out', stderr: '' });
  });

  it('a child killed by a signal reports 128 + its number, and run names the signal', async () => {
    expect(await runAllowingFailure(sh('kill -KILL $$'))).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    expect((await rejection(run(sh('kill -TERM $$')))).message).toMatch(/`sh -c 'kill -TERM \$\$'` was killed by SIGTERM$/);
  });

  it('never puts a secret fed on stdin or fd 3 into a message, even when the program echoes it', async () => {
    const secret = 'hunter2 correct horse';
    const viaStdin = await rejection(run(sh('echo "bad: $(cat)" >&2; exit 1', { stdin: Buffer.from(secret) })));
    expect(viaStdin.message).not.toContain('hunter2');
    expect(viaStdin.message).toContain('bad: [secret]');
    const viaFd3 = await rejection(run(sh('read -r l <&3; echo "got $l" >&2; exit 2', { fd3: Buffer.from(`${secret}\n${secret}\n`) })));
    expect(viaFd3.message).not.toContain('hunter2');
    expect(viaFd3.message).toContain('got [secret]');
    expect(stderrTail('a\nsecret-word here\n\n', { file: 'x', args: [], purpose: 'p', stdin: 'secret-word' })).toBe('a\n  [secret] here');
  });

  it('the pipe on fd 3 hands out one line per read, as ssh-keygen asks twice', async () => {
    const result = await run(sh('IFS= read -r a <&3; IFS= read -r b <&3; printf "%s|%s" "$a" "$b"', { fd3: Buffer.from('p \\q\np \\q\n') }));
    expect(result.stdout).toBe('p \\q|p \\q');
  });

  it('failureError is pure: the same message for the same result', () => {
    const cmd: ExternalCommand = { file: 'wipefs', args: ['--all', '/dev/sdb'], purpose: 'wipe the old signatures on /dev/sdb' };
    expect(failureError(cmd, { exitCode: 1, stderr: 'wipefs: error: /dev/sdb: probing initialization failed: Device or resource busy\n' }).message).toBe(
      'cannot wipe the old signatures on /dev/sdb: `wipefs --all /dev/sdb` exited with status 1:\n  wipefs: error: /dev/sdb: probing initialization failed: Device or resource busy',
    );
  });
});

describe('the cleanup stack', () => {
  it('undoes newest first, every step once, and reports what it undid', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('detached /dev/loop3', async () => void order.push('detach'));
    stack.push('closed ks', async () => void order.push('close'));
    stack.push('unmounted /mnt/x', async () => void order.push('umount'));
    const [a, b] = await Promise.all([stack.runAll(), stack.runAll()]);
    expect(order).toEqual(['umount', 'close', 'detach']);
    expect(a).toEqual({ undone: ['unmounted /mnt/x', 'closed ks', 'detached /dev/loop3'], failed: [] });
    expect(b).toEqual({ undone: [], failed: [] });
    expect((await stack.runAll()).undone).toEqual([]);
    expect(stack.undone).toEqual(['unmounted /mnt/x', 'closed ks', 'detached /dev/loop3']);
  });

  it('a failing step does not keep the others from running', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('detached /dev/loop3', async () => void order.push('detach'));
    stack.push('unmounted /mnt/x', async () => {
      throw new Error('target is busy');
    });
    const report = await stack.runAll();
    expect(order).toEqual(['detach']);
    expect(report.undone).toEqual(['detached /dev/loop3']);
    expect(report.failed.map((f) => [f.label, (f.error as Error).message])).toEqual([['unmounted /mnt/x', 'target is busy']]);
  });

  it('a nested step undoes only what it pushed after its mark; the rest waits for the command', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('removed the half-written stick files', async () => void order.push('outer'));
    const mark = stack.mark();
    stack.push('closed the ssh connection', async () => void order.push('inner'));
    expect(await stack.runAll(mark)).toEqual({ undone: ['closed the ssh connection'], failed: [] });
    expect(order).toEqual(['inner']);
    await stack.runAll();
    expect(order).toEqual(['inner', 'outer']);
  });

  it('a step dropped with its forget function does not run', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    const forget = stack.push('removed /tmp/x', async () => void order.push('rm'));
    stack.push('detached /dev/loop3', async () => void order.push('detach'));
    forget();
    expect(stack.size).toBe(1);
    await stack.runAll();
    expect(order).toEqual(['detach']);
  });

  it('says it is running from the first step on, so that step can run its own commands', async () => {
    const stack = new CleanupStack();
    const seen: boolean[] = [];
    stack.push('b', async () => void seen.push(stack.isRunning));
    stack.push('a', () => {
      seen.push(stack.isRunning);
      return Promise.resolve();
    });
    expect(stack.isRunning).toBe(false);
    await stack.runAll();
    expect(seen).toEqual([true, true]);
    expect(stack.isRunning).toBe(false);
  });
});

// Last: interrupt() aborts this test file's runner for good (each test file has its own modules).
describe('an interrupt', () => {
  it('kills the running child and waits for it, then undoes, running the undo steps\' own commands; no new child starts', async () => {
    const order: string[] = [];
    const child = runAllowingFailure({ file: 'sleep', args: ['30'], purpose: 'wait' }).then(
      () => {
        order.push('child ended normally');
        return undefined;
      },
      (error: unknown) => {
        order.push(`child: ${(error as Error).message}`);
        return error;
      },
    );
    cleanup.push('detached /dev/loop9', async () => {
      const { stdout } = await run({ file: 'echo', args: ['undo ran a command'], purpose: 'undo' });
      order.push(stdout);
    });
    await new Promise((resolve) => setTimeout(resolve, 100)); // let sleep start
    const report = await interrupt('SIGTERM');
    expect(interruptedBy()).toBe('SIGTERM');
    expect(report).toEqual({ undone: ['detached /dev/loop9'], failed: [] });
    const error = (await child) as KnockstickError;
    expect(error).toBeInstanceOf(KnockstickError);
    expect(error.code).toBe('INTERRUPTED');
    expect(error.exitCode).toBe(143);
    expect(order).toEqual(['child: interrupted by SIGTERM', 'undo ran a command']);
    expect((await rejection(run({ file: 'true', args: [], purpose: 'x' }))).message).toBe('interrupted by SIGTERM');
    expect(await interrupt('SIGINT')).toBe(report);
  }, 20_000);
});
