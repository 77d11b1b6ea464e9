#!/usr/bin/env python3
"""The syslog relay (relay.syslog): amsiwatch passes every syslog message on, as it arrived, to a
real syslog-ng (Debian's syslog-ng-core) over TCP with octet counting or LF framing and over TLS,
and over UDP; the test compares what syslog-ng wrote with what was sent. With the next hop down,
a TCP sender's messages wait and go on once it is up (relay.when-down: block; UDP messages past
the budget are dropped and counted), or go to the syslog outbox and on from there once it is up,
in order, after a kill -9 too (spill); the alerts are raised as without a relay.

usage: test_relay_syslog.py path/to/amsiwatch [unittest options]"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import amsi

BINARY = None
SYSLOG_NG = shutil.which("syslog-ng") or "/usr/sbin/syslog-ng"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "syslog")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SyslogNg:
    """syslog-ng with one source on 127.0.0.1:PORT writing each message's text ($MSG, no parsing)
    as one line to a file."""

    def __init__(self, work, source, port=None, tls=None):
        self.dir = amsi.tempdir(prefix="syslog-ng-", parent=work)
        self.port = port or free_port()
        self.out = os.path.join(self.dir, "out.log")
        tls_opt = ""
        if tls:
            tls_opt = ' tls(key-file("%s") cert-file("%s") peer-verify(optional-untrusted))' % tls
        conf = os.path.join(self.dir, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write('@version: 3.38\n'
                    'options { stats-freq(0); use-dns(no); log-msg-size(65536); };\n'
                    'source s { %s(ip("127.0.0.1") port(%d) transport("%s") flags(no-parse)%s); };\n'
                    'destination d { file("%s" template("$MSG\\n") flush-lines(1)); };\n'
                    'log { source(s); destination(d); };\n'
                    % (source[0], self.port, source[1], tls_opt, self.out))
        self.err = open(os.path.join(self.dir, "stderr.log"), "w")
        self.proc = subprocess.Popen(
            [SYSLOG_NG, "-F", "--no-caps", "-f", conf, "-R", os.path.join(self.dir, "persist"),
             "-p", os.path.join(self.dir, "pid"), "-c", os.path.join(self.dir, "ctl")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("syslog-ng exited: " + self.log())
            if source[1] == "udp" or self.listening():
                break
            time.sleep(0.05)

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        with open(os.path.join(self.dir, "stderr.log")) as f:
            return f.read()

    def lines(self):
        try:
            with open(self.out, "rb") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_lines(self, n, timeout=60):
        deadline = time.time() + timeout * amsi.slow(BINARY)
        while len(self.lines()) < n and time.time() < deadline:
            time.sleep(0.1)
        return self.lines()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.err.close()


class SlowHop:
    """A syslog next hop on 127.0.0.1:PORT that reads octet-counted messages at PACE bytes a
    second (None: as fast as they come) and keeps them. go_away() closes its listener, tells the
    sender it is done (its side of the connection shut) and stops reading; read_rest() then reads
    what was written to it, as fast as it comes, up to the sender's close."""

    def __init__(self, port, pace=None):
        self.pace, self.data, self.lock = pace, b"", threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if pace:  # a small window: what the sender has written waits in its own buffers
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(8)
        self.conns, self.reading = [], threading.Event()
        self.reading.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(sock)
            threading.Thread(target=self._read, args=(sock,), daemon=True).start()

    def _read(self, sock):
        with sock:
            while True:
                self.reading.wait()
                chunk = sock.recv(16384)
                if not chunk:
                    return
                with self.lock:
                    self.data += chunk
                if self.pace:
                    time.sleep(len(chunk) / self.pace)

    def messages(self):
        """The whole messages received (a run cut short by the sender's close is left out)."""
        with self.lock:
            data = self.data
        out, off = [], 0
        while True:
            sp = data.find(b" ", off)
            if sp < 0:
                return out
            n = int(data[off:sp])
            if sp + 1 + n > len(data):
                return out
            out.append(data[sp + 1:sp + 1 + n])
            off = sp + 1 + n

    def go_away(self):
        self.reading.clear()
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        for sock in self.conns:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def read_rest(self):
        self.pace = None
        self.reading.set()


class RelaySyslogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(SYSLOG_NG):
            raise AssertionError("syslog-ng (Debian syslog-ng-core) is not installed: "
                                 "scripts/install-deps.sh")
        cls.work = amsi.tempdir(cls)
        # Every fixture message (Windows events from NXLog, Snare, WinCollect...) and some plain
        # ones, each as it was sent (one per line in the fixture files).
        cls.messages = []
        for name in sorted(n for n in os.listdir(FIXTURES) if n.endswith(".log")):
            with open(os.path.join(FIXTURES, name), "rb") as f:
                cls.messages += [ln for ln in f.read().splitlines() if ln.strip()]
        cls.messages += [b"<13>Dec  7 10:00:%02d host app[1]: plain message %d" % (i, i)
                         for i in range(40)]
        # syslog-ng's syslog() source (octet counting) takes a frame whose text has no <PRI> for
        # a line of its own, count included: those go to the LF and UDP next hops only.
        cls.with_pri = [m for m in cls.messages if m.startswith(b"<")]

    def alerts(self, messages):
        """The alerts amsiwatch raises over MESSAGES, without a relay."""
        srv = amsi.Serve(["syslog-tcp"], data_dir=amsi.tempdir(prefix="alone-", parent=self.work),
                         cleanup=self, args=["--quiet", "--stats-interval", "0"])
        self.send_tcp(srv, messages, "lf")
        time.sleep(1)
        self.assertEqual(srv.stop(), 0, srv.log())
        n = len(srv.journaled())
        self.assertGreater(n, 0)
        return n

    def hop(self, source, **kw):
        ng = SyslogNg(self.work, source, **kw)
        self.addCleanup(ng.stop)
        return ng

    def serve(self, ng_port, transport="tcp", framing="octet", args=()):
        return amsi.Serve(["syslog-tcp", "syslog-udp"],
                          data_dir=amsi.tempdir(prefix="data-", parent=self.work), cleanup=self,
                          args=["--quiet", "--stats-interval", "0", "--relay-syslog-hosts",
                                "127.0.0.1:%d" % ng_port, "--relay-syslog-transport", transport,
                                "--relay-syslog-framing", framing, "--relay-beats-backoff-init",
                                "100ms", "--relay-beats-backoff-max", "500ms"] + list(args))

    def send_tcp(self, srv, messages, framing="octet"):
        if framing == "lf":
            data = b"".join(m + b"\n" for m in messages)
        else:
            data = b"".join(b"%d %s" % (len(m), m) for m in messages)
        with socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]), timeout=30) as s:
            s.sendall(data)

    def check(self, srv, ng, messages, alerts):
        got = ng.wait_lines(len(messages))
        self.assertEqual(sorted(got), sorted(messages), "what syslog-ng wrote is what was sent")
        srv.wait_journaled(alerts)
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(len(srv.journaled()), alerts, "alerts as without a relay")
        m = srv.last(r"relay-syslog: (\d+) messages \(\d+ bytes\) passed on, (\d+) dropped")
        self.assertIsNotNone(m, srv.log())
        self.assertEqual(int(m.group(1)), len(messages))
        self.assertEqual(int(m.group(2)), 0)

    def test_tcp_octet_counting_to_syslog_ng(self):
        ng = self.hop(("syslog", "tcp"))
        srv = self.serve(ng.port)
        self.send_tcp(srv, self.with_pri)
        self.check(srv, ng, self.with_pri, self.alerts(self.with_pri))

    def test_tcp_lf_framing_to_syslog_ng(self):
        ng = self.hop(("network", "tcp"))
        srv = self.serve(ng.port, framing="lf")
        self.send_tcp(srv, self.messages, "lf")
        self.check(srv, ng, self.messages, self.alerts(self.messages))

    def test_tls_to_syslog_ng(self):
        from test_tls import make_pki
        pki = make_pki(amsi.tempdir(prefix="pki-", parent=self.work))
        ng = self.hop(("syslog", "tls"), tls=(pki.path("server.key"), pki.path("server.pem")))
        srv = self.serve(ng.port, transport="tls",
                         args=["--relay-syslog-ssl-certificate-authorities", pki.path("ca.pem")])
        self.send_tcp(srv, self.with_pri)
        self.check(srv, ng, self.with_pri, self.alerts(self.with_pri))

    def paced_udp(self, srv, messages, taken, batch):
        """Sends MESSAGES to SRV's UDP port BATCH at a time, each batch once TAKEN() (a count
        along the way) has grown by every message sent before it: however slow the machine, no
        socket buffer on the way holds more than a batch, so none overflows."""
        base = taken()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for start in range(0, len(messages), batch):
                for m in messages[start:start + batch]:
                    s.sendto(m, ("127.0.0.1", srv.ports["syslog-udp"]))
                sent = min(start + batch, len(messages))
                deadline = time.time() + 30 * amsi.slow(BINARY)
                while taken() - base < sent and time.time() < deadline:
                    time.sleep(0.01)
                self.assertGreaterEqual(taken() - base, sent, "a UDP message was lost on the way")

    def test_udp_in_and_out(self):
        ng = self.hop(("network", "udp"))
        srv = self.serve(ng.port, transport="udp")
        # Paced on what syslog-ng wrote: the whole way, amsiwatch's relay included.
        self.paced_udp(srv, self.messages, lambda: len(ng.lines()), 10)
        self.check(srv, ng, self.messages, self.alerts(self.messages))

    def test_a_next_hop_down_holds_tcp_messages_until_it_is_up(self):
        port = free_port()
        srv = self.serve(port)
        self.send_tcp(srv, self.with_pri)
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: next hop .* is down", 20), srv.log())
        time.sleep(1)
        ng = self.hop(("syslog", "tcp"), port=port)
        self.check(srv, ng, self.with_pri, self.alerts(self.with_pri))

    # ---- relay.when-down with the next hop down ----

    def passed_on(self, srv, n, timeout=30):
        """Waits until SRV's stats line counts N messages passed on (taken for the next hop)."""
        return srv.wait_log(r"relay-syslog: %d messages \(\d+ bytes\) passed on, (\d+) dropped" % n,
                            timeout)

    def send_udp(self, srv, messages, batch=50):
        """Sends MESSAGES over UDP, BATCH at a time, paced on amsiwatch's count of the UDP
        messages it read (its stats line: a stats-interval is needed)."""
        def taken():
            m = srv.last(r"syslog: udp: (\d+) messages")
            return int(m.group(1)) if m else 0

        self.paced_udp(srv, messages, taken, batch)

    def spilling(self, port, data_dir=None, args=(), listen=("syslog-tcp", "syslog-udp")):
        return amsi.Serve(list(listen),
                          data_dir=data_dir or amsi.tempdir(prefix="spill-", parent=self.work),
                          cleanup=self,
                          args=["--quiet", "--stats-interval", "200ms", "--relay-syslog-hosts",
                                "127.0.0.1:%d" % port, "--relay-when-down", "spill",
                                "--relay-beats-backoff-init", "100ms", "--relay-beats-backoff-max",
                                "300ms"] + list(args))

    def outbox_records(self, data_dir):
        p = amsi.journal(os.path.join(data_dir, "syslog-outbox"), "stats", binary=BINARY)
        m = re.search(r"alerts:\s+(\d+)", p.stdout)
        return int(m.group(1)) if m else 0

    def udp_messages(self, n):
        return [b"<14>Dec  7 11:00:%02d router kernel: udp message %d" % (i % 60, i)
                for i in range(n)]

    def test_spill_sends_tcp_and_udp_messages_on_once_in_order_when_the_hop_is_up(self):
        port = free_port()
        srv = self.spilling(port)
        tcp = self.with_pri
        udp = self.udp_messages(200)
        self.send_tcp(srv, tcp)
        self.passed_on(srv, len(tcp))  # every TCP message taken before the first UDP one
        self.send_udp(srv, udp)
        m = self.passed_on(srv, len(tcp) + len(udp))
        self.assertEqual(int(m.group(1)), 0, "nothing dropped while the outbox takes them")
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: outbox: [1-9]\d* runs", 10), srv.log(40))
        self.assertEqual(srv.count(r"relay-syslog: [1-9]\d* runs \(\d+ bytes\) written"), 0,
                         "nothing reached a next hop while it was down")
        ng = self.hop(("syslog", "tcp"), port=port)
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: a next hop is up: sending the outbox on "
                                          r"\([1-9]\d* runs", 30), srv.log(40))
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: outbox: 0 runs \(0 bytes\) held, .*; "
                                          r"([1-9]\d*) spilled, \1 sent on", 120), srv.log(40))
        got = ng.wait_lines(len(tcp) + len(udp))
        self.assertEqual(srv.stop(), 0, srv.log())
        time.sleep(0.5)  # syslog-ng writes each line as it comes: a duplicate would show by now
        self.assertEqual(ng.lines(), tcp + udp, "each message once, in order, byte for byte")
        self.assertEqual(got, tcp + udp)

    def test_a_kill_9_with_a_syslog_outbox_then_a_restart_sends_it_on(self):
        port = free_port()
        data = amsi.tempdir(prefix="spill-", parent=self.work)
        first = self.spilling(port, data_dir=data)
        self.send_tcp(first, self.with_pri)
        self.passed_on(first, len(self.with_pri))
        runs = int(first.wait_log(r"relay-syslog: outbox: \d+ runs .*; (\d+) spilled").group(1))
        # Every run on disk (journal.sync-interval 0: fdatasync'd) before the kill.
        deadline = time.time() + 30 * amsi.slow(BINARY)
        while self.outbox_records(data) < runs and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.outbox_records(data), runs)
        first.kill()
        ng = self.hop(("syslog", "tcp"), port=port)
        again = self.spilling(port, data_dir=data)
        self.assertIsNotNone(again.wait_log(r"relay: outbox .*syslog-outbox holds %d windows"
                                            % runs, 10), again.log())
        got = ng.wait_lines(len(self.with_pri))
        self.assertIsNotNone(again.wait_log(r"relay-syslog: outbox: 0 runs \(0 bytes\) held, "
                                            r".*; 0 spilled, %d sent on" % runs, 60), again.log(40))
        self.assertEqual(again.stop(), 0, again.log())
        self.assertEqual(got, self.with_pri, "each message once, in order, byte for byte")
        # Sent on once: a third start has nothing left to send.
        third = self.spilling(port, data_dir=data)
        self.assertIsNotNone(third.wait_log(r"relay-syslog: outbox: 0 runs \(0 bytes\) held", 10))
        self.assertEqual(third.count(r"holds \d+ windows"), 0, third.log())
        self.assertEqual(third.stop(), 0, third.log())
        self.assertEqual(ng.lines(), self.with_pri)

    def test_a_full_syslog_outbox_blocks_a_tcp_sender_until_the_hop_is_back(self):
        port = free_port()
        srv = self.spilling(port, args=["--relay-spill-max-size", "1MiB",
                                        "--syslog-connection-budget", "64KiB"])
        # 20 MB: far more than the outbox's cap, the budget and the loopback socket buffers.
        tcp = [b"<13>Dec  7 13:00:00 host app[3]: spilled message %06d %s" % (i, b"y" * 150)
               for i in range(100000)]
        sent = threading.Event()
        sender = threading.Thread(target=lambda: (self.send_tcp(srv, tcp), sent.set()),
                                  daemon=True)
        sender.start()
        m = srv.wait_log(r"relay-syslog: outbox: \d+ runs \(([1-9]\d*) bytes\) held", 20)
        self.assertFalse(sent.wait(2), "past the cap, the TCP sender waits")
        m = srv.last(r"relay-syslog: outbox: \d+ runs \((\d+) bytes\) held")
        self.assertLessEqual(int(m.group(1)), 1 << 20, "the outbox stays under its cap")
        ng = self.hop(("syslog", "tcp"), port=port)
        self.assertTrue(sent.wait(120 * amsi.slow(BINARY)), "the TCP sender completes")
        sender.join()
        got = ng.wait_lines(len(tcp), timeout=120)
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: outbox: 0 runs \(0 bytes\) held, .*; "
                                          r"([1-9]\d*) spilled, \1 sent on", 60), srv.log(40))
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(got, tcp, "each message once, in order, byte for byte")

    def test_block_pauses_a_tcp_sender_and_counts_the_udp_messages_dropped(self):
        port = free_port()
        # A small budget: UDP runs in the relay fill it at once. The TCP sender's 20 MB are more
        # than the budget and the loopback socket buffers hold.
        srv = self.serve(port, args=["--stats-interval", "200ms", "--syslog-connection-budget",
                                     "64KiB", "--syslog-batch-bytes", "4KiB"])
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: next hop .* is down", 20), srv.log())
        tcp = [b"<13>Dec  7 12:00:00 host app[2]: blocked message %06d %s" % (i, b"x" * 150)
               for i in range(100000)]
        sent = threading.Event()
        sender = threading.Thread(target=lambda: (self.send_tcp(srv, tcp), sent.set()),
                                  daemon=True)
        sender.start()
        udp = self.udp_messages(100)
        self.send_udp(srv, udp, 5)  # 20 runs for the relay, each of one batch: more than fit
        m = srv.wait_log(r"relay-syslog: \d+ messages \(\d+ bytes\) passed on, ([1-9]\d*) "
                         r"dropped", 20)
        self.assertFalse(sent.wait(2), "the TCP sender waits while the next hop is down")
        ng = self.hop(("syslog", "tcp"), port=port)
        self.assertTrue(sent.wait(120 * amsi.slow(BINARY)), "the TCP sender completes")
        sender.join()
        # Every message taken: passed on or, for UDP, dropped and counted.
        pattern = r"relay-syslog: (\d+) messages \(\d+ bytes\) passed on, (\d+) dropped"
        deadline = time.time() + 60 * amsi.slow(BINARY)
        while time.time() < deadline:
            m = srv.last(pattern)
            if m and int(m.group(1)) + int(m.group(2)) >= len(tcp) + len(udp):
                break
            time.sleep(0.1)
        self.assertEqual(srv.stop(), 0, srv.log())
        m = srv.last(pattern)
        passed, dropped = int(m.group(1)), int(m.group(2))
        self.assertGreater(dropped, 0, "UDP has no back-pressure: drops are counted")
        self.assertEqual(passed + dropped, len(tcp) + len(udp), "every message passed or counted")
        got = ng.wait_lines(passed)
        self.assertEqual(len(got), passed)
        self.assertEqual([ln for ln in got if b"blocked message" in ln], tcp,
                         "the TCP sender's messages, each once, in order")
        self.assertEqual(set(got) - set(tcp) <= set(udp), True)

    # ---- A stop ----

    def test_a_stop_writes_or_spills_the_runs_still_in_the_relay(self):
        # A slow next hop: when the sender has closed and SIGTERM comes, most of its 12 MB
        # still wait in the relay (16 MiB of syslog.connection-budget); the hop then goes. The stop spills them into the outbox (the
        # sender's connection closed long before), and the next start sends them on.
        port = free_port()
        data = amsi.tempdir(prefix="stop-", parent=self.work)
        slow = SlowHop(port, pace=256 << 10)
        self.addCleanup(slow.read_rest)
        self.addCleanup(slow.go_away)
        srv = self.spilling(port, data_dir=data, listen=["syslog-tcp"])  # no UDP to drain
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: connected to the next hop", 20))
        tcp = [b"<13>Dec  7 14:00:00 host app[4]: stopping message %06d %s" % (i, b"z" * 150)
               for i in range(60000)]
        self.send_tcp(srv, tcp)
        self.passed_on(srv, len(tcp), 60 * amsi.slow(BINARY))
        self.assertLess(len(slow.messages()), len(tcp) // 2, "the hop is slow")
        srv.proc.send_signal(signal.SIGTERM)
        slow.go_away()
        srv.proc.wait(60 * amsi.slow(BINARY))
        slow.read_rest()  # what was written to it before it went (passed on: no ACK in syslog)
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertIsNotNone(srv.last(r"every window in flight is acknowledged; stopping"),
                             srv.log(40))
        self.assertEqual(srv.count(r"could not be passed on"), 0, srv.log(40))
        self.assertGreater(self.outbox_records(data), 0, "the stop spilled what the hop left")
        hop = SlowHop(port)
        self.addCleanup(hop.read_rest)
        self.addCleanup(hop.go_away)
        again = self.spilling(port, data_dir=data, listen=["syslog-tcp"])
        self.assertIsNotNone(again.wait_log(r"relay-syslog: outbox: 0 runs \(0 bytes\) held, "
                                            r".*; 0 spilled, [1-9]\d* sent on", 60), again.log(40))
        deadline = time.time() + 30 * amsi.slow(BINARY)
        while time.time() < deadline and set(tcp) - set(slow.messages() + hop.messages()):
            time.sleep(0.1)
        self.assertEqual(again.stop(), 0, again.log())
        got = slow.messages() + hop.messages()
        self.assertEqual(set(got) - set(tcp), set())
        self.assertEqual(len(set(tcp) - set(got)), 0, "every message at a hop, at least once")

    def test_a_stop_says_how_many_messages_it_could_not_pass_on(self):
        # block, the next hop down: the stop waits shutdown-timeout for it, then says so.
        port = free_port()
        srv = self.serve(port, args=["--shutdown-timeout", "1s", "--stats-interval", "200ms"])
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: next hop .* is down", 20), srv.log())
        self.send_tcp(srv, self.with_pri)
        self.passed_on(srv, len(self.with_pri))
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertIsNotNone(srv.last(r"windows still in flight after 1000 ms"), srv.log(40))
        self.assertIsNotNone(srv.last(r"relay-syslog: %d messages could not be passed on"
                                      % len(self.with_pri)), srv.log(40))


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
