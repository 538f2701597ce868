/*
 * test_api_rnn.c — recurrent networks end to end through the REST API, on
 * the real daemon (tests/common/e2e.h), checked against PyTorch
 * (tests/torch_predict.py loads the exported weights into nn.LSTM, nn.GRU
 * and nn.RNN):
 *
 *  - fmnist_lstm_through_the_api: Fashion-MNIST images read as sequences
 *    (the model's input [28, 28]: 28 rows of 28 pixels), LSTM(64) ->
 *    dense(10, softmax), trained on a subset and validated on held-out test
 *    images.  The validation accuracy must prove learning, the loss must
 *    fall every epoch, the summary must give the shapes and the parameter
 *    counts (an LSTM has 4H(F + H) + 8H), predict must agree with the labels
 *    as often as the job's validation accuracy says, the safetensors must
 *    hold PyTorch's tensors, and nn.LSTM with them must give the same
 *    probabilities.
 *  - per_step_classes_through_the_api: many-to-many classification, a class
 *    per step.  A JSON dataset of nested arrays, x [n, 10, 3] and y [n, 10]
 *    (the class at step t is the feature with the largest sum over steps
 *    0..t, which needs the recurrent state); an rnn (relu, no bias, every
 *    step) and a dense layer on every step giving logits.  Predict answers
 *    per step (class, class_index of length 10, probabilities [10][3]) and
 *    agrees with the job's per-step accuracy and with nn.RNN.  The same with
 *    binary_cross_entropy and a 0/1 target per step (a GRU and a sigmoid
 *    unit per step): class, class_index and probability per step.  Bad
 *    instances keep their errors.
 *  - sequence_regression_through_the_api: many-to-many regression, the next
 *    value of sine waves at every step: trained on NPY x [n, 20, 1] and
 *    y [n, 20, 1], validated on the same kind of data sent as JSON (x
 *    nested [n][20][1], y [n][20]).  Predict answers [20][1] per instance,
 *    whose error on the validation data is the job's val_loss, and nn.GRU
 *    gives the same values.
 *
 * Sizes: 20,000 training and 2,000 test images for 5 epochs (about 4 s of
 * training in a release build); under AddressSanitizer, where the daemon is
 * about 10x slower on this model, 8,000 and 1,000 with a lower bound.
 * Measured with this model (traind train, seeds 1..6): 0.8525..0.8670
 * (20k/2k) and 0.778..0.838 (8k/1k) on the held-out images after 5 epochs.
 * The small tasks take well under a second each.
 *
 * PyTorch is Debian's python3-torch under /usr/bin/python3 (make deps
 * installs it; $TORCH_PYTHON overrides the interpreter).  Without it the
 * test fails, saying so.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apitest.h"
#include "e2e.h"
#include "rng.h"
#include "safetensors.h"
#include "testutil.h"

#if AT_UNDER_ASAN
enum { N_TRAIN = 8000, N_TEST = 1000 };
#define MIN_VAL_ACCURACY 0.75
#else
enum { N_TRAIN = 20000, N_TEST = 2000 };
#define MIN_VAL_ACCURACY 0.83
#endif
enum { EPOCHS = 5, N_TORCH = 100, H = 64 };

/* traind's and PyTorch's outputs differ by float rounding only (measured:
 * below 1e-6); a wrong mapping is far off (the rnn's relu taken as tanh
 * changes classes). */
#define MAX_DIFF 1e-5

/* ---------------------------------------------------------------------------
 * Helpers */

/* A dataset answer's x_shape or y_shape (key) is dims[0..rank). */
static void expect_shape(const json_t *answer, const char *key, const int64_t *dims, int rank)
{
    const json_t *s = json_object_get(answer, key);
    ck_assert_msg(json_array_size(s) == (size_t)rank, "%s: rank %zu, want %d", key,
                  json_array_size(s), rank);
    for (int k = 0; k < rank; k++)
        ck_assert_msg(json_integer_value(json_array_get(s, (size_t)k)) == dims[k],
                      "%s: dimension %d is %lld, want %lld", key, k,
                      json_integer_value(json_array_get(s, (size_t)k)), (long long)dims[k]);
}

