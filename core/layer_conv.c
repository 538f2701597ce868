/*
 * layer_conv.c — 2-D convolution with a fused activation, lowered to matrix
 * products (im2col).
 *
 * Images are stored channel-last (layer.h), so a sample's patch for output
 * pixel p is kh * kw runs of C contiguous values, and the whole batch's
 * patches form one matrix cols [P, K] (P = B OH OW rows, K = kh kw C, in
 * (i, j, c) order).  The weights are PyTorch's [O, C, kh, kw]; each pass
 * rearranges them (O K values, tiny) into the (i, j, c) order it needs.
 *
 *   forward:   cols = im2col(x)                       [P, K] (and a column of ones)
 *              (P = OH OW rows of one sample at a time)
 *              z = cols wt + b,  y = f(z)             wt [K, O];  y [P, O] is the
 *                                                     channel-last output as it stands
 *   backward:  dz = dy * f'(z)                        (in place in dy)
 *              db = sum_p dz
 *              dwt = cols^T dz                        [K, O], then into dW [O, C, kh, kw]
 *              dcols = dz wp                          wp [O, K]; written over cols
 *              dx = col2im(dcols)                     (sums overlapping patches)
 *
 * Why this lowering: with channel-last rows every product reads both its
 * operands in place (libnn's kernel needs no copies).  A part (layer.h)
 * works one sample at a time: that sample's patches (OH OW rows, some ten
 * to a hundred kilobytes) stay in the cache between im2col and the
 * products, and are rebuilt in the backward pass rather than kept, so the
 * batch's patches never travel through memory.
 *
 * The weight gradient: each shard's share dwt_s is the sum of its samples'
 * products, added sample by sample in order (backward, on the part that has
 * the shard); the gradient is the shards' shares added in shard order (one
 * block, after every part's backward).  Both orders are the batch's, so the
 * result does not depend on the thread count.  conv_ref() below is the
 * direct convolution the tests compare with.
 *
 * Fused with the max pool after it (nn_conv2d_fuse_maxpool, which the model
 * applies when the windows do not overlap and f' follows from y), the layer
 * pools each sample's output while it is in the cache and stores only the
 * pooled values and the pool's choices: the full-size output never goes to
 * memory, nor does its gradient.  Backward, the pooled gradient goes through
 * f' at the pooled values (the chosen elements' outputs) and is spread over
 * the windows into the sample's dz.  The arithmetic is the two layers',
 * operation for operation, so the results are the same bit for bit.
 */
#include "act.h"
#include "gemm.h"
#include "layer.h"
#include "nn_math.h"

#include <stdlib.h>
#include <string.h>

typedef struct conv {
    int C, H, W, O, kh, kw, sh, sw, pt, pl, OH, OW, K;
    int KB;                  /* K, plus a column of ones when there is a bias */
    int tr;                  /* patches stored transposed (see im2col_t) */
    nn_act_kind act;
    double alpha;
    nn_real *cols;           /* per part: one sample's patches [OH OW, KB], then their gradient */
    nn_real *z;              /* pre-activations when f' needs them */
    nn_real *wt, *wp;        /* per part: [KB, O] (the bias its last row), [O, KB] */
    nn_real *dwt;            /* per shard: [KB, O], that shard's samples' share */
    int nparts, nshards;     /* what cols, wt, wp, zs and dwt hold */
    int fused;               /* pools its output (nn_conv2d_fuse_maxpool) */
    nn_window pw;            /* the pool's windows */
    int32_t *arg;            /* fused: the pool's choices, [B, pooled values] */
    nn_real *zs;             /* fused: per part, one sample's output before pooling */
    size_t cols_n, zs_n, w_n; /* per-part (per-shard for dwt) strides */
} conv;

/* Buffers with a slice per part (or shard) start on a cache line and every
 * slice takes whole lines, so that two threads never write the same line
 * (each writes its slice once per sample). */
static size_t whole_lines(size_t n)
{
    const size_t per_line = 64 / sizeof(nn_real);
    return (n + per_line - 1) / per_line * per_line;
}

