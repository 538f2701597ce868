/*
 * test_store.c — the SQLite store (server/store.c) against store.h.
 *
 * What is checked: migrations from an empty file, reopening (idempotent,
 * data kept), refusal of a newer schema and of a failing migration (the
 * file stays at its version); datasets round-trip bit for bit (shapes,
 * class names, numeric targets, a 50 MB tensor split into blob parts);
 * models; jobs (every field, lists with filter, cursor and limit, queue
 * positions, claim order, concurrent claims from several threads, requeue,
 * cancel, finish, delete with its cascades); progress rows (duplicates
 * ignored, NaN as NULL, filters), events over both types in order,
 * checkpoints and weights; in-use conflicts for datasets and models, and
 * the ids a finished job keeps after they are deleted; ids never given
 * twice, across deletes and a reopen; and that a committed write survives
 * a kill -9 of the writing process.  The database is inspected with plain
 * SQLite where the store has no call for it (row counts, parts,
 * user_version).  Upgrades of an older file: test_store_migrate.c.
 */
#include "store.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Runs a query on its own connection and returns the first column of the
 * first row as an integer (-1 when there is no row). */
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

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A classification dataset: x [n, 2], y [n] in 0..2, values i-dependent. */
static void make_dataset(nn_dataset *d, int n, int named)
{
    int64_t xd[2] = {n, 2}, yd[1] = {n};
    memset(d, 0, sizeof *d);
    ck_assert_int_eq(nn_tensor_alloc(&d->x, 2, xd), 0);
    ck_assert_int_eq(nn_tensor_alloc(&d->y, 1, yd), 0);
    for (int i = 0; i < n; i++) {
        d->x.data[2 * i] = (nn_real)i * 0.25f;
        d->x.data[2 * i + 1] = (nn_real)-i / 3.0f;
        d->y.data[i] = (nn_real)(i % 3);
    }
    d->n_classes = 3;
    if (named) {
        d->class_names = calloc(3, sizeof *d->class_names);
        ck_assert_ptr_nonnull(d->class_names);
        d->class_names[0] = strdup("cat");
        d->class_names[1] = strdup("d\xc3\xb6g");     /* UTF-8 survives */
        d->class_names[2] = strdup("bird, \"quoted\"");
    }
}

static int64_t add_dataset(store *s, const char *name)
{
    nn_dataset d;
    int64_t id = 0;
    char err[256] = "";
    make_dataset(&d, 4, 1);
    ck_assert_msg(store_dataset_insert(s, name, "csv", &d, 100, "ab", &id, err, sizeof err) == 0,
                  "%s", err);
    nn_dataset_free(&d);
    ck_assert_int_gt(id, 0);
    return id;
}

static int64_t add_model(store *s, const char *name)
{
    int64_t id = 0;
    char err[256] = "";
    ck_assert_msg(store_model_insert(s, name, "{\"layers\":[]}", "{\"total_params\":0}", &id,
                                     err, sizeof err) == 0, "%s", err);
    return id;
}

static store_job job_template(int64_t model, int64_t dataset, int priority)
{
    store_job j;
    memset(&j, 0, sizeof j);
    j.model_id = model;
    j.dataset_id = dataset;
    j.val_split = -1;
    j.definition = "{\"input\":[2]}";
    j.training = "{\"epochs\":3}";
    j.priority = priority;
    j.checkpoint_every = 1;
    j.epochs = 3;
    return j;
}

static int64_t add_job(store *s, int64_t model, int64_t dataset, int priority)
{
    store_job j = job_template(model, dataset, priority);
    int64_t id = 0;
    char err[256] = "";
    ck_assert_msg(store_job_insert(s, &j, &id, err, sizeof err) == 0, "%s", err);
    ck_assert_int_gt(id, 0);
    return id;
}

static int64_t claim(store *s)
{
    store_job j;
    char err[256] = "";
    ck_assert_msg(store_job_claim(s, 2, &j, err, sizeof err) == 0, "%s", err);
    int64_t id = j.id;
    store_job_clear(&j);
    return id;
}

static void job_get(store *s, int64_t id, store_job *j)
{
    char err[256] = "";
    ck_assert_msg(store_job_get(s, id, j, err, sizeof err) == 0, "%s", err);
}

/* A progress record for an epoch row with plausible numbers. */
static store_progress epoch_progress(int epoch)
{
    store_progress p;
    memset(&p, 0, sizeof p);
    p.kind = "epoch";
    p.epoch = epoch;
    p.step = 10;
    p.global_step = 10 * epoch;
    p.loss = 1.0 / epoch;
    p.accuracy = 0.5 + 0.1 * epoch;
    p.val_loss = NAN;
    p.val_accuracy = NAN;
    p.lr = 0.01;
    p.elapsed = 0.25 * epoch;
    p.samples_per_sec = 1000.5;
    p.epochs = 3;
    p.steps_per_epoch = 10;
    return p;
}

static int n_events(store *s, int64_t job)
{
    store_event *e = NULL;
    int n = -1;
    ck_assert_int_eq(store_events_list(s, job, 0, 0, &e, &n, NULL, 0), 0);
    store_free_events(e, n);
    return n;
}

static int valid_time(const char *t)
{
    /* "2026-11-28T05:12:03.120Z" */
    return strlen(t) == 24 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
           t[16] == ':' && t[19] == '.' && t[23] == 'Z';
}

/* ------------------------------------------------------------------------
 * Opening and migrations. */

START_TEST(migrates_an_empty_file)
{
    char *path = db_path("fresh");
    store *s = open_db(path);
    ck_assert_int_ge(store_schema_latest(), 1);
    ck_assert_int_eq(store_schema_version(s), store_schema_latest());
    ck_assert_int_eq(store_ping(s), STORE_OK);
    ck_assert_int_gt(store_size_bytes(s), 0);
    int64_t counts[5] = {9, 9, 9, 9, 9};
    ck_assert_int_eq(store_job_counts(s, counts, NULL, 0), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(counts[i], 0);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), store_schema_latest());
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name IN ('datasets', 'dataset_tensors', 'models', 'jobs', "
                                   "'metrics', 'events', 'checkpoints', 'weights')"), 8);
    /* WAL is recorded in the file header (read and write version 2) */
    size_t len;
    char *head = tu_read(path, &len);
    ck_assert_uint_ge(len, 100);
    ck_assert_int_eq(head[18], 2);
    ck_assert_int_eq(head[19], 2);
    free(head);
    store_close(s);
    store_close(NULL);
    free(path);
}
END_TEST

START_TEST(reopening_is_idempotent)
{
    char *path = db_path("reopen");
    store *s = open_db(path);
    int64_t m = add_model(s, "kept");
    store_close(s);
    for (int round = 0; round < 2; round++) {
        s = open_db(path);
        ck_assert_int_eq(store_schema_version(s), store_schema_latest());
        store_model got;
        ck_assert_int_eq(store_model_get(s, m, &got, NULL, 0), 0);
        ck_assert_str_eq(got.name, "kept");
        store_model_clear(&got);
        store_close(s);
    }
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM models"), 1);
    free(path);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    char *path = db_path("newer");
    char sql[64], err[512] = "";
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_schema_latest() + 1);
    sql_exec(path, sql);
    store *s = (store *)1;
    int rc = store_open(path, &s, err, sizeof err);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "newer") != NULL, "%s", err);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), store_schema_latest() + 1);
    free(path);
}
END_TEST

