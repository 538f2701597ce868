/*
 * csv.c — the CSV dataset reader (nn_csv_read; see data.h).
 *
 * The file is streamed through the gzip-transparent reader one record at a
 * time: memory holds the growing x and y, one record, the header and, for
 * class labels decided at the end, the label texts; never the whole file.
 *
 * Syntax (RFC 4180 plus the usual leniencies): fields are separated by
 * opts->delimiter; a field may be quoted, with "" for a quote inside, and may
 * then hold delimiters and newlines; spaces and tabs around an unquoted field
 * or outside the quotes are dropped; LF, CRLF and lone CR end a record; blank
 * lines are skipped.  Line numbers in messages are physical lines, 1-based,
 * of the record's first line; column numbers are 1-based.
 *
 * Invariants:
 *   - every data record has exactly as many fields as the header;
 *   - x and y hold only finite values, checked as nn_real (a number that
 *     overflows float is rejected, not stored as Inf);
 *   - the decompressed bytes (CSV_BYTES_PER_ELEM per allowed element), the
 *     record size, the field count and the element counts are bounded while
 *     reading, before memory grows, so a gzip bomb stops early.
 */
#include "data_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_COLS 65536
#define CSV_MAX_RECORD ((size_t)64 << 20)
/* Generous: "-1.2345678901234567e-308," is 25 bytes; labels can be long text. */
#define CSV_BYTES_PER_ELEM 256
#define CSV_SHOW 32  /* bytes of offending text quoted in a message */

typedef struct csv {
    nn_rd rd;
    int delim;
    int64_t max_bytes;   /* of decompressed text */
    int64_t max_elems;
    int64_t line;        /* physical line of the next byte */
    /* The current record: fields back to back, each NUL-terminated. */
    char *text;
    size_t len, cap;
    size_t *off;         /* field i starts at text + off[i] */
    int nf, cap_f;
    int quoted0;         /* field 0 was quoted (a blank line is not) */
    unsigned char back[3];  /* bytes pushed back, a stack */
    int n_back;
} csv;

/* How the label column is read. */
enum { LAB_MAP, LAB_NUMERIC, LAB_DEFER };

static int csv_getc(csv *c)
{
    return c->n_back ? c->back[--c->n_back] : nn_rd_getc(&c->rd);
}

static void csv_ungetc(csv *c, int ch)
{
    c->back[c->n_back++] = (unsigned char)ch;
}

/* Drops a UTF-8 byte-order mark (spreadsheets write one), which would
 * otherwise become part of the first header name. */
static void skip_bom(csv *c)
{
    int b[3], n = 0;
    static const int bom[3] = {0xEF, 0xBB, 0xBF};
    while (n < 3 && (b[n] = csv_getc(c)) == bom[n])
        n++;
    if (n == 3)
        return;
    if (b[n] >= 0)
        csv_ungetc(c, b[n]);
    while (n > 0)
        csv_ungetc(c, b[--n]);
}

static int is_ws(const csv *c, int ch)
{
    return (ch == ' ' || ch == '\t') && ch != c->delim;
}

/* "text" shortened to CSV_SHOW bytes, for messages. */
static const char *show(const char *s, char *buf, size_t len)
{
    size_t n = strlen(s);
    if (n <= CSV_SHOW)
        return s;
    snprintf(buf, len, "%.*s...", CSV_SHOW, s);
    return buf;
}

static int push(csv *c, int ch, int64_t line, nn_err *e)
{
    if (c->len == c->cap) {
        if (c->cap >= CSV_MAX_RECORD)
            return nn_errf(e, NN_ELIMIT, "%s: line %lld: record longer than %zu bytes", c->rd.name,
                           (long long)line, CSV_MAX_RECORD);
        size_t cap = c->cap ? c->cap * 2 : 1024;
        char *t = realloc(c->text, cap);
        if (!t)
            return nn_errf(e, NN_ENOMEM, "%s: out of memory", c->rd.name);
        c->text = t;
        c->cap = cap;
    }
    c->text[c->len++] = (char)ch;
    return NN_OK;
}

