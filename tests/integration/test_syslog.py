#!/usr/bin/env python3
"""The syslog receiver of `amsiwatch serve`, driven over loopback by real senders: util-linux
`logger` (TCP and UDP, RFC 5424 and RFC 3164, octet counting, structured data), syslog-ng's
`loggen` (the fixture files, and bulk generated traffic mixed with AmsiEnable messages), and raw
sockets (LF, CRLF, NUL and octet-counted frames in one stream, oversize messages, a TLS
ClientHello on the plaintext port, a connection cut inside a frame, a graceful stop).

Every test starts its own server (syslog TCP and UDP on 127.0.0.1 port 0, Beats off, a temporary
data directory) and checks the journal (`amsiwatch journal export`): exactly the alerts the
fixtures' verdicts (tests/fixtures/syslog/verdicts.tsv) call for, no more, no fewer, each with
the right source (type syslog, transport, peer, payload kind, raw message).

usage: test_syslog.py path/to/amsiwatch [unittest options]"""
import collections
import fcntl
import os
import random
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
import unittest

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "syslog")
LOGGER = shutil.which("logger")
LOGGEN = shutil.which("loggen")
HOSTNAME = socket.gethostname()

# The shortest time a test waits after the expected alerts are in before it stops the server
# and counts again (an extra alert would show by then).
SETTLE = 0.5


# ---- Fixtures ----------------------------------------------------------------------------------

Fixture = collections.namedtuple("Fixture", "name payload elastic extended line")


def load_fixtures():
    out = []
    with open(os.path.join(FIXTURES, "verdicts.tsv")) as f:
        for row in f:
            if row.startswith("#") or not row.strip():
                continue
            name, payload, elastic, extended = row.rstrip("\n").split("\t")
            with open(os.path.join(FIXTURES, name), "rb") as g:
                lines = g.read().split(b"\n")
            # One message per file, ended by LF.
            assert len(lines) == 2 and lines[1] == b"", name
            out.append(Fixture(name, payload, elastic, extended, lines[0]))
    return out


FIX = load_fixtures()
BY_NAME = {f.name: f for f in FIX}
BY_LINE = {f.line: f for f in FIX}


def alerting(profile="elastic"):
    return [f for f in FIX if getattr(f, profile) != "none"]


def scan_sd(s):
    """Splits RFC 5424 structured data at the start of S: returns ([(id, ['k="v"', ...])], rest).
    S starts with '-' (NILVALUE) or '['."""
    if s.startswith("- ") or s == "-":
        return [], s[2:]
    elements, i = [], 0
    while i < len(s) and s[i] == "[":
        j, quoted = i + 1, False
        while True:
            c = s[j]
            if quoted and c == "\\":
                j += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == "]" and not quoted:
                break
            j += 1
        body = s[i + 1:j]
        sd_id, _, params = body.partition(" ")
        elements.append((sd_id, re.findall(r'[^ =]+="(?:[^"\\]|\\.)*"', params)))
        i = j + 1
    return elements, s[i + 1:] if s[i:i + 1] == " " else s[i:]


def split_fixture(line):
    """The parts a sender like logger puts in a header of its own, and the MSG it carries:
    {'tag', 'sd', 'msg'} (text)."""
    text = line.decode("utf-8")
    m = re.match(r"<\d+>1 \S+ \S+ (\S+) \S+ \S+ (.*)$", text, re.S)
    if m:
        sd, msg = scan_sd(m.group(2))
        return {"tag": m.group(1) if m.group(1) != "-" else None, "sd": sd, "msg": msg}
    m = re.match(r"<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ (.*)$", text, re.S)
    if m:
        rest = m.group(1)
        t = re.match(r"([A-Za-z0-9_./-]+)(\[\d+\])?: (.*)$", rest, re.S)
        if t:
            return {"tag": t.group(1), "sd": [], "msg": t.group(3)}
        return {"tag": None, "sd": [], "msg": rest}
    return {"tag": None, "sd": [], "msg": text}


# ---- Senders -----------------------------------------------------------------------------------

def connect(port, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def peer_of(sock):
    host, port = sock.getsockname()[:2]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def wait_acked(sock, timeout=30):
    """Waits until the peer's kernel has acknowledged every byte written on SOCK (the send queue
    is empty): the data is then the receiver's, whether or not it has read it."""
    deadline = time.time() + timeout
    buf = bytearray(4)
    while time.time() < deadline:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        if struct.unpack("i", buf)[0] == 0:
            return
        time.sleep(0.002)
    raise AssertionError("the receiver did not take the bytes sent within %ds" % timeout)


def octet(msg):
    return b"%d %s" % (len(msg), msg)


def run_tool(cmd, timeout=120):
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True, errors="replace")
    if proc.returncode != 0:
        raise AssertionError("%s exited %d: %s%s" % (cmd, proc.returncode, proc.stdout,
                                                     proc.stderr))
    return proc


