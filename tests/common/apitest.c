/*
 * apitest.c — see apitest.h.
 */
#include "apitest.h"

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

#include "testutil.h"

static const char *srcdir(void)
{
    const char *d = getenv("TRAIND_SRCDIR");
    return d && *d ? d : ".";
}

/* ---------------------------------------------------------------------------
 * Text */

void at_sb_printf(at_sbuf *b, const char *fmt, ...)
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

/* One level of at_sb_tensor; *x advances past the values written. */
static void sb_nested(at_sbuf *b, const float **x, const int64_t *dims, int rank)
{
    at_sb_printf(b, "[");
    for (int64_t i = 0; i < dims[0]; i++) {
        if (i)
            at_sb_printf(b, rank > 1 ? ",\n" : ",");
        if (rank > 1)
            sb_nested(b, x, dims + 1, rank - 1);
        else
            at_sb_printf(b, "%.9g", (double)*(*x)++);   /* 9 digits: the float exactly */
    }
    at_sb_printf(b, "]");
}

void at_sb_tensor(at_sbuf *b, const float *x, const int64_t *dims, int rank)
{
    ck_assert_int_ge(rank, 1);
    sb_nested(b, &x, dims, rank);
}

char *at_instances(const float *x, size_t per, int n)
{
    at_sbuf b = {0};
    at_sb_printf(&b, "{\"instances\": ");
    at_sb_tensor(&b, x, (int64_t[]){n, (int64_t)per}, 2);
    at_sb_printf(&b, "}");
    return b.p;
}

/* ---------------------------------------------------------------------------
 * Fixture files */

/* A big-endian u32 of an IDX header. */
static size_t be32(const unsigned char *p)
{
    return ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
}

unsigned char *at_idx_head(const char *file, int n, size_t *len, size_t *rec)
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
        per *= be32(h + 4 + 4 * i);
    size_t total = be32(h + 4);
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

float *at_u8_to_float(const unsigned char *px, size_t count)
{
    float *x = malloc(count * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)((double)px[i] / 255.0);
    return x;
}

char *at_write_npy(const char *name, const char *descr, const int64_t *dims, int rank,
                   const void *data, size_t bytes)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int i = 0; i < rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)dims[i],
                      i + 1 < rank ? " " : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* magic, version, header length, dict, spaces and '\n' to a multiple of 64 */
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
 * API calls */

long long at_post_id(const e2e_daemon *d, const char *path, const char *json)
{
    e2e_resp r = e2e_json(d, "POST", path, json);
    ck_assert_msg(r.status == 201, "POST %s: %ld %s", path, r.status, r.body);
    long long id = e2e_int(r.json, "id");
    ck_assert_int_gt(id, 0);
    e2e_resp_free(&r);
    return id;
}

json_t *at_run_job(const e2e_daemon *d, const char *body, double timeout_s)
{
    long long id = at_post_id(d, "/v1/jobs", body);
    json_t *job = e2e_wait_job(d, id, "succeeded failed cancelled", timeout_s);
    ck_assert_msg(job != NULL, "job %lld did not finish within %.0f s:\n%s", id, timeout_s,
                  e2e_log_tail(d));
    ck_assert_msg(!strcmp(e2e_str(job, "state"), "succeeded"), "job %lld: %s (%s)\n%s", id,
                  e2e_str(job, "state"), e2e_str(job, "error"), e2e_log_tail(d));
    return job;
}

json_t *at_epoch_metrics(const e2e_daemon *d, long long job, int epochs)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%lld/metrics?kind=epoch", job);
    e2e_resp r = e2e_get(d, path);
    ck_assert_msg(r.status == 200, "metrics: %ld %s", r.status, r.body);
    json_t *rows = json_incref(json_object_get(r.json, "metrics"));
    e2e_resp_free(&r);
    ck_assert_msg(json_array_size(rows) == (size_t)epochs, "%zu epoch rows, want %d",
                  json_array_size(rows), epochs);
    return rows;
}

