/*
 * test_disk.c — a full disk and the upload directory, on the real daemon.
 *
 * The full disk is real: a small tmpfs mounted in a mount namespace of this
 * test's own (unshare(CLONE_NEWNS), so the mount goes when the test's
 * processes end; without a namespace, a plain mount that the test removes).
 * The test fails when neither can be set up: it never passes without a
 * full disk.  The database (or the upload directory) on it fills with
 * uploads until the daemon answers 507 insufficient_storage; the rest of
 * the file system is then filled with a file, so that nothing at all can
 * be written; /readyz must say not ready (disk full, with the reason),
 * /metrics traind_disk_full 1; DELETE /v1/datasets/{id} must still work
 * (the store gives its reserve file back), and once the space is free
 * again the daemon is ready, and takes uploads, again.
 *
 * The upload directory: --upload-dir is where the bodies go; upload files
 * left there (and beside the database, where they went before) by a crash
 * are removed at start, and nothing else is.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------
 * A small file system */

static int in_namespace;

/* Mounts a tmpfs of mb MB at a new directory under the scratch directory
 * and returns its path (static).  Fails the test when it cannot. */
static const char *small_disk(int mb)
{
    static char dir[512];
    static int k;
    char opts[32];
    snprintf(dir, sizeof dir, "%s/disk-%d", tu_tmpdir(), ++k);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(opts, sizeof opts, "size=%dm", mb);
    if (!in_namespace && unshare(CLONE_NEWNS) == 0 &&
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
        in_namespace = 1;
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        ck_abort_msg("cannot mount a %d MB tmpfs at %s (%s): this test needs a real full disk "
                     "(run it as root, or where unshare -m works)", mb, dir, strerror(errno));
    return dir;
}

static void small_disk_done(const char *dir)
{
    umount2(dir, MNT_DETACH);
}

/* Writes a file at path until the file system is full; returns its size. */
static long long fill(const char *path)
{
    static char block[1 << 16];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    long long n = 0;
    for (;;) {
        ssize_t w = write(fd, block, sizeof block);
        if (w <= 0)
            break;
        n += w;
    }
    for (;;) {   /* the last few bytes, one at a time */
        if (write(fd, block, 1) != 1)
            break;
        n++;
    }
    ck_assert_int_eq(errno, ENOSPC);
    close(fd);
    return n;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int count_uploads(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^\\.traind-upload-'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* A CSV of rows "0.25,1" / "0.5,0": rows * 2 float32 values. */
static char *rows_csv(int rows, size_t *len)
{
    char *t = malloc((size_t)rows * 8 + 16);
    ck_assert_ptr_nonnull(t);
    size_t n = (size_t)sprintf(t, "a,label\n");
    for (int i = 0; i < rows; i++)
        n += (size_t)sprintf(t + n, i % 2 ? "0.25,1\n" : "0.5,0\n");
    *len = n;
    return t;
}

static long post_csv(const e2e_daemon *d, const char *csv, size_t len, e2e_resp *out)
{
    *out = e2e_req(d, "POST", "/v1/datasets?name=fill", "text/csv", csv, len, NULL);
    return out->status;
}

/* ---------------------------------------------------------------------------
 * The full disk */

START_TEST(full_disk_507_not_ready_and_delete_still_works)
{
    const char *disk = small_disk(48);
    char db[600], up[600], filler[600], reserve[640];
    snprintf(db, sizeof db, "%s/traind.db", disk);
    snprintf(reserve, sizeof reserve, "%s-reserve", db);
    snprintf(filler, sizeof filler, "%s/filler", disk);
    /* the uploads elsewhere: only the database fills this disk */
    snprintf(up, sizeof up, "%s/uploads-full", tu_tmpdir());
    const char *extra[] = {"--upload-dir", up, NULL};
    e2e_daemon d = {0};
    e2e_start(&d, db, extra);
    e2e_resp r = e2e_get(&d, "/readyz");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(e2e_str(r.json, "disk"), "ok");
    e2e_resp_free(&r);
    ck_assert_int_eq(file_size(reserve), 16 << 20);

    /* 500k rows: 4 MB of tensors each; the disk holds 48 MB, 16 of them
     * the reserve's */
    size_t len;
    char *csv = rows_csv(500000, &len);
    int stored = 0;
    long st = 0;
    for (int i = 0; i < 20; i++) {
        st = post_csv(&d, csv, len, &r);
        if (st != 201)
            break;
        stored++;
        e2e_resp_free(&r);
    }
    printf("disk: %d datasets of 4 MB stored on a 48 MB disk, then HTTP %ld\n", stored, st);
    ck_assert_msg(st == 507, "HTTP %ld after %d uploads: %s", st, stored, r.body);
    ck_assert_int_ge(stored, 1);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "code"), "insufficient_storage");
    ck_assert_ptr_nonnull(strstr(r.body, "the disk is full"));
    e2e_resp_free(&r);

    /* nothing at all can be written now */
    long long filled = fill(filler);
    printf("disk: the last %lld bytes filled by a file\n", filled);
    r = e2e_get(&d, "/readyz");
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(e2e_str(r.json, "status"), "not_ready");
    ck_assert_str_eq(e2e_str(r.json, "disk"), "full");
    ck_assert_ptr_nonnull(strstr(e2e_str(r.json, "reason"), "disk is full"));
    e2e_resp_free(&r);
    r = e2e_get(&d, "/metrics");
    ck_assert_ptr_nonnull(strstr(r.body, "\ntraind_disk_full 1\n"));
    e2e_resp_free(&r);
    /* a write is 507 too, and changes nothing */
    r = e2e_json(&d, "POST", "/v1/models",
                 "{\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
                 "\"loss\": \"mse\"}");
    ck_assert_msg(r.status == 507, "HTTP %ld: %s", r.status, r.body);
    e2e_resp_free(&r);

    /* the delete works, with the reserve's space */
    r = e2e_req(&d, "DELETE", "/v1/datasets/1", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 204, "DELETE on a full disk: HTTP %ld: %s", r.status, r.body);
    e2e_resp_free(&r);
    printf("disk: deleted on the full disk; the reserve file is %lld bytes after it\n",
           file_size(reserve));
    r = e2e_get(&d, "/v1/datasets/1");
    ck_assert_int_eq(r.status, 404);
    e2e_resp_free(&r);

    /* space again: ready again within the reserve's retry time, and the
     * reserve is back */
    ck_assert_int_eq(unlink(filler), 0);
    long ready = 0;
    for (int i = 0; i < 100 && ready != 200; i++) {
        usleep(100000);
        r = e2e_get(&d, "/readyz");
        ready = r.status;
        e2e_resp_free(&r);
    }
    ck_assert_int_eq(ready, 200);
    ck_assert_int_eq(file_size(reserve), 16 << 20);
    r = e2e_get(&d, "/metrics");
    ck_assert_ptr_nonnull(strstr(r.body, "\ntraind_disk_full 0\n"));
    e2e_resp_free(&r);
    ck_assert_int_eq(post_csv(&d, csv, len, &r), 201);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), stored);
    e2e_resp_free(&r);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
    small_disk_done(disk);
}
END_TEST

