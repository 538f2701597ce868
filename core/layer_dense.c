/*
 * layer_dense.c — the fully connected layer with a fused activation.
 *
 *   forward:   z = x W^T + b,  y = f(z)        x:(R,in) W:(out,in) b:(out) -> y:(R,out)
 *   backward:  dz = dy * f'(z)                  (in place in dy)
 *              dW += dz^T x   (out,in);  db += sum_r dz;  dx = dz W   (R,in)
 * R is the batch size times the leading dimensions: on a sequence [T, F]
 * the layer applies to every time step.  Layouts are PyTorch's nn.Linear.
 *
 * Threading: the forward product and the weight gradient are split over the
 * `out` columns, the input gradient over the `in` columns, so no two threads
 * write the same value and no sum depends on the split.  A narrow layer
 * (out too small to share) computes dz on one thread and splits dW by `in`.
 */
#include "gemm.h"
#include "layer.h"
#include "act.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 16            /* columns per split unit: one AVX-512 vector of floats */
#define MIN_SHARE 32        /* a thread's share of columns worth a hand-off */
#define ROW_ALIGN 32        /* rows per split unit: one panel of libnn's kernel */

typedef struct dense {
    nn_act_kind act;
    double alpha;
    int use_bias;
    nn_real *z;             /* pre-activations, kept only when f' needs them */
} dense;

typedef struct dense_task {
    nn_layer *l;
    const nn_real *x, *y;   /* y: the forward output, read by backward */
    nn_real *yout;          /* y: written by forward */
    nn_real *dy, *dx;
    int R;
    int accumulate;
    int dz_done;            /* dz already computed (row-wise activations) */
} dense_task;

static int rows_of(const nn_layer *l, int B)
{
    /* every dimension but the last is a batch dimension */
    return (int)(B * (l->in_size / l->in.dim[l->in.rank - 1]));
}

static int dense_setup(nn_layer *l, nn_err *e)
{
    char sh[64];
    const nn_layer_spec *s = &l->spec;
    if (l->in.rank != 1 && l->in.rank != 2) {
        nn_shape_str(&l->in, sh, sizeof sh);
        return nn_errf_at(e, NN_EINVAL, l->index, "type",
                          "dense needs an input of [features] or [time, features], got %s%s", sh,
                          l->in.rank == 3 ? ": add a flatten layer before it" : "");
    }
    if (s->units < 1)
        return nn_errf_at(e, NN_EINVAL, l->index, "units", "units must be at least 1, got %d",
                          s->units);
    int in = l->in.dim[l->in.rank - 1];
    if ((int64_t)s->units * in > ((int64_t)1 << 30))
        return nn_errf_at(e, NN_EINVAL, l->index, "units",
                          "%d units on %d inputs is more than 2^30 weights", s->units, in);
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return NN_ENOMEM;
    d->act = s->act;
    d->alpha = nn_act_alpha(s->act, s->alpha);
    d->use_bias = s->use_bias;
    l->priv = d;
    l->out = l->in;
    l->out.dim[l->out.rank - 1] = s->units;
    l->n_tensors = 1;
    l->tensors[0] = (nn_layer_tensor){"weight", 2, {s->units, in}, 0, (size_t)s->units * in, 0};
    l->n_param = (size_t)s->units * in;
    if (s->use_bias) {
        l->tensors[1] = (nn_layer_tensor){"bias", 1, {s->units}, l->n_param, (size_t)s->units, 0};
        l->n_tensors = 2;
        l->n_param += (size_t)s->units;
    }
    return NN_OK;
}

static void dense_init(nn_layer *l, uint64_t seed)
{
    int out = l->spec.units, in = (int)l->tensors[0].shape[1];
    nn_init_kind k = l->spec.init;
    if (k == NN_INIT_DEFAULT) {
        nn_act_kind a = l->spec.act;
        int relu_like = a == NN_ACT_RELU || a == NN_ACT_LEAKY_RELU || a == NN_ACT_ELU ||
                        a == NN_ACT_GELU;
        k = relu_like ? NN_INIT_HE_UNIFORM : NN_INIT_GLOROT_UNIFORM;
    }
    nn_init_weights(k, l->param, (size_t)out * in, in, out, seed, l->index);
    if (l->spec.use_bias)
        memset(l->param + (size_t)out * in, 0, (size_t)out * sizeof(nn_real));
}

static int dense_reserve(nn_layer *l, int B)
{
    dense *d = l->priv;
    if (!nn_act_needs_z(d->act))
        return NN_OK;
    nn_real *z = realloc(d->z, (size_t)rows_of(l, B) * l->spec.units * sizeof *z);
    if (!z)
        return NN_ENOMEM;
    d->z = z;
    return NN_OK;
}

