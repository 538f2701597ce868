/*
 * layer_batchnorm.c — batch normalization, per channel of an image
 * [C, H, W] or per feature of [F] (or of the last dimension of [T, F]).
 * Channels are the fastest-moving index in memory in every case (layer.h),
 * so the input is a matrix of R = B * (values / C) rows and C columns.
 *
 *   train:  mu = mean_r x,  var = mean_r x^2 - mu^2,  xh = (x - mu) / sqrt(var + eps)
 *           y = gamma xh + beta
 *           running_mean = (1 - m) running_mean + m mu
 *           running_var  = (1 - m) running_var  + m var R / (R - 1)      (PyTorch's rule)
 *   eval:   y = gamma (x - running_mean) / sqrt(running_var + eps) + beta
 *   backward (train):  dbeta = sum_r dy,  dgamma = sum_r dy xh
 *           dx = gamma / (R sqrt(var + eps)) (R dy - dbeta - xh dgamma)
 *
 * The whole batch's statistics, whatever the thread count: every shard's
 * sums (sum x and sum x^2 forward, sum dy and sum dy xh backward) are taken
 * in double over its rows in order, by the part that has the shard; the
 * parts meet (nn_pool_barrier), and each adds the shards' sums in shard
 * order into a copy of its own, so all parts hold the same bits.  Two
 * meetings per layer and training step; none in eval mode.
 */
#include "layer.h"

#include "nn_math.h"

#include <stdlib.h>
#include <string.h>

typedef struct bn {
    int C;
    double momentum, eps;
    double *shard;            /* per shard: 2 C sums forward, then 2 C backward (apart,
                                 so that no part's backward overwrites forward
                                 sums another part has still to add) */
    double *total;            /* per part: 2 C sums over the batch (its copy) */
    nn_real *mean, *invstd;   /* per part: C each, of the last training batch */
    int nshards, nparts;      /* what shard and the per-part arrays hold */
} bn;

static int bn_setup(nn_layer *l, nn_err *e)
{
    const nn_layer_spec *s = &l->spec;
    if (!(s->momentum > 0 && s->momentum <= 1))
        return nn_errf_at(e, NN_EINVAL, l->index, "momentum", "momentum must be in (0, 1]");
    if (!(s->eps > 0))
        return nn_errf_at(e, NN_EINVAL, l->index, "eps", "eps must be positive");
    int C = l->in.rank == 3 ? l->in.dim[0] : l->in.dim[l->in.rank - 1];
    bn *d = calloc(1, sizeof *d);
    if (!d)
        return NN_ENOMEM;
    d->C = C;
    d->momentum = s->momentum;
    d->eps = s->eps;
    l->priv = d;
    l->out = l->in;
    /* gamma, beta; running mean, running variance, batches seen */
    l->tensors[0] = (nn_layer_tensor){"weight", 1, {C}, 0, (size_t)C, 0};
    l->tensors[1] = (nn_layer_tensor){"bias", 1, {C}, (size_t)C, (size_t)C, 0};
    l->tensors[2] = (nn_layer_tensor){"running_mean", 1, {C}, 0, (size_t)C, 1};
    l->tensors[3] = (nn_layer_tensor){"running_var", 1, {C}, (size_t)C, (size_t)C, 1};
    l->tensors[4] = (nn_layer_tensor){"num_batches_tracked", 0, {0}, 2 * (size_t)C, 1, 1};
    l->n_tensors = 5;
    l->n_param = 2 * (size_t)C;
    l->n_buffer = 2 * (size_t)C + 1;
    return NN_OK;
}

static void bn_init(nn_layer *l, uint64_t seed)
{
    (void)seed;
    bn *d = l->priv;
    for (int c = 0; c < d->C; c++) {
        l->param[c] = 1;
        l->param[d->C + c] = 0;
        l->buffer[c] = 0;
        l->buffer[d->C + c] = 1;
    }
    l->buffer[2 * d->C] = 0;
}

