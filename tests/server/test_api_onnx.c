/*
 * test_api_onnx.c — ONNX export end to end: models trained by the real
 * daemon (tests/common/e2e.h), downloaded from GET /v1/jobs/{id}/model.onnx
 * and run by real runtimes, whose outputs must be what POST
 * /v1/jobs/{id}/predict answers on the same raw inputs:
 *
 *  - onnxruntime (onnxruntime-node, tests/onnx/run_ort.js): probabilities
 *    within 1e-5 absolute, regression values within 1e-5 relative plus
 *    1e-6 absolute, output shapes equal;
 *  - onnx.checker.check_model(full_check=True) of Debian's python3-onnx
 *    with strict shape inference, IR <= 8, opset <= 17, the metadata
 *    (tests/onnx/check_onnx.py); and OpenCV's dnn on the models it can
 *    read (same tolerances), refusing exactly those docs/onnx.md lists.
 *
 * Tests:
 *  - layers: every layer kind and option on generated data: activations
 *    (dense and standalone, leaky_relu/elu alphas, gelu), dense without
 *    bias, dropout, batchnorm after dense, after images and per feature
 *    of a sequence; conv2d with valid, same (odd and even kernels),
 *    explicit and asymmetric padding and strides; max and average pools
 *    with strides (overlapping too), global_avgpool, flatten; rnn (tanh,
 *    relu, no bias), lstm, gru, stacked, with and without
 *    return_sequences, dense on every step, per-step classes; every loss's
 *    output (softmax, sigmoid, values); standardization of images in the
 *    graph.
 *  - examples: every examples/NAME.json trained for an epoch or two on
 *    generated data of its input shape.
 *  - tabular: CSVs with numeric and text columns, with and without missing
 *    values: mean and median imputation, standardization and min-max in the graph,
 *    the categorical column as its one-hot block (traind.features), the
 *    __missing__ category; and `traind train --out FILE.onnx` against
 *    `traind export` of the same weights (the same bytes).
 *  - errors: an unknown `which`, unknown jobs, a queued job (409 for
 *    final, 404 for latest), a cancelled job without weights (404), a
 *    running job (409 for final; which=latest exports its checkpoint);
 *    `traind export` misuse (exit 2) and weights of another model (exit 1).
 *
 * Sizes: 48 samples, 2 epochs per model; the whole suite takes well under
 * a minute in a release build.  node (with tests/onnx/node_modules, from
 * make deps) and /usr/bin/python3 with python3-onnx and python3-opencv are
 * needed: without them the test fails, saying so.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apitest.h"
#include "e2e.h"
#include "rng.h"
#include "testutil.h"

enum { N_SAMPLES = 48, N_INST = 6 };

static const char *srcdir(void)
{
    const char *d = getenv("TRAIND_SRCDIR");
    return d && *d ? d : ".";
}

static const char *traind_bin(void)
{
    const char *b = getenv("TRAIND_BIN");
    return b && *b ? b : "./traind";
}

/* ---------------------------------------------------------------------------
 * Generated data */

static int64_t numel(const json_t *shape)
{
    int64_t n = 1;
    for (size_t i = 0; i < json_array_size(shape); i++)
        n *= json_integer_value(json_array_get(shape, i));
    return n;
}

/* x [N_SAMPLES, in] uniform in (-1, 1) */
static float *gen_x(int64_t per, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 1);
    float *x = malloc((size_t)(N_SAMPLES * per) * sizeof *x);
    for (int64_t i = 0; i < N_SAMPLES * per; i++)
        x[i] = (float)(2 * nn_rng_uniform(&r) - 1);
    return x;
}

/* k values of one step of sample i: a function of its inputs */
static json_t *gen_values(const float *x, int64_t per, int i, int64_t t, int64_t k)
{
    json_t *v = json_array();
    for (int64_t j = 0; j < k; j++)
        json_array_append_new(v, json_real(sin(3.0 * x[i * per + (t + j) % per]) + 0.1 * (double)j));
    return v;
}

/* y for the loss and the output shape ([k] or [T, k]): classes i % k (per
 * step (i + t) % k) for cross_entropy, 0/1 for binary_cross_entropy,
 * values otherwise. */
