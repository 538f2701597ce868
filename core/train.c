/*
 * train.c — the training loop (see train.h).
 *
 * Invariants between steps (where callbacks run and state may be saved):
 *   - `epoch` epochs are complete and `step` steps of epoch epoch+1 are done;
 *   - once epoch_open, perm is the order of epoch epoch+1, drawn from
 *     epoch_rng (the shuffle stream as it stood when that epoch began), so a
 *     loaded state can redraw it instead of storing it; a run paused after
 *     the draw but before the epoch's first step keeps that order;
 *   - sum_loss/seen/correct/counted cover exactly the `step` steps done;
 *   - the model's gradients are dead (each step writes them afresh).
 *
 * A step is one task of the model's team (model.h): each part gathers its
 * rows of the batch, runs them forward, takes the loss of each of its
 * shards, runs them backward; the parts meet; then each adds the shards'
 * losses in shard order (the same sum on every part: a step whose loss is
 * not finite updates nothing) and computes its blocks of the weight
 * gradients, updating each range of parameters as soon as its gradient is
 * complete.  With clip_norm the update waits for a second meeting: every
 * range's sum of squares, added in range order, gives the global norm.
 *
 * The saved state (nn_trainer_save, nn_trainer_load) is train_state.c's.
 */
#include "train.h"

#include "loss.h"
#include "pool.h"
#include "rng.h"
#include "train_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Evaluation runs in batches of the training batch, or of EVAL_MIN rows
 * when that is smaller: the activations are then the ones training
 * reserved (a larger evaluation batch grows every layer's, which cost
 * examples/fmnist-cnn.json about 100 MB at 256 rows), and a small training
 * batch still fills the products' tiles. */
#define EVAL_MIN 32
#define STREAM_SHUFFLE 1
#define STREAM_SPLIT 2
#define STREAM_DROPOUT 3


static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void nn_train_cfg_default(nn_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    nn_optim_cfg_default(&c->optim, NN_OPT_ADAM);
    nn_sched_cfg_default(&c->sched, NN_SCHED_CONSTANT);
    c->clip_norm = 0;
    c->epochs = 10;
    c->batch_size = 32;
    c->validation_split = 0;
    c->seed = 0;
    c->shuffle = 1;
    c->target_loss = NAN;
    c->max_seconds = 0;
    c->early.enabled = 0;
    c->early.monitor = NN_MON_VAL_LOSS;
    c->early.patience = 5;
    c->early.min_delta = 0;
    c->early.restore_best = 1;
    c->shards = NN_SHARDS_DEFAULT;
}

const char *nn_stop_reason_name(nn_stop_reason r)
{
    switch (r) {
    case NN_STOP_MAX_EPOCHS: return "max_epochs";
    case NN_STOP_TARGET_LOSS: return "target_loss";
    case NN_STOP_EARLY_STOPPING: return "early_stopping";
    case NN_STOP_TIME_LIMIT: return "time_limit";
    case NN_STOP_DIVERGED: return "diverged";
    case NN_STOP_CANCELLED: return "cancelled";
    case NN_STOP_PAUSED: return "paused";
    default: return "none";
    }
}

/* ---------------------------------------------------------------------------
 * Checks that data fit the model */

/* An output [..., C] is out / C rows of C values: one row per step of a
 * sequence output [T, C], one row otherwise. */
static const char *const monitor_names[NN_MON_COUNT] = {"val_loss", "val_accuracy", "loss",
                                                        "accuracy"};

const char *nn_monitor_name(nn_monitor m)
{
    return (unsigned)m < NN_MON_COUNT ? monitor_names[m] : "?";
}

int nn_monitor_from_name(const char *s)
{
    for (int i = 0; s && i < NN_MON_COUNT; i++)
        if (!strcmp(s, monitor_names[i]))
            return i;
    return -1;
}

int nn_monitor_needs_validation(nn_monitor m)
{
    return m == NN_MON_VAL_LOSS || m == NN_MON_VAL_ACCURACY;
}

int nn_monitor_lower_is_better(nn_monitor m)
{
    return m == NN_MON_VAL_LOSS || m == NN_MON_LOSS;
}

nn_monitor nn_train_monitor(const nn_train_cfg *c, int have_val)
{
    if (c->early.enabled)
        return c->early.monitor;
    return have_val ? NN_MON_VAL_LOSS : NN_MON_LOSS;
}

int nn_train_needs_validation(const nn_train_cfg *c)
{
    return c->early.enabled && nn_monitor_needs_validation(c->early.monitor);
}

double nn_epoch_metric(const nn_epoch_metrics *em, nn_monitor m)
{
    switch (m) {
    case NN_MON_VAL_LOSS: return em->val_loss;
    case NN_MON_VAL_ACCURACY: return em->val_accuracy;
    case NN_MON_LOSS: return em->loss;
    case NN_MON_ACCURACY: return em->accuracy;
    default: return NAN;
    }
}