static int bn_reserve(nn_layer *l, int B)
{
    (void)B;
    bn *d = l->priv;
    const size_t C = (size_t)d->C;
    if (d->nshards < l->shards) {
        free(d->shard);
        d->shard = malloc((size_t)l->shards * 4 * C * sizeof *d->shard);
        if (!d->shard)
            return NN_ENOMEM;
        d->nshards = l->shards;
    }
    if (d->nparts < l->nparts) {
        /* a cache line between the parts' copies */
        size_t n = (size_t)l->nparts * (2 * C + 8);
        free(d->total);
        free(d->mean);
        free(d->invstd);
        d->total = malloc(n * sizeof *d->total);
        d->mean = malloc((size_t)l->nparts * (C + 16) * sizeof *d->mean);
        d->invstd = malloc((size_t)l->nparts * (C + 16) * sizeof *d->invstd);
        if (!d->total || !d->mean || !d->invstd)
            return NN_ENOMEM;
        d->nparts = l->nparts;
    }
    return NN_OK;
}

static double *total_of(const bn *d, int part) { return d->total + (size_t)part * (2 * d->C + 8); }
static nn_real *mean_of(const bn *d, int part) { return d->mean + (size_t)part * (d->C + 16); }
static nn_real *invstd_of(const bn *d, int part) { return d->invstd + (size_t)part * (d->C + 16); }

/* Rows of C values per sample. */
static int64_t per_sample(const nn_layer *l, const bn *d)
{
    return l->in_size / d->C;
}

/* Shard s's sums, forward's or backward's. */
static double *sums_of(const bn *d, int s, int backward)
{
    return d->shard + ((size_t)2 * s + (backward ? 1 : 0)) * 2 * d->C;
}

/* Shard s's sums: sum x, sum x^2 (forward) or sum dy, sum dy xh (backward). */
static void shard_sums(const nn_layer *l, const nn_rows *r, int s, const nn_real *x,
                       const nn_real *dy)
{
    const bn *d = l->priv;
    const int C = d->C;
    const int64_t k = per_sample(l, d);
    const int *bound = r->pass->bound;
    double *acc = sums_of(d, s, dy != NULL);
    const nn_real *mu = mean_of(d, r->part), *is = invstd_of(d, r->part);
    memset(acc, 0, 2 * (size_t)C * sizeof *acc);
    for (int64_t row = bound[s] * k; row < bound[s + 1] * k; row++) {
        const nn_real *xr = x + row * C;
        if (!dy) {
            for (int c = 0; c < C; c++) {
                acc[c] += xr[c];
                acc[C + c] += (double)xr[c] * xr[c];
            }
            continue;
        }
        const nn_real *dyr = dy + row * C;
        for (int c = 0; c < C; c++) {
            acc[c] += dyr[c];
            acc[C + c] += (double)dyr[c] * (xr[c] - mu[c]) * is[c];
        }
    }
}

/* After the meeting: the batch's sums, the shards added in order (empty
 * shards add zeros), into the part's own copy. */
static double *batch_sums(const nn_layer *l, const nn_rows *r, int backward)
{
    const bn *d = l->priv;
    double *t = total_of(d, r->part);
    memset(t, 0, 2 * (size_t)d->C * sizeof *t);
    for (int s = 0; s < r->pass->S; s++) {
        const double *acc = sums_of(d, s, backward);
        if (r->pass->bound[s + 1] > r->pass->bound[s])
            for (int k = 0; k < 2 * d->C; k++)
                t[k] += acc[k];
    }
    return t;
}

static void normalise(const nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y,
                      const nn_real *mu, const nn_real *is)
{
    const bn *d = l->priv;
    const int C = d->C;
    const int64_t k = per_sample(l, d);
    const nn_real *gamma = l->param, *beta = l->param + C;
    for (int64_t row = r->lo * k; row < r->hi * k; row++) {
        const nn_real *xr = x + row * C;
        nn_real *yr = y + row * C;
        for (int c = 0; c < C; c++)
            yr[c] = gamma[c] * (xr[c] - mu[c]) * is[c] + beta[c];
    }
}

