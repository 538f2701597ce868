/*
 * layer.c — what all layers share: weight initialisation.
 */
#include "layer.h"
#include "rng.h"

#include <math.h>
#include <string.h>

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
