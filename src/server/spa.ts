// knockstick server init --method spa: fwknopd instead of knockd. Writes fwknopd.conf, access.conf
// (with new keys), a firewall that lets only SPA packets in, the sshd keys-only drop-in, and the
// client side: the stick's .ssh/fwknoprc stanza [home] plus "method = spa" in its knockstick.conf
// (or, without a stick, a fwknoprc in the output directory to copy onto it). Nothing is applied.
//
// Doors: with iptables, fwknopd's own backend (its FWKNOP_INPUT chain, FW_ACCESS_TIMEOUT): a window
// for every connection from the address, fwknopd's doing. With nftables, which fwknopd 2.6 does not
// support (fwknop#107), CMD_CYCLE_OPEN adds the client address to the nft set spa4 with a timeout
// (the door closes by itself, even if fwknopd dies), and the door rule deletes it from the set as it
// admits a new connection (single-use; see core/firewall.ts), or leaves it there (window).

import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CommandContext } from '../core/command.js';
import { STICK_CONFIG_NAME, setConfigValue } from '../core/config.js';
import { ExitCode, KnockstickError } from '../core/errors.js';
import { assertNotSymlink, ensureDirectory, readTextIfExists, refuseLinksAmong, writeAtomically } from '../core/files.js';
import { stickLayout, verifyStick } from '../core/stick.js';
import { loadTemplate, render } from '../core/templates.js';
import { generateKeys, type SpaKeys } from '../spa/keys.js';
import { formatStanza, parseRcText, stanzaNames } from '../spa/rc-file.js';
import { SPA_RC_NAME } from '../core/stick.js';
import { NFT_SPA_SET, doorPolicyWords, type DoorPolicy, type FirewallKind } from '../core/firewall.js';
import type { PlannedFile } from './plan.js';
import { iptablesAllowLines, nftAllowLines, type AllowedService } from './allow.js';
import { DEFAULT_SPA_PORT, SPA_FIREWALLS, clientAllowIp, commandStanzaName, clientExtras, renderCommandFilter, routerForwardWords, spaServerConfig, spaStanzaLines, sshdDropInText, ufwDoorLines, ufwSpaAllowLines, type ClientStanzaOptions, type SpaFirewall, type SpaStanzaOptions } from './spa-setups.js';
import { GPG_CLIENT_HOME_NAME, GPG_SYSTEM_HOME, gpgClientStanza, placeholderKeys, gpgEncryptionLines, makeSpaGpgKeys, type SpaGpgKeys, type SpaGpgOptions } from './spa-gpg.js';

export const SPA_TEMPLATE_NAMES = [
  'fwknopd.conf', 'fwknop-access.conf', 'firewall-spa.nft', 'iptables-spa.rules', 'ufw-spa.sh', 'sshd-knockstick.conf',
  'fwknopd.service.conf', 'spa-command-filter.sh', 'router-spa.nft',
] as const;
/** The nft set CMD_CYCLE_OPEN fills (in table inet knockstick; panic flushes it: core/firewall.ts). */
export { NFT_SPA_SET };

export interface SpaPaths {
  readonly fwknopdConf: string;
  readonly accessConf: string;
  readonly firewallDir: string;
  readonly sshdDropIn: string;
  /** The client rc file written when there is no stick. */
  readonly clientRc: string;
  /** server.conf: what doctor and the other commands on this server read. */
  readonly serverConfig: string;
  /** fwknop-server.service's drop-in. */
  readonly systemdDropIn: string;
  /** fwknopd's pidfile, as the drop-in starts it (Debian's tmpfiles.d makes /run/fwknop). */
  readonly pidfile: string;
}

export const SPA_SYSTEM_PATHS: SpaPaths = {
  fwknopdConf: '/etc/fwknop/fwknopd.conf',
  accessConf: '/etc/fwknop/access.conf',
  firewallDir: '/etc/knockstick',
  sshdDropIn: '/etc/ssh/sshd_config.d/knockstick.conf',
  clientRc: '/etc/knockstick/fwknoprc.client',
  serverConfig: '/etc/knockstick/server.conf',
  systemdDropIn: '/etc/systemd/system/fwknop-server.service.d/knockstick.conf',
  pidfile: '/run/fwknop/fwknopd.pid',
};

