#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

/* Standard error into a pipe, drained by a thread into a growing buffer. */
static int saved_stderr = -1;
static int pipe_fds[2];
static char *captured;
static size_t captured_len;
static pthread_t drainer;

static void *drain(void *arg)
{
    (void)arg;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
        if (n <= 0)
            return NULL;
        captured = realloc(captured, captured_len + (size_t)n + 1);
        memcpy(captured + captured_len, chunk, (size_t)n);
        captured_len += (size_t)n;
        captured[captured_len] = '\0';
    }
}

static void capture_start(void)
{
    cr_assert_eq(pipe(pipe_fds), 0);
    saved_stderr = dup(STDERR_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[1]);
    captured = calloc(1, 1);
    captured_len = 0;
    pthread_create(&drainer, NULL, drain, NULL);
}

/* Everything written since capture_start (the caller frees it). */
static char *capture_end(void)
{
    dup2(saved_stderr, STDERR_FILENO); /* the pipe's last writer goes: the drainer sees EOF */
    close(saved_stderr);
    pthread_join(drainer, NULL);
    close(pipe_fds[0]);
    return captured;
}

static json_t *parse_line(const char *line)
{
    json_error_t err;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(j, "not JSON (%s): %.200s", err.text, line);
    cr_assert(json_is_object(j));
    return j;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

Test(log, json_records_carry_ecs_names_and_their_fields)
{
    log_set_level(LOG_DEBUG);
    log_set_format(LOG_FORMAT_JSON);
    capture_start();
    const struct log_field f[] = {
        LOG_STR("relay.hop", "hop.example:5044"),
        LOG_U64("relay.windows_waiting", 12),
        LOG_DOUBLE("rate", 2.5),
    };
    log_fields(LOG_WARN, "relay", f, LOG_NFIELDS(f), "next hop %s is \"down\"\nbad \xff byte",
               "hop.example:5044");
    char *out = capture_end();
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    json_t *j = parse_line(out);
    cr_expect_eq(strlen(str(j, "@timestamp")), 24); /* 2026-12-07T18:58:59.586Z */
    cr_expect_eq(str(j, "@timestamp")[23], 'Z');
    cr_expect_str_eq(str(j, "log.level"), "warn");
    cr_expect_str_eq(str(j, "log.logger"), "relay");
    cr_expect_str_eq(str(j, "message"),
                     "next hop hop.example:5044 is \"down\"\nbad \xef\xbf\xbd byte",
                     "the text, without the text format's prefix, mended to UTF-8");
    cr_expect_str_eq(str(j, "relay.hop"), "hop.example:5044");
    cr_expect_eq(json_integer_value(json_object_get(j, "relay.windows_waiting")), 12);
    cr_expect_float_eq(json_real_value(json_object_get(j, "rate")), 2.5, 1e-9);
    json_decref(j);
    free(out);
}

Test(log, the_text_format_is_unchanged_and_a_bare_line_ignores_the_level)
{
    log_set_format(LOG_FORMAT_TEXT);
    log_set_level(LOG_ERROR);
    capture_start();
    const struct log_field f[] = {LOG_STR("listeners.beats", "127.0.0.1:5044")};
    log_info("serve", "not written at level error");
    log_fields(LOG_ERROR, "beats", f, LOG_NFIELDS(f), "%d connections", 3);
    log_bare("serve", f, LOG_NFIELDS(f), "ready beats=%s", "127.0.0.1:5044");
    char *out = capture_end();
    cr_expect_str_eq(out, "error beats: 3 connections\nready beats=127.0.0.1:5044\n");
    free(out);
}

Test(log, a_startup_error_keeps_its_line_in_text_and_is_an_error_record_in_json)
{
    char reason[3000]; /* longer than a record's line: a certificate error with its file */
    memset(reason, 'x', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    log_set_level(LOG_ERROR);
    log_set_format(LOG_FORMAT_TEXT);
    capture_start();
    log_startup_error("amsiwatch serve", "serve", "cannot listen on %s: %s", "0.0.0.0:5044",
                      "address already in use");
    log_startup_error("amsiwatch serve", "serve", "%s", reason);
    char *out = capture_end();
    char want[4000];
    snprintf(want, sizeof(want),
             "amsiwatch serve: cannot listen on 0.0.0.0:5044: address already in use\n"
             "amsiwatch serve: %s\n",
             reason);
    cr_expect_str_eq(out, want, "the text format: the line serve has always printed, whole");
    free(out);

    log_set_format(LOG_FORMAT_JSON);
    capture_start();
    log_startup_error("amsiwatch serve", "serve", "cannot open the journal in %s: %s", "/data",
                      "Permission denied");
    out = capture_end();
    log_set_format(LOG_FORMAT_TEXT);
    log_set_level(LOG_INFO);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    json_t *j = parse_line(out);
    cr_expect_str_eq(str(j, "log.level"), "error");
    cr_expect_str_eq(str(j, "log.logger"), "serve");
    cr_expect_str_eq(str(j, "message"), "cannot open the journal in /data: Permission denied");
    json_decref(j);
    free(out);
}

#define THREADS 8
#define RECORDS 200

static void *chatter(void *arg)
{
    /* Quotes are escaped: each record grows past PIPE_BUF (4096), where a pipe stops keeping
     * one write(2) whole against another's. */
    char text[1900];
    memset(text, '"', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (int i = 0; i < RECORDS; i++) {
        const struct log_field f[] = {LOG_U64("thread", (uint64_t)(uintptr_t)arg),
                                      LOG_STR("text", text)};
        log_fields(LOG_INFO, "chatter", f, LOG_NFIELDS(f), "%d %s", i, text);
    }
    return NULL;
}

Test(log, records_from_threads_never_interleave)
{
    log_set_level(LOG_INFO);
    log_set_format(LOG_FORMAT_JSON);
    capture_start();
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, chatter, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end();
    int per_thread[THREADS] = {0};
    size_t lines = 0;
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        cr_assert_gt(strlen(line), 4096);
        json_t *j = parse_line(line);
        per_thread[json_integer_value(json_object_get(j, "thread"))]++;
        json_decref(j);
        lines++;
    }
    cr_expect_eq(lines, THREADS * RECORDS);
    for (int i = 0; i < THREADS; i++)
        cr_expect_eq(per_thread[i], RECORDS);
    free(out);
}
