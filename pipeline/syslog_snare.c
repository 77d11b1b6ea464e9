/* Snare: "MSWinEventLog" then TAB-separated columns, the rendered message last but one
 * (syslog_record.h). */
#include "pipeline/syslog_record.h"

#include <errno.h>
#include <string.h>

#define SNARE_FIELDS 64

/* The trailing column of a Snare record: its event counter, or an MD5 in some versions. */
static bool snare_trailer(struct syslog_view v)
{
    if (wrec_all_digits(v.p, v.len))
        return true;
    if (v.len != 32)
        return false;
    for (size_t i = 0; i < 32; i++) {
        char c = (char)(v.p[i] | 0x20);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

int syslog_snare_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = wrec_find_marker(m->msg, "MSWinEventLog\t", WREC_MARKER_WINDOW);
    if (!start)
        return 0;
    const char *end = m->msg.p + m->msg.len;
    struct syslog_view f[SNARE_FIELDS];
    size_t nf = 0;
    const char *p = start;
    while (nf < SNARE_FIELDS) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *fe = tab ? tab : end;
        f[nf++] = (struct syslog_view){p, (size_t)(fe - p)};
        if (!tab)
            break;
        p = tab + 1;
    }
    /* MSWinEventLog, criticality, channel, counter, date, EventID, source, user, SID type,
     * event type, computer, category, [data,] expanded string, counter */
    if (nf < 12 || !wrec_all_digits(wrec_trim(f[5].p, f[5].len).p, wrec_trim(f[5].p, f[5].len).len))
        return 0;
    struct wrec w;
    if (wrec_init(&w) < 0)
        return -ENOMEM;
    int rc = 0;
    rc |= wrec_str(&w, "channel", f[2].p, f[2].len);
    rc |= wrec_str(&w, "event_id", f[5].p, f[5].len);
    rc |= wrec_str(&w, "provider_name", f[6].p, f[6].len);
    if (!wrec_view_eq(f[7], "N/A") && !wrec_view_eq(f[7], "Unknown User"))
        rc |= wrec_str(&w, "user.name", f[7].p, f[7].len);
    if (!wrec_view_eq(f[8], "N/A"))
        rc |= wrec_str(&w, "user.type", f[8].p, f[8].len);
    rc |= wrec_str(&w, "computer_name", f[10].p, f[10].len);
    rc |= wrec_str(&w, "task", f[11].p, f[11].len);
    size_t last = nf;
    if (last > 13 && snare_trailer(wrec_trim(f[last - 1].p, f[last - 1].len)))
        last--;
    for (size_t i = last; rc == 0 && i > 12; i--) {
        struct syslog_view d = wrec_trim(f[i - 1].p, f[i - 1].len);
        if (d.len) {
            rc = syslog_rendered_parse(&w, d.p, d.len);
            break;
        }
    }
    return wrec_deliver(&w, rc, m, doc, kind, SYSLOG_PAYLOAD_SNARE);
}