const json_t *at_expect_falling_loss(const json_t *rows, double factor, int every_epoch,
                                     const char *tag)
{
    size_t n = json_array_size(rows);
    ck_assert_uint_gt(n, 0);
    double first = 0, prev = INFINITY;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(rows, i);
        double loss = json_number_value(json_object_get(m, "loss"));
        const json_t *acc = json_object_get(m, "val_accuracy");
        printf("%s: epoch %zu loss %.4f val_loss %.4f", tag, i + 1, loss,
               json_number_value(json_object_get(m, "val_loss")));
        if (json_is_number(acc))
            printf(" val_accuracy %.4f", json_number_value(acc));
        printf("\n");
        ck_assert_msg(loss < prev || !every_epoch,
                      "%s: epoch %zu: loss %.4f did not fall (previous %.4f)", tag, i + 1, loss,
                      prev);
        if (i == 0)
            first = loss;
        prev = loss;
    }
    ck_assert_msg(prev < factor * first, "%s: loss %.4f -> %.4f: not below %.2f of the first",
                  tag, first, prev, factor);
    return json_array_get(rows, n - 1);
}

char *at_fetch_weights(const e2e_daemon *d, long long job, const char *name, nn_st_file **st)
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

json_t *at_predict(const e2e_daemon *d, long long job, const char *body, size_t n)
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

/* ---------------------------------------------------------------------------
 * Checks */

void at_expect_tensor(const nn_st_file *st, const char *name, int rank, const int64_t *shape)
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

void at_expect_layer(const json_t *summary, int i, const char *type, int rank,
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

char *at_write_definition(const json_t *model, const char *name)
{
    char *text = json_dumps(json_object_get(model, "definition"), JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    char *path = tu_write_str(tu_tmpdir(), name, text);
    free(text);
    return path;
}

/* ---------------------------------------------------------------------------
 * PyTorch */

json_t *at_torch_predict(const char *model, const char *weights, const char *instances)
{
    const char *py = getenv("TORCH_PYTHON");
    char err[512], cmd[4096];
    snprintf(err, sizeof err, "%s/torch_predict.err", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch_predict.py' '%s' '%s' '%s' 2>'%s'",
             py && *py ? py : "/usr/bin/python3", srcdir(), model, weights, instances, err);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    at_sbuf out = {0};
    at_sb_printf(&out, "%s", "");
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0)
        at_sb_printf(&out, "%.*s", (int)got, chunk);
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

/* ours against theirs at `path` (a JSON Pointer into one prediction). */
static void compare_value(const json_t *ours, const json_t *theirs, double tol, char *path,
                          size_t plen, double *worst)
{
    size_t base = strlen(path);
    if (json_is_object(theirs)) {
        const char *key;
        const json_t *v;
        ck_assert_msg(json_is_object(ours), "%s: traind gives no object", path);
        json_object_foreach((json_t *)theirs, key, v) {
            snprintf(path + base, plen - base, "/%s", key);
            const json_t *mine = json_object_get(ours, key);
            ck_assert_msg(mine != NULL, "%s: missing in traind's answer", path);
            compare_value(mine, v, tol, path, plen, worst);
        }
    } else if (json_is_array(theirs)) {
        ck_assert_msg(json_is_array(ours) && json_array_size(ours) == json_array_size(theirs),
                      "%s: traind gives %zu values, PyTorch %zu", path, json_array_size(ours),
                      json_array_size(theirs));
        for (size_t i = 0; i < json_array_size(theirs); i++) {
            snprintf(path + base, plen - base, "/%zu", i);
            compare_value(json_array_get(ours, i), json_array_get(theirs, i), tol, path, plen,
                          worst);
        }
    } else if (json_is_integer(theirs)) {
        /* a class index */
        ck_assert_msg(json_is_integer(ours) &&
                          json_integer_value(ours) == json_integer_value(theirs),
                      "%s: traind says %lld, PyTorch %lld", path, json_integer_value(ours),
                      json_integer_value(theirs));
    } else {
        ck_assert_msg(json_is_number(ours) && json_is_number(theirs), "%s: not a number", path);
        double a = json_number_value(ours), b = json_number_value(theirs), diff = fabs(a - b);
        ck_assert_msg(diff <= tol, "%s: traind %.9g, PyTorch %.9g (difference %.3g > %g)", path,
                      a, b, diff, tol);
        if (diff > *worst)
            *worst = diff;
    }
    path[base] = 0;
}

double at_compare_predictions(const json_t *ours, const json_t *theirs, size_t n, double tol)
{
    ck_assert_uint_ge(json_array_size(ours), n);
    ck_assert_uint_eq(json_array_size(theirs), n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "instance %zu: ", i);
        compare_value(json_array_get(ours, i), json_array_get(theirs, i), tol, path, sizeof path,
                      &worst);
    }
    return worst;
}

/* ---------------------------------------------------------------------------
 * Fashion-MNIST through the API */

static long long upload_idx(const e2e_daemon *d, const char *name, const char *x, const char *y,
                            int n)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/datasets?name=%s", name);
    e2e_resp r = e2e_upload_xy(d, path, x, y);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    long long id = e2e_int(r.json, "id");
    ck_assert_str_eq(e2e_str(r.json, "format"), "idx");
    ck_assert_int_eq(e2e_int(r.json, "n_samples"), n);
    ck_assert_int_eq(e2e_int(r.json, "n_classes"), 10);
    const json_t *shape = json_object_get(r.json, "x_shape");
    ck_assert_uint_eq(json_array_size(shape), 4);
    const int64_t want[4] = {n, 1, 28, 28};
    for (size_t k = 0; k < 4; k++)
        ck_assert_int_eq(json_integer_value(json_array_get(shape, k)), want[k]);
    e2e_resp_free(&r);
    return id;
}