static int slices(nn_real **p, int n, size_t each)
{
    free(*p);
    *p = aligned_alloc(64, (size_t)n * each * sizeof(nn_real));
    return *p ? NN_OK : NN_ENOMEM;
}

static int conv_setup(nn_layer *l, nn_err *e)
{
    char sh[64];
    const nn_layer_spec *s = &l->spec;
    if (l->in.rank != 3) {
        nn_shape_str(&l->in, sh, sizeof sh);
        return nn_errf_at(e, NN_EINVAL, l->index, "type",
                          "conv2d needs an image [channels, height, width], got %s", sh);
    }
    conv c = {.C = l->in.dim[0], .H = l->in.dim[1], .W = l->in.dim[2], .O = s->filters,
              .kh = s->kernel[0], .kw = s->kernel[1], .sh = s->stride[0] > 0 ? s->stride[0] : 1,
              .sw = s->stride[1] > 0 ? s->stride[1] : 1, .act = s->act,
              .alpha = nn_act_alpha(s->act, s->alpha)};
    if (c.O < 1)
        return nn_errf_at(e, NN_EINVAL, l->index, "filters", "filters must be at least 1");
    if (c.kh < 1 || c.kw < 1)
        return nn_errf_at(e, NN_EINVAL, l->index, "kernel", "the kernel must be at least 1x1");
    int ph = 0, pw = 0;   /* total padding */
    if (s->padding == NN_PAD_SAME) {
        if (c.sh != 1 || c.sw != 1)
            return nn_errf_at(e, NN_EINVAL, l->index, "padding",
                              "padding \"same\" needs stride 1 (as in PyTorch)");
        ph = c.kh - 1;
        pw = c.kw - 1;
        c.pt = ph / 2;   /* an odd total puts the extra row below, as PyTorch */
        c.pl = pw / 2;
    } else if (s->padding == NN_PAD_EXPLICIT) {
        if (s->pad[0] < 0 || s->pad[1] < 0)
            return nn_errf_at(e, NN_EINVAL, l->index, "padding", "padding must be >= 0");
        c.pt = s->pad[0];
        c.pl = s->pad[1];
        ph = 2 * s->pad[0];
        pw = 2 * s->pad[1];
    }
    if (c.kh > c.H + ph || c.kw > c.W + pw)
        return nn_errf_at(e, NN_EINVAL, l->index, "kernel",
                          "the %dx%d kernel is larger than the %dx%d input (with padding %dx%d)",
                          c.kh, c.kw, c.H, c.W, ph, pw);
    if (nn_act_is_rowwise(c.act))
        return nn_errf_at(e, NN_EINVAL, l->index, "activation",
                          "softmax runs over features; flatten the image first");
    c.OH = (c.H + ph - c.kh) / c.sh + 1;
    c.OW = (c.W + pw - c.kw) / c.sw + 1;
    c.K = c.kh * c.kw * c.C;
    c.KB = c.K + (s->use_bias ? 1 : 0);
    c.tr = c.kw * c.C < 16;
    if ((int64_t)c.K * c.O > ((int64_t)1 << 30))
        return nn_errf_at(e, NN_EINVAL, l->index, "filters", "more than 2^30 weights");
    conv *d = malloc(sizeof *d);
    if (!d)
        return NN_ENOMEM;
    *d = c;
    l->priv = d;
    l->out.rank = 3;
    l->out.dim[0] = c.O;
    l->out.dim[1] = c.OH;
    l->out.dim[2] = c.OW;
    size_t nw = (size_t)c.O * c.K;
    l->tensors[0] = (nn_layer_tensor){"weight", 4, {c.O, c.C, c.kh, c.kw}, 0, nw, 0};
    l->n_tensors = 1;
    l->n_param = nw;
    if (s->use_bias) {
        l->tensors[1] = (nn_layer_tensor){"bias", 1, {c.O}, nw, (size_t)c.O, 0};
        l->n_tensors = 2;
        l->n_param += (size_t)c.O;
    }
    return NN_OK;
}

