/*
 * layer_rnn.c — the recurrent layers rnn (Elman), lstm and gru, trained by
 * backpropagation through time.  Tensors, gate order and formulas are
 * PyTorch's (nn.RNN, nn.LSTM, nn.GRU with one layer and batch_first), so
 * that exported weights load into those modules.
 *
 * x [B, T, F] -> h [B, T, H] (return_sequences) or h_{T-1} [B, H].  G gate
 * blocks of H rows: rnn 1, lstm 4 (i, f, g, o), gru 3 (r, z, n).
 *   weight_ih_l0 [G*H, F], weight_hh_l0 [G*H, H], bias_ih_l0 [G*H], bias_hh_l0 [G*H]
 *
 *   rnn:   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)        act: tanh or relu
 *   lstm:  a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh = [a_i a_f a_g a_o]
 *          i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
 *          c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)
 *   gru:   r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr);  z likewise
 *          n = tanh(W_in x_t + b_in + r (W_hn h_{t-1} + b_hn))
 *          h_t = (1 - z) n + z h_{t-1}
 * with h_{-1} = c_{-1} = 0.
 *
 * Forward, per step: P_t = x_t W_ih^T, then P_t += h_{t-1} W_hh^T (products
 * over the part's rows, while P_t is in the cache) and the gate math, which
 * leaves the activated gates in P (and c_t, tanh c_t for lstm; W_hn h + b_hn
 * for gru) for backward.  The weights are copied transposed first, so every
 * product reads its right operand's rows contiguously.
 *
 * Backward walks t down.  At each step the gate math turns dh_t (from the
 * output and from step t+1) into dA_t, the gradient of the pre-activations,
 * in place of the gates; dh_{t-1} = dA_t W_hh (gru: plus dh_t z, with the n
 * block's recurrent gradient dA_hn = dA_n r), and dx_t = dA_t W_ih.  Then
 * two products over all rows: dW_ih = dA^T x, dW_hh = dA^T h_prev (in
 * chunks of rows that stay in the cache).  No step allocates.  Memory is batch-
 * major ([b, t] rows), so h_prev of row (b, t) is the row before it, except
 * at t = 0, whose rows are zeroed before the dW_hh product (h_{-1} = 0).
 *
 * Truncated BPTT (bptt = k > 0): the steps are cut into chunks [0, k),
 * [k, 2k), ... and the state entering a chunk is a constant, as when a
 * PyTorch loop detaches h (and c) between chunks: every step's gradient
 * comes from the outputs of its own chunk, the weight gradients keep all
 * their terms (with the constant state), and nothing flows from step jk to
 * step jk - 1.
 *
 * Threading (layer.h): rows never mix, so a part runs its rows through all
 * steps alone, no meeting per step.  The weight gradients come in blocks of
 * GATE_ALIGN gate rows, each from all B T rows of the batch in row order
 * (in chunks of K_CHUNK rows, fixed by the batch), so the bits do not
 * depend on the thread count.  The transposed weights are prepared before
 * each pass, split between the parts by gate rows.
 */
#include "gemm.h"
#include "layer.h"
#include "nn_math.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GATE_ALIGN 16   /* gate rows per split unit of the weight gradients */
#define K_CHUNK 128     /* rows per pass of the weight-gradient products */

typedef struct rnn {
    nn_layer_kind kind;
    nn_act_kind act;        /* rnn: tanh or relu */
    int G, H, F, T, GH;
    int use_bias, seq, bptt;
    nn_real *wih_t;         /* [F, GH]: W_ih^T */
    nn_real *whh_t;         /* [H, GH]: W_hh^T */
    nn_real *bsum;          /* [GH]: b_ih + b_hh (gru's n block: b_in only) */
    nn_real *bhn;           /* [H]: gru's b_hn */
    nn_real *zero;          /* [H] zeros: h_{-1}, c_{-1} */
    /* sized by reserve() */
    nn_real *P;             /* [B, T, GH] pre-activations, then gates, then dA */
    nn_real *hs;            /* [B, T, H] states when the output is the last step only */
    nn_real *cs, *tc;       /* lstm: c_t and tanh c_t [B, T, H] */
    nn_real *hn;            /* gru: W_hn h_{t-1} + b_hn, then its gradient [B, T, H] */
    nn_real *dh, *dc;       /* [B, H] gradients carried to the step before */
} rnn;

/* What the passes' functions share: the layer and its operands. */
typedef struct rnn_task {
    nn_layer *l;
    const nn_real *x;
    nn_real *y;             /* forward output */
    const nn_real *hs;      /* the states [B, T, H] */
    const nn_real *dy;
    nn_real *dx;
    int B;                  /* the whole batch (weight gradients) */
} rnn_task;

