/*
 * store.c — store.h on SQLite: one database file in WAL mode, the schema
 * from the migrations embedded by schema/embed.sh.
 *
 * Concurrency.  The daemon calls the store from many threads at once
 * (libmicrohttpd's connection threads, the job workers writing progress,
 * event streams polling), so the store owns a small pool of connections
 * (POOL_SIZE), each opened with the same pragmas, borrowed under a mutex and
 * condition variable for the length of one store call and given back
 * before it returns.  A connection is used by one thread at a time, so it
 * is opened SQLITE_OPEN_NOMUTEX.  WAL lets every reader go on against its
 * snapshot while one writer writes, so a 200 MB dataset insert does not stall
 * GET requests or event streams.
 *   Writers take a process-wide writer mutex *before* they borrow a
 * connection, then BEGIN IMMEDIATE: writers of this process queue on the
 * mutex (in no danger of SQLITE_BUSY half-way through a transaction, and of
 * no busy-timeout however long the write before them takes), and a waiting
 * writer holds no connection, so readers always find one.  The busy timeout
 * (30 s) only covers other processes on the same file (a second traind, the
 * sqlite3 shell).  No store call ever borrows two connections, so the pool
 * cannot deadlock.
 *
 * Invariants:
 *   - every call that changes something runs in one IMMEDIATE transaction
 *     and commits before it returns STORE_OK; synchronous=FULL makes the
 *     commit durable (a kill -9 or power loss after it loses nothing);
 *   - event seq and metric seq are per job, MAX(seq)+1 read inside the write
 *     transaction (safe: there is one writer at a time);
 *   - a metric row is unique per (job, kind, global_step): an epoch run
 *     again after a crash keeps its first row and records no second event;
 *   - values are always bound to prepared statements; SQL text is built only
 *     from constant fragments (PRAGMA user_version, which takes no
 *     parameter, gets the build's own migration number);
 *   - statements are prepared per call (microseconds, little next to the
 *     fsync of a commit) rather than cached per pooled connection;
 *   - dataset tensors are float32 little-endian whatever nn_real is, split
 *     into parts of at most PART_BYTES (one SQLite value is limited to 1e9
 *     bytes; a tensor may reach 8 GiB), written and read in PIECE_BYTES
 *     pieces with incremental blob I/O, straight from and into the tensor:
 *     a tensor is never held twice in memory.
 *
 * Decisions the header leaves open:
 *   - ids are never given twice (AUTOINCREMENT, schema/002): a deleted
 *     row's id, even the newest one's, stays unused after a restart;
 *   - deleting a model or dataset that only finished jobs used is allowed;
 *     those jobs keep their model_id / dataset_id / val_dataset_id (plain
 *     integers, no foreign key) and their own definition copy, and since
 *     ids are never reused the kept id names only the deleted row.  That
 *     the rows exist is checked by store_job_insert in its own write
 *     transaction, and a delete refuses while a queued or running job uses
 *     the row, so a job that will still run always finds its data;
 *   - store_job_progress accepts a queued or running job (a worker may write
 *     its last checkpoint while the job is being put back in the queue) and
 *     refuses a finished one (STORE_ECONFLICT);
 *   - cancelling a queued job also sets cancel_requested;
 *   - a running job whose cancel_requested is set when store_job_finish
 *     writes "succeeded" ends "cancelled" (stop_reason "cancelled", its
 *     final weights kept): the cancel committed first and was answered
 *     200; a run that failed stays failed, with its error.  A cancel after
 *     the end is STORE_ECONFLICT naming the final state;
 *   - limit <= 0 in store_job_list and store_events_list means no limit;
 *   - a checkpoint and "latest"/"best" weights stay after a job finishes
 *     (they go with the job when it is deleted);
 *   - a full disk: SQLITE_FULL in a write transaction is STORE_EFULL, and
 *     sets write_failed until a write commits; the reserve file (store.h)
 *     is made, given back and made again only under the writer mutex (or
 *     in store_open, before any other thread), and reserve_out says it is
 *     given back.  Both flags are atomics, read without the mutex.
 */
#include "store.h"

#include "columns_json.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* The migrations, generated from schema/NNN_*.sql by schema/embed.sh (the
 * generated file defines the same struct). */
struct store_migration {
    int number;
    const char *name;
    const char *sql;
};
extern const struct store_migration store_migrations[];
extern const int store_n_migrations;

#define POOL_SIZE 8
#define BUSY_TIMEOUT_MS 30000
/* WAL is truncated back to this after a checkpoint (a big insert grows it). */
#define WAL_LIMIT_BYTES (64 << 20)
/* Largest blob row of a dataset tensor, and one blob read or write. */
#define PART_BYTES ((int64_t)32 << 20)
#define PIECE_BYTES ((int64_t)1 << 20)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif
/* Tensors already hold float32 little-endian: blob I/O straight from/into them. */
#define NATIVE_F32 (HOST_LE && sizeof(nn_real) == sizeof(float))

struct store {
    char *path;
    pthread_mutex_t lock;           /* guards idle[] and n_idle */
    pthread_cond_t returned;        /* a connection came back */
    sqlite3 *conns[POOL_SIZE];
    sqlite3 *idle[POOL_SIZE];
    int n_idle;
    pthread_mutex_t writer;         /* one write transaction at a time here */
    char *reserve;                  /* path of the reserve file */
    double reserve_tried;           /* monotonic seconds of the last attempt to make it */
    atomic_int reserve_out;         /* the reserve is given back (or could not be made) */
    atomic_int write_failed;        /* the last write failed for lack of space */
};

/* How often a missing reserve is tried again, in seconds. */
#define RESERVE_RETRY_S 5
/* Less free space than this on the database's file system is a full disk. */
#define STORE_LOW_BYTES ((int64_t)1 << 20)

static const char *const job_states[5] = {"queued", "running", "succeeded", "failed",
                                          "cancelled"};

/* ------------------------------------------------------------------------
 * Errors, time, small helpers. */

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* "what: sqlite's message"; STORE_ENOMEM when SQLite ran out of memory,
 * STORE_EFULL when the disk is full. */
static int fail_db(char *err, size_t errlen, sqlite3 *db, const char *what)
{
    int e = sqlite3_errcode(db) & 0xff;
    int code = e == SQLITE_NOMEM ? STORE_ENOMEM : e == SQLITE_FULL ? STORE_EFULL : STORE_EIO;
    return fail(err, errlen, code, "%s: %s", what, sqlite3_errmsg(db));
}

/* "2026-11-28T05:12:03.120Z", from the real-time clock. */
static void now_iso(char out[32])
{
    struct timespec ts;
    struct tm tm;
    char day[24];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", day, (int)(ts.tv_nsec / 1000000));
}

static int is_job_state(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, job_states[i]) == 0)
            return 1;
    return 0;
}

static int is_finished(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "cancelled") == 0;
}

/* A JSON number that reads back as exactly v (the shortest such %g), or
 * null for NaN and infinities, which JSON cannot hold. */
static void real_text(char *buf, size_t len, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "null");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* ------------------------------------------------------------------------
 * The connection pool and transactions. */

static sqlite3 *conn_get(store *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->n_idle == 0)
        pthread_cond_wait(&s->returned, &s->lock);
    sqlite3 *db = s->idle[--s->n_idle];
    pthread_mutex_unlock(&s->lock);
    return db;
}

static void conn_put(store *s, sqlite3 *db)
{
    pthread_mutex_lock(&s->lock);
    s->idle[s->n_idle++] = db;
    pthread_cond_signal(&s->returned);
    pthread_mutex_unlock(&s->lock);
}

/* Writer mutex first, then a connection (see the file header), then
 * BEGIN IMMEDIATE, which takes SQLite's write lock now rather than at the
 * first write, so that no other process can make us fail half-way. */
