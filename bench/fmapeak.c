/*
 * fmapeak.c — the machine's peak rate of single-precision fused
 * multiply-adds: 12 independent chains of AVX-512 FMAs in registers (enough
 * to hide the instruction's latency on two FMA pipes), on one core, then on
 * two at once (one thread pinned to each of the first two CPUs the process
 * may use).  Prints two numbers, GFLOP/s on one core and on two (2 FLOP per
 * lane per FMA, 16 lanes), the best of 5 runs of about 0.05 s each.
 *
 * bench/compare.sh prints them and each figure's share of the two-core
 * peak.  Exits 1 without AVX-512 or with fewer than two CPUs.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

enum { CHAINS = 12, ROUNDS = 5 };
#define ITERS 20000000L

static int cpu[2];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pin(int c)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(c, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

typedef struct run {
    int cpu;
    double gflops;
    float sink;   /* keeps the chains' results alive */
} run;

__attribute__((target("avx512f"))) static void *fma_chains(void *arg)
{
    run *r = arg;
    pin(r->cpu);
    __m512 a[CHAINS];
    const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++)
        a[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long k = 0; k < ITERS; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++)
            a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    double t = now() - t0;
    __m512 s = a[0];
    for (int i = 1; i < CHAINS; i++)
        s = _mm512_add_ps(s, a[i]);
    float f[16];
    _mm512_storeu_ps(f, s);
    r->sink = f[0];
    r->gflops = (double)ITERS * CHAINS * 16 * 2 / t / 1e9;
    return NULL;
}

int main(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "fmapeak: this CPU has no AVX-512\n");
        return 1;
    }
    cpu_set_t all;
    int n = 0;
    if (sched_getaffinity(0, sizeof all, &all) == 0)
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &all))
                cpu[n++] = c;
    if (n < 2) {
        fprintf(stderr, "fmapeak: needs two CPUs\n");
        return 1;
    }
    double one = 0, two = 0;
    for (int k = 0; k < ROUNDS; k++) {
        run a = {cpu[0], 0, 0}, b = {cpu[1], 0, 0};
        fma_chains(&a);
        if (a.gflops > one)
            one = a.gflops;
        pthread_t t;
        if (pthread_create(&t, NULL, fma_chains, &b) != 0)
            return 1;
        fma_chains(&a);
        pthread_join(t, NULL);
        if (a.gflops + b.gflops > two)
            two = a.gflops + b.gflops;
    }
    printf("%.0f %.0f\n", one, two);
    return 0;
}
