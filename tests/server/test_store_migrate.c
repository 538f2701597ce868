/*
 * test_store_migrate.c — upgrading a database that an older traind wrote:
 * a file made by migration 001 alone (the SQL embedded in this build,
 * applied as store_open applied it then) and filled with plain SQL the way
 * the 001 store wrote its rows — datasets with tensors in blob parts, a hole
 * where a dataset, a model and a job were deleted, models, a job in every
 * state with metric rows, events, checkpoints and weights, and a job whose
 * dataset 001's ON DELETE SET NULL had already forgotten.
 *
 * After store_open every row, blob and reference must be there as it was
 * (read back through the store, bit for bit), PRAGMA integrity_check and
 * foreign_key_check must pass, the rebuilt tables must have AUTOINCREMENT
 * and jobs no foreign key to datasets or models, the cascades of the tables
 * that were not rebuilt must still reach the rebuilt ones, the queue must
 * go on, and new ids must continue above the highest old one, also after
 * the newest is deleted and the store reopened.
 */
#include "store.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The migrations as this build embeds them (schema/embed.sh; store.c
 * declares the same). */
struct store_migration {
    int number;
    const char *name;
    const char *sql;
};
extern const struct store_migration store_migrations[];
extern const int store_n_migrations;

/* ------------------------------------------------------------------------
 * Helpers. */

static char *db_path(const char *name)
{
    static int counter;
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s-%d-%d.db", tu_tmpdir(), name, (int)getpid(), counter++),
                     0);
    return p;
}

static store *open_db(const char *path)
{
    store *s = NULL;
    char err[512] = "";
    int rc = store_open(path, &s, err, sizeof err);
    ck_assert_msg(rc == STORE_OK, "store_open: %d %s", rc, err);
    return s;
}

/* The first column of the first row of sql on its own connection, as an
 * integer (-1 when there is no row). */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Runs sql with ?1 bound to the blob (len bytes) when blob is not NULL. */
