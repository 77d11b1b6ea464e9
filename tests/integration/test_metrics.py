#!/usr/bin/env python3
"""The HTTP endpoint (api.address): /metrics scraped by a real Prometheus (Debian's package) while
Beats windows (`amsiwatch replay` of `amsiwatch gen` events with AmsiEnable hits) and syslog
messages (TCP and UDP) arrive; Prometheus' HTTP API must give back the numbers sent. Also:
`promtool check metrics` on the output, /stats with the same numbers as JSON, /health and /ready
(503 while stopping and while the journal waits out a failing disk), 404 and 405, TLS with
client certificates (Prometheus scraping over HTTPS), the allow list, a webhook target's lag,
the relays' hops (the syslog relay into a real syslog-ng) and the syslog outbox,
`amsiwatch health` against a running serve and a closed port, the alerting rules
(`promtool check rules`) and every metric the Grafana dashboard queries present in /metrics.

Skipped (with the reason) when /usr/bin/prometheus or promtool is not installed.

usage: test_metrics.py path/to/amsiwatch [unittest options]"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import amsi
import test_relay_syslog as trs
import webhook_server as ws
from test_tls import Pki

BINARY = None
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RULES = os.path.join(ROOT, "dist", "prometheus", "amsiwatch.rules.yml")
DASHBOARD = os.path.join(ROOT, "docker", "grafana", "amsiwatch.json")


def http(url, method="GET", timeout=10):
    """(status, headers, body text) of one request to URL."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def wait_for(get, enough, timeout, step=0.2):
    """GET() again every STEP seconds until ENOUGH(its value) or TIMEOUT seconds (tripled on a
    sanitizer build) pass; returns the last value."""
    deadline = time.time() + timeout * amsi.slow(BINARY)
    while True:
        got = get()
        if enough(got) or time.time() >= deadline:
            return got
        time.sleep(step)


def samples(text):
    """{(name, frozenset of label pairs): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def families(text):
    """The metric names a text exposition declares (TYPE lines), with _bucket, _sum and _count
    for histograms."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def value(text, name, **labels):
    want = frozenset(labels.items())
    return samples(text).get((name, want))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gen(path, count, hit_rate, seed):
    """`amsiwatch gen` into PATH; the number of alerts the elastic profile must raise."""
    proc = subprocess.run([BINARY, "gen", "--count", str(count), "--hit-rate", hit_rate,
                           "--seed", str(seed), "-o", path], check=True, capture_output=True,
                          text=True, timeout=120)
    return int(re.search(r"expected alerts: elastic (\d+)", proc.stderr).group(1))


def replay(port, path, *args):
    proc = subprocess.run([BINARY, "replay", "--no-progress", "--window", "50",
                           "127.0.0.1:%d" % port, path] + list(args),
                          capture_output=True, text=True, timeout=120 * amsi.slow(BINARY))
    assert proc.returncode == 0, proc.stderr
    return proc