static void conv_init(nn_layer *l, uint64_t seed)
{
    conv *d = l->priv;
    nn_init_kind k = l->spec.init;
    if (k == NN_INIT_DEFAULT) {
        nn_act_kind a = d->act;
        int relu_like = a == NN_ACT_RELU || a == NN_ACT_LEAKY_RELU || a == NN_ACT_ELU ||
                        a == NN_ACT_GELU;
        k = relu_like ? NN_INIT_HE_UNIFORM : NN_INIT_GLOROT_UNIFORM;
    }
    /* fans as PyTorch counts them: in C kh kw, out O kh kw */
    nn_init_weights(k, l->param, (size_t)d->O * d->K, d->K, d->O * d->kh * d->kw, seed, l->index);
    if (l->spec.use_bias)
        memset(l->param + (size_t)d->O * d->K, 0, (size_t)d->O * sizeof(nn_real));
}

static int conv_reserve(nn_layer *l, int B)
{
    conv *d = l->priv;
    size_t rows = (size_t)B * d->OH * d->OW;
    if (nn_act_needs_z(d->act)) {
        nn_real *z = realloc(d->z, rows * (size_t)d->O * sizeof *z);
        if (!z)
            return NN_ENOMEM;
        d->z = z;
    }
    if (d->fused) {
        int32_t *a = realloc(d->arg, (size_t)B * (size_t)l->act_size * sizeof *a);
        if (!a)
            return NN_ENOMEM;
        d->arg = a;
    }
    d->cols_n = whole_lines((size_t)d->OH * d->OW * d->KB);
    d->zs_n = whole_lines((size_t)d->OH * d->OW * d->O);
    d->w_n = whole_lines((size_t)d->O * d->KB);
    if (d->nparts < l->nparts) {
        /* per part: one sample's patches, the arranged weights, the unpooled output */
        if (slices(&d->cols, l->nparts, d->cols_n) || slices(&d->wt, l->nparts, d->w_n) ||
            slices(&d->wp, l->nparts, d->w_n) ||
            (d->fused && slices(&d->zs, l->nparts, d->zs_n)))
            return NN_ENOMEM;
        for (int p = 0; p < l->nparts; p++)   /* wp's bias column stays 0 */
            memset(d->wp + (size_t)p * d->w_n, 0, d->w_n * sizeof *d->wp);
        d->nparts = l->nparts;
    }
    if (d->nshards < l->shards) {
        /* one more slice than shards: the sum (conv_grad) */
        if (slices(&d->dwt, l->shards + 1, d->w_n))
            return NN_ENOMEM;
        d->nshards = l->shards;
    }
    return NN_OK;
}

/* The position of weight (o, c, i, j) in PyTorch's layout and in (i, j, c) order. */
static size_t w_torch(const conv *d, int o, int c, int i, int j)
{
    return (((size_t)o * d->C + c) * d->kh + i) * d->kw + j;
}

static size_t k_of(const conv *d, int c, int i, int j)
{
    return ((size_t)i * d->kw + j) * d->C + c;
}

/* wt [KB, O] and wp [O, KB] from the weights, in (i, j, c) order; the bias
 * is wt's last row, so that the product adds it (cols end in a column of
 * ones) and the weight gradient's product sums it (wp's last column stays 0).
 * Each part arranges its own copy (O KB values) rather than meet the others. */
static void arrange_weights(const conv *d, const nn_real *w, nn_real *wt, nn_real *wp)
{
    for (int o = 0; o < d->O; o++)
        for (int c = 0; c < d->C; c++)
            for (int i = 0; i < d->kh; i++)
                for (int j = 0; j < d->kw; j++) {
                    nn_real v = w[w_torch(d, o, c, i, j)];
                    size_t k = k_of(d, c, i, j);
                    wt[k * d->O + o] = v;
                    wp[(size_t)o * d->KB + k] = v;
                }
    if (d->KB > d->K)
        for (int o = 0; o < d->O; o++)
            wt[(size_t)d->K * d->O + o] = w[(size_t)d->O * d->K + o];
}

/* A pixel's C channels.  C is small (1 to a few hundred): a call to memcpy
 * per pixel would cost more than the copy, so the loop stays a loop (the
 * attribute keeps the compiler from turning it back into a call). */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_LIBCALL
#endif

