/*
 * metrics.c — the daemon's counters and the /metrics page (see metrics.h).
 *
 * HTTP: one slot per route of http_routes plus one for unmatched requests;
 * each slot has a count per status code (100..599) and a latency histogram
 * (a count per bucket, not cumulative, and the sum in microseconds).  The
 * page adds the buckets up, and derives _count from them, so that _count
 * always equals the +Inf bucket even while requests arrive mid-scrape.
 *
 * Everything else is read when scraped: job counts and the database size
 * from the store, the running jobs' progress and the step totals from the
 * workers.
 */
#include "metrics.h"

#include "jobs.h"
#include "log.h"
#include "nn.h"
#include "serve.h"
#include "store.h"
#include "version.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUTES 64               /* slots for routes; the last is "unmatched" */
#define MIN_STATUS 100
#define N_STATUS 500                /* 100..599 */

const double metrics_buckets[METRICS_N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,   0.25,   0.5,   1,    2.5,   10};

typedef struct slot {
    atomic_uint_fast64_t by_status[N_STATUS];
    atomic_uint_fast64_t bucket[METRICS_N_BUCKETS + 1];   /* the last: above every bound */
    atomic_uint_fast64_t sum_us;
} slot;

static slot slots[MAX_ROUTES + 1];

static int n_routes(void)
{
    int n = 0;
    while (http_routes[n].method)
        n++;
    return n < MAX_ROUTES ? n : MAX_ROUTES;
}

void metrics_http_observe(const route *rt, int status, double seconds)
{
    long i = rt ? (long)(rt - http_routes) : MAX_ROUTES;
    if (i < 0 || i >= MAX_ROUTES)
        i = MAX_ROUTES;
    slot *s = &slots[i];
    if (status >= MIN_STATUS && status < MIN_STATUS + N_STATUS)
        atomic_fetch_add_explicit(&s->by_status[status - MIN_STATUS], 1, memory_order_relaxed);
    int b = 0;
    while (b < METRICS_N_BUCKETS && seconds > metrics_buckets[b])
        b++;
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    if (seconds < 0)
        seconds = 0;
    atomic_fetch_add_explicit(&s->sum_us, (uint_fast64_t)(seconds * 1e6 + 0.5),
                              memory_order_relaxed);
}

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

static void http_metrics(sbuf *b)
{
    int nr = n_routes();
    char method[32], rt[160], v[64];
    head(b, "traind_http_requests_total", "counter",
         "HTTP requests answered, by route pattern and status code.");
    for (int i = 0; i <= nr; i++) {
        slot *s = &slots[i < nr ? i : MAX_ROUTES];
        label_value(method, sizeof method, i < nr ? http_routes[i].method : "other");
        label_value(rt, sizeof rt, i < nr ? http_routes[i].pattern : "unmatched");
        for (int c = 0; c < N_STATUS; c++) {
            uint_fast64_t k = atomic_load_explicit(&s->by_status[c], memory_order_relaxed);
            if (k)
                put(b, "traind_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
                    method, rt, c + MIN_STATUS, (unsigned long long)k);
        }
    }
    head(b, "traind_http_request_duration_seconds", "histogram",
         "Time from a request's arrival until its answer is queued (an event stream: until "
         "it starts), by route pattern.");
    for (int i = 0; i <= nr; i++) {
        slot *s = &slots[i < nr ? i : MAX_ROUTES];
        uint_fast64_t cum[METRICS_N_BUCKETS + 1], total = 0;
        for (int k = 0; k <= METRICS_N_BUCKETS; k++) {
            total += atomic_load_explicit(&s->bucket[k], memory_order_relaxed);
            cum[k] = total;
        }
        if (!total)
            continue;   /* a route never asked for has no series */
        label_value(method, sizeof method, i < nr ? http_routes[i].method : "other");
        label_value(rt, sizeof rt, i < nr ? http_routes[i].pattern : "unmatched");
        for (int k = 0; k < METRICS_N_BUCKETS; k++) {
            num(v, sizeof v, metrics_buckets[k]);
            put(b,
                "traind_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                "le=\"%s\"} %llu\n",
                method, rt, v, (unsigned long long)cum[k]);
        }
        put(b,
            "traind_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} "
            "%llu\n",
            method, rt, (unsigned long long)total);
        num(v, sizeof v, (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
        put(b, "traind_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %s\n", method,
            rt, v);
        put(b, "traind_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
            method, rt, (unsigned long long)total);
    }
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
