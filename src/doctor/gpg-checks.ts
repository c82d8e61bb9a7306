// doctor's checks of GnuPG SPA: fwknopd's keyring (access.conf's GPG_* lines) and the stick's
// (.gnupg and the USE_GPG stanzas of .ssh/fwknoprc). Pure: index.ts gathers the facts (lstat, the
// real gpg's --with-colons listings, parsed by spa/gpg-colons.ts), every finding here has a unit test.

import type { Finding } from './checks.js';
import { keyProblem, type ColonKey } from '../spa/gpg-colons.js';

/** lstat of a keyring directory; undefined when it does not exist. */
export interface DirFact {
  readonly isLink: boolean;
  readonly isDirectory: boolean;
  readonly mode: number;
  readonly uid: number;
}

export interface KeyringFacts {
  readonly dir: DirFact | undefined;
  /** `--list-keys` and `--list-secret-keys`, parsed (empty when gpg found none or failed). */
  readonly publicKeys: readonly ColonKey[];
  readonly secretKeys: readonly ColonKey[];
  /** gpg.conf's text, or null. */
  readonly gpgConf: string | null;
}

/** One access.conf stanza that uses GnuPG. */
export interface AccessGpgStanza {
  readonly file: string;
  /** The SOURCE line starting the stanza. */
  readonly line: number;
  readonly home: string | undefined;
  readonly decryptId: { readonly value: string; readonly line: number } | undefined;
  readonly decryptPw: boolean;
  readonly allowNoPw: boolean;
  /** GPG_REMOTE_ID and GPG_FINGERPRINT_ID values (comma lists), with their lines. */
  readonly signers: ReadonlyArray<{ readonly variable: string; readonly value: string; readonly line: number }>;
}

/**
 * The GnuPG stanzas of access.conf: "VARIABLE value" lines, a new stanza at each SOURCE, "#"
 * comments. fwknopd reads a value up to ";" or the line end; GPG_HOME_DIR defaults to the
 * daemon's ~/.gnupg, which doctor reports rather than guesses.
 */
export function parseAccessGpg(text: string, file: string): AccessGpgStanza[] {
  const out: AccessGpgStanza[] = [];
  let cur: { line: number; vars: Map<string, Array<{ value: string; line: number }>> } | undefined;
  const flush = (): void => {
    if (cur === undefined) return;
    const get = (n: string): { value: string; line: number } | undefined => cur?.vars.get(n)?.[0];
    const isGpg = [...cur.vars.keys()].some((k) => k.startsWith('GPG_'));
    if (isGpg) {
      out.push({
        file,
        line: cur.line,
        home: get('GPG_HOME_DIR')?.value,
        decryptId: get('GPG_DECRYPT_ID'),
        decryptPw: get('GPG_DECRYPT_PW') !== undefined,
        allowNoPw: /^y/i.test(get('GPG_ALLOW_NO_PW')?.value ?? ''),
        signers: ['GPG_REMOTE_ID', 'GPG_FINGERPRINT_ID'].flatMap((variable) =>
          (cur?.vars.get(variable) ?? []).flatMap((e) => e.value.split(',').map((v) => v.trim()).filter((v) => v !== '').map((value) => ({ variable, value, line: e.line }))),
        ),
      });
    }
  };
  text.split('\n').forEach((raw, i) => {
    const m = /^\s*([A-Z_]+)\s+([^;\r\n]*)/.exec(raw);
    if (m === null || raw.trimStart().startsWith('#')) return;
    const name = m[1] as string;
    const value = (m[2] as string).trim();
    if (name === 'SOURCE') {
      flush();
      cur = { line: i + 1, vars: new Map() };
    }
    if (cur === undefined) return;
    const list = cur.vars.get(name) ?? [];
    list.push({ value, line: i + 1 });
    cur.vars.set(name, list);
  });
  flush();
  return out;
}

const ok = (id: string, message: string): Finding => ({ id, severity: 'ok', message, fix: '' });
const bad = (id: string, severity: 'error' | 'warning', message: string, fix: string): Finding => ({ id, severity, message, fix });
const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/** GnuPG wants its home a real directory, 0700, of the user running it (fwknopd: root). */
export function checkKeyringDir(id: string, path: string, dir: DirFact | undefined, owners: readonly number[]): Finding {
  if (dir === undefined) return bad(id, 'error', `${path} (GnuPG home) does not exist`, 'server init --method spa --gpg makes it; or fix the path');
  if (dir.isLink) return bad(id, 'error', `${path} (GnuPG home) is a symbolic link`, `put the keyring itself there (cp -a), mode 0700`);
  if (!dir.isDirectory) return bad(id, 'error', `${path} (GnuPG home) is not a directory`, 'point it at the keyring directory');
  if ((dir.mode & 0o077) !== 0) return bad(id, 'error', `${path} (GnuPG home) has mode ${octal(dir.mode)}: gpg warns about it and others can read the secret keys`, `chmod 700 ${path}`);
  if (!owners.includes(dir.uid)) return bad(id, 'error', `${path} (GnuPG home) is owned by uid ${dir.uid}, not by ${owners.map((u) => `uid ${u}`).join(' or ')}`, `chown -R ${owners[0] === 0 ? 'root' : owners[0]} ${path}`);
  return ok(id, `${path}: a directory, mode ${octal(dir.mode)}`);
}

