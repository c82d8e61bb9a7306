import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { knockstick, makeStick, runBin, tempDir } from '../helpers/cli.js';
import { parseSequenceFile, unusedLines } from '../../src/core/sequences.js';

let dir: { path: string; cleanup: () => Promise<void> };
let server: string;
let stickRoot: string;
let stickFile: string;

beforeEach(async () => {
  dir = await tempDir();
  server = join(dir.path, 'server', 'ssh');
  stickRoot = join(dir.path, 'stick');
  stickFile = join(stickRoot, '.ssh', 'sequences');
  await makeStick(stickRoot);
});
afterEach(async () => {
  await dir.cleanup();
});

const files = () => ['--server-file', server, '--stick', stickRoot];

async function snapshot(): Promise<Record<string, string | null>> {
  const read = async (p: string) => readFile(p, 'latin1').catch(() => null);
  const stickDir = await readdir(join(stickRoot, '.ssh')).catch(() => []);
  return { server: await read(server), stick: await read(stickFile), stickDir: stickDir.filter((n) => n !== 'config').sort().join(',') };
}

describe('seqgen COUNT', () => {
  it('writes COUNT valid, identical lines to the server file and the stick, mode 0600', async () => {
    const result = await knockstick(['seqgen', '50', ...files()]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Added 50 sequence\(s\) of 5 ports/);
    const serverText = await readFile(server, 'utf8');
    expect(await readFile(stickFile, 'utf8')).toBe(serverText);
    const parsed = parseSequenceFile(serverText, server, 'server');
    expect(parsed.problems).toEqual([]);
    expect(unusedLines(parsed.file)).toHaveLength(50);
    expect(serverText).toMatch(/^( \d+(,\d+){4}\n){50}$/);
    expect((await stat(server)).mode & 0o777).toBe(0o600);
    expect((await stat(stickFile)).mode & 0o777).toBe(0o600);
  });

  it('never prints the sequences it wrote', async () => {
    const result = await knockstick(['seqgen', '3', ...files()]);
    const firstPort = (await readFile(server, 'utf8')).trim().split(',')[0] as string;
    expect(result.stdout + result.stderr).not.toContain(firstPort);
  });

  it('appends after what is there, keeping the existing bytes, and adds a missing final newline first', async () => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, '#7001,7002,7003\n 7004,7005,7006', { mode: 0o600 });
    await writeFile(stickFile, '#7001,7002,7003\n 7004,7005,7006\n', { mode: 0o600 });
    const result = await knockstick(['seqgen', '4', ...files()]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/added the missing final newline/);
    const text = await readFile(server, 'utf8');
    expect(text.startsWith('#7001,7002,7003\n 7004,7005,7006\n ')).toBe(true);
    expect(text.split('\n').slice(2, 6).every((l) => /^ \d+,\d+,\d+$/.test(l))).toBe(true);
    expect(await readFile(stickFile, 'utf8')).toBe(text);
  });

  it('keeps the length already in use, and refuses a --length that would mix lengths', async () => {
    expect((await knockstick(['seqgen', '2', '--length', '7', ...files()])).exitCode).toBe(0);
    expect((await knockstick(['seqgen', '2', ...files()])).exitCode).toBe(0);
    const lines = (await readFile(server, 'utf8')).trim().split('\n');
    expect(lines.every((l) => l.split(',').length === 7)).toBe(true);
    const before = await snapshot();
    const mixed = await knockstick(['seqgen', '2', '--length', '5', ...files()]);
    expect(mixed.exitCode).toBe(2);
    expect(mixed.stderr).toMatch(/--length 5 differs from the 7-port sequences/);
    expect(await snapshot()).toEqual(before);
  });

  it('honours --ports and --exclude', async () => {
    const result = await knockstick(['seqgen', '30', '--length', '3', '--ports', '40000-40009', '--exclude', '40000,40002-40004', ...files()]);
    expect(result.exitCode).toBe(0);
    const ports = (await readFile(server, 'utf8')).match(/\d+/g)?.map(Number) ?? [];
    expect(new Set(ports)).toEqual(new Set([40001, 40005, 40006, 40007, 40008, 40009]));
  });

  it('--dry-run validates and writes nothing', async () => {
    const result = await knockstick(['seqgen', '5', '--dry-run', ...files()]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Would add 5/);
    expect(await snapshot()).toEqual({ server: null, stick: null, stickDir: '' });
  });

  it('works under its own name and finds the stick through $KNOCKSTICK_STICK', async () => {
    const result = await runBin('seqgen', ['3', '--server-file', server], { env: { KNOCKSTICK_STICK: stickRoot } });
    expect(result.exitCode).toBe(0);
    expect(await readFile(stickFile, 'utf8')).toBe(await readFile(server, 'utf8'));
  });

  it('defaults the stick to the current directory', async () => {
    const result = await runBin('seqgen', ['3', '--server-file', server], { cwd: stickRoot });
    expect(result.exitCode).toBe(0);
    expect(await readFile(stickFile, 'utf8')).toBe(await readFile(server, 'utf8'));
  });

  it('fails clearly when the stick is not there', async () => {
    const result = await knockstick(['seqgen', '3', '--server-file', server, '--stick', join(dir.path, 'nope')]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/no stick at .*nope/);
    expect(result.stderr).toMatch(/hint: is the stick mounted\?/);
  });

  it.each([
    [['seqgen'], /missing COUNT/],
    [['seqgen', 'many'], /expected COUNT, `status` or `repair`/],
    [['seqgen', '0'], /COUNT must be 1-100000/],
    [['seqgen', '5', '--length', '33'], /--length must be 1-32/],
    [['seqgen', '5', '--ports', '2000-1000'], /LOW must not exceed HIGH/],
    [['seqgen', '5', '--exclude', '22,,23'], /empty item/],
    [['seqgen', '5', '--bogus'], /Unknown option '--bogus'/],
    [['seqgen', 'status', '--length', '5'], /--length does not apply/],
    [['seqgen', '5', '--remote', '--dry-run'], /--dry-run cannot be combined with --remote/],
    [['seqgen', 'status', '--remote'], /--remote does not apply/],
    [['seqgen', '5', '--no-sudo'], /--no-sudo only applies with --remote/],
    [['seqgen', '5', 'office'], /unexpected argument "office"/],
  ])('a bad command line %j exits 2 and writes nothing', async (args, message) => {
    const result = await knockstick([...args, ...files()]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(await snapshot()).toEqual({ server: null, stick: null, stickDir: '' });
  });
});

