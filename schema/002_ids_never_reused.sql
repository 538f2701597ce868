-- 002_ids_never_reused.sql — ids that are never given twice, and jobs that
-- keep the ids they were made from.
--
-- Under 001 a rowid was the largest id + 1, so deleting the newest job (or
-- dataset, or model) and creating another gave the deleted id again, and a
-- client's cached /v1/jobs/56 silently named another job.  AUTOINCREMENT
-- makes SQLite remember the largest id ever given (in sqlite_sequence), so
-- ids only grow, across deletes and restarts.
--
-- Under 001 deleting a dataset or model that only finished jobs used set
-- those jobs' reference to NULL (ON DELETE SET NULL), and GET /v1/jobs/{id}
-- answered "dataset": null.  Here jobs.model_id, dataset_id and
-- val_dataset_id are plain integers, without a foreign key: they keep the
-- id after the row is deleted, and since ids are never reused a kept id can
-- only mean the deleted row (GET /v1/datasets/{id} answers 404).  The store
-- checks that the rows exist when it inserts a job (in the same write
-- transaction) and refuses to delete a dataset or model while a queued or
-- running job uses it, as before.
--
-- SQLite cannot add AUTOINCREMENT to a table or drop a foreign key in
-- place, so datasets, models and jobs are rebuilt with SQLite's procedure
-- (https://www.sqlite.org/lang_altertable.html, "other kinds of table
-- schema changes"): store.c runs this with foreign_keys OFF, in one
-- transaction with PRAGMA foreign_key_check before the commit.  Each table:
-- create X_new, copy every row with its id, drop X, rename X_new to X,
-- create X's indexes again.  The tables that reference them
-- (dataset_tensors, metrics, events, checkpoints, weights) are not touched:
-- their REFERENCES name the table, which exists again after the rename, and
-- their rows keep the ids they had.
--
-- What cannot be undone: a job whose dataset or model was deleted under 001
-- has lost that id (NULL stays NULL), and an id deleted under 001 above the
-- largest one still in use is not known to have existed, so it may be
-- given once more (sqlite_sequence starts at the largest id copied).
--
-- The columns keep their names and order (the store reads them by position),
-- so a later migration may add columns at the end.

CREATE TABLE datasets_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    format     TEXT    NOT NULL,              -- csv, json, idx, npy
    n_samples  INTEGER NOT NULL,
    x_shape    TEXT    NOT NULL,              -- JSON array, batch first: [60000,1,28,28]
    y_shape    TEXT    NOT NULL,              -- JSON array: [60000] or [n,k]
    n_classes  INTEGER NOT NULL DEFAULT 0,    -- 0: numeric targets
    classes    TEXT    NOT NULL DEFAULT '[]', -- JSON array of n_classes names, or []
    bytes      INTEGER NOT NULL,              -- size of the upload
    sha256     TEXT    NOT NULL,              -- hex, of the upload
    created_at TEXT    NOT NULL
);
INSERT INTO datasets_new (id, name, format, n_samples, x_shape, y_shape, n_classes, classes,
                          bytes, sha256, created_at)
    SELECT id, name, format, n_samples, x_shape, y_shape, n_classes, classes, bytes, sha256,
           created_at
    FROM datasets ORDER BY id;
DROP TABLE datasets;
ALTER TABLE datasets_new RENAME TO datasets;

CREATE TABLE models_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,                 -- canonical JSON
    summary    TEXT NOT NULL,                 -- JSON
    created_at TEXT NOT NULL
);
INSERT INTO models_new (id, name, definition, summary, created_at)
    SELECT id, name, definition, summary, created_at FROM models ORDER BY id;
DROP TABLE models;
ALTER TABLE models_new RENAME TO models;

-- A job keeps its own copy of the model definition, and the ids of the
-- model and datasets it was made from, also after they are deleted.
CREATE TABLE jobs_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id         INTEGER,   -- NULL: inline definition (or a model deleted under 001)
    dataset_id       INTEGER,   -- NULL only for a dataset deleted under 001
    val_dataset_id   INTEGER,   -- NULL: none (or a dataset deleted under 001)
    val_split        REAL,                                               -- NULL: none given
    definition       TEXT    NOT NULL,
    training         TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    checkpoint_every INTEGER NOT NULL DEFAULT 1,
    log_every_steps  INTEGER NOT NULL DEFAULT 0,
    threads          INTEGER NOT NULL DEFAULT 0,
    state            TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    stop_reason      TEXT,                                               -- NULL until finished
    error            TEXT,                                               -- NULL unless failed
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    -- progress as of the last committed metric row
    epoch            INTEGER NOT NULL DEFAULT 0,
    epochs           INTEGER NOT NULL DEFAULT 0,
    step             INTEGER NOT NULL DEFAULT 0,
    steps_per_epoch  INTEGER NOT NULL DEFAULT 0,
    samples_per_sec  REAL,
    last_metrics     TEXT,                                               -- JSON object
    best_metrics     TEXT                                                -- JSON object
);
INSERT INTO jobs_new (id, model_id, dataset_id, val_dataset_id, val_split, definition, training,
                      priority, checkpoint_every, log_every_steps, threads, state, stop_reason,
                      error, cancel_requested, attempts, created_at, started_at, finished_at,
                      epoch, epochs, step, steps_per_epoch, samples_per_sec, last_metrics,
                      best_metrics)
    SELECT id, model_id, dataset_id, val_dataset_id, val_split, definition, training,
           priority, checkpoint_every, log_every_steps, threads, state, stop_reason,
           error, cancel_requested, attempts, created_at, started_at, finished_at,
           epoch, epochs, step, steps_per_epoch, samples_per_sec, last_metrics, best_metrics
    FROM jobs ORDER BY id;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

-- The indexes of 001 (dropped with the old table), as they were.
-- The claim order (and queue positions): only queued rows are indexed.
CREATE INDEX jobs_queue ON jobs (priority DESC, id) WHERE state = 'queued';
-- Lists filtered by state, newest first; counts by state.
CREATE INDEX jobs_state ON jobs (state, id);
-- "Is it in use?" checks of a delete, without a scan.
CREATE INDEX jobs_model ON jobs (model_id);
CREATE INDEX jobs_dataset ON jobs (dataset_id);
CREATE INDEX jobs_val_dataset ON jobs (val_dataset_id);
