/*
 * prep.h — preprocessing: how a job turns a dataset's raw columns into the
 * features its model takes, learnt from the training rows only.
 *
 *   nn_prep_cfg   what the job asks for (training.preprocess);
 *   nn_prep       what it learnt (fitted): per input column either
 *                   numeric   out = (fill-if-missing(v) - center) / scale
 *                   one-hot   out[k] = 1 when v is category k, else 0
 *                 one output for a numeric column, n_cats for a one-hot one,
 *                 in column order;
 *   nn_prep_fit   learns an nn_prep from chosen rows of a dataset;
 *   nn_prep_apply turns a whole dataset (training, validation, test) into
 *                 features; nn_prep_apply_row one raw instance (predict).
 *
 * Rules (the same wherever a dataset is trained, by `traind train` or a job):
 *   - Statistics come from the training rows only: fill values (mean or
 *     median of the values present), standardization (mean 0, population
 *     std 1, taken after the fill, as a pipeline that imputes then scales
 *     would), min-max (to [0, 1]) and the frequencies behind the most frequent
 *     category.  The categories are those of the whole column (as the
 *     dataset describes it: bytewise for texts, numeric for numbers), so that
 *     a job's feature count is known before it runs (nn_prep_width).  A constant column keeps scale 1.
 *   - Standardization is on by default for a table's (a CSV's) numeric
 *     columns and off for other data (images, sequences, NPY and JSON
 *     arrays): gradient descent on raw tabular columns of very different
 *     scales trains badly, and an affine map of the inputs costs a dense
 *     first layer nothing it could not undo; images and sequences come in
 *     units of their own that users scale themselves.
 *   - Text columns are always categorical under "auto" (the default); a
 *     list names exactly the categorical columns (numbers allowed, each
 *     distinct value a category), and a text column left out is an error.
 *   - A missing value (NaN in a table's x) is an error by default, naming
 *     its column and the first line it is on; else numeric columns take the
 *     mean or median, categorical ones the most frequent category or a
 *     category of their own, NN_PREP_MISSING_CATEGORY, placed last.
 *   - A category the training dataset does not have (in validation or test
 *     data, or an instance to predict) gives all zeros; the caller is told
 *     how many such values it met.
 *
 * Determinism: fitting is a function of the dataset, the rows and the cfg
 * (sums in row order, in double); applying is exact given the nn_prep, so a
 * job that stores its nn_prep (at %.17g) and resumes reproduces its features
 * bit for bit.
 */
#ifndef NN_PREP_H
#define NN_PREP_H

#include "data.h"

typedef enum nn_impute {
    NN_IMPUTE_ERROR = 0,        /* a missing value is an error (the default) */
    NN_IMPUTE_MEAN,             /* numeric columns */
    NN_IMPUTE_MEDIAN,           /* numeric columns */
    NN_IMPUTE_MOST_FREQUENT,    /* categorical columns */
    NN_IMPUTE_CATEGORY,         /* categorical columns: a category of its own */
} nn_impute;

#define NN_PREP_MISSING_CATEGORY "__missing__"
#define NN_PREP_DEFAULT (-1)

typedef struct nn_prep_cfg {
    int standardize;            /* 1, 0, or NN_PREP_DEFAULT: on for a table's numeric columns */
    int min_max;                /* 1: numeric columns to [0, 1] instead */
    int categorical_auto;       /* 1 (default): the text columns are the categorical ones */
    char **categorical;         /* else exactly these columns, by name (owned) */
    int n_categorical;
    nn_impute missing_numeric;      /* ERROR, MEAN or MEDIAN */
    nn_impute missing_categorical;  /* ERROR, MOST_FREQUENT or CATEGORY */
} nn_prep_cfg;

/* standardize default, min_max off, categorical auto, missing values errors. */
void nn_prep_cfg_default(nn_prep_cfg *c);
void nn_prep_cfg_free(nn_prep_cfg *c);
/* A deep copy; dst is overwritten (not freed first). */
int nn_prep_cfg_copy(nn_prep_cfg *dst, const nn_prep_cfg *src);

