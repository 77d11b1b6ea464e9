"""What the Python integration tests share: the amsiwatch binary under test, `amsiwatch serve`
started on loopback ports the kernel picks and stopped with SIGTERM, its log and the alerts it
printed, its journal, temporary directories, and how much slower a sanitizer build runs.
Standard library only (Python 3.11).

    import amsi
    BINARY = amsi.take_binary(__doc__)     # in __main__: the path on the command line, absolute
    srv = amsi.Serve(["beats"], data_dir=d, args=["--stats-interval", "0"], cleanup=self)
    srv.ports["beats"]                     # every listener the ready line names
    srv.wait_log(r"closing: .*")           # standard error, collected by a thread
    srv.printed(), srv.journaled()         # alerts printed on standard output, in the journal
    self.assertEqual(srv.stop(), 0, srv.log())     # SIGTERM, wait, exit status

Timeouts given to the harness are seconds on a plain build; on a sanitizer build (slow()) they
are tripled."""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BINARY = None


def take_binary(usage, argv=None):
    """Takes the amsiwatch path from ARGV (sys.argv) position 1, made absolute, and keeps it as the
    binary the harness runs; exits with USAGE (the test's docstring) when there is none."""
    global BINARY
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        sys.exit(usage)
    BINARY = os.path.abspath(argv.pop(1))
    return BINARY


# ---- The build ---------------------------------------------------------------------------------

_SANITIZER = {}


def sanitizer(binary=None):
    """'asan' or 'tsan' when BINARY (the one under test) is an AddressSanitizer or ThreadSanitizer
    build, '' otherwise."""
    binary = binary or BINARY
    if binary not in _SANITIZER:
        out = subprocess.run(["sh", "-c", 'nm -D "%s" 2>/dev/null | grep -o "__[at]san_init" | '
                              'head -n 1' % binary], capture_output=True).stdout.decode().strip()
        _SANITIZER[binary] = {"__asan_init": "asan", "__tsan_init": "tsan"}.get(out, "")
    return _SANITIZER[binary]


def slow(binary=None):
    """3 for a sanitizer build (it runs slower: time limits are tripled), else 1."""
    return 3 if sanitizer(binary) else 1


_LISTENERS = {}


def listeners(binary=None):
    """The listeners `serve --help` names ("--NAME ADDR:PORT|off"): beats, syslog-tcp, ..."""
    binary = binary or BINARY
    if binary not in _LISTENERS:
        out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                             timeout=30 * slow(binary)).stdout
        _LISTENERS[binary] = re.findall(r"^\s*--([\w-]+) ADDR:PORT\|off\b", out, re.M)
        assert _LISTENERS[binary], "serve --help names no listener:\n" + out
    return _LISTENERS[binary]


# ---- Temporary directories ---------------------------------------------------------------------

def tempdir(owner=None, prefix="amsiwatch-", parent=None):
    """A new directory (in PARENT, else the system's temporary directory), removed with all it holds
    when OWNER is done: a TestCase after its test, a TestCase class (from setUpClass) after its
    tests. With no OWNER it stays (inside a PARENT that goes)."""
    d = tempfile.mkdtemp(prefix=prefix, dir=parent)
    if isinstance(owner, type):
        owner.addClassCleanup(shutil.rmtree, d, ignore_errors=True)
    elif owner is not None:
        owner.addCleanup(shutil.rmtree, d, ignore_errors=True)
    return d


# ---- The journal -------------------------------------------------------------------------------

def journal(data_dir, *args, binary=None, timeout=120):
    """`amsiwatch journal ARGS --data-dir DATA_DIR`, run to completion (text output)."""
    return subprocess.run([binary or BINARY, "journal", *args, "--data-dir", data_dir],
                          capture_output=True, text=True, errors="replace",
                          timeout=timeout * slow(binary))


def journal_export(data_dir, binary=None):
    """Every alert of the journal in DATA_DIR, parsed (`journal export`); an AssertionError when the
    command fails."""
    p = journal(data_dir, "export", binary=binary)
    if p.returncode != 0:
        raise AssertionError("journal export failed (%d): %s" % (p.returncode, p.stderr))
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


# ---- amsiwatch serve ---------------------------------------------------------------------------

SYSLOG_COUNTERS = ("messages", "bytes", "dropped", "truncated", "framing_errors", "invalid_utf8",
                   "tls_on_plaintext", "connections", "refused")
