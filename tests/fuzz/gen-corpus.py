#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the seed corpus of the fuzz harnesses into corpus/<name>/ next to this script.

Deterministic: running it again rewrites the same files; other files there (crash inputs kept
for replay) are left alone. Input formats are described at the top of each fuzz-<name>.c.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- vhost-user message stream ----

GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_LOG_BASE, SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 6, 7, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 11, 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, SET_STATUS, GET_STATUS = 36, 37, 38, 39, 40
SEND_RARP = 19
LOG_ALL, LOG_SHMFD, RARP = 1 << 26, 1 << 1, 1 << 2

VERSION, NEED_REPLY = 1, 8
NOFD = 1 << 8
UVA = 0x7F0000000000
MEMFD_SIZE = 64 * 1024
FEATURES = (1 << 32) | (1 << 28) | (1 << 29) | (1 << 30)
PROTO = (1 << 0) | (1 << 3) | (1 << 15) | (1 << 16)
MEM, EVENT = 0, 1


def msg(req, payload=b"", flags=VERSION, size=None):
    """One message: header and payload (size overrides the declared length)."""
    return struct.pack("<III", req, flags, len(payload) if size is None else size) + payload


def u64(v):
    return struct.pack("<Q", v)


def state(idx, num):
    return struct.pack("<II", idx, num)


def region(gpa, size, uva, off):
    return struct.pack("<QQQQ", gpa, size, uva, off)


def mem_table(regions, n=None):
    body = b"".join(region(*r) for r in regions)
    return struct.pack("<II", len(regions) if n is None else n, 0) + body


def chunks(data, nfds=0, kind=MEM, size=32):
    """Encodes bytes as stream chunks of at most `size` bytes; fds go with the first chunks."""
    out = b""
    pos = 0
    while pos < len(data):
        piece = data[pos:pos + size]
        n = min(nfds, 3)
        nfds -= n
        out += bytes([(len(piece) - 1) | (n << 5) | (0x80 if kind == EVENT else 0)]) + piece
        pos += len(piece)
    return out


def stream(*parts):
    return b"".join(parts)


def vhost_input(s, guest=b""):
    return struct.pack("<H", len(s)) + s + guest


def ring_guest():
    """Guest memory with a ring of 8 at 0x100/0x200/0x300: a direct chain and an indirect one."""
    g = bytearray(0x600)

    def desc(i, addr, ln, flags, nxt, base=0x100):
        struct.pack_into("<QIHH", g, base + 16 * i, addr, ln, flags, nxt)

    desc(0, 0x400, 64, 1, 2)          # readable, next 2
    desc(2, 0x440, 64, 2, 0)          # writable
    desc(1, 0x500, 32, 4, 0)          # indirect table at 0x500, two entries
    desc(0, 0x480, 16, 1, 1, base=0x500)
    desc(1, 0x490, 16, 2, 0, base=0x500)
    struct.pack_into("<HHHH", g, 0x200, 0, 2, 0, 1)  # avail: flags, idx 2, ring 0, 1
    return bytes(g)


def packed_guest():
    """Guest memory with a packed ring of 6 at 0x100 (driver area 0x300, device area 0x200):
    a writable buffer, then a readable chain of two, then an indirect table of two."""
    g = bytearray(ring_guest())
    g[0x100:0x160] = bytes(0x60)
    avail = 1 << 7
    struct.pack_into("<QIHH", g, 0x100, 0x400, 64, 0, avail | 2)
    struct.pack_into("<QIHH", g, 0x110, 0x440, 16, 1, avail | 1)
    struct.pack_into("<QIHH", g, 0x120, 0x450, 16, 1, avail)
    struct.pack_into("<QIHH", g, 0x130, 0x500, 32, 2, avail | 4)
    struct.pack_into("<HH", g, 0x300, 0x8002, 2)  # driver area: interrupt at slot 2 (DESC)
    return bytes(g)


def bring_up(ring=0, kick_nofd=False, proto=PROTO, features=FEATURES, num=8, base=0):
    parts = [
        chunks(msg(GET_FEATURES)),
        chunks(msg(GET_PROTOCOL_FEATURES)),
        chunks(msg(SET_PROTOCOL_FEATURES, u64(proto))),
        chunks(msg(SET_FEATURES, u64(features))),
        chunks(msg(GET_QUEUE_NUM)),
        chunks(msg(SET_MEM_TABLE, mem_table([(0, MEMFD_SIZE, UVA, 0)])), 1, MEM),
        chunks(msg(SET_VRING_NUM, state(ring, num))),
        chunks(msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", ring, 0, UVA + 0x100, UVA + 0x300,
                                               UVA + 0x200, 0))),
        chunks(msg(SET_VRING_BASE, state(ring, base))),
        chunks(msg(SET_VRING_CALL, u64(ring)), 1, EVENT),
        chunks(msg(SET_VRING_ERR, u64(ring)), 1, EVENT),
    ]
    if kick_nofd:
        parts.append(chunks(msg(SET_VRING_KICK, u64(ring | NOFD))))
    else:
        parts.append(chunks(msg(SET_VRING_KICK, u64(ring)), 1, EVENT))
    parts.append(chunks(msg(SET_VRING_ENABLE, state(ring, 1))))
    return stream(*parts)


