/*
 * test_metrics.c — what the daemon says about itself: GET /metrics parses
 * as Prometheus text (promtool check metrics, from Debian's prometheus
 * package) and its numbers agree with the API's (jobs by state, the queue,
 * a running job's epoch, steps trained, requests by route and status, the
 * database's size); the latency histogram's buckets; the dashboard's files
 * (served without a token, byte for byte the files of the tree, with ETag
 * and a Content-Security-Policy); request ids (X-Request-Id); and the JSON
 * log format, whose every line must be one JSON object.
 *
 * The end-to-end cases start the real daemon ($TRAIND_BIN, else ./traind)
 * on a loopback port; under a sanitizer build its log must hold no report.
 */
#include <check.h>
#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dashboard.h"
#include "e2e.h"
#include "http.h"
#include "log.h"
#include "http_stats.h"
#include "metrics.h"
#include "app.h"
#include "store.h"
#include "testutil.h"
#include "version.h"

static const char *srcdir(void)
{
    const char *d = getenv("TRAIND_SRCDIR");
    return d && *d ? d : ".";
}

static const char *bin(void)
{
    const char *b = getenv("TRAIND_BIN");
    return b && *b ? b : "./traind";
}

/* ---------------------------------------------------------------------------
 * Helpers */

/* The value of the sample `series` ("name{labels}" exactly as written) in
 * an exposition text; NAN when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (*p != '#' && !strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return NAN;
}

static double samplef(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double samplef(const char *text, const char *fmt, ...)
{
    char series[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(series, sizeof series, fmt, ap);
    va_end(ap);
    return sample(text, series);
}

/* traind_http_requests_total of one route and status; NAN when absent. */
static double requests(const char *text, const char *method, const char *pattern, int code)
{
    return samplef(text, "traind_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"}",
                   method, pattern, code);
}

/* promtool check metrics on the text: returns its exit status, output in out. */
static int promtool(const char *text, char *out, size_t outlen)
{
    char *in = tu_write_str(tu_tmpdir(), "scrape.txt", text), cmd[1400];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", in);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    free(in);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 127,
                  "promtool is missing: make deps installs Debian's prometheus package");
    return WEXITSTATUS(st);
}

static e2e_resp scrape(const e2e_daemon *d)
{
    e2e_resp r = e2e_get(d, "/metrics");
    ck_assert_msg(r.status == 200, "/metrics: %ld %s", r.status, r.body);
    ck_assert_str_eq(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    char out[4096];
    int st = promtool(r.body, out, sizeof out);
    ck_assert_msg(st == 0 && out[0] == 0,
                  "promtool check metrics: status %d:\n%s\n--- the text:\n%s", st, out, r.body);
    return r;
}

static long long count_jobs(const e2e_daemon *d, const char *state)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs?state=%s&limit=500", state);
    e2e_resp r = e2e_get(d, path);
    ck_assert_int_eq(r.status, 200);
    long long n = (long long)json_array_size(json_object_get(r.json, "jobs"));
    e2e_resp_free(&r);
    return n;
}

static json_t *get_job(const e2e_daemon *d, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    e2e_resp r = e2e_get(d, path);
    ck_assert_int_eq(r.status, 200);
    json_t *j = json_incref(r.json);
    e2e_resp_free(&r);
    return j;
}

static long long progress(const json_t *job, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(job, "progress"), key));
}

/* n rows of f features, 3 classes by the sign pattern of two directions. */
static char *table_csv(int n, int f, size_t *len)
{
    size_t cap = (size_t)n * (size_t)f * 12 + 4096, off = 0;
    char *t = malloc(cap);
    for (int j = 0; j < f; j++)
        off += (size_t)snprintf(t + off, cap - off, "f%d,", j);
    off += (size_t)snprintf(t + off, cap - off, "label\n");
    unsigned s = 12345;
    for (int i = 0; i < n; i++) {
        double a = 0, b = 0;
        for (int j = 0; j < f; j++) {
            s = s * 1103515245u + 12345u;
            double x = ((s >> 8) & 0xffff) / 32768.0 - 1;
            a += (j % 2 ? x : -x);
            b += (j % 3 ? x : 0);
            off += (size_t)snprintf(t + off, cap - off, "%.4f,", x);
        }
        off += (size_t)snprintf(t + off, cap - off, "c%d\n", (a > 0) + (b > 0));
    }
    *len = off;
    return t;
}

