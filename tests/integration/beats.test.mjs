// The Beats (Lumberjack v1/v2) receiver of `amsiwatch serve`, driven over loopback TCP by the
// npm `lumberjack-client` and by this directory's own frame encoder (lib/lumberjack.mjs).
//
//   AMSIWATCH_BIN=build/asan-ubsan/amsiwatch node --test --test-concurrency=1 \
//       tests/integration/beats.test.mjs
//
// Every test starts its own server on 127.0.0.1 port 0 with a temporary data directory and kills
// it at the end; every wait is bounded.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { test } from 'node:test';

import {
  amsiEvent,
  backgroundEvent,
  mixedEvents,
  v1AmsiPairs,
  v1BackgroundPairs,
} from './lib/events.mjs';
import {
  compressedFrame,
  connect,
  dataFrame,
  encodeWindow,
  jsonFrame,
  rawCompressedFrame,
  windowFrame,
  AckReader,
  npmPackage,
} from './lib/lumberjack.mjs';
import {
  journal,
  journalExport,
  Server,
  SLOW,
  sleep,
  waitFor,
  within,
} from './lib/server.mjs';

/** The npm client (tests/integration/node_modules; scripts/test.sh runs `npm ci` for it). */
function lumberjackClient() {
  return npmPackage('lumberjack-client');
}

const MiB = 1024 * 1024;
const RSS_BOUND_KIB = 300 * 1024; // what the process may ever hold in the hostile cases

/** Runs fn with a fresh server; the server is killed and its data directory removed after. */
async function withServer(opts, fn) {
  const server = await Server.start(opts);
  try {
    return await fn(server);
  } catch (e) {
    // A server that died under the test is the first thing to know about.
    await sleep(100);
    if (!server.running() && server.exit.signal !== 'SIGKILL') {
      // A sanitizer report from its first line, or the end of the log.
      const lines = server.stderr.split('\n');
      const report = lines.findIndex((l) => /ERROR: \w+Sanitizer|runtime error:/.test(l));
      const tail = (report >= 0 ? lines.slice(report, report + 40) : lines.slice(-40)).join('\n');
      e.message += `\n-- amsiwatch serve exited (${JSON.stringify(server.exit)}); stderr:\n${tail}`;
    }
    throw e;
  } finally {
    await server.dispose();
  }
}

/** Lines of stderr that mention the connection from `peer`. */
function linesAbout(server, peer) {
  return server.stderr.split('\n').filter((l) => l.includes(`${peer}:`));
}

/** How many alerts the journal holds for each tag (host name). */
function alertsByTag(alerts) {
  const m = new Map();
  for (const a of alerts) {
    const tag = a.fields?.['host.name'];
    m.set(tag, (m.get(tag) ?? 0) + 1);
  }
  return m;
}

function assertExactAlerts(alerts, tags, what) {
  const got = alerts.map((a) => a.fields?.['host.name']).sort();
  assert.deepEqual(got, [...tags].sort(), `${what}: the journal holds exactly the alerts sent`);
}

// ---------------------------------------------------------------------------------------------
// The npm client
// ---------------------------------------------------------------------------------------------

test('lumberjack-client: one window per log(), ACK 1 each; the alert is journaled with its peer', {
  timeout: 60000 * SLOW,
}, async () => {
  await withServer({}, async (server) => {
    const LumberjackClient = lumberjackClient();
    const client = new LumberjackClient({ host: '127.0.0.1', port: server.port });
    // The client never reads ACKs itself: read them from its socket.
    const acks = new AckReader(client.socket);
    try {
      await waitFor(() => client.connected, 10000 * SLOW, 'lumberjack-client to connect');
      const peer = `${client.socket.localAddress}:${client.socket.localPort}`;
      const tag = 'npm-client-ws-01';
      const sent = [backgroundEvent(0), amsiEvent(tag, 4242), backgroundEvent(1)];
      sent.push(backgroundEvent(2));
      // One log() call at a time, each waiting for its ACK: one window of 1 each.
      for (const ev of sent) {
        client.log(ev);
        const a = await acks.next(15000 * SLOW);
        assert.deepEqual([a.version, a.type, a.seq], ['2', 'A', 1], 'ACK of a 1-event window');
      }
      // And several log() calls back to back: still one window (and one ACK of 1) per call.
      for (let i = 0; i < 5; i++) client.log(backgroundEvent(10 + i));
      for (let i = 0; i < 5; i++) {
        const a = await acks.next(15000 * SLOW);
        assert.deepEqual([a.version, a.type, a.seq], ['2', 'A', 1]);
      }
      assert.equal(acks.error, null);

      const alerts = journalExport(server.dataDir);
      assert.equal(alerts.length, 1, 'one AmsiEnable event sent, one alert journaled');
      const al = alerts[0];
      assert.match(al.alert_id, /^[0-9a-f]{32}$/);
      assert.equal(al.fields['host.name'], tag);
      assert.equal(al.source.type, 'beats');
      assert.equal(al.source.peer, peer, 'source.peer is the client address:port');
      assert.equal(al.source.protocol_version, 2);
      assert.equal(al.rule.id, 'f874315d-5188-4b4a-8521-d1c73093a7e4');
      assert.equal(JSON.parse(al.original).host.name, tag, 'original is the event as sent');
      assert.equal(JSON.parse(al.original).winlog.record_id, 4242);

      // The same alert is printed on standard output (written before the ACK).
      const printed = await waitFor(
        () => server.alertsPrinted().find((a) => a.alert_id === al.alert_id),
        5000 * SLOW,
        'the alert on standard output',
      );
      assert.equal(printed.source.peer, peer);
      assert.equal(server.alertsPrinted().length, 1);
    } finally {
      client.connecting = true; // keeps the client from reconnecting when its socket closes
      client.socket?.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Windows and ACKs, with this directory's encoder
// ---------------------------------------------------------------------------------------------

test('50 windows of different sizes on one connection, each ACKed with its size', {
  timeout: 90000 * SLOW,
}, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const conn = await connect(server.port);
    const tags = [];
    for (let w = 0; w < 50; w++) {
      const size = 1 + ((w * 7) % 40);
      const alerts = w % 5 === 0 ? 1 + (w % 3) : 0;
      const { events, tags: t } = mixedEvents(size, alerts, `many-w${w}`);
      tags.push(...t);
      const a = await conn.roundTrip(events, { level: 3 }, 15000 * SLOW);
      assert.deepEqual([a.version, a.seq], ['2', events.length], `window ${w}`);
    }
    assert.equal(conn.acks.acks.filter((a) => a.seq !== 0).length, 50, 'one ACK per window');
    assertExactAlerts(journalExport(server.dataDir), tags, '50 windows');
    conn.destroy();
  });
});

test('pipelining: 3 windows before reading ACKs; ACKs in window order with their sizes', {
  timeout: 90000 * SLOW,
}, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const conn = await connect(server.port);
    const tags = [];
    for (let round = 0; round < 10; round++) {
      const sizes = [5 + round, 1, 12];
      const parts = sizes.map((n, i) => {
        const { events, tags: t } = mixedEvents(n, i === 1 ? 0 : 1, `pipe-r${round}-w${i}`);
        tags.push(...t);
        // Mix the encodings inside one round: compressed, bare, compressed at level 1.
        return encodeWindow(events, { level: [3, null, 1][i] });
      });
      const bytes = Buffer.concat(parts);
      if (round % 2 === 0) {
        await conn.write(bytes);
      } else {
        // The same bytes cut at odd places: frames straddle TCP segments.
        for (let off = 0; off < bytes.length; off += 997) {
          await conn.write(bytes.subarray(off, off + 997));
        }
      }
      for (const n of sizes) {
        const a = await conn.acks.nextReal(15000 * SLOW);
        assert.deepEqual([a.version, a.seq], ['2', n], `round ${round}: ACKs in window order`);
      }
    }
    assertExactAlerts(journalExport(server.dataDir), tags, 'pipelined windows');
    conn.destroy();
  });
});

