/*
 * test_threads.c — the same seed gives the same weights, bit for bit,
 * whatever the thread count (model.h): an MLP with dropout (SGD with
 * momentum, and Adam with clip_norm), a CNN with batchnorm, max and average
 * pooling and a fused convolution + pool, an LSTM and a GRU (a class per
 * step), each trained for a few epochs with 1, 2 and 4 threads, with
 * libnn's kernel and with the BLAS; a run paused with one thread count and
 * resumed with another; and more threads than shards.  Also the profile of
 * a step (nn_model_profile).
 *
 * Guards against vacuous passes: every run must have moved its weights from
 * their initial values and must end with a finite loss below its first
 * epoch's, and the batches are cut unevenly (150 samples in batches of 32:
 * four of 32 and one of 22, into 8 shards of 4 or 3, or 2 and 3 rows).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "model.h"
#include "rng.h"
#include "specs.h"
#include "testutil.h"
#include "train.h"

enum { N = 150 };

typedef struct net {
    const char *name;
    nn_shape input;
    int n_layers;
    nn_layer_spec layers[12];
    int classes;          /* labels per sample are classes in [0, classes) */
    int per_step;         /* a class per step of a [T, C] output */
} net;

static nn_layer_spec layer(nn_layer_kind k)
{
    nn_layer_spec l;
    nn_layer_spec_default(&l);
    l.kind = k;
    return l;
}

static nn_layer_spec dropout(double rate)
{
    nn_layer_spec l = layer(NN_LAYER_DROPOUT);
    l.rate = rate;
    return l;
}

static nn_layer_spec conv(int filters, nn_act_kind act)
{
    nn_layer_spec l = tu_conv(filters, 3, 3, 1, 1, NN_PAD_SAME, 0, 0);
    l.act = act;
    return l;
}

static net mlp(void)
{
    net n = {"mlp", {1, {20}}, 4, {tu_dense(48, NN_ACT_RELU), dropout(0.3),
                                   tu_dense(40, NN_ACT_TANH), tu_dense(5, NN_ACT_SOFTMAX)},
             5, 0};
    return n;
}

/* conv + batchnorm + relu + maxpool, conv relu + maxpool (fused), avgpool,
 * flatten, dense + batchnorm, dropout, dense */
static net cnn(void)
{
    net n = {"cnn", {3, {3, 12, 12}}, 12, {conv(8, NN_ACT_LINEAR), layer(NN_LAYER_BATCHNORM),
                                          layer(NN_LAYER_ACT), tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 0, 0),
                                          conv(16, NN_ACT_RELU),
                                          tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 0, 0),
                                          tu_window(NN_LAYER_AVGPOOL2D, 2, 2, 1, 1),
                                          layer(NN_LAYER_FLATTEN), tu_dense(24, NN_ACT_RELU),
                                          layer(NN_LAYER_BATCHNORM), dropout(0.2),
                                          tu_dense(4, NN_ACT_SOFTMAX)},
             4, 0};
    n.layers[2].act = NN_ACT_RELU;
    return n;
}

static net lstm(void)
{
    net n = {"lstm", {2, {7, 5}}, 2, {tu_layer(NN_LAYER_LSTM, 24), tu_dense(3, NN_ACT_SOFTMAX)},
             3, 0};
    return n;
}

static net gru(void)
{
    net n = {"gru", {2, {6, 4}}, 2, {tu_seq(tu_layer(NN_LAYER_GRU, 20)),
                                     tu_dense(3, NN_ACT_SOFTMAX)},
             3, 1};
    return n;
}

static nn_model *build(const net *n, int threads, uint64_t seed)
{
    nn_spec s = {.input = n->input, .n_layers = n->n_layers, .layers = (nn_layer_spec *)n->layers,
                 .loss = NN_LOSS_CROSS_ENTROPY};
    nn_model_opts o = {.seed = seed, .threads = threads};
    nn_model *m;
    nn_err e;
    ck_assert_msg(nn_model_new(&s, &o, &m, &e) == NN_OK, "%s: %s", n->name, e.msg);
    return m;
}

/* Random inputs; the class of a sample (or of a step) from a fixed random
 * projection of its values, so that there is something to learn. */
