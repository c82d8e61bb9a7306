// What to tell a user whose stick runs low on sequences: the refill that can still work from where
// they are. Pure.
//
// A refill from afar (`seqgen 50 --remote`) gets in with callhome, which spends one sequence, and
// callhome never knocks the last one (knockd 0.8 crashes when it consumes its last): it works while
// at least two are left. Below that, only a refill at the server, with the stick mounted, works.

import { DEFAULT_HOST } from './stick.js';

/** Unused sequences a refill from afar needs: one to get in, one that stays unused. */
export const REMOTE_REFILL_MIN = 2;

/** For display: a word quoted the way a user would type it. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The advice for `remaining` unused sequences on the stick for `alias`, with the exact command.
 * `stickRoot`: where the stick is mounted now (named in the command, so it can be pasted).
 */
export function refillAdvice(remaining: number, alias: string, stickRoot: string): string {
  const other = alias !== DEFAULT_HOST;
  // Another alias has its own knockd file, whose path only its server knows.
  const serverFile = other ? ' --server-file FILE' : '';
  if (remaining >= REMOTE_REFILL_MIN) {
    return (
      `refill from here while you can: \`seqgen 50 --remote${other ? ` ${alias}` : ''}${serverFile} --stick ${shellWord(stickRoot)}\` ` +
      `(it spends one sequence to get in, so it works while at least ${REMOTE_REFILL_MIN} are left), ` +
      `or at the server with the stick mounted: \`seqgen 50${other ? ` --host ${alias}` : ''}${serverFile} --stick DIR\``
    );
  }
  return (
    'a refill from afar is no longer possible (`seqgen 50 --remote` spends one sequence to get in, and callhome never knocks the last one): ' +
    `refill at the server, with the stick mounted: \`seqgen 50${other ? ` --host ${alias}` : ''}${serverFile} --stick DIR\``
  );
}
