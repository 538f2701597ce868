/*
 * test_gradcheck_f64.c — numerical gradient checks of every layer,
 * activation and loss, on the double build of libnn.
 *
 * Each case builds  tu_dense(pre) -> layer under test -> [tu_dense(post)] -> loss
 * on a small random batch, takes the analytic gradient of every parameter
 * from one backward pass, and compares it with the central difference
 *     (L(p + h) - L(p - h)) / 2h,   h = 1e-6
 * The pre layer's weight gradients carry the tested layer's input gradient,
 * so both the parameter and the input gradient of the tested layer are
 * checked.  Bound: |analytic - numeric| <= 1e-6 * max(1, |analytic|, |numeric|).
 * In double the central difference is good to about 1e-9 here, so a real
 * mistake (a missing factor, a wrong index) shows up orders of magnitude
 * above the bound.  Every case asserts that all parameters were checked and
 * that most gradients are non-zero, so a pass cannot come from a gradient
 * that is identically zero.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "model.h"
#include "rng.h"
#include "specs.h"
#include "testutil.h"

#define STEP 1e-6
#define BOUND 1e-6

typedef struct gc_case {
    nn_loss_kind loss;
    int B;
    int in;
    int labels;             /* class-index targets */
    int threads;
} gc_case;

static double batch_loss(nn_model *m, const gc_case *c, const nn_real *x, const nn_real *y,
                         const uint64_t drop[4])
{
    nn_model_set_dropout_state(m, drop);   /* the same dropout mask for every pass */
    const nn_real *out = nn_model_forward(m, x, c->B, 1, NULL);
    ck_assert_ptr_nonnull(out);
    nn_loss_out lo;
    int D = (int)nn_model_out_size(m);
    nn_loss(c->loss, out, c->labels ? y : NULL, c->labels ? NULL : y, c->B, D, NULL, &lo);
    return lo.loss;
}

/* Runs the check; returns the largest scaled error. */
static double gradcheck(const nn_spec *spec, const gc_case *c)
{
    nn_model *m;
    nn_err e;
    nn_model_opts o = {.seed = 11, .threads = c->threads};
    ck_assert_msg(nn_model_new(spec, &o, &m, &e) == NN_OK, "model: %s", e.msg);
    int D = (int)nn_model_out_size(m);
    nn_rng r;
    nn_rng_seed(&r, 99, 0);
    nn_real *x = malloc(sizeof(nn_real) * (size_t)c->B * (size_t)c->in);
    nn_real *y = malloc(sizeof(nn_real) * (size_t)c->B * (size_t)D);
    nn_real *dout = malloc(sizeof(nn_real) * (size_t)c->B * (size_t)D);
    for (int i = 0; i < c->B * c->in; i++)
        x[i] = (nn_real)(2 * nn_rng_uniform(&r) - 1);
    for (int b = 0; b < c->B; b++) {
        if (c->labels) {
            y[b] = (nn_real)(c->loss == NN_LOSS_BCE ? b % 2 : b % D);
            continue;
        }
        double s = 0;
        for (int j = 0; j < D; j++) {
            double v = c->loss == NN_LOSS_MSE || c->loss == NN_LOSS_MAE ? 2 * nn_rng_uniform(&r) - 1
                                                                        : nn_rng_uniform(&r);
            y[b * D + j] = (nn_real)v;
            s += v;
        }
        if (c->loss == NN_LOSS_CROSS_ENTROPY)   /* soft targets that sum to 1 */
            for (int j = 0; j < D; j++)
                y[b * D + j] = (nn_real)(y[b * D + j] / s);
    }
    /* perturb the weights off zero so biases matter, with a fixed stream */
    nn_real *p = nn_model_params(m);
    size_t n = nn_model_n_params(m);
    for (size_t i = 0; i < n; i++)
        p[i] += (nn_real)(0.1 * (2 * nn_rng_uniform(&r) - 1));

    uint64_t drop[4];
    nn_model_dropout_state(m, drop);
    /* analytic gradient */
    nn_model_set_dropout_state(m, drop);
    const nn_real *out = nn_model_forward(m, x, c->B, 1, NULL);
    nn_loss_out lo;
    nn_loss(c->loss, out, c->labels ? y : NULL, c->labels ? NULL : y, c->B, D, dout, &lo);
    nn_model_backward(m, dout);
    nn_real *g = malloc(sizeof(nn_real) * n);
    memcpy(g, nn_model_grads(m), sizeof(nn_real) * n);

    double worst = 0;
    size_t checked = 0, nonzero = 0;
    for (int t = 0; t < nn_model_n_tensors(m); t++) {
        const nn_param_tensor *pt = nn_model_tensor(m, t);
        for (size_t k = 0; k < pt->numel; k++) {
            size_t i = pt->offset + k;
            nn_real keep = p[i];
            p[i] = keep + STEP;
            double lp = batch_loss(m, c, x, y, drop);
            p[i] = keep - STEP;
            double lm = batch_loss(m, c, x, y, drop);
            p[i] = keep;
            double num = (lp - lm) / (2 * STEP);
            double scale = fmax(1.0, fmax(fabs(num), fabs(g[i])));
            double err = fabs(num - g[i]) / scale;
            if (err > worst)
                worst = err;
            checked++;
            nonzero += fabs(g[i]) > 1e-12;
        }
    }
    size_t expect = 0;
    for (int t = 0; t < nn_model_n_tensors(m); t++)
        expect += nn_model_tensor(m, t)->numel;
    ck_assert_uint_eq(checked, expect);
    ck_assert_uint_ge(checked, 20);
    ck_assert_msg(nonzero * 10 >= checked * 6, "only %zu of %zu gradients are non-zero", nonzero,
                  checked);
    free(x);
    free(y);
    free(dout);
    free(g);
    nn_model_free(m);
    return worst;
}

