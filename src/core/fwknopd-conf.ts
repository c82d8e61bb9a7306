// fwknopd.conf and access.conf, read the way fwknopd 2.6.10 reads them (server/config_init.c
// parse_config_file, server/access.c parse_access_file), so that doctor's findings are about what
// the daemon will actually do. Pure: text in (one char per byte, "latin1"), a model out.
//
// What fwknopd does, and this reader copies:
// - it reads with fgets(buf, 1024): a line longer than 1023 bytes is read as two (or more) lines,
//   each counted as a line of its own;
// - a read whose FIRST byte is "#", ";", "\r", "\n" or NUL is skipped (only the first byte: an
//   indented "#" is not a comment);
// - the rest goes through sscanf("%s %[^;\n\r]"): the name is the first blank-delimited word (after
//   any leading blanks), the value runs from the next non-blank up to ";", "\r" or "\n" and keeps
//   trailing blanks; a line with a name but no value is an "invalid entry" (fwknopd.conf: logged
//   and skipped; access.conf: the whole file is refused);
// - names are case-sensitive; a later line with the same name overwrites the earlier one;
// - fwknopd.conf: an unknown name is logged ("Ignoring unknown configuration parameter") and
//   skipped; a value starting with "$NAME" takes the value NAME had so far;
// - access.conf: a trailing ":" on the name is dropped ("KEY: x" works); lines before the first
//   SOURCE are ignored without a word; each SOURCE starts a stanza; unknown names are logged and
//   skipped. A byte-order mark glues itself to the first name, which then matches nothing.

/** fgets(buf, MAX_LINE_LEN = 1024) keeps at most 1023 bytes per read. */
export const FWKNOP_READ_MAX = 1023;

/** fwknopd.conf names fwknopd 2.6.10 (Debian, iptables build) knows, as `fwknopd -D` lists them. */
export const FWKNOPD_CONF_NAMES: ReadonlySet<string> = new Set([
  'CONFIG_FILE', 'OVERRIDE_CONFIG', 'PCAP_INTF', 'PCAP_FILE', 'ENABLE_PCAP_PROMISC', 'PCAP_FILTER', 'PCAP_DISPATCH_COUNT',
  'PCAP_LOOP_SLEEP', 'ENABLE_PCAP_ANY_DIRECTION', 'EXIT_AT_INTF_DOWN', 'MAX_SNIFF_BYTES', 'ENABLE_SPA_PACKET_AGING',
  'MAX_SPA_PACKET_AGE', 'ENABLE_DIGEST_PERSISTENCE', 'RULES_CHECK_THRESHOLD', 'CMD_EXEC_TIMEOUT', 'ENABLE_SPA_OVER_HTTP',
  'ENABLE_TCP_SERVER', 'TCPSERV_PORT', 'ENABLE_UDP_SERVER', 'UDPSERV_PORT', 'UDPSERV_SELECT_TIMEOUT', 'LOCALE',
  'SYSLOG_IDENTITY', 'SYSLOG_FACILITY', 'ENABLE_X_FORWARDED_FOR', 'ENABLE_DESTINATION_RULE', 'ENABLE_RULE_PREPEND',
  'ENABLE_NAT_DNS', 'ENABLE_IPT_FORWARDING', 'ENABLE_IPT_LOCAL_NAT', 'ENABLE_IPT_SNAT', 'SNAT_TRANSLATE_IP',
  'ENABLE_IPT_OUTPUT', 'FLUSH_IPT_AT_INIT', 'FLUSH_IPT_AT_EXIT', 'IPT_INPUT_ACCESS', 'IPT_OUTPUT_ACCESS',
  'IPT_FORWARD_ACCESS', 'IPT_DNAT_ACCESS', 'IPT_SNAT_ACCESS', 'IPT_MASQUERADE_ACCESS', 'ENABLE_IPT_COMMENT_CHECK',
  'FWKNOP_RUN_DIR', 'FWKNOP_CONF_DIR', 'ACCESS_FILE', 'ACCESS_FOLDER', 'FWKNOP_PID_FILE', 'DIGEST_FILE', 'GPG_HOME_DIR',
  'GPG_EXE', 'SUDO_EXE', 'FIREWALL_EXE', 'VERBOSE', 'FAULT_INJECTION_TAG',
]);

