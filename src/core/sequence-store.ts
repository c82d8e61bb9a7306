// Reading the server's and the stick's sequence files together, validated, with their lockstep.

import { InvalidFileError, type FileProblem } from './errors.js';
import { fileMode, readTextIfExists } from './files.js';
import { lockstepOf, type Lockstep } from './lockstep.js';
import { parseSequenceFile, type FileRole, type SequenceFile } from './sequences.js';

export interface LoadedSequenceFile {
  readonly file: SequenceFile;
  /** Exact bytes as read (empty string when missing), so a rewrite can be checked against them. */
  readonly text: string;
  readonly exists: boolean;
  /** Permission bits, undefined when missing. */
  readonly mode: number | undefined;
}

export interface LoadedPair {
  readonly server: LoadedSequenceFile;
  readonly stick: LoadedSequenceFile;
  readonly lockstep: Lockstep;
}

const FIX_HINT =
  'fix the named lines by hand (or restore the file from the other copy); nothing was written';

async function readOne(path: string, role: FileRole): Promise<{ loaded: LoadedSequenceFile; problems: readonly FileProblem[] }> {
  const text = await readTextIfExists(path);
  const { file, problems } = parseSequenceFile(text ?? '', path, role);
  const mode = text === null ? undefined : await fileMode(path);
  return { loaded: { file, text: text ?? '', exists: text !== null, mode }, problems };
}

/** Reads and validates one file; a missing file reads as empty. Throws InvalidFileError. */
export async function loadSequenceFile(path: string, role: FileRole): Promise<LoadedSequenceFile> {
  const { loaded, problems } = await readOne(path, role);
  if (problems.length > 0) throw new InvalidFileError(problems, FIX_HINT);
  return loaded;
}

/**
 * Reads and validates both files entirely (every problem of both is reported at once) and compares
 * their unused sequences.
 */
export async function loadPair(serverPath: string, stickPath: string): Promise<LoadedPair> {
  const [server, stick] = await Promise.all([readOne(serverPath, 'server'), readOne(stickPath, 'stick')]);
  const problems = [...server.problems, ...stick.problems];
  if (problems.length > 0) throw new InvalidFileError(problems, FIX_HINT);
  return { server: server.loaded, stick: stick.loaded, lockstep: lockstepOf(server.loaded.file, stick.loaded.file) };
}

/** True when group or others may read or write the file. */
export function isLoose(mode: number | undefined): boolean {
  return mode !== undefined && (mode & 0o077) !== 0;
}
