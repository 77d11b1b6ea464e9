/* The detection path for one event: prefilter, then (only for candidates) JSON parse,
 * normalization, the rule, and the alert document.
 * A detector belongs to one thread at a time (each worker has its own); it holds no locks. */
#ifndef AMSI_PIPELINE_DETECT_H
#define AMSI_PIPELINE_DETECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/normalize.h"
#include "pipeline/rule.h"

#define DETECT_DEFAULT_MAX_EVENT (16u * 1024u * 1024u)

struct detect_stats {
    uint64_t events;     /* events offered */
    uint64_t candidates; /* events the prefilter passed (all of them with the prefilter off) */
    uint64_t parsed;     /* events parsed in full */
    uint64_t alerts;     /* alerts raised */
    uint64_t malformed;  /* parsed events that were not a JSON object, or over the size limit */
    uint64_t alerts_by_clause[CLAUSE_COUNT]; /* ALERTS by the clause that fired */
};

struct detector {
    enum profile profile;
    bool prefilter;   /* false: parse every event (the baseline, and scan's validation mode) */
    size_t max_event; /* larger events are refused with -EMSGSIZE before parsing */
    struct detect_stats stats;
    char error[200]; /* why the last event was malformed */
};

/* Prepares D. Allocates nothing. */
void detector_init(struct detector *d, enum profile profile, bool prefilter, size_t max_event);

/* Runs the rule over one event (LEN bytes of JSON at EV). Returns 1 and sets *ALERT (the caller
 * owns it) when the event raises an alert; 0 when it does not; -EBADMSG when it is malformed
 * (D->error says why), -EMSGSIZE when it is over D->max_event, -ENOMEM. SOURCE (may be NULL) is
 * copied into the alert. NOW_MS is the detection time; -1 reads the clock only when an alert is
 * made (the usual call: most events never need it). */
int detector_run(struct detector *d, const char *ev, size_t len, const json_t *source,
                 int64_t now_ms, json_t **alert);

/* detector_run over an event already parsed into DOC (a v1 frame's pairs, a syslog message's
 * Windows event). The caller ran the prefilter on the bytes DOC came from, so DOC counts as a
 * candidate and is not prefiltered again. The event's text is DOC's compact JSON (json_dumps), made
 * only when it raises an alert: the alert is the one detector_run gives on that text. Same
 * returns. */
int detector_run_doc(struct detector *d, const json_t *doc, const json_t *source, int64_t now_ms,
                     json_t **alert);

/* Counts an event the caller ruled out itself with the prefilter (it is not offered to
 * detector_run). */
void detector_skip(struct detector *d);

/* The clause EVENT (a parsed document) fires under PROFILE, without the prefilter. Returns
 * CLAUSE_NONE when it does not fire, or a negative error. For tests and tools. */
int detect_clause(const json_t *event, enum profile profile);

#endif