/* The upload directory on a full disk: the body cannot be written, 507. */
START_TEST(upload_write_error_is_507)
{
    const char *disk = small_disk(4);
    char filler[600];
    snprintf(filler, sizeof filler, "%s/filler", disk);
    const char *extra[] = {"--upload-dir", disk, NULL};
    e2e_daemon d = {0};
    e2e_start(&d, NULL, extra);
    size_t len;
    char *csv = rows_csv(800000, &len);   /* 5.4 MB: more than the disk */
    e2e_resp r;
    ck_assert_int_eq(post_csv(&d, csv, len, &r), 507);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "code"), "insufficient_storage");
    ck_assert_ptr_nonnull(strstr(r.body, "cannot write the upload"));
    e2e_resp_free(&r);
    /* multipart alike */
    char *x = tu_write(tu_tmpdir(), "big.csv", csv, len, 0);
    const char *names[1] = {"data"}, *files[1] = {x};
    r = e2e_upload_parts(&d, "/v1/datasets?name=m", 1, names, files);
    ck_assert_msg(r.status == 507, "HTTP %ld: %s", r.status, r.body);
    e2e_resp_free(&r);
    /* the failed uploads' files go (when the request ends, just after the
     * answer): the disk is free again */
    for (int i = 0; i < 50 && count_uploads(disk) > 0; i++)
        usleep(20000);
    ck_assert_int_eq(count_uploads(disk), 0);
    long long freed = fill(filler);
    ck_assert_msg(freed > 3 << 20, "only %lld bytes free after the failed uploads", freed);
    ck_assert_int_eq(unlink(filler), 0);
    ck_assert_int_eq(post_csv(&d, "a,b\n1,0\n2,1\n", 12, &r), 201);
    e2e_resp_free(&r);
    free(x);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
    small_disk_done(disk);
}
END_TEST

