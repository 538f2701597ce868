/*
 * api_predict.c — POST /v1/jobs/{id}/predict: a job's network applied to
 * raw instances, as the user uploaded them.
 *
 * The job carries all it needs (store.h): its definition, its weights, its
 * fitted preprocessing and its class names, so that deleting its dataset
 * changes no answer.  An instance is
 *   - for a job trained on a table (CSV): an array of the raw values of the
 *     feature columns in the file's order, or an object keyed by column
 *     name (an absent key is a missing value); numbers for numeric columns,
 *     strings for text columns, null for a missing value;
 *   - otherwise: numbers, nested in any way that holds the model's input
 *     values in row-major order ([784], or [[28 values] x 28]).
 * The job's preprocessing then turns it into features (a missing value
 * follows the job's rule; a category the training data did not have is
 * all zeros and adds a warning to the answer).
 *
 * The body is bounded before it is read (api_predict_body_bound): no more
 * than --max-predict instances of the job's input, each value with room
 * for a JSON number and its spacing; and its instances and values are
 * counted before it is parsed, so that too many of them are refused (413)
 * without building them: 10^6 instances used to take 16 s and 420 MB to
 * be told so.
 */
#include "api.h"

#include "model.h"
#include "prep_json.h"
#include "app.h"
#include "spec_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What predicting needs of a job. */
typedef struct predictor {
    nn_spec spec;
    nn_model *m;
    nn_prep prep;
    int has_prep;                  /* a fitted, non-identity preprocessing */
    json_t *classes;               /* the job's class names (JSON array) */
    int64_t in, out;               /* values per instance in and out of the model */
} predictor;

static void predictor_free(predictor *p)
{
    nn_spec_free(&p->spec);
    nn_model_free(p->m);
    nn_prep_free(&p->prep);
    json_decref(p->classes);
}

/* The job's model with its weights (final, or latest while it runs), its
 * preprocessing and class names; replies 409 or 500 and returns -1. */