_LIVE = set()


@atexit.register
def _kill_live():
    """Servers still running when the test process ends (an error outside a test) go with it."""
    for srv in list(_LIVE):
        srv.kill()


def ready_text(line):
    """The ready line's text ("ready beats=..."), from a line of serve's log in either format
    (text, or json: its message), None when LINE is another line."""
    if line.startswith("ready"):
        return line.rstrip("\n")
    if line.startswith("{"):
        try:
            message = json.loads(line).get("message", "")
        except ValueError:
            return None
        if isinstance(message, str) and message.startswith("ready"):
            return message
    return None


class Serve:
    """`amsiwatch serve`, started and waited for until it prints its ready line.

    LISTEN: the listeners to open on HOST port 0 (names as in `serve --help`: "beats",
    "syslog-tcp", "syslog-udp", "syslog-tls"); every other listener is turned off, so a test never
    binds a default port. LISTEN None: no listener option at all (ARGS or the configuration say).
    DATA_DIR: given as --data-dir when not None. ARGS: more options, after those. ENV: changes to
    the environment (a value None removes the variable). CLEANUP: a TestCase (or TestCase class)
    that kills the server when it is done.

    Standard error and standard output are read by threads from the start: log(), wait_log() and
    printed() see them as they come; after stop() or kill() they hold everything."""

    def __init__(self, listen=(), data_dir=None, args=(), env=None, host="127.0.0.1",
                 ready_timeout=30, binary=None, cleanup=None):
        self.binary = binary or BINARY
        self.data_dir = data_dir
        argv = [self.binary, "serve"]
        if listen is not None:
            unknown = set(listen) - set(listeners(self.binary))
            assert not unknown, "serve has no listener %s" % ", ".join(sorted(unknown))
            addr = "[%s]:0" % host if ":" in host else "%s:0" % host
            for name in listeners(self.binary):
                argv += ["--" + name, addr if name in listen else "off"]
        if data_dir is not None:
            argv += ["--data-dir", data_dir]
        self.argv = argv + [str(a) for a in args]
        e = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self.rc = None
        self.lines, self.out = [], []
        self._printed = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.proc = subprocess.Popen(self.argv, env=e, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     encoding="utf-8", errors="replace")
        _LIVE.add(self)
        if isinstance(cleanup, type):
            cleanup.addClassCleanup(self.kill)
        elif cleanup is not None:
            cleanup.addCleanup(self.kill)
        self._readers = [threading.Thread(target=self._read_err, daemon=True),
                         threading.Thread(target=self._read_out, daemon=True)]
        for t in self._readers:
            t.start()
        self._ready.wait(ready_timeout * slow(self.binary))
        ready = [r for r in map(ready_text, self.snapshot()) if r]
        if not ready:
            self.kill()
            raise AssertionError("serve printed no ready line (%s):\n%s"
                                 % (" ".join(self.argv), self.log()))
        self.ready_line = ready[0]
        # "ready beats=127.0.0.1:40123 syslog-tcp=[::1]:40124 ...": {name: (host, port)}
        self.listeners = {}
        for token in self.ready_line.split()[1:]:
            name, _, where = token.partition("=")
            h, _, port = where.rpartition(":")
            self.listeners[name] = (h.strip("[]"), int(port))
        self.ports = {name: port for name, (_, port) in self.listeners.items()}

    def _read_err(self):
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))
            if ready_text(line):
                self._ready.set()
        self._ready.set()

    def _read_out(self):
        for line in self.proc.stdout:
            if line.strip():
                with self._lock:
                    self.out.append(line)

    # -- Its log (standard error) --

    def snapshot(self):
        """The lines of the log so far."""
        with self._lock:
            return list(self.lines)

    def log(self, last=None):
        """The log so far as text (its LAST lines only, when given)."""
        lines = self.snapshot()
        return "\n".join(lines[-last:] if last else lines)

    def grep(self, pattern):
        """The lines of the log that PATTERN matches (re.search)."""
        return [ln for ln in self.snapshot() if re.search(pattern, ln)]

    def count(self, pattern):
        return len(self.grep(pattern))

    def last(self, pattern):
        """The match of PATTERN in the last line it matches, None when none does."""
        for line in reversed(self.snapshot()):
            m = re.search(pattern, line)
            if m:
                return m
        return None

    def _poll(self, get, enough, timeout, step=0.05, until_exit=False):
        """GET() again every STEP seconds until ENOUGH(its value), TIMEOUT passes or (UNTIL_EXIT)
        serve exits; returns the last value."""
        deadline = time.time() + timeout * slow(self.binary)
        while True:
            got = get()
            if enough(got) or time.time() >= deadline or \
                    (until_exit and self.proc.poll() is not None):
                return got
            time.sleep(step)

    def wait_log(self, pattern, timeout=30):
        """Waits until PATTERN matches the log (the whole text: (?m) and (?s) work); returns the
        match, an AssertionError after TIMEOUT."""
        m = self._poll(lambda: re.search(pattern, self.log()), bool, timeout)
        if not m:
            raise AssertionError("no log line matching %r:\n%s" % (pattern, self.log(200)))
        return m

    def wait_lines(self, pattern, count=1, timeout=30):
        """Waits until COUNT lines of the log match PATTERN; returns them, an AssertionError after
        TIMEOUT."""
        hits = self._poll(lambda: self.grep(pattern), lambda h: len(h) >= count, timeout)
        if len(hits) < count:
            raise AssertionError("fewer than %d log lines match %r:\n%s"
                                 % (count, pattern, self.log(200)))
        return hits

    def syslog_counters(self, transport):
        """The counters of the syslog listener TRANSPORT (tcp, udp, tls) from the last line that
        logs them: the one serve writes when it stops (also every stats-interval while it runs)."""
        m = self.last(r"syslog: %s: (\d+) messages, (\d+) bytes, (\d+) dropped, (\d+) truncated, "
                      r"(\d+) framing errors, (\d+) invalid UTF-8, (\d+) TLS on the plaintext "
                      r"port, (\d+) connections \((\d+) refused\)" % transport)
        if not m:
            raise AssertionError("no counters line for syslog %s:\n%s" % (transport, self.log(200)))
        return dict(zip(SYSLOG_COUNTERS, (int(x) for x in m.groups())))

    def beats_counters(self):
        """The Beats listener's counters from the last line that logs them (as syslog_counters)."""
        m = self.last(r"beats: (\d+) connections .*?, (\d+) windows, (\d+) events, (\d+) ACKs")
        if not m:
            raise AssertionError("no beats counters in the log:\n" + self.log(200))
        return dict(zip(("connections", "windows", "events", "acks"), (int(x) for x in m.groups())))

    # -- Its alerts --

    def printed(self):
        """The alerts printed on standard output so far, parsed."""
        with self._lock:
            fresh = self.out[len(self._printed):]
        self._printed += [json.loads(ln) for ln in fresh]
        return list(self._printed)

    def wait_printed(self, n, timeout=30):
        """Waits until N alerts are printed (or TIMEOUT passes, or serve exits); returns them."""
        return self._poll(self.printed, lambda got: len(got) >= n, timeout, until_exit=True)

    def journaled(self):
        """The alerts in the journal of its data directory (`journal export`)."""
        return journal_export(self.data_dir, self.binary)

    def wait_journaled(self, n, timeout=30):
        """Waits until the journal holds N alerts (or TIMEOUT passes, or serve exits); returns
        them."""
        return self._poll(self.journaled, lambda got: len(got) >= n, timeout, step=0.1,
                          until_exit=True)

    # -- The process --

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def memory(self):
        """Its resident memory now and at its peak, in bytes: {"rss": VmRSS, "peak": VmHWM}."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            status = f.read()
        return {k: int(re.search(r"^%s:\s+(\d+) kB" % field, status, re.M).group(1)) * 1024
                for k, field in (("rss", "VmRSS"), ("peak", "VmHWM"))}

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends SIG (SIGTERM) and waits for the exit; returns the exit status (negative: the signal
        that ended it). An AssertionError when it has not exited after TIMEOUT (it is killed)."""
        if self.rc is None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * slow(self.binary))
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("serve did not stop within %d s after %s:\n%s"
                                     % (timeout * slow(self.binary), signal.Signals(sig).name,
                                        self.log(200)))
            self._close()
        return self.rc

    def kill(self):
        """SIGKILL unless it has exited; waits for it. Does nothing the second time."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self):
        for t in self._readers:
            t.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.rc = self.proc.returncode
        _LIVE.discard(self)
