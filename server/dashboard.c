/*
 * dashboard.c — serves the embedded dashboard files (see dashboard.h).
 *
 * The page may run only its own script and style sheets and talk only to
 * this server: the HTML carries a Content-Security-Policy that forbids
 * inline scripts, other origins and framing, so that a dataset name that
 * slipped past the page's escaping still could not run as code.
 */
#include "dashboard.h"

#include <string.h>

#define CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const struct dashboard_asset *dashboard_find(const char *path)
{
    for (int i = 0; path && i < dashboard_n_assets; i++)
        if (!strcmp(dashboard_assets[i].path, path))
            return &dashboard_assets[i];
    return NULL;
}

/* Whether an If-None-Match header names the etag ("*" names any). */
static int etag_matches(const char *header, const char *etag)
{
    if (!header)
        return 0;
    if (!strcmp(header, "*"))
        return 1;
    size_t n = strlen(etag);
    for (const char *p = strstr(header, etag); p; p = strstr(p + 1, etag)) {
        /* the etag is quoted, so a match is whole; W/ weak tags match too */
        if (p[n] == 0 || p[n] == ',' || p[n] == ' ')
            return 1;
    }
    return 0;
}

/* GET / and GET /ui/... */
MHD_RESULT dashboard_get(http_req *r)
{
    const struct dashboard_asset *a = dashboard_find(r->route->pattern);
    if (!a)
        return http_reply_error(r, 404, "not_found", NULL,
                                "%s is not part of this build's dashboard", r->route->pattern);
    http_add_header(r, "ETag", a->etag);
    http_add_header(r, "Cache-Control", "no-cache");
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    if (!strncmp(a->content_type, "text/html", 9)) {
        http_add_header(r, "Content-Security-Policy", CSP);
        http_add_header(r, "Referrer-Policy", "no-referrer");
    }
    if (etag_matches(http_header(r, "If-None-Match"), a->etag))
        return http_reply_empty(r, 304);
    return http_reply_static(r, 200, a->content_type, a->data, a->len);
}
