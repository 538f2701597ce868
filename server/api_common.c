/*
 * api_common.c — what the handlers share: store errors as HTTP answers (and
 * the DELETE by id that is nothing else), the JSON of datasets, models and
 * jobs, and the operations routes.
 */
#include "api.h"

#include "jobs.h"
#include "log.h"
#include "metric_json.h"
#include "app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *api_parse_or_null(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : json_null();
}

MHD_RESULT api_store_error(http_req *r, int rc, const char *what, const char *err)
{
    switch (rc) {
    case STORE_ENOTFOUND:
        return http_reply_error(r, 404, "not_found", NULL, "%s not found", what);
    case STORE_ECONFLICT:
        return http_reply_error(r, 409, "conflict", NULL, "%s", err && *err ? err : what);
    case STORE_EINVAL:
        return http_reply_error(r, 413, "too_large", NULL, "%s", err);
    case STORE_EFULL:
        return http_reply_error(r, 507, "insufficient_storage", NULL,
                                "%s: the disk is full (nothing was written); deleting datasets, "
                                "jobs or models frees space, and works on a full disk", what);
    default:
        return http_reply_error(r, 500, "internal", NULL, "%s: %s", what, err ? err : "");
    }
}

MHD_RESULT api_store_error_id(http_req *r, int rc, const char *kind, const char *err)
{
    char what[64];
    snprintf(what, sizeof what, "%s %lld", kind, (long long)r->id);
    return api_store_error(r, rc, what, err);
}

MHD_RESULT api_delete_by_id(http_req *r, const char *kind,
                            int (*del)(store *, int64_t, char *, size_t))
{
    char err[256];
    int rc = del(r->app->store, r->id, err, sizeof err);
    if (rc)
        return api_store_error_id(r, rc, kind, err);
    return http_reply_empty(r, 204);
}

/* Removes the row of a create that could not be answered; says so in the
 * log when even that fails (the row then stays, the client got a 500). */
static void undo_create(http_req *r, const char *collection, int64_t id,
                        int (*undo)(store *, int64_t, char *, size_t))
{
    char err[256];
    if (undo(r->app->store, id, err, sizeof err))
        log_msg(LOG_ERROR, "%s/%lld: stored, but neither answered nor removed: %s", collection,
                (long long)id, err);
}

MHD_RESULT api_reply_created(http_req *r, const char *collection, int64_t id, json_t *answer,
                             int (*undo)(store *, int64_t, char *, size_t))
{
    char *text = answer ? json_dumps(answer, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(answer);
    size_t n = text ? strlen(text) : 0;
    char *t = text ? realloc(text, n + 2) : NULL;
    if (!t) {
        free(text);
        undo_create(r, collection, id, undo);
        return http_reply_error(r, 500, "internal", NULL,
                                "the new row could not be answered, so it was not kept");
    }
    t[n++] = '\n';
    t[n] = 0;
    char loc[96];
    snprintf(loc, sizeof loc, "%s/%lld", collection, (long long)id);
    http_add_header(r, "Location", loc);
    MHD_RESULT res = http_reply_bytes(r, 201, "application/json", t, n, NULL);
    if (r->status != 201)   /* no response could be queued: the connection closes */
        undo_create(r, collection, id, undo);
    return res;
}

static json_t *shape_json(int rank, const int64_t *dim)
{
    json_t *a = json_array();
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer((json_int_t)dim[i]));
    return a;
}

/* How the labels can be read: "class" when there are classes, "numeric"
 * when they are numbers (targets, or classes whose names are numbers: a
 * regression then reads them as values). */
static json_t *label_json(const store_dataset *d)
{
    json_t *as = json_array();
    if (d->n_classes > 0)
        json_array_append_new(as, json_string("class"));
    if (d->n_classes == 0 || nn_class_names_numeric(d->classes, d->n_classes))
        json_array_append_new(as, json_string("numeric"));
    return json_pack("{s:o,s:o}", "column",
                     d->label_name ? json_string(d->label_name) : json_null(), "as", as);
}