def loggen_count(output):
    """Messages loggen sent, from its closing 'average rate = ..., count=N, ...' line."""
    m = re.findall(r"average rate = [^\n]*?count=(\d+)", output)
    if not m:
        raise AssertionError("no 'average rate ... count=' line in loggen's output:\n" + output)
    return int(m[-1])


# ---- Tests -------------------------------------------------------------------------------------

class SyslogCase(unittest.TestCase):
    def setUp(self):
        self.dir = amsi.tempdir(self, "amsiwatch-syslog-")

    def serve(self, *args, host="127.0.0.1"):
        """serve with syslog TCP and UDP on HOST port 0, Beats off, alerts only in the journal of
        a data directory of its own."""
        srv = amsi.Serve(["syslog-tcp", "syslog-udp"], host=host,
                         data_dir=amsi.tempdir(prefix="data-", parent=self.dir),
                         args=["--quiet", *args], cleanup=self)
        bound = {name: h for name, (h, _) in srv.listeners.items()}
        assert bound == {"syslog-tcp": host, "syslog-udp": host}, srv.ready_line
        return srv

    def finish(self, srv, expected, timeout=60):
        """Waits for EXPECTED alerts, lets the server settle, stops it (exit 0) and returns every
        alert of the journal, which must be exactly EXPECTED many."""
        got = srv.wait_journaled(expected, timeout)
        if len(got) == expected:
            time.sleep(SETTLE)
        self.assertEqual(srv.stop(), 0, srv.log())
        got = srv.journaled()
        self.assertEqual(len(got), expected,
                         "alerts in the journal: %d, expected %d\nserver log:\n%s"
                         % (len(got), expected, srv.log()))
        return got

    def assert_syslog_source(self, alert, transport, peer=None, server_port=None):
        src = alert["source"]
        self.assertEqual(src["type"], "syslog")
        self.assertEqual(src["transport"], transport)
        if peer is not None:
            self.assertEqual(src["peer"], peer)
        else:
            m = re.fullmatch(r"127\.0\.0\.1:(\d+)", src["peer"])
            self.assertIsNotNone(m, src["peer"])
            self.assertNotEqual(int(m.group(1)), server_port)
            self.assertGreater(int(m.group(1)), 0)


def _logger_test(transport, rfc, octet_count):
    def test(self):
        self.logger_roundtrip(transport, rfc, octet_count)
    test.__doc__ = "logger --%s --%s%s: every fixture's MSG under logger's own header" % (
        transport, rfc, " --octet-count" if octet_count else "")
    return test


