// Time-to-shell benchmark: from the start of a command to `ssh HOST true` done, in one lab (the
// seeds' firewall: INPUT policy DROP, only loopback and established accepted, so knock ports answer
// nothing), every row N times, medians and spread, ratios to the floor (ssh with the door already
// open). Writes bench/results.md. Run through bench/run (installs and builds first).

import { execSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeAtomically } from '../core/files.js';
import { markUsed } from '../core/policy.js';
import { formatSequence, parseSequenceFile, unusedLines } from '../core/sequences.js';
import { CLIENT_ADDR, SERVER_ADDR, createLab, runIn, startKnockdDaemon, startSshd, waitFor, type Lab } from './lab.js';
import { askpassEnv, makeLabStick, type LabStick } from './stick.js';
import { labAccessStanza, startFwknopd } from './fwknopd.js';
import { generateKeys } from '../spa/keys.js';
import { clientStanza } from '../server/spa.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'bin');
const RUNS = Number(process.env.BENCH_RUNS ?? 20);

interface Row {
  readonly name: string;
  readonly command: string;
  readonly times: number[];
  failures: number;
  /** How long the failed runs took before giving up. */
  failTimes: number[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
}

async function timed(lab: Lab, script: string, env: Record<string, string>): Promise<{ ms: number; ok: boolean }> {
  const started = process.hrtime.bigint();
  const result = await runIn(lab.clientNs, 'bash', ['-c', script], { env, timeoutMs: 60_000 });
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, ok: result.exitCode === 0 };
}

