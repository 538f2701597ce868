/*
 * test_e2e.c — the real daemon on a loopback port, driven over HTTP with
 * libcurl as a client drives it: every route's success path, the error
 * paths of docs/api.md, training to the end, cancelling, the ids a job
 * keeps and ids never given twice (across a restart), an infinite
 * validation loss in the metrics (null, nothing else lost), two workers,
 * event streams, kill -9 and SIGTERM in the middle of training (the resumed job
 * must end with the same weights, bit for bit, as an uninterrupted one, also
 * with another thread count),
 * and an oversized upload that must not grow the daemon's memory; query
 * parameters a route does not take, multipart bodies it refuses (answered
 * at once, never after a timeout), keep-alives of a waiting stream, and
 * what one job answer shows holding together.
 */
#include <check.h>
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "http.h"
#include "rng.h"
#include "safetensors.h"
#include "sha256.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------
 * Fixtures */

/* n rows of 4 features in 3 Gaussian blobs labelled by name, as CSV. */
static char *blobs_csv(int n, uint64_t seed, size_t *len)
{
    static const char *names[3] = {"virginica", "setosa", "versicolor"};
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    size_t cap = (size_t)n * 80 + 100, off = 0;
    char *t = malloc(cap);
    off += (size_t)snprintf(t, cap, "a,b,c,d,species\n");
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        off += (size_t)snprintf(t + off, cap - off, "%.4f,%.4f,%.4f,%.4f,%s\n",
                                c * 1.5 + 0.4 * nn_rng_normal(&r), 1 - c + 0.4 * nn_rng_normal(&r),
                                c * c * 0.7 + 0.4 * nn_rng_normal(&r), 0.4 * nn_rng_normal(&r),
                                names[c]);
    }
    *len = off;
    return t;
}

/* A wider regression-free classification set for longer trainings:
 * n rows of f features, 4 classes by the sign pattern of two directions. */
static char *wide_csv(int n, int f, uint64_t seed, size_t *len)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    size_t cap = (size_t)n * (size_t)f * 10 + 4096, off = 0;
    char *t = malloc(cap);
    for (int j = 0; j < f; j++)
        off += (size_t)snprintf(t + off, cap - off, "f%d,", j);
    off += (size_t)snprintf(t + off, cap - off, "label\n");
    double *x = malloc(sizeof(double) * (size_t)f);
    for (int i = 0; i < n; i++) {
        double s1 = 0, s2 = 0;
        for (int j = 0; j < f; j++) {
            x[j] = nn_rng_normal(&r);
            s1 += x[j] * ((j % 3) - 1);
            s2 += x[j] * ((j % 2) ? 1 : -0.5);
            off += (size_t)snprintf(t + off, cap - off, "%.3f,", x[j]);
        }
        off += (size_t)snprintf(t + off, cap - off, "%d\n", (s1 > 0) * 2 + (s2 > 0));
    }
    free(x);
    *len = off;
    return t;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long long upload_csv(const e2e_daemon *d, const char *csv, size_t len, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/datasets?name=%s", name);
    e2e_resp r = e2e_req(d, "POST", path, "text/csv", csv, len, NULL);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

static long long create(const e2e_daemon *d, const char *path, const char *json)
{
    e2e_resp r = e2e_json(d, "POST", path, json);
    ck_assert_msg(r.status == 201, "POST %s: %ld %s\n%s", path, r.status, r.body,
                  e2e_log_tail(d));
    long long id = e2e_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    e2e_resp_free(&r);
    return id;
}

static const char *blob_model =
    "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\","
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}, \"batch_size\": 32,"
    " \"epochs\": 15, \"seed\": 5}}";

static void expect_error(e2e_resp *r, long status, const char *code, const char *path)
{
    ck_assert_msg(r->status == status, "status %ld (want %ld): %s", r->status, status, r->body);
    ck_assert_ptr_nonnull(r->json);
    json_t *e = json_object_get(r->json, "error");
    ck_assert_msg(e != NULL, "no error object: %s", r->body);
    ck_assert_str_eq(e2e_str(e, "code"), code);
    ck_assert(strlen(e2e_str(e, "message")) > 5);
    if (path)
        ck_assert_str_eq(e2e_str(e, "path"), path);
    e2e_resp_free(r);
}

/* ---------------------------------------------------------------------------
 * Operations, routing, authentication */

START_TEST(operations_and_routing)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    e2e_resp r = e2e_get(&d, "/healthz");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(e2e_str(r.json, "status"), "ok");
    e2e_resp_free(&r);
    r = e2e_get(&d, "/readyz");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(e2e_str(r.json, "status"), "ready");
    ck_assert_int_eq(e2e_int(r.json, "workers"), 1);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/nope");
    expect_error(&r, 404, "not_found", NULL);
    r = e2e_req(&d, "PUT", "/v1/jobs/1", NULL, NULL, 0, NULL);
    ck_assert_str_eq(r.allow, "GET, DELETE");
    expect_error(&r, 405, "method_not_allowed", NULL);
    r = e2e_get(&d, "/v1/jobs/999");
    expect_error(&r, 404, "not_found", NULL);
    r = e2e_get(&d, "/v1/datasets/5");
    expect_error(&r, 404, "not_found", NULL);
    r = e2e_get(&d, "/v1/jobs?limit=0");
    expect_error(&r, 400, "invalid_parameter", "limit");
    r = e2e_get(&d, "/v1/jobs?state=done");
    expect_error(&r, 400, "invalid_parameter", "state");
    r = e2e_get(&d, "/v1/jobs");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "jobs")), 0);
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* Every route refuses a query parameter it does not take, and one given
 * twice: 400 invalid_parameter naming it and listing what the route takes,
 * before the handler runs (nothing is stored, nothing deleted).  The table
 * is the router's own. */
START_TEST(unknown_query_parameters)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    int routes = 0;
    for (const route *rt = http_routes; rt->method; rt++, routes++) {
        char path[256], want[512];
        const char *id = strstr(rt->pattern, "{id}");
        if (id)
            snprintf(path, sizeof path, "%.*s1%s", (int)(id - rt->pattern), rt->pattern, id + 4);
        else
            snprintf(path, sizeof path, "%s", rt->pattern);
        size_t n = strlen(path);
        /* the route's own list, as the message must give it */
        size_t w = (size_t)snprintf(want, sizeof want, "this route takes ");
        for (int i = 0; rt->query && rt->query[i]; i++)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s%s", i ? ", " : "", rt->query[i]);
        if (!rt->query)
            snprintf(want + w, sizeof want - w, "none");
        /* a misspelt one, after a good one when the route has any */
        snprintf(path + n, sizeof path - n, "?%s%slable=kind", rt->query ? rt->query[0] : "",
                 rt->query ? "=1&" : "");
        e2e_resp r = e2e_req(&d, rt->method, path, NULL, NULL, 0, NULL);
        ck_assert_msg(r.status == 400 && strstr(r.body, "unknown query parameter 'lable'") &&
                          strstr(r.body, want),
                      "%s %s: %ld %s (want '%s')", rt->method, path, r.status, r.body, want);
        expect_error(&r, 400, "invalid_parameter", "lable");
        if (!rt->query)
            continue;
        /* one of its own, twice */
        snprintf(path + n, sizeof path - n, "?%s=1&%s=2", rt->query[0], rt->query[0]);
        r = e2e_req(&d, rt->method, path, NULL, NULL, 0, NULL);
        ck_assert_msg(strstr(r.body, "is given twice"), "%s %s: %s", rt->method, path, r.body);
        expect_error(&r, 400, "invalid_parameter", rt->query[0]);
    }
    ck_assert_int_ge(routes, 20);
    /* the example: 400, and nothing stored */
    size_t len;
    char *csv = blobs_csv(30, 1, &len);
    e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=q&lable=kind", "text/csv", csv, len, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "this route takes name, label, label_kind, delimiter, "
                                         "scale_u8"));
    expect_error(&r, 400, "invalid_parameter", "lable");
    r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 0);
    e2e_resp_free(&r);
    /* the parameters a route takes still work, escaped or not */
    r = e2e_req(&d, "POST", "/v1/datasets?name=q%20r&label=species", "text/csv", csv, len, NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "name"), "q r");
    e2e_resp_free(&r);
    r = e2e_get(&d, "/v1/jobs?limit=5&state=queued");
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