/* z[:, lo:hi] = x W[lo:hi]^T + b[lo:hi]; y[:, lo:hi] = f(z) when act (z may be y) */
static void fwd_cols(nn_layer *l, const nn_real *x, nn_real *z, nn_real *y, int R, int lo, int hi,
                     int act)
{
    dense *d = l->priv;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1];
    const nn_real *W = l->param, *b = l->param + (size_t)out * in;
    if (hi <= lo)
        return;
    nn_gemm(0, 1, R, hi - lo, in, 1, x, in, W + (size_t)lo * in, in, 0, z + lo, out);
    if (d->use_bias)
        for (int r = 0; r < R; r++) {
            nn_real *zr = z + (size_t)r * out;
            for (int j = lo; j < hi; j++)
                zr[j] += b[j];
        }
    if (act)
        nn_act_forward(d->act, d->alpha, z + lo, y + lo, R, hi - lo, out);
}

static void fwd_task(void *ctx, int tid, int nth)
{
    dense_task *t = ctx;
    dense *d = t->l->priv;
    int lo, hi;
    nn_split(t->l->spec.units, tid, nth, ALIGN, &lo, &hi);
    fwd_cols(t->l, t->x, d->z ? d->z : t->yout, t->yout, t->R, lo, hi,
             !nn_act_is_rowwise(d->act));
}

static void rowwise_fwd_task(void *ctx, int tid, int nth)
{
    dense_task *t = ctx;
    dense *d = t->l->priv;
    const int out = t->l->spec.units;
    int lo, hi;
    nn_split(t->R, tid, nth, 1, &lo, &hi);
    const nn_real *z = d->z ? d->z : t->yout;
    nn_act_forward(d->act, d->alpha, z + (size_t)lo * out, t->yout + (size_t)lo * out, hi - lo,
                   out, out);
}

/* y[lo:hi, :] = f(x[lo:hi] W^T + b): whole rows, so row-wise activations too */
static void fwd_rows_task(void *ctx, int part, int nth)
{
    dense_task *t = ctx;
    dense *d = t->l->priv;
    const int out = t->l->spec.units;
    int lo, hi;
    nn_split(t->R, part, nth, ROW_ALIGN, &lo, &hi);
    if (hi <= lo)
        return;
    size_t o = (size_t)lo * out;
    nn_real *z = (d->z ? d->z : t->yout) + o;
    fwd_cols(t->l, t->x + (size_t)lo * t->l->tensors[0].shape[1], z, t->yout + o, hi - lo, 0, out,
             0);
    nn_act_forward(d->act, d->alpha, z, t->yout + o, hi - lo, out, out);
}

static void dense_forward(nn_layer *l, const nn_real *x, nn_real *y, int B, int train)
{
    (void)train;
    dense *d = l->priv;
    dense_task t = {.l = l, .x = x, .yout = y, .R = rows_of(l, B)};
    int nth = nn_pool_size(l->pool);
    if (nth > 1 && nn_gemm_split_rows() && t.R >= ROW_ALIGN * nth) {
        nn_pool_run(l->pool, fwd_rows_task, &t);
        return;
    }
    if (nth > 1 && l->spec.units >= MIN_SHARE * nth)
        nn_pool_run(l->pool, fwd_task, &t);
    else
        fwd_cols(l, x, d->z ? d->z : y, y, t.R, 0, l->spec.units, !nn_act_is_rowwise(d->act));
    if (nn_act_is_rowwise(d->act))
        nn_pool_run(l->pool, rowwise_fwd_task, &t);
}

/* dz[:, lo:hi] (in place in dy), db[lo:hi], dW[lo:hi, :] */
static void bwd_param_rows(dense_task *t, int lo, int hi)
{
    nn_layer *l = t->l;
    dense *d = l->priv;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1], R = t->R;
    if (hi <= lo)
        return;
    if (!t->dz_done)
        nn_act_backward(d->act, d->alpha, d->z ? d->z + lo : NULL, t->y + lo, t->dy + lo,
                        t->dy + lo, R, hi - lo, out);
    nn_real *dW = l->grad, *db = l->grad + (size_t)out * in;
    nn_gemm(1, 0, hi - lo, in, R, 1, t->dy + lo, out, t->x, in, t->accumulate ? 1 : 0,
            dW + (size_t)lo * in, in);
    if (d->use_bias) {
        if (!t->accumulate)
            memset(db + lo, 0, (size_t)(hi - lo) * sizeof *db);
        for (int r = 0; r < R; r++) {
            const nn_real *dzr = t->dy + (size_t)r * out;
            for (int j = lo; j < hi; j++)
                db[j] += dzr[j];
        }
    }
}

