/*
 * test_gradcheck_rnn_f64.c — numerical gradient checks through time of the
 * recurrent layers (rnn with tanh and relu, lstm, gru), on the double build.
 *
 * Each case builds  tu_dense(pre, per step) -> recurrent tu_layer(s) -> [dense] ->
 * loss  on a small random batch of sequences (T >= 4), takes the analytic
 * gradient of every parameter from one backward pass and compares it with
 * the central difference  (L(p + h) - L(p - h)) / 2h,  h = 1e-6.  The pre
 * layer's weight gradients carry the recurrent layer's input gradient, so
 * dx is checked too.  Bound, as in test_gradcheck_f64.c:
 *     |analytic - numeric| <= 1e-6 * max(1, |analytic|, |numeric|).
 * Every case checks every parameter (and asserts how many that is) and
 * asserts that most gradients are non-zero.
 *
 * Truncated BPTT (bptt = k) is checked against its definition: the steps
 * are cut into chunks [0, k), [k, 2k), ... and the state entering a chunk
 * is a constant.  The numeric side evaluates the loss with nn_recurrent_ref
 * run chunk by chunk from the entering states of the unperturbed
 * parameters (frozen), so a perturbation moves only what the truncated
 * gradient accounts for.  The same cases also assert that the truncated
 * gradient differs from the full one, so the cut is real.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
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
    int labels;             /* class indices, one per output row (per step of a sequence) */
    int threads;
    int frozen;             /* numeric loss from the chunked reference (truncated BPTT) */
} gc_case;

typedef struct gc_data {
    const nn_spec *spec;
    const gc_case *c;
    nn_real *x, *y;
    int rows, D;            /* output rows (B * steps) and values per row */
    nn_real *h_fz, *c_fz;   /* frozen states of the reference (frozen cases) */
} gc_data;

static const nn_real *tensor(nn_model *m, const char *name)
{
    for (int t = 0; t < nn_model_n_tensors(m); t++)
        if (!strcmp(nn_model_tensor(m, t)->name, name))
            return nn_model_params(m) + nn_model_tensor(m, t)->offset;
    return NULL;
}

static double loss_of(const gc_data *d, const nn_real *out, nn_real *grad)
{
    nn_loss_out lo;
    nn_loss(d->c->loss, out, d->c->labels ? d->y : NULL, d->c->labels ? NULL : d->y, d->rows,
            d->D, grad, &lo);
    return lo.loss;
}

/* The frozen-state model: layer 0 a linear dense [T, F0] -> [T, F], layer 1
 * the recurrent layer; the loss is on its output.  With freeze, runs the
 * whole sequence and keeps every step's state in d->h_fz / d->c_fz; else
 * runs chunk by chunk from the kept states. */
static double ref_loss(nn_model *m, gc_data *d, int freeze)
{
    const nn_spec *s = d->spec;
    const nn_layer_spec *rl = &s->layers[1];
    const int B = d->c->B, T = s->input.dim[0], F0 = s->input.dim[1];
    const int F = s->layers[0].units, H = rl->units;
    const nn_real *w = tensor(m, "layers.0.weight"), *bias = tensor(m, "layers.0.bias");
    const nn_real *wih = tensor(m, "layers.1.weight_ih_l0"), *whh = tensor(m, "layers.1.weight_hh_l0");
    const nn_real *bih = tensor(m, "layers.1.bias_ih_l0"), *bhh = tensor(m, "layers.1.bias_hh_l0");
    nn_real *xp = malloc(sizeof(nn_real) * (size_t)B * T * F);
    nn_real *h = malloc(sizeof(nn_real) * (size_t)B * T * H);
    for (int r = 0; r < B * T; r++)
        for (int j = 0; j < F; j++) {
            double v = bias ? bias[j] : 0;
            for (int k = 0; k < F0; k++)
                v += (double)w[j * F0 + k] * d->x[r * F0 + k];
            xp[r * F + j] = (nn_real)v;
        }
    if (freeze) {
        nn_recurrent_ref(rl->kind, rl->act, xp, B, T, F, H, wih, whh, bih, bhh, NULL, NULL, d->h_fz,
                         d->c_fz);
        memcpy(h, d->h_fz, sizeof(nn_real) * (size_t)B * T * H);
    } else {
        int k = rl->bptt;
        nn_real *xc = malloc(sizeof(nn_real) * (size_t)B * k * F);
        nn_real *hc = malloc(sizeof(nn_real) * (size_t)B * k * H);
        nn_real *h0 = malloc(sizeof(nn_real) * (size_t)B * H), *c0 = malloc(sizeof(nn_real) * (size_t)B * H);
        for (int s0 = 0; s0 < T; s0 += k) {
            int len = T - s0 < k ? T - s0 : k;
            for (int b = 0; b < B; b++) {
                memcpy(xc + (size_t)b * len * F, xp + ((size_t)b * T + s0) * F,
                       sizeof(nn_real) * (size_t)len * F);
                if (s0 > 0) {
                    memcpy(h0 + (size_t)b * H, d->h_fz + ((size_t)b * T + s0 - 1) * H, sizeof(nn_real) * H);
                    memcpy(c0 + (size_t)b * H, d->c_fz + ((size_t)b * T + s0 - 1) * H, sizeof(nn_real) * H);
                }
            }
            nn_recurrent_ref(rl->kind, rl->act, xc, B, len, F, H, wih, whh, bih, bhh,
                             s0 > 0 ? h0 : NULL, s0 > 0 ? c0 : NULL, hc, NULL);
            for (int b = 0; b < B; b++)
                memcpy(h + ((size_t)b * T + s0) * H, hc + (size_t)b * len * H,
                       sizeof(nn_real) * (size_t)len * H);
        }
        free(xc);
        free(hc);
        free(h0);
        free(c0);
    }
    if (!rl->return_sequences)   /* the last step's state */
        for (int b = 0; b < B; b++)
            memmove(h + (size_t)b * H, h + ((size_t)b * T + T - 1) * H, sizeof(nn_real) * H);
    double L = loss_of(d, h, NULL);
    free(xp);
    free(h);
    return L;
}