START_TEST(failing_migration_leaves_the_version)
{
    /* a table in the way makes 001_init fail half-way through */
    char *path = db_path("failing");
    char err[512] = "";
    sql_exec(path, "CREATE TABLE models (x)");
    store *s = (store *)1;
    int rc = store_open(path, &s, err, sizeof err);
    ck_assert_int_eq(rc, STORE_EIO);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "001_init") != NULL, "%s", err);
    ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 0);
    /* rolled back: the tables created before the failure are gone too */
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'datasets'"),
                     0);
    free(path);
}
END_TEST

START_TEST(bad_opens)
{
    store *s = (store *)1;
    char err[512] = "";
    ck_assert_int_eq(store_open(":memory:", &s, err, sizeof err), STORE_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(store_open("", &s, NULL, 0), STORE_EINVAL);
    ck_assert_int_eq(store_open("/nonexistent-dir/x/y.db", &s, err, sizeof err), STORE_EIO);
    ck_assert_msg(strstr(err, "/nonexistent-dir/x/y.db") != NULL, "%s", err);
    /* a file that is not a database */
    char *junk = tu_write_str(tu_tmpdir(), "junk.db", "this is not a database, just text.....\n"
                              "............................................................\n"
                              "............................................................\n");
    s = (store *)1;
    ck_assert_int_eq(store_open(junk, &s, err, sizeof err), STORE_EIO);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "not a database") != NULL, "%s", err);
    free(junk);
}
END_TEST

/* ------------------------------------------------------------------------
 * Datasets. */

