/*
 * model.c — a model built from a spec (see model.h).
 *
 * Invariants: layers[i].in equals layers[i-1].out; every layer's parameter
 * slice starts on a 64-byte boundary of the arena (padding stays zero);
 * acts[i] holds layer i's output for the last forward pass, for `reserved`
 * samples at most; a fused layer's (layer.h) is the same buffer as the
 * layer's before, which computes both; gin[i] holds the gradient of layer
 * i's input (none for the first layer and fused ones), gout the model's
 * output's.  The weight-gradient blocks tile every layer's parameters, in
 * layer order, and part p of the team owns blocks [part_block[p],
 * part_block[p + 1]).  The output activation fused into the loss (softmax
 * for cross_entropy, sigmoid for binary_cross_entropy) is not applied by the
 * layers: forward returns logits and nn_model_predict applies final_act.
 *
 * A pass (model.h): nn_model_begin_pass on the driver cuts the batch into
 * its shards (shard s: rows nn_split(B, s, S, 1)), gives part p the shards
 * nn_split(S, p, nparts, 1), and numbers the dropout layers' values; then
 * every part runs forward_part, backward_part and grads_part in one task.
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
#include <time.h>

#define ARENA_ALIGN 16          /* reals: 64 bytes of float */
#define PREDICT_CHUNK 256

/* One block of the weight gradients: layer `layer`'s block b, whose ranges
 * are ranges[r0 .. r0 + nr). */
typedef struct grad_block {
    int layer, b;
    int r0, nr;
    double cost;                /* work per row of the batch */
} grad_block;

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
    int nparts;                 /* the team's size */
    int shards;                 /* S: shards of every batch */
    int *bound;                 /* S + 1: the current pass's shard bounds */
    int *part_shard;            /* nparts + 1: part p has shards [part_shard[p], [p + 1]) */
    nn_pass pass;               /* the current pass */
    uint64_t drop_key[2];       /* dropout stream: key, element counter */
    int reserved, reserved_shards;
    nn_real **acts;
    nn_real **gin;              /* per layer: the gradient of its input */
    nn_real *gout;              /* the gradient of the model's output */
    int prepare;                /* some layer prepares before each pass */
    nn_act_kind final_act;
    const nn_real *input;       /* x of the current pass (channel-last) */
    const nn_real *last_x;      /* x of the current pass as given (not owned) */
    int n_blocks, n_ranges;
    grad_block *blocks;
    nn_range *ranges;           /* absolute offsets in the arena */
    int *part_block;            /* nparts + 1 */
    int n_tensors;
    nn_param_tensor *tensors;
    double *prof;               /* nparts x prof_stride seconds, when profiling */
    int prof_stride;
    int prof_paused;
};

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
        if (!nn_layer_ops_for(l->kind))
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

/* ---------------------------------------------------------------------------
 * Building */

/* Layer i from the spec: its shape from the one before, its tensors, and
 * where its slices start in the arenas (*off, *boff advance past them). */
static int layout_layer(nn_model *m, int i, nn_shape *shape, size_t *off, size_t *boff,
                        nn_err *e)
{
    const nn_spec *spec = &m->spec;
    nn_layer *l = &m->layers[i];
    int last = i == m->n_layers - 1;
    l->ops = nn_layer_ops_for(spec->layers[i].kind);
    l->spec = spec->layers[i];
    l->index = i;
    l->in = *shape;
    l->in_size = nn_shape_numel(shape);
    l->nparts = m->nparts;
    if (last && m->final_act != NN_ACT_LINEAR)
        l->spec.act = NN_ACT_LINEAR;   /* fused into the loss */
    int rc = l->ops->setup(l, e);
    if (rc) {
        l->ops = NULL;
        return rc;
    }
    l->out_size = nn_shape_numel(&l->out);
    l->act_size = l->out_size;
    if (l->out_size > ((int64_t)1 << 28))
        return nn_errf_at(e, NN_EINVAL, i, "type", "layer output has more than 2^28 values");
    *shape = l->out;
    if (last && m->final_act != NN_ACT_LINEAR && shape->rank == 3)
        return nn_errf_at(e, NN_EINVAL, i, "type",
                          "loss %s needs a flat output; end with flatten and dense",
                          nn_loss_name(spec->loss));
    l->param_off = *off;
    l->buffer_off = *boff;
    *off = round_up(*off + l->n_param);
    *boff = round_up(*boff + l->n_buffer);
    m->n_tensors += l->n_tensors;
    m->prepare |= l->ops->prepare != NULL;
    return NN_OK;
}