static void bn_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    bn *d = l->priv;
    const int C = d->C;
    nn_real *mu = mean_of(d, r->part), *is = invstd_of(d, r->part);
    if (!r->pass->train) {
        for (int c = 0; c < C; c++)
            is[c] = (nn_real)(1 / sqrt((double)l->buffer[C + c] + d->eps));
        normalise(l, r, x, y, l->buffer, is);
        return;
    }
    for (int s = r->s0; s < r->s1; s++)
        shard_sums(l, r, s, x, NULL);
    nn_pool_barrier(r->pass->pool);
    const double *sum = batch_sums(l, r, 0);
    const double R = (double)r->pass->B * (double)per_sample(l, d);
    const double m = d->momentum;
    for (int c = 0; c < C; c++) {
        double mean = sum[c] / R, var = sum[C + c] / R - mean * mean;
        var = var > 0 ? var : 0;
        mu[c] = (nn_real)mean;
        is[c] = (nn_real)(1 / sqrt(var + d->eps));
        if (r->part == 0) {
            double unbiased = R > 1 ? var * R / (R - 1) : var;
            l->buffer[c] = (nn_real)((1 - m) * l->buffer[c] + m * mean);
            l->buffer[C + c] = (nn_real)((1 - m) * l->buffer[C + c] + m * unbiased);
        }
    }
    if (r->part == 0)
        l->buffer[2 * C] += 1;
    normalise(l, r, x, y, mu, is);
}

static void bn_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                        nn_real *dy, nn_real *dx)
{
    (void)y;
    bn *d = l->priv;
    const int C = d->C;
    for (int s = r->s0; s < r->s1; s++)
        shard_sums(l, r, s, x, dy);
    nn_pool_barrier(r->pass->pool);
    const double *sum = batch_sums(l, r, 1);
    if (!dx)
        return;
    const int64_t k = per_sample(l, d);
    const double inv_r = 1.0 / ((double)r->pass->B * (double)k);
    const nn_real *gamma = l->param, *mu = mean_of(d, r->part), *is = invstd_of(d, r->part);
    for (int64_t row = r->lo * k; row < r->hi * k; row++) {
        const nn_real *xr = x + row * C, *dyr = dy + row * C;
        nn_real *dxr = dx + row * C;
        for (int c = 0; c < C; c++) {
            double xh = (double)(xr[c] - mu[c]) * is[c];
            dxr[c] = (nn_real)(gamma[c] * is[c] *
                               ((double)dyr[c] - (sum[c] + xh * sum[C + c]) * inv_r));
        }
    }
}

static int bn_n_blocks(const nn_layer *l)
{
    (void)l;
    return 1;
}

static double bn_block(const nn_layer *l, int b, nn_range *ranges, int *n)
{
    (void)b;
    ranges[0] = (nn_range){0, l->n_param};
    *n = 1;
    return 2.0 * (double)l->n_param;
}

/* dgamma, dbeta: the batch's sums, as every part's backward left them
 * (part 0's copy). */
static void bn_grad(nn_layer *l, const nn_pass *p, int b0, int b1, const nn_real *x,
                    const nn_real *y, const nn_real *dy)
{
    (void)p, (void)b0, (void)b1, (void)x, (void)y, (void)dy;
    const bn *d = l->priv;
    const double *sum = total_of(d, 0);
    for (int c = 0; c < d->C; c++) {
        l->grad[c] = (nn_real)sum[d->C + c];
        l->grad[d->C + c] = (nn_real)sum[c];
    }
}

static void bn_destroy(nn_layer *l)
{
    bn *d = l->priv;
    if (d) {
        free(d->shard);
        free(d->total);
        free(d->mean);
        free(d->invstd);
    }
    free(d);
    l->priv = NULL;
}

const nn_layer_ops nn_batchnorm_ops = {
    .setup = bn_setup, .init = bn_init, .reserve = bn_reserve,
    .forward = bn_forward, .backward = bn_backward,
    .n_blocks = bn_n_blocks, .block = bn_block, .grad = bn_grad,
    .destroy = bn_destroy,
};