static double numeric_loss(nn_model *m, gc_data *d)
{
    if (d->c->frozen)
        return ref_loss(m, d, 0);
    const nn_real *out = nn_model_forward(m, d->x, d->c->B, 1, NULL);
    ck_assert_ptr_nonnull(out);
    return loss_of(d, out, NULL);
}

/* Runs the check; returns the largest scaled error.  When g_out is given,
 * it receives a copy of the analytic gradient (n_param values). */
static double gradcheck(const nn_spec *spec, const gc_case *c, nn_real **g_out, size_t *n_out)
{
    nn_model *m;
    nn_err e;
    nn_model_opts o = {.seed = 11, .threads = c->threads};
    ck_assert_msg(nn_model_new(spec, &o, &m, &e) == NN_OK, "model: %s", e.msg);
    nn_shape os = nn_model_out_shape(m);
    gc_data d = {.spec = spec, .c = c};
    d.D = os.dim[os.rank - 1];
    d.rows = (int)(c->B * nn_model_out_size(m) / d.D);
    int64_t in = nn_model_in_size(m);
    nn_rng r;
    nn_rng_seed(&r, 99, 0);
    d.x = malloc(sizeof(nn_real) * (size_t)(c->B * in));
    d.y = malloc(sizeof(nn_real) * (size_t)d.rows * d.D);
    nn_real *dout = malloc(sizeof(nn_real) * (size_t)d.rows * d.D);
    for (int64_t i = 0; i < c->B * in; i++)
        d.x[i] = (nn_real)(2 * nn_rng_uniform(&r) - 1);
    for (int i = 0; i < d.rows; i++) {
        if (c->labels) {
            d.y[i] = (nn_real)(c->loss == NN_LOSS_BCE ? nn_rng_below(&r, 2) : nn_rng_below(&r, (uint64_t)d.D));
            continue;
        }
        double s = 0;
        for (int j = 0; j < d.D; j++) {
            double v = c->loss == NN_LOSS_MSE || c->loss == NN_LOSS_MAE ? 2 * nn_rng_uniform(&r) - 1
                                                                        : nn_rng_uniform(&r);
            d.y[i * d.D + j] = (nn_real)v;
            s += v;
        }
        if (c->loss == NN_LOSS_CROSS_ENTROPY)
            for (int j = 0; j < d.D; j++)
                d.y[i * d.D + j] = (nn_real)(d.y[i * d.D + j] / s);
    }
    /* perturb the weights with a fixed stream, so that biases are off zero */
    nn_real *p = nn_model_params(m);
    size_t n = nn_model_n_params(m);
    for (size_t i = 0; i < n; i++)
        p[i] += (nn_real)(0.1 * (2 * nn_rng_uniform(&r) - 1));

    const nn_real *out = nn_model_forward(m, d.x, c->B, 1, NULL);
    loss_of(&d, out, dout);
    nn_model_backward(m, dout);
    nn_real *g = malloc(sizeof(nn_real) * n);
    memcpy(g, nn_model_grads(m), sizeof(nn_real) * n);
    if (c->frozen) {
        int T = spec->input.dim[0], H = spec->layers[1].units;
        d.h_fz = malloc(sizeof(nn_real) * (size_t)c->B * T * H);
        d.c_fz = calloc((size_t)c->B * T * H, sizeof(nn_real));
        /* the reference's loss with frozen states is the model's loss */
        double want = ref_loss(m, &d, 1);
        ck_assert_double_eq_tol(ref_loss(m, &d, 0), want, 1e-12);
        ck_assert_double_eq_tol(loss_of(&d, nn_model_forward(m, d.x, c->B, 1, NULL), NULL), want,
                                1e-12);
    }

    double worst = 0;
    size_t checked = 0, nonzero = 0, expect = 0;
    for (int t = 0; t < nn_model_n_tensors(m); t++) {
        const nn_param_tensor *pt = nn_model_tensor(m, t);
        expect += pt->numel;
        for (size_t k = 0; k < pt->numel; k++) {
            size_t i = pt->offset + k;
            nn_real keep = p[i];
            p[i] = keep + STEP;
            double lp = numeric_loss(m, &d);
            p[i] = keep - STEP;
            double lm = numeric_loss(m, &d);
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
    ck_assert_uint_eq(checked, expect);
    ck_assert_uint_ge(checked, 40);
    ck_assert_msg(nonzero * 10 >= checked * 6, "only %zu of %zu gradients are non-zero", nonzero,
                  checked);
    if (g_out) {
        *g_out = g;
        *n_out = n;
    } else {
        free(g);
    }
    free(d.x);
    free(d.y);
    free(d.h_fz);
    free(d.c_fz);
    free(dout);
    nn_model_free(m);
    return worst;
}

/* input [T, 3] -> dense 4 (per step) -> rec -> [post] -> loss */
static double run(nn_layer_spec rec, const nn_layer_spec *post, int n_post, int T,
                  nn_loss_kind loss, int labels, int threads, int B)
{
    nn_layer_spec layers[5];
    layers[0] = tu_dense(4, NN_ACT_LINEAR);
    layers[1] = rec;
    for (int i = 0; i < n_post; i++)
        layers[2 + i] = post[i];
    nn_spec s = {.input = {2, {T, 3}}, .n_layers = 2 + n_post, .layers = layers, .loss = loss};
    gc_case c = {.loss = loss, .B = B, .labels = labels, .threads = threads};
    return gradcheck(&s, &c, NULL, NULL);
}

static const char *what(nn_layer_spec l)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "%s%s%s%s bptt %d", nn_layer_kind_name(l.kind),
             l.kind == NN_LAYER_RNN ? (l.act == NN_ACT_RELU ? " relu" : " tanh") : "",
             l.return_sequences ? " sequences" : " last step", l.use_bias ? "" : " no bias",
             l.bptt);
    return buf;
}

