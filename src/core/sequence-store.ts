// Reading the server's and the stick's sequence files together, validated, with their lockstep.

import { InvalidFileError, type FileProblem } from './errors.js';
import { fileMode, readTextIfExists } from './files.js';
import { lockstepOf, type Lockstep } from './lockstep.js';
import { parseSequenceFile, type FileRole, type SequenceFile } from './sequences.js';
import { planTornRepair, splitTornLine, type TornLine, type TornRepair } from './torn.js';

export interface LoadedSequenceFile {
  readonly file: SequenceFile;
  /** Exact bytes as read (empty string when missing), so a rewrite can be checked against them. */
  readonly text: string;
  readonly exists: boolean;
  /** Permission bits, undefined when missing. */
  readonly mode: number | undefined;
  /**
   * Server file only: its last line, torn by an interrupted append (see torn.ts), and what appending
   * heals it. `file` then describes the complete lines only; `text` is still every byte as read.
   */
  readonly torn?: { readonly line: TornLine; readonly repair: TornRepair };
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

/** Validates one file's text (null: missing, read as empty). Throws InvalidFileError. Mode left unknown. */
export function parseLoadedFile(text: string | null, path: string, role: FileRole): LoadedSequenceFile {
  const { file, problems } = parseSequenceFile(text ?? '', path, role);
  if (problems.length > 0) throw new InvalidFileError(problems, FIX_HINT);
  return { file, text: text ?? '', exists: text !== null, mode: undefined };
}

/** Reads and validates one file; a missing file reads as empty. Throws InvalidFileError. */
export async function loadSequenceFile(path: string, role: FileRole): Promise<LoadedSequenceFile> {
  const { loaded, problems } = await readOne(path, role);
  if (problems.length > 0) throw new InvalidFileError(problems, FIX_HINT);
  return loaded;
}

/**
 * Reads and validates both files entirely (every problem of both is reported at once) and compares
 * their unused sequences. A server file whose last line lacks its "\n" is judged against the stick:
 * if that line is whole (the stick's line at that place, only the "\n" missing) it is read as any
 * other line; otherwise it is torn, set apart in `server.torn`, and the rest is validated without it.
 */
export async function loadPair(serverPath: string, stickPath: string): Promise<LoadedPair> {
  const [serverText, stickText] = await Promise.all([readTextIfExists(serverPath), readTextIfExists(stickPath)]);
  const stickParsed = parseSequenceFile(stickText ?? '', stickPath, 'stick');
  let serverParsed = parseSequenceFile(serverText ?? '', serverPath, 'server');
  let torn: LoadedSequenceFile['torn'];
  const split = splitTornLine(serverText ?? '');
  if (split.torn !== null) {
    const complete = parseSequenceFile(split.complete, serverPath, 'server');
    const repair = planTornRepair(split.torn, complete.file, stickParsed.file);
    if (!(repair.kind === 'complete' && repair.append === '\n')) {
      serverParsed = complete;
      torn = { line: split.torn, repair };
    }
  }
  const problems = [...serverParsed.problems, ...stickParsed.problems];
  if (problems.length > 0) throw new InvalidFileError(problems, FIX_HINT);
  const [serverMode, stickMode] = await Promise.all([
    serverText === null ? undefined : fileMode(serverPath),
    stickText === null ? undefined : fileMode(stickPath),
  ]);
  const server: LoadedSequenceFile = { file: serverParsed.file, text: serverText ?? '', exists: serverText !== null, mode: serverMode, ...(torn ? { torn } : {}) };
  const stick: LoadedSequenceFile = { file: stickParsed.file, text: stickText ?? '', exists: stickText !== null, mode: stickMode };
  return { server, stick, lockstep: lockstepOf(server.file, stick.file) };
}

/** True when group or others may read or write the file. */
export function isLoose(mode: number | undefined): boolean {
  return mode !== undefined && (mode & 0o077) !== 0;
}
