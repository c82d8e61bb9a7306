#!/usr/bin/python3
# Adds a fixed one-way delay to every packet of one netfilter queue, for the benchmark's rows at a
# real round-trip time: this kernel has no netem (and no fq qdisc for BPF departure times), but it
# has NFQUEUE. The bench runs this inside the lab's client namespace, with iptables rules there
# sending the client's outgoing and incoming packets on the lab veth to queue Q, so each packet is
# held DELAY_MS on the way out and again on the way in: 2 x DELAY_MS round-trip time, seen by the
# client's TCP stack, by knockd and by sshd alike. Packets leave in arrival order (a constant delay
# keeps FIFO order). Speaks nfnetlink directly (no libnetfilter_queue binding needed): Debian's
# python3 is all it needs. Prints "ready" once bound; runs until killed (the lab kills it).
#
# usage: nfqueue-delay.py QUEUE_NUM DELAY_MS

import collections
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1


def attr(kind, data):
    raw = struct.pack('=HH', 4 + len(data), kind) + data
    return raw + b'\0' * (-len(raw) % 4)


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))

    def send(self, msg, attrs, flags=NLM_F_REQUEST):
        self.seq += 1
        # nfgenmsg: family AF_UNSPEC, version 0, queue number big-endian.
        body = struct.pack('!BBH', 0, 0, self.num) + b''.join(attrs)
        self.sock.send(struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, self.seq, 0) + body)

    def configure(self, attrs):
        """Sends one config message and fails loudly on the kernel's error answer."""
        self.send(NFQNL_MSG_CONFIG, attrs, NLM_F_REQUEST | NLM_F_ACK)
        data = self.sock.recv(65536)
        _, kind = struct.unpack_from('=IH', data, 0)
        if kind == NLMSG_ERROR:
            (err,) = struct.unpack_from('=i', data, 16)
            if err != 0:
                raise OSError(-err, 'nfqueue config refused')

    def bind(self):
        self.configure([attr(NFQA_CFG_CMD, struct.pack('!BBH', NFQNL_CFG_CMD_BIND, 0, 0))])
        # Metadata only: the packet id is all a verdict needs.
        self.configure([attr(NFQA_CFG_PARAMS, struct.pack('!IB', 0, NFQNL_COPY_META))])
        self.configure([attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('!I', 8192))])

    def packet_ids(self, data):
        """The packet ids in one netlink read (several messages may come at once)."""
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from('=IH', data, off)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                a = off + 20
                end = off + length
                while a + 4 <= end:
                    alen, atype = struct.unpack_from('=HH', data, a)
                    if alen < 4:
                        break
                    if atype & 0x3FFF == NFQA_PACKET_HDR:
                        yield struct.unpack_from('!I', data, a + 4)[0]
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3

    def accept(self, packet_id):
        self.send(NFQNL_MSG_VERDICT, [attr(NFQA_VERDICT_HDR, struct.pack('!II', NF_ACCEPT, packet_id))])


def main():
    num = int(sys.argv[1])
    delay = float(sys.argv[2]) / 1000
    queue = Queue(num)
    queue.bind()
    print('ready', flush=True)
    held = collections.deque()  # (due, packet id), due times in arrival order
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
        readable, _, _ = select.select([queue.sock], [], [], timeout)
        if readable:
            data = queue.sock.recv(1 << 16)
            arrived = time.monotonic()
            for packet_id in queue.packet_ids(data):
                held.append((arrived + delay, packet_id))
        now = time.monotonic()
        while held and held[0][0] <= now:
            queue.accept(held.popleft()[1])


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
