/*
 * onnx_graph.h — builds one ONNX model (a ModelProto with its one graph) in
 * memory with the structs that protobuf-c generates from onnx.proto, and
 * packs it to bytes with protobuf-c's packer: no protobuf encoding of our
 * own.
 *
 * Contract:
 *   - Every string, array and message hangs off the builder and is freed
 *     by onnx_graph_free (callers free nothing they got from here; the
 *     names returned stay valid until then).
 *   - Running out of memory is sticky: the call that failed and every
 *     later one do nothing (names come back as "", nodes as NULL, which
 *     the attribute calls accept), and onnx_graph_pack reports it once.
 *     So a builder's caller checks once, at the end.
 *   - Tensors are float32 (elem type 1) or int64 (7), initializers stored
 *     as raw_data, little-endian whatever the host.
 *   - A dimension of -1 in an input or output is the symbolic batch "N".
 */
#ifndef ONNX_GRAPH_H
#define ONNX_GRAPH_H

#include <stddef.h>
#include <stdint.h>

typedef struct onnx_graph onnx_graph;
struct Onnx__NodeProto;
typedef struct Onnx__NodeProto onnx_node;

/* NULL when out of memory. */
onnx_graph *onnx_graph_new(void);
void onnx_graph_free(onnx_graph *g);

/* A fresh tensor name "stem_K" (K counts up per builder). */
const char *onnx_graph_name(onnx_graph *g, const char *stem);

/* A node op(in...) -> out...; an input name "" is an omitted optional
 * input.  Returns the node for its attributes. */
onnx_node *onnx_graph_node(onnx_graph *g, const char *op, const char *const *in, int n_in,
                           const char *const *out, int n_out);

/* Shorthands: one output, named afresh after op; returned. */
const char *onnx_graph_op1(onnx_graph *g, const char *op, const char *a);
const char *onnx_graph_op2(onnx_graph *g, const char *op, const char *a, const char *b);
/* The same, also giving the node (for attributes); in as above. */
const char *onnx_graph_opn(onnx_graph *g, const char *op, const char *const *in, int n_in,
                           onnx_node **node);

/* Attributes of a node (node NULL: nothing). */
void onnx_attr_int(onnx_graph *g, onnx_node *node, const char *name, int64_t v);
void onnx_attr_float(onnx_graph *g, onnx_node *node, const char *name, float v);
void onnx_attr_ints(onnx_graph *g, onnx_node *node, const char *name, const int64_t *v, int n);
void onnx_attr_strings(onnx_graph *g, onnx_node *node, const char *name,
                       const char *const *v, int n);

/* An initializer of the given shape (rank 0: a scalar), the values copied;
 * returns its name ("stem_K"). */
const char *onnx_graph_f32(onnx_graph *g, const char *stem, int rank, const int64_t *dims,
                           const float *v);
const char *onnx_graph_i64(onnx_graph *g, const char *stem, int n, const int64_t *v);
/* A float32 scalar. */
const char *onnx_graph_scalar(onnx_graph *g, const char *stem, float v);

/* Declares a graph input or output of float32 with these dimensions
 * (-1: the batch "N"). */
void onnx_graph_input(onnx_graph *g, const char *name, int rank, const int64_t *dims);
void onnx_graph_output(onnx_graph *g, const char *name, int rank, const int64_t *dims);

/* A metadata_props entry (both copied). */
void onnx_graph_meta(onnx_graph *g, const char *key, const char *value);

/* The model: IR version ir, the default domain at opset opset, producer
 * and its version, doc string; packed into a new buffer (caller frees).
 * -1 when memory ran out at any point. */
int onnx_graph_pack(onnx_graph *g, int64_t ir, int64_t opset, const char *producer,
                    const char *version, const char *doc, void **buf, size_t *len);

#endif
