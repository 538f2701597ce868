/*
 * model.c — a model built from a spec (see model.h).
 *
 * Invariants: layers[i].in equals layers[i-1].out; every layer's parameter
 * slice starts on a 64-byte boundary of the arena (padding stays zero);
 * acts[i] holds layer i's output for the last forward pass, for `reserved`
 * samples at most; a fused layer's (layer.h) is the same buffer as the
 * layer's before, which computes both.  The output activation fused into
 * the loss (softmax for cross_entropy, sigmoid for binary_cross_entropy) is
 * not applied by the layers: forward returns logits and nn_model_predict
 * applies final_act.
 */
#include "model.h"

#include "act.h"
#include "gemm.h"
#include "layer.h"
#include "loss.h"
#include "rng.h"
#include "safetensors.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16          /* reals: 64 bytes of float */
#define PREDICT_CHUNK 256

struct nn_model {
    nn_spec spec;
    int n_layers;
    nn_layer *layers;
    int64_t in_size;
    size_t n_param, n_buffer;
    nn_real *param, *grad;
    nn_real *buffer;            /* non-trainable state (batchnorm running statistics) */
    nn_real *input_nhwc;        /* the batch converted to channel-last, for image inputs */
    nn_pool *pool;
    uint64_t drop_key[2];       /* dropout stream: key, element counter */
    int reserved;
    nn_real **acts;
    nn_real **gin;       /* per layer: the gradient of its input (none for the
                            first layer and fused ones) */
    nn_act_kind final_act;
    const nn_real *last_input;  /* x of the last forward pass (not owned) */
    int last_batch;
    int n_tensors;
    nn_param_tensor *tensors;
};

static const nn_layer_ops *ops_for(nn_layer_kind k)
{
    switch (k) {
    case NN_LAYER_DENSE: return &nn_dense_ops;
    case NN_LAYER_DROPOUT: return &nn_dropout_ops;
    case NN_LAYER_ACT: return &nn_act_ops;
    case NN_LAYER_CONV2D: return &nn_conv2d_ops;
    case NN_LAYER_MAXPOOL2D: return &nn_maxpool2d_ops;
    case NN_LAYER_AVGPOOL2D: return &nn_avgpool2d_ops;
    case NN_LAYER_GLOBAL_AVGPOOL: return &nn_global_avgpool_ops;
    case NN_LAYER_BATCHNORM: return &nn_batchnorm_ops;
    case NN_LAYER_FLATTEN: return &nn_flatten_ops;
    case NN_LAYER_RNN:
    case NN_LAYER_LSTM:
    case NN_LAYER_GRU: return &nn_rnn_ops;
    default: return NULL;
    }
}