class Prometheus:
    """/usr/bin/prometheus scraping TARGET (HOST:PORT) every second, on a port picked here."""

    def __init__(self, target, owner, scheme="http", tls=None):
        self.dir = amsi.tempdir(owner, prefix="prometheus-")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: amsiwatch\n    scheme: %s\n"
                    "    static_configs:\n      - targets: ['%s']\n" % (scheme, target))
            if tls:
                f.write("    tls_config:\n")
                for k, v in tls.items():
                    f.write("      %s: %s\n" % (k, v))
        for _ in range(5):  # the port picked may be taken before Prometheus binds it
            self.port = free_port()
            self.log = open(os.path.join(self.dir, "log"), "w+")
            owner.addCleanup(self.log.close)
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
            owner.addCleanup(self.stop)
            ready = wait_for(self._ready, bool, 60)
            if ready:
                return
            self.stop()
        raise AssertionError("prometheus did not start:\n" + self.output())

    def _ready(self):
        if self.proc.poll() is not None:
            return True  # exited: reported by the caller
        try:
            return http("http://127.0.0.1:%d/-/ready" % self.port, timeout=2)[0] == 200
        except OSError:
            return False

    def output(self):
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def query(self, expr):
        """The value of the instant query EXPR (one series, or their sum), None with no data."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": "sum(%s)" % expr}))
        status, _, body = http(url)
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", body
        result = doc["data"]["result"]
        return float(result[0]["value"][1]) if result else None


@unittest.skipUnless(os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK),
                     "%s or promtool is not installed (apt-get install prometheus)" % PROMETHEUS)
class PrometheusScrape(unittest.TestCase):
    def test_prometheus_gets_the_events_and_alerts_sent(self):
        d = amsi.tempdir(self)
        srv = amsi.Serve(["beats", "syslog-tcp", "syslog-udp", "api"], data_dir=d + "/data",
                         args=["--stats-interval", "0", "--quiet"], cleanup=self)
        api = "127.0.0.1:%d" % srv.ports["api"]
        prom = Prometheus(api, self)

        # Beats: 600 events, AmsiEnable hits among them, in windows of 50.
        events = os.path.join(d, "events.ndjson")
        alerts = gen(events, 600, "1/40", seed=7)
        self.assertGreater(alerts, 5)
        replay(srv.ports["beats"], events)
        # Syslog: 40 messages over TCP (LF framing), 25 datagrams over UDP.
        with socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"])) as s:
            s.sendall(b"".join(b"<13>Dec  7 10:00:00 host app: tcp message %d\n" % i
                               for i in range(40)))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(25):
            udp.sendto(b"<13>Dec  7 10:00:00 host app: udp message %d" % i,
                       ("127.0.0.1", srv.ports["syslog-udp"]))
        udp.close()

        want = {
            'amsiwatch_events_received_total{listener="beats"}': 600,
            'amsiwatch_events_received_total{listener="syslog-tcp"}': 40,
            'amsiwatch_events_received_total{listener="syslog-udp"}': 25,
            'amsiwatch_windows_total{listener="beats"}': 12,
            'amsiwatch_acks_total{listener="beats"}': 12,
            'amsiwatch_alerts_total{profile="elastic",clause="seed"}': alerts,
            'amsiwatch_journal_appends_total': alerts,
            'amsiwatch_detect_events_total{profile="elastic"}': 665,
            'amsiwatch_window_ack_latency_seconds_count{listener="beats"}': 12,
            'amsiwatch_build_info{version=~".+"}': 1,
            'up{job="amsiwatch"}': 1,
        }
        got = wait_for(lambda: {q: prom.query(q) for q in want}, lambda g: g == want, 90, step=1)
        self.assertEqual(got, want, "Prometheus' answers (left) against what was sent:\n"
                         + prom.output())

        # The endpoint itself: the text format promtool accepts, and the same numbers as JSON.
        status, headers, text = http("http://%s/metrics" % api)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(check.stdout + check.stderr, "", "promtool's lint")
        self.assertEqual(value(text, "amsiwatch_events_received_total", listener="beats"), 600)
        self.assertEqual(value(text, "amsiwatch_journal_blocked"), 0)
        self.assertEqual(value(text, "amsiwatch_ready"), 1)
        self.assertGreater(value(text, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(text, "process_open_fds"), 5)
        self.assertLess(abs(value(text, "process_start_time_seconds") - time.time()), 600)
        self.assertNotIn("127.0.0.1", re.sub(r"(?m)^#.*$", "", text), "no peer address labels")
        # Prometheus' naming rules: the prefix, base units, counters in _total, histograms in
        # _seconds, a HELP line for each.
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
        self.assertGreater(len(types), 50)
        for name, kind in types.items():
            self.assertRegex(name, r"^(amsiwatch|process)_[a-z0-9_]+$")
            self.assertIn(name, helps)
            self.assertNotRegex(name, r"_(ms|milliseconds|kb|mib|percent)(_|$)", "base units")
            if kind == "counter":
                self.assertTrue(name.endswith("_total"), name)
            else:
                self.assertFalse(name.endswith("_total"), name)
            if kind == "histogram":
                self.assertTrue(name.endswith("_seconds"), name)

        status, headers, body = http("http://%s/stats" % api)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        stats = json.loads(body)
        beats = [x for x in stats["amsiwatch_events_received_total"]
                 if x["listener"] == "beats"]
        self.assertEqual(beats, [{"listener": "beats", "value": 600}])
        self.assertEqual(stats["amsiwatch_journal_appends_total"], alerts)
        self.assertEqual(stats["amsiwatch_alerts_total"],
                         [{"profile": "elastic", "clause": "seed", "value": alerts}])
        hist = stats["amsiwatch_window_ack_latency_seconds"][0]["value"]
        self.assertEqual(hist["count"], 12)
        self.assertEqual(hist["buckets"]["+Inf"], 12)

        # Health, readiness, and what the endpoint refuses.
        status, _, body = http("http://%s/health" % api)
        self.assertEqual((status, json.loads(body)["status"]), (200, "alive"))
        status, _, body = http("http://%s/ready" % api)
        self.assertEqual((status, json.loads(body)["status"]), (200, "ready"))
        self.assertEqual(http("http://%s/nothing" % api)[0], 404)
        status, headers, _ = http("http://%s/metrics" % api, method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        status, _, body = http("http://%s/metrics" % api, method="HEAD")
        self.assertEqual((status, body), (200, ""))

        # The subcommand Docker's HEALTHCHECK runs.
        ok = subprocess.run([BINARY, "health", "--api", api], capture_output=True, text=True,
                            timeout=30)
        self.assertEqual((ok.returncode, ok.stdout), (0, "ready\n"), ok.stderr)
        live = subprocess.run([BINARY, "health", "--api", api, "--live"], capture_output=True,
                              text=True, timeout=30)
        self.assertEqual((live.returncode, live.stdout), (0, "alive\n"), live.stderr)
        self.assertEqual(srv.stop(), 0, srv.log())
        gone = subprocess.run([BINARY, "health", "--api", api, "--timeout", "5"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(gone.returncode, 1)
        self.assertRegex(gone.stdout, r"^unreachable: http://%s/ready: .+\n$" % re.escape(api))


class Readiness(unittest.TestCase):
    def test_ready_answers_503_while_stopping(self):
        d = amsi.tempdir(self)
        events = os.path.join(d, "events.ndjson")
        gen(events, 40, "1/2", seed=3)
        # Every journal commit waits 4 s: a window with alerts stays in flight, and SIGTERM
        # waits for it with the endpoint still up.
        srv = amsi.Serve(["beats", "api"], data_dir=d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--quiet"],
                         env={"AMSIWATCH_TEST_COMMIT_DELAY_MS": "4000"})
        api = "http://127.0.0.1:%d" % srv.ports["api"]
        sender = threading.Thread(target=replay, args=(srv.ports["beats"], events))
        sender.start()
        self.addCleanup(sender.join)
        got = wait_for(lambda: value(http(api + "/metrics")[2], "amsiwatch_windows_total",
                                     listener="beats"), lambda v: v and v >= 1, 30)
        self.assertGreaterEqual(got, 1)
        srv.proc.send_signal(signal.SIGTERM)
        srv.wait_log(r"SIGTERM")
        status, _, body = http(api + "/ready")
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body), {"status": "not ready", "reason": "stopping"})
        self.assertEqual(http(api + "/health")[0], 200, "alive while stopping")
        no = subprocess.run([BINARY, "health", "--api", api[len("http://"):]],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual((no.returncode, no.stdout), (1, "not ready: HTTP 503: stopping\n"))
        self.assertEqual(srv.proc.wait(60 * amsi.slow(BINARY)), 0, srv.log())

    def test_ready_answers_503_while_the_journal_is_blocked(self):
        d = amsi.tempdir(self)
        events = os.path.join(d, "events.ndjson")
        gen(events, 20, "1/2", seed=5)
        # Every fdatasync of the journal fails with ENOSPC: the first alert blocks it.
        srv = amsi.Serve(["beats", "api"], data_dir=d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--quiet", "--shutdown-timeout", "1s"],
                         env={"AMSIWATCH_FAULT": "journal-fdatasync=ENOSPC"})
        api = "http://127.0.0.1:%d" % srv.ports["api"]
        self.assertEqual(http(api + "/ready")[0], 200)
        sender = subprocess.Popen([BINARY, "replay", "--no-progress", "--ack-timeout", "120s",
                                   "127.0.0.1:%d" % srv.ports["beats"], events],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(sender.wait)
        self.addCleanup(sender.kill)
        status, _, body = wait_for(lambda: http(api + "/ready"), lambda r: r[0] == 503, 30)
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["reason"],
                         "the journal is blocked: a full or failing disk (alerts wait)")
        text = http(api + "/metrics")[2]
        self.assertEqual(value(text, "amsiwatch_journal_blocked"), 1)
        self.assertGreater(value(text, "amsiwatch_journal_write_errors_total"), 0)
        self.assertEqual(value(text, "amsiwatch_ready"), 0)
        srv.kill()


class Webhooks(unittest.TestCase):
    def test_a_target_s_lag_age_retries_and_deliveries(self):
        d = amsi.tempdir(self)
        events = os.path.join(d, "events.ndjson")
        alerts = gen(events, 200, "1/20", seed=11)
        hook = ws.WebhookServer()
        self.addCleanup(hook.close)
        hook.default("/hook", ws.reply(200))
        hook.down()
        srv = amsi.Serve(["beats", "api"], data_dir=d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--webhook",
                               "ops=generic:" + hook.url("/hook")])
        api = "http://127.0.0.1:%d" % srv.ports["api"]
        replay(srv.ports["beats"], events)

        def metric(name):
            return value(http(api + "/metrics")[2], name, target="ops")
        # The receiver is down: every alert waits, the oldest one grows older.
        self.assertEqual(wait_for(lambda: metric("amsiwatch_webhook_lag_alerts"),
                                  lambda v: v == alerts, 30), alerts)
        self.assertGreater(wait_for(lambda: metric("amsiwatch_webhook_retries_total"),
                                    lambda v: v >= 1, 30), 0)
        age = wait_for(lambda: metric("amsiwatch_webhook_oldest_undelivered_age_seconds"),
                       lambda v: v >= 1, 30)
        self.assertGreaterEqual(age, 1)
        self.assertEqual(metric("amsiwatch_webhook_sent_total"), 0)
        hook.up()
        hook.wait_count("/hook", alerts, 60 * amsi.slow(BINARY), status=200)
        self.assertEqual(wait_for(lambda: metric("amsiwatch_webhook_sent_total"),
                                  lambda v: v == alerts, 30), alerts)
        # Counted as sent once the cursor is past it: the lag is 0 by now, or a scrape later.
        self.assertEqual(wait_for(lambda: metric("amsiwatch_webhook_lag_alerts"),
                                  lambda v: v == 0, 30), 0)
        text = http(api + "/metrics")[2]
        self.assertEqual(
            value(text, "amsiwatch_webhook_oldest_undelivered_age_seconds", target="ops"), 0)
        self.assertEqual(value(text, "amsiwatch_webhook_dead_total", target="ops"), 0)
        retried = value(text, "amsiwatch_webhook_retries_total", target="ops")
        self.assertEqual(
            value(text, "amsiwatch_webhook_request_duration_seconds_count", target="ops"),
            alerts + retried)
        self.assertEqual(srv.stop(), 0, srv.log())


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is not installed")
class Tls(unittest.TestCase):
    """api.ssl-enabled: TLS terminated by the listeners' engine, client certificates required."""

    def setUp(self):
        self.d = amsi.tempdir(self)
        self.pki = Pki(self.d)
        self.pki.ca("ca", "metrics test CA")
        self.pki.cert("server", "/CN=amsiwatch.test", "ca", "DNS:localhost,IP:127.0.0.1")
        self.pki.cert("prometheus", "/O=Example/CN=prometheus", "ca", None, server=False)
        self.pki.cert("other", "/O=Example/CN=someone-else", "ca", None, server=False)
        self.srv = amsi.Serve(
            ["beats", "api"], data_dir=self.d + "/data", cleanup=self,
            args=["--stats-interval", "0", "--quiet", "--api-ssl-enabled",
                  "--api-ssl-certificate", self.pki.path("server.pem"),
                  "--api-ssl-key", self.pki.path("server.key"),
                  "--api-ssl-certificate-authorities", self.pki.path("ca.pem"),
                  "--api-ssl-client-authentication", "required",
                  "--api-ssl-allow-peers", "CN=prometheus,O=Example"])
        self.api = "127.0.0.1:%d" % self.srv.ports["api"]

    def get(self, path, client=None):
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.pem"))
        if client:
            ctx.load_cert_chain(self.pki.path(client + ".pem"), self.pki.path(client + ".key"))
        req = urllib.request.Request("https://%s%s" % (self.api, path))
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.read().decode()

    def test_https_with_a_client_certificate_and_nothing_else(self):
        status, body = self.get("/ready", client="prometheus")
        self.assertEqual((status, json.loads(body)), (200, {"status": "ready"}))
        for client in (None, "other"):  # no certificate; one ssl-allow-peers does not name
            with self.assertRaises(OSError):
                self.get("/ready", client=client)
        with self.assertRaises(OSError):  # plaintext HTTP on the TLS port
            http("http://%s/ready" % self.api)
        text = self.get("/metrics", client="prometheus")[1]
        self.assertGreaterEqual(value(text, "amsiwatch_tls_handshakes_total", listener="api"), 2)
        self.assertEqual(value(text, "amsiwatch_tls_handshake_failures_total", listener="api",
                               reason="plaintext"), 1)
        self.assertEqual(value(text, "amsiwatch_access_refusals_total", listener="api",
                               reason="peer"), 1)
        health = [BINARY, "health", "--api", self.api, "--tls-ca", self.pki.path("ca.pem"),
                  "--tls-cert", self.pki.path("prometheus.pem"),
                  "--tls-key", self.pki.path("prometheus.key")]
        ok = subprocess.run(health, capture_output=True, text=True, timeout=30)
        self.assertEqual((ok.returncode, ok.stdout), (0, "ready\n"), ok.stderr)
        no = subprocess.run(health[:6], capture_output=True, text=True, timeout=30)
        self.assertEqual(no.returncode, 1, "no client certificate")
        # SIGHUP reads the certificate and key again, as the listeners'.
        self.srv.proc.send_signal(signal.SIGHUP)
        self.srv.wait_log(r"reload: .*certificates and keys of api read again")
        self.assertEqual(self.get("/health", client="prometheus")[0], 200)
        self.assertEqual(self.srv.stop(), 0, self.srv.log())

    @unittest.skipUnless(os.access(PROMETHEUS, os.X_OK), "%s is not installed" % PROMETHEUS)
    def test_prometheus_scrapes_over_https_with_its_certificate(self):
        tls = {"ca_file": self.pki.path("ca.pem"), "cert_file": self.pki.path("prometheus.pem"),
               "key_file": self.pki.path("prometheus.key")}
        prom = Prometheus(self.api, self, scheme="https", tls=tls)
        events = os.path.join(self.d, "events.ndjson")
        alerts = gen(events, 100, "1/10", seed=2)
        replay(self.srv.ports["beats"], events)
        want = {'amsiwatch_events_received_total{listener="beats"}': 100,
                'amsiwatch_alerts_total': alerts, 'up{job="amsiwatch"}': 1}
        got = wait_for(lambda: {q: prom.query(q) for q in want}, lambda g: g == want, 90, step=1)
        self.assertEqual(got, want, prom.output())


