/*
 * test_api_cnn.c — convolutional networks end to end through the REST API,
 * on the real daemon (tests/common/e2e.h):
 *
 *  - fmnist_cnn_through_the_api: a Fashion-MNIST subset uploaded as IDX
 *    (training images gzipped, test images plain), a CNN of two convolution
 *    + batchnorm + max-pooling blocks, a job validated on the held-out test
 *    images.  The validation accuracy must prove learning, the loss curve
 *    must fall, the summary must give every layer's shape and parameter
 *    count, predict on the validation images must agree with the labels as
 *    often as the job's validation accuracy says, and the safetensors must
 *    hold the conv weights [out, in, kh, kw] and the batchnorm statistics.
 *    The weights then go through tests/torch_predict.py into the same network
 *    in PyTorch, whose probabilities on 100 test images must match predict's.
 *  - torch_loads_every_image_layer: every image layer and option (strided
 *    conv with explicit padding and no bias, an even kernel with "same",
 *    average pooling with a stride, global average pooling, batchnorm over
 *    images and over features, the long form of an activation, fused and
 *    standalone activations, logits at the end) trained one epoch on random
 *    NPY data; PyTorch must give the same probabilities.
 *
 * Sizes: 10,000 training and 2,000 test images for 3 epochs (about 3 s of
 * training in a release build); under AddressSanitizer, where the daemon is
 * about 7x slower, 4,000 and 1,000 with a lower accuracy bound.  Measured
 * with this model over seeds 1..6: 0.8645..0.8730 (10k/2k, 3 epochs) and
 * 0.827..0.844 (4k/1k) on the held-out images.
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
enum { N_TRAIN = 4000, N_TEST = 1000 };
#define MIN_VAL_ACCURACY 0.80
#else
enum { N_TRAIN = 10000, N_TEST = 2000 };
#define MIN_VAL_ACCURACY 0.85
#endif
enum { EPOCHS = 3, BATCH = 64, N_TORCH = 100 };

/* traind's and PyTorch's probabilities differ by float rounding only
 * (measured: about 1e-6); a wrong layout or a missed layer gives 1e-2 or more. */
#define MAX_PROB_DIFF 1e-5

/* ---------------------------------------------------------------------------
 * Fashion-MNIST */

static const char *fmnist_cnn =
    "{\"input\": [1, 28, 28],\n"
    " \"layers\": [{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"padding\": \"same\"},\n"
    "            {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},\n"
    "            {\"type\": \"maxpool2d\", \"size\": 2},\n"
    "            {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3, \"activation\": \"relu\"},\n"
    "            {\"type\": \"batchnorm\"},\n"
    "            {\"type\": \"maxpool2d\", \"size\": 2},\n"
    "            {\"type\": \"flatten\"},\n"
    "            {\"type\": \"dense\", \"units\": 64, \"activation\": \"relu\"},\n"
    "            {\"type\": \"dropout\", \"rate\": 0.2},\n"
    "            {\"type\": \"dense\", \"units\": 10, \"activation\": \"softmax\"}],\n"
    " \"loss\": \"cross_entropy\",\n"
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.001}, \"batch_size\": 64,\n"
    "              \"epochs\": 10, \"seed\": 1}}";

