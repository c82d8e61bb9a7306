import { DEFAULTS } from './options.js';

export function callhomeHelp(cmd: string): string {
  return `Usage:
  ${cmd} [HOST] [options] [-- SSH_ARGS...]

Knocks the next one-time sequence from the stick at HOST's address, waits until the SSH port
opens, marks the sequence used on the stick, then runs
  ssh -F STICK/.ssh/config HOST SSH_ARGS...
with this terminal (the key's passphrase prompt is ssh's own) and exits with ssh's status.

HOST is an alias of the stick's .ssh/config (default "home"); its HostName and Port say where to
knock and connect. The default alias uses STICK/.ssh/sequences, any other alias its own
STICK/.ssh/sequences.HOST (several servers on one stick). The stick is --stick DIR, else
$KNOCKSTICK_STICK, else the directory of the stick's callhome launcher, else the current directory.
ssh runs in the stick's directory, so relative paths in its config (IdentityFile .ssh/id_ed25519,
UserKnownHostsFile .ssh/known_hosts) mean the stick's files wherever it is mounted.

How it knocks: one TCP SYN per port (a connect abandoned at once, so the kernel never
retransmits, which would reset knockd), one datagram per :udp port, in order, ${DEFAULTS.gapMs} ms apart (retries at least 20 ms apart, in
case a router reordered the packets), over IPv4
unless -6 (knockd 0.8 rebuilds only its IPv4 filter after a one-time knock). Then it probes the
SSH port with a fresh connect every ${DEFAULTS.probeIntervalMs} ms until it answers.

The sequence is marked used on the stick (atomic rewrite, fsync) as soon as the door opens, because
knockd has consumed it whatever ssh does next; ssh starts at that moment too, and callhome holds
the stick's lock until the record is on disk. A door opened by this stick less than --door-window seconds ago is checked
first and reused without spending a sequence.

When the door does not open, callhome retries within knockd's rules: it clears knockd's
half-finished attempt (lost packets) and knocks again, and tries up to 2 sequences ahead (the server
used one the stick never marked) and up to 2 back (the stick marked one the server never used),
--attempts times in all. It never knocks the stick's last unused sequence: knockd crashes when it
consumes its last one. When fewer than --warn-below (default ${DEFAULTS.warnBelow}) remain, it warns and names
the refill that still works from where you are: \`seqgen 50 --remote\` while at least 2 are left
(getting in spends one, and the last one is never knocked), else a refill at the server with the
stick mounted (\`seqgen 50 --stick DIR\`); exit 8 says the same.

With --method spa (or "method = spa" for the host in STICK/.ssh/knockstick.conf) the door is
opened by an fwknop Single Packet Authorization packet instead: keys and settings from the stanza
named like HOST in STICK/.ssh/fwknoprc (fwknop's rc format, mode 0600; see \`knockstick spa --help\`),
a fresh packet per attempt, then the same probing and ssh. No sequence is read or used.

Options:
  --stick DIR            the mounted stick: a directory holding the stick's .ssh/config (anything
                         else, or a home directory, is refused: exit 6, "is the stick mounted?")
  --method knock|spa     how to open the door (default: the stick's knockstick.conf, else knock)
  -v, --verbose          show each attempt and probe (ports only with --show-secrets)
  --dry-run              print what would be knocked and run (each sequence by its line, length
                         and protocols, never its ports); send nothing, change nothing
  --show-secrets         with --verbose or --dry-run: print the knock ports too (they are the
                         secret: anyone who sees an unused sequence can open the door with it)
  --knock-only           for window doors: open the door and exit without running ssh (then
                         connect within the server's cmd_timeout). Refused when the stick's
                         door_policy is single-use: the check that confirms the door would spend
                         it. Any ssh client knocks by itself anyway: scp -F STICK/.ssh/config ...
  -6, --ipv6             knock and connect over IPv6
  --attempts N           knock attempts in all, retries and resync included (default ${DEFAULTS.attempts})
  --door-timeout MS      how long to wait for the door after each attempt (default ${DEFAULTS.doorTimeoutMs})
  --gap MS               pause between the knocks of a sequence (default ${DEFAULTS.gapMs}; retries use at least 20)
  --probe-interval MS    how often to try the SSH port while waiting (default ${DEFAULTS.probeIntervalMs})
  --door-window SECONDS  a door this stick opened this recently may still be open (default ${DEFAULTS.doorWindowSeconds};
                         match the server's cmd_timeout)
  --warn-below N         warn when fewer unused sequences remain (default ${DEFAULTS.warnBelow})
  --wait SECONDS         how long to wait for another callhome or seqgen (default ${DEFAULTS.lockWaitSeconds})
  --ssh PATH             the ssh client to run (default: ssh from PATH)
  -h, --help             this help
  -V, --version          print knockstick's version

Examples:
  ${cmd}                           knock and log in to "home"
  ${cmd} -- uptime                 run one command
  ${cmd} home -- -D 8137 -N        a SOCKS proxy through home on local port 8137
  ${cmd} office --stick /mnt/secure
  ${cmd} --method spa -- uptime    open the door with an fwknop SPA packet instead
  scp -F /mnt/secure/.ssh/config file home:   (not callhome: the stick's ProxyCommand knocks)

Exit codes:
  once ssh has started: ssh's own exit status (255 for ssh's errors)
  before that:
  2  bad command line
  3  the stick's sequence file, ssh config or fwknoprc is invalid (file and line named)
  5  another callhome or seqgen is using the stick
  6  a file could not be read or written (stick not mounted?), or ssh cannot be started
  7  the door did not open after every attempt (the message says what was tried; SPA too)
  8  no sequence may be knocked: none left, or only the last one (refill at the server with the
     stick: a refill from afar needs at least 2)
  1  unexpected error
`;
}