static json_t *gen_y(const char *loss, const json_t *out, const float *x, int64_t per)
{
    int seq = json_array_size(out) == 2;
    int64_t k = json_integer_value(json_array_get(out, seq ? 1 : 0));
    int64_t T = seq ? json_integer_value(json_array_get(out, 0)) : 1;
    int cls = !strcmp(loss, "cross_entropy") || !strcmp(loss, "binary_cross_entropy");
    int64_t n_cls = !strcmp(loss, "cross_entropy") ? k : 2;
    json_t *y = json_array();
    for (int i = 0; i < N_SAMPLES; i++) {
        if (!seq) {
            json_array_append_new(y, cls ? json_integer(i % n_cls) : gen_values(x, per, i, 0, k));
            continue;
        }
        json_t *row = json_array();
        for (int64_t t = 0; t < T; t++)
            json_array_append_new(row, cls ? json_integer((i + t) % n_cls) : gen_values(x, per, i, t, k));
        json_array_append_new(y, row);
    }
    return y;
}

/* ---------------------------------------------------------------------------
 * Calls */

static json_t *dry_run(const e2e_daemon *d, const char *model)
{
    e2e_resp r = e2e_json(d, "POST", "/v1/models?dry_run=true", model);
    ck_assert_msg(r.status == 200, "dry run: %ld %s", r.status, r.body);
    json_t *a = json_incref(r.json);
    e2e_resp_free(&r);
    return a;
}

static long long upload_json(const e2e_daemon *d, const float *x, const json_t *in_shape,
                             const json_t *y)
{
    int64_t dims[4] = {N_SAMPLES};
    int rank = 1 + (int)json_array_size(in_shape);
    for (int k = 1; k < rank; k++)
        dims[k] = json_integer_value(json_array_get(in_shape, (size_t)k - 1));
    at_sbuf b = {0};
    char *yt = json_dumps(y, JSON_COMPACT);
    at_sb_printf(&b, "{\"x\": ");
    at_sb_tensor(&b, x, dims, rank);
    at_sb_printf(&b, ", \"y\": %s}", yt);
    e2e_resp r = e2e_req(d, "POST", "/v1/datasets", "application/json", b.p, b.len, NULL);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    free(yt);
    free(b.p);
    return id;
}

/* GET /v1/jobs/{job}/model.onnx into the scratch directory as NAME.onnx */
static char *fetch_onnx(const e2e_daemon *d, long long job, const char *name)
{
    char path[128], file[128];
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx", job);
    e2e_resp r = e2e_get(d, path);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    ck_assert_str_eq(r.content_type, "application/octet-stream");
    snprintf(file, sizeof file, "%s.onnx", name);
    char *f = tu_write(tu_tmpdir(), file, r.body, r.len, 0);
    e2e_resp_free(&r);
    return f;
}

/* The numbers of a prediction, in order: probabilities (or probability)
 * of a classifier, else the values. */
static void flatten(const json_t *v, json_t *out)
{
    if (json_is_number(v)) {
        json_array_append_new(out, json_real(json_number_value(v)));
    } else if (json_is_object(v)) {
        const json_t *p = json_object_get(v, "probabilities");
        flatten(p ? p : json_object_get(v, "probability"), out);
    } else {
        for (size_t i = 0; i < json_array_size(v); i++)
            flatten(json_array_get(v, i), out);
    }
}

/* A manifest entry (run_ort.js) for a model file, its input and traind's
 * predictions of it. */
static json_t *entry(const char *name, const char *onnx, json_t *input, const json_t *in_shape,
                     const json_t *out_shape, const json_t *preds, const char *loss, int opencv)
{
    json_t *e = json_pack("{s:s, s:s, s:o, s:b}", "name", name, "onnx", onnx, "input", input,
                          "opencv", opencv);
    json_t *is = json_pack("[i]", N_INST), *os = json_pack("[i]", N_INST), *exp = json_array();
    json_array_extend(is, (json_t *)in_shape);
    json_array_extend(os, (json_t *)out_shape);
    flatten(preds, exp);
    int cls = !strcmp(loss, "cross_entropy") || !strcmp(loss, "binary_cross_entropy");
    json_object_set_new(e, "input_shape", is);
    json_object_set_new(e, "output_shape", os);
    json_object_set_new(e, "expected", exp);
    json_object_set_new(e, "kind", json_string(cls ? "probabilities" : "values"));
    return e;
}

