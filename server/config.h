/* The configuration of `amsiwatch serve`: one declarative table of options (name, type, default,
 * field, help) from which the command-line flags, the YAML file keys, validation, `--help` and the
 * README's reference all come. Main thread only (the loop's: SIGHUP reads the file again there). */
#ifndef AMSI_SERVER_CONFIG_H
#define AMSI_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "net/tls_options.h"
#include "notify/targets.h"

#define CONFIG_MAX_LIST 16

struct config {
    char data_dir[1024];
    char beats[256];      /* "ADDR:PORT" or "off" */
    char syslog_tcp[256]; /* "ADDR:PORT" or "off" */
    char syslog_udp[256]; /* "ADDR:PORT" or "off" */
    char syslog_tls[256]; /* "ADDR:PORT" or "off"; listens only with a certificate */
    char api[256];        /* the HTTP endpoint (metrics, health): "ADDR:PORT" or "off" */
    char profile[16];     /* elastic | extended */
    char log_level[16];
    char log_format[8]; /* text | json */
    bool quiet;
    uint64_t workers;
    uint64_t queue;
    /* journal */
    uint64_t journal_sync_interval_ms;
    uint64_t journal_segment_bytes;
    uint64_t journal_retention_bytes;
    uint64_t journal_retention_ms;
    /* beats limits */
    uint64_t beats_max_window;
    uint64_t beats_max_json;
    uint64_t beats_max_compressed;
    uint64_t beats_max_inflated;
    uint64_t beats_max_ratio;
    uint64_t beats_max_pairs;
    uint64_t beats_max_item;
    uint64_t beats_connection_budget;
    uint64_t beats_global_budget;
    uint64_t beats_max_connections;
    uint64_t beats_keepalive_ms;
    uint64_t beats_keepalive_max_ms;
    uint64_t beats_idle_timeout_ms;
    uint64_t beats_frame_timeout_ms;
    uint64_t shutdown_timeout_ms;
    uint64_t stats_interval_ms;
    /* syslog */
    char syslog_framing[16];  /* auto | octet | lf */
    char syslog_oversize[16]; /* truncate | drop */
    uint64_t syslog_max_message;
    uint64_t syslog_udp_buffer;
    uint64_t syslog_batch_bytes;
    uint64_t syslog_connection_budget;
    uint64_t syslog_max_connections;
    uint64_t syslog_idle_timeout_ms;
    char syslog_allow_networks[4096]; /* plaintext TCP and UDP */
    /* TLS and access control per listener */
    struct tls_options beats_tls;
    struct tls_options syslog_tls_opts;
    struct tls_options api_tls; /* the HTTP endpoint's */
    /* the Beats relay: Beats' output.logstash options under relay.beats */
    char relay_beats_hosts[4096]; /* one per line; empty: no relay */
    bool relay_beats_loadbalance;
    uint64_t relay_beats_worker;
    uint64_t relay_beats_pipelining;
    uint64_t relay_beats_timeout_ms;
    uint64_t relay_beats_backoff_init_ms;
    uint64_t relay_beats_backoff_max_ms;
    struct tls_client_options relay_beats_ssl;
    bool relay_beats_alerts; /* each alert also goes to the next hop as an event */
    /* the syslog relay */
    char relay_syslog_hosts[4096];  /* one per line; empty: no syslog relay */
    char relay_syslog_transport[8]; /* tcp | tls | udp */
    char relay_syslog_framing[8];   /* octet | lf */
    struct tls_client_options relay_syslog_ssl;
    char relay_when_down[16]; /* block | spill */
    uint64_t relay_spill_max_bytes;
    uint64_t lists_set; /* list options given a value since the defaults (bit per option) */
    /* webhooks (delivery comes with its own options) */
    char webhooks[CONFIG_MAX_LIST][512];
    size_t nwebhooks;
    /* Every webhook target: the `webhooks:` list of the file, then each --webhook. */
    struct target_list targets;
};

/* Releases what the configuration allocated. */
void config_free(struct config *c);

/* Fills C with the defaults of the table. */
void config_defaults(struct config *c);

/* Applies the YAML file PATH. On error prints "FILE:LINE: key 'K': why" to ERR and returns -1. */
int config_load_file(struct config *c, const char *path, FILE *err);

/* Applies one option by its name (the YAML key, e.g. "journal.sync-interval") and text value.
 * On error writes a reason into WHY and returns -1. */
int config_set(struct config *c, const char *name, const char *value, char *why, size_t whylen);

/* Parses `serve`'s command line (ARGV[0] is "serve"): --config FILE first, then every other flag,
 * so flags win. Returns 0, 1 when --help was printed (exit 0), or -1 after printing the error
 * (exit 2). */
int config_parse_args(struct config *c, int argc, char **argv, FILE *out, FILE *err);

/* The options whose values differ between A and B: their names (the YAML keys, static strings)
 * in NAMES, at most MAX of them. Returns how many differ. Webhook targets of the file are not
 * options: compare A->targets and B->targets apart. */
size_t config_diff(const struct config *a, const struct config *b, const char **names, size_t max);

/* True when option NAME (a YAML key) is read only at start: a new value needs a restart. */
bool config_needs_restart(const char *name);

/* Copies the value of option NAME from SRC to DST (an unknown name is a no-op). */
void config_copy_option(struct config *dst, const struct config *src, const char *name);

/* Prints the option reference: as `--help` text, or as a Markdown table (MARKDOWN true). */
void config_print_reference(FILE *f, bool markdown);

#endif
