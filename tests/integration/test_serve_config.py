#!/usr/bin/env python3
"""`amsiwatch serve` configuration: the YAML file, flags over the file, clear errors, and the README's
option reference kept in step with the option table."""
import os
import re
import socket
import subprocess
import unittest

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(case, args):
    """serve with ARGS (and syslog off: never the default ports, other tests and services may
    hold them), waited for until it is ready."""
    return amsi.Serve(listen=None, args=["--syslog-tcp", "off", "--syslog-udp", "off", *args],
                      ready_timeout=15, cleanup=case)


class ServeConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-config-")

    def write(self, text):
        path = os.path.join(self.dir, "amsiwatch.yml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_serve(self, args):
        return subprocess.run([BINARY, "serve"] + args, capture_output=True, text=True, timeout=30)

    def test_an_unknown_key_names_the_key_and_the_line_and_exits_2(self):
        path = self.write("data-dir: /tmp/x\nbeats:\n  max-windw: 5\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn(path + ":3: key 'beats.max-windw': unknown key", proc.stderr)

    def test_a_nul_in_a_key_or_value_is_an_error_not_a_cut(self):
        # "\0" in a quoted YAML string: the value must not be cut short at it without a word.
        path = self.write('data-dir: "%s/x\\0/../y"\n' % self.dir)
        # Listeners on loopback or off, should the value be taken and the server start.
        proc = self.run_serve(["--config", path, "--beats", "127.0.0.1:0", "--syslog-tcp", "off",
                               "--syslog-udp", "off", "--syslog-tls", "off"])
        self.assertEqual(proc.returncode, 2)
        self.assertIn(path + ":1: key 'data-dir': the value holds a NUL character", proc.stderr)
        path = self.write('beats:\n  allow-networks: [10.0.0.0/8, "127.0.0.1\\0"]\n')
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn(":2: key 'beats.allow-networks': the value holds a NUL", proc.stderr)
        path = self.write('"profile\\0x": extended\n')
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn(":1: key 'profile': a key holds a NUL character", proc.stderr)

    def test_a_bad_value_names_the_key_the_line_and_why(self):
        path = self.write("journal:\n  sync-interval: soon\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn(":2: key 'journal.sync-interval'", proc.stderr)
        self.assertIn("not a duration", proc.stderr)
        path = self.write("beats: 127.0.0.1\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("not ADDR:PORT", proc.stderr)
        path = self.write("beats:\n  max-window: 0\n")
        self.assertIn("outside", self.run_serve(["--config", path]).stderr)

    def test_broken_yaml_is_reported_with_its_line(self):
        path = self.write("data-dir: /tmp/x\nprofile: \"elastic\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertRegex(proc.stderr, re.escape(path) + r":\d+: YAML error")

    def test_bad_flags_exit_2(self):
        self.assertEqual(self.run_serve(["--workers", "many"]).returncode, 2)
        self.assertEqual(self.run_serve(["--no-such-flag"]).returncode, 2)
        self.assertEqual(self.run_serve(["--profile", "strict"]).returncode, 2)
        self.assertEqual(self.run_serve(["stray"]).returncode, 2)

    def test_the_file_configures_and_flags_win_over_it(self):
        data = os.path.join(self.dir, "data-from-file")
        path = self.write("data-dir: %s\nbeats:\n  listen: 127.0.0.1:1\n  max-window: 50\n" % data)
        srv = start(self, ["--config", path, "--beats", "127.0.0.1:0", "--api", "off"])
        try:
            self.assertRegex(srv.ready_line, r"^ready beats=127\.0\.0\.1:\d+$")
            self.assertNotEqual(srv.ready_line, "ready beats=127.0.0.1:1")
            self.assertTrue(os.path.isdir(os.path.join(data, "journal")))
        finally:
            self.assertEqual(srv.stop(timeout=30), 0)

    def test_dotted_keys_work_like_nested_ones(self):
        data = os.path.join(self.dir, "d")
        path = self.write("data-dir: %s\nbeats.listen: 127.0.0.1:0\njournal.segment-size: 1MiB\n"
                          % data)
        srv = start(self, ["--config", path])
        self.assertEqual(srv.stop(timeout=30), 0)

    def test_help_lists_every_option(self):
        proc = self.run_serve(["--help"])
        self.assertEqual(proc.returncode, 0)
        for flag in ("--config", "--data-dir", "--beats", "--workers", "--profile", "--webhook",
                     "--log-level", "--quiet", "--journal-sync-interval", "--beats-max-window",
                     "--beats-keepalive"):
            self.assertIn(flag, proc.stdout)

    def test_the_readme_reference_is_the_option_table(self):
        table = self.run_serve(["--help-markdown"]).stdout
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        m = re.search(r"<!-- serve-options:begin[^\n]*-->\n(.*?)<!-- serve-options:end -->", readme,
                      re.S)
        self.assertIsNotNone(m, "README has no serve-options section")
        self.assertEqual(m.group(1), table,
                         "README's option table is stale: regenerate it with "
                         "`amsiwatch serve --help-markdown`")
        targets = self.run_serve(["--help-webhooks-markdown"]).stdout
        m = re.search(r"<!-- webhook-options:begin -->\n(.*?)<!-- webhook-options:end -->", readme,
                      re.S)
        self.assertIsNotNone(m, "README has no webhook-options section")
        self.assertEqual(m.group(1), targets, "README's webhook option table is stale: "
                         "regenerate it with `amsiwatch serve --help-webhooks-markdown`")

    def test_webhook_targets_are_validated_with_their_line(self):
        path = self.write("webhooks:\n  - name: pd\n    url: https://events.example/v2\n"
                          "    format: pagerduty\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("routing-key", proc.stderr)
        path = self.write("webhooks:\n  - url: ftp://x\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn(":2: webhooks: key 'url'", proc.stderr)
        path = self.write("webhooks:\n  - url: https://x\n    formt: slack\n")
        self.assertIn("key 'formt': unknown key", self.run_serve(["--config", path]).stderr)
        self.assertEqual(self.run_serve(["--webhook", "nope"]).returncode, 2)
        # No wait between retries would hammer a failing receiver in a tight loop.
        path = self.write("webhooks:\n  - url: https://x\n    retry: {max-backoff: 0s}\n")
        proc = self.run_serve(["--config", path])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("retry.max-backoff", proc.stderr)
        self.assertIn("shorter than 10 ms", proc.stderr)
        self.assertEqual(self.run_serve(["--webhook", "a=teems:https://x"]).returncode, 2)
        path = self.write("webhooks:\n  - url: https://x\n    auth: {type: bearer, "
                          "secret-env: AMSIWATCH_TEST_UNSET_VARIABLE}\n")
        self.assertIn("AMSIWATCH_TEST_UNSET_VARIABLE is not set",
                      self.run_serve(["--config", path]).stderr)


class CheckConfigTest(unittest.TestCase):
    """`amsiwatch check-config`: serve's loader and checks, nothing started."""

    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-check-")

    def write(self, text):
        path = os.path.join(self.dir, "amsiwatch.yml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, args):
        return subprocess.run([BINARY, "check-config"] + args, capture_output=True, text=True,
                              timeout=30 * amsi.slow(BINARY))

    def assertBad(self, proc, *needles):
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertEqual(proc.stdout, "")
        for needle in needles:
            self.assertIn(needle, proc.stderr)

    def test_a_good_file_is_ok_and_nothing_is_created(self):
        data = os.path.join(self.dir, "never-made")
        path = self.write("data-dir: %s\nprofile: extended\nbeats:\n  listen: 127.0.0.1:5044\n"
                          "  max-window: 50\nlog:\n  format: json\n  level: debug\n" % data)
        proc = self.check(["--config", path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "configuration OK\n")
        self.assertEqual(proc.stderr, "")
        self.assertFalse(os.path.exists(data), "check-config made the data directory")

    def test_bad_values_unknown_keys_and_broken_yaml_name_the_key_and_the_line(self):
        path = self.write("data-dir: /tmp/x\njournal:\n  sync-interval: soon\n")
        self.assertBad(self.check(["--config", path]),
                       path + ":3: key 'journal.sync-interval'", "not a duration")
        path = self.write("data-dir: /tmp/x\nbeats:\n  max-windw: 5\n")
        self.assertBad(self.check(["--config", path]),
                       path + ":3: key 'beats.max-windw': unknown key")
        path = self.write("data-dir: /tmp/x\nprofile: \"elastic\n")
        proc = self.check(["--config", path])
        self.assertBad(proc)
        self.assertRegex(proc.stderr, re.escape(path) + r":\d+: YAML error")
        path = self.write("log:\n  format: xml\n")
        self.assertBad(self.check(["--config", path]),
                       path + ":2: key 'log.format': 'xml' is not one of text|json")
        self.assertBad(self.check(["--config", os.path.join(self.dir, "missing.yml")]),
                       "cannot read")

    def test_flags_are_serve_s_and_win_over_the_file(self):
        path = self.write("workers: 4\n")
        self.assertBad(self.check(["--config", path, "--workers", "many"]), "--workers")
        self.assertBad(self.check(["--no-such-flag"]))
        self.assertEqual(self.check(["--config", path, "--beats", "off"]).returncode, 0)

    def test_what_serve_checks_past_the_loader_is_checked(self):
        # Listener addresses, TLS files, relay hosts and webhook targets, as serve reports them.
        self.assertBad(self.check(["--beats", "beats.example:5044"]),
                       "--beats: 'beats.example:5044' is not an IP address and port")
        missing = os.path.join(self.dir, "server.crt")
        self.assertBad(self.check(["--beats-ssl-enabled", "--beats-ssl-certificate", missing,
                                   "--beats-ssl-key", missing]),
                       "beats.ssl-certificate: cannot read " + missing)
        self.assertBad(self.check(["--relay-beats-hosts", "a:b:c"]),
                       "relay.beats.hosts: 'a:b:c' is not HOST, HOST:PORT or [IPv6]:PORT")
        self.assertBad(self.check(["--relay-syslog-hosts", "[::1"]), "relay.syslog.hosts")
        self.assertBad(self.check(["--relay-beats-hosts", "hop:5044",
                                   "--relay-beats-backoff-init", "2m"]),
                       "relay.beats.backoff.init is longer than relay.beats.backoff.max")
        path = self.write("webhooks:\n  - url: ftp://x\n")
        self.assertBad(self.check(["--config", path]), ":2: webhooks: key 'url'")
        self.assertEqual(self.check(["--relay-beats-hosts", "hop.example,[::1]:5045"]).returncode,
                         0)

    def test_it_binds_no_port(self):
        taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        addr = "127.0.0.1:%d" % taken.getsockname()[1]
        args = ["--beats", addr, "--syslog-tcp", "off", "--syslog-udp", "off",
                "--data-dir", os.path.join(self.dir, "d")]
        proc = self.check(args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "configuration OK\n")
        # The port is taken indeed: serve cannot listen on it.
        proc = subprocess.run([BINARY, "serve"] + args, capture_output=True, text=True,
                              timeout=60 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("cannot listen on " + addr, proc.stderr)

    def test_help(self):
        proc = self.check(["--help"])
        self.assertEqual(proc.returncode, 0)
        self.assertIn("usage: amsiwatch check-config [--config FILE]", proc.stdout)


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