def vhost_seeds():
    seeds = {}
    seeds["session"] = vhost_input(
        stream(bring_up(), chunks(msg(GET_VRING_BASE, state(0, 0))),
               chunks(msg(SET_STATUS, u64(0x0F))), chunks(msg(GET_STATUS))), ring_guest())
    # Packed rings: a size that is not a power of two, QEMU's two-halves base, a stop and a
    # restart at the base the device answered; then a base beyond the ring.
    packed = FEATURES | (1 << 34) | (1 << 35)
    seeds["packed-session"] = vhost_input(stream(
        bring_up(features=packed, num=6, base=0x80008000),
        chunks(msg(GET_VRING_BASE, state(0, 0))),
        chunks(msg(SET_VRING_BASE, state(0, 0x80038003))),
        chunks(msg(SET_VRING_KICK, u64(0)), 1, EVENT),
        chunks(msg(SET_VRING_ENABLE, state(0, 1))),
        chunks(msg(GET_VRING_BASE, state(0, 0))),
        chunks(msg(SET_VRING_BASE, state(0, 0x8006))),
        chunks(msg(SET_VRING_KICK, u64(0)), 1, EVENT)), packed_guest())
    seeds["session-ring1-polling"] = vhost_input(bring_up(ring=1, kick_nofd=True), ring_guest())
    seeds["session-bytewise"] = vhost_input(
        stream(chunks(msg(GET_FEATURES), size=1),
               chunks(msg(SET_MEM_TABLE, mem_table([(0, MEMFD_SIZE, UVA, 0)])), 1, MEM, size=1),
               chunks(msg(GET_MAX_MEM_SLOTS), size=1)))
    seeds["need-reply"] = vhost_input(stream(
        chunks(msg(SET_PROTOCOL_FEATURES, u64(1 << 3))),
        chunks(msg(SET_VRING_NUM, state(0, 256), VERSION | NEED_REPLY)),
        chunks(msg(SET_VRING_NUM, state(0, 3), VERSION | NEED_REPLY)),
        chunks(msg(SET_FEATURES, u64(1 << 60), VERSION | NEED_REPLY)),
        chunks(msg(GET_FEATURES, flags=VERSION | NEED_REPLY)),
        chunks(msg(99, u64(0), VERSION | NEED_REPLY), 1, EVENT),
        chunks(msg(SET_VRING_CALL, u64(200), VERSION | NEED_REPLY), 1, EVENT),
        chunks(msg(GET_STATUS, flags=VERSION | NEED_REPLY))))
    seeds["mem-regions"] = vhost_input(stream(
        chunks(msg(SET_PROTOCOL_FEATURES, u64(PROTO))),
        chunks(msg(SET_MEM_TABLE, mem_table([(0, 0x4000, UVA, 0), (0x10000, 0x4000, UVA + 0x10000,
                                                                  0x4000),
                                             (0x20000, 0x100, UVA + 0x20000, 0x8000)])), 3, MEM),
        chunks(msg(ADD_MEM_REG, u64(0) + region(0x30000, 0x1000, UVA + 0x30000, 0x9000)), 1, MEM),
        chunks(msg(ADD_MEM_REG, u64(0) + region(0x30000, 0x1000, UVA + 0x30000, 0x9000)), 1, MEM),
        chunks(msg(REM_MEM_REG, u64(0) + region(0x30000, 0x1000, UVA + 0x30000, 0x9000))),
        chunks(msg(REM_MEM_REG, u64(0) + region(0x10000, 0x4000, UVA + 0x10000, 0x4000)), 1, MEM),
        chunks(msg(SET_MEM_TABLE, mem_table([(0, 0x1000, UVA, 0)] * 2)), 2, MEM),
        chunks(msg(SET_MEM_TABLE, mem_table([(0, 0x1000, UVA, 0)] * 8, n=9)), 8, MEM)))
    seeds["refusals"] = vhost_input(stream(
        chunks(msg(GET_FEATURES, u64(0))),
        chunks(msg(SET_VRING_NUM, state(4, 8))),
        chunks(msg(SET_VRING_KICK, u64(NOFD)), 1, EVENT),
        chunks(msg(SET_VRING_KICK, u64(0))),
        chunks(msg(SET_LOG_FD, u64(0)), 1, EVENT),
        chunks(msg(SET_FEATURES, u64(0), flags=2)),
        chunks(msg(SET_MEM_TABLE, mem_table([(0, MEMFD_SIZE + 1, UVA, 0)])), 1, MEM),
        chunks(msg(SET_MEM_TABLE, b"", size=0x10000)),
        chunks(msg(SET_VRING_CALL, u64(0)), 3, EVENT) + chunks(msg(GET_FEATURES), 3, EVENT) +
        chunks(msg(GET_FEATURES), 3, EVENT),
        chunks(msg(GET_FEATURES)[:7])))
    seeds["reset-and-restart"] = vhost_input(stream(
        bring_up(), chunks(msg(RESET_OWNER)), bring_up(), chunks(msg(SET_OWNER)),
        chunks(msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UVA + 0x8000, UVA + 0x9000,
                                               UVA + 0xA000, 0))),
        chunks(msg(SET_FEATURES, u64(FEATURES & ~(1 << 29)))),
        chunks(msg(SET_VRING_ENABLE, state(0, 0))),
        chunks(msg(GET_VRING_BASE, state(0, 0)))), ring_guest())
    # Found by fuzzing: an odd mmap_offset puts aligned ring addresses at odd host addresses
    # (misaligned avail/used accesses, a UBSan report). Kept so every sanitizer run replays it.
    seeds["crash-misaligned-ring"] = vhost_input(stream(
        chunks(msg(SET_MEM_TABLE, mem_table([(0, 0x1000, UVA, 1)])), 1, MEM),
        chunks(msg(SET_VRING_NUM, state(0, 8))),
        chunks(msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UVA + 0x100, UVA + 0x300,
                                               UVA + 0x200, 0))),
        chunks(msg(SET_VRING_KICK, u64(NOFD)))), ring_guest())
    # Migration: a log in the guest memfd itself (guest memory is 64 KiB: 2 bytes of log),
    # LOG_ALL, logged used rings, traffic, logging off again; and logs the device must refuse.
    log_on = stream(
        chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 8, 0x8000)), 1, MEM),
        chunks(msg(SET_FEATURES, u64(FEATURES | LOG_ALL))),
        chunks(msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 1, UVA + 0x100, UVA + 0x300,
                                               UVA + 0x200, 0x300))))
    seeds["migration-log"] = vhost_input(stream(
        bring_up(proto=PROTO | LOG_SHMFD | RARP), log_on,
        chunks(msg(SET_VRING_KICK, u64(0)), 1, EVENT),
        chunks(msg(SET_FEATURES, u64(FEATURES))),
        chunks(msg(SEND_RARP, u64(0x563412005452), VERSION | NEED_REPLY)), log_on,
        chunks(msg(GET_VRING_BASE, state(0, 0)))), ring_guest())
    # Each refused log closes the connection; the harness reconnects, so each case sets up anew.
    def with_log_shmfd(*parts):
        return stream(
            chunks(msg(SET_PROTOCOL_FEATURES, u64(PROTO | LOG_SHMFD | RARP))),
            chunks(msg(SET_MEM_TABLE, mem_table([(0, MEMFD_SIZE, UVA, 0)])), 1, MEM), *parts)
    seeds["migration-refusals"] = vhost_input(stream(
        with_log_shmfd(chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 1, 0)), 1, MEM)),
        with_log_shmfd(chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 8, MEMFD_SIZE)), 1, MEM)),
        with_log_shmfd(chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 0, 0)), 1, MEM)),
        with_log_shmfd(chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 16, (1 << 64) - 8)), 1, MEM)),
        with_log_shmfd(chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 8, 0)), 1, EVENT)),
        with_log_shmfd(chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 8, 0)))),
        chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 8, 0)), 1, MEM),
        with_log_shmfd(
            chunks(msg(SET_LOG_BASE, struct.pack("<QQ", 8, 0)), 1, MEM),
            chunks(msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 1, 1, UVA + 0x100, UVA + 0x300,
                                                   UVA + 0x200, 1 << 40), VERSION | NEED_REPLY)),
            chunks(msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 1, 6, UVA + 0x100, UVA + 0x300,
                                                   UVA + 0x200, 0), VERSION | NEED_REPLY)),
            chunks(msg(SEND_RARP, u64(1), VERSION | NEED_REPLY)),
            chunks(msg(SEND_RARP, u64(0), VERSION | NEED_REPLY)),
            chunks(msg(SEND_RARP, u64(0x563412005452), VERSION | NEED_REPLY)),
            chunks(msg(SEND_RARP, b"\x52\x54")))), ring_guest())
    return seeds


