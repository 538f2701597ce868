/*
 * jobs.c — the workers (see jobs.h).
 *
 * A worker loops: claim the next queued job, train it, finish it; when the
 * queue is empty it sleeps until jobs_notify() or a second passes.  Training
 * reports through the core's callbacks:
 *   on_step      updates the live progress (and, with log_every_steps, a
 *                metric row);
 *   on_epoch     hands to the job's writer thread what one store
 *                transaction then writes: the epoch's metric row, the
 *                progress columns, the best weights when the epoch is the
 *                best so far, and every checkpoint_every epochs the trainer's
 *                full state and the latest weights.  Training goes on while
 *                the writer waits for the disk; at most WRITE_QUEUE epochs
 *                wait to be written, and the job ends only after all are;
 *   should_stop  answers the cancel flag (stop, keep the weights) and the
 *                daemon's stop flag (pause: write a checkpoint, requeue).
 * A job resumed from a checkpoint continues bit for bit (core/train.h), and
 * epochs re-run after a crash find their metric rows already written (the
 * store keeps the first, so none is duplicated).
 */
#include "jobs.h"

#include "log.h"
#include "metric_json.h"
#include "prep_json.h"
#include "weights_meta.h"
#include "model.h"
#include "app.h"
#include "spec_json.h"
#include "store.h"
#include "train.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct worker {
    jobs *owner;
    pthread_t thread;
    int index;
    /* the job being trained, guarded by owner->mu */
    int64_t job_id;
    int cancel;
    jobs_live live;
} worker;

struct jobs {
    app *app;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t changes;
    jobs_totals totals;            /* steps and epochs trained, for /metrics */
    int stop;
    int n;
    worker *w;
};

/* ---------------------------------------------------------------------------
 * Change notification */

static void bump(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->changes++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void jobs_notify(jobs *j)
{
    if (j)
        bump(j);
}

uint64_t jobs_changes(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    uint64_t c = j->changes;
    pthread_mutex_unlock(&j->mu);
    return c;
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

int jobs_wait_change(jobs *j, uint64_t *seen, int timeout_ms)
{
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&j->mu);
    while (j->changes == *seen && !j->stop && !atomic_load(&j->app->stopping))
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) != 0)
            break;
    int changed = j->changes != *seen;
    *seen = j->changes;
    pthread_mutex_unlock(&j->mu);
    return changed;
}

void jobs_cancel(jobs *j, int64_t id)
{
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n; i++)
        if (j->w[i].job_id == id)
            j->w[i].cancel = 1;
    j->changes++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

int jobs_live_progress(jobs *j, int64_t id, jobs_live *out)
{
    int found = 0;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n && !found; i++)
        if (j->w[i].job_id == id) {
            *out = j->w[i].live;
            found = 1;
        }
    pthread_mutex_unlock(&j->mu);
    return found;
}

int jobs_running(jobs *j, int64_t *ids, jobs_live *live, int max)
{
    int n = 0;
    if (!j)
        return 0;
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n && n < max; i++)
        if (j->w[i].job_id > 0) {
            ids[n] = j->w[i].job_id;
            live[n] = j->w[i].live;
            n++;
        }
    pthread_mutex_unlock(&j->mu);
    return n;
}

void jobs_get_totals(jobs *j, jobs_totals *out)
{
    *out = (jobs_totals){0};
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    *out = j->totals;
    pthread_mutex_unlock(&j->mu);
}

int jobs_workers(jobs *j)
{
    return j ? j->n : 0;
}

/* ---------------------------------------------------------------------------
 * One job */

#define WRITE_QUEUE 4
/* Longest wait between two claims after the store failed, in ms. */
#define CLAIM_BACKOFF_MAX_MS 60000

/* One store_job_progress call waiting to be made; owns its strings and blobs. */
typedef struct pending {
    struct pending *next;
    store_progress p;
    char kind[8];
    char *last, *best;
    void *ckpt, *latest, *bestw;
} pending;

typedef struct run {
    worker *w;
    store *st;
    store_job *job;
    nn_model *m;
    nn_trainer *t;
    char *best_json;
    weights_meta meta;             /* every weights file's metadata (weights_meta.h) */
    /* the writer thread and its queue, guarded by wmu */
    pthread_t writer;
    int writer_up;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    pending *head, *tail;
    int queued, busy, closing;
    char failure[512];             /* a store write failed: the job fails */
} run;

