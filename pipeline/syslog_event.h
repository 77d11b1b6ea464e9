/* From one syslog message to the document the detection reads: Windows event log records
 * carried by syslog (NXLog JSON and structured data, Snare, QRadar WinCollect, Windows event
 * XML) become the Winlogbeat 8 shape (winlog.channel, winlog.event_id as a string,
 * winlog.provider_name, winlog.computer_name, winlog.record_id, winlog.event_data.*, host.name)
 * with host.os.type "windows", as Elastic's routing pipeline sets it for forwarded events, so
 * that the normalizer and the rule treat them exactly as Winlogbeat events; they also carry
 * message (the syslog MSG), @timestamp and syslog{facility, severity, hostname, appname, ...}.
 * JSON already in the Beats shape passes unchanged, nothing added, read exactly as if it had come
 * over Beats. Any other message becomes {message, host.name, @timestamp, syslog{...}}.
 *
 * Rendered message text (Snare, WinCollect) is split on the EventData names the record's
 * provider renders: Sysmon's field names (only those of registry events for ids 12-14, so a
 * registry path or value may hold any other word), and Security 4657's display names ("Object
 * Value Name:", "New Value:", ...) mapped back to its EventData names.
 *
 *   payload            recognised by                      fields
 *   NXLog to_json()    MSG starts with '{'                EventID, Channel, SourceName,
 *                                                         Hostname, RecordNumber, EventData
 *                                                         items as top-level keys
 *   NXLog SD           SD-ID NXLOG@14506                  the same keys as SD-PARAMs
 *   Snare              "MSWinEventLog" then TAB           TAB-separated columns, then the
 *                                                         rendered message ("Key: value")
 *   WinCollect         "AgentDevice=WindowsLog"           TAB-separated key=value, Message last
 *   Windows XML        "<Event xmlns=..."                 System children, EventData/Data Name=
 *
 * Windows XML is read by protocol/winxml.h (expat: no DTD, no entities but the predefined ones,
 * limits on size, depth and memory); a document cut short or malformed keeps the fields read
 * before the fault, as a record truncated at syslog.max-message must still be matched.
 *
 * Pure functions over jansson values: any thread may call them. */
#ifndef AMSI_PIPELINE_SYSLOG_EVENT_H
#define AMSI_PIPELINE_SYSLOG_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/syslog.h"

enum syslog_payload {
    SYSLOG_PAYLOAD_NONE = 0,   /* not a Windows record: a generic syslog document */
    SYSLOG_PAYLOAD_BEATS_JSON, /* JSON in the Beats shape (winlog, evtx Event, @metadata, ecs) */
    SYSLOG_PAYLOAD_NXLOG_JSON,
    SYSLOG_PAYLOAD_NXLOG_SD,
    SYSLOG_PAYLOAD_SNARE,
    SYSLOG_PAYLOAD_WINCOLLECT,
    SYSLOG_PAYLOAD_XML,
};

/* "syslog", "beats-json", "nxlog-json", "nxlog-sd", "snare", "wincollect", "windows-xml".
 * Any thread. */
const char *syslog_event_payload_name(enum syslog_payload k);

/* Builds the document for the parsed message M into *DOC_OUT (the caller owns it) and says in
 * *KIND (may be NULL) which payload it was. Text that is not UTF-8 is carried with U+FFFD in
 * place of the bad bytes (M's flags say it happened). Timestamps: the record's own
 * (XML TimeCreated, WinCollect TimeGenerated), else the syslog header's, as @timestamp.
 * Returns 0 or -ENOMEM. Any thread (a worker, for candidates only: see syslog_event_candidate). */
int syslog_event_from_msg(const struct syslog_msg *m, json_t **doc_out, enum syslog_payload *kind);

/* Parses the LEN bytes of one framed message at RAW (NOW_MS places year-less timestamps) and
 * builds its document as syslog_event_from_msg does. Returns 0, -EINVAL (RAW NULL with LEN > 0)
 * or -ENOMEM. Any thread. */
int syslog_event_build(const char *raw, size_t len, int64_t now_ms, json_t **doc_out);

/* Where a syslog message came from, for the alert's "source". */
struct syslog_origin {
    const char *peer;        /* "192.0.2.7:51514"; may be NULL */
    const char *transport;   /* "udp", "tcp" or "tls"; may be NULL */
    const char *tls_subject; /* the client certificate's subject; may be NULL */
    unsigned frame_flags;    /* SYSLOG_MSG_* from the framer */
};

/* The "source" object of an alert raised by a syslog message: type "syslog", peer, transport,
 * TLS subject, facility, severity, priority, hostname, appname, the payload kind, truncated and
 * invalid_utf8 when so, and the raw message (RAW, LEN bytes; bad UTF-8 as U+FFFD). M is the
 * message parsed from RAW. Returns a new object or NULL when out of memory. Any thread. */
json_t *syslog_event_source(const struct syslog_origin *o, const struct syslog_msg *m,
                            const char *raw, size_t len, enum syslog_payload kind);

/* The prefilter for raw syslog messages: true when the N bytes at P may raise the AmsiEnable
 * rule once built into a document. That is prefilter_candidate() (the word in any ASCII case,
 * or JSON \u escapes of it), and also any message containing "&#": XML character references
 * ("&#65;msiEnable", "&#x41;...") spell the word once an XML payload is decoded, and
 * prefilter_candidate cannot see through them. Other syslog escapes cannot hide a letter:
 * structured data escapes only '"', '\' and ']', and the five XML entities name punctuation.
 * Pure: any thread. */
bool syslog_event_candidate(const char *p, size_t n);

#endif
