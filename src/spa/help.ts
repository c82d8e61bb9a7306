import { DEFAULT_SPA_PORT } from './packet.js';

export function spaHelp(cmd: string): string {
  return `Usage:
  ${cmd} send [--rc-file FILE] [-n STANZA] [options]   send one SPA packet
  ${cmd} keygen                                         print new KEY_BASE64 / HMAC_KEY_BASE64 lines
  ${cmd} keygen --rc-file FILE -n STANZA --server HOST  add a stanza with new keys to an rc file
  ${cmd} decode [--rc-file FILE] [-n STANZA] [PACKET]   check and show a packet (file, or - for stdin)
  ${cmd} qr [STANZA] [--stick DIR | --rc-file FILE | --access-conf FILE] [--png FILE]
                                                        show a stanza's keys as a QR code for a phone

Single Packet Authorization compatible with fwknop 2.6 (fwknopd on the server): one UDP datagram
to port ${DEFAULT_SPA_PORT}, AES-256-CBC (fwknop's "Rijndael" mode) and HMAC-SHA256 by default,
asking fwknopd to open ports for an address for a while. Unlike a knock sequence it cannot be
replayed (fwknopd keeps a digest of every packet it accepted), carries a timestamp (packets older
than 120 s are refused) and needs no sequence file.

Settings come from fwknop's own rc file format (~/.fwknoprc): [default] then the stanza named by
-n. Supported: SPA_SERVER, SPA_SERVER_PORT, SPA_SERVER_PROTO (udp, tcp; udpraw, tcpraw, icmp
with SPOOF_SOURCE_IP are built but not sent), ACCESS (tcp/22,udp/53), ALLOW_IP (an address, or
"source" for the address the packet comes from), KEY_BASE64, KEY or KEY_FILE, HMAC_KEY_BASE64
or HMAC_KEY, USE_HMAC, HMAC_DIGEST_TYPE and DIGEST_TYPE (md5, sha1, sha256, sha384, sha512,
sha3_256, sha3_512), ENCRYPTION_MODE (cbc, ecb, cfb, ofb, ctr, legacy), FW_TIMEOUT (seconds
the server keeps the door open), NAT_ACCESS HOST[:PORT], NAT_LOCAL, NAT_PORT, NAT_RAND_PORT,
RAND_PORT, SPOOF_USER, TIME_OFFSET (+1H, -5M, -1D, seconds), and GnuPG mode: USE_GPG Y,
GPG_RECIPIENT (the server's key), GPG_SIGNER (yours), GPG_HOMEDIR (relative: from the rc file's
directory, e.g. ../.gnupg on a stick), GPG_EXE, USE_GPG_AGENT, GPG_SIGNING_PW_BASE64 or
GPG_SIGNING_PW (piped to gpg, never on its command line), GPG_NO_SIGNING_PW, and optionally an
HMAC key. GnuPG packets are made by the real gpg, and work with Ed25519/Cv25519 keys too (fwknopd
refuses fwknop's own ECC packets). Anything else in the stanzas in
effect is an error naming the line. The file (and a KEY_FILE) must be readable by its owner
only (chmod 600): it holds the keys. Keys are never taken from the command line and never
printed, except by keygen without --rc-file, whose job that is: it prints the two new key lines
on stdout (like \`fwknop --key-gen\`), so redirect it into a 0600 file rather than
showing it on a screen. keygen --rc-file never writes into a user's own ~/.ssh.

qr shows the keys of one stanza as a QR code that the Android client Fwknop2 reads with "Capture
qr" (the text fwknop-gui's "Export as QR code" makes: KEY_BASE64:KEY HMAC_KEY_BASE64:KEY, or KEY:
and HMAC_KEY: for plain keys; error correction Q, byte mode). The code carries only the keys: the
server, ports and other settings are entered on the phone. The keys come from the stick's
.ssh/fwknoprc (stanza [home] unless STANZA names another; the stick is --stick DIR, else
$KNOCKSTICK_STICK, else the launcher's directory, else the current one), from --rc-file FILE
([default] unless STANZA), or from the server's access.conf with --access-conf FILE (STANZA: the
stanza's number in the file, from 1, or its SOURCE value; without it, the only stanza with a key).
Refused, naming the file and line: a base64 key whose length is not a multiple of 4 or with
characters Fwknop2 refuses, a plain key with a space, a colon or non-ASCII characters (Fwknop2
cuts the scanned text there), a stanza without HMAC key, and a GnuPG stanza (no shared key: a phone
uses its own GnuPG keys). Whoever sees the code has the keys: it is printed only when standard
output is a terminal (never into a pipe or a log by accident; --force to do it anyway), stderr says
so, and after scanning clear the screen and the scrollback. --png writes a new image file instead
(mode 0600, never replacing a file or following a link): delete it once scanned.

Options:
  --rc-file FILE        the rc file (default: $HOME/.fwknoprc; qr: the stick's .ssh/fwknoprc)
  -n, --named-config S  the stanza (default: [default] alone; qr: also as STANZA)
  --time-offset SECS    add SECS (may be negative, e.g. --time-offset=-60) to the packet's
                        timestamp, over the rc file's TIME_OFFSET (for a client clock that is off)
  --save-packet FILE    also write the packet to FILE (mode 0600), as fwknop -B does
  --dry-run             send: build the packet and show what would be sent, send nothing
  -v, --verbose         send: show the packet's fields (never the keys)
  --server HOST         SPA_SERVER (send: over the rc file, as fwknop -D; keygen: of the new stanza)
  --access SPEC         ACCESS (send: as fwknop -A; keygen: default tcp/22)
  --allow-ip IP         ALLOW_IP (send: as fwknop -a; keygen: default source)
  --server-cmd CMD      send: ask fwknopd to run CMD (fwknop --server-cmd; ENABLE_CMD_EXEC)
  --unsafe-no-hmac      send: allow a stanza without HMAC key. Unsafe: nothing authenticates
                        the packet, anyone on the path can alter it and fwknopd cannot tell
  --unsafe-legacy-iv    send: allow ENCRYPTION_MODE legacy. Unsafe: a key shorter than 16
                        bytes is padded with "0" characters (the old Perl client's way)
  --gpg-recip KEY       send: GnuPG mode, encrypted to KEY (the server's; as fwknop --gpg-recip)
  --gpg-sign KEY        send: GnuPG mode, signed with KEY (yours; as fwknop --gpg-sign)
  --gpg-home-dir DIR    send: the keyring (GPG_HOMEDIR); decode: a keyring with the server's
                        secret key, to decrypt a GnuPG packet
  --gpg-agent           send: the gpg-agent holds the signing passphrase (USE_GPG_AGENT Y)
  --stick DIR           qr: the stick whose .ssh/fwknoprc holds the keys (default: see above)
  --access-conf FILE    qr: take the keys from fwknopd's access.conf (the server's side)
  --png FILE            qr: write the code to FILE, a new PNG (mode 0600), not to the terminal
  --ascii               qr: draw the code with coloured spaces, two per module, instead of Unicode
                        half blocks (for terminals without those characters; also squarer)
  --force               qr: print the code even when standard output is not a terminal
  -h, --help            this help
  -V, --version         print knockstick's version

Examples:
  ${cmd} keygen --rc-file /mnt/secure/.ssh/fwknoprc -n home --server home.example.org
  ${cmd} send --rc-file /mnt/secure/.ssh/fwknoprc -n home && ssh home
  ${cmd} send -n home --dry-run -v
  ${cmd} decode --rc-file ~/.fwknoprc -n home packet.txt
  ${cmd} send -n home --gpg-recip SERVER_FPR --gpg-sign CLIENT_FPR
  ${cmd} decode --gpg-home-dir /etc/fwknop/gnupg --rc-file ~/.fwknoprc -n home packet.txt
  ${cmd} qr --stick /media/stick home
  sudo ${cmd} qr --access-conf /etc/fwknop/access.conf 1 --png /root/phone-keys.png

Exit codes:
  0  done (send: the packet left this machine; SPA gets no answer, so only the door says more)
  2  bad command line (qr: also standard output not a terminal without --force, or no such
     access.conf stanza)
  3  the rc file is invalid or readable by others (file and line named), or decode: the packet
     does not check out with these keys, or qr: a key cannot go into the code (file and line named)
  6  a file could not be read or written, the server's name does not resolve, or sending failed
  1  unexpected error
`;
}
