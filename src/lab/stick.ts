// A stick directory for the lab: the layout callhome expects, with a fresh key the lab's sshd
// accepts and the lab server's host key in known_hosts.

import { appendFile, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { SERVER_ADDR, SSH_PORT, type SshdHandle } from './lab.js';
import { DOOR_DEFAULTS } from '../core/door/options.js';
import { proxiedConnectTimeout } from '../core/door/proxied.js';
import { proxyCommandFor } from '../core/door/proxy-command.js';
import { BUNDLE_PATH, launcherText, ownBundle } from '../usbsetup/content.js';

export interface LabStick {
  readonly root: string;
  readonly config: string;
  readonly sequences: string;
}

export interface LabStickOptions {
  /** Key passphrase; empty for none. With one, ssh needs SSH_ASKPASS (see askpassEnv). */
  readonly passphrase?: string;
  /** Put the public key into the server's authorized_keys (false: ssh will be refused). */
  readonly authorize?: boolean;
  /** Extra lines for the Host entry. */
  readonly extraConfig?: readonly string[];
  /**
   * A stick as usbsetup makes it now: the `callhome` and `knockstick` launchers and the bundle in
   * .knockstick/, and a Host entry with `ProxyCommand 'ROOT/knockstick' connect %n %h %p` and
   * absolute IdentityFile/UserKnownHostsFile, so that plain `ssh -F ROOT/.ssh/config home` knocks
   * for itself from any directory.
   */
  readonly proxyCommand?: boolean;
  /**
   * Key with a passphrase, encrypted with 1 bcrypt round (`ssh-keygen -a 1`) instead of 16: the
   * passphrase still guards it and askpass still types it, but each login decrypts it in ~1 ms
   * rather than ~120 ms of CPU (double under load), for tests that log in dozens of times. The
   * demo and the benchmark keep the default, as a real stick has.
   */
  readonly fastKdf?: boolean;
}

export async function makeLabStick(root: string, sshd: SshdHandle, options: LabStickOptions = {}): Promise<LabStick> {
  const sshDir = join(root, '.ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  const key = join(sshDir, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', options.passphrase ?? '', ...(options.fastKdf === true ? ['-a', '1'] : []), '-C', 'knockstick-lab-stick', '-f', key]);
  if (options.authorize ?? true) await appendFile(sshd.authorizedKeys, await readFile(`${key}.pub`, 'utf8'));
  await writeFile(join(sshDir, 'known_hosts'), sshd.knownHostsLine, { mode: 0o600 });
  const config = join(sshDir, 'config');
  const proxied = options.proxyCommand === true;
  if (proxied) await installLaunchers(root);
  // Relative paths on purpose: they must work wherever the stick is mounted (callhome runs ssh in
  // the stick's directory). With the ProxyCommand, absolute ones: plain ssh runs anywhere.
  const at = (path: string): string => (proxied ? `"${join(root, path)}"` : path);
  await writeFile(
    config,
    [
      'Host home',
      `  HostName ${SERVER_ADDR}`,
      `  User ${sshd.user}`,
      `  Port ${SSH_PORT}`,
      ...(proxied ? [`  ProxyCommand ${proxyCommandFor([join(root, 'knockstick')])}`] : []),
      `  IdentityFile ${at('.ssh/id_ed25519')}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${at('.ssh/known_hosts')}`,
      '  StrictHostKeyChecking yes',
      `  ConnectTimeout ${proxiedConnectTimeout(DOOR_DEFAULTS)}`,
      ...(options.extraConfig ?? []).map((l) => `  ${l}`),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { root, config, sequences: join(sshDir, 'sequences') };
}

/** The launchers and the bundle, as usbsetup writes them (the bundle from `npm run build`). */
async function installLaunchers(root: string): Promise<void> {
  await mkdir(join(root, '.knockstick'), { recursive: true, mode: 0o700 });
  await copyFile(ownBundle(), join(root, BUNDLE_PATH));
  // The proxy's small bundle (connect alone), which the launcher prefers when the stick has it.
  await copyFile(join(dirname(ownBundle()), 'connect.mjs'), join(root, '.knockstick', 'connect.mjs'));
  for (const [name, command] of [['callhome', 'callhome'], ['knockstick', undefined]] as const) {
    await writeFile(join(root, name), await launcherText(command), { mode: 0o700 });
  }
}

/**
 * Environment that lets ssh read a key passphrase without a terminal: an askpass script that
 * prints it (the way a test types it). The script lives in `dir`, mode 0700.
 */
export async function askpassEnv(dir: string, passphrase: string): Promise<Record<string, string>> {
  const script = join(dir, 'askpass.sh');
  await writeFile(script, `#!/bin/sh\nprintf '%s\\n' '${passphrase.replace(/'/g, `'\\''`)}'\n`, { mode: 0o700 });
  return { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: 'knockstick-lab:0' };
}