void at_fmnist_upload(const e2e_daemon *d, int n_train, int n_test, at_fmnist *f)
{
    static const char *const src[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    static const char *const dst[4] = {"train-x.idx.gz", "train-y.idx.gz", "test-x.idx",
                                        "test-y.idx"};
    memset(f, 0, sizeof *f);
    f->n_train = n_train;
    f->n_test = n_test;
    for (int i = 0; i < 4; i++) {
        size_t len, rec;
        f->idx[i] = at_idx_head(src[i], i < 2 ? n_train : n_test, &len, &rec);
        ck_assert_uint_eq(rec, i % 2 ? 1 : AT_PIXELS);
        /* training files gzipped (as the packaged ones), test files plain */
        f->file[i] = tu_write(tu_tmpdir(), dst[i], f->idx[i], len, i < 2);
    }
    f->test_x = f->idx[2] + 16;   /* past the headers: 4 + 4 * 3 and 4 + 4 bytes */
    f->test_y = f->idx[3] + 8;
    f->train_id = upload_idx(d, "fmnist-train-subset", f->file[0], f->file[1], n_train);
    f->test_id = upload_idx(d, "fmnist-test-subset", f->file[2], f->file[3], n_test);
}

void at_fmnist_free(at_fmnist *f)
{
    for (int i = 0; i < 4; i++) {
        free(f->idx[i]);
        free(f->file[i]);
    }
    memset(f, 0, sizeof *f);
}

/* {"instances": [...]} of test images [0, n) */
static char *fmnist_instances(const at_fmnist *f, int n)
{
    float *x = at_u8_to_float(f->test_x, (size_t)n * AT_PIXELS);
    char *body = at_instances(x, AT_PIXELS, n);
    free(x);
    return body;
}

json_t *at_fmnist_predict(const e2e_daemon *d, long long job, const at_fmnist *f, double val_acc,
                          const char *tag)
{
    char *all = fmnist_instances(f, f->n_test);
    json_t *preds = at_predict(d, job, all, (size_t)f->n_test);
    free(all);
    int right = 0;
    for (size_t i = 0; i < (size_t)f->n_test; i++) {
        const json_t *p = json_array_get(preds, i);
        long long c = e2e_int(p, "class_index");
        char name[8];
        snprintf(name, sizeof name, "%lld", c);
        ck_assert_str_eq(e2e_str(p, "class"), name);
        right += c == f->test_y[i];
    }
    double acc = (double)right / f->n_test;
    printf("%s: predict accuracy %.4f on %d test images (job's val_accuracy %.4f)\n", tag, acc,
           f->n_test, val_acc);
    ck_assert_msg(fabs(acc - val_acc) <= 0.002, "predict accuracy %.4f, val_accuracy %.4f", acc,
                  val_acc);
    return preds;
}

double at_fmnist_torch(const at_fmnist *f, const json_t *preds, const char *model,
                       const char *weights, int n, double tol)
{
    char *some = fmnist_instances(f, n);
    char *inst_file = tu_write_str(tu_tmpdir(), "fmnist-instances.json", some);
    free(some);
    json_t *torch = at_torch_predict(model, weights, inst_file);
    double worst = at_compare_predictions(preds, torch, (size_t)n, tol);
    json_decref(torch);
    free(inst_file);
    return worst;
}
