#!/usr/bin/env python3
"""SIGHUP reloads the whole configuration of `amsiwatch serve`: the file given with --config is
read again (the command-line flags still win), validated whole, and applied without dropping a
connection or an alert; a file that does not validate changes nothing.

Real alerts (the NXLog JSON syslog fixture over TCP, each copy its own record number) go to real
HTTP servers (webhook_server.py). Checked: webhook targets added, changed (a new URL, resuming from
its cursor: nothing lost; its request in flight sent again there) and removed (nothing more; added
back, it resumes from its cursor), an unchanged target's request in flight not sent twice; a new
target starts where a new target starts at a first start, at the oldest alert of the journal; an
allow list refuses a new connection it allowed before while an established one goes on; a bad
value keeps the running configuration (alerts still journaled and delivered) and the log names
the file, line and key; a key that needs a restart is named in a warning; the log level changes;
the Beats relay (Lumberjack receivers from lumberjack.py) and the syslog relay (a TCP line sink,
UDP sockets) take new next hops while the sender stays connected; flags given at start still win.

usage: test_reload.py path/to/amsiwatch [unittest options]"""
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amsi  # noqa: E402
import webhook_server as ws  # noqa: E402
from lumberjack import Receiver, ack  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "syslog", "alert-nxlog-json-rfc5424.log")

with open(FIXTURE, "rb") as _f:
    TEMPLATE = _f.read().rstrip(b"\n")
assert b'"RecordNumber":482210' in TEMPLATE


def event_line(record):
    """The fixture with record number RECORD: a distinct event, hence a distinct alert."""
    return TEMPLATE.replace(b'"RecordNumber":482210', b'"RecordNumber":%d' % record) + b"\n"


def window_v2(records):
    """A v2 window of one J frame per record: small events, none of which alerts."""
    frames = b""
    for i, r in enumerate(records):
        doc = json.dumps({"message": "event %d" % r, "winlog": {"record_id": r}}).encode()
        frames += b"2J" + struct.pack(">II", i + 1, len(doc)) + doc
    return b"2W" + struct.pack(">I", len(records)) + frames


def read_ack(sock, timeout):
    """The sequence number of the next ACK that is not a keep-alive (0)."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        while len(buf) < 6:
            chunk = sock.recv(64)
            if not chunk:
                raise AssertionError("the connection closed before an ACK")
            buf += chunk
        assert buf[:2] == b"2A", buf
        seq = struct.unpack(">I", buf[2:6])[0]
        buf = buf[6:]
        if seq:
            return seq


def record_of(alert):
    return alert["fields"]["winlog.record_id"]


def yaml_str(v):
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


def target(name, url):
    """A webhook target with the small timeouts and high rate that keep the test fast."""
    return {"name": name, "url": url, "format": "generic", "timeout": "1s", "rate": "100",
            "retry.max-backoff": "1s", "max-signals": "0"}


def write_config(path, options=(), targets=()):
    """Writes the YAML file PATH: OPTIONS (pairs of key and value, in order), then TARGETS."""
    out = ["%s: %s" % (k, yaml_str(v)) for k, v in options]
    if targets:
        out.append("webhooks:")
    for t in targets:
        for i, (k, v) in enumerate(t.items()):
            out.append(("  - " if i == 0 else "    ") + "%s: %s" % (k, yaml_str(v)))
    with open(path + ".new", "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(path + ".new", path)  # whole, as an operator's editor or tooling writes it


class LineSink:
    """A TCP server on 127.0.0.1 that keeps every line it receives (a syslog next hop with LF
    framing)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lines, self.lock = [], threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        with conn:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                *done, buf = buf.split(b"\n")
                with self.lock:
                    self.lines += done

    def records(self):
        with self.lock:
            return [int(m.group(1)) for ln in self.lines
                    for m in [re.search(rb'"RecordNumber":(\d+)', ln)] if m]

    def close(self):
        self.server.close()


