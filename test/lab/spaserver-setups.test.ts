// The fwknop set-ups of the seed documents, each written by `server init --method spa ... --out DIR`
// and run for real in one lab: the firewall (nftables, or ufw in a private copy of /etc/ufw), the
// real fwknopd 2.6.10 on the files server init wrote, and `knockstick spa send` from the client
// namespace with the client stanza server init wrote.
//   1. custom SPA port + sshd port, REQUIRE_USERNAME, REQUIRE_SOURCE_ADDRESS, command messages
//      limited by --allow-command (one fwknopd, nftables)
//   2. ufw doors (CMD_CYCLE_OPEN/CLOSE running the real ufw)
//   3. behind a router: the router namespace forwards udp/SPA and tcp/SSH to the inner host

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { appendFile, chmod, copyFile, cp, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_BIN, knockstick } from '../helpers/cli.js';
import { CLIENT_ADDR, INNER_ADDRS, SERVER_ADDR, addInnerNetwork, createLab, isProcessAlive, runIn, startKnockdDaemon, waitFor, type Lab, type RunResult } from '../../src/lab/lab.js';
import { startFwknopd, type FwknopdHandle } from '../../src/lab/fwknopd.js';
import type { Finding } from '../../src/doctor/checks.js';

jest.setTimeout(120_000);

const ENV = (lab: Lab): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: lab.dir });

/** `knockstick spa send` from the client namespace, with the stanza [home] of `rc` (or another). */
function spaSend(lab: Lab, rc: string, args: readonly string[] = [], stanza = 'home'): Promise<RunResult> {
  return runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'spa', 'send', '--rc-file', rc, '-n', stanza, ...args], { env: ENV(lab) });
}

/** A copy of the client rc (0600) with one line changed: what a client with other settings sends. */
async function variant(rc: string, name: string, from: RegExp, to: string): Promise<string> {
  const text = await readFile(rc, 'utf8');
  expect(text).toMatch(from);
  const path = `${rc}.${name}`;
  await writeFile(path, text.replace(from, to), { mode: 0o600 });
  return path;
}

/** Whether a TCP connection from the client namespace to ADDR:PORT gets the listener's greeting within 1.5 s. */
async function connects(lab: Lab, address: string, port: number): Promise<boolean> {
  const script = `const s = require('net').connect(${port}, ${JSON.stringify(address)}); s.setTimeout(1500, () => process.exit(1));
s.on('data', (d) => process.exit(String(d).startsWith('SSH-') ? 0 : 1)); s.on('error', () => process.exit(1));`;
  return (await runIn(lab.clientNs, process.execPath, ['-e', script])).exitCode === 0;
}

/** A stand-in for sshd on ADDR:PORT in `ns`: greets like sshd, so a connection is proven end to end. */
function greeter(lab: Lab, ns: string, address: string, port: number): void {
  lab.spawn(ns, process.execPath, ['-e', `require('net').createServer((s) => s.end('SSH-2.0-lab\\n')).listen(${port}, ${JSON.stringify(address)})`]);
}

interface DoctorJson {
  readonly errors: number;
  readonly findings: readonly Finding[];
}

/**
 * `knockstick doctor --json` on a set-up's files, in the namespace where its fwknopd runs (the
 * firewall and the pidfile as they are there). sshd -T wants /run/sshd: a tmpfs on /run inside `ip
 * netns exec`'s private mount namespace gives it one without touching the host.
 */