# ---- descriptor walker ----

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Ring:
    """Guest memory laid out as fuzz-virtq.c expects for a ring of num entries."""

    def __init__(self, num_log2, data_len=1024):
        self.num = 1 << num_log2
        self.num_log2 = num_log2
        self.avail = 16 * self.num
        self.used = (self.avail + 6 + 2 * self.num + 3) & ~3
        self.data = self.used + 6 + 8 * self.num  # first data byte (gpa)
        self.mem = bytearray(self.data + data_len)
        self.idx = 0

    def desc(self, i, addr, ln, flags=0, nxt=0, at=None):
        struct.pack_into("<QIHH", self.mem, (0 if at is None else at) + 16 * i, addr, ln, flags,
                         nxt)

    def post(self, head, base=0):
        struct.pack_into("<H", self.mem, self.avail + 4 + 2 * ((base + self.idx) % self.num),
                         head)
        self.idx += 1
        struct.pack_into("<H", self.mem, self.avail + 2, (base + self.idx) & 0xFFFF)

    def input(self, features=0, slice_=0, max_iov=0, base=0):
        hdr = struct.pack("<BBBBHH", self.num_log2, features, slice_, max_iov, base, 0)
        return hdr + bytes(self.mem)


def virtq_seeds():
    seeds = {}
    d = lambda r, off: r.data + off  # noqa: E731

    r = Ring(3)
    r.desc(0, d(r, 0), 100)
    r.post(0)
    seeds["single"] = r.input()

    r = Ring(4)
    r.desc(5, d(r, 0), 10, F_NEXT, 9)
    r.desc(9, d(r, 100), 20, F_NEXT, 2)
    r.desc(2, d(r, 300), 30, F_WRITE)
    r.desc(3, d(r, 500), 40, F_WRITE)
    r.post(5)
    r.post(3)
    seeds["multi"] = r.input(max_iov=4)

    r = Ring(3)
    r.desc(0, d(r, 13), 48, F_INDIRECT)  # table straddles 7-byte slices
    r.desc(0, d(r, 200), 50, F_NEXT, 1, at=d(r, 13))
    r.desc(1, d(r, 300), 60, F_NEXT, 2, at=d(r, 13))
    r.desc(2, d(r, 400), 70, F_WRITE, 0, at=d(r, 13))
    r.desc(1, d(r, 600), 8, F_WRITE)
    r.post(0)
    r.post(1)
    seeds["indirect-straddle"] = r.input(features=1, slice_=7)

    r = Ring(2, data_len=400)
    r.desc(0, d(r, 3), 37, F_NEXT, 1)
    r.desc(1, d(r, 50), 90, F_WRITE)
    r.post(0)
    seeds["one-byte-regions"] = r.input(slice_=1, max_iov=100)

    r = Ring(3)
    for i in range(8):
        r.desc(i, d(r, 16 * i), 16, F_WRITE)
        r.post(i, base=0xFFFC)
    struct.pack_into("<H", r.mem, r.avail + 4 + 2 * r.num, 0xFFFE)  # used_event
    seeds["event-idx-wrap"] = r.input(features=2 | 8, base=0xFFFC)

    r = Ring(3)
    r.desc(0, d(r, 0), 10, F_NEXT, 1)
    r.desc(1, d(r, 10), 10, F_NEXT, 0)
    r.post(0)
    seeds["loop"] = r.input()

    r = Ring(3)
    r.desc(0, d(r, 0), 32, F_INDIRECT)
    r.desc(0, d(r, 100), 10, F_NEXT, 1, at=d(r, 0))
    r.desc(1, d(r, 32), 16, F_INDIRECT, 0, at=d(r, 0))
    r.post(0)
    seeds["nested-indirect"] = r.input(features=1)

    r = Ring(3)
    r.desc(0, d(r, 0), 10)
    r.desc(1, d(r, 40), 10)  # in a hole (slices of 32, every other one unmapped)
    r.post(0)
    r.post(1)
    seeds["holes"] = r.input(features=4, slice_=32)

    r = Ring(3)
    r.post(8)
    seeds["bad-head"] = r.input()
    return seeds


# ---- packed-ring walker ----

P_AVAIL, P_USED = 1 << 7, 1 << 15


class PackedRing:
    """Guest memory laid out as fuzz-virtq-packed.c expects for a ring of num entries."""

    def __init__(self, num, data_len=1024):
        self.num = num
        self.data = 16 * num + 8  # first data byte (gpa): after the two event areas
        self.mem = bytearray(self.data + data_len)
        self.slot, self.wrap = 0, 1

    def raw(self, slot, addr, ln, bid, flags, at=None):
        struct.pack_into("<QIHH", self.mem, (0 if at is None else at) + 16 * slot, addr, ln,
                         bid, flags)

    def chain(self, bid, bufs, wrap_lie=False):
        """Makes bufs [(addr, len, flags)] available as one chain with buffer id bid."""
        for k, (addr, ln, flags) in enumerate(bufs):
            w = self.wrap ^ (1 if wrap_lie and k > 0 else 0)
            f = flags | (F_NEXT if k + 1 < len(bufs) else 0)
            f |= (P_AVAIL if w else 0) | (0 if w else P_USED)
            self.raw(self.slot, addr, ln, bid, f)
            self.slot += 1
            if self.slot == self.num:
                self.slot, self.wrap = 0, self.wrap ^ 1

    def input(self, features=0, slice_=0, max_iov=0, base=0x8000):
        hdr = struct.pack("<BBBBI", self.num - 1, features, slice_, max_iov, base)
        return hdr + bytes(self.mem)


