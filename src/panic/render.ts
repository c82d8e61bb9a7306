// The panic script and the knockd panic stanza, rendered from templates/. Pure.

import { usageError } from '../core/errors.js';
import { panicCommand, type FirewallKind, type FwknopdPanic } from '../core/firewall.js';
import { attemptPackets } from '../core/knock.js';
import { formatSequence, type Sequence } from '../core/sequences.js';
import { shellCommand, shellQuote } from '../core/shell.js';
import { knockdValue, render } from '../core/templates.js';

export function requireTcp(sequence: Sequence): void {
  if (sequence.some((k) => k.protocol !== 'tcp')) {
    throw usageError('the panic sequence must be TCP only: the panic script sends SYNs with whatever the shell account has');
  }
  if (sequence.length < 3) throw usageError('the panic sequence needs at least 3 ports, so that a port scan cannot trip it');
}

/**
 * The standalone `panic` script. Every value is single-quoted for sh, whatever it contains: the
 * host comes from the user, and a quote, "$(...)" or a newline in it must stay data.
 */
export function renderPanicScript(template: string, host: string, sequence: Sequence): string {
  requireTcp(sequence);
  const { clearing, sequence: knocks } = attemptPackets(sequence);
  const words = [...clearing, ...knocks].map((k) => String(k.port));
  // `knocks` arrives already quoted word by word (a list, not one string); everything else is quoted here.
  return render(template, { host, knocks: shellCommand(words), length: String(knocks.length) }, (value, name) =>
    name === 'knocks' ? value : shellQuote(value),
  );
}

/**
 * `alsoFlush`: more doors to close (router mode's forwarding doors); `doorsFlush`: how the doors
 * are closed, when not today's way (server init recognising a knockd.conf of an older version);
 * `fwknopd`: fwknopd runs on this server too (or alone, knockd only listening for the panic knock).
 */
export function renderPanicStanza(template: string, sequence: Sequence, firewall: FirewallKind, pidfile: string, alsoFlush = '', doorsFlush?: string, fwknopd?: FwknopdPanic): string {
  requireTcp(sequence);
  return render(template, { sequence: formatSequence(sequence), command: panicCommand(firewall, pidfile, alsoFlush, doorsFlush, fwknopd) }, knockdValue);
}
