// The Ansible lab: three server namespaces (sshd as root, nothing else: the knockstick_server role
// installs knockd or fwknopd and the firewall) and a controller namespace that reaches each over
// its own veth pair, with two sticks: stick A serves ks1 (knock, nftables) and ks2 (knock,
// iptables) under their own aliases, stick B serves ks3 (SPA, nftables) as "home" (server init
// --method spa writes the stick's [home] stanza). Shared by test/lab/ansible.test.ts and
// scripts/ansible-lab.
//
// The namespaces share the machine's filesystem, so each "host" gets its own install root
// (knockstick_root) and the controller its own stage directory, all inside the lab directory.
// ansible-playbook runs in the controller namespace with a private HOME and a control-socket
// directory per run: a ControlPersist master left by one run must not carry the next one in
// without a door (each run is counted as its own play).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { SERVER_ADDR, SSH_PORT, createLab, startSshd, type Lab, type RunResult, type SshdHandle } from './lab.js';
import { makeLabStick } from './stick.js';
import { proxyCommandFor } from '../core/door/proxy-command.js';
import { DOOR_DEFAULTS } from '../core/door/options.js';
import { proxiedConnectTimeout } from '../core/door/proxied.js';

/** The repository (dist/lab/ansible-lab.js or src/lab/ansible-lab.ts: two levels up). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ANSIBLE_DIR = join(REPO, 'ansible');

export interface AnsibleLabHost {
  /** Inventory name. */
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  readonly method: 'knock' | 'spa';
  readonly firewall: 'nftables' | 'iptables';
  /** The install root the role uses for this host (knockstick_root). */
  readonly root: string;
  readonly stick: string;
  /** The stick's ssh config alias (ansible_host). */
  readonly alias: string;
  readonly sshd: SshdHandle;
}

