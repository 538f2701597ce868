/*
 * resume.h — the pause/save/load round trip of the core's training loop,
 * shared by the suites that check a resumed run ends bit for bit where an
 * uninterrupted one does.
 */
#ifndef TEST_RESUME_H
#define TEST_RESUME_H

#include "model.h"
#include "train.h"

/* Trains make(seed) with c on tr, pausing once `pause_step` steps are done;
 * saves the trainer, loads the state into a trainer of make(seed + 1) (other
 * weights, which the load must replace) and trains that to the end.  Every
 * step before the pause is checked (in order, inside its epoch, a finite
 * loss); returns the resumed model, for the caller to compare with
 * an uninterrupted run of make(seed) and to free. */
nn_model *tu_resume_run(nn_model *(*make)(uint64_t seed), uint64_t seed, const nn_train_cfg *c,
                        const nn_dataset *tr, int pause_step);

#endif