class Reload(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self)
        self.data = os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "amsiwatch.yml")
        self.hooks = []

    def tearDown(self):
        for h in self.hooks:
            h.close()

    def hook(self):
        h = ws.WebhookServer()
        self.hooks.append(h)
        return h

    def serve(self):
        return amsi.Serve(["syslog-tcp"], data_dir=self.data,
                          args=["--config", self.config, "--stats-interval", "0"], cleanup=self)

    def reload(self, srv, pattern):
        """SIGHUP, then waits for the log line PATTERN (after what the log held before)."""
        before = len(srv.snapshot())
        os.kill(srv.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30 * amsi.slow()
        while time.monotonic() < deadline:
            for line in srv.snapshot()[before:]:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        self.fail("no log line matching %r after SIGHUP:\n%s" % (pattern, srv.log(60)))

    def wait_until(self, cond, what, srv):
        """Polls COND() until it is true; fails naming WHAT (with SRV's log) after the deadline."""
        deadline = time.monotonic() + 30 * amsi.slow()
        while not cond():
            if time.monotonic() >= deadline:
                self.fail("%s did not happen:\n%s" % (what, srv.log(60)))
            time.sleep(0.05)

    def connect(self, srv):
        s = socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]), timeout=10)
        self.addCleanup(s.close)
        return s

    def send(self, srv, records, conn=None):
        s = conn or self.connect(srv)
        for r in records:
            s.sendall(event_line(r))
        if conn is None:
            s.close()

    def delivered(self, hook, path):
        """The records HOOK answered 200 for at PATH."""
        return [record_of(b) for b in hook.bodies(path, status=200)]

    def wait_delivered(self, hook, path, records, timeout=30, srv=None):
        want = set(records)

        def enough(_):
            return want <= set(self.delivered(hook, path))
        hook.wait_for(enough, timeout * amsi.slow())
        got = set(self.delivered(hook, path))
        self.assertLessEqual(want, got, "missing at %s: %s\n%s" % (
            path, sorted(want - got), srv.log(80) if srv else ""))

    def journaled_records(self, srv):
        return [record_of(a) for a in srv.journaled()]

    def test_targets_added_changed_and_removed_keep_their_cursors(self):
        old, new, second = self.hook(), self.hook(), self.hook()
        write_config(self.config, targets=[target("first", old.url("/first"))])
        srv = self.serve()
        self.send(srv, range(1, 6))
        self.wait_delivered(old, "/first", range(1, 6))
        # The old URL fails from now on: alerts 6-8 wait at the first target's cursor.
        old.default("/first", ws.reply(503))
        self.send(srv, range(6, 9))
        old.wait_for(lambda reqs: [r for r in reqs if r.status == 503], 30 * amsi.slow())

        write_config(self.config, targets=[target("first", new.url("/first")),
                                           target("second", second.url("/second"))])
        self.reload(srv, r"info serve: reload: 2 webhook targets \(1 added, 1 changed\)")
        self.send(srv, range(9, 13))
        # The changed target resumes at its cursor on the new URL: nothing lost.
        self.wait_delivered(new, "/first", range(6, 13))
        self.assertNotIn(1, self.delivered(new, "/first"), "the cursor was not kept")
        # A new target starts as at a first start: at the oldest alert the journal holds.
        self.wait_delivered(second, "/second", range(1, 13))
        self.assertEqual(sorted(self.delivered(old, "/first")), list(range(1, 6)))

        write_config(self.config, targets=[target("second", second.url("/second"))])
        self.reload(srv, r"reload: 1 webhook target \(1 removed\)")
        self.send(srv, [13, 14])
        self.wait_delivered(second, "/second", [13, 14])
        time.sleep(0.5)  # a removed target that still sent would have done so by now
        self.assertFalse({13, 14} & set(self.delivered(new, "/first")),
                         "a removed target was sent alerts")
        self.assertTrue(os.path.exists(os.path.join(self.data, "cursors", "first.cur")))

        # Added back, it resumes from its cursor: 13 and 14, not what it had delivered.
        before = len(new.requests("/first"))
        write_config(self.config, targets=[target("first", new.url("/first")),
                                           target("second", second.url("/second"))])
        self.reload(srv, r"reload: 2 webhook targets \(1 added\)")
        self.wait_delivered(new, "/first", [13, 14])
        again = [record_of(json.loads(r.body)) for r in new.requests("/first")[before:]]
        self.assertEqual(sorted(set(again)), [13, 14])
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(srv.grep(r"^error "), [], srv.log())

    def test_requests_in_flight_finish_or_go_again(self):
        old, new, steady = self.hook(), self.hook(), self.hook()
        old.default("/moved", ws.hang(60))  # in flight until the reload, and long after
        steady.default("/steady", ws.reply(200, delay=2 * amsi.slow()))
        moved = dict(target("moved", old.url("/moved")), timeout="60s")
        slow = dict(target("steady", steady.url("/steady")), timeout="60s")
        write_config(self.config, targets=[moved, slow])
        srv = self.serve()
        self.send(srv, [1])
        old.wait_count("/moved", 1, 30 * amsi.slow())
        steady.wait_count("/steady", 1, 30 * amsi.slow())

        moved["url"] = new.url("/moved")
        write_config(self.config, targets=[moved, slow])
        started = time.monotonic()
        self.reload(srv, r"reload: 2 webhook targets \(1 changed\)")
        # The changed target's request goes again to its new URL, without waiting out the old one.
        self.wait_delivered(new, "/moved", [1])
        self.assertLess(time.monotonic() - started, 30 * amsi.slow())
        # The unchanged target's request in flight finished: it was not sent again.
        self.wait_delivered(steady, "/steady", [1])
        self.send(srv, [2])
        self.wait_delivered(steady, "/steady", [2], srv=srv)
        self.wait_delivered(new, "/moved", [2], srv=srv)
        self.assertEqual([record_of(json.loads(r.body)) for r in steady.requests("/steady")],
                         [1, 2])
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_allow_list_judges_new_connections_only(self):
        write_config(self.config, [("syslog.allow-networks", "127.0.0.0/8")])
        srv = self.serve()
        established = self.connect(srv)
        self.send(srv, [1], established)
        srv.wait_journaled(1)

        write_config(self.config, [("syslog.allow-networks", "10.0.0.0/8")])
        self.reload(srv, r"reload: allow lists of syslog")
        self.send(srv, [2])
        srv.wait_log(r"warn syslog: 127\.0\.0\.1:\d+: refused: 127\.0\.0\.1 is not in "
                     r"syslog\.allow-networks")
        self.send(srv, [3], established)
        got = srv.wait_journaled(2)
        self.assertEqual(sorted(record_of(a) for a in got), [1, 3])
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(srv.syslog_counters("tcp")["refused"], 1)
        self.assertEqual(sorted(self.journaled_records(srv)), [1, 3])

    def test_a_bad_file_keeps_the_running_configuration(self):
        hook, other = self.hook(), self.hook()
        write_config(self.config, [("log-level", "info")], [target("first", hook.url("/a"))])
        srv = self.serve()
        self.send(srv, [1])
        self.wait_delivered(hook, "/a", [1])
        # A new URL and an allow list that would refuse the test, and one bad value (line 3).
        with open(self.config, "w") as f:
            f.write("log-level: info\n"
                    "syslog.allow-networks: 10.0.0.0/8\n"
                    "beats.max-window: 0\n"
                    "webhooks:\n"
                    "  - name: first\n"
                    "    url: %s\n" % yaml_str(other.url("/b")))
        line = self.reload(srv, r"keeping the running configuration")
        self.assertRegex(line, r"^error serve: reload: %s:3: key 'beats\.max-window': 0 is "
                         r"outside 1 to 1000000; keeping the running configuration$"
                         % re.escape(self.config))
        self.send(srv, [2])
        self.wait_delivered(hook, "/a", [2])
        self.assertEqual(other.requests(), [])
        self.assertEqual(srv.count(r"reload: .*webhook target"), 0, srv.log())
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(sorted(self.journaled_records(srv)), [1, 2])

    def test_restart_only_keys_warn_and_the_rest_applies(self):
        write_config(self.config, [("workers", "1"), ("log-level", "info")])
        srv = self.serve()
        self.send(srv, [1])
        srv.wait_journaled(1)
        self.assertEqual(srv.grep(r"^debug "), [])

        write_config(self.config, [("workers", "2"), ("log-level", "debug")])
        line = self.reload(srv, r"info serve: reload: ")
        self.assertEqual(srv.grep(r"^warn serve: reload: "),
                         ["warn serve: reload: workers changed, but it needs a restart; the "
                          "running value stays"])
        self.assertRegex(line, r"reload: log level debug; kept until a restart: workers$")
        # Debug lines from now on: a connection's close is one.
        self.send(srv, [2])
        srv.wait_log(r"debug syslog: 127\.0\.0\.1:\d+: closing: ")
        srv.wait_journaled(2)
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(sorted(self.journaled_records(srv)), [1, 2])

    def test_the_log_format_changes(self):
        write_config(self.config, [("log.format", "text")])
        srv = self.serve()
        write_config(self.config, [("log.format", "json")])
        os.kill(srv.pid, signal.SIGHUP)
        srv.wait_log(r'"message":"reload: log format json"')
        self.assertEqual(srv.stop(), 0, srv.log())
        # From the reload's own summary on, every record is one JSON object (the stop's too).
        lines = srv.snapshot()
        after = lines[lines.index(srv.grep("reload: log format json")[0]):]
        self.assertGreater(len(after), 1, srv.log())
        for line in after:
            self.assertIn(json.loads(line)["log.level"], ("error", "warn", "info", "debug"), line)

    def test_the_relay_takes_new_hosts_and_the_beat_stays_connected(self):
        def first_window_only(conn, win, sock, version, seqs):
            if win == 1:
                ack(sock, version, seqs[-1])

        def every_window(conn, win, sock, version, seqs):
            ack(sock, version, seqs[-1])
        hops = [Receiver(first_window_only), Receiver(every_window)]
        for h in hops:
            self.addCleanup(h.close)
        write_config(self.config, [("relay.beats.hosts", "127.0.0.1:%d" % hops[0].port)])
        srv = amsi.Serve(["beats"], data_dir=self.data, cleanup=self,
                         args=["--config", self.config, "--stats-interval", "0", "--quiet"])
        beat = socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=10)
        self.addCleanup(beat.close)
        beat.sendall(window_v2([1, 2]))
        self.assertEqual(read_ack(beat, 30 * amsi.slow()), 2)
        # The next window stays in flight at the first hop, which acknowledges nothing more.
        beat.sendall(window_v2([3, 4, 5]))
        self.wait_until(lambda: len(hops[0].events()) == 5, "the window at the first hop", srv)

        write_config(self.config, [("relay.beats.hosts", "127.0.0.1:%d" % hops[1].port)])
        self.reload(srv, r"info serve: reload: relay\.beats\.hosts$")
        # It goes again to the new hop, whose ACK reaches the Beat.
        self.assertEqual(read_ack(beat, 30 * amsi.slow()), 3)
        self.assertTrue(srv.grep(r"relay: next hops now 127\.0\.0\.1:\d+; 1 windows in flight "
                                 r"go again"), srv.log())
        # A host that is not one changes nothing.
        write_config(self.config, [("relay.beats.hosts", "127.0.0.1:99999")])
        self.reload(srv, r"error serve: reload: relay\.beats\.hosts: '127\.0\.0\.1:99999' is not "
                    r"HOST, HOST:PORT or \[IPv6\]:PORT; keeping the running configuration$")
        beat.sendall(window_v2([6]))
        self.assertEqual(read_ack(beat, 30 * amsi.slow()), 1)
        ids = [[json.loads(e)["winlog"]["record_id"] for e in h.events()] for h in hops]
        self.assertEqual(ids, [[1, 2, 3, 4, 5], [3, 4, 5, 6]])
        beat.close()
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(srv.beats_counters()["connections"], 1)

    def test_the_syslog_relay_takes_new_hosts(self):
        sinks = [LineSink(), LineSink()]
        for k in sinks:
            self.addCleanup(k.close)

        def config(sink):
            write_config(self.config, [("relay.syslog.hosts", "127.0.0.1:%d" % sink.port),
                                       ("relay.syslog.framing", "lf")])
        config(sinks[0])
        srv = self.serve()
        sender = self.connect(srv)
        self.send(srv, [1, 2], sender)
        self.wait_until(lambda: len(sinks[0].records()) >= 2, "two messages at the first hop", srv)
        config(sinks[1])
        self.reload(srv, r"info serve: reload: relay\.syslog\.hosts$")
        self.send(srv, [3], sender)
        self.wait_until(lambda: sinks[1].records(), "a message at the new hop", srv)
        self.assertEqual(sinks[0].records(), [1, 2])
        self.assertEqual(sinks[1].records(), [3])
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_the_udp_syslog_relay_takes_a_new_host(self):
        sinks = []
        for _ in range(2):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            u.settimeout(30 * amsi.slow())
            self.addCleanup(u.close)
            sinks.append(u)

        def config(sink):
            write_config(self.config, [("relay.syslog.transport", "udp"),
                                       ("relay.syslog.hosts",
                                        "127.0.0.1:%d" % sink.getsockname()[1])])

        def received(sink):
            return int(re.search(rb'"RecordNumber":(\d+)', sink.recv(65536)).group(1))
        config(sinks[0])
        srv = self.serve()
        sender = self.connect(srv)
        self.send(srv, [1], sender)
        self.assertEqual(received(sinks[0]), 1)
        config(sinks[1])
        self.reload(srv, r"info serve: reload: relay\.syslog\.hosts$")
        self.send(srv, [2], sender)
        self.assertEqual(received(sinks[1]), 2)
        sinks[0].settimeout(0.2)
        self.assertRaises(socket.timeout, sinks[0].recv, 65536)
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_flags_still_win_over_the_file(self):
        hook = self.hook()
        write_config(self.config, [("workers", "1"), ("log-level", "info")],
                     [target("first", hook.url("/a"))])
        srv = amsi.Serve(["syslog-tcp"], data_dir=self.data, cleanup=self,
                         args=["--config", self.config, "--log-level", "warn"])
        write_config(self.config, [("workers", "2"), ("log-level", "debug")],
                     [target("first", hook.url("/a"))])
        self.reload(srv, r"warn serve: reload: workers changed")
        self.send(srv, [1])
        self.wait_delivered(hook, "/a", [1])
        self.assertEqual(srv.stop(), 0, srv.log())
        # --log-level warn held: neither info lines (the reload's) nor debug lines were written.
        self.assertEqual(srv.grep(r"^(info|debug) "), [], srv.log())


if __name__ == "__main__":
    amsi.take_binary(__doc__)
    unittest.main()
