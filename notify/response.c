#include "notify/response.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/time.h"
#include "base/utf8.h"

void response_init(struct response *r)
{
    r->status = 0;
    r->retry_after_ms = -1;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- HTTP-date ---- */

struct cur {
    const char *p, *end;
};

static bool lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Exactly N digits. */
static bool num(struct cur *c, int n, int *out)
{
    if (c->end - c->p < n)
        return false;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!digit(c->p[i]))
            return false;
        v = v * 10 + (c->p[i] - '0');
    }
    c->p += n;
    *out = v;
    return true;
}

static bool month(struct cur *c, int *out)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (c->end - c->p < 3)
        return false;
    for (int i = 0; i < 12; i++) {
        if (memcmp(c->p, names + 3 * i, 3) == 0) {
            c->p += 3;
            *out = i + 1;
            return true;
        }
    }
    return false;
}

/* A day name, short ("Sun") or, when LONG_, long ("Sunday"). */
static bool day_name(struct cur *c, bool long_)
{
    static const char *const names[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
    for (int i = 0; i < 7; i++) {
        char s[4];
        memcpy(s, names[i], 3);
        s[3] = '\0';
        struct cur t = *c;
        if (long_ ? lit(&t, names[i]) : lit(&t, s)) {
            *c = t;
            return true;
        }
    }
    return false;
}

/* 00:00:00 to 23:59:59, and 23:59:60: a leap second (inserted only at the end of a UTC day) is
 * the first second of the next day. No other :60 is a time. */
static bool clock_time(struct cur *c, int *h, int *m, int *s)
{
    return num(c, 2, h) && lit(c, ":") && num(c, 2, m) && lit(c, ":") && num(c, 2, s) && *h <= 23 &&
           *m <= 59 && (*s <= 59 || (*s == 60 && *h == 23 && *m == 59));
}

/* A real date from 1970 on: seconds since the epoch cannot name an earlier one (it would be
 * negative), and a day the month does not have (0, 31 November, 29 February of a common year)
 * is not a date (RFC 9110 5.6.7). */
static bool date_ok(int y, int m, int d)
{
    return y >= 1970 && time_valid_date(y, m, d);
}

int response_http_date(const char *s, size_t len, int64_t *out)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    bool ok = false;
    struct cur c = {s, s + len};
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (day_name(&c, false) && lit(&c, ", ") && num(&c, 2, &d) && lit(&c, " ") && month(&c, &mo) &&
        lit(&c, " ") && num(&c, 4, &y) && lit(&c, " ") && clock_time(&c, &h, &mi, &se) &&
        lit(&c, " GMT") && c.p == c.end)
        ok = true;
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (a two-digit year: 70 to 99 is 19xx) */
    c = (struct cur){s, s + len};
    if (!ok && day_name(&c, true) && lit(&c, ", ") && num(&c, 2, &d) && lit(&c, "-") &&
        month(&c, &mo) && lit(&c, "-") && num(&c, 2, &y) && lit(&c, " ") &&
        clock_time(&c, &h, &mi, &se) && lit(&c, " GMT") && c.p == c.end) {
        y += y >= 70 ? 1900 : 2000;
        ok = true;
    }
    /* asctime: Sun Nov  6 08:49:37 1994 */
    c = (struct cur){s, s + len};
    if (!ok && day_name(&c, false) && lit(&c, " ") && month(&c, &mo) && lit(&c, " ") &&
        (lit(&c, " ") ? num(&c, 1, &d) : num(&c, 2, &d)) && lit(&c, " ") &&
        clock_time(&c, &h, &mi, &se) && lit(&c, " ") && num(&c, 4, &y) && c.p == c.end)
        ok = true;
    if (!ok || !date_ok(y, mo, d))
        return -1;
    *out = time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

/* ---- Retry-After ---- */

long response_retry_after_ms(const char *v, size_t len, int64_t now_s)
{
    while (len > 0 && blank(*v)) {
        v++;
        len--;
    }
    while (len > 0 && blank(v[len - 1]))
        len--;
    if (len == 0)
        return -1;
    if (digit(v[0])) {
        /* Any number of digits: what passes the cap stops counting (no overflow). */
        long secs = 0;
        for (size_t i = 0; i < len; i++) {
            if (!digit(v[i]))
                return -1;
            if (secs <= RESPONSE_RETRY_AFTER_MAX_MS / 1000)
                secs = secs * 10 + (v[i] - '0');
        }
        return secs < RESPONSE_RETRY_AFTER_MAX_MS / 1000 ? secs * 1000
                                                         : RESPONSE_RETRY_AFTER_MAX_MS;
    }
    int64_t when;
    if (response_http_date(v, len, &when) < 0)
        return -1;
    if (when <= now_s)
        return 0;
    int64_t d = when - now_s;
    return d < RESPONSE_RETRY_AFTER_MAX_MS / 1000 ? (long)d * 1000 : RESPONSE_RETRY_AFTER_MAX_MS;
}

/* ---- Header lines ---- */

void response_header(struct response *r, const char *line, size_t len, int64_t now_s)
{
    /* HTTP/1.1 503 Service Unavailable; HTTP/2 429 */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        response_init(r);
        size_t i = 5;
        while (i < len && !blank(line[i]))
            i++;
        while (i < len && line[i] == ' ')
            i++;
        /* Three digits, the first 1 to 9 ("048" is not a status). */
        if (len - i >= 3 && line[i] >= '1' && line[i] <= '9' && digit(line[i + 1]) &&
            digit(line[i + 2]) && (len - i == 3 || blank(line[i + 3])))
            r->status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
        return;
    }
    static const char name[] = "Retry-After:";
    if (len >= sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        long ms = response_retry_after_ms(line + sizeof(name) - 1, len - (sizeof(name) - 1), now_s);
        if (ms >= 0)
            r->retry_after_ms = ms;
    }
}