START_TEST(fmnist_cnn_through_the_api)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    at_fmnist f;
    at_fmnist_upload(&d, N_TRAIN, N_TEST, &f);

    /* the model and its summary */
    e2e_resp r = e2e_json(&d, "POST", "/v1/models?name=fmnist-cnn-ci", fmnist_cnn);
    ck_assert_msg(r.status == 201, "model: %ld %s", r.status, r.body);
    long long model_id = e2e_int(r.json, "id");
    const json_t *sum = json_object_get(r.json, "summary");
    ck_assert_uint_eq(json_array_size(json_object_get(sum, "layers")), 11);
    /* params: conv 16·1·3·3 + 16; batchnorm weight and bias per channel;
     * conv 32·16·3·3 + 32; dense 1152·64 + 64 and 64·10 + 10 */
    at_expect_layer(sum, 0, "conv2d", 3, (int64_t[]){16, 28, 28}, 160);
    at_expect_layer(sum, 1, "batchnorm", 3, (int64_t[]){16, 28, 28}, 32);
    at_expect_layer(sum, 2, "relu", 3, (int64_t[]){16, 28, 28}, 0);
    at_expect_layer(sum, 3, "maxpool2d", 3, (int64_t[]){16, 14, 14}, 0);
    at_expect_layer(sum, 4, "conv2d", 3, (int64_t[]){32, 12, 12}, 4640);
    at_expect_layer(sum, 5, "batchnorm", 3, (int64_t[]){32, 12, 12}, 64);
    at_expect_layer(sum, 6, "maxpool2d", 3, (int64_t[]){32, 6, 6}, 0);
    at_expect_layer(sum, 7, "flatten", 1, (int64_t[]){1152}, 0);
    at_expect_layer(sum, 8, "dense", 1, (int64_t[]){64}, 73792);
    at_expect_layer(sum, 9, "dropout", 1, (int64_t[]){64}, 0);
    at_expect_layer(sum, 10, "dense", 1, (int64_t[]){10}, 650);
    ck_assert_int_eq(e2e_int(sum, "total_params"), 160 + 32 + 4640 + 64 + 73792 + 650);
    char *model_file = at_write_definition(r.json, "fmnist-cnn.json");
    e2e_resp_free(&r);

    /* the job, validated on the held-out test images */
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\": %lld, \"dataset\": %lld, \"validation\": {\"dataset\": %lld}, "
             "\"training\": {\"epochs\": %d}}",
             model_id, f.train_id, f.test_id, EPOCHS);
    json_t *job = at_run_job(&d, body, AT_UNDER_ASAN ? 600 : 300);
    long long job_id = e2e_int(job, "id");
    ck_assert_str_eq(e2e_str(job, "stop_reason"), "max_epochs");
    json_decref(job);

    /* the loss curve falls epoch after epoch; the last epoch's accuracy on
     * the held-out images proves learning */
    json_t *rows = at_epoch_metrics(&d, job_id, EPOCHS);
    const json_t *last = at_expect_falling_loss(rows, 0.7, 1, "cnn e2e");
    double val_acc = json_number_value(json_object_get(last, "val_accuracy"));
    ck_assert_msg(val_acc >= MIN_VAL_ACCURACY, "validation accuracy %.4f < %.2f on %d test images",
                  val_acc, MIN_VAL_ACCURACY, N_TEST);
    json_decref(rows);

    /* predict on every validation image: right as often as val_accuracy says
     * (the same weights and eval-mode batchnorm) */
    json_t *preds = at_fmnist_predict(&d, job_id, &f, val_acc, "cnn e2e");

    /* the weights: PyTorch's names and layouts, batchnorm statistics included */
    nn_st_file *st;
    char *wfile = at_fetch_weights(&d, job_id, "fmnist-cnn.safetensors", &st);
    ck_assert_int_eq(nn_st_count(st), 18);
    at_expect_tensor(st, "layers.0.weight", 4, (int64_t[]){16, 1, 3, 3});
    at_expect_tensor(st, "layers.0.bias", 1, (int64_t[]){16});
    at_expect_tensor(st, "layers.4.weight", 4, (int64_t[]){32, 16, 3, 3});
    at_expect_tensor(st, "layers.4.bias", 1, (int64_t[]){32});
    at_expect_tensor(st, "layers.8.weight", 2, (int64_t[]){64, 1152});
    at_expect_tensor(st, "layers.10.weight", 2, (int64_t[]){10, 64});
    const int bn_layer[2] = {1, 5}, bn_channels[2] = {16, 32};
    for (int b = 0; b < 2; b++) {
        static const char *const per_channel[] = {"weight", "bias", "running_mean", "running_var"};
        char name[64];
        int64_t c = bn_channels[b];
        nn_real stat[32];
        nn_err e;
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "layers.%d.%s", bn_layer[b], per_channel[k]);
            at_expect_tensor(st, name, 1, &c);
        }
        /* the running variance moved away from its start (1) and stays positive */
        snprintf(name, sizeof name, "layers.%d.running_var", bn_layer[b]);
        ck_assert_int_eq(nn_st_copy(st, name, 1, &c, stat, &e), NN_OK);
        int moved = 0;
        for (int k = 0; k < c; k++) {
            ck_assert_msg(stat[k] > 0, "%s[%d] = %g", name, k, (double)stat[k]);
            moved += fabs((double)stat[k] - 1.0) > 1e-3;
        }
        ck_assert_int_gt(moved, 0);
        /* one batch statistic per training step */
        snprintf(name, sizeof name, "layers.%d.num_batches_tracked", bn_layer[b]);
        at_expect_tensor(st, name, 0, NULL);
        ck_assert_int_eq(nn_st_copy(st, name, 0, NULL, stat, &e), NN_OK);
        ck_assert_int_eq((long long)stat[0], (long long)EPOCHS * ((N_TRAIN + BATCH - 1) / BATCH));
    }
    nn_st_free(st);

    /* PyTorch with these weights predicts what traind predicts */
    double worst = at_fmnist_torch(&f, preds, model_file, wfile, N_TORCH, MAX_PROB_DIFF);
    printf("cnn e2e: PyTorch on %d test images: same classes, largest probability difference %.3g\n",
           N_TORCH, worst);
    json_decref(preds);

    ck_assert_int_eq(e2e_stop(&d), 0);
    free(wfile);
    free(model_file);
    at_fmnist_free(&f);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Every image layer and option through PyTorch */