static void set_live(run *r, const nn_step_info *s)
{
    jobs *j = r->w->owner;
    pthread_mutex_lock(&j->mu);
    jobs_live *l = &r->w->live;
    l->epoch = s->epoch;
    l->step = s->step;
    l->steps_per_epoch = s->steps_per_epoch;
    l->samples_per_sec = s->samples_per_sec;
    l->elapsed = s->elapsed;
    double steps_left = (double)(l->epochs - s->epoch) * s->steps_per_epoch +
                        (s->steps_per_epoch - s->step);
    double per_step = s->global_step > 0 && s->elapsed > 0 ? s->elapsed / (double)s->global_step : 0;
    l->eta_seconds = steps_left * per_step;
    j->totals.steps++;
    pthread_mutex_unlock(&j->mu);
}

static void write_failed(run *r, const char *what, const char *err)
{
    pthread_mutex_lock(&r->wmu);
    if (!r->failure[0])
        snprintf(r->failure, sizeof r->failure, "cannot write %s: %s", what, err);
    pthread_mutex_unlock(&r->wmu);
}

static int failed(run *r)
{
    pthread_mutex_lock(&r->wmu);
    int f = r->failure[0] != 0;
    pthread_mutex_unlock(&r->wmu);
    return f;
}

static void pending_free(pending *q)
{
    if (!q)
        return;
    free(q->last);
    free(q->best);
    free(q->ckpt);
    free(q->latest);
    free(q->bestw);
    free(q);
}

static void *writer_main(void *arg)
{
    run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->wmu);
        while (!r->head && !r->closing)
            pthread_cond_wait(&r->wcv, &r->wmu);
        pending *q = r->head;
        if (!q) {
            pthread_mutex_unlock(&r->wmu);
            break;
        }
        r->head = q->next;
        if (!r->head)
            r->tail = NULL;
        r->busy = 1;
        pthread_mutex_unlock(&r->wmu);
        char err[256];
        if (store_job_progress(r->st, r->job->id, &q->p, NULL, err, sizeof err))
            write_failed(r, "the job's progress", err);
        pending_free(q);
        bump(r->w->owner);
        pthread_mutex_lock(&r->wmu);
        r->busy = 0;
        r->queued--;
        pthread_cond_broadcast(&r->wcv);
        pthread_mutex_unlock(&r->wmu);
    }
    return NULL;
}

/* Queues a write; waits while WRITE_QUEUE are already waiting. Takes q. */
static void enqueue(run *r, pending *q)
{
    pthread_mutex_lock(&r->wmu);
    while (r->queued >= WRITE_QUEUE)
        pthread_cond_wait(&r->wcv, &r->wmu);
    q->next = NULL;
    if (r->tail)
        r->tail->next = q;
    else
        r->head = q;
    r->tail = q;
    r->queued++;
    pthread_cond_broadcast(&r->wcv);
    pthread_mutex_unlock(&r->wmu);
}

/* Waits until everything queued is written, then stops the writer. */
static void writer_close(run *r)
{
    if (!r->writer_up)
        return;
    pthread_mutex_lock(&r->wmu);
    r->closing = 1;
    pthread_cond_broadcast(&r->wcv);
    pthread_mutex_unlock(&r->wmu);
    pthread_join(r->writer, NULL);
    r->writer_up = 0;
}

static pending *new_pending(const char *kind)
{
    pending *q = calloc(1, sizeof *q);
    if (q) {
        snprintf(q->kind, sizeof q->kind, "%s", kind);
        q->p.kind = q->kind;
    }
    return q;
}

/* The model's weights as a safetensors file with the job's metadata. */
static int save_weights(run *r, void **buf, size_t *len, nn_err *e)
{
    return nn_model_save_weights_mem(r->m, r->meta.kv, r->meta.n, buf, len, e);
}

static void on_step(void *user, const nn_step_info *s)
{
    run *r = user;
    set_live(r, s);
    int every = r->job->log_every_steps;
    if (every <= 0 || s->global_step % every != 0 || s->step == s->steps_per_epoch)
        return;
    pending *q = new_pending("step");
    if (!q) {
        write_failed(r, "a metric row", "out of memory");
        return;
    }
    q->p = (store_progress){.kind = q->kind, .epoch = s->epoch, .step = s->step,
                            .global_step = s->global_step, .loss = s->loss, .accuracy = NAN,
                            .val_loss = NAN, .val_accuracy = NAN, .lr = s->lr,
                            .elapsed = s->elapsed, .samples_per_sec = s->samples_per_sec,
                            .epochs = r->job->epochs, .steps_per_epoch = s->steps_per_epoch};
    enqueue(r, q);
}

