// The first-run demo: the whole knock story on this machine, in a throwaway lab (two network
// namespaces with the real knockd, sshd and iptables), with no server and no stick needed.
// Run through scripts/demo, which installs and builds first. Leaves nothing behind, even on Ctrl-C.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../cli.js';
import { formatSequence, parseSequenceFile } from '../core/sequences.js';
import {
  CLIENT_ADDR,
  SERVER_ADDR,
  createLab,
  knockdConfig,
  runIn,
  setupFirewall,
  startKnockd,
  startSshd,
  waitFor,
  type KnockdHandle,
  type Lab,
} from './lab.js';
import { askpassEnv, makeLabStick } from './stick.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin');
const PASSPHRASE = 'demo passphrase';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (n: number, title: string) => say(`\n${bold(`${n}. ${title}`)}`);
const shown = (cmd: string) => say(`   $ ${cmd}`);
const indent = (text: string) => text.replace(/^(?=.)/gm, '     ');

async function seqgen(args: string[]): Promise<number> {
  const out = { write: (t: string) => process.stdout.write(indent(t)) };
  return runCli(args, { command: 'seqgen', stdout: out, stderr: out });
}

async function main(): Promise<number> {
  let lab: Lab | undefined;
  let knockd: KnockdHandle | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await knockd?.stop().catch(() => undefined);
      await lab?.teardown();
    })());
  // `on`, not `once`: execa's exit hook re-raises a signal nobody else listens to any more.
  const interrupted = (signal: NodeJS.Signals) => {
    say(`\n${signal === 'SIGINT' ? 'interrupted' : signal}: tearing the lab down`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  process.on('SIGHUP', interrupted);

  try {
    say(bold('knockstick demo: SSH behind one-time port knocks, in a throwaway lab on this machine'));
    lab = await createLab();
    const serverFile = join(lab.dir, 'server', 'etc-knockd-ssh');
    await mkdir(dirname(serverFile));

    step(1, 'The server: sshd (keys only) behind a firewall that drops every new connection');
    const sshd = await startSshd(lab);
    const firewall = await setupFirewall(lab, 'iptables');
    say(`   namespace ${lab.serverNs}, address ${SERVER_ADDR}: sshd listens on port 22, INPUT policy DROP,`);
    say('   loopback and established connections allowed, doors go into the KNOCKSTICK_DOORS chain');
    const closedBefore = (
      await runIn(lab.clientNs, 'ssh', ['-F', '/dev/null', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=2', '-o', 'BatchMode=yes', `root@${SERVER_ADDR}`, 'true'])
    ).exitCode;
    say(`   from the client (${CLIENT_ADDR}) ssh gets nowhere: it times out (exit ${closedBefore})`);

    step(2, 'The stick: an SSH key with its own passphrase, a stick-local ssh config, known_hosts');
    const stick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: PASSPHRASE });
    say(indent(await readFile(stick.config, 'utf8')));
    say(`   (the demo types the key passphrase "${PASSPHRASE}" through SSH_ASKPASS; you would type yours)`);

    step(3, 'Make one-time sequences: the same lines on the server and on the stick');
    shown('seqgen 20 --server-file /etc/knockd/ssh --stick /media/you/secure');
    if ((await seqgen(['20', '--server-file', serverFile, '--stick', stick.root])) !== 0) return 1;

    step(4, 'knockd watches for them and opens a door for the knocking address only');
    const config = join(lab.dir, 'knockd.conf');
    await writeFile(config, knockdConfig(lab, { sequencesFile: serverFile, firewall, cmdTimeout: 5 }));
    say(indent((await readFile(config, 'utf8')).replace(/^\[options\]\n.*\n/, '')));
    knockd = await startKnockd(lab, config);

    step(5, 'callhome: knock the next sequence, wait for the door, mark it used, run ssh');
    shown('callhome --stick /media/you/secure -- \'echo "hello from $(hostname), logged in as $(whoami)"\'');
    await mkdir(join(lab.dir, 'home'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home'), ...(await askpassEnv(lab.dir, PASSPHRASE)) };
    const started = Date.now();
    const first = await runIn(lab.clientNs, process.execPath, [join(BIN, 'callhome.js'), '--stick', stick.root, '--', 'echo "hello from $(hostname), logged in as $(whoami)"'], { env });
    say(indent(first.stderr));
    say(indent(first.stdout));
    say(`   exit ${first.exitCode}, ${Date.now() - started} ms from start to the end of the remote command`);
    if (first.exitCode !== 0) return 1;

    step(6, 'A sniffer replays the knock it saw: nothing opens, the sequence was for one use');
    const used = formatSequence(parseSequenceFile(await readFile(stick.sequences, 'utf8'), 'stick', 'stick').file.lines[0]?.sequence ?? []);
    await waitFor(async () => !(await firewall.doorOpen()), 8000, 100);
    say('   (after the door closed again, cmd_timeout = 5 s)');
    shown(`knock ${SERVER_ADDR} ${used.split(',').join(' ')}`);
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...used.split(',')]);
    const reopened = await waitFor(() => firewall.doorOpen(), 1500);
    say(reopened ? '   the door opened: that must never happen' : '   no door: knockd no longer even watches those ports');

    step(7, 'Both copies still agree');
    shown('seqgen status --server-file /etc/knockd/ssh --stick /media/you/secure');
    await seqgen(['status', '--server-file', serverFile, '--stick', stick.root]);

    step(8, 'Tear the lab down');
    await cleanup();
    say('   namespaces, processes and files removed');
    return reopened ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
