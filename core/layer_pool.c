/*
 * layer_pool.c — max and average pooling over windows of an image, and the
 * global average over its whole height and width.  Images are [C, H, W],
 * stored channel-last (layer.h); windows do not pad, and the last partial
 * window is dropped (PyTorch's default, floor mode).
 *
 *   max:   y[oh, ow, c] = max over the window of x;  dx[argmax] += dy
 *          (the argmax kept as the element's place in its window, the
 *          first in scan order among equals)
 *   avg:   y = mean over the window;                 dx[window] += dy / (kh kw)
 *   global_avgpool:  y[c] = mean over (h, w);        dx[h, w, c] = dy[c] / (H W)
 * Every sample is independent: a part (layer.h) pools its rows.
 */
#include "layer.h"
#include "nn_math.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(NN_DOUBLE)
#include <immintrin.h>
#define HAVE_512 1
#define TARGET512 __attribute__((target("avx512f")))

static int cpu_has_512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
}

#else
#define HAVE_512 0
#endif

typedef struct pool {
    nn_window w;             /* first: a pool is also its windows */
    int max;                 /* max pooling, else average */
    int32_t *arg;            /* max: for each output value, its place in the window */
} pool;

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
    nn_window p = {.C = l->in.dim[0], .H = l->in.dim[1], .W = l->in.dim[2],
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
    p.tiles = p.sh == p.kh && p.sw == p.kw && p.OH * p.kh == p.H && p.OW * p.kw == p.W;
#if HAVE_512
    p.v512 = max && p.C % 16 == 0 && cpu_has_512();
#endif
    pool *d = calloc(1, sizeof *d);
    if (!d)
        return NN_ENOMEM;
    d->w = p;
    d->max = max;
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

/* Max pooling, one sample at a time.  arg keeps, for each output value, the
 * place in its window of the element it took (ties keep the earlier, as a
 * scan in window order); the backward pass routes dy there.  With windows
 * that tile the input every dx value is written once; otherwise dx starts
 * at zero and the windows add to it (elements in no window keep 0,
 * overlapping ones sum).
 *
 * The window's channels are contiguous, so the natural vector runs over
 * channels: 16 of them fill an AVX-512 register, and max_sample_512 keeps
 * the maximum and its place in registers across the window (compare, then
 * masked moves).  Written as plain C, the compiler turns the same loops into
 * a branch per element on whether any lane changed, and the branches,
 * mispredicted on real images, cost more than the pooling.  Other channel
 * counts and CPUs take the plain loops. */
static void max_sample(const nn_window *p, const nn_real *restrict x, nn_real *restrict y,
                       int32_t *restrict arg)
{
    const int C = p->C;
    for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
            const size_t o = ((size_t)oh * p->OW + ow) * C;
            const nn_real *xo = x + ((size_t)oh * p->sh * p->W + (size_t)ow * p->sw) * C;
            for (int c = 0; c < C; c++) {
                nn_real m = xo[c];
                int32_t a = 0;
                for (int i = 0, e = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++, e++) {
                        nn_real v = xo[((size_t)i * p->W + j) * C + c];
                        if (v > m) {
                            m = v;
                            a = e;
                        }
                    }
                y[o + c] = m;
                arg[o + c] = a;
            }
        }
}

static void max_sample_bwd(const nn_window *p, const int32_t *restrict arg,
                           const nn_real *restrict dy, nn_real *restrict dx)
{
    const int C = p->C;
    if (!p->tiles)
        memset(dx, 0, (size_t)p->H * p->W * C * sizeof *dx);
    for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
            const size_t o = ((size_t)oh * p->OW + ow) * C;
            nn_real *dxo = dx + ((size_t)oh * p->sh * p->W + (size_t)ow * p->sw) * C;
            for (int c = 0; c < C; c++)
                for (int i = 0, e = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++, e++) {
                        nn_real *d = dxo + ((size_t)i * p->W + j) * C + c;
                        nn_real base = p->tiles ? 0 : *d;
                        *d = arg[o + c] == e ? base + dy[o + c] : base;
                    }
        }
}

#if HAVE_512
TARGET512 static void max_sample_512(const nn_window *p, const float *x, float *y, int32_t *arg)
{
    const int C = p->C;
    for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
            const size_t o = ((size_t)oh * p->OW + ow) * C;
            const float *xo = x + ((size_t)oh * p->sh * p->W + (size_t)ow * p->sw) * C;
            for (int c = 0; c < C; c += 16) {
                __m512 m = _mm512_loadu_ps(xo + c);
                __m512i a = _mm512_setzero_si512();
                for (int i = 0, e = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++, e++) {
                        if (e == 0)
                            continue;
                        __m512 v = _mm512_loadu_ps(xo + ((size_t)i * p->W + j) * C + c);
                        __mmask16 gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
                        m = _mm512_mask_mov_ps(m, gt, v);
                        a = _mm512_mask_mov_epi32(a, gt, _mm512_set1_epi32(e));
                    }
                _mm512_storeu_ps(y + o + c, m);
                _mm512_storeu_si512(arg + o + c, a);
            }
        }
}

