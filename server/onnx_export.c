/*
 * onnx_export.c — traind's spec, weights and fitted preprocessing as an
 * ONNX graph (onnx_export.h states the graph's contract; onnx_graph.c
 * writes the protobuf).
 *
 * The walk keeps one current tensor (x->cur) and its per-sample shape in
 * the user's layout (x->sh: [F], [T, F] or [C, H, W]), which is also
 * PyTorch's and the layout of the exported weights (docs/model.md, "The
 * exported weights"), so every tensor goes in as written, except:
 *   - dense on [N, T, F]: MatMul by W^T [F, U] (Gemm wants rank 2);
 *   - rnn/lstm/gru: ONNX wants X [T, N, F] (transposed in and out), W
 *     [1, G H, F], R [1, G H, H], B [1, 2 G H] = (b_ih, b_hh), and its own
 *     gate orders: LSTM i, o, f, c from PyTorch's i, f, g, o; GRU z, r, h
 *     from r, z, n, with linear_before_reset=1, which is the core's (and
 *     PyTorch's) n = tanh(W_in x + b_in + r (W_hn h + b_hn));
 *   - batchnorm on [F] and [T, F] (per feature, the last dimension): Mul +
 *     Add by gamma / sqrt(var + eps) and beta - mean gamma / sqrt(var +
 *     eps); on images BatchNormalization, whose channel is dimension 1
 *     (OpenCV 4.6 misreads BatchNormalization of rank-2 inputs);
 *   - the recurrent outputs lose their direction axis by Reshape to a
 *     constant shape rather than Squeeze, whose axes are an input since
 *     opset 13, which OpenCV 4.6 does not read;
 * The last layer's activation gives way to the loss's (softmax for
 * cross_entropy, sigmoid for binary_cross_entropy), as in the core.
 */
#include "onnx_export.h"

#include "model.h"
#include "onnx_graph.h"
#include "prep.h"
#include "prep_json.h"
#include "safetensors.h"
#include "spec_json.h"
#include "version.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ex {
    onnx_graph *g;
    nn_model *m;
    const nn_spec *spec;
    const char *cur;        /* the current tensor */
    nn_shape sh;            /* its shape, batch excluded */
    int oom;
    char *err;
    size_t errlen;
} ex;

static int fail(ex *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
    return ONNX_EXPORT_EINVAL;
}

/* ---------------------------------------------------------------------------
 * Weights */

static const nn_param_tensor *tensor_of(const ex *x, int layer, const char *name)
{
    char full[48];
    snprintf(full, sizeof full, "layers.%d.%s", layer, name);
    for (int i = 0; i < nn_model_n_tensors(x->m); i++)
        if (!strcmp(nn_model_tensor(x->m, i)->name, full))
            return nn_model_tensor(x->m, i);
    return NULL;
}

/* The tensor's values as float32 (a new buffer), or NULL (out of memory). */
static float *values_of(ex *x, const nn_param_tensor *t)
{
    float *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
    if (!v) {
        x->oom = 1;
        return NULL;
    }
    const nn_real *src = (t->buffer ? nn_model_buffers(x->m) : nn_model_params(x->m)) + t->offset;
    for (size_t i = 0; i < t->numel; i++)
        v[i] = (float)src[i];
    return v;
}

/* A tensor of layer i as an initializer, its own shape (NULL dims) or dims. */
static const char *param(ex *x, int layer, const char *name, int rank, const int64_t *dims)
{
    const nn_param_tensor *t = tensor_of(x, layer, name);
    float *v = t ? values_of(x, t) : NULL;
    if (!v)
        return "";
    const char *n = onnx_graph_f32(x->g, name, dims ? rank : t->rank, dims ? dims : t->shape, v);
    free(v);
    return n;
}

/* ---------------------------------------------------------------------------
 * Activations */

