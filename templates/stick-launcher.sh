#!/bin/sh
# {{name}}: knockstick on this stick, written by `knockstick usbsetup`.
# Runs the single-file knockstick in .knockstick/ with this machine's node, so nothing has to be
# installed here but node (18.19 or newer: what Debian 12 and Ubuntu 24.04 install) and the OpenSSH
# client. Run it as `sh {{name}}` or
# `./{{name}}` from the stick, or by its full path from anywhere: it finds the stick by itself.
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || exit 1

if ! command -v ssh >/dev/null 2>&1; then
  echo "{{name}}: ssh (the OpenSSH client) is not installed on this machine." >&2
  echo "  Debian/Ubuntu: apt install openssh-client   Fedora: dnf install openssh-clients   macOS: built in" >&2
  exit 127
fi

# A self-contained build (usbsetup --executable) runs even where node is missing.
if [ -x "$here/.knockstick/knockstick-linux-x64" ] && [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  KNOCKSTICK_LAUNCHER_DIR=$here exec "$here/.knockstick/knockstick-linux-x64"{{command}} "$@"
fi

node=$(command -v node || command -v nodejs) || {
  echo "{{name}}: node is not installed on this machine (knockstick needs Node.js 18.19 or newer)." >&2
  echo "  Debian/Ubuntu: apt install nodejs   or https://nodejs.org/" >&2
  exit 127
}
# 18.19: the oldest Node the stick's bundle is built and tested for (execa needs it).
version=$("$node" -e 'process.stdout.write(process.versions.node.split(".").slice(0, 2).join(" "))' 2>/dev/null)
major=${version% *}
minor=${version#* }
case $major$minor in
  '' | *[!0-9]*) major=0 minor=0 ;;
esac
if [ "$major" -lt 18 ] || { [ "$major" -eq 18 ] && [ "$minor" -lt 19 ]; }; then
  echo "{{name}}: $node is Node.js $("$node" --version 2>/dev/null), too old: knockstick needs 18.19 or newer." >&2
  exit 127
fi
KNOCKSTICK_LAUNCHER_DIR=$here exec "$node" "$here/.knockstick/knockstick.mjs"{{command}} "$@"
