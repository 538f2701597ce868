/*
 * api.h — the handlers of the REST API (docs/api.md), one per route of
 * routes.c, and the JSON shapes they share.
 */
#ifndef API_H
#define API_H

#include "http.h"
#include "spec.h"
#include "store.h"
#include "train.h"

/* GET /healthz, GET /readyz */
MHD_RESULT api_healthz(http_req *r);
MHD_RESULT api_readyz(http_req *r);

/* POST /v1/datasets, GET /v1/datasets, GET /v1/datasets/{id}, DELETE /v1/datasets/{id} */
MHD_RESULT api_datasets_create(http_req *r);
MHD_RESULT api_datasets_list(http_req *r);
MHD_RESULT api_datasets_get(http_req *r);
MHD_RESULT api_datasets_delete(http_req *r);

/* POST /v1/models, GET /v1/models, GET /v1/models/{id}, DELETE /v1/models/{id} */
MHD_RESULT api_models_create(http_req *r);
MHD_RESULT api_models_list(http_req *r);
MHD_RESULT api_models_get(http_req *r);
MHD_RESULT api_models_delete(http_req *r);

/* POST /v1/jobs, GET /v1/jobs, GET /v1/jobs/{id}, DELETE /v1/jobs/{id},
 * POST /v1/jobs/{id}/cancel */
MHD_RESULT api_jobs_create(http_req *r);
MHD_RESULT api_jobs_list(http_req *r);
MHD_RESULT api_jobs_get(http_req *r);
MHD_RESULT api_jobs_delete(http_req *r);
MHD_RESULT api_jobs_cancel(http_req *r);

/* GET /v1/jobs/{id}/metrics, GET /v1/jobs/{id}/events */
MHD_RESULT api_jobs_metrics(http_req *r);
MHD_RESULT api_jobs_events(http_req *r);

/* An event stream's keep-alive rule, for whatever loop drives the stream:
 * the milliseconds until a ": keep-alive" comment is due on a stream that
 * last sent bytes at last_ms, now being now_ms (both from the monotonic
 * clock); 0 when one is due now, i.e. interval_ms or more have passed.
 * Only the time since the stream's own last bytes counts, not how often
 * the loop woke up meanwhile. */
long api_sse_keepalive_in(int64_t now_ms, int64_t last_ms, long interval_ms);

/* GET /v1/jobs/{id}/weights, POST /v1/jobs/{id}/predict */
MHD_RESULT api_jobs_weights(http_req *r);
MHD_RESULT api_jobs_predict(http_req *r);

/* The bound of a predict body (http_body_bound): --max-predict instances
 * of the job's input, each value given room for a JSON number and its
 * spacing; -1 when the job cannot be read (the handler then answers). */
int64_t api_predict_body_bound(http_req *r, char *why, size_t len);

/* GET /v1/jobs/{id}/model.onnx (api_onnx.c) */
MHD_RESULT api_jobs_onnx(http_req *r);

/* Replies for a failed store call: 404 (not found, naming what), 409
 * (conflict), 500 otherwise.  Returns the reply's result. */
MHD_RESULT api_store_error(http_req *r, int rc, const char *what, const char *err);

/* api_store_error for the row the route's {id} names, called "<kind> <id>"
 * ("dataset 3"). */
MHD_RESULT api_store_error_id(http_req *r, int rc, const char *kind, const char *err);

/* DELETE of the row the route's {id} names with del (store_dataset_delete,
 * ...): 204, or the failure as api_store_error_id replies it. */
MHD_RESULT api_delete_by_id(http_req *r, const char *kind,
                            int (*del)(store *, int64_t, char *, size_t));

/* The answer of a create (POST /v1/datasets, /v1/models, /v1/jobs) once
 * the row `id` is committed: 201 with answer (stolen) and a Location of
 * "<collection>/<id>".  When the answer cannot be made (answer NULL: the
 * row could not be read back or shown; or it cannot be serialised or
 * queued), the row is removed again with undo and the request answered
 * 500: a request that fails changes nothing. */
MHD_RESULT api_reply_created(http_req *r, const char *collection, int64_t id, json_t *answer,
                             int (*undo)(store *, int64_t, char *, size_t));

/* Parses and checks a model definition found at JSON Pointer `base` of the
 * request body ("" for the whole body): fills spec (caller frees), cfg, the
 * canonical definition and the summary (new references).  Otherwise replies
 * 422 (with the path) or 500, and returns -1. */
int api_model_check(http_req *r, const json_t *def, const char *base, nn_spec *spec,
                    nn_train_cfg *cfg, json_t **canonical, json_t **summary);

/* JSON of the stored objects (new references). */
json_t *api_dataset_json(const store_dataset *d, int full);   /* full 0: a list's shorter form */
json_t *api_model_json(const store_model *m);
json_t *api_job_json(http_req *r, const store_job *j);

/* Parses the text as JSON, or null when text is NULL or not JSON. */
json_t *api_parse_or_null(const char *text);

#endif
