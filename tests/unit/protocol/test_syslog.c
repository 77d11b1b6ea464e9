#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/syslog.h"
#include "protocol/syslog_framer.h"

/* ---- Framing ------------------------------------------------------------------------------ */

#define MAX_GOT 64

struct got {
    size_t n;
    char *msg[MAX_GOT];
    size_t len[MAX_GOT];
    unsigned flags[MAX_GOT];
    size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, const char *msg, size_t len, unsigned flags)
{
    struct got *g = ctx;
    cr_assert_lt(g->n, MAX_GOT);
    cr_assert_gt(len, 0, "empty messages are never delivered");
    g->msg[g->n] = malloc(len + 1);
    memcpy(g->msg[g->n], msg, len);
    g->msg[g->n][len] = '\0';
    g->len[g->n] = len;
    g->flags[g->n] = flags;
    g->n++;
    return g->stop_after && g->n == g->stop_after ? 1 : 0;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->msg[i]);
    memset(g, 0, sizeof(*g));
}

/* A framer delivering to G; MAX_MSG and MAX_FRAME 0 keep the defaults. */
static struct syslog_framer *framer(enum syslog_framing mode, enum syslog_oversize over,
                                    size_t max_msg, size_t max_frame, struct got *g)
{
    struct syslog_framer_config c;
    syslog_framer_config_default(&c);
    c.framing = mode;
    c.oversize = over;
    if (max_msg)
        c.max_msg = max_msg;
    if (max_frame)
        c.max_frame = max_frame;
    struct syslog_framer *f;
    cr_assert_eq(syslog_framer_new(&c, collect, g, &f), 0);
    return f;
}

/* Feeds S in pieces of STEP bytes (0: all at once), then finishes. */
static void feed_all(struct syslog_framer *f, const char *s, size_t n, size_t step)
{
    if (step == 0)
        step = n ? n : 1;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        cr_assert_eq(syslog_framer_feed(f, s + i, k), (long)k);
    }
    cr_assert_eq(syslog_framer_finish(f), 0);
}

struct want_msg {
    const char *text;
    size_t len;
    unsigned flags;
};

/* A message given as a string literal (which may hold NUL bytes). */
/* clang-format off */
#define MSG(lit, fl) {lit, sizeof(lit) - 1, fl}
/* clang-format on */

static void expect_msg(const char *where, const struct got *g, size_t i, struct want_msg w)
{
    cr_assert_lt(i, g->n, "%s: message %zu missing (got %zu)", where, i, g->n);
    cr_assert_eq(g->len[i], w.len, "%s: message %zu: length %zu, wanted %zu", where, i, g->len[i],
                 w.len);
    cr_assert(memcmp(g->msg[i], w.text, w.len) == 0, "%s: message %zu: got '%s'", where, i,
              g->msg[i]);
    cr_assert_eq(g->flags[i], w.flags, "%s: message %zu: flags %#x, wanted %#x", where, i,
                 g->flags[i], w.flags);
}

#define X10   "xxxxxxxxxx"
#define X50   X10 X10 X10 X10 X10
#define Y10   "yyyyyyyyyy"
#define BIG   "<13>" X50 X50 X50 X10 X10 X10 X10 "xxxxxx" /* 200 bytes */
#define CUT   "<13>" X50 X10                              /* its first 64 */
#define Y64   Y10 Y10 Y10 Y10 Y10 Y10 "yyyy"
#define OCTET SYSLOG_MSG_OCTET_COUNTED

/* An oversize message octet counted, then one over LF, each followed by a normal one. */
#define OVERSIZE_STREAM "200 " BIG "9 <14>after" BIG "\r\n<15>after lf\n"

_Static_assert(sizeof(BIG) - 1 == 200, "BIG is 200 bytes");
_Static_assert(sizeof(CUT) - 1 == 64, "CUT is 64 bytes");
_Static_assert(sizeof(Y64) - 1 == 64, "Y64 is 64 bytes");

/* A stream fed to a framer and the messages it gives. Every case is fed once in pieces of each
 * size from FIRST_STEP to LAST_STEP (0: all at once) through the same framer; after each feed the
 * framer has delivered MSGS, and its counters grow by N_MSGS messages, the stream's bytes,
 * TRUNCATED, DROPPED and FRAMING_ERRORS. */
struct framer_case {
    const char *name;
    enum syslog_framing framing;
    enum syslog_oversize oversize;
    size_t max_msg, max_frame; /* 0: the default */
    const char *input;
    size_t len;
    size_t first_step, last_step;
    size_t n_msgs;
    struct want_msg msgs[8];
    uint64_t truncated, dropped, framing_errors;
};

#define INPUT(lit) .input = lit, .len = sizeof(lit) - 1

