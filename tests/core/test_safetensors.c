/*
 * test_safetensors.c — the safetensors writer and reader (core/safetensors.c)
 * and the JSON parser under it (core/jsonlite.c).
 *
 * Round trips in memory and through files, the exact bytes of a tiny file,
 * agreement with an independent numpy reader (tests/core/st_numpy_check.py,
 * found in the working directory or under $TRAIND_SRCDIR), half/bfloat16/
 * double conversions against hand-computed values and against numpy, every
 * kind of malformed file with its code and message, and a deterministic
 * mutation loop that must never crash (the sanitizer build checks memory).
 */
#include "jsonlite.h"
#include "safetensors.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HAS(e, s) \
    ck_assert_msg(strstr((e).msg, (s)) != NULL, "message \"%s\" lacks \"%s\"", (e).msg, (s))

/* ======================================================================== */
/* jsonlite                                                                 */

static int jparse(jl_doc *d, const char *s, nn_err *e)
{
    return jl_parse(d, s, strlen(s), NULL, e);
}

START_TEST(test_jl_document)
{
    jl_doc d;
    nn_err e;
    const char *s = " {\"a\": [1, 2.5, -3e2, true, false, null],\n"
                    "  \"b\": {\"c\": \"x\\u00e9\\n\"}, \"\": {}, \"d\": []}\t\r\n";
    ck_assert_int_eq(jparse(&d, s, &e), NN_OK);
    /* 0 root, 1 "a", 2 [ ], 3..8 items, 9 "b", 10 {, 11 "c", 12 "x\u00e9\n",
     * 13 "", 14 {}, 15 "d", 16 [] */
    ck_assert_int_eq(d.n_node, 17);
    ck_assert_int_eq(d.node[0].kind, JL_OBJECT);
    ck_assert_int_eq(d.node[0].n, 4);
    ck_assert_int_eq(d.node[0].next, 17);
    ck_assert_int_eq(d.node[2].kind, JL_ARRAY);
    ck_assert_int_eq(d.node[2].n, 6);
    ck_assert_int_eq(d.node[2].next, 9);
    int want_kind[] = { JL_NUMBER, JL_NUMBER, JL_NUMBER, JL_TRUE, JL_FALSE, JL_NULL };
    int i = 0;
    JL_EACH_ITEM(&d, 2, v) {
        ck_assert_int_eq(v, 3 + i);
        ck_assert_int_eq(jl_kind_of(&d, v), want_kind[i]);
        i++;
    }
    ck_assert_int_eq(i, 6);
    ck_assert_str_eq(jl_text(&d, 4), "2.5");
    ck_assert_ptr_null(jl_text(&d, 6));
    double x;
    ck_assert_int_eq(jl_double(&d, 5, &x), NN_OK);
    ck_assert(x == -300.0);
    ck_assert_int_eq(jl_double(&d, 6, &x), NN_EINVAL);
    ck_assert_int_eq(jl_get(&d, 0, "b"), 10);
    ck_assert_int_eq(jl_get(&d, 10, "c"), 12);
    ck_assert_str_eq(jl_text(&d, 12), "x\xc3\xa9\n");
    ck_assert_int_eq(d.node[12].n, 4);
    ck_assert_int_eq(jl_get(&d, 0, ""), 14);
    ck_assert_int_eq(jl_child(&d, 14), -1);
    ck_assert_int_eq(jl_child(&d, 16), -1);
    ck_assert_int_eq(jl_get(&d, 0, "zz"), -1);
    ck_assert_int_eq(jl_get(&d, 2, "a"), -1);     /* not an object */
    ck_assert_int_eq(jl_item(&d, 2, 4), 7);
    ck_assert_int_eq(jl_item(&d, 2, 6), -1);
    ck_assert_int_eq(jl_item(&d, 2, -1), -1);
    ck_assert(jl_streq(&d, 1, "a"));
    ck_assert(!jl_streq(&d, 1, "ab"));
    ck_assert(!jl_streq(&d, 3, "1"));              /* a number, not a string */
    int keys = 0;
    JL_EACH_MEMBER(&d, 0, k, v) {
        ck_assert_int_eq(jl_kind_of(&d, k), JL_STRING);
        ck_assert_int_eq(v, k + 1);
        keys++;
    }
    ck_assert_int_eq(keys, 4);
    jl_free(&d);
    ck_assert_ptr_null(d.node);
    jl_free(&d);
    jl_free(NULL);
}
END_TEST

START_TEST(test_jl_scalars)
{
    jl_doc d;
    nn_err e;
    ck_assert_int_eq(jparse(&d, "42", &e), NN_OK);
    ck_assert_int_eq(d.n_node, 1);
    ck_assert_int_eq(d.node[0].kind, JL_NUMBER);
    ck_assert_str_eq(jl_text(&d, 0), "42");
    jl_free(&d);
    ck_assert_int_eq(jparse(&d, " \"s\" ", &e), NN_OK);
    ck_assert_str_eq(jl_text(&d, 0), "s");
    jl_free(&d);
    ck_assert_int_eq(jparse(&d, "\ntrue\n", &e), NN_OK);
    ck_assert_int_eq(d.node[0].kind, JL_TRUE);
    jl_free(&d);
    ck_assert_int_eq(jparse(&d, "null", &e), NN_OK);
    ck_assert_int_eq(d.node[0].kind, JL_NULL);
    jl_free(&d);
    ck_assert_int_eq(jparse(&d, "-0.0e+0", &e), NN_OK);
    ck_assert_str_eq(jl_text(&d, 0), "-0.0e+0");
    jl_free(&d);
}
END_TEST

START_TEST(test_jl_escapes)
{
    jl_doc d;
    nn_err e;
    const char *s = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud834\\udd1e\\u0000x\xe2\x82\xac\"";
    const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\0x\xe2\x82\xac";
    ck_assert_int_eq(jparse(&d, s, &e), NN_OK);
    ck_assert_int_eq(d.node[0].n, (int)sizeof want - 1);
    ck_assert(memcmp(jl_text(&d, 0), want, sizeof want) == 0);   /* the NUL terminator too */
    jl_free(&d);
}
END_TEST

