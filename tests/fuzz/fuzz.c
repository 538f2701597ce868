/*
 * fuzz.c — the harnesses' shared helpers (see fuzz.h).
 */
#include "fuzz.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: promise broken: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_note(const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0) {
        const char *v = getenv("FUZZ_VERBOSE");
        verbose = v && *v && strcmp(v, "0") != 0;
    }
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void shape_text(const nn_tensor *t, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? ", %lld" : "%lld", (long long)t->dim[i]);
    if (off < len)
        snprintf(buf + off, len - off, "]");
}

void fuzz_note_data(const char *what, int rc, const nn_tensor *x, const nn_tensor *y,
                    int n_classes, const nn_err *e)
{
    char xs[96], ys[96] = "";
    if (rc != NN_OK) {
        fuzz_note("%s: status %d: %s", what, rc, e->msg);
        return;
    }
    shape_text(x, xs, sizeof xs);
    if (y)
        shape_text(y, ys, sizeof ys);
    fuzz_note("%s: x %s%s%s, %d classes", what, xs, y ? " y " : "", ys, n_classes);
}

uint8_t fuzz_take(fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

fuzz_in fuzz_split(fuzz_in *in, size_t n)
{
    fuzz_in head = {in->p, n < in->n ? n : in->n};
    in->p += head.n;
    in->n -= head.n;
    return head;
}

const char *fuzz_file(int slot, const uint8_t *data, size_t size)
{
    static int fd[4] = {-1, -1, -1, -1};
    static char path[4][64];
    if (slot < 0 || slot > 3)
        abort();
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("fuzz-input", MFD_CLOEXEC);
        if (fd[slot] < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    if (ftruncate(fd[slot], 0) != 0) {
        perror("ftruncate");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd[slot], data + off, size - off, (off_t)off);
        if (w <= 0) {
            perror("pwrite");
            abort();
        }
        off += (size_t)w;
    }
    return path[slot];
}

static void check_status(int rc, const nn_err *e)
{
    FUZZ_CHECK(rc == NN_OK || rc == NN_ENOMEM || rc == NN_EINVAL || rc == NN_EFORMAT ||
                   rc == NN_EIO || rc == NN_ELIMIT,
               "status %d is no NN_* code", rc);
    if (rc != NN_OK) {
        size_t n = strnlen(e->msg, sizeof e->msg);
        FUZZ_CHECK(n > 0 && n < sizeof e->msg, "a failure (%d) without a message", rc);
        /* traind sends it in a JSON answer, which jansson builds from UTF-8 only */
        FUZZ_CHECK(fuzz_utf8(e->msg, n), "the message is not UTF-8: %s", e->msg);
    }
}

static int tensor_is_zero(const nn_tensor *t)
{
    for (int i = 0; i < NN_MAX_RANK; i++)
        if (t->dim[i])
            return 0;
    return t->rank == 0 && t->data == NULL;
}

void fuzz_check_tensor(int rc, const nn_tensor *t, const nn_err *e)
{
    check_status(rc, e);
    if (rc != NN_OK) {
        FUZZ_CHECK(tensor_is_zero(t), "a failed read left a tensor (%s)", e->msg);
        return;
    }
    FUZZ_CHECK(t->rank >= 1 && t->rank <= NN_MAX_RANK, "rank %d", t->rank);
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        FUZZ_CHECK(t->dim[i] > 0, "dimension %d is %lld", i, (long long)t->dim[i]);
        n *= t->dim[i];
    }
    FUZZ_CHECK(t->data != NULL, "no data for %lld elements", (long long)n);
    for (int64_t i = 0; i < n; i++)
        FUZZ_CHECK(isfinite(t->data[i]), "element %lld is %g", (long long)i, (double)t->data[i]);
}

void fuzz_check_dataset(int rc, const nn_dataset *d, const nn_err *e)
{
    check_status(rc, e);
    if (rc != NN_OK) {
        FUZZ_CHECK(tensor_is_zero(&d->x) && tensor_is_zero(&d->y) && d->n_classes == 0 &&
                       d->class_names == NULL,
                   "a failed read left a partial dataset (%s)", e->msg);
        return;
    }
    if (d->n_cols > 0) {
        /* a table: NaN marks a missing value, a text column holds codes */
        FUZZ_CHECK(d->x.rank == 2 && d->x.dim[1] == d->n_cols && d->label_name,
                   "columns that do not describe x");
        for (int64_t i = 0; i < d->x.dim[0]; i++)
            for (int j = 0; j < d->n_cols; j++) {
                double v = d->x.data[i * d->n_cols + j];
                const nn_column *c = &d->cols[j];
                FUZZ_CHECK(isnan(v) || isfinite(v), "row %lld column %d is %g", (long long)i, j, v);
                FUZZ_CHECK(c->n_cats == 0 || isnan(v) || (v == floor(v) && v >= 0 && v < c->n_cats),
                           "row %lld: code %g of a text column of %d categories", (long long)i, v,
                           c->n_cats);
                FUZZ_CHECK(c->name && fuzz_utf8(c->name, strlen(c->name)), "column %d's name", j);
            }
    } else {
        fuzz_check_tensor(NN_OK, &d->x, e);
    }
    fuzz_check_tensor(NN_OK, &d->y, e);
    int64_t n = d->x.dim[0];
    FUZZ_CHECK(d->y.dim[0] == n, "x has %lld samples, y %lld", (long long)n,
               (long long)d->y.dim[0]);
    FUZZ_CHECK(d->n_classes >= 0, "n_classes %d", d->n_classes);
    if (d->n_classes == 0) {
        FUZZ_CHECK(d->class_names == NULL, "class names without classes");
        return;
    }
    FUZZ_CHECK(d->y.rank == 1, "class labels of rank %d", d->y.rank);
    for (int64_t i = 0; i < n; i++) {
        double v = d->y.data[i];
        FUZZ_CHECK(v == floor(v) && v >= 0 && v < d->n_classes, "label %lld is %g of %d classes",
                   (long long)i, v, d->n_classes);
    }
    if (d->class_names)
        for (int i = 0; i < d->n_classes; i++)
            FUZZ_CHECK(d->class_names[i] != NULL, "class name %d is NULL", i);
}

int fuzz_utf8(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        size_t need = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3
                    : c >= 0xF0 && c < 0xF5 ? 4 : 0;
        if (need == 0 || len - i < need)
            return 0;
        for (size_t k = 1; k < need; k++)
            if ((u[i + k] & 0xC0) != 0x80)
                return 0;
        if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] > 0x9F) ||
            (c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] > 0x8F))
            return 0;
        i += need;
    }
    return 1;
}
