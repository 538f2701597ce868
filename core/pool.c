/*
 * pool.c — the compute team (see pool.h).
 *
 * Hand-off: the driver publishes (fn, ctx), sets `pending` to the number of
 * workers and bumps `gen`; each worker, seeing a new gen, runs the task and
 * decrements `pending`; the driver runs its own share and waits for pending
 * to reach zero.  A worker that saw no new gen for SPIN_NS sleeps on the
 * condition variable; it first counts itself in `sleepers` and re-checks gen
 * under the mutex, and the driver wakes sleepers under the same mutex, so no
 * wake-up is lost (all atomics are sequentially consistent).
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 200000   /* 0.2 ms: longer than any gap inside a training step */

struct nn_pool {
    int n;                       /* threads, caller included */
    pthread_t *threads;
    nn_task_fn fn;
    void *ctx;
    atomic_uint gen;
    atomic_int pending;
    atomic_int sleepers;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

typedef struct worker_arg {
    nn_pool *p;
    int tid;
} worker_arg;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits until gen differs from seen; returns the new gen. */
static unsigned wait_gen(nn_pool *p, unsigned seen)
{
    int64_t t0 = now_ns();
    for (unsigned i = 0;; i++) {
        unsigned g = atomic_load(&p->gen);
        if (g != seen)
            return g;
        if ((i & 63) == 63 && now_ns() - t0 > SPIN_NS)
            break;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    nn_pool *p = a.p;
    unsigned seen = 0;
    for (;;) {
        seen = wait_gen(p, seen);
        if (atomic_load(&p->stop))
            break;
        p->fn(p->ctx, a.tid, p->n);
        atomic_fetch_sub(&p->pending, 1);
    }
    return NULL;
}

static void publish(nn_pool *p)
{
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

nn_pool *nn_pool_new(int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    nn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        nn_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < nthreads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            nn_pool_free(p);
            return NULL;
        }
        a->p = p;
        a->tid = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            nn_pool_free(p);
            return NULL;
        }
        p->n = i + 1;
    }
    return p;
}

void nn_pool_free(nn_pool *p)
{
    if (!p)
        return;
    if (p->n > 1) {
        atomic_store(&p->stop, 1);
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->gen, 1);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++)
            pthread_join(p->threads[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int nn_pool_size(const nn_pool *p)
{
    return p ? p->n : 1;
}

void nn_pool_run(nn_pool *p, nn_task_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    publish(p);
    fn(ctx, 0, p->n);
    for (unsigned i = 0; atomic_load(&p->pending) > 0; i++) {
        if ((i & 1023) == 1023)
            sched_yield();   /* a worker may have been descheduled */
        else
            cpu_relax();
    }
}

void nn_split(int n, int tid, int nth, int align, int *lo, int *hi)
{
    if (align < 1)
        align = 1;
    int blocks = (n + align - 1) / align;
    int per = blocks / nth, extra = blocks % nth;
    int b0 = tid * per + (tid < extra ? tid : extra);
    int b1 = b0 + per + (tid < extra ? 1 : 0);
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}
