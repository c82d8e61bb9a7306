import { WINDOW } from '../core/policy.js';
import { DEFAULT_SERVER_FILE, DEFAULT_WARN_BELOW, DEFAULT_LOCK_WAIT_SECONDS } from './options.js';

export function seqgenHelp(cmd: string): string {
  return `Usage:
  ${cmd} COUNT [options]        append COUNT new one-time sequences to both copies
  ${cmd} COUNT --remote [HOST]  the same from afar: get in as callhome does, refill the server over ssh
  ${cmd} status [options]       how many are left on each side, and whether they agree
  ${cmd} repair [options]       heal what an interrupted seqgen or callhome left (see Lockstep)

Writes the same new lines, in the same order, to knockd's one_time_sequences file on the server
and to the stick's copy STICK/.ssh/sequences. Run it where both are reachable (for example on the
server, with the stick mounted).

Before writing anything it validates both files completely and checks that their unused lines
agree. If anything is wrong it says which file and line, and writes nothing.
  - The server file is only ever appended to (knockd keeps it open and marks used lines in place
    with "#"), fsynced, and created with mode 0600 if missing. It must be a regular file: a
    symlink is refused unless --follow-symlink, a FIFO or device always.
  - The stick file is replaced atomically (temp file, fsync, rename), so pulling the stick out
    mid-write leaves the old file. A symlinked STICK/.ssh or stick file is refused.
  - Both are locked against concurrent seqgen and callhome runs.
  - Sequences come from node:crypto, uniform over the allowed ports, with no port repeated in a
    sequence and no sequence ever repeated in a file (used ones included).
  - Sequences are never printed.

Options:
  --server-file PATH   knockd's one_time_sequences file (default ${DEFAULT_SERVER_FILE})
  --stick DIR          the mounted stick (default: $KNOCKSTICK_STICK, else the current directory):
                       a directory holding the stick's .ssh/config. Anything else is refused
                       (exit 6, "is the stick mounted?"), and so is a home directory or one whose
                       .ssh is a user's ~/.ssh: seqgen never writes into ~/.ssh
  --host ALIAS         which server of the stick: its ssh config alias. "home" (default) uses
                       STICK/.ssh/sequences, any other alias STICK/.ssh/sequences.ALIAS
  --length N           ports per sequence, 1-32 (default: the length already in the files, else 5)
  --ports LOW-HIGH     port range to draw from (default 1024-65535)
  --exclude LIST       ports never to use, e.g. 22,2222,60000-60010 (the SSH port, panic ports,
                       ports of real services). Repeatable. Always excluded as well: the panic
                       ports, ssh_port and exclude of the server settings (--server-config) and of
                       the stick's .ssh/knockstick.conf, and the Port of the host's ssh config entry.
  --server-config PATH
                       the server's knockstick settings (default /etc/knockstick/server.conf; read
                       if it exists)
  --remote             refill from afar: ssh gets in as callhome's does, through its ProxyCommand
                       (knockstick connect opens HOST's door, spending one sequence, and hands ssh
                       the very connection that found it open: single-use doors admit it), then over
                       that one ssh connection seqgen reads --server-file ON THE SERVER, checks it against
                       the stick, appends with \`sudo -n tee -a\` (unless the ssh user is root), reads it
                       back to verify (it checks first with \`stat -c %F\` that the file is a regular
                       file, not a symlink: the sudo rule needs that command too), and only then appends to the stick. The server file must exist.
                       Getting in spends a sequence and callhome never knocks the last one, so
                       this works while the stick has at least 2 unused; callhome's low-sequence
                       warning (below 10) names this command.
  --follow-symlink     append to --server-file even if it is a symbolic link. Without it a
                       symlinked server file is refused (exit 6) before anything is written: a
                       link planted there would redirect the append into another file. knockd
                       itself follows the link, so if you made it yourself, this flag is safe.
  --no-sudo            with --remote: run cat/tee on the server without sudo (your user owns the file)
  --wait SECONDS       how long to wait for another seqgen or callhome (default ${DEFAULT_LOCK_WAIT_SECONDS},
                       as in callhome)
  --dry-run            validate and report, write nothing
  status options:
  --warn-below N       warn when a side has fewer than N unused sequences (default ${DEFAULT_WARN_BELOW})
  --json               machine-readable status on stdout
  -h, --help           this help
  -v, -V, --version    print knockstick's version

Lockstep: the stick's unused lines must equal the server's. When a knock's marking and knockd's
consumption parted ways (a callhome killed at the wrong moment), one side has used a few more
lines at the head: drift. status says exactly what heals it:
  - up to ${WINDOW} lines either way, the next callhome (it knocks up to ${WINDOW} lines ahead and back,
    never the server's last line): reported, not an error (exit 0);
  - any other shift: \`${cmd} repair\`, which marks on the stick the lines knockd has used
    (or un-marks those it never consumed); knockd's file is never changed (exit 4 until then).
repair also finishes a seqgen interrupted between the two files (copies the missing tail),
completes a server line torn by a crash mid-append (appending the missing bytes), and removes the
temp files of killed runs. Anything else is an error.

Keep at least a few unused sequences on the server at all times: knockd 0.8 crashes when it
consumes the LAST sequence in its file, and refuses to start when none is left. status warns
loudly when the server is down to its last few.

Examples:
  ${cmd} 50 --server-file /etc/knockd/ssh --stick /mnt/secure
  ${cmd} 20 --length 7 --exclude 22,47001-47010
  ${cmd} status --stick /mnt/secure
  ${cmd} 50 --remote --stick /mnt/secure             (from a hotel: refill home's file over ssh)
  ${cmd} status --json
  ${cmd} 50 --host office --server-file /etc/knockd/office   (a second server on the same stick)

Exit codes:
  0  done (status: files valid and in step, or in drift the next callhome heals)
  2  bad command line
  3  a file is invalid (the message names file and line); nothing written
  4  the two files are out of step, or the server's last line is torn (status: \`repair\` heals
     what it names); nothing written
  5  another seqgen or callhome holds the lock
  6  a file or directory could not be read or written
  1  unexpected error
`;
}
