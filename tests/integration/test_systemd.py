#!/usr/bin/env python3
"""amsiwatch under systemd: the notification protocol against a NOTIFY_SOCKET the test listens on
(READY=1 once the listeners accept, STATUS= with the rates, WATCHDOG=1 while WATCHDOG_USEC is set,
STOPPING=1 on SIGTERM), and `systemd-analyze verify` on dist/systemd/amsiwatch.service.

usage: test_systemd.py AMSIWATCH"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "dist", "systemd", "amsiwatch.service")
SAMPLE = os.path.join(ROOT, "samples", "winlogbeat-events.ndjson")
STATUS_RATES = re.compile(r"^STATUS=\d+\.\d events/s, (\d+) alerts, (\d+) connections$")


class NotifySocket:
    """An AF_UNIX datagram socket as systemd's NOTIFY_SOCKET: every message that arrives, kept in
    order. On READY=1, a connection is tried at once to the Beats address its STATUS= names."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.ready_connect = None  # True when the Beats port took a connection at READY=1
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            if "READY=1" in text.split("\n"):
                m = re.search(r"beats=([\d.]+):(\d+)", text)
                ok = False
                if m:
                    try:
                        socket.create_connection((m.group(1), int(m.group(2))), timeout=5).close()
                        ok = True
                    except OSError:
                        ok = False
                self.ready_connect = ok
            with self.lock:
                self.messages.extend(text.split("\n"))

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def count(self, line):
        return self.snapshot().count(line)

    def wait(self, enough, timeout):
        """Polls until ENOUGH(messages) or TIMEOUT (tripled on sanitizer builds); returns the
        messages."""
        deadline = time.time() + timeout * amsi.slow(BINARY)
        while True:
            got = self.snapshot()
            if enough(got) or time.time() >= deadline:
                return got
            time.sleep(0.05)

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-sd-")
        self.notify = NotifySocket(self.dir)
        self.addCleanup(self.notify.close)

    def serve(self, env):
        return amsi.Serve(["beats"], data_dir=os.path.join(self.dir, "d"),
                          args=["--stats-interval", "0"],
                          env=dict({"NOTIFY_SOCKET": self.notify.path}, **env), cleanup=self)

    def test_ready_status_watchdog_and_stopping(self):
        # As systemd sets them for WatchdogSec=1s: the watchdog is fed every half second.
        srv = self.serve({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": None})
        port = srv.ports["beats"]
        got = self.notify.wait(lambda m: "READY=1" in m, 10)
        self.assertIn("READY=1", got, srv.log())
        self.assertTrue(self.notify.ready_connect,
                        "the Beats port did not take a connection when READY=1 arrived")
        self.assertIn("STATUS=listening: beats=127.0.0.1:%d" % port, got)
        srv.wait_log(r"service manager watchdog: WATCHDOG=1 every 500 ms")

        # WATCHDOG=1 keeps arriving.
        first = self.notify.wait(lambda m: m.count("WATCHDOG=1") >= 2, 10).count("WATCHDOG=1")
        self.assertGreaterEqual(first, 2, self.notify.snapshot())
        more = self.notify.wait(lambda m: m.count("WATCHDOG=1") >= first + 3, 10)
        self.assertGreaterEqual(more.count("WATCHDOG=1"), first + 3)

        # STATUS= tells the rates: once traffic came, its alert.
        proc = subprocess.run([BINARY, "replay", "--json", "--no-progress",
                               "127.0.0.1:%d" % port, SAMPLE], capture_output=True, text=True,
                              timeout=120 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(srv.wait_printed(1)), 1, srv.log())

        def alerted(msgs):
            return any((m := STATUS_RATES.match(x)) and m.group(1) == "1" for x in msgs)
        got = self.notify.wait(alerted, 20)
        self.assertTrue(alerted(got), [x for x in got if x.startswith("STATUS=")])

        # SIGTERM: STOPPING=1 before the exit, and the exit status 0.
        self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.log())
        got = self.notify.wait(lambda m: "STOPPING=1" in m, 5)
        self.assertIn("STOPPING=1", got)
        self.assertEqual(got.count("READY=1"), 1)
        self.assertLess(got.index("READY=1"), got.index("STOPPING=1"))
        self.assertIn("STATUS=stopping: finishing the windows in flight", got)

    def test_no_watchdog_for_another_process(self):
        # WATCHDOG_PID names the process the watchdog is for: not this one, no WATCHDOG=1.
        srv = self.serve({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())})
        self.notify.wait(lambda m: "READY=1" in m, 10)
        self.assertEqual(srv.stop(), 0, srv.log())
        got = self.notify.wait(lambda m: "STOPPING=1" in m, 5)
        self.assertIn("READY=1", got)
        self.assertIn("STOPPING=1", got)
        self.assertNotIn("WATCHDOG=1", got)
        self.assertFalse(srv.grep("watchdog"), srv.log())

    def test_without_a_notify_socket_nothing_is_sent(self):
        srv = amsi.Serve(["beats"], data_dir=os.path.join(self.dir, "d"),
                         env={"NOTIFY_SOCKET": None, "WATCHDOG_USEC": "200000"}, cleanup=self)
        self.assertEqual(srv.stop(), 0, srv.log())
        self.assertEqual(self.notify.snapshot(), [])
        self.assertFalse(srv.grep("watchdog|NOTIFY_SOCKET"), srv.log())


