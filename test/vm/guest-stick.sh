#!/bin/sh
# Runs inside the test VM (scripts/vm), as root, with a real dm-crypt kernel and a blank 64 MiB
# virtual stick at /dev/vdb. Prints one "CHECK <name> ok|fail <detail>" line per check;
# test/vm/stick.test.ts turns each into a jest test. Keeps going after a failure, so one run
# reports everything.
cd /opt/knockstick || exit 1
KS="node /opt/knockstick/dist/bin/knockstick.js"
STICK=/dev/vdb
MP=/mnt/secure
T=/tmp/ks
mkdir -p $T

check() { # NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then echo "CHECK $1 ok $3"; else echo "CHECK $1 fail $3"; fi
}
expect_exit() { # NAME WANTED GOT LOGFILE
  if [ "$3" -eq "$2" ]; then echo "CHECK $1 ok exit $3"; else echo "CHECK $1 fail exit $3 (wanted $2): $(tr '\n' ' ' <"$4" | cut -c1-600)"; fi
}

# Passphrases as a user would keep them: files with a trailing newline (dropped by usbsetup).
printf 'correct horse luks\n' >$T/luks
printf 'battery staple key\n' >$T/key
printf 'not the passphrase\n' >$T/wrong
chmod 600 $T/luks $T/key $T/wrong

# A loopback sshd, so "ssh -F .ssh/config" is checked for real: key permissions on vfat included.
mkdir -p /etc/ssh /run/sshd /home/user/.ssh
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
cat >/etc/ssh/sshd_config <<'EOF'
ListenAddress 127.0.0.1
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd.pid
EOF
/usr/sbin/sshd -f /etc/ssh/sshd_config -E $T/sshd.log
check sshd-started $? ''

# 1. usbsetup --yes on the blank stick: a 32 MiB LUKS partition at the end, vfat inside.
$KS usbsetup --yes --device $STICK --confirm-device $STICK --partition-mib 32 \
  --hostname 127.0.0.1 --user user --owner user --server-host-key /etc/ssh/ssh_host_ed25519_key.pub \
  --luks-passphrase-file $T/luks --key-passphrase-file $T/key --sequences 10 \
  --server-file $T/server-sequences --weak-pbkdf-for-tests >$T/usbsetup.out 2>$T/usbsetup.err
expect_exit usbsetup 0 $? $T/usbsetup.err
grep -q 'Stick ready: /dev/vdb2' $T/usbsetup.out
check usbsetup-partition $? "$(head -1 $T/usbsetup.out)"
grep -q '^luks_uuid = ' /etc/knockstick/stick.conf && grep -q '^owner = user$' /etc/knockstick/stick.conf
check host-config-remembered $? "$(tr '\n' ' ' </etc/knockstick/stick.conf | cut -c1-300)"
[ "$(blkid -o value -s TYPE /dev/vdb1)" = vfat ]
check ordinary-part-vfat $? "$(blkid /dev/vdb1)"
[ ! -e /dev/mapper/knockstick-setup-* ] && ! grep -q knockstick-setup /proc/mounts
check usbsetup-left-nothing-open $? ''

# 2. secureoff on a closed stick: nothing to do. secureon by the remembered LUKS UUID (no udev here).
$KS secureoff >$T/off0.out 2>&1
expect_exit secureoff-when-closed 0 $? $T/off0.out
$KS secureon --passphrase-file $T/luks >$T/on.out 2>&1
expect_exit secureon 0 $? $T/on.out
grep -q " $MP vfat .*uid=1000,gid=1000,.*fmask=0077,dmask=0077" /proc/mounts
check mounted-vfat-for-owner $? "$(grep " $MP " /proc/mounts)"

# 3. The files: modes, key, config, the sequences in lockstep with the server copy.
for f in callhome knockstick .knockstick/knockstick.mjs .ssh/config .ssh/id_ed25519 .ssh/id_ed25519.pub .ssh/known_hosts .ssh/sequences; do
  [ -f "$MP/$f" ] || echo "missing $f" >>$T/missing