/* The arenas, every layer's slices of them and its tensors' names. */
static int place_arenas(nn_model *m)
{
    size_t bytes = (m->n_param ? m->n_param : ARENA_ALIGN) * sizeof(nn_real);
    m->param = aligned_alloc(64, bytes);
    m->grad = aligned_alloc(64, bytes);
    m->buffer = calloc(m->n_buffer ? m->n_buffer : 1, sizeof *m->buffer);
    m->tensors = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *m->tensors);
    if (!m->param || !m->grad || !m->buffer || !m->tensors)
        return NN_ENOMEM;
    memset(m->param, 0, bytes);
    memset(m->grad, 0, bytes);
    int t = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        l->param = m->param + l->param_off;
        l->grad = m->grad + l->param_off;
        l->buffer = m->buffer + l->buffer_off;
        for (int k = 0; k < l->n_tensors; k++, t++) {
            nn_param_tensor *pt = &m->tensors[t];
            snprintf(pt->name, sizeof pt->name, "layers.%d.%s", i, l->tensors[k].name);
            pt->rank = l->tensors[k].rank;
            memcpy(pt->shape, l->tensors[k].shape, sizeof pt->shape);
            pt->buffer = l->tensors[k].buffer;
            pt->offset = (pt->buffer ? l->buffer_off : l->param_off) + l->tensors[k].offset;
            pt->numel = l->tensors[k].numel;
        }
    }
    return NN_OK;
}

/* Every layer's gradient blocks, in layer order, with their ranges made
 * absolute. */
static int list_blocks(nn_model *m)
{
    int nb = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].ops->n_blocks)
            nb += m->layers[i].ops->n_blocks(&m->layers[i]);
    m->blocks = calloc((size_t)(nb ? nb : 1), sizeof *m->blocks);
    m->ranges = calloc((size_t)(nb ? nb : 1) * NN_BLOCK_MAX_RANGES, sizeof *m->ranges);
    if (!m->blocks || !m->ranges)
        return NN_ENOMEM;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        int n = l->ops->n_blocks ? l->ops->n_blocks(l) : 0;
        for (int b = 0; b < n; b++) {
            grad_block *g = &m->blocks[m->n_blocks++];
            nn_range *r = m->ranges + m->n_ranges;
            *g = (grad_block){i, b, m->n_ranges, 0, 0};
            g->cost = l->ops->block(l, b, r, &g->nr);
            for (int k = 0; k < g->nr; k++) {
                r[k].lo += l->param_off;
                r[k].hi += l->param_off;
            }
            m->n_ranges += g->nr;
        }
    }
    return NN_OK;
}

/* Part p takes the blocks whose cost falls, at its middle, in the p-th of
 * nparts equal shares of the whole: contiguous blocks, balanced by cost. */
static int share_blocks(nn_model *m)
{
    m->part_block = calloc((size_t)m->nparts + 1, sizeof *m->part_block);
    if (!m->part_block)
        return NN_ENOMEM;
    double total = 0, run = 0;
    for (int k = 0; k < m->n_blocks; k++)
        total += m->blocks[k].cost;
    int p = 0;
    for (int k = 0; k < m->n_blocks; k++) {
        double mid = run + m->blocks[k].cost / 2;
        while (p < m->nparts - 1 && mid >= total * (p + 1) / m->nparts)
            m->part_block[++p] = k;
        run += m->blocks[k].cost;
    }
    while (p < m->nparts)
        m->part_block[++p] = m->n_blocks;
    return NN_OK;
}