static int check_spec(const nn_spec *s, nn_err *e)
{
    if (s->input.rank < 1 || s->input.rank > 3)
        return nn_errf_at(e, NN_EINVAL, -1, "input", "input must have 1 to 3 dimensions, got %d",
                          s->input.rank);
    int64_t n = 1;
    for (int i = 0; i < s->input.rank; i++) {
        if (s->input.dim[i] < 1)
            return nn_errf_at(e, NN_EINVAL, -1, "input", "input dimensions must be positive");
        n *= s->input.dim[i];
        if (n > ((int64_t)1 << 28))
            return nn_errf_at(e, NN_EINVAL, -1, "input", "input has more than 2^28 values");
    }
    if (s->n_layers < 1 || !s->layers)
        return nn_errf_at(e, NN_EINVAL, -1, "layers", "a model needs at least one layer");
    if ((unsigned)s->loss >= NN_LOSS_COUNT)
        return nn_errf_at(e, NN_EINVAL, -1, "loss", "unknown loss");
    for (int i = 0; i < s->n_layers; i++) {
        const nn_layer_spec *l = &s->layers[i];
        if (!ops_for(l->kind))
            return nn_errf_at(e, NN_EINVAL, i, "type", "unknown layer type");
        if ((unsigned)l->act >= NN_ACT_COUNT)
            return nn_errf_at(e, NN_EINVAL, i, l->kind == NN_LAYER_ACT ? "type" : "activation",
                              "unknown activation");
        if ((unsigned)l->init >= NN_INIT_COUNT)
            return nn_errf_at(e, NN_EINVAL, i, "init", "unknown initializer");
        int has_act = l->kind == NN_LAYER_DENSE || l->kind == NN_LAYER_CONV2D;
        if (has_act && l->act == NN_ACT_LEAKY_RELU &&
            !(nn_act_alpha(l->act, l->alpha) >= 0))
            return nn_errf_at(e, NN_EINVAL, i, "activation", "leaky_relu alpha must be >= 0");
        if (has_act && l->act == NN_ACT_ELU &&
            !(nn_act_alpha(l->act, l->alpha) > 0))
            return nn_errf_at(e, NN_EINVAL, i, "activation", "elu alpha must be > 0");
    }
    /* the loss fuses the output activation: the last layer must end in it or
     * in nothing (logits) */
    if (nn_loss_fused_act(s->loss) != NN_ACT_LINEAR) {
        int last = s->n_layers - 1;
        const nn_layer_spec *l = &s->layers[last];
        nn_act_kind want = nn_loss_fused_act(s->loss);
        const char *field = l->kind == NN_LAYER_ACT ? "type" : "activation";
        if (l->kind != NN_LAYER_DENSE && l->kind != NN_LAYER_ACT && l->kind != NN_LAYER_CONV2D)
            return nn_errf_at(e, NN_EINVAL, last, "type",
                              "with loss %s the last layer must be dense or an activation",
                              nn_loss_name(s->loss));
        if (l->act != want && l->act != NN_ACT_LINEAR)
            return nn_errf_at(e, NN_EINVAL, last, field,
                              "with loss %s the last activation must be %s or linear, got %s",
                              nn_loss_name(s->loss), nn_act_name(want), nn_act_name(l->act));
    }
    return NN_OK;
}

static size_t round_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