async function doctor(ns: string, out: string, pidfile: string, over: { conf?: string; args?: readonly string[] } = {}): Promise<DoctorJson & { exitCode: number; problems: string[] }> {
  const args = [join(DIST_BIN, 'knockstick.js'), 'doctor', '--json', '--fwknopd-conf', over.conf ?? join(out, 'fwknopd.conf'), '--access-conf', join(out, 'access.conf'),
    '--server-config', join(out, 'server.conf'), '--sshd-config', join(out, 'sshd-knockstick.conf'), '--pidfile', pidfile, ...(over.args ?? [])];
  const result = await runIn(ns, 'sh', ['-c', 'mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec "$@"', 'sh', process.execPath, ...args], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: out } });
  let json: DoctorJson;
  try {
    json = JSON.parse(result.stdout) as DoctorJson;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${result.exitCode}): ${result.stdout}${result.stderr}`);
  }
  return { ...json, exitCode: result.exitCode, problems: json.findings.filter((f) => f.severity !== 'ok').map((f) => `${f.severity} ${f.id}: ${f.message}`) };
}
const errorsOf = (r: DoctorJson): string[] => r.findings.filter((f) => f.severity === 'error').map((f) => `${f.id}: ${f.message}`);

async function init(args: readonly string[]): Promise<void> {
  const result = await knockstick(['server', 'init', '--yes', '--method', 'spa', ...args]);
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
}

describe('server init --method spa: the seed set-ups, run with the real fwknopd', () => {
  let lab: Lab;
  let fwknopd: FwknopdHandle | undefined;

  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => {
    await fwknopd?.stop();
    await lab?.teardown();
  });

  describe('custom port, REQUIRE_USERNAME, REQUIRE_SOURCE_ADDRESS, command messages (nftables)', () => {
    let out: string;
    let rc: string;
    let marks: string;
    const inSet = async (): Promise<boolean> => (await lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'spa4'])).includes(CLIENT_ADDR);

    beforeAll(async () => {
      out = join(lab.dir, 'custom');
      marks = join(lab.dir, 'marks');
      await mkdir(marks);
      await init([
        '--spa-server', SERVER_ADDR, '--interface', lab.serverIf, '--out', out, '--firewall', 'nftables', '--door-policy', 'window', '--cmd-timeout', '30',
        '--spa-port', '40001', '--ssh-port', '2222', '--require-username', 'alice', '--require-source', '--allow-command', `touch ${marks}/(ok|fine)`,
      ]);
      rc = join(out, 'fwknoprc.client');
      await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
      greeter(lab, lab.serverNs, SERVER_ADDR, 2222);
      fwknopd = await startFwknopd(lab, { files: { conf: join(out, 'fwknopd.conf'), access: join(out, 'access.conf') }, name: 'fwknopd-custom' });
      // UDPSERV_PORT: fwknopd binds the new port (ss: in the server namespace).
      expect(await lab.run(lab.serverNs, 'ss', ['-uln'])).toMatch(/:40001\b/);
    });
    afterAll(async () => {
      await fwknopd?.stop();
      fwknopd = undefined;
      await lab.run(lab.serverNs, 'nft', ['delete', 'table', 'inet', 'knockstick']).catch(() => '');
    });

    it('the client stanza names the port, the user and ALLOW_IP local', async () => {
      expect(await readFile(rc, 'utf8')).toMatch(/SPA_SERVER_PORT +40001\nSPOOF_USER +alice\nACCESS +tcp\/2222\nALLOW_IP +local\n/);
    });

    it('doctor gives a clean bill: custom port, sshd port, REQUIRE_USERNAME, REQUIRE_SOURCE_ADDRESS, and the command filter enforcing --allow-command', async () => {
      const clean = await doctor(lab.serverNs, out, join(fwknopd?.dir ?? '', 'fwknopd.pid'));
      expect({ exitCode: clean.exitCode, errors: errorsOf(clean) }).toEqual({ exitCode: 0, errors: [] });
      expect(clean.findings.filter((f) => f.id === 'access:cmd-exec')).toEqual([expect.objectContaining({ severity: 'ok', message: expect.stringMatching(/enforced by the command filter \S+spa-command-filter/) })]);
      expect(clean.problems.join('\n')).not.toMatch(/CMD_REGEX/);
      for (const id of ['fwknopd', 'fwknopd:firewall', 'fwknopd:port', 'fwknopd:probe', 'access:open-ports']) expect(clean.findings.map((f) => f.id)).toContain(id);
      expect(clean.findings.find((f) => f.id === 'fwknopd:firewall')?.message).toMatch(/udp\/40001 reaches fwknopd/);
    });

    it('doctor names the faults of broken variants: PCAP_FILTER on another port than UDPSERV_PORT, the filter not executable, a stick without SPOOF_USER, the filter missing', async () => {
      const filter = join(out, 'spa-command-filter');
      const conf = join(lab.dir, 'custom-broken-fwknopd.conf');
      await writeFile(conf, (await readFile(join(out, 'fwknopd.conf'), 'utf8')).replace(/^PCAP_FILTER .*$/m, 'PCAP_FILTER                 udp port 40009;'), { mode: 0o600 });
      await chmod(filter, 0o600);
      try {
        const sick = await doctor(lab.serverNs, out, join(fwknopd?.dir ?? '', 'fwknopd.pid'), { conf });
        expect(sick.exitCode).toBe(9);
        expect(sick.problems).toEqual(expect.arrayContaining([
          expect.stringMatching(/^warning fwknopd:port: .*PCAP_FILTER names port 40009, but the UDP server listens on 40001/),
          expect.stringMatching(/^error access:cmd-exec: .*spa-command-filter, which is not executable \(mode 0600\)/),
        ]));
      } finally {
        await chmod(filter, 0o700);
      }
      // A stick whose [home] lost its SPOOF_USER (fwknop then sends the login name): REQUIRE_USERNAME refuses it.
      const stick = join(lab.dir, 'custom-stick');
      await mkdir(join(stick, '.ssh'), { recursive: true, mode: 0o700 });
      await writeFile(join(stick, '.ssh', 'config'), `Host home\n  HostName ${SERVER_ADDR}\n  Port 2222\n`, { mode: 0o600 });
      await writeFile(join(stick, '.ssh', 'fwknoprc'), (await readFile(rc, 'utf8')).replace(/^SPOOF_USER .*\n/m, ''), { mode: 0o600 });
      const noUser = await doctor(lab.serverNs, out, join(fwknopd?.dir ?? '', 'fwknopd.pid'), { args: ['--stick', stick] });
      expect(errorsOf(noUser)).toEqual(expect.arrayContaining([expect.stringMatching(/^stick:spa: the stick's \[home\] .* sends no SPOOF_USER .* REQUIRE_USERNAME alice refuses anyone else/)]));
      await rename(filter, `${filter}.away`);
      try {
        const gone = await doctor(lab.serverNs, out, join(fwknopd?.dir ?? '', 'fwknopd.pid'));
        expect(errorsOf(gone)).toEqual([expect.stringMatching(/^access:cmd-exec: .*SUDO_EXE \S+spa-command-filter, which does not exist: every command fails/)]);
      } finally {
        await rename(`${filter}.away`, filter);
      }
    });

    it('a packet to the old port 62201 reaches nothing; the same stanza on 40001 opens tcp/2222 for the client', async () => {
      const old = await variant(rc, 'oldport', /SPA_SERVER_PORT +40001\n/, 'SPA_SERVER_PORT  62201\n');
      expect((await spaSend(lab, old)).exitCode).toBe(0);
      // fwknopd never hears of it (the firewall drops udp/62201 and nothing listens there).
      await new Promise((r) => setTimeout(r, 700));
      expect(fwknopd?.output()).not.toMatch(/SPA Packet from IP/);
      expect(await inSet()).toBe(false);
      expect(await connects(lab, SERVER_ADDR, 2222)).toBe(false);

      const sent = await spaSend(lab, rc);
      expect(sent.exitCode === 0 ? 0 : sent).toBe(0);
      expect(await waitFor(inSet, 5000)).toBe(true);
      expect(await connects(lab, SERVER_ADDR, 2222)).toBe(true);
      await lab.run(lab.serverNs, 'nft', ['flush', 'set', 'inet', 'knockstick', 'spa4']);
    });

    it('REQUIRE_USERNAME: a packet from another user is refused', async () => {
      const bob = await variant(rc, 'bob', /SPOOF_USER +alice\n/, 'SPOOF_USER       bob\n');
      expect((await spaSend(lab, bob)).exitCode).toBe(0);
      expect(await waitFor(async () => /Username in SPA data \(bob\) does not match required username: alice/.test(fwknopd?.output() ?? ''), 5000)).toBe(true);
      expect(await inSet()).toBe(false);
    });

    it('REQUIRE_SOURCE_ADDRESS: a packet saying "the address I come from" (0.0.0.0) is refused', async () => {
      const source = await variant(rc, 'source', /ALLOW_IP +local\n/, 'ALLOW_IP         source\n');
      expect((await spaSend(lab, source)).exitCode).toBe(0);
      expect(await waitFor(async () => /Got 0\.0\.0\.0 when valid source IP was required/.test(fwknopd?.output() ?? ''), 5000)).toBe(true);
      expect(await inSet()).toBe(false);
    });

    it('a command matching --allow-command runs; one outside the regex does not', async () => {
      // The door's stanza [home] runs no command: its keys open the door only.
      const door = await spaSend(lab, rc, ['--server-cmd', `touch ${marks}/ok`]);
      expect(door.exitCode).toBe(0);
      await new Promise((r) => setTimeout(r, 500));
      expect(await stat(join(marks, 'ok')).catch(() => null)).toBeNull();
      const ok = await spaSend(lab, rc, ['--server-cmd', `touch ${marks}/ok`], 'home-command');
      expect(ok.exitCode === 0 ? 0 : ok).toBe(0);
      const ran = await waitFor(async () => (await stat(join(marks, 'ok')).catch(() => null)) !== null, 5000);
      expect(ran ? true : fwknopd?.output()).toBe(true);
      const evil = await spaSend(lab, rc, ['--server-cmd', `touch ${marks}/evil`], 'home-command');
      expect(evil.exitCode).toBe(0);
      expect(await waitFor(async () => /refused SPA command \(not matching --allow-command\): touch \S+\/evil/.test(fwknopd?.output() ?? ''), 5000)).toBe(true);
      expect(await stat(join(marks, 'evil')).catch(() => null)).toBeNull();
      // A command message opens no door.
      expect(await inSet()).toBe(false);
    });

    it("spa send --server-log prints fwknopd's answer to a command: its exit status, or the refusal", async () => {
      // fwknopd's log here is its -f output, appended to a file as syslog would.
      const log = join(lab.dir, 'fwknopd.log');
      await writeFile(log, '');
      fwknopd?.process.stderr?.on('data', (c: Buffer) => void appendFile(log, c));
      fwknopd?.process.stdout?.on('data', (c: Buffer) => void appendFile(log, c));
      const ok = await spaSend(lab, rc, ['--server-cmd', `touch ${marks}/fine`, '--server-log', log], 'home-command');
      expect(ok.exitCode === 0 ? 0 : ok).toBe(0);
      expect(ok.stdout).toMatch(/^fwknopd: .*Processing SPA Command message: command='touch \S+\/fine'/m);
      expect(ok.stdout).toMatch(/^fwknopd: .*CMD_EXEC: command returned 0, pid_status: 0$/m);
      const evil = await spaSend(lab, rc, ['--server-cmd', `touch ${marks}/evil2`, '--server-log', log], 'home-command');
      expect(evil.stdout).toMatch(/^fwknopd: knockstick: refused SPA command \(not matching --allow-command\): touch \S+\/evil2$/m);
      expect(evil.stdout).toMatch(/^fwknopd: .*CMD_EXEC: command returned \d+, pid_status: 126$/m);
    });

    it('fwknopd as the systemd drop-in starts it: a daemon with its pidfile; SIGTERM ends it with status 0 (no restart)', async () => {
      await fwknopd?.stop();
      expect((await fwknopd?.process)?.exitCode).toBe(0);
      fwknopd = undefined;
      const dropIn = await readFile(join(out, 'fwknopd.service.conf'), 'utf8');
      expect(dropIn).toMatch(/^Type=forking$/m);
      expect(dropIn).toMatch(/^Restart=on-failure$/m);
      const exec = /^ExecStart=(\/usr\/sbin\/fwknopd .+)$/m.exec(dropIn)?.[1]?.split(' ') as string[];
      const pidfile = /^PIDFile=(.+)$/m.exec(dropIn)?.[1] as string;
      expect(exec).toContain(pidfile);
      // Forks and returns, as Type=forking expects; the digest cache stays in the lab directory.
      await lab.run(lab.serverNs, exec[0] as string, [...exec.slice(1), '-d', join(out, 'digest.cache'), '-r', out]);
      expect(await waitFor(async () => /^\d+\s*$/.test(await readFile(pidfile, 'utf8').catch(() => '')), 5000)).toBe(true);
      const pid = Number(await readFile(pidfile, 'utf8'));
      expect(isProcessAlive(pid)).toBe(true);
      process.kill(pid, 'SIGTERM');
      expect(await waitFor(async () => !isProcessAlive(pid), 5000)).toBe(true);
    });

    it('panic: the [panic] knock stops fwknopd (by its pidfile) and closes its open door; a new SPA packet then opens nothing', async () => {
      // fwknopd as the drop-in starts it, and a door open for the client.
      const dropIn = await readFile(join(out, 'fwknopd.service.conf'), 'utf8');
      const exec = /^ExecStart=(\/usr\/sbin\/fwknopd .+)$/m.exec(dropIn)?.[1]?.split(' ') as string[];
      const pidfile = /^PIDFile=(.+)$/m.exec(dropIn)?.[1] as string;
      await lab.run(lab.serverNs, exec[0] as string, [...exec.slice(1), '-d', join(out, 'digest.cache'), '-r', out]);
      expect(await waitFor(async () => /^\d+\s*$/.test(await readFile(pidfile, 'utf8').catch(() => '')), 5000)).toBe(true);
      const fwPid = Number(await readFile(pidfile, 'utf8'));
      const sent = await spaSend(lab, rc);
      expect(sent.exitCode === 0 ? 0 : sent).toBe(0);
      expect(await waitFor(inSet, 5000)).toBe(true);
      // knockd listens for the panic knock only: panic rotate makes its knockd.conf from the SPA server's server.conf.
      const sequence = '41011,41012,41013';
      const knockdConf = join(lab.dir, 'knockd-panic.conf');
      const knockdLog = join(lab.dir, 'knockd-panic.log');
      const rotate = await knockstick(['panic', 'rotate', '--server-config', join(out, 'server.conf'), '--knockd-conf', knockdConf, '--sequence', sequence, '--pidfile', join(lab.dir, 'knockd-panic.pid'), '--no-reload']);
      expect(rotate.exitCode === 0 ? 0 : rotate.stderr).toBe(0);
      const conf = await readFile(knockdConf, 'utf8');
      expect(conf).toContain(`: knockstick stops fwknopd too; kill -TERM "$(cat '${pidfile}')"`);
      expect(conf).toContain('nft flush set inet knockstick spa4');
      // Its log into a file here (syslog on a server), to see knockd start.
      await writeFile(knockdConf, conf.replace('[options]\n', `[options]\n  logfile = ${knockdLog}\n`));
      const knockdPid = await startKnockdDaemon(lab, knockdConf, join(lab.dir, 'knockd-panic.pid'), knockdLog);
      try {
        const panic = await runIn(lab.clientNs, process.execPath, [join(DIST_BIN, 'knockstick.js'), 'panic', 'send', '--hostname', SERVER_ADDR, '--sequence', sequence], { env: ENV(lab) });
        expect(panic.exitCode === 0 ? 0 : panic).toBe(0);
        expect(await waitFor(async () => !isProcessAlive(fwPid), 8000) ? 'gone' : await readFile(knockdLog, 'utf8')).toBe('gone');
        expect(await waitFor(async () => !(await inSet()), 5000)).toBe(true);
        expect(await connects(lab, SERVER_ADDR, 2222)).toBe(false);
        expect(await waitFor(async () => !isProcessAlive(knockdPid), 8000)).toBe(true);
        // A fresh, valid packet: nobody reads it, nothing opens.
        expect((await spaSend(lab, rc)).exitCode).toBe(0);
        await new Promise((r) => setTimeout(r, 1000));
        expect(await inSet()).toBe(false);
        expect(await connects(lab, SERVER_ADDR, 2222)).toBe(false);
      } finally {
        if (isProcessAlive(knockdPid)) process.kill(knockdPid, 'SIGKILL');
        if (isProcessAlive(fwPid)) process.kill(fwPid, 'SIGKILL');
      }
    });
  });

  describe('ufw: fwknopd opens and closes the door with the real ufw (CMD_CYCLE)', () => {
    let out: string;
    let ufw: ReturnType<Lab['spawn']> | undefined;
    let output = '';
    const userRules = async (): Promise<string> => lab.run(lab.serverNs, 'iptables', ['-S', 'ufw-user-input']).catch(() => '');

    beforeAll(async () => {
      out = join(lab.dir, 'ufw');
      await init(['--spa-server', SERVER_ADDR, '--interface', lab.serverIf, '--out', out, '--firewall', 'ufw', '--cmd-timeout', '2']);
      // ufw keeps its state in /etc/ufw and /etc/default/ufw: a private copy of each, bind-mounted in
      // a mount namespace of fwknopd's own (ip netns exec gives one), so the host's ufw never changes.
      const etc = join(lab.dir, 'ufw-etc');
      await cp('/etc/ufw', etc, { recursive: true });
      await cp('/etc/default/ufw', join(lab.dir, 'ufw-default'));
      const script = [
        'set -e',
        'mount --bind "$1" /etc/ufw',
        'mount --bind "$2" /etc/default/ufw',
        'mount -t tmpfs tmpfs /run',
        'sh "$3" >/dev/null',
        'echo ufw-ready',
        'exec /usr/sbin/fwknopd -f -v -c "$4" -a "$5" -d "$6/digest.cache" -p "$6/fwknopd.pid" -r "$6"',
      ].join('\n');
      ufw = lab.spawn(lab.serverNs, 'sh', ['-c', script, 'sh', etc, join(lab.dir, 'ufw-default'), join(out, 'ufw-spa.sh'), join(out, 'fwknopd.conf'), join(out, 'access.conf'), out]);
      ufw.stdout?.on('data', (c: Buffer) => (output += c.toString()));
      ufw.stderr?.on('data', (c: Buffer) => (output += c.toString()));
      expect(await waitFor(async () => output.includes('Kicking off UDP server'), 20_000)).toBe(true);
      greeter(lab, lab.serverNs, SERVER_ADDR, 22);
    });
    afterAll(async () => {
      ufw?.kill('SIGTERM');
      await ufw;
    });

    it('ufw lets only the SPA port in; a packet adds "allow from CLIENT to port 22", CMD_CYCLE_CLOSE deletes it', async () => {
      expect(await userRules()).toMatch(/-A ufw-user-input -p udp -m udp --dport 62201 -j ACCEPT/);
      expect(await userRules()).not.toContain(CLIENT_ADDR);
      expect(await connects(lab, SERVER_ADDR, 22)).toBe(false);
      const sent = await spaSend(lab, join(out, 'fwknoprc.client'));
      expect(sent.exitCode === 0 ? 0 : sent).toBe(0);
      expect(await waitFor(async () => (await userRules()).includes(`-s ${CLIENT_ADDR}/32 -p tcp -m tcp --dport 22 -j ACCEPT`), 8000)).toBe(true);
      expect(await connects(lab, SERVER_ADDR, 22)).toBe(true);
      expect(output).toMatch(/Running CMD_CYCLE_OPEN command: \/usr\/sbin\/ufw allow proto tcp from 198\.18\.0\.2 to any port 22/);
      // CMD_CYCLE_TIMER 2: fwknopd runs the close command, the rule goes.
      expect(await waitFor(async () => !(await userRules()).includes(CLIENT_ADDR), 10_000, 200)).toBe(true);
      expect(await connects(lab, SERVER_ADDR, 22)).toBe(false);
    });

    it('doctor gives a clean bill (ufw doors by CMD_CYCLE), and names an ufw rule letting SSH in for everyone', async () => {
      const clean = await doctor(lab.serverNs, out, join(out, 'fwknopd.pid'));
      expect({ exitCode: clean.exitCode, errors: errorsOf(clean) }).toEqual({ exitCode: 0, errors: [] });
      expect(clean.findings.find((f) => f.id === 'fwknopd:firewall')?.message).toMatch(/udp\/62201 reaches fwknopd/);
      // What "ufw allow 22/tcp" adds (in ufw's own chain, as ufw would; the host's ufw is not touched).
      await lab.run(lab.serverNs, 'iptables', ['-A', 'ufw-user-input', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
      try {
        const sick = await doctor(lab.serverNs, out, join(out, 'fwknopd.pid'));
        expect(errorsOf(sick)).toEqual([expect.stringMatching(/^fwknopd:firewall: the firewall accepts SSH \(port 22\) from anyone/)]);
      } finally {
        await lab.run(lab.serverNs, 'iptables', ['-D', 'ufw-user-input', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
      }
    });
  });

  describe('behind a router: the router forwards the SPA port and SSH to the inner host', () => {
    let out: string;
    let inner: string;
    const inner4 = INNER_ADDRS[0];

    beforeAll(async () => {
      // The server namespace of phases 1 and 2 becomes the router; fwknopd now runs on the inner host.
      await lab.run(lab.serverNs, 'iptables', ['-F']).catch(() => '');
      for (const chain of ['INPUT', 'FORWARD']) await lab.run(lab.serverNs, 'iptables', ['-P', chain, 'ACCEPT']).catch(() => '');
      inner = await addInnerNetwork(lab);
      out = join(lab.dir, 'router');
      await init(['--spa-server', SERVER_ADDR, '--interface', 'ks-inner', '--out', out, '--behind-router', inner4, '--spa-port', '40002']);
      await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'router-spa.nft')]);
      await lab.run(inner, 'nft', ['-f', join(out, 'firewall-spa.nft')]);
      greeter(lab, inner, inner4, 22);
      const child = lab.spawn(inner, '/usr/sbin/fwknopd', ['-f', '-v', '-c', join(out, 'fwknopd.conf'), '-a', join(out, 'access.conf'), '-d', join(out, 'digest.cache'), '-p', join(out, 'fwknopd.pid'), '-r', out]);
      let output = '';
      child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
      expect(await waitFor(async () => output.includes('Kicking off UDP server'), 10_000)).toBe(true);
    });

    it('SSH through the router is closed until a packet sent to the router opens the inner host\'s door', async () => {
      expect(await connects(lab, SERVER_ADDR, 22)).toBe(false);
      const sent = await spaSend(lab, join(out, 'fwknoprc.client'));
      expect(sent.exitCode === 0 ? 0 : sent).toBe(0);
      // The door is in the inner host's own set, for the client's real address (the router does not masquerade).
      expect(await waitFor(async () => (await lab.run(inner, 'nft', ['list', 'set', 'inet', 'knockstick', 'spa4'])).includes(CLIENT_ADDR), 5000)).toBe(true);
      expect(await connects(lab, SERVER_ADDR, 22)).toBe(true);
    });

    it('doctor on the inner host gives a clean bill', async () => {
      const clean = await doctor(inner, out, join(out, 'fwknopd.pid'));
      expect({ exitCode: clean.exitCode, errors: errorsOf(clean) }).toEqual({ exitCode: 0, errors: [] });
      expect(clean.findings.find((f) => f.id === 'fwknopd')?.message).toMatch(/fwknopd is running/);
    });
  });
});
