/*
 * test_optim.c — optimizers, schedules, clipping, the GEMM wrapper against
 * its reference twin, the thread pool and the RNG.
 *
 * The optimizer values below are what torch.optim (PyTorch 1.13) produces
 * for one parameter starting at 1.0 with gradients 0.5, -0.25, 0.125.
 */
#include <check.h>

#include "testutil.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "optim.h"
#include "pool.h"
#include "rng.h"

static const double grads[3] = {0.5, -0.25, 0.125};

static void steps(const nn_optim_cfg *c, const double want[3])
{
    nn_real p = 1, g, state[2] = {0, 0};
    for (int t = 0; t < 3; t++) {
        g = (nn_real)grads[t];
        nn_optim_update(c, c->lr, t + 1, &p, &g, state, 1, 0, 1);
        ck_assert_msg(fabs(p - want[t]) < 2e-6, "%s step %d: got %.9f want %.9f",
                      nn_optim_name(c->kind), t + 1, (double)p, want[t]);
    }
}

START_TEST(sgd_steps)
{
    nn_optim_cfg c;
    nn_optim_cfg_default(&c, NN_OPT_SGD);
    c.lr = 0.1;
    steps(&c, (double[]){0.95, 0.975, 0.9625});
    c.weight_decay = 0.1;
    steps(&c, (double[]){0.94, 0.9556, 0.933544});
    c.weight_decay = 0;
    c.momentum = 0.9;
    ck_assert_uint_eq(nn_optim_state_size(&c, 10), 10);
    steps(&c, (double[]){0.95, 0.93, 0.8995});
    c.nesterov = 1;
    steps(&c, (double[]){0.905, 0.912, 0.87205});
}
END_TEST

START_TEST(adam_steps)
{
    nn_optim_cfg c;
    nn_optim_cfg_default(&c, NN_OPT_ADAM);
    c.lr = 0.01;
    ck_assert_uint_eq(nn_optim_state_size(&c, 10), 20);
    steps(&c, (double[]){0.9900000002, 0.9873366298707846, 0.9839323384916654});
    c.weight_decay = 0.1;
    steps(&c, (double[]){0.9900000001666667, 0.9853191993058599, 0.9797440953138302});
    nn_optim_cfg_default(&c, NN_OPT_ADAMW);
    c.lr = 0.01;
    ck_assert_double_eq(c.weight_decay, 0.01);
    steps(&c, (double[]){0.9899000002, 0.9871376398707646, 0.9836346347276583});
}
END_TEST

START_TEST(rmsprop_steps)
{
    nn_optim_cfg c;
    nn_optim_cfg_default(&c, NN_OPT_RMSPROP);
    c.lr = 0.01;
    ck_assert_uint_eq(nn_optim_state_size(&c, 10), 10);
    steps(&c, (double[]){0.900000019999996, 0.9449013374421751, 0.9228909217602068});
    c.momentum = 0.5;
    ck_assert_uint_eq(nn_optim_state_size(&c, 10), 20);
    steps(&c, (double[]){0.900000019999996, 0.8949013474421731, 0.8703415954812934});
}
END_TEST

/* An update split over ranges gives the same values as one pass. */
START_TEST(update_split_is_exact)
{
    nn_optim_cfg c;
    nn_optim_cfg_default(&c, NN_OPT_ADAM);
    enum { N = 1000 };
    static nn_real p1[N], p2[N], g[N], s1[2 * N], s2[2 * N];
    nn_rng r;
    nn_rng_seed(&r, 5, 0);
    for (int i = 0; i < N; i++) {
        p1[i] = p2[i] = (nn_real)nn_rng_normal(&r);
        g[i] = (nn_real)nn_rng_normal(&r);
    }
    nn_optim_update(&c, 0.01, 1, p1, g, s1, N, 0, N);
    nn_optim_update(&c, 0.01, 1, p2, g, s2, N, 0, 333);
    nn_optim_update(&c, 0.01, 1, p2, g, s2, N, 333, N);
    ck_assert_int_eq(memcmp(p1, p2, sizeof p1), 0);
    ck_assert_int_eq(memcmp(s1, s2, sizeof s1), 0);
}
END_TEST

