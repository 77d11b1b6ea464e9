#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "base/time.h"

Test(time, rfc3339_times_parse_with_zones_and_fractions)
{
    int64_t ms;
    cr_expect_eq(time_rfc3339_parse("1985-04-12T23:20:50.52Z", 23, &ms), 0);
    cr_expect_eq(ms, 482196050520LL);
    cr_expect_eq(time_rfc3339_parse("1996-12-19T16:39:57-08:00", 25, &ms), 0);
    cr_expect_eq(ms, 851042397000LL);
    cr_expect_eq(time_rfc3339_parse("2025-12-25 10:58:31.890480", 26, &ms), 0);
    cr_expect_eq(ms, 1766660311890LL);
    cr_expect_eq(time_rfc3339_parse("2025-02-30T00:00:00Z", 20, &ms), -EBADMSG);
    cr_expect_eq(time_rfc3339_parse("2025-01-01T24:00:00Z", 20, &ms), -EBADMSG);
    cr_expect_eq(time_rfc3339_parse("2025-01-01T00:00:00Zjunk", 24, &ms), -EBADMSG);
}

Test(time, rfc3339_prefix_stops_where_the_timestamp_ends)
{
    int64_t ms;
    const char *s = "2003-10-11T22:14:15.003Z host app - - msg";
    cr_expect_eq(time_rfc3339_prefix(s, strlen(s), false, &ms), 24);
    cr_expect_eq(ms, 1065910455003LL);
    cr_expect_eq(time_rfc3339_prefix("2003-10-11 22:14:15Z", 20, false, &ms), 0,
                 "a space instead of T only where asked for");
    cr_expect_eq(time_rfc3339_prefix("2003-10-11 22:14:15Z", 20, true, &ms), 20);
    cr_expect_eq(time_rfc3339_prefix("2003-10-11T22:14:15+01:3", 24, false, &ms), 0,
                 "an offset cut short");
}

Test(time, calendar_days_both_ways)
{
    cr_expect_eq(time_days_from_civil(1970, 1, 1), 0);
    cr_expect_eq(time_days_from_civil(1969, 12, 31), -1);
    cr_expect_eq(time_days_from_civil(2000, 3, 1), 11017);
    for (int64_t z = -800000; z <= 800000; z += 997) {
        int y, m, d;
        time_civil_from_days(z, &y, &m, &d);
        cr_assert(time_valid_date(y, m, d), "day %lld", (long long)z);
        cr_assert_eq(time_days_from_civil(y, m, d), z, "day %lld", (long long)z);
    }
    cr_expect(time_valid_date(2024, 2, 29));
    cr_expect_not(time_valid_date(2023, 2, 29));
    cr_expect_not(time_valid_date(1900, 2, 29));
    cr_expect(time_valid_date(2000, 2, 29));
    cr_expect_not(time_valid_date(2025, 11, 31));
    cr_expect_not(time_valid_date(2025, 13, 1));
    cr_expect_not(time_valid_date(2025, 1, 0));
}