class LoggerTest(SyslogCase):
    """util-linux logger adds its own header, so it carries the MSG part of each fixture (and its
    structured data as --sd-id/--sd-param under RFC 5424)."""

    def logger_cmd(self, srv, transport, rfc, octet_count, fx):
        parts = split_fixture(fx.line)
        port = srv.ports["syslog-tcp"] if transport == "tcp" else srv.ports["syslog-udp"]
        cmd = [LOGGER, "-n", "127.0.0.1", "-P", str(port), "--" + transport, "--" + rfc,
               "-S", "65000", "-t", parts["tag"] or "winfwd"]
        if octet_count:
            cmd.append("--octet-count")
        if rfc == "rfc5424":
            for sd_id, params in parts["sd"]:
                cmd += ["--sd-id", sd_id]
                for p in params:
                    cmd += ["--sd-param", p]
        return cmd + ["--", parts["msg"]], parts

    def logger_roundtrip(self, transport, rfc, octet_count):
        self.assertIsNotNone(LOGGER, "logger (util-linux, Debian bsdutils) is not installed")
        srv = self.serve()
        expected = collections.Counter()
        sent = {}
        for fx in FIX:
            parts = split_fixture(fx.line)
            if parts["sd"] and rfc == "rfc3164" and fx.payload == "nxlog-sd":
                continue  # RFC 3164 has no structured data to carry it
            cmd, parts = self.logger_cmd(srv, transport, rfc, octet_count, fx)
            run_tool(cmd, timeout=30)
            sent[fx.name] = parts
            if fx.elastic != "none":
                expected[fx.payload] += 1
        alerts = self.finish(srv, sum(expected.values()))
        self.assertEqual(collections.Counter(a["source"]["payload"] for a in alerts), expected)
        wanted = {f.name: sent[f.name] for f in alerting() if f.name in sent}
        for a in alerts:
            self.assertEqual((a["profile"], a["clause"]), ("elastic", "seed"))
            self.assert_syslog_source(a, transport, server_port=srv.ports["syslog-tcp"])
            src = a["source"]
            self.assertIn(src["hostname"], (HOSTNAME, HOSTNAME.split(".")[0]))
            # Which fixture: the one whose MSG ends the raw message logger sent, after its header.
            names = [n for n, p in wanted.items() if src["raw"].endswith(" " + p["msg"])]
            self.assertEqual(len(names), 1, src["raw"][:300])
            self.assertEqual(src["appname"], wanted[names[0]]["tag"] or "winfwd")
            self.assertEqual(src["payload"], BY_NAME[names[0]].payload)
            self.assertEqual((src["facility"], src["severity"]), (1, 5))  # logger's user.notice
            del wanted[names[0]]
        self.assertEqual(wanted, {})
        if transport == "tcp":
            c = srv.syslog_counters("tcp")
            self.assertEqual(c["messages"], len(sent))
            self.assertEqual(c["connections"], len(sent))
            self.assertEqual((c["framing_errors"], c["truncated"], c["dropped"]), (0, 0, 0))
        else:
            c = srv.syslog_counters("udp")
            self.assertEqual((c["messages"], c["dropped"]), (len(sent), 0))

    test_logger_tcp_rfc5424 = _logger_test("tcp", "rfc5424", False)
    test_logger_tcp_rfc3164 = _logger_test("tcp", "rfc3164", False)
    test_logger_tcp_octet_count_rfc5424 = _logger_test("tcp", "rfc5424", True)
    test_logger_tcp_octet_count_rfc3164 = _logger_test("tcp", "rfc3164", True)
    test_logger_udp_rfc5424 = _logger_test("udp", "rfc5424", False)
    test_logger_udp_rfc3164 = _logger_test("udp", "rfc3164", False)

    def test_logger_file_sends_many_messages_on_one_connection(self):
        """logger -f: one line, one message, all on one TCP connection, so every alert names the
        same peer; tabs in Snare and WinCollect lines survive."""
        self.assertIsNotNone(LOGGER, "logger (util-linux, Debian bsdutils) is not installed")
        srv = self.serve()
        rounds, lines, expected = 7, [], 0
        for _ in range(rounds):
            for fx in FIX:
                parts = split_fixture(fx.line)
                if parts["sd"]:
                    continue
                lines.append(parts["msg"])
                expected += fx.elastic != "none"
        path = os.path.join(self.dir, "messages.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        run_tool([LOGGER, "-n", "127.0.0.1", "-P", str(srv.ports["syslog-tcp"]), "--tcp",
                  "--octet-count", "--rfc5424", "-S", "65000", "-t", "nxWinEvt", "-f", path],
                 timeout=60)
        alerts = self.finish(srv, expected)
        peers = {a["source"]["peer"] for a in alerts}
        self.assertEqual(len(peers), 1, peers)
        for a in alerts:
            self.assert_syslog_source(a, "tcp", server_port=srv.ports["syslog-tcp"])
            self.assertEqual(a["source"]["appname"], "nxWinEvt")
        kinds = collections.Counter(a["source"]["payload"] for a in alerts)
        self.assertEqual(kinds["snare"], 2 * rounds)
        self.assertEqual(kinds["wincollect"], rounds)
        self.assertEqual(srv.syslog_counters("tcp")["messages"], len(lines))