START_TEST(test_jl_uint)
{
    static const struct {
        const char *doc;
        uint64_t max;
        int rc;
        uint64_t v;
    } c[] = {
        { "0", 10, NN_OK, 0 },
        { "10", 10, NN_OK, 10 },
        { "11", 10, NN_ELIMIT, 0 },
        { "9007199254740992", (uint64_t)1 << 53, NN_OK, (uint64_t)1 << 53 },
        { "9007199254740993", (uint64_t)1 << 53, NN_ELIMIT, 0 },
        { "18446744073709551615", UINT64_MAX, NN_OK, UINT64_MAX },
        { "18446744073709551616", UINT64_MAX, NN_ELIMIT, 0 },
        { "99999999999999999999999", UINT64_MAX, NN_ELIMIT, 0 },
        { "-1", 10, NN_EINVAL, 0 },
        { "-0", 10, NN_EINVAL, 0 },
        { "1.0", 10, NN_EINVAL, 0 },
        { "1e1", 100, NN_EINVAL, 0 },
        { "\"5\"", 10, NN_EINVAL, 0 },
        { "true", 10, NN_EINVAL, 0 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        jl_doc d;
        nn_err e;
        uint64_t v = 77;
        ck_assert_int_eq(jparse(&d, c[i].doc, &e), NN_OK);
        ck_assert_msg(jl_uint(&d, 0, c[i].max, &v) == c[i].rc, "%s", c[i].doc);
        ck_assert_msg(v == c[i].v, "%s -> %llu", c[i].doc, (unsigned long long)v);
        jl_free(&d);
    }
}
END_TEST

/* Each malformed document: its code and words the message must contain. */
static const struct {
    const char *doc;
    size_t len;     /* 0: strlen */
    int rc;
    const char *msg;
} jl_bad[] = {
    { "", 0, NN_EFORMAT, "unexpected end of input at byte 0" },
    { "   ", 0, NN_EFORMAT, "unexpected end of input at byte 3" },
    { "{", 0, NN_EFORMAT, "expected a string key" },
    { "[1,]", 0, NN_EFORMAT, "unexpected ']' at byte 3" },
    { "{\"a\":1,}", 0, NN_EFORMAT, "expected a string key" },
    { "{\"a\" 1}", 0, NN_EFORMAT, "expected ':'" },
    { "{1:2}", 0, NN_EFORMAT, "unexpected '1' at byte 1" },
    { "[1 2]", 0, NN_EFORMAT, "expected ',' or ']'" },
    { "{\"a\":1]", 0, NN_EFORMAT, "expected ',' or '}'" },
    { "[1}", 0, NN_EFORMAT, "expected ',' or ']'" },
    { "01", 0, NN_EFORMAT, "trailing characters at byte 1" },
    { "1.", 0, NN_EFORMAT, "a digit after '.'" },
    { ".5", 0, NN_EFORMAT, "unexpected '.'" },
    { "-", 0, NN_EFORMAT, "expected a digit" },
    { "+1", 0, NN_EFORMAT, "unexpected '+'" },
    { "1e", 0, NN_EFORMAT, "a digit in the exponent" },
    { "1e+", 0, NN_EFORMAT, "a digit in the exponent" },
    { "tru", 0, NN_EFORMAT, "expected a value" },
    { "nul", 0, NN_EFORMAT, "expected a value" },
    { "True", 0, NN_EFORMAT, "unexpected 'T'" },
    { "NaN", 0, NN_EFORMAT, "unexpected 'N'" },
    { "Infinity", 0, NN_EFORMAT, "unexpected 'I'" },
    { "[1]x", 0, NN_EFORMAT, "trailing characters at byte 3" },
    { "{} {}", 0, NN_EFORMAT, "trailing characters at byte 3" },
    { "[1]\0", 4, NN_EFORMAT, "trailing characters at byte 3" },
    { "/*c*/1", 0, NN_EFORMAT, "unexpected '/'" },
    { "'a'", 0, NN_EFORMAT, "unexpected '''" },
    { "\xef\xbb\xbf{}", 0, NN_EFORMAT, "unexpected byte 0xef at byte 0" },
    { "\"abc", 0, NN_EFORMAT, "unterminated string starting at byte 0" },
    { "[\"abc\\", 0, NN_EFORMAT, "unterminated string starting at byte 1" },
    { "\"a\x01\"", 0, NN_EFORMAT, "control character 0x01 in string at byte 2" },
    { "\"a\tb\"", 0, NN_EFORMAT, "control character 0x09" },
    { "\"\\x\"", 0, NN_EFORMAT, "invalid escape '\\x' at byte 1" },
    { "\"\\'\"", 0, NN_EFORMAT, "invalid escape" },
    { "\"\\u12\"", 0, NN_EFORMAT, "invalid \\u escape at byte 1" },
    { "\"\\u12G4\"", 0, NN_EFORMAT, "needs 4 hex digits" },
    { "\"\\ud800\"", 0, NN_EFORMAT, "high surrogate \\uD800 at byte 1 not followed by a low surrogate" },
    { "\"\\ud800\\u0041\"", 0, NN_EFORMAT, "not followed by a low surrogate" },
    { "\"\\ud800\\ud800\"", 0, NN_EFORMAT, "not followed by a low surrogate" },
    { "\"\\udc00\"", 0, NN_EFORMAT, "unpaired low surrogate \\uDC00" },
    { "\"\xff\"", 0, NN_EFORMAT, "invalid UTF-8 in string at byte 1" },
    { "\"\x80\"", 0, NN_EFORMAT, "invalid UTF-8" },              /* stray continuation */
    { "\"\xc0\xaf\"", 0, NN_EFORMAT, "invalid UTF-8" },          /* overlong '/' */
    { "\"\xe0\x80\xaf\"", 0, NN_EFORMAT, "invalid UTF-8" },      /* overlong, 3 bytes */
    { "\"\xed\xa0\x80\"", 0, NN_EFORMAT, "invalid UTF-8" },      /* encoded surrogate */
    { "\"\xf4\x90\x80\x80\"", 0, NN_EFORMAT, "invalid UTF-8" },  /* past U+10FFFF */
    { "\"\xe2\x82\"", 0, NN_EFORMAT, "invalid UTF-8" },          /* truncated sequence */
    { "\"\xe2\x82", 0, NN_EFORMAT, "invalid UTF-8" },            /* truncated at the end */
    { "[\xc3\xa9]", 0, NN_EFORMAT, "unexpected byte 0xc3 at byte 1" },
};

START_TEST(test_jl_invalid)
{
    for (size_t i = 0; i < sizeof jl_bad / sizeof jl_bad[0]; i++) {
        jl_doc d;
        nn_err e = { .msg = "" };
        size_t len = jl_bad[i].len ? jl_bad[i].len : strlen(jl_bad[i].doc);
        int rc = jl_parse(&d, jl_bad[i].doc, len, NULL, &e);
        ck_assert_msg(rc == jl_bad[i].rc, "case %zu (%s): rc %d", i, jl_bad[i].doc, rc);
        ck_assert_msg(strstr(e.msg, jl_bad[i].msg) != NULL, "case %zu (%s): message \"%s\" lacks \"%s\"",
                      i, jl_bad[i].doc, e.msg, jl_bad[i].msg);
        ck_assert_ptr_null(d.node);
        ck_assert_ptr_null(d.text);
        ck_assert_int_eq(d.n_node, 0);
        /* A NULL error record is allowed. */
        ck_assert_int_eq(jl_parse(&d, jl_bad[i].doc, len, NULL, NULL), jl_bad[i].rc);
    }
}
END_TEST

/* n '[' then n ']' */
static char *nested(int n)
{
    char *s = malloc((size_t)2 * n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', (size_t)n);
    memset(s + n, ']', (size_t)n);
    s[2 * n] = 0;
    return s;
}

START_TEST(test_jl_depth)
{
    jl_doc d;
    nn_err e;
    char *s = nested(JL_DEFAULT_DEPTH);
    ck_assert_int_eq(jparse(&d, s, &e), NN_OK);
    ck_assert_int_eq(d.n_node, JL_DEFAULT_DEPTH);
    ck_assert_int_eq(d.node[0].next, JL_DEFAULT_DEPTH);
    ck_assert_int_eq(d.node[JL_DEFAULT_DEPTH - 1].n, 0);
    jl_free(&d);
    free(s);

    s = nested(JL_DEFAULT_DEPTH + 1);
    ck_assert_int_eq(jparse(&d, s, &e), NN_ELIMIT);
    HAS(e, "nested deeper than 64 at byte 64");
    free(s);

    /* A depth bomb of a million levels fails at the limit, not the stack. */
    s = nested(1000000);
    ck_assert_int_eq(jparse(&d, s, &e), NN_ELIMIT);
    HAS(e, "nested deeper than 64");
    jl_limits lim = { .max_depth = 3 };
    ck_assert_int_eq(jl_parse(&d, s, strlen(s), &lim, &e), NN_ELIMIT);
    HAS(e, "nested deeper than 3 at byte 3");
    free(s);
    ck_assert_int_eq(jl_parse(&d, "{\"a\":[{}]}", 10, &lim, &e), NN_OK);
    jl_free(&d);
}
END_TEST

START_TEST(test_jl_nodes)
{
    jl_doc d;
    nn_err e;
    jl_limits lim = { .max_nodes = 5 };
    ck_assert_int_eq(jl_parse(&d, "[1,2,3,4]", 9, &lim, &e), NN_OK);
    ck_assert_int_eq(d.n_node, 5);
    jl_free(&d);
    ck_assert_int_eq(jl_parse(&d, "[1,2,3,4,5]", 11, &lim, &e), NN_ELIMIT);
    HAS(e, "more than 5 values at byte 9");
    ck_assert_int_eq(jl_parse(&d, "{\"a\":1,\"b\":2}", 13, &lim, &e), NN_OK);   /* keys count */
    jl_free(&d);
    ck_assert_int_eq(jl_parse(&d, "{\"a\":1,\"b\":2,\"c\":3}", 19, &lim, &e), NN_ELIMIT);

    /* Many values grow the node array past its first allocation. */
    size_t n = 100000;
    char *s = malloc(2 * n + 2);
    ck_assert_ptr_nonnull(s);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) {
        s[1 + 2 * i] = (char)('0' + i % 10);
        s[2 + 2 * i] = ',';
    }
    s[2 * n] = ']';
    s[2 * n + 1] = 0;
    ck_assert_int_eq(jparse(&d, s, &e), NN_OK);
    ck_assert_int_eq(d.n_node, (int)n + 1);
    ck_assert_int_eq(d.node[0].n, (int)n);
    ck_assert_str_eq(jl_text(&d, 99999), "8");
    jl_free(&d);
    free(s);
}
END_TEST

START_TEST(test_jl_utf8_valid)
{
    ck_assert_uint_eq(jl_utf8_valid("", 0), 0);
    ck_assert_uint_eq(jl_utf8_valid("abc", 3), 3);
    ck_assert_uint_eq(jl_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 9);
    ck_assert_uint_eq(jl_utf8_valid("\xf4\x8f\xbf\xbf", 4), 4);      /* U+10FFFF */
    ck_assert_uint_eq(jl_utf8_valid("\xee\x80\x80", 3), 3);          /* U+E000 */
    ck_assert_uint_eq(jl_utf8_valid("ab\xff", 3), 2);
    ck_assert_uint_eq(jl_utf8_valid("a\xc3", 2), 1);
    ck_assert_uint_eq(jl_utf8_valid("a\xc1\x81", 3), 1);
    ck_assert_uint_eq(jl_utf8_valid("\xed\xbf\xbf", 3), 0);
    ck_assert_uint_eq(jl_utf8_valid("\xf0\x8f\xbf\xbf", 4), 0);      /* overlong */
    ck_assert_uint_eq(jl_utf8_valid("\xf5\x80\x80\x80", 4), 0);
    ck_assert_uint_eq(jl_utf8_valid("\xe2\x28\xa1", 3), 0);
}
END_TEST

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Structural invariants of a parsed document. */
static void check_doc(const jl_doc *d)
{
    for (int i = 0; i < d->n_node; i++) {
        const jl_node *n = &d->node[i];
        ck_assert_int_gt(n->next, i);
        ck_assert_int_le(n->next, d->n_node);
        if (n->kind == JL_ARRAY || n->kind == JL_OBJECT) {
            int c = 0;
            for (int k = jl_child(d, i); k >= 0; k = jl_next(d, i, k)) {
                ck_assert_int_le(d->node[k].next, n->next);
                if (n->kind == JL_OBJECT && c % 2 == 0)
                    ck_assert_int_eq(d->node[k].kind, JL_STRING);
                c++;
            }
            ck_assert_int_eq(c, n->kind == JL_OBJECT ? 2 * n->n : n->n);
        } else if (n->kind == JL_STRING || n->kind == JL_NUMBER) {
            ck_assert_int_eq(n->next, i + 1);
            ck_assert_uint_eq(jl_utf8_valid(jl_text(d, i), (size_t)n->n), (size_t)n->n);
            ck_assert_int_eq(jl_text(d, i)[n->n], 0);
        }
    }
}

START_TEST(test_jl_fuzz)
{
    const char *base = "{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"],"
                       " \"b\": {\"c\": [[], {}], \"d\": \"\xc3\xa9\\n\"}, \"e\": 0}";
    size_t blen = strlen(base);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    const char pick[] = "{}[]\",:0-.e\\u ntf\xc3\xa9\xff";
    int ok = 0;
    char *buf = malloc(blen + 16);
    ck_assert_ptr_nonnull(buf);
    for (int it = 0; it < 5000; it++) {
        memcpy(buf, base, blen);
        size_t len = blen;
        int edits = 1 + (int)(xorshift(&seed) % 3);
        for (int k = 0; k < edits; k++) {
            size_t at = xorshift(&seed) % len;
            switch (xorshift(&seed) % 4) {
            case 0: buf[at] = (char)xorshift(&seed); break;
            case 1: buf[at] = pick[xorshift(&seed) % (sizeof pick - 1)]; break;
            case 2: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;
            default: len = at + 1; break;
            }
        }
        jl_doc d;
        nn_err e = { .msg = "" };
        int rc = jl_parse(&d, buf, len, NULL, &e);
        ck_assert(rc == NN_OK || rc == NN_EFORMAT);
        if (rc == NN_OK) {
            check_doc(&d);
            ok++;
        } else {
            ck_assert(strstr(e.msg, "at byte") != NULL);
        }
        jl_free(&d);
    }
    free(buf);
    ck_assert_int_gt(ok, 50);
}
END_TEST

