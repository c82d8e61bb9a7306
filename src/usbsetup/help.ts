export function usbsetupHelp(cmd: string): string {
  return `${cmd}: turn a blank USB stick (or a disk image) into an encrypted knockstick.

Usage:
  sudo ${cmd}                                   the wizard: asks everything, step by step
  sudo ${cmd} --yes --device DEV --confirm-device DEV --hostname HOST --user USER \\
       --luks-passphrase-file FILE --key-passphrase-file FILE [options]
  ${cmd} --into DIR --hostname HOST --user USER [--key-passphrase-file FILE]
                                                only the files, into an already open volume

What it does (as root):
  0. Checks root, cryptsetup and the kernel's device-mapper (with --into: that the directory
     exists) before the first question; the wizard then asks everything, shows a summary of what
     it will do, and asks once, last, to type the device name before anything is erased.
  1. Refuses the disk holding / and any disk with something mounted or open on it; you confirm
     by typing the device name (--confirm-device with --yes). A disk image file is attached to a
     loop device, so you can try it all on a file first.
  2. LUKS2 with cryptsetup's defaults (argon2id) on the whole disk, or on a partition of N MiB at
     its end (--partition-mib N; the rest becomes an ordinary FAT32 drive).
  3. A filesystem inside: vfat (default, readable everywhere), exfat or ext4.
  4. The stick's files:
       callhome, knockstick         launchers (POSIX sh) that run the CLI below with this machine's
                                    node (20+) and say clearly when node or ssh is missing
       .knockstick/knockstick.mjs   the whole knockstick CLI in one file
       .knockstick/connect.mjs      the CLI with \`connect\` alone, which ssh's ProxyCommand runs
       .ssh/id_ed25519              a new key made by ssh-keygen, with its own passphrase
       .ssh/config                  Host ALIAS with HostName, User, Port, a ProxyCommand that
                                    knocks (\`knockstick connect\`), IdentityFile and
                                    UserKnownHostsFile by absolute path [, DynamicForward]: any
                                    client (ssh/scp/sftp -F, rsync, git) knocks for itself; the
                                    paths name --mountpoint (or --into DIR), and are rewritten
                                    when the stick is mounted elsewhere
       .ssh/knockstick.conf         door_policy (and method = spa)
       .ssh/known_hosts             the server's host key (with --server-host-key)
       .ssh/sequences               the first one-time sequences
  5. Remembers the volume's LUKS UUID in ${'/etc/knockstick/stick.conf'} for secureon, and prints the
     server-side steps: the authorized_keys line and where the sequences go.

Two passphrases, on purpose: the volume's (LUKS) and the key's. Whoever steals the stick must crack
both, which is the time you need to run \`panic\`. Passphrases are never flags: the wizard asks
with echo off (the key's is typed into ssh-keygen itself), and --yes reads them from files (or "-"
for stdin). One trailing newline in such a file is dropped; nothing is ever added.

Options:
  --device DEV               the stick (/dev/sdb) or a disk image file
  --confirm-device DEV       with --yes: the same device again, to confirm erasing it
  --partition-mib N          encrypt only the last N MiB (default: the whole disk)
  --filesystem FS            vfat (default), exfat or ext4
  --luks-passphrase-file F   the volume's passphrase (or - for stdin)
  --key-passphrase-file F    the SSH key's passphrase (or - for stdin); must differ from the volume's
                             (both may be a FIFO or <(command): the passphrase never touches a disk)
  --host ALIAS               ssh config alias (default home)
  --hostname HOST            the server's address as seen from outside
  --user USER                your user on the server
  --port N                   the server's SSH port (default 22)
  --dynamic-forward PORT     also open a SOCKS proxy on 127.0.0.1:PORT when connected
  --server-host-key FILE     the server's /etc/ssh/ssh_host_ed25519_key.pub, for known_hosts
  --sequences N              how many new one-time sequences (default 50; 0: none, when the server
                             is another machine that has them already: then \`seqgen repair\`
                             copies them to the stick there, with the stick mounted)
  --server-file PATH         the server's sequence file, on this machine. If it has unused
                             sequences (server init made them), the stick gets a copy of exactly
                             those (never a second set; with --sequences N also N new ones on
                             both sides); if it is missing or used up, N new ones go into it and
                             the stick (seqgen, in lockstep). Without it: into a
                             new 0600 file in the current directory (./knockd-sequences.ALIAS, with
                             --method spa ./fwknop-access.ALIAS.conf, the access.conf stanza with
                             the keys), and print its path and the exact command to append it on
                             the server. Sequences and keys are never printed on the screen...
  --show-secrets             ...unless this: print the server's copy between scissors lines instead
  --follow-symlink           --server-file may be a symbolic link (knockd follows it too); without
                             this a symlinked server file is refused before anything is written
  --member NAME              a stick for the server on this machine, as a new member of it (as
                             \`knockstick stick add NAME\`, run as root there): a door of its own
                             (knock: its knockd stanza and one-time file, --sequences of them from
                             its own ports; spa: its own access.conf stanza and keys), never a copy
                             of another stick's door. Not with --server-file. Without it, on a
                             server, the wizard offers this and asks the name
  --server-config PATH       with --member (or for the wizard's offer): the server's settings
                             (default /etc/knockstick/server.conf; sticks.conf is next to it)
  --method knock|spa         how callhome opens the door: one-time knock sequences (default) or an
                             fwknop SPA packet (the stick then carries SPA keys, not sequences)
  --gpg-server-key FILE      with --method spa: GnuPG SPA to this fwknopd public key (armored, from
                             gpg --homedir /etc/fwknop/gnupg --armor --export FPR): a new client key
                             in the stick's .gnupg, and the server-side import printed
  --door-policy single-use|window
                             what the server's door admits (default single-use: the first new
                             connection from the knocking address, as \`server init\` makes it);
                             window: every connection from it until the door closes (an older or
                             hand-made server), and a door still open may be reused
  --owner USER               who owns the files when mounted (default: the user who ran sudo)
  --name NAME                /dev/mapper name secureon uses (default knockstick)
  --mountpoint DIR           where secureon mounts it (default /mnt/secure; the stick's ssh
                             config names its files there)
  --host-config FILE         where to remember the stick (default /etc/knockstick/stick.conf)
  --no-remember              do not write the host config
  --into DIR                 write only the files, into DIR (a volume you opened yourself; never
                             a home directory, nor one whose .ssh is a user's ~/.ssh)
  --executable               also carry .knockstick/knockstick-linux-x64, a self-contained build
                             (Node single executable, about 100 MB: make it first with
                             \`npm run build:sea\`); the launchers use it on Linux x86_64, so
                             callhome runs even where node is not installed
  --weak-pbkdf-for-tests     pbkdf2 with 1000 iterations instead of argon2id: fast and weak,
                             for automated tests only; never for a real stick
  --no-device-mapper-check-for-tests
                             skip the up-front device-mapper check (tests of a kernel without it
                             that must still reach \`cryptsetup open\`); for automated tests only
  -y, --yes                  no questions: every answer comes from the flags
  -h, --help                 this help
  -v, -V, --version          print knockstick's version

Examples:
  sudo ${cmd}
  truncate -s 64M try.img && sudo ${cmd} --device "$PWD/try.img"
  sudo ${cmd} --yes --device /dev/sdb --confirm-device /dev/sdb --partition-mib 64 \\
       --hostname home.example.org --user alice --server-host-key host_key.pub \\
       --luks-passphrase-file luks.pass --key-passphrase-file key.pass

Exit codes: 0 done (or stopped at the confirmation, nothing changed), 1 unexpected error,
2 bad command line or unsafe disk (nothing changed), 3 invalid config file, 5 device busy,
6 a device or file operation failed (the message says which; temporary mounts and mappings are
undone), 10 wrong passphrase, 130 interrupted (Ctrl-C, or Ctrl-C at a question: "cancelled"; 143 for
SIGTERM): the running program is stopped, the loop device, mapping, mount and temp dirs undone,
and with --into the files written so far removed; one line says what was undone.
`;
}