/** access.conf names parse_access_file knows (2.6.10). CMD_REGEX is not one: only the old Perl fwknopd read it. */
export const ACCESS_NAMES: ReadonlySet<string> = new Set([
  'SOURCE', 'DESTINATION', 'OPEN_PORTS', 'RESTRICT_PORTS', 'KEY', 'KEY_BASE64', 'HMAC_DIGEST_TYPE', 'HMAC_KEY_BASE64',
  'HMAC_KEY', 'FW_ACCESS_TIMEOUT', 'MAX_FW_TIMEOUT', 'ENCRYPTION_MODE', 'ENABLE_CMD_EXEC', 'ENABLE_CMD_SUDO_EXEC',
  'CMD_SUDO_EXEC_USER', 'CMD_SUDO_EXEC_GROUP', 'CMD_EXEC_USER', 'CMD_EXEC_GROUP', 'CMD_CYCLE_OPEN', 'CMD_CYCLE_CLOSE',
  'CMD_CYCLE_TIMER', 'REQUIRE_USERNAME', 'REQUIRE_SOURCE_ADDRESS', 'REQUIRE_SOURCE', 'GPG_HOME_DIR', 'GPG_EXE',
  'GPG_DECRYPT_ID', 'GPG_DECRYPT_PW', 'GPG_ALLOW_NO_PW', 'GPG_REQUIRE_SIG', 'GPG_DISABLE_SIG',
  'GPG_IGNORE_SIG_VERIFY_ERROR', 'GPG_REMOTE_ID', 'GPG_FINGERPRINT_ID', 'ACCESS_EXPIRE', 'ACCESS_EXPIRE_EPOCH',
  'FORCE_NAT', 'FORCE_SNAT', 'FORCE_MASQUERADE', 'DISABLE_DNAT', 'FORWARD_ALL',
]);

/** Values that are secrets: never shown in a finding. */
export const SECRET_NAMES: ReadonlySet<string> = new Set(['KEY', 'KEY_BASE64', 'HMAC_KEY', 'HMAC_KEY_BASE64', 'GPG_DECRYPT_PW']);

export interface FwknopEntry {
  readonly name: string;
  readonly value: string;
  /** The file's own line number (1-based), not fwknopd's read count. */
  readonly line: number;
}

/** Something in the file fwknopd reads differently from how it looks, or refuses. */
export interface FwknopProblem {
  readonly kind: 'bom' | 'long-line' | 'invalid' | 'unknown' | 'duplicate' | 'before-source' | 'include' | 'fatal';
  readonly line: number;
  readonly message: string;
  /** fatal: fwknopd refuses the file (access.conf) or stops. */
  readonly fatal: boolean;
  /** unknown: the name as fwknopd reads it. */
  readonly name?: string;
  /** 'key': about a stanza's keys, which doctor's key checks report in their own words. */
  readonly topic?: 'key';
}

/** One fgets read: its text (newline included) and the file line it belongs to. */
interface Read {
  readonly text: string;
  readonly line: number;
}

function reads(text: string): { reads: Read[]; longLines: number[] } {
  const out: Read[] = [];
  const longLines: number[] = [];
  let line = 0;
  for (const raw of text.split(/(?<=\n)/)) {
    if (raw === '') continue;
    line++;
    if (raw.length > FWKNOP_READ_MAX) longLines.push(line);
    for (let i = 0; i < raw.length; i += FWKNOP_READ_MAX) out.push({ text: raw.slice(i, i + FWKNOP_READ_MAX), line });
  }
  return { reads: out, longLines };
}

const isSkipped = (first: string | undefined): boolean => first === undefined || first === '#' || first === ';' || first === '\r' || first === '\n' || first === '\0';