/* Trains `model` (a definition; training overridden by `training`) on
 * generated data, exports it, predicts N_INST samples and appends the
 * case to manifest. */
static void export_case(const e2e_daemon *d, json_t *manifest, const char *name, const char *model,
                        const char *training, int opencv)
{
    json_t *a = dry_run(d, model), *sum = json_object_get(a, "summary");
    const json_t *in = json_object_get(sum, "input"), *out = json_object_get(sum, "output");
    const char *loss = e2e_str(json_object_get(a, "definition"), "loss");
    int64_t per = numel(in);
    float *x = gen_x(per, (uint64_t)strlen(name) * 7919u);
    json_t *y = gen_y(loss, out, x, per);
    long long ds = upload_json(d, x, in, y);
    char *body = malloc(strlen(model) + 512);
    sprintf(body, "{\"model\": %s, \"dataset\": %lld, \"training\": %s}", model, ds,
            training ? training : "{\"epochs\": 2, \"batch_size\": 16, \"seed\": 5}");
    json_t *job = at_run_job(d, body, 120);
    long long id = e2e_int(job, "id");
    char *file = fetch_onnx(d, id, name);
    char *inst = at_instances(x, (size_t)per, N_INST);
    json_t *preds = at_predict(d, id, inst, N_INST), *input = json_array();
    for (int64_t i = 0; i < N_INST * per; i++)
        json_array_append_new(input, json_real(x[i]));
    json_array_append_new(manifest, entry(name, file, input, in, out, preds, loss, opencv));
    json_decref(preds);
    json_decref(job);
    json_decref(y);
    json_decref(a);
    free(inst);
    free(file);
    free(body);
    free(x);
}

/* ---------------------------------------------------------------------------
 * The runtimes */

static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run %s", cmd);
    at_sbuf b = {0};
    char line[1024];
    while (fgets(line, sizeof line, p))
        at_sb_printf(&b, "%s", line);
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return b.p ? b.p : strdup("");
}

/* Writes the manifest, runs onnxruntime, the checker and OpenCV on it;
 * every one must pass every case. */
static void run_runtimes(json_t *manifest, const char *tag)
{
    char name[64], cmd[2048];
    snprintf(name, sizeof name, "%s-manifest.json", tag);
    char *text = json_dumps(manifest, JSON_COMPACT);
    char *path = tu_write_str(tu_tmpdir(), name, text);
    free(text);
    const char *const tools[2][2] = {
        {"node '%s/tests/onnx/run_ort.js' '%s' 2>&1", "onnxruntime-node (make deps installs it)"},
        {"/usr/bin/python3 '%s/tests/onnx/check_onnx.py' '%s' 2>&1",
         "python3-onnx and python3-opencv (make deps installs them)"}};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, tools[k][0], srcdir(), path);
        int st;
        char *out = run(cmd, &st);
        printf("%s:\n%s", tag, out);
        ck_assert_msg(st == 0, "%s: %s failed (exit %d; needs %s):\n%s", tag, cmd, st, tools[k][1],
                      out);
        char want[64];
        snprintf(want, sizeof want, ": %zu passed, 0 failed", json_array_size(manifest));
        ck_assert_msg(strstr(out, want) != NULL, "%s: not every model passed:\n%s", tag, out);
        free(out);
    }
    free(path);
}

/* ---------------------------------------------------------------------------
 * Every layer kind and option */

typedef struct layer_case {
    const char *name, *model;
    int opencv;              /* OpenCV 4.6's dnn loads and runs it: not its recurrent
                                layers (docs/onnx.md) */
} layer_case;

