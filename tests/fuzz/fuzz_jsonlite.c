/*
 * fuzz_jsonlite.c — the core's JSON parser (core/jsonlite.c), which reads
 * every safetensors header.
 *
 *   byte 0  the limits: 0 the defaults; otherwise max_depth 1 + b % 16 and
 *           max_nodes 1 + (b >> 4) * 8
 *
 * The rest is the document.  A parsed document must be the tree jsonlite.h
 * describes: node 0 spans every node, each container's `next` is past its
 * children, an object's children alternate string keys and values and
 * count n keys, strings are valid UTF-8 of length n, numbers read as
 * numbers; the walking helpers (jl_get, jl_item, jl_uint) agree with the
 * tree.  And jansson, a strict parser too, is a second opinion: a document
 * it reads (but for its limits: number sizes, no \u0000 in keys) is
 * a document jsonlite reads, within jsonlite's limits, and the other way
 * round; except for a raw NUL byte, which ends jansson's input.
 */
#include "fuzz.h"

#include "jsonlite.h"

#include <jansson.h>
#include <string.h>

/* Checks the subtree at node i; returns the index just past it. */
static int check_node(const jl_doc *d, int i, int depth, int max_depth)
{
    const jl_node *n = &d->node[i];
    FUZZ_CHECK(n->next > i && n->next <= d->n_node, "node %d: next %d of %d nodes", i, n->next,
               d->n_node);
    FUZZ_CHECK(depth <= max_depth, "node %d nested %d deep, limit %d", i, depth, max_depth);
    switch (n->kind) {
    case JL_NULL:
    case JL_FALSE:
    case JL_TRUE:
        FUZZ_CHECK(n->next == i + 1, "literal %d has children", i);
        return i + 1;
    case JL_NUMBER: {
        const char *t = jl_text(d, i);
        double v;
        FUZZ_CHECK(t && strlen(t) == (size_t)n->n && n->n > 0, "number %d: bad text", i);
        FUZZ_CHECK(jl_double(d, i, &v) == NN_OK, "number %d does not read", i);
        uint64_t u;
        int rc = jl_uint(d, i, UINT64_MAX, &u);
        FUZZ_CHECK(rc == NN_OK || rc == NN_EINVAL || rc == NN_ELIMIT, "jl_uint: %d", rc);
        FUZZ_CHECK(rc != NN_OK || strspn(t, "0123456789") == strlen(t), "'%s' read as %llu", t,
                   (unsigned long long)u);
        return i + 1;
    }
    case JL_STRING: {
        const char *t = jl_text(d, i);
        FUZZ_CHECK(t && strlen(t) <= (size_t)n->n && t[n->n] == 0, "string %d: bad length", i);
        FUZZ_CHECK(jl_utf8_valid(t, (size_t)n->n) == (size_t)n->n && fuzz_utf8(t, (size_t)n->n),
                   "string %d is not valid UTF-8", i);
        FUZZ_CHECK(jl_streq(d, i, t) == (strlen(t) == (size_t)n->n), "jl_streq on string %d", i);
        return i + 1;
    }
    case JL_ARRAY:
    case JL_OBJECT: {
        int obj = n->kind == JL_OBJECT, count = 0, k = i + 1;
        while (k < n->next) {
            if (obj) {
                FUZZ_CHECK(d->node[k].kind == JL_STRING, "key %d of object %d is no string", k, i);
                FUZZ_CHECK(k + 1 < n->next, "object %d ends after a key", i);
                int v = check_node(d, k + 1, depth + 1, max_depth);
                const char *key = jl_text(d, k);
                if (strlen(key) == (size_t)d->node[k].n) {   /* no NUL inside */
                    int g = jl_get(d, i, key);   /* the first member of that key */
                    FUZZ_CHECK(g > i && g <= k + 1 && jl_streq(d, g - 1, key),
                               "jl_get misses key %d of object %d", k, i);
                }
                k = v;
            } else {
                FUZZ_CHECK(jl_item(d, i, count) == k, "jl_item(%d, %d) is not node %d", i, count,
                           k);
                k = check_node(d, k, depth + 1, max_depth);
            }
            count++;
        }
        FUZZ_CHECK(k == n->next, "container %d: children end at %d, next is %d", i, k, n->next);
        FUZZ_CHECK(count == n->n, "container %d: %d children, n says %d", i, count, n->n);
        FUZZ_CHECK((count == 0) == (jl_child(d, i) < 0), "jl_child of container %d", i);
        if (!obj)
            FUZZ_CHECK(jl_item(d, i, count) == -1, "jl_item past the end of %d", i);
        return k;
    }
    default:
        FUZZ_CHECK(0, "node %d has kind %d", i, n->kind);
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    jl_limits lim = {0, 0};
    jl_doc d;
    nn_err e;
    uint8_t b = fuzz_take(&in);
    if (b) {
        lim.max_depth = 1 + b % 16;
        lim.max_nodes = 1 + (b >> 4) * 8;
    }
    int max_depth = lim.max_depth ? lim.max_depth : JL_DEFAULT_DEPTH;

    int rc = jl_parse(&d, (const char *)in.p, in.n, &lim, &e);
    fuzz_note("jl_parse: status %d%s%s; %d nodes", rc, rc ? ": " : "", rc ? e.msg : "", d.n_node);
    FUZZ_CHECK(rc == NN_OK || rc == NN_EFORMAT || rc == NN_ELIMIT, "status %d", rc);
    if (rc == NN_OK) {
        FUZZ_CHECK(d.n_node >= 1, "an empty document parsed");
        FUZZ_CHECK(!lim.max_nodes || d.n_node <= lim.max_nodes, "%d nodes, limit %d", d.n_node,
                   lim.max_nodes);
        FUZZ_CHECK(check_node(&d, 0, 0, max_depth) == d.n_node, "node 0 does not span the document");
    } else {
        FUZZ_CHECK(d.node == NULL && d.text == NULL && d.n_node == 0, "a failed parse left nodes");
    }

    if (memchr(in.p, 0, in.n)) {   /* jansson takes a raw NUL byte for the end of input */
        jl_free(&d);
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)in.p, in.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (j)
        FUZZ_CHECK(rc != NN_EFORMAT, "jansson reads it, jsonlite says: %s", e.msg);
    else if (rc == NN_OK && json_error_code(&je) != json_error_numeric_overflow &&
             json_error_code(&je) != json_error_null_byte_in_key)
        FUZZ_CHECK(0, "jsonlite reads it, jansson says: %s (line %d, column %d)", je.text, je.line,
                   je.column);
    json_decref(j);
    jl_free(&d);
    return 0;
}
