// The stick on a borrowed machine with Debian 12's or Ubuntu 24.04's node (18): the stick's launcher
// runs the stick's bundle with the `node` it finds on PATH, here a real Node 18 from the npm
// registry (test/helpers/node18.ts), and callhome gets a shell through the real knockd, sshd and
// iptables in the lab.

import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, knockstick } from '../helpers/cli.js';
import { NODE18_VERSION, node18BinDir } from '../helpers/node18.js';
import { createLab, knockdConfig, runIn, setupFirewall, startKnockd, startSshd, type KnockdHandle, type Lab } from '../../src/lab/lab.js';
import { askpassEnv, makeLabStick, type LabStick } from '../../src/lab/stick.js';
import { launcherText } from '../../src/usbsetup/content.js';

jest.setTimeout(240_000);

const PASSPHRASE = 'lab passphrase, not a real one';
const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64' ? describe : describe.skip;

/** The stick's launchers and bundle, the way usbsetup lays them out. */
async function addLaunchers(root: string): Promise<void> {
  await mkdir(join(root, '.knockstick'), { recursive: true, mode: 0o700 });
  await copyFile(join(ROOT, 'dist', 'stick', 'knockstick.mjs'), join(root, '.knockstick', 'knockstick.mjs'));
  for (const [name, command] of [['callhome', 'callhome'], ['knockstick', undefined]] as const) {
    await writeFile(join(root, name), await launcherText(command));
    await chmod(join(root, name), 0o700);
  }
}

onLinuxX64(`the stick with Node ${NODE18_VERSION} first on PATH`, () => {
  let lab: Lab;
  let knockd: KnockdHandle | undefined;
  let stick: LabStick;
  let serverFile: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    const node18 = await node18BinDir();
    lab = await createLab();
    const sshd = await startSshd(lab);
    const firewall = await setupFirewall(lab, 'iptables');
    stick = await makeLabStick(join(lab.dir, 'stick'), sshd, { passphrase: PASSPHRASE });
    await addLaunchers(stick.root);
    serverFile = join(lab.dir, 'server-ssh');
    expect((await knockstick(['seqgen', '5', '--server-file', serverFile, '--stick', stick.root])).exitCode).toBe(0);
    const config = join(lab.dir, 'knockd.conf');
    await writeFile(config, knockdConfig(lab, { sequencesFile: serverFile, firewall, cmdTimeout: 2 }));
    knockd = await startKnockd(lab, config);
    const home = join(lab.dir, 'home');
    await mkdir(home);
    env = { PATH: `${node18}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: home, ...(await askpassEnv(lab.dir, PASSPHRASE)) };
  });
  afterAll(async () => {
    await knockd?.stop();
    await lab?.teardown();
  });

  it('is the node the launcher finds', async () => {
    const found = await execa('sh', ['-c', 'node --version'], { env, extendEnv: false });
    expect(String(found.stdout)).toBe(`v${NODE18_VERSION}`);
  });

  it("callhome through the stick's launcher knocks, the door opens, ssh runs the command", async () => {
    const result = await runIn(lab.clientNs, 'sh', [join(stick.root, 'callhome'), '--', 'echo "shell on $(hostname)"; node --version 2>/dev/null || true'], { env });
    expect({ exitCode: result.exitCode, stderr: result.exitCode === 0 ? '' : result.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(result.stdout).toMatch(/^shell on /m);
    expect(result.stderr).toMatch(/door open after \d+ ms/);
    const status = JSON.parse((await knockstick(['seqgen', 'status', '--json', '--server-file', serverFile, '--stick', stick.root])).stdout);
    expect(status.stick.used).toBe(1);
    expect(status.server.used).toBe(1);
  });

  it("runs the stick's other commands: --version, help, seqgen status, doctor", async () => {
    const run = (args: string[]) => execa('sh', [join(stick.root, 'knockstick'), ...args], { env, extendEnv: false, reject: false, cwd: stick.root });
    expect(String((await run(['--version'])).stdout)).toMatch(/^\d+\.\d+\.\d+$/);
    for (const command of ['callhome', 'seqgen', 'doctor', 'secureon', 'secureoff', 'usbsetup', 'server', 'panic', 'spa']) {
      const help = await run([command, '--help']);
      expect({ command, exitCode: help.exitCode, stderr: String(help.stderr) }).toEqual({ command, exitCode: 0, stderr: '' });
    }
    // seqgen writes both files (append on the server, atomic replace on the stick) with Node 18 too.
    const refill = await run(['seqgen', '3', '--server-file', serverFile]);
    expect({ exitCode: refill.exitCode, stderr: String(refill.stderr) }).toEqual({ exitCode: 0, stderr: '' });
    const status = await run(['seqgen', 'status', '--json', '--server-file', serverFile]);
    expect({ exitCode: status.exitCode, stderr: String(status.stderr) }).toEqual({ exitCode: 0, stderr: '' });
    expect(JSON.parse(String(status.stdout)).stick.unused).toBe(7);
    const repair = await run(['seqgen', 'repair', '--server-file', serverFile]);
    expect(repair.exitCode).toBe(0);
    const doctor = await run(['doctor', '--stick', stick.root, '--server-config', join(lab.dir, 'knockd.conf')]);
    expect(String(doctor.stderr)).not.toMatch(/unexpected error|SyntaxError|is not a function/);
  });
});

describe('the launcher on a node older than 18.19', () => {
  it('refuses with the version it found and the one it needs (exit 127)', async () => {
    const root = await import('node:fs/promises').then((fs) => fs.mkdtemp(join('/tmp', 'knockstick-oldnode-')));
    try {
      await addLaunchers(root);
      const bins = join(root, 'bins');
      await mkdir(bins);
      // A node that says it is 18.18.2 (execa 9 needs 18.19).
      await writeFile(join(bins, 'node'), "#!/bin/sh\ncase $1 in --version) echo v18.18.2 ;; *) printf '18 18' ;; esac\n", { mode: 0o755 });
      for (const t of ['dirname', 'uname', 'ssh']) await execa('ln', ['-s', String((await execa('sh', ['-c', `command -v ${t}`])).stdout), join(bins, t)]);
      const result = await execa('/bin/sh', [join(root, 'callhome')], { env: { PATH: bins }, extendEnv: false, reject: false });
      expect(result.exitCode).toBe(127);
      expect(String(result.stderr)).toMatch(/is Node\.js v18\.18\.2, too old: knockstick needs 18\.19 or newer/);
    } finally {
      await execa('rm', ['-rf', root]);
    }
  });
});
