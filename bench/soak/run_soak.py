#!/usr/bin/env python3
"""The soak test: `amsiwatch serve` with one webhook target under a steady Beats load for a long
time, with the target down for a while at regular intervals and the senders reconnecting.
bench/run_soak.sh builds the release preset and calls this; see bench/README.md, section Soak.

  1. Events: `amsiwatch gen --count 40000 --hit-rate 1/10000 --near-misses 0` (1 AmsiEnable in
     10,000 events; replay loops over them).
  2. The maximum: `amsiwatch replay --precompress` at unlimited rate for --max-seconds into a
     daemon of the same configuration (its own data directory), unless --rate is given. The soak
     runs at --load (default 0.5) of it.
  3. The soak: a fresh daemon (`--config` with one generic webhook target, no max-signals cap,
     rate 1000/s) and --senders replay processes sharing the rate, each interrupted (SIGINT: the
     windows in flight are acknowledged) and started again every --reconnect-every, the first
     runs staggered so that the senders do not reconnect at the same moment. The webhook target
     is a real HTTP server in this process (tests/integration/webhook_server.py) that stops
     listening and cuts its connections for --outage-length every --outage-every.
  4. Every --sample-every: the daemon's RSS (VmRSS), its open descriptors (/proc/PID/fd), the
     size of its data directory (blocks, as du counts them), the events and alerts it counted
     (its `detect` counters line, logged every second), the alerts the target received, the lag
     (alerts counted minus alerts received) and how old the newest received alert was when
     alerts wait (an upper bound on the age of the oldest undelivered alert).
  5. After the load: the delivery backlog is waited for (--drain-timeout), the daemon stopped, and
     the journal read back (`amsiwatch journal stats`: every record, CRC and hash chain).

PASS when the RSS at the end of the load (the median of its last three samples) is within
--rss-tolerance (10 %) of the RSS after the first minute (the median of the samples at 50, 60 and
70 s), each outage's backlog was delivered before the next outage, and the target received every
journaled alert (each at least once); exit 1 otherwise, 2 on a usage error."""
import argparse
import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from webhook_server import WebhookServer  # noqa: E402  (a real HTTP server, shared with the tests)

DETECT = re.compile(r"^info detect: (\d+) events, (\d+) candidates, (\d+) parsed, (\d+) alerts",
                    re.M)
DELIVERED = re.compile(r"delivery: soak: (\d+) delivered, (\d+) retries, (\d+) dead")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def duration(text):
    """Seconds in '20m', '90s', '1h', '500ms' or a bare number of seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError("'%s' is not a duration (20m, 90s, 1h)" % text)
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


def iso_ms(text):
    """Milliseconds since the epoch of an alert's @timestamp (2026-12-03T21:10:00.123Z)."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", text)
    if not m:
        return None
    secs = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
    frac = (m.group(7) or "0")[:3].ljust(3, "0")
    return secs * 1000 + int(frac)


class Sink(WebhookServer):
    """The webhook target: counts what it received instead of keeping every request. An alert is
    known by its alert_id (a hash of the event: the same on every pass over the input and from
    every sender), its detection time (to the millisecond) and the connection it came from
    (source.peer, source.connection); a second copy of the same is a duplicate (allowed: at
    least once)."""

    def __init__(self):
        self.counts = threading.Lock()
        self.received = 0  # distinct alerts received on /soak
        self.duplicates = 0
        self.malformed = 0
        self.other = 0  # requests to other paths (the maximum's daemon)
        self.newest_ms = None  # detection time of the newest alert received
        self.max_delay_ms = 0.0  # the longest detection-to-arrival since the last take
        self._seen = set()
        super().__init__()

    def _record(self, req):
        if req.path != "/soak":
            with self.counts:
                self.other += 1
            return
        try:
            doc = json.loads(req.body)
            src = doc.get("source") or {}
            key = (doc["alert_id"], doc["@timestamp"], src.get("peer"), src.get("connection"))
            detected = iso_ms(doc["@timestamp"])
        except (ValueError, KeyError, TypeError):
            with self.counts:
                self.malformed += 1
            return
        with self.counts:
            if key in self._seen:
                self.duplicates += 1
                return
            self._seen.add(key)
            self.received += 1
            if detected is not None:
                if self.newest_ms is None or detected > self.newest_ms:
                    self.newest_ms = detected
                self.max_delay_ms = max(self.max_delay_ms, req.time * 1000 - detected)

    def take(self):
        with self.counts:
            out = (self.received, self.duplicates, self.newest_ms, self.max_delay_ms)
            self.max_delay_ms = 0.0
            return out


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(m.group(1)) if m else 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def du_bytes(path):
    """What `du -s` counts: allocated blocks, not file lengths."""
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
            except FileNotFoundError:  # a segment renamed or removed meanwhile
                pass
    return total