/* ---------------------------------------------------------------------------
 * Element-wise functions.  In float, e^x by range reduction and a polynomial
 * that compilers vectorize (libm's expf is a call per value); relative error
 * about 1e-7.  The double build uses libm. */

#ifdef NN_DOUBLE
static inline nn_real sigm(nn_real x) { return 1 / (1 + exp(-x)); }
static inline nn_real tanh_r(nn_real x) { return tanh(x); }
#else
static inline __attribute__((always_inline)) float exp_poly(float x)
{
    /* e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 in two
     * parts, so r is exact), |r| <= 0.35; e^r by Taylor to r^7 (error < 6e-9) */
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = x * 1.44269504f + 12582912.0f;   /* 1.5 * 2^23: rounds to an integer */
    n -= 12582912.0f;
    float r = x - n * 0.693359375f;
    r -= n * -2.12194440e-4f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

static inline __attribute__((always_inline)) float sigm(float x)
{
    return 1 / (1 + exp_poly(-x));
}

static inline __attribute__((always_inline)) float tanh_r(float x)
{
    /* (1 - e^-2a) / (1 + e^-2a) loses relative precision near 0, where the
     * series a - a^3/3 + 2a^5/15 - 17a^7/315 is good to 3e-9 */
    float a = fabsf(x), a2 = a * a;
    float e = exp_poly(-2 * a);
    float t = (1 - e) / (1 + e);
    float s = a + a * a2 * (-1.0f / 3 + a2 * (2.0f / 15 + a2 * (-17.0f / 315)));
    t = a < 0.125f ? s : t;
    return copysignf(t, x);
}
#endif

/* Gate math of one row (H units).  a: the row of P; bias: bsum (NULL-free:
 * zeros when the layer has no bias). */

NN_VECTORIZE
static void rnn_fwd_row(int H, int relu, nn_real *restrict a, const nn_real *restrict bias,
                        nn_real *restrict h)
{
    if (relu)
        for (int j = 0; j < H; j++) {
            nn_real v = a[j] + bias[j];
            h[j] = v > 0 ? v : 0;
        }
    else
        for (int j = 0; j < H; j++)
            h[j] = tanh_r(a[j] + bias[j]);
}

NN_VECTORIZE
static void lstm_fwd_row(int H, nn_real *restrict a, const nn_real *restrict bias,
                         const nn_real *restrict cp, nn_real *restrict c, nn_real *restrict tc,
                         nn_real *restrict h)
{
    for (int j = 0; j < H; j++) {
        nn_real i = sigm(a[j] + bias[j]);
        nn_real f = sigm(a[H + j] + bias[H + j]);
        nn_real g = tanh_r(a[2 * H + j] + bias[2 * H + j]);
        nn_real o = sigm(a[3 * H + j] + bias[3 * H + j]);
        nn_real cj = f * cp[j] + i * g;
        nn_real t = tanh_r(cj);
        a[j] = i;
        a[H + j] = f;
        a[2 * H + j] = g;
        a[3 * H + j] = o;
        c[j] = cj;
        tc[j] = t;
        h[j] = o * t;
    }
}

/* hn_in: W_hn h_{t-1} (zeros at t = 0); hn_out gets hn_in + b_hn (may be hn_in). */
NN_VECTORIZE
static void gru_fwd_row(int H, nn_real *restrict a, const nn_real *restrict bias,
                        const nn_real *restrict bhn, const nn_real *hn_in, nn_real *hn_out,
                        const nn_real *restrict hp, nn_real *restrict h)
{
    for (int j = 0; j < H; j++) {
        nn_real r = sigm(a[j] + bias[j]);
        nn_real z = sigm(a[H + j] + bias[H + j]);
        nn_real hn = hn_in[j] + bhn[j];
        nn_real n = tanh_r(a[2 * H + j] + bias[2 * H + j] + r * hn);
        a[j] = r;
        a[H + j] = z;
        a[2 * H + j] = n;
        hn_out[j] = hn;
        h[j] = (1 - z) * n + z * hp[j];
    }
}

/* dA = dh act'(h), in the row of P */
NN_VECTORIZE
static void rnn_bwd_row(int H, int relu, nn_real *restrict a, const nn_real *restrict h,
                        const nn_real *restrict dh)
{
    if (relu)
        for (int j = 0; j < H; j++)
            a[j] = h[j] > 0 ? dh[j] : 0;
    else
        for (int j = 0; j < H; j++)
            a[j] = dh[j] * (1 - h[j] * h[j]);
}

/*   dc_t = dc + dh o (1 - tanh^2 c_t);  do = dh tanh c_t
 *   di = dc_t g;  df = dc_t c_{t-1};  dg = dc_t i;  dc_{t-1} = dc_t f
 * then through the gates' derivatives; dc becomes dc_{t-1}. */
NN_VECTORIZE
static void lstm_bwd_row(int H, nn_real *restrict a, const nn_real *restrict cp,
                         const nn_real *restrict tc, const nn_real *restrict dh,
                         nn_real *restrict dc)
{
    for (int j = 0; j < H; j++) {
        nn_real i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], t = tc[j];
        nn_real d = dc[j] + dh[j] * o * (1 - t * t);
        a[j] = d * g * i * (1 - i);
        a[H + j] = d * cp[j] * f * (1 - f);
        a[2 * H + j] = d * i * (1 - g * g);
        a[3 * H + j] = dh[j] * t * o * (1 - o);
        dc[j] = d * f;
    }
}

