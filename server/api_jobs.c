/*
 * api_jobs.c — the /v1/jobs routes: creating a job (checking that its data
 * fit its model before anything is stored), reading, cancelling and deleting
 * jobs, their metric curves (JSON or CSV, downsampled on request), their
 * event streams (server-sent events), their weights, and predictions.
 */
#include "api.h"

#include "jobs.h"
#include "model.h"
#include "serve.h"
#include "spec_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIMIT 500
#define DEFAULT_LIMIT 50
#define EVENT_BATCH 100

static const char *const job_keys[] = {"model", "dataset", "validation", "training",
                                       "priority", "checkpoint_every", "log_every_steps"};
#define N_JOB_KEYS (sizeof job_keys / sizeof job_keys[0])

static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled"};

/* Reads an integer member in [lo, hi] (absent: def); replies 422 otherwise. */
static int int_member(http_req *r, const json_t *o, const char *key, long long lo, long long hi,
                      long long def, long long *out)
{
    const json_t *v = json_object_get(o, key);
    *out = def;
    if (!v)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/%s", key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        http_reply_error(r, 422, "invalid_job", path, "expected an integer in %lld..%lld", lo, hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* A dataset referenced by the job body at `path`. */
static int dataset_ref(http_req *r, const json_t *v, const char *path, store_dataset *d)
{
    char err[256];
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        http_reply_error(r, 422, "invalid_job", path, "expected a dataset id (a positive integer)");
        return -1;
    }
    int rc = store_dataset_get(r->app->store, json_integer_value(v), d, err, sizeof err);
    if (rc == STORE_ENOTFOUND) {
        http_reply_error(r, 422, "unknown_reference", path, "there is no dataset %lld",
                         (long long)json_integer_value(v));
        return -1;
    }
    if (rc) {
        api_store_error(r, rc, "reading the dataset", err);
        return -1;
    }
    return 0;
}

/* Whether the dataset fits the model (shapes and classes from its metadata). */
static int fits(http_req *r, const nn_spec *spec, const store_dataset *d, const char *what,
                const char *path)
{
    nn_model *m;
    nn_err e;
    nn_model_opts mo = {.shape_only = 1};
    if (nn_model_new(spec, &mo, &m, &e)) {
        http_reply_error(r, 422, "invalid_model", "/model", "%s", e.msg);
        return -1;
    }
    nn_shape xs = {0}, ys = {0};
    xs.rank = d->x_rank - 1;
    ys.rank = d->y_rank - 1;
    for (int i = 0; i < xs.rank; i++)
        xs.dim[i] = (int)d->x_shape[i + 1];
    for (int i = 0; i < ys.rank; i++)
        ys.dim[i] = (int)d->y_shape[i + 1];
    int rc = nn_data_fits(m, &xs, d->n_classes, &ys, what, &e);
    nn_model_free(m);
    if (rc) {
        http_reply_error(r, 422, "data_mismatch", path, "%s", e.msg);
        return -1;
    }
    return 0;
}

static int monitors_validation(const nn_train_cfg *c)
{
    return c->early.enabled &&
           (c->early.monitor == NN_MON_VAL_LOSS || c->early.monitor == NN_MON_VAL_ACCURACY);
}

/* POST /v1/jobs {"model", "dataset", "validation", "training", "priority",
 *                "checkpoint_every", "log_every_steps"} */
