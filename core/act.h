/*
 * act.h — activation functions on a block of a row-major matrix: `rows` rows
 * of `cols` values, consecutive rows `ld` apart (so that a thread can work on
 * a slice of columns).  Softmax works along rows and needs whole rows.
 */
#ifndef NN_ACT_H
#define NN_ACT_H

#include "nn.h"
#include "spec.h"

/* The alpha an activation uses when the spec leaves it NAN. */
double nn_act_alpha(nn_act_kind k, double alpha);

/* Whether the derivative needs the pre-activation z (else y suffices). */
int nn_act_needs_z(nn_act_kind k);

/* Whether the function mixes values along a row (softmax). */
int nn_act_is_rowwise(nn_act_kind k);

/* y = f(z); y may equal z. */
void nn_act_forward(nn_act_kind k, double alpha, const nn_real *z, nn_real *y,
                    int rows, int cols, int ld);

/* dz = dy * f'(z), from y (and z where nn_act_needs_z); dz may equal dy. */
void nn_act_backward(nn_act_kind k, double alpha, const nn_real *z, const nn_real *y,
                     const nn_real *dy, nn_real *dz, int rows, int cols, int ld);

#endif
