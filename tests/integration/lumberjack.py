"""Lumberjack (Beats protocol) receivers written for the tests: Frames reads windows from a
socket, Receiver accepts connections and answers each window as the test says (acknowledge, part,
keep-alives, nothing, close), keeping what it received."""
import socket
import struct
import threading
import zlib


class Frames:
    """Reads Lumberjack frames from a socket: read_window() returns (version, [seq...]) for one
    whole window, inflating C frames; its events are then in self.events."""

    def __init__(self, sock):
        self.sock, self.buf, self.events = sock, b"", []

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def data_frames(self, blob):
        """The sequence numbers of the J and D frames of BLOB; their events (a J frame's JSON
        text, a D frame's pairs as a dict) go to self.events."""
        seqs, off = [], 0
        while off < len(blob):
            kind = blob[off + 1:off + 2]
            if kind == b"J":
                seq, ln = struct.unpack(">II", blob[off + 2:off + 10])
                self.events.append(blob[off + 10:off + 10 + ln])
                off += 10 + ln
            elif kind == b"D":
                seq, pairs = struct.unpack(">II", blob[off + 2:off + 10])
                off += 10
                items = []
                for _ in range(2 * pairs):
                    (ln,) = struct.unpack(">I", blob[off:off + 4])
                    items.append(blob[off + 4:off + 4 + ln].decode("utf-8", "replace"))
                    off += 4 + ln
                self.events.append(dict(zip(items[0::2], items[1::2])))
            else:
                raise AssertionError("unexpected frame %r" % kind)
            seqs.append(seq)
        return seqs

    def read_window(self):
        self.events = []
        head = self.need(6)
        assert head[1:2] == b"W", head
        version, (n,) = head[0:1], struct.unpack(">I", head[2:6])
        seqs = []
        while len(seqs) < n:
            h = self.need(2)
            if h[1:2] == b"C":
                (ln,) = struct.unpack(">I", self.need(4))
                seqs += self.data_frames(zlib.decompress(self.need(ln)))
            elif h[1:2] == b"J":
                rest = self.need(8)
                ln = struct.unpack(">I", rest[4:8])[0]
                seqs += self.data_frames(h + rest + self.need(ln))
            elif h[1:2] == b"D":
                rest = self.need(8)
                blob = h + rest
                for _ in range(2 * struct.unpack(">I", rest[4:8])[0]):
                    lb = self.need(4)
                    blob += lb + self.need(struct.unpack(">I", lb)[0])
                seqs += self.data_frames(blob)
            else:
                raise AssertionError("unexpected frame %r" % h)
        return version, seqs


def ack(sock, version, seq):
    sock.sendall(version + b"A" + struct.pack(">I", seq))


class Receiver:
    """A Lumberjack receiver on 127.0.0.1 (PORT, 0 for any) whose behaviour per window is HANDLE(conn_no,
    window_no, sock, version, seqs); it returns False to close the connection. Every window read
    is kept in self.received as (conn_no, version, events), events as Frames gives them."""

    def __init__(self, handle, host="127.0.0.1", port=0):
        self.handle = handle
        self.received = []
        self.lock = threading.Lock()
        self.server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port used before
        self.server.bind((host, port))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.windows = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                conn_no = self.connections
            threading.Thread(target=self._serve, args=(sock, conn_no), daemon=True).start()

    def _serve(self, sock, conn_no):
        frames, window_no = Frames(sock), 0
        try:
            while True:
                version, seqs = frames.read_window()
                window_no += 1
                with self.lock:
                    self.windows += 1
                    self.received.append((conn_no, version, frames.events))
                if self.handle(conn_no, window_no, sock, version, seqs) is False:
                    break
        except (EOFError, OSError):
            pass
        finally:
            sock.close()

    def events(self):
        """Every event received so far, in arrival order."""
        with self.lock:
            return [e for _, _, evs in self.received for e in evs]

    def close(self):
        self.stopping = True
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept: nothing is taken after
        except OSError:
            pass
        self.server.close()