START_TEST(authentication)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--token", "s3cret-token", NULL};
    e2e_start(&d, NULL, extra);
    e2e_resp r = e2e_get(&d, "/v1/jobs");
    expect_error(&r, 401, "unauthorized", NULL);
    snprintf(d.token, sizeof d.token, "wrong-token!");
    r = e2e_get(&d, "/v1/jobs");
    expect_error(&r, 401, "unauthorized", NULL);
    snprintf(d.token, sizeof d.token, "s3cret-token");
    r = e2e_get(&d, "/v1/jobs");
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    d.token[0] = 0;
    r = e2e_get(&d, "/healthz");   /* health checks stay open */
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);

    /* a public address without a token is refused */
    char cmd[512];
    const char *b = getenv("TRAIND_BIN");
    snprintf(cmd, sizeof cmd, "%s serve --host 0.0.0.0 --port 0 --db %s/x.db 2>&1",
             b && *b ? b : "./traind", tu_tmpdir());
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    ck_assert_int_eq(WEXITSTATUS(pclose(p)), 2);
    ck_assert_ptr_nonnull(strstr(out, "without a token"));
}
END_TEST

/* ---------------------------------------------------------------------------
 * Datasets */

static void write_idx(const char *path, int n, int rows, int cols, int labels)
{
    FILE *f = fopen(path, "wb");
    unsigned char h[16] = {0, 0, 8, (unsigned char)(labels ? 1 : 3)};
    int dims[3] = {n, rows, cols};
    fwrite(h, 1, 4, f);
    for (int i = 0; i < (labels ? 1 : 3); i++) {
        unsigned char b[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        fwrite(b, 1, 4, f);
    }
    for (int i = 0; i < (labels ? n : n * rows * cols); i++)
        fputc(labels ? i % 3 : (i * 7) % 256, f);
    fclose(f);
}

START_TEST(datasets)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *csv = blobs_csv(300, 1, &len);
    e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=blobs", "text/csv", csv, len, NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "name"), "blobs");
    ck_assert_str_eq(e2e_str(r.json, "format"), "csv");
    ck_assert_int_eq(e2e_int(r.json, "n_samples"), 300);
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), 3);
    json_t *cls = json_object_get(r.json, "classes");
    ck_assert_str_eq(json_string_value(json_array_get(cls, 0)), "setosa");
    ck_assert_str_eq(json_string_value(json_array_get(cls, 2)), "virginica");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(r.json, "x_shape"), 1)), 4);
    ck_assert_int_eq(e2e_int(r.json, "bytes"), (long long)len);
    char hex[65];
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, csv, len);
    sha256_final_hex(&c, hex);
    ck_assert_str_eq(e2e_str(r.json, "sha256"), hex);
    long long id = e2e_int(r.json, "id");
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/datasets/%lld", id);
    ck_assert_str_eq(r.location, loc);
    e2e_resp_free(&r);

    /* JSON */
    const char *js = "{\"x\": [[0, 1], [1, 0], [1, 1], [0, 0]], \"y\": [1, 1, 0, 0]}";
    r = e2e_req(&d, "POST", "/v1/datasets?name=xor", "application/json", js, strlen(js), NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "format"), "json");
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), 2);
    e2e_resp_free(&r);
    /* IDX pair as multipart */
    char xp[512], yp[512];
    snprintf(xp, sizeof xp, "%s/img.idx", tu_tmpdir());
    snprintf(yp, sizeof yp, "%s/lab.idx", tu_tmpdir());
    write_idx(xp, 30, 5, 6, 0);
    write_idx(yp, 30, 0, 0, 1);
    r = e2e_upload_xy(&d, "/v1/datasets?name=tiny-idx", xp, yp);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "format"), "idx");
    json_t *xs = json_object_get(r.json, "x_shape");
    ck_assert_int_eq(json_array_size(xs), 4);
    ck_assert_int_eq(json_integer_value(json_array_get(xs, 1)), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(xs, 3)), 6);
    e2e_resp_free(&r);

    /* errors, and nothing stored by them */
    const char *bad = "a,b,label\n1,2,x\n1,1e999,y\n";
    r = e2e_req(&d, "POST", "/v1/datasets?name=bad", "text/csv", bad, strlen(bad), NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "line 3"));
    ck_assert_ptr_nonnull(strstr(r.body, "the upload"));
    expect_error(&r, 400, "invalid_dataset", NULL);
    r = e2e_req(&d, "POST", "/v1/datasets", "text/plain", "x", 1, NULL);
    expect_error(&r, 415, "unsupported_media_type", NULL);
    r = e2e_req(&d, "POST", "/v1/datasets?label_kind=maybe", "text/csv", csv, len, NULL);
    expect_error(&r, 400, "invalid_parameter", "label_kind");
    r = e2e_upload_xy(&d, "/v1/datasets", xp, xp);   /* two image files */
    expect_error(&r, 400, "invalid_dataset", NULL);
    const char *badjs = "{\"x\": [[0, 1], [1]], \"y\": [1, 0]}";
    r = e2e_req(&d, "POST", "/v1/datasets", "application/json", badjs, strlen(badjs), NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "/x/1"));
    expect_error(&r, 400, "invalid_dataset", NULL);
    /* nested targets follow the first sample's shape, at every level */
    static const char *const bad_y[][2] = {
        {"{\"x\": [[0], [1]], \"y\": [[[1], [2]], [[1], 2]]}", "/y/1/1"},
        {"{\"x\": [[0], [1]], \"y\": [[[1], [2]], [[1]]]}", "/y/1"},
        {"{\"x\": [[0], [1]], \"y\": [[[1], [2]], [[1], [\"a\"]]]}", "/y/1/1/0"},
        {"{\"x\": [[0], [1]], \"y\": [[[]], [[]]]}", "/y/0"},
        {"{\"x\": [[0], [1]], \"y\": [[[1], [2]], [[1], [1e39]]]}", "/y/1/1/0"},
    };
    for (size_t i = 0; i < sizeof bad_y / sizeof bad_y[0]; i++) {
        r = e2e_req(&d, "POST", "/v1/datasets", "application/json", bad_y[i][0],
                    strlen(bad_y[i][0]), NULL);
        ck_assert_msg(strstr(r.body, bad_y[i][1]) != NULL, "%s: %s", bad_y[i][0], r.body);
        expect_error(&r, 400, "invalid_dataset", NULL);
    }
    /* the client's bytes in a message (near a JSON syntax error, a file
     * name) are not always UTF-8: still a JSON answer, 400 */
    const char *badbytes = "{\"%\xc6\xa4\\\xc5\xa6]}";
    r = e2e_req(&d, "POST", "/v1/datasets", "application/json", badbytes, strlen(badbytes), NULL);
    expect_error(&r, 400, "invalid_dataset", NULL);
    char np[512];
    snprintf(np, sizeof np, "%s/bad\xff\xfe.idx", tu_tmpdir());
    FILE *nf = fopen(np, "wb");
    ck_assert_ptr_nonnull(nf);
    fputs("not an IDX file", nf);
    fclose(nf);
    r = e2e_upload_xy(&d, "/v1/datasets", np, yp);
    ck_assert_ptr_nonnull(strstr(r.body, "bad??.idx"));
    expect_error(&r, 400, "invalid_dataset", NULL);

    r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(r.status, 200);
    json_t *list = json_object_get(r.json, "datasets");
    ck_assert_int_eq(json_array_size(list), 3);
    ck_assert_str_eq(e2e_str(json_array_get(list, 0), "name"), "tiny-idx");   /* newest first */
    e2e_resp_free(&r);
    r = e2e_get(&d, loc);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(e2e_int(r.json, "id"), id);
    e2e_resp_free(&r);
    r = e2e_req(&d, "DELETE", loc, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 204);
    e2e_resp_free(&r);
    r = e2e_get(&d, loc);
    expect_error(&r, 404, "not_found", NULL);
    r = e2e_req(&d, "DELETE", loc, NULL, NULL, 0, NULL);
    expect_error(&r, 404, "not_found", NULL);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* Multipart uploads: a part of any name reaches the handler, and what the
 * daemon refuses while the body arrives (a third part, a name sent twice,
 * a hundred parts, a name of 3,000 characters, a form field) is answered
 * at once, a 400 with a JSON error, once the body is in; nothing waits for
 * a timeout. */
