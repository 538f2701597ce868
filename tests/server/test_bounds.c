/*
 * test_bounds.c — the real daemon against requests that cost it more than
 * they should or leave it in a state they should not: a predict body of a
 * million instances (refused by its bound before it is read, and by its
 * count before it is parsed, fast and without the memory), a cancel racing
 * the end of a job (a cancel answered 200 always ends the job cancelled,
 * one after the end is a 409 naming the final state), and a battery of
 * failing requests on every state-changing route, each of which must leave
 * the datasets, models and jobs as they were.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "testutil.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char csv[] = "a,b,label\n1,2,0\n2,1,1\n3,3,0\n1,1,1\n0,2,0\n2,0,1\n";

static const char *job_fmt =
    "{\"model\": {\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 4, "
    "\"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}],"
    " \"loss\": \"cross_entropy\", \"training\": {\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.1},"
    " \"batch_size\": 2, \"epochs\": %d}}, \"dataset\": %lld}";

static long long post_id(const e2e_daemon *d, e2e_resp r)
{
    ck_assert_msg(r.status == 201, "%ld %s\n%s", r.status, r.body, e2e_log_tail(d));
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

static long long dataset(const e2e_daemon *d)
{
    return post_id(d, e2e_req(d, "POST", "/v1/datasets?name=t", "text/csv", csv, sizeof csv - 1,
                              NULL));
}

static long long job(const e2e_daemon *d, long long ds, int epochs)
{
    char body[1024];
    snprintf(body, sizeof body, job_fmt, epochs, ds);
    return post_id(d, e2e_json(d, "POST", "/v1/jobs", body));
}

/* "{"instances": [" n copies of item, joined by commas "]}" */
static char *instances(long n, const char *item, size_t *len)
{
    size_t k = strlen(item), cap = (size_t)n * (k + 1) + 32, off = 0;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    off += (size_t)sprintf(b, "{\"instances\": [");
    for (long i = 0; i < n; i++) {
        if (i)
            b[off++] = ',';
        memcpy(b + off, item, k);
        off += k;
    }
    off += (size_t)sprintf(b + off, "]}");
    *len = off;
    return b;
}

static void expect_413(e2e_resp *r, const char *names)
{
    ck_assert_msg(r->status == 413, "status %ld: %.300s", r->status, r->body);
    json_t *e = json_object_get(r->json, "error");
    ck_assert_str_eq(e2e_str(e, "code"), "too_large");
    ck_assert_msg(strstr(e2e_str(e, "message"), names) != NULL, "'%s' not named: %s", names,
                  e2e_str(e, "message"));
    e2e_resp_free(r);
}

/* 10^6 instances: 413 within a second or so, at a small cost in memory,
 * whether the body says its length or comes in chunks. */
START_TEST(predict_body_is_bounded)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long id = job(&d, dataset(&d), 2);
    json_t *j = e2e_wait_job(&d, id, "succeeded", 60);
    ck_assert_msg(j != NULL, "%s", e2e_log_tail(&d));
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", id);
    size_t len;
    char *big = instances(1000000, "[0.5, 1.5]", &len);
    static const char *const how[] = {NULL, "Transfer-Encoding: chunked"};
    for (int k = 0; k < 2; k++) {
        long rss0 = e2e_rss_kb(&d);
        double t0 = now_s();
        e2e_resp r = e2e_req(&d, "POST", path, "application/json", big, len, how[k]);
        double dt = now_s() - t0;
        long grew = e2e_rss_kb(&d) - rss0;
        printf("predict of 10^6 instances (%.1f MB, %s): %ld in %.3f s, daemon RSS %+ld kB\n",
               (double)len / 1e6, k ? "chunked" : "with Content-Length", r.status, dt, grew);
        expect_413(&r, "--max-predict");
        ck_assert_msg(dt < 2.0, "%.3f s", dt);
        ck_assert_msg(grew < 64 * 1024, "RSS grew by %ld kB", grew);
    }
    free(big);
    /* the limit itself is served */
    char *max = instances(10000, "[0.5, 1.5]", &len);
    e2e_resp r = e2e_req(&d, "POST", path, "application/json", max, len, NULL);
    ck_assert_msg(r.status == 200, "%ld %.300s", r.status, r.body);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "predictions")), 10000);
    e2e_resp_free(&r);
    free(max);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* Under the byte bound, too many instances or values are counted, not parsed. */
