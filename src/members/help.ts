export function stickHelp(cmd: string): string {
  return `Usage:
  ${cmd} add NAME --stick DIR [--host ALIAS] [--count N] [--key FILE] [--server-config PATH]
  ${cmd} add NAME --method spa --spa-server HOST --stick DIR [--host ALIAS] [--key FILE] [SPA paths]
  ${cmd} add NAME --stick NEW --remote [--via STICK] [--via-host ALIAS] [--count N]
  ${cmd} add NAME --method spa --spa-server HOST --stick NEW --remote [--via STICK] [--via-host ALIAS]
  ${cmd} list [--json] [--server-config PATH]
  ${cmd} revoke NAME [--authorized-keys FILE] [--server-config PATH]

Several sticks on one server, each a member with a door of its own. Run it on the server, as root.
With knockd a one-time sequence belongs to a door (a stanza and its file): two sticks sharing one
would spend each other's lines. So each stick gets its own stanza [stick-NAME] in knockd.conf and
its own one-time file (next to the first door's: /etc/knockd/stick-NAME), and its sequences come
from a pool of ports that no other door's pool and not the panic sequence use. The members are
listed in sticks.conf next to the server settings (/etc/knockstick/sticks.conf, mode 0600).

  add      makes NAME's door: its stanza (copying the existing door's firewall command and
           timeouts), its one-time file and the same sequences on the stick (in step, as seqgen
           makes them), and writes server_file into the stick's .ssh/knockstick.conf [ALIAS] so
           seqgen refills the right file. The stick must not have sequences for ALIAS yet. The new
           knockd.conf is checked (our model, and as root the real knockd on a private copy)
           before it is written; then knockd is reloaded (SIGHUP: same pid). NAME: a lower-case
           letter, then lower-case letters, digits or "-" (at most 32); a name is never reused.
  list     every member: method, door, state, unused sequences on the server, the last door
           opening (time and address, from knockd's log: its logfile, to the minute), created.
  revoke   removes NAME's door (stanza and one-time file), marks its record revoked, checks the
           new knockd.conf the same way and reloads knockd, then closes the doors NAME opened in
           the last cmd_timeout seconds (the addresses knockd's log names). Connections already
           made stay up. With --authorized-keys, also removes the stick's key (the one recorded
           by add) from that file (atomic rewrite, mode and owner kept). Every other stick keeps
           working. An unknown NAME, or the last stick with a door, is refused and nothing
           changes. Revoke a lost or retired stick; when you cannot tell who has your sticks, or
           someone is in already, use panic (it stops knockd and closes every door).

SPA (--method spa, fwknopd): each SPA stick gets its own access.conf stanza (SOURCE ANY, its own
new KEY_BASE64 and HMAC_KEY_BASE64), framed by two comment lines "# knockstick stick NAME: ..." and
"# knockstick end of stick NAME"; fwknopd tries the stanzas in turn, so each stick is admitted on
its own keys. add copies the door (port, seconds, nftables or iptables) from the stanza already
there, writes the same keys into the stick's .ssh/fwknoprc [ALIAS] and "method = spa" into its
.ssh/knockstick.conf. revoke removes the stanza (the rest of access.conf byte for byte) and closes
the spa4 doors that stick opened (nftables: each door is tagged with its stanza's name). Every new
access.conf is first read by the real fwknopd (--exit-parse-config) and only then written (0600);
then fwknopd reads it: SIGHUP, or, with ENABLE_UDP_SERVER (fwknopd 2.6.10 stops on SIGHUP in that
mode), a restart (systemctl restart of its unit, or its own command line again). The replay cache
is a file, so a revoked stick's old packets stay refused too. The stanza server init --method spa
writes is the first stick's and is not managed here.
On a knockd server without fwknopd (no access.conf), add --method spa sets up what is missing
(nftables only): fwknopd.conf, access.conf, "udp dport 62201 accept" in firewall.nft and in the
running table; the SPA doors go into knockd's door set doors4 (same door rule, same policy), and
the [panic] command also stops fwknopd (checked, knockd reloaded). Then start fwknopd
(systemctl enable --now fwknop-server); panic rotate keeps that part. Revoking the last SPA stick
there stops fwknopd.

A server made by server init before members has one door, [ssh]: it is the member "ssh" (pool:
every port no other door's pool has) as it is, and its stick needs no change. Router mode
(server init --inner: a door per inner host) is refused: a member there would need a door per
host; give each inner host its own stick instead.

Options:
  --stick DIR            add: the mounted stick that gets the new door's sequences
  --host ALIAS           add: the alias of the stick's ssh config for this server (default home)
  --count N              add: how many sequences (default 50, at least 2)
  --key FILE             add: the stick's ssh public key (default: its .ssh/id_ed25519.pub, id_ecdsa.pub
                         or id_rsa.pub), recorded for revoke --authorized-keys
  --server-config PATH   the server settings (default /etc/knockstick/server.conf); knockd.conf and the
                         pidfile come from there, sticks.conf is next to it
  --method knock|spa     add: a knockd door (default) or an fwknopd access.conf stanza
  --spa-server HOST      add --method spa: the name or IPv4 address the stick sends its SPA packets to
  --access-conf PATH     SPA: fwknopd's access.conf (default /etc/fwknop/access.conf; with
                         another --server-config: access.conf next to it, as server init --out puts it)
  --fwknopd-conf PATH    SPA: fwknopd.conf (default /etc/fwknop/fwknopd.conf; likewise next to
                         another --server-config)
  --fwknopd-pidfile PATH  SPA: fwknopd's pidfile (default: from fwknopd.conf, else
                         /var/run/fwknop/fwknopd.pid)
  --remote               add from afar: connect as callhome does with the stick you travel with
                         (--via; one sequence spent for a knock door), run the server's knockstick
                         there (sudo -n unless you log in as root), then write the new stick
                         (--stick, mounted here) once the server is done. SPA: the new keys go on
                         its stdin. Knock: the server makes the door and its sequences and sends
                         the stick's copy back on stdout. If writing the stick fails, undo it on
                         the server with \`${cmd} revoke NAME\`
  --via DIR              --remote: the stick with the way in (default: $KNOCKSTICK_STICK, or the
                         stick this runs from)
  --via-host ALIAS       --remote: its alias for the server (default home)
  --remote-knockstick PATH  --remote: the knockstick to run on the server (default knockstick)
  --keys-stdin           add --method spa without --stick: the keys come on stdin (what --remote
                         runs on the server; two base64 lines); the result is one JSON line
  --sequences-stdout     add (knock) without --stick: print the new stick's sequences, server_file
                         and ports as one JSON line (what --remote runs on the server; stdin: the
                         stick's ssh public key line, or nothing)
  --json                 list: machine-readable output
  --authorized-keys FILE  revoke: also remove the stick's key from this authorized_keys file
  -h, --help             this help
  -V, --version          print knockstick's version

Examples:
  ${cmd} add alice --stick /mnt/alice
  ${cmd} add spare --stick /mnt/secure --host spare --count 100
  ${cmd} add carol --method spa --spa-server home.example.org --stick /mnt/carol
  ${cmd} list
  ${cmd} revoke spare --authorized-keys /home/me/.ssh/authorized_keys

Exit codes:
  0  done
  2  bad command line, a name that is taken or unknown, router mode, or the last door
  3  knockd.conf, access.conf, the settings or sticks.conf is invalid (file and line named), or
     fwknopd refuses the new access.conf; nothing written
  4  the stick's sequences and the new server file are out of step (add)
  5  another stick command (or seqgen) holds the lock
  6  a file could not be read or written, or the stick is not there
  1  unexpected error (e.g. knockd died at reload: the old files are back, start knockd; or fwknopd
     did not come back after its restart)
`;
}
