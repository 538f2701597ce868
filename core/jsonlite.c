/*
 * jsonlite.c — a strict, bounded, non-recursive JSON parser (see jsonlite.h).
 *
 * The parser is a three-state loop (want a value, want a key, after a value)
 * over an explicit stack of open containers, so nesting costs one int per
 * level and is capped by max_depth; nothing recurses.
 *
 * Invariants while parsing:
 *   - stack[0 .. depth) are the indices of the open arrays/objects, outermost
 *     first; a container's `next` is fixed when it closes;
 *   - an array's n counts items started, an object's n counts keys read;
 *   - the arena holds, for each string/number token, its decoded text and a
 *     NUL.  Decoding never lengthens a token (an escape is at least as long as
 *     what it stands for) and every token is followed by a delimiter or the
 *     end of input, so the arena never needs more than len + 1 bytes.
 */
#include "jsonlite.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    jl_doc *d;
    int cap;          /* allocated entries of d->node */
    int max_nodes;
    size_t tlen;      /* bytes of d->text in use */
    nn_err *e;
} parser;

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), or 0.
 * Table 3-7 of the Unicode standard: the second byte's range depends on the
 * first so that overlongs, surrogates and values past U+10FFFF are refused. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;   /* stray continuation byte, or an overlong 2-byte form */
    if (c < 0xE0) {
        need = 2;
    } else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;  /* U+D800..U+DFFF are not characters */
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

size_t jl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (k == 0)
            break;
        i += k;
    }
    return i;
}

/* Error at the current position, describing what was found there. */
static int unexpected(parser *p, const char *expected)
{
    if (p->pos >= p->len)
        return nn_errf(p->e, NN_EFORMAT, "unexpected end of input at byte %zu (expected %s)",
                       p->pos, expected);
    unsigned c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7F)
        return nn_errf(p->e, NN_EFORMAT, "unexpected '%c' at byte %zu (expected %s)",
                       (int)c, p->pos, expected);
    return nn_errf(p->e, NN_EFORMAT, "unexpected byte 0x%02x at byte %zu (expected %s)",
                   c, p->pos, expected);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int new_node(parser *p, int kind, int *idx)
{
    jl_doc *d = p->d;
    if (d->n_node >= p->max_nodes)
        return nn_errf(p->e, NN_ELIMIT, "more than %d values at byte %zu", p->max_nodes, p->pos);
    if (d->n_node == p->cap) {
        /* Doubling keeps memory proportional to the values actually present. */
        int cap = p->cap ? (p->cap > p->max_nodes / 2 ? p->max_nodes : p->cap * 2) : 64;
        if (cap > p->max_nodes)
            cap = p->max_nodes;
        jl_node *n = realloc(d->node, (size_t)cap * sizeof *n);
        if (!n)
            return nn_errf(p->e, NN_ENOMEM, "out of memory at byte %zu", p->pos);
        d->node = n;
        p->cap = cap;
    }
    *idx = d->n_node++;
    d->node[*idx] = (jl_node){ .kind = kind, .n = 0, .next = *idx + 1, .off = 0 };
    return NN_OK;
}

static int hex4(const unsigned char *s, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if (c >= 'a' && c <= 'f')
            h = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            h = c - 'A' + 10;
        else
            return -1;
        x = x << 4 | h;
    }
    *v = x;
    return 0;
}