static void activation(ex *x, nn_act_kind k, double alpha)
{
    onnx_graph *g = x->g;
    onnx_node *n;
    switch (k) {
    case NN_ACT_RELU: x->cur = onnx_graph_op1(g, "Relu", x->cur); break;
    case NN_ACT_SIGMOID: x->cur = onnx_graph_op1(g, "Sigmoid", x->cur); break;
    case NN_ACT_TANH: x->cur = onnx_graph_op1(g, "Tanh", x->cur); break;
    case NN_ACT_LEAKY_RELU:
        x->cur = onnx_graph_opn(g, "LeakyRelu", &x->cur, 1, &n);
        onnx_attr_float(g, n, "alpha", (float)(isnan(alpha) ? 0.01 : alpha));
        break;
    case NN_ACT_ELU:
        x->cur = onnx_graph_opn(g, "Elu", &x->cur, 1, &n);
        onnx_attr_float(g, n, "alpha", (float)(isnan(alpha) ? 1.0 : alpha));
        break;
    case NN_ACT_SOFTMAX:
        x->cur = onnx_graph_opn(g, "Softmax", &x->cur, 1, &n);
        onnx_attr_int(g, n, "axis", -1);
        break;
    case NN_ACT_GELU: {
        /* y = (x 0.5) (1 + erf(x / sqrt 2)), the core's order */
        const char *e = onnx_graph_op1(
            g, "Erf", onnx_graph_op2(g, "Mul", x->cur, onnx_graph_scalar(g, "rsqrt2", (float)M_SQRT1_2)));
        const char *h = onnx_graph_op2(g, "Mul", x->cur, onnx_graph_scalar(g, "half", 0.5f));
        x->cur = onnx_graph_op2(g, "Mul", h, onnx_graph_op2(g, "Add", e, onnx_graph_scalar(g, "one", 1)));
        break;
    }
    default: break;
    }
}

/* The activation of layer i, none for the last one when the loss has its own. */
static nn_act_kind act_of(const ex *x, int i)
{
    int fused = x->spec->loss == NN_LOSS_CROSS_ENTROPY || x->spec->loss == NN_LOSS_BCE;
    return fused && i == x->spec->n_layers - 1 ? NN_ACT_LINEAR : x->spec->layers[i].act;
}

/* ---------------------------------------------------------------------------
 * Layers; each leaves x->cur and x->sh at its output */

/* x:(N,F) W:(U,F) -> Gemm(x, W, b, transB) (N,U); x:(N,T,F) -> MatMul(x, W^T) + b */
static void dense(ex *x, int i)
{
    const nn_layer_spec *l = &x->spec->layers[i];
    const nn_param_tensor *w = tensor_of(x, i, "weight");
    const char *b = l->use_bias ? param(x, i, "bias", 0, NULL) : "";
    if (x->sh.rank == 1) {
        const char *in[3] = {x->cur, param(x, i, "weight", 0, NULL), b};
        onnx_node *n;
        x->cur = onnx_graph_opn(x->g, "Gemm", in, l->use_bias ? 3 : 2, &n);
        onnx_attr_int(x->g, n, "transB", 1);
    } else {
        int64_t U = w->shape[0], F = w->shape[1];
        float *v = values_of(x, w), *t = malloc((size_t)(U * F) * sizeof *t);
        if (!v || !t) {
            x->oom = 1;
        } else {
            for (int64_t u = 0; u < U; u++)
                for (int64_t f = 0; f < F; f++)
                    t[f * U + u] = v[u * F + f];
            int64_t dims[2] = {F, U};
            x->cur = onnx_graph_op2(x->g, "MatMul", x->cur, onnx_graph_f32(x->g, "weight_t", 2, dims, t));
            if (l->use_bias)
                x->cur = onnx_graph_op2(x->g, "Add", x->cur, b);
        }
        free(v);
        free(t);
    }
    activation(x, act_of(x, i), l->alpha);
}

/* pads [top, left, bottom, right]: "same" puts an odd extra after, as PyTorch */
static void conv_pads(const nn_layer_spec *l, int64_t pads[4])
{
    for (int d = 0; d < 2; d++) {
        int64_t before = 0, after = 0;
        if (l->padding == NN_PAD_EXPLICIT) {
            before = after = l->pad[d];
        } else if (l->padding == NN_PAD_SAME) {
            before = (l->kernel[d] - 1) / 2;
            after = l->kernel[d] - 1 - before;
        }
        pads[d] = before;
        pads[d + 2] = after;
    }
}