static const struct framer_case framer_cases[] = {
    {.name = "auto mode decides octet counting or LF per frame",
     .framing = SYSLOG_FRAMING_AUTO,
     INPUT("26 <13>1 - host app - - - one"
           "<14>two over lf\n"
           "24 <13>three\nwith a newline"
           "<15>four over crlf\r\n"
           "<16>five over nul\0"
           "123 not octet counted\n"
           "9 <13>nine"),
     .n_msgs = 7,
     .msgs = {MSG("<13>1 - host app - - - one", OCTET), MSG("<14>two over lf", 0),
              MSG("<13>three\nwith a newline", OCTET), MSG("<15>four over crlf", 0),
              MSG("<16>five over nul", 0), MSG("123 not octet counted", 0),
              MSG("<13>nine", OCTET | SYSLOG_MSG_TRUNCATED | SYSLOG_MSG_FRAMING_ERROR)},
     .truncated = 1,
     .framing_errors = 1 /* the last frame was cut by the end of the stream */},
    {.name = "LF mode never reads an octet count",
     .framing = SYSLOG_FRAMING_LF,
     INPUT("12 <13>abcdefgh\n<14>next\r\n"),
     .n_msgs = 2,
     .msgs = {MSG("12 <13>abcdefgh", 0), MSG("<14>next", 0)}},
    {.name = "octet mode needs no angle bracket after the count",
     .framing = SYSLOG_FRAMING_OCTET,
     INPUT("5 hello3 abc11 <13>a\nb\0c d"),
     .first_step = 1,
     .last_step = 27, /* every piece size, and one past the whole stream */
     .n_msgs = 3,
     .msgs = {MSG("hello", OCTET), MSG("abc", OCTET), MSG("<13>a\nb\0c d", OCTET)}},
    {.name = "embedded NUL and newline stay inside an octet counted message",
     .framing = SYSLOG_FRAMING_AUTO,
     INPUT("17 <13>one\0two\nthree\r\n<14>after\n"),
     .first_step = 1,
     .last_step = 1,
     .n_msgs = 2,
     .msgs = {MSG("<13>one\0two\nthree", OCTET), MSG("<14>after", 0)}},
    {.name = "CRLF, LF and NUL all end a message and blank lines are skipped",
     .framing = SYSLOG_FRAMING_AUTO,
     INPUT("\n\r\n<13>a\r\n\n\n<13>b\n\0\0<13>c\0<13>d\re\n"),
     .n_msgs = 4,
     .msgs = {MSG("<13>a", 0), MSG("<13>b", 0), MSG("<13>c", 0), MSG("<13>d\re", 0)}},
    {.name = "octet mode counts a missing length as a framing error and resynchronises",
     .framing = SYSLOG_FRAMING_OCTET,
     INPUT("<13>no count here\n5 hello"),
     .n_msgs = 2,
     .msgs = {MSG("<13>no count here", SYSLOG_MSG_FRAMING_ERROR), MSG("hello", OCTET)},
     .framing_errors = 1},
    {.name = "a count over the frame limit is read as a line, not skipped",
     .framing = SYSLOG_FRAMING_AUTO,
     .max_msg = 64,
     .max_frame = 1000,
     INPUT("99999 <13>lying count\n<14>next\n"),
     .first_step = 1,
     .last_step = 1,
     .n_msgs = 2,
     .msgs = {MSG("99999 <13>lying count", SYSLOG_MSG_FRAMING_ERROR), MSG("<14>next", 0)},
     .framing_errors = 1},
    {.name = "oversize messages are truncated and the next arrives intact",
     .framing = SYSLOG_FRAMING_AUTO,
     .oversize = SYSLOG_OVERSIZE_TRUNCATE,
     .max_msg = 64,
     INPUT(OVERSIZE_STREAM),
     .last_step = 3,
     .n_msgs = 4,
     .msgs = {MSG(CUT, OCTET | SYSLOG_MSG_TRUNCATED), MSG("<14>after", OCTET),
              MSG(CUT, SYSLOG_MSG_TRUNCATED), MSG("<15>after lf", 0)},
     .truncated = 2},
    {.name = "oversize messages are dropped and the next arrives intact",
     .framing = SYSLOG_FRAMING_AUTO,
     .oversize = SYSLOG_OVERSIZE_DROP,
     .max_msg = 64,
     INPUT(OVERSIZE_STREAM),
     .last_step = 3,
     .n_msgs = 2,
     .msgs = {MSG("<14>after", OCTET), MSG("<15>after lf", 0)},
     .dropped = 2},
    {.name = "a message of exactly the maximum before CRLF is whole",
     .framing = SYSLOG_FRAMING_LF,
     .oversize = SYSLOG_OVERSIZE_DROP,
     .max_msg = 64,
     INPUT(Y64 "\r\n<13>z\n"),
     .last_step = 2,
     .n_msgs = 2,
     .msgs = {MSG(Y64, 0), MSG("<13>z", 0)}},
};

#define N_FRAMER_CASES (sizeof(framer_cases) / sizeof(framer_cases[0]))

static struct syslog_framer *case_framer(const struct framer_case *c, struct got *g)
{
    return framer(c->framing, c->oversize, c->max_msg, c->max_frame, g);
}

