#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/utf8.h"

/* The version of ECS whose names the json format uses. */
#define ECS_VERSION "8.11.0"

static _Atomic int current_level = LOG_INFO;
static _Atomic int current_format = LOG_FORMAT_TEXT;

/* Orders the writes of records: a record longer than PIPE_BUF could otherwise interleave with
 * another thread's on a pipe. */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

int log_parse_level(const char *text, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_set_format(enum log_format format)
{
    atomic_store(&current_format, (int)format);
}

int log_parse_format(const char *text, enum log_format *out)
{
    if (strcmp(text, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(text, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -EINVAL;
    return 0;
}

static void write_all(const char *p, size_t n)
{
    pthread_mutex_lock(&write_mu);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to log to */
        p += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&write_mu);
}

/* A JSON string of the N bytes at S, mended to UTF-8 when they are not (jansson takes only
 * UTF-8). */
static json_t *text_value(const char *s, size_t n)
{
    if (utf8_valid(s, n))
        return json_stringn(s, n);
    size_t len = utf8_mended_len(s, n);
    char *m = malloc(len + 1);
    if (!m)
        return NULL;
    utf8_copy(m, len + 1, s, n, NULL);
    json_t *j = json_stringn(m, len);
    free(m);
    return j;
}

static void write_json(enum log_level level, const char *component, const struct log_field *fields,
                       size_t nfields, const char *msg, size_t msglen)
{
    char ts[32];
    clock_format_ms(clock_now_ms(), ts, sizeof(ts));
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "@timestamp", json_string(ts));
    json_object_set_new(o, "log.level", json_string(level_names[level]));
    json_object_set_new(o, "log.logger", text_value(component, strlen(component)));
    json_object_set_new(o, "message", text_value(msg, msglen));
    for (size_t i = 0; i < nfields; i++) {
        const struct log_field *f = &fields[i];
        json_t *v = NULL;
        switch (f->type) {
        case LOG_FIELD_STR:
            v = f->v.s ? text_value(f->v.s, strlen(f->v.s)) : json_null();
            break;
        case LOG_FIELD_U64:
            v = json_integer(f->v.u > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)f->v.u);
            break;
        case LOG_FIELD_DOUBLE:
            v = json_real(f->v.d); /* NULL for NaN and infinities: left out */
            break;
        }
        if (v)
            json_object_set_new(o, f->key, v);
    }
    json_object_set_new(o, "ecs.version", json_string(ECS_VERSION));
    char stack[4096];
    size_t need = json_dumpb(o, stack, sizeof(stack) - 1, JSON_COMPACT);
    if (need == 0) {
        json_decref(o);
        return;
    }
    char *line = stack;
    if (need > sizeof(stack) - 1) {
        line = malloc(need + 1);
        if (!line || json_dumpb(o, line, need, JSON_COMPACT) != need) {
            free(line);
            json_decref(o);
            return;
        }
    }
    json_decref(o);
    line[need] = '\n';
    write_all(line, need + 1);
    if (line != stack)
        free(line);
}

/* Formats FMT after the N bytes already in LINE (CAP bytes: the text format's prefix) and writes
 * the record: the whole line in the text format, the message alone in the json format. */
static void finish_record(enum log_level level, const char *component,
                          const struct log_field *fields, size_t nfields, char *line, size_t cap,
                          int n, const char *fmt, va_list ap) __attribute__((format(printf, 8, 0)));

static void finish_record(enum log_level level, const char *component,
                          const struct log_field *fields, size_t nfields, char *line, size_t cap,
                          int n, const char *fmt, va_list ap)
{
    if (n < 0 || (size_t)n >= cap)
        return;
    int m = vsnprintf(line + n, cap - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > cap - 2)
        len = cap - 2;
    if (atomic_load(&current_format) == LOG_FORMAT_JSON) {
        write_json(level, component, fields, nfields, line + n, len - (size_t)n);
        return;
    }
    line[len++] = '\n';
    write_all(line, len);
}

static void write_record(enum log_level level, bool bare, const char *component,
                         const struct log_field *fields, size_t nfields, const char *fmt,
                         va_list ap) __attribute__((format(printf, 6, 0)));

static void write_record(enum log_level level, bool bare, const char *component,
                         const struct log_field *fields, size_t nfields, const char *fmt,
                         va_list ap)
{
    char line[2048];
    int n = bare ? 0 : snprintf(line, sizeof(line), "%s %s: ", level_names[level], component);
    finish_record(level, component, fields, nfields, line, sizeof(line), n, fmt, ap);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
    if ((int)level > atomic_load(&current_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    write_record(level, false, component, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_fields(enum log_level level, const char *component, const struct log_field *fields,
                size_t nfields, const char *fmt, ...)
{
    if ((int)level > atomic_load(&current_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    write_record(level, false, component, fields, nfields, fmt, ap);
    va_end(ap);
}

void log_bare(const char *component, const struct log_field *fields, size_t nfields,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_record(LOG_INFO, true, component, fields, nfields, fmt, ap);
    va_end(ap);
}

void log_startup_error(const char *program, const char *component, const char *fmt, ...)
{
    /* Longer than a record's line: the reasons include certificate errors and file names. */
    char line[8192];
    int n = snprintf(line, sizeof(line), "%s: ", program);
    va_list ap;
    va_start(ap, fmt);
    finish_record(LOG_ERROR, component, NULL, 0, line, sizeof(line), n, fmt, ap);
    va_end(ap);
}
