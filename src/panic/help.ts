export function panicHelp(cmd: string): string {
  return `Usage:
  ${cmd} script [ALIAS] [--hostname ADDR] [--sequence P1,P2,...] [--out FILE] [--no-resolve]
  ${cmd} send   [ALIAS] [--hostname ADDR] [--sequence P1,P2,...]
  ${cmd} rotate [ALIAS] [--knockd-conf PATH] [--firewall iptables|nftables] [--pidfile PATH] [--stick DIR] [--hostname ADDR]
  ${cmd} stanza [--sequence P1,P2,...] [--firewall iptables|nftables] [--pidfile PATH]

The kill switch for a lost stick. On the server, knockd has a [panic] stanza: its own sequence,
tcpflags = syn, and a command that stops knockd by its pidfile and flushes every door it opened
(the KNOCKSTICK_DOORS iptables chain, or the knockstick nftables sets), so a door opened just
before is closed too. After a panic, no knock opens anything until you restart knockd.
Where fwknopd runs too (server.conf "method = spa" or fwknopd_conf, or /run/fwknop/fwknopd.pid
exists), the command first stops fwknopd by its pidfile (fwknopd.conf's FWKNOP_PID_FILE) and closes
its doors (the nft set spa4, the FWKNOP_INPUT chain, or the ufw rules its CMD_CYCLE_OPEN added). An
SPA server runs knockd for the panic knock only: there, rotate makes that knockd.conf when it is missing.

  script   writes a standalone POSIX sh file (default ./panic, mode 0600) for a shell account you
           can reach from anywhere. Run it there with \`sh panic\` (no exec permission, no node
           needed; dash, busybox sh and bash all work). It sends the knock with python3, perl,
           bash's /dev/tcp or nc, whichever it finds first (PANIC_METHOD=nc to choose), says which,
           and never waits long. The address is looked up when the script is written (over IPv4,
           as the script knocks): a name that does not resolve is refused (exit 6) unless
           --no-resolve, and one that resolves to a loopback or private address is warned about.
           The script keeps the name, not the address, so a dynamic DNS name keeps working.
  send     sends the panic knock from this machine.
  rotate   makes a new panic sequence whose ports no one-time sequence uses (out of phase), puts
           it into knockd.conf's [panic] stanza (added if missing), the server settings and, with
           --stick, the stick settings; writes the new script when the address is known; checks
           the new knockd.conf first (knockd dies on a config error at SIGHUP): our model of knockd,
           and as root the real knockd on a private copy in a throwaway network namespace; then
           reloads knockd by its pidfile and checks that it survived. Without that second check
           (not root, no knockd or ip) it writes but does not reload. Run it on the server, and
           after every panic.
  stanza   prints the [panic] stanza for knockd.conf (on purpose: it holds the panic sequence,
           which anyone could use to lock you out; redirect it into the file).

Where the sequence and address come from: --sequence and --hostname first; else the stick's
.ssh/knockstick.conf ([ALIAS] panic_sequence, panic_host); else the server settings
(/etc/knockstick/server.conf, --server-config); the address else from the HostName of ALIAS
(default "home") in the stick's .ssh/config. seqgen never uses a panic port in a one-time sequence.
The stick is --stick DIR, else $KNOCKSTICK_STICK (it must be a stick: a directory holding the
stick's .ssh/config), else the current directory if it is one.

Options:
  --stick DIR            the mounted stick (default: $KNOCKSTICK_STICK, else the current directory)
  --host ALIAS           the alias of the stick's ssh config (the same as ALIAS; as in every command)
  --hostname ADDR        where to send the panic knock: the server's public name or address
                         (default: panic_host, else the HostName of ALIAS in the stick's .ssh/config)
  --no-resolve           script/rotate: write the script without looking the address up (offline)
  --sequence P1,P2,...   the panic sequence (TCP ports, at least 3)
  --out FILE             where the script goes (default ./panic)
  --server-config PATH   server settings (default /etc/knockstick/server.conf)
  --knockd-conf PATH     rotate: knockd's config (default: server settings, else /etc/knockd.conf)
  --pidfile PATH         rotate/stanza: knockd's pidfile (default: server settings, else /run/knockd.pid)
  --firewall KIND        rotate/stanza: iptables or nftables (default: server settings, else iptables)
  --length N             rotate: ports in the new sequence (default 5)
  --no-reload            rotate: do not SIGHUP knockd
  -h, --help             this help
  -v, -V, --version      print knockstick's version

Examples:
  ${cmd} rotate --stick /mnt/secure --hostname home.example.org
  ${cmd} script --stick /mnt/secure --host home      (the address from the stick's ssh config)
  ${cmd} script --hostname home.example.org --sequence 47113,52981,60210,33307,41999
  scp panic shell.example.net:   then, when the stick is gone:   ssh shell.example.net sh panic
  ${cmd} send home

Exit codes:
  0  done
  2  bad command line, or no panic sequence / address known
  3  a settings file, knockd.conf or the stick's ssh config is invalid (file and line named; also
     an alias the ssh config does not have); nothing written or reloaded
  6  a file could not be read or written, the stick is not there, or the address does not resolve
  1  unexpected error (e.g. knockd died at reload)
`;
}
