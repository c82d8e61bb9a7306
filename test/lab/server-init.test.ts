// `server init` output accepted by the real tools: knockd runs with the generated knockd.conf and
// its door opens for callhome behind the generated firewall; nft -c, iptables-restore --test,
// ip6tables-restore --test, sshd -t; ufw's before.rules snippet loads in iptables-restore.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick, makeStick } from '../helpers/cli.js';
import { connectOnce } from '../helpers/doors-lab.js';
import {
  CLIENT_ADDR,
  createLab,
  runIn,
  startKnockdDaemon,
  startSshd,
  waitFor,
  type Lab,
  type SshdHandle,
} from '../../src/lab/lab.js';
import { askpassEnv, makeLabStick, type LabStick } from '../../src/lab/stick.js';

jest.setTimeout(120_000);

describe.each(['nftables', 'iptables'] as const)('server init --firewall %s with the real tools', (firewall) => {
  let lab: Lab;
  let sshd: SshdHandle;
  let stick: LabStick;
  let out: string;
  beforeAll(async () => {
    lab = await createLab();
    sshd = await startSshd(lab);
    stick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: 'server init lab' });
    out = join(lab.dir, 'server');
    // Window doors: callhome probes the door with a connection of its own and then starts ssh, a
    // second connection, which a single-use door drops (test/lab/doors-single-use.test.ts has those).
    const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--stick', stick.root, '--firewall', firewall, '--cmd-timeout', '3', '--count', '10']);
    expect({ exitCode: init.exitCode, stderr: init.stderr }).toEqual({ exitCode: 0, stderr: '' });
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('the firewall files pass the tools\' own checks', async () => {
    const checks: Array<[string, string]> =
      firewall === 'nftables'
        ? [['nft -c -f "$1"', join(out, 'firewall.nft')]]
        : [
            ['iptables-restore --test < "$1"', join(out, 'iptables.rules')],
            ['ip6tables-restore --test < "$1"', join(out, 'ip6tables.rules')],
          ];
    for (const [script, file] of checks) {
      const result = await runIn(lab.serverNs, 'sh', ['-c', script, 'sh', file]);
      expect({ script, ...result }).toEqual({ script, exitCode: 0, stdout: '', stderr: '' });
    }
  });

  it('sshd accepts the drop-in, and it makes sshd refuse passwords', async () => {
    const main = join(lab.dir, 'sshd-main.conf');
    await writeFile(main, `Include ${join(out, 'sshd-knockstick.conf')}\nHostKey ${join(lab.dir, 'sshd', 'host_ed25519')}\n`);
    // sshd wants /run/sshd even to check a config: a private tmpfs /run inside the namespace's mount namespace.
    const sshd = (...args: string[]) => runIn(lab.serverNs, 'sh', ['-c', 'mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec /usr/sbin/sshd "$@"', 'sh', ...args]);
    const test = await sshd('-t', '-f', main);
    expect(test).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    const effective = await sshd('-T', '-f', main, '-C', 'user=root,host=x,addr=198.18.0.2');
    expect(effective.stdout).toMatch(/^passwordauthentication no$/m);
    expect(effective.stdout).toMatch(/^kbdinteractiveauthentication no$/m);
    expect(effective.stdout).toMatch(/^permitrootlogin without-password$/m);
  });

  it('knockd runs with the generated knockd.conf, behind the generated firewall, and callhome gets a shell', async () => {
    const load = firewall === 'nftables' ? 'nft -f "$1"' : 'iptables-restore < "$1"';
    const file = join(out, firewall === 'nftables' ? 'firewall.nft' : 'iptables.rules');
    expect((await runIn(lab.serverNs, 'sh', ['-c', load, 'sh', file])).exitCode).toBe(0);
    // The way the generated systemd drop-in starts it.
    const unit = await readFile(join(out, 'knockd.service.conf'), 'utf8');
    expect(unit).toContain(`ExecStart=/usr/sbin/knockd -d -c ${join(out, 'knockd.conf')} -i ${lab.serverIf} -p ${join(out, 'knockd.pid')}`);
    await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    await mkdir(join(lab.dir, 'home'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home'), ...(await askpassEnv(lab.dir, 'server init lab')) };
    const result = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'callhome.js'), '--stick', stick.root, '--', 'echo', 'in'], { env });
    expect({ exitCode: result.exitCode, stdout: result.stdout.trim() }).toEqual({ exitCode: 0, stdout: 'in' });
    const status = await knockstick(['seqgen', 'status', '--json', '--server-file', join(out, 'ssh'), '--stick', stick.root]);
    expect(JSON.parse(status.stdout)).toMatchObject({ lockstep: { state: 'in-step' }, server: { used: 1, unused: 9 } });
    // The door closes by itself after cmd_timeout (3 s here): the nft element goes; an xt_recent
    // entry stays listed but no longer matches.
    if (firewall === 'nftables') {
      const doorListed = async () => (await lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'doors4'])).includes(CLIENT_ADDR);
      expect(await waitFor(async () => !(await doorListed()), 8000, 100)).toBe(true);
    } else await new Promise((r) => setTimeout(r, 4000));
    expect(await connectOnce(lab)).toBe('dropped');
  });

  it('doctor, run on the server, gives this setup a clean bill, and flags an invalid line in the one-time file', async () => {
    const doctor = (...args: string[]) =>
      runIn(lab.serverNs, 'sh', [
        '-c',
        'mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec "$@"',
        'sh',
        process.execPath,
        join(DIST_BIN, 'knockstick.js'),
        'doctor',
        '--knockd-conf', join(out, 'knockd.conf'),
        '--server-config', join(out, 'server.conf'),
        '--sshd-config', join(lab.dir, 'sshd', 'sshd_config'),
        '--stick', stick.root,
        '--warn-below', '5', // this lab made only 10 sequences
        ...args,
      ]);
    const clean = await doctor('--json');
    const report = JSON.parse(clean.stdout);
    // A clean bill: single-use doors (the default), read from the loaded firewall.
    expect({ exitCode: clean.exitCode, problems: report.findings.filter((f: { severity: string }) => f.severity !== 'ok').map((f: { id: string }) => f.id) }).toEqual({
      exitCode: 0,
      problems: [],
    });
    expect(report.findings.map((f: { id: string }) => f.id)).toEqual(
      expect.arrayContaining(['knockd.conf', 'sequences:ssh', 'door:ssh', 'door:ssh:single-use', 'panic', 'knockd', 'interface', 'firewall', 'sshd', 'stick:config', 'stick:key', 'stick:sequences', 'lockstep']),
    );
    await writeFile(join(out, 'ssh'), `${await readFile(join(out, 'ssh'), 'utf8')} 41234 41235 41236\n`);
    const broken = await doctor();
    expect(broken.exitCode).toBe(9);
    expect(broken.stdout).toMatch(/ERROR +\[ssh\] .*ssh has 1 invalid line.*ports separated by spaces/);
  });
});

