#!/bin/sh
# knockstick panic: stops knockd (and fwknopd, where it runs) on your server and closes every door.
#
# Run it from any shell account, even one that cannot execute files:   sh panic
# It needs neither node nor knockstick. It sends the panic knock (one TCP SYN per port, in order)
# with the first of these it finds: python3, perl, bash (/dev/tcp) or nc. To choose one yourself:
#   PANIC_METHOD=nc sh panic
# Afterwards no knock or SPA packet opens anything until you restart knockd (and fwknopd) on the server.
# Made by `knockstick panic script`; every value below was quoted when it was written.

HOST={{host}}
# The panic sequence, preceded by a few hits on its last port: those clear any half-finished knock
# knockd may still hold for this address, so that the sequence itself is read from its start.
set -- {{knocks}}
SEQUENCE_LENGTH={{length}}

say() { printf 'panic: %s\n' "$*" >&2; }

# A fractional sleep lets the background methods drop each connection attempt after 0.2 s, well
# before the kernel would resend its SYN (about 1 s), which would reset knockd's count.
if sleep 0.2 2>/dev/null; then HOLD=0.2; else HOLD=1; say "this sleep only takes whole seconds; knocks may be less reliable"; fi

knock_python3() {
  python3 - "$HOST" "$@" <<'PY'
import signal, socket, sys, time
signal.alarm(20)  # never hang, whatever the resolver does
host, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
addr = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
for port in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((addr, port))  # sends the SYN and returns at once
    except OSError:
        pass
    s.close()
    time.sleep(0.01)
PY
}

knock_perl() {
  perl -e '
    use strict; use Socket; use Fcntl;
    alarm 20;
    my ($host, @ports) = @ARGV;
    my $ip = inet_aton($host) or die "cannot resolve $host\n";
    for my $port (@ports) {
      socket(my $s, PF_INET, SOCK_STREAM, getprotobyname("tcp")) or die "socket: $!\n";
      fcntl($s, F_SETFL, fcntl($s, F_GETFL, 0) | O_NONBLOCK);
      connect($s, sockaddr_in($port, $ip));
      close($s);
      select(undef, undef, undef, 0.01);
    }' "$HOST" "$@"
}

# One connection attempt in the background, abandoned after $HOLD seconds (its SYN is sent by then).
attempt() {
  "$@" &
  pid=$!
  sleep "$HOLD"
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

knock_bash() {
  # shellcheck disable=SC2016 # $0 and $1 are the inner bash's own arguments, expanded by it
  for port in "$@"; do attempt bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$port" 2>/dev/null; done
}

knock_nc() {
  for port in "$@"; do attempt nc "$HOST" "$port" </dev/null >/dev/null 2>&1; done
}

method=${PANIC_METHOD:-}
if [ -z "$method" ]; then
  for candidate in python3 perl bash nc; do
    if command -v "$candidate" >/dev/null 2>&1; then
      method=$candidate
      break
    fi
  done
fi
case $method in
  python3 | perl | bash | nc) ;;
  '')
    say "none of python3, perl, bash or nc is available here: nothing was sent"
    exit 1
    ;;
  *)
    say "unknown PANIC_METHOD (use python3, perl, bash or nc): nothing was sent"
    exit 2
    ;;
esac
if ! command -v "$method" >/dev/null 2>&1; then
  say "$method is not available here: nothing was sent"
  exit 1
fi

if "knock_$method" "$@"; then
  say "sent the panic knock ($SEQUENCE_LENGTH ports) to $HOST with $method."
  say "knockd (and fwknopd, where it runs) should now be stopped and every door closed; nothing opens until you restart them."
else
  say "$method failed while sending the panic knock to $HOST; try another: PANIC_METHOD=nc sh panic"
  exit 1
fi