static int model_alloc(nn_model *m, const nn_spec *spec, const nn_model_opts *opts)
{
    int shape_only = opts && opts->shape_only;
    if (nn_spec_copy(&m->spec, spec))
        return NN_ENOMEM;
    m->n_layers = spec->n_layers;
    m->final_act = nn_loss_fused_act(spec->loss);
    m->in_size = nn_shape_numel(&spec->input);
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    m->acts = calloc((size_t)m->n_layers, sizeof *m->acts);
    m->gin = calloc((size_t)m->n_layers, sizeof *m->gin);
    if (!shape_only)
        m->pool = nn_pool_new(opts && opts->threads > 0 ? opts->threads : 1);
    m->nparts = nn_pool_size(m->pool);
    m->shards = opts && opts->shards > 0 ? opts->shards : NN_SHARDS_DEFAULT;
    m->part_shard = calloc((size_t)m->nparts + 1, sizeof *m->part_shard);
    if (!m->layers || !m->acts || !m->gin || !m->part_shard || (!shape_only && !m->pool))
        return NN_ENOMEM;
    return NN_OK;
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
    if (!m || (rc = model_alloc(m, spec, opts)))
        goto out;
    nn_shape shape = spec->input;
    size_t off = 0, boff = 0;
    for (int i = 0; i < m->n_layers; i++)
        if ((rc = layout_layer(m, i, &shape, &off, &boff, e)))
            goto out;
    m->n_param = off;
    m->n_buffer = boff;
    if (opts && opts->shape_only)
        goto out;   /* the summary needs only the layers' shapes and tensor sizes */
    if ((rc = place_arenas(m)) || (rc = list_blocks(m)) || (rc = share_blocks(m)))
        goto out;
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].ops->init(&m->layers[i], opts ? opts->seed : 0);
    if (!(opts && opts->no_fusion))
        for (int i = 0; i + 1 < m->n_layers; i++)
            i += nn_conv2d_fuse_maxpool(&m->layers[i], &m->layers[i + 1]);
    nn_model_seed_dropout(m, opts ? opts->seed : 0);
    nn_model_set_shards(m, m->shards);
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
    free(m->gout);
    free(m->layers);
    free(m->param);
    free(m->grad);
    free(m->buffer);
    free(m->input_nhwc);
    free(m->tensors);
    free(m->blocks);
    free(m->ranges);
    free(m->part_block);
    free(m->part_shard);
    free(m->bound);
    free(m->prof);
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
int nn_model_shards(const nn_model *m) { return m->shards; }

void nn_model_set_shards(nn_model *m, int shards)
{
    if (shards < 1)
        shards = NN_SHARDS_DEFAULT;
    if (shards > NN_SHARDS_MAX)
        shards = NN_SHARDS_MAX;
    m->shards = shards;
    /* which shards each part takes: whole shards, contiguous */
    for (int p = 0; p < m->nparts; p++) {
        int lo, hi;
        nn_split(shards, p, m->nparts, 1, &lo, &hi);
        m->part_shard[p] = lo;
        m->part_shard[p + 1] = hi;
    }
}

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

/* ---------------------------------------------------------------------------
 * Profile */

double nn_model_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int nn_model_profile_slots(const nn_model *m)
{
    return NN_PROF_LAYERS + 3 * m->n_layers;
}

int nn_model_profile_on(nn_model *m, int on)
{
    free(m->prof);
    m->prof = NULL;
    if (!on)
        return NN_OK;
    /* whole cache lines per part: every part writes its own at every layer */
    m->prof_stride = (nn_model_profile_slots(m) + 7) / 8 * 8;
    m->prof = calloc((size_t)m->nparts * (size_t)m->prof_stride, sizeof *m->prof);
    return m->prof ? NN_OK : NN_ENOMEM;
}

double *nn_model_profile(nn_model *m, int part)
{
    return m->prof && !m->prof_paused ? m->prof + (size_t)part * m->prof_stride : NULL;
}

void nn_model_profile_pause(nn_model *m, int pause)
{
    m->prof_paused = pause;
}

/* Adds the time since *t0 to slot k of the part, and restarts *t0. */
static void lap(nn_model *m, int part, int k, double *t0)
{
    double *p = nn_model_profile(m, part);
    if (!p)
        return;
    double t = nn_model_now();
    p[k] += t - *t0;
    *t0 = t;
}

/* ---------------------------------------------------------------------------
 * Passes */

/* Image inputs with more than one channel arrive channel-first and are
 * stored channel-last between layers (layer.h). */