static long long post_id(const e2e_daemon *d, const char *path, const char *json)
{
    e2e_resp r = e2e_json(d, "POST", path, json);
    ck_assert_msg(r.status == 201, "POST %s: %ld %s\n%s", path, r.status, r.body, e2e_log_tail(d));
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

/* No sanitizer report in the daemon's log (the sanitizer builds drive it). */
static void log_is_clean(const e2e_daemon *d)
{
    char *log = tu_read(d->log, NULL);
    ck_assert_msg(!strstr(log, "ThreadSanitizer") && !strstr(log, "AddressSanitizer") &&
                      !strstr(log, "runtime error:") && !strstr(log, "LeakSanitizer"),
                  "the daemon's log has a sanitizer report:\n%s", log);
    free(log);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* A GET with one extra request header; fills the X-Request-Id, ETag and
 * Content-Security-Policy answered. */
typedef struct heads {
    char req_id[128], etag[128], csp[512];
    long status;
} heads;

static size_t on_head(char *p, size_t size, size_t n, void *arg)
{
    heads *h = arg;
    size_t len = size * n;
    struct {
        const char *name;
        char *dst;
        size_t cap;
    } want[] = {{"x-request-id:", h->req_id, sizeof h->req_id},
                {"etag:", h->etag, sizeof h->etag},
                {"content-security-policy:", h->csp, sizeof h->csp}};
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(want[i].name);
        if (len > k && !strncasecmp(p, want[i].name, k)) {
            const char *v = p + k;
            size_t vl = len - k;
            while (vl && *v == ' ')
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                vl--;
            snprintf(want[i].dst, want[i].cap, "%.*s", (int)vl, v);
        }
    }
    return len;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static heads get_heads(const e2e_daemon *d, const char *path, const char *header)
{
    heads h;
    memset(&h, 0, sizeof h);
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *sl = header ? curl_slist_append(NULL, header) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h.status);
    curl_slist_free_all(sl);
    curl_easy_cleanup(c);
    return h;
}

static const char *long_model =
    "{\"input\": [24], \"layers\": [{\"type\": \"dense\", \"units\": 48, \"activation\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
    " \"loss\": \"cross_entropy\","
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.001}, \"batch_size\": 16,"
    " \"epochs\": 100000, \"seed\": 3}}";

/* ---------------------------------------------------------------------------
 * The histogram's buckets, without a daemon */

START_TEST(histogram_buckets)
{
    app a;
    memset(&a, 0, sizeof a);   /* no database, no workers: those series are left out */
    log_set_level(LOG_ERROR);
    const route *rt = NULL;
    for (const route *x = http_routes; x->method; x++)
        if (!strcmp(x->method, "DELETE") && !strcmp(x->pattern, "/v1/models/{id}"))
            rt = x;
    ck_assert_ptr_nonnull(rt);
    int ri = (int)(rt - http_routes);
    /* a bound belongs to its own bucket (le: less or equal) */
    http_stats_observe(ri, 204, 0.003);
    http_stats_observe(ri, 204, 0.01);
    http_stats_observe(ri, 409, 0.2);
    http_stats_observe(ri, 204, 30);
    http_stats_observe(-1, 404, 0.0001);
    size_t len;
    char *t = metrics_render(&a, &len);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(strlen(t), len);
    const char *lbl = "method=\"DELETE\",route=\"/v1/models/{id}\"";
    ck_assert_double_eq(requests(t, "DELETE", "/v1/models/{id}", 204), 3);
    ck_assert_double_eq(requests(t, "DELETE", "/v1/models/{id}", 409), 1);
    ck_assert(isnan(requests(t, "DELETE", "/v1/models/{id}", 200)));
    static const struct {
        const char *le;
        double want;
    } b[] = {{"0.001", 0}, {"0.0025", 0}, {"0.005", 1}, {"0.01", 2},  {"0.025", 2},
             {"0.1", 2},   {"0.25", 3},   {"1", 3},     {"10", 3},    {"+Inf", 4}};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        ck_assert_msg(samplef(t, "traind_http_request_duration_seconds_bucket{%s,le=\"%s\"}", lbl,
                              b[i].le) == b[i].want,
                      "le=%s", b[i].le);
    ck_assert_double_eq(samplef(t, "traind_http_request_duration_seconds_count{%s}", lbl), 4);
    ck_assert_double_eq_tol(samplef(t, "traind_http_request_duration_seconds_sum{%s}", lbl),
                            30.213, 1e-6);
    ck_assert_double_eq(requests(t, "other", "unmatched", 404), 1);
    /* routes never asked for have no series */
    ck_assert(isnan(samplef(t, "traind_http_request_duration_seconds_count{method=\"GET\","
                               "route=\"/v1/jobs\"}")));
    ck_assert_double_eq(samplef(t, "traind_build_info{version=\"%s\",schema_version=\"%d\","
                                   "real=\"float32\"}",
                                TRAIND_VERSION, store_schema_latest()),
                        1);
    char out[4096];
    ck_assert_msg(promtool(t, out, sizeof out) == 0 && !out[0], "%s", out);
    free(t);
}
END_TEST