class Daemon:
    def __init__(self, args, workdir, name, hook_url):
        self.args = args
        self.dir = os.path.join(workdir, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.err = os.path.join(self.dir, "stderr.log")
        self.config = os.path.join(self.dir, "amsiwatch.yml")
        with open(self.config, "w") as f:
            f.write("webhooks:\n  - name: soak\n    url: %s\n    format: generic\n"
                    "    rate: %s\n    max-signals: 0\n" % (hook_url, args.webhook_rate))
            if args.max_backoff:
                f.write("    retry:\n      max-backoff: %s\n" % args.max_backoff)
        self.proc = None
        self._off = 0
        self._tail = ""
        self.events = self.alerts = 0

    def start(self):
        cmd = [self.args.amsiwatch, "serve", "--config", self.config, "--beats", "127.0.0.1:0",
               "--syslog-tcp", "off", "--syslog-udp", "off", "--data-dir", self.data,
               "--stats-interval", "1s"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.err, "w"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.err) as f:
                m = re.search(r"^ready .*beats=127\.0\.0\.1:(\d+)", f.read(), re.M)
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("amsiwatch serve did not start:\n" + open(self.err).read()[-3000:])

    def counters(self):
        """The latest `detect` counters line (logged every second): events and alerts so far."""
        with open(self.err) as f:
            f.seek(self._off)
            chunk = f.read()
            self._off = f.tell()
        text = self._tail + chunk
        cut = text.rfind("\n") + 1
        self._tail = text[cut:]
        for m in DETECT.finditer(text[:cut]):
            self.events, self.alerts = int(m.group(1)), int(m.group(4))
        return self.events, self.alerts

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


def replay_cmd(args, port, connections, rate=None, extra=()):
    cmd = [args.amsiwatch, "replay", "--precompress", "--connections", str(connections),
           "--window", str(args.window), "--compression", str(args.level), "--loop", "--json",
           "--no-progress", "--ack-timeout", "120s"]
    if rate:
        cmd += ["--rate", str(int(rate))]
    return cmd + list(extra) + ["127.0.0.1:%d" % port, args.input]


def report_of(out, err):
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": "no report: " + err.strip()[-500:]}


class Sender(threading.Thread):
    """One sender slot: replay runs one after the other, each interrupted at its boundary."""

    def __init__(self, args, port, index, rate, t0, end, stop):
        super().__init__(daemon=True)
        self.args, self.port, self.index, self.rate = args, port, index, rate
        self.t0, self.end, self.stop = t0, end, stop
        self.runs = []
        self.failures = []
        self.unprepared = 0

    def run(self):
        every = self.args.reconnect_every
        # The first run is shorter by the slot's share, so the senders reconnect in turn.
        boundary = self.t0 + every * (self.index + 1) / self.args.senders
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.end:
            until = min(boundary, self.end)
            outp = os.path.join(self.args.workdir, "replay-%d-%d.out" % (self.index, n))
            errp = outp[:-4] + ".err"
            with open(outp, "w") as o, open(errp, "w") as e:
                p = subprocess.Popen(replay_cmd(self.args, self.port, self.args.connections,
                                                self.rate), stdin=subprocess.DEVNULL, stdout=o,
                                     stderr=e)
            while p.poll() is None and time.monotonic() < until and not self.stop.is_set():
                time.sleep(0.1)
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # finish the windows in flight, then report
                try:
                    p.wait(150)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            with open(outp) as o, open(errp) as e:
                rep = report_of(o.read(), e.read())
            self.runs.append(rep)
            if (p.returncode != 0 and rep.get("error") is None and
                    not rep.get("events_sent") and time.monotonic() >= until):
                # Interrupted at its boundary before it had prepared its windows: a machine too
                # busy for this run's length, not an error of the daemon.
                self.unprepared += 1
            elif p.returncode != 0 or not rep.get("ok"):
                self.failures.append("sender %d run %d: exit %s: %s" % (
                    self.index, n, p.returncode, rep.get("error")))
                self.stop.wait(1)  # do not spin on a daemon that refuses
            n += 1
            while boundary <= time.monotonic():
                boundary += every


class Outages(threading.Thread):
    """Takes the webhook target down for --outage-length every --outage-every."""

    def __init__(self, args, sink, t0, end, stop):
        super().__init__(daemon=True)
        self.args, self.sink, self.t0, self.end, self.stop = args, sink, t0, end, stop
        self.spans = []  # (start, end) in seconds since t0

    def run(self):
        k = 1
        while True:
            start = self.t0 + k * self.args.outage_every
            if start >= self.end or self.stop.wait(max(0.0, start - time.monotonic())):
                return
            self.sink.down()
            t = time.monotonic()
            self.stop.wait(max(0.0, start + self.args.outage_length - t))
            self.sink.up()
            self.spans.append((t - self.t0, time.monotonic() - self.t0))
            k += 1


def make_input(args):
    if args.input:
        return
    args.input = os.path.join(args.workdir, "events.ndjson")
    p = subprocess.run([args.amsiwatch, "gen", "--count", str(args.input_events), "--hit-rate",
                        args.hit_rate, "--seed", str(args.seed), "--near-misses",
                        str(args.near_misses), "--summary-json", "-o", args.input],
                       capture_output=True, text=True, check=True)
    s = json.loads(p.stderr.strip().splitlines()[-1])
    log("input: %d events from amsiwatch gen (seed %d, mean %.0f bytes, hit rate %s): %d "
        "AmsiEnable events, %d alerts (elastic) per pass" % (
            s["events"], args.seed, s["bytes"] / s["events"], args.hit_rate, s["hits"],
            s["expected_alerts"]["elastic"]))


def measure_max(args, sink):
    d = Daemon(args, args.workdir, "max", sink.url("/max"))
    d.start()
    try:
        cmd = replay_cmd(args, d.port, args.connections * args.senders,
                         extra=["--duration", "%gs" % args.max_seconds])
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.max_seconds + 300)
        rep = report_of(p.stdout, p.stderr)
        if p.returncode != 0 or not rep.get("ok"):
            raise RuntimeError("the maximum's replay failed (exit %d): %s" % (p.returncode,
                                                                              rep.get("error")))
    finally:
        d.stop()
        shutil.rmtree(d.data, ignore_errors=True)
    log("maximum: %s events/s (%d connections, %.0f s, %s events)" % (
        fmt(rep["events_per_second"]), args.connections * args.senders, rep["seconds"],
        fmt(rep["events_acked"])))
    return rep["events_per_second"]


