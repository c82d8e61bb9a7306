// The real fwknopd 2.6 for the lab: run in the foreground inside the lab's server namespace, with
// its own fwknopd.conf, access.conf, digest cache, pidfile and run directory in the lab directory
// (mode 0600, as fwknopd wants; nothing under /etc or /var/run is read or written). It is a child
// of the lab, so lab.teardown() kills it whatever a test did.
//
// ENABLE_UDP_SERVER Y: fwknopd binds UDP 62201 instead of sniffing with libpcap, so no capture
// permissions or interface quirks. The port is 62201 here; fwknopd 2.6.10 calls its setting
// UDPSERV_PORT (not UDP_SERVER_PORT, which it warns about as unknown): server init --spa-port writes it.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { CLIENT_ADDR, waitFor, type Lab } from './lab.js';

export interface FwknopdHandle {
  readonly dir: string;
  readonly process: ResultPromise;
  /** Everything fwknopd printed so far (-f -v: decoded fields of every packet, decisions). */
  output(): string;
  /** How many packets fwknopd accepted (ran CMD_CYCLE_OPEN or added a firewall rule) so far. */
  accepted(): number;
  stop(): Promise<void>;
}

export interface FwknopdOptions {
  /** access.conf text (keys included; written 0600). */
  readonly accessConf?: string;
  /** Or existing fwknopd.conf and access.conf files (e.g. made by `server init --method spa`), used as they are. */
  readonly files?: { readonly conf: string; readonly access: string };
  /** Extra fwknopd.conf lines ("NAME value;"). */
  readonly extraConf?: readonly string[];
  /** Subdirectory of the lab dir (default "fwknopd"). */
  readonly name?: string;
  /**
   * Sniff with libpcap on the server interface with this PCAP_FILTER instead of the UDP server:
   * what SPA over TCP and RAND_PORT need (fwknopd's TCP server only accepts; pcap reads the data).
   */
  readonly pcapFilter?: string;
}

/** fwknopd's lines that mean "this packet opened something". */
const ACCEPT_RE = /Running CMD_CYCLE_OPEN command|Added access rule to FWKNOP_INPUT|Added (?:Rule|access rule)/g;

export async function startFwknopd(lab: Lab, options: FwknopdOptions): Promise<FwknopdHandle> {
  const dir = join(lab.dir, options.name ?? 'fwknopd');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const conf = options.files?.conf ?? join(dir, 'fwknopd.conf');
  const access = options.files?.access ?? join(dir, 'access.conf');
  if (options.files === undefined) {
    await writeFile(
      conf,
      [`PCAP_INTF ${lab.serverIf};`, ...(options.pcapFilter === undefined ? ['ENABLE_UDP_SERVER Y;'] : [`PCAP_FILTER ${options.pcapFilter};`]), `FWKNOP_RUN_DIR ${dir};`, 'MAX_SPA_PACKET_AGE 120;', ...(options.extraConf ?? []), ''].join('\n'),
      { mode: 0o600 },
    );
    await writeFile(access, options.accessConf ?? '', { mode: 0o600 });
  }
  const child = lab.spawn(lab.serverNs, '/usr/sbin/fwknopd', [
    '-f', '-v', '-c', conf, '-a', access, '-d', join(dir, 'digest.cache'), '-p', join(dir, 'fwknopd.pid'), '-r', dir,
  ]);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  void child.then(() => (exited = true));
  const ready = options.pcapFilter === undefined ? 'Kicking off UDP server' : 'Starting fwknopd main event loop';
  const up = await waitFor(async () => exited || output.includes(ready), 10_000);
  if (!up || exited) {
    child.kill('SIGKILL');
    throw new Error(`fwknopd did not start:\n${output}\nfwknopd.conf:\n${await readFile(conf, 'utf8')}`);
  }
  return {
    dir,
    process: child,
    output: () => output,
    accepted: () => (output.match(ACCEPT_RE) ?? []).length,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await child;
      clearTimeout(timer);
    },
  };
}

/** An access.conf stanza for the lab client (keys as fwknop --key-gen prints them). */
export function labAccessStanza(keys: { encryption: Buffer; hmac: Buffer }, lines: readonly string[]): string {
  return [
    `SOURCE ${CLIENT_ADDR}`,
    `KEY_BASE64 ${keys.encryption.toString('base64')}`,
    `HMAC_KEY_BASE64 ${keys.hmac.toString('base64')}`,
    ...lines,
    '',
  ].join('\n');
}
