// knockstick spa: send an fwknop-compatible SPA packet, make keys, decode a packet, show keys as a QR code.
// Read (rc file) → compute (pure packet builder) → act (one datagram), as callhome does.

import { refuseUserSshDir } from '../core/stick.js';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCommandLine } from '../core/args.js';
import type { Command, CommandContext } from '../core/command.js';
import { ExitCode, KnockstickError, ioError, usageError } from '../core/errors.js';
import { checkHostName } from '../core/names.js';
import { appendDurably, assertNotSymlink, openRegularForReading, readTextIfExists } from '../core/files.js';
import { formatKeyLines, generateKeys } from './keys.js';
import { decodeSpaPacket, parseAccess, SpaDecodeError } from './packet.js';
import { defaultUsername, describeRequest, formatFields, sendSpa, type SpaSendOptions, type SpaSendDeps } from './client.js';
import { formatStanza, isTooOpen, parseRcText, readRcFile, readRcKeys, stanzaNames, type SpaClientConfig, type SpaKeyConfig } from './rc-file.js';
import { resolveSpaServer, udpSpaSender } from './send.js';
import { spaHelp } from './help.js';
import { isIPv4 } from 'node:net';
import type { HashType } from './cipher.js';
import { looksLikeGpgWire } from './gpg-packet.js';
import { decodeGpgSpa } from './gpg-decode.js';