int nn_model_new(const nn_spec *spec, const nn_model_opts *opts, nn_model **out, nn_err *e)
{
    nn_model *m = NULL;
    int rc = check_spec(spec, e);
    *out = NULL;
    if (rc)
        return rc;
    nn_gemm_setup();
    rc = NN_ENOMEM;
    m = calloc(1, sizeof *m);
    if (!m || nn_spec_copy(&m->spec, spec))
        goto out;
    m->n_layers = spec->n_layers;
    m->final_act = nn_loss_fused_act(spec->loss);
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    m->acts = calloc((size_t)m->n_layers, sizeof *m->acts);
    m->gin = calloc((size_t)m->n_layers, sizeof *m->gin);
    int shape_only = opts && opts->shape_only;
    if (!shape_only)
        m->pool = nn_pool_new(opts && opts->threads > 0 ? opts->threads : 1);
    if (!m->layers || !m->acts || !m->gin || (!shape_only && !m->pool))
        goto out;
    m->in_size = nn_shape_numel(&spec->input);

    /* shapes, parameter counts and arena offsets */
    nn_shape shape = spec->input;
    size_t off = 0, boff = 0;
    int n_tensors = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        l->ops = ops_for(spec->layers[i].kind);
        l->spec = spec->layers[i];
        l->index = i;
        l->in = shape;
        l->in_size = nn_shape_numel(&shape);
        l->pool = m->pool;
        l->drop_key = m->drop_key;
        if (i == m->n_layers - 1 && m->final_act != NN_ACT_LINEAR)
            l->spec.act = NN_ACT_LINEAR;   /* fused into the loss */
        rc = l->ops->setup(l, e);
        if (rc) {
            l->ops = NULL;
            goto out;
        }
        l->out_size = nn_shape_numel(&l->out);
        l->act_size = l->out_size;
        if (l->out_size > ((int64_t)1 << 28)) {
            rc = nn_errf_at(e, NN_EINVAL, i, "type", "layer output has more than 2^28 values");
            goto out;
        }
        shape = l->out;
        if (i == m->n_layers - 1 && m->final_act != NN_ACT_LINEAR && shape.rank == 3) {
            rc = nn_errf_at(e, NN_EINVAL, i, "type",
                            "loss %s needs a flat output; end with flatten and dense",
                            nn_loss_name(spec->loss));
            goto out;
        }
        /* param and buffer hold the offsets until the arenas exist */
        l->param = (nn_real *)(uintptr_t)off;
        l->buffer = (nn_real *)(uintptr_t)boff;
        off = round_up(off + l->n_param);
        boff = round_up(boff + l->n_buffer);
        n_tensors += l->n_tensors;
    }
    m->n_param = off;
    m->n_buffer = boff;
    rc = NN_ENOMEM;
    if (shape_only) {
        /* the summary needs only the layers' shapes and tensor sizes */
        for (int i = 0; i < m->n_layers; i++)
            m->layers[i].param = m->layers[i].grad = m->layers[i].buffer = NULL;
        rc = NN_OK;
        goto out;
    }
    size_t bytes = (m->n_param ? m->n_param : ARENA_ALIGN) * sizeof(nn_real);
    m->param = aligned_alloc(64, bytes);
    m->grad = aligned_alloc(64, bytes);
    m->buffer = calloc(m->n_buffer ? m->n_buffer : 1, sizeof *m->buffer);
    m->tensors = calloc((size_t)(n_tensors ? n_tensors : 1), sizeof *m->tensors);
    if (!m->param || !m->grad || !m->buffer || !m->tensors)
        goto out;
    memset(m->param, 0, bytes);
    memset(m->grad, 0, bytes);
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        size_t o = (size_t)(uintptr_t)l->param, bo = (size_t)(uintptr_t)l->buffer;
        l->param = m->param + o;
        l->grad = m->grad + o;
        l->buffer = m->buffer + bo;
        for (int k = 0; k < l->n_tensors; k++) {
            nn_param_tensor *t = &m->tensors[m->n_tensors++];
            snprintf(t->name, sizeof t->name, "layers.%d.%s", i, l->tensors[k].name);
            t->rank = l->tensors[k].rank;
            memcpy(t->shape, l->tensors[k].shape, sizeof t->shape);
            t->buffer = l->tensors[k].buffer;
            t->offset = (t->buffer ? bo : o) + l->tensors[k].offset;
            t->numel = l->tensors[k].numel;
        }
        l->ops->init(l, opts ? opts->seed : 0);
    }
    if (!(opts && opts->no_fusion))
        for (int i = 0; i + 1 < m->n_layers; i++)
            i += nn_conv2d_fuse_maxpool(&m->layers[i], &m->layers[i + 1]);
    nn_model_seed_dropout(m, opts ? opts->seed : 0);
    rc = NN_OK;
out:
    if (rc) {
        nn_model_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    for (int i = 0; m->layers && i < m->n_layers; i++)
        if (m->layers[i].ops)
            m->layers[i].ops->destroy(&m->layers[i]);
    for (int i = 0; m->acts && i < m->n_layers; i++)
        if (!m->layers[i].fused)   /* a fused layer's is the one before */
            free(m->acts[i]);
    free(m->acts);
    for (int i = 0; m->gin && i < m->n_layers; i++)
        free(m->gin[i]);
    free(m->gin);
    free(m->layers);
    free(m->param);
    free(m->grad);
    free(m->buffer);
    free(m->input_nhwc);
    free(m->tensors);
    nn_pool_free(m->pool);
    nn_spec_free(&m->spec);
    free(m);
}

