// Relocation: the stick's ssh config names absolute paths (stick-ssh-config.ts), written where the
// stick was prepared (usbsetup's mount point, or --into DIR). Mounted somewhere else (secureon at
// another --mountpoint, a desktop's /media/USER/...), its knockstick-written path lines are
// rewritten to where it is now, atomically, everything else byte for byte. secureon does this after
// mounting; callhome/connect can do it at start (the launcher knows where the stick is).

import { KnockstickError } from './errors.js';
import { lstat } from 'node:fs/promises';
import { assertNotSymlink, readBytesIfExists, writeAtomically } from './files.js';
import { planRelocation, type PathChange } from './stick-ssh-config.js';
import type { StickLayout } from './stick.js';

export interface Relocation {
  /** The lines rewritten (empty: the config names this root already, or nothing of ours). */
  readonly changes: readonly PathChange[];
  /** Whether the file was written. */
  readonly written: boolean;
}

/**
 * Plans the relocation of the stick's ssh config to `layout.root`; with `write` (the default) also
 * applies it with one atomic replace, keeping the file's mode and owner (secureon runs as root on
 * the user's ext4 stick). A missing config plans nothing; a
 * symlink, FIFO or device there is refused (files.ts), a config that is not valid UTF-8 is refused
 * rather than rewritten (its bytes could not be kept), and on any failure the file is left as it was.
 */
export async function relocateStickConfig(layout: StickLayout, options: { write?: boolean } = {}): Promise<Relocation> {
  await assertNotSymlink(layout.sshConfig);
  const bytes = await readBytesIfExists(layout.sshConfig);
  if (bytes === null) return { changes: [], written: false };
  const text = bytes.toString('utf8');
  const plan = planRelocation(text, layout.root);
  if (plan.changes.length === 0 || options.write === false) return { changes: plan.changes, written: false };
  if (!Buffer.from(text, 'utf8').equals(bytes)) {
    throw new KnockstickError('INVALID_FILE', `${layout.sshConfig} is not valid UTF-8: its stale stick paths were not rewritten (the file is unchanged)`, {
      hint: `fix the file's encoding, then point its paths at ${layout.root}`,
    });
  }
  const before = await lstat(layout.sshConfig);
  // The mode only when it is not writeAtomically's 0600: fchmod is refused on some vfat mounts.
  const mode = before.mode & 0o777;
  await writeAtomically(layout.sshConfig, plan.text, { within: layout.root, ...(mode === 0o600 ? {} : { mode }), owner: { uid: before.uid, gid: before.gid } });
  return { changes: plan.changes, written: true };
}

/** One line per change, for secureon/callhome/doctor: "Host home: IdentityFile /old/... -> /new/...". */
export function describeRelocation(changes: readonly PathChange[]): string[] {
  return changes.map((c) => `Host ${c.host} (line ${c.line}): ${c.keyword} named the stick at ${c.oldRoot}, now ${c.to}`);
}
