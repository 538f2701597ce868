/*
 * data.c — telling a dataset file's format by its content (nn_data_sniff)
 * and loading a dataset by it (nn_dataset_load, data.h): the format is told
 * by the first bytes after gzip, never by the file name, and the matching
 * reader (csv.c, idx.c, npy.c) does the rest.  This is the one place a
 * format is decided; the server asks it too.
 */
#include "reader.h"

#include <stdio.h>
#include <string.h>

const char *nn_data_format_name(nn_data_format f)
{
    switch (f) {
    case NN_FMT_IDX: return "IDX";
    case NN_FMT_NPY: return "NPY";
    case NN_FMT_JSON: return "JSON";
    default: return "CSV";
    }
}

int nn_data_sniff(const char *path, nn_data_format *fmt, nn_err *e)
{
    nn_rd r;
    unsigned char m[64];
    *fmt = NN_FMT_CSV;
    int rc = nn_rd_open(&r, path, e);
    if (rc < 0)
        return rc;
    int64_t got = nn_rd_read(&r, m, sizeof m, e);
    nn_rd_close(&r);
    if (got < 0)
        return (int)got;
    if (got >= 6 && memcmp(m, "\x93NUMPY", 6) == 0) {
        *fmt = NN_FMT_NPY;
    } else if (got >= 4 && m[0] == 0 && m[1] == 0 && m[3] >= 1 &&
               (m[2] == 0x08 || m[2] == 0x09 || (m[2] >= 0x0B && m[2] <= 0x0E))) {
        *fmt = NN_FMT_IDX;
    } else {
        /* JSON: an object after optional whitespace (and a UTF-8 BOM); a CSV
         * header cannot start with '{' unless quoted */
        int64_t i = got >= 3 && m[0] == 0xEF && m[1] == 0xBB && m[2] == 0xBF ? 3 : 0;
        while (i < got && (m[i] == ' ' || m[i] == '\t' || m[i] == '\r' || m[i] == '\n'))
            i++;
        if (i < got && m[i] == '{')
            *fmt = NN_FMT_JSON;
    }
    return NN_OK;
}

int nn_dataset_load(const char *const *paths, int n_paths, const nn_load_opts *o,
                    nn_dataset *out, nn_err *e)
{
    nn_data_format f0, f1;
    int rc;
    memset(out, 0, sizeof *out);
    if (!paths || n_paths < 1 || n_paths > 2)
        return nn_errf(e, NN_EINVAL,
                       "expected 1 file (CSV) or 2 files (an IDX or NPY pair: features, then labels), got %d",
                       paths ? n_paths : 0);
    if ((rc = nn_data_sniff(paths[0], &f0, e)) < 0)
        return rc;
    if (n_paths == 1) {
        if (f0 != NN_FMT_CSV)
            return nn_errf(e, NN_EFORMAT,
                           "%s: one file is read as CSV, but this is %s data; %s",
                           nn_data_basename(paths[0]), nn_data_format_name(f0),
                           f0 == NN_FMT_JSON ? "JSON datasets are read by the server"
                                             : "give features and labels as two files");
        return nn_csv_read(paths[0], o, out, e);
    }
    if ((rc = nn_data_sniff(paths[1], &f1, e)) < 0)
        return rc;
    if (f0 == NN_FMT_IDX && f1 == NN_FMT_IDX)
        return nn_idx_read_pair(paths[0], paths[1], o, out, e);
    if (f0 == NN_FMT_NPY && f1 == NN_FMT_NPY)
        return nn_npy_read_pair(paths[0], paths[1], o, out, e);
    return nn_errf(e, NN_EFORMAT, "expected an IDX pair or an NPY pair (features, labels); %s is %s, %s is %s",
                   nn_data_basename(paths[0]), nn_data_format_name(f0), nn_data_basename(paths[1]),
                   nn_data_format_name(f1));
}
