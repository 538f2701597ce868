/*
 * model.h — a model built from a spec: its layers, its one parameter arena,
 * forward and backward passes, inference, and weight files.
 *
 * Parameters and gradients are each one contiguous buffer (the arena): a
 * layer owns a slice of each.  Activations live in a workspace sized for the
 * largest batch used so far.  A model owns a team of compute threads; one
 * model is used by one caller thread at a time.
 *
 * Threads: data parallel.  Every batch of B rows is cut into S shards
 * (shard s is rows nn_split(B, s, S, 1): sizes differ by one at most, the
 * larger first), S fixed by the job (nn_model_set_shards; NN_SHARDS_DEFAULT)
 * and independent of the thread count.  A pass is one task of the team: its
 * part p takes the whole shards nn_split(S, p, T, 1) of T, a range of
 * contiguous rows, and runs every layer's forward and backward on them with
 * single-threaded products.  The parts meet once after the backward pass;
 * then the weight gradients are computed from every row's kept values, in
 * blocks fixed by the layers' shapes that the parts share by cost, each
 * part updating the parameters of its blocks as they are done.  Besides,
 * batchnorm meets the parts twice per layer and training step (its batch
 * statistics), recurrent layers once per pass (their transposed weights).
 * Per step that is one task and one to a few meetings, where splitting each
 * product between the threads took two to four per layer.
 *
 * Every sum over a batch runs in an order the batch alone fixes: the weight
 * gradients of dense and recurrent layers over the rows in order, those of
 * convolutions per shard and then over the shards in order, batchnorm's
 * statistics and the loss per shard, then over the shards in order.  So a
 * given seed gives the same weights, bit for bit, for any thread count (and
 * with libnn's kernel or any BLAS that computes a product of a given shape
 * the same way each time); the shard count, though, is part of the result.
 *
 * Limits of the rule: threads beyond S have no rows in the forward and
 * backward passes (they share the weight gradients), and a part with fewer
 * rows than a product tile (8) wastes lanes: a batch of fewer than 8 T rows
 * gains little from T threads.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include "nn.h"
#include "spec.h"
#include "tensor.h"

typedef struct nn_model nn_model;

typedef struct nn_model_opts {
    uint64_t seed;     /* weight initialisation */
    int threads;       /* compute threads (the caller's included); >= 1 */
    int shape_only;    /* infer shapes and count parameters only: no arena, no
                          threads; such a model answers the summary calls only */
    int no_fusion;     /* run every layer on its own (nn_conv2d_fuse_maxpool), for
                          the tests that compare the two */
    int shards;        /* shards of every batch (above); 0: NN_SHARDS_DEFAULT */
} nn_model_opts;

#define NN_SHARDS_DEFAULT 8
#define NN_SHARDS_MAX 256

/* Checks the spec, infers every layer's shape, allocates the arena and
 * initialises the weights from opts->seed.  On a bad spec returns NN_EINVAL
 * with e->layer / e->field naming the offending option.  Caller frees. */
int nn_model_new(const nn_spec *spec, const nn_model_opts *opts, nn_model **out, nn_err *e);
void nn_model_free(nn_model *m);

/* The spec the model was built from (owned by the model). */
const nn_spec *nn_model_spec(const nn_model *m);

/* Per-sample input size and output shape/size. */
int64_t nn_model_in_size(const nn_model *m);
nn_shape nn_model_out_shape(const nn_model *m);
int64_t nn_model_out_size(const nn_model *m);
int nn_model_threads(const nn_model *m);

/* The shard count S of every batch (1 .. NN_SHARDS_MAX; others are
 * clamped).  It is part of the results: a run keeps its own. */
void nn_model_set_shards(nn_model *m, int shards);
int nn_model_shards(const nn_model *m);

/* Summary of the spec's layer i (0 <= i < spec->n_layers): its output shape
 * (per sample) and its number of trainable parameters. */
typedef struct nn_layer_info {
    const char *type;      /* "dense", "dropout", "relu", ... */
    nn_shape out;
    int64_t n_params;
    int fused;             /* computed with the layer before (a max pool after its
                              convolution, layer.h); the results are the same */
} nn_layer_info;
void nn_model_layer_info(const nn_model *m, int i, nn_layer_info *info);

/* Floating-point operations of one training sample's forward and backward
 * passes through the matrix products (element-wise work not counted); for
 * the 784-256-128-10 MLP about 1.01 million. */
double nn_model_train_flops(const nn_model *m);

/* The arena. */
size_t nn_model_n_params(const nn_model *m);
/* The buffer arena: state updated by training without gradients. */
size_t nn_model_n_buffers(const nn_model *m);
nn_real *nn_model_buffers(nn_model *m);
nn_real *nn_model_params(nn_model *m);
nn_real *nn_model_grads(nn_model *m);

/* One named tensor of the model, in PyTorch's layout and naming
 * ("layers.0.weight" is [out, in] for dense). */
typedef struct nn_param_tensor {
    char name[48];
    int rank;
    int64_t shape[NN_MAX_RANK];
    size_t offset;         /* into the arena, or the buffer arena when buffer */
    size_t numel;
    int buffer;            /* a non-trainable buffer (batchnorm's running statistics) */
} nn_param_tensor;
int nn_model_n_tensors(const nn_model *m);
const nn_param_tensor *nn_model_tensor(const nn_model *m, int i);

