// knockd's own log (knockd.conf [options] logfile), read for who opened which door when. Pure.
// knockd 0.8 writes "[YYYY-MM-DD HH:MM] ADDR: DOOR: OPEN SESAME" when a sequence completes, with
// the local time to the minute: a door opening is known to the minute, no finer.

export interface DoorOpening {
  readonly door: string;
  readonly address: string;
  /** Local time of the log line, to the minute (ms since the epoch). */
  readonly at: number;
}

const OPENING = /^\[(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})\] ([0-9A-Fa-f.:]+): (\S+): OPEN SESAME\s*$/;

export function parseDoorOpenings(text: string): DoorOpening[] {
  const out: DoorOpening[] = [];
  for (const line of text.split('\n')) {
    const m = OPENING.exec(line);
    if (m === null) continue;
    const [, y, mo, d, h, mi, address, door] = m as unknown as string[];
    out.push({ door: door as string, address: address as string, at: new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi)).getTime() });
  }
  return out;
}

/** The last opening of each door. */
export function lastOpenings(openings: readonly DoorOpening[]): Map<string, DoorOpening> {
  const last = new Map<string, DoorOpening>();
  for (const o of openings) last.set(o.door, o);
  return last;
}

/**
 * The addresses whose door `door` may still be open at `now`: opened within `seconds` (cmd_timeout)
 * plus one minute, since the log's clock has minutes only.
 */
export function possiblyOpen(openings: readonly DoorOpening[], door: string, now: number, seconds: number): string[] {
  const since = now - (seconds + 60) * 1000;
  return [...new Set(openings.filter((o) => o.door === door && o.at >= since).map((o) => o.address))];
}
