#!/usr/bin/env python3
"""A syslog sender faster than loggen: the corpus file is read once into memory (LF-framed as it
is, or octet-counted with --octet), and each of --connections TCP connections writes that whole
buffer --repeat times with sendall, so the sender costs little more than the kernel's copies.
Prints one JSON object: messages, bytes, seconds, messages_per_s.

usage: blast.py --port P [--host 127.0.0.1] [--connections 4] [--repeat 1] [--octet] FILE"""
import argparse
import json
import socket
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--octet", action="store_true", help="octet counting (RFC 6587) instead of LF")
    ap.add_argument("file")
    a = ap.parse_args()
    with open(a.file, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if a.octet:
        buf = b"".join(b"%d %s" % (len(ln), ln) for ln in lines)
    else:
        buf = b"".join(ln + b"\n" for ln in lines)
    view = memoryview(buf)
    socks = []
    for _ in range(a.connections):
        s = socket.create_connection((a.host, a.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        socks.append(s)
    errors = []

    def send(s):
        try:
            for _ in range(a.repeat):
                s.sendall(view)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=send, args=(s,)) for s in socks]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    for s in socks:
        s.close()
    n = len(lines) * a.repeat * a.connections
    print(json.dumps({"messages": n, "bytes": len(buf) * a.repeat * a.connections,
                      "seconds": round(secs, 3), "messages_per_s": round(n / secs),
                      "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