static const layer_case LAYER_CASES[] = {
    {"dense_acts",
     "{\"input\": [6], \"layers\": [{\"type\": \"dense\", \"units\": 8, \"activation\": \"relu\"},"
     " {\"type\": \"dense\", \"units\": 8, \"activation\": {\"type\": \"leaky_relu\", \"alpha\": 0.2}},"
     " {\"type\": \"dense\", \"units\": 8, \"activation\": {\"type\": \"elu\", \"alpha\": 0.5}},"
     " {\"type\": \"dense\", \"units\": 8, \"activation\": \"tanh\", \"use_bias\": false},"
     " {\"type\": \"dense\", \"units\": 8, \"activation\": \"sigmoid\"},"
     " {\"type\": \"dropout\", \"rate\": 0.3}, {\"type\": \"dense\", \"units\": 8},"
     " {\"type\": \"leaky_relu\"}, {\"type\": \"elu\"}, {\"type\": \"softmax\"},"
     " {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\"}",
     1},
    {"dense_gelu_batchnorm",
     "{\"input\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 8, \"activation\": \"gelu\"},"
     " {\"type\": \"batchnorm\", \"momentum\": 0.3, \"eps\": 0.01}, {\"type\": \"gelu\"},"
     " {\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}",
     1},
    {"dense_sigmoid_output",
     "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 6, \"activation\": \"relu\"},"
     " {\"type\": \"dense\", \"units\": 1}], \"loss\": \"binary_cross_entropy\"}",
     1},
    {"dense_mae_sigmoid",
     "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 3, \"activation\": \"sigmoid\"}],"
     " \"loss\": \"mae\"}",
     1},
    {"conv_valid_strides",
     "{\"input\": [2, 9, 9], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3,"
     " \"stride\": 2, \"activation\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 3, \"kernel\": [3, 2],"
     " \"stride\": [1, 2], \"padding\": [1, 2], \"use_bias\": false, \"activation\": \"tanh\"},"
     " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}], \"loss\": \"cross_entropy\"}",
     1},
    {"conv_same_pools_batchnorm",
     "{\"input\": [3, 10, 12], \"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 4,"
     " \"padding\": \"same\"}, {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
     " {\"type\": \"conv2d\", \"filters\": 5, \"kernel\": [3, 2], \"padding\": \"same\","
     " \"activation\": \"gelu\"}, {\"type\": \"maxpool2d\", \"size\": 2},"
     " {\"type\": \"avgpool2d\", \"size\": [2, 3], \"stride\": [1, 2]},"
     " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 1}], \"loss\": \"binary_cross_entropy\"}",
     1},
    {"conv_overlapping_pools_gap",
     "{\"input\": [1, 11, 11], \"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3,"
     " \"padding\": 1, \"activation\": \"relu\"}, {\"type\": \"maxpool2d\", \"size\": 3, \"stride\": 1},"
     " {\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 2, \"activation\": \"elu\"},"
     " {\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"avgpool2d\", \"size\": 2, \"stride\": 1},"
     " {\"type\": \"batchnorm\", \"eps\": 0.001}, {\"type\": \"global_avgpool\"}, {\"type\": \"dropout\", \"rate\": 0.1},"
     " {\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}",
     1},
    {"lstm_stacked",
     "{\"input\": [7, 3], \"layers\": [{\"type\": \"lstm\", \"units\": 5, \"return_sequences\": true},"
     " {\"type\": \"lstm\", \"units\": 4}, {\"type\": \"dense\", \"units\": 3}], \"loss\": \"cross_entropy\"}",
     0},
    {"gru_sequences_batchnorm",
     "{\"input\": [6, 2], \"layers\": [{\"type\": \"gru\", \"units\": 5, \"return_sequences\": true},"
     " {\"type\": \"batchnorm\"}, {\"type\": \"dropout\", \"rate\": 0.2},"
     " {\"type\": \"gru\", \"units\": 4, \"return_sequences\": true, \"use_bias\": false},"
     " {\"type\": \"dense\", \"units\": 2}], \"loss\": \"mse\"}",
     0},
    {"rnn_relu_tanh_bce",
     "{\"input\": [5, 3], \"layers\": [{\"type\": \"rnn\", \"units\": 6, \"activation\": \"relu\","
     " \"return_sequences\": true, \"use_bias\": false}, {\"type\": \"rnn\", \"units\": 4},"
     " {\"type\": \"dense\", \"units\": 1}], \"loss\": \"binary_cross_entropy\"}",
     0},
    {"gru_per_step_classes",
     "{\"input\": [6, 3], \"layers\": [{\"type\": \"gru\", \"units\": 5, \"return_sequences\": true},"
     " {\"type\": \"dense\", \"units\": 3, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3}],"
     " \"loss\": \"cross_entropy\"}",
     0},
    {"lstm_sequence_sigmoid_steps",
     "{\"input\": [4, 2], \"layers\": [{\"type\": \"lstm\", \"units\": 3, \"return_sequences\": true,"
     " \"use_bias\": false}, {\"type\": \"dense\", \"units\": 1}], \"loss\": \"binary_cross_entropy\"}",
     0},
};

