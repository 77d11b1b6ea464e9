#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/histogram.h"
#include "base/prom.h"

static struct buf out;
static struct prom p;

static void setup(void)
{
    buf_init(&out, 1 << 20);
    prom_init(&p, &out);
}

static void teardown(void)
{
    buf_free(&out);
}

TestSuite(prom, .init = setup, .fini = teardown);

Test(prom, writes_help_and_type_before_the_samples)
{
    prom_family(&p, "amsiwatch_events_total", "counter", "Events received.");
    const char *labels[] = {"listener", "beats", NULL};
    prom_sample_u64(&p, "amsiwatch_events_total", labels, 18446744073709551615ull);
    prom_sample_u64(&p, "amsiwatch_events_total", NULL, 0);
    cr_assert_eq(p.error, 0);
    cr_assert_str_eq(out.data, "# HELP amsiwatch_events_total Events received.\n"
                               "# TYPE amsiwatch_events_total counter\n"
                               "amsiwatch_events_total{listener=\"beats\"} 18446744073709551615\n"
                               "amsiwatch_events_total 0\n");
}

Test(prom, escapes_backslashes_quotes_and_newlines_in_label_values)
{
    const char *labels[] = {"target", "a\\b\"c\nd", "hop", "x", NULL};
    prom_sample(&p, "m", labels, 1);
    cr_assert_str_eq(out.data, "m{target=\"a\\\\b\\\"c\\nd\",hop=\"x\"} 1\n");
}

Test(prom, escapes_backslashes_and_newlines_in_help_but_not_quotes)
{
    prom_family(&p, "m", "gauge", "a \"b\" c\\d\ne");
    cr_assert_str_eq(out.data, "# HELP m a \"b\" c\\\\d\\ne\n# TYPE m gauge\n");
}

Test(prom, writes_numbers_as_prometheus_reads_them)
{
    prom_sample(&p, "a", NULL, 0.1);
    prom_sample(&p, "b", NULL, 1700000000.5);
    prom_sample(&p, "c", NULL, NAN);
    prom_sample(&p, "d", NULL, INFINITY);
    prom_sample(&p, "e", NULL, -INFINITY);
    prom_sample(&p, "f", NULL, 42);
    cr_assert_str_eq(out.data, "a 0.1\nb 1700000000.5\nc NaN\nd +Inf\ne -Inf\nf 42\n");
}

Test(prom, writes_histogram_buckets_cumulative_with_inf_sum_and_count)
{
    static const double bounds[] = {0.001, 0.01, 0.1};
    struct histogram h;
    histogram_init(&h, bounds, 3);
    histogram_observe_ns(&h, 500000);     /* 0.5 ms: first bucket */
    histogram_observe_ns(&h, 1000000);    /* exactly 1 ms: le is inclusive */
    histogram_observe_ns(&h, 50000000);   /* 50 ms: third */
    histogram_observe_ns(&h, 2000000000); /* 2 s: only +Inf */
    struct histogram_snapshot s;
    histogram_read(&h, &s);
    cr_assert_eq(s.count, 4);
    cr_assert_float_eq(s.sum, 2.0515, 1e-9);
    const char *labels[] = {"target", "ops", NULL};
    prom_family(&p, "amsiwatch_webhook_request_duration_seconds", "histogram", "Requests.");
    prom_histogram(&p, "amsiwatch_webhook_request_duration_seconds", labels, &s);
    cr_assert_eq(p.error, 0);
    cr_assert_str_eq(
        out.data,
        "# HELP amsiwatch_webhook_request_duration_seconds Requests.\n"
        "# TYPE amsiwatch_webhook_request_duration_seconds histogram\n"
        "amsiwatch_webhook_request_duration_seconds_bucket{target=\"ops\",le=\"0.001\"} 2\n"
        "amsiwatch_webhook_request_duration_seconds_bucket{target=\"ops\",le=\"0.01\"} 2\n"
        "amsiwatch_webhook_request_duration_seconds_bucket{target=\"ops\",le=\"0.1\"} 3\n"
        "amsiwatch_webhook_request_duration_seconds_bucket{target=\"ops\",le=\"+Inf\"} 4\n"
        "amsiwatch_webhook_request_duration_seconds_sum{target=\"ops\"} 2.0515\n"
        "amsiwatch_webhook_request_duration_seconds_count{target=\"ops\"} 4\n");
}

Test(prom, an_empty_histogram_has_every_bucket_at_zero)
{
    struct histogram h;
    histogram_init(&h, histogram_latency_bounds, histogram_latency_nbounds);
    struct histogram_snapshot s;
    histogram_read(&h, &s);
    prom_histogram(&p, "h", NULL, &s);
    cr_assert(strstr(out.data, "h_bucket{le=\"0.0001\"} 0\n"));
    cr_assert(strstr(out.data, "h_bucket{le=\"10\"} 0\n"));
    cr_assert(strstr(out.data, "h_bucket{le=\"+Inf\"} 0\n"));
    cr_assert(strstr(out.data, "h_sum 0\nh_count 0\n"));
}

Test(prom, a_full_buffer_sticks_as_an_error_and_writes_nothing_more)
{
    struct buf small;
    buf_init(&small, 16);
    struct prom q;
    prom_init(&q, &small);
    prom_family(&q, "amsiwatch_a_long_name_total", "counter", "x");
    cr_assert_eq(q.error, -EMSGSIZE);
    size_t len = small.len;
    prom_sample(&q, "b", NULL, 1);
    cr_assert_eq(small.len, len);
    buf_free(&small);
}
