/*
 * layer.h — the contract between the model and its layers (private to core/).
 *
 * A layer maps x [B, in_size] to y [B, out_size].  setup() infers its output
 * shape from its input shape and declares its parameter tensors; the model
 * then points param/grad at the layer's slices of the arena.  forward() may
 * keep what backward() needs in the layer's own buffers (sized by
 * reserve()).  backward() gets x, y and dy (which it may overwrite), writes
 * or adds (accumulate) the parameter gradients, and writes dx unless dx is
 * NULL (the first layer).  Layers split their work over the model's pool.
 */
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include "nn.h"
#include "pool.h"
#include "spec.h"

#define NN_LAYER_MAX_TENSORS 4

typedef struct nn_layer nn_layer;

typedef struct nn_layer_ops {
    int (*setup)(nn_layer *l, nn_err *e);
    void (*init)(nn_layer *l, uint64_t seed);
    int (*reserve)(nn_layer *l, int B);
    void (*forward)(nn_layer *l, const nn_real *x, nn_real *y, int B, int train);
    void (*backward)(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                     nn_real *dx, int B, int accumulate);
    void (*destroy)(nn_layer *l);
    /* floating-point operations per sample of the matrix products: forward,
     * and backward with (need_dx) or without the input gradient; NULL when
     * the layer has none worth counting */
    void (*flops)(const nn_layer *l, int need_dx, double *fwd, double *bwd);
} nn_layer_ops;

/* One parameter tensor of a layer, named "weight" or "bias" after PyTorch. */
typedef struct nn_layer_tensor {
    const char *name;
    int rank;
    int64_t shape[NN_MAX_RANK];
    size_t offset;      /* within the layer's slice */
    size_t numel;
} nn_layer_tensor;

struct nn_layer {
    const nn_layer_ops *ops;
    nn_layer_spec spec;       /* a copy; act may be replaced by the fused loss */
    int index;                /* position in the spec's layer list */
    nn_shape in, out;
    int64_t in_size, out_size;
    size_t n_param;
    int n_tensors;
    nn_layer_tensor tensors[NN_LAYER_MAX_TENSORS];
    nn_real *param, *grad;    /* slices of the model's arena */
    nn_pool *pool;
    uint64_t *drop_key;       /* the model's dropout stream: key, counter */
    int reserved;             /* batch size the buffers hold */
    void *priv;               /* the layer's own state */
};

extern const nn_layer_ops nn_dense_ops, nn_dropout_ops, nn_act_ops;

/* Fills weights from the named initializer:
 *   he:     std sqrt(2 / fan_in);  uniform bound sqrt(6 / fan_in)
 *   glorot: std sqrt(2 / (fan_in + fan_out));  uniform bound sqrt(6 / (fan_in + fan_out))
 * drawing from a stream seeded with (seed, the layer's index). */
void nn_init_weights(nn_init_kind k, nn_real *w, size_t n, int fan_in, int fan_out,
                     uint64_t seed, int layer_index);

#endif
