/*
 * store.h — everything traind keeps, behind one interface: datasets (their
 * metadata and tensors), models, jobs, metric rows, job events, checkpoints
 * and weights.  The one implementation is SQLite (store.c); a second backend
 * (PostgreSQL, for several daemons sharing one queue) would implement this
 * header again, and the handlers would not change.
 *
 * Guarantees:
 *   - every function that changes something does it in one transaction: it
 *     has happened completely when it returns STORE_OK, or not at all;
 *   - a committed change survives a crash of the process (kill -9);
 *   - functions are safe to call from any thread at the same time;
 *   - an id (of a dataset, model or job) is never given twice, even after
 *     the row with the highest one is deleted and the store reopened.
 *
 * Status codes: STORE_OK (0), or one of the negative STORE_E* below; error
 * text goes to the caller's buffer (err, errlen; err may be NULL).
 * Ownership: structs filled by the store own their strings and buffers;
 * free them with the matching *_clear / store_free_* function.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

enum {
    STORE_OK = 0,
    STORE_ENOTFOUND = -1,   /* no row with that id (or no such weights, no checkpoint) */
    STORE_ECONFLICT = -2,   /* the row's state forbids the change */
    STORE_EIO = -3,         /* SQLite failed; err says how */
    STORE_ENOMEM = -4,
    STORE_EINVAL = -5,      /* bad arguments */
    STORE_EFULL = -6,       /* the disk (or the file system's quota) is full: nothing written */
};

typedef struct store store;

/* Opens (creating if needed) the database at path: WAL journal, foreign
 * keys on, synchronous FULL, a busy timeout, and every migration of
 * schema/NNN_*.sql not yet applied (tracked by PRAGMA user_version), each in
 * its own transaction.  ":memory:" is not supported (WAL needs a file).
 * Caller frees with store_close. */
int store_open(const char *path, store **out, char *err, size_t errlen);
void store_close(store *s);

/* The schema version (PRAGMA user_version) and the newest one this build
 * knows; equal after a successful store_open. */
int store_schema_version(store *s);
int store_schema_latest(void);

/* A trivial query; STORE_OK when the database answers. */
int store_ping(store *s);

/* Size of the database file plus its WAL, in bytes. */
int64_t store_size_bytes(store *s);

/* A full disk.  Beside the database the store keeps a reserve file,
 * DB-reserve (STORE_RESERVE_BYTES), made at open when there is room.  A
 * delete (store_dataset_delete, store_model_delete, store_job_delete) that
 * fails with STORE_EFULL gives the reserve back (truncates it) and tries
 * once more, so that space can be freed through the store on a full disk.
 * The reserve is made again once there is room (tried after a successful
 * write and by store_disk_full, at most every few seconds).  New databases
 * use incremental auto-vacuum, so a delete hands its pages back to the file
 * system instead of keeping them for reuse. */
#define STORE_RESERVE_BYTES ((int64_t)16 << 20)

/* 1 while the disk counts as full: a write failed for lack of space and
 * neither did a write succeed since nor is a reserve's worth free again;
 * or the reserve is given back and not yet made again; or less than 1 MB
 * is free on the database's file system.  0 otherwise.  why (may be NULL)
 * says which. */
int store_disk_full(store *s, char *why, size_t whylen);

/* ---------------------------------------------------------------------------
 * Datasets */

typedef struct store_dataset {
    int64_t id;
    char *name;
    char *format;                  /* "csv", "json", "idx", "npy" */
    int64_t n_samples;
    int x_rank, y_rank;
    int64_t x_shape[NN_MAX_RANK], y_shape[NN_MAX_RANK];
    int n_classes;
    char **classes;                /* n_classes names, or NULL */
    int64_t bytes;                 /* size of the upload */
    char sha256[65];               /* hex, of the upload */
    char created_at[32];           /* "2026-11-28T05:12:03.120Z" */
    char *columns;                 /* a table's feature columns, JSON (columns_json.h); NULL: not a table */
    char *label_name;              /* a table's label column; NULL: not a table */
    char *feature_scale;           /* JSON (columns_json.h); NULL: nothing to compare */
} store_dataset;

void store_dataset_clear(store_dataset *d);
void store_free_datasets(store_dataset *d, int n);

/* Stores a parsed dataset: its metadata (a table's columns and label name,
 * the spread of its features' scales) and its x and y tensors as float32
 * little-endian (written in pieces, never as one more copy in memory).  An
 * empty name becomes "dataset-<id>".  *id gets the new id. */
int store_dataset_insert(store *s, const char *name, const char *format, const nn_dataset *d,
                         int64_t bytes, const char *sha256, int64_t *id, char *err,
                         size_t errlen);

int store_dataset_get(store *s, int64_t id, store_dataset *out, char *err, size_t errlen);