async function main(): Promise<void> {
  const lab = await createLab();
  try {
    const out = join(lab.dir, 'etc');
    const sshd = await startSshd(lab);
    const stick: LabStick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: 'bench' });
    await runIn(lab.serverNs, 'true', []);
    const init = await execa(process.execPath, [join(BIN, 'knockstick.js'), 'server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--stick', stick.root, '--firewall', 'iptables', '--cmd-timeout', '1', '--count', String(RUNS * 5 + 10)], { reject: false });
    if (init.exitCode !== 0) throw new Error(`server init failed: ${init.stderr}`);
    await lab.run(lab.serverNs, 'sh', ['-c', 'iptables-restore < "$1"', 'sh', join(out, 'iptables.rules')]);
    await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    await mkdir(join(lab.dir, 'home'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(lab.dir, 'home'), ...(await askpassEnv(lab.dir, 'bench')) };
    const ssh = `cd ${stick.root} && ssh -F ${stick.config} -4 home true`;
    const doorOpen = async () => (await lab.run(lab.serverNs, 'iptables', ['-S', 'KNOCKSTICK_DOORS'])).includes(CLIENT_ADDR);
    const doorClosed = () => waitFor(async () => !(await doorOpen()), 10_000, 50);

    /** The stick's next sequence, marked used on the stick now (as callhome would), so all rows stay in step. */
    const takeSequence = async (): Promise<string[]> => {
      const text = await readFile(stick.sequences, 'utf8');
      const next = unusedLines(parseSequenceFile(text, stick.sequences, 'stick').file)[0];
      if (next === undefined) throw new Error('out of sequences');
      await writeAtomically(stick.sequences, markUsed(text, [next.lineNo]));
      return formatSequence(next.sequence).split(',');
    };

    const rows: Row[] = [];
    const bench = async (name: string, command: string, script: () => Promise<string>, before?: () => Promise<unknown>, after?: () => Promise<unknown>) => {
      const row: Row = { name, command, times: [], failures: 0, failTimes: [] };
      for (let i = 0; i < RUNS; i++) {
        await before?.();
        const { ms, ok } = await timed(lab, await script(), env);
        if (ok) row.times.push(ms);
        else {
          row.failures++;
          row.failTimes.push(ms);
        }
        await after?.();
        process.stderr.write(`\r${name}: ${i + 1}/${RUNS}   `);
      }
      process.stderr.write('\n');
      rows.push(row);
    };

    // The floor: the door held open for the client by hand.
    const rule = ['KNOCKSTICK_DOORS', '-s', CLIENT_ADDR, '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT'];
    await lab.run(lab.serverNs, 'iptables', ['-A', ...rule]);
    await bench('ssh with the door already open (floor)', 'ssh -F STICK/.ssh/config home true', async () => ssh);
    await lab.run(lab.serverNs, 'iptables', ['-D', ...rule]);
    await doorClosed();

    await bench('callhome', 'callhome -- true', async () => `${process.execPath} ${join(BIN, 'callhome.js')} --stick ${stick.root} --door-window 0 -- true`, doorClosed);
    await bench('knock, then ssh at once', 'knock HOST P1..P5; ssh home true', async () => `knock ${SERVER_ADDR} ${(await takeSequence()).join(' ')} && ${ssh}`, doorClosed);
    await bench(
      'knock, poll port 22 every 10 ms, then ssh',
      'knock ...; until nc -z ...; ssh home true',
      async () =>
        `knock ${SERVER_ADDR} ${(await takeSequence()).join(' ')} && for i in $(seq 300); do timeout 0.05 bash -c 'exec 3<>/dev/tcp/${SERVER_ADDR}/22' 2>/dev/null && break; sleep 0.01; done && ${ssh}`,
      doorClosed,
    );
    await bench(
      "the seed's script (nc -z per port, sleep 1, ssh)",
      'for p in SEQ; do nc -z HOST $p; done; sleep 1; ssh home true',
      async () => `for p in ${(await takeSequence()).join(' ')}; do nc -z -w1 ${SERVER_ADDR} $p; done; sleep 1; ${ssh}`,
      doorClosed,
    );

    // SPA rows: the real fwknopd 2.6 (UDP server, its own iptables backend, FW_ACCESS_TIMEOUT 1 s)
    // beside knockd; the SPA port let in at the top of INPUT. Keys in the stick's .ssh/fwknoprc.
    const spaKeys = generateKeys();
    await lab.run(lab.serverNs, 'iptables', ['-I', 'INPUT', '1', '-p', 'udp', '--dport', '62201', '-j', 'ACCEPT']);
    const fwknopd = await startFwknopd(lab, { accessConf: labAccessStanza(spaKeys, ['OPEN_PORTS tcp/22', 'FW_ACCESS_TIMEOUT 1']) });
    const spaRc = join(stick.root, '.ssh', 'fwknoprc');
    await writeFile(
      spaRc,
      clientStanza({ spaServer: SERVER_ADDR, sshPort: 22, keys: spaKeys }, 'home'),
      { mode: 0o600 },
    );
    const spaDoorClosed = () => waitFor(async () => !(await lab.run(lab.serverNs, 'iptables', ['-S', 'FWKNOP_INPUT']).catch(() => '')).includes(CLIENT_ADDR), 20_000, 50);
    await bench('callhome --method spa (real fwknopd)', 'callhome --method spa -- true', async () => `${process.execPath} ${join(BIN, 'callhome.js')} --stick ${stick.root} --method spa -- true`, spaDoorClosed);
    await bench(
      'the fwknop client, then ssh at once',
      'fwknop --rc-file STICK/.ssh/fwknoprc -n home; ssh home true',
      async () => `fwknop --rc-file ${spaRc} -n home --no-save-args >/dev/null && ${ssh}`,
      spaDoorClosed,
    );
    await fwknopd.stop();

    const floor = median(rows[0]?.times ?? []);
    const cold = async (args: string[]) => {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = process.hrtime.bigint();
        await execa(process.execPath, args, { reject: false });
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      return median(times);
    };
    const nodeBare = await cold(['-e', '0']);
    const versionCold = await cold([join(BIN, 'callhome.js'), '--version']);
    // The stick's self-contained single file (everything in one module) against the split bins.
    const single = join(ROOT, 'dist', 'stick', 'knockstick.mjs');
    const versionSingle = await cold([single, 'callhome', '--version']);
    const dryRunSingle = await cold([single, 'callhome', '--stick', stick.root, '--dry-run']);
    // The same command from tsc's output (an ESM graph of modules) instead of the bundle.
    const tscEntry = join(lab.dir, 'tsc-callhome.mjs');
    await writeFile(tscEntry, `import { main } from ${JSON.stringify(join(ROOT, 'dist', 'cli.js'))};\nawait main('callhome');\n`);
    const versionTsc = await cold([tscEntry, '--version']);
    const dryRunBundle = await cold([join(BIN, 'callhome.js'), '--stick', stick.root, '--dry-run']);
    const dryRunTsc = await cold([tscEntry, '--stick', stick.root, '--dry-run']);
    const seqgenDir = join(lab.dir, 'seqgen');
    // A stick is a directory holding its .ssh/config (seqgen refuses anything else).
    await mkdir(join(seqgenDir, 'stick', '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(seqgenDir, 'stick', '.ssh', 'config'), 'Host home\n  HostName 127.0.0.1\n', { mode: 0o600 });
    const t0 = process.hrtime.bigint();
    await execa(process.execPath, [join(BIN, 'seqgen.js'), '10000', '--server-file', join(seqgenDir, 'ssh'), '--stick', join(seqgenDir, 'stick'), '--server-config', join(seqgenDir, 'none.conf')]);
    const seqgen10000 = Number(process.hrtime.bigint() - t0) / 1e6;

    const version = (cmd: string) => {
      try {
        return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
      } catch (error) {
        return String((error as { stderr?: string }).stderr ?? '').trim().split('\n')[0];
      }
    };
    const fmt = (ms: number) => (Number.isNaN(ms) ? 'n/a' : `${Math.round(ms)} ms`);
    const table = rows.map((r) => {
      const m = median(r.times);
      return `| ${r.name} | \`${r.command}\` | ${fmt(m)} | ${fmt(percentile(r.times, 10))} - ${fmt(percentile(r.times, 90))} | ${Number.isNaN(m) ? 'n/a' : `${(m / floor).toFixed(2)}x`} | ${r.times.length}/${RUNS} |`;
    });
    const callhomeMedian = median(rows[1]?.times ?? []);
    const seedMedian = median(rows[4]?.times ?? []);
    const seedGaveUp = median(rows[4]?.failTimes ?? []);
    const md = `# Time to shell

From the start of the command to \`ssh HOST true\` done, ${RUNS} runs per row, all in one lab run:
the real knockd 0.8 (one-time sequences, \`tcpflags = syn\`, cmd_timeout 1 s), sshd with a
passphrase key (typed by SSH_ASKPASS), and the seeds' firewall (INPUT policy DROP, only loopback and
established accepted; the doors in KNOCKSTICK_DOORS), set up by \`knockstick server init\`, in
network namespaces joined by a veth pair. Every run waits for the previous door to close first.

| row | command | median | p10 - p90 | vs floor | succeeded |
| --- | --- | --- | --- | --- | --- |
${table.join('\n')}

- callhome vs the seed's script: ${Number.isNaN(seedMedian) ? `the seed's script never got in (its \`nc -z -w1\` holds each SYN until the kernel retransmits it, which resets knockd); it gave up after a median of ${fmt(seedGaveUp)}, ${(seedGaveUp / callhomeMedian).toFixed(0)}x callhome's time to a shell` : `${(seedMedian / callhomeMedian).toFixed(1)}x faster`}.
- SPA rows: the real fwknopd 2.6.10 (UDP server, its iptables backend, FW_ACCESS_TIMEOUT 1 s) beside knockd, keys in the stick's .ssh/fwknoprc; the fwknop client row uses the same rc file.
- Cold start, median of ${RUNS}: \`node -e 0\` ${fmt(nodeBare)}; \`callhome --version\`: the bins (bundles
  split in chunks, each command loaded only when it runs) ${fmt(versionCold)}, the stick's single file
  ${fmt(versionSingle)}, tsc output ${fmt(versionTsc)}; \`callhome --dry-run\` (loads everything callhome
  needs, sends nothing): bins ${fmt(dryRunBundle)}, single file ${fmt(dryRunSingle)}, tsc output ${fmt(dryRunTsc)}.
- \`seqgen 10000\` (two fresh files): ${fmt(seqgen10000)}.

Reproduce: \`sudo bench/run\` (BENCH_RUNS=${RUNS}).

Machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${version('uname -sr')}; node ${process.version};
${version('knockd -V')}; ${version('ssh -V 2>&1')}; ${version('iptables -V')}. Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.
`;
    await writeFile(join(ROOT, 'bench', 'results.md'), md);
    process.stdout.write(md);
  } finally {
    await lab.teardown();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
