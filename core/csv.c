/*
 * csv.c — the CSV dataset reader (nn_csv_read; see data.h).
 *
 * The file is streamed through the gzip-transparent reader one record at a
 * time: memory holds the growing x, one code per row for the labels, the
 * header, one record, and each distinct label and category text once (in
 * string tables, strtab.h); never the whole file.
 *
 * Syntax (RFC 4180 plus the usual leniencies): fields are separated by the
 * delimiter (given, or detected from the header line); a field may be
 * quoted, with "" for a quote inside, and may then hold delimiters and
 * newlines; spaces and tabs around an unquoted field or outside the quotes
 * are dropped; LF, CRLF and lone CR end a record; blank lines are skipped.
 * Line numbers in messages are physical lines, 1-based, of the record's
 * first line; column numbers are 1-based and count the label column.
 *
 * Columns: a feature column is numeric until a field that is neither a
 * number nor a missing value makes it a text column.  When that happens
 * after the column already held numbers, the file is read a second time
 * with the column known as text from the first row, so that every value of
 * a text column keeps its own spelling ("007", "7.0").  At most two passes.
 *
 * Invariants:
 *   - every data record has exactly as many fields as the header, and every
 *     field is valid UTF-8 without NUL bytes;
 *   - x holds finite numbers, text codes, or NaN exactly where a value was
 *     missing (checked as nn_real: a number that overflows float is
 *     rejected, not stored as Inf); y holds finite values only;
 *   - the decompressed bytes (CSV_BYTES_PER_ELEM per allowed element), the
 *     record size, the field count, the element counts and the distinct
 *     texts of a column are bounded while reading, before memory grows, so
 *     a gzip bomb stops early.
 */
#include "reader.h"

#include "jsonlite.h"
#include "strtab.h"

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
    int64_t max_elems;   /* per tensor */
    int64_t max_values;  /* x and y together, and the texts kept (4 bytes a value) */
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
    if (c->len > start && jl_utf8_valid(c->text + start, c->len - start) != c->len - start)
        return nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d: not UTF-8 text (CSV files must be UTF-8)",
                       c->rd.name, (long long)line, c->nf + 1);
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
            return nn_errf(e, NN_ELIMIT, "%s: more than the limit of %lld bytes of CSV text "
                           "(after decompression)", c->rd.name, (long long)c->max_bytes);
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

/* ------------------------------------------------------------------------ */
/* Cells                                                                    */

/* The spellings of a missing value (besides an empty field and the NaN
 * spellings strtod reads). */
static const char *const missing_words[] = {"NA", "N/A", "na", "n/a", "NULL", "null",
                                            "None", "?", NULL};

