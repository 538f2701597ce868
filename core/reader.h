/*
 * reader.h — what the dataset readers (csv.c, idx.c, npy.c, data.c) share,
 * implemented in reader.c; not part of libnn's public API.
 *
 *   - nn_rd: a gzip-transparent, forward-only file reader (zlib's gzopen reads
 *     plain files unchanged) whose errors name the file;
 *   - fixed-size binary elements (IDX, NPY) decoded into nn_real with the
 *     NaN/Inf checks, independent of the host's byte order;
 *   - dimension checks and the class-label mapping used by every reader.
 *
 * Invariant: a reader never asks nn_rd for more bytes than its (validated)
 * header announced plus one, to see trailing bytes.  So a gzip bomb is never
 * inflated past the element limit: the limit is enforced while decompressing.
 * Messages name the file by its base name only, so that a server passing
 * temporary files does not leak its directory layout to clients.
 */
#ifndef NN_READER_H
#define NN_READER_H

#include "data.h"

#include <zlib.h>

typedef struct nn_rd {
    gzFile f;
    const char *name;   /* base name of the path, for messages */
    int64_t pos;        /* decompressed bytes consumed so far */
} nn_rd;

/* Opens path for reading (plain or gzip).  NN_EIO names the file and errno. */
int nn_rd_open(nn_rd *r, const char *path, nn_err *e);

/* Reads up to n bytes: fewer only at the end of the data.  Returns the count,
 * or a negative code (corrupt or truncated gzip: NN_EFORMAT; read: NN_EIO). */
int64_t nn_rd_read(nn_rd *r, void *buf, size_t n, nn_err *e);

/* One byte, or -1 at the end or on an error (then ask nn_rd_status). */
static inline int nn_rd_getc(nn_rd *r)
{
    int ch = gzgetc(r->f);
    if (ch >= 0)
        r->pos++;
    return ch;
}

/* After nn_rd_getc returned -1: 0 at a clean end, else a negative code. */
int nn_rd_status(nn_rd *r, nn_err *e);

/* NN_EFORMAT ("N trailing bytes") unless the data end here. */
int nn_rd_expect_eof(nn_rd *r, nn_err *e);

void nn_rd_close(nn_rd *r);

/* The part of path after its last '/'. */
const char *nn_data_basename(const char *path);

/* opts->max_elems, at most NN_TENSOR_MAX_ELEMS (also when 0 or negative). */
int64_t nn_data_max_elems(const nn_load_opts *o);

/* opts->max_values, or INT64_MAX when 0 or negative (no bound). */
int64_t nn_data_max_values(const nn_load_opts *o);

/* Element types of binary formats.  B1 is a byte that must be 0 or 1. */
typedef enum nn_elem {
    NN_EL_U8, NN_EL_I8, NN_EL_B1, NN_EL_I16, NN_EL_I32, NN_EL_U32, NN_EL_I64,
    NN_EL_F32, NN_EL_F64,
} nn_elem;

size_t nn_elem_size(nn_elem t);
int nn_elem_is_int(nn_elem t);   /* integer or bool */

/* Validates a header's shape before anything is allocated: rank 1..NN_MAX_RANK,
 * dim[0] > 0 (samples), every dim > 0 and <= INT32_MAX, and the product
 * <= max_elems, computed without overflow.  Messages start with name. */
int nn_data_check_dims(const char *name, int rank, const int64_t *dim, int64_t max_elems,
                       nn_err *e);

/* Allocates out with the (checked) shape and fills it from r: numel elements
 * of type t, big- or little-endian.  A NaN, an infinity, or a value that does
 * not fit nn_real is an error naming its element index; so is a short read,
 * with the byte counts expected and present. */
int nn_data_read_elems(nn_rd *r, nn_elem t, int big_endian, int rank, const int64_t *dim,
                       nn_tensor *out, nn_err *e);

/* Before allocating for a binary header's shape: a header states a shape in
 * a few bytes (a 19-byte IDX file may claim 2^30 doubles), so a reader
 * proves the bytes are there first and never reserves more memory than the
 * file's bytes could fill. */
