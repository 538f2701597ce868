/*
 * model.h — a model built from a spec: its layers, its one parameter arena,
 * forward and backward passes, inference, and weight files.
 *
 * Parameters and gradients are each one contiguous buffer (the arena): a
 * layer owns a slice of each.  Activations live in a workspace sized for the
 * largest batch used so far.  A model owns a pool of compute threads; one
 * model is used by one caller thread at a time.
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
} nn_model_opts;

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
 * of the loss w.r.t. the forward outputs (it may be overwritten).  Parameter
 * gradients are written (accumulate=0) or added (accumulate=1). */
void nn_model_backward(nn_model *m, nn_real *dout, int accumulate);

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

#endif
