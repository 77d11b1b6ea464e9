#!/usr/bin/env python3
"""End-to-end tests of `amsiwatch journal` over journals written by `amsiwatch scan --journal`
(and, for sealed LZ4 segments, by journal_stress with small segments).

Usage: python3 test_journal_cli.py AMSIWATCH [JOURNAL_STRESS] [unittest options]
JOURNAL_STRESS defaults to $JOURNAL_STRESS, then to tests/journal_stress beside AMSIWATCH in the
build tree; the tests that need it are skipped when it is not found.
"""
import copy
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import unittest

import amsi

AMSIWATCH = None
STRESS = None
TIMEOUT = 60

SEG_HDR = 72
REC_HDR = 64

# A Winlogbeat 8 document of a Sysmon event 13 (registry value set) turning AMSI off.
SYSMON13 = {
    "@timestamp": "2026-02-01T09:00:00.000Z",
    "agent": {"type": "winlogbeat", "version": "8.12.2", "name": "fin-ws-01"},
    "ecs": {"version": "8.0.0"},
    "event": {"code": "13", "kind": "event", "provider": "Microsoft-Windows-Sysmon",
              "action": "Registry value set (rule: RegistryEvent)", "module": "sysmon"},
    "host": {"name": "fin-ws-01", "os": {"type": "windows", "family": "windows"}},
    "winlog": {
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "event_id": "13",
        "provider_name": "Microsoft-Windows-Sysmon",
        "computer_name": "fin-ws-01.fin.example",
        "user": {"identifier": "S-1-5-18"},
        "event_data": {
            "RuleName": "-",
            "EventType": "SetValue",
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "ProcessId": "5120",
            "ProcessGuid": "{11111111-2222-3333-4444-555555555555}",
            "TargetObject": "HKU\\S-1-5-21-9-8-7-1001\\Software\\Microsoft\\Windows Script"
                            "\\Settings\\AmsiEnable",
            "Details": "DWORD (0x00000000)",
            "User": "FIN\\mallory",
            "UtcTime": "2026-02-01 09:00:00.000",
        },
    },
}

LOGON = {
    "@timestamp": "2026-02-01T09:00:01.000Z",
    "agent": {"type": "winlogbeat", "version": "8.12.2"},
    "event": {"code": "4624", "kind": "event"},
    "host": {"name": "fin-ws-01", "os": {"type": "windows"}},
    "winlog": {"channel": "Security", "event_id": "4624",
               "event_data": {"TargetUserName": "bob", "LogonType": "2"}},
}