/* Terminates the field that started at text + start. */
static int end_field(csv *c, size_t start, int quoted, int64_t line, nn_err *e)
{
    if (!quoted)
        while (c->len > start && is_ws(c, (unsigned char)c->text[c->len - 1]))
            c->len--;
    int rc = push(c, 0, line, e);
    if (rc < 0)
        return rc;
    if (c->nf == CSV_MAX_COLS)
        return nn_errf(e, NN_ELIMIT, "%s: line %lld: more than %d fields", c->rd.name,
                       (long long)line, CSV_MAX_COLS);
    if (c->nf == c->cap_f) {
        int cap = c->cap_f ? c->cap_f * 2 : 64;
        size_t *o = realloc(c->off, (size_t)cap * sizeof *o);
        if (!o)
            return nn_errf(e, NN_ENOMEM, "%s: out of memory", c->rd.name);
        c->off = o;
        c->cap_f = cap;
    }
    if (c->nf == 0)
        c->quoted0 = quoted;
    c->off[c->nf++] = start;
    return NN_OK;
}

enum { S_START, S_UNQ, S_QUO, S_QQ, S_AFTER };

/* Reads one record (possibly blank).  1: a record; 0: end of file; <0: error.
 * *first receives the line the record starts on. */
static int read_record(csv *c, int64_t *first, nn_err *e)
{
    int st = S_START, quoted = 0, any = 0, rc;
    size_t start = 0;
    c->len = 0;
    c->nf = 0;
    c->quoted0 = 0;
    *first = c->line;
    for (;;) {
        int ch = csv_getc(c);
        if (ch < 0) {
            if ((rc = nn_rd_status(&c->rd, e)) < 0)
                return rc;
            if (!any)
                return 0;
            if (st == S_QUO)
                return nn_errf(e, NN_EFORMAT, "%s: line %lld: unterminated quoted field", c->rd.name,
                               (long long)*first);
            rc = end_field(c, start, quoted, *first, e);
            return rc < 0 ? rc : 1;
        }
        any = 1;
        if (c->rd.pos > c->max_bytes)
            return nn_errf(e, NN_ELIMIT, "%s: more than %lld bytes of CSV text (the limit for %lld elements)",
                           c->rd.name, (long long)c->max_bytes, (long long)c->max_elems);
        if (ch == 0)
            return nn_errf(e, NN_EFORMAT, "%s: line %lld: NUL byte (not a text file?)", c->rd.name,
                           (long long)c->line);
        int eol = ch == '\n' || ch == '\r';
        if (st == S_QUO) {
            if (ch == '"') {
                st = S_QQ;
            } else {
                if (ch == '\n')
                    c->line++;
                if ((rc = push(c, ch, *first, e)) < 0)
                    return rc;
            }
            continue;
        }
        if (st == S_QQ) {
            if (ch == '"') {  /* "" inside quotes */
                st = S_QUO;
                if ((rc = push(c, '"', *first, e)) < 0)
                    return rc;
                continue;
            }
            st = S_AFTER;
        }
        if (ch == c->delim || eol) {
            if ((rc = end_field(c, start, quoted, *first, e)) < 0)
                return rc;
            start = c->len;
            quoted = 0;
            st = S_START;
            if (eol) {
                if (ch == '\r') {
                    int nx = csv_getc(c);
                    if (nx >= 0 && nx != '\n')
                        csv_ungetc(c, nx);
                }
                c->line++;
                return 1;
            }
            continue;
        }
        switch (st) {
        case S_START:
            if (is_ws(c, ch))
                break;
            if (ch == '"') {
                quoted = 1;
                st = S_QUO;
                break;
            }
            st = S_UNQ;
            if ((rc = push(c, ch, *first, e)) < 0)
                return rc;
            break;
        case S_UNQ:
            if ((rc = push(c, ch, *first, e)) < 0)
                return rc;
            break;
        default: /* S_AFTER */
            if (is_ws(c, ch))
                break;
            return nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d: text after a closing quote",
                           c->rd.name, (long long)*first, c->nf + 1);
        }
    }
}

/* The next record that is not a blank line. */
static int next_record(csv *c, int64_t *first, nn_err *e)
{
    for (;;) {
        int rc = read_record(c, first, e);
        if (rc <= 0)
            return rc;
        if (!(c->nf == 1 && !c->quoted0 && c->text[c->off[0]] == 0))
            return 1;
    }
}

/* 0: a finite number (as nn_real) in *v; 1: not a number; 2: NaN; 3: infinite
 * or out of range for nn_real.  Decimal strtod syntax, spaces around allowed;
 * hexadecimal floats are refused, as other CSV tools read them as text. */
