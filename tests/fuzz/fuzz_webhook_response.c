/* The handling of a webhook target's answer (notify/response.c): the header lines, Retry-After in
 * both forms, the outcome and the wait, the dead letter's reason; and the UTF-8 mending and
 * cutting (base/utf8.c) the reason and every message format rely on.
 *
 * Input: byte 0 the flags (bit 0: an HTTP answer came), bytes 1 to 8 the wall clock (seconds,
 * little endian, folded into years 1970 to 9999), then the header lines (LF-separated, each
 * with or without CR) up to an empty line not followed by another status line, then the body.
 *
 * It aborts when a status is outside 100 to 999; a wait is negative (other than -1, none) or
 * above RESPONSE_RETRY_AFTER_MAX_MS; a Retry-After gives another wait than one worked out apart
 * (capped seconds, the capped wait until a date, -1 otherwise) or a refused one changes the wait;
 * a parsed HTTP-date is before 1970, after 9999, or not the date and time its text names (a field
 * out of range folded into the next); the clock's date in the three forms does not parse back to
 * it, or the same day before 1970 parses; the outcome or the wait breaks response.h's rules; the
 * reason is too long, not UTF-8 or holds control characters; UTF-8 mending or cutting of the body
 * disagrees with itself. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/utf8.h"
#include "notify/response.h"
#include "tests/fuzz/fuzz_target.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_webhook_response: broken invariant: %s (line %d)\n", #c,         \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define YEAR_10000 253402300800LL /* 10000-01-01T00:00:00Z */

static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void check_retry_after(long ms)
{
    CHECK(ms == -1 || (ms >= 0 && ms <= RESPONSE_RETRY_AFTER_MAX_MS));
}

/* A date S (N bytes) that parsed to WHEN is a real date and time from 1970 on: WHEN written back
 * in the form S came in gives S again, the day name aside (the parser does not check it), so no
 * field was out of range and folded into the next (31 November, 24:00:00, year 0000). A second
 * :60 is the leap second before WHEN and only at 23:59. */
static void check_parsed_date(const char *s, size_t n, int64_t when)
{
    CHECK(when >= 0 && when <= YEAR_10000);
    const char *sp = memchr(s, ' ', n);
    CHECK(sp != NULL);
    const char *tail = sp + 1;
    size_t tn = (size_t)(s + n - tail);
    bool found = false;
    for (int leap = 0; leap <= 1 && !found; leap++) {
        time_t tt = (time_t)(when - leap);
        struct tm tm;
        CHECK(gmtime_r(&tt, &tm) != NULL);
        int sec = tm.tm_sec;
        if (leap) {
            if (tm.tm_hour != 23 || tm.tm_min != 59 || tm.tm_sec != 59)
                break;
            sec = 60;
        }
        int y = tm.tm_year + 1900;
        char f[4][64];
        int k = 0;
        snprintf(f[k++], sizeof(f[0]), "%02d %s %04d %02d:%02d:%02d GMT", tm.tm_mday,
                 mon[tm.tm_mon], y, tm.tm_hour, tm.tm_min, sec);
        snprintf(f[k++], sizeof(f[0]), "%s %2d %02d:%02d:%02d %04d", mon[tm.tm_mon], tm.tm_mday,
                 tm.tm_hour, tm.tm_min, sec, y);
        snprintf(f[k++], sizeof(f[0]), "%s %02d %02d:%02d:%02d %04d", mon[tm.tm_mon], tm.tm_mday,
                 tm.tm_hour, tm.tm_min, sec, y);
        if (y >= 1970 && y <= 2069)
            snprintf(f[k++], sizeof(f[0]), "%02d-%s-%02d %02d:%02d:%02d GMT", tm.tm_mday,
                     mon[tm.tm_mon], y % 100, tm.tm_hour, tm.tm_min, sec);
        for (int i = 0; i < k && !found; i++)
            found = strlen(f[i]) == tn && memcmp(f[i], tail, tn) == 0;
    }
    CHECK(found);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* What the Retry-After value V (N bytes) asks for, worked out apart from the parser: blanks
 * around it ignored; delta-seconds capped (any number of digits); a date the wait until it (0
 * when past), capped; anything else, a date response_http_date refuses included, -1. */
static long expected_retry_after(const char *v, size_t n, int64_t now)
{
    while (n > 0 && blank(*v)) {
        v++;
        n--;
    }
    while (n > 0 && blank(v[n - 1]))
        n--;
    if (n == 0)
        return -1;
    const uint64_t cap_s = RESPONSE_RETRY_AFTER_MAX_MS / 1000;
    if (v[0] >= '0' && v[0] <= '9') {
        uint64_t secs = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -1;
            if (secs < cap_s)
                secs = secs * 10 + (uint64_t)(v[i] - '0');
        }
        return secs >= cap_s ? RESPONSE_RETRY_AFTER_MAX_MS : (long)secs * 1000;
    }
    int64_t when;
    if (response_http_date(v, n, &when) != 0)
        return -1;
    check_parsed_date(v, n, when);
    if (when <= now)
        return 0;
    return (uint64_t)(when - now) >= cap_s ? RESPONSE_RETRY_AFTER_MAX_MS
                                           : (long)(when - now) * 1000;
}

