/* Normalization: from one event as it arrives (Winlogbeat 7/8, Elastic Defend, Endgame, any ECS
 * document, Microsoft 365 Defender rows, SentinelOne Cloud Funnel records, Windows Security 4657,
 * evtx_dump JSON) to the flat ECS view the rule reads, applying Elastic's ingest pipelines where
 * the sender did not (see the README, "Detection").
 * Pure functions over jansson values: any thread may call them on values it owns. */
#ifndef AMSI_PIPELINE_NORMALIZE_H
#define AMSI_PIPELINE_NORMALIZE_H

#include <jansson.h>
#include <stdbool.h>

/* Coverage profiles: what the normalizer maps and what the rule accepts. */
enum profile {
    PROFILE_ELASTIC = 0,  /* exactly what Elastic's stack would alert on */
    PROFILE_EXTENDED = 1, /* also the documented true positives Elastic misses */
};

/* "elastic" / "extended". */
const char *profile_name(enum profile p);

/* Parses a profile name. 0, or -EINVAL. */
int profile_parse(const char *name, enum profile *out);

/* The kind of record the event was recognised as. */
enum shape {
    SHAPE_ECS = 0,       /* already ECS (Winlogbeat 7, Defend, Endgame, pipelines already run) */
    SHAPE_SYSMON_REG,    /* raw Sysmon 12/13/14, Elastic's sysmon pipeline applied */
    SHAPE_SECURITY_4657, /* raw Windows Security 4657 */
    SHAPE_WINLOG_OTHER,  /* another raw Windows event log record */
    SHAPE_M365,          /* Microsoft 365 Defender DeviceRegistryEvents row */
    SHAPE_SENTINELONE,   /* SentinelOne Cloud Funnel record */
};

/* "ecs", "sysmon-registry", "security-4657", "winlog", "m365-defender", "sentinelone". */
const char *shape_name(enum shape s);

struct norm {
    json_t *view;     /* owned: flat object, dotted ECS name -> value (string, number, array) */
    enum shape shape; /* what the event was recognised as */
    bool evtx;        /* it came as an evtx_dump document (Event.System / Event.EventData) */
    bool os_inferred; /* host.os.type was inferred by the extended profile, not sent or mapped */
    bool data_from_message; /* registry.data.strings was read from the message's "Details:" line
                               (extended profile, where no registry.data.* was sent or mapped) */
};

/* Builds the view of DOC under PROFILE into OUT. Returns 0 or -ENOMEM. On success the caller owns
 * OUT->view (norm_free releases it). DOC is not modified. */
int normalize(const json_t *doc, enum profile profile, struct norm *out);

/* Releases OUT->view. norm_free(NULL) is a no-op. */
void norm_free(struct norm *n);

/* Applies Elastic's conversion of a Sysmon "Details" string. Sets *STRINGS to a new one-element
 * array of strings and *TYPE to "SZ_QWORD", "SZ_DWORD", "REG_BINARY" or "REG_SZ".
 * Returns 0 or -ENOMEM. Exposed for tests. */
int normalize_sysmon_details(const char *details, json_t **strings, const char **type);

#endif
