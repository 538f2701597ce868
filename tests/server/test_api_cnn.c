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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

#include "e2e.h"
#include "rng.h"
#include "safetensors.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#if UNDER_ASAN
enum { N_TRAIN = 4000, N_TEST = 1000 };
#define MIN_VAL_ACCURACY 0.80
#else
enum { N_TRAIN = 10000, N_TEST = 2000 };
#define MIN_VAL_ACCURACY 0.85
#endif
enum { EPOCHS = 3, BATCH = 64, N_TORCH = 100, PIXELS = 28 * 28 };

/* traind's and PyTorch's probabilities differ by float rounding only
 * (measured: about 1e-6); a wrong layout or a missed layer gives 1e-2 or more. */
#define MAX_PROB_DIFF 1e-5

static const char *srcdir(void)
{
    const char *d = getenv("TRAIND_SRCDIR");
    return d && *d ? d : ".";
}

/* ---------------------------------------------------------------------------
 * A growing text buffer. */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(n, 0);
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
}

/* ---------------------------------------------------------------------------
 * Fixtures */

/* The first n records of a gzipped IDX file: the header (with the count
 * set to n) and the data.  *rec is the bytes per record. */
static unsigned char *idx_head(const char *file, int n, size_t *len, size_t *rec)
{
    char *path = tu_fmnist(file);
    gzFile g = gzopen(path, "rb");
    ck_assert_msg(g != NULL, "cannot open %s (make deps installs dataset-fashion-mnist)", path);
    unsigned char h[16];
    ck_assert_int_eq(gzread(g, h, 4), 4);
    int ndim = h[3];
    ck_assert_msg(h[2] == 8 && ndim >= 1 && ndim <= 3, "%s: not a u8 IDX file", path);
    ck_assert_int_eq(gzread(g, h + 4, 4 * ndim), 4 * ndim);
    size_t per = 1;
    for (int i = 1; i < ndim; i++)
        per *= ((size_t)h[4 + 4 * i] << 24) | ((size_t)h[5 + 4 * i] << 16) |
               ((size_t)h[6 + 4 * i] << 8) | h[7 + 4 * i];
    size_t total = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
    ck_assert_msg(total >= (size_t)n, "%s: %zu records, want %d", path, total, n);
    h[4] = (unsigned char)(n >> 24);
    h[5] = (unsigned char)(n >> 16);
    h[6] = (unsigned char)(n >> 8);
    h[7] = (unsigned char)n;
    size_t hl = 4 + 4 * (size_t)ndim;
    *len = hl + (size_t)n * per;
    *rec = per;
    unsigned char *out = malloc(*len);
    ck_assert_ptr_nonnull(out);
    memcpy(out, h, hl);
    ck_assert_int_eq(gzread(g, out + hl, (unsigned)(*len - hl)), (int)(*len - hl));
    gzclose(g);
    free(path);
    return out;
}

/* {"instances": [...]} for images [from, from + n) of u8 pixels, each
 * value the float traind makes of it (x / 255) written so that it parses
 * back to that float exactly. */
static char *pixel_instances(const unsigned char *px, int from, int n)
{
    sbuf b = {0};
    sb_printf(&b, "{\"instances\": [");
    for (int i = from; i < from + n; i++) {
        sb_printf(&b, "%s[", i > from ? ",\n" : "");
        for (int k = 0; k < PIXELS; k++) {
            float v = (float)((double)px[(size_t)i * PIXELS + k] / 255.0);
            sb_printf(&b, k ? ",%.9g" : "%.9g", (double)v);
        }
        sb_printf(&b, "]");
    }
    sb_printf(&b, "]}");
    return b.p;
}

/* An NPY (version 1.0) file: descr "<f4" or "<i8", shape dims[0..rank). */
static char *write_npy(const char *name, const char *descr, const int64_t *dims, int rank,
                       const void *data, size_t bytes)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int i = 0; i < rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)dims[i],
                      i + 1 < rank ? " " : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t hl = 10 + (size_t)n + 1;
    size_t pad = (64 - hl % 64) % 64;
    size_t total = hl + pad + bytes;
    unsigned char *f = malloc(total);
    ck_assert_ptr_nonnull(f);
    memcpy(f, "\x93NUMPY\x01\x00", 8);
    size_t dl = (size_t)n + pad + 1;
    f[8] = (unsigned char)dl;
    f[9] = (unsigned char)(dl >> 8);
    memcpy(f + 10, dict, (size_t)n);
    memset(f + 10 + n, ' ', pad);
    f[10 + (size_t)n + pad] = '\n';
    memcpy(f + hl + pad, data, bytes);
    char *path = tu_write(tu_tmpdir(), name, f, total, 0);
    free(f);
    return path;
}