/* ======================================================================== */
/* safetensors: helpers                                                     */

/* A file from a header text (written as given, unpadded) and data bytes. */
static unsigned char *mk(const char *hdr, size_t hlen, const void *data, size_t dlen, size_t *len)
{
    unsigned char *b = malloc(8 + hlen + dlen + 1);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    if (dlen)
        memcpy(b + 8 + hlen, data, dlen);
    *len = 8 + hlen + dlen;
    return b;
}

/* Parses and returns the code; on failure checks that nothing was returned. */
static int parse_buf(const void *b, size_t len, nn_err *e)
{
    nn_st_file *f = (nn_st_file *)&f;   /* poison: must come back NULL on failure */
    memset(e, 0, sizeof *e);
    int rc = nn_st_parse(b, len, &f, e);
    if (rc < 0) {
        ck_assert_ptr_null(f);
        ck_assert_msg(e->msg[0] != 0, "no message for code %d", rc);
    }
    nn_st_free(f);
    return rc;
}

/* A header with dlen zero bytes of data must fail with rc and a message
 * containing msg. */
static void bad_header(const char *hdr, size_t dlen, int rc, const char *msg)
{
    size_t len;
    unsigned char zeros[64] = { 0 };
    ck_assert_uint_le(dlen, sizeof zeros);
    unsigned char *b = mk(hdr, strlen(hdr), zeros, dlen, &len);
    nn_err e;
    int got = parse_buf(b, len, &e);
    ck_assert_msg(got == rc, "header %.200s: code %d, expected %d (%s)", hdr, got, rc, e.msg);
    ck_assert_msg(strstr(e.msg, msg) != NULL, "header %.200s: message \"%s\" lacks \"%s\"", hdr, e.msg,
                  msg);
    free(b);
}

static void good_header(const char *hdr, size_t dlen)
{
    size_t len;
    unsigned char zeros[64] = { 0 };
    unsigned char *b = mk(hdr, strlen(hdr), zeros, dlen, &len);
    nn_err e;
    int rc = parse_buf(b, len, &e);
    ck_assert_msg(rc == NN_OK, "header %.200s: %s", hdr, e.msg);
    free(b);
}

