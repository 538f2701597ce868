/*
 * dataset_json.c — a dataset sent as JSON: {"x": [...], "y": [...]}.
 *
 * x holds one entry per sample: a number, or nested arrays of numbers whose
 * shape is the same for every sample (the first sample sets it).  y holds one
 * entry per sample: numbers (integers are classes under "auto" and "class",
 * other numbers targets), strings (classes, sorted bytewise), or arrays of
 * numbers of one length (targets).  Every error names the JSON Pointer of
 * the offending value, and the body may be gzip-compressed.
 *
 * Bounds: the text is parsed as one document in memory (jansson: tens of
 * bytes per value), so its decompressed size is bounded while it is
 * inflated (the caller's max_text), and the values of x and y together
 * (max_values) before their tensors are allocated.  Either is NN_ELIMIT.
 */
#include "dataset_json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_CLASSES 65536

/* The decompressing source of the parser, counting what it hands over. */
typedef struct source {
    gzFile f;
    int64_t got, max;    /* max 0: no bound */
    int over;            /* stopped at max */
} source;

static size_t gz_read(void *buf, size_t n, void *arg)
{
    source *s = arg;
    int got = gzread(s->f, buf, (unsigned)(n > (1u << 30) ? 1u << 30 : n));
    if (got < 0)
        return (size_t)-1;
    s->got += got;
    if (s->max > 0 && s->got > s->max) {
        s->over = 1;
        return (size_t)-1;
    }
    return (size_t)got;
}

/* The shape of one sample of member `name` (x or y) from the first one:
 * nested array lengths. */
static int sample_shape(const json_t *v, const char *name, nn_shape *s, char *err, size_t errlen)
{
    s->rank = 0;
    while (json_is_array(v)) {
        if (s->rank == NN_MAX_RANK - 1) {
            snprintf(err, errlen, "/%s/0: more than %d nested levels", name, NN_MAX_RANK - 1);
            return -1;
        }
        if (json_array_size(v) == 0 || json_array_size(v) > (1u << 28)) {
            snprintf(err, errlen, "/%s/0: an empty (or too long) array", name);
            return -1;
        }
        s->dim[s->rank++] = (int)json_array_size(v);
        v = json_array_get(v, 0);
    }
    if (s->rank == 0) {
        s->rank = 1;
        s->dim[0] = 1;
    }
    return 0;
}

/* Copies one sample of shape s (from level `level`) into out; path grows as
 * it descends so that errors name the exact element. */
static int copy_sample(const json_t *v, const nn_shape *s, int level, int scalar, nn_real **out,
                       char *path, size_t plen, char *err, size_t errlen)
{
    if (scalar || level == s->rank) {
        if (!json_is_number(v)) {
            snprintf(err, errlen, "%s: expected a number, found %s", path,
                     json_is_string(v) ? "a string" : json_is_array(v) ? "an array"
                                                                       : "another kind of value");
            return -1;
        }
        double d = json_number_value(v);
        if (!isfinite(d) || fabs(d) > 3.4e38) {
            snprintf(err, errlen, "%s: the number is out of range", path);
            return -1;
        }
        *(*out)++ = (nn_real)d;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) != (size_t)s->dim[level]) {
        snprintf(err, errlen, "%s: expected an array of %d values (every sample has the shape of "
                              "the first)", path, s->dim[level]);
        return -1;
    }
    size_t base = strlen(path);
    for (size_t i = 0; i < json_array_size(v); i++) {
        snprintf(path + base, plen - base, "/%zu", i);
        if (copy_sample(json_array_get(v, i), s, level + 1, 0, out, path, plen, err, errlen))
            return -1;
    }
    path[base] = 0;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* y: classes (integers or strings) or targets (numbers, arrays of numbers). */
