#!/usr/bin/env python3
"""The Beats listener's global memory budget under many connections: frames are admitted into the
budget once their header is read, connections waiting for room queue oldest first, and a frame
larger than the whole budget still passes alone. Driven with `amsiwatch gen` and `amsiwatch replay`
against `amsiwatch serve` with a budget far smaller than what the senders want in flight.

What is checked: every event is acknowledged with no reconnect (no deadlock, no window held past
the keep-alive limit, no frame starved) and exactly the expected alerts are raised. The memory it
saves is measured by bench/run_scale.sh, not here (sanitizer builds have their own footprint).

usage: test_beats_budget.py path/to/amsiwatch [unittest options]"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None


class Serve:
    def __init__(self, tmp, budget, extra=()):
        self.err = os.path.join(tmp, "serve.err")
        self.out = os.path.join(tmp, "serve.out")
        cmd = [BINARY, "serve", "--beats", "127.0.0.1:0", "--syslog-tcp", "off", "--syslog-udp",
               "off", "--data-dir", os.path.join(tmp, "data"), "--stats-interval", "0",
               "--beats-global-budget", budget] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=open(self.out, "w"), stderr=open(self.err, "w"))
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"^ready .*beats=127\.0\.0\.1:(\d+)", open(self.err).read(), re.M)
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("serve did not start:\n" + open(self.err).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        return self.proc.returncode

    def alerts(self):
        with open(self.out) as f:
            return [json.loads(ln) for ln in f if ln.strip()]


class BudgetTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="amsiwatch-budget-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def gen(self, count, hit_rate):
        path = os.path.join(self.tmp, "events.ndjson")
        p = subprocess.run([BINARY, "gen", "--count", str(count), "--hit-rate", hit_rate,
                            "--seed", "3", "--near-misses", "0", "--summary-json", "-o", path],
                           capture_output=True, text=True, check=True)
        return path, json.loads(p.stderr.strip().splitlines()[-1])

    def replay(self, port, path, *args):
        p = subprocess.run([BINARY, "replay", "--json", "--no-progress", "--no-reconnect",
                            "--ack-timeout", "60s", *args, "127.0.0.1:%d" % port, path],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def test_many_connections_share_a_small_budget(self):
        # 40 connections x 2 windows of 1,000 events (~170 KB compressed each) want ~14 MB in
        # flight; the budget holds one window at a time and a half.
        path, summary = self.gen(20000, "1/1000")
        srv = Serve(self.tmp, "256KiB")
        try:
            rep = self.replay(srv.port, path, "--connections", "40", "--window", "1000",
                              "--pipelining", "2", "--precompress")
        finally:
            srv.stop()
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["events_acked"], 20000)
        self.assertEqual(rep["reconnects"], 0)
        self.assertEqual(len(srv.alerts()), summary["expected_alerts"]["elastic"])

    def test_a_frame_larger_than_the_budget_passes_alone(self):
        path, summary = self.gen(6000, "1/2000")
        srv = Serve(self.tmp, "64KiB")
        try:
            rep = self.replay(srv.port, path, "--connections", "3", "--window", "2000",
                              "--pipelining", "1", "--compression", "1")
        finally:
            srv.stop()
        self.assertEqual(rep["events_acked"], 6000)
        self.assertEqual(rep["reconnects"], 0)
        self.assertEqual(len(srv.alerts()), summary["expected_alerts"]["elastic"])

    def test_uncompressed_json_frames_under_a_small_budget(self):
        path, summary = self.gen(8000, "1/500")
        srv = Serve(self.tmp, "64KiB")
        try:
            rep = self.replay(srv.port, path, "--connections", "16", "--window", "500",
                              "--compression", "0")
        finally:
            srv.stop()
        self.assertEqual(rep["events_acked"], 8000)
        self.assertEqual(rep["reconnects"], 0)
        self.assertEqual(len(srv.alerts()), summary["expected_alerts"]["elastic"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    BINARY = sys.argv.pop(1)
    unittest.main()
