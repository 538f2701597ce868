/*
 * test_train.c — the model and the training loop on small generated data:
 * XOR, two spirals, a linear regression with known coefficients; the stop
 * rules; callbacks; determinism; save, restore and continue bit for bit;
 * definitions and data that do not fit.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "loss.h"
#include "model.h"
#include "rng.h"
#include "resume.h"
#include "specs.h"
#include "testutil.h"
#include "train.h"

/* ---------------------------------------------------------------------------
 * Fixtures */

static void ds_alloc(nn_dataset *d, int64_t n, int64_t in, int64_t ycols, int n_classes)
{
    memset(d, 0, sizeof *d);
    int64_t xd[2] = {n, in}, yd[2] = {n, ycols};
    ck_assert_int_eq(nn_tensor_alloc(&d->x, 2, xd), NN_OK);
    ck_assert_int_eq(nn_tensor_alloc(&d->y, n_classes ? 1 : 2, yd), NN_OK);
    d->n_classes = n_classes;
}

static void ds_free(nn_dataset *d)
{
    nn_tensor_free(&d->x);
    nn_tensor_free(&d->y);
}

static void xor_data(nn_dataset *d)
{
    ds_alloc(d, 4, 2, 1, 2);
    for (int i = 0; i < 4; i++) {
        d->x.data[2 * i] = (nn_real)(i & 1);
        d->x.data[2 * i + 1] = (nn_real)(i >> 1);
        d->y.data[i] = (nn_real)((i & 1) ^ (i >> 1));
    }
}

/* Two interleaved spirals, one per class, with a little noise. */
static void spiral_data(nn_dataset *d, int n, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    ds_alloc(d, n, 2, 1, 2);
    for (int i = 0; i < n; i++) {
        int c = i % 2;
        double t = 0.25 + 3.0 * nn_rng_uniform(&r);    /* radius and angle grow together */
        double a = t * 2.2 + c * M_PI;
        d->x.data[2 * i] = (nn_real)(t * cos(a) / 3.25 + 0.02 * nn_rng_normal(&r));
        d->x.data[2 * i + 1] = (nn_real)(t * sin(a) / 3.25 + 0.02 * nn_rng_normal(&r));
        d->y.data[i] = (nn_real)c;
    }
}

static nn_layer_spec dropout(double rate)
{
    nn_layer_spec l;
    nn_layer_spec_default(&l);
    l.kind = NN_LAYER_DROPOUT;
    l.rate = rate;
    return l;
}

static nn_model *model(nn_layer_spec *layers, int n, int in, nn_loss_kind loss, uint64_t seed,
                       int threads)
{
    nn_spec s = {.input = {1, {in}}, .n_layers = n, .layers = layers, .loss = loss};
    nn_model_opts o = {.seed = seed, .threads = threads};
    nn_model *m;
    nn_err e;
    ck_assert_msg(nn_model_new(&s, &o, &m, &e) == NN_OK, "model: %s", e.msg);
    return m;
}

static nn_train_result train(nn_model *m, const nn_train_cfg *c, const nn_dataset *d,
                             const nn_dataset *val, const nn_callbacks *cb)
{
    nn_trainer *t;
    nn_err e;
    nn_train_result r;
    ck_assert_msg(nn_trainer_new(m, c, d, val, &t, &e) == NN_OK, "trainer: %s", e.msg);
    ck_assert_msg(nn_trainer_run(t, cb, &r, &e) == NN_OK, "run: %s", e.msg);
    nn_trainer_free(t);
    return r;
}

static double accuracy(nn_model *m, const nn_dataset *d)
{
    double loss, acc;
    nn_err e;
    ck_assert_msg(nn_evaluate(m, d, 64, &loss, &acc, &e) == NN_OK, "%s", e.msg);
    return acc;
}

/* ---------------------------------------------------------------------------
 * Learning */

