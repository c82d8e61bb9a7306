#!/bin/sh
# /usr/local/sbin/knockstick-secure: open or close this computer's knockstick, as root, with fixed
# arguments. Install it owned by root, mode 0755, and allow it in sudoers with exactly "on" or "off"
# (see knockstick.sudoers): a user can then open and mount THE stick named in
# /etc/knockstick/stick.conf, and nothing else; unlike a blanket `NOPASSWD: /sbin/cryptsetup`,
# which lets any user open or close any device. Every other argument is refused.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
node={{node}}
cli={{cli}}
case "${1-}:${2-}" in
  on:) exec "$node" "$cli" secureon --host-config /etc/knockstick/stick.conf ;;
  off:) exec "$node" "$cli" secureoff --host-config /etc/knockstick/stick.conf ;;
  *)
    echo "usage: sudo $0 on|off" >&2
    exit 2
    ;;
esac