static int same_real(nn_real a, nn_real b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The fixture most tests share: ranks 0..4, a zero-size tensor, metadata. */
typedef struct fixture {
    nn_real s[1], v[3], m[6], t3[6], t4[8], z[1];
    nn_st_tensor t[6];
    const char *meta[6];
} fixture;

static void fixture_init(fixture *x)
{
    memset(x, 0, sizeof *x);
    x->s[0] = (nn_real)3.25;
    for (int i = 0; i < 3; i++)
        x->v[i] = (nn_real)(i + 1) * (nn_real)-0.5;
    for (int i = 0; i < 6; i++) {
        x->m[i] = (nn_real)i / (nn_real)7;
        x->t3[i] = (nn_real)(100 - i);
    }
    for (int i = 0; i < 8; i++)
        x->t4[i] = (nn_real)ldexp(1.0, i - 4) * (i % 2 ? -1 : 1);
    x->t4[0] = (nn_real)-0.0;
    x->t[0] = (nn_st_tensor){ .name = "scalar", .rank = 0, .data = x->s };
    x->t[1] = (nn_st_tensor){ .name = "layers.0.bias", .rank = 1, .shape = { 3 }, .data = x->v };
    x->t[2] = (nn_st_tensor){ .name = "layers.0.weight", .rank = 2, .shape = { 2, 3 }, .data = x->m };
    x->t[3] = (nn_st_tensor){ .name = "empty", .rank = 2, .shape = { 4, 0 }, .data = NULL };
    x->t[4] = (nn_st_tensor){ .name = "t3 \"q\" \\ \xc3\xa9\n", .rank = 3, .shape = { 2, 1, 3 },
                              .data = x->t3 };
    x->t[5] = (nn_st_tensor){ .name = "t4", .rank = 4, .shape = { 1, 2, 2, 2 }, .data = x->t4 };
    x->meta[0] = "format";
    x->meta[1] = "pt";
    x->meta[2] = "epoch";
    x->meta[3] = "7";
    x->meta[4] = "note \"\xe2\x82\xac\"";
    x->meta[5] = "";
}

/* f holds exactly the fixture. */
static void check_fixture(const nn_st_file *f, const fixture *x)
{
    nn_err e;
    ck_assert_int_eq(nn_st_count(f), 6);
    for (int i = 0; i < 6; i++) {
        const nn_st_tensor *t = &x->t[i];
        ck_assert_str_eq(nn_st_name(f, i), t->name);
        const char *dtype;
        int rank;
        int64_t shape[NN_MAX_RANK];
        ck_assert_int_eq(nn_st_info(f, t->name, &dtype, &rank, shape, &e), NN_OK);
        ck_assert_str_eq(dtype, NN_REAL_NAME);
        ck_assert_int_eq(rank, t->rank);
        int64_t numel = 1;
        for (int k = 0; k < rank; k++) {
            ck_assert_int_eq(shape[k], t->shape[k]);
            numel *= shape[k];
        }
        nn_real got[9];
        for (int k = 0; k < 9; k++)
            got[k] = (nn_real)12345;
        ck_assert_int_eq(nn_st_copy(f, t->name, t->rank, t->shape, got, &e), NN_OK);
        for (int64_t k = 0; k < numel; k++)
            ck_assert_msg(same_real(got[k], t->data[k]), "%s[%lld]", t->name, (long long)k);
        ck_assert(got[numel] == (nn_real)12345);   /* nothing written past the tensor */
    }
    ck_assert_ptr_null(nn_st_name(f, 6));
    ck_assert_ptr_null(nn_st_name(f, -1));
    ck_assert_str_eq(nn_st_meta(f, "format"), "pt");
    ck_assert_str_eq(nn_st_meta(f, "epoch"), "7");
    ck_assert_str_eq(nn_st_meta(f, "note \"\xe2\x82\xac\""), "");
    ck_assert_ptr_null(nn_st_meta(f, "missing"));
    ck_assert_ptr_null(nn_st_meta(f, "scalar"));
}

/* Where tests/core/st_numpy_check.py is. */
static char *script_path(void)
{
    const char *dir = getenv("TRAIND_SRCDIR");
    char *p = malloc(4096);
    ck_assert_ptr_nonnull(p);
    snprintf(p, 4096, "%s%stests/core/st_numpy_check.py", dir && *dir ? dir : "",
             dir && *dir ? "/" : "");
    ck_assert_msg(access(p, R_OK) == 0,
                  "cannot find %s: run from the repository root or set TRAIND_SRCDIR", p);
    ck_assert_msg(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is missing");
    return p;
}

/* Runs the numpy script with two arguments; returns its exit status. */
static int run_script(const char *a, const char *b, int quiet)
{
    char *script = script_path();
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s'%s", script, a, b,
             quiet ? " >/dev/null" : "");
    int st = system(cmd);
    free(script);
    ck_assert_msg(st != -1, "system() failed");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* ======================================================================== */
/* safetensors: round trips and bytes                                        */

START_TEST(test_roundtrip_mem)
{
    fixture x;
    fixture_init(&x);
    void *buf;
    size_t len;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(x.t, 6, x.meta, 3, &buf, &len, &e), NN_OK);
    size_t data = sizeof(nn_real) * (1 + 3 + 6 + 0 + 6 + 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | ((unsigned char *)buf)[i];
    ck_assert_uint_eq(len, 8 + hlen + data);
    nn_st_file *f;
    ck_assert_int_eq(nn_st_parse(buf, len, &f, &e), NN_OK);
    memset(buf, 0xAB, len);   /* the parsed file keeps its own copy */
    free(buf);
    check_fixture(f, &x);
    nn_st_free(f);
    nn_st_free(NULL);
}
END_TEST

START_TEST(test_roundtrip_file)
{
    fixture x;
    fixture_init(&x);
    const char *dir = tu_tmpdir();
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    nn_err e;
    ck_assert_int_eq(nn_st_write_file(path, x.t, 6, x.meta, 3, &e), NN_OK);
    ck_assert_int_ne(access(tmp, F_OK), 0);   /* renamed away */
    nn_st_file *f;
    ck_assert_int_eq(nn_st_read_file(path, &f, &e), NN_OK);
    check_fixture(f, &x);
    nn_st_free(f);

    /* The file holds exactly what the in-memory writer produces. */
    void *buf;
    size_t len, flen;
    ck_assert_int_eq(nn_st_write_mem(x.t, 6, x.meta, 3, &buf, &len, &e), NN_OK);
    char *file = tu_read(path, &flen);
    ck_assert_uint_eq(flen, len);
    ck_assert(memcmp(file, buf, len) == 0);
    free(file);
    free(buf);

    /* Overwriting replaces the file. */
    ck_assert_int_eq(nn_st_write_file(path, x.t + 1, 1, NULL, 0, &e), NN_OK);
    ck_assert_int_eq(nn_st_read_file(path, &f, &e), NN_OK);
    ck_assert_int_eq(nn_st_count(f), 1);
    ck_assert_str_eq(nn_st_name(f, 0), "layers.0.bias");
    ck_assert_ptr_null(nn_st_meta(f, "format"));
    nn_st_free(f);
}
END_TEST

START_TEST(test_large_tensor_file)
{
    /* More than one 64 KiB encoding chunk, with values that show misplacement. */
    int64_t n = 3 * 65536 / (int64_t)sizeof(nn_real) + 17;
    nn_real *v = malloc((size_t)n * sizeof *v), *back = malloc((size_t)n * sizeof *v);
    ck_assert(v && back);
    for (int64_t i = 0; i < n; i++)
        v[i] = (nn_real)i * (nn_real)0.25 - (nn_real)1000;
    nn_st_tensor t[2] = {
        { .name = "big", .rank = 2, .shape = { 1, n }, .data = v },
        { .name = "tail", .rank = 1, .shape = { 2 }, .data = v + 5 },
    };
    char path[1024];
    snprintf(path, sizeof path, "%s/big.safetensors", tu_tmpdir());
    nn_err e;
    ck_assert_int_eq(nn_st_write_file(path, t, 2, NULL, 0, &e), NN_OK);
    nn_st_file *f;
    ck_assert_int_eq(nn_st_read_file(path, &f, &e), NN_OK);
    ck_assert_int_eq(nn_st_copy(f, "big", 2, t[0].shape, back, &e), NN_OK);
    for (int64_t i = 0; i < n; i++)
        ck_assert(same_real(back[i], v[i]));
    ck_assert_int_eq(nn_st_copy(f, "tail", 1, t[1].shape, back, &e), NN_OK);
    ck_assert(back[0] == v[5] && back[1] == v[6]);
    nn_st_free(f);
    free(v);
    free(back);
}
END_TEST

START_TEST(test_many_tensors_lookup)
{
    enum { N = 1000 };
    static char names[N][16];
    static nn_real vals[N];
    static nn_st_tensor t[N];
    for (int i = 0; i < N; i++) {
        /* Written in an order unrelated to the sorted one. */
        snprintf(names[i], sizeof names[i], "w%d", (i * 7919) % N);
        vals[i] = (nn_real)i;
        t[i] = (nn_st_tensor){ .name = names[i], .rank = 0, .data = &vals[i] };
    }
    void *buf;
    size_t len;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(t, N, NULL, 0, &buf, &len, &e), NN_OK);
    nn_st_file *f;
    ck_assert_int_eq(nn_st_parse(buf, len, &f, &e), NN_OK);
    free(buf);
    ck_assert_int_eq(nn_st_count(f), N);
    for (int i = 0; i < N; i++) {
        nn_real got;
        ck_assert_str_eq(nn_st_name(f, i), names[i]);
        ck_assert_int_eq(nn_st_copy(f, names[i], 0, NULL, &got, &e), NN_OK);
        ck_assert(got == (nn_real)i);
    }
    ck_assert_int_eq(nn_st_info(f, "w1000", NULL, NULL, NULL, &e), NN_EINVAL);
    nn_st_free(f);
}
END_TEST

START_TEST(test_zero_tensors)
{
    void *buf;
    size_t len;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(NULL, 0, NULL, 0, &buf, &len, &e), NN_OK);
    ck_assert_uint_eq(len, 16);
    ck_assert(memcmp(buf, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    nn_st_file *f;
    ck_assert_int_eq(nn_st_parse(buf, len, &f, &e), NN_OK);
    ck_assert_int_eq(nn_st_count(f), 0);
    ck_assert_ptr_null(nn_st_name(f, 0));
    ck_assert_ptr_null(nn_st_meta(f, "a"));
    ck_assert_int_eq(nn_st_info(f, "a", NULL, NULL, NULL, &e), NN_EINVAL);
    HAS(e, "no tensor named \"a\"");
    nn_st_free(f);
    free(buf);
}
END_TEST

START_TEST(test_header_padded)
{
    /* Names of every length mod 8 give every amount of padding. */
    for (int n = 1; n <= 16; n++) {
        char name[32];
        memset(name, 'n', (size_t)n);
        name[n] = 0;
        nn_real v[2] = { 1, 2 };
        nn_st_tensor t = { .name = name, .rank = 1, .shape = { 2 }, .data = v };
        void *buf;
        size_t len;
        nn_err e;
        ck_assert_int_eq(nn_st_write_mem(&t, 1, NULL, 0, &buf, &len, &e), NN_OK);
        const unsigned char *b = buf;
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = hlen << 8 | b[i];
        ck_assert_uint_eq(hlen % 8, 0);
        ck_assert_uint_eq(len, 8 + hlen + 2 * sizeof(nn_real));
        /* The JSON ends at the last '}', and only spaces follow it (fewer than 8). */
        size_t end = (size_t)hlen;
        while (b[8 + end - 1] == ' ')
            end--;
        ck_assert_int_eq(b[8 + end - 1], '}');
        ck_assert_uint_lt(hlen - end, 8);
        ck_assert(memcmp(b + 8, "{\"", 2) == 0);
        free(buf);
    }
}
END_TEST

START_TEST(test_exact_bytes)
{
    nn_real v[2] = { 1, -2 };
    nn_st_tensor t = { .name = "a", .rank = 1, .shape = { 2 }, .data = v };
    const char *meta[2] = { "k", "v" };
    void *buf;
    size_t len;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(&t, 1, meta, 1, &buf, &len, &e), NN_OK);

    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "{\"__metadata__\":{\"k\":\"v\"},"
                     "\"a\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%d]}}",
                     NN_REAL_NAME, (int)(2 * sizeof(nn_real)));
    while (n % 8)
        hdr[n++] = ' ';
    hdr[n] = 0;
    ck_assert_int_eq(n, 80);   /* 77 bytes of JSON and 3 spaces */
#ifdef NN_DOUBLE
    static const unsigned char data[] = { 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0xC0 };
#else
    static const unsigned char data[] = { 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0 };
#endif
    unsigned char want[8 + 80 + sizeof data];
    memcpy(want, "\x50\0\0\0\0\0\0\0", 8);
    memcpy(want + 8, hdr, 80);
    memcpy(want + 88, data, sizeof data);
    ck_assert_uint_eq(len, sizeof want);
    ck_assert_msg(memcmp(buf, want, len) == 0, "got header %.80s", (char *)buf + 8);
    free(buf);
}
END_TEST

/* ======================================================================== */
/* safetensors: numpy agreement                                             */

static void print_real(FILE *fp, nn_real x)
{
    /* Enough digits to round-trip the type exactly, and always a fraction
     * or exponent: JSON's "-0" would read back as the integer 0. */
    char t[64];
    snprintf(t, sizeof t, "%.*g", sizeof(nn_real) == 4 ? 9 : 17, (double)x);
    fprintf(fp, "%s%s", t, strpbrk(t, ".e") ? "" : ".0");
}