static nn_layer_spec standalone(nn_act_kind act, double alpha)
{
    nn_layer_spec l;
    nn_layer_spec_default(&l);
    l.kind = NN_LAYER_ACT;
    l.act = act;
    l.alpha = alpha;
    return l;
}

/* pre -> mid -> post -> loss */
static double run3(nn_layer_spec mid, nn_loss_kind loss, nn_act_kind post_act, int post_units,
                   int labels, int threads)
{
    nn_layer_spec layers[3] = {tu_dense(6, NN_ACT_TANH), mid, tu_dense(post_units, post_act)};
    nn_spec s = {.input = {1, {4}}, .n_layers = 3, .layers = layers, .loss = loss};
    gc_case c = {.loss = loss, .B = 5, .in = 4, .labels = labels, .threads = threads};
    return gradcheck(&s, &c);
}

/* Every activation fused into a dense layer. */
START_TEST(dense_activations)
{
    for (int a = 0; a < NN_ACT_COUNT; a++) {
        double w = run3(tu_dense(7, (nn_act_kind)a), NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1);
        ck_assert_msg(w <= BOUND, "dense+%s: error %g", nn_act_name((nn_act_kind)a), w);
    }
}
END_TEST

/* Every activation as a layer of its own, default and explicit alpha. */
START_TEST(standalone_activations)
{
    for (int a = 0; a < NN_ACT_COUNT; a++) {
        double w = run3(standalone((nn_act_kind)a, NAN), NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1);
        ck_assert_msg(w <= BOUND, "%s: error %g", nn_act_name((nn_act_kind)a), w);
    }
    ck_assert_double_le(run3(standalone(NN_ACT_LEAKY_RELU, 0.2), NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
    ck_assert_double_le(run3(standalone(NN_ACT_ELU, 0.7), NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
}
END_TEST

START_TEST(dense_without_bias)
{
    nn_layer_spec mid = tu_dense(5, NN_ACT_SIGMOID);
    mid.use_bias = 0;
    ck_assert_double_le(run3(mid, NN_LOSS_MSE, NN_ACT_LINEAR, 2, 0, 1), BOUND);
}
END_TEST

START_TEST(dropout_layer)
{
    nn_layer_spec mid;
    nn_layer_spec_default(&mid);
    mid.kind = NN_LAYER_DROPOUT;
    mid.rate = 0.3;
    ck_assert_double_le(run3(mid, NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
}
END_TEST

/* Every loss, with class labels and with target rows where both apply. */
START_TEST(losses)
{
    nn_layer_spec mid = tu_dense(7, NN_ACT_RELU);
    ck_assert_double_le(run3(mid, NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
    ck_assert_double_le(run3(mid, NN_LOSS_MAE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
    ck_assert_double_le(run3(mid, NN_LOSS_CROSS_ENTROPY, NN_ACT_SOFTMAX, 4, 1, 1), BOUND);
    ck_assert_double_le(run3(mid, NN_LOSS_CROSS_ENTROPY, NN_ACT_LINEAR, 4, 0, 1), BOUND);
    ck_assert_double_le(run3(mid, NN_LOSS_BCE, NN_ACT_SIGMOID, 1, 1, 1), BOUND);
    ck_assert_double_le(run3(mid, NN_LOSS_BCE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
}
END_TEST

/* The threaded paths: layers wide enough to split over 2 threads (wide and
 * narrow backward), and a row-wise activation inside a split layer. */
START_TEST(threaded_paths)
{
    nn_layer_spec layers[4] = {tu_dense(70, NN_ACT_GELU), tu_dense(80, NN_ACT_SOFTMAX),
                               standalone(NN_ACT_TANH, NAN), tu_dense(5, NN_ACT_SOFTMAX)};
    nn_spec s = {.input = {1, {3}}, .n_layers = 4, .layers = layers,
                 .loss = NN_LOSS_CROSS_ENTROPY};
    gc_case c = {.loss = NN_LOSS_CROSS_ENTROPY, .B = 3, .in = 3, .labels = 1, .threads = 2};
    ck_assert_double_le(gradcheck(&s, &c), BOUND);
}
END_TEST

/* A dense layer on a sequence [time, features] applies to every step. */
START_TEST(dense_on_sequence)
{
    nn_layer_spec layers[2] = {tu_dense(5, NN_ACT_TANH), tu_dense(2, NN_ACT_LINEAR)};
    nn_spec s = {.input = {2, {3, 4}}, .n_layers = 2, .layers = layers, .loss = NN_LOSS_MSE};
    gc_case c = {.loss = NN_LOSS_MSE, .B = 4, .in = 12, .labels = 0, .threads = 1};
    ck_assert_double_le(gradcheck(&s, &c), BOUND);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Convolutional layers: pre conv (3 channels) -> layer -> flatten -> dense */

static nn_layer_spec conv(int filters, int kh, int kw, int sh, int sw, nn_padding pad, int ph,
                          int pw, nn_act_kind act)
{
    nn_layer_spec l = tu_conv(filters, kh, kw, sh, sw, pad, ph, pw);
    l.act = act;
    return l;
}

/* input [C, H, W] -> conv 3x3 same (3 filters, tanh) -> mid -> flatten -> dense 3 -> mse */
static double run_image(nn_layer_spec mid, int C, int H, int W, int threads)
{
    nn_layer_spec layers[4] = {conv(3, 3, 3, 1, 1, NN_PAD_SAME, 0, 0, NN_ACT_TANH), mid,
                               tu_window(NN_LAYER_FLATTEN, 0, 0, 0, 0), tu_dense(3, NN_ACT_LINEAR)};
    nn_spec s = {.input = {3, {C, H, W}}, .n_layers = 4, .layers = layers, .loss = NN_LOSS_MSE};
    gc_case c = {.loss = NN_LOSS_MSE, .B = 3, .in = C * H * W, .labels = 0, .threads = threads};
    return gradcheck(&s, &c);
}

START_TEST(conv2d_layers)
{
    struct {
        nn_layer_spec l;
        int C, H, W;
        const char *what;
    } cases[] = {
        {conv(4, 3, 3, 1, 1, NN_PAD_VALID, 0, 0, NN_ACT_LINEAR), 2, 6, 7, "3x3 valid"},
        {conv(2, 3, 3, 1, 1, NN_PAD_SAME, 0, 0, NN_ACT_RELU), 1, 5, 5, "3x3 same, relu"},
        {conv(2, 2, 2, 1, 1, NN_PAD_SAME, 0, 0, NN_ACT_GELU), 2, 5, 4, "2x2 same (uneven), gelu"},
        {conv(3, 3, 3, 2, 2, NN_PAD_EXPLICIT, 1, 1, NN_ACT_TANH), 3, 7, 6, "3x3 stride 2 pad 1"},
        {conv(2, 3, 2, 2, 1, NN_PAD_EXPLICIT, 0, 1, NN_ACT_SIGMOID), 1, 6, 5, "3x2 stride 2x1"},
        {conv(3, 1, 1, 1, 1, NN_PAD_VALID, 0, 0, NN_ACT_ELU), 2, 3, 3, "1x1"},
        /* kernel rows of 3 channels x 6 columns: the row-copy lowering (the
         * cases above, with short rows, take the transposed one) */
        {conv(2, 3, 6, 1, 1, NN_PAD_EXPLICIT, 1, 2, NN_ACT_TANH), 2, 5, 8, "3x6 pad 1x2, rows"},
        {conv(3, 2, 6, 2, 2, NN_PAD_VALID, 0, 0, NN_ACT_LINEAR), 1, 6, 9, "2x6 stride 2, rows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double w = run_image(cases[i].l, cases[i].C, cases[i].H, cases[i].W, 1);
        ck_assert_msg(w <= BOUND, "conv2d %s: error %g", cases[i].what, w);
        w = run_image(cases[i].l, cases[i].C, cases[i].H, cases[i].W, 2);
        ck_assert_msg(w <= BOUND, "conv2d %s, 2 threads: error %g", cases[i].what, w);
    }
    nn_layer_spec nb = conv(2, 3, 3, 1, 1, NN_PAD_VALID, 0, 0, NN_ACT_LINEAR);
    nb.use_bias = 0;
    ck_assert_double_le(run_image(nb, 2, 5, 5, 1), BOUND);
}
END_TEST

START_TEST(pooling_layers)
{
    struct {
        nn_layer_spec l;
        int C, H, W;
        const char *what;
    } cases[] = {
        {tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 0, 0), 2, 6, 6, "max 2x2"},
        {tu_window(NN_LAYER_MAXPOOL2D, 3, 3, 2, 2), 1, 7, 7, "max 3x3 stride 2 (overlapping)"},
        {tu_window(NN_LAYER_MAXPOOL2D, 2, 3, 2, 1), 2, 5, 6, "max 2x3 stride 2x1, odd sizes"},
        /* non-overlapping windows after the tanh convolution: fused with it */
        {tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 3, 3), 2, 7, 8, "max 2x2 stride 3 (gaps), fused"},
        {tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 0, 0), 1, 5, 7, "max 2x2 dropping a border, fused"},
        {tu_window(NN_LAYER_AVGPOOL2D, 2, 2, 0, 0), 2, 6, 5, "avg 2x2 (dropping a column)"},
        {tu_window(NN_LAYER_AVGPOOL2D, 3, 2, 1, 1), 1, 5, 5, "avg 3x2 stride 1"},
        {tu_window(NN_LAYER_GLOBAL_AVGPOOL, 0, 0, 0, 0), 2, 4, 5, "global average"},
        {tu_window(NN_LAYER_BATCHNORM, 0, 0, 0, 0), 2, 4, 4, "batchnorm on channels (train mode)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int th = 1; th <= 2; th++) {
            double w = run_image(cases[i].l, cases[i].C, cases[i].H, cases[i].W, th);
            ck_assert_msg(w <= BOUND, "%s (%d threads): error %g", cases[i].what, th, w);
        }
}
END_TEST

START_TEST(batchnorm_on_features)
{
    nn_layer_spec mid = tu_window(NN_LAYER_BATCHNORM, 0, 0, 0, 0);
    mid.momentum = 0.3;
    mid.eps = 1e-3;
    ck_assert_double_le(run3(mid, NN_LOSS_MSE, NN_ACT_LINEAR, 3, 0, 1), BOUND);
    ck_assert_double_le(run3(mid, NN_LOSS_CROSS_ENTROPY, NN_ACT_SOFTMAX, 4, 1, 2), BOUND);
}
END_TEST

/* The check itself must catch a wrong gradient: scale one analytic value. */
START_TEST(check_detects_errors)
{
    nn_layer_spec layers[1] = {tu_dense(3, NN_ACT_LINEAR)};
    nn_spec s = {.input = {1, {4}}, .n_layers = 1, .layers = layers, .loss = NN_LOSS_MSE};
    nn_model *m;
    nn_model_opts o = {.seed = 1, .threads = 1};
    ck_assert_int_eq(nn_model_new(&s, &o, &m, NULL), NN_OK);
    nn_real x[8] = {1, 2, 3, 4, -1, 0.5, 0.25, 2}, y[6] = {1, 0, -1, 0.5, 0.5, 0};
    nn_real dout[6];
    nn_loss_out lo;
    const nn_real *out = nn_model_forward(m, x, 2, 1, NULL);
    nn_loss(NN_LOSS_MSE, out, NULL, y, 2, 3, dout, &lo);
    nn_model_backward(m, dout);
    nn_real *p = nn_model_params(m);
    double g0 = nn_model_grads(m)[0];
    p[0] += STEP;
    out = nn_model_forward(m, x, 2, 1, NULL);
    nn_loss(NN_LOSS_MSE, out, NULL, y, 2, 3, NULL, &lo);
    double lp = lo.loss;
    p[0] -= 2 * STEP;
    out = nn_model_forward(m, x, 2, 1, NULL);
    nn_loss(NN_LOSS_MSE, out, NULL, y, 2, 3, NULL, &lo);
    double num = (lp - lo.loss) / (2 * STEP);
    ck_assert_double_le(fabs(num - g0), BOUND);
    ck_assert_double_gt(fabs(num - 1.01 * g0), BOUND);   /* a 1% error is visible */
    nn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gradcheck_f64");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dense_activations);
    tcase_add_test(tc, standalone_activations);
    tcase_add_test(tc, dense_without_bias);
    tcase_add_test(tc, dropout_layer);
    tcase_add_test(tc, losses);
    tcase_add_test(tc, threaded_paths);
    tcase_add_test(tc, dense_on_sequence);
    tcase_add_test(tc, check_detects_errors);
    tcase_add_test(tc, conv2d_layers);
    tcase_add_test(tc, pooling_layers);
    tcase_add_test(tc, batchnorm_on_features);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