static int channels_first_input(const nn_model *m)
{
    return m->spec.input.rank == 3 && m->spec.input.dim[0] > 1;
}

static int grow(nn_real **p, size_t n)
{
    nn_real *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (!q)
        return NN_ENOMEM;
    *p = q;
    return NN_OK;
}

/* Makes the buffers hold B samples of the current shard count. */
static int reserve(nn_model *m, int B)
{
    if (B <= m->reserved && m->shards <= m->reserved_shards)
        return NN_OK;
    if (B < m->reserved)
        B = m->reserved;
    int *bound = realloc(m->bound, ((size_t)m->shards + 1) * sizeof *bound);
    if (!bound)
        return NN_ENOMEM;
    m->bound = bound;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (l->fused) {
            m->acts[i] = m->acts[i - 1];
            continue;
        }
        l->shards = m->shards;
        /* a buffer of its own for each gradient rather than two taken in
         * turn: the weight gradients read every layer's after the backward
         * pass */
        if (grow(&m->acts[i], (size_t)B * (size_t)l->act_size) || l->ops->reserve(l, B) ||
            (i > 0 && grow(&m->gin[i], (size_t)B * (size_t)l->in_size)))
            return NN_ENOMEM;
    }
    if (grow(&m->gout, (size_t)B * (size_t)nn_model_out_size(m)) ||
        (channels_first_input(m) && grow(&m->input_nhwc, (size_t)B * (size_t)m->in_size)))
        return NN_ENOMEM;
    m->reserved = B;
    m->reserved_shards = m->shards;
    return NN_OK;
}

int nn_model_begin_pass(nn_model *m, const nn_real *x, int B, int train, nn_err *e)
{
    if (B < 1 || reserve(m, B))
        return nn_errf(e, NN_ENOMEM, "cannot allocate activations for a batch of %d", B);
    for (int s = 0; s < m->shards; s++) {
        int lo, hi;
        nn_split(B, s, m->shards, 1, &lo, &hi);
        m->bound[s] = lo;
        m->bound[s + 1] = hi;
    }
    m->pass = (nn_pass){B, m->shards, m->bound, train, m->pool};
    m->input = channels_first_input(m) ? m->input_nhwc : x;
    m->last_x = x;
    /* the dropout stream: each layer's values numbered from the counter, in
     * layer order, once per training pass */
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        l->drop_key = m->drop_key[0];
        l->drop_base = m->drop_key[1];
        if (train && l->spec.kind == NN_LAYER_DROPOUT && l->spec.rate > 0)
            m->drop_key[1] += (uint64_t)B * (uint64_t)l->in_size;
    }
    return NN_OK;
}

int nn_model_parts(const nn_model *m) { return m->nparts; }
const int *nn_model_shard_bounds(const nn_model *m) { return m->bound; }
nn_real *nn_model_out_grad(nn_model *m) { return m->gout; }

static nn_rows rows_of(const nn_model *m, int part)
{
    int s0 = m->part_shard[part], s1 = m->part_shard[part + 1];
    return (nn_rows){&m->pass, part, s0, s1, m->bound[s0], m->bound[s1]};
}

void nn_model_part_rows(const nn_model *m, int part, int *lo, int *hi)
{
    nn_rows r = rows_of(m, part);
    *lo = r.lo;
    *hi = r.hi;
}

void nn_model_part_shards(const nn_model *m, int part, int *s0, int *s1)
{
    *s0 = m->part_shard[part];
    *s1 = m->part_shard[part + 1];
}

/* [B, C, H, W] -> [B, H, W, C] for rows [lo, hi), for C > 1 (with one channel both are the same). */
static void to_channel_last(const nn_real *x, nn_real *y, int lo, int hi, int C, int HW)
{
    for (int b = lo; b < hi; b++) {
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

const nn_real *nn_model_forward_part(nn_model *m, int part)
{
    nn_rows r = rows_of(m, part);
    double t0 = nn_model_profile(m, part) ? nn_model_now() : 0;
    if (m->prepare) {
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i].ops->prepare)
                m->layers[i].ops->prepare(&m->layers[i], part, m->nparts);
        nn_pool_barrier(m->pool);
    }
    if (channels_first_input(m)) {
        const nn_shape *sh = &m->spec.input;
        to_channel_last(m->last_x, m->input_nhwc, r.lo, r.hi, sh->dim[0], sh->dim[1] * sh->dim[2]);
    }
    lap(m, part, NN_PROF_PREPARE, &t0);
    const nn_real *in = m->input;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *l = &m->layers[i];
        if (!l->fused)
            l->ops->forward(l, &r, in, m->acts[i]);
        in = m->acts[i];
        lap(m, part, NN_PROF_LAYERS + i, &t0);
    }
    return in;
}

