/*
 * dataset_json.h — reading a dataset uploaded as JSON ({"x": [...], "y": [...]}).
 */
#ifndef DATASET_JSON_H
#define DATASET_JSON_H

#include <stddef.h>

#include "data.h"

/* Reads the JSON file at path (gzip allowed) into *out.  kind decides what
 * numeric labels are (data.h); max_values bounds the values of x and y
 * together and max_text the bytes of JSON text after decompression (0: no
 * bound).  Returns 0, NN_ENOMEM, NN_ELIMIT past a bound, or NN_EFORMAT with
 * a message (UTF-8, one line) starting with the JSON Pointer of the
 * offending value. */
int dataset_json_read(const char *path, nn_label_kind kind, int64_t max_values,
                      int64_t max_text, nn_dataset *out, char *err, size_t errlen);

#endif