/* x:(N,C,H,W) W:(O,C,kh,kw) -> (N,O,H',W') */
static void conv2d(ex *x, int i)
{
    const nn_layer_spec *l = &x->spec->layers[i];
    const char *in[3] = {x->cur, param(x, i, "weight", 0, NULL), l->use_bias ? param(x, i, "bias", 0, NULL) : ""};
    int64_t k[2] = {l->kernel[0], l->kernel[1]}, s[2] = {l->stride[0], l->stride[1]}, pads[4];
    conv_pads(l, pads);
    onnx_node *n;
    x->cur = onnx_graph_opn(x->g, "Conv", in, l->use_bias ? 3 : 2, &n);
    onnx_attr_ints(x->g, n, "kernel_shape", k, 2);
    onnx_attr_ints(x->g, n, "strides", s, 2);
    onnx_attr_ints(x->g, n, "pads", pads, 4);
    activation(x, act_of(x, i), l->alpha);
}

/* floor mode, no padding: the core's pools */
static void pool(ex *x, int i, const char *op)
{
    const nn_layer_spec *l = &x->spec->layers[i];
    int64_t k[2] = {l->kernel[0], l->kernel[1]};
    int64_t s[2] = {l->stride[0] ? l->stride[0] : k[0], l->stride[1] ? l->stride[1] : k[1]};
    onnx_node *n;
    x->cur = onnx_graph_opn(x->g, op, &x->cur, 1, &n);
    onnx_attr_ints(x->g, n, "kernel_shape", k, 2);
    onnx_attr_ints(x->g, n, "strides", s, 2);
}

static void flatten(ex *x)
{
    if (x->sh.rank == 1)
        return;
    onnx_node *n;
    x->cur = onnx_graph_opn(x->g, "Flatten", &x->cur, 1, &n);
    onnx_attr_int(x->g, n, "axis", 1);
}

/* (N,C,H,W) -> GlobalAveragePool (N,C,1,1) -> Flatten (N,C) */
static void global_avgpool(ex *x)
{
    x->cur = onnx_graph_op1(x->g, "GlobalAveragePool", x->cur);
    flatten(x);
}

/* per feature of (N,F) or (N,T,F), the last dimension: x scale + shift,
 * folded in double */
static void batchnorm_seq(ex *x, int i)
{
    const nn_layer_spec *l = &x->spec->layers[i];
    const nn_param_tensor *t[4] = {tensor_of(x, i, "weight"), tensor_of(x, i, "bias"),
                                   tensor_of(x, i, "running_mean"), tensor_of(x, i, "running_var")};
    float *v[4] = {0};
    for (int k = 0; k < 4; k++)
        v[k] = values_of(x, t[k]);
    if (!x->oom) {
        int64_t C = t[0]->shape[0];
        for (int64_t c = 0; c < C; c++) {
            double sc = v[0][c] / sqrt((double)v[3][c] + l->eps);
            v[1][c] = (float)(v[1][c] - v[2][c] * sc);
            v[0][c] = (float)sc;
        }
        x->cur = onnx_graph_op2(x->g, "Mul", x->cur, onnx_graph_f32(x->g, "bn_scale", 1, &C, v[0]));
        x->cur = onnx_graph_op2(x->g, "Add", x->cur, onnx_graph_f32(x->g, "bn_shift", 1, &C, v[1]));
    }
    for (int k = 0; k < 4; k++)
        free(v[k]);
}

/* (N,C,H,W): the channel is dimension 1 */
static void batchnorm(ex *x, int i)
{
    if (x->sh.rank != 3) {
        batchnorm_seq(x, i);
        return;
    }
    const char *in[5] = {x->cur, param(x, i, "weight", 0, NULL), param(x, i, "bias", 0, NULL),
                         param(x, i, "running_mean", 0, NULL), param(x, i, "running_var", 0, NULL)};
    onnx_node *n;
    x->cur = onnx_graph_opn(x->g, "BatchNormalization", in, 5, &n);
    onnx_attr_float(x->g, n, "epsilon", (float)x->spec->layers[i].eps);
}

/* ---------------------------------------------------------------------------
 * Recurrent layers */

/* dst's block k is src's block order[k], of G blocks of `block` values. */
static void reorder(float *dst, const float *src, int G, size_t block, const int *order)
{
    for (int k = 0; k < G; k++)
        memcpy(dst + (size_t)k * block, src + (size_t)order[k] * block, block * sizeof *dst);
}

/* A tensor of G gate blocks of H rows (of cols values) in ONNX's order. */
static const char *gates(ex *x, const nn_param_tensor *t, int G, const int *order, int rank,
                         const int64_t *dims, const char *stem)
{
    float *v = values_of(x, t), *r = malloc((t->numel ? t->numel : 1) * sizeof *r);
    const char *n = "";
    if (v && r) {
        reorder(r, v, G, t->numel / (size_t)G, order);
        n = onnx_graph_f32(x->g, stem, rank, dims, r);
    } else {
        x->oom = 1;
    }
    free(v);
    free(r);
    return n;
}

