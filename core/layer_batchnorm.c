/*
 * layer_batchnorm.c — batch normalization, per channel of an image
 * [C, H, W] or per feature of [F] (or of the last dimension of [T, F]).
 * Channels are the fastest-moving index in memory in every case (layer.h),
 * so the input is a matrix of R = B * (values / C) rows and C columns.
 *
 *   train:  mu = mean_r x,  var = mean_r (x - mu)^2,  xh = (x - mu) / sqrt(var + eps)
 *           y = gamma xh + beta
 *           running_mean = (1 - m) running_mean + m mu
 *           running_var  = (1 - m) running_var  + m var R / (R - 1)      (PyTorch's rule)
 *   eval:   y = gamma (x - running_mean) / sqrt(running_var + eps) + beta
 *   backward (train):  dbeta = sum_r dy,  dgamma = sum_r dy xh
 *           dx = gamma / (R sqrt(var + eps)) (R dy - dbeta - xh dgamma)
 * Sums over rows run in double, in per-thread partial sums added in order.
 */
#include "layer.h"

#include "nn_math.h"

#include <stdlib.h>
#include <string.h>

typedef struct bn {
    int C;
    double momentum, eps;
    nn_real *mean, *invstd;   /* of the last training batch */
    double *part;             /* per part: 2 C partial sums */
    int nparts;
} bn;

typedef struct bn_task {
    nn_layer *l;
    const nn_real *x;
    nn_real *y;
    nn_real *dy, *dx;
    int64_t R;
    int phase;
    int eval;
} bn_task;

enum { SUM_X, SUM_SQ, NORMALISE, SUM_GRAD, INPUT_GRAD };

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
    if (d->mean)
        return NN_OK;
    d->nparts = nn_pool_size(l->pool);
    d->mean = malloc((size_t)d->C * sizeof *d->mean);
    d->invstd = malloc((size_t)d->C * sizeof *d->invstd);
    d->part = malloc((size_t)d->nparts * 2 * (size_t)d->C * sizeof *d->part);
    return d->mean && d->invstd && d->part ? NN_OK : NN_ENOMEM;
}

static void task(void *ctx, int part, int nth)
{
    bn_task *t = ctx;
    bn *d = t->l->priv;
    const int C = d->C;
    const nn_real *gamma = t->l->param, *beta = t->l->param + C;
    int64_t lo, hi;
    {
        int a, b;
        /* rows are split in blocks of 64 so that no two threads share a line */
        nn_split((int)((t->R + 63) / 64), part, nth, 1, &a, &b);
        lo = (int64_t)a * 64;
        hi = (int64_t)b * 64 < t->R ? (int64_t)b * 64 : t->R;
    }
    double *acc = d->part + (size_t)part * 2 * C;
    if (t->phase == SUM_X || t->phase == SUM_SQ || t->phase == SUM_GRAD)
        memset(acc, 0, 2 * (size_t)C * sizeof *acc);
    for (int64_t r = lo; r < hi; r++) {
        const nn_real *x = t->x + r * C;
        switch (t->phase) {
        case SUM_X:
            for (int c = 0; c < C; c++)
                acc[c] += x[c];
            break;
        case SUM_SQ:
            for (int c = 0; c < C; c++) {
                double v = (double)x[c] - d->mean[c];
                acc[c] += v * v;
            }
            break;
        case NORMALISE: {
            nn_real *y = t->y + r * C;
            const nn_real *mu = t->eval ? t->l->buffer : d->mean;
            for (int c = 0; c < C; c++)
                y[c] = gamma[c] * (x[c] - mu[c]) * d->invstd[c] + beta[c];
            break;
        }
        case SUM_GRAD: {
            const nn_real *dy = t->dy + r * C;
            for (int c = 0; c < C; c++) {
                acc[c] += dy[c];
                acc[C + c] += (double)dy[c] * (x[c] - d->mean[c]) * d->invstd[c];
            }
            break;
        }
        case INPUT_GRAD: {
            const nn_real *dy = t->dy + r * C;
            nn_real *dx = t->dx + r * C;
            const double *sum = d->part;   /* totals, left in part 0 by bn_backward */
            const double inv_r = 1.0 / (double)t->R;
            for (int c = 0; c < C; c++) {
                double xh = (double)(x[c] - d->mean[c]) * d->invstd[c];
                dx[c] = (nn_real)(gamma[c] * d->invstd[c] *
                                  ((double)dy[c] - (sum[c] + xh * sum[C + c]) * inv_r));
            }
            break;
        }
        }
    }
}

/* Adds the parts' sums into part 0, in part order. */
static void reduce(bn *d)
{
    for (int p = 1; p < d->nparts; p++)
        for (int k = 0; k < 2 * d->C; k++)
            d->part[k] += d->part[(size_t)p * 2 * d->C + k];
}

static void bn_forward(nn_layer *l, const nn_real *x, nn_real *y, int B, int train)
{
    bn *d = l->priv;
    const int C = d->C;
    bn_task t = {l, x, y, NULL, NULL, (int64_t)B * l->in_size / C, 0, !train};
    if (!train) {
        for (int c = 0; c < C; c++)
            d->invstd[c] = (nn_real)(1 / sqrt((double)l->buffer[C + c] + d->eps));
        t.phase = NORMALISE;
        nn_pool_run(l->pool, task, &t);
        return;
    }
    t.phase = SUM_X;
    nn_pool_run(l->pool, task, &t);
    reduce(d);
    for (int c = 0; c < C; c++)
        d->mean[c] = (nn_real)(d->part[c] / (double)t.R);
    t.phase = SUM_SQ;
    nn_pool_run(l->pool, task, &t);
    reduce(d);
    const double m = d->momentum;
    for (int c = 0; c < C; c++) {
        double var = d->part[c] / (double)t.R;
        d->invstd[c] = (nn_real)(1 / sqrt(var + d->eps));
        double unbiased = t.R > 1 ? var * (double)t.R / (double)(t.R - 1) : var;
        l->buffer[c] = (nn_real)((1 - m) * l->buffer[c] + m * d->mean[c]);
        l->buffer[C + c] = (nn_real)((1 - m) * l->buffer[C + c] + m * unbiased);
    }
    l->buffer[2 * C] += 1;
    t.phase = NORMALISE;
    nn_pool_run(l->pool, task, &t);
}

static void bn_backward(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                        nn_real *dx, int B, int accumulate)
{
    (void)y;
    bn *d = l->priv;
    const int C = d->C;
    bn_task t = {l, x, NULL, dy, dx, (int64_t)B * l->in_size / C, SUM_GRAD, 0};
    nn_pool_run(l->pool, task, &t);
    reduce(d);
    nn_real *dgamma = l->grad, *dbeta = l->grad + C;
    for (int c = 0; c < C; c++) {
        dgamma[c] = (nn_real)((accumulate ? dgamma[c] : 0) + d->part[C + c]);
        dbeta[c] = (nn_real)((accumulate ? dbeta[c] : 0) + d->part[c]);
    }
    if (dx) {
        t.phase = INPUT_GRAD;
        nn_pool_run(l->pool, task, &t);
    }
}

static void bn_destroy(nn_layer *l)
{
    bn *d = l->priv;
    if (d) {
        free(d->mean);
        free(d->invstd);
        free(d->part);
    }
    free(d);
    l->priv = NULL;
}

const nn_layer_ops nn_batchnorm_ops = {
    .setup = bn_setup, .init = bn_init, .reserve = bn_reserve,
    .forward = bn_forward, .backward = bn_backward, .destroy = bn_destroy,
};
