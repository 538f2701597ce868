/*
 * dashboard.h — the web dashboard's files (HTML, CSS, JavaScript, and the
 * vendored uPlot), embedded in the binary at build time by
 * server/dashboard/embed.sh, and the handler that serves them.
 *
 * The files hold no data (every number on the page comes from /v1 calls,
 * which need the token when one is set), so they are served without a
 * token, with an ETag (a request with a matching If-None-Match gets 304)
 * and Cache-Control: no-cache (the browser revalidates, so a new binary's
 * page is seen at once).
 */
#ifndef DASHBOARD_H
#define DASHBOARD_H

#include <stddef.h>

#include "http.h"

struct dashboard_asset {
    const char *path;              /* the URL path: "/", "/ui/app.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const char *etag;              /* quoted: "\"4b8a8191e425658e3ea8\"" */
};

/* The generated table (in $(BUILD)/gen/dashboard.c). */
extern const struct dashboard_asset dashboard_assets[];
extern const int dashboard_n_assets;

/* The asset served at path, or NULL. */
const struct dashboard_asset *dashboard_find(const char *path);

/* GET / and GET /ui/...: the asset of the request's route. */
MHD_RESULT dashboard_get(http_req *r);

#endif
