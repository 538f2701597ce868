/*
 * fuzz_spec_json.c — the JSON model definition (server/spec_json.c), as
 * POST /v1/models reads it: spec_json_parse_text, then the core's shape
 * inference on a shape-only model (nn_model_new), whose error becomes a
 * JSON Pointer (spec_json_err_from_nn).
 *
 * The whole input is the definition.  Promises checked (spec_json.h): a
 * failure zeroes the outputs and names a JSON Pointer ("" or "/...") with a
 * message, both UTF-8 (they go into a JSON answer); a definition that
 * parses dumps to canonical JSON that parses again and dumps to the same
 * text.
 */
#include "fuzz.h"

#include "model.h"
#include "spec_json.h"

#include <stdlib.h>
#include <string.h>

static void check_err(const spec_json_err *err)
{
    size_t pl = strnlen(err->path, sizeof err->path), ml = strnlen(err->msg, sizeof err->msg);
    FUZZ_CHECK(pl < sizeof err->path && ml < sizeof err->msg, "an unterminated error");
    FUZZ_CHECK(pl == 0 || err->path[0] == '/', "path '%s' is no JSON Pointer", err->path);
    FUZZ_CHECK(ml > 0, "an error without a message (path '%s')", err->path);
    FUZZ_CHECK(fuzz_utf8(err->path, pl) && fuzz_utf8(err->msg, ml), "an error that is not UTF-8");
}

/* The canonical text of (spec, cfg); caller frees. */
static char *dump(const nn_spec *spec, const nn_train_cfg *cfg)
{
    json_t *j = spec_json_dump(spec, cfg);
    FUZZ_CHECK(j != NULL, "a parsed definition does not dump");
    char *text = json_dumps(j, SPEC_JSON_DUMP_FLAGS);
    json_decref(j);
    FUZZ_CHECK(text != NULL, "json_dumps failed");
    return text;
}

static void round_trip(const nn_spec *spec, const nn_train_cfg *cfg)
{
    nn_spec spec2;
    nn_train_cfg cfg2;
    spec_json_err err;
    char *a = dump(spec, cfg);
    int rc = spec_json_parse_text(a, strlen(a), &spec2, &cfg2, &err);
    FUZZ_CHECK(rc == NN_OK, "the canonical form %s does not parse: %s at '%s'", a, err.msg,
               err.path);
    char *b = dump(&spec2, &cfg2);
    FUZZ_CHECK(!strcmp(a, b), "the canonical form changes: %s then %s", a, b);
    free(a);
    free(b);
    nn_spec_free(&spec2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err err;
    nn_err e;

    int rc = spec_json_parse_text((const char *)data, size, &spec, &cfg, &err);
    fuzz_note("spec_json_parse_text: status %d%s%s%s%s", rc, rc ? ": " : "", rc ? err.msg : "",
              rc ? " at " : "", rc ? err.path : "");
    FUZZ_CHECK(rc == NN_OK || rc == NN_EFORMAT || rc == NN_EINVAL || rc == NN_ENOMEM,
               "status %d", rc);
    if (rc != NN_OK) {
        check_err(&err);
        FUZZ_CHECK(spec.n_layers == 0 && spec.layers == NULL, "a failed parse left layers");
        return 0;
    }
    FUZZ_CHECK(spec.n_layers >= 1 && spec.n_layers <= SPEC_JSON_MAX_LAYERS && spec.layers,
               "%d layers", spec.n_layers);

    nn_model *m = NULL;
    nn_model_opts mo = {.shape_only = 1};
    rc = nn_model_new(&spec, &mo, &m, &e);
    fuzz_note("nn_model_new: status %d%s%s", rc, rc ? ": " : "", rc ? e.msg : "");
    if (rc != NN_OK) {
        FUZZ_CHECK(m == NULL, "a failed nn_model_new gave a model");
        spec_json_err_from_nn(&e, &err);
        check_err(&err);
    } else {
        nn_shape out = nn_model_out_shape(m);
        FUZZ_CHECK(out.rank >= 1 && nn_shape_numel(&out) >= 1, "output of rank %d", out.rank);
        int64_t total = 0;
        for (int i = 0; i < spec.n_layers; i++) {
            nn_layer_info li;
            nn_model_layer_info(m, i, &li);
            FUZZ_CHECK(li.n_params >= 0 && li.out.rank >= 1, "layer %d: %lld params, rank %d", i,
                       (long long)li.n_params, li.out.rank);
            total += li.n_params;
        }
        /* the arena rounds each layer's slice up: never fewer than the sum */
        FUZZ_CHECK((size_t)total <= nn_model_n_params(m), "%lld params by layer, %zu in all",
                   (long long)total, nn_model_n_params(m));
        nn_model_free(m);
    }
    round_trip(&spec, &cfg);
    nn_spec_free(&spec);
    return 0;
}
