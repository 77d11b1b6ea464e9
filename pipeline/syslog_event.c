/* The dispatch over the forwarder mappings (syslog_record.h: NXLog in syslog_nxlog.c, Snare in
 * syslog_snare.c, WinCollect in syslog_wincollect.c, Windows event XML in syslog_xml.c), the
 * generic document, the alert's source and the syslog prefilter. */
#include "pipeline/syslog_event.h"

#include <errno.h>
#include <string.h>

#include "pipeline/prefilter.h"
#include "pipeline/syslog_record.h"
#include "protocol/syslog_framer.h"

const char *syslog_event_payload_name(enum syslog_payload k)
{
    switch (k) {
    case SYSLOG_PAYLOAD_BEATS_JSON:
        return "beats-json";
    case SYSLOG_PAYLOAD_NXLOG_JSON:
        return "nxlog-json";
    case SYSLOG_PAYLOAD_NXLOG_SD:
        return "nxlog-sd";
    case SYSLOG_PAYLOAD_SNARE:
        return "snare";
    case SYSLOG_PAYLOAD_WINCOLLECT:
        return "wincollect";
    case SYSLOG_PAYLOAD_XML:
        return "windows-xml";
    case SYSLOG_PAYLOAD_NONE:
    default:
        return "syslog";
    }
}

static int generic_doc(const struct syslog_msg *m, json_t **doc)
{
    json_t *d = json_object();
    if (!d || wrec_common(d, m) < 0) {
        json_decref(d);
        return -ENOMEM;
    }
    *doc = d;
    return 0;
}

int syslog_event_from_msg(const struct syslog_msg *m, json_t **doc_out, enum syslog_payload *kind)
{
    static const syslog_map_fn tries[] = {
        syslog_nxlog_sd_map,   syslog_nxlog_json_map, syslog_snare_map,
        syslog_wincollect_map, syslog_xml_map,
    };
    enum syslog_payload k = SYSLOG_PAYLOAD_NONE;
    *doc_out = NULL;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        int rc = tries[i](m, doc_out, &k);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (kind)
                *kind = k;
            return 0;
        }
    }
    if (kind)
        *kind = SYSLOG_PAYLOAD_NONE;
    return generic_doc(m, doc_out);
}

int syslog_event_build(const char *raw, size_t len, int64_t now_ms, json_t **doc_out)
{
    *doc_out = NULL;
    if (!raw && len)
        return -EINVAL;
    struct syslog_msg m;
    syslog_parse(raw ? raw : "", len, now_ms, &m);
    return syslog_event_from_msg(&m, doc_out, NULL);
}

json_t *syslog_event_source(const struct syslog_origin *o, const struct syslog_msg *m,
                            const char *raw, size_t len, enum syslog_payload kind)
{
    json_t *s = json_pack("{s:s, s:s, s:i, s:i, s:i}", "type", "syslog", "payload",
                          syslog_event_payload_name(kind), "facility", m->facility, "severity",
                          m->severity, "priority", m->pri);
    if (!s)
        return NULL;
    int rc = 0;
    if (o && o->peer)
        rc |= json_object_set_new(s, "peer", wrec_text(o->peer, strlen(o->peer)));
    if (o && o->transport)
        rc |= json_object_set_new(s, "transport", wrec_text(o->transport, strlen(o->transport)));
    if (o && o->tls_subject)
        rc |= json_object_set_new(s, "tls_subject",
                                  wrec_text(o->tls_subject, strlen(o->tls_subject)));
    if (m->hostname.p)
        rc |= json_object_set_new(s, "hostname", wrec_view(m->hostname));
    if (m->app_name.p)
        rc |= json_object_set_new(s, "appname", wrec_view(m->app_name));
    if (o && (o->frame_flags & SYSLOG_MSG_TRUNCATED))
        rc |= json_object_set_new(s, "truncated", json_true());
    if (m->flags & SYSLOG_F_INVALID_UTF8)
        rc |= json_object_set_new(s, "invalid_utf8", json_true());
    rc |= json_object_set_new(s, "raw", wrec_text(raw ? raw : "", raw ? len : 0));
    if (rc) {
        json_decref(s);
        return NULL;
    }
    return s;
}

bool syslog_event_candidate(const char *p, size_t n)
{
    if (prefilter_candidate(p, n))
        return true;
    /* XML character references ("&#65;") can spell the word too. memchr is vectorised and '&'
     * is rare in event text, so this costs far less than a two-byte memmem. */
    const char *end = p + n;
    for (const char *a = memchr(p, '&', n); a && a + 1 < end;
         a = memchr(a + 1, '&', (size_t)(end - a - 1))) {
        if (a[1] == '#')
            return true;
    }
    return false;
}
