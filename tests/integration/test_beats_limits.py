#!/usr/bin/env python3
"""Limits of `amsiwatch serve` under hostile input, over loopback with raw sockets:

- a small Beats window holding a compressed frame nested in a compressed frame that would inflate
  past beats.max-inflated, past beats.max-ratio, or past the room left in the connection's budget:
  that connection is closed with a log line naming the limit, the server's peak RSS stays
  bounded, and a well-behaved connection opened before it keeps getting its windows acknowledged;
- a connection whose memory cannot be allocated (the fault points beats-conn-alloc and
  syslog-conn-alloc, AMSIWATCH_FAULT="NAME:1=ENOMEM*1"): it is accepted and closed, and the
  listener goes on accepting and serving the next ones.

usage: test_beats_limits.py path/to/amsiwatch [unittest options]"""
import json
import os
import random
import socket
import struct
import unittest
import zlib

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSLOG_FIXTURES = os.path.join(ROOT, "tests", "fixtures", "syslog")

HIT = {"host": {"os": {"type": "windows"}, "name": "good-sender"},
       "event": {"category": ["registry"], "type": ["change"]},
       "registry": {"value": "AmsiEnable", "data": {"strings": ["0"]}}}


def j_frame(seq, payload):
    return b"2J" + struct.pack(">II", seq, len(payload)) + payload


def c_frame(zbytes):
    return b"2C" + struct.pack(">I", len(zbytes)) + zbytes


def good_window(seq, tag):
    ev = dict(HIT, host={"os": {"type": "windows"}, "name": tag})
    return b"2W" + struct.pack(">I", 1) + j_frame(seq, json.dumps(ev).encode())


def filler_stream(n, header, moderate):
    """zlib of HEADER followed by about N bytes, made without holding them: spaces (about 1000 to
    1, a zip bomb) or, MODERATE, blocks of 1000 spaces and 8 random hex digits (about 118 to 1)."""
    z = zlib.compressobj(9)
    parts = [z.compress(header)]
    rnd = random.Random(7)
    if moderate:
        chunk = b"".join(b" " * 1000 + b"%08x" % rnd.getrandbits(32) for _ in range(1040))
    else:
        chunk = b" " * (1 << 20)
    left = n
    while left > 0:
        k = min(left, len(chunk))
        parts.append(z.compress(chunk[:k]))
        left -= k
    parts.append(z.flush())
    return b"".join(parts)


def nested_window(inflated, outer_level=9, moderate=False):
    """A one-event window: a C frame whose data is one C frame whose data is a J frame of about
    INFLATED bytes (the start of a JSON object, then the filler)."""
    header = b"2J" + struct.pack(">II", 1, inflated + 1) + b"{"
    mid = c_frame(filler_stream(inflated, header, moderate))
    return b"2W" + struct.pack(">I", 1) + c_frame(zlib.compress(mid, outer_level))


def read_exact(sock, n, timeout=30):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def closed_by_server(sock):
    """True when the server closes SOCK (an orderly close or a reset) before sending anything."""
    try:
        return read_exact(sock, 6, timeout=120) == b""
    except ConnectionResetError:
        return True


def read_ack(sock):
    """The next ACK that is not a keep-alive (ACK 0)."""
    while True:
        ack = read_exact(sock, 6)
        if len(ack) < 6 or ack[:2] != b"2A" or struct.unpack(">I", ack[2:])[0] != 0:
            return ack


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def serve(case, args=(), env=None, syslog=False):
    """serve with Beats (and, SYSLOG, syslog TCP) on loopback, alerts printed on standard output."""
    return amsi.Serve(["beats", "syslog-tcp"] if syslog else ["beats"],
                      data_dir=os.path.join(case.tmp, "data"),
                      args=["--stats-interval", "0", *args], env=env, ready_timeout=60,
                      cleanup=case)


