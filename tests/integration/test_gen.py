#!/usr/bin/env python3
"""`amsiwatch gen`, driven as a user would: the same seed gives the same bytes, --count and the
hit rate are exact, every shape and syslog format carries its AmsiEnable events, and the alerts
`amsiwatch scan` (NDJSON, plain and LZ4) and `amsiwatch serve` (syslog over TCP on 127.0.0.1,
port chosen by the OS) raise are exactly the numbers gen printed for each profile.

usage: test_gen.py path/to/amsiwatch [unittest options]"""
import json
import os
import socket
import subprocess
import time
import unittest

import amsi

BINARY = None
SHAPES = ["winlogbeat8", "ecs", "defend", "m365", "s1", "4657"]
FORMATS = ["syslog-beats-json-rfc5424", "syslog-nxlog-json-rfc5424", "syslog-nxlog-json-rfc3164",
           "syslog-nxlog-sd-rfc5424", "syslog-snare-rfc3164", "syslog-wincollect-rfc3164",
           "syslog-windows-xml-rfc5424", "syslog-windows-xml-rfc3164"]


def gen(*args, check=True):
    """Runs gen with --summary-json; returns (stdout bytes, summary dict)."""
    p = subprocess.run([BINARY, "gen", "--summary-json"] + list(args), capture_output=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("gen %s failed (%d): %s" % (args, p.returncode, p.stderr))
    lines = [ln for ln in p.stderr.decode().splitlines() if ln.startswith("{")]
    return p.stdout, (json.loads(lines[-1]) if lines else None)


def scan_alerts(path, profile):
    p = subprocess.run([BINARY, "scan", "--profile", profile, path], capture_output=True,
                       timeout=300)
    assert p.returncode in (0, 1), p.stderr
    assert b"malformed" not in p.stderr or b" 0 malformed" in p.stderr, p.stderr
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


class GenTest(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-gen-")

    def path(self, name):
        return os.path.join(self.dir, name)

    # ---- Determinism and counts ----

    def test_same_seed_same_bytes_other_seed_other_bytes(self):
        args = ["--count", "2000", "--hit-rate", "1/100", "--shapes", "all"]
        a, _ = gen("--seed", "5", *args)
        b, _ = gen("--seed", "5", *args)
        c, _ = gen("--seed", "6", *args)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        for fmt in FORMATS:
            x, _ = gen("--seed", "9", "--count", "300", "--format", fmt)
            y, _ = gen("--seed", "9", "--count", "300", "--format", fmt)
            self.assertEqual(x, y, fmt)

    def test_count(self):
        for n in (0, 1, 1234):
            out, s = gen("--count", str(n), "--seed", "2")
            self.assertEqual(out.count(b"\n"), n)
            self.assertTrue(out.endswith(b"\n") or n == 0)
            self.assertEqual(s["events"], n)
            self.assertEqual(s["bytes"], len(out))

    def test_exact_hit_count_for_rates(self):
        # (count, rate, hits): round(count * rate), halves up.
        cases = [(10000, "1/1000", 10), (10000, "0.0001", 1), (9999, "1/3", 3333),
                 (5, "1/2", 3), (1000, "0", 0), (40, "1", 40), (3000, "0.005", 15)]
        for count, rate, hits in cases:
            _, s = gen("--count", str(count), "--hit-rate", rate, "--seed", "3")
            self.assertEqual(s["hits"], hits, (count, rate))

    def test_hits_are_spread_one_per_block(self):
        out, s = gen("--count", "10000", "--hit-rate", "1/1000", "--near-misses", "0",
                     "--seed", "4")
        lines = out.splitlines()
        where = [i for i, ln in enumerate(lines) if b"Settings\\\\AmsiEnable" in ln]
        self.assertEqual(len(where), 10)
        self.assertEqual(sorted(i // 1000 for i in where), list(range(10)))

    def test_every_shape_exact_and_scanned(self):
        for shape in SHAPES:
            f = self.path(shape + ".ndjson")
            _, s = gen("--count", "4000", "--hit-rate", "1/200", "--shapes", shape, "--seed",
                       "11", "-o", f)
            self.assertEqual(s["hits"], 20, shape)
            self.assertEqual(s["hits_by_shape"], {shape: 20})
            for profile in ("elastic", "extended"):
                self.assertEqual(len(scan_alerts(f, profile)), s["expected_alerts"][profile],
                                 (shape, profile))
        # Which profiles alert is fixed per shape: 4657 only under extended, the rest both (a
        # quarter of them only under extended, except ecs).
        _, s = gen("--count", "4000", "--hit-rate", "1/200", "--shapes", "4657")
        self.assertEqual(s["expected_alerts"], {"elastic": 0, "extended": 20})
        _, s = gen("--count", "4000", "--hit-rate", "1/200", "--shapes", "ecs")
        self.assertEqual(s["expected_alerts"], {"elastic": 20, "extended": 20})
        _, s = gen("--count", "4000", "--hit-rate", "1/200", "--shapes", "defend")
        self.assertEqual(s["expected_alerts"], {"elastic": 15, "extended": 20})

    def test_all_shapes_plain_and_lz4_scan_finds_what_gen_printed(self):
        plain, packed = self.path("events.ndjson"), self.path("events.lz4")
        args = ["--count", "12000", "--hit-rate", "1/100", "--shapes", "all", "--seed", "7",
                "--near-misses", "20"]
        _, s = gen(*args, "-o", plain)
        _, s2 = gen(*args, "-o", packed)
        self.assertEqual(s["hits"], 120)
        self.assertEqual(sum(s["hits_by_shape"].values()), 120)
        self.assertEqual(set(s["hits_by_shape"].values()), {20})
        self.assertGreater(s["kinds"]["near-miss"], 100)
        self.assertNotEqual(s["expected_alerts"]["elastic"], s["expected_alerts"]["extended"])
        with open(packed, "rb") as f:
            self.assertEqual(f.read(4), b"\x04\x22\x4d\x18")  # LZ4 frame magic
        self.assertLess(os.path.getsize(packed), os.path.getsize(plain))
        for profile in ("elastic", "extended"):
            for f in (plain, packed):
                self.assertEqual(len(scan_alerts(f, profile)), s["expected_alerts"][profile],
                                 (f, profile))
        # --lz4 to standard output is the same frame.
        out, _ = gen(*args, "--lz4")
        with open(packed, "rb") as f:
            self.assertEqual(out, f.read())

    def test_near_misses_alone_raise_nothing(self):
        f = self.path("near.ndjson")
        _, s = gen("--count", "3000", "--hit-rate", "0", "--near-misses", "1000", "--shapes",
                   "all", "-o", f)
        self.assertEqual(s["kinds"]["near-miss"], 3000)
        for profile in ("elastic", "extended"):
            self.assertEqual(scan_alerts(f, profile), [], profile)

    def test_events_are_shaped_like_winlogbeat(self):
        out, s = gen("--count", "3000", "--seed", "8")
        hosts, users, ids, times = set(), set(), set(), []
        for ln in out.splitlines():
            d = json.loads(ln)
            self.assertIn("@timestamp", d)
            times.append(d["@timestamp"])
            hosts.add(d["host"]["name"])
            w = d["winlog"]
            self.assertEqual(w["event_id"], d["event"]["code"])
            self.assertIsInstance(w["record_id"], int)
            self.assertIn(w["channel"], ("Security", "Microsoft-Windows-Sysmon/Operational"))
            ids.add(w["event_id"])
            u = w["event_data"].get("User") or w["event_data"].get("SubjectUserName")
            if u:
                users.add(u)
            self.assertTrue(d["message"])
        self.assertEqual(times, sorted(times))
        self.assertGreater(len(hosts), 100)
        self.assertGreater(len(users), 10)
        self.assertTrue({"1", "3", "11", "12", "13", "4624", "4688", "4657"} <= ids, ids)
        mean = s["bytes"] / s["events"]
        self.assertTrue(1200 < mean < 2000, mean)

    def test_other_shapes_carry_their_keys(self):
        out, _ = gen("--count", "600", "--hit-rate", "1/3", "--shapes",
                     "ecs,defend,m365,s1", "--near-misses", "0", "--seed", "12")
        seen = set()
        for ln in out.splitlines():
            d = json.loads(ln)
            if "registry" in d and d.get("agent", {}).get("type") == "endpoint":
                seen.add("defend")
                self.assertEqual(d["registry"]["value"], "AmsiEnable")
            elif d.get("category") == "AdvancedHunting-DeviceRegistryEvents":
                seen.add("m365")
                self.assertEqual(d["properties"]["RegistryValueName"], "AmsiEnable")
            elif "registry.keyPath" in d:
                seen.add("s1")
                self.assertTrue(d["registry.keyPath"].endswith("\\AmsiEnable"))
            elif "registry" in d:
                seen.add("ecs")
                self.assertEqual(d["event"]["module"], "sysmon")
        self.assertEqual(seen, {"ecs", "defend", "m365", "s1"})

    # ---- Syslog ----

    def test_syslog_formats_through_serve(self):
        files = {}
        for fmt in FORMATS:
            f = self.path(fmt + ".log")
            out, s = gen("--count", "400", "--hit-rate", "1/40", "--shapes", "winlogbeat8,4657",
                         "--format", fmt, "--seed", "13", "--near-misses", "30", "-o", f)
            with open(f, "rb") as g:
                data = g.read()
            self.assertEqual(data.count(b"\n"), 400, fmt)
            self.assertTrue(data.endswith(b"\n"))
            self.assertNotIn(b"\r", data)
            self.assertEqual(s["hits"], 10)
            files[fmt] = (data, s["expected_alerts"])
        for profile in ("elastic", "extended"):
            # Syslog TCP only; alerts read from the journal.
            srv = amsi.Serve(["syslog-tcp"], data_dir=self.path("data-" + profile),
                             args=["--quiet", "--profile", profile], cleanup=self)
            try:
                total = 0
                for fmt in FORMATS:
                    data, expected = files[fmt]
                    with socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]),
                                                  timeout=10) as c:
                        c.sendall(data)
                    total += expected[profile]
                    got = srv.wait_journaled(total)
                    self.assertEqual(len(got), total, (profile, fmt, srv.snapshot()[-5:]))
                time.sleep(0.5)
                self.assertEqual(len(srv.journaled()), total, profile)
            finally:
                srv.stop()

    # ---- Usage ----

    def test_bad_options_exit_2_with_a_reason(self):
        bad = [["--hit-rate", "2"], ["--hit-rate", "1/0"], ["--hit-rate", "x"],
               ["--hit-rate", "1/10000000000"], ["--shapes", "foo"], ["--shapes", ""],
               ["--format", "xml"], ["--count", "-1"], ["--count", "ten"], ["--seed", "-3"],
               ["--format", "syslog-snare-rfc3164", "--shapes", "ecs"], ["--bogus"],
               ["extra"], ["--near-misses", "1001"]]
        for args in bad:
            p = subprocess.run([BINARY, "gen"] + args, capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("amsiwatch gen:", p.stderr, args)
            self.assertEqual(p.stdout, "", args)
        p = subprocess.run([BINARY, "gen", "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        for opt in ("--count", "--hit-rate", "--shapes", "--seed", "--format", "--output",
                    "--lz4", "--summary-json", "--near-misses"):
            self.assertIn(opt, p.stdout)
        p = subprocess.run([BINARY, "gen", "--count", "10", "-o", "/nonexistent/dir/x"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/dir/x", p.stderr)

    def test_text_summary(self):
        p = subprocess.run([BINARY, "gen", "--count", "2000", "--hit-rate", "1/1000", "--shapes",
                            "winlogbeat8,4657"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertIn("AmsiEnable events 2", p.stderr)
        self.assertRegex(p.stderr, r"expected alerts: elastic \d+, extended 2")


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main()
