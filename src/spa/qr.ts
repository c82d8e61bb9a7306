// `knockstick spa qr [STANZA]`: the SPA keys of a stanza as a QR code that Fwknop2 ("Capture qr")
// scans, so nobody types 44 + 88 characters of base64 into a phone. Read (the stick's fwknoprc, an
// rc file, or the server's access.conf) → compute (qr-text.ts, the text; qr-render.ts, the code) →
// show it on the terminal or write it to a new 0600 PNG file.
//
// The code is the keys: it goes only to a terminal (a pipe or a redirect would leave them in a file
// or a log) unless --force says so, and stderr says that the screen and the PNG are now secrets.

import { resolve } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { ExitCode, InvalidFileError, KnockstickError, usageError } from '../core/errors.js';
import { SECRET_FILE_MODE, createExclusively } from '../core/files.js';
import { DEFAULT_HOST, resolveStickRoot, verifyStick } from '../core/stick.js';
import { accessStanzaKeys, describeAccessStanza, parseAccessConf, selectAccessStanza } from './access-conf-keys.js';
import { DEFAULT_STANZA, parseRcText, readKeyHoldingFile, resolveStanzaKeys, type RcEntry, type RcStanza } from './rc-file.js';
import { renderPng, renderTerminal } from './qr-render.js';
import { qrKeyText, type QrKeyName, type QrKeySource } from './qr-text.js';

export interface QrOptions {
  /** Positional STANZA or -n. */
  readonly stanza?: string | undefined;
  readonly rcFile?: string | undefined;
  readonly stick?: string | undefined;
  readonly accessConf?: string | undefined;
  readonly png?: string | undefined;
  readonly ascii: boolean;
  readonly force: boolean;
}

/** The keys to show, where they came from, and the settings the phone must be given by hand. */
export interface QrKeys {
  readonly text: string;
  /** "[home] of /media/stick/.ssh/fwknoprc", "stanza #1 (SOURCE ANY, line 3) of /etc/fwknop/access.conf". */
  readonly origin: string;
  /** Settings besides the keys that differ from Fwknop2's defaults (the code does not carry them). */
  readonly byHand: readonly string[];
}

export async function spaQr(options: QrOptions, context: Pick<CommandContext, 'stdout' | 'stderr' | 'stdoutIsTTY' | 'env' | 'cwd'>): Promise<number> {
  const sources = [options.rcFile === undefined ? '' : '--rc-file', options.stick === undefined ? '' : '--stick', options.accessConf === undefined ? '' : '--access-conf'].filter((s) => s !== '');
  if (sources.length > 1) throw usageError(`${sources.join(' and ')}: give one place to read the keys from`);
  if (options.png !== undefined && options.ascii) throw usageError('--ascii draws the code on the terminal; --png writes an image instead: give one');
  // Refused before any key is read: nothing secret is touched for a command that cannot show it.
  if (options.png === undefined && context.stdoutIsTTY !== true && !options.force) {
    throw usageError('standard output is not a terminal: the QR code holds the SPA keys, and would end up in a pipe, a file or a log', 'run it on a terminal, write a PNG with --png FILE, or add --force if the keys really should go there');
  }
  const keys = options.accessConf !== undefined ? await keysFromAccessConf(resolve(context.cwd, options.accessConf), options.stanza) : await keysFromRcFile(await rcFileFor(options, context), options.stanza ?? (options.rcFile === undefined ? DEFAULT_HOST : undefined));
  const byHand = keys.byHand.length === 0 ? '' : `The code carries only the keys: set ${keys.byHand.join(', ')} on the phone by hand.\n`;
  if (options.png !== undefined) {
    const path = resolve(context.cwd, options.png);
    await createExclusively(path, await renderPng(keys.text), SECRET_FILE_MODE);
    context.stderr.write(
      `wrote ${path} (mode 0600): a QR code of the SPA keys of ${keys.origin} for Fwknop2 ("Capture qr").\n` +
        `warning: that image is the keys: anyone who gets it can open the door. Delete it (shred -u) once the phone has scanned it, and never send it by mail or chat.\n${byHand}`,
    );
    return ExitCode.OK;
  }
  const code = await renderTerminal(keys.text, options.ascii ? 'ascii' : 'blocks');
  context.stderr.write(`warning: the QR code below holds the SPA keys of ${keys.origin}: anyone who sees or photographs this screen can open the door.\n`);
  context.stdout.write(code);
  context.stderr.write(`Scan it with Fwknop2 ("Capture qr" in a host's settings), then clear the screen and the terminal's scrollback (e.g. \`clear && printf '\\033[3J'\`).\n${byHand}`);
  return ExitCode.OK;
}

/** --rc-file, or the stick's .ssh/fwknoprc (--stick, $KNOCKSTICK_STICK, the launcher's directory, the current one). */
async function rcFileFor(options: QrOptions, context: Pick<CommandContext, 'env' | 'cwd'>): Promise<string> {
  if (options.rcFile !== undefined) return resolve(context.cwd, options.rcFile);
  const layout = await verifyStick(resolveStickRoot({ flag: options.stick, env: context.env, cwd: context.cwd }), context.env);
  return layout.spaRc;
}