/* Writes the EXPECTED document st_numpy_check.py compares against. */
static void write_expected(const char *path, const nn_st_tensor *t, int n, const char *const *meta,
                           int n_meta, const char *names_json[])
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "{\"metadata\": {");
    for (int i = 0; i < n_meta; i++)
        fprintf(fp, "%s\"%s\": \"%s\"", i ? ", " : "", meta[2 * i], meta[2 * i + 1]);
    fprintf(fp, "}, \"tensors\": [");
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        fprintf(fp, "%s{\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [", i ? ", " : "",
                names_json[i], NN_REAL_NAME);
        for (int k = 0; k < t[i].rank; k++) {
            fprintf(fp, "%s%lld", k ? ", " : "", (long long)t[i].shape[k]);
            numel *= t[i].shape[k];
        }
        fprintf(fp, "], \"data\": [");
        for (int64_t k = 0; k < numel; k++) {
            if (k)
                fprintf(fp, ", ");
            print_real(fp, t[i].data[k]);
        }
        fprintf(fp, "]}");
    }
    fprintf(fp, "]}\n");
    ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_numpy_agrees)
{
    nn_real odd[7] = { (nn_real)0.1, (nn_real)-0.0, (nn_real)1e-40, (nn_real)3.4e38,
                       (nn_real)-1e-30, (nn_real)123456789, (nn_real)(1.0 / 3.0) };
    fixture x;
    fixture_init(&x);
    nn_st_tensor t[7];
    memcpy(t, x.t, sizeof x.t);
    t[4].name = "t3 \xc3\xa9";   /* JSON-escaping names is tested elsewhere */
    t[6] = (nn_st_tensor){ .name = "odd", .rank = 1, .shape = { 7 }, .data = odd };
    const char *names_json[7] = { "scalar", "layers.0.bias", "layers.0.weight", "empty",
                                  "t3 \xc3\xa9", "t4", "odd" };
    const char *meta[4] = { "format", "pt", "epoch", "7" };
    const char *dir = tu_tmpdir();
    char path[1024], want[1024];
    snprintf(path, sizeof path, "%s/np.safetensors", dir);
    snprintf(want, sizeof want, "%s/np.json", dir);
    nn_err e;
    ck_assert_int_eq(nn_st_write_file(path, t, 7, meta, 2, &e), NN_OK);
    write_expected(want, t, 7, meta, 2, names_json);
    ck_assert_int_eq(run_script(path, want, 0), 0);

    /* The script notices one wrong value, so agreement above means something. */
    odd[3] = (nn_real)3.3e38;
    write_expected(want, t, 7, meta, 2, names_json);
    ck_assert_int_eq(run_script(path, want, 1), 1);
}
END_TEST

/* Compares tensors a and b of f element for element (NaN matches any NaN). */
static void same_values(const nn_st_file *f, const char *a, const char *b, int64_t n)
{
    nn_real *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    ck_assert(x && y);
    int rank;
    int64_t shape[NN_MAX_RANK];
    nn_err e;
    ck_assert_int_eq(nn_st_info(f, a, NULL, &rank, shape, &e), NN_OK);
    ck_assert_int_eq(nn_st_copy(f, a, rank, shape, x, &e), NN_OK);
    ck_assert_int_eq(nn_st_copy(f, b, rank, shape, y, &e), NN_OK);
    for (int64_t i = 0; i < n; i++) {
        if (isnan(y[i]))
            ck_assert_msg(isnan(x[i]), "%s[%lld] = %g, numpy gives nan", a, (long long)i, (double)x[i]);
        else
            ck_assert_msg(same_real(x[i], y[i]), "%s[%lld] = %.9g, numpy gives %.9g", a,
                          (long long)i, (double)x[i], (double)y[i]);
    }
    free(x);
    free(y);
}

START_TEST(test_numpy_conversions)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/conv.safetensors", tu_tmpdir());
    char *script = script_path();
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --write-conversions '%s'", script, path);
    free(script);
    ck_assert_int_eq(system(cmd), 0);
    nn_st_file *f;
    nn_err e;
    ck_assert_int_eq(nn_st_read_file(path, &f, &e), NN_OK);
    const char *dtype;
    ck_assert_int_eq(nn_st_info(f, "bf16", &dtype, NULL, NULL, &e), NN_OK);
    ck_assert_str_eq(dtype, "BF16");
    same_values(f, "f16", "f16_as_f32", 65536);      /* every binary16 value */
    same_values(f, "bf16", "bf16_as_f32", 65536);    /* every bfloat16 value */
    same_values(f, "f64", sizeof(nn_real) == 4 ? "f64_as_f32" : "f64_as_f64", 19);
    nn_st_free(f);
}
END_TEST

/* ======================================================================== */
/* safetensors: conversions from hand-built files                           */

START_TEST(test_convert_f16_bf16_f64)
{
    static const uint16_t h[] = { 0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF,
                                  0x0400, 0x7C00, 0xFC00, 0x7E00, 0x3555, 0x8001, 0xFE01 };
    static const uint16_t bf[] = { 0x3F80, 0xC040, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x4049, 0x8000 };
    static const double d[] = { 1.5, -0.1, 1e300, 5e-324, -0.0 };
    unsigned char data[sizeof h + sizeof bf + sizeof d];
    size_t o = 0;
    for (size_t i = 0; i < sizeof h / 2; i++, o += 2)
        data[o] = (unsigned char)h[i], data[o + 1] = (unsigned char)(h[i] >> 8);
    for (size_t i = 0; i < sizeof bf / 2; i++, o += 2)
        data[o] = (unsigned char)bf[i], data[o + 1] = (unsigned char)(bf[i] >> 8);
    for (size_t i = 0; i < sizeof d / 8; i++, o += 8) {
        uint64_t u;
        memcpy(&u, &d[i], 8);
        for (int k = 0; k < 8; k++)
            data[o + k] = (unsigned char)(u >> 8 * k);
    }
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[14],\"data_offsets\":[0,28]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[28,44]},"
                      "\"d\":{\"shape\":[5],\"data_offsets\":[44,84],\"dtype\":\"F64\"}}";
    size_t len;
    unsigned char *buf = mk(hdr, strlen(hdr), data, sizeof data, &len);
    nn_st_file *f;
    nn_err e;
    ck_assert_int_eq(nn_st_parse(buf, len, &f, &e), NN_OK);
    free(buf);

    nn_real x[14];
    ck_assert_int_eq(nn_st_copy(f, "h", 1, (int64_t[]){ 14 }, x, &e), NN_OK);
    ck_assert(x[0] == 0 && !signbit(x[0]));
    ck_assert(x[1] == 0 && signbit(x[1]));
    ck_assert(x[2] == 1);
    ck_assert(x[3] == -2);
    ck_assert(x[4] == 65504);                          /* largest half */
    ck_assert(x[5] == (nn_real)ldexp(1, -24));         /* smallest subnormal */
    ck_assert(x[6] == (nn_real)ldexp(1023, -24));      /* largest subnormal */
    ck_assert(x[7] == (nn_real)ldexp(1, -14));         /* smallest normal */
    ck_assert(isinf(x[8]) && x[8] > 0);
    ck_assert(isinf(x[9]) && x[9] < 0);
    ck_assert(isnan(x[10]));
    ck_assert(x[11] == (nn_real)0.333251953125);
    ck_assert(x[12] == -(nn_real)ldexp(1, -24));
    ck_assert(isnan(x[13]));

    ck_assert_int_eq(nn_st_copy(f, "b", 2, (int64_t[]){ 2, 4 }, x, &e), NN_OK);
    ck_assert(x[0] == 1);
    ck_assert(x[1] == -3);
    ck_assert(x[2] == (nn_real)ldexp(1, -133));        /* bfloat16 subnormal */
    ck_assert(x[2] > 0);
    ck_assert(isinf(x[3]) && x[3] > 0);
    ck_assert(isinf(x[4]) && x[4] < 0);
    ck_assert(isnan(x[5]));
    ck_assert(x[6] == (nn_real)3.140625);
    ck_assert(x[7] == 0 && signbit(x[7]));

    ck_assert_int_eq(nn_st_copy(f, "d", 1, (int64_t[]){ 5 }, x, &e), NN_OK);
    ck_assert(x[0] == (nn_real)1.5);
    ck_assert(x[1] == (nn_real)-0.1);
#ifdef NN_DOUBLE
    ck_assert(x[2] == 1e300);
    ck_assert(x[3] == 5e-324);
#else
    ck_assert(isinf(x[2]) && x[2] > 0);                /* beyond FLT_MAX */
    ck_assert(x[3] == 0);                              /* below the float subnormals */
#endif
    ck_assert(x[4] == 0 && signbit(x[4]));
    nn_st_free(f);
}
END_TEST

START_TEST(test_other_dtypes)
{
    const char *hdr = "{\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                      "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                      "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[12,14]},"
                      "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[14,15]},"
                      "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[15,16]},"
                      "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[16,18]},"
                      "\"r7\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[18,22]}}";
    unsigned char data[22] = { 0 };
    size_t len;
    unsigned char *buf = mk(hdr, strlen(hdr), data, sizeof data, &len);
    nn_st_file *f;
    nn_err e;
    ck_assert_int_eq(nn_st_parse(buf, len, &f, &e), NN_OK);
    free(buf);
    static const char *names[] = { "i64", "i32", "i16", "i8", "u8", "bool" };
    static const char *types[] = { "I64", "I32", "I16", "I8", "U8", "BOOL" };
    for (int i = 0; i < 6; i++) {
        const char *dtype;
        int rank;
        int64_t shape[NN_MAX_RANK];
        ck_assert_int_eq(nn_st_info(f, names[i], &dtype, &rank, shape, &e), NN_OK);
        ck_assert_str_eq(dtype, types[i]);
        ck_assert_int_eq(rank, 1);
        nn_real x[2] = { 5, 5 };
        ck_assert_int_eq(nn_st_copy(f, names[i], 1, shape, x, &e), NN_EINVAL);
        HAS(e, "has dtype ");
        HAS(e, types[i]);
        ck_assert(x[0] == 0);   /* zeroed on failure */
    }
    /* Rank 7 is a valid file, but more than nn_st_info can describe. */
    const char *dtype = "x";
    int rank = 9;
    int64_t shape[NN_MAX_RANK] = { 3, 3, 3, 3, 3, 3 };
    ck_assert_int_eq(nn_st_info(f, "r7", &dtype, &rank, shape, &e), NN_ELIMIT);
    HAS(e, "rank 7, more than 6");
    ck_assert_ptr_null(dtype);
    ck_assert_int_eq(rank, 0);
    ck_assert_int_eq(shape[5], 0);
    nn_real x;
    ck_assert_int_eq(nn_st_copy(f, "r7", 1, (int64_t[]){ 1 }, &x, &e), NN_EINVAL);
    HAS(e, "has shape [1, 1, 1, 1, 1, 1, 1], expected [1]");
    nn_st_free(f);
}
END_TEST

