import { DOOR_DEFAULTS } from '../core/door/options.js';

export function connectHelp(cmd: string): string {
  return `Usage:
  ${cmd} [options] ALIAS [HOST PORT]

ssh's ProxyCommand: opens the door for ALIAS exactly as callhome does (the stick, its lock, the
next one-time sequence or an SPA packet, retries and resync, the sequence marked used on the
stick), then relays ssh's connection through the very connection that found the door open. On a
single-use door that is the only connection that gets in; on any door it saves ssh a second
handshake. The stick's ssh config carries it in each Host entry:

  ProxyCommand '/media/you/stick/knockstick' connect %n %h %p

so that ssh, scp, sftp, rsync -e 'ssh -F ...' and git (GIT_SSH_COMMAND) all knock for
themselves, from any directory. ALIAS is the alias as typed (%n); HOST and PORT are where ssh
resolved it to (%h %p: they win over the stick config's HostName and Port).

The stick is --stick DIR, else the directory of the stick's launcher that started us, else
$KNOCKSTICK_STICK, else the current directory. The door policy comes from door_policy in the
stick's .ssh/knockstick.conf (global or under [ALIAS]): "single-use" (never tries to reuse a door:
it admitted its one connection) or "window" (the default, for servers without single-use doors:
a door this stick opened less than --door-window seconds ago is checked first, and that check's
connection is the one relayed). callhome runs ssh with this ProxyCommand itself and passes its
own options in $KNOCKSTICK_CONNECT.

Errors go to stderr as "${cmd}: ...". Progress lines only when stderr is a terminal; a plain
ssh with its stderr elsewhere (scp in a script, git) hears only warnings and errors.

Options:
  --stick DIR            the mounted stick (the directory that holds the stick's .ssh/config)
  --method knock|spa     how to open the door (default: the stick's knockstick.conf, else knock)
  -v, --verbose          show each attempt and probe (ports only with --show-secrets)
  --show-secrets         with --verbose: print the knock ports too
  -6, --ipv6             knock and connect over IPv6 (an address in HOST decides by itself)
  --attempts N           attempts in all, retries and resync included (default ${DOOR_DEFAULTS.attempts})
  --door-timeout MS      how long to wait for the door after each attempt (default ${DOOR_DEFAULTS.doorTimeoutMs})
  --gap MS               pause between the knocks of a sequence (default ${DOOR_DEFAULTS.gapMs})
  --probe-interval MS    how often to try the port while waiting (default ${DOOR_DEFAULTS.probeIntervalMs})
  --door-window SECONDS  a window door this stick opened this recently may still be open (default ${DOOR_DEFAULTS.doorWindowSeconds})
  --wait SECONDS         how long to wait for another callhome or seqgen (default ${DOOR_DEFAULTS.lockWaitSeconds})
  -h, --help             this help
  -V, --version          print knockstick's version

Examples:
  ssh -F /media/you/stick/.ssh/config home
  scp -F /media/you/stick/.ssh/config notes.txt home:
  ssh -o ProxyCommand="'/media/you/stick/knockstick' connect %n %h %p" -F /media/you/stick/.ssh/config home

Exit codes (ssh reports any failure of its ProxyCommand as its own 255; callhome passes ours on):
  0  the connection was relayed to its end
  2  bad command line
  3  the stick's sequence file, ssh config or fwknoprc is invalid (file and line named)
  5  another callhome or seqgen is using the stick
  6  a file could not be read or written (stick not mounted?)
  7  the door did not open after every attempt (the message says what was tried)
  8  no sequence may be knocked: none left, or only the last one
  1  unexpected error
`;
}
