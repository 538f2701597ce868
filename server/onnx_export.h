/*
 * onnx_export.h — a trained traind model as one ONNX file that takes the
 * raw values a user uploaded and gives what POST /v1/jobs/{id}/predict
 * gives: probabilities (softmax) for cross_entropy, the probability of
 * class 1 (sigmoid) for binary_cross_entropy, the values for regression.
 *
 * The graph (docs/onnx.md has the whole mapping):
 *   input   "input"  float32 [N, <the model's input shape>], N dynamic;
 *           images [N, C, H, W] as uploaded (the core's channel-last
 *           layout stays inside the core), sequences [N, T, F];
 *   preprocessing in the graph: missing values (NaN) filled with the
 *           training mean or median (IsNaN + Where), then (x - center) /
 *           scale (standardization or min-max); a categorical column
 *           arrives as its one-hot block of the feature vector, in the
 *           category order that metadata "traind.features" lists;
 *   layers  dense (Gemm; MatMul + Add on [N, T, F]), conv2d (Conv),
 *           pools, global_avgpool, batchnorm (running statistics), flatten,
 *           activations (gelu through Erf), rnn/lstm/gru (ONNX's RNN, LSTM,
 *           GRU with the gates reordered); dropout is absent;
 *   output  "output" float32 [N, <the model's output shape>].
 * Opset ONNX_EXPORT_OPSET of the default domain only, IR ONNX_EXPORT_IR.
 * metadata_props: traind.version, traind.model (the definition),
 * traind.classes, traind.preprocess (fitted, or null), traind.features (one
 * entry per input feature), traind.output.
 *
 * Input: a traind weights file (safetensors) whose tensors must be the
 * model's, names and shapes; the definition is model_text when given (a
 * definition document, as `traind export --model` reads), else the file's
 * "model" metadata.  Classes and preprocessing come from the file's
 * metadata when present (another file has none: no preprocessing, no
 * class names).
 */
#ifndef ONNX_EXPORT_H
#define ONNX_EXPORT_H

#include <stddef.h>

#define ONNX_EXPORT_OPSET 13
#define ONNX_EXPORT_IR 7

enum { ONNX_EXPORT_OK = 0, ONNX_EXPORT_EINVAL = -1, ONNX_EXPORT_ENOMEM = -2 };

/* The ONNX bytes of the weights file st (st_len bytes) into *out (caller
 * frees), or EINVAL with a sentence in err (a definition that does not
 * parse, weights that are not the model's, preprocessing that does not fit
 * its input) or ENOMEM. */
int onnx_export(const void *st, size_t st_len, const char *model_text, void **out,
                size_t *out_len, char *err, size_t errlen);

#endif