describe('seqgen refuses bad files and leaves both byte-identical', () => {
  const good = ' 7001,7002,7003\n 7004,7005,7006\n';
  const cases: Array<[string, 'server' | 'stick', string, RegExp]> = [
    ['a non-numeric port', 'server', ' 7001,7002,7003\n 7004,x,7006\n', /ssh:2: port 2 is not a port number/],
    ['port 0', 'server', ' 7001,7002,7003\n 7004,0,7006\n', /ssh:2: port 2 is out of range/],
    ['a port above 65535', 'stick', ' 7001,7002,7003\n 7004,70000,7006\n', /sequences:2: port 2 is out of range/],
    ['more than 32 ports', 'server', ` ${Array.from({ length: 33 }, (_, i) => 9000 + i).join(',')}\n`, /ssh:1: 33 ports/],
    ['a repeated port', 'stick', ' 7001,7002,7003\n 7004,7004,7006\n', /sequences:2: port 7004 appears twice/],
    ['lines of different lengths', 'server', ' 7001,7002,7003\n 7004,7005\n', /ssh:2: has 2 ports but line 1 has 3/],
    ['space-separated ports', 'server', ' 7001,7002,7003\n 7004 7005 7006\n', /ssh:2: ports separated by spaces/],
    ['a missing leading space on the server', 'server', ' 7001,7002,7003\n7004,7005,7006\n', /ssh:2: missing leading space/],
    ['a repeated sequence', 'stick', ' 7001,7002,7003\n 7001,7002,7003\n', /sequences:2: repeats the sequence of line 1/],
  ];

  it.each(cases)('%s', async (_name, side, bad, message) => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, side === 'server' ? bad : good, { mode: 0o600 });
    await writeFile(stickFile, side === 'stick' ? bad : good, { mode: 0o600 });
    const before = await snapshot();
    const result = await knockstick(['seqgen', '5', ...files()]);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/nothing was written/);
    expect(await snapshot()).toEqual(before);
    const status = await knockstick(['seqgen', 'status', ...files()]);
    expect(status.exitCode).toBe(3);
    expect(status.stderr).toMatch(message);
  });

  it('reports the problems of both files at once', async () => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, ' 7001,x\n');
    await writeFile(stickFile, ' 7001,0\n');
    const result = await knockstick(['seqgen', '5', ...files()]);
    expect(result.stderr).toMatch(/ssh:1: port 2 is not a port number/);
    expect(result.stderr).toMatch(/sequences:1: port 2 is out of range/);
  });

  it('refuses files out of step, explaining which lines differ', async () => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, ' 7001,7002\n 7003,7004\n 7005,7006\n');
    await writeFile(stickFile, ' 7001,7002\n 7009,7010\n 7005,7006\n');
    const before = await snapshot();
    const result = await knockstick(['seqgen', '5', ...files()]);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toMatch(/out of step: unused sequence #2 differs/);
    expect(await snapshot()).toEqual(before);
  });

  it('leaves the stick as it was when the server append fails after the stick was written', async () => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, good);
    await writeFile(stickFile, good);
    const before = await snapshot();
    // An immutable file can be read but not opened for writing, even by root.
    const immutable = await execa('chattr', ['+i', server], { reject: false });
    if (immutable.exitCode !== 0) throw new Error(`chattr +i failed (the rollback test needs a file system with attributes): ${immutable.stderr}`);
    try {
      const result = await knockstick(['seqgen', '5', ...files()]);
      expect(result.exitCode).toBe(6);
      expect(result.stderr).toMatch(/cannot open for appending .*ssh/);
    } finally {
      await execa('chattr', ['-i', server]);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('drift and interrupted runs', () => {
  it('drift of a few lines at the head is reported, not refused', async () => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, ' 7001,7002\n 7003,7004\n 7005,7006\n 7007,7008\n');
    await writeFile(stickFile, '#7001,7002\n#7003,7004\n 7005,7006\n 7007,7008\n');
    const status = await knockstick(['seqgen', 'status', ...files()]);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toMatch(/drift: the stick is 2 ahead.*the next callhome knocks stick line 1 \(2 back\)/);
    const result = await knockstick(['seqgen', '2', ...files()]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/note: drift/);
    const after = await knockstick(['seqgen', 'status', '--json', ...files()]);
    expect(JSON.parse(after.stdout).lockstep).toEqual({ state: 'drift', stickAhead: 2 });
  });

  it('repair copies the tail an interrupted seqgen left on one side only', async () => {
    await mkdir(join(dir.path, 'server'));
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, ' 7001,7002\n');
    await writeFile(stickFile, ' 7001,7002\n 7003,7004\n 7005,7006\n');
    const refused = await knockstick(['seqgen', '2', ...files()]);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/lacks the last 2 unused sequence\(s\).*seqgen repair/s);
    const repaired = await knockstick(['seqgen', 'repair', ...files()]);
    expect(repaired.exitCode).toBe(0);
    expect(await readFile(server, 'utf8')).toBe(' 7001,7002\n 7003,7004\n 7005,7006\n');
    expect((await knockstick(['seqgen', 'status', ...files()])).stdout).toMatch(/in step: 3/);
    expect((await knockstick(['seqgen', 'repair', ...files()])).stdout).toMatch(/Nothing to repair/);
  });
});