enum { NN_PREP_NUMERIC = 0, NN_PREP_ONEHOT = 1 };

typedef struct nn_prep_col {
    char *name;                 /* the column's name; NULL for untabled data */
    int kind;                   /* NN_PREP_NUMERIC or NN_PREP_ONEHOT */
    /* numeric */
    double fill;                /* for a missing value; NaN: an error */
    double center, scale;
    /* one-hot */
    int text;                   /* the categories are texts (else numbers) */
    int n_cats;
    char **cats;                /* names (numbers spelt shortest), owned */
    double *values;             /* numbers column: the categories' values, ascending */
    int fill_cat;               /* category of a missing value; -1: an error */
    int missing_cat;            /* 1: the last category is NN_PREP_MISSING_CATEGORY */
} nn_prep_col;

typedef struct nn_prep {
    int n_cols;                 /* input columns: the features of one raw sample */
    nn_prep_col *cols;
    int64_t n_out;              /* features made */
    int table;                  /* fitted on a table (named columns) */
    int standardize, min_max;   /* as resolved */
    nn_impute missing_numeric, missing_categorical;
} nn_prep;

void nn_prep_free(nn_prep *p);

/* 1 when p changes nothing (every column numeric, center 0, scale 1):
 * a job then needs no preprocessing at all. */
int nn_prep_is_identity(const nn_prep *p);

/* The number of features a fit of cfg will make of data with these
 * columns (cols NULL, n_cols ignored: untabled data of n_features), from the
 * descriptions alone: checks the cfg against them (the same checks and
 * errors as nn_prep_fit, but for those that need values) so that a job can
 * be refused before it is stored. */
int nn_prep_width(const nn_prep_cfg *cfg, const nn_column *cols, int n_cols, int64_t n_features,
                  int64_t *width, nn_err *e);

/* Learns p from rows[0 .. n_rows) of d (all rows when rows is NULL).
 * NN_EINVAL with e->field set to the cfg member at fault ("missing",
 * "categorical", "standardize") when the cfg does not fit the data. */
int nn_prep_fit(const nn_prep_cfg *cfg, const nn_dataset *d, const int64_t *rows, int64_t n_rows,
                nn_prep *p, nn_err *e);

/* d's x becomes the features p makes (in place when the width is kept);
 * its column descriptions go, y and classes stay.  d must have p's columns
 * (the same names in a table).  *unseen (may be NULL) counts categories not
 * seen in training. */
int nn_prep_apply(const nn_prep *p, nn_dataset *d, int64_t *unseen, nn_err *e);

/* One raw value of an instance. */
typedef enum { NN_CELL_NUMBER = 0, NN_CELL_TEXT, NN_CELL_MISSING } nn_cell_kind;
typedef struct nn_cell {
    nn_cell_kind kind;
    double num;
    const char *text;           /* NUL-terminated */
} nn_cell;

/* p->n_cols raw values to p->n_out features; numbers are first rounded to
 * nn_real, as a dataset stores them, so that an instance of the training
 * data gives exactly the features training saw.  unseen[j] (may be NULL;
 * p->n_cols entries) is set to 1 for a column whose category was never
 * seen.  NN_EINVAL (e->layer = the column) for a value of the wrong kind
 * or a missing value that p cannot fill. */
int nn_prep_apply_row(const nn_prep *p, const nn_cell *cells, nn_real *out, unsigned char *unseen,
                      nn_err *e);

/* Index of the column named name, or -1 (also for untabled data). */
int nn_prep_find_col(const nn_prep *p, const char *name);

/* The spread of scales of d's numeric features: the largest population
 * standard deviation and the smallest non-zero one (values present only),
 * with their feature indices.  Only for samples that are vectors (x [n, f]);
 * returns 0 and fills the four outputs, or -1 when d has none to compare
 * (images, sequences, fewer than two varying numeric features). */
int nn_prep_scale_spread(const nn_dataset *d, double *max_std, int *max_j, double *min_std,
                         int *min_j);

#endif
