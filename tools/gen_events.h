/* A deterministic generator of Windows events as the receivers get them: Winlogbeat 8 records
 * (Sysmon 1, 3, 11, 12, 13, Security 4624, 4688, 4657) with varied hosts, users, processes,
 * record ids and times, near misses of the AmsiEnable rule (other values under the same key,
 * AmsiEnable set to 1, deleted or renamed, AmsiEnable as a key name), and AmsiEnable set to 0 at
 * an exact rate in the source shapes the normalizer reads (raw Winlogbeat 8 Sysmon 13, ECS,
 * Elastic Defend, Microsoft 365 Defender DeviceRegistryEvents, SentinelOne, Security 4657).
 * Output is one event per call, as NDJSON or as one syslog message in a Windows forwarder's
 * format. The same options give the same bytes on every machine.
 *
 * Hits: round(count * rate) of them (halves up), one at a seeded position in each of as many
 * consecutive, equal (to one event) blocks of the stream; the k-th hit takes the (k mod n)-th of
 * the n shapes asked for. Which profiles alert on a hit is known by construction: raw Sysmon 13
 * and ECS and Defend modifications, M365 with OSPlatform and S1 modifications alert under both
 * profiles; every fourth hit of the winlogbeat8 (NDJSON only), defend, m365 and s1 shapes is the
 * variant only the extended profile reads (no host.os, a value creation, no OSPlatform), and
 * Security 4657 alerts under the extended profile only. Background events and near misses alert
 * under neither.
 *
 * One generator per thread; no global state. */
#ifndef AMSI_TOOLS_GEN_EVENTS_H
#define AMSI_TOOLS_GEN_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

enum gen_shape {
    GEN_SHAPE_WINLOGBEAT8, /* raw Winlogbeat 8 Sysmon 13 */
    GEN_SHAPE_ECS,         /* Winlogbeat through Elastic's ingest pipeline */
    GEN_SHAPE_DEFEND,      /* Elastic Defend registry event */
    GEN_SHAPE_M365,        /* Microsoft 365 Defender DeviceRegistryEvents (Event Hub record) */
    GEN_SHAPE_S1,          /* SentinelOne Cloud Funnel registry event */
    GEN_SHAPE_4657,        /* raw Winlogbeat 8 Security 4657 */
    GEN_SHAPE_COUNT
};

enum gen_format {
    GEN_FORMAT_NDJSON,
    GEN_FORMAT_BEATS_JSON_RFC5424,
    GEN_FORMAT_NXLOG_JSON_RFC5424,
    GEN_FORMAT_NXLOG_JSON_RFC3164,
    GEN_FORMAT_NXLOG_SD_RFC5424,
    GEN_FORMAT_SNARE_RFC3164,
    GEN_FORMAT_WINCOLLECT_RFC3164,
    GEN_FORMAT_WINDOWS_XML_RFC5424,
    GEN_FORMAT_WINDOWS_XML_RFC3164,
    GEN_FORMAT_COUNT
};

enum gen_kind {
    GEN_KIND_SYSMON1,
    GEN_KIND_SYSMON3,
    GEN_KIND_SYSMON11,
    GEN_KIND_SYSMON12,
    GEN_KIND_SYSMON13,
    GEN_KIND_SECURITY4624,
    GEN_KIND_SECURITY4688,
    GEN_KIND_SECURITY4657,
    GEN_KIND_NEAR_MISS, /* AmsiEnable-like, alerts under no profile */
    GEN_KIND_HIT,       /* AmsiEnable set to 0 */
    GEN_KIND_COUNT
};

/* Bits of gen_event.alerts: the profiles that raise an alert on the event. */
#define GEN_ALERT_ELASTIC  1u
#define GEN_ALERT_EXTENDED 2u

#define GEN_MAX_COUNT    1000000000000ull /* events */
#define GEN_MAX_RATE_DEN 1000000000ull    /* the largest denominator of a hit rate */

struct gen_options {
    uint64_t seed;
    uint64_t count;            /* events in the stream, at most GEN_MAX_COUNT */
    uint64_t rate_num;         /* hit rate RATE_NUM / RATE_DEN, at most 1; 0 / 1: no hits */
    uint64_t rate_den;         /* 1 .. GEN_MAX_RATE_DEN */
    unsigned shapes;           /* bit (1u << enum gen_shape) per shape hits take; not 0 */
    enum gen_format format;    /* syslog formats carry the winlogbeat8 and 4657 shapes only */
    unsigned near_miss_permil; /* near misses per thousand background events (gen: 5) */
};

struct gen_event {
    enum gen_kind kind;
    bool hit;
    enum gen_shape shape; /* of a hit */
    unsigned alerts;      /* GEN_ALERT_* bits */
};

struct gen_totals {
    uint64_t events, bytes; /* bytes: what gen_next appended */
    uint64_t hits, shape_hits[GEN_SHAPE_COUNT];
    uint64_t alerts_elastic, alerts_extended;
    uint64_t kinds[GEN_KIND_COUNT];
};

struct gen;

/* Checks O (NULL with a message in ERR when it is not valid) and sets up a generator. Returns
 * NULL with ERR "out of memory" when allocation fails. */
struct gen *gen_new(const struct gen_options *o, char *err, size_t errlen);

void gen_free(struct gen *g);

/* Appends the next event (no line terminator) to OUT and describes it in *EV (may be NULL).
 * Returns 0, 1 when all COUNT events were generated (nothing appended), -ENOMEM or -EMSGSIZE
 * (OUT's limit; OUT unchanged, the generator is then unusable). */
int gen_next(struct gen *g, struct buf *out, struct gen_event *ev);

/* What the stream holds so far; the hits the whole stream will hold. */
const struct gen_totals *gen_totals(const struct gen *g);
uint64_t gen_planned_hits(const struct gen *g);

/* Names as the command line spells them: "winlogbeat8", "ecs", "defend", "m365", "s1", "4657";
 * "ndjson", "syslog-nxlog-json-rfc5424", ...; "sysmon-1", ..., "near-miss", "amsienable". */
const char *gen_shape_name(enum gen_shape s);
const char *gen_format_name(enum gen_format f);
const char *gen_kind_name(enum gen_kind k);

/* "winlogbeat8,ecs" to a mask of shapes; "all" is every shape. -EINVAL on an unknown name. */
int gen_parse_shapes(const char *s, unsigned *mask);

/* A format name to its value; -EINVAL when unknown. */
int gen_parse_format(const char *s, enum gen_format *f);

/* "1/10000", "0.0001", "0" or "1" to NUM / DEN (reduced); -EINVAL when malformed, above 1 or
 * with a denominator above GEN_MAX_RATE_DEN. */
int gen_parse_rate(const char *s, uint64_t *num, uint64_t *den);

#endif