def packed_seeds():
    seeds = {}
    d = lambda r, off: r.data + off  # noqa: E731

    r = PackedRing(4)
    r.chain(0, [(d(r, 0), 100, 0)])
    seeds["single"] = r.input()

    r = PackedRing(5)  # not a power of two; chains wrap past the end
    r.chain(3, [(d(r, 0), 10, 0), (d(r, 100), 20, 0), (d(r, 300), 30, F_WRITE)])
    r.chain(1, [(d(r, 500), 40, F_WRITE), (d(r, 600), 8, F_WRITE)])
    seeds["multi-wrap"] = r.input(max_iov=4)

    r = PackedRing(8)
    r.raw(0, d(r, 13), 48, 2, F_INDIRECT | P_AVAIL)  # table straddles 7-byte slices
    r.raw(0, d(r, 200), 50, 0, 0, at=d(r, 13))
    r.raw(1, d(r, 300), 60, 0, F_NEXT, at=d(r, 13))  # NEXT is ignored inside a table
    r.raw(2, d(r, 400), 70, 0, F_WRITE, at=d(r, 13))
    seeds["indirect-straddle"] = r.input(features=1, slice_=7)

    r = PackedRing(8)
    for i in range(8):
        r.chain(i, [(d(r, 16 * i), 16, F_WRITE)])
    struct.pack_into("<HH", r.mem, 16 * r.num, 3 | 0x8000, 2)  # driver area: DESC at slot 3
    seeds["burst-event-idx"] = r.input(features=2 | 8 | 16)

    r = PackedRing(8)
    for i in range(6):
        r.chain(i, [(d(r, 32 * i), 20, 0)])
    seeds["in-order-unpop-late"] = r.input(features=16 | 32 | 64 | 128)

    r = PackedRing(4)
    r.chain(0, [(d(r, 0), 10, 0), (d(r, 10), 10, 0)], wrap_lie=True)
    seeds["wrap-disagrees"] = r.input()

    r = PackedRing(4)
    r.chain(4, [(d(r, 0), 10, 0)])
    seeds["bad-id"] = r.input()

    r = PackedRing(4)
    r.chain(1, [(d(r, 0), 10, 0)])
    r.chain(1, [(d(r, 10), 10, 0)])
    seeds["id-in-flight"] = r.input(features=128)

    r = PackedRing(3)
    for _ in range(3):
        r.raw(r.slot, d(r, 0), 10, 0, F_NEXT | P_AVAIL)
        r.slot += 1
    seeds["chain-longer-than-ring"] = r.input()

    r = PackedRing(8)
    r.raw(0, d(r, 0), 32, 0, F_INDIRECT | P_AVAIL)
    r.raw(0, d(r, 100), 10, 0, 0, at=d(r, 0))
    r.raw(1, d(r, 32), 16, 0, F_INDIRECT, at=d(r, 0))
    seeds["nested-indirect"] = r.input(features=1)

    r = PackedRing(8)
    r.chain(0, [(d(r, 0), 10, 0)])
    r.chain(1, [(d(r, 40), 10, 0)])  # in a hole (slices of 32, every other one unmapped)
    seeds["holes"] = r.input(features=4, slice_=32)

    r = PackedRing(6, data_len=400)
    r.chain(2, [(d(r, 3), 37, 0), (d(r, 50), 90, F_WRITE)])
    seeds["one-byte-regions"] = r.input(slice_=1, max_iov=100)

    r = PackedRing(4)
    r.chain(0, [(d(r, 0), 10, 0)])
    seeds["base-out-of-range"] = r.input(base=0x8004)
    seeds["base-qemu-both-halves"] = r.input(base=0x80008000)
    return seeds


# ---- --port specs ----


def cli_port_seeds():
    base = b"name=p0,socket=/tmp/p0.sock"
    return {
        "tap": base + b",backend=tap,ifname=vh0,queues=4,mtu=9000,poll=busy",
        "features": base + b",backend=tap,ifname=vh0,features=-packed,-mrg_rxbuf,-event_idx",
        "features-unknown": base + b",features=-packed,-nosuch",
        "features-no-dash": base + b",features=packed",
        "features-repeat": base + b",features=-mtu,-mtu",
        "features-version": base + b",features=-version_1",
        "features-dangling": base + b",features=-csum,-,queues=2",
        "null-gen": base + b",backend=null,gen=1518,mode=client",
        "peer": base + b",backend=port,peer=p1,queues=2",
        "mtu-bad": base + b",backend=tap,ifname=vh0,mtu=67",
        "mtu-null": base + b",backend=null,mtu=1500",
        "mac": base + b",backend=tap,ifname=vh0,mac=52:54:00:12:34:56",
        "dev": base + b",backend=null,dev=eth0",
        "macvtap": base + b",backend=macvtap,dev=eth0,macvtap_mode=vepa,mac=52:54:00:12:34:56",
        "macvtap-ifname": base + b",backend=macvtap,dev=eth0,macvtap_mode=passthrough,ifname=mv0,mtu=9000",
        "macvtap-long-name": b"name=averyveryverylongportname,socket=/s,backend=macvtap,dev=e0,macvtap_mode=bridge",
        "macvtap-no-mode": base + b",backend=macvtap,dev=eth0",
        "macvtap-same-dev": base + b",backend=macvtap,dev=mv0,ifname=mv0,macvtap_mode=private",
        "macvtap-mode-bad": base + b",backend=macvtap,dev=eth0,macvtap_mode=vepa2",
        "macvtap-mode-tap": base + b",backend=tap,ifname=t0,macvtap_mode=bridge",
        "switch": base + b",backend=switch,switch=sw0,vlan=10,switch_ageing=4,mac=02:00:00:00:00:01",
        "switch-uplink": b"name=u,backend=tap,ifname=up0,switch=sw0,uplink=1",
        "switch-bad": base + b",backend=switch,switch=sw0,vlan=4095,uplink=1,queues=2",
        "packet": base + b",backend=packet,dev=eth0,queues=2",
        "xdp": base + b",backend=xdp,dev=eth0,queue=3,queues=4",
        "xdp-queue-packet": base + b",backend=packet,dev=eth0,queue=1",
        "empty": b"",
        "commas": b",,,=,=",
    }


# ---- configuration file, control API requests, metrics HTTP heads ----


def config_seeds():
    return {
        "full": b"# vhostd.conf\nlog-level = debug\nworkers = 2\ncpus = 0-1\n"
        b"control = /run/vhostd/control.sock\ncontrol-group = kvm\nmetrics = 127.0.0.1:9417\n\n"
        b"[port vm0]\nsocket = /run/vm0.sock\nbackend = tap\nifname = vm0\nqueues = 4\n"
        b"mtu = 9000\nfeatures = -packed, -mrg_rxbuf\npoll = busy\n\n"
        b"[port a]\nsocket = /run/a.sock\nmode = client\nbackend = port\npeer = b\n"
        b"[port b]\nsocket = /run/b.sock\nbackend = port\npeer = a\n",
        "null": b"[port n]\nsocket=/n\nbackend=null\ngen=64\n",
        "switch": b"[port a]\nsocket=/a\nbackend=switch\nswitch=sw0\nvlan=10\n"
        b"[port u]\nbackend=tap\nifname=up0\nswitch=sw0\nuplink=1\n",
        "bad-section": b"[bridge x]\n",
        "dup": b"[port a]\nsocket=/s\nbackend=null\n[port a]\nsocket=/s\nbackend=null\n",
        "name-key": b"[port a]\nname=b\n",
        "crlf": b"workers = 1\r\n[port a]\r\nsocket=/s\r\nbackend=null\r\n",
        "empty": b"",
        # Found by the fuzzer: a socket path with a comma has no --port spelling.
        "socket-comma": b"[port W]\nsocket=,s\nbackend=null\n",
    }


