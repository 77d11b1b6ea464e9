#!/usr/bin/env python3
"""Hostile input on the syslog (TCP and RFC 5425 TLS) and Beats-over-TLS listeners of
`amsiwatch serve`, each case beside good senders that must keep flowing: util-linux `logger` on
syslog TCP, `amsiwatch replay --tls` on syslog TLS and on Beats TLS. What is thrown at the server:

- octet counts near and past 2^63 and 2^64, negative, with leading zeros, with non-digits, in
  auto and in octet framing;
- lines that never end (several MB without LF), NULs, invalid UTF-8;
- a flood of idle connections (5,000 over the three listeners; RLIMIT_NOFILE raised for the
  test and the server);
- TLS handshakes that stall one byte at a time, a ClientHello dribbled then abandoned, plaintext on
  the TLS ports, a broken record header, garbage after a completed handshake.

Each case checks that every message and window of the good senders raised its alert (Beats: was
acknowledged), that the offending connections were closed with their log line (TLS) or had their
frames cut and counted (syslog framing: the connection stays open and the next message is read
intact, as the README promises), that the server's RSS stayed under a bound derived from its
configured limits (see rss_bound; not under ThreadSanitizer, whose shadow memory makes RSS
measure the tool), and that the server stops cleanly with exit status 0.

usage: test_hostile.py path/to/amsiwatch [unittest options]"""
import json
import os
import random
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENT = os.path.join(ROOT, "tests", "fixtures", "events", "winlogbeat7-sysmon13-amsienable.ndjson")
NXLOG = os.path.join(ROOT, "tests", "fixtures", "syslog", "alert-nxlog-json-rfc5424.log")
OPENSSL = shutil.which("openssl")
LOGGER = shutil.which("logger")

# The limits the server runs with in this test; the RSS bound is derived from them.
KIB = 1024
MIB = 1024 * KIB
MAX_MESSAGE = 64 * KIB  # syslog.max-message
BATCH_BYTES = 64 * KIB  # syslog.batch-bytes
CONN_BUDGET = 1 * MIB  # syslog.connection-budget
READ_CHUNK = 64 * KIB  # one read (the server's read buffer)
TLS_RECORD = 16 * KIB + 2 * KIB  # largest TLS record OpenSSL accepts
HANDSHAKE_TIMEOUT = 4  # seconds: beats and syslog-tls ssl-handshake-timeout (times slow())
# A connection that was accepted and sent nothing (or a few bytes) holds its connection state,
# its framer and (TLS) an SSL object with its memory BIOs: a few KiB, never a read buffer (a
# 64 KiB buffer per syslog connection made 5,000 idle ones cost 389 MB instead of 86 MB).
IDLE_CONN = 8 * KIB
IDLE_TLS_CONN = 16 * KIB
# A connection sending holds at most one read, one message in the framer, one batch being
# filled and, over TLS, one read's plaintext and the TLS engine's record buffers.
BUSY_CONN = READ_CHUNK + (MAX_MESSAGE + 1) + (BATCH_BYTES + MAX_MESSAGE) + (READ_CHUNK + 32 * KIB) \
    + 4 * TLS_RECORD
# What the workers, the journal and the allocators may add beside that after the warm-up.
SLACK = 24 * MIB
GOOD_EVENTS = 40  # per good sender and case


def sanitized():
    """True for a sanitizer build: slower (time limits tripled), and under AddressSanitizer
    every allocation carries redzones (the RSS bounds are doubled)."""
    return amsi.sanitizer() != ""


def handshake_timeout():
    """The handshake timeout the server runs with: long enough for a good sender's handshake
    on a busy machine, short enough for the stalled ones to be closed within the test."""
    return HANDSHAKE_TIMEOUT * amsi.slow()


