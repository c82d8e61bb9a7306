export function doctorHelp(cmd: string): string {
  return `Usage:
  ${cmd} [--knockd-conf PATH] [--stick DIR [--host ALIAS]] [--server-file PATH] [--offline] [--json]
  ${cmd} --access-conf PATH [--stick DIR]                     (fwknopd with GnuPG keys)
  ${cmd} --fwknopd-conf PATH [--access-conf PATH] [--offline] [--json]   (an SPA server)

Checks, on the server: knockd.conf parses the way knockd reads it; every one_time_sequences file is
valid (an invalid line makes knockd mark the wrong line, so a sequence works twice), ends with a
newline, has more than one unused line (knockd crashes on its last), is not readable by others;
each door's stop_command undoes its start_command and it uses tcpflags = syn; the panic sequence is
out of phase with every one-time sequence; knockd is running (its pidfile's pid is alive); its
interface exists and has an IPv4 address; the firewall drops new connections, accepts established
ones and does not accept SSH for everyone; sshd refuses passwords (sshd -T).
On the stick (--stick): the ssh config entry, that its ProxyCommand, key and known_hosts name the
stick where it is now, the key's permissions, sequences left, and lockstep with the server file
(--server-file, else the first one-time file of knockd.conf).
GnuPG SPA (--access-conf): for each access.conf stanza with GPG_* lines, its GPG_HOME_DIR is a real
directory (not a link), mode 0700, owned by root or you; the GPG_DECRYPT_ID key has its secret key
there, is neither expired nor revoked and can encrypt; each GPG_REMOTE_ID / GPG_FINGERPRINT_ID key is
there, certified (fwknopd refuses an uncertified signer) and not expired; gpg.conf says
"pinentry-mode loopback" when GPG_DECRYPT_PW is used. With --stick: STICK/.gnupg is mode 0700, and
each USE_GPG stanza of STICK/.ssh/fwknoprc has its GPG_SIGNER secret key and a usable GPG_RECIPIENT
public key. Keys are read with the real gpg (--with-colons); its gpg-agent is stopped afterwards.
--access-conf without --knockd-conf is an fwknopd server: no knockd checks, no stick sequences.
SPA server (fwknopd; --fwknopd-conf, or server settings "method = spa", or /etc/fwknop/fwknopd.conf
and no /etc/knockd.conf): fwknopd.conf and access.conf parse the way fwknopd 2.6 reads them (lines
of at most 1022 characters, comments only in the first column, no byte-order mark, no unknown or
repeated names, access.conf settings after a SOURCE line; CMD_REGEX is not read by fwknopd 2.6); the
real fwknopd reads them the same way (fwknopd -D on private copies, in a throwaway network namespace
with only lo, as root; any difference is an error); both are mode 0600 and root's; each stanza has a
key of 16 bytes or more, an HMAC key (32 bytes or more; without one: an error, a warning for GnuPG
stanzas), different from the key and from every other stanza's key; ENABLE_CMD_EXEC is a warning
showing its CMD_REGEX (an error without one), unless knockstick's command filter (fwknopd.conf
SUDO_EXE = spa-command-filter, ENABLE_CMD_SUDO_EXEC Y) enforces the regex: then ok, and the filter
missing, not executable or writable by others is an error; OPEN_PORTS includes sshd's port (sshd -T;
with --offline the Port lines of --sshd-config; else the server settings' ssh_port; a command stanza
may open just the SPA port); PCAP_FILTER's port agrees with UDPSERV_PORT; with --stick, the stick's
fwknoprc stanza (--host) matches the access.conf stanza with its key (port, SPOOF_USER for
REQUIRE_USERNAME, ALLOW_IP for REQUIRE_SOURCE_ADDRESS). Unless --offline: fwknopd is running (its pidfile: --pidfile,
FWKNOP_PID_FILE, FWKNOP_RUN_DIR/fwknopd.pid, else /var/run/fwknop/fwknopd.pid); the firewall accepts
the SPA port (UDP server; libpcap reads before the firewall), drops every other new connection,
accepts established ones and does not accept SSH from everyone; with fwknopd's iptables backend,
INPUT jumps to FWKNOP_INPUT; sshd refuses passwords. The GnuPG checks of access.conf run too.

Every finding has a severity (ERROR, warning, ok), a one-line explanation and the fix.

Options:
  --knockd-conf PATH     knockd's config (default: server settings, else /etc/knockd.conf)
  --fwknopd-conf PATH    fwknopd's config: check an SPA server (default /etc/fwknop/fwknopd.conf)
  --access-conf PATH     fwknopd's access.conf: check the GnuPG keyrings it names (SPA server:
                         default fwknopd.conf's ACCESS_FILE, else /etc/fwknop/access.conf)
  --server-config PATH   server settings (default /etc/knockstick/server.conf)
  --pidfile PATH         knockd's pidfile (default: settings, knockd.conf, else /run/knockd.pid);
                         on an SPA server, fwknopd's
  --interface IFACE      knockd's interface (default: knockd.conf [options] interface)
  --sshd-config PATH     the sshd config to ask (default sshd's own); SPA server with --offline:
                         the file whose Port lines give sshd's port
  --stick DIR            also check the stick (a directory holding the stick's .ssh/config;
                         anything else, or a home directory, is refused: exit 6)
  --host ALIAS           the stick's alias (default home)
  --fix-paths            with --stick: first rewrite the stick's ssh config lines that name it
                         at another place (where it was prepared or last mounted) to where it is
                         now; only lines knockstick wrote, everything else byte for byte
  --server-file PATH     the server file to compare the stick with
  --offline              only the files: skip knockd, interface, firewall and sshd (for a copy
                         written with server init --out)

As root, where knockd and ip are installed (also with --offline), the real knockd reads a private
copy of knockd.conf for a moment, in a throwaway network namespace with only lo (its pidfile, log,
syslog and one-time files untouched); any difference between its reading and ours is an error.
Without root, knockd or ip this is a warning and skipped.
  --warn-below N         warn below this many unused sequences (default 10)
  --json                 the findings as JSON
  -h, --help             this help
  -v, -V, --version      print knockstick's version

Examples:
  ${cmd}
  ${cmd} --knockd-conf /tmp/ks/knockd.conf --offline
  ${cmd} --stick /mnt/secure --server-file /etc/knockd/ssh
  ${cmd} --offline --stick /media/alice/KNOCKSTICK --fix-paths
  ${cmd} --fwknopd-conf /etc/fwknop/fwknopd.conf --access-conf /etc/fwknop/access.conf

Exit codes:
  0  no errors (warnings allowed)
  9  at least one error
  2  bad command line
  3  the server settings file is invalid
  6  --stick is not a stick (no .ssh/config, or a home directory), or a file could not be read
  1  unexpected error
`;
}