static size_t utf8_put(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads the \uXXXX escape at s[pos] (backslash included) into *cp, joining a
 * surrogate pair; advances pos past it. */
static int read_u_escape(parser *p, unsigned *cp)
{
    const unsigned char *s = p->s;
    size_t at = p->pos;
    unsigned hi = 0, lo = 0;
    if (p->len - at < 6 || hex4(s + at + 2, &hi) < 0)
        return nn_errf(p->e, NN_EFORMAT, "invalid \\u escape at byte %zu (needs 4 hex digits)", at);
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return nn_errf(p->e, NN_EFORMAT, "unpaired low surrogate \\u%04X at byte %zu", hi, at);
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        if (p->len - at < 12 || s[at + 6] != '\\' || s[at + 7] != 'u' ||
            hex4(s + at + 8, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
            return nn_errf(p->e, NN_EFORMAT,
                           "high surrogate \\u%04X at byte %zu not followed by a low surrogate",
                           hi, at);
        *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        p->pos = at + 12;
        return NN_OK;
    }
    *cp = hi;
    p->pos = at + 6;
    return NN_OK;
}

/* A string token at s[pos] == '"'. */
static int parse_string(parser *p, int *idx)
{
    const unsigned char *s = p->s;
    size_t open = p->pos;
    int rc = new_node(p, JL_STRING, idx);
    if (rc < 0)
        return rc;
    unsigned char *out = (unsigned char *)p->d->text;
    size_t start = p->tlen, o = start;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return nn_errf(p->e, NN_EFORMAT, "unterminated string starting at byte %zu", open);
        unsigned c = s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return nn_errf(p->e, NN_EFORMAT, "control character 0x%02x in string at byte %zu",
                           c, p->pos);
        if (c == '\\') {
            if (p->pos + 1 >= p->len)
                return nn_errf(p->e, NN_EFORMAT, "unterminated string starting at byte %zu", open);
            unsigned esc = s[p->pos + 1], cp = 0;
            switch (esc) {
            case '"': case '\\': case '/': out[o++] = (unsigned char)esc; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u':
                if ((rc = read_u_escape(p, &cp)) < 0)
                    return rc;
                o += utf8_put(out + o, cp);
                continue;
            default:
                if (esc >= 0x20 && esc < 0x7F)
                    return nn_errf(p->e, NN_EFORMAT, "invalid escape '\\%c' at byte %zu",
                                   (int)esc, p->pos);
                return nn_errf(p->e, NN_EFORMAT, "invalid escape (byte 0x%02x) at byte %zu",
                               esc, p->pos);
            }
            p->pos += 2;
            continue;
        }
        size_t k = utf8_seq(s + p->pos, p->len - p->pos);
        if (k == 0)
            return nn_errf(p->e, NN_EFORMAT, "invalid UTF-8 in string at byte %zu", p->pos);
        memcpy(out + o, s + p->pos, k);
        o += k;
        p->pos += k;
    }
    assert(o + 1 <= p->len + 1);
    out[o] = 0;
    p->d->node[*idx].n = (int)(o - start);
    p->d->node[*idx].off = (int)start;
    p->tlen = o + 1;
    return NN_OK;
}

static int is_digit(const parser *p)
{
    return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

/* A number token: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser *p, int *idx)
{
    size_t start = p->pos;
    int rc = new_node(p, JL_NUMBER, idx);
    if (rc < 0)
        return rc;
    if (p->s[p->pos] == '-')
        p->pos++;
    if (!is_digit(p))
        return unexpected(p, "a digit");
    if (p->s[p->pos] == '0')
        p->pos++;
    else
        while (is_digit(p))
            p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (!is_digit(p))
            return unexpected(p, "a digit after '.'");
        while (is_digit(p))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (!is_digit(p))
            return unexpected(p, "a digit in the exponent");
        while (is_digit(p))
            p->pos++;
    }
    size_t n = p->pos - start;
    assert(p->tlen + n + 1 <= p->len + 1);
    memcpy(p->d->text + p->tlen, p->s + start, n);
    p->d->text[p->tlen + n] = 0;
    p->d->node[*idx].n = (int)n;
    p->d->node[*idx].off = (int)p->tlen;
    p->tlen += n + 1;
    return NN_OK;
}

static int parse_literal(parser *p, const char *word, int kind, int *idx)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return unexpected(p, "a value");
    p->pos += n;
    return new_node(p, kind, idx);
}

enum { WANT_VALUE, WANT_KEY, AFTER_VALUE, DONE };

/* The state loop; the caller owns the stack and the document. */
static int parse(parser *p, int *stack, int max_depth)
{
    int depth = 0, state = WANT_VALUE, idx = -1, rc;
    while (state != DONE) {
        skip_ws(p);
        int top = depth ? stack[depth - 1] : -1;
        jl_node *tn = top >= 0 ? &p->d->node[top] : NULL;
        if (state == WANT_VALUE) {
            if (p->pos >= p->len)
                return unexpected(p, "a value");
            if (tn && tn->kind == JL_ARRAY)
                tn->n++;
            unsigned char c = p->s[p->pos];
            if (c == '{' || c == '[') {
                if (depth >= max_depth)
                    return nn_errf(p->e, NN_ELIMIT, "nested deeper than %d at byte %zu",
                                   max_depth, p->pos);
                if ((rc = new_node(p, c == '{' ? JL_OBJECT : JL_ARRAY, &idx)) < 0)
                    return rc;
                stack[depth++] = idx;
                p->pos++;
                skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == (c == '{' ? '}' : ']')) {
                    p->pos++;
                    depth--;
                    state = AFTER_VALUE;
                } else {
                    state = c == '{' ? WANT_KEY : WANT_VALUE;
                }
                continue;
            }
            if (c == '"')
                rc = parse_string(p, &idx);
            else if (c == '-' || (c >= '0' && c <= '9'))
                rc = parse_number(p, &idx);
            else if (c == 't')
                rc = parse_literal(p, "true", JL_TRUE, &idx);
            else if (c == 'f')
                rc = parse_literal(p, "false", JL_FALSE, &idx);
            else if (c == 'n')
                rc = parse_literal(p, "null", JL_NULL, &idx);
            else
                rc = unexpected(p, "a value");
            if (rc < 0)
                return rc;
            state = AFTER_VALUE;
        } else if (state == WANT_KEY) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return unexpected(p, "a string key");
            if ((rc = parse_string(p, &idx)) < 0)
                return rc;
            p->d->node[top].n++;   /* re-fetch: parse_string may have moved the array */
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return unexpected(p, "':'");
            p->pos++;
            state = WANT_VALUE;
        } else {   /* AFTER_VALUE */
            if (!tn) {
                if (p->pos < p->len)
                    return nn_errf(p->e, NN_EFORMAT, "trailing characters at byte %zu", p->pos);
                state = DONE;
                continue;
            }
            char close = tn->kind == JL_OBJECT ? '}' : ']';
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                state = tn->kind == JL_OBJECT ? WANT_KEY : WANT_VALUE;
            } else if (p->pos < p->len && p->s[p->pos] == close) {
                p->pos++;
                tn->next = p->d->n_node;
                depth--;
            } else {
                return unexpected(p, tn->kind == JL_OBJECT ? "',' or '}'" : "',' or ']'");
            }
        }
    }
    return NN_OK;
}

