/*
 * onnx_graph.c — the ONNX model builder of onnx_graph.h over protobuf-c's
 * generated structs (build/gen/onnx.pb-c.h, from Debian's onnx.proto).
 *
 * Memory: every allocation is a block of one list (pool_alloc), so that the
 * messages can point at each other freely and onnx_graph_free releases all
 * of it in one walk; the growing arrays of nodes, initializers and so on are
 * blocks too, replaced (the old one stays in the list) when they grow.
 */
#include "onnx_graph.h"

#include "onnx.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    max_align_t data[];
} block;

/* A growing array of message pointers. */
typedef struct vec {
    void **p;
    size_t n, cap;
} vec;

struct onnx_graph {
    block *blocks;
    int oom;
    int counter;
    vec nodes, inits, inputs, outputs, meta;
};

static void *pool_alloc(onnx_graph *g, size_t size)
{
    if (g->oom)
        return NULL;
    block *b = calloc(1, sizeof *b + (size ? size : 1));
    if (!b) {
        g->oom = 1;
        return NULL;
    }
    b->next = g->blocks;
    g->blocks = b;
    return b->data;
}

static char *pool_strdup(onnx_graph *g, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pool_alloc(g, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void vec_push(onnx_graph *g, vec *v, void *item)
{
    if (!item)
        return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        void **p = pool_alloc(g, cap * sizeof *p);
        if (!p)
            return;
        if (v->n)
            memcpy(p, v->p, v->n * sizeof *p);
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = item;
}

onnx_graph *onnx_graph_new(void)
{
    return calloc(1, sizeof(onnx_graph));
}

void onnx_graph_free(onnx_graph *g)
{
    if (!g)
        return;
    for (block *b = g->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(g);
}

const char *onnx_graph_name(onnx_graph *g, const char *stem)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%s_%d", stem, g->counter++);
    char *s = pool_strdup(g, buf);
    return s ? s : "";
}

/* ---------------------------------------------------------------------------
 * Nodes and attributes */

static char **name_list(onnx_graph *g, const char *const *names, int n)
{
    char **l = pool_alloc(g, (size_t)(n ? n : 1) * sizeof *l);
    for (int i = 0; l && i < n; i++)
        l[i] = pool_strdup(g, names[i]);
    return g->oom ? NULL : l;
}

onnx_node *onnx_graph_node(onnx_graph *g, const char *op, const char *const *in, int n_in,
                           const char *const *out, int n_out)
{
    Onnx__NodeProto *node = pool_alloc(g, sizeof *node);
    if (!node)
        return NULL;
    onnx__node_proto__init(node);
    node->op_type = pool_strdup(g, op);
    node->name = (char *)onnx_graph_name(g, op);
    node->input = name_list(g, in, n_in);
    node->n_input = (size_t)n_in;
    node->output = name_list(g, out, n_out);
    node->n_output = (size_t)n_out;
    if (g->oom)
        return NULL;
    vec_push(g, &g->nodes, node);
    return g->oom ? NULL : node;
}

const char *onnx_graph_opn(onnx_graph *g, const char *op, const char *const *in, int n_in,
                           onnx_node **node)
{
    const char *y = onnx_graph_name(g, op);
    onnx_node *n = onnx_graph_node(g, op, in, n_in, &y, 1);
    if (node)
        *node = n;
    return y;
}

const char *onnx_graph_op1(onnx_graph *g, const char *op, const char *a)
{
    return onnx_graph_opn(g, op, &a, 1, NULL);
}

const char *onnx_graph_op2(onnx_graph *g, const char *op, const char *a, const char *b)
{
    const char *in[2] = {a, b};
    return onnx_graph_opn(g, op, in, 2, NULL);
}

static Onnx__AttributeProto *attr_new(onnx_graph *g, onnx_node *node, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (!node)
        return NULL;
    Onnx__AttributeProto *a = pool_alloc(g, sizeof *a);
    Onnx__AttributeProto **list =
        pool_alloc(g, (node->n_attribute + 1) * sizeof *list);
    if (!a || !list)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = pool_strdup(g, name);
    a->has_type = 1;
    a->type = type;
    if (node->n_attribute)
        memcpy(list, node->attribute, node->n_attribute * sizeof *list);
    list[node->n_attribute++] = a;
    node->attribute = list;
    return a;
}

void onnx_attr_int(onnx_graph *g, onnx_node *node, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

void onnx_attr_float(onnx_graph *g, onnx_node *node, const char *name, float v)
{
    Onnx__AttributeProto *a =
        attr_new(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = v;
    }
}

void onnx_attr_ints(onnx_graph *g, onnx_node *node, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = attr_new(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = pool_alloc(g, (size_t)(n ? n : 1) * sizeof *d);
    if (a && d) {
        memcpy(d, v, (size_t)n * sizeof *d);
        a->ints = d;
        a->n_ints = (size_t)n;
    }
}

void onnx_attr_strings(onnx_graph *g, onnx_node *node, const char *name,
                       const char *const *v, int n)
{
    Onnx__AttributeProto *a =
        attr_new(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    ProtobufCBinaryData *d = pool_alloc(g, (size_t)(n ? n : 1) * sizeof *d);
    for (int i = 0; a && d && i < n; i++) {
        d[i].data = (uint8_t *)pool_strdup(g, v[i]);
        d[i].len = strlen(v[i]);
    }
    if (a && d && !g->oom) {
        a->strings = d;
        a->n_strings = (size_t)n;
    }
}

/* ---------------------------------------------------------------------------
 * Initializers: raw_data, little-endian */

static Onnx__TensorProto *tensor_new(onnx_graph *g, const char *stem, int rank,
                                     const int64_t *dims, int32_t type, size_t bytes)
{
    Onnx__TensorProto *t = pool_alloc(g, sizeof *t);
    int64_t *d = pool_alloc(g, (size_t)(rank ? rank : 1) * sizeof *d);
    uint8_t *raw = pool_alloc(g, bytes);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    if (rank)
        memcpy(d, dims, (size_t)rank * sizeof *d);
    t->dims = d;
    t->n_dims = (size_t)rank;
    t->has_data_type = 1;
    t->data_type = type;
    t->name = (char *)onnx_graph_name(g, stem);
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = bytes;
    vec_push(g, &g->inits, t);
    return g->oom ? NULL : t;
}

static size_t numel(int rank, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

const char *onnx_graph_f32(onnx_graph *g, const char *stem, int rank, const int64_t *dims,
                           const float *v)
{
    size_t n = numel(rank, dims);
    Onnx__TensorProto *t = tensor_new(g, stem, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                      4 * n);
    if (!t)
        return "";
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_le(t->raw_data.data + 4 * i, u, 4);
    }
    return t->name;
}

const char *onnx_graph_i64(onnx_graph *g, const char *stem, int n, const int64_t *v)
{
    int64_t dims[1] = {n};
    Onnx__TensorProto *t = tensor_new(g, stem, 1, dims, ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
                                      8 * (size_t)n);
    if (!t)
        return "";
    for (int i = 0; i < n; i++)
        put_le(t->raw_data.data + 8 * (size_t)i, (uint64_t)v[i], 8);
    return t->name;
}

const char *onnx_graph_scalar(onnx_graph *g, const char *stem, float v)
{
    return onnx_graph_f32(g, stem, 0, NULL, &v);
}

/* ---------------------------------------------------------------------------
 * Inputs, outputs, metadata and the model */

static Onnx__ValueInfoProto *value_info(onnx_graph *g, const char *name, int rank,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = pool_alloc(g, sizeof *vi);
    Onnx__TypeProto *tp = pool_alloc(g, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = pool_alloc(g, sizeof *tt);
    Onnx__TensorShapeProto *sh = pool_alloc(g, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dl = pool_alloc(g, (size_t)(rank ? rank : 1) * sizeof *dl);
    for (int i = 0; dl && i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = dl[i] = pool_alloc(g, sizeof *d);
        if (!d)
            break;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = pool_strdup(g, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
    }
    if (g->oom)
        return NULL;
    onnx__tensor_shape_proto__init(sh);
    sh->dim = dl;
    sh->n_dim = (size_t)rank;
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    onnx__value_info_proto__init(vi);
    vi->name = pool_strdup(g, name);
    vi->type = tp;
    return g->oom ? NULL : vi;
}

void onnx_graph_input(onnx_graph *g, const char *name, int rank, const int64_t *dims)
{
    vec_push(g, &g->inputs, value_info(g, name, rank, dims));
}

void onnx_graph_output(onnx_graph *g, const char *name, int rank, const int64_t *dims)
{
    vec_push(g, &g->outputs, value_info(g, name, rank, dims));
}

void onnx_graph_meta(onnx_graph *g, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = pool_alloc(g, sizeof *e);
    if (!e)
        return;
    onnx__string_string_entry_proto__init(e);
    e->key = pool_strdup(g, key);
    e->value = pool_strdup(g, value);
    if (!g->oom)
        vec_push(g, &g->meta, e);
}

int onnx_graph_pack(onnx_graph *g, int64_t ir, int64_t opset, const char *producer,
                    const char *version, const char *doc, void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    Onnx__GraphProto *gp = pool_alloc(g, sizeof *gp);
    Onnx__ModelProto *mp = pool_alloc(g, sizeof *mp);
    Onnx__OperatorSetIdProto *os = pool_alloc(g, sizeof *os);
    Onnx__OperatorSetIdProto **osl = pool_alloc(g, sizeof *osl);
    if (g->oom)
        return -1;
    onnx__graph_proto__init(gp);
    gp->name = pool_strdup(g, producer);
    gp->node = (Onnx__NodeProto **)g->nodes.p;
    gp->n_node = g->nodes.n;
    gp->initializer = (Onnx__TensorProto **)g->inits.p;
    gp->n_initializer = g->inits.n;
    gp->input = (Onnx__ValueInfoProto **)g->inputs.p;
    gp->n_input = g->inputs.n;
    gp->output = (Onnx__ValueInfoProto **)g->outputs.p;
    gp->n_output = g->outputs.n;
    onnx__operator_set_id_proto__init(os);
    os->domain = pool_strdup(g, "");
    os->has_version = 1;
    os->version = opset;
    osl[0] = os;
    onnx__model_proto__init(mp);
    mp->has_ir_version = 1;
    mp->ir_version = ir;
    mp->opset_import = osl;
    mp->n_opset_import = 1;
    mp->producer_name = pool_strdup(g, producer);
    mp->producer_version = pool_strdup(g, version);
    mp->doc_string = pool_strdup(g, doc);
    mp->graph = gp;
    mp->metadata_props = (Onnx__StringStringEntryProto **)g->meta.p;
    mp->n_metadata_props = g->meta.n;
    if (g->oom)
        return -1;
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *out = malloc(n ? n : 1);
    if (!out)
        return -1;
    *len = onnx__model_proto__pack(mp, out);
    *buf = out;
    return 0;
}
