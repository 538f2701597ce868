/*
 * test_limits.c — what an upload may become, on the real daemon: gzip
 * bombs of CSV, JSON and NPY, generated here with zlib (a small body that
 * inflates to gigabytes), must be answered 413 naming --max-dataset-mb,
 * within a time bound and with the daemon's peak resident memory (VmHWM)
 * under a bound; both are printed.  The fixed targets: with
 * --max-upload-mb 64, a CSV of 1 GB when inflated (about 1 MB sent) is
 * refused within 10 s and the peak stays under 512 MB; with the defaults,
 * one of 10 GB is refused and the peak stays under 1 GB.  A dataset under
 * the limit is still taken, one just over it is not.
 *
 * The sanitized daemon (make test-asan: ASAN_OPTIONS set) is slower and
 * holds more (shadow memory, the allocator's quarantine): its bounds are
 * scaled by the factors below, said in the output, and still asserted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "e2e.h"
#include "testutil.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int sanitized(void)
{
    return getenv("ASAN_OPTIONS") != NULL;
}

/* Bounds for this daemon: time x6, memory x2.5 when sanitized. */
static double time_bound(double s)
{
    return sanitized() ? 6 * s : s;
}

static long mem_bound_kb(long mb)
{
    return (sanitized() ? mb * 5 / 2 : mb) * 1024;
}

/* ---------------------------------------------------------------------------
 * Bombs */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Deflates n bytes of p into out (flush as deflate takes it). */
static void deflate_add(z_stream *z, buf *out, const void *p, size_t n, int flush)
{
    unsigned char o[1 << 16];
    z->next_in = (unsigned char *)p;
    z->avail_in = (unsigned)n;
    int rc;
    do {
        z->next_out = o;
        z->avail_out = sizeof o;
        rc = deflate(z, flush);
        ck_assert_int_ne(rc, Z_STREAM_ERROR);
        put(out, o, sizeof o - z->avail_out);
    } while (z->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

/* One gzip member: head_len bytes of head, then unit repeated until
 * `total` bytes, then tail (head and tail may be NULL; unit and tail are
 * text without NUL). */
static void gz_member(buf *out, const char *head, size_t head_len, const char *unit,
                      size_t total, const char *tail)
{
    z_stream z = {0};
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t ul = strlen(unit), reps = (1 << 20) / ul;
    char *chunk = malloc(reps * ul);
    ck_assert_ptr_nonnull(chunk);
    for (size_t i = 0; i < reps; i++)
        memcpy(chunk + i * ul, unit, ul);
    if (head)
        deflate_add(&z, out, head, head_len, Z_NO_FLUSH);
    for (size_t left = total; left > 0;) {
        size_t n = left < reps * ul ? left : reps * ul;
        deflate_add(&z, out, chunk, n, Z_NO_FLUSH);
        left -= n;
    }
    deflate_add(&z, out, tail ? tail : "", tail ? strlen(tail) : 0, Z_FINISH);
    deflateEnd(&z);
    free(chunk);
}

/* A gzip stream of head + `total` bytes of unit repeated: members of 64 MB
 * of units each, one after the other (gzip readers read on through them),
 * so that gigabytes cost one member's deflating. */
static void gz_bomb(buf *out, const char *head, size_t head_len, const char *unit, size_t total,
                    const char *tail)
{
    size_t member = (size_t)64 << 20;
    buf one = {0};
    gz_member(out, head, head_len, unit, 0, NULL);
    gz_member(&one, NULL, 0, unit, member, NULL);
    for (size_t done = 0; done + member <= total; done += member)
        put(out, one.p, one.n);
    gz_member(out, NULL, 0, unit, total % member, tail);
    free(one.p);
}

/* Sends body to POST /v1/datasets and checks a 413 naming the dataset
 * limit of mb, within max_s seconds and under max_mb of peak memory. */
static void expect_refused(const e2e_daemon *d, const char *what, const char *ctype,
                           const buf *body, int mb, double max_s, long max_mb)
{
    double t0 = now_s();
    e2e_resp r = e2e_req(d, "POST", "/v1/datasets?name=bomb", ctype, body->p, body->n, NULL);
    double took = now_s() - t0;
    long peak = e2e_peak_rss_kb(d);
    printf("limits: %s (%zu bytes sent): HTTP %ld in %.2f s, daemon peak RSS %ld MB%s\n", what,
           body->n, r.status, took, peak / 1024, sanitized() ? " (sanitized build)" : "");
    ck_assert_msg(r.status == 413, "%s: HTTP %ld: %s", what, r.status, r.body);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "code"), "too_large");
    char want[64];
    snprintf(want, sizeof want, "--max-dataset-mb %d MB", mb);
    ck_assert_msg(strstr(r.body, want), "%s: the answer does not name the limit: %s", what,
                  r.body);
    ck_assert_msg(took < time_bound(max_s), "%s: answered after %.1f s", what, took);
    ck_assert_msg(peak > 0 && peak < mem_bound_kb(max_mb), "%s: peak RSS %ld MB", what,
                  peak / 1024);
    e2e_resp_free(&r);
    r = e2e_get(d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 0);
    e2e_resp_free(&r);
}