def human(seconds):
    """'20 min', '1 min 30 s', '40 s'."""
    m, s = divmod(int(round(seconds)), 60)
    return " ".join(p for p in ("%d min" % m if m else "", "%d s" % s if s else "") if p) or "0 s"


def fmt(n, digits=0):
    return "-" if n is None else ("{:,.%df}" % digits).format(n)


class Sampler:
    def __init__(self, daemon, sink, t0):
        self.d, self.sink, self.t0 = daemon, sink, t0
        self.rows = []
        self._last = None  # (monotonic, events)

    def sample(self):
        now = time.monotonic()
        pid = self.d.proc.pid
        events, alerts = self.d.counters()
        received, dups, newest_ms, max_delay_ms = self.sink.take()
        eps = None
        if self._last:
            eps = (events - self._last[1]) / max(now - self._last[0], 1e-3)
        self._last = (now, events)
        lag = max(alerts - received, 0)
        if lag == 0:
            lag_s = 0.0
        elif newest_ms is not None:
            lag_s = max(time.time() * 1000 - newest_ms, 0) / 1000
        else:
            lag_s = now - self.t0
        row = {"t": now - self.t0, "rss_mb": rss_kb(pid) / 1024, "fds": open_fds(pid),
               "journal_mb": du_bytes(self.d.data) / 1e6, "events_per_s": eps, "events": events,
               "alerts": alerts, "delivered": received, "duplicates": dups, "lag": lag,
               "lag_s": lag_s, "max_delay_s": max_delay_ms / 1000,
               "webhook": "up" if self.sink.is_up else "down"}
        self.rows.append(row)
        log("  %6.0f s  RSS %6.1f MB  fds %3d  journal %7.1f MB  %9s events/s  alerts %6d  "
            "delivered %6d  lag %5d (%5.1f s)  webhook %s" % (
                row["t"], row["rss_mb"], row["fds"], row["journal_mb"], fmt(eps), alerts,
                received, lag, lag_s, row["webhook"]))
        return row


