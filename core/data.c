/*
 * data.c — loading a dataset by its content (nn_dataset_load, data.h): the
 * format is told by the first bytes after gzip, never by the file name, and
 * the matching reader (csv.c, idx.c, npy.c) does the rest.
 */
#include "reader.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Loading by content                                                       */

enum { FMT_OTHER, FMT_IDX, FMT_NPY };

static const char *fmt_name(int f)
{
    return f == FMT_IDX ? "IDX" : f == FMT_NPY ? "NPY" : "neither IDX nor NPY";
}

/* Looks at the first bytes (after gzip) of path. */
static int sniff(const char *path, int *fmt, nn_err *e)
{
    nn_rd r;
    unsigned char m[6];
    *fmt = FMT_OTHER;
    int rc = nn_rd_open(&r, path, e);
    if (rc < 0)
        return rc;
    int64_t got = nn_rd_read(&r, m, sizeof m, e);
    nn_rd_close(&r);
    if (got < 0)
        return (int)got;
    if (got == 6 && memcmp(m, "\x93NUMPY", 6) == 0)
        *fmt = FMT_NPY;
    else if (got >= 4 && m[0] == 0 && m[1] == 0 && m[3] >= 1 &&
             (m[2] == 0x08 || m[2] == 0x09 || (m[2] >= 0x0B && m[2] <= 0x0E)))
        *fmt = FMT_IDX;
    return NN_OK;
}

int nn_dataset_load(const char *const *paths, int n_paths, const nn_load_opts *o,
                    nn_dataset *out, nn_err *e)
{
    int f0, f1, rc;
    memset(out, 0, sizeof *out);
    if (!paths || n_paths < 1 || n_paths > 2)
        return nn_errf(e, NN_EINVAL,
                       "expected 1 file (CSV) or 2 files (an IDX or NPY pair: features, then labels), got %d",
                       paths ? n_paths : 0);
    if ((rc = sniff(paths[0], &f0, e)) < 0)
        return rc;
    if (n_paths == 1) {
        if (f0 != FMT_OTHER)
            return nn_errf(e, NN_EFORMAT,
                           "%s: one file is read as CSV, but this is an %s file; give features and labels as two files",
                           nn_data_basename(paths[0]), fmt_name(f0));
        return nn_csv_read(paths[0], o, out, e);
    }
    if ((rc = sniff(paths[1], &f1, e)) < 0)
        return rc;
    if (f0 == FMT_IDX && f1 == FMT_IDX)
        return nn_idx_read_pair(paths[0], paths[1], o, out, e);
    if (f0 == FMT_NPY && f1 == FMT_NPY)
        return nn_npy_read_pair(paths[0], paths[1], o, out, e);
    return nn_errf(e, NN_EFORMAT, "expected an IDX pair or an NPY pair (features, labels); %s is %s, %s is %s",
                   nn_data_basename(paths[0]), fmt_name(f0), nn_data_basename(paths[1]), fmt_name(f1));
}

