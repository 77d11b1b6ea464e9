// Winlogbeat 8 events as a Beat ships them (before any ingest pipeline), built from the
// repository's fixtures so that the verdicts are the ones the detection tests already pin down.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..', '..');
const FIXTURES = path.join(REPO, 'tests', 'fixtures', 'events');

function readNdjson(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

const amsiTemplate = readNdjson(
  path.join(FIXTURES, 'winlogbeat8-sysmon13-amsienable-hklm.ndjson'),
)[0];
// Background: a logon and two process creations, plus a Sysmon 13 that sets AmsiEnable to 1
// (passes the prefilter, parsed in full, and must not alert).
const backgroundTemplates = [
  ...readNdjson(path.join(FIXTURES, 'winlogbeat8-background.ndjson')),
  ...readNdjson(path.join(FIXTURES, 'winlogbeat8-sysmon13-amsienable-dword1.ndjson')),
];

const metadata = { beat: 'winlogbeat', type: '_doc', version: '8.15.0' };

function shipped(doc, host) {
  const d = structuredClone(doc);
  d['@metadata'] = metadata;
  d.agent = {
    type: 'winlogbeat',
    version: '8.15.0',
    name: host,
    id: '5b8f3b7e-2a7c-4d1e-9d0b-1f0c6a7e9a11',
    ephemeral_id: 'c1f0e2d3-4b5a-6978-8a9b-0c1d2e3f4a5b',
  };
  d.ecs = { version: '8.0.0' };
  return d;
}

/**
 * The Sysmon 13 event of `reg add HKLM\...\Windows Script\Settings /v AmsiEnable /d 0`, which the
 * rule alerts on. `tag` makes it unique: it becomes the host name (and the computer name), and
 * `recordId` the event log record id; both are carried into the alert's `fields`.
 */
export function amsiEvent(tag, recordId = 1) {
  const host = String(tag);
  const d = shipped(amsiTemplate, host);
  d.host.name = host;
  d.winlog.computer_name = `${host}.northwind.local`;
  d.winlog.record_id = recordId;
  d['@timestamp'] = new Date().toISOString();
  return d;
}

/** A background event (no alert); `i` picks one of the templates and numbers it. */
export function backgroundEvent(i = 0, tag = 'bg') {
  const t = backgroundTemplates[i % backgroundTemplates.length];
  const d = shipped(t, `${tag}-${i}`);
  d.winlog.record_id = 100000 + i;
  d['@timestamp'] = new Date().toISOString();
  return d;
}

/**
 * `n` events, `alerts` of which are AmsiEnable events (at the given positions, spread out by
 * default), tagged `${tag}-${k}` for the k-th alerting one.
 */
export function mixedEvents(n, alerts, tag) {
  const every = alerts ? Math.max(1, Math.floor(n / alerts)) : Infinity;
  const out = [];
  const tags = [];
  for (let i = 0; i < n; i++) {
    if (tags.length < alerts && i % every === every - 1) {
      const t = `${tag}-${tags.length}`;
      tags.push(t);
      out.push(amsiEvent(t, 500000 + i));
    } else {
      out.push(backgroundEvent(i, tag));
    }
  }
  // Fewer slots than alerts asked for (n small): put the rest at the end.
  while (tags.length < alerts) {
    const t = `${tag}-${tags.length}`;
    tags.push(t);
    out.push(amsiEvent(t, 600000 + tags.length));
  }
  return { events: out, tags };
}

/**
 * A v1 data frame's pairs (every value a string): the AmsiEnable change as an ECS document with
 * dotted keys, as a v1 sender that ran the ECS mapping ships it. Alerts like amsiEvent().
 */
export function v1AmsiPairs(tag, recordId = 1) {
  return {
    '@timestamp': new Date().toISOString(),
    'event.category': 'registry',
    'event.type': 'change',
    'event.action': 'RegistryEvent (Value Set)',
    'event.code': '13',
    'host.name': String(tag),
    'host.os.type': 'windows',
    'process.name': 'reg.exe',
    'process.executable': 'C:\\Windows\\System32\\reg.exe',
    'registry.path': 'HKLM\\SOFTWARE\\Microsoft\\Windows Script\\Settings\\AmsiEnable',
    'registry.value': 'AmsiEnable',
    'registry.data.strings': '0',
    'winlog.record_id': String(recordId),
  };
}

/** A v1 background event (a process creation, no alert). */
export function v1BackgroundPairs(i = 0) {
  return {
    '@timestamp': new Date().toISOString(),
    'event.category': 'process',
    'event.type': 'start',
    'host.name': `v1-bg-${i}`,
    'host.os.type': 'windows',
    'process.name': 'svchost.exe',
    message: `Process Create: svchost.exe #${i}`,
  };
}

/** The host names (tags) of the alerts in a list of alert documents. */
export function alertHosts(alerts) {
  return alerts.map((a) => a.fields?.['host.name']);
}
