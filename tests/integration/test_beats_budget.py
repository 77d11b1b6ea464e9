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
import subprocess
import unittest

import amsi

BINARY = None


def serve(case, budget):
    return amsi.Serve(["beats"], data_dir=os.path.join(case.tmp, "data"),
                      args=["--stats-interval", "0", "--beats-global-budget", budget],
                      cleanup=case)


class BudgetTest(unittest.TestCase):
    def setUp(self):
        self.tmp = amsi.tempdir(self, "amsiwatch-budget-")

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
        srv = serve(self, "256KiB")
        try:
            rep = self.replay(srv.ports["beats"], path, "--connections", "40", "--window", "1000",
                              "--pipelining", "2", "--precompress")
        finally:
            srv.stop()
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["events_acked"], 20000)
        self.assertEqual(rep["reconnects"], 0)
        self.assertEqual(len(srv.printed()), summary["expected_alerts"]["elastic"])

    def test_a_frame_larger_than_the_budget_passes_alone(self):
        path, summary = self.gen(6000, "1/2000")
        srv = serve(self, "64KiB")
        try:
            rep = self.replay(srv.ports["beats"], path, "--connections", "3", "--window", "2000",
                              "--pipelining", "1", "--compression", "1")
        finally:
            srv.stop()
        self.assertEqual(rep["events_acked"], 6000)
        self.assertEqual(rep["reconnects"], 0)
        self.assertEqual(len(srv.printed()), summary["expected_alerts"]["elastic"])

    def test_uncompressed_json_frames_under_a_small_budget(self):
        path, summary = self.gen(8000, "1/500")
        srv = serve(self, "64KiB")
        try:
            rep = self.replay(srv.ports["beats"], path, "--connections", "16", "--window", "500",
                              "--compression", "0")
        finally:
            srv.stop()
        self.assertEqual(rep["events_acked"], 8000)
        self.assertEqual(rep["reconnects"], 0)
        self.assertEqual(len(srv.printed()), summary["expected_alerts"]["elastic"])


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main()