START_TEST(dataset_round_trip)
{
    char *path = db_path("ds");
    store *s = open_db(path);
    char err[512] = "";
    const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /* classification, x [5, 2, 3] with values float32 must keep bit for bit */
    nn_dataset d;
    memset(&d, 0, sizeof d);
    int64_t xd[3] = {5, 2, 3}, yd[1] = {5};
    ck_assert_int_eq(nn_tensor_alloc(&d.x, 3, xd), 0);
    ck_assert_int_eq(nn_tensor_alloc(&d.y, 1, yd), 0);
    for (int i = 0; i < 30; i++)
        d.x.data[i] = (nn_real)((i % 2 ? -1.0 : 1.0) * (i * 0.1 + 1e-7) * (i == 29 ? 3e30 : 1.0));
    for (int i = 0; i < 5; i++)
        d.y.data[i] = (nn_real)(i % 3);
    d.n_classes = 3;
    d.class_names = calloc(3, sizeof *d.class_names);
    d.class_names[0] = strdup("cat");
    d.class_names[1] = strdup("d\xc3\xb6g");
    d.class_names[2] = strdup("bird, \"quoted\"");
    int64_t id1 = 0;
    ck_assert_msg(store_dataset_insert(s, "tiny", "csv", &d, 1234, sha, &id1, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_gt(id1, 0);

    /* numeric targets y [5, 2], no classes, no name */
    nn_dataset r;
    memset(&r, 0, sizeof r);
    int64_t rxd[2] = {5, 1}, ryd[2] = {5, 2};
    ck_assert_int_eq(nn_tensor_alloc(&r.x, 2, rxd), 0);
    ck_assert_int_eq(nn_tensor_alloc(&r.y, 2, ryd), 0);
    for (int i = 0; i < 5; i++) {
        r.x.data[i] = (nn_real)i;
        r.y.data[2 * i] = (nn_real)(i * 1.5);
        r.y.data[2 * i + 1] = (nn_real)(-i * 0.125);
    }
    int64_t id2 = 0;
    ck_assert_int_eq(store_dataset_insert(s, NULL, "json", &r, 77, sha, &id2, err, sizeof err), 0);
    ck_assert_int_gt(id2, id1);

    store_dataset g;
    ck_assert_int_eq(store_dataset_get(s, id1, &g, err, sizeof err), 0);
    ck_assert_int_eq(g.id, id1);
    ck_assert_str_eq(g.name, "tiny");
    ck_assert_str_eq(g.format, "csv");
    ck_assert_int_eq(g.n_samples, 5);
    ck_assert_int_eq(g.x_rank, 3);
    ck_assert_int_eq(g.x_shape[0], 5);
    ck_assert_int_eq(g.x_shape[1], 2);
    ck_assert_int_eq(g.x_shape[2], 3);
    ck_assert_int_eq(g.y_rank, 1);
    ck_assert_int_eq(g.y_shape[0], 5);
    ck_assert_int_eq(g.n_classes, 3);
    ck_assert_str_eq(g.classes[0], "cat");
    ck_assert_str_eq(g.classes[1], "d\xc3\xb6g");
    ck_assert_str_eq(g.classes[2], "bird, \"quoted\"");
    ck_assert_int_eq(g.bytes, 1234);
    ck_assert_str_eq(g.sha256, sha);
    ck_assert_msg(valid_time(g.created_at), "%s", g.created_at);
    store_dataset_clear(&g);
    store_dataset_clear(&g);   /* cleared twice: harmless */

    ck_assert_int_eq(store_dataset_get(s, id2, &g, err, sizeof err), 0);
    ck_assert_str_eq(g.name, "dataset-2");
    ck_assert_int_eq(g.n_classes, 0);
    ck_assert_ptr_null(g.classes);
    ck_assert_int_eq(g.y_rank, 2);
    ck_assert_int_eq(g.y_shape[1], 2);
    ck_assert_int_eq(g.bytes, 77);
    store_dataset_clear(&g);

    store_dataset *list = NULL;
    int n = 0;
    ck_assert_int_eq(store_dataset_list(s, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(list[0].id, id2);      /* newest first */
    ck_assert_int_eq(list[1].id, id1);
    ck_assert_str_eq(list[1].classes[2], "bird, \"quoted\"");
    store_free_datasets(list, n);

    nn_dataset back;
    ck_assert_msg(store_dataset_load(s, id1, &back, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(back.x.rank, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(back.x.dim[i], d.x.dim[i]);
    ck_assert_int_eq(back.y.rank, 1);
    ck_assert_int_eq(back.y.dim[0], 5);
    ck_assert_mem_eq(back.x.data, d.x.data, 30 * sizeof(nn_real));
    ck_assert_mem_eq(back.y.data, d.y.data, 5 * sizeof(nn_real));
    ck_assert_int_eq(back.n_classes, 3);
    ck_assert_str_eq(back.class_names[1], "d\xc3\xb6g");
    nn_dataset_free(&back);

    ck_assert_int_eq(store_dataset_load(s, id2, &back, err, sizeof err), 0);
    ck_assert_int_eq(back.y.rank, 2);
    ck_assert_int_eq(back.y.dim[1], 2);
    ck_assert_mem_eq(back.y.data, r.y.data, 10 * sizeof(nn_real));
    ck_assert_int_eq(back.n_classes, 0);
    ck_assert_ptr_null(back.class_names);
    nn_dataset_free(&back);

    /* the bytes on disk are float32 little-endian: 3e30 * 2.9 at x[29] */
    float expect = (float)d.x.data[29];
    unsigned char le[4];
    uint32_t u;
    memcpy(&u, &expect, 4);
    for (int i = 0; i < 4; i++)
        le[i] = (unsigned char)(u >> (8 * i));
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT substr(data, 117, 4) = x'%02x%02x%02x%02x' FROM "
             "dataset_tensors WHERE dataset_id = %lld AND which = 'x'", le[0], le[1], le[2], le[3],
             (long long)id1);
    ck_assert_int_eq(sql_int(path, sql), 1);

    nn_dataset_free(&d);
    nn_dataset_free(&r);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(large_dataset_round_trip)
{
    /* 12800 x 1024 float32 = 50 MiB: two blob parts (32 MiB + 18 MiB) */
    char *path = db_path("large");
    store *s = open_db(path);
    char err[512] = "";
    nn_dataset d;
    memset(&d, 0, sizeof d);
    int64_t xd[2] = {12800, 1024}, yd[1] = {12800};
    ck_assert_int_eq(nn_tensor_alloc(&d.x, 2, xd), 0);
    ck_assert_int_eq(nn_tensor_alloc(&d.y, 1, yd), 0);
    int64_t numel = 12800 * 1024;
    for (int64_t i = 0; i < numel; i++)
        d.x.data[i] = (nn_real)((i * 2654435761u) % 1000003) / 997.0f;
    for (int i = 0; i < 12800; i++)
        d.y.data[i] = (nn_real)(i % 10);
    d.n_classes = 10;   /* classes without names */
    int64_t id = 0;
    ck_assert_msg(store_dataset_insert(s, "big", "npy", &d, 52428800, "", &id, err,
                                       sizeof err) == 0, "%s", err);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM dataset_tensors WHERE dataset_id = %lld "
             "AND which = 'x'", (long long)id);
    ck_assert_int_eq(sql_int(path, sql), 2);

    nn_dataset back;
    ck_assert_msg(store_dataset_load(s, id, &back, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(back.x.dim[0], 12800);
    ck_assert_int_eq(back.x.dim[1], 1024);
    ck_assert_int_eq(memcmp(back.x.data, d.x.data, (size_t)numel * sizeof(nn_real)), 0);
    ck_assert_int_eq(memcmp(back.y.data, d.y.data, 12800 * sizeof(nn_real)), 0);
    ck_assert_int_eq(back.n_classes, 10);
    ck_assert_ptr_null(back.class_names);
    nn_dataset_free(&back);

    ck_assert_int_eq(store_dataset_delete(s, id, err, sizeof err), 0);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM dataset_tensors"), 0);
    nn_dataset_free(&d);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(dataset_bad_arguments)
{
    char *path = db_path("dsbad");
    store *s = open_db(path);
    char err[512] = "";
    nn_dataset d;
    make_dataset(&d, 4, 0);
    int64_t id = 5;

    d.y.dim[0] = 3;     /* 4 samples in x, 3 in y */
    ck_assert_int_eq(store_dataset_insert(s, "x", "csv", &d, 0, "", &id, err, sizeof err),
                     STORE_EINVAL);
    ck_assert_int_eq(id, 0);
    d.y.dim[0] = 4;
    ck_assert_int_eq(store_dataset_insert(s, "x", NULL, &d, 0, "", &id, err, sizeof err),
                     STORE_EINVAL);
    d.class_names = calloc(3, sizeof *d.class_names);
    d.class_names[0] = strdup("ok");
    d.class_names[1] = strdup("\xff\xfe");      /* not UTF-8: cannot be served as JSON */
    d.class_names[2] = strdup("ok2");
    ck_assert_int_eq(store_dataset_insert(s, "x", "csv", &d, 0, "", &id, err, sizeof err),
                     STORE_EINVAL);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM datasets"), 0);

    store_dataset g;
    memset(&g, 0x55, sizeof g);
    ck_assert_int_eq(store_dataset_get(s, 42, &g, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_ptr_null(g.name);
    ck_assert_int_eq(g.id, 0);
    nn_dataset back;
    ck_assert_int_eq(store_dataset_load(s, 42, &back, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_ptr_null(back.x.data);
    ck_assert_int_eq(store_dataset_delete(s, 42, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_msg(strstr(err, "42") != NULL, "%s", err);

    nn_dataset_free(&d);
    store_close(s);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------------
 * Models. */

START_TEST(model_crud)
{
    char *path = db_path("models");
    store *s = open_db(path);
    char err[512] = "";
    int64_t a = add_model(s, "mlp");
    int64_t b = 0;
    ck_assert_int_eq(store_model_insert(s, "", "{\"b\":1}", "{\"s\":2}", &b, err, sizeof err), 0);
    ck_assert_int_eq(b, a + 1);

    store_model m;
    ck_assert_int_eq(store_model_get(s, b, &m, err, sizeof err), 0);
    ck_assert_int_eq(m.id, b);
    ck_assert_str_eq(m.name, "model-2");
    ck_assert_str_eq(m.definition, "{\"b\":1}");
    ck_assert_str_eq(m.summary, "{\"s\":2}");
    ck_assert_msg(valid_time(m.created_at), "%s", m.created_at);
    store_model_clear(&m);

    store_model *list = NULL;
    int n = 0;
    ck_assert_int_eq(store_model_list(s, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(list[0].id, b);
    ck_assert_str_eq(list[1].name, "mlp");
    store_free_models(list, n);

    ck_assert_int_eq(store_model_insert(s, "x", NULL, "{}", &b, err, sizeof err), STORE_EINVAL);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(store_model_delete(s, a, err, sizeof err), 0);
    ck_assert_int_eq(store_model_get(s, a, &m, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_ptr_null(m.name);
    ck_assert_int_eq(store_model_delete(s, a, err, sizeof err), STORE_ENOTFOUND);
    store_close(s);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------------
 * Jobs. */

START_TEST(job_insert_get_list)
{
    char *path = db_path("jobs");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "train"), val = add_dataset(s, "val"), model = add_model(s, "m");

    store_job j = job_template(model, ds, 7);
    j.val_dataset_id = val;
    j.val_split = 0.25;
    j.checkpoint_every = 4;
    j.log_every_steps = 50;
    j.epochs = 12;
    int64_t id1 = 0;
    ck_assert_msg(store_job_insert(s, &j, &id1, err, sizeof err) == 0, "%s", err);

    store_job g;
    job_get(s, id1, &g);
    ck_assert_int_eq(g.id, id1);
    ck_assert_int_eq(g.model_id, model);
    ck_assert_int_eq(g.dataset_id, ds);
    ck_assert_int_eq(g.val_dataset_id, val);
    ck_assert(g.val_split == 0.25);
    ck_assert_str_eq(g.definition, "{\"input\":[2]}");
    ck_assert_str_eq(g.training, "{\"epochs\":3}");
    ck_assert_int_eq(g.priority, 7);
    ck_assert_int_eq(g.checkpoint_every, 4);
    ck_assert_int_eq(g.log_every_steps, 50);
    ck_assert_int_eq(g.threads, 0);
    ck_assert_str_eq(g.state, "queued");
    ck_assert_str_eq(g.stop_reason, "");
    ck_assert_ptr_null(g.error);
    ck_assert_int_eq(g.cancel_requested, 0);
    ck_assert_int_eq(g.attempts, 0);
    ck_assert_msg(valid_time(g.created_at), "%s", g.created_at);
    ck_assert_str_eq(g.started_at, "");
    ck_assert_str_eq(g.finished_at, "");
    ck_assert_int_eq(g.epoch, 0);
    ck_assert_int_eq(g.epochs, 12);
    ck_assert_ptr_null(g.last_metrics);
    ck_assert_ptr_null(g.best_metrics);
    store_job_clear(&g);

    /* an inline definition (model 0) without validation */
    int64_t id2 = add_job(s, 0, ds, 0);
    job_get(s, id2, &g);
    ck_assert_int_eq(g.model_id, 0);
    ck_assert_int_eq(g.val_dataset_id, 0);
    ck_assert(g.val_split < 0);
    store_job_clear(&g);

    /* its "queued" event */
    store_event *e = NULL;
    int n = 0;
    ck_assert_int_eq(store_events_list(s, id2, 0, 10, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(e[0].seq, 1);
    ck_assert_str_eq(e[0].type, "state");
    ck_assert_str_eq(e[0].data, "{\"state\":\"queued\",\"stop_reason\":null,\"error\":null}");
    store_free_events(e, n);

    /* ids 1..6; job 3 and 5 will be running */
    int64_t ids[6] = {id1, id2, 0, 0, 0, 0};
    for (int i = 2; i < 6; i++)
        ids[i] = add_job(s, model, ds, i == 2 || i == 4 ? 100 : 0);
    ck_assert_int_eq(claim(s), ids[2]);
    ck_assert_int_eq(claim(s), ids[4]);

    store_job *list = NULL;
    ck_assert_int_eq(store_job_list(s, NULL, 0, 0, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(list[i].id, ids[5 - i]);
    ck_assert_str_eq(list[5].definition, "{\"input\":[2]}");
    store_free_jobs(list, n);

    ck_assert_int_eq(store_job_list(s, "running", 0, 50, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(list[0].id, ids[4]);
    ck_assert_int_eq(list[1].id, ids[2]);
    store_free_jobs(list, n);

    ck_assert_int_eq(store_job_list(s, "queued", 0, 2, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(list[0].id, ids[5]);
    ck_assert_int_eq(list[1].id, ids[3]);
    int64_t cursor = list[1].id;
    store_free_jobs(list, n);
    ck_assert_int_eq(store_job_list(s, "queued", cursor, 2, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(list[0].id, ids[1]);
    ck_assert_int_eq(list[1].id, ids[0]);
    cursor = list[1].id;
    store_free_jobs(list, n);
    ck_assert_int_eq(store_job_list(s, "queued", cursor, 2, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 0);
    store_free_jobs(list, n);
    ck_assert_int_eq(store_job_list(s, NULL, ids[3], 0, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(list[0].id, ids[2]);
    store_free_jobs(list, n);
    ck_assert_int_eq(store_job_list(s, "succeeded", 0, 0, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(list);

    list = (store_job *)1;
    ck_assert_int_eq(store_job_list(s, "bogus", 0, 0, &list, &n, err, sizeof err), STORE_EINVAL);
    ck_assert_ptr_null(list);

    int64_t counts[5];
    ck_assert_int_eq(store_job_counts(s, counts, err, sizeof err), 0);
    ck_assert_int_eq(counts[0], 4);
    ck_assert_int_eq(counts[1], 2);
    ck_assert_int_eq(counts[2] + counts[3] + counts[4], 0);

    /* references that do not exist */
    int64_t bad = 9;
    j = job_template(999, ds, 0);
    ck_assert_int_eq(store_job_insert(s, &j, &bad, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_int_eq(bad, 0);
    ck_assert_msg(strstr(err, "model 999") != NULL, "%s", err);
    j = job_template(model, 999, 0);
    ck_assert_int_eq(store_job_insert(s, &j, &bad, err, sizeof err), STORE_ENOTFOUND);
    j = job_template(model, ds, 0);
    j.val_dataset_id = 999;
    ck_assert_int_eq(store_job_insert(s, &j, &bad, err, sizeof err), STORE_ENOTFOUND);
    j = job_template(model, 0, 0);
    ck_assert_int_eq(store_job_insert(s, &j, &bad, err, sizeof err), STORE_EINVAL);
    j = job_template(model, ds, 0);
    j.definition = NULL;
    ck_assert_int_eq(store_job_insert(s, &j, &bad, err, sizeof err), STORE_EINVAL);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM jobs"), 6);

    memset(&g, 0x55, sizeof g);
    ck_assert_int_eq(store_job_get(s, 999, &g, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_ptr_null(g.definition);
    ck_assert_int_eq(g.id, 0);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(queue_position_and_claim_order)
{
    char *path = db_path("claim");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "d");
    int prio[5] = {0, 5, 0, 5, -1};
    int64_t id[5];
    for (int i = 0; i < 5; i++)
        id[i] = add_job(s, 0, ds, prio[i]);
    /* highest priority first, then first in first out */
    int64_t order[5] = {id[1], id[3], id[0], id[2], id[4]};
    for (int k = 0; k < 5; k++) {
        int pos = -1;
        ck_assert_int_eq(store_job_queue_position(s, order[k], &pos, err, sizeof err), 0);
        ck_assert_int_eq(pos, k + 1);
    }
    for (int k = 0; k < 5; k++) {
        store_job j;
        ck_assert_int_eq(store_job_claim(s, 3, &j, err, sizeof err), 0);
        ck_assert_int_eq(j.id, order[k]);
        ck_assert_str_eq(j.state, "running");
        ck_assert_int_eq(j.attempts, 1);
        ck_assert_int_eq(j.threads, 3);
        ck_assert_msg(valid_time(j.started_at), "%s", j.started_at);
        ck_assert_str_eq(j.definition, "{\"input\":[2]}");
        store_job_clear(&j);
        int pos = -1;
        ck_assert_int_eq(store_job_queue_position(s, order[k], &pos, err, sizeof err), 0);
        ck_assert_int_eq(pos, 0);
        if (k + 1 < 5) {
            ck_assert_int_eq(store_job_queue_position(s, order[k + 1], &pos, err, sizeof err), 0);
            ck_assert_int_eq(pos, 1);
        }
    }
    store_job j;
    memset(&j, 0x55, sizeof j);
    ck_assert_int_eq(store_job_claim(s, 3, &j, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_int_eq(j.id, 0);
    ck_assert_ptr_null(j.definition);

    store_event *e = NULL;
    int n = 0;
    ck_assert_int_eq(store_events_list(s, id[0], 0, 0, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(e[1].seq, 2);
    ck_assert_str_eq(e[1].data, "{\"state\":\"running\",\"stop_reason\":null,\"error\":null}");
    store_free_events(e, n);

    int pos = 7;
    ck_assert_int_eq(store_job_queue_position(s, 999, &pos, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_int_eq(pos, 0);
    store_close(s);
    free(path);
}
END_TEST

#define CLAIM_JOBS 200
#define CLAIM_THREADS 4

struct claimer {
    store *s;
    int64_t got[CLAIM_JOBS];
    int n, errors;
    char err[256];
};

static void *claim_loop(void *arg)
{
    struct claimer *c = arg;
    for (;;) {
        store_job j;
        int rc = store_job_claim(c->s, 1, &j, c->err, sizeof c->err);
        if (rc == STORE_ENOTFOUND)
            break;
        if (rc != STORE_OK || c->n == CLAIM_JOBS) {
            c->errors++;
            break;
        }
        c->got[c->n++] = j.id;
        store_job_clear(&j);
    }
    return NULL;
}

START_TEST(concurrent_claims_never_share_a_job)
{
    char *path = db_path("concurrent");
    store *s = open_db(path);
    int64_t ds = add_dataset(s, "d");
    int64_t first = 0;
    for (int i = 0; i < CLAIM_JOBS; i++) {
        int64_t id = add_job(s, 0, ds, i % 3);
        if (i == 0)
            first = id;
    }
    static struct claimer c[CLAIM_THREADS];
    pthread_t t[CLAIM_THREADS];
    for (int i = 0; i < CLAIM_THREADS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].s = s;
        ck_assert_int_eq(pthread_create(&t[i], NULL, claim_loop, &c[i]), 0);
    }
    int seen[CLAIM_JOBS] = {0}, total = 0;
    for (int i = 0; i < CLAIM_THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(c[i].errors == 0, "thread %d: %s", i, c[i].err);
        for (int k = 0; k < c[i].n; k++) {
            int64_t idx = c[i].got[k] - first;
            ck_assert(idx >= 0 && idx < CLAIM_JOBS);
            seen[idx]++;
        }
        total += c[i].n;
    }
    ck_assert_int_eq(total, CLAIM_JOBS);
    for (int i = 0; i < CLAIM_JOBS; i++)
        ck_assert_msg(seen[i] == 1, "job %d claimed %d times", i, seen[i]);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND "
                                   "attempts = 1"), CLAIM_JOBS);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM events WHERE seq = 2 AND type = 'state'"),
                     CLAIM_JOBS);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(requeue_running_jobs)
{
    char *path = db_path("requeue");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t a = add_job(s, 0, ds, 0), b = add_job(s, 0, ds, 0), c = add_job(s, 0, ds, 0);
    ck_assert_int_eq(claim(s), a);
    ck_assert_int_eq(claim(s), b);
    store_job g;
    job_get(s, a, &g);
    char started[32];
    snprintf(started, sizeof started, "%s", g.started_at);
    store_job_clear(&g);

    int n = -1;
    ck_assert_int_eq(store_job_requeue_running(s, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    job_get(s, b, &g);
    ck_assert_str_eq(g.state, "queued");
    store_job_clear(&g);
    ck_assert_int_eq(n_events(s, a), 3);       /* queued, running, queued */
    ck_assert_int_eq(n_events(s, c), 1);
    ck_assert_int_eq(store_job_requeue_running(s, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 0);

    usleep(5000);   /* a later clock: started_at must still be the first start */
    store_job j;
    ck_assert_int_eq(store_job_claim(s, 1, &j, err, sizeof err), 0);
    ck_assert_int_eq(j.id, a);
    ck_assert_int_eq(j.attempts, 2);
    ck_assert_str_eq(j.started_at, started);
    store_job_clear(&j);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(cancel_jobs)
{
    char *path = db_path("cancel");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t run = add_job(s, 0, ds, 9), q = add_job(s, 0, ds, 0);
    ck_assert_int_eq(claim(s), run);

    ck_assert_int_eq(store_job_cancel(s, q, err, sizeof err), 0);
    store_job g;
    job_get(s, q, &g);
    ck_assert_str_eq(g.state, "cancelled");
    ck_assert_str_eq(g.stop_reason, "cancelled");
    ck_assert_msg(valid_time(g.finished_at), "%s", g.finished_at);
    store_job_clear(&g);
    store_event *e = NULL;
    int n = 0;
    ck_assert_int_eq(store_events_list(s, q, 1, 0, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(e[0].seq, 2);
    ck_assert_str_eq(e[0].data,
                     "{\"state\":\"cancelled\",\"stop_reason\":\"cancelled\",\"error\":null}");
    store_free_events(e, n);

    ck_assert_int_eq(store_job_cancel(s, run, err, sizeof err), 0);
    job_get(s, run, &g);
    ck_assert_str_eq(g.state, "running");
    ck_assert_int_eq(g.cancel_requested, 1);
    ck_assert_str_eq(g.finished_at, "");
    store_job_clear(&g);
    ck_assert_int_eq(n_events(s, run), 2);     /* no state change, no event */
    ck_assert_int_eq(store_job_cancel(s, run, err, sizeof err), 0);   /* asking twice is fine */

    ck_assert_int_eq(store_job_finish(s, run, "cancelled", "cancelled", NULL, "W", 1, err,
                                      sizeof err), 0);
    ck_assert_int_eq(store_job_cancel(s, run, err, sizeof err), STORE_ECONFLICT);
    ck_assert_int_eq(store_job_cancel(s, q, err, sizeof err), STORE_ECONFLICT);
    ck_assert_msg(strstr(err, "cancelled") != NULL, "%s", err);
    ck_assert_int_eq(store_job_cancel(s, 999, err, sizeof err), STORE_ENOTFOUND);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(progress_metrics_and_events)
{
    char *path = db_path("progress");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t id = add_job(s, 0, ds, 0);
    ck_assert_int_eq(claim(s), id);

    void *buf = (void *)1;
    size_t len = 9;
    ck_assert_int_eq(store_checkpoint_get(s, id, &buf, &len, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(store_weights_get(s, id, "latest", &buf, &len, err, sizeof err),
                     STORE_ENOTFOUND);

    /* epoch 1 with a checkpoint and latest weights */
    store_progress p = epoch_progress(1);
    p.last_metrics = "{\"epoch\":1}";
    p.best_metrics = "{\"epoch\":1,\"best\":true}";
    unsigned char ckpt[3000];
    for (int i = 0; i < 3000; i++)
        ckpt[i] = (unsigned char)(i * 7);
    p.checkpoint = ckpt;
    p.checkpoint_len = sizeof ckpt;
    p.latest_weights = "LATEST1";
    p.latest_len = 7;
    int64_t seq = 0;
    ck_assert_msg(store_job_progress(s, id, &p, &seq, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(seq, 1);

    /* the same epoch again (a re-run after a crash): no row, no event */
    p.loss = 123.0;
    p.checkpoint = NULL;
    p.latest_weights = NULL;
    seq = 0;
    ck_assert_int_eq(store_job_progress(s, id, &p, &seq, err, sizeof err), 0);
    ck_assert_int_eq(seq, 1);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM metrics"), 1);
    ck_assert_int_eq(n_events(s, id), 3);      /* queued, running, one metric */

    /* step rows between epochs, then epoch 2 (no new JSON: kept) */
    for (int k = 1; k <= 3; k++) {
        store_progress st;
        memset(&st, 0, sizeof st);
        st.kind = "step";
        st.epoch = 2;
        st.step = k;
        st.global_step = 10 + k;
        st.loss = 0.5;
        st.accuracy = st.val_loss = st.val_accuracy = NAN;
        st.lr = st.elapsed = st.samples_per_sec = NAN;
        st.epochs = 3;
        st.steps_per_epoch = 10;
        ck_assert_int_eq(store_job_progress(s, id, &st, &seq, err, sizeof err), 0);
        ck_assert_int_eq(seq, 1 + k);
    }
    p = epoch_progress(2);
    p.val_loss = 0.75;
    p.best_weights = "BEST";
    p.best_len = 4;
    ck_assert_int_eq(store_job_progress(s, id, &p, &seq, err, sizeof err), 0);
    ck_assert_int_eq(seq, 5);

    store_job g;
    job_get(s, id, &g);
    ck_assert_int_eq(g.epoch, 2);
    ck_assert_int_eq(g.epochs, 3);
    ck_assert_int_eq(g.step, 10);
    ck_assert_int_eq(g.steps_per_epoch, 10);
    ck_assert(g.samples_per_sec == 1000.5);
    ck_assert_str_eq(g.last_metrics, "{\"epoch\":1}");
    ck_assert_str_eq(g.best_metrics, "{\"epoch\":1,\"best\":true}");
    store_job_clear(&g);

    /* the metric rows: all, since, kind; NaN back as NaN */
    store_metric *m = NULL;
    int n = 0;
    ck_assert_int_eq(store_metrics_list(s, id, 0, NULL, &m, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(m[i].seq, i + 1);
    ck_assert_str_eq(m[0].kind, "epoch");
    ck_assert_int_eq(m[0].epoch, 1);
    ck_assert_int_eq(m[0].global_step, 10);
    ck_assert(m[0].loss == 1.0);            /* the first row, not the re-run's 123 */
    ck_assert(m[0].accuracy == 0.6);
    ck_assert(isnan(m[0].val_loss));
    ck_assert(isnan(m[0].val_accuracy));
    ck_assert(m[0].lr == 0.01);
    ck_assert(m[0].elapsed == 0.25);
    ck_assert(m[0].samples_per_sec == 1000.5);
    ck_assert_str_eq(m[1].kind, "step");
    ck_assert(isnan(m[1].lr));
    free(m);
    ck_assert_int_eq(store_metrics_list(s, id, 0, "epoch", &m, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(m[1].seq, 5);
    ck_assert(m[1].val_loss == 0.75);
    free(m);
    ck_assert_int_eq(store_metrics_list(s, id, 2, "step", &m, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(m[0].seq, 3);
    free(m);
    ck_assert_int_eq(store_metrics_list(s, id, 5, NULL, &m, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 0);
    free(m);
    m = (store_metric *)1;
    ck_assert_int_eq(store_metrics_list(s, id, 0, "bogus", &m, &n, err, sizeof err), STORE_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(store_metrics_list(s, 999, 0, NULL, &m, &n, err, sizeof err),
                     STORE_ENOTFOUND);

    /* events: queued, running, 5 metrics, in order */
    store_event *e = NULL;
    ck_assert_int_eq(store_events_list(s, id, 0, 0, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 7);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(e[i].seq, i + 1);
        ck_assert_str_eq(e[i].type, i < 2 ? "state" : "metric");
    }
    json_error_t je;
    json_t *o = json_loads(e[2].data, 0, &je);
    ck_assert_msg(o != NULL, "%s: %s", e[2].data, je.text);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(o, "kind")), "epoch");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "epoch")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "step")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "global_step")), 10);
    ck_assert(json_number_value(json_object_get(o, "loss")) == 1.0);
    ck_assert(json_number_value(json_object_get(o, "accuracy")) == 0.6);
    ck_assert(json_is_null(json_object_get(o, "val_loss")));
    ck_assert(json_is_null(json_object_get(o, "val_accuracy")));
    ck_assert(json_number_value(json_object_get(o, "lr")) == 0.01);
    ck_assert(json_number_value(json_object_get(o, "elapsed")) == 0.25);
    ck_assert(json_number_value(json_object_get(o, "samples_per_second")) == 1000.5);
    ck_assert_int_eq(json_object_size(o), 12);
    json_decref(o);
    ck_assert_msg(strstr(e[2].data, "\"accuracy\":0.6,") != NULL, "shortest form: %s", e[2].data);
    store_free_events(e, n);
    ck_assert_int_eq(store_events_list(s, id, 3, 2, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(e[0].seq, 4);
    ck_assert_int_eq(e[1].seq, 5);
    store_free_events(e, n);
    e = (store_event *)1;
    ck_assert_int_eq(store_events_list(s, 999, 0, 0, &e, &n, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_ptr_null(e);

    /* checkpoint and weights */
    ck_assert_int_eq(store_checkpoint_get(s, id, &buf, &len, err, sizeof err), 0);
    ck_assert_uint_eq(len, sizeof ckpt);
    ck_assert_mem_eq(buf, ckpt, sizeof ckpt);
    free(buf);
    ck_assert_int_eq(store_weights_get(s, id, "latest", &buf, &len, err, sizeof err), 0);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(buf, "LATEST1", 7);
    free(buf);
    ck_assert_int_eq(store_weights_get(s, id, "best", &buf, &len, err, sizeof err), 0);
    ck_assert_mem_eq(buf, "BEST", 4);
    free(buf);
    ck_assert_int_eq(store_weights_get(s, id, "final", &buf, &len, err, sizeof err),
                     STORE_ENOTFOUND);
    ck_assert_int_eq(store_weights_get(s, id, "other", &buf, &len, err, sizeof err), STORE_EINVAL);

    /* a newer checkpoint replaces the old one */
    p = epoch_progress(3);
    p.checkpoint = "NEW";
    p.checkpoint_len = 3;
    ck_assert_int_eq(store_job_progress(s, id, &p, NULL, err, sizeof err), 0);
    ck_assert_int_eq(store_checkpoint_get(s, id, &buf, &len, err, sizeof err), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(buf, "NEW", 3);
    free(buf);
    ck_assert_int_eq(sql_int(path, "SELECT epoch FROM checkpoints"), 3);

    /* bad arguments */
    p.kind = "minute";
    ck_assert_int_eq(store_job_progress(s, id, &p, &seq, err, sizeof err), STORE_EINVAL);
    p.kind = "epoch";
    ck_assert_int_eq(store_job_progress(s, 999, &p, &seq, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_int_eq(seq, 0);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(finish_jobs)
{
    char *path = db_path("finish");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t a = add_job(s, 0, ds, 1), b = add_job(s, 0, ds, 0);
    ck_assert_int_eq(store_job_finish(s, a, "succeeded", "max_epochs", NULL, NULL, 0, err,
                                      sizeof err), STORE_ECONFLICT);
    ck_assert_int_eq(claim(s), a);
    ck_assert_int_eq(store_job_finish(s, a, "running", NULL, NULL, NULL, 0, err, sizeof err),
                     STORE_EINVAL);
    ck_assert_int_eq(store_job_finish(s, 999, "failed", NULL, "x", NULL, 0, err, sizeof err),
                     STORE_ENOTFOUND);
    ck_assert_int_eq(store_job_finish(s, a, "succeeded", "max_epochs", NULL, "FINAL", 5, err,
                                      sizeof err), 0);
    store_job g;
    job_get(s, a, &g);
    ck_assert_str_eq(g.state, "succeeded");
    ck_assert_str_eq(g.stop_reason, "max_epochs");
    ck_assert_ptr_null(g.error);
    ck_assert_msg(valid_time(g.finished_at), "%s", g.finished_at);
    store_job_clear(&g);
    void *buf;
    size_t len;
    ck_assert_int_eq(store_weights_get(s, a, "final", &buf, &len, err, sizeof err), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(buf, "FINAL", 5);
    free(buf);
    store_event *e = NULL;
    int n = 0;
    ck_assert_int_eq(store_events_list(s, a, 2, 0, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(e[0].data,
                     "{\"state\":\"succeeded\",\"stop_reason\":\"max_epochs\",\"error\":null}");
    store_free_events(e, n);
    ck_assert_int_eq(store_job_finish(s, a, "failed", NULL, "again", NULL, 0, err, sizeof err),
                     STORE_ECONFLICT);
    store_progress p = epoch_progress(1);
    ck_assert_int_eq(store_job_progress(s, a, &p, NULL, err, sizeof err), STORE_ECONFLICT);

    /* failed, with an error text (not UTF-8: the event still is JSON) */
    ck_assert_int_eq(claim(s), b);
    ck_assert_int_eq(store_job_finish(s, b, "failed", "", "cannot read \xe9t\xe9.csv", NULL, 0,
                                      err, sizeof err), 0);
    job_get(s, b, &g);
    ck_assert_str_eq(g.state, "failed");
    ck_assert_str_eq(g.stop_reason, "");
    ck_assert_str_eq(g.error, "cannot read \xe9t\xe9.csv");
    store_job_clear(&g);
    ck_assert_int_eq(store_events_list(s, b, 2, 0, &e, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(e[0].data, "{\"state\":\"failed\",\"stop_reason\":null,"
                                "\"error\":\"cannot read ?t?.csv\"}");
    store_free_events(e, n);
    ck_assert_int_eq(store_weights_get(s, b, "final", &buf, &len, err, sizeof err),
                     STORE_ENOTFOUND);

    int64_t counts[5];
    ck_assert_int_eq(store_job_counts(s, counts, err, sizeof err), 0);
    ck_assert_int_eq(counts[2], 1);
    ck_assert_int_eq(counts[3], 1);
    store_close(s);
    free(path);
}
END_TEST

/* Where a job stopped mid-epoch: only its progress columns change (no
 * metric row, no event), only while it runs, and they outlive its end. */
START_TEST(reached_mid_epoch)
{
    char *path = db_path("reached");
    store *s = open_db(path);
    char err[256] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t id = add_job(s, 0, ds, 0);
    ck_assert_int_eq(store_job_reached(s, id, 1, 4, 10, err, sizeof err), STORE_ECONFLICT);
    ck_assert_int_eq(claim(s), id);
    store_progress p = epoch_progress(1);
    p.last_metrics = "{\"epoch\":1}";
    ck_assert_int_eq(store_job_progress(s, id, &p, NULL, err, sizeof err), 0);
    int events = n_events(s, id);
    ck_assert_int_eq(store_job_reached(s, id, 2, 7, 10, err, sizeof err), 0);
    ck_assert_int_eq(store_job_reached(s, id, 2, -1, 10, err, sizeof err), STORE_EINVAL);
    ck_assert_int_eq(store_job_reached(s, 999, 2, 7, 10, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_int_eq(store_job_finish(s, id, "cancelled", "cancelled", NULL, NULL, 0, err,
                                      sizeof err), 0);
    store_job g;
    job_get(s, id, &g);
    ck_assert_int_eq(g.epoch, 2);
    ck_assert_int_eq(g.step, 7);
    ck_assert_int_eq(g.steps_per_epoch, 10);
    ck_assert_str_eq(g.last_metrics, "{\"epoch\":1}");   /* the last whole epoch's */
    store_job_clear(&g);
    ck_assert_int_eq(n_events(s, id), events + 1);   /* the end's state event only */
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM metrics"), 1);
    ck_assert_int_eq(store_job_reached(s, id, 3, 1, 10, err, sizeof err), STORE_ECONFLICT);
    store_close(s);
    free(path);
}
END_TEST

/* A cancel committed while the job runs wins over the success the worker
 * then writes; a failure stays a failure; a cancel after the end conflicts. */
START_TEST(cancel_before_the_end_wins)
{
    char *path = db_path("cancel-end");
    store *s = open_db(path);
    char err[256] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t a = add_job(s, 0, ds, 0), b = add_job(s, 0, ds, 0), c = add_job(s, 0, ds, 0);
    ck_assert_int_eq(claim(s), a);
    ck_assert_int_eq(store_job_cancel(s, a, err, sizeof err), 0);
    ck_assert_int_eq(store_job_finish(s, a, "succeeded", "max_epochs", NULL, "FINAL", 5, err,
                                      sizeof err), 0);
    store_job g;
    job_get(s, a, &g);
    ck_assert_str_eq(g.state, "cancelled");
    ck_assert_str_eq(g.stop_reason, "cancelled");
    store_job_clear(&g);
    void *w = NULL;
    size_t wlen = 0;
    ck_assert_int_eq(store_weights_get(s, a, "final", &w, &wlen, err, sizeof err), 0);
    ck_assert(wlen == 5 && !memcmp(w, "FINAL", 5));   /* its last weights are kept */
    free(w);
    ck_assert_int_eq(claim(s), b);
    ck_assert_int_eq(store_job_cancel(s, b, err, sizeof err), 0);
    ck_assert_int_eq(store_job_finish(s, b, "failed", "diverged", "the loss became NaN", NULL, 0,
                                      err, sizeof err), 0);
    job_get(s, b, &g);
    ck_assert_str_eq(g.state, "failed");
    store_job_clear(&g);
    ck_assert_int_eq(claim(s), c);
    ck_assert_int_eq(store_job_finish(s, c, "succeeded", "max_epochs", NULL, NULL, 0, err,
                                      sizeof err), 0);
    ck_assert_int_eq(store_job_cancel(s, c, err, sizeof err), STORE_ECONFLICT);
    ck_assert_msg(strstr(err, "succeeded") != NULL, "%s", err);
    job_get(s, c, &g);
    ck_assert_str_eq(g.state, "succeeded");
    store_job_clear(&g);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(delete_jobs_and_cascades)
{
    char *path = db_path("delete");
    store *s = open_db(path);
    char err[512] = "";
    int64_t ds = add_dataset(s, "d");
    int64_t keep = add_job(s, 0, ds, 0), id = add_job(s, 0, ds, 5);
    ck_assert_int_eq(store_job_delete(s, id, err, sizeof err), STORE_ECONFLICT);
    ck_assert_int_eq(claim(s), id);
    ck_assert_int_eq(store_job_delete(s, id, err, sizeof err), STORE_ECONFLICT);
    ck_assert_msg(strstr(err, "running") != NULL, "%s", err);
    store_progress p = epoch_progress(1);
    p.checkpoint = "C";
    p.checkpoint_len = 1;
    p.latest_weights = "L";
    p.latest_len = 1;
    p.best_weights = "B";
    p.best_len = 1;
    ck_assert_int_eq(store_job_progress(s, id, &p, NULL, err, sizeof err), 0);
    ck_assert_int_eq(store_job_finish(s, id, "succeeded", "max_epochs", NULL, "F", 1, err,
                                      sizeof err), 0);
    ck_assert_int_eq(store_job_delete(s, id, err, sizeof err), 0);
    store_job g;
    ck_assert_int_eq(store_job_get(s, id, &g, err, sizeof err), STORE_ENOTFOUND);
    char sql[200];
    const char *tables[4] = {"metrics", "events", "checkpoints", "weights"};
    for (int i = 0; i < 4; i++) {
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE job_id = %lld", tables[i],
                 (long long)id);
        ck_assert_msg(sql_int(path, sql) == 0, "%s", tables[i]);
    }
    ck_assert_int_eq(n_events(s, keep), 1);      /* the other job is untouched */
    ck_assert_int_eq(store_job_delete(s, id, err, sizeof err), STORE_ENOTFOUND);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(delete_in_use_conflicts)
{
    char *path = db_path("inuse");
    store *s = open_db(path);
    char err[512] = "";
    int64_t train = add_dataset(s, "train"), val = add_dataset(s, "val"),
            spare = add_dataset(s, "spare");
    int64_t model = add_model(s, "m"), unused = add_model(s, "unused");
    store_job j = job_template(model, train, 0);
    j.val_dataset_id = val;
    int64_t a = 0;
    ck_assert_int_eq(store_job_insert(s, &j, &a, err, sizeof err), 0);

    /* queued */
    ck_assert_int_eq(store_dataset_delete(s, train, err, sizeof err), STORE_ECONFLICT);
    ck_assert_msg(strstr(err, "queued") != NULL, "%s", err);
    ck_assert_int_eq(store_dataset_delete(s, val, err, sizeof err), STORE_ECONFLICT);
    ck_assert_int_eq(store_model_delete(s, model, err, sizeof err), STORE_ECONFLICT);
    /* running */
    ck_assert_int_eq(claim(s), a);
    ck_assert_int_eq(store_dataset_delete(s, val, err, sizeof err), STORE_ECONFLICT);
    ck_assert_msg(strstr(err, "running") != NULL, "%s", err);
    ck_assert_int_eq(store_model_delete(s, model, err, sizeof err), STORE_ECONFLICT);
    /* not used at all */
    ck_assert_int_eq(store_dataset_delete(s, spare, err, sizeof err), 0);
    ck_assert_int_eq(store_model_delete(s, unused, err, sizeof err), 0);
    /* finished: allowed, and the job keeps the ids it was made from */
    ck_assert_int_eq(store_job_finish(s, a, "succeeded", "max_epochs", NULL, NULL, 0, err,
                                      sizeof err), 0);
    ck_assert_msg(store_dataset_delete(s, train, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(store_dataset_delete(s, val, err, sizeof err), 0);
    ck_assert_int_eq(store_model_delete(s, model, err, sizeof err), 0);
    store_job g;
    job_get(s, a, &g);
    ck_assert_int_eq(g.model_id, model);
    ck_assert_int_eq(g.dataset_id, train);
    ck_assert_int_eq(g.val_dataset_id, val);
    ck_assert_str_eq(g.definition, "{\"input\":[2]}");   /* its own copy */
    store_job_clear(&g);
    store_dataset gd;
    ck_assert_int_eq(store_dataset_get(s, train, &gd, err, sizeof err), STORE_ENOTFOUND);
    /* a kept id is no reference: a new job cannot name the deleted rows */
    store_job again = job_template(model, train, 0);
    int64_t b = 0;
    ck_assert_int_eq(store_job_insert(s, &again, &b, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_msg(strstr(err, "model") != NULL, "%s", err);
    again = job_template(0, train, 0);
    ck_assert_int_eq(store_job_insert(s, &again, &b, err, sizeof err), STORE_ENOTFOUND);
    ck_assert_msg(strstr(err, "dataset") != NULL, "%s", err);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM dataset_tensors"), 0);
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM datasets"), 0);
    store_close(s);
    free(path);
}
END_TEST

/* Deleting the newest dataset, model and job and creating another gives a
 * new id, also after the store is reopened: an id names one row for ever. */
START_TEST(ids_are_never_reused)
{
    char *path = db_path("ids");
    store *s = open_db(path);
    char err[512] = "";
    int64_t last_ds = 0, last_model = 0, last_job = 0;
    for (int round = 0; round < 3; round++) {
        int64_t ds = add_dataset(s, "d"), model = add_model(s, "m");
        int64_t job = add_job(s, model, ds, 0);
        ck_assert_int_gt(ds, last_ds);
        ck_assert_int_gt(model, last_model);
        ck_assert_int_gt(job, last_job);
        /* each the newest of its kind: the job (finished), then what it used */
        ck_assert_int_eq(store_job_cancel(s, job, err, sizeof err), 0);
        ck_assert_msg(store_job_delete(s, job, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(store_dataset_delete(s, ds, err, sizeof err), 0);
        ck_assert_int_eq(store_model_delete(s, model, err, sizeof err), 0);
        last_ds = ds;
        last_model = model;
        last_job = job;
        if (round == 1) {             /* a restart in between */
            store_close(s);
            s = open_db(path);
        }
    }
    ck_assert_int_eq(last_job, 3);   /* and nothing else was skipped */
    ck_assert_int_eq(sql_int(path, "SELECT COUNT(*) FROM jobs"), 0);
    store_close(s);
    free(path);
}
END_TEST

START_TEST(committed_writes_survive_kill_9)
{
    char *path = db_path("kill");
    /* create the file first, so that the child only writes */
    store_close(open_db(path));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        store *s = NULL;
        int64_t ds = 0, id = 0;
        nn_dataset d;
        make_dataset(&d, 4, 1);
        if (store_open(path, &s, NULL, 0) != 0 ||
            store_dataset_insert(s, "survivor", "csv", &d, 1, "", &ds, NULL, 0) != 0)
            _exit(1);
        store_job j = job_template(0, ds, 0);
        if (store_job_insert(s, &j, &id, NULL, 0) != 0)
            _exit(2);
        store_progress p;
        store_job got;
        if (store_job_claim(s, 1, &got, NULL, 0) != 0)
            _exit(3);
        p = epoch_progress(1);
        p.checkpoint = "CK";
        p.checkpoint_len = 2;
        if (store_job_progress(s, id, &p, NULL, 0, 0) != 0)
            _exit(4);
        raise(SIGKILL);     /* no close, no checkpoint of the WAL, no atexit */
        _exit(5);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);

    store *s = open_db(path);
    char err[512] = "";
    store_dataset *list = NULL;
    int n = 0;
    ck_assert_int_eq(store_dataset_list(s, &list, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(list[0].name, "survivor");
    nn_dataset back;
    ck_assert_int_eq(store_dataset_load(s, list[0].id, &back, err, sizeof err), 0);
    ck_assert(back.x.data[2] == 0.25f);
    nn_dataset_free(&back);
    store_free_datasets(list, n);
    store_job *jobs = NULL;
    ck_assert_int_eq(store_job_list(s, NULL, 0, 0, &jobs, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(jobs[0].state, "running");
    ck_assert_int_eq(jobs[0].epoch, 1);
    void *buf;
    size_t len;
    ck_assert_int_eq(store_checkpoint_get(s, jobs[0].id, &buf, &len, err, sizeof err), 0);
    ck_assert_mem_eq(buf, "CK", 2);
    free(buf);
    store_free_jobs(jobs, n);
    store_close(s);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, migrates_an_empty_file);
    tcase_add_test(tc, reopening_is_idempotent);
    tcase_add_test(tc, newer_schema_is_refused);
    tcase_add_test(tc, failing_migration_leaves_the_version);
    tcase_add_test(tc, bad_opens);
    tcase_add_test(tc, dataset_round_trip);
    tcase_add_test(tc, large_dataset_round_trip);
    tcase_add_test(tc, dataset_bad_arguments);
    tcase_add_test(tc, model_crud);
    tcase_add_test(tc, job_insert_get_list);
    tcase_add_test(tc, queue_position_and_claim_order);
    tcase_add_test(tc, concurrent_claims_never_share_a_job);
    tcase_add_test(tc, requeue_running_jobs);
    tcase_add_test(tc, cancel_jobs);
    tcase_add_test(tc, progress_metrics_and_events);
    tcase_add_test(tc, finish_jobs);
    tcase_add_test(tc, reached_mid_epoch);
    tcase_add_test(tc, cancel_before_the_end_wins);
    tcase_add_test(tc, delete_jobs_and_cascades);
    tcase_add_test(tc, delete_in_use_conflicts);
    tcase_add_test(tc, ids_are_never_reused);
    tcase_add_test(tc, committed_writes_survive_kill_9);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