/* POST /v1/datasets with a JSON body {"x": x, "y": y} of the tensors x
 * [xd...] and y [yd...]; asserts the answer's shapes and returns the id. */
static long long upload_json(const e2e_daemon *d, const char *name, const float *x,
                             const int64_t *xd, int xr, const float *y, const int64_t *yd, int yr)
{
    at_sbuf b = {0};
    at_sb_printf(&b, "{\"x\": ");
    at_sb_tensor(&b, x, xd, xr);
    at_sb_printf(&b, ",\n\"y\": ");
    at_sb_tensor(&b, y, yd, yr);
    at_sb_printf(&b, "}");
    char path[128];
    snprintf(path, sizeof path, "/v1/datasets?name=%s", name);
    e2e_resp r = e2e_req(d, "POST", path, "application/json", b.p, b.len, NULL);
    free(b.p);
    ck_assert_msg(r.status == 201, "upload %s: %ld %s", name, r.status, r.body);
    ck_assert_str_eq(e2e_str(r.json, "format"), "json");
    expect_shape(r.json, "x_shape", xd, xr);
    expect_shape(r.json, "y_shape", yd, yr);
    /* integer arrays per sample are targets to the reader; the job takes
     * them as a class per step against a [T, C] output under cross_entropy */
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), 0);
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

/* Creates a model; returns its answer (caller decrefs). */
static json_t *post_model(const e2e_daemon *d, const char *name, const char *def)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/models?name=%s", name);
    e2e_resp r = e2e_json(d, "POST", path, def);
    ck_assert_msg(r.status == 201, "model %s: %ld %s", name, r.status, r.body);
    json_t *m = json_incref(r.json);
    e2e_resp_free(&r);
    return m;
}

/* Trains model on data, validated on val, for `epochs`; returns the job id
 * and its last epoch's metrics row in *last (caller decrefs). */
static long long train(const e2e_daemon *d, long long model, long long data, long long val,
                       int epochs, double factor, int every_epoch, const char *tag, json_t **last)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\": %lld, \"dataset\": %lld, \"validation\": {\"dataset\": %lld}, "
             "\"training\": {\"epochs\": %d, \"early_stopping\": null}}",
             model, data, val, epochs);
    json_t *job = at_run_job(d, body, AT_UNDER_ASAN ? 600 : 300);
    long long id = e2e_int(job, "id");
    ck_assert_str_eq(e2e_str(job, "stop_reason"), "max_epochs");
    json_decref(job);
    json_t *rows = at_epoch_metrics(d, id, epochs);
    *last = json_incref((json_t *)at_expect_falling_loss(rows, factor, every_epoch, tag));
    json_decref(rows);
    return id;
}

/* tests/torch_predict.py with the job's weights on `instances` (a predict
 * body) against traind's preds; returns the largest difference. */
static double torch_check(const e2e_daemon *d, long long job, const json_t *model,
                          const char *instances, const json_t *preds, size_t n, const char *name)
{
    char file[96];
    snprintf(file, sizeof file, "%s.json", name);
    char *model_file = at_write_definition(model, file);
    snprintf(file, sizeof file, "%s.safetensors", name);
    nn_st_file *st;
    char *wfile = at_fetch_weights(d, job, file, &st);
    nn_st_free(st);
    snprintf(file, sizeof file, "%s-instances.json", name);
    char *inst_file = tu_write_str(tu_tmpdir(), file, instances);
    json_t *torch = at_torch_predict(model_file, wfile, inst_file);
    double worst = at_compare_predictions(preds, torch, n, MAX_DIFF);
    json_decref(torch);
    free(inst_file);
    free(wfile);
    free(model_file);
    return worst;
}

