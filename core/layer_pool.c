/*
 * layer_pool.c — max and average pooling over windows of an image, and the
 * global average over its whole height and width.  Images are [C, H, W],
 * stored channel-last (layer.h); windows do not pad, and the last partial
 * window is dropped (PyTorch's default, floor mode).
 *
 *   max:   y[oh, ow, c] = max over the window of x;  dx[argmax] += dy
 *   avg:   y = mean over the window;                 dx[window] += dy / (kh kw)
 *   global_avgpool:  y[c] = mean over (h, w);        dx[h, w, c] = dy[c] / (H W)
 * Every sample is independent, so threads take whole samples.
 */
#include "layer.h"
#include "nn_math.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool {
    int max;                 /* max pooling, else average */
    int C, H, W, kh, kw, sh, sw, OH, OW;
    int32_t *arg;            /* max: for each output value, its input index in the sample */
} pool;

typedef struct pool_task {
    nn_layer *l;
    const nn_real *x;
    nn_real *y;
    const nn_real *dy;
    nn_real *dx;
    int B;
} pool_task;

static int need_image(nn_layer *l, const char *what, nn_err *e)
{
    char sh[64];
    if (l->in.rank == 3)
        return NN_OK;
    nn_shape_str(&l->in, sh, sizeof sh);
    return nn_errf_at(e, NN_EINVAL, l->index, "type",
                      "%s needs an image [channels, height, width], got %s", what, sh);
}

static int setup(nn_layer *l, int max, nn_err *e)
{
    const nn_layer_spec *s = &l->spec;
    const char *name = max ? "maxpool2d" : "avgpool2d";
    int rc = need_image(l, name, e);
    if (rc)
        return rc;
    pool p = {.max = max, .C = l->in.dim[0], .H = l->in.dim[1], .W = l->in.dim[2],
              .kh = s->kernel[0], .kw = s->kernel[1]};
    p.sh = s->stride[0] > 0 ? s->stride[0] : p.kh;
    p.sw = s->stride[1] > 0 ? s->stride[1] : p.kw;
    if (p.kh < 1 || p.kw < 1)
        return nn_errf_at(e, NN_EINVAL, l->index, "size", "%s needs a window size", name);
    if (p.kh > p.H || p.kw > p.W)
        return nn_errf_at(e, NN_EINVAL, l->index, "size",
                          "the %dx%d window is larger than the %dx%d input", p.kh, p.kw, p.H,
                          p.W);
    p.OH = (p.H - p.kh) / p.sh + 1;
    p.OW = (p.W - p.kw) / p.sw + 1;
    pool *d = malloc(sizeof *d);
    if (!d)
        return NN_ENOMEM;
    *d = p;
    l->priv = d;
    l->out.rank = 3;
    l->out.dim[0] = p.C;
    l->out.dim[1] = p.OH;
    l->out.dim[2] = p.OW;
    return NN_OK;
}

static int maxpool_setup(nn_layer *l, nn_err *e) { return setup(l, 1, e); }
static int avgpool_setup(nn_layer *l, nn_err *e) { return setup(l, 0, e); }

static void no_init(nn_layer *l, uint64_t seed)
{
    (void)l, (void)seed;
}

static int pool_reserve(nn_layer *l, int B)
{
    pool *p = l->priv;
    if (!p->max)
        return NN_OK;
    int32_t *a = realloc(p->arg, (size_t)B * (size_t)l->out_size * sizeof *a);
    if (!a)
        return NN_ENOMEM;
    p->arg = a;
    return NN_OK;
}

/* One sample, whole: the loops over a window's C channels are short (16 or
 * 32 values), so the vectorised code is one function per sample rather than
 * a call per window element.  Max pooling keeps, for each output value, the
 * index of its input in the sample (ties keep the earlier element, as a scan
 * in window order). */
NN_VECTORIZE
static void max_sample(const pool *p, const nn_real *restrict x, nn_real *restrict y,
                       int32_t *restrict arg)
{
    const int C = p->C;
    for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
            nn_real *restrict yo = y + ((size_t)oh * p->OW + ow) * C;
            int32_t *restrict ao = arg + ((size_t)oh * p->OW + ow) * C;
            const int idx0 = (oh * p->sh * p->W + ow * p->sw) * C;
            for (int c = 0; c < C; c++) {
                yo[c] = x[idx0 + c];
                ao[c] = idx0 + c;
            }
            for (int i = 0; i < p->kh; i++)
                for (int j = i == 0; j < p->kw; j++) {
                    const int idx = idx0 + (i * p->W + j) * C;
                    const nn_real *restrict xi = x + idx;
                    for (int c = 0; c < C; c++) {
                        int gt = xi[c] > yo[c];
                        yo[c] = gt ? xi[c] : yo[c];
                        ao[c] = gt ? idx + c : ao[c];
                    }
                }
        }
}

NN_VECTORIZE
static void avg_sample(const pool *p, const nn_real *restrict x, nn_real *restrict y)
{
    const int C = p->C;
    const nn_real inv = (nn_real)(1.0 / (p->kh * p->kw));
    for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
            nn_real *restrict yo = y + ((size_t)oh * p->OW + ow) * C;
            const int idx0 = (oh * p->sh * p->W + ow * p->sw) * C;
            for (int c = 0; c < C; c++)
                yo[c] = 0;
            for (int i = 0; i < p->kh; i++)
                for (int j = 0; j < p->kw; j++) {
                    const nn_real *restrict xi = x + idx0 + (i * p->W + j) * C;
                    for (int c = 0; c < C; c++)
                        yo[c] += xi[c];
                }
            for (int c = 0; c < C; c++)
                yo[c] *= inv;
        }
}