/* Every cell, with and without return_sequences and bias, 1 and 2 threads;
 * a dense layer on the output (per step for sequences), mse. */
START_TEST(every_cell)
{
    nn_layer_spec cells[4] = {tu_layer(NN_LAYER_RNN, 5), tu_layer(NN_LAYER_RNN, 5),
                              tu_layer(NN_LAYER_LSTM, 5), tu_layer(NN_LAYER_GRU, 5)};
    cells[0].act = NN_ACT_TANH;
    cells[1].act = NN_ACT_RELU;
    /* He's zero biases keep relu units on for some steps (PyTorch's uniform
     * biases leave half of them off throughout on so short a batch) */
    cells[1].init = NN_INIT_HE_UNIFORM;
    nn_layer_spec post = tu_dense(2, NN_ACT_LINEAR);
    double worst = 0;
    for (int i = 0; i < 4; i++)
        for (int v = 0; v < 4; v++) {
            nn_layer_spec l = cells[i];
            l.return_sequences = v & 1;
            l.use_bias = !(v & 2) || i == 1;
            double w = run(l, &post, 1, 5, NN_LOSS_MSE, 0, 1 + (v & 1), 3);
            ck_assert_msg(w <= BOUND, "%s: error %g", what(l), w);
            worst = fmax(worst, w);
        }
    printf("gradcheck rnn cells: worst scaled error %.2e (bound %.0e)\n", worst, BOUND);
}
END_TEST