static int parse_real(const char *s, double *v)
{
    char *end;
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '-' || *p == '+')
        p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return 1;
    double d = strtod(s, &end);
    if (end == s)
        return 1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return 1;
    if (isnan(d))
        return 2;
    if (isinf(d) || !isfinite((nn_real)d))
        return 3;
    *v = d;
    return 0;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* p with room for `need` items of size sz (*cap items now), doubling; NULL
 * when out of memory, p then still valid. */
static void *grow(void *p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / sz)
        return NULL;
    void *q = realloc(p, c * sz);
    if (q)
        *cap = c;
    return q;
}

/* Deferred class labels: texts in `arena` at `loff[i]` for each row.  Sets
 * d->y [n] and the classes: integers sorted numerically when every label is
 * one, else texts sorted bytewise. */
static int finish_classes(nn_dataset *d, const char *arena, const size_t *loff, int64_t n,
                          int all_int, const char *fname, const char *colname, nn_err *e)
{
    long long *vals = NULL, *uniq = NULL;
    char **ptrs = NULL, **ustr = NULL;
    int64_t nu = 0;
    int rc = nn_tensor_alloc(&d->y, 1, &n);
    if (rc < 0) {
        rc = NN_ENOMEM;
        goto out;
    }
    if (all_int) {
        vals = malloc((size_t)n * sizeof *vals);
        uniq = malloc((size_t)n * sizeof *uniq);
        if (!vals || !uniq) {
            rc = NN_ENOMEM;
            goto out;
        }
        for (int64_t i = 0; i < n; i++)
            nn_data_parse_int(arena + loff[i], &vals[i]);
        memcpy(uniq, vals, (size_t)n * sizeof *uniq);
        qsort(uniq, (size_t)n, sizeof *uniq, cmp_ll);
        for (int64_t i = 0; i < n; i++)
            if (i == 0 || uniq[i] != uniq[nu - 1])
                uniq[nu++] = uniq[i];
    } else {
        ptrs = malloc((size_t)n * sizeof *ptrs);
        ustr = malloc((size_t)n * sizeof *ustr);
        if (!ptrs || !ustr) {
            rc = NN_ENOMEM;
            goto out;
        }
        for (int64_t i = 0; i < n; i++)
            ptrs[i] = (char *)arena + loff[i];
        memcpy(ustr, ptrs, (size_t)n * sizeof *ustr);
        qsort(ustr, (size_t)n, sizeof *ustr, cmp_str);
        for (int64_t i = 0; i < n; i++)
            if (i == 0 || strcmp(ustr[i], ustr[nu - 1]) != 0)
                ustr[nu++] = ustr[i];
    }
    if (nu > NN_DATA_MAX_CLASSES) {
        rc = nn_errf(e, NN_ELIMIT,
                     "%s: label column \"%.*s\" has %lld distinct values, over the limit of %d classes (a target? use label kind numeric)",
                     fname, CSV_SHOW, colname, (long long)nu, NN_DATA_MAX_CLASSES);
        goto out;
    }
    if (!(d->class_names = calloc((size_t)nu, sizeof *d->class_names))) {
        rc = NN_ENOMEM;
        goto out;
    }
    d->n_classes = (int)nu;
    for (int64_t k = 0; k < nu; k++) {
        char num[32];
        if (all_int)
            snprintf(num, sizeof num, "%lld", uniq[k]);
        if (!(d->class_names[k] = strdup(all_int ? num : ustr[k]))) {
            rc = NN_ENOMEM;
            goto out;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        void *hit = all_int ? bsearch(&vals[i], uniq, (size_t)nu, sizeof *uniq, cmp_ll)
                            : bsearch(&ptrs[i], ustr, (size_t)nu, sizeof *ustr, cmp_str);
        d->y.data[i] = (nn_real)(all_int ? (long long *)hit - uniq : (char **)hit - ustr);
    }

out:
    if (rc == NN_ENOMEM)
        nn_errf(e, rc, "%s: out of memory for the class labels", fname);
    free(vals);
    free(uniq);
    free(ptrs);
    free(ustr);
    return rc;
}

/* The label column: a header name first, then a 0-based decimal index. */
static int find_label(const char *label, const char *htext, const size_t *hoff, int k)
{
    if (!label)
        return k - 1;
    for (int j = 0; j < k; j++)
        if (strcmp(htext + hoff[j], label) == 0)
            return j;
    long long v;
    if (label[0] >= '0' && label[0] <= '9' && nn_data_parse_int(label, &v) && v < k)
        return (int)v;
    return -1;
}

int nn_csv_read(const char *path, const nn_load_opts *o, nn_dataset *out, nn_err *e)
{
    nn_load_opts def;
    csv c;
    nn_classmap map = {0};
    char *htext = NULL, *arena = NULL;
    size_t *hoff = NULL, *loff = NULL;
    nn_real *xb = NULL, *yb = NULL;
    size_t xcap = 0, ycap = 0, acap = 0, alen = 0, lcap = 0;
    int64_t rows = 0, line = 0;
    int all_int = 1, all_num = 1, rc;
    char b1[CSV_SHOW + 4], b2[CSV_SHOW + 4];

    memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    if (!o) {
        nn_load_opts_default(&def);
        o = &def;
    }
    c.delim = o->delimiter ? (unsigned char)o->delimiter : ',';
    if (c.delim == '"' || c.delim == '\n' || c.delim == '\r')
        return nn_errf(e, NN_EINVAL, "the CSV delimiter cannot be a quote or a newline");
    if ((unsigned)o->label_kind > NN_LABEL_NUMERIC)
        return nn_errf(e, NN_EINVAL, "unknown label kind %d", (int)o->label_kind);
    int64_t lim = nn_data_max_elems(o);
    c.max_bytes = lim > (INT64_MAX - (1 << 20)) / CSV_BYTES_PER_ELEM
                      ? INT64_MAX : lim * CSV_BYTES_PER_ELEM + (1 << 20);
    c.max_elems = lim;
    c.line = 1;
    if ((rc = nn_rd_open(&c.rd, path, e)) < 0)
        return rc;
    const char *fn = c.rd.name;
    skip_bom(&c);

    /* The header. */
    if ((rc = next_record(&c, &line, e)) < 0)
        goto out;
    if (rc == 0) {
        rc = nn_errf(e, NN_EFORMAT, "%s: empty file (a header row is required)", fn);
        goto out;
    }
    int k = c.nf;
    if (k < 2) {
        rc = nn_errf(e, NN_EFORMAT, "%s: line %lld: the header has 1 column; features and a label need at least 2",
                     fn, (long long)line);
        goto out;
    }
    htext = malloc(c.len);
    hoff = malloc((size_t)k * sizeof *hoff);
    if (!htext || !hoff) {
        rc = nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
        goto out;
    }
    memcpy(htext, c.text, c.len);
    memcpy(hoff, c.off, (size_t)k * sizeof *hoff);
    int lab = find_label(o->label, htext, hoff, k);
    if (lab < 0) {
        rc = nn_errf(e, NN_EINVAL, "%s: no label column \"%s\" (not a header name, nor an index 0..%d)",
                     fn, show(o->label, b1, sizeof b1), k - 1);
        goto out;
    }
    const char *labname = htext + hoff[lab];
    int64_t nfeat = k - 1;

    int mode = o->label_kind == NN_LABEL_NUMERIC ? LAB_NUMERIC : o->classes ? LAB_MAP : LAB_DEFER;
    if (mode == LAB_MAP && (rc = nn_classmap_init(&map, o, fn, e)) < 0)
        goto out;

    /* The rows. */
    while ((rc = next_record(&c, &line, e)) == 1) {
        if (c.nf != k) {
            rc = nn_errf(e, NN_EFORMAT, "%s: line %lld: expected %d fields, found %d", fn,
                         (long long)line, k, c.nf);
            goto out;
        }
        if (rows >= lim || (rows + 1) > lim / nfeat) {
            rc = nn_errf(e, NN_ELIMIT, "%s: line %lld: more than the limit of %lld values", fn,
                         (long long)line, (long long)lim);
            goto out;
        }
        nn_real *gx = grow(xb, &xcap, (size_t)((rows + 1) * nfeat), sizeof *xb);
        if (gx)
            xb = gx;
        nn_real *gy = grow(yb, &ycap, (size_t)(rows + 1), sizeof *yb);
        if (gy)
            yb = gy;
        if (!gx || !gy) {
            rc = nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
            goto out;
        }
        nn_real *xr = xb + rows * nfeat;
        for (int j = 0; j < k; j++) {
            const char *s = c.text + c.off[j];
            double v;
            int pr;
            if (j == lab)
                continue;
            if ((pr = parse_real(s, &v)) != 0) {
                rc = nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d (\"%s\"): %s: \"%s\"", fn,
                             (long long)line, j + 1, show(htext + hoff[j], b1, sizeof b1),
                             pr == 1 ? "not a number" : pr == 2 ? "NaN is not allowed"
                                                                : "infinite or out of range",
                             show(s, b2, sizeof b2));
                goto out;
            }
            *xr++ = (nn_real)v;
        }

        const char *s = c.text + c.off[lab];
        double v;
        long long iv;
        int pr = parse_real(s, &v);
        if (!*s) {
            rc = nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d (\"%s\"): empty label", fn,
                         (long long)line, lab + 1, show(labname, b1, sizeof b1));
            goto out;
        }
        if (mode == LAB_MAP) {
            int idx = nn_classmap_find(&map, s);
            if (idx < 0) {
                rc = nn_errf(e, NN_EFORMAT, "%s: line %lld: label \"%s\" is not one of the %d given classes",
                             fn, (long long)line, show(s, b1, sizeof b1), map.n);
                goto out;
            }
            yb[rows] = (nn_real)idx;
        } else if (pr != 0 && (mode == LAB_NUMERIC || (pr != 1 && o->label_kind == NN_LABEL_AUTO))) {
            /* A numeric label must be a finite number; under AUTO a "nan" or
             * "inf" among labels is a missing or broken value, not a class. */
            rc = nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d (\"%s\"): %s: \"%s\"", fn,
                         (long long)line, lab + 1, show(labname, b1, sizeof b1),
                         pr == 1 ? "not a number" : pr == 2 ? "NaN is not allowed"
                                                            : "infinite or out of range",
                         show(s, b2, sizeof b2));
            goto out;
        } else if (mode == LAB_NUMERIC) {
            yb[rows] = (nn_real)v;
        } else {
            size_t n = strlen(s) + 1;
            all_num &= pr == 0;
            all_int &= nn_data_parse_int(s, &iv);
            char *ga = grow(arena, &acap, alen + n, 1);
            if (ga)
                arena = ga;
            size_t *gl = grow(loff, &lcap, (size_t)rows + 1, sizeof *loff);
            if (gl)
                loff = gl;
            if (!ga || !gl) {
                rc = nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
                goto out;
            }
            memcpy(arena + alen, s, n);
            loff[rows] = alen;
            alen += n;
        }
        rows++;
    }
    if (rc < 0)
        goto out;
    if (rows == 0) {
        rc = nn_errf(e, NN_EFORMAT, "%s: no data rows after the header", fn);
        goto out;
    }

    /* x [rows, nfeat]: hand the buffer over, trimmed. */
    nn_real *t = realloc(xb, (size_t)(rows * nfeat) * sizeof *xb);
    if (t)
        xb = t;
    out->x.rank = 2;
    out->x.dim[0] = rows;
    out->x.dim[1] = nfeat;
    out->x.data = xb;
    xb = NULL;

    if (mode == LAB_DEFER && (all_int || !all_num || o->label_kind == NN_LABEL_CLASS)) {
        rc = finish_classes(out, arena, loff, rows, all_int, fn, labname, e);
        goto out;
    }
    if (mode == LAB_DEFER) {
        /* AUTO with non-integer numbers: numeric targets. */
        for (int64_t i = 0; i < rows; i++) {
            double v = 0;
            parse_real(arena + loff[i], &v);
            yb[i] = (nn_real)v;
        }
    }
    out->y.data = yb;
    yb = NULL;
    if (mode == LAB_MAP) {
        out->y.rank = 1;
        out->y.dim[0] = rows;
        if ((rc = nn_data_copy_classes(out, o)) < 0)
            nn_errf(e, rc, "%s: out of memory", fn);
    } else {
        out->y.rank = 2;
        out->y.dim[0] = rows;
        out->y.dim[1] = 1;
    }

out:
    nn_rd_close(&c.rd);
    nn_classmap_free(&map);
    free(c.text);
    free(c.off);
    free(htext);
    free(hoff);
    free(arena);
    free(loff);
    free(xb);
    free(yb);
    if (rc < 0)
        nn_dataset_free(out);
    return rc < 0 ? rc : NN_OK;
}
