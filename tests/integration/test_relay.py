#!/usr/bin/env python3
"""The Beats relay (relay.beats): amsiwatch passes every window on to the next hop and
acknowledges the sender only once the next hop has acknowledged it.

Senders are `amsiwatch replay` (v2 compressed, v1 bare and compressed) and npm's clients through
the Node tests; next hops are a second `amsiwatch serve` (a chain of two, plaintext and mutual
TLS) and Lumberjack receivers written here (tests/integration/lumberjack.py) that acknowledge
part of a window and close, never acknowledge, or go away. What is checked: every event reaches
the last hop at least once (counted by what it received, or by the alerts it journaled when every
event alerts), the alerts are journaled at the first hop, every ACK comes in order (replay checks
them), a hop that goes down and comes back loses nothing, and load balancing spreads windows.

usage: test_relay.py path/to/amsiwatch [unittest options]"""
import collections
import json
import os
import random
import re
import socket
import struct
import subprocess
import time
import unittest
import zlib

import amsi
from lumberjack import Receiver, ack

BINARY = None


def gen(path, count, hit_rate, seed=1):
    subprocess.run([BINARY, "gen", "--count", str(count), "--hit-rate", str(hit_rate), "--seed",
                    str(seed), "-o", path], check=True, capture_output=True, timeout=120)
    with open(path, "rb") as f:
        return [ln for ln in f.read().splitlines() if ln.strip()]


def replay(*args, timeout=300):
    """`amsiwatch replay --json ARGS`: (exit status, report, stderr)."""
    proc = subprocess.run([BINARY, "replay", "--json", "--no-progress"] + [str(a) for a in args],
                          capture_output=True, text=True, errors="replace",
                          timeout=timeout * amsi.slow(BINARY))
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    report = json.loads(lines[-1]) if lines else {}
    return proc.returncode, report, proc.stderr


def window_v2(lines):
    """A v2 window of LINES (JSON events) in one C frame, as Beats send it."""
    body = b"".join(b"2J" + struct.pack(">II", i + 1, len(ln)) + ln for i, ln in enumerate(lines))
    z = zlib.compress(body, 3)
    return b"2W" + struct.pack(">I", len(lines)) + b"2C" + struct.pack(">I", len(z)) + z