/* The output of the recurrent layer straight into the loss (no dense). */
START_TEST(loss_on_states)
{
    nn_layer_spec kinds[3] = {tu_layer(NN_LAYER_RNN, 4), tu_layer(NN_LAYER_LSTM, 4), tu_layer(NN_LAYER_GRU, 4)};
    for (int i = 0; i < 3; i++)
        for (int sq = 0; sq < 2; sq++) {
            nn_layer_spec l = kinds[i];
            l.return_sequences = sq;
            double w = run(l, NULL, 0, 6, NN_LOSS_MSE, 0, 1, 3);
            ck_assert_msg(w <= BOUND, "%s: error %g", what(l), w);
        }
}
END_TEST

/* Rows split over 2 threads (a batch of 20: parts of 16 and 4 rows) and
 * gate rows split so that gru's r/z and n blocks fall on both sides. */
START_TEST(threaded_splits)
{
    nn_layer_spec post = tu_dense(3, NN_ACT_LINEAR);
    nn_layer_spec g = tu_seq(tu_layer(NN_LAYER_GRU, 12));   /* 36 gate rows: parts [0, 32) [32, 36) */
    ck_assert_double_le(run(g, &post, 1, 4, NN_LOSS_MSE, 0, 2, 20), BOUND);
    nn_layer_spec g2 = tu_layer(NN_LAYER_GRU, 7);        /* 21 gate rows: [0, 16) [16, 21) */
    ck_assert_double_le(run(g2, &post, 1, 4, NN_LOSS_MSE, 0, 2, 20), BOUND);
    nn_layer_spec l = tu_seq(tu_layer(NN_LAYER_LSTM, 6));
    ck_assert_double_le(run(l, &post, 1, 4, NN_LOSS_MSE, 0, 2, 20), BOUND);
}
END_TEST

/* Stacked: lstm -> lstm (many-to-one) -> dense -> cross_entropy on class
 * labels; gru -> dense per step -> cross_entropy with a label per step;
 * rnn -> lstm (sequences) -> dense per step -> mse per step. */
START_TEST(stacked_and_per_step_losses)
{
    nn_layer_spec a[3] = {tu_seq(tu_layer(NN_LAYER_LSTM, 4)), tu_layer(NN_LAYER_LSTM, 5),
                          tu_dense(3, NN_ACT_SOFTMAX)};
    double w = run(a[0], a + 1, 2, 5, NN_LOSS_CROSS_ENTROPY, 1, 1, 3);
    ck_assert_msg(w <= BOUND, "lstm -> lstm -> dense, cross_entropy: %g", w);

    nn_layer_spec b = tu_seq(tu_layer(NN_LAYER_GRU, 5)), bd = tu_dense(3, NN_ACT_SOFTMAX);
    w = run(b, &bd, 1, 5, NN_LOSS_CROSS_ENTROPY, 1, 2, 3);
    ck_assert_msg(w <= BOUND, "gru -> dense per step, cross_entropy per step: %g", w);
    w = run(b, &bd, 1, 4, NN_LOSS_CROSS_ENTROPY, 0, 1, 3);
    ck_assert_msg(w <= BOUND, "gru -> dense per step, soft targets per step: %g", w);

    nn_layer_spec c[3] = {tu_seq(tu_layer(NN_LAYER_RNN, 4)), tu_seq(tu_layer(NN_LAYER_LSTM, 3)),
                          tu_dense(2, NN_ACT_LINEAR)};
    w = run(c[0], c + 1, 2, 5, NN_LOSS_MSE, 0, 1, 3);
    ck_assert_msg(w <= BOUND, "rnn -> lstm -> dense per step, mse: %g", w);

    nn_layer_spec bc = tu_dense(1, NN_ACT_SIGMOID);
    w = run(tu_seq(tu_layer(NN_LAYER_LSTM, 4)), &bc, 1, 4, NN_LOSS_BCE, 1, 1, 3);
    ck_assert_msg(w <= BOUND, "lstm -> dense 1 per step, binary_cross_entropy per step: %g", w);
}
END_TEST

/* input [7, 3] -> dense 4 -> rec(bptt 3): chunks [0, 3) [3, 6) [6, 7) */
static double run_truncated(nn_layer_spec rec, int threads, nn_real **g, size_t *n)
{
    nn_layer_spec layers[2] = {tu_dense(4, NN_ACT_LINEAR), rec};
    nn_spec s = {.input = {2, {7, 3}}, .n_layers = 2, .layers = layers, .loss = NN_LOSS_MSE};
    gc_case c = {.loss = NN_LOSS_MSE, .B = 3, .threads = threads, .frozen = rec.bptt > 0};
    return gradcheck(&s, &c, g, n);
}

