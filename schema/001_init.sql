-- 001_init.sql — the first schema of traind's store (server/store.c).
--
-- Migrations are embedded into the binary by schema/embed.sh and applied in
-- number order, each in its own transaction together with the bump of
-- PRAGMA user_version.  They run with foreign_keys OFF and are checked with
-- PRAGMA foreign_key_check before they commit (SQLite's procedure for
-- rebuilding tables), so a later migration may recreate a referenced table.
-- A migration holds no BEGIN/COMMIT of its own.  Never edit a migration
-- that has shipped: add NNN_name.sql instead.
--
-- Conventions: times are TEXT, UTC ISO 8601 with milliseconds
-- ("2026-11-28T05:12:03.120Z"); JSON values are TEXT; a missing value is
-- NULL (the store maps it to 0, "" or NaN in its structs).

-- Dataset metadata only: listing datasets never reads a tensor page.
CREATE TABLE datasets (
    id         INTEGER PRIMARY KEY,
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

-- The tensors, float32 little-endian, row-major, split into parts of at
-- most 32 MiB (parts 0, 1, ... in order): one SQLite value is limited to
-- 1e9 bytes, and libnn tensors may reach 8 GiB.  A rowid table (not
-- WITHOUT ROWID) because incremental blob I/O addresses rows by rowid.
CREATE TABLE dataset_tensors (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    which      TEXT    NOT NULL CHECK (which IN ('x', 'y')),
    part       INTEGER NOT NULL CHECK (part >= 0),
    data       BLOB    NOT NULL,
    PRIMARY KEY (dataset_id, which, part)
);

CREATE TABLE models (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,                 -- canonical JSON
    summary    TEXT NOT NULL,                 -- JSON
    created_at TEXT NOT NULL
);

-- A job keeps its own copy of the model definition, so deleting a model or
-- a dataset that only finished jobs used is allowed: their reference turns
-- NULL (0 in store_job).  While a queued or running job uses a model or a
-- dataset, store.c refuses the delete (STORE_ECONFLICT) before it happens.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    model_id         INTEGER REFERENCES models(id) ON DELETE SET NULL,   -- NULL: inline definition
    dataset_id       INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    val_dataset_id   INTEGER REFERENCES datasets(id) ON DELETE SET NULL, -- NULL: none
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

-- The claim order (and queue positions): only queued rows are indexed.
CREATE INDEX jobs_queue ON jobs (priority DESC, id) WHERE state = 'queued';
-- Lists filtered by state, newest first; counts by state.
CREATE INDEX jobs_state ON jobs (state, id);
-- "Is it in use?" checks and the SET NULL of a delete, without a scan.
CREATE INDEX jobs_model ON jobs (model_id);
CREATE INDEX jobs_dataset ON jobs (dataset_id);
CREATE INDEX jobs_val_dataset ON jobs (val_dataset_id);

-- One row per epoch (and per log_every_steps steps).  UNIQUE (job_id, kind,
-- global_step): an epoch run again after a crash keeps the first row.
CREATE TABLE metrics (
    job_id          INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,        -- 1, 2, ... per job
    kind            TEXT    NOT NULL CHECK (kind IN ('epoch', 'step')),
    epoch           INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    global_step     INTEGER NOT NULL,
    loss            REAL,                    -- NULL: none (NaN in the struct)
    accuracy        REAL,
    val_loss        REAL,
    val_accuracy    REAL,
    lr              REAL,
    elapsed         REAL,
    samples_per_sec REAL,
    PRIMARY KEY (job_id, seq),
    UNIQUE (job_id, kind, global_step)
) WITHOUT ROWID;

-- What an event stream replays: "metric" and "state" events, one seq per
-- job over both types.
CREATE TABLE events (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,                 -- 1, 2, ... per job
    type   TEXT    NOT NULL CHECK (type IN ('metric', 'state')),
    data   TEXT    NOT NULL,                 -- JSON object
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- The latest checkpoint only (trainer state: weights, optimizer, RNG, position).
CREATE TABLE checkpoints (
    job_id     INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    state      BLOB    NOT NULL,
    epoch      INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE TABLE weights (
    job_id     INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    which      TEXT    NOT NULL CHECK (which IN ('final', 'best', 'latest')),
    data       BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (job_id, which)
);