START_TEST(test_copy_errors)
{
    fixture x;
    fixture_init(&x);
    void *buf;
    size_t len;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(x.t, 6, NULL, 0, &buf, &len, &e), NN_OK);
    nn_st_file *f;
    ck_assert_int_eq(nn_st_parse(buf, len, &f, &e), NN_OK);
    free(buf);
    nn_real dst[6] = { 9, 9, 9, 9, 9, 9 };
    ck_assert_int_eq(nn_st_copy(f, "layers.0.weight", 2, (int64_t[]){ 3, 2 }, dst, &e), NN_EINVAL);
    HAS(e, "tensor \"layers.0.weight\" has shape [2, 3], expected [3, 2]");
    for (int i = 0; i < 6; i++)
        ck_assert(dst[i] == 0);
    ck_assert_int_eq(nn_st_copy(f, "layers.0.weight", 1, (int64_t[]){ 6 }, dst, &e), NN_EINVAL);
    HAS(e, "has shape [2, 3], expected [6]");
    ck_assert_int_eq(nn_st_copy(f, "scalar", 1, (int64_t[]){ 1 }, dst, &e), NN_EINVAL);
    HAS(e, "has shape [], expected [1]");
    ck_assert_int_eq(nn_st_copy(f, "empty", 2, (int64_t[]){ 4, 0 }, NULL, &e), NN_OK);
    ck_assert_int_eq(nn_st_copy(f, "nope", 0, NULL, dst, &e), NN_EINVAL);
    HAS(e, "no tensor named \"nope\"");
    ck_assert_int_eq(nn_st_copy(f, "scalar", -1, NULL, dst, &e), NN_EINVAL);
    ck_assert_int_eq(nn_st_copy(f, "scalar", 0, NULL, NULL, &e), NN_EINVAL);
    ck_assert_int_eq(nn_st_copy(f, "layers.0.weight", 2, (int64_t[]){ -2, -3 }, dst, &e), NN_EINVAL);

    const char *dtype = "x";
    int rank = 5;
    int64_t shape[NN_MAX_RANK] = { 1, 1, 1, 1, 1, 1 };
    ck_assert_int_eq(nn_st_info(f, "nope", &dtype, &rank, shape, &e), NN_EINVAL);
    HAS(e, "no tensor named \"nope\"");
    ck_assert_ptr_null(dtype);
    ck_assert_int_eq(rank, 0);
    for (int i = 0; i < NN_MAX_RANK; i++)
        ck_assert_int_eq(shape[i], 0);
    ck_assert_int_eq(nn_st_info(f, "t4", NULL, &rank, NULL, NULL), NN_OK);
    ck_assert_int_eq(rank, 4);
    nn_st_free(f);
}
END_TEST

/* ======================================================================== */
/* safetensors: writer argument errors                                       */

static void bad_write(const nn_st_tensor *t, int n, const char *const *meta, int n_meta,
                      int rc, const char *msg)
{
    void *buf = (void *)&buf;
    size_t len = 99;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(t, n, meta, n_meta, &buf, &len, &e), rc);
    HAS(e, msg);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
}

START_TEST(test_write_invalid)
{
    nn_real v[4] = { 0 };
    nn_st_tensor a = { .name = "a", .rank = 1, .shape = { 2 }, .data = v };
    nn_st_tensor t[2] = { a, a };
    bad_write(t, 2, NULL, 0, NN_EINVAL, "duplicate tensor name \"a\"");
    t[1].name = "";
    bad_write(t, 2, NULL, 0, NN_EINVAL, "tensor 1 has no name");
    t[1].name = NULL;
    bad_write(t, 2, NULL, 0, NN_EINVAL, "tensor 1 has no name");
    t[1].name = "__metadata__";
    bad_write(t, 2, NULL, 0, NN_EINVAL, "\"__metadata__\" is reserved");
    t[1].name = "b\xff";
    bad_write(t, 2, NULL, 0, NN_EINVAL, "name of tensor 1 is not valid UTF-8");
    t[1].name = "b\xed\xa0\x80";
    bad_write(t, 2, NULL, 0, NN_EINVAL, "not valid UTF-8");
    t[1] = a;
    t[1].name = "b";
    t[1].rank = 7;
    bad_write(t, 2, NULL, 0, NN_EINVAL, "tensor \"b\" has rank 7");
    t[1].rank = -1;
    bad_write(t, 2, NULL, 0, NN_EINVAL, "tensor \"b\" has rank -1");
    t[1].rank = 2;
    t[1].shape[1] = -3;
    bad_write(t, 2, NULL, 0, NN_EINVAL, "tensor \"b\" has negative dimension -3");
    t[1].shape[0] = (int64_t)1 << 40;
    t[1].shape[1] = (int64_t)1 << 40;
    bad_write(t, 2, NULL, 0, NN_ELIMIT, "tensor \"b\" is too large");
    t[1] = a;
    t[1].name = "b";
    t[1].data = NULL;
    bad_write(t, 2, NULL, 0, NN_EINVAL, "tensor \"b\" has no data");
    bad_write(t, -1, NULL, 0, NN_EINVAL, "bad tensor or metadata count");
    bad_write(NULL, 1, NULL, 0, NN_EINVAL, "bad tensor or metadata count");
    bad_write(&a, 1, NULL, 1, NN_EINVAL, "bad tensor or metadata count");

    const char *meta[4] = { "k", "v", "k", "w" };
    bad_write(&a, 1, meta, 2, NN_EINVAL, "duplicate metadata key \"k\"");
    meta[2] = "k2";
    meta[3] = "\xc3";
    bad_write(&a, 1, meta, 2, NN_EINVAL, "metadata value 1 is not valid UTF-8");
    meta[3] = NULL;
    bad_write(&a, 1, meta, 2, NN_EINVAL, "metadata value 1 is NULL");
    meta[3] = "ok";
    meta[0] = "\x80";
    bad_write(&a, 1, meta, 2, NN_EINVAL, "metadata key 0 is not valid UTF-8");

    /* A header past NN_ST_MAX_HEADER is refused (measured before it is built). */
    size_t big = NN_ST_MAX_HEADER;
    char *huge = malloc(big + 1);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'x', big);
    huge[big] = 0;
    const char *hm[2] = { "k", huge };
    bad_write(&a, 1, hm, 1, NN_ELIMIT, "header of 104857680 bytes exceeds the limit of 104857600 bytes");
    free(huge);

    /* A file in a directory that does not exist. */
    nn_err e;
    char path[1024];
    snprintf(path, sizeof path, "%s/no/such/dir/w.safetensors", tu_tmpdir());
    ck_assert_int_eq(nn_st_write_file(path, &a, 1, NULL, 0, &e), NN_EIO);
    HAS(e, "cannot create");
    HAS(e, "w.safetensors.tmp");
    /* Invalid arguments are reported before any file is made. */
    snprintf(path, sizeof path, "%s/bad.safetensors", tu_tmpdir());
    ck_assert_int_eq(nn_st_write_file(path, t, -1, NULL, 0, &e), NN_EINVAL);
    ck_assert_int_ne(access(path, F_OK), 0);
    strcat(path, ".tmp");
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* ======================================================================== */
/* safetensors: malformed files                                             */

