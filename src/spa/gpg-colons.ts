// gpg's machine-readable key listings (`--with-colons --fixed-list-mode`, doc/DETAILS in GnuPG) as
// data, and the judgements server init and doctor make on them: is a key there, revoked, expired,
// able to encrypt, certified. Pure: the listings are gathered by the callers with the real gpg.

export interface ColonSubkey {
  readonly fingerprint: string;
  /** Field 2: o/-/q unknown, n never, m marginal, f full, u ultimate, r revoked, e expired, i invalid, d disabled. */
  readonly validity: string;
  /** Unix seconds; undefined: never. */
  readonly expires?: number | undefined;
  /** Field 12 (lowercase letters for the key itself: e encrypt, s sign, c certify). */
  readonly capabilities: string;
  /** sec/ssb with field 15 "+" (or a card serial): the secret part is in the keyring; "#" is a stub. */
  readonly secret: boolean;
}

export interface ColonKey extends ColonSubkey {
  readonly userIds: readonly string[];
  readonly subkeys: readonly ColonSubkey[];
}

/** Parses pub/sec lines with their fpr, uid and sub/ssb lines. */
export function parseColonListing(text: string): ColonKey[] {
  const keys: Array<ColonKey & { userIds: string[]; subkeys: ColonSubkey[] }> = [];
  let current: { kind: 'primary' | 'sub'; fields: string[] } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const kind = f[0];
    if (kind === 'pub' || kind === 'sec' || kind === 'sub' || kind === 'ssb') {
      current = { kind: kind === 'pub' || kind === 'sec' ? 'primary' : 'sub', fields: f };
    } else if (kind === 'fpr' && current !== undefined) {
      const c = current.fields;
      const sub: ColonSubkey = {
        fingerprint: (f[9] ?? '').toUpperCase(),
        validity: c[1] ?? '',
        expires: c[6] ? Number(c[6]) : undefined,
        capabilities: c[11] ?? '',
        secret: (c[0] === 'sec' || c[0] === 'ssb') && (c[14] ?? '') !== '' && c[14] !== '#',
      };
      if (current.kind === 'primary') keys.push({ ...sub, userIds: [], subkeys: [] });
      else keys[keys.length - 1]?.subkeys.push(sub);
      current = undefined;
    } else if (kind === 'uid') {
      keys[keys.length - 1]?.userIds.push(f[9] ?? '');
    }
  }
  return keys;
}

/** Fingerprint, long or short key ID (of the key or a subkey, "0x" allowed), else a piece of a user ID, as gpg takes them. */
export function findKeys(keys: readonly ColonKey[], id: string): ColonKey[] {
  const hex = id.replace(/^0x/i, '').replace(/\s/g, '').toUpperCase();
  if (/^([0-9A-F]{8}|[0-9A-F]{16}|[0-9A-F]{40})$/.test(hex)) {
    return keys.filter((k) => [k, ...k.subkeys].some((s) => s.fingerprint.endsWith(hex)));
  }
  const want = id.toLowerCase();
  return keys.filter((k) => k.userIds.some((u) => u.toLowerCase().includes(want)));
}

/** Why a key (or subkey) cannot be used at `now` (unix seconds), or undefined. */
export function unusable(k: ColonSubkey, now: number): string | undefined {
  if (k.validity === 'r') return 'revoked';
  if (k.validity === 'e' || (k.expires !== undefined && k.expires <= now)) return `expired${k.expires === undefined ? '' : ` on ${new Date(k.expires * 1000).toISOString().slice(0, 10)}`}`;
  if (k.validity === 'i') return 'invalid';
  if (k.validity === 'd') return 'disabled';
  return undefined;
}

/** Whether the key has a usable encryption (sub)key, with its secret part when `secret`. */
export function canEncrypt(k: ColonKey, now: number, secret = false): boolean {
  return [k, ...k.subkeys].some((s) => /e/.test(s.capabilities) && unusable(s, now) === undefined && (!secret || s.secret));
}

/** fwknopd takes a signature only from a key that is at least marginally valid (certified) in its keyring. */
export function isCertified(k: ColonSubkey): boolean {
  return k.validity === 'm' || k.validity === 'f' || k.validity === 'u';
}

/**
 * What is wrong with `id` as the key that decrypts (server) or signs (client), or undefined.
 * `secret`: the listing is of secret keys, and the secret part must be there.
 */
export function keyProblem(keys: readonly ColonKey[], id: string, now: number, want: { encrypt?: boolean; secret?: boolean; certified?: boolean }): string | undefined {
  const found = findKeys(keys, id);
  if (found.length === 0) return `no ${want.secret === true ? 'secret ' : ''}key "${id}"`;
  if (found.length > 1) return `${found.length} keys match "${id}" (${found.map((k) => k.fingerprint).join(', ')}): name one by its fingerprint`;
  const k = found[0] as ColonKey;
  const why = unusable(k, now);
  if (why !== undefined) return `the key ${k.fingerprint} is ${why}`;
  if (want.secret === true && !k.secret) return `only a stub of the secret key ${k.fingerprint} is there (its secret part is elsewhere)`;
  if (want.encrypt === true && !canEncrypt(k, now, want.secret === true)) return `the key ${k.fingerprint} has no usable encryption subkey${want.secret === true ? ' with its secret part' : ''}`;
  if (want.certified === true && !isCertified(k)) return `the key ${k.fingerprint} is not certified in this keyring (validity "${k.validity}"): fwknopd refuses its signatures`;
  return undefined;
}
