// `spa decode` for a GnuPG packet: say what it is without any key (the session-key packet names the
// recipient's key ID), check the HMAC when a key is given, and with a keyring holding the server's
// secret key decrypt it, check the digest and show the fields and who signed it, the way fwknopd
// would judge them (a good signature by a key that is at least marginally valid in that keyring).

import { KnockstickError } from '../core/errors.js';
import { formatFields } from './client.js';
import { algorithmName, openGpgWire } from './gpg-packet.js';
import { base64NoPad, type HashType } from './cipher.js';
import { gpgDecrypt } from './gpg.js';
import { parsePlaintext, SpaDecodeError } from './packet.js';

export interface GpgDecodeOptions {
  /** The HMAC key from the rc stanza, if one was given, and its HMAC_DIGEST_TYPE. */
  readonly hmac?: Buffer | undefined;
  readonly hmacType?: HashType | undefined;
  /** A keyring with the server's secret key (the agent or pinentry supplies its passphrase). */
  readonly homedir?: string | undefined;
  readonly exe?: string | undefined;
}

/** Decodes (or describes) a GnuPG packet; the text to print. Throws KnockstickError INVALID_FILE when it does not check out. */
export async function decodeGpgSpa(wire: string, o: GpgDecodeOptions, nowMs: number): Promise<string> {
  let opened;
  try {
    opened = openGpgWire(wire, o.hmac, o.hmacType);
  } catch (error) {
    if (error instanceof SpaDecodeError) throw new KnockstickError('INVALID_FILE', `GnuPG SPA packet: ${error.message}`);
    throw error;
  }
  const what =
    `a GnuPG SPA packet (fwknop --gpg-recip), encrypted to key ID ${opened.recipientKeyId ?? '?'} (${algorithmName(opened.algorithm)}); HMAC ${opened.hmacChecked ? 'checked: good' : opened.hmacPresent ? 'present, not checked (no HMAC key given)' : 'none'}` +
    (opened.fwknopdReadable ? '' : `; made by fwknop itself for a Curve25519 key: fwknopd 2.6 cannot read it (it puts back "hQ" where fwknop dropped "${base64Head(opened.message)}"), knockstick spa send makes ones it reads`);
  if (o.homedir === undefined) {
    throw new KnockstickError('INVALID_FILE', `${what}. Decrypting it needs that key's secret part`, {
      hint: `give the server's keyring: --gpg-home-dir DIR (e.g. /etc/fwknop/gnupg); find the key with gpg --list-secret-keys ${opened.recipientKeyId ?? ''}`.trim(),
    });
  }
  const result = await gpgDecrypt(opened.message, { homedir: o.homedir, exe: o.exe });
  let fields;
  try {
    // parsePlaintext tells the digest type by its length, as fwknopd does.
    fields = parsePlaintext(result.plaintext.trim());
  } catch (error) {
    if (error instanceof SpaDecodeError) throw new KnockstickError('INVALID_FILE', `${what}; it decrypts, but ${error.message}`);
    throw error;
  }
  const signer = result.signerPrimaryFingerprint;
  const verdict =
    result.unknownSigner !== undefined
      ? `signed by key ID ${result.unknownSigner}, which is not in ${o.homedir}: fwknopd refuses it until that public key is imported and certified`
      : result.badSignature || signer === undefined
      ? 'no good signature: fwknopd refuses it (GPG_REQUIRE_SIG Y)'
      : `signed by ${signer} (fwknopd's GPG_REMOTE_ID: ${signer.slice(-8)})${result.trusted ? '' : `; that key is not certified in ${o.homedir}: fwknopd refuses it until it is (gpg --quick-lsign-key ${signer})`}`;
  return `valid ${what}\n  ${'Signature'.padEnd(15)}${verdict}\n${formatFields(fields, nowMs)}`;
}

function base64Head(message: Buffer): string {
  return base64NoPad(message.subarray(0, 3)).slice(0, 2);
}