/* B [1, 2 G H]: b_ih then b_hh, each in ONNX's gate order. */
static const char *rnn_bias(ex *x, int i, int G, const int *order)
{
    const nn_param_tensor *ti = tensor_of(x, i, "bias_ih_l0"), *th = tensor_of(x, i, "bias_hh_l0");
    float *bi = values_of(x, ti), *bh = values_of(x, th), *b = malloc(2 * ti->numel * sizeof *b);
    const char *n = "";
    if (bi && bh && b) {
        size_t block = ti->numel / (size_t)G;
        reorder(b, bi, G, block, order);
        reorder(b + ti->numel, bh, G, block, order);
        int64_t dims[2] = {1, (int64_t)(2 * ti->numel)};
        n = onnx_graph_f32(x->g, "B", 2, dims, b);
    } else {
        x->oom = 1;
    }
    free(bi);
    free(bh);
    free(b);
    return n;
}

/* W [1, G H, F], R [1, G H, H], B [1, 2 G H] ("" without biases). */
static void rnn_weights(ex *x, int i, int G, const int *order, const char *names[3])
{
    const nn_param_tensor *wi = tensor_of(x, i, "weight_ih_l0"), *wh = tensor_of(x, i, "weight_hh_l0");
    int64_t dw[3] = {1, wi->shape[0], wi->shape[1]}, dr[3] = {1, wh->shape[0], wh->shape[1]};
    names[0] = gates(x, wi, G, order, 3, dw, "W");
    names[1] = gates(x, wh, G, order, 3, dr, "R");
    names[2] = x->spec->layers[i].use_bias ? rnn_bias(x, i, G, order) : "";
}

static const char *transpose_tn(ex *x, const char *t)
{
    static const int64_t perm[3] = {1, 0, 2};
    onnx_node *n;
    const char *y = onnx_graph_opn(x->g, "Transpose", &t, 1, &n);
    onnx_attr_ints(x->g, n, "perm", perm, 3);
    return y;
}

/* x:(N,T,F) -> (T,N,F) -> op -> Y (T,1,N,H) -> (N,T,H), or Y_h (1,N,H) -> (N,H);
 * x->sh is still the input's [T, F] here */
static void recurrent(ex *x, int i)
{
    static const int lstm_order[4] = {0, 3, 1, 2}, gru_order[3] = {1, 0, 2}, rnn_order[1] = {0};
    const nn_layer_spec *l = &x->spec->layers[i];
    const char *op = l->kind == NN_LAYER_LSTM ? "LSTM" : l->kind == NN_LAYER_GRU ? "GRU" : "RNN";
    int G = l->kind == NN_LAYER_LSTM ? 4 : l->kind == NN_LAYER_GRU ? 3 : 1;
    const int *order = G == 4 ? lstm_order : G == 3 ? gru_order : rnn_order;
    const char *w[3] = {"", "", ""};
    rnn_weights(x, i, G, order, w);
    const char *in[4] = {transpose_tn(x, x->cur), w[0], w[1], w[2]};
    const char *out[2] = {onnx_graph_name(x->g, "Y"), onnx_graph_name(x->g, "Y_h")};
    onnx_node *n = onnx_graph_node(x->g, op, in, *w[2] ? 4 : 3, out, 2);
    onnx_attr_int(x->g, n, "hidden_size", l->units);
    if (l->kind == NN_LAYER_GRU)
        onnx_attr_int(x->g, n, "linear_before_reset", 1);
    if (l->kind == NN_LAYER_RNN && l->act == NN_ACT_RELU) {
        const char *act = "Relu";   /* Tanh is the default */
        onnx_attr_strings(x->g, n, "activations", &act, 1);
    }
    /* Y (T,1,N,H) -> (T,N,H); Y_h (1,N,H) -> (N,H) */
    int64_t seq[3] = {x->sh.dim[0], -1, l->units}, last[2] = {-1, l->units};
    x->cur = onnx_graph_op2(x->g, "Reshape", out[l->return_sequences ? 0 : 1],
                            l->return_sequences ? onnx_graph_i64(x->g, "shape", 3, seq)
                                                : onnx_graph_i64(x->g, "shape", 2, last));
    if (l->return_sequences)
        x->cur = transpose_tn(x, x->cur);
}