test('compression levels 0, 1, 3, 6, 9 and bare J frames', { timeout: 60000 * SLOW }, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const conn = await connect(server.port);
    const tags = [];
    for (const level of [0, 1, 3, 6, 9, null]) {
      const { events, tags: t } = mixedEvents(20, 2, `level-${level ?? 'bare'}`);
      tags.push(...t);
      const bytes = encodeWindow(events, { level });
      // Bare: the W frame is followed directly by the first J frame.
      assert.equal(bytes.subarray(6, 8).toString('latin1'), level === null ? '2J' : '2C');
      const a = await conn.roundTrip(events, { level }, 15000 * SLOW);
      assert.deepEqual([a.version, a.seq], ['2', 20], `level ${level}`);
    }
    assertExactAlerts(journalExport(server.dataDir), tags, 'every compression level');
    conn.destroy();
  });
});

test('v1: W + C of D frames; sequence numbers run on across windows; ACKs carry version 1', {
  timeout: 60000 * SLOW,
}, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const conn = await connect(server.port);
    const win = (first, n, tag) => {
      const pairs = [];
      for (let i = 0; i < n; i++) {
        pairs.push(i === n - 1 ? v1AmsiPairs(tag, first + i) : v1BackgroundPairs(first + i));
      }
      return pairs;
    };
    // Window 1: seqs 1..10 -> ACK 10; window 2: seqs 11..20 -> ACK 20 (v1 does not restart).
    let a = await conn.roundTrip(win(1, 10, 'v1-w1'), { version: 1, firstSeq: 1 }, 15000 * SLOW);
    assert.deepEqual([a.version, a.type, a.seq], ['1', 'A', 10]);
    a = await conn.roundTrip(win(11, 10, 'v1-w2'), { version: 1, firstSeq: 11 }, 15000 * SLOW);
    assert.deepEqual([a.version, a.type, a.seq], ['1', 'A', 20]);
    // Bare D frames, and a zlib level 9 window.
    a = await conn.roundTrip(win(21, 5, 'v1-w3'), { version: 1, firstSeq: 21, level: null });
    assert.deepEqual([a.version, a.seq], ['1', 25]);
    a = await conn.roundTrip(win(26, 3, 'v1-w4'), { version: 1, firstSeq: 26, level: 9 });
    assert.deepEqual([a.version, a.seq], ['1', 28]);
    // No keep-alive and no v2 ACK ever on a v1 connection.
    assert.ok(conn.acks.acks.every((x) => x.version === '1' && x.seq !== 0), 'only v1 ACKs');

    const alerts = journalExport(server.dataDir);
    assertExactAlerts(alerts, ['v1-w1', 'v1-w2', 'v1-w3', 'v1-w4'], 'v1 windows');
    for (const al of alerts) {
      assert.equal(al.source.protocol_version, 1);
      assert.equal(al.source.peer, conn.peer);
    }
    conn.destroy();
  });
});

test('W 0 is answered with ACK 0 (v2 and v1), and the connection goes on', {
  timeout: 30000 * SLOW,
}, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const conn = await connect(server.port);
    await conn.write(windowFrame(0, 2));
    let a = await conn.acks.next(10000 * SLOW);
    assert.deepEqual([a.version, a.type, a.seq], ['2', 'A', 0]);
    a = await conn.roundTrip([amsiEvent('w0-after', 1), backgroundEvent(0)]);
    assert.deepEqual([a.version, a.seq], ['2', 2]);

    const v1 = await connect(server.port);
    await v1.write(windowFrame(0, 1));
    a = await v1.acks.next(10000 * SLOW);
    assert.deepEqual([a.version, a.type, a.seq], ['1', 'A', 0]);
    // W 0 between two windows, all in one write.
    await conn.write(
      Buffer.concat([
        encodeWindow([backgroundEvent(1)]),
        windowFrame(0),
        encodeWindow([backgroundEvent(2), backgroundEvent(3)], { level: null }),
      ]),
    );
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push((await conn.acks.next(10000 * SLOW)).seq);
    assert.deepEqual(seqs, [1, 0, 2]);
    assertExactAlerts(journalExport(server.dataDir), ['w0-after'], 'W 0');
    conn.destroy();
    v1.destroy();
  });
});

