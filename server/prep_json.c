/*
 * prep_json.c — a fitted preprocessing (core/prep.h) as JSON and back.
 *
 * One form everywhere it is shown or kept: the job's row in the store, GET
 * /v1/jobs/{id} ("preprocessing"), and the "preprocess" entry of every
 * weights file's metadata.  Reals are written with 17 significant digits,
 * so that reading the text back gives the same doubles and a resumed job
 * (or predict) applies exactly what training applied.
 *
 *   {"version": 1, "table": true, "standardize": true, "min_max": false,
 *    "missing": {"numeric": "mean", "categorical": "most_frequent"},
 *    "n_features": 5,
 *    "columns": [{"name": "alcohol", "kind": "numeric", "fill": 13.1 | null,
 *                 "center": 13.0, "scale": 0.81},
 *                {"name": "color", "kind": "one_hot", "categories": ["red", "white"],
 *                 "values": [1, 2] (numbers columns only), "fill": "red" | null,
 *                 "missing_category": false}]}
 */
#include "prep_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *impute_name(nn_impute m)
{
    static const char *const names[] = {"error", "mean", "median", "most_frequent", "category"};
    return (unsigned)m <= NN_IMPUTE_CATEGORY ? names[m] : "error";
}

static int impute_from(const char *s, nn_impute *m)
{
    for (int i = 0; s && i <= NN_IMPUTE_CATEGORY; i++)
        if (!strcmp(s, impute_name((nn_impute)i))) {
            *m = (nn_impute)i;
            return 0;
        }
    return -1;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *column_json(const nn_prep_col *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", c->name ? json_string(c->name) : json_null());
    if (c->kind == NN_PREP_NUMERIC) {
        json_object_set_new(o, "kind", json_string("numeric"));
        json_object_set_new(o, "fill", num_or_null(c->fill));
        json_object_set_new(o, "center", json_real(c->center));
        json_object_set_new(o, "scale", json_real(c->scale));
        return o;
    }
    json_t *cats = json_array();
    for (int k = 0; k < c->n_cats; k++)
        json_array_append_new(cats, json_string(c->cats[k]));
    json_object_set_new(o, "kind", json_string("one_hot"));
    json_object_set_new(o, "categories", cats);
    if (!c->text) {
        json_t *vals = json_array();
        for (int k = 0; k < c->n_cats - c->missing_cat; k++)
            json_array_append_new(vals, json_real(c->values[k]));
        json_object_set_new(o, "values", vals);
    }
    json_object_set_new(o, "fill", c->fill_cat >= 0 ? json_string(c->cats[c->fill_cat])
                                                    : json_null());
    json_object_set_new(o, "missing_category", json_boolean(c->missing_cat));
    return o;
}

json_t *prep_json_dump(const nn_prep *p)
{
    if (!p || p->n_cols == 0)
        return json_null();
    json_t *cols = json_array();
    for (int j = 0; j < p->n_cols; j++)
        json_array_append_new(cols, column_json(&p->cols[j]));
    return json_pack("{s:i,s:b,s:b,s:b,s:{s:s,s:s},s:I,s:o}", "version", 1, "table", p->table,
                     "standardize", p->standardize, "min_max", p->min_max, "missing", "numeric",
                     impute_name(p->missing_numeric), "categorical",
                     impute_name(p->missing_categorical), "n_features", (json_int_t)p->n_out,
                     "columns", cols);
}

char *prep_json_text(const nn_prep *p)
{
    json_t *j = prep_json_dump(p);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return s;
}

/* ------------------------------------------------------------------------ */

static int bad(char *err, size_t len, const char *what, int j)
{
    if (err && len)
        snprintf(err, len, "preprocessing: %s%s%d", what, j >= 0 ? " in column " : "", j);
    return -1;
}

static int parse_numeric(const json_t *o, nn_prep_col *c, char *err, size_t len, int j)
{
    const json_t *f = json_object_get(o, "fill"), *ce = json_object_get(o, "center"),
                 *sc = json_object_get(o, "scale");
    if (!json_is_number(ce) || !json_is_number(sc) || json_number_value(sc) == 0 ||
        (f && !json_is_null(f) && !json_is_number(f)))
        return bad(err, len, "bad center, scale or fill", j);
    c->kind = NN_PREP_NUMERIC;
    c->center = json_number_value(ce);
    c->scale = json_number_value(sc);
    c->fill = json_is_number(f) ? json_number_value(f) : NAN;
    c->fill_cat = -1;
    return 0;
}

static int parse_onehot(const json_t *o, nn_prep_col *c, char *err, size_t len, int j)
{
    const json_t *cats = json_object_get(o, "categories"), *vals = json_object_get(o, "values"),
                 *f = json_object_get(o, "fill");
    size_t n = json_array_size(cats);
    c->kind = NN_PREP_ONEHOT;
    c->missing_cat = json_is_true(json_object_get(o, "missing_category"));
    c->text = vals == NULL;
    if (!json_is_array(cats) || n < 1 || n > NN_DATA_MAX_CLASSES + 1 ||
        (vals && (!json_is_array(vals) || json_array_size(vals) + c->missing_cat != n)))
        return bad(err, len, "bad categories", j);
    if (!(c->cats = calloc(n, sizeof *c->cats)) ||
        (vals && !(c->values = malloc(n * sizeof *c->values))))
        return bad(err, len, "out of memory", -1);
    for (size_t k = 0; k < n; k++) {
        const json_t *s = json_array_get(cats, k);
        if (!json_is_string(s) || !(c->cats[k] = strdup(json_string_value(s))))
            return bad(err, len, "a category is not a string", j);
        c->n_cats = (int)k + 1;
        if (vals && k < n - (size_t)c->missing_cat) {
            const json_t *v = json_array_get(vals, k);
            if (!json_is_number(v))
                return bad(err, len, "a category value is not a number", j);
            c->values[k] = json_number_value(v);
        }
    }
    c->fill_cat = -1;
    for (int k = 0; json_is_string(f) && k < c->n_cats; k++)
        if (!strcmp(c->cats[k], json_string_value(f)))
            c->fill_cat = k;
    if (json_is_string(f) && c->fill_cat < 0)
        return bad(err, len, "the fill is not a category", j);
    return 0;
}

int prep_json_parse(const json_t *j, nn_prep *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    const json_t *cols = json_object_get(j, "columns"), *miss = json_object_get(j, "missing");
    size_t n = json_array_size(cols);
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1 ||
        !json_is_array(cols) || n < 1 || n > INT32_MAX)
        return bad(err, errlen, "not a preprocessing object of version 1", -1);
    if (!(p->cols = calloc(n, sizeof *p->cols)))
        return bad(err, errlen, "out of memory", -1);
    p->n_cols = (int)n;
    p->table = json_is_true(json_object_get(j, "table"));
    p->standardize = json_is_true(json_object_get(j, "standardize"));
    p->min_max = json_is_true(json_object_get(j, "min_max"));
    if (impute_from(json_string_value(json_object_get(miss, "numeric")), &p->missing_numeric) ||
        impute_from(json_string_value(json_object_get(miss, "categorical")),
                    &p->missing_categorical)) {
        nn_prep_free(p);
        return bad(err, errlen, "bad missing rules", -1);
    }
    for (int i = 0; i < p->n_cols; i++) {
        const json_t *o = json_array_get(cols, (size_t)i), *name = json_object_get(o, "name");
        const char *kind = json_string_value(json_object_get(o, "kind"));
        nn_prep_col *c = &p->cols[i];
        int rc = -1;
        if (json_is_string(name) && !(c->name = strdup(json_string_value(name))))
            rc = bad(err, errlen, "out of memory", -1);
        else if (kind && !strcmp(kind, "numeric"))
            rc = parse_numeric(o, c, err, errlen, i);
        else if (kind && !strcmp(kind, "one_hot"))
            rc = parse_onehot(o, c, err, errlen, i);
        else
            bad(err, errlen, "unknown kind", i);
        if (rc < 0) {
            nn_prep_free(p);
            return -1;
        }
        p->n_out += c->kind == NN_PREP_NUMERIC ? 1 : c->n_cats;
    }
    if (json_integer_value(json_object_get(j, "n_features")) != p->n_out) {
        nn_prep_free(p);
        return bad(err, errlen, "n_features does not match the columns", -1);
    }
    return 0;
}

int prep_json_parse_text(const char *text, nn_prep *p, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    int rc = j ? prep_json_parse(j, p, err, errlen) : bad(err, errlen, "not JSON", -1);
    json_decref(j);
    return rc;
}