/* A predict call that must fail with 422 data_mismatch at `where`. */
static void expect_bad_instance(const e2e_daemon *d, long long job, const char *body,
                                const char *where)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", job);
    e2e_resp r = e2e_json(d, "POST", path, body);
    ck_assert_msg(r.status == 422, "%s: %ld %s", body, r.status, r.body);
    const json_t *err = json_object_get(r.json, "error");
    ck_assert_str_eq(e2e_str(err, "code"), "data_mismatch");
    ck_assert_str_eq(e2e_str(err, "path"), where);
    e2e_resp_free(&r);
}

/* ---------------------------------------------------------------------------
 * Fashion-MNIST rows as sequences */

static const char *fmnist_lstm =
    "{\"input\": [28, 28],\n"
    " \"layers\": [{\"type\": \"lstm\", \"units\": 64},\n"
    "            {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],\n"
    " \"loss\": \"cross_entropy\",\n"
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.003}, \"clip_norm\": 1.0,\n"
    "              \"batch_size\": 64, \"epochs\": 10, \"seed\": 1}}";

START_TEST(fmnist_lstm_through_the_api)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    at_fmnist f;
    at_fmnist_upload(&d, N_TRAIN, N_TEST, &f);

    /* the model: images [1, 28, 28] fit the input [28, 28] (784 values) */
    json_t *model = post_model(&d, "fmnist-lstm-ci", fmnist_lstm);
    const json_t *sum = json_object_get(model, "summary");
    ck_assert_uint_eq(json_array_size(json_object_get(sum, "layers")), 2);
    /* lstm: 4 gate blocks of H rows, W_ih [4H, 28], W_hh [4H, H], two biases [4H] */
    const long long lstm_params = 4LL * H * (28 + H) + 8LL * H;
    ck_assert_int_eq(lstm_params, 24064);
    at_expect_layer(sum, 0, "lstm", 1, (int64_t[]){H}, lstm_params);
    at_expect_layer(sum, 1, "dense", 1, (int64_t[]){10}, H * 10 + 10);
    ck_assert_int_eq(e2e_int(sum, "total_params"), lstm_params + H * 10 + 10);

    /* the job, validated on the held-out test images */
    json_t *last;
    long long job = train(&d, e2e_int(model, "id"), f.train_id, f.test_id, EPOCHS, 0.6, 1,
                          "lstm e2e", &last);
    double val_acc = json_number_value(json_object_get(last, "val_accuracy"));
    ck_assert_msg(val_acc >= MIN_VAL_ACCURACY, "validation accuracy %.4f < %.2f on %d test images",
                  val_acc, MIN_VAL_ACCURACY, N_TEST);
    json_decref(last);

    json_t *preds = at_fmnist_predict(&d, job, &f, val_acc, "lstm e2e");

    /* the weights: nn.LSTM's names and shapes */
    nn_st_file *st;
    char *wfile = at_fetch_weights(&d, job, "fmnist-lstm.safetensors", &st);
    ck_assert_int_eq(nn_st_count(st), 6);
    at_expect_tensor(st, "layers.0.weight_ih_l0", 2, (int64_t[]){4 * H, 28});
    at_expect_tensor(st, "layers.0.weight_hh_l0", 2, (int64_t[]){4 * H, H});
    at_expect_tensor(st, "layers.0.bias_ih_l0", 1, (int64_t[]){4 * H});
    at_expect_tensor(st, "layers.0.bias_hh_l0", 1, (int64_t[]){4 * H});
    at_expect_tensor(st, "layers.1.weight", 2, (int64_t[]){10, H});
    at_expect_tensor(st, "layers.1.bias", 1, (int64_t[]){10});
    nn_st_free(st);

    /* torch.nn.LSTM with these weights predicts what traind predicts */
    char *model_file = at_write_definition(model, "fmnist-lstm.json");
    double worst = at_fmnist_torch(&f, preds, model_file, wfile, N_TORCH, MAX_DIFF);
    printf("lstm e2e: PyTorch on %d test images: same classes, largest probability difference "
           "%.3g\n", N_TORCH, worst);
    json_decref(preds);
    json_decref(model);

    ck_assert_int_eq(e2e_stop(&d), 0);
    free(wfile);
    free(model_file);
    at_fmnist_free(&f);
}
END_TEST

/* ---------------------------------------------------------------------------
 * A class per step */

