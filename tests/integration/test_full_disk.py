#!/usr/bin/env python3
"""A full or failing disk is back-pressure, not an outage.

1. The data directory on a 3 MB tmpfs this test mounts itself: Beats windows with AmsiEnable
   alerts are sent until the journal fills the file system. The window that cannot be journaled
   is not acknowledged; its connection gets keep-alive ACK 0 and stays open, while windows without
   alerts on another connection are acknowledged as usual. Then the file system is grown to 50 MB
   without a restart: the waiting window is acknowledged, later ones too, and the journal holds
   every alert once with continuous sequence numbers and an intact hash chain. Needs root (CI
   runs as root); where mounting is refused it says so and skips this case only.
2. Injected errors from the environment (AMSIWATCH_FAULT=journal-fdatasync:N=EIO*K and
   journal-write:N=ENOSPC*K): every window is acknowledged once the errors pass, and the journal
   verifies.

usage: test_full_disk.py path/to/amsiwatch [unittest options]"""
import json
import os
import socket
import struct
import subprocess
import time
import unittest

import amsi

BINARY = None
HERE = os.path.dirname(os.path.abspath(__file__))
EVENT = os.path.join(HERE, "..", "..", "samples", "winlogbeat-events.ndjson")
SYSLOG_ALERT = os.path.join(HERE, "..", "fixtures", "syslog", "alert-nxlog-json-rfc5424.log")
PER_WINDOW = 20

def sample_event():
    with open(EVENT) as f:
        for line in f:
            if "AmsiEnable" in line and "0x00000000" in line:
                return json.loads(line)
    raise AssertionError("no AmsiEnable event in " + EVENT)


def event(tag, alert=True):
    ev = sample_event()
    ev.setdefault("host", {})["name"] = tag
    text = json.dumps(ev)
    if not alert:
        text = text.replace("AmsiEnable", "AmsiLogging")
    return text.encode()


def window_v2(events, first_seq=1):
    out = b"2W" + struct.pack(">I", len(events))
    for i, ev in enumerate(events):
        out += b"2J" + struct.pack(">II", first_seq + i, len(ev)) + ev
    return out