static void expect_msgs(const char *where, const struct framer_case *c, const struct got *g)
{
    cr_assert_eq(g->n, c->n_msgs, "%s: got %zu messages, wanted %zu", where, g->n, c->n_msgs);
    for (size_t i = 0; i < c->n_msgs; i++)
        expect_msg(where, g, i, c->msgs[i]);
}

Test(syslog_framer, each_stream_gives_its_messages_and_counters)
{
    for (const struct framer_case *c = framer_cases; c < framer_cases + N_FRAMER_CASES; c++) {
        struct got g = {0};
        struct syslog_framer *f = case_framer(c, &g);
        uint64_t feeds = 0;
        for (size_t step = c->first_step; step <= c->last_step; step++, feeds++) {
            char where[160];
            snprintf(where, sizeof(where), "%s (step %zu)", c->name, step);
            feed_all(f, c->input, c->len, step);
            expect_msgs(where, c, &g);
            got_free(&g);
        }
        const struct syslog_framer_stats *st = syslog_framer_stats(f);
        cr_expect_eq(st->messages, feeds * c->n_msgs, "%s: %llu messages counted", c->name,
                     (unsigned long long)st->messages);
        cr_expect_eq(st->bytes, feeds * c->len, "%s: %llu bytes counted", c->name,
                     (unsigned long long)st->bytes);
        cr_expect_eq(st->truncated, feeds * c->truncated, "%s: %llu truncated", c->name,
                     (unsigned long long)st->truncated);
        cr_expect_eq(st->dropped, feeds * c->dropped, "%s: %llu dropped", c->name,
                     (unsigned long long)st->dropped);
        cr_expect_eq(st->framing_errors, feeds * c->framing_errors, "%s: %llu framing errors",
                     c->name, (unsigned long long)st->framing_errors);
        syslog_framer_free(f);
    }
}

Test(syslog_framer, each_stream_gives_the_same_messages_at_every_split)
{
    for (const struct framer_case *c = framer_cases; c < framer_cases + N_FRAMER_CASES; c++) {
        char where[160];
        for (size_t step = 1; step <= 7; step++) {
            struct got g = {0};
            struct syslog_framer *f = case_framer(c, &g);
            snprintf(where, sizeof(where), "%s (step %zu)", c->name, step);
            feed_all(f, c->input, c->len, step);
            expect_msgs(where, c, &g);
            syslog_framer_free(f);
            got_free(&g);
        }
        for (size_t cut = 0; cut < c->len; cut++) {
            struct got g = {0};
            struct syslog_framer *f = case_framer(c, &g);
            snprintf(where, sizeof(where), "%s (cut at %zu)", c->name, cut);
            cr_assert_eq(syslog_framer_feed(f, c->input, cut), (long)cut, "%s", where);
            cr_assert_eq(syslog_framer_feed(f, c->input + cut, c->len - cut), (long)(c->len - cut),
                         "%s", where);
            cr_assert_eq(syslog_framer_finish(f), 0, "%s", where);
            expect_msgs(where, c, &g);
            syslog_framer_free(f);
            got_free(&g);
        }
    }
}

Test(syslog_framer, finish_delivers_the_last_message_without_terminator)
{
    struct got g = {0};
    struct syslog_framer *f = framer(SYSLOG_FRAMING_AUTO, SYSLOG_OVERSIZE_TRUNCATE, 0, 0, &g);
    cr_assert_eq(syslog_framer_feed(f, "<13>first\n<13>last", 18), 18);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(syslog_framer_finish(f), 0);
    cr_assert_eq(g.n, 2);
    expect_msg("finish", &g, 1, (struct want_msg)MSG("<13>last", 0));
    /* A number alone at the end is a message too. */
    cr_assert_eq(syslog_framer_feed(f, "42", 2), 2);
    cr_assert_eq(syslog_framer_finish(f), 0);
    expect_msg("a number alone", &g, 2, (struct want_msg)MSG("42", 0));
    syslog_framer_free(f);
    got_free(&g);
}

Test(syslog_framer, a_callback_can_stop_the_feed_and_the_rest_is_fed_later)
{
    struct got g = {.stop_after = 1};
    struct syslog_framer *f = framer(SYSLOG_FRAMING_AUTO, SYSLOG_OVERSIZE_TRUNCATE, 0, 0, &g);
    static const char s[] = "<13>a\n<13>b\n";
    long used = syslog_framer_feed(f, s, sizeof(s) - 1);
    cr_assert_eq(used, 6);
    cr_assert_eq(g.n, 1);
    g.stop_after = 0;
    cr_assert_eq(syslog_framer_feed(f, s + used, sizeof(s) - 1 - (size_t)used), 6);
    cr_assert_eq(g.n, 2);
    expect_msg("fed later", &g, 1, (struct want_msg)MSG("<13>b", 0));
    syslog_framer_free(f);
    got_free(&g);
}

