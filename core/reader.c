/*
 * reader.c — what the dataset readers share (reader.h): the
 * gzip-transparent reader, binary element decoding, dimension checks,
 * class-label mapping and the reading of (features, labels) file pairs.
 */
#include "reader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------ */
/* The reader                                                               */

const char *nn_data_basename(const char *path)
{
    if (!path)
        return "(null)";
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

int64_t nn_data_max_elems(const nn_load_opts *o)
{
    return o && o->max_elems > 0 && o->max_elems < NN_TENSOR_MAX_ELEMS ? o->max_elems
                                                                      : NN_TENSOR_MAX_ELEMS;
}

int64_t nn_data_max_values(const nn_load_opts *o)
{
    return o && o->max_values > 0 ? o->max_values : INT64_MAX;
}

int nn_rd_open(nn_rd *r, const char *path, nn_err *e)
{
    memset(r, 0, sizeof *r);
    r->name = nn_data_basename(path);
    if (!path)
        return nn_errf(e, NN_EINVAL, "no file name given");
    errno = 0;
    /* "e": close-on-exec, so that a server's child processes do not inherit it. */
    r->f = gzopen(path, "rbe");
    if (!r->f)
        return nn_errf(e, NN_EIO, "%s: cannot open: %s", r->name,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(r->f, 1u << 17);
    return NN_OK;
}

int nn_rd_status(nn_rd *r, nn_err *e)
{
    int errnum = Z_OK;
    const char *msg = gzerror(r->f, &errnum);
    switch (errnum) {
    case Z_OK:
    case Z_STREAM_END:
        return NN_OK;
    case Z_ERRNO:
        return nn_errf(e, NN_EIO, "%s: read error: %s", r->name, strerror(errno));
    case Z_MEM_ERROR:
        return nn_errf(e, NN_ENOMEM, "%s: out of memory while decompressing", r->name);
    case Z_BUF_ERROR:
        return nn_errf(e, NN_EFORMAT, "%s: the gzip data end early (truncated file)", r->name);
    default:
        return nn_errf(e, NN_EFORMAT, "%s: corrupt gzip data: %s", r->name, msg ? msg : "?");
    }
}

int64_t nn_rd_read(nn_rd *r, void *buf, size_t n, nn_err *e)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (1u << 30))
            want = 1u << 30;
        int k = gzread(r->f, (char *)buf + got, (unsigned)want);
        if (k < 0) {
            int rc = nn_rd_status(r, e);
            return rc < 0 ? rc : nn_errf(e, NN_EIO, "%s: read error", r->name);
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    r->pos += (int64_t)got;
    if (got < n) {
        /* A short read is either the end of the data or a truncated gzip stream. */
        int rc = nn_rd_status(r, e);
        if (rc < 0)
            return rc;
    }
    return (int64_t)got;
}

int nn_rd_expect_eof(nn_rd *r, nn_err *e)
{
    int64_t expected = r->pos;
    unsigned char b;
    int64_t got = nn_rd_read(r, &b, 1, e);
    if (got < 0)
        return (int)got;
    if (got > 0)
        return nn_errf(e, NN_EFORMAT, "%s: trailing bytes after the %lld bytes the header describes",
                       r->name, (long long)expected);
    return NN_OK;
}

void nn_rd_close(nn_rd *r)
{
    if (r->f)
        gzclose(r->f);
    r->f = NULL;
}

/* ------------------------------------------------------------------------ */
/* Binary elements                                                          */

size_t nn_elem_size(nn_elem t)
{
    switch (t) {
    case NN_EL_U8: case NN_EL_I8: case NN_EL_B1: return 1;
    case NN_EL_I16: return 2;
    case NN_EL_I32: case NN_EL_U32: case NN_EL_F32: return 4;
    case NN_EL_I64: case NN_EL_F64: return 8;
    }
    return 1;
}

int nn_elem_is_int(nn_elem t)
{
    return t != NN_EL_F32 && t != NN_EL_F64;
}

static void shape_text(int rank, const int64_t *dim, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? ", %lld" : "%lld", (long long)dim[i]);
    if (off < len)
        snprintf(buf + off, len - off, "]");
}

