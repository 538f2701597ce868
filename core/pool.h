/*
 * pool.h — a fixed team of compute threads that run one task at a time.
 *
 * nn_pool_run(p, fn, ctx) calls fn(ctx, part, nth) once for every part
 * 0 .. nth-1, where nth is the team size, and returns when all parts have
 * returned: a fork and a join, with the join as a barrier.  Parts run on
 * whichever thread claims them first (the caller takes part too), so a
 * part must not assume a thread; it splits its work by (part, nth), which
 * keeps results deterministic for a given team size.  Workers spin for a
 * short while after each task, so that the many small tasks of a training
 * step start within a microsecond, then sleep.
 *
 * A pool is driven by one thread at a time; tasks must not call
 * nn_pool_run themselves.
 *
 * Inside a task the parts may meet at nn_pool_barrier(): every part of the
 * task must then call it the same number of times.  This cannot deadlock
 * on a thread that took two parts: a thread takes its own part first and
 * another only once it has finished its own, which (when the task has a
 * barrier) every other part must have started for; so the parts of a task
 * with barriers run on distinct threads, all at once.
 */
#ifndef NN_POOL_H
#define NN_POOL_H

typedef struct nn_pool nn_pool;
typedef void (*nn_task_fn)(void *ctx, int tid, int nth);

/* A team of nthreads (>= 1; the caller counts as one). NULL on failure. */
nn_pool *nn_pool_new(int nthreads);
void nn_pool_free(nn_pool *p);

int nn_pool_size(const nn_pool *p);

/* Runs fn on all threads and waits for them. */
void nn_pool_run(nn_pool *p, nn_task_fn fn, void *ctx);

/* Waits until every part of the running task has called it (as often). */
void nn_pool_barrier(nn_pool *p);

/* Splits [0, n) into nth parts whose bounds are multiples of `align`
 * (except n itself); part tid is [*lo, *hi), possibly empty. */
void nn_split(int n, int tid, int nth, int align, int *lo, int *hi);

#endif