Test(syslog_framer, refuses_limits_below_the_minimum)
{
    struct syslog_framer_config c;
    syslog_framer_config_default(&c);
    cr_expect_eq(c.max_msg, 64 * 1024);
    c.max_msg = 10;
    struct syslog_framer *f;
    cr_expect_eq(syslog_framer_new(&c, collect, NULL, &f), -EINVAL);
    syslog_framer_config_default(&c);
    c.max_frame = 100;
    cr_expect_eq(syslog_framer_new(&c, collect, NULL, &f), -EINVAL);
    cr_expect_eq(syslog_framer_new(NULL, NULL, NULL, &f), -EINVAL);
    syslog_framer_free(NULL);
}

Test(syslog_framer, names_of_modes_parse_both_ways)
{
    enum syslog_framing m;
    cr_expect_eq(syslog_framing_parse("octet", &m), 0);
    cr_expect_eq(m, SYSLOG_FRAMING_OCTET);
    cr_expect_str_eq(syslog_framing_name(SYSLOG_FRAMING_LF), "lf");
    cr_expect_eq(syslog_framing_parse("crlf", &m), -EINVAL);
    enum syslog_oversize o;
    cr_expect_eq(syslog_oversize_parse("drop", &o), 0);
    cr_expect_eq(o, SYSLOG_OVERSIZE_DROP);
    cr_expect_str_eq(syslog_oversize_name(SYSLOG_OVERSIZE_TRUNCATE), "truncate");
}

Test(syslog_framer, recognises_a_tls_handshake_on_a_plaintext_port)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    cr_expect(syslog_looks_like_tls(hello, sizeof(hello)));
    cr_expect_not(syslog_looks_like_tls("<13>x", 5));
    cr_expect_not(syslog_looks_like_tls(hello, 1));
}

/* ---- Parsing ------------------------------------------------------------------------------ */

/* 2026-06-15T12:00:00Z: year-less timestamps of the RFC examples land in 2026 */
#define NOW_MS 1781524800000LL

/* WANT NULL: V must be absent. */
static void expect_view(const char *where, struct syslog_view v, const char *want, const char *what)
{
    if (!want) {
        cr_expect_null(v.p, "%s: %s: expected absent, got '%.*s'", where, what, (int)v.len, v.p);
        return;
    }
    cr_expect_not_null(v.p, "%s: %s: expected '%s', got nothing", where, what, want);
    if (!v.p)
        return;
    cr_expect(v.len == strlen(want) && memcmp(v.p, want, v.len) == 0,
              "%s: %s: expected '%s', got '%.*s'", where, what, want, (int)v.len, v.p);
}

static void parse(const char *s, struct syslog_msg *m)
{
    cr_assert_eq(syslog_parse(s, strlen(s), NOW_MS, m), (long)strlen(s));
}

/* The examples of RFC 5424 6.5 whose structured data is read on below. */
static const char rfc5424_example_3[] =
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
    "\xEF\xBB\xBF"
    "An application event log entry...";
static const char rfc5424_example_4[] =
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
    "[examplePriority@32473 class=\"high\"]";

/* A number a parse case checks; not checked unless given with IS(). */
struct want_num {
    bool on;
    long long v;
};

/* clang-format off */
#define IS(x) {true, (x)}
/* clang-format on */

/* Stands for a field that must be absent; a NULL field is not checked. */
static const char ABSENT[] = "(absent)";

/* A line parsed at NOW_MS (or NOW) and what the message must hold. */
struct parse_case {
    const char *name;
    const char *input;
    int64_t now; /* 0: NOW_MS */
    struct want_num format, version, pri, facility, severity, has_time, time_ms;
    unsigned flags_set, flags_clear;
    const char *timestamp, *hostname, *app_name, *procid, *msgid, *tag, *sd, *msg;
    const char *msg_prefix;
};