static int64_t out_rows(const nn_model *m, int64_t *cols)
{
    nn_shape os = nn_model_out_shape(m);
    int64_t c = os.dim[os.rank - 1];
    if (cols)
        *cols = c;
    return nn_model_out_size(m) / c;
}

/* Class indices per sample in data with ysz values of y per sample: ysz
 * for class labels; also ysz for numbers against a sequence output under
 * cross_entropy, one value per step (the readers keep an integer y [n, T]
 * as numbers); 0 for targets. */
static int64_t class_labels(const nn_model *m, int n_classes, int64_t ysz)
{
    int64_t cols, rows = out_rows(m, &cols);
    if (n_classes > 0)
        return ysz;
    if (nn_model_spec(m)->loss == NN_LOSS_CROSS_ENTROPY && rows > 1 && cols > 1 && ysz == rows)
        return ysz;
    return 0;
}

int nn_data_fits(const nn_model *m, const nn_shape *x_sample, int n_classes,
                 const nn_shape *y_sample, const char *what, nn_err *e)
{
    char a[64], b[64];
    const nn_spec *s = nn_model_spec(m);
    nn_shape in = s->input;
    int64_t out = nn_model_out_size(m), xsz = nn_shape_numel(x_sample);
    int64_t ysz = nn_shape_numel(y_sample);
    int64_t cols, rows = out_rows(m, &cols);
    int is_class = n_classes > 0;
    if (xsz != nn_model_in_size(m)) {
        nn_shape_str(x_sample, a, sizeof a);
        nn_shape_str(&in, b, sizeof b);
        return nn_errf(e, NN_EINVAL,
                       "the %s samples have shape %s (%lld values) but the model's input %s "
                       "takes %lld",
                       what, a, (long long)xsz, b, (long long)nn_model_in_size(m));
    }
    /* exactly one output per class (see train.h) */
    if (is_class && s->loss == NN_LOSS_CROSS_ENTROPY && n_classes != cols)
        return nn_errf(e, NN_EINVAL,
                       "the %s data have %d classes but the model outputs %lld values%s "
                       "(cross_entropy needs one output per class)",
                       what, n_classes, (long long)cols, rows > 1 ? " per step" : "");
    if (is_class && s->loss == NN_LOSS_BCE && (n_classes > 2 || cols != 1))
        return nn_errf(e, NN_EINVAL,
                       "binary_cross_entropy with class labels needs 2 classes and one output%s; "
                       "the %s data have %d classes and the model %lld outputs%s",
                       rows > 1 ? " per step" : "", what, n_classes, (long long)cols,
                       rows > 1 ? " per step" : "");
    if (is_class && !nn_loss_is_classification(s->loss))
        return nn_errf(e, NN_EINVAL,
                       "loss %s needs numeric targets but the %s data have class labels",
                       nn_loss_name(s->loss), what);
    if (is_class && ysz != rows) {
        if (rows == 1)
            return nn_errf(e, NN_EINVAL, "the %s class labels must be one per sample", what);
        return nn_errf(e, NN_EINVAL,
                       "the model outputs %lld steps, so the %s class labels must be one per "
                       "step ([n, %lld]); they have %lld per sample",
                       (long long)rows, what, (long long)rows, (long long)ysz);
    }
    if (!is_class && ysz != out && !class_labels(m, 0, ysz))
        return nn_errf(e, NN_EINVAL,
                       "the %s targets have %lld values per sample but the model outputs %lld%s",
                       what, (long long)ysz, (long long)out,
                       s->loss != NN_LOSS_CROSS_ENTROPY ? ""
                       : rows > 1 ? " (or give a class index per step)"
                                  : " (or give class labels)");
    return NN_OK;
}