static int load(http_req *r, const store_job *j, predictor *p)
{
    const char *which = !strcmp(j->state, "succeeded") ? "final"
                        : !strcmp(j->state, "running") ? "latest"
                                                       : NULL;
    char err[512];
    void *w = NULL;
    size_t wlen = 0;
    nn_err e;
    spec_json_err je;
    int rc = -1;
    if (!which) {
        http_reply_error(r, 409, "conflict", NULL,
                         "job %lld is %s: predictions need a succeeded job (or a running one "
                         "with a checkpoint)",
                         (long long)j->id, j->state);
        return -1;
    }
    int src = store_weights_get(r->app->store, j->id, which, &w, &wlen, err, sizeof err);
    if (src == STORE_ENOTFOUND) {
        http_reply_error(r, 409, "conflict", NULL, "job %lld has no %s weights yet",
                         (long long)j->id, which);
        return -1;
    }
    if (src) {
        api_store_error(r, src, "reading weights", err);
        return -1;
    }
    json_t *def = json_loads(j->definition, 0, NULL);
    nn_model_opts mo = {.seed = 0, .threads = 1};
    if (!def || spec_json_parse_model(def, &p->spec, &je) || nn_model_new(&p->spec, &mo, &p->m, &e) ||
        nn_model_load_weights_mem(p->m, w, wlen, &e)) {
        http_reply_error(r, 500, "internal", NULL, "cannot rebuild the job's model");
        goto out;
    }
    p->has_prep = j->preprocessing && strcmp(j->preprocessing, "null") != 0;
    if (p->has_prep && prep_json_parse_text(j->preprocessing, &p->prep, err, sizeof err)) {
        http_reply_error(r, 500, "internal", NULL, "the job's %s", err);
        goto out;
    }
    p->classes = api_parse_or_null(j->classes);
    p->in = nn_model_in_size(p->m);
    p->out = nn_model_out_size(p->m);
    if (p->has_prep && p->prep.n_out != p->in) {
        http_reply_error(r, 500, "internal", NULL, "the job's preprocessing does not fit its model");
        goto out;
    }
    rc = 0;
out:
    json_decref(def);
    free(w);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Bounds */

/* Room for one value of an instance: a JSON number at full precision
 * ("-1.2345678901234567e-308", 24 bytes), its comma, and the indentation of
 * a pretty-printed nested array. */
#define VALUE_BYTES 48
/* ...and for one instance's own brackets, comma and line; for the rest */
#define INSTANCE_BYTES 64
#define BODY_BYTES 1024

/* The raw values of one instance of job j (the model's input values, or a
 * table's cells) and the bytes they may take in a body.  A table's cell
 * has room for its column's name (an object's key) and its longest
 * category, every byte of both escaped (\uXXXX). */
static int instance_size(const store_job *j, int64_t *values, int64_t *bytes)
{
    nn_spec spec = {0};
    nn_prep prep = {0};
    spec_json_err je;
    char err[256];
    json_t *def = json_loads(j->definition, 0, NULL);
    int rc = -1;
    if (!def || spec_json_parse_model(def, &spec, &je))
        goto out;
    int64_t in = nn_shape_numel(&spec.input), cells = 0, cell_bytes = 0;
    if (j->preprocessing && strcmp(j->preprocessing, "null") &&
        prep_json_parse_text(j->preprocessing, &prep, err, sizeof err) == 0 && prep.table) {
        for (int c = 0; c < prep.n_cols; c++) {
            size_t longest = 0;
            for (int k = 0; k < prep.cols[c].n_cats; k++)
                if (strlen(prep.cols[c].cats[k]) > longest)
                    longest = strlen(prep.cols[c].cats[k]);
            cell_bytes += VALUE_BYTES + 6 * (int64_t)(strlen(prep.cols[c].name) + longest);
        }
        cells = prep.n_cols;
    }
    *values = in > cells ? in : cells;
    *bytes = (in * VALUE_BYTES > cell_bytes ? in * VALUE_BYTES : cell_bytes) + INSTANCE_BYTES;
    rc = 0;
out:
    json_decref(def);
    nn_spec_free(&spec);
    nn_prep_free(&prep);
    return rc;
}

int64_t api_predict_body_bound(http_req *r, char *why, size_t len)
{
    store_job j = {0};
    char err[256];
    int64_t values, bytes, bound = -1;
    int max = r->app->cfg.max_predict;
    if (store_job_get(r->app->store, r->id, &j, err, sizeof err) == 0 &&
        instance_size(&j, &values, &bytes) == 0) {
        bound = BODY_BYTES + (int64_t)max * bytes;
        snprintf(why, len, "the bound of %d instances (--max-predict) of %lld values each: %lld bytes",
                 max, (long long)values, (long long)bound);
    }
    store_job_clear(&j);
    return bound;
}

/* Counts the body's instances (the elements of the array in
 * {"instances": [...]}) and the values under them (scalars that are not
 * object keys) in one pass over the text, and stops at the first count
 * over its limit: replies 413 then and returns -1.  What is not JSON is
 * left for the parser to name. */
static int count_or_reply(http_req *r, int64_t values_each)
{
    const char *b = r->body;
    size_t n = r->body_len;
    int64_t max = r->app->cfg.max_predict, inst = 0, vals = 0;
    int64_t max_vals = values_each > 0 ? max * values_each : INT64_MAX;
    int depth = 0, in_token = 0;
    for (size_t i = 0; i < n && inst <= max && vals <= max_vals; i++) {
        char c = b[i];
        int starts = 0;
        if (c == '"') {
            size_t k = i + 1;
            while (k < n && b[k] != '"')
                k += b[k] == '\\' ? 2 : 1;
            size_t after = k + 1;
            while (after < n && strchr(" \t\r\n", b[after]))
                after++;
            starts = after >= n || b[after] != ':';   /* a key is not a value */
            vals += starts && depth >= 2;
            i = k;
            in_token = 0;
        } else if (c == '[' || c == '{') {
            starts = 1;
            in_token = 0;
        } else if (c == ']' || c == '}' || c == ',' || c == ':' || strchr(" \t\r\n", c)) {
            in_token = 0;
        } else if (!in_token) {
            in_token = starts = 1;   /* a number, true, false or null */
            vals += depth >= 2;
        }
        inst += starts && depth == 2;
        if (c == '[' || c == '{')
            depth++;
        else if (c == ']' || c == '}')
            depth--;
    }
    if (inst > max) {
        http_reply_error(r, 413, "too_large", "/instances",
                         "more than %lld instances; send 1 to %lld per request (--max-predict)",
                         (long long)max, (long long)max);
        return -1;
    }
    if (vals > max_vals) {
        http_reply_error(r, 413, "too_large", "/instances",
                         "more than %lld values: %lld instances (--max-predict) of %lld values "
                         "each at most", (long long)max_vals, (long long)max,
                         (long long)values_each);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Instances */

/* Flattens one instance (nested arrays in row-major order) into out[0..n). */
static int flatten(const json_t *v, nn_real *out, int64_t n, int64_t *pos, char *path,
                   size_t plen, char *err, size_t errlen)
{
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (*pos >= n) {
            snprintf(err, errlen, "more values than the model's input takes (%lld)", (long long)n);
            return -1;
        }
        if (!isfinite(d) || fabs(d) > 3.4e38) {
            snprintf(err, errlen, "the number is out of range");
            return -1;
        }
        out[(*pos)++] = (nn_real)d;
        return 0;
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "expected a number or an array of numbers");
        return -1;
    }
    size_t base = strlen(path);
    for (size_t i = 0; i < json_array_size(v); i++) {
        snprintf(path + base, plen - base, "/%zu", i);
        if (flatten(json_array_get(v, i), out, n, pos, path, plen, err, errlen))
            return -1;
    }
    path[base] = 0;
    return 0;
}

/* A JSON value as a raw cell: a number, a string, or null (missing). */
static int to_cell(const json_t *v, nn_cell *c)
{
    if (json_is_null(v) || !v) {
        *c = (nn_cell){NN_CELL_MISSING, 0, NULL};
    } else if (json_is_number(v) && isfinite(json_number_value(v))) {
        *c = (nn_cell){NN_CELL_NUMBER, json_number_value(v), NULL};
    } else if (json_is_string(v)) {
        *c = (nn_cell){NN_CELL_TEXT, 0, json_string_value(v)};
    } else {
        return -1;
    }
    return 0;
}

/* A table instance (an array in column order, or an object by column name)
 * into cells; path and err name what is wrong. */
static int table_cells(const nn_prep *p, const json_t *v, nn_cell *cells, char *path, size_t plen,
                       char *err, size_t errlen)
{
    size_t base = strlen(path);
    if (json_is_array(v) && json_array_size(v) != (size_t)p->n_cols) {
        /* numbers nested in any way, as for other data, when they are all numbers */
        nn_real *num = malloc((size_t)p->n_cols * sizeof *num);
        int64_t pos = 0;
        char scratch[8];
        int ok = num && !flatten(v, num, p->n_cols, &pos, path, plen, scratch, sizeof scratch) &&
                 pos == p->n_cols;
        path[base] = 0;
        for (int j = 0; ok && j < p->n_cols; j++)
            cells[j] = (nn_cell){NN_CELL_NUMBER, num[j], NULL};
        free(num);
        if (ok)
            return 0;
    }
    if (json_is_array(v)) {
        if (json_array_size(v) != (size_t)p->n_cols) {
            snprintf(err, errlen, "an instance has %zu value%s; the job's data have %d feature "
                     "column%s", json_array_size(v), json_array_size(v) == 1 ? "" : "s",
                     p->n_cols, p->n_cols == 1 ? "" : "s");
            return -1;
        }
        for (int j = 0; j < p->n_cols; j++)
            if (to_cell(json_array_get(v, (size_t)j), &cells[j])) {
                snprintf(path + base, plen - base, "/%d", j);
                snprintf(err, errlen, "expected a number, a string or null");
                return -1;
            }
        return 0;
    }
    if (!json_is_object(v)) {
        snprintf(err, errlen, "expected an array of the %d feature columns' values, or an object "
                 "keyed by column name", p->n_cols);
        return -1;
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
        if (nn_prep_find_col(p, key) < 0) {
            snprintf(path + base, plen - base, "/%s", key);
            snprintf(err, errlen, "no column named '%.100s' among the job's feature columns", key);
            return -1;
        }
    for (int j = 0; j < p->n_cols; j++)
        if (to_cell(json_object_get(v, p->cols[j].name), &cells[j])) {
            snprintf(path + base, plen - base, "/%s", p->cols[j].name);
            snprintf(err, errlen, "expected a number, a string or null");
            return -1;
        }
    return 0;
}

/* One instance's features into x[0 .. in); unseen categories as warnings. */
static int features(const predictor *p, const json_t *v, nn_real *x, nn_cell *cells,
                    unsigned char *unseen, json_t *warnings, char *path, size_t plen, char *err,
                    size_t errlen)
{
    nn_err e;
    size_t base = strlen(path);
    if (p->has_prep && p->prep.table) {
        if (table_cells(&p->prep, v, cells, path, plen, err, errlen))
            return -1;
        if (nn_prep_apply_row(&p->prep, cells, x, unseen, &e)) {
            if (!json_is_object(v))
                snprintf(path + base, plen - base, "/%d", e.layer);
            else
                snprintf(path + base, plen - base, "/%s", p->prep.cols[e.layer].name);
            snprintf(err, errlen, "column '%.80s': %s", p->prep.cols[e.layer].name, e.msg);
            return -1;
        }
        for (int j = 0; j < p->prep.n_cols; j++)
            if (unseen[j])
                json_array_append_new(
                    warnings, json_sprintf("%s: column '%s': category %s%s%s is not in the "
                                           "training data; encoded as all zeros",
                                           path, p->prep.cols[j].name,
                                           cells[j].kind == NN_CELL_TEXT ? "\"" : "",
                                           cells[j].kind == NN_CELL_TEXT ? cells[j].text : "",
                                           cells[j].kind == NN_CELL_TEXT ? "\"" : "a number"));
        return 0;
    }
    int64_t pos = 0;
    if (flatten(v, x, p->in, &pos, path, plen, err, errlen))
        return -1;
    path[base] = 0;
    if (pos != p->in) {
        snprintf(err, errlen, "an instance has %lld value%s; the model's input takes %lld",
                 (long long)pos, pos == 1 ? "" : "s", (long long)p->in);
        return -1;
    }
    if (!p->has_prep)
        return 0;
    for (int64_t i = 0; i < p->in; i++)
        cells[i] = (nn_cell){NN_CELL_NUMBER, x[i], NULL};
    if (nn_prep_apply_row(&p->prep, cells, x, NULL, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Answers */

/* The job's name of class k ("k" when it has none). */
static json_t *class_name(const json_t *classes, int k)
{
    const json_t *s = json_array_get(classes, (size_t)k);
    return json_is_string(s) ? json_incref((json_t *)s) : json_sprintf("%d", k);
}

/* A number of the answer: null when not finite (a diverged network). */
static json_t *num(nn_real v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The values p[0..) in the nesting of shape s from dimension `level` on
 * ([T, k] -> T arrays of k numbers); *p advances past them. */
static json_t *nested(const nn_real **p, const nn_shape *s, int level)
{
    json_t *a = json_array();
    for (int i = 0; i < s->dim[level]; i++)
        json_array_append_new(a, level + 1 < s->rank ? nested(p, s, level + 1) : num(*(*p)++));
    return a;
}

/* One instance's prediction from its outputs y (the model's output shape
 * os).  Classifiers answer per row of the last dimension: one row for an
 * output [C]; with a sequence output [T, C] each of class, class_index and
 * probabilities (or probability) is an array over the T steps.  Anything
 * else is the outputs nested in the output shape. */
static json_t *prediction(nn_loss_kind loss, const nn_shape *os, const nn_real *y,
                          const json_t *classes)
{
    int64_t cols = os->dim[os->rank - 1], rows = nn_shape_numel(os) / cols;
    int per_step = os->rank > 1;
    int ce = loss == NN_LOSS_CROSS_ENTROPY, bce = loss == NN_LOSS_BCE && cols == 1;
    if (!ce && !bce)
        return nested(&y, os, 0);
    json_t *names = json_array(), *index = json_array(), *probs = json_array();
    for (int64_t t = 0; t < rows; t++) {
        const nn_real *row = y + t * cols;
        int best = 0;
        if (ce) {
            json_t *pr = json_array();
            for (int64_t k = 0; k < cols; k++) {
                json_array_append_new(pr, num(row[k]));
                if (row[k] > row[best])
                    best = (int)k;
            }
            json_array_append_new(probs, pr);
        } else {
            best = row[0] > 0.5f;
            json_array_append_new(probs, num(row[0]));
        }
        json_array_append_new(names, class_name(classes, best));
        json_array_append_new(index, json_integer(best));
    }
    const char *pkey = ce ? "probabilities" : "probability";
    if (per_step)
        return json_pack("{s:o,s:o,s:o}", "class", names, "class_index", index, pkey, probs);
    /* one row: its members themselves, not arrays of one */
    json_t *p = json_pack("{s:O,s:O,s:O}", "class", json_array_get(names, 0), "class_index",
                          json_array_get(index, 0), pkey, json_array_get(probs, 0));
    json_decref(names);
    json_decref(index);
    json_decref(probs);
    return p;
}

/* POST /v1/jobs/{id}/predict {"instances": [...]} */
MHD_RESULT api_jobs_predict(http_req *r)
{
    json_t *body = NULL, *warnings = json_array();
    store_job j = {0};
    predictor p = {0};
    nn_real *x = NULL, *y = NULL;
    nn_cell *cells = NULL;
    unsigned char *unseen = NULL;
    char err[512], what[64];
    nn_err e;

    snprintf(what, sizeof what, "job %lld", (long long)r->id);
    int rc = store_job_get(r->app->store, r->id, &j, err, sizeof err);
    if (rc) {
        api_store_error(r, rc, what, err);
        goto out;
    }
    int64_t each, bytes;
    if (instance_size(&j, &each, &bytes))
        each = 0;   /* load() names what is wrong with the job */
    if (r->body && count_or_reply(r, each))
        goto out;
    if (!(body = http_json_body_or_reply(r)))
        goto out;
    const json_t *inst = json_object_get(body, "instances");
    if (!json_is_object(body) || !json_is_array(inst) || json_object_size(body) != 1) {
        http_reply_error(r, 400, "malformed_request", "/instances",
                         "expected {\"instances\": [<instance>, ...]}");
        goto out;
    }
    size_t n = json_array_size(inst);
    if (n == 0 || n > (size_t)r->app->cfg.max_predict) {
        http_reply_error(r, n ? 413 : 422, n ? "too_large" : "data_mismatch", "/instances",
                         "send 1 to %d instances per request (--max-predict)",
                         r->app->cfg.max_predict);
        goto out;
    }
    if (load(r, &j, &p))
        goto out;
    int64_t ncell = p.has_prep ? p.prep.n_cols : p.in;
    x = malloc(n * (size_t)p.in * sizeof *x);
    y = malloc(n * (size_t)p.out * sizeof *y);
    cells = malloc((size_t)(ncell > 0 ? ncell : 1) * sizeof *cells);
    unseen = malloc((size_t)(ncell > 0 ? ncell : 1));
    if (!x || !y || !cells || !unseen) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "/instances/%zu", i);
        if (features(&p, json_array_get(inst, i), x + i * (size_t)p.in, cells, unseen, warnings,
                     path, sizeof path, err, sizeof err)) {
            http_reply_error(r, 422, "data_mismatch", path, "%s", err);
            goto out;
        }
    }
    if (nn_model_predict(p.m, x, (int64_t)n, y, &e)) {
        http_reply_error(r, 500, "internal", NULL, "%s", e.msg);
        goto out;
    }
    nn_shape os = nn_model_out_shape(p.m);
    json_t *preds = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(preds, prediction(p.spec.loss, &os, y + i * (size_t)p.out,
                                                p.classes));
    json_t *ans = json_pack("{s:o}", "predictions", preds);
    if (json_array_size(warnings))
        json_object_set(ans, "warnings", warnings);
    http_reply_json(r, 200, ans);
out:
    json_decref(body);
    json_decref(warnings);
    store_job_clear(&j);
    predictor_free(&p);
    free(x);
    free(y);
    free(cells);
    free(unseen);
    return r->result;
}