/*   dn = dh (1 - z);  dz = dh (h_{t-1} - n);  dA_n = dn (1 - n^2)
 *   dA_hn = dA_n r  (into hn);  dr = dA_n (W_hn h + b_hn)
 * dh becomes dh z, the direct part of dh_{t-1}. */
NN_VECTORIZE
static void gru_bwd_row(int H, nn_real *restrict a, nn_real *restrict hn,
                        const nn_real *restrict hp, nn_real *restrict dh)
{
    for (int j = 0; j < H; j++) {
        nn_real r = a[j], z = a[H + j], n = a[2 * H + j], d = dh[j];
        nn_real dan = d * (1 - z) * (1 - n * n);
        a[j] = dan * hn[j] * r * (1 - r);
        a[H + j] = d * (hp[j] - n) * z * (1 - z);
        a[2 * H + j] = dan;
        hn[j] = dan * r;
        dh[j] = d * z;
    }
}

/* ---------------------------------------------------------------------------
 * Setup and initialisation */

static int rnn_setup(nn_layer *l, nn_err *e)
{
    char sh[64];
    const nn_layer_spec *s = &l->spec;
    const char *name = nn_layer_kind_name(s->kind);
    if (l->in.rank != 2) {
        nn_shape_str(&l->in, sh, sizeof sh);
        return nn_errf_at(e, NN_EINVAL, l->index, "type",
                          "%s needs an input of [time, features], got %s", name, sh);
    }
    if (s->units < 1)
        return nn_errf_at(e, NN_EINVAL, l->index, "units", "units must be at least 1, got %d",
                          s->units);
    nn_act_kind act = s->act;
    if (s->kind == NN_LAYER_RNN) {
        if (act == NN_ACT_LINEAR)
            act = NN_ACT_TANH;
        if (act != NN_ACT_TANH && act != NN_ACT_RELU)
            return nn_errf_at(e, NN_EINVAL, l->index, "activation",
                              "rnn's activation must be tanh or relu, got %s", nn_act_name(act));
    } else if (act != NN_ACT_LINEAR) {
        return nn_errf_at(e, NN_EINVAL, l->index, "activation",
                          "%s has no activation option (its gates are fixed), got %s", name,
                          nn_act_name(act));
    }
    if (s->bptt < 0)
        return nn_errf_at(e, NN_EINVAL, l->index, "bptt",
                          "bptt must be 0 (full) or a number of steps, got %d", s->bptt);
    int G = s->kind == NN_LAYER_LSTM ? 4 : s->kind == NN_LAYER_GRU ? 3 : 1;
    int T = l->in.dim[0], F = l->in.dim[1], H = s->units;
    if ((int64_t)G * H * ((int64_t)F + H) > ((int64_t)1 << 30))
        return nn_errf_at(e, NN_EINVAL, l->index, "units",
                          "%d units on %d inputs is more than 2^30 weights", H, F);
    rnn *r = calloc(1, sizeof *r);
    if (!r)
        return NN_ENOMEM;
    l->priv = r;
    r->kind = s->kind;
    r->act = act;
    r->G = G;
    r->H = H;
    r->F = F;
    r->T = T;
    r->GH = G * H;
    r->use_bias = s->use_bias;
    r->seq = s->return_sequences != 0;
    r->bptt = s->bptt >= T ? 0 : s->bptt;
    size_t GH = (size_t)r->GH;
    r->wih_t = malloc(GH * (size_t)F * sizeof *r->wih_t);
    r->whh_t = malloc(GH * (size_t)H * sizeof *r->whh_t);
    r->bsum = calloc(GH, sizeof *r->bsum);
    r->bhn = calloc((size_t)H, sizeof *r->bhn);
    r->zero = calloc((size_t)H, sizeof *r->zero);
    if (!r->wih_t || !r->whh_t || !r->bsum || !r->bhn || !r->zero)
        return NN_ENOMEM;

    if (r->seq) {
        l->out.rank = 2;
        l->out.dim[0] = T;
        l->out.dim[1] = H;
    } else {
        l->out.rank = 1;
        l->out.dim[0] = H;
    }
    size_t off = 0;
    l->tensors[0] = (nn_layer_tensor){"weight_ih_l0", 2, {r->GH, F}, off, GH * F, 0};
    off += GH * F;
    l->tensors[1] = (nn_layer_tensor){"weight_hh_l0", 2, {r->GH, H}, off, GH * H, 0};
    off += GH * H;
    l->n_tensors = 2;
    if (s->use_bias) {
        l->tensors[2] = (nn_layer_tensor){"bias_ih_l0", 1, {r->GH}, off, GH, 0};
        off += GH;
        l->tensors[3] = (nn_layer_tensor){"bias_hh_l0", 1, {r->GH}, off, GH, 0};
        off += GH;
        l->n_tensors = 4;
    }
    l->n_param = off;
    return NN_OK;
}

