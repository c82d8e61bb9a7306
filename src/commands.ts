// The commands knockstick knows, each loaded only when it runs. Its own module, so that the stick's
// proxy bundle (scripts/bundle.mjs: .knockstick/connect.mjs, ssh's ProxyCommand) can replace it with
// connect alone and leave the rest of the CLI out of the file node has to compile on every connection.

import type { Command } from './core/command.js';

/**
 * The commands, each loaded only when it runs: callhome is run every time the user wants in, and
 * loading the wizard, doctor and panic modules it never uses cost it about a tenth of a second.
 */
export interface CommandEntry {
  readonly name: string;
  /** One line for `knockstick --help`. */
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'callhome', summary: "knock the next sequence, check that SSH opened, connect with the stick's ssh config", load: async () => (await import('./callhome/index.js')).callhomeCommand },
  { name: 'connect', summary: "ssh's ProxyCommand: open the door like callhome, then relay through the connection that found it open", load: async () => (await import('./connect/index.js')).connectCommand },
  { name: 'doctor', summary: 'check the server (knockd, sequence files, firewall, sshd) and the stick, and say how to fix each problem', load: async () => (await import('./doctor/index.js')).doctorCommand },
  { name: 'seqgen', summary: 'add one-time knock sequences to the server file and the stick, in lockstep', load: async () => (await import('./seqgen/index.js')).seqgenCommand },
  { name: 'panic', summary: 'write, send or rotate the panic knock that stops knockd and closes every door', load: async () => (await import('./panic/index.js')).panicCommand },
  { name: 'stick', summary: 'several sticks on one server: add a stick with a door of its own, list them, revoke one', load: async () => (await import('./members/index.js')).stickCommand },
  { name: 'server', summary: 'server init: knockd, firewall, sshd and systemd configs from templates, and the first sequences', load: async () => (await import('./server/index.js')).serverCommand },
  { name: 'spa', summary: 'fwknop-compatible single packet authorization: send a packet, make keys, check a packet', load: async () => (await import('./spa/index.js')).spaCommand },
  { name: 'usbsetup', summary: 'prepare an encrypted (LUKS) stick with a key, an ssh config, sequences and the callhome launcher', load: async () => (await import('./usbsetup/index.js')).usbsetupCommand },
  { name: 'secureon', summary: "open and mount the stick's encrypted volume", load: async () => (await import('./usbsetup/secure.js')).secureonCommand },
  { name: 'secureoff', summary: "unmount and close the stick's encrypted volume", load: async () => (await import('./usbsetup/secure.js')).secureoffCommand },
];
