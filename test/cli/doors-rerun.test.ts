// Re-running server init on a server made before single-use doors. test/fixtures/before-single-use/
// holds what server init wrote then (knockstick at a114584, `--out /tmp/ks-before/CFG --interface eth0
// --cmd-timeout 7 --seq-timeout 12 --count 0`, plus `--allow tcp/443` or two --inner hosts): the
// rerun recognises those files as its own older output, upgrades them without --force, says what
// changes, and keeps a backup; a file someone edited still needs --force.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, knockstick, tempDir } from '../helpers/cli.js';
import { loadTemplate } from '../../src/core/templates.js';
import { parseSequenceFile } from '../../src/core/sequences.js';
import { OLDER_TEMPLATE_NAMES, planBeforeSingleUse } from '../../src/server/older-doors.js';
import { TEMPLATE_NAMES, pathsIn, type ServerFirewall } from '../../src/server/plan.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'before-single-use');

interface Config {
  readonly name: string;
  readonly firewall: ServerFirewall;
  readonly extra: readonly string[];
}
const CONFIGS: readonly Config[] = [
  { name: 'nftables', firewall: 'nftables', extra: ['--allow', 'tcp/443'] },
  { name: 'iptables', firewall: 'iptables', extra: ['--allow', 'tcp/443'] },
  { name: 'ufw', firewall: 'ufw', extra: ['--allow', 'tcp/443'] },
  { name: 'rnft', firewall: 'nftables', extra: ['--inner', 'web=192.168.1.10', '--inner', 'my-nas=192.168.1.11'] },
  { name: 'ript', firewall: 'iptables', extra: ['--inner', 'web=192.168.1.10', '--inner', 'my-nas=192.168.1.11'] },
];

/** The fixture's files, as server init would have written them at `dir` (their paths rewritten). */
async function oldFiles(config: Config, dir: string): Promise<Map<string, string>> {
  const from = `/tmp/ks-before/${config.name}`;
  const files = new Map<string, string>();
  for (const name of await readdir(join(FIXTURES, config.name))) files.set(name, (await readFile(join(FIXTURES, config.name, name), 'utf8')).replaceAll(from, dir));
  return files;
}

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => dir.cleanup());

