/*
 * tensor.h — an owned, dense, row-major array of nn_real with the batch
 * dimension first: dense data [n, features], images [n, channels, h, w],
 * sequences [n, time, features].
 *
 * The struct is transparent: readers fill it, the trainer reads it.
 * A zeroed nn_tensor is a valid empty tensor; nn_tensor_free() on it is a no-op.
 */
#ifndef NN_TENSOR_H
#define NN_TENSOR_H

#include "nn.h"

typedef struct nn_tensor {
    int rank;                    /* 0 .. NN_MAX_RANK */
    int64_t dim[NN_MAX_RANK];
    nn_real *data;               /* owned; numel elements, or NULL when empty */
} nn_tensor;

/* Allocates t with the given shape, zero-filled.  Fails with NN_ELIMIT when the
 * element count overflows or exceeds NN_TENSOR_MAX_ELEMS. Caller frees. */
int nn_tensor_alloc(nn_tensor *t, int rank, const int64_t *dim);

/* Frees t's data and zeroes t. */
void nn_tensor_free(nn_tensor *t);

/* Product of all dimensions (0 for an empty tensor). */
int64_t nn_tensor_numel(const nn_tensor *t);

/* Elements per sample: product of dims 1..rank-1 (1 for rank 1). */
int64_t nn_tensor_row_size(const nn_tensor *t);

/* Shape of one sample (dims 1..rank-1). */
nn_shape nn_tensor_sample_shape(const nn_tensor *t);

/* Largest tensor libnn allocates: 2^31 elements (8 GiB of float32). */
#define NN_TENSOR_MAX_ELEMS ((int64_t)1 << 31)

#endif