START_TEST(upload_parts)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *csv = blobs_csv(30, 2, &len);
    char *file = tu_write(tu_tmpdir(), "parts.csv", csv, len, 0);
    free(csv);

    /* one part named "file" (curl -F file=@iris.csv): the handler answers */
    const char *one[] = {"file"}, *files[100];
    for (int i = 0; i < 100; i++)
        files[i] = file;
    double t0 = now_s();
    e2e_resp r = e2e_upload_parts(&d, "/v1/datasets?name=x&label=species", 1, one, files);
    double dt = now_s() - t0;
    ck_assert_msg(r.status == 201, "one part of any name is the data: %ld %s", r.status, r.body);
    ck_assert_msg(dt < 2, "one part named file: answered after %.1f s", dt);
    e2e_resp_free(&r);

    char *names[100], longname[3001];
    for (int i = 0; i < 100; i++) {
        names[i] = malloc(16);
        snprintf(names[i], 16, "p%d", i);
    }
    memset(longname, 'n', 3000);
    longname[3000] = 0;
    static const char *const three[] = {"x", "y", "z"}, *const twice[] = {"x", "x", "y"};
    struct {
        int n;
        const char *const *names;
        const char *want;          /* in the message */
        const char *path;          /* the error's path, NULL: none */
    } bad[] = {
        {3, three, "a third part ('z')", "z"},
        {3, twice, "part 'x' is sent twice", "x"},
        {100, (const char *const *)names, "a third part ('p2')", "p2"},
        {1, (const char *const[]){longname}, "3000 bytes long", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t0 = now_s();
        r = e2e_upload_parts(&d, "/v1/datasets", bad[i].n, bad[i].names, files);
        dt = now_s() - t0;
        ck_assert_msg(dt < 1, "case %zu answered after %.1f s", i, dt);
        ck_assert_msg(strstr(r.body, bad[i].want) && strstr(r.body, "one file part (of any name) "
                                                                     "or two named x and y"),
                      "case %zu: %s", i, r.body);
        expect_error(&r, 400, "malformed_request", bad[i].path);
    }
    /* a form field (no file) instead of a file */
    const char *field[] = {"x"}, *nofile[] = {NULL};
    t0 = now_s();
    r = e2e_upload_parts(&d, "/v1/datasets", 1, field, nofile);
    dt = now_s() - t0;
    ck_assert_msg(dt < 1, "a form field: answered after %.1f s", dt);
    ck_assert_ptr_nonnull(strstr(r.body, "is a form field, not a file"));
    expect_error(&r, 400, "malformed_request", "x");

    /* nothing was stored but the one good upload */
    r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 1);
    e2e_resp_free(&r);
    for (int i = 0; i < 100; i++)
        free(names[i]);
    free(file);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* 3 MB against a 1 MB limit: 413, and the daemon's memory does not grow by
 * the upload's size; a chunked body is answered 413 up to twice the limit,
 * and past it closed. */
START_TEST(oversized_upload)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-upload-mb", "1", "--max-body-mb", "1", NULL};
    e2e_start(&d, NULL, extra);
    size_t n = 3 << 20;
    char *big = malloc(n);
    memset(big, '1', n);
    for (size_t i = 1; i < n; i += 2)
        big[i] = i % 64 == 63 ? '\n' : ',';
    e2e_resp r = e2e_get(&d, "/healthz");
    e2e_resp_free(&r);
    long before = e2e_rss_kb(&d);
    r = e2e_req(&d, "POST", "/v1/datasets", "text/csv", big, n, NULL);
    long after = e2e_rss_kb(&d);
    expect_error(&r, 413, "too_large", NULL);
    /* it would grow by the whole 3 MB if the body were buffered */
    ck_assert_msg(after - before < (long)(n / 2 / 1024), "RSS grew by %ld kB", after - before);
    r = e2e_req(&d, "POST", "/v1/models", "application/json", big, n, NULL);
    expect_error(&r, 413, "too_large", NULL);
    /* without a Content-Length (chunked) the limit is found while the body
     * arrives: the rest is read and dropped, up to twice the limit, then
     * the 413 answered (1.5 MB here); an upload goes to disk meanwhile, so
     * the memory stays as it was (a JSON body is held in memory up to the
     * limit, which a sanitizer build keeps in its quarantine after the
     * free: no memory check after that one) */
    static const char *const routes[] = {"/v1/datasets", "/v1/models"};
    for (int i = 0; i < 2; i++) {
        double t0 = now_s();
        r = e2e_req(&d, "POST", routes[i], i ? "application/json" : "text/csv", big,
                    3 << 19, "Transfer-Encoding: chunked");
        ck_assert_msg(now_s() - t0 < 5, "%s: answered after %.1f s", routes[i], now_s() - t0);
        ck_assert_ptr_nonnull(strstr(r.body, "larger than the limit of 1 MB"));
        expect_error(&r, 413, "too_large", NULL);
        if (i == 0) {
            after = e2e_rss_kb(&d);
            ck_assert_msg(after - before < (long)(n / 2 / 1024), "RSS grew by %ld kB",
                          after - before);
        }
    }
    /* past twice the limit the body is not read to its end: closed */
    double t0 = now_s();
    r = e2e_req(&d, "POST", "/v1/datasets", "text/csv", big, n, "Transfer-Encoding: chunked");
    ck_assert_msg(now_s() - t0 < 5, "closed after %.1f s", now_s() - t0);
    ck_assert_msg(r.status < 0, "3 MB chunked: %ld %s (want a closed connection)", r.status,
                  r.body);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 0);
    e2e_resp_free(&r);
    free(big);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Models */

