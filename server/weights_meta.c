/*
 * weights_meta.c — the weights files' metadata (see weights_meta.h).
 */
#include "weights_meta.h"

#include "spec_json.h"
#include "version.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int weights_meta_build(weights_meta *m, const nn_spec *spec, const nn_train_cfg *cfg,
                       const nn_prep_cfg *prep_cfg, char *const *classes, int n_classes,
                       const char *prep_text)
{
    memset(m, 0, sizeof *m);
    json_t *def = spec_json_dump_prep(spec, cfg, prep_cfg), *names = json_array();
    for (int i = 0; names && classes && i < n_classes; i++)
        json_array_append_new(names, json_string(classes[i]));
    m->model = def ? json_dumps(def, SPEC_JSON_DUMP_FLAGS) : NULL;
    m->classes = names ? json_dumps(names, JSON_COMPACT) : NULL;
    m->preprocess = strdup(prep_text ? prep_text : "null");
    json_decref(def);
    json_decref(names);
    if (!m->model || !m->classes || !m->preprocess)
        return -1;
    const char *kv[2 * WEIGHTS_META_PAIRS] = {"format", "traind", "version", TRAIND_VERSION,
                                              "model", m->model, "classes", m->classes,
                                              "preprocess", m->preprocess};
    memcpy(m->kv, kv, sizeof kv);
    m->n = WEIGHTS_META_PAIRS;
    return 0;
}

void weights_meta_free(weights_meta *m)
{
    free(m->model);
    free(m->classes);
    free(m->preprocess);
    memset(m, 0, sizeof *m);
}
