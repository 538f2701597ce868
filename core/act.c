/*
 * act.c — activation functions and their derivatives (see act.h).
 *
 *   relu        y = max(z, 0)                    y' = [z > 0]
 *   leaky_relu  y = z > 0 ? z : a z   (a >= 0)   y' = z > 0 ? 1 : a
 *   elu         y = z > 0 ? z : a (e^z - 1)      y' = z > 0 ? 1 : y + a
 *   sigmoid     y = 1 / (1 + e^-z)               y' = y (1 - y)
 *   tanh                                         y' = 1 - y^2
 *   softmax     y_i = e^z_i / sum_j e^z_j        dz_i = y_i (dy_i - sum_j dy_j y_j)
 *   gelu        y = z Phi(z)                     y' = Phi(z) + z phi(z)
 * With a >= 0 the sign of y is the sign of z, so every derivative but gelu's
 * is computed from y alone.  At z = 0 relu' is 0, as in PyTorch.
 */
#include "act.h"

#include "nn_math.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

double nn_act_alpha(nn_act_kind k, double alpha)
{
    if (!isnan(alpha))
        return alpha;
    return k == NN_ACT_ELU ? 1.0 : k == NN_ACT_LEAKY_RELU ? 0.01 : 0.0;
}

int nn_act_needs_z(nn_act_kind k)
{
    return k == NN_ACT_GELU;
}

int nn_act_is_rowwise(nn_act_kind k)
{
    return k == NN_ACT_SOFTMAX;
}

static nn_real sigmoid(nn_real z)
{
    /* split by sign so that e^x never overflows */
    if (z >= 0)
        return 1 / (1 + NN_EXP(-z));
    nn_real e = NN_EXP(z);
    return e / (1 + e);
}

/* Row kernels work in place on one row of n values.  The arrays a kernel
 * gets never overlap (y is a forward output, d a gradient buffer), hence
 * restrict, which lets the compiler vectorise them without branches. */

NN_VECTORIZE
static void relu_fwd(nn_real *restrict y, int n)
{
    for (int j = 0; j < n; j++)
        y[j] = y[j] > 0 ? y[j] : 0;
}

NN_VECTORIZE
static void leaky_fwd(nn_real *restrict y, int n, nn_real a)
{
    for (int j = 0; j < n; j++)
        y[j] = y[j] > 0 ? y[j] : a * y[j];
}

NN_VECTORIZE
static void relu_bwd(const nn_real *restrict y, nn_real *restrict d, int n)
{
    for (int j = 0; j < n; j++)
        d[j] = y[j] > 0 ? d[j] : 0;
}

NN_VECTORIZE
static void leaky_bwd(const nn_real *restrict y, nn_real *restrict d, int n, nn_real a)
{
    for (int j = 0; j < n; j++)
        d[j] = y[j] > 0 ? d[j] : a * d[j];
}

NN_VECTORIZE
static void elu_bwd(const nn_real *restrict y, nn_real *restrict d, int n, nn_real a)
{
    for (int j = 0; j < n; j++)
        d[j] = y[j] > 0 ? d[j] : (y[j] + a) * d[j];
}

NN_VECTORIZE
static void sigmoid_bwd(const nn_real *restrict y, nn_real *restrict d, int n)
{
    for (int j = 0; j < n; j++)
        d[j] *= y[j] * (1 - y[j]);
}

NN_VECTORIZE
static void tanh_bwd(const nn_real *restrict y, nn_real *restrict d, int n)
{
    for (int j = 0; j < n; j++)
        d[j] *= 1 - y[j] * y[j];
}

static void softmax_row(nn_real *y, int n)
{
    nn_real mx = y[0];
    for (int j = 1; j < n; j++)
        mx = y[j] > mx ? y[j] : mx;
    double s = 0;
    for (int j = 0; j < n; j++) {
        y[j] = NN_EXP(y[j] - mx);
        s += y[j];
    }
    nn_real inv = (nn_real)(1 / s);
    for (int j = 0; j < n; j++)
        y[j] *= inv;
}

static void softmax_bwd(const nn_real *y, nn_real *d, int n)
{
    double s = 0;
    for (int j = 0; j < n; j++)
        s += (double)d[j] * y[j];
    for (int j = 0; j < n; j++)
        d[j] = y[j] * (d[j] - (nn_real)s);
}