export function spaPathsIn(dir: string): SpaPaths {
  const d = dir.replace(/\/$/, '');
  return {
    fwknopdConf: `${d}/fwknopd.conf`, accessConf: `${d}/access.conf`, firewallDir: d, sshdDropIn: `${d}/sshd-knockstick.conf`, clientRc: `${d}/fwknoprc.client`,
    serverConfig: `${d}/server.conf`, systemdDropIn: `${d}/fwknopd.service.conf`, pidfile: `${d}/fwknopd.pid`,
  };
}

export interface SpaPlanOptions extends SpaStanzaOptions {
  readonly interface: string;
  readonly firewall: SpaFirewall;
  /** fwknopd's UDP port (default 62201). */
  readonly spaPort?: number | undefined;
  /** Behind a router: this server's address the router forwards SPA and SSH to (router-spa.nft). */
  readonly behindRouter?: string | undefined;
  readonly sshPort: number;
  /** Seconds a door stays open. */
  readonly doorSeconds: number;
  /** nftables only: single-use or window (iptables doors are fwknopd's own windows). */
  readonly doorPolicy: DoorPolicy;
  /** SPA_SERVER for the client: the name or address the stick reaches this server at. */
  readonly spaServer: string;
  readonly keys: SpaKeys;
  /** --allow-command: the command stanza's own keys (its GnuPG keys, if any, are the door's). */
  readonly commandKeys?: SpaKeys | undefined;
  readonly paths: SpaPaths;
  /** Other inbound services the firewall keeps reachable (--allow). */
  readonly allow: readonly AllowedService[];
  /** --gpg: the server keyring and its keys (spa-gpg.ts); KEY_BASE64 is then left out. */
  readonly gpg?: { readonly home: string; readonly keys: SpaGpgKeys } | undefined;
}

/**
 * A value for fwknopd.conf / access.conf: one word on one line. fwknopd.conf ends values at ";",
 * access.conf takes the rest of the line, and both treat "#" as a comment: none of these may appear.
 */
export function fwknopValue(value: string, name: string): string {
  if (['door', 'encryption', 'options', 'command_filter'].includes(name)) return value; // built here from checked parts
  if (!/^[A-Za-z0-9+/=._:-]+$/.test(value)) throw new Error(`${name}: ${JSON.stringify(value)} cannot go into an fwknop config file`);
  return value;
}

/** The access.conf lines that open (and close) a door, per firewall. */
export function spaDoorLines(firewall: SpaFirewall, doorSeconds: number, sshPort = 22): string {
  if (firewall === 'iptables') return `FW_ACCESS_TIMEOUT       ${doorSeconds}`;
  if (firewall === 'ufw') return ufwDoorLines(sshPort, doorSeconds);
  // fwknopd splits these on blanks and runs them without a shell ($SRC is its own substitution);
  // nft reads "{", "}" as words. The element's own timeout closes the door, so there is no close
  // command (NONE): one could only delete the door of a newer packet from the same address, or
  // fail on a door a connection already used.
  return [
    `CMD_CYCLE_OPEN          /usr/sbin/nft add element inet knockstick ${NFT_SPA_SET} { $SRC timeout ${doorSeconds}s }`,
    'CMD_CYCLE_CLOSE         NONE',
    `CMD_CYCLE_TIMER         ${doorSeconds}`,
  ].join('\n');
}

/** The input rule of the SPA door (nftables): single-use deletes the address as it admits a connection. */
export function spaDoorRule(sshPort: number, policy: DoorPolicy): string {
  return policy === 'single-use'
    ? `ct state new ip saddr @${NFT_SPA_SET} tcp dport ${sshPort} delete @${NFT_SPA_SET} { ip saddr } accept`
    : `ct state new ip saddr @${NFT_SPA_SET} tcp dport ${sshPort} accept`;
}

/** The client's stanza (keys included): for STICK/.ssh/fwknoprc. */
export function clientStanza(o: Pick<SpaPlanOptions, 'spaServer' | 'sshPort' | 'keys'> & ClientStanzaOptions, name = 'home'): string {
  return formatStanza(name, [
    ['SPA_SERVER', o.spaServer],
    ...clientExtras(o),
    ['ACCESS', `tcp/${o.sshPort}`],
    ['ALLOW_IP', clientAllowIp(o)],
    ['KEY_BASE64', o.keys.encryption.toString('base64')],
    ['HMAC_KEY_BASE64', o.keys.hmac.toString('base64')],
    ['USE_HMAC', 'Y'],
  ]);
}

