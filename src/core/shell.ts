// Quoting for the few places where a POSIX shell must read a value we pass: commands sent over
// ssh (the remote user's shell parses them) and lines knockd runs through /bin/sh -c.

/** Single-quotes a value so that sh reads it back byte for byte, whatever it contains. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A command line for a remote shell, every word quoted. */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}