static void run(sqlite3 *db, const char *sql, const void *blob, int len)
{
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (blob)
        sqlite3_bind_blob(st, 1, blob, len, SQLITE_STATIC);
    ck_assert_msg(sqlite3_step(st) == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/* ------------------------------------------------------------------------
 * The 001 database. */

/* Tensor values, float32 little-endian as 001 stored them (this test runs
 * on little-endian hosts, like the store's native path). */
static float ds1_x[8] = {0.5f, -1.25f, 3e30f, 1e-7f, 2, 3, 4, 5};   /* dataset 1: x [4, 2] */
static float ds1_y[4] = {0, 1, 2, 1};                               /* y [4], 3 classes */
static float ds2_x[18], ds2_y[6];                                   /* dataset 2: x [6, 3] */
static float ds4_x[4] = {9, 8, 7, 6};                               /* dataset 4: x [2, 2] */
static float ds4_y[2] = {2, 0};
static const unsigned char ckpt1[5] = {1, 2, 0, 255, 7}, ckpt5[3] = {42, 0, 42};

static const char *const last1 = "{\"epoch\":3,\"loss\":0.25,\"val_loss\":null}";
static const char *const best1 = "{\"epoch\":2,\"loss\":0.5}";

/* A file at schema version 1 with rows in every table: ids 1, 2, 4 of
 * datasets (3 was deleted), 1, 3 of models (2 was), 1, 2, 4, 5, 6 of jobs
 * (3 was): the highest ids are 4, 3 and 6. */
static void make_v1(const char *path)
{
    sqlite3 *db = NULL;
    ck_assert_int_ge(store_n_migrations, 2);
    ck_assert_int_eq(store_migrations[0].number, 1);
    ck_assert_str_eq(store_migrations[0].name, "001_init");
    for (int i = 0; i < 18; i++)
        ds2_x[i] = (float)i * 0.125f - 1;
    for (int i = 0; i < 6; i++)
        ds2_y[i] = (float)i * 10.5f;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    /* as store.c applied 001: WAL, foreign keys off, one transaction */
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=OFF", NULL,
                                  NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, store_migrations[0].sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
                  sqlite3_errmsg(db));
    run(db, "PRAGMA user_version=1", NULL, 0);
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    run(db, "PRAGMA foreign_keys=ON", NULL, 0);

    run(db, "INSERT INTO datasets VALUES (1, 'iris', 'csv', 4, '[4,2]', '[4]', 3, "
            "'[\"a\",\"b\",\"c\"]', 100, 'aa', '2026-01-01T00:00:01.000Z')", NULL, 0);
    run(db, "INSERT INTO datasets VALUES (2, 'reg', 'npy', 6, '[6,3]', '[6,1]', 0, '[]', 200, "
            "'bb', '2026-01-01T00:00:02.000Z')", NULL, 0);
    run(db, "INSERT INTO datasets VALUES (4, 'val', 'csv', 2, '[2,2]', '[2]', 3, "
            "'[\"a\",\"b\",\"c\"]', 50, 'cc', '2026-01-01T00:00:04.000Z')", NULL, 0);
    run(db, "INSERT INTO dataset_tensors VALUES (1, 'x', 0, ?1)", ds1_x, sizeof ds1_x);
    run(db, "INSERT INTO dataset_tensors VALUES (1, 'y', 0, ?1)", ds1_y, sizeof ds1_y);
    /* dataset 2's x in two parts */
    run(db, "INSERT INTO dataset_tensors VALUES (2, 'x', 0, ?1)", ds2_x, 40);
    run(db, "INSERT INTO dataset_tensors VALUES (2, 'x', 1, ?1)", (char *)ds2_x + 40, 32);
    run(db, "INSERT INTO dataset_tensors VALUES (2, 'y', 0, ?1)", ds2_y, sizeof ds2_y);
    run(db, "INSERT INTO dataset_tensors VALUES (4, 'x', 0, ?1)", ds4_x, sizeof ds4_x);
    run(db, "INSERT INTO dataset_tensors VALUES (4, 'y', 0, ?1)", ds4_y, sizeof ds4_y);

    run(db, "INSERT INTO models VALUES (1, 'mlp', '{\"input\":[2]}', '{\"total_params\":9}', "
            "'2026-01-01T00:00:05.000Z')", NULL, 0);
    run(db, "INSERT INTO models VALUES (3, 'model-3', '{\"input\":[3]}', '{}', "
            "'2026-01-01T00:00:06.000Z')", NULL, 0);

    /* job 1 succeeded: model 1, dataset 1, validation dataset 4; job 2
     * failed, its dataset forgotten by SET NULL; job 4 cancelled with a
     * split; job 5 running; job 6 queued */
    run(db, "INSERT INTO jobs (id, model_id, dataset_id, val_dataset_id, definition, training, "
            "checkpoint_every, log_every_steps, threads, state, stop_reason, attempts, "
            "created_at, started_at, finished_at, epoch, epochs, step, steps_per_epoch, "
            "samples_per_sec, last_metrics, best_metrics) VALUES (1, 1, 1, 4, '{\"input\":[2]}', "
            "'{\"epochs\":3}', 2, 4, 2, 'succeeded', 'max_epochs', 1, "
            "'2026-01-02T00:00:00.000Z', '2026-01-02T00:00:01.000Z', '2026-01-02T00:00:09.000Z', "
            "3, 3, 10, 10, 1234.5, "
            "'{\"epoch\":3,\"loss\":0.25,\"val_loss\":null}', '{\"epoch\":2,\"loss\":0.5}')",
        NULL, 0);
    run(db, "INSERT INTO jobs (id, model_id, dataset_id, definition, training, state, "
            "stop_reason, error, attempts, created_at, finished_at) VALUES (2, NULL, NULL, "
            "'{\"input\":[2]}', '{}', 'failed', 'diverged', 'the loss became NaN', 1, "
            "'2026-01-02T00:00:02.000Z', '2026-01-02T00:00:03.000Z')", NULL, 0);
    run(db, "INSERT INTO jobs (id, model_id, dataset_id, val_split, definition, training, "
            "state, stop_reason, cancel_requested, created_at, finished_at) VALUES (4, 3, 2, "
            "0.25, '{\"input\":[3]}', '{}', 'cancelled', 'cancelled', 1, "
            "'2026-01-02T00:00:04.000Z', '2026-01-02T00:00:05.000Z')", NULL, 0);
    run(db, "INSERT INTO jobs (id, model_id, dataset_id, definition, training, threads, state, "
            "attempts, created_at, started_at, epoch, epochs, steps_per_epoch) VALUES (5, 1, 1, "
            "'{\"input\":[2]}', '{}', 2, 'running', 1, '2026-01-02T00:00:06.000Z', "
            "'2026-01-02T00:00:07.000Z', 1, 5, 10)", NULL, 0);
    run(db, "INSERT INTO jobs (id, dataset_id, definition, training, priority, created_at, "
            "epochs) VALUES (6, 2, '{\"input\":[3]}', '{}', 5, '2026-01-02T00:00:08.000Z', 2)",
        NULL, 0);

    for (int e = 1; e <= 3; e++) {
        char sql[512];
        snprintf(sql, sizeof sql, "INSERT INTO metrics VALUES (1, %d, 'epoch', %d, 10, %d, "
                 "%.17g, %.17g, NULL, NULL, 0.01, %.17g, 1000)", e, e, 10 * e, 1.0 / e,
                 0.5 + 0.1 * e, 0.25 * e);
        run(db, sql, NULL, 0);
    }
    run(db, "INSERT INTO metrics VALUES (5, 1, 'epoch', 1, 10, 10, 0.75, 0.6, 0.8, 0.55, 0.01, "
            "1.5, 900)", NULL, 0);
    static const char *const ev1[6][2] = {
        {"state", "{\"state\":\"queued\"}"}, {"state", "{\"state\":\"running\"}"},
        {"metric", "{\"seq\":1,\"epoch\":1}"}, {"metric", "{\"seq\":2,\"epoch\":2}"},
        {"metric", "{\"seq\":3,\"epoch\":3}"}, {"state", "{\"state\":\"succeeded\"}"}};
    for (int i = 0; i < 6; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "INSERT INTO events VALUES (1, %d, '%s', '%s')", i + 1,
                 ev1[i][0], ev1[i][1]);
        run(db, sql, NULL, 0);
    }
    for (int j = 2; j <= 6; j++) {
        if (j == 3)
            continue;
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT INTO events VALUES (%d, 1, 'state', "
                 "'{\"state\":\"queued\"}')", j);
        run(db, sql, NULL, 0);
    }
    run(db, "INSERT INTO checkpoints VALUES (1, ?1, 3, '2026-01-02T00:00:09.000Z')", ckpt1,
        sizeof ckpt1);
    run(db, "INSERT INTO checkpoints VALUES (5, ?1, 1, '2026-01-02T00:00:08.000Z')", ckpt5,
        sizeof ckpt5);
    run(db, "INSERT INTO weights VALUES (1, 'final', ?1, '2026-01-02T00:00:09.000Z')", "FINAL", 5);
    run(db, "INSERT INTO weights VALUES (1, 'best', ?1, '2026-01-02T00:00:09.000Z')", "BEST", 4);
    run(db, "INSERT INTO weights VALUES (1, 'latest', ?1, '2026-01-02T00:00:09.000Z')", "LATE", 4);
    run(db, "INSERT INTO weights VALUES (5, 'latest', ?1, '2026-01-02T00:00:08.000Z')", "L5", 2);
    sqlite3_close(db);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 1);
}

