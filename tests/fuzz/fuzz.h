/*
 * fuzz.h — what the libFuzzer harnesses of tests/fuzz share.
 *
 * Each harness (fuzz_<name>.c) defines LLVMFuzzerTestOneInput and feeds its
 * bytes to one parser of outside input, the way traind calls it; then it
 * checks what the parser's header promises (an output zeroed on failure, a
 * dataset of finite values with valid class indices, ...) and aborts when a
 * promise is broken, so that libFuzzer keeps the input like any crash.
 *
 * Readers that take a path get the bytes through an in-memory file (a memfd,
 * opened again by the reader as /proc/self/fd/N): no disk, no clean-up, and
 * a regular file with a size, as an uploaded temporary file is.
 *
 * A harness may read its options from the first bytes of the input
 * (fuzz_take): the rest is the file.  Short inputs give zeros, so every input
 * means something and the committed seeds stay small.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

/* Aborts, naming the broken promise, when cond is false. */
#define FUZZ_CHECK(cond, ...) \
    do { \
        if (!(cond)) \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* The input still to be read: harness options first, then the payload. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

/* The next byte of in (0 when in is empty). */
uint8_t fuzz_take(fuzz_in *in);

/* The next n bytes of in as a slice (fewer when in is shorter). */
fuzz_in fuzz_split(fuzz_in *in, size_t n);

/* Replaces the contents of in-memory file `slot` (0 .. 3) by size bytes and
 * returns a path that opens it (valid until the next call for that slot). */
const char *fuzz_file(int slot, const uint8_t *data, size_t size);

/* The promises of data.h about a dataset a reader returned with rc: zeros
 * after a failure (and a UTF-8 message); after success x [n, ...] and y of the same
 * n, finite values, and class indices 0 .. n_classes-1 with n_classes names. */
void fuzz_check_dataset(int rc, const nn_dataset *d, const nn_err *e);

/* A reader's one tensor: zeroed after a failure; otherwise rank 1..NN_MAX_RANK,
 * positive dims, and finite values.  Messages of failures must be UTF-8
 * (traind sends them in JSON answers). */
void fuzz_check_tensor(int rc, const nn_tensor *t, const nn_err *e);

/* With FUZZ_VERBOSE=1 in the environment, prints one line about what the
 * harness saw (a verdict and its message), for reading a seed or a crash;
 * otherwise nothing. */
void fuzz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fuzz_note of a reader's verdict: its message, or the shapes it read. */
void fuzz_note_data(const char *what, int rc, const nn_tensor *x, const nn_tensor *y,
                    int n_classes, const nn_err *e);


/* 1 when s[0, len) is valid UTF-8. */
int fuzz_utf8(const char *s, size_t len);

#endif
