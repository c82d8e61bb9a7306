// Time-to-shell benchmark: from the start of a command to `ssh HOST true` done, every row N times at
// 0 ms and at 40 ms round-trip time, in throwaway labs, medians and spread, ratios to the floor (ssh
// with the door already open), callhome's phases, knockd's door latency, node's start, and issue
// 14's targets judged on those numbers. Writes bench/results.md. Run through bench/run.
//
// Hermetic: sshd logs in a lab user with its own empty home and /bin/sh (lab.ts hermeticUser), the
// client commands run with a clean environment (no NODE_EXTRA_CA_CERTS, no SSH_AUTH_SOCK, HOME in the
// lab, PATH without the host's shims), and every ssh reads only the stick's config (-F).
//
// Round-trip time: this kernel has no netem, so bench/nfqueue-delay.py holds every packet of the
// client's veth 20 ms on the way out and 20 ms on the way in (iptables NFQUEUE in the client
// namespace): a real 40 ms RTT for TCP, knocks, SPA and ssh alike, checked by timing TCP connects.
//
// Two labs: "single" is what `server init` writes by default (nftables); "baseline" is the
// iptables firewall with window doors (`--door-policy window` where server init has it) for the
// tools that need a door admitting more than one connection (knock + poll + ssh: the poll's
// connection would use up a single-use door) and for fwknopd with its own iptables backend.
// Rows run interleaved (one run of each row per round) so load from elsewhere spreads over all rows.

import { spawn } from 'node:child_process';
import { execSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeAtomically } from '../core/files.js';
import { markUsed } from '../core/policy.js';
import { formatSequence, parseSequenceFile, unusedLines } from '../core/sequences.js';
import { CLIENT_ADDR, SERVER_ADDR, createLab, startKnockdDaemon, startSshd, waitFor, type Lab } from './lab.js';
import { askpassEnv, makeLabStick, type LabStick } from './stick.js';
import { labAccessStanza, startFwknopd } from './fwknopd.js';
import { generateKeys } from '../spa/keys.js';
import { clientStanza } from '../server/spa.js';
import { evaluateTargets, fmtMs, fmtRatio, median, parseTimingLines, percentile, phaseMedians, runTimeline, type RunTimeline, type WireEvent } from './bench-stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'bin');
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const RTTS = [0, 40] as const;
const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PYTHON = '/usr/bin/python3';
const QUEUE = 0;
/** knockd's cmd_timeout and fwknopd's FW_ACCESS_TIMEOUT in the labs, seconds. */
const CMD_TIMEOUT = 1;

interface BenchLab {
  readonly name: string;
  readonly lab: Lab;
  readonly firewall: 'nftables' | 'iptables';
  readonly stick: LabStick;
  readonly env: Record<string, string>;
  /** `ssh -F STICK/.ssh/config home true` as the stick's config wants it (relative paths: from the stick). */
  readonly ssh: string;
  rtt: number;
  readonly doorLatencies: { method: string; ms: number; rtt: number }[];
  /** Everything the server-side watch saw (bench/door-watch.py). */
  readonly events: WireEvent[];
  openFloor(): Promise<void>;
  closeFloor(): Promise<void>;
  setRtt(ms: number): Promise<void>;
  /** Waits until the last run's door is gone (and knockd's/fwknopd's timers for it have run). */
  settle(): Promise<void>;
  takeSequence(): Promise<string[]>;
  /** The runner tells when a run ended (settle() counts from there). */
  ranAt(t: number): void;
}

async function serverInitHas(flag: string): Promise<boolean> {
  const help = await execa(process.execPath, [join(BIN, 'knockstick.js'), 'server', 'init', '--help'], { reject: false });
  return String(help.stdout).includes(flag);
}

