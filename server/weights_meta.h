/*
 * weights_meta.h — the metadata every weights file traind writes carries in
 * its safetensors "__metadata__" (all values are strings, as the format
 * asks), whether `traind train --out` or a job's final, best or latest
 * weights wrote it:
 *
 *   format      "traind"
 *   version     the program's version
 *   model       the canonical model definition, training (with its
 *               preprocess request) included, as JSON
 *   classes     the class names as a JSON array ([] for regression)
 *   preprocess  the fitted preprocessing (prep_json.h) as JSON, or null
 *
 * so that a file alone says how to feed the network raw values and how to
 * name its outputs.
 */
#ifndef WEIGHTS_META_H
#define WEIGHTS_META_H

#include "prep.h"
#include "spec.h"
#include "train.h"

#define WEIGHTS_META_PAIRS 5

typedef struct weights_meta {
    const char *kv[2 * WEIGHTS_META_PAIRS];   /* key, value, ... for nn_model_save_weights */
    int n;                                    /* pairs */
    char *model, *classes, *preprocess;       /* owned texts */
} weights_meta;

/* Builds the pairs.  prep_text is the fitted preprocessing's JSON (NULL:
 * "null"); classes may be NULL.  -1 when out of memory (m is then empty
 * but may be freed). */
int weights_meta_build(weights_meta *m, const nn_spec *spec, const nn_train_cfg *cfg,
                       const nn_prep_cfg *prep_cfg, char *const *classes, int n_classes,
                       const char *prep_text);
void weights_meta_free(weights_meta *m);

#endif