static int write_begin(store *s, sqlite3 **db, char *err, size_t errlen)
{
    *db = NULL;
    pthread_mutex_lock(&s->writer);
    sqlite3 *c = conn_get(s);
    if (sqlite3_exec(c, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = fail_db(err, errlen, c, "cannot start a write transaction");
        conn_put(s, c);
        pthread_mutex_unlock(&s->writer);
        return rc;
    }
    *db = c;
    return STORE_OK;
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Makes the reserve file STORE_RESERVE_BYTES long (allocated, not sparse).
 * Under the writer mutex; 0 when it is there. */
static int reserve_make(store *s)
{
    s->reserve_tried = mono_s();
    int fd = open(s->reserve, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int r = posix_fallocate(fd, 0, (off_t)STORE_RESERVE_BYTES);
    if (r != 0 && ftruncate(fd, 0) != 0)   /* what was allocated goes back */
        r = -1;
    close(fd);
    if (r == 0)
        atomic_store(&s->reserve_out, 0);
    return r == 0 ? 0 : -1;
}

/* Under the writer mutex: the reserve's space back to the file system.
 * It is not made again for RESERVE_RETRY_S, so that the delete it is for
 * (and the vacuum after it) find the space. */
static void reserve_give_back(store *s)
{
    if (truncate(s->reserve, 0) != 0)
        unlink(s->reserve);
    atomic_store(&s->reserve_out, 1);
    s->reserve_tried = mono_s();
}

/* Under the writer mutex: makes the reserve again when it is out and the
 * last attempt is RESERVE_RETRY_S old. */
static void reserve_retry(store *s)
{
    if (atomic_load(&s->reserve_out) && mono_s() - s->reserve_tried >= RESERVE_RETRY_S)
        reserve_make(s);
}

/* Gives the WAL's space back to the file system: a checkpoint that
 * truncates it (a write that failed on a full disk leaves the WAL as large
 * as it grew).  Waits for no reader: when one is there, a later
 * checkpoint does it. */
static void wal_shrink(sqlite3 *db)
{
    sqlite3_busy_timeout(db, 0);
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
}

/* Commits when rc is STORE_OK, else rolls back; returns the final status
 * (STORE_EFULL when SQLite found the disk full). */
static int write_end(store *s, sqlite3 *db, int rc, char *err, size_t errlen)
{
    if (rc == STORE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail_db(err, errlen, db, "cannot commit");
    if ((rc == STORE_EIO || rc == STORE_EFULL) &&
        (sqlite3_extended_errcode(db) & 0xff) == SQLITE_FULL)
        rc = STORE_EFULL;
    if (rc != STORE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == STORE_EFULL)
        wal_shrink(db);
    conn_put(s, db);
    if (rc == STORE_EFULL)
        atomic_store(&s->write_failed, 1);
    if (rc == STORE_OK) {
        atomic_store(&s->write_failed, 0);
        reserve_retry(s);
    }
    pthread_mutex_unlock(&s->writer);
    return rc;
}

/* A read transaction: every query of one call sees the same snapshot. */
static int read_begin(store *s, sqlite3 **db, char *err, size_t errlen)
{
    *db = NULL;
    sqlite3 *c = conn_get(s);
    if (sqlite3_exec(c, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = fail_db(err, errlen, c, "cannot start a read transaction");
        conn_put(s, c);
        return rc;
    }
    *db = c;
    return STORE_OK;
}

static void read_end(store *s, sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    conn_put(s, db);
}

/* ------------------------------------------------------------------------
 * Statements. */

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        char what[96];
        snprintf(what, sizeof what, "cannot prepare \"%.60s\"", sql);
        return fail_db(err, errlen, db, what);
    }
    return STORE_OK;
}

/* Steps a statement that returns no row. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail_db(err, errlen, db, what);
    return STORE_OK;
}

/* Steps a query: 1 with a row, 0 at the end, < 0 on failure. */
static int step_row(sqlite3 *db, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        return 1;
    if (r == SQLITE_DONE)
        return 0;
    return fail_db(err, errlen, db, what);
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* NaN means "none": NULL (SQLite would store NULL anyway, say it). */
static int bind_real(sqlite3_stmt *st, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

/* 0 means "none" for the optional references. */
static int bind_id(sqlite3_stmt *st, int i, int64_t id)
{
    return id > 0 ? sqlite3_bind_int64(st, i, id) : sqlite3_bind_null(st, i);
}

/* One statement without rows: ?1 = id, and ?2 = text when the SQL has it. */
static int exec_id(sqlite3 *db, const char *sql, int64_t id, const char *text, const char *what,
                   char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db, sql, &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_bind_parameter_count(st) >= 2)
            bind_text(st, 2, text);
        rc = step_done(db, st, what, err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* A malloc'd copy of a text column; NULL for SQL NULL. */
static int col_dup(sqlite3_stmt *st, int i, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return STORE_OK;
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t)
        return STORE_ENOMEM;
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *c = malloc(n + 1);
    if (!c)
        return STORE_ENOMEM;
    memcpy(c, t, n);
    c[n] = 0;
    *out = c;
    return STORE_OK;
}

/* A text column into a fixed buffer ("" for NULL). */
static void col_copy(sqlite3_stmt *st, int i, char *buf, size_t len)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    snprintf(buf, len, "%s", t ? t : "");
}

/* How the get and list helpers below turn a row into one element of the
 * caller's (a store_dataset, a store_job, an id, ...): a reader zeroes the
 * element first and leaves it owning nothing when it fails; a clear frees
 * what a read element owns. */
typedef int (*row_reader)(sqlite3_stmt *st, void *row, char *err, size_t errlen);
typedef void (*row_clear)(void *row);

/* The one row of sql (?1 = id) read into out, on a connection already in a
 * transaction: "cannot read the <what>" when SQLite fails, STORE_ENOTFOUND
 * "no <what> <id>" when there is no such row. */
static int get_row(sqlite3 *db, const char *sql, int64_t id, const char *what, row_reader read,
                   void *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char step_what[64];
    snprintf(step_what, sizeof step_what, "cannot read the %s", what);
    int rc = prep(db, sql, &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, id);
        int r = step_row(db, st, step_what, err, errlen);
        if (r < 0)
            rc = r;
        else if (r == 0)
            rc = fail(err, errlen, STORE_ENOTFOUND, "no %s %lld", what, (long long)id);
        else
            rc = read(st, out, err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

/* get_row in a read transaction of its own: what a public *_get does. */
static int get_one(store *s, const char *sql, int64_t id, const char *what, row_reader read,
                   void *out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    rc = get_row(db, sql, id, what, read, out, err, errlen);
    read_end(s, db);
    return rc;
}

/* Clears n elements of size bytes (clear NULL: they own nothing) and frees
 * the array; rows NULL is a no-op. */
static void free_rows(void *rows, int n, size_t size, row_clear clear)
{
    if (!rows)
        return;
    for (int i = 0; clear && i < n; i++)
        clear((char *)rows + (size_t)i * size);
    free(rows);
}

/* Steps a prepared and bound query to its end, each row read into a growing
 * array of size-byte elements: *out gets the array (NULL when empty), *n its
 * length.  On failure what was read is cleared (clear is NULL when elements
 * own nothing) and freed, and *out, *n stay NULL and 0. */
static int collect_rows(sqlite3 *db, sqlite3_stmt *st, const char *what, size_t size,
                        row_reader read, row_clear clear, void **out, int *n, char *err,
                        size_t errlen)
{
    char *list = NULL;             /* element i at list + i * size */
    int count = 0, cap = 0, r;
    *out = NULL;
    *n = 0;
    while ((r = step_row(db, st, what, err, errlen)) > 0) {
        if (count == cap) {
            int ncap = cap ? 2 * cap : 16;
            char *g = realloc(list, (size_t)ncap * size);
            if (!g) {
                r = fail(err, errlen, STORE_ENOMEM, "out of memory");
                break;
            }
            list = g;
            cap = ncap;
        }
        if ((r = read(st, list + (size_t)count * size, err, errlen)) < 0)
            break;
        count++;
    }
    if (r < 0) {
        free_rows(list, count, size, clear);
        return r;
    }
    *out = list;
    *n = count;
    return STORE_OK;
}

/* collect_rows over a query without parameters, in a read transaction of
 * its own. */
static int list_rows(store *s, const char *sql, const char *what, size_t size, row_reader read,
                     row_clear clear, void **out, int *n, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = prep(db, sql, &st, err, errlen)) == STORE_OK)
        rc = collect_rows(db, st, what, size, read, clear, out, n, err, errlen);
    sqlite3_finalize(st);
    read_end(s, db);
    return rc;
}

/* A row's first column as an id (a row_reader into an int64_t). */
static int read_id(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *(int64_t *)row = sqlite3_column_int64(st, 0);
    return STORE_OK;
}

/* Largest blob this connection accepts (1e9 unless SQLite was built lower). */
static int64_t blob_limit(sqlite3 *db)
{
    return sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
}

/* Reads the whole blob table.column at rowid (len bytes) into a malloc'd
 * buffer in pieces: the blob is never in memory twice. */
static int read_blob(sqlite3 *db, const char *table, const char *column, int64_t rowid,
                     int64_t len, void **buf, char *err, size_t errlen)
{
    sqlite3_blob *b = NULL;
    unsigned char *p = malloc(len > 0 ? (size_t)len : 1);
    int rc = STORE_OK;
    *buf = NULL;
    if (!p)
        return fail(err, errlen, STORE_ENOMEM, "out of memory for %lld bytes", (long long)len);
    if (sqlite3_blob_open(db, "main", table, column, rowid, 0, &b) != SQLITE_OK) {
        rc = fail_db(err, errlen, db, "cannot open a blob");
        goto out;
    }
    for (int64_t off = 0; off < len; off += PIECE_BYTES) {
        int n = (int)(len - off < PIECE_BYTES ? len - off : PIECE_BYTES);
        if (sqlite3_blob_read(b, p + off, n, (int)off) != SQLITE_OK) {
            rc = fail_db(err, errlen, db, "cannot read a blob");
            goto out;
        }
    }
out:
    sqlite3_blob_close(b);
    if (rc == STORE_OK)
        *buf = p;
    else
        free(p);
    return rc;
}

/* ------------------------------------------------------------------------
 * Opening, migrations. */

static int pragma_int(sqlite3 *db, const char *sql, int *v)
{
    sqlite3_stmt *st = NULL;
    *v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? 0 : -1;
}

static int open_conn(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = STORE_OK;
    *out = NULL;
    int r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX, NULL);
    if (r != SQLITE_OK) {
        rc = fail(err, errlen, r == SQLITE_NOMEM ? STORE_ENOMEM : STORE_EIO,
                  "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(r));
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    /* first, so that the pragmas below wait for another process's lock */
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* takes effect only in a database without tables yet: a new one gives
     * freed pages back to the file system (store_*_delete) */
    sqlite3_exec(db, "PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL, NULL);
    /* journal_mode answers the mode in force: anything but "wal" means the
     * file system cannot do WAL (no shared memory), and the guarantees of
     * the header would not hold. */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = fail(err, errlen, STORE_EIO, "cannot open %s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        rc = fail(err, errlen, STORE_EIO, "cannot open %s: WAL journal not available (mode %s)",
                  path, mode ? mode : "?");
        goto out;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
             "PRAGMA journal_size_limit=%d", WAL_LIMIT_BYTES);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(err, errlen, STORE_EIO, "cannot open %s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
out:
    sqlite3_finalize(st);
    if (rc == STORE_OK)
        *out = db;
    else
        sqlite3_close(db);
    return rc;
}

int store_schema_latest(void)
{
    return store_n_migrations > 0 ? store_migrations[store_n_migrations - 1].number : 0;
}

static int newer_schema(const char *path, int v, char *err, size_t errlen)
{
    return fail(err, errlen, STORE_EINVAL,
                "%s has schema version %d, newer than this traind knows (%d): "
                "use a newer traind", path, v, store_schema_latest());
}

/* One migration: its SQL, a foreign-key check and the user_version bump in
 * one transaction, so that a failure leaves the previous version. */
static int migrate_one(sqlite3 *db, const char *path, const struct store_migration *m,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int v, rc = STORE_OK;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(err, errlen, STORE_EIO, "migration %s: cannot start: %s", m->name,
                    sqlite3_errmsg(db));
    /* read again under the write lock: another process may have migrated */
    if (pragma_int(db, "PRAGMA user_version", &v) < 0) {
        rc = fail(err, errlen, STORE_EIO, "migration %s: %s", m->name, sqlite3_errmsg(db));
        goto out;
    }
    if (v > store_schema_latest()) {
        rc = newer_schema(path, v, err, errlen);
        goto out;
    }
    if (v >= m->number)
        goto out;
    if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(err, errlen, STORE_EIO, "migration %s failed: %s (the database stays at "
                  "schema version %d)", m->name, sqlite3_errmsg(db), v);
        goto out;
    }
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
        rc = fail(err, errlen, STORE_EIO, "migration %s: %s", m->name, sqlite3_errmsg(db));
        goto out;
    }
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        rc = fail(err, errlen, STORE_EIO, "migration %s failed: it leaves rows of %s that break "
                  "a foreign key (the database stays at schema version %d)", m->name,
                  (const char *)sqlite3_column_text(st, 0), v);
        goto out;
    }
    if (r != SQLITE_DONE) {
        rc = fail(err, errlen, STORE_EIO, "migration %s: %s", m->name, sqlite3_errmsg(db));
        goto out;
    }
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", m->number);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(err, errlen, STORE_EIO, "migration %s: %s", m->name, sqlite3_errmsg(db));
        goto out;
    }
out:
    sqlite3_finalize(st);
    if (rc == STORE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(err, errlen, STORE_EIO, "migration %s: cannot commit: %s", m->name,
                  sqlite3_errmsg(db));
    if (rc != STORE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Applies every migration newer than user_version.  Foreign keys are off
 * meanwhile (a migration may rebuild a referenced table, which SQLite only
 * allows so) and checked before each commit instead. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int v, rc = STORE_OK;
    if (pragma_int(db, "PRAGMA user_version", &v) < 0)
        return fail(err, errlen, STORE_EIO, "cannot read the schema version of %s: %s", path,
                    sqlite3_errmsg(db));
    if (v > store_schema_latest())
        return newer_schema(path, v, err, errlen);
    if (v == store_schema_latest())
        return STORE_OK;
    if (sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(err, errlen, db, "cannot prepare the migrations");
    for (int i = 0; i < store_n_migrations && rc == STORE_OK; i++)
        if (store_migrations[i].number > v)
            rc = migrate_one(db, path, &store_migrations[i], err, errlen);
    if (sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK && rc == STORE_OK)
        rc = fail_db(err, errlen, db, "cannot enable foreign keys");
    return rc;
}

int store_open(const char *path, store **out, char *err, size_t errlen)
{
    store *s = NULL;
    int rc = STORE_OK;
    if (!out)
        return fail(err, errlen, STORE_EINVAL, "store_open: no out-parameter");
    *out = NULL;
    if (!path || !*path || strcmp(path, ":memory:") == 0)
        return fail(err, errlen, STORE_EINVAL, "store_open: need a database file (WAL cannot "
                    "work in memory)");
    if (!sqlite3_threadsafe())
        return fail(err, errlen, STORE_EIO, "this SQLite library is built without threads");
    s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, errlen, STORE_ENOMEM, "out of memory");
    /* SQLite reads "file:..." as a URI; a path is a path */
    size_t n = strlen(path) + 3;
    s->path = malloc(n);
    if (!s->path) {
        free(s);
        return fail(err, errlen, STORE_ENOMEM, "out of memory");
    }
    snprintf(s->path, n, "%s%s", strncmp(path, "file:", 5) == 0 ? "./" : "", path);
    s->reserve = malloc(n + 8);
    if (!s->reserve) {
        free(s->path);
        free(s);
        return fail(err, errlen, STORE_ENOMEM, "out of memory");
    }
    snprintf(s->reserve, n + 8, "%s-reserve", s->path);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->writer, NULL);
    pthread_cond_init(&s->returned, NULL);

    rc = open_conn(s->path, &s->conns[0], err, errlen);
    if (rc == STORE_OK)
        rc = migrate(s->conns[0], path, err, errlen);
    for (int i = 1; i < POOL_SIZE && rc == STORE_OK; i++)
        rc = open_conn(s->path, &s->conns[i], err, errlen);
    if (rc != STORE_OK) {
        store_close(s);
        return rc;
    }
    for (int i = 0; i < POOL_SIZE; i++)
        s->idle[i] = s->conns[i];
    s->n_idle = POOL_SIZE;
    /* no room for it now: store_disk_full says so until there is */
    if (reserve_make(s) != 0)
        atomic_store(&s->reserve_out, 1);
    *out = s;
    return STORE_OK;
}

/* The caller makes sure no other thread is inside a store call. */
void store_close(store *s)
{
    if (!s)
        return;
    for (int i = 0; i < POOL_SIZE; i++)
        sqlite3_close(s->conns[i]);
    pthread_cond_destroy(&s->returned);
    pthread_mutex_destroy(&s->writer);
    pthread_mutex_destroy(&s->lock);
    free(s->reserve);
    free(s->path);
    free(s);
}

int store_schema_version(store *s)
{
    int v;
    if (!s)
        return -1;
    sqlite3 *db = conn_get(s);
    int r = pragma_int(db, "PRAGMA user_version", &v);
    conn_put(s, db);
    return r < 0 ? -1 : v;
}

int store_ping(store *s)
{
    int v;
    if (!s)
        return STORE_EINVAL;
    sqlite3 *db = conn_get(s);
    int r = pragma_int(db, "SELECT 1", &v);
    conn_put(s, db);
    return r < 0 || v != 1 ? STORE_EIO : STORE_OK;
}

int store_disk_full(store *s, char *why, size_t whylen)
{
    struct statvfs v;
    if (!s)
        return 0;
    if (atomic_load(&s->reserve_out) && pthread_mutex_trylock(&s->writer) == 0) {
        reserve_retry(s);
        pthread_mutex_unlock(&s->writer);
    }
    /* the file system's free space: a failed write counts no more once a
     * reserve's worth is free again; almost nothing free is full even
     * before a write fails */
    int64_t avail = statvfs(s->path, &v) == 0 ? (int64_t)v.f_bavail * (int64_t)v.f_frsize : -1;
    if (avail >= STORE_RESERVE_BYTES)
        atomic_store(&s->write_failed, 0);
    int failed = atomic_load(&s->write_failed), out = atomic_load(&s->reserve_out);
    int low = avail >= 0 && avail < STORE_LOW_BYTES;
    if (why && whylen)
        snprintf(why, whylen, "%s", failed ? "a write failed: the disk is full"
                                   : out ? "no room for the reserve file: the disk is (nearly) full"
                                   : low ? "less than 1 MB free on the database's disk"
                                         : "");
    return failed || out || low;
}

int64_t store_size_bytes(store *s)
{
    struct stat st;
    char wal[4096];
    if (!s || stat(s->path, &st) != 0)
        return -1;
    int64_t total = st.st_size;
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    if (stat(wal, &st) == 0)
        total += st.st_size;
    return total;
}

/* ------------------------------------------------------------------------
 * Events. */

/* Appends an event with the job's next seq. */
static int add_event(sqlite3 *db, int64_t job_id, const char *type, const char *data,
                     char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db, "INSERT INTO events (job_id, seq, type, data) VALUES (?1, "
                  "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = ?1), ?2, ?3)",
                  &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, job_id);
        bind_text(st, 2, type);
        bind_text(st, 3, data);
        rc = step_done(db, st, "cannot record an event", err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

/* {"state": ..., "stop_reason": null|"...", "error": null|"..."} */
static int add_state_event(sqlite3 *db, int64_t job_id, const char *state,
                           const char *stop_reason, const char *error, char *err, size_t errlen)
{
    char *safe = NULL;
    if (stop_reason && !*stop_reason)
        stop_reason = NULL;
    json_t *o = json_pack("{s:s, s:s?, s:s?}", "state", state, "stop_reason", stop_reason,
                          "error", error);
    /* an error text that is not UTF-8 (a file name, say) must not make the
     * job impossible to finish: the event gets a copy with '?' for every
     * byte outside ASCII (the job's error column keeps the original) */
    if (!o && error && (safe = strdup(error))) {
        for (char *p = safe; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        o = json_pack("{s:s, s:s?, s:s}", "state", state, "stop_reason", stop_reason,
                      "error", safe);
    }
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    free(safe);
    if (!text)
        return fail(err, errlen, STORE_EINVAL, "cannot write the state event of job %lld",
                    (long long)job_id);
    int rc = add_event(db, job_id, "state", text, err, errlen);
    free(text);
    return rc;
}

static int add_metric_event(sqlite3 *db, int64_t job_id, int64_t seq, const store_progress *p,
                            char *err, size_t errlen)
{
    char v[7][32], text[768];
    real_text(v[0], sizeof v[0], p->loss);
    real_text(v[1], sizeof v[1], p->accuracy);
    real_text(v[2], sizeof v[2], p->val_loss);
    real_text(v[3], sizeof v[3], p->val_accuracy);
    real_text(v[4], sizeof v[4], p->lr);
    real_text(v[5], sizeof v[5], p->elapsed);
    real_text(v[6], sizeof v[6], p->samples_per_sec);
    snprintf(text, sizeof text,
             "{\"seq\":%lld,\"kind\":\"%s\",\"epoch\":%d,\"step\":%d,\"global_step\":%lld,"
             "\"loss\":%s,\"accuracy\":%s,\"val_loss\":%s,\"val_accuracy\":%s,\"lr\":%s,"
             "\"elapsed\":%s,\"samples_per_second\":%s}",
             (long long)seq, p->kind, p->epoch, p->step, (long long)p->global_step, v[0], v[1],
             v[2], v[3], v[4], v[5], v[6]);
    return add_event(db, job_id, "metric", text, err, errlen);
}

/* Frees a store_event's data (a row_clear). */
static void clear_event(void *row)
{
    store_event *e = row;
    free(e->data);
    e->data = NULL;
}

void store_free_events(store_event *e, int n)
{
    free_rows(e, n, sizeof *e, clear_event);
}

/* ------------------------------------------------------------------------
 * Datasets. */

#define DATASET_COLS "id, name, format, n_samples, x_shape, y_shape, n_classes, classes, " \
                     "bytes, sha256, created_at, columns, label_name, feature_scale"
#define DATASET_BY_ID "SELECT " DATASET_COLS " FROM datasets WHERE id = ?1"

void store_dataset_clear(store_dataset *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->format);
    free(d->columns);
    free(d->label_name);
    free(d->feature_scale);
    if (d->classes)
        for (int i = 0; i < d->n_classes; i++)
            free(d->classes[i]);
    free(d->classes);
    memset(d, 0, sizeof *d);
}

/* store_dataset_clear as a row_clear. */
static void clear_dataset(void *row)
{
    store_dataset_clear(row);
}

void store_free_datasets(store_dataset *d, int n)
{
    free_rows(d, n, sizeof *d, clear_dataset);
}

/* "[60000,1,28,28]" */
static char *shape_json(const nn_tensor *t)
{
    json_t *a = json_array();
    for (int i = 0; a && i < t->rank; i++)
        if (json_array_append_new(a, json_integer(t->dim[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

static int parse_shape(const char *text, int *rank, int64_t dim[NN_MAX_RANK])
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    int ok = json_is_array(a) && json_array_size(a) <= NN_MAX_RANK;
    *rank = 0;
    for (size_t i = 0; ok && i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        ok = json_is_integer(v);
        dim[i] = ok ? json_integer_value(v) : 0;
    }
    if (ok)
        *rank = (int)json_array_size(a);
    json_decref(a);
    return ok ? 0 : -1;
}

/* Parses the classes column (a JSON array of names) into n malloc'd strings;
 * NULL for an empty array. */
static int parse_classes(const char *text, int n, char ***out)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    char **names = NULL;
    int rc = STORE_OK;
    *out = NULL;
    if (!json_is_array(a)) {
        rc = STORE_EIO;
        goto out;
    }
    if (json_array_size(a) == 0)
        goto out;
    if (json_array_size(a) != (size_t)n) {
        rc = STORE_EIO;
        goto out;
    }
    names = calloc((size_t)n, sizeof *names);
    if (!names) {
        rc = STORE_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *v = json_string_value(json_array_get(a, (size_t)i));
        if (!v) {
            rc = STORE_EIO;
            goto out;
        }
        if (!(names[i] = strdup(v))) {
            rc = STORE_ENOMEM;
            goto out;
        }
    }
out:
    json_decref(a);
    if (rc == STORE_OK) {
        *out = names;
    } else if (names) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    return rc;
}

/* A row of SELECT DATASET_COLS into a store_dataset (a row_reader). */
static int read_dataset(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    store_dataset *d = row;
    int rc;
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    if ((rc = col_dup(st, 1, &d->name)) < 0 || (rc = col_dup(st, 2, &d->format)) < 0)
        goto out;
    d->n_samples = sqlite3_column_int64(st, 3);
    if (parse_shape((const char *)sqlite3_column_text(st, 4), &d->x_rank, d->x_shape) < 0 ||
        parse_shape((const char *)sqlite3_column_text(st, 5), &d->y_rank, d->y_shape) < 0) {
        rc = STORE_EIO;
        goto out;
    }
    d->n_classes = sqlite3_column_int(st, 6);
    if ((rc = parse_classes((const char *)sqlite3_column_text(st, 7), d->n_classes,
                            &d->classes)) < 0)
        goto out;
    d->bytes = sqlite3_column_int64(st, 8);
    col_copy(st, 9, d->sha256, sizeof d->sha256);
    col_copy(st, 10, d->created_at, sizeof d->created_at);
    if ((rc = col_dup(st, 11, &d->columns)) < 0 || (rc = col_dup(st, 12, &d->label_name)) < 0 ||
        (rc = col_dup(st, 13, &d->feature_scale)) < 0)
        goto out;
out:
    if (rc < 0) {
        int64_t id = d->id;
        store_dataset_clear(d);
        if (rc == STORE_ENOMEM)
            return fail(err, errlen, rc, "out of memory");
        return fail(err, errlen, rc, "dataset %lld: malformed shape or classes in the database",
                    (long long)id);
    }
    return STORE_OK;
}

/* float32 little-endian <-> nn_real, for hosts where they differ. */
static void to_f32le(const nn_real *src, int64_t n, unsigned char *dst)
{
    for (int64_t i = 0; i < n; i++) {
        float f = (float)src[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        dst[4 * i] = (unsigned char)u;
        dst[4 * i + 1] = (unsigned char)(u >> 8);
        dst[4 * i + 2] = (unsigned char)(u >> 16);
        dst[4 * i + 3] = (unsigned char)(u >> 24);
    }
}

static void from_f32le(const unsigned char *src, int64_t n, nn_real *dst)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                     (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        dst[i] = (nn_real)f;
    }
}

/* Bytes per tensor part: PART_BYTES, or less when SQLite's limit is lower;
 * a multiple of 4 so that no float straddles two parts. */
static int64_t part_bytes(sqlite3 *db)
{
    int64_t lim = blob_limit(db) & ~(int64_t)3;
    return lim < PART_BYTES ? lim : PART_BYTES;
}

/* Writes t into dataset_tensors as parts 0, 1, ...: each a zeroblob of its
 * size filled in PIECE_BYTES pieces. */
static int put_tensor(sqlite3 *db, int64_t id, const char *which, const nn_tensor *t,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    sqlite3_blob *b = NULL;
    unsigned char *stage = NULL;
    int64_t total = nn_tensor_numel(t) * 4, per = part_bytes(db);
    int rc = prep(db, "INSERT INTO dataset_tensors (dataset_id, which, part, data) "
                  "VALUES (?1, ?2, ?3, ?4)", &st, err, errlen);
    if (rc < 0)
        goto out;
    if (per < 4) {
        rc = fail(err, errlen, STORE_EINVAL, "this SQLite takes no blob of %lld bytes",
                  (long long)total);
        goto out;
    }
    if (!NATIVE_F32 && !(stage = malloc((size_t)PIECE_BYTES))) {
        rc = fail(err, errlen, STORE_ENOMEM, "out of memory");
        goto out;
    }
    for (int64_t part = 0, off = 0; off < total; part++, off += per) {
        int64_t len = total - off < per ? total - off : per;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        bind_text(st, 2, which);
        sqlite3_bind_int64(st, 3, part);
        sqlite3_bind_zeroblob64(st, 4, (sqlite3_uint64)len);
        if ((rc = step_done(db, st, "cannot store a dataset tensor", err, errlen)) < 0)
            goto out;
        if (sqlite3_blob_open(db, "main", "dataset_tensors", "data", sqlite3_last_insert_rowid(db),
                              1, &b) != SQLITE_OK) {
            rc = fail_db(err, errlen, db, "cannot open a dataset tensor blob");
            goto out;
        }
        for (int64_t o = 0; o < len; o += PIECE_BYTES) {
            int n = (int)(len - o < PIECE_BYTES ? len - o : PIECE_BYTES);
            const nn_real *src = t->data + (off + o) / 4;
            const void *piece = src;
            if (!NATIVE_F32) {
                to_f32le(src, n / 4, stage);
                piece = stage;
            }
            if (sqlite3_blob_write(b, piece, n, (int)o) != SQLITE_OK) {
                rc = fail_db(err, errlen, db, "cannot write a dataset tensor");
                goto out;
            }
        }
        if (sqlite3_blob_close(b) != SQLITE_OK) {
            b = NULL;
            rc = fail_db(err, errlen, db, "cannot write a dataset tensor");
            goto out;
        }
        b = NULL;
    }
out:
    sqlite3_blob_close(b);
    sqlite3_finalize(st);
    free(stage);
    return rc;
}

/* Reads the parts of one tensor straight into t (allocated to its shape). */
static int get_tensor(sqlite3 *db, int64_t id, const char *which, nn_tensor *t, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st = NULL;
    sqlite3_blob *b = NULL;
    unsigned char *stage = NULL;
    int64_t total = nn_tensor_numel(t) * 4, off = 0;
    int r, rc = prep(db, "SELECT rowid, part, length(data) FROM dataset_tensors "
                     "WHERE dataset_id = ?1 AND which = ?2 ORDER BY part", &st, err, errlen);
    if (rc < 0)
        goto out;
    if (!NATIVE_F32 && !(stage = malloc((size_t)PIECE_BYTES))) {
        rc = fail(err, errlen, STORE_ENOMEM, "out of memory");
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, which);
    for (int64_t part = 0; (r = step_row(db, st, "cannot read a dataset tensor", err, errlen)) > 0;
         part++) {
        int64_t len = sqlite3_column_int64(st, 2);
        if (sqlite3_column_int64(st, 1) != part || len % 4 || len > total - off) {
            rc = fail(err, errlen, STORE_EIO, "dataset %lld: tensor %s is damaged (part %lld)",
                      (long long)id, which, (long long)part);
            goto out;
        }
        if (sqlite3_blob_open(db, "main", "dataset_tensors", "data", sqlite3_column_int64(st, 0),
                              0, &b) != SQLITE_OK) {
            rc = fail_db(err, errlen, db, "cannot open a dataset tensor blob");
            goto out;
        }
        for (int64_t o = 0; o < len; o += PIECE_BYTES) {
            int n = (int)(len - o < PIECE_BYTES ? len - o : PIECE_BYTES);
            nn_real *dst = t->data + (off + o) / 4;
            if (sqlite3_blob_read(b, NATIVE_F32 ? (void *)dst : (void *)stage, n, (int)o) !=
                SQLITE_OK) {
                rc = fail_db(err, errlen, db, "cannot read a dataset tensor");
                goto out;
            }
            if (!NATIVE_F32)
                from_f32le(stage, n / 4, dst);
        }
        sqlite3_blob_close(b);
        b = NULL;
        off += len;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    if (off != total)
        rc = fail(err, errlen, STORE_EIO, "dataset %lld: tensor %s has %lld of its %lld bytes",
                  (long long)id, which, (long long)off, (long long)total);
out:
    sqlite3_blob_close(b);
    sqlite3_finalize(st);
    free(stage);
    return rc;
}

static int check_tensor(const nn_tensor *t, const char *which, char *err, size_t errlen)
{
    if (t->rank < 1 || t->rank > NN_MAX_RANK || t->dim[0] < 1)
        return fail(err, errlen, STORE_EINVAL, "dataset %s: need a tensor [n, ...] with n > 0",
                    which);
    for (int i = 0; i < t->rank; i++)
        if (t->dim[i] < 0)
            return fail(err, errlen, STORE_EINVAL, "dataset %s: negative dimension", which);
    int64_t n = nn_tensor_numel(t);
    if (n > NN_TENSOR_MAX_ELEMS)
        return fail(err, errlen, STORE_EINVAL, "dataset %s too large: %lld elements", which,
                    (long long)n);
    if (n > 0 && !t->data)
        return fail(err, errlen, STORE_EINVAL, "dataset %s has no data", which);
    return STORE_OK;
}

/* The rows of a new dataset, in the caller's write transaction. */
/* The JSON texts of a new dataset's metadata. */
typedef struct dataset_texts {
    char *xs, *ys, *cls, *cols, *scale;
} dataset_texts;

static int write_dataset(sqlite3 *db, const char *name, const char *format, const nn_dataset *d,
                         int64_t bytes, const char *sha256, const dataset_texts *tx,
                         const char *now, int64_t *id, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db, "INSERT INTO datasets (name, format, n_samples, x_shape, y_shape, "
                  "n_classes, classes, bytes, sha256, created_at, columns, label_name, "
                  "feature_scale) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                  "?13)", &st, err, errlen);
    *id = 0;
    if (rc == STORE_OK) {
        bind_text(st, 1, name ? name : "");
        bind_text(st, 2, format);
        sqlite3_bind_int64(st, 3, d->x.dim[0]);
        bind_text(st, 4, tx->xs);
        bind_text(st, 5, tx->ys);
        sqlite3_bind_int(st, 6, d->n_classes);
        bind_text(st, 7, tx->cls);
        sqlite3_bind_int64(st, 8, bytes);
        bind_text(st, 9, sha256 ? sha256 : "");
        bind_text(st, 10, now);
        bind_text(st, 11, tx->cols);
        bind_text(st, 12, d->n_cols > 0 ? d->label_name : NULL);
        bind_text(st, 13, tx->scale);
        rc = step_done(db, st, "cannot store the dataset", err, errlen);
    }
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    *id = sqlite3_last_insert_rowid(db);
    if (!name || !*name)
        rc = exec_id(db, "UPDATE datasets SET name = 'dataset-' || id WHERE id = ?1", *id, NULL,
                     "cannot name the dataset", err, errlen);
    if (rc == STORE_OK)
        rc = put_tensor(db, *id, "x", &d->x, err, errlen);
    if (rc == STORE_OK)
        rc = put_tensor(db, *id, "y", &d->y, err, errlen);
    return rc;
}

/* The JSON texts of d's metadata; NULL columns and scale when d has none. */
static int dataset_texts_make(const nn_dataset *d, dataset_texts *tx, char *err, size_t errlen)
{
    memset(tx, 0, sizeof *tx);
    json_t *names = json_array(), *cols = NULL, *scale = NULL;
    int rc = STORE_OK;
    for (int i = 0; names && d->class_names && i < d->n_classes; i++) {
        /* jansson refuses text that is not UTF-8, as JSON must */
        json_t *c = json_string(d->class_names[i] ? d->class_names[i] : "");
        if (!c) {
            rc = fail(err, errlen, STORE_EINVAL, "dataset: class name %d is not UTF-8", i);
            goto out;
        }
        if (json_array_append_new(names, c) != 0) {
            rc = fail(err, errlen, STORE_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (d->n_cols > 0 && (!(cols = columns_json(d->cols, d->n_cols)) ||
                          !(tx->cols = json_dumps(cols, JSON_COMPACT)))) {
        rc = fail(err, errlen, STORE_EINVAL, "dataset: a column name is not UTF-8");
        goto out;
    }
    scale = columns_scale_json(d);
    if (scale && !json_is_null(scale))
        tx->scale = json_dumps(scale, JSON_COMPACT | JSON_REAL_PRECISION(10));
    tx->xs = shape_json(&d->x);
    tx->ys = shape_json(&d->y);
    tx->cls = names ? json_dumps(names, JSON_COMPACT) : NULL;
    if (!tx->xs || !tx->ys || !tx->cls || !scale || (!json_is_null(scale) && !tx->scale))
        rc = fail(err, errlen, STORE_ENOMEM, "out of memory");
out:
    json_decref(names);
    json_decref(cols);
    json_decref(scale);
    return rc;
}

static void dataset_texts_free(dataset_texts *tx)
{
    free(tx->xs);
    free(tx->ys);
    free(tx->cls);
    free(tx->cols);
    free(tx->scale);
}

int store_dataset_insert(store *s, const char *name, const char *format, const nn_dataset *d,
                         int64_t bytes, const char *sha256, int64_t *id, char *err,
                         size_t errlen)
{
    sqlite3 *db = NULL;
    dataset_texts tx = {0};
    char now[32];
    int64_t new_id = 0;
    int rc;
    if (id)
        *id = 0;
    if (!s || !d || !id || !format || !*format)
        return fail(err, errlen, STORE_EINVAL, "store_dataset_insert: missing argument");
    if ((rc = check_tensor(&d->x, "x", err, errlen)) < 0 ||
        (rc = check_tensor(&d->y, "y", err, errlen)) < 0)
        return rc;
    if (d->x.dim[0] != d->y.dim[0])
        return fail(err, errlen, STORE_EINVAL, "dataset: x has %lld samples, y %lld",
                    (long long)d->x.dim[0], (long long)d->y.dim[0]);
    if (d->n_classes < 0 || bytes < 0 || (sha256 && strlen(sha256) > 64))
        return fail(err, errlen, STORE_EINVAL, "dataset: bad n_classes, bytes or sha256");
    if (d->n_cols > 0 && (d->x.rank != 2 || d->x.dim[1] != d->n_cols || !d->label_name))
        return fail(err, errlen, STORE_EINVAL, "dataset: its columns do not describe x");

    /* the JSON texts, before the writer lock is taken */
    if ((rc = dataset_texts_make(d, &tx, err, errlen)) < 0)
        goto out;
    now_iso(now);
    if ((rc = write_begin(s, &db, err, errlen)) < 0)
        goto out;
    rc = write_dataset(db, name, format, d, bytes, sha256, &tx, now, &new_id, err, errlen);
    if ((rc = write_end(s, db, rc, err, errlen)) == STORE_OK)
        *id = new_id;
out:
    dataset_texts_free(&tx);
    return rc;
}

int store_dataset_get(store *s, int64_t id, store_dataset *out, char *err, size_t errlen)
{
    if (!s || !out)
        return fail(err, errlen, STORE_EINVAL, "store_dataset_get: missing argument");
    memset(out, 0, sizeof *out);
    return get_one(s, DATASET_BY_ID, id, "dataset", read_dataset, out, err, errlen);
}

int store_dataset_list(store *s, store_dataset **out, int *n, char *err, size_t errlen)
{
    void *rows = NULL;
    if (!s || !out || !n)
        return fail(err, errlen, STORE_EINVAL, "store_dataset_list: missing argument");
    *out = NULL;
    *n = 0;
    int rc = list_rows(s, "SELECT " DATASET_COLS " FROM datasets ORDER BY id DESC",
                       "cannot list datasets", sizeof **out, read_dataset, clear_dataset, &rows,
                       n, err, errlen);
    if (rc == STORE_OK)
        *out = rows;
    return rc;
}

int store_dataset_load(store *s, int64_t id, nn_dataset *out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    store_dataset meta;
    if (!s || !out)
        return fail(err, errlen, STORE_EINVAL, "store_dataset_load: missing argument");
    memset(out, 0, sizeof *out);
    memset(&meta, 0, sizeof meta);
    /* one read transaction: the metadata and both tensors of one snapshot */
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = get_row(db, DATASET_BY_ID, id, "dataset", read_dataset, &meta, err, errlen)) < 0)
        goto out;
    int ex = nn_tensor_alloc(&out->x, meta.x_rank, meta.x_shape);
    int ey = ex == NN_OK ? nn_tensor_alloc(&out->y, meta.y_rank, meta.y_shape) : ex;
    if (ex != NN_OK || ey != NN_OK) {
        rc = fail(err, errlen, ey == NN_ENOMEM ? STORE_ENOMEM : STORE_EIO,
                  "dataset %lld: cannot allocate its tensors (%s)", (long long)id,
                  nn_strerror(ey));
        goto out;
    }
    if ((rc = get_tensor(db, id, "x", &out->x, err, errlen)) < 0 ||
        (rc = get_tensor(db, id, "y", &out->y, err, errlen)) < 0)
        goto out;
    /* the names move from meta to out */
    out->n_classes = meta.n_classes;
    out->class_names = meta.classes;
    meta.classes = NULL;
    if (meta.columns) {
        json_t *cols = json_loads(meta.columns, 0, NULL);
        int bad = columns_from_json(cols, &out->cols, &out->n_cols) < 0 ||
                  out->n_cols != (out->x.rank == 2 ? out->x.dim[1] : -1) || !meta.label_name;
        json_decref(cols);
        if (bad) {
            rc = fail(err, errlen, STORE_EIO, "dataset %lld: its column descriptions are damaged",
                      (long long)id);
            goto out;
        }
        out->label_name = meta.label_name;
        meta.label_name = NULL;
    }
out:
    read_end(s, db);
    store_dataset_clear(&meta);
    if (rc < 0)
        nn_dataset_free(out);
    return rc;
}

/* The first queued or running job that uses a row; 0 when none.  sql
 * selects id and state with ?1 bound to the row's id. */
static int busy_user(sqlite3 *db, const char *sql, int64_t id, int64_t *job, char *state,
                     char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    *job = 0;
    int rc = prep(db, sql, &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, id);
        int r = step_row(db, st, "cannot check the jobs", err, errlen);
        if (r < 0)
            rc = r;
        else if (r > 0) {
            *job = sqlite3_column_int64(st, 0);
            col_copy(st, 1, state, 16);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Whether table has a row with that id (ENOTFOUND if not). */
static int row_exists(sqlite3 *db, const char *sql, int64_t id, const char *what, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db, sql, &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, id);
        int r = step_row(db, st, "cannot read", err, errlen);
        rc = r < 0 ? r : r == 0 ? fail(err, errlen, STORE_ENOTFOUND, "no %s %lld", what,
                                       (long long)id) : STORE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int dataset_delete_tx(store *s, int64_t id, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int64_t job;
    char state[16] = "";
    if (!s)
        return fail(err, errlen, STORE_EINVAL, "store_dataset_delete: missing argument");
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    rc = row_exists(db, "SELECT 1 FROM datasets WHERE id = ?1", id, "dataset", err, errlen);
    if (rc == STORE_OK)
        rc = busy_user(db, "SELECT id, state FROM jobs WHERE (dataset_id = ?1 OR "
                       "val_dataset_id = ?1) AND state IN ('queued', 'running') "
                       "ORDER BY id LIMIT 1", id, &job, state, err, errlen);
    if (rc == STORE_OK && job)
        rc = fail(err, errlen, STORE_ECONFLICT, "dataset %lld is used by job %lld, which is %s",
                  (long long)id, (long long)job, state);
    /* the tensors go by ON DELETE CASCADE; finished jobs keep the id */
    if (rc == STORE_OK)
        rc = exec_id(db, "DELETE FROM datasets WHERE id = ?1", id, NULL,
                     "cannot delete the dataset", err, errlen);
    return write_end(s, db, rc, err, errlen);
}

/* ------------------------------------------------------------------------
 * Models. */

#define MODEL_COLS "id, name, definition, summary, created_at"

void store_model_clear(store_model *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->definition);
    free(m->summary);
    memset(m, 0, sizeof *m);
}

/* store_model_clear as a row_clear. */
static void clear_model(void *row)
{
    store_model_clear(row);
}

void store_free_models(store_model *m, int n)
{
    free_rows(m, n, sizeof *m, clear_model);
}

/* A row of SELECT MODEL_COLS into a store_model (a row_reader). */
static int read_model(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    store_model *m = row;
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    col_copy(st, 4, m->created_at, sizeof m->created_at);
    if (col_dup(st, 1, &m->name) < 0 || col_dup(st, 2, &m->definition) < 0 ||
        col_dup(st, 3, &m->summary) < 0) {
        store_model_clear(m);
        return fail(err, errlen, STORE_ENOMEM, "out of memory");
    }
    return STORE_OK;
}

int store_model_insert(store *s, const char *name, const char *definition, const char *summary,
                       int64_t *id, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char now[32];
    int64_t new_id = 0;
    int rc;
    if (id)
        *id = 0;
    if (!s || !id || !definition || !*definition)
        return fail(err, errlen, STORE_EINVAL, "store_model_insert: missing argument");
    now_iso(now);
    if ((rc = write_begin(s, &db, err, errlen)) < 0)
        return rc;
    if ((rc = prep(db, "INSERT INTO models (name, definition, summary, created_at) "
                   "VALUES (?1, ?2, ?3, ?4)", &st, err, errlen)) < 0)
        goto out;
    bind_text(st, 1, name ? name : "");
    bind_text(st, 2, definition);
    bind_text(st, 3, summary ? summary : "{}");
    bind_text(st, 4, now);
    if ((rc = step_done(db, st, "cannot store the model", err, errlen)) < 0)
        goto out;
    new_id = sqlite3_last_insert_rowid(db);
    if (!name || !*name)
        rc = exec_id(db, "UPDATE models SET name = 'model-' || id WHERE id = ?1", new_id, NULL,
                     "cannot name the model", err, errlen);
out:
    sqlite3_finalize(st);
    rc = write_end(s, db, rc, err, errlen);
    if (rc == STORE_OK)
        *id = new_id;
    return rc;
}

int store_model_get(store *s, int64_t id, store_model *out, char *err, size_t errlen)
{
    if (!s || !out)
        return fail(err, errlen, STORE_EINVAL, "store_model_get: missing argument");
    memset(out, 0, sizeof *out);
    return get_one(s, "SELECT " MODEL_COLS " FROM models WHERE id = ?1", id, "model", read_model,
                   out, err, errlen);
}

int store_model_list(store *s, store_model **out, int *n, char *err, size_t errlen)
{
    void *rows = NULL;
    if (!s || !out || !n)
        return fail(err, errlen, STORE_EINVAL, "store_model_list: missing argument");
    *out = NULL;
    *n = 0;
    int rc = list_rows(s, "SELECT " MODEL_COLS " FROM models ORDER BY id DESC",
                       "cannot list models", sizeof **out, read_model, clear_model, &rows, n, err,
                       errlen);
    if (rc == STORE_OK)
        *out = rows;
    return rc;
}

static int model_delete_tx(store *s, int64_t id, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int64_t job;
    char state[16] = "";
    if (!s)
        return fail(err, errlen, STORE_EINVAL, "store_model_delete: missing argument");
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    rc = row_exists(db, "SELECT 1 FROM models WHERE id = ?1", id, "model", err, errlen);
    if (rc == STORE_OK)
        rc = busy_user(db, "SELECT id, state FROM jobs WHERE model_id = ?1 AND "
                       "state IN ('queued', 'running') ORDER BY id LIMIT 1", id, &job, state,
                       err, errlen);
    if (rc == STORE_OK && job)
        rc = fail(err, errlen, STORE_ECONFLICT, "model %lld is used by job %lld, which is %s",
                  (long long)id, (long long)job, state);
    if (rc == STORE_OK)
        rc = exec_id(db, "DELETE FROM models WHERE id = ?1", id, NULL, "cannot delete the model",
                     err, errlen);
    return write_end(s, db, rc, err, errlen);
}

/* ------------------------------------------------------------------------
 * Jobs. */

#define JOB_COLS "id, model_id, dataset_id, val_dataset_id, val_split, definition, training, " \
                 "priority, checkpoint_every, log_every_steps, threads, state, stop_reason, "  \
                 "error, cancel_requested, attempts, created_at, started_at, finished_at, "    \
                 "epoch, epochs, step, steps_per_epoch, samples_per_sec, last_metrics, "       \
                 "best_metrics, classes, label_as, preprocessing, warnings"
#define JOB_BY_ID "SELECT " JOB_COLS " FROM jobs WHERE id = ?1"

void store_job_clear(store_job *j)
{
    if (!j)
        return;
    free(j->definition);
    free(j->training);
    free(j->classes);
    free(j->preprocessing);
    free(j->warnings);
    free(j->error);
    free(j->last_metrics);
    free(j->best_metrics);
    memset(j, 0, sizeof *j);
}

/* store_job_clear as a row_clear. */
static void clear_job(void *row)
{
    store_job_clear(row);
}

void store_free_jobs(store_job *j, int n)
{
    free_rows(j, n, sizeof *j, clear_job);
}

/* A row of SELECT JOB_COLS into a store_job (a row_reader). */
static int read_job(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    store_job *j = row;
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(st, 0);
    j->model_id = sqlite3_column_int64(st, 1);          /* NULL reads as 0 */
    j->dataset_id = sqlite3_column_int64(st, 2);
    j->val_dataset_id = sqlite3_column_int64(st, 3);
    j->val_split = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1.0
                                                           : sqlite3_column_double(st, 4);
    j->priority = sqlite3_column_int(st, 7);
    j->checkpoint_every = sqlite3_column_int(st, 8);
    j->log_every_steps = sqlite3_column_int(st, 9);
    j->threads = sqlite3_column_int(st, 10);
    col_copy(st, 11, j->state, sizeof j->state);
    col_copy(st, 12, j->stop_reason, sizeof j->stop_reason);
    j->cancel_requested = sqlite3_column_int(st, 14);
    j->attempts = sqlite3_column_int(st, 15);
    col_copy(st, 16, j->created_at, sizeof j->created_at);
    col_copy(st, 17, j->started_at, sizeof j->started_at);
    col_copy(st, 18, j->finished_at, sizeof j->finished_at);
    j->epoch = sqlite3_column_int(st, 19);
    j->epochs = sqlite3_column_int(st, 20);
    j->step = sqlite3_column_int(st, 21);
    j->steps_per_epoch = sqlite3_column_int(st, 22);
    j->samples_per_sec = sqlite3_column_double(st, 23);  /* NULL reads as 0 */
    col_copy(st, 27, j->label_as, sizeof j->label_as);
    if (col_dup(st, 5, &j->definition) < 0 || col_dup(st, 6, &j->training) < 0 ||
        col_dup(st, 13, &j->error) < 0 || col_dup(st, 24, &j->last_metrics) < 0 ||
        col_dup(st, 25, &j->best_metrics) < 0 || col_dup(st, 26, &j->classes) < 0 ||
        col_dup(st, 28, &j->preprocessing) < 0 || col_dup(st, 29, &j->warnings) < 0) {
        store_job_clear(j);
        return fail(err, errlen, STORE_ENOMEM, "out of memory");
    }
    return STORE_OK;
}

/* The state column alone (a row_reader into a char[16]). */
static int read_state(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    col_copy(st, 0, row, 16);
    return STORE_OK;
}

/* A job's state and whether a cancel was asked for. */
typedef struct state_row {
    char state[16];
    int cancel_requested;
} state_row;

static int read_state_row(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    state_row *r = row;
    col_copy(st, 0, r->state, sizeof r->state);
    r->cancel_requested = sqlite3_column_int(st, 1);
    return STORE_OK;
}

/* A job's state into state[16]; ENOTFOUND when there is no such job. */
static int job_state(sqlite3 *db, int64_t id, char *state, char *err, size_t errlen)
{
    state[0] = 0;
    return get_row(db, "SELECT state FROM jobs WHERE id = ?1", id, "job", read_state, state, err,
                   errlen);
}

int store_job_insert(store *s, const store_job *j, int64_t *id, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char now[32];
    int64_t new_id = 0;
    int rc;
    if (id)
        *id = 0;
    if (!s || !j || !id || !j->definition || !*j->definition)
        return fail(err, errlen, STORE_EINVAL, "store_job_insert: missing argument");
    if (j->dataset_id <= 0 || j->model_id < 0 || j->val_dataset_id < 0 ||
        j->checkpoint_every < 0 || j->log_every_steps < 0 || j->epochs < 0)
        return fail(err, errlen, STORE_EINVAL, "store_job_insert: bad ids or counts");
    now_iso(now);
    if ((rc = write_begin(s, &db, err, errlen)) < 0)
        return rc;
    /* the only check that the rows exist (jobs' references are plain
     * integers, kept after a delete): in this write transaction, so no
     * delete can come between it and the insert */
    if ((j->model_id > 0 && (rc = row_exists(db, "SELECT 1 FROM models WHERE id = ?1",
                                             j->model_id, "model", err, errlen)) < 0) ||
        (rc = row_exists(db, "SELECT 1 FROM datasets WHERE id = ?1", j->dataset_id, "dataset",
                         err, errlen)) < 0 ||
        (j->val_dataset_id > 0 && (rc = row_exists(db, "SELECT 1 FROM datasets WHERE id = ?1",
                                                   j->val_dataset_id, "dataset", err,
                                                   errlen)) < 0))
        goto out;
    if ((rc = prep(db, "INSERT INTO jobs (model_id, dataset_id, val_dataset_id, val_split, "
                   "definition, training, priority, checkpoint_every, log_every_steps, epochs, "
                   "created_at, classes, label_as, warnings) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                   "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)", &st, err, errlen)) < 0)
        goto out;
    bind_id(st, 1, j->model_id);
    bind_id(st, 2, j->dataset_id);
    bind_id(st, 3, j->val_dataset_id);
    if (j->val_split < 0 || isnan(j->val_split))
        sqlite3_bind_null(st, 4);
    else
        sqlite3_bind_double(st, 4, j->val_split);
    bind_text(st, 5, j->definition);
    bind_text(st, 6, j->training ? j->training : "{}");
    sqlite3_bind_int(st, 7, j->priority);
    sqlite3_bind_int(st, 8, j->checkpoint_every);
    sqlite3_bind_int(st, 9, j->log_every_steps);
    sqlite3_bind_int(st, 10, j->epochs);
    bind_text(st, 11, now);
    bind_text(st, 12, j->classes ? j->classes : "[]");
    bind_text(st, 13, j->label_as[0] ? j->label_as : NULL);
    bind_text(st, 14, j->warnings ? j->warnings : "[]");
    if ((rc = step_done(db, st, "cannot store the job", err, errlen)) < 0)
        goto out;
    new_id = sqlite3_last_insert_rowid(db);
    rc = add_state_event(db, new_id, "queued", NULL, NULL, err, errlen);
out:
    sqlite3_finalize(st);
    rc = write_end(s, db, rc, err, errlen);
    if (rc == STORE_OK)
        *id = new_id;
    return rc;
}

int store_job_set_preprocessing(store *s, int64_t id, const char *text, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (!s || !text)
        return fail(err, errlen, STORE_EINVAL, "store_job_set_preprocessing: missing argument");
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    rc = row_exists(db, "SELECT 1 FROM jobs WHERE id = ?1", id, "job", err, errlen);
    if (rc == STORE_OK)
        rc = exec_id(db, "UPDATE jobs SET preprocessing = ?2 WHERE id = ?1 AND preprocessing IS NULL",
                     id, text, "cannot keep the job's preprocessing", err, errlen);
    return write_end(s, db, rc, err, errlen);
}

int store_job_get(store *s, int64_t id, store_job *out, char *err, size_t errlen)
{
    if (!s || !out)
        return fail(err, errlen, STORE_EINVAL, "store_job_get: missing argument");
    memset(out, 0, sizeof *out);
    return get_one(s, JOB_BY_ID, id, "job", read_job, out, err, errlen);
}

int store_job_list(store *s, const char *state, int64_t before, int limit, store_job **out,
                   int *n, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (!s || !out || !n)
        return fail(err, errlen, STORE_EINVAL, "store_job_list: missing argument");
    *out = NULL;
    *n = 0;
    if (state && !is_job_state(state))
        return fail(err, errlen, STORE_EINVAL, "no job state \"%s\"", state);
    /* the SQL is put together from constant fragments; the values are bound */
    char sql[640];
    snprintf(sql, sizeof sql, "SELECT " JOB_COLS " FROM jobs WHERE 1%s%s ORDER BY id DESC "
             "LIMIT ?3", state ? " AND state = ?1" : "", before > 0 ? " AND id < ?2" : "");
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = prep(db, sql, &st, err, errlen)) == STORE_OK) {
        if (state)
            bind_text(st, 1, state);
        if (before > 0)
            sqlite3_bind_int64(st, 2, before);
        sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
        rc = collect_rows(db, st, "cannot list jobs", sizeof **out, read_job, clear_job, &rows, n,
                          err, errlen);
    }
    sqlite3_finalize(st);
    read_end(s, db);
    if (rc == STORE_OK)
        *out = rows;
    return rc;
}

int store_job_queue_position(store *s, int64_t id, int *pos, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int r, rc;
    if (pos)
        *pos = 0;
    if (!s || !pos)
        return fail(err, errlen, STORE_EINVAL, "store_job_queue_position: missing argument");
    if ((rc = read_begin(s, &db, err, errlen)) < 0)
        return rc;
    /* the claim order: jobs ahead have a higher priority, or the same one
     * and a lower id; counted only when the job itself is queued */
    if ((rc = prep(db, "SELECT j.state, (SELECT COUNT(*) FROM jobs q WHERE q.state = 'queued' "
                   "AND (q.priority > j.priority OR (q.priority = j.priority AND q.id <= j.id))) "
                   "FROM jobs j WHERE j.id = ?1", &st, err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((r = step_row(db, st, "cannot read the queue", err, errlen)) <= 0) {
        rc = r < 0 ? r : fail(err, errlen, STORE_ENOTFOUND, "no job %lld", (long long)id);
        goto out;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), "queued") == 0)
        *pos = sqlite3_column_int(st, 1);
out:
    sqlite3_finalize(st);
    read_end(s, db);
    return rc;
}

int store_job_claim(store *s, int threads, store_job *out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char now[32];
    int64_t id;
    int r, rc;
    if (!s || !out || threads < 0)
        return fail(err, errlen, STORE_EINVAL, "store_job_claim: bad argument");
    memset(out, 0, sizeof *out);
    now_iso(now);
    /* the pick and the update in one IMMEDIATE transaction: no other writer
     * (thread or process) runs in between, so no job is claimed twice */
    if ((rc = write_begin(s, &db, err, errlen)) < 0)
        return rc;
    /* INDEXED BY: without ANALYZE statistics SQLite would pick jobs_state
     * and sort every queued job; the partial index gives the head at once */
    if ((rc = prep(db, "SELECT id FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
                   "ORDER BY priority DESC, id LIMIT 1", &st, err, errlen)) < 0)
        goto out;
    if ((r = step_row(db, st, "cannot read the queue", err, errlen)) <= 0) {
        rc = r < 0 ? r : fail(err, errlen, STORE_ENOTFOUND, "no queued job");
        goto out;
    }
    id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = prep(db, "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                   "threads = ?2, started_at = COALESCE(started_at, ?3) WHERE id = ?1", &st,
                   err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, threads);
    bind_text(st, 3, now);
    if ((rc = step_done(db, st, "cannot claim the job", err, errlen)) < 0 ||
        (rc = add_state_event(db, id, "running", NULL, NULL, err, errlen)) < 0)
        goto out;
    rc = get_row(db, JOB_BY_ID, id, "job", read_job, out, err, errlen);
out:
    sqlite3_finalize(st);
    rc = write_end(s, db, rc, err, errlen);
    if (rc < 0)
        store_job_clear(out);
    return rc;
}

int store_job_requeue_running(store *s, int *n, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    int count = 0;
    if (n)
        *n = 0;
    if (!s)
        return fail(err, errlen, STORE_EINVAL, "store_job_requeue_running: missing argument");
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    /* the ids first: updating the rows a query walks by state is not safe */
    if ((rc = prep(db, "SELECT id FROM jobs WHERE state = 'running' ORDER BY id", &st, err,
                   errlen)) < 0)
        goto out;
    if ((rc = collect_rows(db, st, "cannot read the running jobs", sizeof(int64_t), read_id, NULL,
                           &rows, &count, err, errlen)) < 0)
        goto out;
    const int64_t *ids = rows;
    for (int i = 0; i < count && rc == STORE_OK; i++) {
        rc = exec_id(db, "UPDATE jobs SET state = 'queued' WHERE id = ?1", ids[i], NULL,
                     "cannot requeue the job", err, errlen);
        if (rc == STORE_OK)
            rc = add_state_event(db, ids[i], "queued", NULL, NULL, err, errlen);
    }
out:
    sqlite3_finalize(st);
    free(rows);
    rc = write_end(s, db, rc, err, errlen);
    if (rc == STORE_OK && n)
        *n = count;
    return rc;
}

int store_job_cancel(store *s, int64_t id, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char state[16], now[32];
    if (!s)
        return fail(err, errlen, STORE_EINVAL, "store_job_cancel: missing argument");
    now_iso(now);
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    rc = job_state(db, id, state, err, errlen);
    if (rc == STORE_OK && strcmp(state, "queued") == 0) {
        rc = exec_id(db, "UPDATE jobs SET state = 'cancelled', stop_reason = 'cancelled', "
                     "cancel_requested = 1, finished_at = ?2 WHERE id = ?1", id, now,
                     "cannot cancel the job", err, errlen);
        if (rc == STORE_OK)
            rc = add_state_event(db, id, "cancelled", "cancelled", NULL, err, errlen);
    } else if (rc == STORE_OK && strcmp(state, "running") == 0) {
        /* the worker sees the flag, stops, and finishes the job itself */
        rc = exec_id(db, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1", id, NULL,
                     "cannot cancel the job", err, errlen);
    } else if (rc == STORE_OK) {
        rc = fail(err, errlen, STORE_ECONFLICT, "job %lld is already %s", (long long)id, state);
    }
    return write_end(s, db, rc, err, errlen);
}

static int job_delete_tx(store *s, int64_t id, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char state[16];
    if (!s)
        return fail(err, errlen, STORE_EINVAL, "store_job_delete: missing argument");
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    rc = job_state(db, id, state, err, errlen);
    if (rc == STORE_OK && !is_finished(state))
        rc = fail(err, errlen, STORE_ECONFLICT, "job %lld is %s; only a finished job can be "
                  "deleted", (long long)id, state);
    /* metrics, events, checkpoint and weights go by ON DELETE CASCADE */
    if (rc == STORE_OK)
        rc = exec_id(db, "DELETE FROM jobs WHERE id = ?1", id, NULL, "cannot delete the job",
                     err, errlen);
    return write_end(s, db, rc, err, errlen);
}

static int check_blob_len(sqlite3 *db, size_t len, const char *what, char *err, size_t errlen)
{
    if ((uint64_t)len > (uint64_t)blob_limit(db))
        return fail(err, errlen, STORE_EINVAL, "%s too large for one blob: %zu bytes", what, len);
    return STORE_OK;
}

/* Inserts or replaces weights (job, which). */
static int put_weights(sqlite3 *db, int64_t job_id, const char *which, const void *data,
                       size_t len, const char *now, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = check_blob_len(db, len, "weights", err, errlen);
    if (rc == STORE_OK)
        rc = prep(db, "INSERT INTO weights (job_id, which, data, created_at) VALUES (?1, ?2, ?3, "
                  "?4) ON CONFLICT (job_id, which) DO UPDATE SET data = excluded.data, "
                  "created_at = excluded.created_at", &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, job_id);
        bind_text(st, 2, which);
        sqlite3_bind_blob64(st, 3, len ? data : "", len, SQLITE_STATIC);
        bind_text(st, 4, now);
        rc = step_done(db, st, "cannot store the weights", err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Inserts or replaces the job's checkpoint. */
static int put_checkpoint(sqlite3 *db, int64_t job_id, const void *state, size_t len, int epoch,
                          const char *now, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = check_blob_len(db, len, "checkpoint", err, errlen);
    if (rc == STORE_OK)
        rc = prep(db, "INSERT INTO checkpoints (job_id, state, epoch, created_at) VALUES "
                  "(?1, ?2, ?3, ?4) ON CONFLICT (job_id) DO UPDATE SET state = "
                  "excluded.state, epoch = excluded.epoch, created_at = "
                  "excluded.created_at", &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, job_id);
        sqlite3_bind_blob64(st, 2, len ? state : "", len, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, epoch);
        bind_text(st, 4, now);
        rc = step_done(db, st, "cannot store the checkpoint", err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

int store_job_checkpoint(store *s, int64_t job_id, int epoch, const void *state, size_t len,
                         const void *latest, size_t latest_len, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char st[16], now[32];
    if (!s || !state)
        return fail(err, errlen, STORE_EINVAL, "store_job_checkpoint: missing argument");
    now_iso(now);
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = job_state(db, job_id, st, err, errlen)) < 0)
        goto out;
    if (strcmp(st, "running") != 0) {
        rc = fail(err, errlen, STORE_ECONFLICT, "job %lld is %s, not running", (long long)job_id,
                  st);
        goto out;
    }
    if ((rc = put_checkpoint(db, job_id, state, len, epoch, now, err, errlen)) < 0)
        goto out;
    if (latest && (rc = put_weights(db, job_id, "latest", latest, latest_len, now, err, errlen)) < 0)
        goto out;
out:
    return write_end(s, db, rc, err, errlen);
}

int store_job_reached(store *s, int64_t job_id, int epoch, int step, int steps_per_epoch,
                      char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char state[16];
    if (!s || epoch < 0 || step < 0 || steps_per_epoch < 0)
        return fail(err, errlen, STORE_EINVAL, "store_job_reached: bad argument");
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = job_state(db, job_id, state, err, errlen)) < 0)
        goto out;
    if (strcmp(state, "running") != 0) {
        rc = fail(err, errlen, STORE_ECONFLICT, "job %lld is %s, not running",
                  (long long)job_id, state);
        goto out;
    }
    if ((rc = prep(db, "UPDATE jobs SET epoch = ?2, step = ?3, steps_per_epoch = ?4 WHERE id = ?1",
                   &st, err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, epoch);
    sqlite3_bind_int(st, 3, step);
    sqlite3_bind_int(st, 4, steps_per_epoch);
    rc = step_done(db, st, "cannot record where the job stopped", err, errlen);
out:
    sqlite3_finalize(st);
    return write_end(s, db, rc, err, errlen);
}

/* The seq of an existing metric row (job, kind, global_step). */
static int metric_seq(sqlite3 *db, int64_t job_id, const store_progress *p, int64_t *seq,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(db, "SELECT seq FROM metrics WHERE job_id = ?1 AND kind = ?2 AND "
                  "global_step = ?3", &st, err, errlen);
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, job_id);
        bind_text(st, 2, p->kind);
        sqlite3_bind_int64(st, 3, p->global_step);
        int r = step_row(db, st, "cannot read the metrics", err, errlen);
        rc = r < 0 ? r : r == 0 ? fail(err, errlen, STORE_EIO, "metric row vanished") : STORE_OK;
        if (r > 0)
            *seq = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

int store_job_progress(store *s, int64_t job_id, const store_progress *p, int64_t *seq,
                       char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char state[16], now[32];
    int64_t mseq = 0;
    if (seq)
        *seq = 0;
    if (!s || !p || !p->kind)
        return fail(err, errlen, STORE_EINVAL, "store_job_progress: missing argument");
    if (strcmp(p->kind, "epoch") != 0 && strcmp(p->kind, "step") != 0)
        return fail(err, errlen, STORE_EINVAL, "metric kind must be epoch or step, not \"%s\"",
                    p->kind);
    now_iso(now);
    int rc = write_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = job_state(db, job_id, state, err, errlen)) < 0)
        goto out;
    if (is_finished(state)) {
        rc = fail(err, errlen, STORE_ECONFLICT, "job %lld is already %s", (long long)job_id,
                  state);
        goto out;
    }

    /* the metric row, unless the same (kind, global_step) is there already
     * from a run before a crash: then neither a row nor an event */
    if ((rc = prep(db, "INSERT INTO metrics (job_id, seq, kind, epoch, step, global_step, loss, "
                   "accuracy, val_loss, val_accuracy, lr, elapsed, samples_per_sec) VALUES (?1, "
                   "(SELECT COALESCE(MAX(seq), 0) + 1 FROM metrics WHERE job_id = ?1), ?2, ?3, "
                   "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (job_id, kind, "
                   "global_step) DO NOTHING", &st, err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, job_id);
    bind_text(st, 2, p->kind);
    sqlite3_bind_int(st, 3, p->epoch);
    sqlite3_bind_int(st, 4, p->step);
    sqlite3_bind_int64(st, 5, p->global_step);
    bind_real(st, 6, p->loss);
    bind_real(st, 7, p->accuracy);
    bind_real(st, 8, p->val_loss);
    bind_real(st, 9, p->val_accuracy);
    bind_real(st, 10, p->lr);
    bind_real(st, 11, p->elapsed);
    bind_real(st, 12, p->samples_per_sec);
    if ((rc = step_done(db, st, "cannot store the metric row", err, errlen)) < 0)
        goto out;
    int added = sqlite3_changes(db) == 1;
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = metric_seq(db, job_id, p, &mseq, err, errlen)) < 0)
        goto out;
    if (added && (rc = add_metric_event(db, job_id, mseq, p, err, errlen)) < 0)
        goto out;

    if ((rc = prep(db, "UPDATE jobs SET epoch = ?2, epochs = ?3, step = ?4, steps_per_epoch = ?5, "
                   "samples_per_sec = ?6, last_metrics = COALESCE(?7, last_metrics), "
                   "best_metrics = COALESCE(?8, best_metrics) WHERE id = ?1", &st, err,
                   errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, p->epoch);
    sqlite3_bind_int(st, 3, p->epochs);
    sqlite3_bind_int(st, 4, p->step);
    sqlite3_bind_int(st, 5, p->steps_per_epoch);
    bind_real(st, 6, p->samples_per_sec);
    bind_text(st, 7, p->last_metrics);
    bind_text(st, 8, p->best_metrics);
    if ((rc = step_done(db, st, "cannot update the job's progress", err, errlen)) < 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    if (p->checkpoint && (rc = put_checkpoint(db, job_id, p->checkpoint, p->checkpoint_len,
                                              p->epoch, now, err, errlen)) < 0)
        goto out;
    if (p->latest_weights && (rc = put_weights(db, job_id, "latest", p->latest_weights,
                                               p->latest_len, now, err, errlen)) < 0)
        goto out;
    if (p->best_weights && (rc = put_weights(db, job_id, "best", p->best_weights, p->best_len,
                                             now, err, errlen)) < 0)
        goto out;
out:
    sqlite3_finalize(st);
    rc = write_end(s, db, rc, err, errlen);
    if (rc == STORE_OK && seq)
        *seq = mseq;
    return rc;
}

int store_job_finish(store *s, int64_t id, const char *state, const char *stop_reason,
                     const char *error, const void *final_weights, size_t final_len,
                     char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    state_row cur;
    char now[32];
    int rc;
    if (!s || !state)
        return fail(err, errlen, STORE_EINVAL, "store_job_finish: missing argument");
    if (!is_finished(state))
        return fail(err, errlen, STORE_EINVAL, "a job finishes as succeeded, failed or "
                    "cancelled, not \"%s\"", state);
    if (stop_reason && strlen(stop_reason) >= sizeof ((store_job *)0)->stop_reason)
        return fail(err, errlen, STORE_EINVAL, "stop reason too long: \"%s\"", stop_reason);
    if (stop_reason && !*stop_reason)
        stop_reason = NULL;
    now_iso(now);
    if ((rc = write_begin(s, &db, err, errlen)) < 0)
        return rc;
    if ((rc = get_row(db, "SELECT state, cancel_requested FROM jobs WHERE id = ?1", id, "job",
                      read_state_row, &cur, err, errlen)) < 0)
        goto out;
    if (strcmp(cur.state, "running") != 0) {
        rc = fail(err, errlen, STORE_ECONFLICT, "job %lld is %s, not running", (long long)id,
                  cur.state);
        goto out;
    }
    /* a cancel committed before this end wins over a success: the worker
     * may have finished its last epoch before it saw the flag, and the
     * client was answered 200 */
    if (cur.cancel_requested && !strcmp(state, "succeeded"))
        state = "cancelled", stop_reason = "cancelled";
    if ((rc = prep(db, "UPDATE jobs SET state = ?2, stop_reason = ?3, error = ?4, "
                   "finished_at = ?5 WHERE id = ?1", &st, err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, state);
    bind_text(st, 3, stop_reason);
    bind_text(st, 4, error);
    bind_text(st, 5, now);
    if ((rc = step_done(db, st, "cannot finish the job", err, errlen)) < 0)
        goto out;
    if (final_weights &&
        (rc = put_weights(db, id, "final", final_weights, final_len, now, err, errlen)) < 0)
        goto out;
    rc = add_state_event(db, id, state, stop_reason, error, err, errlen);
out:
    sqlite3_finalize(st);
    return write_end(s, db, rc, err, errlen);
}

/* A blob looked up by sql (?1 = job id, ?2 = which when given) that selects
 * the row's rowid and the blob's length. */
static int get_blob(store *s, const char *sql, const char *table, const char *column,
                    int64_t job_id, const char *which, const char *what, void **buf,
                    size_t *len, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int r, rc;
    if ((rc = read_begin(s, &db, err, errlen)) < 0)
        return rc;
    if ((rc = prep(db, sql, &st, err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, job_id);
    if (which)
        bind_text(st, 2, which);
    if ((r = step_row(db, st, "cannot read", err, errlen)) <= 0) {
        rc = r < 0 ? r : fail(err, errlen, STORE_ENOTFOUND, "job %lld has no %s",
                              (long long)job_id, what);
        goto out;
    }
    int64_t n = sqlite3_column_int64(st, 1);
    if ((rc = read_blob(db, table, column, sqlite3_column_int64(st, 0), n, buf, err,
                        errlen)) == STORE_OK)
        *len = (size_t)n;
out:
    sqlite3_finalize(st);
    read_end(s, db);
    return rc;
}

int store_checkpoint_get(store *s, int64_t job_id, void **buf, size_t *len, char *err,
                         size_t errlen)
{
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!s || !buf || !len)
        return fail(err, errlen, STORE_EINVAL, "store_checkpoint_get: missing argument");
    return get_blob(s, "SELECT job_id, length(state) FROM checkpoints WHERE job_id = ?1",
                    "checkpoints", "state", job_id, NULL, "checkpoint", buf, len, err, errlen);
}

int store_weights_get(store *s, int64_t job_id, const char *which, void **buf, size_t *len,
                      char *err, size_t errlen)
{
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!s || !buf || !len || !which)
        return fail(err, errlen, STORE_EINVAL, "store_weights_get: missing argument");
    if (strcmp(which, "final") != 0 && strcmp(which, "best") != 0 && strcmp(which, "latest") != 0)
        return fail(err, errlen, STORE_EINVAL, "weights are final, best or latest, not \"%s\"",
                    which);
    char what[32];
    snprintf(what, sizeof what, "%s weights", which);
    return get_blob(s, "SELECT rowid, length(data) FROM weights WHERE job_id = ?1 AND "
                    "which = ?2", "weights", "data", job_id, which, what, buf, len, err, errlen);
}

/* ------------------------------------------------------------------------
 * Metrics, events, counts. */

/* A row of the metrics query into a store_metric (a row_reader). */
static int read_metric(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    store_metric *m = row;
    (void)err;
    (void)errlen;
    memset(m, 0, sizeof *m);
    m->seq = sqlite3_column_int64(st, 0);
    col_copy(st, 1, m->kind, sizeof m->kind);
    m->epoch = sqlite3_column_int(st, 2);
    m->step = sqlite3_column_int(st, 3);
    m->global_step = sqlite3_column_int64(st, 4);
    m->loss = col_real(st, 5);
    m->accuracy = col_real(st, 6);
    m->val_loss = col_real(st, 7);
    m->val_accuracy = col_real(st, 8);
    m->lr = col_real(st, 9);
    m->elapsed = col_real(st, 10);
    m->samples_per_sec = col_real(st, 11);
    return STORE_OK;
}

int store_metrics_list(store *s, int64_t job_id, int64_t since, const char *kind,
                       store_metric **out, int *n, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (!s || !out || !n)
        return fail(err, errlen, STORE_EINVAL, "store_metrics_list: missing argument");
    *out = NULL;
    *n = 0;
    if (kind && strcmp(kind, "epoch") != 0 && strcmp(kind, "step") != 0)
        return fail(err, errlen, STORE_EINVAL, "metric kind must be epoch or step, not \"%s\"",
                    kind);
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = row_exists(db, "SELECT 1 FROM jobs WHERE id = ?1", job_id, "job", err,
                         errlen)) < 0)
        goto out;
    if ((rc = prep(db, "SELECT seq, kind, epoch, step, global_step, loss, accuracy, val_loss, "
                   "val_accuracy, lr, elapsed, samples_per_sec FROM metrics WHERE job_id = ?1 "
                   "AND seq > ?2 AND (?3 IS NULL OR kind = ?3) ORDER BY seq", &st, err,
                   errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, since);
    bind_text(st, 3, kind);
    rc = collect_rows(db, st, "cannot list metrics", sizeof **out, read_metric, NULL, &rows, n,
                      err, errlen);
out:
    sqlite3_finalize(st);
    read_end(s, db);
    if (rc == STORE_OK)
        *out = rows;
    return rc;
}

/* A row of the events query into a store_event (a row_reader). */
static int read_event(sqlite3_stmt *st, void *row, char *err, size_t errlen)
{
    store_event *e = row;
    memset(e, 0, sizeof *e);
    e->seq = sqlite3_column_int64(st, 0);
    col_copy(st, 1, e->type, sizeof e->type);
    if (col_dup(st, 2, &e->data) < 0)
        return fail(err, errlen, STORE_ENOMEM, "out of memory");
    return STORE_OK;
}

int store_events_list(store *s, int64_t job_id, int64_t after, int limit, store_event **out,
                      int *n, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (!s || !out || !n)
        return fail(err, errlen, STORE_EINVAL, "store_events_list: missing argument");
    *out = NULL;
    *n = 0;
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = row_exists(db, "SELECT 1 FROM jobs WHERE id = ?1", job_id, "job", err,
                         errlen)) < 0)
        goto out;
    if ((rc = prep(db, "SELECT seq, type, data FROM events WHERE job_id = ?1 AND seq > ?2 "
                   "ORDER BY seq LIMIT ?3", &st, err, errlen)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
    rc = collect_rows(db, st, "cannot list events", sizeof **out, read_event, clear_event, &rows,
                      n, err, errlen);
out:
    sqlite3_finalize(st);
    read_end(s, db);
    if (rc == STORE_OK)
        *out = rows;
    return rc;
}

int store_job_counts(store *s, int64_t counts[5], char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int r;
    if (!s || !counts)
        return fail(err, errlen, STORE_EINVAL, "store_job_counts: missing argument");
    memset(counts, 0, 5 * sizeof counts[0]);
    int rc = read_begin(s, &db, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = prep(db, "SELECT state, COUNT(*) FROM jobs GROUP BY state", &st, err, errlen)) < 0)
        goto out;
    while ((r = step_row(db, st, "cannot count jobs", err, errlen)) > 0) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        for (int i = 0; state && i < 5; i++)
            if (strcmp(state, job_states[i]) == 0)
                counts[i] = sqlite3_column_int64(st, 1);
    }
    rc = r;
out:
    sqlite3_finalize(st);
    read_end(s, db);
    if (rc < 0)
        memset(counts, 0, 5 * sizeof counts[0]);
    return rc;
}

/* ------------------------------------------------------------------------
 * Deleting on a full disk. */

/* Runs del; when the disk is full, gives the reserve back and runs it once
 * more.  After a delete, the freed pages go back to the file system (a new
 * database's incremental auto-vacuum; nothing in an older one), each step
 * in a transaction of its own whose failure changes nothing. */
static int delete_with_reserve(store *s, int (*del)(store *, int64_t, char *, size_t),
                               int64_t id, char *err, size_t errlen)
{
    if (!s)
        return del(s, id, err, errlen);
    int rc = del(s, id, err, errlen);
    if (rc == STORE_EFULL) {
        pthread_mutex_lock(&s->writer);
        reserve_give_back(s);
        pthread_mutex_unlock(&s->writer);
        rc = del(s, id, err, errlen);
    }
    if (rc == STORE_OK) {
        pthread_mutex_lock(&s->writer);
        sqlite3 *db = conn_get(s);
        sqlite3_exec(db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
        wal_shrink(db);
        conn_put(s, db);
        reserve_retry(s);
        pthread_mutex_unlock(&s->writer);
    }
    return rc;
}

int store_dataset_delete(store *s, int64_t id, char *err, size_t errlen)
{
    return delete_with_reserve(s, dataset_delete_tx, id, err, errlen);
}

int store_model_delete(store *s, int64_t id, char *err, size_t errlen)
{
    return delete_with_reserve(s, model_delete_tx, id, err, errlen);
}

int store_job_delete(store *s, int64_t id, char *err, size_t errlen)
{
    return delete_with_reserve(s, job_delete_tx, id, err, errlen);
}