START_TEST(models)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    e2e_resp r = e2e_json(&d, "POST", "/v1/models?name=blobs-mlp", blob_model);
    ck_assert_msg(r.status == 201, "%s", r.body);
    json_t *sum = json_object_get(r.json, "summary");
    ck_assert_int_eq(e2e_int(sum, "total_params"), 4 * 16 + 16 + 16 * 3 + 3);
    ck_assert_int_eq(json_array_size(json_object_get(sum, "layers")), 2);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "definition"), "loss"), "cross_entropy");
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", "/v1/models?dry_run=true", blob_model);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(json_object_get(r.json, "id"));
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", "/v1/models", "{\"input\": [4], \"layers\": [");
    expect_error(&r, 400, "malformed_json", NULL);
    r = e2e_req(&d, "POST", "/v1/models", "text/plain", "{}", 2, NULL);
    expect_error(&r, 415, "unsupported_media_type", NULL);
    r = e2e_json(&d, "POST", "/v1/models",
                 "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 0}], "
                 "\"loss\": \"mse\"}");
    expect_error(&r, 422, "invalid_model", "/layers/0/units");
    r = e2e_json(&d, "POST", "/v1/models",
                 "{\"input\": [1, 28, 28], \"layers\": [{\"type\": \"dense\", \"units\": 4}], "
                 "\"loss\": \"mse\"}");
    expect_error(&r, 422, "invalid_model", "/layers/0/type");
    r = e2e_get(&d, "/v1/models");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "models")), 1);
    e2e_resp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/v1/models/%lld", id);
    r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(e2e_str(r.json, "name"), "blobs-mlp");
    e2e_resp_free(&r);
    r = e2e_req(&d, "DELETE", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 204);
    e2e_resp_free(&r);
    r = e2e_get(&d, path);
    expect_error(&r, 404, "not_found", NULL);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Jobs */

START_TEST(job_errors)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *csv = blobs_csv(60, 1, &len);
    long long ds = upload_csv(&d, csv, len, "blobs");
    long long m = create(&d, "/v1/models", blob_model);
    char body[2048];
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": 99}", m);
    e2e_resp r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "unknown_reference", "/dataset");
    snprintf(body, sizeof body, "{\"model\": 77, \"dataset\": %lld}", ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "unknown_reference", "/model");
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"colour\": 1}", m, ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "invalid_job", "/colour");
    snprintf(body, sizeof body,
             "{\"model\": {\"input\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 3}], "
             "\"loss\": \"cross_entropy\"}, \"dataset\": %lld}", ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_ptr_nonnull(strstr(r.body, "takes 5"));
    expect_error(&r, 422, "data_mismatch", "/dataset");
    snprintf(body, sizeof body,
             "{\"model\": {\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
             "\"loss\": \"cross_entropy\"}, \"dataset\": %lld}", ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "data_mismatch", "/dataset");   /* 3 classes, 2 outputs */
    snprintf(body, sizeof body,
             "{\"model\": {\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 6, "
             "\"activation\": \"softmax\"}], \"loss\": \"cross_entropy\"}, \"dataset\": %lld}",
             ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_msg(strstr(r.body, "3 classes but the model outputs 6") != NULL, "%s", r.body);
    expect_error(&r, 422, "data_mismatch", "/dataset");   /* 3 classes, 6 outputs */
    snprintf(body, sizeof body,
             "{\"model\": {\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 0}], "
             "\"loss\": \"mse\"}, \"dataset\": %lld}", ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "invalid_model", "/model/layers/0/units");
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"training\": "
                                "{\"epochs\": 0}}", m, ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "invalid_job", "/training/epochs");
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"training\": "
                                "{\"early_stopping\": {\"monitor\": \"val_loss\"}}}", m, ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "invalid_job", "/training/early_stopping/monitor");
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"validation\": "
                                "{\"split\": 1.5}}", m, ds);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    expect_error(&r, 422, "invalid_job", "/validation/split");
    r = e2e_json(&d, "POST", "/v1/jobs", "[1, 2]");
    expect_error(&r, 422, "invalid_job", "");
    r = e2e_json(&d, "POST", "/v1/jobs", "{\"model\": ");
    expect_error(&r, 400, "malformed_json", NULL);
    r = e2e_get(&d, "/v1/jobs");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "jobs")), 0);   /* nothing stored */
    e2e_resp_free(&r);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* Reads a whole event stream (it ends by itself after a finished state). */
static char *read_events(const e2e_daemon *d, long long job, const char *last_id)
{
    char path[64], hdr[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/events", job);
    snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", last_id ? last_id : "0");
    e2e_resp r = e2e_req(d, "GET", path, NULL, NULL, 0, last_id ? hdr : NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.content_type, "text/event-stream"));
    char *body = r.body;
    r.body = NULL;
    e2e_resp_free(&r);
    return body;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

START_TEST(train_to_success)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *csv = blobs_csv(300, 1, &len);
    long long ds = upload_csv(&d, csv, len, "blobs");
    long long m = create(&d, "/v1/models?name=mlp", blob_model);
    char body[512], path[128];
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"validation\": {\"split\": "
                                "0.2}, \"log_every_steps\": 4}", m, ds);
    e2e_resp r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    long long id = e2e_int(r.json, "id");
    /* queued, unless a worker's own poll took it before the answer was read */
    ck_assert_msg(!strcmp(e2e_str(r.json, "state"), "queued") ||
                      !strcmp(e2e_str(r.json, "state"), "running"), "%s", r.body);
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    ck_assert_str_eq(r.location, path);
    e2e_resp_free(&r);

    json_t *j = e2e_wait_job(&d, id, "succeeded failed", 60);
    ck_assert_msg(j != NULL, "job did not finish:\n%s", e2e_log_tail(&d));
    ck_assert_msg(!strcmp(e2e_str(j, "state"), "succeeded"), "%s", e2e_str(j, "error"));
    ck_assert_str_eq(e2e_str(j, "stop_reason"), "max_epochs");
    json_t *prog = json_object_get(j, "progress");
    ck_assert_int_eq(e2e_int(prog, "epoch"), 15);
    ck_assert_double_eq(json_real_value(json_object_get(prog, "fraction")), 1.0);
    ck_assert_int_eq(e2e_int(json_object_get(j, "last_metrics"), "epoch"), 15);
    double acc = json_real_value(json_object_get(json_object_get(j, "last_metrics"),
                                                 "val_accuracy"));
    ck_assert_msg(acc > 0.8, "val accuracy %g", acc);
    ck_assert_int_eq(e2e_int(j, "attempts"), 1);
    ck_assert_int_eq(e2e_int(j, "model"), m);
    json_decref(j);

    /* the curve */
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch", id);
    r = e2e_get(&d, path);
    json_t *rows = json_object_get(r.json, "metrics");
    ck_assert_int_eq(json_array_size(rows), 15);
    for (size_t i = 0; i < 15; i++)
        ck_assert_int_eq(e2e_int(json_array_get(rows, i), "epoch"), (long long)i + 1);
    long long seq10 = e2e_int(json_array_get(rows, 9), "seq");
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch&since=%lld", id, seq10);
    r = e2e_get(&d, path);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "metrics")), 5);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch&max_points=5", id);
    r = e2e_get(&d, path);
    rows = json_object_get(r.json, "metrics");
    ck_assert_int_le(json_array_size(rows), 5);
    ck_assert_int_eq(e2e_int(json_array_get(rows, 0), "epoch"), 1);
    ck_assert_int_eq(e2e_int(json_array_get(rows, json_array_size(rows) - 1), "epoch"), 15);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=step", id);
    r = e2e_get(&d, path);
    ck_assert_int_gt(json_array_size(json_object_get(r.json, "metrics")), 10);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch", id);
    r = e2e_req(&d, "GET", path, NULL, NULL, 0, "Accept: text/csv");
    ck_assert_ptr_nonnull(strstr(r.content_type, "text/csv"));
    ck_assert_int_eq(count(r.body, "\n"), 16);
    ck_assert_ptr_nonnull(strstr(r.body, "seq,kind,epoch"));
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?max_points=2", id);
    r = e2e_get(&d, path);
    expect_error(&r, 400, "invalid_parameter", "max_points");

    /* the event stream: history, in order, then the end */
    char *ev = read_events(&d, id, NULL);
    ck_assert_int_eq(count(ev, "event: state"), 3);   /* queued, running, succeeded */
    ck_assert_int_ge(count(ev, "event: metric"), 15);
    ck_assert_ptr_nonnull(strstr(ev, "\"state\":\"succeeded\""));
    const char *last_state = strstr(ev, "\"state\":\"succeeded\"");
    ck_assert_ptr_null(strstr(last_state, "event: metric"));   /* nothing after the end */
    snprintf(path, sizeof path, "/v1/jobs/%lld/events", id);
    r = e2e_req(&d, "GET", path, NULL, NULL, 0, "Last-Event-ID: five");
    expect_error(&r, 400, "invalid_parameter", "Last-Event-ID");
    char *resumed = read_events(&d, id, "5");
    ck_assert_ptr_null(strstr(resumed, "id: 5\n"));
    ck_assert_ptr_nonnull(strstr(resumed, "id: 6\n"));
    free(ev);
    free(resumed);

    /* weights */
    static const char *which[] = {"final", "best", "latest"};
    for (int w = 0; w < 3; w++) {
        snprintf(path, sizeof path, "/v1/jobs/%lld/weights?which=%s", id, which[w]);
        r = e2e_get(&d, path);
        ck_assert_msg(r.status == 200, "%s: %ld", which[w], r.status);
        nn_st_file *f;
        nn_err e;
        ck_assert_msg(nn_st_parse(r.body, r.len, &f, &e) == NN_OK, "%s", e.msg);
        int rank;
        int64_t shape[NN_MAX_RANK];
        ck_assert_int_eq(nn_st_info(f, "layers.0.weight", NULL, &rank, shape, NULL), NN_OK);
        ck_assert_int_eq(shape[0], 16);
        ck_assert_int_eq(shape[1], 4);
        nn_st_free(f);
        e2e_resp_free(&r);
    }
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights?which=first", id);
    r = e2e_get(&d, path);
    expect_error(&r, 400, "invalid_parameter", "which");

    /* predictions */
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", id);
    r = e2e_json(&d, "POST", path, "{\"instances\": [[0, 1, 0, 0], [1.5, 0, 0.7, 0], "
                                   "[[3.0, -1.0], [2.8, 0]]]}");
    ck_assert_msg(r.status == 200, "%s", r.body);
    json_t *preds = json_object_get(r.json, "predictions");
    ck_assert_int_eq(json_array_size(preds), 3);
    static const char *want[3] = {"virginica", "setosa", "versicolor"};   /* blob c -> name */
    for (int i = 0; i < 3; i++) {
        json_t *p = json_array_get(preds, (size_t)i);
        json_t *pr = json_object_get(p, "probabilities");
        double s = 0;
        for (size_t k = 0; k < json_array_size(pr); k++)
            s += json_real_value(json_array_get(pr, k));
        ck_assert_double_eq_tol(s, 1, 1e-5);
        ck_assert_str_eq(e2e_str(p, "class"), want[i]);
    }
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", path, "{\"instances\": [[0, 1, 0]]}");
    expect_error(&r, 422, "data_mismatch", "/instances/0");
    r = e2e_json(&d, "POST", path, "{\"instances\": [[0, 1, \"a\", 0]]}");
    expect_error(&r, 422, "data_mismatch", "/instances/0/2");

    /* the dataset is in use by nothing now: deleting the job, then it */
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    r = e2e_req(&d, "DELETE", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 204);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics", id);
    r = e2e_get(&d, path);
    expect_error(&r, 404, "not_found", NULL);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

