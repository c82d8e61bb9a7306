export function serverHelp(cmd: string): string {
  return `Usage:
  ${cmd} init                                                  (a wizard asks what the flags do not say)
  ${cmd} init --yes [--interface IFACE] [--stick DIR] [options]
  ${cmd} init --yes --interface IFACE --out DIR                (a staging copy to test first)
  ${cmd} init --yes --interface IFACE --dry-run                (print every file)
  ${cmd} init --method spa                                     (fwknopd, no knockd; a wizard asks)
  ${cmd} init --yes --method spa --spa-server HOST [--stick DIR] [options]

Writes the server side from templates/:
  /etc/knockd.conf                        [options] (interface, logfile, pidfile), the SSH door with
                                          one_time_sequences, tcpflags = syn, a %IP% start_command
                                          and cmd_timeout, and the [panic] stanza
  /etc/knockstick/server.conf             settings shared by seqgen, panic and doctor
  /etc/knockstick/firewall.nft            nftables baseline (--firewall nftables, the default), or
  /etc/knockstick/iptables.rules (+ip6)   iptables-restore files (--firewall iptables), or
  /etc/knockstick/ufw-before.rules        the chain to add to ufw's before.rules (--firewall ufw):
                                          loopback and established allowed, new SSH dropped, the
                                          doors in their own chain/table (panic flushes them)
  /etc/ssh/sshd_config.d/knockstick.conf  keys only
  /etc/systemd/system/knockd.service.d/knockstick.conf
                                          knockd -d with a pidfile, restarted on crashes, not after
                                          a panic
  /etc/knockstick/ddclient.conf           with --ddns-*: dynamic DNS (fill the password in there)
  /etc/knockd/ssh and STICK/.ssh/sequences  the first --count sequences, by seqgen, excluding the
                                          panic ports
Doors: knockd puts the knocking address into a door (an nft set element with a timeout, or the
xt_recent list "knockstick" for iptables and ufw) that closes by itself after --cmd-timeout seconds,
even if knockd dies, so there is no stop_command. With --door-policy single-use (the default) the
firewall rule also removes the address as it admits a new connection: one knock lets exactly one
connection in (ssh through \`knockstick connect\`); a second one from the same address is dropped.
--door-policy window lets every new connection from the address in until the timeout (anyone
behind the same NAT too); server.conf records the policy (door_policy) and a rerun keeps it.

It applies nothing: it prints the commands, with an automatic firewall rollback unless you confirm
from a new connection, so it can never lock out the session it runs in. With --out DIR the next
steps say how to install the staging copy (copy the sequences, then the same run without --out).

Running it again is safe. A file that already holds what it would write is left alone ("unchanged");
a run with the same flags changes nothing. A file that differs (your edit, or other flags) is shown
as a diff and replaced only with --force. Debian's stock /etc/knockd.conf (the knockd package's
sample with [openSSH]/[closeSSH], byte for byte as the package installed it) is replaced without
--force after its diff is shown (the wizard asks first). Every replaced file is kept first as
FILE.knockstick-bak.YYYYMMDDTHHMMSSZ (mode 0600). ddclient.conf, once there, is yours and kept. A
sequence file is never rewritten: an existing one is kept as it is (seqgen refills it), a missing
one is created with --count sequences (--count 0: none). The panic sequence in server.conf is kept.
A symbolic link where a file goes (in --out, or a stick's .ssh) is refused before anything is
written, even with --force.

With --method spa it writes an fwknopd (fwknop 2.6) server instead of knockd: fwknopd.conf (UDP
server on 62201) and access.conf with new keys in /etc/fwknop/, firewall-spa.nft (doors in the set
inet knockstick spa4, filled by CMD_CYCLE_OPEN with a timeout, single-use unless --door-policy
window) or iptables-spa.rules (fwknopd's own FWKNOP_INPUT chain: window doors), both letting only udp/62201 in, the sshd drop-in, and the same keys in the
stick's .ssh/fwknoprc [home] with "method = spa" in its knockstick.conf (no stick: fwknoprc.client
to copy). --cmd-timeout is then how long fwknopd keeps a door open. --dry-run hides the keys.
The set-ups of the fwknop documents: --spa-port N (UDPSERV_PORT and a matching PCAP_FILTER; the
firewall lets only that udp port in; the stick's stanza gets SPA_SERVER_PORT), --firewall ufw
(ufw-spa.sh denies incoming but the SPA port; fwknopd's doors are CMD_CYCLE_OPEN "ufw allow proto
tcp from $SRC to any port SSH" and CMD_CYCLE_CLOSE "ufw delete allow ..." after --cmd-timeout:
window doors), --require-username USER (REQUIRE_USERNAME; the stanza gets SPOOF_USER USER),
--require-source (REQUIRE_SOURCE_ADDRESS Y; the stanza gets ALLOW_IP local: knockstick puts in the
address it sends from, right when no NAT is in between), --ssh-port N (OPEN_PORTS, the firewall and
a Port line in the sshd drop-in), --behind-router ADDR (router-spa.nft for a Linux router, and the
port forwarding to set on any other: udp/SPA port and tcp/SSH port to ADDR). Command messages are
refused unless --allow-command REGEX: then a stanza with keys of its own (the stick's
[home-command]: spa send -n home-command --server-cmd CMD) runs a command (as root, without a
shell) only if the whole of it matches REGEX (POSIX extended), checked by spa-command-filter,
fwknopd's SUDO_EXE (fwknopd 2.6 ignores CMD_REGEX, written there to say the regex). It also writes server.conf (method = spa, the ports,
the firewall, the door policy, fwknopd's files) and the systemd drop-in
/etc/systemd/system/fwknop-server.service.d/knockstick.conf (fwknopd with a pidfile, restarted on
crashes, not when stopped). Each SPA run makes new keys, so it does not rerun: existing files need
--force.
With --gpg the shared key is replaced by GnuPG keys made with the real gpg: a new key for fwknopd in
/etc/fwknop/gnupg (--out: OUT/gnupg; or --gpg-home-dir; mode 0700) with a random passphrase in
access.conf (GPG_DECRYPT_PW; gpg.conf gets "pinentry-mode loopback", which fwknopd 2.6 needs with
gpg 2.2), a new client key in the stick's .gnupg (no stick: gnupg.client to copy there), each side
holding the other's public key, the client's certified by fwknopd's key. access.conf names the
client by GPG_FINGERPRINT_ID (and GPG_REMOTE_ID); packets also carry an HMAC.
With --gpg-server-key ID (a key already in that keyring) or --gpg-import FILE (an armored secret
key, imported into it) fwknopd keeps its existing key: it must be there once, neither revoked nor
expired, with an encryption subkey and its secret part, or nothing is written. A key with a
passphrase needs --gpg-passphrase-file (it goes into access.conf as GPG_DECRYPT_PW, never argv);
one without gets GPG_ALLOW_NO_PW Y.

Options:
  -y, --yes              no questions: defaults and flags only
  --method knock|spa     knockd with one-time sequences (default), or fwknopd SPA
  --spa-server HOST      with --method spa: the name or address the stick sends SPA packets to
  --gpg                  with --method spa: GnuPG keys instead of a shared key
  --gpg-home-dir DIR     with --gpg: fwknopd's keyring (default /etc/fwknop/gnupg, or OUT/gnupg)
  --gpg-key-type T       with --gpg: rsa (default; fwknop's own client can use it too) or ed25519
  --gpg-server-key ID    with --gpg: use this existing key of the keyring for fwknopd (fingerprint)
  --gpg-import FILE      with --gpg: import this armored secret key for fwknopd and use it
  --gpg-passphrase-file FILE
                         the passphrase of that existing key, read from FILE (- for stdin)
  --spa-port N           with --method spa: fwknopd's UDP port (default 62201)
  --require-username USER
                         with --method spa: packets must carry this user name (REQUIRE_USERNAME)
  --require-source       with --method spa: packets must name the address to open
                         (REQUIRE_SOURCE_ADDRESS; the stick sends its own: ALLOW_IP local)
  --allow-command REGEX  with --method spa: run command messages whose whole command matches REGEX
                         (POSIX extended, as root, no shell); without it they are refused
  --behind-router ADDR   with --method spa: this server is ADDR behind a router, which forwards
                         the SPA port and SSH here (router-spa.nft and the words for any router)
  --interface IFACE      the interface knockd listens on (default: that of the default route)
  --out DIR              write every file into DIR instead, referring to each other there
  --dry-run              print every file, write nothing
  --firewall KIND        nftables (default), iptables or ufw (with --method spa: ufw doors are
                         windows that fwknopd opens and closes with ufw)
  --ssh-port N           sshd's port (default 22)
  --seq-timeout S        seconds to finish a knock (default 15)
  --cmd-timeout S        seconds a door stays open (default 10)
  --door-policy P        single-use (default: a door admits one new connection) or window (every
                         new connection from the address until --cmd-timeout); with --method spa
                         single-use needs --firewall nftables
  --count N              sequences for a sequence file that does not exist yet (default 50; 0: none)
  --allow PROTO/PORT     repeatable: another inbound service the firewall keeps reachable from
                         anywhere, tcp/PORT or udp/PORT (e.g. --allow tcp/443); never SSH's port,
                         which only the door opens. Not with --inner: router mode writes no
                         firewall for the router itself
  --stick DIR            the mounted stick that gets the same sequences (without it: the server
                         file only; then \`seqgen repair --server-file FILE --stick DIR\` copies them)
  --force                replace config files that differ from what it writes (backups kept);
                         never a sequence file
  --inner NAME=ADDR      router mode, repeatable: this machine is the router, and knockd here forwards SSH to the
                         inner host ADDR; each inner host gets its own door [NAME], sequence file
                         /etc/knockd/NAME and stick file .ssh/sequences.NAME (callhome NAME), plus
                         router.nft or router-iptables.sh for the forwarding; panic closes them all
  --ddns-protocol P --ddns-server S --ddns-login L --ddns-hostname H
                         a ddclient snippet for dynamic DNS
  -h, --help             this help
  -v, -V, --version      print knockstick's version

Examples:
  ${cmd} init --yes --interface eth0 --stick /mnt/secure
  ${cmd} init --yes --interface eth0 --out /tmp/ks --stick /mnt/secure --firewall iptables
  ${cmd} init --yes --interface eth0 --stick /mnt/secure --allow tcp/443 --allow udp/51820
  ${cmd} init --yes --method spa --spa-server home.example.org --interface eth0 --stick /mnt/secure
  ${cmd} init --yes --method spa --spa-server home.example.org --firewall ufw --spa-port 40001 \
      --ssh-port 2222 --require-username alice --behind-router 192.168.1.10 --stick /mnt/secure
  ${cmd} init --yes --interface wan0 --stick /mnt/secure --inner web=192.168.1.10 --inner nas=192.168.1.20

Exit codes:
  0  done
  2  bad command line
  3  an existing settings or sequence file is invalid
  6  a file differs from what it writes (diff shown; --force replaces it), or a file could not be
     written
  1  unexpected error
`;
}
