/* amsiwatch replay: what a run tells its user, the progress line while it runs (standard error,
 * once a second, on a terminal) and the report at the end (standard output, text or JSON). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/replay_int.h"

void rp_show_progress(struct rp_run *r, uint64_t now)
{
    double s = (double)(now - r->start_ns) / 1e9;
    uint32_t open = 0;
    for (uint32_t i = 0; i < r->o.connections; i++)
        open += r->conns[i].state == RP_CONN_OPEN;
    uint64_t done = rp_beats(r) ? r->st.events_acked : r->st.events_sent;
    fprintf(stderr,
            "\r%7.1f s  sent %" PRIu64 "  acked %" PRIu64 "  %.0f events/s  %.1f MB/s  "
            "connections %" PRIu32 "/%" PRIu32 "  reconnects %" PRIu64 "   ",
            s, r->st.events_sent, rp_beats(r) ? r->st.events_acked : 0, s > 0 ? done / s : 0,
            s > 0 ? r->st.bytes_sent / s / 1e6 : 0, open, r->o.connections, r->st.reconnects);
    fflush(stderr);
    r->progress_shown = true;
}

static json_t *hist_json(const struct rp_hist *h)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "windows", (json_int_t)h->count, "p50",
                     rp_hist_quantile(h, 0.5) / 1000.0, "p99", rp_hist_quantile(h, 0.99) / 1000.0,
                     "p99_9", rp_hist_quantile(h, 0.999) / 1000.0, "max", h->max / 1000.0);
}

static void print_hist(const char *what, const struct rp_hist *h)
{
    if (!h->count) {
        printf("  %-18s none\n", what);
        return;
    }
    printf("  %-18s p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms (%" PRIu64 " windows)\n",
           what, rp_hist_quantile(h, 0.5) / 1000.0, rp_hist_quantile(h, 0.99) / 1000.0,
           rp_hist_quantile(h, 0.999) / 1000.0, h->max / 1000.0, h->count);
}

/* --tls: the protocol and cipher of the first connection established, and what was verified. */
static json_t *tls_json(const struct rp_run *r)
{
    const struct rp_opts *o = &r->o;
    if (!o->tls)
        return json_null();
    return json_pack("{s:s?, s:s?, s:s, s:b, s:b}", "protocol",
                     r->tls_protocol[0] ? r->tls_protocol : NULL, "cipher",
                     r->tls_cipher[0] ? r->tls_cipher : NULL, "server_name", o->tls_server_name,
                     "verified", !o->tls_insecure, "client_certificate", o->tls_cert != NULL);
}

static void print_tls(const struct rp_run *r)
{
    const struct rp_opts *o = &r->o;
    if (!o->tls)
        return;
    char verified[400];
    if (o->tls_insecure)
        snprintf(verified, sizeof(verified), "server NOT verified (--tls-insecure)");
    else
        snprintf(verified, sizeof(verified), "server '%s' verified against %s", o->tls_server_name,
                 o->tls_ca ? o->tls_ca : "the system store");
    printf("  TLS                %s, %s; %s%s\n",
           r->tls_protocol[0] ? r->tls_protocol : "no handshake completed",
           r->tls_cipher[0] ? r->tls_cipher : "no cipher", verified,
           o->tls_cert ? "; client certificate sent" : "");
}

