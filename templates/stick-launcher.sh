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

# callhome and connect make no TLS connection: node would only spend ~45 ms parsing this file.
case {{name}}:${1-} in
  callhome:* | knockstick:callhome | knockstick:connect) unset NODE_EXTRA_CA_CERTS ;;
esac

# A self-contained build (usbsetup --executable) runs even where node is missing.
program=
if [ -x "$here/.knockstick/knockstick-linux-x64" ] && [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  program=$here/.knockstick/knockstick-linux-x64
else
  node=$(command -v node || command -v nodejs) || {
    echo "{{name}}: node is not installed on this machine (knockstick needs Node.js 18.19 or newer)." >&2
    echo "  Debian/Ubuntu: apt install nodejs   or https://nodejs.org/" >&2
    exit 127
  }
  # 18.19: the oldest Node the stick's bundle is built and tested for (execa needs it). `--version`
  # answers before node starts its JavaScript engine: it costs no node start-up.
  version=$("$node" --version 2>/dev/null)
  version=${version#v}
  major=${version%%.*}
  minor=${version#*.}
  minor=${minor%%.*}
  case $major$minor in
    '' | *[!0-9]*) major=0 minor=0 ;;
  esac
  if [ "$major" -lt 18 ] || { [ "$major" -eq 18 ] && [ "$minor" -lt 19 ]; }; then
    echo "{{name}}: $node is Node.js $("$node" --version 2>/dev/null), too old: knockstick needs 18.19 or newer." >&2
    exit 127
  fi
fi

# connect alone (ssh's ProxyCommand, on every connection) runs from the small bundle when the stick
# has it: node compiles a module whole, and the full one costs each connection ~25 ms more.
bundle=$here/.knockstick/knockstick.mjs
if [ -f "$here/.knockstick/connect.mjs" ]; then
  bundle=$here/.knockstick/connect.mjs
fi
if [ -z "$program" ] && [ {{name}} = knockstick ] && [ "${1-}" = connect ]; then
  KNOCKSTICK_LAUNCHER_DIR=$here exec "$node" "$bundle" "$@"
fi

# The fast way for a plain `callhome [ALIAS] [-- SSH_ARGS]`: ssh starts now, and node starts once,
# as ssh's ProxyCommand (`knockstick connect`), which knocks while ssh starts and hands ssh the very
# connection that found the door open. Anything else (flags) goes to node's callhome below.
fast=
if [ {{name}} = callhome ]; then
  alias=home
  fast=yes
  # Looked at, not shifted, until the fast way is sure: the slow way gets every word as given.
  skip=0
  next=${1-}
  case $next in
    '' | --) ;;
    [A-Za-z0-9]*)
      case $next in
        *[!A-Za-z0-9._-]*) fast= ;;
        *) alias=$next skip=1 next=${2-} ;;
      esac
      ;;
    *) fast= ;;
  esac
  if [ -n "$fast" ]; then
    case $next in
      '') [ $# -eq "$skip" ] || fast= ;;
      --) skip=$((skip + 1)) ;;
      *) fast= ;;
    esac
  fi
fi

# The stick's config names its files by absolute path, for where the stick was mounted when it was
# made; mounted elsewhere, ssh is told where they are now (below). A directory name ssh's -o cannot
# carry in double quotes (", \, ${) goes the slow way: node's callhome rewrites the config.
case $here in
  *[\"\\]* | *'${'*) fast= ;;
esac

if [ -n "$fast" ]; then
  shift "$skip"
  # One word of ssh's ProxyCommand: single-quoted for sh, "%" doubled for ssh.
  quote() {
    case $1 in
      *[\'%]*) quoted="'$(printf '%s' "$1" | sed -e "s/'/'\\\\''/g" -e 's/%/%%/g')'" ;;
      *) quoted="'$1'" ;;
    esac
  }
  if [ -n "$program" ]; then
    quote "$program"
    proxy="$quoted connect %n %h %p"
  else
    quote "$node"
    proxy=$quoted
    quote "$bundle"
    proxy="$proxy $quoted connect %n %h %p"
  fi
  # The proxy leaves its exit code here when it fails before relaying (7 door closed, 8 none left):
  # ssh can only say 255, and callhome's codes are what scripts check.
  # ssh expands %-tokens in these paths too.
  case $here in
    *%*) files=$(printf '%s' "$here" | sed 's/%/%%/g') ;;
    *) files=$here ;;
  esac
  status=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/knockstick-callhome-XXXXXXXXXX") || exit 6
  # Ctrl-C is ssh's (and the proxy's): wait for them, then clean up. A handler, not '' (ignored
  # signals stay ignored in ssh).
  trap ':' INT
  # ssh runs in the stick: relative IdentityFile/UserKnownHostsFile mean the stick's files.
  (
    cd "$here" || exit 6
    KNOCKSTICK_LAUNCHER_DIR=$here KNOCKSTICK_CONNECT_STATUS=$status KNOCKSTICK_CONNECT='{"name":"callhome","report":true}'
    export KNOCKSTICK_LAUNCHER_DIR KNOCKSTICK_CONNECT_STATUS KNOCKSTICK_CONNECT
    exec ssh -F "$here/.ssh/config" -o "ProxyCommand=$proxy" -o "UserKnownHostsFile=\"$files/.ssh/known_hosts\"" -o "IdentityFile=\"$files/.ssh/id_ed25519\"" -o ConnectTimeout={{connect_timeout}} "$alias" "$@"
  )
  rc=$?
  if [ -f "$status/exit" ]; then
    read -r code < "$status/exit" && case $code in '' | *[!0-9]*) ;; *) rc=$code ;; esac
  fi
  rm -rf -- "$status"
  exit "$rc"
fi

if [ -n "$program" ]; then
  KNOCKSTICK_LAUNCHER_DIR=$here exec "$program"{{command}} "$@"
fi
KNOCKSTICK_LAUNCHER_DIR=$here exec "$node" "$here/.knockstick/knockstick.mjs"{{command}} "$@"
