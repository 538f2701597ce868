/*
 * spec.c — model-definition data: defaults, copies and the names used in
 * JSON definitions.  The name tables are the single source of those names
 * (the layer kinds' are in layer.c's table, with their implementations).
 */
#include "spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[NN_ACT_COUNT] = {
    "linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "gelu",
};
static const char *const init_names[NN_INIT_COUNT] = {
    "default", "he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "zeros",
};
static const char *const loss_names[NN_LOSS_COUNT] = {
    "mse", "mae", "cross_entropy", "binary_cross_entropy",
};

static int lookup(const char *const *names, int n, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *nn_act_name(nn_act_kind k) { return (unsigned)k < NN_ACT_COUNT ? act_names[k] : "?"; }
const char *nn_init_name(nn_init_kind k) { return (unsigned)k < NN_INIT_COUNT ? init_names[k] : "?"; }
const char *nn_loss_name(nn_loss_kind k) { return (unsigned)k < NN_LOSS_COUNT ? loss_names[k] : "?"; }
int nn_act_from_name(const char *s) { return lookup(act_names, NN_ACT_COUNT, s); }
int nn_init_from_name(const char *s) { return lookup(init_names, NN_INIT_COUNT, s); }
int nn_loss_from_name(const char *s) { return lookup(loss_names, NN_LOSS_COUNT, s); }

void nn_layer_spec_default(nn_layer_spec *l)
{
    memset(l, 0, sizeof *l);
    l->kind = NN_LAYER_DENSE;
    l->use_bias = 1;
    l->init = NN_INIT_DEFAULT;
    l->act = NN_ACT_LINEAR;
    l->alpha = NAN;
    l->rate = 0;
    l->kernel[0] = l->kernel[1] = 0;
    l->stride[0] = l->stride[1] = 0;
    l->padding = NN_PAD_VALID;
    l->momentum = 0.1;
    l->eps = 1e-5;
}

void nn_spec_free(nn_spec *s)
{
    if (!s)
        return;
    free(s->layers);
    memset(s, 0, sizeof *s);
}

int nn_spec_copy(nn_spec *dst, const nn_spec *src)
{
    *dst = *src;
    dst->layers = NULL;
    if (src->n_layers > 0) {
        dst->layers = malloc((size_t)src->n_layers * sizeof *dst->layers);
        if (!dst->layers) {
            memset(dst, 0, sizeof *dst);
            return NN_ENOMEM;
        }
        memcpy(dst->layers, src->layers, (size_t)src->n_layers * sizeof *dst->layers);
    }
    return NN_OK;
}
