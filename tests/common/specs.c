/*
 * specs.c — layer specs for the core suites (see specs.h).
 */
#include "specs.h"

nn_layer_spec tu_layer(nn_layer_kind k, int units)
{
    nn_layer_spec l;
    nn_layer_spec_default(&l);
    l.kind = k;
    l.units = units;
    return l;
}

nn_layer_spec tu_dense(int units, nn_act_kind act)
{
    nn_layer_spec l = tu_layer(NN_LAYER_DENSE, units);
    l.act = act;
    return l;
}

nn_layer_spec tu_seq(nn_layer_spec l)
{
    l.return_sequences = 1;
    return l;
}

nn_layer_spec tu_window(nn_layer_kind k, int kh, int kw, int sh, int sw)
{
    nn_layer_spec l;
    nn_layer_spec_default(&l);
    l.kind = k;
    l.kernel[0] = kh;
    l.kernel[1] = kw;
    l.stride[0] = sh;
    l.stride[1] = sw;
    return l;
}

nn_layer_spec tu_conv(int filters, int kh, int kw, int sh, int sw, nn_padding pad, int ph,
                      int pw)
{
    nn_layer_spec l = tu_window(NN_LAYER_CONV2D, kh, kw, sh, sw);
    l.filters = filters;
    l.padding = pad;
    l.pad[0] = ph;
    l.pad[1] = pw;
    return l;
}
