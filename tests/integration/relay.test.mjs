// The Beats relay with a real Beats client: npm `lumberjack-client` (v2) sends through one
// amsiwatch (relay.beats) to another; each window is acknowledged only once the last hop has it.
//
//   AMSIWATCH_BIN=build/asan-ubsan/amsiwatch node --test tests/integration/relay.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { amsiEvent, backgroundEvent } from './lib/events.mjs';
import { AckReader, npmPackage } from './lib/lumberjack.mjs';
import { journalExport, Server, SLOW, waitFor } from './lib/server.mjs';

test('lumberjack-client -> amsiwatch -> amsiwatch: every window reaches the last hop before its ACK', {
  timeout: 120000 * SLOW,
}, async () => {
  const last = await Server.start({ args: ['--stats-interval', '0'] });
  let first = null;
  try {
    first = await Server.start({
      args: ['--relay-beats-hosts', `127.0.0.1:${last.port}`, '--stats-interval', '0'],
    });
    const LumberjackClient = npmPackage('lumberjack-client');
    const client = new LumberjackClient({ host: '127.0.0.1', port: first.port });
    const acks = new AckReader(client.socket);
    try {
      await waitFor(() => client.connected, 10000 * SLOW, 'lumberjack-client to connect');
      const tags = ['relay-ws-1', 'relay-ws-2'];
      const sent = [backgroundEvent(0), amsiEvent(tags[0], 71), backgroundEvent(1),
        amsiEvent(tags[1], 72), backgroundEvent(2)];
      for (const ev of sent) {
        client.log(ev);
        const a = await acks.next(15000 * SLOW);
        assert.deepEqual([a.version, a.type, a.seq], ['2', 'A', 1], 'one ACK per log(), in order');
      }
      assert.equal(acks.error, null);
    } finally {
      client.connecting = true; // no reconnect when the socket closes
      client.socket?.destroy();
    }
    const firstAlerts = journalExport(first.dataDir).map((a) => a.fields['host.name']).sort();
    assert.deepEqual(firstAlerts, ['relay-ws-1', 'relay-ws-2'], 'the first hop journals the alerts');
    await first.stop();
    await last.stop();
    const m = /beats: .*?, (\d+) windows, (\d+) events/.exec(last.stderr);
    assert.ok(m, last.stderr);
    assert.equal(Number(m[2]), 5, 'every event reached the last hop');
    assert.equal(journalExport(last.dataDir).length, 2);
  } finally {
    await first?.dispose();
    await last.dispose();
  }
});