describe('server init', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('the ufw lines load with the real ufw (in the lab namespace, on a copy of /etc/ufw)', async () => {
    const out = join(lab.dir, 'ufw');
    const stick = join(lab.dir, 'stick');
    await makeStick(stick); // a stick is a directory with its .ssh/config
    expect((await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--stick', stick, '--firewall', 'ufw'])).exitCode).toBe(0);
    const snippet = (await readFile(join(out, 'ufw-before.rules'), 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    // A copy of /etc/ufw with the lines added before before.rules' final COMMIT, bind-mounted over
    // /etc/ufw inside `ip netns exec`'s private mount namespace: the host's ufw is never touched.
    const etc = join(lab.dir, 'etc-ufw');
    await cp('/etc/ufw', etc, { recursive: true });
    const before = await readFile(join(etc, 'before.rules'), 'utf8');
    const at = before.lastIndexOf('COMMIT');
    await writeFile(join(etc, 'before.rules'), `${before.slice(0, at)}${snippet.join('\n')}\n${before.slice(at)}`);
    const result = await runIn(lab.serverNs, 'sh', ['-c', 'mount --bind "$1" /etc/ufw && ufw --force enable >/dev/null && iptables -S ufw-before-input', 'sh', etc]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('-A ufw-before-input -j KNOCKSTICK_DOORS');
  });

  it('run again with the same flags changes nothing; with --force still never touches a sequence file', async () => {
    const out = join(lab.dir, 'twice');
    const stick = join(lab.dir, 'stick2');
    await makeStick(stick); // a stick is a directory with its .ssh/config
    const args = ['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--stick', stick];
    expect((await knockstick(args)).exitCode).toBe(0);
    const before = await readFile(join(out, 'knockd.conf'), 'utf8');
    const sequences = await readFile(join(out, 'ssh'), 'utf8');
    const again = await knockstick(args);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`unchanged ${join(out, 'knockd.conf')}`);
    const forced = await knockstick([...args, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(forced.stdout).toContain(`kept ${join(out, 'ssh')}: 50 unused of 50`);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toBe(before);
    expect(await readFile(join(out, 'ssh'), 'utf8')).toBe(sequences);
  });
});