def api_seeds():
    reqs = [
        {"id": 1, "op": "version"},
        {"id": "x", "op": "port-list", "args": {}},
        {"id": 2, "op": "port-show", "args": {"name": "vm0"}},
        {"id": 3, "op": "port-del", "args": {"name": "vm0"}},
        {"op": "port-add", "args": {"spec": "name=a,socket=/s,backend=null"}},
        {"op": "port-add", "args": {"name": "a", "socket": "/s", "backend": "tap",
                                    "ifname": "t0", "queues": 2, "features": "-packed"}},
        {"op": "stats", "args": {"format": "prometheus"}},
        {"op": "stats", "args": {"name": "a", "format": "kv"}},
        {"op": "set", "args": {"log_level": "debug", "port": "a", "poll": "busy"}},
        {"op": "reload"},
    ]
    seeds = {f"req{i}": json.dumps(r).encode() for i, r in enumerate(reqs)}
    seeds["deep"] = b'{"op":"version","args":' + b"[" * 100
    seeds["trailing"] = b'{"op":"version"} {}'
    seeds["nul"] = b'{"op":"port-show","args":{"name":"a\\u0000b"}}'
    return seeds


def http_head_seeds():
    return {
        "get": b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        "head": b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n",
        "post": b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "lf": b"GET / HTTP/1.1\n\n",
        "partial": b"GET /metrics HTTP/1.1\r\nHost",
        "bad": b"GET  HTTP/2.0\r\n\r\n",
    }


# ---- vhostd-net-helper: access list and record ----


def helper_acl_seeds():
    return {
        "allow": b"# list\nallow br0\nallow virbr0\n",
        "deny-wins": b"allow all\ndeny br0\n",
        "include": b"include /etc/vhostd/other.conf\nallow br1\n",
        "include-relative": b"include other.conf\n",
        "bad": b"allow br0 br1\npermit x\nallow ../x\n",
        "empty": b"",
    }


def helper_record(status=0, ifindex=7, hdr=12, offloads=0x1f, nfds=1, name=b"vhnt0", err=b""):
    return (b"VHNH" + struct.pack("<HHIIIII", 1, 172, status, ifindex, hdr, offloads, nfds)
            + name.ljust(16, b"\0") + err.ljust(128, b"\0"))


def helper_msg_seeds():
    return {
        "ok-1": bytes([1]) + helper_record(),
        "ok-4": bytes([4]) + helper_record(nfds=4),
        "denied": bytes([0]) + helper_record(status=1, ifindex=0, nfds=0, name=b"",
                                             err=b"access denied by ACL: br0"),
        "fd-mismatch": bytes([2]) + helper_record(nfds=1),
        "unterminated": bytes([1]) + helper_record(name=b"x" * 16),
        "short": bytes([1]) + helper_record()[:40],
    }


# ---- ring state file and packed-ring resume ----

RS_RING = (64 + 8 * 32768 + 4095) // 4096 * 4096
RS_VALID = 0x52494E47


def rs_header(nrings=2, magic=b"vhostdRS", version=1):
    """The state file header as ringstate.c writes it for a port of nrings rings."""
    return magic + struct.pack("<IIIII", version, 4096, RS_RING, nrings, 32768) + bytes(36)


def rs_record(state, num=0, valid=RS_VALID, addrs=(0, 0, 0)):
    """A ring's record; fuzz-ringstate.c writes the ring's addresses and size when asked (4)."""
    return struct.pack("<QQQIIQ", *addrs, num, valid, state) + bytes(24)


def used_state(shown, end, n):
    return shown | end << 16 | n << 32


def used_entry(pos, bid, ln):
    return pos | bid << 16 | ln << 32


def ringstate_input(ring, flags=4, base=0x8000, header=None, recs=None, log=()):
    hdr = struct.pack("<BBHHH", ring.num - 1, flags, base, 8 * len(log), 0)
    logb = b"".join(struct.pack("<Q", e) for e in log)
    recs = recs or [rs_record(0), rs_record(0)]
    return hdr + (header or rs_header()) + b"".join(recs) + logb + bytes(ring.mem)


def used_ring(num, used, posted):
    """A ring in its first lap: `posted` one-buffer chains made available from slot 0 (ids
    0..), the first `used` of them marked used by the device (lengths 7 * id)."""
    r = PackedRing(num)
    for i in range(posted):
        r.chain(i, [(r.data + 64 * i, 64, F_WRITE if i % 2 else 0)])
    for i in range(used):
        r.raw(i, r.data + 64 * i, 7 * i, i, P_AVAIL | P_USED | (F_WRITE if i % 2 else 0))
    return r


def ringstate_seeds():
    seeds = {}
    r = used_ring(8, 3, 6)
    seeds["resume-committed"] = ringstate_input(
        r, recs=[rs_record(used_state(0x8003, 0x8003, 0)), rs_record(0)])
    # The last back-end was killed in a flush of slots 1..3: slot 2 written, 1 and 3 not.
    r = used_ring(8, 1, 6)
    r.raw(2, r.data + 128, 60, 2, P_AVAIL | P_USED | F_WRITE)
    seeds["resume-mid-flush"] = ringstate_input(
        r, recs=[rs_record(used_state(0x8001, 0x8004, 3)), rs_record(0)],
        log=[used_entry(0x8001, 1, 0), used_entry(0x8002, 2, 60), used_entry(0x8003, 3, 0)])
    r = used_ring(8, 2, 7)
    seeds["resume-in-order-ring1"] = ringstate_input(
        r, flags=1 | 2 | 4 | 8, recs=[rs_record(0), rs_record(used_state(0x8002, 0x8005, 1))],
        log=[used_entry(0x8002, 4, 0)])
    r = used_ring(8, 0, 4)
    seeds["resume-new-ring"] = ringstate_input(
        r, recs=[rs_record(used_state(0x8005, 0x8006, 1)), rs_record(0)],
        log=[used_entry(0x8005, 5, 0)])
    r = used_ring(8, 3, 6)
    seeds["resume-bad-state"] = ringstate_input(
        r, recs=[rs_record(used_state(0x8003, 0x8003, 0) | 1 << 48), rs_record(0)])
    seeds["resume-bad-log"] = ringstate_input(
        r, recs=[rs_record(used_state(0x8003, 0x8006, 2)), rs_record(0)],
        log=[used_entry(0x8004, 1, 0), used_entry(0x8003, 2, 0)])
    seeds["record-of-another-ring"] = ringstate_input(
        r, flags=0, recs=[rs_record(used_state(0x8003, 0x8003, 0), 8,
                                    addrs=(0x1000, 0x1080, 0x1084)), rs_record(0)])
    seeds["header-other-version"] = ringstate_input(
        r, header=rs_header(version=2),
        recs=[rs_record(used_state(0x8003, 0x8003, 0)), rs_record(0)])
    seeds["file-empty"] = ringstate_input(r, header=bytes(64), recs=[bytes(64), bytes(64)])
    seeds["base-out-of-range"] = ringstate_input(r, base=0x8009)
    return seeds