void rp_report(struct rp_run *r, bool ok)
{
    const struct rp_opts *o = &r->o;
    const struct rp_stats *s = &r->st;
    double secs = r->started ? (double)(r->end_ns - r->start_ns) / 1e9 : 0;
    uint64_t done = rp_beats(r) ? s->events_acked : s->events_sent;
    double eps = secs > 0 ? done / secs : 0, mbps = secs > 0 ? s->bytes_sent / secs / 1e6 : 0;
    double pmbps = secs > 0 ? s->payload_bytes / secs / 1e6 : 0;
    if (r->progress_shown)
        fputc('\n', stderr);
    if (o->json) {
        json_t *j = json_pack(
            "{s:s, s:s, s:i, s:I, s:I, s:i, s:b, s:I, s:f, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
            " s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:b}",
            "protocol", rp_proto_name(o->proto), "target", o->target, "version", o->version,
            "connections", (json_int_t)o->connections, "window", (json_int_t)o->window,
            "compression", o->level, "precompress", o->precompress, "pipelining",
            (json_int_t)o->pipelining, "rate", o->rate, "loop", o->loop, "events_sent",
            (json_int_t)s->events_sent, "events_acked", (json_int_t)s->events_acked,
            "events_resent", (json_int_t)s->events_resent, "windows_sent",
            (json_int_t)s->windows_sent, "windows_acked", (json_int_t)s->windows_acked,
            "candidate_windows", (json_int_t)s->cand_windows, "bytes_sent",
            (json_int_t)s->bytes_sent, "payload_bytes", (json_int_t)s->payload_bytes, "seconds",
            secs, "events_per_second", eps, "mb_per_second", mbps, "payload_mb_per_second", pmbps,
            "errors", (json_int_t)s->errors, "reconnects", (json_int_t)s->reconnects, "keepalives",
            (json_int_t)s->keepalives, "ok", ok);
        if (j && rp_beats(r)) {
            json_object_set_new(j, "ack_latency_ms", hist_json(&s->lat));
            json_object_set_new(j, "candidate_ack_latency_ms", hist_json(&s->lat_cand));
        }
        if (j)
            json_object_set_new(j, "tls", tls_json(r));
        if (j)
            json_object_set_new(j, "error", r->error[0] ? json_string(r->error) : json_null());
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (text)
            puts(text);
        free(text);
        json_decref(j);
        fflush(stdout);
        return;
    }
    printf("amsiwatch replay: %s%s to %s: %s\n", rp_proto_name(o->proto),
           o->proto == RP_PROTO_BEATS ? (o->version == 1 ? " v1" : " v2") : "", o->target,
           ok ? "ok" : "FAILED");
    char rate[32];
    if (o->rate > 0)
        snprintf(rate, sizeof(rate), "%.0f/s", o->rate);
    else
        snprintf(rate, sizeof(rate), "unlimited");
    if (rp_beats(r))
        printf("  connections %" PRIu32 ", window %" PRIu32
               ", compression %d%s, pipelining %" PRIu32 ", rate %s\n",
               o->connections, o->window, o->level, o->precompress ? " (precompressed)" : "",
               o->pipelining, rate);
    else
        printf("  connections %" PRIu32 ", %" PRIu32 " messages per write%s, rate %s\n",
               o->connections, o->window,
               o->proto == RP_PROTO_SYSLOG_TCP ? (o->lf ? ", LF framing" : ", octet counting") : "",
               rate);
    print_tls(r);
    if (rp_beats(r)) {
        printf("  events             %" PRIu64 " sent, %" PRIu64 " acknowledged, %" PRIu64
               " resent\n",
               s->events_sent, s->events_acked, s->events_resent);
        printf("  windows            %" PRIu64 " sent, %" PRIu64 " acknowledged, %" PRIu64
               " with candidate events\n",
               s->windows_sent, s->windows_acked, s->cand_windows);
    } else {
        printf("  events             %" PRIu64 " sent (syslog has no acknowledgement)\n",
               s->events_sent);
    }
    printf("  throughput         %.3f s, %.0f events/s, %.2f MB/s on the wire, %.2f MB/s of "
           "events\n",
           secs, eps, mbps, pmbps);
    if (rp_beats(r)) {
        print_hist("ACK latency", &s->lat);
        print_hist("candidate windows", &s->lat_cand);
    }
    printf("  errors %" PRIu64 ", reconnects %" PRIu64 ", keep-alives %" PRIu64 "\n", s->errors,
           s->reconnects, s->keepalives);
    if (r->error[0])
        printf("  error: %s\n", r->error);
    fflush(stdout);
}