/* standardization of every pixel in the graph (off by default for JSON data) */
static const char *STD_TRAINING =
    "{\"epochs\": 2, \"batch_size\": 16, \"seed\": 5, \"preprocess\": {\"standardize\": true}}";

START_TEST(layers)
{
    e2e_daemon d;
    e2e_start(&d, NULL, NULL);
    json_t *manifest = json_array();
    size_t n = sizeof LAYER_CASES / sizeof *LAYER_CASES;
    for (size_t i = 0; i < n; i++)
        export_case(&d, manifest, LAYER_CASES[i].name, LAYER_CASES[i].model, NULL,
                    LAYER_CASES[i].opencv);
    export_case(&d, manifest, "conv_standardized", LAYER_CASES[4].model, STD_TRAINING, 1);
    export_case(&d, manifest, "lstm_standardized", LAYER_CASES[7].model, STD_TRAINING, 0);
    run_runtimes(manifest, "layers");
    json_decref(manifest);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * examples/NAME.json */

static const struct {
    const char *file;
    int opencv;
} EXAMPLES[] = {
    {"xor.json", 1},        {"iris-csv.json", 1},   {"regression.json", 1},
    {"fmnist-mlp.json", 1}, {"fmnist-cnn.json", 1}, {"cnn-small.json", 1},
    {"fmnist-lstm.json", 0}, {"rnn-small.json", 0}, {"sine-gru.json", 0},
};

/* an epoch or two on the generated data, no validation or early stop */
static const char *EXAMPLE_TRAINING =
    "{\"epochs\": 2, \"batch_size\": 16, \"validation_split\": 0, \"early_stopping\": null,"
    " \"target_loss\": null}";

START_TEST(examples)
{
    e2e_daemon d;
    e2e_start(&d, NULL, NULL);
    json_t *manifest = json_array();
    for (size_t i = 0; i < sizeof EXAMPLES / sizeof *EXAMPLES; i++) {
        char path[512], name[64];
        snprintf(path, sizeof path, "%s/examples/%s", srcdir(), EXAMPLES[i].file);
        char *text = tu_read(path, NULL);
        ck_assert_msg(text != NULL, "cannot read %s", path);
        snprintf(name, sizeof name, "example_%.*s", (int)(strlen(EXAMPLES[i].file) - 5),
                 EXAMPLES[i].file);
        export_case(&d, manifest, name, text, EXAMPLE_TRAINING, EXAMPLES[i].opencv);
        free(text);
    }
    ck_assert_int_eq((int)json_array_size(manifest), 9);
    run_runtimes(manifest, "examples");
    json_decref(manifest);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Tables: preprocessing in the graph */

/* How a table's values go missing: a only (filled by the mean); a and
 * region (the median, and region's own __missing__ category); none. */
enum { MISS_A, MISS_A_REGION, MISS_NONE };

/* 40 rows: a (missing every 7th but in MISS_NONE), region (text: asti,
 * barolo, canelli; missing every 11th in MISS_A_REGION), b near 1000, label */
static char *gen_csv(int miss)
{
    static const char *const regions[3] = {"canelli", "asti", "barolo"};
    at_sbuf b = {0};
    at_sb_printf(&b, "a,region,b,label\n");
    for (int i = 0; i < 40; i++) {
        double a = sin(i * 1.3) * 4 + 2, bb = 1000 + cos(i * 0.7) * 0.05;
        if (i % 7 == 3 && miss != MISS_NONE)
            at_sb_printf(&b, ",");
        else
            at_sb_printf(&b, "%.4f,", a);
        if (miss == MISS_A_REGION && i % 11 == 5)
            at_sb_printf(&b, "NA,");
        else
            at_sb_printf(&b, "%s,", regions[i % 3]);
        at_sb_printf(&b, "%.5f,%s\n", bb, (i * 5 % 3) == 0 ? "red" : (i % 2 ? "white" : "rose"));
    }
    return b.p;
}

/* The raw instances for predict and the encoded feature vector for ONNX:
 * a (NaN when missing), the one-hot block of region in bytewise order
 * (asti, barolo, canelli[, __missing__]), b. */
static const struct {
    double a;               /* NAN: missing */
    const char *region;     /* NULL: missing */
    double b;
} INSTANCES[N_INST] = {
    {1.5, "asti", 1000.01}, {NAN, "barolo", 999.97}, {-2.25, "canelli", 1000.0},
    {4.0, NULL, 1000.04},   {0.0, "asti", 999.95},   {NAN, NULL, 1000.02},
};

/* fill: the category a missing region takes (the job's most frequent, or
 * __missing__, the last one-hot value, with missing_cat). */
static void tabular_inputs(int miss, const char *fill, char **inst, json_t **input)
{
    int missing_cat = miss == MISS_A_REGION;
    static const char *const cats[4] = {"asti", "barolo", "canelli", "__missing__"};
    at_sbuf b = {0};
    *input = json_array();
    at_sb_printf(&b, "{\"instances\": [");
    for (int i = 0; i < N_INST; i++) {
        char a[32] = "null";
        double av = isnan(INSTANCES[i].a) && miss == MISS_NONE ? 0.5 : INSTANCES[i].a;
        if (!isnan(av))
            snprintf(a, sizeof a, "%.17g", av);
        const char *r = INSTANCES[i].region || miss != MISS_NONE ? INSTANCES[i].region : "barolo";
        at_sb_printf(&b, "%s[%s, %s%s%s, %.17g]", i ? ", " : "", a, r ? "\"" : "", r ? r : "null",
                     r ? "\"" : "", INSTANCES[i].b);
        json_array_append_new(*input, isnan(av) ? json_null() : json_real(av));
        const char *hot = r ? r : fill;
        for (int k = 0; k < 3 + missing_cat; k++)
            json_array_append_new(*input, json_real(!strcmp(hot, cats[k]) ? 1 : 0));
        json_array_append_new(*input, json_real((float)INSTANCES[i].b));
    }
    at_sb_printf(&b, "]}");
    *inst = b.p;
}

static json_t *tabular_features(int missing_cat)
{
    json_t *f = json_pack("[{s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]",
                          "column", "a", "kind", "numeric", "column", "region", "kind", "category",
                          "category", "asti", "column", "region", "kind", "category", "category",
                          "barolo", "column", "region", "kind", "category", "category", "canelli");
    if (missing_cat)
        json_array_append_new(f, json_pack("{s:s, s:s, s:s}", "column", "region", "kind",
                                           "category", "category", "__missing__"));
    json_array_append_new(f, json_pack("{s:s, s:s}", "column", "b", "kind", "numeric"));
    return f;
}

static void tabular_case(const e2e_daemon *d, json_t *manifest, const char *name,
                         const char *preprocess, int miss, const char *loss)
{
    int missing_cat = miss == MISS_A_REGION;
    char *csv = gen_csv(miss);
    e2e_resp r = e2e_req(d, "POST", "/v1/datasets?label=label", "text/csv", csv, strlen(csv), NULL);
    ck_assert_msg(r.status == 201, "csv: %ld %s", r.status, r.body);
    long long ds = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    int width = 5 + missing_cat, ce = !strcmp(loss, "cross_entropy");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\": {\"input\": [%d], \"layers\": [{\"type\": \"dense\", \"units\": 6,"
             " \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": %d}], \"loss\": \"%s\"},"
             " \"dataset\": %lld, \"training\": {\"epochs\": 3, \"batch_size\": 8,"
             " \"preprocess\": %s}}",
             width, ce ? 3 : 1, loss, ds, preprocess);
    json_t *job = at_run_job(d, body, 60);
    long long id = e2e_int(job, "id");
    char *file = fetch_onnx(d, id, name), *inst;
    json_t *input, *preds;
    /* the fitted fill of region: its most frequent category, or null */
    const json_t *cols = json_object_get(json_object_get(job, "preprocessing"), "columns");
    const json_t *fill = json_object_get(json_array_get(cols, 1), "fill");
    ck_assert_msg(json_array_size(cols) == 3, "preprocessing: %s", json_dumps(job, 0));
    ck_assert_msg(json_is_string(fill) || miss == MISS_NONE, "region's fill");
    if (missing_cat)
        ck_assert_str_eq(json_string_value(fill), "__missing__");
    tabular_inputs(miss, json_string_value(fill), &inst, &input);
    preds = at_predict(d, id, inst, N_INST);
    json_t *in = json_pack("[i]", width), *out = json_pack("[i]", ce ? 3 : 1);
    /* OpenCV 4.6 has no IsNaN: imputation keeps a table from it */
    json_t *e = entry(name, file, input, in, out, preds, loss, miss == MISS_NONE);
    json_object_set_new(e, "features", tabular_features(missing_cat));
    if (ce)
        json_object_set_new(e, "classes", json_pack("[s, s, s]", "red", "rose", "white"));
    json_array_append_new(manifest, e);
    json_decref(in);
    json_decref(out);
    json_decref(preds);
    json_decref(job);
    free(inst);
    free(file);
    free(csv);
}

