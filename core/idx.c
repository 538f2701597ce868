/*
 * idx.c — the IDX reader (the MNIST family of files; see data.h).
 *
 * Layout: bytes 0x00 0x00, an element-type byte (0x08 u8, 0x09 i8, 0x0B i16,
 * 0x0C i32, 0x0D f32, 0x0E f64), the rank; then one big-endian u32 per
 * dimension; then the elements, big-endian, row-major.
 *
 * Invariants: the shape is validated (every dim > 0, the product within the
 * element limit, computed without overflow) and the file is seen to hold the
 * bytes the shape describes (nn_rd_require) before anything is allocated, so
 * that a header's claim never costs more memory than the file's bytes; the
 * file must hold exactly those bytes, no fewer and no more.
 */
#include "reader.h"

#include <string.h>

static int idx_type(unsigned char code, nn_elem *t)
{
    switch (code) {
    case 0x08: *t = NN_EL_U8; return 1;
    case 0x09: *t = NN_EL_I8; return 1;
    case 0x0B: *t = NN_EL_I16; return 1;
    case 0x0C: *t = NN_EL_I32; return 1;
    case 0x0D: *t = NN_EL_F32; return 1;
    case 0x0E: *t = NN_EL_F64; return 1;
    default: return 0;
    }
}

int nn_idx_read_lim(const char *path, int64_t max_elems, nn_tensor *out, int *is_int,
                    int *is_u8, nn_err *e)
{
    nn_rd r;
    unsigned char head[4 + 4 * NN_MAX_RANK];
    int64_t dim[NN_MAX_RANK];
    nn_elem t;

    memset(out, 0, sizeof *out);
    if (is_int)
        *is_int = 0;
    if (is_u8)
        *is_u8 = 0;
    int rc = nn_rd_open(&r, path, e);
    if (rc < 0)
        return rc;
    int64_t got = nn_rd_read(&r, head, 4, e);
    if (got < 0) {
        rc = (int)got;
        goto out;
    }
    if (got < 4) {
        rc = nn_errf(e, NN_EFORMAT, "%s: truncated IDX header: %lld of 4 magic bytes", r.name,
                     (long long)got);
        goto out;
    }
    if (head[0] != 0 || head[1] != 0) {
        rc = nn_errf(e, NN_EFORMAT, "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 type rank)",
                     r.name, head[0], head[1], head[2], head[3]);
        goto out;
    }
    if (!idx_type(head[2], &t)) {
        rc = nn_errf(e, NN_EFORMAT, "%s: unknown IDX element type 0x%02x", r.name, head[2]);
        goto out;
    }
    int rank = head[3];
    if (rank < 1 || rank > NN_MAX_RANK) {
        rc = nn_errf(e, rank ? NN_ELIMIT : NN_EFORMAT, "%s: IDX rank %d is not within 1..%d",
                     r.name, rank, NN_MAX_RANK);
        goto out;
    }
    got = nn_rd_read(&r, head + 4, (size_t)(4 * rank), e);
    if (got < 0) {
        rc = (int)got;
        goto out;
    }
    if (got < 4 * rank) {
        rc = nn_errf(e, NN_EFORMAT, "%s: truncated IDX header: %lld of %d dimension bytes",
                     r.name, (long long)got, 4 * rank);
        goto out;
    }
    for (int i = 0; i < rank; i++) {
        const unsigned char *p = head + 4 + 4 * i;
        dim[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    }
    if ((rc = nn_data_check_dims(r.name, rank, dim, max_elems, e)) < 0)
        goto out;
    if ((rc = nn_rd_require(&r, path, t, rank, dim, e)) < 0)
        goto out;
    if ((rc = nn_data_read_elems(&r, t, 1, rank, dim, out, e)) < 0)
        goto out;
    if ((rc = nn_rd_expect_eof(&r, e)) < 0)
        goto out;
    if (is_int)
        *is_int = nn_elem_is_int(t);
    if (is_u8)
        *is_u8 = t == NN_EL_U8;

out:
    nn_rd_close(&r);
    if (rc < 0)
        nn_tensor_free(out);
    return rc;
}

int nn_idx_read(const char *path, nn_tensor *out, int *is_u8, nn_err *e)
{
    return nn_idx_read_lim(path, NN_TENSOR_MAX_ELEMS, out, NULL, is_u8, e);
}

int nn_idx_read_pair(const char *images, const char *labels, const nn_load_opts *o,
                     nn_dataset *out, nn_err *e)
{
    return nn_data_read_pair(nn_idx_read_lim, 1, images, labels, o, out, e);
}
