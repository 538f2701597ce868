/*
 * loss.c — losses and their gradients w.r.t. the model's outputs.
 *
 *   mse    L = mean (o - t)^2                     dL/do = 2 (o - t) / (B D)
 *   mae    L = mean |o - t|                       dL/do = sign(o - t) / (B D)
 *   cross_entropy, z = logits, p = softmax(z):
 *          L = -(1/B) sum_b sum_j t_bj log p_bj   dL/dz = (p - t) / B
 *          (t one-hot from a label, or given targets whose rows sum to 1)
 *   binary_cross_entropy, z = logits:
 *          L = mean max(z,0) - z t + log(1 + e^-|z|)   dL/dz = (sigmoid(z) - t) / (B D)
 * Fusing the output activation into the loss keeps the gradient exact and
 * the log finite.  Sums run in double.
 */
#include "loss.h"

#include "nn_math.h"

nn_act_kind nn_loss_fused_act(nn_loss_kind k)
{
    return k == NN_LOSS_CROSS_ENTROPY ? NN_ACT_SOFTMAX
           : k == NN_LOSS_BCE         ? NN_ACT_SIGMOID
                                      : NN_ACT_LINEAR;
}

int nn_loss_is_classification(nn_loss_kind k)
{
    return k == NN_LOSS_CROSS_ENTROPY || k == NN_LOSS_BCE;
}

static double ce_row(const nn_real *z, int lab, const nn_real *t, int D, nn_real *g, double inv_b,
                     int64_t *correct)
{
    int am = 0;
    nn_real mx = z[0];
    for (int j = 1; j < D; j++)
        if (z[j] > mx) {
            mx = z[j];
            am = j;
        }
    /* e_j = exp(z_j - max), kept in g (when given) so each exp is taken once */
    double s = 0;
    for (int j = 0; j < D; j++) {
        nn_real e = NN_EXP(z[j] - mx);
        if (g)
            g[j] = e;
        s += e;
    }
    double log_s = log(s);
    double loss = 0;
    int want = lab;
    if (t) {
        /* soft or one-hot targets: a prediction is correct when it is the
         * target's argmax */
        int tm = 0;
        for (int j = 0; j < D; j++) {
            loss -= (double)t[j] * ((double)(z[j] - mx) - log_s);
            if (t[j] > t[tm])
                tm = j;
        }
        want = tm;
    } else {
        loss = log_s - (double)(z[lab] - mx);
    }
    if (g) {
        const double inv_s = 1 / s;
        for (int j = 0; j < D; j++) {
            double tj = t ? (double)t[j] : (j == lab ? 1.0 : 0.0);
            g[j] = (nn_real)(((double)g[j] * inv_s - tj) * inv_b);
        }
    }
    *correct += am == want;
    return loss;
}

void nn_loss_rows(nn_loss_kind k, const nn_real *out, const nn_real *labels,
                  const nn_real *targets, int B, int D, int norm_rows, nn_real *grad,
                  nn_loss_out *res)
{
    double sum = 0;
    int64_t correct = 0, counted = 0;
    const double inv_bd = 1.0 / ((double)norm_rows * D);
    for (int b = 0; b < B; b++) {
        const nn_real *o = out + (size_t)b * D;
        const nn_real *t = targets ? targets + (size_t)b * D : NULL;
        nn_real *g = grad ? grad + (size_t)b * D : NULL;
        switch (k) {
        case NN_LOSS_MSE:
        case NN_LOSS_MAE:
            for (int j = 0; j < D; j++) {
                double tj = t ? (double)t[j] : (double)labels[b];
                double d = (double)o[j] - tj;
                if (k == NN_LOSS_MSE) {
                    sum += d * d;
                    if (g)
                        g[j] = (nn_real)(2 * d * inv_bd);
                } else {
                    sum += fabs(d);
                    if (g)
                        g[j] = (nn_real)((d > 0 ? 1 : d < 0 ? -1 : 0) * inv_bd);
                }
            }
            break;
        case NN_LOSS_CROSS_ENTROPY:
            sum += ce_row(o, t ? 0 : (int)labels[b], t, D, g, 1.0 / norm_rows, &correct);
            counted++;
            break;
        case NN_LOSS_BCE:
            for (int j = 0; j < D; j++) {
                double z = o[j];
                double tj = t ? (double)t[j] : (double)labels[b];
                sum += (z > 0 ? z : 0) - z * tj + log1p(exp(-fabs(z)));
                if (g) {
                    double p = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
                    g[j] = (nn_real)((p - tj) * inv_bd);
                }
                correct += (z > 0) == (tj > 0.5);
                counted++;
            }
            break;
        default:
            break;
        }
    }
    res->loss = sum;
    res->correct = correct;
    res->counted = counted;
}

void nn_loss(nn_loss_kind k, const nn_real *out, const nn_real *labels,
             const nn_real *targets, int B, int D, nn_real *grad, nn_loss_out *res)
{
    nn_loss_rows(k, out, labels, targets, B, D, B, grad, res);
    res->loss = nn_loss_mean(k, res->loss, B, D);
}

double nn_loss_mean(nn_loss_kind k, double sum, int rows, int D)
{
    return k == NN_LOSS_CROSS_ENTROPY ? sum / rows : sum / ((double)rows * D);
}