MHD_RESULT api_jobs_create(http_req *r)
{
    json_t *body = NULL, *def = NULL, *training = NULL, *canon = NULL, *summary = NULL;
    nn_spec spec = {0};
    nn_train_cfg cfg;
    store_dataset ds = {0}, vs = {0};
    store_job j = {0};
    char err[256];
    const char *key;
    json_t *v;
    int64_t model_id = 0;
    long long prio, ckpt, logn;

    if (!(body = http_json_body_or_reply(r)))
        return r->result;
    if (!json_is_object(body)) {
        http_reply_error(r, 422, "invalid_job", "", "expected a JSON object");
        goto out;
    }
    json_object_foreach(body, key, v) {
        size_t k = 0;
        while (k < N_JOB_KEYS && strcmp(key, job_keys[k]))
            k++;
        if (k == N_JOB_KEYS) {
            char path[300];
            snprintf(path, sizeof path, "/%s", key);
            http_reply_error(r, 422, "invalid_job", path,
                             "unknown key \"%s\"; allowed keys: model, dataset, validation, "
                             "training, priority, checkpoint_every, log_every_steps",
                             key);
            goto out;
        }
    }

    /* the model: an id or an inline definition */
    const json_t *mv = json_object_get(body, "model");
    if (json_is_integer(mv)) {
        store_model m;
        int rc = store_model_get(r->app->store, json_integer_value(mv), &m, err, sizeof err);
        if (rc == STORE_ENOTFOUND) {
            http_reply_error(r, 422, "unknown_reference", "/model", "there is no model %lld",
                             (long long)json_integer_value(mv));
            goto out;
        }
        if (rc) {
            api_store_error(r, rc, "reading the model", err);
            goto out;
        }
        model_id = m.id;
        def = json_loads(m.definition, 0, NULL);
        store_model_clear(&m);
    } else if (json_is_object(mv)) {
        def = json_deep_copy(mv);
    } else {
        http_reply_error(r, 422, "invalid_job", "/model",
                         mv ? "expected a model id or a model definition (an object)"
                            : "required: a model id or a model definition");
        goto out;
    }
    if (!def) {
        http_reply_error(r, 500, "internal", NULL, "cannot read the model's definition");
        goto out;
    }
    /* the job's training object overrides the model's member by member */
    json_t *base_tr = json_object_get(def, "training");
    training = json_is_object(base_tr) ? json_deep_copy(base_tr) : json_object();
    json_object_del(def, "training");
    const json_t *jt = json_object_get(body, "training");
    if (jt && !json_is_object(jt)) {
        http_reply_error(r, 422, "invalid_job", "/training", "expected an object");
        goto out;
    }
    if (jt)
        json_object_update(training, (json_t *)jt);
    if (api_model_check(r, def, "/model", &spec, &cfg, &canon, &summary))
        goto out;

    /* data */
    if (!json_object_get(body, "dataset")) {
        http_reply_error(r, 422, "invalid_job", "/dataset", "required: the training dataset's id");
        goto out;
    }
    if (dataset_ref(r, json_object_get(body, "dataset"), "/dataset", &ds))
        goto out;
    const json_t *val = json_object_get(body, "validation");
    double split = -1;
    if (val) {
        const json_t *vd = json_object_get(val, "dataset"), *sp = json_object_get(val, "split");
        if (!json_is_object(val) || json_object_size(val) != 1 || (!vd && !sp)) {
            http_reply_error(r, 422, "invalid_job", "/validation",
                             "expected {\"dataset\": <id>} or {\"split\": <fraction>}");
            goto out;
        }
        if (vd && dataset_ref(r, vd, "/validation/dataset", &vs))
            goto out;
        if (sp) {
            split = json_is_number(sp) ? json_number_value(sp) : -1;
            if (!(split >= 0 && split < 1)) {
                http_reply_error(r, 422, "invalid_job", "/validation/split",
                                 "expected a number from 0 up to (not including) 1");
                goto out;
            }
            json_object_set_new(training, "validation_split", json_real(split));
        }
    }
    spec_json_err je;
    if (spec_json_parse_training(training, "/training", &cfg, &je)) {
        http_reply_error(r, 422, "invalid_job", je.path, "%s", je.msg);
        goto out;
    }
    if (monitors_validation(&cfg) && vs.id == 0 && cfg.validation_split == 0) {
        http_reply_error(r, 422, "invalid_job", "/training/early_stopping/monitor",
                         "early stopping watches a validation metric but the job has no "
                         "validation data: set validation {\"split\": …} or {\"dataset\": …}");
        goto out;
    }
    if (int_member(r, body, "priority", -1000000, 1000000, 0, &prio) ||
        int_member(r, body, "checkpoint_every", 1, 1000000, 1, &ckpt) ||
        int_member(r, body, "log_every_steps", 0, 1000000000, 0, &logn))
        goto out;
    if (fits(r, &spec, &ds, "training", "/dataset") ||
        (vs.id && fits(r, &spec, &vs, "validation", "/validation/dataset")))
        goto out;
    if (vs.id && ds.n_classes && vs.n_classes) {
        /* class indices must mean the same classes in both sets */
        int same = ds.n_classes == vs.n_classes;
        for (int i = 0; same && i < ds.n_classes; i++)
            same = !strcmp(ds.classes[i], vs.classes[i]);
        if (!same) {
            http_reply_error(r, 422, "data_mismatch", "/validation/dataset",
                             "the validation set's classes differ from the training set's");
            goto out;
        }
    }

    /* store it */
    json_t *mdump = spec_json_dump_model(&spec), *tdump = spec_json_dump_training(&cfg);
    j.definition = mdump ? json_dumps(mdump, SPEC_JSON_DUMP_FLAGS) : NULL;
    j.training = tdump ? json_dumps(tdump, SPEC_JSON_DUMP_FLAGS) : NULL;
    json_decref(mdump);
    json_decref(tdump);
    if (!j.definition || !j.training) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    j.model_id = model_id;
    j.dataset_id = ds.id;
    j.val_dataset_id = vs.id;
    j.val_split = split;
    j.priority = (int)prio;
    j.checkpoint_every = (int)ckpt;
    j.log_every_steps = (int)logn;
    j.epochs = cfg.epochs;
    int64_t id;
    int rc = store_job_insert(r->app->store, &j, &id, err, sizeof err);
    if (rc) {
        api_store_error(r, rc, "storing the job", err);
        goto out;
    }
    /* the answer is read before the workers hear of the job, so that an
     * idle server answers it queued and first in line, as it was stored */
    store_job got;
    rc = store_job_get(r->app->store, id, &got, err, sizeof err);
    json_t *answer = rc ? NULL : api_job_json(r, &got);
    store_job_clear(&got);
    jobs_notify(r->app->jobs);
    if (rc) {
        api_store_error(r, rc, "the new job", err);
        goto out;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/jobs/%lld", (long long)id);
    http_add_header(r, "Location", loc);
    http_reply_json(r, 201, answer);
out:
    free(j.definition);
    free(j.training);
    json_decref(body);
    json_decref(def);
    json_decref(training);
    json_decref(canon);
    json_decref(summary);
    nn_spec_free(&spec);
    store_dataset_clear(&ds);
    store_dataset_clear(&vs);
    return r->result;
}

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
    store_job_clear(&j);
    char err[256], what[64];
    snprintf(what, sizeof what, "job %lld", (long long)r->id);
    int rc = store_job_cancel(r->app->store, r->id, err, sizeof err);
    if (rc)
        return api_store_error(r, rc, what, err);
    jobs_cancel(r->app->jobs, r->id);
    if (get_job(r, &j))
        return r->result;
    MHD_RESULT res = http_reply_json(r, 200, api_job_json(r, &j));
    store_job_clear(&j);
    return res;
}