/* --max-upload-mb 64 (so --max-dataset-mb 256): 1 GB of "0,0\n" rows. */
START_TEST(gzip_csv_bomb_1gb_refused_in_10s_under_512mb)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-upload-mb", "64", NULL};
    e2e_start(&d, NULL, extra);
    buf b = {0};
    gz_bomb(&b, "a,label\n", 8, "0,0\n", (size_t)1 << 30, NULL);
    ck_assert_uint_lt(b.n, 2 << 20);
    expect_refused(&d, "gzip CSV, 1 GB inflated", "text/csv", &b, 256, 10, 512);
    free(b.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* The defaults (--max-upload-mb 1024, so --max-dataset-mb 512): 10 GB. */
START_TEST(gzip_csv_bomb_10gb_refused_under_1gb)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    buf b = {0};
    gz_bomb(&b, "a,label\n", 8, "0,0\n", (size_t)10 << 30, NULL);
    ck_assert_uint_lt(b.n, 16 << 20);
    expect_refused(&d, "gzip CSV, 10 GB inflated", "text/csv", &b, 512, 60, 1024);
    free(b.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* JSON is parsed as one document: its inflated text is bounded (1/16 of
 * the dataset limit), found while it inflates. */
START_TEST(gzip_json_bomb_refused)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-upload-mb", "64", NULL};
    e2e_start(&d, NULL, extra);
    buf b = {0};
    gz_bomb(&b, "{\"x\": [", 7, "0,", (size_t)1 << 30, "0], \"y\": [0]}");
    expect_refused(&d, "gzip JSON, 1 GB inflated", "application/json", &b, 256, 10, 512);
    free(b.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* An NPY header claiming 2^28 float32 values (1 GB of zeros, 1 MB sent):
 * refused from the header, before anything is allocated. */
START_TEST(gzip_npy_bomb_refused)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-upload-mb", "64", NULL};
    e2e_start(&d, NULL, extra);
    char head[192];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (268435456, 1), }";
    size_t hl = strlen(dict) + 1;
    while ((10 + hl) % 64)
        hl++;
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)(hl & 0xff);
    head[9] = (char)(hl >> 8);
    memset(head + 10, ' ', hl);
    memcpy(head + 10, dict, strlen(dict));
    head[10 + hl - 1] = '\n';
    head[10 + hl] = 0;
    buf b = {0};
    gz_bomb(&b, head, 10 + hl, "\xcd\xcc\x8c\x3f", (size_t)1 << 30, NULL);   /* 1.1f */
    char *x = tu_write(tu_tmpdir(), "bomb-x.npy.gz", b.p, b.n, 0);
    /* 4 labels, int64 */
    const char *ydict = "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }";
    char yb[160] = "\x93NUMPY\x01\x00";
    size_t yl = strlen(ydict) + 1;
    while ((10 + yl) % 64)
        yl++;
    yb[8] = (char)yl;
    yb[9] = 0;
    memset(yb + 10, ' ', yl);
    memcpy(yb + 10, ydict, strlen(ydict));
    yb[10 + yl - 1] = '\n';
    memset(yb + 10 + yl, 0, 32);
    char *y = tu_write(tu_tmpdir(), "bomb-y.npy", yb, 10 + yl + 32, 0);
    double t0 = now_s();
    e2e_resp r = e2e_upload_xy(&d, "/v1/datasets?name=bomb", x, y);
    double took = now_s() - t0;
    long peak = e2e_peak_rss_kb(&d);
    printf("limits: gzip NPY claiming 2^28 values (%zu bytes sent): HTTP %ld in %.2f s, daemon "
           "peak RSS %ld MB\n", b.n, r.status, took, peak / 1024);
    ck_assert_msg(r.status == 413, "HTTP %ld: %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "--max-dataset-mb 256 MB"));
    ck_assert_ptr_nonnull(strstr(r.body, "bomb-x.npy.gz"));
    ck_assert_msg(took < time_bound(2), "answered after %.1f s", took);
    ck_assert_msg(peak < mem_bound_kb(128), "peak RSS %ld MB", peak / 1024);
    e2e_resp_free(&r);
    free(x);
    free(y);
    free(b.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* --max-dataset-mb 1 is 262144 float32 values: 131000 rows of a feature
 * and a label fit, 131100 do not; plain and gzip alike. */
START_TEST(dataset_limit_is_the_values_of_x_and_y)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-dataset-mb", "1", NULL};
    e2e_start(&d, NULL, extra);
    for (int gz = 0; gz < 2; gz++) {
        buf b = {0};
        if (gz)
            gz_member(&b, "a,label\n", 8, "1,0\n0,1\n", 131000 * 4, NULL);
        else {
            put(&b, "a,label\n", 8);
            for (int i = 0; i < 131000; i++)
                put(&b, i % 2 ? "0,1\n" : "1,0\n", 4);
        }
        e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=fits", "text/csv", b.p, b.n, NULL);
        ck_assert_msg(r.status == 201, "HTTP %ld: %s", r.status, r.body);
        ck_assert_int_eq(e2e_int(r.json, "n_samples"), 131000);
        e2e_resp_free(&r);
        free(b.p);
        b = (buf){0};
        if (gz)
            gz_member(&b, "a,label\n", 8, "1,0\n0,1\n", 131100 * 4, NULL);
        else {
            put(&b, "a,label\n", 8);
            for (int i = 0; i < 131100; i++)
                put(&b, i % 2 ? "0,1\n" : "1,0\n", 4);
        }
        r = e2e_req(&d, "POST", "/v1/datasets?name=over", "text/csv", b.p, b.n, NULL);
        ck_assert_msg(r.status == 413, "HTTP %ld: %s", r.status, r.body);
        ck_assert_ptr_nonnull(strstr(r.body, "limit of 262144 values"));
        ck_assert_ptr_nonnull(strstr(r.body, "--max-dataset-mb 1 MB"));
        e2e_resp_free(&r);
        free(b.p);
    }
    e2e_resp r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 2);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* the figures, also from a forked test */
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, gzip_csv_bomb_1gb_refused_in_10s_under_512mb);
    tcase_add_test(tc, gzip_csv_bomb_10gb_refused_under_1gb);
    tcase_add_test(tc, gzip_json_bomb_refused);
    tcase_add_test(tc, gzip_npy_bomb_refused);
    tcase_add_test(tc, dataset_limit_is_the_values_of_x_and_y);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