/* All datasets, newest first. */
int store_dataset_list(store *s, store_dataset **out, int *n, char *err, size_t errlen);

/* Reads a dataset's tensors back into memory (x, y, classes, a table's
 * columns and label name), read in pieces straight into the tensors. */
int store_dataset_load(store *s, int64_t id, nn_dataset *out, char *err, size_t errlen);

/* STORE_ECONFLICT while a queued or running job uses it.  Finished jobs
 * that used it keep its id (store_job.dataset_id); the id is never given
 * to another dataset. */
int store_dataset_delete(store *s, int64_t id, char *err, size_t errlen);

/* ---------------------------------------------------------------------------
 * Models */

typedef struct store_model {
    int64_t id;
    char *name;
    char *definition;              /* canonical JSON text */
    char *summary;                 /* JSON text */
    char created_at[32];
} store_model;

void store_model_clear(store_model *m);
void store_free_models(store_model *m, int n);

/* An empty name becomes "model-<id>". */
int store_model_insert(store *s, const char *name, const char *definition, const char *summary,
                       int64_t *id, char *err, size_t errlen);
int store_model_get(store *s, int64_t id, store_model *out, char *err, size_t errlen);
int store_model_list(store *s, store_model **out, int *n, char *err, size_t errlen);
/* STORE_ECONFLICT while a queued or running job uses it; finished jobs
 * keep its id, as with datasets. */
int store_model_delete(store *s, int64_t id, char *err, size_t errlen);

/* ---------------------------------------------------------------------------
 * Jobs */

typedef struct store_job {
    int64_t id;
    /* The ids the job was made from, kept after those rows are deleted
     * (ids are never reused, so a kept id names only the deleted row); 0
     * also for a reference lost under schema 001, which set it NULL. */
    int64_t model_id;              /* 0 for an inline definition */
    int64_t dataset_id;
    int64_t val_dataset_id;        /* 0: none */
    double val_split;              /* < 0: none given */
    char *definition;              /* the model definition the job trains (JSON) */
    char *training;                /* the effective training object (JSON) */
    int priority;
    int checkpoint_every;
    int log_every_steps;
    int threads;                   /* set when first started; 0 before */
    char state[16];                /* queued, running, succeeded, failed, cancelled */
    char stop_reason[24];          /* "" until finished */
    char *error;                   /* NULL unless failed */
    int cancel_requested;
    int attempts;                  /* starts so far */
    char created_at[32], started_at[32], finished_at[32];   /* "" when not yet */
    /* progress as of the last committed epoch */
    int epoch, epochs, step, steps_per_epoch;
    double samples_per_sec;
    char *last_metrics, *best_metrics;   /* JSON objects, or NULL */
    /* what the job keeps of its own, whatever is deleted later */
    char *classes;                 /* JSON array of the class names it answers with; "[]": none */
    char label_as[8];              /* "class" or "numeric"; "": as its dataset stores the labels */
    char *preprocessing;           /* fitted at the first start (prep_json.h); "null": none; NULL: not yet */
    char *warnings;                /* JSON array of strings, from its creation */
} store_job;

void store_job_clear(store_job *j);
void store_free_jobs(store_job *j, int n);

/* Inserts a queued job from j's model_id, dataset_id, val_dataset_id,
 * val_split, definition, training, priority, checkpoint_every,
 * log_every_steps, epochs, classes, label_as and warnings (NULL: "[]");
 * records a "state" event {"state":"queued"}. */
int store_job_insert(store *s, const store_job *j, int64_t *id, char *err, size_t errlen);

int store_job_get(store *s, int64_t id, store_job *out, char *err, size_t errlen);

/* Jobs newest first; state NULL for all; only ids < before when before > 0;
 * at most limit rows. */
int store_job_list(store *s, const char *state, int64_t before, int limit, store_job **out,
                   int *n, char *err, size_t errlen);

/* 1-based position among queued jobs in the order they will run; 0 when the
 * job is not queued. */
int store_job_queue_position(store *s, int64_t id, int *pos, char *err, size_t errlen);

/* Keeps the job's fitted preprocessing (text) unless it has one already:
 * the first fit stays, and a resumed run applies exactly what it applied. */
int store_job_set_preprocessing(store *s, int64_t id, const char *text, char *err, size_t errlen);

/* Takes the next queued job (highest priority, then lowest id), marks it
 * running (started_at is kept from an earlier attempt, attempts + 1,
 * threads recorded), records a "state" event, and fills *out.
 * STORE_ENOTFOUND when the queue is empty. */
int store_job_claim(store *s, int threads, store_job *out, char *err, size_t errlen);

/* At start-up and shut-down: every running job back to queued (it resumes
 * from its checkpoint), with a "state" event each.  *n gets the count. */
