/*
 * fuzz_router.c — the router (http_route_find in server/http.c over the
 * table of server/routes.c) and query strings.
 *
 * The input is "METHOD TARGET": the method up to the first space, the
 * target after it, split at its first '?' into the path and the query.
 * Checked for the path: a route found has that method and a pattern that the
 * path spells out, with {id} a positive decimal integer that is the id
 * returned; a path found under other methods only is "known", and the Allow
 * list names exactly the methods of the routes of that pattern.  The query
 * is cut into key=value pairs at '&' and each side is percent-decoded with
 * libmicrohttpd's MHD_http_unescape, as the daemon does before a handler's
 * http_query(): the decoded text is never longer than the raw one.
 */
#include "fuzz.h"

#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when path spells pattern with {id} = id (a positive integer in canonical
 * decimal, possibly with leading zeros, as the router reads it). */
static int spells(const char *pat, const char *path, int64_t id)
{
    const char *brace = strstr(pat, "{id}");
    if (!brace)
        return id == 0 && !strcmp(pat, path);
    size_t pre = (size_t)(brace - pat);
    if (strncmp(pat, path, pre))
        return 0;
    const char *p = path + pre;
    while (*p == '0')
        p++;
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)id);
    size_t nd = strlen(digits);
    return id > 0 && !strncmp(p, digits, nd) && !strcmp(p + nd, brace + 4);
}

static void check_route(const char *method, const char *path)
{
    int64_t id = -1;
    int known = -1;
    char allow[128];
    const route *rt = http_route_find(method, path, &id, &known, allow, sizeof allow);
    fuzz_note("%s %s: %s, id %lld, known %d, allow '%s'", method, path, rt ? rt->pattern : "no route",
              (long long)id, known, allow);
    FUZZ_CHECK(known == 0 || known == 1, "path_known %d", known);
    if (rt) {
        FUZZ_CHECK(known && !strcmp(rt->method, method), "%s %s found %s %s", method, path,
                   rt->method, rt->pattern);
        FUZZ_CHECK(spells(rt->pattern, path, id), "%s does not spell %s with id %lld", path,
                   rt->pattern, (long long)id);
    }
    if (rt)
        return;
    /* no route of this method: the Allow list names the methods of the
     * routes whose pattern the path spells, in table order */
    char want[128] = "";
    for (const route *t = http_routes; t->method; t++) {
        int64_t v;
        int k;
        char a[128];
        if (http_route_find(t->method, path, &v, &k, a, sizeof a) == t)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", want[0] ? ", " : "",
                     t->method);
    }
    FUZZ_CHECK(known == (want[0] != 0), "%s %s: known %d, methods '%s'", method, path, known,
               want);
    if (known)
        FUZZ_CHECK(!strcmp(allow, want), "%s: Allow '%s', routes '%s'", path, allow, want);
}

static void check_query(char *q)
{
    for (char *pair = strtok(q, "&"); pair; pair = strtok(NULL, "&")) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq++ = 0;
        size_t kl = strlen(pair);
        FUZZ_CHECK(MHD_http_unescape(pair) <= kl, "a key grew when decoded");
        if (eq) {
            size_t vl = strlen(eq);
            FUZZ_CHECK(MHD_http_unescape(eq) <= vl, "a value grew when decoded");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL, "out of memory");
    memcpy(s, data, size);
    s[size] = 0;   /* the daemon hands C strings: text past a NUL is not seen */
    char *sp = strchr(s, ' ');
    const char *method = "GET", *target = s;
    if (sp) {
        *sp = 0;
        method = s;
        target = sp + 1;
    }
    char *path = strdup(target);
    FUZZ_CHECK(path != NULL, "out of memory");
    char *q = strchr(path, '?');
    if (q)
        *q++ = 0;
    check_route(method, path);
    if (q)
        check_query(q);
    free(path);
    free(s);
    return 0;
}