def rss_bound(baseline, idle=0, idle_tls=0, busy=0):
    """The most the server may hold: its RSS after the warm-up, plus what the configured limits
    allow the hostile connections (IDLE_CONN, IDLE_TLS_CONN, BUSY_CONN each), plus SLACK."""
    extra = idle * IDLE_CONN + idle_tls * IDLE_TLS_CONN + busy * BUSY_CONN + SLACK
    return baseline + extra * (2 if sanitized() else 1)


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, timeout=60, **kw)


def make_pki(d):
    def p(n):
        return os.path.join(d, n)
    run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
         p("ca.key")])
    run([OPENSSL, "req", "-x509", "-new", "-key", p("ca.key"), "-out", p("ca.pem"), "-subj",
         "/CN=amsiwatch hostile CA", "-days", "30", "-addext",
         "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
         p("server.key")])
    run([OPENSSL, "req", "-new", "-key", p("server.key"), "-out", p("server.csr"), "-subj",
         "/CN=amsiwatch.test"])
    with open(p("server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run([OPENSSL, "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey",
         p("ca.key"), "-CAcreateserial", "-out", p("server.pem"), "-days", "30", "-extfile",
         p("server.ext")])


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- Good senders ------------------------------------------------------------------------------

def good_events(path, tag, n=GOOD_EVENTS):
    """N AmsiEnable events (Winlogbeat 7, Sysmon 13), host.name TAG-i, one per line."""
    with open(EVENT) as f:
        ev = json.loads(f.readline())
    with open(path, "w") as f:
        for i in range(n):
            ev.setdefault("host", {})["name"] = "%s-%d" % (tag, i)
            f.write(json.dumps(ev) + "\n")
    return path


def nxlog_line():
    """The NXLog to_json() AmsiEnable fixture: an RFC 5424 message that raises an alert."""
    with open(NXLOG, "rb") as f:
        return f.read().rstrip(b"\n")


def nxlog_message():
    """Its MSG part (what logger sends, with a header of its own)."""
    line = nxlog_line()
    return line[line.index(b" - - ") + 5:]


