/*
 * api_jobs.c — the /v1/jobs routes but their creation (api_job_create.c)
 * and predictions (api_predict.c): reading, cancelling and deleting jobs,
 * their metric curves (JSON or CSV, downsampled on request), their event
 * streams (server-sent events) and their weights.
 */
#include "api.h"

#include "jobs.h"
#include "metric_json.h"
#include "model.h"
#include "app.h"
#include "spec_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIMIT 500
#define DEFAULT_LIMIT 50
#define EVENT_BATCH 100

static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled"};

/* Reads /v1/jobs/{id}; replies 404 when absent. */
static int get_job(http_req *r, store_job *j)
{
    char err[256], what[64];
    snprintf(what, sizeof what, "job %lld", (long long)r->id);
    int rc = store_job_get(r->app->store, r->id, j, err, sizeof err);
    if (rc) {
        api_store_error(r, rc, what, err);
        return -1;
    }
    return 0;
}

static int finished(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") ||
           !strcmp(state, "cancelled");
}

/* GET /v1/jobs/{id} */
MHD_RESULT api_jobs_get(http_req *r)
{
    store_job j;
    if (get_job(r, &j))
        return r->result;
    MHD_RESULT res = http_reply_json(r, 200, api_job_json(r, &j));
    store_job_clear(&j);
    return res;
}

