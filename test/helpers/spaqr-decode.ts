// Reads back what `spa qr` shows, with a real decoder: zbar's zbarimg (Debian zbar-tools). The
// terminal text is turned back into pixels first (each half block is two modules, each coloured
// pair of spaces one), the way a phone's camera sees the screen, and written as a PGM image.

import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Rows of modules (true = dark) drawn by the default (half block) style; every line must be black on white. */
export function blocksToModules(text: string): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of text.replace(/\n$/, '').split('\n')) {
    const m = /^\x1b\[47m\x1b\[30m(.*)\x1b\[0m$/u.exec(line);
    if (m === null) throw new Error(`line not drawn in black on white: ${JSON.stringify(line.slice(0, 40))}`);
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const ch of m[1] as string) {
      const pair = { ' ': [false, false], '▀': [true, false], '▄': [false, true], '█': [true, true] }[ch];
      if (pair === undefined) throw new Error(`unexpected character ${JSON.stringify(ch)}`);
      top.push(pair[0] as boolean);
      bottom.push(pair[1] as boolean);
    }
    rows.push(top, bottom);
  }
  return rows;
}

/** Rows of modules drawn by --ascii: each module is two spaces on a white (47) or black (40) background. */
export function asciiToModules(text: string): boolean[][] {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      const cells = [...line.matchAll(/\x1b\[(4[07])m {2}\x1b\[0m/g)];
      if (cells.map((c) => c[0]).join('') !== line) throw new Error(`unexpected text in line ${JSON.stringify(line.slice(0, 40))}`);
      return cells.map((c) => c[1] === '40');
    });
}

/** How many all-light rows and columns surround the dark modules (the quiet zone), the smallest side. */
export function quietZone(modules: readonly (readonly boolean[])[]): number {
  const darkRows = modules.map((r, i) => (r.includes(true) ? i : -1)).filter((i) => i >= 0);
  const width = Math.max(...modules.map((r) => r.length));
  const darkCols = [...Array(width).keys()].filter((x) => modules.some((r) => r[x] === true));
  const below = modules.length - 1 - Math.max(...darkRows);
  const right = width - 1 - Math.max(...darkCols);
  return Math.min(Math.min(...darkRows), below, Math.min(...darkCols), right);
}

/** Writes the modules as a greyscale PGM, `scale` pixels a module. */
export async function writeModulesImage(modules: readonly (readonly boolean[])[], path: string, scale = 4): Promise<string> {
  const width = Math.max(...modules.map((r) => r.length)) * scale;
  const height = modules.length * scale;
  const pixels = Buffer.alloc(width * height, 255);
  modules.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) pixels.fill(0, (y * scale + dy) * width + x * scale, (y * scale + dy) * width + (x + 1) * scale);
    }),
  );
  await writeFile(path, Buffer.concat([Buffer.from(`P5\n${width} ${height}\n255\n`), pixels]), { mode: 0o600 });
  return path;
}

/** The text zbarimg decodes from an image file (exactly one QR code expected). */
export async function zbarDecode(image: string): Promise<string> {
  const result = await execa('zbarimg', ['--nodbus', '--quiet', '--raw', '-Sdisable', '-Sqrcode.enable', image], { reject: false });
  if (result.exitCode !== 0) throw new Error(`zbarimg found no QR code in ${image} (exit ${result.exitCode}): ${result.stderr}`);
  return result.stdout.replace(/\n$/, '');
}

/** Terminal text of either style -> image -> zbarimg. */
export async function decodeTerminal(text: string, dir: string, style: 'blocks' | 'ascii' = 'blocks'): Promise<string> {
  const modules = style === 'blocks' ? blocksToModules(text) : asciiToModules(text);
  return zbarDecode(await writeModulesImage(modules, join(dir, `screen-${style}-${process.pid}-${Math.random().toString(36).slice(2)}.pgm`)));
}
