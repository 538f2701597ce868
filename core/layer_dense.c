/*
 * layer_dense.c — the fully connected layer with a fused activation.
 *
 *   forward:   z = x W^T + b,  y = f(z)        x:(R,in) W:(out,in) b:(out) -> y:(R,out)
 *   backward:  dz = dy * f'(z)                  (in place in dy)
 *              dx = dz W                        (R,in)
 *   gradient:  dW = dz^T x   (out,in);  db = sum_r dz
 * R is the batch size times the leading dimensions: on a sequence [T, F]
 * the layer applies to every time step.  Layouts are PyTorch's nn.Linear.
 *
 * Threading (layer.h): forward and backward run on the part's rows.  The
 * weight gradient comes in blocks of GRAD_ROWS output units (their rows of
 * dW and their biases), each from every row of the batch: one product over
 * all R rows, so every value of dW and db is one sum over the rows in order,
 * whatever the number of threads.
 */
#include "gemm.h"
#include "layer.h"
#include "act.h"

#include <stdlib.h>
#include <string.h>

#define GRAD_ROWS 8         /* output units per gradient block: one tile of libnn's kernel */

typedef struct dense {
    nn_act_kind act;
    double alpha;
    int use_bias;
    nn_real *z;             /* pre-activations, kept only when f' needs them */
} dense;

static int lead_of(const nn_layer *l)
{
    /* every dimension but the last is a batch dimension */
    return (int)(l->in_size / l->in.dim[l->in.rank - 1]);
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
    nn_real *z = realloc(d->z, (size_t)B * lead_of(l) * l->spec.units * sizeof *z);
    if (!z)
        return NN_ENOMEM;
    d->z = z;
    return NN_OK;
}

/* Rows [r0, r1) of the layer's R: z = x W^T + b, y = f(z) (z may be y) */
static void fwd_rows(nn_layer *l, const nn_real *x, nn_real *y, int r0, int r1)
{
    dense *d = l->priv;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1], R = r1 - r0;
    const nn_real *W = l->param, *b = l->param + (size_t)out * in;
    nn_real *z = (d->z ? d->z : y) + (size_t)r0 * out;
    y += (size_t)r0 * out;
    nn_gemm(0, 1, R, out, in, 1, x + (size_t)r0 * in, in, W, in, 0, z, out);
    if (d->use_bias)
        for (int r = 0; r < R; r++) {
            nn_real *zr = z + (size_t)r * out;
            for (int j = 0; j < out; j++)
                zr[j] += b[j];
        }
    nn_act_forward(d->act, d->alpha, z, y, R, out, out);
}

static void dense_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    const int lead = lead_of(l);
    int lo, hi;
    for (int i = 0; nn_rows_block(r, i, &lo, &hi); i++)
        fwd_rows(l, x, y, lo * lead, hi * lead);
}

/* Rows [r0, r1): dz = dy f'(z) in place, dx = dz W */
static void bwd_rows(nn_layer *l, const nn_real *y, nn_real *dy, nn_real *dx, int r0, int r1)
{
    dense *d = l->priv;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1], R = r1 - r0;
    const size_t o = (size_t)r0 * out;
    nn_act_backward(d->act, d->alpha, d->z ? d->z + o : NULL, y + o, dy + o, dy + o, R, out, out);
    if (dx)
        nn_gemm(0, 0, R, in, out, 1, dy + o, out, l->param, in, 0, dx + (size_t)r0 * in, in);
}

static void dense_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                           nn_real *dy, nn_real *dx)
{
    (void)x;
    const int lead = lead_of(l);
    int lo, hi;
    for (int i = 0; nn_rows_block(r, i, &lo, &hi); i++)
        bwd_rows(l, y, dy, dx, lo * lead, hi * lead);
}

static int dense_n_blocks(const nn_layer *l)
{
    return (l->spec.units + GRAD_ROWS - 1) / GRAD_ROWS;
}

/* Block b: units [u0, u1), their rows of W and their biases. */
static double dense_block(const nn_layer *l, int b, nn_range *ranges, int *n)
{
    const size_t out = (size_t)l->spec.units, in = (size_t)l->tensors[0].shape[1];
    const size_t u0 = (size_t)b * GRAD_ROWS, u1 = u0 + GRAD_ROWS < out ? u0 + GRAD_ROWS : out;
    ranges[0] = (nn_range){u0 * in, u1 * in};
    *n = 1;
    if (l->spec.use_bias)
        ranges[(*n)++] = (nn_range){out * in + u0, out * in + u1};
    return 2.0 * (double)lead_of(l) * (double)((u1 - u0) * (in + 1));
}

/* Units [u0, u1): dW[u0:u1, :] = dz[:, u0:u1]^T x, db[u0:u1] = sum_r dz[r, u0:u1],
 * over all R rows; one product for the run of blocks with libnn's kernel,
 * one per block with a BLAS (layer.h). */
static void dense_grad(nn_layer *l, const nn_pass *p, int b0, int b1, const nn_real *x,
                       const nn_real *y, const nn_real *dz)
{
    (void)y;
    const int out = l->spec.units, in = (int)l->tensors[0].shape[1], R = p->B * lead_of(l);
    const int u0 = b0 * GRAD_ROWS, u1 = b1 * GRAD_ROWS < out ? b1 * GRAD_ROWS : out;
    const int step = nn_gemm_row_invariant() ? u1 - u0 : GRAD_ROWS;
    nn_real *dW = l->grad, *db = l->grad + (size_t)out * in;
    for (int a = u0; a < u1; a += step) {
        int n = u1 - a < step ? u1 - a : step;
        nn_gemm(1, 0, n, in, R, 1, dz + a, out, x, in, 0, dW + (size_t)a * in, in);
    }
    if (!l->spec.use_bias)
        return;
    memset(db + u0, 0, (size_t)(u1 - u0) * sizeof *db);
    for (int r = 0; r < R; r++) {
        const nn_real *dzr = dz + (size_t)r * out;
        for (int j = u0; j < u1; j++)
            db[j] += dzr[j];
    }
}

static void dense_flops(const nn_layer *l, int need_dx, double *fwd, double *bwd)
{
    /* one multiply-add per weight and row: 2 R in out per product */
    double f = 2.0 * (double)lead_of(l) * (double)l->tensors[0].numel;
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
    .n_blocks = dense_n_blocks,
    .block = dense_block,
    .grad = dense_grad,
    .destroy = dense_destroy,
    .flops = dense_flops,
};
