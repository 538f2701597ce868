/*
 * layer.h — the contract between the model and its layers (private to core/).
 *
 * A layer maps x [B, in_size] to y [B, out_size].  setup() infers its output
 * shape from its input shape and declares its parameter tensors; the model
 * then points param/grad at the layer's slices of the arena.
 *
 * Data parallel.  The model runs a pass over a batch as one task of its team
 * (model.h): the batch is cut into shards, and each part of the task takes
 * whole shards, a range of rows, and calls forward() and then backward() of
 * every layer on its rows alone, each product on its own thread.  A layer
 * keeps what backward needs in buffers indexed by row (sized by reserve()
 * for the batch), and scratch of its own per part (nparts of them).
 * backward() turns dy, the gradient of the output, into the gradient of the
 * layer's pre-activation in place (what the weight gradients need) and
 * writes dx unless dx is NULL (the first layer).  A layer that needs the
 * whole batch in a pass (batchnorm's statistics) meets the other parts at
 * nn_pool_barrier(): every part calls every layer, rows or not.
 *
 * The weight gradients come after every part's backward, from the kept
 * values of all rows (x, y and dy as backward left it): the layer's
 * parameters are cut into blocks fixed by its shape (block()), the parts
 * share the blocks, and grad() computes a run of them from the whole batch.
 *
 * Sums over the batch (weight gradients, statistics) run in an order that
 * the batch alone fixes — the rows in order, or the shards in order; each
 * layer's file says which — never the parts: the results are the same bits
 * for any number of threads.  Products over a part's rows keep that too:
 * with libnn's kernel a row's values do not depend on the other rows of the
 * product, so a part multiplies all its rows at once; a BLAS may round them
 * differently in products of other shapes, so there a part multiplies one
 * shard at a time (nn_rows_block).
 */
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include "nn.h"
#include "pool.h"
#include "spec.h"

#define NN_LAYER_MAX_TENSORS 6
#define NN_BLOCK_MAX_RANGES 4

typedef struct nn_layer nn_layer;

/* One pass over a batch, shared by the parts. */
typedef struct nn_pass {
    int B;                 /* rows of the batch */
    int S;                 /* shards */
    const int *bound;      /* S + 1 values: shard s is rows [bound[s], bound[s + 1]) */
    int train;             /* training mode: dropout on, batch statistics */
    nn_pool *pool;         /* the team, for nn_pool_barrier */
} nn_pass;

/* What one part of the pass works on. */
typedef struct nn_rows {
    const nn_pass *pass;
    int part;              /* 0 .. nparts - 1: the index of per-part scratch */
    int s0, s1;            /* its shards [s0, s1) */
    int lo, hi;            /* and their rows [lo, hi) */
} nn_rows;

/* The row blocks that a part's products run over, one product each: with
 * libnn's kernel the part's rows at once, with a BLAS one shard at a time.
 * Block i is rows [*lo, *hi); returns 0 when there is no block i. */
int nn_rows_block(const nn_rows *r, int i, int *lo, int *hi);

/* A range of a layer's parameters, as offsets within its slice [lo, hi). */
typedef struct nn_range {
    size_t lo, hi;
} nn_range;

typedef struct nn_layer_ops {
    int (*setup)(nn_layer *l, nn_err *e);
    void (*init)(nn_layer *l, uint64_t seed);
    /* buffers for a batch of B rows, nparts parts and `shards` shards (the
     * layer's fields); called again when any of them grows */
    int (*reserve)(nn_layer *l, int B);
    /* before every pass, from the parameters (transposed copies): part
     * `part` of nparts does its share; NULL when there is nothing */
    void (*prepare)(nn_layer *l, int part, int nparts);
    void (*forward)(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y);
    void (*backward)(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                     nn_real *dy, nn_real *dx);
    /* the weight gradients (NULL without parameters): n_blocks() blocks;
     * block() names block b's ranges (at most NN_BLOCK_MAX_RANGES, covering
     * the parameters once over all blocks) and returns the work it costs
     * per row of the batch; grad() computes blocks [b0, b1) from the whole
     * pass, each value as block by block would (a part's consecutive
     * blocks at once let the layer keep its operands in the cache) */
    int (*n_blocks)(const nn_layer *l);
    double (*block)(const nn_layer *l, int b, nn_range *ranges, int *n_ranges);
    void (*grad)(nn_layer *l, const nn_pass *p, int b0, int b1, const nn_real *x,
                 const nn_real *y, const nn_real *dy);
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
    size_t param_off;         /* where its slices start in the arenas */
    size_t buffer_off;
    nn_real *param, *grad;    /* slices of the model's arena */
    nn_real *buffer;          /* slice of the model's buffer arena */
    int nparts;               /* parts of the model's team */
    int shards;               /* shards of every batch */
    uint64_t drop_base;       /* dropout: the stream's counter at this pass's first value */
    uint64_t drop_key;        /* dropout: the stream's key */
    int reserved;             /* batch size the buffers hold */
    int64_t act_size;         /* values per sample in the layer's output buffer:
                                 out_size, or the next layer's when it is fused */
    int fused;                /* computed by the layer before (see
                                 nn_conv2d_fuse_maxpool): its forward and backward
                                 are not called, its output buffer is that layer's */
    void *priv;               /* the layer's own state */
};

/* The layer kinds: one row per kind (name, ops), the one registration of a
 * layer besides its enum value in spec.h.  NULL for an unknown kind. */
const nn_layer_ops *nn_layer_ops_for(nn_layer_kind k);

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