export const FLAGS = {
  'rc-file': { type: 'string' },
  'named-config': { type: 'string', short: 'n' },
  'time-offset': { type: 'string' },
  'save-packet': { type: 'string' },
  'dry-run': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  server: { type: 'string' },
  access: { type: 'string' },
  'allow-ip': { type: 'string' },
  'server-cmd': { type: 'string' },
  'unsafe-no-hmac': { type: 'boolean' },
  'unsafe-legacy-iv': { type: 'boolean' },
  'gpg-recip': { type: 'string' },
  'gpg-sign': { type: 'string' },
  'gpg-home-dir': { type: 'string' },
  'gpg-agent': { type: 'boolean' },
  stick: { type: 'string' },
  'access-conf': { type: 'string' },
  png: { type: 'string' },
  ascii: { type: 'boolean' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const spaCommand: Command = {
  name: 'spa',
  help: spaHelp,
  flags: FLAGS,
  async run(context) {
    const { values, positionals } = parseCommandLine(context.args, FLAGS, context.invokedAs);
    if (values.help === true) {
      context.stdout.write(spaHelp(context.invokedAs));
      return ExitCode.OK;
    }
    const [sub, ...rest] = positionals;
    const rcFile = resolve(context.cwd, values['rc-file'] ?? join(context.env.HOME ?? userInfo().homedir, '.fwknoprc'));
    const stanza = values['named-config'];
    const onlyFor = (flags: readonly (keyof typeof values)[], subcommand: string): void => {
      for (const flag of flags) if (values[flag] !== undefined) throw usageError(`--${flag} is only for \`spa ${subcommand}\``);
    };
    const qrOnly = ['stick', 'access-conf', 'png', 'ascii', 'force'] as const;
    if (sub !== 'qr') onlyFor(qrOnly, 'qr');
    switch (sub) {
      case 'send': {
        if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
        const offset = values['time-offset'] === undefined ? undefined : parseOffsetFlag(values['time-offset']);
        const command = values['server-cmd'];
        if (command !== undefined && !/^[\x20-\x7e]{1,1300}$/.test(command)) throw usageError('--server-cmd must be one line of printable ASCII, at most 1300 characters');
        const config = await readRcFile(rcFile, stanza, {
          server: values.server,
          access: values.access,
          allowIp: values['allow-ip'],
          unsafeNoHmac: values['unsafe-no-hmac'] === true,
          unsafeLegacyIv: values['unsafe-legacy-iv'] === true,
          commandLine: gpgFlagsAsRc(values, context.cwd),
        });
        return spaSend(
          config,
          {
            timeOffset: offset,
            savePacket: values['save-packet'] === undefined ? undefined : resolve(context.cwd, values['save-packet']),
            dryRun: values['dry-run'] === true,
            verbose: values.verbose === true,
            command,
          },
          { sender: udpSpaSender, now: () => Date.now(), resolveServer: resolveSpaServer, username: () => defaultUsername(context.env) },
          context,
        );
      }
      case 'keygen':
        if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
        onlyFor(['time-offset', 'save-packet', 'dry-run', 'verbose', 'server-cmd', 'unsafe-no-hmac', 'unsafe-legacy-iv', 'gpg-recip', 'gpg-sign', 'gpg-home-dir', 'gpg-agent'], 'send');
        if (values['rc-file'] === undefined) {
          if (stanza !== undefined || values.server !== undefined) throw usageError('-n and --server go with --rc-file (a stanza is added to that file)');
          context.stdout.write(formatKeyLines(generateKeys()));
          return ExitCode.OK;
        }
        await refuseUserSshDir(rcFile, context.env);
        return keygenIntoFile(rcFile, stanza, values, context);
      case 'decode': {
        if (rest.length > 1) throw usageError(`unexpected argument ${JSON.stringify(rest[1])}`);
        onlyFor(['server', 'access', 'allow-ip', 'time-offset', 'save-packet', 'dry-run', 'server-cmd', 'unsafe-no-hmac', 'unsafe-legacy-iv', 'gpg-recip', 'gpg-sign', 'gpg-agent'], 'send or keygen');
        // A named rc stanza is read first (its problems come before the packet's); the default one
        // only when the packet is not a GnuPG one, which can be described without any key.
        const named = values['rc-file'] !== undefined || stanza !== undefined ? await readRcKeys(rcFile, stanza) : undefined;
        const source = rest[0] ?? '-';
        const wire = source === '-' ? await readStdin() : await readPacketFile(resolve(context.cwd, source));
        if (looksLikeGpgWire(wire)) return spaDecodeGpg(wire, named, values['gpg-home-dir'], context);
        if (values['gpg-home-dir'] !== undefined) throw usageError('--gpg-home-dir: this packet is not a GnuPG one (it is shorter than 400 characters, or does not begin with a session key)');
        const config = named ?? (await readRcKeys(rcFile, stanza));
        if (config.gpg !== undefined) throw new KnockstickError('INVALID_FILE', `[${config.stanza}] is a GnuPG stanza (USE_GPG Y), but this packet is not a GnuPG one (under 400 characters, or no session key)`);
        return spaDecode(wire, config, Date.now(), context);
      }
      case 'qr': {
        if (rest.length > 1) throw usageError(`unexpected argument ${JSON.stringify(rest[1])}`);
        onlyFor(['server', 'access', 'allow-ip', 'time-offset', 'save-packet', 'dry-run', 'verbose', 'server-cmd', 'unsafe-no-hmac', 'unsafe-legacy-iv', 'gpg-recip', 'gpg-sign', 'gpg-home-dir', 'gpg-agent'], 'send, keygen or decode');
        if (rest[0] !== undefined && stanza !== undefined) throw usageError('name the stanza once: as STANZA or with -n');
        // Loaded only here: the QR library (qrcode, pngjs) is most of the spa module's size.
        const { spaQr } = await import('./qr.js');
        return spaQr(
          {
            stanza: rest[0] ?? stanza,
            rcFile: values['rc-file'],
            stick: values.stick,
            accessConf: values['access-conf'],
            png: values.png,
            ascii: values.ascii === true,
            force: values.force === true,
          },
          context,
        );
      }
      case undefined:
        throw usageError('missing subcommand: send, keygen, decode or qr', `see \`${context.invokedAs} --help\``);
      default:
        throw usageError(`unknown subcommand ${JSON.stringify(sub)} (send, keygen, decode or qr)`, `see \`${context.invokedAs} --help\``);
    }
  },
};

/** spa send's --gpg-* flags, as the rc variables they stand for (fwknop's --gpg-recipient-key ... do the same). */
function gpgFlagsAsRc(values: { 'gpg-recip'?: string | undefined; 'gpg-sign'?: string | undefined; 'gpg-home-dir'?: string | undefined; 'gpg-agent'?: boolean | undefined }, cwd: string): [string, string][] {
  const settings: [string, string][] = [];
  if (values['gpg-recip'] !== undefined) settings.push(['GPG_RECIPIENT', values['gpg-recip']]);
  if (values['gpg-sign'] !== undefined) settings.push(['GPG_SIGNER', values['gpg-sign']]);
  if (values['gpg-home-dir'] !== undefined) settings.push(['GPG_HOMEDIR', resolve(cwd, values['gpg-home-dir'])]);
  if (values['gpg-agent'] === true) settings.push(['USE_GPG_AGENT', 'Y']);
  // Naming a recipient or signer means GnuPG mode, as with fwknop's flags.
  if (values['gpg-recip'] !== undefined || values['gpg-sign'] !== undefined) settings.push(['USE_GPG', 'Y']);
  return settings;
}

/** decode of a GnuPG packet: the rc stanza (only if named) gives the HMAC key and type; --gpg-home-dir the keyring. */
async function spaDecodeGpg(wire: string, config: SpaKeyConfig | undefined, homedir: string | undefined, context: CommandContext): Promise<number> {
  let hmac: Buffer | undefined;
  let hmacType: HashType | undefined;
  if (config !== undefined && config.modes.hmac !== 'none') {
    hmac = config.gpg !== undefined ? config.gpg.hmac : config.keys.hmac;
    hmacType = config.modes.hmac;
  }
  const exe = config?.gpg?.exe;
  const text = await decodeGpgSpa(wire, { hmac, hmacType, homedir: homedir === undefined ? undefined : resolve(context.cwd, homedir), exe }, Date.now());
  context.stdout.write(text);
  return ExitCode.OK;
}

function parseOffsetFlag(text: string): number {
  if (!/^-?\d{1,7}$/.test(text.trim())) throw usageError(`--time-offset must be whole seconds, e.g. --time-offset=-60, got ${JSON.stringify(text)}`);
  return Number(text.trim());
}

async function spaSend(config: SpaClientConfig, options: SpaSendOptions, deps: SpaSendDeps, context: CommandContext): Promise<number> {
  const { target, wire, request } = await sendSpa(config, options, deps, context.stderr);
  context.stderr.write(`${options.dryRun ? 'dry run: would send' : 'sent'} ${describeRequest(config, target, request)} (${wire.length} bytes)\n`);
  return ExitCode.OK;
}

function spaDecode(wire: string, config: SpaKeyConfig, nowMs: number, context: CommandContext): number {
  try {
    const fields = decodeSpaPacket(wire, config.keys, config.modes);
    const { digest, hmac, encryption } = fields.modes;
    const warnings = [
      hmac === 'none' ? `warning: this packet has no HMAC: nothing shows it was not altered on the way\n` : '',
      encryption === 'legacy' ? 'warning: this packet uses the legacy IV mode (a short key padded with "0" characters)\n' : '',
    ].join('');
    context.stderr.write(warnings);
    context.stdout.write(
      `valid SPA packet for the keys of [${config.stanza}] (HMAC ${hmac}, digest ${digest}, ${encryption === 'legacy' ? 'legacy IV' : encryption.toUpperCase()}):\n${formatFields(fields, nowMs)}`,
    );
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof SpaDecodeError) {
      throw new KnockstickError('INVALID_FILE', `the packet does not check out with the keys of [${config.stanza}]: ${error.message}`, {
        hint: error.reason === 'other-mode' ? 'decode with the settings the sender used (the rc stanza of its keys)' : 'check that the rc stanza holds the keys the sender used',
      });
    }
    throw error;
  }
}

async function readPacketFile(path: string): Promise<string> {
  const text = await readTextIfExists(path);
  if (text === null) throw new KnockstickError('IO', `cannot read ${path}: no such file or directory`);
  return text.trim();
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1').trim();
}

async function keygenIntoFile(
  rcFile: string,
  stanza: string | undefined,
  values: { server?: string | undefined; access?: string | undefined; 'allow-ip'?: string | undefined },
  context: CommandContext,
): Promise<number> {
  if (stanza === undefined) throw usageError('keygen --rc-file needs -n STANZA, the name of the new stanza');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(stanza)) throw usageError(`-n: use letters, digits, . _ - for the stanza name, got ${JSON.stringify(stanza)}`);
  if (values.server !== undefined) checkHostName(values.server, '--server');
  if (values.server === undefined || !/^[A-Za-z0-9.:-]{1,253}$/.test(values.server)) throw usageError('keygen --rc-file needs --server HOST (the SPA_SERVER of the new stanza)');
  const access = values.access ?? 'tcp/22';
  if (typeof parseAccess(access) === 'string') throw usageError(`--access: ${parseAccess(access) as string}`);
  const allowIp = values['allow-ip'] ?? 'source';
  if (allowIp !== 'source' && !isIPv4(allowIp)) throw usageError(`--allow-ip must be "source" or an IPv4 address, got ${JSON.stringify(allowIp)}`);
  // The rc file is appended to: a link planted at its name would redirect the keys elsewhere.
  await assertNotSymlink(rcFile);
  let existing: string | null = null;
  // One non-blocking open for the kind, the mode and the text: a FIFO is refused as a FIFO (not for
  // its mode), and is never waited on.
  const handle = await openRegularForReading(rcFile);
  if (handle !== null) {
    try {
      const stat = await handle.stat();
      if (isTooOpen(stat.mode)) {
        throw new KnockstickError('INVALID_FILE', `${rcFile} is readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); not adding keys to it`, { hint: `chmod 600 ${rcFile}` });
      }
      existing = await handle.readFile('utf8');
    } catch (error) {
      if (error instanceof KnockstickError) throw error;
      throw ioError('read', rcFile, error);
    } finally {
      await handle.close();
    }
  }
  if (existing !== null && stanzaNames(parseRcText(existing, rcFile)).some((n) => n.toLowerCase() === stanza.toLowerCase())) {
    throw new KnockstickError('USAGE', `${rcFile} already has a stanza [${stanza}]; nothing was written`, { hint: 'pick another -n name, or remove the old stanza first' });
  }
  const keys = generateKeys();
  const text = formatStanza(stanza, [
    ['SPA_SERVER', values.server],
    ['ACCESS', access],
    ['ALLOW_IP', allowIp],
    ['KEY_BASE64', keys.encryption.toString('base64')],
    ['HMAC_KEY_BASE64', keys.hmac.toString('base64')],
    ['USE_HMAC', 'Y'],
  ]);
  const prefix = existing === null || existing === '' ? '' : existing.endsWith('\n\n') ? '' : existing.endsWith('\n') ? '\n' : '\n\n';
  const result = await appendDurably(rcFile, `${prefix}${text}`);
  context.stderr.write(
    `${result.created ? 'created' : 'added to'} ${rcFile}: stanza [${stanza}] with new keys (mode ${result.created ? '0600' : (result.mode).toString(8).padStart(4, '0')}).\n` +
      `The server's access.conf needs the same KEY_BASE64 and HMAC_KEY_BASE64 (see \`knockstick server init --method spa\`).\n`,
  );
  return ExitCode.OK;
}