START_TEST(schedules)
{
    nn_sched_cfg s;
    nn_sched_cfg_default(&s, NN_SCHED_CONSTANT);
    ck_assert_double_eq(nn_sched_lr(&s, 0.1, 500, 7, 1000), 0.1);
    nn_sched_cfg_default(&s, NN_SCHED_STEP);
    s.step_size = 3;
    s.gamma = 0.5;
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 0, 0, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 0, 2, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 0, 3, 100), 0.05, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 0, 7, 100), 0.025, 1e-15);
    nn_sched_cfg_default(&s, NN_SCHED_EXPONENTIAL);
    ck_assert_double_eq(s.gamma, 0.95);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 1.0, 0, 2, 100), 0.9025, 1e-15);
    nn_sched_cfg_default(&s, NN_SCHED_COSINE);
    s.min_lr = 0.01;
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 0, 0, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 50, 0, 100), 0.055, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 100, 0, 100), 0.01, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 25, 0, 100),
                            0.01 + 0.09 * 0.5 * (1 + cos(M_PI / 4)), 1e-15);
    /* warm-up multiplies by (step + 1) / warmup_steps, then lets go */
    s.warmup_steps = 10;
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 0, 0, 100), 0.1 * 0.1, 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 4, 0, 100),
                            0.5 * (0.01 + 0.09 * 0.5 * (1 + cos(M_PI * 0.04))), 1e-15);
    ck_assert_double_eq_tol(nn_sched_lr(&s, 0.1, 10, 0, 100),
                            0.01 + 0.09 * 0.5 * (1 + cos(M_PI * 0.1)), 1e-15);
    ck_assert_str_eq(nn_sched_name(NN_SCHED_COSINE), "cosine");
    ck_assert_int_eq(nn_sched_from_name("step"), NN_SCHED_STEP);
    ck_assert_int_eq(nn_sched_from_name("linear"), -1);
}
END_TEST

START_TEST(clipping)
{
    nn_real g[4] = {3, 4, 0, 0};   /* norm 5 */
    double norm = sqrt(nn_sumsq(g, 0, 4));
    ck_assert_double_eq_tol(norm, 5, 1e-12);
    double f = nn_clip_factor(norm, 1.0);
    ck_assert_double_eq_tol(f, 1.0 / (5 + 1e-6), 1e-15);
    nn_scale(g, f, 0, 4);
    ck_assert_double_eq_tol(sqrt(nn_sumsq(g, 0, 4)), 1.0, 1e-6);
    ck_assert_double_eq(nn_clip_factor(0.5, 1.0), 1.0);   /* never scales up */
}
END_TEST

/* nn_gemm against nn_gemm_ref on random shapes, every transposition, both
 * backends (libnn's own kernel where the CPU has it, and the BLAS), and the
 * shapes of a training step of the benchmark MLP. */
START_TEST(gemm_matches_reference)
{
    /* M, N, K; {784, 16, 10} and {10, 16, 784} are the first convolution's
     * products (16 filters: the narrow 16 x 16 tile), {37, 16, 5} a ragged one */
    static const int fixed[][3] = {{64, 256, 784}, {256, 784, 64}, {64, 784, 256}, {33, 10, 128},
                                   {10, 128, 64},  {1, 1, 1},      {8, 32, 1},     {9, 33, 17},
                                   {784, 16, 10},  {10, 16, 784},  {37, 16, 5}};
    enum { NFIXED = sizeof fixed / sizeof fixed[0], PER = 40 + 4 * NFIXED };
    nn_gemm_setup();
    nn_rng r;
    nn_rng_seed(&r, 3, 0);
    for (int trial = 0; trial < 2 * PER; trial++) {
        nn_gemm_force_blas(trial >= PER);
        int t = trial % PER;
        int M = 1 + (int)nn_rng_below(&r, 70), N = 1 + (int)nn_rng_below(&r, 70);
        int K = 1 + (int)nn_rng_below(&r, 90);
        if (t >= 40) {   /* each fixed shape with all four transpositions */
            M = fixed[(t - 40) / 4][0];
            N = fixed[(t - 40) / 4][1];
            K = fixed[(t - 40) / 4][2];
        }
        int ta = trial & 1, tb = (trial >> 1) & 1;
        nn_real alpha = (nn_real)(0.5 + nn_rng_uniform(&r)), beta = trial % 3 ? 1 : 0;
        int lda = (ta ? M : K) + (int)nn_rng_below(&r, 3);
        int ldb = (tb ? K : N) + (int)nn_rng_below(&r, 3);
        int ldc = N + (int)nn_rng_below(&r, 3);
        nn_real *A = malloc(sizeof(nn_real) * (size_t)lda * (ta ? K : M));
        nn_real *B = malloc(sizeof(nn_real) * (size_t)ldb * (tb ? N : K));
        nn_real *C1 = malloc(sizeof(nn_real) * (size_t)ldc * M);
        nn_real *C2 = malloc(sizeof(nn_real) * (size_t)ldc * M);
        for (int i = 0; i < lda * (ta ? K : M); i++)
            A[i] = (nn_real)nn_rng_normal(&r);
        for (int i = 0; i < ldb * (tb ? N : K); i++)
            B[i] = (nn_real)nn_rng_normal(&r);
        for (int i = 0; i < ldc * M; i++)
            C1[i] = C2[i] = (nn_real)nn_rng_normal(&r);
        nn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
        nn_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++) {
                double a = C1[i * ldc + j], b = C2[i * ldc + j];
                ck_assert_msg(fabs(a - b) <= 1e-4 * (1 + fabs(b)) * (1 + K / 100.0),
                              "trial %d (%s; %d,%d,%d ta %d tb %d): C[%d][%d] %g vs %g", trial,
                              nn_gemm_backend(), M, N, K, ta, tb, i, j, a, b);
            }
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
    nn_gemm_force_blas(0);
}
END_TEST

typedef struct pool_ctx {
    int n;
    int *owner;
    atomic_int calls;
} pool_ctx;

