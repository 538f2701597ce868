/*
 * resume.c — see resume.h.
 */
#include "resume.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

typedef struct pause_at {
    int steps, at;
} pause_at;

/* counts the steps, each one checked: in order, inside its epoch, finite */
static void count_step(void *u, const nn_step_info *si)
{
    pause_at *p = u;
    ck_assert_int_eq(si->global_step, p->steps + 1);
    ck_assert(si->step >= 1 && si->step <= si->steps_per_epoch);
    ck_assert(isfinite(si->loss) && si->lr > 0);
    p->steps++;
}

static int should_pause(void *u)
{
    const pause_at *p = u;
    return p->steps >= p->at ? NN_HOOK_PAUSE : NN_HOOK_CONTINUE;
}

nn_model *tu_resume_run(nn_model *(*make)(uint64_t seed), uint64_t seed, const nn_train_cfg *c,
                        const nn_dataset *tr, int pause_step)
{
    nn_model *m = make(seed);
    nn_trainer *t;
    nn_train_result r;
    nn_err e;
    ck_assert_int_eq(nn_trainer_new(m, c, tr, NULL, &t, NULL), NN_OK);
    pause_at p = {0, pause_step};
    nn_callbacks cb = {&p, count_step, NULL, should_pause};
    ck_assert_int_eq(nn_trainer_run(t, &cb, &r, NULL), NN_OK);
    ck_assert_int_eq(r.reason, NN_STOP_PAUSED);
    void *blob;
    size_t len;
    ck_assert_int_eq(nn_trainer_save(t, &blob, &len, NULL), NN_OK);
    nn_trainer_free(t);
    nn_model_free(m);

    m = make(seed + 1);
    ck_assert_int_eq(nn_trainer_new(m, c, tr, NULL, &t, NULL), NN_OK);
    ck_assert_msg(nn_trainer_load(t, blob, len, &e) == NN_OK, "%s", e.msg);
    ck_assert_int_eq(nn_trainer_run(t, NULL, &r, NULL), NN_OK);
    free(blob);
    nn_trainer_free(t);
    return m;
}