/* Default (as PyTorch): every tensor uniform in (-1/sqrt(H), 1/sqrt(H)).
 * Otherwise the named initializer on both weight matrices (fan_in F or H,
 * fan_out G*H) and zero biases.  One stream per layer (seed, 1000 + index),
 * drawn in tensor order. */
static void rnn_init(nn_layer *l, uint64_t seed)
{
    rnn *r = l->priv;
    nn_rng g;
    nn_rng_seed(&g, seed, 1000 + (uint64_t)l->index);
    nn_init_kind k = l->spec.init;
    nn_real *p = l->param;
    if (k == NN_INIT_DEFAULT) {
        double bound = 1 / sqrt((double)r->H);
        for (size_t i = 0; i < l->n_param; i++)
            p[i] = (nn_real)(bound * (2 * nn_rng_uniform(&g) - 1));
        return;
    }
    memset(p, 0, l->n_param * sizeof *p);
    if (k == NN_INIT_ZEROS)
        return;
    for (int m = 0; m < 2; m++) {
        int fan_in = m == 0 ? r->F : r->H;
        size_t n = (size_t)r->GH * fan_in, o = m == 0 ? 0 : (size_t)r->GH * r->F;
        double fan = k == NN_INIT_HE_UNIFORM || k == NN_INIT_HE_NORMAL ? fan_in
                                                                        : (double)fan_in + r->GH;
        double std = sqrt(2.0 / fan), bound = sqrt(6.0 / fan);
        int normal = k == NN_INIT_HE_NORMAL || k == NN_INIT_GLOROT_NORMAL;
        for (size_t i = 0; i < n; i++)
            p[o + i] = (nn_real)(normal ? std * nn_rng_normal(&g)
                                        : bound * (2 * nn_rng_uniform(&g) - 1));
    }
}

static int grow(nn_real **p, size_t n)
{
    nn_real *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (!q)
        return NN_ENOMEM;
    *p = q;
    return NN_OK;
}

static int rnn_reserve(nn_layer *l, int B)
{
    rnn *r = l->priv;
    size_t bt = (size_t)B * r->T, bth = bt * r->H;
    if (grow(&r->P, bt * r->GH) || grow(&r->dh, (size_t)B * r->H) ||
        grow(&r->dc, (size_t)B * r->H))
        return NN_ENOMEM;
    if (!r->seq && grow(&r->hs, bth))
        return NN_ENOMEM;
    if (r->kind == NN_LAYER_LSTM && (grow(&r->cs, bth) || grow(&r->tc, bth)))
        return NN_ENOMEM;
    if (r->kind == NN_LAYER_GRU && grow(&r->hn, bth))
        return NN_ENOMEM;
    return NN_OK;
}

/* ---------------------------------------------------------------------------
 * Forward */

/* dst[k * GH + g] = src[g * K + k] for gate rows g in [lo, hi), in 16 x 16
 * blocks (a column of dst spans K lines GH apart, which a plain loop evicts
 * from the cache before it fills them) */
static void transpose_rows(const nn_real *src, int K, int lo, int hi, nn_real *dst, int GH)
{
    for (int g0 = lo; g0 < hi; g0 += 16)
        for (int k0 = 0; k0 < K; k0 += 16) {
            int g1 = g0 + 16 < hi ? g0 + 16 : hi, k1 = k0 + 16 < K ? k0 + 16 : K;
            for (int k = k0; k < k1; k++)
                for (int g = g0; g < g1; g++)
                    dst[(size_t)k * GH + g] = src[(size_t)g * K + k];
        }
}

