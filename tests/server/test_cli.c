/*
 * test_cli.c — `traind train` run as a user runs it: the real binary on CSV
 * and NPY files written here, its output, its exit status and the weight
 * file it writes (the same bytes for 1, 2 and 4 threads); and its answers
 * to bad usage, bad definitions and bad data.  The binary is $TRAIND_BIN, or ./traind from the repository root.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "rng.h"
#include "safetensors.h"
#include "testutil.h"

static const char *bin(void)
{
    const char *b = getenv("TRAIND_BIN");
    return b && *b ? b : "./traind";
}

/* Runs traind with the given arguments; returns its exit status and its
 * combined output (malloc'd) in *out. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
    char args[4096], cmd[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin(), args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *dir;

static char *path(const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* Three Gaussian blobs in 4 dimensions, labelled by name, in CSV. */
static void blobs_csv(const char *name, int n, uint64_t seed)
{
    static const char *species[3] = {"virginica", "setosa", "versicolor"};
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    size_t cap = (size_t)n * 100 + 100;
    char *text = malloc(cap);
    size_t off = (size_t)sprintf(text, "sepal_length,sepal_width,petal_length,petal_width,species\n");
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        off += (size_t)sprintf(text + off, "%.3f,%.3f,%.3f,%.3f,%s\n",
                               c * 1.5 + 0.4 * nn_rng_normal(&r), 1 - c + 0.4 * nn_rng_normal(&r),
                               c * c * 0.7 + 0.4 * nn_rng_normal(&r), 0.4 * nn_rng_normal(&r),
                               species[c]);
    }
    free(tu_write(dir, name, text, off, 0));
    free(text);
}

static const char *clf_model =
    "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],"
    " \"loss\": \"cross_entropy\","
    " \"training\": {\"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}, \"batch_size\": 16,"
    " \"epochs\": 40, \"seed\": 3}}";

static void setup(void)
{
    dir = tu_tmpdir();
}

START_TEST(csv_classification)
{
    blobs_csv("train.csv", 300, 1);
    blobs_csv("test.csv", 150, 2);
    free(tu_write_str(dir, "model.json", clf_model));
    char *m = path("model.json"), *tr = path("train.csv"), *te = path("test.csv");
    char *w = path("w.safetensors"), *out;
    int st = run(&out, "train --model %s --train %s --test %s --out %s --threads 2", m, tr, te, w);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "train: 300 samples [4], 3 classes"));
    ck_assert_ptr_nonnull(strstr(out, "epoch  40/40"));
    ck_assert_ptr_nonnull(strstr(out, "stopped: max_epochs after 40 epochs"));
    const char *t = strstr(out, "test: loss ");
    ck_assert_ptr_nonnull(t);
    double loss, acc;
    ck_assert_int_eq(sscanf(t, "test: loss %lf accuracy %lf", &loss, &acc), 2);
    ck_assert_msg(acc >= 0.9, "accuracy %.4f\n%s", acc, out);
    /* the total time includes the training */
    double training, total;
    t = strstr(out, "time: ");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(sscanf(t, "time: %lf s training, %lf s in all", &training, &total), 2);
    ck_assert_msg(training > 0 && total >= training, "%s", t);
    /* the weight file: PyTorch names and layouts, the classes in metadata */
    nn_st_file *f;
    nn_err e;
    ck_assert_msg(nn_st_read_file(w, &f, &e) == NN_OK, "%s", e.msg);
    ck_assert_int_eq(nn_st_count(f), 4);
    int rank;
    int64_t shape[NN_MAX_RANK];
    ck_assert_int_eq(nn_st_info(f, "layers.0.weight", NULL, &rank, shape, NULL), NN_OK);
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(shape[0], 16);
    ck_assert_int_eq(shape[1], 4);
    ck_assert_int_eq(nn_st_info(f, "layers.1.bias", NULL, &rank, shape, NULL), NN_OK);
    ck_assert_int_eq(shape[0], 3);
    ck_assert_str_eq(nn_st_meta(f, "format"), "traind");
    /* sorted bytewise: setosa, versicolor, virginica */
    ck_assert_str_eq(nn_st_meta(f, "classes"), "[\"setosa\",\"versicolor\",\"virginica\"]");
    ck_assert_ptr_nonnull(strstr(nn_st_meta(f, "model"), "\"units\":16"));
    nn_st_free(f);
    free(out);
    free(m);
    free(tr);
    free(te);
    free(w);
}
END_TEST