/* The three HTTP-date forms of T, parsed back, give T. */
static void check_dates(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    CHECK(gmtime_r(&tt, &tm) != NULL);
    static const char *const wk[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const wkl[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
    char s[64];
    int64_t back = -1;
    int n =
        snprintf(s, sizeof(s), "%s, %02d %s %04d %02d:%02d:%02d GMT", wk[tm.tm_wday], tm.tm_mday,
                 mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    CHECK(response_http_date(s, (size_t)n, &back) == 0 && back == t);
    n = snprintf(s, sizeof(s), "%s %s %2d %02d:%02d:%02d %04d", wk[tm.tm_wday], mon[tm.tm_mon],
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
    back = -1;
    CHECK(response_http_date(s, (size_t)n, &back) == 0 && back == t);
    int y = tm.tm_year + 1900;
    if (y >= 1970 && y <= 2069) {
        n = snprintf(s, sizeof(s), "%s, %02d-%s-%02d %02d:%02d:%02d GMT", wkl[tm.tm_wday],
                     tm.tm_mday, mon[tm.tm_mon], y % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
        back = -1;
        CHECK(response_http_date(s, (size_t)n, &back) == 0 && back == t);
    }
    /* As a Retry-After, the date T seen at T - 5 s is a wait of 5 s. */
    n = snprintf(s, sizeof(s), "%s, %02d %s %04d %02d:%02d:%02d GMT", wk[tm.tm_wday], tm.tm_mday,
                 mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    CHECK(response_retry_after_ms(s, (size_t)n, t - 5) == 5000);
    CHECK(response_retry_after_ms(s, (size_t)n, t + 5) == 0);
    /* The same day and time in a year before 1970 (0000 to 1969) is no date seconds since the
     * epoch can name, so no Retry-After either (not a wait of 0). */
    int old = y % 1970;
    n = snprintf(s, sizeof(s), "%s, %02d %s %04d %02d:%02d:%02d GMT", wk[tm.tm_wday], tm.tm_mday,
                 mon[tm.tm_mon], old, tm.tm_hour, tm.tm_min, tm.tm_sec);
    back = -1;
    CHECK(response_http_date(s, (size_t)n, &back) == -1 && back == -1);
    CHECK(response_retry_after_ms(s, (size_t)n, t) == -1);
    n = snprintf(s, sizeof(s), "%s %s %2d %02d:%02d:%02d %04d", wk[tm.tm_wday], mon[tm.tm_mon],
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, old);
    CHECK(response_http_date(s, (size_t)n, &back) == -1 && back == -1);
    CHECK(response_retry_after_ms(s, (size_t)n, t) == -1);
}

static void check_utf8(const char *p, size_t n)
{
    size_t mended = utf8_mended_len(p, n);
    CHECK(mended >= n && mended <= 3 * n);
    char *out = malloc(mended + 1);
    CHECK(out);
    bool cut = true;
    CHECK(utf8_copy(out, mended + 1, p, n, &cut) == mended && !cut);
    CHECK(utf8_valid(out, mended));
    CHECK(utf8_valid(p, n) == (mended == n && memcmp(out, p, n) == 0));
    /* Cut anywhere: whole characters only, as many as fit. */
    size_t max = n ? (unsigned char)p[0] % (mended + 1) : 0;
    char *part = malloc(max + 1);
    CHECK(part);
    size_t got = utf8_copy(part, max + 1, p, n, &cut);
    CHECK(got <= max && got == utf8_cut_len(p, n, max) && memcmp(part, out, got) == 0);
    CHECK(utf8_valid(part, got) && cut == (got < mended));
    CHECK(got + 4 > max || got == mended);
    free(part);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    bool answered = data[0] & 1;
    uint64_t raw = 0;
    for (int i = 0; i < 8; i++)
        raw |= (uint64_t)data[1 + i] << (8 * i);
    int64_t now = (int64_t)(raw % (uint64_t)YEAR_10000);
    const char *p = (const char *)data + 9, *end = (const char *)data + size;

    check_dates(now);

    struct response r;
    response_init(&r);
    const char *body = end;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t len = (size_t)(le - p);
        if (len == 0 || (len == 1 && *p == '\r')) {
            /* The end of a response's headers: another response (after an interim one) or the
             * body follows. */
            const char *next = nl ? nl + 1 : end;
            if (end - next < 5 || memcmp(next, "HTTP/", 5) != 0) {
                body = next;
                break;
            }
            p = next;
            continue;
        }
        long before = r.retry_after_ms;
        response_header(&r, p, len, now);
        CHECK(r.status == 0 || (r.status >= 100 && r.status <= 999));
        check_retry_after(r.retry_after_ms);
        /* A Retry-After line sets the wait it asks for; one that is neither form (a refused
         * date included) leaves the wait as it was. */
        static const char name[] = "Retry-After:";
        if (len >= sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
            const char *v = p + sizeof(name) - 1;
            size_t vn = len - (sizeof(name) - 1);
            long want = expected_retry_after(v, vn, now);
            CHECK(response_retry_after_ms(v, vn, now) == want);
            CHECK(r.retry_after_ms == (want >= 0 ? want : before));
        } else if (len < 5 || memcmp(p, "HTTP/", 5) != 0) {
            CHECK(r.retry_after_ms == before);
        }
        long ms = response_retry_after_ms(p, len, now);
        check_retry_after(ms);
        CHECK(ms == expected_retry_after(p, len, now));
        int64_t when;
        if (response_http_date(p, len, &when) == 0)
            check_parsed_date(p, len, when);
        p = nl ? nl + 1 : end;
    }

    enum response_outcome o = response_classify(answered, r.status);
    if (!answered)
        CHECK(o == RESP_RETRY);
    else if (r.status >= 200 && r.status <= 299)
        CHECK(o == RESP_OK);
    else if (r.status == 410)
        CHECK(o == RESP_GONE);
    else if (r.status >= 400 && r.status <= 499 && r.status != 408 && r.status != 429)
        CHECK(o == RESP_DEAD);
    else if (r.status == 408 || r.status == 429 || (r.status >= 500 && r.status <= 599))
        CHECK(o == RESP_RETRY);

    uint64_t backoff = raw >> 40;
    uint64_t wait = response_wait_ms(r.retry_after_ms, backoff);
    CHECK(r.retry_after_ms >= 0 ? wait == (uint64_t)r.retry_after_ms : wait == backoff);

    size_t blen = (size_t)(end - body);
    char reason[300];
    size_t rsize = 1 + (size_t)(data[0] >> 1) % sizeof(reason);
    response_reason(r.status, body, blen, reason, rsize);
    size_t rl = strlen(reason);
    CHECK(rl < rsize && utf8_valid(reason, rl));
    for (size_t i = 0; i < rl; i++)
        CHECK((unsigned char)reason[i] >= 0x20 && reason[i] != 0x7F);

    check_utf8(body, blen);
    return 0;
}
