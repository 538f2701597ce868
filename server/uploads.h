/*
 * uploads.h — the directory where request bodies of dataset uploads are
 * kept while they are parsed (--upload-dir; by default DB.uploads beside
 * the database).  Each upload is one file named .traind-upload-XXXXXX,
 * removed when its request ends; a crash leaves them behind, so the
 * daemon removes every such file at start, from the upload directory and
 * from the database's folder (where earlier versions put them).  Nothing
 * else in either directory is touched.  One directory serves one daemon.
 */
#ifndef UPLOADS_H
#define UPLOADS_H

#include <stddef.h>

#include "config.h"

/* The prefix of an upload's file name. */
#define UPLOADS_PREFIX ".traind-upload-"

/* Creates cfg->upload_dir when missing (mode 0700) and removes the upload
 * files left in it and beside cfg->db.  Returns the number removed (their
 * bytes in *bytes, may be NULL), or -1 with err set when the directory
 * cannot be made or read. */
int uploads_prepare(const config *cfg, long long *bytes, char *err, size_t errlen);

#endif