int nn_data_check_dims(const char *name, int rank, const int64_t *dim, int64_t max_elems,
                       nn_err *e)
{
    if (rank < 1)
        return nn_errf(e, NN_EFORMAT, "%s: a rank-0 array holds no samples", name);
    if (rank > NN_MAX_RANK)
        return nn_errf(e, NN_ELIMIT, "%s: rank %d exceeds the limit of %d", name, rank,
                       NN_MAX_RANK);
    if (dim[0] == 0)
        return nn_errf(e, NN_EFORMAT, "%s: no samples (the first dimension is 0)", name);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dim[i] <= 0)
            return nn_errf(e, NN_EFORMAT, "%s: dimension %d is %lld", name, i, (long long)dim[i]);
        if (dim[i] > INT32_MAX)
            return nn_errf(e, NN_ELIMIT, "%s: dimension %d is %lld, more than %d", name, i,
                           (long long)dim[i], INT32_MAX);
        /* n * dim[i] > max_elems, asked without computing the product. */
        if (n > max_elems / dim[i]) {
            char s[128];
            shape_text(rank, dim, s, sizeof s);
            return nn_errf(e, NN_ELIMIT, "%s: shape %s has more than the limit of %lld elements",
                           name, s, (long long)max_elems);
        }
        n *= dim[i];
    }
    return NN_OK;
}

static uint64_t load_uint(const unsigned char *p, size_t n, int big_endian)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[big_endian ? i : n - 1 - i];
    return v;
}

/* Two's complement of n bytes, without implementation-defined conversions. */
static int64_t to_signed(uint64_t u, size_t n)
{
    if (n == 8)
        return u >> 63 ? -(int64_t)(~u) - 1 : (int64_t)u;
    uint64_t half = (uint64_t)1 << (8 * n - 1);
    return u & half ? (int64_t)u - (int64_t)(half << 1) : (int64_t)u;
}

/* Decodes k elements starting at element index `first`. */
static int decode(const unsigned char *buf, int64_t k, nn_elem t, int be, nn_real *dst,
                  int64_t first, const char *name, nn_err *e)
{
    size_t es = nn_elem_size(t);
    for (int64_t j = 0; j < k; j++) {
        const unsigned char *p = buf + (size_t)j * es;
        uint64_t u = load_uint(p, es, be);
        double v;
        switch (t) {
        case NN_EL_U8:
        case NN_EL_U32:
            v = (double)u;
            break;
        case NN_EL_B1:
            if (u > 1)
                return nn_errf(e, NN_EFORMAT, "%s: element %lld: bool byte %u is not 0 or 1", name,
                               (long long)(first + j), (unsigned)u);
            v = (double)u;
            break;
        case NN_EL_I8:
        case NN_EL_I16:
        case NN_EL_I32:
        case NN_EL_I64:
            v = (double)to_signed(u, es);
            break;
        case NN_EL_F32: {
            uint32_t bits = (uint32_t)u;
            float f;
            memcpy(&f, &bits, sizeof f);
            v = f;
            break;
        }
        default: /* NN_EL_F64 */
            memcpy(&v, &u, sizeof v);
            break;
        }
        nn_real r = (nn_real)v;
        if (isnan(v))
            return nn_errf(e, NN_EFORMAT, "%s: element %lld is NaN", name, (long long)(first + j));
        if (isinf(v))
            return nn_errf(e, NN_EFORMAT, "%s: element %lld is infinite", name,
                           (long long)(first + j));
        if (!isfinite(r))
            return nn_errf(e, NN_EFORMAT, "%s: element %lld (%g) is out of range for " NN_REAL_NAME,
                           name, (long long)(first + j), v);
        dst[j] = r;
    }
    return NN_OK;
}