/* The transposed weights and summed biases, split by gate rows. */
static void rnn_prepare(nn_layer *l, int part, int nparts)
{
    rnn *r = l->priv;
    const int GH = r->GH, F = r->F, H = r->H;
    int lo, hi;
    nn_split(GH, part, nparts, GATE_ALIGN, &lo, &hi);
    const nn_real *wih = l->param, *whh = l->param + (size_t)GH * F;
    transpose_rows(wih, F, lo, hi, r->wih_t, GH);
    transpose_rows(whh, H, lo, hi, r->whh_t, GH);
    if (!r->use_bias)
        return;
    const nn_real *bih = whh + (size_t)GH * H, *bhh = bih + GH;
    for (int g = lo; g < hi; g++) {
        if (r->kind == NN_LAYER_GRU && g >= 2 * H) {
            r->bsum[g] = bih[g];
            r->bhn[g - 2 * H] = bhh[g];
        } else {
            r->bsum[g] = bih[g] + bhh[g];
        }
    }
}

/* Rows [lo, hi) through every step. */
static void fwd_rows(rnn_task *t, int lo, int hi)
{
    rnn *r = t->l->priv;
    const int T = r->T, F = r->F, H = r->H, GH = r->GH;
    const int rows = hi - lo;
    if (rows <= 0)
        return;
    nn_real *hs = (nn_real *)t->hs;
    const size_t lda_h = (size_t)T * H, lda_p = (size_t)T * GH;
    for (int s = 0; s < T; s++) {
        nn_real *Ps = r->P + ((size_t)lo * T + s) * GH;
        /* P_s = x_s W_ih^T: [rows, F] x [F, GH], step by step so that P_s is
         * in the cache for what follows */
        nn_gemm(0, 0, rows, GH, F, 1, t->x + ((size_t)lo * T + s) * F, T * F, r->wih_t, GH, 0,
                Ps, (int)lda_p);
        if (s > 0) {
            const nn_real *hp = hs + ((size_t)lo * T + s - 1) * H;
            /* P_s += h_{s-1} W_hh^T: [rows, H] x [H, GH] (gru: the n block apart) */
            if (r->kind == NN_LAYER_GRU) {
                nn_gemm(0, 0, rows, 2 * H, H, 1, hp, (int)lda_h, r->whh_t, GH, 1, Ps, (int)lda_p);
                nn_gemm(0, 0, rows, H, H, 1, hp, (int)lda_h, r->whh_t + 2 * H, GH, 0,
                        r->hn + ((size_t)lo * T + s) * H, (int)lda_h);
            } else {
                nn_gemm(0, 0, rows, GH, H, 1, hp, (int)lda_h, r->whh_t, GH, 1, Ps, (int)lda_p);
            }
        }
        for (int b = lo; b < hi; b++) {
            size_t row = (size_t)b * T + s;
            nn_real *a = r->P + row * GH, *h = hs + row * H;
            const nn_real *hprev = s > 0 ? h - H : r->zero;
            switch (r->kind) {
            case NN_LAYER_LSTM:
                lstm_fwd_row(H, a, r->bsum, s > 0 ? r->cs + (row - 1) * H : r->zero,
                             r->cs + row * H, r->tc + row * H, h);
                break;
            case NN_LAYER_GRU:
                gru_fwd_row(H, a, r->bsum, r->bhn, s > 0 ? r->hn + row * H : r->zero,
                            r->hn + row * H, hprev, h);
                break;
            default:
                rnn_fwd_row(H, r->act == NN_ACT_RELU, a, r->bsum, h);
                break;
            }
        }
    }
    if (!r->seq)
        for (int b = lo; b < hi; b++)
            memcpy(t->y + (size_t)b * H, hs + ((size_t)b * T + T - 1) * H, (size_t)H * sizeof *t->y);
}

static void rnn_forward(nn_layer *l, const nn_rows *rw, const nn_real *x, nn_real *y)
{
    rnn *r = l->priv;
    rnn_task t = {.l = l, .x = x, .y = y, .hs = r->seq ? y : r->hs, .B = rw->pass->B};
    int lo, hi;
    for (int i = 0; nn_rows_block(rw, i, &lo, &hi); i++)
        fwd_rows(&t, lo, hi);
}

/* ---------------------------------------------------------------------------
 * Backward */

