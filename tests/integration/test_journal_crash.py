#!/usr/bin/env python3
"""Crash safety of the alert journal, tested the way rsyslog and Kafka test theirs.

journal_stress appends from several threads and prints "durable <id> <seq>" for every record the
journal reported durable. These tests SIGKILL it, at named fault points (AMSIWATCH_FAULT) and at
random moments, recover the journal by opening it again, and check with the real CLI that every
record reported durable is there exactly once under the sequence number it was given, that the
sequence is dense from 1, and that `amsiwatch journal verify` passes.

Usage: python3 test_journal_crash.py JOURNAL_STRESS AMSIWATCH [unittest options]
"""
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import unittest

import amsi

STRESS = None
AMSIWATCH = None

SEGMENT = 65536  # about 20 records of 3 KB a segment: rotation and compression all the time
TIMEOUT = 120

# The stress stage (scripts/stress.sh) runs this file many times beside a CPU hog with
# JOURNAL_CRASH_QUICK=1: each run takes one fault point and a short kill loop, with a fresh seed
# (printed, and taken from JOURNAL_CRASH_SEED when set, to replay a failure).
QUICK = os.environ.get("JOURNAL_CRASH_QUICK") == "1"
SEED = int(os.environ.get("JOURNAL_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))


def clean_env(fault=None):
    env = dict(os.environ)
    env.pop("AMSIWATCH_FAULT", None)
    if fault:
        env["AMSIWATCH_FAULT"] = fault
    return env


def parse_durable(text):
    """The records reported durable: {id: seq}. A line cut by the kill is not a report."""
    durable = {}
    for line in text.split("\n")[:-1]:  # the part after the last newline is not a whole line
        parts = line.split()
        if len(parts) == 3 and parts[0] == "durable":
            if parts[1] in durable:
                raise AssertionError("%s reported durable twice" % parts[1])
            durable[parts[1]] = int(parts[2])
    return durable


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.durable = parse_durable(stdout)


class JournalCrashTest(unittest.TestCase):
    def setUp(self):
        self.tmp = amsi.tempdir(self, "amsiwatch-crash-")
        self.data = os.path.join(self.tmp, "data")

    # ---- running things ----

    def stress_args(self, threads, records, *extra):
        return [STRESS, self.data, str(threads), str(records)] + [str(e) for e in extra]

    def stress(self, threads, records, *extra, fault=None):
        """Runs journal_stress to its end (or its fault point). Output goes to files, never to a
        pipe that could fill up and stall the writer thread."""
        out_path = os.path.join(self.tmp, "stress.out")
        err_path = os.path.join(self.tmp, "stress.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.run(self.stress_args(threads, records, *extra), stdout=out,
                                  stderr=err, env=clean_env(fault), timeout=TIMEOUT)
        return Run(proc.returncode, self.read(out_path), self.read(err_path))

    def stress_killed_after(self, delay, threads, records, *extra):
        """Starts journal_stress and kills it with SIGKILL DELAY seconds after its first record
        was reported durable (counting from the start instead would, on a slow or busy machine,
        kill it before it has done anything)."""
        out_path = os.path.join(self.tmp, "stress.out")
        err_path = os.path.join(self.tmp, "stress.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(self.stress_args(threads, records, *extra), stdout=out,
                                    stderr=err, env=clean_env())
            deadline = time.monotonic() + TIMEOUT
            while "durable " not in self.read(out_path) and proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    self.fail("journal_stress reported nothing durable in %d s" % TIMEOUT)
                time.sleep(0.005)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=TIMEOUT)
        return Run(proc.returncode, self.read(out_path), self.read(err_path))

    @staticmethod
    def read(path):
        with open(path, "r", errors="replace") as f:
            return f.read()

    def recover(self):
        """Opens and closes the journal: recovery cuts a torn tail and logs it on stderr."""
        run = self.stress(1, 0)
        self.assertEqual(run.returncode, 0, "recovery failed:\n" + run.stderr)
        self.assertTrue(run.stdout.endswith("done\n"), run.stdout)
        return run

    def cli(self, *args):
        return subprocess.run([AMSIWATCH, "journal"] + list(args) + ["--data-dir", self.data],
                              capture_output=True, timeout=TIMEOUT)

    # ---- checking the journal ----

    def check_journal(self, durable, context="", with_seqs=True):
        """Every record reported durable is in the journal once (with the sequence number it was
        reported with, unless not WITH_SEQS); the sequence is dense from 1; verify passes.
        Returns the number of records."""
        what = (" (%s)" % context) if context else ""
        verify = self.cli("verify")
        vout = verify.stdout.decode(errors="replace")
        self.assertEqual(verify.returncode, 0, "journal verify failed%s:\n%s%s"
                         % (what, vout, verify.stderr.decode(errors="replace")))
        m = re.search(r"^OK: (\d+) segments, (\d+) records \(sequence (\d+)-(\d+)\)", vout, re.M)
        self.assertIsNotNone(m, vout)
        records, first, last = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if records:
            self.assertEqual(first, 1, vout)
            self.assertEqual(last - first + 1, records, "sequence not dense%s: %s" % (what, vout))

        export = self.cli("export")
        self.assertEqual(export.returncode, 0, export.stderr)
        self.assertEqual(export.stderr, b"", "export skipped damage%s" % what)
        ids = [json.loads(l)["id"] for l in export.stdout.decode().splitlines() if l.strip()]
        self.assertEqual(len(ids), records, "export and verify disagree%s" % what)
        dups = [i for i, n in collections.Counter(ids).items() if n > 1]
        self.assertEqual(dups, [], "records journaled more than once%s" % what)
        missing = sorted(set(durable) - set(ids))
        self.assertEqual(missing, [], "records reported durable but lost%s (%d of %d)"
                         % (what, len(missing), len(durable)))

        if not with_seqs:
            return records
        listing = self.cli("list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        seq_of = {}
        seqs = []
        for l in listing.stdout.decode().splitlines():
            parts = l.split()
            seqs.append(int(parts[0]))
            seq_of[parts[2]] = int(parts[0])
        self.assertEqual(seqs, list(range(1, records + 1)), "list: sequence not dense%s" % what)
        wrong = {i: (s, seq_of[i]) for i, s in durable.items() if seq_of[i] != s}
        self.assertEqual(wrong, {}, "records under another sequence than reported%s" % what)
        return records

    def segment_files(self):
        d = os.path.join(self.data, "journal")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


# Fault points of store/journal.c with the passage to kill at. Passage counts are per process: the
# writer passes after-write-before-sync and after-sync-before-ack once per group commit, and
# mid-record-write once per writev; segment-created-before-dir-sync's first passage is the first
# segment of a new journal; the compress-* points run on the sealer thread, once per sealed
# segment. How many group commits a run makes depends on the disk (about 40 to 400 for this run),
# so the passages chosen are early ones; journal_stress paces its appenders (--pace-us) so that
# group commits stay small and the kill comes in the middle of the run.
FAULTS = [
    ("after-write-before-sync", 1),
    ("after-write-before-sync", 8),
    ("after-sync-before-ack", 1),
    ("after-sync-before-ack", 8),
    ("mid-record-write", 1),
    ("mid-record-write", 8),
    ("rotate-before-create", 1),
    ("rotate-before-create", 4),
    ("after-rotate", 1),
    ("after-rotate", 4),
    ("segment-created-before-dir-sync", 1),
    ("segment-created-before-dir-sync", 4),
    ("compress-before-rename", 1),
    ("compress-before-rename", 3),
    ("compress-before-unlink", 1),
    ("compress-before-unlink", 3),
]


class FaultPointTest(JournalCrashTest):
    def crash_at(self, name, nth):
        fault = "%s:%d" % (name, nth)
        run = self.stress(2, 400, "--segment-bytes", SEGMENT, "--pace-us", 500, "--prefix", "a-",
                          fault=fault)
        self.assertEqual(run.returncode, -signal.SIGKILL,
                         "%s: expected SIGKILL, got %s (fault point not reached?)\n%s"
                         % (fault, run.returncode, run.stderr))
        self.assertNotIn("done", run.stdout)
        if nth > 1 and name != "segment-created-before-dir-sync":
            self.assertGreater(len(run.durable), 0, "%s: killed before anything was durable"
                               % fault)
        before = self.segment_files()
        if name == "compress-before-unlink":
            # Both forms of the segment exist; readers and recovery must use one of them.
            self.assertTrue(any(f.endswith(".seg.lz4") and f[:-4] in before for f in before),
                            before)
        if name == "compress-before-rename":
            self.assertTrue(any(f.endswith(".tmp") for f in before), before)

        rec = self.recover()
        if name == "mid-record-write":
            self.assertRegex(rec.stderr, r"cut \d+ bytes at offset \d+: short (payload|record)",
                             "recovery did not say what it cut")
        self.assertFalse(any(f.endswith(".tmp") for f in self.segment_files()),
                         "recovery left temporaries: %s" % self.segment_files())
        records = self.check_journal(run.durable, "after " + fault)
        self.assertGreaterEqual(records, len(run.durable))

        # The recovered journal takes new records after the old ones.
        again = self.stress(2, 60, "--segment-bytes", SEGMENT, "--prefix", "b-")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertTrue(again.stdout.endswith("done\n"))
        self.assertEqual(len(again.durable), 120)
        self.assertEqual(sorted(again.durable.values()), list(range(records + 1, records + 121)))
        both = dict(run.durable)
        both.update(again.durable)
        self.assertEqual(self.check_journal(both, "second run after " + fault), records + 120)


def _fault_test(name, nth):
    def test(self):
        self.crash_at(name, nth)
    test.__doc__ = "SIGKILL at %s:%d loses nothing reported durable" % (name, nth)
    return test


if QUICK:
    FAULTS = [random.Random(SEED).choice(FAULTS)]
for _name, _nth in FAULTS:
    setattr(FaultPointTest, "test_%s_%d" % (_name.replace("-", "_"), _nth),
            _fault_test(_name, _nth))


class KillLoopTest(JournalCrashTest):
    def kill_loop(self, seed, iterations, *extra):
        """ITERATIONS runs into the same journal, each SIGKILLed after a random delay, each
        followed by recovery and a check of everything reported durable so far. The appenders
        are paced (a random pace per run) so that the journal grows by hundreds to a few
        thousand records a run, not tens of thousands: the checks read all of it every time."""
        rng = random.Random(seed)
        durable = {}
        for it in range(iterations):
            threads = rng.randint(2, 4)
            delay = rng.uniform(0.010, 0.300)
            pace = rng.choice((0, 300, 1000, 3000)) if it % 4 == 0 else rng.choice((300, 1000,
                                                                                      3000))
            run = self.stress_killed_after(delay, threads, 100000, "--segment-bytes", 262144,
                                           "--pace-us", pace, "--prefix", "it%d-" % it, *extra)
            context = "iteration %d, %d threads paced %d us, killed after %.0f ms" % (
                it, threads, pace, delay * 1000)
            self.assertEqual(run.returncode, -signal.SIGKILL, context + "\n" + run.stderr)
            self.assertNotIn("done", run.stdout, context)
            overlap = set(run.durable) & set(durable)
            self.assertEqual(overlap, set(), context)
            durable.update(run.durable)
            self.recover()
            records = self.check_journal(durable, context,
                                         with_seqs=(it % 4 == 3 or it == iterations - 1))
        self.assertGreater(len(durable), 0, "nothing was ever reported durable")
        sys.stderr.write("[%d kills: %d records reported durable, %d in the journal] "
                         % (iterations, len(durable), records))
        return durable

    def test_kill_9_under_load_loses_nothing_reported_durable(self):
        if QUICK:
            self.kill_loop(SEED, 3)
        else:
            self.kill_loop(20261128, 24)

    def test_interval_sync_loses_nothing_reported_on_a_process_kill(self):
        # With --sync-interval-ms a completion means written to the kernel, not synced: a power
        # cut may lose the last interval, a process kill must lose nothing.
        if QUICK:
            self.kill_loop(SEED + 1, 2, "--sync-interval-ms", 10)
        else:
            self.kill_loop(4242, 10, "--sync-interval-ms", 10)


def main():
    global STRESS, AMSIWATCH
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    STRESS = os.path.abspath(sys.argv[1])
    AMSIWATCH = os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    if QUICK:
        sys.stderr.write("quick run: JOURNAL_CRASH_SEED=%d replays it\n" % SEED)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