enum { T_CLS = 10, F_CLS = 3, N_CLS_TRAIN = 600, N_CLS_VAL = 200, CLS_EPOCHS = 15 };

static const char *per_step_rnn =
    "{\"input\": [10, 3],\n"
    " \"layers\": [{\"type\": \"rnn\", \"units\": 24, \"activation\": \"relu\",\n"
    "              \"use_bias\": false, \"return_sequences\": true},\n"
    "            {\"type\": \"dense\", \"units\": 3}],\n"
    " \"loss\": \"cross_entropy\",\n"
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.003}, \"batch_size\": 32,\n"
    "              \"epochs\": 15, \"seed\": 1}}";

static const char *per_step_gru_bce =
    "{\"input\": [10, 3],\n"
    " \"layers\": [{\"type\": \"gru\", \"units\": 8, \"return_sequences\": true},\n"
    "            {\"type\": \"dense\", \"units\": 1, \"activation\": \"sigmoid\"}],\n"
    " \"loss\": \"binary_cross_entropy\",\n"
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}, \"batch_size\": 32,\n"
    "              \"epochs\": 15, \"seed\": 1}}";

/* n sequences of T_CLS steps of F_CLS normal values; cls[i, t] = the
 * feature with the largest sum over steps 0..t, bin[i, t] = 1 when the
 * running sum of feature 0 is positive. */
static void cumsum_task(nn_rng *g, int n, float *x, float *cls, float *bin)
{
    for (int i = 0; i < n; i++) {
        double s[F_CLS] = {0};
        for (int t = 0; t < T_CLS; t++) {
            int best = 0;
            for (int k = 0; k < F_CLS; k++) {
                float v = (float)nn_rng_normal(g);
                x[((size_t)i * T_CLS + (size_t)t) * F_CLS + (size_t)k] = v;
                s[k] += v;
                if (s[k] > s[best])
                    best = k;
            }
            cls[(size_t)i * T_CLS + (size_t)t] = (float)best;
            bin[(size_t)i * T_CLS + (size_t)t] = s[0] > 0;
        }
    }
}

/* The fraction of steps of preds whose class_index is labels'; checks the
 * per-step form on the way: class_index, class (its name) and the
 * probabilities (pkey: "probabilities", [T][classes] each summing to 1,
 * or "probability", [T]) are arrays over the T_CLS steps. */
static double per_step_accuracy(const json_t *preds, const float *labels, int n, const char *pkey,
                                int classes)
{
    int right = 0;
    for (int i = 0; i < n; i++) {
        const json_t *p = json_array_get(preds, (size_t)i);
        const json_t *ci = json_object_get(p, "class_index"), *cn = json_object_get(p, "class");
        const json_t *pr = json_object_get(p, pkey);
        ck_assert_msg(json_array_size(ci) == T_CLS && json_array_size(cn) == T_CLS &&
                          json_array_size(pr) == T_CLS,
                      "instance %d: class_index, class and %s are not arrays of %d steps", i,
                      pkey, T_CLS);
        for (int t = 0; t < T_CLS; t++) {
            long long c = json_integer_value(json_array_get(ci, (size_t)t));
            char name[8];
            snprintf(name, sizeof name, "%lld", c);
            ck_assert_str_eq(json_string_value(json_array_get(cn, (size_t)t)), name);
            const json_t *step = json_array_get(pr, (size_t)t);
            if (classes > 1) {
                ck_assert_uint_eq(json_array_size(step), (size_t)classes);
                double s = 0, top = -1;
                for (int k = 0; k < classes; k++) {
                    double v = json_number_value(json_array_get(step, (size_t)k));
                    s += v;
                    top = v > top ? v : top;
                }
                ck_assert_double_eq_tol(s, 1, 1e-5);
                ck_assert(json_number_value(json_array_get(step, (size_t)c)) == top);
            } else {
                ck_assert_int_eq(c, json_number_value(step) > 0.5);
            }
            right += c == (long long)labels[(size_t)i * T_CLS + (size_t)t];
        }
    }
    return (double)right / ((double)n * T_CLS);
}

