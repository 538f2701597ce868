/*
 * test_rnn.c — recurrent layers in the float build: the layer against the
 * plain-loop reference (both matrix backends, 1 and 2 threads), learnable
 * tasks with stated thresholds (the adding problem, a delayed echo and a
 * running-sum sign per step, sequence classification, Fashion-MNIST rows
 * as sequences when the files are installed), PyTorch's tensor names and
 * shapes, weights through a file and back, pause and resume bit for bit,
 * and definitions and data that do not fit.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "gemm.h"
#include "layer.h"
#include "loss.h"
#include "model.h"
#include "rng.h"
#include "resume.h"
#include "specs.h"
#include "testutil.h"
#include "train.h"

static nn_model *model(nn_layer_spec *L, int n, int T, int F, nn_loss_kind loss, uint64_t seed)
{
    nn_spec s = {.input = {2, {T, F}}, .n_layers = n, .layers = L, .loss = loss};
    nn_model_opts o = {.seed = seed, .threads = tu_threads()};
    nn_model *m;
    nn_err e;
    ck_assert_msg(nn_model_new(&s, &o, &m, &e) == NN_OK, "%s", e.msg);
    return m;
}

/* x [n, T, F]; y [n] class labels (n_classes > 0) or [n, ycols...] */
static void ds_alloc(nn_dataset *d, int n, int T, int F, int yrank, int64_t y1, int64_t y2,
                     int n_classes)
{
    memset(d, 0, sizeof *d);
    int64_t xd[3] = {n, T, F}, yd[3] = {n, y1, y2};
    ck_assert_int_eq(nn_tensor_alloc(&d->x, 3, xd), NN_OK);
    ck_assert_int_eq(nn_tensor_alloc(&d->y, yrank, yd), NN_OK);
    d->n_classes = n_classes;
}

static nn_train_result train(nn_model *m, const nn_train_cfg *c, const nn_dataset *d)
{
    nn_trainer *t;
    nn_err e;
    nn_train_result r;
    ck_assert_msg(nn_trainer_new(m, c, d, NULL, &t, &e) == NN_OK, "trainer: %s", e.msg);
    ck_assert_msg(nn_trainer_run(t, NULL, &r, &e) == NN_OK, "run: %s", e.msg);
    nn_trainer_free(t);
    return r;
}

static void adam(nn_train_cfg *c, double lr, int batch, int epochs)
{
    nn_train_cfg_default(c);
    c->optim.lr = lr;
    c->batch_size = batch;
    c->epochs = epochs;
    c->seed = 1;
}

static const nn_real *tensor(nn_model *m, const char *name)
{
    for (int t = 0; t < nn_model_n_tensors(m); t++)
        if (!strcmp(nn_model_tensor(m, t)->name, name))
            return nn_model_params(m) + nn_model_tensor(m, t)->offset;
    return NULL;
}

/* ---------------------------------------------------------------------------
 * The layer against the reference */