static const struct parse_case parse_cases[] = {
    {.name = "RFC 5424 example 1, with a BOM and no structured data",
     .input = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
              "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
     .format = IS(SYSLOG_FORMAT_RFC5424),
     .version = IS(1),
     .facility = IS(4),
     .severity = IS(2),
     .has_time = IS(true),
     .time_ms = IS(1065910455003LL),
     .timestamp = "2003-10-11T22:14:15.003Z",
     .hostname = "mymachine.example.com",
     .app_name = "su",
     .procid = ABSENT,
     .msgid = "ID47",
     .sd = ABSENT,
     .msg = "'su root' failed for lonvick on /dev/pts/8",
     .flags_set = SYSLOG_F_BOM,
     .flags_clear = SYSLOG_F_INVALID_UTF8},
    {.name = "RFC 5424 example 2, with a zone offset and microseconds",
     .input = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
              "%% It's time to make the do-nuts.",
     .facility = IS(20),
     .severity = IS(5),
     .time_ms = IS(1061727255000LL),
     .hostname = "192.0.2.1",
     .app_name = "myproc",
     .procid = "8710",
     .msgid = ABSENT,
     .msg = "%% It's time to make the do-nuts.",
     .flags_clear = SYSLOG_F_BOM},
    {.name = "RFC 5424 example 3, with structured data and msg",
     .input = rfc5424_example_3,
     .app_name = "evntslog",
     .sd = "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]",
     .msg = "An application event log entry..."},
    {.name = "RFC 5424 example 4, with two SD elements and no msg",
     .input = rfc5424_example_4,
     .msg = ""},
    {.name = "RFC 5424 nilvalues are absent fields",
     .input = "<14>1 - - - - - -",
     .format = IS(SYSLOG_FORMAT_RFC5424),
     .has_time = IS(false),
     .timestamp = ABSENT,
     .hostname = ABSENT,
     .app_name = ABSENT,
     .sd = ABSENT,
     .msg = ""},
    {.name = "malformed structured data is flagged and kept in msg",
     .input = "<14>1 2025-01-01T00:00:00Z h a - - [broken x=\"unterminated] text",
     .format = IS(SYSLOG_FORMAT_RFC5424),
     .flags_set = SYSLOG_F_BAD_SD,
     .sd = ABSENT,
     .msg = "[broken x=\"unterminated] text"},
    {.name = "RFC 3164 example 1",
     .input = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
     .format = IS(SYSLOG_FORMAT_RFC3164),
     .version = IS(0),
     .facility = IS(4),
     .severity = IS(2),
     .timestamp = "Oct 11 22:14:15",
     .flags_set = SYSLOG_F_YEAR_INFERRED,
     .time_ms = IS(1791756855000LL), /* 2026-10-11T22:14:15Z */
     .hostname = "mymachine",
     .app_name = "su",
     .tag = "su:",
     .msg = "'su root' failed for lonvick on /dev/pts/8"},
    {.name = "RFC 3164 example 2 has a hostname and no tag",
     .input = "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
     .facility = IS(1),
     .severity = IS(5),
     .timestamp = "Feb  5 17:32:18",
     .time_ms = IS(1770312738000LL), /* 2026-02-05T17:32:18Z */
     .hostname = "10.0.0.99",
     .app_name = ABSENT,
     .msg = "Use the BFG!"},
    {.name = "RFC 3164 example 3, with zone and year after the time",
     .input = "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the "
              "do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, "
              "Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%",
     .facility = IS(20),
     .severity = IS(5),
     .timestamp = "Aug 24 05:34:00 CST 1987",
     .flags_clear = SYSLOG_F_YEAR_INFERRED,
     .time_ms = IS(556803240000LL), /* 1987-08-24T11:34:00Z */
     .hostname = "mymachine",
     .app_name = "myproc",
     .procid = "10",
     .msg_prefix = "%% It's time"},
    {.name = "RFC 3164 example 4 without a valid timestamp is all content",
     .input = "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: "
              "That's All Folks!",
     .pri = IS(0),
     .has_time = IS(false),
     .hostname = ABSENT,
     .msg = "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's "
            "All Folks!"},
    {.name = "RFC 3164 example 4 as a relay forwards it, with a timestamp and hostname added",
     .input = "<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org "
              "10.1.2.3 sched[0]: That's All Folks!",
     .hostname = "scapegoat",
     .app_name = ABSENT,
     .msg_prefix = "1990 Oct 22"},
    {.name = "RFC 3164 tag-like token (app:) means no hostname",
     .input = "<14>Dec 25 10:58:31 nxWinEvt: {\"a\":1}",
     .hostname = ABSENT,
     .app_name = "nxWinEvt",
     .msg = "{\"a\":1}"},
    {.name = "RFC 3164 tag-like token (app[pid]:) means no hostname",
     .input = "<14>Dec 25 10:58:31 sshd[812]: Accepted",
     .hostname = ABSENT,
     .app_name = "sshd",
     .procid = "812"},
    {.name = "RFC 3164 hostname before a tag without a colon",
     .input = "<14>Dec 25 10:58:31 host-1.example.org CRON[9] (root) CMD",
     .hostname = "host-1.example.org",
     .app_name = "CRON",
     .msg = "(root) CMD"},
    {.name = "RFC 3164 IPv6 hostname is not a tag",
     .input = "<14>Dec 25 10:58:31 fe80::1:2 kernel: up",
     .hostname = "fe80::1:2",
     .app_name = "kernel"},
    {.name = "RFC 3164 Snare payload without a tag stays whole in msg",
     .input = "<14>Dec 25 10:58:31 host MSWinEventLog\t1\tSecurity",
     .hostname = "host",
     .app_name = ABSENT,
     .msg = "MSWinEventLog\t1\tSecurity"},
    {.name = "RFC 3164 WinCollect payload without a tag stays whole in msg",
     .input = "<13>Dec 25 10:58:31 10.0.0.5 AgentDevice=WindowsLog\tAgentLogFile=Security",
     .hostname = "10.0.0.5",
     .msg = "AgentDevice=WindowsLog\tAgentLogFile=Security"},
    {.name = "RFC 3164 JSON payload without a tag stays whole in msg",
     .input = "<14>Dec 25 10:58:31 host {\"EventID\":13}",
     .msg = "{\"EventID\":13}"},
    {.name = "RFC 3164 accepts ISO timestamps",
     .input = "<14>2025-12-25T10:58:31.890+01:00 host app: text",
     .format = IS(SYSLOG_FORMAT_RFC3164),
     .has_time = IS(true),
     .flags_clear = SYSLOG_F_YEAR_INFERRED,
     .time_ms = IS(1766656711890LL),
     .hostname = "host",
     .app_name = "app",
     .msg = "text"},
    {.name = "a Dec 31 message read on Jan 1 is from last year",
     .input = "<13>Dec 31 23:59:30 host app: bye",
     .now = 1767225660000LL, /* 2026-01-01T00:01:00Z */
     .has_time = IS(true),
     .time_ms = IS(1767225570000LL) /* 2025-12-31T23:59:30Z */},
    {.name = "a Jan 1 message read on Dec 31 is from next year",
     .input = "<13>Jan  1 00:00:10 host app: hello",
     .now = 1798761540000LL, /* 2026-12-31T23:59:00Z */
     .has_time = IS(true),
     .time_ms = IS(1798761610000LL) /* 2027-01-01T00:00:10Z */},
    {.name = "Feb 29 read in a leap year is from that year",
     .input = "<13>Feb 29 12:00:00 host app: leap",
     .now = 1709208000000LL, /* 2024-02-29T12:00:00Z */
     .has_time = IS(true),
     .time_ms = IS(1709208000000LL)},
    {.name = "Feb 29 with no leap year near has no time, and the hostname is still read",
     .input = "<13>Feb 29 12:00:00 host app: leap", /* at NOW_MS: 2025-2027 have no Feb 29 */
     .has_time = IS(false),
     .hostname = "host"},
    {.name = "a missing PRI means user.notice",
     .input = "just some text",
     .flags_set = SYSLOG_F_NO_PRI,
     .pri = IS(13),
     .facility = IS(1),
     .severity = IS(5),
     .msg = "just some text"},
    {.name = "a PRI over 191 means user.notice",
     .input = "<192>Oct 11 22:14:15 host app: over 191",
     .flags_set = SYSLOG_F_NO_PRI,
     .pri = IS(13)},
    {.name = "a header without PRI means user.notice and is still read",
     .input = "Oct 11 22:14:15 host app: no pri",
     .pri = IS(13),
     .hostname = "host",
     .msg = "no pri"},
    {.name = "invalid UTF-8 is kept as bytes and flagged",
     .input = "<13>1 - host app - - - caf\xE9 \xC0\xAF \xED\xA0\x80 ok",
     .flags_set = SYSLOG_F_INVALID_UTF8,
     .msg = "caf\xE9 \xC0\xAF \xED\xA0\x80 ok"},
    {.name = "valid UTF-8 is not flagged",
     .input = "<13>1 - host app - - - caf\xC3\xA9 \xF0\x9F\x98\x80",
     .flags_clear = SYSLOG_F_INVALID_UTF8},
    {.name = "a BOM before an RFC 3164 msg is removed",
     .input = "<13>Oct 11 22:14:15 host app: \xEF\xBB\xBFtext",
     .flags_set = SYSLOG_F_BOM,
     .msg = "text"},
    {.name = "text starting with a number is not taken for RFC 5424",
     .input = "<13>1 apple a day",
     .format = IS(SYSLOG_FORMAT_RFC3164),
     .msg = "1 apple a day"},
};