class LoggenTest(SyslogCase):
    """syslog-ng's loggen: the fixture files as they are (--read-file --dont-parse), and its own
    generated messages as bulk background traffic."""

    def setUp(self):
        super().setUp()
        self.assertIsNotNone(LOGGEN, "loggen (Debian syslog-ng-core) is not installed: "
                                     "run scripts/install-deps.sh")
        self.fixture_file = os.path.join(self.dir, "fixtures.log")
        with open(self.fixture_file, "wb") as f:
            for fx in FIX:
                f.write(fx.line + b"\n")

    def loggen(self, srv, transport, args, timeout=120):
        port = srv.ports["syslog-tcp"] if transport == "tcp" else srv.ports["syslog-udp"]
        mode = ["-S"] if transport == "tcp" else ["-D"]
        proc = run_tool([LOGGEN, "-i"] + mode + args + ["127.0.0.1", str(port)], timeout=timeout)
        return loggen_count(proc.stdout + proc.stderr)

    def expected_in_first(self, n, lines, profile="elastic"):
        """Alerts loggen --loop-reading raises sending the first N lines of LINES round and
        round."""
        def alerts(line):
            fx = BY_LINE.get(line)
            return fx is not None and getattr(fx, profile) != "none"
        return sum(alerts(lines[i % len(lines)]) for i in range(n))

    def test_loggen_tcp_fixture_file(self):
        srv = self.serve()
        n = len(FIX) * 25
        sent = self.loggen(srv, "tcp", ["--read-file", self.fixture_file, "--dont-parse",
                                        "--loop-reading", "-n", str(n), "-I", "60",
                                        "--rate", "5000"])
        self.assertEqual(sent, n)
        alerts = self.finish(srv, len(alerting()) * 25)
        got = collections.Counter(a["source"]["raw"].encode() for a in alerts)
        self.assertEqual(got, collections.Counter({f.line: 25 for f in alerting()}))
        self.assertEqual(len({a["source"]["peer"] for a in alerts}), 1)
        for a in alerts:
            self.assert_syslog_source(a, "tcp", server_port=srv.ports["syslog-tcp"])
        c = srv.syslog_counters("tcp")
        self.assertEqual((c["messages"], c["framing_errors"]), (n, 0))

    def test_loggen_udp_fixture_file_at_a_low_rate(self):
        srv = self.serve()
        n = len(FIX) * 10
        sent = self.loggen(srv, "udp", ["--read-file", self.fixture_file, "--dont-parse",
                                        "--loop-reading", "-n", str(n), "-I", "60",
                                        "--rate", "200"])
        self.assertEqual(sent, n)
        alerts = self.finish(srv, len(alerting()) * 10)
        got = collections.Counter(a["source"]["raw"].encode() for a in alerts)
        self.assertEqual(got, collections.Counter({f.line: 10 for f in alerting()}))
        for a in alerts:
            self.assert_syslog_source(a, "udp", server_port=srv.ports["syslog-udp"])
        c = srv.syslog_counters("udp")
        self.assertEqual((c["messages"], c["dropped"]), (n, 0))

    def mixed_file(self, rounds):
        """The AmsiEnable fixture lines scattered among loggen-like background lines and the
        fixtures that must not alert: (path, lines)."""
        rng = random.Random(6)
        lines = []
        for r in range(rounds):
            block = [f.line for f in FIX]
            for i in range(40):
                block.append(b"<38>Jan 14 08:%02d:%02d bastion-%02d sshd[%d]: seq: %010d, "
                             b"background message PADDPADDPADDPADDPADDPADD"
                             % (r % 60, i % 60, i, 1000 + i, r * 100 + i))
            rng.shuffle(block)
            lines += block
        path = os.path.join(self.dir, "mixed.log")
        with open(path, "wb") as f:
            f.write(b"".join(ln + b"\n" for ln in lines))
        return path, lines

    def test_loggen_tcp_bulk_background_with_amsienable_loses_nothing(self):
        """Two loggen runs at once: generated RFC 5424 messages, octet-counted, on 3 connections
        as fast as loggen goes, and a file of AmsiEnable events among background lines; every
        message arrives and exactly the AmsiEnable ones alert."""
        srv = self.serve()
        path, lines = self.mixed_file(20)
        n_file = len(lines)
        expected = self.expected_in_first(n_file, lines)
        result = {}

        def background():
            result["bg"] = self.loggen(srv, "tcp", ["-P", "--active-connections", "3",
                                                    "--rate", "1000000", "-n", "40000",
                                                    "-I", "4"])
        t = threading.Thread(target=background)
        t.start()
        sent = self.loggen(srv, "tcp", ["--read-file", path, "--dont-parse", "-n", str(n_file),
                                        "-I", "60", "--rate", "2000"])
        t.join(180)
        self.assertIn("bg", result, "the background loggen failed")
        self.assertEqual(sent, n_file)
        self.assertGreater(result["bg"], 1000)
        alerts = self.finish(srv, expected)
        self.assertEqual(len({a["source"]["peer"] for a in alerts}), 1)
        c = srv.syslog_counters("tcp")
        self.assertEqual(c["messages"], result["bg"] + n_file,
                         "TCP lost messages: loggen sent %d + %d" % (result["bg"], n_file))
        self.assertEqual((c["dropped"], c["framing_errors"], c["truncated"]), (0, 0, 0))

    def test_loggen_udp_background_with_amsienable_at_a_modest_rate(self):
        srv = self.serve()
        path, lines = self.mixed_file(3)
        expected = self.expected_in_first(len(lines), lines)
        result = {}

        def background():
            result["bg"] = self.loggen(srv, "udp", ["--rate", "2000", "-n", "6000", "-I", "10"])
        t = threading.Thread(target=background)
        t.start()
        sent = self.loggen(srv, "udp", ["--read-file", path, "--dont-parse", "-n",
                                        str(len(lines)), "-I", "60", "--rate", "300"])
        t.join(60)
        self.assertEqual(sent, len(lines))
        alerts = self.finish(srv, expected)
        for a in alerts:
            self.assert_syslog_source(a, "udp", server_port=srv.ports["syslog-udp"])
        c = srv.syslog_counters("udp")
        self.assertEqual((c["messages"], c["dropped"]), (result["bg"] + len(lines), 0))