static void layer(ex *x, int i)
{
    const nn_layer_spec *l = &x->spec->layers[i];
    switch (l->kind) {
    case NN_LAYER_DENSE: dense(x, i); break;
    case NN_LAYER_DROPOUT: break;   /* identity at inference */
    case NN_LAYER_ACT: activation(x, act_of(x, i), l->alpha); break;
    case NN_LAYER_CONV2D: conv2d(x, i); break;
    case NN_LAYER_MAXPOOL2D: pool(x, i, "MaxPool"); break;
    case NN_LAYER_AVGPOOL2D: pool(x, i, "AveragePool"); break;
    case NN_LAYER_GLOBAL_AVGPOOL: global_avgpool(x); break;
    case NN_LAYER_BATCHNORM: batchnorm(x, i); break;
    case NN_LAYER_FLATTEN: flatten(x); break;
    case NN_LAYER_RNN:
    case NN_LAYER_LSTM:
    case NN_LAYER_GRU: recurrent(x, i); break;
    default: break;
    }
    nn_layer_info info;
    nn_model_layer_info(x->m, i, &info);
    x->sh = info.out;
}

/* ---------------------------------------------------------------------------
 * Preprocessing: fill (IsNaN + Where), then (x - center) / scale */

typedef struct prep_consts {
    float *fill, *hi, *lo, *scale;     /* one per input value */
    int any_fill, any_lo, any_affine;
} prep_consts;

/* center = hi + lo, both float32: (x - hi) - lo keeps the core's double
 * subtraction's accuracy for features far from zero */
static void prep_feature(prep_consts *c, int64_t j, double fill, double center, double scale)
{
    c->fill[j] = (float)fill;
    c->hi[j] = (float)center;
    c->lo[j] = (float)(center - (double)c->hi[j]);
    c->scale[j] = (float)scale;
    c->any_fill |= !isnan(fill);
    c->any_lo |= c->lo[j] != 0;
    c->any_affine |= center != 0 || scale != 1;
}

static void prep_fill_consts(const nn_prep *p, prep_consts *c)
{
    int64_t j = 0;
    for (int k = 0; k < p->n_cols; k++) {
        const nn_prep_col *col = &p->cols[k];
        if (col->kind == NN_PREP_NUMERIC)
            prep_feature(c, j++, col->fill, col->center, col->scale);
        else
            for (int q = 0; q < col->n_cats; q++)
                prep_feature(c, j++, NAN, 0, 1);
    }
}

static void prep_ops(ex *x, const prep_consts *c, int rank, const int64_t *dims)
{
    onnx_graph *g = x->g;
    if (c->any_fill) {
        const char *in[3] = {onnx_graph_op1(g, "IsNaN", x->cur),
                             onnx_graph_f32(g, "fill", rank, dims, c->fill), x->cur};
        x->cur = onnx_graph_opn(g, "Where", in, 3, NULL);
    }
    if (!c->any_affine)
        return;
    x->cur = onnx_graph_op2(g, "Sub", x->cur, onnx_graph_f32(g, "center", rank, dims, c->hi));
    if (c->any_lo)
        x->cur = onnx_graph_op2(g, "Sub", x->cur, onnx_graph_f32(g, "center_lo", rank, dims, c->lo));
    x->cur = onnx_graph_op2(g, "Div", x->cur, onnx_graph_f32(g, "scale", rank, dims, c->scale));
}

static int preprocess(ex *x, const nn_prep *p)
{
    int64_t n = nn_model_in_size(x->m);
    if (p->n_out != n)
        return fail(x, "the preprocessing makes %lld features, the model takes %lld",
                    (long long)p->n_out, (long long)n);
    prep_consts c = {0};
    c.fill = malloc((size_t)n * sizeof *c.fill);
    c.hi = malloc((size_t)n * sizeof *c.hi);
    c.lo = malloc((size_t)n * sizeof *c.lo);
    c.scale = malloc((size_t)n * sizeof *c.scale);
    if (c.fill && c.hi && c.lo && c.scale) {
        prep_fill_consts(p, &c);
        int64_t dims[NN_MAX_RANK];
        for (int d = 0; d < x->sh.rank; d++)
            dims[d] = x->sh.dim[d];
        prep_ops(x, &c, x->sh.rank, dims);
    } else {
        x->oom = 1;
    }
    free(c.fill);
    free(c.hi);
    free(c.lo);
    free(c.scale);
    return ONNX_EXPORT_OK;
}