static const char *slow_model =
    "{\"input\": [40], \"layers\": [{\"type\": \"dense\", \"units\": 256, \"activation\": \"relu\"},"
    " {\"type\": \"dropout\", \"rate\": 0.1},"
    " {\"type\": \"dense\", \"units\": 256, \"activation\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": 4, \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\","
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.001}, \"batch_size\": 64,"
    " \"epochs\": %d, \"seed\": 9, \"validation_split\": 0.1}}";

static long long slow_job(const e2e_daemon *d, long long ds, int epochs, int priority)
{
    char model[1024], body[1536];
    snprintf(model, sizeof model, slow_model, epochs);
    snprintf(body, sizeof body, "{\"model\": %s, \"dataset\": %lld, \"priority\": %d}", model, ds,
             priority);
    return create(d, "/v1/jobs", body);
}

START_TEST(cancel_and_delete)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *csv = wide_csv(4000, 40, 3, &len);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long a = slow_job(&d, ds, 100000, 0);
    json_t *j = e2e_wait_job(&d, a, "running", 20);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    long long b = slow_job(&d, ds, 3, 0);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", b);
    e2e_resp r = e2e_get(&d, path);
    ck_assert_str_eq(e2e_str(r.json, "state"), "queued");
    ck_assert_int_eq(e2e_int(r.json, "queue_position"), 1);
    e2e_resp_free(&r);
    /* the dataset is in use */
    snprintf(path, sizeof path, "/v1/datasets/%lld", ds);
    r = e2e_req(&d, "DELETE", path, NULL, NULL, 0, NULL);
    expect_error(&r, 409, "conflict", NULL);
    /* a running job cannot be deleted */
    snprintf(path, sizeof path, "/v1/jobs/%lld", a);
    r = e2e_req(&d, "DELETE", path, NULL, NULL, 0, NULL);
    expect_error(&r, 409, "conflict", NULL);
    /* cancel the queued one: at once */
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", b);
    r = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(e2e_str(r.json, "state"), "cancelled");
    ck_assert_str_eq(e2e_str(r.json, "stop_reason"), "cancelled");
    e2e_resp_free(&r);
    /* cancel the running one: within a step */
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", a);
    r = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_true(json_object_get(r.json, "cancel_requested")));
    e2e_resp_free(&r);
    j = e2e_wait_job(&d, a, "cancelled", 10);
    ck_assert_msg(j != NULL, "not cancelled:\n%s", e2e_log_tail(&d));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights", a);   /* its last weights */
    r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", a);
    r = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    expect_error(&r, 409, "conflict", NULL);
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", b);
    r = e2e_json(&d, "POST", path, "{\"instances\": [[0]]}");
    expect_error(&r, 409, "conflict", NULL);
    /* listing with a filter and pages */
    r = e2e_get(&d, "/v1/jobs?state=cancelled&limit=1");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "jobs")), 1);
    ck_assert_int_eq(e2e_int(json_array_get(json_object_get(r.json, "jobs"), 0), "id"), b);
    long long cursor = e2e_int(r.json, "next_cursor");
    ck_assert_int_eq(cursor, b);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs?state=cancelled&limit=1&cursor=%lld", cursor);
    r = e2e_get(&d, path);
    ck_assert_int_eq(e2e_int(json_array_get(json_object_get(r.json, "jobs"), 0), "id"), a);
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld", a);
    r = e2e_req(&d, "DELETE", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 204);
    e2e_resp_free(&r);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* A query value that is not UTF-8, or holds a NUL, is refused before
 * anything is stored (a name of such bytes was stored, then answered 500
 * forever); the answer is JSON whatever bytes it quotes. */
START_TEST(query_values_are_utf8_text)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    static const char csv[] = "a,label\n1,0\n2,1\n";
    static const char *const names[] = {"%FF%FE", "%C0%AF", "%ED%A0%80", "a%00b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/datasets?name=%s", names[i]);
        e2e_resp r = e2e_req(&d, "POST", path, "text/csv", csv, sizeof csv - 1, NULL);
        ck_assert_msg(r.json != NULL, "%s: not JSON: %s", names[i], r.body);
        expect_error(&r, 400, "invalid_parameter", "name");
        snprintf(path, sizeof path, "/v1/models?name=%s", names[i]);
        r = e2e_json(&d, "POST", path, blob_model);
        expect_error(&r, 400, "invalid_parameter", "name");
    }
    e2e_resp r = e2e_get(&d, "/v1/datasets");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 0);
    e2e_resp_free(&r);
    r = e2e_get(&d, "/v1/models");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "models")), 0);
    e2e_resp_free(&r);
    /* a path that is not UTF-8: a JSON 400, no heap bytes */
    r = e2e_get(&d, "/%ff");
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(r.json != NULL, "%s", r.body);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