/* ---------------------------------------------------------------------------
 * /metrics against the API */

START_TEST(metrics_agree_with_the_api)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--workers", "1", "--threads", "1", NULL};
    e2e_start(&d, NULL, extra);
    size_t len;
    char *csv = table_csv(600, 24, &len);
    e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=table", "text/csv", csv, len, NULL);
    free(csv);
    ck_assert_msg(r.status == 201, "%s", r.body);
    long long ds = e2e_int(r.json, "id");
    e2e_resp_free(&r);

    /* requests counted exactly: 3 list calls, 2 unknown ids, 1 unknown path,
     * 1 method not allowed, 1 invalid model */
    for (int i = 0; i < 3; i++) {
        r = e2e_get(&d, "/v1/datasets");
        ck_assert_int_eq(r.status, 200);
        e2e_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        r = e2e_get(&d, "/v1/datasets/999");
        ck_assert_int_eq(r.status, 404);
        e2e_resp_free(&r);
    }
    r = e2e_get(&d, "/no/such/path");
    ck_assert_int_eq(r.status, 404);
    e2e_resp_free(&r);
    r = e2e_req(&d, "PATCH", "/v1/jobs", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 405);
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", "/v1/models", "{\"input\": [2], \"layers\": [], \"loss\": \"mse\"}");
    ck_assert_int_eq(r.status, 422);
    e2e_resp_free(&r);

    /* jobs in four states: succeeded, running, queued, cancelled */
    char body[2048];
    snprintf(body, sizeof body, "{\"model\": %s, \"dataset\": %lld, \"training\": {\"epochs\": 2}}",
             long_model, ds);
    long long done = post_id(&d, "/v1/jobs", body);
    json_t *j = e2e_wait_job(&d, done, "succeeded", 120);
    ck_assert_msg(j != NULL, "%s", e2e_log_tail(&d));
    long long done_steps = progress(j, "epochs") * progress(j, "steps_per_epoch");
    ck_assert_int_eq(progress(j, "epochs"), 2);
    json_decref(j);
    snprintf(body, sizeof body, "{\"model\": %s, \"dataset\": %lld}", long_model, ds);
    long long running = post_id(&d, "/v1/jobs", body);
    long long queued = post_id(&d, "/v1/jobs", body);
    long long cancelled = post_id(&d, "/v1/jobs", body);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", cancelled);
    r = e2e_json(&d, "POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    j = e2e_wait_job(&d, running, "running", 60);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    /* wait for the first epoch so that the speed is known */
    for (int i = 0; i < 600; i++) {
        j = get_job(&d, running);
        long long e = progress(j, "epoch");
        json_decref(j);
        if (e >= 2)
            break;
        usleep(50000);
    }

    json_t *before = get_job(&d, running);
    e2e_resp m = scrape(&d);
    json_t *after = get_job(&d, running);
    const char *t = m.body;

    /* jobs by state and the queue */
    static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    static const long long want[] = {1, 1, 1, 0, 1};
    for (int i = 0; i < 5; i++) {
        double v = samplef(t, "traind_jobs{state=\"%s\"}", states[i]);
        ck_assert_msg(v == want[i] && v == count_jobs(&d, states[i]), "traind_jobs{state=%s} %g",
                      states[i], v);
    }
    ck_assert_double_eq(sample(t, "traind_queue_depth"), 1);
    json_t *q = get_job(&d, queued);
    ck_assert_int_eq(e2e_int(q, "queue_position"), 1);
    json_decref(q);
    ck_assert_double_eq(sample(t, "traind_workers"), 1);
    ck_assert_double_eq(sample(t, "traind_threads_per_job"), 1);
    ck_assert_double_eq(sample(t, "traind_database_up"), 1);

    /* the running job: its epoch between the API's before and after */
    double epoch = samplef(t, "traind_job_epoch{job=\"%lld\"}", running);
    ck_assert_msg(epoch >= progress(before, "epoch") && epoch <= progress(after, "epoch"),
                  "epoch %g, API %lld..%lld", epoch, progress(before, "epoch"),
                  progress(after, "epoch"));
    ck_assert_double_eq(samplef(t, "traind_job_epochs{job=\"%lld\"}", running), 100000);
    ck_assert(samplef(t, "traind_job_samples_per_second{job=\"%lld\"}", running) > 0);
    double ratio = samplef(t, "traind_job_progress_ratio{job=\"%lld\"}", running);
    ck_assert(ratio > 0 && ratio < 0.01);
    ck_assert(isnan(samplef(t, "traind_job_epoch{job=\"%lld\"}", queued)));
    ck_assert(isnan(samplef(t, "traind_job_epoch{job=\"%lld\"}", done)));

    /* steps and epochs trained: all of the finished job, and the running
     * one's so far */
    long long spe = progress(after, "steps_per_epoch");
    long long lo = done_steps + (progress(before, "epoch") - 1) * spe + progress(before, "step");
    long long hi = done_steps + (progress(after, "epoch") - 1) * spe + progress(after, "step");
    double steps = sample(t, "traind_training_steps_total");
    ck_assert_msg(steps >= lo && steps <= hi, "steps %g, API %lld..%lld", steps, lo, hi);
    double epochs = sample(t, "traind_training_epochs_total");
    ck_assert_msg(epochs >= 2 + progress(before, "epoch") - 1 &&
                      epochs <= 2 + progress(after, "epoch"),
                  "epochs %g", epochs);

    /* requests by route and status; histogram counts match */
    ck_assert_double_eq(requests(t, "GET", "/v1/datasets", 200), 3);
    ck_assert_double_eq(requests(t, "GET", "/v1/datasets/{id}", 404), 2);
    ck_assert_double_eq(requests(t, "other", "unmatched", 404), 1);
    ck_assert_double_eq(requests(t, "other", "unmatched", 405), 1);
    ck_assert_double_eq(requests(t, "POST", "/v1/models", 422), 1);
    ck_assert_double_eq(requests(t, "POST", "/v1/datasets", 201), 1);
    ck_assert_double_eq(requests(t, "POST", "/v1/jobs", 201), 4);
    ck_assert_double_eq(sample(t, "traind_http_request_duration_seconds_count{method=\"GET\","
                                  "route=\"/v1/datasets\"}"),
                        3);
    ck_assert_double_eq(sample(t, "traind_http_request_duration_seconds_bucket{method=\"GET\","
                                  "route=\"/v1/datasets\",le=\"+Inf\"}"),
                        3);
    /* the raw paths never become labels */
    ck_assert_ptr_null(strstr(t, "/no/such/path"));
    ck_assert_ptr_null(strstr(t, "/v1/datasets/999"));
    /* the scrape itself is counted after it is answered */
    ck_assert(isnan(requests(t, "GET", "/metrics", 200)));
    double up = sample(t, "traind_uptime_seconds");
    ck_assert(up > 0 && up < 3600);
    ck_assert_double_eq(samplef(t, "traind_build_info{version=\"%s\",schema_version=\"%d\","
                                   "real=\"float32\"}",
                                TRAIND_VERSION, store_schema_latest()),
                        1);
    e2e_resp_free(&m);
    json_decref(before);
    json_decref(after);

    /* stop the training; then nothing writes, and the size is the files' */
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", running);
    r = e2e_json(&d, "POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", queued);
    r = e2e_json(&d, "POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    j = e2e_wait_job(&d, running, "cancelled", 60);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    usleep(200000);   /* the worker's last writes */
    m = scrape(&d);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", d.db);
    ck_assert_double_eq(sample(m.body, "traind_database_size_bytes"),
                        (double)(file_size(d.db) + file_size(wal)));
    ck_assert_double_eq(sample(m.body, "traind_jobs{state=\"cancelled\"}"), 3);
    ck_assert_double_eq(sample(m.body, "traind_jobs{state=\"running\"}"), 0);
    ck_assert_double_eq(sample(m.body, "traind_queue_depth"), 0);
    ck_assert_ptr_null(strstr(m.body, "traind_job_epoch{"));
    ck_assert_double_eq(requests(m.body, "GET", "/metrics", 200), 1);
    e2e_resp_free(&m);
    ck_assert_int_eq(e2e_stop(&d), 0);
    log_is_clean(&d);
}
END_TEST

/* ---------------------------------------------------------------------------
 * The dashboard's files and the token */

START_TEST(dashboard_files_and_token)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--token", "metrics-token-1", NULL};
    e2e_start(&d, NULL, extra);
    /* without the token: the files yes, data and /metrics no */
    e2e_resp r = e2e_get(&d, "/metrics");
    ck_assert_int_eq(r.status, 401);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/v1/jobs");
    ck_assert_int_eq(r.status, 401);
    e2e_resp_free(&r);
    int n_assets = 0;
    for (const route *rt = http_routes; rt->method; rt++) {
        if (!rt->asset)
            continue;
        n_assets++;
        ck_assert_str_eq(rt->method, "GET");
        const struct dashboard_asset *a = dashboard_find(rt->pattern);
        ck_assert_msg(a != NULL, "route %s has no embedded file", rt->pattern);
        r = e2e_get(&d, rt->pattern);
        ck_assert_msg(r.status == 200, "%s: %ld", rt->pattern, r.status);
        ck_assert_str_eq(r.content_type, a->content_type);
        ck_assert_uint_eq(r.len, a->len);
        ck_assert(memcmp(r.body, a->data, a->len) == 0);
        e2e_resp_free(&r);
        heads h = get_heads(&d, rt->pattern, NULL);
        ck_assert_str_eq(h.etag, a->etag);
        char inm[200];
        snprintf(inm, sizeof inm, "If-None-Match: %s", a->etag);
        ck_assert_int_eq(get_heads(&d, rt->pattern, inm).status, 304);
        ck_assert_int_eq(get_heads(&d, rt->pattern, "If-None-Match: \"other\"").status, 200);
    }
    ck_assert_int_eq(n_assets, dashboard_n_assets);
    ck_assert_int_eq(n_assets, 6);
    /* the embedded files are the tree's, byte for byte */
    static const struct {
        const char *url, *file;
    } files[] = {{"/", "server/dashboard/index.html"},
                 {"/ui/app.js", "server/dashboard/app.js"},
                 {"/ui/app.css", "server/dashboard/app.css"},
                 {"/ui/uplot.js", "vendor/uplot/uPlot.iife.min.js"},
                 {"/ui/uplot.css", "vendor/uplot/uPlot.min.css"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", srcdir(), files[i].file);
        char *want = tu_read(path, &len);
        const struct dashboard_asset *a = dashboard_find(files[i].url);
        ck_assert_ptr_nonnull(a);
        ck_assert_msg(a->len == len && !memcmp(a->data, want, len), "%s differs from %s",
                      files[i].url, files[i].file);
        free(want);
    }
    /* the page: no inline script allowed, nothing from elsewhere */
    heads h = get_heads(&d, "/", NULL);
    ck_assert_ptr_nonnull(strstr(h.csp, "script-src 'self'"));
    ck_assert_ptr_nonnull(strstr(h.csp, "connect-src 'self'"));
    ck_assert_ptr_nonnull(strstr(h.csp, "default-src 'none'"));
    const struct dashboard_asset *page = dashboard_find("/");
    ck_assert_ptr_null(strstr((const char *)page->data, "http://"));
    ck_assert_ptr_null(strstr((const char *)page->data, "https://"));
    /* with the token */
    snprintf(d.token, sizeof d.token, "metrics-token-1");
    r = scrape(&d);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/ui/nope.js");
    ck_assert_int_eq(r.status, 404);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
    log_is_clean(&d);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Request ids and the JSON log */

static int rfc3339_ms(const char *s)
{
    /* 2026-11-28T05:12:03.120Z */
    static const char *const shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != strlen(shape))
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    return 1;
}

START_TEST(json_log_and_request_ids)
{
    e2e_daemon d = {0};
    setenv("TRAIND_LOG_FORMAT", "json", 1);   /* the variable, like every flag's */
    const char *extra[] = {"--threads", "1", NULL};
    e2e_start(&d, NULL, extra);
    unsetenv("TRAIND_LOG_FORMAT");
    /* a usable id is kept, another is replaced by the request's number */
    heads h = get_heads(&d, "/healthz", "X-Request-Id: trace-42.a:b_c");
    ck_assert_str_eq(h.req_id, "trace-42.a:b_c");
    h = get_heads(&d, "/healthz", "X-Request-Id: bad id\"<>");
    ck_assert_int_gt(atoi(h.req_id), 0);
    heads h2 = get_heads(&d, "/v1/nothing", NULL);
    ck_assert_int_eq(h2.status, 404);
    ck_assert_int_gt(atoi(h2.req_id), atoi(h.req_id));
    /* a path that needs escaping in JSON */
    h = get_heads(&d, "/x%22y%5Cz%0A", "X-Request-Id: escaped-path");
    ck_assert_int_eq(h.status, 404);

    size_t len;
    char *csv = table_csv(120, 24, &len);
    e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=t", "text/csv", csv, len, NULL);
    free(csv);
    ck_assert_int_eq(r.status, 201);
    long long ds = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    char body[2048];
    snprintf(body, sizeof body, "{\"model\": %s, \"dataset\": %lld, \"training\": {\"epochs\": 1}}",
             long_model, ds);
    long long job = post_id(&d, "/v1/jobs", body);
    json_t *j = e2e_wait_job(&d, job, "succeeded", 60);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    ck_assert_int_eq(e2e_stop(&d), 0);

    /* every line one object: time, level, msg first */
    char *log = tu_read(d.log, NULL);
    int lines = 0, saw_kept = 0, saw_escaped = 0, saw_job_run = 0, saw_job_end = 0,
        saw_job_req = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        ck_assert_msg(json_is_object(o), "not a JSON line: %s (%s)", line, e.text);
        ck_assert_msg(!strncmp(line, "{\"time\":", 8), "time first: %s", line);
        ck_assert(rfc3339_ms(e2e_str(o, "time")));
        const char *lvl = e2e_str(o, "level");
        ck_assert(!strcmp(lvl, "info") || !strcmp(lvl, "warn") || !strcmp(lvl, "error") ||
                  !strcmp(lvl, "debug"));
        ck_assert(strlen(e2e_str(o, "msg")) > 0);
        const char *rid = e2e_str(o, "req_id");
        if (!strcmp(rid, "trace-42.a:b_c")) {
            saw_kept = 1;
            ck_assert_str_eq(e2e_str(o, "method"), "GET");
            ck_assert_str_eq(e2e_str(o, "path"), "/healthz");
            ck_assert_str_eq(e2e_str(o, "route"), "/healthz");
            ck_assert_int_eq(e2e_int(o, "status"), 200);
            ck_assert(json_is_number(json_object_get(o, "ms")));
        }
        if (!strcmp(rid, "escaped-path")) {
            saw_escaped = 1;
            ck_assert_str_eq(e2e_str(o, "path"), "/x\"y\\z\n");
            ck_assert_str_eq(e2e_str(o, "route"), "unmatched");
            ck_assert_int_eq(e2e_int(o, "status"), 404);
        }
        if (e2e_int(o, "job_id") == job) {
            const char *msg = e2e_str(o, "msg");
            saw_job_run |= strstr(msg, ": running") != NULL;
            saw_job_end |= strstr(msg, ": succeeded") != NULL;
            saw_job_req |= !strcmp(e2e_str(o, "route"), "/v1/jobs/{id}");
        }
        json_decref(o);
        lines++;
    }
    free(log);
    ck_assert_int_gt(lines, 8);
    ck_assert(saw_kept && saw_escaped);
    ck_assert_msg(saw_job_run && saw_job_end && saw_job_req, "job lines: %d %d %d", saw_job_run,
                  saw_job_end, saw_job_req);

    /* an unknown format is refused, naming the flag */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --port 0 --db %s/never.db --log-format xml 2>&1", bin(),
             tu_tmpdir());
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    ck_assert_int_eq(WEXITSTATUS(pclose(p)), 2);
    ck_assert_msg(strstr(out, "--log-format") && strstr(out, "xml"), "%s", out);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, histogram_buckets);
    tcase_add_test(tc, metrics_agree_with_the_api);
    tcase_add_test(tc, dashboard_files_and_token);
    tcase_add_test(tc, json_log_and_request_ids);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    curl_global_cleanup();
    return rc;
}
