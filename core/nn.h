/*
 * nn.h — the types every libnn module shares: the real type, status codes,
 * shapes and the error record.
 *
 * libnn computes in `nn_real`, which is float.  Built with -DNN_DOUBLE the
 * whole library computes in double instead; the tests use that build for
 * numerical gradient checks, where float32 is too coarse.
 *
 * Conventions (all modules):
 *   - functions return an int status: NN_OK (0) or a negative NN_E* code;
 *   - results go to out-parameters, which are zeroed on failure;
 *   - a library function never prints: error text goes into the caller's
 *     nn_err (which may be NULL when the caller does not want it);
 *   - `_new` pairs with `_free`, and `_free(NULL)` does nothing.
 */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef NN_DOUBLE
typedef double nn_real;
#define NN_REAL_NAME "F64"
#else
typedef float nn_real;
#define NN_REAL_NAME "F32"
#endif

enum {
    NN_OK = 0,
    NN_ENOMEM = -1,   /* allocation failed */
    NN_EINVAL = -2,   /* an argument or a definition is invalid */
    NN_EFORMAT = -3,  /* input bytes are malformed */
    NN_EIO = -4,      /* a file could not be opened, read or written */
    NN_ELIMIT = -5,   /* a size exceeds a limit */
};

/* Largest rank of a tensor, batch dimension included. */
#define NN_MAX_RANK 6

/* A shape without the batch dimension: [784], [1, 28, 28], [28, 28]. */
typedef struct nn_shape {
    int rank;
    int dim[NN_MAX_RANK];
} nn_shape;

/* What went wrong, for a human.  `layer` and `field` locate a model-definition
 * error (the server turns them into a JSON path such as /layers/1/units).
 * msg is one line of valid UTF-8 (nn_errf cleans it with nn_utf8_clean), so
 * that it can go into a JSON answer whatever input bytes it quotes. */
typedef struct nn_err {
    char msg[256];
    int layer;        /* index in the definition's layer list, or -1 */
    char field[32];   /* name of the offending field, or "" */
} nn_err;

/* Fills e (when not NULL) with a formatted message, layer -1 and no field;
 * returns `code` so that callers can write `return nn_errf(e, NN_EINVAL, ...)`. */
int nn_errf(nn_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like nn_errf, and records the layer index and field the error is about. */
int nn_errf_at(nn_err *e, int code, int layer, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Replaces, in place, every byte of the C string s that is not part of a
 * well-formed UTF-8 sequence (overlong forms, surrogates and code points
 * above U+10FFFF included) by '?', and control characters too unless
 * keep_controls. */
void nn_utf8_clean(char *s, int keep_controls);

/* Clears e (when not NULL). */
void nn_err_clear(nn_err *e);

/* A short name for a status code ("out of memory", "malformed input", ...). */
const char *nn_strerror(int code);

/* Number of elements of a shape (1 for rank 0). */
int64_t nn_shape_numel(const nn_shape *s);

/* Writes "[1, 28, 28]" into buf. */
void nn_shape_str(const nn_shape *s, char *buf, size_t len);

#endif
