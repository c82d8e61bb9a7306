// server init's questions, for whatever the flags did not answer. Prompts are injected (tests
// script the answers); every answer is validated the same way as the matching flag.

import type { Prompts } from '../core/prompts.js';
import type { ServerFirewall } from './plan.js';
import type { DoorPolicy } from '../core/firewall.js';
import { parseAllows, type AllowedService } from './allow.js';
import { KnockstickError } from '../core/errors.js';

export interface Ddns {
  readonly protocol: string;
  readonly server: string;
  readonly login: string;
  readonly hostname: string;
}

export interface ServerAnswers {
  readonly interface?: string | undefined;
  readonly firewall?: ServerFirewall | undefined;
  /** What a door admits: one new connection (single-use), or every one for cmd_timeout (window). */
  readonly doorPolicy?: DoorPolicy | undefined;
  /** null: no stick now (the sequences go to the server only; `seqgen repair` copies them later). */
  readonly stick?: string | null | undefined;
  readonly count?: number | undefined;
  /** Other inbound services the firewall keeps reachable. */
  readonly allow?: readonly AllowedService[] | undefined;
  readonly ddns?: Ddns | undefined;
}

export interface WizardFacts {
  /** Network interfaces of this machine (no loopback). */
  readonly interfaces: readonly string[];
  /** The interface of the default route, if any. */
  readonly defaultInterface: string | undefined;
  readonly isDirectory: (path: string) => Promise<boolean>;
  /** SSH's port: never an --allow answer (the door opens it). */
  readonly sshPort: number;
  /** The door policy offered first: the one server.conf names (a rerun), else single-use. */
  readonly doorPolicy?: DoorPolicy;
  /** Every sequence file is there already (a rerun): they are kept, so there is no count to ask. */
  readonly sequencesExist?: boolean;
}

// No leading "-": every program a word is passed to would read it as an option.
export const WORD = /^(?!-)[A-Za-z0-9._@:-]+$/;

const word = (what: string) => (value: string): true | string => (WORD.test(value) ? true : `${what}: letters, digits and . _ @ : - only`);

export async function askServerAnswers(prompts: Prompts, known: ServerAnswers, facts: WizardFacts): Promise<Required<Omit<ServerAnswers, 'ddns'>> & { ddns: Ddns | undefined }> {
  const iface =
    known.interface ??
    (facts.interfaces.length === 0
      ? await prompts.input('Interface knockd listens on (the one facing the Internet):', { validate: (v) => (/^[A-Za-z0-9_.:][A-Za-z0-9_.:-]{0,14}$/.test(v) ? true : 'an interface name') })
      : await prompts.select(
          'Interface knockd listens on (the one facing the Internet):',
          facts.interfaces.map((name) => ({ value: name, name, ...(name === facts.defaultInterface ? { description: 'the default route goes through it' } : {}) })),
          facts.defaultInterface,
        ));
  const firewall =
    known.firewall ??
    (await prompts.select<ServerFirewall>(
      'Firewall:',
      [
        { value: 'nftables', name: 'nftables', description: "Debian's default: a table of its own, doors in a set" },
        { value: 'iptables', name: 'iptables', description: 'iptables-restore files, doors in the KNOCKSTICK_DOORS chain' },
        { value: 'ufw', name: 'ufw', description: 'lines to add to /etc/ufw/before.rules' },
      ],
      'nftables',
    ));
  const doorPolicy =
    known.doorPolicy ??
    (await prompts.select<DoorPolicy>(
      'What may a door let in?',
      [
        { value: 'single-use', name: 'single-use', description: 'exactly one new connection from the knocking address; the door also closes by itself' },
        { value: 'window', name: 'window', description: 'every new connection from that address for cmd_timeout seconds (anyone behind the same NAT too)' },
      ],
      facts.doorPolicy ?? 'single-use',
    ));
  let stick = known.stick;
  while (stick === undefined) {
    const answer = await prompts.input('Where is the stick mounted? (it gets the same sequences; empty: later)', {
      validate: (v) => (v === '' || v.startsWith('/') ? true : 'an absolute path, or nothing'),
    });
    if (answer === '') stick = null;
    else if (await facts.isDirectory(answer)) stick = answer;
  }
  const count =
    known.count ??
    (facts.sequencesExist === true ? 0 : undefined) ??
    Number(
      await prompts.input('How many one-time sequences to start with?', {
        default: '50',
        validate: (v) => (/^\d+$/.test(v) && Number(v) <= 100_000 ? true : 'a whole number from 0 to 100000 (0: none now)'),
      }),
    );
  const allow =
    known.allow ??
    parseAllowAnswer(
      await prompts.input('Other services to keep reachable through the firewall (e.g. tcp/443 udp/51820; empty: none):', {
        default: '',
        validate: (v) => {
          try {
            parseAllowAnswer(v, facts.sshPort);
            return true;
          } catch (error) {
            return error instanceof KnockstickError ? error.message.replace(/^--allow:? ?/, '') : String(error);
          }
        },
      }),
      facts.sshPort,
    );
  let ddns = known.ddns;
  if (ddns === undefined && (await prompts.confirm('Does your home address change (set up dynamic DNS with ddclient)?', false))) {
    ddns = {
      protocol: await prompts.input('ddclient protocol:', { default: 'dyndns2', validate: word('protocol') }),
      server: await prompts.input('Dynamic DNS server:', { validate: word('server') }),
      login: await prompts.input('Login:', { validate: word('login') }),
      hostname: await prompts.input('Host name to keep up to date:', { validate: word('host name') }),
    };
  }
  return { interface: iface, firewall, doorPolicy, stick, count, allow, ddns };
}

/** The wizard's answer to the --allow question: words separated by blanks or commas. */
function parseAllowAnswer(text: string, sshPort: number): AllowedService[] {
  return parseAllows(text.split(/[\s,]+/).filter((w) => w !== ''), sshPort);
}