def event(host, n, user="mallory"):
    """A distinct AmsiEnable event (its own time and process, so its own alert id)."""
    e = copy.deepcopy(SYSMON13)
    stamp = "2026-02-01T09:%02d:%02d.%03dZ" % (n // 60 % 60, n % 60, n % 1000)
    e["@timestamp"] = stamp
    e["host"]["name"] = host
    e["agent"]["name"] = host
    e["winlog"]["computer_name"] = host + ".fin.example"
    data = e["winlog"]["event_data"]
    data["ProcessId"] = str(4000 + n)
    data["UtcTime"] = stamp.replace("T", " ").rstrip("Z")
    data["User"] = "FIN\\" + user
    return e


def line(doc):
    return json.dumps(doc, separators=(",", ":"))


def parse_segment(data):
    """The records of a plain segment image: [(offset, seq, payload bytes)]."""
    assert data[:8] == b"AMSIJRNL", data[:8]
    out = []
    off = SEG_HDR
    while off + REC_HDR <= len(data):
        magic, length, seq = struct.unpack_from("<IIQ", data, off)
        if magic != 0x52534D41 or off + REC_HDR + length > len(data):
            break
        out.append((off, seq, bytes(data[off + REC_HDR:off + REC_HDR + length])))
        off += REC_HDR + length
    return out


def run(args, **kw):
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run([AMSIWATCH] + args, capture_output=True, **kw)


def journal(data_dir, *args):
    return run(["journal"] + list(args) + ["--data-dir", data_dir])


class JournalCliTest(unittest.TestCase):
    """One journal for the read-only tests: an elastic scan over three hosts, then an extended
    scan over a fourth, with a gap between them for --since/--until."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = amsi.tempdir(cls, "amsiwatch-journal-cli-")
        cls.data = os.path.join(cls.tmp, "data")
        hosts = ["fin-ws-01", "fin-ws-02", "fin-dc-01"]
        first = [event(hosts[i % 3], i, user=("mallory", "bob")[i % 2]) for i in range(12)]
        lines = []
        for e in first:
            lines += [line(LOGON), line(e)]
        cls.first_alerts = cls.scan_into(cls.data, "first.ndjson", lines)
        time.sleep(0.05)  # detection times of the two scans do not overlap
        second = [event("dev-ws-07", 100 + i) for i in range(4)]
        cls.second_alerts = cls.scan_into(cls.data, "second.ndjson", [line(e) for e in second],
                                          "--profile", "extended")
        cls.alerts = cls.first_alerts + cls.second_alerts

    @classmethod
    def scan_into(cls, data_dir, name, lines, *extra):
        path = os.path.join(cls.tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = run(["scan", "--journal", data_dir] + list(extra) + [path])
        if proc.returncode != 0:
            raise AssertionError("scan failed: %r" % proc.stderr)
        return [l for l in proc.stdout.decode().splitlines() if l.strip()]

    def ids(self, alerts):
        return [json.loads(a)["alert_id"] for a in alerts]

    def list_rows(self, *args, data=None):
        proc = journal(data or self.data, "list", *args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = []
        for l in proc.stdout.decode().splitlines():
            seq, when, alert_id, pc, host, user, path = l.split(None, 6)
            rows.append({"seq": int(seq), "time": when, "id": alert_id, "pc": pc, "host": host,
                         "user": user, "path": path})
        return rows

    # ---- the journal as written ----

    def test_the_scans_wrote_distinct_alerts(self):
        self.assertEqual(len(self.first_alerts), 12)
        self.assertEqual(len(self.second_alerts), 4)
        self.assertEqual(len(set(self.ids(self.alerts))), 16)

    def test_export_is_exactly_what_the_scans_printed(self):
        proc = journal(self.data, "export")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.decode().splitlines(), self.alerts)
        out = os.path.join(self.tmp, "export.ndjson")
        proc = journal(self.data, "export", "--output", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            self.assertEqual(f.read().splitlines(), self.alerts)

    def test_export_filters_like_list(self):
        proc = journal(self.data, "export", "--host", "fin-dc-01")
        got = proc.stdout.decode().splitlines()
        want = [a for a in self.alerts if json.loads(a)["fields"]["host.name"] == "fin-dc-01"]
        self.assertEqual(got, want)
        self.assertEqual(len(got), 4)

    def test_list_shows_one_line_per_alert_in_sequence_order(self):
        rows = self.list_rows()
        self.assertEqual([r["seq"] for r in rows], list(range(1, 17)))
        self.assertEqual([r["id"] for r in rows], self.ids(self.alerts))
        first = json.loads(self.alerts[0])
        self.assertEqual(rows[0]["time"], first["@timestamp"])
        self.assertEqual(rows[0]["pc"], "elastic/seed")
        self.assertEqual(rows[0]["host"], "fin-ws-01")
        self.assertEqual(rows[0]["user"], "mallory")
        self.assertIn("AmsiEnable", rows[0]["path"])
        self.assertEqual(rows[-1]["pc"], "extended/seed")
        self.assertEqual(rows[-1]["host"], "dev-ws-07")

    def test_list_host_filter(self):
        rows = self.list_rows("--host", "fin-ws-02")
        self.assertEqual(len(rows), 4)
        self.assertTrue(all(r["host"] == "fin-ws-02" for r in rows))
        self.assertEqual([r["seq"] for r in rows], [2, 5, 8, 11])
        self.assertEqual(self.list_rows("--host", "no-such-host"), [])

    def test_list_profile_filter(self):
        rows = self.list_rows("--profile", "extended")
        self.assertEqual([r["id"] for r in rows], self.ids(self.second_alerts))
        rows = self.list_rows("--profile", "elastic")
        self.assertEqual([r["id"] for r in rows], self.ids(self.first_alerts))

    def test_list_since_and_until(self):
        boundary = json.loads(self.second_alerts[0])["@timestamp"]
        self.assertGreater(boundary, json.loads(self.first_alerts[-1])["@timestamp"])
        since = self.list_rows("--since", boundary)
        self.assertEqual([r["id"] for r in since], self.ids(self.second_alerts))
        until = self.list_rows("--until", boundary)
        self.assertEqual([r["id"] for r in until], self.ids(self.first_alerts))
        day = boundary[:10]  # a prefix of RFC 3339: the whole day
        self.assertEqual(len(self.list_rows("--since", day)), 16)
        self.assertEqual(self.list_rows("--until", day), [])
        both = self.list_rows("--since", day, "--until", boundary, "--host", "fin-dc-01")
        self.assertEqual(len(both), 4)

    def test_list_and_export_by_sequence(self):
        rows = self.list_rows("--seq", "4-7")
        self.assertEqual([r["seq"] for r in rows], [4, 5, 6, 7])
        self.assertEqual([r["id"] for r in rows], self.ids(self.alerts)[3:7])
        self.assertEqual([r["seq"] for r in self.list_rows("--seq", "9")], [9])
        self.assertEqual(self.list_rows("--seq", "17-20"), [])
        out = journal(self.data, "export", "--seq", "2-3").stdout
        if isinstance(out, bytes):
            out = out.decode()
        self.assertEqual([json.loads(l)["alert_id"] for l in out.splitlines()],
                         self.ids(self.alerts)[1:3])
        for bad in ("0", "5-4", "x", "3-", "-3", "1-2-3"):
            p = journal(self.data, "list", "--seq", bad)
            self.assertEqual(p.returncode, 2, bad)
            err = p.stderr.decode() if isinstance(p.stderr, bytes) else p.stderr
            self.assertIn("--seq", err)

    def test_list_limit(self):
        rows = self.list_rows("--limit", "3")
        self.assertEqual([r["seq"] for r in rows], [1, 2, 3])
        rows = self.list_rows("-n", "2", "--host", "fin-dc-01")
        self.assertEqual([r["seq"] for r in rows], [3, 6])
        self.assertEqual(journal(self.data, "list", "--limit", "x").returncode, 2)

    def test_show_by_alert_id_and_by_sequence(self):
        for seq in (1, 7, 16):
            want = json.loads(self.alerts[seq - 1])
            by_id = journal(self.data, "show", want["alert_id"])
            self.assertEqual(by_id.returncode, 0, by_id.stderr)
            doc = json.loads(by_id.stdout)
            self.assertEqual(doc.pop("journal_seq"), seq)
            self.assertEqual(doc, want)
            by_seq = journal(self.data, "show", str(seq))
            self.assertEqual(by_seq.returncode, 0, by_seq.stderr)
            self.assertEqual(json.loads(by_seq.stdout), json.loads(by_id.stdout))

    def test_show_of_an_unknown_alert_exits_one(self):
        proc = journal(self.data, "show", "0123456789abcdef0123456789abcdef")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"no alert", proc.stderr)
        self.assertEqual(journal(self.data, "show", "999").returncode, 1)
        self.assertEqual(journal(self.data, "show").returncode, 2)

    def test_tail_prints_the_last_alerts(self):
        proc = journal(self.data, "tail", "-n", "3")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.decode().splitlines(), self.alerts[-3:])
        proc = journal(self.data, "tail")
        self.assertEqual(proc.stdout.decode().splitlines(), self.alerts[-10:])
        proc = journal(self.data, "tail", "-n", "100")
        self.assertEqual(proc.stdout.decode().splitlines(), self.alerts)

    def test_stats(self):
        proc = journal(self.data, "stats")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        out = proc.stdout.decode()
        self.assertRegex(out, r"(?m)^segments:\s+1 \(0 compressed\)$")
        self.assertRegex(out, r"(?m)^alerts:\s+16 \(sequence 1 to 16\)$")
        self.assertRegex(out, r"(?m)^faults:\s+0$")
        self.assertRegex(out, r"(?m)^consumers: 0$")
        size = sum(os.path.getsize(os.path.join(self.data, "journal", f))
                   for f in os.listdir(os.path.join(self.data, "journal")))
        self.assertRegex(out, r"(?m)^bytes:\s+%d$" % size)

    def test_verify_passes(self):
        proc = journal(self.data, "verify")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertRegex(proc.stdout.decode(), r"^OK: 1 segments, 16 records \(sequence 1-16\)")
        self.assertNotIn(b"FAULT", proc.stdout)

    def test_a_data_dir_without_a_journal_is_an_error(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty, exist_ok=True)
        for cmd in ("list", "export", "tail", "verify", "stats"):
            self.assertEqual(journal(empty, cmd).returncode, 2, cmd)


class JournalCopyTest(unittest.TestCase):
    """Tests that change a journal work on their own copy of one."""

    def setUp(self):
        self.tmp = amsi.tempdir(self, "amsiwatch-journal-cli-")
        self.data = os.path.join(self.tmp, "data")
        self.n = 0

    def scan(self, hosts, per_host):
        lines = []
        for h in hosts:
            for _ in range(per_host):
                lines.append(line(event(h, self.n)))
                self.n += 1
        path = os.path.join(self.tmp, "events-%d.ndjson" % self.n)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = run(["scan", "--journal", self.data, path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return [l for l in proc.stdout.decode().splitlines() if l.strip()]

    def export(self):
        proc = journal(self.data, "export")
        return proc, [l for l in proc.stdout.decode().splitlines() if l.strip()]

    # ---- tail -f ----

    def start_tail(self, *args):
        proc = subprocess.Popen([AMSIWATCH, "journal", "tail", "-f", "--data-dir", self.data]
                                + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        def cleanup():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(cleanup)
        return proc

    def read_lines(self, proc, count, seconds):
        """Up to COUNT lines from PROC's stdout within SECONDS (a partial line waits in
        PROC.pending for the next call)."""
        lines, buf = [], getattr(proc, "pending", b"")
        deadline = time.monotonic() + seconds
        fd = proc.stdout.fileno()
        while len(lines) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *whole, buf = buf.split(b"\n")
            lines += [w.decode() for w in whole]
        proc.pending = buf
        return lines

    def stop_tail(self, proc):
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.fail("tail -f did not stop on SIGINT")
        self.assertEqual(rc, 0, proc.stderr.read())

    def test_tail_follow_prints_new_alerts_as_they_are_journaled(self):
        first = self.scan(["fin-ws-01", "fin-ws-02"], 3)
        tail = self.start_tail("-n", "2")
        self.assertEqual(self.read_lines(tail, 2, 10), first[-2:])
        self.assertEqual(self.read_lines(tail, 1, 0.5), [], "tail printed more than -n")
        second = self.scan(["fin-ws-09"], 2)
        started = time.monotonic()
        self.assertEqual(self.read_lines(tail, 2, 5), second)
        self.assertLess(time.monotonic() - started, 5)
        third = self.scan(["fin-ws-10"], 1)
        self.assertEqual(self.read_lines(tail, 1, 5), third)
        self.stop_tail(tail)

    def test_tail_follow_keeps_up_across_rotation_and_compression(self):
        # Small segments: the follower reads segments while they are written, sealed, compressed
        # and removed in their plain form, and must print every record once, in order.
        if not STRESS:
            self.skipTest("journal_stress not found")
        self.stress(1, 0)  # an empty journal to follow
        tail = self.start_tail("-n", "5")
        self.assertEqual(self.read_lines(tail, 1, 0.5), [])
        durable = self.stress(2, 200, "--segment-bytes", 65536, "--pace-us", 200)
        self.assertEqual(len(durable), 400)
        got = self.read_lines(tail, 400, 15)
        self.stop_tail(tail)
        _, exported = self.export()
        self.assertEqual(len(exported), 400)
        self.assertEqual([json.loads(l)["id"] for l in got],
                         [json.loads(l)["id"] for l in exported])
        self.assertEqual(got, exported)

    def test_tail_follow_reads_a_segment_it_first_saw_empty(self):
        # A writer killed between creating a segment file and writing its header leaves an empty
        # newest segment; the next start writes the header and appends there. A follower that
        # loaded the empty file must then read the header and the records after it.
        if not STRESS:
            self.skipTest("journal_stress not found")
        durable = self.stress(1, 10)
        self.assertEqual(len(durable), 10)
        open(os.path.join(self.data, "journal", "%020d.seg" % 11), "w").close()
        _, before = self.export()
        tail = self.start_tail("-n", "1")
        self.assertEqual(self.read_lines(tail, 1, 10), before[-1:])
        time.sleep(0.5)  # the follower has moved on to the empty segment
        after = self.scan(["fin-ws-12"], 3)
        got = self.read_lines(tail, 3, 5)
        self.stop_tail(tail)
        _, exported = self.export()
        self.assertEqual(exported, before + after)
        self.assertEqual(got, after, "tail -f missed the records of a segment it saw empty")

    def test_list_while_segments_are_sealed_and_compressed(self):
        # Segments of a few records: the writer rotates, and the sealer compresses and unlinks,
        # all the time. Every list run must show a dense prefix of the journal and exit 0.
        if not STRESS:
            self.skipTest("journal_stress not found")
        self.stress(1, 0)
        writer = subprocess.Popen([STRESS, self.data, "2", "500", "--segment-bytes", "16384",
                                   "--pace-us", "4000"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: writer.poll() is None and writer.kill())
        runs, failures = 0, []
        while writer.poll() is None:
            proc = journal(self.data, "list")
            runs += 1
            seqs = [int(l.split()[0]) for l in proc.stdout.decode().splitlines()]
            if proc.returncode != 0 or proc.stderr or seqs != list(range(1, len(seqs) + 1)):
                failures.append("run %d: exit %d, %d records, %s" % (
                    runs, proc.returncode, len(seqs), proc.stderr.decode().strip()[:200]))
        writer.wait(timeout=TIMEOUT)
        self.assertEqual(writer.returncode, 0)
        self.assertGreater(runs, 3)
        self.assertEqual(failures, [], "%d of %d list runs failed" % (len(failures), runs))
        seqs = [int(l.split()[0]) for l in journal(self.data, "list").stdout.decode().splitlines()]
        self.assertEqual(seqs, list(range(1, 1001)))

    def test_tail_follow_goes_on_after_the_writer_crashed_and_recovered(self):
        # A writer killed in the middle of a record leaves a torn tail; the next start cuts it and
        # writes new records over those bytes. A follower must see the new records.
        if not STRESS:
            self.skipTest("journal_stress not found")
        self.stress(1, 40, "--pace-us", 1000, fault="mid-record-write:5")
        before = self.export()[1]
        tail = self.start_tail("-n", "1")
        self.assertEqual(self.read_lines(tail, 1, 10), before[-1:])
        after = self.scan(["fin-ws-11"], 2)  # scan --journal recovers the journal, then appends
        got = self.read_lines(tail, 2, 5)
        self.stop_tail(tail)
        self.assertEqual(self.export()[1], before + after)
        self.assertEqual(got, after, "tail -f missed the records written after recovery")

    # ---- damage ----

    def scramble(self, path, record_index):
        """Flips one byte in the middle of the payload of a record of a plain segment."""
        with open(path, "rb") as f:
            data = bytearray(f.read())
        recs = parse_segment(data)
        off, seq, payload = recs[record_index]
        at = off + REC_HDR + len(payload) // 2
        data[at] ^= 0x5A
        with open(path, "r+b") as f:
            f.seek(at)
            f.write(bytes([data[at]]))
        return off, seq

    def check_damage_is_reported_and_skipped(self, alerts, seg_path, off, seq):
        verify = journal(self.data, "verify")
        out = verify.stdout.decode()
        self.assertEqual(verify.returncode, 1, out)
        self.assertIn("FAULT %s: " % seg_path, out)
        self.assertRegex(out, r"FAULT %s: \d+ damaged bytes at offset %d" % (re.escape(seg_path),
                                                                             off))
        self.assertRegex(out, r"(?m)^FAILED: ")
        want = alerts[:seq - 1] + alerts[seq:]
        ids = [json.loads(a)["alert_id"] for a in want]
        listed = journal(self.data, "list").stdout.decode().splitlines()
        self.assertEqual([l.split()[2] for l in listed], ids,
                         "list must show every alert but the damaged one (sequence %d): it "
                         "showed %d of %d" % (seq, len(listed), len(ids)))
        proc, got = self.export()
        self.assertEqual(len(got), len(want), "export must return every other alert")
        self.assertEqual(got, want)
        self.assertIn(b"damaged", proc.stderr, "export must say it skipped damage")

    def test_a_scrambled_payload_fails_verify_and_the_other_alerts_stay_readable(self):
        alerts = self.scan(["fin-ws-01", "fin-ws-02", "fin-dc-01"], 4)
        segs = [f for f in os.listdir(os.path.join(self.data, "journal")) if f.endswith(".seg")]
        self.assertEqual(len(segs), 1)
        seg = os.path.join(self.data, "journal", segs[0])
        off, seq = self.scramble(seg, 5)
        self.assertEqual(seq, 6)
        self.check_damage_is_reported_and_skipped(alerts, seg, off, seq)

    def test_reopening_a_journal_with_a_scrambled_record_keeps_the_acknowledged_ones_after_it(self):
        # Damage followed by whole records is a flipped bit, not a torn write: recovery says where
        # it is and keeps every acknowledged record after it; readers skip only the damaged one,
        # new records follow without a gap or a duplicate, and verify reports the damage.
        alerts = self.scan(["fin-ws-01", "fin-ws-02"], 4)
        seg = os.path.join(self.data, "journal", "%020d.seg" % 1)
        off, seq = self.scramble(seg, 2)
        path = os.path.join(self.tmp, "later.ndjson")
        with open(path, "w") as f:
            f.write("\n".join(line(event("fin-ws-03", 500 + i)) for i in range(2)) + "\n")
        proc = run(["scan", "--journal", self.data, path])  # opens the journal: recovery runs
        self.assertEqual(proc.returncode, 0, proc.stderr)
        later = [l for l in proc.stdout.decode().splitlines() if l.strip()]
        self.assertRegex(proc.stderr.decode(), r"damaged bytes at offset %d inside the newest "
                         r"segment" % off)
        _, got = self.export()
        ids = [json.loads(a)["alert_id"] for a in got]
        self.assertEqual(len(ids), len(set(ids)), "an alert journaled twice")
        self.assertEqual(got[:seq - 1], alerts[:seq - 1])
        self.assertEqual(got[seq - 1:-2], alerts[seq:], "acknowledged alerts after the damage lost")
        self.assertEqual(got[-2:], later)
        self.assertNotIn(alerts[seq - 1], got)
        verify = journal(self.data, "verify")
        self.assertEqual(verify.returncode, 1, verify.stdout)
        self.assertIn("FAULT", verify.stdout.decode() if isinstance(verify.stdout, bytes)
                      else verify.stdout)

    # ---- sealed, compressed segments (journal_stress: there is no CLI option for the size) ----

    def stress(self, threads, records, *extra, fault=None, wait_lz4=False):
        env = dict(os.environ)
        env.pop("AMSIWATCH_FAULT", None)
        if fault:
            env["AMSIWATCH_FAULT"] = fault
        out_path = os.path.join(self.tmp, "stress.out")
        with open(out_path, "w") as out:
            proc = subprocess.Popen([STRESS, self.data, str(threads), str(records)]
                                    + [str(e) for e in extra], stdout=out,
                                    stderr=subprocess.DEVNULL, env=env)
            lz4_seen = False
            deadline = time.monotonic() + TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                if wait_lz4 and not lz4_seen:
                    lz4_seen = bool(self.lz4_files())
                time.sleep(0.005)
            proc.wait(timeout=5)
        if fault:
            self.assertEqual(proc.returncode, -signal.SIGKILL)
        else:
            self.assertEqual(proc.returncode, 0)
        if wait_lz4:
            self.assertTrue(lz4_seen or self.lz4_files(), "no segment was compressed")
        with open(out_path) as f:
            return {l.split()[1]: int(l.split()[2]) for l in f if l.startswith("durable ")}

    def lz4_files(self):
        d = os.path.join(self.data, "journal")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".seg.lz4"))

    def stress_journal(self):
        durable = self.stress(2, 150, "--segment-bytes", 65536, "--pace-us", 300, wait_lz4=True)
        self.assertEqual(len(durable), 300)
        return durable

    @unittest.skipUnless(shutil.which("lz4"), "the lz4 command is not installed")
    def test_a_sealed_lz4_segment_is_a_plain_lz4_frame(self):
        if not STRESS:
            self.skipTest("journal_stress not found")
        self.stress_journal()
        packed = self.lz4_files()[0]
        plain = os.path.join(self.tmp, "decoded.seg")
        proc = subprocess.run(["lz4", "-d", "-q", "-f", packed, plain], capture_output=True,
                              timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(plain, "rb") as f:
            data = f.read()
        recs = parse_segment(data)
        self.assertGreater(len(recs), 0)
        first_seq = int(os.path.basename(packed)[:20])
        self.assertEqual(struct.unpack_from("<Q", data, 16)[0], first_seq)
        self.assertEqual([r[1] for r in recs], list(range(first_seq, first_seq + len(recs))))
        self.assertEqual(recs[-1][0] + REC_HDR + len(recs[-1][2]), len(data), "trailing bytes")
        _, exported = self.export()
        for off, seq, payload in recs:
            self.assertEqual(exported[seq - 1].encode(), payload)

    def test_export_reads_sealed_compressed_segments(self):
        if not STRESS:
            self.skipTest("journal_stress not found")
        durable = self.stress_journal()
        self.assertGreater(len(self.lz4_files()), 0)
        proc, exported = self.export()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        docs = [json.loads(l) for l in exported]
        self.assertEqual(sorted(d["id"] for d in docs), sorted(durable))
        self.assertEqual({d["id"]: i + 1 for i, d in enumerate(docs)}, durable)
        verify = journal(self.data, "verify")
        self.assertEqual(verify.returncode, 0, verify.stdout)
        stats = journal(self.data, "stats").stdout.decode()
        self.assertRegex(stats, r"(?m)^segments:\s+\d+ \([1-9]\d* compressed\)$")
        self.assertRegex(stats, r"(?m)^alerts:\s+300 \(sequence 1 to 300\)$")

    @unittest.skipUnless(shutil.which("lz4"), "the lz4 command is not installed")
    def test_damage_in_a_sealed_segment_is_skipped_and_reported(self):
        if not STRESS:
            self.skipTest("journal_stress not found")
        self.stress_journal()
        _, alerts = self.export()
        # Unpack a sealed segment in place (readers take either form) and damage a record.
        packed = self.lz4_files()[0]
        plain = packed[:-4]
        subprocess.run(["lz4", "-d", "-q", "-f", packed, plain], check=True, timeout=TIMEOUT)
        os.unlink(packed)
        off, seq = self.scramble(plain, 3)
        self.check_damage_is_reported_and_skipped(alerts, plain, off, seq)


def find_stress(amsiwatch):
    for candidate in (os.environ.get("JOURNAL_STRESS"),
                      os.path.join(os.path.dirname(amsiwatch), "tests", "journal_stress")):
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def main():
    global AMSIWATCH, STRESS
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    AMSIWATCH = os.path.abspath(sys.argv[1])
    del sys.argv[1]
    if len(sys.argv) > 1 and os.access(sys.argv[1], os.X_OK) and not sys.argv[1].startswith("-"):
        os.environ["JOURNAL_STRESS"] = sys.argv[1]
        del sys.argv[1]
    STRESS = find_stress(AMSIWATCH)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