/* Jobs queued when the disk fills: the worker cannot claim them, and
 * retries after 1, 2, 4 ... s (at one a second there would be about ten
 * lines in the 10 s watched). */
START_TEST(worker_backs_off_on_a_full_disk)
{
    const char *disk = small_disk(48);
    char db[600], filler[600], up[600];
    snprintf(db, sizeof db, "%s/traind.db", disk);
    snprintf(filler, sizeof filler, "%s/filler", disk);
    snprintf(up, sizeof up, "%s/uploads-backoff", tu_tmpdir());
    const char *extra[] = {"--upload-dir", up, NULL};
    e2e_daemon d = {0};
    e2e_start(&d, db, extra);
    e2e_resp r;
    const char *xor = "a,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n";
    ck_assert_int_eq(post_csv(&d, xor, strlen(xor), &r), 201);
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", "/v1/models",
                 "{\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 8, "
                 "\"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 1, "
                 "\"activation\": \"sigmoid\"}], \"loss\": \"binary_cross_entropy\", "
                 "\"training\": {\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.1}, "
                 "\"batch_size\": 4, \"epochs\": 1000000}}");
    ck_assert_msg(r.status == 201, "HTTP %ld: %s", r.status, r.body);
    e2e_resp_free(&r);
    for (int i = 0; i < 6; i++) {
        r = e2e_json(&d, "POST", "/v1/jobs", "{\"model\": 1, \"dataset\": 1}");
        ck_assert_msg(r.status == 201, "HTTP %ld: %s", r.status, r.body);
        e2e_resp_free(&r);
    }
    usleep(500000);
    fill(filler);
    /* the first failed claim, then 10 s of retries */
    char *log = NULL, *first = NULL;
    for (int i = 0; i < 300 && !first; i++) {
        usleep(100000);
        free(log);
        log = tu_read(d.log, NULL);
        first = strstr(log, "cannot claim a job");
    }
    ck_assert_msg(first, "no failed claim within 30 s:\n%s", log);
    free(log);
    sleep(10);
    log = tu_read(d.log, NULL);
    int n = 0;
    for (const char *p = log; (p = strstr(p, "cannot claim a job")); p++)
        n++;
    printf("disk: %d failed claims logged in about 10 s on a full disk\n", n);
    ck_assert_msg(n >= 3 && n <= 5, "%d failed claims logged:\n%s", n, log);
    ck_assert_ptr_nonnull(strstr(log, "(next try in 1 s)"));
    ck_assert_ptr_nonnull(strstr(log, "(next try in 4 s)"));
    free(log);
    e2e_kill9(&d);
    small_disk_done(disk);
}
END_TEST

/* ---------------------------------------------------------------------------
 * The upload directory */

