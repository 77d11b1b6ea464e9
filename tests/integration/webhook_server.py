#!/usr/bin/env python3
"""A real HTTP server standing in for webhook receivers in the integration tests.

It listens on 127.0.0.1 (port 0 unless told otherwise), records every request it reads (path,
query, headers, raw body, arrival time, the answer it gave) and answers each path as scripted:

    srv = WebhookServer()
    srv.script("/slack", [reply(500), reply(200, body=b"ok")])   # then the path's default
    srv.default("/slack", reply(200, body=b"ok"))
    srv.script("/pd", [retry_after(429, 2)])                      # Retry-After: 2
    srv.script("/pd", [retry_after(429, when=time.time() + 3)])   # Retry-After: <HTTP-date>
    srv.script("/x", [hang(3)])          # read the request, answer nothing for 3 s, then close
    srv.script("/y", [reply(200, delay=2)])  # a slow receiver: answer after 2 s
    srv.down(); ...; srv.up()            # stop listening for a while (connections refused)

Signatures are checked with implementations independent of the program under test: Standard
Webhooks v1 (HMAC-SHA256) and GitHub's X-Hub-Signature-256 with hmac/hashlib/base64, Standard
Webhooks v1a (Ed25519) with the `cryptography` module or, failing that, PyNaCl.

Run on its own (`python3 webhook_server.py [--port N]`) it answers 200 to everything and prints
one JSON line per request, for trying a configuration by hand."""
import base64
import binascii
import collections
import email.utils
import hashlib
import hmac
import http.server
import json
import socket
import sys
import threading
import time
import urllib.parse

# ---- Signatures -----------------------------------------------------------------------------

try:  # Ed25519: the `cryptography` module (Debian: python3-cryptography) ...
    from cryptography.exceptions import InvalidSignature as _InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                   Ed25519PublicKey)
    from cryptography.hazmat.primitives import serialization as _ser

    def ed25519_public_key(seed):
        """The raw 32-byte public key of a 32-byte Ed25519 seed."""
        pk = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        return pk.public_bytes(_ser.Encoding.Raw, _ser.PublicFormat.Raw)

    def ed25519_verify(public_key, signature, message):
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
            return True
        except _InvalidSignature:
            return False

    ED25519 = "cryptography"
except ImportError:  # ... or PyNaCl (Debian: python3-nacl)
    try:
        import nacl.exceptions
        import nacl.signing

        def ed25519_public_key(seed):
            return bytes(nacl.signing.SigningKey(seed).verify_key)

        def ed25519_verify(public_key, signature, message):
            try:
                nacl.signing.VerifyKey(public_key).verify(message, signature)
                return True
            except nacl.exceptions.BadSignatureError:
                return False

        ED25519 = "pynacl"
    except ImportError:
        ed25519_public_key = ed25519_verify = None
        ED25519 = None


def _header(headers, name):
    """A header's value from a dict-like (case-insensitive when it is an email.message)."""
    v = headers.get(name)
    if v is None and isinstance(headers, dict):
        for k, val in headers.items():
            if k.lower() == name.lower():
                return val
    return v


def standard_webhooks_content(msg_id, timestamp, body):
    return msg_id.encode() + b"." + str(timestamp).encode() + b"." + body


