// The client side of SPA shared by `spa send` and `callhome --method spa`: rc stanza → request
// (pure) → packet → one datagram. Nothing secret is printed: keys stay in the rc file and memory.

import { promises as fs, constants as fsConstants } from 'node:fs';
import { userInfo } from 'node:os';
import type { Output } from '../core/command.js';
import { KnockstickError, ioError } from '../core/errors.js';
import { assertPlainFileOrMissing } from '../core/files.js';
import { SALT_LENGTH } from './cipher.js';
import { ALLOW_IP_LOCAL, cryptoRandomSource, decodeSpaPacket, isValidUsername, requestFields, sealFields, USE_SOURCE_ADDRESS, type RandomSource, type SpaFields, type SpaRequest } from './packet.js';
import type { SpaClientConfig } from './rc-file.js';
import { buildGpgSpaPacket } from './gpg.js';
import { localAddressFor, type SpaSender, type SpaTarget } from './send.js';

/** The login name fwknop would put in the packet (SPOOF_USER overrides it). */
export function defaultUsername(env: NodeJS.ProcessEnv): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = env.USER ?? env.LOGNAME;
  }
  return name !== undefined && isValidUsername(name) ? name : 'knockstick';
}

export interface SpaSendDeps {
  readonly sender: SpaSender;
  readonly now: () => number;
  readonly resolveServer: (host: string) => Promise<string>;
  readonly username: () => string;
  /** ALLOW_IP local: the address this machine sends from towards the target (send.ts localAddressFor). */
  readonly localAddress?: ((target: SpaTarget) => Promise<string>) | undefined;
}

export interface SpaSendOptions {
  /** Overrides the rc file's TIME_OFFSET (seconds). */
  readonly timeOffset?: number | undefined;
  readonly savePacket?: string | undefined;
  readonly dryRun?: boolean;
  readonly verbose?: boolean;
  /** --server-cmd: a command message instead of an access request. */
  readonly command?: string | undefined;
  /** Injectable for tests; the CSPRNG otherwise. */
  readonly random?: RandomSource | undefined;
}

/** fwknop's random ports (client/fwknop.c get_rand_port): 10000 up to, not including, 65535. */
export const MIN_RANDOM_PORT = 10_000;
export function randomPort(random: RandomSource): number {
  return MIN_RANDOM_PORT + random.int(65_535 - MIN_RANDOM_PORT);
}

/**
 * The request an rc stanza asks for, at time `nowMs`. Pure. NAT_RAND_PORT draws the port that
 * replaces the access port (fwknopd forwards that port to the NAT target) from `random`.
 */
export function requestFromConfig(
  config: SpaClientConfig,
  nowMs: number,
  username: string,
  timeOffset?: number,
  extras: { readonly command?: string | undefined; readonly random?: RandomSource | undefined } = {},
): SpaRequest {
  const access = config.natRandPort === true ? config.access.map((a) => ({ protocol: a.protocol, port: randomPort(extras.random ?? cryptoRandomSource) })) : config.access;
  return {
    username: config.username ?? username,
    timestamp: Math.floor(nowMs / 1000) + (timeOffset ?? config.timeOffset),
    allowIp: config.allowIp,
    access,
    natAccess: extras.command === undefined ? config.natAccess : undefined,
    clientTimeout: config.clientTimeout,
    ...(extras.command === undefined ? {} : { command: extras.command }),
  };
}

/** The modes in words, when they are not fwknop's defaults. */
function describeModes(config: SpaClientConfig): string {
  const { digest, hmac, encryption } = config.modes;
  const parts = [
    hmac === 'none' ? 'NO HMAC (unsafe)' : hmac === 'sha256' ? '' : `HMAC ${hmac}`,
    digest === 'sha256' ? '' : `digest ${digest}`,
    encryption === 'legacy' ? 'legacy IV (unsafe)' : encryption === 'cbc' ? '' : encryption.toUpperCase(),
  ].filter((p) => p !== '');
  return parts.length === 0 ? '' : ` [${parts.join(', ')}]`;
}

