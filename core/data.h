/*
 * data.h — datasets and their readers: CSV, IDX (the MNIST family) and NPY.
 *
 * A dataset is a pair of tensors x [n, ...] and y, plus the class mapping for
 * classification.  For classification y is [n] and holds class indices
 * 0 .. n_classes-1 stored exactly as nn_real; otherwise y holds numeric
 * targets [n, ...] (regression, one-hot or soft targets).
 *
 * Every reader checks what it reads: sizes against the bytes present, counts
 * against each other, values for NaN/Inf, and element counts against
 * opts->max_elems.  Malformed input returns NN_EFORMAT (NN_ELIMIT when too
 * large, NN_EIO when unreadable) with a message that names the file and what
 * is wrong (for CSV: the line and column).  Readers never crash on bad input.
 * Files may be gzip-compressed; compression is detected from the content.
 */
#ifndef NN_DATA_H
#define NN_DATA_H

#include "nn.h"
#include "tensor.h"

typedef struct nn_dataset {
    nn_tensor x;          /* [n, ...features] */
    nn_tensor y;          /* [n] class indices when n_classes > 0, else [n, ...] targets */
    int n_classes;        /* > 0: classification */
    char **class_names;   /* n_classes owned strings, or NULL */
} nn_dataset;

/* How a label column or label file is interpreted. */
typedef enum nn_label_kind {
    NN_LABEL_AUTO = 0,    /* integers or text -> classes; other numbers -> targets */
    NN_LABEL_CLASS,       /* always classes (text or integer labels) */
    NN_LABEL_NUMERIC,     /* always numeric targets */
} nn_label_kind;

typedef struct nn_load_opts {
    /* CSV: the label column, by header name or by 0-based index written in
     * decimal ("4"); a name is tried first.  NULL: the last column. */
    const char *label;
    nn_label_kind label_kind;
    char delimiter;               /* CSV field separator; 0 means ',' */
    int scale_u8;                 /* uint8 features (IDX, NPY) become x / 255 */
    /* When given, class labels must be among these names and map to their
     * index (a test set uses its training set's mapping).  Not owned. */
    char *const *classes;
    int n_classes;
    int64_t max_elems;            /* per tensor; 0 means NN_TENSOR_MAX_ELEMS */
} nn_load_opts;

/* Defaults: last column is the label, AUTO, ',', scale_u8 on, no classes. */
void nn_load_opts_default(nn_load_opts *o);

/* Frees everything d owns and zeroes it. */
void nn_dataset_free(nn_dataset *d);

/* Number of samples (x's first dimension). */
int64_t nn_dataset_len(const nn_dataset *d);

/* CSV with a header row.  Every column but the label column is a numeric
 * feature; x is [n, columns-1].  Class labels (text, or integers under AUTO)
 * are mapped to indices: integers sorted numerically, text sorted bytewise,
 * and the names kept in class_names.  Numeric targets make y [n, 1].
 * Quoted fields ("a, b" and "" escapes), CRLF and a trailing newline are
 * accepted; blank lines are skipped.  Errors name line and column. */
int nn_csv_read(const char *path, const nn_load_opts *o, nn_dataset *out, nn_err *e);

/* One IDX file into a tensor of its own shape, values converted to nn_real.
 * All IDX element types are accepted (u8, i8, i16, i32, f32, f64; big-endian).
 * *is_u8 (may be NULL) tells whether the file held unsigned bytes. */
int nn_idx_read(const char *path, nn_tensor *out, int *is_u8, nn_err *e);

/* An IDX images file and an IDX labels file.  Images [n, rows, cols] become
 * x [n, 1, rows, cols] (scaled to [0, 1] when u8 and opts->scale_u8); labels
 * [n] become classes 0 .. max (names "0".."9" for MNIST).  Counts must agree. */
int nn_idx_read_pair(const char *images, const char *labels, const nn_load_opts *o,
                     nn_dataset *out, nn_err *e);

/* One NPY file (format versions 1, 2 and 3; C order; dtypes f4, f8, u1, i1,
 * i4, i8, u4, b1 in either byte order) into a tensor of its own shape.
 * *is_int (may be NULL): integer or bool dtype; *is_u8: dtype u1. */
int nn_npy_read(const char *path, nn_tensor *out, int *is_int, int *is_u8, nn_err *e);

/* x.npy and y.npy: y integer and [n] -> classes under AUTO; float -> targets.
 * uint8 x is scaled to [0, 1] when opts->scale_u8.  Counts must agree. */
int nn_npy_read_pair(const char *x_path, const char *y_path, const nn_load_opts *o,
                     nn_dataset *out, nn_err *e);

/* Loads a dataset from one file (CSV) or two files (an IDX pair or an NPY
 * pair: features first, labels second).  The format is detected from the
 * bytes (after gzip), not from the file names. */
int nn_dataset_load(const char *const *paths, int n_paths, const nn_load_opts *o,
                    nn_dataset *out, nn_err *e);

/* Per-feature mean and standard deviation of x (over all samples).  mean and
 * std have nn_tensor_row_size(&d->x) entries; a std of 0 is stored as 1. */
int nn_dataset_feature_stats(const nn_dataset *d, double *mean, double *std);

/* x = (x - mean) / std, per feature. */
void nn_dataset_standardize(nn_dataset *d, const double *mean, const double *std);

#endif
