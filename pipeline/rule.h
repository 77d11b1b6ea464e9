/* The rule "Modification of AmsiEnable Registry Key" (Elastic rule f874315d, version 312) as data,
 * and a matcher with exact EQL semantics over the normalized view:
 *
 *   registry where host.os.type == "windows" and event.type == "change" and
 *     registry.value : "AmsiEnable" and registry.data.strings : ("0", "0x00000000")
 *
 * Pure functions: any thread may call them. */
#ifndef AMSI_PIPELINE_RULE_H
#define AMSI_PIPELINE_RULE_H

#include <jansson.h>
#include <stdbool.h>

#include "pipeline/normalize.h"

struct rule_meta {
    const char *id, *name, *description;
    int version;
    const char *severity;
    int risk_score;
    const char *interval, *from;
    int max_signals;
    const char *query;
    const char *response; /* what a responder should do first */
};

/* The seed rule's metadata table. */
const struct rule_meta *rule_meta(void);

/* The metadata as a new JSON object (id, name, version, severity, risk_score, threat, ...). */
json_t *rule_meta_json(void);

/* Which clause fired. */
enum clause {
    CLAUSE_NONE = 0,
    CLAUSE_SEED,             /* the rule as Elastic runs it (both profiles) */
    CLAUSE_VALUE_CREATION,   /* extended: event.type "creation" (rule versions 313 and later) */
    CLAUSE_SECURITY_4657,    /* extended: Windows Security 4657, value name and new value */
    CLAUSE_M365_NO_PLATFORM, /* extended: Defender registry row without OSPlatform */
    CLAUSE_RAW_DETAILS,      /* extended: raw Details text "DWORD (0x00000000)" never converted */
    CLAUSE_OS_INFERRED,      /* extended: Windows event log record without host.os.type */
};
#define CLAUSE_COUNT (CLAUSE_OS_INFERRED + 1)

/* "seed", "value-creation", "security-4657", "m365-no-osplatform", "raw-details",
 * "os-inferred"; "none" for CLAUSE_NONE. */
const char *clause_name(enum clause c);

/* Evaluates the rule under PROFILE over a normalized event. Returns the clause that fired, or
 * CLAUSE_NONE. Under PROFILE_ELASTIC only CLAUSE_SEED can fire. */
enum clause rule_eval(const struct norm *n, enum profile profile);

/* The view fields the rule reads, in order; NULL-terminated. */
extern const char *const rule_fields[];

#endif
