/* Logging to standard error, one line per record, in one of two formats:
 *   text: "LEVEL component: message"
 *   json: one JSON object with ECS names: {"@timestamp":"2025-12-25T10:58:31.888Z",
 *         "log.level":"info","log.logger":"component","message":"...","ecs.version":"8.11.0"},
 *         and the record's fields, each as its own key.
 * Any thread may call log_*; each record is written whole with one write(2), records from
 * different threads never interleave. */
#ifndef AMSI_BASE_LOG_H
#define AMSI_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

/* Sets the most verbose level written (default LOG_INFO). Any thread: records being written keep
 * the level they were taken at. */
void log_set_level(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -EINVAL for any other text. */
int log_parse_level(const char *text, enum log_level *out);

/* Sets the format of the records (default LOG_FORMAT_TEXT). Any thread, as log_set_level. */
void log_set_format(enum log_format format);

/* Parses "text" or "json". Returns 0, or -EINVAL for any other text. */
int log_parse_format(const char *text, enum log_format *out);

/* A structured field of a record: written as its own key in the json format (KEY, dotted as ECS
 * names are: "beats.events"), left out of the text format, whose message says it already. */
struct log_field {
    const char *key;
    enum { LOG_FIELD_STR, LOG_FIELD_U64, LOG_FIELD_DOUBLE } type;
    union {
        const char *s;
        uint64_t u;
        double d;
    } v;
};

#define LOG_STR(k, val)    ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .v.s = (val)})
#define LOG_U64(k, val)    ((struct log_field){.key = (k), .type = LOG_FIELD_U64, .v.u = (val)})
#define LOG_DOUBLE(k, val) ((struct log_field){.key = (k), .type = LOG_FIELD_DOUBLE, .v.d = (val)})

/* Writes one record if LEVEL is enabled. COMPONENT names the module ("scan", "journal"). */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* log_msg with the NFIELDS FIELDS of the record (their string values must be UTF-8 or are
 * mended). */
void log_fields(enum log_level level, const char *component, const struct log_field *fields,
                size_t nfields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A line that scripts wait for (serve's "ready ..."): written whatever the level, as an info
 * record in the json format, as the message alone (no level, no component) in the text format. */
void log_bare(const char *component, const struct log_field *fields, size_t nfields,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* An error that keeps a command from starting (serve's "cannot listen on ..."), written whatever
 * the level: in the text format the line "PROGRAM: message", as the command has always printed
 * it (scripts and users match it); in the json format an error record of COMPONENT. */
void log_startup_error(const char *program, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)

#define LOG_NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

#endif