/* Parses a non-negative integer query parameter; replies 400 when bad. */
static int query_int(http_req *r, const char *key, long long lo, long long hi, long long *out)
{
    const char *s = http_query(r, key);
    if (!s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        http_reply_error(r, 400, "invalid_parameter", key, "%s must be an integer in %lld..%lld",
                         key, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* GET /v1/jobs[?state=STATE][&limit=N][&cursor=ID] */
MHD_RESULT api_jobs_list(http_req *r)
{
    const char *state = http_query(r, "state");
    long long limit = DEFAULT_LIMIT, cursor = 0;
    if (state) {
        size_t k = 0;
        while (k < 5 && strcmp(state, states[k]))
            k++;
        if (k == 5)
            return http_reply_error(r, 400, "invalid_parameter", "state",
                                    "state must be queued, running, succeeded, failed or "
                                    "cancelled");
    }
    if (query_int(r, "limit", 1, MAX_LIMIT, &limit) ||
        query_int(r, "cursor", 1, INT64_MAX, &cursor))
        return r->result;
    store_job *js;
    int n;
    char err[256];
    int rc = store_job_list(r->app->store, state, cursor, (int)limit + 1, &js, &n, err, sizeof err);
    if (rc)
        return api_store_error(r, rc, "listing jobs", err);
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(arr, api_job_json(r, &js[i]));
    json_t *next = n > limit ? json_integer((json_int_t)js[limit - 1].id) : json_null();
    store_free_jobs(js, n);
    return http_reply_json(r, 200, json_pack("{s:o,s:o}", "jobs", arr, "next_cursor", next));
}

/* DELETE /v1/jobs/{id} */
MHD_RESULT api_jobs_delete(http_req *r)
{
    store_job j;
    if (get_job(r, &j))
        return r->result;
    int fin = finished(j.state);
    char state[16];
    snprintf(state, sizeof state, "%s", j.state);
    store_job_clear(&j);
    if (!fin)
        return http_reply_error(r, 409, "conflict", NULL,
                                "job %lld is %s; only a finished job can be deleted (cancel it "
                                "first)",
                                (long long)r->id, state);
    char err[256], what[64];
    snprintf(what, sizeof what, "job %lld", (long long)r->id);
    int rc = store_job_delete(r->app->store, r->id, err, sizeof err);
    if (rc)
        return api_store_error(r, rc, what, err);
    jobs_notify(r->app->jobs);
    return http_reply_empty(r, 204);
}

/* POST /v1/jobs/{id}/cancel */
MHD_RESULT api_jobs_cancel(http_req *r)
{
    store_job j;
    if (get_job(r, &j))
        return r->result;
    if (finished(j.state)) {
        MHD_RESULT res = http_reply_error(r, 409, "conflict", NULL, "job %lld has already %s",
                                          (long long)r->id,
                                          !strcmp(j.state, "succeeded") ? "succeeded"
                                          : !strcmp(j.state, "failed")  ? "failed"
                                                                        : "been cancelled");
        store_job_clear(&j);
        return res;
    }
    char err[256], what[64];
    snprintf(what, sizeof what, "job %lld", (long long)r->id);
    int rc = store_job_cancel(r->app->store, r->id, err, sizeof err);
    if (rc) {
        store_job_clear(&j);
        return api_store_error(r, rc, what, err);
    }
    jobs_cancel(r->app->jobs, r->id);
    /* the cancel is committed: answer 200 whatever happens next, with the
     * job as it is now, or else as the cancel left the job read before it */
    store_job now;
    if (store_job_get(r->app->store, r->id, &now, err, sizeof err) == 0) {
        store_job_clear(&j);
        j = now;
    } else {
        j.cancel_requested = 1;
        if (!strcmp(j.state, "queued")) {
            snprintf(j.state, sizeof j.state, "cancelled");
            snprintf(j.stop_reason, sizeof j.stop_reason, "cancelled");
        }
    }
    json_t *answer = api_job_json(r, &j);
    MHD_RESULT res = answer ? http_reply_json(r, 200, answer)
                            : http_reply_json(r, 200, json_pack("{s:I,s:b}", "id",
                                                                (json_int_t)r->id,
                                                                "cancel_requested", 1));
    store_job_clear(&j);
    return res;
}

/* ---------------------------------------------------------------------------
 * Metrics */

static json_t *metric_json(const store_metric *m)
{
    return json_pack("{s:I,s:s,s:i,s:i,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "seq",
                     (json_int_t)m->seq, "kind", m->kind, "epoch", m->epoch, "step", m->step,
                     "global_step", (json_int_t)m->global_step, "loss",
                     metric_json_num(m->loss), "accuracy", metric_json_num(m->accuracy),
                     "val_loss", metric_json_num(m->val_loss), "val_accuracy",
                     metric_json_num(m->val_accuracy), "lr", metric_json_num(m->lr), "elapsed",
                     metric_json_num(m->elapsed), "samples_per_second",
                     metric_json_num(m->samples_per_sec));
}

/* Marks at most max rows to keep: evenly spread, first and last included,
 * plus the best (lowest val_loss, else lowest loss). */
static void downsample(const store_metric *m, int n, int max, char *keep)
{
    if (n <= max) {
        memset(keep, 1, (size_t)n);
        return;
    }
    memset(keep, 0, (size_t)n);
    int best = 0, use_val = 0;
    for (int i = 0; i < n; i++)
        use_val |= !isnan(m[i].val_loss);
    for (int i = 1; i < n; i++) {
        double a = use_val ? m[i].val_loss : m[i].loss, b = use_val ? m[best].val_loss : m[best].loss;
        if (!isnan(a) && (isnan(b) || a < b))
            best = i;
    }
    /* max - 1 points including both ends leave room for the best */
    int spread = max - 1;
    for (int k = 0; k < spread; k++)
        keep[(int)((double)k * (n - 1) / (spread - 1) + 0.5)] = 1;
    keep[best] = 1;
}

static void csv_num(char *buf, size_t len, double v)
{
    if (isnan(v))
        buf[0] = 0;
    else
        snprintf(buf, len, "%.10g", v);
}

/* GET /v1/jobs/{id}/metrics[?since=SEQ][&max_points=N][&kind=epoch|step] */
MHD_RESULT api_jobs_metrics(http_req *r)
{
    long long since = 0, maxp = 0;
    const char *kind = http_query(r, "kind");
    if (kind && strcmp(kind, "epoch") && strcmp(kind, "step"))
        return http_reply_error(r, 400, "invalid_parameter", "kind", "kind must be epoch or step");
    if (query_int(r, "since", 0, INT64_MAX, &since) ||
        query_int(r, "max_points", 3, 1000000, &maxp))
        return r->result;
    store_job j;
    if (get_job(r, &j))
        return r->result;
    store_job_clear(&j);
    store_metric *m;
    int n;
    char err[256];
    int rc = store_metrics_list(r->app->store, r->id, since, kind, &m, &n, err, sizeof err);
    if (rc)
        return api_store_error(r, rc, "reading metrics", err);
    char *keep = malloc((size_t)n + 1);
    if (!keep) {
        free(m);
        return http_reply_error(r, 500, "internal", NULL, "out of memory");
    }
    downsample(m, n, maxp ? (int)maxp : n, keep);
    int64_t last = n ? m[n - 1].seq : since;
    const char *accept = http_header(r, "Accept");
    MHD_RESULT res;
    if (accept && strstr(accept, "text/csv")) {
        size_t cap = 256 + (size_t)n * 256, len = 0;
        char *out = malloc(cap);
        if (!out) {
            free(m);
            free(keep);
            return http_reply_error(r, 500, "internal", NULL, "out of memory");
        }
        len += (size_t)snprintf(out, cap, "seq,kind,epoch,step,global_step,loss,accuracy,val_loss,"
                                          "val_accuracy,lr,elapsed,samples_per_second\n");
        for (int i = 0; i < n; i++) {
            if (!keep[i])
                continue;
            char v[8][32];
            double vals[8] = {m[i].loss, m[i].accuracy, m[i].val_loss, m[i].val_accuracy,
                              m[i].lr, m[i].elapsed, m[i].samples_per_sec, 0};
            for (int k = 0; k < 7; k++)
                csv_num(v[k], sizeof v[k], vals[k]);
            len += (size_t)snprintf(out + len, cap - len, "%lld,%s,%d,%d,%lld,%s,%s,%s,%s,%s,%s,%s\n",
                                    (long long)m[i].seq, m[i].kind, m[i].epoch, m[i].step,
                                    (long long)m[i].global_step, v[0], v[1], v[2], v[3], v[4],
                                    v[5], v[6]);
        }
        res = http_reply_bytes(r, 200, "text/csv", out, len, NULL);
    } else {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            if (keep[i])
                json_array_append_new(arr, metric_json(&m[i]));
        res = http_reply_json(r, 200, json_pack("{s:I,s:o,s:I}", "job", (json_int_t)r->id,
                                                "metrics", arr, "next_since", (json_int_t)last));
    }
    free(m);
    free(keep);
    return res;
}

/* ---------------------------------------------------------------------------
 * Events (server-sent) */

typedef struct sse {
    app *app;
    int64_t job;
    int64_t after;                 /* last event id sent */
    char *buf;                     /* formatted, not yet sent */
    size_t len, off;
    int ending;                    /* the final state event is in buf */
    int64_t last_ms;               /* when the stream last sent bytes (monotonic) */
    long keepalive_ms;             /* --sse-keepalive */
} sse;

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

long api_sse_keepalive_in(int64_t now_ms, int64_t last_ms, long interval_ms)
{
    int64_t idle = now_ms - last_ms;
    if (idle < 0)
        idle = 0;   /* not before the last bytes */
    return idle >= interval_ms ? 0 : (long)(interval_ms - idle);
}

static int terminal_state_event(const store_event *e)
{
    if (strcmp(e->type, "state"))
        return 0;
    json_t *d = json_loads(e->data, 0, NULL);
    const char *s = json_string_value(json_object_get(d, "state"));
    int fin = s && finished(s);
    json_decref(d);
    return fin;
}

static int append(sse *s, const char *text, size_t n)
{
    char *b = realloc(s->buf, s->len + n + 1);
    if (!b)
        return -1;
    s->buf = b;
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return 0;
}

/* Fetches the next events into the buffer; returns how many. */
static int fetch(sse *s)
{
    store_event *ev;
    int n;
    if (store_events_list(s->app->store, s->job, s->after, EVENT_BATCH, &ev, &n, NULL, 0))
        return -1;
    for (int i = 0; i < n; i++) {
        char head[96];
        int hn = snprintf(head, sizeof head, "id: %lld\nevent: %s\ndata: ", (long long)ev[i].seq,
                          ev[i].type);
        if (append(s, head, (size_t)hn) || append(s, ev[i].data, strlen(ev[i].data)) ||
            append(s, "\n\n", 2)) {
            store_free_events(ev, n);
            return -1;
        }
        s->after = ev[i].seq;
        if (terminal_state_event(&ev[i])) {
            s->ending = 1;
            break;
        }
    }
    store_free_events(ev, n);
    return n;
}

/* The stream: its history, then each new event as it is stored; while
 * there is none, a keep-alive comment whenever the stream has been silent
 * for the keep-alive interval.  It never blocks (an event-loop thread
 * calls it): with nothing to send it asks to be called again at the next
 * change of a job after the counter it read before looking, or when the
 * keep-alive is due.  Any job's change wakes it (the counter is shared),
 * so the interval is measured from this stream's last bytes, not from the
 * wake-up. */
static long sse_fill(void *ctx, char *out, size_t max, http_stream_wake *wake)
{
    sse *s = ctx;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(out, s->buf + s->off, n);
            s->off += n;
            s->last_ms = mono_ms();
            return (long)n;
        }
        s->len = s->off = 0;
        if (s->ending || atomic_load(&s->app->stopping))
            return -1;
        uint64_t seen = jobs_changes(s->app->jobs);
        int n = fetch(s);
        if (n < 0)
            return -1;
        if (n > 0)
            continue;
        long wait = api_sse_keepalive_in(mono_ms(), s->last_ms, s->keepalive_ms);
        if (wait == 0) {
            if (append(s, ": keep-alive\n\n", 14))
                return -1;
            continue;
        }
        wake->wait_ms = wait;
        wake->seen = seen;
        return 0;
    }
}

static void sse_done(void *ctx)
{
    sse *s = ctx;
    free(s->buf);
    free(s);
}

/* GET /v1/jobs/{id}/events (Last-Event-ID: N resumes after event N) */
MHD_RESULT api_jobs_events(http_req *r)
{
    store_job j;
    if (get_job(r, &j))
        return r->result;
    store_job_clear(&j);
    long long after = 0;
    const char *last = http_header(r, "Last-Event-ID");
    if (last) {
        char *end;
        after = strtoll(last, &end, 10);
        if (!*last || *end || after < 0)
            return http_reply_error(r, 400, "invalid_parameter", "Last-Event-ID",
                                    "Last-Event-ID must be an event id (an integer)");
    }
    sse *s = calloc(1, sizeof *s);
    if (!s)
        return http_reply_error(r, 500, "internal", NULL, "out of memory");
    s->app = r->app;
    s->job = r->id;
    s->after = after;
    s->keepalive_ms = (long)r->app->cfg.sse_keepalive * 1000;
    s->last_ms = mono_ms();   /* the headers go out now */
    http_add_header(r, "X-Accel-Buffering", "no");
    return http_reply_stream(r, "text/event-stream", sse_fill, sse_done, s);
}

/* ---------------------------------------------------------------------------
 * Weights and predictions */

/* GET /v1/jobs/{id}/weights[?which=final|best|latest] */
MHD_RESULT api_jobs_weights(http_req *r)
{
    const char *which = http_query(r, "which");
    if (!which)
        which = "final";
    if (strcmp(which, "final") && strcmp(which, "best") && strcmp(which, "latest"))
        return http_reply_error(r, 400, "invalid_parameter", "which",
                                "which must be final, best or latest");
    store_job j;
    if (get_job(r, &j))
        return r->result;
    store_job_clear(&j);
    void *buf;
    size_t len;
    char err[256], what[96];
    snprintf(what, sizeof what, "job %lld has no %s weights (yet)", (long long)r->id, which);
    int rc = store_weights_get(r->app->store, r->id, which, &buf, &len, err, sizeof err);
    if (rc == STORE_ENOTFOUND)
        return http_reply_error(r, 404, "not_found", NULL, "%s", what);
    if (rc)
        return api_store_error(r, rc, "reading weights", err);
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"job-%lld-%s.safetensors\"",
             (long long)r->id, which);
    return http_reply_bytes(r, 200, "application/octet-stream", buf, len, disp);
}