START_TEST(predict_counts_before_parsing)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--max-predict", "100", NULL};
    e2e_start(&d, NULL, extra);
    long long id = job(&d, dataset(&d), 2);
    json_t *j = e2e_wait_job(&d, id, "succeeded", 60);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", id);
    size_t len;
    char *b = instances(2000, "[0,1]", &len);   /* 12 kB, under the 17 kB bound */
    e2e_resp r = e2e_req(&d, "POST", path, "application/json", b, len, NULL);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "path"), "/instances");
    expect_413(&r, "--max-predict");
    free(b);
    b = malloc(5000 * 2 + 64);   /* one instance of 5000 values */
    len = (size_t)sprintf(b, "{\"instances\": [[");
    for (int i = 0; i < 5000; i++)
        len += (size_t)sprintf(b + len, "%s0", i ? "," : "");
    len += (size_t)sprintf(b + len, "]]}");
    r = e2e_req(&d, "POST", path, "application/json", b, len, NULL);
    expect_413(&r, "values");
    free(b);
    /* within the limits: arrays, objects, strings that look like brackets */
    static const char *const ok[] = {"[0,1]", "{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1.0}",
                                     "[0, 1.5e0]"};
    for (size_t i = 0; i < 4; i++) {
        b = instances(100, ok[i], &len);
        r = e2e_req(&d, "POST", path, "application/json", b, len, NULL);
        ck_assert_msg(r.status == 200, "%s: %ld %.300s", ok[i], r.status, r.body);
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "predictions")), 100);
        e2e_resp_free(&r);
        free(b);
    }
    b = instances(50, "{\"a\": 1, \"b\": 2, \"c,[]\": 3}", &len);
    r = e2e_req(&d, "POST", path, "application/json", b, len, NULL);
    ck_assert_int_eq(r.status, 422);   /* an unknown column, not a count */
    e2e_resp_free(&r);
    free(b);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* Cancels sent at every moment of short jobs' lives: a 200 means the job
 * ends cancelled (with weights); a 409 names the state it had reached. */
START_TEST(cancel_racing_the_end)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long ds = dataset(&d);
    int n200_running = 0, n200_queued = 0, n409 = 0;
    double t_end = now_s() + 60;
    for (int i = 0; i < 60 && now_s() < t_end; i++) {
        long long id = job(&d, ds, 3 + i % 5);
        usleep((useconds_t)(i % 12) * 2500);
        char path[64];
        snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", id);
        e2e_resp r = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
        long st = r.status;
        char state[16], msg[256] = "";
        snprintf(state, sizeof state, "%s", st == 200 ? e2e_str(r.json, "state") : "");
        if (st == 409)
            snprintf(msg, sizeof msg, "%s", e2e_str(json_object_get(r.json, "error"), "message"));
        e2e_resp_free(&r);
        json_t *j = e2e_wait_job(&d, id, "succeeded failed cancelled", 30);
        ck_assert_msg(j != NULL, "job %lld never ended\n%s", id, e2e_log_tail(&d));
        const char *final = e2e_str(j, "state");
        if (st == 200) {
            ck_assert_msg(!strcmp(final, "cancelled"), "job %lld: cancel answered 200 (%s), "
                          "ended %s", id, state, final);
            ck_assert_str_eq(e2e_str(j, "stop_reason"), "cancelled");
            n200_running += !strcmp(state, "running");
            n200_queued += !strcmp(state, "queued") || !strcmp(state, "cancelled");
            if (!strcmp(state, "running")) {   /* its last weights are kept */
                snprintf(path, sizeof path, "/v1/jobs/%lld/weights", id);
                e2e_resp w = e2e_get(&d, path);
                ck_assert_int_eq(w.status, 200);
                e2e_resp_free(&w);
            }
        } else {
            ck_assert_msg(st == 409, "cancel: %ld", st);
            ck_assert_msg(strcmp(final, "cancelled") != 0, "409, yet cancelled");
            ck_assert_msg(strstr(msg, final) != NULL, "409 '%s' does not name %s", msg, final);
            n409++;
        }
        json_decref(j);
    }
    printf("cancel races: %d answered 200 while running, %d while queued, %d answered 409\n",
           n200_running, n200_queued, n409);
    ck_assert_int_gt(n200_running + n200_queued + n409, 10);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * A failed request changes nothing */

/* What a client can list: datasets and models in full, jobs by id and state
 * (a running job's progress moves on its own). */
static char *snapshot(const e2e_daemon *d)
{
    e2e_resp a = e2e_get(d, "/v1/datasets"), b = e2e_get(d, "/v1/models"),
             c = e2e_get(d, "/v1/jobs");
    ck_assert(a.status == 200 && b.status == 200 && c.status == 200);
    json_t *jobs = json_array(), *list = json_object_get(c.json, "jobs");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        json_array_append_new(jobs, json_pack("[I,s]", (json_int_t)e2e_int(o, "id"),
                                              e2e_str(o, "state")));
    }
    json_t *all = json_pack("{s:O,s:O,s:o}", "datasets", a.json, "models", b.json, "jobs", jobs);
    char *text = json_dumps(all, JSON_SORT_KEYS);
    json_decref(all);
    e2e_resp_free(&a);
    e2e_resp_free(&b);
    e2e_resp_free(&c);
    return text;
}

