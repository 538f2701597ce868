/*
 * routes.c — the routing table: every route of the REST API, its handler,
 * what it does with a body, and whether it is open without a token.
 * schema/openapi.yaml describes the same set (a test compares them).
 *
 * The dashboard's files (GET / and /ui/...) are served without a token:
 * they hold no data, and the page asks for the token before any /v1 call.
 * Their paths are the URLs that the Makefile gives server/dashboard/embed.sh.
 * /metrics needs the token when one is set, like /v1.
 *
 * The quick handlers are answered on the event loop: each touches neither
 * the store nor the disk; every other handler (but the dashboard's files)
 * runs on a handler thread (http.c's header says why).
 *
 * Each route lists the query parameters its handler reads: http.c refuses
 * any other (and any given twice) with 400 invalid_parameter before the
 * handler runs, so that a misspelt option is never silently ignored.  The
 * lists are the query parameters of schema/openapi.yaml (a test compares
 * them).
 */
#include "api.h"
#include "dashboard.h"
#include "http.h"
#include "metrics.h"

/* the routes that take no query parameter */
#define NO_QUERY NULL

/* method, pattern, handler, body, open, asset, query parameters */
const route http_routes[] = {
    {"GET", "/healthz", api_healthz, BODY_NONE, 1, 0, NO_QUERY},
    {"GET", "/readyz", api_readyz, BODY_NONE, 1, 0, NO_QUERY},
    {"GET", "/metrics", metrics_get, BODY_NONE, 0, 0, NO_QUERY},
    {"GET", "/", dashboard_get, BODY_NONE, 0, 1, NO_QUERY},
    {"GET", "/ui/app.js", dashboard_get, BODY_NONE, 0, 1, NO_QUERY},
    {"GET", "/ui/app.css", dashboard_get, BODY_NONE, 0, 1, NO_QUERY},
    {"GET", "/ui/uplot.js", dashboard_get, BODY_NONE, 0, 1, NO_QUERY},
    {"GET", "/ui/uplot.css", dashboard_get, BODY_NONE, 0, 1, NO_QUERY},
    {"GET", "/ui/favicon.svg", dashboard_get, BODY_NONE, 0, 1, NO_QUERY},
    {"POST", "/v1/datasets", api_datasets_create, BODY_UPLOAD, 0, 0,
     HTTP_QUERY("name", "label", "label_kind", "delimiter", "scale_u8")},
    {"GET", "/v1/datasets", api_datasets_list, BODY_NONE, 0, 0, NO_QUERY},
    {"GET", "/v1/datasets/{id}", api_datasets_get, BODY_NONE, 0, 0, NO_QUERY},
    {"DELETE", "/v1/datasets/{id}", api_datasets_delete, BODY_NONE, 0, 0, NO_QUERY},
    {"POST", "/v1/models", api_models_create, BODY_JSON, 0, 0, HTTP_QUERY("name", "dry_run")},
    {"GET", "/v1/models", api_models_list, BODY_NONE, 0, 0, NO_QUERY},
    {"GET", "/v1/models/{id}", api_models_get, BODY_NONE, 0, 0, NO_QUERY},
    {"DELETE", "/v1/models/{id}", api_models_delete, BODY_NONE, 0, 0, NO_QUERY},
    {"POST", "/v1/jobs", api_jobs_create, BODY_JSON, 0, 0, NO_QUERY},
    {"GET", "/v1/jobs", api_jobs_list, BODY_NONE, 0, 0, HTTP_QUERY("state", "limit", "cursor")},
    {"GET", "/v1/jobs/{id}", api_jobs_get, BODY_NONE, 0, 0, NO_QUERY},
    {"DELETE", "/v1/jobs/{id}", api_jobs_delete, BODY_NONE, 0, 0, NO_QUERY},
    {"POST", "/v1/jobs/{id}/cancel", api_jobs_cancel, BODY_NONE, 0, 0, NO_QUERY},
    {"GET", "/v1/jobs/{id}/metrics", api_jobs_metrics, BODY_NONE, 0, 0,
     HTTP_QUERY("since", "max_points", "kind")},
    {"GET", "/v1/jobs/{id}/events", api_jobs_events, BODY_NONE, 0, 0, NO_QUERY},
    {"GET", "/v1/jobs/{id}/weights", api_jobs_weights, BODY_NONE, 0, 0, HTTP_QUERY("which")},
    {"GET", "/v1/jobs/{id}/model.onnx", api_jobs_onnx, BODY_NONE, 0, 0, HTTP_QUERY("which")},
    {"POST", "/v1/jobs/{id}/predict", api_jobs_predict, BODY_JSON, 0, 0, NO_QUERY},
    {0},
};

const route_bound http_route_bounds[] = {
    {api_jobs_predict, api_predict_body_bound},
    {0},
};

const http_handler http_quick_handlers[] = {api_healthz, NULL};
