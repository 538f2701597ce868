/*
 * train.c — the training loop (see train.h).
 */
#include "train.h"

#include <math.h>
#include <string.h>

void nn_train_cfg_default(nn_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    nn_optim_cfg_default(&c->optim, NN_OPT_ADAM);
    nn_sched_cfg_default(&c->sched, NN_SCHED_CONSTANT);
    c->clip_norm = 0;
    c->epochs = 10;
    c->batch_size = 32;
    c->validation_split = 0;
    c->seed = 0;
    c->shuffle = 1;
    c->target_loss = NAN;
    c->max_seconds = 0;
    c->early.enabled = 0;
    c->early.monitor = NN_MON_VAL_LOSS;
    c->early.patience = 5;
    c->early.min_delta = 0;
    c->early.restore_best = 1;
}

const char *nn_stop_reason_name(nn_stop_reason r)
{
    switch (r) {
    case NN_STOP_MAX_EPOCHS: return "max_epochs";
    case NN_STOP_TARGET_LOSS: return "target_loss";
    case NN_STOP_EARLY_STOPPING: return "early_stopping";
    case NN_STOP_TIME_LIMIT: return "time_limit";
    case NN_STOP_DIVERGED: return "diverged";
    case NN_STOP_CANCELLED: return "cancelled";
    case NN_STOP_PAUSED: return "paused";
    default: return "none";
    }
}
