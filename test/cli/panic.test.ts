// The panic script generator with hostile values, and the panic command's wiring on temp dirs.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, makeStick, tempDir } from '../helpers/cli.js';
import { renderPanicScript, renderPanicStanza } from '../../src/panic/render.js';
import { loadTemplate } from '../../src/core/templates.js';
import type { Sequence } from '../../src/core/sequences.js';

const SEQ: Sequence = [41001, 41002, 41003, 41004, 41005].map((port) => ({ port, protocol: 'tcp' as const }));

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

/** A fake python3 that records its arguments, so the script's values can be checked byte for byte. */
async function fakePython(): Promise<{ path: string; argsFile: string }> {
  const bin = join(dir.path, 'bin');
  await mkdir(bin);
  const argsFile = join(dir.path, 'args');
  await writeFile(join(bin, 'python3'), `#!/bin/sh\ncat >/dev/null\nfor a in "$@"; do printf '%s\\0' "$a"; done > '${argsFile}'\n`);
  await chmod(join(bin, 'python3'), 0o755);
  return { path: `${bin}:/usr/bin:/bin`, argsFile };
}

describe('the panic script generator', () => {
  const hostile = [
    `it's`,
    '$(touch PWNED)',
    '`touch PWNED`',
    'a\nb; touch PWNED',
    '"; touch PWNED; "',
    "'; touch PWNED; '",
    '${HOME}',
    '\\',
  ];

  it.each(hostile)('keeps the hostile host %j as data: sh -n, shellcheck, and the value arrives byte for byte', async (host) => {
    const script = join(dir.path, 'panic');
    await writeFile(script, renderPanicScript(await loadTemplate('panic.sh'), host, SEQ));
    for (const shell of ['dash', 'bash']) expect((await execa(shell, ['-n', script], { reject: false })).exitCode).toBe(0);
    // --severity=warning: for these values shellcheck's only remark is the info SC2016 "expressions
    // don't expand in single quotes", which is exactly the point. A real script passes at every level.
    const lint = await execa('shellcheck', ['--shell=sh', '--severity=warning', script], { reject: false });
    expect({ exitCode: lint.exitCode, out: lint.stdout }).toEqual({ exitCode: 0, out: '' });
    const { path, argsFile } = await fakePython();
    const run = await execa('dash', [script], { cwd: dir.path, env: { PATH: path }, extendEnv: false, reject: false });
    expect(run.exitCode).toBe(0);
    const args = (await readFile(argsFile, 'utf8')).split('\0').slice(0, -1);
    expect(args).toEqual(['-', host, '41005', '41005', '41005', '41005', '41001', '41002', '41003', '41004', '41005']);
    expect(existsSync(join(dir.path, 'PWNED'))).toBe(false);
  });

  it('says which tool it used, and that nothing was sent when it has none', async () => {
    const script = join(dir.path, 'panic');
    await writeFile(script, renderPanicScript(await loadTemplate('panic.sh'), '198.51.100.7', SEQ));
    const { path } = await fakePython();
    const used = await execa('dash', [script], { env: { PATH: path }, extendEnv: false, reject: false });
    expect(used.stderr).toMatch(/sent the panic knock \(5 ports\) to 198\.51\.100\.7 with python3/);
    const empty = join(dir.path, 'empty');
    await mkdir(empty);
    const none = await execa('/bin/dash', [script], { env: { PATH: empty }, extendEnv: false, reject: false });
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/none of python3, perl, bash or nc is available here: nothing was sent/);
  });

  it('refuses a panic sequence with UDP ports or fewer than 3 ports', async () => {
    const template = await loadTemplate('panic.sh');
    expect(() => renderPanicScript(template, 'h', [{ port: 1, protocol: 'udp' }, ...SEQ])).toThrow(/TCP only/);
    expect(() => renderPanicScript(template, 'h', SEQ.slice(0, 2))).toThrow(/at least 3/);
  });

  it('quotes the pidfile in the knockd panic command, and refuses a value that would break knockd.conf', async () => {
    const template = await loadTemplate('knockd-panic.conf');
    const stanza = renderPanicStanza(template, SEQ, 'iptables', "/run/it's.pid");
    expect(stanza).toMatch(/command += kill -TERM "\$\(cat '\/run\/it'\\''s\.pid'\)" 2>\/dev\/null \|\| pkill -TERM -x knockd; iptables -F KNOCKSTICK_DOORS/);
    expect(() => renderPanicStanza(template, SEQ, 'iptables', '/run/x.pid\nstart_command = reboot')).toThrow(/line break/);
  });
});

