// The QR code itself, made by the `qrcode` npm package (encoder and renderers; nothing hand-made
// here): error correction level Q and one byte-mode segment, as fwknop-gui makes them (qr-text.ts),
// and a quiet zone of 4 modules (the QR standard's) around every rendering, so a phone's scanner
// finds the code's edge on any screen.

import QRCode from 'qrcode';

export const QR_ERROR_CORRECTION = 'Q';
export const QUIET_ZONE_MODULES = 4;

/** Byte mode for the whole text: without it the library may switch to numeric runs for digits. */
export function qrSegments(text: string): QRCode.QRCodeSegment[] {
  return [{ data: Buffer.from(text, 'utf8'), mode: 'byte' }];
}

/** The symbol (for tests: its version, level and segments). */
export function qrSymbol(text: string): QRCode.QRCode {
  return QRCode.create(qrSegments(text), { errorCorrectionLevel: QR_ERROR_CORRECTION });
}

// Black on white whatever the terminal's theme: without colours a dark terminal would show the code
// inverted (light modules on dark), which the usual phone scanners do not read by default.
const BLACK_ON_WHITE = '\x1b[47m\x1b[30m';
const RESET = '\x1b[0m';

export type TerminalStyle = 'blocks' | 'ascii';

/**
 * The code as terminal text.
 * - blocks: the library's utf8 renderer (half blocks: one line of text per two rows of modules),
 *   each line in black on white.
 * - ascii: the library's terminal renderer (two spaces per module, coloured by ANSI backgrounds: no
 *   Unicode needed, and about square in most fonts); it draws a 1-module margin, widened here to 4.
 */
export async function renderTerminal(text: string, style: TerminalStyle): Promise<string> {
  const options = { errorCorrectionLevel: QR_ERROR_CORRECTION, margin: QUIET_ZONE_MODULES } as const;
  if (style === 'blocks') {
    const blocks = await QRCode.toString(qrSegments(text), { ...options, type: 'utf8' });
    return `${blocks.split('\n').map((line) => `${BLACK_ON_WHITE}${line}${RESET}`).join('\n')}\n`;
  }
  const drawn = (await QRCode.toString(qrSegments(text), { ...options, type: 'terminal' })).replace(/\n$/, '');
  const white = '\x1b[47m  \x1b[0m';
  const extra = white.repeat(QUIET_ZONE_MODULES - 1);
  const lines = drawn.split('\n').map((line) => `${extra}${line}${extra}`);
  const width = qrSymbol(text).modules.size + 2 * QUIET_ZONE_MODULES;
  const blank = Array.from({ length: QUIET_ZONE_MODULES - 1 }, () => white.repeat(width));
  return `${[...blank, ...lines, ...blank].join('\n')}\n`;
}

/** The code as a PNG image: 8 pixels a module, black on white, 4-module quiet zone. */
export async function renderPng(text: string): Promise<Buffer> {
  return QRCode.toBuffer(qrSegments(text), { type: 'png', errorCorrectionLevel: QR_ERROR_CORRECTION, margin: QUIET_ZONE_MODULES, scale: 8 });
}
