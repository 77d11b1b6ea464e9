#!/usr/bin/env python3
"""End-to-end tests of `amsiwatch scan`: the real binary, real files, pipes and LZ4 frames."""
import json
import os
import shutil
import subprocess
import unittest

import amsi

BINARY = None

HIT = {
    "@timestamp": "2026-02-01T09:00:00.000Z",
    "event": {"code": "13", "kind": "event", "provider": "Microsoft-Windows-Sysmon"},
    "host": {"name": "fin-ws-04", "os": {"type": "windows", "family": "windows"}},
    "winlog": {
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "event_id": "13",
        "provider_name": "Microsoft-Windows-Sysmon",
        "user": {"identifier": "S-1-5-18"},
        "event_data": {
            "EventType": "SetValue",
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "ProcessId": "5120",
            "ProcessGuid": "{11111111-2222-3333-4444-555555555555}",
            "TargetObject": "HKU\\S-1-5-21-9-8-7-1001\\Software\\Microsoft\\Windows Script\\Settings\\AmsiEnable",
            "Details": "DWORD (0x00000000)",
            "User": "FIN\\mallory",
            "UtcTime": "2026-02-01 09:00:00.000",
        },
    },
}

MISS = {
    "@timestamp": "2026-02-01T09:00:01.000Z",
    "event": {"code": "4624", "kind": "event"},
    "host": {"name": "fin-ws-04", "os": {"type": "windows"}},
    "winlog": {"channel": "Security", "event_id": "4624",
               "event_data": {"TargetUserName": "bob", "LogonType": "2"}},
    "message": "An account was successfully logged on.",
}

SECURITY_4657 = {
    "host": {"name": "fin-dc-01"},
    "winlog": {
        "channel": "Security",
        "event_id": "4657",
        "provider_name": "Microsoft-Windows-Security-Auditing",
        "event_data": {
            "ObjectName": "\\REGISTRY\\USER\\S-1-5-21-9-8-7-1001\\Software\\Microsoft\\Windows Script\\Settings",
            "ObjectValueName": "AmsiEnable",
            "NewValue": "0",
            "ProcessName": "C:\\Windows\\System32\\reg.exe",
        },
    },
}


def line(doc):
    return json.dumps(doc, separators=(",", ":"))


def run(args, stdin=None):
    return subprocess.run([BINARY] + args, input=stdin, capture_output=True, timeout=60)


