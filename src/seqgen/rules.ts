// The checks every way of adding sequences shares (local seqgen, seqgen --remote): the two files
// must be in step (or in healable drift), and new lines keep the length already in use.

import { KnockstickError, usageError } from '../core/errors.js';
import { DEFAULT_LENGTH } from '../core/generate.js';
import { describeLockstep, isWritable, type Lockstep } from '../core/lockstep.js';
import { unusedLength, type SequenceFile } from '../core/sequences.js';

export function refuseUnlessWritable(lockstep: Lockstep, server: SequenceFile, stick: SequenceFile): void {
  if (!isWritable(lockstep)) {
    throw new KnockstickError('OUT_OF_STEP', describeLockstep(lockstep, server, stick), {
      hint: lockstep.state === 'tail-missing' ? 'run `seqgen repair`; nothing was written' : 'compare the two files; nothing was written',
    });
  }
}

/** --length if given, else the length of the unused lines, else the default; never a second length. */
export function chooseLength(length: number | undefined, server: SequenceFile, stick: SequenceFile): number {
  const existing = unusedLength(server) ?? unusedLength(stick);
  if (length !== undefined && existing !== undefined && length !== existing) {
    throw usageError(
      `--length ${length} differs from the ${existing}-port sequences already unused in the files; ` +
        'knockd mixes up its per-address state when sequences of one file differ in length',
      'omit --length, or let the current sequences run out first; nothing was written',
    );
  }
  return length ?? existing ?? DEFAULT_LENGTH;
}

export function withFinalNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

/** Said when knockd's one-time file is a symlink and --follow-symlink was not given. */
export function serverSymlinkHint(flag = '--follow-symlink'): string {
  return `knockd follows this link when it reads its one-time file; if you made the link yourself, pass ${flag} to append through it`;
}