/* The steps, last to first, for rows [lo, hi); then dx = dA W_ih. */
static void bwd_rows(rnn_task *t, int lo, int hi)
{
    nn_layer *l = t->l;
    rnn *r = l->priv;
    const int T = r->T, F = r->F, H = r->H, GH = r->GH;
    const int rows = hi - lo;
    if (rows <= 0)
        return;
    const nn_real *wih = l->param, *whh = l->param + (size_t)GH * F;
    nn_real *dh = r->dh + (size_t)lo * H, *dc = r->dc + (size_t)lo * H;
    const size_t lda_h = (size_t)T * H, lda_p = (size_t)T * GH;
    memset(dh, 0, (size_t)rows * H * sizeof *dh);
    memset(dc, 0, (size_t)rows * H * sizeof *dc);
    for (int s = T - 1; s >= 0; s--) {
        for (int b = lo; b < hi; b++) {
            size_t row = (size_t)b * T + s;
            nn_real *d = r->dh + (size_t)b * H;
            const nn_real *g = r->seq ? t->dy + row * H : s == T - 1 ? t->dy + (size_t)b * H : NULL;
            if (g)
                for (int j = 0; j < H; j++)
                    d[j] += g[j];
            nn_real *a = r->P + row * GH;
            const nn_real *h = t->hs + row * H;
            switch (r->kind) {
            case NN_LAYER_LSTM:
                lstm_bwd_row(H, a, s > 0 ? r->cs + (row - 1) * H : r->zero, r->tc + row * H, d,
                             r->dc + (size_t)b * H);
                break;
            case NN_LAYER_GRU:
                gru_bwd_row(H, a, r->hn + row * H, s > 0 ? h - H : r->zero, d);
                break;
            default:
                rnn_bwd_row(H, r->act == NN_ACT_RELU, a, h, d);
                break;
            }
        }
        /* dx_s = dA_s W_ih: [rows, GH] x [GH, F], while dA_s is in the cache */
        const nn_real *As = r->P + ((size_t)lo * T + s) * GH;
        if (t->dx)
            nn_gemm(0, 0, rows, F, GH, 1, As, (int)lda_p, wih, F, 0,
                    t->dx + ((size_t)lo * T + s) * F, T * F);
        if (s == 0 || (r->bptt > 0 && s % r->bptt == 0)) {
            /* h_{s-1} is the chunk's constant initial state */
            memset(dh, 0, (size_t)rows * H * sizeof *dh);
            memset(dc, 0, (size_t)rows * H * sizeof *dc);
            continue;
        }
        /* dh_{s-1} = dA_s W_hh: [rows, GH] x [GH, H] (gru: dh z + [dA_r dA_z dA_hn] W_hh) */
        if (r->kind == NN_LAYER_GRU) {
            nn_gemm(0, 0, rows, H, 2 * H, 1, As, (int)lda_p, whh, H, 1, dh, H);
            nn_gemm(0, 0, rows, H, H, 1, r->hn + ((size_t)lo * T + s) * H, (int)lda_h,
                    whh + (size_t)2 * H * H, H, 1, dh, H);
        } else {
            nn_gemm(0, 0, rows, H, GH, 1, As, (int)lda_p, whh, H, 0, dh, H);
        }
    }
}

/* C[M, N] = A^T B, A [K, M], B [K, N], in chunks of K_CHUNK rows added in
 * order: a chunk of A and B stays in the cache while every tile of C passes
 * over it (one pass over all K streams A from memory per tile column). */
static void gemm_tn(int M, int N, int K, const nn_real *A, int lda, const nn_real *B, int ldb,
                    nn_real *C, int ldc)
{
    if (K <= 0)
        for (int i = 0; i < M; i++)
            memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
    for (int k0 = 0; k0 < K; k0 += K_CHUNK) {
        int kc = K - k0 < K_CHUNK ? K - k0 : K_CHUNK;
        nn_gemm(1, 0, M, N, kc, 1, A + (size_t)k0 * lda, lda, B + (size_t)k0 * ldb, ldb,
                k0 > 0 ? 1 : 0, C, ldc);
    }
}

/* out[j] = sum_i x[i * ld + j - col0] for columns j in [lo, hi). */
static void col_sums(const nn_real *x, size_t n, int ld, int col0, int lo, int hi, nn_real *out)
{
    memset(out + lo, 0, (size_t)(hi - lo) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const nn_real *xi = x + i * ld;
        for (int j = lo; j < hi; j++)
            out[j] += xi[j - col0];
    }
}

/* dW_hh rows [lo, hi) from the recurrent gradients A: gate row j is column
 * j - col0 of A's rows of ld values. */
static void whh_grad(rnn_task *t, nn_real *A, int ld, int col0, int lo, int hi, nn_real *dwhh)
{
    rnn *r = t->l->priv;
    const size_t n = (size_t)t->B * r->T;
    const int H = r->H;
    nn_real *a = A + (lo - col0);
    /* rows (b, 0) hold h_{-1} = 0 terms: zero them, then pair row i + 1 of
     * A with row i of the states */
    for (int b = 1; b < t->B; b++)
        memset(a + (size_t)b * r->T * ld, 0, (size_t)(hi - lo) * sizeof *a);
    gemm_tn(hi - lo, H, (int)(n - 1), a + ld, ld, t->hs, H, dwhh + (size_t)lo * H, H);
}

