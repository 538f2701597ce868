/*
 * cli_export.h — the `traind export` subcommand, and the ONNX writer that
 * `traind train --out FILE.onnx` shares with it.
 */
#ifndef CLI_EXPORT_H
#define CLI_EXPORT_H

#include <stddef.h>

/* argv[0] is "export".  Returns the process exit status: 0 written, 1
 * failed (a file that cannot be read or written, weights that are not the
 * model's), 2 bad usage. */
int cli_export_main(int argc, char **argv);

/* 1 when path ends in ".onnx" (any case): the file is to be ONNX. */
int cli_export_is_onnx(const char *path);

/* Writes the ONNX model of the weights file st (st_len bytes in memory) to
 * path (through path.tmp and a rename); model_text as onnx_export's.
 * Failures go to stderr after "who: ".  0, or -1. */
int cli_export_onnx(const char *who, const void *st, size_t st_len, const char *model_text,
                    const char *path);

#endif
