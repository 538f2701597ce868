/*
 * npy.c — the NPY reader (NumPy's .npy format; see data.h).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length
 * (little-endian u16 in version 1.0, u32 in 2.0 and 3.0), the header — a
 * Python dict literal such as {'descr': '<f4', 'fortran_order': False,
 * 'shape': (3, 4), } padded with spaces and a newline — then the elements.
 *
 * The header comes from whoever uploaded the file, so it is parsed, not
 * evaluated or pattern-matched: a small recursive-descent parser accepts any
 * key order, whitespace, trailing commas, both quote styles, (n,) / (n) / ()
 * shapes and Python 2 "3L" integers, ignores unknown keys, and fails with the
 * offset of the first thing it cannot read.
 *
 * Invariants: the header length is bounded before allocation and must fit in
 * the file; the shape is validated (without overflow) against the element
 * limit, and the file is seen to hold the bytes it describes (nn_rd_require),
 * before the data are allocated; the data must be exactly the bytes the
 * shape and dtype describe.
 */
#include "reader.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* numpy itself refuses headers over 10000 bytes by default; be more lenient. */
#define NPY_MAX_HEADER (1u << 20)

static const struct {
    const char *descr;
    nn_elem t;
    int big_endian;
} dtypes[] = {
    {"<f4", NN_EL_F32, 0}, {">f4", NN_EL_F32, 1}, {"<f8", NN_EL_F64, 0}, {">f8", NN_EL_F64, 1},
    {"|u1", NN_EL_U8, 0},  {"<u1", NN_EL_U8, 0},  {">u1", NN_EL_U8, 0},
    {"|i1", NN_EL_I8, 0},  {"<i1", NN_EL_I8, 0},  {">i1", NN_EL_I8, 0},
    {"|b1", NN_EL_B1, 0},  {"<b1", NN_EL_B1, 0},  {">b1", NN_EL_B1, 0},
    {"<i4", NN_EL_I32, 0}, {">i4", NN_EL_I32, 1}, {"<i8", NN_EL_I64, 0}, {">i8", NN_EL_I64, 1},
    {"<u4", NN_EL_U32, 0}, {">u4", NN_EL_U32, 1},
};

/* ------------------------------------------------------------------------ */
/* The header's dict literal                                                */

enum { PV_STR, PV_INT, PV_BOOL, PV_NONE, PV_SEQ };

typedef struct pyval {
    int kind;
    char str[40];                /* PV_STR, truncated to fit */
    size_t str_len;              /* its full length */
    long long num;               /* PV_INT */
    int truth;                   /* PV_BOOL */
    long long item[NN_MAX_RANK]; /* PV_SEQ: the first items, when integers */
    int n_items;
    int ints_only;
} pyval;

typedef struct hparse {
    const char *s;
    size_t i, n;
    const char *why;             /* what failed, at offset i */
} hparse;

