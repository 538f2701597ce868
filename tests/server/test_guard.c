/*
 * test_guard.c — what a request must be before it is routed (http_guard.h):
 * the Host and Origin rules and the loopback test of --host as tables, then
 * the real daemon: a page's text/plain cancel, a cross-origin multipart
 * upload and a rebinding Host are refused and change nothing; the server's
 * own Origin and the names of --allowed-hosts pass; a %00 in the path is
 * 400 (it used to serve the prefix), hundreds of query parameters are a
 * JSON 414 (the connection used to close without a status); a --host name
 * that only looks loopback needs a token.
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "e2e.h"
#include "http_guard.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------
 * The rules */

START_TEST(host_rule)
{
    static const struct {
        const char *host, *allowed;
        int loopback, ok;
    } cases[] = {
        {"127.0.0.1:8080", "", 1, 1},
        {"127.3.4.5", "", 1, 1},
        {"localhost:1", "", 1, 1},
        {"LOCALHOST.:8080", "", 1, 1},
        {"[::1]:8080", "", 1, 1},
        {"[::1]", "", 1, 1},
        {NULL, "", 1, 0},
        {"", "", 1, 0},
        {"evil.example:8080", "", 1, 0},
        {"127.0.0.1.nip.io:8080", "", 1, 0},
        {"127.1:8080", "", 1, 0},
        {"::1", "", 1, 0},
        {"[::2]:8080", "", 1, 0},
        {"localhost:80a", "", 1, 0},
        {"localhost:", "", 1, 0},
        {"traind.lan:8080", "traind.lan", 1, 1},
        {"TRAIND.LAN:9", "traind.lan", 1, 1},
        {"traind.lan:8080", "other,traind.lan:8080", 1, 1},
        {"traind.lan:8081", "traind.lan:8080", 1, 0},
        {"traind.lanx", "traind.lan", 1, 0},
        {"anything:1", "*", 1, 1},
        /* another address: checked only when --allowed-hosts is given */
        {"evil.example", "", 0, 1},
        {NULL, "", 0, 1},
        {"evil.example", "traind.lan", 0, 0},
        {"traind.lan:8080", "traind.lan", 0, 1},
        {"localhost:8080", "traind.lan", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(http_guard_host_ok(cases[i].host, cases[i].loopback, cases[i].allowed) ==
                          cases[i].ok,
                      "case %zu: Host %s, loopback %d, allowed '%s'", i,
                      cases[i].host ? cases[i].host : "(none)", cases[i].loopback,
                      cases[i].allowed);
}
END_TEST

START_TEST(origin_rule)
{
    static const struct {
        const char *origin, *host, *allowed;
        int ok;
    } cases[] = {
        {NULL, "127.0.0.1:8080", "", 1},
        {"http://127.0.0.1:8080", "127.0.0.1:8080", "", 1},
        {"HTTP://LOCALHOST:8080", "localhost:8080", "", 1},
        {"https://traind.example.com", "traind.example.com", "", 1},
        {"http://traind.example.com", "traind.example.com:80", "", 1},
        {"http://[::1]:8080", "[::1]:8080", "", 1},
        {"null", "127.0.0.1:8080", "", 0},
        {"http://evil.example", "127.0.0.1:8080", "", 0},
        {"http://127.0.0.1:8081", "127.0.0.1:8080", "", 0},
        {"http://localhost:8080", "127.0.0.1:8080", "", 0},
        {"ftp://127.0.0.1:8080", "127.0.0.1:8080", "", 0},
        {"http://127.0.0.1:8080/x", "127.0.0.1:8080", "", 0},
        {"http://127.0.0.1:8080", NULL, "", 0},
        {"http://ui.lan:3000", "127.0.0.1:8080", "ui.lan", 1},
        {"http://ui.lan:3000", "127.0.0.1:8080", "ui.lan:3000", 1},
        {"http://ui.lan", "127.0.0.1:8080", "ui.lan:80", 1},
        {"http://ui.lan:3001", "127.0.0.1:8080", "ui.lan:3000", 0},
        {"http://anything", "127.0.0.1:8080", "*", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(http_guard_origin_ok(cases[i].origin, cases[i].host, cases[i].allowed) ==
                          cases[i].ok,
                      "case %zu: Origin %s, Host %s, allowed '%s'", i,
                      cases[i].origin ? cases[i].origin : "(none)",
                      cases[i].host ? cases[i].host : "(none)", cases[i].allowed);
}
END_TEST

START_TEST(loopback_listen_address)
{
    static const struct {
        const char *host;
        int loopback;
    } cases[] = {
        {"127.0.0.1", 1},     {"127.255.0.9", 1},       {"::1", 1},
        {"::ffff:127.0.0.1", 1}, {"localhost", 1},      {"LocalHost", 1},
        {"127.0.0.1.nip.io", 0}, {"127.evil.example", 0}, {"127.1", 0},
        {"0.0.0.0", 0},       {"::", 0},                {"128.0.0.1", 0},
        {"::ffff:10.0.0.1", 0}, {"localhost.example", 0}, {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(config_is_loopback(cases[i].host) == cases[i].loopback, "%s",
                      cases[i].host);
}
END_TEST

/* A name that only looks loopback is a public address: no token, no start. */
START_TEST(public_looking_host_needs_a_token)
{
    const char *bin = getenv("TRAIND_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s serve --host 127.0.0.1.nip.io --port 0 --db %s/never.db 2>&1",
             bin && *bin ? bin : "./traind", tu_tmpdir());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[1024] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "started: %s", out);
    ck_assert_msg(strstr(out, "without a token") != NULL, "%s", out);
    char db[600];
    snprintf(db, sizeof db, "%s/never.db", tu_tmpdir());
    ck_assert_int_ne(access(db, F_OK), 0);
    /* and a bad --allowed-hosts list is refused at start */
    snprintf(cmd, sizeof cmd, "%s serve --port 0 --allowed-hosts 'a b' --db %s/never.db 2>&1",
             bin && *bin ? bin : "./traind", tu_tmpdir());
    p = popen(cmd, "r");
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    st = pclose(p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "started: %s", out);
    ck_assert_msg(strstr(out, "--allowed-hosts") != NULL, "%s", out);
}
END_TEST

/* ---------------------------------------------------------------------------
 * The daemon */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    e2e_resp *r = arg;
    size_t len = size * n;
    char *b = realloc(r->body, r->len + len + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b + r->len, p, len);
    r->body = b;
    r->len += len;
    r->body[r->len] = 0;
    return len;
}

/* One request with the headers given (NULL-ended), a body of type ct
 * (NULL: none), or a multipart form of one file part when file is set. */
static e2e_resp send_req(const e2e_daemon *d, const char *method, const char *path,
                         const char *ct, const char *body, const char *file,
                         const char *const *headers)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    char line[256], url[2048];
    if (ct) {
        snprintf(line, sizeof line, "Content-Type: %s", ct);
        h = curl_slist_append(h, line);
    } else if (!file) {
        h = curl_slist_append(h, "Content-Type:");   /* not curl's form type */
    }
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_mime *mime = NULL;
    if (file) {
        mime = curl_mime_init(c);
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, "file");
        curl_mime_filedata(part, file);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (body || !strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    snprintf(url, sizeof url, "%s%s", d->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    e2e_resp r;
    memset(&r, 0, sizeof r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    r.status = rc == CURLE_OK ? 0 : -(long)rc;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (!r.body)
        r.body = calloc(1, 1);
    r.json = json_loadb(r.body, r.len, 0, NULL);
    curl_mime_free(mime);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

/* The error's code, and its message naming what it should (a header). */
static void expect_error(e2e_resp *r, long status, const char *code, const char *names)
{
    ck_assert_msg(r->status == status, "status %ld (want %ld): %s", r->status, status, r->body);
    json_t *e = json_object_get(r->json, "error");
    ck_assert_msg(e != NULL, "no JSON error: %s", r->body);
    ck_assert_str_eq(e2e_str(e, "code"), code);
    if (names)
        ck_assert_msg(strstr(e2e_str(e, "message"), names) != NULL, "'%s' not named: %s", names,
                      r->body);
    e2e_resp_free(r);
}

static size_t count_of(const e2e_daemon *d, const char *path, const char *key)
{
    e2e_resp r = e2e_get(d, path);
    ck_assert_int_eq(r.status, 200);
    size_t n = json_array_size(json_object_get(r.json, key));
    e2e_resp_free(&r);
    return n;
}

static const char csv[] = "a,b,label\n1,2,0\n2,1,1\n3,3,0\n1,1,1\n";

static const char *job_body =
    "{\"model\": {\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 2, "
    "\"activation\": \"softmax\"}], \"loss\": \"cross_entropy\", \"training\": {\"optimizer\": "
    "{\"type\": \"sgd\", \"lr\": 0.1}, \"batch_size\": 2, \"epochs\": 1000000}}, \"dataset\": %lld}";

/* A job that trains until cancelled; returns its id. */
static long long long_job(const e2e_daemon *d)
{
    e2e_resp r = e2e_req(d, "POST", "/v1/datasets?name=g", "text/csv", csv, sizeof csv - 1, NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    long long ds = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    char body[1024];
    snprintf(body, sizeof body, job_body, ds);
    r = e2e_json(d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

/* A page's cross-site requests: what a browser sends without a preflight. */
START_TEST(cross_site_requests_are_refused)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long job = long_job(&d);
    json_t *j = e2e_wait_job(&d, job, "running", 20);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    char path[64], own[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", job);
    snprintf(own, sizeof own, "Origin: %s", d.base);
    /* a text/plain or form POST: refused whatever its origin */
    static const char *const simple[] = {"text/plain", "application/x-www-form-urlencoded",
                                         "multipart/form-data; boundary=x", "Text/Plain;charset=utf-8"};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        e2e_resp r = send_req(&d, "POST", path, simple[i], "x", NULL, NULL);
        expect_error(&r, 415, "unsupported_media_type", "Content-Type");
        const char *hs[] = {own, NULL};
        r = send_req(&d, "POST", path, simple[i], "x", NULL, hs);
        expect_error(&r, 415, "unsupported_media_type", "Content-Type");
    }
    /* a JSON route refuses them before reading the body */
    e2e_resp r = send_req(&d, "POST", "/v1/models", "text/plain", "{\"input\": [2]}", NULL, NULL);
    expect_error(&r, 415, "unsupported_media_type", "Content-Type");
    /* another origin, a sandboxed page ("null"), another port of ours */
    char other_port[96];
    snprintf(other_port, sizeof other_port, "Origin: http://127.0.0.1:%d", d.port + 1);
    const char *const origins[] = {"Origin: http://evil.example", "Origin: null", other_port};
    for (size_t i = 0; i < 3; i++) {
        const char *hs[] = {origins[i], NULL};
        r = send_req(&d, "POST", path, NULL, NULL, NULL, hs);
        expect_error(&r, 403, "forbidden_origin", "Origin");
    }
    snprintf(path, sizeof path, "/v1/jobs/%lld", job);
    r = e2e_get(&d, path);
    ck_assert_str_eq(e2e_str(r.json, "state"), "running");
    ck_assert(json_is_false(json_object_get(r.json, "cancel_requested")));
    e2e_resp_free(&r);
    /* a cross-origin multipart form: refused, nothing stored */
    char *file = tu_write_str(tu_tmpdir(), "g.csv", csv);
    const char *evil[] = {"Origin: http://evil.example", NULL};
    r = send_req(&d, "POST", "/v1/datasets?name=csrf", NULL, NULL, file, evil);
    expect_error(&r, 403, "forbidden_origin", "Origin");
    ck_assert_int_eq(count_of(&d, "/v1/datasets", "datasets"), 1);
    /* the same form from our own page is an upload */
    const char *mine[] = {own, NULL};
    r = send_req(&d, "POST", "/v1/datasets?name=mine", NULL, NULL, file, mine);
    ck_assert_msg(r.status == 201, "%s", r.body);
    e2e_resp_free(&r);
    ck_assert_int_eq(count_of(&d, "/v1/datasets", "datasets"), 2);
    /* and our own page's cancel (no body, as the dashboard sends it) works */
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", job);
    r = send_req(&d, "POST", path, NULL, NULL, NULL, mine);
    ck_assert_msg(r.status == 200, "%s", r.body);
    e2e_resp_free(&r);
    j = e2e_wait_job(&d, job, "cancelled", 20);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    free(file);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* DNS rebinding: the page's name in Host; and the names one allows. */
START_TEST(rebinding_hosts_are_refused)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    static const char *const bad[] = {"Host: evil.example", "Host: evil.example:8080",
                                      "Host: 127.0.0.1.nip.io", "Host: 10.0.0.1:8080"};
    static const char *const paths[] = {"/v1/datasets", "/v1/jobs/1/weights", "/", "/healthz"};
    for (size_t i = 0; i < 4; i++) {
        const char *hs[] = {bad[i], NULL};
        e2e_resp r = send_req(&d, "GET", paths[i], NULL, NULL, NULL, hs);
        expect_error(&r, 403, "forbidden_host", "Host");
    }
    char h[96];
    static const char *const good[] = {"localhost", "127.0.0.1", "127.9.9.9", "[::1]"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(h, sizeof h, "Host: %s:%d", good[i], d.port);
        const char *hs[] = {h, NULL};
        e2e_resp r = send_req(&d, "GET", "/v1/datasets", NULL, NULL, NULL, hs);
        ck_assert_msg(r.status == 200, "%s: %s", h, r.body);
        e2e_resp_free(&r);
    }
    ck_assert_int_eq(e2e_stop(&d), 0);

    const char *extra[] = {"--allowed-hosts", "traind.lan,ui.lan:3000", NULL};
    e2e_start(&d, NULL, extra);
    snprintf(h, sizeof h, "Host: traind.lan:%d", d.port);
    char o[96];
    snprintf(o, sizeof o, "Origin: http://traind.lan:%d", d.port);
    const char *lan[] = {h, o, NULL};
    e2e_resp r = send_req(&d, "POST", "/v1/datasets?name=lan", "text/csv", csv, NULL, lan);
    ck_assert_msg(r.status == 201, "%s", r.body);
    e2e_resp_free(&r);
    const char *ui[] = {"Origin: http://ui.lan:3000", NULL};   /* with Host 127.0.0.1:PORT */
    r = send_req(&d, "GET", "/v1/datasets", NULL, NULL, NULL, ui);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "datasets")), 1);
    e2e_resp_free(&r);
    const char *ui2[] = {"Origin: http://ui.lan:3001", NULL};
    r = send_req(&d, "GET", "/v1/datasets", NULL, NULL, NULL, ui2);
    expect_error(&r, 403, "forbidden_origin", "Origin");
    const char *evil[] = {"Host: evil.example", NULL};
    r = send_req(&d, "GET", "/v1/datasets", NULL, NULL, NULL, evil);
    expect_error(&r, 403, "forbidden_host", "Host");
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* The request lines libmicrohttpd would misread. */
START_TEST(nul_paths_and_huge_queries)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    long long job = long_job(&d);
    json_t *j = e2e_wait_job(&d, job, "running", 20);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%lld", job);
    e2e_resp r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    static const char *const tails[] = {"%00", "%00/weights", "%00%00", "/weights%00"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/v1/jobs/%lld%s", job, tails[i]);
        r = e2e_get(&d, path);
        expect_error(&r, 400, "malformed_request", "path");
    }
    r = e2e_get(&d, "/v1/datasets%00");
    expect_error(&r, 400, "malformed_request", "path");
    /* %2500 is the text "%00", not a NUL: an unknown path */
    r = e2e_get(&d, "/v1/datasets%2500");
    expect_error(&r, 404, "not_found", NULL);
    /* hundreds of parameters: a JSON 414 */
    static const int counts[] = {33, 450, 2000};
    for (size_t i = 0; i < 3; i++) {
        char *q = malloc(16 * (size_t)counts[i] + 32);
        size_t n = (size_t)sprintf(q, "/v1/jobs?");
        for (int k = 0; k < counts[i]; k++)
            n += (size_t)sprintf(q + n, "%sp%d=1", k ? "&" : "", k);
        r = e2e_get(&d, q);
        ck_assert_msg(r.status == 414, "%d parameters: %ld %s", counts[i], r.status, r.body);
        ck_assert_ptr_nonnull(r.json);
        ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "code"), "too_many_parameters");
        e2e_resp_free(&r);
        free(q);
    }
    /* 32 of them still reach the usual check */
    char q[512];
    size_t n = (size_t)sprintf(q, "/v1/jobs?");
    for (int k = 0; k < 32; k++)
        n += (size_t)sprintf(q + n, "%sp%d=1", k ? "&" : "", k);
    r = e2e_get(&d, q);
    expect_error(&r, 400, "invalid_parameter", NULL);
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", job);
    r = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, host_rule);
    tcase_add_test(tc, origin_rule);
    tcase_add_test(tc, loopback_listen_address);
    tcase_add_test(tc, public_looking_host_needs_a_token);
    tcase_add_test(tc, cross_site_requests_are_refused);
    tcase_add_test(tc, rebinding_hosts_are_refused);
    tcase_add_test(tc, nul_paths_and_huge_queries);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
