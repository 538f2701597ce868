/*
 * fuzz_csv.c — nn_csv_read (core/csv.c) on hostile text, with its options
 * taken from the input's first three bytes:
 *
 *   byte 0  the delimiter: 0 is the default; any other byte is used as it
 *           is, except the quote and line breaks (which traind's
 *           ?delimiter= refuses), which become ','
 *   byte 1  bits 0-1 the label kind (auto, class, numeric; 3 is auto),
 *           bit 2 a given class mapping (a test set's), bit 3 a small
 *           element limit, bit 4 scale_u8 off
 *   byte 2  the label column: 0 the default (the last column); 1..127 an
 *           index "0".."15"; 128..255 one of a few names
 *
 * The rest is the CSV file.  A dataset read must keep data.h's promises
 * (fuzz_check_dataset), and standardizing it must give finite values.
 */
#include "fuzz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const names[] = {"label", "y", "class", "target", "b", "0", "", "label "};
static char *const classes[] = {"a", "b", "c", "0", "1", "2"};

static void standardize(nn_dataset *d)
{
    int64_t f = nn_tensor_row_size(&d->x);
    double *mean = malloc((size_t)f * sizeof *mean), *std = malloc((size_t)f * sizeof *std);
    FUZZ_CHECK(mean && std, "out of memory for %lld features", (long long)f);
    FUZZ_CHECK(nn_dataset_feature_stats(d, mean, std) == NN_OK, "feature stats failed");
    for (int64_t j = 0; j < f; j++)
        FUZZ_CHECK(isfinite(mean[j]) && isfinite(std[j]) && std[j] > 0,
                   "feature %lld: mean %g, std %g", (long long)j, mean[j], std[j]);
    nn_dataset_standardize(d, mean, std);
    free(mean);
    free(std);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_pending(data, size))
        return 0;
    fuzz_in in = {data, size};
    nn_load_opts o;
    nn_dataset d;
    nn_err e;
    char index[8];

    nn_load_opts_default(&o);
    uint8_t delim = fuzz_take(&in), flags = fuzz_take(&in), label = fuzz_take(&in);
    if (delim)
        o.delimiter = delim == '"' || delim == '\n' || delim == '\r' ? ',' : (char)delim;
    o.label_kind = (flags & 3) == 3 ? NN_LABEL_AUTO : (nn_label_kind)(flags & 3);
    if (flags & 4) {
        o.classes = classes;
        o.n_classes = 3 + (flags >> 5) % 4;
    }
    if (flags & 8)
        o.max_elems = 64;
    o.scale_u8 = !(flags & 16);
    if (label >= 128) {
        o.label = names[label % (sizeof names / sizeof names[0])];
    } else if (label > 0) {
        snprintf(index, sizeof index, "%d", (label - 1) % 16);
        o.label = index;
    }

    const char *path = fuzz_file(0, in.p, in.n);
    int rc = nn_csv_read(path, &o, &d, &e);
    fuzz_note_data("nn_csv_read", rc, &d.x, &d.y, d.n_classes, &e);
    fuzz_check_dataset(rc, &d, &e);
    if (rc == NN_OK) {
        if (o.max_elems)
            FUZZ_CHECK(nn_tensor_numel(&d.x) <= o.max_elems, "x has %lld elements, limit %lld",
                       (long long)nn_tensor_numel(&d.x), (long long)o.max_elems);
        if (o.classes && d.n_classes)   /* numeric labels take no mapping */
            FUZZ_CHECK(d.n_classes == o.n_classes, "%d classes, %d given", d.n_classes,
                       o.n_classes);
        standardize(&d);
    }
    nn_dataset_free(&d);
    return 0;
}
