/*
 * layer.c — what all layers share: the table of layer kinds, the row blocks
 * of a part's products, and weight initialisation.
 */
#include "layer.h"

#include "gemm.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* A new layer kind is an enum value in spec.h and a row here. */
static const struct {
    nn_layer_kind kind;
    const char *name;         /* as in model definitions */
    const nn_layer_ops *ops;
} kinds[] = {
    {NN_LAYER_DENSE, "dense", &nn_dense_ops},
    {NN_LAYER_DROPOUT, "dropout", &nn_dropout_ops},
    {NN_LAYER_ACT, "activation", &nn_act_ops},
    {NN_LAYER_CONV2D, "conv2d", &nn_conv2d_ops},
    {NN_LAYER_MAXPOOL2D, "maxpool2d", &nn_maxpool2d_ops},
    {NN_LAYER_AVGPOOL2D, "avgpool2d", &nn_avgpool2d_ops},
    {NN_LAYER_GLOBAL_AVGPOOL, "global_avgpool", &nn_global_avgpool_ops},
    {NN_LAYER_BATCHNORM, "batchnorm", &nn_batchnorm_ops},
    {NN_LAYER_FLATTEN, "flatten", &nn_flatten_ops},
    {NN_LAYER_RNN, "rnn", &nn_rnn_ops},
    {NN_LAYER_LSTM, "lstm", &nn_rnn_ops},
    {NN_LAYER_GRU, "gru", &nn_rnn_ops},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };
_Static_assert((int)N_KINDS == (int)NN_LAYER_COUNT, "every layer kind has a row in the table");

const nn_layer_ops *nn_layer_ops_for(nn_layer_kind k)
{
    for (int i = 0; i < N_KINDS; i++)
        if (kinds[i].kind == k)
            return kinds[i].ops;
    return NULL;
}

const char *nn_layer_kind_name(nn_layer_kind k)
{
    for (int i = 0; i < N_KINDS; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "?";
}

int nn_layer_kind_from_name(const char *s)
{
    for (int i = 0; s && i < N_KINDS; i++)
        if (strcmp(kinds[i].name, s) == 0)
            return (int)kinds[i].kind;
    return -1;
}

int nn_rows_block(const nn_rows *r, int i, int *lo, int *hi)
{
    if (nn_gemm_row_invariant()) {
        *lo = r->lo;
        *hi = r->hi;
        return i == 0 && r->hi > r->lo;
    }
    /* one shard at a time, the empty ones skipped */
    for (int s = r->s0; s < r->s1; s++) {
        const int *b = r->pass->bound;
        if (b[s + 1] > b[s] && i-- == 0) {
            *lo = b[s];
            *hi = b[s + 1];
            return 1;
        }
    }
    return 0;
}

void nn_init_weights(nn_init_kind k, nn_real *w, size_t n, int fan_in, int fan_out,
                     uint64_t seed, int layer_index)
{
    nn_rng r;
    /* stream 1000 + index: each layer's weights depend only on the seed and
     * its position, not on the layers before it */
    nn_rng_seed(&r, seed, 1000 + (uint64_t)layer_index);
    double fan = k == NN_INIT_HE_UNIFORM || k == NN_INIT_HE_NORMAL ? fan_in
                                                                    : (double)fan_in + fan_out;
    double std = sqrt(2.0 / fan);
    double bound = sqrt(6.0 / fan);
    switch (k) {
    case NN_INIT_HE_NORMAL:
    case NN_INIT_GLOROT_NORMAL:
        for (size_t i = 0; i < n; i++)
            w[i] = (nn_real)(std * nn_rng_normal(&r));
        break;
    case NN_INIT_HE_UNIFORM:
    case NN_INIT_GLOROT_UNIFORM:
        for (size_t i = 0; i < n; i++)
            w[i] = (nn_real)(bound * (2 * nn_rng_uniform(&r) - 1));
        break;
    default:
        memset(w, 0, n * sizeof *w);
        break;
    }
}
