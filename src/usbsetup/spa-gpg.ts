// usbsetup --method spa --gpg-server-key FILE: a GnuPG SPA stick for a server whose fwknopd key
// exists already (`gpg --homedir /etc/fwknop/gnupg --armor --export FPR` on the server). A new
// client key (Ed25519, no passphrase: the stick is the encrypted volume) goes into STICK/.gnupg
// (0700) beside the server's public key; the stick's fwknoprc gets a USE_GPG stanza. The server
// side, printed by usbsetup: import the client's public key, certify it (fwknopd refuses signers it
// does not consider valid), and the access.conf stanza naming both keys.

import { join } from 'node:path';
import { KnockstickError } from '../core/errors.js';
import { readTextIfExists } from '../core/files.js';
import { ensureGpgHome, exportPublicKey, generateKey, importKey, listKeys, stopAgent } from '../spa/gpg.js';
import { gpgAccessLines } from '../spa/gpg-setup.js';
import { GPG_SYSTEM_HOME, gpgClientStanza } from '../server/spa-gpg.js';
import type { SpaKeys } from '../spa/keys.js';

export interface GpgStick {
  readonly rcStanza: string;
  /** The access.conf stanza (HMAC key included: secret). */
  readonly spaAccess: string;
  /** The client's public key, armored, for the server's keyring (not secret). */
  readonly clientPublicKey: string;
  readonly clientFingerprint: string;
  readonly serverFingerprint: string;
}

export async function writeGpgStick(o: { root: string; alias: string; hostName: string; port: number; serverKeyFile: string; keys: SpaKeys }): Promise<GpgStick> {
  const armored = await readTextIfExists(o.serverKeyFile);
  if (armored === null || !armored.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    throw new KnockstickError('USAGE', `${o.serverKeyFile} is not an armored public key`, { hint: 'on the server: gpg --homedir /etc/fwknop/gnupg --armor --export FINGERPRINT > fwknopd.asc' });
  }
  const home = join(o.root, '.gnupg');
  await ensureGpgHome(home);
  try {
    const before = new Set((await listKeys(home, false)).map((k) => k.fingerprint));
    await importKey(home, armored);
    const imported = (await listKeys(home, false)).filter((k) => !before.has(k.fingerprint) && k.canEncrypt);
    if (imported.length !== 1) throw new KnockstickError('USAGE', `${o.serverKeyFile} must hold exactly one new key that can encrypt, found ${imported.length}`);
    const serverFingerprint = (imported[0] as { fingerprint: string }).fingerprint;
    const clientFingerprint = await generateKey(home, `knockstick ${o.alias} for ${o.hostName}`, 'ed25519', undefined);
    const keys = { serverFingerprint, clientFingerprint, serverPassphrase: '' };
    const access = gpgAccessLines({ home: GPG_SYSTEM_HOME, ...keys, serverPassphrase: '(the passphrase of that key; or GPG_ALLOW_NO_PW Y if it has none)' });
    return {
      rcStanza: gpgClientStanza({ spaServer: o.hostName, sshPort: o.port, hmac: o.keys.hmac }, keys, o.alias),
      spaAccess: ['SOURCE                  ANY', `OPEN_PORTS              tcp/${o.port}`, ...access, `HMAC_KEY_BASE64         ${o.keys.hmac.toString('base64')}`, ''].join('\n'),
      clientPublicKey: await exportPublicKey(home, clientFingerprint),
      clientFingerprint,
      serverFingerprint,
    };
  } finally {
    await stopAgent(home);
  }
}