START_TEST(test_bad_lengths)
{
    nn_err e;
    ck_assert_int_eq(parse_buf("", 0, &e), NN_EFORMAT);
    HAS(e, "empty file");
    ck_assert_int_eq(parse_buf("\x02\0\0\0\0", 5, &e), NN_EFORMAT);
    HAS(e, "file of 5 bytes is shorter than the 8-byte header length");
    ck_assert_int_eq(parse_buf("\x08\0\0\0\0\0\0\0{}  ", 12, &e), NN_EFORMAT);
    HAS(e, "header length 8 runs past the end of the file (4 bytes after the length)");
    ck_assert_int_eq(parse_buf("\x01\0\x40\x06\0\0\0\0{}", 10, &e), NN_ELIMIT);
    HAS(e, "header length 104857601 exceeds the limit of 104857600 bytes");
    ck_assert_int_eq(parse_buf("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, &e), NN_ELIMIT);
    HAS(e, "header length 18446744073709551615 exceeds the limit");
    ck_assert_int_eq(parse_buf("\0\0\0\0\0\0\0\0", 8, &e), NN_EFORMAT);
    HAS(e, "header is not valid JSON: unexpected end of input at byte 0");
    /* Exactly the 8 bytes of a length and a 2-byte header: fine. */
    ck_assert_int_eq(parse_buf("\x02\0\0\0\0\0\0\0{}", 10, &e), NN_OK);
}
END_TEST

START_TEST(test_bad_json)
{
    bad_header("{\"a\":", 0, NN_EFORMAT, "header is not valid JSON: unexpected end of input at byte 5");
    bad_header("[]", 0, NN_EFORMAT, "header is not a JSON object");
    bad_header("\"{}\"", 0, NN_EFORMAT, "header is not a JSON object");
    bad_header("7      ", 0, NN_EFORMAT, "header is not a JSON object");
    bad_header("{}x", 0, NN_EFORMAT, "trailing characters at byte 2");
    bad_header("{} {}", 0, NN_EFORMAT, "trailing characters at byte 3");
    good_header("{}\t\n\r ", 0);
    bad_header("{\"a\\q\":1}", 0, NN_EFORMAT, "invalid escape '\\q' at byte 3");
    bad_header("{\"\\ud800x\":1}", 0, NN_EFORMAT, "not followed by a low surrogate");
    bad_header("{\"\xc3\x28\":1}", 0, NN_EFORMAT, "invalid UTF-8 in string at byte 2");
    bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", 4, NN_EFORMAT,
               "expected a string key");
    /* Padding must be whitespace: NULs are garbage. */
    size_t len;
    unsigned char *b = mk("{}\0\0\0\0\0\0", 8, NULL, 0, &len);
    nn_err e;
    ck_assert_int_eq(parse_buf(b, len, &e), NN_EFORMAT);
    HAS(e, "trailing characters at byte 2");
    free(b);
}
END_TEST

#define E1(body) "{\"a\":" body "}"

START_TEST(test_bad_entries)
{
    bad_header(E1("5"), 0, NN_EFORMAT, "tensor \"a\": entry is not a JSON object");
    bad_header(E1("{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT, "tensor \"a\": missing \"dtype\"");
    bad_header(E1("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, NN_EFORMAT, "missing \"shape\"");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1]}"), 4, NN_EFORMAT, "missing \"data_offsets\"");
    bad_header(E1("{}"), 0, NN_EFORMAT, "missing \"dtype\"");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}"), 4, NN_EFORMAT,
               "tensor \"a\": unexpected key \"x\" (only dtype, shape and data_offsets)");
    bad_header(E1("{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4,
               NN_EFORMAT, "tensor \"a\": duplicate key \"dtype\"");
    bad_header(E1("{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "tensor \"a\": dtype is not a string");
    bad_header(E1("{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}"), 1, NN_EFORMAT,
               "tensor \"a\": unsupported dtype \"F8_E4M3\"");
    bad_header(E1("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "unsupported dtype \"f32\"");
    bad_header(E1("{\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "unsupported dtype \"F32\"");
    /* shape */
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "tensor \"a\": shape is not an array");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "tensor \"a\": shape[0] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "shape[1] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "shape[0] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "shape[0] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "shape[0] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "shape[0] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[9007199254740993],\"data_offsets\":[0,4]}"), 4,
               NN_EFORMAT, "shape[0] is larger than 2^53");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[99999999999999999999999999],\"data_offsets\":[0,4]}"), 4,
               NN_EFORMAT, "shape[0] is larger than 2^53");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],\"data_offsets\":[0,4]}"),
               4, NN_EFORMAT, "shape [9007199254740992, 9007199254740992] of F32 needs more than 2^64 bytes");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,4]}"),
               4, NN_EFORMAT, "needs more than 2^64 bytes but data_offsets span 4");
    /* A zero dimension makes any product 0, however large the others. */
    good_header(E1("{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992,0],\"data_offsets\":[0,0]}"), 0);
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "tensor \"a\": shape [2] of F32 needs 8 bytes but data_offsets span 4");
    bad_header(E1("{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}"), 4, NN_EFORMAT,
               "shape [] of BF16 needs 2 bytes but data_offsets span 4");
    /* data_offsets */
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}"), 4, NN_EFORMAT,
               "tensor \"a\": data_offsets is not an array of two integers");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}"), 4, NN_EFORMAT,
               "data_offsets is not an array of two integers");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}"), 8, NN_EFORMAT,
               "data_offsets is not an array of two integers");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4, NN_EFORMAT,
               "data_offsets[0] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}"), 4, NN_EFORMAT,
               "data_offsets[1] is not a non-negative integer");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}"), 4,
               NN_EFORMAT, "data_offsets[1] is larger than 2^53");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}"), 4, NN_EFORMAT,
               "tensor \"a\": data_offsets [4, 0] end before they begin");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), 6, NN_EFORMAT,
               "tensor \"a\": data_offsets [4, 8] run past the 6-byte data section");
    bad_header(E1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9007199254740988,9007199254740992]}"),
               4, NN_EFORMAT, "run past the 4-byte data section");
}
END_TEST

#define U8(name, n, b, e) "\"" name "\":{\"dtype\":\"U8\",\"shape\":[" #n "],\"data_offsets\":[" #b "," #e "]}"

START_TEST(test_bad_layout)
{
    /* Tiling: any order in the header, but no overlap and no hole. */
    good_header("{" U8("b", 4, 4, 8) "," U8("a", 4, 0, 4) "}", 8);
    good_header("{" U8("z", 0, 4, 4) "," U8("a", 4, 0, 4) "," U8("b", 4, 4, 8) "," U8("y", 0, 8, 8) "}", 8);
    good_header("{" U8("z", 0, 0, 0) "}", 0);
    bad_header("{" U8("a", 8, 0, 8) "," U8("b", 8, 4, 12) "}", 12, NN_EFORMAT,
               "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap");
    bad_header("{" U8("a", 4, 0, 4) "," U8("b", 4, 0, 4) "}", 4, NN_EFORMAT,
               "tensors \"a\" [0, 4) and \"b\" [0, 4) overlap");
    bad_header("{" U8("a", 8, 0, 8) "," U8("z", 0, 4, 4) "}", 8, NN_EFORMAT,
               "tensors \"a\" [0, 8) and \"z\" [4, 4) overlap");
    bad_header("{" U8("a", 4, 0, 4) "," U8("b", 4, 8, 12) "}", 12, NN_EFORMAT,
               "data bytes [4, 8) belong to no tensor (hole before \"b\")");
    bad_header("{" U8("a", 4, 4, 8) "}", 8, NN_EFORMAT, "data bytes [0, 4) belong to no tensor");
    bad_header("{" U8("a", 4, 0, 4) "}", 8, NN_EFORMAT,
               "data bytes [4, 8) after the last tensor belong to no tensor");
    bad_header("{}", 3, NN_EFORMAT, "data bytes [0, 3) after the last tensor");
    /* Names. */
    bad_header("{" U8("a", 4, 0, 4) "," U8("a", 4, 4, 8) "}", 8, NN_EFORMAT,
               "duplicate tensor name \"a\"");
    bad_header("{" U8("a\\u0000b", 4, 0, 4) "}", 4, NN_EFORMAT,
               "tensor name \"a\" contains a NUL byte");
    good_header("{" U8("", 4, 0, 4) "}", 4);
    good_header("{" U8("\\u00e9\\ud83d\\ude00", 4, 0, 4) "}", 4);
    bad_header("{" U8("__metadata__", 4, 0, 4) "}", 4, NN_EFORMAT, "metadata value \"shape\" is not a string");
    /* Metadata. */
    good_header("{\"__metadata__\":{}}", 0);
    bad_header("{\"__metadata__\":{\"k\":1}}", 0, NN_EFORMAT, "metadata value \"k\" is not a string");
    bad_header("{\"__metadata__\":{\"k\":null}}", 0, NN_EFORMAT, "metadata value \"k\" is not a string");
    bad_header("{\"__metadata__\":{\"k\":{}}}", 0, NN_EFORMAT, "metadata value \"k\" is not a string");
    bad_header("{\"__metadata__\":[]}", 0, NN_EFORMAT, "\"__metadata__\" is not a JSON object");
    bad_header("{\"__metadata__\":\"x\"}", 0, NN_EFORMAT, "\"__metadata__\" is not a JSON object");
    bad_header("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, NN_EFORMAT, "duplicate metadata key \"k\"");
    bad_header("{\"__metadata__\":{\"k\":\"1\"},\"__metadata__\":{}}", 0, NN_EFORMAT,
               "duplicate \"__metadata__\"");
    bad_header("{\"__metadata__\":{\"k\\u0000\":\"1\"}}", 0, NN_EFORMAT, "metadata key \"k\" contains a NUL byte");
    bad_header("{\"__metadata__\":{\"k\":\"1\\u0000\"}}", 0, NN_EFORMAT,
               "metadata value \"k\" contains a NUL byte");
    /* A control character in a name is shown as '?' in messages. */
    bad_header("{" U8("a\\nb", 4, 0, 4) "," U8("a\\nb", 4, 4, 8) "}", 8, NN_EFORMAT,
               "duplicate tensor name \"a?b\"");
}
END_TEST

START_TEST(test_bad_limits)
{
    /* Depth bomb: ten thousand nested arrays in a shape. */
    int depth = 10000;
    size_t n = (size_t)2 * depth + 64;
    char *h = malloc(n);
    ck_assert_ptr_nonnull(h);
    size_t o = (size_t)sprintf(h, "{\"a\":{\"dtype\":\"F32\",\"shape\":");
    memset(h + o, '[', (size_t)depth);
    o += (size_t)depth;
    memset(h + o, ']', (size_t)depth);
    o += (size_t)depth;
    strcpy(h + o, "}}");
    bad_header(h, 0, NN_ELIMIT, "header is not valid JSON: nested deeper than 16 at byte 42");
    free(h);

    /* Node bomb: a shape of 4194304 zeros exceeds the header's node limit. */
    int zeros = 1 << 22;
    n = (size_t)2 * zeros + 128;
    h = malloc(n);
    ck_assert_ptr_nonnull(h);
    o = (size_t)sprintf(h, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,0],\"shape\":[");
    for (int i = 0; i < zeros; i++) {
        h[o++] = '0';
        h[o++] = ',';
    }
    strcpy(h + o - 1, "]}}");
    bad_header(h, 0, NN_ELIMIT, "header is not valid JSON: more than 4194304 values");
    free(h);
}
END_TEST

