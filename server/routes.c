/*
 * routes.c — the routing table: every route of the REST API, its handler,
 * what it does with a body, and whether it is open without a token.
 * schema/openapi.yaml describes the same set (a test compares them).
 *
 * The dashboard's files (GET / and /ui/...) are served without a token:
 * they hold no data, and the page asks for the token before any /v1 call.
 * Their paths are the URLs that the Makefile gives server/dashboard/embed.sh.
 * /metrics needs the token when one is set, like /v1.
 */
#include "api.h"
#include "dashboard.h"
#include "http.h"
#include "metrics.h"

/* method, pattern, handler, body, open, asset */
const route http_routes[] = {
    {"GET", "/healthz", api_healthz, BODY_NONE, 1, 0},
    {"GET", "/readyz", api_readyz, BODY_NONE, 1, 0},
    {"GET", "/metrics", metrics_get, BODY_NONE, 0, 0},
    {"GET", "/", dashboard_get, BODY_NONE, 0, 1},
    {"GET", "/ui/app.js", dashboard_get, BODY_NONE, 0, 1},
    {"GET", "/ui/app.css", dashboard_get, BODY_NONE, 0, 1},
    {"GET", "/ui/uplot.js", dashboard_get, BODY_NONE, 0, 1},
    {"GET", "/ui/uplot.css", dashboard_get, BODY_NONE, 0, 1},
    {"GET", "/ui/favicon.svg", dashboard_get, BODY_NONE, 0, 1},
    {"POST", "/v1/datasets", api_datasets_create, BODY_UPLOAD, 0, 0},
    {"GET", "/v1/datasets", api_datasets_list, BODY_NONE, 0, 0},
    {"GET", "/v1/datasets/{id}", api_datasets_get, BODY_NONE, 0, 0},
    {"DELETE", "/v1/datasets/{id}", api_datasets_delete, BODY_NONE, 0, 0},
    {"POST", "/v1/models", api_models_create, BODY_JSON, 0, 0},
    {"GET", "/v1/models", api_models_list, BODY_NONE, 0, 0},
    {"GET", "/v1/models/{id}", api_models_get, BODY_NONE, 0, 0},
    {"DELETE", "/v1/models/{id}", api_models_delete, BODY_NONE, 0, 0},
    {"POST", "/v1/jobs", api_jobs_create, BODY_JSON, 0, 0},
    {"GET", "/v1/jobs", api_jobs_list, BODY_NONE, 0, 0},
    {"GET", "/v1/jobs/{id}", api_jobs_get, BODY_NONE, 0, 0},
    {"DELETE", "/v1/jobs/{id}", api_jobs_delete, BODY_NONE, 0, 0},
    {"POST", "/v1/jobs/{id}/cancel", api_jobs_cancel, BODY_NONE, 0, 0},
    {"GET", "/v1/jobs/{id}/metrics", api_jobs_metrics, BODY_NONE, 0, 0},
    {"GET", "/v1/jobs/{id}/events", api_jobs_events, BODY_NONE, 0, 0},
    {"GET", "/v1/jobs/{id}/weights", api_jobs_weights, BODY_NONE, 0, 0},
    {"POST", "/v1/jobs/{id}/predict", api_jobs_predict, BODY_JSON, 0, 0},
    {0},
};