static long long status_of(const e2e_daemon *d, const char *method, const char *path)
{
    e2e_resp r = e2e_req(d, method, path, NULL, NULL, 0, NULL);
    long long st = r.status;
    e2e_resp_free(&r);
    return st;
}

/* A finished job keeps the ids of the datasets and the model it was made
 * from after they are deleted (they answer 404), and no id is given twice:
 * the newest job, dataset and model deleted, the daemon restarted, the next
 * ones get new ids. */
START_TEST(ids_are_kept_and_never_reused)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len, vlen;
    char *csv = blobs_csv(60, 1, &len), *vcsv = blobs_csv(30, 2, &vlen);
    long long ds = upload_csv(&d, csv, len, "train"), vs = upload_csv(&d, vcsv, vlen, "val");
    long long m = create(&d, "/v1/models", blob_model);
    char body[512], path[64];
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"validation\": "
             "{\"dataset\": %lld}, \"training\": {\"epochs\": 2}}", m, ds, vs);
    long long id = create(&d, "/v1/jobs", body);
    json_t *j = e2e_wait_job(&d, id, "succeeded failed", 60);
    ck_assert_msg(j && !strcmp(e2e_str(j, "state"), "succeeded"), "%s", e2e_log_tail(&d));
    json_decref(j);

    /* only a finished job uses them: they can go, and the job keeps the ids */
    snprintf(path, sizeof path, "/v1/datasets/%lld", ds);
    ck_assert_int_eq(status_of(&d, "DELETE", path), 204);
    ck_assert_int_eq(status_of(&d, "GET", path), 404);
    snprintf(path, sizeof path, "/v1/datasets/%lld", vs);
    ck_assert_int_eq(status_of(&d, "DELETE", path), 204);
    snprintf(path, sizeof path, "/v1/models/%lld", m);
    ck_assert_int_eq(status_of(&d, "DELETE", path), 204);
    ck_assert_int_eq(status_of(&d, "GET", path), 404);
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    e2e_resp r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(json_is_integer(json_object_get(r.json, "dataset")), "%s", r.body);
    ck_assert_int_eq(e2e_int(r.json, "dataset"), ds);
    ck_assert_int_eq(e2e_int(r.json, "model"), m);
    ck_assert_int_eq(e2e_int(json_object_get(r.json, "validation"), "dataset"), vs);
    e2e_resp_free(&r);
    /* and it still answers for its weights */
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights", id);
    ck_assert_int_eq(status_of(&d, "GET", path), 200);

    /* the newest of each kind gone, a restart: new ids all the same */
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    ck_assert_int_eq(status_of(&d, "DELETE", path), 204);
    char db[512];
    snprintf(db, sizeof db, "%s", d.db);
    ck_assert_int_eq(e2e_stop(&d), 0);
    e2e_start(&d, db, NULL);
    long long ds2 = upload_csv(&d, csv, len, "again");
    long long m2 = create(&d, "/v1/models", blob_model);
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld, \"training\": "
             "{\"epochs\": 1}}", m2, ds2);
    long long id2 = create(&d, "/v1/jobs", body);
    ck_assert_int_gt(ds2, vs);
    ck_assert_int_gt(m2, m);
    ck_assert_int_gt(id2, id);
    ck_assert_int_eq(status_of(&d, "GET", path), 404);   /* the old job's URL */
    snprintf(path, sizeof path, "/v1/datasets/%lld", vs);
    ck_assert_int_eq(status_of(&d, "GET", path), 404);
    j = e2e_wait_job(&d, id2, "succeeded failed", 60);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    free(csv);
    free(vcsv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* A validation loss that overflows to +Inf: the job stops as diverged, and
 * the epoch it happened in keeps its last_metrics (val_loss null, the
 * other values as they were) and its metric row.  The validation sample
 * x = 3e38 is finite, but batchnorm divides it by a running standard
 * deviation below 1: +Inf in float32, and the dense layer after it (one
 * input, so no Inf - Inf) keeps it infinite. */
START_TEST(infinite_val_loss_keeps_last_metrics)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    char train[2048] = "x,y\n";
    size_t off = strlen(train);
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(train + off, sizeof train - off, "%.3f,%.3f\n", i / 40.0,
                                2 * i / 40.0);
    long long ds = upload_csv(&d, train, off, "line");
    static const char val[] = "x,y\n3e38,0.5\n1,2.5\n";
    e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=huge&label_kind=numeric", "text/csv",
                         val, sizeof val - 1, NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    long long vs = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    char body[512];
    snprintf(body, sizeof body, "{\"model\": {\"input\": [1], \"layers\": [{\"type\": "
             "\"batchnorm\"}, {\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\", "
             "\"training\": {\"epochs\": 3, \"batch_size\": 8, \"seed\": 1, "
             "\"preprocess\": {\"standardize\": false}}}, "
             "\"dataset\": %lld, \"validation\": {\"dataset\": %lld}}", ds, vs);
    long long id = create(&d, "/v1/jobs", body);
    json_t *j = e2e_wait_job(&d, id, "succeeded failed", 60);
    ck_assert_msg(j != NULL, "%s", e2e_log_tail(&d));
    ck_assert_str_eq(e2e_str(j, "state"), "failed");
    ck_assert_str_eq(e2e_str(j, "stop_reason"), "diverged");
    ck_assert_str_eq(e2e_str(j, "error"), "the validation loss became NaN or infinite in epoch 1");
    const json_t *last = json_object_get(j, "last_metrics");
    ck_assert_msg(json_is_object(last), "the epoch's last_metrics are lost");
    ck_assert_int_eq(e2e_int(last, "epoch"), 1);
    ck_assert_int_eq(e2e_int(last, "global_step"), 5);
    ck_assert(json_is_null(json_object_get(last, "val_loss")));
    double loss = json_real_value(json_object_get(last, "loss"));
    ck_assert_msg(isfinite(loss) && loss > 0, "loss %g", loss);
    ck_assert(json_real_value(json_object_get(last, "lr")) == 0.001);
    ck_assert(json_real_value(json_object_get(last, "samples_per_second")) > 0);
    json_decref(j);
    /* the metric row says the same, as its event does */
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics", id);
    r = e2e_get(&d, path);
    const json_t *row = json_array_get(json_object_get(r.json, "metrics"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "metrics")), 1);
    ck_assert(json_is_null(json_object_get(row, "val_loss")));
    ck_assert(json_real_value(json_object_get(row, "loss")) == loss);
    e2e_resp_free(&r);
    char *ev = read_events(&d, id, NULL);
    ck_assert_ptr_nonnull(strstr(ev, "\"val_loss\":null"));
    free(ev);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* What one answer shows about a job holds together: a job answered queued
 * has its place in the queue (POST /v1/jobs on an idle server answered
 * queued with a null position: the worker took it between the two reads);
 * threads is the daemon's --threads from the start; a job cancelled in the
 * middle of an epoch keeps the progress it reached (it fell back to the
 * last whole epoch, 0 in the first). */