/* NN_OK when the data still to be read from r (opened on path) hold at
 * least the N = numel(dim) * nn_elem_size(t) bytes of a shape that
 * nn_data_check_dims accepted; else NN_EFORMAT "<name>: truncated data: P of
 * N bytes present" (the message nn_data_read_elems gives), or the reader's
 * error for a corrupt gzip stream.  r's position is unchanged on success.
 *
 * A plain regular file answers from its size.  A gzip stream cannot say
 * how much it inflates to, so its remaining bytes are inflated and counted,
 * N bytes at most, in a fixed buffer, then the stream is sought back
 * (zlib inflates again up to the position): a small stream is done at
 * once, a large valid one costs a second pass, and memory stays bounded.
 * Another kind of plain file (a pipe, which cannot go back) is not
 * checked: the element limit alone bounds its allocation. */
int nn_rd_require(nn_rd *r, const char *path, nn_elem t, int rank, const int64_t *dim,
                  nn_err *e);

/* x = x / 255 for every element (uint8 features to [0, 1]). */
void nn_data_scale_u8(nn_tensor *x);

/* A sorted view of opts->classes for label lookups; n == 0 when none given. */
typedef struct nn_class_ent {
    const char *name;     /* borrowed from opts */
    int index;            /* its index in opts->classes */
} nn_class_ent;

typedef struct nn_classmap {
    nn_class_ent *ent;    /* sorted by (name, index) */
    int n;
} nn_classmap;

/* Builds the map (NN_EINVAL, message starting with name, when opts->classes
 * or opts->n_classes is malformed). */
int nn_classmap_init(nn_classmap *m, const nn_load_opts *o, const char *name, nn_err *e);
void nn_classmap_free(nn_classmap *m);

/* Class index of a label text: an exact match first, then, for an integer
 * text such as "07" or "+7", its canonical decimal form "7".  -1: unknown. */
int nn_classmap_find(const nn_classmap *m, const char *text);

/* d->n_classes = o->n_classes and d->class_names = copies of o->classes. */
int nn_data_copy_classes(nn_dataset *d, const nn_load_opts *o);

/* d->n_classes = n and d->class_names = "0" .. "n-1". */
int nn_data_range_classes(nn_dataset *d, int n);

/* Integer text: optional spaces/tabs, optional sign, 1..18 digits, optional
 * spaces/tabs.  Returns 1 and the value, else 0. */
int nn_data_parse_int(const char *s, long long *v);

/* Moves a labels tensor y (read from a binary file; y->dim[0] samples) into
 * d->y, deciding classes or targets from o->label_kind and the element type:
 *   idx_rules: classes need a rank-1 integer file unless NUMERIC;
 *   otherwise (NPY): AUTO makes integer [n] / [n, 1] labels classes and
 *   anything else targets; CLASS also accepts integral float values.
 * Class values are non-negative integers (n_classes = max + 1, names
 * "0".."max") or, with o->classes, texts looked up in that mapping.
 * Targets of rank 1 become [n, 1].  y is consumed (freed on failure too). */
int nn_data_take_labels(nn_dataset *d, nn_tensor *y, int is_int, int idx_rules,
                        const nn_load_opts *o, const char *name, nn_err *e);

/* A reader of one file into a tensor (nn_idx_read_lim, nn_npy_read_lim). */
typedef int (*nn_tensor_reader)(const char *path, int64_t max_elems, nn_tensor *out,
                                int *is_int, int *is_u8, nn_err *e);

/* The pair readers' common part: x and y through `read`, counts checked,
 * x given a feature dimension (and a channel, [n, 1, rows, cols], for IDX
 * images when idx_rules), uint8 scaled, y turned into classes or targets. */
int nn_data_read_pair(nn_tensor_reader read, int idx_rules, const char *x_path,
                      const char *y_path, const nn_load_opts *o, nn_dataset *out, nn_err *e);

/* Internal entry points with an element limit (the public one-file readers
 * have no options and use NN_TENSOR_MAX_ELEMS). */
int nn_idx_read_lim(const char *path, int64_t max_elems, nn_tensor *out, int *is_int,
                    int *is_u8, nn_err *e);
int nn_npy_read_lim(const char *path, int64_t max_elems, nn_tensor *out, int *is_int,
                    int *is_u8, nn_err *e);

#endif
