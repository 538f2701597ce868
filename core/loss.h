/*
 * loss.h — losses on a batch of model outputs, with their gradients.
 *
 * `out` is [B, D]: logits for cross_entropy (softmax fused in) and
 * binary_cross_entropy (sigmoid fused in), plain outputs otherwise.
 * Targets are either class indices (labels, [B]) or values (targets, [B, D]).
 * The loss is the mean over the batch (and over D for mse, mae and
 * binary_cross_entropy, as PyTorch's default reduction).
 */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include "nn.h"
#include "spec.h"

typedef struct nn_loss_out {
    double loss;        /* mean loss over the batch */
    int64_t correct;    /* correct predictions (classification) */
    int64_t counted;    /* predictions judged (0 for regression) */
} nn_loss_out;

/* Computes the loss of out against labels (when labels != NULL; each in
 * [0, D) for cross_entropy, 0 or 1 for binary_cross_entropy with D == 1)
 * or against targets [B, D].  When grad != NULL writes d(loss)/d(out) there
 * ([B, D]; may not alias out). */
void nn_loss(nn_loss_kind k, const nn_real *out, const nn_real *labels,
             const nn_real *targets, int B, int D, nn_real *grad, nn_loss_out *res);

/* The loss on rows of a batch of `norm_rows` rows (a shard): res->loss is
 * the rows' sum of what nn_loss averages (divide the batch's total by
 * norm_rows, and for mse, mae and binary_cross_entropy by D too); grad, when
 * not NULL, is the batch's gradient on these rows (normalised by norm_rows),
 * as nn_loss would write it; nn_loss_mean turns the batch's sum into its
 * mean. */
void nn_loss_rows(nn_loss_kind k, const nn_real *out, const nn_real *labels,
                  const nn_real *targets, int rows, int D, int norm_rows, nn_real *grad,
                  nn_loss_out *res);

/* The mean nn_loss reports from the sum of nn_loss_rows over a batch. */
double nn_loss_mean(nn_loss_kind k, double sum, int rows, int D);

/* The output activation the loss fuses in: softmax for cross_entropy,
 * sigmoid for binary_cross_entropy, linear (none) otherwise. */
nn_act_kind nn_loss_fused_act(nn_loss_kind k);

/* Whether the loss classifies (accuracy is reported). */
int nn_loss_is_classification(nn_loss_kind k);

#endif