START_TEST(truncated_bptt)
{
    nn_layer_spec cells[4] = {tu_layer(NN_LAYER_RNN, 4), tu_layer(NN_LAYER_RNN, 4),
                              tu_layer(NN_LAYER_LSTM, 4), tu_layer(NN_LAYER_GRU, 4)};
    cells[1].act = NN_ACT_RELU;
    double worst = 0;
    for (int i = 0; i < 4; i++)
        for (int sq = 0; sq < 2; sq++) {
            nn_layer_spec l = cells[i];
            l.return_sequences = sq;
            l.bptt = 3;
            nn_real *gt, *gf;
            size_t n;
            double w = run_truncated(l, 1 + sq, &gt, &n);
            ck_assert_msg(w <= BOUND, "%s: error %g", what(l), w);
            worst = fmax(worst, w);
            /* the full gradient (bptt 0, checked against the model itself) differs */
            l.bptt = 0;
            w = run_truncated(l, 1, &gf, &n);
            ck_assert_msg(w <= BOUND, "%s: error %g", what(l), w);
            double diff = 0;
            for (size_t k = 0; k < n; k++)
                diff = fmax(diff, fabs(gt[k] - gf[k]));
            ck_assert_msg(diff > 1e-4, "%s: truncation changes no gradient (%g)", what(l), diff);
            free(gt);
            free(gf);
        }
    /* bptt >= T is the full gradient */
    nn_layer_spec l = tu_seq(tu_layer(NN_LAYER_LSTM, 4));
    nn_real *g7, *g0;
    size_t n;
    l.bptt = 7;
    nn_layer_spec layers[2] = {tu_dense(4, NN_ACT_LINEAR), l};
    nn_spec s = {.input = {2, {7, 3}}, .n_layers = 2, .layers = layers, .loss = NN_LOSS_MSE};
    gc_case c = {.loss = NN_LOSS_MSE, .B = 3, .threads = 1};
    ck_assert_double_le(gradcheck(&s, &c, &g7, &n), BOUND);
    layers[1].bptt = 0;
    ck_assert_double_le(gradcheck(&s, &c, &g0, &n), BOUND);
    ck_assert_int_eq(memcmp(g7, g0, n * sizeof *g0), 0);
    free(g7);
    free(g0);
    printf("gradcheck truncated bptt: worst scaled error %.2e (bound %.0e)\n", worst, BOUND);
}
END_TEST

/* The layer's forward against the plain-loop reference. */
START_TEST(forward_matches_reference)
{
    nn_layer_spec kinds[4] = {tu_layer(NN_LAYER_RNN, 6), tu_layer(NN_LAYER_RNN, 6),
                              tu_layer(NN_LAYER_LSTM, 6), tu_layer(NN_LAYER_GRU, 6)};
    kinds[1].act = NN_ACT_RELU;
    for (int i = 0; i < 4; i++)
        for (int th = 1; th <= 2; th++) {
            nn_layer_spec l = tu_seq(kinds[i]);
            nn_spec s = {.input = {2, {5, 3}}, .n_layers = 1, .layers = &l, .loss = NN_LOSS_MSE};
            nn_model_opts o = {.seed = 5, .threads = th};
            nn_model *m;
            ck_assert_int_eq(nn_model_new(&s, &o, &m, NULL), NN_OK);
            enum { B = 19, N = B * 5 * 3 };
            nn_real x[N], want[B * 5 * 6], got[B * 5 * 6];
            nn_rng r;
            nn_rng_seed(&r, 3, 0);
            for (int k = 0; k < N; k++)
                x[k] = (nn_real)nn_rng_normal(&r);
            ck_assert_int_eq(nn_model_predict(m, x, B, got, NULL), NN_OK);
            nn_recurrent_ref(l.kind, l.act, x, B, 5, 3, 6, tensor(m, "layers.0.weight_ih_l0"),
                             tensor(m, "layers.0.weight_hh_l0"), tensor(m, "layers.0.bias_ih_l0"),
                             tensor(m, "layers.0.bias_hh_l0"), NULL, NULL, want, NULL);
            for (int k = 0; k < B * 5 * 6; k++)
                ck_assert_msg(fabs(got[k] - want[k]) <= 1e-12, "%s: %d: %g vs %g", what(l), k,
                              (double)got[k], (double)want[k]);
            nn_model_free(m);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gradcheck_rnn_f64");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, forward_matches_reference);
    tcase_add_test(tc, every_cell);
    tcase_add_test(tc, loss_on_states);
    tcase_add_test(tc, threaded_splits);
    tcase_add_test(tc, stacked_and_per_step_losses);
    tcase_add_test(tc, truncated_bptt);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
