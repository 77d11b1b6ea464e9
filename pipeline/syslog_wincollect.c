/* QRadar WinCollect: "AgentDevice=WindowsLog" then TAB-separated key=value, Message last
 * (syslog_record.h). */
#include "pipeline/syslog_record.h"

#include <errno.h>
#include <string.h>

/* The last second of year 9999: a later TimeGenerated is not a time (and would overflow as
 * milliseconds). */
#define MAX_EPOCH_SECONDS 253402300799LL

int syslog_wincollect_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = wrec_find_marker(m->msg, "AgentDevice=WindowsLog", WREC_MARKER_WINDOW);
    if (!start)
        return 0;
    const char *end = m->msg.p + m->msg.len, *p = start;
    struct syslog_view id = {NULL, 0}, idcode = {NULL, 0}, message = {NULL, 0};
    struct wrec w;
    if (wrec_init(&w) < 0)
        return -ENOMEM;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *fe = tab ? tab : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        if (eq) {
            const char *k = p, *v = eq + 1;
            size_t kl = (size_t)(eq - p), vl = (size_t)(fe - v);
            if (wrec_text_eq(k, kl, "Message")) {
                /* Last, and the rest of the record whatever it holds. */
                message = (struct syslog_view){v, (size_t)(end - v)};
                break;
            }
            if (wrec_text_eq(k, kl, "AgentLogFile"))
                rc = wrec_str(&w, "channel", v, vl);
            else if (wrec_text_eq(k, kl, "Source"))
                rc = wrec_str(&w, "provider_name", v, vl);
            else if (wrec_text_eq(k, kl, "Computer"))
                rc = wrec_str(&w, "computer_name", v, vl);
            else if (wrec_text_eq(k, kl, "User"))
                rc = wrec_str(&w, "user.name", v, vl);
            else if (wrec_text_eq(k, kl, "Domain"))
                rc = wrec_str(&w, "user.domain", v, vl);
            else if (wrec_text_eq(k, kl, "RecordNumber"))
                rc = wrec_num(&w, "record_id", v, vl);
            else if (wrec_text_eq(k, kl, "EventID"))
                id = (struct syslog_view){v, vl};
            else if (wrec_text_eq(k, kl, "EventIDCode"))
                idcode = (struct syslog_view){v, vl};
            else if (wrec_text_eq(k, kl, "TimeGenerated") && wrec_all_digits(v, vl) &&
                     wrec_digits_value(v, vl) <= MAX_EPOCH_SECONDS)
                rc = wrec_time(w.doc, wrec_digits_value(v, vl) * 1000);
        }
        if (!tab)
            break;
        p = tab + 1;
    }
    /* EventIDCode is the event id proper; EventID may carry the qualifiers of classic logs. */
    struct syslog_view eid = idcode.p ? idcode : id;
    if (rc == 0 && eid.p)
        rc = wrec_str(&w, "event_id", eid.p, eid.len);
    if (rc == 0 && !(w.has_id && (w.has_channel || w.has_provider))) {
        wrec_free(&w);
        return 0;
    }
    if (rc == 0 && message.p)
        rc = syslog_rendered_parse(&w, message.p, message.len);
    return wrec_deliver(&w, rc, m, doc, kind, SYSLOG_PAYLOAD_WINCOLLECT);
}