static void gelu_bwd(const nn_real *z, nn_real *d, int n)
{
    const nn_real rsqrt2 = (nn_real)M_SQRT1_2;
    const nn_real rsqrt2pi = (nn_real)(0.5 * M_2_SQRTPI * M_SQRT1_2);   /* 1/sqrt(2 pi) */
    for (int j = 0; j < n; j++) {
        nn_real x = z[j];
        nn_real cdf = (nn_real)0.5 * (1 + NN_ERF(x * rsqrt2));
        nn_real pdf = rsqrt2pi * NN_EXP((nn_real)-0.5 * x * x);
        d[j] *= cdf + x * pdf;
    }
}

/* y = f(y) on one row */
static void fwd_row(nn_act_kind k, nn_real a, nn_real *y, int n)
{
    const nn_real rsqrt2 = (nn_real)M_SQRT1_2;
    switch (k) {
    case NN_ACT_RELU: relu_fwd(y, n); break;
    case NN_ACT_LEAKY_RELU: leaky_fwd(y, n, a); break;
    case NN_ACT_ELU:
        for (int j = 0; j < n; j++)
            y[j] = y[j] > 0 ? y[j] : a * (NN_EXP(y[j]) - 1);
        break;
    case NN_ACT_SIGMOID:
        for (int j = 0; j < n; j++)
            y[j] = sigmoid(y[j]);
        break;
    case NN_ACT_TANH:
        for (int j = 0; j < n; j++)
            y[j] = NN_TANH(y[j]);
        break;
    case NN_ACT_SOFTMAX: softmax_row(y, n); break;
    case NN_ACT_GELU:
        for (int j = 0; j < n; j++)
            y[j] = y[j] * (nn_real)0.5 * (1 + NN_ERF(y[j] * rsqrt2));
        break;
    default: break;
    }
}

/* Rows that follow each other without a gap are one long row for an
 * element-wise function: one call over an image's P x O values rather than
 * P calls of O (a convolution's rows are as short as its 16 channels). */
static void collapse_rows(nn_act_kind k, int *rows, int *cols, int *ld)
{
    if (nn_act_is_rowwise(k) || *ld != *cols || *rows < 2 ||
        (int64_t)*rows * *cols > INT_MAX)
        return;
    *cols *= *rows;
    *ld = *cols;
    *rows = 1;
}

void nn_act_forward(nn_act_kind k, double alpha, const nn_real *z, nn_real *y,
                    int rows, int cols, int ld)
{
    const nn_real a = (nn_real)nn_act_alpha(k, alpha);
    collapse_rows(k, &rows, &cols, &ld);
    for (int r = 0; r < rows; r++) {
        const nn_real *zr = z + (size_t)r * ld;
        nn_real *yr = y + (size_t)r * ld;
        if (yr != zr)
            memcpy(yr, zr, (size_t)cols * sizeof *yr);
        fwd_row(k, a, yr, cols);
    }
}

void nn_act_backward(nn_act_kind k, double alpha, const nn_real *z, const nn_real *y,
                     const nn_real *dy, nn_real *dz, int rows, int cols, int ld)
{
    const nn_real a = (nn_real)nn_act_alpha(k, alpha);
    collapse_rows(k, &rows, &cols, &ld);
    for (int r = 0; r < rows; r++) {
        const nn_real *yr = y + (size_t)r * ld;
        nn_real *d = dz + (size_t)r * ld;
        if (d != dy + (size_t)r * ld)
            memcpy(d, dy + (size_t)r * ld, (size_t)cols * sizeof *d);
        switch (k) {
        case NN_ACT_RELU: relu_bwd(yr, d, cols); break;
        case NN_ACT_LEAKY_RELU: leaky_bwd(yr, d, cols, a); break;
        case NN_ACT_ELU: elu_bwd(yr, d, cols, a); break;
        case NN_ACT_SIGMOID: sigmoid_bwd(yr, d, cols); break;
        case NN_ACT_TANH: tanh_bwd(yr, d, cols); break;
        case NN_ACT_SOFTMAX: softmax_bwd(yr, d, cols); break;
        case NN_ACT_GELU: gelu_bwd(z + (size_t)r * ld, d, cols); break;
        default: break;
        }
    }
}