START_TEST(leftover_uploads_removed_at_start)
{
    char dbdir[600], db[700], up[600], path[800];
    snprintf(dbdir, sizeof dbdir, "%s/dbdir", tu_tmpdir());
    snprintf(up, sizeof up, "%s/updir", tu_tmpdir());
    ck_assert_int_eq(mkdir(dbdir, 0700), 0);
    ck_assert_int_eq(mkdir(up, 0700), 0);
    snprintf(db, sizeof db, "%s/t.db", dbdir);
    /* what a crash leaves: in the upload directory and beside the
     * database; and files that are not uploads, which stay */
    const char *left[] = {"%s/.traind-upload-abc123", "%s/.traind-upload-Zz9", NULL};
    for (int i = 0; left[i]; i++) {
        snprintf(path, sizeof path, left[i], up);
        free(tu_write(up, strrchr(path, '/') + 1, "a,b\n1,2\n", 8, 0));
        free(tu_write(dbdir, strrchr(path, '/') + 1, "x", 1, 0));
    }
    free(tu_write(up, "keep.csv", "a,b\n", 4, 0));
    free(tu_write(dbdir, ".traind-uploaded", "k", 1, 0));
    ck_assert_int_eq(count_uploads(up), 2);
    ck_assert_int_eq(count_uploads(dbdir), 2);
    const char *extra[] = {"--upload-dir", up, NULL};
    e2e_daemon d = {0};
    e2e_start(&d, db, extra);
    ck_assert_int_eq(count_uploads(up), 0);
    ck_assert_int_eq(count_uploads(dbdir), 0);
    snprintf(path, sizeof path, "%s/keep.csv", up);
    ck_assert_int_eq(file_size(path), 4);
    snprintf(path, sizeof path, "%s/.traind-uploaded", dbdir);
    ck_assert_int_eq(file_size(path), 1);
    char *log = tu_read(d.log, NULL);
    ck_assert_msg(strstr(log, "removed 4 upload files (18 bytes)"), "%s", log);
    free(log);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* A slow upload: its body is in a file of the upload directory while it
 * arrives, and gone when it is answered. */
START_TEST(uploads_go_to_the_upload_dir)
{
    char up[600], db[600], dflt[700];
    snprintf(up, sizeof up, "%s/uploads-here", tu_tmpdir());
    snprintf(db, sizeof db, "%s/up-test.db", tu_tmpdir());
    const char *extra[] = {"--upload-dir", up, NULL};
    e2e_daemon d = {0};
    e2e_start(&d, db, extra);
    /* half a body by hand, through a pipe to curl */
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "(printf 'a,b\\n1,0\\n'; sleep 2; printf '2,1\\n') | curl -s -o /dev/null "
             "-w '%%{http_code}' -H 'Content-Type: text/csv' -X POST -T - "
             "'%s/v1/datasets?name=slow'", d.base);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int seen = 0;
    for (int i = 0; i < 15 && !seen; i++) {
        usleep(100000);
        seen = count_uploads(up) == 1;
    }
    char code[8] = "";
    ck_assert_ptr_nonnull(fgets(code, sizeof code, p));
    pclose(p);
    ck_assert_msg(seen, "no upload file appeared in --upload-dir while the body arrived");
    ck_assert_str_eq(code, "201");
    ck_assert_int_eq(count_uploads(up), 0);
    ck_assert_int_eq(count_uploads(tu_tmpdir()), 0);
    ck_assert_int_eq(e2e_stop(&d), 0);
    /* the default: DB.uploads beside the database, made at start */
    snprintf(dflt, sizeof dflt, "%s.uploads", db);
    e2e_start(&d, db, NULL);
    struct stat st;
    ck_assert_int_eq(stat(dflt, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* the figures, also from a forked test */
    Suite *s = suite_create("disk");
    TCase *tc = tcase_create("disk");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, full_disk_507_not_ready_and_delete_still_works);
    tcase_add_test(tc, upload_write_error_is_507);
    tcase_add_test(tc, worker_backs_off_on_a_full_disk);
    tcase_add_test(tc, leftover_uploads_removed_at_start);
    tcase_add_test(tc, uploads_go_to_the_upload_dir);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