def read_ack(sock, timeout):
    """The next ACK's sequence number, None on timeout; EOFError when the server closed."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 6:
            chunk = sock.recv(6 - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
    except socket.timeout:
        if buf:
            raise AssertionError("half an ACK: %r" % buf)
        return None
    assert buf[:2] == b"2A", buf
    return struct.unpack(">I", buf[2:])[0]


class FullDiskTest(unittest.TestCase):
    def setUp(self):
        self.tmp = amsi.tempdir(self, "amsiwatch-full-")
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()

    def start(self, data_dir, env_fault=None):
        """serve with Beats and syslog TCP; AMSIWATCH_FAULT is ENV_FAULT (or unset)."""
        return amsi.Serve(["beats", "syslog-tcp"], data_dir=data_dir,
                          args=["--quiet", "--stats-interval", "0", "--beats-keepalive", "300ms",
                                "--beats-keepalive-max", "3s"],
                          env={"AMSIWATCH_FAULT": env_fault}, cleanup=self)

    def connect(self, srv):
        s = socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=15)
        self.socks.append(s)
        return s

    def send_acked(self, sock, tag, alert=True, timeout=30):
        """Sends one window and waits for its ACK (keep-alives may come first)."""
        sock.sendall(window_v2([event("%s-%d" % (tag, i), alert) for i in range(PER_WINDOW)]))
        deadline = time.time() + timeout * amsi.slow()
        while time.time() < deadline:
            ack = read_ack(sock, max(0.1, deadline - time.time()))
            if ack == PER_WINDOW:
                return
            self.assertIn(ack, (0, None), "unexpected ACK")
        raise AssertionError("window %s not acknowledged in %d s" % (tag, timeout * amsi.slow()))

    def assert_journal(self, data_dir, alerts):
        """The journal holds ALERTS alerts with sequence numbers 1..ALERTS and verifies."""
        v = amsi.journal(data_dir, "verify")
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        lst = amsi.journal(data_dir, "list")
        self.assertEqual(lst.returncode, 0, lst.stderr)
        seqs = [int(ln.split()[0]) for ln in lst.stdout.splitlines() if ln.strip()]
        self.assertEqual(seqs, list(range(1, alerts + 1)),
                         "continuous sequence numbers, no gap, no duplicate")

    def test_a_full_file_system_pauses_alert_windows_until_it_grows(self):
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("SKIP full-disk case: cannot mount a tmpfs here (%s); run as root to test it"
                  % (r.stderr.strip() or "mount failed"), flush=True)
            self.skipTest("mounting a tmpfs was refused")
        # Cleanups run last in, first out: the servers go, then the file system under their data.
        self.addCleanup(subprocess.run, ["umount", mnt], capture_output=True)
        self.run_full_disk(mnt)

    def run_full_disk(self, mnt):
        data = os.path.join(mnt, "data")
        srv = self.start(data)
        a = self.connect(srv)
        full = r"journal: write to .* failed: No space left on device"
        acked = 0
        stuck = False
        # 3 MB holds about a thousand alerts: fill it window by window.
        for w in range(400):
            a.sendall(window_v2([event("fill-%d-%d" % (w, i)) for i in range(PER_WINDOW)]))
            keepalives = 0
            while True:
                ack = read_ack(a, 30 * amsi.slow())
                if ack == PER_WINDOW:
                    acked += 1
                    break
                self.assertIsNotNone(ack, "neither ACK nor keep-alive:\n" + srv.log())
                self.assertEqual(ack, 0)
                keepalives += 1
                if keepalives >= 3 and srv.count(full):
                    stuck = True
                    break
            if stuck:
                break
        self.assertTrue(stuck, "the journal never filled 3 MB:\n" + srv.log())
        self.assertGreater(acked, 10, srv.log())

        # The waiting window gets keep-alives, not its ACK, and the connection stays open, also
        # past beats.keepalive-max (3 s): a window waiting for the disk is not a stalled one.
        held = time.time() + 7
        while time.time() < held:
            self.assertEqual(read_ack(a, 10 * amsi.slow()), 0, "keep-alive while the disk is full")
        # A syslog sender's alert waits too (its connection is not closed).
        with open(SYSLOG_ALERT, "rb") as f:
            syslog_line = f.readline().rstrip(b"\n") + b"\n"
        sl = socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]), timeout=15)
        self.socks.append(sl)
        sl.sendall(syslog_line)
        # Windows without alerts on another connection flow as usual.
        b = self.connect(srv)
        for w in range(5):
            self.send_acked(b, "quiet-%d" % w, alert=False, timeout=15)
        self.assertEqual(read_ack(a, 10 * amsi.slow()), 0, "still waiting, still open")
        self.assertEqual(srv.count(full), 1, "the failure is logged once:\n" + srv.log())
        self.assertEqual(srv.count(r"Broken pipe|stops accepting"), 0, srv.log())

        # More room, no restart: the waiting window is acknowledged, later ones too.
        r = subprocess.run(["mount", "-o", "remount,size=50m", mnt], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 30 * amsi.slow()
        while True:
            ack = read_ack(a, max(0.1, deadline - time.time()))
            if ack == PER_WINDOW:
                break
            self.assertEqual(ack, 0, "waiting window acknowledged after the file system grew")
            self.assertLess(time.time(), deadline, "no ACK after growing:\n" + srv.log())
        acked += 1
        for w in range(5):
            self.send_acked(a, "after-%d" % w)
        acked += 5
        self.assertEqual(srv.count(r"journal: writes to .* succeed again"), 1, srv.log())
        # The syslog connection reads again: a second alert on it is journaled as well.
        sl.sendall(syslog_line)
        want = acked * PER_WINDOW + 2
        deadline = time.time() + 30 * amsi.slow()
        while time.time() < deadline:
            lst = amsi.journal(data, "list")
            if len(lst.stdout.splitlines()) >= want:
                break
            time.sleep(0.2)
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(srv.count(r"closing"), 0, "no connection closed:\n" + srv.log())
        self.assert_journal(data, want)

    def faulty_run(self, fault, what):
        data = os.path.join(self.tmp, "data")
        srv = self.start(data, env_fault=fault)
        a = self.connect(srv)
        for w in range(8):
            self.send_acked(a, "w%d" % w)
        self.assertGreaterEqual(srv.count(r"journal: write to .* failed: " + what), 1,
                                srv.log())
        self.assertEqual(srv.count(r"journal: writes to .* succeed again"), 1, srv.log())
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assert_journal(data, 8 * PER_WINDOW)

    def test_scan_journal_on_a_full_disk_exits_3_instead_of_waiting(self):
        env = dict(os.environ, AMSIWATCH_FAULT="journal-write=ENOSPC")
        r = subprocess.run([BINARY, "scan", "-q", "--journal", os.path.join(self.tmp, "data"),
                            EVENT], env=env, capture_output=True, text=True,
                           timeout=60 * amsi.slow())
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("could not be written to the journal", r.stderr)

    def test_eio_on_fdatasync_from_the_environment_is_waited_out(self):
        self.faulty_run("journal-fdatasync:3=EIO*4", "Input/output error")

    def test_enospc_on_write_from_the_environment_is_waited_out(self):
        self.faulty_run("journal-write:2=ENOSPC*5", "No space left on device")


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
