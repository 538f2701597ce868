/*
 * columns_json.h — what a dataset says about its features beyond shapes,
 * as the JSON the store keeps and GET /v1/datasets shows:
 *
 *   columns        a table's (a CSV's) feature columns, in file order:
 *                  [{"name": "alcohol", "column": 1, "type": "number", "distinct": 126,
 *                    "missing": 0},
 *                   {"name": "color", "column": 12, "type": "text", "missing": 2,
 *                    "first_missing_line": 17, "categories": ["red", "white"]}]
 *                  ("column" counts the file's columns from 1, the label's
 *                  included; "first_missing_line" only when values are
 *                  missing; "categories" only for text columns; "distinct"
 *                  for numbers, null past NN_COLUMN_MAX_DISTINCT);
 *   feature_scale  the spread of the numeric features' standard deviations
 *                  (core/prep.h nn_prep_scale_spread), for the warning a
 *                  job without scaling gets:
 *                  {"max_std": 314.9, "max_feature": "proline",
 *                   "min_std": 0.228, "min_feature": "hue", "ratio": 1381.1}
 *                  (features named by column name, or by index "feature 3").
 */
#ifndef COLUMNS_JSON_H
#define COLUMNS_JSON_H

#include <jansson.h>

#include "data.h"

/* New reference; NULL when out of memory or a name is not UTF-8. */
json_t *columns_json(const nn_column *cols, int n);

/* The "columns" JSON array back into columns (caller frees with
 * nn_columns_free); -1 when it is not one. */
int columns_from_json(const json_t *a, nn_column **out, int *n);

/* New reference: the object above, or null when d has fewer than two
 * varying numeric features or is not a matrix. */
json_t *columns_scale_json(const nn_dataset *d);

#endif