START_TEST(xor_reaches_100_percent)
{
    nn_dataset d;
    xor_data(&d);
    nn_layer_spec L[2] = {tu_dense(8, NN_ACT_TANH), tu_dense(2, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    c.optim.lr = 0.05;
    c.batch_size = 4;
    c.epochs = 400;
    nn_train_result r = train(m, &c, &d, NULL, NULL);
    ck_assert_int_eq(r.reason, NN_STOP_MAX_EPOCHS);
    ck_assert_int_eq(r.epochs_done, 400);
    ck_assert_double_eq(accuracy(m, &d), 1.0);
    /* predictions are probabilities over the two classes */
    nn_real out[8];
    ck_assert_int_eq(nn_model_predict(m, d.x.data, 4, out, NULL), NN_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(out[2 * i] + out[2 * i + 1], 1.0, 1e-6);
        ck_assert_double_gt(out[2 * i + (int)d.y.data[i]], 0.9);
    }
    nn_model_free(m);

    /* the same with one sigmoid output and binary cross-entropy */
    nn_layer_spec L2[2] = {tu_dense(8, NN_ACT_TANH), tu_dense(1, NN_ACT_SIGMOID)};
    m = model(L2, 2, 2, NN_LOSS_BCE, 2, 1);
    train(m, &c, &d, NULL, NULL);
    ck_assert_double_eq(accuracy(m, &d), 1.0);
    ck_assert_int_eq(nn_model_predict(m, d.x.data, 4, out, NULL), NN_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(out[i], d.y.data[i], 0.1);
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

START_TEST(spirals_reach_98_percent)
{
    nn_dataset tr, te;
    spiral_data(&tr, 2000, 1);
    spiral_data(&te, 1000, 2);
    nn_layer_spec L[3] = {tu_dense(64, NN_ACT_RELU), tu_dense(64, NN_ACT_RELU),
                          tu_dense(2, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 3, 2, NN_LOSS_CROSS_ENTROPY, 3, tu_threads());
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    c.optim.lr = 0.005;
    c.batch_size = 32;
    c.epochs = 60;
    train(m, &c, &tr, NULL, NULL);
    double acc = accuracy(m, &te);
    ck_assert_msg(acc >= 0.98, "held-out spiral accuracy %.4f", acc);
    nn_model_free(m);
    ds_free(&tr);
    ds_free(&te);
}
END_TEST

START_TEST(linear_regression_recovers_coefficients)
{
    const double w[3] = {2.0, -3.0, 0.5}, b = 1.0;
    nn_dataset d;
    nn_rng r;
    nn_rng_seed(&r, 4, 0);
    ds_alloc(&d, 1000, 3, 1, 0);
    for (int i = 0; i < 1000; i++) {
        double y = b;
        for (int k = 0; k < 3; k++) {
            double x = 2 * nn_rng_uniform(&r) - 1;
            d.x.data[3 * i + k] = (nn_real)x;
            y += w[k] * x;
        }
        d.y.data[i] = (nn_real)(y + 0.01 * nn_rng_normal(&r));
    }
    nn_layer_spec L[1] = {tu_dense(1, NN_ACT_LINEAR)};
    nn_model *m = model(L, 1, 3, NN_LOSS_MSE, 5, 1);
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    nn_optim_cfg_default(&c.optim, NN_OPT_SGD);
    c.optim.lr = 0.1;
    c.batch_size = 16;
    c.epochs = 30;
    nn_train_result res = train(m, &c, &d, NULL, NULL);
    const nn_real *p = nn_model_params(m);   /* layers.0.weight [1, 3], then the bias */
    ck_assert_str_eq(nn_model_tensor(m, 0)->name, "layers.0.weight");
    ck_assert_str_eq(nn_model_tensor(m, 1)->name, "layers.0.bias");
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq_tol(p[k], w[k], 1e-2);
    ck_assert_double_eq_tol(p[nn_model_tensor(m, 1)->offset], b, 1e-2);
    ck_assert_double_lt(res.last.loss, 2e-4);       /* noise variance is 1e-4 */
    ck_assert(isnan(res.last.accuracy));            /* no accuracy for regression */
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Stop rules and callbacks */

typedef struct counter {
    int steps, epochs;
    int cancel_at;            /* global step at which should_stop cancels; 0: never */
    int pause_at;
    int64_t last_global;
    nn_epoch_metrics last;
} counter;

static void count_step(void *u, const nn_step_info *s)
{
    counter *c = u;
    c->steps++;
    ck_assert_int_eq(s->global_step, c->last_global + 1);
    c->last_global = s->global_step;
    ck_assert(s->step >= 1 && s->step <= s->steps_per_epoch);
    ck_assert(isfinite(s->loss) && s->lr > 0);
}

static void count_epoch(void *u, const nn_epoch_metrics *m)
{
    counter *c = u;
    c->epochs++;
    ck_assert_int_eq(m->epoch, c->epochs);
    c->last = *m;
}

static int stop_hook(void *u)
{
    counter *c = u;
    if (c->cancel_at && c->last_global >= c->cancel_at)
        return NN_HOOK_CANCEL;
    if (c->pause_at && c->last_global >= c->pause_at)
        return NN_HOOK_PAUSE;
    return NN_HOOK_CONTINUE;
}

START_TEST(callbacks_and_metrics)
{
    nn_dataset d;
    spiral_data(&d, 300, 5);
    nn_layer_spec L[2] = {tu_dense(16, NN_ACT_RELU), tu_dense(2, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    c.batch_size = 32;
    c.epochs = 3;
    c.validation_split = 0.2;
    counter k = {0};
    nn_callbacks cb = {&k, count_step, count_epoch, stop_hook};
    nn_trainer *t;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    ck_assert_int_eq(nn_trainer_train_len(t), 240);
    ck_assert_int_eq(nn_trainer_val_len(t), 60);
    ck_assert_int_eq(nn_trainer_steps_per_epoch(t), 8);   /* 7 full batches and one of 16 */
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_run(t, &cb, &r, NULL), NN_OK);
    ck_assert_int_eq(k.steps, 24);
    ck_assert_int_eq(k.epochs, 3);
    ck_assert_int_eq(r.reason, NN_STOP_MAX_EPOCHS);
    ck_assert_int_eq(r.last.epoch, 3);
    ck_assert_int_eq(r.last.global_step, 24);
    ck_assert(r.last.accuracy >= 0 && r.last.accuracy <= 1);
    ck_assert(r.last.val_accuracy >= 0 && r.last.val_accuracy <= 1);
    ck_assert(isfinite(r.last.val_loss) && r.last.samples_per_sec > 0);
    ck_assert_double_le(r.best.val_loss, r.last.val_loss);
    /* a finished run stays finished */
    ck_assert_int_eq(nn_trainer_run(t, &cb, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, NN_STOP_MAX_EPOCHS);
    ck_assert_int_eq(k.steps, 24);
    nn_trainer_free(t);
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

START_TEST(stop_rules)
{
    nn_dataset d;
    xor_data(&d);
    nn_layer_spec L[2] = {tu_dense(8, NN_ACT_TANH), tu_dense(2, NN_ACT_SOFTMAX)};
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    c.optim.lr = 0.05;
    c.batch_size = 4;
    c.epochs = 5000;

    /* target_loss */
    nn_model *m = model(L, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    c.target_loss = 0.05;
    nn_train_result r = train(m, &c, &d, NULL, NULL);
    ck_assert_int_eq(r.reason, NN_STOP_TARGET_LOSS);
    ck_assert_double_le(r.last.loss, 0.05);
    ck_assert_int_lt(r.epochs_done, 5000);
    nn_model_free(m);
    c.target_loss = NAN;

    /* cancellation through should_stop */
    m = model(L, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    counter k = {.cancel_at = 10};
    nn_callbacks cb = {&k, count_step, count_epoch, stop_hook};
    r = train(m, &c, &d, NULL, &cb);
    ck_assert_int_eq(r.reason, NN_STOP_CANCELLED);
    ck_assert_int_eq(k.steps, 10);
    nn_model_free(m);

    /* time limit */
    m = model(L, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    c.max_seconds = 0.05;
    c.epochs = 1000000;
    r = train(m, &c, &d, NULL, NULL);
    ck_assert_int_eq(r.reason, NN_STOP_TIME_LIMIT);
    ck_assert_double_ge(r.last.elapsed, 0.0);
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

START_TEST(divergence_stops_the_run)
{
    nn_dataset d;
    ds_alloc(&d, 64, 2, 1, 0);
    for (int i = 0; i < 128; i++)
        d.x.data[i] = (nn_real)(i % 7);
    for (int i = 0; i < 64; i++)
        d.y.data[i] = (nn_real)(i * 3);
    nn_layer_spec L[1] = {tu_dense(1, NN_ACT_LINEAR)};
    nn_model *m = model(L, 1, 2, NN_LOSS_MSE, 1, 1);
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    nn_optim_cfg_default(&c.optim, NN_OPT_SGD);
    c.optim.lr = 10;   /* far too large: the loss explodes to Inf, then NaN */
    c.batch_size = 8;
    c.epochs = 1000;
    nn_train_result r = train(m, &c, &d, NULL, NULL);
    ck_assert_int_eq(r.reason, NN_STOP_DIVERGED);
    ck_assert_str_eq(nn_stop_reason_name(r.reason), "diverged");
    ck_assert_int_lt(r.epochs_done, 1000);
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

typedef struct best_tracker {
    nn_model *m;
    double best_val;
    int best_epoch;
    nn_real *copy;
} best_tracker;

static void track_epoch(void *u, const nn_epoch_metrics *e)
{
    best_tracker *k = u;
    if (e->val_loss < k->best_val) {
        k->best_val = e->val_loss;
        k->best_epoch = e->epoch;
        memcpy(k->copy, nn_model_params(k->m), nn_model_n_params(k->m) * sizeof *k->copy);
    }
}

/* Noisy labels: validation loss turns up soon; training stops, and the best
 * epoch's weights come back. */
START_TEST(early_stopping_restores_best)
{
    nn_dataset d;
    spiral_data(&d, 400, 9);
    nn_rng r;
    nn_rng_seed(&r, 1, 0);
    for (int i = 0; i < 400; i++)
        if (nn_rng_uniform(&r) < 0.3)
            d.y.data[i] = 1 - d.y.data[i];
    nn_layer_spec L[3] = {tu_dense(128, NN_ACT_RELU), tu_dense(128, NN_ACT_RELU),
                          tu_dense(2, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 3, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    c.optim.lr = 0.01;
    c.batch_size = 16;
    c.epochs = 500;
    c.validation_split = 0.25;
    c.early.enabled = 1;
    c.early.monitor = NN_MON_VAL_LOSS;
    c.early.patience = 4;
    best_tracker k = {.m = m, .best_val = INFINITY};
    k.copy = malloc(nn_model_n_params(m) * sizeof *k.copy);
    nn_callbacks cb = {&k, NULL, track_epoch, NULL};
    nn_trainer *t;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    nn_train_result res;
    ck_assert_int_eq(nn_trainer_run(t, &cb, &res, NULL), NN_OK);
    ck_assert_int_eq(res.reason, NN_STOP_EARLY_STOPPING);
    ck_assert_int_lt(res.epochs_done, 500);
    ck_assert_int_eq(res.epochs_done, res.best.epoch + 4);   /* patience epochs after the best */
    ck_assert_int_eq(res.restored_best, 1);
    ck_assert_double_lt(res.best.val_loss, res.last.val_loss);
    ck_assert_int_eq(k.best_epoch, res.best.epoch);
    /* the weights are those the best epoch ended with */
    ck_assert_int_eq(memcmp(nn_model_params(m), k.copy, nn_model_n_params(m) * sizeof *k.copy), 0);
    nn_trainer_free(t);

    /* the same when the run ends at max_epochs: the best epoch's weights */
    nn_model_free(m);
    m = model(L, 3, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    k.m = m;
    k.best_val = INFINITY;
    c.epochs = res.best.epoch + 2;
    c.early.patience = 100;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    ck_assert_int_eq(nn_trainer_run(t, &cb, &res, NULL), NN_OK);
    ck_assert_int_eq(res.reason, NN_STOP_MAX_EPOCHS);
    ck_assert_int_lt(res.best.epoch, res.last.epoch);
    ck_assert_int_eq(res.restored_best, 1);
    ck_assert_int_eq(memcmp(nn_model_params(m), k.copy, nn_model_n_params(m) * sizeof *k.copy), 0);
    nn_trainer_free(t);
    free(k.copy);
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Determinism, save and restore */

static void det_cfg(nn_train_cfg *c, uint64_t seed)
{
    nn_train_cfg_default(c);
    c->optim.lr = 0.003;
    c->batch_size = 24;
    c->epochs = 4;
    c->seed = seed;
    c->validation_split = 0.1;
    c->clip_norm = 1.0;
    nn_sched_cfg_default(&c->sched, NN_SCHED_COSINE);
    c->sched.warmup_steps = 5;
    c->early.enabled = 1;
    c->early.patience = 100;
}

static nn_model *det_model(uint64_t seed)
{
    static nn_layer_spec L[4];
    L[0] = tu_dense(80, NN_ACT_GELU);
    L[1] = dropout(0.25);
    L[2] = tu_dense(40, NN_ACT_RELU);
    L[3] = tu_dense(2, NN_ACT_SOFTMAX);
    return model(L, 4, 2, NN_LOSS_CROSS_ENTROPY, seed, tu_threads());
}

static nn_real *run_params(uint64_t seed, const nn_dataset *d, nn_train_result *res)
{
    nn_model *m = det_model(seed);
    nn_train_cfg c;
    det_cfg(&c, seed);
    *res = train(m, &c, d, NULL, NULL);
    size_t n = nn_model_n_params(m);
    nn_real *p = malloc(n * sizeof *p);
    memcpy(p, nn_model_params(m), n * sizeof *p);
    nn_model_free(m);
    return p;
}

START_TEST(same_seed_same_weights)
{
    nn_dataset d;
    spiral_data(&d, 500, 3);
    nn_model *m = det_model(7);
    size_t n = nn_model_n_params(m);
    nn_model_free(m);
    nn_train_result r1, r2, r3;
    nn_real *a = run_params(7, &d, &r1), *b = run_params(7, &d, &r2), *c = run_params(8, &d, &r3);
    ck_assert_int_eq(memcmp(a, b, n * sizeof *a), 0);
    ck_assert_int_ne(memcmp(a, c, n * sizeof *a), 0);
    ck_assert_double_eq(r1.last.loss, r2.last.loss);
    ck_assert_double_eq(r1.last.val_loss, r2.last.val_loss);
    ck_assert_double_ne(r1.last.loss, r3.last.loss);
    free(a);
    free(b);
    free(c);
    ds_free(&d);
}
END_TEST

typedef struct saver {
    nn_trainer *t;
    int64_t at_step;          /* save after this global step (0: not by step) */
    int at_epoch;             /* save after this epoch (0: not by epoch) */
    void *blob;
    size_t len;
} saver;

static void save_on_step(void *u, const nn_step_info *s)
{
    saver *v = u;
    if (v->at_step && s->global_step == v->at_step && !v->blob)
        ck_assert_int_eq(nn_trainer_save(v->t, &v->blob, &v->len, NULL), NN_OK);
}

static void save_on_epoch(void *u, const nn_epoch_metrics *m)
{
    saver *v = u;
    if (v->at_epoch && m->epoch == v->at_epoch && !v->blob)
        ck_assert_int_eq(nn_trainer_save(v->t, &v->blob, &v->len, NULL), NN_OK);
}

/* Saves at a point, abandons that run, loads into a fresh model and trainer,
 * finishes, and compares with the uninterrupted run. */
static void resume_matches(int64_t at_step, int at_epoch)
{
    nn_dataset d;
    spiral_data(&d, 500, 3);
    nn_train_result full;
    nn_real *want = run_params(11, &d, &full);

    nn_model *m = det_model(11);
    nn_train_cfg c;
    det_cfg(&c, 11);
    saver v = {.at_step = at_step, .at_epoch = at_epoch};
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &v.t, NULL), NN_OK);
    nn_callbacks cb = {&v, save_on_step, save_on_epoch, NULL};
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_run(v.t, &cb, &r, NULL), NN_OK);
    ck_assert_ptr_nonnull(v.blob);
    nn_trainer_free(v.t);
    nn_model_free(m);

    m = det_model(999);   /* other initial weights: the state must overwrite them */
    nn_trainer *t;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    nn_err e;
    ck_assert_msg(nn_trainer_load(t, v.blob, v.len, &e) == NN_OK, "load: %s", e.msg);
    ck_assert_int_eq(nn_trainer_run(t, NULL, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, full.reason);
    ck_assert_int_eq(r.epochs_done, full.epochs_done);
    ck_assert_double_eq(r.last.loss, full.last.loss);
    ck_assert_double_eq(r.last.val_loss, full.last.val_loss);
    ck_assert_int_eq(memcmp(nn_model_params(m), want, nn_model_n_params(m) * sizeof *want), 0);
    nn_trainer_free(t);
    nn_model_free(m);
    free(v.blob);
    free(want);
    ds_free(&d);
}

START_TEST(resume_mid_epoch_is_bit_identical)
{
    resume_matches(30, 0);   /* 19 steps per epoch: inside epoch 2 */
}
END_TEST

START_TEST(resume_at_epoch_end_is_bit_identical)
{
    resume_matches(0, 2);
}
END_TEST

START_TEST(resume_at_last_step_of_epoch)
{
    resume_matches(19, 0);   /* the epoch's last step, before its metrics */
}
END_TEST

/* Pausing through should_stop and continuing in the same trainer. */
START_TEST(pause_and_continue)
{
    nn_dataset d;
    spiral_data(&d, 500, 3);
    nn_train_result full;
    nn_real *want = run_params(11, &d, &full);
    nn_model *m = det_model(11);
    nn_train_cfg c;
    det_cfg(&c, 11);
    nn_trainer *t;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    counter k = {.pause_at = 25};
    nn_callbacks cb = {&k, count_step, NULL, stop_hook};
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_run(t, &cb, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, NN_STOP_PAUSED);
    k.pause_at = 0;
    ck_assert_int_eq(nn_trainer_run(t, &cb, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, full.reason);
    ck_assert_int_eq(memcmp(nn_model_params(m), want, nn_model_n_params(m) * sizeof *want), 0);
    nn_trainer_free(t);
    nn_model_free(m);
    free(want);
    ds_free(&d);
}
END_TEST

/* Paused by should_stop before each step in turn of the first two epochs
 * (including the first step of an epoch, after its order is drawn), saved,
 * and continued by a fresh trainer: always the uninterrupted run's weights. */
START_TEST(pause_save_load_at_every_step)
{
    nn_dataset d;
    spiral_data(&d, 500, 3);
    nn_train_result full;
    nn_real *want = run_params(11, &d, &full);
    nn_train_cfg c;
    det_cfg(&c, 11);
    for (int at = 1; at <= 40; at += 3) {
        nn_model *m = tu_resume_run(det_model, 11, &c, &d, at);
        ck_assert_msg(memcmp(nn_model_params(m), want, nn_model_n_params(m) * sizeof *want) == 0,
                      "paused before step %d: weights differ", at + 1);
        nn_model_free(m);
    }
    free(want);
    ds_free(&d);
}
END_TEST

START_TEST(bad_states_are_refused)
{
    nn_dataset d;
    spiral_data(&d, 200, 3);
    nn_model *m = det_model(1);
    nn_train_cfg c;
    det_cfg(&c, 1);
    c.epochs = 1;
    nn_trainer *t;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_run(t, NULL, &r, NULL), NN_OK);
    void *blob;
    size_t len;
    ck_assert_int_eq(nn_trainer_save(t, &blob, &len, NULL), NN_OK);
    nn_real *before = malloc(nn_model_n_params(m) * sizeof *before);
    memcpy(before, nn_model_params(m), nn_model_n_params(m) * sizeof *before);
    unsigned char *bad = malloc(len);
    nn_err e;
    /* a flipped byte anywhere */
    for (size_t at = 0; at < len; at += len / 37 + 1) {
        memcpy(bad, blob, len);
        bad[at] ^= 0x40;
        ck_assert_int_eq(nn_trainer_load(t, bad, len, &e), NN_EFORMAT);
    }
    /* truncations */
    for (size_t n = 0; n < len; n += len / 23 + 1)
        ck_assert_int_eq(nn_trainer_load(t, blob, n, &e), NN_EFORMAT);
    ck_assert_int_eq(memcmp(before, nn_model_params(m), nn_model_n_params(m) * sizeof *before), 0);
    nn_trainer_free(t);
    /* another run: a different batch size */
    c.batch_size = 25;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    ck_assert_int_eq(nn_trainer_load(t, blob, len, &e), NN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "another run"));
    nn_trainer_free(t);
    free(bad);
    free(before);
    free(blob);
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Definitions and data that do not fit */

static void expect_model_error(nn_layer_spec *L, int n, nn_shape in, nn_loss_kind loss, int layer,
                               const char *field)
{
    nn_spec s = {.input = in, .n_layers = n, .layers = L, .loss = loss};
    nn_model_opts o = {.seed = 1, .threads = 1};
    nn_model *m = (nn_model *)&o;
    nn_err e;
    ck_assert_int_eq(nn_model_new(&s, &o, &m, &e), NN_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(e.layer, layer);
    ck_assert_str_eq(e.field, field);
    ck_assert(strlen(e.msg) > 10);
}

START_TEST(bad_definitions)
{
    nn_layer_spec L[3] = {tu_dense(8, NN_ACT_RELU), tu_dense(0, NN_ACT_RELU), tu_dense(2, NN_ACT_SOFTMAX)};
    nn_shape in1 = {1, {4}};
    expect_model_error(L, 3, in1, NN_LOSS_CROSS_ENTROPY, 1, "units");
    L[1].units = 4;
    L[2].act = NN_ACT_RELU;
    expect_model_error(L, 3, in1, NN_LOSS_CROSS_ENTROPY, 2, "activation");
    expect_model_error(L, 3, in1, NN_LOSS_BCE, 2, "activation");
    L[2].act = NN_ACT_SOFTMAX;
    nn_shape img = {3, {1, 28, 28}};
    expect_model_error(L, 3, img, NN_LOSS_CROSS_ENTROPY, 0, "type");
    nn_shape none = {0, {0}};
    expect_model_error(L, 3, none, NN_LOSS_CROSS_ENTROPY, -1, "input");
    L[1] = dropout(1.0);
    expect_model_error(L, 3, in1, NN_LOSS_CROSS_ENTROPY, 1, "rate");
    L[1] = tu_dense(4, NN_ACT_LEAKY_RELU);
    L[1].alpha = -1;
    expect_model_error(L, 3, in1, NN_LOSS_CROSS_ENTROPY, 1, "activation");
    L[1].alpha = NAN;
    L[2] = dropout(0.5);
    expect_model_error(L, 3, in1, NN_LOSS_CROSS_ENTROPY, 2, "type");
    expect_model_error(L, 0, in1, NN_LOSS_MSE, -1, "layers");
}
END_TEST

static void expect_data_error(nn_model *m, const nn_train_cfg *c, const nn_dataset *d,
                              const nn_dataset *val, const char *needle)
{
    nn_trainer *t = (nn_trainer *)c;
    nn_err e;
    ck_assert_int_eq(nn_trainer_new(m, c, d, val, &t, &e), NN_EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' lacks '%s'", e.msg, needle);
}

START_TEST(data_that_does_not_fit)
{
    nn_dataset d;
    xor_data(&d);
    nn_layer_spec L[2] = {tu_dense(8, NN_ACT_TANH), tu_dense(2, NN_ACT_SOFTMAX)};
    nn_model *m3 = model(L, 2, 3, NN_LOSS_CROSS_ENTROPY, 1, 1);
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    expect_data_error(m3, &c, &d, NULL, "takes 3");
    nn_model_free(m3);

    nn_model *m = model(L, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    d.n_classes = 3;
    expect_data_error(m, &c, &d, NULL, "3 classes");
    d.n_classes = 2;
    /* more outputs than classes: a unit no label names */
    nn_layer_spec W[2] = {tu_dense(8, NN_ACT_TANH), tu_dense(3, NN_ACT_SOFTMAX)};
    nn_model *m_wide = model(W, 2, 2, NN_LOSS_CROSS_ENTROPY, 1, 1);
    expect_data_error(m_wide, &c, &d, NULL, "2 classes but the model outputs 3");
    nn_dataset v;
    xor_data(&v);
    d.n_classes = 3;   /* as the training data: the validation set's 2 are checked too */
    d.y.data[1] = 2;
    expect_data_error(m_wide, &c, &d, &v, "the validation data have 2 classes");
    d.n_classes = 2;
    d.y.data[1] = 1;
    ds_free(&v);
    nn_model_free(m_wide);
    /* binary_cross_entropy: one sigmoid output for 2 classes fits, 2 do not */
    nn_layer_spec B[2] = {tu_dense(8, NN_ACT_TANH), tu_dense(1, NN_ACT_SIGMOID)};
    nn_model *m_bce = model(B, 2, 2, NN_LOSS_BCE, 1, 1);
    nn_trainer *t = NULL;
    nn_err e;
    ck_assert_msg(nn_trainer_new(m_bce, &c, &d, NULL, &t, &e) == NN_OK, "%s", e.msg);
    nn_trainer_free(t);
    nn_model_free(m_bce);
    B[1] = tu_dense(2, NN_ACT_SIGMOID);
    m_bce = model(B, 2, 2, NN_LOSS_BCE, 1, 1);
    expect_data_error(m_bce, &c, &d, NULL, "one output");
    nn_model_free(m_bce);
    d.y.data[1] = 5;   /* a label out of range */
    expect_data_error(m, &c, &d, NULL, "not a class index");
    d.y.data[1] = 1;
    d.x.dim[0] = d.y.dim[0] = 1;   /* one sample cannot be split */
    c.validation_split = 0.5;
    expect_data_error(m, &c, &d, NULL, "none to train");
    d.x.dim[0] = d.y.dim[0] = 4;
    c.validation_split = 0;
    c.early.enabled = 1;
    expect_data_error(m, &c, &d, NULL, "no validation data");
    c.early.enabled = 0;
    nn_model_free(m);

    nn_layer_spec R[1] = {tu_dense(1, NN_ACT_LINEAR)};
    m = model(R, 1, 2, NN_LOSS_MSE, 1, 1);
    expect_data_error(m, &c, &d, NULL, "class labels");
    d.n_classes = 0;
    d.y.data[2] = NAN;
    expect_data_error(m, &c, &d, NULL, "NaN");
    nn_model_free(m);
    ds_free(&d);
}
END_TEST

/* Eval mode turns dropout off: two predictions agree; training mode differs. */
START_TEST(predict_is_eval_mode)
{
    nn_layer_spec L[3] = {tu_dense(32, NN_ACT_RELU), dropout(0.5), tu_dense(3, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 3, 4, NN_LOSS_CROSS_ENTROPY, 1, tu_threads());
    nn_real x[40], a[30], b[30];
    for (int i = 0; i < 40; i++)
        x[i] = (nn_real)(i % 5) / 5;
    ck_assert_int_eq(nn_model_predict(m, x, 10, a, NULL), NN_OK);
    ck_assert_int_eq(nn_model_predict(m, x, 10, b, NULL), NN_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_double_eq_tol(a[3 * i] + a[3 * i + 1] + a[3 * i + 2], 1, 1e-6);
    const nn_real *t1 = nn_model_forward(m, x, 10, 1, NULL);
    memcpy(a, t1, sizeof a);
    const nn_real *t2 = nn_model_forward(m, x, 10, 1, NULL);
    ck_assert_int_ne(memcmp(a, t2, sizeof a), 0);   /* a new dropout mask */
    nn_layer_info info;
    nn_model_layer_info(m, 0, &info);
    ck_assert_str_eq(info.type, "dense");
    ck_assert_int_eq(info.n_params, 4 * 32 + 32);
    nn_model_layer_info(m, 1, &info);
    ck_assert_str_eq(info.type, "dropout");
    ck_assert_int_eq(info.out.dim[0], 32);
    ck_assert_int_eq(info.n_params, 0);
    nn_model_free(m);
}
END_TEST

/* Outputs and gradients of a model with every activation kind agree between
 * libnn's own kernel and the BLAS, and between 1 and 2 threads (row and
 * column splits, the narrow backward path). */
static void grads_of(int threads, int blas, nn_real *out, nn_real *grad, size_t *n)
{
    nn_gemm_force_blas(blas);
    nn_layer_spec L[5] = {tu_dense(96, NN_ACT_GELU), tu_dense(70, NN_ACT_SOFTMAX),
                          tu_dense(64, NN_ACT_ELU), dropout(0.0), tu_dense(7, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 5, 33, NN_LOSS_CROSS_ENTROPY, 5, threads);
    enum { B = 100 };
    static nn_real x[B * 33], y[B], dout[B * 7];
    nn_rng r;
    nn_rng_seed(&r, 8, 0);
    for (int i = 0; i < B * 33; i++)
        x[i] = (nn_real)nn_rng_normal(&r);
    for (int i = 0; i < B; i++)
        y[i] = (nn_real)(i % 7);
    const nn_real *o = nn_model_forward(m, x, B, 1, NULL);
    memcpy(out, o, sizeof(nn_real) * B * 7);
    nn_loss_out lo;
    nn_loss(NN_LOSS_CROSS_ENTROPY, o, y, NULL, B, 7, dout, &lo);
    nn_model_backward(m, dout);
    *n = nn_model_n_params(m);
    memcpy(grad, nn_model_grads(m), *n * sizeof *grad);
    nn_model_free(m);
    nn_gemm_force_blas(0);
}

START_TEST(backends_and_thread_counts_agree)
{
    static nn_real out[4][700], grad[4][20000];
    size_t n = 0;
    grads_of(1, 1, out[0], grad[0], &n);
    grads_of(2, 1, out[1], grad[1], &n);
    grads_of(1, 0, out[2], grad[2], &n);
    grads_of(2, 0, out[3], grad[3], &n);
    ck_assert_uint_lt(n, 20000);
    for (int v = 1; v < 4; v++) {
        for (int i = 0; i < 700; i++)
            ck_assert_msg(fabs(out[v][i] - out[0][i]) <= 1e-5, "variant %d output %d: %g vs %g",
                          v, i, (double)out[v][i], (double)out[0][i]);
        double worst = 0, scale = 0;
        for (size_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs(grad[v][i] - grad[0][i]));
            scale = fmax(scale, fabs(grad[0][i]));
        }
        ck_assert_double_gt(scale, 1e-3);
        ck_assert_msg(worst <= 1e-5 * scale, "variant %d: gradients differ by %g (scale %g)", v,
                      worst, scale);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, xor_reaches_100_percent);
    tcase_add_test(tc, spirals_reach_98_percent);
    tcase_add_test(tc, linear_regression_recovers_coefficients);
    tcase_add_test(tc, callbacks_and_metrics);
    tcase_add_test(tc, stop_rules);
    tcase_add_test(tc, divergence_stops_the_run);
    tcase_add_test(tc, early_stopping_restores_best);
    tcase_add_test(tc, same_seed_same_weights);
    tcase_add_test(tc, resume_mid_epoch_is_bit_identical);
    tcase_add_test(tc, resume_at_epoch_end_is_bit_identical);
    tcase_add_test(tc, resume_at_last_step_of_epoch);
    tcase_add_test(tc, pause_and_continue);
    tcase_add_test(tc, pause_save_load_at_every_step);
    tcase_add_test(tc, bad_states_are_refused);
    tcase_add_test(tc, bad_definitions);
    tcase_add_test(tc, data_that_does_not_fit);
    tcase_add_test(tc, predict_is_eval_mode);
    tcase_add_test(tc, backends_and_thread_counts_agree);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