int nn_data_read_elems(nn_rd *r, nn_elem t, int big_endian, int rank, const int64_t *dim,
                       nn_tensor *out, nn_err *e)
{
    int rc = nn_tensor_alloc(out, rank, dim);
    if (rc < 0)
        return nn_errf(e, rc, "%s: cannot allocate the data: %s", r->name, nn_strerror(rc));
    int64_t numel = nn_tensor_numel(out);
    size_t es = nn_elem_size(t);
    unsigned char buf[16384];  /* a multiple of every element size */
    int64_t per = (int64_t)(sizeof buf / es);
    for (int64_t i = 0; i < numel; i += per) {
        int64_t k = numel - i < per ? numel - i : per;
        int64_t want = k * (int64_t)es;
        int64_t got = nn_rd_read(r, buf, (size_t)want, e);
        if (got < 0) {
            rc = (int)got;
            goto out;
        }
        if (got < want) {
            rc = nn_errf(e, NN_EFORMAT, "%s: truncated data: %lld of %lld bytes present", r->name,
                         (long long)(i * (int64_t)es + got), (long long)(numel * (int64_t)es));
            goto out;
        }
        if ((rc = decode(buf, k, t, big_endian, out->data + i, i, r->name, e)) < 0)
            goto out;
    }
out:
    if (rc < 0)
        nn_tensor_free(out);
    return rc;
}

void nn_data_scale_u8(nn_tensor *x)
{
    int64_t n = nn_tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        x->data[i] = (nn_real)((double)x->data[i] / 255.0);
}

/* ------------------------------------------------------------------------ */
/* Classes                                                                  */

