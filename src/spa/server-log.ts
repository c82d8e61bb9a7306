// spa send --server-cmd --server-log: what fwknopd answered. SPA gets no reply on the wire, so on the
// server itself (or wherever fwknopd's log can be read) the answer is in fwknopd's log: the lines it
// writes for the packet's address, from "SPA Packet from IP" to "CMD_EXEC: command returned N" (or
// the reason it refused). Reading is bounded: a few seconds, only what was appended after sending.

import { open, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { runAllowingFailure } from '../core/run.js';
import { KnockstickError, ioError } from '../core/errors.js';

/** The log to read: a file fwknopd's messages are appended to, or the journal (syslog identity fwknopd). */
export type ServerLog = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'journal' };

/** fwknopd's last word on a packet: the command's status, or why it went no further. */
const FINAL = /CMD_EXEC: command returned|SPA Command messages are not allowed|does not match required username|when valid source IP was required|was denied per access\.conf|Replay detected|Running CMD_CYCLE_OPEN|Added access rule/;

/** The lines of `text` about packets from `source` (fwknopd names the address in each), and the command filter's. Pure. */
export function answerLines(text: string, source: string): string[] {
  const mine = (line: string): boolean => line.includes(`[${source}]`) || line.includes(`from IP: ${source} `) || line.includes('knockstick: refused SPA command');
  return text.split('\n').filter((line) => line.trim() !== '' && mine(line));
}

/** Whether fwknopd is done with the packet by these lines. Pure. */
export function isFinal(lines: readonly string[]): boolean {
  return lines.some((line) => FINAL.test(line));
}

/** Whether `address` is one of this machine's (spa send run on the server itself). */
export function isLocalAddress(address: string): boolean {
  if (address.startsWith('127.')) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === address));
}

/** Where the log ends now, so that only what fwknopd writes about this packet is read. */
export async function logMark(log: ServerLog): Promise<number> {
  if (log.kind === 'journal') return Math.floor(Date.now() / 1000) - 1;
  try {
    return (await stat(log.path)).size;
  } catch (error) {
    throw ioError('read', log.path, error);
  }
}

async function readFrom(path: string, offset: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    // A log rotated meanwhile starts again at 0.
    const start = size < offset ? 0 : offset;
    const length = Math.min(size - start, 1 << 20);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, start);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

async function readJournal(since: number): Promise<string> {
  const result = await runAllowingFailure({ file: 'journalctl', args: ['-q', '--no-pager', '-o', 'cat', '-t', 'fwknopd', `--since=@${since}`], purpose: "read fwknopd's answer from the journal" });
  if (result.exitCode !== 0) throw new KnockstickError('IO', `journalctl could not read fwknopd's messages: ${String(result.stderr).trim()}`, { hint: 'run it as root, or give the log file: --server-log FILE' });
  return String(result.stdout);
}

/** fwknopd's lines about the packet from `source`, waiting up to `waitMs` for its last word. */
export async function fwknopdAnswer(log: ServerLog, mark: number, source: string, waitMs = 3000, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<string[]> {
  let lines: string[] = [];
  for (let waited = 0; waited <= waitMs; waited += 200) {
    lines = answerLines(log.kind === 'file' ? await readFrom(log.path, mark) : await readJournal(mark), source);
    if (isFinal(lines)) break;
    await sleep(200);
  }
  return lines;
}