/* ---------------------------------------------------------------------------
 * Metadata */

/* One entry per input value: {"column", "kind": "numeric"} or {"column",
 * "kind": "category", "category"}; without preprocessing {"index"}. */
static json_t *features_json(const nn_prep *p, int64_t n)
{
    json_t *a = json_array();
    for (int k = 0; p && a && k < p->n_cols; k++) {
        const nn_prep_col *col = &p->cols[k];
        const char *name = col->name ? col->name : "";
        if (col->kind == NN_PREP_NUMERIC)
            json_array_append_new(a, json_pack("{s:s, s:s}", "column", name, "kind", "numeric"));
        for (int q = 0; col->kind == NN_PREP_ONEHOT && q < col->n_cats; q++)
            json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "column", name, "kind",
                                               "category", "category", col->cats[q]));
    }
    for (int64_t j = 0; !p && a && j < n; j++)
        json_array_append_new(a, json_pack("{s:I}", "index", (json_int_t)j));
    return a;
}

static const char *output_kind(nn_loss_kind loss)
{
    return loss == NN_LOSS_CROSS_ENTROPY ? "probabilities"
           : loss == NN_LOSS_BCE         ? "probability"
                                         : "values";
}

static void metadata(ex *x, const char *model_text, const char *classes, const char *prep_text,
                     const nn_prep *p)
{
    json_t *f = features_json(p, nn_model_in_size(x->m));
    char *ft = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(f);
    if (!ft) {
        x->oom = 1;
        return;
    }
    onnx_graph_meta(x->g, "traind.version", TRAIND_VERSION);
    onnx_graph_meta(x->g, "traind.model", model_text);
    onnx_graph_meta(x->g, "traind.classes", classes ? classes : "[]");
    onnx_graph_meta(x->g, "traind.preprocess", prep_text ? prep_text : "null");
    onnx_graph_meta(x->g, "traind.features", ft);
    onnx_graph_meta(x->g, "traind.output", output_kind(x->spec->loss));
    free(ft);
}

/* ---------------------------------------------------------------------------
 * The whole export */

static void io_dims(const nn_shape *s, int64_t dims[NN_MAX_RANK + 1])
{
    dims[0] = -1;
    for (int d = 0; d < s->rank; d++)
        dims[d + 1] = s->dim[d];
}

static int build(ex *x, const char *model_text, const char *classes, const char *prep_text,
                 const nn_prep *p)
{
    int64_t dims[NN_MAX_RANK + 1];
    x->sh = x->spec->input;
    x->cur = "input";
    io_dims(&x->sh, dims);
    onnx_graph_input(x->g, "input", x->sh.rank + 1, dims);
    if (p) {
        int rc = preprocess(x, p);
        if (rc)
            return rc;
    }
    for (int i = 0; i < x->spec->n_layers && !x->oom; i++)
        layer(x, i);
    if (x->spec->loss == NN_LOSS_CROSS_ENTROPY)
        activation(x, NN_ACT_SOFTMAX, NAN);
    else if (x->spec->loss == NN_LOSS_BCE)
        activation(x, NN_ACT_SIGMOID, NAN);
    const char *out = "output";
    onnx_graph_node(x->g, "Identity", &x->cur, 1, &out, 1);
    io_dims(&x->sh, dims);
    onnx_graph_output(x->g, "output", x->sh.rank + 1, dims);
    metadata(x, model_text, classes, prep_text, p);
    return x->oom ? ONNX_EXPORT_ENOMEM : ONNX_EXPORT_OK;
}

/* The model of spec into x->m, its arena allocated only when the file can
 * hold its values (2 bytes each at least, F16): a definition of billions
 * of parameters beside a small file is refused before anything large is
 * allocated. */
