/* The Prometheus text exposition format (version 0.0.4) written into a buffer: a family's HELP and
 * TYPE lines, then its samples, label values escaped. Labels are given as a NULL-terminated array
 * of name, value pairs (NULL for none). The first error (a full buffer) sticks and later calls do
 * nothing. One owner at a time. */
#ifndef AMSI_BASE_PROM_H
#define AMSI_BASE_PROM_H

#include <stdint.h>

#include "base/buf.h"
#include "base/histogram.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom {
    struct buf *out;
    int error; /* 0, or the first negative errno of an append */
};

void prom_init(struct prom *p, struct buf *out);

/* Starts family NAME: "# HELP NAME HELP" (backslashes and newlines escaped) and "# TYPE NAME
 * TYPE" (counter, gauge, histogram, untyped). Every sample of a family follows it. */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);

/* One sample: NAME{LABELS} VALUE. Whole numbers are written without a fraction; NaN and the
 * infinities as Prometheus spells them. */
void prom_sample(struct prom *p, const char *name, const char *const *labels, double value);
void prom_sample_u64(struct prom *p, const char *name, const char *const *labels, uint64_t value);

/* The samples of one histogram of family NAME: NAME_bucket with le for each bound and +Inf
 * (cumulative), NAME_sum and NAME_count, each with LABELS too. */
void prom_histogram(struct prom *p, const char *name, const char *const *labels,
                    const struct histogram_snapshot *h);

/* Appends the label value V escaped as the format wants (\\, \", \n). */
void prom_escape_label(struct prom *p, const char *v);

#endif
