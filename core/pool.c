/*
 * pool.c — the compute team (see pool.h).
 *
 * A task is cut into nth parts.  The driver publishes (fn, ctx) and a new
 * generation g; every thread of the team, the driver included, then claims
 * parts and counts each finished one in `done`; the driver returns when
 * done == nth.  Part i belongs first to thread i (so that a thread keeps
 * working on the same slice of every matrix, which stays in its cache), but
 * any thread may take a part nobody has started: when a worker is slow to
 * wake, or descheduled on a busy machine, the driver runs its part instead
 * of waiting.  A part is identified by its number, not by the thread that
 * runs it, so the results do not depend on which thread ran what.
 *
 * Claiming: owner[i] holds the generation that last ran part i.  Every
 * generation runs every part exactly once, so when generation g starts all
 * owners read g - 1, and a claim is the compare-and-swap g - 1 -> g.  A
 * worker still looking at an older generation expects an older value and
 * cannot claim anything of the new one.
 *
 * A worker that saw no new generation for SPIN_NS sleeps on the condition
 * variable; it first counts itself in `sleepers` and re-checks under the
 * mutex, and the driver wakes sleepers under the same mutex, so no wake-up
 * is lost (all atomics are sequentially consistent).  A claim can only
 * succeed for the current generation, and the driver does not replace
 * (fn, ctx) before every part of it is done, so a claimed part always runs
 * the task it belongs to.
 *
 * The barrier counts arrivals in `bar_count`; the last part to arrive
 * resets the count and then advances `bar_gen`, which the others wait for
 * (the count is reset before anyone can leave, so the next barrier starts
 * from zero).  The counters have a cache line of their own, as have the
 * parts' owners: the threads write them at every task.
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 200000   /* 0.2 ms: longer than any gap inside a training step */
#define LINE 64
#define OWNER_STRIDE (LINE / sizeof(atomic_uint))   /* one owner per cache line */

struct nn_pool {
    int n;                       /* threads, caller included */
    pthread_t *threads;
    nn_task_fn fn;
    void *ctx;
    atomic_uint gen;             /* the task's generation */
    atomic_uint *owner;          /* part i's at owner[i * OWNER_STRIDE]: the
                                    generation that last ran it */
    atomic_int done;
    atomic_int sleepers;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Alignas(LINE) atomic_int bar_count;
    atomic_uint bar_gen;
};

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int claim(nn_pool *p, int part, unsigned g)
{
    unsigned expect = g - 1;
    atomic_uint *o = &p->owner[(size_t)part * OWNER_STRIDE];
    /* a plain read first: a part already taken costs no write to its line */
    return atomic_load(o) == expect && atomic_compare_exchange_strong(o, &expect, g);
}

/* Runs parts of generation g: this thread's own first, then any left. */
static void work(nn_pool *p, unsigned g, int self)
{
    if (self < p->n && claim(p, self, g)) {
        p->fn(p->ctx, self, p->n);
        atomic_fetch_add(&p->done, 1);
    }
    for (int i = 0; i < p->n; i++)
        if (i != self && claim(p, i, g)) {
            p->fn(p->ctx, i, p->n);
            atomic_fetch_add(&p->done, 1);
        }
}

/* Waits until the generation differs from seen; returns the new one. */
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

typedef struct worker_arg {
    nn_pool *p;
    int tid;
} worker_arg;

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    unsigned seen = 0;
    for (;;) {
        seen = wait_gen(a.p, seen);
        if (atomic_load(&a.p->stop))
            break;
        work(a.p, seen, a.tid);
    }
    return NULL;
}

nn_pool *nn_pool_new(int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    nn_pool *p = aligned_alloc(LINE, sizeof *p);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    p->owner = aligned_alloc(LINE, (size_t)nthreads * LINE);
    if (!p->threads || !p->owner) {
        nn_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < nthreads; i++)
        atomic_init(&p->owner[(size_t)i * OWNER_STRIDE], 0);
    /* the team size is fixed before any worker starts: parts are cut by it */
    p->n = nthreads;
    int started = 1;
    for (int i = 1; i < nthreads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a)
            break;
        *a = (worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
        started++;
    }
    if (started < nthreads) {
        p->n = started;   /* nn_pool_free joins the started ones */
        nn_pool_free(p);
        return NULL;
    }
    return p;
}

void nn_pool_free(nn_pool *p)
{
    if (!p)
        return;
    if (p->n > 1 && p->threads) {
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
    free(p->owner);
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
    atomic_store(&p->done, 0);
    unsigned g = atomic_load(&p->gen) + 1;
    atomic_store(&p->gen, g);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, g, 0);
    /* parts claimed by workers may still be running */
    for (unsigned i = 0; atomic_load(&p->done) < p->n; i++) {
        if ((i & 255) == 255)
            sched_yield();
        else
            cpu_relax();
    }
}

void nn_pool_barrier(nn_pool *p)
{
    if (!p || p->n == 1)
        return;
    unsigned g = atomic_load(&p->bar_gen);
    if (atomic_fetch_add(&p->bar_count, 1) == p->n - 1) {
        atomic_store(&p->bar_count, 0);
        atomic_store(&p->bar_gen, g + 1);
        return;
    }
    for (unsigned i = 0; atomic_load(&p->bar_gen) == g; i++) {
        if ((i & 1023) == 1023)
            sched_yield();   /* a busy machine: let the missing part run */
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
