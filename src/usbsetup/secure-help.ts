const COMMON = `Options:
  --host-config FILE     the computer's note about its stick (default /etc/knockstick/stick.conf)
  --name NAME            /dev/mapper name (default: from the host config, else knockstick)
  --mountpoint DIR       where it is mounted (default: from the host config, else /mnt/secure)
  -h, --help             this help
  -v, -V, --version      print knockstick's version`;

export function secureonHelp(cmd: string): string {
  return `${cmd}: open the stick's encrypted volume and mount it for you.

Usage:
  sudo ${cmd}                    the stick remembered by usbsetup (found by its LUKS UUID, sda or sdb)
  sudo ${cmd} DEVICE             this device (/dev/sdb2) or disk image file
  sudo ${cmd} --remember DEVICE  open it and remember its LUKS UUID for next time
  ${cmd} --print-host-setup      print the files for a narrow sudo rule (see HOST SETUP)

The passphrase is typed into cryptsetup (3 tries), or read from --passphrase-file FILE (- for
stdin; a FIFO or <(...) works too; one trailing newline dropped). vfat and exfat are mounted with
uid=, gid= of the owner and umask=077, so only you can read the files and ssh accepts the key
(chmod does nothing on vfat); ext4 keeps the modes usbsetup wrote. Always nosuid,nodev.

${COMMON}
  --owner USER           who gets the files (default: the host config's owner, else the user who
                         ran sudo, else root)
  --passphrase-file F    read the passphrase from F (- for stdin) instead of the terminal
  --remember             write DEVICE's LUKS UUID (and --name/--mountpoint/--owner) to the host config
  --print-host-setup     print the wrapper, sudoers, secureon/secureoff scripts, fstab and udev lines

HOST SETUP (so a user can run secureon without full root, and without the usual blanket
"NOPASSWD: /sbin/cryptsetup" in sudoers, which lets that user open or close any device):
  1. cp the knockstick bundle (dist/bin/knockstick.js, or the stick's .knockstick/knockstick.mjs) to
     /usr/local/lib/knockstick/knockstick.mjs, owned by root, mode 0644.
  2. ${cmd} --print-host-setup prints /usr/local/sbin/knockstick-secure (a root-owned wrapper that
     takes only "on" or "off"), its sudoers line, /usr/local/bin/secureon and secureoff, an fstab
     line and a udev rule for a stable /dev/knockstick. Install each as its header says.

Examples:
  sudo ${cmd}
  sudo ${cmd} --remember /dev/sdb2 --owner alice
  ${cmd} --print-host-setup --owner alice

Exit codes: 0 open and mounted, 1 unexpected error, 2 bad command line or not root, 3 invalid host
config, 5 already open and mounted, or the mountpoint is busy, 6 device gone or not LUKS, a tool
missing, mount failed (the volume is closed again), 10 wrong passphrase.
`;
}

export function secureoffHelp(cmd: string): string {
  return `${cmd}: unmount the stick and close its encrypted volume, so it can be unplugged.

Usage:
  sudo ${cmd}

Refuses while a process still uses the stick (a shell in it, an ssh started by callhome, an open
file) and names each one: pid, program, and how it uses the stick. Otherwise: sync, unmount, close
the volume, and detach the loop device of an image file secureon attached.

${COMMON}

Examples:
  sudo ${cmd}

Exit codes: 0 closed (or it was not open), 1 unexpected error, 2 bad command line or not root,
3 invalid host config, 5 the stick is in use (nothing was unmounted), 6 unmount or close failed.
`;
}