TARGET512 static void max_sample_bwd_512(const nn_window *p, const int32_t *arg, const float *dy,
                                         float *dx)
{
    const int C = p->C;
    if (!p->tiles)
        memset(dx, 0, (size_t)p->H * p->W * C * sizeof *dx);
    const __m512 zero = _mm512_setzero_ps();
    for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
            const size_t o = ((size_t)oh * p->OW + ow) * C;
            float *dxo = dx + ((size_t)oh * p->sh * p->W + (size_t)ow * p->sw) * C;
            for (int c = 0; c < C; c += 16) {
                __m512i a = _mm512_loadu_si512(arg + o + c);
                __m512 g = _mm512_loadu_ps(dy + o + c);
                for (int i = 0, e = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++, e++) {
                        float *d = dxo + ((size_t)i * p->W + j) * C + c;
                        __mmask16 hit = _mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(e));
                        __m512 base = p->tiles ? zero : _mm512_loadu_ps(d);
                        _mm512_storeu_ps(d, _mm512_mask_add_ps(base, hit, base, g));
                    }
            }
        }
}
#endif

void nn_maxpool_sample(const nn_window *w, const nn_real *x, nn_real *y, int32_t *arg)
{
#if HAVE_512
    if (w->v512) {
        max_sample_512(w, x, y, arg);
        return;
    }
#endif
    max_sample(w, x, y, arg);
}

void nn_maxpool_sample_bwd(const nn_window *w, const int32_t *arg, const nn_real *dy,
                           nn_real *dx)
{
#if HAVE_512
    if (w->v512) {
        max_sample_bwd_512(w, arg, dy, dx);
        return;
    }
#endif
    max_sample_bwd(w, arg, dy, dx);
}

const nn_window *nn_maxpool_window(const nn_layer *l)
{
    return l->ops == &nn_maxpool2d_ops ? &((const pool *)l->priv)->w : NULL;
}

NN_VECTORIZE
static void avg_sample(const nn_window *p, const nn_real *restrict x, nn_real *restrict y)
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

static void pool_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    const pool *pl = l->priv;
    const nn_window *p = &pl->w;
    const size_t in_n = (size_t)l->in_size, out_n = (size_t)l->out_size;
    for (int b = r->lo; b < r->hi; b++) {
        if (pl->max)
            nn_maxpool_sample(p, x + b * in_n, y + b * out_n, pl->arg + b * out_n);
        else
            avg_sample(p, x + b * in_n, y + b * out_n);
    }
}

static void avg_sample_bwd(const nn_window *p, const nn_real *dy, nn_real *dx)
{
    const int C = p->C;
    const nn_real inv = (nn_real)(1.0 / (p->kh * p->kw));
    memset(dx, 0, (size_t)p->H * p->W * C * sizeof *dx);
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

static void pool_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                          nn_real *dy, nn_real *dx)
{
    (void)x, (void)y;
    const pool *pl = l->priv;
    const size_t in_n = (size_t)l->in_size, out_n = (size_t)l->out_size;
    if (!dx)
        return;
    for (int b = r->lo; b < r->hi; b++) {
        if (pl->max)
            nn_maxpool_sample_bwd(&pl->w, pl->arg + b * out_n, dy + b * out_n, dx + b * in_n);
        else
            avg_sample_bwd(&pl->w, dy + b * out_n, dx + b * in_n);
    }
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

static void gap_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    const int C = l->in.dim[0], HW = l->in.dim[1] * l->in.dim[2];
    const nn_real inv = (nn_real)(1.0 / HW);
    for (int b = r->lo; b < r->hi; b++) {
        const nn_real *xb = x + (size_t)b * C * HW;
        nn_real *yb = y + (size_t)b * C;
        for (int c = 0; c < C; c++)
            yb[c] = 0;
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++)
                yb[c] += xb[(size_t)p * C + c];
        for (int c = 0; c < C; c++)
            yb[c] *= inv;
    }
}

static void gap_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                         nn_real *dy, nn_real *dx)
{
    (void)x, (void)y;
    const int C = l->in.dim[0], HW = l->in.dim[1] * l->in.dim[2];
    const nn_real inv = (nn_real)(1.0 / HW);
    if (!dx)
        return;
    for (int b = r->lo; b < r->hi; b++) {
        const nn_real *dyb = dy + (size_t)b * C;
        nn_real *dxb = dx + (size_t)b * C * HW;
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++)
                dxb[(size_t)p * C + c] = dyb[c] * inv;
    }
}

static void gap_destroy(nn_layer *l)
{
    (void)l;
}

const nn_layer_ops nn_global_avgpool_ops = {
    .setup = gap_setup, .init = no_init, .reserve = gap_reserve,
    .forward = gap_forward, .backward = gap_backward, .destroy = gap_destroy,
};