static int check_data(const nn_model *m, const nn_dataset *d, const char *what, int *labels,
                      nn_err *e)
{
    if (nn_dataset_len(d) < 1 || d->y.rank < 1 || d->y.dim[0] != d->x.dim[0])
        return nn_errf(e, NN_EINVAL, "the %s data are empty or x and y differ in length", what);
    nn_shape xs = nn_tensor_sample_shape(&d->x), ys = nn_tensor_sample_shape(&d->y);
    int rc = nn_data_fits(m, &xs, d->n_classes, &ys, what, e);
    if (rc)
        return rc;
    /* a raw table's text codes and missing values are not features yet */
    for (int j = 0; j < d->n_cols; j++)
        if (d->cols[j].n_cats > 0)
            return nn_errf(e, NN_EINVAL, "the %s data's column '%.60s' holds text: encode it first "
                           "(preprocessing, prep.h)", what, d->cols[j].name);
    int64_t nx = nn_tensor_numel(&d->x);
    for (int64_t i = 0; i < nx; i++)
        if (!isfinite(d->x.data[i]))
            return nn_errf(e, NN_EINVAL, "the %s data hold a missing or non-finite value (sample %lld): "
                           "fill missing values first (preprocessing)", what,
                           (long long)(i / nn_tensor_row_size(&d->x)));
    int64_t per = class_labels(m, d->n_classes, nn_tensor_row_size(&d->y));
    int is_class = per > 0;
    if (is_class) {
        int64_t cols, n = nn_tensor_numel(&d->y);
        out_rows(m, &cols);
        int64_t k = d->n_classes > 0 ? d->n_classes : cols;
        for (int64_t i = 0; i < n; i++) {
            nn_real v = d->y.data[i];
            if (!(v >= 0 && v < k) || v != (nn_real)(int64_t)v) {
                if (per == 1)
                    return nn_errf(e, NN_EINVAL,
                                   "the %s label of sample %lld is not a class index", what,
                                   (long long)i);
                return nn_errf(e, NN_EINVAL,
                               "the %s label of sample %lld, step %lld is not a class index "
                               "below %lld",
                               what, (long long)(i / per), (long long)(i % per), (long long)k);
            }
        }
    } else {
        int64_t n = nn_tensor_numel(&d->y);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(d->y.data[i]))
                return nn_errf(e, NN_EINVAL, "the %s targets hold a NaN or infinite value",
                               what);
    }
    *labels = is_class;
    return NN_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int check_cfg(const nn_train_cfg *c, int have_val, nn_err *e)
{
    if (c->epochs < 1)
        return nn_errf(e, NN_EINVAL, "epochs must be at least 1");
    if (c->batch_size < 1 || c->batch_size > 65536)
        return nn_errf(e, NN_EINVAL, "batch_size must be in 1..65536");
    if (!(c->validation_split >= 0 && c->validation_split < 1))
        return nn_errf(e, NN_EINVAL, "validation_split must be in [0, 1)");
    if (!(c->optim.lr > 0) || !isfinite(c->optim.lr))
        return nn_errf(e, NN_EINVAL, "the learning rate must be positive");
    if (c->shards < 1 || c->shards > NN_SHARDS_MAX)
        return nn_errf(e, NN_EINVAL, "shards must be in 1..%d", NN_SHARDS_MAX);
    if (!have_val && nn_train_needs_validation(c))
        return nn_errf(e, NN_EINVAL,
                       "early_stopping monitors a validation metric but there is no "
                       "validation data (set validation_split or give a validation set)");
    return NN_OK;
}