START_TEST(layer_matches_reference)
{
    nn_rng r;
    nn_rng_seed(&r, 21, 0);
    for (int trial = 0; trial < 24; trial++) {
        nn_layer_kind k = trial % 3 == 0 ? NN_LAYER_RNN : trial % 3 == 1 ? NN_LAYER_LSTM : NN_LAYER_GRU;
        int T = 1 + (int)nn_rng_below(&r, 9), F = 1 + (int)nn_rng_below(&r, 20);
        int H = 1 + (int)nn_rng_below(&r, 70), B = 1 + (int)nn_rng_below(&r, 40);
        nn_layer_spec l = tu_seq(tu_layer(k, H));
        l.act = trial % 6 == 3 ? NN_ACT_RELU : NN_ACT_LINEAR;   /* rnn: linear means tanh */
        l.use_bias = trial % 5 != 4;
        nn_gemm_force_blas(trial & 1);
        nn_spec s = {.input = {2, {T, F}}, .n_layers = 1, .layers = &l, .loss = NN_LOSS_MSE};
        nn_model_opts o = {.seed = (uint64_t)trial, .threads = 1 + (trial / 2) % 2};
        nn_model *m;
        ck_assert_int_eq(nn_model_new(&s, &o, &m, NULL), NN_OK);
        size_t nx = (size_t)B * T * F, ny = (size_t)B * T * H;
        nn_real *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *want = malloc(ny * sizeof *y);
        for (size_t i = 0; i < nx; i++)
            x[i] = (nn_real)(1.5 * nn_rng_normal(&r));
        ck_assert_int_eq(nn_model_predict(m, x, B, y, NULL), NN_OK);
        nn_recurrent_ref(k, l.act == NN_ACT_RELU ? NN_ACT_RELU : NN_ACT_TANH, x, B, T, F, H,
                         tensor(m, "layers.0.weight_ih_l0"), tensor(m, "layers.0.weight_hh_l0"),
                         tensor(m, "layers.0.bias_ih_l0"), tensor(m, "layers.0.bias_hh_l0"), NULL,
                         NULL, want, NULL);
        for (size_t i = 0; i < ny; i++)
            ck_assert_msg(fabs(y[i] - want[i]) <= 2e-5 * (1 + fabs(want[i])),
                          "trial %d (%s T%d F%d H%d B%d): %zu: %g vs %g", trial,
                          nn_layer_kind_name(k), T, F, H, B, i, (double)y[i], (double)want[i]);
        /* the last step only: the same values */
        l.return_sequences = 0;
        nn_model *m1;
        o.seed = (uint64_t)trial;
        ck_assert_int_eq(nn_model_new(&s, &o, &m1, NULL), NN_OK);
        ck_assert_int_eq(memcmp(nn_model_params(m1), nn_model_params(m),
                                nn_model_n_params(m) * sizeof(nn_real)), 0);
        ck_assert_int_eq(nn_model_predict(m1, x, B, y, NULL), NN_OK);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                ck_assert_float_eq_tol(y[b * H + j], want[((size_t)b * T + T - 1) * H + j],
                                       2e-5 * (1 + fabs(want[((size_t)b * T + T - 1) * H + j])));
        nn_model_free(m1);
        nn_model_free(m);
        free(x);
        free(y);
        free(want);
    }
    nn_gemm_force_blas(0);
}
END_TEST

/* Gradients of lstm -> gru -> dense with 1 and 2 threads (rows and gate
 * rows split): the same bits with libnn's kernel, whose every value is one
 * chain of multiply-adds whatever the split; close with the BLAS. */
static void stacked_grads(int threads, nn_real *g, size_t *n)
{
    nn_layer_spec L[3] = {tu_seq(tu_layer(NN_LAYER_LSTM, 40)), tu_layer(NN_LAYER_GRU, 24),
                          tu_dense(3, NN_ACT_SOFTMAX)};
    nn_spec s = {.input = {2, {9, 5}}, .n_layers = 3, .layers = L, .loss = NN_LOSS_CROSS_ENTROPY};
    nn_model_opts o = {.seed = 2, .threads = threads};
    nn_model *m;
    ck_assert_int_eq(nn_model_new(&s, &o, &m, NULL), NN_OK);
    enum { B = 50 };
    static nn_real x[B * 45], y[B], dout[B * 3];
    nn_rng r;
    nn_rng_seed(&r, 6, 0);
    for (int i = 0; i < B * 45; i++)
        x[i] = (nn_real)nn_rng_normal(&r);
    for (int i = 0; i < B; i++)
        y[i] = (nn_real)(i % 3);
    const nn_real *out = nn_model_forward(m, x, B, 1, NULL);
    nn_loss_out lo;
    nn_loss(NN_LOSS_CROSS_ENTROPY, out, y, NULL, B, 3, dout, &lo);
    nn_model_backward(m, dout);
    *n = nn_model_n_params(m);
    memcpy(g, nn_model_grads(m), *n * sizeof *g);
    nn_model_free(m);
}

