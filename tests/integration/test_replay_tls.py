#!/usr/bin/env python3
"""`amsiwatch replay --tls`: the load generator over TLS, into `amsiwatch serve` with its Beats
listener in TLS (`--beats-ssl-enabled`, with and without required client certificates) and its
syslog TLS listener (RFC 5425), and into a Lumberjack receiver written here (Python's ssl module)
that cuts a connection in the middle of a window. Certificates are made with the `openssl`
command.

What is checked: every event is acknowledged and serve raises exactly the alerts `amsiwatch scan`
finds; the report names the protocol and cipher; a reconnect makes a new handshake; every
handshake failure (unknown CA, name mismatch, no client certificate, a client certificate the
server refuses, a receiver that does not speak TLS) ends the run with exit status 3 and a message
naming the cause; bad TLS options are usage errors (exit status 2).

usage: test_replay_tls.py path/to/amsiwatch [unittest options]"""
import os
import re
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amsi  # noqa: E402
import test_replay as tr  # noqa: E402
import test_tls as tt  # noqa: E402

TLS_SYSLOG_RE = re.compile(r"syslog: tls: (\d+) messages")
HANDSHAKES_RE = re.compile(r"beats: TLS: (\d+) handshakes")


def make_pki(d):
    p = tt.Pki(d)
    p.ca("ca", "amsiwatch replay test CA")
    p.ca("other-ca", "another CA")
    p.cert("server", "/CN=amsiwatch.test", "ca", "DNS:localhost,IP:127.0.0.1,IP:::1")
    p.cert("client", "/O=Example/CN=replay-01", "ca", None, server=False)
    p.cert("stranger", "/CN=stranger", "other-ca", None, server=False)
    return p


class ReplayTlsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = amsi.tempdir(cls, "amsiwatch-replay-tls-")
        cls.pki = make_pki(cls.dir)
        cls.input = os.path.join(cls.dir, "events.ndjson")
        cls.lines = tr.make_input(cls.input)
        cls.n = len(cls.lines)
        cls.alerts = tr.scan_alerts(cls.dir, cls.lines)
        assert cls.alerts > 10, "the fixtures should raise alerts"

    def setUp(self):
        self.receivers = []

    def tearDown(self):
        for r in self.receivers:
            r.close()

    def p(self, name):
        return self.pki.path(name)

    def serve(self, auth="none", **kw):
        args = ["--beats-ssl-enabled", "--beats-ssl-certificate", self.p("server.pem"),
                "--beats-ssl-key", self.p("server.key")]
        if auth != "none":
            args += ["--beats-ssl-certificate-authorities", self.p("ca.pem"),
                     "--beats-ssl-client-authentication", auth]
        return tr.serve(self, self.dir, extra=args, **kw)

    def tls(self, *more):
        return ["--tls", "--tls-ca", self.p("ca.pem")] + list(more)

    def check_served(self, srv, rep, events):
        tr.check_beats(self, srv, rep, self.alerts, events)

    def check_tls_report(self, rep, client_certificate=False):
        t = rep["tls"]
        self.assertIn(t["protocol"], ("TLSv1.2", "TLSv1.3"), rep)
        self.assertTrue(t["cipher"], rep)
        self.assertTrue(t["verified"], rep)
        self.assertEqual(t["client_certificate"], client_certificate, rep)

    def handshake_failure(self, port, *args, cause):
        rc, rep, err = tr.replay_json("127.0.0.1:%d" % port, *args, "--ack-timeout", "10s",
                                      self.input, timeout=60)
        self.assertEqual(rc, 3, err)
        self.assertFalse(rep["ok"], rep)
        self.assertEqual(rep["events_acked"], 0, rep)
        self.assertIn("TLS handshake with 127.0.0.1:%d failed" % port, rep["error"])
        self.assertIn(cause, rep["error"])
        self.assertIn(cause, err)
        return rep

    # -- Beats over TLS into amsiwatch serve --

    def test_beats_precompressed_windows_over_several_connections(self):
        srv = self.serve()
        rc, rep, err = tr.replay_json("127.0.0.1:%d" % srv.ports["beats"], *self.tls(),
                                      "--precompress", "--connections", 3, "--pipelining", 2,
                                      "--window", 25, self.input)
        self.assertEqual(rc, 0, err)
        self.check_tls_report(rep)
        self.assertEqual(rep["tls"]["server_name"], "127.0.0.1")
        self.assertEqual(rep["windows_acked"], -(-self.n // 25), rep)
        self.check_served(srv, rep, self.n)
        self.assertEqual(srv.beats_counters()["connections"], 3, srv.log())

    def test_beats_v1_uncompressed_text_report_and_host_name(self):
        srv = self.serve()
        rc, out, err = tr.replay("localhost:%d" % srv.ports["beats"], *self.tls(),
                                 "--lumberjack", 1, "--compression", 0, "--window", 64,
                                 self.input)
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"TLS +TLSv1\.[23], \S+; server 'localhost' verified against "
                         + re.escape(self.p("ca.pem")))
        self.assertIn("%d sent, %d acknowledged" % (self.n, self.n), out)
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_mutual_tls(self):
        srv = self.serve("required")
        port = srv.ports["beats"]
        rc, rep, err = tr.replay_json("127.0.0.1:%d" % port,
                                      *self.tls("--tls-cert", self.p("client.pem"),
                                                "--tls-key", self.p("client.key")),
                                      "--connections", 2, "--window", 50, self.input)
        self.assertEqual(rc, 0, err)
        self.check_tls_report(rep, client_certificate=True)
        self.handshake_failure(port, *self.tls(),
                               cause="the server asked for a client certificate and none was "
                                     "given")
        self.handshake_failure(port, *self.tls("--tls-cert", self.p("stranger.pem"),
                                               "--tls-key", self.p("stranger.key")),
                               cause="the server rejected the client certificate")
        self.check_served(srv, rep, self.n)

    def test_handshake_failures(self):
        srv = self.serve()
        port = srv.ports["beats"]
        rep = self.handshake_failure(port, "--tls", "--tls-ca", self.p("other-ca.pem"),
                                     cause="unknown CA")
        self.assertIn(self.p("other-ca.pem"), rep["error"])
        self.handshake_failure(port, *self.tls("--tls-server-name", "elsewhere.test"),
                               cause="name mismatch: the server's certificate does not name "
                                     "'elsewhere.test'")
        # --tls-insecure verifies nothing: the same wrong CA goes through.
        rc, rep, err = tr.replay_json("127.0.0.1:%d" % port, "--tls", "--tls-insecure",
                                      "--tls-server-name", "elsewhere.test", self.input)
        self.assertEqual(rc, 0, err)
        self.assertFalse(rep["tls"]["verified"], rep)
        # Nothing of the failed runs reached the pipeline.
        self.check_served(srv, rep, self.n)

    def test_receiver_without_tls(self):
        srv = tr.serve(self, self.dir)  # plaintext Beats
        self.handshake_failure(srv.ports["beats"], *self.tls(), cause="is TLS enabled")

    def test_plaintext_sender_on_a_tls_port_gives_up(self):
        # serve closes each plaintext connection to its TLS port at once: replay must not
        # reconnect for ever, but end the run saying what is likely wrong.
        srv = self.serve()
        rc, rep, err = tr.replay_json("127.0.0.1:%d" % srv.ports["beats"], "--ack-timeout", "30s",
                                      self.input, timeout=120)
        self.assertEqual(rc, 3, err)
        self.assertEqual(rep["events_acked"], 0, rep)
        self.assertIn("times in a row before any ACK", rep["error"])
        self.assertIn("does it want TLS", rep["error"])

    # -- Reconnects --

    def test_reconnect_makes_a_new_handshake(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.p("server.pem"), self.p("server.key"))
        got = []

        def handle(conn, win, sock, version, seqs):
            got.append((conn, len(seqs)))
            if conn == 1 and win == 3:
                tr.ack(sock, version, seqs[9])  # 10 events of this window are acknowledged
                tr.time.sleep(0.1)
                return False
            tr.ack(sock, version, seqs[-1])

        class TlsReceiver(tr.Receiver):
            def _serve(self, sock, conn_no):
                try:
                    sock = ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    sock.close()
                    return
                super()._serve(sock, conn_no)

        r = TlsReceiver(handle)
        self.receivers.append(r)
        rc, rep, err = tr.replay_json("127.0.0.1:%d" % r.port, *self.tls(), "--window", 50,
                                      "--pipelining", 1, self.input)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep["reconnects"], 1, rep)
        self.assertEqual(rep["events_acked"], self.n, rep)
        self.assertEqual(rep["events_resent"], 40, rep)
        self.assertEqual(r.connections, 2)
        self.assertIn((2, 40), got)

    # -- Syslog over TLS (RFC 5425) into serve's syslog-tls listener --

    def test_syslog_over_tls(self):
        srv = tr.serve(self, self.dir, listen=("syslog-tls",), extra=[
            "--syslog-tls-ssl-certificate", self.p("server.pem"),
            "--syslog-tls-ssl-key", self.p("server.key")])
        rc, rep, err = tr.replay_json("--protocol", "syslog-tcp", "--connections", 2,
                                      "--window", 100, *self.tls(),
                                      "127.0.0.1:%d" % srv.ports["syslog-tls"], self.input)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep["events_sent"], self.n, rep)
        self.check_tls_report(rep)
        self.assertGreater(rep["bytes_sent"], rep["payload_bytes"], "records around the events")
        tr.wait_alerts(srv, 2)  # NDJSON events in an RFC 5424 header do alert
        self.assertEqual(srv.stop(), 0, srv.log())
        counts = [int(m.group(1)) for m in map(TLS_SYSLOG_RE.search, srv.snapshot()) if m]
        self.assertEqual(counts[-1:], [self.n], srv.log())
        self.assertGreater(len(srv.printed()), 0, srv.log())

    # -- Options --

    def test_usage_errors(self):
        target = "127.0.0.1:1"
        for args, what in (([target, "--tls-ca", self.p("ca.pem")], "need --tls"),
                           ([target, "--tls", "--protocol", "syslog-udp"], "not syslog-udp"),
                           ([target, "--tls", "--tls-cert", self.p("client.pem")],
                            "--tls-cert and --tls-key go together"),
                           ([target, "--tls", "--tls-insecure", "--tls-ca", self.p("ca.pem")],
                            "--tls-insecure"),
                           ([target, "--tls", "--tls-ca", self.p("missing.pem")],
                            "--tls-ca: cannot load"),
                           ([target, "--tls", "--tls-cert", self.p("client.pem"), "--tls-key",
                             self.p("server.key")], "is not the key of the certificate")):
            with self.subTest(args=args):
                rc, out, err = tr.replay(*(args + [self.input]))
                self.assertEqual(rc, 2, out + err)
                self.assertIn(what, err)
        rc, out, _ = tr.replay("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--tls-insecure", out)
        self.assertIn("for benchmarks only", out)


def main():
    tr.BINARY = amsi.take_binary(__doc__)
    if not tt.OPENSSL:
        print("openssl not found: 0 passed, 0 failed, 1 skipped")
        sys.exit(0)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
