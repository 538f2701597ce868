/*
 * apitest.h — helpers for the suites that train models through the REST API
 * of the real daemon (tests/common/e2e.h) and check the results against
 * PyTorch (test_api_cnn, test_api_rnn): fixture files (the head of a
 * Fashion-MNIST IDX file, NPY files, JSON arrays of a tensor), calls that
 * assert their status, checks of a model summary, of the epoch metrics and
 * of the exported weights, and tests/torch_predict.py with its comparison.
 *
 * Every helper aborts the test (ck_assert) when something is not as it
 * must be; what it returns is the caller's to free (free or json_decref).
 */
#ifndef APITEST_H
#define APITEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e.h"
#include "safetensors.h"

/* AT_UNDER_ASAN: 1 in a build with AddressSanitizer, where the daemon is
 * several times slower and the suites train on less. */
#if defined(__SANITIZE_ADDRESS__)
#define AT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AT_UNDER_ASAN 1
#endif
#endif
#ifndef AT_UNDER_ASAN
#define AT_UNDER_ASAN 0
#endif

/* A growing text buffer; {0} is empty, p is malloc'd (NULL until written). */
typedef struct at_sbuf {
    char *p;
    size_t len, cap;
} at_sbuf;

void at_sb_printf(at_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* x [dims[0], ..., dims[rank-1]] as nested JSON arrays, each value written
 * so that it parses back to the same float. */
void at_sb_tensor(at_sbuf *b, const float *x, const int64_t *dims, int rank);

/* {"instances": [...]}: n instances of per values each, flat. */
char *at_instances(const float *x, size_t per, int n);

/* The first n records of a gzipped Fashion-MNIST IDX file ("train-images-
 * idx3-ubyte.gz"): its header with the count set to n, and the data.
 * *len is the whole length, *rec the bytes per record. */
unsigned char *at_idx_head(const char *file, int n, size_t *len, size_t *rec);

/* u8 pixels [n, per] as the floats traind makes of them (x / 255). */
float *at_u8_to_float(const unsigned char *px, size_t count);

/* An NPY (version 1.0) file in the scratch directory: descr "<f4" or
 * "<i8", shape dims[0..rank).  Returns its path. */
char *at_write_npy(const char *name, const char *descr, const int64_t *dims, int rank,
                   const void *data, size_t bytes);

/* POST path with a JSON body; asserts 201 and returns the new id. */
long long at_post_id(const e2e_daemon *d, const char *path, const char *json);

/* POST /v1/jobs with body, waits until the job ends; asserts that it
 * succeeded and returns it. */
json_t *at_run_job(const e2e_daemon *d, const char *body, double timeout_s);

/* GET /v1/jobs/{id}/metrics?kind=epoch; asserts `epochs` rows and returns
 * the "metrics" array. */
json_t *at_epoch_metrics(const e2e_daemon *d, long long job, int epochs);

/* Asserts that the training loss of rows (from at_epoch_metrics) ended
 * below factor times the first epoch's, and with every_epoch that it fell
 * every epoch (a small task's curve may wobble late); prints each epoch
 * after `tag`.  Returns the last row (borrowed from rows). */
const json_t *at_expect_falling_loss(const json_t *rows, double factor, int every_epoch,
                                     const char *tag);

/* GET /v1/jobs/{id}/weights into the scratch directory as `name`; the
 * parsed file in *st (nn_st_free).  Returns the file's path. */
char *at_fetch_weights(const e2e_daemon *d, long long job, const char *name, nn_st_file **st);

/* POST /v1/jobs/{id}/predict; asserts 200 and n predictions, returns them. */
json_t *at_predict(const e2e_daemon *d, long long job, const char *body, size_t n);

/* The tensor `name` of st is F32 of this shape. */
void at_expect_tensor(const nn_st_file *st, const char *name, int rank, const int64_t *shape);

/* The summary's layer i has this type, output shape and parameter count. */
void at_expect_layer(const json_t *summary, int i, const char *type, int rank,
                     const int64_t *shape, long long params);

/* The "definition" member of a model answer, written to the scratch
 * directory as `name`.  Returns the path. */
char *at_write_definition(const json_t *model, const char *name);

/* Runs tests/torch_predict.py (under $TORCH_PYTHON, else /usr/bin/python3;
 * the script is found under $TRAIND_SRCDIR, else the current directory) on
 * the three files and returns its "predictions".  Fails with the script's
 * message when it fails. */
json_t *at_torch_predict(const char *model, const char *weights, const char *instances);

/* traind's predictions [0, n) against PyTorch's, member by member as
 * PyTorch gives them (class_index and probabilities, per sample or per
 * step; or the regression outputs): integers equal, numbers within tol,
 * arrays of one length.  Returns the largest difference of the numbers. */
double at_compare_predictions(const json_t *ours, const json_t *theirs, size_t n, double tol);

/* ---------------------------------------------------------------------------
 * Fashion-MNIST through the API */

#define AT_PIXELS (28 * 28)

typedef struct at_fmnist {
    int n_train, n_test;
    long long train_id, test_id;   /* the uploaded datasets */
    unsigned char *test_x;         /* [n_test, 784] pixels */
    unsigned char *test_y;         /* [n_test] labels */
    unsigned char *idx[4];         /* the IDX heads: train x, y, test x, y */
    char *file[4];                 /* their files */
} at_fmnist;

/* Uploads the first n_train training images (gzipped IDX, as packaged) and
 * the first n_test test images (plain IDX) as two datasets, asserting what
 * the answers say (format, count, shape, 10 classes). */
void at_fmnist_upload(const e2e_daemon *d, int n_train, int n_test, at_fmnist *f);
void at_fmnist_free(at_fmnist *f);

/* POST .../predict on every test image: each class name must be its index,
 * and the classes must agree with the labels as often as the job's
 * val_accuracy says (within 1 image in 500: a rounding difference between
 * batch sizes may flip one).  Returns the predictions. */
json_t *at_fmnist_predict(const e2e_daemon *d, long long job, const at_fmnist *f, double val_acc,
                          const char *tag);

/* tests/torch_predict.py on the first n test images with the definition
 * and weights files; compared with preds (at_compare_predictions, tol).
 * Returns the largest difference. */
double at_fmnist_torch(const at_fmnist *f, const json_t *preds, const char *model,
                       const char *weights, int n, double tol);

#endif