START_TEST(thread_counts_agree)
{
    static nn_real g1[40000], g2[40000];
    size_t n1, n2;
    stacked_grads(1, g1, &n1);
    stacked_grads(2, g2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_uint_lt(n1, 40000);
    if (!strcmp(nn_gemm_backend(), "avx512")) {
        ck_assert_int_eq(memcmp(g1, g2, n1 * sizeof *g1), 0);
    } else {
        double worst = 0, scale = 0;
        for (size_t i = 0; i < n1; i++) {
            worst = fmax(worst, fabs(g1[i] - g2[i]));
            scale = fmax(scale, fabs(g1[i]));
        }
        ck_assert_msg(worst <= 1e-5 * scale, "gradients differ by %g (scale %g)", worst, scale);
    }
}
END_TEST

/* Saturated and tiny arguments keep the float activations finite and exact
 * enough: an rnn with one unit and weight w computes tanh(w x). */
START_TEST(activations_at_extremes)
{
    nn_layer_spec l = tu_seq(tu_layer(NN_LAYER_RNN, 1));
    l.use_bias = 0;
    nn_spec s = {.input = {2, {1, 1}}, .n_layers = 1, .layers = &l, .loss = NN_LOSS_MSE};
    nn_model_opts o = {.threads = 1};
    nn_model *m;
    ck_assert_int_eq(nn_model_new(&s, &o, &m, NULL), NN_OK);
    nn_real *p = nn_model_params(m);
    p[0] = 1;
    p[1] = 0;
    const nn_real x[] = {-1e30f, -200, -30, -9, -1, -0.3f, -0.01f, -1e-6f, 0, 1e-6f, 0.01f,
                         0.12f, 0.13f, 0.5f, 3, 20, 100, 1e30f};
    enum { N = sizeof x / sizeof x[0] };
    nn_real y[N];
    ck_assert_int_eq(nn_model_predict(m, x, N, y, NULL), NN_OK);
    for (int i = 0; i < N; i++) {
        double want = tanh((double)x[i]);
        ck_assert_msg(fabs(y[i] - want) <= 3e-7 * fabs(want) + 1e-30, "tanh(%g) = %.9g, want %.9g",
                      (double)x[i], (double)y[i], want);
    }
    nn_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Learnable tasks */

/* The adding problem: T steps of (value in [0, 1), marker); one marker in
 * each half; the target is the sum of the two marked values.  Predicting
 * the mean gives an MSE of 1/6. */
static void adding_data(nn_dataset *d, int n, int T, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    ds_alloc(d, n, T, 2, 2, 1, 1, 0);
    for (int i = 0; i < n; i++) {
        nn_real *x = d->x.data + (size_t)i * T * 2;
        int a = (int)nn_rng_below(&r, (uint64_t)T / 2), b = T / 2 + (int)nn_rng_below(&r, (uint64_t)T / 2);
        for (int t = 0; t < T; t++) {
            x[2 * t] = (nn_real)nn_rng_uniform(&r);
            x[2 * t + 1] = (nn_real)(t == a || t == b);
        }
        d->y.data[i] = x[2 * a] + x[2 * b];
    }
}

START_TEST(adding_problem)
{
    enum { T = 30 };
    nn_dataset tr, te;
    adding_data(&tr, 3000, T, 1);
    adding_data(&te, 500, T, 2);
    nn_layer_spec L[2] = {tu_layer(NN_LAYER_LSTM, 24), tu_dense(1, NN_ACT_LINEAR)};
    nn_model *m = model(L, 2, T, 2, NN_LOSS_MSE, 3);
    nn_train_cfg c;
    adam(&c, 0.01, 32, 12);
    c.clip_norm = 1;
    train(m, &c, &tr);
    double loss, acc;
    ck_assert_int_eq(nn_evaluate(m, &te, 100, &loss, &acc, NULL), NN_OK);
    printf("adding problem (T %d, lstm 24): held-out MSE %.5f (the mean predicts 0.167)\n", T, loss);
    ck_assert_msg(loss < 0.005, "held-out MSE %.4f", loss);
    nn_model_free(m);
    nn_dataset_free(&tr);
    nn_dataset_free(&te);
}
END_TEST

/* Many-to-many regression: y_t = x_{t-2} (0 before), targets [n, T, 1]. */
START_TEST(delayed_echo)
{
    enum { N = 2000, T = 16 };
    nn_dataset tr;
    ds_alloc(&tr, N, T, 1, 3, T, 1, 0);
    nn_rng r;
    nn_rng_seed(&r, 5, 0);
    for (int i = 0; i < N * T; i++)
        tr.x.data[i] = (nn_real)(2 * nn_rng_uniform(&r) - 1);
    for (int i = 0; i < N; i++)
        for (int t = 0; t < T; t++)
            tr.y.data[i * T + t] = t >= 2 ? tr.x.data[i * T + t - 2] : 0;
    nn_layer_spec L[2] = {tu_seq(tu_layer(NN_LAYER_RNN, 24)), tu_dense(1, NN_ACT_LINEAR)};
    nn_model *m = model(L, 2, T, 1, NN_LOSS_MSE, 4);
    nn_train_cfg c;
    adam(&c, 0.01, 32, 15);
    c.validation_split = 0.2;
    nn_train_result res = train(m, &c, &tr);
    printf("delayed echo (rnn 24, per step): validation MSE %.5f (the mean predicts 0.29)\n",
           res.last.val_loss);
    ck_assert_msg(res.last.val_loss < 0.01, "validation MSE %.4f", res.last.val_loss);
    nn_model_free(m);
    nn_dataset_free(&tr);
}
END_TEST

/* Many-to-many classification: at each step, is the running sum positive?
 * The labels are numbers y [n, T] (as an integer NPY y arrives), read as
 * one class index per step against the [T, 2] output. */
static void running_sign(nn_dataset *d, int n, int T, uint64_t seed, int as_classes)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    ds_alloc(d, n, T, 1, 2, T, 1, as_classes ? 2 : 0);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int t = 0; t < T; t++) {
            double v = (0.1 + 0.9 * nn_rng_uniform(&r)) * (nn_rng_below(&r, 2) ? 1 : -1);
            s += v;
            d->x.data[i * T + t] = (nn_real)v;
            d->y.data[i * T + t] = (nn_real)(s > 0);
        }
    }
}

