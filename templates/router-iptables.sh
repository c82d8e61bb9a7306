#!/bin/sh
# knockstick router (iptables): SSH to {{ssh_port}} on {{interface}} is forwarded to an inner host
# only for an address knockd has put into that host's xt_recent list (knockstick_NAME) less than
# cmd_timeout seconds ago. Doors ({{door_policy}}): {{door_policy_words}}
# Idempotent: run it at every boot, after your own rules. It adds nothing else to your tables.
# KNOCKSTICK_DNAT holds doors added as rules by an older knockd.conf; panic empties it and the lists.
set -e
iptables -t nat -N KNOCKSTICK_ROUTER 2>/dev/null || true
iptables -t nat -F KNOCKSTICK_ROUTER
{{doors}}
iptables -t nat -C PREROUTING -i {{interface}} -j KNOCKSTICK_ROUTER 2>/dev/null || iptables -t nat -A PREROUTING -i {{interface}} -j KNOCKSTICK_ROUTER
iptables -t nat -N KNOCKSTICK_DNAT 2>/dev/null || true
iptables -t nat -C PREROUTING -i {{interface}} -j KNOCKSTICK_DNAT 2>/dev/null || iptables -t nat -A PREROUTING -i {{interface}} -j KNOCKSTICK_DNAT
{{forward}}