START_TEST(csv_regression_with_label_and_standardize)
{
    nn_rng r;
    nn_rng_seed(&r, 4, 0);
    char *text = malloc(200 * 80 + 64);
    size_t off = (size_t)sprintf(text, "target,a,b\n");
    for (int i = 0; i < 200; i++) {
        double a = 100 + 50 * nn_rng_normal(&r), b = nn_rng_normal(&r);
        off += (size_t)sprintf(text + off, "%.6f,%.6f,%.6f\n", 0.02 * a - 3 * b + 1, a, b);
    }
    free(tu_write(dir, "reg.csv", text, off, 0));
    free(text);
    free(tu_write_str(dir, "reg.json",
                      "{\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 1}],"
                      " \"loss\": \"mse\", \"training\": {\"optimizer\": {\"type\": \"sgd\","
                      " \"lr\": 0.05}, \"batch_size\": 8, \"epochs\": 60}}"));
    char *m = path("reg.json"), *d = path("reg.csv"), *out;
    int st = run(&out, "train --model %s --train %s --test %s --label target --standardize "
                       "--threads 1", m, d, d);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "train: 200 samples [2]\n"));
    const char *t = strstr(out, "test: loss ");
    ck_assert_ptr_nonnull(t);
    double loss;
    ck_assert_int_eq(sscanf(t, "test: loss %lf", &loss), 1);
    ck_assert_msg(loss < 1e-3, "regression loss %g\n%s", loss, out);
    ck_assert_ptr_null(strstr(t, "accuracy"));
    free(out);
    free(m);
    free(d);
}
END_TEST

/* The definition's preprocess, as the server reads it: a text column one-hot
 * encoded, missing values filled, the fitted preprocessing in the weights'
 * metadata, and --test data read through it. */
START_TEST(csv_table_preprocessed)
{
    nn_rng r;
    nn_rng_seed(&r, 5, 0);
    static const char *const town[3] = {"alba", "asti", "novara"};
    char *text = malloc(300 * 60 + 64);
    size_t off = (size_t)sprintf(text, "size,town,weight,kind\n");
    for (int i = 0; i < 300; i++) {
        int c = i % 3;
        double size = 1000 * (c + 1) + 300 * nn_rng_normal(&r), w = 0.1 * c + 0.03 * nn_rng_normal(&r);
        char weight[32];
        if (i % 29 == 3)
            snprintf(weight, sizeof weight, "NA");
        else
            snprintf(weight, sizeof weight, "%.4f", w);
        off += (size_t)sprintf(text + off, "%.1f,%s,%s,k%d\n", size, town[c], weight, c);
    }
    free(tu_write(dir, "table.csv", text, off, 0));
    free(text);
    free(tu_write_str(dir, "table.json",
                      "{\"input\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 8,"
                      " \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": 3,"
                      " \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\","
                      " \"training\": {\"epochs\": 20, \"optimizer\": {\"type\": \"adam\","
                      " \"lr\": 0.02}, \"validation_split\": 0.2,"
                      " \"preprocess\": {\"missing\": \"median\"}}}"));
    char *m = path("table.json"), *d = path("table.csv"), *w = path("table.safetensors"), *out;
    int st = run(&out, "train --model %s --train %s --test %s --threads 1 --out %s", m, d, d, w);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "preprocess: 2 numeric columns standardized, 1 one-hot "
                                      "column -> 5 features"));
    const char *t = strstr(out, "test: loss ");
    double loss, acc;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(sscanf(t, "test: loss %lf accuracy %lf", &loss, &acc), 2);
    ck_assert_msg(acc > 0.95, "accuracy %g\n%s", acc, out);
    nn_st_file *f;
    nn_err e;
    ck_assert_int_eq(nn_st_read_file(w, &f, &e), NN_OK);
    const char *pre = nn_st_meta(f, "preprocess");
    ck_assert_ptr_nonnull(pre);
    ck_assert_ptr_nonnull(strstr(pre, "\"categories\":[\"alba\",\"asti\",\"novara\"]"));
    ck_assert_ptr_nonnull(strstr(pre, "\"n_features\":5"));
    ck_assert_ptr_nonnull(strstr(nn_st_meta(f, "model"), "\"preprocess\":{\"standardize\""));
    ck_assert_str_eq(nn_st_meta(f, "classes"), "[\"k0\",\"k1\",\"k2\"]");
    nn_st_free(f);
    free(out);
    /* without the fill rule: refused, naming the column and the line */
    free(tu_write_str(dir, "table-strict.json",
                      "{\"input\": [5], \"layers\": [{\"type\": \"dense\", \"units\": 3,"
                      " \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\"}"));
    char *m2 = path("table-strict.json");
    st = run(&out, "train --model %s --train %s", m2, d);
    ck_assert_int_eq(st, 1);
    ck_assert_ptr_nonnull(strstr(out, "column 'weight' (column 3) has 11 missing values, the "
                                      "first on line 5"));
    free(out);
    free(m);
    free(m2);
    free(d);
    free(w);
}
END_TEST