static void expect_num(const char *where, const char *what, long long got, struct want_num w)
{
    if (w.on)
        cr_expect_eq(got, w.v, "%s: %s is %lld, wanted %lld", where, what, got, w.v);
}

static void expect_field(const char *where, struct syslog_view v, const char *want,
                         const char *what)
{
    if (want)
        expect_view(where, v, want == ABSENT ? NULL : want, what);
}

Test(syslog_parse, each_line_gives_its_fields)
{
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct syslog_msg m;
        size_t len = strlen(c->input);
        cr_assert_eq(syslog_parse(c->input, len, c->now ? c->now : NOW_MS, &m), (long)len,
                     "%s: not all of the input was read", c->name);
        expect_num(c->name, "format", m.format, c->format);
        expect_num(c->name, "version", m.version, c->version);
        expect_num(c->name, "pri", m.pri, c->pri);
        expect_num(c->name, "facility", m.facility, c->facility);
        expect_num(c->name, "severity", m.severity, c->severity);
        expect_num(c->name, "has_time", m.has_time, c->has_time);
        expect_num(c->name, "time_ms", m.time_ms, c->time_ms);
        cr_expect_eq(m.flags & c->flags_set, c->flags_set, "%s: flags %#x, wanted %#x set", c->name,
                     m.flags, c->flags_set);
        cr_expect_eq(m.flags & c->flags_clear, 0, "%s: flags %#x, wanted %#x clear", c->name,
                     m.flags, c->flags_clear);
        expect_field(c->name, m.timestamp, c->timestamp, "timestamp");
        expect_field(c->name, m.hostname, c->hostname, "hostname");
        expect_field(c->name, m.app_name, c->app_name, "app");
        expect_field(c->name, m.procid, c->procid, "procid");
        expect_field(c->name, m.msgid, c->msgid, "msgid");
        expect_field(c->name, m.tag, c->tag, "tag");
        expect_field(c->name, m.sd, c->sd, "sd");
        expect_field(c->name, m.msg, c->msg, "msg");
        if (c->msg_prefix)
            cr_expect(m.msg.len >= strlen(c->msg_prefix) &&
                          memcmp(m.msg.p, c->msg_prefix, strlen(c->msg_prefix)) == 0,
                      "%s: msg '%.*s' does not start with '%s'", c->name, (int)m.msg.len, m.msg.p,
                      c->msg_prefix);
    }
}