/* Forward pass on a batch x [B, in_size] in training mode (train=1: dropout
 * active, activations kept for backward) or eval mode.  Returns a pointer to
 * the model's outputs [B, out_size] before the loss's fused activation
 * (logits for cross_entropy/binary_cross_entropy), valid until the next call. */
const nn_real *nn_model_forward(nn_model *m, const nn_real *x, int B, int train, nn_err *e);

/* Backward pass after a training forward: dout [B, out_size] is the gradient
 * of the loss w.r.t. the forward outputs.  Writes the parameter gradients. */
void nn_model_backward(nn_model *m, const nn_real *dout);

/* Inference in eval mode on n samples x [n, in_size]: writes out [n, out_size]
 * with the final activation applied (probabilities for classifiers). */
int nn_model_predict(nn_model *m, const nn_real *x, int64_t n, nn_real *out, nn_err *e);

/* Seeds the dropout stream (the trainer does this from its seed). */
void nn_model_seed_dropout(nn_model *m, uint64_t seed);

/* The dropout RNG state, for checkpoints (4 words). */
void nn_model_dropout_state(const nn_model *m, uint64_t st[4]);
void nn_model_set_dropout_state(nn_model *m, const uint64_t st[4]);

/* Weights as safetensors, in memory or in a file; metadata pairs as in
 * nn_st_write_mem.  Loading checks every tensor's presence and shape. */
int nn_model_save_weights_mem(const nn_model *m, const char *const *meta, int n_meta,
                              void **buf, size_t *len, nn_err *e);
int nn_model_save_weights(const nn_model *m, const char *path, const char *const *meta,
                          int n_meta, nn_err *e);
int nn_model_load_weights_mem(nn_model *m, const void *buf, size_t len, nn_err *e);
int nn_model_load_weights(nn_model *m, const char *path, nn_err *e);

/* The internal thread pool (for callers that want to split work alike). */
struct nn_pool;
struct nn_pool *nn_model_pool(nn_model *m);

/* ---------------------------------------------------------------------------
 * A pass piece by piece, for the trainer's step, which runs all of it in one
 * task of the team (nn_model_forward and nn_model_backward run theirs):
 *
 *   driver:  nn_model_begin_pass(m, x, B, train)
 *   task, part p of nn_model_parts(m) (every part calls every step):
 *            fill its rows of x                    (nn_model_part_rows)
 *            y = nn_model_forward_part(m, p)       its rows of the outputs
 *            write its rows of nn_model_out_grad(m)
 *            nn_model_backward_part(m, p)
 *            nn_pool_barrier(nn_model_pool(m))     every row's gradient is in
 *            nn_model_grads_part(m, p, done, user)
 *
 * Gradient ranges: the arena's parameters in ranges [lo, hi) numbered in
 * arena order and fixed by the model; part p computes ranges [r0, r1)
 * (nn_model_part_ranges), and nn_model_grads_part calls done(user, r) as
 * each is complete (an optimizer can update it while it is in the cache). */

/* Cuts the batch into shards and numbers the pass's dropout values; x [B,
 * in_size] is read by the parts (after they fill it).  NN_ENOMEM. */
int nn_model_begin_pass(nn_model *m, const nn_real *x, int B, int train, nn_err *e);
int nn_model_parts(const nn_model *m);
void nn_model_part_rows(const nn_model *m, int part, int *lo, int *hi);
void nn_model_part_shards(const nn_model *m, int part, int *s0, int *s1);
/* The pass's shard bounds: S + 1 values, shard s is rows [b[s], b[s + 1]). */
const int *nn_model_shard_bounds(const nn_model *m);
const nn_real *nn_model_forward_part(nn_model *m, int part);
/* [B, out_size]: the gradient of the loss w.r.t. the outputs, for backward. */
nn_real *nn_model_out_grad(nn_model *m);
void nn_model_backward_part(nn_model *m, int part);

/* Profile: when on, the seconds every part spends in each phase of the
 * passes, summed until turned on again (which zeroes them).  Slots of a
 * part: the NN_PROF_* phases, then per layer i its forward at
 * NN_PROF_LAYERS + i, backward at + n_layers + i and weight gradient at
 * + 2 n_layers + i (a layer's meetings count in its own times). */
enum { NN_PROF_GATHER, NN_PROF_LOSS, NN_PROF_MEET, NN_PROF_UPDATE, NN_PROF_PREPARE,
       NN_PROF_LAYERS };
int nn_model_profile_on(nn_model *m, int on);     /* NN_ENOMEM */
int nn_model_profile_slots(const nn_model *m);
double *nn_model_profile(nn_model *m, int part);  /* NULL when off or paused */
void nn_model_profile_pause(nn_model *m, int pause);  /* 1: record nothing until 0 */
double nn_model_now(void);                        /* seconds, monotonic */

typedef void (*nn_range_fn)(void *user, int range);
void nn_model_grads_part(nn_model *m, int part, nn_range_fn done, void *user);
int nn_model_n_ranges(const nn_model *m);
void nn_model_range(const nn_model *m, int r, size_t *lo, size_t *hi);
void nn_model_part_ranges(const nn_model *m, int part, int *r0, int *r1);

#endif