describe('drift beyond what callhome heals, torn lines, temp files of killed runs', () => {
  const lines = (n: number, used: number) =>
    Array.from({ length: n }, (_, i) => `${i < used ? '#' : ' '}${7001 + 3 * i},${7002 + 3 * i},${7003 + 3 * i}\n`).join('');
  async function pair(serverText: string, stickText: string): Promise<void> {
    await mkdir(join(dir.path, 'server'), { recursive: true });
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(server, serverText, { mode: 0o600 });
    await writeFile(stickFile, stickText, { mode: 0o600 });
  }
  const statusJson = async () => {
    const result = await knockstick(['seqgen', 'status', '--json', ...files()]);
    return { exitCode: result.exitCode, ...JSON.parse(result.stdout) };
  };

  it.each([3, 7])('a stick %i behind is out of step (exit 4) with its offset and `seqgen repair`, which marks the stick', async (n) => {
    await pair(lines(12, n), lines(12, 0));
    const text = await knockstick(['seqgen', 'status', ...files()]);
    expect(text.exitCode).toBe(4);
    expect(text.stdout).toMatch(new RegExp(`out of step: the server is ${n} ahead of the stick.*callhome looks at most 2 ahead\\. \`seqgen repair\` marks .*lines 1-${n} used`));
    expect(text.stdout).not.toMatch(/Not an error/);
    const json = await statusJson();
    expect(json).toMatchObject({ exitCode: 4, ok: false, lockstep: { state: 'drift', stickAhead: -n }, heal: { by: 'repair', action: 'mark', command: 'seqgen repair' } });
    const serverBefore = await readFile(server, 'utf8');
    const repaired = await knockstick(['seqgen', 'repair', ...files()]);
    expect(repaired).toMatchObject({ exitCode: 0, stderr: '' });
    expect(repaired.stdout).toMatch(new RegExp(`Repaired: marked ${n} line\\(s\\) used on .*\nNow in step: ${12 - n} unused`));
    expect(await readFile(server, 'utf8')).toBe(serverBefore);
    expect(await readFile(stickFile, 'utf8')).toBe(serverBefore);
    expect((await statusJson()).heal).toEqual({ by: 'nothing-to-do', command: null });
  });

  it('a stick 2 behind is drift the next callhome heals (exit 0); repair heals it too, on the stick', async () => {
    await pair(lines(8, 2), lines(8, 0));
    expect(await statusJson()).toMatchObject({ exitCode: 0, ok: true, heal: { by: 'callhome', offset: 2, lineNo: 3, command: 'callhome' } });
    expect((await knockstick(['seqgen', 'repair', ...files()])).exitCode).toBe(0);
    expect(await readFile(stickFile, 'utf8')).toBe(lines(8, 2));
  });

  it('a stick 4 ahead: repair marks the lines knockd never consumed unused again on the stick', async () => {
    await pair(lines(10, 1), lines(10, 5));
    expect(await statusJson()).toMatchObject({ exitCode: 4, lockstep: { state: 'drift', stickAhead: 4 }, heal: { by: 'repair', action: 'unmark', lines: [2, 3, 4, 5] } });
    const repaired = await knockstick(['seqgen', 'repair', ...files()]);
    expect(repaired.stdout).toMatch(/marked 4 line\(s\) unused again/);
    expect(await readFile(stickFile, 'utf8')).toBe(lines(10, 1));
    expect(await readFile(server, 'utf8')).toBe(lines(10, 1));
  });

  it('a server append torn mid-line: status and seqgen say so, repair completes it by appending, then copies the rest', async () => {
    const full = lines(12, 0);
    // 10 whole lines and 9 bytes of the 11th, " 7031,703": before, "... has 2 ports but line 1 has 3".
    const tornText = `${full.split('\n').slice(0, 10).join('\n')}\n${(full.split('\n')[10] ?? '').slice(0, 9)}`;
    await pair(tornText, full);
    const status = await knockstick(['seqgen', 'status', ...files()]);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toMatch(/ssh line 11 is torn: its last line has no newline.*start of .*sequences line 11; `seqgen repair` appends the rest/);
    expect((await statusJson()).torn).toEqual({ line: 11, repair: 'complete', command: 'seqgen repair' });
    const refused = await knockstick(['seqgen', '5', ...files()]);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/torn.*hint: run `seqgen repair`; nothing was written/s);
    expect(await readFile(server, 'utf8')).toBe(tornText);
    const repaired = await knockstick(['seqgen', 'repair', ...files()]);
    expect(repaired.exitCode).toBe(0);
    expect(repaired.stdout).toMatch(/completed the torn .*ssh line 11 from .*sequences line 11.*; copied 1 sequence\(s\)/);
    expect(await readFile(server, 'utf8')).toBe(full);
  });

  it('a torn line that matches no stick line is neutralised by appending: knockd refuses it, a blank line follows', async () => {
    const tornText = `${lines(4, 0)} 9001,90`;
    await pair(tornText, lines(4, 0));
    expect((await statusJson()).torn).toEqual({ line: 5, repair: 'neutralise', command: 'seqgen repair' });
    const repaired = await knockstick(['seqgen', 'repair', ...files()]);
    expect(repaired.exitCode).toBe(0);
    expect(repaired.stdout).toMatch(/neutralised the torn .* line 5/);
    expect(await readFile(server, 'utf8')).toBe(`${tornText},99999 torn line neutralised by seqgen repair\n\n`);
    expect(await statusJson()).toMatchObject({ exitCode: 0, lockstep: { state: 'in-step' }, torn: null });
    expect((await knockstick(['seqgen', '2', ...files()])).exitCode).toBe(0);
    expect(await statusJson()).toMatchObject({ exitCode: 0, lockstep: { state: 'in-step' }, server: { unused: 6 } });
  });

  it('temp files of killed runs: status lists them, the next seqgen removes them and says so in one line', async () => {
    await pair(lines(6, 0), lines(6, 0));
    const gone = (await execa('sh', ['-c', 'echo $$'])).stdout.trim(); // a PID no process has any more
    const sshDir = join(stickRoot, '.ssh');
    const stale = `.sequences.${gone}.0123456789ab.tmp`;
    const reusedPid = `.sequences.${process.pid}.0123456789ab.tmp`; // alive, but the file is only written under the lock
    const live = `.config.${process.pid}.0123456789ab.tmp`; // alive, fresh, a file written without the lock
    for (const name of [stale, reusedPid, live]) await writeFile(join(sshDir, name), lines(6, 0), { mode: 0o600 });
    const status = await statusJson();
    expect(status.staleTempFiles.map((p: string) => p.slice(sshDir.length + 1)).sort()).toEqual([stale, reusedPid].sort());
    expect(status.warnings.join('\n')).toMatch(/2 temp file\(s\) left by killed runs/);
    expect((await readdir(sshDir)).sort()).toEqual([live, reusedPid, stale, 'config', 'sequences'].sort());
    const result = await knockstick(['seqgen', '1', ...files()]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr.trim().split('\n').filter((l) => /temp file/.test(l))).toHaveLength(1);
    expect(result.stderr).toMatch(/removed 2 temp file\(s\) left by killed runs/);
    expect((await readdir(sshDir)).sort()).toEqual([live, 'config', 'sequences'].sort());
  });
});