/* Gate rows [lo, hi) of gradient block b. */
static void block_rows(const rnn *r, int b, int *lo, int *hi)
{
    *lo = b * GATE_ALIGN;
    *hi = *lo + GATE_ALIGN < r->GH ? *lo + GATE_ALIGN : r->GH;
}

/* Weight and bias gradients for gate rows [lo, hi). */
static void weight_grads(rnn_task *t, int lo, int hi)
{
    nn_layer *l = t->l;
    rnn *r = l->priv;
    const int F = r->F, H = r->H, GH = r->GH;
    const size_t n = (size_t)t->B * r->T;
    nn_real *dwih = l->grad, *dwhh = l->grad + (size_t)GH * F;
    nn_real *dbih = dwhh + (size_t)GH * H, *dbhh = dbih + GH;
    /* dW_ih = dA^T x: [GH, n] x [n, F] */
    gemm_tn(hi - lo, F, (int)n, r->P + lo, GH, t->x, F, dwih + (size_t)lo * F, F);
    int split = r->kind == NN_LAYER_GRU ? 2 * H : GH;   /* gru's n block comes from hn */
    int a_hi = hi < split ? hi : split, b_lo = lo > split ? lo : split;
    if (r->use_bias) {
        col_sums(r->P, n, GH, 0, lo, hi, dbih);
        memcpy(dbhh + lo, dbih + lo, (size_t)(hi - lo) * sizeof *dbhh);
        if (b_lo < hi)   /* gru: db_hn = sum dA_hn */
            col_sums(r->hn, n, H, split, b_lo, hi, dbhh);
    }
    if (lo < a_hi)
        whh_grad(t, r->P, GH, 0, lo, a_hi, dwhh);
    if (b_lo < hi)
        whh_grad(t, r->hn, H, split, b_lo, hi, dwhh);
}

static void rnn_backward(nn_layer *l, const nn_rows *rw, const nn_real *x, const nn_real *y,
                         nn_real *dy, nn_real *dx)
{
    rnn *r = l->priv;
    rnn_task t = {.l = l, .x = x, .hs = r->seq ? y : r->hs, .dy = dy, .dx = dx,
                  .B = rw->pass->B};
    int lo, hi;
    for (int i = 0; nn_rows_block(rw, i, &lo, &hi); i++)
        bwd_rows(&t, lo, hi);
}

static int rnn_n_blocks(const nn_layer *l)
{
    const rnn *r = l->priv;
    return (r->GH + GATE_ALIGN - 1) / GATE_ALIGN;
}

/* Block b: gate rows [lo, hi) of both weight matrices and both biases. */
static double rnn_block(const nn_layer *l, int b, nn_range *ranges, int *n)
{
    const rnn *r = l->priv;
    const size_t F = (size_t)r->F, H = (size_t)r->H, GH = (size_t)r->GH;
    int lo, hi;
    block_rows(r, b, &lo, &hi);
    ranges[0] = (nn_range){lo * F, hi * F};
    ranges[1] = (nn_range){GH * F + lo * H, GH * F + hi * H};
    *n = 2;
    if (r->use_bias) {
        size_t o = GH * (F + H);
        ranges[2] = (nn_range){o + (size_t)lo, o + (size_t)hi};
        ranges[3] = (nn_range){o + GH + (size_t)lo, o + GH + (size_t)hi};
        *n = 4;
    }
    return 2.0 * r->T * (double)(hi - lo) * (double)(F + H + 2);
}

/* Gate rows of blocks [b0, b1): with libnn's kernel in one pass, whose
 * chunks of rows then stay in the cache for all of them (each value's sum
 * is the same chain of chunks); with a BLAS block by block (layer.h). */
static void rnn_grad(nn_layer *l, const nn_pass *p, int b0, int b1, const nn_real *x,
                     const nn_real *y, const nn_real *dy)
{
    rnn *r = l->priv;
    rnn_task t = {.l = l, .x = x, .hs = r->seq ? y : r->hs, .dy = dy, .B = p->B};
    int lo, hi, last;
    if (nn_gemm_row_invariant()) {
        block_rows(r, b0, &lo, &hi);
        block_rows(r, b1 - 1, &last, &hi);
        weight_grads(&t, lo, hi);
        return;
    }
    for (int b = b0; b < b1; b++) {
        block_rows(r, b, &lo, &hi);
        weight_grads(&t, lo, hi);
    }
}

