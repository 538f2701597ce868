/*
 * metric_json.h — training metrics as JSON, with one rule for the numbers:
 * a finite double is a JSON number; NaN ("none": no validation data, no
 * accuracy for a regression) and ±Inf (a loss that overflowed) are null.
 * JSON has no value for them, and jansson's json_real refuses them (it
 * returns NULL, so a json_pack holding one fails as a whole and the object
 * would be lost).  Everything the daemon answers or keeps about metrics
 * goes through metric_json_num: a job's last_metrics and best_metrics
 * (jobs.c), the metric rows and progress of the API (api_common.c,
 * api_jobs.c).  The store writes the same rule into its event payloads
 * (store.c's real_text), as text without jansson.
 */
#ifndef METRIC_JSON_H
#define METRIC_JSON_H

#include <jansson.h>

#include "train.h"

/* v as a JSON real, or null when v is NaN or infinite (a new reference). */
json_t *metric_json_num(double v);

/* An epoch's metrics as compact JSON text (the last_metrics / best_metrics
 * of a job): {"epoch", "global_step", "loss", "accuracy", "val_loss",
 * "val_accuracy", "lr", "elapsed", "samples_per_second"}, each number by
 * metric_json_num, reals with 10 significant digits.  Caller frees; NULL
 * only when out of memory. */
char *metric_json_epoch_text(const nn_epoch_metrics *m);

#endif
