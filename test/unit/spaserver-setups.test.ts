// server init --method spa's set-ups, rendered: each option's lines in fwknopd.conf, access.conf,
// the firewall, the drop-ins, server.conf and the client stanza; the regex's escaping; the
// refusals; and the pure parts of spa send --server-log.

import { describe, expect, it, beforeAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTemplate } from '../../src/core/templates.js';
import { parseConfig } from '../../src/core/config.js';
import { SPA_TEMPLATE_NAMES, clientStanza, planSpaFiles, spaInitProblem, spaInstallSteps, spaPathsIn, type SpaPlanOptions } from '../../src/server/spa.js';
import { allowCommandProblem, renderCommandFilter, spaStanzaLines, ufwDoorLines } from '../../src/server/spa-setups.js';
import { answerLines, isFinal } from '../../src/spa/server-log.js';
import { parseRcText, resolveStanza } from '../../src/spa/rc-file.js';
import { sendSpa } from '../../src/spa/client.js';
import { decodeSpaPacket } from '../../src/spa/packet.js';
import type { PlannedFile } from '../../src/server/plan.js';

let templates: Record<string, string>;
beforeAll(async () => {
  templates = Object.fromEntries(await Promise.all(SPA_TEMPLATE_NAMES.map(async (n) => [n, await loadTemplate(n)] as const)));
});

const keys = { encryption: Buffer.alloc(32, 1), hmac: Buffer.alloc(64, 2) };
const base: SpaPlanOptions = { interface: 'eth0', firewall: 'nftables', sshPort: 22, doorSeconds: 10, doorPolicy: 'single-use', spaServer: 'h', keys, paths: spaPathsIn('/srv/spa'), allow: [] };
const plan = (o: Partial<SpaPlanOptions> = {}): PlannedFile[] => planSpaFiles({ ...base, ...o }, templates);
const file = (files: PlannedFile[], name: string): PlannedFile => {
  const f = files.find((x) => x.path.endsWith(`/${name}`));
  if (f === undefined) throw new Error(`no ${name} among ${files.map((x) => x.path).join(', ')}`);
  return f;
};

