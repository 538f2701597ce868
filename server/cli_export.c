/*
 * cli_export.c — `traind export`: a weights file already on disk as ONNX.
 *
 *   traind export --weights W.safetensors [--model DEF.json] --out MODEL.onnx
 *
 * The definition is DEF.json when given, else the one traind wrote into
 * the weights file's metadata; class names and the fitted preprocessing
 * come from that metadata (onnx_export.h).  Exit status: 0 written, 1
 * failed, 2 bad usage.
 */
#include "cli_export.h"

#include "onnx_export.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE ((size_t)4 << 30)   /* 4 GiB: a weights file or a definition */

static void usage(FILE *f)
{
    fprintf(f, "usage: traind export --weights FILE [--model FILE] --out FILE.onnx\n"
               "\n"
               "  --weights FILE   the weights (safetensors), e.g. GET /v1/jobs/{id}/weights\n"
               "                   or traind train --out\n"
               "  --model FILE     the model definition (JSON); default: the one the weights\n"
               "                   file carries\n"
               "  --out FILE       the ONNX model to write\n");
}

/* The whole file into a NUL-terminated buffer (caller frees). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && (size_t)n < MAX_FILE && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = 0;
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static int write_file(const char *path, const void *buf, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    int ok = fwrite(buf, 1, len, f) == len;
    ok &= fclose(f) == 0;
    if (ok && rename(tmp, path) == 0)
        return 0;
    remove(tmp);
    return -1;
}

int cli_export_is_onnx(const char *path)
{
    size_t n = strlen(path);
    if (n < 5)
        return 0;
    const char *ext = path + n - 5;
    for (int i = 0; i < 5; i++)
        if (tolower((unsigned char)ext[i]) != ".onnx"[i])
            return 0;
    return 1;
}

int cli_export_onnx(const char *who, const void *st, size_t st_len, const char *model_text,
                    const char *path)
{
    void *buf;
    size_t len;
    char err[512];
    if (onnx_export(st, st_len, model_text, &buf, &len, err, sizeof err)) {
        fprintf(stderr, "%s: cannot export ONNX: %s\n", who, err);
        return -1;
    }
    int rc = write_file(path, buf, len);
    if (rc)
        fprintf(stderr, "%s: cannot write %s: %s\n", who, path, strerror(errno));
    free(buf);
    return rc;
}

static int parse_args(int argc, char **argv, const char **weights, const char **model,
                      const char **out)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--weights") && next) {
            *weights = argv[++i];
        } else if (!strcmp(a, "--model") && next) {
            *model = argv[++i];
        } else if (!strcmp(a, "--out") && next) {
            *out = argv[++i];
        } else {
            fprintf(stderr, "traind export: unknown or incomplete option '%s'\n", a);
            return -1;
        }
    }
    if (!*weights || !*out) {
        fprintf(stderr, "traind export: --weights and --out are required\n");
        return -1;
    }
    return 0;
}

int cli_export_main(int argc, char **argv)
{
    const char *wpath = NULL, *mpath = NULL, *out = NULL;
    char *st = NULL, *model = NULL;
    size_t st_len = 0, mlen = 0;
    int status = 1;
    if (parse_args(argc, argv, &wpath, &mpath, &out)) {
        usage(stderr);
        return 2;
    }
    if (!(st = read_file(wpath, &st_len))) {
        fprintf(stderr, "traind export: cannot read %s: %s\n", wpath, strerror(errno));
        goto out;
    }
    if (mpath && !(model = read_file(mpath, &mlen))) {
        fprintf(stderr, "traind export: cannot read %s: %s\n", mpath, strerror(errno));
        goto out;
    }
    if (cli_export_onnx("traind export", st, st_len, model, out) == 0) {
        printf("wrote %s\n", out);
        status = 0;
    }
out:
    free(st);
    free(model);
    return status;
}