async function setupLab(name: string, firewall: 'nftables' | 'iptables', extraInit: readonly string[], proxied: boolean): Promise<BenchLab> {
  const lab = await createLab();
  try {
    const out = join(lab.dir, 'etc');
    const sshd = await startSshd(lab, { hermeticUser: true });
    // proxied: a stick as usbsetup makes it now (launchers, ProxyCommand, absolute paths).
    const stick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: 'bench', ...(proxied ? { proxyCommand: true } : {}) });
    const init = await execa(
      process.execPath,
      [join(BIN, 'knockstick.js'), 'server', 'init', '--yes', '--interface', lab.serverIf, '--out', out, '--stick', stick.root, '--firewall', firewall, '--cmd-timeout', String(CMD_TIMEOUT), '--count', String(RUNS * 8 + 20), ...extraInit],
      { reject: false },
    );
    if (init.exitCode !== 0) throw new Error(`server init failed: ${init.stderr}`);
    if (firewall === 'nftables') await lab.run(lab.serverNs, 'nft', ['-f', join(out, 'firewall.nft')]);
    else await lab.run(lab.serverNs, 'sh', ['-c', 'iptables-restore < "$1"', 'sh', join(out, 'iptables.rules')]);
    await startKnockdDaemon(lab, join(out, 'knockd.conf'), join(out, 'knockd.pid'), join(out, 'knockd.log'));
    const home = join(lab.dir, 'home');
    await mkdir(home);
    const env = { PATH: CLEAN_PATH, HOME: home, LANG: 'C.UTF-8', KNOCKSTICK_TIMING: '1', ...(await askpassEnv(lab.dir, 'bench')) };

    // The delay: one queue for both directions of the client's veth; rules added only at 40 ms.
    const delayer = lab.spawn(lab.clientNs, PYTHON, [join(ROOT, 'bench', 'nfqueue-delay.py'), String(QUEUE), '20']);
    let delayOut = '';
    delayer.stdout?.on('data', (c: Buffer) => (delayOut += c.toString()));
    delayer.stderr?.on('data', (c: Buffer) => (delayOut += c.toString()));
    if (!(await waitFor(async () => delayOut.includes('ready') || delayer.exitCode !== null, 10_000))) throw new Error(`nfqueue-delay did not start: ${delayOut}`);
    if (!delayOut.includes('ready')) throw new Error(`nfqueue-delay failed: ${delayOut}`);
    const queueRules = [
      ['OUTPUT', '-o', lab.clientIf, '-j', 'NFQUEUE', '--queue-num', String(QUEUE)],
      ['INPUT', '-i', lab.clientIf, '-j', 'NFQUEUE', '--queue-num', String(QUEUE)],
    ];

    const doorLatencies: BenchLab['doorLatencies'] = [];
    const events: WireEvent[] = [];
    const watcher = lab.spawn(lab.serverNs, PYTHON, [join(ROOT, 'bench', 'door-watch.py'), lab.serverIf, CLIENT_ADDR]);
    let watchOut = '';
    let watchSeen = 0;
    watcher.stdout?.on('data', (c: Buffer) => {
      watchOut += c.toString();
      const lines = watchOut.split('\n');
      for (const line of lines.slice(watchSeen, -1)) {
        const m = /^door (\w+) ([\d.]+)$/.exec(line);
        if (m !== null) doorLatencies.push({ method: m[1] as string, ms: Number(m[2]), rtt: bl.rtt });
        const ev = /^ev (knock|spa|syn22|door) ([\d.]+)$/.exec(line);
        if (ev !== null) events.push({ kind: ev[1] as WireEvent['kind'], at: Number(ev[2]) });
      }
      watchSeen = lines.length - 1;
    });
    watcher.stderr?.on('data', (c: Buffer) => (watchOut += c.toString()));
    if (!(await waitFor(async () => watchOut.includes('ready') || watcher.exitCode !== null, 10_000)) || !watchOut.includes('ready')) {
      throw new Error(`door-watch did not start: ${watchOut}`);
    }

    let floorHandle: string | undefined;
    let lastRunEnd = 0;
    const bl: BenchLab = {
      name,
      lab,
      firewall,
      stick,
      env,
      ssh: `cd ${stick.root} && ssh -F ${stick.config} -4 home true`,
      rtt: 0,
      doorLatencies,
      events,
      async openFloor() {
        if (firewall === 'iptables') {
          await lab.run(lab.serverNs, 'iptables', ['-I', 'INPUT', '1', '-s', CLIENT_ADDR, '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
        } else {
          // A rule of its own (not a door element: a single-use door would be gone after one connection).
          const echo = await lab.run(lab.serverNs, 'nft', ['--echo', '--handle', 'insert', 'rule', 'inet', 'knockstick', 'input', 'ip', 'saddr', CLIENT_ADDR, 'tcp', 'dport', '22', 'accept']);
          floorHandle = /# handle (\d+)/.exec(echo)?.[1];
          if (floorHandle === undefined) throw new Error(`no handle for the floor rule: ${echo}`);
        }
      },
      async closeFloor() {
        if (firewall === 'iptables') await lab.run(lab.serverNs, 'iptables', ['-D', 'INPUT', '-s', CLIENT_ADDR, '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
        else if (floorHandle !== undefined) await lab.run(lab.serverNs, 'nft', ['delete', 'rule', 'inet', 'knockstick', 'input', 'handle', floorHandle]);
        floorHandle = undefined;
      },
      async setRtt(ms) {
        if (ms === bl.rtt) return;
        for (const rule of queueRules) await lab.run(lab.clientNs, 'iptables', [ms === 0 ? '-D' : '-I', ...rule]);
        bl.rtt = ms;
      },
      async settle() {
        // A door opened before the run ended; its timer (knockd's cmd_timeout, an element timeout,
        // fwknopd's access timeout) has run 1.1 s after that.
        const wait = lastRunEnd + CMD_TIMEOUT * 1000 + 100 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const gone = await waitFor(async () => !(await lab.run(lab.serverNs, 'nft', ['list', 'ruleset'])).includes(CLIENT_ADDR), 20_000, 50);
        if (!gone) throw new Error(`${name}: a door for ${CLIENT_ADDR} is still open 20 s after a run`);
      },
      async takeSequence() {
        const text = await readFile(stick.sequences, 'utf8');
        const next = unusedLines(parseSequenceFile(text, stick.sequences, 'stick').file)[0];
        if (next === undefined) throw new Error('out of sequences');
        await writeAtomically(stick.sequences, markUsed(text, [next.lineNo]));
        return formatSequence(next.sequence).split(',');
      },
      ranAt(t) {
        lastRunEnd = t;
      },
    };
    return bl;
  } catch (error) {
    await lab.teardown();
    throw error;
  }
}

interface RunOutcome {
  readonly ms: number;
  /** Epoch ms of the spawn and of the exit (to place the server's wire events). */
  readonly start: number;
  readonly end: number;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `script` with bash in the lab's client namespace, clean environment, timed from spawn to exit. */
function timedRun(bl: BenchLab, script: string): Promise<RunOutcome> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const start = performance.timeOrigin + performance.now();
    const child = spawn('ip', ['netns', 'exec', bl.lab.clientNs, 'bash', '-c', script], { env: bl.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      bl.ranAt(Date.now());
      resolve({ ms, start, end: start + ms, exitCode: code, stdout, stderr });
    });
  });
}