describe('seqgen status', () => {
  it('reports 50 in step with exit 0, in text and JSON', async () => {
    await knockstick(['seqgen', '50', ...files()]);
    const text = await knockstick(['seqgen', 'status', ...files()]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/in step: 50 unused sequence\(s\) on each side/);
    const json = await knockstick(['seqgen', 'status', '--json', ...files()]);
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ ok: true, server: { unused: 50, used: 0, mode: '0600' }, stick: { unused: 50 }, lockstep: { state: 'in-step' } });
    expect(report.warnings).toEqual([]);
  });

  it('warns below the threshold and loudly when the server is down to its last few', async () => {
    await knockstick(['seqgen', '8', ...files()]);
    const low = await knockstick(['seqgen', 'status', ...files()]);
    expect(low.exitCode).toBe(0);
    expect(low.stdout).toMatch(/warning: only 8 unused sequence\(s\) left \(warning below 10\)/);
    await writeFile(server, (await readFile(server, 'utf8')).split('\n').map((l, i) => (i < 6 && l ? `#${l.slice(1)}` : l)).join('\n'));
    const danger = await knockstick(['seqgen', 'status', ...files()]);
    expect(danger.stdout).toMatch(/DANGER: .* only 2 unused sequence\(s\) left\. knockd 0\.8 crashes/);
  });

  it('flags a sequence file others can read', async () => {
    await knockstick(['seqgen', '12', ...files()]);
    await chmod(server, 0o644);
    const result = await knockstick(['seqgen', 'status', ...files()]);
    expect(result.stdout).toMatch(/readable or writable by others \(mode 0644\)/);
  });

  it('exits non-zero when a file is missing, and gives JSON consumers the error on stdout', async () => {
    await knockstick(['seqgen', '3', ...files()]);
    const result = await knockstick(['seqgen', 'status', '--json', '--server-file', join(dir.path, 'none'), '--stick', stickRoot]);
    expect(result.exitCode).toBe(6);
    expect(JSON.parse(result.stdout).ok).toBe(false);
    await writeFile(server, ' 7001,x\n');
    const invalid = await knockstick(['seqgen', 'status', '--json', ...files()]);
    expect(invalid.exitCode).toBe(3);
    expect(JSON.parse(invalid.stdout).error.problems[0]).toMatchObject({ line: 1 });
  });
});