static const char *zoo_cnn =
    "{\"input\": [3, 32, 32],\n"
    " \"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": [3, 5], \"stride\": 2,\n"
    "              \"padding\": [1, 2], \"use_bias\": false, \"init\": \"he_normal\"},\n"
    "            {\"type\": \"batchnorm\", \"momentum\": 0.3, \"eps\": 0.05},\n"
    "            {\"type\": \"leaky_relu\", \"alpha\": 0.1},\n"
    "            {\"type\": \"maxpool2d\", \"size\": 2},\n"
    "            {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"padding\": \"same\",\n"
    "              \"activation\": {\"type\": \"elu\", \"alpha\": 0.5}},\n"
    "            {\"type\": \"avgpool2d\", \"size\": 3, \"stride\": 2},\n"
    "            {\"type\": \"conv2d\", \"filters\": 12, \"kernel\": 2, \"padding\": \"same\",\n"
    "              \"activation\": \"tanh\"},\n"
    "            {\"type\": \"conv2d\", \"filters\": 12, \"kernel\": 1, \"padding\": 1,\n"
    "              \"activation\": \"sigmoid\"},\n"
    "            {\"type\": \"global_avgpool\"},\n"
    "            {\"type\": \"flatten\"},\n"
    "            {\"type\": \"dense\", \"units\": 16, \"activation\": \"gelu\"},\n"
    "            {\"type\": \"batchnorm\"},\n"
    "            {\"type\": \"activation\", \"activation\": {\"type\": \"elu\", \"alpha\": 0.7}},\n"
    "            {\"type\": \"dropout\", \"rate\": 0.2},\n"
    "            {\"type\": \"dense\", \"units\": 5}],\n"
    " \"loss\": \"cross_entropy\",\n"
    " \"training\": {\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.1, \"momentum\": 0.9},\n"
    "              \"batch_size\": 16, \"epochs\": 2, \"seed\": 7}}";