class RawSocketTest(SyslogCase):
    """Frames written by hand on plain sockets."""

    def test_lf_crlf_nul_and_octet_counting_mixed_in_one_stream(self):
        for profile in ("elastic", "extended"):
            with self.subTest(profile=profile):
                self.mixed_stream(profile)

    def mixed_stream(self, profile):
        srv = self.serve("--profile", profile)
        rng = random.Random(profile)
        terminators = [b"\n", b"\r\n", b"\0", None]
        stream, expected = b"", collections.Counter()
        for rnd in range(6):
            order = list(FIX)
            rng.shuffle(order)
            for i, fx in enumerate(order):
                t = terminators[(i + rnd) % 4]
                if t is None and fx.line.startswith(b"<"):
                    stream += octet(fx.line)
                    if i % 3 == 0:
                        stream += b"\n"  # a stray LF after an octet-counted frame
                else:
                    stream += fx.line + (t or b"\n")
                if getattr(fx, profile) != "none":
                    expected[fx.line] += 1
        # Windows XML with line breaks inside, octet-counted: one record, one alert.
        xml = BY_NAME["alert-windows-xml-rfc5424.log"].line.replace(b"><", b">\n<")
        stream += octet(xml)
        expected[xml] += 1
        stream += octet(xml.replace(b">\n<", b">\r\n<"))
        expected[xml.replace(b">\n<", b">\r\n<")] += 1
        s = connect(srv.ports["syslog-tcp"])
        peer = peer_of(s)
        pos = 0
        while pos < len(stream):  # pieces cut anywhere
            n = rng.choice([1, 2, 3, 7, 64, 500, 1500, 4096])
            s.sendall(stream[pos:pos + n])
            pos += n
            if rng.random() < 0.05:
                time.sleep(0.002)
        alerts = self.finish(srv, sum(expected.values()))
        s.close()
        self.assertEqual(collections.Counter(a["source"]["raw"].encode() for a in alerts),
                         expected)
        for a in alerts:
            self.assert_syslog_source(a, "tcp", peer=peer)
            self.assertEqual(a["profile"], profile)
            fx = BY_LINE.get(a["source"]["raw"].encode())
            if fx:
                self.assertEqual(a["clause"], getattr(fx, profile))
                self.assertEqual(a["source"]["payload"], fx.payload)
        c = srv.syslog_counters("tcp")
        self.assertEqual((c["framing_errors"], c["truncated"], c["dropped"]), (0, 0, 0))

    def test_octet_framing_carries_messages_without_a_header(self):
        """--syslog-framing octet: every frame octet-counted, the Snare line without a syslog
        header too (auto framing needs '<' after the count)."""
        srv = self.serve("--syslog-framing", "octet")
        s = connect(srv.ports["syslog-tcp"])
        s.sendall(b"".join(octet(f.line) for f in FIX))
        alerts = self.finish(srv, len(alerting()))
        s.close()
        self.assertEqual(sorted(a["source"]["raw"].encode() for a in alerts),
                         sorted(f.line for f in alerting()))

    def test_many_connections_each_alert_names_its_peer(self):
        srv = self.serve()
        line = BY_NAME["alert-snare-rfc3164.log"].line
        quiet = BY_NAME["none-linux-sshd-rfc3164.log"].line
        socks = [connect(srv.ports["syslog-tcp"]) for _ in range(16)]
        per = 40

        def send(s):
            for _ in range(per):
                s.sendall(quiet + b"\n" + octet(line) + quiet + b"\r\n")
        threads = [threading.Thread(target=send, args=(s,)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        alerts = self.finish(srv, len(socks) * per)
        self.assertEqual(collections.Counter(a["source"]["peer"] for a in alerts),
                         collections.Counter({peer_of(s): per for s in socks}))
        for s in socks:
            s.close()
        self.assertEqual(srv.syslog_counters("tcp")["messages"], len(socks) * per * 3)

    def oversize(self, mode):
        """A 10 KB Snare record (its rendered message padded) over a 4 KiB limit, LF-framed and
        octet-counted on TCP, and as a UDP datagram; a normal record after each."""
        srv = self.serve("--syslog-max-message", "4KiB", "--syslog-oversize", mode)
        snare = BY_NAME["alert-snare-rfc3164.log"].line
        head, _, counter = snare.rpartition(b"\t")
        big = head + b" Padding: " + b"P" * 10000 + b"\t" + counter
        nx = BY_NAME["alert-nxlog-json-rfc3164.log"].line
        s = connect(srv.ports["syslog-tcp"])
        s.sendall(big + b"\n" + nx + b"\n")
        s.sendall(octet(big) + octet(nx))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.sendto(big, ("127.0.0.1", srv.ports["syslog-udp"]))
        u.sendto(nx, ("127.0.0.1", srv.ports["syslog-udp"]))
        udp_peer = peer_of(u)
        kept = 3 if mode == "truncate" else 0
        self.assertEqual(len(srv.wait_journaled(3 + kept)), 3 + kept)
        # The connection is still open and still read.
        s.settimeout(0.3)
        try:
            self.assertNotEqual(s.recv(1), b"", "the server closed the connection")
        except socket.timeout:
            pass
        s.sendall(nx + b"\n")
        alerts = self.finish(srv, 4 + kept)
        s.close()
        u.close()
        full = [a for a in alerts if a["source"]["raw"].encode() == nx]
        self.assertEqual(len(full), 4)
        for a in alerts:
            if a["source"]["transport"] == "udp":
                self.assertEqual(a["source"]["peer"], udp_peer)
            else:
                self.assertEqual(a["source"]["transport"], "tcp")
        for a in full:
            self.assertNotIn("truncated", a["source"])
        cut = [a for a in alerts if a["source"]["raw"].encode() != nx]
        self.assertEqual(len(cut), kept)
        for a in cut:
            self.assertIs(a["source"]["truncated"], True)
            self.assertEqual(len(a["source"]["raw"]), 4096)
            self.assertTrue(big.startswith(a["source"]["raw"].encode()))
            self.assertEqual(a["source"]["payload"], "snare")
        tcp, udp = srv.syslog_counters("tcp"), srv.syslog_counters("udp")
        if mode == "truncate":
            self.assertEqual((tcp["truncated"], tcp["dropped"]), (2, 0))
            self.assertEqual((udp["truncated"], udp["dropped"]), (1, 0))
        else:
            self.assertEqual((tcp["truncated"], tcp["dropped"]), (0, 2))
            self.assertEqual((udp["truncated"], udp["dropped"]), (0, 1))
        self.assertEqual(tcp["connections"], 1)
        self.assertNotIn("closing", srv.log())

    def test_oversize_truncate_keeps_the_connection(self):
        self.oversize("truncate")

    def test_oversize_drop_keeps_the_connection(self):
        self.oversize("drop")

    def test_tls_client_hello_on_the_plaintext_port_is_refused_and_named(self):
        srv = self.serve()
        nx = BY_NAME["alert-nxlog-json-rfc3164.log"].line
        before = connect(srv.ports["syslog-tcp"])
        before.sendall(nx[:100])  # a frame in progress on another connection
        ctx = ssl.create_default_context()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname="syslog.example")
        with self.assertRaises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello = outgoing.read()
        self.assertEqual(hello[:2], b"\x16\x03")
        t = connect(srv.ports["syslog-tcp"])
        tls_peer = peer_of(t)
        t.sendall(hello)
        t.settimeout(10)
        try:
            self.assertEqual(t.recv(4096), b"", "the server answered a TLS ClientHello")
        except ConnectionResetError:
            pass
        t.close()
        deadline = time.time() + 10
        while time.time() < deadline and "TLS client on a plaintext port" not in srv.log():
            time.sleep(0.05)
        named = [ln for ln in srv.snapshot() if "TLS client on a plaintext port" in ln]
        self.assertEqual(len(named), 1, srv.log())
        self.assertIn(tls_peer, named[0])
        before.sendall(nx[100:] + b"\n")
        after = connect(srv.ports["syslog-tcp"])
        after.sendall(octet(nx))
        alerts = self.finish(srv, 2)
        self.assertEqual(sorted(a["source"]["peer"] for a in alerts),
                         sorted([peer_of(before), peer_of(after)]))
        before.close()
        after.close()
        c = srv.syslog_counters("tcp")
        self.assertEqual((c["tls_on_plaintext"], c["connections"], c["messages"]), (1, 3, 2))

    def test_connection_closed_inside_an_octet_counted_frame(self):
        """The messages before the cut alert; the cut frame is delivered flagged truncated and
        counted as a framing error (protocol/syslog.h); other connections go on."""
        srv = self.serve()
        nx = BY_NAME["alert-nxlog-json-rfc3164.log"].line
        snare = BY_NAME["alert-snare-rfc3164.log"].line
        other = connect(srv.ports["syslog-tcp"])
        other.sendall(octet(nx))
        s = connect(srv.ports["syslog-tcp"])
        # A whole message, then a Snare frame cut after its rendered message (it still alerts,
        # flagged), declared 50 bytes longer than what arrives.
        s.sendall(octet(nx) + b"%d " % (len(snare) + 50) + snare)
        s.close()
        # Another connection cut inside a JSON record (no alert can come of half a record).
        s2 = connect(srv.ports["syslog-tcp"])
        s2.sendall(octet(nx) + b"%d " % len(nx) + nx[:len(nx) // 2])
        s2.close()
        self.assertEqual(len(srv.wait_journaled(4)), 4)
        other.sendall(octet(nx))
        alerts = self.finish(srv, 5)
        other.close()
        cut = [a for a in alerts if a["source"].get("truncated")]
        self.assertEqual([a["source"]["raw"].encode() for a in cut], [snare])
        self.assertEqual(collections.Counter(a["source"]["raw"].encode() for a in alerts),
                         collections.Counter({nx: 4, snare: 1}))
        c = srv.syslog_counters("tcp")
        self.assertEqual(c["messages"], 6)
        self.assertEqual(c["framing_errors"], 2,
                         "the two frames cut by the end of their streams are not counted as "
                         "framing errors in the listener's counters")


    def test_bom_and_invalid_utf8_over_ipv6_loopback(self):
        """A UTF-8 BOM before an NXLog JSON MSG is removed (the record still alerts); a byte
        that is not UTF-8 is kept (as U+FFFD in the document), flagged, counted, never dropped;
        the peer of an IPv6 client is written [::1]:PORT."""
        try:
            srv = self.serve(host="::1")
        except AssertionError as e:
            if "cannot listen" in str(e) or "not an IP" in str(e):
                self.skipTest("no IPv6 loopback here")
            raise
        nx5 = BY_NAME["alert-nxlog-json-rfc5424.log"].line
        bom = nx5.replace(b" - - {", b" - - \xef\xbb\xbf{")
        self.assertNotEqual(bom, nx5)
        bad = BY_NAME["alert-snare-rfc3164.log"].line.replace(b"CORP\\j.doe", b"CORP\\j.d\xffe")
        self.assertNotEqual(bad, BY_NAME["alert-snare-rfc3164.log"].line)
        s = connect(srv.ports["syslog-tcp"], "::1")
        s.sendall(bom + b"\n" + octet(bad))
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.bind(("::1", 0))
        u.sendto(bad, ("::1", srv.ports["syslog-udp"]))
        tcp_peer, udp_peer = peer_of(s), peer_of(u)
        alerts = self.finish(srv, 3)
        s.close()
        u.close()
        by = collections.defaultdict(list)
        for a in alerts:
            by[a["source"]["payload"]].append(a)
        self.assertEqual(len(by["nxlog-json"]), 1)
        self.assertEqual(by["nxlog-json"][0]["source"]["peer"], tcp_peer)
        self.assertNotIn("invalid_utf8", by["nxlog-json"][0]["source"])
        self.assertEqual(sorted(a["source"]["transport"] for a in by["snare"]), ["tcp", "udp"])
        for a in by["snare"]:
            self.assertIs(a["source"]["invalid_utf8"], True)
            self.assertIn("CORP\\j.d\ufffde", a["source"]["raw"])
            self.assertEqual(a["source"]["peer"],
                             tcp_peer if a["source"]["transport"] == "tcp" else udp_peer)
        self.assertEqual(srv.syslog_counters("tcp")["invalid_utf8"], 1)
        self.assertEqual(srv.syslog_counters("udp")["invalid_utf8"], 1)


class GracefulStopTest(SyslogCase):
    """SIGTERM: stop accepting, journal everything received, exit 0. Syslog has no ACK, so a
    sender counts as delivered whatever the receiver's kernel has acknowledged."""

    # Whether unread bytes are left in the socket when the signal comes depends on timing, so
    # each scenario runs a few rounds, each with a new server; a loss in any round fails.
    ROUNDS = 4

    def sigterm_rounds(self, scenario):
        for rnd in range(1, self.ROUNDS + 1):
            srv, sent, alerting = scenario()
            rc = srv.stop()
            got = len(srv.journaled())
            self.assertEqual(rc, 0, "round %d: serve exited %d on SIGTERM\n%s"
                             % (rnd, rc, srv.log()))
            read = srv.syslog_counters("tcp")["messages"]
            self.assertEqual(read, sent, "round %d: SIGTERM left %d of %d messages unread"
                             % (rnd, sent - read, sent))
            self.assertEqual(got, alerting, "round %d: %d alerts of %d" % (rnd, got, alerting))
            srv.kill()

    def test_sigterm_after_the_sender_closed_its_connection(self):
        nx = BY_NAME["alert-nxlog-json-rfc3164.log"].line
        sshd = BY_NAME["none-linux-sshd-rfc3164.log"].line
        n = 3000

        def scenario():
            srv = self.serve()
            s = connect(srv.ports["syslog-tcp"])
            s.sendall((nx + b"\n" + sshd + b"\n") * n)
            wait_acked(s)
            s.close()  # the stream is complete: the server's kernel holds all of it
            return srv, 2 * n, n
        self.sigterm_rounds(scenario)

    def test_sigterm_with_the_sender_still_connected(self):
        """What the server's kernel acknowledged before the signal is read and journaled before
        the connection is closed. The sender writes until the server's receive buffer is full
        (its writes keep failing with EAGAIN: with one worker and small batches the server reads
        slower than the sender writes), takes what is still unacknowledged from its send queue,
        and the signal comes right then: every message wholly inside the acknowledged bytes
        must be read."""
        snare = BY_NAME["alert-snare-rfc3164.log"].line
        sshd = BY_NAME["none-linux-sshd-rfc3164.log"].line
        pair = octet(snare) + sshd + b"\n"
        data = pair * 20000
        for rnd in range(1, self.ROUNDS + 1):
            srv = self.serve("--syslog-connection-budget", "64KiB", "--syslog-batch-bytes",
                             "4KiB", "--workers", "1")
            s = connect(srv.ports["syslog-tcp"])
            s.setblocking(False)
            pos, deadline = 0, time.time() + 60
            while pos < len(data) and time.time() < deadline:
                try:
                    pos += s.send(data[pos:pos + 65536])
                except BlockingIOError:
                    _, writable, _ = select.select([], [s], [], 0.05)
                    if not writable:
                        break  # the window stays closed: the server's buffer is full
            buf = bytearray(4)
            fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, buf)
            acked = pos - struct.unpack("i", buf)[0]
            rc = srv.stop()
            s.close()
            whole = acked // len(pair)
            must = 2 * whole + (acked % len(pair) >= len(octet(snare)))
            self.assertEqual(rc, 0, "round %d: serve exited %d on SIGTERM\n%s"
                             % (rnd, rc, srv.log()))
            read = srv.syslog_counters("tcp")["messages"]
            self.assertGreaterEqual(read, must, "round %d: SIGTERM left %d of the %d messages "
                                    "the server's kernel had acknowledged unread"
                                    % (rnd, must - read, must))
            self.assertEqual(len(srv.journaled()), (read + 1) // 2)
            srv.kill()

    def test_sigterm_during_udp_traffic(self):
        """Exit 0, and every datagram the server took (counted, not dropped) is journaled."""
        srv = self.serve()
        nx = BY_NAME["alert-nxlog-json-rfc3164.log"].line
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stop = threading.Event()

        def blast():
            while not stop.is_set():
                for _ in range(20):
                    u.sendto(nx, ("127.0.0.1", srv.ports["syslog-udp"]))
                time.sleep(0.001)
        t = threading.Thread(target=blast)
        t.start()
        try:
            time.sleep(1.5)
            rc = srv.stop()
        finally:
            stop.set()
            t.join(10)
            u.close()
        self.assertEqual(rc, 0, "serve exited %d on SIGTERM during UDP traffic\n%s"
                         % (rc, srv.log()))
        c = srv.syslog_counters("udp")
        self.assertEqual(len(srv.journaled()), c["messages"] - c["dropped"])

    def test_sigterm_after_everything_was_read(self):
        srv = self.serve()
        nx = BY_NAME["alert-nxlog-json-rfc3164.log"].line
        s = connect(srv.ports["syslog-tcp"])
        s.sendall((nx + b"\n") * 50)
        self.assertEqual(len(srv.wait_journaled(50)), 50)
        self.assertEqual(srv.stop(), 0)
        s.close()
        self.assertEqual(len(srv.journaled()), 50)
        self.assertEqual(srv.syslog_counters("tcp")["messages"], 50)


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main(verbosity=2)
