/*
 * metric_json.c — training metrics as JSON (see metric_json.h).
 */
#include "metric_json.h"

#include <math.h>

json_t *metric_json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

char *metric_json_epoch_text(const nn_epoch_metrics *m)
{
    json_t *o = json_pack("{s:i,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "epoch", m->epoch,
                          "global_step", (json_int_t)m->global_step, "loss",
                          metric_json_num(m->loss), "accuracy", metric_json_num(m->accuracy),
                          "val_loss", metric_json_num(m->val_loss), "val_accuracy",
                          metric_json_num(m->val_accuracy), "lr", metric_json_num(m->lr),
                          "elapsed", metric_json_num(m->elapsed), "samples_per_second",
                          metric_json_num(m->samples_per_sec));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    return s;
}
