/*
 * api_models.c — the /v1/models routes: a definition is parsed
 * (spec_json.c), its shapes inferred by the core (without allocating any
 * weights), and stored in canonical form with its summary.
 */
#include "api.h"

#include "model.h"
#include "app.h"
#include "spec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 200

static json_t *shape_json(const nn_shape *s)
{
    json_t *a = json_array();
    for (int i = 0; i < s->rank; i++)
        json_array_append_new(a, json_integer(s->dim[i]));
    return a;
}

/* The summary of a checked definition: shapes and parameter counts. */
static json_t *summary_json(const nn_model *m)
{
    const nn_spec *s = nn_model_spec(m);
    json_t *layers = json_array();
    json_int_t total = 0;
    for (int i = 0; i < s->n_layers; i++) {
        nn_layer_info li;
        nn_model_layer_info(m, i, &li);
        total += li.n_params;
        json_array_append_new(layers, json_pack("{s:i,s:s,s:o,s:I}", "index", i, "type", li.type,
                                                "output_shape", shape_json(&li.out), "params",
                                                (json_int_t)li.n_params));
    }
    nn_shape out = nn_model_out_shape(m);
    return json_pack("{s:o,s:o,s:I,s:o}", "input", shape_json(&s->input), "output",
                     shape_json(&out), "total_params", total, "layers", layers);
}

int api_model_check(http_req *r, const json_t *def, const char *base, nn_spec *spec,
                    nn_train_cfg *cfg, json_t **canonical, json_t **summary)
{
    spec_json_err je;
    nn_err e;
    nn_model *m = NULL;
    char path[300];
    *canonical = *summary = NULL;
    int rc = spec_json_parse_doc(def, spec, cfg, &je);
    if (rc) {
        snprintf(path, sizeof path, "%s%s", base, je.path);
        if (rc == NN_ENOMEM)
            http_reply_error(r, 500, "internal", NULL, "out of memory");
        else
            http_reply_error(r, 422, "invalid_model", path, "%s", je.msg);
        return -1;
    }
    nn_model_opts mo = {.shape_only = 1};
    rc = nn_model_new(spec, &mo, &m, &e);
    if (rc) {
        spec_json_err_from_nn(&e, &je);
        snprintf(path, sizeof path, "%s%s", base, je.path);
        http_reply_error(r, rc == NN_ENOMEM ? 500 : 422,
                         rc == NN_ENOMEM ? "internal" : "invalid_model", path, "%s", je.msg);
        nn_spec_free(spec);
        return -1;
    }
    *summary = summary_json(m);
    json_int_t total = json_integer_value(json_object_get(*summary, "total_params"));
    nn_model_free(m);
    if (*summary && total > r->app->cfg.max_params) {
        json_decref(*summary);
        *summary = NULL;
        nn_spec_free(spec);
        snprintf(path, sizeof path, "%s/layers", base);
        http_reply_error(r, 422, "invalid_model", path,
                         "the model has %lld parameters; this server takes at most %lld "
                         "(--max-params)",
                         (long long)total, (long long)r->app->cfg.max_params);
        return -1;
    }
    const json_t *tr = json_object_get(def, "training");
    nn_prep_cfg prep;
    spec_json_parse_preprocess(tr, NULL, &prep, NULL);   /* checked with the training above */
    *canonical = spec_json_dump_prep(spec, tr && !json_is_null(tr) ? cfg : NULL, &prep);
    nn_prep_cfg_free(&prep);
    if (!*summary || !*canonical) {
        json_decref(*summary);
        json_decref(*canonical);
        *summary = *canonical = NULL;
        nn_spec_free(spec);
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        return -1;
    }
    return 0;
}

/* POST /v1/models[?name=NAME][&dry_run=true] */
MHD_RESULT api_models_create(http_req *r)
{
    const char *name = http_query(r, "name"), *dry = http_query(r, "dry_run");
    if (name && strlen(name) > MAX_NAME)
        return http_reply_error(r, 400, "invalid_parameter", "name",
                                "name is longer than %d characters", MAX_NAME);
    if (dry && strcmp(dry, "true") && strcmp(dry, "false"))
        return http_reply_error(r, 400, "invalid_parameter", "dry_run",
                                "dry_run must be true or false");
    json_t *body = http_json_body_or_reply(r);
    if (!body)
        return r->result;
    nn_spec spec;
    nn_train_cfg cfg;
    json_t *canonical, *summary;
    int bad = api_model_check(r, body, "", &spec, &cfg, &canonical, &summary);
    json_decref(body);
    if (bad)
        return r->result;
    nn_spec_free(&spec);
    if (dry && !strcmp(dry, "true"))
        return http_reply_json(r, 200, json_pack("{s:s,s:o,s:o}", "name", name ? name : "",
                                                 "definition", canonical, "summary", summary));
    char *def_text = json_dumps(canonical, SPEC_JSON_DUMP_FLAGS);
    char *sum_text = json_dumps(summary, JSON_COMPACT);
    json_decref(canonical);
    json_decref(summary);
    int64_t id = 0;
    char err[256];
    int rc = def_text && sum_text ? store_model_insert(r->app->store, name ? name : "", def_text,
                                                       sum_text, &id, err, sizeof err)
                                  : STORE_ENOMEM;
    free(def_text);
    free(sum_text);
    if (rc)
        return api_store_error(r, rc, "storing the model", err);
    store_model m;
    json_t *answer = NULL;
    if (store_model_get(r->app->store, id, &m, err, sizeof err) == 0) {
        answer = api_model_json(&m);
        store_model_clear(&m);
    }
    return api_reply_created(r, "/v1/models", id, answer, store_model_delete);
}

/* GET /v1/models */
MHD_RESULT api_models_list(http_req *r)
{
    store_model *ms;
    int n;
    char err[256];
    int rc = store_model_list(r->app->store, &ms, &n, err, sizeof err);
    if (rc)
        return api_store_error(r, rc, "listing models", err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, api_model_json(&ms[i]));
    store_free_models(ms, n);
    return http_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

/* GET /v1/models/{id} */
MHD_RESULT api_models_get(http_req *r)
{
    store_model m;
    char err[256];
    int rc = store_model_get(r->app->store, r->id, &m, err, sizeof err);
    if (rc)
        return api_store_error_id(r, rc, "model", err);
    MHD_RESULT res = http_reply_json(r, 200, api_model_json(&m));
    store_model_clear(&m);
    return res;
}

/* DELETE /v1/models/{id} */
MHD_RESULT api_models_delete(http_req *r)
{
    return api_delete_by_id(r, "model", store_model_delete);
}