Test(syslog_parse, rfc5424_example_3_with_structured_data_and_msg)
{
    struct syslog_msg m;
    parse(rfc5424_example_3, &m);
    struct syslog_sd_iter it;
    struct syslog_view id, name, value;
    syslog_sd_iter_init(&it, m.sd);
    cr_assert_eq(syslog_sd_next_element(&it, &id), 1);
    expect_view("example 3", id, "exampleSDID@32473", "sd-id");
    const char *names[] = {"iut", "eventSource", "eventID"};
    const char *values[] = {"3", "Application", "1011"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(syslog_sd_next_param(&it, &name, &value), 1);
        expect_view("example 3", name, names[i], "param name");
        expect_view("example 3", value, values[i], "param value");
    }
    cr_expect_eq(syslog_sd_next_param(&it, &name, &value), 0);
    cr_expect_eq(syslog_sd_next_element(&it, &id), 0);
}

Test(syslog_parse, rfc5424_example_4_with_two_sd_elements_and_no_msg)
{
    struct syslog_msg m;
    parse(rfc5424_example_4, &m);
    struct syslog_sd_iter it;
    struct syslog_view id, name, value;
    syslog_sd_iter_init(&it, m.sd);
    cr_assert_eq(syslog_sd_next_element(&it, &id), 1);
    expect_view("example 4", id, "exampleSDID@32473", "first");
    /* Skipping the first element's params. */
    cr_assert_eq(syslog_sd_next_element(&it, &id), 1);
    expect_view("example 4", id, "examplePriority@32473", "second");
    cr_assert_eq(syslog_sd_next_param(&it, &name, &value), 1);
    expect_view("example 4", name, "class", "name");
    expect_view("example 4", value, "high", "value");
    cr_expect_eq(syslog_sd_next_element(&it, &id), 0);
}

Test(syslog_parse, structured_data_values_unescape_exactly_as_rfc5424_says)
{
    static const char raw[] = "[x@1 a=\"q\\\"b\\\\s\\]e\\n\\t\\\" tail\"]";
    struct syslog_view sd = {raw, sizeof(raw) - 1};
    struct syslog_sd_iter it;
    struct syslog_view id, name, value;
    syslog_sd_iter_init(&it, sd);
    cr_assert_eq(syslog_sd_next_element(&it, &id), 1);
    cr_assert_eq(syslog_sd_next_param(&it, &name, &value), 1);
    char out[64];
    long n = syslog_sd_unescape(value.p, value.len, out, sizeof(out));
    /* \" \\ \] lose their backslash; \n and \t keep it. */
    static const char want[] = "q\"b\\s]e\\n\\t\" tail";
    cr_assert_eq(n, (long)sizeof(want) - 1);
    cr_expect_str_eq(out, want);
    cr_expect_eq(syslog_sd_unescape(value.p, value.len, out, (size_t)n), -EMSGSIZE,
                 "no room for the NUL");
    cr_expect_eq(syslog_sd_unescape(value.p, value.len, out, (size_t)n + 1), n);
}

Test(syslog_parse, structured_data_iterator_reports_malformed_input)
{
    static const char *const bad[] = {"[]", "[id", "[id a]", "[id a=b]", "[id a=\"b]", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct syslog_view sd = {bad[i], strlen(bad[i])};
        struct syslog_sd_iter it;
        struct syslog_view id, name, value;
        syslog_sd_iter_init(&it, sd);
        int rc = syslog_sd_next_element(&it, &id);
        while (rc == 1) {
            rc = syslog_sd_next_param(&it, &name, &value);
            if (rc == 0)
                rc = syslog_sd_next_element(&it, &id);
        }
        cr_expect_eq(rc, -EBADMSG, "'%s'", bad[i]);
    }
}

Test(syslog_parse, embedded_control_characters_do_not_split_the_record)
{
    struct syslog_msg m;
    static const char s[] = "<13>Oct 11 22:14:15 host app: one\0two\nthree\x1b[0m";
    cr_assert_eq(syslog_parse(s, sizeof(s) - 1, NOW_MS, &m), (long)sizeof(s) - 1);
    cr_expect(m.flags & SYSLOG_F_CONTROL_CHARS);
    cr_assert_eq(m.msg.len, sizeof("one\0two\nthree\x1b[0m") - 1);
    cr_expect(memcmp(m.msg.p, "one\0two\nthree\x1b[0m", m.msg.len) == 0);
}

