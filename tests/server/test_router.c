/*
 * test_router.c — the routing table: patterns match what they should and
 * nothing else, unknown methods give the Allow list, and the table's routes
 * are exactly the paths and methods of schema/openapi.yaml (read through
 * tests/openapi_paths.py), each with the query parameters the document
 * gives it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "testutil.h"

static const char *srcdir(void)
{
    const char *d = getenv("TRAIND_SRCDIR");
    return d && *d ? d : ".";
}

START_TEST(matching)
{
    int64_t id;
    int known;
    char allow[128];
    const route *rt = http_route_find("GET", "/v1/jobs/42", &id, &known, allow, sizeof allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->pattern, "/v1/jobs/{id}");
    ck_assert_int_eq(id, 42);
    rt = http_route_find("POST", "/v1/jobs/7/cancel", &id, &known, allow, sizeof allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(id, 7);
    rt = http_route_find("GET", "/v1/jobs", &id, &known, allow, sizeof allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(id, 0);
    /* ids are positive integers, paths exact */
    static const char *const bad[] = {"/v1/jobs/0", "/v1/jobs/-1", "/v1/jobs/abc", "/v1/jobs/1x",
                                      "/v1/jobs/", "/v1/jobs//cancel", "/v1/jobs/1/cancel/",
                                      "/v1/job", "/v1/jobs/99999999999999999999", "/V1/jobs",
                                      "", "//", "/ui", "/ui/", "/ui/app.jsx", "/index.html"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt = http_route_find("GET", bad[i], &id, &known, allow, sizeof allow);
        ck_assert_msg(rt == NULL && !known, "'%s' matched", bad[i]);
    }
    /* a known path under another method: 405 with the allowed methods */
    rt = http_route_find("PUT", "/v1/jobs/3", &id, &known, allow, sizeof allow);
    ck_assert_ptr_null(rt);
    ck_assert_int_eq(known, 1);
    ck_assert_str_eq(allow, "GET, DELETE");
    rt = http_route_find("PATCH", "/healthz", &id, &known, allow, sizeof allow);
    ck_assert_int_eq(known, 1);
    ck_assert_str_eq(allow, "GET");
    /* only the health checks are open without a token, and the dashboard's
     * files (GET / and /ui/...), which hold no data */
    for (const route *r = http_routes; r->method; r++) {
        ck_assert_int_eq(r->open, !strncmp(r->pattern, "/healthz", 8) ||
                                      !strncmp(r->pattern, "/readyz", 7));
        ck_assert_int_eq(r->asset, !strcmp(r->method, "GET") &&
                                       (!strcmp(r->pattern, "/") || !strncmp(r->pattern, "/ui/", 4)));
    }
    rt = http_route_find("GET", "/", &id, &known, allow, sizeof allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(rt->asset, 1);
}
END_TEST

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(table_matches_openapi)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/openapi_paths.py %s/schema/openapi.yaml",
             srcdir(), srcdir());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *doc[128], line[256];
    int nd = 0;
    while (nd < 128 && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (*line)
            doc[nd++] = strdup(line);
    }
    ck_assert_int_eq(pclose(p), 0);
    char *tab[128];
    int nt = 0;
    for (const route *r = http_routes; r->method && nt < 128; r++) {
        snprintf(line, sizeof line, "%s %s", r->method, r->pattern);
        tab[nt++] = strdup(line);
    }
    qsort(doc, (size_t)nd, sizeof *doc, cmp);
    qsort(tab, (size_t)nt, sizeof *tab, cmp);
    for (int i = 0; i < nd || i < nt; i++)
        ck_assert_msg(i < nd && i < nt && !strcmp(doc[i], tab[i]),
                      "router and openapi.yaml differ at %d: router '%s', document '%s'", i,
                      i < nt ? tab[i] : "-", i < nd ? doc[i] : "-");
    ck_assert_int_ge(nt, 19);
    for (int i = 0; i < nd; i++)
        free(doc[i]);
    for (int i = 0; i < nt; i++)
        free(tab[i]);
}
END_TEST

/* The route's query parameters, sorted and joined by commas ("-": none). */
static void sorted_query(const route *r, char *out, size_t cap)
{
    const char *q[32];
    int n = 0;
    for (; r->query && r->query[n]; n++) {
        ck_assert_int_lt(n, 31);   /* http.c keeps a bit per parameter */
        q[n] = r->query[n];
    }
    qsort(q, (size_t)n, sizeof *q, cmp);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(i == 0 || strcmp(q[i - 1], q[i]), "%s %s lists %s twice", r->method,
                      r->pattern, q[i]);
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", q[i]);
    }
    if (!n)
        snprintf(out, cap, "-");
}

START_TEST(query_parameters_match_openapi)
{
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/openapi_paths.py %s/schema/openapi.yaml --query", srcdir(),
             srcdir());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int seen = 0;
    while (fgets(line, sizeof line, p)) {
        char method[16], pattern[200], list[256];
        ck_assert_int_eq(sscanf(line, "%15s %199s %255s", method, pattern, list), 3);
        /* the document's list, sorted like the table's */
        const char *q[32];
        int n = 0;
        for (char *t = strtok(list, ","); t && n < 32 && strcmp(t, "-"); t = strtok(NULL, ","))
            q[n++] = t;
        qsort(q, (size_t)n, sizeof *q, cmp);
        char doc[256] = "-";
        for (int i = 0, len = 0; i < n; i++)
            len += snprintf(doc + len, sizeof doc - (size_t)len, "%s%s", i ? "," : "", q[i]);
        const route *r = http_routes;
        while (r->method && (strcmp(r->method, method) || strcmp(r->pattern, pattern)))
            r++;
        ck_assert_msg(r->method != NULL, "%s %s is not in the table", method, pattern);
        char tab[256];
        sorted_query(r, tab, sizeof tab);
        ck_assert_msg(!strcmp(tab, doc), "%s %s: the table takes %s, the document %s", method,
                      pattern, tab, doc);
        seen++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_ge(seen, 19);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, matching);
    tcase_add_test(tc, table_matches_openapi);
    tcase_add_test(tc, query_parameters_match_openapi);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