class ScanTest(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-scan-")

    def write(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def alerts(self, proc):
        return [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]

    def test_prints_one_alert_document_per_matching_event_and_exits_zero(self):
        path = self.write("events.ndjson", [line(MISS), line(HIT), line(MISS)])
        proc = run(["scan", path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        alerts = self.alerts(proc)
        self.assertEqual(len(alerts), 1)
        a = alerts[0]
        self.assertEqual(len(a["alert_id"]), 32)
        self.assertEqual(a["rule"]["id"], "f874315d-5188-4b4a-8521-d1c73093a7e4")
        self.assertEqual(a["rule"]["severity"], "high")
        self.assertEqual(a["profile"], "elastic")
        self.assertEqual(a["clause"], "seed")
        self.assertEqual(a["matched"]["registry.value"], "AmsiEnable")
        self.assertEqual(a["matched"]["registry.data.strings"], ["0"])
        self.assertEqual(a["fields"]["host.name"], "fin-ws-04")
        self.assertEqual(a["fields"]["user.name"], "mallory")
        self.assertEqual(a["source"], {"type": "file", "path": path, "line": 2})
        self.assertEqual(json.loads(a["original"]), HIT)
        stderr = proc.stderr.decode()
        self.assertIn("3 events", stderr)
        self.assertIn("1 alerts", stderr)

    def test_the_same_event_always_gets_the_same_alert_id(self):
        path = self.write("events.ndjson", [line(HIT)])
        first = self.alerts(run(["scan", path]))[0]["alert_id"]
        second = self.alerts(run(["scan", path]))[0]["alert_id"]
        self.assertEqual(first, second)
        other = dict(HIT, **{"@timestamp": "2026-02-01T09:00:02.000Z"})
        third = self.alerts(run(["scan", self.write("o.ndjson", [line(other)])]))[0]["alert_id"]
        self.assertNotEqual(first, third)

    def test_exits_one_when_nothing_matches(self):
        path = self.write("quiet.ndjson", [line(MISS)] * 5)
        proc = run(["scan", path])
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, b"")

    def test_reads_standard_input(self):
        proc = run(["scan"], stdin=(line(HIT) + "\n").encode())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.alerts(proc)[0]["source"]["path"], "-")

    @unittest.skipUnless(shutil.which("lz4"), "the lz4 command is not installed")
    def test_reads_lz4_frames_from_files_and_pipes(self):
        plain = self.write("events.ndjson", [line(MISS), line(HIT)] * 50)
        packed = plain + ".lz4"
        subprocess.run(["lz4", "-q", "-f", plain, packed], check=True)
        proc = run(["scan", packed])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.alerts(proc)), 50)
        with open(packed, "rb") as f:
            proc = run(["scan", "-"], stdin=f.read())
        self.assertEqual(len(self.alerts(proc)), 50)

    def test_reports_malformed_lines_with_their_numbers_and_goes_on(self):
        path = self.write("mixed.ndjson", [
            line(HIT), '{"broken": ', "[1,2,3]", "", line(HIT).replace("fin-ws-04", "fin-ws-05")])
        proc = run(["scan", path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.alerts(proc)), 2)
        stderr = proc.stderr.decode()
        self.assertIn(path + ":2: malformed", stderr)
        self.assertIn(path + ":3: malformed", stderr)
        self.assertIn("2 malformed", stderr)

    def test_refuses_a_line_over_the_size_limit_without_stopping(self):
        big = line(dict(MISS, message="x" * 5000))
        path = self.write("big.ndjson", [big, line(HIT)])
        proc = run(["scan", "--max-event", "1000", path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.alerts(proc)), 1)
        self.assertIn(path + ":1: malformed", proc.stderr.decode())

    def test_extended_profile_names_the_clause_that_fired(self):
        path = self.write("sec.ndjson", [line(SECURITY_4657)])
        self.assertEqual(run(["scan", path]).returncode, 1)
        proc = run(["scan", "--profile", "extended", path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        a = self.alerts(proc)[0]
        self.assertEqual(a["profile"], "extended")
        self.assertEqual(a["clause"], "security-4657")
        self.assertEqual(a["normalization"]["inferred"], ["host.os.type"])

    def test_a_missing_file_is_an_error_but_the_other_files_are_scanned(self):
        path = self.write("events.ndjson", [line(HIT)])
        proc = run(["scan", os.path.join(self.dir, "nope.ndjson"), path])
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(self.alerts(proc)), 1)
        self.assertIn("nope.ndjson", proc.stderr.decode())

    def test_usage_errors_exit_two_and_help_lists_every_option(self):
        self.assertEqual(run(["scan", "--profile", "strict"]).returncode, 2)
        self.assertEqual(run(["scan", "--bogus"]).returncode, 2)
        self.assertEqual(run(["frobnicate"]).returncode, 2)
        helptext = run(["scan", "--help"]).stdout.decode()
        for opt in ("--profile", "--no-validate", "--max-event", "--quiet", "--help"):
            self.assertIn(opt, helptext)
        self.assertIn("scan", run(["--help"]).stdout.decode())

    def test_no_validate_still_finds_every_alert(self):
        path = self.write("events.ndjson", [line(MISS), line(HIT), '{"broken": '])
        proc = run(["scan", "--no-validate", path])
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(len(self.alerts(proc)), 1)
        self.assertIn("1 parsed", proc.stderr.decode())

    def test_quiet_prints_no_alerts_but_keeps_the_exit_status(self):
        path = self.write("events.ndjson", [line(HIT)])
        proc = run(["scan", "-q", path])
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, b"")


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