START_TEST(test_read_file_errors)
{
    const char *dir = tu_tmpdir();
    nn_st_file *f = (nn_st_file *)&f;
    nn_err e;
    char path[1024];
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    ck_assert_int_eq(nn_st_read_file(path, &f, &e), NN_EIO);
    ck_assert_ptr_null(f);
    HAS(e, "cannot open");
    HAS(e, "missing.safetensors");
    f = (nn_st_file *)&f;
    ck_assert_int_eq(nn_st_read_file(dir, &f, &e), NN_EIO);
    ck_assert_ptr_null(f);
    HAS(e, "not a regular file");

    char *p = tu_write(dir, "empty.st", "", 0, 0);
    ck_assert_int_eq(nn_st_read_file(p, &f, &e), NN_EFORMAT);
    HAS(e, "empty file");
    free(p);
    p = tu_write(dir, "short.st", "\x02\0\0", 3, 0);
    ck_assert_int_eq(nn_st_read_file(p, &f, &e), NN_EFORMAT);
    HAS(e, "file of 3 bytes is shorter than the 8-byte header length");
    free(p);
    p = tu_write(dir, "past.st", "\x09\0\0\0\0\0\0\0{}", 10, 0);
    ck_assert_int_eq(nn_st_read_file(p, &f, &e), NN_EFORMAT);
    HAS(e, "header length 9 runs past the end of the file (2 bytes after the length)");
    free(p);
    p = tu_write(dir, "limit.st", "\0\0\0\0\x01\0\0\0{}", 10, 0);
    ck_assert_int_eq(nn_st_read_file(p, &f, &e), NN_ELIMIT);
    HAS(e, "exceeds the limit");
    free(p);
    size_t len;
    const char *h = "{" U8("a", 4, 0, 4) "}";
    unsigned char *b = mk(h, strlen(h), "abcdefgh", 8, &len);
    p = tu_write(dir, "trail.st", b, len, 0);
    ck_assert_int_eq(nn_st_read_file(p, &f, &e), NN_EFORMAT);
    HAS(e, "data bytes [4, 8) after the last tensor belong to no tensor");
    ck_assert_ptr_null(f);
    free(p);
    free(b);
}
END_TEST

/* ======================================================================== */
/* safetensors: mutations                                                    */

/* Uses everything a parsed file offers; the sanitizers watch the reads. */
static void exercise(const nn_st_file *f)
{
    nn_err e;
    for (int i = 0; i < nn_st_count(f); i++) {
        const char *name = nn_st_name(f, i), *dtype;
        int rank;
        int64_t shape[NN_MAX_RANK];
        ck_assert_ptr_nonnull(name);
        if (nn_st_info(f, name, &dtype, &rank, shape, &e) < 0)
            continue;
        int64_t numel = 1;
        for (int k = 0; k < rank; k++)
            numel *= shape[k];
        if (numel > 4096)
            continue;
        nn_real *dst = malloc((size_t)(numel ? numel : 1) * sizeof *dst);
        ck_assert_ptr_nonnull(dst);
        int rc = nn_st_copy(f, name, rank, shape, dst, &e);
        ck_assert(rc == NN_OK || rc == NN_EINVAL);
        free(dst);
    }
    (void)nn_st_meta(f, "format");
    (void)nn_st_meta(f, "epoch");
}

START_TEST(test_fuzz_mutations)
{
    fixture x;
    fixture_init(&x);
    uint16_t halfs[6] = { 0x3C00, 0x7C00, 0x0001, 0x7E00, 0x8000, 0xC000 };
    void *valid;
    size_t vlen;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(x.t, 6, x.meta, 3, &valid, &vlen, &e), NN_OK);
    /* Splice in a hand-built F16/BF16 file too, so their readers get mutated. */
    const char *hdr2 = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
    size_t v2len;
    unsigned char *valid2 = mk(hdr2, strlen(hdr2), halfs, sizeof halfs, &v2len);
    const char pick[] = "{}[]\",:0123456789-.e\\ ";
    uint64_t seed = 0x243F6A8885A308D3ULL;
    unsigned char *buf = malloc(vlen + v2len + 16);
    ck_assert_ptr_nonnull(buf);
    int ok = 0, bad = 0;
    for (int it = 0; it < 4000; it++) {
        const unsigned char *src = it % 4 == 3 ? valid2 : valid;
        size_t len = it % 4 == 3 ? v2len : vlen;
        memcpy(buf, src, len);
        int edits = 1 + (int)(xorshift(&seed) % 4);
        for (int k = 0; k < edits && len > 0; k++) {
            size_t at = xorshift(&seed) % len;
            switch (xorshift(&seed) % 7) {
            case 0: buf[at] ^= (unsigned char)(1u << (xorshift(&seed) % 8)); break;
            case 1: buf[at] = (unsigned char)xorshift(&seed); break;
            case 2: buf[at] = (unsigned char)pick[xorshift(&seed) % (sizeof pick - 1)]; break;
            case 3: {   /* a run of random bytes */
                size_t run = 1 + xorshift(&seed) % 8;
                for (size_t r = 0; r < run && at + r < len; r++)
                    buf[at + r] = (unsigned char)xorshift(&seed);
                break;
            }
            case 4: len = at; break;                                  /* truncate */
            case 5: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;   /* delete */
            default:   /* nudge the header length */
                buf[xorshift(&seed) % 8] += (unsigned char)(xorshift(&seed) % 3) - 1;
                break;
            }
        }
        nn_st_file *f;
        memset(&e, 0, sizeof e);
        int rc = nn_st_parse(buf, len, &f, &e);
        ck_assert_msg(rc == NN_OK || rc == NN_EFORMAT || rc == NN_ELIMIT, "rc %d: %s", rc, e.msg);
        if (rc == NN_OK) {
            exercise(f);
            nn_st_free(f);
            ok++;
        } else {
            ck_assert_ptr_null(f);
            ck_assert_int_ne(e.msg[0], 0);
            bad++;
        }
        /* The file reader shares the checks but reads in pieces. */
        if (it % 50 == 0) {
            char *p = tu_write(tu_tmpdir(), "fuzz.st", buf, len, 0);
            int rc2 = nn_st_read_file(p, &f, &e);
            ck_assert_int_eq(rc2, rc);
            nn_st_free(f);
            free(p);
        }
    }
    /* Mutated data bytes keep a file valid; most header edits break it. */
    ck_assert_int_gt(ok, 100);
    ck_assert_int_gt(bad, 1000);
    free(buf);
    free(valid);
    free(valid2);
}
END_TEST

/* Every truncation of a valid file fails cleanly, and only the whole file parses. */
START_TEST(test_fuzz_truncations)
{
    fixture x;
    fixture_init(&x);
    void *valid;
    size_t vlen;
    nn_err e;
    ck_assert_int_eq(nn_st_write_mem(x.t, 6, x.meta, 3, &valid, &vlen, &e), NN_OK);
    for (size_t len = 0; len < vlen; len++) {
        unsigned char *b = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
        ck_assert_ptr_nonnull(b);
        memcpy(b, valid, len);
        ck_assert_int_ne(parse_buf(b, len, &e), NN_OK);
        free(b);
    }
    ck_assert_int_eq(parse_buf(valid, vlen, &e), NN_OK);
    free(valid);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tj = tcase_create("jsonlite");
    tcase_add_test(tj, test_jl_document);
    tcase_add_test(tj, test_jl_scalars);
    tcase_add_test(tj, test_jl_escapes);
    tcase_add_test(tj, test_jl_uint);
    tcase_add_test(tj, test_jl_invalid);
    tcase_add_test(tj, test_jl_depth);
    tcase_add_test(tj, test_jl_nodes);
    tcase_add_test(tj, test_jl_utf8_valid);
    tcase_add_test(tj, test_jl_fuzz);
    suite_add_tcase(s, tj);

    TCase *tr = tcase_create("roundtrip");
    tcase_add_test(tr, test_roundtrip_mem);
    tcase_add_test(tr, test_roundtrip_file);
    tcase_add_test(tr, test_large_tensor_file);
    tcase_add_test(tr, test_many_tensors_lookup);
    tcase_add_test(tr, test_zero_tensors);
    tcase_add_test(tr, test_header_padded);
    tcase_add_test(tr, test_exact_bytes);
    tcase_add_test(tr, test_numpy_agrees);
    tcase_add_test(tr, test_numpy_conversions);
    tcase_add_test(tr, test_convert_f16_bf16_f64);
    tcase_add_test(tr, test_other_dtypes);
    tcase_add_test(tr, test_copy_errors);
    tcase_add_test(tr, test_write_invalid);
    suite_add_tcase(s, tr);

    TCase *tm = tcase_create("malformed");
    tcase_set_timeout(tm, 120);
    tcase_add_test(tm, test_bad_lengths);
    tcase_add_test(tm, test_bad_json);
    tcase_add_test(tm, test_bad_entries);
    tcase_add_test(tm, test_bad_layout);
    tcase_add_test(tm, test_bad_limits);
    tcase_add_test(tm, test_read_file_errors);
    tcase_add_test(tm, test_fuzz_mutations);
    tcase_add_test(tm, test_fuzz_truncations);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
