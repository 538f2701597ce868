/*
 * layer_dropout.c — inverted dropout.
 *
 *   train:  m ~ Bernoulli(1 - p),  y = x m / (1 - p);   dx = dy m / (1 - p)
 *   eval:   y = x
 * The keep decisions come from a counter-based hash of the model's dropout
 * key and a running element counter (the model gives each training pass's
 * first value its number, drop_base, and counts the batch's values), so a
 * part (layer.h) draws its rows' decisions alone, the same whatever the
 * parts, and a checkpoint needs only (key, counter) to continue the stream.
 */
#include "layer.h"

#include <stdlib.h>
#include <string.h>

typedef struct dropout {
    unsigned char *keep;     /* this batch's mask */
} dropout;

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

static void dropout_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    const size_t lo = (size_t)r->lo * (size_t)l->in_size, hi = (size_t)r->hi * (size_t)l->in_size;
    if (!r->pass->train || l->spec.rate == 0) {
        memcpy(y + lo, x + lo, (hi - lo) * sizeof *y);
        return;
    }
    dropout *d = l->priv;
    const double p = l->spec.rate;
    /* keep when the top 53 bits, as a fraction, are >= p */
    const uint64_t threshold = (uint64_t)(p * 9007199254740992.0);
    const nn_real scale = (nn_real)(1 / (1 - p));
    for (size_t i = lo; i < hi; i++) {
        uint64_t h = mix(l->drop_key ^ mix(l->drop_base + (uint64_t)i)) >> 11;
        d->keep[i] = h >= threshold;
        y[i] = d->keep[i] ? x[i] * scale : 0;
    }
}

static void dropout_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                             nn_real *dy, nn_real *dx)
{
    (void)x;
    (void)y;
    if (!dx)
        return;
    const size_t lo = (size_t)r->lo * (size_t)l->in_size, hi = (size_t)r->hi * (size_t)l->in_size;
    if (l->spec.rate == 0) {
        memcpy(dx + lo, dy + lo, (hi - lo) * sizeof *dx);
        return;
    }
    dropout *d = l->priv;
    const nn_real scale = (nn_real)(1 / (1 - l->spec.rate));
    for (size_t i = lo; i < hi; i++)
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