class NestedFrames(unittest.TestCase):
    def setUp(self):
        self.tmp = amsi.tempdir(self, "amsiwatch-limits-")

    def check_refused(self, args, inflated, why, rss_margin_mb=None, outer_level=9,
                      moderate=False):
        srv = serve(self, args)
        try:
            beats = srv.ports["beats"]
            good = socket.create_connection(("127.0.0.1", beats), timeout=30)
            good.sendall(good_window(1, "before"))
            self.assertEqual(read_ack(good), b"2A" + struct.pack(">I", 1))
            before = peak_rss_kb(srv.proc.pid)
            bomb = nested_window(inflated, outer_level, moderate)
            with socket.create_connection(("127.0.0.1", beats), timeout=30) as bad:
                bad.sendall(bomb)
                self.assertTrue(closed_by_server(bad),
                                "the connection with the nested frame is closed unacknowledged")
            srv.wait_log(r"closing: " + why)
            after = peak_rss_kb(srv.proc.pid)
            # The well-behaved connection, open all along, keeps flowing.
            good.sendall(good_window(2, "after"))
            self.assertEqual(read_ack(good), b"2A" + struct.pack(">I", 2))
            good.close()
            names = sorted(a["fields"]["host.name"] for a in srv.wait_printed(2))
            self.assertEqual(names, ["after", "before"])
            if rss_margin_mb is not None:
                grew = (after - before) / 1024
                print("nested frame of %d bytes (%d sent): peak RSS %.1f -> %.1f MB"
                      % (inflated, len(bomb), before / 1024, after / 1024))
                self.assertLess(grew, rss_margin_mb,
                                "peak RSS grew by %.1f MB for a %d-byte window" % (grew, len(bomb)))
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())

    def test_a_nested_frame_obeys_max_inflated_and_memory_stays_bounded(self):
        # About 300 MB behind a few KB: with 4 MiB of beats.max-inflated it is refused at 4 MiB.
        self.check_refused(["--beats-max-inflated", "4MiB"], 300 << 20,
                           r"a nested compressed frame \(\d+ bytes\) inflates past its limit "
                           r"of 4194304 bytes \(beats\.max-inflated\)",
                           rss_margin_mb=48)

    def test_a_nested_frame_obeys_max_ratio(self):
        # The filler compresses about 118 to 1: beats.max-ratio 50 refuses it (the default 1000
        # would not). The outer frame is stored (level 0) so that it is within the ratio itself.
        self.check_refused(["--beats-max-ratio", "50"], 8 << 20,
                           r"a nested compressed frame \(\d+ bytes\) inflates past its limit "
                           r"of \d+ bytes \(beats\.max-ratio 50\)", outer_level=0,
                           moderate=True)

    def test_a_nested_frame_fits_the_connections_budget(self):
        # max-inflated allows 64 MiB, but one connection may hold only 1 MiB in flight.
        self.check_refused(["--beats-connection-budget", "1MiB"], 8 << 20,
                           r"a nested compressed frame \(\d+ bytes\) inflates past its limit "
                           r"of \d+ bytes \(the room left in the memory budgets\)",
                           moderate=True)

    def test_a_nested_frame_within_the_limits_is_matched(self):
        srv = serve(self)
        try:
            ev = json.dumps(dict(HIT, host={"os": {"type": "windows"}, "name": "nested"}))
            mid = c_frame(zlib.compress(j_frame(7, ev.encode() + b" " * 100000)))
            with socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=30) as s:
                s.sendall(b"2W" + struct.pack(">I", 1) + c_frame(zlib.compress(mid)))
                self.assertEqual(read_ack(s), b"2A" + struct.pack(">I", 7))
            self.assertEqual([a["fields"]["host.name"] for a in srv.wait_printed(1)], ["nested"])
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())


class RefusedAllocation(unittest.TestCase):
    def setUp(self):
        self.tmp = amsi.tempdir(self, "amsiwatch-accept-")

    def test_beats_listener_accepts_again_after_a_failed_allocation(self):
        srv = serve(self, env={"AMSIWATCH_FAULT": "beats-conn-alloc:1=ENOMEM*1"})
        try:
            beats = srv.ports["beats"]
            with socket.create_connection(("127.0.0.1", beats), timeout=30) as first:
                self.assertTrue(closed_by_server(first), "the first connection is closed")
            srv.wait_log(r"beats: refusing a connection: out of memory for it")
            for i in range(3):
                with socket.create_connection(("127.0.0.1", beats), timeout=30) as s:
                    s.sendall(good_window(5 + i, "served-%d" % i))
                    self.assertEqual(read_ack(s), b"2A" + struct.pack(">I", 5 + i))
            names = sorted(a["fields"]["host.name"] for a in srv.wait_printed(3))
            self.assertEqual(names, ["served-0", "served-1", "served-2"])
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())

    def test_syslog_listener_accepts_again_after_a_failed_allocation(self):
        with open(os.path.join(SYSLOG_FIXTURES, "verdicts.tsv")) as f:
            name = next(r.split("\t")[0] for r in f
                        if not r.startswith("#") and r.strip() and r.split("\t")[2] != "none")
        with open(os.path.join(SYSLOG_FIXTURES, name), "rb") as f:
            line = f.read()
        srv = serve(self, syslog=True,
                    env={"AMSIWATCH_FAULT": "syslog-conn-alloc:1=ENOMEM*1"})
        try:
            syslog = srv.ports["syslog-tcp"]
            with socket.create_connection(("127.0.0.1", syslog), timeout=30) as first:
                self.assertTrue(closed_by_server(first), "the first connection is closed")
            srv.wait_log(r"syslog: refusing a connection: out of memory for it")
            with socket.create_connection(("127.0.0.1", syslog), timeout=30) as s:
                s.sendall(line)
                srv.wait_printed(1)
            self.assertEqual(len(srv.printed()), 1)
        finally:
            self.assertEqual(srv.stop(), 0, srv.log())


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