def write(name, seeds):
    out = os.path.join(HERE, "corpus", name)
    os.makedirs(out, exist_ok=True)
    for k, v in sorted(seeds.items()):
        with open(os.path.join(out, k), "wb") as fh:
            fh.write(v)
    print(f"{out}: {len(seeds)} seeds")


# ---- virtio-net device model: headers, frames, receive buffers ----

# Feature bits of fuzz-vnet.c's header bytes 1..2, back-end bits (byte 3), flags (byte 6) and
# operations (byte 7).
(V_VERSION_1, V_MRG, V_CSUM, V_TSO4, V_TSO6, V_ECN, V_UFO, V_USO, V_INDIRECT, V_EVENT_IDX,
 V_PACKED, V_IN_ORDER) = (1 << i for i in range(12))
BE_OFFLOADS, BE_USO, BE_SEND_BURST, BE_RECV_BURST = 1, 2, 4, 8
FL_TX_OFF, FL_RX_OFF, FL_POLL, FL_CALL, FL_HOLES = 1, 2, 4, 8, 16
OP_DELIVER, OP_BURST, OP_ANNOUNCE, OP_MTU, OP_RX_FIRST, OP_DISCARD, OP_NO_RX = (
    1, 2, 4, 8, 16, 32, 64)
NEEDS_CSUM = 1
GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 1, 3, 4, 5, 0x80


def split_ring_bytes(num):
    return ((16 * num + 6 + 2 * num + 3) & ~3) + 6 + 8 * num


class VnetGuest:
    """Guest memory as fuzz-vnet.c lays it out: transmit ring, receive ring, then data; split
    rings, or packed ones (each starting at slot 0 with wrap counter 1)."""

    def __init__(self, num_log2=3, data_len=4096, packed=False):
        self.packed = packed
        self.num_log2 = num_log2
        self.num = 1 << num_log2
        rx = (split_ring_bytes(self.num) + 15) & ~15
        self.rings = [0, rx]  # gpa of the transmit and receive rings
        self.data = rx + split_ring_bytes(self.num)
        self.mem = bytearray(self.data + data_len)
        self.idx = [0, 0]
        self.next_desc = [0, 0]
        self.free = self.data

    def alloc(self, content):
        """Places bytes (or a length of zeros) in the data area; returns their gpa."""
        if isinstance(content, int):
            content = bytes(content)
        gpa = self.free
        self.mem[gpa:gpa + len(content)] = content
        self.free += (len(content) + 15) & ~15
        return gpa

    def desc(self, ring, i, addr, ln, flags=0, nxt=0):
        struct.pack_into("<QIHH", self.mem, self.rings[ring] + 16 * i, addr, ln, flags, nxt)

    def post(self, ring, head, base=0):
        assert not self.packed
        avail = self.rings[ring] + 16 * self.num
        struct.pack_into("<H", self.mem, avail + 4 + 2 * ((base + self.idx[ring]) % self.num),
                         head)
        self.idx[ring] += 1
        struct.pack_into("<H", self.mem, avail + 2, (base + self.idx[ring]) & 0xFFFF)

    def chain(self, ring, pieces, flags=0, base=0):
        """Posts one chain on ring (0 transmit, 1 receive) of buffers with the given contents
        (bytes) or lengths (int); flags are added to every descriptor."""
        first = self.next_desc[ring]
        if self.packed:
            self.packed_chain(ring, pieces, flags)
            return
        for k, piece in enumerate(pieces):
            ln = piece if isinstance(piece, int) else len(piece)
            i = first + k
            more = k + 1 < len(pieces)
            self.desc(ring, i % self.num, self.alloc(piece), ln,
                      flags | (F_NEXT if more else 0), (i + 1) % self.num)
        self.next_desc[ring] = first + len(pieces)
        self.post(ring, first % self.num, base)

    def packed_chain(self, ring, pieces, flags):
        """A packed chain in the next slots, its buffer id the chain's number on that ring."""
        bid = self.idx[ring]
        for k, piece in enumerate(pieces):
            slot = self.next_desc[ring] % self.num
            wrap = (self.next_desc[ring] // self.num + 1) % 2
            ln = piece if isinstance(piece, int) else len(piece)
            f = flags | (F_NEXT if k + 1 < len(pieces) else 0)
            f |= P_AVAIL if wrap else P_USED
            struct.pack_into("<QIHH", self.mem, self.rings[ring] + 16 * slot, self.alloc(piece),
                             ln, bid, f)
            self.next_desc[ring] += 1
        self.idx[ring] += 1

    def tx(self, pieces, base=0):
        self.chain(0, pieces, base=base)

    def rx(self, sizes, base=0):
        self.chain(1, sizes, F_WRITE, base)


def vnet_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0, nbuf=0, size=12):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, csum_start, csum_offset,
                       nbuf)[:size]


def vnet_rec(length, pattern=b""):
    """A back-end frame record: its length (0xffff: nothing waiting, 0xfffe: -EIO) and a
    pattern repeated to fill it."""
    return struct.pack("<HB", length, len(pattern)) + pattern


def eth_frame(n, fill=0x5A):
    """An Ethernet frame of n bytes: broadcast to a locally administered source, IPv4."""
    head = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return (head + bytes([fill]) * n)[:n]


def vnet_input(g, features=V_VERSION_1 | V_MRG, backend=0, fail=0, slice_=0, flags=0, ops=0,
               tx_base=None, rx_base=None, max_frame=5, peer=12, records=b""):
    start = 0x8000 if g.packed else 0  # packed: slot 0, wrap counter 1
    tx_base = start if tx_base is None else tx_base
    rx_base = start if rx_base is None else rx_base
    features |= V_PACKED if g.packed else 0
    hdr = struct.pack("<BHBBBBBHHHBB", g.num_log2, features, backend, fail, slice_, flags, ops,
                      tx_base, rx_base, len(g.mem), max_frame, peer)
    return hdr + bytes(g.mem) + records