class Sender(threading.Thread):
    """A good sender running beside a hostile case: its exit status, output and report."""

    def __init__(self, argv, timeout):
        super().__init__(daemon=True)
        self.argv, self.timeout = argv, timeout
        self.result = None
        self.start()

    def run(self):
        try:
            self.result = subprocess.run(self.argv, capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as e:
            self.result = e

    def finish(self, case):
        self.join(self.timeout + 10)
        r = self.result
        case.assertIsInstance(r, subprocess.CompletedProcess, "%s: %s" % (self.argv[0], r))
        case.assertEqual(r.returncode, 0, "%s failed: %s %s" % (self.argv, r.stdout, r.stderr))
        return r


# ---- Raw TLS clients ---------------------------------------------------------------------------

def client_hello(server_name="127.0.0.1"):
    """The bytes of a real ClientHello (Python's ssl, TLS 1.2 and 1.3 offered)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tls_over_socket(sock, ca):
    """A completed handshake driven by hand over SOCK, so that raw bytes can follow it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    while True:
        try:
            obj.do_handshake()
            sock.sendall(out.read())
            # TLS 1.3: the server's session tickets follow its reading of our Finished, so once
            # they are in, the server holds an established session too.
            sock.settimeout(10 * amsi.slow())
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed after the handshake")
                    inc.write(data)
                    try:
                        obj.read(1)
                    except ssl.SSLWantReadError:
                        break
            except socket.timeout:
                pass  # no ticket (TLS 1.2): the server completed its handshake before ours
            return obj, inc, out
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            inc.write(data)


def closed_by_peer(sock, timeout):
    """True when the server closes SOCK (EOF or reset) within TIMEOUT seconds."""
    sock.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class HostileCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = amsi.tempdir(cls, "amsiwatch-hostile-")
        cls.pki = os.path.join(cls.tmp, "pki")
        os.mkdir(cls.pki)
        make_pki(cls.pki)
        cls.ca = os.path.join(cls.pki, "ca.pem")

    def setUp(self):
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass

    def serve(self, *extra):
        """serve with syslog TCP, syslog TLS and Beats TLS on 127.0.0.1 port 0, alerts in the
        journal of its own data directory."""
        cert, key = os.path.join(self.pki, "server.pem"), os.path.join(self.pki, "server.key")
        # AddressSanitizer keeps freed memory in a quarantine (256 MB by default): capped here so
        # that RSS measures what the server holds, not what it freed.
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16").lstrip(":")
        srv = amsi.Serve(
            ["syslog-tcp", "syslog-tls", "beats"],
            data_dir=amsi.tempdir(prefix="data-", parent=self.tmp),
            args=["--quiet", "--stats-interval", "0",
                  "--syslog-tls-ssl-certificate", cert, "--syslog-tls-ssl-key", key,
                  "--syslog-tls-ssl-handshake-timeout", "%ds" % handshake_timeout(),
                  "--beats-ssl-enabled", "--beats-ssl-certificate", cert, "--beats-ssl-key", key,
                  "--beats-ssl-handshake-timeout", "%ds" % handshake_timeout(),
                  "--syslog-max-message", str(MAX_MESSAGE), "--syslog-batch-bytes",
                  str(BATCH_BYTES), "--syslog-connection-budget", str(CONN_BUDGET),
                  "--workers", "2", *extra],
            env={"ASAN_OPTIONS": asan}, cleanup=self)
        srv.expected = 0  # alerts the good senders (and good messages) raised so far
        return srv

    def connect(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.socks.append(s)
        return s

    # Good senders: each sends GOOD_EVENTS AmsiEnable events.

    def logger(self, srv):
        self.assertIsNotNone(LOGGER, "logger (util-linux, Debian bsdutils) is not installed")
        path = os.path.join(self.tmp, "good-logger.txt")
        msg = nxlog_message()
        with open(path, "wb") as f:
            f.write((msg + b"\n") * GOOD_EVENTS)
        return Sender([LOGGER, "-n", "127.0.0.1", "-P", str(srv.ports["syslog-tcp"]), "--tcp",
                       "--octet-count", "--rfc5424", "-S", "65000", "-t", "nxWinEvt", "-f", path],
                      60 * amsi.slow())

    def replay(self, srv, listener, tag):
        path = good_events(os.path.join(self.tmp, "good-%s.ndjson" % tag), tag)
        proto = ["--protocol", "syslog-tcp"] if listener == "syslog-tls" else []
        # Few events per window, so that the sender's traffic spans the hostile case.
        return Sender([BINARY, "replay", "--json", "--no-progress", "--no-reconnect", "--tls",
                       "--tls-ca", self.ca, "--window", "4", "--pipelining", "1",
                       "--ack-timeout", "60s"] + proto
                      + ["127.0.0.1:%d" % srv.ports[listener], path], 90 * amsi.slow())

    def good_senders(self, srv, which=("syslog-tcp", "syslog-tls", "beats")):
        out = {}
        if "syslog-tcp" in which:
            out["syslog-tcp"] = self.logger(srv)
        if "syslog-tls" in which:
            out["syslog-tls"] = self.replay(srv, "syslog-tls", "good-syslog-tls")
        if "beats" in which:
            out["beats"] = self.replay(srv, "beats", "good-beats")
        return out

    def check_good(self, srv, senders, extra_alerts=0):
        """Every good sender finished, Beats windows were all acknowledged, and every message
        raised its alert."""
        for name, s in senders.items():
            r = s.finish(self)
            if name == "beats":
                rep = json.loads(r.stdout.decode().strip().splitlines()[-1])
                self.assertEqual(rep["events_acked"], GOOD_EVENTS, rep)
                self.assertEqual(rep["reconnects"], 0, rep)
        srv.expected += GOOD_EVENTS * len(senders) + extra_alerts
        want = srv.expected
        alerts = srv.wait_journaled(want)
        time.sleep(0.3)  # an extra alert would show by now
        alerts = srv.journaled()
        self.assertEqual(len(alerts), want, srv.log(200))
        return alerts

    def check_rss(self, srv, baseline, **held):
        rss = srv.memory()["rss"]
        bound = rss_bound(baseline, **held)
        if amsi.sanitizer() == "tsan":
            # ThreadSanitizer keeps shadow memory for every byte the program has touched, freed
            # or not: its RSS measures the tool. The bounds are checked on the other builds.
            return rss
        self.assertLessEqual(rss, bound, "RSS %.1f MB over the bound %.1f MB (baseline %.1f MB, %s)"
                             % (rss / MIB, bound / MIB, baseline / MIB, held))
        return rss

    def warm(self, srv):
        """One round of every good sender, so that the baseline RSS includes the workers', the
        journal's and the TLS engine's working sets; returns that baseline."""
        self.check_good(srv, self.good_senders(srv))
        time.sleep(0.2)
        return srv.memory()["rss"]

    def stop_clean(self, srv):
        self.assertEqual(srv.stop(), 0, srv.log(200))
        self.assertEqual(srv.grep(r"AddressSanitizer|runtime error|ThreadSanitizer"), [])

    # ---- Syslog framing ----

    def octet_counts(self, framing):
        srv = self.serve("--syslog-framing", framing)
        base = self.warm(srv)
        good = nxlog_line()
        prefixes = [
            b"9223372036854775807",  # 2^63 - 1
            b"9223372036854775808",  # 2^63
            b"9223372036854775809",
            b"18446744073709551615",  # 2^64 - 1
            b"18446744073709551616",  # 2^64
            b"36893488147419103232",  # 2^65
            b"9" * 40,
            b"4294967296",  # 2^32: the largest count that fits the digit limit, over max-frame
            b"9999999999",
            b"-1",
            b"-9223372036854775808",
            b"0",
            b"00000000000000000000012",
            b"012",
            b"12a",
            b"1e9",
            b"0x10",
            b"+12",
            b" 12",
        ]
        senders = self.good_senders(srv)
        conns = []
        for p in prefixes:
            s = self.connect(srv.ports["syslog-tcp"])
            # The bogus frame, ended by LF, then one good octet-counted message on the same
            # connection: the framer must find its feet again.
            s.sendall(p + b" <13>1 - hostile - - - - bogus frame " + p + b"\n")
            s.sendall(b"%d %s" % (len(good), good))
            conns.append(s)
        for s in conns:
            s.shutdown(socket.SHUT_WR)
        self.check_good(srv, senders, extra_alerts=len(prefixes))
        self.check_rss(srv, base, idle=len(prefixes))
        for s in conns:
            self.assertTrue(closed_by_peer(s, 10 * amsi.slow()),
                            "the server closes after the client")
        self.stop_clean(srv)
        c = srv.syslog_counters("tcp")
        self.assertEqual(c["messages"], 2 * len(prefixes) + 2 * GOOD_EVENTS, c)
        # Auto framing reads a count of more than 10 digits as the start of a plain line; a
        # count of 10 digits over max-frame, and in octet framing anything that is not a count,
        # is a framing error.
        self.assertEqual(c["framing_errors"], 2 if framing == "auto" else len(prefixes), c)
        return srv

    def tls_counters(self, srv, name):
        pat = re.compile(r"%s: TLS: (\d+) handshakes, (\d+) failed \((\d+) plaintext clients\)"
                         % name)
        found = [m for m in map(pat.search, srv.snapshot()) if m]
        self.assertTrue(found, "no TLS counters line for %s:\n%s" % (name, srv.log(200)))
        return dict(zip(("handshakes", "failed", "plaintext"), map(int, found[-1].groups())))

    def test_octet_counts_near_2_63_auto_framing(self):
        self.octet_counts("auto")

    def test_octet_counts_near_2_63_octet_framing(self):
        self.octet_counts("octet")

    def test_lines_that_never_end_nuls_and_invalid_utf8(self):
        srv = self.serve()
        base = self.warm(srv)
        good = nxlog_line()
        huge = 6 * MIB
        streams = {
            # Several MB without a terminator, then LF and a good message.
            "no-lf": (b"<13>1 - h - - - - " + b"A" * 4096) * (huge // 4096) + b"\n",
            # Several MB of invalid UTF-8 (lone continuation bytes, overlongs, surrogates, 0xFF)
            # in one line.
            "utf8": b"<13>1 - h - - - - " + (b"\x80\xbf\xc0\xaf\xed\xa0\x80\xff\xfe" * (huge // 9))
            + b"\n",
            # NUL-terminated frames (the NUL ends a message) with NULs and CRs everywhere.
            "nul": b"".join(b"<13>1 - h - - - - nul %d\r\0\0" % i for i in range(20000)),
            # An octet count within max-frame whose body never ends... until the client closes.
            "octet-open": b"%d <13>1 - h - - - - " % (16 * MAX_MESSAGE - 1) + b"B" * (2 * MIB),
        }
        senders = self.good_senders(srv)
        errors = []

        def blast(name, data):
            try:
                s = self.connect(srv.ports["syslog-tcp"])
                for i in range(0, len(data), 256 * KIB):
                    s.sendall(data[i:i + 256 * KIB])
                if name != "octet-open":
                    s.sendall(b"%d %s" % (len(good), good))
                s.shutdown(socket.SHUT_WR)
                if not closed_by_peer(s, 30 * amsi.slow()):
                    errors.append("%s: the server did not close after the client" % name)
            except OSError as e:
                errors.append("%s: %s" % (name, e))

        blasters = [threading.Thread(target=blast, args=kv, daemon=True) for kv in streams.items()]
        peak = 0
        for t in blasters:
            t.start()
        while any(t.is_alive() for t in blasters):
            peak = max(peak, srv.memory()["rss"])
            time.sleep(0.05)
        self.assertEqual(errors, [])
        # Each stream but the open octet frame ends with a good message: 3 more alerts.
        self.check_good(srv, senders, extra_alerts=3)
        peak = max(peak, self.check_rss(srv, base, busy=len(streams)))
        self.assertLessEqual(peak, rss_bound(base, busy=len(streams)),
                             "peak RSS while the streams were read")
        self.stop_clean(srv)
        c = srv.syslog_counters("tcp")
        self.assertGreaterEqual(c["truncated"], 3, c)  # no-lf, utf8, octet-open
        self.assertGreaterEqual(c["invalid_utf8"], 1, c)
        self.assertGreaterEqual(c["messages"], 20000 + 2 * GOOD_EVENTS, c)

    # ---- Many idle connections ----

    def test_five_thousand_idle_connections(self):
        per = {"syslog-tcp": 3000, "syslog-tls": 1000, "beats": 1000}
        total = sum(per.values())
        have = raise_nofile(total + 2048)
        if have < total + 256:
            self.skipTest("RLIMIT_NOFILE cannot be raised to %d (hard limit %d)"
                          % (total + 256, have))
        # The server inherits the raised limit; its handshake timeout is longer than the time it
        # takes to open the connections, so the TLS ones are still idle while it is measured.
        srv = self.serve("--syslog-tls-ssl-handshake-timeout", "10m",
                         "--beats-ssl-handshake-timeout", "10m", "--beats-idle-timeout", "10m")
        base = self.warm(srv)
        for name, n in per.items():
            for _ in range(n):
                self.connect(srv.ports[name])
        senders = self.good_senders(srv)
        self.check_good(srv, senders)
        rss = self.check_rss(srv, base, idle=per["syslog-tcp"],
                             idle_tls=per["syslog-tls"] + per["beats"])
        print("\n%d idle connections: RSS %.1f MB (baseline %.1f MB, %.1f KiB each)"
              % (total, rss / MIB, base / MIB, (rss - base) / total / KIB), file=sys.stderr)
        for s in self.socks:
            s.close()
        self.socks = []
        self.stop_clean(srv)
        self.assertGreaterEqual(srv.syslog_counters("tcp")["connections"], per["syslog-tcp"])
        self.assertGreaterEqual(srv.syslog_counters("tls")["connections"], per["syslog-tls"])

    def test_connections_idle_after_a_message_hold_no_buffers(self):
        """Connections that each sent one message and then stay idle: a 60 KB message across two
        reads on syslog TCP, a short one over syslog TLS. One at a time, so that what the
        server holds afterwards is what it keeps per idle connection, not what it needed
        while the messages were in flight."""
        n_tcp, n_tls = 1000, 400
        raise_nofile(n_tcp + n_tls + 2048)
        srv = self.serve()
        base = self.warm(srv)
        big = b"<13>1 - h - - - - " + b"x" * 60000 + b"\n"
        for _ in range(n_tcp):
            s = self.connect(srv.ports["syslog-tcp"])
            s.sendall(big[:30000])
            time.sleep(0.002)
            s.sendall(big[30000:])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        for _ in range(n_tls):
            s = ctx.wrap_socket(self.connect(srv.ports["syslog-tls"]),
                                server_hostname="127.0.0.1")
            self.socks.append(s)
            s.sendall(b"<13>1 - h - - - - a short message over TLS\n")
        senders = self.good_senders(srv)
        self.check_good(srv, senders)
        rss = self.check_rss(srv, base, idle=n_tcp, idle_tls=n_tls, busy=1)
        print("\n%d syslog TCP and %d syslog TLS connections idle after a message: RSS %.1f MB "
              "(baseline %.1f MB)" % (n_tcp, n_tls, rss / MIB, base / MIB), file=sys.stderr)
        for s in self.socks:
            s.close()
        self.socks = []
        self.stop_clean(srv)
        c = srv.syslog_counters("tcp")
        self.assertEqual(c["messages"], n_tcp + 2 * GOOD_EVENTS, c)
        self.assertEqual(srv.syslog_counters("tls")["messages"], n_tls + 2 * GOOD_EVENTS)

    # ---- TLS handshakes ----

    def test_tls_handshakes_that_stall_one_byte_at_a_time(self):
        srv = self.serve()
        base = self.warm(srv)
        hello = client_hello()
        n_per = 10
        results = []
        mu = threading.Lock()

        def dribble(port, abandon_after):
            """Sends the ClientHello one byte every 100 ms (ABANDON_AFTER: closes after that
            many bytes); reports whether and when the server closed the connection."""
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            t0 = time.time()
            closed = False
            try:
                for i, b in enumerate(hello):
                    if abandon_after is not None and i == abandon_after:
                        s.close()
                        with mu:
                            results.append(("abandoned", port, time.time() - t0))
                        return
                    s.sendall(bytes([b]))
                    time.sleep(0.1)
                    if time.time() - t0 > 3 * handshake_timeout():
                        break
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if not closed:
                closed = closed_by_peer(s, 3 * handshake_timeout())
            s.close()
            with mu:
                results.append(("closed" if closed else "open", port, time.time() - t0))

        threads = []
        for name in ("syslog-tls", "beats"):
            port = srv.ports[name]
            for i in range(n_per):
                # Half stall for ever, half send 20 bytes of the hello and hang up.
                args = (port, None if i % 2 == 0 else 20)
                threads.append(threading.Thread(target=dribble, args=args, daemon=True))
        # A complete ClientHello that then never answers the server's flight.
        silent = []
        for name in ("syslog-tls", "beats"):
            s = self.connect(srv.ports[name])
            s.sendall(hello)
            silent.append(s)
        for t in threads:
            t.start()
        senders = self.good_senders(srv)
        self.check_good(srv, senders)
        self.check_rss(srv, base, idle_tls=len(threads) + len(silent))
        for t in threads:
            t.join(60 * amsi.slow())
        for s in silent:
            self.assertTrue(closed_by_peer(s, 3 * handshake_timeout()))
        stalled = [r for r in results if r[0] != "abandoned"]
        self.assertEqual(len(results), len(threads))
        self.assertEqual([r for r in stalled if r[0] != "closed"], [],
                         "every stalled handshake is closed by the server")
        for r in stalled:
            self.assertGreaterEqual(r[2], handshake_timeout() * 0.9, r)
        # One line per stalled connection (the dribblers and the silent ones), per listener.
        srv.wait_lines(r"^.*syslog-tls: 127\.0\.0\.1:\d+: closing: the TLS handshake did not "
                       r"complete within syslog-tls\.ssl-handshake-timeout", count=n_per // 2 + 1)
        srv.wait_lines(r"beats: 127\.0\.0\.1:\d+: closing: the TLS handshake did not complete "
                       r"within beats\.ssl-handshake-timeout", count=n_per // 2 + 1)
        self.assertTrue(srv.alive())
        self.stop_clean(srv)
        for name in ("syslog-tls", "beats"):
            k = self.tls_counters(srv, name)
            self.assertEqual(k["handshakes"], 2, k)  # the warm-up and the good sender
            self.assertGreaterEqual(k["failed"], n_per // 2 + 1, k)

    def test_plaintext_and_garbage_on_the_tls_ports(self):
        srv = self.serve()
        base = self.warm(srv)
        senders = self.good_senders(srv)
        rng = random.Random(12)
        cases = 0
        for name in ("syslog-tls", "beats"):
            port = srv.ports[name]
            # Plaintext: a syslog line, a Lumberjack window header, HTTP.
            for data in (b"<13>1 - h - - - - hello\n", b"2W\x00\x00\x00\x01",
                         b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
                s = self.connect(port)
                s.sendall(data)
                self.assertTrue(closed_by_peer(s, 10 * amsi.slow()), (name, data))
                cases += 1
            # A record header that says handshake, then random bytes.
            s = self.connect(port)
            s.sendall(b"\x16\x03\x01\x00\x80" + bytes(rng.randrange(256) for _ in range(128)))
            self.assertTrue(closed_by_peer(s, 10 * amsi.slow()), name)
            cases += 1
            # A handshake record whose length is far over the limit (OpenSSL refuses it).
            s = self.connect(port)
            s.sendall(b"\x16\x03\x01\xff\xff" + b"\x01" * 4096)
            self.assertTrue(closed_by_peer(s, 10 * amsi.slow()), name)
            cases += 1
            # A completed handshake, then garbage: random bytes, then a record over the limit.
            for junk in (bytes(rng.randrange(256) for _ in range(4096)),
                         b"\x17\x03\x03\xff\xff" + b"\x00" * 70000):
                s = self.connect(port)
                tls_over_socket(s, self.ca)
                try:
                    s.sendall(junk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.assertTrue(closed_by_peer(s, 10 * amsi.slow()), name)
        self.check_good(srv, senders)
        self.check_rss(srv, base, busy=1)
        for name in ("syslog-tls", "beats"):
            srv.wait_lines(r"%s: 127\.0\.0\.1:\d+: closing: the client sent plaintext to a TLS "
                           r"port" % name, count=3)
            srv.wait_lines(r"%s: 127\.0\.0\.1:\d+: closing: TLS handshake failed" % name, count=2)
            srv.wait_lines(r"%s: 127\.0\.0\.1:\d+: closing: TLS error" % name, count=2)
        self.stop_clean(srv)
        for name in ("syslog-tls", "beats"):
            k = self.tls_counters(srv, name)
            self.assertEqual(k["plaintext"], 3, k)
            self.assertEqual(k["failed"], 5, k)
            self.assertEqual(k["handshakes"], 4, k)  # warm-up, good sender, two garbage


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    if not OPENSSL:
        print("openssl not found: 0 passed, 0 failed, 1 skipped")
        sys.exit(0)
    unittest.main(verbosity=2)