const nn_spec *nn_model_spec(const nn_model *m) { return &m->spec; }
int64_t nn_model_in_size(const nn_model *m) { return m->in_size; }
nn_shape nn_model_out_shape(const nn_model *m) { return m->layers[m->n_layers - 1].out; }
int64_t nn_model_out_size(const nn_model *m) { return m->layers[m->n_layers - 1].out_size; }
int nn_model_threads(const nn_model *m) { return nn_pool_size(m->pool); }
size_t nn_model_n_params(const nn_model *m) { return m->n_param; }
size_t nn_model_n_buffers(const nn_model *m) { return m->n_buffer; }
nn_real *nn_model_buffers(nn_model *m) { return m->buffer; }
nn_real *nn_model_params(nn_model *m) { return m->param; }
nn_real *nn_model_grads(nn_model *m) { return m->grad; }
int nn_model_n_tensors(const nn_model *m) { return m->n_tensors; }
const nn_param_tensor *nn_model_tensor(const nn_model *m, int i) { return &m->tensors[i]; }
struct nn_pool *nn_model_pool(nn_model *m) { return m->pool; }

double nn_model_train_flops(const nn_model *m)
{
    double total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *l = &m->layers[i];
        double f = 0, b = 0;
        if (l->ops->flops)
            l->ops->flops(l, i > 0, &f, &b);
        total += f + b;
    }
    return total;
}

void nn_model_layer_info(const nn_model *m, int i, nn_layer_info *info)
{
    const nn_layer *l = &m->layers[i];
    const nn_layer_spec *s = &m->spec.layers[i];
    info->type = s->kind == NN_LAYER_ACT ? nn_act_name(s->act) : nn_layer_kind_name(s->kind);
    info->out = l->out;
    int64_t n = 0;
    for (int k = 0; k < l->n_tensors; k++)
        if (!l->tensors[k].buffer)
            n += (int64_t)l->tensors[k].numel;
    info->n_params = n;
    info->fused = l->fused;
}

/* Image inputs with more than one channel arrive channel-first and are
 * stored channel-last between layers (layer.h). */
static int channels_first_input(const nn_model *m)
{
    return m->spec.input.rank == 3 && m->spec.input.dim[0] > 1;
}

/* Makes the buffers hold B samples. */
static int reserve(nn_model *m, int B)
{
    if (B <= m->reserved)
        return NN_OK;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (l->fused) {
            m->acts[i] = m->acts[i - 1];
            continue;
        }
        nn_real *a = realloc(m->acts[i], (size_t)B * (size_t)l->act_size * sizeof *a);
        if (!a)
            return NN_ENOMEM;
        m->acts[i] = a;
        if (l->ops->reserve(l, B))
            return NN_ENOMEM;
        /* a buffer of its own for each gradient rather than two taken in
         * turn: layers split their work between threads differently (by
         * samples, by features), and a buffer shared by two such layers
         * has its cache lines change threads twice a step */
        if (i > 0) {
            nn_real *g = realloc(m->gin[i], (size_t)B * (size_t)l->in_size * sizeof *g);
            if (!g)
                return NN_ENOMEM;
            m->gin[i] = g;
        }
    }
    if (channels_first_input(m)) {
        nn_real *c = realloc(m->input_nhwc, (size_t)B * (size_t)m->in_size * sizeof *c);
        if (!c)
            return NN_ENOMEM;
        m->input_nhwc = c;
    }
    m->reserved = B;
    return NN_OK;
}

/* [B, C, H, W] <-> [B, H, W, C], for C > 1 (with one channel both are the same). */
static void to_channel_last(const nn_real *x, nn_real *y, int B, int C, int HW)
{
    for (int b = 0; b < B; b++) {
        const nn_real *xb = x + (size_t)b * C * HW;
        nn_real *yb = y + (size_t)b * C * HW;
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++)
                yb[(size_t)p * C + c] = xb[(size_t)c * HW + p];
    }
}

static void to_channel_first(const nn_real *x, nn_real *y, int64_t B, int C, int HW)
{
    for (int64_t b = 0; b < B; b++) {
        const nn_real *xb = x + (size_t)b * C * HW;
        nn_real *yb = y + (size_t)b * C * HW;
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++)
                yb[(size_t)c * HW + p] = xb[(size_t)p * C + c];
    }
}

