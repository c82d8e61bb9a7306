// The first-run demo: the whole story on this machine, in a throwaway lab (two network namespaces
// with the real knockd, sshd and nftables), with no server and no stick needed: server init,
// usbsetup (into a directory), callhome through the stick's launcher, a replay refused, the stick
// lost and `sh panic`, callhome refused after it.
// Run through scripts/demo, which installs and builds first. Leaves nothing behind, even on Ctrl-C.

import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../cli.js';
import { interrupt } from '../core/interrupt.js';
import { formatSequence, parseSequenceFile } from '../core/sequences.js';
import {
  CLIENT_ADDR,
  SERVER_ADDR,
  createLab,
  isProcessAlive,
  runIn,
  startKnockdDaemon,
  startSshd,
  waitFor,
  type Lab,
} from './lab.js';
import { askpassEnv } from './stick.js';

const PASSPHRASE = 'demo passphrase';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (n: number, title: string) => say(`\n${bold(`${n}. ${title}`)}`);
const shown = (cmd: string) => say(`   $ ${cmd}`);
const indent = (text: string) => text.replace(/^(?=.)/gm, '     ');

/** Runs a knockstick command in this process, its output indented under the step. */
async function knockstick(args: string[]): Promise<number> {
  const out = { write: (t: string) => process.stdout.write(indent(t)) };
  return runCli(args, { stdout: out, stderr: out });
}

