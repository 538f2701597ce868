/*
 * specs.h — layer specs for the core suites: every option at its default
 * (nn_layer_spec_default) but the ones named.
 */
#ifndef TEST_SPECS_H
#define TEST_SPECS_H

#include "spec.h"

/* A layer of kind k with `units` (dense, rnn, lstm, gru). */
nn_layer_spec tu_layer(nn_layer_kind k, int units);

/* A dense layer with its activation. */
nn_layer_spec tu_dense(int units, nn_act_kind act);

/* l, returning its whole sequence. */
nn_layer_spec tu_seq(nn_layer_spec l);

/* A layer with a window (pooling): kernel kh x kw, stride sh x sw. */
nn_layer_spec tu_window(nn_layer_kind k, int kh, int kw, int sh, int sw);

/* A linear conv2d: filters, kernel, stride, padding (pad ph x pw when
 * NN_PAD_EXPLICIT). */
nn_layer_spec tu_conv(int filters, int kh, int kw, int sh, int sw, nn_padding pad, int ph,
                      int pw);

#endif