/** One line saying what the packet asks for, with no secret in it. */
export function describeRequest(config: SpaClientConfig, target: SpaTarget, request?: SpaRequest): string {
  const access = (request?.access ?? config.access).map((a) => `${a.protocol}/${a.port}`).join(',');
  const who = config.allowIp === USE_SOURCE_ADDRESS ? 'the address it comes from' : config.allowIp === ALLOW_IP_LOCAL ? `this machine's address${request === undefined || request.allowIp === ALLOW_IP_LOCAL ? '' : ` (${request.allowIp})`}` : config.allowIp;
  const what = request?.command !== undefined ? `run a command (as ${who})` : `open ${access} for ${who}${config.clientTimeout ? ` for ${config.clientTimeout} s` : ''}` +
    `${config.natAccess ? ` via ${config.natAccess.local === true ? 'local ' : ''}NAT to ${config.natAccess.host}:${config.natAccess.port}` : ''}`;
  return `SPA packet for [${config.stanza}] to ${config.server}${config.server === target.address ? '' : ` (${target.address})`} ${config.proto === 'udp' || config.proto === 'tcp' ? target.proto ?? config.proto : config.proto}/${target.port}: ${what}${describeModes(config)}`;
}

export function formatFields(fields: SpaFields, nowMs?: number): string {
  const rows: [string, string][] = [
    ['Random value', fields.random],
    ['Username', fields.username],
    ['Timestamp', `${fields.timestamp}${nowMs === undefined ? '' : ` (${Math.round(nowMs / 1000 - fields.timestamp)} s ago)`}`],
    ['Version', fields.version],
    ['Message type', String(fields.messageType)],
    ['Message', fields.message],
  ];
  if (fields.natAccess !== undefined) rows.push(['NAT access', fields.natAccess]);
  if (fields.serverAuth !== undefined) rows.push(['Server auth', fields.serverAuth]);
  if (fields.clientTimeout !== undefined) rows.push(['Client timeout', String(fields.clientTimeout)]);
  return rows.map(([k, v]) => `  ${k.padEnd(15)}${v}\n`).join('');
}

/** Builds the packet and sends it (or, with dryRun, only shows it). Returns the target it went to. */
export async function sendSpa(config: SpaClientConfig, options: SpaSendOptions, deps: SpaSendDeps, err: Output): Promise<{ target: SpaTarget; wire: string; request: SpaRequest }> {
  const raw = config.proto !== 'udp' && config.proto !== 'tcp';
  if (raw && options.dryRun !== true) {
    throw new KnockstickError('USAGE', `[${config.stanza}] SPA_SERVER_PROTO ${config.proto}${config.spoofSource === undefined ? '' : ` with SPOOF_SOURCE_IP ${config.spoofSource}`} needs raw sockets to forge the packet's headers; knockstick builds such a packet (--dry-run, --save-packet) but does not send it`, {
      hint: 'use SPA_SERVER_PROTO udp or tcp to send, or send the saved packet with a raw-socket tool',
    });
  }
  const random = options.random ?? cryptoRandomSource;
  const port = config.randPort === true ? randomPort(random) : config.port;
  const target: SpaTarget = { address: await deps.resolveServer(config.server), port, proto: config.proto === 'tcp' ? 'tcp' : 'udp' };
  const built = requestFromConfig(config, deps.now(), deps.username(), options.timeOffset, { command: options.command, random });
  const request = config.allowIp === ALLOW_IP_LOCAL ? { ...built, allowIp: await (deps.localAddress ?? localAddressFor)(target) } : built;
  if (config.gpg !== undefined) {
    // GnuPG mode (gpg.ts): only the server's key opens the packet, so -v shows the fields as built.
    const built = await buildGpgSpaPacket(request, config.gpg, random);
    if (options.verbose) err.write(formatFields(built.fields));
    if (options.savePacket !== undefined) await writeSecretFile(options.savePacket, `${built.wire}\n`);
    if (!options.dryRun) await deps.sender.send(target, built.wire);
    return { target, wire: built.wire, request };
  }
  let wire: string;
  try {
    wire = sealFields(requestFields(request, random), config.keys, random.bytes(SALT_LENGTH), config.modes);
  } catch (error) {
    throw new KnockstickError('INVALID_FILE', `cannot build the SPA packet for [${config.stanza}]: ${(error as Error).message}`, { cause: error });
  }
  if (options.verbose) err.write(formatFields(decodeSpaPacket(wire, config.keys, config.modes)));
  if (options.savePacket !== undefined) await writeSecretFile(options.savePacket, `${wire}\n`);
  if (!options.dryRun) await deps.sender.send(target, wire);
  return { target, wire, request };
}

/** Creates (or replaces) a file with mode 0600 from the start, never briefly readable by others. */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  // rm would remove a planted link rather than follow it, but its owner should hear about it.
  await assertPlainFileOrMissing(path);
  try {
    await fs.rm(path, { force: true });
    const handle = await fs.open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw ioError('write', path, error);
  }
}