/* The columns; in a list (full 0) text columns show their category count
 * instead of the categories. */
static json_t *columns_or_null(const store_dataset *d, int full)
{
    json_t *c = api_parse_or_null(d->columns);
    size_t i;
    json_t *col;
    if (!full && json_is_array(c))
        json_array_foreach(c, i, col) {
            json_t *cats = json_object_get(col, "categories");
            if (cats) {
                json_object_set_new(col, "n_categories", json_integer((json_int_t)json_array_size(cats)));
                json_object_del(col, "categories");
            }
        }
    return c;
}

json_t *api_dataset_json(const store_dataset *d, int full)
{
    json_t *classes = json_array();
    for (int i = 0; d->classes && i < d->n_classes; i++)
        json_array_append_new(classes, json_string(d->classes[i]));
    json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:o,s:o,s:i,s:o,s:I,s:s,s:s}", "id",
                          (json_int_t)d->id, "name", d->name ? d->name : "", "format",
                          d->format ? d->format : "", "n_samples", (json_int_t)d->n_samples,
                          "x_shape", shape_json(d->x_rank, d->x_shape), "y_shape",
                          shape_json(d->y_rank, d->y_shape), "n_classes", d->n_classes,
                          "classes", classes, "bytes", (json_int_t)d->bytes, "sha256",
                          d->sha256, "created_at", d->created_at);
    json_object_set_new(o, "label", label_json(d));
    json_object_set_new(o, "columns", columns_or_null(d, full));
    json_object_set_new(o, "feature_scale", api_parse_or_null(d->feature_scale));
    return o;
}

json_t *api_model_json(const store_model *m)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)m->id, "name",
                     m->name ? m->name : "", "created_at", m->created_at, "definition",
                     api_parse_or_null(m->definition), "summary", api_parse_or_null(m->summary));
}

