/*
 * prep.c — preprocessing (see prep.h): fitting on the training rows, and
 * applying to datasets and to single instances.
 *
 * Invariants of a fitted nn_prep:
 *   - a numeric column has scale != 0 and finite center and scale; fill is
 *     finite, or NaN when a missing value is an error;
 *   - a one-hot column has n_cats >= 1; its categories are distinct, in
 *     ascending order (bytewise for texts, numeric for numbers, `values`
 *     holding the numbers), except that NN_PREP_MISSING_CATEGORY, when
 *     present, comes last; fill_cat is -1 or a category index;
 *   - n_out is the sum of the columns' widths (1 or n_cats).
 */
#include "prep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nn_prep_cfg_default(nn_prep_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->standardize = NN_PREP_DEFAULT;
    c->categorical_auto = 1;
    c->missing_numeric = NN_IMPUTE_ERROR;
    c->missing_categorical = NN_IMPUTE_ERROR;
}

void nn_prep_cfg_free(nn_prep_cfg *c)
{
    if (!c)
        return;
    for (int i = 0; c->categorical && i < c->n_categorical; i++)
        free(c->categorical[i]);
    free(c->categorical);
    nn_prep_cfg_default(c);
}

int nn_prep_cfg_copy(nn_prep_cfg *dst, const nn_prep_cfg *src)
{
    *dst = *src;
    dst->categorical = NULL;
    if (src->n_categorical <= 0)
        return NN_OK;
    dst->categorical = calloc((size_t)src->n_categorical, sizeof *dst->categorical);
    if (!dst->categorical) {
        dst->n_categorical = 0;
        return NN_ENOMEM;
    }
    for (int i = 0; i < src->n_categorical; i++)
        if (!(dst->categorical[i] = strdup(src->categorical[i]))) {
            nn_prep_cfg_free(dst);
            return NN_ENOMEM;
        }
    return NN_OK;
}

static void col_free(nn_prep_col *c)
{
    free(c->name);
    for (int k = 0; c->cats && k < c->n_cats; k++)
        free(c->cats[k]);
    free(c->cats);
    free(c->values);
}

void nn_prep_free(nn_prep *p)
{
    if (!p)
        return;
    for (int j = 0; p->cols && j < p->n_cols; j++)
        col_free(&p->cols[j]);
    free(p->cols);
    memset(p, 0, sizeof *p);
}

int nn_prep_is_identity(const nn_prep *p)
{
    for (int j = 0; j < p->n_cols; j++) {
        const nn_prep_col *c = &p->cols[j];
        if (c->kind != NN_PREP_NUMERIC || c->center != 0 || c->scale != 1 || !isnan(c->fill))
            return 0;
    }
    return 1;
}

int nn_prep_find_col(const nn_prep *p, const char *name)
{
    for (int j = 0; p->table && j < p->n_cols; j++)
        if (p->cols[j].name && !strcmp(p->cols[j].name, name))
            return j;
    return -1;
}

/* The shortest %g spelling of v that reads back as v. */
static void spell(double v, char *buf, size_t n)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Number of categories kept in ascending order (the missing one excluded). */
static int sorted_cats(const nn_prep_col *c)
{
    return c->n_cats - (c->missing_cat ? 1 : 0);
}

