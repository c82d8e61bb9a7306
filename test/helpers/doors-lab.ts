// Lab helpers for the single-use door tests: knock the next sequence of a server file with the real
// `knock` client, see whether a door is in the firewall, and try one TCP connection from the client.

import { readFile } from 'node:fs/promises';
import { CLIENT_ADDR, SERVER_ADDR, runIn, waitFor, type Lab } from '../../src/lab/lab.js';

/** The first unused sequence of a server file (knockd marks used lines with "#"). */
export async function nextSequence(file: string): Promise<string[]> {
  const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith(' '));
  if (line === undefined) throw new Error(`${file} has no unused sequence left`);
  return line.trim().split(',');
}

/** Knocks the next sequence of `file` from the client namespace (one SYN per port, as callhome does). */
export async function knockNext(lab: Lab, file: string): Promise<void> {
  await lab.run(lab.clientNs, 'knock', [SERVER_ADDR, ...(await nextSequence(file))]);
}

/**
 * One TCP connection from the client namespace: "open:TEXT" (connected; TEXT is the first line the
 * server sent: sshd's banner, or the name of the lab listener), "refused" (RST), or "dropped" (no
 * answer within `ms`, as a DROP firewall gives).
 */
const CONNECT = `const [host, port, ms] = process.argv.slice(1);
const s = require('node:net').connect(Number(port), host);
let connected = false;
const done = (what) => { console.log(what); s.destroy(); process.exit(0); };
const t = setTimeout(() => done(connected ? 'open:' : 'dropped'), Number(ms));
s.on('connect', () => (connected = true));
s.on('data', (d) => { clearTimeout(t); done('open:' + String(d).split(/\\r?\\n/)[0]); });
s.on('error', (e) => { clearTimeout(t); done(e.code === 'ECONNREFUSED' ? 'refused' : 'dropped'); });`;

export async function connectOnce(lab: Lab, ms = 1500): Promise<string> {
  return (await lab.run(lab.clientNs, process.execPath, ['-e', CONNECT, SERVER_ADDR, '22', String(ms)])).trim();
}

/** Where a door of the lab lives: an nft set, or an xt_recent list. */
export type DoorPlace = { readonly kind: 'nft'; readonly family: 'inet' | 'ip'; readonly table: string; readonly set: string } | { readonly kind: 'recent'; readonly list: string };

/** Is the client's address in the door right now? (An xt_recent entry that timed out stays listed.) */
export async function inDoor(lab: Lab, place: DoorPlace): Promise<boolean> {
  if (place.kind === 'nft') return (await lab.run(lab.serverNs, 'nft', ['list', 'set', place.family, place.table, place.set])).includes(CLIENT_ADDR);
  const list = await runIn(lab.serverNs, 'cat', [`/proc/net/xt_recent/${place.list}`]);
  return list.stdout.includes(`src=${CLIENT_ADDR} `);
}

/** Empties a door (between tests), as panic does. */
export async function emptyDoor(lab: Lab, place: DoorPlace): Promise<void> {
  if (place.kind === 'nft') await lab.run(lab.serverNs, 'nft', ['flush', 'set', place.family, place.table, place.set]);
  else await lab.run(lab.serverNs, 'sh', ['-c', 'echo / > "$1"', 'sh', `/proc/net/xt_recent/${place.list}`]);
}

/** Waits (bounded) until knockd's start_command has put the client into the door. */
export async function waitForDoor(lab: Lab, place: DoorPlace): Promise<void> {
  if (!(await waitFor(() => inDoor(lab, place), 5000, 25))) throw new Error(`no door for ${CLIENT_ADDR} in ${JSON.stringify(place)} after the knock`);
}
