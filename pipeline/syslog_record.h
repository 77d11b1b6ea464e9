/* What pipeline/syslog_event.c and the forwarder mappings behind it share; private to those files
 * (syslog_event.c, syslog_record.c, syslog_rendered.c, syslog_nxlog.c, syslog_snare.c,
 * syslog_wincollect.c, syslog_xml.c). The public contract is pipeline/syslog_event.h's.
 *
 * A mapping looks at one parsed message and, when it carries the mapping's payload, builds the
 * record in the Winlogbeat 8 shape with the wrec_* functions below. Each mapping has the shape of
 * syslog_map_fn: it returns 1 when it recognised the message (*DOC holds the document, owned by
 * the caller, and *KIND names the payload), 0 when the message is not its kind (nothing built),
 * or -ENOMEM.
 *
 * Pure functions over jansson values: any thread may call them. */
#ifndef AMSI_PIPELINE_SYSLOG_RECORD_H
#define AMSI_PIPELINE_SYSLOG_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/syslog_event.h"
#include "protocol/syslog.h"

typedef int (*syslog_map_fn)(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind);

/* The mappings, in the order syslog_event_from_msg tries them. */
int syslog_nxlog_sd_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind);
int syslog_nxlog_json_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind);
int syslog_snare_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind);
int syslog_wincollect_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind);
int syslog_xml_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind);

/* ---- Text ------------------------------------------------------------------------------- */

/* Payload markers are looked for this far into MSG: senders put them first, after at most a
 * short prefix of their own (a host name, an XML declaration). */
#define WREC_MARKER_WINDOW 512

/* A JSON string of the N bytes at P (NULL: ""), bad UTF-8 replaced by U+FFFD. NULL when out of
 * memory. */
json_t *wrec_text(const char *p, size_t n);

/* wrec_text of a view. */
json_t *wrec_view(struct syslog_view v);

/* The first occurrence of the NUL-terminated NEEDLE that starts in the first LIMIT bytes of V. */
const char *wrec_find_marker(struct syslog_view v, const char *needle, size_t limit);

static inline bool wrec_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The N bytes at P without the spaces, TABs, CRs and LFs around them. */
static inline struct syslog_view wrec_trim(const char *p, size_t n)
{
    while (n && wrec_is_space(p[0])) {
        p++;
        n--;
    }
    while (n && wrec_is_space(p[n - 1]))
        n--;
    return (struct syslog_view){p, n};
}

/* V is present and spells the NUL-terminated S. */
bool wrec_view_eq(struct syslog_view v, const char *s);

/* The N bytes at P spell the NUL-terminated S. */
bool wrec_text_eq(const char *p, size_t n, const char *s);

/* 1 to 18 ASCII digits (so that the value fits an int64_t). */
bool wrec_all_digits(const char *p, size_t n);

/* The value of N digits (wrec_all_digits said so). The bytes need no NUL after them. */
int64_t wrec_digits_value(const char *p, size_t n);

/* ---- Building --------------------------------------------------------------------------- */

/* Sets PATH (dotted, inside ROOT; each part under 64 bytes) to V, taking the reference;
 * intermediate objects are made. V NULL (a failed constructor) gives -ENOMEM. */
int wrec_set_path(json_t *root, const char *path, json_t *v);

/* Sets the key spelled by the N bytes at K (any bytes: bad UTF-8 is mended), taking V. */
int wrec_set_key(json_t *obj, const char *k, size_t n, json_t *v);

/* The record being built in the Winlogbeat 8 shape. */
struct wrec {
    json_t *doc;    /* owned */
    json_t *winlog; /* borrowed from DOC */
    json_t *ed;     /* borrowed: winlog.event_data */
    bool has_id, has_channel, has_provider, has_computer;
};

/* An empty record: {winlog: {event_data: {}}}. 0 or -ENOMEM (nothing to free then). */
int wrec_init(struct wrec *w);

/* Drops the record (after wrec_init, when it is not handed over). */
void wrec_free(struct wrec *w);

/* winlog.<PATH> = the N bytes at P, trimmed, as a string; empty values are left out. Notes
 * event_id, channel, provider_name and computer_name in W's has_* flags. */
int wrec_str(struct wrec *w, const char *path, const char *p, size_t n);

/* winlog.<PATH> = an integer when the trimmed text is one, else the text; empty: left out. */
int wrec_num(struct wrec *w, const char *path, const char *p, size_t n);

/* winlog.event_data.<the KN bytes at K> = the VN bytes at V; an empty name is left out. */
int wrec_event_data(struct wrec *w, const char *k, size_t kn, const char *v, size_t vn);

/* @timestamp = MS (epoch milliseconds) in RFC 3339, milliseconds, UTC. */
int wrec_time(json_t *doc, int64_t ms);

/* What every document gets: message, host.name (when none yet), @timestamp (when none yet and
 * the header has one), syslog{}. */
int wrec_common(json_t *doc, const struct syslog_msg *m);

/* Completes a recognised Windows record: event_data dropped when empty, host.name from the
 * computer name, host.os.type "windows", then wrec_common. 0 or -ENOMEM. */
int wrec_finish(struct wrec *w, const struct syslog_msg *m);

/* The end of a mapping that recognised its payload: when RC is 0, wrec_finish; then on success
 * hands the document to *DOC and KIND to *KIND and returns 1, else frees it and returns -ENOMEM. */
int wrec_deliver(struct wrec *w, int rc, const struct syslog_msg *m, json_t **doc,
                 enum syslog_payload *kind, enum syslog_payload k);

/* Splits the rendered message text (Snare's data string, WinCollect's Message) on the EventData
 * names the record's provider renders, when W's channel, provider and event id say which (see
 * syslog_event.h); otherwise nothing. 0 or -ENOMEM. */
int syslog_rendered_parse(struct wrec *w, const char *p, size_t n);

#endif