static int read_y(const json_t *y, int n, nn_label_kind kind, int64_t max_values,
                  nn_dataset *d, char *err, size_t errlen)
{
    const json_t *first = json_array_get(y, 0);
    int64_t dims[2] = {n, 1};
    if (json_is_string(first)) {
        if (kind == NN_LABEL_NUMERIC) {
            snprintf(err, errlen, "/y/0: text labels cannot be numeric targets (label_kind)");
            return -1;
        }
        char **names = malloc((size_t)n * sizeof *names);
        if (!names)
            return -1;
        int k = 0;
        for (int i = 0; i < n; i++) {
            const json_t *v = json_array_get(y, (size_t)i);
            if (!json_is_string(v)) {
                snprintf(err, errlen, "/y/%d: expected a string like the other labels", i);
                free(names);
                return -1;
            }
            names[k++] = (char *)json_string_value(v);
        }
        qsort(names, (size_t)k, sizeof *names, cmp_str);
        int u = 0;
        for (int i = 0; i < k; i++)
            if (u == 0 || strcmp(names[u - 1], names[i]))
                names[u++] = names[i];
        if (u > MAX_CLASSES) {
            snprintf(err, errlen, "/y: more than %d classes", MAX_CLASSES);
            free(names);
            return -1;
        }
        d->class_names = calloc((size_t)u, sizeof *d->class_names);
        if (!d->class_names || nn_tensor_alloc(&d->y, 1, dims)) {
            free(names);
            return -1;
        }
        d->n_classes = u;
        for (int i = 0; i < u; i++)
            if (!(d->class_names[i] = strdup(names[i]))) {
                free(names);
                return -1;
            }
        for (int i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(y, (size_t)i));
            char **hit = bsearch(&s, names, (size_t)u, sizeof *names, cmp_str);
            d->y.data[i] = (nn_real)(hit - names);
        }
        free(names);
        return 0;
    }
    if (json_is_array(first)) {
        /* targets: nested arrays of numbers, [k] or per step [T][k] */
        nn_shape s;
        if (sample_shape(first, "y", &s, err, errlen))
            return -1;
        int64_t yd[NN_MAX_RANK] = {n}, w = 1;
        for (int r = 0; r < s.rank; r++)
            w *= (yd[r + 1] = s.dim[r]);
        if (w > (1 << 20)) {
            snprintf(err, errlen, "/y/0: more than %d targets per sample", 1 << 20);
            return -1;
        }
        if (w > max_values / n) {
            snprintf(err, errlen, "/y: x and y hold more than the limit of %lld values",
                     (long long)(nn_tensor_numel(&d->x) + max_values));
            return NN_ELIMIT;
        }
        if (nn_tensor_alloc(&d->y, s.rank + 1, yd))
            return -1;
        nn_real *p = d->y.data;
        char path[64];
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "/y/%d", i);
            if (copy_sample(json_array_get(y, (size_t)i), &s, 0, 0, &p, path, sizeof path, err,
                            errlen))
                return -1;
        }
        return 0;
    }
    /* numbers */
    int all_int = 1;
    double mx = 0;
    for (int i = 0; i < n; i++) {
        const json_t *v = json_array_get(y, (size_t)i);
        if (!json_is_number(v)) {
            snprintf(err, errlen, "/y/%d: expected a number like the other labels", i);
            return -1;
        }
        double x = json_number_value(v);
        if (!isfinite(x)) {
            snprintf(err, errlen, "/y/%d: the number is out of range", i);
            return -1;
        }
        if (!json_is_integer(v) || x < 0)
            all_int = 0;
        mx = x > mx ? x : mx;
    }
    int classes = kind == NN_LABEL_CLASS || (kind == NN_LABEL_AUTO && all_int);
    if (classes && !all_int) {
        snprintf(err, errlen, "/y: class labels must be non-negative integers or strings");
        return -1;
    }
    if (classes && mx >= MAX_CLASSES) {
        snprintf(err, errlen, "/y: a class index of %.0f is more than %d classes", mx,
                 MAX_CLASSES);
        return -1;
    }
    if (nn_tensor_alloc(&d->y, classes ? 1 : 2, dims))
        return -1;
    for (int i = 0; i < n; i++)
        d->y.data[i] = (nn_real)json_number_value(json_array_get(y, (size_t)i));
    if (classes) {
        d->n_classes = (int)mx + 1;
        d->class_names = calloc((size_t)d->n_classes, sizeof *d->class_names);
        if (!d->class_names)
            return -1;
        for (int c = 0; c < d->n_classes; c++) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", c);
            if (!(d->class_names[c] = strdup(buf)))
                return -1;
        }
    }
    return 0;
}

