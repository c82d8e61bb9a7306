// The computer's note about its stick, /etc/knockstick/stick.conf, written by usbsetup or
// `secureon --remember`, read by secureon and secureoff:
//
//   luks_uuid = 1b4e28ba-2fa1-11d2-883f-0016d3cca427   # which volume is the stick, as sda or sdb
//   name = knockstick                                   # /dev/mapper/NAME
//   mountpoint = /mnt/secure
//   owner = alice                                       # who gets the files (vfat/exfat uid=, gid=)
//
// secureon runs as root through sudo with fixed arguments, so this file decides what root opens and
// where it mounts it: it must be owned by root and writable by nobody else, or secureon refuses it.

import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { unusableCharacterProblems } from './characters.js';
import { InvalidFileError, KnockstickError, type FileProblem } from './errors.js';
import { readTextIfExists, writeAtomically } from './files.js';
import { describeChar } from './names.js';

export const HOST_CONFIG_PATH = '/etc/knockstick/stick.conf';
export const DEFAULT_MAPPER_NAME = 'knockstick';
export const DEFAULT_MOUNTPOINT = '/mnt/secure';

export interface HostConfig {
  readonly luksUuid?: string;
  readonly name: string;
  readonly mountpoint: string;
  readonly owner?: string;
}

const KEYS = ['luks_uuid', 'name', 'mountpoint', 'owner'] as const;
type Key = (typeof KEYS)[number];

const VALID: Record<Key, { test: (v: string) => boolean; what: string }> = {
  luks_uuid: { test: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v), what: 'a LUKS UUID (cryptsetup luksUUID DEVICE)' },
  name: { test: isValidMapperName, what: 'a device-mapper name (letters, digits, _ . -)' },
  // Only what /etc/fstab and the sudo rule can carry unescaped: the mountpoint is written into
  // both (secureon --print-host-setup), and "$", "#", a backtick or a blank there would be read as
  // something else (or crash the rendering).
  mountpoint: { test: (v) => v.startsWith('/') && v !== '/' && !v.split('/').includes('..') && SAFE_PATH_CHARS.test(v), what: 'an absolute path of letters, digits and _ . / : , = - (no "..")' },
  owner: { test: (v) => /^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(v) || /^\d+$/.test(v), what: 'a user name or uid' },
};

export function isValidMapperName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name);
}

/** The characters a value may have to appear unescaped in fstab, sudoers and udev rules. */
export const SAFE_PATH_CHARS = /^[A-Za-z0-9_./:,=-]*$/;

export function validateHostValue(key: Key, value: string): string | undefined {
  if (VALID[key].test(value)) return undefined;
  const bad = key === 'mountpoint' ? [...value].find((c) => !SAFE_PATH_CHARS.test(c)) : undefined;
  return `${key} must be ${VALID[key].what}, got ${JSON.stringify(value)}${bad === undefined ? '' : ` (it has ${describeChar(bad)})`}`;
}

export function parseHostConfig(text: string, path: string): { config: HostConfig; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const values = new Map<Key, string>();
  // Root mounts and renders sudoers and fstab lines from these values: a line with a control
  // character or an invisible space is refused whole.
  const unusable = new Set<number>();
  for (const p of unusableCharacterProblems(text, path, 'secureon')) {
    problems.push(p);
    unusable.add(p.line);
  }
  text.split('\n').forEach((full, index) => {
    const line = index + 1;
    const trimmed = full.replace(/\r$/, '').trim();
    if (trimmed === '' || trimmed.startsWith('#') || unusable.has(line)) return;
    const eq = trimmed.indexOf('=');
    const key = trimmed.slice(0, Math.max(eq, 0)).trim().toLowerCase() as Key;
    const value = trimmed.slice(eq + 1).trim();
    if (eq <= 0) return void problems.push({ file: path, line, message: 'expected "key = value"' });
    if (!KEYS.includes(key)) return void problems.push({ file: path, line, message: `unknown key ${JSON.stringify(key)} (known: ${KEYS.join(', ')})` });
    if (values.has(key)) return void problems.push({ file: path, line, message: `${key} is set twice` });
    const problem = validateHostValue(key, value);
    if (problem !== undefined) return void problems.push({ file: path, line, message: problem });
    values.set(key, value);
  });
  const luksUuid = values.get('luks_uuid')?.toLowerCase();
  const owner = values.get('owner');
  return {
    config: {
      ...(luksUuid === undefined ? {} : { luksUuid }),
      name: values.get('name') ?? DEFAULT_MAPPER_NAME,
      mountpoint: values.get('mountpoint') ?? DEFAULT_MOUNTPOINT,
      ...(owner === undefined ? {} : { owner }),
    },
    problems,
  };
}

export function formatHostConfig(config: HostConfig): string {
  return [
    '# The stick this computer opens with secureon. Written by knockstick usbsetup / secureon --remember.',
    '# Must stay owned by root and writable only by root: secureon runs as root and trusts it.',
    ...(config.luksUuid === undefined ? [] : [`luks_uuid = ${config.luksUuid}`]),
    `name = ${config.name}`,
    `mountpoint = ${config.mountpoint}`,
    ...(config.owner === undefined ? [] : [`owner = ${config.owner}`]),
    '',
  ].join('\n');
}

/** Reads the host config; a missing file gives the defaults. As root, refuses a file others could have written. */
export async function readHostConfig(path: string): Promise<HostConfig & { readonly exists: boolean }> {
  const text = await readTextIfExists(path);
  if (text === null) return { name: DEFAULT_MAPPER_NAME, mountpoint: DEFAULT_MOUNTPOINT, exists: false };
  if (process.geteuid?.() === 0) {
    const info = await stat(path);
    if (info.uid !== 0 || (info.mode & 0o022) !== 0) {
      throw new KnockstickError('USAGE', `${path} is ${info.uid !== 0 ? `owned by uid ${info.uid}` : 'writable by group or others'}: root will not trust it`, {
        hint: `chown root:root ${path} && chmod 644 ${path}`,
      });
    }
  }
  const { config, problems } = parseHostConfig(text, path);
  if (problems.length > 0) throw new InvalidFileError(problems, `fix ${path}`);
  return { ...config, exists: true };
}

export async function writeHostConfig(path: string, config: HostConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeAtomically(path, formatHostConfig(config));
}
