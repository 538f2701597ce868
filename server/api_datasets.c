/*
 * api_datasets.c — the /v1/datasets routes.
 *
 * An upload arrives on disk (http.c streams it there under the size limit),
 * is parsed by the core's readers (or dataset_json.c), the format told by
 * its content alone (nn_data_sniff), hashed, and stored; the temporary files
 * go when the request ends.  A parse error names the client's file (not the
 * temporary one) and the line, column or element.
 *
 * What an upload may become is bounded while it is read, not after: a gzip
 * body of 1 MB can inflate to gigabytes.  --max-dataset-mb bounds the
 * float32 values of x and y together (and the texts a CSV keeps);
 * decompressed CSV text may be 8 bytes per byte of that (32 characters per
 * value, more than any number's spelling) or the upload limit, whichever is
 * more; JSON text, which is parsed as one document in memory at up to some
 * 20 bytes per byte of text, 1/16 of it.  Past a bound: 413 too_large,
 * naming the limit.
 */
#include "api.h"

#include "dataset_json.h"
#include "app.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The upload's files: one file of any part name (or the whole body), or
 * two multipart parts named x and y (features, labels).  NULL after
 * replying 400. */
static int upload_files(http_req *r, const http_file **files)
{
    if (!r->multipart || r->n_files == 1) {
        files[0] = &r->files[0];
        return 1;
    }
    const http_file *x = NULL, *y = NULL;
    for (int i = 0; i < r->n_files; i++) {
        if (!strcmp(r->files[i].name, "x"))
            x = &r->files[i];
        else if (!strcmp(r->files[i].name, "y"))
            y = &r->files[i];
    }
    if (r->n_files != 2 || !x || !y) {
        http_reply_error(r, 400, "malformed_request", NULL,
                         "a dataset upload takes one file part (of any name) or two named x and "
                         "y (curl -F x=@images -F y=@labels)");
        return -1;
    }
    files[0] = x;
    files[1] = y;
    return 2;
}

/* Reads the files by their content (data.h nn_data_sniff decides): one
 * file is a CSV or JSON dataset, two an IDX or NPY pair.  Returns a core
 * status; the message in msg; the format's name in *format. */
static int read_upload(const http_file *const *files, int nf, const nn_load_opts *o,
                       int64_t json_text, nn_dataset *d, const char **format, char *msg,
                       size_t len)
{
    nn_data_format f;
    nn_err e;
    const char *paths[2] = {files[0]->path, nf > 1 ? files[1]->path : NULL};
    int rc = nn_data_sniff(paths[0], &f, &e);
    *format = "csv";
    if (rc == NN_OK && nf == 1 && f == NN_FMT_JSON) {
        *format = "json";
        return dataset_json_read(paths[0], o->label_kind, o->max_values, json_text, d, msg,
                                 len);
    }
    if (rc == NN_OK && nf == 1 && f != NN_FMT_CSV)
        rc = nn_errf(&e, NN_EFORMAT, "%s: %s data come as two files, x (features) and y "
                     "(labels): curl -F x=@features -F y=@labels", files[0]->filename,
                     nn_data_format_name(f));
    if (rc == NN_OK) {
        *format = f == NN_FMT_NPY ? "npy" : f == NN_FMT_IDX ? "idx" : "csv";
        rc = nn_dataset_load(paths, nf, o, d, &e);
    }
    if (rc)
        snprintf(msg, len, "%s", e.msg);
    return rc;
}

/* The query parameters of an upload into o. */
static int upload_opts(http_req *r, nn_load_opts *o)
{
    nn_load_opts_default(o);
    if (parse_kind(r, &o->label_kind))
        return -1;
    o->label = http_query(r, "label");
    const char *delim = http_query(r, "delimiter");
    if (delim) {
        if (strlen(delim) != 1 || delim[0] == '"' || delim[0] == '\n' || delim[0] == '\r') {
            http_reply_error(r, 400, "invalid_parameter", "delimiter",
                             "delimiter must be one character other than a quote or a line "
                             "break (without it, one of , ; TAB | is detected)");
            return -1;
        }
        o->delimiter = delim[0];
    }
    const char *scale = http_query(r, "scale_u8");
    if (scale) {
        if (strcmp(scale, "true") && strcmp(scale, "false")) {
            http_reply_error(r, 400, "invalid_parameter", "scale_u8",
                             "scale_u8 must be true or false");
            return -1;
        }
        o->scale_u8 = !strcmp(scale, "true");
    }
    /* what the upload may become (see the header) */
    const config *c = &r->app->cfg;
    int64_t bytes = c->max_dataset_mb << 20;
    o->max_values = bytes / (int64_t)sizeof(float);
    o->max_elems = o->max_values;
    o->max_text = 8 * bytes > (c->max_upload_mb << 20) ? 8 * bytes : c->max_upload_mb << 20;
    return 0;
}

/* POST /v1/datasets?name=NAME[&label=COLUMN][&label_kind=auto|class|numeric]
 *                   [&delimiter=C][&scale_u8=true|false]
 * The body: a CSV or JSON dataset (as the body, or one multipart file part
 * of any name), or an IDX or NPY pair as two multipart parts x and y. */
MHD_RESULT api_datasets_create(http_req *r)
{
    nn_load_opts o;
    nn_dataset d = {0};
    char msg[1024] = "";
    const char *format;
    const http_file *files[HTTP_MAX_FILES];
    int nf, rc;
    const char *name = http_query(r, "name");
    if (name && strlen(name) > MAX_NAME)
        return http_reply_error(r, 400, "invalid_parameter", "name",
                                "name is longer than %d characters", MAX_NAME);
    if (upload_opts(r, &o) || (nf = upload_files(r, files)) < 0)
        return r->result;
    rc = read_upload(files, nf, &o, (r->app->cfg.max_dataset_mb << 20) / 16, &d, &format, msg,
                     sizeof msg);
    if (rc) {
        for (int i = 0; i < nf; i++)
            rename_in(msg, sizeof msg, files[i]);
        nn_utf8_clean(msg, 0);   /* the client's file name may be any bytes */
        if (rc == NN_ENOMEM)
            return http_reply_error(r, 500, "internal", NULL, "out of memory reading the upload");
        if (rc == NN_ELIMIT)
            return http_reply_error(r, 413, "too_large", NULL,
                                    "%s; an upload may become at most --max-dataset-mb %lld MB "
                                    "of float32 values", msg,
                                    (long long)r->app->cfg.max_dataset_mb);
        return http_reply_error(r, 400, "invalid_dataset", NULL, "%s", msg);
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
    json_t *answer = NULL;
    if (store_dataset_get(r->app->store, id, &sd, err, sizeof err) == 0) {
        answer = api_dataset_json(&sd, 1);
        store_dataset_clear(&sd);
    }
    return api_reply_created(r, "/v1/datasets", id, answer, store_dataset_delete);
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
        json_array_append_new(arr, api_dataset_json(&ds[i], 0));
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
    MHD_RESULT res = http_reply_json(r, 200, api_dataset_json(&d, 1));
    store_dataset_clear(&d);
    return res;
}

/* DELETE /v1/datasets/{id} */
MHD_RESULT api_datasets_delete(http_req *r)
{
    return api_delete_by_id(r, "dataset", store_dataset_delete);
}
