/*
 * api_job_create.c — POST /v1/jobs: a job is checked in full before
 * anything is stored, then stored queued and answered at once.
 *
 * The checks, in the order of the sections below:
 *   body      a JSON object of known keys;
 *   model     a model id or an inline definition;
 *   training  the model's training object, the job's members on top (and
 *             within "preprocess" member by member too), parsed into the
 *             core's configuration and the preprocessing request;
 *   data      the dataset, and validation as a dataset or a split;
 *   fit       how the labels are read (the loss decides: a regression reads
 *             numbers, a classification classes), how many features the
 *             preprocessing makes of the dataset's columns, and whether
 *             those fit the model, for training and validation data alike;
 *   store     the job with what it keeps of its own (class names, how it
 *             reads the label, warnings), answered 201.
 * Each section replies 422 (or 500) itself and returns -1; the handler
 * then stops.
 */
#include "api.h"

#include "columns_json.h"
#include "jobs.h"
#include "log.h"
#include "model.h"
#include "app.h"
#include "spec_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Features differing in scale by more than this, with no scaling asked for,
 * give the job a warning (the spread of standard deviations). */
#define SCALE_WARNING_RATIO 100.0

static const char *const job_keys[] = {"model", "dataset", "validation", "training",
                                       "priority", "checkpoint_every", "log_every_steps", NULL};

/* What the sections build. */
typedef struct job_req {
    json_t *body, *def, *training, *canon, *summary;
    nn_spec spec;
    nn_train_cfg cfg;
    nn_prep_cfg prep;
    store_dataset ds, vs;
    int64_t model_id;
    double split;
    long long prio, ckpt, logn;
    int label_class;               /* the labels are read as classes */
    json_t *warnings;
} job_req;

static void job_req_free(job_req *q)
{
    json_decref(q->body);
    json_decref(q->def);
    json_decref(q->training);
    json_decref(q->canon);
    json_decref(q->summary);
    json_decref(q->warnings);
    nn_spec_free(&q->spec);
    nn_prep_cfg_free(&q->prep);
    store_dataset_clear(&q->ds);
    store_dataset_clear(&q->vs);
}

/* ---------------------------------------------------------------------------
 * The body */

static int check_body(http_req *r, job_req *q)
{
    const char *key;
    json_t *v;
    if (!json_is_object(q->body)) {
        http_reply_error(r, 422, "invalid_job", "", "expected a JSON object");
        return -1;
    }
    json_object_foreach(q->body, key, v) {
        size_t k = 0;
        while (job_keys[k] && strcmp(key, job_keys[k]))
            k++;
        if (!job_keys[k]) {
            char path[300];
            snprintf(path, sizeof path, "/%s", key);
            http_reply_error(r, 422, "invalid_job", path,
                             "unknown key \"%.200s\"; allowed keys: model, dataset, validation, "
                             "training, priority, checkpoint_every, log_every_steps",
                             key);
            return -1;
        }
    }
    return 0;
}

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

/* ---------------------------------------------------------------------------
 * The model */

