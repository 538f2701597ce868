/*
 * jobs.h — the job queue's workers: each claims the next queued job from the
 * store, trains it with the core on its share of the cores, and writes its
 * progress, checkpoints and weights back to the store.
 *
 * The queue itself lives in the store (priority, then first in, first out),
 * so that it survives restarts; this module keeps only what is live: which
 * job each worker trains, its step-by-step progress, and the cancel and stop
 * flags.  Anything that changes a job also bumps a change counter, which
 * event streams wait on.
 */
#ifndef JOBS_H
#define JOBS_H

#include <stddef.h>
#include <stdint.h>

typedef struct app app;
typedef struct jobs jobs;

/* Puts jobs left running by a previous process back in the queue, then
 * starts cfg.workers workers.  Caller stops with jobs_stop. */
int jobs_start(app *a, jobs **out, char *err, size_t errlen);

/* Stops: running jobs pause at their next step, write a checkpoint and go
 * back to the queue (they resume at the next start); waits for the workers. */
void jobs_stop(jobs *j);

/* Number of workers running. */
int jobs_workers(jobs *j);

/* Something was queued or changed: wakes idle workers and event streams. */
void jobs_notify(jobs *j);

/* A running job's cancel flag (the store already has cancel_requested). */
void jobs_cancel(jobs *j, int64_t id);

/* Live progress of a job being trained here; 0 when it is not running. */
typedef struct jobs_live {
    int epoch, epochs, step, steps_per_epoch;
    double samples_per_sec, elapsed, eta_seconds;
} jobs_live;
int jobs_live_progress(jobs *j, int64_t id, jobs_live *out);

/* The jobs being trained now: up to max ids with their live progress;
 * returns how many (at most one per worker). */
int jobs_running(jobs *j, int64_t *ids, jobs_live *live, int max);

/* What this process's workers have trained since it started (for
 * /metrics): optimizer steps and finished epochs, over all jobs. */
typedef struct jobs_totals {
    uint64_t steps, epochs;
} jobs_totals;
void jobs_get_totals(jobs *j, jobs_totals *out);

/* Waits until the change counter differs from *seen, timeout_ms passes or
 * the daemon stops; updates *seen.  Returns 1 on a change. */
int jobs_wait_change(jobs *j, uint64_t *seen, int timeout_ms);

/* The change counter now. */
uint64_t jobs_changes(jobs *j);

#endif