/** Median of `runs` TCP connects to sshd (door open), measured by node inside the client namespace. */
async function measureConnect(bl: BenchLab): Promise<number> {
  const code = `const net=require('net');const t=[];(async()=>{for(let i=0;i<7;i++){const s=process.hrtime.bigint();await new Promise((ok,no)=>{const c=net.connect(22,'${SERVER_ADDR}',()=>{c.destroy();ok()});c.on('error',no)});t.push(Number(process.hrtime.bigint()-s)/1e6)}t.sort((a,b)=>a-b);console.log(t[3])})()`;
  const out = await execa('ip', ['netns', 'exec', bl.lab.clientNs, process.execPath, '-e', code], { env: { PATH: CLEAN_PATH }, extendEnv: false });
  return Number(String(out.stdout).trim());
}

interface RowSpec {
  readonly key: string;
  readonly name: string;
  readonly command: string;
  readonly bl: BenchLab;
  readonly script: () => Promise<string>;
  readonly floor?: boolean;
  readonly phases?: boolean;
  /** Runs per RTT (default RUNS). */
  readonly runs?: number;
}

interface RowResult {
  times: number[];
  failures: number;
  failTimes: number[];
  phases: Map<string, number>[];
  outputs: string[];
  /** Successful runs' [start, end] in epoch ms. */
  windows: { start: number; end: number }[];
}

