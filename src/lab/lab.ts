// The network lab: a server namespace and a client namespace joined by a veth pair, with the real
// knockd (and later sshd and a firewall) in the server namespace. Shared by lab tests, the demo and
// the benchmark.
//
// Hygiene: names carry the PID (ksl<pid>x), addresses are RFC 2544 benchmarking addresses that
// exist only inside the two namespaces, every wait is bounded, and teardown kills every process in
// both namespaces and deletes them, whatever happened. Leftovers of dead runs are removed first.

import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { isProcessAlive } from '../core/process.js';
import { DOORS_CHAIN, NFT_DOORS4, NFT_DOORS6, NFT_TABLE, doorCommands, type FirewallKind } from '../core/firewall.js';

export const LAB_PREFIX = 'ksl';
export const SERVER_ADDR = '198.18.0.1';
export const CLIENT_ADDR = '198.18.0.2';

let labCounter = 0;

export interface Lab {
  readonly id: string;
  readonly serverNs: string;
  readonly clientNs: string;
  /** The server side of the veth pair (knockd listens here). */
  readonly serverIf: string;
  readonly clientIf: string;
  /** A temp directory for configs, logs and files; removed at teardown. */
  readonly dir: string;
  /** Runs a command in a namespace; throws on failure. */
  run(ns: string, file: string, args: readonly string[]): Promise<string>;
  /** Starts a long-running process in a namespace; it is killed at teardown. */
  spawn(ns: string, file: string, args: readonly string[]): ResultPromise;
  /**
   * Creates one more namespace of this lab (name `${id}${suffix}`), removed at teardown: "i" the
   * router tests' inner network, "a" and "b" the Ansible lab's second and third servers.
   */
  addNamespace(suffix: 'i' | 'a' | 'b'): Promise<string>;
  teardown(): Promise<void>;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Fails with a clear reason when the lab cannot run here. */
export function requireLab(): void {
  if (!isRoot()) {
    throw new Error('lab tests need root (network namespaces, knockd); run them as root, e.g. `sudo scripts/test`');
  }
}

async function deleteNamespace(ns: string): Promise<void> {
  const pids = await execa('ip', ['netns', 'pids', ns], { reject: false });
  for (const pid of String(pids.stdout).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await execa('ip', ['netns', 'del', ns], { reject: false });
}

/** Removes namespaces left by lab runs whose process is gone (a crashed or killed test). */
export async function removeLeftovers(): Promise<string[]> {
  const list = await execa('ip', ['netns', 'list'], { reject: false });
  const removed: string[] = [];
  for (const line of String(list.stdout).split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const match = new RegExp(`^${LAB_PREFIX}(\\d+)x\\d+[sciab]$`).exec(ns);
    if (match !== null && !isProcessAlive(Number(match[1]))) {
      await deleteNamespace(ns);
      removed.push(ns);
    }
  }
  return removed;
}

export async function createLab(): Promise<Lab> {
  requireLab();
  await removeLeftovers();
  const id = `${LAB_PREFIX}${process.pid}x${labCounter++}`;
  const serverNs = `${id}s`;
  const clientNs = `${id}c`;
  const serverIf = 'ks-srv';
  const clientIf = 'ks-cli';
  const dir = await mkdtemp(join(tmpdir(), `${id}-`));
  const children = new Set<ResultPromise>();
  const extraNamespaces: string[] = [];

  const sh = async (file: string, args: readonly string[]): Promise<string> => String((await execa(file, [...args])).stdout);
  const lab: Lab = {
    id,
    serverNs,
    clientNs,
    serverIf,
    clientIf,
    dir,
    run: (ns, file, args) => sh('ip', ['netns', 'exec', ns, file, ...args]),
    spawn(ns, file, args) {
      const child = execa('ip', ['netns', 'exec', ns, file, ...args], { reject: false, stdin: 'ignore' });
      children.add(child);
      return child;
    },
    async addNamespace(suffix) {
      const ns = `${id}${suffix}`;
      await sh('ip', ['netns', 'add', ns]);
      extraNamespaces.push(ns);
      return ns;
    },
    async teardown() {
      for (const child of children) child.kill('SIGKILL');
      await Promise.allSettled([...children]);
      for (const ns of extraNamespaces) await deleteNamespace(ns);
      await deleteNamespace(clientNs);
      await deleteNamespace(serverNs);
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await sh('ip', ['netns', 'add', serverNs]);
    await sh('ip', ['netns', 'add', clientNs]);
    // Created directly inside the namespaces, so the fixed names never meet the host's interfaces.
    await sh('ip', ['link', 'add', serverIf, 'netns', serverNs, 'type', 'veth', 'peer', 'name', clientIf, 'netns', clientNs]);
    for (const [ns, ifname, addr] of [
      [serverNs, serverIf, SERVER_ADDR],
      [clientNs, clientIf, CLIENT_ADDR],
    ] as const) {
      await lab.run(ns, 'ip', ['link', 'set', 'lo', 'up']);
      await lab.run(ns, 'ip', ['addr', 'add', `${addr}/30`, 'dev', ifname]);
      await lab.run(ns, 'ip', ['link', 'set', ifname, 'up']);
    }
  } catch (error) {
    await lab.teardown();
    throw error;
  }
  return lab;
}

export { shellQuote } from '../core/shell.js';

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface KnockdHandle {
  readonly process: ResultPromise;
  readonly logFile: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts knockd as a daemon (-d), the way a server runs it: it writes `pidfile` and logs to the
 * config's logfile. Returns its pid once it listens; teardown kills it with the namespace.
 */
export async function startKnockdDaemon(lab: Lab, configFile: string, pidfile: string, logFile: string): Promise<number> {
  await rm(pidfile, { force: true });
  await lab.run(lab.serverNs, '/usr/sbin/knockd', ['-d', '-c', configFile, '-i', lab.serverIf, '-p', pidfile]);
  let pid = NaN;
  const up = await waitFor(async () => {
    pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
    const log = await readFile(logFile, 'utf8').catch(() => '');
    return Number.isInteger(pid) && pid > 1 && log.includes('listening on');
  }, 5000);
  if (!up) throw new Error(`knockd -d did not start:\n${await readFile(logFile, 'utf8').catch(() => '(no log)')}`);
  return pid;
}

/**
 * Kills every process named `name` in a namespace (by `ip netns pids`, never by name host-wide):
 * e.g. knockd's door keepers left behind by a knockd killed in a panic, which would otherwise run
 * their stop_command later and close a door opened since. `except`: pids to spare (a knockd that
 * should keep running while its door keepers go).
 */
export async function killInNamespace(ns: string, name: string, except: readonly number[] = []): Promise<void> {
  const pids = String((await execa('ip', ['netns', 'pids', ns], { reject: false })).stdout).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    if (except.includes(Number(pid))) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === name) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

export { isProcessAlive } from '../core/process.js';

/**
 * Starts the real knockd in the server namespace on `config` (knockd.conf text) and waits until it
 * listens. Fails with knockd's own output if it exits or does not come up within 5 s.
 */
export async function startKnockd(lab: Lab, configFile: string): Promise<KnockdHandle> {
  const logFile = join(lab.dir, 'knockd.out');
  const child = lab.spawn(lab.serverNs, '/usr/sbin/knockd', ['-c', configFile, '-i', lab.serverIf, '-v']);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  void child.then(() => (exited = true));
  const up = await waitFor(async () => exited || output.includes('listening on'), 5000);
  if (!up || exited) {
    child.kill('SIGKILL');
    throw new Error(`knockd did not start:\n${output}\nconfig:\n${await readFile(configFile, 'utf8')}`);
  }
  return {
    process: child,
    logFile,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await child;
      clearTimeout(timer);
    },
  };
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in a namespace without throwing; for commands whose failure a test checks. */
export async function runIn(ns: string, file: string, args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const result = await execa('ip', ['netns', 'exec', ns, file, ...args], {
    reject: false,
    stdin: 'ignore',
    env: options.env,
    timeout: options.timeoutMs ?? 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export const SSH_PORT = 22;

export const INNER_ROUTER_ADDR = '198.18.1.1';
export const INNER_ADDRS = ['198.18.1.2', '198.18.1.3'] as const;

/**
 * Router mode: a third namespace behind the server namespace (which becomes the router), with two
 * inner addresses and its default route through the router. Returns the inner namespace.
 */
export async function addInnerNetwork(lab: Lab): Promise<string> {
  const inner = await lab.addNamespace('i');
  await execa('ip', ['link', 'add', 'ks-lan', 'netns', lab.serverNs, 'type', 'veth', 'peer', 'name', 'ks-inner', 'netns', inner]);
  await lab.run(lab.serverNs, 'ip', ['addr', 'add', `${INNER_ROUTER_ADDR}/24`, 'dev', 'ks-lan']);
  await lab.run(lab.serverNs, 'ip', ['link', 'set', 'ks-lan', 'up']);
  await lab.run(lab.serverNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  await lab.run(inner, 'ip', ['link', 'set', 'lo', 'up']);
  for (const addr of INNER_ADDRS) await lab.run(inner, 'ip', ['addr', 'add', `${addr}/24`, 'dev', 'ks-inner']);
  await lab.run(inner, 'ip', ['link', 'set', 'ks-inner', 'up']);
  await lab.run(inner, 'ip', ['route', 'add', 'default', 'via', INNER_ROUTER_ADDR]);
  return inner;
}

export interface SshdHandle {
  /** The host key line for known_hosts, under the address sshd listens on. */
  readonly knownHostsLine: string;
  /** "TYPE BASE64" of the host key, for known_hosts lines under other names. */
  readonly publicKey: string;
  readonly authorizedKeys: string;
  /** The login name sshd accepts: root, or the hermetic lab user (see StartSshdOptions). */
  readonly user: string;
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  ns?: string;
  listen?: string;
  name?: string;
  /** An empty tmpfs over /root for root's login (see below); the hermetic user implies it. */
  hideHostHome?: boolean;
  /**
   * A host-independent login, for measurements: a lab user (unique name per lab, its own empty home,
   * /bin/sh, a uid of its own) that exists only in sshd's private mount namespace (a passwd/group
   * copy bind-mounted over /etc/passwd and /etc/group, gone with the namespace), with /root and
   * /etc/ssh hidden behind empty tmpfs mounts and sshd started with a clean environment. Logging in
   * as root instead runs Debian's bash, which sources the host's /root/.bashrc for every command
   * (a `pyenv init` there costs ~1.1 s per login).
   */
  hermeticUser?: boolean;
}

/**
 * Starts the real sshd in the server namespace with its own config, host key and pidfile in the lab
 * directory. sshd needs /run/sshd: a tmpfs on /run inside `ip netns exec`'s private mount namespace
 * gives it one without touching the host. Keys-only, as a knockstick server should be.
 */
export async function startSshd(lab: Lab, where: StartSshdOptions = {}): Promise<SshdHandle> {
  const ns = where.ns ?? lab.serverNs;
  const listen = where.listen ?? SERVER_ADDR;
  const dir = join(lab.dir, where.name ?? 'sshd');
  await mkdir(dir, { recursive: true });
  const hostKey = join(dir, 'host_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'knockstick-lab', '-f', hostKey]);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, '', { mode: 0o600 });
  const hermetic = where.hermeticUser === true ? await hermeticUser(lab, dir, authorizedKeys) : undefined;
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${SSH_PORT}`,
      `ListenAddress ${listen}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'LogLevel VERBOSE',
      // sftp and scp (whose default protocol is sftp) without the separate sftp-server package.
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  // hideHostHome: an empty tmpfs over /root in sshd's private mount namespace, so that the login
  // shell (root's bash sources ~/.bashrc for every ssh command) runs none of the host's dotfiles:
  // they slow every login and can print into scp/sftp/rsync/git's protocol streams.
  const hide = where.hideHostHome === true ? 'mount -t tmpfs -o mode=0700 tmpfs /root && ' : '';
  const child =
    hermetic === undefined
      ? lab.spawn(ns, 'sh', ['-c', `${hide}mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f "$1"`, 'sh', config])
      : lab.spawn(ns, 'env', [
          '-i',
          'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
          'sh',
          '-c',
          'set -e; mount -t tmpfs tmpfs /run; mkdir -p /run/sshd; mount --bind "$2" /etc/passwd; mount --bind "$3" /etc/group; ' +
            'mount -t tmpfs -o mode=0700 tmpfs /root; mount -t tmpfs -o mode=0755 tmpfs /etc/ssh; exec /usr/sbin/sshd -D -e -f "$1"',
          'sh',
          config,
          hermetic.passwd,
          hermetic.group,
        ]);
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  void child.then(() => (exited = true));
  const up = await waitFor(async () => exited || output.includes('Server listening'), 5000);
  if (!up || exited) throw new Error(`sshd did not start:\n${output}`);
  const pub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ');
  return {
    knownHostsLine: `${listen} ${pub[0]} ${pub[1]}\n`,
    publicKey: `${pub[0]} ${pub[1]}`,
    authorizedKeys,
    user: hermetic?.user ?? 'root',
    async stop() {
      child.kill('SIGTERM');
      await child;
    },
  };
}

/**
 * The hermetic lab user's files: a passwd and a group file (the host's, plus one line each) for
 * sshd's mount namespace, and an empty home the user owns. sshd reads authorized_keys as the user,
 * so the lab directories become traversable (0711) and the keys file readable.
 */
async function hermeticUser(lab: Lab, dir: string, authorizedKeys: string): Promise<{ user: string; passwd: string; group: string }> {
  const user = `${lab.id}u`;
  const hostPasswd = await readFile('/etc/passwd', 'utf8');
  const hostGroup = await readFile('/etc/group', 'utf8');
  const taken = new Set([...hostPasswd.split('\n'), ...hostGroup.split('\n')].map((l) => Number(l.split(':')[2])));
  let uid = 61000 + (process.pid % 3000);
  while (taken.has(uid)) uid++;
  const home = join(dir, 'home');
  await mkdir(home, { mode: 0o700 });
  await chown(home, uid, uid);
  await chmod(lab.dir, 0o711);
  await chmod(dir, 0o711);
  await chmod(authorizedKeys, 0o644);
  const passwd = join(dir, 'passwd');
  const group = join(dir, 'group');
  const withLine = (text: string, line: string) => `${text.endsWith('\n') || text === '' ? text : `${text}\n`}${line}\n`;
  await writeFile(passwd, withLine(hostPasswd, `${user}:x:${uid}:${uid}:knockstick lab:${home}:/bin/sh`), { mode: 0o644 });
  await writeFile(group, withLine(hostGroup, `${user}:x:${uid}:`), { mode: 0o644 });
  return { user, passwd, group };
}

export type { FirewallKind } from '../core/firewall.js';

export interface Firewall {
  readonly kind: FirewallKind;
  /** knockd start_command / stop_command that open and close the SSH door for %IP%. */
  readonly startCommand: string;
  readonly stopCommand: string;
  /** Whether a door is open for the client right now. */
  doorOpen(): Promise<boolean>;
}

/**
 * The firewall the seeds prescribe: INPUT drops everything new; loopback and established traffic
 * pass; doors live in a dedicated place (an iptables chain, an nftables set) that knockd fills.
 */
export async function setupFirewall(lab: Lab, kind: FirewallKind): Promise<Firewall> {
  const door = doorCommands(kind, SSH_PORT);
  if (kind === 'iptables') {
    for (const rule of [
      ['-N', DOORS_CHAIN],
      ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-j', DOORS_CHAIN],
      ['-P', 'INPUT', 'DROP'],
    ]) {
      await lab.run(lab.serverNs, 'iptables', rule);
    }
    return {
      kind,
      startCommand: door.start,
      stopCommand: door.stop,
      doorOpen: async () => (await lab.run(lab.serverNs, 'iptables', ['-S', DOORS_CHAIN])).includes(CLIENT_ADDR),
    };
  }
  const rules = join(lab.dir, 'firewall.nft');
  await writeFile(
    rules,
    `table inet ${NFT_TABLE} {
  set ${NFT_DOORS4} { type ipv4_addr; }
  set ${NFT_DOORS6} { type ipv6_addr; }
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    ip saddr @${NFT_DOORS4} tcp dport ${SSH_PORT} accept
    ip6 saddr @${NFT_DOORS6} tcp dport ${SSH_PORT} accept
  }
}
`,
  );
  await lab.run(lab.serverNs, 'nft', ['-f', rules]);
  return {
    kind,
    startCommand: door.start,
    stopCommand: door.stop,
    doorOpen: async () => (await lab.run(lab.serverNs, 'nft', ['list', 'set', 'inet', NFT_TABLE, NFT_DOORS4])).includes(CLIENT_ADDR),
  };
}

/** A knockd.conf with one one-time door for SSH. */
export function knockdConfig(lab: Lab, options: { sequencesFile: string; firewall: Firewall; cmdTimeout: number; seqTimeout?: number }): string {
  return `[options]
  logfile = ${join(lab.dir, 'knockd.log')}
[ssh]
  one_time_sequences = ${options.sequencesFile}
  seq_timeout = ${options.seqTimeout ?? 10}
  tcpflags = syn
  start_command = ${options.firewall.startCommand}
  cmd_timeout = ${options.cmdTimeout}
  stop_command = ${options.firewall.stopCommand}
`;
}
