/*
 * api_datasets.c — the /v1/datasets routes.
 *
 * An upload arrives on disk (http.c streams it there under the size limit),
 * is parsed by the core's readers (or dataset_json.c), hashed, and stored;
 * the temporary files go when the request ends.  A parse error names the
 * client's file (not the temporary one) and the line, column or element.
 */
#include "api.h"

#include "dataset_json.h"
#include "serve.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_NAME 200

/* sha256 of the files, one after the other */
static int hash_files(const http_file *const *f, int n, char hex[65], int64_t *bytes)
{
    sha256_ctx c;
    char buf[65536];
    sha256_init(&c);
    *bytes = 0;
    for (int i = 0; i < n; i++) {
        int fd = open(f[i]->path, O_RDONLY);
        if (fd < 0)
            return -1;
        ssize_t got;
        while ((got = read(fd, buf, sizeof buf)) > 0) {
            sha256_update(&c, buf, (size_t)got);
            *bytes += got;
        }
        close(fd);
        if (got < 0)
            return -1;
    }
    sha256_final_hex(&c, hex);
    return 0;
}

/* Replaces the temporary file's name in a reader's message by the client's. */
static void rename_in(char *msg, size_t len, const http_file *f)
{
    const char *tmp = strrchr(f->path, '/');
    tmp = tmp ? tmp + 1 : f->path;
    char *at = strstr(msg, tmp);
    if (!at)
        return;
    char out[1024];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - msg), msg, f->filename, at + strlen(tmp));
    snprintf(msg, len, "%s", out);
}

/* NPY or IDX, from the first bytes after gzip. */
static const char *binary_format(const char *path)
{
    unsigned char m[6] = {0};
    gzFile g = gzopen(path, "rb");
    if (!g)
        return "idx";
    int n = gzread(g, m, sizeof m);
    gzclose(g);
    return n == 6 && !memcmp(m, "\x93NUMPY", 6) ? "npy" : "idx";
}

static int parse_kind(http_req *r, nn_label_kind *kind)
{
    const char *k = http_query(r, "label_kind");
    if (!k || !strcmp(k, "auto"))
        *kind = NN_LABEL_AUTO;
    else if (!strcmp(k, "class"))
        *kind = NN_LABEL_CLASS;
    else if (!strcmp(k, "numeric"))
        *kind = NN_LABEL_NUMERIC;
    else {
        http_reply_error(r, 400, "invalid_parameter", "label_kind",
                         "label_kind must be auto, class or numeric, not '%s'", k);
        return -1;
    }
    return 0;
}

/* POST /v1/datasets?name=NAME[&label=COLUMN][&label_kind=auto|class|numeric]
 *                   [&delimiter=C][&scale_u8=true|false] */