int dataset_json_read(const char *path, nn_label_kind kind, int64_t max_values,
                      int64_t max_text, nn_dataset *out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = NULL;
    int rc = -1, limit = 0;
    memset(out, 0, sizeof *out);
    if (errlen)
        err[0] = 0;
    if (max_values <= 0)
        max_values = INT64_MAX;
    source src = {gzopen(path, "rb"), 0, max_text, 0};
    if (!src.f) {
        snprintf(err, errlen, "cannot read the upload");
        return -1;
    }
    doc = json_load_callback(gz_read, &src, JSON_REJECT_DUPLICATES, &je);
    gzclose(src.f);
    if (src.over) {
        snprintf(err, errlen, "more than the limit of %lld bytes of JSON text (after "
                 "decompression)", (long long)max_text);
        limit = 1;
        goto out;
    }
    if (!doc) {
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        goto out;
    }
    const json_t *x = json_object_get(doc, "x"), *y = json_object_get(doc, "y");
    const char *key;
    json_t *val;
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "expected an object {\"x\": [...], \"y\": [...]}");
        goto out;
    }
    json_object_foreach(doc, key, val) {
        if (strcmp(key, "x") && strcmp(key, "y")) {
            snprintf(err, errlen, "/%s: unknown key (a dataset has x and y)", key);
            goto out;
        }
    }
    if (!json_is_array(x) || !json_is_array(y)) {
        snprintf(err, errlen, "%s: required, an array with one entry per sample",
                 !json_is_array(x) ? "/x" : "/y");
        goto out;
    }
    size_t n = json_array_size(x);
    if (n == 0 || n != json_array_size(y)) {
        snprintf(err, errlen, "/y: x has %zu samples and y %zu labels; they must agree and not "
                              "be empty", n, json_array_size(y));
        goto out;
    }
    if (n > (1u << 30)) {
        snprintf(err, errlen, "/x: too many samples");
        goto out;
    }
    nn_shape s;
    if (sample_shape(json_array_get(x, 0), "x", &s, err, errlen))
        goto out;
    int scalar = !json_is_array(json_array_get(x, 0));
    int64_t dims[NN_MAX_RANK] = {(int64_t)n};
    int64_t numel = (int64_t)n;
    for (int i = 0; i < s.rank; i++) {
        dims[i + 1] = s.dim[i];
        numel *= s.dim[i];
        if (numel > NN_TENSOR_MAX_ELEMS) {
            snprintf(err, errlen, "/x: more than %lld values", (long long)NN_TENSOR_MAX_ELEMS);
            goto out;
        }
    }
    /* y takes at least one value per sample */
    if (numel > max_values - (int64_t)n) {
        snprintf(err, errlen, "/x: x and y hold more than the limit of %lld values",
                 (long long)max_values);
        limit = 1;
        goto out;
    }
    if (nn_tensor_alloc(&out->x, s.rank + 1, dims)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    nn_real *p = out->x.data;
    char pth[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(pth, sizeof pth, "/x/%zu", i);
        if (copy_sample(json_array_get(x, i), &s, 0, scalar, &p, pth, sizeof pth, err, errlen))
            goto out;
    }
    if ((rc = read_y(y, (int)n, kind, max_values - numel, out, err, errlen))) {
        limit = rc == NN_ELIMIT;
        rc = -1;
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    if (rc) {
        nn_dataset_free(out);
        rc = limit ? NN_ELIMIT : strcmp(err, "out of memory") == 0 ? NN_ENOMEM : NN_EFORMAT;
        /* jansson quotes the bytes near a syntax error as they are, and a
         * message may be cut inside a character: the answer is JSON */
        if (errlen)
            nn_utf8_clean(err, 0);
    }
    return rc;
}