async function main(): Promise<number> {
  let lab: Lab | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= lab?.teardown() ?? Promise.resolve());
  // `on`, not `once`: execa's exit hook re-raises a signal nobody else listens to any more.
  const interrupted = (signal: NodeJS.Signals) => {
    say(`\n${signal === 'SIGINT' ? 'interrupted' : signal}: tearing the lab down`);
    // First the knockstick command running in this process (its children killed, its undo run:
    // usbsetup's askpass directory in /tmp, a half-written stick), then the lab.
    void interrupt(signal)
      .catch(() => undefined)
      .then(() => cleanup())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  process.on('SIGHUP', interrupted);

  try {
    say(bold('knockstick demo: SSH behind one-time port knocks, in a throwaway lab on this machine'));
    lab = await createLab();
    const out = join(lab.dir, 'etc');
    say(`   server: namespace ${lab.serverNs} (${SERVER_ADDR}); client: namespace ${lab.clientNs} (${CLIENT_ADDR})`);
    say(`   the server's files go to ${out} instead of /etc; the "stick" is a directory`);

    step(1, 'On the server: server init writes knockd.conf, the firewall, the panic stanza and the first sequences');
    const sshd = await startSshd(lab);
    // Single-use doors (the default): each knock admits exactly one connection, the one callhome's
    // ProxyCommand makes and ssh uses.
    shown('knockstick server init --yes --interface eth0');
    const init = await knockstick(['server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--cmd-timeout', '5', '--count', '20']);
    if (init !== 0) return 1;

    step(2, 'The stick: usbsetup writes an SSH key with its own passphrase, the ssh config and the callhome launcher');
    say('   (a real stick is a LUKS volume: `sudo usbsetup` formats it, `secureon` opens it; here the stick is a directory)');
    const stickRoot = join(lab.dir, 'stick');
    await mkdir(stickRoot);
    const secrets = join(lab.dir, 'secrets');
    await mkdir(secrets, { mode: 0o700 });
    await writeFile(join(secrets, 'key.pass'), PASSPHRASE, { mode: 0o600 });
    await writeFile(join(secrets, 'host_key.pub'), `${sshd.publicKey}\n`);
    shown('usbsetup --into /media/you/secure --hostname home.example.org --user root --server-host-key ssh_host_ed25519_key.pub --sequences 0');
    const setup = await knockstick(['usbsetup', '--yes', '--into', stickRoot, '--hostname', SERVER_ADDR, '--user', 'root', '--server-host-key', join(secrets, 'host_key.pub'), '--key-passphrase-file', join(secrets, 'key.pass'), '--sequences', '0']);
    if (setup !== 0) return 1;
    say('   Doing what it says: the key into authorized_keys, the server\'s sequences onto the stick');
    await appendFile(sshd.authorizedKeys, await readFile(join(stickRoot, '.ssh', 'id_ed25519.pub'), 'utf8'));
    shown('seqgen repair --server-file /etc/knockd/ssh --stick /media/you/secure');
    if ((await knockstick(['seqgen', 'repair', '--server-file', join(out, 'ssh'), '--stick', stickRoot, '--server-config', join(out, 'server.conf')])) !== 0) return 1;
    const stick = { root: stickRoot, sequences: join(stickRoot, '.ssh', 'sequences') };
    say(`   (the demo types the key passphrase "${PASSPHRASE}" through SSH_ASKPASS; you would type yours)`);

    step(3, 'Apply it: firewall, then knockd (here by hand, in the server namespace)');
    shown('nft -f /etc/knockstick/firewall.nft');
    await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall.nft')]);
    shown('systemctl enable --now knockd');
    const pid = await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    const sshTry = await runIn(lab.clientNs, 'ssh', ['-F', '/dev/null', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=2', '-o', 'BatchMode=yes', `root@${SERVER_ADDR}`, 'true']);
    say(`   knockd runs (pid ${pid}); a plain ssh from the client gets nowhere: it times out (exit ${sshTry.exitCode})`);

    step(4, "callhome, run from the stick with its own launcher: knock the next sequence, wait for the door, run ssh");
    shown('sh /media/you/secure/callhome -- \'echo "hello from $(hostname), logged in as $(whoami)"\'');
    await mkdir(join(lab.dir, 'home'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home'), ...(await askpassEnv(lab.dir, PASSPHRASE)) };
    // The stick's launcher runs the stick's own copy of knockstick with this machine's node.
    const callhome = (...args: string[]) => runIn(lab!.clientNs, 'sh', [join(stick.root, 'callhome'), ...args], { env });
    const started = Date.now();
    const first = await callhome('--', 'echo "hello from $(hostname), logged in as $(whoami)"');
    say(indent(first.stderr));
    say(indent(first.stdout));
    say(`   exit ${first.exitCode}, ${Date.now() - started} ms from start to the end of the remote command`);
    if (first.exitCode !== 0) return 1;
    // The door is single-use: it admitted the connection callhome's ProxyCommand made (and ssh used),
    // and nothing after it, though its cmd_timeout (5 s) is not over.
    shown(`nc -z -w 1 ${SERVER_ADDR} 22   (right after, from the same address)`);
    const second = await runIn(lab.clientNs, 'nc', ['-z', '-w', '1', SERVER_ADDR, '22']);
    say(second.exitCode === 0 ? '   it got in: the door is not single-use?!' : '   dropped: the door admitted exactly one connection, the one ssh used');

    step(5, 'A sniffer replays the knock it saw: nothing opens, the sequence was for one use');
    // The door is the client's address in the set doors4, until its timeout removes it.
    const doorOpen = async () => (await lab!.run(lab!.serverNs, 'nft', ['list', 'set', 'inet', 'knockstick', 'doors4'])).includes(CLIENT_ADDR);
    await waitFor(async () => !(await doorOpen()), 8000, 100);
    say('   (after the door closed again, cmd_timeout = 5 s)');
    const used = formatSequence(parseSequenceFile(await readFile(stick.sequences, 'utf8'), 'stick', 'stick').file.lines[0]?.sequence ?? []);
    shown(`knock ${SERVER_ADDR} ${used.split(',').join(' ')}`);
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...used.split(',')]);
    const reopened = await waitFor(doorOpen, 1500);
    say(reopened ? '   the door opened: that must never happen' : '   no door: knockd no longer even watches those ports');

    step(6, 'Both copies still agree');
    shown('seqgen status --server-file /etc/knockd/ssh --stick /media/you/secure');
    await knockstick(['seqgen', 'status', '--server-file', join(out, 'ssh'), '--stick', stick.root, '--server-config', join(out, 'server.conf')]);

    step(7, 'The stick is stolen: from any shell account, `sh panic` stops knockd and closes every door');
    const panicScript = join(lab.dir, 'panic');
    const panicSequence = /panic_sequence = ([\d,]+)/.exec(await readFile(join(out, 'server.conf'), 'utf8'))?.[1] ?? '';
    shown('knockstick panic script --hostname home.example.org   (made once, kept on a shell account)');
    await knockstick(['panic', 'script', '--hostname', SERVER_ADDR, '--sequence', panicSequence, '--out', panicScript]);
    shown('sh panic');
    const panic = await runIn(lab.clientNs, 'dash', [panicScript], { env: { PATH: env.PATH } });
    say(indent(panic.stderr));
    const stopped = await waitFor(async () => !isProcessAlive(pid), 5000, 50);
    say(`   knockd: ${stopped ? 'stopped' : 'still running?!'}; door sets: ${(await doorOpen()) ? 'an address is still in doors4?!' : 'empty'}`);

    step(8, 'With knockd stopped, even the stick\'s valid next sequence opens nothing');
    shown('sh /media/you/secure/callhome');
    const refused = await callhome('--attempts', '2', '--door-timeout', '500', '--door-window', '0', '--', 'true');
    say(indent(refused.stderr));
    say(`   exit ${refused.exitCode}. Back home, the owner restarts knockd and runs \`knockstick panic rotate\`.`);

    step(9, 'Tear the lab down');
    await cleanup();
    say('   namespaces, processes and files removed');
    return second.exitCode !== 0 && !reopened && stopped && refused.exitCode === 7 ? 0 : 1;
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