async function coldStart(file: string, args: readonly string[], env: Record<string, string>): Promise<number> {
  const t = process.hrtime.bigint();
  await execa(file, [...args], { reject: false, env, extendEnv: false });
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function version(cmd: string): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0] ?? '';
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? '').trim().split('\n')[0] ?? '';
  }
}

async function main(): Promise<void> {
  const uptimeBefore = version('uptime');
  const windowPolicy = await serverInitHas('--door-policy');
  const labs: BenchLab[] = [];
  try {
    const single = await setupLab('single', 'nftables', [], true);
    labs.push(single);
    const base = await setupLab('baseline', 'iptables', windowPolicy ? ['--door-policy', 'window'] : [], false);
    labs.push(base);
    // The single lab's stick says its doors are single-use: connect never tries to reuse one.
    const stickConf = join(single.stick.root, '.ssh', 'knockstick.conf');
    const confText = await readFile(stickConf, 'utf8').catch(() => '');
    if (!/^\s*door_policy\s*=/m.test(confText)) await writeFile(stickConf, `${confText}${confText === '' || confText.endsWith('\n') ? '' : '\n'}door_policy = single-use\n`, { mode: 0o600 });

    // SPA: the real fwknopd 2.6 (UDP server, its own iptables backend, FW_ACCESS_TIMEOUT 1 s) beside
    // knockd in the baseline lab; the SPA port let in at the top of INPUT; keys in the stick's fwknoprc.
    const spaKeys = generateKeys();
    await base.lab.run(base.lab.serverNs, 'iptables', ['-I', 'INPUT', '1', '-p', 'udp', '--dport', '62201', '-j', 'ACCEPT']);
    await startFwknopd(base.lab, { accessConf: labAccessStanza(spaKeys, ['OPEN_PORTS tcp/22', `FW_ACCESS_TIMEOUT ${CMD_TIMEOUT}`]) });
    const spaRc = join(base.stick.root, '.ssh', 'fwknoprc');
    await writeFile(spaRc, clientStanza({ spaServer: SERVER_ADDR, sshPort: 22, keys: spaKeys }, 'home'), { mode: 0o600 });

    const nodeCallhome = (bl: BenchLab, extra = '') => `${process.execPath} ${join(BIN, 'callhome.js')} --stick ${bl.stick.root}${extra} -- true`;
    const launcher = join(single.stick.root, 'callhome');
    // The poll of "knock + poll": a TCP connect every 10 ms, each given the RTT plus 50 ms to answer.
    const poll = (bl: BenchLab) =>
      `for i in $(seq 300); do timeout ${(0.05 + bl.rtt / 1000).toFixed(2)} bash -c 'exec 3<>/dev/tcp/${SERVER_ADDR}/22' 2>/dev/null && break; sleep 0.01; done`;
    const rows: RowSpec[] = [
      {
        key: 'floor',
        name: 'ssh with the door already open (floor)',
        command: 'ssh -F STICK/.ssh/config -o ProxyCommand=none home true',
        bl: single,
        floor: true,
        script: async () => `cd / && ssh -F ${single.stick.config} -o ProxyCommand=none -4 home true`,
      },
      { key: 'callhome', name: "callhome (the stick's launcher: ssh at once, node once as its ProxyCommand)", command: 'STICK/callhome -- true', bl: single, phases: true, script: async () => `${launcher} -- true` },
      { key: 'proxy', name: 'plain ssh through the ProxyCommand, from /', command: 'cd / && ssh -F STICK/.ssh/config home true', bl: single, phases: true, script: async () => `cd / && ssh -F ${single.stick.config} home true` },
      { key: 'callhomenode', name: "node's callhome (flags: node, then ssh with node as its ProxyCommand)", command: 'callhome --stick STICK -- true', bl: single, phases: true, script: async () => nodeCallhome(single) },
      {
        key: 'proof',
        name: 'callhome, and a second connection from the same address while its ssh is in',
        command: "STICK/callhome -- 'sleep 1' & (once ss shows it established) bash -c 'exec 3<>/dev/tcp/HOST/22' (2 s)",
        bl: single,
        runs: Math.min(RUNS, 5),
        // The second connection starts within ~10 ms of callhome's ssh connection being established,
        // so well within cmd_timeout of the door opening.
        script: async () =>
          `${launcher} -- 'sleep 1' & ch=$!; ` +
          `for i in $(seq 1000); do ss -Htn state established dst ${SERVER_ADDR}:22 | grep -q . && break; sleep 0.01; done; ` +
          `if timeout 2 bash -c 'exec 3<>/dev/tcp/${SERVER_ADDR}/22' 2>/dev/null; then echo second-got-in; else echo second-refused; fi; wait $ch`,
      },
      { key: 'basefloor', name: 'floor in the baseline lab (iptables)', command: 'ssh -F STICK/.ssh/config home true', bl: base, floor: true, script: async () => base.ssh },
      {
        key: 'knockpoll',
        name: 'knock, poll port 22 every 10 ms, then ssh',
        command: 'knock HOST P1..P5; until connect HOST:22; do sleep 0.01; done; ssh home true',
        bl: base,
        script: async () => `knock ${SERVER_ADDR} ${(await base.takeSequence()).join(' ')} && ${poll(base)} && ${base.ssh}`,
      },
      {
        key: 'fwknop',
        name: 'fwknop, poll port 22 every 10 ms, then ssh',
        command: 'fwknop --rc-file STICK/.ssh/fwknoprc -n home; until connect ...; ssh home true',
        bl: base,
        script: async () => `fwknop --rc-file ${spaRc} -n home --no-save-args >/dev/null && ${poll(base)} && ${base.ssh}`,
      },
      { key: 'callhomespa', name: "node's callhome --method spa (real fwknopd)", command: 'callhome --method spa -- true', bl: base, phases: true, script: async () => nodeCallhome(base, ' --door-window 0 --method spa') },
    ];

    const results = new Map<string, RowResult>();
    const connectMs = new Map<string, number>();
    const cold = { nodeBare: [] as number[], nodeCa: [] as number[], version: [] as number[], dryRun: [] as number[], stickVersion: [] as number[], connectHelp: [] as number[] };
    const stickBundle = join(single.stick.root, '.knockstick', 'knockstick.mjs');
    const cleanEnv = { PATH: CLEAN_PATH, HOME: single.env.HOME as string };
    const caFile = process.env.NODE_EXTRA_CA_CERTS;

    for (const rtt of RTTS) {
      for (const bl of labs) await bl.setRtt(rtt);
      // The delay, checked: TCP connect time with the door open.
      for (const bl of labs) {
        await bl.openFloor();
        connectMs.set(`${bl.name}@${rtt}`, await measureConnect(bl));
        await bl.closeFloor();
      }
      for (let i = 0; i < RUNS; i++) {
        for (const row of rows) {
          if (i >= (row.runs ?? RUNS)) continue;
          const id = `${row.key}@${rtt}`;
          const r = results.get(id) ?? { times: [], failures: 0, failTimes: [], phases: [], outputs: [], windows: [] };
          results.set(id, r);
          if (row.floor) await row.bl.openFloor();
          const out = await timedRun(row.bl, await row.script());
          if (row.floor) await row.bl.closeFloor();
          if (out.exitCode === 0) {
            r.times.push(out.ms);
            r.windows.push({ start: out.start, end: out.end });
          } else {
            r.failures++;
            r.failTimes.push(out.ms);
            process.stderr.write(`\n${id} run ${i + 1} failed (exit ${out.exitCode}): ${out.stderr.trim().split('\n').slice(-3).join(' | ')}\n`);
          }
          if (row.phases && out.exitCode === 0) r.phases.push(parseTimingLines(out.stderr));
          r.outputs.push(out.stdout.trim());
          if (!row.floor) await row.bl.settle();
        }
        if (rtt === 0) {
          // Cold starts on the host, interleaved with the rows so they see the same load.
          cold.nodeBare.push(await coldStart(process.execPath, ['-e', '0'], cleanEnv));
          if (caFile !== undefined) cold.nodeCa.push(await coldStart(process.execPath, ['-e', '0'], { ...cleanEnv, NODE_EXTRA_CA_CERTS: caFile }));
          cold.version.push(await coldStart(process.execPath, [join(BIN, 'callhome.js'), '--version'], cleanEnv));
          cold.stickVersion.push(await coldStart(process.execPath, [stickBundle, '--version'], cleanEnv));
          cold.connectHelp.push(await coldStart(process.execPath, [join(dirname(stickBundle), 'connect.mjs'), 'connect', '--help'], cleanEnv));
          cold.dryRun.push(await coldStart(process.execPath, [join(BIN, 'callhome.js'), '--stick', single.stick.root, '--dry-run'], cleanEnv));
        }
        process.stderr.write(`\rRTT ${rtt} ms: round ${i + 1}/${RUNS}   `);
      }
      process.stderr.write('\n');
    }
    for (const bl of labs) await bl.setRtt(0);
    const uptimeAfter = version('uptime');

    // ---- results.md ----
    const get = (key: string, rtt: number) => results.get(`${key}@${rtt}`);
    const med = (key: string, rtt: number) => median(get(key, rtt)?.times ?? []);
    const floorOf = (row: RowSpec) => (row.bl === base ? 'basefloor' : 'floor');
    const table = (rtt: number) =>
      rows
        .filter((row) => row.key !== 'proof')
        .map((row) => {
          const r = get(row.key, rtt);
          const m = median(r?.times ?? []);
          const runs = (r?.times.length ?? 0) + (r?.failures ?? 0);
          return `| ${row.name} | \`${row.command}\` | ${row.bl.name} | ${fmtMs(m)} | ${fmtMs(percentile(r?.times ?? [], 10))} - ${fmtMs(percentile(r?.times ?? [], 90))} | ${fmtRatio(m, med(floorOf(row), rtt))} | ${r?.times.length ?? 0}/${runs} |`;
        })
        .join('\n');
    const doorKnock0 = single.doorLatencies.filter((d) => d.method === 'knock').map((d) => d.ms);
    const doorKnockAll = labs.flatMap((bl) => bl.doorLatencies.filter((d) => d.method === 'knock').map((d) => d.ms));
    const doorSpa = labs.flatMap((bl) => bl.doorLatencies.filter((d) => d.method === 'spa').map((d) => d.ms));
    const doorLatency = median(doorKnock0);
    const nodeBare = median(cold.nodeBare);
    const targetsOf = (key: string) =>
      evaluateTargets({
        floor0: med('floor', 0),
        callhome0: med(key, 0),
        knockPoll0: med('knockpoll', 0),
        floor40: med('floor', 40),
        callhome40: med(key, 40),
        nodeBare,
        doorLatency,
        maxRatio40: 1.2,
        slackMs: 40,
      });
    const targetLines = (key: string) => targetsOf(key).map((t) => `- ${t.target}: **${t.detail}**`).join('\n');
    const phaseTable = (key: string) => {
      const p0 = phaseMedians(get(key, 0)?.phases ?? []);
      const p40 = new Map(phaseMedians(get(key, 40)?.phases ?? []).map((p) => [p.phase, p.median]));
      return p0.map((p) => `| ${p.phase} | ${fmtMs(p.median)} | ${fmtMs(p40.get(p.phase) ?? NaN)} |`).join('\n');
    };
    // Each knocking row's runs on the server's wire: medians of the offsets from the command's start.
    const wireTable = rows
      .filter((row) => row.key !== 'proof')
      .flatMap((row) =>
        RTTS.map((rtt) => {
          const r = get(row.key, rtt);
          // The floor's door is the bench's own rule, put in before the run (nft monitor reports it late).
          const events = row.floor ? row.bl.events.filter((e) => e.kind !== 'door') : row.bl.events;
          const lines = (r?.windows ?? []).map((w) => runTimeline(events, w.start, w.end));
          const col = (pick: (t: RunTimeline) => number | undefined) => fmtMs(median(lines.map(pick).filter((x): x is number => x !== undefined)));
          return `| ${row.name} | ${rtt} ms | ${col((t) => t.firstKnock)} | ${col((t) => t.lastKnock)} | ${col((t) => t.door)} | ${col((t) => t.sshSyn)} | ${fmtMs(median(r?.times ?? []))} |`;
        }),
      )
      .join('\n');
    const proofLine = (rtt: number) => {
      const outs = get('proof', rtt)?.outputs ?? [];
      const refused = outs.filter((o) => o.includes('second-refused')).length;
      const gotIn = outs.filter((o) => o.includes('second-got-in')).length;
      return `${rtt} ms RTT: callhome got in ${get('proof', rtt)?.times.length ?? 0}/${outs.length}; the second connection was refused ${refused}/${outs.length}${gotIn > 0 ? `, got in ${gotIn}/${outs.length}` : ''}`;
    };
    const md = `# Time to shell

From the start of the command to \`ssh HOST true\` done, ${RUNS} runs per row at each round-trip
time, all in one run of \`bench/run\`, rows interleaved (one run of each per round). Measured
${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.

Setup: the real knockd 0.8 (one-time sequences, \`tcpflags = syn\`, cmd_timeout ${CMD_TIMEOUT} s) and
the real sshd (a passphrase key typed by SSH_ASKPASS) in network namespaces joined by a veth pair,
the server side written by \`knockstick server init\`. Two labs: **single** is server init's default
(nftables${windowPolicy ? ', single-use doors' : ''}); **baseline** is \`--firewall iptables${windowPolicy ? ' --door-policy window' : ''}\`,
for the tools that need a door admitting more than one connection (the poll's probe connection
would use up a single-use door) and for fwknopd 2.6 with its own iptables backend
(FW_ACCESS_TIMEOUT ${CMD_TIMEOUT} s). Every run waits until the previous door is gone.

**Hermetic**: sshd logs in a lab user that exists only in sshd's mount namespace (own empty home,
/bin/sh, the host's /root and /etc/ssh hidden), started with an empty environment; the client
commands run with a clean environment (PATH=${CLEAN_PATH}, HOME in the lab, no agent, no
NODE_EXTRA_CA_CERTS) and every ssh reads only the stick's config (\`-F\`).

**Round-trip time: real delay, not a model.** This kernel has no netem (nor fq for BPF departure
times), so \`bench/nfqueue-delay.py\` holds every packet of the client's veth 20 ms on the way out
and 20 ms on the way in (iptables NFQUEUE in the client namespace). Checked with the door open:
median TCP connect time ${labs.map((bl) => `${bl.name} lab ${RTTS.map((r) => `${r} ms: ${(connectMs.get(`${bl.name}@${r}`) ?? NaN).toFixed(1)} ms`).join(', ')}`).join('; ')}.

## 0 ms RTT

| row | command | lab | median | p10 - p90 | vs its lab's floor | succeeded |
| --- | --- | --- | --- | --- | --- | --- |
${table(0)}

## 40 ms RTT

| row | command | lab | median | p10 - p90 | vs its lab's floor | succeeded |
| --- | --- | --- | --- | --- | --- | --- |
${table(40)}

## One knock, one connection

\`STICK/callhome -- 'sleep 1'\`; as soon as \`ss\` in the client namespace shows its ssh connection
established (polled every 10 ms), a plain TCP connection to port 22 from the same address, given
2 s to connect: ${proofLine(0)}; ${proofLine(40)}.

## Targets (issue 14, medians of this run)

callhome (\`STICK/callhome -- true\`, the stick's launcher):

${targetLines('callhome')}

The same targets for plain \`ssh -F STICK/.ssh/config home true\` through the ProxyCommand:

${targetLines('proxy')}

## Where the time goes, on the wire

The server-side watch (\`bench/door-watch.py\`: kernel receive timestamps on the server's veth, the
door from \`nft monitor\`), as milliseconds from the start of the command, medians over the
successful runs: the first and last knock (or the SPA packet) reaching the server, the door in the
firewall (when \`nft monitor\` reports it: a few ms after the kernel has it, so the SYN that got in
can come before it), the SYN to port 22 that got in (the first after the door; where no door shows, the first
SYN to port 22: the floor's ssh, the poll's first probe), and the end. The baseline lab's knockd
doors are xt_recent entries, which \`nft monitor\` does not see (fwknopd's rules it does).

| row | RTT | first knock | last knock | door | SYN to 22 | end |
| --- | --- | --- | --- | --- | --- | --- |
${wireTable}

## Phases, as the node process prints them

From \`KNOCKSTICK_TIMING=1\`: milliseconds since the start of the node process that printed the
line, medians over the successful runs. With the launcher and with plain ssh that process is the
ProxyCommand (\`knockstick connect\`), started by ssh after ssh read its config: its clock starts
later than the command (the wire table above has the command's clock).

callhome (the launcher):

| phase | 0 ms RTT | 40 ms RTT |
| --- | --- | --- |
${phaseTable('callhome')}

plain ssh through the ProxyCommand:

| phase | 0 ms RTT | 40 ms RTT |
| --- | --- | --- |
${phaseTable('proxy')}

node's callhome (node's phases up to "starting ssh", then the proxy's, each from its own process start):

| phase | 0 ms RTT | 40 ms RTT |
| --- | --- | --- |
${phaseTable('callhomenode')}

## Other numbers from the same run

- knockd's door latency (last knock SYN on the server's veth, kernel timestamp, to the door appearing
  in \`nft monitor\`): median ${fmtMs(doorLatency)}, p10 - p90 ${fmtMs(percentile(doorKnock0, 10))} - ${fmtMs(percentile(doorKnock0, 90))} (${doorKnock0.length} doors, single lab); all knock doors of both labs: median ${fmtMs(median(doorKnockAll))} (${doorKnockAll.length}). fwknopd (SPA packet to its rule): median ${fmtMs(median(doorSpa))} (${doorSpa.length}).
- Cold start, median of ${cold.nodeBare.length}, clean environment: \`node -e 0\` ${fmtMs(nodeBare)}${caFile !== undefined ? ` (${fmtMs(median(cold.nodeCa))} with this machine's NODE_EXTRA_CA_CERTS=${caFile})` : ''}; \`callhome --version\` ${fmtMs(median(cold.version))} (dist/bin, split chunks), \`node STICK/.knockstick/knockstick.mjs --version\` ${fmtMs(median(cold.stickVersion))} (the stick's single-file bundle), \`node STICK/.knockstick/connect.mjs connect --help\` ${fmtMs(median(cold.connectHelp))} (the proxy's own bundle, which the ProxyCommand runs); \`callhome --dry-run\` (loads what callhome needs, sends nothing) ${fmtMs(median(cold.dryRun))}.
- Load: before \`${uptimeBefore}\`; after \`${uptimeAfter}\` (the machine is shared: compare rows of this run, not runs).

Reproduce: \`sudo bench/run\` (BENCH_RUNS=${RUNS}).

Machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${version('uname -sr')}; node ${process.version};
${version('knockd -V')}; ${version('ssh -V 2>&1')}; ${version('iptables -V')}; ${version('nft -v')}; ${version('fwknopd --version')}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.
`;
    await writeFile(join(ROOT, 'bench', 'results.md'), md);
    process.stdout.write(md);
  } finally {
    for (const bl of labs) await bl.lab.teardown();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
