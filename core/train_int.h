/*
 * train_int.h — the trainer's state, shared by the training loop (train.c)
 * and the codec of its saved state (train_state.c); private to core/.
 */
#ifndef NN_TRAIN_INT_H
#define NN_TRAIN_INT_H

#include "loss.h"
#include "rng.h"
#include "train.h"

struct nn_trainer {
    nn_model *m;
    nn_train_cfg cfg;
    const nn_dataset *train, *valds;
    int64_t *train_idx, n_train;
    int64_t *val_idx, n_val;
    int64_t in_size, out_size;
    int labels;                /* y holds class indices */
    int loss_rows, loss_cols;  /* the loss sees each sample's output as rows x cols:
                                  one row per step of a sequence output */
    int B, EB;                 /* training batch, evaluation batch */
    int steps_per_epoch;
    nn_real *xb, *yb;
    nn_real *opt_state;
    size_t n_state;
    nn_loss_out *shard_loss;   /* per shard: the step's loss sums */
    double *range_sq;          /* per gradient range: its sum of squares (clip_norm) */
    int64_t *perm;             /* this epoch's order: positions in train_idx */
    int64_t *bidx;             /* sample numbers of the batch being gathered */
    nn_rng shuffle_rng, epoch_rng;
    /* progress */
    int epoch, step;
    int epoch_open;            /* perm has been drawn for epoch epoch+1 */
    int64_t global_step;
    double sum_loss;
    int64_t seen, correct, counted;
    double elapsed;            /* seconds of earlier run() calls */
    double epoch_seconds;      /* training seconds of the current epoch so far */
    /* the monitored metric's best */
    int has_best;
    double best_value;
    int since_best;
    nn_epoch_metrics best, last;
    nn_real *best_params;      /* when early.restore_best */
    int has_best_params;
    int done;
    nn_stop_reason reason;
    int restored_best;
};

/* perm := this epoch's order of the training samples, drawn from r (the
 * identity when the run does not shuffle). */
void nn_trainer_draw_order(nn_trainer *t, nn_rng *r);

#endif