/* ---------------------------------------------------------------------------
 * API helpers */

static long long post_id(const e2e_daemon *d, const char *path, const char *json)
{
    e2e_resp r = e2e_json(d, "POST", path, json);
    ck_assert_msg(r.status == 201, "POST %s: %ld %s", path, r.status, r.body);
    long long id = e2e_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    e2e_resp_free(&r);
    return id;
}

/* Trains and waits; returns the finished job (caller decrefs). */
static json_t *run_job(const e2e_daemon *d, const char *body, double timeout_s)
{
    long long id = post_id(d, "/v1/jobs", body);
    json_t *job = e2e_wait_job(d, id, "succeeded failed cancelled", timeout_s);
    ck_assert_msg(job != NULL, "job %lld did not finish within %.0f s:\n%s", id, timeout_s,
                  e2e_log_tail(d));
    ck_assert_msg(!strcmp(e2e_str(job, "state"), "succeeded"), "job %lld: %s (%s)\n%s", id,
                  e2e_str(job, "state"), e2e_str(job, "error"), e2e_log_tail(d));
    return job;
}

/* GET /v1/jobs/{id}/weights into a file of the scratch directory; the
 * parsed file in *st. */
static char *fetch_weights(const e2e_daemon *d, long long job, const char *name, nn_st_file **st)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights", job);
    e2e_resp r = e2e_get(d, path);
    ck_assert_msg(r.status == 200, "weights: %ld %s", r.status, r.body);
    ck_assert_str_eq(r.content_type, "application/octet-stream");
    nn_err e;
    ck_assert_msg(nn_st_parse(r.body, r.len, st, &e) == NN_OK, "%s", e.msg);
    char *file = tu_write(tu_tmpdir(), name, r.body, r.len, 0);
    e2e_resp_free(&r);
    return file;
}

/* POST /v1/jobs/{id}/predict; returns the "predictions" array (caller decrefs). */
static json_t *predict(const e2e_daemon *d, long long job, const char *body, size_t n)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", job);
    e2e_resp r = e2e_json(d, "POST", path, body);
    ck_assert_msg(r.status == 200, "predict: %ld %.500s", r.status, r.body);
    json_t *p = json_incref(json_object_get(r.json, "predictions"));
    e2e_resp_free(&r);
    ck_assert_msg(json_is_array(p) && json_array_size(p) == n, "predict: %zu predictions, want %zu",
                  json_array_size(p), n);
    return p;
}

static void expect_tensor(const nn_st_file *st, const char *name, int rank, const int64_t *shape)
{
    const char *dtype;
    int got_rank;
    int64_t got[NN_MAX_RANK];
    nn_err e;
    ck_assert_msg(nn_st_info(st, name, &dtype, &got_rank, got, &e) == NN_OK, "%s: %s", name,
                  e.msg);
    ck_assert_str_eq(dtype, "F32");
    ck_assert_msg(got_rank == rank, "%s: rank %d, want %d", name, got_rank, rank);
    for (int i = 0; i < rank; i++)
        ck_assert_msg(got[i] == shape[i], "%s: dimension %d is %lld, want %lld", name, i,
                      (long long)got[i], (long long)shape[i]);
}

/* Runs tests/torch_predict.py on the three files and returns its
 * "predictions" (caller decrefs).  Fails with the script's message when it
 * fails (no torch, weights that do not load, ...). */
