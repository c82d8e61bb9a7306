#!/bin/sh
# /usr/local/bin/{{command}}: {{what}} (through the root-owned wrapper sudo allows).
exec sudo /usr/local/sbin/knockstick-secure {{action}}