/* traind train --out FILE.onnx, and traind export of the same run's
 * safetensors: the same bytes. */
static void cli_train_export(void)
{
    char *csv = gen_csv(MISS_A), cmd[4096];
    char *data = tu_write_str(tu_tmpdir(), "cli.csv", csv);
    /* a, region (3), label (3 categories) -> b */
    const char *def = "{\"input\": [7], \"layers\": [{\"type\": \"dense\", \"units\": 4,"
                      " \"activation\": \"elu\"}, {\"type\": \"dense\", \"units\": 1}],"
                      " \"loss\": \"mse\", \"training\": {\"epochs\": 2, \"seed\": 3,"
                      " \"preprocess\": {\"missing\": \"mean\"}}}";
    char *model = tu_write_str(tu_tmpdir(), "cli.json", def);
    const char *t = tu_tmpdir(), *bin = traind_bin();
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "'%s' train --model '%s' --train '%s' --label b --threads 1 --quiet --out '%s/cli.%s'"
                 " >/dev/null 2>&1",
                 bin, model, data, t, k ? "onnx" : "safetensors");
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
    snprintf(cmd, sizeof cmd, "'%s' export --weights '%s/cli.safetensors' --out '%s/cli2.onnx' 2>&1",
             bin, t, t);
    int st;
    char *out = run(cmd, &st);
    ck_assert_msg(st == 0, "%s: %s", cmd, out);
    free(out);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/cli.onnx", t);
    snprintf(p2, sizeof p2, "%s/cli2.onnx", t);
    size_t l1, l2;
    char *a = tu_read(p1, &l1), *b = tu_read(p2, &l2);
    ck_assert_msg(a && b && l1 == l2 && !memcmp(a, b, l1),
                  "traind train --out x.onnx and traind export differ (%zu, %zu bytes)", l1, l2);
    printf("tabular: traind train --out cli.onnx == traind export (%zu bytes)\n", l1);
    free(a);
    free(b);
    free(model);
    free(data);
    free(csv);
}

