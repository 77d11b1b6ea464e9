/* Where the pipeline hands its alerts: an interface the server wires to the journal (and tests
 * to whatever they check). The pipeline never calls upward; it only calls through this.
 * emit is called on worker threads. */
#ifndef AMSI_PIPELINE_ALERT_SINK_H
#define AMSI_PIPELINE_ALERT_SINK_H

#include <stddef.h>

struct batch;

struct alert_sink {
    /* Takes one alert document (LEN bytes of JSON, copied if kept). On success it must call
     * batch_alert_durable(B, status) exactly once, from any thread, when the alert is on disk
     * (or could not be written). Returns 0, or a negative errno when it refused the alert (the
     * batch then fails). */
    int (*emit)(void *ctx, const char *doc, size_t len, struct batch *b);
    void *ctx;
};

#endif