done
[ ! -s $T/missing ]
check stick-files $? "$(cat $T/missing 2>/dev/null)"
[ "$(stat -c '%u %a' $MP/.ssh/id_ed25519)" = '1000 700' ]
check key-owner-and-mode $? "$(stat -c '%u %a' $MP/.ssh/id_ed25519)"
cmp -s $MP/.ssh/sequences $T/server-sequences && [ "$(wc -l <$MP/.ssh/sequences)" -eq 10 ]
check sequences-in-lockstep $? "$(wc -l <$MP/.ssh/sequences) lines"
# Absolute paths to secureon's mount point and the ProxyCommand that knocks (usbsetup --mountpoint):
# mounted where it was prepared, secureon rewrote nothing.
grep -q '^  IdentityFile "/mnt/secure/.ssh/id_ed25519"$' $MP/.ssh/config && grep -q '^  HostName 127.0.0.1$' $MP/.ssh/config &&
  grep -q "^  ProxyCommand '/mnt/secure/knockstick' connect %n %h %p$" $MP/.ssh/config && ! grep -q rewrote $T/on.out
check ssh-config $? "$(tr '\n' '|' <$MP/.ssh/config)"

# 4. ssh -F with the stick's config, as the owner (uid 1000), key passphrase through askpass. No
#    knockd here: the ProxyCommand (knocking, checked in the lab) is set aside, the key is the point.
cp $MP/.ssh/id_ed25519.pub /home/user/.ssh/authorized_keys
chown -R 1000:1000 /home/user && chmod 700 /home/user/.ssh
printf '#!/bin/sh\necho "battery staple key"\n' >$T/askpass && chmod 755 $T/askpass && chmod 755 $T
# Bounded: a prompt nobody answers must fail the check, not hang the VM.
as_user() { timeout 120 /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups env HOME=/home/user USER=user PATH="$PATH" SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=vm:0 "$@"; }
(cd / && as_user ssh -F $MP/.ssh/config -o ProxyCommand=none -o BatchMode=no home 'echo hello-from-$(id -un)') >$T/ssh.out 2>&1 </dev/null
expect_exit ssh-with-stick-config 0 $? $T/ssh.out
grep -q hello-from-user $T/ssh.out
check ssh-reached-the-server $? "$(tr '\n' ' ' <$T/ssh.out | cut -c1-300)"

# 5. callhome --dry-run from the mounted stick through its launcher, as the owner.
(cd /tmp && as_user sh $MP/callhome --dry-run) >$T/dry.out 2>&1 </dev/null
expect_exit callhome-dry-run-via-launcher 0 $? $T/dry.out
# The launcher says clearly what is missing when node is absent.
mkdir -p $T/nonode && for t in ssh dirname uname; do ln -sf "$(command -v $t)" $T/nonode/$t; done
(PATH=$T/nonode /bin/sh $MP/callhome --dry-run) >$T/nonode.out 2>&1
expect_exit launcher-without-node 127 $? $T/nonode.out
grep -q 'node is not installed' $T/nonode.out
check launcher-names-node $? "$(head -1 $T/nonode.out)"

# 6. secureon again: already mounted. A busy stick: secureoff refuses and names the process.
$KS secureon --passphrase-file $T/luks >$T/on2.out 2>&1
expect_exit secureon-already-mounted 5 $? $T/on2.out
(cd $MP && exec sleep 60) &
busy=$!
sleep 1
$KS secureoff >$T/busy.out 2>&1
expect_exit secureoff-while-busy 5 $? $T/busy.out
grep -q "pid $busy (sleep): working directory $MP" $T/busy.out
check secureoff-names-process $? "$(tr '\n' ' ' <$T/busy.out | cut -c1-300)"
grep -q " $MP " /proc/mounts
check still-mounted-after-refusal $? ''
kill $busy 2>/dev/null; wait $busy 2>/dev/null
$KS secureoff >$T/off.out 2>&1
expect_exit secureoff 0 $? $T/off.out
[ ! -e /dev/mapper/knockstick ] && ! grep -q " $MP " /proc/mounts
check closed-and-unmounted $? ''

