/*
 * dataset.c — the dataset object of data.h: load options, freeing, length,
 * and the two readings of numeric class labels.
 *
 * Invariants: a dataset either is fully built or is all zeros; y holds
 * finite values only; class indices in y are exact integers 0..n_classes-1
 * and class_names has n_classes owned strings; x holds finite values only,
 * except in a table (n_cols > 0), where NaN marks a missing value and a text
 * column holds codes 0..n_cats-1.
 */
#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nn_load_opts_default(nn_load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->label_kind = NN_LABEL_AUTO;
    o->delimiter = 0;
    o->scale_u8 = 1;
}

void nn_columns_free(nn_column *c, int n)
{
    for (int i = 0; c && i < n; i++) {
        free(c[i].name);
        for (int k = 0; c[i].cats && k < c[i].n_cats; k++)
            free(c[i].cats[k]);
        free(c[i].cats);
    }
    free(c);
}

void nn_dataset_free(nn_dataset *d)
{
    if (!d)
        return;
    nn_tensor_free(&d->x);
    nn_tensor_free(&d->y);
    if (d->class_names)
        for (int i = 0; i < d->n_classes; i++)
            free(d->class_names[i]);
    free(d->class_names);
    nn_columns_free(d->cols, d->n_cols);
    free(d->label_name);
    memset(d, 0, sizeof *d);
}

/* The number a class name spells; 0 when it is not a finite number. */
static int name_number(const char *s, double *v)
{
    char *end;
    if (!s || !*s)
        return 0;
    *v = strtod(s, &end);
    return *end == 0 && isfinite(*v) && isfinite((nn_real)*v);
}

int nn_class_names_numeric(char *const *names, int n)
{
    double v;
    if (!names || n <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (!name_number(names[i], &v))
            return 0;
    return 1;
}

int nn_dataset_labels_to_targets(nn_dataset *d, nn_err *e)
{
    if (d->n_classes <= 0 || !nn_class_names_numeric(d->class_names, d->n_classes))
        return nn_errf(e, NN_EINVAL, "the labels are not numbers, so they cannot be numeric targets");
    double *val = malloc((size_t)d->n_classes * sizeof *val);
    if (!val)
        return nn_errf(e, NN_ENOMEM, "out of memory");
    for (int i = 0; i < d->n_classes; i++)
        name_number(d->class_names[i], &val[i]);
    int64_t n = nn_tensor_numel(&d->y);
    for (int64_t i = 0; i < n; i++)
        d->y.data[i] = (nn_real)val[(int64_t)d->y.data[i]];
    free(val);
    if (d->y.rank == 1) {
        d->y.rank = 2;
        d->y.dim[1] = 1;
    }
    for (int i = 0; i < d->n_classes; i++)
        free(d->class_names[i]);
    free(d->class_names);
    d->class_names = NULL;
    d->n_classes = 0;
    return NN_OK;
}

int64_t nn_dataset_len(const nn_dataset *d)
{
    return d && d->x.rank > 0 ? d->x.dim[0] : 0;
}