static void on_epoch(void *user, const nn_epoch_metrics *m)
{
    run *r = user;
    nn_err e;
    pthread_mutex_lock(&r->w->owner->mu);
    r->w->owner->totals.epochs++;
    pthread_mutex_unlock(&r->w->owner->mu);
    pending *q = new_pending("epoch");
    if (!q) {
        write_failed(r, "the epoch's progress", "out of memory");
        return;
    }
    size_t ckpt_len = 0, latest_len = 0, best_len = 0;
    q->last = metric_json_epoch_text(m);
    if (m->is_best) {
        free(r->best_json);
        r->best_json = q->last ? strdup(q->last) : NULL;
        q->best = r->best_json ? strdup(r->best_json) : NULL;
        if (save_weights(r, &q->bestw, &best_len, &e))
            write_failed(r, "the best weights", e.msg);
    }
    if (m->epoch % (r->job->checkpoint_every > 0 ? r->job->checkpoint_every : 1) == 0) {
        if (nn_trainer_save(r->t, &q->ckpt, &ckpt_len, &e) ||
            save_weights(r, &q->latest, &latest_len, &e))
            write_failed(r, "a checkpoint", e.msg);
    }
    q->p = (store_progress){.kind = q->kind, .epoch = m->epoch,
                            .step = nn_trainer_steps_per_epoch(r->t),
                            .global_step = m->global_step, .loss = m->loss,
                            .accuracy = m->accuracy, .val_loss = m->val_loss,
                            .val_accuracy = m->val_accuracy, .lr = m->lr, .elapsed = m->elapsed,
                            .samples_per_sec = m->samples_per_sec, .epochs = r->job->epochs,
                            .steps_per_epoch = nn_trainer_steps_per_epoch(r->t),
                            .last_metrics = q->last, .best_metrics = q->best,
                            .checkpoint = q->ckpt, .checkpoint_len = ckpt_len,
                            .latest_weights = q->latest, .latest_len = latest_len,
                            .best_weights = q->bestw, .best_len = best_len};
    enqueue(r, q);
}

static int should_stop(void *user)
{
    run *r = user;
    jobs *j = r->w->owner;
    pthread_mutex_lock(&j->mu);
    int stop = j->stop, cancel = r->w->cancel;
    pthread_mutex_unlock(&j->mu);
    if (cancel || failed(r))
        return NN_HOOK_CANCEL;
    return stop ? NN_HOOK_PAUSE : NN_HOOK_CONTINUE;
}

/* The class names a job keeps (a JSON array) as strings; NULL for none. */
static char **job_classes(const store_job *job, int *n)
{
    json_t *a = job->classes ? json_loads(job->classes, 0, NULL) : NULL;
    char **names = NULL;
    *n = 0;
    size_t k = json_array_size(a);
    if (k && (names = calloc(k, sizeof *names)))
        for (size_t i = 0; i < k; i++) {
            const char *v = json_string_value(json_array_get(a, i));
            names[i] = strdup(v ? v : "");
            *n = (int)i + 1;
        }
    json_decref(a);
    return names;
}