/** The entry in effect for a variable: [default] first, then the named stanza, later lines winning (rc-file.ts's order). */
function entryInEffect(stanzas: readonly RcStanza[], name: string | undefined, variable: string): RcEntry | undefined {
  const wanted = name?.toLowerCase();
  const inEffect = [...stanzas.filter((s) => s.name.toLowerCase() === DEFAULT_STANZA), ...stanzas.filter((s) => wanted !== undefined && wanted !== DEFAULT_STANZA && s.name.toLowerCase() === wanted)];
  let found: RcEntry | undefined;
  for (const s of inEffect) found = s.entries.get(variable) ?? found;
  return found;
}

export async function keysFromRcFile(path: string, stanza: string | undefined): Promise<QrKeys> {
  const stanzas = parseRcText(await readKeyHoldingFile(path, 'SPA keys'), path);
  const label = `[${stanza ?? DEFAULT_STANZA}]`;
  const fail = (line: number, message: string): never => {
    throw new InvalidFileError([{ file: path, line, message }], 'no QR code was shown');
  };
  const keyFile = entryInEffect(stanzas, stanza, 'KEY_FILE');
  if (keyFile !== undefined) fail(keyFile.line, `${label} takes its key from KEY_FILE ${keyFile.value}; spa qr shows only keys written in the stanza (KEY_BASE64 and HMAC_KEY_BASE64)`);
  const { config, problems } = resolveStanzaKeys(stanzas, stanza, path);
  if (config === undefined || problems.length > 0) throw new InvalidFileError(problems, `fix ${path}; no QR code was shown`);
  if (config.gpg !== undefined) {
    fail(entryInEffect(stanzas, stanza, 'USE_GPG')?.line ?? 0, `${label} is a GnuPG stanza (USE_GPG Y): it has no shared key to put in a QR code (a phone uses its own GnuPG key pair, e.g. through OpenKeychain with Fwknop2)`);
  }
  const source = (plain: QrKeyName, b64: QrKeyName): QrKeySource | undefined => {
    const e64 = entryInEffect(stanzas, stanza, b64);
    const ePlain = entryInEffect(stanzas, stanza, plain);
    const e = e64 ?? ePlain;
    return e === undefined ? undefined : { name: e64 !== undefined ? b64 : plain, value: e.value, file: path, line: e.line };
  };
  const encryption = source('KEY', 'KEY_BASE64');
  const hmac = source('HMAC_KEY', 'HMAC_KEY_BASE64');
  // resolveStanzaKeys found a key, so only GPG_SIGNING_PW standing in for it is left (fwknop's quirk).
  if (encryption === undefined) fail(entryInEffect(stanzas, stanza, 'GPG_SIGNING_PW')?.line ?? entryInEffect(stanzas, stanza, 'GPG_SIGNING_PW_BASE64')?.line ?? 0, `${label} has no KEY_BASE64 or KEY (fwknop would use GPG_SIGNING_PW as the key); spa qr shows only a KEY_BASE64 or KEY`);
  if (hmac === undefined || config.modes.hmac === 'none') fail(0, `${label} has no HMAC_KEY_BASE64 or HMAC_KEY: without HMAC nothing authenticates the packets; add one (\`knockstick spa keygen\`) on both sides first`);
  const byHand = [
    ...(config.modes.hmac !== 'none' && config.modes.hmac !== 'sha256' ? [`HMAC ${config.modes.hmac}`] : []),
    ...(config.modes.encryption !== 'cbc' ? [`encryption mode ${config.modes.encryption}`] : []),
  ];
  return { text: qrKeyText(encryption as QrKeySource, hmac as QrKeySource), origin: `${label} of ${path}`, byHand };
}

export async function keysFromAccessConf(path: string, selector: string | undefined): Promise<QrKeys> {
  const { stanzas, problems } = parseAccessConf(await readKeyHoldingFile(path, 'SPA keys'), path);
  if (problems.length > 0) throw new InvalidFileError(problems, `no QR code was shown`);
  const stanza = selectAccessStanza(stanzas, selector, path);
  if (typeof stanza === 'string') throw new KnockstickError('USAGE', stanza, { hint: 'e.g. `knockstick spa qr --access-conf /etc/fwknop/access.conf 1`; no QR code was shown' });
  const { encryption, hmac, problems: keyProblems } = accessStanzaKeys(stanza, path);
  if (encryption === undefined || hmac === undefined) throw new InvalidFileError(keyProblems, 'no QR code was shown');
  const last = (name: string): string | undefined => stanza.entries.get(name)?.at(-1)?.value;
  const hmacType = last('HMAC_DIGEST_TYPE')?.toLowerCase();
  const mode = last('ENCRYPTION_MODE')?.toLowerCase();
  const byHand = [...(hmacType !== undefined && hmacType !== 'sha256' ? [`HMAC ${hmacType}`] : []), ...(mode !== undefined && mode !== 'cbc' ? [`encryption mode ${mode}`] : [])];
  return { text: qrKeyText(encryption, hmac), origin: `stanza ${describeAccessStanza(stanza)} of ${path}`, byHand };
}
