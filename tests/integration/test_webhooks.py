#!/usr/bin/env python3
"""Webhook delivery of `amsiwatch serve`, end to end: real alerts (the NXLog JSON syslog fixture
sent over TCP, each copy with its own record number so that each is a distinct alert) delivered to a
real HTTP server (webhook_server.py) scripted to succeed, fail, throttle, hang or go away.

Checked against docs/spec (alerting.md): every format's body has the shape its receiver documents
and shows what a responder needs (rule, severity, host, user, process, registry path, value,
data, time) within the receiver's limits; Standard Webhooks v1 / v1a and X-Hub-Signature-256
signatures verify with an independent implementation; Bearer, Basic, GenieKey and custom
headers; retries with backoff and Retry-After (seconds and HTTP-date); permanent 4xx go to the
dead list and `journal replay --dead` sends them again; 410 disables only its target; an outage,
even across a restart of amsiwatch, loses nothing; retries reuse the alert id; max_signals and
suppression send one summary with the count.

usage: test_webhooks.py path/to/amsiwatch [unittest options]
       test_webhooks.py path/to/amsiwatch --measure   (latency figures, not a test; use a
                                                       release build)"""
import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amsi  # noqa: E402
import webhook_server as ws  # noqa: E402

BINARY = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "syslog", "alert-nxlog-json-rfc5424.log")

RULE = "Modification of AmsiEnable Registry Key"
HOST = "WKS-FIN-07"
USER = "j.doe"
PROCESS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
PATH = ("HKU\\S-1-5-21-1111111111-2222222222-3333333333-1104\\Software\\Microsoft\\"
        "Windows Script\\Settings\\AmsiEnable")
EVENT_TIME = "2026-01-14T08:21:07.412Z"


# ---- Events ---------------------------------------------------------------------------------

with open(FIXTURE, "rb") as _f:
    TEMPLATE = _f.read().rstrip(b"\n")
assert b'"RecordNumber":482210' in TEMPLATE and HOST.encode() in TEMPLATE


def event_line(record, host=None, json_host=None, deep=0):
    """The fixture with record number RECORD (a distinct event, hence a distinct alert id), its
    host renamed HOST (syslog header and JSON), or only the JSON Hostname renamed JSON_HOST (longer
    than a syslog header allows), and DEEP extra key levels in the registry path."""
    line = TEMPLATE.replace(b'"RecordNumber":482210', b'"RecordNumber":%d' % record)
    if host:
        line = line.replace(HOST.encode(), host.encode())
    if json_host:
        line = line.replace(b'"Hostname":"%s"' % HOST.encode(), b'"Hostname":"%s"' %
                            json_host.encode())
    if deep:
        line = line.replace(b"\\\\Software\\\\Microsoft",
                            b"\\\\Software\\\\" + b"Deep\\\\" * deep + b"Microsoft")
    return line + b"\n"


def record_of(alert):
    return alert["fields"]["winlog.record_id"]


# ---- The server under test ------------------------------------------------------------------

def yaml_str(v):
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


def write_config(path, data_dir, targets):
    """A YAML configuration with DATA_DIR and the webhooks TARGETS (dicts of dotted keys)."""
    out = ["data-dir: %s" % yaml_str(data_dir), "webhooks:"]
    for t in targets:
        first = True
        for k, v in t.items():
            out.append(("  - " if first else "    ") + "%s: %s" % (k, yaml_str(v)))
            first = False
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def target(name, url, **kw):
    """A target with the small timeouts and high rate that keep the tests fast."""
    t = {"name": name, "url": url, "format": "generic", "timeout": "1s", "rate": "100",
         "retry.max-backoff": "2s", "max-signals": "0"}
    for k, v in kw.items():
        t[k.replace("__", ".").replace("_", "-")] = v
    return t


def serve(config, env=None, binary=None):
    """`amsiwatch serve --config CONFIG` with syslog TCP on a loopback port picked by the kernel."""
    return amsi.Serve(["syslog-tcp"], args=["--config", config], env=env, binary=binary)


def send(srv, lines, gap=0.0):
    """Sends syslog LINES to SRV over one TCP connection; returns the monotonic time of each."""
    times = []
    with socket.create_connection(("127.0.0.1", srv.ports["syslog-tcp"]), timeout=10) as s:
        for i, line in enumerate(lines):
            if i and gap:
                time.sleep(gap)
            times.append(time.monotonic())
            s.sendall(line)
    return times


def export(data_dir):
    return amsi.journal_export(data_dir)