/** Every server file, as data. Pure (templates passed in). */
export function planSpaFiles(o: SpaPlanOptions, templates: Readonly<Record<string, string>>): PlannedFile[] {
  const t = (name: string): string => {
    const text = templates[name];
    if (text === undefined) throw new Error(`template ${name} not loaded`);
    return text;
  };
  const spaPort = o.spaPort ?? DEFAULT_SPA_PORT;
  const encryption = o.gpg === undefined ? `KEY_BASE64              ${o.keys.encryption.toString('base64')}` : gpgEncryptionLines(o.gpg.home, o.gpg.keys);
  if (o.allowCommand !== undefined && o.commandKeys === undefined) throw new Error('--allow-command needs the command stanza\'s keys');
  const commandKeys = o.commandKeys ?? o.keys;
  const commandEncryption = o.gpg === undefined ? `KEY_BASE64              ${commandKeys.encryption.toString('base64')}` : gpgEncryptionLines(o.gpg.home, o.gpg.keys);
  const keyLines = `${commandEncryption}\nHMAC_KEY_BASE64         ${fwknopValue(commandKeys.hmac.toString('base64'), 'hmac_key')}`;
  const files: PlannedFile[] = [
    {
      path: o.paths.fwknopdConf,
      mode: 0o600,
      text: trimEnd(render(t('fwknopd.conf'), { interface: o.interface, spa_port: String(spaPort), pidfile: o.paths.pidfile, command_filter: o.allowCommand === undefined ? '' : `SUDO_EXE                    ${commandFilterPath(o.paths)};` }, fwknopValue)),
      what: `fwknopd: UDP server on ${spaPort}, 120 s packet age, replay cache kept`,
    },
    {
      path: o.paths.accessConf,
      mode: 0o600,
      text: render(
        t('fwknop-access.conf'),
        {
          ssh_port: String(o.sshPort),
          encryption,
          hmac_key: o.keys.hmac.toString('base64'), door: spaDoorLines(o.firewall, o.doorSeconds, o.sshPort), options: spaStanzaLines(o, { spaPort, keyLines }) },
        fwknopValue,
      ),
      what: `fwknopd access: new ${o.gpg === undefined ? 'keys' : 'GnuPG keys and HMAC key'}; a valid packet opens tcp/${o.sshPort} for its sender for ${o.doorSeconds} s${describeStanza(o)}`,
    },
  ];
  if (o.firewall === 'nftables') {
    const values = { door_policy: o.doorPolicy, door_policy_words: doorPolicyWords(o.doorPolicy), door: spaDoorRule(o.sshPort, o.doorPolicy), allow: nftAllowLines(o.allow) };
    files.push({ path: `${o.paths.firewallDir}/firewall-spa.nft`, mode: 0o600, text: render(t('firewall-spa.nft'), { ...values, spa_port: String(spaPort) }, (v) => v), what: `firewall: drop new connections but SPA (udp/${spaPort}); ${o.doorPolicy} doors in inet knockstick ${NFT_SPA_SET}` });
  } else if (o.firewall === 'iptables') {
    files.push({ path: `${o.paths.firewallDir}/iptables-spa.rules`, mode: 0o600, text: render(t('iptables-spa.rules'), { allow: iptablesAllowLines(o.allow), spa_port: String(spaPort) }, (v) => v), what: `firewall (IPv4): drop new connections but SPA (udp/${spaPort}); fwknopd adds its doors` });
  } else {
    const values = { spa_port: String(spaPort), ssh_port: String(o.sshPort), seconds: String(o.doorSeconds), allow: ufwSpaAllowLines(o.allow) };
    files.push({ path: `${o.paths.firewallDir}/ufw-spa.sh`, mode: 0o700, text: render(t('ufw-spa.sh'), values, (v) => v), what: `firewall (ufw): deny incoming but SPA (udp/${spaPort}); fwknopd's doors are ufw rules (CMD_CYCLE)` });
  }
  files.push({ path: o.paths.sshdDropIn, mode: 0o644, text: sshdDropInText(t('sshd-knockstick.conf'), o.sshPort), what: o.sshPort === 22 ? 'sshd: keys only' : `sshd: keys only, on port ${o.sshPort}` });
  files.push({
    path: o.paths.systemdDropIn,
    mode: 0o644,
    text: render(t('fwknopd.service.conf'), { pidfile: o.paths.pidfile, fwknopd_conf: o.paths.fwknopdConf, access_conf: o.paths.accessConf }, fwknopValue),
    what: 'systemd: fwknopd as a daemon with a pidfile, restarted on crashes but not when stopped',
  });
  files.push({
    path: o.paths.serverConfig,
    mode: 0o600,
    text: spaServerConfig({ sshPort: o.sshPort, spaPort, firewall: o.firewall, doorPolicy: o.firewall === 'nftables' ? o.doorPolicy : 'window', fwknopdConf: o.paths.fwknopdConf, accessConf: o.paths.accessConf, pidfile: o.paths.pidfile }),
    what: 'settings for doctor and the other commands on this server (method = spa)',
  });
  if (o.allowCommand !== undefined) {
    files.push({ path: commandFilterPath(o.paths), mode: 0o700, text: renderCommandFilter(t('spa-command-filter.sh'), o.allowCommand), what: `command filter (fwknopd's SUDO_EXE): runs a command message only if it matches ${JSON.stringify(o.allowCommand)}` });
  }
  if (o.behindRouter !== undefined) {
    files.push({
      path: `${o.paths.firewallDir}/router-spa.nft`,
      mode: 0o600,
      text: render(t('router-spa.nft'), { spa_port: String(spaPort), ssh_port: String(o.sshPort), inner: o.behindRouter }, (v) => v),
      what: `router (load it on the router): ${routerForwardWords(o.behindRouter, spaPort, o.sshPort)}`,
    });
  }
  return files;
}

