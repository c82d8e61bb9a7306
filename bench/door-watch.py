#!/usr/bin/python3
# knockd's door latency, measured where knockd itself listens: the benchmark runs this in the lab's
# server namespace. It watches the server's veth (an AF_PACKET socket, IP packets without the link
# header, kernel receive timestamps) for the client's knocks (TCP SYNs to any port but 22) and SPA
# packets (UDP to 62201), and `nft monitor` for the door appearing (an iptables-nft rule or an nft set element naming the
# client). For each door it prints "door METHOD MS": from the last knock/SPA packet before it to the
# rule, as a float in ms. It also prints every event as "ev KIND EPOCH_MS" (knock, spa, syn22: a SYN
# to port 22, door), so the bench can place them on each run's timeline. Prints "ready" once both
# watches run; runs until killed (the lab kills it).
#
# usage: door-watch.py IFACE CLIENT_ADDR

import os
import select
import socket
import struct
import subprocess
import sys
import time

ETH_P_IP = 0x0800
SO_TIMESTAMPNS = 35
SSH_PORT = 22
SPA_PORT = 62201


def die_with_parent():
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, 9)


def main():
    iface, client = sys.argv[1], sys.argv[2]
    client_raw = socket.inet_aton(client)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    sock.bind((iface, 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    # Line-buffered, so each event reaches us when nft sees it.
    # Its stderr not ours (the lab waits for our pipes to close), and it dies with us (SIGKILL at
    # the lab's teardown would otherwise leave it running in the namespace).
    monitor = subprocess.Popen(['stdbuf', '-oL', 'nft', 'monitor'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    mon_fd = monitor.stdout.fileno()
    pending = b''
    last = None  # (realtime seconds, 'knock' | 'spa')
    time.sleep(0.2)  # nft monitor subscribes before we say ready
    print('ready', flush=True)
    while True:
        readable, _, _ = select.select([sock, mon_fd], [], [])
        if sock in readable:
            data, ancdata, _, _ = sock.recvmsg(128, socket.CMSG_SPACE(16))
            stamp = time.time()
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack('=qq', cdata[:16])
                    stamp = sec + nsec / 1e9
            if len(data) >= 20 and data[12:16] == client_raw:
                ihl = (data[0] & 0x0F) * 4
                proto = data[9]
                if proto == 6 and len(data) >= ihl + 14:
                    dport = struct.unpack_from('!H', data, ihl + 2)[0]
                    flags = data[ihl + 13]
                    if flags & 0x02 and not flags & 0x10:
                        if dport == SSH_PORT:
                            print('ev syn22 %.3f' % (stamp * 1000), flush=True)
                        else:
                            last = (stamp, 'knock')
                            print('ev knock %.3f' % (stamp * 1000), flush=True)
                elif proto == 17 and len(data) >= ihl + 4:
                    if struct.unpack_from('!H', data, ihl + 2)[0] == SPA_PORT:
                        last = (stamp, 'spa')
                        print('ev spa %.3f' % (stamp * 1000), flush=True)
        if mon_fd in readable:
            chunk = os.read(mon_fd, 65536)
            if not chunk:
                return
            now = time.time()
            pending += chunk
            *lines, pending = pending.split(b'\n')
            for line in lines:
                text = line.decode(errors='replace')
                opened = client in text and (text.startswith('add element') or text.startswith('insert rule') or text.startswith('add rule'))
                if opened:
                    print('ev door %.3f' % (now * 1000), flush=True)
                if opened and last is not None and now - last[0] < 5:
                    print('door %s %.1f' % (last[1], (now - last[0]) * 1000), flush=True)
                    last = None


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