static int cmp_ent(const void *a, const void *b)
{
    const nn_class_ent *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

int nn_classmap_init(nn_classmap *m, const nn_load_opts *o, const char *name, nn_err *e)
{
    memset(m, 0, sizeof *m);
    if (!o || !o->classes)
        return NN_OK;
    if (o->n_classes <= 0 || o->n_classes > NN_DATA_MAX_CLASSES)
        return nn_errf(e, NN_EINVAL, "%s: n_classes is %d; it must be 1..%d when classes are given",
                       name, o->n_classes, NN_DATA_MAX_CLASSES);
    nn_class_ent *ent = malloc((size_t)o->n_classes * sizeof *ent);
    if (!ent)
        return nn_errf(e, NN_ENOMEM, "%s: out of memory", name);
    for (int i = 0; i < o->n_classes; i++) {
        if (!o->classes[i]) {
            free(ent);
            return nn_errf(e, NN_EINVAL, "%s: class name %d is NULL", name, i);
        }
        ent[i].name = o->classes[i];
        ent[i].index = i;
    }
    /* Sorted by (name, index): the first of duplicate names wins. */
    qsort(ent, (size_t)o->n_classes, sizeof *ent, cmp_ent);
    m->ent = ent;
    m->n = o->n_classes;
    return NN_OK;
}

void nn_classmap_free(nn_classmap *m)
{
    free(m->ent);
    memset(m, 0, sizeof *m);
}

static int map_lookup(const nn_classmap *m, const char *text)
{
    const nn_class_ent *ent = m->ent;
    int lo = 0, hi = m->n;
    while (lo < hi) {  /* first entry with name >= text */
        int mid = lo + (hi - lo) / 2;
        if (strcmp(ent[mid].name, text) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && strcmp(ent[lo].name, text) == 0 ? ent[lo].index : -1;
}

int nn_classmap_find(const nn_classmap *m, const char *text)
{
    int i = map_lookup(m, text);
    long long v;
    if (i < 0 && nn_data_parse_int(text, &v)) {
        char canon[32];
        snprintf(canon, sizeof canon, "%lld", v);
        if (strcmp(canon, text) != 0)
            i = map_lookup(m, canon);
    }
    return i;
}

int nn_data_copy_classes(nn_dataset *d, const nn_load_opts *o)
{
    d->class_names = calloc((size_t)o->n_classes, sizeof *d->class_names);
    if (!d->class_names)
        return NN_ENOMEM;
    d->n_classes = o->n_classes;
    for (int i = 0; i < o->n_classes; i++)
        if (!(d->class_names[i] = strdup(o->classes[i])))
            return NN_ENOMEM;
    return NN_OK;
}

int nn_data_range_classes(nn_dataset *d, int n)
{
    d->class_names = calloc((size_t)n, sizeof *d->class_names);
    if (!d->class_names)
        return NN_ENOMEM;
    d->n_classes = n;
    for (int i = 0; i < n; i++) {
        char s[16];
        snprintf(s, sizeof s, "%d", i);
        if (!(d->class_names[i] = strdup(s)))
            return NN_ENOMEM;
    }
    return NN_OK;
}

int nn_data_parse_int(const char *s, long long *v)
{
    while (*s == ' ' || *s == '\t')
        s++;
    int neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    long long x = 0;
    int nd = 0;
    /* 18 digits always fit a long long; longer integers count as non-integers
     * (and are never multiplied out: the 19th digit ends the parse). */
    while (*s >= '0' && *s <= '9') {
        if (nd == 18)
            return 0;
        x = x * 10 + (*s++ - '0');
        nd++;
    }
    if (nd == 0)
        return 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s)
        return 0;
    *v = neg ? -x : x;
    return 1;
}

int nn_data_take_labels(nn_dataset *d, nn_tensor *y, int is_int, int idx_rules,
                        const nn_load_opts *o, const char *name, nn_err *e)
{
    nn_classmap map = {0};
    int rc = NN_OK;
    int64_t n = y->dim[0];
    int column = y->rank == 1 || (y->rank == 2 && y->dim[1] == 1);
    int classes;
    char s[128];

    if ((unsigned)o->label_kind > NN_LABEL_NUMERIC) {
        rc = nn_errf(e, NN_EINVAL, "unknown label kind %d", (int)o->label_kind);
        goto out;
    } else if (o->label_kind == NN_LABEL_NUMERIC) {
        classes = 0;
    } else if (idx_rules) {
        if (!is_int || y->rank != 1) {
            shape_text(y->rank, y->dim, s, sizeof s);
            rc = nn_errf(e, NN_EFORMAT, "%s: class labels must be a rank-1 integer IDX file, got %s %s",
                         name, is_int ? "integer" : "float", s);
            goto out;
        }
        classes = 1;
    } else if (o->label_kind == NN_LABEL_CLASS) {
        if (!column) {
            shape_text(y->rank, y->dim, s, sizeof s);
            rc = nn_errf(e, NN_EFORMAT, "%s: class labels must have shape [n] or [n, 1], got %s",
                         name, s);
            goto out;
        }
        classes = 1;
    } else {
        classes = is_int && column;
    }

    if (!classes) {
        if (y->rank == 1) {
            y->rank = 2;
            y->dim[1] = 1;
        }
        goto out;
    }

    if ((rc = nn_classmap_init(&map, o, name, e)) < 0)
        goto out;
    double max = -1;
    for (int64_t i = 0; i < n; i++) {
        double v = y->data[i];
        if (v != floor(v)) {
            rc = nn_errf(e, NN_EFORMAT, "%s: element %lld (%g) is not an integer class label", name,
                         (long long)i, v);
            goto out;
        }
        if (map.n > 0) {
            int k = -1;
            if (fabs(v) < 1e18) {
                snprintf(s, sizeof s, "%lld", (long long)v);
                k = nn_classmap_find(&map, s);
            }
            if (k < 0) {
                rc = nn_errf(e, NN_EFORMAT, "%s: element %lld: label %.0f is not one of the %d given classes",
                             name, (long long)i, v, map.n);
                goto out;
            }
            y->data[i] = (nn_real)k;
        } else {
            if (v < 0) {
                rc = nn_errf(e, NN_EFORMAT, "%s: element %lld: negative class label %.0f", name,
                             (long long)i, v);
                goto out;
            }
            if (v >= NN_DATA_MAX_CLASSES) {
                rc = nn_errf(e, NN_ELIMIT, "%s: element %lld: class label %.0f exceeds the limit of %d classes",
                             name, (long long)i, v, NN_DATA_MAX_CLASSES);
                goto out;
            }
            if (v > max)
                max = v;
        }
    }
    rc = map.n > 0 ? nn_data_copy_classes(d, o) : nn_data_range_classes(d, (int)max + 1);
    if (rc < 0) {
        nn_errf(e, rc, "%s: out of memory for class names", name);
        goto out;
    }
    y->rank = 1;
    for (int i = 1; i < NN_MAX_RANK; i++)
        y->dim[i] = 0;

out:
    nn_classmap_free(&map);
    if (rc < 0) {
        nn_tensor_free(y);
    } else {
        d->y = *y;
        memset(y, 0, sizeof *y);
    }
    return rc;
}

int nn_data_read_pair(nn_tensor_reader read, int idx_rules, const char *x_path,
                      const char *y_path, const nn_load_opts *o, nn_dataset *out, nn_err *e)
{
    nn_load_opts def;
    nn_tensor y = {0};
    int x_u8 = 0, y_int = 0;

    memset(out, 0, sizeof *out);
    if (!o) {
        nn_load_opts_default(&def);
        o = &def;
    }
    /* x may take the whole value budget, y what x left of it */
    int64_t lim = nn_data_max_elems(o), vals = nn_data_max_values(o);
    int rc = read(x_path, lim < vals ? lim : vals, &out->x, NULL, &x_u8, e);
    if (rc < 0)
        goto out;
    vals -= nn_tensor_numel(&out->x);
    if (vals <= 0) {
        rc = nn_errf(e, NN_ELIMIT, "%s: the features take all of the limit of %lld values, "
                     "leaving none for the labels", nn_data_basename(x_path),
                     (long long)nn_data_max_values(o));
        goto out;
    }
    if ((rc = read(y_path, lim < vals ? lim : vals, &y, &y_int, NULL, e)) < 0)
        goto out;
    if (y.dim[0] != out->x.dim[0]) {
        rc = nn_errf(e, NN_EFORMAT, "%s has %lld %s but %s has %lld labels",
                     nn_data_basename(x_path), (long long)out->x.dim[0],
                     idx_rules ? "images" : "samples", nn_data_basename(y_path),
                     (long long)y.dim[0]);
        goto out;
    }
    nn_tensor *x = &out->x;
    if (x->rank == 1) {
        x->rank = 2;
        x->dim[1] = 1;
    } else if (idx_rules && x->rank == 3) {
        /* IDX images [n, rows, cols] -> [n, 1, rows, cols]: one channel */
        x->dim[3] = x->dim[2];
        x->dim[2] = x->dim[1];
        x->dim[1] = 1;
        x->rank = 4;
    }
    if (x_u8 && o->scale_u8)
        nn_data_scale_u8(x);
    rc = nn_data_take_labels(out, &y, y_int, idx_rules, o, nn_data_basename(y_path), e);
out:
    nn_tensor_free(&y);
    if (rc < 0)
        nn_dataset_free(out);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The bytes a header claims                                                */

static int truncated(const nn_rd *r, int64_t present, int64_t need, nn_err *e)
{
    return nn_errf(e, NN_EFORMAT, "%s: truncated data: %lld of %lld bytes present", r->name,
                   (long long)present, (long long)need);
}

/* Inflates and counts up to need bytes of r, then seeks back. */
static int count_stream(nn_rd *r, int64_t need, nn_err *e)
{
    unsigned char buf[16384];
    int64_t at = r->pos, got = 0;
    while (got < need) {
        int64_t want = need - got < (int64_t)sizeof buf ? need - got : (int64_t)sizeof buf;
        int64_t k = nn_rd_read(r, buf, (size_t)want, e);
        if (k < 0)
            return (int)k;
        got += k;
        if (k < want)
            return truncated(r, got, need, e);
    }
    if (gzseek(r->f, (z_off_t)at, SEEK_SET) != (z_off_t)at)
        return nn_errf(e, NN_EIO, "%s: cannot go back to byte %lld of the data", r->name,
                       (long long)at);
    r->pos = at;
    return NN_OK;
}

int nn_rd_require(nn_rd *r, const char *path, nn_elem t, int rank, const int64_t *dim,
                  nn_err *e)
{
    struct stat st;
    int64_t need = (int64_t)nn_elem_size(t);
    for (int i = 0; i < rank; i++)
        need *= dim[i];   /* <= NN_TENSOR_MAX_ELEMS * 8: no overflow */
    if (!gzdirect(r->f))
        return count_stream(r, need, e);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NN_OK;
    int64_t present = (int64_t)st.st_size - r->pos;
    if (present < 0)
        present = 0;
    return present < need ? truncated(r, present, need, e) : NN_OK;
}