static int is_missing(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return 1;
    for (int i = 0; missing_words[i]; i++)
        if (!strcmp(s, missing_words[i]))
            return 1;
    double v;
    /* only a spelling of NaN parses as one, and every one has an n */
    return strpbrk(s, "nN") && parse_real(s, &v) == 2;
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

/* ------------------------------------------------------------------------ */
/* The table being built                                                    */

/* How the label column is read. */
enum { LAB_MAP, LAB_NUMERIC, LAB_DEFER };

/* A feature column while reading. */
typedef struct col {
    int text;             /* a text column (known before this pass, or found in it) */
    int has_number;       /* a number has been stored in this pass */
    nn_strtab cats;       /* text: distinct texts, codes in first-seen order */
    int64_t n_missing, missing_line;
    /* numbers: the distinct values seen, up to NN_COLUMN_MAX_DISTINCT (the
     * bits of each as a double, in an open-addressed set of SET_SLOTS) */
    uint64_t *set;
    int n_distinct;       /* -1 once past the limit */
} col;

#define SET_SLOTS (2 * NN_COLUMN_MAX_DISTINCT)   /* a power of two, at most half full */
#define SET_EMPTY UINT64_MAX                      /* a NaN's bits: never a value */

/* Counts v among the column's distinct numbers.  -1 when out of memory. */
static int count_distinct(col *cl, double v)
{
    if (cl->n_distinct < 0)
        return 0;
    if (!cl->set) {
        if (!(cl->set = malloc(SET_SLOTS * sizeof *cl->set)))
            return -1;
        for (int i = 0; i < SET_SLOTS; i++)
            cl->set[i] = SET_EMPTY;
    }
    uint64_t bits;
    v = v == 0 ? 0 : v;   /* -0 and 0 are one value */
    memcpy(&bits, &v, sizeof bits);
    size_t k = (size_t)((bits * 0x9E3779B97F4A7C15ull) >> 53) & (SET_SLOTS - 1);
    while (cl->set[k] != SET_EMPTY) {
        if (cl->set[k] == bits)
            return 0;
        k = (k + 1) & (SET_SLOTS - 1);
    }
    if (cl->n_distinct == NN_COLUMN_MAX_DISTINCT) {
        cl->n_distinct = -1;
        free(cl->set);
        cl->set = NULL;
        return 0;
    }
    cl->set[k] = bits;
    cl->n_distinct++;
    return 0;
}

/* The header: the column names and the label's place. */
typedef struct hdr {
    char *text;           /* names back to back */
    size_t *off;
    int k;                /* columns, the label's included */
    int lab;              /* the label column */
} hdr;

/* What one pass over the rows builds. */
typedef struct table {
    int mode;             /* LAB_* */
    nn_classmap map;      /* LAB_MAP */
    nn_real *x, *y;       /* x [rows, k-1]; y [rows] (LAB_MAP, LAB_NUMERIC) */
    size_t xcap, ycap;
    int *code;            /* LAB_DEFER: each row's label code in labels */
    size_t ccap;
    nn_strtab labels;
    int all_int, all_num; /* every label text is an integer / a number */
    int64_t rows;
    int64_t text_bytes;   /* the distinct texts kept (labels, categories) */
    col *cols;            /* k-1 */
    int retry;            /* a column turned text after holding numbers: read again */
} table;

static const char *col_name(const hdr *h, int j)
{
    return h->text + h->off[j];
}

/* Column j of the file (0-based, label included) for feature f. */
static int file_col(const hdr *h, int f)
{
    return f < h->lab ? f : f + 1;
}

static void table_reset(table *t)
{
    free(t->x);
    free(t->y);
    free(t->code);
    nn_strtab_free(&t->labels);
    t->x = t->y = NULL;
    t->code = NULL;
    t->xcap = t->ycap = t->ccap = 0;
    t->all_int = t->all_num = 1;
    t->rows = 0;
    t->text_bytes = 0;
    t->retry = 0;
}

/* ------------------------------------------------------------------------ */
/* The header                                                               */

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


/* The delimiter of , ; TAB | found most often outside quotes in the first
 * line (',' on a tie or when none is). */
static int detect_delimiter(const char *path, nn_err *e)
{
    static const char cand[4] = {',', ';', '\t', '|'};
    int64_t count[4] = {0};
    nn_rd r;
    int rc = nn_rd_open(&r, path, e);
    if (rc < 0)
        return rc;
    int quoted = 0, ch, seen = 0;
    while ((ch = nn_rd_getc(&r)) >= 0 && (size_t)r.pos <= CSV_MAX_RECORD) {
        if (ch == '"')
            quoted = !quoted;
        else if (!quoted && (ch == '\n' || ch == '\r') && seen)
            break;
        else if (!quoted)
            for (int i = 0; i < 4; i++)
                count[i] += ch == cand[i];
        seen |= ch != '\n' && ch != '\r';
    }
    nn_rd_close(&r);
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (count[i] > count[best])
            best = i;
    return cand[best];
}

static int read_header(csv *c, const nn_load_opts *o, hdr *h, nn_err *e)
{
    int64_t line;
    char b1[CSV_SHOW + 4];
    const char *fn = c->rd.name;
    int rc = next_record(c, &line, e);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return nn_errf(e, NN_EFORMAT, "%s: empty file (a header row is required)", fn);
    h->k = c->nf;
    if (h->k < 2)
        return nn_errf(e, NN_EFORMAT,
                       "%s: line %lld: the header has 1 column; features and a label need at least 2",
                       fn, (long long)line);
    h->text = malloc(c->len);
    h->off = malloc((size_t)h->k * sizeof *h->off);
    if (!h->text || !h->off)
        return nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
    memcpy(h->text, c->text, c->len);
    memcpy(h->off, c->off, (size_t)h->k * sizeof *h->off);
    h->lab = find_label(o->label, h->text, h->off, h->k);
    if (h->lab < 0)
        return nn_errf(e, NN_EINVAL,
                       "%s: no label column \"%s\" (not a header name, nor an index 0..%d)", fn,
                       show(o->label, b1, sizeof b1), h->k - 1);
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* The rows                                                                 */

static int cell_error(const csv *c, const hdr *h, int64_t line, int j, const char *what,
                      const char *s, nn_err *e)
{
    char b1[CSV_SHOW + 4], b2[CSV_SHOW + 4];
    return nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d (\"%s\"): %s: \"%s\"", c->rd.name,
                   (long long)line, j + 1, show(col_name(h, j), b1, sizeof b1), what,
                   show(s, b2, sizeof b2));
}

/* Feature f of the current row into *out. */
static int feature_cell(const csv *c, const hdr *h, table *t, int f, int64_t line, nn_real *out,
                        nn_err *e)
{
    col *cl = &t->cols[f];
    int j = file_col(h, f);
    const char *s = c->text + c->off[j];
    char b1[CSV_SHOW + 4];
    double v;
    if (is_missing(s)) {
        if (cl->n_missing++ == 0)
            cl->missing_line = line;
        *out = (nn_real)NAN;
        return NN_OK;
    }
    int pr = cl->text ? 1 : parse_real(s, &v);
    if (pr == 3)
        return cell_error(c, h, line, j, "infinite or out of range", s, e);
    if (pr == 0) {
        cl->has_number = 1;
        *out = (nn_real)v;
        if (count_distinct(cl, (double)*out) < 0)
            return nn_errf(e, NN_ENOMEM, "%s: out of memory", c->rd.name);
        return NN_OK;
    }
    if (!cl->text) {
        /* the first text in a column: codes from here on; numbers stored
         * before (if any) must be read again as text */
        cl->text = 1;
        t->retry |= cl->has_number;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    int n0 = cl->cats.n;
    int code = nn_strtab_intern(&cl->cats, s, NN_DATA_MAX_CLASSES);
    if (cl->cats.n > n0)
        t->text_bytes += (int64_t)strlen(s) + 1;
    if (code < 0)
        return cl->cats.n >= NN_DATA_MAX_CLASSES
                   ? nn_errf(e, NN_ELIMIT,
                             "%s: line %lld: text column %d (\"%s\") has more than %d distinct values (an id or free text? leave it out)",
                             c->rd.name, (long long)line, j + 1,
                             show(col_name(h, j), b1, sizeof b1), NN_DATA_MAX_CLASSES)
                   : nn_errf(e, NN_ENOMEM, "%s: out of memory", c->rd.name);
    *out = (nn_real)code;
    return NN_OK;
}

/* The label of the current row. */
static int label_cell(const csv *c, const hdr *h, table *t, const nn_load_opts *o, int64_t line,
                      nn_err *e)
{
    const char *s = c->text + c->off[h->lab];
    char b1[CSV_SHOW + 4];
    double v;
    long long iv;
    if (is_missing(s))
        return nn_errf(e, NN_EFORMAT, "%s: line %lld, column %d (\"%s\"): missing label",
                       c->rd.name, (long long)line, h->lab + 1,
                       show(col_name(h, h->lab), b1, sizeof b1));
    int pr = parse_real(s, &v);
    if (t->mode == LAB_MAP) {
        int idx = nn_classmap_find(&t->map, s);
        if (idx < 0)
            return nn_errf(e, NN_EFORMAT, "%s: line %lld: label \"%s\" is not one of the %d given classes",
                           c->rd.name, (long long)line, show(s, b1, sizeof b1), t->map.n);
        t->y[t->rows] = (nn_real)idx;
        return NN_OK;
    }
    if (pr != 0 && (t->mode == LAB_NUMERIC || (pr == 3 && o->label_kind == NN_LABEL_AUTO)))
        return cell_error(c, h, line, h->lab,
                          pr == 1 ? "not a number" : "infinite or out of range", s, e);
    if (t->mode == LAB_NUMERIC) {
        t->y[t->rows] = (nn_real)v;
        return NN_OK;
    }
    t->all_num &= pr == 0;
    t->all_int &= nn_data_parse_int(s, &iv);
    int n0 = t->labels.n;
    int code = nn_strtab_intern(&t->labels, s, INT32_MAX);
    if (code < 0)
        return nn_errf(e, NN_ENOMEM, "%s: out of memory", c->rd.name);
    if (t->labels.n > n0)
        t->text_bytes += (int64_t)strlen(s) + 1;
    t->code[t->rows] = code;
    return NN_OK;
}

/* Room for one more row. */
static int grow_row(table *t, int64_t nfeat, const char *fn, nn_err *e)
{
    size_t need = (size_t)(t->rows + 1);
    nn_real *gx = grow(t->x, &t->xcap, need * (size_t)nfeat, sizeof *t->x);
    if (gx)
        t->x = gx;
    nn_real *gy = t->mode == LAB_DEFER ? t->y : grow(t->y, &t->ycap, need, sizeof *t->y);
    if (gy)
        t->y = gy;
    int *gc = t->mode == LAB_DEFER ? grow(t->code, &t->ccap, need, sizeof *t->code) : t->code;
    if (gc)
        t->code = gc;
    if (!gx || (t->mode != LAB_DEFER && !gy) || (t->mode == LAB_DEFER && !gc))
        return nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
    return NN_OK;
}

static int read_rows(csv *c, const hdr *h, const nn_load_opts *o, table *t, nn_err *e)
{
    const char *fn = c->rd.name;
    int64_t nfeat = h->k - 1, line = 0;
    int rc;
    while ((rc = next_record(c, &line, e)) == 1) {
        if (c->nf != h->k)
            return nn_errf(e, NN_EFORMAT, "%s: line %lld: expected %d fields, found %d", fn,
                           (long long)line, h->k, c->nf);
        if (t->rows >= c->max_elems || (t->rows + 1) > c->max_elems / nfeat)
            return nn_errf(e, NN_ELIMIT, "%s: line %lld: more than the limit of %lld values", fn,
                           (long long)line, (long long)c->max_elems);
        /* x and y with this row, and the texts kept so far (4 bytes a value) */
        if ((t->rows + 1) * (nfeat + 1) + t->text_bytes / 4 > c->max_values)
            return nn_errf(e, NN_ELIMIT, "%s: line %lld: the dataset would hold more than the "
                           "limit of %lld values", fn, (long long)line, (long long)c->max_values);
        if ((rc = grow_row(t, nfeat, fn, e)) < 0)
            return rc;
        nn_real *xr = t->x + t->rows * nfeat;
        for (int f = 0; f < nfeat; f++)
            if ((rc = feature_cell(c, h, t, f, line, &xr[f], e)) < 0)
                return rc;
        if ((rc = label_cell(c, h, t, o, line, e)) < 0)
            return rc;
        t->rows++;
    }
    if (rc < 0)
        return rc;
    if (t->rows == 0)
        return nn_errf(e, NN_EFORMAT, "%s: no data rows after the header", fn);
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* Finishing                                                                */

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Deferred labels as classes: integers sorted numerically when every label
 * is one, else texts sorted bytewise.  d->y [n], d->class_names. */
static int labels_as_classes(nn_dataset *d, const table *t, const char *fn, const char *colname,
                             nn_err *e)
{
    int nl = t->labels.n, nu = 0, rc = NN_ENOMEM;
    long long *val = NULL, *uniq = NULL;
    int *cls = malloc((size_t)(nl ? nl : 1) * sizeof *cls);   /* label code -> class */
    char b1[CSV_SHOW + 4];
    if (!cls)
        goto out;
    if (t->all_int) {
        val = malloc((size_t)nl * sizeof *val);
        uniq = malloc((size_t)nl * sizeof *uniq);
        if (!val || !uniq)
            goto out;
        for (int i = 0; i < nl; i++)
            nn_data_parse_int(nn_strtab_text(&t->labels, i), &val[i]);
        memcpy(uniq, val, (size_t)nl * sizeof *uniq);
        qsort(uniq, (size_t)nl, sizeof *uniq, cmp_ll);
        for (int i = 0; i < nl; i++)
            if (i == 0 || uniq[i] != uniq[nu - 1])
                uniq[nu++] = uniq[i];
        for (int i = 0; i < nl; i++)
            cls[i] = (int)((long long *)bsearch(&val[i], uniq, (size_t)nu, sizeof *uniq, cmp_ll) -
                           uniq);
    } else {
        nu = nl;
        if (nn_strtab_sorted_ranks(&t->labels, cls))
            goto out;
    }
    if (nu > NN_DATA_MAX_CLASSES) {
        rc = nn_errf(e, NN_ELIMIT,
                     "%s: label column \"%s\" has %d distinct values, over the limit of %d classes (a target? use label kind numeric)",
                     fn, show(colname, b1, sizeof b1), nu, NN_DATA_MAX_CLASSES);
        goto out;
    }
    if (!(d->class_names = calloc((size_t)nu, sizeof *d->class_names)))
        goto out;
    d->n_classes = nu;
    for (int i = 0; i < nl; i++) {
        char num[32];
        if (d->class_names[cls[i]])
            continue;
        if (t->all_int)
            snprintf(num, sizeof num, "%lld", val[i]);
        if (!(d->class_names[cls[i]] = strdup(t->all_int ? num : nn_strtab_text(&t->labels, i))))
            goto out;
    }
    if (nn_tensor_alloc(&d->y, 1, &t->rows) < 0)
        goto out;
    for (int64_t r = 0; r < t->rows; r++)
        d->y.data[r] = (nn_real)cls[t->code[r]];
    rc = NN_OK;
out:
    if (rc == NN_ENOMEM)
        nn_errf(e, rc, "%s: out of memory for the class labels", fn);
    free(cls);
    free(val);
    free(uniq);
    return rc;
}

/* Deferred numeric labels as targets y [n, 1]. */
static int labels_as_numbers(nn_dataset *d, const table *t, const char *fn, nn_err *e)
{
    int64_t dim[2] = {t->rows, 1};
    if (nn_tensor_alloc(&d->y, 2, dim) < 0)
        return nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
    for (int64_t r = 0; r < t->rows; r++) {
        double v = 0;
        parse_real(nn_strtab_text(&t->labels, t->code[r]), &v);
        d->y.data[r] = (nn_real)v;
    }
    return NN_OK;
}

static int finish_labels(nn_dataset *d, table *t, const hdr *h, const nn_load_opts *o,
                         const char *fn, nn_err *e)
{
    if (t->mode == LAB_DEFER) {
        int classes = o->label_kind == NN_LABEL_CLASS || !t->all_num ||
                      (t->all_int && t->labels.n <= NN_DATA_MAX_CLASSES);
        return classes ? labels_as_classes(d, t, fn, col_name(h, h->lab), e)
                       : labels_as_numbers(d, t, fn, e);
    }
    d->y.data = t->y;
    t->y = NULL;
    d->y.dim[0] = t->rows;
    if (t->mode == LAB_NUMERIC) {
        d->y.rank = 2;
        d->y.dim[1] = 1;
        return NN_OK;
    }
    d->y.rank = 1;
    int rc = nn_data_copy_classes(d, o);
    return rc < 0 ? nn_errf(e, rc, "%s: out of memory", fn) : NN_OK;
}

/* The columns' descriptions; text codes renumbered in sorted order. */
static int finish_columns(nn_dataset *d, table *t, const hdr *h, const char *fn, nn_err *e)
{
    int64_t nfeat = h->k - 1;
    int *rank = NULL;
    if (!(d->cols = calloc((size_t)nfeat, sizeof *d->cols)) ||
        !(d->label_name = strdup(col_name(h, h->lab))))
        goto oom;
    d->n_cols = (int)nfeat;
    for (int f = 0; f < nfeat; f++) {
        col *cl = &t->cols[f];
        nn_column *dc = &d->cols[f];
        if (!(dc->name = strdup(col_name(h, file_col(h, f)))))
            goto oom;
        dc->file_col = file_col(h, f) + 1;
        dc->n_missing = cl->n_missing;
        dc->missing_line = cl->missing_line;
        dc->n_distinct = cl->n_distinct;
        if (!cl->text)
            continue;
        dc->n_distinct = cl->cats.n;
        int n = cl->cats.n;
        rank = malloc((size_t)(n ? n : 1) * sizeof *rank);
        if (!rank || !(dc->cats = calloc((size_t)(n ? n : 1), sizeof *dc->cats)) ||
            nn_strtab_sorted_ranks(&cl->cats, rank))
            goto oom;
        dc->n_cats = n;
        for (int i = 0; i < n; i++)
            if (!(dc->cats[rank[i]] = strdup(nn_strtab_text(&cl->cats, i))))
                goto oom;
        for (int64_t r = 0; r < t->rows; r++) {
            nn_real *v = &d->x.data[r * nfeat + f];
            if (!isnan(*v))
                *v = (nn_real)rank[(int)*v];
        }
        free(rank);
        rank = NULL;
    }
    return NN_OK;
oom:
    free(rank);
    return nn_errf(e, NN_ENOMEM, "%s: out of memory", fn);
}

/* ------------------------------------------------------------------------ */
/* The reader                                                               */

/* Opens the file (again) and reads the header. */
static int csv_start(csv *c, const char *path, const nn_load_opts *o, hdr *h, nn_err *e)
{
    nn_rd_close(&c->rd);
    free(h->text);
    free(h->off);
    memset(h, 0, sizeof *h);
    c->line = 1;
    c->n_back = 0;
    int rc = nn_rd_open(&c->rd, path, e);
    if (rc < 0)
        return rc;
    skip_bom(c);
    return read_header(c, o, h, e);
}

int nn_csv_read(const char *path, const nn_load_opts *o, nn_dataset *out, nn_err *e)
{
    nn_load_opts def;
    csv c;
    hdr h = {0};
    table t = {0};
    int rc;

    memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    if (!o) {
        nn_load_opts_default(&def);
        o = &def;
    }
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r')
        return nn_errf(e, NN_EINVAL, "the CSV delimiter cannot be a quote or a newline");
    if ((unsigned)o->label_kind > NN_LABEL_NUMERIC)
        return nn_errf(e, NN_EINVAL, "unknown label kind %d", (int)o->label_kind);
    int64_t lim = nn_data_max_elems(o);
    c.max_bytes = lim > (INT64_MAX - (1 << 20)) / CSV_BYTES_PER_ELEM
                      ? INT64_MAX : lim * CSV_BYTES_PER_ELEM + (1 << 20);
    if (o->max_text > 0 && o->max_text < c.max_bytes)
        c.max_bytes = o->max_text;
    c.max_elems = lim;
    c.max_values = nn_data_max_values(o);
    c.delim = o->delimiter ? (unsigned char)o->delimiter : 0;
    if (!c.delim && (c.delim = detect_delimiter(path, e)) < 0)
        return c.delim;
    t.mode = o->label_kind == NN_LABEL_NUMERIC ? LAB_NUMERIC : o->classes ? LAB_MAP : LAB_DEFER;
    if ((rc = csv_start(&c, path, o, &h, e)) < 0)
        goto out;
    if (t.mode == LAB_MAP && (rc = nn_classmap_init(&t.map, o, c.rd.name, e)) < 0)
        goto out;
    if (!(t.cols = calloc((size_t)(h.k - 1), sizeof *t.cols))) {
        rc = nn_errf(e, NN_ENOMEM, "%s: out of memory", c.rd.name);
        goto out;
    }
    /* At most two passes: a column that held numbers before its first text
     * is read again from the start, as text throughout. */
    for (int pass = 0;; pass++) {
        table_reset(&t);
        if (pass > 0 && (rc = csv_start(&c, path, o, &h, e)) < 0)
            goto out;
        for (int f = 0; f < h.k - 1; f++) {
            col *cl = &t.cols[f];
            nn_strtab_free(&cl->cats);
            free(cl->set);
            cl->set = NULL;
            cl->has_number = cl->n_distinct = 0;
            cl->n_missing = cl->missing_line = 0;
        }
        if ((rc = read_rows(&c, &h, o, &t, e)) < 0)
            goto out;
        if (!t.retry)
            break;
    }

    /* x [rows, k-1]: the buffer handed over, trimmed */
    int64_t nfeat = h.k - 1;
    nn_real *x = realloc(t.x, (size_t)(t.rows * nfeat) * sizeof *t.x);
    if (x)
        t.x = x;
    out->x.rank = 2;
    out->x.dim[0] = t.rows;
    out->x.dim[1] = nfeat;
    out->x.data = t.x;
    t.x = NULL;
    if ((rc = finish_labels(out, &t, &h, o, c.rd.name, e)) < 0 ||
        (rc = finish_columns(out, &t, &h, c.rd.name, e)) < 0)
        goto out;

out:
    nn_rd_close(&c.rd);
    nn_classmap_free(&t.map);
    table_reset(&t);
    for (int f = 0; t.cols && f < h.k - 1; f++) {
        nn_strtab_free(&t.cols[f].cats);
        free(t.cols[f].set);
    }
    free(t.cols);
    free(c.text);
    free(c.off);
    free(h.text);
    free(h.off);
    if (rc < 0)
        nn_dataset_free(out);
    return rc < 0 ? rc : NN_OK;
}
