#include "protocol/syslog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "base/utf8.h"

/* ---- Time --------------------------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int month_of(const char *p, size_t n)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (n < 3)
        return 0;
    char l[3] = {(char)(p[0] | 0x20), (char)(p[1] | 0x20), (char)(p[2] | 0x20)};
    for (int i = 0; i < 12; i++) {
        if (memcmp(names + 3 * i, l, 3) == 0)
            return i + 1;
    }
    return 0;
}

/* Zones seen after RFC 3164 times ("... 05:34:00 CST 1987"), in minutes east of UTC. */
static bool zone_offset(const char *p, size_t n, int *off)
{
    static const struct {
        const char *name;
        int off;
    } zones[] = {{"UTC", 0},    {"GMT", 0},    {"UT", 0},     {"Z", 0},
                 {"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300},
                 {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420},
                 {"CET", 60},   {"CEST", 120}, {"BST", 60},   {"IST", 330}};
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strlen(zones[i].name) == n && memcmp(zones[i].name, p, n) == 0) {
            *off = zones[i].off;
            return true;
        }
    }
    return false;
}

static int year_of_ms(int64_t ms)
{
    int64_t days = ms / 86400000 - (ms % 86400000 < 0);
    int y, m, d;
    time_civil_from_days(days, &y, &m, &d);
    return y;
}

/* An RFC 3164 timestamp at the start of P: "Mmm dd hh:mm:ss" (day as " d", "d" or "dd"), with
 * an optional fraction, "Mmm dd yyyy hh:mm:ss", or "Mmm dd hh:mm:ss ZONE yyyy" (RFC 3164
 * example 3). How many bytes it takes (0: none). Without a year, the year that puts it nearest
 * to NOW_MS; *INFERRED says so. *HAS_MS is false when it cannot be placed in time. */
static size_t parse_3164(const char *p, size_t n, int64_t now_ms, int64_t *out, bool *has_ms,
                         bool *inferred)
{
    int mo = month_of(p, n);
    if (!mo || n < 4 || p[3] != ' ')
        return 0;
    size_t k = 4;
    if (k < n && p[k] == ' ')
        k++;
    int d = 0, nd = 0;
    while (k < n && is_digit(p[k]) && nd < 2) {
        d = d * 10 + (p[k] - '0');
        k++;
        nd++;
    }
    if (nd == 0 || d < 1 || d > 31 || k >= n || p[k] != ' ')
        return 0;
    k++;
    int year = -1;
    if (n - k >= 5 && time_digits(p + k, n - k, 4, &year) && p[k + 4] == ' ')
        k += 5;
    else
        year = -1;
    int h, mi, s, ms = 0;
    if (!time_parse_hms(p + k, n - k, &h, &mi, &s))
        return 0;
    k += 8;
    k += time_parse_fraction(p + k, n - k, &ms);
    int off = 0;
    if (year < 0 && k < n && p[k] == ' ') {
        /* "ZONE yyyy" after the time. */
        size_t z = k + 1, zl = 0;
        while (z + zl < n && p[z + zl] >= 'A' && p[z + zl] <= 'Z' && zl < 5)
            zl++;
        int y2;
        /* Only known zones: "HOST 1234" must stay a hostname and a message. */
        if (zl >= 1 && z + zl < n && p[z + zl] == ' ' && n - (z + zl + 1) >= 4 &&
            time_digits(p + z + zl + 1, n - (z + zl + 1), 4, &y2) &&
            (z + zl + 5 == n || p[z + zl + 5] == ' ') && zone_offset(p + z, zl, &off)) {
            year = y2;
            k = z + zl + 5;
        }
    }
    *inferred = year < 0;
    *has_ms = false;
    if (year >= 0) {
        if (time_valid_date(year, mo, d)) {
            *out = time_ms_from_civil(year, mo, d, h, mi, s, ms) - (int64_t)off * 60000;
            *has_ms = true;
        }
        return k;
    }
    int now_year = year_of_ms(now_ms);
    int64_t best = 0, best_dist = INT64_MAX;
    for (int y = now_year - 1; y <= now_year + 1; y++) {
        if (!time_valid_date(y, mo, d))
            continue;
        int64_t t = time_ms_from_civil(y, mo, d, h, mi, s, ms);
        int64_t dist = t > now_ms ? t - now_ms : now_ms - t;
        if (dist < best_dist) {
            best_dist = dist;
            best = t;
        }
    }
    if (best_dist != INT64_MAX) {
        *out = best;
        *has_ms = true;
    }
    return k;
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

static unsigned scan_bytes(const char *p, size_t n)
{
    unsigned flags = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                flags |= SYSLOG_F_CONTROL_CHARS;
            i++;
            continue;
        }
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0) {
            flags |= SYSLOG_F_INVALID_UTF8;
            i++;
        } else {
            i += l;
        }
    }
    return flags;
}

