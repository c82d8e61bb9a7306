#!/bin/sh
# knockstick router (iptables): SSH to {{ssh_port}} on {{interface}} is forwarded to an inner host
# only while knockd has a DNAT rule for the knocking address in the KNOCKSTICK_DNAT chain.
# Idempotent: run it at every boot, after your own rules. It adds nothing else to your tables.
set -e
iptables -t nat -N KNOCKSTICK_DNAT 2>/dev/null || true
iptables -t nat -C PREROUTING -i {{interface}} -j KNOCKSTICK_DNAT 2>/dev/null || iptables -t nat -A PREROUTING -i {{interface}} -j KNOCKSTICK_DNAT
{{forward}}
