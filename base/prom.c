#include "base/prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prom_init(struct prom *p, struct buf *out)
{
    p->out = out;
    p->error = 0;
}

static void put(struct prom *p, const char *s, size_t n)
{
    if (p->error)
        return;
    int rc = buf_append(p->out, s, n);
    if (rc < 0)
        p->error = rc;
}

static void puts_(struct prom *p, const char *s)
{
    put(p, s, strlen(s));
}

void prom_escape_label(struct prom *p, const char *v)
{
    for (const char *c = v; *c; c++) {
        if (*c == '\\')
            puts_(p, "\\\\");
        else if (*c == '"')
            puts_(p, "\\\"");
        else if (*c == '\n')
            puts_(p, "\\n");
        else
            put(p, c, 1);
    }
}

static void escape_help(struct prom *p, const char *v)
{
    for (const char *c = v; *c; c++) {
        if (*c == '\\')
            puts_(p, "\\\\");
        else if (*c == '\n')
            puts_(p, "\\n");
        else
            put(p, c, 1);
    }
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    escape_help(p, help);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

/* NAME{LABELS[,EXTRA="EXTRA_VALUE"]} and the space before the value. */
static void head(struct prom *p, const char *name, const char *const *labels, const char *extra,
                 const char *extra_value)
{
    puts_(p, name);
    bool any = false;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        puts_(p, any ? "," : "{");
        any = true;
        puts_(p, labels[i]);
        puts_(p, "=\"");
        prom_escape_label(p, labels[i + 1]);
        puts_(p, "\"");
    }
    if (extra) {
        puts_(p, any ? "," : "{");
        any = true;
        puts_(p, extra);
        puts_(p, "=\"");
        prom_escape_label(p, extra_value);
        puts_(p, "\"");
    }
    puts_(p, any ? "} " : " ");
}

/* The shortest text that reads back as V ("0.1", not "0.10000000000000001"). */
static void shortest(double v, char *out, size_t outlen)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, outlen, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void number(struct prom *p, double v)
{
    char text[64];
    if (isnan(v))
        snprintf(text, sizeof(text), "NaN");
    else if (isinf(v))
        snprintf(text, sizeof(text), v > 0 ? "+Inf" : "-Inf");
    else
        shortest(v, text, sizeof(text));
    puts_(p, text);
}

void prom_sample(struct prom *p, const char *name, const char *const *labels, double value)
{
    head(p, name, labels, NULL, NULL);
    number(p, value);
    puts_(p, "\n");
}

void prom_sample_u64(struct prom *p, const char *name, const char *const *labels, uint64_t value)
{
    char text[32];
    head(p, name, labels, NULL, NULL);
    snprintf(text, sizeof(text), "%" PRIu64 "\n", value);
    puts_(p, text);
}

void prom_histogram(struct prom *p, const char *name, const char *const *labels,
                    const struct histogram_snapshot *h)
{
    char metric[160], le[64], text[32];
    snprintf(metric, sizeof(metric), "%s_bucket", name);
    for (size_t i = 0; i <= h->nbounds; i++) {
        if (i < h->nbounds)
            shortest(h->bounds[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        head(p, metric, labels, "le", le);
        snprintf(text, sizeof(text), "%" PRIu64 "\n", h->cumulative[i]);
        puts_(p, text);
    }
    snprintf(metric, sizeof(metric), "%s_sum", name);
    prom_sample(p, metric, labels, h->sum);
    snprintf(metric, sizeof(metric), "%s_count", name);
    prom_sample_u64(p, metric, labels, h->count);
}