static void fwd_task(void *ctx, int part, int nth)
{
    pool_task *t = ctx;
    const pool *p = t->l->priv;
    const size_t in_n = (size_t)t->l->in_size, out_n = (size_t)t->l->out_size;
    int lo, hi;
    nn_split(t->B, part, nth, 1, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        if (p->max)
            max_sample(p, t->x + b * in_n, t->y + b * out_n, p->arg + b * out_n);
        else
            avg_sample(p, t->x + b * in_n, t->y + b * out_n);
    }
}

static void bwd_task(void *ctx, int part, int nth)
{
    pool_task *t = ctx;
    const pool *p = t->l->priv;
    const int C = p->C;
    const size_t in_n = (size_t)t->l->in_size, out_n = (size_t)t->l->out_size;
    const nn_real inv = (nn_real)(1.0 / (p->kh * p->kw));
    int lo, hi;
    nn_split(t->B, part, nth, 1, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        nn_real *dx = t->dx + b * in_n;
        const nn_real *dy = t->dy + b * out_n;
        memset(dx, 0, in_n * sizeof *dx);
        if (p->max) {
            const int32_t *arg = p->arg + b * out_n;
            for (size_t k = 0; k < out_n; k++)
                dx[arg[k]] += dy[k];
            continue;
        }
        for (int oh = 0; oh < p->OH; oh++)
            for (int ow = 0; ow < p->OW; ow++) {
                const nn_real *dyo = dy + ((size_t)oh * p->OW + ow) * C;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) {
                        nn_real *dxi = dx + ((oh * p->sh + i) * p->W + ow * p->sw + j) * C;
                        for (int c = 0; c < C; c++)
                            dxi[c] += dyo[c] * inv;
                    }
            }
    }
}

static void pool_forward(nn_layer *l, const nn_real *x, nn_real *y, int B, int train)
{
    (void)train;
    pool_task t = {l, x, y, NULL, NULL, B};
    nn_pool_run(l->pool, fwd_task, &t);
}

static void pool_backward(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                          nn_real *dx, int B, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (!dx)
        return;
    pool_task t = {l, NULL, NULL, dy, dx, B};
    nn_pool_run(l->pool, bwd_task, &t);
}

static void pool_destroy(nn_layer *l)
{
    pool *p = l->priv;
    if (p)
        free(p->arg);
    free(p);
    l->priv = NULL;
}

const nn_layer_ops nn_maxpool2d_ops = {
    .setup = maxpool_setup, .init = no_init, .reserve = pool_reserve,
    .forward = pool_forward, .backward = pool_backward, .destroy = pool_destroy,
};

const nn_layer_ops nn_avgpool2d_ops = {
    .setup = avgpool_setup, .init = no_init, .reserve = pool_reserve,
    .forward = pool_forward, .backward = pool_backward, .destroy = pool_destroy,
};

/* ---------------------------------------------------------------------------
 * Global average pooling */

static int gap_setup(nn_layer *l, nn_err *e)
{
    int rc = need_image(l, "global_avgpool", e);
    if (rc)
        return rc;
    l->out.rank = 1;
    l->out.dim[0] = l->in.dim[0];
    return NN_OK;
}

static int gap_reserve(nn_layer *l, int B)
{
    (void)l, (void)B;
    return NN_OK;
}

static void gap_task(void *ctx, int part, int nth)
{
    pool_task *t = ctx;
    const int C = t->l->in.dim[0], HW = t->l->in.dim[1] * t->l->in.dim[2];
    const nn_real inv = (nn_real)(1.0 / HW);
    int lo, hi;
    nn_split(t->B, part, nth, 1, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        if (t->x) {
            const nn_real *x = t->x + (size_t)b * C * HW;
            nn_real *y = t->y + (size_t)b * C;
            for (int c = 0; c < C; c++)
                y[c] = 0;
            for (int p = 0; p < HW; p++)
                for (int c = 0; c < C; c++)
                    y[c] += x[(size_t)p * C + c];
            for (int c = 0; c < C; c++)
                y[c] *= inv;
        } else {
            const nn_real *dy = t->dy + (size_t)b * C;
            nn_real *dx = t->dx + (size_t)b * C * HW;
            for (int p = 0; p < HW; p++)
                for (int c = 0; c < C; c++)
                    dx[(size_t)p * C + c] = dy[c] * inv;
        }
    }
}

static void gap_forward(nn_layer *l, const nn_real *x, nn_real *y, int B, int train)
{
    (void)train;
    pool_task t = {l, x, y, NULL, NULL, B};
    nn_pool_run(l->pool, gap_task, &t);
}

static void gap_backward(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                         nn_real *dx, int B, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (!dx)
        return;
    pool_task t = {l, NULL, NULL, dy, dx, B};
    nn_pool_run(l->pool, gap_task, &t);
}

static void gap_destroy(nn_layer *l)
{
    (void)l;
}

const nn_layer_ops nn_global_avgpool_ops = {
    .setup = gap_setup, .init = no_init, .reserve = gap_reserve,
    .forward = gap_forward, .backward = gap_backward, .destroy = gap_destroy,
};