def standard_webhooks_v1(secret, msg_id, timestamp, body):
    """The `v1,<base64>` signature of Standard Webhooks: HMAC-SHA256 over id.timestamp.body, keyed
    with the base64-decoded part of SECRET after `whsec_`."""
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    mac = hmac.new(key, standard_webhooks_content(msg_id, timestamp, body), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def github_signature(secret, body):
    """`sha256=<hex>` of X-Hub-Signature-256: HMAC-SHA256 of the raw body keyed with the secret."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _signatures(headers, version):
    """The base64 signatures of VERSION (v1, v1a) in webhook-signature (space separated list)."""
    out = []
    for part in (_header(headers, "webhook-signature") or "").split():
        v, _, sig = part.partition(",")
        if v == version and sig:
            try:
                out.append(base64.b64decode(sig, validate=True))
            except binascii.Error:
                pass
    return out


def verify_standard_v1(secret, headers, body, tolerance=300):
    """None when the request carries a valid Standard Webhooks v1 signature, else why not."""
    msg_id = _header(headers, "webhook-id")
    ts = _header(headers, "webhook-timestamp")
    if not msg_id or not ts:
        return "webhook-id or webhook-timestamp missing"
    if not ts.isdigit() or abs(int(ts) - time.time()) > tolerance:
        return "webhook-timestamp %r is not a current Unix time" % ts
    want = base64.b64decode(standard_webhooks_v1(secret, msg_id, ts, body)[3:])
    sigs = _signatures(headers, "v1")
    if not sigs:
        return "no v1 signature in %r" % _header(headers, "webhook-signature")
    if not any(hmac.compare_digest(want, s) for s in sigs):
        return "v1 signature does not match"
    return None


def verify_standard_v1a(public_key, headers, body, tolerance=300):
    """None when the request carries a valid Standard Webhooks v1a (Ed25519) signature by the
    holder of PUBLIC_KEY (32 raw bytes), else why not."""
    if ed25519_verify is None:
        raise RuntimeError("no Ed25519 implementation (install python3-cryptography)")
    msg_id = _header(headers, "webhook-id")
    ts = _header(headers, "webhook-timestamp")
    if not msg_id or not ts:
        return "webhook-id or webhook-timestamp missing"
    if not ts.isdigit() or abs(int(ts) - time.time()) > tolerance:
        return "webhook-timestamp %r is not a current Unix time" % ts
    sigs = _signatures(headers, "v1a")
    if not sigs:
        return "no v1a signature in %r" % _header(headers, "webhook-signature")
    content = standard_webhooks_content(msg_id, ts, body)
    if not any(len(s) == 64 and ed25519_verify(public_key, s, content) for s in sigs):
        return "v1a signature does not verify"
    return None


def verify_github(secret, headers, body):
    """None when X-Hub-Signature-256 is right for BODY, else why not."""
    got = _header(headers, "X-Hub-Signature-256")
    if not got:
        return "X-Hub-Signature-256 missing"
    if not hmac.compare_digest(got, github_signature(secret, body)):
        return "X-Hub-Signature-256 does not match"
    return None


def self_test():
    """The spec's test vectors, so that a wrong verifier cannot pass a wrong signer."""
    assert standard_webhooks_v1("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert github_signature("It's a Secret to Everybody", b"Hello, World!") == \
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    if ed25519_verify is not None:
        # RFC 8032 section 7.1, TEST 2.
        seed = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
        pub = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        sig = bytes.fromhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        assert ed25519_public_key(seed) == pub
        assert ed25519_verify(pub, sig, b"\x72")
        assert not ed25519_verify(pub, sig, b"\x73")


# ---- Scripted answers -----------------------------------------------------------------------

Action = collections.namedtuple("Action", "status headers body hang delay")


def reply(status=200, body=b"", headers=None, delay=0.0):
    """Answers STATUS with BODY and HEADERS, DELAY seconds after reading the request."""
    if isinstance(body, str):
        body = body.encode()
    return Action(status, dict(headers or {}), body, 0.0, float(delay))


def retry_after(status=429, seconds=None, when=None):
    """STATUS with Retry-After: SECONDS, or Retry-After: <HTTP-date of WHEN (a Unix time)>."""
    value = str(seconds) if seconds is not None else email.utils.formatdate(when, usegmt=True)
    return reply(status, b"slow down", {"Retry-After": value})


def hang(seconds):
    """Reads the request, answers nothing for SECONDS (past the client's timeout), then closes."""
    return Action(None, {}, b"", float(seconds), 0.0)


Request = collections.namedtuple("Request", "path query headers body time mono status")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with self.server.owner._lock:
            self.server.owner._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.owner._lock:
                self.server.owner._conns.discard(self.connection)

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        arrived, mono = time.time(), time.monotonic()
        parts = urllib.parse.urlsplit(self.path)
        owner = self.server.owner
        action = owner._next_action(parts.path)
        owner._record(Request(parts.path, urllib.parse.parse_qs(parts.query), self.headers, body,
                              arrived, mono, action.status))
        if action.hang:
            owner._stopping.wait(action.hang)
            self.close_connection = True
            return
        if action.delay:
            owner._stopping.wait(action.delay)
        self.send_response(action.status)
        for k, v in action.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(action.body)))
        if action.body:
            self.send_header("Content-Type", "text/plain")
        self.end_headers()
        if action.body:
            self.wfile.write(action.body)

    do_POST = do_PUT = do_GET = _serve


