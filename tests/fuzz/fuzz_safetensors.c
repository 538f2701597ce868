/*
 * fuzz_safetensors.c — the safetensors reader (core/safetensors.c) and
 * loading weights into a model (core/model.c), on hostile files.
 *
 * The whole input is the file.  It is parsed twice, from memory
 * (nn_st_parse) and from a file (nn_st_read_file): both must agree on the
 * verdict and on the tensors.  A parsed file's every tensor is looked up and
 * copied (float dtypes must copy, others must be refused, a wrong shape must
 * be refused).  Then the bytes are loaded as the weights of a small model
 * that has every kind of tensor traind writes (a convolution's, a batch
 * norm's parameters and running statistics, a dense layer's):
 *
 *     input [1, 4, 4] -> conv2d 2x3x3 -> batchnorm -> flatten -> dense 3
 *
 * with the promise of nn_model_load_weights_mem: a file that fails leaves
 * every weight as it was.  tests/fuzz/make_corpus.py writes this model's
 * file as a seed.  The same bytes then go through the ONNX exporter
 * (server/onnx_export.c) with that model's definition and with the file's
 * own metadata (a hostile "model" or "preprocess" text): it exports only
 * what loads, and answers everything else with an error.
 */
#include "fuzz.h"

#include "model.h"
#include "onnx_export.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

static nn_model *model;
static nn_real *orig;   /* the model's params, then its buffers */
static size_t n_param, n_buffer;

static void model_init(void)
{
    nn_layer_spec l[4];
    for (int i = 0; i < 4; i++)
        nn_layer_spec_default(&l[i]);
    l[0].kind = NN_LAYER_CONV2D;
    l[0].filters = 2;
    l[0].kernel[0] = l[0].kernel[1] = 3;
    l[1].kind = NN_LAYER_BATCHNORM;
    l[2].kind = NN_LAYER_FLATTEN;
    l[3].kind = NN_LAYER_DENSE;
    l[3].units = 3;
    nn_spec s = {.input = {3, {1, 4, 4}}, .n_layers = 4, .layers = l,
                 .loss = NN_LOSS_CROSS_ENTROPY};
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_err e;
    FUZZ_CHECK(nn_model_new(&s, &mo, &model, &e) == NN_OK, "the model: %s", e.msg);
    n_param = nn_model_n_params(model);
    n_buffer = nn_model_n_buffers(model);
    orig = malloc((n_param + n_buffer) * sizeof *orig);
    FUZZ_CHECK(orig != NULL, "out of memory");
    memcpy(orig, nn_model_params(model), n_param * sizeof *orig);
    memcpy(orig + n_param, nn_model_buffers(model), n_buffer * sizeof *orig);
}

static int weights_are_orig(void)
{
    return memcmp(orig, nn_model_params(model), n_param * sizeof *orig) == 0 &&
           memcmp(orig + n_param, nn_model_buffers(model), n_buffer * sizeof *orig) == 0;
}