static int peek(const hparse *p)
{
    return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

static void skip_ws(hparse *p)
{
    int c;
    while ((c = peek(p)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        p->i++;
}

static int fail(hparse *p, const char *why)
{
    p->why = why;
    return -1;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int parse_value(hparse *p, pyval *v, int depth)
{
    memset(v, 0, sizeof *v);
    skip_ws(p);
    int c = peek(p);
    if (c == '\'' || c == '"') {
        int quote = c;
        p->i++;
        v->kind = PV_STR;
        for (;;) {
            c = peek(p);
            if (c < 0)
                return fail(p, "unterminated string");
            p->i++;
            if (c == quote)
                break;
            if (c == '\\') {  /* keep the escaped character as it is */
                if ((c = peek(p)) < 0)
                    return fail(p, "unterminated string");
                p->i++;
            }
            if (v->str_len < sizeof v->str - 1)
                v->str[v->str_len] = (char)c;
            v->str_len++;
        }
        return 0;
    }
    if (c == '(' || c == '[') {
        int close = c == '(' ? ')' : ']';
        if (depth >= 4)
            return fail(p, "nesting too deep");
        p->i++;
        v->kind = PV_SEQ;
        v->ints_only = 1;
        for (;;) {
            skip_ws(p);
            if (peek(p) == close) {
                p->i++;
                return 0;
            }
            pyval item;
            if (parse_value(p, &item, depth + 1) < 0)
                return -1;
            if (item.kind != PV_INT)
                v->ints_only = 0;
            else if (v->n_items < NN_MAX_RANK)
                v->item[v->n_items] = item.num;
            if (v->n_items < INT_MAX)
                v->n_items++;
            skip_ws(p);
            c = peek(p);
            if (c == ',') {
                p->i++;
            } else if (c != close) {
                return fail(p, "expected ',' or the end of a tuple");
            }
        }
    }
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
        int neg = c == '-';
        long long x = 0;
        int nd = 0;
        if (c == '-' || c == '+')
            p->i++;
        while ((c = peek(p)) >= '0' && c <= '9') {
            if (x > (LLONG_MAX - 9) / 10)
                return fail(p, "integer too large");
            x = x * 10 + (c - '0');
            nd++;
            p->i++;
        }
        if (nd == 0)
            return fail(p, "expected digits");
        if ((c = peek(p)) == 'L' || c == 'l')  /* Python 2 long */
            p->i++;
        v->kind = PV_INT;
        v->num = neg ? -x : x;
        return 0;
    }
    if (is_alpha(c)) {
        size_t start = p->i;
        while (is_alpha(peek(p)) || (peek(p) >= '0' && peek(p) <= '9'))
            p->i++;
        size_t len = p->i - start;
        const char *w = p->s + start;
        if (len == 4 && memcmp(w, "True", 4) == 0) {
            v->kind = PV_BOOL;
            v->truth = 1;
        } else if (len == 5 && memcmp(w, "False", 5) == 0) {
            v->kind = PV_BOOL;
        } else if (len == 4 && memcmp(w, "None", 4) == 0) {
            v->kind = PV_NONE;
        } else {
            p->i = start;
            return fail(p, "unknown name");
        }
        return 0;
    }
    return fail(p, "expected a value");
}

/* {'descr': ..., 'fortran_order': ..., 'shape': ...}; *missing names an absent key. */
static int parse_header(hparse *p, pyval *descr, pyval *fortran, pyval *shape,
                        const char **missing)
{
    int have_d = 0, have_f = 0, have_s = 0;
    *missing = NULL;
    skip_ws(p);
    if (peek(p) != '{')
        return fail(p, "expected '{'");
    p->i++;
    for (;;) {
        skip_ws(p);
        if (peek(p) == '}')
            break;
        pyval key, val;
        size_t at = p->i;
        if (parse_value(p, &key, 0) < 0)
            return -1;
        if (key.kind != PV_STR) {
            p->i = at;
            return fail(p, "expected a quoted key");
        }
        skip_ws(p);
        if (peek(p) != ':')
            return fail(p, "expected ':'");
        p->i++;
        skip_ws(p);
        at = p->i;
        if (parse_value(p, &val, 0) < 0)
            return -1;
        int *have = NULL;
        pyval *dst = NULL;
        if (strcmp(key.str, "descr") == 0) {
            have = &have_d;
            dst = descr;
        } else if (strcmp(key.str, "fortran_order") == 0) {
            have = &have_f;
            dst = fortran;
            if (val.kind != PV_BOOL) {
                p->i = at;
                return fail(p, "fortran_order must be True or False");
            }
        } else if (strcmp(key.str, "shape") == 0) {
            have = &have_s;
            dst = shape;
            if (val.kind != PV_SEQ || !val.ints_only) {
                p->i = at;
                return fail(p, "shape must be a tuple of integers");
            }
        }
        if (have) {
            if (*have) {
                p->i = at;
                return fail(p, "duplicate key");
            }
            *have = 1;
            *dst = val;
        }
        skip_ws(p);
        if (peek(p) == ',') {
            p->i++;
        } else if (peek(p) != '}') {
            return fail(p, "expected ',' or '}'");
        }
    }
    p->i++;
    skip_ws(p);
    if (p->i < p->n)
        return fail(p, "unexpected text after '}'");
    *missing = !have_d ? "descr" : !have_f ? "fortran_order" : !have_s ? "shape" : NULL;
    return *missing ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

int nn_npy_read_lim(const char *path, int64_t max_elems, nn_tensor *out, int *is_int,
                    int *is_u8, nn_err *e)
{
    nn_rd r;
    unsigned char pre[12];
    char *hdr = NULL;
    int64_t dim[NN_MAX_RANK];

    memset(out, 0, sizeof *out);
    if (is_int)
        *is_int = 0;
    if (is_u8)
        *is_u8 = 0;
    int rc = nn_rd_open(&r, path, e);
    if (rc < 0)
        return rc;

    int64_t got = nn_rd_read(&r, pre, 8, e);
    if (got < 0) {
        rc = (int)got;
        goto out;
    }
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = nn_errf(e, NN_EFORMAT, "%s: not an NPY file (bad magic)", r.name);
        goto out;
    }
    if (got < 8) {
        rc = nn_errf(e, NN_EFORMAT, "%s: truncated NPY header", r.name);
        goto out;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        rc = nn_errf(e, NN_EFORMAT, "%s: unsupported NPY format version %d.%d (1.0, 2.0, 3.0 are)",
                     r.name, major, minor);
        goto out;
    }
    size_t lensz = major == 1 ? 2 : 4;
    got = nn_rd_read(&r, pre + 8, lensz, e);
    if (got < 0) {
        rc = (int)got;
        goto out;
    }
    if ((size_t)got < lensz) {
        rc = nn_errf(e, NN_EFORMAT, "%s: truncated NPY header", r.name);
        goto out;
    }
    uint32_t hl = pre[8] | (uint32_t)pre[9] << 8;
    if (lensz == 4)
        hl |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hl > NPY_MAX_HEADER) {
        rc = nn_errf(e, NN_ELIMIT, "%s: NPY header length %lu exceeds the limit of %u bytes", r.name,
                     (unsigned long)hl, NPY_MAX_HEADER);
        goto out;
    }
    if (!(hdr = malloc((size_t)hl + 1))) {
        rc = nn_errf(e, NN_ENOMEM, "%s: out of memory", r.name);
        goto out;
    }
    got = nn_rd_read(&r, hdr, hl, e);
    if (got < 0) {
        rc = (int)got;
        goto out;
    }
    if (got < (int64_t)hl) {
        rc = nn_errf(e, NN_EFORMAT, "%s: NPY header length %lu runs past the end of the file (%lld bytes follow)",
                     r.name, (unsigned long)hl, (long long)got);
        goto out;
    }
    hdr[hl] = 0;

    hparse p = {hdr, 0, hl, NULL};
    pyval descr, fortran, shape;
    const char *missing;
    if (parse_header(&p, &descr, &fortran, &shape, &missing) < 0) {
        if (missing)
            rc = nn_errf(e, NN_EFORMAT, "%s: the NPY header has no '%s' key", r.name, missing);
        else
            rc = nn_errf(e, NN_EFORMAT, "%s: bad NPY header: %s at offset %zu", r.name, p.why, p.i);
        goto out;
    }
    if (fortran.truth) {
        rc = nn_errf(e, NN_EFORMAT, "%s: Fortran-order arrays are not supported (save in C order)",
                     r.name);
        goto out;
    }
    if (descr.kind != PV_STR) {
        rc = nn_errf(e, NN_EFORMAT, "%s: unsupported dtype: structured arrays are not supported",
                     r.name);
        goto out;
    }
    int k = -1;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0] && k < 0; i++)
        if (descr.str_len < sizeof descr.str && strcmp(descr.str, dtypes[i].descr) == 0)
            k = (int)i;
    if (k < 0) {
        rc = nn_errf(e, NN_EFORMAT, "%s: unsupported dtype '%s%s' (f4, f8, u1, i1, i4, i8, u4 and b1 are)",
                     r.name, descr.str, descr.str_len < sizeof descr.str ? "" : "...");
        goto out;
    }
    if (shape.n_items > NN_MAX_RANK) {
        rc = nn_errf(e, NN_ELIMIT, "%s: rank %d exceeds the limit of %d", r.name, shape.n_items,
                     NN_MAX_RANK);
        goto out;
    }
    for (int i = 0; i < shape.n_items; i++)
        dim[i] = shape.item[i];
    if ((rc = nn_data_check_dims(r.name, shape.n_items, dim, max_elems, e)) < 0)
        goto out;
    if ((rc = nn_rd_require(&r, path, dtypes[k].t, shape.n_items, dim, e)) < 0)
        goto out;
    if ((rc = nn_data_read_elems(&r, dtypes[k].t, dtypes[k].big_endian, shape.n_items, dim, out,
                                 e)) < 0)
        goto out;
    if ((rc = nn_rd_expect_eof(&r, e)) < 0)
        goto out;
    if (is_int)
        *is_int = nn_elem_is_int(dtypes[k].t);
    if (is_u8)
        *is_u8 = dtypes[k].t == NN_EL_U8;

out:
    free(hdr);
    nn_rd_close(&r);
    if (rc < 0)
        nn_tensor_free(out);
    return rc;
}

int nn_npy_read(const char *path, nn_tensor *out, int *is_int, int *is_u8, nn_err *e)
{
    return nn_npy_read_lim(path, NN_TENSOR_MAX_ELEMS, out, is_int, is_u8, e);
}

int nn_npy_read_pair(const char *x_path, const char *y_path, const nn_load_opts *o,
                     nn_dataset *out, nn_err *e)
{
    return nn_data_read_pair(nn_npy_read_lim, 0, x_path, y_path, o, out, e);
}