describe('concurrency', () => {
  it('two seqgen runs at once both land, leaving valid files in step', async () => {
    const [a, b] = await Promise.all([knockstick(['seqgen', '40', ...files()]), knockstick(['seqgen', '40', ...files()])]);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    const serverText = await readFile(server, 'utf8');
    expect(await readFile(stickFile, 'utf8')).toBe(serverText);
    const parsed = parseSequenceFile(serverText, server, 'server');
    expect(parsed.problems).toEqual([]);
    expect(unusedLines(parsed.file)).toHaveLength(80);
  });

  it('a run that cannot get the lock in time exits 5 and writes nothing', async () => {
    await knockstick(['seqgen', '3', ...files()]);
    const before = await snapshot();
    // --no-fork: flock becomes the sleep, so killing it releases the lock at once.
    const holder = execa('flock', ['--no-fork', join(stickRoot, '.ssh'), 'sleep', '20'], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const result = await knockstick(['seqgen', '3', '--wait', '1', ...files()]);
      expect(result.exitCode).toBe(5);
      expect(result.stderr).toMatch(/is locked by another seqgen or callhome \(waited 1 s\)/);
    } finally {
      holder.kill();
      await holder;
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('several servers on one stick', () => {
  it('--host ALIAS keeps its own stick file; the default alias keeps .ssh/sequences', async () => {
    const office = join(dir.path, 'server', 'office');
    expect((await knockstick(['seqgen', '4', ...files()])).exitCode).toBe(0);
    expect((await knockstick(['seqgen', '6', '--host', 'office', '--server-file', office, '--stick', stickRoot])).exitCode).toBe(0);
    expect(await readFile(join(stickRoot, '.ssh', 'sequences.office'), 'utf8')).toBe(await readFile(office, 'utf8'));
    expect((await readFile(stickFile, 'utf8')).split('\n').filter(Boolean)).toHaveLength(4);
    const status = await knockstick(['seqgen', 'status', '--host', 'office', '--server-file', office, '--stick', stickRoot]);
    expect(status.stdout).toMatch(/in step: 6/);
    expect((await knockstick(['seqgen', '1', '--host', '../x', ...files()])).exitCode).toBe(2);
  });
});

describe('shared settings', () => {
  it('never uses the panic ports, exclusions and SSH ports named in the server and stick settings', async () => {
    const serverConfig = join(dir.path, 'server.conf');
    await writeFile(serverConfig, 'panic_sequence = 40000,40001,40002\nexclude = 40003\n');
    await mkdir(join(stickRoot, '.ssh'), { recursive: true });
    await writeFile(join(stickRoot, '.ssh', 'knockstick.conf'), '[home]\nexclude = 40004-40005\n');
    await writeFile(join(stickRoot, '.ssh', 'config'), 'Host home\n  HostName 198.51.100.1\n  Port 40006\n');
    const result = await knockstick(['seqgen', '6', '--length', '3', '--ports', '40000-40009', '--server-config', serverConfig, ...files()]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/7 port\(s\) excluded by .*server.conf, .*knockstick.conf, .*config \(Port\)/);
    const ports = new Set((await readFile(server, 'utf8')).match(/\d+/g)?.map(Number));
    expect([...ports].sort()).toEqual([40007, 40008, 40009]);
  });

  it('refuses a settings file with a typo and writes nothing', async () => {
    const serverConfig = join(dir.path, 'server.conf');
    await writeFile(serverConfig, 'panic_sequense = 40000,40001,40002\n');
    const result = await knockstick(['seqgen', '5', '--server-config', serverConfig, ...files()]);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/server.conf:1: unknown key "panic_sequense"/);
    expect(await snapshot()).toEqual({ server: null, stick: null, stickDir: '' });
  });
});
