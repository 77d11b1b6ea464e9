// A small Lumberjack v1/v2 frame encoder and an ACK reader, written from the protocol
// description (all integers u32 big-endian; every frame: version byte, type byte, payload).
// It can produce what no well-behaved client sends: bare frames, odd compression levels, v1
// data frames, partial windows, garbage.
import { createRequire } from 'node:module';
import net from 'node:net';
import zlib from 'node:zlib';
import { SLOW } from './server.mjs';

const require = createRequire(import.meta.url);

/** The npm package NAME (lumberjack-client, lumberjack-protocol), or an error saying how to get
 * it. */
export function npmPackage(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(`${name} is not installed: npm ci --prefix tests/integration (${e})`);
  }
}

export const V1 = 0x31; // '1'
export const V2 = 0x32; // '2'

function versionByte(version) {
  if (version === 1 || version === '1' || version === V1) return V1;
  if (version === 2 || version === '2' || version === V2) return V2;
  throw new Error(`unknown Lumberjack version ${version}`);
}

function head(version, type, n) {
  const b = Buffer.alloc(6);
  b[0] = versionByte(version);
  b[1] = type.charCodeAt(0);
  b.writeUInt32BE(n >>> 0, 2);
  return b;
}

/** `W n`: the number of data frames before the sender waits for an ACK. */
export function windowFrame(n, version = 2) {
  return head(version, 'W', n);
}

/** `A seq`: what the server sends back (used to build expectations). */
export function ackFrame(seq, version = 2) {
  return head(version, 'A', seq);
}

function toBuffer(event) {
  if (Buffer.isBuffer(event)) return event;
  if (typeof event === 'string') return Buffer.from(event, 'utf8');
  return Buffer.from(JSON.stringify(event), 'utf8');
}

/** v2 data frame: `2 J seq len json`. */
export function jsonFrame(seq, event) {
  const payload = toBuffer(event);
  const h = Buffer.alloc(10);
  h[0] = V2;
  h[1] = 'J'.charCodeAt(0);
  h.writeUInt32BE(seq >>> 0, 2);
  h.writeUInt32BE(payload.length, 6);
  return Buffer.concat([h, payload]);
}