class UnitFileTest(unittest.TestCase):
    def test_systemd_analyze_verify_passes_without_a_word(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed (apt-get install systemd)")
        d = amsi.tempdir(self, "amsiwatch-unit-")
        with open(UNIT) as f:
            unit = f.read()
        for key in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=",
                    "StateDirectory=amsiwatch", "--data-dir /var/lib/amsiwatch",
                    "--config /etc/amsiwatch/amsiwatch.yml", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                    "SystemCallFilter=@system-service", "LimitNOFILE=65536",
                    "Restart=on-failure"):
            self.assertIn(key, unit)
        # verify checks that the executables exist: the one under test stands in.
        self.assertIn("/usr/bin/amsiwatch ", unit)
        path = os.path.join(d, "amsiwatch.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/bin/amsiwatch ", BINARY + " "))
        proc = subprocess.run([analyze, "verify", path], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(proc.stdout + proc.stderr, "", "systemd-analyze verify warns")

    def test_the_sysusers_file_makes_the_unit_s_user(self):
        sysusers = shutil.which("systemd-sysusers")
        if not sysusers:
            self.skipTest("systemd-sysusers is not installed (apt-get install systemd)")
        root = amsi.tempdir(self, "amsiwatch-root-")
        os.makedirs(os.path.join(root, "etc"))
        conf = os.path.join(root, "usr", "lib", "sysusers.d")
        os.makedirs(conf)
        shutil.copy(os.path.join(ROOT, "dist", "systemd", "amsiwatch.sysusers"),
                    os.path.join(conf, "amsiwatch.conf"))
        proc = subprocess.run([sysusers, "--root", root], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = [ln.split(":") for ln in f.read().splitlines()]
        user = [u for u in users if u[0] == "amsiwatch"]
        self.assertEqual(len(user), 1, users)
        self.assertEqual(user[0][5], "/var/lib/amsiwatch")
        self.assertTrue(user[0][6].endswith("nologin"), user[0])

    def test_the_check_the_unit_runs_before_starting_passes_on_the_sample(self):
        # ExecStartPre's check-config, on the sample configuration the README installs.
        sample = os.path.join(ROOT, "dist", "amsiwatch.yml")
        proc = subprocess.run([BINARY, "check-config", "--config", sample], capture_output=True,
                              text=True, timeout=30 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "configuration OK\n")


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main()