/* x.npy float32 [n, 2] and y.npy int64 [n]: XOR-like quadrants. */
static void write_npy(const char *name, const char *descr, const char *shape, const void *data,
                      size_t bytes)
{
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    size_t len = (size_t)total + (size_t)pad + bytes;
    unsigned char *buf = malloc(len);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((n + pad + 1) & 255);
    buf[9] = (unsigned char)((n + pad + 1) >> 8);
    memcpy(buf + 10, hdr, (size_t)n);
    memset(buf + 10 + n, ' ', (size_t)pad);
    buf[10 + n + pad] = '\n';
    memcpy(buf + total + pad, data, bytes);
    free(tu_write(dir, name, buf, len, 0));
    free(buf);
}

START_TEST(npy_pair)
{
    enum { N = 400 };
    float x[N * 2];
    int64_t y[N];
    nn_rng r;
    nn_rng_seed(&r, 6, 0);
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)(2 * nn_rng_uniform(&r) - 1);
        x[2 * i + 1] = (float)(2 * nn_rng_uniform(&r) - 1);
        y[i] = (x[2 * i] > 0) ^ (x[2 * i + 1] > 0);
    }
    write_npy("x.npy", "<f4", "(400, 2)", x, sizeof x);
    write_npy("y.npy", "<i8", "(400,)", y, sizeof y);
    free(tu_write_str(dir, "q.json",
                      "{\"input\": [2], \"layers\": [{\"type\": \"dense\", \"units\": 32,"
                      " \"activation\": \"tanh\"}, {\"type\": \"dense\", \"units\": 2,"
                      " \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\","
                      " \"training\": {\"optimizer\": \"adam\", \"batch_size\": 20,"
                      " \"epochs\": 80, \"validation_split\": 0.25, \"seed\": 1}}"));
    char *m = path("q.json"), *xp = path("x.npy"), *yp = path("y.npy"), *out;
    int st = run(&out, "train --model %s --train %s %s --test %s %s --epochs 80", m, xp, yp, xp, yp);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "training on 300 samples, validating on 100"));
    double loss, acc;
    const char *t = strstr(out, "test: loss ");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(sscanf(t, "test: loss %lf accuracy %lf", &loss, &acc), 2);
    ck_assert_msg(acc >= 0.9, "accuracy %.4f\n%s", acc, out);
    free(out);
    free(m);
    free(xp);
    free(yp);
}
END_TEST

/* The same seed gives the same weight file, bit for bit, with 1, 2 and 4
 * threads (core/train.h): an MLP with dropout, a CNN with batchnorm after a
 * convolution and after a dense layer, an LSTM and a GRU, each on 150
 * samples in batches of 32 (the last one of 22) cut into the default 8
 * shards.  Guards: every run must end with a lower loss than its first
 * epoch's, and another shard count must give another file. */