static void mark(void *ctx, int tid, int nth)
{
    pool_ctx *c = ctx;
    int lo, hi;
    atomic_fetch_add(&c->calls, 1);
    nn_split(c->n, tid, nth, 16, &lo, &hi);
    for (int i = lo; i < hi; i++)
        c->owner[i] += tid + 1;
}

/* Every index is covered exactly once, for many runs in a row, and the
 * split bounds are aligned. */
START_TEST(pool_covers_every_index)
{
    for (int threads = 1; threads <= 3; threads++) {
        nn_pool *p = nn_pool_new(threads);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(nn_pool_size(p), threads);
        pool_ctx c = {.n = 1000};
        c.owner = calloc(1000, sizeof(int));
        for (int run = 0; run < 500; run++)
            nn_pool_run(p, mark, &c);
        ck_assert_int_eq(atomic_load(&c.calls), 500 * threads);
        for (int i = 0; i < 1000; i++)
            ck_assert_int_eq(c.owner[i] % 500, 0);
        free(c.owner);
        nn_pool_free(p);
    }
    int lo, hi;
    nn_split(100, 0, 2, 16, &lo, &hi);
    ck_assert_int_eq(lo, 0);
    ck_assert_int_eq(hi, 64);
    nn_split(100, 1, 2, 16, &lo, &hi);
    ck_assert_int_eq(lo, 64);
    ck_assert_int_eq(hi, 100);
    nn_split(10, 1, 2, 16, &lo, &hi);
    ck_assert_int_eq(lo, hi);   /* nothing left for the second thread */
    nn_pool_free(NULL);
}
END_TEST

typedef struct barrier_ctx {
    nn_pool *p;
    atomic_int slot[4];
    int seen[4][50];          /* per part, per round: the sum it saw after the barrier */
} barrier_ctx;

/* 50 rounds: each part writes its slot, meets the others, reads every slot,
 * meets them again (so that nobody overwrites a slot still being read). */
static void rounds(void *ctx, int part, int nth)
{
    barrier_ctx *c = ctx;
    for (int r = 0; r < 50; r++) {
        atomic_store(&c->slot[part], r * 10 + part);
        nn_pool_barrier(c->p);
        int sum = 0;
        for (int i = 0; i < nth; i++)
            sum += atomic_load(&c->slot[i]);
        c->seen[part][r] = sum;
        nn_pool_barrier(c->p);
    }
}

/* Every part sees every other part's write of the same round: none passes
 * a barrier early, none is left behind, for teams of 1 to 4 and many tasks. */
START_TEST(pool_barrier_waits_for_every_part)
{
    for (int threads = 1; threads <= 4; threads++) {
        barrier_ctx c = {.p = nn_pool_new(threads)};
        ck_assert_ptr_nonnull(c.p);
        for (int task = 0; task < 20; task++) {
            nn_pool_run(c.p, rounds, &c);
            for (int part = 0; part < threads; part++)
                for (int r = 0; r < 50; r++)
                    ck_assert_int_eq(c.seen[part][r],
                                     threads * r * 10 + threads * (threads - 1) / 2);
        }
        nn_pool_free(c.p);
    }
}
END_TEST

START_TEST(rng_is_seeded_and_saveable)
{
    nn_rng a, b, c;
    nn_rng_seed(&a, 42, 1);
    nn_rng_seed(&b, 42, 1);
    nn_rng_seed(&c, 42, 2);
    ck_assert_uint_eq(nn_rng_next(&a), nn_rng_next(&b));
    ck_assert_uint_ne(nn_rng_next(&a), nn_rng_next(&c));
    nn_rng saved = a;
    uint64_t x = nn_rng_next(&a);
    ck_assert_uint_eq(nn_rng_next(&saved), x);
    /* uniform in [0, 1), normal with about the right moments, below() in range */
    double s = 0, s2 = 0;
    int counts[5] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = nn_rng_uniform(&a);
        ck_assert(u >= 0 && u < 1);
        double z = nn_rng_normal(&a);
        s += z;
        s2 += z * z;
        counts[nn_rng_below(&a, 5)]++;
    }
    ck_assert_double_lt(fabs(s / 1e5), 0.02);
    ck_assert_double_lt(fabs(s2 / 1e5 - 1), 0.02);
    for (int k = 0; k < 5; k++)
        ck_assert_int_gt(counts[k], 19000);
    int64_t idx[10];
    for (int i = 0; i < 10; i++)
        idx[i] = i;
    nn_rng_shuffle(&a, idx, 10);
    int seen = 0;
    for (int i = 0; i < 10; i++)
        seen |= 1 << idx[i];
    ck_assert_int_eq(seen, 1023);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sgd_steps);
    tcase_add_test(tc, adam_steps);
    tcase_add_test(tc, rmsprop_steps);
    tcase_add_test(tc, update_split_is_exact);
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, clipping);
    tcase_add_test(tc, gemm_matches_reference);
    tcase_add_test(tc, pool_covers_every_index);
    tcase_add_test(tc, pool_barrier_waits_for_every_part);
    tcase_add_test(tc, rng_is_seeded_and_saveable);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