START_TEST(per_step_classes_through_the_api)
{
    const size_t xv = (size_t)T_CLS * F_CLS;
    float *x = malloc(sizeof *x * N_CLS_TRAIN * xv), *vx = malloc(sizeof *vx * N_CLS_VAL * xv);
    float *cls = malloc(sizeof *cls * N_CLS_TRAIN * T_CLS);
    float *vcls = malloc(sizeof *vcls * N_CLS_VAL * T_CLS);
    float *bin = malloc(sizeof *bin * N_CLS_TRAIN * T_CLS);
    float *vbin = malloc(sizeof *vbin * N_CLS_VAL * T_CLS);
    nn_rng g;
    nn_rng_seed(&g, 55, 0);
    cumsum_task(&g, N_CLS_TRAIN, x, cls, bin);
    cumsum_task(&g, N_CLS_VAL, vx, vcls, vbin);

    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    const int64_t xd[3] = {N_CLS_TRAIN, T_CLS, F_CLS}, yd[2] = {N_CLS_TRAIN, T_CLS};
    const int64_t vxd[3] = {N_CLS_VAL, T_CLS, F_CLS}, vyd[2] = {N_CLS_VAL, T_CLS};
    long long train_id = upload_json(&d, "steps-train", x, xd, 3, cls, yd, 2);
    long long val_id = upload_json(&d, "steps-val", vx, vxd, 3, vcls, vyd, 2);

    /* rnn over every step, a dense layer on every step: [10, 24] -> [10, 3] */
    json_t *model = post_model(&d, "per-step-rnn", per_step_rnn);
    const json_t *sum = json_object_get(model, "summary");
    at_expect_layer(sum, 0, "rnn", 2, (int64_t[]){T_CLS, 24}, 24 * (F_CLS + 24));
    at_expect_layer(sum, 1, "dense", 2, (int64_t[]){T_CLS, 3}, 24 * 3 + 3);
    json_t *last;
    long long job = train(&d, e2e_int(model, "id"), train_id, val_id, CLS_EPOCHS, 0.3, 0,
                          "per-step rnn", &last);
    double val_acc = json_number_value(json_object_get(last, "val_accuracy"));
    /* measured 0.96; the current step's largest value alone is the class
     * at 56% of the steps */
    ck_assert_msg(val_acc >= 0.90, "per-step validation accuracy %.4f < 0.90", val_acc);
    json_decref(last);

    char *inst = at_instances(vx, xv, N_CLS_VAL);
    json_t *preds = at_predict(&d, job, inst, N_CLS_VAL);
    double acc = per_step_accuracy(preds, vcls, N_CLS_VAL, "probabilities", 3);
    printf("per-step rnn: predict accuracy %.4f over %d steps (job's val_accuracy %.4f)\n", acc,
           N_CLS_VAL * T_CLS, val_acc);
    ck_assert_msg(fabs(acc - val_acc) <= 0.002, "predict accuracy %.4f, val_accuracy %.4f", acc,
                  val_acc);
    double worst = torch_check(&d, job, model, inst, preds, N_CLS_VAL, "per-step-rnn");
    printf("per-step rnn: PyTorch (nn.RNN relu, no bias) on %d sequences: same classes at every "
           "step, largest probability difference %.3g\n", N_CLS_VAL, worst);
    json_decref(preds);
    json_decref(model);

    /* bad instances keep their errors: too few values, a value out of
     * float's range at its nested path, a value that is not a number */
    expect_bad_instance(&d, job, "{\"instances\": [[1, 2, 3]]}", "/instances/0");
    expect_bad_instance(&d, job,
                        "{\"instances\": [[[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],"
                        "[0,0,0],[0,0,0],[0,0,0],[0,0,0]], [[0,0,0],[0,0,1e39]]]}",
                        "/instances/1/1/2");
    expect_bad_instance(&d, job, "{\"instances\": [[[0,0,\"x\"]]]}", "/instances/0/0/2");

    /* binary_cross_entropy with a 0/1 target per step: a probability per step */
    long long btrain = upload_json(&d, "bin-train", x, xd, 3, bin, yd, 2);
    long long bval = upload_json(&d, "bin-val", vx, vxd, 3, vbin, vyd, 2);
    model = post_model(&d, "per-step-gru", per_step_gru_bce);
    sum = json_object_get(model, "summary");
    at_expect_layer(sum, 0, "gru", 2, (int64_t[]){T_CLS, 8}, 3 * 8 * (F_CLS + 8) + 6 * 8);
    at_expect_layer(sum, 1, "dense", 2, (int64_t[]){T_CLS, 1}, 9);
    job = train(&d, e2e_int(model, "id"), btrain, bval, CLS_EPOCHS, 0.3, 0, "per-step gru bce",
                &last);
    val_acc = json_number_value(json_object_get(last, "val_accuracy"));
    ck_assert_msg(val_acc >= 0.90, "per-step validation accuracy %.4f < 0.90", val_acc);
    json_decref(last);
    preds = at_predict(&d, job, inst, N_CLS_VAL);
    acc = per_step_accuracy(preds, vbin, N_CLS_VAL, "probability", 1);
    printf("per-step gru bce: predict accuracy %.4f (job's val_accuracy %.4f)\n", acc, val_acc);
    ck_assert_msg(fabs(acc - val_acc) <= 0.002, "predict accuracy %.4f, val_accuracy %.4f", acc,
                  val_acc);
    worst = torch_check(&d, job, model, inst, preds, N_CLS_VAL, "per-step-gru");
    printf("per-step gru bce: PyTorch (nn.GRU) on %d sequences: same classes at every step, "
           "largest probability difference %.3g\n", N_CLS_VAL, worst);
    json_decref(preds);
    json_decref(model);

    ck_assert_int_eq(e2e_stop(&d), 0);
    free(inst);
    free(x);
    free(vx);
    free(cls);
    free(vcls);
    free(bin);
    free(vbin);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Sequence-to-sequence regression */

enum { T_SIN = 20, N_SIN_TRAIN = 512, N_SIN_VAL = 128, SIN_EPOCHS = 15 };

static const char *sine_gru =
    "{\"input\": [20, 1],\n"
    " \"layers\": [{\"type\": \"gru\", \"units\": 16, \"return_sequences\": true},\n"
    "            {\"type\": \"dense\", \"units\": 1}],\n"
    " \"loss\": \"mse\",\n"
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}, \"batch_size\": 32,\n"
    "              \"epochs\": 15, \"seed\": 1}}";

