// Passphrases given for non-interactive use: read from a file or stdin, never from argv or the
// environment (both are visible to other users via /proc and ps).
// Unlike every other file we read (src/core/files.ts), a passphrase file may be a FIFO or a
// process substitution (`--key-passphrase-file <(pass show stick)`, i.e. /dev/fd/N): that keeps the
// secret off every disk, so it is read to its end, blocking until the writer closes it.

import { readFile } from 'node:fs/promises';
import { KnockstickError, ioError } from './errors.js';

/**
 * The passphrase in FILE ("-" for stdin). One trailing newline is dropped, so `echo pass > file`
 * gives the passphrase a user types at a prompt; anything else is kept byte for byte.
 */
export async function readPassphraseFile(file: string, what: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await readAll(stdin) : await readFile(file);
  } catch (error) {
    throw ioError(`read the ${what} from`, file, error);
  }
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) bytes = bytes.subarray(0, bytes.length - 1);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
  if (bytes.length === 0) throw new KnockstickError('USAGE', `the ${what} in ${file === '-' ? 'stdin' : file} is empty`);
  if (bytes.includes(0x0a)) throw new KnockstickError('USAGE', `the ${what} in ${file === '-' ? 'stdin' : file} spans several lines: it could never be typed at a prompt`);
  return bytes;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