typedef struct bad_req {
    const char *method, *path, *ct, *body, *header;
    long status;
} bad_req;

START_TEST(failed_requests_change_nothing)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long ds = dataset(&d);
    long long done = job(&d, ds, 2);
    json_t *j = e2e_wait_job(&d, done, "succeeded", 60);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    post_id(&d, e2e_json(&d, "POST", "/v1/models?name=m",
                         "{\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
                         "\"loss\": \"mse\"}"));
    long long running = job(&d, ds, 1000000);
    j = e2e_wait_job(&d, running, "running", 30);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    char p_run[64], p_done[64], p_ds[64], p_pred[64], del_run[64], job_missing[1024];
    snprintf(p_run, sizeof p_run, "/v1/jobs/%lld", running);
    snprintf(del_run, sizeof del_run, "/v1/jobs/%lld", running);
    snprintf(p_done, sizeof p_done, "/v1/jobs/%lld/cancel", done);
    snprintf(p_ds, sizeof p_ds, "/v1/datasets/%lld", ds);
    snprintf(p_pred, sizeof p_pred, "/v1/jobs/%lld/predict", done);
    snprintf(job_missing, sizeof job_missing, job_fmt, 2, 999LL);
    char job_bad[1024];
    snprintf(job_bad, sizeof job_bad, job_fmt, -1, ds);
    const bad_req cases[] = {
        {"POST", "/v1/datasets?name=a%00b", "text/csv", csv, NULL, 400},
        {"POST", "/v1/datasets?name=%FF%FE", "text/csv", csv, NULL, 400},
        {"POST", "/v1/datasets?name=x&label=nope", "text/csv", csv, NULL, 400},
        {"POST", "/v1/datasets?name=x", "text/csv", "a,b\n1,\xff\n", NULL, 400},
        {"POST", "/v1/datasets?name=x", "text/plain", csv, NULL, 415},
        {"POST", "/v1/datasets?name=x", "text/csv", csv, "Origin: http://evil.example", 403},
        {"POST", "/v1/datasets?name=x", "text/csv", csv, "Host: evil.example", 403},
        {"POST", "/v1/models?name=a%00b", "application/json", "{\"input\": [2], \"layers\": "
         "[{\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}", NULL, 400},
        {"POST", "/v1/models?name=%C0%AF", "application/json", "{}", NULL, 400},
        {"POST", "/v1/models", "application/json", "{\"input\": [2], \"layers\": []}", NULL, 422},
        {"POST", "/v1/models", "application/json", "{", NULL, 400},
        {"POST", "/v1/models", "text/plain", "{}", NULL, 415},
        {"POST", "/v1/jobs", "application/json", job_missing, NULL, 422},
        {"POST", "/v1/jobs", "application/json", job_bad, NULL, 422},
        {"POST", "/v1/jobs", "application/json", "[]", NULL, 422},
        {"POST", p_done, NULL, NULL, NULL, 409},
        {"POST", p_done, "text/plain", "x", NULL, 415},
        {"DELETE", del_run, NULL, NULL, NULL, 409},
        {"DELETE", p_ds, NULL, NULL, NULL, 409},
        {"DELETE", "/v1/models/999", NULL, NULL, NULL, 404},
        {"POST", p_pred, "application/json", "{\"instances\": [[1, 2, 3]]}", NULL, 422},
        {"POST", p_pred, "application/json", "{\"instances\": []}", NULL, 422},
        {"GET", "/v1/jobs?state=bogus", NULL, NULL, NULL, 400},
    };
    char *before = snapshot(&d);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_req *c = &cases[i];
        e2e_resp r = e2e_req(&d, c->method, c->path, c->ct, c->body, c->body ? strlen(c->body) : 0,
                             c->header);
        ck_assert_msg(r.status == c->status, "%s %s: %ld (want %ld) %s", c->method, c->path,
                      r.status, c->status, r.body);
        ck_assert_msg(json_object_get(r.json, "error") != NULL, "%s %s: %s", c->method, c->path,
                      r.body);
        e2e_resp_free(&r);
        char *after = snapshot(&d);
        ck_assert_msg(!strcmp(before, after), "%s %s changed things:\n%s\n%s", c->method,
                      c->path, before, after);
        free(after);
    }
    free(before);
    snprintf(p_run, sizeof p_run, "/v1/jobs/%lld/cancel", running);
    e2e_resp r = e2e_req(&d, "POST", p_run, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bounds");
    TCase *tc = tcase_create("bounds");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, predict_body_is_bounded);
    tcase_add_test(tc, predict_counts_before_parsing);
    tcase_add_test(tc, cancel_racing_the_end);
    tcase_add_test(tc, failed_requests_change_nothing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