START_TEST(torch_loads_every_image_layer)
{
    /* random images whose class is the brightest of 5 regions, as NPY */
    enum { N = 160, C = 3, H = 32, W = 32, K = 5, N_CHECK = 24 };
    const size_t per = (size_t)C * H * W;
    float *x = malloc(sizeof *x * N * per);
    int64_t *y = malloc(sizeof *y * N);
    nn_rng g;
    nn_rng_seed(&g, 2024, 0);
    for (int i = 0; i < N; i++) {
        y[i] = (int64_t)nn_rng_below(&g, K);
        for (size_t k = 0; k < per; k++) {
            size_t col = k % W;
            x[i * per + k] = (float)(nn_rng_normal(&g) + (col * K / W == (size_t)y[i] ? 1.0 : 0.0));
        }
    }
    char *xf = at_write_npy("zoo-x.npy", "<f4", (int64_t[]){N, C, H, W}, 4, x, sizeof *x * N * per);
    char *yf = at_write_npy("zoo-y.npy", "<i8", (int64_t[]){N}, 1, y, sizeof *y * N);

    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    e2e_resp r = e2e_upload_xy(&d, "/v1/datasets?name=zoo", xf, yf);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long data_id = e2e_int(r.json, "id");
    ck_assert_str_eq(e2e_str(r.json, "format"), "npy");
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), K);
    e2e_resp_free(&r);

    r = e2e_json(&d, "POST", "/v1/models?name=zoo", zoo_cnn);
    ck_assert_msg(r.status == 201, "model: %ld %s", r.status, r.body);
    long long model_id = e2e_int(r.json, "id");
    const json_t *sum = json_object_get(r.json, "summary");
    /* (32 + 2 - 3) / 2 + 1 = 16 rows, (32 + 4 - 5) / 2 + 1 = 16 columns */
    at_expect_layer(sum, 0, "conv2d", 3, (int64_t[]){8, 16, 16}, 8 * 3 * 3 * 5);
    at_expect_layer(sum, 1, "batchnorm", 3, (int64_t[]){8, 16, 16}, 16);
    at_expect_layer(sum, 3, "maxpool2d", 3, (int64_t[]){8, 8, 8}, 0);
    at_expect_layer(sum, 4, "conv2d", 3, (int64_t[]){16, 8, 8}, 16 * 8 * 9 + 16);
    at_expect_layer(sum, 5, "avgpool2d", 3, (int64_t[]){16, 3, 3}, 0);
    at_expect_layer(sum, 6, "conv2d", 3, (int64_t[]){12, 3, 3}, 12 * 16 * 4 + 12);
    at_expect_layer(sum, 7, "conv2d", 3, (int64_t[]){12, 5, 5}, 12 * 12 + 12);
    at_expect_layer(sum, 8, "global_avgpool", 1, (int64_t[]){12}, 0);
    at_expect_layer(sum, 11, "batchnorm", 1, (int64_t[]){16}, 32);
    at_expect_layer(sum, 14, "dense", 1, (int64_t[]){K}, 16 * K + K);
    e2e_resp_free(&r);
    /* PyTorch gets the definition as written (long form, defaults left out) */
    char *model_file = tu_write_str(tu_tmpdir(), "zoo.json", zoo_cnn);

    char body[128];
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld}", model_id, data_id);
    json_t *job = at_run_job(&d, body, 300);
    long long job_id = e2e_int(job, "id");
    json_decref(job);

    nn_st_file *st;
    char *wfile = at_fetch_weights(&d, job_id, "zoo.safetensors", &st);
    ck_assert_int_eq(nn_st_count(st), 1 + 5 + 2 + 2 + 2 + 2 + 5 + 2);
    at_expect_tensor(st, "layers.0.weight", 4, (int64_t[]){8, 3, 3, 5});
    at_expect_tensor(st, "layers.6.weight", 4, (int64_t[]){12, 16, 2, 2});
    at_expect_tensor(st, "layers.11.running_var", 1, (int64_t[]){16});
    nn_err e;
    ck_assert_int_ne(nn_st_info(st, "layers.0.bias", NULL, NULL, NULL, &e), NN_OK);
    nn_st_free(st);

    char *inst = at_instances(x, per, N_CHECK);
    json_t *preds = at_predict(&d, job_id, inst, N_CHECK);
    char *inst_file = tu_write_str(tu_tmpdir(), "zoo-instances.json", inst);
    free(inst);
    json_t *torch = at_torch_predict(model_file, wfile, inst_file);
    double worst = at_compare_predictions(preds, torch, N_CHECK, MAX_PROB_DIFF);
    printf("cnn zoo: PyTorch on %d instances: same classes, largest probability difference %.3g\n",
           N_CHECK, worst);
    json_decref(torch);
    json_decref(preds);

    ck_assert_int_eq(e2e_stop(&d), 0);
    free(inst_file);
    free(wfile);
    free(model_file);
    free(xf);
    free(yf);
    free(x);
    free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_cnn");
    TCase *tc = tcase_create("api_cnn");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, torch_loads_every_image_layer);
    tcase_add_test(tc, fmnist_cnn_through_the_api);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
