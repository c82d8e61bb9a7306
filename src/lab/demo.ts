// The first-run demo: the knock story on this machine, in a throwaway lab (two network
// namespaces, the real knockd and iptables), with no server and no stick needed.
// Run through scripts/demo, which installs and builds first. Leaves nothing behind, even on Ctrl-C.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../cli.js';
import { parseSequenceFile, formatSequence } from '../core/sequences.js';
import { CLIENT_ADDR, SERVER_ADDR, createLab, shellQuote, startKnockd, waitFor, type KnockdHandle, type Lab } from './lab.js';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (n: number, title: string) => say(`\n${bold(`${n}. ${title}`)}`);
const shown = (cmd: string) => say(`   $ ${cmd}`);
const indent = (text: string) => text.replace(/^(?=.)/gm, '     ');

async function seqgen(args: string[]): Promise<number> {
  const out = { write: (t: string) => process.stdout.write(indent(t)) };
  return runCli(args, { command: 'seqgen', stdout: out, stderr: out });
}

async function doorRules(lab: Lab): Promise<string[]> {
  const rules = await lab.run(lab.serverNs, 'iptables', ['-S', 'INPUT']);
  return rules.split('\n').filter((r) => r.includes('--dport 22') && r.includes('ACCEPT'));
}

async function main(): Promise<number> {
  let lab: Lab | undefined;
  let knockd: KnockdHandle | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= (async () => {
    await knockd?.stop().catch(() => undefined);
    await lab?.teardown();
  })());
  process.once('SIGINT', () => {
    say('\ninterrupted: tearing the lab down');
    void cleanup().then(() => process.exit(130));
  });

  try {
    say(bold('knockstick demo: one-time port knocking, in a throwaway lab on this machine'));
    lab = await createLab();
    const serverFile = join(lab.dir, 'server', 'ssh');
    const stick = join(lab.dir, 'stick');
    await mkdir(stick);
    say(`   server: namespace ${lab.serverNs}, ${SERVER_ADDR}, firewall drops every new connection`);
    say(`   client: namespace ${lab.clientNs}, ${CLIENT_ADDR}`);
    say(`   the server's knockd file is ${serverFile}; the "stick" is ${stick}`);

    step(1, 'Make one-time sequences, the same lines on the server and on the stick');
    shown('seqgen 5 --server-file /etc/knockd/ssh --stick /media/you/secure');
    if ((await seqgen(['5', '--server-file', serverFile, '--stick', stick])) !== 0) return 1;

    step(2, 'Check that both copies agree');
    shown('seqgen status --server-file /etc/knockd/ssh --stick /media/you/secure');
    await seqgen(['status', '--server-file', serverFile, '--stick', stick]);

    step(3, 'The server: a firewall that drops SSH, and knockd opening a door per sequence');
    for (const rule of [
      ['-P', 'INPUT', 'DROP'],
      ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ]) {
      shown(`iptables ${rule.join(' ')}`);
      await lab.run(lab.serverNs, 'iptables', rule);
    }
    const config = join(lab.dir, 'knockd.conf');
    const door = '-s %IP% -p tcp --dport 22 -j ACCEPT';
    await writeFile(
      config,
      `[options]\n  logfile = ${join(lab.dir, 'knockd.log')}\n[ssh]\n  one_time_sequences = ${serverFile}\n  seq_timeout = 10\n` +
        `  tcpflags = syn\n  start_command = iptables -I INPUT 1 ${door}\n  cmd_timeout = 3\n  stop_command = iptables -D INPUT ${door}\n`,
    );
    say(indent((await readFile(config, 'utf8')).replace(/^\[options\]\n.*\n/, '')));
    knockd = await startKnockd(lab, config);
    say(`   knockd is listening on ${lab.serverIf}`);

    const stickText = await readFile(join(stick, '.ssh', 'sequences'), 'utf8');
    const sequences = parseSequenceFile(stickText, 'stick', 'stick').file.lines.map((l) => formatSequence(l.sequence ?? []));
    const first = sequences[0] ?? '';

    step(4, 'Knock the first sequence from the client (one SYN per port)');
    say('   (callhome will do this, then probe the door and run ssh; the demo uses the knock client for now)');
    shown(`knock ${SERVER_ADDR} ${first.split(',').join(' ')}`);
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...first.split(',')]);
    const opened = await waitFor(async () => (await doorRules(lab!)).length > 0, 3000);
    if (!opened) throw new Error(`the door did not open; knockd said:\n${knockd.output()}`);
    say(`   the door is open for the client only: ${(await doorRules(lab))[0]}`);
    say(`   knockd marked the sequence used on the server: line 1 is now "${((await readFile(serverFile, 'utf8')).split('\n')[0] ?? '').slice(0, 1)}..."`);

    step(5, 'The door closes by itself after cmd_timeout (3 s here)');
    const closed = await waitFor(async () => (await doorRules(lab!)).length === 0, 6000, 100);
    say(closed ? '   closed: no door rule left' : '   still open?!');

    step(6, 'Replay the same sequence, as a sniffer would: nothing opens');
    shown(`knock ${SERVER_ADDR} ${first.split(',').join(' ')}`);
    await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...first.split(',')]);
    const reopened = await waitFor(async () => (await doorRules(lab!)).length > 0, 1500);
    say(reopened ? '   it opened: that must never happen' : '   nothing opened: a one-time sequence works once');

    step(7, 'Status afterwards');
    say('   the server used one sequence the stick still lists (callhome marks it on the stick as it knocks)');
    shown('seqgen status --server-file /etc/knockd/ssh --stick /media/you/secure');
    await seqgen(['status', '--server-file', serverFile, '--stick', stick]);

    step(8, 'Tear the lab down');
    await cleanup();
    say('   namespaces, processes and files removed');
    return opened && closed && !reopened ? 0 : 1;
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
