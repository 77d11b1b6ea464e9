// The Beats listener over TLS, driven by the npm Lumberjack clients: `lumberjack-client` (v2,
// here over mutual TLS with a CA, a client certificate and its key) and `lumberjack-protocol`
// (v1, TLS only: one window frame per connection, sequence numbers running across it). The
// certificates are made by the `openssl` command in a temporary directory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { amsiEvent, backgroundEvent, v1AmsiPairs, v1BackgroundPairs } from './lib/events.mjs';
import { AckReader, npmPackage } from './lib/lumberjack.mjs';
import { SLOW, Server, journalExport, removeDir, sleep, tempDir, waitFor } from './lib/server.mjs';

/** A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate. */
function makePki(dir) {
  const p = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: 'pipe', timeout: 60000 });
  const key = (n) => ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-out', p(`${n}.key`));
  key('ca');
  ossl('req', '-x509', '-new', '-key', p('ca.key'), '-out', p('ca.pem'), '-subj',
    '/CN=amsiwatch node test CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE');
  const leaf = (n, subj, ext) => {
    key(n);
    ossl('req', '-new', '-key', p(`${n}.key`), '-out', p(`${n}.csr`), '-subj', subj);
    fs.writeFileSync(p(`${n}.ext`), ext);
    ossl('x509', '-req', '-in', p(`${n}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'),
      '-CAcreateserial', '-out', p(`${n}.pem`), '-days', '30', '-extfile', p(`${n}.ext`));
  };
  leaf('server', '/CN=amsiwatch.test',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', '/O=Example/CN=winlogbeat-01', 'extendedKeyUsage=clientAuth\n');
  const read = (n) => fs.readFileSync(p(n));
  return { p, ca: read('ca.pem'), cert: read('client.pem'), key: read('client.key') };
}

async function withTlsServer(pki, fn) {
  const server = await Server.start({
    args: [
      '--beats-ssl-enabled', '--beats-ssl-certificate', pki.p('server.pem'),
      '--beats-ssl-key', pki.p('server.key'), '--beats-ssl-certificate-authorities',
      pki.p('ca.pem'), '--beats-ssl-client-authentication', 'required',
    ],
  });
  try {
    return await fn(server);
  } finally {
    await server.dispose();
  }
}

test('TLS: lumberjack-client (v2) with a client certificate; lumberjack-protocol (v1)', {
  timeout: 120000 * SLOW,
}, async (t) => {
  const dir = tempDir('amsiwatch-tls-pki-');
  try {
    const pki = makePki(dir);

    await t.test('lumberjack-client v2 over mutual TLS: ACKs, and the alert names the peer', async () => {
      await withTlsServer(pki, async (server) => {
        const LumberjackClient = npmPackage('lumberjack-client');
        const client = new LumberjackClient({
          host: '127.0.0.1', port: server.port, ca: pki.ca, cert: pki.cert, key: pki.key,
        }, true);
        try {
          await waitFor(() => client.connected, 10000 * SLOW, 'lumberjack-client to connect');
          const acks = new AckReader(client.socket);
          client.log(backgroundEvent(0));
          client.log(amsiEvent('tls-npm-ws-01', 77));
          for (let i = 0; i < 2; i++) {
            const a = await acks.next(15000 * SLOW);
            assert.deepEqual([a.version, a.type, a.seq], ['2', 'A', 1], 'one ACK per log()');
          }
          const alerts = journalExport(server.dataDir);
          assert.equal(alerts.length, 1);
          const src = alerts[0].source;
          assert.equal(src.type, 'beats');
          assert.equal(src.protocol_version, 2);
          assert.equal(src.tls.protocol, client.socket.getProtocol());
          assert.equal(src.tls.client.subject, 'CN=winlogbeat-01,O=Example');
          assert.equal(src.tls.client.issuer, 'CN=amsiwatch node test CA');
          const fp = client.socket.getCertificate().fingerprint256;
          assert.equal(src.tls.client.fingerprint_sha256, fp, 'the client certificate we sent');
        } finally {
          client.connecting = true; // no reconnect
          client.socket?.destroy();
        }
      });
    });

    await t.test('lumberjack-protocol v1 over TLS: one window frame, sequence numbers run on', async () => {
      await withTlsServer(pki, async (server) => {
        const lumberjack = npmPackage('lumberjack-protocol');
        const client = lumberjack.client(
          { host: '127.0.0.1', port: server.port, ca: pki.ca, cert: pki.cert, key: pki.key },
          { windowSize: 3, reconnect: 60000 },
        );
        const acked = [];
        try {
          await waitFor(() => client.connected, 10000 * SLOW, 'lumberjack-protocol to connect');
          client._socket.on('ack', (seq) => acked.push(seq));
          // Six events after one W 3: two windows' worth, an alert in each.
          const tags = ['v1-tls-a', 'v1-tls-b'];
          client.writeDataFrame(v1BackgroundPairs(1));
          client.writeDataFrame(v1AmsiPairs(tags[0], 1));
          client.writeDataFrame(v1BackgroundPairs(2));
          await waitFor(() => acked.includes(3), 15000 * SLOW, 'ACK 3');
          client.writeDataFrame(v1AmsiPairs(tags[1], 2));
          client.writeDataFrame(v1BackgroundPairs(3));
          client.writeDataFrame(v1BackgroundPairs(4));
          await waitFor(() => acked.includes(6), 15000 * SLOW, 'ACK 6');
          assert.deepEqual(acked, [3, 6], 'v1 ACKs carry the running sequence number');
          const alerts = journalExport(server.dataDir);
          assert.deepEqual(alerts.map((a) => a.fields['host.name']).sort(), tags);
          for (const a of alerts) {
            assert.equal(a.source.protocol_version, 1);
            assert.equal(a.source.tls.client.subject, 'CN=winlogbeat-01,O=Example');
          }
        } finally {
          client.close();
          await sleep(50);
        }
      });
    });

    await t.test('Logstash\'s lumberjack output: v1 over TLS, each event JSON in a `line` pair', async () => {
      await withTlsServer(pki, async (server) => {
        const lumberjack = npmPackage('lumberjack-protocol');
        const client = lumberjack.client(
          { host: '127.0.0.1', port: server.port, ca: pki.ca, cert: pki.cert, key: pki.key },
          { windowSize: 4, reconnect: 60000 },
        );
        const acked = [];
        try {
          await waitFor(() => client.connected, 10000 * SLOW, 'lumberjack-protocol to connect');
          client._socket.on('ack', (seq) => acked.push(seq));
          // What `output { lumberjack { codec => json } }` sends: the whole event as JSON.
          const asLogstash = (d) => JSON.stringify({ ...d, '@version': '1', tags: ['beats_input'] });
          client.writeDataFrame({ line: asLogstash(amsiEvent('ls-line-a', 1)) });
          client.writeDataFrame({ line: asLogstash(backgroundEvent(1)) });
          // A line that is not JSON stays a line, even with the words of the rule in it.
          client.writeDataFrame({ line: 'AmsiEnable set to 0 {not json' });
          // logstash-forwarder's fields beside the line.
          client.writeDataFrame({
            line: asLogstash(amsiEvent('ls-line-b', 2)), host: 'ls-01', file: '-', offset: '0',
          });
          await waitFor(() => acked.includes(4), 15000 * SLOW, 'ACK 4');
          const alerts = journalExport(server.dataDir);
          assert.deepEqual(alerts.map((a) => a.fields['host.name']).sort(), ['ls-line-a', 'ls-line-b']);
          for (const a of alerts) assert.equal(a.source.protocol_version, 1);
        } finally {
          client.close();
          await sleep(50);
        }
      });
    });
  } finally {
    removeDir(dir);
  }
});