describe('server init --method spa: what each option writes', () => {
  it('defaults: UDP server on 62201 with a matching PCAP_FILTER, command messages off, no filter, no router file', () => {
    const files = plan();
    const conf = file(files, 'fwknopd.conf').text;
    expect(conf).toMatch(/^UDPSERV_PORT +62201;$/m);
    expect(conf).toMatch(/^PCAP_FILTER +udp port 62201;$/m);
    expect(conf).not.toContain('SUDO_EXE');
    expect(conf).toMatch(/^FWKNOP_PID_FILE +\/srv\/spa\/fwknopd.pid;$/m);
    expect(conf.endsWith(';\n')).toBe(true);
    const access = file(files, 'access.conf').text;
    expect(access).not.toMatch(/^ENABLE_CMD_EXEC/m);
    expect(access).toContain('# Command messages (fwknop --server-cmd) are refused: ENABLE_CMD_EXEC is off.');
    expect(files.map((f) => f.path.slice('/srv/spa/'.length))).toEqual(['fwknopd.conf', 'access.conf', 'firewall-spa.nft', 'sshd-knockstick.conf', 'fwknopd.service.conf', 'server.conf']);
  });

  it('--spa-port: UDPSERV_PORT, PCAP_FILTER, the firewall lets that udp port in and no other, the stanza gets SPA_SERVER_PORT', () => {
    const files = plan({ spaPort: 40001 });
    expect(file(files, 'fwknopd.conf').text).toMatch(/^UDPSERV_PORT +40001;\n#.*\nPCAP_FILTER +udp port 40001;$/m);
    const nft = file(files, 'firewall-spa.nft').text;
    expect(nft).toContain('    udp dport 40001 accept\n');
    expect(nft).not.toContain('62201');
    const ipt = file(plan({ spaPort: 40001, firewall: 'iptables', doorPolicy: 'window' }), 'iptables-spa.rules').text;
    expect(ipt).toContain('-A INPUT -p udp --dport 40001 -j ACCEPT\n');
    expect(ipt).not.toContain('62201');
    expect(clientStanza({ spaServer: 'h', sshPort: 22, keys, spaPort: 40001 })).toMatch(/^SPA_SERVER_PORT +40001$/m);
    expect(clientStanza({ spaServer: 'h', sshPort: 22, keys, spaPort: 62201 })).not.toContain('SPA_SERVER_PORT');
  });

  it('--firewall ufw: CMD_CYCLE_OPEN/CLOSE run ufw with $SRC and the SSH port (not $PROTO, a number), and ufw-spa.sh', () => {
    expect(ufwDoorLines(2222, 30)).toBe(
      [
        'CMD_CYCLE_OPEN          /usr/sbin/ufw allow proto tcp from $SRC to any port 2222',
        'CMD_CYCLE_CLOSE         /usr/sbin/ufw delete allow proto tcp from $SRC to any port 2222',
        'CMD_CYCLE_TIMER         30',
      ].join('\n'),
    );
    const files = plan({ firewall: 'ufw', doorPolicy: 'window', sshPort: 2222, doorSeconds: 30, allow: [{ protocol: 'tcp', port: 443 }] });
    expect(file(files, 'access.conf').text).toContain(ufwDoorLines(2222, 30));
    const script = file(files, 'ufw-spa.sh');
    expect(script.mode).toBe(0o700);
    expect(script.text).toMatch(/^ufw default deny incoming\nufw allow 62201\/udp\n/m);
    expect(script.text).toMatch(/^ufw delete allow 2222\/tcp >\/dev\/null 2>&1 \|\| true$/m);
    expect(script.text).toMatch(/^ufw allow 443\/tcp$/m);
    expect(script.text).toMatch(/^ufw --force enable\n$/m);
    expect(file(files, 'server.conf').text).toMatch(/^firewall = ufw\ndoor_policy = window$/m);
    // fwknopd's command buffer is 256 bytes.
    expect(ufwDoorLines(65535, 3600).split('\n').every((l) => l.replace(/^\S+\s+/, '').length < 256)).toBe(true);
  });

  it('ufw doors are windows: --door-policy single-use with ufw (or iptables) is refused with the reason', () => {
    expect(spaInitProblem({ 'spa-server': 'h', firewall: 'ufw', 'door-policy': 'single-use' })).toMatch(/with ufw the doors are ufw rules fwknopd adds and deletes/);
    expect(spaInitProblem({ 'spa-server': 'h', firewall: 'iptables', 'door-policy': 'single-use' })).toMatch(/fwknopd's own rules/);
    expect(spaInitProblem({ 'spa-server': 'h', firewall: 'ufw', 'door-policy': 'window' })).toBeUndefined();
    expect(spaInitProblem({ firewall: 'ufw' }, true)).toBeUndefined();
    expect(spaInitProblem({ firewall: 'ufw' })).toMatch(/needs --spa-server/);
  });

  it('--require-username and --require-source: the stanza demands them; the client sends SPOOF_USER and ALLOW_IP local', () => {
    const access = file(plan({ requireUsername: 'alice', requireSource: true }), 'access.conf').text;
    expect(access).toMatch(/^REQUIRE_USERNAME +alice\nREQUIRE_SOURCE_ADDRESS +Y$/m);
    const stanza = clientStanza({ spaServer: 'h', sshPort: 22, keys, requireUsername: 'alice', requireSource: true });
    expect(stanza).toMatch(/^SPOOF_USER +alice$/m);
    expect(stanza).toMatch(/^ALLOW_IP +local$/m);
    const resolved = resolveStanza(parseRcText(stanza, 'rc'), 'home', 'rc');
    expect(resolved.problems).toEqual([]);
    expect(resolved.config?.allowIp).toBe('local');
    expect(resolved.config?.username).toBe('alice');
    expect(() => plan({ requireUsername: 'a b' })).toThrow(/user name/);
    expect(() => plan({ requireUsername: '-x' })).toThrow(/user name/);
  });

  it('--ssh-port: OPEN_PORTS, the door rule and the sshd drop-in Port', () => {
    const files = plan({ sshPort: 2222 });
    expect(file(files, 'access.conf').text).toMatch(/^OPEN_PORTS +tcp\/2222$/m);
    expect(file(files, 'firewall-spa.nft').text).toContain('tcp dport 2222 delete @spa4');
    expect(file(files, 'sshd-knockstick.conf').text).toMatch(/\nPort 2222\n$/);
    expect(file(plan(), 'sshd-knockstick.conf').text).not.toMatch(/^Port/m);
  });

  it('--allow-command: SUDO_EXE is the filter; command messages get a stanza with keys of their own, and CMD_REGEX says the regex', () => {
    const commandKeys = { encryption: Buffer.alloc(32, 3), hmac: Buffer.alloc(64, 4) };
    for (const firewall of ['nftables', 'iptables', 'ufw'] as const) {
      const files = plan({ firewall, doorPolicy: firewall === 'nftables' ? 'single-use' : 'window', allowCommand: 'systemctl restart (nginx|ssh)', requireUsername: 'alice', commandKeys });
      expect(file(files, 'fwknopd.conf').text).toMatch(/^SUDO_EXE +\/srv\/spa\/spa-command-filter;$/m);
      const access = file(files, 'access.conf').text;
      const stanzas = access.split(/^(?=SOURCE )/m).slice(1);
      expect(stanzas).toHaveLength(2);
      expect(stanzas[0]).not.toMatch(/^ENABLE_CMD_EXEC/m);
      expect(stanzas[0]).toContain(`KEY_BASE64              ${keys.encryption.toString('base64')}`);
      // The command stanza: its own keys, can open nothing but the SPA port (open to all anyway), the same demands.
      expect(stanzas[1]).toMatch(/^OPEN_PORTS +udp\/62201$/m);
      expect(stanzas[1]).not.toMatch(/^CMD_CYCLE/m);
      expect(stanzas[1]).toMatch(/^FW_ACCESS_TIMEOUT +1$/m);
      expect(stanzas[1]).toMatch(/^REQUIRE_USERNAME +alice$/m);
      expect(stanzas[1]).toMatch(/^ENABLE_CMD_EXEC +Y\nENABLE_CMD_SUDO_EXEC +Y\nCMD_REGEX +systemctl restart \(nginx\|ssh\)$/m);
      expect(stanzas[1]).toContain(`KEY_BASE64              ${commandKeys.encryption.toString('base64')}`);
      expect(stanzas[1]).toContain(`HMAC_KEY_BASE64         ${commandKeys.hmac.toString('base64')}`);
      expect(stanzas[1]).not.toContain(keys.encryption.toString('base64'));
    }
    expect(() => plan({ allowCommand: 'true' })).toThrow(/command stanza's keys/);
    const filter = file(plan({ allowCommand: 'systemctl restart (nginx|ssh)', commandKeys: keys }), 'spa-command-filter');
    expect(filter.mode).toBe(0o700);
    expect(filter.text).toContain("ALLOW='systemctl restart (nginx|ssh)'\n");
    expect(spaStanzaLines({}, { spaPort: 1, keyLines: 'K' })).not.toContain('SOURCE');
  });

  it('the regex is single-quoted for sh, and the filter runs a matching command and refuses others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spaserver-filter-'));
    try {
      const regex = "echo (it's|x)|printf %s \\$HOME";
      const script = renderCommandFilter(templates['spa-command-filter.sh'] as string, regex);
      expect(script).toContain(`ALLOW='echo (it'\\''s|x)|printf %s \\$HOME'\n`);
      const path = join(dir, 'filter');
      writeFileSync(path, script, { mode: 0o700 });
      const run = (...args: string[]): { status: number; out: string } => {
        try {
          return { status: 0, out: execFileSync('sh', [path, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
        } catch (error) {
          const e = error as { status: number; stderr: string };
          return { status: e.status, out: e.stderr };
        }
      };
      expect(run('echo', "it's")).toEqual({ status: 0, out: "it's\n" });
      expect(run('printf', '%s', '$HOME')).toEqual({ status: 0, out: '$HOME' });
      // Anchored at both ends: a longer command, or one joined with a newline, does not match.
      expect(run('echo', "it's", 'rm')).toMatchObject({ status: 126 });
      expect(run('echo', "x\nrm")).toMatchObject({ status: 126 });
      expect(run('rm', '-rf', '/nonexistent-spaserver')).toMatchObject({ status: 126, out: expect.stringContaining('refused SPA command') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses regexes that would be no filter at all, or could not be one line', () => {
    expect(allowCommandProblem('.*')).toMatch(/allows every command/);
    expect(allowCommandProblem('')).toMatch(/empty/);
    expect(allowCommandProblem('a\nb')).toMatch(/printable ASCII/);
    expect(allowCommandProblem('systemctl restart nginx')).toBeUndefined();
  });

  it('--behind-router: router-spa.nft forwards the SPA port and SSH to the inner address', () => {
    const router = file(plan({ behindRouter: '192.168.1.10', spaPort: 40001, sshPort: 2222 }), 'router-spa.nft').text;
    expect(router).toContain('    fib daddr type local udp dport 40001 dnat to 192.168.1.10\n    fib daddr type local tcp dport 2222 dnat to 192.168.1.10\n');
  });

  it('the systemd drop-in: forking with a pidfile, restarted on failure but not after SIGKILL', () => {
    const text = file(plan(), 'fwknopd.service.conf').text;
    expect(text).toContain(
      [
        '[Service]',
        'Type=forking',
        'PIDFile=/srv/spa/fwknopd.pid',
        'ExecStart=',
        'ExecStart=/usr/sbin/fwknopd -c /srv/spa/fwknopd.conf -a /srv/spa/access.conf -p /srv/spa/fwknopd.pid',
        'Restart=on-failure',
        'RestartSec=2',
        'RestartPreventExitStatus=SIGKILL',
      ].join('\n'),
    );
  });

  it('server.conf says method = spa with the ports and files, and parses as a server config', () => {
    const text = file(plan({ spaPort: 40001, sshPort: 2222 }), 'server.conf').text;
    const { config, problems } = parseConfig(text, 'server.conf', 'server');
    expect(problems).toEqual([]);
    expect(config.global).toEqual({ method: 'spa', sshPort: 2222, spaPort: 40001, fwknopdConf: '/srv/spa/fwknopd.conf', accessConf: '/srv/spa/access.conf', pidfile: '/srv/spa/fwknopd.pid', firewall: 'nftables', doorPolicy: 'single-use' });
    expect(parseConfig('spa_port = 0\n', 's', 'server').problems[0]?.message).toMatch(/spa_port must be a port number/);
    expect(parseConfig('fwknopd_conf = x\n', 's', 'server').problems[0]?.message).toMatch(/absolute path/);
  });
});

describe('server init --method spa --out: installing the staging copy', () => {
  it('installs every file at its system path, then points the files that name others at the system paths', () => {
    const files = plan({ allowCommand: 'true', commandKeys: keys, firewall: 'ufw', doorPolicy: 'window' });
    const steps = spaInstallSteps(files, base.paths, 'ufw');
    expect(steps).toContain('install --backup=numbered -D -m 0644 /srv/spa/fwknopd.service.conf /etc/systemd/system/fwknop-server.service.d/knockstick.conf\n');
    expect(steps).toContain('install --backup=numbered -D -m 0700 /srv/spa/spa-command-filter /etc/knockstick/spa-command-filter\n');
    expect(steps).toContain('install --backup=numbered -D -m 0600 /srv/spa/server.conf /etc/knockstick/server.conf\n');
    const sed = /sed -i '([^']+)' (.+)\n/.exec(steps);
    expect(sed?.[2]).toBe('/etc/fwknop/fwknopd.conf /etc/systemd/system/fwknop-server.service.d/knockstick.conf /etc/knockstick/server.conf');
    // The sed script, applied to the drop-in and fwknopd.conf, gives the system paths.
    const apply = (text: string): string =>
      (sed?.[1] ?? '').split('; ').reduce((t, cmd) => {
        const [, from, to] = /^s\|(.+)\|(.+)\|g$/.exec(cmd) ?? [];
        return t.split(from as string).join(to as string);
      }, text);
    expect(apply(file(files, 'fwknopd.service.conf').text)).toContain('ExecStart=/usr/sbin/fwknopd -c /etc/fwknop/fwknopd.conf -a /etc/fwknop/access.conf -p /run/fwknop/fwknopd.pid\n');
    expect(apply(file(files, 'fwknopd.conf').text)).toMatch(/^SUDO_EXE +\/etc\/knockstick\/spa-command-filter;$/m);
    expect(apply(file(files, 'server.conf').text)).toMatch(/^fwknopd_conf = \/etc\/fwknop\/fwknopd.conf\naccess_conf = \/etc\/fwknop\/access.conf\npidfile = \/run\/fwknop\/fwknopd.pid$/m);
    expect(steps).toContain('sh /etc/knockstick/ufw-spa.sh\n');
    expect(steps).toContain('ufw disable');
  });
});

describe('ALLOW_IP local (the stick\'s stanza for --require-source)', () => {
  it('puts the address this machine sends from into the packet, and SPOOF_USER as the user', async () => {
    const stanza = clientStanza({ spaServer: '198.18.0.1', sshPort: 2222, keys, requireUsername: 'alice', requireSource: true, spaPort: 40001 });
    const config = resolveStanza(parseRcText(stanza, 'rc'), 'home', 'rc').config;
    if (config === undefined) throw new Error('stanza did not resolve');
    const sent: { port: number; wire: string }[] = [];
    const deps = {
      sender: { send: async (target: { port: number }, wire: string) => void sent.push({ port: target.port, wire }) },
      now: () => 1_700_000_000_000,
      resolveServer: async (host: string) => host,
      username: () => 'root',
      localAddress: async () => '192.0.2.5',
    };
    const err = { write: () => true, isTTY: false } as never;
    await sendSpa(config, {}, deps, err);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.port).toBe(40001);
    const fields = decodeSpaPacket(sent[0]?.wire as string, config.keys, config.modes);
    expect(fields.message).toBe('192.0.2.5,tcp/2222');
    expect(fields.username).toBe('alice');
  });
});

describe("spa send --server-log: fwknopd's lines about the packet", () => {
  const log = [
    'Nov 30 fwknopd[1]: (stanza #1) SPA Packet from IP: 198.18.0.2 received with access source match',
    'Nov 30 fwknopd[1]: (stanza #1) SPA Packet from IP: 198.18.0.20 received with access source match',
    "Nov 30 fwknopd[1]: [198.18.0.2] (stanza #2) Processing SPA Command message: command='touch /x'.",
    "Nov 30 fwknopd[1]: [198.18.0.2] (stanza #2) Running command '/etc/knockstick/spa-command-filter touch /x'",
    'knockstick: refused SPA command (not matching --allow-command): touch /x',
    'Nov 30 fwknopd[1]: [198.18.0.2] (stanza #2) CMD_EXEC: command returned 0, pid_status: 126',
    'Nov 30 sshd[2]: Accepted publickey for root from 198.18.0.2',
  ].join('\n');

  it('keeps the lines naming the address (not a longer one) and the filter\'s refusal', () => {
    const lines = answerLines(log, '198.18.0.2');
    expect(lines).toHaveLength(5);
    expect(lines.some((l) => l.includes('198.18.0.20'))).toBe(false);
    expect(lines.some((l) => l.includes('sshd'))).toBe(false);
    expect(isFinal(lines)).toBe(true);
    expect(isFinal(lines.slice(0, 3))).toBe(false);
  });
});