static void data(const net *n, nn_dataset *d)
{
    memset(d, 0, sizeof *d);
    int64_t in = nn_shape_numel(&n->input), T = n->per_step ? n->input.dim[0] : 1;
    int64_t xd[2] = {N, in}, yd[2] = {N, T};
    ck_assert_int_eq(nn_tensor_alloc(&d->x, 2, xd), NN_OK);
    ck_assert_int_eq(nn_tensor_alloc(&d->y, n->per_step ? 2 : 1, yd), NN_OK);
    d->n_classes = n->classes;
    nn_rng r;
    nn_rng_seed(&r, 77, 0);
    for (int64_t i = 0; i < N * in; i++)
        d->x.data[i] = (nn_real)nn_rng_normal(&r);
    int64_t per = in / T;
    for (int64_t i = 0; i < N; i++)
        for (int64_t t = 0; t < T; t++) {
            double best = -1e300;
            int c = 0;
            for (int k = 0; k < n->classes; k++) {
                double v = 0;
                for (int64_t j = 0; j < per; j++)
                    v += d->x.data[i * in + t * per + j] * sin(1.0 + 3 * k + 0.7 * (double)j);
                if (v > best) {
                    best = v;
                    c = k;
                }
            }
            d->y.data[i * T + t] = (nn_real)c;
        }
}

static void cfg_of(nn_train_cfg *c, int adam)
{
    nn_train_cfg_default(c);
    nn_optim_cfg_default(&c->optim, adam ? NN_OPT_ADAM : NN_OPT_SGD);
    if (!adam) {
        c->optim.lr = 0.05;
        c->optim.momentum = 0.9;
    } else {
        c->clip_norm = 0.5;
    }
    c->batch_size = 32;
    c->epochs = 3;
    c->seed = 9;
}

typedef struct weights {
    size_t np, nb;
    nn_real *p, *b;
    double first_loss, last_loss;
} weights;

static void on_epoch(void *u, const nn_epoch_metrics *m)
{
    weights *w = u;
    if (m->epoch == 1)
        w->first_loss = m->loss;
    w->last_loss = m->loss;
}

static weights snapshot(nn_model *m)
{
    weights w = {nn_model_n_params(m), nn_model_n_buffers(m), NULL, NULL, 0, 0};
    w.p = malloc((w.np + 1) * sizeof *w.p);
    w.b = malloc((w.nb + 1) * sizeof *w.b);
    memcpy(w.p, nn_model_params(m), w.np * sizeof *w.p);
    memcpy(w.b, nn_model_buffers(m), w.nb * sizeof *w.b);
    return w;
}

static void weights_free(weights *w)
{
    free(w->p);
    free(w->b);
}

/* Trains n with the given threads and shards; returns the final weights. */
static weights trained(const net *n, const nn_dataset *d, const nn_train_cfg *c, int threads)
{
    nn_model *m = build(n, threads, 3);
    weights init = snapshot(m), w = {0};
    nn_trainer *t;
    nn_train_result r;
    nn_err e;
    ck_assert_msg(nn_trainer_new(m, c, d, NULL, &t, &e) == NN_OK, "%s", e.msg);
    nn_callbacks cb = {&w, NULL, on_epoch, NULL};
    ck_assert_msg(nn_trainer_run(t, &cb, &r, &e) == NN_OK, "%s", e.msg);
    ck_assert_int_eq(r.reason, NN_STOP_MAX_EPOCHS);
    weights out = snapshot(m);
    out.first_loss = w.first_loss;
    out.last_loss = w.last_loss;
    ck_assert_msg(isfinite(out.last_loss) && out.last_loss < out.first_loss,
                  "%s: loss %g after %g", n->name, out.last_loss, out.first_loss);
    ck_assert_msg(memcmp(out.p, init.p, out.np * sizeof *out.p) != 0, "%s did not train",
                  n->name);
    weights_free(&init);
    nn_trainer_free(t);
    nn_model_free(m);
    return out;
}

static void assert_same(const net *n, const weights *a, const weights *b, const char *what)
{
    ck_assert_uint_eq(a->np, b->np);
    size_t diff = 0, first = 0;
    for (size_t i = a->np; i-- > 0;)
        if (memcmp(&a->p[i], &b->p[i], sizeof a->p[i]) != 0) {
            diff++;
            first = i;
        }
    ck_assert_msg(diff == 0, "%s, %s (%s): %zu of %zu weights differ, the first at %zu "
                  "(%.9g vs %.9g)", n->name, what, nn_gemm_backend(), diff, a->np, first,
                  (double)a->p[first], (double)b->p[first]);
    ck_assert_msg(memcmp(a->b, b->b, a->nb * sizeof *a->b) == 0, "%s, %s: buffers differ",
                  n->name, what);
    ck_assert_msg(memcmp(&a->last_loss, &b->last_loss, sizeof a->last_loss) == 0,
                  "%s, %s: last loss %.17g vs %.17g", n->name, what, a->last_loss, b->last_loss);
}

