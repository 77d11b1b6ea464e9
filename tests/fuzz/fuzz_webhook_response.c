/* The handling of a webhook target's answer (server/response.c): the header lines, Retry-After in
 * both forms, the outcome and the wait, the dead letter's reason; and the UTF-8 mending and
 * cutting (base/utf8.c) the reason and every message format rely on.
 *
 * Input: byte 0 the flags (bit 0: an HTTP answer came), bytes 1 to 8 the wall clock (seconds,
 * little endian, folded into years 1970 to 9999), then the header lines (LF-separated, each
 * with or without CR) up to an empty line not followed by another status line, then the body. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/utf8.h"
#include "server/response.h"
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

static void check_retry_after(long ms)
{
    CHECK(ms == -1 || (ms >= 0 && ms <= RESPONSE_RETRY_AFTER_MAX_MS));
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
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
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
        response_header(&r, p, len, now);
        CHECK(r.status == 0 || (r.status >= 100 && r.status <= 999));
        check_retry_after(r.retry_after_ms);
        check_retry_after(response_retry_after_ms(p, len, now));
        int64_t when;
        if (response_http_date(p, len, &when) == 0)
            CHECK(when >= 0 && when < YEAR_10000);
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
