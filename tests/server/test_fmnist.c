/*
 * test_fmnist.c — the example MLP (examples/fmnist-mlp.json, unchanged:
 * Adam, batch 64, 10 epochs at most, validation split 0.1, seed 42, early
 * stopping) trained on the real Fashion-MNIST training set reaches at least
 * 0.88 accuracy on the 10,000 test images.  The published MLP 256-128-100
 * baseline is 0.8833.  Also: the weights it writes load back into a fresh
 * model and give the same predictions.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "model.h"
#include "spec_json.h"
#include "testutil.h"
#include "train.h"

static const char *srcdir(void)
{
    const char *d = getenv("TRAIND_SRCDIR");
    return d && *d ? d : ".";
}

START_TEST(example_mlp_reaches_088)
{
    char path[512];
    snprintf(path, sizeof path, "%s/examples/fmnist-mlp.json", srcdir());
    size_t len;
    char *text = tu_read(path, &len);
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err je;
    ck_assert_msg(spec_json_parse_text(text, len, &spec, &cfg, &je) == 0, "%s: %s", je.path,
                  je.msg);
    free(text);
    ck_assert_int_eq(cfg.epochs, 10);

    nn_load_opts lo;
    nn_load_opts_default(&lo);
    nn_dataset train, test;
    nn_err e;
    char *a = tu_fmnist("train-images-idx3-ubyte.gz"), *b = tu_fmnist("train-labels-idx1-ubyte.gz");
    char *c = tu_fmnist("t10k-images-idx3-ubyte.gz"), *d = tu_fmnist("t10k-labels-idx1-ubyte.gz");
    ck_assert_msg(nn_idx_read_pair(a, b, &lo, &train, &e) == NN_OK, "%s", e.msg);
    ck_assert_msg(nn_idx_read_pair(c, d, &lo, &test, &e) == NN_OK, "%s", e.msg);
    free(a);
    free(b);
    free(c);
    free(d);

    nn_model_opts mo = {.seed = cfg.seed, .threads = tu_threads()};
    nn_model *m;
    ck_assert_int_eq(nn_model_new(&spec, &mo, &m, &e), NN_OK);
    nn_trainer *t;
    ck_assert_msg(nn_trainer_new(m, &cfg, &train, NULL, &t, &e) == NN_OK, "%s", e.msg);
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_run(t, NULL, &r, &e), NN_OK);
    ck_assert_int_le(r.epochs_done, 10);
    double loss, acc;
    ck_assert_int_eq(nn_evaluate(m, &test, 256, &loss, &acc, &e), NN_OK);
    printf("fashion-mnist MLP: %d epochs (%s), test loss %.4f, accuracy %.4f\n", r.epochs_done,
           nn_stop_reason_name(r.reason), loss, acc);
    ck_assert_msg(acc >= 0.88, "test accuracy %.4f < 0.88", acc);

    /* the weights round-trip through a file into a fresh model */
    char *wpath = malloc(strlen(tu_tmpdir()) + 32);
    sprintf(wpath, "%s/mlp.safetensors", tu_tmpdir());
    ck_assert_int_eq(nn_model_save_weights(m, wpath, NULL, 0, &e), NN_OK);
    nn_model *m2;
    mo.seed = 12345;
    ck_assert_int_eq(nn_model_new(&spec, &mo, &m2, &e), NN_OK);
    ck_assert_msg(nn_model_load_weights(m2, wpath, &e) == NN_OK, "%s", e.msg);
    enum { N = 500 };
    nn_real *p1 = malloc(N * 10 * sizeof *p1), *p2 = malloc(N * 10 * sizeof *p2);
    ck_assert_int_eq(nn_model_predict(m, test.x.data, N, p1, &e), NN_OK);
    ck_assert_int_eq(nn_model_predict(m2, test.x.data, N, p2, &e), NN_OK);
    ck_assert_int_eq(memcmp(p1, p2, N * 10 * sizeof *p1), 0);
    free(p1);
    free(p2);
    free(wpath);
    nn_model_free(m2);

    nn_trainer_free(t);
    nn_model_free(m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    nn_spec_free(&spec);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fmnist");
    TCase *tc = tcase_create("fmnist");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, example_mlp_reaches_088);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