/** The command filter (fwknopd's SUDO_EXE), beside the firewall files. */
export function commandFilterPath(paths: SpaPaths): string {
  return `${paths.firewallDir}/spa-command-filter`;
}

/** A text ending in exactly one line break (a template's empty last placeholder leaves none). */
const trimEnd = (text: string): string => `${text.replace(/\n+$/, '')}\n`;

/** The stanza's options in words, for the report. */
function describeStanza(o: SpaStanzaOptions): string {
  const parts = [
    o.requireUsername === undefined ? '' : `user ${o.requireUsername} only`,
    o.requireSource === true ? 'the packet must name the address' : '',
    o.allowCommand === undefined ? 'no command messages' : `command messages matching ${JSON.stringify(o.allowCommand)}`,
  ].filter((p) => p !== '');
  return `; ${parts.join(', ')}`;
}

/** Writes the SPA server files (and the stick's side); the caller has parsed and checked the common flags. */
export async function initSpa(
  o: SpaStanzaOptions & {
    interface: string;
    firewall: SpaFirewall;
    spaPort: number;
    behindRouter?: string | undefined;
    sshPort: number;
    doorSeconds: number;
    doorPolicy: DoorPolicy;
    spaServer: string;
    paths: SpaPaths;
    allow: readonly AllowedService[];
    stick?: string | undefined;
    dryRun: boolean;
    force: boolean;
    /** --gpg: server and client keyrings (the client's: the stick's .gnupg, or beside the client rc). */
    gpg?: Omit<SpaGpgOptions, 'clientHome'> | undefined;
  },
  context: CommandContext,
): Promise<number> {
  const keys = generateKeys();
  const commandKeys = o.allowCommand === undefined ? undefined : generateKeys();
  const templates = Object.fromEntries(await Promise.all(SPA_TEMPLATE_NAMES.map(async (n) => [n, await loadTemplate(n)] as const)));
  const gpgFiles = (gpgKeys: SpaGpgKeys): PlannedFile[] => planSpaFiles({ ...o, keys, commandKeys, gpg: o.gpg === undefined ? undefined : { home: o.gpg.serverHome, keys: gpgKeys } }, templates);
  const placeholders = placeholderKeys(o.gpg ?? {});
  let files = gpgFiles(placeholders);
  const out = context.stdout;
  const rcPath = o.stick === undefined ? o.paths.clientRc : join(stickLayout(o.stick).sshDir, SPA_RC_NAME);
  const clientHome = o.stick === undefined ? join(dirname(o.paths.clientRc), GPG_CLIENT_HOME_NAME) : join(o.stick, '.gnupg');
  const names = ['home', ...(commandKeys === undefined ? [] : [commandStanzaName('home')])];
  const stanzaOf = (gpgKeys: SpaGpgKeys, k: SpaKeys, name: string): string => (o.gpg === undefined ? clientStanza({ ...o, keys: k }, name) : gpgClientStanza({ ...o, hmac: k.hmac }, gpgKeys, name));
  // The command stanza asks for the SPA port, as the server's command stanza allows: it opens nothing.
  const stanzaFor = (gpgKeys: SpaGpgKeys): string =>
    [stanzaOf(gpgKeys, keys, 'home'), ...(commandKeys === undefined ? [] : [stanzaOf(gpgKeys, commandKeys, names[1] as string).replace(/^ACCESS +tcp\/\d+$/m, `ACCESS           udp/${o.spaPort}`)])].join('\n');
  const stanzaWords = names.map((n) => `[${n}]`).join(' and ');
  if (o.dryRun) {
    // The keys are new and would be thrown away: show the files with the keys blanked.
    const blank = (text: string): string => text.replace(/^((?:HMAC_)?KEY_BASE64\s+)\S+/gm, '$1(new key, not shown)');
    for (const f of files) out.write(`==> ${f.path} (mode 0${f.mode.toString(8)}): ${f.what}\n${blank(f.text)}\n`);
    if (o.gpg !== undefined) out.write(`==> ${o.gpg.serverHome} (mode 0700): ${o.gpg.existing === undefined ? `new ${o.gpg.keyType} key` : o.gpg.existing.importFile === undefined ? `its key ${placeholders.serverFingerprint}` : `the key imported from ${o.gpg.existing.importFile}`} for fwknopd, the client's public key certified\n==> ${clientHome} (mode 0700): new ${o.gpg.keyType} client key, the server's public key\n`);
    out.write(`==> ${rcPath} (mode 0600): the client stanza ${stanzaWords} with the same keys\n${blank(stanzaFor(placeholders))}\n`);
    return ExitCode.OK;
  }
  // A stick is a directory holding .ssh/config, never a home directory (stick.ts); nothing written yet.
  if (o.stick !== undefined) await verifyStick(o.stick, context.env);
  const stickConf = o.stick === undefined ? undefined : join(stickLayout(o.stick).sshDir, STICK_CONFIG_NAME);
  // A link planted among the files is refused before the first write, even with --force.
  if (o.stick !== undefined) await assertNotSymlink(stickLayout(o.stick).sshDir);
  await refuseLinksAmong([...files.map((f) => f.path), rcPath, ...(stickConf === undefined ? [] : [stickConf])]);
  const existing: string[] = [];
  for (const f of files) if ((await stat(f.path).catch(() => null)) !== null) existing.push(f.path);
  if (existing.length > 0 && !o.force) {
    throw new KnockstickError('IO', `these files exist already: ${existing.join(', ')}`, { hint: 'move them away, or write elsewhere with --out DIR; --force overwrites them' });
  }
  const rcText = await readTextIfExists(rcPath);
  const taken = rcText === null ? undefined : stanzaNames(parseRcText(rcText, rcPath)).find((n) => names.includes(n.toLowerCase()));
  if (taken !== undefined) {
    throw new KnockstickError('IO', `${rcPath} already has a stanza [${taken}]; nothing was written`, { hint: 'remove that stanza (its keys stop working with the new server files) and run again' });
  }
  let gpgKeys: SpaGpgKeys = placeholders;
  if (o.gpg !== undefined) {
    // All checks passed: now the keys (gpg refuses a keyring that is a link or open to others: gpg.ts).
    if (o.stick === undefined) await mkdir(dirname(clientHome), { recursive: true, mode: 0o700 });
    gpgKeys = await makeSpaGpgKeys({ ...o.gpg, clientHome }, o.spaServer);
    files = gpgFiles(gpgKeys);
    out.write(`made GnuPG keys: fwknopd ${gpgKeys.serverFingerprint} in ${o.gpg.serverHome}, client ${gpgKeys.clientFingerprint} in ${clientHome}\n`);
  }
  for (const f of files) {
    await mkdir(dirname(f.path), { recursive: true, mode: 0o755 });
    await writeAtomically(f.path, f.text, f.mode === 0o600 ? {} : { mode: f.mode });
    out.write(`wrote ${f.path}: ${f.what}\n`);
  }
  if (o.stick === undefined) await mkdir(dirname(rcPath), { recursive: true, mode: 0o700 });
  else await ensureDirectory(dirname(rcPath), { within: o.stick });
  await writeAtomically(rcPath, `${rcText === null || rcText === '' ? '' : `${rcText.replace(/\n*$/, '')}\n\n`}${stanzaFor(gpgKeys)}`);
  out.write(`wrote ${rcPath}: the client stanza ${stanzaWords} with the same keys (mode 0600)${commandKeys === undefined ? '' : `; commands: spa send -n ${names[1]} --server-cmd CMD`}\n`);
  if (o.stick !== undefined) {
    const confPath = join(stickLayout(o.stick).sshDir, STICK_CONFIG_NAME);
    await writeAtomically(confPath, setConfigValue((await readTextIfExists(confPath)) ?? '', 'home', 'method', 'spa'), { within: o.stick });
    out.write(`wrote ${confPath}: callhome opens the door for "home" with SPA\n`);
  } else {
    out.write(`Copy ${rcPath} onto the stick as .ssh/${SPA_RC_NAME} (mode 0600), then delete it here, and set "method = spa" under [home] in the stick's .ssh/knockstick.conf.\n`);
    if (o.gpg !== undefined) out.write(`Copy ${clientHome} onto the stick as .gnupg (cp -a, mode 0700: it holds the client's secret key), then delete it here.\n`);
  }
  if (o.paths.fwknopdConf !== SPA_SYSTEM_PATHS.fwknopdConf) {
    out.write(spaInstallSteps(files, o.paths, o.firewall));
    if (o.gpg !== undefined && o.gpg.serverHome !== GPG_SYSTEM_HOME) {
      out.write(`  The GnuPG keyring is ${o.gpg.serverHome} (access.conf's GPG_HOME_DIR): keep it there, or copy it (cp -a, mode 0700) to ${GPG_SYSTEM_HOME} and change GPG_HOME_DIR to match.\n`);
    }
  } else {
    const fw = files.find((f) => /firewall-spa\.nft|iptables-spa\.rules|ufw-spa\.sh/.test(f.path))?.path ?? '';
    out.write(`
Next, on the server as root (nothing above was applied):
  1. sshd keys only:  sshd -t && systemctl reload ssh      (log in with your key from another terminal first!)
  2. firewall, with an automatic rollback in case it cuts you off (before fwknopd: loading iptables rules
     replaces fwknopd's chain):
       ${spaFirewallApply(o.firewall, fw)}
       (sleep 120; [ -e /run/knockstick-keep ] || { ${spaFirewallUndo(o.firewall)}; }) &
  3. fwknopd:  systemctl daemon-reload && systemctl enable fwknop-server && systemctl restart fwknop-server
  then, from a NEW connection made with callhome --method spa, confirm within 2 minutes:  touch /run/knockstick-keep
`);
  }
  if (o.behindRouter !== undefined) {
    const spaPort = o.spaPort;
    out.write(`
Behind a router: on the router, ${routerForwardWords(o.behindRouter, spaPort, o.sshPort)}.
  A Linux router with nftables takes ${o.paths.firewallDir}/router-spa.nft (nft -c -f FILE && nft -f FILE; its forward
  chain must let forwarded connections through: ct status dnat accept). The stick sends to --spa-server, the router's address.
`);
  }
  return ExitCode.OK;
}

