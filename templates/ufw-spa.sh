#!/bin/sh
# knockstick firewall for SPA (ufw): incoming connections are denied, except SPA packets for
# fwknopd on udp/{{spa_port}}. fwknopd opens tcp/{{ssh_port}} for a packet's address with ufw itself
# (access.conf CMD_CYCLE_OPEN: ufw allow ...) and closes it after {{seconds}} s (CMD_CYCLE_CLOSE:
# ufw delete allow ...). Doors (window): every new connection from that address until then; a
# connection made meanwhile stays up (ufw lets established connections through).
# Run it once as root: sh ufw-spa.sh
set -e
ufw default deny incoming
ufw allow {{spa_port}}/udp
# A rule letting SSH in from anywhere would make the door pointless: removed if it is there.
ufw delete allow {{ssh_port}}/tcp >/dev/null 2>&1 || true
ufw delete allow OpenSSH >/dev/null 2>&1 || true
{{allow}}
ufw --force enable