MHD_RESULT api_datasets_create(http_req *r)
{
    nn_load_opts o;
    nn_dataset d = {0};
    nn_err e;
    char msg[1024] = "";
    const char *format;
    const http_file *files[HTTP_MAX_FILES];
    int nf = 0, rc;
    nn_load_opts_default(&o);
    const char *name = http_query(r, "name");
    if (name && strlen(name) > MAX_NAME)
        return http_reply_error(r, 400, "invalid_parameter", "name",
                                "name is longer than %d characters", MAX_NAME);
    if (parse_kind(r, &o.label_kind))
        return r->result;
    o.label = http_query(r, "label");
    const char *delim = http_query(r, "delimiter");
    if (delim) {
        if (strlen(delim) != 1 || delim[0] == '"' || delim[0] == '\n' || delim[0] == '\r')
            return http_reply_error(r, 400, "invalid_parameter", "delimiter",
                                    "delimiter must be one character other than a quote or a "
                                    "line break");
        o.delimiter = delim[0];
    }
    const char *scale = http_query(r, "scale_u8");
    if (scale) {
        if (strcmp(scale, "true") && strcmp(scale, "false"))
            return http_reply_error(r, 400, "invalid_parameter", "scale_u8",
                                    "scale_u8 must be true or false");
        o.scale_u8 = !strcmp(scale, "true");
    }
    /* the tensors may hold at most as many values as an upload of the limit
     * could describe, which bounds what a small compressed body can claim */
    o.max_elems = (r->app->cfg.max_upload_mb << 20);

    if (r->multipart) {
        const http_file *x = NULL, *y = NULL;
        for (int i = 0; i < r->n_files; i++) {
            if (!strcmp(r->files[i].name, "x"))
                x = &r->files[i];
            if (!strcmp(r->files[i].name, "y"))
                y = &r->files[i];
        }
        if (!x || !y)
            return http_reply_error(r, 400, "malformed_request", x ? "y" : "x",
                                    "a multipart upload needs two file parts, x and y "
                                    "(curl -F x=@images -F y=@labels)");
        files[nf++] = x;
        files[nf++] = y;
        const char *paths[2] = {x->path, y->path};
        format = binary_format(x->path);
        rc = nn_dataset_load(paths, 2, &o, &d, &e);
        if (rc)
            snprintf(msg, sizeof msg, "%s", e.msg);
    } else if (!strcmp(r->content_type, "application/json")) {
        files[nf++] = &r->files[0];
        format = "json";
        rc = dataset_json_read(r->files[0].path, o.label_kind, o.max_elems, &d, msg, sizeof msg);
    } else {
        files[nf++] = &r->files[0];
        format = "csv";
        rc = nn_csv_read(r->files[0].path, &o, &d, &e);
        if (rc)
            snprintf(msg, sizeof msg, "%s", e.msg);
    }
    if (rc) {
        for (int i = 0; i < nf; i++)
            rename_in(msg, sizeof msg, files[i]);
        nn_utf8_clean(msg, 0);   /* the client's file name may be any bytes */
        if (rc == NN_ENOMEM)
            return http_reply_error(r, 500, "internal", NULL, "out of memory reading the upload");
        return http_reply_error(r, rc == NN_ELIMIT ? 413 : 400,
                                rc == NN_ELIMIT ? "too_large" : "invalid_dataset", NULL, "%s",
                                msg);
    }

    char hex[65], err[256];
    int64_t bytes = 0, id = 0;
    store_dataset sd = {0};
    if (hash_files(files, nf, hex, &bytes)) {
        nn_dataset_free(&d);
        return http_reply_error(r, 500, "internal", NULL, "cannot read the upload back: %s",
                                strerror(errno));
    }
    rc = store_dataset_insert(r->app->store, name ? name : "", format, &d, bytes, hex, &id, err,
                              sizeof err);
    nn_dataset_free(&d);
    if (rc)
        return api_store_error(r, rc, "storing the dataset", err);
    if ((rc = store_dataset_get(r->app->store, id, &sd, err, sizeof err)))
        return api_store_error(r, rc, "the new dataset", err);
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/datasets/%lld", (long long)id);
    http_add_header(r, "Location", loc);
    MHD_RESULT res = http_reply_json(r, 201, api_dataset_json(&sd));
    store_dataset_clear(&sd);
    return res;
}

/* GET /v1/datasets */
MHD_RESULT api_datasets_list(http_req *r)
{
    store_dataset *ds;
    int n;
    char err[256];
    int rc = store_dataset_list(r->app->store, &ds, &n, err, sizeof err);
    if (rc)
        return api_store_error(r, rc, "listing datasets", err);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, api_dataset_json(&ds[i]));
    store_free_datasets(ds, n);
    return http_reply_json(r, 200, json_pack("{s:o}", "datasets", arr));
}

/* GET /v1/datasets/{id} */
MHD_RESULT api_datasets_get(http_req *r)
{
    store_dataset d;
    char err[256];
    int rc = store_dataset_get(r->app->store, r->id, &d, err, sizeof err);
    if (rc)
        return api_store_error_id(r, rc, "dataset", err);
    MHD_RESULT res = http_reply_json(r, 200, api_dataset_json(&d));
    store_dataset_clear(&d);
    return res;
}

/* DELETE /v1/datasets/{id} */
MHD_RESULT api_datasets_delete(http_req *r)
{
    return api_delete_by_id(r, "dataset", store_dataset_delete);
}