static json_t *torch_predict(const char *model, const char *weights, const char *instances)
{
    const char *py = getenv("TORCH_PYTHON");
    char err[512], cmd[4096];
    snprintf(err, sizeof err, "%s/torch_predict.err", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch_predict.py' '%s' '%s' '%s' 2>'%s'",
             py && *py ? py : "/usr/bin/python3", srcdir(), model, weights, instances, err);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    sbuf out = {0};
    sb_printf(&out, "%s", "");
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0)
        sb_printf(&out, "%.*s", (int)got, chunk);
    int st = pclose(p);
    char *msg = tu_read(err, NULL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "PyTorch check failed (exit %d): %s\n(the check needs python3-torch under "
                  "/usr/bin/python3: make deps installs it)",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1, msg);
    free(msg);
    json_error_t je;
    json_t *doc = json_loads(out.p, 0, &je);
    ck_assert_msg(doc != NULL, "torch_predict.py printed no JSON: %s (%.200s)", je.text, out.p);
    free(out.p);
    json_t *preds = json_incref(json_object_get(doc, "predictions"));
    json_decref(doc);
    ck_assert_ptr_nonnull(preds);
    return preds;
}

/* traind's predictions [0, n) against PyTorch's: the same class, each
 * probability within MAX_PROB_DIFF.  Returns the largest difference. */
static double compare_predictions(const json_t *ours, const json_t *theirs, size_t n, size_t classes)
{
    ck_assert_uint_ge(json_array_size(ours), n);
    ck_assert_uint_eq(json_array_size(theirs), n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(ours, i), *b = json_array_get(theirs, i);
        ck_assert_msg(e2e_int(a, "class_index") == e2e_int(b, "class_index"),
                      "instance %zu: traind says class %lld, PyTorch %lld", i,
                      e2e_int(a, "class_index"), e2e_int(b, "class_index"));
        const json_t *pa = json_object_get(a, "probabilities");
        const json_t *pb = json_object_get(b, "probabilities");
        ck_assert_uint_eq(json_array_size(pa), classes);
        ck_assert_uint_eq(json_array_size(pb), classes);
        for (size_t k = 0; k < classes; k++) {
            double da = json_number_value(json_array_get(pa, k));
            double db = json_number_value(json_array_get(pb, k));
            double diff = fabs(da - db);
            ck_assert_msg(diff <= MAX_PROB_DIFF,
                          "instance %zu, class %zu: traind %.9g, PyTorch %.9g (difference %.3g > %g)",
                          i, k, da, db, diff, MAX_PROB_DIFF);
            if (diff > worst)
                worst = diff;
        }
    }
    return worst;
}