const nn_real *nn_model_forward(nn_model *m, const nn_real *x, int B, int train, nn_err *e)
{
    if (B < 1 || reserve(m, B)) {
        nn_errf(e, NN_ENOMEM, "cannot allocate activations for a batch of %d", B);
        return NULL;
    }
    if (channels_first_input(m)) {
        const nn_shape *sh = &m->spec.input;
        to_channel_last(x, m->input_nhwc, B, sh->dim[0], sh->dim[1] * sh->dim[2]);
        x = m->input_nhwc;
    }
    m->last_input = x;
    m->last_batch = B;
    const nn_real *in = x;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (!l->fused)
            l->ops->forward(l, in, m->acts[i], B, train);
        in = m->acts[i];
    }
    return in;
}

void nn_model_backward(nn_model *m, nn_real *dout, int accumulate)
{
    const int B = m->last_batch;
    nn_real *dy = dout;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        nn_layer *l = &m->layers[i];
        if (l->fused)
            continue;   /* dy is already the fused pair's output gradient */
        const nn_real *x = i > 0 ? m->acts[i - 1] : m->last_input;
        nn_real *dx = i > 0 ? m->gin[i] : NULL;
        l->ops->backward(l, x, m->acts[i], dy, dx, B, accumulate);
        dy = dx;
    }
}

typedef struct final_task {
    nn_model *m;
    nn_real *out;
    int rows, cols;
} final_task;

static void final_act_task(void *ctx, int tid, int nth)
{
    final_task *t = ctx;
    int lo, hi;
    nn_split(t->rows, tid, nth, 1, &lo, &hi);
    if (hi > lo) {
        nn_real *o = t->out + (size_t)lo * t->cols;
        nn_act_forward(t->m->final_act, NAN, o, o, hi - lo, t->cols, t->cols);
    }
}

int nn_model_predict(nn_model *m, const nn_real *x, int64_t n, nn_real *out, nn_err *e)
{
    const nn_shape os = nn_model_out_shape(m);
    const int64_t osz = nn_model_out_size(m);
    int chunk = m->reserved > PREDICT_CHUNK ? m->reserved : PREDICT_CHUNK;
    for (int64_t s = 0; s < n; s += chunk) {
        int B = (int)(n - s < chunk ? n - s : chunk);
        const nn_real *y = nn_model_forward(m, x + s * m->in_size, B, 0, e);
        if (!y)
            return NN_ENOMEM;
        memcpy(out + s * osz, y, (size_t)B * (size_t)osz * sizeof *out);
    }
    if (os.rank == 3 && os.dim[0] > 1 && n > 0) {
        /* an image output goes back to [C, H, W] */
        nn_real *tmp = malloc((size_t)osz * sizeof *tmp);
        if (!tmp)
            return nn_errf(e, NN_ENOMEM, "out of memory");
        for (int64_t s = 0; s < n; s++) {
            to_channel_first(out + s * osz, tmp, 1, os.dim[0], os.dim[1] * os.dim[2]);
            memcpy(out + s * osz, tmp, (size_t)osz * sizeof *tmp);
        }
        free(tmp);
    }
    if (m->final_act != NN_ACT_LINEAR && n > 0) {
        /* softmax runs along the last dimension, so a sequence output gets one
         * distribution per time step */
        final_task t = {m, out, (int)(n * osz / os.dim[os.rank - 1]), os.dim[os.rank - 1]};
        nn_pool_run(m->pool, final_act_task, &t);
    }
    return NN_OK;
}

void nn_model_seed_dropout(nn_model *m, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 7);
    m->drop_key[0] = nn_rng_next(&r);
    m->drop_key[1] = 0;
}

void nn_model_dropout_state(const nn_model *m, uint64_t st[4])
{
    st[0] = m->drop_key[0];
    st[1] = m->drop_key[1];
    st[2] = st[3] = 0;
}

