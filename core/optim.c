/*
 * optim.c — optimizer updates, learning-rate schedules and clipping helpers
 * (formulas in optim.h).  Every function works on a range [lo, hi) of the
 * arena so that the trainer can split one update among its threads; results
 * do not depend on how the range is split.
 */
#include "optim.h"

#include "nn_math.h"

#include <string.h>

static const char *const optim_names[NN_OPT_COUNT] = {"sgd", "adam", "adamw", "rmsprop"};
static const char *const sched_names[NN_SCHED_COUNT] = {"constant", "step", "exponential", "cosine"};

const char *nn_optim_name(nn_optim_kind k) { return (unsigned)k < NN_OPT_COUNT ? optim_names[k] : "?"; }
const char *nn_sched_name(nn_sched_kind k) { return (unsigned)k < NN_SCHED_COUNT ? sched_names[k] : "?"; }

int nn_optim_from_name(const char *s)
{
    for (int i = 0; s && i < NN_OPT_COUNT; i++)
        if (strcmp(s, optim_names[i]) == 0)
            return i;
    return -1;
}

int nn_sched_from_name(const char *s)
{
    for (int i = 0; s && i < NN_SCHED_COUNT; i++)
        if (strcmp(s, sched_names[i]) == 0)
            return i;
    return -1;
}

void nn_optim_cfg_default(nn_optim_cfg *c, nn_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->alpha = 0.99;
    switch (kind) {
    case NN_OPT_ADAM: c->lr = 1e-3; break;
    case NN_OPT_ADAMW: c->lr = 1e-3; c->weight_decay = 0.01; break;
    default: c->lr = 0.01; break;
    }
}

void nn_sched_cfg_default(nn_sched_cfg *c, nn_sched_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->step_size = 10;
    c->gamma = kind == NN_SCHED_EXPONENTIAL ? 0.95 : 0.1;
    c->min_lr = 0;
}

double nn_sched_lr(const nn_sched_cfg *s, double base_lr, int64_t step, int epoch,
                   int64_t total_steps)
{
    double lr = base_lr;
    switch (s->kind) {
    case NN_SCHED_STEP:
        lr = base_lr * pow(s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1)));
        break;
    case NN_SCHED_EXPONENTIAL:
        lr = base_lr * pow(s->gamma, (double)epoch);
        break;
    case NN_SCHED_COSINE: {
        double t = total_steps > 0 ? (double)step / (double)total_steps : 0;
        if (t > 1)
            t = 1;
        lr = s->min_lr + (base_lr - s->min_lr) * 0.5 * (1 + cos(M_PI * t));
        break;
    }
    default:
        break;
    }
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        lr *= (double)(step + 1) / (double)s->warmup_steps;
    return lr;
}

size_t nn_optim_state_size(const nn_optim_cfg *c, size_t n)
{
    switch (c->kind) {
    case NN_OPT_SGD: return c->momentum != 0 ? n : 0;
    case NN_OPT_ADAM:
    case NN_OPT_ADAMW: return 2 * n;
    case NN_OPT_RMSPROP: return c->momentum != 0 ? 2 * n : n;
    default: return 0;
    }
}

/* Plain SGD, the hot path of the benchmark: p -= lr (g + wd p). */
NN_VECTORIZE
static void sgd_plain(nn_real *restrict p, const nn_real *restrict g, size_t lo, size_t hi, nn_real lr, nn_real wd)
{
    if (wd == 0) {
        for (size_t i = lo; i < hi; i++)
            p[i] -= lr * g[i];
    } else {
        for (size_t i = lo; i < hi; i++)
            p[i] -= lr * (g[i] + wd * p[i]);
    }
}

NN_VECTORIZE
static void sgd_momentum(const nn_optim_cfg *c, nn_real *restrict p, const nn_real *restrict g,
                         nn_real *restrict v,
                         size_t lo, size_t hi, nn_real lr)
{
    const nn_real mu = (nn_real)c->momentum, wd = (nn_real)c->weight_decay;
    for (size_t i = lo; i < hi; i++) {
        nn_real gi = g[i] + wd * p[i];
        v[i] = mu * v[i] + gi;
        nn_real d = c->nesterov ? gi + mu * v[i] : v[i];
        p[i] -= lr * d;
    }
}

NN_VECTORIZE
static void adam(const nn_optim_cfg *c, nn_real *restrict p, const nn_real *restrict g,
                 nn_real *restrict m, nn_real *restrict v,
                 size_t lo, size_t hi, double lr, int64_t t)
{
    const nn_real b1 = (nn_real)c->beta1, b2 = (nn_real)c->beta2;
    const nn_real eps = (nn_real)c->eps;
    /* p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), PyTorch's arrangement */
    const double bc1 = 1 - pow(c->beta1, (double)t);
    const double bc2 = 1 - pow(c->beta2, (double)t);
    const nn_real step = (nn_real)(lr / bc1);
    const nn_real rbc2 = (nn_real)(1 / sqrt(bc2));
    const int decoupled = c->kind == NN_OPT_ADAMW;
    const nn_real wd = (nn_real)c->weight_decay;
    const nn_real shrink = (nn_real)(1 - lr * c->weight_decay);
    for (size_t i = lo; i < hi; i++) {
        nn_real gi = g[i];
        if (decoupled)
            p[i] *= shrink;
        else
            gi += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= step * m[i] / (NN_SQRT(v[i]) * rbc2 + eps);
    }
}

NN_VECTORIZE
static void rmsprop(const nn_optim_cfg *c, nn_real *p, const nn_real *g, nn_real *v, nn_real *b,
                    size_t lo, size_t hi, nn_real lr)
{
    const nn_real a = (nn_real)c->alpha, eps = (nn_real)c->eps;
    const nn_real wd = (nn_real)c->weight_decay, mu = (nn_real)c->momentum;
    for (size_t i = lo; i < hi; i++) {
        nn_real gi = g[i] + wd * p[i];
        v[i] = a * v[i] + (1 - a) * gi * gi;
        nn_real d = gi / (NN_SQRT(v[i]) + eps);
        if (b) {
            b[i] = mu * b[i] + d;
            d = b[i];
        }
        p[i] -= lr * d;
    }
}

void nn_optim_update(const nn_optim_cfg *c, double lr, int64_t t, nn_real *p,
                     const nn_real *g, nn_real *state, size_t n, size_t lo, size_t hi)
{
    switch (c->kind) {
    case NN_OPT_SGD:
        if (c->momentum != 0)
            sgd_momentum(c, p, g, state, lo, hi, (nn_real)lr);
        else
            sgd_plain(p, g, lo, hi, (nn_real)lr, (nn_real)c->weight_decay);
        break;
    case NN_OPT_ADAM:
    case NN_OPT_ADAMW:
        adam(c, p, g, state, state + n, lo, hi, lr, t);
        break;
    case NN_OPT_RMSPROP:
        rmsprop(c, p, g, state, c->momentum != 0 ? state + n : NULL, lo, hi, (nn_real)lr);
        break;
    default:
        break;
    }
}

double nn_sumsq(const nn_real *g, size_t lo, size_t hi)
{
    double s = 0;
    for (size_t i = lo; i < hi; i++)
        s += (double)g[i] * (double)g[i];
    return s;
}

void nn_scale(nn_real *g, double s, size_t lo, size_t hi)
{
    const nn_real f = (nn_real)s;
    for (size_t i = lo; i < hi; i++)
        g[i] *= f;
}

double nn_clip_factor(double norm, double max_norm)
{
    double f = max_norm / (norm + 1e-6);
    return f < 1 ? f : 1;
}
