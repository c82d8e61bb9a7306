// The SPA lab most fwknopd tests share: a lab, optionally the lab firewall with fwknopd's UDP port
// let through, the test's own set-up (sshd, stick, keyrings...), then the real fwknopd on the
// access.conf that set-up asks for. Any failure on the way tears the lab down; stopFwknopdLab is
// the afterAll that stops fwknopd and removes the lab whatever the tests did.

import { NFT_TABLE } from '../../src/core/firewall.js';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { createLab, setupFirewall, startSshd, type Firewall, type FirewallKind, type Lab, type SshdHandle } from '../../src/lab/lab.js';
import { startFwknopd, type FwknopdHandle, type FwknopdOptions } from '../../src/lab/fwknopd.js';
import { makeLabStick, type LabStick } from '../../src/lab/stick.js';

/** fwknopd's UDP server port (fwknopd 2.6.10 has no setting for it: see src/lab/fwknopd.ts). */
export const SPA_PORT = '62201';

export interface FwknopdLab {
  readonly lab: Lab;
  /** The lab firewall, when asked for. */
  readonly firewall: Firewall | undefined;
  /** Reassignable: tests that restart fwknopd on other files keep the handle here. */
  fwknopd: FwknopdHandle | undefined;
}

export interface FwknopdLabOptions {
  /** The lab firewall (setupFirewall: INPUT drops) with fwknopd's UDP port let through. */
  readonly firewall?: FirewallKind;
  /** The test's own set-up in the lab (sshd, stick, files), before fwknopd starts. */
  readonly prepare?: (lab: Lab) => Promise<void>;
  /** fwknopd's options, made once `prepare` is done; none: the test starts fwknopd itself. */
  readonly fwknopd?: (lab: Lab) => FwknopdOptions;
  /** Runs before the teardown when the set-up fails (e.g. stops the gpg-agents `prepare` started). */
  readonly onFailure?: () => Promise<void>;
}

/** Lets the SPA datagram reach fwknopd's UDP server through the dropping input policy. */
export async function allowSpaPort(lab: Lab, kind: FirewallKind): Promise<void> {
  if (kind === 'iptables') await lab.run(lab.serverNs, 'iptables', ['-I', 'INPUT', '1', '-p', 'udp', '--dport', SPA_PORT, '-j', 'ACCEPT']);
  else await lab.run(lab.serverNs, 'nft', ['insert', 'rule', 'inet', NFT_TABLE, 'input', 'udp', 'dport', SPA_PORT, 'accept']);
}

export async function startFwknopdLab(options: FwknopdLabOptions & { readonly fwknopd: (lab: Lab) => FwknopdOptions }): Promise<FwknopdLab & { fwknopd: FwknopdHandle }>;
export async function startFwknopdLab(options?: FwknopdLabOptions): Promise<FwknopdLab>;
export async function startFwknopdLab(options: FwknopdLabOptions = {}): Promise<FwknopdLab> {
  const lab = await createLab();
  try {
    let firewall: Firewall | undefined;
    if (options.firewall !== undefined) {
      firewall = await setupFirewall(lab, options.firewall);
      // fwknopd's UDP server reads from a socket, behind netfilter: the SPA port must pass. It
      // never answers, so a scan sees the same silence as DROP.
      await allowSpaPort(lab, options.firewall);
    }
    await options.prepare?.(lab);
    const fwknopd = options.fwknopd === undefined ? undefined : await startFwknopd(lab, options.fwknopd(lab));
    return { lab, firewall, fwknopd };
  } catch (error) {
    await options.onFailure?.();
    await lab.teardown();
    throw error;
  }
}

export interface SpaStickLab {
  readonly lab: Lab;
  readonly sshd: SshdHandle;
  /** A lab stick (no key passphrase) whose key sshd accepts. */
  readonly stick: LabStick;
  /** An empty HOME for the client side. */
  readonly home: string;
}

/**
 * Where the `server init --method spa` labs start: sshd, a lab stick it accepts and a client HOME,
 * no firewall and no fwknopd yet (the test runs init, loads what it wrote and starts fwknopd on it).
 */
export async function startSpaStickLab(): Promise<SpaStickLab> {
  let made: Omit<SpaStickLab, 'lab'> | undefined;
  const { lab } = await startFwknopdLab({
    prepare: async (lab) => {
      const sshd = await startSshd(lab);
      const stick = await makeLabStick(join(lab.dir, 'stick'), sshd);
      const home = join(lab.dir, 'home');
      await mkdir(home);
      made = { sshd, stick, home };
    },
  });
  return { lab, ...(made as Omit<SpaStickLab, 'lab'>) };
}

/** Stops fwknopd, runs `before` (e.g. stopping gpg-agents), and removes the lab; for afterAll. */
export async function stopFwknopdLab(rig: { readonly lab?: Lab | undefined; readonly fwknopd?: FwknopdHandle | undefined } | undefined, before?: () => Promise<void>): Promise<void> {
  await rig?.fwknopd?.stop();
  await before?.();
  await rig?.lab?.teardown();
}