class Relay(unittest.TestCase):
    def test_a_relay_hop_s_counters_and_state(self):
        d = amsi.tempdir(self)
        hop = amsi.Serve(["beats"], data_dir=d + "/hop", cleanup=self,
                         args=["--stats-interval", "0", "--quiet"])
        target = "127.0.0.1:%d" % hop.ports["beats"]
        srv = amsi.Serve(["beats", "api"], data_dir=d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--quiet", "--relay-beats-hosts", target])
        api = "http://127.0.0.1:%d" % srv.ports["api"]
        events = os.path.join(d, "events.ndjson")
        gen(events, 300, "1/30", seed=4)
        replay(srv.ports["beats"], events)  # every window acknowledged: the hop took it

        def metric(name, **labels):
            return value(http(api + "/metrics")[2], name, **labels)
        hop_labels = {"relay": "beats", "hop": target}
        self.assertEqual(metric("amsiwatch_relay_hop_up", **hop_labels), 1)
        self.assertEqual(metric("amsiwatch_relay_events_total", **hop_labels), 300)
        self.assertEqual(metric("amsiwatch_relay_windows_total", **hop_labels), 6)
        self.assertEqual(metric("amsiwatch_relay_pending_windows", relay="beats"), 0)
        self.assertEqual(hop.stop(), 0, hop.log())
        self.assertEqual(wait_for(lambda: metric("amsiwatch_relay_hop_up", **hop_labels),
                                  lambda v: v == 0, 30), 0, "the hop is down")
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_the_beats_outbox_with_the_hop_down(self):
        d = amsi.tempdir(self)
        target = "127.0.0.1:%d" % free_port()  # nobody listens there
        srv = amsi.Serve(["beats", "api"], data_dir=d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--quiet", "--relay-beats-hosts", target,
                               "--relay-when-down", "spill"])
        api = "http://127.0.0.1:%d" % srv.ports["api"]
        events = os.path.join(d, "events.ndjson")
        gen(events, 300, "1/30", seed=4)
        replay(srv.ports["beats"], events)  # every window acknowledged: the outbox took it
        text = http(api + "/metrics")[2]
        self.assertEqual(value(text, "amsiwatch_outbox_windows", relay="beats"), 6)
        self.assertEqual(value(text, "amsiwatch_outbox_spilled_total", relay="beats"), 6)
        self.assertGreater(value(text, "amsiwatch_outbox_bytes", relay="beats"), 0)
        self.assertIsNone(value(text, "amsiwatch_outbox_windows", relay="syslog"))
        self.assertEqual(value(text, "amsiwatch_relay_hop_up", relay="beats", hop=target), 0)
        self.assertEqual(srv.stop(), 0, srv.log())