# 7. Failures: wrong passphrase, device gone, mountpoint busy.
$KS secureon --passphrase-file $T/wrong >$T/wrong.out 2>&1
expect_exit secureon-wrong-passphrase 10 $? $T/wrong.out
grep -q 'wrong passphrase' $T/wrong.out && [ ! -e /dev/mapper/knockstick ]
check wrong-passphrase-message $? "$(head -1 $T/wrong.out)"
$KS secureon /dev/vdz --passphrase-file $T/luks >$T/gone.out 2>&1
expect_exit secureon-device-gone 6 $? $T/gone.out
mkdir -p /mnt/other && mount -t tmpfs other /mnt/other
$KS secureon --mountpoint /mnt/other --passphrase-file $T/luks >$T/mpbusy.out 2>&1
expect_exit secureon-mountpoint-busy 5 $? $T/mpbusy.out
[ ! -e /dev/mapper/knockstick ]
check nothing-left-open $? ''

# 7b. Another computer: secureon --remember learns the stick's LUKS UUID into its own host config.
$KS secureon --remember /dev/vdb2 --host-config $T/other.conf --mountpoint /mnt/other2 --owner user \
  --passphrase-file $T/luks >$T/remember.out 2>&1
expect_exit secureon-remember 0 $? $T/remember.out
grep -q "^luks_uuid = $(cryptsetup luksUUID /dev/vdb2)$" $T/other.conf && grep -q ' /mnt/other2 vfat ' /proc/mounts
check remembered-uuid-and-mounted $? "$(tr '\n' ' ' <$T/other.conf | cut -c1-300)"
# Mounted at another place: secureon rewrote the stick's paths there, and said so.
grep -q '^  IdentityFile "/mnt/other2/.ssh/id_ed25519"$' /mnt/other2/.ssh/config &&
  grep -q "^  ProxyCommand '/mnt/other2/knockstick' connect %n %h %p$" /mnt/other2/.ssh/config &&
  grep -q '^rewrote 3 stick path(s) in /mnt/other2/.ssh/config for /mnt/other2:$' $T/remember.out
check secureon-relocated-paths $? "$(tr '\n' '|' <$T/remember.out | cut -c1-600)"
$KS secureoff --host-config $T/other.conf >$T/other-off.out 2>&1
expect_exit secureoff-other-config 0 $? $T/other-off.out
# Opened by hand (cryptsetup) but not mounted: secureon mounts it without asking for the passphrase.
printf 'correct horse luks' | cryptsetup open --key-file - /dev/vdb2 knockstick
$KS secureon </dev/null >$T/resume.out 2>&1
expect_exit secureon-already-open-mounts-it 0 $? $T/resume.out
grep -q 'already open' $T/resume.out && grep -q " $MP vfat " /proc/mounts
check resume-message $? "$(head -1 $T/resume.out)"
$KS secureoff >$T/resume-off.out 2>&1
expect_exit secureoff-after-resume 0 $? $T/resume-off.out

# 8. Whole disks: exfat on /dev/vdc, ext4 on /dev/vdd, each with its own mapper name, mountpoint
#    and host config (two sticks on one computer).
for fs in exfat ext4; do
  dev=/dev/vdc; [ $fs = ext4 ] && dev=/dev/vdd
  $KS usbsetup --yes --device $dev --confirm-device $dev --filesystem $fs --hostname 127.0.0.1 --user user \
    --owner user --server-host-key /etc/ssh/ssh_host_ed25519_key.pub --luks-passphrase-file $T/luks --key-passphrase-file $T/key --sequences 3 --name ks-$fs \
    --mountpoint /mnt/$fs --host-config $T/$fs.conf --weak-pbkdf-for-tests >$T/$fs-setup.out 2>&1
  expect_exit $fs-usbsetup 0 $? $T/$fs-setup.out
  $KS secureon --host-config $T/$fs.conf --passphrase-file $T/luks >$T/$fs-on.out 2>&1
  expect_exit $fs-secureon 0 $? $T/$fs-on.out