Test(syslog_parse, never_fails_and_views_stay_inside_the_input)
{
    unsigned seed = 12345;
    char s[256];
    static const char alphabet[] = "<>0123456789 -:[]\"\\=TZ.Oct\t\n\xEF\xBB\xBF{}@";
    for (int round = 0; round < 20000; round++) {
        size_t n = (seed = seed * 1103515245u + 12345u) % sizeof(s);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        if (n > 4 && round % 3 == 0)
            memcpy(s, "<13>1", 5);
        struct syslog_msg m;
        cr_assert_eq(syslog_parse(s, n, NOW_MS, &m), (long)n);
        const struct syslog_view *vs[] = {&m.timestamp, &m.hostname, &m.app_name, &m.procid,
                                          &m.msgid,     &m.tag,      &m.sd,       &m.msg};
        for (size_t k = 0; k < sizeof(vs) / sizeof(vs[0]); k++) {
            if (vs[k]->p)
                cr_assert(vs[k]->p >= s && vs[k]->p + vs[k]->len <= s + n, "round %d", round);
        }
        cr_assert_not_null(m.msg.p);
        cr_assert(m.pri >= 0 && m.pri <= 191);
    }
}

/* ---- Any split, any stream -------------------------------------------------------------- */

struct trace {
    char log[16384];
    size_t len;
};

static int record(void *ctx, const char *msg, size_t len, unsigned flags)
{
    struct trace *t = ctx;
    cr_assert_leq(len, 64, "never more than the maximum");
    int n = snprintf(t->log + t->len, sizeof(t->log) - t->len, "[%zu %x]", len, flags);
    cr_assert(n > 0 && (size_t)n < sizeof(t->log) - t->len);
    t->len += (size_t)n;
    cr_assert_lt(len, sizeof(t->log) - t->len);
    memcpy(t->log + t->len, msg, len);
    t->len += len;
    return 0;
}

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

/* Random streams of well-formed, oversize and malformed frames: feeding them whole, byte by byte
 * or in random pieces gives the same messages and counters, in every mode and policy. */
Test(syslog_framer, any_split_of_any_stream_gives_the_same_result)
{
    unsigned seed = 4242;
    char s[3000];
    for (int round = 0; round < 300; round++) {
        size_t n = 0;
        while (n < sizeof(s) - 300) {
            size_t len = rnd(&seed) % 150;
            char body[160];
            for (size_t i = 0; i < len; i++)
                body[i] = "ab <>1\n\r\0 9"[rnd(&seed) % 12];
            switch (rnd(&seed) % 4) {
            case 0: /* octet counted (maybe with a lying count) */
                n += (size_t)sprintf(s + n, "%zu ", len + (rnd(&seed) % 5 == 0 ? 7 : 0));
                if (len)
                    body[0] = '<';
                break;
            case 1:
            case 2:
                break;
            default:
                n += (size_t)sprintf(s + n, "%u", rnd(&seed) % 100000);
                break;
            }
            memcpy(s + n, body, len);
            n += len;
            s[n++] = "\n\0\n"[rnd(&seed) % 3];
        }
        struct syslog_framer_config c;
        syslog_framer_config_default(&c);
        c.framing = (enum syslog_framing)(round % 3);
        c.oversize = (enum syslog_oversize)((round / 3) % 2);
        c.max_msg = 64;
        c.max_frame = 128;
        struct trace whole = {0}, piece = {0};
        struct syslog_framer *a, *b;
        cr_assert_eq(syslog_framer_new(&c, record, &whole, &a), 0);
        cr_assert_eq(syslog_framer_new(&c, record, &piece, &b), 0);
        cr_assert_eq(syslog_framer_feed(a, s, n), (long)n);
        syslog_framer_finish(a);
        for (size_t i = 0; i < n;) {
            size_t k = round % 2 ? 1 : 1 + rnd(&seed) % 40;
            if (k > n - i)
                k = n - i;
            cr_assert_eq(syslog_framer_feed(b, s + i, k), (long)k);
            i += k;
        }
        syslog_framer_finish(b);
        cr_assert_eq(whole.len, piece.len, "round %d (%s, %s)", round,
                     syslog_framing_name(c.framing), syslog_oversize_name(c.oversize));
        cr_assert(memcmp(whole.log, piece.log, whole.len) == 0, "round %d", round);
        const struct syslog_framer_stats *x = syslog_framer_stats(a), *y = syslog_framer_stats(b);
        cr_assert(memcmp(x, y, sizeof(*x)) == 0, "round %d: counters differ", round);
        cr_assert_eq(x->bytes, n);
        cr_assert_gt(x->messages, 0);
        syslog_framer_free(a);
        syslog_framer_free(b);
    }
}