/* 1, 2 and 4 threads, 8 shards and 3, libnn's kernel and the BLAS. */
static void thread_counts_agree(const net *n, int adam)
{
    nn_dataset d;
    data(n, &d);
    nn_train_cfg c;
    cfg_of(&c, adam);
    for (int blas = 0; blas < 2; blas++) {
        nn_gemm_force_blas(blas);
        for (int shards = 8; shards >= 3; shards -= 5) {
            c.shards = shards;
            weights one = trained(n, &d, &c, 1);
            for (int th = 2; th <= 4; th += 2) {
                char what[64];
                snprintf(what, sizeof what, "%d threads against 1, %d shards", th, shards);
                weights w = trained(n, &d, &c, th);
                assert_same(n, &one, &w, what);
                weights_free(&w);
            }
            weights_free(&one);
        }
    }
    nn_gemm_force_blas(0);
    nn_tensor_free(&d.x);
    nn_tensor_free(&d.y);
}

START_TEST(mlp_same_bits_for_1_2_4_threads)
{
    net n = mlp();
    thread_counts_agree(&n, 0);
    thread_counts_agree(&n, 1);
}
END_TEST

START_TEST(cnn_with_batchnorm_same_bits_for_1_2_4_threads)
{
    net n = cnn();
    thread_counts_agree(&n, 0);
}
END_TEST

START_TEST(lstm_same_bits_for_1_2_4_threads)
{
    net n = lstm();
    thread_counts_agree(&n, 1);
}
END_TEST

START_TEST(gru_same_bits_for_1_2_4_threads)
{
    net n = gru();
    thread_counts_agree(&n, 0);
}
END_TEST

typedef struct pause_at {
    int steps, at;
} pause_at;

static void count_step(void *u, const nn_step_info *si)
{
    (void)si;
    ((pause_at *)u)->steps++;
}

static int should_pause(void *u)
{
    const pause_at *p = u;
    return p->steps >= p->at ? NN_HOOK_PAUSE : NN_HOOK_CONTINUE;
}

/* Paused with `before` threads after `at` steps, resumed with `after` (into
 * a model of other initial weights, which the state replaces). */