NO_LIBCALL static inline void copy_pixel(nn_real *restrict dst, const nn_real *restrict src,
                                         size_t C)
{
    for (size_t c = 0; c < C; c++)
        dst[c] = src[c];
}

/* A kernel row of a patch: the kw pixels (ih, iw0 .. iw0 + kw - 1), which are
 * kw C contiguous values of the channel-last image when they all lie inside
 * it (zeros stand for the padding). */
NO_LIBCALL static inline void gather_run(const conv *d, const nn_real *restrict xrow, int iw0,
                                         nn_real *restrict r)
{
    const size_t C = (size_t)d->C;
    if (iw0 >= 0 && iw0 + d->kw <= d->W) {
        copy_pixel(r, xrow + (size_t)iw0 * C, (size_t)d->kw * C);
        return;
    }
    for (int j = 0; j < d->kw; j++, r += C) {
        int iw = iw0 + j;
        if (iw < 0 || iw >= d->W)
            for (size_t c = 0; c < C; c++)
                r[c] = 0;
        else
            copy_pixel(r, xrow + (size_t)iw * C, C);
    }
}

/* One sample's patches (channel-last image xb) into cols [OH OW, KB], one
 * kernel row of every patch of an output row at a time. */
NN_VECTORIZE NO_LIBCALL static void im2col(const conv *d, const nn_real *xb, nn_real *cols)
{
    const size_t KB = (size_t)d->KB, run = (size_t)d->kw * d->C;
    const size_t in_row = (size_t)d->W * d->C;
    for (int oh = 0; oh < d->OH; oh++) {
        nn_real *orow = cols + (size_t)oh * d->OW * KB;
        for (int i = 0; i < d->kh; i++) {
            int ih = oh * d->sh - d->pt + i;
            nn_real *r = orow + (size_t)i * run;
            if (ih < 0 || ih >= d->H) {
                for (int ow = 0; ow < d->OW; ow++, r += KB)
                    for (size_t k = 0; k < run; k++)
                        r[k] = 0;
                continue;
            }
            const nn_real *xrow = xb + (size_t)ih * in_row;
            for (int ow = 0; ow < d->OW; ow++, r += KB)
                gather_run(d, xrow, ow * d->sw - d->pl, r);
        }
        if (d->KB > d->K)
            for (int ow = 0; ow < d->OW; ow++)
                orow[(size_t)ow * KB + d->K] = 1;
    }
}

/* One sample's input gradient dxb from its dcols [OH OW, KB] (overlapping
 * patches add up), in im2col's order. */
NN_VECTORIZE NO_LIBCALL static void col2im(const conv *d, const nn_real *dcols, nn_real *dxb)
{
    const size_t C = (size_t)d->C, KB = (size_t)d->KB, run = (size_t)d->kw * C;
    const size_t in_row = (size_t)d->W * C;
    memset(dxb, 0, (size_t)d->H * in_row * sizeof *dxb);
    for (int oh = 0; oh < d->OH; oh++) {
        const nn_real *orow = dcols + (size_t)oh * d->OW * KB;
        for (int i = 0; i < d->kh; i++) {
            int ih = oh * d->sh - d->pt + i;
            if (ih < 0 || ih >= d->H)
                continue;
            const nn_real *r = orow + (size_t)i * run;
            nn_real *xrow = dxb + (size_t)ih * in_row;
            for (int ow = 0; ow < d->OW; ow++, r += KB) {
                int iw0 = ow * d->sw - d->pl;
                if (iw0 >= 0 && iw0 + d->kw <= d->W) {
                    nn_real *restrict t = xrow + (size_t)iw0 * C;
                    for (size_t k = 0; k < run; k++)
                        t[k] += r[k];
                    continue;
                }
                for (int j = 0; j < d->kw; j++) {
                    int iw = iw0 + j;
                    if (iw < 0 || iw >= d->W)
                        continue;
                    nn_real *t = xrow + (size_t)iw * C;
                    for (size_t c = 0; c < C; c++)
                        t[c] += r[(size_t)j * C + c];
                }
            }
        }
    }
}

