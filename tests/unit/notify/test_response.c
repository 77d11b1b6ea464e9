/* A webhook target's answer (notify/response.c): HTTP-dates in the three forms of RFC 9110
 * 5.6.7, which of them are real dates, and what a Retry-After holding one asks for. */
#include <criterion/criterion.h>
#include <string.h>

#include "notify/response.h"

static int date(const char *s, int64_t *out)
{
    *out = -12345;
    return response_http_date(s, strlen(s), out);
}

static long retry_after(const char *v, int64_t now)
{
    return response_retry_after_ms(v, strlen(v), now);
}

/* 1994-11-06T08:49:37Z, RFC 9110's example. */
#define EXAMPLE 784111777

Test(response, http_date_three_forms)
{
    int64_t t;
    cr_assert_eq(date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    cr_assert_eq(t, EXAMPLE);
    cr_assert_eq(date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    cr_assert_eq(t, EXAMPLE);
    cr_assert_eq(date("Sun Nov  6 08:49:37 1994", &t), 0);
    cr_assert_eq(t, EXAMPLE);
    cr_assert_eq(date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(date("Fri, 31 Dec 9999 23:59:59 GMT", &t), 0);
    cr_assert_eq(t, 253402300799LL);
    /* RFC 850's two-digit year: 70 to 99 are 19xx, 00 to 69 are 20xx, never before 1970. */
    cr_assert_eq(date("Thursday, 01-Jan-70 00:00:00 GMT", &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(date("Tuesday, 31-Dec-69 23:59:59 GMT", &t), 0);
    cr_assert_eq(t, 3155759999LL);
}

/* Seconds since the epoch cannot name a date before it: such a date is not an HTTP-date this
 * parser gives a time for (it gave a negative one). */
Test(response, http_date_before_1970_is_refused)
{
    int64_t t;
    cr_assert_eq(date("Wed, 31 Dec 1969 23:59:59 GMT", &t), -1);
    cr_assert_eq(t, -12345, "the output is left alone");
    cr_assert_eq(date("Sat, 01 Jan 0000 00:00:00 GMT", &t), -1);
    cr_assert_eq(date("Mon, 06 Nov 1899 08:49:37 GMT", &t), -1);
    cr_assert_eq(date("Wed Dec 31 23:59:59 1969", &t), -1);
    cr_assert_eq(date("Sat Jan  1 00:00:00 0000", &t), -1);
    /* As a Retry-After it is no value at all (like any other that is neither form): the
     * backoff applies, not a wait of 0. */
    cr_assert_eq(retry_after("Wed, 31 Dec 1969 23:59:59 GMT", EXAMPLE), -1);
    cr_assert_eq(retry_after(" Sat Jan  1 00:00:00 0000 ", EXAMPLE), -1);
    struct response r;
    response_init(&r);
    const char *lines[] = {"HTTP/1.1 503 Service Unavailable\r\n",
                           "Retry-After: Wed, 31 Dec 1969 23:59:59 GMT\r\n"};
    for (size_t i = 0; i < 2; i++)
        response_header(&r, lines[i], strlen(lines[i]), EXAMPLE);
    cr_assert_eq(r.status, 503);
    cr_assert_eq(r.retry_after_ms, -1);
    cr_assert_eq(response_wait_ms(r.retry_after_ms, 4000), 4000);
    /* A date in the past that is a time is a wait of 0. */
    cr_assert_eq(retry_after("Thu, 01 Jan 1970 00:00:00 GMT", EXAMPLE), 0);
}

/* RFC 9110 5.6.7: a date that is not a real date is invalid. The only :60 is the leap second
 * at the end of a day. */
Test(response, http_date_out_of_range_fields_are_refused)
{
    static const char *const bad[] = {
        "Sun, 00 Nov 1994 08:49:37 GMT",  "Sun, 32 Dec 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",  "Sun, 30 Feb 2024 08:49:37 GMT",
        "Sun, 29 Feb 2026 08:49:37 GMT",  "Sun, 29 Feb 2100 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",  "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",  "Sun, 06 Nov 1994 08:49:60 GMT",
        "Sun, 06 Nov 1994 23:58:60 GMT",  "Sun Nov  6 22:59:60 1994",
        "Sunday, 00-Nov-94 08:49:37 GMT", "Sunday, 29-Feb-99 08:49:37 GMT",
        "Sunday, 06-Nov-94 25:49:37 GMT", "Sun Nov  0 08:49:37 1994",
        "Sun Feb 30 08:49:37 1994",       "Sun Nov  6 08:49:99 1994",
        "Sun, 06 Nov 94 08:49:37 GMT",    "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t;
        cr_assert_eq(date(bad[i], &t), -1, "%s", bad[i]);
        cr_assert_eq(retry_after(bad[i], EXAMPLE), -1, "%s", bad[i]);
    }
    int64_t t;
    cr_assert_eq(date("Tue, 29 Feb 2000 00:00:00 GMT", &t), 0);
    cr_assert_eq(t, 951782400);
    cr_assert_eq(date("Tue, 29 Feb 2400 23:59:59 GMT", &t), 0);
    /* 23:59:60, a leap second, is the first second of the next day. */
    cr_assert_eq(date("Sat, 31 Dec 2016 23:59:60 GMT", &t), 0);
    cr_assert_eq(t, 1483228800);
    cr_assert_eq(date("Fri, 31 Dec 9999 23:59:60 GMT", &t), 0);
    cr_assert_eq(t, 253402300800LL);
}

Test(response, retry_after_date_is_a_capped_wait)
{
    cr_assert_eq(retry_after("Sun, 06 Nov 1994 08:50:07 GMT", EXAMPLE), 30000);
    cr_assert_eq(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE), 0);
    cr_assert_eq(retry_after("Sun, 06 Nov 1994 08:49:36 GMT", EXAMPLE), 0);
    cr_assert_eq(retry_after("Mon, 07 Nov 1994 08:49:37 GMT", EXAMPLE),
                 RESPONSE_RETRY_AFTER_MAX_MS);
    cr_assert_eq(retry_after("\t 120 ", EXAMPLE), 120000);
    cr_assert_eq(retry_after("-5", EXAMPLE), -1);
}