int store_job_requeue_running(store *s, int *n, char *err, size_t errlen);

/* Cancels: a queued job becomes cancelled (stop_reason "cancelled",
 * finished_at set, an event); a running one gets cancel_requested = 1 (the
 * worker finishes it).  STORE_ECONFLICT for a finished job. */
int store_job_cancel(store *s, int64_t id, char *err, size_t errlen);

/* Deletes a finished job and all its rows. STORE_ECONFLICT otherwise. */
int store_job_delete(store *s, int64_t id, char *err, size_t errlen);

/* What the worker writes after an epoch (or every log_every_steps steps),
 * all in one transaction: */
typedef struct store_progress {
    /* the metric row; NaN values are stored as NULL */
    const char *kind;              /* "epoch" or "step" */
    int epoch, step;
    int64_t global_step;
    double loss, accuracy, val_loss, val_accuracy, lr, elapsed, samples_per_sec;
    /* the job's progress columns */
    int epochs, steps_per_epoch;
    const char *last_metrics, *best_metrics;   /* JSON text, or NULL to keep */
    /* optional: the checkpoint (trainer state) and the weights at this point */
    const void *checkpoint;
    size_t checkpoint_len;
    const void *latest_weights;    /* stored as which = "latest" */
    size_t latest_len;
    const void *best_weights;      /* stored as which = "best" */
    size_t best_len;
} store_progress;

/* Appends the metric row (a row for the same job, kind and global_step that
 * already exists, from a run before a crash, is kept and not duplicated),
 * its "metric" event, updates the progress columns and stores what else is
 * given.  *seq (may be NULL) gets the metric row's seq. */
int store_job_progress(store *s, int64_t job_id, const store_progress *p, int64_t *seq,
                       char *err, size_t errlen);

/* Finishes a running job: state (succeeded, failed or cancelled),
 * stop_reason, error (may be NULL), finished_at, the final weights (may be
 * NULL), and a "state" event.  A job with cancel_requested set ends
 * "cancelled" (stop_reason "cancelled") where state says "succeeded": the
 * cancel came first. */
int store_job_finish(store *s, int64_t id, const char *state, const char *stop_reason,
                     const char *error, const void *final_weights, size_t final_len,
                     char *err, size_t errlen);

/* Replaces a running job's checkpoint (trainer state, taken in epoch `epoch`,
 * possibly mid-epoch) and its latest weights (may be NULL) without a metric
 * row: what a job paused by a shutdown leaves to resume from. */
int store_job_checkpoint(store *s, int64_t job_id, int epoch, const void *state, size_t len,
                         const void *latest, size_t latest_len, char *err, size_t errlen);

/* Where a running job's training stopped, in its progress columns (epoch,
 * step within it, steps per epoch) and nothing else: the worker writes it
 * just before store_job_finish, so that a job that ends mid-epoch (a cancel)
 * shows the progress it reached, not that of its last whole epoch.
 * STORE_ECONFLICT unless the job is running. */
int store_job_reached(store *s, int64_t job_id, int epoch, int step, int steps_per_epoch,
                      char *err, size_t errlen);

/* The latest checkpoint; STORE_ENOTFOUND when none. Caller frees *buf. */
int store_checkpoint_get(store *s, int64_t job_id, void **buf, size_t *len, char *err,
                         size_t errlen);

/* Weights "final", "best" or "latest"; STORE_ENOTFOUND when absent.
 * Caller frees *buf. */
int store_weights_get(store *s, int64_t job_id, const char *which, void **buf, size_t *len,
                      char *err, size_t errlen);

/* ---------------------------------------------------------------------------
 * Metrics and events */

typedef struct store_metric {
    int64_t seq;                   /* 1, 2, ... per job */
    char kind[8];
    int epoch, step;
    int64_t global_step;
    double loss, accuracy, val_loss, val_accuracy, lr, elapsed, samples_per_sec;  /* NaN: none */
} store_metric;

/* Rows with seq > since, in seq order; kind NULL for all. Caller frees *out. */
int store_metrics_list(store *s, int64_t job_id, int64_t since, const char *kind,
                       store_metric **out, int *n, char *err, size_t errlen);

typedef struct store_event {
    int64_t seq;                   /* 1, 2, ... per job, over both types */
    char type[8];                  /* "metric" or "state" */
    char *data;                    /* JSON text */
} store_event;

void store_free_events(store_event *e, int n);

/* Events with seq > after, in order, at most limit. */
int store_events_list(store *s, int64_t job_id, int64_t after, int limit, store_event **out,
                      int *n, char *err, size_t errlen);

/* Job counts by state (queued, running, succeeded, failed, cancelled). */
int store_job_counts(store *s, int64_t counts[5], char *err, size_t errlen);

#endif
