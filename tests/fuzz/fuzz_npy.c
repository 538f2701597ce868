/*
 * fuzz_npy.c — the NPY reader (core/npy.c): one file through nn_npy_read,
 * and an x/y pair through nn_dataset_load as traind's multipart upload
 * calls it.
 *
 *   byte 0     bits 0-1 the label kind (3 is auto), bit 2 a given class
 *              mapping, bit 3 scale_u8 off, bit 4 a small element limit
 *   bytes 1-2  the length of the x file (little-endian u16); the y file is
 *              what follows it
 *
 * Either file may be gzip-compressed.
 */
#include "fuzz.h"

static char *const classes[] = {"0", "1", "2", "3"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    nn_load_opts o;
    nn_tensor t;
    nn_dataset d;
    nn_err e;
    int is_int, is_u8;

    nn_load_opts_default(&o);
    uint8_t flags = fuzz_take(&in);
    size_t xlen = fuzz_take(&in);
    xlen |= (size_t)fuzz_take(&in) << 8;
    o.label_kind = (flags & 3) == 3 ? NN_LABEL_AUTO : (nn_label_kind)(flags & 3);
    if (flags & 4) {
        o.classes = classes;
        o.n_classes = 4;
    }
    o.scale_u8 = !(flags & 8);
    if (flags & 16)
        o.max_elems = 100;
    fuzz_in x = fuzz_split(&in, xlen);

    const char *paths[2] = {fuzz_file(0, x.p, x.n), fuzz_file(1, in.p, in.n)};
    int rc = nn_npy_read(paths[0], &t, &is_int, &is_u8, &e);
    fuzz_check_tensor(rc, &t, &e);
    fuzz_note_data("nn_npy_read", rc, &t, NULL, 0, &e);
    FUZZ_CHECK(rc == NN_OK || (!is_int && !is_u8), "is_int or is_u8 set on a failure");
    FUZZ_CHECK(!is_u8 || is_int, "u1 data not counted as integers");
    nn_tensor_free(&t);

    rc = nn_dataset_load(paths, 2, &o, &d, &e);
    fuzz_note_data("nn_dataset_load", rc, &d.x, &d.y, d.n_classes, &e);
    fuzz_check_dataset(rc, &d, &e);
    if (rc == NN_OK && o.max_elems)
        FUZZ_CHECK(nn_tensor_numel(&d.x) <= o.max_elems && nn_tensor_numel(&d.y) <= o.max_elems,
                   "a tensor over the limit of %lld elements", (long long)o.max_elems);
    nn_dataset_free(&d);
    return 0;
}