/** v1 data frame: `1 D seq pairs (klen key vlen value)*`; every key and value a string. */
export function dataFrame(seq, pairs) {
  const entries = pairs instanceof Map ? [...pairs] : Object.entries(pairs);
  const parts = [];
  const h = Buffer.alloc(10);
  h[0] = V1;
  h[1] = 'D'.charCodeAt(0);
  h.writeUInt32BE(seq >>> 0, 2);
  h.writeUInt32BE(entries.length, 6);
  parts.push(h);
  for (const [k, v] of entries) {
    for (const s of [String(k), String(v)]) {
      const b = Buffer.from(s, 'utf8');
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

/** `C len zlib(inner)`: a zlib (RFC 1950) stream, at the given level (0..9). */
export function compressedFrame(inner, { level = 3, version = 2 } = {}) {
  const z = zlib.deflateSync(inner, { level });
  return Buffer.concat([head(version, 'C', z.length), z]);
}

/** `C len raw`: a compressed frame around bytes that are already compressed (or broken). */
export function rawCompressedFrame(payload, version = 2) {
  return Buffer.concat([head(version, 'C', payload.length), payload]);
}

/**
 * One whole window as a Beat sends it.
 * events: objects, strings or Buffers (v2), or objects of string pairs (v1).
 * options:
 *   version   1 or 2 (default 2)
 *   level     zlib level; null sends bare data frames (Beats' compression_level 0)
 *   firstSeq  sequence number of the first event (default 1: v2 restarts at 1 each window)
 */
export function encodeWindow(events, { version = 2, level = 3, firstSeq = 1 } = {}) {
  const frames = events.map((e, i) =>
    versionByte(version) === V1 ? dataFrame(firstSeq + i, e) : jsonFrame(firstSeq + i, e),
  );
  const body = Buffer.concat(frames);
  const w = windowFrame(events.length, version);
  if (level === null || level === undefined) return Buffer.concat([w, body]);
  return Buffer.concat([w, compressedFrame(body, { level, version })]);
}

/** Parses the 6-byte ACK frames from a byte stream. */
export class AckReader {
  constructor(socket) {
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    this.acks = []; // every ACK ever parsed, in order: { version, seq, at }
    this.queue = []; // ACKs not yet taken by next()
    this.waiters = [];
    this.closed = false;
    this.error = null; // a malformed ACK stream
    this.closedPromise = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    socket.on('data', (chunk) => this._onData(chunk));
    socket.on('close', () => this._onClose());
    socket.on('error', () => {}); // 'close' follows; the test looks at what arrived
  }

  _onData(chunk) {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 6) {
      const f = this.pending.subarray(0, 6);
      if ((f[0] !== V1 && f[0] !== V2) || f[1] !== 0x41) {
        this.error = new Error(`not an ACK frame: ${f.toString('hex')}`);
      }
      const ack = {
        version: String.fromCharCode(f[0]),
        type: String.fromCharCode(f[1]),
        seq: f.readUInt32BE(2),
        at: Date.now(),
      };
      this.pending = this.pending.subarray(6);
      this.acks.push(ack);
      const w = this.waiters.shift();
      if (w) w.resolve(ack);
      else this.queue.push(ack);
    }
  }

  _onClose() {
    this.closed = true;
    this._resolveClosed();
    for (const w of this.waiters.splice(0)) {
      w.reject(
        Object.assign(new Error('connection closed before the ACK arrived'), { code: 'CLOSED' }),
      );
    }
  }

  /** The next ACK frame (keep-alives included), within timeoutMs. */
  next(timeoutMs = 10000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) {
      return Promise.reject(
        Object.assign(new Error('connection closed before the ACK arrived'), { code: 'CLOSED' }),
      );
    }
    return new Promise((resolve, reject) => {
      const w = {};
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(Object.assign(new Error(`no ACK within ${timeoutMs} ms`), { code: 'TIMEOUT' }));
      }, timeoutMs);
      w.resolve = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
      w.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.waiters.push(w);
    });
  }

  /** The next ACK that is not a v2 keep-alive (`2 A 0`), within timeoutMs in all. */
  async nextReal(timeoutMs = 10000 * SLOW) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let a;
      try {
        a = await this.next(Math.max(1, deadline - Date.now()));
      } catch (e) {
        if (e.code === 'TIMEOUT') {
          const keepalives = this.acks.filter((x) => x.seq === 0).length;
          e.message = `no ACK within ${timeoutMs} ms (${keepalives} keep-alives so far)`;
        }
        throw e;
      }
      if (!(a.seq === 0 && a.version === '2')) return a;
    }
  }

  /** Resolves true when the peer closed within timeoutMs, false otherwise. */
  async waitClosed(timeoutMs = 10000) {
    let timer;
    const t = new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const r = await Promise.race([this.closedPromise.then(() => true), t]);
    clearTimeout(timer);
    return r;
  }
}

/** A TCP connection to the server with an ACK reader attached. */
export function connect(port, { host = '127.0.0.1', timeoutMs = 10000, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, ...opts });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      const conn = new Connection(socket);
      resolve(conn);
    });
  });
}

export class Connection {
  constructor(socket) {
    this.socket = socket;
    this.acks = new AckReader(socket);
    // What the server sees as the peer (kept: a closed socket forgets its address).
    this.peer = `${socket.localAddress}:${socket.localPort}`;
  }

  /** Writes bytes; resolves when handed to the kernel (or rejects on a write error). */
  write(bytes) {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Sends one whole window and waits for its (non-keep-alive) ACK. */
  async roundTrip(events, opts = {}, timeoutMs = 15000 * SLOW) {
    await this.write(encodeWindow(events, opts));
    return this.acks.nextReal(timeoutMs);
  }

  destroy() {
    this.socket.destroy();
  }

  end() {
    this.socket.end();
  }
}