/* ---------------------------------------------------------------------------
 * Metrics */

static json_t *metric_json(const store_metric *m)
{
    return json_pack("{s:I,s:s,s:i,s:i,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "seq",
                     (json_int_t)m->seq, "kind", m->kind, "epoch", m->epoch, "step", m->step,
                     "global_step", (json_int_t)m->global_step, "loss", api_num(m->loss),
                     "accuracy", api_num(m->accuracy), "val_loss", api_num(m->val_loss),
                     "val_accuracy", api_num(m->val_accuracy), "lr", api_num(m->lr), "elapsed",
                     api_num(m->elapsed), "samples_per_second", api_num(m->samples_per_sec));
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
    uint64_t seen;                 /* jobs change counter */
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
 * for the keep-alive interval.  Any job's change wakes the wait (the
 * counter is shared), so the interval is measured from this stream's last
 * bytes, not from the wake-up. */
static long sse_fill(void *ctx, char *out, size_t max)
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
        int n = fetch(s);
        if (n < 0)
            return -1;
        if (n > 0)
            continue;
        /* nothing new: wait for a change until a keep-alive is due */
        long wait = api_sse_keepalive_in(mono_ms(), s->last_ms, s->keepalive_ms);
        if (wait == 0) {
            if (append(s, ": keep-alive\n\n", 14))
                return -1;
            continue;
        }
        jobs_wait_change(s->app->jobs, &s->seen, (int)wait);
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
    s->seen = jobs_changes(r->app->jobs);
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