/* Per sample: the input products 2 T F GH (forward, dW_ih and dx each), the
 * recurrent ones 2 (T - 1) H GH (forward and dh) and 2 T H GH (dW_hh, one
 * product over every row). */
static void rnn_flops(const nn_layer *l, int need_dx, double *fwd, double *bwd)
{
    const rnn *r = l->priv;
    double in = 2.0 * r->T * r->F * r->GH, rec = 2.0 * (r->T - 1) * r->H * r->GH;
    double cuts = r->bptt > 0 ? (double)((r->T - 1) / r->bptt) : 0;
    *fwd = in + rec;
    *bwd = in + 2.0 * r->T * r->H * r->GH + rec - cuts * 2.0 * r->H * r->GH +
           (need_dx ? in : 0);
}

static void rnn_destroy(nn_layer *l)
{
    rnn *r = l->priv;
    if (r) {
        free(r->wih_t);
        free(r->whh_t);
        free(r->bsum);
        free(r->bhn);
        free(r->zero);
        free(r->P);
        free(r->hs);
        free(r->cs);
        free(r->tc);
        free(r->hn);
        free(r->dh);
        free(r->dc);
    }
    free(r);
    l->priv = NULL;
}

const nn_layer_ops nn_rnn_ops = {
    .setup = rnn_setup,
    .init = rnn_init,
    .reserve = rnn_reserve,
    .prepare = rnn_prepare,
    .forward = rnn_forward,
    .backward = rnn_backward,
    .n_blocks = rnn_n_blocks,
    .block = rnn_block,
    .grad = rnn_grad,
    .destroy = rnn_destroy,
    .flops = rnn_flops,
};

/* ---------------------------------------------------------------------------
 * Reference */

static double sigm_d(double x) { return 1 / (1 + exp(-x)); }

void nn_recurrent_ref(nn_layer_kind kind, nn_act_kind act, const nn_real *x, int B, int T, int F,
                      int H, const nn_real *w_ih, const nn_real *w_hh, const nn_real *b_ih,
                      const nn_real *b_hh, const nn_real *h0, const nn_real *c0, nn_real *h_all,
                      nn_real *c_all)
{
    const int G = kind == NN_LAYER_LSTM ? 4 : kind == NN_LAYER_GRU ? 3 : 1, GH = G * H;
    double *h = calloc((size_t)H, sizeof *h), *c = calloc((size_t)H, sizeof *c);
    double *ai = malloc((size_t)GH * sizeof *ai), *ah = malloc((size_t)GH * sizeof *ah);
    if (!h || !c || !ai || !ah)
        abort();
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < H; j++) {
            h[j] = h0 ? h0[(size_t)b * H + j] : 0;
            c[j] = c0 ? c0[(size_t)b * H + j] : 0;
        }
        for (int s = 0; s < T; s++) {
            const nn_real *xt = x + ((size_t)b * T + s) * F;
            /* ai = W_ih x + b_ih, ah = W_hh h + b_hh */
            for (int g = 0; g < GH; g++) {
                double u = b_ih ? b_ih[g] : 0, v = b_hh ? b_hh[g] : 0;
                for (int k = 0; k < F; k++)
                    u += (double)w_ih[(size_t)g * F + k] * xt[k];
                for (int k = 0; k < H; k++)
                    v += (double)w_hh[(size_t)g * H + k] * h[k];
                ai[g] = u;
                ah[g] = v;
            }
            for (int j = 0; j < H; j++) {
                if (kind == NN_LAYER_LSTM) {
                    double i = sigm_d(ai[j] + ah[j]), f = sigm_d(ai[H + j] + ah[H + j]);
                    double g = tanh(ai[2 * H + j] + ah[2 * H + j]);
                    double o = sigm_d(ai[3 * H + j] + ah[3 * H + j]);
                    c[j] = f * c[j] + i * g;
                    h[j] = o * tanh(c[j]);
                } else if (kind == NN_LAYER_GRU) {
                    double rr = sigm_d(ai[j] + ah[j]), z = sigm_d(ai[H + j] + ah[H + j]);
                    double n = tanh(ai[2 * H + j] + rr * ah[2 * H + j]);
                    h[j] = (1 - z) * n + z * h[j];
                } else {
                    double v = ai[j] + ah[j];
                    h[j] = act == NN_ACT_RELU ? (v > 0 ? v : 0) : tanh(v);
                }
            }
            for (int j = 0; j < H; j++) {
                h_all[((size_t)b * T + s) * H + j] = (nn_real)h[j];
                if (c_all)
                    c_all[((size_t)b * T + s) * H + j] = (nn_real)c[j];
            }
        }
    }
    free(h);
    free(c);
    free(ai);
    free(ah);
}
