#!/usr/bin/env python3
"""The syslog relay (relay.syslog): amsiwatch passes every syslog message on, as it arrived, to a
real syslog-ng (Debian's syslog-ng-core) over TCP with octet counting or LF framing and over TLS,
and over UDP; the test compares what syslog-ng wrote with what was sent. With the next hop down,
a TCP sender's messages wait and go on once it is up; the alerts are raised as without a relay.

usage: test_relay_syslog.py path/to/amsiwatch [unittest options]"""
import os
import shutil
import socket
import subprocess
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

    def test_udp_in_and_out(self):
        ng = self.hop(("network", "udp"))
        srv = self.serve(ng.port, transport="udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for m in self.messages:
                s.sendto(m, ("127.0.0.1", srv.ports["syslog-udp"]))
                time.sleep(0.002)  # loopback UDP drops nothing at this pace
        self.check(srv, ng, self.messages, self.alerts(self.messages))

    def test_a_next_hop_down_holds_tcp_messages_until_it_is_up(self):
        port = free_port()
        srv = self.serve(port)
        self.send_tcp(srv, self.with_pri)
        self.assertIsNotNone(srv.wait_log(r"relay-syslog: next hop .* is down", 20), srv.log())
        time.sleep(1)
        ng = self.hop(("syslog", "tcp"), port=port)
        self.check(srv, ng, self.with_pri, self.alerts(self.with_pri))


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