START_TEST(job_answers_hold_together)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--threads", "1", NULL};
    e2e_start(&d, NULL, extra);
    size_t len;
    char *csv = blobs_csv(60, 3, &len);
    long long small = upload_csv(&d, csv, len, "blobs");
    free(csv);
    char body[1536], path[64];
    snprintf(body, sizeof body, "{\"model\": %s, \"dataset\": %lld, \"training\": "
             "{\"epochs\": 1}}", blob_model, small);
    for (int i = 0; i < 8; i++) {   /* each on an idle server */
        e2e_resp r = e2e_json(&d, "POST", "/v1/jobs", body);
        ck_assert_int_eq(r.status, 201);
        const char *st = e2e_str(r.json, "state");
        json_t *pos = json_object_get(r.json, "queue_position");
        /* queued and first, or (when a worker's own poll came first) running */
        ck_assert_msg((!strcmp(st, "queued") && json_integer_value(pos) == 1) ||
                          (!strcmp(st, "running") && json_is_null(pos)),
                      "answered %s at position %s", st, r.body);
        ck_assert_int_eq(e2e_int(r.json, "threads"), 1);
        json_t *j = e2e_wait_job(&d, e2e_int(r.json, "id"), "succeeded", 20);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(e2e_int(j, "threads"), 1);
        json_decref(j);
        e2e_resp_free(&r);
    }

    /* one trains, one waits: the waiting one shows its place and threads */
    csv = wide_csv(3000, 40, 8, &len);
    long long ds = upload_csv(&d, csv, len, "wide");
    free(csv);
    long long busy = slow_job(&d, ds, 100000, 0), next = slow_job(&d, ds, 2, 0);
    json_t *j = e2e_wait_job(&d, busy, "running", 20);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/jobs/%lld", next);
    e2e_resp r = e2e_get(&d, path);
    ck_assert_str_eq(e2e_str(r.json, "state"), "queued");
    ck_assert_int_eq(e2e_int(r.json, "queue_position"), 1);
    ck_assert_int_eq(e2e_int(r.json, "threads"), 1);
    e2e_resp_free(&r);

    /* cancel the busy one in the middle of an epoch */
    snprintf(path, sizeof path, "/v1/jobs/%lld", busy);
    long long epoch = 0, step = 0, spe = 0;
    for (int t = 0; t < 1000 && !(step > 0 && step < spe); t++) {
        r = e2e_get(&d, path);
        json_t *p = json_object_get(r.json, "progress");
        epoch = e2e_int(p, "epoch"), step = e2e_int(p, "step"), spe = e2e_int(p, "steps_per_epoch");
        e2e_resp_free(&r);
    }
    ck_assert_msg(step > 0 && step < spe, "never saw the job inside an epoch");
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", busy);
    r = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    j = e2e_wait_job(&d, busy, "cancelled", 20);
    ck_assert_ptr_nonnull(j);
    json_t *p = json_object_get(j, "progress");
    long long e2 = e2e_int(p, "epoch"), s2 = e2e_int(p, "step");
    ck_assert_msg(e2 > epoch || (e2 == epoch && s2 >= step),
                  "cancelled at epoch %lld step %lld after epoch %lld step %lld was seen", e2, s2,
                  epoch, step);
    ck_assert_int_eq(e2e_int(p, "steps_per_epoch"), spe);
    ck_assert_int_eq(e2e_int(p, "epochs"), 100000);
    double frac = json_real_value(json_object_get(p, "fraction"));
    ck_assert_double_eq_tol(frac, ((double)(e2 - 1) * spe + s2) / (100000.0 * spe), 1e-9);
    ck_assert_int_eq(e2e_int(j, "threads"), 1);
    json_decref(j);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

START_TEST(two_workers_three_jobs)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--workers", "2", "--threads", "1", NULL};
    e2e_start(&d, NULL, extra);
    size_t len;
    char *csv = wide_csv(3000, 40, 4, &len);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = slow_job(&d, ds, 6, 0);
    int max_running = 0;
    for (int t = 0; t < 600; t++) {
        e2e_resp r = e2e_get(&d, "/v1/jobs?state=running");
        int n = (int)json_array_size(json_object_get(r.json, "jobs"));
        e2e_resp_free(&r);
        max_running = n > max_running ? n : max_running;
        r = e2e_get(&d, "/v1/jobs?state=succeeded");
        int done = (int)json_array_size(json_object_get(r.json, "jobs"));
        e2e_resp_free(&r);
        if (done == 3)
            break;
        usleep(50000);
    }
    ck_assert_int_eq(max_running, 2);
    for (int i = 0; i < 3; i++) {
        json_t *j = e2e_wait_job(&d, ids[i], "succeeded", 1);
        ck_assert_msg(j != NULL, "job %lld did not succeed:\n%s", ids[i], e2e_log_tail(&d));
        ck_assert_int_eq(e2e_int(j, "threads"), 1);
        json_decref(j);
    }
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Crashes and restarts */

static void *final_weights(const e2e_daemon *d, long long id, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights", id);
    e2e_resp r = e2e_get(d, path);
    ck_assert_int_eq(r.status, 200);
    void *w = r.body;
    *len = r.len;
    r.body = NULL;
    e2e_resp_free(&r);
    return w;
}

/* An uninterrupted run of the slow job, for comparison, on a daemon started
 * with `extra` arguments. */
static void *reference_run(const char *csv, size_t len, int epochs, const char *const *extra,
                           size_t *wlen)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, extra);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long id = slow_job(&d, ds, epochs, 0);
    json_t *j = e2e_wait_job(&d, id, "succeeded failed", 120);
    ck_assert_msg(j && !strcmp(e2e_str(j, "state"), "succeeded"), "reference run failed:\n%s",
                  e2e_log_tail(&d));
    json_decref(j);
    void *w = final_weights(&d, id, wlen);
    ck_assert_int_eq(e2e_stop(&d), 0);
    return w;
}

/* Waits until the job has committed at least `epoch` epochs. */
static void wait_epoch(const e2e_daemon *d, long long id, int epoch)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    for (int t = 0; t < 2000; t++) {
        e2e_resp r = e2e_get(d, path);
        int e = (int)e2e_int(json_object_get(r.json, "last_metrics"), "epoch");
        e2e_resp_free(&r);
        if (e >= epoch)
            return;
        usleep(10000);
    }
    ck_abort_msg("job %lld never reached epoch %d:\n%s", id, epoch, e2e_log_tail(d));
}

static void check_rows(const e2e_daemon *d, long long id, int epochs)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch", id);
    e2e_resp r = e2e_get(d, path);
    json_t *rows = json_object_get(r.json, "metrics");
    ck_assert_int_eq(json_array_size(rows), epochs);
    for (int i = 0; i < epochs; i++)
        ck_assert_int_eq(e2e_int(json_array_get(rows, (size_t)i), "epoch"), i + 1);
    e2e_resp_free(&r);
}

/* The reference runs on one thread, the interrupted job on every core (the
 * weights do not depend on the thread count, core/train.h). */
