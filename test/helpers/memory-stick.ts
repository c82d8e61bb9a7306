// In-memory stand-ins for the stick's files and its lock, so callhome's flow runs in unit tests
// without spawning flock(1) or fsyncing: what they cost depends on the machine, and a unit test
// must not (the real ones are tested in test/cli/lock.test.ts and the lab).

import type { StickFiles } from '../../src/core/door/index.js';
import type { Lock, LockOptions } from '../../src/core/lock.js';

export class MemoryFiles implements StickFiles {
  readonly texts = new Map<string, string>();
  /** Set to make every write fail, as on a stick that became read-only. */
  failWrites = false;
  writes = 0;
  /** Temp files "left by killed runs", by directory: removeStaleTemps hands them back once. */
  readonly staleTemps = new Map<string, string[]>();

  async read(path: string): Promise<string | null> {
    return this.texts.get(path) ?? null;
  }

  async refuseLinks(): Promise<void> {
    // In memory there are no links to plant.
  }

  async write(path: string, text: string): Promise<void> {
    if (this.failWrites) throw new Error(`cannot write ${path}: read-only file system`);
    this.writes++;
    this.texts.set(path, text);
  }

  async removeStaleTemps(dir: string): Promise<string[]> {
    const found = this.staleTemps.get(dir) ?? [];
    this.staleTemps.delete(dir);
    return found;
  }
}

/** A lock that records who held it and fails the test if two runs ever held it at once. */
export class MemoryLock {
  held = false;
  acquired: string[][] = [];
  lock = async (dirs: readonly string[], _options: LockOptions): Promise<Lock> => {
    if (this.held) throw new Error('the stick lock was taken twice at once');
    this.held = true;
    this.acquired.push([...dirs]);
    return {
      release: async () => {
        this.held = false;
      },
    };
  };
}
