/*
 * fuzz_dataset_json.c — a dataset uploaded as JSON (server/dataset_json.c,
 * {"x": [...], "y": [...]}, gzip allowed), as POST /v1/datasets reads an
 * application/json body.
 *
 *   byte 0  bits 0-1 the label kind (3 is auto), bit 2 a small element
 *           limit (traind passes max_upload_mb << 20)
 *
 * The rest is the file.  The dataset must keep data.h's promises, and an
 * error message must be UTF-8 text starting with a JSON Pointer.
 */
#include "fuzz.h"

#include "dataset_json.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    nn_dataset d;
    nn_err e = {.layer = -1};
    uint8_t flags = fuzz_take(&in);
    nn_label_kind kind = (flags & 3) == 3 ? NN_LABEL_AUTO : (nn_label_kind)(flags & 3);
    int64_t max_elems = flags & 4 ? 64 : (int64_t)1 << 20;
    int64_t max_text = flags & 8 ? 256 : 0;

    int rc = dataset_json_read(fuzz_file(0, in.p, in.n), kind, max_elems, max_text, &d, e.msg,
                               sizeof e.msg);
    fuzz_note_data("dataset_json_read", rc, &d.x, &d.y, d.n_classes, &e);
    fuzz_check_dataset(rc, &d, &e);
    if (rc == NN_OK)
        FUZZ_CHECK(nn_tensor_numel(&d.x) + nn_tensor_numel(&d.y) <= max_elems,
                   "x and y have %lld values, limit %lld",
                   (long long)(nn_tensor_numel(&d.x) + nn_tensor_numel(&d.y)),
                   (long long)max_elems);
    else if (rc == NN_EFORMAT && strncmp(e.msg, "invalid JSON", 12) &&
             strncmp(e.msg, "expected an object", 18))
        FUZZ_CHECK(e.msg[0] == '/', "the message names no JSON Pointer: %s", e.msg);
    nn_dataset_free(&d);
    return 0;
}