START_TEST(running_sum_sign_per_step)
{
    enum { T = 20 };
    nn_dataset tr, te;
    running_sign(&tr, 2000, T, 7, 0);
    running_sign(&te, 500, T, 8, 0);
    nn_layer_spec L[2] = {tu_seq(tu_layer(NN_LAYER_GRU, 16)), tu_dense(2, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 2, T, 1, NN_LOSS_CROSS_ENTROPY, 5);
    nn_train_cfg c;
    adam(&c, 0.01, 32, 10);
    train(m, &c, &tr);
    double loss, acc;
    ck_assert_int_eq(nn_evaluate(m, &te, 100, &loss, &acc, NULL), NN_OK);
    printf("running-sum sign (gru 16, a class per step): held-out accuracy %.4f per step\n", acc);
    ck_assert_msg(acc >= 0.97, "held-out accuracy per step %.4f", acc);
    /* predictions: a distribution per step */
    nn_real out[2 * T * 2];
    ck_assert_int_eq(nn_model_predict(m, te.x.data, 2, out, NULL), NN_OK);
    for (int k = 0; k < 2 * T; k++)
        ck_assert_float_eq_tol(out[2 * k] + out[2 * k + 1], 1, 1e-5);
    nn_model_free(m);
    nn_dataset_free(&tr);
    nn_dataset_free(&te);
}
END_TEST

/* Many-to-one classification: which of three frequencies a noisy sine has. */
static void tones(nn_dataset *d, int n, int T, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    ds_alloc(d, n, T, 1, 1, 0, 0, 3);
    for (int i = 0; i < n; i++) {
        int k = (int)nn_rng_below(&r, 3);
        double f = (1 + k) / (double)T * 2 * M_PI, ph = 2 * M_PI * nn_rng_uniform(&r);
        for (int t = 0; t < T; t++)
            d->x.data[i * T + t] = (nn_real)(sin(f * t + ph) + 0.2 * nn_rng_normal(&r));
        d->y.data[i] = (nn_real)k;
    }
}

static nn_model *tone_model(uint64_t seed)
{
    static nn_layer_spec L[2];
    L[0] = tu_layer(NN_LAYER_LSTM, 16);
    L[1] = tu_dense(3, NN_ACT_SOFTMAX);
    return model(L, 2, 24, 1, NN_LOSS_CROSS_ENTROPY, seed);
}

START_TEST(lstm_classifies_tones)
{
    nn_dataset tr, te;
    tones(&tr, 1500, 24, 9);
    tones(&te, 500, 24, 10);
    nn_model *m = tone_model(6);
    nn_train_cfg c;
    adam(&c, 0.01, 32, 25);
    train(m, &c, &tr);
    double loss, acc;
    ck_assert_int_eq(nn_evaluate(m, &te, 100, &loss, &acc, NULL), NN_OK);
    printf("tones (lstm 16, many-to-one): held-out accuracy %.4f\n", acc);
    ck_assert_msg(acc >= 0.95, "held-out accuracy %.4f", acc);
    nn_model_free(m);
    nn_dataset_free(&tr);
    nn_dataset_free(&te);
}
END_TEST

/* Fashion-MNIST images [1, 28, 28] read as 28 steps of 28 features by an
 * lstm whose input is [28, 28]: 10000 images, three epochs. */
START_TEST(fmnist_rows_as_sequences)
{
    char *xi = tu_fmnist("train-images-idx3-ubyte.gz"), *yi = tu_fmnist("train-labels-idx1-ubyte.gz");
    char *xt = tu_fmnist("t10k-images-idx3-ubyte.gz"), *yt = tu_fmnist("t10k-labels-idx1-ubyte.gz");
    if (access(xi, R_OK) != 0) {
        printf("fmnist rows as sequences: skipped, %s is not installed\n", xi);
    } else {
        nn_dataset tr, te;
        nn_err e;
        ck_assert_msg(nn_idx_read_pair(xi, yi, NULL, &tr, &e) == NN_OK, "%s", e.msg);
        ck_assert_msg(nn_idx_read_pair(xt, yt, NULL, &te, &e) == NN_OK, "%s", e.msg);
        ck_assert_int_eq(tr.x.rank, 4);   /* [n, 1, 28, 28] */
        tr.x.dim[0] = tr.y.dim[0] = 10000;
        te.x.dim[0] = te.y.dim[0] = 1000;
        nn_layer_spec L[2] = {tu_layer(NN_LAYER_LSTM, 32), tu_dense(10, NN_ACT_SOFTMAX)};
        nn_model *m = model(L, 2, 28, 28, NN_LOSS_CROSS_ENTROPY, 7);
        nn_train_cfg c;
        adam(&c, 0.005, 64, 3);
        train(m, &c, &tr);
        double loss, acc;
        ck_assert_int_eq(nn_evaluate(m, &te, 250, &loss, &acc, NULL), NN_OK);
        printf("fmnist rows as sequences (lstm 32, 10000 images, 3 epochs): test accuracy %.4f\n",
               acc);
        ck_assert_msg(acc >= 0.75, "test accuracy %.4f", acc);
        nn_model_free(m);
        nn_dataset_free(&tr);
        nn_dataset_free(&te);
    }
    free(xi);
    free(yi);
    free(xt);
    free(yt);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Weights and checkpoints */

START_TEST(tensor_names_and_shapes)
{
    struct {
        nn_layer_kind k;
        int G;
    } kinds[3] = {{NN_LAYER_RNN, 1}, {NN_LAYER_LSTM, 4}, {NN_LAYER_GRU, 3}};
    for (int i = 0; i < 3; i++) {
        nn_layer_spec L[3] = {tu_seq(tu_layer(kinds[i].k, 6)), tu_layer(kinds[i].k, 5), tu_dense(2, NN_ACT_LINEAR)};
        L[1].use_bias = 0;
        nn_model *m = model(L, 3, 7, 3, NN_LOSS_MSE, 1);
        ck_assert_int_eq(nn_model_n_tensors(m), 4 + 2 + 2);
        const char *names[6] = {"layers.0.weight_ih_l0", "layers.0.weight_hh_l0",
                                "layers.0.bias_ih_l0", "layers.0.bias_hh_l0",
                                "layers.1.weight_ih_l0", "layers.1.weight_hh_l0"};
        int64_t shapes[6][2] = {{kinds[i].G * 6, 3}, {kinds[i].G * 6, 6}, {kinds[i].G * 6, 0},
                                {kinds[i].G * 6, 0}, {kinds[i].G * 5, 6}, {kinds[i].G * 5, 5}};
        for (int t = 0; t < 6; t++) {
            const nn_param_tensor *p = nn_model_tensor(m, t);
            ck_assert_str_eq(p->name, names[t]);
            ck_assert_int_eq(p->rank, shapes[t][1] ? 2 : 1);
            ck_assert_int_eq(p->shape[0], shapes[t][0]);
            if (shapes[t][1])
                ck_assert_int_eq(p->shape[1], shapes[t][1]);
        }
        /* PyTorch's default initialisation: uniform in +-1/sqrt(H) */
        const nn_param_tensor *w = nn_model_tensor(m, 1);
        const nn_real *v = nn_model_params(m) + w->offset;
        double lo = 1, hi = -1;
        for (size_t k = 0; k < w->numel; k++) {
            lo = fmin(lo, v[k]);
            hi = fmax(hi, v[k]);
        }
        ck_assert_double_le(hi, 1 / sqrt(6.0));
        ck_assert_double_ge(lo, -1 / sqrt(6.0));
        ck_assert_double_gt(hi - lo, 1.5 / sqrt(6.0));
        nn_layer_info info;
        nn_model_layer_info(m, 0, &info);
        ck_assert_str_eq(info.type, nn_layer_kind_name(kinds[i].k));
        ck_assert_int_eq(info.out.rank, 2);
        ck_assert_int_eq(info.out.dim[0], 7);
        ck_assert_int_eq(info.out.dim[1], 6);
        ck_assert_int_eq(info.n_params, kinds[i].G * 6 * (3 + 6 + 2));
        nn_model_layer_info(m, 1, &info);
        ck_assert_int_eq(info.out.rank, 1);
        ck_assert_int_eq(info.out.dim[0], 5);
        nn_model_free(m);
    }
}
END_TEST

START_TEST(weights_round_trip)
{
    nn_dataset te;
    tones(&te, 64, 24, 3);
    nn_model *m = tone_model(1);
    nn_real *p = nn_model_params(m);
    nn_rng r;
    nn_rng_seed(&r, 4, 0);
    for (size_t i = 0; i < nn_model_n_params(m); i++)
        p[i] += (nn_real)(0.1 * nn_rng_normal(&r));
    char *path = malloc(strlen(tu_tmpdir()) + 32);
    sprintf(path, "%s/lstm.safetensors", tu_tmpdir());
    nn_err e;
    ck_assert_msg(nn_model_save_weights(m, path, NULL, 0, &e) == NN_OK, "%s", e.msg);
    nn_model *m2 = tone_model(99);
    ck_assert_int_ne(memcmp(nn_model_params(m2), p, nn_model_n_params(m) * sizeof *p), 0);
    ck_assert_msg(nn_model_load_weights(m2, path, &e) == NN_OK, "%s", e.msg);
    nn_real a[64 * 3], b[64 * 3];
    ck_assert_int_eq(nn_model_predict(m, te.x.data, 64, a, NULL), NN_OK);
    ck_assert_int_eq(nn_model_predict(m2, te.x.data, 64, b, NULL), NN_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    /* a gru's file does not load into the lstm (shapes differ) */
    nn_layer_spec G[2] = {tu_layer(NN_LAYER_GRU, 16), tu_dense(3, NN_ACT_SOFTMAX)};
    nn_model *g = model(G, 2, 24, 1, NN_LOSS_CROSS_ENTROPY, 1);
    void *buf;
    size_t len;
    ck_assert_int_eq(nn_model_save_weights_mem(g, NULL, 0, &buf, &len, NULL), NN_OK);
    ck_assert_int_ne(nn_model_load_weights_mem(m2, buf, len, &e), NN_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "weight_ih_l0"));
    free(buf);
    nn_model_free(g);
    nn_model_free(m);
    nn_model_free(m2);
    free(path);
    nn_dataset_free(&te);
}
END_TEST

START_TEST(pause_and_resume_bit_identical)
{
    nn_dataset tr;
    tones(&tr, 600, 24, 11);
    nn_train_cfg c;
    adam(&c, 0.01, 32, 3);
    c.validation_split = 0.2;
    nn_model *m = tone_model(4);
    train(m, &c, &tr);
    size_t np = nn_model_n_params(m);
    nn_real *want = malloc(np * sizeof *want);
    memcpy(want, nn_model_params(m), np * sizeof *want);
    nn_model_free(m);

    /* paused before step 31 (inside epoch 3), saved, loaded into a fresh
     * model and trainer: the same end, bit for bit */
    m = tu_resume_run(tone_model, 4, &c, &tr, 30);
    ck_assert_int_eq(memcmp(nn_model_params(m), want, np * sizeof *want), 0);
    nn_model_free(m);
    free(want);
    nn_dataset_free(&tr);
}
END_TEST

/* ---------------------------------------------------------------------------
 * What does not fit */

static void expect_spec_error(nn_layer_spec *L, int n, nn_shape in, int layer_i,
                              const char *field, const char *text)
{
    nn_spec s = {.input = in, .n_layers = n, .layers = L, .loss = NN_LOSS_MSE};
    nn_model_opts o = {.threads = 1};
    nn_model *m;
    nn_err e;
    ck_assert_int_eq(nn_model_new(&s, &o, &m, &e), NN_EINVAL);
    ck_assert_int_eq(e.layer, layer_i);
    ck_assert_str_eq(e.field, field);
    ck_assert_msg(strstr(e.msg, text), "'%s' lacks '%s'", e.msg, text);
}

START_TEST(bad_definitions)
{
    nn_shape seq_in = {2, {5, 3}};
    nn_layer_spec L[2] = {tu_layer(NN_LAYER_LSTM, 4), tu_dense(1, NN_ACT_LINEAR)};
    expect_spec_error(L, 2, (nn_shape){3, {1, 5, 3}}, 0, "type", "[time, features]");
    expect_spec_error(L, 2, (nn_shape){1, {15}}, 0, "type", "[time, features]");
    L[0].units = 0;
    expect_spec_error(L, 2, seq_in, 0, "units", "at least 1");
    L[0].units = 4;
    L[0].act = NN_ACT_TANH;
    expect_spec_error(L, 2, seq_in, 0, "activation", "no activation");
    L[0] = tu_layer(NN_LAYER_RNN, 4);
    L[0].act = NN_ACT_SIGMOID;
    expect_spec_error(L, 2, seq_in, 0, "activation", "tanh or relu");
    L[0].act = NN_ACT_RELU;
    L[0].bptt = -1;
    expect_spec_error(L, 2, seq_in, 0, "bptt", "bptt");
    /* a many-to-one layer cannot feed another recurrent layer */
    nn_layer_spec S[2] = {tu_layer(NN_LAYER_GRU, 4), tu_layer(NN_LAYER_GRU, 4)};
    expect_spec_error(S, 2, seq_in, 1, "type", "got [4]");
    /* cross_entropy needs a dense layer last */
    nn_layer_spec C[1] = {tu_layer(NN_LAYER_LSTM, 4)};
    nn_spec s = {.input = seq_in, .n_layers = 1, .layers = C, .loss = NN_LOSS_CROSS_ENTROPY};
    nn_model *m;
    nn_err e;
    nn_model_opts o = {.threads = 1};
    ck_assert_int_eq(nn_model_new(&s, &o, &m, &e), NN_EINVAL);
    ck_assert_str_eq(e.field, "type");
}
END_TEST

static int fits(nn_model *m, nn_shape xs, int n_classes, nn_shape ys, nn_err *e)
{
    return nn_data_fits(m, &xs, n_classes, &ys, "training", e);
}

START_TEST(data_shapes)
{
    nn_err e;
    /* images [1, 28, 28] feed an input [28, 28] */
    nn_layer_spec A[2] = {tu_layer(NN_LAYER_LSTM, 8), tu_dense(10, NN_ACT_SOFTMAX)};
    nn_model *m = model(A, 2, 28, 28, NN_LOSS_CROSS_ENTROPY, 1);
    ck_assert_int_eq(fits(m, (nn_shape){3, {1, 28, 28}}, 10, (nn_shape){0, {0}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){3, {1, 28, 27}}, 10, (nn_shape){0, {0}}, &e), NN_EINVAL);
    nn_model_free(m);

    /* a [T, C] output: a label per step, not per sample */
    nn_layer_spec B[2] = {tu_seq(tu_layer(NN_LAYER_GRU, 8)), tu_dense(3, NN_ACT_SOFTMAX)};
    m = model(B, 2, 6, 2, NN_LOSS_CROSS_ENTROPY, 1);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 3, (nn_shape){1, {6}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 3, (nn_shape){0, {0}}, &e), NN_EINVAL);
    ck_assert_msg(strstr(e.msg, "one per step"), "%s", e.msg);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 4, (nn_shape){1, {6}}, &e), NN_EINVAL);
    ck_assert_msg(strstr(e.msg, "per step"), "%s", e.msg);
    /* and no more outputs per step than classes */
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 2, (nn_shape){1, {6}}, &e), NN_EINVAL);
    ck_assert_msg(strstr(e.msg, "2 classes but the model outputs 3 values per step"), "%s",
                  e.msg);
    /* numbers: one class index per step, or soft targets per step */
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 0, (nn_shape){1, {6}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 0, (nn_shape){2, {6, 3}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 0, (nn_shape){1, {5}}, &e), NN_EINVAL);
    ck_assert_msg(strstr(e.msg, "class index per step"), "%s", e.msg);

    /* the trainer checks the per-step indices */
    nn_dataset d;
    ds_alloc(&d, 10, 6, 2, 2, 6, 1, 0);
    for (int i = 0; i < 60; i++)
        d.y.data[i] = (nn_real)(i % 3);
    nn_train_cfg c;
    adam(&c, 0.01, 4, 1);
    nn_trainer *t;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, &e), NN_OK);
    nn_trainer_free(t);
    d.y.data[13] = 3;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, &e), NN_EINVAL);
    ck_assert_msg(strstr(e.msg, "sample 2, step 1"), "%s", e.msg);
    d.y.data[13] = 0.5f;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, &e), NN_EINVAL);
    nn_dataset_free(&d);
    nn_model_free(m);

    /* mse per step: targets [T, k]; binary_cross_entropy per step: [T] */
    nn_layer_spec R[2] = {tu_seq(tu_layer(NN_LAYER_RNN, 8)), tu_dense(2, NN_ACT_LINEAR)};
    m = model(R, 2, 6, 2, NN_LOSS_MSE, 1);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 0, (nn_shape){2, {6, 2}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 0, (nn_shape){1, {6}}, &e), NN_EINVAL);
    nn_model_free(m);
    nn_layer_spec Q[2] = {tu_seq(tu_layer(NN_LAYER_RNN, 8)), tu_dense(1, NN_ACT_SIGMOID)};
    nn_spec s = {.input = {2, {6, 2}}, .n_layers = 2, .layers = Q, .loss = NN_LOSS_BCE};
    nn_model_opts o = {.threads = 1};
    ck_assert_int_eq(nn_model_new(&s, &o, &m, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 0, (nn_shape){1, {6}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 2, (nn_shape){1, {6}}, &e), NN_OK);
    ck_assert_int_eq(fits(m, (nn_shape){2, {6, 2}}, 2, (nn_shape){0, {0}}, &e), NN_EINVAL);
    nn_model_free(m);
}
END_TEST

