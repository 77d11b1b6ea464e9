/* Windows event XML: "<Event xmlns=..." read by protocol/winxml (expat), its System fields and
 * EventData/Data items mapped to the Winlogbeat shape (syslog_record.h). */
#include "pipeline/syslog_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/time.h"
#include "protocol/winxml.h"

/* "<Event" followed by a space or '>' in the first WREC_MARKER_WINDOW bytes: the document starts
 * there (an XML declaration or a sender's prefix before it is not read). */
static const char *find_event_element(struct syslog_view msg)
{
    const char *p = msg.p,
               *end = msg.p + (msg.len < WREC_MARKER_WINDOW ? msg.len : WREC_MARKER_WINDOW);
    while (p && p < end) {
        const char *q = memmem(p, (size_t)(msg.p + msg.len - p), "<Event", 6);
        if (!q || q >= end)
            return NULL;
        if ((size_t)(msg.p + msg.len - q) > 6 && (wrec_is_space(q[6]) || q[6] == '>'))
            return q;
        p = q + 6;
    }
    return NULL;
}

/* Where each System field goes inside winlog, and whether it is a number. */
static const struct {
    const char *path;
    bool num;
} system_paths[] = {
    [WINXML_PROVIDER_NAME] = {"provider_name", false},
    [WINXML_PROVIDER_GUID] = {"provider_guid", false},
    [WINXML_EVENT_ID] = {"event_id", false},
    [WINXML_VERSION] = {"version", true},
    [WINXML_RECORD_ID] = {"record_id", true},
    [WINXML_PROCESS_ID] = {"process.pid", true},
    [WINXML_THREAD_ID] = {"process.thread.id", true},
    [WINXML_CHANNEL] = {"channel", false},
    [WINXML_COMPUTER] = {"computer_name", false},
    [WINXML_USER_ID] = {"user.identifier", false},
};

/* An EventData item: named by its Name, else (as Winlogbeat does) paramN for the Nth Data
 * element; empty values are left out. */
static int map_data(struct wrec *w, const struct winxml_item *it, unsigned index)
{
    char key[32];
    const char *name = it->name;
    size_t name_len = it->name_len;
    if (!name || name_len == 0) {
        int kl = snprintf(key, sizeof(key), "param%u", index);
        name = key;
        name_len = (size_t)kl;
    }
    if (it->value_len == 0)
        return 0;
    return wrec_set_key(w->ed, name, name_len, wrec_text(it->value, it->value_len));
}

static int map_items(struct wrec *w, const struct winxml_event *ev)
{
    unsigned data = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ev->count; i++) {
        const struct winxml_item *it = &ev->items[i];
        int64_t ms;
        switch (it->field) {
        case WINXML_DATA:
            rc = map_data(w, it, ++data);
            break;
        case WINXML_TIME_CREATED:
            if (time_rfc3339_parse(it->value, it->value_len, &ms) == 0)
                rc = wrec_time(w->doc, ms);
            break;
        default:
            rc = system_paths[it->field].num
                     ? wrec_num(w, system_paths[it->field].path, it->value, it->value_len)
                     : wrec_str(w, system_paths[it->field].path, it->value, it->value_len);
            break;
        }
    }
    return rc;
}

int syslog_xml_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = find_event_element(m->msg);
    if (!start)
        return 0;
    /* A document cut short or malformed keeps the fields read before the fault, as a record
     * truncated by the syslog size limit must still be matched on what it holds. */
    struct winxml_event ev;
    int rc = winxml_parse(start, (size_t)(m->msg.p + m->msg.len - start), NULL, &ev);
    if (rc == -ENOMEM) {
        winxml_event_free(&ev);
        return -ENOMEM;
    }
    struct wrec w;
    if (wrec_init(&w) < 0) {
        winxml_event_free(&ev);
        return -ENOMEM;
    }
    rc = map_items(&w, &ev);
    winxml_event_free(&ev);
    if (rc == 0 && !(w.has_id && (w.has_channel || w.has_provider))) {
        wrec_free(&w);
        return 0;
    }
    return wrec_deliver(&w, rc, m, doc, kind, SYSLOG_PAYLOAD_XML);
}
