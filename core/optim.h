/*
 * optim.h — gradient-descent optimizers, learning-rate schedules and
 * gradient clipping over the model's parameter arena.
 *
 * The update rules are PyTorch's (torch.optim.SGD, Adam, AdamW, RMSprop), so
 * that a user moving between the two gets the same numbers:
 *   sgd:     g += wd p;  v = mu v + g;  g = nesterov ? g + mu v : v;  p -= lr g
 *   adam:    g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *            p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *   adamw:   p -= lr wd p;  then adam without the g += wd p term
 *   rmsprop: g += wd p;  v = a v + (1-a) g^2;  d = g / (sqrt(v) + eps)
 *            with momentum: b = mu b + d, p -= lr b;  else p -= lr d
 * Weight decay applies to every parameter (biases included), as in PyTorch.
 *
 * The optimizer state (velocity, moments) is one contiguous buffer of
 * nn_optim_state_size() reals, so a checkpoint is one write.
 */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include "nn.h"

typedef enum nn_optim_kind {
    NN_OPT_SGD = 0,
    NN_OPT_ADAM,
    NN_OPT_ADAMW,
    NN_OPT_RMSPROP,
    NN_OPT_COUNT
} nn_optim_kind;

typedef struct nn_optim_cfg {
    nn_optim_kind kind;
    double lr;             /* default 0.01 for sgd and rmsprop, 0.001 for adam(w) */
    double momentum;       /* sgd, rmsprop; default 0 */
    int nesterov;          /* sgd; needs momentum > 0 */
    double beta1, beta2;   /* adam(w); default 0.9, 0.999 */
    double eps;            /* adam(w) 1e-8, rmsprop 1e-8 */
    double alpha;          /* rmsprop smoothing; default 0.99 */
    double weight_decay;   /* default 0 (0.01 for adamw) */
} nn_optim_cfg;

/* Defaults for the given kind (see the fields). */
void nn_optim_cfg_default(nn_optim_cfg *c, nn_optim_kind kind);

typedef enum nn_sched_kind {
    NN_SCHED_CONSTANT = 0,
    NN_SCHED_STEP,         /* lr gamma^floor(epoch / step_size), per epoch */
    NN_SCHED_EXPONENTIAL,  /* lr gamma^epoch, per epoch */
    NN_SCHED_COSINE,       /* min_lr + (lr - min_lr)(1 + cos(pi t / T))/2, per step, T = all steps */
    NN_SCHED_COUNT
} nn_sched_kind;

typedef struct nn_sched_cfg {
    nn_sched_kind kind;
    int step_size;         /* step: epochs between decays; default 10 */
    double gamma;          /* step 0.1, exponential 0.95 */
    double min_lr;         /* cosine floor; default 0 */
    int warmup_steps;      /* linear warm-up over the first steps; 0: none */
} nn_sched_cfg;

void nn_sched_cfg_default(nn_sched_cfg *c, nn_sched_kind kind);

/* Names as in model definitions ("sgd", "cosine") and reverse lookups (-1). */
const char *nn_optim_name(nn_optim_kind k);
const char *nn_sched_name(nn_sched_kind k);
int nn_optim_from_name(const char *s);
int nn_sched_from_name(const char *s);

/* Learning rate for the optimizer step numbered `step` (0-based), which lies
 * in epoch `epoch` (0-based), out of total_steps steps in the whole run.
 * Warm-up multiplies the scheduled rate by (step + 1) / warmup_steps. */
double nn_sched_lr(const nn_sched_cfg *s, double base_lr, int64_t step, int epoch,
                   int64_t total_steps);

/* Reals of optimizer state for n parameters (0, n or 2n). */
size_t nn_optim_state_size(const nn_optim_cfg *c, size_t n);

/* One update of params p[lo, hi) from gradients g with state `state` (same
 * indexing; for adam the second moment sits at state + n).  t is the 1-based
 * step count (adam's bias correction).  Pure elementwise, so callers may
 * split [0, n) among threads. */
void nn_optim_update(const nn_optim_cfg *c, double lr, int64_t t, nn_real *p,
                     const nn_real *g, nn_real *state, size_t n, size_t lo, size_t hi);

/* Sum of squares of g[lo, hi), accumulated in double. */
double nn_sumsq(const nn_real *g, size_t lo, size_t hi);

/* g[lo, hi) *= s. */
void nn_scale(nn_real *g, double s, size_t lo, size_t hi);

/* The factor that clips a gradient of global norm `norm` to max_norm:
 * min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_. */
double nn_clip_factor(double norm, double max_norm);

#endif