describe('the files server init wrote before single-use doors', () => {
  it.each(CONFIGS)('are rendered again byte for byte from templates/before-single-use.* ($name)', async (config) => {
    const templates = Object.fromEntries(await Promise.all([...TEMPLATE_NAMES, ...OLDER_TEMPLATE_NAMES].map(async (n) => [n, await loadTemplate(n)] as const)));
    const old = await oldFiles(config, '/srv/ks');
    const panic = /^panic_sequence = (.*)$/m.exec(old.get('server.conf') ?? '')?.[1] ?? '';
    const inner = config.extra.includes('--inner') ? [{ name: 'web', address: '192.168.1.10' }, { name: 'my-nas', address: '192.168.1.11' }] : [];
    const rendered = planBeforeSingleUse(
      {
        interface: 'eth0',
        firewall: config.firewall,
        sshPort: 22,
        seqTimeout: 12,
        cmdTimeout: 7,
        doorPolicy: 'single-use',
        panicSequence: parseSequenceFile(` ${panic}\n`, 'x', 'server').file.lines[0]?.sequence ?? [],
        inner,
        allow: inner.length === 0 ? [{ protocol: 'tcp', port: 443 }] : [],
        paths: pathsIn('/srv/ks'),
      },
      templates,
    );
    for (const [path, text] of rendered) expect({ path, text }).toEqual({ path, text: old.get(path.slice('/srv/ks/'.length)) });
    expect(rendered.size).toBeGreaterThanOrEqual(3);
  });

  it.each(CONFIGS)('are upgraded by a rerun with the same flags, without --force, saying what changes ($name)', async (config) => {
    const out = join(dir.path, 'out');
    await mkdir(out);
    const old = await oldFiles(config, out);
    for (const [name, text] of old) await writeFile(join(out, name), text, { mode: name.endsWith('.sh') ? 0o700 : name.startsWith('sshd') || name.startsWith('knockd.service') ? 0o644 : 0o600 });
    const args = ['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--cmd-timeout', '7', '--seq-timeout', '12', '--count', '0', '--firewall', config.firewall, ...config.extra];
    const rerun = await knockstick(args);
    expect({ exitCode: rerun.exitCode, stderr: rerun.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(rerun.stdout).toContain('These files hold the doors server init wrote before single-use doors');
    expect(rerun.stdout).toContain(`${join(out, 'knockd.conf')} is what server init wrote before single-use doors; it is upgraded:`);
    expect(rerun.stdout).toMatch(/^-\s+stop_command/m);
    const conf = await readFile(join(out, 'knockd.conf'), 'utf8');
    expect(conf).not.toMatch(/^\s*stop_command/m);
    expect(await readFile(join(out, 'server.conf'), 'utf8')).toMatch(/^door_policy = single-use$/m);
    // The panic sequence is kept; every upgraded file has its backup.
    expect(conf).toContain(`sequence    = ${/^panic_sequence = (.*)$/m.exec(old.get('server.conf') ?? '')?.[1]}`);
    const backups = (await readdir(out)).filter((n) => n.includes('.knockstick-bak.'));
    expect(backups.length).toBeGreaterThanOrEqual(3);
    // Sequences are never printed, even in the diff of knockd.conf.
    expect(rerun.stdout).not.toMatch(/sequence += \d/);
    const again = await knockstick(args);
    expect(again.stdout).toContain('Nothing to change');
  });

  it('a file that is neither the older nor the new output is still an edit, replaced only with --force', async () => {
    const config = CONFIGS[0] as Config;
    const out = join(dir.path, 'out');
    await mkdir(out);
    const old = await oldFiles(config, out);
    for (const [name, text] of old) await writeFile(join(out, name), name === 'firewall.nft' ? `${text}# my edit\n` : text, { mode: name.startsWith('sshd') || name.startsWith('knockd.service') ? 0o644 : 0o600 });
    const args = ['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--cmd-timeout', '7', '--seq-timeout', '12', '--count', '0', ...config.extra];
    const refused = await knockstick(args);
    expect(refused.exitCode).toBe(6);
    expect(refused.stderr).toMatch(/firewall\.nft differs from what server init writes/);
    expect(await readFile(join(out, 'knockd.conf'), 'utf8')).toBe(old.get('knockd.conf'));
    expect((await knockstick([...args, '--force'])).exitCode).toBe(0);
  });
});

describe('--door-policy', () => {
  it('refuses anything but single-use or window, before writing anything', async () => {
    const out = join(dir.path, 'out');
    const bad = await knockstick(['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--door-policy', 'once']);
    expect({ exitCode: bad.exitCode, stderr: bad.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/--door-policy must be single-use or window, got "once"/) });
    await expect(readdir(out)).rejects.toThrow();
  });

  it('with --method spa needs nftables for single-use doors (fwknopd\'s own iptables doors are windows)', async () => {
    const base = ['server', 'init', '--yes', '--method', 'spa', '--spa-server', 'home.example.org', '--interface', 'eth0', '--out', join(dir.path, 'spa'), '--dry-run'];
    const refused = await knockstick([...base, '--firewall', 'iptables', '--door-policy', 'single-use']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/--door-policy single-use with --method spa needs --firewall nftables/);
    expect((await knockstick([...base, '--firewall', 'iptables'])).exitCode).toBe(0);
    const window = await knockstick([...base, '--door-policy', 'window']);
    expect(window.stdout).toContain('    ct state new ip saddr @spa4 tcp dport 22 accept\n');
  });

  it('a rerun keeps the policy server.conf names unless the flag says otherwise', async () => {
    const out = join(dir.path, 'out');
    const args = ['server', 'init', '--yes', '--interface', 'eth0', '--out', out, '--count', '0'];
    expect((await knockstick([...args, '--door-policy', 'window'])).exitCode).toBe(0);
    const again = await knockstick(args);
    expect(again.stdout).toContain('Nothing to change');
    expect(await readFile(join(out, 'server.conf'), 'utf8')).toMatch(/^door_policy = window$/m);
    const changed = await knockstick([...args, '--door-policy', 'single-use', '--force']);
    expect(changed.exitCode).toBe(0);
    expect(await readFile(join(out, 'firewall.nft'), 'utf8')).toContain('delete @doors4 { ip saddr } accept');
  });
});