static weights resumed(const net *n, const nn_dataset *d, const nn_train_cfg *c, int before,
                       int after, int at)
{
    nn_model *m = build(n, before, 3);
    nn_trainer *t;
    nn_train_result r;
    nn_err e;
    ck_assert_int_eq(nn_trainer_new(m, c, d, NULL, &t, NULL), NN_OK);
    pause_at p = {0, at};
    nn_callbacks cb = {&p, count_step, NULL, should_pause};
    ck_assert_int_eq(nn_trainer_run(t, &cb, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, NN_STOP_PAUSED);
    void *blob;
    size_t len;
    ck_assert_int_eq(nn_trainer_save(t, &blob, &len, NULL), NN_OK);
    nn_trainer_free(t);
    nn_model_free(m);

    m = build(n, after, 4);
    ck_assert_int_eq(nn_trainer_new(m, c, d, NULL, &t, NULL), NN_OK);
    ck_assert_msg(nn_trainer_load(t, blob, len, &e) == NN_OK, "%s", e.msg);
    weights w = {0};
    nn_callbacks cb2 = {&w, NULL, on_epoch, NULL};
    ck_assert_int_eq(nn_trainer_run(t, &cb2, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, NN_STOP_MAX_EPOCHS);
    weights out = snapshot(m);
    out.last_loss = w.last_loss;
    /* the state records the shard count: a run with another refuses it */
    nn_train_cfg other = *c;
    other.shards = c->shards + 1;
    nn_trainer *t2;
    ck_assert_int_eq(nn_trainer_new(m, &other, d, NULL, &t2, NULL), NN_OK);
    ck_assert_int_eq(nn_trainer_load(t2, blob, len, &e), NN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "shard count"));
    nn_trainer_free(t2);
    free(blob);
    nn_trainer_free(t);
    nn_model_free(m);
    return out;
}

START_TEST(resume_with_another_thread_count_is_bit_identical)
{
    net nets[2] = {cnn(), lstm()};
    for (int k = 0; k < 2; k++) {
        nn_dataset d;
        data(&nets[k], &d);
        nn_train_cfg c;
        cfg_of(&c, k);
        weights whole = trained(&nets[k], &d, &c, 1);
        /* mid-epoch (step 7 of 5 per epoch) and at an epoch's end (step 10) */
        for (int at = 7; at <= 10; at += 3) {
            weights a = resumed(&nets[k], &d, &c, 2, 4, at);
            weights b = resumed(&nets[k], &d, &c, 4, 1, at);
            assert_same(&nets[k], &whole, &a, "paused with 2 threads, resumed with 4");
            assert_same(&nets[k], &whole, &b, "paused with 4 threads, resumed with 1");
            weights_free(&a);
            weights_free(&b);
        }
        weights_free(&whole);
        nn_tensor_free(&d.x);
        nn_tensor_free(&d.y);
    }
}
END_TEST

/* The shard count is part of the result (batchnorm's statistics and the
 * convolutions' gradients are summed shard by shard), the thread count is
 * not; threads beyond the shards have no rows but share the gradients. */
START_TEST(more_threads_than_shards)
{
    net n = cnn();
    nn_dataset d;
    data(&n, &d);
    nn_train_cfg c;
    cfg_of(&c, 0);
    c.shards = 2;
    weights one = trained(&n, &d, &c, 1), four = trained(&n, &d, &c, 4);
    assert_same(&n, &one, &four, "4 threads, 2 shards");
    c.shards = 1;
    weights single = trained(&n, &d, &c, 3);
    ck_assert_msg(memcmp(one.p, single.p, one.np * sizeof *one.p) != 0,
                  "1 and 2 shards gave the same weights");
    weights_free(&one);
    weights_free(&four);
    weights_free(&single);
    nn_tensor_free(&d.x);
    nn_tensor_free(&d.y);
}
END_TEST

/* The profile sees every layer's forward and backward on every part, the
 * weight gradients and the optimizer, adds up to no more than the steps'
 * time, and leaves evaluation out. */
START_TEST(profile_counts_every_phase)
{
    net n = mlp();
    nn_dataset d;
    data(&n, &d);
    nn_train_cfg c;
    cfg_of(&c, 0);
    nn_model *m = build(&n, 2, 3);
    ck_assert_int_eq(nn_model_profile_on(m, 1), NN_OK);
    const int slots = nn_model_profile_slots(m), L = n.n_layers;
    ck_assert_int_eq(slots, NN_PROF_LAYERS + 3 * L);
    nn_trainer *t;
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_new(m, &c, &d, NULL, &t, NULL), NN_OK);
    double t0 = nn_model_now();
    ck_assert_int_eq(nn_trainer_run(t, NULL, &r, NULL), NN_OK);
    double wall = nn_model_now() - t0, grads = 0;
    for (int p = 0; p < 2; p++) {
        const double *prof = nn_model_profile(m, p);
        double sum = 0;
        for (int k = 0; k < slots; k++)
            sum += prof[k];
        ck_assert_double_le(sum, wall);
        ck_assert_double_gt(prof[NN_PROF_GATHER], 0);
        ck_assert_double_gt(prof[NN_PROF_UPDATE], 0);
        for (int i = 0; i < L; i++) {
            ck_assert_msg(prof[NN_PROF_LAYERS + i] > 0, "part %d layer %d forward", p, i);
            ck_assert_msg(prof[NN_PROF_LAYERS + L + i] > 0, "part %d layer %d backward", p, i);
            grads += prof[NN_PROF_LAYERS + 2 * L + i];
        }
    }
    ck_assert_double_gt(grads, 0);
    double before[64], loss, acc;
    memcpy(before, nn_model_profile(m, 0), (size_t)slots * sizeof *before);
    ck_assert_int_eq(nn_evaluate(m, &d, 64, &loss, &acc, NULL), NN_OK);
    ck_assert_int_eq(memcmp(before, nn_model_profile(m, 0), (size_t)slots * sizeof *before), 0);
    ck_assert_int_eq(nn_model_profile_on(m, 0), NN_OK);
    ck_assert_ptr_null(nn_model_profile(m, 0));
    nn_trainer_free(t);
    nn_model_free(m);
    nn_tensor_free(&d.x);
    nn_tensor_free(&d.y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, mlp_same_bits_for_1_2_4_threads);
    tcase_add_test(tc, cnn_with_batchnorm_same_bits_for_1_2_4_threads);
    tcase_add_test(tc, lstm_same_bits_for_1_2_4_threads);
    tcase_add_test(tc, gru_same_bits_for_1_2_4_threads);
    tcase_add_test(tc, resume_with_another_thread_count_is_bit_identical);
    tcase_add_test(tc, more_threads_than_shards);
    tcase_add_test(tc, profile_counts_every_phase);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