def median_rss(rows, lo, hi):
    vals = sorted(r["rss_mb"] for r in rows if lo - 1 <= r["t"] <= hi + 1)
    return vals[len(vals) // 2] if vals else None


def slope(points):
    """Least-squares slope of (x, y) points; 0 for fewer than two."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def table(rows):
    out = ["| t (min) | RSS MB | open fds | journal MB | events/s | alerts journaled | "
           "alerts delivered | lag (alerts) | lag (s) | webhook |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append("| %.2f | %.1f | %d | %.1f | %s | %s | %s | %s | %.1f | %s |" % (
            r["t"] / 60, r["rss_mb"], r["fds"], r["journal_mb"], fmt(r["events_per_s"]),
            fmt(r["alerts"]), fmt(r["delivered"]), fmt(r["lag"]), r["lag_s"], r["webhook"]))
    return "\n".join(out)


def plot(args, rows, spans, load_end, title, base=None):
    """Four panels over time (minutes): RSS, descriptors, journal size and events/s, delivery
    lag; the outages shaded. Returns the plot's path, or None without gnuplot."""
    tsv = os.path.join(args.workdir, "soak.tsv")
    with open(tsv, "w") as f:
        f.write("# t_min rss_mb fds journal_mb events_per_s alerts delivered lag lag_s\n")
        for r in rows:
            f.write("%.4f %.2f %d %.2f %s %d %d %d %.2f\n" % (
                r["t"] / 60, r["rss_mb"], r["fds"], r["journal_mb"],
                "?" if r["events_per_s"] is None else "%.0f" % r["events_per_s"], r["alerts"],
                r["delivered"], r["lag"], r["lag_s"]))
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        log("gnuplot not found: no plot (the samples are in %s)" % tsv)
        return None
    out = os.path.abspath(args.plot or os.path.join(args.workdir, "soak.png"))
    svg = out.endswith(".svg")
    lines = [
        "set terminal %s size %s" % (("svg", "1100,1300 dynamic") if svg else
                                     ("pngcairo", "1100,1300 font ',10'")),
        "set output '%s'" % out.replace("'", "''"),
        "set datafile missing '?'",
        "set grid",
        "set key top left opaque",
        "set xrange [0:%g]" % (max(r["t"] for r in rows) / 60),
        "set lmargin 12", "set rmargin 12",
    ]
    for i, (a, b) in enumerate(spans, 1):
        lines.append("set object %d rect from %g, graph 0 to %g, graph 1 fc rgb '#f4cccc' "
                     "fs solid 0.6 noborder behind" % (i, a / 60, b / 60))
    lines.append("set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lc rgb '#666666'" % (
        load_end / 60, load_end / 60))
    lines += [
        "set multiplot layout 4,1 title '%s'" % title.replace("'", "''"),
        "set ylabel 'RSS (MB)'", "set yrange [0:*]",
        "plot '%s' using 1:2 with linespoints pt 7 ps 0.4 lw 2 title 'amsiwatch RSS (MB)'%s" % (
            tsv, "" if not base else
            ", %g dt 3 lc rgb '#888888' title 'after the first minute +-%.0f %%', %g dt 3 "
            "lc rgb '#888888' notitle" % (base * (1 + args.rss_tolerance),
                                          args.rss_tolerance * 100,
                                          base * (1 - args.rss_tolerance))),
        "set ylabel 'descriptors'",
        "plot '%s' using 1:3 with linespoints pt 7 ps 0.4 lw 2 title 'open descriptors'" % tsv,
        "set ylabel 'journal (MB)'", "set y2label 'events/s'", "set y2tics", "set ytics nomirror",
        "set y2range [0:*]",
        "plot '%s' using 1:4 with lines lw 2 title 'data directory (MB, du)', "
        "'' using 1:5 axes x1y2 with lines lw 1 title 'events/s (right)'" % tsv,
        "set ylabel 'undelivered alerts'", "set y2label 'lag (s)'",
        "set xlabel 'minutes (shaded: webhook target down; dashed: end of the load)'",
        "plot '%s' using 1:8 with lines lw 2 title 'alerts journaled - alerts delivered', "
        "'' using 1:9 axes x1y2 with lines lw 1 title 'age bound of the oldest undelivered "
        "(s, right)'" % tsv,
        "unset multiplot",
    ]
    script = os.path.join(args.workdir, "soak.gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.run([gnuplot, script], capture_output=True, text=True)
    if p.returncode != 0:
        log("gnuplot failed (%s): %s" % (script, p.stderr.strip()[-1000:]))
        return None
    return out


def journal_stats(args, data):
    p = subprocess.run([args.amsiwatch, "journal", "stats", "--data-dir", data],
                       capture_output=True, text=True, timeout=600)
    m = re.search(r"^alerts:\s+(\d+)", p.stdout, re.M)
    f = re.search(r"^faults:\s+(\d+)", p.stdout, re.M)
    return (int(m.group(1)) if m else None, int(f.group(1)) if f else None, p.stdout)


def soak(args, sink):
    rate = args.rate or args.load * measure_max(args, sink)
    d = Daemon(args, args.workdir, "soak", sink.url("/soak"))
    d.start()
    stop = threading.Event()
    t0 = time.monotonic()
    end = t0 + args.duration
    senders = [Sender(args, d.port, i, rate / args.senders, t0, end, stop)
               for i in range(args.senders)]
    outages = Outages(args, sink, t0, end, stop)
    log("soak: %s for %.0f s at %s events/s (%d senders x %d connections, reconnecting every "
        "%.0f s), webhook down %.0f s every %.0f s, a sample every %.0f s" % (
            d.err, args.duration, fmt(rate), args.senders, args.connections,
            args.reconnect_every, args.outage_length, args.outage_every, args.sample_every))
    for s in senders:
        s.start()
    outages.start()
    sampler = Sampler(d, sink, t0)
    k = 0
    try:
        while True:
            target = t0 + k * args.sample_every
            if target > end + 1e-6:
                break
            time.sleep(max(0.0, target - time.monotonic()))
            sampler.sample()
            if d.proc.poll() is not None:
                raise RuntimeError("amsiwatch serve exited (%d):\n%s" % (
                    d.proc.returncode, open(d.err).read()[-3000:]))
            k += 1
        load_end = time.monotonic() - t0
        stop.set()
        for s in senders:
            s.join()
        outages.join()
        if not sink.is_up:
            sink.up()
        # The backlog: every alert counted must reach the target (the counters line comes
        # every second, so wait for one after the last sender).
        time.sleep(2.5)
        drain_end = time.monotonic() + args.drain_timeout
        while True:
            target = t0 + k * args.sample_every
            time.sleep(max(0.0, min(target, drain_end) - time.monotonic()))
            row = sampler.sample()
            k += 1
            if row["lag"] == 0 or time.monotonic() >= drain_end:
                break
    finally:
        stop.set()
        rc = d.stop()
    rows = sampler.rows
    with open(d.err) as f:
        log_text = f.read()
    final = DETECT.findall(log_text)
    detected = int(final[-1][3]) if final else None
    m = DELIVERED.search(log_text)
    delivered_log = int(m.group(1)) if m else None
    dead = int(m.group(3)) if m else None
    journaled, faults, stats = journal_stats(args, d.data)

    received, dups, _, _ = sink.take()
    runs = [r for s in senders for r in s.runs]
    failures = [f for s in senders for f in s.failures]
    sent = sum(r.get("events_acked", 0) for r in runs)
    reconnects = sum(r.get("reconnects", 0) for r in runs)
    # The RSS "after the first minute" and "at the end" are each the median of three samples
    # (the one at 60 s and its neighbours; the last three of the load), so that one window
    # being inflated at the instant of a sample does not decide the verdict.
    step = args.sample_every
    base = median_rss(rows, 60 - step, 60 + step) if load_end >= 60 else None
    end_rss = median_rss(rows, load_end - 2 * step, load_end)
    at60 = next((r for r in rows if r["t"] >= 60 - 1), None)
    last = [r for r in rows if r["t"] <= load_end + 1]
    end_row = last[-1] if last else None

    print("## Soak: %s at %s events/s asked, webhook down %s every %s, senders reconnecting "
          "every %s" % (human(args.duration), fmt(rate), human(args.outage_length),
                        human(args.outage_every), human(args.reconnect_every)))
    print()
    print(table(rows))
    print()
    title = "amsiwatch soak: %s at %s events/s asked; webhook down %s every %s; senders " \
            "reconnect every %s" % (human(args.duration), fmt(rate), human(args.outage_length),
                                    human(args.outage_every), human(args.reconnect_every))
    path = plot(args, rows, outages.spans, load_end, title, base)
    ok = True
    unprepared = sum(s.unprepared for s in senders)
    print("- load: %s events acknowledged by the daemon over %d replay runs (%s events/s on "
          "average over the load; %d connections each; %d reconnects inside runs%s)%s" % (
              fmt(sent), len(runs), fmt(sent / load_end), args.connections, reconnects,
              "; %d runs interrupted before they had prepared their windows" % unprepared
              if unprepared else "", "" if not failures else
              "; sender failures: " + "; ".join(failures)))
    if failures:
        ok = False
    # After each outage the backlog must be gone before the next one (or the end of the drain):
    # caught up = a sample with nothing waiting, or whose newest delivered alert is at most 2 s
    # old (alerts raised in the last instant are still on their way).
    caught = []
    for i, (a, b) in enumerate(outages.spans):
        until = outages.spans[i + 1][0] if i + 1 < len(outages.spans) else float("inf")
        r = next((r for r in rows if b < r["t"] < until and (r["lag"] == 0 or r["lag_s"] <= 2)),
                 None)
        upto = r["t"] if r else until
        peak = max((x["lag"] for x in rows if a <= x["t"] <= upto), default=0)
        caught.append((a, b, peak, None if r is None else r["t"] - b))
        ok &= r is not None
    print("- webhook outages: %s" % ("; ".join(
        "%.1f-%.1f min: up to %s alerts waiting, %s" % (
            a / 60, b / 60, fmt(peak), "caught up within %.0f s after it" % after
            if after is not None else "NOT caught up before the next outage")
        for a, b, peak, after in caught) or "none"))
    if base and end_rss and at60 and end_row:
        change = (end_rss - base) / base
        within = abs(change) <= args.rss_tolerance
        ok &= within
        print("- RSS after the first minute %.1f MB (median of the samples at %.0f-%.0f s; "
              "%.1f MB at %.0f s), at the end of the load %.1f MB (median of %.0f-%.0f s; "
              "%.1f MB at %.0f s): %+.1f %% (limit %.0f %%): %s; trend from the first minute "
              "on %+.2f MB per 10 min" % (
                  base, 60 - step, 60 + step, at60["rss_mb"], at60["t"], end_rss,
                  load_end - 2 * step, load_end, end_row["rss_mb"], end_row["t"], change * 100,
                  args.rss_tolerance * 100, "PASS" if within else "FAIL",
                  slope([(r["t"], r["rss_mb"]) for r in last if r["t"] >= 60 - 1]) * 600))
        print("- peak RSS %.1f MB; descriptors %d to %d; data directory %.1f MB at the end" % (
            max(r["rss_mb"] for r in rows), min(r["fds"] for r in rows),
            max(r["fds"] for r in rows), rows[-1]["journal_mb"]))
    else:
        ok = False
        print("- RSS: the run was shorter than a minute: FAIL")
    all_in = (journaled is not None and received == journaled and detected == journaled and
              delivered_log is not None and delivered_log >= journaled and not dead)
    ok &= all_in
    print("- alerts: %s raised (detect counters), %s in the journal (journal stats: %s faults), "
          "%s distinct alerts received by the webhook target (%s duplicates), %s delivered by "
          "the daemon's count (%s dead); largest lag %s alerts, %.1f s: %s" % (
              fmt(detected), fmt(journaled), fmt(faults), fmt(received), fmt(dups),
              fmt(delivered_log), fmt(dead), fmt(max(r["lag"] for r in rows)),
              max(r["lag_s"] for r in rows),
              "PASS (every alert delivered)" if all_in else "FAIL"))
    if faults:
        ok = False
    if rc != 0:
        ok = False
        print("- amsiwatch serve exited with status %s" % rc)
    print("- samples: %s%s" % (os.path.join(args.workdir, "soak.tsv"),
                               "; plot: %s" % path if path else ""))
    print()
    print("soak: %s" % ("PASS" if ok else "FAIL"))
    if not args.keep:
        shutil.rmtree(d.data, ignore_errors=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--amsiwatch", required=True)
    ap.add_argument("--duration", type=duration, default=duration("20m"),
                    help="length of the load (default 20m)")
    ap.add_argument("--rate", type=float, help="events/s for the soak (default: --load times the "
                    "maximum, measured first)")
    ap.add_argument("--load", type=float, default=0.5, help="share of the maximum (default 0.5)")
    ap.add_argument("--max-seconds", type=float, default=20,
                    help="length of the maximum's measurement (default 20)")
    ap.add_argument("--outage-every", type=duration, default=duration("5m"))
    ap.add_argument("--outage-length", type=duration, default=duration("1m"))
    ap.add_argument("--reconnect-every", type=duration, default=duration("2m"))
    ap.add_argument("--sample-every", type=duration, default=duration("10s"))
    ap.add_argument("--drain-timeout", type=duration, default=duration("5m"),
                    help="longest wait for the delivery backlog after the load (default 5m)")
    ap.add_argument("--senders", type=int, default=2, help="replay processes (default 2)")
    ap.add_argument("--connections", type=int, default=4,
                    help="connections of each sender (default 4)")
    ap.add_argument("--webhook-rate", default="1000/s",
                    help="the target's `rate` (default 1000/s: the format's default, 10/s, is "
                         "below the alert rate)")
    ap.add_argument("--max-backoff", help="the target's retry.max-backoff (default: the "
                    "daemon's, 10m)")
    ap.add_argument("--rss-tolerance", type=float, default=0.10)
    ap.add_argument("--input", help="events to replay (default: made with amsiwatch gen)")
    ap.add_argument("--input-events", type=int, default=40000,
                    help="events amsiwatch gen makes (default 40000: each replay run prepares "
                         "them again, so they are few); replay loops over them")
    ap.add_argument("--hit-rate", default="1/10000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--near-misses", type=int, default=0)
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--dir", default="build/soak",
                    help="work directory: samples, plot, logs (default build/soak)")
    ap.add_argument("--plot", help="the plot's file, .png or .svg (default DIR/soak.png)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    if (args.duration <= 0 or args.senders < 1 or args.connections < 1 or
            args.outage_every <= 0 or args.outage_length >= args.outage_every or
            args.reconnect_every <= 0 or args.sample_every <= 0 or
            (args.rate is not None and args.rate <= 0)):
        ap.error("durations and counts must be positive, and an outage shorter than its period")
    args.workdir = os.path.abspath(args.dir)
    os.makedirs(args.workdir, exist_ok=True)
    for name in os.listdir(args.workdir):
        if name.startswith("replay-"):
            os.unlink(os.path.join(args.workdir, name))
    make_input(args)
    sink = Sink()
    try:
        ok = soak(args, sink)
    finally:
        sink.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