done
grep -q " /mnt/exfat exfat .*uid=1000,gid=1000,fmask=0077,dmask=0077" /proc/mounts
check exfat-mounted-for-owner $? "$(grep ' /mnt/exfat ' /proc/mounts)"
[ "$(stat -c '%u %a' /mnt/exfat/.ssh/id_ed25519)" = '1000 700' ]
check exfat-key-mode $? "$(stat -c '%u %a' /mnt/exfat/.ssh/id_ed25519)"
[ "$(stat -c '%u %a' /mnt/ext4/.ssh/id_ed25519)" = '1000 600' ] && [ "$(stat -c '%u %a' /mnt/ext4/.ssh)" = '1000 700' ]
check ext4-real-owner-and-modes $? "$(stat -c '%n %u %a' /mnt/ext4/.ssh /mnt/ext4/.ssh/id_ed25519 | tr '\n' ' ')"
cp /mnt/ext4/.ssh/id_ed25519.pub /home/user/.ssh/authorized_keys
(cd / && as_user ssh -F /mnt/ext4/.ssh/config -o ProxyCommand=none -o BatchMode=no home true) >$T/ext4-ssh.out 2>&1 </dev/null
expect_exit ext4-ssh-accepts-key 0 $? $T/ext4-ssh.out
$KS secureoff --host-config $T/exfat.conf >>$T/second-off.out 2>&1 && $KS secureoff --host-config $T/ext4.conf >>$T/second-off.out 2>&1 &&
  [ ! -e /dev/mapper/ks-exfat ] && [ ! -e /dev/mapper/ks-ext4 ]
check second-sticks-closed $? "$(tr '\n' ' ' <$T/second-off.out | cut -c1-300)"
# ext4 keeps real owners: root's secureon, relocating at another mount point, leaves the config
# the owner's (uid 1000, mode 600), and ssh as the owner still takes it.
$KS secureon --host-config $T/ext4.conf --mountpoint /mnt/ext4-moved --passphrase-file $T/luks >$T/ext4-moved.out 2>&1
expect_exit ext4-secureon-elsewhere 0 $? $T/ext4-moved.out
[ "$(stat -c '%u %a' /mnt/ext4-moved/.ssh/config)" = '1000 600' ] && grep -q '^  UserKnownHostsFile "/mnt/ext4-moved/.ssh/known_hosts"$' /mnt/ext4-moved/.ssh/config &&
  (cd / && as_user ssh -F /mnt/ext4-moved/.ssh/config -o ProxyCommand=none -o BatchMode=no home true) >>$T/ext4-moved.out 2>&1 </dev/null
check ext4-relocated-keeps-owner $? "$(stat -c '%u %a' /mnt/ext4-moved/.ssh/config) $(tr '\n' '|' <$T/ext4-moved.out | cut -c1-400)"
$KS secureoff --host-config $T/ext4.conf --mountpoint /mnt/ext4-moved >$T/ext4-moved-off.out 2>&1
expect_exit ext4-moved-closed 0 $? $T/ext4-moved-off.out

# 9. Interrupted with the volume open and mounted (real dm-crypt here): SIGINT on /dev/vdc, SIGTERM
#    on /dev/vdd, once usbsetup says it is writing the key. Everything it started is undone: the
#    mount, the mapping, its temp dirs; exit 130/143 and one line.
for sig in INT TERM; do
  dev=/dev/vdc; want=130; [ $sig = TERM ] && { dev=/dev/vdd; want=143; }
  $KS usbsetup --yes --device $dev --confirm-device $dev --filesystem ext4 --hostname 127.0.0.1 --user user \
    --luks-passphrase-file $T/luks --key-passphrase-file $T/key --sequences 3 --host-config $T/int.conf \
    --weak-pbkdf-for-tests >$T/int-$sig.out 2>$T/int-$sig.err &
  pid=$!
  i=0
  while [ $i -lt 1200 ] && ! grep -q '==> the key' $T/int-$sig.err; do sleep 0.1; i=$((i + 1)); done
  kill -$sig $pid
  wait $pid
  got=$?
  if [ $got -eq $want ] && [ "$(grep -vc '^==> ' $T/int-$sig.err)" -eq 1 ] &&
    grep -q "^knockstick usbsetup: interrupted by SIG$sig; undone: .*unmounted /tmp/knockstick-setup-.*closed knockstick-setup-" $T/int-$sig.err &&
    [ -z "$(ls /dev/mapper | grep knockstick-setup)" ] && ! grep -q knockstick-setup /proc/mounts &&
    [ -z "$(ls /tmp | grep -E 'knockstick-(setup|askpass)-')" ]; then
    echo "CHECK interrupted-$sig-undone ok exit $got"
  else
    echo "CHECK interrupted-$sig-undone fail exit $got (wanted $want): $(tr '\n' ' ' <$T/int-$sig.err | cut -c1-600) mapper: $(ls /dev/mapper | tr '\n' ' ') mounts: $(grep -c knockstick-setup /proc/mounts)"
  fi
done

echo "CHECK guest-done ok"