/** sscanf(buf, "%s %[^;\n\r]", var, val) for one read: null when it does not yield both. */
export function scanLine(buf: string): { name: string; value: string } | null {
  const s = buf.split('\0')[0] ?? '';
  // %s takes the whole word, so the value can only start after a blank.
  const m = /^[ \t\n\v\f\r]*([^ \t\n\v\f\r]+)[ \t\n\v\f\r]+([^;\n\r]+)/.exec(s);
  return m === null ? null : { name: m[1] as string, value: m[2] as string };
}

const BOM = '\xEF\xBB\xBF';
const shown = (name: string): string => JSON.stringify(name.replace(BOM, '<BOM>'));
/** Why fwknopd ignores a name: an indented comment is a name to it (harmless, but not what it looks like). */
const unknownWhy = (name: string): string =>
  name.startsWith('#') ? `is an indented comment: fwknopd skips only lines whose first character is "#", and reads ${shown(name)} as a name it does not know (harmless)` : `sets ${shown(name)}, which fwknopd 2.6 does not know: it ignores the line`;

export interface FwknopdConfModel {
  /** The value each name ends up with (last wins), with its line. */
  readonly values: ReadonlyMap<string, FwknopEntry>;
  readonly problems: readonly FwknopProblem[];
}

/** fwknopd.conf as parse_config_file sees it. */
export function readFwknopdConf(text: string): FwknopdConfModel {
  const values = new Map<string, FwknopEntry>();
  const problems: FwknopProblem[] = [];
  const { reads: rs, longLines } = reads(text);
  if (text.startsWith(BOM)) problems.push({ kind: 'bom', line: 1, fatal: false, message: 'starts with a byte-order mark: fwknopd reads it as part of the first name, which it then ignores' });
  for (const l of longLines) problems.push({ kind: 'long-line', line: l, fatal: false, message: `is longer than ${FWKNOP_READ_MAX - 1} characters: fwknopd reads it as two lines` });
  for (const r of rs) {
    if (isSkipped(r.text[0])) continue;
    const scanned = scanLine(r.text);
    if (scanned === null) {
      problems.push({ kind: 'invalid', line: r.line, fatal: false, message: 'has a name without a value (or only blanks): fwknopd logs "Invalid config file entry" and skips it' });
      continue;
    }
    const { name } = scanned;
    if (!FWKNOPD_CONF_NAMES.has(name)) {
      problems.push({ kind: 'unknown', line: r.line, fatal: false, name, message: unknownWhy(name) });
      continue;
    }
    let value = scanned.value;
    const expansion = /^\$([A-Z_]*)(.*)$/s.exec(value);
    if (expansion !== null) {
      const from = values.get(expansion[1] as string);
      if (from === undefined) {
        problems.push({ kind: 'invalid', line: r.line, fatal: false, message: `uses $${expansion[1]}, which is not set before it here: fwknopd leaves the line's setting unchanged` });
        continue;
      }
      value = `${from.value}${(expansion[2] as string).split(/[ \t\n\v\f\r]/)[0]}`;
    }
    const before = values.get(name);
    if (before !== undefined) problems.push({ kind: 'duplicate', line: r.line, fatal: false, message: `sets ${name} again (first on line ${before.line}): fwknopd keeps this later value` });
    values.set(name, { name, value, line: r.line });
  }
  return { values, problems };
}

export interface AccessStanza {
  /** The SOURCE line. */
  readonly line: number;
  readonly source: string;
  /** Every setting of the stanza by name (last wins), SOURCE included. */
  readonly values: ReadonlyMap<string, FwknopEntry>;
  /** Lines of the stanza fwknopd ignores (unknown names, e.g. CMD_REGEX), by name. */
  readonly ignored: ReadonlyMap<string, FwknopEntry>;
}

export interface AccessConfModel {
  readonly stanzas: readonly AccessStanza[];
  readonly problems: readonly FwknopProblem[];
}