def read_acks(sock, n, timeout):
    """The sequence numbers of the next N ACK frames SOCK receives within TIMEOUT seconds."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("closed after ACKs %r" % out)
        buf += chunk
        while len(buf) >= 6 and len(out) < n:
            assert buf[:2] == b"2A", buf[:6]
            out.append(struct.unpack(">I", buf[2:6])[0])
            buf = buf[6:]
    return out


def record_ids(events):
    """The winlog.record_id of each event (JSON text or a dict of pairs)."""
    out = []
    for e in events:
        doc = e if isinstance(e, dict) else json.loads(e)
        if "winlog.record_id" in doc:  # v1 pairs: flattened keys, string values
            out.append(int(doc["winlog.record_id"]))
        else:
            out.append(doc["winlog"]["record_id"])
    return out


class RelayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = amsi.tempdir(cls)
        cls.events = os.path.join(cls.work, "events.ndjson")
        cls.lines = gen(cls.events, 4000, 0.001)
        cls.ids = sorted(json.loads(ln)["winlog"]["record_id"] for ln in cls.lines)
        cls.expected_alerts = None

    def serve(self, relay_to=None, args=(), listen=("beats",), data_dir=None):
        extra = ["--stats-interval", "0", "--quiet"]
        if relay_to is not None:
            hosts = relay_to if isinstance(relay_to, str) else ",".join(relay_to)
            extra += ["--relay-beats-hosts", hosts, "--relay-beats-backoff-init", "100ms",
                      "--relay-beats-backoff-max", "500ms"]
        d = data_dir or amsi.tempdir(prefix="data-", parent=self.work)
        return amsi.Serve(listen, data_dir=d, args=extra + list(args), cleanup=self)

    def target(self, srv):
        return "127.0.0.1:%d" % srv.ports["beats"]

    def alerts_expected(self):
        if RelayTest.expected_alerts is None:
            d = amsi.tempdir(prefix="scan-", parent=self.work)
            srv = self.serve(data_dir=d)
            rc, rep, err = replay("-t", self.target(srv), self.events)
            self.assertEqual(rc, 0, err)
            self.assertEqual(srv.stop(), 0)
            RelayTest.expected_alerts = len(srv.journaled())
            self.assertGreater(RelayTest.expected_alerts, 0)
        return RelayTest.expected_alerts

    # ---- A chain of two amsiwatch ----

    def check_chain(self, first, last, rep, err, n):
        self.assertTrue(rep.get("ok"), err)
        self.assertEqual(rep["events_acked"], n, rep)
        self.assertEqual(first.stop(), 0, first.log())
        self.assertEqual(last.stop(), 0, last.log())
        self.assertEqual(first.beats_counters()["events"], n, first.log())
        self.assertEqual(last.beats_counters()["events"], n, last.log())
        expected = self.alerts_expected()
        self.assertEqual(len(first.journaled()), expected, "the first hop journals the alerts")
        self.assertEqual(len(last.journaled()), expected)

    def test_chain_of_two_every_event_reaches_the_last_hop(self):
        last = self.serve()
        first = self.serve(relay_to=self.target(last))
        rc, rep, err = replay("-t", self.target(first), "-c", 4, "-w", 500, self.events)
        self.assertEqual(rc, 0, err)
        self.check_chain(first, last, rep, err, len(self.lines))
        self.assertIsNotNone(first.last(r"relay: connected to the next hop 127\.0\.0\.1:\d+"),
                             first.log())
        m = first.last(r"relay: 127\.0\.0\.1:\d+: up, (\d+) windows, (\d+) events")
        self.assertIsNotNone(m, first.log())
        self.assertEqual(int(m.group(2)), len(self.lines))
        self.assertEqual(int(m.group(1)), first.beats_counters()["windows"])

    def test_v1_windows_go_on_as_v2(self):
        for compression in (0, 3):
            with self.subTest(compression=compression):
                got = []
                r = Receiver(lambda conn, win, sock, version, seqs:
                             (got.append(version), ack(sock, version, seqs[-1])))
                self.addCleanup(r.close)
                first = self.serve(relay_to="127.0.0.1:%d" % r.port)
                rc, rep, err = replay("-t", self.target(first), "--lumberjack", 1, "-z",
                                      compression, "-w", 300, self.events)
                self.assertEqual(rc, 0, err)
                self.assertEqual(rep["events_acked"], len(self.lines))
                self.assertEqual(first.stop(), 0, first.log())
                self.assertEqual(set(got), {b"2"}, "v1 windows go on as v2")
                events = r.events()
                self.assertTrue(all(isinstance(e, bytes) for e in events), "as J frames")
                self.assertEqual(sorted(record_ids(events)), self.ids)
                doc = json.loads(events[0])
                self.assertIn("winlog.record_id", doc, "the v1 pairs, as one JSON object")

    def test_chain_over_mutual_tls(self):
        from test_tls import make_pki
        pki = make_pki(amsi.tempdir(prefix="pki-", parent=self.work))
        p = pki.path
        last = self.serve(args=["--beats-ssl-enabled", "--beats-ssl-certificate",
                                p("server.pem"), "--beats-ssl-key", p("server.key"),
                                "--beats-ssl-certificate-authorities", p("ca.pem"),
                                "--beats-ssl-client-authentication", "required"])
        first = self.serve(relay_to=self.target(last),
                           args=["--relay-beats-ssl-enabled",
                                 "--relay-beats-ssl-certificate-authorities", p("ca.pem"),
                                 "--relay-beats-ssl-certificate", p("client.pem"),
                                 "--relay-beats-ssl-key", p("client.key")])
        rc, rep, err = replay("-t", self.target(first), "-c", 2, "-w", 500, self.events)
        self.assertEqual(rc, 0, err)
        self.check_chain(first, last, rep, err, len(self.lines))
        # A client certificate the next hop does not trust: windows wait, the log says why.
        stranger = self.serve(relay_to=self.target(self.serve(args=[
            "--beats-ssl-enabled", "--beats-ssl-certificate", p("server.pem"), "--beats-ssl-key",
            p("server.key"), "--beats-ssl-certificate-authorities", p("other-ca.pem"),
            "--beats-ssl-client-authentication", "required"])),
            args=["--relay-beats-ssl-enabled", "--relay-beats-ssl-certificate-authorities",
                  p("ca.pem"), "--relay-beats-ssl-certificate", p("client.pem"),
                  "--relay-beats-ssl-key", p("client.key")])
        self.assertIsNotNone(stranger.wait_log(r"relay: next hop .* is down: ", 20),
                             stranger.log())

    def test_a_bad_relay_configuration_is_refused_with_its_key(self):
        cases = [
            (["--relay-beats-hosts", "a:b:c"], "relay.beats.hosts"),
            (["--relay-beats-hosts", "127.0.0.1:1", "--relay-beats-ssl-enabled",
              "--relay-beats-ssl-certificate-authorities", "/nonexistent/ca.pem"],
             "relay.beats.ssl.certificate-authorities: cannot read /nonexistent/ca.pem"),
            (["--relay-beats-hosts", "127.0.0.1:1", "--relay-beats-ssl-verification-mode",
              "lax"], "relay-beats-ssl-verification-mode"),
            (["--relay-beats-hosts", "127.0.0.1:1", "--relay-beats-backoff-init", "2m"],
             "relay.beats.backoff.init"),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                proc = subprocess.run([BINARY, "serve", "--beats", "127.0.0.1:0", "--syslog-tcp",
                                       "off", "--syslog-udp", "off", "--data-dir",
                                       amsi.tempdir(prefix="bad-", parent=self.work)] + args,
                                      capture_output=True, text=True, timeout=60)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(words, proc.stderr)

    def test_the_readme_relay_configuration_is_taken_as_written(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "README.md")) as f:
            readme = f.read()
        m = re.search(r"```yaml\n# amsiwatch.yml: relay.beats[^\n]*\n(.*?)```", readme, re.S)
        self.assertIsNotNone(m, "README has no relay configuration")
        from test_tls import make_pki
        pki = make_pki(amsi.tempdir(prefix="pki-", parent=self.work))
        port = self.free_port()
        text = (m.group(1).replace("logstash.example:5045", "127.0.0.1:%d" % port)
                .replace("/etc/amsiwatch/logstash-ca.pem", pki.path("ca.pem"))
                .replace("/etc/amsiwatch/client.pem", pki.path("client.pem"))
                .replace("/etc/amsiwatch/client.key", pki.path("client.key")))
        conf = os.path.join(amsi.tempdir(prefix="conf-", parent=self.work), "amsiwatch.yml")
        with open(conf, "w") as f:
            f.write(text)
        srv = self.serve(args=["--config", conf])
        self.assertIsNotNone(srv.wait_log(r"relay: passing every Beats window on to "
                                          r"127\.0\.0\.1:%d \(one host\)" % port, 10), srv.log())
        self.assertEqual(srv.stop(), 0, srv.log())

    # ---- Next hops that fail ----

    def test_the_next_hop_killed_and_started_again_loses_nothing(self):
        self.hop_killed_and_started_again([])

    def test_the_next_hop_killed_and_started_again_loses_nothing_with_spill(self):
        first = self.hop_killed_and_started_again(["--relay-when-down", "spill",
                                                   "--stats-interval", "1s"])
        self.assertIsNotNone(first.last(r"relay: no next hop is up: windows go to the outbox"),
                             first.log())
        self.assertIsNotNone(first.last(r"relay: a next hop is up: sending the outbox on"),
                             first.log())

    def hop_killed_and_started_again(self, args):
        # (Nearly) every event alerts, so the next hop's journal (which survives its kill -9)
        # holds every alerting event it acknowledged: the same alerts as the first hop's.
        path = os.path.join(self.work, "hits.ndjson")
        lines = gen(path, 3000, 1, seed=7)
        hop_dir = amsi.tempdir(prefix="hop-", parent=self.work)
        last = self.serve(data_dir=hop_dir)
        port = last.ports["beats"]
        first = self.serve(relay_to="127.0.0.1:%d" % port, args=args)
        proc = subprocess.Popen([BINARY, "replay", "--json", "--no-progress", "-t",
                                 self.target(first), "-w", "100", "-r", "1000", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        last.wait_journaled(300, 60)
        last.kill()
        self.assertIsNotNone(first.wait_log(r"relay: next hop .* is down", 20), first.log())
        time.sleep(1)
        again = amsi.Serve(None, data_dir=hop_dir, cleanup=self,
                           args=["--beats", "127.0.0.1:%d" % port, "--syslog-tcp", "off",
                                 "--syslog-udp", "off", "--syslog-tls", "off", "--quiet"])
        out, err = proc.communicate(timeout=300 * amsi.slow(BINARY))
        rep = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(rep["events_acked"], len(lines), rep)
        self.assertIsNotNone(first.last(r"relay: next hop .* is up again"), first.log())
        if "spill" in args:
            self.wait_drained(first)
        self.assertEqual(again.stop(), 0, again.log())
        self.assertEqual(first.stop(), 0, first.log())
        alerted = {a["fields"]["winlog.record_id"] for a in first.journaled()}
        self.assertGreater(len(alerted), len(lines) // 2)
        seen = collections.Counter(a["fields"]["winlog.record_id"] for a in again.journaled())
        self.assertEqual(set(seen), alerted, "every event reached the next hop")
        return first

    def test_a_partial_ack_then_a_close_sends_the_window_again(self):
        def handle(conn, win, sock, version, seqs):
            if conn == 1 and win == 2:
                ack(sock, version, seqs[len(seqs) // 2])
                return False
            ack(sock, version, seqs[-1])

        r = Receiver(handle)
        self.addCleanup(r.close)
        first = self.serve(relay_to="127.0.0.1:%d" % r.port)
        rc, rep, err = replay("-t", self.target(first), "-w", 400, self.events)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep["events_acked"], len(self.lines))
        self.assertEqual(first.stop(), 0, first.log())
        got = collections.Counter(record_ids(r.events()))
        self.assertEqual(sorted(got), self.ids, "every event arrived")
        self.assertEqual(sum(1 for v in got.values() if v > 1), 400,
                         "the window cut short was sent again whole")
        self.assertGreaterEqual(r.connections, 2)

    def test_a_next_hop_that_never_acks_gets_keepalives_to_the_sender(self):
        r = Receiver(lambda *a: None)
        self.addCleanup(r.close)
        first = self.serve(relay_to="127.0.0.1:%d" % r.port,
                           args=["--relay-beats-timeout", "10m", "--beats-keepalive", "200ms"])
        with socket.create_connection(("127.0.0.1", first.ports["beats"]), timeout=30) as sock:
            sock.sendall(window_v2(self.lines[:100]))
            acks = read_acks(sock, 5, 30 * amsi.slow(BINARY))
        # The sender waits with keep-alives (ACK 0), as behind a blocked Logstash pipeline.
        self.assertEqual(acks, [0] * 5)
        self.assertEqual(r.windows, 1, "the window reached the next hop")
        self.assertEqual(first.count(r"closing: "), 0, first.log())
        self.assertEqual(first.stop(), 0, first.log())

    def test_a_slow_next_hop_slows_the_sender_down(self):
        def handle(conn, win, sock, version, seqs):
            time.sleep(0.3)
            ack(sock, version, seqs[-1])

        r = Receiver(handle)
        self.addCleanup(r.close)
        first = self.serve(relay_to="127.0.0.1:%d" % r.port)
        start = time.time()
        rc, rep, err = replay("-t", self.target(first), "-n", 2000, "-w", 100, self.events)
        took = time.time() - start
        self.assertEqual(rc, 0, err)
        # 20 windows, two at a time at the next hop (pipelining 2), 0.3 s each: the Beat's ACKs
        # come at the next hop's pace, not at amsiwatch's.
        self.assertGreaterEqual(took, 2.5, rep)
        self.assertGreaterEqual(rep["ack_latency_ms"]["p50"], 250, rep)
        self.assertEqual(r.windows, 20)
        self.assertEqual(first.stop(), 0, first.log())

    def test_no_next_hop_blocks_until_one_comes(self):
        # Nothing listens on the hop's port yet: windows wait (block), unacknowledged.
        port = self.free_port()
        first = self.serve(relay_to="127.0.0.1:%d" % port)
        proc = subprocess.Popen([BINARY, "replay", "--json", "--no-progress", "-t",
                                 self.target(first), "-w", "500", self.events],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertIsNotNone(first.wait_log(r"relay: next hop .* is down", 20), first.log())
        time.sleep(1.5)
        self.assertIsNone(proc.poll(), "nothing is acknowledged before a next hop has it")
        hop = amsi.Serve(None, data_dir=amsi.tempdir(prefix="late-", parent=self.work),
                         cleanup=self, args=["--beats", "127.0.0.1:%d" % port, "--syslog-tcp",
                                             "off", "--syslog-udp", "off", "--syslog-tls", "off",
                                             "--quiet", "--stats-interval", "0"])
        out, err = proc.communicate(timeout=300 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out.strip().splitlines()[-1])["events_acked"],
                         len(self.lines))
        self.assertEqual(first.stop(), 0, first.log())
        self.assertEqual(hop.stop(), 0, hop.log())
        self.assertEqual(hop.beats_counters()["events"], len(self.lines), hop.log())

    def test_loadbalance_spreads_windows_and_survives_a_hop_going_away(self):
        hops = []
        for i in range(3):
            def handle(conn, win, sock, version, seqs, i=i):
                if i == 2 and win == 3:
                    hops[2].close()  # the third hop goes away after two windows
                    return False
                ack(sock, version, seqs[-1])
            hops.append(Receiver(handle))
            self.addCleanup(hops[-1].close)
        first = self.serve(relay_to=["127.0.0.1:%d" % h.port for h in hops],
                           args=["--relay-beats-loadbalance"])
        rc, rep, err = replay("-t", self.target(first), "-c", 4, "-w", 100, self.events)
        self.assertEqual(rc, 0, err)
        self.assertEqual(first.stop(), 0, first.log())
        per_hop = [len(h.events()) for h in hops]
        self.assertTrue(all(n > 0 for n in per_hop), per_hop)
        got = set()
        for h in hops:
            got |= set(record_ids(h.events()))
        self.assertEqual(sorted(got), self.ids, "every event reached some hop")

    # ---- relay.beats.alerts ----

    def alert_events(self, r):
        out = []
        for e in r.events():
            doc = json.loads(e)
            if doc.get("event", {}).get("kind") == "alert":
                out.append(doc)
        return out

    def test_alerts_go_on_as_events_once_each_after_a_restart_too(self):
        r = Receiver(lambda conn, win, sock, version, seqs: ack(sock, version, seqs[-1]))
        self.addCleanup(r.close)
        data = amsi.tempdir(prefix="alerts-", parent=self.work)
        first = self.serve(relay_to="127.0.0.1:%d" % r.port, data_dir=data,
                           args=["--relay-beats-alerts"])
        rc, rep, err = replay("-t", self.target(first), "-w", 500, self.events)
        self.assertEqual(rc, 0, err)
        expected = self.alerts_expected()
        journaled = first.wait_journaled(expected)
        deadline = time.time() + 30 * amsi.slow(BINARY)
        while len(self.alert_events(r)) < expected and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(first.stop(), 0, first.log())
        alerts = self.alert_events(r)
        self.assertEqual(sorted(a["amsiwatch"]["alert_id"] for a in alerts),
                         sorted(a["alert_id"] for a in journaled), "each alert once")
        a = alerts[0]
        self.assertEqual(a["tags"], ["amsiwatch"])
        self.assertEqual(a["rule"]["name"], "Modification of AmsiEnable Registry Key")
        self.assertEqual(a["rule"]["ruleset"], "amsiwatch")
        self.assertIn("TA0005", a["threat"]["tactic"]["id"])
        self.assertIn("T1562", a["threat"]["technique"]["id"])
        self.assertEqual(a["registry"]["value"], "AmsiEnable", "the event's ECS fields")
        self.assertIn("name", a["host"])
        self.assertNotIn("category", a["event"],
                         "an alert is not a registry event: no rule matches it again downstream")
        # The events alongside: every event of the input went on too.
        self.assertEqual(len(r.events()) - len(alerts), len(self.lines))
        # A restart sends no alert again: the cursor relay-alerts was past them all.
        again = self.serve(relay_to="127.0.0.1:%d" % r.port, data_dir=data,
                           args=["--relay-beats-alerts"])
        self.assertIsNotNone(again.wait_log(r"relay: connected to the next hop", 20), again.log())
        time.sleep(1.5)
        self.assertEqual(again.stop(), 0, again.log())
        self.assertEqual(len(self.alert_events(r)), len(alerts))
        self.assertIsNotNone(again.last(r"relay: alerts: sent on and acknowledged up to sequence "
                                        r"%d" % len(journaled)), again.log())

    def test_a_chained_amsiwatch_does_not_alert_on_the_alerts_it_receives(self):
        last = self.serve()
        first = self.serve(relay_to=self.target(last),
                           args=["--relay-beats-alerts", "--stats-interval", "1s"])
        rc, rep, err = replay("-t", self.target(first), "-w", 500, self.events)
        self.assertEqual(rc, 0, err)
        expected = self.alerts_expected()
        first.wait_journaled(expected)
        self.assertIsNotNone(first.wait_log(r"relay: alerts: sent on and acknowledged up to "
                                            r"sequence %d" % expected, 30), first.log(40))
        self.assertEqual(first.stop(), 0, first.log())
        self.assertEqual(last.stop(), 0, last.log())
        self.assertEqual(last.beats_counters()["events"], len(self.lines) + expected)
        self.assertEqual(len(last.journaled()), expected)

    # ---- relay.when-down: spill ----

    def free_port(self):
        """A port nothing listens on, below the kernel's range of source ports (a connection to
        a port in that range may be given it as its source)."""
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
        rng = random.Random()
        for _ in range(100):
            port = rng.randrange(max(1024, low - 12000), low)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        raise AssertionError("no free port below %d" % low)

    def spilling(self, port, data_dir=None, args=()):
        return self.serve(relay_to="127.0.0.1:%d" % port, data_dir=data_dir,
                          args=["--relay-when-down", "spill", "--stats-interval", "1s"] + list(args))

    def hop_at(self, port, data_dir=None):
        return amsi.Serve(None, data_dir=data_dir or amsi.tempdir(prefix="hop-", parent=self.work),
                          cleanup=self, args=["--beats", "127.0.0.1:%d" % port, "--syslog-tcp",
                                              "off", "--syslog-udp", "off", "--syslog-tls", "off",
                                              "--quiet", "--stats-interval", "0"])

    def wait_drained(self, srv, windows=None):
        """Waits until SRV's outbox holds nothing and has sent on every window it took (WINDOWS
        of them, when given), as its stats line says."""
        sent = r"([1-9]\d*) spilled, \1" if windows is None else r"\d+ spilled, %d" % windows
        pattern = r"relay: outbox: 0 windows \(0 bytes\) held, .*; %s sent on" % sent
        self.assertIsNotNone(srv.wait_log(pattern, 120), srv.log(40))

    def test_spill_acknowledges_while_no_hop_is_up_and_sends_on_once_one_comes(self):
        port = self.free_port()
        first = self.spilling(port)
        start = time.time()
        rc, rep, err = replay("-t", self.target(first), "-c", 2, "-w", 500, self.events)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep["events_acked"], len(self.lines), "the sender never waits")
        windows = rep["windows_acked"]
        self.assertIsNotNone(first.wait_log(r"relay: outbox: %d windows \(\d+ bytes\) held"
                                            % windows, 10), first.log(40))
        hop = self.hop_at(port)
        self.wait_drained(first, windows)
        self.assertEqual(hop.stop(), 0, hop.log())
        self.assertEqual(hop.beats_counters()["events"], len(self.lines), hop.log())
        self.assertEqual(first.stop(), 0, first.log())
        self.assertEqual(len(first.journaled()), self.alerts_expected())
        self.assertLess(time.time() - start, 300)

    def test_a_kill_9_with_a_full_outbox_then_a_restart_sends_it_all_on(self):
        port = self.free_port()
        data = amsi.tempdir(prefix="spill-", parent=self.work)
        first = self.spilling(port, data_dir=data)
        rc, rep, err = replay("-t", self.target(first), "-w", 400, self.events)
        self.assertEqual(rc, 0, err)
        first.kill()
        again = self.spilling(port, data_dir=data)
        self.assertIsNotNone(again.wait_log(r"relay: outbox .* holds %d windows"
                                            % rep["windows_acked"], 10), again.log())
        hop = self.hop_at(port)
        self.wait_drained(again, rep["windows_acked"])
        self.assertEqual(hop.stop(), 0, hop.log())
        self.assertEqual(hop.beats_counters()["events"], len(self.lines), hop.log())
        self.assertEqual(again.stop(), 0, again.log())
        # Sent on once: a third start has nothing left to send.
        third = self.spilling(port, data_dir=data)
        time.sleep(1)
        self.assertEqual(third.count(r"relay: outbox .* holds"), 0, third.log())

    def test_a_full_outbox_blocks_until_a_hop_is_back(self):
        port = self.free_port()
        first = self.spilling(port, args=["--relay-spill-max-size", "1MiB"])
        n = 3 * len(self.lines)  # about 3 MB of windows: three times the cap
        proc = subprocess.Popen([BINARY, "replay", "--json", "--no-progress", "-t",
                                 self.target(first), "-w", "200", "-l", "-n", str(n),
                                 self.events],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertIsNotNone(first.wait_log(r"relay: outbox: \d+ windows \(\d+ bytes\) held", 20))
        time.sleep(2)
        self.assertIsNone(proc.poll(), "past the cap, windows wait for a next hop")
        m = first.last(r"relay: outbox: \d+ windows \((\d+) bytes\) held")
        self.assertLessEqual(int(m.group(1)), 1 << 20)
        hop = self.hop_at(port)
        out, err = proc.communicate(timeout=300 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out.strip().splitlines()[-1])["events_acked"], n)
        self.wait_drained(first)
        self.assertEqual(first.stop(), 0, first.log())
        self.assertEqual(hop.stop(), 0, hop.log())
        self.assertEqual(hop.beats_counters()["events"], n, hop.log())

    # ---- spill keeps the order of a connection's windows ----

    def numbered(self, count):
        """A file of COUNT events whose winlog.record_id is their number (1, 2, ...) in the
        order the sender sends them (one connection), and those numbers."""
        src = os.path.join(self.work, "numbered-src-%d.ndjson" % count)
        path = os.path.join(self.work, "numbered-%d.ndjson" % count)
        if not os.path.exists(path):
            out = []
            for i, ln in enumerate(gen(src, count, 0.001, seed=11)):
                doc = json.loads(ln)
                doc["winlog"]["record_id"] = i + 1
                out.append(json.dumps(doc, separators=(",", ":")))
            with open(path, "w") as f:
                f.write("\n".join(out) + "\n")
        return path, list(range(1, count + 1))

    def assert_in_order(self, receivers, ids):
        """Every event of IDS reached the RECEIVERS (one after the other), first in the order
        they were sent (an event sent again after a failure may come twice, later)."""
        got = []
        for r in receivers:
            got += record_ids(r.events())
        first = list(dict.fromkeys(got))
        self.assertEqual(sorted(first), ids, "every event arrived")
        wrong = next((i for i in range(1, len(first)) if first[i] < first[i - 1]), None)
        self.assertIsNone(wrong, "event %s arrived after %s" % (
            first[wrong] if wrong else None, first[wrong - 1] if wrong else None))

    def acking_receiver(self, port):
        r = Receiver(lambda conn, win, sock, version, seqs: ack(sock, version, seqs[-1]),
                     port=port)
        self.addCleanup(r.close)
        return r

    def test_spill_at_the_cap_keeps_the_order_of_the_windows(self):
        # About 3 MB of windows through a 1 MiB outbox while no hop is up: the windows it
        # refuses wait in their connection, unacknowledged, and go after what it holds.
        path, ids = self.numbered(12000)
        port = self.free_port()
        first = self.spilling(port, args=["--relay-spill-max-size", "1MiB"])
        proc = subprocess.Popen([BINARY, "replay", "--json", "--no-progress", "-t",
                                 self.target(first), "-w", "200", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        pattern = r"relay: outbox: \d+ windows \((\d+) bytes\) held"
        deadline = time.time() + 60 * amsi.slow(BINARY)
        while time.time() < deadline:
            m = first.last(pattern)
            if m and int(m.group(1)) >= (3 << 20) // 4:
                break
            time.sleep(0.1)
        m = first.last(pattern)
        self.assertGreaterEqual(int(m.group(1)), (3 << 20) // 4, first.log(40))
        self.assertLessEqual(int(m.group(1)), 1 << 20, "the outbox stays under its cap")
        self.assertIsNone(proc.poll(), "past the cap, the sender waits")
        hop = self.acking_receiver(port)
        out, err = proc.communicate(timeout=300 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out.strip().splitlines()[-1])["events_acked"], len(ids))
        self.wait_drained(first)
        self.assertEqual(first.stop(), 0, first.log())
        self.assert_in_order([hop], ids)

    def test_spill_sends_the_windows_queued_when_the_hop_went_before_newer_ones(self):
        # The hop takes a fourth window, holds it while the sender's next ones queue up in the
        # relay behind it, and goes: those go to the outbox before the ones the sender sends
        # after (at its own pace, not on ACKs: the relay's queue has not moved by then).
        path, ids = self.numbered(6000)
        port = self.free_port()

        def handle(conn, win, sock, version, seqs):
            if win < 4:
                ack(sock, version, seqs[-1])
                return True
            time.sleep(0.3)
            gone.close()
            return False

        gone = Receiver(handle, port=port)
        self.addCleanup(gone.close)
        first = self.spilling(port)
        rc, rep, err = replay("-t", self.target(first), "-w", 50, "--pipelining", 64, "-r", 5000,
                              path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep["events_acked"], len(ids), "the sender never waits")
        self.assertIsNotNone(first.last(r"relay: next hop .* is down"), first.log())
        self.assertEqual(gone.windows, 4, "the hop went at its fourth window")
        hop = self.acking_receiver(port)
        self.wait_drained(first)
        self.assertEqual(first.stop(), 0, first.log())
        self.assert_in_order([gone, hop], ids)

if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