/* Writes the "definition" member of a model answer to a file. */
static char *write_definition(const json_t *model, const char *name)
{
    char *text = json_dumps(json_object_get(model, "definition"), JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    char *path = tu_write_str(tu_tmpdir(), name, text);
    free(text);
    return path;
}

/* The summary's layer i: its type, output shape (rank values) and params. */
static void expect_layer(const json_t *summary, int i, const char *type, int rank,
                         const int64_t *shape, long long params)
{
    const json_t *l = json_array_get(json_object_get(summary, "layers"), (size_t)i);
    ck_assert_msg(l != NULL, "summary has no layer %d", i);
    ck_assert_int_eq(e2e_int(l, "index"), i);
    ck_assert_msg(!strcmp(e2e_str(l, "type"), type), "layer %d is %s, want %s", i,
                  e2e_str(l, "type"), type);
    const json_t *s = json_object_get(l, "output_shape");
    ck_assert_msg(json_array_size(s) == (size_t)rank, "layer %d (%s): output rank %zu, want %d",
                  i, type, json_array_size(s), rank);
    for (int k = 0; k < rank; k++)
        ck_assert_msg(json_integer_value(json_array_get(s, (size_t)k)) == shape[k],
                      "layer %d (%s): output dimension %d is %lld, want %lld", i, type, k,
                      json_integer_value(json_array_get(s, (size_t)k)), (long long)shape[k]);
    ck_assert_msg(e2e_int(l, "params") == params, "layer %d (%s): %lld params, want %lld", i, type,
                  e2e_int(l, "params"), params);
}

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
    /* the subsets: training images gzipped (as the packaged files), test plain */
    size_t xl, yl, tl, ul, per, one;
    unsigned char *x = idx_head("train-images-idx3-ubyte.gz", N_TRAIN, &xl, &per);
    unsigned char *y = idx_head("train-labels-idx1-ubyte.gz", N_TRAIN, &yl, &one);
    unsigned char *tx = idx_head("t10k-images-idx3-ubyte.gz", N_TEST, &tl, &per);
    unsigned char *ty = idx_head("t10k-labels-idx1-ubyte.gz", N_TEST, &ul, &one);
    ck_assert_uint_eq(per, PIXELS);
    ck_assert_uint_eq(one, 1);
    char *xf = tu_write(tu_tmpdir(), "train-x.idx.gz", x, xl, 1);
    char *yf = tu_write(tu_tmpdir(), "train-y.idx.gz", y, yl, 1);
    char *txf = tu_write(tu_tmpdir(), "test-x.idx", tx, tl, 0);
    char *tyf = tu_write(tu_tmpdir(), "test-y.idx", ty, ul, 0);
    const unsigned char *test_px = tx + 16, *test_labels = ty + 8;

    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);

    e2e_resp r = e2e_upload_xy(&d, "/v1/datasets?name=fmnist-train-subset", xf, yf);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long train_id = e2e_int(r.json, "id");
    ck_assert_str_eq(e2e_str(r.json, "format"), "idx");
    ck_assert_int_eq(e2e_int(r.json, "n_samples"), N_TRAIN);
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), 10);
    const json_t *shape = json_object_get(r.json, "x_shape");
    ck_assert_uint_eq(json_array_size(shape), 4);
    const int64_t want_x[4] = {N_TRAIN, 1, 28, 28};
    for (size_t k = 0; k < 4; k++)
        ck_assert_int_eq(json_integer_value(json_array_get(shape, k)), want_x[k]);
    e2e_resp_free(&r);
    r = e2e_upload_xy(&d, "/v1/datasets?name=fmnist-test-subset", txf, tyf);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long test_id = e2e_int(r.json, "id");
    ck_assert_int_eq(e2e_int(r.json, "n_samples"), N_TEST);
    e2e_resp_free(&r);

    /* the model and its summary */
    r = e2e_json(&d, "POST", "/v1/models?name=fmnist-cnn-ci", fmnist_cnn);
    ck_assert_msg(r.status == 201, "model: %ld %s", r.status, r.body);
    long long model_id = e2e_int(r.json, "id");
    const json_t *sum = json_object_get(r.json, "summary");
    ck_assert_uint_eq(json_array_size(json_object_get(sum, "layers")), 11);
    /* params: conv 16·1·3·3 + 16; batchnorm weight and bias per channel;
     * conv 32·16·3·3 + 32; dense 1152·64 + 64 and 64·10 + 10 */
    expect_layer(sum, 0, "conv2d", 3, (int64_t[]){16, 28, 28}, 160);
    expect_layer(sum, 1, "batchnorm", 3, (int64_t[]){16, 28, 28}, 32);
    expect_layer(sum, 2, "relu", 3, (int64_t[]){16, 28, 28}, 0);
    expect_layer(sum, 3, "maxpool2d", 3, (int64_t[]){16, 14, 14}, 0);
    expect_layer(sum, 4, "conv2d", 3, (int64_t[]){32, 12, 12}, 4640);
    expect_layer(sum, 5, "batchnorm", 3, (int64_t[]){32, 12, 12}, 64);
    expect_layer(sum, 6, "maxpool2d", 3, (int64_t[]){32, 6, 6}, 0);
    expect_layer(sum, 7, "flatten", 1, (int64_t[]){1152}, 0);
    expect_layer(sum, 8, "dense", 1, (int64_t[]){64}, 73792);
    expect_layer(sum, 9, "dropout", 1, (int64_t[]){64}, 0);
    expect_layer(sum, 10, "dense", 1, (int64_t[]){10}, 650);
    ck_assert_int_eq(e2e_int(sum, "total_params"), 160 + 32 + 4640 + 64 + 73792 + 650);
    char *model_file = write_definition(r.json, "fmnist-cnn.json");
    e2e_resp_free(&r);

    /* the job, validated on the held-out test images */
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\": %lld, \"dataset\": %lld, \"validation\": {\"dataset\": %lld}, "
             "\"training\": {\"epochs\": %d}}",
             model_id, train_id, test_id, EPOCHS);
    json_t *job = run_job(&d, body, UNDER_ASAN ? 600 : 300);
    long long job_id = e2e_int(job, "id");
    ck_assert_str_eq(e2e_str(job, "stop_reason"), "max_epochs");
    json_decref(job);

    /* the loss curve falls epoch after epoch; the last epoch's accuracy on
     * the held-out images proves learning */
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch", job_id);
    r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    const json_t *rows = json_object_get(r.json, "metrics");
    ck_assert_uint_eq(json_array_size(rows), EPOCHS);
    double first = 0, prev = INFINITY, val_acc = 0;
    for (size_t i = 0; i < EPOCHS; i++) {
        const json_t *m = json_array_get(rows, i);
        double loss = json_number_value(json_object_get(m, "loss"));
        ck_assert_msg(loss < prev, "epoch %zu: loss %.4f did not fall (previous %.4f)", i + 1,
                      loss, prev);
        if (i == 0)
            first = loss;
        prev = loss;
        val_acc = json_number_value(json_object_get(m, "val_accuracy"));
        printf("cnn e2e: epoch %zu loss %.4f val_loss %.4f val_accuracy %.4f\n", i + 1, loss,
               json_number_value(json_object_get(m, "val_loss")), val_acc);
    }
    ck_assert_msg(prev < 0.7 * first, "loss %.4f -> %.4f: less than 30%% lower", first, prev);
    ck_assert_msg(val_acc >= MIN_VAL_ACCURACY, "validation accuracy %.4f < %.2f on %d test images",
                  val_acc, MIN_VAL_ACCURACY, N_TEST);
    e2e_resp_free(&r);

    /* predict on every validation image: right as often as val_accuracy says
     * (the same weights and eval-mode batchnorm; 1 image in 500 may flip by
     * a rounding difference between batch sizes) */
    char *all = pixel_instances(test_px, 0, N_TEST);
    json_t *preds = predict(&d, job_id, all, N_TEST);
    free(all);
    int right = 0;
    for (size_t i = 0; i < N_TEST; i++) {
        const json_t *p = json_array_get(preds, i);
        long long c = e2e_int(p, "class_index");
        char name[8];
        snprintf(name, sizeof name, "%lld", c);
        ck_assert_str_eq(e2e_str(p, "class"), name);
        right += c == test_labels[i];
    }
    double pred_acc = (double)right / N_TEST;
    printf("cnn e2e: predict accuracy %.4f on %d test images (job's val_accuracy %.4f)\n",
           pred_acc, N_TEST, val_acc);
    ck_assert_msg(fabs(pred_acc - val_acc) <= 0.002, "predict accuracy %.4f, val_accuracy %.4f",
                  pred_acc, val_acc);

    /* the weights: PyTorch's names and layouts, batchnorm statistics included */
    nn_st_file *st;
    char *wfile = fetch_weights(&d, job_id, "fmnist-cnn.safetensors", &st);
    ck_assert_int_eq(nn_st_count(st), 18);
    expect_tensor(st, "layers.0.weight", 4, (int64_t[]){16, 1, 3, 3});
    expect_tensor(st, "layers.0.bias", 1, (int64_t[]){16});
    expect_tensor(st, "layers.4.weight", 4, (int64_t[]){32, 16, 3, 3});
    expect_tensor(st, "layers.4.bias", 1, (int64_t[]){32});
    expect_tensor(st, "layers.8.weight", 2, (int64_t[]){64, 1152});
    expect_tensor(st, "layers.10.weight", 2, (int64_t[]){10, 64});
    const int bn_layer[2] = {1, 5}, bn_channels[2] = {16, 32};
    for (int b = 0; b < 2; b++) {
        static const char *const per_channel[] = {"weight", "bias", "running_mean", "running_var"};
        char name[64];
        int64_t c = bn_channels[b];
        nn_real stat[32];
        nn_err e;
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "layers.%d.%s", bn_layer[b], per_channel[k]);
            expect_tensor(st, name, 1, &c);
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
        expect_tensor(st, name, 0, NULL);
        ck_assert_int_eq(nn_st_copy(st, name, 0, NULL, stat, &e), NN_OK);
        ck_assert_int_eq((long long)stat[0], (long long)EPOCHS * ((N_TRAIN + BATCH - 1) / BATCH));
    }
    nn_st_free(st);

    /* PyTorch with these weights predicts what traind predicts */
    char *some = pixel_instances(test_px, 0, N_TORCH);
    char *inst_file = tu_write_str(tu_tmpdir(), "fmnist-instances.json", some);
    free(some);
    json_t *torch = torch_predict(model_file, wfile, inst_file);
    double worst = compare_predictions(preds, torch, N_TORCH, 10);
    printf("cnn e2e: PyTorch on %d test images: same classes, largest probability difference %.3g\n",
           N_TORCH, worst);
    json_decref(torch);
    json_decref(preds);

    ck_assert_int_eq(e2e_stop(&d), 0);
    free(inst_file);
    free(wfile);
    free(model_file);
    free(xf);
    free(yf);
    free(txf);
    free(tyf);
    free(x);
    free(y);
    free(tx);
    free(ty);
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
    char *xf = write_npy("zoo-x.npy", "<f4", (int64_t[]){N, C, H, W}, 4, x, sizeof *x * N * per);
    char *yf = write_npy("zoo-y.npy", "<i8", (int64_t[]){N}, 1, y, sizeof *y * N);

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
    expect_layer(sum, 0, "conv2d", 3, (int64_t[]){8, 16, 16}, 8 * 3 * 3 * 5);
    expect_layer(sum, 1, "batchnorm", 3, (int64_t[]){8, 16, 16}, 16);
    expect_layer(sum, 3, "maxpool2d", 3, (int64_t[]){8, 8, 8}, 0);
    expect_layer(sum, 4, "conv2d", 3, (int64_t[]){16, 8, 8}, 16 * 8 * 9 + 16);
    expect_layer(sum, 5, "avgpool2d", 3, (int64_t[]){16, 3, 3}, 0);
    expect_layer(sum, 6, "conv2d", 3, (int64_t[]){12, 3, 3}, 12 * 16 * 4 + 12);
    expect_layer(sum, 7, "conv2d", 3, (int64_t[]){12, 5, 5}, 12 * 12 + 12);
    expect_layer(sum, 8, "global_avgpool", 1, (int64_t[]){12}, 0);
    expect_layer(sum, 11, "batchnorm", 1, (int64_t[]){16}, 32);
    expect_layer(sum, 14, "dense", 1, (int64_t[]){K}, 16 * K + K);
    e2e_resp_free(&r);
    /* PyTorch gets the definition as written (long form, defaults left out) */
    char *model_file = tu_write_str(tu_tmpdir(), "zoo.json", zoo_cnn);

    char body[128];
    snprintf(body, sizeof body, "{\"model\": %lld, \"dataset\": %lld}", model_id, data_id);
    json_t *job = run_job(&d, body, 300);
    long long job_id = e2e_int(job, "id");
    json_decref(job);

    nn_st_file *st;
    char *wfile = fetch_weights(&d, job_id, "zoo.safetensors", &st);
    ck_assert_int_eq(nn_st_count(st), 1 + 5 + 2 + 2 + 2 + 2 + 5 + 2);
    expect_tensor(st, "layers.0.weight", 4, (int64_t[]){8, 3, 3, 5});
    expect_tensor(st, "layers.6.weight", 4, (int64_t[]){12, 16, 2, 2});
    expect_tensor(st, "layers.11.running_var", 1, (int64_t[]){16});
    nn_err e;
    ck_assert_int_ne(nn_st_info(st, "layers.0.bias", NULL, NULL, NULL, &e), NN_OK);
    nn_st_free(st);

    sbuf inst = {0};
    sb_printf(&inst, "{\"instances\": [");
    for (int i = 0; i < N_CHECK; i++) {
        sb_printf(&inst, "%s[", i ? ",\n" : "");
        for (size_t k = 0; k < per; k++)
            sb_printf(&inst, k ? ",%.9g" : "%.9g", (double)x[(size_t)i * per + k]);
        sb_printf(&inst, "]");
    }
    sb_printf(&inst, "]}");
    json_t *preds = predict(&d, job_id, inst.p, N_CHECK);
    char *inst_file = tu_write_str(tu_tmpdir(), "zoo-instances.json", inst.p);
    free(inst.p);
    json_t *torch = torch_predict(model_file, wfile, inst_file);
    double worst = compare_predictions(preds, torch, N_CHECK, K);
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
