/* The alert document: one JSON object per alert, the same for every output (stdout, journal,
 * webhooks). Its schema is in the README ("Alert document"). Any thread may call these. */
#ifndef AMSI_PIPELINE_ALERT_H
#define AMSI_PIPELINE_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/normalize.h"
#include "pipeline/rule.h"

#define ALERT_ID_LEN 32 /* hex characters */

/* The stable id of the alert RAW raises: BLAKE2b-128 over the rule id and the event's bytes, in
 * hex. The same event always gives the same id, so every retry and duplicate carries it. OUT must
 * hold ALERT_ID_LEN + 1 bytes. */
void alert_id(const char *raw, size_t len, char *out);

/* Builds the alert document for the event RAW (LEN bytes, valid UTF-8 JSON), normalized as N,
 * which fired CLAUSE under PROFILE, detected at NOW_MS. SOURCE (may be NULL) describes where the
 * event came from and is copied. Returns a new object, or NULL when out of memory. */
json_t *alert_build(const char *raw, size_t len, const struct norm *n, enum profile profile,
                    enum clause clause, const json_t *source, int64_t now_ms);

#endif
