// server init --method spa's questions, for whatever the flags did not answer. Prompts are injected
// (tests script the answers); every answer is checked by the same function as the matching flag.

import { isIPv4 } from 'node:net';
import type { Prompts } from '../core/prompts.js';
import type { DoorPolicy } from '../core/firewall.js';
import { usageError } from '../core/errors.js';
import { DEFAULT_SPA_PORT, allowCommandProblem, checkedUsername, type SpaFirewall } from './spa-setups.js';

export interface SpaAnswers {
  readonly interface?: string | undefined;
  readonly spaServer?: string | undefined;
  readonly firewall?: SpaFirewall | undefined;
  readonly doorPolicy?: DoorPolicy | undefined;
  readonly spaPort?: number | undefined;
  readonly sshPort?: number | undefined;
  /** null: asked, and no user name is required. */
  readonly requireUsername?: string | null | undefined;
  readonly requireSource?: boolean | undefined;
  /** null: asked, and command messages stay off. */
  readonly allowCommand?: string | null | undefined;
  /** null: asked, and there is no router in front. */
  readonly behindRouter?: string | null | undefined;
  /** null: no stick now (fwknoprc.client to copy onto it). */
  readonly stick?: string | null | undefined;
}

export interface SpaWizardFacts {
  readonly interfaces: readonly string[];
  readonly defaultInterface: string | undefined;
  readonly isDirectory: (path: string) => Promise<boolean>;
}

/** Each check throws the usage error its flag gives; the wizard shows the message and asks again. */
export const spaChecks = {
  spaServer(value: string, flag = '--spa-server'): string {
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(value) || value.startsWith('-')) throw usageError(`${flag} must be the name or IPv4 address the stick sends SPA packets to, got ${JSON.stringify(value)}`);
    return value;
  },
  port(value: string, flag: string): number {
    const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
    if (!(port >= 1 && port <= 65535)) throw usageError(`${flag} must be a port number 1-65535, got ${JSON.stringify(value)}`);
    return port;
  },
  username(value: string, flag = '--require-username'): string {
    try {
      return checkedUsername(value);
    } catch (error) {
      throw usageError(`${flag}: ${(error as Error).message}`);
    }
  },
  allowCommand(value: string, flag = '--allow-command'): string {
    const problem = allowCommandProblem(value);
    if (problem !== undefined) throw usageError(`${flag}: ${problem}`);
    return value;
  },
  address(value: string, flag = '--behind-router'): string {
    if (!isIPv4(value)) throw usageError(`${flag} must be this server's IPv4 address on the router's network (where the router forwards to), got ${JSON.stringify(value)}`);
    return value;
  },
};

/** A prompt validator from a check: true, or the check's message. */
const valid = (check: (value: string) => unknown) => (value: string): true | string => {
  try {
    check(value);
    return true;
  } catch (error) {
    return (error as Error).message.replace(/^--[a-z-]+:? ?/, '');
  }
};

export async function askSpaAnswers(prompts: Prompts, known: SpaAnswers, facts: SpaWizardFacts): Promise<Required<SpaAnswers>> {
  const iface =
    known.interface ??
    (facts.interfaces.length === 0
      ? await prompts.input('Interface SPA packets arrive on (the one facing the Internet or the router):', { validate: (v) => (/^[A-Za-z0-9_.:][A-Za-z0-9_.:-]{0,14}$/.test(v) ? true : 'an interface name') })
      : await prompts.select(
          'Interface SPA packets arrive on (the one facing the Internet or the router):',
          facts.interfaces.map((name) => ({ value: name, name, ...(name === facts.defaultInterface ? { description: 'the default route goes through it' } : {}) })),
          facts.defaultInterface,
        ));
  const behindRouter =
    known.behindRouter !== undefined
      ? known.behindRouter
      : (await prompts.confirm('Is there a router in front of this server (it must forward the SPA port and SSH here)?', false))
        ? await prompts.input("This server's address on the router's network (the router forwards to it):", { validate: valid((v) => spaChecks.address(v)) })
        : null;
  const spaServer =
    known.spaServer ??
    (await prompts.input(behindRouter === null ? 'Name or IPv4 address the stick sends SPA packets to (this server):' : "Name or IPv4 address the stick sends SPA packets to (the router's public one):", {
      validate: valid((v) => spaChecks.spaServer(v)),
    }));
  const firewall =
    known.firewall ??
    (await prompts.select<SpaFirewall>(
      'Firewall:',
      [
        { value: 'nftables', name: 'nftables', description: "Debian's default: a table of its own, doors in a set that close by themselves" },
        { value: 'iptables', name: 'iptables', description: "fwknopd's own FWKNOP_INPUT chain (window doors)" },
        { value: 'ufw', name: 'ufw', description: 'fwknopd runs ufw allow / ufw delete allow for each door (window doors)' },
      ],
      'nftables',
    ));
  const doorPolicy =
    known.doorPolicy ??
    (firewall !== 'nftables'
      ? 'window'
      : await prompts.select<DoorPolicy>(
          'What may a door let in?',
          [
            { value: 'single-use', name: 'single-use', description: 'exactly one new connection from the address; the door also closes by itself' },
            { value: 'window', name: 'window', description: 'every new connection from that address until the door closes (anyone behind the same NAT too)' },
          ],
          'single-use',
        ));
  const spaPort = known.spaPort ?? spaChecks.port(await prompts.input('UDP port fwknopd listens on:', { default: String(DEFAULT_SPA_PORT), validate: valid((v) => spaChecks.port(v, 'port')) }), 'port');
  const sshPort = known.sshPort ?? spaChecks.port(await prompts.input("sshd's port:", { default: '22', validate: valid((v) => spaChecks.port(v, 'port')) }), 'port');
  const username =
    known.requireUsername !== undefined
      ? known.requireUsername
      : await prompts.input('User name a packet must carry (REQUIRE_USERNAME; empty: any):', { default: '', validate: (v) => (v === '' ? true : valid((x) => spaChecks.username(x))(v)) });
  const requireSource = known.requireSource ?? (await prompts.confirm('Must a packet name the address to open (REQUIRE_SOURCE_ADDRESS)?', false));
  const allowCommand =
    known.allowCommand !== undefined
      ? known.allowCommand
      : (await prompts.confirm('Let packets run commands on this server (as root; off unless you need it)?', false))
        ? await prompts.input('Regex a whole command must match (POSIX extended), e.g. systemctl restart (nginx|ssh):', { validate: valid((v) => spaChecks.allowCommand(v)) })
        : null;
  let stick = known.stick;
  while (stick === undefined) {
    const answer = await prompts.input('Where is the stick mounted? (it gets the client stanza; empty: a file to copy later)', {
      validate: (v) => (v === '' || v.startsWith('/') ? true : 'an absolute path, or nothing'),
    });
    if (answer === '') stick = null;
    else if (await facts.isDirectory(answer)) stick = answer;
  }
  return {
    interface: iface,
    spaServer,
    firewall,
    doorPolicy,
    spaPort,
    sshPort,
    requireUsername: username === '' ? null : username,
    requireSource,
    allowCommand,
    behindRouter,
    stick,
  };
}