/* Flattens one instance (nested arrays in row-major order) into out[0..n). */
static int flatten(const json_t *v, nn_real *out, int64_t n, int64_t *pos, char *path,
                   size_t plen, char *err, size_t errlen)
{
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (*pos >= n) {
            snprintf(err, errlen, "%s: more values than the model's input takes (%lld)", path,
                     (long long)n);
            return -1;
        }
        if (!isfinite(d) || fabs(d) > 3.4e38) {
            snprintf(err, errlen, "%s: the number is out of range", path);
            return -1;
        }
        out[(*pos)++] = (nn_real)d;
        return 0;
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "%s: expected a number or an array of numbers", path);
        return -1;
    }
    size_t base = strlen(path);
    for (size_t i = 0; i < json_array_size(v); i++) {
        snprintf(path + base, plen - base, "/%zu", i);
        if (flatten(json_array_get(v, i), out, n, pos, path, plen, err, errlen))
            return -1;
    }
    path[base] = 0;
    return 0;
}

/* The dataset's name of class k ("k" when it has none). */
static json_t *class_name(const store_dataset *ds, int k)
{
    return ds->classes && k < ds->n_classes ? json_string(ds->classes[k]) : json_sprintf("%d", k);
}

/* The values p[0..) in the nesting of shape s from dimension `level` on
 * ([T, k] -> T arrays of k numbers); *p advances past them. */
static json_t *nested(const nn_real **p, const nn_shape *s, int level)
{
    json_t *a = json_array();
    for (int i = 0; i < s->dim[level]; i++)
        json_array_append_new(a, level + 1 < s->rank ? nested(p, s, level + 1)
                                                     : json_real(*(*p)++));
    return a;
}

/* One instance's prediction from its outputs y (the model's output shape
 * os).  Classifiers answer per row of the last dimension: one row for an
 * output [C]; with a sequence output [T, C] each of class, class_index and
 * probabilities (or probability) is an array over the T steps.  Anything
 * else is the outputs nested in the output shape. */
static json_t *prediction(nn_loss_kind loss, const nn_shape *os, const nn_real *y,
                          const store_dataset *ds)
{
    int64_t cols = os->dim[os->rank - 1], rows = nn_shape_numel(os) / cols;
    int per_step = os->rank > 1;
    int ce = loss == NN_LOSS_CROSS_ENTROPY, bce = loss == NN_LOSS_BCE && cols == 1;
    if (!ce && !bce)
        return nested(&y, os, 0);
    json_t *names = json_array(), *index = json_array(), *probs = json_array();
    for (int64_t t = 0; t < rows; t++) {
        const nn_real *row = y + t * cols;
        int best = 0;
        if (ce) {
            json_t *pr = json_array();
            for (int64_t k = 0; k < cols; k++) {
                json_array_append_new(pr, json_real(row[k]));
                if (row[k] > row[best])
                    best = (int)k;
            }
            json_array_append_new(probs, pr);
        } else {
            best = row[0] > 0.5f;
            json_array_append_new(probs, json_real(row[0]));
        }
        json_array_append_new(names, class_name(ds, best));
        json_array_append_new(index, json_integer(best));
    }
    const char *pkey = ce ? "probabilities" : "probability";
    if (per_step)
        return json_pack("{s:o,s:o,s:o}", "class", names, "class_index", index, pkey, probs);
    /* one row: its members themselves, not arrays of one */
    json_t *p = json_pack("{s:O,s:O,s:O}", "class", json_array_get(names, 0), "class_index",
                          json_array_get(index, 0), pkey, json_array_get(probs, 0));
    json_decref(names);
    json_decref(index);
    json_decref(probs);
    return p;
}

