/*
 * routes.c — the routing table: every route of the REST API, its handler,
 * what it does with a body, and whether it is open without a token.
 * schema/openapi.yaml describes the same set (a test compares them).
 */
#include "api.h"
#include "http.h"

const route http_routes[] = {
    {"GET", "/healthz", api_healthz, BODY_NONE, 1},
    {"GET", "/readyz", api_readyz, BODY_NONE, 1},
    {"POST", "/v1/datasets", api_datasets_create, BODY_UPLOAD, 0},
    {"GET", "/v1/datasets", api_datasets_list, BODY_NONE, 0},
    {"GET", "/v1/datasets/{id}", api_datasets_get, BODY_NONE, 0},
    {"DELETE", "/v1/datasets/{id}", api_datasets_delete, BODY_NONE, 0},
    {"POST", "/v1/models", api_models_create, BODY_JSON, 0},
    {"GET", "/v1/models", api_models_list, BODY_NONE, 0},
    {"GET", "/v1/models/{id}", api_models_get, BODY_NONE, 0},
    {"DELETE", "/v1/models/{id}", api_models_delete, BODY_NONE, 0},
    {"POST", "/v1/jobs", api_jobs_create, BODY_JSON, 0},
    {"GET", "/v1/jobs", api_jobs_list, BODY_NONE, 0},
    {"GET", "/v1/jobs/{id}", api_jobs_get, BODY_NONE, 0},
    {"DELETE", "/v1/jobs/{id}", api_jobs_delete, BODY_NONE, 0},
    {"POST", "/v1/jobs/{id}/cancel", api_jobs_cancel, BODY_NONE, 0},
    {"GET", "/v1/jobs/{id}/metrics", api_jobs_metrics, BODY_NONE, 0},
    {"GET", "/v1/jobs/{id}/events", api_jobs_events, BODY_NONE, 0},
    {"GET", "/v1/jobs/{id}/weights", api_jobs_weights, BODY_NONE, 0},
    {"POST", "/v1/jobs/{id}/predict", api_jobs_predict, BODY_JSON, 0},
    {0},
};
