/*
 * safetensors.h — reading and writing the safetensors weight format.
 *
 * Layout: 8 bytes little-endian u64 N, then N bytes of JSON header, then the
 * data.  The header maps each tensor name to {"dtype", "shape",
 * "data_offsets": [begin, end]} (offsets relative to the end of the header),
 * plus an optional "__metadata__" object of string values.  Writers pad the
 * header with spaces to a multiple of 8 bytes.  Data are little-endian.
 *
 * The reader trusts nothing: header length against the file size and
 * NN_ST_MAX_HEADER, the JSON's syntax, each dtype, each shape's product
 * against its byte range, ranges inside the data section and not overlapping,
 * and duplicate names.  Any violation is NN_EFORMAT with a message; a header
 * length past NN_ST_MAX_HEADER, or JSON nested or sized past the parser's
 * limits, is NN_ELIMIT.  Like the reference implementation, the ranges must
 * cover the data section exactly (no holes, no trailing bytes).  Known dtypes:
 * F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.
 */
#ifndef NN_SAFETENSORS_H
#define NN_SAFETENSORS_H

#include "nn.h"
#include "tensor.h"

#define NN_ST_MAX_HEADER (100u << 20)   /* 100 MB, as the reference implementation */

/* One tensor to write.  data holds numel(shape) nn_real values (not owned);
 * they are written as NN_REAL_NAME ("F32", or "F64" in the double build). */
typedef struct nn_st_tensor {
    const char *name;
    int rank;
    int64_t shape[NN_MAX_RANK];
    const nn_real *data;
} nn_st_tensor;

/* Serialises tensors (in the given order) and the metadata pairs
 * meta[0]=key0, meta[1]=value0, ... (n_meta pairs) into a new buffer.
 * Caller frees *buf with free(). */
int nn_st_write_mem(const nn_st_tensor *t, int n, const char *const *meta, int n_meta,
                    void **buf, size_t *len, nn_err *e);

/* Same, into a file (written to path.tmp, then renamed). */
int nn_st_write_file(const char *path, const nn_st_tensor *t, int n,
                     const char *const *meta, int n_meta, nn_err *e);

/* A parsed, validated safetensors file held in memory. */
typedef struct nn_st_file nn_st_file;

/* Parses a buffer (copied; the caller keeps buf). Caller frees *out. */
int nn_st_parse(const void *buf, size_t len, nn_st_file **out, nn_err *e);

/* Reads and parses a file. Caller frees *out. */
int nn_st_read_file(const char *path, nn_st_file **out, nn_err *e);

void nn_st_free(nn_st_file *f);

/* Number of tensors, and the i-th name in header order. */
int nn_st_count(const nn_st_file *f);
const char *nn_st_name(const nn_st_file *f, int i);

/* Metadata value for key, or NULL. */
const char *nn_st_meta(const nn_st_file *f, const char *key);

/* Looks a tensor up by name; NN_EINVAL ("no tensor named ...") when absent.
 * *dtype gets its dtype string ("F32", "F64", "BF16", "I64", ...),
 * rank and shape its shape (any out-pointer may be NULL; shape has room for
 * NN_MAX_RANK values).  A tensor of higher rank gives NN_ELIMIT. */
int nn_st_info(const nn_st_file *f, const char *name, const char **dtype,
               int *rank, int64_t *shape, nn_err *e);

/* Copies a tensor into dst (numel nn_real values), converting F32, F64, F16
 * and BF16 to nn_real.  The tensor's shape must equal (rank, shape), else
 * NN_EINVAL naming both shapes; other dtypes give NN_EINVAL. */
int nn_st_copy(const nn_st_file *f, const char *name, int rank, const int64_t *shape,
               nn_real *dst, nn_err *e);

#endif