def vnet_seeds():
    seeds = {}
    off = BE_OFFLOADS
    all_tx = V_VERSION_1 | V_MRG | V_CSUM | V_TSO4 | V_TSO6 | V_ECN | V_UFO | V_USO

    g = VnetGuest()
    g.tx([vnet_hdr() + eth_frame(60)])
    g.rx([2048])
    seeds["tx-rx-plain"] = vnet_input(g, records=vnet_rec(12 + 60, vnet_hdr() + eth_frame(20)))

    g = VnetGuest()
    g.tx([vnet_hdr(size=10) + eth_frame(60)])
    g.rx([1600])
    seeds["legacy-10-byte-header"] = vnet_input(g, features=0,
                                                records=vnet_rec(10 + 60, eth_frame(30)))

    # Checksum offload: inside the frame, at its very end, one byte beyond, not negotiated.
    for name, start, feats in (("csum", 34, V_VERSION_1 | V_CSUM),
                               ("csum-at-end", 56, V_VERSION_1 | V_CSUM),
                               ("csum-beyond", 57, V_VERSION_1 | V_CSUM),
                               ("csum-not-negotiated", 34, V_VERSION_1)):
        g = VnetGuest()
        g.tx([vnet_hdr(NEEDS_CSUM, csum_start=start, csum_offset=2), eth_frame(60)])
        seeds["tx-" + name] = vnet_input(g, features=feats, backend=off)

    # Segmentation of each type, negotiated or not, and malformed.
    gso_cases = (
        ("tso4", GSO_TCPV4, V_TSO4, 1448, 54, 16),
        ("tso6", GSO_TCPV6, V_TSO6, 1428, 74, 16),
        ("ufo", GSO_UDP, V_UFO, 1472, 42, 6),
        ("uso", GSO_UDP_L4, V_USO, 1472, 42, 6),
        ("tso4-ecn", GSO_TCPV4 | GSO_ECN, V_TSO4 | V_ECN, 1448, 54, 16),
        ("uso-ecn", GSO_UDP_L4 | GSO_ECN, V_USO | V_ECN, 1472, 42, 6),
        ("uso-csum-offset", GSO_UDP_L4, V_USO, 1472, 42, 16),
        ("gso-size-0", GSO_TCPV4, V_TSO4, 0, 54, 16),
        ("hdr-len-beyond", GSO_TCPV4, V_TSO4, 1448, 4000, 16),
        ("unknown-gso", 2, all_tx, 1448, 54, 16),
        ("ecn-alone", GSO_ECN, all_tx, 1448, 54, 16),
    )
    for name, gso, feats, size, hlen, coff in gso_cases:
        g = VnetGuest(data_len=8192)
        frame = eth_frame(3000)
        g.tx([vnet_hdr(NEEDS_CSUM, gso, hlen, size, 34, coff), frame[:1000], frame[1000:]])
        seeds["tx-" + name] = vnet_input(g, features=V_VERSION_1 | V_CSUM | feats,
                                         backend=off | BE_USO)
        if name in ("tso6", "uso"):
            seeds["tx-" + name + "-not-negotiated"] = vnet_input(
                g, features=V_VERSION_1 | V_CSUM, backend=off | BE_USO)
    g = VnetGuest(data_len=8192)
    g.tx([vnet_hdr(NEEDS_CSUM, GSO_UDP_L4, 42, 1472, 34, 6), eth_frame(3000)])
    seeds["tx-uso-backend-without"] = vnet_input(g, features=all_tx, backend=off)

    g = VnetGuest()
    g.tx([vnet_hdr(flags=4) + eth_frame(60)])
    g.tx([vnet_hdr(flags=2) + eth_frame(60)])
    g.tx([vnet_hdr()[:7]])  # shorter than its header
    g.tx([vnet_hdr() + eth_frame(13)])  # a runt
    g.tx([vnet_hdr()[:5], vnet_hdr()[5:], eth_frame(60)])  # header cut in two
    seeds["tx-bad-flags-short-runt-cut"] = vnet_input(g, features=V_VERSION_1 | V_CSUM,
                                                      backend=off)

    g = VnetGuest(data_len=400)
    g.tx([bytes([b]) for b in vnet_hdr() + eth_frame(64)])  # one-byte descriptors
    seeds["tx-one-byte-pieces"] = vnet_input(g, slice_=1)

    g = VnetGuest()
    table = g.alloc(48)
    g.desc(0, 0, table, 48, F_INDIRECT)
    g.post(0, 0)
    for k, piece in enumerate((vnet_hdr(), eth_frame(40), eth_frame(30))):
        struct.pack_into("<QIHH", g.mem, table + 16 * k, g.alloc(piece), len(piece),
                         F_NEXT if k < 2 else 0, k + 1)
    seeds["tx-indirect-straddle"] = vnet_input(g, features=V_VERSION_1 | V_INDIRECT, slice_=7)

    # Chains of 256 one-byte descriptors in indirect tables: nine overflow the iovecs one
    # transmit burst holds, so the burst is sent early and the chain queued again.
    g = VnetGuest(num_log2=8, data_len=9 * (4096 + 256))
    frame = vnet_hdr() + eth_frame(244)
    for c in range(9):
        table = g.alloc(4096)
        data = g.alloc(frame)
        for k in range(256):
            struct.pack_into("<QIHH", g.mem, table + 16 * k, data + k, 1,
                             F_NEXT if k < 255 else 0, k + 1)
        g.desc(0, c, table, 4096, F_INDIRECT)
        g.post(0, c)
    seeds["tx-iov-pool-full"] = vnet_input(g, features=V_VERSION_1 | V_INDIRECT)

    g = VnetGuest()
    g.tx([vnet_hdr(), eth_frame(60)])
    g.chain(0, [vnet_hdr() + eth_frame(60), 64], 0)
    struct.pack_into("<H", g.mem, 16 * 3 + 12, F_WRITE)  # the second chain's last is writable
    seeds["tx-writable-descriptor"] = vnet_input(g)

    g = VnetGuest()
    for i in range(8):
        g.tx([vnet_hdr() + eth_frame(60 + i)])
    seeds["tx-burst-eagain-every-3rd"] = vnet_input(g, backend=BE_SEND_BURST, fail=3)
    seeds["tx-burst-refused-enobufs"] = vnet_input(g, backend=BE_SEND_BURST | 16,
                                                   fail=0x20 | 2)
    seeds["tx-eio-every-2nd-poll"] = vnet_input(g, fail=0x30 | 2, flags=FL_POLL | FL_CALL)
    seeds["tx-disabled"] = vnet_input(g, flags=FL_TX_OFF)
    g = VnetGuest()
    for i in range(8):
        g.tx([vnet_hdr() + eth_frame(60 + i)], base=0xFFFC)
    seeds["tx-base-wrap-event-idx"] = vnet_input(g, features=V_VERSION_1 | V_EVENT_IDX,
                                                 flags=FL_CALL, tx_base=0xFFFC)

    # Receive: mergeable buffers of 256 bytes for frames up to 60 + 256 * 5 bytes.
    recs = (vnet_rec(12 + 1000, vnet_hdr() + eth_frame(40)) + vnet_rec(5) +
            vnet_rec(12 + 2000) + vnet_rec(0xFFFE) + vnet_rec(12 + 60) + vnet_rec(0xFFFF) +
            vnet_rec(12 + 70))
    g = VnetGuest(num_log2=4, data_len=8192)
    for i in range(16):
        g.rx([256])
    seeds["rx-mergeable"] = vnet_input(g, records=recs, flags=3 << 5)
    seeds["rx-mergeable-holes"] = vnet_input(g, records=recs, slice_=64,
                                             flags=FL_HOLES | 3 << 5)
    seeds["rx-disabled"] = vnet_input(g, records=recs, flags=FL_RX_OFF)
    # Too little room for the largest frame, and nothing more coming: wait for a kick (once
    # this spun through its whole budget and was called again at once, found by fuzz-vnet).
    g = VnetGuest(num_log2=8)
    g.rx([256])
    seeds["rx-short-of-buffers"] = vnet_input(g, max_frame=255, records=recs)
    seeds["rx-short-of-buffers-event-idx"] = vnet_input(g, features=V_VERSION_1 | V_MRG |
                                                        V_EVENT_IDX, max_frame=255,
                                                        records=recs)
    g = VnetGuest(num_log2=8, packed=True)
    g.rx([256])
    seeds["rx-short-of-buffers-packed"] = vnet_input(g, max_frame=255, records=recs)
    g = VnetGuest(data_len=8192)
    for i in range(4):
        g.rx([1000, 400, 1])
    seeds["rx-one-chain-per-frame"] = vnet_input(g, features=V_VERSION_1, records=recs)
    g = VnetGuest(data_len=20000)
    for i in range(8):
        g.rx([2048])
    seeds["rx-burst"] = vnet_input(g, backend=BE_RECV_BURST, records=recs, ops=OP_RX_FIRST)
    seeds["rx-burst-refused"] = vnet_input(g, backend=BE_RECV_BURST | 32, records=recs)
    g = VnetGuest()
    g.rx([0])
    g.rx([8])
    g.chain(1, [64], 0)  # readable in a receive chain
    seeds["rx-tiny-and-readable"] = vnet_input(g, features=V_VERSION_1, records=recs)

    # A peer's frames (vnet_deliver, vnet_deliver_burst), announce, MTU, discard.
    g = VnetGuest(data_len=20000)
    for i in range(6):
        g.rx([2048])
    g.rx([100, 100])
    g.rx([20])
    peer = b"".join(vnet_rec(n, eth_frame(16, n & 0xFF)) for n in (60, 1514, 3, 150, 4000, 64))
    seeds["peer-deliver"] = vnet_input(g, ops=OP_DELIVER | OP_BURST | OP_NO_RX, peer=12,
                                       records=peer)
    seeds["peer-deliver-10"] = vnet_input(g, features=V_MRG, ops=OP_BURST | OP_NO_RX, peer=10,
                                          records=peer, flags=2 << 5)
    g = VnetGuest()
    seeds["announce-mtu-discard"] = vnet_input(g, ops=OP_ANNOUNCE | OP_MTU | OP_DISCARD,
                                               peer=5, records=recs, flags=3 << 5)
    seeds["announce-fails-mtu-too-big"] = vnet_input(g, ops=OP_ANNOUNCE | OP_MTU, peer=255,
                                                     fail=1)
    seeds["mtu-too-small"] = vnet_input(g, ops=OP_MTU, peer=0)

    # Packed rings: the same traffic, with IN_ORDER, and a peer's frames.
    for name, feats in (("packed", V_VERSION_1 | V_MRG | V_CSUM | V_TSO4),
                        ("packed-in-order", V_VERSION_1 | V_MRG | V_CSUM | V_TSO4 | V_IN_ORDER),
                        ("packed-no-mrg", V_VERSION_1 | V_CSUM | V_TSO4 | V_EVENT_IDX)):
        g = VnetGuest(num_log2=4, data_len=16384, packed=True)
        g.tx([vnet_hdr() + eth_frame(60)])
        g.tx([vnet_hdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16), eth_frame(1000),
              eth_frame(2000)])
        g.tx([vnet_hdr(flags=4) + eth_frame(60)])
        for i in range(12):
            g.rx([256] if i % 3 else [200, 56])
        seeds["tx-rx-" + name] = vnet_input(g, features=feats, backend=off, records=recs,
                                            flags=FL_CALL | 3 << 5)
    g = VnetGuest(num_log2=3, data_len=20000, packed=True)
    for i in range(8):
        g.rx([2048])
    seeds["packed-peer-deliver"] = vnet_input(g, ops=OP_DELIVER | OP_BURST | OP_NO_RX,
                                              records=peer)
    seeds["packed-base-refused"] = vnet_input(g, tx_base=9)
    return seeds


# ---- vhostd's mark on a link (a macvtap's alias) ----


def linkmark_seeds():
    return {
        "mark": b"vhostd pid=1234 start=987654",
        "mark-nul": b"vhostd pid=1 start=0\0",
        "pid-zero": b"vhostd pid=0 start=5",
        "pid-big": b"vhostd pid=2147483648 start=5",
        "leading-zero": b"vhostd pid=012 start=5",
        "start-overflow": b"vhostd pid=5 start=18446744073709551616",
        "trailing": b"vhostd pid=5 start=6 ",
        "plain": b"vhostd",
        "empty": b"",
    }


def main():
    write("vhost-msg", vhost_seeds())
    write("virtq", virtq_seeds())
    write("virtq-packed", packed_seeds())
    write("cli-port", cli_port_seeds())
    write("ringstate", ringstate_seeds())
    write("config", config_seeds())
    write("api", api_seeds())
    write("http-head", http_head_seeds())
    write("helper-acl", helper_acl_seeds())
    write("helper-msg", helper_msg_seeds())
    write("linkmark", linkmark_seeds())
    write("vnet", vnet_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
