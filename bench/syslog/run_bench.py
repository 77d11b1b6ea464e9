#!/usr/bin/env python3
"""The syslog benchmark: the same messages, over TCP on loopback, into amsiwatch, syslog-ng and
rsyslog side by side, each looking for AmsiEnable, in one run. bench/run_syslog.sh builds and
installs what it needs and calls this; see bench/README.md, section Syslog.

For every sender and every receiver, one measurement. The senders: loggen (syslog-ng's, about
200,000 msg/s at most), `amsiwatch replay --protocol syslog-tcp --framing lf` (the default fast
sender: the corpus held in memory, --replay-connections connections from one event loop, each
write --replay-window messages) and blast.py (a Python sender, kept selectable: "blast" in
--senders). Each sends the same corpus, LF-framed.
  - the receiver is started on a free port and waited for;
  - its CPU time (utime + stime of the whole process, /proc/PID/stat) is read, the clock started,
    the sender run to its end;
  - then the receiver is watched (/proc every 20 ms) until it has found every AmsiEnable message
    and its CPU time stays still for a second; the end of the measurement is the moment its CPU
    time reached its final value, so queued work still counts and idle time after does not;
  - wall-clock messages/s = messages / (end - start); messages per CPU-second = messages /
    receiver CPU seconds between start and end.
The receivers must all find the same number of AmsiEnable messages (the corpus holds exactly one
in every --hit-rate lines, and the word nowhere else): the exit status is 1 if any does not."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def peak_rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        return int(m.group(1)) / 1024 if m else None
    except OSError:
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the receiver exited with %d before listening" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d after %ds" % (port, timeout))


def count_lines_with(path, word):
    try:
        with open(path, "rb") as f:
            return sum(1 for ln in f if word in ln)
    except FileNotFoundError:
        return 0


class Receiver:
    name = "?"

    def __init__(self, args, workdir):
        self.args = args
        self.dir = os.path.join(workdir, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.proc = None
        self.port = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


class Amsiwatch(Receiver):
    name = "amsiwatch"

    def start(self):
        self.err = os.path.join(self.dir, "stderr.log")
        self.data = os.path.join(self.dir, "data")
        cmd = [self.args.amsiwatch, "serve", "--beats", "off", "--syslog-tcp", "127.0.0.1:0",
               "--syslog-udp", "off", "--data-dir", self.data, "--quiet"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.err, "w"))
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.err) as f:
                m = re.search(r"^ready .*syslog-tcp=127\.0\.0\.1:(\d+)", f.read(), re.M)
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("amsiwatch did not start:\n" + open(self.err).read())

    def found(self):
        out = subprocess.run([self.args.amsiwatch, "journal", "export", "--data-dir", self.data],
                             capture_output=True, timeout=120).stdout
        return out.count(b"\n")

    def received(self):
        """Messages counted by the TCP listener (logged when it stops)."""
        with open(self.err) as f:
            m = re.search(r"syslog: tcp: (\d+) messages", f.read())
        return int(m.group(1)) if m else None


class SyslogNg(Receiver):
    name = "syslog-ng"

    def start(self):
        self.port = free_port()
        self.out = os.path.join(self.dir, "amsienable.log")
        conf = os.path.join(self.dir, "syslog-ng.conf")
        with open(os.path.join(HERE, "syslog-ng.conf")) as f:
            text = f.read().replace("@PORT@", str(self.port)).replace("@OUT@", self.out)
        with open(conf, "w") as f:
            f.write(text)
        cmd = [self.args.syslog_ng, "-F", "--no-caps", "-f", conf,
               "-R", os.path.join(self.dir, "persist"), "-p", os.path.join(self.dir, "pid"),
               "-c", os.path.join(self.dir, "ctl")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr.log"), "w"))
        wait_port(self.port, self.proc)

    def found(self):
        return count_lines_with(self.out, b"AmsiEnable")


class Rsyslog(Receiver):
    name = "rsyslog"

    def start(self):
        self.port = free_port()
        self.out = os.path.join(self.dir, "amsienable.log")
        conf = os.path.join(self.dir, "rsyslog.conf")
        with open(os.path.join(HERE, "rsyslog.conf")) as f:
            text = (f.read().replace("@PORT@", str(self.port)).replace("@OUT@", self.out)
                    .replace("@WORKDIR@", self.dir).replace("@MODDIR@", self.args.rsyslog_moddir))
        with open(conf, "w") as f:
            f.write(text)
        cmd = [self.args.rsyslogd, "-n", "-M", self.args.rsyslog_moddir, "-f", conf,
               "-i", os.path.join(self.dir, "pid")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr.log"), "w"))
        wait_port(self.port, self.proc)

    def found(self):
        return count_lines_with(self.out, b"AmsiEnable")


RECEIVERS = {"amsiwatch": Amsiwatch, "syslog-ng": SyslogNg, "rsyslog": Rsyslog}


def sender_cmd(args, sender, port):
    if sender == "replay":
        return [args.amsiwatch, "replay", "--protocol", "syslog-tcp", "--framing", "lf",
                "--connections", str(args.replay_connections), "--window",
                str(args.replay_window), "--loop", "--count", str(args.messages), "--json",
                "--no-progress", "127.0.0.1:%d" % port, args.corpus]
    if sender == "loggen":
        per_conn = args.messages // args.loggen_connections
        return [args.loggen, "-i", "-S", "--read-file", args.corpus, "--dont-parse",
                "--loop-reading", "--active-connections", str(args.loggen_connections),
                "-n", str(per_conn), "-I", "3600", "--rate", "100000000",
                "127.0.0.1", str(port)]
    repeat = args.messages // (args.blast_connections * args.corpus_lines)
    return [sys.executable, os.path.join(HERE, "blast.py"), "--port", str(port),
            "--connections", str(args.blast_connections), "--repeat", str(repeat), args.corpus]


def sender_sent(sender, output):
    if sender == "loggen":
        m = re.findall(r"average rate = ([\d.]+) msg/sec, count=(\d+)", output)
        return (int(m[-1][1]), float(m[-1][0])) if m else (None, None)
    if sender == "replay":
        try:
            d = json.loads([ln for ln in output.splitlines() if ln.startswith("{")][-1])
            return d["events_sent"], d["events_per_second"]
        except (ValueError, IndexError, KeyError):
            return None, None
    try:
        d = json.loads(output.strip().splitlines()[-1])
        return d["messages"], d["messages_per_s"]
    except (ValueError, IndexError, KeyError):
        return None, None


def measure(args, receiver_name, sender, expected):
    r = RECEIVERS[receiver_name](args, args.workdir)
    r.start()
    try:
        pid = r.proc.pid
        samples = []
        c0, t0 = cpu_seconds(pid), time.monotonic()
        samples.append((t0, c0))
        snd = subprocess.Popen(sender_cmd(args, sender, r.port), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        while snd.poll() is None:
            time.sleep(0.02)
            samples.append((time.monotonic(), cpu_seconds(pid)))
        out = snd.stdout.read()
        sent, sender_rate = sender_sent(sender, out)
        if snd.returncode != 0 or sent != args.messages:
            raise RuntimeError("%s failed (exit %d, sent %s of %d):\n%s"
                               % (sender, snd.returncode, sent, args.messages, out[-2000:]))
        found, last_check = 0, 0.0
        deadline = time.monotonic() + args.drain_timeout
        while True:
            time.sleep(0.02)
            now = time.monotonic()
            samples.append((now, cpu_seconds(pid)))
            if now - last_check >= 0.25:
                found, last_check = r.found(), now
            quiet = [c for t, c in samples if t >= now - 1.0]
            if (found >= expected and now - samples[0][0] > 1.0
                    and quiet[-1] - quiet[0] <= 2.0 / CLK):
                break
            if now > deadline:
                break
        final = samples[-1][1]
        end = next(t for t, c in samples if c >= final - 2.0 / CLK)
        end = max(end, samples[0][0] + 1e-3)
        cpu = final - c0
        rss = peak_rss_mb(pid)
        found = r.found()
    finally:
        rc = r.stop()
    wall = end - t0
    res = {
        "receiver": receiver_name, "sender": sender, "messages": args.messages,
        "seconds": round(wall, 3), "messages_per_s": round(args.messages / wall),
        "cpu_seconds": round(cpu, 2),
        "messages_per_cpu_s": round(args.messages / cpu) if cpu > 0 else None,
        "sender_messages_per_s": round(sender_rate) if sender_rate else None,
        "amsienable_found": found, "amsienable_expected": expected,
        "peak_rss_mb": round(rss, 1) if rss else None, "exit_status": rc,
    }
    if isinstance(r, Amsiwatch):
        res["received"] = r.received()
    return res


def fmt(n):
    return "-" if n is None else "{:,}".format(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--amsiwatch", required=True)
    ap.add_argument("--syslog-ng", default=shutil.which("syslog-ng") or "/usr/sbin/syslog-ng")
    ap.add_argument("--rsyslogd")
    ap.add_argument("--rsyslog-moddir")
    ap.add_argument("--loggen", default=shutil.which("loggen") or "/usr/bin/loggen")
    ap.add_argument("--messages", type=int, default=2000000,
                    help="messages per measurement (a multiple of --corpus-lines times the "
                         "connections of each sender)")
    ap.add_argument("--corpus-lines", type=int, default=100000)
    ap.add_argument("--hit-rate", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--receivers", default="amsiwatch,syslog-ng,rsyslog")
    ap.add_argument("--senders", default="loggen,replay",
                    help="loggen, replay (amsiwatch replay), blast (blast.py)")
    ap.add_argument("--loggen-connections", type=int, default=2)
    ap.add_argument("--blast-connections", type=int, default=4)
    ap.add_argument("--replay-connections", type=int, default=4)
    ap.add_argument("--replay-window", type=int, default=2048,
                    help="messages per write of amsiwatch replay")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each pair this many times (interleaved); report the median")
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    receivers = [r for r in args.receivers.split(",") if r]
    senders = [s for s in args.senders.split(",") if s]
    for r in receivers:
        if r not in RECEIVERS:
            ap.error("unknown receiver %s" % r)
    for s in senders:
        if s not in ("loggen", "replay", "blast"):
            ap.error("unknown sender %s" % s)
        if s == "replay":  # --count: any number of messages, going round the corpus
            continue
        conns = args.loggen_connections if s == "loggen" else args.blast_connections
        if args.messages % (conns * args.corpus_lines):
            ap.error("--messages must be a multiple of %d (corpus lines x %s connections)"
                     % (conns * args.corpus_lines, s))
    if "rsyslog" in receivers and not (args.rsyslogd and args.rsyslog_moddir):
        ap.error("rsyslog needs --rsyslogd and --rsyslog-moddir")
    os.makedirs(args.workdir, exist_ok=True)
    args.corpus = os.path.join(args.workdir, "corpus-%d-%d-%d.log"
                               % (args.corpus_lines, args.hit_rate, args.seed))
    hits_file = args.corpus + ".hits"
    if not (os.path.exists(args.corpus) and os.path.exists(hits_file)):
        out = subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"),
                              "--lines", str(args.corpus_lines), "--hit-rate", str(args.hit_rate),
                              "--seed", str(args.seed), args.corpus],
                             check=True, capture_output=True, text=True).stdout
        with open(hits_file, "w") as f:
            f.write(out)
    with open(hits_file) as f:
        hits = int(f.read())
    size = os.path.getsize(args.corpus)
    expected = hits * (args.messages // args.corpus_lines)
    print("corpus: %s, %d lines, mean %d bytes, %d AmsiEnable lines; %d messages per "
          "measurement, %d AmsiEnable among them"
          % (args.corpus, args.corpus_lines, size // args.corpus_lines - 1, hits, args.messages,
             expected), file=sys.stderr)

    runs = {}
    for rnd in range(args.rounds):
        for s in senders:
            for r in receivers:
                res = measure(args, r, s, expected)
                runs.setdefault((s, r), []).append(res)
                print("round %d: %-9s <- %-6s %9s msg/s  %9s msg/CPU-s  found %d/%d"
                      % (rnd + 1, r, s, fmt(res["messages_per_s"]),
                         fmt(res["messages_per_cpu_s"]), res["amsienable_found"], expected),
                      file=sys.stderr)
    table = []
    ok = True
    for (s, r), rs in runs.items():
        med = dict(rs[0])
        for k in ("seconds", "messages_per_s", "cpu_seconds", "messages_per_cpu_s",
                  "sender_messages_per_s", "peak_rss_mb"):
            vals = [x[k] for x in rs if x[k] is not None]
            med[k] = statistics.median(vals) if vals else None
            if k in ("messages_per_s", "messages_per_cpu_s") and vals:
                med[k + "_range"] = [min(vals), max(vals)]
        med["amsienable_found"] = [x["amsienable_found"] for x in rs]
        med["rounds"] = len(rs)
        for x in rs:
            if x["amsienable_found"] != expected:
                ok = False
            if x.get("received") is not None and x["received"] != args.messages:
                ok = False
        table.append(med)
    for row in table:
        base = next((x for x in table if x["sender"] == row["sender"]
                     and x["receiver"] == "amsiwatch"), None)
        if base and row["receiver"] != "amsiwatch":
            row["amsiwatch_ratio_messages_per_s"] = round(
                base["messages_per_s"] / row["messages_per_s"], 2)
            row["amsiwatch_ratio_messages_per_cpu_s"] = round(
                base["messages_per_cpu_s"] / row["messages_per_cpu_s"], 2)
    if args.json:
        json.dump({"messages": args.messages, "corpus_lines": args.corpus_lines,
                   "hit_rate": args.hit_rate, "expected_amsienable": expected,
                   "mean_bytes": size // args.corpus_lines - 1, "results": table,
                   "same_amsienable_count": ok}, sys.stdout, indent=1)
        print()
        return 0 if ok else 1
    print("| sender | receiver | messages | wall s | msg/s | receiver CPU s | msg/CPU-s "
          "| amsiwatch x (msg/s, msg/CPU-s) | AmsiEnable found | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in table:
        ratio = "-"
        if "amsiwatch_ratio_messages_per_s" in row:
            ratio = "%.2f, %.2f" % (row["amsiwatch_ratio_messages_per_s"],
                                    row["amsiwatch_ratio_messages_per_cpu_s"])
        print("| %s | %s | %s | %.2f | %s | %.2f | %s | %s | %s | %s |" % (
            row["sender"], row["receiver"], fmt(row["messages"]), row["seconds"],
            fmt(round(row["messages_per_s"])), row["cpu_seconds"],
            fmt(round(row["messages_per_cpu_s"])), ratio,
            " ".join("%d/%d" % (f, expected) for f in row["amsienable_found"]),
            "-" if row["peak_rss_mb"] is None else "%.0f" % row["peak_rss_mb"]))
    print()
    print("same AmsiEnable count in every receiver: %s" % ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