/* ---- Structured data -------------------------------------------------------------------- */

/* SD-NAME: printable US-ASCII except '=', SP, ']' and '"'. */
static bool sd_name_char(char c)
{
    return c > 32 && c < 127 && c != '=' && c != ']' && c != '"';
}

/* The length of the quoted PARAM-VALUE starting at the opening quote P[0], quotes included, or
 * 0 when unterminated. */
static size_t sd_value_len(const char *p, size_t n)
{
    for (size_t k = 1; k < n; k++) {
        if (p[k] == '\\' && k + 1 < n && (p[k + 1] == '"' || p[k + 1] == '\\' || p[k + 1] == ']'))
            k++;
        else if (p[k] == '"')
            return k + 1;
    }
    return 0;
}

void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_view sd)
{
    it->p = sd.p;
    it->end = sd.p ? sd.p + sd.len : NULL;
    it->in_element = false;
}

int syslog_sd_next_param(struct syslog_sd_iter *it, struct syslog_view *name,
                         struct syslog_view *value)
{
    if (!it->in_element)
        return 0;
    const char *p = it->p, *end = it->end;
    if (p < end && *p == ']') {
        it->p = p + 1;
        it->in_element = false;
        return 0;
    }
    if (p >= end || *p != ' ')
        return -EBADMSG;
    p++;
    const char *nm = p;
    while (p < end && sd_name_char(*p))
        p++;
    if (p == nm || p + 1 >= end || p[0] != '=' || p[1] != '"')
        return -EBADMSG;
    name->p = nm;
    name->len = (size_t)(p - nm);
    p++;
    size_t vl = sd_value_len(p, (size_t)(end - p));
    if (vl == 0)
        return -EBADMSG;
    value->p = p + 1;
    value->len = vl - 2;
    it->p = p + vl;
    return 1;
}

int syslog_sd_next_element(struct syslog_sd_iter *it, struct syslog_view *id)
{
    if (!it->p)
        return 0;
    while (it->in_element) {
        struct syslog_view n, v;
        int rc = syslog_sd_next_param(it, &n, &v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
    }
    const char *p = it->p, *end = it->end;
    if (p >= end)
        return 0;
    if (*p != '[')
        return -EBADMSG;
    p++;
    const char *s = p;
    while (p < end && sd_name_char(*p))
        p++;
    if (p == s || p >= end || (*p != ' ' && *p != ']'))
        return -EBADMSG;
    id->p = s;
    id->len = (size_t)(p - s);
    it->p = p;
    it->in_element = true;
    return 1;
}

long syslog_sd_unescape(const char *raw, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '\\' && i + 1 < len &&
            (raw[i + 1] == '"' || raw[i + 1] == '\\' || raw[i + 1] == ']'))
            c = raw[++i];
        if (o + 1 >= outlen)
            return -EMSGSIZE;
        out[o++] = c;
    }
    if (o >= outlen)
        return -EMSGSIZE;
    out[o] = '\0';
    return (long)o;
}

/* The length of the SD part (one or more SD-ELEMENTs) at P, or 0 when malformed. */
static size_t sd_scan(const char *p, size_t n)
{
    struct syslog_sd_iter it = {p, p + n, false};
    struct syslog_view id, name, value;
    int rc;
    size_t used = 0;
    while (it.p < it.end && *it.p == '[') {
        rc = syslog_sd_next_element(&it, &id);
        if (rc <= 0)
            return 0;
        while ((rc = syslog_sd_next_param(&it, &name, &value)) == 1)
            ;
        if (rc < 0)
            return 0;
        used = (size_t)(it.p - p);
    }
    return used;
}

/* ---- Parsing ------------------------------------------------------------------------------ */

static const char *const bom = "\xEF\xBB\xBF";