export interface AnsibleLab {
  readonly lab: Lab;
  readonly controllerNs: string;
  readonly hosts: readonly AnsibleLabHost[];
  /** A second stick for ks1 (knockstick_sticks): its own door [stick-NAME] and one-time file. */
  readonly member: { readonly name: string; readonly stick: string; readonly host: AnsibleLabHost };
  readonly inventory: string;
  /** Where the role's stage directories go (knockstick_stage_dir). */
  readonly stage: string;
  /** The host's one-time sequence file as the role installs it (knock hosts). */
  serverFile(host: AnsibleLabHost): string;
  /** ansible-playbook PLAYBOOK ARGS... in the controller namespace (cwd ansible/). */
  playbook(playbook: string, args?: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** A command in the controller namespace with the same environment as ansible. */
  controller(file: string, args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  teardown(): Promise<void>;
}

const EXTRA = [
  { suffix: 'a', address: '198.18.2.1', controller: '198.18.2.2', veth: 'ks-cli2' },
  { suffix: 'b', address: '198.18.3.1', controller: '198.18.3.2', veth: 'ks-cli3' },
] as const;

/** A Host entry of a lab stick's config: the ProxyCommand of usbsetup's sticks, absolute paths. */
function hostEntry(stick: string, alias: string, address: string): string {
  return [
    `Host ${alias}`,
    `  HostName ${address}`,
    '  User root',
    `  Port ${SSH_PORT}`,
    `  ProxyCommand ${proxyCommandFor([join(stick, 'knockstick')])}`,
    `  IdentityFile "${join(stick, '.ssh', 'id_ed25519')}"`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile "${join(stick, '.ssh', 'known_hosts')}"`,
    '  StrictHostKeyChecking yes',
    `  ConnectTimeout ${proxiedConnectTimeout(DOOR_DEFAULTS)}`,
    '',
  ].join('\n');
}

export async function createAnsibleLab(options: { count?: number; cmdTimeout?: number } = {}): Promise<AnsibleLab> {
  const lab = await createLab();
  try {
    const controllerNs = lab.clientNs;
    const namespaces: { ns: string; address: string }[] = [{ ns: lab.serverNs, address: SERVER_ADDR }];
    for (const extra of EXTRA) {
      const ns = await lab.addNamespace(extra.suffix);
      // The server side is ks-srv in every server namespace: the same --interface for all three.
      await execa('ip', ['link', 'add', 'ks-srv', 'netns', ns, 'type', 'veth', 'peer', 'name', extra.veth, 'netns', controllerNs]);
      await lab.run(ns, 'ip', ['link', 'set', 'lo', 'up']);
      await lab.run(ns, 'ip', ['addr', 'add', `${extra.address}/30`, 'dev', 'ks-srv']);
      await lab.run(ns, 'ip', ['link', 'set', 'ks-srv', 'up']);
      await lab.run(controllerNs, 'ip', ['addr', 'add', `${extra.controller}/30`, 'dev', extra.veth]);
      await lab.run(controllerNs, 'ip', ['link', 'set', extra.veth, 'up']);
      namespaces.push({ ns, address: extra.address });
    }
    // Root logins (the role runs nft, knockd) with an empty /root: no host dotfiles in the sessions.
    const sshds: SshdHandle[] = [];
    for (const [i, n] of namespaces.entries()) sshds.push(await startSshd(lab, { ns: n.ns, listen: n.address, name: `sshd-ks${i + 1}`, hideHostHome: true }));
    const [sshd1, sshd2, sshd3] = sshds as [SshdHandle, SshdHandle, SshdHandle];
    type Namespace = { ns: string; address: string };
    const [n1, n2, n3] = namespaces as [Namespace, Namespace, Namespace];

    // Stick A: ks1 and ks2 under their own aliases (one key, authorized on both).
    const stickA = join(lab.dir, 'stick-a');
    const a = await makeLabStick(stickA, sshd1, { proxyCommand: true });
    await writeFile(sshd2.authorizedKeys, await readFile(join(stickA, '.ssh', 'id_ed25519.pub'), 'utf8'), { flag: 'a' });
    await writeFile(join(stickA, '.ssh', 'known_hosts'), sshd1.knownHostsLine + sshd2.knownHostsLine, { mode: 0o600 });
    await writeFile(a.config, hostEntry(stickA, 'ks1', n1.address) + hostEntry(stickA, 'ks2', n2.address), { mode: 0o600 });
    // Stick C: a second stick for ks1 (a member, `stick add` by the role), under the same alias.
    const stickC = join(lab.dir, 'stick-c');
    const c = await makeLabStick(stickC, sshd1, { proxyCommand: true });
    await writeFile(c.config, hostEntry(stickC, 'ks1', n1.address), { mode: 0o600 });
    // Stick B: ks3 as "home" (SPA).
    const stickB = join(lab.dir, 'stick-b');
    const b = await makeLabStick(stickB, sshd3, { proxyCommand: true });
    await writeFile(b.config, hostEntry(stickB, 'home', n3.address), { mode: 0o600 });

    const host = (i: number, method: 'knock' | 'spa', firewall: 'nftables' | 'iptables', stick: string, alias: string): AnsibleLabHost => ({
      name: `ks${i + 1}`,
      ns: (namespaces[i] as Namespace).ns,
      address: (namespaces[i] as Namespace).address,
      method,
      firewall,
      root: join(lab.dir, `root-ks${i + 1}`),
      stick,
      alias,
      sshd: sshds[i] as SshdHandle,
    });
    const hosts = [host(0, 'knock', 'nftables', stickA, 'ks1'), host(1, 'knock', 'iptables', stickA, 'ks2'), host(2, 'spa', 'nftables', stickB, 'home')];
    const stage = join(lab.dir, 'stage');
    const home = join(lab.dir, 'controller-home');
    await mkdir(home, { recursive: true, mode: 0o700 });
    const inventory = join(lab.dir, 'inventory.yml');
    const member = { name: 'carol', stick: stickC, host: hosts[0] as AnsibleLabHost };
    await writeFile(inventory, inventoryText(hosts, { stage, lab, count: options.count ?? 20, cmdTimeout: options.cmdTimeout ?? 5, member }));

    let runs = 0;
    const controller = async (file: string, args: readonly string[], timeoutMs = 300_000): Promise<RunResult> => {
      // A control-socket directory per run: each ansible-playbook is its own play with its own doors.
      const cp = join(lab.dir, `cp-${runs++}`);
      await mkdir(cp, { recursive: true, mode: 0o700 });
      const env = {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: home,
        LANG: 'C.UTF-8',
        ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
        ANSIBLE_SSH_CONTROL_PATH_DIR: cp,
        ANSIBLE_LOCAL_TEMP: join(home, 'tmp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_HOST_KEY_CHECKING: 'True',
      };
      const result = await execa('ip', ['netns', 'exec', controllerNs, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...args], {
        reject: false,
        stdin: 'ignore',
        cwd: ANSIBLE_DIR,
        timeout: timeoutMs,
        extendEnv: false,
      });
      return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    };
    return {
      lab,
      controllerNs,
      hosts,
      member,
      inventory,
      stage,
      serverFile: (h) => join(h.root, 'etc', 'knockstick', 'ssh'),
      playbook: (playbook, args = [], timeoutMs) => controller('ansible-playbook', ['-i', inventory, playbook, ...args], timeoutMs),
      controller,
      async teardown() {
        // First every process the plays left in the namespaces (knockd -d, fwknopd, the rollback's
        // sleeping job, ssh masters): some hold a pipe of a lab child open, which the lab's own
        // teardown would wait on until they exit by themselves.
        for (const ns of [controllerNs, ...namespaces.map((n) => n.ns)]) await killAll(ns);
        await lab.teardown();
      },
    };
  } catch (error) {
    await lab.teardown();
    throw error;
  }
}

/** SIGKILL to every process in a namespace of this lab (by `ip netns pids`, never by name). */
async function killAll(ns: string): Promise<void> {
  const pids = String((await execa('ip', ['netns', 'pids', ns], { reject: false })).stdout).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** The lab's inventory: what a user writes for their own servers, plus the lab's install roots. */
function inventoryText(hosts: readonly AnsibleLabHost[], o: { stage: string; lab: Lab; count: number; cmdTimeout: number; member: AnsibleLab['member'] }): string {
  const q = (v: string | number) => JSON.stringify(v);
  const lines = [
    'knockstick_servers:',
    '  vars:',
    '    ansible_user: root',
    `    knockstick_interface: ks-srv`,
    '    knockstick_init: direct',
    `    knockstick_controller_command: [${q(process.execPath)}, ${q(join(REPO, 'dist', 'bin', 'knockstick.js'))}]`,
    `    knockstick_node: ${q(process.execPath)}`,
    `    knockstick_stage_dir: ${q(o.stage)}`,
    `    knockstick_count: ${o.count}`,
    `    knockstick_cmd_timeout: ${o.cmdTimeout}`,
    '  hosts:',
  ];
  for (const h of hosts) {
    lines.push(
      `    ${h.name}:`,
      `      ansible_host: ${h.alias}`,
      `      ansible_ssh_common_args: ${q(`-F ${join(h.stick, '.ssh', 'config')}`)}`,
      `      knockstick_stick: ${q(h.stick)}`,
      `      knockstick_alias: ${h.alias}`,
      `      knockstick_root: ${q(h.root)}`,
      `      knockstick_method: ${h.method}`,
      `      knockstick_firewall: ${h.firewall}`,
      `      knockstick_sshd_config: ${q(join(o.lab.dir, `sshd-${h.name}`, 'sshd_config'))}`,
      ...(h.method === 'spa' ? [`      knockstick_spa_server: ${h.address}`] : []),
      ...(o.member.host === h ? [`      knockstick_sticks: [{ name: ${o.member.name}, stick: ${q(o.member.stick)}, count: 10 }]`] : []),
    );
  }
  return `${lines.join('\n')}\n`;
}