test('a partial window (W 10, 5 frames, then W 3 + 3 frames) is ACKed 5, then 3', {
  timeout: 30000 * SLOW,
}, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    for (const level of [null, 3]) {
      const conn = await connect(server.port);
      const tagA = `partial-${level ?? 'bare'}-a`;
      const tagB = `partial-${level ?? 'bare'}-b`;
      const first = [backgroundEvent(0), amsiEvent(tagA, 1), backgroundEvent(1)];
      first.push(backgroundEvent(2), backgroundEvent(3));
      const second = [backgroundEvent(4), backgroundEvent(5), amsiEvent(tagB, 2)];
      const frames = (evs) => Buffer.concat(evs.map((e, i) => jsonFrame(i + 1, e)));
      const body = (evs) =>
        level === null ? frames(evs) : compressedFrame(frames(evs), { level });
      await conn.write(Buffer.concat([windowFrame(10), body(first)]));
      await sleep(200); // the partial window is in: nothing may be ACKed for it yet
      assert.equal(conn.acks.acks.filter((a) => a.seq !== 0).length, 0, 'no ACK before W 3');
      await conn.write(Buffer.concat([windowFrame(3), body(second)]));
      const a1 = await conn.acks.nextReal(10000 * SLOW);
      const a2 = await conn.acks.nextReal(10000 * SLOW);
      assert.deepEqual([a1.seq, a2.seq], [5, 3], `level ${level}`);
      conn.destroy();
    }
    const tags = ['partial-bare-a', 'partial-bare-b', 'partial-3-a', 'partial-3-b'];
    assertExactAlerts(journalExport(server.dataDir), tags, 'partial windows');
  });
});

