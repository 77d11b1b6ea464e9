#include "pipeline/alert.h"

#include <sodium.h>
#include <string.h>

#include "base/clock.h"

/* What an investigator reads first, when present (rule.md: investigation fields, plus context). */
static const char *const investigation_fields[] = {
    "@timestamp",
    "host.name",
    "host.hostname",
    "host.id",
    "user.name",
    "user.domain",
    "user.id",
    "process.executable",
    "process.name",
    "process.pid",
    "process.command_line",
    "process.entity_id",
    "process.parent.executable",
    "registry.path",
    "registry.hive",
    "registry.key",
    "registry.value",
    "registry.data.strings",
    "registry.data.type",
    "event.action",
    "event.code",
    "winlog.channel",
    "winlog.event_id",
    "winlog.record_id",
    "winlog.computer_name",
    "agent.type",
    "agent.version",
};

void alert_id(const char *raw, size_t len, char *out)
{
    static const char domain[] = "amsiwatch-alert-v1";
    unsigned char hash[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(hash));
    crypto_generichash_update(&st, (const unsigned char *)domain, sizeof(domain));
    const char *rid = rule_meta()->id;
    crypto_generichash_update(&st, (const unsigned char *)rid, strlen(rid) + 1);
    crypto_generichash_update(&st, (const unsigned char *)raw, len);
    crypto_generichash_final(&st, hash, sizeof(hash));
    sodium_bin2hex(out, ALERT_ID_LEN + 1, hash, sizeof(hash));
}

static json_t *pick(const json_t *view, const char *const *names, size_t count)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < count && names[i]; i++) {
        json_t *v = json_object_get(view, names[i]);
        if (v && json_object_set(o, names[i], v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *alert_build(const char *raw, size_t len, const struct norm *n, enum profile profile,
                    enum clause clause, const json_t *source, int64_t now_ms)
{
    char id[ALERT_ID_LEN + 1];
    char when[40];
    alert_id(raw, len, id);
    clock_format_ms(now_ms, when, sizeof(when));

    size_t nrule = 0;
    while (rule_fields[nrule])
        nrule++;
    json_t *matched = pick(n->view, rule_fields, nrule);
    json_t *fields = pick(n->view, investigation_fields,
                          sizeof(investigation_fields) / sizeof(investigation_fields[0]));
    json_t *inferred = json_array();
    if (inferred && n->os_inferred)
        json_array_append_new(inferred, json_string("host.os.type"));
    if (inferred && n->data_from_message)
        json_array_append_new(inferred, json_string("registry.data.strings"));
    json_t *original = json_stringn(raw, len);
    json_t *src = source ? json_deep_copy(source) : json_object();
    json_t *meta = rule_meta_json();
    if (!matched || !fields || !inferred || !original || !src || !meta)
        goto fail;
    json_t *doc =
        json_pack("{s:s, s:s, s:o, s:s, s:s, s:{s:s, s:b, s:o}, s:o, s:o, s:o, s:o}", "alert_id",
                  id, "@timestamp", when, "rule", meta, "profile", profile_name(profile), "clause",
                  clause_name(clause), "normalization", "shape", shape_name(n->shape), "evtx",
                  n->evtx, "inferred", inferred, "matched", matched, "fields", fields, "source",
                  src, "original", original);
    return doc; /* json_pack with "o" steals the references, even on failure */
fail:
    json_decref(matched);
    json_decref(fields);
    json_decref(inferred);
    json_decref(original);
    json_decref(src);
    json_decref(meta);
    return NULL;
}
