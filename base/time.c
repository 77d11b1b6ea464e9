#include "base/time.h"

#include <errno.h>

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
int64_t time_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void time_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool time_valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    int max = mdays[m - 1] + (m == 2 && leap_year(y));
    return d <= max;
}

int64_t time_ms_from_civil(int y, int mo, int d, int h, int mi, int s, int ms)
{
    int64_t days = time_days_from_civil(y, mo, d);
    return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000 + ms;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly N digits at P. */
bool time_digits(const char *p, size_t avail, size_t n, int *out)
{
    if (avail < n)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* "hh:mm:ss" at P. */
bool time_parse_hms(const char *p, size_t n, int *h, int *mi, int *s)
{
    return n >= 8 && time_digits(p, n, 2, h) && p[2] == ':' && time_digits(p + 3, n - 3, 2, mi) &&
           p[5] == ':' && time_digits(p + 6, n - 6, 2, s) && *h <= 23 && *mi <= 59 && *s <= 60;
}

/* ".ddd..." at P: the milliseconds, and the bytes used (0 when there is no fraction). */
size_t time_parse_fraction(const char *p, size_t n, int *ms)
{
    *ms = 0;
    if (n < 2 || p[0] != '.' || !is_digit(p[1]))
        return 0;
    size_t k = 1;
    int nd = 0;
    while (k < n && is_digit(p[k])) {
        if (nd < 3) {
            *ms = *ms * 10 + (p[k] - '0');
            nd++;
        }
        k++;
    }
    for (; nd < 3; nd++)
        *ms *= 10;
    return k;
}

/* An RFC 3339 timestamp at the start of P; how many bytes it takes (0: none). SPACE_SEP accepts
 * a space instead of 'T' (not inside syslog headers, where a space ends the field). */
size_t time_rfc3339_prefix(const char *p, size_t n, bool space_sep, int64_t *out)
{
    int y, mo, d, h, mi, s, ms;
    if (n < 19 || !time_digits(p, n, 4, &y) || p[4] != '-' || !time_digits(p + 5, n - 5, 2, &mo) ||
        p[7] != '-' || !time_digits(p + 8, n - 8, 2, &d))
        return 0;
    if (!(p[10] == 'T' || p[10] == 't' || (space_sep && p[10] == ' ')))
        return 0;
    if (!time_valid_date(y, mo, d) || !time_parse_hms(p + 11, n - 11, &h, &mi, &s))
        return 0;
    size_t k = 19;
    k += time_parse_fraction(p + k, n - k, &ms);
    int64_t off_min = 0;
    if (k < n && (p[k] == 'Z' || p[k] == 'z')) {
        k++;
    } else if (k < n && (p[k] == '+' || p[k] == '-')) {
        int oh, om;
        if (n - k < 6 || !time_digits(p + k + 1, n - k - 1, 2, &oh) || p[k + 3] != ':' ||
            !time_digits(p + k + 4, n - k - 4, 2, &om) || oh > 23 || om > 59)
            return 0;
        off_min = (oh * 60 + om) * (p[k] == '-' ? -1 : 1);
        k += 6;
    }
    *out = time_ms_from_civil(y, mo, d, h, mi, s, ms) - off_min * 60000;
    return k;
}

int time_rfc3339_parse(const char *p, size_t n, int64_t *ms)
{
    int64_t v;
    if (time_rfc3339_prefix(p, n, true, &v) != n || n == 0)
        return -EBADMSG;
    *ms = v;
    return 0;
}