/* The gradient of layer i's output: the next unfused layer's input's, or
 * the model's output's. */
static nn_real *out_grad(const nn_model *m, int i)
{
    int j = i + 1;
    while (j < m->n_layers && m->layers[j].fused)
        j++;
    return j < m->n_layers ? m->gin[j] : m->gout;
}

void nn_model_backward_part(nn_model *m, int part)
{
    nn_rows r = rows_of(m, part);
    double t0 = nn_model_profile(m, part) ? nn_model_now() : 0;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        nn_layer *l = &m->layers[i];
        if (l->fused)
            continue;   /* its output gradient is the fused pair's */
        const nn_real *x = i > 0 ? m->acts[i - 1] : m->input;
        l->ops->backward(l, &r, x, m->acts[i], out_grad(m, i), i > 0 ? m->gin[i] : NULL);
        lap(m, part, NN_PROF_LAYERS + m->n_layers + i, &t0);
    }
}

/* The part's blocks, a layer's consecutive ones in one call. */
void nn_model_grads_part(nn_model *m, int part, nn_range_fn done, void *user)
{
    double t0 = nn_model_profile(m, part) ? nn_model_now() : 0;
    for (int k = m->part_block[part], k1; k < m->part_block[part + 1]; k = k1) {
        const grad_block *g = &m->blocks[k];
        for (k1 = k + 1; k1 < m->part_block[part + 1] && m->blocks[k1].layer == g->layer; k1++)
            ;
        nn_layer *l = &m->layers[g->layer];
        const nn_real *x = g->layer > 0 ? m->acts[g->layer - 1] : m->input;
        l->ops->grad(l, &m->pass, g->b, m->blocks[k1 - 1].b + 1, x, m->acts[g->layer],
                     out_grad(m, g->layer));
        lap(m, part, NN_PROF_LAYERS + 2 * m->n_layers + g->layer, &t0);
        for (int r = g->r0; done && r < m->blocks[k1 - 1].r0 + m->blocks[k1 - 1].nr; r++)
            done(user, r);
        lap(m, part, NN_PROF_UPDATE, &t0);
    }
}

int nn_model_n_ranges(const nn_model *m) { return m->n_ranges; }

void nn_model_range(const nn_model *m, int r, size_t *lo, size_t *hi)
{
    *lo = m->ranges[r].lo;
    *hi = m->ranges[r].hi;
}

void nn_model_part_ranges(const nn_model *m, int part, int *r0, int *r1)
{
    int b0 = m->part_block[part], b1 = m->part_block[part + 1];
    *r0 = b0 < m->n_blocks ? m->blocks[b0].r0 : m->n_ranges;
    *r1 = b1 < m->n_blocks ? m->blocks[b1].r0 : m->n_ranges;
}

static void forward_task(void *ctx, int part, int nth)
{
    (void)nth;
    nn_model_forward_part(ctx, part);
}

const nn_real *nn_model_forward(nn_model *m, const nn_real *x, int B, int train, nn_err *e)
{
    if (nn_model_begin_pass(m, x, B, train, e))
        return NULL;
    nn_pool_run(m->pool, forward_task, m);
    return m->acts[m->n_layers - 1];
}

static void backward_task(void *ctx, int part, int nth)
{
    (void)nth;
    nn_model *m = ctx;
    nn_model_backward_part(m, part);
    nn_pool_barrier(m->pool);
    nn_model_grads_part(m, part, NULL, NULL);
}

void nn_model_backward(nn_model *m, const nn_real *dout)
{
    if (dout != m->gout)
        memcpy(m->gout, dout, (size_t)m->pass.B * (size_t)nn_model_out_size(m) * sizeof *dout);
    nn_pool_run(m->pool, backward_task, m);
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
