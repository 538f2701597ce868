/*
 * tensor.c — owned dense arrays of nn_real (see tensor.h).
 */
#include "tensor.h"

#include <stdlib.h>
#include <string.h>

int nn_tensor_alloc(nn_tensor *t, int rank, const int64_t *dim)
{
    memset(t, 0, sizeof *t);
    if (rank < 0 || rank > NN_MAX_RANK)
        return NN_EINVAL;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dim[i] < 0)
            return NN_EINVAL;
        if (dim[i] > 0 && n > NN_TENSOR_MAX_ELEMS / dim[i])
            return NN_ELIMIT;
        n *= dim[i];
    }
    if (n > NN_TENSOR_MAX_ELEMS)
        return NN_ELIMIT;
    if (n > 0) {
        t->data = calloc((size_t)n, sizeof *t->data);
        if (!t->data)
            return NN_ENOMEM;
    }
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dim[i] = dim[i];
    return NN_OK;
}

void nn_tensor_free(nn_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

int64_t nn_tensor_numel(const nn_tensor *t)
{
    if (t->rank == 0)
        return t->data ? 1 : 0;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dim[i];
    return n;
}

int64_t nn_tensor_row_size(const nn_tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < t->rank; i++)
        n *= t->dim[i];
    return n;
}

nn_shape nn_tensor_sample_shape(const nn_tensor *t)
{
    nn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = t->rank > 0 ? t->rank - 1 : 0;
    for (int i = 0; i < s.rank; i++)
        s.dim[i] = (int)t->dim[i + 1];
    return s;
}
