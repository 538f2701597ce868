/*
 * data_bound.h — proving that a file holds the data its header announces,
 * before a reader allocates room for them; not part of libnn's public API.
 *
 * A binary header (IDX, NPY) states a shape in a few bytes: a 19-byte IDX
 * file may claim 2^30 doubles.  Allocating for the claim first would let
 * any small upload make the server reserve gigabytes, so the readers ask
 * nn_rd_require first and allocate only for bytes that are there.
 */
#ifndef NN_DATA_BOUND_H
#define NN_DATA_BOUND_H

#include "data_int.h"

/* NN_OK when the data still to be read from r (opened on path) hold at
 * least the N = numel(dim) * nn_elem_size(t) bytes of a shape that
 * nn_data_check_dims accepted; else NN_EFORMAT "<name>: truncated data: P of
 * N bytes present" (the message nn_data_read_elems gives), or the reader's
 * error for a corrupt gzip stream.  r's position is unchanged on success.
 *
 * A plain regular file answers from its size.  A gzip stream cannot say
 * how much it inflates to, so its remaining bytes are inflated and counted,
 * N bytes at most, in a fixed buffer, then the stream is sought back
 * (zlib inflates again up to the position): a small stream is done at
 * once, a large valid one costs a second pass, and memory stays bounded.
 * Another kind of plain file (a pipe, which cannot go back) is not
 * checked: the element limit alone bounds its allocation. */
int nn_rd_require(nn_rd *r, const char *path, nn_elem t, int rank, const int64_t *dim,
                  nn_err *e);

#endif