@unittest.skipUnless(os.path.exists(trs.SYSLOG_NG), "syslog-ng is not installed")
class RelaySyslog(unittest.TestCase):
    """relay.syslog over TCP into a real syslog-ng: its hop beside the Beats relay's
    (relay="syslog"), the messages and bytes passed on, its outbox with the hop down, and the UDP
    messages it drops."""

    def setUp(self):
        trs.BINARY = BINARY
        self.d = amsi.tempdir(self)
        self.messages = [b"<13>Dec  7 10:00:%02d host app[1]: relayed message %d" % (i % 60, i)
                         for i in range(30)]
        # The octet-counted frames the next hop gets, one per message.
        self.framed = sum(len(b"%d %s" % (len(m), m)) for m in self.messages)

    def serve(self, port, *args):
        srv = amsi.Serve(["syslog-tcp", "api"], data_dir=self.d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--quiet", "--relay-syslog-hosts",
                               "127.0.0.1:%d" % port, "--relay-beats-backoff-init", "100ms",
                               "--relay-beats-backoff-max", "300ms"] + list(args))
        return srv, "http://127.0.0.1:%d" % srv.ports["api"]

    def hop(self, port):
        ng = trs.SyslogNg(self.d, ("syslog", "tcp"), port=port)
        self.addCleanup(ng.stop)
        return ng

    def test_a_syslog_next_hop_s_counters_beside_the_beats_relay_s(self):
        port = free_port()
        ng = self.hop(port)
        srv, api = self.serve(port)
        hop = {"relay": "syslog", "hop": "127.0.0.1:%d" % port}
        with socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]), timeout=30) as s:
            s.sendall(b"".join(b"%d %s" % (len(m), m) for m in self.messages))
        self.assertEqual(ng.wait_lines(len(self.messages)), self.messages, ng.log())

        def scrape():
            return http(api + "/metrics")[2]
        text = wait_for(scrape, lambda t: value(t, "amsiwatch_relay_sent_bytes_total", **hop)
                        == self.framed, 30)
        self.assertEqual(value(text, "amsiwatch_relay_hop_up", **hop), 1)
        self.assertEqual(value(text, "amsiwatch_relay_sent_bytes_total", **hop), self.framed)
        self.assertGreaterEqual(value(text, "amsiwatch_relay_windows_total", **hop), 1)
        self.assertEqual(value(text, "amsiwatch_relay_events_total", **hop), len(self.messages))
        self.assertEqual(value(text, "amsiwatch_relay_errors_total", **hop), 0)
        self.assertEqual(value(text, "amsiwatch_relay_pending_windows", relay="syslog"), 0)
        self.assertEqual(value(text, "amsiwatch_relay_syslog_messages_total"),
                         len(self.messages))
        self.assertEqual(value(text, "amsiwatch_relay_syslog_bytes_total"), self.framed)
        self.assertEqual(value(text, "amsiwatch_relay_syslog_dropped_total"), 0)
        relays = {dict(labels).get("relay") for (name, labels) in samples(text)
                  if name.startswith("amsiwatch_relay_") or name.startswith("amsiwatch_outbox_")}
        self.assertEqual(relays, {"syslog", None}, "no Beats relay, no outbox: no samples")
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""))
        stats = json.loads(http(api + "/stats")[2])
        self.assertEqual(stats["amsiwatch_relay_syslog_messages_total"], len(self.messages))
        self.assertEqual(stats["amsiwatch_relay_hop_up"], [dict(hop, value=1)])
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_the_syslog_outbox_with_the_hop_down_and_sent_on_once_it_is_up(self):
        port = free_port()  # nobody listens there yet
        srv, api = self.serve(port, "--relay-when-down", "spill")
        box = {"relay": "syslog"}

        def metric(name, **labels):
            return value(http(api + "/metrics")[2], name, **labels)
        self.assertEqual(metric("amsiwatch_relay_hop_up", relay="syslog",
                                hop="127.0.0.1:%d" % port), 0)
        # One message at a time, each read before the next is sent: each is a run of its own,
        # so the outbox's depth counts the messages.
        with socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]), timeout=30) as s:
            for i, m in enumerate(self.messages):
                s.sendall(b"%d %s" % (len(m), m))
                held = wait_for(lambda: metric("amsiwatch_outbox_windows", **box),
                                lambda v: v == i + 1, 30, step=0.02)
                self.assertEqual(held, i + 1, srv.log(20))
        text = http(api + "/metrics")[2]
        self.assertEqual(value(text, "amsiwatch_outbox_windows", **box), len(self.messages))
        # Each record: the run's event count (4 bytes), then the run.
        self.assertEqual(value(text, "amsiwatch_outbox_bytes", **box),
                         self.framed + 4 * len(self.messages))
        self.assertEqual(value(text, "amsiwatch_outbox_spilled_total", **box),
                         len(self.messages))
        self.assertEqual(value(text, "amsiwatch_outbox_forwarded_total", **box), 0)
        self.assertEqual(value(text, "amsiwatch_relay_syslog_messages_total"),
                         len(self.messages))
        self.assertEqual(value(text, "amsiwatch_relay_syslog_bytes_total"), self.framed)
        self.assertEqual(value(text, "amsiwatch_relay_syslog_dropped_total"), 0)
        self.assertIsNone(value(text, "amsiwatch_outbox_windows", relay="beats"))
        age = wait_for(lambda: metric("amsiwatch_outbox_oldest_age_seconds", **box),
                       lambda v: v >= 1, 30)
        self.assertGreaterEqual(age, 1)
        stats = json.loads(http(api + "/stats")[2])
        self.assertEqual(stats["amsiwatch_outbox_windows"],
                         [{"relay": "syslog", "value": len(self.messages)}])

        # The next hop comes up: the outbox empties into it, in order.
        ng = self.hop(port)
        self.assertEqual(ng.wait_lines(len(self.messages)), self.messages, ng.log())
        text = wait_for(lambda: http(api + "/metrics")[2],
                        lambda t: value(t, "amsiwatch_outbox_windows", **box) == 0, 30)
        self.assertEqual(value(text, "amsiwatch_outbox_windows", **box), 0)
        self.assertEqual(value(text, "amsiwatch_outbox_bytes", **box), 0)
        self.assertEqual(value(text, "amsiwatch_outbox_oldest_age_seconds", **box), 0)
        self.assertEqual(value(text, "amsiwatch_outbox_forwarded_total", **box),
                         len(self.messages))
        self.assertEqual(value(text, "amsiwatch_relay_hop_up", relay="syslog",
                               hop="127.0.0.1:%d" % port), 1)
        # Each run from the outbox carries its count of messages to the hop's counters.
        self.assertEqual(value(text, "amsiwatch_relay_events_total", relay="syslog",
                               hop="127.0.0.1:%d" % port), len(self.messages))
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_udp_messages_past_the_budget_with_the_hop_down_are_dropped_and_counted(self):
        port = free_port()  # nobody listens there
        srv = amsi.Serve(["syslog-udp", "api"], data_dir=self.d + "/data", cleanup=self,
                         args=["--stats-interval", "0", "--quiet", "--relay-syslog-hosts",
                               "127.0.0.1:%d" % port, "--syslog-connection-budget", "64KiB",
                               "--syslog-batch-bytes", "4KiB"])
        api = "http://127.0.0.1:%d" % srv.ports["api"]
        # 200 KB of datagrams: three times the budget the relay's queue may hold for them.
        udp = [b"<14>Dec  7 11:00:00 router kernel: udp message %04d %s" % (i, b"u" * 450)
               for i in range(400)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for m in udp:
                s.sendto(m, ("127.0.0.1", srv.ports["syslog-udp"]))
                time.sleep(0.002)  # loopback UDP drops nothing at this pace
        text = wait_for(lambda: http(api + "/metrics")[2],
                        lambda t: value(t, "amsiwatch_events_received_total",
                                        listener="syslog-udp") == len(udp), 30)
        self.assertEqual(
            value(text, "amsiwatch_events_received_total", listener="syslog-udp"), len(udp))
        taken = value(text, "amsiwatch_relay_syslog_messages_total")
        dropped = value(text, "amsiwatch_relay_syslog_dropped_total")
        self.assertGreater(dropped, 0, "UDP has no back-pressure: drops are counted")
        self.assertGreater(taken, 0)
        self.assertEqual(taken + dropped, len(udp), "every message taken or counted")
        self.assertGreater(value(text, "amsiwatch_relay_pending_windows", relay="syslog"), 0)
        self.assertEqual(value(text, "amsiwatch_relay_hop_up", relay="syslog",
                               hop="127.0.0.1:%d" % port), 0)
        self.assertEqual(srv.stop(), 0, srv.log())


class Bind(unittest.TestCase):
    def test_an_api_address_that_cannot_be_bound_stops_serve_with_exit_3(self):
        d = amsi.tempdir(self)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            proc = subprocess.run([BINARY, "serve", "--data-dir", d, "--beats", "off",
                                   "--syslog-tcp", "off", "--syslog-udp", "off",
                                   "--api", "127.0.0.1:%d" % port],
                                  capture_output=True, text=True, timeout=60 * amsi.slow(BINARY))
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("cannot listen for the api on 127.0.0.1:%d" % port, proc.stderr)
        self.assertNotIn("\nready", "\n" + proc.stderr)


class AllowList(unittest.TestCase):
    def test_a_client_outside_api_allow_networks_is_refused_at_accept(self):
        d = amsi.tempdir(self)
        srv = amsi.Serve(["api"], data_dir=d, cleanup=self,
                         args=["--stats-interval", "0", "--api-allow-networks", "10.0.0.0/8"])
        with self.assertRaises(OSError):
            http("http://127.0.0.1:%d/health" % srv.ports["api"], timeout=10)
        srv.wait_log(r"warn api: 127\.0\.0\.1:\d+: refused: 127\.0\.0\.1 is not in "
                     r"api\.allow-networks")
        self.assertEqual(srv.stop(), 0, srv.log())
        allowed = amsi.Serve(["api"], data_dir=d, cleanup=self,
                             args=["--stats-interval", "0", "--api-allow-networks",
                                   "10.0.0.0/8,127.0.0.0/8"])
        self.assertEqual(http("http://127.0.0.1:%d/health" % allowed.ports["api"])[0], 200)
        self.assertEqual(allowed.stop(), 0, allowed.log())

    def test_sighup_applies_a_new_allow_list(self):
        d = amsi.tempdir(self)
        config = os.path.join(d, "amsiwatch.yml")
        with open(config, "w") as f:
            f.write("api:\n  allow-networks: [10.0.0.0/8]\n")
        srv = amsi.Serve(["api"], data_dir=d + "/data", cleanup=self,
                         args=["--config", config, "--stats-interval", "0"])
        url = "http://127.0.0.1:%d/health" % srv.ports["api"]
        with self.assertRaises(OSError):
            http(url)
        with open(config, "w") as f:
            f.write("api:\n  allow-networks: [10.0.0.0/8, 127.0.0.1]\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reload: allow lists of api")
        self.assertEqual(http(url)[0], 200)
        # Turning TLS on needs a restart: the running endpoint stays as it is.
        with open(config, "w") as f:
            f.write("api:\n  ssl-enabled: true\n  allow-networks: [127.0.0.1]\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reload: api.ssl-enabled changed, but it needs a restart")
        self.assertEqual(http(url)[0], 200)
        self.assertEqual(srv.stop(), 0, srv.log())


@unittest.skipUnless(os.access(PROMTOOL, os.X_OK), "promtool is not installed")
class RulesAndDashboard(unittest.TestCase):
    def test_the_alerting_rules_pass_promtool(self):
        check = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertRegex(check.stdout, r"SUCCESS: [1-9]\d* rules found")

    def test_the_compose_example_prometheus_configuration_passes_promtool(self):
        d = amsi.tempdir(self)
        with open(os.path.join(ROOT, "docker", "prometheus.yml")) as f:
            config = f.read()
        self.assertIn("/etc/prometheus/amsiwatch.rules.yml", config)
        path = os.path.join(d, "prometheus.yml")
        with open(path, "w") as f:
            f.write(config.replace("/etc/prometheus/amsiwatch.rules.yml", RULES))
        check = subprocess.run([PROMTOOL, "check", "config", path], capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_every_metric_the_rules_and_dashboard_use_is_served(self):
        d = amsi.tempdir(self)
        # A webhook target and a relay hop, so that their families are there too.
        srv = amsi.Serve(["beats", "syslog-tcp", "syslog-udp", "api"], data_dir=d, cleanup=self,
                         args=["--stats-interval", "0", "--webhook", "ops=generic:http://127.0.0.1:9/x"])
        served = families(http("http://127.0.0.1:%d/metrics" % srv.ports["api"])[2])
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 5)
        with open(RULES) as f:
            exprs += re.findall(r"expr: (.+)", f.read())
        names = set()
        for e in exprs:
            names.update(n for n in re.findall(r"\b((?:amsiwatch|process)_[a-z0-9_]+)\b", e))
        self.assertTrue(names)
        self.assertEqual(sorted(names - served), [], "queried but not served")

        # The README's reference names every family served, and nothing else.
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        section = readme.split("### Metrics reference", 1)[1].split("\n### ", 1)[0]
        documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M))
        declared = set(re.findall(r"^# TYPE (\S+) ", http("http://127.0.0.1:%d/metrics"
                                                           % srv.ports["api"])[2], re.M))
        self.assertEqual((sorted(declared - documented), sorted(documented - declared)), ([], []),
                         "(served but not in the README, in the README but not served)")
        # ...with the type and meaning the endpoint's TYPE and HELP lines give.
        text = http("http://127.0.0.1:%d/metrics" % srv.ports["api"])[2]
        helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.M))
        served_rows = {n: (t, helps.get(n)) for n, t in
                       re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)}
        readme_rows = {n: (t, m) for n, t, m in
                       re.findall(r"^\| `([a-z0-9_]+)` \| (\w+) \| [^|]* \| (.*) \|$", section,
                                  re.M)}
        self.assertEqual(readme_rows, served_rows, "the README's type and meaning of each family")


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    unittest.main()