/* Images with few channels (the first layer of a grayscale or colour
 * network) make kernel rows too short to copy well (3 values for a 3x3
 * kernel on one channel).  Their patches are stored transposed instead,
 * colsT [KB, OH OW]: the row for (i, j, c) holds that tap for every output
 * pixel, which for each output row is a run of OW values along an image row
 * (contiguous at stride 1 on one channel), and the products read colsT as
 * the transpose it is.  The last row is the bias's ones. */
/* The output columns [lo, hi) whose kernel column j falls inside the image
 * (the others read padding). */
static void tap_columns(const conv *d, int j, int *lo, int *hi)
{
    int a = 0, b = d->OW;
    while (a < b && a * d->sw - d->pl + j < 0)
        a++;
    while (b > a && (b - 1) * d->sw - d->pl + j >= d->W)
        b--;
    *lo = a;
    *hi = b;
}

NN_VECTORIZE NO_LIBCALL static void im2col_t(const conv *d, const nn_real *xb, nn_real *colsT)
{
    const size_t P = (size_t)d->OH * d->OW, C = (size_t)d->C;
    for (int i = 0; i < d->kh; i++)
        for (int j = 0; j < d->kw; j++) {
            int lo, hi;
            tap_columns(d, j, &lo, &hi);
            for (size_t c = 0; c < C; c++) {
                nn_real *row = colsT + (size_t)k_of(d, (int)c, i, j) * P;
                for (int oh = 0; oh < d->OH; oh++, row += d->OW) {
                    int ih = oh * d->sh - d->pt + i;
                    if (ih < 0 || ih >= d->H) {
                        for (int ow = 0; ow < d->OW; ow++)
                            row[ow] = 0;
                        continue;
                    }
                    const nn_real *src = xb + ((size_t)ih * d->W + j - d->pl) * C + c;
                    const size_t step = (size_t)d->sw * C;
                    for (int ow = 0; ow < lo; ow++)
                        row[ow] = 0;
                    if (step == 1)
                        copy_pixel(row + lo, src + lo, (size_t)(hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++)
                            row[ow] = src[(size_t)ow * step];
                    for (int ow = hi; ow < d->OW; ow++)
                        row[ow] = 0;
                }
            }
        }
    if (d->KB > d->K)
        for (size_t p = 0; p < P; p++)
            colsT[(size_t)d->K * P + p] = 1;
}

/* col2im for the transposed patches: dxb from dcolsT [K, OH OW]. */
NN_VECTORIZE static void col2im_t(const conv *d, const nn_real *dcolsT, nn_real *dxb)
{
    const size_t P = (size_t)d->OH * d->OW, C = (size_t)d->C;
    memset(dxb, 0, (size_t)d->H * d->W * C * sizeof *dxb);
    for (int i = 0; i < d->kh; i++)
        for (int j = 0; j < d->kw; j++) {
            int lo, hi;
            tap_columns(d, j, &lo, &hi);
            for (size_t c = 0; c < C; c++) {
                const nn_real *row = dcolsT + (size_t)k_of(d, (int)c, i, j) * P;
                for (int oh = 0; oh < d->OH; oh++, row += d->OW) {
                    int ih = oh * d->sh - d->pt + i;
                    if (ih < 0 || ih >= d->H)
                        continue;
                    nn_real *dst = dxb + ((size_t)ih * d->W + j - d->pl) * C + c;
                    const size_t step = (size_t)d->sw * C;
                    for (int ow = lo; ow < hi; ow++)
                        dst[(size_t)ow * step] += row[ow];
                }
            }
        }
}

/* Sample b: patches, product, activation (and the fused pool).  One
 * sample's patches fit in the cache, so they are never written to memory. */
static void fwd_sample(nn_layer *l, int part, const nn_real *x, nn_real *yout, int b)
{
    conv *d = l->priv;
    const size_t P = (size_t)d->OH * d->OW, in_n = (size_t)d->H * d->W * d->C;
    const int O = d->O;
    nn_real *cols = d->cols + (size_t)part * d->cols_n, *wt = d->wt + (size_t)part * d->w_n;
    nn_real *z = (d->z ? d->z : yout) + (size_t)b * P * O, *y = yout + (size_t)b * P * O;
    if (d->fused)
        z = y = d->zs + (size_t)part * d->zs_n;
    if (d->tr) {
        im2col_t(d, x + b * in_n, cols);
        nn_gemm(1, 0, (int)P, O, d->KB, 1, cols, (int)P, wt, O, 0, z, O);
    } else {
        im2col(d, x + b * in_n, cols);
        nn_gemm(0, 0, (int)P, O, d->KB, 1, cols, d->KB, wt, O, 0, z, O);
    }
    nn_act_forward(d->act, d->alpha, z, y, (int)P, O, O);
    if (d->fused) {
        const size_t pn = (size_t)l->act_size;
        nn_maxpool_sample(&d->pw, y, yout + b * pn, d->arg + b * pn);
    }
}

static void conv_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    conv *d = l->priv;
    if (r->hi <= r->lo)
        return;
    arrange_weights(d, l->param, d->wt + (size_t)r->part * d->w_n,
                    d->wp + (size_t)r->part * d->w_n);
    for (int b = r->lo; b < r->hi; b++)
        fwd_sample(l, r->part, x, y, b);
}

