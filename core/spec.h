/*
 * spec.h — a model definition as plain C data: the input shape, the list of
 * layers with their options, and the loss.  The server fills it from JSON
 * (server/spec_json.c); nn_model_new() checks it, infers every shape and
 * builds the model.  Errors found there carry the layer index and the field
 * name, so that callers can point at the JSON (/layers/1/units).
 */
#ifndef NN_SPEC_H
#define NN_SPEC_H

#include "nn.h"

typedef enum nn_act_kind {
    NN_ACT_LINEAR = 0,
    NN_ACT_RELU,
    NN_ACT_LEAKY_RELU,   /* x > 0 ? x : alpha x   (alpha default 0.01, >= 0) */
    NN_ACT_ELU,          /* x > 0 ? x : alpha (e^x - 1)   (alpha default 1, > 0) */
    NN_ACT_SIGMOID,
    NN_ACT_TANH,
    NN_ACT_SOFTMAX,      /* over the last dimension */
    NN_ACT_GELU,         /* x Phi(x), the exact (erf) form */
    NN_ACT_COUNT
} nn_act_kind;

typedef enum nn_layer_kind {
    NN_LAYER_DENSE = 0,  /* units, activation, use_bias, init */
    NN_LAYER_DROPOUT,    /* rate */
    NN_LAYER_ACT,        /* a standalone activation: act, alpha */
    NN_LAYER_CONV2D,     /* filters, kernel, stride, padding, activation, use_bias, init */
    NN_LAYER_MAXPOOL2D,  /* kernel (the window, "size" in JSON), stride (default: the window) */
    NN_LAYER_AVGPOOL2D,  /* as maxpool2d */
    NN_LAYER_GLOBAL_AVGPOOL, /* [C, H, W] -> [C] */
    NN_LAYER_BATCHNORM,  /* momentum, eps: per channel of [C, H, W], per feature of [F] */
    NN_LAYER_FLATTEN,    /* [C, H, W] (or any shape) -> [C * H * W], in that order */
    NN_LAYER_RNN,        /* Elman: units, act (tanh or relu), return_sequences, bptt, use_bias */
    NN_LAYER_LSTM,       /* units, return_sequences, bptt, use_bias; gates i, f, g, o */
    NN_LAYER_GRU,        /* units, return_sequences, bptt, use_bias; gates r, z, n */
    /* The recurrent layers take [T, F] (rank 2; an image is a sequence of its
     * rows through the model's input [H, W]) and give [T, units] or [units].
     * Tensors, formulas and default init are PyTorch's nn.RNN/LSTM/GRU (see
     * core/layer_rnn.c).  act: rnn's tanh or relu; NN_ACT_LINEAR, the default
     * of nn_layer_spec_default, means tanh (the other kinds are refused); lstm
     * and gru take none (NN_ACT_LINEAR).  init: NN_INIT_DEFAULT is PyTorch's
     * uniform(-1/sqrt(units), 1/sqrt(units)) on every tensor; another kind
     * fills weight_ih and weight_hh (fan_in F or units, fan_out G * units)
     * and zeroes the biases. */
    NN_LAYER_COUNT
} nn_layer_kind;

/* How a convolution pads its input. */
typedef enum nn_padding {
    NN_PAD_EXPLICIT = 0, /* pad[0] rows above and below, pad[1] columns left and right */
    NN_PAD_VALID,        /* none */
    NN_PAD_SAME,         /* the output has the input's height and width (stride 1 only);
                            an even kernel puts the extra row/column after, as PyTorch */
} nn_padding;

typedef enum nn_init_kind {
    NN_INIT_DEFAULT = 0, /* he_uniform before relu-like activations, else glorot_uniform */
    NN_INIT_HE_UNIFORM,
    NN_INIT_HE_NORMAL,
    NN_INIT_GLOROT_UNIFORM,
    NN_INIT_GLOROT_NORMAL,
    NN_INIT_ZEROS,
    NN_INIT_COUNT
} nn_init_kind;

typedef enum nn_loss_kind {
    NN_LOSS_MSE = 0,
    NN_LOSS_MAE,
    NN_LOSS_CROSS_ENTROPY,   /* fused with softmax; class labels or one-hot/soft targets */
    NN_LOSS_BCE,             /* binary cross-entropy, fused with sigmoid */
    NN_LOSS_COUNT
} nn_loss_kind;

typedef struct nn_layer_spec {
    nn_layer_kind kind;
    int units;            /* dense */
    int use_bias;         /* dense; default 1 */
    nn_init_kind init;    /* dense weights; biases start at zero */
    nn_act_kind act;      /* dense's activation, or the ACT layer's function */
    double alpha;         /* leaky_relu / elu parameter; NAN means the default */
    double rate;          /* dropout probability in [0, 1) */
    int filters;          /* conv2d: output channels */
    int kernel[2];        /* conv2d: kernel height, width; pooling: window height, width */
    int stride[2];        /* conv2d: default 1, 1; pooling: 0 means the window */
    nn_padding padding;   /* conv2d; default valid */
    int pad[2];           /* conv2d with NN_PAD_EXPLICIT */
    double momentum;      /* batchnorm: weight of the new batch in the running stats, 0.1 */
    double eps;           /* batchnorm: added to the variance, 1e-5 */
    int return_sequences; /* rnn/lstm/gru: 1: [T, units], the output at every step;
                             0 (default): [units], the last step's */
    int bptt;             /* rnn/lstm/gru: truncated backpropagation through time,
                             gradients flow back at most this many steps; 0: all.
                             Exactly: the steps are cut into chunks [0, k),
                             [k, 2k), ... and the state entering a chunk is a
                             constant (PyTorch's h.detach() between chunks): a
                             step's gradient comes from the outputs of its own
                             chunk; k >= T is the same as 0 */
} nn_layer_spec;

typedef struct nn_spec {
    nn_shape input;       /* one sample, without the batch dimension */
    int n_layers;
    nn_layer_spec *layers;
    nn_loss_kind loss;
} nn_spec;

/* A layer spec with every option at its default (dense, use_bias 1, linear,
 * alpha NAN, rate 0, init default). */
void nn_layer_spec_default(nn_layer_spec *l);

/* Frees s->layers and zeroes s. */
void nn_spec_free(nn_spec *s);

/* Deep copy. */
int nn_spec_copy(nn_spec *dst, const nn_spec *src);

/* Names as written in model definitions ("relu", "dense", "he_normal",
 * "cross_entropy"), and the reverse lookups (-1 when unknown). */
const char *nn_act_name(nn_act_kind k);
const char *nn_layer_kind_name(nn_layer_kind k);
const char *nn_init_name(nn_init_kind k);
const char *nn_loss_name(nn_loss_kind k);
int nn_act_from_name(const char *s);
int nn_layer_kind_from_name(const char *s);
int nn_init_from_name(const char *s);
int nn_loss_from_name(const char *s);

#endif
