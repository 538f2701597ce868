/*
 * train.h — the training loop: epochs of shuffled minibatches, validation,
 * per-epoch metrics, stop rules, callbacks, and a full saveable state.
 *
 * The loop knows nothing of HTTP, SQL or terminals.  It reports through
 * callbacks (on_step after every optimizer step, on_epoch after every epoch)
 * and polls should_stop before every step.  Its stop rules are data
 * (nn_train_cfg) and may be combined; the first that fires ends the run.
 *
 * Determinism: the run is a function of (model, data, cfg) and of the
 * build that computes it.  For a given shard count the weights are the same
 * bits whatever the thread count (model.h), also across a save and a load
 * with another thread count, and whichever thread ran which part.  What
 * changes the bits: cfg.shards, cfg.batch_size, cfg.seed (and the rest of
 * cfg, the definition, the data and its order), and the products' build:
 * libnn's AVX-512 kernel and a BLAS give different bits, as may another
 * BLAS, another version of it or another of its kernels (OPENBLAS_CORETYPE),
 * and another compiler or CPU for the element-wise loops compiled per CPU.
 * The shuffle and dropout streams derive from cfg.seed; nothing reads the
 * clock for randomness.  nn_trainer_save() may be called from on_step or
 * on_epoch (or after a run returned); loading that state into a fresh trainer
 * built from the same model definition, data and cfg continues the run bit
 * for bit.
 */
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include "nn.h"
#include "data.h"
#include "model.h"
#include "optim.h"

typedef enum nn_monitor {
    NN_MON_VAL_LOSS = 0,
    NN_MON_VAL_ACCURACY,
    NN_MON_LOSS,
    NN_MON_ACCURACY,
    NN_MON_COUNT
} nn_monitor;

/* "val_loss", "val_accuracy", "loss", "accuracy" ("?" out of range), and
 * back (-1 when unknown). */
const char *nn_monitor_name(nn_monitor m);
int nn_monitor_from_name(const char *s);

/* Whether the metric is a validation metric (the run then needs validation
 * data), and whether lower values are better. */
int nn_monitor_needs_validation(nn_monitor m);
int nn_monitor_lower_is_better(nn_monitor m);

typedef struct nn_early_stop {
    int enabled;
    nn_monitor monitor;   /* default val_loss */
    int patience;         /* epochs without improvement before stopping; default 5 */
    double min_delta;     /* smallest change that counts as improvement; default 0 */
    int restore_best;     /* when the run ends by a stop rule (not by cancellation),
                             put back the best epoch's weights; default 1 */
} nn_early_stop;

typedef struct nn_train_cfg {
    nn_optim_cfg optim;
    nn_sched_cfg sched;
    double clip_norm;          /* clip gradients to this global L2 norm; 0: off */
    int epochs;                /* max_epochs; default 10 */
    int batch_size;            /* default 32 */
    double validation_split;   /* fraction held out (seeded random split); 0: none */
    uint64_t seed;             /* default 0 */
    int shuffle;               /* default 1 */
    double target_loss;        /* stop when the epoch's training loss <= this; NAN: off */
    double max_seconds;        /* stop after this much training time; 0: off */
    nn_early_stop early;
    int shards;                /* every batch is cut into this many shards (model.h),
                                  whatever the thread count: part of the results,
                                  recorded in the saved state; default
                                  NN_SHARDS_DEFAULT (8), 1 .. NN_SHARDS_MAX */
} nn_train_cfg;

void nn_train_cfg_default(nn_train_cfg *c);

/* The metric a run ranks its epochs by ("best" weights, early stopping):
 * early.monitor when early stopping is on, else val_loss when the run has
 * validation data and loss when it has none. */
nn_monitor nn_train_monitor(const nn_train_cfg *c, int have_val);

/* Whether cfg needs validation data: early stopping on a validation metric. */
int nn_train_needs_validation(const nn_train_cfg *c);

/* The samples of a dataset of n that train and that validate under
 * cfg->validation_split: a seeded random part of floor(n * split) samples
 * (at least 1) validates, the rest trains, each part in file order.  With
 * no split every sample trains.  *train and *val (may be NULL when *n_val
 * is 0) are owned by the caller.  NN_EINVAL when the split leaves nothing
 * to train on.  The trainer itself splits with this function. */
int nn_train_split(int64_t n, const nn_train_cfg *cfg, int64_t **train, int64_t *n_train,
                   int64_t **val, int64_t *n_val, nn_err *e);

typedef enum nn_stop_reason {
    NN_STOP_NONE = 0,          /* still running (or never ran) */
    NN_STOP_MAX_EPOCHS,
    NN_STOP_TARGET_LOSS,
    NN_STOP_EARLY_STOPPING,
    NN_STOP_TIME_LIMIT,
    NN_STOP_DIVERGED,          /* a NaN or Inf loss */
    NN_STOP_CANCELLED,         /* should_stop returned NN_HOOK_CANCEL */
    NN_STOP_PAUSED,            /* should_stop returned NN_HOOK_PAUSE: save state, resume later */
} nn_stop_reason;

/* "max_epochs", "target_loss", "early_stopping", "time_limit", "diverged",
 * "cancelled", "paused", or "none". */
const char *nn_stop_reason_name(nn_stop_reason r);

/* Values should_stop may return. */
enum { NN_HOOK_CONTINUE = 0, NN_HOOK_CANCEL = 1, NN_HOOK_PAUSE = 2 };