test('1,000 concurrent connections, each one small window and its ACK', {
  timeout: 180000 * SLOW,
}, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const N = 1000;
    const conns = [];
    try {
      for (let i = 0; i < N; i += 100) {
        const batch = [];
        for (let j = i; j < Math.min(N, i + 100); j++) batch.push(connect(server.port));
        conns.push(...(await Promise.all(batch)));
      }
      assert.equal(conns.length, N);
      // All 1,000 are open; each sends a window of 2 events, every 10th with an AmsiEnable one.
      const expected = new Map(); // tag -> peer
      const acks = conns.map((c, i) => {
        const events = [backgroundEvent(i)];
        if (i % 10 === 0) {
          const tag = `conc-${i}`;
          expected.set(tag, c.peer);
          events.push(amsiEvent(tag, i));
        } else {
          events.push(backgroundEvent(i + 1));
        }
        c.socket.write(encodeWindow(events, { level: i % 2 ? 3 : null }));
        return c.acks.nextReal(60000 * SLOW);
      });
      const got = await Promise.all(acks);
      for (const a of got) assert.deepEqual([a.version, a.seq], ['2', 2]);
      assert.ok(conns.every((c) => !c.acks.closed), 'every connection is still open');

      const alerts = journalExport(server.dataDir);
      assertExactAlerts(alerts, [...expected.keys()], '1,000 connections');
      for (const al of alerts) {
        const peer = expected.get(al.fields['host.name']);
        assert.equal(al.source.peer, peer, 'the alert carries its peer');
      }
    } finally {
      for (const c of conns) c.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input: each closes only its own connection, with one clear log line
// ---------------------------------------------------------------------------------------------

/**
 * Opens a well-behaved connection, runs `attack` (which returns the bad connection: its peer, a
 * way to wait for its close, the ACKs it got), then checks: the good connection (open all along)
 * still gets its ACKs; the process never held more than RSS_BOUND_KIB; the bad connection was
 * closed within closeMs, without an ACK; stderr has one warning about it naming `cause`; the
 * server still runs. Two detection workers, so that the memory bound does not depend on the
 * number of cores.
 */
async function hostile({ args = [], cause, closeMs = 3000 * SLOW, attack }) {
  await withServer({ args: ['--quiet', '--workers', '2', ...args] }, async (server) => {
    const good = await connect(server.port);
    let a = await good.roundTrip([backgroundEvent(0), amsiEvent('good-before', 1)]);
    assert.equal(a.seq, 2);

    const bad = await attack(server);
    const everyBad = [bad, ...(bad.others ?? [])];
    const closed = await Promise.all(everyBad.map((b) => b.closed(closeMs)));

    // Whatever happened to the bad connection, the good one is undisturbed...
    assert.ok(server.running(), 'the server still runs');
    assert.ok(!good.acks.closed, 'the good connection is still open');
    a = await good.roundTrip([backgroundEvent(1), amsiEvent('good-after', 2), backgroundEvent(2)]);
    assert.deepEqual([a.version, a.seq], ['2', 3], 'the good connection still works');
    assertExactAlerts(journalExport(server.dataDir), ['good-before', 'good-after'], 'hostile');
    // ... and the memory stayed bounded.
    const mem = server.memory();
    assert.ok(
      mem.hwmKiB < RSS_BOUND_KIB,
      `peak RSS ${mem.hwmKiB} KiB stays under ${RSS_BOUND_KIB} KiB (now ${mem.rssKiB} KiB)`,
    );

    // The bad connection was closed promptly, without an ACK, with one clear warning.
    for (const [i, b] of everyBad.entries()) {
      const keepalives = b.acks().filter((x) => x.seq === 0).length;
      assert.ok(
        closed[i],
        `the server closes the bad connection within ${closeMs} ms ` +
          `(still open; ${keepalives} keep-alive ACKs received meanwhile)`,
      );
      assert.equal(b.acks().filter((x) => x.seq !== 0).length, b.acksBefore ?? 0, 'no ACK');
      const line = await server.waitForLog(closingLine(b.peer), 5000 * SLOW);
      assert.ok(line[0].includes(cause), `the log names the cause "${cause}": ${line[0]}`);
      assert.match(line[0], /^warn beats: /, 'logged as a warning');
      assert.equal(linesAbout(server, b.peer).length, 1, 'one line about the bad connection');
    }
    good.destroy();
    for (const b of everyBad) b.destroy?.();
  });
}

/** The log line that says why the connection from `peer` was closed. */
function closingLine(peer) {
  const escaped = peer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^.*${escaped}: closing: .*$`, 'm');
}

/** A raw connection that sends `bytes` (a Buffer, or an async function given the connection). */
function rawAttack(bytes) {
  return async (server) => {
    const c = await connect(server.port);
    c.socket.on('error', () => {});
    if (typeof bytes === 'function') await bytes(c);
    else c.socket.write(bytes, () => {});
    return {
      peer: c.peer,
      closed: (ms) => c.acks.waitClosed(ms),
      acks: () => c.acks.acks,
      destroy: () => c.destroy(),
    };
  };
}

test('bad input: a TLS ClientHello on the plaintext port', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: 'TLS client on a plaintext port',
    attack: async (server) => {
      const s = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false });
      s.on('error', () => {});
      const connected = new Promise((resolve) => s.once('connect', () => resolve(true)));
      const ok = await within(connected, 10000);
      assert.equal(ok, true, 'TCP connect');
      const peer = `${s.localAddress}:${s.localPort}`;
      const r = new AckReader(s);
      return {
        peer,
        closed: (ms) => r.waitClosed(ms),
        acks: () => r.acks,
        destroy: () => s.destroy(),
      };
    },
  });
});

test('bad input: HTTP sent to the Beats port', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: 'HTTP sent to the Beats port',
    attack: rawAttack(Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')),
  });
});

test('bad input: an unknown version byte', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: 'unknown protocol version byte 0x33',
    attack: rawAttack(Buffer.from('3W\x00\x00\x00\x01', 'latin1')),
  });
});

test('bad input: an unknown version byte after a good window', {
  timeout: 60000 * SLOW,
}, async () => {
  await hostile({
    cause: 'unknown protocol version byte 0x00',
    attack: async (server) => {
      const r = await rawAttack(async (c) => {
        const a = await c.roundTrip([backgroundEvent(7)]);
        assert.equal(a.seq, 1);
        c.socket.write(Buffer.from([0, 0, 0, 0, 0, 0]), () => {});
      })(server);
      r.acksBefore = 1;
      return r;
    },
  });
});

test('bad input: an unknown frame type', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: "unknown frame type 0x58 after version '2'",
    attack: rawAttack(Buffer.concat([windowFrame(1), Buffer.from('2X\x00\x00\x00\x00')])),
  });
});

test('bad input: an unknown frame type inside a compressed frame', {
  timeout: 60000 * SLOW,
}, async () => {
  const inner = Buffer.concat([
    jsonFrame(1, backgroundEvent(0)),
    Buffer.from('2Q\x00\x00\x00\x00', 'latin1'),
  ]);
  await hostile({
    cause: 'unknown frame type 0x51',
    attack: rawAttack(Buffer.concat([windowFrame(2), compressedFrame(inner)])),
  });
});

test('bad input: JSON without Lumberjack framing', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: 'JSON sent without Lumberjack framing',
    attack: rawAttack(Buffer.from(`${JSON.stringify(amsiEvent('unframed', 1))}\n`)),
  });
});

test('bad input: a data frame before any window frame', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: 'a data frame before any window frame',
    attack: rawAttack(jsonFrame(1, amsiEvent('no-window', 1))),
  });
});

test('bad input: a window over beats.max-window', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    args: ['--beats-max-window', '100'],
    cause: 'over its limit',
    attack: rawAttack(windowFrame(101)),
  });
});

test('bad input: W 2^32-1 with the default limits', { timeout: 60000 * SLOW }, async () => {
  await hostile({ cause: 'over its limit', attack: rawAttack(windowFrame(0xffffffff)) });
});

test('bad input: a JSON frame over beats.max-json (1 MiB sent after the header)', {
  timeout: 60000 * SLOW,
}, async () => {
  const payload = Buffer.alloc(MiB, 0x20);
  const h = Buffer.alloc(10);
  h.write('2J', 0, 'latin1');
  h.writeUInt32BE(1, 2);
  h.writeUInt32BE(payload.length, 6);
  await hostile({
    args: ['--beats-max-json', '64KiB'],
    cause: 'over its limit',
    attack: rawAttack(Buffer.concat([windowFrame(1), h, payload])),
  });
});

test('bad input: a JSON frame header announcing 4 GiB', { timeout: 60000 * SLOW }, async () => {
  const h = Buffer.alloc(10);
  h.write('2J', 0, 'latin1');
  h.writeUInt32BE(1, 2);
  h.writeUInt32BE(0xffffffff, 6);
  await hostile({
    cause: 'over its limit',
    attack: rawAttack(Buffer.concat([windowFrame(1), h, Buffer.alloc(256 * 1024, 0x20)])),
  });
});

test('bad input: a compressed frame over beats.max-compressed', {
  timeout: 60000 * SLOW,
}, async () => {
  const h = Buffer.alloc(6);
  h.write('2C', 0, 'latin1');
  h.writeUInt32BE(2 * MiB, 2);
  await hostile({
    args: ['--beats-max-compressed', '1MiB'],
    cause: 'over its limit',
    attack: rawAttack(Buffer.concat([windowFrame(1), h, Buffer.alloc(64 * 1024)])),
  });
});

test('bad input: a v1 data frame with more pairs than beats.max-pairs', {
  timeout: 60000 * SLOW,
}, async () => {
  const pairs = {};
  for (let i = 0; i < 20; i++) pairs[`k${i}`] = `v${i}`;
  await hostile({
    args: ['--beats-max-pairs', '16'],
    cause: 'over its limit',
    attack: rawAttack(Buffer.concat([windowFrame(1, 1), dataFrame(1, pairs)])),
  });
});

test('bad input: a broken zlib stream', { timeout: 60000 * SLOW }, async () => {
  await hostile({
    cause: 'broken zlib stream',
    attack: rawAttack(
      Buffer.concat([windowFrame(3), rawCompressedFrame(Buffer.from('this is not a zlib stream'))]),
    ),
  });
});

test('bad input: a zlib stream cut short', { timeout: 60000 * SLOW }, async () => {
  const z = zlib.deflateSync(
    Buffer.concat([1, 2, 3].map((i) => jsonFrame(i, backgroundEvent(i)))),
    { level: 6 },
  );
  await hostile({
    cause: 'broken zlib stream',
    attack: rawAttack(
      Buffer.concat([windowFrame(3), rawCompressedFrame(z.subarray(0, z.length >> 1))]),
    ),
  });
});

test('bad input: raw deflate and gzip instead of a zlib stream', {
  timeout: 60000 * SLOW,
}, async () => {
  const inner = jsonFrame(1, amsiEvent('raw-deflate', 1));
  await hostile({
    cause: 'broken zlib stream',
    attack: rawAttack(
      Buffer.concat([windowFrame(1), rawCompressedFrame(zlib.deflateRawSync(inner))]),
    ),
  });
  await hostile({
    cause: 'broken zlib stream',
    attack: rawAttack(Buffer.concat([windowFrame(1), rawCompressedFrame(zlib.gzipSync(inner))])),
  });
});

// 100 MB of zeros compress to about 100 KB: over beats.max-inflated (64 MiB) and the ratio (1000).
let bomb100;
function zipBomb100() {
  bomb100 ??= zlib.deflateSync(Buffer.alloc(100 * 1000 * 1000), { level: 9 });
  return bomb100;
}

test('bad input: a zip bomb (100 MB of zeros), over beats.max-inflated', {
  timeout: 90000 * SLOW,
}, async () => {
  await hostile({
    cause: 'inflates past the limit',
    attack: rawAttack(Buffer.concat([windowFrame(1), rawCompressedFrame(zipBomb100())])),
  });
});

test('bad input: a zip bomb over beats.max-ratio', { timeout: 60000 * SLOW }, async () => {
  // 10 MB of spaces inside a valid J frame: within max-inflated, but 100 times its size.
  const ev = Buffer.concat([
    Buffer.from('{"message":"'),
    Buffer.alloc(10 * 1000 * 1000, 0x20),
    Buffer.from('"}'),
  ]);
  const z = zlib.deflateSync(jsonFrame(1, ev), { level: 9 });
  await hostile({
    args: ['--beats-max-ratio', '100'],
    cause: 'inflates past the limit',
    attack: rawAttack(Buffer.concat([windowFrame(1), rawCompressedFrame(z)])),
  });
});

test('bad input: four zip bombs at once stay within the memory bound', {
  timeout: 120000 * SLOW,
}, async () => {
  await hostile({
    cause: 'inflates past the limit',
    attack: async (server) => {
      const bomb = Buffer.concat([windowFrame(1), rawCompressedFrame(zipBomb100())]);
      const bad = await Promise.all([0, 1, 2, 3].map(() => rawAttack(bomb)(server)));
      return { ...bad[0], others: bad.slice(1) };
    },
  });
});

test('bad input: a frame truncated by the close of the connection', {
  timeout: 60000 * SLOW,
}, async () => {
  const frame = jsonFrame(1, amsiEvent('truncated', 1));
  await hostile({
    cause: 'truncated frame',
    attack: rawAttack(async (c) => {
      c.socket.end(Buffer.concat([windowFrame(1), frame.subarray(0, frame.length - 20)]));
    }),
  });
});

test('bad input: a slow sender (a frame header, then nothing past beats.frame-timeout)', {
  timeout: 60000 * SLOW,
}, async () => {
  await hostile({
    args: ['--beats-frame-timeout', '1s'],
    cause: 'slow sender',
    closeMs: 5000, // 1 s, checked every 250 ms: not a matter of CPU speed
    attack: rawAttack(Buffer.from('2W\x00\x00', 'latin1')),
  });
});

test('bad input: a slow sender dribbling one byte every 300 ms (the frame time counts)', {
  timeout: 60000 * SLOW,
}, async () => {
  // The 6-byte W frame alone takes 1.5 s: past the 1 s frame timeout, however often bytes come.
  const bytes = encodeWindow([amsiEvent('dribble', 1)], { level: 3 });
  let stop = false;
  try {
    await hostile({
      args: ['--beats-frame-timeout', '1s'],
      cause: 'slow sender',
      closeMs: 5000, // 1 s, checked every 250 ms: not a matter of CPU speed
      attack: rawAttack(async (c) => {
        (async () => {
          for (let i = 0; i < bytes.length && !stop && !c.acks.closed; i++) {
            c.socket.write(bytes.subarray(i, i + 1), () => {});
            await sleep(300);
          }
        })();
      }),
    });
  } finally {
    stop = true;
  }
});

test('bad input: a slow sender inside a window (W, then part of a J frame, then nothing)', {
  timeout: 60000 * SLOW,
}, async () => {
  // What a stalled Beat looks like: the window frame arrived, its data never finishes.
  const frame = jsonFrame(1, amsiEvent('slow', 1));
  await hostile({
    args: ['--beats-frame-timeout', '1s'],
    cause: 'slow sender',
    closeMs: 5000, // 1 s, checked every 250 ms: not a matter of CPU speed
    attack: rawAttack(Buffer.concat([windowFrame(1), frame.subarray(0, 40)])),
  });
});

test('bad input: a slow sender inside a window (W, then part of a C frame, then nothing)', {
  timeout: 60000 * SLOW,
}, async () => {
  const bytes = encodeWindow([amsiEvent('slow-c', 1), backgroundEvent(1)], { level: 3 });
  await hostile({
    args: ['--beats-frame-timeout', '1s'],
    cause: 'slow sender',
    closeMs: 5000, // 1 s, checked every 250 ms: not a matter of CPU speed
    attack: rawAttack(bytes.subarray(0, bytes.length - 10)),
  });
});

test('bad input: a client that never reads its ACKs', { timeout: 120000 * SLOW }, async () => {
  await withServer({ args: ['--quiet'] }, async (server) => {
    const good = await connect(server.port);
    let a = await good.roundTrip([amsiEvent('good-before', 1)]);
    assert.equal(a.seq, 1);

    // The bad client's socket is never read: its receive buffer fills (the kernel's, plus node's
    // small one), then the server's send buffer, then whatever the server queues itself.
    const bad = await connect(server.port);
    bad.socket.removeAllListeners('data');
    bad.socket.pause();
    bad.socket.on('error', () => {});
    // W 0 windows cost the server nothing but an ACK each: 2 million of them are 12 MB of ACKs,
    // more than the two socket buffers on loopback hold.
    const chunk = Buffer.concat(Array.from({ length: 10000 }, () => windowFrame(0)));
    let sent = 0;
    let badClosed = false;
    bad.socket.on('close', () => {
      badClosed = true;
    });
    const deadline = Date.now() + 60000 * SLOW;
    while (!badClosed && sent < 200 && Date.now() < deadline) {
      if (!bad.socket.write(chunk)) {
        // Back-pressure on our side: the server stopped reading us (or is slow). Wait a little.
        await within(new Promise((r) => bad.socket.once('drain', r)), 2000);
      }
      sent++;
      // Meanwhile the good connection keeps working.
      if (sent % 50 === 0) {
        a = await good.roundTrip([backgroundEvent(sent)], {}, 15000 * SLOW);
        assert.equal(a.seq, 1);
      }
    }
    const mem = server.memory();
    assert.ok(mem.hwmKiB < RSS_BOUND_KIB, `peak RSS ${mem.hwmKiB} KiB`);
    assert.ok(server.running());
    // Either the server closed the bad connection (and said why) or it stopped reading from it.
    assert.ok(
      badClosed || bad.socket.writableNeedDrain,
      `the server neither closed the connection nor stopped reading it (${sent} x 10,000 W 0)`,
    );
    const lines = linesAbout(server, bad.peer);
    if (badClosed) {
      assert.equal(lines.length, 1);
      assert.match(lines[0], /does not read its ACKs/);
    }
    a = await good.roundTrip([backgroundEvent(1), amsiEvent('good-after', 2)]);
    assert.equal(a.seq, 2);
    assertExactAlerts(journalExport(server.dataDir), ['good-before', 'good-after'], 'unread ACKs');
    good.destroy();
    bad.destroy();
  });
});

test('back-pressure: tiny queue and budget; every pipelined window is ACKed in order', {
  timeout: 120000 * SLOW,
}, async () => {
  // One worker, a queue of 2 batches, the smallest connection budget, a journal that holds each
  // commit 200 ms: connections must pause, resume, and lose nothing. Three rounds of three
  // connections, each sending 30 windows (about 0.7 MB) at once.
  await withServer({
    args: ['--quiet', '--workers', '1', '--queue', '2', '--beats-connection-budget', '64KiB'],
    env: { AMSIWATCH_TEST_COMMIT_DELAY_MS: '200' },
  }, async (server) => {
    const tags = [];
    for (let round = 0; round < 3; round++) {
      const conns = await Promise.all([0, 1, 2].map(() => connect(server.port)));
      const expected = conns.map((c, ci) => {
        const sizes = [];
        const parts = [];
        for (let w = 0; w < 30; w++) {
          const size = 10 + ((w * 13 + ci) % 30);
          const tag = `bp-r${round}-c${ci}-w${w}`;
          const { events, tags: t } = mixedEvents(size, w % 4 === 0 ? 1 : 0, tag);
          tags.push(...t);
          sizes.push(size);
          parts.push(encodeWindow(events, { level: w % 3 === 2 ? null : 1 }));
        }
        c.socket.write(Buffer.concat(parts));
        return sizes;
      });
      await Promise.all(
        conns.map(async (c, ci) => {
          for (const [w, n] of expected[ci].entries()) {
            // Each ACK within 5 s of the previous one: a stall fails fast instead of waiting on.
            let a;
            try {
              a = await c.acks.nextReal(5000 * SLOW);
            } catch (e) {
              e.message += ` (round ${round}, connection ${ci}: ${w} of its 30 windows ACKed)`;
              throw e;
            }
            assert.deepEqual([a.version, a.seq], ['2', n], `connection ${ci}, window ${w}`);
          }
        }),
      );
      for (const c of conns) c.destroy();
    }
    assertExactAlerts(journalExport(server.dataDir), tags, 'back-pressure');
  });
});

// ---------------------------------------------------------------------------------------------
// Timers: idle connections, keep-alives
// ---------------------------------------------------------------------------------------------

test('idle connections close after beats.idle-timeout, never while a window is pending', {
  timeout: 60000 * SLOW,
}, async () => {
  await withServer({
    args: ['--quiet', '--beats-idle-timeout', '1s', '--beats-keepalive', '500ms'],
    env: { AMSIWATCH_TEST_COMMIT_DELAY_MS: '2500' },
  }, async (server) => {
    const silent = await connect(server.port); // never sends anything
    const used = await connect(server.port); // one window, then nothing
    const pending = await connect(server.port); // a window held back 2.5 s by the journal
    const t0 = Date.now();
    let a = await used.roundTrip([backgroundEvent(0)]);
    assert.equal(a.seq, 1);
    const tUsed = Date.now();
    await pending.write(encodeWindow([amsiEvent('idle-pending', 1)]));

    assert.ok(await silent.acks.waitClosed(5000 * SLOW), 'the silent connection is closed');
    const silentAfter = Date.now() - t0;
    assert.ok(await used.acks.waitClosed(5000 * SLOW), 'the idle connection is closed');
    const usedAfter = Date.now() - tUsed;
    assert.ok(silentAfter >= 900, `not before the timeout (closed after ${silentAfter} ms)`);
    assert.ok(usedAfter >= 900, `not before the timeout (closed after ${usedAfter} ms)`);

    // The pending one outlives the idle timeout and gets its ACK (keep-alives before it).
    a = await pending.acks.nextReal(15000 * SLOW);
    assert.equal(a.seq, 1);
    assert.ok(Date.now() - t0 >= 2000, 'the ACK waited for the journal');
    assert.ok(pending.acks.acks.some((x) => x.seq === 0), 'kept alive meanwhile');
    // Nothing pending any more: now it goes too.
    assert.ok(await pending.acks.waitClosed(5000 * SLOW), 'closed once idle with nothing pending');
    // An idle close is routine: not a warning.
    for (const c of [silent, used, pending]) {
      assert.ok(!linesAbout(server, c.peer).some((l) => l.startsWith('warn')), 'no warning');
    }
    assertExactAlerts(journalExport(server.dataDir), ['idle-pending'], 'idle');
  });
});

test('idle time counts from the ACK of the last pending window, not from the last read', {
  timeout: 60000 * SLOW,
}, async () => {
  // A Beat whose window was held longer than the idle timeout gets its ACK and then sends its
  // next window at once; the connection must not be closed under it a moment after the ACK.
  await withServer({
    args: ['--quiet', '--beats-idle-timeout', '1s', '--beats-keepalive', '500ms'],
    env: { AMSIWATCH_TEST_COMMIT_DELAY_MS: '2500' },
  }, async (server) => {
    const conn = await connect(server.port);
    await conn.write(encodeWindow([amsiEvent('idle-after-ack', 1)]));
    const a = await conn.acks.nextReal(15000 * SLOW);
    assert.equal(a.seq, 1);
    const closedEarly = await conn.acks.waitClosed(700);
    assert.ok(
      !closedEarly,
      `closed ${Date.now() - a.at} ms after the ACK: the idle timeout (1 s) was counted from ` +
        'the last read, while the window was still pending',
    );
    // It still takes a next window right after the ACK...
    const b = await conn.roundTrip([backgroundEvent(0)]);
    assert.equal(b.seq, 1);
    // ... and goes once really idle.
    assert.ok(await conn.acks.waitClosed(5000 * SLOW));
    conn.destroy();
  });
});

test('keep-alive: a window held back by the journal gets 2 A 0 before its ACK; v1 gets none', {
  timeout: 90000 * SLOW,
}, async () => {
  await withServer({
    args: ['--quiet', '--beats-keepalive', '1s'],
    env: { AMSIWATCH_TEST_COMMIT_DELAY_MS: '4000' },
  }, async (server) => {
    const v2 = await connect(server.port);
    const v1 = await connect(server.port);
    const t0 = Date.now();
    await Promise.all([
      v2.write(
        encodeWindow([backgroundEvent(0), amsiEvent('keepalive-v2', 1), backgroundEvent(1)]),
      ),
      v1.write(
        encodeWindow([v1AmsiPairs('keepalive-v1', 1), v1BackgroundPairs(0)], {
          version: 1,
          firstSeq: 7,
        }),
      ),
    ]);
    const a2 = await v2.acks.nextReal(30000 * SLOW);
    const a1 = await v1.acks.nextReal(30000 * SLOW);
    assert.deepEqual([a2.version, a2.seq], ['2', 3]);
    assert.deepEqual([a1.version, a1.seq], ['1', 8]);
    assert.ok(a2.at - t0 >= 3500, `the ACK waited for the commit (${a2.at - t0} ms)`);

    const keepalives = v2.acks.acks.filter((x) => x.seq === 0);
    assert.ok(keepalives.length >= 1, 'at least one keep-alive before the ACK');
    for (const k of keepalives) {
      assert.deepEqual([k.version, k.type, k.seq], ['2', 'A', 0]);
      assert.ok(k.at < a2.at, 'keep-alives come before the real ACK');
    }
    // Spaced by about the keep-alive interval, not a flood.
    assert.ok(keepalives.length <= 8, `${keepalives.length} keep-alives in ~4 s at 1 s`);
    assert.equal(v1.acks.acks.length, 1, 'no keep-alive on a v1 connection');
    const tags = ['keepalive-v2', 'keepalive-v1'];
    assertExactAlerts(journalExport(server.dataDir), tags, 'keep-alive');
    v1.destroy();
    v2.destroy();
  });
});

test('a window held past beats.keepalive-max: closed, no ACK; its late commit is harmless', {
  timeout: 60000 * SLOW,
}, async () => {
  await withServer({
    args: ['--quiet', '--beats-keepalive', '200ms', '--beats-keepalive-max', '1s'],
    env: { AMSIWATCH_TEST_COMMIT_DELAY_MS: '2500' },
  }, async (server) => {
    const conn = await connect(server.port);
    await conn.write(encodeWindow([backgroundEvent(0), amsiEvent('held-too-long', 1)]));
    assert.ok(await conn.acks.waitClosed(6000 * SLOW), 'closed after beats.keepalive-max');
    assert.equal(conn.acks.acks.filter((a) => a.seq !== 0).length, 0, 'never ACKed');
    assert.ok(conn.acks.acks.length >= 2, 'kept alive until then');
    const line = await server.waitForLog(closingLine(conn.peer));
    assert.match(line[0], /keepalive-max/);
    // The commit finishes after the connection is gone; the server goes on (and the sender
    // would resend: the alert id lets a consumer recognise the duplicate).
    await sleep(3000);
    assert.ok(server.running());
    const again = await connect(server.port);
    const a = await again.roundTrip([backgroundEvent(1)], {}, 15000 * SLOW);
    assert.equal(a.seq, 1);
    again.destroy();
    assert.equal((await server.stop('SIGTERM')).code, 0, server.stderr);
  });
});

// ---------------------------------------------------------------------------------------------
// Crash and stop
// ---------------------------------------------------------------------------------------------

test('kill -9 under load: every alert of every ACKed window is in the journal after restart', {
  timeout: 180000 * SLOW,
}, async () => {
  // Small segments, so that the kills also land around segment rotation and sealing.
  await withServer({ args: ['--quiet', '--journal-segment-size', '256KiB'] }, async (server) => {
    const CONNS = 4;
    const WINDOW = 5; // events per window, 2 of them AmsiEnable events with unique host names
    const INTERVAL_MS = 20; // each connection: a window every ~20 ms, at most two in flight
    const sent = new Set();
    const acked = [];
    const errors = [];

    async function load(round, idx) {
      const conn = await connect(server.port);
      conn.socket.on('error', () => {});
      const inflight = [];
      let w = 0;
      try {
        for (;;) {
          while (inflight.length < 2 && !conn.acks.closed) {
            const tags = [`k9-r${round}-c${idx}-w${w}-a`, `k9-r${round}-c${idx}-w${w}-b`];
            const events = [
              backgroundEvent(w),
              amsiEvent(tags[0], w * 2),
              backgroundEvent(w + 1),
              amsiEvent(tags[1], w * 2 + 1),
              backgroundEvent(w + 2),
            ];
            w++;
            conn.socket.write(encodeWindow(events, { level: w % 3 ? 3 : null }), () => {});
            inflight.push(tags);
            for (const t of tags) sent.add(t);
          }
          let ack;
          try {
            ack = await conn.acks.nextReal(10000 * SLOW);
          } catch (e) {
            if (e.code !== 'CLOSED') errors.push(e);
            return; // the server is gone: what was ACKed is recorded
          }
          if (ack.seq !== WINDOW) errors.push(new Error(`ACK ${ack.seq}, expected ${WINDOW}`));
          acked.push(...inflight.shift());
          await sleep(INTERVAL_MS);
        }
      } finally {
        conn.destroy();
      }
    }

    for (const round of [1, 2]) {
      const before = acked.length;
      const loops = Array.from({ length: CONNS }, (_, i) => load(round, i));
      await waitFor(
        () => acked.length - before >= 100,
        30000 * SLOW,
        `round ${round}: 100 alerts ACKed before the kill`,
      );
      await sleep(50 + Math.floor(Math.random() * 400));
      server.proc.kill('SIGKILL');
      const exit = await server.closed;
      assert.equal(exit.signal, 'SIGKILL');
      // ACKs the server wrote before it died are still read by the clients; then they stop.
      await Promise.all(loops);
      assert.deepEqual(errors, []);
      await server.restart();
      assert.match(server.stderr, /^info serve: journal /m, 'the restarted server opened it');
    }

    // The restarted server serves again.
    const conn = await connect(server.port);
    const a = await conn.roundTrip([amsiEvent('k9-after-restart', 1)]);
    assert.equal(a.seq, 1);
    conn.destroy();

    const byTag = alertsByTag(journalExport(server.dataDir));
    const missing = acked.filter((t) => !byTag.has(t));
    assert.deepEqual(missing, [], `every alert of every ACKed window survived (${acked.length})`);
    const dup = [...byTag].filter(([, n]) => n > 1);
    assert.deepEqual(dup, [], 'no alert twice (nothing was resent)');
    for (const t of byTag.keys()) {
      assert.ok(sent.has(t) || t === 'k9-after-restart', `journaled ${t} was sent`);
    }
    assert.equal((await server.stop('SIGTERM')).code, 0, server.stderr);
    const v = journal(server.dataDir, 'verify');
    assert.equal(v.status, 0, `journal verify exits 0:\n${v.stdout}${v.stderr}`);
  });
});

test('SIGTERM with windows in flight: they are ACKed, then the process exits 0', {
  timeout: 90000 * SLOW,
}, async () => {
  await withServer({ env: { AMSIWATCH_TEST_COMMIT_DELAY_MS: '2500' } }, async (server) => {
    const conns = await Promise.all([0, 1, 2].map(() => connect(server.port)));
    const tags = [];
    conns.forEach((c, i) => {
      const parts = [0, 1].map((w) => {
        const tag = `term-c${i}-w${w}`;
        tags.push(tag);
        return encodeWindow([backgroundEvent(w), amsiEvent(tag, w), backgroundEvent(w + 1)]);
      });
      c.socket.write(Buffer.concat(parts));
    });
    const v1 = await connect(server.port);
    v1.socket.write(encodeWindow([v1AmsiPairs('term-v1', 3)], { version: 1, firstSeq: 40 }));
    tags.push('term-v1');
    await sleep(800); // the server has read the windows; the journal holds them 2.5 s
    assert.equal(
      [...conns, v1].reduce((n, c) => n + c.acks.acks.filter((x) => x.seq).length, 0),
      0,
      'nothing is ACKed yet when SIGTERM arrives',
    );
    server.proc.kill('SIGTERM');
    await server.waitForLog(/SIGTERM: no new connections/);
    await assert.rejects(connect(server.port, { timeoutMs: 5000 }), 'no new connection accepted');
    for (const c of conns) {
      for (let w = 0; w < 2; w++) {
        const a = await c.acks.nextReal(30000 * SLOW);
        assert.deepEqual([a.version, a.seq], ['2', 3]);
      }
    }
    const a = await v1.acks.nextReal(30000 * SLOW);
    assert.deepEqual([a.version, a.seq], ['1', 40]);
    const exit = await within(server.closed, 30000 * SLOW);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit status:\n${server.stderr}`);
    assert.match(server.stderr, /every window in flight is acknowledged/);
    assertExactAlerts(journalExport(server.dataDir), tags, 'SIGTERM');
    assert.deepEqual(
      server.alertsPrinted().map((x) => x.fields['host.name']).sort(),
      [...tags].sort(),
      'every alert printed before exit',
    );
    const v = journal(server.dataDir, 'verify');
    assert.equal(v.status, 0, v.stdout + v.stderr);
    for (const c of [...conns, v1]) c.destroy();
  });
});