static void set_msg(struct syslog_msg *m, const char *p, const char *end)
{
    if ((size_t)(end - p) >= 3 && memcmp(p, bom, 3) == 0) {
        p += 3;
        m->flags |= SYSLOG_F_BOM;
    }
    m->msg.p = p;
    m->msg.len = (size_t)(end - p);
}

/* "<PRI>": its length, 0 when absent or invalid. */
static size_t parse_pri(const char *p, size_t n, int *pri)
{
    if (n < 3 || p[0] != '<')
        return 0;
    size_t k = 1;
    int v = 0;
    while (k < n && k <= 3 && is_digit(p[k])) {
        v = v * 10 + (p[k] - '0');
        k++;
    }
    if (k == 1 || k >= n || p[k] != '>' || v > 191)
        return 0;
    *pri = v;
    return k + 1;
}

/* A header field: everything up to the next SP (or the end). */
static const char *token(const char *p, const char *end, struct syslog_view *v)
{
    const char *s = p;
    while (p < end && *p != ' ')
        p++;
    if (p == s || (p - s == 1 && *s == '-')) {
        v->p = NULL;
        v->len = 0;
    } else {
        v->p = s;
        v->len = (size_t)(p - s);
    }
    return p < end ? p + 1 : p;
}

static bool parse_5424(const char *p, const char *end, struct syslog_msg *m)
{
    /* VERSION: 1-3 digits, not starting with 0; then the timestamp must be '-' or RFC 3339, so
     * that an RFC 3164 message whose text starts with a number is not taken for one. */
    const char *s = p;
    int version = 0;
    while (p < end && is_digit(*p) && p - s < 3) {
        version = version * 10 + (*p - '0');
        p++;
    }
    if (p == s || *s == '0' || p >= end || *p != ' ')
        return false;
    p++;
    const char *ts = p;
    while (p < end && *p != ' ')
        p++;
    size_t tslen = (size_t)(p - ts);
    int64_t ms = 0;
    bool nil = tslen == 1 && ts[0] == '-';
    if (!nil && (tslen == 0 || time_rfc3339_prefix(ts, tslen, false, &ms) != tslen))
        return false;
    m->format = SYSLOG_FORMAT_RFC5424;
    m->version = version;
    if (!nil) {
        m->timestamp.p = ts;
        m->timestamp.len = tslen;
        m->time_ms = ms;
        m->has_time = true;
    }
    if (p < end)
        p++;
    p = token(p, end, &m->hostname);
    p = token(p, end, &m->app_name);
    p = token(p, end, &m->procid);
    p = token(p, end, &m->msgid);
    if (p >= end) {
        set_msg(m, end, end);
        return true;
    }
    if (*p == '-' && (p + 1 == end || p[1] == ' ')) {
        p++;
    } else {
        size_t sdl = *p == '[' ? sd_scan(p, (size_t)(end - p)) : 0;
        if (sdl == 0) {
            /* Not SD after all: keep every byte, in MSG. */
            m->flags |= SYSLOG_F_BAD_SD;
            set_msg(m, p, end);
            return true;
        }
        m->sd.p = p;
        m->sd.len = sdl;
        p += sdl;
    }
    if (p < end && *p == ' ')
        p++;
    set_msg(m, p, end);
    return true;
}