START_TEST(tabular)
{
    e2e_daemon d;
    e2e_start(&d, NULL, NULL);
    json_t *manifest = json_array();
    tabular_case(&d, manifest, "table_mean_standardized", "{\"missing\": \"mean\"}", MISS_A,
                 "cross_entropy");
    tabular_case(&d, manifest, "table_median_min_max",
                 "{\"min_max\": true, \"missing\": {\"numeric\": \"median\", \"categorical\":"
                 " \"category\"}}",
                 MISS_A_REGION, "cross_entropy");
    tabular_case(&d, manifest, "table_complete_min_max", "{\"min_max\": true}", MISS_NONE,
                 "cross_entropy");
    run_runtimes(manifest, "tabular");
    json_decref(manifest);
    cli_train_export();
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Malformed requests */

static void expect_status(const e2e_daemon *d, const char *path, long status, const char *code)
{
    e2e_resp r = e2e_get(d, path);
    ck_assert_msg(r.status == status, "%s: %ld, want %ld: %s", path, r.status, status, r.body);
    const json_t *err = json_object_get(r.json, "error");
    ck_assert_msg(err && !strcmp(e2e_str(err, "code"), code), "%s: %s", path, r.body);
    e2e_resp_free(&r);
}

/* a job that trains for long on little data: checkpoints every epoch */
static long long long_job(const e2e_daemon *d, long long ds)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\": {\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 64},"
             " {\"type\": \"dense\", \"units\": 1}], \"loss\": \"mse\"}, \"dataset\": %lld,"
             " \"training\": {\"epochs\": 1000000, \"batch_size\": 1}}",
             ds);
    return at_post_id(d, "/v1/jobs", body);
}

