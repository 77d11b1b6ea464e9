/* An alert as one more event for the next hop (relay.beats.alerts): an ECS document a Logstash
 * pipeline can route and Elastic Security lists among external alerts (relay/relay.h). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "protocol/lumberjack.h"
#include "relay/relay.h"

/* Sets the dotted NAME ("host.name") in DOC to V (a reference is taken), making the objects on
 * the way; a key already holding something else than an object is left as it is. */
static void set_dotted(json_t *doc, const char *name, json_t *v)
{
    char part[256];
    json_t *at = doc;
    const char *p = name;
    for (const char *dot; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
        size_t n = (size_t)(dot - p);
        if (n == 0 || n >= sizeof(part))
            return;
        memcpy(part, p, n);
        part[n] = '\0';
        json_t *next = json_object_get(at, part);
        if (!next) {
            next = json_object();
            if (!next || json_object_set_new(at, part, next) != 0)
                return;
        } else if (!json_is_object(next)) {
            return;
        }
        at = next;
    }
    if (*p && !json_object_get(at, p))
        json_object_set(at, p, v);
}

/* The MITRE ATT&CK entries of the rule as ECS threat.* fields (arrays of keywords). */
static json_t *threat_of(const json_t *threats)
{
    json_t *t =
        json_pack("{s:s, s:{s:[], s:[], s:[]}, s:{s:[], s:[], s:[]}}", "framework", "MITRE ATT&CK",
                  "tactic", "id", "name", "reference", "technique", "id", "name", "reference");
    if (!t)
        return NULL;
    size_t i;
    json_t *entry;
    json_array_foreach(threats, i, entry)
    {
        const char *kinds[] = {"tactic", "technique"};
        for (size_t k = 0; k < 2; k++) {
            json_t *src = json_object_get(entry, kinds[k]);
            json_t *dst = json_object_get(t, kinds[k]);
            json_t *list = json_is_array(src) ? src : NULL;
            size_t n = list ? json_array_size(list) : (src ? 1 : 0);
            for (size_t m = 0; m < n; m++) {
                json_t *one = list ? json_array_get(list, m) : src;
                const char *keys[] = {"id", "name", "reference"};
                for (size_t q = 0; q < 3; q++) {
                    json_t *v = json_object_get(one, keys[q]);
                    if (json_is_string(v))
                        json_array_append(json_object_get(dst, keys[q]), v);
                }
            }
        }
    }
    return t;
}

/* OBJ.KEY = V (a reference is taken) when V is not NULL. */
static void put(json_t *obj, const char *key, json_t *v)
{
    if (obj && v)
        json_object_set(obj, key, v);
}

static json_t *event_of(const json_t *alert)
{
    json_t *rule = json_object_get(alert, "rule");
    json_t *fields = json_object_get(alert, "fields");
    const char *name = json_string_value(json_object_get(rule, "name"));
    const char *host = json_string_value(json_object_get(fields, "host.name"));
    char message[512];
    snprintf(message, sizeof(message), "%s on %s", name ? name : "amsiwatch alert",
             host ? host : "an unknown host");
    json_t *doc = json_object();
    json_t *event = json_pack("{s:s, s:s, s:s}", "kind", "alert", "module", "amsiwatch", "dataset",
                              "amsiwatch.alert");
    json_t *r = json_pack("{s:s}", "ruleset", "amsiwatch");
    json_t *own = json_object();
    if (!doc || !event || !r || !own) {
        json_decref(doc);
        json_decref(event);
        json_decref(r);
        json_decref(own);
        return NULL;
    }
    put(doc, "@timestamp", json_object_get(alert, "@timestamp"));
    json_object_set_new(doc, "message", json_string(message));
    json_object_set_new(doc, "tags", json_pack("[s]", "amsiwatch"));
    put(event, "id", json_object_get(alert, "alert_id"));
    put(event, "risk_score", json_object_get(rule, "risk_score"));
    json_object_set_new(doc, "event", event);
    put(r, "id", json_object_get(rule, "id"));
    put(r, "uuid", json_object_get(rule, "id"));
    put(r, "name", json_object_get(rule, "name"));
    put(r, "description", json_object_get(rule, "description"));
    json_t *version = json_object_get(rule, "version");
    if (json_is_integer(version)) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(version));
        json_object_set_new(r, "version", json_string(v));
    }
    json_t *refs = json_object_get(rule, "references");
    if (json_is_array(refs) && json_array_size(refs))
        put(r, "reference", json_array_get(refs, 0));
    json_object_set_new(doc, "rule", r);
    json_t *threats = json_object_get(rule, "threat");
    if (json_is_array(threats) && json_array_size(threats)) {
        json_t *t = threat_of(threats);
        if (t)
            json_object_set_new(doc, "threat", t);
    }
    put(own, "alert_id", json_object_get(alert, "alert_id"));
    put(own, "profile", json_object_get(alert, "profile"));
    put(own, "clause", json_object_get(alert, "clause"));
    put(own, "severity", json_object_get(rule, "severity"));
    put(own, "source", json_object_get(alert, "source"));
    put(own, "original_time", json_object_get(fields, "@timestamp"));
    json_object_set_new(doc, "amsiwatch", own);
    /* The original event's ECS fields (event.kind stays "alert"; its time is
     * amsiwatch.original_time). */
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v)
    {
        if (strcmp(key, "@timestamp") != 0)
            set_dotted(doc, key, v);
    }
    return doc;
}

int relay_alert_window(const char *alert_json, size_t len, struct buf *out, uint32_t *events)
{
    json_error_t err;
    json_t *alert = json_loadb(alert_json, len, 0, &err);
    if (!json_is_object(alert)) {
        json_decref(alert);
        return -EBADMSG;
    }
    json_t *doc = event_of(alert);
    json_decref(alert);
    if (!doc)
        return -ENOMEM;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return -ENOMEM;
    int rc = lj_encode_window(out, LJ_V2, 1);
    if (rc == 0)
        rc = lj_encode_json(out, 1, text, (uint32_t)strlen(text));
    free(text);
    if (rc == 0)
        *events = 1;
    return rc;
}