/* Every tensor of f: info, a copy, a copy with a wrong shape. */
static void walk(const nn_st_file *f, size_t size)
{
    nn_err e;
    for (int i = 0; i < nn_st_count(f); i++) {
        const char *name = nn_st_name(f, i), *dtype;
        int rank;
        int64_t shape[NN_MAX_RANK];
        FUZZ_CHECK(name != NULL, "tensor %d has no name", i);
        int rc = nn_st_info(f, name, &dtype, &rank, shape, &e);
        if (rc == NN_ELIMIT)
            continue;   /* a rank past NN_MAX_RANK */
        FUZZ_CHECK(rc == NN_OK, "tensor '%s' is listed but not found: %s", name, e.msg);
        uint64_t numel = 1;
        for (int k = 0; k < rank; k++) {
            FUZZ_CHECK(shape[k] >= 0, "dimension %d of '%s' is %lld", k, name,
                       (long long)shape[k]);
            numel = shape[k] == 0 ? 0 : numel * (uint64_t)shape[k];
            if (numel > size)   /* more than one byte per element: impossible */
                FUZZ_CHECK(0, "'%s' has %llu elements in a %zu-byte file", name,
                           (unsigned long long)numel, size);
        }
        nn_real *dst = malloc((numel ? numel : 1) * sizeof *dst);
        FUZZ_CHECK(dst != NULL, "out of memory");
        int is_float = !strcmp(dtype, "F32") || !strcmp(dtype, "F64") || !strcmp(dtype, "F16") ||
                       !strcmp(dtype, "BF16");
        rc = nn_st_copy(f, name, rank, shape, dst, &e);
        FUZZ_CHECK(is_float ? rc == NN_OK : rc == NN_EINVAL, "copy of '%s' (%s): %d %s", name,
                   dtype, rc, rc ? e.msg : "");
        int64_t wrong[NN_MAX_RANK + 1];
        memcpy(wrong, shape, sizeof shape);
        wrong[rank] = 2;   /* one more dimension: never the same shape */
        if (rank < NN_MAX_RANK) {
            nn_real *big = malloc((numel ? 2 * numel : 1) * sizeof *big);
            FUZZ_CHECK(big != NULL, "out of memory");
            rc = nn_st_copy(f, name, rank + 1, wrong, big, &e);
            FUZZ_CHECK(rc == NN_EINVAL, "copy of '%s' with a wrong shape: %d", name, rc);
            free(big);
        }
        free(dst);
    }
    (void)nn_st_meta(f, "format");
    (void)nn_st_meta(f, "");
}

/* the definition of model_init's model */
static const char MODEL_JSON[] =
    "{\"input\": [1, 4, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3},"
    " {\"type\": \"batchnorm\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}],"
    " \"loss\": \"cross_entropy\"}";

static void export_onnx(const uint8_t *data, size_t size)
{
    for (int k = 0; k < 2; k++) {
        void *out;
        size_t len;
        char err[512];
        int rc = onnx_export(data, size, k ? NULL : MODEL_JSON, &out, &len, err, sizeof err);
        fuzz_note("onnx_export (%s): status %d%s%s", k ? "its metadata" : "the model", rc,
                  rc ? ": " : "", rc ? err : "");
        FUZZ_CHECK(rc == ONNX_EXPORT_OK ? out && len > 0 : !out && len == 0 && *err,
                   "onnx_export: status %d with %zu bytes", rc, len);
        FUZZ_CHECK(rc <= 0 && rc >= ONNX_EXPORT_ENOMEM, "onnx_export: status %d", rc);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_st_file *a = NULL, *b = NULL;
    nn_err e, e2;
    if (!model)
        model_init();

    int rc = nn_st_parse(data, size, &a, &e);
    int rc2 = nn_st_read_file(fuzz_file(0, data, size), &b, &e2);
    fuzz_note("nn_st_parse: status %d%s%s; %d tensors", rc, rc ? ": " : "", rc ? e.msg : "",
              a ? nn_st_count(a) : 0);
    FUZZ_CHECK(rc == rc2, "from memory %d (%s), from a file %d (%s)", rc, rc ? e.msg : "", rc2,
               rc2 ? e2.msg : "");
    FUZZ_CHECK((rc == NN_OK) == (a != NULL) && (rc2 == NN_OK) == (b != NULL),
               "an output that does not match the status");
    if (rc == NN_OK) {
        FUZZ_CHECK(nn_st_count(a) == nn_st_count(b), "%d tensors from memory, %d from a file",
                   nn_st_count(a), nn_st_count(b));
        for (int i = 0; i < nn_st_count(a); i++)
            FUZZ_CHECK(!strcmp(nn_st_name(a, i), nn_st_name(b, i)), "tensor %d differs", i);
        walk(a, size);
    }
    nn_st_free(a);
    nn_st_free(b);
    export_onnx(data, size);

    rc = nn_model_load_weights_mem(model, data, size, &e);
    fuzz_note("nn_model_load_weights_mem: status %d%s%s", rc, rc ? ": " : "", rc ? e.msg : "");
    if (rc != NN_OK) {
        FUZZ_CHECK(weights_are_orig(), "a failed load (%s) changed the weights", e.msg);
    } else {
        memcpy(nn_model_params(model), orig, n_param * sizeof *orig);
        memcpy(nn_model_buffers(model), orig + n_param, n_buffer * sizeof *orig);
    }
    return 0;
}