/** The command that loads an SPA firewall file, checked first where the tool can check. */
export function spaFirewallApply(firewall: SpaFirewall, file: string): string {
  return firewall === 'nftables' ? `nft -c -f ${file} && nft -f ${file}` : firewall === 'iptables' ? `iptables-restore --test < ${file} && iptables-restore < ${file}` : `sh ${file}`;
}

/** What takes it back if it cut the session off. */
export function spaFirewallUndo(firewall: SpaFirewall): string {
  return firewall === 'nftables' ? 'nft delete table inet knockstick' : firewall === 'iptables' ? 'iptables -P INPUT ACCEPT; iptables -F INPUT' : 'ufw disable';
}

/** Checks the flags that only make sense with knockd, and the ones SPA needs (--spa-server: unless the wizard asks). */
export function spaInitProblem(values: Readonly<Record<string, unknown>>, wizard = false): string | undefined {
  for (const knockOnly of ['seq-timeout', 'count', 'inner', 'ddns-protocol', 'ddns-server', 'ddns-login', 'ddns-hostname']) {
    if (values[knockOnly] !== undefined) return `--${knockOnly} is for knockd; it has no meaning with --method spa${knockOnly === 'inner' ? ' (behind a router: --behind-router ADDR)' : ''}`;
  }
  const firewall = values.firewall;
  if (firewall !== undefined && !(SPA_FIREWALLS as readonly unknown[]).includes(firewall)) return `--firewall must be nftables, iptables or ufw, got ${JSON.stringify(firewall)}`;
  if (firewall === 'iptables' && values['door-policy'] === 'single-use') {
    return "--door-policy single-use with --method spa needs --firewall nftables: with iptables the doors are fwknopd's own rules, open to every connection from the address for --cmd-timeout";
  }
  if (firewall === 'ufw' && values['door-policy'] === 'single-use') {
    return '--door-policy single-use with --method spa needs --firewall nftables: with ufw the doors are ufw rules fwknopd adds and deletes, open to every connection from the address for --cmd-timeout';
  }
  const server = values['spa-server'];
  if (server === undefined && wizard) return undefined;
  if (typeof server !== 'string' || !/^[A-Za-z0-9.-]{1,253}$/.test(server) || server.startsWith('-')) return '--method spa needs --spa-server HOST: the name or IPv4 address the stick sends its packets to';
  return undefined;
}