/* ---- Outcome ---- */

enum response_outcome response_classify(bool answered, long status)
{
    if (!answered)
        return RESP_RETRY; /* timeouts, refused connections, resets, TLS failures */
    if (status >= 200 && status <= 299)
        return RESP_OK;
    if (status == 410)
        return RESP_GONE;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return RESP_RETRY;
    if (status >= 300 && status <= 499)
        return RESP_DEAD;
    return RESP_RETRY; /* no status, an interim one, or none HTTP defines: not an answer */
}

uint64_t response_wait_ms(long retry_after_ms, uint64_t backoff_ms)
{
    if (retry_after_ms < 0)
        return backoff_ms;
    return retry_after_ms < RESPONSE_RETRY_AFTER_MAX_MS ? (uint64_t)retry_after_ms
                                                        : (uint64_t)RESPONSE_RETRY_AFTER_MAX_MS;
}

void response_reason(long status, const char *reply, size_t len, char *out, size_t outsize)
{
    if (outsize == 0)
        return;
    char head[32];
    int n = snprintf(head, sizeof(head), "HTTP %ld", status);
    (void)n;
    size_t used = utf8_copy(out, outsize, head, strlen(head), NULL);
    /* The body on the same line: control characters (newlines, tabs) as spaces, runs of blanks
     * as one. */
    bool first = true, space = false;
    size_t i = 0;
    while (i < len && used + 1 < outsize) {
        unsigned char ch = (unsigned char)reply[i];
        if (ch < 0x20 || ch == 0x7F) {
            space = true;
            i++;
            continue;
        }
        size_t l = utf8_seq_len(reply + i, len - i);
        if (first || space) {
            const char *sep = first ? ": " : " ";
            if (used + strlen(sep) + 1 >= outsize)
                break;
            used = utf8_append(out, outsize, sep, strlen(sep), NULL);
            first = space = false;
        }
        bool cut;
        size_t before = used;
        used = utf8_append(out, outsize, reply + i, l ? l : 1, &cut);
        if (cut || used == before)
            break;
        i += l ? l : 1;
    }
}
