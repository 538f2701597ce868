/*
 * dataset_json.h — reading a dataset uploaded as JSON ({"x": [...], "y": [...]}).
 */
#ifndef DATASET_JSON_H
#define DATASET_JSON_H

#include <stddef.h>

#include "data.h"

/* Reads the JSON file at path (gzip allowed) into *out.  kind decides what
 * numeric labels are (data.h); max_elems bounds x.  Returns 0, NN_ENOMEM, or
 * NN_EFORMAT with a message (UTF-8, one line) starting with the JSON Pointer
 * of the offending value. */
int dataset_json_read(const char *path, nn_label_kind kind, int64_t max_elems, nn_dataset *out,
                      char *err, size_t errlen);

#endif