static int new_model(ex *x, const nn_spec *spec, size_t st_len)
{
    nn_model_opts so = {.seed = 1, .threads = 1, .shape_only = 1}, mo = {.seed = 1, .threads = 1};
    nn_err e;
    nn_model *probe;
    int rc = nn_model_new(spec, &so, &probe, &e);
    if (rc)
        return rc == NN_ENOMEM ? ONNX_EXPORT_ENOMEM : fail(x, "the model: %s", e.msg);
    size_t n = nn_model_n_params(probe) + nn_model_n_buffers(probe);
    nn_model_free(probe);
    if (n > st_len / 2)
        return fail(x, "the weights do not fit the model: %zu values in a file of %zu bytes", n,
                    st_len);
    rc = nn_model_new(spec, &mo, &x->m, &e);
    if (rc)
        return rc == NN_ENOMEM ? ONNX_EXPORT_ENOMEM : fail(x, "the model: %s", e.msg);
    return ONNX_EXPORT_OK;
}

/* The definition (model_text, else the file's) into spec and its canonical
 * text; the model with the file's weights into x->m. */
static int load_model(ex *x, const nn_st_file *f, size_t st_len, const char *model_text,
                      nn_spec *spec, char **canon)
{
    const char *text = model_text ? model_text : nn_st_meta(f, "model");
    if (!text)
        return fail(x, "the weights file has no \"model\" metadata: give the definition");
    nn_train_cfg cfg;
    spec_json_err se;
    if (spec_json_parse_text(text, strlen(text), spec, &cfg, &se))
        return fail(x, "the model definition at '%s': %s", se.path, se.msg);
    json_t *doc = json_loads(text, 0, NULL);
    *canon = doc ? json_dumps(doc, SPEC_JSON_DUMP_FLAGS) : NULL;
    json_decref(doc);
    if (!*canon)
        return ONNX_EXPORT_ENOMEM;
    return new_model(x, spec, st_len);
}

static int load_weights(ex *x, const void *st, size_t st_len)
{
    nn_err e;
    int rc = nn_model_load_weights_mem(x->m, st, st_len, &e);
    if (rc == NN_ENOMEM)
        return ONNX_EXPORT_ENOMEM;
    return rc ? fail(x, "the weights do not fit the model: %s", e.msg) : ONNX_EXPORT_OK;
}

static int load_prep(ex *x, const nn_st_file *f, nn_prep *p, int *have)
{
    const char *text = nn_st_meta(f, "preprocess");
    *have = 0;
    if (!text || !strcmp(text, "null"))
        return ONNX_EXPORT_OK;
    char err[256];
    if (prep_json_parse_text(text, p, err, sizeof err))
        return fail(x, "the weights' preprocess metadata: %s", err);
    *have = 1;
    return ONNX_EXPORT_OK;
}

int onnx_export(const void *st, size_t st_len, const char *model_text, void **out,
                size_t *out_len, char *err, size_t errlen)
{
    ex x = {.err = err, .errlen = errlen};
    nn_spec spec = {0};
    nn_prep prep = {0};
    nn_st_file *f = NULL;
    char *canon = NULL;
    int have_prep = 0, rc;
    nn_err e;
    *out = NULL;
    *out_len = 0;
    snprintf(err, errlen, "out of memory");
    if ((rc = nn_st_parse(st, st_len, &f, &e))) {
        rc = rc == NN_ENOMEM ? ONNX_EXPORT_ENOMEM : fail(&x, "the weights file: %s", e.msg);
        goto out;
    }
    if ((rc = load_model(&x, f, st_len, model_text, &spec, &canon)) || (rc = load_weights(&x, st, st_len)) ||
        (rc = load_prep(&x, f, &prep, &have_prep)))
        goto out;
    x.spec = &spec;
    if (!(x.g = onnx_graph_new())) {
        rc = ONNX_EXPORT_ENOMEM;
        goto out;
    }
    if ((rc = build(&x, canon, nn_st_meta(f, "classes"), have_prep ? nn_st_meta(f, "preprocess") : NULL,
                    have_prep ? &prep : NULL)))
        goto out;
    char doc[160];
    snprintf(doc, sizeof doc, "traind %s: %s model", TRAIND_VERSION, nn_loss_name(spec.loss));
    if (onnx_graph_pack(x.g, ONNX_EXPORT_IR, ONNX_EXPORT_OPSET, "traind", TRAIND_VERSION, doc, out,
                        out_len))
        rc = ONNX_EXPORT_ENOMEM;
out:
    if (rc == ONNX_EXPORT_ENOMEM)
        snprintf(err, errlen, "out of memory");
    onnx_graph_free(x.g);
    nn_model_free(x.m);
    nn_prep_free(&prep);
    nn_spec_free(&spec);
    nn_st_free(f);
    free(canon);
    return rc;
}