def wait_journaled(data_dir, n, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        docs = export(data_dir)
        if len(docs) >= n:
            return docs
        time.sleep(0.1)
    return export(data_dir)


def strings(v):
    """Every string inside a JSON value, keys included, joined by newlines."""
    out = []

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for k, y in x.items():
                out.append(k)
                walk(y)
        elif isinstance(x, list):
            for y in x:
                walk(y)
    walk(v)
    return "\n".join(out)


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="amsiwatch-webhooks-")
        self.data = os.path.join(self.dir, "data")
        self.servers = []
        self.serves = []
        self.all_serves = []
        self.http = self.webhook_server()

    def tearDown(self):
        for s in self.serves:
            s.kill()
        for h in self.servers:
            h.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        for s in self.all_serves:  # the sanitizers' reports (ASan/UBSan builds)
            m = re.search(r"(?m)^.*(ERROR: \w+Sanitizer|runtime error:).*$", s.log())
            if m:
                self.fail("amsiwatch serve: " + m.group(0))

    def webhook_server(self):
        h = ws.WebhookServer()
        self.servers.append(h)
        return h

    def secret_file(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        return path

    def serve(self, targets, env=None):
        cfg = write_config(os.path.join(self.dir, "amsiwatch.yml"), self.data, targets)
        s = serve(cfg, env)
        self.serves.append(s)
        self.all_serves.append(s)
        return s

    def stop(self, s, sig=signal.SIGTERM):
        rc = s.stop(sig)
        self.serves.remove(s)
        return rc

    def replay(self, name, *extra):
        return subprocess.run(
            [BINARY, "journal", "replay", "--target", name, "--config",
             os.path.join(self.dir, "amsiwatch.yml"), "--data-dir", self.data] + list(extra),
            capture_output=True, text=True, timeout=120)

    def ok(self, reqs):
        return [r for r in reqs if r.status is not None and 200 <= r.status < 300]


# ---- Formats --------------------------------------------------------------------------------

FORMATS = {  # format: (path, success answer)
    "generic": ("/generic", ws.reply(200)),
    "slack": ("/slack", ws.reply(200, b"ok")),
    "teams": ("/teams", ws.reply(202)),
    "discord": ("/discord", ws.reply(200, b"{}")),
    "mattermost": ("/mattermost", ws.reply(200, b"ok")),
    "pagerduty": ("/pagerduty", ws.reply(202, b'{"status":"success"}')),
    "opsgenie": ("/opsgenie", ws.reply(202, b'{"result":"Request will be processed"}')),
    "jira": ("/jira", ws.reply(201, b'{"id":"10000","key":"SEC-1"}')),
}


class FormatsTest(Base):
    """One server, one target per format, two alerts: an ordinary one and one with a 300-character
    host name and a 9 000-character registry path (for the receivers' limits)."""

    @classmethod
    def setUpClass(cls):
        cls.fixture = Base("run")
        cls.fixture.setUp()
        f = cls.fixture
        h = f.http
        routing = f.secret_file("routing-key", "R0UT1NGKEY0123456789abcdef012345")
        genie = f.secret_file("genie-key", "eb243592-faa2-4ba2-a551q-1afdf565c889")
        jira_token = f.secret_file("jira-token", "ATATT3xFfGF0-token")
        targets = []
        for fmt, (path, answer) in FORMATS.items():
            h.default(path, answer)
            extra = {"format": fmt}
            if fmt == "pagerduty":
                extra["pagerduty.routing-key-file"] = routing
            if fmt == "opsgenie":
                extra.update({"auth.type": "genie", "auth.secret-file": genie})
            if fmt == "jira":
                extra.update({"jira.project": "SEC", "auth.type": "basic",
                              "auth.username": "soc@example.com", "auth.secret-file": jira_token})
            t = target(fmt, h.url(path))
            t.update(extra)
            targets.append(t)
        cls.serve = f.serve(targets)
        send(cls.serve, [event_line(1), event_line(2, json_host="WKS-" + "L" * 296, deep=1800)])
        for path, _ in FORMATS.values():
            h.wait_count(path, 2, 30)
        cls.docs = {record_of(d): d for d in export(f.data)}
        cls.normal, cls.long = cls.docs.get(1), cls.docs.get(2)

    @classmethod
    def tearDownClass(cls):
        cls.fixture.tearDown()

    def setUp(self):
        pass

    def tearDown(self):
        pass

    def bodies(self, fmt):
        """(request, body) of the ordinary alert and of the long one for FORMAT."""
        reqs = self.fixture.http.requests(FORMATS[fmt][0])
        self.assertEqual(len(reqs), 2, "%s: %d requests" % (fmt, len(reqs)))
        out = {}
        for r in reqs:
            self.assertEqual(r.headers.get("Content-Type"), "application/json")
            self.assertTrue(r.headers.get("User-Agent", "").startswith("amsiwatch/"))
            body = json.loads(r.body)
            long = "LLLLLLLLLL" in r.body.decode()
            out["long" if long else "normal"] = (r, body)
        self.assertEqual(set(out), {"normal", "long"})
        return out["normal"], out["long"]

    def assertShows(self, body, severity="high", facts=None):
        text = strings(body)
        for what, v in (facts or {"rule": RULE, "severity": severity, "host": HOST, "user": USER,
                                  "process": PROCESS, "registry path": PATH,
                                  "time": EVENT_TIME}).items():
            if v not in text:
                self.fail("the body does not show the %s (%r): %s" % (what, v, text[:600]))
        # The value (AmsiEnable, also in the rule's name) and the data (0) as facts of their own.
        for what, pattern in (
                ("value", r"(?m)^AmsiEnable$|Value\|AmsiEnable\||\*Value\*\nAmsiEnable"),
                ("data", r"(?m)^0$|Data\|0\||\*Data\*\n0")):
            if not re.search(pattern, text):
                self.fail("the body does not show the %s: %s" % (what, text[:600]))

    def test_both_alerts_were_journaled(self):
        self.assertIsNotNone(self.normal)
        self.assertIsNotNone(self.long)
        self.assertEqual(len(self.long["fields"]["host.name"]), 300)
        self.assertGreater(len(self.long["fields"]["registry.path"]), 9000)

    def test_generic_is_the_alert_document(self):
        (r, body), (rl, long) = self.bodies("generic")
        self.assertEqual(body, self.normal)
        self.assertEqual(long, self.long)
        self.assertEqual(body["rule"]["name"], RULE)
        self.assertEqual(body["rule"]["severity"], "high")
        self.assertEqual(body["rule"]["risk_score"], 73)

    def test_slack_text_and_blocks(self):
        for (r, body), alert in zip(self.bodies("slack"), (self.normal, self.long)):
            self.assertIsInstance(body["text"], str)
            self.assertTrue(body["text"])
            self.assertLessEqual(len(body["text"]), 40000)
            blocks = body["blocks"]
            self.assertIsInstance(blocks, list)
            self.assertLessEqual(len(blocks), 50)
            for b in blocks:
                self.assertIn(b["type"], ("header", "section", "context", "divider", "actions"))
                if b["type"] == "header":
                    self.assertEqual(b["text"]["type"], "plain_text")
                    self.assertLessEqual(len(b["text"]["text"]), 150)
                if b["type"] == "section":
                    self.assertTrue("text" in b or "fields" in b)
                    if "text" in b:
                        self.assertIn(b["text"]["type"], ("mrkdwn", "plain_text"))
                        self.assertLessEqual(len(b["text"]["text"]), 3000)
                    for fld in b.get("fields", []):
                        self.assertIn(fld["type"], ("mrkdwn", "plain_text"))
                        self.assertLessEqual(len(fld["text"]), 2000)
                    self.assertLessEqual(len(b.get("fields", [])), 10)
                if b["type"] == "context":
                    self.assertLessEqual(len(b["elements"]), 10)
            self.assertIn(alert["alert_id"], strings(body))
        self.assertShows(self.bodies("slack")[0][1])

    def test_teams_adaptive_card_1_2(self):
        for (r, body), alert in zip(self.bodies("teams"), (self.normal, self.long)):
            self.assertEqual(body["type"], "message")
            self.assertEqual(len(body["attachments"]), 1)
            att = body["attachments"][0]
            self.assertEqual(att["contentType"], "application/vnd.microsoft.card.adaptive")
            card = att["content"]
            self.assertEqual(card["type"], "AdaptiveCard")
            self.assertEqual(card["version"], "1.2")
            self.assertIsInstance(card["body"], list)
            for el in card["body"]:
                self.assertIn(el["type"], ("TextBlock", "FactSet", "ColumnSet", "Container"))
                if el["type"] == "TextBlock":
                    self.assertIsInstance(el["text"], str)
                if el["type"] == "FactSet":
                    for fact in el["facts"]:
                        self.assertIsInstance(fact["title"], str)
                        self.assertIsInstance(fact["value"], str)
            # Teams refuses cards over about 28 KB.
            self.assertLess(len(r.body), 28 * 1024)
            self.assertIn(alert["alert_id"], strings(body))
        self.assertShows(self.bodies("teams")[0][1])

    def test_discord_content_embeds_and_wait(self):
        for (r, body), alert in zip(self.bodies("discord"), (self.normal, self.long)):
            self.assertEqual(r.query.get("wait"), ["true"])
            self.assertIsInstance(body["content"], str)
            self.assertLessEqual(len(body["content"]), 2000)
            self.assertTrue(1 <= len(body["embeds"]) <= 10)
            total = 0
            for e in body["embeds"]:
                self.assertLessEqual(len(e.get("title", "")), 256)
                self.assertLessEqual(len(e.get("description", "")), 4096)
                self.assertLessEqual(len(e.get("fields", [])), 25)
                total += len(e.get("title", "")) + len(e.get("description", ""))
                for fld in e.get("fields", []):
                    self.assertLessEqual(len(fld["name"]), 256)
                    self.assertLessEqual(len(fld["value"]), 1024)
                    self.assertTrue(fld["value"])
                    total += len(fld["name"]) + len(fld["value"])
                if "footer" in e:
                    self.assertLessEqual(len(e["footer"]["text"]), 2048)
                    total += len(e["footer"]["text"])
                self.assertIsInstance(e.get("color", 0), int)
            # Discord: all embeds of a message together at most 6000 characters.
            self.assertLessEqual(total, 6000)
            self.assertIn(alert["alert_id"], strings(body))
        self.assertShows(self.bodies("discord")[0][1])

    def test_mattermost_text_and_attachments(self):
        for (r, body), alert in zip(self.bodies("mattermost"), (self.normal, self.long)):
            self.assertIsInstance(body["text"], str)
            self.assertTrue(body["text"])
            self.assertLessEqual(len(r.body), 16383 * 4)
            self.assertIsInstance(body["attachments"], list)
            for a in body["attachments"]:
                self.assertIsInstance(a["fallback"], str)
                for fld in a.get("fields", []):
                    self.assertIsInstance(fld["title"], str)
                    self.assertIsInstance(fld["value"], str)
                    self.assertIsInstance(fld["short"], bool)
        self.assertShows(self.bodies("mattermost")[0][1])

    def test_pagerduty_events_v2(self):
        key = "R0UT1NGKEY0123456789abcdef012345"
        for (r, body), alert in zip(self.bodies("pagerduty"), (self.normal, self.long)):
            self.assertEqual(body["routing_key"], key)
            self.assertEqual(body["event_action"], "trigger")
            self.assertEqual(body["dedup_key"], alert["alert_id"])
            p = body["payload"]
            self.assertTrue(p["summary"])
            self.assertLessEqual(len(p["summary"]), 1024)
            self.assertTrue(p["source"])
            self.assertIn(p["severity"], ("critical", "error", "warning", "info"))
            # Severity high / risk 73 is PagerDuty's "error".
            self.assertEqual(p["severity"], "error")
            self.assertRegex(p["timestamp"],
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
            self.assertIsInstance(p["custom_details"], dict)
            self.assertLess(len(r.body), 512 * 1024)
        (r, body), _ = self.bodies("pagerduty")
        self.assertEqual(body["payload"]["timestamp"], EVENT_TIME)
        self.assertShows(body, severity="error")
        self.assertGreater(len(self.bodies("pagerduty")[1][1]["payload"]["summary"]), 1000,
                           "the long summary is cut near the 1024 limit, not dropped")

    def test_opsgenie_alert(self):
        for (r, body), alert in zip(self.bodies("opsgenie"), (self.normal, self.long)):
            self.assertEqual(r.headers.get("Authorization"),
                             "GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889")
            self.assertTrue(body["message"])
            self.assertLessEqual(len(body["message"]), 130)
            self.assertEqual(body["alias"], alert["alert_id"])
            self.assertLessEqual(len(body["description"]), 15000)
            # Severity high / risk 73 is Opsgenie's P2.
            self.assertEqual(body["priority"], "P2")
            self.assertIsInstance(body["details"], dict)
            for tag in body.get("tags", []):
                self.assertLessEqual(len(tag), 50)
            self.assertLessEqual(len(body.get("tags", [])), 20)
            self.assertLessEqual(len(body.get("entity", "")), 512)
        self.assertShows(self.bodies("opsgenie")[0][1], severity="P2")

    def test_opsgenie_details_are_a_string_map_within_8000_characters(self):
        # Opsgenie's Create Alert API: details is a map of string keys to string values, 8000
        # characters in total.
        problems = []
        for (r, body), which in zip(self.bodies("opsgenie"), ("ordinary", "long")):
            for k, v in body["details"].items():
                if not isinstance(v, str):
                    problems.append("%s alert: details.%s is %r, not a string" % (which, k, v))
            size = sum(len(k) + len(v if isinstance(v, str) else json.dumps(v))
                       for k, v in body["details"].items())
            if size > 8000:
                problems.append("%s alert: details hold %d characters" % (which, size))
        self.assertEqual(problems, [])

    def test_jira_issue_create(self):
        for (r, body), alert in zip(self.bodies("jira"), (self.normal, self.long)):
            want = "Basic " + base64.b64encode(b"soc@example.com:ATATT3xFfGF0-token").decode()
            self.assertEqual(r.headers.get("Authorization"), want)
            f = body["fields"]
            self.assertEqual(f["project"], {"key": "SEC"})
            self.assertEqual(f["issuetype"], {"name": "Task"})
            self.assertTrue(f["summary"])
            self.assertLessEqual(len(f["summary"]), 255)
            self.assertNotIn("\n", f["summary"])
            self.assertIsInstance(f["description"], str)
            self.assertLessEqual(len(f["description"]), 32767)
            self.assertIn("alert-" + alert["alert_id"], f["labels"])
            for label in f["labels"]:
                self.assertNotRegex(label, r"\s")
                self.assertLessEqual(len(label), 255)
        self.assertShows(self.bodies("jira")[0][1])

    def test_jira_shows_the_severity_without_a_priority_field(self):
        # Many Jira projects refuse a priority field on create: the severity goes in the summary.
        (r, body), _ = self.bodies("jira")
        self.assertNotIn("priority", body["fields"])
        self.assertTrue(body["fields"]["summary"].startswith("[high] "), body["fields"]["summary"])

    def test_a_long_value_is_cut_without_losing_the_other_facts(self):
        # The long alert's 300-character host and 9 000-character registry path are cut to the
        # receiver's limits; rule, user, process, value, data and time must still show.
        facts = {"rule": RULE, "user": USER, "process": PROCESS, "time": EVENT_TIME}
        for fmt in FORMATS:
            (r, body) = self.bodies(fmt)[1]
            sev = {"pagerduty": "error", "opsgenie": "P2"}.get(fmt, "high")
            with self.subTest(format=fmt):
                self.assertShows(body, facts=dict(facts, severity=sev))
                self.assertIn("WKS-LLLLLLLLLL", strings(body), "the host is gone")

    def test_every_id_is_the_alert_id(self):
        for fmt in set(FORMATS) - {"mattermost"}:
            for (r, body), alert in zip(self.bodies(fmt), (self.normal, self.long)):
                self.assertIn(alert["alert_id"], strings(body), fmt)


# ---- Signatures and authentication ----------------------------------------------------------

class SigningTest(Base):
    def test_the_verifiers_pass_the_spec_vectors(self):
        ws.self_test()

    def test_standard_webhooks_v1_v1a_and_github(self):
        whsec = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        seed = os.urandom(32)
        github = "It's a Secret to Everybody"
        h = self.http
        s = self.serve([
            target("std", h.url("/std"), signing__scheme="standard-webhooks",
                   signing__secret_file=self.secret_file("whsec", whsec)),
            target("ed", h.url("/ed"), signing__scheme="standard-webhooks-ed25519",
                   signing__secret_env="AMSIWATCH_TEST_ED25519"),
            target("gh", h.url("/gh"), format="slack", signing__scheme="github",
                   signing__secret_env="AMSIWATCH_TEST_GITHUB"),
        ], env={"AMSIWATCH_TEST_ED25519": base64.b64encode(seed).decode(),
                "AMSIWATCH_TEST_GITHUB": github})
        send(s, [event_line(10), event_line(11)])
        for p in ("/std", "/ed", "/gh"):
            self.assertEqual(len(h.wait_count(p, 2, 20)), 2, p)
        ids = {d["alert_id"] for d in export(self.data)}
        self.assertEqual(len(ids), 2)
        for r in h.requests("/std"):
            self.assertIsNone(ws.verify_standard_v1(whsec, r.headers, r.body))
            self.assertEqual(r.headers["webhook-id"], json.loads(r.body)["alert_id"])
            self.assertRegex(r.headers["webhook-signature"], r"^v1,[A-Za-z0-9+/]{43}=$")
            # A changed body, id or timestamp does not verify.
            self.assertIsNotNone(ws.verify_standard_v1(whsec, r.headers, r.body + b" "))
            other = dict(r.headers.items())
            other["webhook-id"] = "x" + other["webhook-id"]
            self.assertIsNotNone(ws.verify_standard_v1(whsec, other, r.body))
        for r in h.requests("/gh"):
            self.assertIsNone(ws.verify_github(github, r.headers, r.body))
            self.assertIsNotNone(ws.verify_github(github + "x", r.headers, r.body))
        self.assertEqual({r.headers["webhook-id"] for r in h.requests("/std")}, ids)
        self.assertEqual({r.headers["webhook-id"] for r in h.requests("/ed")}, ids)
        log = s.log()
        self.assertNotIn(whsec[6:], log)
        self.assertNotIn(base64.b64encode(seed).decode(), log)
        self.assertNotIn(github, log)
        if ws.ed25519_verify is None:
            self.skipTest("v1a not verified: no Ed25519 module (python3-cryptography or "
                          "python3-nacl)")
        pub = ws.ed25519_public_key(seed)
        for r in h.requests("/ed"):
            self.assertIsNone(ws.verify_standard_v1a(pub, r.headers, r.body))
            self.assertEqual(r.headers["webhook-id"], json.loads(r.body)["alert_id"])
            self.assertRegex(r.headers["webhook-signature"], r"^v1a,[A-Za-z0-9+/]{86}==$")
            self.assertIsNotNone(ws.verify_standard_v1a(pub, r.headers, r.body[:-1]))
            self.assertIsNotNone(ws.verify_standard_v1a(ws.ed25519_public_key(os.urandom(32)),
                                                        r.headers, r.body))

    def test_bearer_basic_and_custom_headers_and_secrets_stay_out_of_the_log(self):
        h = self.http
        token = "tok-" + base64.b32encode(os.urandom(10)).decode()
        password = "pw-" + base64.b32encode(os.urandom(10)).decode()
        s = self.serve([
            target("bearer", h.url("/bearer"), auth__type="bearer",
                   auth__secret_file=self.secret_file("token", token),
                   **{"headers__X-Team": "secops", "headers__X-Env": "test-1"}),
            target("basic", h.url("/basic"), auth__type="basic", auth__username="amsi",
                   auth__secret_env="AMSIWATCH_TEST_PASSWORD"),
        ], env={"AMSIWATCH_TEST_PASSWORD": password})
        send(s, [event_line(20)])
        r = h.wait_count("/bearer", 1, 20)[0]
        self.assertEqual(r.headers["Authorization"], "Bearer " + token)
        self.assertEqual(r.headers["X-Team"], "secops")
        self.assertEqual(r.headers["X-Env"], "test-1")
        r = h.wait_count("/basic", 1, 20)[0]
        self.assertEqual(r.headers["Authorization"],
                         "Basic " + base64.b64encode(("amsi:" + password).encode()).decode())
        self.assertNotIn("X-Team", r.headers)
        self.assertEqual(self.stop(s), 0)
        self.assertNotIn(token, s.log())
        self.assertNotIn(password, s.log())


# ---- Retries --------------------------------------------------------------------------------

class RetryTest(Base):
    def one(self, answers, timeout=20, n=2, **kw):
        """One alert to a target answering ANSWERS first; returns its requests once N arrived."""
        self.http.script("/t", answers)
        s = self.serve([target("t", self.http.url("/t"), signing__scheme="standard-webhooks",
                               signing__secret_env="WH", **kw)],
                       env={"WH": "whsec_" + base64.b64encode(b"k" * 32).decode()})
        send(s, [event_line(30)])
        reqs = self.http.wait_count("/t", n, timeout)
        self.assertEqual(len(reqs), n, [r.status for r in reqs])
        return s, reqs

    def assertSameAlert(self, reqs):
        ids = {r.headers["webhook-id"] for r in reqs}
        self.assertEqual(len(ids), 1, "a retry carries another webhook-id: %s" % ids)
        self.assertEqual({json.loads(r.body)["alert_id"] for r in reqs}, ids)
        self.assertEqual(len({r.body for r in reqs}), 1)

    def test_500_then_200_is_delivered_once_the_server_recovers(self):
        s, reqs = self.one([ws.reply(500), ws.reply(503), ws.reply(200)], n=3)
        self.assertEqual([r.status for r in reqs], [500, 503, 200])
        self.assertSameAlert(reqs)
        g1, g2 = reqs[1].mono - reqs[0].mono, reqs[2].mono - reqs[1].mono
        # 1 s then 2 s (the max-backoff), each with up to 25 % jitter either way.
        self.assertGreaterEqual(g1, 0.7, "first retry after %.2f s" % g1)
        self.assertLessEqual(g1, 1.6, "first retry after %.2f s" % g1)
        self.assertGreaterEqual(g2, 1.4, "second retry after %.2f s" % g2)
        self.assertLessEqual(g2, 2.9, "second retry after %.2f s" % g2)
        time.sleep(1.5)
        self.assertEqual(len(self.http.requests("/t")), 3, "sent again after a 200")
        self.assertEqual(self.stop(s), 0)
        self.assertRegex(s.log(), r"t: attempt 1 failed \(HTTP 500")
        self.assertRegex(s.log(), r"t: 1 delivered, 2 retries, 0 dead")

    def test_429_retry_after_seconds(self):
        s, reqs = self.one([ws.retry_after(429, seconds=2)])
        self.assertEqual([r.status for r in reqs], [429, 200])
        self.assertSameAlert(reqs)
        gap = reqs[1].mono - reqs[0].mono
        # Retry-After wins over the first backoff (1 s +- 25 %).
        self.assertGreaterEqual(gap, 1.95, "retried after %.2f s, not 2" % gap)
        self.assertLessEqual(gap, 3.0, "retried after %.2f s, not 2" % gap)

    def test_503_retry_after_http_date(self):
        # An HTTP-date has whole seconds: ask for the retry at a whole second 3-4 s from now.
        when = int(time.time()) + 4
        s, reqs = self.one([ws.retry_after(503, when=when)])
        self.assertEqual([r.status for r in reqs], [503, 200])
        self.assertSameAlert(reqs)
        early = when - reqs[1].time
        self.assertGreaterEqual(reqs[1].time, when - 1.05,
                                "retried %.2f s before the Retry-After date" % early)
        self.assertLessEqual(reqs[1].time, when + 1.5,
                             "retried %.2f s after the Retry-After date" % (reqs[1].time - when))
        self.assertGreater(reqs[1].mono - reqs[0].mono, 2.0)

    def test_a_hung_request_times_out_and_is_sent_again_with_the_same_id(self):
        s, reqs = self.one([ws.hang(3)])
        self.assertEqual([r.status for r in reqs], [None, 200])
        self.assertSameAlert(reqs)
        gap = reqs[1].mono - reqs[0].mono
        # The 1 s timeout, then the 1 s backoff (+-25 %).
        self.assertGreaterEqual(gap, 1.6, "retried %.2f s after a hung request" % gap)
        self.assertLessEqual(gap, 3.0, "retried %.2f s after a hung request" % gap)
        self.assertRegex(s.log(), r"t: attempt 1 failed \(connection 28")

    def test_a_high_rate_is_not_capped_by_the_delivery_loop(self):
        # rate: 1000/s and a receiver answering at once: 40 queued alerts go out in well under
        # 2 s (a loop that waits for its 100 ms poll after each answer needs 4 s).
        s = self.serve([target("t", self.http.url("/t"), rate="1000")])
        send(s, [b"".join(event_line(200 + i) for i in range(40))])
        self.assertEqual(len(wait_journaled(self.data, 40)), 40)
        reqs = self.http.wait_count("/t", 40, 30)
        self.assertEqual(len(reqs), 40)
        gaps = sorted(b.mono - a.mono for a, b in zip(reqs, reqs[1:]))
        span = reqs[-1].mono - reqs[0].mono
        self.assertLess(span, 2.0, "40 requests to a target allowed 1000/s took %.1f s (median "
                                   "gap between requests %.0f ms)" %
                        (span, gaps[len(gaps) // 2] * 1000))

    def test_rate_limit(self):
        s = self.serve([target("t", self.http.url("/t"), rate="2/s")])
        send(s, [event_line(40 + i) for i in range(7)])
        reqs = self.http.wait_count("/t", 7, 30)
        self.assertEqual(len(reqs), 7)
        span = reqs[-1].mono - reqs[0].mono
        # A bucket of 2 tokens refilled at 2/s: at least 5 waits of 0.5 s.
        self.assertGreaterEqual(span, 2.3, "7 requests at 2/s took only %.2f s" % span)
        for a, b in zip(reqs, reqs[3:]):
            self.assertGreaterEqual(b.mono - a.mono, 0.9, "4 requests within %.2f s at 2/s" %
                                    (b.mono - a.mono))


# ---- Text a format must cut or mend -----------------------------------------------------------

# 300 bytes of 3- and 2-byte characters: a cut by byte count lands inside one.
MULTI = "\u20ac\u00e9" * 60
assert len(MULTI.encode()) == 300
# Bytes that are not UTF-8, a different kind in each text field an event carries into an alert.
BAD = {
    "host": b"WKS-\xff\xfe-07",                                  # bytes never in UTF-8
    "user": b"j.\xc3doe",                                        # a lead byte cut short
    "process": b"C:\\\\Temp\\\\p\xed\xa0\x80.exe",               # a surrogate
    "path": (b"HKU\\\\S-1-5-21-1\\\\Software\\\\\xc0\xaf\\\\Microsoft\\\\Windows Script\\\\"
             b"Settings\\\\AmsiEnable"),                         # an overlong form
    "data": b"\xf4\x90\x80\x80",                                 # above U+10FFFF
}


def ecs_line(record, host=b"WKS-UTF8-01", user=b"j.doe", process=b"C:\\\\Temp\\\\p.exe",
             path=(b"HKU\\\\S-1-5-21-1\\\\Software\\\\Microsoft\\\\Windows Script\\\\Settings\\\\"
                   b"AmsiEnable"), data=(b"0",)):
    """A Sysmon 13 event after Elastic's pipeline (registry.data.strings an array) as a syslog
    line, the text fields given as raw bytes (any bytes)."""
    doc = (b'{"@timestamp":"2026-01-14T08:21:07.412Z","event":{"code":"13","kind":"event",'
           b'"module":"sysmon","provider":"Microsoft-Windows-Sysmon","category":["registry"],'
           b'"type":["change"]},"host":{"name":"' + host + b'","os":{"type":"windows",'
           b'"family":"windows","platform":"windows"}},"process":{"executable":"' + process +
           b'"},"registry":{"path":"' + path + b'","value":"AmsiEnable","data":{"strings":[' +
           b",".join(b'"' + d + b'"' for d in data) + b'],"type":"REG_MULTI_SZ"}},'
           b'"user":{"name":"' + user + b'"},"winlog":{"channel":'
           b'"Microsoft-Windows-Sysmon/Operational","event_id":"13","record_id":%d,'
           b'"provider_name":"Microsoft-Windows-Sysmon"}}' % record)
    return b"<14>1 2026-01-14T08:21:07.415Z WKS-UTF8-01 winlogbeat - - - " + doc + b"\n"


class TextTest(Base):
    """One server, a target per format, four alerts in a row: registry.data.strings holding "0"
    and 300 bytes of multi-byte characters (more than the 256 bytes the formats join them into),
    an ordinary one, one with bytes that are not UTF-8 in every text field, an ordinary one. Every
    format delivers all four, in journal order, as valid UTF-8: a cut between two characters, bad
    bytes as U+FFFD. (A cut inside a character made jansson refuse the text: PagerDuty's body
    could not be built and its target retried the alert every minute for ever; the chat formats
    dropped the Data fact.)"""

    RECORDS = [101, 102, 103, 104]

    @classmethod
    def setUpClass(cls):
        cls.fixture = Base("run")
        cls.fixture.setUp()
        f = cls.fixture
        h = f.http
        routing = f.secret_file("routing-key", "R0UT1NGKEY0123456789abcdef012345")
        targets = []
        for fmt, (path, answer) in FORMATS.items():
            h.default(path, answer)
            t = target(fmt, h.url(path), format=fmt, timeout="20s")
            if fmt == "pagerduty":
                t["pagerduty.routing-key-file"] = routing
            if fmt == "jira":
                t["jira.project"] = "SEC"
            targets.append(t)
        cls.serve = f.serve(targets)
        send(cls.serve, [ecs_line(101, data=(b"0", MULTI.encode())), ecs_line(102),
                         ecs_line(103, host=BAD["host"], user=BAD["user"], process=BAD["process"],
                                  path=BAD["path"], data=(b"0", BAD["data"])),
                         ecs_line(104)])
        journaled = wait_journaled(f.data, 4, 60)
        ids = [d["alert_id"] for d in journaled]
        for path, _ in FORMATS.values():  # until the last alert arrived at every target
            h.wait_for(lambda reqs, path=path: any(
                r.path == path and ids[-1] in r.body.decode("utf-8", "replace") for r in reqs), 60)
        cls.docs = {record_of(d): d for d in journaled}
        # Workers may journal events of one connection in another order: delivery follows the
        # journal.
        cls.order = [record_of(d) for d in journaled]

    @classmethod
    def tearDownClass(cls):
        cls.fixture.tearDown()

    def setUp(self):
        pass

    def tearDown(self):
        pass

    def test_the_alerts_were_journaled_with_the_text_mended(self):
        self.assertEqual(sorted(self.docs), self.RECORDS)
        bad = self.docs[103]["fields"]
        for key in ("host.name", "user.name", "process.executable", "registry.path"):
            self.assertIn("\ufffd", bad[key], key)
        self.assertEqual(bad["registry.data.strings"][0], "0")
        self.assertIn("\ufffd", bad["registry.data.strings"][1])

    def check_format(self, fmt):
        reqs = self.fixture.http.requests(FORMATS[fmt][0])
        self.assertEqual(len(self.ok(reqs)), len(reqs), [r.status for r in reqs])
        ids = {d["alert_id"]: rec for rec, d in self.docs.items()}
        bodies = []
        for r in reqs:
            text = r.body.decode("utf-8")  # strict: raises on a character cut in half
            bodies.append(json.loads(text))
        got = []
        for b in bodies:
            t = strings(b)
            got.append(next(rec for aid, rec in ids.items() if aid in t))
        # Each alert once, in journal order; on a very busy machine a request may time out and
        # go again (at least once), right after itself.
        once = [rec for i, rec in enumerate(got) if i == 0 or got[i - 1] != rec]
        self.assertEqual(once, self.order, "%s: %s: the target stalled, or the alerts came out "
                                           "of journal order" % (fmt, got))
        body = dict(zip(got, bodies))
        long, bad = strings(body[101]), strings(body[103])
        if fmt == "generic":
            self.assertEqual(body[101]["fields"]["registry.data.strings"], ["0", MULTI])
        else:
            # The data shown: "0, " then the characters that fit, whole, and an ellipsis.
            m = re.search("0, ([\u20ac\u00e9]+)(\u2026?)", long)
            self.assertIsNotNone(m, "%s: the data is not shown: %s" % (fmt, long[:800]))
            shown = m.group(1)
            self.assertTrue(MULTI.startswith(shown), shown)
            self.assertGreaterEqual(len(shown.encode()), 200, "%s: %r" % (fmt, shown))
            self.assertLess(len(shown.encode()), 300)
        # Bad bytes as U+FFFD, in the facts the format shows.
        self.assertIn("WKS-\ufffd\ufffd-07", bad)
        self.assertIn("\ufffd", bad.replace("WKS-\ufffd\ufffd-07", ""))
        for rec in (101, 102, 104):
            self.assertNotIn("\ufffd", strings(body[rec]))

    def test_generic(self):
        self.check_format("generic")

    def test_slack(self):
        self.check_format("slack")

    def test_teams(self):
        self.check_format("teams")

    def test_discord(self):
        self.check_format("discord")

    def test_mattermost(self):
        self.check_format("mattermost")

    def test_pagerduty(self):
        self.check_format("pagerduty")

    def test_opsgenie(self):
        self.check_format("opsgenie")

    def test_jira(self):
        self.check_format("jira")

    def test_every_format_of_the_program_is_covered(self):
        # The rows of the formats table: [FMT_X] = {FMT_X, "name", ...
        with open(os.path.join(ROOT, "notify", "formats.c")) as f:
            names = re.findall(r'\[FMT_\w+\]\s*=\s*\{\s*FMT_\w+,\s*"(\w+)"', f.read())
        self.assertEqual(set(names), set(FORMATS))


# ---- Permanent failures ---------------------------------------------------------------------

def dead_list(path):
    """The dead letters at PATH: [(sequence, reason)], one a line ("SEQ<TAB>REASON")."""
    with open(path, encoding="utf-8") as f:  # strict: the reasons are valid UTF-8
        return [tuple(l.split("\t", 1)) if "\t" in l else (l, "") for l in f.read().splitlines()]


class PermanentTest(Base):
    def test_400_is_dead_not_retried_and_replay_dead_sends_it_again(self):
        h = self.http
        h.script("/t", [ws.reply(400, b'{"error":"bad payload"}')])
        s = self.serve([target("t", h.url("/t"))])
        send(s, [event_line(50)])
        first = h.wait_count("/t", 1, 20)
        send(s, [event_line(51)])
        reqs = h.wait_count("/t", 2, 20)
        self.assertEqual([r.status for r in reqs], [400, 200])
        dead_id = json.loads(reqs[0].body)["alert_id"]
        time.sleep(3)  # more than the longest backoff: a retry would show
        self.assertEqual(len(h.requests("/t")), 2, "the refused alert was retried")
        m = s.wait_log(r"t: alert (\w+) \(sequence (\d+)\) refused \(HTTP 400\b.*\): marked dead",
                       5)
        self.assertIsNotNone(m, s.log())
        self.assertEqual(m.group(1), dead_id)
        self.assertIn("amsiwatch journal replay --target t --dead", s.log())
        self.assertEqual(self.stop(s), 0)
        self.assertRegex(s.log(), r"t: 1 delivered, 0 retries, 1 dead")
        dead = os.path.join(self.data, "cursors", "t.dead")
        # With its reason: the status and the start of the answer, on one line.
        self.assertEqual(dead_list(dead), [(m.group(2), 'HTTP 400: {"error":"bad payload"}')])
        # Still refused: it stays dead.
        h.script("/t", [ws.reply(422)])
        p = self.replay("t", "--dead")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("0 sent, 1 refused", p.stdout)
        self.assertEqual([seq for seq, _ in dead_list(dead)], [m.group(2)])
        # Accepted: it leaves the dead list.
        n = len(h.requests("/t"))
        p = self.replay("t", "--dead")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 sent, 0 refused", p.stdout)
        again = h.requests("/t")[n:]
        self.assertEqual([r.status for r in again], [200])
        self.assertEqual(json.loads(again[0].body)["alert_id"], dead_id)
        self.assertEqual(dead_list(dead), [])
        p = self.replay("t", "--dead")
        self.assertEqual(p.returncode, 0)
        self.assertIn("0 sent, 0 refused", p.stdout)
        self.assertEqual(len(h.requests("/t")), n + 1)

    def test_an_alert_refused_while_replay_dead_runs_stays_on_the_dead_list(self):
        # The log tells the operator to run `journal replay --dead`; amsiwatch keeps running
        # meanwhile and may mark more alerts dead.
        h = self.http
        h.script("/t", [ws.reply(400), ws.reply(400)])
        s = self.serve([target("t", h.url("/t"), timeout="10s")])
        send(s, [event_line(55), event_line(56)])
        self.assertEqual(len(h.wait_count("/t", 2, 20)), 2)
        self.assertIsNotNone(s.wait_log(r"(?s)marked dead.*marked dead", 5))
        dead = os.path.join(self.data, "cursors", "t.dead")
        before = dead_list(dead)
        self.assertEqual(len(before), 2)
        # The replay's first request is slow; meanwhile another alert is refused and marked dead.
        h.script("/t", [ws.reply(200, delay=2), ws.reply(400), ws.reply(200)])
        replay = subprocess.Popen(
            [BINARY, "journal", "replay", "--target", "t", "--dead", "--config",
             os.path.join(self.dir, "amsiwatch.yml"), "--data-dir", self.data],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        h.wait_count("/t", 3, 10)
        send(s, [event_line(57)])
        m = s.wait_log(r"t: alert \w+ \(sequence (3)\) refused \(HTTP 400\): marked dead", 10)
        self.assertIsNotNone(m, s.log())
        out, err = replay.communicate(timeout=60)
        self.assertEqual(replay.returncode, 0, out + err)
        self.assertIn("2 sent, 0 refused", out)
        after = [seq for seq, _ in dead_list(dead)]
        self.assertEqual(after, ["3"], "alert 3 was marked dead during the replay but is no "
                                       "longer on the dead list: `replay --dead` will never "
                                       "send it")

    def test_a_4xx_with_a_hostile_body_is_dead_with_a_one_line_reason(self):
        # The reason comes from the receiver: newlines, tabs and bytes that are not UTF-8 must
        # not break the dead list (one alert a line) or the replay that reads it.
        h = self.http
        h.script("/t", [ws.reply(403, b"no\n\tway\xff\xc3 " + b"x" * 1000)])
        s = self.serve([target("t", h.url("/t"))])
        send(s, [event_line(58), event_line(59)])
        reqs = h.wait_count("/t", 2, 20)
        self.assertEqual([r.status for r in reqs], [403, 200])
        self.assertIsNotNone(s.wait_log(r"refused \(HTTP 403: no way\ufffd\ufffd x+\): marked dead",
                                        5), s.log())
        self.assertEqual(self.stop(s), 0)
        dead = dead_list(os.path.join(self.data, "cursors", "t.dead"))
        self.assertEqual(len(dead), 1)
        self.assertEqual(dead[0][0], "1")
        self.assertRegex(dead[0][1], "^HTTP 403: no way\ufffd\ufffd x+$")
        self.assertLess(len(dead[0][1].encode()), 400)
        p = self.replay("t", "--dead")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 sent, 0 refused", p.stdout)
        self.assertEqual(dead_list(os.path.join(self.data, "cursors", "t.dead")), [])

    def test_an_alert_that_cannot_be_formatted_is_dead_and_the_next_is_delivered(self):
        # A body that cannot be built would fail the same way at every attempt: it used to be
        # retried every minute for ever, and the alerts after it never went out.
        h = self.http
        s = self.serve([target("t", h.url("/t"), format="slack")],
                       env={"AMSIWATCH_FAULT": "delivery.format:1=EIO*1"})
        send(s, [event_line(70), event_line(71)])
        reqs = h.wait_count("/t", 1, 20)
        # Sequence 1 is whichever of the two the journal took first: the workers may match the
        # events of one window in either order.
        first, second = [d["alert_id"] for d in wait_journaled(self.data, 2)]
        self.assertIn(second, reqs[0].body.decode())
        m = s.wait_log(r"t: alert (\w+) \(sequence 1\) refused \(cannot be formatted as slack\): "
                       r"marked dead", 5)
        self.assertIsNotNone(m, s.log())
        self.assertEqual(self.stop(s), 0)
        self.assertEqual(dead_list(os.path.join(self.data, "cursors", "t.dead")),
                         [("1", "cannot be formatted as slack")])
        p = self.replay("t", "--dead")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 sent, 0 refused", p.stdout)
        again = h.requests("/t")
        self.assertEqual(len(again), 2)
        self.assertEqual(m.group(1), first)
        self.assertIn(first, again[1].body.decode())

    def test_410_disables_its_target_and_the_others_keep_receiving(self):
        h = self.http
        h.default("/gone", ws.reply(410))
        s = self.serve([target("gone", h.url("/gone")), target("fine", h.url("/fine"))])
        send(s, [event_line(60)])
        h.wait_count("/gone", 1, 20)
        self.assertIsNotNone(s.wait_log(r"gone: HTTP 410 Gone.*disabled", 5), s.log())
        send(s, [event_line(61), event_line(62)])
        self.assertEqual(len(h.wait_count("/fine", 3, 20)), 3)
        time.sleep(3)
        self.assertEqual(len(h.requests("/gone")), 1, "a disabled target was sent more")
        self.assertEqual(len(h.requests("/fine")), 3)
        self.assertEqual(self.stop(s), 0)
        # Its alerts are still owed: the next start sends them (the receiver is back).
        h.default("/gone", ws.reply(200))
        s = self.serve([target("gone", h.url("/gone")), target("fine", h.url("/fine"))])
        got = h.wait_count("/gone", 3, 20, status=200)
        time.sleep(1)
        self.assertEqual(len(h.requests("/gone", status=200)), 3)
        self.assertEqual([json.loads(r.body)["alert_id"] for r in got],
                         [d["alert_id"] for d in export(self.data)])
        self.assertEqual(len(h.requests("/fine")), 3)


# ---- Outages --------------------------------------------------------------------------------

class OutageTest(Base):
    def delivered_ids(self, h, path):
        return [r.headers["webhook-id"] for r in self.ok(h.requests(path))]

    def signed(self, name, url, **kw):
        return target(name, url, signing__scheme="standard-webhooks", signing__secret_env="WH",
                      **kw)

    ENV = {"WH": "whsec_" + base64.b64encode(b"s" * 24).decode()}

    def test_a_target_down_for_a_while_receives_everything_in_order_once_back(self):
        down = self.webhook_server()
        up = self.http
        down.down()
        s = self.serve([self.signed("down", down.url("/t")), self.signed("up", up.url("/t"))],
                       env=self.ENV)
        send(s, [event_line(70 + i) for i in range(5)])
        self.assertEqual(len(up.wait_count("/t", 5, 20)), 5)
        send(s, [event_line(75 + i) for i in range(3)], gap=0.3)
        self.assertEqual(len(up.wait_count("/t", 8, 20)), 8)
        time.sleep(3)
        self.assertRegex(s.log(), r"down: attempt 1 failed \(connection 7")
        down.up()
        reqs = down.wait_count("/t", 8, 20)
        journal_order = [d["alert_id"] for d in export(self.data)]
        self.assertEqual(len(journal_order), 8)
        self.assertEqual(self.delivered_ids(down, "/t"), journal_order)
        self.assertEqual(self.delivered_ids(up, "/t"), journal_order)
        self.assertEqual(self.stop(s), 0)

    def restart_in_an_outage(self, sig):
        h = self.http
        h.down()
        s = self.serve([self.signed("t", h.url("/t"))], env=self.ENV)
        send(s, [event_line(80 + i) for i in range(5)])
        self.assertEqual(len(wait_journaled(self.data, 5)), 5)
        self.assertIsNotNone(s.wait_log(r"t: attempt 1 failed", 10))
        rc = self.stop(s, sig)
        self.assertEqual(rc, 0 if sig == signal.SIGTERM else -signal.SIGKILL)
        s = self.serve([self.signed("t", h.url("/t"))], env=self.ENV)
        send(s, [event_line(85 + i) for i in range(3)])
        self.assertEqual(len(wait_journaled(self.data, 8)), 8)
        time.sleep(1)
        h.up()
        journal_ids = [d["alert_id"] for d in export(self.data)]
        got = h.wait_for(lambda reqs: set(journal_ids) <= {r.headers["webhook-id"] for r in reqs
                                                           if r.status == 200}, 30)
        delivered = self.delivered_ids(h, "/t")
        self.assertTrue(got, "missing after the restart: %s" %
                        (set(journal_ids) - set(delivered)))
        # In journal order (a duplicate, if any, repeats an id already seen).
        firsts = []
        for i in delivered:
            if i not in firsts:
                firsts.append(i)
        self.assertEqual(firsts, journal_ids)
        for r in self.ok(h.requests("/t")):
            self.assertEqual(r.headers["webhook-id"], json.loads(r.body)["alert_id"])
        self.assertEqual(self.stop(s), 0)

    def test_a_restart_during_an_outage_loses_nothing(self):
        self.restart_in_an_outage(signal.SIGTERM)

    def test_a_kill_during_an_outage_loses_nothing(self):
        self.restart_in_an_outage(signal.SIGKILL)


# ---- Noise control --------------------------------------------------------------------------

class NoiseTest(Base):
    def test_max_signals_three_per_interval_then_one_summary(self):
        h = self.http
        s = self.serve([target("t", h.url("/t"), max_signals="3", max_signals_interval="3s")])
        send(s, [event_line(100 + i) for i in range(10)])
        docs = wait_journaled(self.data, 10)
        self.assertEqual(len(docs), 10)
        reqs = h.wait_count("/t", 4, 20)
        time.sleep(1)
        bodies = h.bodies("/t")
        self.assertEqual(len(bodies), 4, [b.get("alert_id") or b.get("title") for b in bodies])
        ids = [d["alert_id"] for d in docs]
        self.assertEqual([b.get("alert_id") for b in bodies[:3]], ids[:3])
        summary = bodies[3]
        self.assertEqual(summary.get("type"), "summary", summary)
        self.assertRegex(summary["title"], r"\b7 more\b")
        self.assertRegex(summary["text"], r"\b7 alerts\b")
        m = re.search(r"(amsiwatch journal list [^\n]*?)(?:\.?$|\.\s)", summary["text"])
        self.assertIsNotNone(m, "the summary does not say how to list them: %r" % summary["text"])
        # The command it gives lists exactly the 7 held back.
        argv = shlex.split(m.group(1))
        p = subprocess.run([BINARY] + argv[1:] + ["-d", self.data], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        listed = [l.split()[2] for l in p.stdout.splitlines() if l.strip()]
        self.assertEqual(sorted(listed), sorted(ids[3:]),
                         "`%s` lists %d alerts, not the 7 held back, detected at %s" %
                         (m.group(1), len(listed), [d["@timestamp"] for d in docs[3:]]))
        # The next interval notifies again.
        send(s, [event_line(110), event_line(111)])
        self.assertEqual(len(h.wait_count("/t", 6, 20)), 6)
        self.assertEqual([b.get("alert_id") for b in h.bodies("/t")[4:]],
                         [d["alert_id"] for d in wait_journaled(self.data, 12)[10:]])
        self.assertEqual(self.stop(s), 0)
        self.assertRegex(s.log(), r"t: 5 delivered, 0 retries, 0 dead, 7 held back, 0 suppressed, "
                                  r"1 summaries")

    def test_max_signals_summary_in_a_chat_format(self):
        h = self.http
        s = self.serve([target("t", h.url("/t"), format="teams", max_signals="1",
                               max_signals_interval="2s")])
        send(s, [event_line(120 + i) for i in range(3)])
        reqs = h.wait_count("/t", 2, 20)
        self.assertEqual(len(reqs), 2)
        card = json.loads(reqs[1].body)["attachments"][0]["content"]
        self.assertEqual(card["version"], "1.2")
        self.assertRegex(strings(card), r"\b2 more\b")
        self.assertIn("amsiwatch journal list", strings(card))

    def test_suppression_under_the_rate_limit_still_notifies_each_host_once(self):
        # Two hosts, one alert each, at a rate of 1/s (Slack's): two notifications, nothing
        # suppressed (no host repeats).
        h = self.http
        s = self.serve([target("t", h.url("/t"), rate="1/s", suppress__fields="host.name",
                               suppress__window="2s")])
        send(s, [event_line(150, host="HOST-A"), event_line(151, host="HOST-B")])
        self.assertEqual(len(wait_journaled(self.data, 2)), 2)
        h.wait_count("/t", 2, 10)
        time.sleep(3)
        bodies = h.bodies("/t")
        self.assertEqual([b.get("fields", {}).get("host.name") or b.get("title") for b in bodies],
                         ["HOST-A", "HOST-B"])
        self.assertEqual(self.stop(s), 0)
        self.assertRegex(s.log(), r"t: 2 delivered, 0 retries, 0 dead, 0 held back, "
                                  r"0 suppressed")

    def test_suppression_by_host_one_per_host_then_a_summary_with_the_count(self):
        h = self.http
        s = self.serve([target("t", h.url("/t"), suppress__fields="host.name",
                               suppress__window="3s")])
        hosts = ["HOST-A", "HOST-B"] * 3
        send(s, [event_line(130 + i, host=x) for i, x in enumerate(hosts)])
        docs = wait_journaled(self.data, 6)
        self.assertEqual(len(docs), 6)
        h.wait_count("/t", 4, 20)
        time.sleep(1)
        bodies = h.bodies("/t")
        alerts = [b for b in bodies if "alert_id" in b]
        summaries = [b for b in bodies if b.get("type") == "summary"]
        self.assertEqual(len(bodies), 4, bodies)
        self.assertEqual(sorted(a["fields"]["host.name"] for a in alerts), ["HOST-A", "HOST-B"])
        self.assertEqual(len(summaries), 2)
        for host in ("HOST-A", "HOST-B"):
            mine = [x for x in summaries if host in x["title"]]
            self.assertEqual(len(mine), 1, summaries)
            self.assertRegex(mine[0]["title"], r"\b2 more\b")
            self.assertRegex(mine[0]["text"], r"\b2 further\b")
        self.assertEqual(len({x["id"] for x in summaries}), 2)
        # After the window a host notifies again.
        send(s, [event_line(140, host="HOST-A")])
        self.assertEqual(len(h.wait_count("/t", 5, 20)), 5)
        self.assertEqual(h.bodies("/t")[4]["fields"]["host.name"], "HOST-A")


# ---- Latency (not a test) -------------------------------------------------------------------

def percentile(v, p):
    v = sorted(v)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def measure(binary):
    """End-to-end latency, from the syslog line leaving the sender to its alert reaching the
    webhook server: 1 alert/s for 20 alerts, then 200 alerts sent at once (target rate 1000/s)."""
    out = {}
    for label, count, gap in (("low (1 alert/s, 20 alerts)", 20, 1.0),
                              ("high (200 alerts at once, rate 1000/s)", 200, 0.0)):
        d = tempfile.mkdtemp(prefix="amsiwatch-latency-")
        h = ws.WebhookServer()
        try:
            cfg = write_config(os.path.join(d, "amsiwatch.yml"), os.path.join(d, "data"),
                               [target("t", h.url("/t"), rate="1000", timeout="5s")])
            s = serve(cfg, binary=binary)
            try:
                base = 1000000 if gap else 2000000
                lines = [event_line(base + i) for i in range(count)]
                if gap:
                    sent = send(s, lines, gap=gap)
                else:
                    sent = send(s, [b"".join(lines)]) * count
                h.wait_count("/t", count, 120)
                arrived = {}
                for r in h.requests("/t"):
                    arrived.setdefault(record_of(json.loads(r.body)), r.mono)
                lat = [(arrived[base + i] - sent[i]) * 1000 for i in range(count)
                       if base + i in arrived]
                out[label] = lat
                monos = sorted(arrived.values())
                rate = (len(monos) - 1) / (monos[-1] - monos[0]) if len(monos) > 1 else 0
                print("%-42s n=%d p50=%.1f ms p99=%.1f ms min=%.1f max=%.1f mean=%.1f; "
                      "delivered at %.1f requests/s" %
                      (label, len(lat), percentile(lat, 50), percentile(lat, 99), min(lat),
                       max(lat), statistics.mean(lat), rate), flush=True)
            finally:
                s.stop()
        finally:
            h.close()
            shutil.rmtree(d, ignore_errors=True)
    return out


if __name__ == "__main__":
    BINARY = amsi.take_binary(__doc__)
    if "--measure" in sys.argv:
        measure(BINARY)
        sys.exit(0)
    unittest.main(verbosity=2)
