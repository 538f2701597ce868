/*
 * metrics.c — the /metrics page (see metrics.h).
 *
 * HTTP: the counters of http_stats.h, one slot per route of http_routes
 * plus one for unmatched requests.  The page adds the buckets up, and
 * derives _count from them, so that _count always equals the +Inf bucket
 * even while requests arrive mid-scrape.
 *
 * Everything else is read when scraped: job counts and the database size
 * from the store, the running jobs' progress and the step totals from the
 * workers.
 */
#include "metrics.h"

#include "app.h"
#include "http_conns.h"
#include "http_stats.h"

#include "jobs.h"
#include "log.h"
#include "nn.h"
#include "store.h"
#include "version.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------
 * The text */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static void head(sbuf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newlines escaped, as the format asks. */
static void label_value(char *out, size_t cap, const char *v)
{
    size_t n = 0;
    for (; *v && n + 3 < cap; v++) {
        if (*v == '\\' || *v == '"') {
            out[n++] = '\\';
            out[n++] = *v;
        } else if (*v == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *v;
        }
    }
    out[n] = 0;
}

/* A float as Prometheus reads it: 15 significant digits (a Unix time to
 * the microsecond) without binary noise such as 0.0025000000000000001. */
static void num(char *out, size_t cap, double v)
{
    snprintf(out, cap, "%.15g", v);
}

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void process_metrics(sbuf *b, app *a)
{
    char v[64];
    head(b, "traind_build_info", "gauge",
         "Build of the running daemon: version, schema version and number type; always 1.");
    put(b, "traind_build_info{version=\"%s\",schema_version=\"%d\",real=\"%s\"} 1\n",
        TRAIND_VERSION, store_schema_latest(), sizeof(nn_real) == 8 ? "float64" : "float32");
    double up = mono() - a->started;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    head(b, "traind_start_time_seconds", "gauge",
         "Start time of the daemon in seconds since the Unix epoch.");
    num(v, sizeof v, (double)wall.tv_sec + 1e-9 * (double)wall.tv_nsec - up);
    put(b, "traind_start_time_seconds %s\n", v);
    head(b, "traind_uptime_seconds", "gauge", "Seconds since the daemon started.");
    num(v, sizeof v, up);
    put(b, "traind_uptime_seconds %s\n", v);
    head(b, "traind_workers", "gauge", "Worker threads: jobs trained at once.");
    put(b, "traind_workers %d\n", jobs_workers(a->jobs));
    head(b, "traind_threads_per_job", "gauge", "Compute threads each job trains with.");
    put(b, "traind_threads_per_job %d\n", a->cfg.threads);
    int conns, streams;
    uint64_t cut;
    http_conns_counts(a->conns, &conns, &streams, &cut);
    head(b, "traind_http_connections", "gauge", "Open HTTP connections.");
    put(b, "traind_http_connections %d\n", conns);
    head(b, "traind_event_streams", "gauge", "Open event streams (GET /v1/jobs/{id}/events).");
    put(b, "traind_event_streams %d\n", streams);
    head(b, "traind_http_connections_cut_total", "counter",
         "Connections closed because a request's headers did not arrive within "
         "--header-timeout or its body came slower than --min-body-rate.");
    put(b, "traind_http_connections_cut_total %llu\n", (unsigned long long)cut);
}

static void job_metrics(sbuf *b, app *a)
{
    static const char *const states[5] = {"queued", "running", "succeeded", "failed",
                                          "cancelled"};
    int64_t counts[5];
    char err[256];
    int db_ok = a->store && store_job_counts(a->store, counts, err, sizeof err) == STORE_OK;
    if (!db_ok)
        log_msg(LOG_WARN, "/metrics: cannot count jobs: %s", a->store ? err : "no database");
    head(b, "traind_database_up", "gauge", "1 when the database answered this scrape, else 0.");
    put(b, "traind_database_up %d\n", db_ok);
    if (db_ok) {
        head(b, "traind_jobs", "gauge", "Jobs in the database by state.");
        for (int i = 0; i < 5; i++)
            put(b, "traind_jobs{state=\"%s\"} %lld\n", states[i], (long long)counts[i]);
        head(b, "traind_queue_depth", "gauge", "Jobs queued and waiting for a worker.");
        put(b, "traind_queue_depth %lld\n", (long long)counts[0]);
    }
    int64_t size = a->store ? store_size_bytes(a->store) : -1;
    if (size >= 0) {
        head(b, "traind_database_size_bytes", "gauge",
             "Size of the database file and its write-ahead log in bytes.");
        put(b, "traind_database_size_bytes %lld\n", (long long)size);
    }

    if (a->store) {
        head(b, "traind_disk_full", "gauge",
             "1 while the database's disk is full (a write failed for lack of space, or the "
             "reserve file could not be made again), else 0.");
        put(b, "traind_disk_full %d\n", store_disk_full(a->store, NULL, 0));
    }

    int max = jobs_workers(a->jobs);
    int64_t *ids = calloc((size_t)max + 1, sizeof *ids);
    jobs_live *live = calloc((size_t)max + 1, sizeof *live);
    int n = ids && live ? jobs_running(a->jobs, ids, live, max) : 0;
    b->failed |= !ids || !live;
    char v[64];
    head(b, "traind_job_epoch", "gauge", "Epoch each running job is training (1-based).");
    for (int i = 0; i < n; i++)
        put(b, "traind_job_epoch{job=\"%lld\"} %d\n", (long long)ids[i], live[i].epoch);
    head(b, "traind_job_epochs", "gauge", "Epochs each running job trains at most.");
    for (int i = 0; i < n; i++)
        put(b, "traind_job_epochs{job=\"%lld\"} %d\n", (long long)ids[i], live[i].epochs);
    head(b, "traind_job_progress_ratio", "gauge",
         "Fraction of each running job's steps done (0 to 1).");
    for (int i = 0; i < n; i++) {
        const jobs_live *l = &live[i];
        double done = l->epochs > 0 && l->steps_per_epoch > 0
                          ? ((double)(l->epoch > 0 ? l->epoch - 1 : 0) * l->steps_per_epoch +
                             l->step) /
                                ((double)l->epochs * l->steps_per_epoch)
                          : 0;
        num(v, sizeof v, done > 1 ? 1 : done);
        put(b, "traind_job_progress_ratio{job=\"%lld\"} %s\n", (long long)ids[i], v);
    }
    head(b, "traind_job_samples_per_second", "gauge",
         "Training speed of each running job over its current epoch.");
    for (int i = 0; i < n; i++) {
        num(v, sizeof v, live[i].samples_per_sec);
        put(b, "traind_job_samples_per_second{job=\"%lld\"} %s\n", (long long)ids[i], v);
    }
    free(ids);
    free(live);
    jobs_totals t;
    jobs_get_totals(a->jobs, &t);
    head(b, "traind_training_steps_total", "counter",
         "Optimizer steps trained by this process, over all jobs.");
    put(b, "traind_training_steps_total %llu\n", (unsigned long long)t.steps);
    head(b, "traind_training_epochs_total", "counter",
         "Epochs finished by this process, over all jobs.");
    put(b, "traind_training_epochs_total %llu\n", (unsigned long long)t.epochs);
}

static int n_routes(void)
{
    int n = 0;
    while (http_routes[n].method)
        n++;
    return n < HTTP_STATS_MAX_ROUTES ? n : HTTP_STATS_MAX_ROUTES;
}

static void request_counts(sbuf *b, int nr, const http_stats_slot *slots)
{
    char method[32], rt[160];
    head(b, "traind_http_requests_total", "counter",
         "HTTP requests answered, by route pattern and status code.");
    for (int i = 0; i <= nr; i++) {
        const http_stats_slot *s = &slots[i];
        label_value(method, sizeof method, i < nr ? http_routes[i].method : "other");
        label_value(rt, sizeof rt, i < nr ? http_routes[i].pattern : "unmatched");
        for (int c = 0; c < HTTP_STATS_N_STATUS; c++)
            if (s->by_status[c])
                put(b, "traind_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
                    method, rt, c + HTTP_STATS_MIN_STATUS, (unsigned long long)s->by_status[c]);
    }
}

static void request_durations(sbuf *b, int nr, const http_stats_slot *slots)
{
    char method[32], rt[160], v[64];
    head(b, "traind_http_request_duration_seconds", "histogram",
         "Time from a request's arrival until its answer is queued (an event stream: until "
         "it starts), by route pattern.");
    for (int i = 0; i <= nr; i++) {
        const http_stats_slot *s = &slots[i];
        uint64_t cum[HTTP_STATS_N_BUCKETS + 1], total = 0;
        for (int k = 0; k <= HTTP_STATS_N_BUCKETS; k++) {
            total += s->bucket[k];
            cum[k] = total;
        }
        if (!total)
            continue;   /* a route never asked for has no series */
        label_value(method, sizeof method, i < nr ? http_routes[i].method : "other");
        label_value(rt, sizeof rt, i < nr ? http_routes[i].pattern : "unmatched");
        for (int k = 0; k < HTTP_STATS_N_BUCKETS; k++) {
            num(v, sizeof v, http_stats_buckets[k]);
            put(b,
                "traind_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                "le=\"%s\"} %llu\n",
                method, rt, v, (unsigned long long)cum[k]);
        }
        put(b,
            "traind_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} "
            "%llu\n",
            method, rt, (unsigned long long)total);
        num(v, sizeof v, (double)s->sum_us / 1e6);
        put(b, "traind_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %s\n", method,
            rt, v);
        put(b, "traind_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
            method, rt, (unsigned long long)total);
    }
}

/* The HTTP counters, read once (slots[nr]: the unmatched requests) so that
 * both families show the same moment of each slot. */
static void http_metrics(sbuf *b)
{
    int nr = n_routes();
    http_stats_slot *slots = malloc(((size_t)nr + 1) * sizeof *slots);
    if (!slots) {
        b->failed = 1;
        return;
    }
    for (int i = 0; i <= nr; i++)
        http_stats_read(i < nr ? i : -1, &slots[i]);
    request_counts(b, nr, slots);
    request_durations(b, nr, slots);
    free(slots);
}

char *metrics_render(app *a, size_t *len)
{
    sbuf b = {.cap = 8192};
    if (!(b.p = malloc(b.cap)))
        return NULL;
    b.p[0] = 0;
    process_metrics(&b, a);
    job_metrics(&b, a);
    http_metrics(&b);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* GET /metrics */
MHD_RESULT metrics_get(http_req *r)
{
    size_t len = 0;
    char *text = metrics_render(r->app, &len);
    if (!text)
        return http_reply_error(r, 500, "internal", NULL, "out of memory");
    http_add_header(r, "Cache-Control", "no-store");
    return http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
}
