#!/usr/bin/env python3
"""`amsiwatch serve --log-format json`: every line of standard error is one JSON object with ECS
names (@timestamp, log.level, log.logger, message), the ready and counters lines carry their
numbers as fields of their own, the errors that keep serve from starting are error records (the
text format keeps their lines), and alerts on standard output stay as they are.

usage: test_log_format.py AMSIWATCH"""
import json
import os
import re
import socket
import subprocess
import unittest

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "samples", "winlogbeat-events.ndjson")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def records(case, lines):
    """LINES of the log, each parsed and checked to be an ECS record."""
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            case.fail("a log line is not JSON: %r" % line)
        case.assertIsInstance(rec, dict, line)
        case.assertRegex(rec.get("@timestamp", ""), TIMESTAMP, line)
        case.assertIn(rec.get("log.level"), ("error", "warn", "info", "debug"), line)
        case.assertIsInstance(rec.get("log.logger"), str, line)
        case.assertTrue(rec["log.logger"], line)
        case.assertIsInstance(rec.get("message"), str, line)
        out.append(rec)
    return out


class LogFormatTest(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-logfmt-")

    def test_every_line_is_an_ecs_record_and_alerts_stay_as_they_are(self):
        srv = amsi.Serve(["beats"], data_dir=os.path.join(self.dir, "d"),
                         args=["--log-format", "json", "--stats-interval", "1s"], cleanup=self)
        port = srv.ports["beats"]
        proc = subprocess.run([BINARY, "replay", "--json", "--no-progress",
                               "127.0.0.1:%d" % port, SAMPLE], capture_output=True, text=True,
                              timeout=120 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        alerts = srv.wait_printed(1)
        self.assertEqual(len(alerts), 1, srv.log())
        self.assertEqual(alerts[0]["rule"]["name"], "Modification of AmsiEnable Registry Key")
        # A counters line of the stats tick that has seen the alert.
        srv.wait_log(r'"detect\.alerts":1\b', timeout=30)
        self.assertEqual(srv.stop(), 0, srv.log())

        recs = records(self, srv.snapshot())
        ready = [r for r in recs if r["message"].startswith("ready")]
        self.assertEqual(len(ready), 1, srv.log())
        self.assertEqual(ready[0]["message"], "ready beats=127.0.0.1:%d" % port)
        self.assertEqual(ready[0]["listeners.beats"], "127.0.0.1:%d" % port)
        self.assertEqual(ready[0]["log.logger"], "serve")
        self.assertNotIn("listeners.syslog-tcp", ready[0], "listeners that are off are left out")

        detect = [r for r in recs if r["log.logger"] == "detect" and "detect.alerts" in r]
        self.assertTrue(detect, srv.log())
        last = detect[-1]  # the one written at the stop
        self.assertEqual(last["detect.events"], 5)
        self.assertEqual(last["detect.alerts"], 1)
        self.assertIn("5 events", last["message"], "the message keeps its text")
        beats = [r for r in recs if r["log.logger"] == "beats" and "beats.events" in r][-1]
        self.assertEqual(beats["beats.events"], 5)
        self.assertGreaterEqual(beats["beats.acks"], 1)
        self.assertTrue(any(r["message"].startswith("SIGTERM") for r in recs), srv.log())
        self.assertEqual(recs[-1]["message"], "stopped")

    def test_a_next_hop_going_down_and_up_again_has_fields(self):
        hop = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(hop.close)
        hop.bind(("127.0.0.1", 0))
        hop.listen(4)
        hop.settimeout(30 * amsi.slow(BINARY))
        name = "127.0.0.1:%d" % hop.getsockname()[1]
        srv = amsi.Serve(["beats"], data_dir=os.path.join(self.dir, "d"),
                         args=["--log-format", "json", "--relay-beats-hosts", name,
                               "--relay-beats-backoff-init", "100ms"], cleanup=self)

        def hop_record(state, pattern):
            line = srv.wait_lines(r'"relay\.hop_state":"%s"' % state)[-1]
            rec = records(self, [line])[0]
            self.assertEqual(rec["relay.hop"], name)
            self.assertRegex(rec["message"], pattern)
            self.assertIsInstance(rec["relay.windows_waiting"], int)
            return rec

        conn, _ = hop.accept()
        up = hop_record("up", "^connected to the next hop " + re.escape(name))
        self.assertEqual(up["log.logger"], "relay")
        conn.close()  # the next hop goes
        down = hop_record("down", "^next hop %s is down" % re.escape(name))
        self.assertEqual(down["log.level"], "warn")
        self.assertTrue(down["error.message"])
        self.assertIsInstance(down["relay.retry_ms"], int)
        conn, _ = hop.accept()  # and comes back
        self.addCleanup(conn.close)
        srv.wait_log(r"is up again")
        self.assertEqual(srv.stop(), 0, srv.log())
        records(self, srv.snapshot())

    def test_the_file_sets_it_and_the_ready_line_is_written_at_any_level(self):
        path = os.path.join(self.dir, "amsiwatch.yml")
        with open(path, "w") as f:
            f.write("log:\n  format: json\n  level: warn\n")
        srv = amsi.Serve(["beats"], data_dir=os.path.join(self.dir, "d"),
                         args=["--config", path], cleanup=self)
        self.assertRegex(srv.ready_line, r"^ready beats=127\.0\.0\.1:\d+$")
        self.assertEqual(srv.stop(), 0, srv.log())
        recs = records(self, srv.snapshot())
        self.assertEqual([r["message"] for r in recs], [srv.ready_line],
                         "at level warn only the ready line is written:\n" + srv.log())

    def test_text_stays_the_default(self):
        srv = amsi.Serve(["beats"], data_dir=os.path.join(self.dir, "d"), cleanup=self)
        self.assertEqual(srv.stop(), 0, srv.log())
        lines = srv.snapshot()
        self.assertTrue(any(ln.startswith("ready beats=") for ln in lines), srv.log())
        self.assertTrue(any(ln == "info serve: stopped" for ln in lines), srv.log())
        self.assertFalse(any(ln.startswith("{") for ln in lines), srv.log())

    def serve_fails(self, fmt, *args):
        proc = subprocess.run([BINARY, "serve", "--log-format", fmt, "--data-dir",
                               os.path.join(self.dir, "d"), "--syslog-tcp", "off",
                               "--syslog-udp", "off", "--api", "off"] + list(args),
                              capture_output=True, text=True, timeout=60 * amsi.slow(BINARY))
        return proc

    def test_a_port_already_taken_is_an_error_record_and_exit_3(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            addr = "127.0.0.1:%d" % taken.getsockname()[1]
            proc = self.serve_fails("json", "--beats", addr)
            text = self.serve_fails("text", "--beats", addr)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        recs = records(self, proc.stderr.splitlines())
        self.assertTrue(recs)
        errors = [r for r in recs if r["log.level"] == "error"]
        self.assertEqual(len(errors), 1, proc.stderr)
        self.assertEqual(errors[0]["log.logger"], "serve")
        self.assertEqual(errors[0]["message"], "cannot listen on %s: address already in use" % addr)
        self.assertFalse(any(r["message"].startswith("ready") for r in recs), proc.stderr)
        # The text format keeps the line scripts match.
        self.assertEqual(text.returncode, 3, text.stderr)
        self.assertIn("\namsiwatch serve: cannot listen on %s: address already in use\n" % addr,
                      "\n" + text.stderr)

    def test_a_check_before_the_start_is_an_error_record_and_exit_2(self):
        proc = self.serve_fails("json", "--relay-beats-hosts", "127.0.0.1:1:2")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        recs = records(self, proc.stderr.splitlines())
        self.assertEqual([(r["log.level"], r["log.logger"], r["message"]) for r in recs],
                         [("error", "serve", "relay.beats.hosts: '127.0.0.1:1:2' is not HOST, "
                           "HOST:PORT or [IPv6]:PORT")], proc.stderr)
        # check-config prints it as text whatever the format.
        check = subprocess.run([BINARY, "check-config", "--log-format", "json",
                                "--relay-beats-hosts", "127.0.0.1:1:2"], capture_output=True,
                               text=True, timeout=60 * amsi.slow(BINARY))
        self.assertEqual(check.returncode, 2, check.stderr)
        self.assertEqual(check.stderr, "amsiwatch serve: relay.beats.hosts: '127.0.0.1:1:2' is not "
                         "HOST, HOST:PORT or [IPv6]:PORT\n")

    def test_an_unknown_format_is_a_configuration_error(self):
        proc = subprocess.run([BINARY, "serve", "--log-format", "xml"], capture_output=True,
                              text=True, timeout=30 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--log-format: 'xml' is not one of text|json", proc.stderr)


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main()