static int text_index(const nn_prep_col *c, const char *s)
{
    int lo = 0, hi = sorted_cats(c);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int r = strcmp(c->cats[mid], s);
        if (r == 0)
            return mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int value_index(const nn_prep_col *c, double v)
{
    int lo = 0, hi = sorted_cats(c);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (c->values[mid] == v)
            return mid;
        if (c->values[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Fitting                                                                  */

typedef struct fit {
    const nn_prep_cfg *cfg;
    const nn_dataset *d;
    const int64_t *rows;
    int64_t n_rows;
    int64_t f;                  /* features per row of d */
} fit;

static nn_real value_at(const fit *c, int64_t i, int j)
{
    int64_t r = c->rows ? c->rows[i] : i;
    return c->d->x.data[r * c->f + j];
}

static const char *col_label(const nn_column *cols, int j, char *buf, size_t n)
{
    if (cols)
        snprintf(buf, n, "column '%.60s' (column %d)", cols[j].name, cols[j].file_col);
    else
        snprintf(buf, n, "feature %d", j);
    return buf;
}

/* Which columns are one-hot (kind[j]), checked against the columns. */
static int choose_kinds(const nn_prep_cfg *cfg, const nn_column *cols, int n_cols, int *kind,
                        nn_err *e)
{
    if (!cfg->categorical_auto) {
        if (cfg->n_categorical > 0 && !cols)
            return nn_errf_at(e, NN_EINVAL, -1, "categorical",
                              "categorical columns need a table (a CSV dataset) with named columns");
        for (int i = 0; i < cfg->n_categorical; i++) {
            int found = 0;
            for (int j = 0; j < n_cols; j++)
                if (!strcmp(cols[j].name, cfg->categorical[i])) {
                    kind[j] = NN_PREP_ONEHOT;
                    found = 1;
                }
            if (!found)
                return nn_errf_at(e, NN_EINVAL, i, "categorical", "the data have no column named '%.80s'",
                                  cfg->categorical[i]);
        }
    }
    for (int j = 0; cols && j < n_cols; j++) {
        int text = cols[j].n_cats > 0;
        if (cfg->categorical_auto && text)
            kind[j] = NN_PREP_ONEHOT;
        if (text && kind[j] != NN_PREP_ONEHOT)
            return nn_errf_at(e, NN_EINVAL, -1, "categorical",
                              "column '%.60s' holds text: list it in categorical (or use \"auto\")",
                              cols[j].name);
    }
    return NN_OK;
}

/* A column's missing values against the cfg's rule. */
static int check_missing(const nn_prep_cfg *cfg, const nn_column *cols, int kind, int j, nn_err *e)
{
    char b[96];
    if (!cols || cols[j].n_missing == 0)
        return NN_OK;
    nn_impute rule = kind == NN_PREP_ONEHOT ? cfg->missing_categorical : cfg->missing_numeric;
    if (rule != NN_IMPUTE_ERROR)
        return NN_OK;
    return nn_errf_at(e, NN_EINVAL, -1, "missing",
                      "%s has %lld missing values, the first on line %lld: set preprocess.missing "
                      "(\"mean\", \"median\"%s)",
                      col_label(cols, j, b, sizeof b), (long long)cols[j].n_missing,
                      (long long)cols[j].missing_line,
                      kind == NN_PREP_ONEHOT ? ", {\"categorical\": \"category\"}" : "");
}

/* The width of column j: 1, or its categories (and the missing one). */
static int col_width(const nn_prep_cfg *cfg, const nn_column *cols, int kind, int j,
                     int64_t *w, nn_err *e)
{
    char b[96];
    *w = 1;
    if (kind != NN_PREP_ONEHOT)
        return NN_OK;
    int n = cols[j].n_cats > 0 ? cols[j].n_cats : cols[j].n_distinct;
    if (n < 0)
        return nn_errf_at(e, NN_EINVAL, -1, "categorical",
                          "%s has more than %d distinct values, too many to be categories",
                          col_label(cols, j, b, sizeof b), NN_COLUMN_MAX_DISTINCT);
    if (n == 0)
        return nn_errf_at(e, NN_EINVAL, -1, "missing", "%s has no values",
                          col_label(cols, j, b, sizeof b));
    *w = n + (cfg->missing_categorical == NN_IMPUTE_CATEGORY);
    return NN_OK;
}

/* The plan of a fit: kinds, the checks that need no values, the width. */
static int plan(const nn_prep_cfg *cfg, const nn_column *cols, int n_cols, int *kind,
                int64_t *width, nn_err *e)
{
    int rc;
    *width = 0;
    if (cfg->standardize == 1 && cfg->min_max)
        return nn_errf_at(e, NN_EINVAL, -1, "min_max",
                          "standardize and min_max exclude each other: choose one");
    if ((rc = choose_kinds(cfg, cols, n_cols, kind, e)) < 0)
        return rc;
    for (int j = 0; j < n_cols; j++) {
        int64_t w;
        if ((rc = check_missing(cfg, cols, kind[j], j, e)) < 0 ||
            (rc = col_width(cfg, cols, kind[j], j, &w, e)) < 0)
            return rc;
        *width += w;
    }
    return NN_OK;
}

int nn_prep_width(const nn_prep_cfg *cfg, const nn_column *cols, int n_cols, int64_t n_features,
                  int64_t *width, nn_err *e)
{
    *width = 0;
    if (cols && n_cols != n_features)
        return nn_errf(e, NN_EINVAL, "the dataset describes %d columns but has %lld features",
                       n_cols, (long long)n_features);
    if (n_features < 1 || n_features > INT32_MAX)
        return nn_errf(e, NN_EINVAL, "a sample has %lld features", (long long)n_features);
    int *kind = calloc((size_t)n_features, sizeof *kind);
    if (!kind)
        return nn_errf(e, NN_ENOMEM, "out of memory");
    int rc = plan(cfg, cols, (int)n_features, kind, width, e);
    free(kind);
    return rc;
}

/* Median of n values (sorted in place). */
static double median(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int fit_numeric(const fit *c, nn_prep_col *pc, int j, nn_err *e)
{
    char b[96];
    int64_t n = c->n_rows, present = 0;
    double sum = 0, lo = INFINITY, hi = -INFINITY, first = NAN;
    int varies = 0;
    double *vals = c->cfg->missing_numeric == NN_IMPUTE_MEDIAN ? malloc((size_t)n * sizeof *vals)
                                                               : NULL;
    if (c->cfg->missing_numeric == NN_IMPUTE_MEDIAN && !vals)
        return nn_errf(e, NN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        double v = value_at(c, i, j);
        if (isnan(v))
            continue;
        if (present == 0)
            first = v;
        varies |= v != first;
        if (vals)
            vals[present] = v;
        present++;
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (present == 0) {
        free(vals);
        return nn_errf_at(e, NN_EINVAL, -1, "missing", "%s has no values in the training rows",
                          col_label(c->d->n_cols ? c->d->cols : NULL, j, b, sizeof b));
    }
    double mean = varies ? sum / (double)present : first;
    switch (c->cfg->missing_numeric) {
    case NN_IMPUTE_MEAN: pc->fill = mean; break;
    case NN_IMPUTE_MEDIAN: pc->fill = median(vals, present); break;
    default: pc->fill = NAN; break;
    }
    free(vals);

    /* statistics of the filled column: missing values count as the fill */
    int64_t missing = n - present;
    double fill = isnan(pc->fill) ? mean : pc->fill;
    varies |= missing > 0 && fill != first;
    double m2 = varies ? (sum + (double)missing * fill) / (double)n : first, var = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = value_at(c, i, j);
        double dv = (isnan(v) ? fill : v) - m2;
        var += dv * dv;
    }
    double sd = sqrt(var / (double)n);
    pc->center = 0;
    pc->scale = 1;
    if (c->cfg->min_max) {
        pc->center = lo;
        pc->scale = hi > lo ? hi - lo : 1;
    } else if (c->cfg->standardize == 1 || (c->cfg->standardize == NN_PREP_DEFAULT && c->d->n_cols > 0)) {
        pc->center = m2;
        pc->scale = varies && sd > 0 ? sd : 1;
    }
    return NN_OK;
}

/* Appends the missing-value category or picks the most frequent one
 * (count[k]: category k's training rows). */
static int fit_fill_category(const fit *c, nn_prep_col *pc, const int64_t *count, int j,
                             nn_err *e)
{
    char b[96];
    pc->fill_cat = -1;
    if (c->cfg->missing_categorical == NN_IMPUTE_MOST_FREQUENT) {
        int best = 0;
        for (int k = 1; k < pc->n_cats; k++)
            if (count[k] > count[best])
                best = k;
        if (count[best] == 0)
            return nn_errf_at(e, NN_EINVAL, -1, "missing", "%s has no values in the training rows",
                              col_label(c->d->cols, j, b, sizeof b));
        pc->fill_cat = best;
    } else if (c->cfg->missing_categorical == NN_IMPUTE_CATEGORY) {
        for (int k = 0; pc->text && k < pc->n_cats; k++)
            if (!strcmp(pc->cats[k], NN_PREP_MISSING_CATEGORY))
                return nn_errf_at(e, NN_EINVAL, -1, "missing",
                                  "column '%.60s' has a category named " NN_PREP_MISSING_CATEGORY
                                  ", which a missing-value category would duplicate",
                                  pc->name ? pc->name : "?");
        if (!(pc->cats[pc->n_cats] = strdup(NN_PREP_MISSING_CATEGORY)))
            return nn_errf(e, NN_ENOMEM, "out of memory");
        pc->missing_cat = 1;
        pc->fill_cat = pc->n_cats++;
    }
    return NN_OK;
}

/* One-hot over a text column: every category of the column (so that the
 * width is known from the dataset's description alone); the training rows
 * only count, for the most frequent one. */
static int fit_text(const fit *c, nn_prep_col *pc, int j, nn_err *e)
{
    const nn_column *dc = &c->d->cols[j];
    int rc = NN_ENOMEM;
    int64_t *count = calloc((size_t)dc->n_cats + 1, sizeof *count);
    pc->cats = calloc((size_t)dc->n_cats + 1, sizeof *pc->cats);
    if (!count || !pc->cats)
        goto out;
    pc->text = 1;
    for (int64_t i = 0; i < c->n_rows; i++) {
        double v = value_at(c, i, j);
        if (!isnan(v))
            count[(int)v]++;
    }
    for (int k = 0; k < dc->n_cats; k++) {
        if (!(pc->cats[k] = strdup(dc->cats[k])))
            goto out;
        pc->n_cats++;
    }
    rc = fit_fill_category(c, pc, count, j, e);
out:
    if (rc == NN_ENOMEM)
        nn_errf(e, rc, "out of memory");
    free(count);
    return rc;
}

/* One-hot over a numeric column: each distinct value of the whole column a
 * category (as for texts); the training rows count. */
static int fit_numbers(const fit *c, nn_prep_col *pc, int j, nn_err *e)
{
    char b[96];
    int rc = NN_ENOMEM;
    int64_t n = 0, all = nn_dataset_len(c->d);
    double *v = malloc((size_t)(all + 1) * sizeof *v);
    int64_t *count = NULL;
    if (!v)
        goto out;
    for (int64_t i = 0; i < all; i++) {
        double x = c->d->x.data[i * c->f + j];
        if (!isnan(x))
            v[n++] = x;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int64_t nu = 0;
    for (int64_t i = 0; i < n; i++)
        if (nu == 0 || v[i] != v[nu - 1])
            v[nu++] = v[i];
    if (nu == 0 || nu > NN_COLUMN_MAX_DISTINCT) {
        rc = nn_errf_at(e, NN_EINVAL, -1, "categorical", "%s has %lld distinct values: %s",
                        col_label(c->d->cols, j, b, sizeof b), (long long)nu,
                        nu ? "too many to be categories" : "no category at all");
        goto out;
    }
    pc->cats = calloc((size_t)nu + 1, sizeof *pc->cats);
    pc->values = malloc((size_t)nu * sizeof *pc->values);
    count = calloc((size_t)nu + 1, sizeof *count);
    if (!pc->cats || !pc->values || !count)
        goto out;
    for (int64_t k = 0; k < nu; k++) {
        char s[40];
        spell(v[k], s, sizeof s);
        pc->values[k] = v[k];
        if (!(pc->cats[k] = strdup(s)))
            goto out;
        pc->n_cats++;
    }
    for (int64_t i = 0; i < c->n_rows; i++) {
        double x = value_at(c, i, j);
        int k = isnan(x) ? -1 : value_index(pc, x);
        if (k >= 0)
            count[k]++;
    }
    rc = fit_fill_category(c, pc, count, j, e);
out:
    if (rc == NN_ENOMEM)
        nn_errf(e, rc, "out of memory");
    free(v);
    free(count);
    return rc;
}

int nn_prep_fit(const nn_prep_cfg *cfg, const nn_dataset *d, const int64_t *rows, int64_t n_rows,
                nn_prep *p, nn_err *e)
{
    memset(p, 0, sizeof *p);
    fit c = {cfg, d, rows, rows ? n_rows : nn_dataset_len(d), nn_tensor_row_size(&d->x)};
    const nn_column *cols = d->n_cols > 0 ? d->cols : NULL;
    int *kind = NULL;
    int64_t width;
    if (c.n_rows < 1 || c.f < 1 || c.f > INT32_MAX)
        return nn_errf(e, NN_EINVAL, "no training rows to fit the preprocessing on");
    if (cols && d->n_cols != c.f)
        return nn_errf(e, NN_EINVAL, "the dataset describes %d columns but has %lld features",
                       d->n_cols, (long long)c.f);
    int rc = NN_ENOMEM;
    if (!(p->cols = calloc((size_t)c.f, sizeof *p->cols)) ||
        !(kind = calloc((size_t)c.f, sizeof *kind)))
        goto out;
    p->n_cols = (int)c.f;
    p->table = cols != NULL;
    p->min_max = cfg->min_max;
    p->standardize = !cfg->min_max && (cfg->standardize == 1 ||
                                       (cfg->standardize == NN_PREP_DEFAULT && p->table));
    p->missing_numeric = cfg->missing_numeric;
    p->missing_categorical = cfg->missing_categorical;
    if ((rc = plan(cfg, cols, p->n_cols, kind, &width, e)) < 0)
        goto out;
    rc = NN_ENOMEM;
    for (int j = 0; j < p->n_cols; j++)
        if (p->table && !(p->cols[j].name = strdup(d->cols[j].name)))
            goto out;
    for (int j = 0; j < p->n_cols; j++) {
        nn_prep_col *pc = &p->cols[j];
        pc->kind = kind[j];
        pc->fill_cat = -1;
        if (pc->kind == NN_PREP_NUMERIC)
            rc = fit_numeric(&c, pc, j, e);
        else
            rc = d->cols[j].n_cats > 0 ? fit_text(&c, pc, j, e) : fit_numbers(&c, pc, j, e);
        if (rc < 0)
            goto out;
        p->n_out += pc->kind == NN_PREP_NUMERIC ? 1 : pc->n_cats;
    }
    /* the plan and the fit agree (a column's distinct count came from the
     * same values) */
    rc = p->n_out == width ? NN_OK
                           : nn_errf(e, NN_EINVAL, "the data do not match their column descriptions");
out:
    if (rc == NN_ENOMEM)
        nn_errf(e, rc, "out of memory");
    if (rc < 0)
        nn_prep_free(p);
    free(kind);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Applying                                                                 */

/* Whether d has p's columns. */
static int same_columns(const nn_prep *p, const nn_dataset *d, nn_err *e)
{
    int64_t f = nn_tensor_row_size(&d->x);
    if (f != p->n_cols)
        return nn_errf(e, NN_EINVAL, "the data have %lld features per sample; the preprocessing was fitted on %d",
                       (long long)f, p->n_cols);
    if (!p->table)
        return NN_OK;
    if (d->n_cols != p->n_cols)
        return nn_errf(e, NN_EINVAL, "the data are not a table with the training data's columns");
    for (int j = 0; j < p->n_cols; j++)
        if (strcmp(d->cols[j].name, p->cols[j].name))
            return nn_errf(e, NN_EINVAL, "column %d of the data is '%.60s'; the training data's is '%.60s'",
                           d->cols[j].file_col, d->cols[j].name, p->cols[j].name);
    return NN_OK;
}

/* For a text column: the dataset's code -> p's category (-1 unseen). */
static int *code_map(const nn_prep_col *pc, const nn_column *dc)
{
    int *m = malloc((size_t)(dc->n_cats + 1) * sizeof *m);
    for (int k = 0; m && k < dc->n_cats; k++)
        m[k] = text_index(pc, dc->cats[k]);
    return m;
}

/* Column j of every row of d into out (stride n_out, starting at column o). */
static int apply_col(const nn_prep *p, const nn_dataset *d, int j, nn_real *out, int64_t o,
                     int64_t *unseen, nn_err *e)
{
    const nn_prep_col *pc = &p->cols[j];
    int64_t n = nn_dataset_len(d), f = p->n_cols, w = p->n_out;
    const nn_real *x = d->x.data;
    char b[96];
    int *map = NULL;
    if (pc->kind == NN_PREP_ONEHOT && pc->text && !(map = code_map(pc, &d->cols[j])))
        return nn_errf(e, NN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * f + j];
        nn_real *dst = out + i * w + o;
        if (pc->kind == NN_PREP_NUMERIC) {
            if (isnan(v) && isnan(v = pc->fill)) {
                free(map);
                return nn_errf_at(e, NN_EINVAL, -1, "missing", "%s has missing values, the first on line %lld",
                                  col_label(d->n_cols ? d->cols : NULL, j, b, sizeof b),
                                  (long long)(d->n_cols ? d->cols[j].missing_line : 0));
            }
            *dst = (nn_real)((v - pc->center) / pc->scale);
            continue;
        }
        int k = isnan(v) ? pc->fill_cat : map ? map[(int)v] : value_index(pc, v);
        if (isnan(v) && k < 0) {
            free(map);
            return nn_errf_at(e, NN_EINVAL, -1, "missing", "%s has missing values, the first on line %lld",
                              col_label(d->n_cols ? d->cols : NULL, j, b, sizeof b),
                              (long long)(d->n_cols ? d->cols[j].missing_line : 0));
        }
        for (int c = 0; c < pc->n_cats; c++)
            dst[c] = c == k ? 1 : 0;
        if (k < 0 && unseen)
            (*unseen)++;
    }
    free(map);
    return NN_OK;
}

int nn_prep_apply(const nn_prep *p, nn_dataset *d, int64_t *unseen, nn_err *e)
{
    int rc = same_columns(p, d, e);
    if (rc < 0)
        return rc;
    if (unseen)
        *unseen = 0;
    int64_t n = nn_dataset_len(d);
    int in_place = p->n_out == p->n_cols;
    for (int j = 0; in_place && j < p->n_cols; j++)
        in_place = p->cols[j].kind == NN_PREP_NUMERIC;
    nn_real *out = d->x.data;
    if (!in_place) {
        if (p->n_out > NN_TENSOR_MAX_ELEMS / n)
            return nn_errf(e, NN_ELIMIT, "%lld samples of %lld features exceed the limit of %lld values",
                           (long long)n, (long long)p->n_out, (long long)NN_TENSOR_MAX_ELEMS);
        if (!(out = malloc((size_t)(n * p->n_out) * sizeof *out)))
            return nn_errf(e, NN_ENOMEM, "out of memory for %lld features", (long long)p->n_out);
    }
    for (int j = 0, o = 0; j < p->n_cols; j++) {
        if ((rc = apply_col(p, d, j, out, o, unseen, e)) < 0) {
            if (!in_place)
                free(out);
            return rc;
        }
        o += p->cols[j].kind == NN_PREP_NUMERIC ? 1 : p->cols[j].n_cats;
    }
    if (!in_place) {
        free(d->x.data);
        d->x.data = out;
        d->x.rank = 2;
        d->x.dim[1] = p->n_out;
    }
    nn_columns_free(d->cols, d->n_cols);
    d->cols = NULL;
    d->n_cols = 0;
    return NN_OK;
}

int nn_prep_apply_row(const nn_prep *p, const nn_cell *cells, nn_real *out, unsigned char *unseen,
                      nn_err *e)
{
    for (int j = 0; j < p->n_cols; j++) {
        const nn_prep_col *pc = &p->cols[j];
        const nn_cell *c = &cells[j];
        if (unseen)
            unseen[j] = 0;
        if (pc->kind == NN_PREP_NUMERIC) {
            if (c->kind == NN_CELL_TEXT)
                return nn_errf_at(e, NN_EINVAL, j, "", "expected a number");
            /* a raw number as training saw it: stored as nn_real */
            double v = c->kind == NN_CELL_MISSING ? pc->fill : (double)(nn_real)c->num;
            if (isnan(v))
                return nn_errf_at(e, NN_EINVAL, j, "",
                                  "a missing value, which this job's preprocessing does not fill");
            *out++ = (nn_real)((v - pc->center) / pc->scale);
            continue;
        }
        if (c->kind != NN_CELL_MISSING && (c->kind == NN_CELL_TEXT) != pc->text)
            return nn_errf_at(e, NN_EINVAL, j, "", pc->text ? "expected a string (a category)"
                                                            : "expected a number (a category)");
        int k = c->kind == NN_CELL_MISSING ? pc->fill_cat
                : pc->text                 ? text_index(pc, c->text)
                                           : value_index(pc, (double)(nn_real)c->num);
        if (c->kind == NN_CELL_MISSING && k < 0)
            return nn_errf_at(e, NN_EINVAL, j, "",
                              "a missing value, which this job's preprocessing does not fill");
        for (int i = 0; i < pc->n_cats; i++)
            *out++ = i == k ? 1 : 0;
        if (k < 0 && unseen)
            unseen[j] = 1;
    }
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* Scale spread                                                             */

int nn_prep_scale_spread(const nn_dataset *d, double *max_std, int *max_j, double *min_std,
                         int *min_j)
{
    int64_t n = nn_dataset_len(d), f = d->x.rank == 2 ? d->x.dim[1] : 0;
    int found = 0;
    *max_std = *min_std = 0;
    *max_j = *min_j = -1;
    for (int64_t j = 0; j < f && n > 0; j++) {
        if (d->n_cols > 0 && d->cols[j].n_cats > 0)
            continue;
        double sum = 0, var = 0, first = NAN;
        int64_t m = 0;
        int varies = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = d->x.data[i * f + j];
            if (isnan(v))
                continue;
            if (m++ == 0)
                first = v;
            varies |= v != first;
            sum += v;
        }
        if (!varies)
            continue;
        double mean = sum / (double)m;
        for (int64_t i = 0; i < n; i++) {
            double v = d->x.data[i * f + j];
            if (!isnan(v))
                var += (v - mean) * (v - mean);
        }
        double sd = sqrt(var / (double)m);
        if (!(sd > 0))
            continue;
        if (!found || sd > *max_std) {
            *max_std = sd;
            *max_j = (int)j;
        }
        if (!found || sd < *min_std) {
            *min_std = sd;
            *min_j = (int)j;
        }
        found++;
    }
    return found >= 2 ? 0 : -1;
}