static char *file_text(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_gt(n, 0);
    rewind(f);
    char *b = malloc((size_t)n);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Trains `model` with the given threads (and shards, unless 0) into w.st;
 * returns the file's bytes. */
static char *train_file(const char *model, int threads, int shards, size_t *len)
{
    char *m = path(model), *xp = path("tx.npy"), *yp = path("ty.npy"), *w = path("w.st");
    char sh[32] = "";
    if (shards)
        snprintf(sh, sizeof sh, "--shards %d", shards);
    char *out;
    int st = run(&out, "train --model %s --train %s %s --threads %d %s --out %s", m, xp, yp,
                 threads, sh, w);
    ck_assert_msg(st == 0, "%s, %d threads: exit %d:\n%s", model, threads, st, out);
    double first = NAN, last = NAN, loss;
    int epochs = 0;
    for (const char *l = out; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (sscanf(l, "epoch %*d/%*d loss %lf", &loss) == 1) {
            first = epochs++ ? first : loss;
            last = loss;
        }
    ck_assert_msg(epochs == 4, "%s: %d epoch lines\n%s", model, epochs, out);
    ck_assert_msg(isfinite(last) && last < first, "%s, %d threads: loss %g after %g\n%s", model,
                  threads, last, first, out);
    char *b = file_text(w, len);
    free(out);
    free(m);
    free(xp);
    free(yp);
    free(w);
    return b;
}

START_TEST(same_weights_for_1_2_4_threads)
{
    enum { N = 150, F = 36 };
    static float x[N * F];
    int64_t y[N];
    nn_rng r;
    nn_rng_seed(&r, 11, 0);
    for (int i = 0; i < N; i++) {
        double best = -1e300;
        for (int j = 0; j < F; j++)
            x[i * F + j] = (float)nn_rng_normal(&r);
        for (int k = 0; k < 3; k++) {
            double v = 0;
            for (int j = 0; j < F; j++)
                v += x[i * F + j] * sin(1.0 + 3 * k + 0.7 * j);
            if (v > best) {
                best = v;
                y[i] = k;
            }
        }
    }
    write_npy("tx.npy", "<f4", "(150, 36)", x, sizeof x);
    write_npy("ty.npy", "<i8", "(150,)", y, sizeof y);
    static const char *tail =
        " \"loss\": \"cross_entropy\", \"training\": {\"optimizer\": {\"type\": \"%s\", \"lr\":"
        " %s}, \"batch_size\": 32, \"epochs\": 4, \"seed\": 5}}";
    static const char *nets[4][4] = {
        {"mlp.json", "[36]", "{\"type\": \"dense\", \"units\": 32, \"activation\": \"relu\"},"
         " {\"type\": \"dropout\", \"rate\": 0.3}, {\"type\": \"dense\", \"units\": 16,"
         " \"activation\": \"tanh\"}", "sgd"},
        {"cnn.json", "[1, 6, 6]", "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3,"
         " \"padding\": \"same\"}, {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
         " {\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"flatten\"}, {\"type\": \"dense\","
         " \"units\": 12, \"activation\": \"relu\"}, {\"type\": \"batchnorm\"}", "adam"},
        {"lstm.json", "[6, 6]", "{\"type\": \"lstm\", \"units\": 16}", "adam"},
        {"gru.json", "[6, 6]", "{\"type\": \"gru\", \"units\": 12}", "sgd"},
    };
    for (int k = 0; k < 4; k++) {
        char def[2048], opt[600];
        snprintf(opt, sizeof opt, tail, nets[k][3], strcmp(nets[k][3], "sgd") ? "0.01" : "0.1");
        snprintf(def, sizeof def, "{\"input\": %s, \"layers\": [%s, {\"type\": \"dense\", "
                 "\"units\": 3, \"activation\": \"softmax\"}],%s", nets[k][1], nets[k][2], opt);
        free(tu_write_str(dir, nets[k][0], def));
        size_t n1, n, n3;
        char *one = train_file(nets[k][0], 1, 0, &n1);
        for (int th = 2; th <= 4; th += 2) {
            char *other = train_file(nets[k][0], th, 0, &n);
            ck_assert_msg(n == n1 && memcmp(one, other, n) == 0,
                          "%s: the weights of %d threads differ from 1 thread's", nets[k][0], th);
            free(other);
        }
        char *three = train_file(nets[k][0], 2, 3, &n3);
        ck_assert_msg(n3 != n1 || memcmp(one, three, n1) != 0,
                      "%s: 3 shards gave the weights of 8", nets[k][0]);
        free(three);
        free(one);
    }
}
END_TEST

/* Each bad invocation: its exit status and a piece of what it says. */
START_TEST(bad_usage_and_bad_input)
{
    blobs_csv("ok.csv", 30, 1);
    free(tu_write_str(dir, "ok.json", clf_model));
    free(tu_write_str(dir, "units0.json",
                      "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 0}],"
                      " \"loss\": \"mse\"}"));
    free(tu_write_str(dir, "broken.json", "{\"input\": [4], \"layers\": ["));
    free(tu_write_str(dir, "wide.json",
                      "{\"input\": [7], \"layers\": [{\"type\": \"dense\", \"units\": 3,"
                      " \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\"}"));
    free(tu_write_str(dir, "six.json",
                      "{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 6,"
                      " \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\"}"));
    free(tu_write_str(dir, "bad.csv", "a,b,c,d,label\n1,2,3,4,x\n1,2,inf,4,y\n"));
    free(tu_write_str(dir, "gap.csv", "a,b,c,d,label\n1,2,3,4,x\n1,2,NA,4,y\n"));
    free(tu_write_str(dir, "short.csv", "a,b,c,d,label\n1,2,3,4,x\n1,2,3,y\n"));
    char *ok = path("ok.csv"), *okm = path("ok.json"), *out;
    struct {
        int status;
        const char *needle;
        char args[1024];
    } cases[13];
    int n = 0;
#define CASE(st, nd, ...)                                                                   \
    do {                                                                                    \
        cases[n].status = (st);                                                             \
        cases[n].needle = (nd);                                                             \
        snprintf(cases[n].args, sizeof cases[n].args, __VA_ARGS__);                          \
        n++;                                                                                \
    } while (0)
    CASE(2, "--model and --train are required", "train --train %s", ok);
    CASE(2, "unknown or incomplete option '--bogus'", "train --model %s --train %s --bogus", okm, ok);
    CASE(2, "--epochs needs a whole number", "train --model %s --train %s --epochs -3", okm, ok);
    CASE(1, "/layers/0/units", "train --model %s/units0.json --train %s", dir, ok);
    CASE(1, "line 1", "train --model %s/broken.json --train %s", dir, ok);
    CASE(1, "takes 7", "train --model %s/wide.json --train %s", dir, ok);
    /* 6 softmax units, 3 classes: refused, not trained */
    CASE(1, "3 classes but the model outputs 6", "train --model %s/six.json --train %s", dir, ok);
    CASE(1, "line 3", "train --model %s --train %s/bad.csv", okm, dir);
    CASE(1, "line 3", "train --model %s --train %s/short.csv", okm, dir);
    CASE(1, "/training/preprocess/missing: column 'c' (column 3) has 1 missing values, the first "
            "on line 3", "train --model %s --train %s/gap.csv", okm, dir);
    CASE(1, "cannot read", "train --model %s/none.json --train %s", dir, ok);
    CASE(2, "unknown command 'fly'", "fly");
    for (int i = 0; i < n; i++) {
        int st = run(&out, "%s", cases[i].args);
        ck_assert_msg(st == cases[i].status, "case %d (%s): exit %d\n%s", i, cases[i].args, st,
                      out);
        ck_assert_msg(strstr(out, cases[i].needle) != NULL, "case %d: no '%s' in:\n%s", i,
                      cases[i].needle, out);
        free(out);
    }
    ck_assert_int_eq(run(&out, "train --help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "--threads N"));
    free(out);
    ck_assert_int_eq(run(&out, "--version"), 0);
    ck_assert_ptr_nonnull(strstr(out, "traind "));
    free(out);
    free(ok);
    free(okm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, csv_classification);
    tcase_add_test(tc, csv_regression_with_label_and_standardize);
    tcase_add_test(tc, csv_table_preprocessed);
    tcase_add_test(tc, npy_pair);
    tcase_add_test(tc, same_weights_for_1_2_4_threads);
    tcase_add_test(tc, bad_usage_and_bad_input);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
