// `usbsetup --into DIR` stopped half-way (Ctrl-C, SIGTERM, a failing step) must not leave half a
// stick: usbsetup never replaces a key, so a half-written one would make every rerun refuse. Before
// writing, we note which of the paths usbsetup creates are absent; the undo removes exactly those
// (never following a link: unlink and rmdir act on the name), plus our own temp files.

import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SPA_RC_NAME } from '../core/stick.js';
import { STICK_CONFIG_NAME } from '../core/config.js';
import { sequencesFileFor, stickLayout } from '../core/stick.js';
import { BUNDLE_PATH, CONNECT_BUNDLE_PATH, EXECUTABLE_NAME, KEY_NAME } from './content.js';

/** The files, then the directories, usbsetup may create under `root`. Pure. */
export function stickPaths(root: string, alias: string): { files: string[]; dirs: string[] } {
  const layout = stickLayout(root);
  const key = join(layout.sshDir, KEY_NAME);
  return {
    files: [
      key,
      `${key}.pub`,
      layout.sshConfig,
      layout.knownHosts,
      sequencesFileFor(layout, alias),
      join(layout.sshDir, SPA_RC_NAME),
      join(layout.sshDir, STICK_CONFIG_NAME),
      join(root, BUNDLE_PATH),
      join(root, CONNECT_BUNDLE_PATH),
      join(root, '.knockstick', EXECUTABLE_NAME),
      join(root, 'callhome'),
      join(root, 'knockstick'),
    ],
    dirs: [layout.sshDir, join(root, '.knockstick')],
  };
}

const exists = async (path: string): Promise<boolean> => (await lstat(path).catch(() => null)) !== null;

/** Notes what is absent now; the returned undo removes what appeared of it since. */
export async function partialStickUndo(root: string, alias: string): Promise<() => Promise<void>> {
  const { files, dirs } = stickPaths(root, alias);
  const newFiles = (await Promise.all(files.map(async (f) => ((await exists(f)) ? undefined : f)))).filter((f): f is string => f !== undefined);
  const newDirs = (await Promise.all(dirs.map(async (d) => ((await exists(d)) ? undefined : d)))).filter((d): d is string => d !== undefined);
  // writeAtomically's temp files of this process: ".NAME.PID.HEX.tmp".
  const ours = new RegExp(`^\\..+\\.${process.pid}\\.[0-9a-f]+\\.tmp$`);
  return async () => {
    for (const dir of [root, ...dirs]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) if (ours.test(name)) await unlink(join(dir, name)).catch(() => undefined);
    }
    for (const file of newFiles) await unlink(file).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    // Only if empty: anything else in them is not ours to remove.
    for (const dir of newDirs) await rmdir(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  };
}
