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

#define NN_LAYER_MAX_TENSORS 6

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

/* One tensor of a layer, named after PyTorch ("weight", "bias",
 * "running_mean").  A buffer is state that training updates without
 * gradients (batchnorm's running statistics): it lives in the model's buffer
 * arena, is saved with the weights and checkpoints, and the optimizer never
 * sees it. */
typedef struct nn_layer_tensor {
    const char *name;
    int rank;
    int64_t shape[NN_MAX_RANK];
    size_t offset;      /* within the layer's slice of its arena */
    size_t numel;
    int buffer;         /* 0: a trainable parameter; 1: a buffer */
} nn_layer_tensor;

struct nn_layer {
    const nn_layer_ops *ops;
    nn_layer_spec spec;       /* a copy; act may be replaced by the fused loss */
    int index;                /* position in the spec's layer list */
    nn_shape in, out;
    int64_t in_size, out_size;
    size_t n_param;
    size_t n_buffer;          /* reals of buffers (see nn_layer_tensor) */
    int n_tensors;
    nn_layer_tensor tensors[NN_LAYER_MAX_TENSORS];
    nn_real *param, *grad;    /* slices of the model's arena */
    nn_real *buffer;          /* slice of the model's buffer arena */
    nn_pool *pool;
    uint64_t *drop_key;       /* the model's dropout stream: key, counter */
    int reserved;             /* batch size the buffers hold */
    int64_t act_size;         /* values per sample in the layer's output buffer:
                                 out_size, or the next layer's when it is fused */
    int fused;                /* computed by the layer before (see
                                 nn_conv2d_fuse_maxpool): its forward and backward
                                 are not called, its output buffer is that layer's */
    void *priv;               /* the layer's own state */
};

extern const nn_layer_ops nn_dense_ops, nn_dropout_ops, nn_act_ops, nn_conv2d_ops,
    nn_maxpool2d_ops, nn_avgpool2d_ops, nn_global_avgpool_ops, nn_batchnorm_ops, nn_flatten_ops;
/* rnn, lstm and gru share one implementation (layer_rnn.c), told apart by spec.kind. */
extern const nn_layer_ops nn_rnn_ops;

/* Rank-3 values between layers ([channels, height, width] in shapes) are
 * stored channel-last in memory: element (c, h, w) of a sample is at
 * (h * W + w) * C + c.  Convolutions then read whole pixels as rows, and
 * batchnorm sees channels as the fastest-moving index, as after a dense
 * layer.  The model converts its input from the data's channel-first
 * layout, and flatten converts back, so shapes, data and exported weights
 * all follow PyTorch's [C, H, W]. */

/* The windows of a pooling layer over a channel-last image [H, W, C]. */
typedef struct nn_window {
    int C, H, W, kh, kw, sh, sw, OH, OW;
    int tiles;   /* the windows cover the input exactly, without overlap */
    int v512;    /* max pooling in AVX-512 (C a multiple of 16, the CPU has it) */
} nn_window;

/* A maxpool2d layer's windows, or NULL for another layer. */
const nn_window *nn_maxpool_window(const nn_layer *l);

/* Max pooling of one sample: y and, for each output value, the place in its
 * window of the element it took (ties keep the earlier, in scan order).  The
 * backward pass routes dy there: dx is stored when the windows tile the
 * input, else zeroed and added to. */
void nn_maxpool_sample(const nn_window *w, const nn_real *x, nn_real *y, int32_t *arg);
void nn_maxpool_sample_bwd(const nn_window *w, const int32_t *arg, const nn_real *dy,
                           nn_real *dx);

/* Fuses a conv2d layer with the maxpool2d layer after it, when the windows
 * do not overlap and the activation's derivative follows from its output:
 * the convolution then pools each sample while its output is in the cache,
 * and its output buffer holds the pooled values (act_size); the pool is
 * marked fused.  Returns 1 when fused, else 0 (nothing changed). */
int nn_conv2d_fuse_maxpool(nn_layer *conv, nn_layer *pool);

/* Fills weights from the named initializer:
 *   he:     std sqrt(2 / fan_in);  uniform bound sqrt(6 / fan_in)
 *   glorot: std sqrt(2 / (fan_in + fan_out));  uniform bound sqrt(6 / (fan_in + fan_out))
 * drawing from a stream seeded with (seed, the layer's index). */
void nn_init_weights(nn_init_kind k, nn_real *w, size_t n, int fan_in, int fan_out,
                     uint64_t seed, int layer_index);

/* Direct convolution on channel-first data (x [B, C, H, W], w [O, C, kh, kw],
 * y [B, O, OH, OW]; bias may be NULL), the reference the tests compare the
 * im2col lowering with. */
void nn_conv2d_ref(const nn_real *x, const nn_real *w, const nn_real *bias, nn_real *y, int B,
                   int C, int H, int W, int O, int kh, int kw, int sh, int sw, int pt, int pl,
                   int OH, int OW);

/* Plain-loop forward of a recurrent layer (PyTorch's formulas, sums in
 * double), the reference the tests compare the layer with: x [B, T, F] run
 * from the initial state h0 (lstm: and c0) [B, H] (NULL: zeros); writes
 * every step's h into h_all [B, T, H] and, for lstm, c into c_all (may be
 * NULL).  Weights as the layer's tensors (w_ih [G*H, F], w_hh [G*H, H]);
 * b_ih, b_hh may be NULL (no bias); act is rnn's tanh or relu. */
void nn_recurrent_ref(nn_layer_kind kind, nn_act_kind act, const nn_real *x, int B, int T, int F,
                      int H, const nn_real *w_ih, const nn_real *w_hh, const nn_real *b_ih,
                      const nn_real *b_hh, const nn_real *h0, const nn_real *c0, nn_real *h_all,
                      nn_real *c_all);

#endif