/* POST /v1/jobs/{id}/predict {"instances": [...]} */
MHD_RESULT api_jobs_predict(http_req *r)
{
    json_t *body = NULL, *def = NULL;
    store_job j = {0};
    store_dataset ds = {0};
    nn_spec spec = {0};
    nn_model *m = NULL;
    nn_real *x = NULL, *y = NULL;
    void *w = NULL;
    size_t wlen = 0;
    char err[512];
    nn_err e;

    if (!(body = http_json_body_or_reply(r)))
        return r->result;
    const json_t *inst = json_object_get(body, "instances");
    if (!json_is_object(body) || !json_is_array(inst) || json_object_size(body) != 1) {
        http_reply_error(r, 400, "malformed_request", "/instances",
                         "expected {\"instances\": [<instance>, ...]}");
        goto out;
    }
    size_t n = json_array_size(inst);
    if (n == 0 || n > (size_t)r->app->cfg.max_predict) {
        http_reply_error(r, n ? 413 : 422, n ? "too_large" : "data_mismatch", "/instances",
                         "send 1 to %d instances per request (--max-predict)",
                         r->app->cfg.max_predict);
        goto out;
    }
    if (get_job(r, &j))
        goto out;
    const char *which = !strcmp(j.state, "succeeded") ? "final"
                        : !strcmp(j.state, "running") ? "latest"
                                                      : NULL;
    if (!which) {
        http_reply_error(r, 409, "conflict", NULL,
                         "job %lld is %s: predictions need a succeeded job (or a running one "
                         "with a checkpoint)",
                         (long long)r->id, j.state);
        goto out;
    }
    int rc = store_weights_get(r->app->store, r->id, which, &w, &wlen, err, sizeof err);
    if (rc == STORE_ENOTFOUND) {
        http_reply_error(r, 409, "conflict", NULL, "job %lld has no %s weights yet",
                         (long long)r->id, which);
        goto out;
    }
    if (rc) {
        api_store_error(r, rc, "reading weights", err);
        goto out;
    }
    spec_json_err je;
    def = json_loads(j.definition, 0, NULL);
    nn_model_opts mo = {.seed = 0, .threads = 1};
    if (!def || spec_json_parse_model(def, &spec, &je) || nn_model_new(&spec, &mo, &m, &e) ||
        nn_model_load_weights_mem(m, w, wlen, &e)) {
        http_reply_error(r, 500, "internal", NULL, "cannot rebuild the job's model");
        goto out;
    }
    int64_t in = nn_model_in_size(m), outn = nn_model_out_size(m);
    x = malloc((size_t)n * (size_t)in * sizeof *x);
    y = malloc((size_t)n * (size_t)outn * sizeof *y);
    if (!x || !y) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char path[256];
        int64_t pos = 0;
        snprintf(path, sizeof path, "/instances/%zu", i);
        if (flatten(json_array_get(inst, i), x + i * (size_t)in, in, &pos, path, sizeof path, err,
                    sizeof err)) {
            http_reply_error(r, 422, "data_mismatch", path, "%s", err);
            goto out;
        }
        if (pos != in) {
            http_reply_error(r, 422, "data_mismatch", path,
                             "an instance has %lld values; the model's input takes %lld",
                             (long long)pos, (long long)in);
            goto out;
        }
    }
    if (nn_model_predict(m, x, (int64_t)n, y, &e)) {
        http_reply_error(r, 500, "internal", NULL, "%s", e.msg);
        goto out;
    }
    if (j.dataset_id > 0)
        store_dataset_get(r->app->store, j.dataset_id, &ds, NULL, 0);
    nn_shape os = nn_model_out_shape(m);
    json_t *preds = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(preds, prediction(spec.loss, &os, y + i * (size_t)outn, &ds));
    http_reply_json(r, 200, json_pack("{s:o}", "predictions", preds));
out:
    json_decref(body);
    json_decref(def);
    store_job_clear(&j);
    store_dataset_clear(&ds);
    nn_spec_free(&spec);
    nn_model_free(m);
    free(x);
    free(y);
    free(w);
    return r->result;
}