START_TEST(kill9_resumes_bit_identical)
{
    enum { EPOCHS = 30 };
    size_t len, rlen, wlen;
    char *csv = wide_csv(6000, 40, 5, &len);
    const char *one[] = {"--threads", "1", NULL};
    void *want = reference_run(csv, len, EPOCHS, one, &rlen);

    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long id = slow_job(&d, ds, EPOCHS, 0);
    wait_epoch(&d, id, 6);
    e2e_kill9(&d);
    char db[512];
    snprintf(db, sizeof db, "%s", d.db);
    e2e_start(&d, db, NULL);
    json_t *j = e2e_wait_job(&d, id, "succeeded failed", 120);
    ck_assert_msg(j && !strcmp(e2e_str(j, "state"), "succeeded"), "resumed job:\n%s",
                  e2e_log_tail(&d));
    ck_assert_int_eq(e2e_int(j, "attempts"), 2);
    json_decref(j);
    check_rows(&d, id, EPOCHS);
    void *got = final_weights(&d, id, &wlen);
    ck_assert_int_eq(wlen, rlen);
    ck_assert_msg(memcmp(got, want, wlen) == 0, "resumed weights differ from an uninterrupted run");
    free(got);
    free(want);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* The job is paused mid-epoch on every core and resumed on one thread. */
START_TEST(sigterm_checkpoints_and_resumes)
{
    enum { EPOCHS = 30 };
    size_t len, rlen, wlen;
    char *csv = wide_csv(6000, 40, 5, &len);
    void *want = reference_run(csv, len, EPOCHS, NULL, &rlen);

    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long id = slow_job(&d, ds, EPOCHS, 0);
    wait_epoch(&d, id, 3);
    usleep(20000);   /* somewhere inside an epoch */
    char db[512], jpath[64];
    snprintf(db, sizeof db, "%s", d.db);
    snprintf(jpath, sizeof jpath, "/v1/jobs/%lld", id);
    e2e_resp before = e2e_get(&d, jpath);
    json_t *prep = json_incref(json_object_get(before.json, "preprocessing"));
    e2e_resp_free(&before);
    ck_assert_msg(json_is_object(prep), "a CSV job shows the preprocessing it fitted");
    ck_assert_int_eq(e2e_stop(&d), 0);   /* exits 0, quickly */
    const char *one[] = {"--threads", "1", NULL};
    e2e_start(&d, db, one);
    json_t *j = e2e_wait_job(&d, id, "succeeded failed", 120);
    ck_assert_msg(j && !strcmp(e2e_str(j, "state"), "succeeded"), "resumed job:\n%s",
                  e2e_log_tail(&d));
    ck_assert_int_eq(e2e_int(j, "threads"), 1);
    /* the resumed run applied what the first one fitted, not a new fit */
    ck_assert(json_equal(prep, json_object_get(j, "preprocessing")));
    json_decref(prep);
    json_decref(j);
    check_rows(&d, id, EPOCHS);
    void *got = final_weights(&d, id, &wlen);
    ck_assert_int_eq(wlen, rlen);
    ck_assert_msg(memcmp(got, want, wlen) == 0, "resumed weights differ from an uninterrupted run");
    free(got);
    free(want);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* A client following the stream of a job while it trains sees every epoch
 * in order and the end. */
START_TEST(live_event_stream)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *csv = wide_csv(3000, 40, 6, &len);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long id = slow_job(&d, ds, 8, 0);
    char *ev = read_events(&d, id, NULL);
    for (int e = 1; e <= 8; e++) {
        char want[32];
        snprintf(want, sizeof want, "\"epoch\":%d,", e);
        const char *at = strstr(ev, want);
        ck_assert_msg(at != NULL, "no epoch %d in the stream", e);
    }
    ck_assert_ptr_nonnull(strstr(ev, "\"state\":\"succeeded\""));
    free(ev);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* An event stream read for a while: the arrival time of each keep-alive
 * comment, in seconds from the start of the request. */
typedef struct keepalives {
    double t0, at[64];
    int n;
    char *body;
    size_t len;
} keepalives;

static size_t on_stream(char *p, size_t size, size_t nmemb, void *arg)
{
    keepalives *k = arg;
    size_t add = size * nmemb;
    k->body = realloc(k->body, k->len + add + 1);
    memcpy(k->body + k->len, p, add);
    k->len += add;
    k->body[k->len] = 0;
    int seen = count(k->body, ": keep-alive\n\n");
    while (k->n < seen && k->n < 64)
        k->at[k->n++] = now_s() - k->t0;
    return add;
}

/* The stream of a job queued behind a training one: every change of the
 * training job wakes the stream's wait, and still a keep-alive comes each
 * time the stream has been silent for --sse-keepalive (1 s here), not
 * only when a whole second passes without any job changing. */
START_TEST(keepalive_while_another_job_trains)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--sse-keepalive", "1", NULL};
    e2e_start(&d, NULL, extra);
    size_t len;
    char *csv = wide_csv(3000, 40, 7, &len);
    long long ds = upload_csv(&d, csv, len, "wide");
    long long busy = slow_job(&d, ds, 100000, 0);
    json_t *j = e2e_wait_job(&d, busy, "running", 20);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    long long queued = slow_job(&d, ds, 2, 0);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", busy);
    e2e_resp r = e2e_get(&d, path);
    long long epoch0 = e2e_int(json_object_get(r.json, "progress"), "epoch");
    e2e_resp_free(&r);

    char url[128];
    snprintf(url, sizeof url, "%s/v1/jobs/%lld/events", d.base, queued);
    keepalives k = {.t0 = now_s()};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 4600L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OPERATION_TIMEDOUT);   /* still open */
    curl_easy_cleanup(c);

    /* the stream began with the job's history, then only comments */
    ck_assert_msg(k.body && !strncmp(k.body, "id: 1\nevent: state\n", 19), "%s", k.body);
    ck_assert_int_eq(count(k.body, "event: "), 1);
    ck_assert_msg(k.n >= 3, "%d keep-alives in 4.6 s:\n%s", k.n, k.body);
    for (int i = 0; i < k.n; i++) {
        double gap = k.at[i] - (i ? k.at[i - 1] : 0);
        ck_assert_msg(gap < 1.8 && (i == 0 || gap > 0.8), "keep-alive %d after %.2f s", i, gap);
    }
    /* meanwhile the other job trained on, each epoch a change that woke
     * the stream's wait */
    r = e2e_get(&d, path);
    ck_assert_str_eq(e2e_str(r.json, "state"), "running");
    long long epochs = e2e_int(json_object_get(r.json, "progress"), "epoch") - epoch0;
    ck_assert_msg(epochs >= 3, "the busy job trained %lld epochs meanwhile", epochs);
    printf("keep-alive: %d in 4.6 s while the busy job trained %lld epochs\n", k.n, epochs);
    e2e_resp_free(&r);
    free(k.body);
    free(csv);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* The README's walk-through (examples/walkthrough.sh), word for word, with a
 * token and one epoch. */
START_TEST(readme_walkthrough)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--token", "walk-through", NULL};
    e2e_start(&d, NULL, extra);
    char env[600];
    snprintf(env, sizeof env, "EPOCHS=1 OUT=%s/w.safetensors", tu_tmpdir());
    int st;
    char *out = e2e_run_script(&d, "examples/walkthrough.sh", env, &st);
    ck_assert_msg(st == 0, "walk-through failed:\n%s\n%s", out, e2e_log_tail(&d));
    ck_assert_ptr_nonnull(strstr(out, "\"state\":\"succeeded\",\"stop_reason\":\"max_epochs\""));
    ck_assert_int_eq(count(out, "{\"class\":"), 2);
    ck_assert_ptr_nonnull(strstr(out, "\"total_params\":235146"));
    free(out);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("e2e");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, operations_and_routing);
    tcase_add_test(tc, unknown_query_parameters);
    tcase_add_test(tc, authentication);
    tcase_add_test(tc, datasets);
    tcase_add_test(tc, upload_parts);
    tcase_add_test(tc, oversized_upload);
    tcase_add_test(tc, models);
    tcase_add_test(tc, job_errors);
    tcase_add_test(tc, train_to_success);
    tcase_add_test(tc, cancel_and_delete);
    tcase_add_test(tc, query_values_are_utf8_text);
    tcase_add_test(tc, ids_are_kept_and_never_reused);
    tcase_add_test(tc, infinite_val_loss_keeps_last_metrics);
    tcase_add_test(tc, job_answers_hold_together);
    tcase_add_test(tc, two_workers_three_jobs);
    tcase_add_test(tc, kill9_resumes_bit_identical);
    tcase_add_test(tc, sigterm_checkpoints_and_resumes);
    tcase_add_test(tc, live_event_stream);
    tcase_add_test(tc, keepalive_while_another_job_trains);
    tcase_add_test(tc, readme_walkthrough);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