static void free_names(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads the labels as the job does: a regression's classes as numbers. */
static int read_labels(const store_job *job, nn_dataset *d, char *err, size_t errlen)
{
    nn_err e;
    if (strcmp(job->label_as, "numeric") || d->n_classes == 0)
        return 0;
    if (nn_dataset_labels_to_targets(d, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* The job's preprocessing: fitted on its training rows at its first start
 * and kept in the store (as text), else read back from it; applied to the
 * training and validation data.  The text is what is applied, first run
 * and resumed alike, so both see the same features bit for bit. */
static int preprocess(run *r, const nn_train_cfg *cfg, const nn_prep_cfg *pc, nn_dataset *train,
                      nn_dataset *val, char **text, char *err, size_t errlen)
{
    store_job *job = r->job;
    nn_prep p = {0};
    nn_err e;
    int rc = -1;
    *text = job->preprocessing ? strdup(job->preprocessing) : NULL;
    if (!*text) {
        int64_t *rows = NULL, *vrows = NULL, n_rows = 0, n_vrows = 0;
        nn_train_cfg c = *cfg;
        if (job->val_dataset_id > 0)
            c.validation_split = 0;
        if (nn_train_split(nn_dataset_len(train), &c, &rows, &n_rows, &vrows, &n_vrows, &e) ||
            nn_prep_fit(pc, train, rows, n_rows, &p, &e)) {
            snprintf(err, errlen, "preprocessing: %s", e.msg);
            free(rows);
            free(vrows);
            goto out;
        }
        free(rows);
        free(vrows);
        /* a table keeps even an identity: its column names read predict's instances */
        *text = nn_prep_is_identity(&p) && !p.table ? strdup("null") : prep_json_text(&p);
        nn_prep_free(&p);
        if (!*text || store_job_set_preprocessing(r->st, job->id, *text, err, errlen))
            goto out;
    }
    if (!strcmp(*text, "null")) {
        rc = 0;
        goto out;
    }
    int64_t unseen = 0;
    if (prep_json_parse_text(*text, &p, err, errlen) || nn_prep_apply(&p, train, NULL, &e) ||
        (job->val_dataset_id > 0 && nn_prep_apply(&p, val, &unseen, &e))) {
        if (!err[0])
            snprintf(err, errlen, "preprocessing: %s", e.msg);
        goto out;
    }
    if (unseen)
        log_job(LOG_WARN, job->id, "job %lld: %lld validation values are categories the training "
                "data do not have (encoded as all zeros)", (long long)job->id, (long long)unseen);
    rc = 0;
out:
    nn_prep_free(&p);
    return rc;
}

/* Builds everything a job needs; on failure err says why (the job fails). */
static int prepare(run *r, nn_spec *spec, nn_train_cfg *cfg, nn_dataset *train, nn_dataset *val,
                   char *err, size_t errlen)
{
    store_job *job = r->job;
    spec_json_err je;
    json_error_t jerr;
    json_t *def = json_loads(job->definition, 0, &jerr);
    json_t *tr = json_loads(job->training, 0, &jerr);
    nn_prep_cfg pc;
    char *ptext = NULL, **classes = NULL;
    int n_classes = 0, rc = -1;
    nn_prep_cfg_default(&pc);
    err[0] = 0;
    if (!def || !tr) {
        snprintf(err, errlen, "the job's definition is not JSON: %s", jerr.text);
        goto out;
    }
    if (spec_json_parse_model(def, spec, &je) ||
        spec_json_parse_training(tr, "/training", cfg, &je) ||
        spec_json_parse_preprocess(tr, "/training", &pc, &je)) {
        snprintf(err, errlen, "the job's definition is invalid: %s: %s", je.path, je.msg);
        goto out;
    }
    if (store_dataset_load(r->st, job->dataset_id, train, err, errlen) ||
        (job->val_dataset_id > 0 &&
         store_dataset_load(r->st, job->val_dataset_id, val, err, errlen)) ||
        read_labels(job, train, err, errlen) || read_labels(job, val, err, errlen) ||
        preprocess(r, cfg, &pc, train, val, &ptext, err, errlen))
        goto out;
    classes = job_classes(job, &n_classes);
    if (weights_meta_build(&r->meta, spec, cfg, &pc, classes, n_classes,
                           strcmp(ptext, "null") ? ptext : NULL)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    nn_err e;
    nn_model_opts mo = {.seed = cfg->seed, .threads = job->threads > 0 ? job->threads : 1};
    if (nn_model_new(spec, &mo, &r->m, &e) ||
        nn_trainer_new(r->m, cfg, train, job->val_dataset_id > 0 ? val : NULL, &r->t, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        goto out;
    }
    void *ckpt = NULL;
    size_t len = 0;
    int c = store_checkpoint_get(r->st, job->id, &ckpt, &len, err, errlen);
    if (c == STORE_OK) {
        c = nn_trainer_load(r->t, ckpt, len, &e);
        free(ckpt);
        if (c) {
            snprintf(err, errlen, "cannot resume from the checkpoint: %s", e.msg);
            goto out;
        }
        log_job(LOG_INFO, job->id, "job %lld: resuming from its checkpoint",
                (long long)job->id);
    } else if (c != STORE_ENOTFOUND) {
        goto out;
    }
    rc = 0;
out:
    json_decref(def);
    json_decref(tr);
    nn_prep_cfg_free(&pc);
    free_names(classes, n_classes);
    free(ptext);
    return rc;
}

/* Records where training stopped (the last step's epoch and step, from the
 * live progress) when this run took a step: a job cancelled mid-epoch keeps
 * the progress it reached. */
static void record_reached(run *r)
{
    jobs *j = r->w->owner;
    pthread_mutex_lock(&j->mu);
    jobs_live l = r->w->live;
    pthread_mutex_unlock(&j->mu);
    char err[256];
    if (l.epoch > 0 && store_job_reached(r->st, r->job->id, l.epoch, l.step, l.steps_per_epoch,
                                         err, sizeof err))
        log_job(LOG_WARN, r->job->id, "job %lld: cannot record where it stopped: %s",
                (long long)r->job->id, err);
}

static void finish(run *r, const char *state, const char *reason, const char *error)
{
    char err[256];
    void *w = NULL;
    size_t len = 0;
    nn_err e;
    record_reached(r);
    if (r->m && save_weights(r, &w, &len, &e))
        log_job(LOG_ERROR, r->job->id, "job %lld: cannot serialise its weights: %s",
                (long long)r->job->id, e.msg);
    int rc = store_job_finish(r->st, r->job->id, state, reason, error, w, len, err, sizeof err);
    store_job now;
    /* a cancel that came first turns a success into a cancel (store.h) */
    if (!rc && !strcmp(state, "succeeded") &&
        store_job_get(r->st, r->job->id, &now, err, sizeof err) == 0) {
        if (!strcmp(now.state, "cancelled"))
            state = reason = "cancelled";
        store_job_clear(&now);
    }
    if (rc)
        log_job(LOG_ERROR, r->job->id, "job %lld: cannot record its end: %s",
                (long long)r->job->id, err);
    else
        log_job(LOG_INFO, r->job->id, "job %lld: %s%s%s%s%s", (long long)r->job->id, state,
                reason && *reason ? " (" : "", reason ? reason : "", reason && *reason ? ")" : "",
                error ? "" : "");
    if (error)
        log_job(LOG_WARN, r->job->id, "job %lld: %s", (long long)r->job->id, error);
    free(w);
}

static void run_job(worker *w, store_job *job)
{
    app *a = w->owner->app;
    run r = {.w = w, .st = a->store, .job = job};
    pthread_mutex_init(&r.wmu, NULL);
    pthread_cond_init(&r.wcv, NULL);
    nn_spec spec = {0};
    nn_train_cfg cfg;
    nn_dataset train = {0}, val = {0};
    char err[512] = "";
    log_job(LOG_INFO, job->id, "job %lld: running (attempt %d, %d threads)", (long long)job->id,
            job->attempts, job->threads);
    if (prepare(&r, &spec, &cfg, &train, &val, err, sizeof err)) {
        finish(&r, "failed", "", err);
        goto out;
    }
    pthread_mutex_lock(&w->owner->mu);
    w->live = (jobs_live){.epochs = cfg.epochs, .steps_per_epoch = nn_trainer_steps_per_epoch(r.t)};
    pthread_mutex_unlock(&w->owner->mu);
    job->epochs = cfg.epochs;

    if (pthread_create(&r.writer, NULL, writer_main, &r) != 0) {
        finish(&r, "failed", "", "cannot start the job's writer thread");
        goto out;
    }
    r.writer_up = 1;
    nn_callbacks cb = {&r, on_step, on_epoch, should_stop};
    nn_train_result res;
    nn_err e;
    int rc = nn_trainer_run(r.t, &cb, &res, &e);
    writer_close(&r);   /* every epoch written before the job's end */
    if (rc) {
        finish(&r, "failed", "", e.msg);
        goto out;
    }
    if (r.failure[0]) {
        finish(&r, "failed", "", r.failure);
        goto out;
    }
    switch (res.reason) {
    case NN_STOP_PAUSED: {
        /* the daemon is stopping: keep the state reached, the job is requeued */
        void *ckpt = NULL, *latest = NULL;
        size_t cl = 0, ll = 0;
        if (nn_trainer_save(r.t, &ckpt, &cl, &e) == NN_OK &&
            save_weights(&r, &latest, &ll, &e) == NN_OK &&
            store_job_checkpoint(r.st, job->id, res.epochs_done + 1, ckpt, cl, latest, ll, err,
                                 sizeof err) == STORE_OK)
            log_job(LOG_INFO, job->id, "job %lld: paused at a checkpoint", (long long)job->id);
        else
            log_job(LOG_WARN, job->id,
                    "job %lld: paused; it will resume from its last epoch checkpoint",
                    (long long)job->id);
        free(ckpt);
        free(latest);
        break;
    }
    case NN_STOP_CANCELLED:
        finish(&r, "cancelled", "cancelled", NULL);
        break;
    case NN_STOP_DIVERGED:
        /* a training step diverges inside the next epoch; a validation loss
         * at the end of the last completed one */
        if (res.epochs_done > 0 && nn_trainer_val_len(r.t) > 0 && !isfinite(res.last.val_loss))
            snprintf(err, sizeof err, "the validation loss became NaN or infinite in epoch %d",
                     res.epochs_done);
        else
            snprintf(err, sizeof err, "the loss became NaN or infinite in epoch %d",
                     res.epochs_done + 1);
        finish(&r, "failed", "diverged", err);
        break;
    default:
        finish(&r, "succeeded", nn_stop_reason_name(res.reason), NULL);
        break;
    }
out:
    writer_close(&r);
    pthread_mutex_destroy(&r.wmu);
    pthread_cond_destroy(&r.wcv);
    nn_trainer_free(r.t);
    nn_model_free(r.m);
    nn_dataset_free(&train);
    nn_dataset_free(&val);
    nn_spec_free(&spec);
    free(r.best_json);
    weights_meta_free(&r.meta);
}

/* ---------------------------------------------------------------------------
 * Workers */

static void *worker_main(void *arg)
{
    worker *w = arg;
    jobs *j = w->owner;
    app *a = j->app;
    int backoff = 0;   /* ms; > 0 after a failed claim */
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int stop = j->stop;
        uint64_t seen = j->changes;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            break;
        store_job job;
        char err[256];
        int rc = store_job_claim(a->store, a->cfg.threads, &job, err, sizeof err);
        if (rc == STORE_OK) {
            backoff = 0;
            pthread_mutex_lock(&j->mu);
            w->job_id = job.id;
            w->cancel = job.cancel_requested;
            w->live = (jobs_live){0};
            j->changes++;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
            run_job(w, &job);
            pthread_mutex_lock(&j->mu);
            w->job_id = 0;
            w->cancel = 0;
            j->changes++;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
            store_job_clear(&job);
            continue;
        }
        /* a failing store (a full disk, say): retries back off from 1 s to
         * CLAIM_BACKOFF_MAX_MS, each failure logged with the wait */
        if (rc != STORE_ENOTFOUND) {
            backoff = backoff ? 2 * backoff : 1000;
            if (backoff > CLAIM_BACKOFF_MAX_MS)
                backoff = CLAIM_BACKOFF_MAX_MS;
            log_msg(LOG_ERROR, "worker %d: cannot claim a job: %s (next try in %d s)", w->index,
                    err, backoff / 1000);
        } else {
            if (backoff)
                log_msg(LOG_INFO, "worker %d: the store answers again", w->index);
            backoff = 0;
        }
        /* nothing queued: sleep until something changes (or a second
         * passes); after an error, for the whole backoff */
        pthread_mutex_lock(&j->mu);
        struct timespec ts;
        deadline_in(&ts, backoff ? backoff : 1000);
        while (!j->stop && (backoff || j->changes == seen))
            if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) != 0)
                break;
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

int jobs_start(app *a, jobs **out, char *err, size_t errlen)
{
    *out = NULL;
    int n = 0;
    if (store_job_requeue_running(a->store, &n, err, errlen))
        return -1;
    if (n)
        log_msg(LOG_INFO, "%d job%s left running by the last process back in the queue", n,
                n == 1 ? "" : "s");
    jobs *j = calloc(1, sizeof *j);
    if (!j || !(j->w = calloc((size_t)a->cfg.workers, sizeof *j->w))) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->app = a;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    for (int i = 0; i < a->cfg.workers; i++) {
        j->w[i].owner = j;
        j->w[i].index = i;
        if (pthread_create(&j->w[i].thread, NULL, worker_main, &j->w[i]) != 0) {
            snprintf(err, errlen, "cannot start worker %d", i);
            jobs_stop(j);
            return -1;
        }
        j->n = i + 1;
    }
    *out = j;
    return 0;
}

void jobs_stop(jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    j->changes++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n; i++)
        pthread_join(j->w[i].thread, NULL);
    int n = 0;
    char err[256];
    if (store_job_requeue_running(j->app->store, &n, err, sizeof err))
        log_msg(LOG_ERROR, "cannot requeue the running jobs: %s", err);
    else if (n)
        log_msg(LOG_INFO, "%d running job%s requeued; %s resume at the next start", n,
                n == 1 ? "" : "s", n == 1 ? "it will" : "they will");
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->w);
    free(j);
}
