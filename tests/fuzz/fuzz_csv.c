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
 * (fuzz_check_dataset), and preprocessing it (filled, scaled, one-hot: the
 * rule from byte 1's top bits) must give finite features of the planned
 * width.
 */
#include "fuzz.h"

#include "prep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"label", "y", "class", "target", "b", "0", "", "label "};
static char *const classes[] = {"a", "b", "c", "0", "1", "2"};

/* Preprocesses the table as a job does (core/prep.h), missing values
 * filled so that any table can be: the plan's width is the fit's, and
 * every feature is finite. */
static void preprocess(nn_dataset *d, int rule)
{
    nn_prep_cfg c;
    nn_prep p;
    nn_err e;
    int64_t width = -1;
    nn_prep_cfg_default(&c);
    c.missing_numeric = rule & 1 ? NN_IMPUTE_MEDIAN : NN_IMPUTE_MEAN;
    c.missing_categorical = rule & 2 ? NN_IMPUTE_CATEGORY : NN_IMPUTE_MOST_FREQUENT;
    c.min_max = (rule & 4) != 0;
    int planned = nn_prep_width(&c, d->n_cols ? d->cols : NULL, d->n_cols,
                                nn_tensor_row_size(&d->x), &width, &e);
    int rc = nn_prep_fit(&c, d, NULL, 0, &p, &e);
    if (rc != NN_OK) {
        /* only a column with no value at all may fail the fit */
        FUZZ_CHECK(rc == NN_EINVAL && strstr(e.msg, "no values"), "the fit failed: %s", e.msg);
        return;
    }
    FUZZ_CHECK(planned == NN_OK && width == p.n_out, "planned %lld features, fitted %lld",
               (long long)width, (long long)p.n_out);
    if (nn_prep_apply(&p, d, NULL, &e) == NN_OK) {
        int64_t n = nn_tensor_numel(&d->x);
        FUZZ_CHECK(nn_tensor_row_size(&d->x) == p.n_out, "%lld features, not %lld",
                   (long long)nn_tensor_row_size(&d->x), (long long)p.n_out);
        for (int64_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(d->x.data[i]), "feature value %lld is %g", (long long)i,
                       (double)d->x.data[i]);
    } else {
        FUZZ_CHECK(strstr(e.msg, "exceed the limit") != NULL, "apply failed: %s", e.msg);
    }
    nn_prep_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
        preprocess(&d, flags >> 5);
    }
    nn_dataset_free(&d);
    return 0;
}
