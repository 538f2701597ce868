/*
 * layer_dropout.c — inverted dropout.
 *
 *   train:  m ~ Bernoulli(1 - p),  y = x m / (1 - p);   dx = dy m / (1 - p)
 *   eval:   y = x
 * The keep decisions come from a counter-based hash of the model's dropout
 * key and a running element counter (stored with the layer's batch), so
 * threads can draw their slices independently and a checkpoint needs only
 * (key, counter) to continue the same stream.
 */
#include "layer.h"

#include <stdlib.h>
#include <string.h>

typedef struct dropout {
    unsigned char *keep;     /* this batch's mask */
    uint64_t base;           /* counter at the start of this batch */
} dropout;

typedef struct drop_task {
    nn_layer *l;
    const nn_real *x;
    nn_real *y;
    size_t n;
} drop_task;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int dropout_setup(nn_layer *l, nn_err *e)
{
    if (!(l->spec.rate >= 0 && l->spec.rate < 1))
        return nn_errf_at(e, NN_EINVAL, l->index, "rate", "rate must be in [0, 1), got %g",
                          l->spec.rate);
    l->priv = calloc(1, sizeof(dropout));
    if (!l->priv)
        return NN_ENOMEM;
    l->out = l->in;
    return NN_OK;
}

static void dropout_init(nn_layer *l, uint64_t seed)
{
    (void)l;
    (void)seed;
}

static int dropout_reserve(nn_layer *l, int B)
{
    dropout *d = l->priv;
    unsigned char *k = realloc(d->keep, (size_t)B * (size_t)l->in_size);
    if (!k)
        return NN_ENOMEM;
    d->keep = k;
    return NN_OK;
}

static void fwd_task(void *ctx, int tid, int nth)
{
    drop_task *t = ctx;
    dropout *d = t->l->priv;
    const double p = t->l->spec.rate;
    /* keep when the top 53 bits, as a fraction, are >= p */
    const uint64_t threshold = (uint64_t)(p * 9007199254740992.0);
    const nn_real scale = (nn_real)(1 / (1 - p));
    const uint64_t key = t->l->drop_key[0];
    int lo, hi;
    nn_split((int)t->n, tid, nth, 64, &lo, &hi);
    for (int i = lo; i < hi; i++) {
        uint64_t h = mix(key ^ mix(d->base + (uint64_t)i)) >> 11;
        d->keep[i] = h >= threshold;
        t->y[i] = d->keep[i] ? t->x[i] * scale : 0;
    }
}

static void dropout_forward(nn_layer *l, const nn_real *x, nn_real *y, int B, int train)
{
    size_t n = (size_t)B * (size_t)l->in_size;
    if (!train || l->spec.rate == 0) {
        memcpy(y, x, n * sizeof *y);
        return;
    }
    dropout *d = l->priv;
    d->base = l->drop_key[1];
    l->drop_key[1] += n;
    drop_task t = {l, x, y, n};
    nn_pool_run(l->pool, fwd_task, &t);
}

static void dropout_backward(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                             nn_real *dx, int B, int accumulate)
{
    (void)x;
    (void)y;
    (void)accumulate;
    if (!dx)
        return;
    size_t n = (size_t)B * (size_t)l->in_size;
    if (l->spec.rate == 0) {
        memcpy(dx, dy, n * sizeof *dx);
        return;
    }
    dropout *d = l->priv;
    const nn_real scale = (nn_real)(1 / (1 - l->spec.rate));
    for (size_t i = 0; i < n; i++)
        dx[i] = d->keep[i] ? dy[i] * scale : 0;
}

static void dropout_destroy(nn_layer *l)
{
    dropout *d = l->priv;
    if (d)
        free(d->keep);
    free(d);
    l->priv = NULL;
}

const nn_layer_ops nn_dropout_ops = {
    .setup = dropout_setup,
    .init = dropout_init,
    .reserve = dropout_reserve,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};