int jl_parse(jl_doc *d, const char *s, size_t len, const jl_limits *lim, nn_err *e)
{
    int rc;
    int *stack = NULL;
    memset(d, 0, sizeof *d);
    if (len >= INT_MAX)
        return nn_errf(e, NN_ELIMIT, "JSON document of %zu bytes is too large", len);
    int max_depth = lim && lim->max_depth > 0 ? lim->max_depth : JL_DEFAULT_DEPTH;
    int max_nodes = lim && lim->max_nodes > 0 ? lim->max_nodes : JL_DEFAULT_NODES;
    /* Each level of nesting takes a byte, so the stack never needs more. */
    size_t stack_n = (size_t)max_depth < len ? (size_t)max_depth : len;
    parser p = { .s = (const unsigned char *)s, .len = len, .d = d,
                 .max_nodes = max_nodes, .e = e };
    d->text = malloc(len + 1);
    stack = malloc((stack_n + 1) * sizeof *stack);
    if (!d->text || !stack) {
        rc = nn_errf(e, NN_ENOMEM, "out of memory for a %zu-byte JSON document", len);
        goto out;
    }
    rc = parse(&p, stack, max_depth);
out:
    free(stack);
    if (rc < 0)
        jl_free(d);
    return rc;
}

void jl_free(jl_doc *d)
{
    if (!d)
        return;
    free(d->node);
    free(d->text);
    memset(d, 0, sizeof *d);
}

const char *jl_text(const jl_doc *d, int i)
{
    assert(i >= 0 && i < d->n_node);
    const jl_node *n = &d->node[i];
    if (n->kind != JL_STRING && n->kind != JL_NUMBER)
        return NULL;
    return d->text + n->off;
}

int jl_streq(const jl_doc *d, int i, const char *s)
{
    assert(i >= 0 && i < d->n_node);
    const jl_node *n = &d->node[i];
    size_t len = strlen(s);
    return n->kind == JL_STRING && (size_t)n->n == len && memcmp(d->text + n->off, s, len) == 0;
}

int jl_child(const jl_doc *d, int i)
{
    assert(i >= 0 && i < d->n_node);
    const jl_node *n = &d->node[i];
    return (n->kind == JL_ARRAY || n->kind == JL_OBJECT) && n->n > 0 ? i + 1 : -1;
}

int jl_next(const jl_doc *d, int parent, int k)
{
    assert(parent >= 0 && parent < d->n_node && k > parent && k < d->n_node);
    int nx = d->node[k].next;
    return nx < d->node[parent].next ? nx : -1;
}

int jl_get(const jl_doc *d, int obj, const char *key)
{
    if (d->node[obj].kind != JL_OBJECT)
        return -1;
    JL_EACH_MEMBER(d, obj, k, v)
        if (jl_streq(d, k, key))
            return v;
    return -1;
}

int jl_item(const jl_doc *d, int arr, int idx)
{
    if (d->node[arr].kind != JL_ARRAY || idx < 0)
        return -1;
    JL_EACH_ITEM(d, arr, v)
        if (idx-- == 0)
            return v;
    return -1;
}

int jl_uint(const jl_doc *d, int i, uint64_t max, uint64_t *v)
{
    *v = 0;
    const char *t = jl_text(d, i);
    if (!t || d->node[i].kind != JL_NUMBER)
        return NN_EINVAL;
    for (const char *c = t; *c; c++)
        if (*c < '0' || *c > '9')
            return NN_EINVAL;   /* sign, fraction or exponent */
    uint64_t x = 0;
    for (const char *c = t; *c; c++) {
        unsigned dg = (unsigned)(*c - '0');
        if (dg > max || x > (max - dg) / 10)
            return NN_ELIMIT;
        x = x * 10 + dg;
    }
    *v = x;
    return NN_OK;
}

int jl_double(const jl_doc *d, int i, double *v)
{
    *v = 0;
    if (d->node[i].kind != JL_NUMBER)
        return NN_EINVAL;
    *v = strtod(d->text + d->node[i].off, NULL);
    return NN_OK;
}