/* Sample b's backward pass: dz (in place in dy), its term of the shard's
 * share dwt of the weight gradient (added to it unless first; cols rebuilt
 * rather than stored), and its input gradient. */
static void bwd_sample(nn_layer *l, int part, const nn_real *x, const nn_real *y, nn_real *dy,
                       nn_real *dx, int b, nn_real *dwt, int first)
{
    conv *d = l->priv;
    const size_t P = (size_t)d->OH * d->OW, in_n = (size_t)d->H * d->W * d->C;
    const int O = d->O;
    nn_real *cols = d->cols + (size_t)part * d->cols_n;
    const nn_real *wt = d->wt + (size_t)part * d->w_n, *wp = d->wp + (size_t)part * d->w_n;
    size_t r0 = (size_t)b * P * O;
    nn_real *dz = dy + r0;
    if (d->fused) {
        /* dy is the pooled output's: through the activation there (its
         * derivative from the pooled value, which is the chosen one's),
         * then spread over the windows */
        const size_t pn = (size_t)l->act_size;
        nn_real *g = dy + b * pn;
        nn_act_backward(d->act, d->alpha, NULL, y + b * pn, g, g, d->pw.OH * d->pw.OW, O, O);
        dz = d->zs + (size_t)part * d->zs_n;
        nn_maxpool_sample_bwd(&d->pw, d->arg + b * pn, g, dz);
    } else {
        nn_act_backward(d->act, d->alpha, d->z ? d->z + r0 : NULL, y + r0, dz, dz, (int)P, O,
                        O);
    }
    if (d->tr) {
        im2col_t(d, x + b * in_n, cols);
        nn_gemm(0, 0, d->KB, O, (int)P, 1, cols, (int)P, dz, O, first ? 0 : 1, dwt, O);
        if (dx) {
            nn_gemm(0, 1, d->K, (int)P, O, 1, wt, O, dz, O, 0, cols, (int)P);
            col2im_t(d, cols, dx + b * in_n);
        }
        return;
    }
    im2col(d, x + b * in_n, cols);
    nn_gemm(1, 0, d->KB, O, (int)P, 1, cols, d->KB, dz, O, first ? 0 : 1, dwt, O);
    if (dx) {
        nn_gemm(0, 0, (int)P, d->KB, O, 1, dz, O, wp, d->KB, 0, cols, d->KB);
        col2im(d, cols, dx + b * in_n);
    }
}

/* The part's shards, sample by sample; each shard's share of the weight
 * gradient sums its samples in order. */
static void conv_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                          nn_real *dy, nn_real *dx)
{
    conv *d = l->priv;
    const int *bound = r->pass->bound;
    for (int s = r->s0; s < r->s1; s++) {
        nn_real *dwt = d->dwt + (size_t)s * d->w_n;
        for (int b = bound[s]; b < bound[s + 1]; b++)
            bwd_sample(l, r->part, x, y, dy, dx, b, dwt, b == bound[s]);
    }
}

static int conv_n_blocks(const nn_layer *l)
{
    (void)l;
    return 1;
}