describe('knockstick panic', () => {
  it('script writes ./panic with mode 0600 from --host and --sequence', async () => {
    const result = await knockstick(['panic', 'script', '--hostname', '198.51.100.7', '--sequence', '41001,41002,41003'], { cwd: dir.path });
    expect(result.exitCode).toBe(0);
    expect((await stat(join(dir.path, 'panic'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir.path, 'panic'), 'utf8')).toContain("set -- '41003' '41003' '41003' '41003' '41001' '41002' '41003'");
  });

  it('takes the sequence and address from the stick when no flag gives them', async () => {
    const stick = join(dir.path, 'stick');
    await mkdir(join(stick, '.ssh'), { recursive: true });
    await writeFile(join(stick, '.ssh', 'config'), 'Host home\n  HostName 198.51.100.9\n');
    await writeFile(join(stick, '.ssh', 'knockstick.conf'), '[home]\npanic_sequence = 41001,41002,41003\n');
    const result = await knockstick(['panic', 'script', '--stick', stick, '--out', join(dir.path, 'p')]);
    expect(result).toMatchObject({ exitCode: 0 });
    expect(await readFile(join(dir.path, 'p'), 'utf8')).toContain("HOST='198.51.100.9'");
  });

  it.each([
    [['panic'], /missing subcommand/],
    [['panic', 'explode'], /unknown subcommand "explode"/],
    [['panic', 'script', '--hostname', '$(reboot)', '--sequence', '1,2,3'], /--hostname must be a host name/],
    [['panic', 'script', '--hostname', 'h', '--sequence', '1 2 3'], /--sequence: ports separated by spaces/],
    [['panic', 'script', '--hostname', 'h'], /no panic sequence known/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const result = await knockstick(args, { cwd: dir.path, env: { KNOCKSTICK_STICK: await makeStick(join(dir.path, 'stick')) } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('rotate adds a [panic] stanza whose ports no one-time sequence uses, and refuses a broken knockd.conf', async () => {
    const seqFile = join(dir.path, 'ssh');
    await writeFile(seqFile, ' 40001,40002,40003\n 40004,40005,40006\n');
    const conf = join(dir.path, 'knockd.conf');
    const base = `[options]\n  logfile = /dev/null\n[ssh]\n  one_time_sequences = ${seqFile}\n  tcpflags = syn\n`;
    await writeFile(conf, base);
    const args = ['panic', 'rotate', '--knockd-conf', conf, '--server-config', join(dir.path, 'server.conf'), '--pidfile', join(dir.path, 'none.pid')];
    const result = await knockstick([...args, '--hostname', '198.51.100.7', '--out', join(dir.path, 'panic')]);
    expect(result).toMatchObject({ exitCode: 0 });
    const text = await readFile(conf, 'utf8');
    expect(text.startsWith(base)).toBe(true);
    const ports = /\[panic\][\s\S]*sequence += ([\d,]+)/.exec(text)?.[1]?.split(',').map(Number) ?? [];
    expect(ports).toHaveLength(5);
    expect(ports.some((p) => p >= 40001 && p <= 40006)).toBe(false);
    expect(await readFile(join(dir.path, 'server.conf'), 'utf8')).toContain(`panic_sequence = ${ports.join(',')}`);
    // A second rotate replaces the stanza instead of adding another.
    expect((await knockstick(args)).exitCode).toBe(0);
    expect((await readFile(conf, 'utf8')).match(/\[panic\]/g)).toHaveLength(1);

    await writeFile(conf, `${base}  bogus_key = 1\n`);
    const before = await readFile(conf, 'utf8');
    const broken = await knockstick(args);
    expect(broken.exitCode).toBe(3);
    expect(broken.stderr).toMatch(/knockd.conf:6: unknown directive "bogus_key"/);
    expect(await readFile(conf, 'utf8')).toBe(before);
  });

  it.each(['nftables', 'iptables'])('rotate on a router (%s) keeps closing the forwarding doors in the new stanza', async (firewall) => {
    const out = join(dir.path, 'router');
    const stick = await makeStick(join(dir.path, 'stick'));
    const init = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--stick', stick, '--firewall', firewall, '--inner', 'web=10.9.8.7', '--inner', 'my-nas=10.9.8.6']);
    expect(init.exitCode).toBe(0);
    const flush =
      firewall === 'nftables'
        ? 'nft flush set ip knockstick_nat door_web; nft flush set ip knockstick_nat door_my_nas'
        : "{ echo / > '/proc/net/xt_recent/knockstick_web'; } 2>/dev/null || true; { echo / > '/proc/net/xt_recent/knockstick_my_nas'; } 2>/dev/null || true";
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toContain(flush);
    const rotate = await knockstick(['panic', 'rotate', '--knockd-conf', join(out, 'knockd.conf'), '--server-config', join(out, 'server.conf'), '--no-reload']);
    expect(rotate.exitCode).toBe(0);
    const after = await readFile(join(out, 'knockd.conf'), 'utf8');
    expect(after).toContain(flush);
    expect(after.match(/\[panic\]/g)).toHaveLength(1);
  });

  it('rotate refuses a config whose one-time file is exhausted (knockd would die at reload)', async () => {
    const seqFile = join(dir.path, 'ssh');
    await writeFile(seqFile, '#40001,40002,40003\n');
    const conf = join(dir.path, 'knockd.conf');
    await writeFile(conf, `[ssh]\n  one_time_sequences = ${seqFile}\n`);
    const result = await knockstick(['panic', 'rotate', '--knockd-conf', conf, '--server-config', join(dir.path, 's.conf'), '--no-reload']);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/has no unused sequence; knockd exits at reload/);
  });
});