static void traind_export_errors(void)
{
    char cmd[2048];
    int st;
    snprintf(cmd, sizeof cmd, "'%s' export --out x.onnx 2>&1", traind_bin());
    char *out = run(cmd, &st);
    ck_assert_msg(st == 2 && strstr(out, "--weights"), "%s: exit %d: %s", cmd, st, out);
    free(out);
    /* weights of a [4] -> 1 model against a definition of [3] */
    const char *t = tu_tmpdir();
    char *model = tu_write_str(t, "other.json",
                               "{\"input\": [3], \"layers\": [{\"type\": \"dense\", \"units\": 1}],"
                               " \"loss\": \"mse\"}");
    snprintf(cmd, sizeof cmd, "'%s' export --weights '%s/err.safetensors' --model '%s' --out '%s/err.onnx' 2>&1",
             traind_bin(), t, model, t);
    out = run(cmd, &st);
    ck_assert_msg(st == 1 && strstr(out, "do not fit the model"), "%s: exit %d: %s", cmd, st, out);
    char left[512];
    snprintf(left, sizeof left, "%s/err.onnx", t);
    ck_assert_msg(access(left, F_OK) != 0, "a failed export left a file");
    free(out);
    free(model);
}

START_TEST(errors)
{
    e2e_daemon d;
    const char *extra[] = {"--workers", "1", NULL};
    e2e_start(&d, NULL, extra);
    float *x = gen_x(4, 9);
    json_t *in = json_pack("[i]", 4), *out = json_pack("[i]", 1), *y = gen_y("mse", out, x, 4);
    long long ds = upload_json(&d, x, in, y);
    expect_status(&d, "/v1/jobs/999/model.onnx", 404, "not_found");
    long long run_id = long_job(&d, ds), queued = long_job(&d, ds);
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx?which=newest", run_id);
    expect_status(&d, path, 400, "invalid_parameter");
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx?format=onnx", run_id);
    expect_status(&d, path, 400, "invalid_parameter");
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx", queued);
    expect_status(&d, path, 409, "conflict");
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx?which=latest", queued);
    expect_status(&d, path, 404, "not_found");
    /* the running job: 409 for final; its latest checkpoint exports */
    json_decref(e2e_wait_job(&d, run_id, "running", 20));
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx", run_id);
    expect_status(&d, path, 409, "conflict");
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx?which=latest", run_id);
    e2e_resp r = {0};
    for (int i = 0; i < 200; i++) {
        e2e_resp_free(&r);
        r = e2e_get(&d, path);
        if (r.status == 200)
            break;
        usleep(100000);
    }
    ck_assert_msg(r.status == 200 && r.len > 100, "latest of a running job: %ld %s", r.status, r.body);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights?which=latest", run_id);
    r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    free(tu_write(tu_tmpdir(), "err.safetensors", r.body, r.len, 0));
    e2e_resp_free(&r);
    /* cancelled before it ran: no weights at all */
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", queued);
    e2e_resp c = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    e2e_resp_free(&c);
    json_decref(e2e_wait_job(&d, queued, "cancelled", 20));
    snprintf(path, sizeof path, "/v1/jobs/%lld/model.onnx", queued);
    expect_status(&d, path, 404, "not_found");
    snprintf(path, sizeof path, "/v1/jobs/%lld/cancel", run_id);
    c = e2e_req(&d, "POST", path, NULL, NULL, 0, NULL);
    e2e_resp_free(&c);
    json_decref(e2e_wait_job(&d, run_id, "cancelled", 20));
    traind_export_errors();
    ck_assert_int_eq(e2e_stop(&d), 0);
    json_decref(in);
    json_decref(out);
    json_decref(y);
    free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_onnx");
    TCase *tc = tcase_create("api_onnx");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, layers);
    tcase_add_test(tc, examples);
    tcase_add_test(tc, tabular);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