/** access.conf as parse_access_file sees it (includes are reported, not followed). */
export function readAccessConf(text: string): AccessConfModel {
  const stanzas: Array<{ line: number; source: string; values: Map<string, FwknopEntry>; ignored: Map<string, FwknopEntry> }> = [];
  const problems: FwknopProblem[] = [];
  const { reads: rs, longLines } = reads(text);
  if (text.startsWith(BOM)) problems.push({ kind: 'bom', line: 1, fatal: false, message: 'starts with a byte-order mark: fwknopd reads it as part of the first name, which then matches nothing' });
  for (const l of longLines) problems.push({ kind: 'long-line', line: l, fatal: false, message: `is longer than ${FWKNOP_READ_MAX - 1} characters: fwknopd reads it as two lines` });
  let skippedBeforeSource = false;
  for (const r of rs) {
    if (isSkipped(r.text[0])) continue;
    const scanned = scanLine(r.text);
    if (scanned === null) {
      problems.push({ kind: 'invalid', line: r.line, fatal: true, message: 'has a name without a value (or only blanks): fwknopd refuses the whole file ("Invalid access file entry")' });
      continue;
    }
    const colon = scanned.name.lastIndexOf(':');
    const name = colon === -1 ? scanned.name : scanned.name.slice(0, colon);
    const { value } = scanned;
    const cur = stanzas[stanzas.length - 1];
    if (name === '%include' || name === '%include_folder' || name === '%include_keys') {
      problems.push({ kind: 'include', line: r.line, fatal: false, message: `${name} ${value}: fwknopd reads that too; doctor does not follow it (the real fwknopd's reading covers it)` });
      continue;
    }
    if (name === 'SOURCE') {
      stanzas.push({ line: r.line, source: value, values: new Map([[name, { name, value, line: r.line }]]), ignored: new Map() });
      continue;
    }
    if (cur === undefined) {
      if (!skippedBeforeSource) problems.push({ kind: 'before-source', line: r.line, fatal: false, message: `sets ${shown(name)} before any SOURCE line: fwknopd ignores it (and every line up to the first SOURCE)` });
      skippedBeforeSource = true;
      continue;
    }
    if (!ACCESS_NAMES.has(name)) {
      cur.ignored.set(name, { name, value, line: r.line });
      problems.push({
        kind: 'unknown',
        line: r.line,
        fatal: false,
        message:
          name === 'CMD_REGEX'
            ? 'sets CMD_REGEX, which fwknopd 2.6 (C) does not read (only the old Perl fwknopd did): it does not limit the commands ENABLE_CMD_EXEC runs'
            : unknownWhy(name),
      });
      continue;
    }
    const before = cur.values.get(name);
    if (before !== undefined) problems.push({ kind: 'duplicate', line: r.line, fatal: false, message: `sets ${name} again in the stanza of line ${cur.line} (first on line ${before.line}): fwknopd keeps this later value` });
    if (SECRET_NAMES.has(name) && isPlaceholder(value)) problems.push({ kind: 'fatal', line: r.line, fatal: true, message: `${name} is still __CHANGEME__: fwknopd refuses the file` });
    else if ((name === 'KEY_BASE64' || name === 'HMAC_KEY_BASE64') && !/^[A-Za-z0-9+/=]*$/.test(value)) {
      problems.push({ kind: 'fatal', line: r.line, fatal: true, message: `${name} is not base64 (a blank or other character after the key?): fwknopd refuses the file` });
    }
    cur.values.set(name, { name, value, line: r.line });
  }
  if (stanzas.length === 0) problems.push({ kind: 'fatal', line: 0, fatal: true, message: 'has no SOURCE stanza: fwknopd refuses to start' });
  for (const st of stanzas) problems.push(...stanzaRefusals(st));
  return { stanzas, problems };
}

