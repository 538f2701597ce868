/*
 * api_onnx.c — GET /v1/jobs/{id}/model.onnx: a job's weights exported as
 * an ONNX model (onnx_export.h) on request, never stored.
 *
 * `which` picks the weights as GET /v1/jobs/{id}/weights does (final, the
 * default; best; latest, the last checkpoint's), and the answers differ
 * from that route's only where the export adds a rule:
 *   400 invalid_parameter   which is none of the three;
 *   404 not_found           no such job, or no such weights (yet);
 *   409 conflict            which=final (the default) of a job that is
 *                           queued or running: its final weights do not
 *                           exist yet, and ?which=latest (or best) exports
 *                           what it has; a snapshot, since the job moves on;
 *   500 internal            stored weights that do not export (a bug).
 */
#include "api.h"
#include "app.h"
#include "onnx_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_which(const char *w)
{
    return !strcmp(w, "final") || !strcmp(w, "best") || !strcmp(w, "latest");
}

/* 409 for final weights that cannot exist yet; else 0. */
static int check_state(http_req *r, const char *which)
{
    store_job j;
    char err[256], what[64];
    snprintf(what, sizeof what, "job %lld", (long long)r->id);
    int rc = store_job_get(r->app->store, r->id, &j, err, sizeof err);
    if (rc) {
        api_store_error(r, rc, what, err);
        return -1;
    }
    int unfinished = !strcmp(j.state, "queued") || !strcmp(j.state, "running");
    if (unfinished && !strcmp(which, "final"))
        http_reply_error(r, 409, "conflict", "which",
                         "job %lld is %s: its final weights come when it finishes; "
                         "which=latest exports the last checkpoint's, which=best the best epoch's",
                         (long long)r->id, j.state);
    store_job_clear(&j);
    return unfinished && !strcmp(which, "final") ? -1 : 0;
}

/* GET /v1/jobs/{id}/model.onnx[?which=final|best|latest] */
MHD_RESULT api_jobs_onnx(http_req *r)
{
    const char *which = http_query(r, "which");
    if (!which)
        which = "final";
    if (!valid_which(which))
        return http_reply_error(r, 400, "invalid_parameter", "which",
                                "which must be final, best or latest");
    if (check_state(r, which))
        return r->result;
    void *st, *onnx;
    size_t st_len, len;
    char err[512];
    int rc = store_weights_get(r->app->store, r->id, which, &st, &st_len, err, sizeof err);
    if (rc == STORE_ENOTFOUND)
        return http_reply_error(r, 404, "not_found", NULL, "job %lld has no %s weights (yet)",
                                (long long)r->id, which);
    if (rc)
        return api_store_error(r, rc, "reading weights", err);
    rc = onnx_export(st, st_len, NULL, &onnx, &len, err, sizeof err);
    free(st);
    if (rc)
        return http_reply_error(r, 500, "internal", NULL, "exporting job %lld's %s weights: %s",
                                (long long)r->id, which, err);
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"job-%lld-%s.onnx\"", (long long)r->id,
             which);
    return http_reply_bytes(r, 200, "application/octet-stream", onnx, len, disp);
}