/* dW[:, lo:hi] from a complete dz */
static void bwd_weight_cols(dense_task *t, int lo, int hi)
{
    nn_layer *l = t->l;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1];
    if (hi > lo)
        nn_gemm(1, 0, out, hi - lo, t->R, 1, t->dy, out, t->x + lo, in, t->accumulate ? 1 : 0,
                l->grad + lo, in);
}

/* dx[:, lo:hi] = dz W[:, lo:hi] */
static void bwd_input_cols(dense_task *t, int lo, int hi)
{
    nn_layer *l = t->l;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1];
    if (t->dx && hi > lo)
        nn_gemm(0, 0, t->R, hi - lo, out, 1, t->dy, out, l->param + lo, in, 0, t->dx + lo, in);
}

static void bwd_rows_task(void *ctx, int tid, int nth)
{
    dense_task *t = ctx;
    int lo, hi;
    nn_split(t->l->spec.units, tid, nth, ALIGN, &lo, &hi);
    bwd_param_rows(t, lo, hi);
}

static void bwd_input_task(void *ctx, int tid, int nth)
{
    dense_task *t = ctx;
    int lo, hi;
    nn_split((int)t->l->tensors[0].shape[1], tid, nth, ALIGN, &lo, &hi);
    bwd_input_cols(t, lo, hi);
}

static void bwd_narrow_task(void *ctx, int tid, int nth)
{
    dense_task *t = ctx;
    int lo, hi;
    nn_split((int)t->l->tensors[0].shape[1], tid, nth, ALIGN, &lo, &hi);
    bwd_weight_cols(t, lo, hi);
    bwd_input_cols(t, lo, hi);
}

static void rowwise_bwd_task(void *ctx, int tid, int nth)
{
    dense_task *t = ctx;
    dense *d = t->l->priv;
    const int out = t->l->spec.units;
    int lo, hi;
    nn_split(t->R, tid, nth, 1, &lo, &hi);
    size_t o = (size_t)lo * out;
    nn_act_backward(d->act, d->alpha, d->z ? d->z + o : NULL, t->y + o, t->dy + o, t->dy + o,
                    hi - lo, out, out);
}

static void dense_backward(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                           nn_real *dx, int B, int accumulate)
{
    dense *d = l->priv;
    dense_task t = {.l = l, .x = x, .y = y, .dy = dy, .dx = dx, .R = rows_of(l, B),
                    .accumulate = accumulate};
    const int out = l->spec.units;
    int nth = nn_pool_size(l->pool);
    if (nn_act_is_rowwise(d->act)) {
        nn_pool_run(l->pool, rowwise_bwd_task, &t);
        t.dz_done = 1;
    }
    if (nth == 1) {
        bwd_param_rows(&t, 0, out);
        bwd_input_cols(&t, 0, (int)l->tensors[0].shape[1]);
    } else if (out >= MIN_SHARE * nth) {
        nn_pool_run(l->pool, bwd_rows_task, &t);
        if (dx)
            nn_pool_run(l->pool, bwd_input_task, &t);
    } else {
        /* narrow: dz and db are cheap, do them here; split the products by `in` */
        if (!t.dz_done)
            nn_act_backward(d->act, d->alpha, d->z, y, dy, dy, t.R, out, out);
        t.dz_done = 1;
        if (d->use_bias) {
            nn_real *db = l->grad + (size_t)out * l->tensors[0].shape[1];
            if (!accumulate)
                memset(db, 0, (size_t)out * sizeof *db);
            for (int r = 0; r < t.R; r++)
                for (int j = 0; j < out; j++)
                    db[j] += dy[(size_t)r * out + j];
        }
        nn_pool_run(l->pool, bwd_narrow_task, &t);
    }
}

static void dense_flops(const nn_layer *l, int need_dx, double *fwd, double *bwd)
{
    /* one multiply-add per weight and row: 2 R in out per product */
    double f = 2.0 * (double)rows_of(l, 1) * (double)l->tensors[0].numel;
    *fwd = f;
    *bwd = need_dx ? 2 * f : f;
}

static void dense_destroy(nn_layer *l)
{
    dense *d = l->priv;
    if (d)
        free(d->z);
    free(d);
    l->priv = NULL;
}

const nn_layer_ops nn_dense_ops = {
    .setup = dense_setup,
    .init = dense_init,
    .reserve = dense_reserve,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = dense_destroy,
    .flops = dense_flops,
};