/* The training flop count: 12.4 MFLOP per sample for lstm 128 on 28 x 28
 * steps and dense 10, as the layer's products add up. */
START_TEST(flop_count)
{
    nn_layer_spec L[2] = {tu_layer(NN_LAYER_LSTM, 128), tu_dense(10, NN_ACT_SOFTMAX)};
    nn_model *m = model(L, 2, 28, 28, NN_LOSS_CROSS_ENTROPY, 1);
    double GH = 512, T = 28, F = 28, H = 128;
    double want = 2 * T * F * GH + 2 * (T - 1) * H * GH          /* forward */
                  + 2 * T * F * GH + 2 * T * H * GH + 2 * (T - 1) * H * GH   /* backward */
                  + 3 * 2 * 128 * 10;                              /* the dense layer */
    ck_assert_double_eq_tol(nn_model_train_flops(m), want, 1);
    nn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rnn");
    TCase *tc = tcase_create("rnn");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, layer_matches_reference);
    tcase_add_test(tc, activations_at_extremes);
    tcase_add_test(tc, thread_counts_agree);
    tcase_add_test(tc, adding_problem);
    tcase_add_test(tc, delayed_echo);
    tcase_add_test(tc, running_sum_sign_per_step);
    tcase_add_test(tc, lstm_classifies_tones);
    tcase_add_test(tc, fmnist_rows_as_sequences);
    tcase_add_test(tc, tensor_names_and_shapes);
    tcase_add_test(tc, weights_round_trip);
    tcase_add_test(tc, pause_and_resume_bit_identical);
    tcase_add_test(tc, bad_definitions);
    tcase_add_test(tc, data_shapes);
    tcase_add_test(tc, flop_count);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