static json_t *id_or_null(int64_t id)
{
    return id > 0 ? json_integer((json_int_t)id) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* The job's progress: live (every step, from the worker) while it runs
 * here, else as stored: the last epoch written, or where a job that ended
 * mid-epoch stopped (the worker stores that with its end).  fraction is
 * ((epoch - 1) * steps_per_epoch + step) / (epochs * steps_per_epoch), and
 * 1 for a succeeded job (it may stop early). */
static json_t *progress_json(http_req *r, const store_job *j)
{
    jobs_live l;
    int live = !strcmp(j->state, "running") && jobs_live_progress(r->app->jobs, j->id, &l) &&
               l.steps_per_epoch > 0;
    int epoch, epochs = j->epochs, step, spe;
    double sps, eta;
    if (live) {
        epoch = l.epoch;
        epochs = l.epochs;
        step = l.step;
        spe = l.steps_per_epoch;
        sps = l.samples_per_sec;
        eta = l.eta_seconds;
    } else {
        epoch = j->epoch;
        step = j->step;
        spe = j->steps_per_epoch;
        sps = j->samples_per_sec;
        eta = NAN;
    }
    double done = spe > 0 && epochs > 0
                      ? ((double)(epoch > 0 ? epoch - 1 : 0) * spe + step) / ((double)epochs * spe)
                      : 0;
    if (!strcmp(j->state, "succeeded"))
        done = 1;
    return json_pack("{s:i,s:i,s:i,s:i,s:f,s:o,s:o}", "epoch", epoch, "epochs", epochs, "step",
                     step, "steps_per_epoch", spe, "fraction", done > 1 ? 1.0 : done,
                     "samples_per_second", metric_json_num(sps), "eta_seconds",
                     metric_json_num(eta));
}

/* A queued job's place in the queue, read after the job itself: a worker
 * may claim it in between (and the daemon requeue it), so the row is read
 * again until the two reads agree.  Returns the row to show, j or *fresh
 * (which the caller clears), with *pos its position (0 unless queued). */
static const store_job *queue_view(http_req *r, const store_job *j, store_job *fresh, int *pos)
{
    *pos = 0;
    for (int tries = 0; !strcmp(j->state, "queued") && tries < 8; tries++) {
        if (store_job_queue_position(r->app->store, j->id, pos, NULL, 0) || *pos > 0)
            return j;
        store_job next;
        if (store_job_get(r->app->store, j->id, &next, NULL, 0))
            return j;   /* deleted meanwhile: as it was */
        store_job_clear(fresh);
        *fresh = next;
        j = fresh;
    }
    return j;
}

/* The threads a job trains with: what it runs (or ran) with once started;
 * before, the daemon's --threads, which it will get. */
static int job_threads(http_req *r, const store_job *j)
{
    return strcmp(j->state, "queued") && j->threads > 0 ? j->threads : r->app->cfg.threads;
}

json_t *api_job_json(http_req *r, const store_job *j)
{
    store_job fresh = {0};
    int pos;
    j = queue_view(r, j, &fresh, &pos);
    json_t *val = json_null();
    if (j->val_dataset_id > 0)
        val = json_pack("{s:I}", "dataset", (json_int_t)j->val_dataset_id);
    else if (j->val_split >= 0)
        val = json_pack("{s:f}", "split", j->val_split);
    json_t *o = json_pack(
        "{s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:i,s:i,s:i,s:o,s:o,s:o,s:o,s:b,s:i,s:o,s:o,"
        "s:o}",
        "id", (json_int_t)j->id, "state", j->state, "stop_reason", str_or_null(j->stop_reason),
        "error", str_or_null(j->error), "model", id_or_null(j->model_id), "dataset",
        id_or_null(j->dataset_id), "validation", val, "definition",
        api_parse_or_null(j->definition), "training", api_parse_or_null(j->training), "priority",
        j->priority, "checkpoint_every", j->checkpoint_every, "log_every_steps",
        j->log_every_steps, "threads", job_threads(r, j), "created_at", str_or_null(j->created_at),
        "started_at", str_or_null(j->started_at), "finished_at", str_or_null(j->finished_at),
        "queue_position", pos > 0 ? json_integer(pos) : json_null(), "cancel_requested",
        j->cancel_requested, "attempts", j->attempts, "progress", progress_json(r, j),
        "last_metrics", api_parse_or_null(j->last_metrics), "best_metrics",
        api_parse_or_null(j->best_metrics));
    /* what the job keeps of its own (store.h) */
    json_object_set_new(o, "classes", api_parse_or_null(j->classes));
    json_object_set_new(o, "label", j->label_as[0] ? json_string(j->label_as) : json_null());
    json_object_set_new(o, "preprocessing", api_parse_or_null(j->preprocessing));
    json_object_set_new(o, "warnings", j->warnings ? api_parse_or_null(j->warnings) : json_array());
    store_job_clear(&fresh);
    return o;
}

/* GET /healthz */
MHD_RESULT api_healthz(http_req *r)
{
    return http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* GET /readyz */
MHD_RESULT api_readyz(http_req *r)
{
    app *a = r->app;
    int version = a->store ? store_schema_version(a->store) : 0;
    int db_ok = a->store && store_ping(a->store) == STORE_OK;
    int workers = jobs_workers(a->jobs);
    char why[128] = "";
    int full = a->store && store_disk_full(a->store, why, sizeof why);
    json_t *body = json_pack("{s:s,s:s,s:i,s:i,s:s}", "status", "ready", "database",
                             db_ok ? "ok" : "unavailable", "schema_version", version, "workers",
                             workers, "disk", full ? "full" : "ok");
    if (atomic_load(&a->stopping)) {
        json_object_set_new(body, "status", json_string("shutting_down"));
        return http_reply_json(r, 503, body);
    }
    if (full)
        json_object_set_new(body, "reason", json_string(why));
    if (!db_ok || version != store_schema_latest() || workers != a->cfg.workers || full) {
        json_object_set_new(body, "status", json_string("not_ready"));
        return http_reply_json(r, 503, body);
    }
    return http_reply_json(r, 200, body);
}
