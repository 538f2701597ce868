/*
 * uploads.c — the upload directory at start (see uploads.h).
 */
#include "uploads.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes dir/.traind-upload-* (regular files only).  -1 when dir cannot be
 * read; else the count, their sizes added to *bytes. */
static int remove_leftovers(const char *dir, long long *bytes)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    size_t pl = strlen(UPLOADS_PREFIX);
    while ((e = readdir(d))) {
        struct stat st;
        char path[2200];
        if (strncmp(e->d_name, UPLOADS_PREFIX, pl) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (unlink(path) == 0) {
            n++;
            *bytes += (long long)st.st_size;
        }
    }
    closedir(d);
    return n;
}

int uploads_prepare(const config *cfg, long long *bytes, char *err, size_t errlen)
{
    long long b = 0;
    char dbdir[sizeof cfg->db];
    if (mkdir(cfg->upload_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the upload directory %s: %s", cfg->upload_dir,
                 strerror(errno));
        return -1;
    }
    int n = remove_leftovers(cfg->upload_dir, &b);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the upload directory %s: %s", cfg->upload_dir,
                 strerror(errno));
        return -1;
    }
    /* where uploads went before --upload-dir: the database's folder */
    snprintf(dbdir, sizeof dbdir, "%s", cfg->db);
    int old = remove_leftovers(dirname(dbdir), &b);
    if (bytes)
        *bytes = b;
    return n + (old > 0 ? old : 0);
}