/** What fwknopd's acc_data_is_valid / set_acc_defaults refuse in a whole stanza (access.c). */
function stanzaRefusals(s: AccessStanza): FwknopProblem[] {
  const out: FwknopProblem[] = [];
  const refuse = (message: string, topic?: 'key'): void => void out.push({ kind: 'fatal', line: s.line, fatal: true, message: `(the stanza of SOURCE ${s.source.trim()}) ${message}`, ...(topic === undefined ? {} : { topic }) });
  const v = (n: string): string | undefined => s.values.get(n)?.value;
  const gpgPw = v('GPG_DECRYPT_PW');
  const allowNoPw = isYes(v('GPG_ALLOW_NO_PW'));
  const key = keyBytes(s, 'KEY');
  const hmac = keyBytes(s, 'HMAC_KEY');
  if ((key === undefined || key.length === 0) && (gpgPw === undefined || gpgPw === '') && !allowNoPw) refuse('has no key: fwknopd refuses the file ("No keys found")', 'key');
  else if (key !== undefined && hmac !== undefined && key.length > 0 && key.equals(hmac)) refuse('uses its encryption key as HMAC key: fwknopd refuses the file', 'key');
  const open = v('CMD_CYCLE_OPEN');
  const close = v('CMD_CYCLE_CLOSE');
  if (open !== undefined && close === undefined) refuse('has CMD_CYCLE_OPEN without CMD_CYCLE_CLOSE (NONE for none): fwknopd refuses the file');
  if (close !== undefined && open === undefined) refuse('has CMD_CYCLE_CLOSE without CMD_CYCLE_OPEN: fwknopd refuses the file');
  if (open !== undefined && close !== undefined && !close.startsWith('NONE') && Number(v('CMD_CYCLE_TIMER') ?? 0) <= 0) refuse('has CMD_CYCLE_CLOSE but no CMD_CYCLE_TIMER: fwknopd refuses the file');
  if ((gpgPw !== undefined || allowNoPw) && !isYes(v('GPG_DISABLE_SIG')) && v('GPG_REMOTE_ID') === undefined && v('GPG_FINGERPRINT_ID') === undefined) {
    refuse('uses GnuPG without GPG_REMOTE_ID or GPG_FINGERPRINT_ID: fwknopd will not start');
  }
  return out;
}

/** The sample access.conf's placeholder key, which fwknopd refuses. */
export const isPlaceholder = (value: string): boolean => /^__CHANGEME__$/i.test(value);

/** fwknopd's booleans: "Y..." (any case) is yes, anything else no. */
export const isYes = (value: string | undefined): boolean => value !== undefined && /^y/i.test(value);

/** A key's bytes as fwknopd holds them: KEY as written, KEY_BASE64 decoded. undefined: none set. */
export function keyBytes(stanza: AccessStanza, which: 'KEY' | 'HMAC_KEY'): Buffer | undefined {
  // fwknopd applies the lines in order; the later of KEY / KEY_BASE64 wins.
  const plain = stanza.values.get(which);
  const b64 = stanza.values.get(`${which}_BASE64`);
  const last = plain === undefined ? b64 : b64 === undefined ? plain : plain.line > b64.line ? plain : b64;
  if (last === undefined) return undefined;
  return last === plain ? Buffer.from(last.value, 'latin1') : Buffer.from(last.value, 'base64');
}

/** The tcp ports of an OPEN_PORTS value ("tcp/22, udp/53"). */
export function openTcpPorts(value: string): number[] {
  return [...value.matchAll(/tcp\/(\d+)/gi)].map((m) => Number(m[1]));
}

/** The SPA port fwknopd listens on: UDPSERV_PORT in UDP server mode, else the PCAP_FILTER's port. */
export function spaPort(conf: FwknopdConfModel): { port: number | undefined; udpServer: boolean; filterPort: number | undefined } {
  const udpServer = isYes(conf.values.get('ENABLE_UDP_SERVER')?.value);
  const filter = conf.values.get('PCAP_FILTER')?.value ?? 'udp port 62201';
  const filterPort = /\bport\s+(\d+)/.exec(filter)?.[1];
  const udp = conf.values.get('UDPSERV_PORT')?.value;
  const port = udpServer ? Number(udp ?? 62201) : filterPort === undefined ? undefined : Number(filterPort);
  return { port: port !== undefined && Number.isInteger(port) ? port : undefined, udpServer, filterPort: filterPort === undefined ? undefined : Number(filterPort) };
}
