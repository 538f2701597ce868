/*
 * jsonlite.h — a small, strict, bounded JSON parser (RFC 8259) for libnn,
 * which may not depend on a JSON library.
 *
 * A document parses into one flat array of nodes in document order: a
 * container is followed by its children, an object's children alternate
 * key (a string node), value, key, value, ...  Every node records `next`, the
 * index just past itself and everything it contains, so siblings are walked
 * in a plain loop, without recursion:
 *
 *     JL_EACH_MEMBER(d, obj, k, v)        key node k, value node v
 *         if (jl_streq(d, k, "shape")) ...
 *
 * Strictness: exactly one value, surrounded only by JSON whitespace (space,
 * tab, CR, LF); no comments, no trailing commas, no leading zeros, no NaN;
 * strings are valid UTF-8 (no overlongs, no surrogates, nothing past
 * U+10FFFF), contain no raw control characters, and use only the JSON
 * escapes; \uXXXX surrogates must come in high-low pairs.  \u0000 is allowed:
 * a string's length `n` counts it, so callers that want C strings check
 * strlen(text) == n.
 *
 * Bounds: nesting depth and node count are limited (jl_limits); the parser is
 * iterative, and its memory is O(input) — the text arena is exactly len + 1
 * bytes, because decoding never lengthens a token.  Inputs above INT_MAX bytes
 * are refused.  Syntax errors are NN_EFORMAT, exceeded limits NN_ELIMIT, both
 * with the byte offset in the message.
 */
#ifndef NN_JSONLITE_H
#define NN_JSONLITE_H

#include "nn.h"

typedef enum jl_kind {
    JL_NULL = 0,
    JL_FALSE,
    JL_TRUE,
    JL_NUMBER,
    JL_STRING,
    JL_ARRAY,
    JL_OBJECT,
} jl_kind;

typedef struct jl_node {
    int kind;    /* jl_kind */
    int n;       /* OBJECT: members, ARRAY: items, STRING/NUMBER: bytes of text */
    int next;    /* index just past this node's subtree */
    int off;     /* STRING/NUMBER: offset of the NUL-terminated text in doc->text */
} jl_node;

/* A parsed document; node[0] is the root.  A zeroed jl_doc is empty, and
 * jl_free() on it does nothing. */
typedef struct jl_doc {
    jl_node *node;   /* owned; n_node entries */
    int n_node;
    char *text;      /* owned arena: decoded strings and number spellings */
} jl_doc;

#define JL_DEFAULT_DEPTH 64
#define JL_DEFAULT_NODES (1 << 20)

typedef struct jl_limits {
    int max_depth;   /* arrays/objects nested deeper than this fail; <= 0: default */
    int max_nodes;   /* values (keys included) beyond this fail; <= 0: default */
} jl_limits;

/* Parses len bytes of s into d (NULL lim: the defaults).  On failure d is
 * zeroed and e says what and where ("at byte 17").  Caller jl_free()s d. */
int jl_parse(jl_doc *d, const char *s, size_t len, const jl_limits *lim, nn_err *e);

/* Frees d's memory and zeroes it. */
void jl_free(jl_doc *d);

/* Kind of node i. */
static inline int jl_kind_of(const jl_doc *d, int i) { return d->node[i].kind; }

/* Text of a STRING (decoded) or NUMBER (as spelt) node, else NULL. */
const char *jl_text(const jl_doc *d, int i);

/* 1 when node i is a string equal to s (same bytes, same length), else 0. */
int jl_streq(const jl_doc *d, int i, const char *s);

/* First child of container i (for an object: its first key), or -1 when i is
 * empty or not a container. */
int jl_child(const jl_doc *d, int i);

/* The sibling after child k of container parent, or -1 after the last. */
int jl_next(const jl_doc *d, int parent, int k);

/* Value of the first member of object obj whose key is key, or -1. */
int jl_get(const jl_doc *d, int obj, const char *key);

/* Item idx of array arr (O(idx)), or -1. */
int jl_item(const jl_doc *d, int arr, int idx);

/* Reads node i as an unsigned integer <= max.  NN_EINVAL when i is not a
 * number spelt as one (no sign, fraction or exponent), NN_ELIMIT when it
 * exceeds max; *v is 0 on failure. */
int jl_uint(const jl_doc *d, int i, uint64_t max, uint64_t *v);

/* Reads number node i as a double (strtod, which assumes the "C" locale);
 * NN_EINVAL when i is not a number. */
int jl_double(const jl_doc *d, int i, double *v);

/* Length of the longest valid UTF-8 prefix of s[0, len): len when all of s
 * is valid (the rules strings in a document follow). */
size_t jl_utf8_valid(const char *s, size_t len);

/* Loops over an object's members (key node k, value node v) or an array's
 * items (node v). */
#define JL_EACH_MEMBER(d, obj, k, v) \
    for (int k = jl_child(d, obj), v = k + 1; k >= 0; \
         k = jl_next(d, obj, v), v = k + 1)
#define JL_EACH_ITEM(d, arr, v) \
    for (int v = jl_child(d, arr); v >= 0; v = jl_next(d, arr, v))

#endif