typedef struct nn_step_info {
    int epoch;                 /* 1-based */
    int step;                  /* 1-based within the epoch */
    int steps_per_epoch;
    int64_t global_step;       /* optimizer steps so far, over all epochs */
    double loss;               /* this batch's mean loss */
    double lr;                 /* learning rate used for this step */
    double elapsed;            /* training seconds so far (across resumes) */
    double samples_per_sec;    /* over this epoch so far */
} nn_step_info;

typedef struct nn_epoch_metrics {
    int epoch;                 /* 1-based */
    int64_t global_step;
    double loss, accuracy;     /* training: mean over the epoch's batches; accuracy NAN for regression */
    double val_loss, val_accuracy;  /* NAN without validation data */
    double lr;                 /* learning rate of the epoch's last step */
    double seconds;            /* training time of this epoch (validation excluded) */
    double elapsed;            /* training seconds so far */
    double samples_per_sec;
    int is_best;               /* the best epoch so far by the monitored metric */
} nn_epoch_metrics;

/* An epoch's value of metric m (NAN when it has none). */
double nn_epoch_metric(const nn_epoch_metrics *em, nn_monitor m);

typedef struct nn_callbacks {
    void *user;
    void (*on_step)(void *user, const nn_step_info *s);          /* may be NULL */
    void (*on_epoch)(void *user, const nn_epoch_metrics *m);     /* may be NULL */
    int (*should_stop)(void *user);                              /* may be NULL */
} nn_callbacks;

typedef struct nn_train_result {
    nn_stop_reason reason;
    int epochs_done;
    nn_epoch_metrics last;     /* the last completed epoch (epoch 0 if none) */
    nn_epoch_metrics best;     /* the best epoch by the monitored metric */
    int restored_best;         /* 1 when the best weights were put back */
} nn_train_result;

typedef struct nn_trainer nn_trainer;

/* Prepares a run of cfg on m with the given data.  val may be NULL; then
 * cfg->validation_split (if > 0) holds out a seeded random part of train.
 * Checks that the data fit the model: feature count against the model's
 * input, classes against its outputs, targets' size against the output size.
 * m and the datasets are not owned and must outlive the trainer. */
int nn_trainer_new(nn_model *m, const nn_train_cfg *cfg, const nn_dataset *train,
                   const nn_dataset *val, nn_trainer **out, nn_err *e);
void nn_trainer_free(nn_trainer *t);

/* Runs until a stop rule fires.  May be called again after NN_STOP_PAUSED. */
int nn_trainer_run(nn_trainer *t, const nn_callbacks *cb, nn_train_result *res, nn_err *e);

/* Number of minibatches per epoch. */
int nn_trainer_steps_per_epoch(const nn_trainer *t);

/* Number of training / validation samples actually used. */
int64_t nn_trainer_train_len(const nn_trainer *t);
int64_t nn_trainer_val_len(const nn_trainer *t);

/* The full state (weights, optimizer state, RNG streams, epoch, position in
 * the epoch, schedule step, partial-epoch sums, early-stopping record, best
 * weights, elapsed time) as a checksummed blob.  Caller frees *buf. */
int nn_trainer_save(const nn_trainer *t, void **buf, size_t *len, nn_err *e);

/* Restores a state written by nn_trainer_save for the same model definition,
 * data and cfg; NN_EFORMAT on a damaged blob, NN_EINVAL on a mismatch. */
int nn_trainer_load(nn_trainer *t, const void *buf, size_t len, nn_err *e);

/* Whether data of these shapes fit m: samples x_sample (their element
 * count must equal the model's input size), class labels (n_classes > 0)
 * or targets of shape y_sample against the model's outputs and loss.
 * `what` names the data in the message ("training"). NN_EINVAL if not.
 *
 * Samples are read in the model's input shape whatever their own shape,
 * when the element counts agree: images [1, 28, 28] feed an input [28, 28]
 * (28 steps of 28 features, the rows), or [784].
 *
 * An output [T, C] (a sequence) is T rows of C values for the loss:
 * cross_entropy takes a softmax per step and averages over samples and
 * steps, and class labels are one per step (y [n, T]); numbers y [n, T]
 * against such an output under cross_entropy are class indices per step
 * too.  mse, mae and binary_cross_entropy compare element by element, so
 * targets [n, T, C] (or [n, T] when C is 1) fit; binary_cross_entropy's
 * class labels are one per step.  Other outputs are one row per sample, as
 * before: one class label, or out_size targets.
 *
 * Class labels (n_classes > 0) under cross_entropy need exactly n_classes
 * outputs (per step): fewer cannot hold every class, and more would train
 * units that no label names, whose predictions name no class of the data.
 * binary_cross_entropy's need one output (per step) and at most 2 classes. */
int nn_data_fits(const nn_model *m, const nn_shape *x_sample, int n_classes,
                 const nn_shape *y_sample, const char *what, nn_err *e);

/* Mean loss and accuracy (NAN for regression) of m on d, in eval mode, in
 * batches of batch_size rows (at least 32; <= 0: 32).  A trainer evaluates
 * its validation data in batches of its training batch (at least 32), so
 * evaluation needs no activations beyond the ones training reserved. */
int nn_evaluate(nn_model *m, const nn_dataset *d, int batch_size, double *loss,
                double *accuracy, nn_err *e);

#endif
