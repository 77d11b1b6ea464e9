#!/usr/bin/env python3
"""TLS and access control of `amsiwatch serve`: the Beats listener and the syslog TLS listener
(RFC 5425) driven over loopback by real TLS clients (Python's ssl module speaking Lumberjack v2,
`openssl s_client` for handshake cases and as a syslog sender), with certificates the test makes
with the `openssl` command: a CA, a server certificate naming 127.0.0.1 and localhost, client
certificates, an expired one, one signed by another CA, a server certificate naming another host,
keys as PKCS#8 (plain and encrypted) and PKCS#1.

Each error case must produce its log line and close only its own connection: after it, a good
client still gets its window acknowledged on the same server.

usage: test_tls.py path/to/amsiwatch [unittest options]"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

import amsi

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENT = os.path.join(ROOT, "tests", "fixtures", "events", "winlogbeat7-sysmon13-amsienable.ndjson")
SYSLOG_FIXTURE = os.path.join(ROOT, "tests", "fixtures", "syslog", "alert-nxlog-json-rfc5424.log")
OPENSSL = shutil.which("openssl")
CLIENT_SUBJECT = "CN=winlogbeat-01,O=Example"


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, timeout=60, **kw)


class Pki:
    """Certificates made with the openssl command in a temporary directory."""

    def __init__(self, d):
        self.d = d

    def path(self, name):
        return os.path.join(self.d, name)

    def key(self, name, kind="ec"):
        out = self.path(name + ".key")
        if kind == "ec":
            run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", out])
        else:
            run([OPENSSL, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", out])
        return out

    def ca(self, name, cn):
        key = self.key(name)
        run([OPENSSL, "req", "-x509", "-new", "-key", key, "-out", self.path(name + ".pem"),
             "-subj", "/CN=" + cn, "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return self.path(name + ".pem")

    def cert(self, name, subj, ca, san=None, days="30", kind="ec", server=True):
        key = self.key(name, kind)
        csr = self.path(name + ".csr")
        run([OPENSSL, "req", "-new", "-key", key, "-out", csr, "-subj", subj])
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("extendedKeyUsage=%s\n" % ("serverAuth" if server else "clientAuth"))
            if san:
                f.write("subjectAltName=%s\n" % san)
        run([OPENSSL, "x509", "-req", "-in", csr, "-CA", self.path(ca + ".pem"), "-CAkey",
             self.path(ca + ".key"), "-CAcreateserial", "-out", self.path(name + ".pem"),
             "-days", days, "-extfile", ext])
        return self.path(name + ".pem"), key

    def fingerprint(self, name):
        out = run([OPENSSL, "x509", "-in", self.path(name + ".pem"), "-noout", "-fingerprint",
                   "-sha256"]).stdout.decode()
        return out.strip().split("=", 1)[1]


def make_pki(d):
    p = Pki(d)
    p.ca("ca", "amsiwatch test CA")
    p.ca("other-ca", "another CA")
    san = "DNS:localhost,IP:127.0.0.1,IP:::1"
    p.cert("server", "/CN=amsiwatch.test", "ca", san)
    p.cert("server2", "/CN=amsiwatch-renewed.test", "ca", san)
    p.cert("wrong-host", "/CN=elsewhere.test", "ca", "DNS:elsewhere.test")
    p.cert("client", "/O=Example/CN=winlogbeat-01", "ca", "DNS:ws01.example", server=False)
    p.cert("client2", "/O=Example/CN=winlogbeat-02", "ca", None, server=False)
    p.cert("expired", "/CN=expired-beat", "ca", None, days="-1", server=False)
    p.cert("stranger", "/CN=stranger", "other-ca", None, server=False)
    # The server key in the other formats: encrypted PKCS#8 with a passphrase, PKCS#1 RSA.
    with open(p.path("pass.txt"), "w") as f:
        f.write("correct horse\n")
    run([OPENSSL, "pkcs8", "-topk8", "-in", p.path("server.key"), "-out",
         p.path("server-enc.key"), "-v2", "aes-256-cbc", "-passout", "file:" + p.path("pass.txt")])
    p.cert("rsa", "/CN=amsiwatch-rsa.test", "ca", san, kind="rsa")
    run([OPENSSL, "pkey", "-in", p.path("rsa.key"), "-traditional", "-out", p.path("rsa1.key")])
    with open(p.path("rsa1.key")) as f:
        assert "BEGIN RSA PRIVATE KEY" in f.read()
    return p


def amsi_event(tag):
    with open(EVENT) as f:
        ev = json.loads(f.readline())
    ev.setdefault("host", {})["name"] = tag
    return json.dumps(ev).encode()


def window_v2(events, first_seq=1):
    out = b"2W" + struct.pack(">I", len(events))
    for i, ev in enumerate(events):
        out += b"2J" + struct.pack(">II", first_seq + i, len(ev)) + ev
    return out


def read_exact(sock, n, timeout=15):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def send_window(sock, tag, first_seq=1):
    sock.sendall(window_v2([amsi_event(tag)], first_seq))
    ack = read_exact(sock, 6)
    # Keep-alive ACKs (seq 0) may come first.
    while ack[:2] == b"2A" and struct.unpack(">I", ack[2:])[0] == 0:
        ack = read_exact(sock, 6)
    return ack


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = amsi.tempdir(cls, "amsiwatch-pki-")
        cls.pki = make_pki(cls.dir)

    # ---- helpers ----

    def p(self, name):
        return self.pki.path(name)

    def tls_args(self, auth="required", cert="server", key=None, extra=()):
        return ["--beats-ssl-enabled", "--beats-ssl-certificate", self.p(cert + ".pem"),
                "--beats-ssl-key", key or self.p(cert + ".key"),
                "--beats-ssl-certificate-authorities", self.p("ca.pem"),
                "--beats-ssl-client-authentication", auth] + list(extra)

    def start(self, args, beats=True, syslog_tls=False):
        """serve with Beats (BEATS) and syslog TLS (SYSLOG_TLS) on 127.0.0.1 port 0, syslog TCP
        and UDP off, debug logging, a data directory of its own; ARGS: more options."""
        listen = (["beats"] if beats else []) + (["syslog-tls"] if syslog_tls else [])
        return amsi.Serve(listen, data_dir=amsi.tempdir(self, "amsiwatch-tls-"),
                          args=["--log-level", "debug", *args], cleanup=self)

    def client_ctx(self, cert="client", ca="ca", hostname=True):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.p(ca + ".pem"))
        ctx.check_hostname = hostname
        if cert:
            ctx.load_cert_chain(self.p(cert + ".pem"), self.p(cert + ".key"))
        return ctx

    def tls_connect(self, port, cert="client", ca="ca", server_name="127.0.0.1"):
        raw = socket.create_connection(("127.0.0.1", port), timeout=15)
        return self.client_ctx(cert, ca).wrap_socket(raw, server_hostname=server_name)

    def send_acked(self, sock, tag, first_seq=1):
        """Sends a one-event window and checks the ACK names its sequence number."""
        ack = send_window(sock, tag, first_seq)
        self.assertEqual(ack, b"2A" + struct.pack(">I", first_seq),
                         "window %r: expected ACK %d, got %r" % (tag, first_seq, ack))

    def assert_good_client_works(self, server, tag):
        """Another connection on the same server still gets its window acknowledged."""
        with self.tls_connect(server.ports["beats"]) as s:
            self.assertEqual(send_window(s, tag), b"2A" + struct.pack(">I", 1))

    def s_client(self, port, *args, data=b"", timeout=15):
        return subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                               "-verify_return_error"] + list(args), input=data,
                              capture_output=True, timeout=timeout * amsi.slow())

    # ---- Beats over TLS ----

    def test_mutual_tls_window_is_acked_and_the_alert_names_the_tls_peer(self):
        srv = self.start(self.tls_args("required"))
        with self.tls_connect(srv.ports["beats"]) as s:
            self.assertEqual(send_window(s, "tls-ws-01"), b"2A" + struct.pack(">I", 1))
            local = "%s:%d" % s.getsockname()[:2]
            version, cipher = s.version(), s.cipher()[0]
        alerts = srv.journaled()
        self.assertEqual([a["fields"]["host.name"] for a in alerts], ["tls-ws-01"])
        src = alerts[0]["source"]
        self.assertEqual(src["type"], "beats")
        self.assertEqual(src["peer"], local)
        t = src["tls"]
        self.assertEqual(t["protocol"], version)
        self.assertIn(t["cipher"].replace("-", "_").upper()[-6:], cipher.replace("-", "_"))
        self.assertEqual(t["client"]["subject"], CLIENT_SUBJECT)
        self.assertEqual(t["client"]["issuer"], "CN=amsiwatch test CA")
        self.assertEqual(t["client"]["san"], ["DNS:ws01.example"])
        self.assertEqual(t["client"]["fingerprint_sha256"], self.pki.fingerprint("client"))

    def test_required_refuses_no_certificate_and_another_cas_certificate(self):
        srv = self.start(self.tls_args("required"))
        r = self.s_client(srv.ports["beats"], "-CAfile", self.p("ca.pem"),
                          data=b"2W\x00\x00\x00\x01")
        srv.wait_lines(r"beats: 127\.0\.0\.1:\d+: closing: TLS handshake failed: the client sent "
                       r"no certificate, and ssl-client-authentication is required")
        r = self.s_client(srv.ports["beats"], "-CAfile", self.p("ca.pem"), "-cert",
                          self.p("stranger.pem"), "-key", self.p("stranger.key"),
                          data=b"2W\x00\x00\x00\x01")
        srv.wait_lines(r"closing: TLS handshake failed: the client's certificate is signed by an "
                       r"unknown CA \(not one of ssl-certificate-authorities\)")
        self.assert_good_client_works(srv, "after-refusals")
        self.assertEqual(len(srv.journaled()), 1)

    def test_expired_client_certificate_is_named(self):
        srv = self.start(self.tls_args("required"))
        self.s_client(srv.ports["beats"], "-CAfile", self.p("ca.pem"), "-cert",
                      self.p("expired.pem"), "-key", self.p("expired.key"), data=b"x")
        srv.wait_lines(r"closing: TLS handshake failed: the client's certificate has expired")
        self.assert_good_client_works(srv, "after-expired")

    def test_client_that_does_not_trust_our_ca_is_explained(self):
        srv = self.start(self.tls_args("none"))
        r = self.s_client(srv.ports["beats"], "-CAfile", self.p("other-ca.pem"))
        self.assertNotEqual(r.returncode, 0)
        srv.wait_lines(r"closing: TLS handshake failed: the client does not trust the CA that "
                       r"signed our certificate \(it sent 'unknown CA'\)")
        self.assert_good_client_works(srv, "after-unknown-ca")

    def test_certificate_whose_sans_do_not_name_the_host_is_explained(self):
        srv = self.start(self.tls_args("none", cert="wrong-host"))
        raw = socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=15)
        with self.assertRaises(ssl.SSLCertVerificationError) as e:
            self.client_ctx(None).wrap_socket(raw, server_hostname="logstash.example")
        self.assertIn("Hostname mismatch", str(e.exception))
        srv.wait_lines(r"closing: TLS handshake failed: the client rejected our certificate "
                       r"\(it sent '[a-z ]+'\): check that the certificate's SANs name the host "
                       r"the Beat dials")

    def test_plaintext_client_on_the_tls_port(self):
        srv = self.start(self.tls_args("none"))
        with socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=15) as s:
            s.sendall(window_v2([amsi_event("plain")]))
            s.settimeout(10)
            self.assertEqual(s.recv(64), b"", "the server closes the connection")
        srv.wait_lines(r"closing: the client sent plaintext to a TLS port \(first byte 0x32, "
                       r"\"2W")
        with self.tls_connect(srv.ports["beats"], cert=None) as s:
            self.send_acked(s, "after-plaintext")
        self.assertEqual([a["fields"]["host.name"] for a in srv.journaled()], ["after-plaintext"])

    def test_tls_client_on_the_plaintext_port(self):
        srv = self.start([])
        r = self.s_client(srv.ports["beats"], "-CAfile", self.p("ca.pem"))
        self.assertNotEqual(r.returncode, 0)
        srv.wait_lines(r"closing: TLS client on a plaintext port")

    def test_optional_and_none_client_authentication(self):
        srv = self.start(self.tls_args("optional"))
        with self.tls_connect(srv.ports["beats"], cert=None) as s:
            self.send_acked(s, "optional-anonymous")
        with self.tls_connect(srv.ports["beats"]) as s:
            self.send_acked(s, "optional-with-cert")
        # A certificate that is sent must verify, even when optional.
        self.s_client(srv.ports["beats"], "-CAfile", self.p("ca.pem"), "-cert",
                      self.p("stranger.pem"), "-key", self.p("stranger.key"), data=b"x")
        srv.wait_lines(r"signed by an unknown CA")
        by_tag = {a["fields"]["host.name"]: a["source"]["tls"] for a in srv.journaled()}
        self.assertNotIn("client", by_tag["optional-anonymous"])
        self.assertEqual(by_tag["optional-with-cert"]["client"]["subject"], CLIENT_SUBJECT)
        srv2 = self.start(self.tls_args("none"))
        with self.tls_connect(srv2.ports["beats"]) as s:
            self.send_acked(s, "none-auth")
        self.assertNotIn("client", srv2.journaled()[0]["source"]["tls"],
                         "no certificate is asked for")

    def test_handshake_timeout(self):
        srv = self.start(self.tls_args("none", extra=["--beats-ssl-handshake-timeout", "300ms"]))
        with socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=15) as s:
            s.settimeout(10 * amsi.slow())
            self.assertEqual(s.recv(64), b"")
        srv.wait_lines(r"closing: the TLS handshake did not complete within "
                       r"beats.ssl-handshake-timeout")

    # ---- Access control ----

    def test_allow_networks_refuses_at_accept_logged_once_per_minute(self):
        srv = self.start(["--beats-allow-networks", "10.0.0.0/8,2001:db8::/32"])
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=15) as s:
                s.settimeout(10)
                self.assertEqual(s.recv(16), b"")
        hits = srv.wait_lines(r"beats: 127\.0\.0\.1:\d+: refused: 127\.0\.0\.1 is not in "
                              r"beats.allow-networks")
        time.sleep(0.3)
        self.assertEqual(len([ln for ln in srv.snapshot() if "is not in beats.allow-networks" in ln]), 1,
                         "one line per client and minute: " + "\n".join(hits))
        srv.stop()
        srv.wait_lines(r"refused: 3 by network")
        srv2 = self.start(["--beats-allow-networks", "127.0.0.0/8"])
        with socket.create_connection(("127.0.0.1", srv2.ports["beats"]), timeout=15) as s:
            self.assertEqual(send_window(s, "allowed-net"), b"2A" + struct.pack(">I", 1))

    def test_allowed_peers_by_subject_and_fingerprint(self):
        fp = self.pki.fingerprint("client2")
        srv = self.start(self.tls_args("required", extra=[
            "--beats-ssl-allow-peers", CLIENT_SUBJECT, "--beats-ssl-allow-peers",
            "sha256:" + fp]))
        with self.tls_connect(srv.ports["beats"]) as s:
            self.send_acked(s, "by-subject")
        with self.tls_connect(srv.ports["beats"], cert="client2") as s:
            self.send_acked(s, "by-fingerprint")
        srv3 = self.start(self.tls_args("required", extra=["--beats-ssl-allow-peers",
                                                            CLIENT_SUBJECT]))
        with self.tls_connect(srv3.ports["beats"], cert="client2") as s:
            s.settimeout(10)
            try:
                s.sendall(window_v2([amsi_event("refused-peer")]))
                self.assertEqual(s.recv(6), b"")
            except (ConnectionError, ssl.SSLError):
                pass
        srv3.wait_lines(r"refused: the client certificate 'CN=winlogbeat-02,O=Example' "
                        r"\(sha256:[0-9A-F:]{95}\) is not in beats.ssl-allow-peers")
        self.assertEqual(srv3.journaled(), [])
        self.assertEqual(sorted(a["fields"]["host.name"] for a in srv.journaled()),
                         ["by-fingerprint", "by-subject"])

    # ---- Keys, configuration errors ----

    def test_encrypted_pkcs8_and_pkcs1_keys(self):
        srv = self.start(self.tls_args("none", key=self.p("server-enc.key"), extra=[
            "--beats-ssl-key-passphrase-file", self.p("pass.txt")]))
        with self.tls_connect(srv.ports["beats"], cert=None) as s:
            self.send_acked(s, "enc-key")
        srv2 = self.start(self.tls_args("none", cert="rsa", key=self.p("rsa1.key")))
        with self.tls_connect(srv2.ports["beats"], cert=None) as s:
            self.send_acked(s, "pkcs1-key")

    def test_configuration_errors_name_the_option_and_the_file(self):
        def serve(args):
            return subprocess.run([BINARY, "serve", "--data-dir", self.dir + "/cfg",
                                   "--syslog-tcp", "off", "--syslog-udp", "off", "--beats",
                                   "127.0.0.1:0"] + args, capture_output=True, timeout=60)
        r = serve(self.tls_args("none", key=self.p("server-enc.key")))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"beats.ssl-key: cannot load", r.stderr)
        self.assertIn(b"ssl-key-passphrase-file", r.stderr)
        r = serve(self.tls_args("none", key=self.p("client.key")))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"does not belong to the certificate", r.stderr)
        r = serve(self.tls_args("none", cert="missing"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"beats.ssl-certificate: cannot read", r.stderr)
        self.assertIn(b"No such file", r.stderr)
        r = serve(["--beats-ssl-enabled", "--beats-ssl-certificate", self.p("server.pem"),
                   "--beats-ssl-key", self.p("server.key"), "--beats-ssl-client-authentication",
                   "required"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"needs beats.ssl-certificate-authorities", r.stderr)
        r = serve(self.tls_args("none", extra=["--beats-ssl-cipher-suites", "TLS_BOGUS"]))
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"'TLS_BOGUS' is not a cipher suite", r.stderr)
        cfg = os.path.join(self.dir, "bad.yml")
        with open(cfg, "w") as f:
            f.write("beats:\n  ssl_enabled: true\n  ssl_supported_protocols:\n    - TLSv1.2\n"
                    "  ssl_client_authentication: sometimes\n")
        r = serve(["--config", cfg])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"bad.yml:5: key 'beats.ssl_client_authentication'", r.stderr)

    def test_yaml_file_with_logstash_names(self):
        cfg = os.path.join(self.dir, "tls.yml")
        with open(cfg, "w") as f:
            f.write("beats:\n"
                    "  ssl_enabled: true\n"
                    "  ssl_certificate: %s\n"
                    "  ssl_key: %s\n"
                    "  ssl_certificate_authorities:\n    - %s\n"
                    "  ssl_client_authentication: required\n"
                    "  ssl_supported_protocols: [TLSv1.2]\n"
                    "  ssl-allow-peers:\n    - %s\n"
                    "  allow-networks: [127.0.0.0/8, '::1']\n"
                    % (self.p("server.pem"), self.p("server.key"), self.p("ca.pem"),
                       CLIENT_SUBJECT))
        srv = self.start(["--config", cfg])
        with self.tls_connect(srv.ports["beats"]) as s:
            self.assertEqual(s.version(), "TLSv1.2")
            self.send_acked(s, "from-yaml")
        self.assertEqual(srv.journaled()[0]["source"]["tls"]["protocol"], "TLSv1.2")

    def test_supported_protocols_limit_the_versions(self):
        srv = self.start(self.tls_args("none", extra=["--beats-ssl-supported-protocols",
                                                      "TLSv1.3"]))
        ctx = self.client_ctx(None)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        raw = socket.create_connection(("127.0.0.1", srv.ports["beats"]), timeout=15)
        with self.assertRaises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        srv.wait_lines(r"TLS handshake failed: the client offers no protocol version of "
                       r"ssl-supported-protocols")
        with self.tls_connect(srv.ports["beats"], cert=None) as s:
            self.assertEqual(s.version(), "TLSv1.3")

    # ---- SIGHUP ----

    def test_sighup_swaps_the_certificate_for_new_connections_only(self):
        cert, key = os.path.join(self.dir, "live.pem"), os.path.join(self.dir, "live.key")
        shutil.copy(self.p("server.pem"), cert)
        shutil.copy(self.p("server.key"), key)
        srv = self.start(["--beats-ssl-enabled", "--beats-ssl-certificate", cert,
                          "--beats-ssl-key", key])

        def served_fingerprint(s):
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

        def fp(name):
            return self.pki.fingerprint(name).replace(":", "").lower()

        old = self.tls_connect(srv.ports["beats"], cert=None)
        self.assertEqual(served_fingerprint(old), fp("server"))
        self.send_acked(old, "before-reload")
        shutil.copy(self.p("server2.pem"), cert)
        shutil.copy(self.p("server2.key"), key)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_lines(r"tls: beats: reloaded .*CN=amsiwatch-renewed\.test")
        with self.tls_connect(srv.ports["beats"], cert=None) as s:
            self.assertEqual(served_fingerprint(s), fp("server2"))
            self.send_acked(s, "new-connection")
        # The connection made before the reload goes on with its session.
        self.send_acked(old, "old-connection", first_seq=2)
        old.close()
        # A bad new key: the running configuration stays, certificate included, and the log
        # says which file and why.
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_lines(r"error serve: reload: beats.ssl-key: cannot load " + re.escape(key) +
                       r".*; keeping the running configuration$")
        with self.tls_connect(srv.ports["beats"], cert=None) as s:
            self.assertEqual(served_fingerprint(s), fp("server2"))
            self.send_acked(s, "after-bad-reload")
        self.assertEqual(sorted(a["fields"]["host.name"] for a in srv.journaled()),
                         ["after-bad-reload", "before-reload", "new-connection",
                          "old-connection"])

    def test_sighup_applies_new_allowed_peers_to_new_connections_only(self):
        cfg = os.path.join(self.dir, "peers-%d.yml" % os.getpid())

        def allow(subject):
            with open(cfg + ".new", "w") as f:
                f.write("beats:\n  ssl-allow-peers:\n    - %s\n" % subject)
            os.replace(cfg + ".new", cfg)
        allow(CLIENT_SUBJECT)
        srv = self.start(self.tls_args("required", extra=["--config", cfg]))
        old = self.tls_connect(srv.ports["beats"])
        self.addCleanup(old.close)
        self.send_acked(old, "allowed-before")

        allow("CN=winlogbeat-02,O=Example")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_lines(r"info serve: reload: allow lists of beats")
        with self.tls_connect(srv.ports["beats"]) as s:  # winlogbeat-01: no longer allowed
            s.settimeout(10)
            try:
                s.sendall(window_v2([amsi_event("refused-after")]))
                self.assertEqual(s.recv(6), b"")
            except (ConnectionError, ssl.SSLError):
                pass
        srv.wait_lines(r"refused: the client certificate 'CN=winlogbeat-01,O=Example' "
                       r"\(sha256:[0-9A-F:]{95}\) is not in beats.ssl-allow-peers")
        with self.tls_connect(srv.ports["beats"], cert="client2") as s:
            self.send_acked(s, "newly-allowed")
        self.send_acked(old, "established-goes-on", first_seq=2)
        old.close()
        self.assertEqual(sorted(a["fields"]["host.name"] for a in srv.journaled()),
                         ["allowed-before", "established-goes-on", "newly-allowed"])

    # ---- Syslog over TLS (RFC 5425) ----

    def test_syslog_over_tls_with_s_client_lines(self):
        srv = self.start(["--syslog-tls-ssl-certificate", self.p("server.pem"),
                          "--syslog-tls-ssl-key", self.p("server.key"),
                          "--syslog-tls-ssl-certificate-authorities", self.p("ca.pem"),
                          "--syslog-tls-ssl-client-authentication", "required"],
                         beats=False, syslog_tls=True)
        self.assertIsNotNone(srv.ports.get("syslog-tls"), "the ready line names syslog-tls")
        with open(SYSLOG_FIXTURE, "rb") as f:
            line = f.read()
        proc = subprocess.Popen([OPENSSL, "s_client", "-quiet", "-no_ign_eof", "-connect",
                                 "127.0.0.1:%d" % srv.ports["syslog-tls"], "-CAfile",
                                 self.p("ca.pem"), "-cert", self.p("client.pem"), "-key",
                                 self.p("client.key"),
                                 "-verify_return_error"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # LF framing for the first, octet counting for the second ("auto" as on TCP).
        msg = line.rstrip(b"\n")
        proc.stdin.write(line + b"%d %s" % (len(msg), msg))
        proc.stdin.flush()
        deadline = time.time() + 20 * amsi.slow()
        while time.time() < deadline and len(srv.journaled()) < 2:
            time.sleep(0.2)
        proc.stdin.close()
        proc.wait(15)
        alerts = srv.journaled()
        self.assertEqual(len(alerts), 2, srv.log())
        for a in alerts:
            self.assertEqual(a["source"]["type"], "syslog")
            self.assertEqual(a["source"]["transport"], "tls")
            self.assertEqual(a["source"]["tls"]["client"]["subject"], CLIENT_SUBJECT)
        # Plaintext on the TLS syslog port is named.
        with socket.create_connection(("127.0.0.1", srv.ports["syslog-tls"]), timeout=15) as s:
            s.sendall(b"<13>1 - - - - - - hello\n")
            s.settimeout(10)
            self.assertEqual(s.recv(16), b"")
        srv.wait_lines(r"syslog-tls: 127\.0\.0\.1:\d+: closing: the client sent plaintext to a TLS "
                       r"port \(first byte 0x3c")


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    if not OPENSSL:
        print("openssl not found: 0 passed, 0 failed, 1 skipped")
        sys.exit(0)
    unittest.main(verbosity=2)