class _HTTPServer(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that gives up (its timeout) or a connection cut by down() is part of the
        # tests, not an error of the server.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class WebhookServer:
    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self._lock = threading.Condition()
        self._scripts = {}
        self._defaults = {}
        self._requests = []
        self._conns = set()  # open connections, cut by down()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self.port = port
        self.up()

    # -- listening ----------------------------------------------------------------------------

    def up(self):
        """Starts listening (again, on the same port after down())."""
        if self._httpd:
            return
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def down(self):
        """Stops listening and cuts the open (kept-alive) connections: from now on connections are
        refused until up()."""
        if not self._httpd:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def is_up(self):
        return self._httpd is not None

    def close(self):
        self._stopping.set()
        self.down()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def url(self, path="/", query=""):
        return "http://%s:%d%s%s" % (self.host, self.port, path, "?" + query if query else "")

    # -- scripting ----------------------------------------------------------------------------

    def script(self, path, actions):
        """Answers the next requests to PATH with ACTIONS in order, then with the default."""
        with self._lock:
            self._scripts.setdefault(path, collections.deque()).extend(actions)

    def default(self, path, action):
        """Answers requests to PATH with ACTION once its script is used up (200 otherwise)."""
        with self._lock:
            self._defaults[path] = action

    def _next_action(self, path):
        with self._lock:
            q = self._scripts.get(path)
            if q:
                return q.popleft()
            return self._defaults.get(path, reply(200))

    # -- what arrived -------------------------------------------------------------------------

    def _record(self, req):
        with self._lock:
            self._requests.append(req)
            self._lock.notify_all()

    def requests(self, path=None, status=None):
        """Every request read so far (to PATH, answered STATUS when given), in arrival order."""
        with self._lock:
            return [r for r in self._requests
                    if (path is None or r.path == path) and (status is None or r.status == status)]

    def bodies(self, path=None, status=None):
        return [json.loads(r.body) for r in self.requests(path, status)]

    def wait_for(self, pred, timeout):
        """Waits until PRED(requests) is true; returns its last value (falsy on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                v = pred(list(self._requests))
                left = deadline - time.monotonic()
                if v or left <= 0:
                    return v
                self._lock.wait(min(left, 0.1))

    def wait_count(self, path, n, timeout, status=None):
        """Waits until at least N requests to PATH (answered STATUS) arrived; returns them."""
        def enough(reqs):
            got = [r for r in reqs if r.path == path and (status is None or r.status == status)]
            return got if len(got) >= n else None
        return self.wait_for(enough, timeout) or self.requests(path, status)


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Records webhook requests; answers 200.")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    self_test()
    srv = WebhookServer(port=args.port)
    print("listening on %s" % srv.url(), file=sys.stderr, flush=True)
    seen = 0
    try:
        while True:
            reqs = srv.wait_for(lambda r: len(r) > seen and r, 3600)
            for r in reqs[seen:]:
                print(json.dumps({"time": r.time, "path": r.path, "query": r.query,
                                  "headers": dict(r.headers.items()),
                                  "body": r.body.decode("utf-8", "replace")}), flush=True)
            seen = len(reqs)
    except KeyboardInterrupt:
        srv.close()


if __name__ == "__main__":
    main()
