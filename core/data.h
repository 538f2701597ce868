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

/* Most classes a reader creates (and most distinct texts of a text column):
 * a label column with more distinct values is almost certainly a regression
 * target or an id, and each class costs a name. */
#define NN_DATA_MAX_CLASSES 65536

/* Most distinct values a numeric column's count follows (past it: -1); a
 * numeric column can be categorical only below it. */
#define NN_COLUMN_MAX_DISTINCT 1024

/* A feature column of a table (CSV): what its column of x holds. */
typedef struct nn_column {
    char *name;           /* the header's name (UTF-8) */
    int file_col;         /* its place in the file, 1-based (the label counted) */
    int n_cats;           /* > 0: a text column; x holds codes 0 .. n_cats-1 */
    char **cats;          /* its n_cats distinct texts, sorted bytewise */
    int n_distinct;       /* numeric columns: distinct values, -1 when more than
                             NN_COLUMN_MAX_DISTINCT (text columns: n_cats) */
    int64_t n_missing;    /* values missing in the file (NaN in x) */
    int64_t missing_line; /* the file's line of the first of them; 0 if none */
} nn_column;

typedef struct nn_dataset {
    nn_tensor x;          /* [n, ...features] */
    nn_tensor y;          /* [n] class indices when n_classes > 0, else [n, ...] targets */
    int n_classes;        /* > 0: classification */
    char **class_names;   /* n_classes owned strings, or NULL */
    /* Tables (CSV) only, else 0 / NULL: x is [n, n_cols] and cols[j] says
     * what column j holds.  Such an x may hold NaN (a missing value) and
     * text codes, which preprocessing (prep.h) turns into features. */
    int n_cols;
    nn_column *cols;
    char *label_name;     /* the label column's header name */
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
    char delimiter;               /* CSV field separator; 0: detected from the header */
    int scale_u8;                 /* uint8 features (IDX, NPY) become x / 255 */
    /* When given, class labels must be among these names and map to their
     * index (a test set uses its training set's mapping).  Not owned. */
    char *const *classes;
    int n_classes;
    int64_t max_elems;            /* per tensor; 0 means NN_TENSOR_MAX_ELEMS */
    /* What reading may build, checked while reading (before memory grows),
     * so that a small compressed file can claim neither much memory nor
     * much time; NN_ELIMIT past either.  0: no bound beyond max_elems.
     *   max_values: values of x and y together; a CSV also counts the
     *     distinct texts it keeps (labels, categories), 4 bytes a value;
     *   max_text: bytes of CSV text after decompression. */
    int64_t max_values;
    int64_t max_text;
} nn_load_opts;

/* Defaults: last column is the label, AUTO, delimiter detected, scale_u8 on,
 * no classes. */
void nn_load_opts_default(nn_load_opts *o);

/* Frees everything d owns and zeroes it. */
void nn_dataset_free(nn_dataset *d);

/* Frees n columns and the array (NULL: nothing). */
void nn_columns_free(nn_column *c, int n);

/* 1 when each of the n class names is a finite number ("25", "-1.5"): then
 * the labels read as numeric targets too (a label column of integers is a
 * classification's classes or a regression's values, as the loss asks). */
int nn_class_names_numeric(char *const *names, int n);

/* Class indices in y become the numbers their class names spell (y [n]
 * becomes [n, 1]; per-step labels [n, T] keep their shape) and the classes
 * go.  NN_EINVAL when a name is not a number. */
int nn_dataset_labels_to_targets(nn_dataset *d, nn_err *e);

/* Number of samples (x's first dimension). */
int64_t nn_dataset_len(const nn_dataset *d);

/* CSV with a header row: every column but the label column is a feature
 * column, x is [n, columns-1] and d->cols describes the columns.
 *   - Numbers are read as numbers.  A column holding any other text is a
 *     text column: its distinct texts become d->cols[j].cats (sorted
 *     bytewise) and x holds each row's code.
 *   - A missing value (an empty field, NA, N/A, NaN, nan, NULL, null, None or
 *     ?) is NaN in x, counted with the line of the first one; preprocessing
 *     decides what becomes of it.  A missing label is an error.
 *   - Labels: under AUTO, integers are classes (sorted numerically, "07" and
 *     "7" the same class) when there are at most NN_DATA_MAX_CLASSES of them,
 *     other numbers (and integers with more distinct values) numeric targets
 *     y [n, 1], text classes (sorted bytewise); CLASS makes any label a
 *     class, NUMERIC any label a number.
 *   - The delimiter is opts->delimiter, or when 0 the one of , ; TAB | that
 *     occurs most often outside quotes in the header line (',' on a tie or
 *     when none does).
 *   - Text is UTF-8 (a byte-order mark is dropped).  Quoted fields ("a, b"
 *     and "" escapes), CRLF and a trailing newline are accepted; blank lines
 *     are skipped.  Errors name line and column. */
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

/* What a file holds, told by its first bytes after gzip: the NPY magic,
 * an IDX magic, a JSON object ('{' after whitespace), else CSV text. */
typedef enum nn_data_format { NN_FMT_CSV = 0, NN_FMT_IDX, NN_FMT_NPY, NN_FMT_JSON } nn_data_format;

int nn_data_sniff(const char *path, nn_data_format *fmt, nn_err *e);

/* "CSV", "IDX", "NPY", "JSON". */
const char *nn_data_format_name(nn_data_format f);

/* Loads a dataset from one file (CSV) or two files (an IDX pair or an NPY
 * pair: features first, labels second).  The format is detected from the
 * bytes (after gzip), not from the file names. */
int nn_dataset_load(const char *const *paths, int n_paths, const nn_load_opts *o,
                    nn_dataset *out, nn_err *e);

#endif
