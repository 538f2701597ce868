/*
 * columns_json.c — dataset columns and feature scale as JSON (see
 * columns_json.h).
 */
#include "columns_json.h"

#include "prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *column_json(const nn_column *c)
{
    json_t *name = json_string(c->name ? c->name : "");
    if (!name)
        return NULL;
    json_t *o = json_pack("{s:o,s:i,s:s,s:I}", "name", name, "column", c->file_col, "type",
                          c->n_cats > 0 ? "text" : "number", "missing", (json_int_t)c->n_missing);
    if (o && c->n_cats == 0)
        json_object_set_new(o, "distinct", c->n_distinct >= 0 ? json_integer(c->n_distinct)
                                                              : json_null());
    if (o && c->n_missing > 0)
        json_object_set_new(o, "first_missing_line", json_integer((json_int_t)c->missing_line));
    if (o && c->n_cats > 0) {
        json_t *cats = json_array();
        for (int k = 0; cats && k < c->n_cats; k++) {
            json_t *s = json_string(c->cats[k]);
            if (!s || json_array_append_new(cats, s)) {
                json_decref(cats);
                cats = NULL;
            }
        }
        if (!cats || json_object_set_new(o, "categories", cats)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *columns_json(const nn_column *cols, int n)
{
    json_t *a = json_array();
    for (int j = 0; a && j < n; j++) {
        json_t *c = column_json(&cols[j]);
        if (!c || json_array_append_new(a, c)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static char *dup_string(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? strdup(s) : NULL;
}

static int column_from(const json_t *o, nn_column *c)
{
    const json_t *cats = json_object_get(o, "categories");
    if (!(c->name = dup_string(json_object_get(o, "name"))))
        return -1;
    c->file_col = (int)json_integer_value(json_object_get(o, "column"));
    c->n_missing = json_integer_value(json_object_get(o, "missing"));
    c->missing_line = json_integer_value(json_object_get(o, "first_missing_line"));
    const json_t *dv = json_object_get(o, "distinct");
    c->n_distinct = json_is_integer(dv) ? (int)json_integer_value(dv) : -1;
    size_t n = json_array_size(cats);
    if (!n)
        return 0;
    if (n > NN_DATA_MAX_CLASSES || !(c->cats = calloc(n, sizeof *c->cats)))
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (!(c->cats[k] = dup_string(json_array_get(cats, k))))
            return -1;
        c->n_cats = (int)k + 1;
    }
    c->n_distinct = c->n_cats;
    return 0;
}

int columns_from_json(const json_t *a, nn_column **out, int *n)
{
    *out = NULL;
    *n = 0;
    size_t m = json_array_size(a);
    if (!json_is_array(a) || m > INT32_MAX)
        return -1;
    nn_column *cols = calloc(m ? m : 1, sizeof *cols);
    if (!cols)
        return -1;
    for (size_t j = 0; j < m; j++)
        if (column_from(json_array_get(a, j), &cols[j]) < 0) {
            nn_columns_free(cols, (int)m);
            return -1;
        }
    *out = cols;
    *n = (int)m;
    return 0;
}

static json_t *feature_name(const nn_dataset *d, int j)
{
    if (d->n_cols > j) {
        json_t *s = json_string(d->cols[j].name);
        if (s)
            return s;
    }
    return json_sprintf("feature %d", j);
}

json_t *columns_scale_json(const nn_dataset *d)
{
    double hi, lo;
    int hj, lj;
    if (nn_prep_scale_spread(d, &hi, &hj, &lo, &lj) < 0)
        return json_null();
    return json_pack("{s:f,s:o,s:f,s:o,s:f}", "max_std", hi, "max_feature", feature_name(d, hj),
                     "min_std", lo, "min_feature", feature_name(d, lj), "ratio", hi / lo);
}