static int take_model(http_req *r, job_req *q)
{
    char err[256];
    const json_t *mv = json_object_get(q->body, "model");
    if (json_is_integer(mv)) {
        store_model m;
        int rc = store_model_get(r->app->store, json_integer_value(mv), &m, err, sizeof err);
        if (rc == STORE_ENOTFOUND) {
            http_reply_error(r, 422, "unknown_reference", "/model", "there is no model %lld",
                             (long long)json_integer_value(mv));
            return -1;
        }
        if (rc) {
            api_store_error(r, rc, "reading the model", err);
            return -1;
        }
        q->model_id = m.id;
        q->def = json_loads(m.definition, 0, NULL);
        store_model_clear(&m);
    } else if (json_is_object(mv)) {
        q->def = json_deep_copy(mv);
    } else {
        http_reply_error(r, 422, "invalid_job", "/model",
                         mv ? "expected a model id or a model definition (an object)"
                            : "required: a model id or a model definition");
        return -1;
    }
    if (!q->def) {
        http_reply_error(r, 500, "internal", NULL, "cannot read the model's definition");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Training */

/* The job's training object over the model's: member by member, and
 * within "preprocess" member by member too. */
static int merge_training(http_req *r, job_req *q)
{
    json_t *base = json_object_get(q->def, "training");
    q->training = json_is_object(base) ? json_deep_copy(base) : json_object();
    json_object_del(q->def, "training");
    const json_t *jt = json_object_get(q->body, "training");
    if (jt && !json_is_object(jt)) {
        http_reply_error(r, 422, "invalid_job", "/training", "expected an object");
        return -1;
    }
    if (!jt)
        return 0;
    json_t *mp = json_object_get(q->training, "preprocess");
    const json_t *jp = json_object_get(jt, "preprocess");
    json_t *merged = json_is_object(mp) && json_is_object(jp) ? json_deep_copy(mp) : NULL;
    if (merged)
        json_object_update(merged, (json_t *)jp);
    json_object_update(q->training, (json_t *)jt);
    if (merged)
        json_object_set_new(q->training, "preprocess", merged);
    return 0;
}

static int parse_training(http_req *r, job_req *q)
{
    spec_json_err je;
    if (merge_training(r, q) || api_model_check(r, q->def, "/model", &q->spec, &q->cfg, &q->canon,
                                                &q->summary))
        return -1;
    if (spec_json_parse_training(q->training, "/training", &q->cfg, &je) ||
        spec_json_parse_preprocess(q->training, "/training", &q->prep, &je)) {
        http_reply_error(r, 422, "invalid_job", je.path, "%s", je.msg);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Data */

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

static int take_data(http_req *r, job_req *q)
{
    q->split = -1;
    if (!json_object_get(q->body, "dataset")) {
        http_reply_error(r, 422, "invalid_job", "/dataset", "required: the training dataset's id");
        return -1;
    }
    if (dataset_ref(r, json_object_get(q->body, "dataset"), "/dataset", &q->ds))
        return -1;
    const json_t *val = json_object_get(q->body, "validation");
    if (!val)
        return 0;
    const json_t *vd = json_object_get(val, "dataset"), *sp = json_object_get(val, "split");
    if (!json_is_object(val) || json_object_size(val) != 1 || (!vd && !sp)) {
        http_reply_error(r, 422, "invalid_job", "/validation",
                         "expected {\"dataset\": <id>} or {\"split\": <fraction>}");
        return -1;
    }
    if (vd)
        return dataset_ref(r, vd, "/validation/dataset", &q->vs);
    q->split = json_is_number(sp) ? json_number_value(sp) : -1;
    if (!(q->split >= 0 && q->split < 1)) {
        http_reply_error(r, 422, "invalid_job", "/validation/split",
                         "expected a number from 0 up to (not including) 1");
        return -1;
    }
    q->cfg.validation_split = q->split;
    json_object_set_new(q->training, "validation_split", json_real(q->split));
    return 0;
}

/* ---------------------------------------------------------------------------
 * Labels, features and the model */

/* How the loss reads a dataset's labels: classes for the cross-entropies
 * when the dataset has classes, numbers otherwise (a regression reads
 * classes whose names are numbers as their values). */
static int read_labels(http_req *r, job_req *q, const store_dataset *d, const char *path)
{
    int regression = q->spec.loss == NN_LOSS_MSE || q->spec.loss == NN_LOSS_MAE;
    if (d->n_classes > 0 && regression && !nn_class_names_numeric(d->classes, d->n_classes)) {
        http_reply_error(r, 422, "data_mismatch", path,
                         "the labels are text (%d classes, such as \"%.40s\"); a regression "
                         "(loss %s) needs numbers: use a classification loss",
                         d->n_classes, d->classes[0], nn_loss_name(q->spec.loss));
        return -1;
    }
    return d->n_classes > 0 && !regression;
}

/* The shape a sample of d has once preprocessed: a table's width from its
 * column descriptions (nn_prep_width), other data unchanged. */
static int sample_shape(http_req *r, job_req *q, const store_dataset *d, nn_shape *xs)
{
    nn_column *cols = NULL;
    int n_cols = 0;
    nn_err e;
    int64_t width, f = 1;
    xs->rank = d->x_rank - 1;
    for (int i = 0; i < xs->rank; i++) {
        xs->dim[i] = (int)d->x_shape[i + 1];
        f *= d->x_shape[i + 1];
    }
    if (d->columns) {
        json_t *cj = json_loads(d->columns, 0, NULL);
        int bad = columns_from_json(cj, &cols, &n_cols) < 0;
        json_decref(cj);
        if (bad) {
            http_reply_error(r, 500, "internal", NULL, "dataset %lld: damaged column descriptions",
                             (long long)d->id);
            return -1;
        }
    }
    int rc = nn_prep_width(&q->prep, cols, n_cols, f, &width, &e);
    nn_columns_free(cols, n_cols);
    if (rc) {
        char path[96];
        if (e.layer >= 0)
            snprintf(path, sizeof path, "/training/preprocess/%s/%d", e.field, e.layer);
        else
            snprintf(path, sizeof path, "/training/preprocess%s%s", e.field[0] ? "/" : "",
                     e.field);
        http_reply_error(r, rc == NN_ENOMEM ? 500 : 422, rc == NN_ENOMEM ? "internal"
                                                                         : "invalid_job",
                         path, "%s", e.msg);
        return -1;
    }
    if (d->columns) {
        xs->rank = 1;
        xs->dim[0] = (int)width;
    }
    return 0;
}

/* Whether dataset d fits the model, its labels read as classes or not. */
static int fits(http_req *r, job_req *q, const store_dataset *d, int as_class, const char *what,
                const char *path)
{
    nn_model *m;
    nn_err e;
    nn_model_opts mo = {.shape_only = 1};
    nn_shape xs = {0}, ys = {0};
    if (sample_shape(r, q, d, &xs))
        return -1;
    if (nn_model_new(&q->spec, &mo, &m, &e)) {
        http_reply_error(r, 422, "invalid_model", "/model", "%s", e.msg);
        return -1;
    }
    ys.rank = d->y_rank - 1;
    for (int i = 0; i < ys.rank; i++)
        ys.dim[i] = (int)d->y_shape[i + 1];
    if (!as_class && d->n_classes > 0) {   /* classes read as their numbers: one per sample */
        ys.rank = 1;
        ys.dim[0] = 1;
    }
    int rc = nn_data_fits(m, &xs, as_class ? d->n_classes : 0, &ys, what, &e);
    nn_model_free(m);
    if (rc) {
        int64_t raw = d->x_rank == 2 ? d->x_shape[1] : 0;
        if (d->columns && xs.dim[0] != raw)
            http_reply_error(r, 422, "data_mismatch", path,
                             "%s (preprocessing makes %d features of the %lld columns: text "
                             "and categorical columns become one feature per category)",
                             e.msg, xs.dim[0], (long long)raw);
        else
            http_reply_error(r, 422, "data_mismatch", path, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* The scale warning (a field of the job and a log line, not an error). */
static void scale_warning(job_req *q)
{
    int scaled = q->prep.min_max || q->prep.standardize == 1 ||
                 (q->prep.standardize == NN_PREP_DEFAULT && q->ds.columns);
    json_t *fs = q->ds.feature_scale ? json_loads(q->ds.feature_scale, 0, NULL) : NULL;
    double ratio = json_number_value(json_object_get(fs, "ratio"));
    if (!scaled && ratio > SCALE_WARNING_RATIO) {
        const char *hi = json_string_value(json_object_get(fs, "max_feature"));
        const char *lo = json_string_value(json_object_get(fs, "min_feature"));
        json_array_append_new(
            q->warnings,
            json_sprintf("features differ in scale by %.0fx (standard deviation of '%s' %.4g, of "
                         "'%s' %.4g) and no scaling is asked for: set "
                         "training.preprocess.standardize to true",
                         ratio, hi ? hi : "?",
                         json_number_value(json_object_get(fs, "max_std")), lo ? lo : "?",
                         json_number_value(json_object_get(fs, "min_std"))));
    }
    json_decref(fs);
}

/* Whether two datasets have the same column names in the same order (or
 * are both not tables). */
static int same_columns(const store_dataset *a, const store_dataset *b)
{
    if (!a->columns || !b->columns)
        return !a->columns && !b->columns;
    json_t *ca = json_loads(a->columns, 0, NULL), *cb = json_loads(b->columns, 0, NULL);
    int same = json_array_size(ca) == json_array_size(cb) && json_is_array(ca);
    for (size_t i = 0; same && i < json_array_size(ca); i++)
        same = json_equal(json_object_get(json_array_get(ca, i), "name"),
                          json_object_get(json_array_get(cb, i), "name"));
    json_decref(ca);
    json_decref(cb);
    return same;
}

static int check_fit(http_req *r, job_req *q)
{
    if (nn_train_needs_validation(&q->cfg) && q->vs.id == 0 && q->cfg.validation_split == 0) {
        http_reply_error(r, 422, "invalid_job", "/training/early_stopping/monitor",
                         "early stopping watches a validation metric but the job has no "
                         "validation data: set validation {\"split\": …} or {\"dataset\": …}");
        return -1;
    }
    if (int_member(r, q->body, "priority", -1000000, 1000000, 0, &q->prio) ||
        int_member(r, q->body, "checkpoint_every", 1, 1000000, 1, &q->ckpt) ||
        int_member(r, q->body, "log_every_steps", 0, 1000000000, 0, &q->logn))
        return -1;
    if ((q->label_class = read_labels(r, q, &q->ds, "/dataset")) < 0 ||
        fits(r, q, &q->ds, q->label_class, "training", "/dataset"))
        return -1;
    if (q->vs.id) {
        int vc = read_labels(r, q, &q->vs, "/validation/dataset");
        if (vc < 0 || fits(r, q, &q->vs, vc, "validation", "/validation/dataset"))
            return -1;
        if (!same_columns(&q->ds, &q->vs)) {
            http_reply_error(r, 422, "data_mismatch", "/validation/dataset",
                             "the validation dataset's columns differ from the training "
                             "dataset's (the same names in the same order, or both not tables)");
            return -1;
        }
    }
    if (q->vs.id && q->label_class && q->vs.n_classes) {
        /* class indices must mean the same classes in both sets */
        int same = q->ds.n_classes == q->vs.n_classes;
        for (int i = 0; same && i < q->ds.n_classes; i++)
            same = !strcmp(q->ds.classes[i], q->vs.classes[i]);
        if (!same) {
            http_reply_error(r, 422, "data_mismatch", "/validation/dataset",
                             "the validation set's classes differ from the training set's");
            return -1;
        }
    }
    scale_warning(q);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Storing */

static char *classes_text(const job_req *q)
{
    json_t *a = json_array();
    for (int i = 0; q->label_class && i < q->ds.n_classes; i++)
        json_array_append_new(a, json_string(q->ds.classes[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Takes back a job that was stored but could not be answered: cancelled
 * (a worker may have claimed it already), then deleted. */
static int undo_job(store *s, int64_t id, char *err, size_t errlen)
{
    int rc = store_job_cancel(s, id, err, errlen);
    return rc && rc != STORE_ECONFLICT ? rc : store_job_delete(s, id, err, errlen);
}

static int store_it(http_req *r, job_req *q)
{
    store_job j = {0};
    char err[256];
    int64_t id = 0;
    int rc = -1;
    json_t *mdump = spec_json_dump_model(&q->spec);
    json_t *tdump = spec_json_dump_training_prep(&q->cfg, &q->prep);
    j.definition = mdump ? json_dumps(mdump, SPEC_JSON_DUMP_FLAGS) : NULL;
    j.training = tdump ? json_dumps(tdump, SPEC_JSON_DUMP_FLAGS) : NULL;
    j.classes = classes_text(q);
    j.warnings = json_dumps(q->warnings, JSON_COMPACT);
    json_decref(mdump);
    json_decref(tdump);
    if (!j.definition || !j.training || !j.classes || !j.warnings) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    snprintf(j.label_as, sizeof j.label_as, "%s", q->label_class ? "class" : "numeric");
    j.model_id = q->model_id;
    j.dataset_id = q->ds.id;
    j.val_dataset_id = q->vs.id;
    j.val_split = q->split;
    j.priority = (int)q->prio;
    j.checkpoint_every = (int)q->ckpt;
    j.log_every_steps = (int)q->logn;
    j.epochs = q->cfg.epochs;
    if ((rc = store_job_insert(r->app->store, &j, &id, err, sizeof err))) {
        api_store_error(r, rc, "storing the job", err);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(q->warnings); i++)
        log_job(LOG_WARN, id, "job %lld: %s", (long long)id,
                json_string_value(json_array_get(q->warnings, i)));
    /* the answer is read before the workers hear of the job, so that an
     * idle server answers it queued and first in line, as it was stored */
    store_job got;
    json_t *answer = NULL;
    if (store_job_get(r->app->store, id, &got, err, sizeof err) == 0) {
        answer = api_job_json(r, &got);
        store_job_clear(&got);
    }
    api_reply_created(r, "/v1/jobs", id, answer, undo_job);
    jobs_notify(r->app->jobs);
    rc = r->status == 201 ? 0 : -1;
out:
    free(j.definition);
    free(j.training);
    free(j.classes);
    free(j.warnings);
    return rc ? -1 : 0;
}

/* POST /v1/jobs {"model", "dataset", "validation", "training", "priority",
 *                "checkpoint_every", "log_every_steps"} */
MHD_RESULT api_jobs_create(http_req *r)
{
    job_req q = {0};
    nn_prep_cfg_default(&q.prep);
    if (!(q.body = http_json_body_or_reply(r)))
        return r->result;
    q.warnings = json_array();
    if (!check_body(r, &q) && !take_model(r, &q) && !parse_training(r, &q) && !take_data(r, &q) &&
        !check_fit(r, &q))
        store_it(r, &q);
    job_req_free(&q);
    return r->result;
}