static bool alnum(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool hex_digit(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* pmrfc3164's hostname test: letters, digits, '.', '_', '-', ending with a letter or digit and
 * followed by SP (or the end); also IPv6 literals and "[addr]". A ':' (a TAG) or '[' (a PID)
 * means it is not a hostname. The hostname's length, or 0. */
static size_t hostname_len(const char *p, const char *end)
{
    size_t n = (size_t)(end - p), k = 0;
    if (n && p[0] == '[') {
        k = 1;
        while (k < n && (hex_digit(p[k]) || p[k] == ':' || p[k] == '.'))
            k++;
        if (k > 1 && k < n && p[k] == ']' && (k + 1 == n || p[k + 1] == ' '))
            return k + 1;
        return 0;
    }
    while (k < n && (alnum(p[k]) || p[k] == '.' || p[k] == '_' || p[k] == '-') && k < 255)
        k++;
    if (k > 0 && (k == n || p[k] == ' ') && alnum(p[k - 1]))
        return k;
    /* IPv6: hex digits, '.' and at least two ':' */
    size_t colons = 0;
    k = 0;
    while (k < n && (hex_digit(p[k]) || p[k] == ':' || p[k] == '.') && k < 64)
        colons += p[k++] == ':';
    if (colons >= 2 && (k == n || p[k] == ' '))
        return k;
    return 0;
}

/* Characters of a TAG's name: printable ASCII that does not start structure of its own (JSON,
 * XML, key=value payloads carry '{', '"', '<', '='). */
static bool tag_char(char c)
{
    return c > 32 && c < 127 && c != ':' && c != '[' && c != ']' && c != '{' && c != '}' &&
           c != '"' && c != '<' && c != '>' && c != '=';
}

#define TAG_MAX 128

/* "name:", "name[pid]:" or "name[pid]" at P: sets the views and returns where MSG starts, or
 * NULL when there is no TAG (the whole text is then MSG, as for "Use the BFG!"). */
static const char *parse_tag(const char *p, const char *end, struct syslog_msg *m)
{
    const char *s = p;
    while (p < end && tag_char(*p) && p - s < TAG_MAX)
        p++;
    if (p == s || p >= end)
        return NULL;
    struct syslog_view app = {s, (size_t)(p - s)}, pid = {NULL, 0};
    if (*p == '[') {
        const char *q = ++p;
        while (p < end && *p != ']' && *p != ' ' && p - q < TAG_MAX)
            p++;
        if (p >= end || *p != ']')
            return NULL;
        pid.p = q;
        pid.len = (size_t)(p - q);
        p++;
        if (p < end && *p == ':')
            p++;
    } else if (*p == ':') {
        p++;
    } else {
        return NULL;
    }
    m->app_name = app;
    m->procid = pid.len ? pid : (struct syslog_view){NULL, 0};
    m->tag.p = s;
    m->tag.len = (size_t)(p - s);
    if (p < end && *p == ' ')
        p++;
    return p;
}

static void parse_3164_body(const char *p, const char *end, int64_t now_ms, struct syslog_msg *m)
{
    m->format = SYSLOG_FORMAT_RFC3164;
    m->version = 0;
    size_t n = (size_t)(end - p);
    int64_t ms = 0;
    bool has_ms = false, inferred = false;
    const char *ts = p;
    size_t tl = time_rfc3339_prefix(p, n, false, &ms);
    if (tl && (tl == n || p[tl] == ' ')) {
        has_ms = true;
    } else {
        tl = parse_3164(p, n, now_ms, &ms, &has_ms, &inferred);
        if (!tl && n > 1 && p[0] == ' ') {
            /* A stray space before the timestamp (HP ProCurve does this). */
            tl = parse_3164(p + 1, n - 1, now_ms, &ms, &has_ms, &inferred);
            if (tl) {
                ts = p + 1;
                tl += 1;
            }
        }
        if (tl && tl < n && p[tl] != ' ')
            tl = 0;
    }
    if (!tl) {
        /* RFC 3164 4.3.3: without a valid TIMESTAMP, everything after PRI is CONTENT. A TAG at
         * the start is still recognised ("app[42]: text"). */
        const char *msg = parse_tag(p, end, m);
        set_msg(m, msg ? msg : p, end);
        return;
    }
    m->timestamp.p = ts;
    m->timestamp.len = (size_t)(p + tl - ts);
    m->has_time = has_ms;
    m->time_ms = has_ms ? ms : 0;
    if (inferred)
        m->flags |= SYSLOG_F_YEAR_INFERRED;
    p += tl;
    while (p < end && *p == ' ')
        p++;
    size_t hl = hostname_len(p, end);
    if (hl) {
        m->hostname.p = p;
        m->hostname.len = hl;
        p += hl;
        if (p < end)
            p++;
    }
    const char *msg = parse_tag(p, end, m);
    set_msg(m, msg ? msg : p, end);
}

long syslog_parse(const char *p, size_t n, int64_t now_ms, struct syslog_msg *m)
{
    memset(m, 0, sizeof(*m));
    const char *end = p + n;
    m->flags = scan_bytes(p, n);
    int pri = 13;
    size_t k = parse_pri(p, n, &pri);
    if (!k)
        m->flags |= SYSLOG_F_NO_PRI;
    m->pri = pri;
    m->facility = pri / 8;
    m->severity = pri % 8;
    if (k && parse_5424(p + k, end, m))
        return (long)n;
    /* parse_5424 writes nothing before it has decided. */
    parse_3164_body(p + k, end, now_ms, m);
    return (long)n;
}