/** The findings for one access.conf GnuPG stanza and its keyring. */
export function checkAccessGpgStanza(s: AccessGpgStanza, ring: KeyringFacts | undefined, now: number, owners: readonly number[]): Finding[] {
  const where = `${s.file}:${s.line}`;
  if (s.home === undefined || ring === undefined) {
    return [bad('gpg:server:home', 'error', `${where}: the GnuPG stanza has no GPG_HOME_DIR (fwknopd would use root's ~/.gnupg)`, 'add GPG_HOME_DIR /etc/fwknop/gnupg')];
  }
  const findings = [checkKeyringDir('gpg:server:home', s.home, ring.dir, owners)];
  if (ring.dir === undefined || ring.dir.isLink || !ring.dir.isDirectory) return findings;
  if (s.decryptId === undefined) findings.push(bad('gpg:server:decrypt', 'error', `${where}: no GPG_DECRYPT_ID`, 'name fwknopd\'s key (its fingerprint) in GPG_DECRYPT_ID'));
  else {
    const problem = keyProblem(ring.secretKeys, s.decryptId.value, now, { encrypt: true, secret: true });
    findings.push(
      problem === undefined
        ? ok('gpg:server:decrypt', `${s.file}:${s.decryptId.line}: GPG_DECRYPT_ID ${s.decryptId.value} decrypts in ${s.home}`)
        : bad('gpg:server:decrypt', 'error', `${s.file}:${s.decryptId.line}: GPG_DECRYPT_ID ${s.decryptId.value}: ${problem} in ${s.home}`, `import or make fwknopd's key there (server init --method spa --gpg [--gpg-import FILE])`),
    );
  }
  if (s.signers.length === 0) findings.push(bad('gpg:server:signer', 'warning', `${where}: no GPG_REMOTE_ID or GPG_FINGERPRINT_ID: any key in ${s.home} may sign`, 'name the stick\'s key with GPG_FINGERPRINT_ID'));
  for (const signer of s.signers) {
    const problem = keyProblem(ring.publicKeys, signer.value, now, { certified: true });
    findings.push(
      problem === undefined
        ? ok('gpg:server:signer', `${s.file}:${signer.line}: ${signer.variable} ${signer.value} is there, certified`)
        : bad(
            'gpg:server:signer',
            'error',
            `${s.file}:${signer.line}: ${signer.variable} ${signer.value}: ${problem} in ${s.home}`,
            `import the stick's public key into ${s.home} and certify it: gpg --homedir ${s.home} --quick-lsign-key FPR`,
          ),
    );
  }
  if (s.decryptPw) {
    const loopback = (ring.gpgConf ?? '').split('\n').some((l) => l.trim() === 'pinentry-mode loopback');
    findings.push(
      loopback
        ? ok('gpg:server:loopback', `${s.home}/gpg.conf says pinentry-mode loopback (GPG_DECRYPT_PW reaches gpg)`)
        : bad('gpg:server:loopback', 'error', `${where}: GPG_DECRYPT_PW is set but ${s.home}/gpg.conf lacks "pinentry-mode loopback": fwknopd 2.6 with gpg 2.2 then fails ("Inappropriate ioctl for device")`, `echo 'pinentry-mode loopback' >> ${s.home}/gpg.conf`),
    );
  }
  return findings;
}

/** One USE_GPG stanza of the stick's fwknoprc. */
export interface StickGpgStanza {
  readonly file: string;
  readonly name: string;
  readonly line: number;
  /** GPG_HOMEDIR resolved (relative: from the rc file's directory), or the stick's .gnupg. */
  readonly home: string;
  readonly signer: { readonly value: string; readonly line: number } | undefined;
  readonly recipient: { readonly value: string; readonly line: number } | undefined;
}

export function checkStickGpgStanza(s: StickGpgStanza, ring: KeyringFacts, now: number): Finding[] {
  const where = `${s.file}:${s.line} [${s.name}]`;
  const findings: Finding[] = [];
  if (s.signer === undefined) findings.push(bad('gpg:stick:signer', 'error', `${where}: no GPG_SIGNER: fwknopd (GPG_REQUIRE_SIG) refuses unsigned packets`, 'GPG_SIGNER FPR (the stick\'s key)'));
  else {
    const problem = keyProblem(ring.secretKeys, s.signer.value, now, { secret: true });
    findings.push(
      problem === undefined
        ? ok('gpg:stick:signer', `${s.file}:${s.signer.line}: GPG_SIGNER ${s.signer.value} has its secret key in ${s.home}`)
        : bad('gpg:stick:signer', 'error', `${s.file}:${s.signer.line}: GPG_SIGNER ${s.signer.value}: ${problem} in ${s.home}`, 'make the stick\'s key again (server init --method spa --gpg) or copy its keyring onto the stick'),
    );
  }
  if (s.recipient === undefined) findings.push(bad('gpg:stick:recipient', 'error', `${where}: no GPG_RECIPIENT`, 'GPG_RECIPIENT FPR (fwknopd\'s key)'));
  else {
    const problem = keyProblem(ring.publicKeys, s.recipient.value, now, { encrypt: true });
    findings.push(
      problem === undefined
        ? ok('gpg:stick:recipient', `${s.file}:${s.recipient.line}: GPG_RECIPIENT ${s.recipient.value} can be encrypted to`)
        : bad('gpg:stick:recipient', 'error', `${s.file}:${s.recipient.line}: GPG_RECIPIENT ${s.recipient.value}: ${problem} in ${s.home}`, `import fwknopd's public key: gpg --homedir ${s.home} --import fwknopd.asc`),
    );
  }
  return findings;
}