void nn_model_set_dropout_state(nn_model *m, const uint64_t st[4])
{
    m->drop_key[0] = st[0];
    m->drop_key[1] = st[1];
}

/* ---------------------------------------------------------------------------
 * Weight files */

static int tensor_list(const nn_model *m, nn_st_tensor **out)
{
    nn_st_tensor *t = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *t);
    if (!t)
        return NN_ENOMEM;
    for (int i = 0; i < m->n_tensors; i++) {
        const nn_param_tensor *p = &m->tensors[i];
        t[i].name = p->name;
        t[i].rank = p->rank;
        memcpy(t[i].shape, p->shape, sizeof t[i].shape);
        t[i].data = (p->buffer ? m->buffer : m->param) + p->offset;
    }
    *out = t;
    return NN_OK;
}

int nn_model_save_weights_mem(const nn_model *m, const char *const *meta, int n_meta,
                              void **buf, size_t *len, nn_err *e)
{
    nn_st_tensor *t;
    *buf = NULL;
    *len = 0;
    if (tensor_list(m, &t))
        return nn_errf(e, NN_ENOMEM, "out of memory");
    int rc = nn_st_write_mem(t, m->n_tensors, meta, n_meta, buf, len, e);
    free(t);
    return rc;
}

int nn_model_save_weights(const nn_model *m, const char *path, const char *const *meta,
                          int n_meta, nn_err *e)
{
    nn_st_tensor *t;
    if (tensor_list(m, &t))
        return nn_errf(e, NN_ENOMEM, "out of memory");
    int rc = nn_st_write_file(path, t, m->n_tensors, meta, n_meta, e);
    free(t);
    return rc;
}

/* Copies every tensor of f into a scratch arena first, so that a file that
 * fails half-way leaves the model's weights untouched. */
static int load_from(nn_model *m, const nn_st_file *f, nn_err *e)
{
    size_t total = m->n_param + m->n_buffer;
    nn_real *scratch = malloc((total ? total : 1) * sizeof *scratch);
    if (!scratch)
        return nn_errf(e, NN_ENOMEM, "out of memory");
    memcpy(scratch, m->param, m->n_param * sizeof *scratch);
    memcpy(scratch + m->n_param, m->buffer, m->n_buffer * sizeof *scratch);
    for (int i = 0; i < m->n_tensors; i++) {
        const nn_param_tensor *p = &m->tensors[i];
        nn_real *dst = scratch + (p->buffer ? m->n_param : 0) + p->offset;
        int rc = nn_st_copy(f, p->name, p->rank, p->shape, dst, e);
        if (rc) {
            free(scratch);
            return rc;
        }
    }
    for (int i = 0; i < nn_st_count(f); i++) {
        const char *name = nn_st_name(f, i);
        int known = 0;
        for (int k = 0; k < m->n_tensors && !known; k++)
            known = strcmp(name, m->tensors[k].name) == 0;
        if (!known) {
            free(scratch);
            return nn_errf(e, NN_EINVAL, "the file has a tensor '%s' that the model does not",
                           name);
        }
    }
    memcpy(m->param, scratch, m->n_param * sizeof *scratch);
    memcpy(m->buffer, scratch + m->n_param, m->n_buffer * sizeof *scratch);
    free(scratch);
    return NN_OK;
}

int nn_model_load_weights_mem(nn_model *m, const void *buf, size_t len, nn_err *e)
{
    nn_st_file *f;
    int rc = nn_st_parse(buf, len, &f, e);
    if (rc)
        return rc;
    rc = load_from(m, f, e);
    nn_st_free(f);
    return rc;
}

int nn_model_load_weights(nn_model *m, const char *path, nn_err *e)
{
    nn_st_file *f;
    int rc = nn_st_read_file(path, &f, e);
    if (rc)
        return rc;
    rc = load_from(m, f, e);
    nn_st_free(f);
    return rc;
}