/**
 * With --out: how to put the staging copy in place. The SPA files name no path of each other, so
 * each is installed as it is; --backup keeps what fwknop-server's package (or you) put there.
 */
export function spaInstallSteps(files: readonly PlannedFile[], paths: SpaPaths, firewall: SpaFirewall): string {
  const named: [keyof SpaPaths, string][] = [['fwknopdConf', paths.fwknopdConf], ['accessConf', paths.accessConf], ['sshdDropIn', paths.sshdDropIn], ['serverConfig', paths.serverConfig], ['systemdDropIn', paths.systemdDropIn]];
  const systemPath = (path: string): string => {
    const key = named.find(([, p]) => p === path)?.[0];
    return key === undefined ? `${SPA_SYSTEM_PATHS.firewallDir}/${path.slice(path.lastIndexOf('/') + 1)}` : SPA_SYSTEM_PATHS[key];
  };
  // Files that name other files (fwknopd.conf: the command filter; the drop-in: both configs) are
  // written for the staging directory: those paths change to the system ones as they are installed.
  const lines = files.map((f) => `       install --backup=numbered -D -m 0${f.mode.toString(8)} ${f.path} ${systemPath(f.path)}`);
  // access.conf names only the GnuPG keyring (said separately below): it is left as it is.
  const rewrites = files.filter((f) => f.path !== paths.accessConf && f.text.includes(paths.firewallDir)).map((f) => systemPath(f.path));
  const fw = systemPath(files.find((f) => /firewall-spa\.nft|iptables-spa\.rules|ufw-spa\.sh/.test(f.path))?.path ?? '');
  const apply = spaFirewallApply(firewall, fw);
  const undo = spaFirewallUndo(firewall);
  // The named files first, then whatever else lives in the staging directory (the command filter).
  const sed = [...named.map(([key, p]) => [p, SPA_SYSTEM_PATHS[key]]), [paths.pidfile, SPA_SYSTEM_PATHS.pidfile], [`${paths.firewallDir}/`, `${SPA_SYSTEM_PATHS.firewallDir}/`]].map(([from, to]) => `s|${from}|${to}|g`).join('; ');
  const fix = rewrites.length === 0 ? '' : `     then point the files that name other files at the system paths:\n       sed -i '${sed}' ${rewrites.join(' ')}\n`;
  return `
Nothing above is in place: ${paths.firewallDir} is a staging copy. To install it on this server, as root:
  1. the files (an existing one is kept as FILE.~N~):
${lines.join('\n')}
${fix}  2. sshd keys only:  sshd -t && systemctl reload ssh      (log in with your key from another terminal first!)
  3. firewall, with an automatic rollback in case it cuts you off (before fwknopd):
       ${apply}
       (sleep 120; [ -e /run/knockstick-keep ] || { ${undo}; }) &
  4. fwknopd:  systemctl daemon-reload && systemctl enable fwknop-server && systemctl restart fwknop-server
  then, from a NEW connection made with callhome --method spa, confirm within 2 minutes:  touch /run/knockstick-keep
`;
}