int nn_train_split(int64_t n, const nn_train_cfg *cfg, int64_t **train, int64_t *n_train,
                   int64_t **val, int64_t *n_val, nn_err *e)
{
    *train = *val = NULL;
    *n_train = *n_val = 0;
    int64_t nv = 0;
    if (cfg->validation_split > 0) {
        nv = (int64_t)floor((double)n * cfg->validation_split);
        if (nv < 1)
            nv = 1;
        if (nv >= n)
            return nn_errf(e, NN_EINVAL, "validation_split %g of %lld samples leaves none to train on",
                           cfg->validation_split, (long long)n);
    }
    int64_t *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    int64_t *vi = nv ? malloc((size_t)nv * sizeof *vi) : NULL;
    if (!idx || (nv && !vi)) {
        free(idx);
        free(vi);
        return nn_errf(e, NN_ENOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    if (nv) {
        nn_rng r;
        nn_rng_seed(&r, cfg->seed, STREAM_SPLIT);
        nn_rng_shuffle(&r, idx, n);
        memcpy(vi, idx, (size_t)nv * sizeof *vi);
        memmove(idx, idx + nv, (size_t)(n - nv) * sizeof *idx);
        /* natural order within each part, so that shuffle=false means file order */
        qsort(idx, (size_t)(n - nv), sizeof *idx, cmp_i64);
        qsort(vi, (size_t)nv, sizeof *vi, cmp_i64);
    }
    *train = idx;
    *n_train = n - nv;
    *val = vi;
    *n_val = nv;
    return NN_OK;
}

/* Which samples train and which validate: all of train and all of val
 * when a validation set is given, else cfg's validation_split of train. */
static int choose_samples(nn_trainer *t, const nn_dataset *train, const nn_dataset *val,
                          nn_err *e)
{
    if (!val) {
        int rc = nn_train_split(nn_dataset_len(train), &t->cfg, &t->train_idx, &t->n_train,
                                &t->val_idx, &t->n_val, e);
        t->valds = t->n_val > 0 ? train : NULL;
        return rc;
    }
    int64_t *none = NULL, zero = 0;
    nn_train_cfg whole = t->cfg;
    whole.validation_split = 0;
    t->valds = val;
    int rc = nn_train_split(nn_dataset_len(train), &whole, &t->train_idx, &t->n_train, &none,
                            &zero, e);
    return rc ? rc : nn_train_split(nn_dataset_len(val), &whole, &t->val_idx, &t->n_val, &none,
                                    &zero, e);
}

/* The batches, the optimizer's state, the step's sums, the best weights. */
static int alloc_buffers(nn_trainer *t)
{
    const nn_model *m = t->m;
    size_t ysz = (size_t)nn_tensor_row_size(&t->train->y), np = nn_model_n_params(m);
    t->xb = malloc((size_t)t->EB * (size_t)t->in_size * sizeof *t->xb);
    t->yb = malloc((size_t)t->EB * ysz * sizeof *t->yb);
    t->perm = malloc((size_t)t->n_train * sizeof *t->perm);
    t->bidx = malloc((size_t)t->EB * sizeof *t->bidx);
    t->n_state = nn_optim_state_size(&t->cfg.optim, np);
    t->opt_state = calloc(t->n_state ? t->n_state : 1, sizeof *t->opt_state);
    t->shard_loss = calloc((size_t)t->cfg.shards, sizeof *t->shard_loss);
    t->range_sq = calloc((size_t)nn_model_n_ranges(m) + 1, sizeof *t->range_sq);
    if (!t->xb || !t->yb || !t->perm || !t->bidx || !t->opt_state || !t->shard_loss ||
        !t->range_sq)
        return NN_ENOMEM;
    if (t->cfg.early.enabled && t->cfg.early.restore_best) {
        /* the best epoch's parameters, then its buffers (batchnorm's statistics) */
        size_t nb = np + nn_model_n_buffers(m);
        t->best_params = malloc((nb ? nb : 1) * sizeof *t->best_params);
        if (!t->best_params)
            return NN_ENOMEM;
    }
    return NN_OK;
}

/* Checks cfg and the data against m; *labels: the data hold class indices. */
static int check_run(nn_model *m, const nn_train_cfg *cfg, const nn_dataset *train,
                     const nn_dataset *val, int *labels, nn_err *e)
{
    int rc, lab_val = 0;
    int have_val = val != NULL || cfg->validation_split > 0;
    if ((rc = check_cfg(cfg, have_val, e)) || (rc = check_data(m, train, "training", labels, e)))
        return rc;
    if (val && ((rc = check_data(m, val, "validation", &lab_val, e))))
        return rc;
    if (val && lab_val != *labels)
        return nn_errf(e, NN_EINVAL, "the training data have %s but the validation data %s",
                       *labels ? "class labels" : "numeric targets",
                       lab_val ? "class labels" : "numeric targets");
    return NN_OK;
}

/* for_eval: only evaluation will run, so leave the model's dropout stream
 * and shard count be. */
static int trainer_make(nn_model *m, const nn_train_cfg *cfg, const nn_dataset *train,
                        const nn_dataset *val, int for_eval, nn_trainer **out, nn_err *e)
{
    nn_trainer *t = NULL;
    int labels = 0, rc = check_run(m, cfg, train, val, &labels, e);
    *out = NULL;
    if (rc)
        return rc;
    rc = NN_ENOMEM;
    t = calloc(1, sizeof *t);
    if (!t)
        goto out;
    t->m = m;
    t->cfg = *cfg;
    t->train = train;
    t->labels = labels;
    t->in_size = nn_model_in_size(m);
    t->out_size = nn_model_out_size(m);
    int64_t cols;
    t->loss_rows = (int)out_rows(m, &cols);
    t->loss_cols = (int)cols;
    if ((rc = choose_samples(t, train, val, e)))
        goto out;
    t->B = cfg->batch_size < t->n_train ? cfg->batch_size : (int)t->n_train;
    t->EB = t->B > EVAL_MIN ? t->B : EVAL_MIN;
    t->steps_per_epoch = (int)((t->n_train + t->B - 1) / t->B);
    if ((rc = alloc_buffers(t)))
        goto out;
    nn_rng_seed(&t->shuffle_rng, cfg->seed, STREAM_SHUFFLE);
    t->epoch_rng = t->shuffle_rng;
    if (!for_eval) {
        nn_model_seed_dropout(m, cfg->seed ^ ((uint64_t)STREAM_DROPOUT << 56));
        nn_model_set_shards(m, cfg->shards);
    }
    t->last.val_loss = t->last.val_accuracy = t->last.loss = t->last.accuracy = NAN;
    t->best = t->last;
out:
    if (rc) {
        nn_trainer_free(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

int nn_trainer_new(nn_model *m, const nn_train_cfg *cfg, const nn_dataset *train,
                   const nn_dataset *val, nn_trainer **out, nn_err *e)
{
    return trainer_make(m, cfg, train, val, 0, out, e);
}

void nn_trainer_free(nn_trainer *t)
{
    if (!t)
        return;
    free(t->train_idx);
    free(t->val_idx);
    free(t->xb);
    free(t->yb);
    free(t->perm);
    free(t->bidx);
    free(t->opt_state);
    free(t->shard_loss);
    free(t->range_sq);
    free(t->best_params);
    free(t);
}

int nn_trainer_steps_per_epoch(const nn_trainer *t) { return t->steps_per_epoch; }
int64_t nn_trainer_train_len(const nn_trainer *t) { return t->n_train; }
int64_t nn_trainer_val_len(const nn_trainer *t) { return t->n_val; }

/* ---------------------------------------------------------------------------
 * Batches */

/* Asks for sample s's values ahead of their copy (shuffled samples are far
 * apart in memory: each would otherwise start with a wait for memory). */
static void prefetch_sample(const nn_trainer *t, const nn_dataset *d, int64_t s)
{
#if defined(__GNUC__)
    const char *p = (const char *)(d->x.data + s * t->in_size);
    const size_t n = (size_t)t->in_size * sizeof *d->x.data;
    for (size_t o = 0; o < n; o += 64)
        __builtin_prefetch(p + o, 0, 0);
#else
    (void)t, (void)d, (void)s;
#endif
}

#define GATHER_AHEAD 2   /* samples asked for ahead of the one copied */

/* Rows [lo, hi) of the batch whose sample numbers are bidx, from d. */
static void gather_rows(nn_trainer *t, const nn_dataset *d, int lo, int hi)
{
    const int64_t ysz = nn_tensor_row_size(&d->y);
    for (int b = lo; b < hi && b < lo + GATHER_AHEAD; b++)
        prefetch_sample(t, d, t->bidx[b]);
    for (int b = lo; b < hi; b++) {
        int64_t s = t->bidx[b];
        if (b + GATHER_AHEAD < hi)
            prefetch_sample(t, d, t->bidx[b + GATHER_AHEAD]);
        memcpy(t->xb + (size_t)b * t->in_size, d->x.data + s * t->in_size,
               (size_t)t->in_size * sizeof *t->xb);
        memcpy(t->yb + (size_t)b * ysz, d->y.data + s * ysz, (size_t)ysz * sizeof *t->yb);
    }
}

typedef struct gather_task {
    nn_trainer *t;
    const nn_dataset *d;
    int n;
} gather_task;

static void gather_fn(void *ctx, int tid, int nth)
{
    gather_task *g = ctx;
    int lo, hi;
    nn_split(g->n, tid, nth, 8, &lo, &hi);
    gather_rows(g->t, g->d, lo, hi);
}

static void gather(nn_trainer *t, const nn_dataset *d, int n)
{
    gather_task g = {t, d, n};
    nn_pool_run(nn_model_pool(t->m), gather_fn, &g);
}

/* Loss and accuracy of the model on samples idx[0, n) of d, in eval mode. */
static int eval_on(nn_trainer *t, const nn_dataset *d, const int64_t *idx, int64_t n,
                   double *loss, double *acc, nn_err *e)
{
    double sum = 0;
    int64_t correct = 0, counted = 0;
    nn_model_profile_pause(t->m, 1);   /* the profile is the training steps' */
    for (int64_t s = 0; s < n; s += t->EB) {
        int nb = (int)(n - s < t->EB ? n - s : t->EB);
        for (int b = 0; b < nb; b++)
            t->bidx[b] = idx ? idx[s + b] : s + b;
        gather(t, d, nb);
        const nn_real *out = nn_model_forward(t->m, t->xb, nb, 0, e);
        if (!out) {
            nn_model_profile_pause(t->m, 0);
            return NN_ENOMEM;
        }
        nn_loss_out lo;
        nn_loss(nn_model_spec(t->m)->loss, out, t->labels ? t->yb : NULL,
                t->labels ? NULL : t->yb, nb * t->loss_rows, t->loss_cols, NULL, &lo);
        sum += lo.loss * nb;
        correct += lo.correct;
        counted += lo.counted;
    }
    nn_model_profile_pause(t->m, 0);
    *loss = sum / (double)n;
    *acc = counted ? (double)correct / (double)counted : NAN;
    return NN_OK;
}

/* ---------------------------------------------------------------------------
 * One optimizer step */

typedef struct step_task {
    nn_trainer *t;
    int nb;                    /* rows in this batch */
    double lr;
} step_task;

static double elapsed_now(const nn_trainer *t, double t_start)
{
    return t->elapsed + (now_s() - t_start);
}

void nn_trainer_draw_order(nn_trainer *t, nn_rng *r)
{
    for (int64_t i = 0; i < t->n_train; i++)
        t->perm[i] = i;
    if (t->cfg.shuffle)
        nn_rng_shuffle(r, t->perm, t->n_train);
}

static void start_epoch(nn_trainer *t)
{
    t->epoch_rng = t->shuffle_rng;
    nn_trainer_draw_order(t, &t->shuffle_rng);
    t->sum_loss = 0;
    t->seen = t->correct = t->counted = 0;
    t->epoch_seconds = 0;
    t->epoch_open = 1;
}

/* The loss of each of the part's shards, and its gradient in out_grad. */
static void shard_losses(nn_trainer *t, int part, const nn_real *out, int nb)
{
    nn_model *m = t->m;
    const int *bound = nn_model_shard_bounds(m);
    const int64_t ysz = nn_tensor_row_size(&t->train->y);
    nn_real *dout = nn_model_out_grad(m);
    int s0, s1;
    nn_model_part_shards(m, part, &s0, &s1);
    for (int s = s0; s < s1; s++) {
        int lo = bound[s], n = bound[s + 1] - lo;
        const nn_real *y = t->yb + (size_t)lo * ysz;
        nn_loss_rows(nn_model_spec(m)->loss, out + (size_t)lo * t->out_size,
                     t->labels ? y : NULL, t->labels ? NULL : y, n * t->loss_rows, t->loss_cols,
                     nb * t->loss_rows, dout + (size_t)lo * t->out_size, &t->shard_loss[s]);
    }
}

/* The batch's loss: the shards' sums added in shard order. */
static nn_loss_out batch_loss(const nn_trainer *t, int nb)
{
    nn_loss_out all = {0, 0, 0};
    for (int s = 0; s < nn_model_shards(t->m); s++) {
        all.loss += t->shard_loss[s].loss;
        all.correct += t->shard_loss[s].correct;
        all.counted += t->shard_loss[s].counted;
    }
    all.loss = nn_loss_mean(nn_model_spec(t->m)->loss, all.loss, nb * t->loss_rows, t->loss_cols);
    return all;
}

/* Adds the time since *t0 to the part's profile slot k (when profiling). */
static void lap(nn_model *m, int part, int k, double *t0)
{
    double *p = nn_model_profile(m, part);
    if (!p)
        return;
    double now = nn_model_now();
    p[k] += now - *t0;
    *t0 = now;
}

static void update_range(nn_trainer *t, int r, double lr, double scale)
{
    size_t lo, hi;
    nn_model_range(t->m, r, &lo, &hi);
    nn_real *g = nn_model_grads(t->m);
    if (scale != 1)
        nn_scale(g, scale, lo, hi);
    nn_optim_update(&t->cfg.optim, lr, t->global_step + 1, nn_model_params(t->m), g,
                    t->opt_state, nn_model_n_params(t->m), lo, hi);
}

static void update_done(void *user, int r)
{
    step_task *c = user;
    update_range(c->t, r, c->lr, 1);
}

static void sumsq_done(void *user, int r)
{
    step_task *c = user;
    size_t lo, hi;
    nn_model_range(c->t->m, r, &lo, &hi);
    c->t->range_sq[r] = nn_sumsq(nn_model_grads(c->t->m), lo, hi);
}

/* clip_norm: the part's ranges, scaled to the global norm, then updated. */
static void clipped_updates(step_task *c, int part)
{
    nn_trainer *t = c->t;
    nn_model_grads_part(t->m, part, sumsq_done, c);
    double t0 = nn_model_profile(t->m, part) ? nn_model_now() : 0;
    nn_pool_barrier(nn_model_pool(t->m));
    lap(t->m, part, NN_PROF_MEET, &t0);
    double ss = 0;
    for (int r = 0; r < nn_model_n_ranges(t->m); r++)
        ss += t->range_sq[r];
    double scale = nn_clip_factor(sqrt(ss), t->cfg.clip_norm);
    int r0, r1;
    nn_model_part_ranges(t->m, part, &r0, &r1);
    for (int r = r0; r < r1; r++)
        update_range(t, r, c->lr, scale);
}

static void step_fn(void *ctx, int part, int nth)
{
    (void)nth;
    step_task *c = ctx;
    nn_trainer *t = c->t;
    nn_model *m = t->m;
    int lo, hi;
    double t0 = nn_model_profile(m, part) ? nn_model_now() : 0;
    nn_model_part_rows(m, part, &lo, &hi);
    gather_rows(t, t->train, lo, hi);
    lap(m, part, NN_PROF_GATHER, &t0);
    const nn_real *out = nn_model_forward_part(m, part);
    t0 = nn_model_profile(m, part) ? nn_model_now() : 0;
    shard_losses(t, part, out, c->nb);
    lap(m, part, NN_PROF_LOSS, &t0);
    nn_model_backward_part(m, part);
    t0 = nn_model_profile(m, part) ? nn_model_now() : 0;
    nn_pool_barrier(nn_model_pool(m));
    lap(m, part, NN_PROF_MEET, &t0);
    if (!isfinite(batch_loss(t, c->nb).loss))
        return;   /* every part sees the same sum: none updates */
    if (t->cfg.clip_norm > 0)
        clipped_updates(c, part);
    else
        nn_model_grads_part(m, part, update_done, c);
}

/* Returns 0, or 1 when the loss was not finite (nothing was updated). */
static int train_step(nn_trainer *t, double *loss, double *lr, nn_err *e)
{
    int64_t s0 = (int64_t)t->step * t->B;
    int nb = (int)(t->n_train - s0 < t->B ? t->n_train - s0 : t->B);
    for (int b = 0; b < nb; b++)
        t->bidx[b] = t->train_idx[t->perm[s0 + b]];
    if (nn_model_begin_pass(t->m, t->xb, nb, 1, e))
        return NN_ENOMEM;
    int64_t total = (int64_t)t->cfg.epochs * t->steps_per_epoch;
    step_task c = {t, nb, 0};
    c.lr = nn_sched_lr(&t->cfg.sched, t->cfg.optim.lr, t->global_step, t->epoch, total);
    nn_pool_run(nn_model_pool(t->m), step_fn, &c);
    nn_loss_out lo = batch_loss(t, nb);
    *loss = lo.loss;
    *lr = c.lr;
    if (!isfinite(lo.loss))
        return 1;
    t->global_step++;
    t->step++;
    t->sum_loss += lo.loss * nb;
    t->seen += nb;
    t->correct += lo.correct;
    t->counted += lo.counted;
    return 0;
}

/* The monitored value of an epoch, and whether lower is better. */
static double monitored(const nn_trainer *t, const nn_epoch_metrics *m, int *lower_better)
{
    nn_monitor mon = nn_train_monitor(&t->cfg, t->n_val > 0);
    *lower_better = nn_monitor_lower_is_better(mon);
    return nn_epoch_metric(m, mon);
}

/* Copies the model's parameters and buffers to snap (back = 0) or back from it. */
static void copy_weights(nn_trainer *t, nn_real *snap, int back)
{
    size_t np = nn_model_n_params(t->m), nb = nn_model_n_buffers(t->m);
    nn_real *p = nn_model_params(t->m), *b = nn_model_buffers(t->m);
    if (back) {
        memcpy(p, snap, np * sizeof *snap);
        memcpy(b, snap + np, nb * sizeof *snap);
    } else {
        memcpy(snap, p, np * sizeof *snap);
        memcpy(snap + np, b, nb * sizeof *snap);
    }
}

/* Records the epoch against the best so far; returns 1 when it improved. */
static int track_best(nn_trainer *t, const nn_epoch_metrics *m)
{
    int lower;
    double v = monitored(t, m, &lower);
    if (isnan(v))
        return 0;
    double delta = t->cfg.early.enabled ? t->cfg.early.min_delta : 0;
    int better = !t->has_best || (lower ? v < t->best_value - delta : v > t->best_value + delta);
    if (better) {
        t->has_best = 1;
        t->best_value = v;
        t->best = *m;
        t->best.is_best = 1;
        t->since_best = 0;
        if (t->best_params) {
            copy_weights(t, t->best_params, 0);
            t->has_best_params = 1;
        }
    } else {
        t->since_best++;
    }
    return better;
}

static int finish(nn_trainer *t, nn_stop_reason r, nn_train_result *res)
{
    if (r != NN_STOP_PAUSED) {
        t->done = 1;
        t->reason = r;
    }
    memset(res, 0, sizeof *res);
    res->reason = r;
    res->epochs_done = t->epoch;
    res->last = t->last;
    res->best = t->best;
    res->restored_best = t->restored_best;
    return NN_OK;
}

/* Whether a callback asks the run to stop before the next step. */
static nn_stop_reason asked_to_stop(const nn_trainer *t, const nn_callbacks *cb, double t_start)
{
    if (cb->should_stop) {
        int h = cb->should_stop(cb->user);
        if (h == NN_HOOK_CANCEL)
            return NN_STOP_CANCELLED;
        if (h == NN_HOOK_PAUSE)
            return NN_STOP_PAUSED;
    }
    if (t->cfg.max_seconds > 0 && elapsed_now(t, t_start) >= t->cfg.max_seconds)
        return NN_STOP_TIME_LIMIT;
    return NN_STOP_NONE;
}

/* The rest of the epoch's steps.  Returns a status; *stop says whether a
 * rule or a callback ended the run inside the epoch. */
static int run_steps(nn_trainer *t, const nn_callbacks *cb, double t_start,
                     nn_stop_reason *stop, nn_err *e)
{
    while (t->step < t->steps_per_epoch) {
        if ((*stop = asked_to_stop(t, cb, t_start)) != NN_STOP_NONE)
            return NN_OK;
        double ts = now_s(), loss = 0, lr = 0;
        int r = train_step(t, &loss, &lr, e);
        t->epoch_seconds += now_s() - ts;
        if (r < 0)
            return r;
        if (r == 1) {
            *stop = NN_STOP_DIVERGED;
            return NN_OK;
        }
        if (cb->on_step) {
            nn_step_info si = {t->epoch + 1, t->step, t->steps_per_epoch, t->global_step,
                               loss, lr, elapsed_now(t, t_start),
                               t->epoch_seconds > 0 ? (double)t->seen / t->epoch_seconds : 0};
            cb->on_step(cb->user, &si);
        }
    }
    return NN_OK;
}

/* The complete epoch's metrics: the training sums, and validation. */
static int epoch_metrics(nn_trainer *t, nn_epoch_metrics *m, nn_err *e)
{
    memset(m, 0, sizeof *m);
    m->epoch = t->epoch + 1;
    m->global_step = t->global_step;
    m->loss = t->sum_loss / (double)t->seen;
    m->accuracy = t->counted ? (double)t->correct / (double)t->counted : NAN;
    m->val_loss = m->val_accuracy = NAN;
    if (t->n_val > 0) {
        int rc = eval_on(t, t->valds, t->val_idx, t->n_val, &m->val_loss, &m->val_accuracy, e);
        if (rc)
            return rc;
    }
    int64_t total = (int64_t)t->cfg.epochs * t->steps_per_epoch;
    m->lr = nn_sched_lr(&t->cfg.sched, t->cfg.optim.lr, t->global_step - 1, t->epoch, total);
    m->seconds = t->epoch_seconds;
    m->samples_per_sec = t->epoch_seconds > 0 ? (double)t->seen / t->epoch_seconds : 0;
    return NN_OK;
}

/* The stop rule that an epoch's end fires, if any (first match wins). */
static nn_stop_reason stop_rule(const nn_trainer *t, const nn_epoch_metrics *m, int improved)
{
    if (t->n_val > 0 && !isfinite(m->val_loss))
        return NN_STOP_DIVERGED;
    if (!isnan(t->cfg.target_loss) && m->loss <= t->cfg.target_loss)
        return NN_STOP_TARGET_LOSS;
    if (t->cfg.early.enabled && !improved && t->since_best >= t->cfg.early.patience)
        return NN_STOP_EARLY_STOPPING;
    if (t->epoch >= t->cfg.epochs)
        return NN_STOP_MAX_EPOCHS;
    if (t->cfg.max_seconds > 0 && m->elapsed >= t->cfg.max_seconds)
        return NN_STOP_TIME_LIMIT;
    return NN_STOP_NONE;
}

/* Closes the complete epoch: metrics, the best epoch, on_epoch, stop rules. */
static int end_epoch(nn_trainer *t, const nn_callbacks *cb, double t_start, nn_stop_reason *stop,
                     nn_err *e)
{
    nn_epoch_metrics m;
    int rc = epoch_metrics(t, &m, e);
    if (rc)
        return rc;
    t->epoch++;
    t->step = 0;
    t->epoch_open = 0;
    m.elapsed = elapsed_now(t, t_start);
    t->last = m;
    int improved = track_best(t, &m);
    m.is_best = improved;
    t->last.is_best = improved;
    if (cb->on_epoch)
        cb->on_epoch(cb->user, &m);
    *stop = stop_rule(t, &m, improved);
    return NN_OK;
}

int nn_trainer_run(nn_trainer *t, const nn_callbacks *cb, nn_train_result *res, nn_err *e)
{
    static const nn_callbacks none = {0};
    if (!cb)
        cb = &none;
    if (t->done)
        return finish(t, t->reason, res);
    const double t_start = now_s();
    int rc = NN_OK;
    nn_stop_reason stop = t->epoch >= t->cfg.epochs ? NN_STOP_MAX_EPOCHS : NN_STOP_NONE;
    while (stop == NN_STOP_NONE && rc == NN_OK) {
        if (!t->epoch_open)
            start_epoch(t);
        rc = run_steps(t, cb, t_start, &stop, e);
        if (rc == NN_OK && stop == NN_STOP_NONE)
            rc = end_epoch(t, cb, t_start, &stop, e);
    }
    t->elapsed += now_s() - t_start;
    if (rc)
        return rc;
    /* restore_best: a run that ends by a stop rule hands back the best
     * epoch's weights; a cancelled or paused one keeps its last weights */
    if (stop != NN_STOP_CANCELLED && stop != NN_STOP_PAUSED && t->has_best_params &&
        t->best.epoch != t->last.epoch) {
        copy_weights(t, t->best_params, 1);
        t->restored_best = 1;
    }
    return finish(t, stop, res);
}

int nn_evaluate(nn_model *m, const nn_dataset *d, int batch_size, double *loss,
                double *accuracy, nn_err *e)
{
    nn_train_cfg c;
    nn_trainer *t;
    *loss = *accuracy = NAN;
    nn_train_cfg_default(&c);
    c.batch_size = batch_size > 0 ? batch_size : EVAL_MIN;
    int rc = trainer_make(m, &c, d, NULL, 1, &t, e);
    if (rc)
        return rc;
    rc = eval_on(t, d, NULL, nn_dataset_len(d), loss, accuracy, e);
    nn_trainer_free(t);
    return rc;
}

