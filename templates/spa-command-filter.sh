#!/bin/sh
# knockstick: the only program fwknopd runs for an SPA command message. fwknopd 2.6 has no setting
# that limits which commands a packet may run (ENABLE_CMD_EXEC runs any); with ENABLE_CMD_SUDO_EXEC
# it puts its SUDO_EXE (fwknopd.conf: this file) in front of the command, split into words. This
# runs the command only if the whole of it matches the --allow-command regex (POSIX extended,
# anchored at both ends), as root, with no shell; anything else is refused (exit 126).
ALLOW={{regex}}
command=$*
if printf '%s' "$command" | grep -Ezqx -e "$ALLOW"; then
  exec "$@"
fi
printf 'knockstick: refused SPA command (not matching --allow-command): %s\n' "$command" >&2
exit 126
