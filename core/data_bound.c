/*
 * data_bound.c — nn_rd_require (see data_bound.h).
 *
 * Invariant: nothing here allocates in proportion to the claim; the count
 * of a gzip stream goes through one fixed buffer and stops at the bytes
 * needed.
 */
#include "data_bound.h"

#include <sys/stat.h>

static int truncated(const nn_rd *r, int64_t present, int64_t need, nn_err *e)
{
    return nn_errf(e, NN_EFORMAT, "%s: truncated data: %lld of %lld bytes present", r->name,
                   (long long)present, (long long)need);
}

/* Inflates and counts up to need bytes of r, then seeks back. */
static int count_stream(nn_rd *r, int64_t need, nn_err *e)
{
    unsigned char buf[16384];
    int64_t at = r->pos, got = 0;
    while (got < need) {
        int64_t want = need - got < (int64_t)sizeof buf ? need - got : (int64_t)sizeof buf;
        int64_t k = nn_rd_read(r, buf, (size_t)want, e);
        if (k < 0)
            return (int)k;
        got += k;
        if (k < want)
            return truncated(r, got, need, e);
    }
    if (gzseek(r->f, (z_off_t)at, SEEK_SET) != (z_off_t)at)
        return nn_errf(e, NN_EIO, "%s: cannot go back to byte %lld of the data", r->name,
                       (long long)at);
    r->pos = at;
    return NN_OK;
}

int nn_rd_require(nn_rd *r, const char *path, nn_elem t, int rank, const int64_t *dim,
                  nn_err *e)
{
    struct stat st;
    int64_t need = (int64_t)nn_elem_size(t);
    for (int i = 0; i < rank; i++)
        need *= dim[i];   /* <= NN_TENSOR_MAX_ELEMS * 8: no overflow */
    if (!gzdirect(r->f))
        return count_stream(r, need, e);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NN_OK;
    int64_t present = (int64_t)st.st_size - r->pos;
    if (present < 0)
        present = 0;
    return present < need ? truncated(r, present, need, e) : NN_OK;
}