/* ------------------------------------------------------------------------
 * Checks. */

static void expect_job(store *s, int64_t id, const char *state, int64_t model, int64_t dataset,
                       int64_t val)
{
    store_job j;
    char err[256] = "";
    ck_assert_msg(store_job_get(s, id, &j, err, sizeof err) == 0, "job %lld: %s", (long long)id,
                  err);
    ck_assert_str_eq(j.state, state);
    ck_assert_int_eq(j.model_id, model);
    ck_assert_int_eq(j.dataset_id, dataset);
    ck_assert_int_eq(j.val_dataset_id, val);
    store_job_clear(&j);
}

/* The checkpoint (which NULL) or the weights `which` of a job hold want. */
static void expect_blob(store *s, int64_t job, const char *which, const void *want,
                        size_t want_len)
{
    void *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    int rc = which ? store_weights_get(s, job, which, &buf, &len, err, sizeof err)
                   : store_checkpoint_get(s, job, &buf, &len, err, sizeof err);
    ck_assert_msg(rc == STORE_OK, "job %lld %s: %s", (long long)job, which ? which : "checkpoint",
                  err);
    ck_assert_uint_eq(len, want_len);
    ck_assert_mem_eq(buf, want, want_len);
    free(buf);
}

START_TEST(migration_keeps_every_row)
{
    char *path = db_path("v1");
    make_v1(path);
    store *s = open_db(path);
    char err[512] = "";
    ck_assert_int_eq(store_schema_version(s), store_schema_latest());
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM pragma_integrity_check "
                                   "WHERE integrity_check = 'ok'"), 1);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    /* the rebuilt tables */
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                                   "('datasets', 'models', 'jobs') AND sql LIKE "
                                   "'%INTEGER PRIMARY KEY AUTOINCREMENT%'"), 3);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs' AND "
                                   "(sql LIKE '%REFERENCES%' OR sql LIKE '%SET NULL%')"), 0);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                                   "tbl_name = 'jobs' AND name IN ('jobs_queue', 'jobs_state', "
                                   "'jobs_model', 'jobs_dataset', 'jobs_val_dataset')"), 5);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE "
                                   "'%_new'"), 0);
    /* every row, in every table */
    static const char *const counts[][2] = {
        {"datasets", "3"}, {"dataset_tensors", "7"}, {"models", "2"}, {"jobs", "5"},
        {"metrics", "4"}, {"events", "10"}, {"checkpoints", "2"}, {"weights", "4"}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", counts[i][0]);
        ck_assert_msg(sql_int(path, sql) == atoi(counts[i][1]), "%s", counts[i][0]);
    }

    /* datasets: metadata and tensors, bit for bit */
    store_dataset g;
    ck_assert_int_eq(store_dataset_get(s, 1, &g, err, sizeof err), 0);
    ck_assert_str_eq(g.name, "iris");
    ck_assert_int_eq(g.n_classes, 3);
    ck_assert_str_eq(g.classes[2], "c");
    ck_assert_str_eq(g.created_at, "2026-01-01T00:00:01.000Z");
    store_dataset_clear(&g);
    ck_assert_int_eq(store_dataset_get(s, 3, &g, err, sizeof err), STORE_ENOTFOUND);
    nn_dataset d;
    ck_assert_msg(store_dataset_load(s, 1, &d, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 8; i++)
        ck_assert(d.x.data[i] == (nn_real)ds1_x[i]);
    for (int i = 0; i < 4; i++)
        ck_assert(d.y.data[i] == (nn_real)ds1_y[i]);
    ck_assert_str_eq(d.class_names[1], "b");
    nn_dataset_free(&d);
    ck_assert_msg(store_dataset_load(s, 2, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.x.dim[0], 6);
    ck_assert_int_eq(d.x.dim[1], 3);
    for (int i = 0; i < 18; i++)
        ck_assert(d.x.data[i] == (nn_real)ds2_x[i]);
    ck_assert_int_eq(d.y.rank, 2);
    for (int i = 0; i < 6; i++)
        ck_assert(d.y.data[i] == (nn_real)ds2_y[i]);
    nn_dataset_free(&d);
    ck_assert_msg(store_dataset_load(s, 4, &d, err, sizeof err) == 0, "%s", err);
    ck_assert(d.x.data[3] == 6 && d.y.data[0] == 2);
    nn_dataset_free(&d);

    /* models */
    store_model m;
    ck_assert_int_eq(store_model_get(s, 3, &m, err, sizeof err), 0);
    ck_assert_str_eq(m.name, "model-3");
    ck_assert_str_eq(m.definition, "{\"input\":[3]}");
    store_model_clear(&m);
    ck_assert_int_eq(store_model_get(s, 2, &m, err, sizeof err), STORE_ENOTFOUND);

    /* jobs: states, references (the forgotten one stays 0), every column
     * of the finished one */
    expect_job(s, 1, "succeeded", 1, 1, 4);
    expect_job(s, 2, "failed", 0, 0, 0);
    expect_job(s, 4, "cancelled", 3, 2, 0);
    expect_job(s, 5, "running", 1, 1, 0);
    expect_job(s, 6, "queued", 0, 2, 0);
    store_job j;
    ck_assert_int_eq(store_job_get(s, 1, &j, err, sizeof err), 0);
    ck_assert_str_eq(j.definition, "{\"input\":[2]}");
    ck_assert_str_eq(j.training, "{\"epochs\":3}");
    ck_assert_int_eq(j.checkpoint_every, 2);
    ck_assert_int_eq(j.log_every_steps, 4);
    ck_assert_int_eq(j.threads, 2);
    ck_assert_str_eq(j.stop_reason, "max_epochs");
    ck_assert_int_eq(j.attempts, 1);
    ck_assert_str_eq(j.started_at, "2026-01-02T00:00:01.000Z");
    ck_assert_str_eq(j.finished_at, "2026-01-02T00:00:09.000Z");
    ck_assert_int_eq(j.epoch, 3);
    ck_assert_int_eq(j.steps_per_epoch, 10);
    ck_assert(j.samples_per_sec == 1234.5);
    ck_assert(j.val_split < 0);
    ck_assert_str_eq(j.last_metrics, last1);
    ck_assert_str_eq(j.best_metrics, best1);
    store_job_clear(&j);
    ck_assert_int_eq(store_job_get(s, 2, &j, err, sizeof err), 0);
    ck_assert_str_eq(j.error, "the loss became NaN");
    store_job_clear(&j);
    ck_assert_int_eq(store_job_get(s, 4, &j, err, sizeof err), 0);
    ck_assert(j.val_split == 0.25);
    ck_assert_int_eq(j.cancel_requested, 1);
    store_job_clear(&j);
    ck_assert_int_eq(store_job_get(s, 6, &j, err, sizeof err), 0);
    ck_assert_int_eq(j.priority, 5);
    store_job_clear(&j);

    /* their metric rows, events, checkpoints and weights */
    store_metric *rows = NULL;
    int n = 0;
    ck_assert_int_eq(store_metrics_list(s, 1, 0, NULL, &rows, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert(rows[2].loss == 1.0 / 3 && rows[2].global_step == 30 && isnan(rows[2].val_loss));
    free(rows);
    ck_assert_int_eq(store_metrics_list(s, 5, 0, "epoch", &rows, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert(rows[0].val_accuracy == 0.55);
    free(rows);
    store_event *ev = NULL;
    ck_assert_int_eq(store_events_list(s, 1, 0, 0, &ev, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 6);
    ck_assert_str_eq(ev[4].type, "metric");
    ck_assert_str_eq(ev[4].data, "{\"seq\":3,\"epoch\":3}");
    ck_assert_str_eq(ev[5].data, "{\"state\":\"succeeded\"}");
    store_free_events(ev, n);
    expect_blob(s, 1, NULL, ckpt1, sizeof ckpt1);
    expect_blob(s, 5, NULL, ckpt5, sizeof ckpt5);
    expect_blob(s, 1, "final", "FINAL", 5);
    expect_blob(s, 1, "best", "BEST", 4);
    expect_blob(s, 1, "latest", "LATE", 4);
    expect_blob(s, 5, "latest", "L5", 2);

    /* opening again migrates nothing and changes nothing */
    store_close(s);
    s = open_db(path);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM jobs"), 5);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM dataset_tensors"), 7);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(migrated_store_goes_on)
{
    char *path = db_path("v1-on");
    make_v1(path);
    store *s = open_db(path);
    char err[512] = "";

    /* the queue: the running job, put back, waits behind the queued one of
     * priority 5; both are claimed in that order, events numbered on */
    int pos = 0;
    ck_assert_int_eq(store_job_queue_position(s, 6, &pos, err, sizeof err), 0);
    ck_assert_int_eq(pos, 1);
    int back = 0;
    ck_assert_int_eq(store_job_requeue_running(s, &back, err, sizeof err), 0);
    ck_assert_int_eq(back, 1);
    store_job c;
    ck_assert_int_eq(store_job_claim(s, 1, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.id, 6);
    store_job_clear(&c);
    ck_assert_int_eq(store_job_claim(s, 1, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.id, 5);
    ck_assert_int_eq(c.attempts, 2);
    store_job_clear(&c);
    store_event *ev = NULL;
    int n = 0;
    ck_assert_int_eq(store_events_list(s, 5, 0, 0, &ev, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 3);                /* queued (001), queued again, running */
    ck_assert_int_eq(ev[2].seq, 3);
    store_free_events(ev, n);

    /* references: in use by a running job, refused; used only by a
     * finished one, deleted with its tensors, and the job keeps the id */
    ck_assert_int_eq(store_dataset_delete(s, 2, err, sizeof err), STORE_ECONFLICT);
    ck_assert_int_eq(store_model_delete(s, 1, err, sizeof err), STORE_ECONFLICT);
    ck_assert_msg(store_dataset_delete(s, 4, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM dataset_tensors WHERE dataset_id = 4"),
                     0);
    ck_assert_int_eq(store_model_delete(s, 3, err, sizeof err), 0);
    expect_job(s, 1, "succeeded", 1, 1, 4);
    expect_job(s, 4, "cancelled", 3, 2, 0);

    /* the cascades of the tables that were not rebuilt reach the new jobs */
    ck_assert_int_eq(store_job_delete(s, 1, err, sizeof err), 0);
    const char *tables[4] = {"metrics", "events", "checkpoints", "weights"};
    for (int i = 0; i < 4; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE job_id = 1", tables[i]);
        ck_assert_msg(sql_int(path, sql) == 0, "%s", tables[i]);
    }
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM weights WHERE job_id = 5"), 1);

    /* new ids continue above the highest old ones (4, 3, 6), never below */
    nn_dataset d;
    memset(&d, 0, sizeof d);
    int64_t xd[2] = {2, 2}, yd[1] = {2};
    ck_assert_int_eq(nn_tensor_alloc(&d.x, 2, xd), 0);
    ck_assert_int_eq(nn_tensor_alloc(&d.y, 1, yd), 0);
    int64_t ds = 0, model = 0, job = 0;
    ck_assert_int_eq(store_dataset_insert(s, "", "csv", &d, 1, "", &ds, err, sizeof err), 0);
    ck_assert_int_eq(ds, 5);
    ck_assert_int_eq(store_model_insert(s, "", "{}", "{}", &model, err, sizeof err), 0);
    ck_assert_int_eq(model, 4);
    store_job j = {.model_id = model, .dataset_id = ds, .val_split = -1, .definition = "{}",
                   .training = "{}", .checkpoint_every = 1, .epochs = 1};
    ck_assert_int_eq(store_job_insert(s, &j, &job, err, sizeof err), 0);
    ck_assert_int_eq(job, 7);
    /* the newest of each deleted, the store reopened: still higher */
    ck_assert_int_eq(store_job_cancel(s, job, err, sizeof err), 0);
    ck_assert_int_eq(store_job_delete(s, job, err, sizeof err), 0);
    ck_assert_int_eq(store_model_delete(s, model, err, sizeof err), 0);
    ck_assert_int_eq(store_dataset_delete(s, ds, err, sizeof err), 0);
    store_close(s);
    s = open_db(path);
    ck_assert_int_eq(store_dataset_insert(s, "", "csv", &d, 1, "", &ds, err, sizeof err), 0);
    ck_assert_int_eq(ds, 6);
    ck_assert_int_eq(store_model_insert(s, "", "{}", "{}", &model, err, sizeof err), 0);
    ck_assert_int_eq(model, 5);
    j.model_id = model;
    j.dataset_id = ds;
    ck_assert_int_eq(store_job_insert(s, &j, &job, err, sizeof err), 0);
    ck_assert_int_eq(job, 8);
    nn_dataset_free(&d);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    store_close(s);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_migrate");
    TCase *tc = tcase_create("store_migrate");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, migration_keeps_every_row);
    tcase_add_test(tc, migrated_store_goes_on);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