static double conv_block(const nn_layer *l, int b, nn_range *ranges, int *n)
{
    (void)b;
    const conv *d = l->priv;
    ranges[0] = (nn_range){0, l->n_param};
    *n = 1;
    return (double)d->O * d->KB;   /* a sum of the shards' shares per sample */
}

/* dW and db: the shards' shares added in shard order (empty shards have
 * none), from (i, j, c) order into PyTorch's layout. */
static void conv_grad(nn_layer *l, const nn_pass *p, int b0, int b1, const nn_real *x,
                      const nn_real *y, const nn_real *dy)
{
    (void)b0, (void)b1, (void)x, (void)y, (void)dy;
    conv *d = l->priv;
    const int O = d->O;
    const size_t nw = (size_t)d->KB * O;
    nn_real *sum = d->dwt + (size_t)p->S * d->w_n;   /* the spare slice past the shards */
    memset(sum, 0, nw * sizeof *sum);
    for (int s = 0; s < p->S; s++) {
        if (p->bound[s + 1] <= p->bound[s])
            continue;
        const nn_real *part = d->dwt + (size_t)s * d->w_n;
        for (size_t k = 0; k < nw; k++)
            sum[k] += part[k];
    }
    nn_real *dW = l->grad;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < d->C; c++)
            for (int i = 0; i < d->kh; i++)
                for (int j = 0; j < d->kw; j++)
                    dW[w_torch(d, o, c, i, j)] = sum[k_of(d, c, i, j) * O + o];
    if (l->spec.use_bias) {
        /* the last row of the shares: the sums of dz over the rows */
        nn_real *db = l->grad + (size_t)O * d->K;
        for (int o = 0; o < O; o++)
            db[o] = sum[(size_t)d->K * O + o];
    }
}

static void conv_flops(const nn_layer *l, int need_dx, double *fwd, double *bwd)
{
    const conv *d = l->priv;
    double f = 2.0 * d->OH * d->OW * (double)d->K * d->O;
    *fwd = f;
    *bwd = need_dx ? 2 * f : f;
}

static void conv_destroy(nn_layer *l)
{
    conv *d = l->priv;
    if (d) {
        free(d->cols);
        free(d->z);
        free(d->wt);
        free(d->wp);
        free(d->dwt);
        free(d->arg);
        free(d->zs);
    }
    free(d);
    l->priv = NULL;
}

int nn_conv2d_fuse_maxpool(nn_layer *l, nn_layer *pl)
{
    const nn_window *w = nn_maxpool_window(pl);
    if (l->ops != &nn_conv2d_ops || !w || pl->fused)
        return 0;
    conv *d = l->priv;
    /* one window per output value at most, so that each value's gradient
     * is one product, as without fusion; f' from y (the pooled value) */
    if (w->sh < w->kh || w->sw < w->kw || nn_act_needs_z(d->act))
        return 0;
    d->fused = 1;
    d->pw = *w;
    l->act_size = pl->out_size;
    pl->fused = 1;
    return 1;
}

const nn_layer_ops nn_conv2d_ops = {
    .setup = conv_setup,
    .init = conv_init,
    .reserve = conv_reserve,
    .forward = conv_forward,
    .backward = conv_backward,
    .n_blocks = conv_n_blocks,
    .block = conv_block,
    .grad = conv_grad,
    .destroy = conv_destroy,
    .flops = conv_flops,
};

/* ---------------------------------------------------------------------------
 * The reference: a direct convolution on channel-first data, for the tests. */

void nn_conv2d_ref(const nn_real *x, const nn_real *w, const nn_real *bias, nn_real *y, int B,
                   int C, int H, int W, int O, int kh, int kw, int sh, int sw, int pt, int pl,
                   int OH, int OW)
{
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = bias ? bias[o] : 0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int ih = oh * sh - pt + i, iw = ow * sw - pl + j;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                s += (double)x[(((size_t)b * C + c) * H + ih) * W + iw] *
                                     w[(((size_t)o * C + c) * kh + i) * kw + j];
                            }
                    y[(((size_t)b * O + o) * OH + oh) * OW + ow] = (nn_real)s;
                }
}