/* x[i, t] = sin(w t + p), y[i, t] = sin(w (t + 1) + p): the next value,
 * w in [0.3, 0.6), p in [0, 2 pi) per sequence. */
static void sine_task(nn_rng *g, int n, float *x, float *y)
{
    for (int i = 0; i < n; i++) {
        double w = 0.3 + 0.3 * nn_rng_uniform(g), p = 2 * M_PI * nn_rng_uniform(g);
        for (int t = 0; t < T_SIN; t++) {
            x[(size_t)i * T_SIN + (size_t)t] = (float)sin(w * t + p);
            y[(size_t)i * T_SIN + (size_t)t] = (float)sin(w * (t + 1) + p);
        }
    }
}

START_TEST(sequence_regression_through_the_api)
{
    float *x = malloc(sizeof *x * N_SIN_TRAIN * T_SIN), *y = malloc(sizeof *y * N_SIN_TRAIN * T_SIN);
    float *vx = malloc(sizeof *vx * N_SIN_VAL * T_SIN), *vy = malloc(sizeof *vy * N_SIN_VAL * T_SIN);
    nn_rng g;
    nn_rng_seed(&g, 77, 0);
    sine_task(&g, N_SIN_TRAIN, x, y);
    sine_task(&g, N_SIN_VAL, vx, vy);
    const int64_t dims[3] = {N_SIN_TRAIN, T_SIN, 1};
    char *xf = at_write_npy("sine-x.npy", "<f4", dims, 3, x, sizeof *x * N_SIN_TRAIN * T_SIN);
    char *yf = at_write_npy("sine-y.npy", "<f4", dims, 3, y, sizeof *y * N_SIN_TRAIN * T_SIN);

    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    /* training data as NPY [n, 20, 1] and [n, 20, 1] */
    e2e_resp r = e2e_upload_xy(&d, "/v1/datasets?name=sine-train", xf, yf);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long train_id = e2e_int(r.json, "id");
    ck_assert_str_eq(e2e_str(r.json, "format"), "npy");
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), 0);
    expect_shape(r.json, "x_shape", dims, 3);
    expect_shape(r.json, "y_shape", dims, 3);
    e2e_resp_free(&r);
    /* validation data as JSON: x nested [n][20][1], y nested [n][20][1] */
    long long val_id = upload_json(&d, "sine-val", vx, (int64_t[]){N_SIN_VAL, T_SIN, 1}, 3, vy,
                                   (int64_t[]){N_SIN_VAL, T_SIN, 1}, 3);

    json_t *model = post_model(&d, "sine-gru", sine_gru);
    const json_t *sum = json_object_get(model, "summary");
    /* gru: 3 gate blocks, W_ih [48, 1], W_hh [48, 16], two biases [48] */
    at_expect_layer(sum, 0, "gru", 2, (int64_t[]){T_SIN, 16}, 48 * 1 + 48 * 16 + 2 * 48);
    at_expect_layer(sum, 1, "dense", 2, (int64_t[]){T_SIN, 1}, 17);
    json_t *last;
    long long job = train(&d, e2e_int(model, "id"), train_id, val_id, SIN_EPOCHS, 0.1, 0,
                          "sine gru", &last);
    double val_loss = json_number_value(json_object_get(last, "val_loss"));
    /* measured about 0.0066; repeating the current value costs the mean of
     * (sin(a + w) - sin a)^2 = 1 - cos w, at least 0.044 for these w */
    ck_assert_msg(val_loss < 0.02, "validation mse %.4f >= 0.02", val_loss);
    json_decref(last);

    /* predict: [20][1] per instance, whose mean squared error is val_loss */
    char *inst = at_instances(vx, T_SIN, N_SIN_VAL);
    json_t *preds = at_predict(&d, job, inst, N_SIN_VAL);
    double se = 0;
    for (size_t i = 0; i < N_SIN_VAL; i++) {
        const json_t *p = json_array_get(preds, i);
        ck_assert_msg(json_array_size(p) == T_SIN, "instance %zu: %zu steps, want %d", i,
                      json_array_size(p), T_SIN);
        for (size_t t = 0; t < T_SIN; t++) {
            const json_t *step = json_array_get(p, t);
            ck_assert_msg(json_is_array(step) && json_array_size(step) == 1,
                          "instance %zu, step %zu: not an array of 1 value", i, t);
            double e = json_number_value(json_array_get(step, 0)) - vy[i * T_SIN + t];
            se += e * e;
        }
    }
    double mse = se / (N_SIN_VAL * T_SIN);
    printf("sine gru: predict mse %.6f on %d sequences (job's val_loss %.6f)\n", mse, N_SIN_VAL,
           val_loss);
    ck_assert_msg(fabs(mse - val_loss) <= 1e-3 * val_loss + 1e-7, "predict mse %.6g, val_loss %.6g",
                  mse, val_loss);
    double worst = torch_check(&d, job, model, inst, preds, N_SIN_VAL, "sine-gru");
    printf("sine gru: PyTorch (nn.GRU) on %d sequences: largest difference %.3g\n", N_SIN_VAL,
           worst);
    json_decref(preds);
    json_decref(model);

    ck_assert_int_eq(e2e_stop(&d), 0);
    free(inst);
    free(xf);
    free(yf);
    free(x);
    free(y);
    free(vx);
    free(vy);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_rnn");
    TCase *tc = tcase_create("api_rnn");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, per_step_classes_through_the_api);
    tcase_add_test(tc, sequence_regression_through_the_api);
    tcase_add_test(tc, fmnist_lstm_through_the_api);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
